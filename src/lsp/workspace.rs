//! Stage `lsp`: the files the editor sees (open buffers over the disk) and
//! the diagnostics `check` would report for them, kept up to date one file
//! at a time.
//!
//! Each file is loaded by `load::config::load_file` and each workflow id is
//! resolved by `load::resolve::workflow`, with no history (`check`'s
//! `Previous::default`): the rule `load::resolve::resolve` applies to a
//! whole disk, applied here only to the ids a change touches. Two indexes
//! say which: workflow id → the files declaring it, integration → the
//! workflow files naming it. So a change costs the changed file plus the
//! files that share its id or, when an integration's config file appears
//! or goes, the files naming that integration; never the whole workspace.
//!
//! It does no protocol work and reads the disk only through
//! `cli::check::Checkout` (as `check` does).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::cli::check::Checkout;
use crate::cli::process_env;
use crate::diagnostic::ConfigError;
use crate::load::config::{self, Entity, FileLoad, FileRole};
use crate::load::mask::Masker;
use crate::load::resolve;
use crate::model::{Integration, IntegrationKind, Workflow};

use super::text::Text;

/// What a file holds now.
#[derive(Debug)]
pub enum Content {
    /// Its text (from the disk or an editor's buffer).
    Bytes(Vec<u8>),
    /// It could not be read: the error says why. Such a file takes no part
    /// in resolution, as in `check`.
    Unreadable(ConfigError),
    /// There is no such file.
    Absent,
}

/// One file the workspace knows.
#[derive(Debug)]
pub struct Doc {
    pub role: FileRole,
    pub text: Text,
    /// The file's own load: its entity when valid on its own, its own
    /// errors, and its tree while the file is open in the editor (files
    /// read from disk drop it, to keep 10,000 files small).
    pub load: FileLoad,
    readable: bool,
    /// The secret values of a config file (`load::config::secrets_of`),
    /// masked in every file's diagnostics; none for a workflow.
    secrets: Vec<String>,
}

impl Doc {
    pub fn workflow(&self) -> Option<&Workflow> {
        match &self.load.entity {
            Some(Entity::Workflow(w)) => Some(w),
            _ => None,
        }
    }

    pub fn integration(&self) -> Option<&Integration> {
        match &self.load.entity {
            Some(Entity::Integration(i)) => Some(i),
            _ => None,
        }
    }

