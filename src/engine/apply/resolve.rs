//! Phase `resolve`: the files read in this batch to what is in force.
//!
//! Records the new file states and the `id → files` index, then applies the
//! rule of `load::resolve` to every workflow id the batch touched (every id
//! when the set of configured integrations changed, or on a full scan), and
//! gathers the diagnostics in force.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use imbl::OrdMap;

use super::read::Fresh;
use super::{FileState, Own, Scope, State, Trees};
use crate::diagnostic::ConfigError;
use crate::engine::diagnostics::Diagnostics;
use crate::engine::snapshot::Served;
use crate::git::{CommitInfo, LastChanges};
use crate::load::config::FileRole;
use crate::load::mask::Masker;
use crate::load::paths::PathFilter;
use crate::load::resolve::{self, HolderNow, Pick};
use crate::model::{Integration, IntegrationKind, SETTINGS_FILE, Settings, Workflow};

/// What every version this batch brings in force is stamped with: the
/// revision, and (follow mode) the commit that changed it.
pub(super) struct Origin<'a> {
    pub revision: u64,
    pub changes: Changes<'a>,
}

/// Who changed the files a batch reads (follow mode).
pub(super) enum Changes<'a> {
    /// Working-tree mode: nobody known.
    None,
    /// The commit the batch serves changed them.
    Commit(Arc<CommitInfo>),
    /// The first commit served, read whole: each file's last change in the
    /// branch's history (none for a file older than the commits walked).
    History(&'a LastChanges),
}

impl Origin<'_> {
    /// Who last changed `file`, its texts masked by `masker`.
    fn change_of(&self, file: &str, masker: &Masker) -> Option<Arc<CommitInfo>> {
        let change = match &self.changes {
            Changes::None => return None,
            Changes::Commit(c) => c,
            Changes::History(h) => h.get(file)?,
        };
        Some(masked_commit(change, masker))
    }
}

/// A commit's author, email and subject masked (a secret of a config file
/// can be quoted in a commit message too).
fn masked_commit(c: &Arc<CommitInfo>, masker: &Masker) -> Arc<CommitInfo> {
    if [&c.author, &c.email, &c.subject]
        .iter()
        .all(|t| masker.is_clean(t))
    {
        return Arc::clone(c);
    }
    Arc::new(masked_info((**c).clone(), masker))
}

/// [`masked_commit`] of an owned commit.
pub(super) fn masked_info(mut c: CommitInfo, masker: &Masker) -> CommitInfo {
    for t in [&mut c.author, &mut c.email, &mut c.subject] {
        masker.mask_line_in_place(t);
    }
    c
}

/// What phase `resolve` decided (already recorded in the state it was given).
pub(super) struct Resolved {
    pub workflows: OrdMap<Arc<str>, Arc<Served<Workflow>>>,
    pub integrations: OrdMap<IntegrationKind, Arc<Served<Integration>>>,
    pub settings: Arc<Settings>,
    pub settings_before: Option<Arc<Served<Settings>>>,
    pub settings_after: Option<Arc<Served<Settings>>>,
    pub settings_changed: bool,
    pub errors: Diagnostics,
    /// Files read in this batch.
    pub touched: Vec<String>,
    /// Workflow ids resolved again.
    pub affected: BTreeSet<String>,
    pub trees: Trees,
}

