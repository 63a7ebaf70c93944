//! Stage `apply`: one batch of candidate paths to at most one new revision.
//!
//! The [`Applier`] owns the truth of what was last read from disk (a content
//! fingerprint per file) and what is in force (the current [`Snapshot`]).
//! Events are only hints: each candidate file is read and compared with its
//! fingerprint, and only files whose content changed are loaded. Work per
//! batch grows with the changed files, not with the repository.
//!
//! May not: publish, log per file, or wait for anything but the short
//! re-read of a file caught mid-save. It runs on a blocking thread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::diagnostic::{ConfigError, EntityKind, ErrorKind};
use crate::diff::patch::{self, LineMasker, Patch, PatchKind, Version};
use crate::engine::event::{Cause, CauseKind, Event, Timings, summarize};
use crate::engine::snapshot::{Served, Snapshot};
use crate::git::GitRepo;
use crate::load::config::{self, Entity, FileLoad, FileRole};
use crate::load::fs::{self, Stamp};
use crate::load::node::Node;
use crate::load::resolve::{self, HolderNow, Pick};
use crate::load::yaml::{self, Limits};
use crate::model::{Integration, IntegrationKind, SETTINGS_FILE, Settings, Workflow};
use crate::watch::{PathFilter, WatchError};

/// How the environment is read for `${VAR}` (shared with the applier thread).
pub type SharedEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How long to wait before reading again a file that looked empty or cut off
/// (an editor caught between truncating and writing).
pub const REREAD_DELAY: Duration = Duration::from_millis(30);

/// How many times such a file is read again before it counts as broken.
const REREADS: usize = 3;

/// Below this many files, work stays on the applier thread.
const PARALLEL_FROM: usize = 32;

/// How much of the tree a batch asks to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only the batch's paths (and what a HEAD move changed).
    Paths,
    /// Every file, read and compared (lost events, manual reload, startup).
    Full,
    /// Every file, but read only when its size, time or inode changed (the
    /// periodic reconciliation).
    Reconcile,
}

/// One unit of work for the applier.
#[derive(Debug, Clone)]
pub struct Input {
    pub paths: BTreeSet<String>,
    /// git metadata was touched: read HEAD.
    pub git_changed: bool,
    pub scope: Scope,
    pub cause: InputCause,
    /// The first file event of the batch (for `detect_ms`).
    pub first_event_at: Instant,
}

/// Where an input came from, for the revision's cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputCause {
    Startup,
    Watch,
    Rescan,
    Manual,
}

impl Input {
    pub fn full(cause: InputCause) -> Self {
        Input {
            paths: BTreeSet::new(),
            git_changed: true,
            scope: Scope::Full,
            cause,
            first_event_at: Instant::now(),
        }
    }
}

/// A new revision: the snapshot to swap in and the event to publish.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub snapshot: Arc<Snapshot>,
    pub event: Arc<Event>,
    /// The settings changed in this revision.
    pub settings_changed: bool,
}

/// What was last read from one file.
#[derive(Debug, Clone)]
struct FileState {
    fingerprint: [u8; 32],
    stamp: Option<Stamp>,
    text: Arc<str>,
    /// The entity, when the file is valid on its own.
    own: Option<Own>,
    /// The file's own diagnostics (syntax, schema, io).
    errors: Vec<ConfigError>,
}

#[derive(Debug, Clone)]
enum Own {
    Workflow(Arc<Workflow>),
    Integration(Arc<Integration>),
    Settings(Arc<Settings>),
}

impl FileState {
    fn workflow(&self) -> Option<&Arc<Workflow>> {
        match &self.own {
            Some(Own::Workflow(w)) => Some(w),
            _ => None,
        }
    }
}

/// One file as read in this batch: its new state, or `None` when it is gone.
struct Fresh {
    state: Option<FileState>,
    tree: Option<Node>,
}

/// A read of one file, with the fingerprint of what was read (hashed once,
/// when read).
enum Read {
    Absent,
    Bytes(Vec<u8>, Option<Stamp>, [u8; 32]),
    Refused(ConfigError, [u8; 32]),
}