    /// The integrations this file's steps name (a valid workflow only).
    fn uses(&self) -> BTreeSet<IntegrationKind> {
        self.workflow()
            .map(|w| {
                w.steps
                    .iter()
                    .filter_map(|s| s.integration.as_deref()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Every file of the repository the editor can see, and the diagnostics in
/// force for each.
pub struct Workspace {
    checkout: Checkout,
    files: HashMap<String, Doc>,
    /// Problems of the walk that belong to no file the workspace loads
    /// (a folder that could not be read, a link to a folder), by path.
    problems: BTreeMap<String, Vec<ConfigError>>,
    /// Workflow id → the files valid on their own that declare it.
    declares: HashMap<String, BTreeSet<String>>,
    /// Integration → the valid workflow files whose steps name it.
    users: HashMap<IntegrationKind, BTreeSet<String>>,
    /// The integrations whose config file exists and could be read.
    configured: BTreeSet<IntegrationKind>,
    /// File → its cross-file errors (references, duplicate ids).
    cross: HashMap<String, Vec<ConfigError>>,
    /// The file serving a duplicated id → the files that report it as a
    /// duplicate, so the editor can point from one to the other.
    shared: HashMap<String, Vec<String>>,
    /// Every config file's secret values (sorted, no repeats) and the masker over
    /// them: a token of a config file quoted in a workflow is masked in
    /// that workflow's diagnostics, as `check` masks it.
    secrets: Vec<String>,
    masker: Masker,
}

impl Workspace {
    /// Reads every configuration file of `checkout` as `check` does and
    /// resolves them all.
    pub fn load(checkout: Checkout) -> Workspace {
        let (files, errors) = checkout.read_all();
        let mut ws = Workspace {
            checkout,
            files: HashMap::with_capacity(files.len()),
            problems: BTreeMap::new(),
            declares: HashMap::new(),
            users: HashMap::new(),
            configured: BTreeSet::new(),
            cross: HashMap::new(),
            shared: HashMap::new(),
            secrets: Vec::new(),
            masker: Masker::default(),
        };
        for e in errors {
            match FileRole::of(&e.file) {
                Some(role) if !files.contains_key(&e.file) => {
                    let rel = e.file.clone();
                    let doc = unreadable(role, e);
                    ws.index(&rel, &doc);
                    ws.files.insert(rel, doc);
                }
                _ => ws.problems.entry(e.file.clone()).or_default().push(e),
            }
        }
        for (rel, doc) in load_all(files) {
            ws.index(&rel, &doc);
            ws.files.insert(rel, doc);
        }
        let ids: Vec<String> = ws.declares.keys().cloned().collect();
        ws.resolve_ids(ids);
        ws.update_secrets();
        ws
    }

    pub fn checkout(&self) -> &Checkout {
        &self.checkout
    }

    pub fn doc(&self, rel: &str) -> Option<&Doc> {
        self.files.get(rel)
    }

    /// Every file that has something to report, at startup.
    pub fn files_with_problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .files
            .iter()
            .filter(|(rel, doc)| {
                !doc.load.errors.is_empty()
                    || self.cross.contains_key(*rel)
                    || self.shared.contains_key(*rel)
            })
            .map(|(rel, _)| rel.clone())
            .chain(self.problems.keys().cloned())
            .collect();
        out.sort();
        out
    }

    /// What `check` reports for `rel`, in its order (by position).
    pub fn diagnostics(&self, rel: &str) -> Vec<ConfigError> {
        let mut out: Vec<ConfigError> = self.problems.get(rel).cloned().unwrap_or_default();
        if let Some(doc) = self.files.get(rel) {
            out.extend(doc.load.errors.iter().cloned());
        }
        if let Some(cross) = self.cross.get(rel) {
            out.extend(cross.iter().cloned());
        }
        for e in &mut out {
            self.masker.mask_line_in_place(&mut e.message);
            if let Some(x) = &mut e.excerpt {
                self.masker.mask_line_in_place(x);
            }
        }
        out.sort_by_key(|e| (e.line, e.column));
        out
    }

    /// When `rel` serves a workflow id other files also declare: those
    /// files (each reports the duplicate).
    pub fn shared_with(&self, rel: &str) -> &[String] {
        self.shared.get(rel).map_or(&[], Vec::as_slice)
    }

    /// The file `rel` now holds `content` (`keep_tree`: keep its YAML tree,
    /// for an open buffer). Returns every file whose diagnostics may have
    /// changed (`rel` included); paths qa-reload does not read change
    /// nothing.
    pub fn set(&mut self, rel: &str, content: Content, keep_tree: bool) -> BTreeSet<String> {
        let mut touched = BTreeSet::new();
        let Some(role) = FileRole::of(rel) else {
            return touched;
        };
        touched.insert(rel.to_string());
        let mut ids = BTreeSet::new();
        let mut secrets_before = Vec::new();
        let was_configured = match self.files.remove(rel) {
            Some(old) => {
                ids.extend(old.workflow().map(|w| w.id.clone()));
                self.unindex(rel, &old);
                secrets_before = old.secrets;
                old.readable
            }
            None => false,
        };
        self.cross.remove(rel);
        self.shared.remove(rel);
        let doc = match content {
            Content::Bytes(bytes) => {
                let mut doc = load_doc(role, rel, bytes);
                if !keep_tree {
                    doc.load.tree = None;
                }
                Some(doc)
            }
            Content::Unreadable(e) => Some(unreadable(role, e)),
            Content::Absent => None,
        };
        let now_configured = doc.as_ref().is_some_and(|d| d.readable);
        let secrets_changed =
            doc.as_ref().map_or(&[][..], |d| d.secrets.as_slice()) != secrets_before.as_slice();
        if let Some(doc) = doc {
            ids.extend(doc.workflow().map(|w| w.id.clone()));
            self.index(rel, &doc);
            self.files.insert(rel.to_string(), doc);
        }
        if let FileRole::Integration(kind) = role
            && was_configured != now_configured
        {
            // The reference errors of every workflow naming it change.
            for user in self.users.get(&kind).into_iter().flatten() {
                if let Some(w) = self.files.get(user).and_then(Doc::workflow) {
                    ids.insert(w.id.clone());
                }
            }
        }
        touched.extend(self.resolve_ids(ids));
        // Another file's secrets are masked in every file's diagnostics:
        // when they changed, every file with diagnostics is told again.
        if secrets_changed && self.update_secrets() {
            touched.extend(self.files_with_problems());
        }
        touched
    }

    /// Gathers every file's secret values; when they changed, builds the
    /// masker over them and returns `true`.
    fn update_secrets(&mut self) -> bool {
        let mut all: Vec<&String> = self.files.values().flat_map(|d| &d.secrets).collect();
        all.sort_unstable();
        all.dedup();
        if all.iter().copied().eq(self.secrets.iter()) {
            return false;
        }
        self.secrets = all.into_iter().cloned().collect();
        self.masker =
            Masker::with_values(std::iter::empty(), self.secrets.iter().map(String::as_str));
        true
    }

    /// Reads `rel` from disk again (after an editor closed it, or the disk
    /// changed under it).
    pub fn reread(&mut self, rel: &str) -> BTreeSet<String> {
        let content = match self.checkout.read(rel) {
            Ok(Some(bytes)) => Content::Bytes(bytes),
            Ok(None) => Content::Absent,
            Err(e) => Content::Unreadable(e),
        };
        self.set(rel, content, false)
    }

    /// Walks the disk again (a folder appeared or went, a branch switch):
    /// every configuration file that appeared, went or changed is set anew.
    /// `open` files keep their buffers. Returns the files touched.
    pub fn rescan(&mut self, open: &dyn Fn(&str) -> bool) -> BTreeSet<String> {
        let (files, errors) = self.checkout.read_all();
        let mut touched: BTreeSet<String> =
            std::mem::take(&mut self.problems).into_keys().collect();
        let mut unread: HashMap<String, ConfigError> = HashMap::new();
        for e in errors {
            match FileRole::of(&e.file) {
                Some(_) if !files.contains_key(&e.file) => {
                    unread.insert(e.file.clone(), e);
                }
                _ => {
                    touched.insert(e.file.clone());
                    self.problems.entry(e.file.clone()).or_default().push(e);
                }
            }
        }
        let gone: Vec<String> = self
            .files
            .keys()
            .filter(|rel| !files.contains_key(*rel) && !unread.contains_key(*rel) && !open(rel))
            .cloned()
            .collect();
        for rel in gone {
            touched.extend(self.set(&rel, Content::Absent, false));
        }
        for (rel, e) in unread {
            if !open(&rel) {
                touched.extend(self.set(&rel, Content::Unreadable(e), false));
            }
        }
        for (rel, bytes) in files {
            if open(&rel) {
                continue;
            }
            let same = self
                .files
                .get(&rel)
                .is_some_and(|d| d.readable && d.text.as_str().as_bytes() == bytes.as_slice());
            if !same {
                touched.extend(self.set(&rel, Content::Bytes(bytes), false));
            }
        }
        touched
    }

    /// The files configuring each integration, and the workflow files
    /// naming it.
    pub fn integration_file(&self, kind: IntegrationKind) -> Option<(String, &Doc)> {
        let rel = kind.config_file();
        let doc = self.files.get(&rel)?;
        Some((rel, doc))
    }

    pub fn configured(&self) -> &BTreeSet<IntegrationKind> {
        &self.configured
    }

    /// The valid workflow files whose steps name `kind`.
    pub fn users(&self, kind: IntegrationKind) -> impl Iterator<Item = (&str, &Workflow)> {
        self.users
            .get(&kind)
            .into_iter()
            .flatten()
            .filter_map(|rel| Some((rel.as_str(), self.files.get(rel)?.workflow()?)))
    }

    /// The valid workflow files declaring `id`.
    pub fn declaring(&self, id: &str) -> impl Iterator<Item = (&str, &Workflow)> {
        self.declares
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|rel| Some((rel.as_str(), self.files.get(rel)?.workflow()?)))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn index(&mut self, rel: &str, doc: &Doc) {
        if let Some(w) = doc.workflow() {
            self.declares
                .entry(w.id.clone())
                .or_default()
                .insert(rel.to_string());
        }
        for kind in doc.uses() {
            self.users.entry(kind).or_default().insert(rel.to_string());
        }
        if let FileRole::Integration(kind) = doc.role
            && doc.readable
        {
            self.configured.insert(kind);
        }
    }

    fn unindex(&mut self, rel: &str, doc: &Doc) {
        if let Some(w) = doc.workflow()
            && let Some(files) = self.declares.get_mut(&w.id)
        {
            files.remove(rel);
            if files.is_empty() {
                self.declares.remove(&w.id);
            }
        }
        for kind in doc.uses() {
            if let Some(files) = self.users.get_mut(&kind) {
                files.remove(rel);
            }
        }
        if let FileRole::Integration(kind) = doc.role {
            self.configured.remove(&kind);
        }
    }

    /// Applies the rule of `load::resolve` to each id; returns the files
    /// declaring them, whose cross-file errors were set anew.
    fn resolve_ids(&mut self, ids: impl IntoIterator<Item = String>) -> BTreeSet<String> {
        let mut touched = BTreeSet::new();
        for id in ids {
            let Some(files) = self.declares.get(&id) else {
                continue;
            };
            let declaring: Vec<(&str, &Workflow)> = files
                .iter()
                .filter_map(|rel| Some((rel.as_str(), self.files.get(rel)?.workflow()?)))
                .collect();
            let mut outcome = resolve::workflow(&id, &declaring, &self.configured, None);
            let winner = outcome.pick.as_ref().map(|p| p.file().to_string());
            let losers: Vec<String> = declaring
                .iter()
                .filter(|(rel, w)| {
                    Some(*rel) != winner.as_deref()
                        && resolve::references(rel, w, &self.configured).is_empty()
                })
                .map(|(rel, _)| rel.to_string())
                .collect();
            let files: Vec<String> = files.iter().cloned().collect();
            for rel in &files {
                self.shared.remove(rel);
            }
            if let Some(winner) = winner
                && !losers.is_empty()
            {
                self.shared.insert(winner, losers);
            }
            for rel in files {
                match outcome.errors.remove(&rel) {
                    Some(errors) => self.cross.insert(rel.clone(), errors),
                    None => self.cross.remove(&rel),
                };
                touched.insert(rel);
            }
        }
        touched
    }
}

fn load_doc(role: FileRole, rel: &str, bytes: Vec<u8>) -> Doc {
    let load = config::load_file(role, rel, &bytes, &process_env);
    // As in `serve`: a config file's secrets are searched for everywhere.
    let secrets = match role {
        FileRole::Workflow => Vec::new(),
        FileRole::Integration(_) | FileRole::Settings => config::secrets_of(&load),
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Doc {
        role,
        text: Text::new(text),
        load,
        readable: true,
        secrets,
    }
}

fn unreadable(role: FileRole, e: ConfigError) -> Doc {
    Doc {
        role,
        text: Text::default(),
        load: FileLoad {
            tree: None,
            entity: None,
            errors: vec![e],
        },
        readable: false,
        secrets: Vec::new(),
    }
}

/// Loads every file, on every core (as `serve`'s startup does for many
/// files), dropping each tree as soon as its file is loaded.
fn load_all(files: BTreeMap<String, Vec<u8>>) -> Vec<(String, Doc)> {
    let mut files: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .filter(|(rel, _)| FileRole::of(rel).is_some())
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = files.len().div_ceil(threads).max(1);
    let load = |part: Vec<(String, Vec<u8>)>| -> Vec<(String, Doc)> {
        part.into_iter()
            .filter_map(|(rel, bytes)| {
                let role = FileRole::of(&rel)?;
                let mut doc = load_doc(role, &rel, bytes);
                doc.load.tree = None;
                Some((rel, doc))
            })
            .collect()
    };
    if files.len() <= 32 || threads == 1 {
        return load(files);
    }
    let mut parts = Vec::new();
    while files.len() > chunk {
        let rest = files.split_off(chunk);
        parts.push(std::mem::replace(&mut files, rest));
    }
    parts.push(files);
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || load(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}