pub(super) fn resolve(
    next: &mut State,
    fresh: BTreeMap<String, Fresh>,
    folders_changed: BTreeSet<String>,
    scope: Scope,
    origin: &Origin<'_>,
) -> Resolved {
    // Record the new file states.
    let configured_before = next.configured.clone();
    let mut affected: BTreeSet<String> = BTreeSet::new();
    let mut dirty: BTreeSet<String> = BTreeSet::new();
    let mut trees = Trees::new();
    let touched: Vec<String> = fresh.keys().cloned().collect();
    // Each touched file's diagnostics before this batch.
    let mut held: BTreeMap<String, Arc<Vec<ConfigError>>> = BTreeMap::new();
    let mut secrets_moved = false;
    for (path, f) in fresh {
        let role = FileRole::of(&path);
        let old = next.files.remove(&path);
        if let Some(w) = old.as_ref().and_then(FileState::workflow) {
            remove_from(&mut next.id_files, &w.id, &path);
            affected.insert(w.id.clone());
        }
        if let Some(old) = &old {
            held.insert(path.clone(), Arc::clone(&old.errors));
        }
        secrets_moved |= secrets(old.as_ref()) != secrets(f.state.as_ref());
        if let Some(id) = next.served_ids.get(&path) {
            affected.insert(id.clone());
        }
        next.derived.remove(&path);
        dirty.insert(path.clone());
        if let Some(FileRole::Integration(kind)) = role {
            if f.state.is_some() {
                next.configured.insert(kind);
            } else {
                next.configured.remove(&kind);
            }
        }
        if let Some(state) = f.state {
            if let Some(w) = state.workflow() {
                next.id_files
                    .entry(w.id.clone())
                    .or_default()
                    .insert(path.clone());
                affected.insert(w.id.clone());
            }
            next.files.insert(path.clone(), state);
        }
        if let Some(tree) = f.tree {
            trees.insert(path, tree);
        }
    }
    // A secret of any file is masked in every file: when the set of
    // secrets changed, every workflow and every diagnostic is masked anew.
    let remask = secrets_moved && update_secrets(next);
    mask_diagnostics(next, &touched, &held, remask, &mut dirty);

    // An integration appearing or going away re-checks every workflow; a
    // full scan resolves everything again.
    let full = scope == Scope::Full;
    if next.configured != configured_before || full || remask {
        affected.extend(next.id_files.keys().cloned());
        affected.extend(next.current.workflows.keys().map(|k| k.to_string()));
    }

    // Workflows.
    let mut workflows = next.current.workflows.clone();
    for id in &affected {
        resolve_workflow(next, id, origin, remask, &mut workflows, &mut dirty);
    }

    // Integrations and settings: one file each.
    let mut integrations = next.current.integrations.clone();
    let settings_before = next.settings.clone();
    let mut settings_changed = false;
    let mut roles: BTreeSet<FileRole> = touched.iter().filter_map(|p| FileRole::of(p)).collect();
    if full {
        roles.extend(IntegrationKind::ALL.map(FileRole::Integration));
        roles.insert(FileRole::Settings);
    }
    for role in roles {
        match role {
            FileRole::Integration(kind) => {
                resolve_integration(next, kind, origin, &mut integrations);
            }
            FileRole::Settings => settings_changed |= resolve_settings(next, origin),
            FileRole::Workflow => {}
        }
    }
    let settings = next
        .settings
        .as_ref()
        .map_or_else(|| Arc::new(Settings::default()), |s| Arc::clone(&s.value));
    if settings_changed && let Ok(filter) = PathFilter::new(&settings.watch, &settings.ignore) {
        next.filter = filter;
    }

    // Diagnostics in force: only the dirty files' lists are new; the rest
    // stay shared with the revision before. A full scan starts afresh, so a
    // file that went away while reads were forgotten leaves nothing behind.
    dirty.extend(folders_changed);
    let (mut errors, lists): (Diagnostics, BTreeSet<String>) = if scope == Scope::Paths {
        (next.current.errors.clone(), dirty)
    } else {
        let all = next
            .files
            .keys()
            .chain(next.derived.keys())
            .chain(next.folder_problems.keys())
            .cloned()
            .collect();
        (Diagnostics::default(), all)
    };
    for file in &lists {
        let own = next.files.get(file).map(|f| &f.errors);
        let derived = next.derived.get(file).map_or(&[][..], Vec::as_slice);
        let folder = next
            .folder_problems
            .get(file)
            .map_or(&[][..], Vec::as_slice);
        match own {
            // Only the file's own list (already in position order): shared.
            Some(own) if derived.is_empty() && folder.is_empty() => {
                errors.set_sorted(file, Arc::clone(own));
            }
            _ => {
                let mut all: Vec<ConfigError> = own.map(|o| o.to_vec()).unwrap_or_default();
                all.extend_from_slice(derived);
                all.extend_from_slice(folder);
                errors.set(file, all);
            }
        }
    }
    Resolved {
        workflows,
        integrations,
        settings,
        settings_after: next.settings.clone(),
        settings_before,
        settings_changed,
        errors,
        touched,
        affected,
        trees,
    }
}