impl Read {
    fn bytes(bytes: Vec<u8>, stamp: Option<Stamp>) -> Read {
        let fingerprint = Sha256::digest(&bytes).into();
        Read::Bytes(bytes, stamp, fingerprint)
    }

    fn refused(e: ConfigError) -> Read {
        let mut h = Sha256::new();
        h.update(b"\0refused\0");
        h.update(e.message.as_bytes());
        let fingerprint = h.finalize().into();
        Read::Refused(e, fingerprint)
    }

    fn fingerprint(&self) -> Option<[u8; 32]> {
        match self {
            Read::Absent => None,
            Read::Bytes(_, _, fingerprint) | Read::Refused(_, fingerprint) => Some(*fingerprint),
        }
    }
}

/// The applier: the last applied state and the way to the next.
pub struct Applier {
    root: PathBuf,
    git: Option<Arc<GitRepo>>,
    env: SharedEnv,
    filter: PathFilter,
    files: HashMap<String, FileState>,
    /// Workflow id → files valid on their own that declare it.
    id_files: HashMap<String, BTreeSet<String>>,
    /// File → the workflow id it serves now.
    served_ids: HashMap<String, String>,
    /// Cross-file diagnostics (references, duplicate ids) per file.
    derived: HashMap<String, Vec<ConfigError>>,
    /// Every diagnostic in force, per file (files without any are absent).
    errors: BTreeMap<String, Vec<ConfigError>>,
    /// Integration kinds whose config file exists (valid or not).
    configured: BTreeSet<IntegrationKind>,
    settings: Option<Arc<Served<Settings>>>,
    current: Arc<Snapshot>,
}

impl Applier {
    /// An applier with nothing applied yet (revision 0); apply
    /// `Input::full(InputCause::Startup)` to load.
    pub fn new(
        root: PathBuf,
        git: Option<Arc<GitRepo>>,
        env: SharedEnv,
    ) -> Result<Self, WatchError> {
        let defaults = Settings::default();
        Ok(Applier {
            root,
            git,
            env,
            filter: PathFilter::new(&defaults.watch, &defaults.ignore)?,
            files: HashMap::new(),
            id_files: HashMap::new(),
            served_ids: HashMap::new(),
            derived: HashMap::new(),
            errors: BTreeMap::new(),
            configured: BTreeSet::new(),
            settings: None,
            current: Arc::new(Snapshot::empty()),
        })
    }