/// Decides which file serves workflow `id` (the rule of `load::resolve`),
/// and the cross-file errors of every file that declares it.
fn resolve_workflow(
    next: &mut State,
    id: &str,
    origin: &Origin<'_>,
    remask: bool,
    workflows: &mut OrdMap<Arc<str>, Arc<Served<Workflow>>>,
    dirty: &mut BTreeSet<String>,
) {
    let current = workflows.get(id).cloned();
    let declaring: Vec<(&str, &Workflow)> = next
        .id_files
        .get(id)
        .into_iter()
        .flatten()
        .filter_map(|file| {
            let w = next.files.get(file)?.workflow()?;
            Some((file.as_str(), &**w))
        })
        .collect();
    let holder = current.as_ref().map(|c| {
        let now = match next.files.get(&*c.file) {
            None => HolderNow::Gone,
            Some(f) => match f.workflow() {
                None => HolderNow::Invalid,
                Some(w) => HolderNow::Declares(&w.id),
            },
        };
        (&*c.file, now)
    });
    let outcome = resolve::workflow(id, &declaring, &next.configured, holder);
    let files: Vec<String> = declaring.iter().map(|(f, _)| f.to_string()).collect();
    for file in files {
        dirty.insert(file.clone());
        match outcome.errors.get(&file) {
            Some(errors) => next.derived.insert(file, errors.clone()),
            None => next.derived.remove(&file),
        };
    }
    match outcome.pick {
        Some(Pick::Read(file)) => {
            let Some((w, text)) = next
                .files
                .get(&file)
                .and_then(|f| Some((Arc::clone(f.workflow()?), Arc::clone(&f.text))))
            else {
                return;
            };
            let same_source = current
                .as_ref()
                .is_some_and(|c| *c.file == *file && c.text == text);
            if same_source && !remask {
                return;
            }
            let value = masked(&w, &next.masker);
            let unchanged = same_source && current.as_ref().is_some_and(|c| *c.value == *value);
            if !unchanged {
                if let Some(c) = &current
                    && *c.file != *file
                    && next.served_ids.get(&*c.file).map(String::as_str) == Some(id)
                {
                    next.served_ids.remove(&*c.file);
                }
                next.served_ids.insert(file.clone(), id.to_string());
                workflows.insert(
                    Arc::from(id),
                    Arc::new(Served {
                        value,
                        file: Arc::from(file.as_str()),
                        text,
                        revision: origin.revision,
                        last_change: origin.change_of(&file, &next.masker),
                    }),
                );
            }
        }
        // The last good version stays as it is, masked anew when the
        // secrets changed.
        Some(Pick::Kept(_)) => {
            if let Some(c) = current
                && remask
            {
                let value = masked(&c.value, &next.masker);
                if !Arc::ptr_eq(&value, &c.value) {
                    workflows.insert(
                        Arc::from(id),
                        Arc::new(Served {
                            value,
                            file: Arc::clone(&c.file),
                            text: Arc::clone(&c.text),
                            revision: origin.revision,
                            last_change: origin.change_of(&c.file, &next.masker),
                        }),
                    );
                }
            }
        }
        None => {
            let Some(c) = current else { return };
            workflows.remove(id);
            if next.served_ids.get(&*c.file).map(String::as_str) == Some(id) {
                next.served_ids.remove(&*c.file);
            }
        }
    }
}

fn resolve_integration(
    next: &State,
    kind: IntegrationKind,
    origin: &Origin<'_>,
    integrations: &mut OrdMap<IntegrationKind, Arc<Served<Integration>>>,
) {
    let path = kind.config_file();
    match next.files.get(&path) {
        None => {
            integrations.remove(&kind);
        }
        Some(f) => {
            if let Some(Own::Integration(i)) = &f.own {
                let unchanged = integrations
                    .get(&kind)
                    .is_some_and(|c| c.text == f.text && *c.value == **i);
                if !unchanged {
                    integrations.insert(
                        kind,
                        Arc::new(Served {
                            value: Arc::clone(i),
                            file: Arc::from(path.as_str()),
                            text: Arc::clone(&f.text),
                            revision: origin.revision,
                            last_change: origin.change_of(&path, &next.masker),
                        }),
                    );
                }
            }
            // Invalid: the last good version (if any) stays.
        }
    }
}

/// Returns whether the settings in force changed.
fn resolve_settings(next: &mut State, origin: &Origin<'_>) -> bool {
    match next.files.get(SETTINGS_FILE) {
        None => next.settings.take().is_some(),
        Some(f) => match &f.own {
            Some(Own::Settings(s)) => {
                if next
                    .settings
                    .as_ref()
                    .is_some_and(|c| c.text == f.text && *c.value == **s)
                {
                    return false;
                }
                next.settings = Some(Arc::new(Served {
                    value: Arc::clone(s),
                    file: Arc::from(SETTINGS_FILE),
                    text: Arc::clone(&f.text),
                    revision: origin.revision,
                    last_change: origin.change_of(SETTINGS_FILE, &next.masker),
                }));
                true
            }
            _ => false,
        },
    }
}