    pub fn current(&self) -> &Arc<Snapshot> {
        &self.current
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Applies one input. `None` when nothing changed on disk and HEAD did
    /// not move: no revision.
    pub fn apply(&mut self, input: Input) -> Option<Outcome> {
        let started = Instant::now();
        let startup = input.cause == InputCause::Startup;

        // 1. HEAD: did it move, and which config files did the move change?
        let mut head = self.current.head.clone();
        let mut previous_head = None;
        let mut head_move = None;
        let mut candidates = input.paths.clone();
        if let Some(git) = &self.git
            && (input.git_changed || input.scope != Scope::Paths)
        {
            match git.head() {
                Ok(now) if head.as_ref() != Some(&now) => {
                    if let Some(prev) = head.take() {
                        head_move = Some(git.classify_head_move(&prev, &now));
                        if let (Some(a), Some(b)) = (&prev.commit, &now.commit) {
                            match git.changed_paths(a, b, &fs::ROOTS) {
                                Ok(paths) => candidates.extend(paths),
                                Err(e) => tracing::warn!(error = %e, "cannot diff the HEAD trees"),
                            }
                        }
                        previous_head = Some(prev);
                    }
                    head = Some(now);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read HEAD"),
            }
        }

        // 2. Which files to look at.
        let reconcile = input.scope == Scope::Reconcile;
        if input.scope != Scope::Paths {
            candidates.extend(fs::list_tree(&self.root));
            candidates.extend(self.files.keys().cloned());
        }
        // New watch/ignore globs decide what the rest of this batch may
        // load: with them, every file is looked at again, in this revision.
        if input.scope == Scope::Paths
            && candidates.contains(SETTINGS_FILE)
            && let Some(filter) = self.new_filter()
        {
            self.filter = filter;
            candidates.extend(fs::list_tree(&self.root));
            candidates.extend(self.files.keys().cloned());
        }
        let candidates: Vec<String> = candidates
            .into_iter()
            .filter(|p| FileRole::of(p).is_some())
            .collect();

        // 3. Truth from disk: read, and keep only what differs from the last read.
        let mut reads: Vec<(String, Read)> = Vec::new();
        for path in candidates {
            let known = self.files.get(&path);
            if reconcile
                && let Some(known) = known
                && known.stamp.is_some()
                && known.stamp == fs::stamp(&self.root, &path)
            {
                continue;
            }
            let read = self.read(&path);
            if read.fingerprint() != known.map(|k| k.fingerprint) {
                reads.push((path, read));
            }
        }
        let mut fresh = self.load_all(reads);
        if !startup {
            self.reread_suspicious(&mut fresh);
        }
        if fresh.is_empty() && previous_head.is_none() && !startup {
            return None;
        }

        // 4. Record the new file states.
        let revision = self.current.revision + 1;
        let configured_before = self.configured.clone();
        let mut affected: BTreeSet<String> = BTreeSet::new();
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        let mut trees: HashMap<String, Node> = HashMap::new();
        let touched: Vec<String> = fresh.keys().cloned().collect();
        for (path, f) in fresh {
            let role = FileRole::of(&path);
            if let Some(old) = self.files.remove(&path)
                && let Some(w) = old.workflow()
            {
                remove_from(&mut self.id_files, &w.id, &path);
                affected.insert(w.id.clone());
            }
            if let Some(id) = self.served_ids.get(&path) {
                affected.insert(id.clone());
            }
            self.derived.remove(&path);
            dirty.insert(path.clone());
            if let Some(FileRole::Integration(kind)) = role {
                if f.state.is_some() {
                    self.configured.insert(kind);
                } else {
                    self.configured.remove(&kind);
                }
            }
            if let Some(state) = f.state {
                if let Some(w) = state.workflow() {
                    self.id_files
                        .entry(w.id.clone())
                        .or_default()
                        .insert(path.clone());
                    affected.insert(w.id.clone());
                }
                self.files.insert(path.clone(), state);
            }
            if let Some(tree) = f.tree {
                trees.insert(path, tree);
            }
        }
        if self.configured != configured_before {
            affected.extend(self.id_files.keys().cloned());
            affected.extend(self.current.workflows.keys().map(|k| k.to_string()));
        }

        // 5. Resolve what is in force.
        let mut workflows = self.current.workflows.clone();
        for id in &affected {
            self.resolve_workflow(id, revision, &mut workflows, &mut dirty);
        }
        let mut integrations = self.current.integrations.clone();
        let settings_before = self.settings.clone();
        let mut settings_changed = false;
        for path in &touched {
            match FileRole::of(path) {
                Some(FileRole::Integration(kind)) => {
                    self.resolve_integration(kind, path, revision, &mut integrations);
                }
                Some(FileRole::Settings) => settings_changed |= self.resolve_settings(revision),
                _ => {}
            }
        }
        let settings = self
            .settings
            .as_ref()
            .map_or_else(|| Arc::new(Settings::default()), |s| Arc::clone(&s.value));
        if settings_changed && let Ok(filter) = PathFilter::new(&settings.watch, &settings.ignore) {
            self.filter = filter;
        }

        // 6. Diagnostics in force.
        for file in &dirty {
            let mut all: Vec<ConfigError> = self
                .files
                .get(file)
                .map(|f| f.errors.clone())
                .unwrap_or_default();
            all.extend(self.derived.get(file).cloned().unwrap_or_default());
            all.sort_by_key(|e| (e.line, e.column));
            if all.is_empty() {
                self.errors.remove(file);
            } else {
                self.errors.insert(file.clone(), all);
            }
        }
        let errors: Arc<[ConfigError]> = if dirty.is_empty() {
            Arc::clone(&self.current.errors)
        } else {
            self.errors.values().flatten().cloned().collect()
        };

        // 7. Patches: every entity whose version in force changed.
        let mut jobs: Vec<PatchJob> = Vec::new();
        if !startup {
            for id in &affected {
                let (old, new) = (
                    self.current.workflows.get(id.as_str()),
                    workflows.get(id.as_str()),
                );
                if !same(old, new) {
                    jobs.push(PatchJob::workflow(id, old, new));
                }
            }
            for kind in IntegrationKind::ALL {
                let (old, new) = (
                    self.current.integrations.get(&kind),
                    integrations.get(&kind),
                );
                if !same(old, new) {
                    jobs.push(PatchJob::integration(kind, old, new));
                }
            }
            if settings_changed {
                jobs.push(PatchJob::settings(
                    settings_before.as_ref(),
                    self.settings.as_ref(),
                ));
            }
        }
        let patches = self.build_patches(jobs, &trees);

        // 8. The new snapshot and its event.
        let kind = match (input.cause, head_move) {
            (InputCause::Startup, _) => CauseKind::Startup,
            (_, Some(m)) => CauseKind::of_head_move(m),
            (InputCause::Manual, None) => CauseKind::Manual,
            (InputCause::Rescan, None) => CauseKind::Rescan,
            (InputCause::Watch, None) => CauseKind::Edit,
        };
        let cause = Cause {
            kind,
            head: head.clone(),
            previous_head,
        };
        let new_errors = errors
            .iter()
            .filter(|e| e.is_error() && touched.contains(&e.file))
            .count();
        let summary = summarize(&cause, &patches, &touched, new_errors);
        let at = SystemTime::now();
        let snapshot = Arc::new(Snapshot {
            revision,
            at,
            workflows,
            integrations,
            settings,
            errors: Arc::clone(&errors),
            head,
        });
        let event = Arc::new(Event {
            revision,
            base_revision: self.current.revision,
            at,
            cause,
            timings: Timings {
                detect: started.saturating_duration_since(input.first_event_at),
                apply: started.elapsed(),
            },
            summary,
            patches,
            errors,
            files: touched,
        });
        self.current = Arc::clone(&snapshot);
        Some(Outcome {
            snapshot,
            event,
            settings_changed,
        })
    }

    /// Whether the file `path` may be loaded: the settings' globs admit it
    /// (the settings file always) and git does not ignore it.
    fn admits(&self, path: &str) -> bool {
        if path != SETTINGS_FILE && !self.filter.matches(path) {
            return false;
        }
        match &self.git {
            Some(git) => !git.is_ignored(path).unwrap_or(false),
            None => true,
        }
    }

    /// The filter of the settings file on disk, when it is valid and its
    /// globs differ from those in force (a deleted file means the defaults).
    fn new_filter(&self) -> Option<PathFilter> {
        let settings = match self.read(SETTINGS_FILE) {
            Read::Bytes(bytes, _, _) => {
                let load = config::load_file(FileRole::Settings, SETTINGS_FILE, &bytes, &*self.env);
                match load.entity {
                    Some(Entity::Settings(s)) => s,
                    _ => return None,
                }
            }
            Read::Absent => Settings::default(),
            Read::Refused(..) => return None,
        };
        let now = &self.current.settings;
        if settings.watch == now.watch && settings.ignore == now.ignore {
            return None;
        }
        PathFilter::new(&settings.watch, &settings.ignore).ok()
    }

    fn read(&self, path: &str) -> Read {
        if !self.admits(path) {
            return Read::Absent;
        }
        let stamp = fs::stamp(&self.root, path);
        match fs::read_file(&self.root, path) {
            Ok(Some(bytes)) => Read::bytes(bytes, stamp),
            Ok(None) => Read::Absent,
            Err(e) => Read::refused(e),
        }
    }

    /// Parses and checks every read file (in parallel when there are many).
    fn load_all(&self, reads: Vec<(String, Read)>) -> BTreeMap<String, Fresh> {
        let env = Arc::clone(&self.env);
        let load = move |(path, read): (String, Read)| {
            let fresh = load_one(&path, read, &*env);
            (path, fresh)
        };
        par_map(reads, &load).into_iter().collect()
    }

    /// A file that reads empty or cut off may be half-written: read it again
    /// shortly, and keep the last version seen.
    fn reread_suspicious(&self, fresh: &mut BTreeMap<String, Fresh>) {
        for _ in 0..REREADS {
            let suspicious: Vec<String> = fresh
                .iter()
                .filter(|(_, f)| f.state.as_ref().is_some_and(looks_half_written))
                .map(|(p, _)| p.clone())
                .collect();
            if suspicious.is_empty() {
                return;
            }
            std::thread::sleep(REREAD_DELAY);
            let mut changed = false;
            for path in suspicious {
                let read = self.read(&path);
                let before = fresh
                    .get(&path)
                    .and_then(|f| f.state.as_ref())
                    .map(|s| s.fingerprint);
                if read.fingerprint() == before {
                    continue;
                }
                changed = true;
                let f = load_one(&path, read, &*self.env);
                let unchanged_from_applied = match (&f.state, self.files.get(&path)) {
                    (Some(a), Some(b)) => a.fingerprint == b.fingerprint,
                    (None, None) => true,
                    _ => false,
                };
                if unchanged_from_applied {
                    fresh.remove(&path);
                } else {
                    fresh.insert(path, f);
                }
            }
            if !changed {
                return;
            }
        }
    }

    /// Decides which file serves workflow `id` (the rule of
    /// `load::resolve`), and the cross-file errors of every file that
    /// declares it.
    fn resolve_workflow(
        &mut self,
        id: &str,
        revision: u64,
        workflows: &mut imbl::OrdMap<Arc<str>, Arc<Served<Workflow>>>,
        dirty: &mut BTreeSet<String>,
    ) {
        let current = workflows.get(id).cloned();
        let declaring: Vec<(&str, &Workflow)> = self
            .id_files
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|file| {
                let w = self.files.get(file)?.workflow()?;
                Some((file.as_str(), &**w))
            })
            .collect();
        let holder = current.as_ref().map(|c| {
            let now = match self.files.get(&*c.file) {
                None => HolderNow::Gone,
                Some(f) => match f.workflow() {
                    None => HolderNow::Invalid,
                    Some(w) => HolderNow::Declares(&w.id),
                },
            };
            (&*c.file, now)
        });
        let outcome = resolve::workflow(id, &declaring, &self.configured, holder);
        let files: Vec<String> = declaring.iter().map(|(f, _)| f.to_string()).collect();
        for file in files {
            dirty.insert(file.clone());
            match outcome.errors.get(&file) {
                Some(errors) => self.derived.insert(file, errors.clone()),
                None => self.derived.remove(&file),
            };
        }
        match outcome.pick {
            Some(Pick::Read(file)) => {
                let (w, text) = match self.files.get(&file) {
                    Some(f) => match f.workflow() {
                        Some(w) => (Arc::clone(w), Arc::clone(&f.text)),
                        None => return,
                    },
                    None => return,
                };
                let unchanged = current
                    .as_ref()
                    .is_some_and(|c| *c.file == *file && c.text == text);
                if !unchanged {
                    if let Some(c) = &current
                        && *c.file != *file
                        && self.served_ids.get(&*c.file).map(String::as_str) == Some(id)
                    {
                        self.served_ids.remove(&*c.file);
                    }
                    self.served_ids.insert(file.clone(), id.to_string());
                    workflows.insert(
                        Arc::from(id),
                        Arc::new(Served {
                            value: w,
                            file: Arc::from(file.as_str()),
                            text,
                            revision,
                        }),
                    );
                }
            }
            // The last good version stays as it is.
            Some(Pick::Kept(_)) => {}
            None => {
                let Some(c) = current else { return };
                workflows.remove(id);
                if self.served_ids.get(&*c.file).map(String::as_str) == Some(id) {
                    self.served_ids.remove(&*c.file);
                }
            }
        }
    }

    fn resolve_integration(
        &mut self,
        kind: IntegrationKind,
        path: &str,
        revision: u64,
        integrations: &mut imbl::OrdMap<IntegrationKind, Arc<Served<Integration>>>,
    ) {
        match self.files.get(path) {
            None => {
                integrations.remove(&kind);
            }
            Some(f) => {
                if let Some(Own::Integration(i)) = &f.own {
                    integrations.insert(
                        kind,
                        Arc::new(Served {
                            value: Arc::clone(i),
                            file: Arc::from(path),
                            text: Arc::clone(&f.text),
                            revision,
                        }),
                    );
                }
                // Invalid: the last good version (if any) stays.
            }
        }
    }

    /// Returns whether the settings in force changed.
    fn resolve_settings(&mut self, revision: u64) -> bool {
        match self.files.get(SETTINGS_FILE) {
            None => self.settings.take().is_some(),
            Some(f) => match &f.own {
                Some(Own::Settings(s)) => {
                    self.settings = Some(Arc::new(Served {
                        value: Arc::clone(s),
                        file: Arc::from(SETTINGS_FILE),
                        text: Arc::clone(&f.text),
                        revision,
                    }));
                    true
                }
                _ => false,
            },
        }
    }

    fn build_patches(&self, jobs: Vec<PatchJob>, trees: &HashMap<String, Node>) -> Vec<Patch> {
        let git = self.git.clone();
        let make = move |job: PatchJob| -> Option<Patch> {
            let mut p = job.build(trees)?;
            if let Some(git) = &git {
                let differs = match p.op {
                    PatchKind::Removed => git.in_head(&p.file),
                    _ => job.new.as_ref().map_or(Ok(true), |side| {
                        git.differs_from_head(&p.file, side.text.as_bytes())
                    }),
                };
                p.differs_from_head = differs.ok();
            }
            Some(p)
        };
        let mut patches: Vec<Patch> = par_map(jobs, &make).into_iter().flatten().collect();
        patches.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        patches
    }
}

/// The longest excerpt kept: enough to recognise the line, bounded so a
/// minified one-line file does not ride along in every frame.
const EXCERPT_CHARS: usize = 200;

/// Each error with the line it points at, masked like the text diff (secret
/// values known from the tree, and `secret_key: value` lines even in a file
/// that did not parse).
fn with_excerpts(errors: Vec<ConfigError>, text: &str, tree: Option<&Node>) -> Vec<ConfigError> {
    if errors.is_empty() {
        return errors;
    }
    let masker = LineMasker::new([tree]);
    errors
        .into_iter()
        .map(|e| {
            let line = (e.line as usize)
                .checked_sub(1)
                .and_then(|i| text.lines().nth(i));
            // Masked whole, then cut: a cut first could split a secret.
            let excerpt = line.map(|l| masker.mask(l).chars().take(EXCERPT_CHARS).collect());
            e.with_excerpt(excerpt)
        })
        .collect()
}

/// Reads nothing: turns one read into the file's new state.
fn load_one(path: &str, read: Read, env: &(dyn Fn(&str) -> Option<String> + Send + Sync)) -> Fresh {
    let fingerprint = read.fingerprint();
    let Some(role) = FileRole::of(path) else {
        return Fresh {
            state: None,
            tree: None,
        };
    };
    let (bytes, stamp) = match read {
        Read::Absent => {
            return Fresh {
                state: None,
                tree: None,
            };
        }
        Read::Refused(e, _) => {
            let e = match role {
                FileRole::Integration(kind) => e.for_entity(EntityKind::Integration, kind.as_str()),
                FileRole::Settings => e.for_entity(EntityKind::Settings, "hot_reload"),
                FileRole::Workflow => e,
            };
            return Fresh {
                state: Some(FileState {
                    fingerprint: fingerprint.unwrap_or_default(),
                    stamp: None,
                    text: Arc::from(""),
                    own: None,
                    errors: vec![e],
                }),
                tree: None,
            };
        }
        Read::Bytes(bytes, stamp, _) => (bytes, stamp),
    };
    let FileLoad {
        tree,
        entity,
        errors,
    } = config::load_file(role, path, &bytes, env);
    let own = entity.map(|e| match e {
        Entity::Workflow(w) => Own::Workflow(Arc::new(w)),
        Entity::Integration(i) => Own::Integration(Arc::new(i)),
        Entity::Settings(s) => Own::Settings(Arc::new(s)),
    });
    let text: Arc<str> = match String::from_utf8(bytes) {
        Ok(s) => Arc::from(s),
        Err(e) => Arc::from(String::from_utf8_lossy(e.as_bytes()).as_ref()),
    };
    let errors = with_excerpts(errors, &text, tree.as_ref());
    Fresh {
        state: Some(FileState {
            fingerprint: fingerprint.unwrap_or_default(),
            stamp,
            text,
            own,
            errors,
        }),
        tree,
    }
}

/// Empty, or cut off in the middle of the YAML: maybe an editor's save in
/// progress.
fn looks_half_written(state: &FileState) -> bool {
    state.text.trim().is_empty()
        || state
            .errors
            .iter()
            .any(|e| e.kind == ErrorKind::Syntax && e.is_error())
}

fn remove_from(index: &mut HashMap<String, BTreeSet<String>>, id: &str, path: &str) {
    if let Some(set) = index.get_mut(id) {
        set.remove(path);
        if set.is_empty() {
            index.remove(id);
        }
    }
}

fn same<T>(a: Option<&Arc<Served<T>>>, b: Option<&Arc<Served<T>>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// Maps `items` with `f` on up to as many threads as there are cores, in
/// order. Small inputs stay on this thread.
fn par_map<T: Send, R: Send>(items: Vec<T>, f: &(dyn Fn(T) -> R + Sync)) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if items.len() < PARALLEL_FROM || threads < 2 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(chunk).collect());
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| scope.spawn(move || c.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// One side of a patch: the file and text of a version, and its JSON.
struct Side {
    file: Arc<str>,
    text: Arc<str>,
    json: Option<serde_json::Value>,
}

impl Side {
    fn of<T: serde::Serialize>(served: &Served<T>) -> Side {
        Side {
            file: Arc::clone(&served.file),
            text: Arc::clone(&served.text),
            json: serde_json::to_value(&*served.value).ok(),
        }
    }
}

/// A patch to compute: an entity's version before and after.
struct PatchJob {
    kind: EntityKind,
    id: String,
    old: Option<Side>,
    new: Option<Side>,
}

impl PatchJob {
    fn workflow(
        id: &str,
        old: Option<&Arc<Served<Workflow>>>,
        new: Option<&Arc<Served<Workflow>>>,
    ) -> Self {
        PatchJob {
            kind: EntityKind::Workflow,
            id: id.to_string(),
            old: old.map(|s| Side::of(s)),
            new: new.map(|s| Side::of(s)),
        }
    }

    fn integration(
        kind: IntegrationKind,
        old: Option<&Arc<Served<Integration>>>,
        new: Option<&Arc<Served<Integration>>>,
    ) -> Self {
        PatchJob {
            kind: EntityKind::Integration,
            id: kind.as_str().to_string(),
            old: old.map(|s| Side::of(s)),
            new: new.map(|s| Side::of(s)),
        }
    }

    fn settings(old: Option<&Arc<Served<Settings>>>, new: Option<&Arc<Served<Settings>>>) -> Self {
        PatchJob {
            kind: EntityKind::Settings,
            id: "hot_reload".to_string(),
            old: old.map(|s| Side::of(s)),
            new: new.map(|s| Side::of(s)),
        }
    }

    /// The patch; trees of files read in this batch are reused, the others
    /// are parsed again from their text.
    fn build(&self, trees: &HashMap<String, Node>) -> Option<Patch> {
        let parse = |text: &str| yaml::parse(text.as_bytes(), "", &Limits::default()).0;
        let old_tree = self.old.as_ref().and_then(|s| parse(&s.text));
        let new_tree = self.new.as_ref().and_then(|s| match trees.get(&*s.file) {
            Some(tree) => Some(tree.clone()),
            None => parse(&s.text),
        });
        let file = self
            .new
            .as_ref()
            .or(self.old.as_ref())
            .map_or_else(String::new, |s| s.file.to_string());
        fn version<'a>(side: &'a Side, tree: Option<&'a Node>) -> Version<'a> {
            Version {
                text: &side.text,
                tree,
                json: side.json.as_ref(),
            }
        }
        let old = self.old.as_ref().map(|s| version(s, old_tree.as_ref()));
        let new = self.new.as_ref().map(|s| version(s, new_tree.as_ref()));
        patch::entity_patch(self.kind, &self.id, &file, old, new)
    }
}