/// The secret values of a file's state (none for an absent file).
fn secrets(state: Option<&FileState>) -> &[String] {
    state.map_or(&[], |s| &s.secrets)
}

/// Gathers every config file's secret values; when they changed, builds the
/// masker over them and returns `true`.
fn update_secrets(next: &mut State) -> bool {
    let mut all: Vec<&str> = next
        .files
        .values()
        .flat_map(|f| f.secrets.iter().map(String::as_str))
        .collect();
    all.sort_unstable();
    all.dedup();
    if all
        .iter()
        .copied()
        .eq(next.secrets.iter().map(String::as_str))
    {
        return false;
    }
    let secrets: Arc<[String]> = all.into_iter().map(str::to_string).collect();
    next.masker = Arc::new(Masker::with_values(
        std::iter::empty(),
        secrets.iter().map(String::as_str),
    ));
    next.secrets = secrets;
    true
}

/// Masks the diagnostics of the touched files (of every file when
/// `remask`) with the secrets of every file: a token of a config file
/// quoted in a workflow is masked in that workflow's messages and
/// excerpts. A touched file whose diagnostics came out as before keeps the
/// list held, so it stays shared and is not compared again.
fn mask_diagnostics(
    next: &mut State,
    touched: &[String],
    held: &BTreeMap<String, Arc<Vec<ConfigError>>>,
    remask: bool,
    dirty: &mut BTreeSet<String>,
) {
    let masker = Arc::clone(&next.masker);
    let mut renewed: Vec<(String, Arc<Vec<ConfigError>>)> = Vec::new();
    let all = next.secrets.len();
    let mut each = |path: &String, f: &FileState| {
        let errors = &f.errors;
        // A file holding every secret there is was masked with them all
        // when it was loaded.
        let mut masked = if f.secrets.len() == all {
            None
        } else {
            masked_errors(errors, &masker)
        };
        if let Some(old) = held.get(path)
            && **old == **masked.as_ref().unwrap_or(errors)
        {
            masked = Some(Arc::clone(old));
        }
        if let Some(m) = masked {
            renewed.push((path.clone(), m));
        }
    };
    if remask {
        for (path, f) in next.files.iter() {
            each(path, f);
        }
    } else {
        for path in touched {
            if let Some(f) = next.files.get(path) {
                each(path, f);
            }
        }
    }
    for (path, errors) in renewed {
        if let Some(f) = next.files.get_mut(&path) {
            f.errors = errors;
        }
        dirty.insert(path);
    }
}

/// `errors` with every message and excerpt masked by `masker`; `None` when
/// nothing needed masking.
fn masked_errors(errors: &Arc<Vec<ConfigError>>, masker: &Masker) -> Option<Arc<Vec<ConfigError>>> {
    let mut out: Option<Vec<ConfigError>> = None;
    for (i, e) in errors.iter().enumerate() {
        let clean =
            masker.is_clean(&e.message) && e.excerpt.as_deref().is_none_or(|x| masker.is_clean(x));
        if !clean {
            let list = out.get_or_insert_with(|| errors.to_vec());
            masker.mask_line_in_place(&mut list[i].message);
            if let Some(x) = &mut list[i].excerpt {
                masker.mask_line_in_place(x);
            }
        }
    }
    out.map(Arc::new)
}

/// `w` with every text masked by `masker` (the same `Arc` when nothing was
/// to mask, without a copy).
fn masked(w: &Arc<Workflow>, masker: &Masker) -> Arc<Workflow> {
    if w.texts().all(|t| masker.is_clean(t)) {
        return Arc::clone(w);
    }
    let mut copy = (**w).clone();
    copy.for_each_text_mut(|t| masker.mask_line_in_place(t));
    Arc::new(copy)
}

fn remove_from(index: &mut imbl::OrdMap<String, BTreeSet<String>>, id: &str, path: &str) {
    if let Some(set) = index.get_mut(id) {
        set.remove(path);
        if set.is_empty() {
            index.remove(id);
        }
    }
}
