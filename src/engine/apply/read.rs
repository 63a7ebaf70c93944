//! Phase `read`: HEAD, the candidate files, and the truth from disk.
//!
//! Which files to look at (the batch's paths, what a HEAD move changed,
//! every file on a full scan), read each one the globs and `.gitignore`
//! admit, and keep only those whose content differs from the last read,
//! loaded (parsed and checked on their own).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{Applier, FileState, Input, Own, Scope, Source, State, par_map};
use crate::diagnostic::{ConfigError, EntityKind, ErrorKind};
use crate::engine::diagnostics::sort_by_position;
use crate::engine::event::CauseKind;
use crate::git::{CommitInfo, CommitTree, Head, HeadMove};
use crate::load::config::{self, Entity, FileLoad, FileRole};
use crate::load::fs;
use crate::load::node::Node;
use crate::load::paths::PathFilter;
use crate::model::{SETTINGS_FILE, Settings};

/// How many times a file that looks half-written is read again before it
/// counts as broken.
const REREADS: usize = 3;

/// One file as read in this batch: its new state, or `None` when it is gone.
pub(super) struct Fresh {
    pub state: Option<FileState>,
    pub tree: Option<Node>,
}

/// What phase `read` found.
pub(super) struct Reads {
    /// Files whose content differs from the last read.
    pub fresh: BTreeMap<String, Fresh>,
    /// How much was compared: a new head diffed against the last one is
    /// `Paths` (its changed files), whatever the input asked.
    pub scope: Scope,
    pub head: Option<Head>,
    /// Where HEAD was, when it moved.
    pub previous_head: Option<Head>,
    pub head_move: Option<HeadMove>,
    /// Follow mode: the commit this batch brought in force.
    pub commit: Option<CommitInfo>,
    /// Folders whose problems (unreadable, a submodule, a link to a
    /// folder, a loop) changed since the last walk.
    pub folders_changed: BTreeSet<String>,
}

/// A read of one file, with the fingerprint of what was read (hashed once,
/// when read).
enum Read {
    Absent,
    Bytes(Vec<u8>, Option<fs::Stamp>, [u8; 32]),
    Refused(ConfigError, [u8; 32]),
}

impl Read {
    fn bytes(bytes: Vec<u8>, stamp: Option<fs::Stamp>) -> Read {
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

/// Phase `read`. May change `next.filter` (new globs from the settings
/// file decide what this batch may load).
pub(super) fn read(applier: &Applier, next: &mut State, input: &Input) -> Reads {
    let startup = input.cause == CauseKind::Startup;
    let mut scope = input.scope;
    let mut candidates = input.paths.clone();
    if let Some(tree) = &input.tree {
        let old = std::mem::replace(&mut next.source, Source::Commit(Arc::clone(tree)));
        // A new head after one whose files were all read: only the files
        // the diff of the two trees names are read.
        if let Source::Commit(old) = old
            && next.files_complete
            && !startup
            && let Some(changed) = tree.changed_since(&old)
        {
            match changed {
                Ok(paths) => {
                    scope = Scope::Paths;
                    candidates.extend(paths);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot diff the commits' trees; reading every file")
                }
            }
        }
    }

    // HEAD: did it move, and which config files did the move change?
    let mut head = next.current.head.clone();
    let mut previous_head = None;
    let mut head_move = None;
    let mut commit = None;
    // Follow mode: HEAD is the commit served.
    if let (Some(tree), Source::Commit(_)) = (&input.tree, &next.source)
        && tree.head.commit.is_some()
        && head.as_ref() != Some(&tree.head)
    {
        previous_head = head.take().filter(|h| h.commit.is_some());
        head = Some(tree.head.clone());
        commit = tree.commit.clone();
    }
    if let Some(git) = &applier.git
        && (input.git_changed || scope != Scope::Paths)
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

    // Which files to look at.
    let mut reconcile = scope == Scope::Reconcile;
    let mut folders_changed = BTreeSet::new();
    if scope != Scope::Paths {
        let (files, changed) = walk(applier, next);
        candidates.extend(files);
        candidates.extend(next.files.keys().cloned());
        folders_changed = changed;
    }
    // New watch/ignore globs decide what the rest of this batch may
    // load: with them, every file is looked at again, in this revision.
    // (A rescan already names every file, but must not skip one whose
    // stamp is unchanged: the globs, not the file, changed.) The settings
    // file is read once: the globs the batch reads with are those it
    // publishes, even if a save lands while it reads.
    let committed = matches!(next.source, Source::Commit(_));
    let mut settings_read = candidates
        .contains(SETTINGS_FILE)
        .then(|| read_settings(applier, next, !startup && !committed));
    if let Some((read, load)) = &settings_read
        && let Some(filter) = new_filter(next, read, load.as_ref())
    {
        next.filter = filter;
        reconcile = false;
        if scope == Scope::Paths {
            match &next.source {
                Source::Disk => candidates.extend(fs::list_tree(&applier.root)),
                Source::Commit(tree) => candidates.extend(tree_paths(tree)),
            }
            candidates.extend(next.files.keys().cloned());
        }
    }
    let candidates: Vec<String> = candidates
        .into_iter()
        .filter(|p| FileRole::of(p).is_some())
        .collect();

    // Truth from disk: read, and keep only what differs from the last read.
    // Each read, with the settings file's load when it was made above (the
    // file is parsed once per batch).
    let mut reads: Vec<(String, Read, Option<FileLoad>)> = Vec::new();
    for path in candidates {
        let known = next.files.get(&path);
        if reconcile
            && let Some(known) = known
            && known.stamp.is_some()
            && known.stamp == stamp(applier, &next.source, &path)
        {
            continue;
        }
        let (read, load) = settings_read
            .take_if(|_| path == SETTINGS_FILE)
            .unwrap_or_else(|| (read_file(applier, &next.source, &next.filter, &path), None));
        if read.fingerprint() != known.map(|k| k.fingerprint) {
            reads.push((path, read, load));
        }
    }
    // The startup load makes no patches: its trees are dropped as each file
    // is loaded, not held for the whole batch.
    let keep_trees = !startup;
    let mut fresh = load_all(applier, reads, keep_trees);
    // A commit's files are whole: nothing to read again.
    if !startup && !committed {
        reread_suspicious(applier, next, &mut fresh);
    }
    if scope != Scope::Paths {
        next.files_complete = true;
    }
    Reads {
        fresh,
        scope,
        head,
        previous_head,
        head_move,
        commit,
        folders_changed,
    }
}

/// Every path a commit's tree holds (over-size files too); none when the
/// mirror cannot list them (logged: the files in force stay).
fn tree_paths(tree: &CommitTree) -> Vec<String> {
    tree.paths().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot list the commit's files");
        Vec::new()
    })
}

/// A file's size, time and inode on disk; none for a commit's file.
fn stamp(applier: &Applier, source: &Source, path: &str) -> Option<fs::Stamp> {
    match source {
        Source::Disk => fs::stamp(&applier.root, path),
        Source::Commit(_) => None,
    }
}

/// Whether a file of `closed` (closed by its writer) merely grew since it
/// was last read: it is new, or its old text is the start of its new one.
/// Such a close may be one `>>` of a script building the file line by
/// line, so its batch waits the quiet period instead of going at once.
/// (A save that only adds at the end looks the same, and waits too.)
pub(super) fn appended(
    next: &State,
    fresh: &BTreeMap<String, Fresh>,
    closed: &BTreeSet<String>,
) -> bool {
    closed.iter().any(|path| {
        let Some(new) = fresh.get(path).and_then(|f| f.state.as_ref()) else {
            return false;
        };
        match next.files.get(path) {
            None => true,
            Some(old) => new.text.len() > old.text.len() && new.text.starts_with(&*old.text),
        }
    })
}

/// Walks the tree: the config files on disk, and the folders whose
/// problems (unreadable, a submodule, a link to a folder, a loop) changed
/// since the last walk (recorded in `next`).
fn walk(applier: &Applier, next: &mut State) -> (Vec<String>, BTreeSet<String>) {
    if let Source::Commit(tree) = &next.source {
        let mut files = tree_paths(tree);
        files.retain(|p| FileRole::of(p).is_some());
        return (files, BTreeSet::new());
    }
    let walk = fs::walk(&applier.root);
    let mut problems: BTreeMap<String, Vec<ConfigError>> = BTreeMap::new();
    for e in walk.problems {
        problems.entry(e.file.clone()).or_default().push(e);
    }
    let mut changed = BTreeSet::new();
    for (folder, now) in &problems {
        if next.folder_problems.get(folder) != Some(now) {
            changed.insert(folder.clone());
        }
    }
    for folder in next.folder_problems.keys() {
        if !problems.contains_key(folder) {
            changed.insert(folder.clone());
        }
    }
    next.folder_problems = problems;
    let mut files = walk.files;
    files.retain(|p| FileRole::of(p).is_some());
    (files, changed)
}

/// Whether the file `path` may be loaded: the settings' globs admit it
/// (the settings file always) and git does not ignore it.
fn admits(applier: &Applier, filter: &PathFilter, path: &str) -> bool {
    if !filter.matches(path) {
        return false;
    }
    match &applier.git {
        Some(git) => !git.is_ignored(path).unwrap_or(false),
        None => true,
    }
}

/// The settings file, read again shortly while it looks half-written
/// (when `reread`), before its globs decide what the batch reads; with its
/// load when it has bytes, which the rest of the batch uses (the file is
/// parsed once).
fn read_settings(applier: &Applier, next: &State, reread: bool) -> (Read, Option<FileLoad>) {
    let load_of = |read: &Read| match read {
        Read::Bytes(bytes, _, _) => Some(config::load_file(
            FileRole::Settings,
            SETTINGS_FILE,
            bytes,
            &*applier.env,
        )),
        Read::Absent | Read::Refused(..) => None,
    };
    let mut read = read_file(applier, &next.source, &next.filter, SETTINGS_FILE);
    let mut load = load_of(&read);
    for _ in 0..REREADS {
        let (Read::Bytes(bytes, _, _), Some(loaded)) = (&read, &load) else {
            break;
        };
        if !reread || !looks_half_written(&String::from_utf8_lossy(bytes), &loaded.errors) {
            break;
        }
        std::thread::sleep(super::REREAD_DELAY);
        read = read_file(applier, &next.source, &next.filter, SETTINGS_FILE);
        load = load_of(&read);
    }
    (read, load)
}

/// The filter of the settings file as `read`, when it is valid and its
/// globs differ from those in force (a deleted file means the defaults).
fn new_filter(next: &State, read: &Read, load: Option<&FileLoad>) -> Option<PathFilter> {
    let defaults;
    let settings = match (read, load.and_then(|l| l.entity.as_ref())) {
        (Read::Bytes(..), Some(Entity::Settings(s))) => s,
        (Read::Absent, _) => {
            defaults = Settings::default();
            &defaults
        }
        _ => return None,
    };
    let now = &next.current.settings;
    if settings.watch == now.watch && settings.ignore == now.ignore {
        return None;
    }
    PathFilter::new(&settings.watch, &settings.ignore).ok()
}

fn read_file(applier: &Applier, source: &Source, filter: &PathFilter, path: &str) -> Read {
    if !admits(applier, filter, path) {
        return Read::Absent;
    }
    if let Source::Commit(tree) = source {
        return match tree.read(path) {
            Some(Ok(bytes)) => Read::bytes(bytes, None),
            Some(Err(e)) => Read::refused(e),
            None => Read::Absent,
        };
    }
    let stamp = fs::stamp(&applier.root, path);
    match fs::read_file(&applier.root, path) {
        Ok(Some(bytes)) => Read::bytes(bytes, stamp),
        Ok(None) => Read::Absent,
        Err(e) => Read::refused(e),
    }
}

/// Parses and checks every read file (in parallel when there are many);
/// keeps each file's tree for the patches only when `keep_trees`.
fn load_all(
    applier: &Applier,
    reads: Vec<(String, Read, Option<FileLoad>)>,
    keep_trees: bool,
) -> BTreeMap<String, Fresh> {
    let env = Arc::clone(&applier.env);
    let load = move |(path, read, loaded): (String, Read, Option<FileLoad>)| {
        let mut fresh = load_one(&path, read, loaded, &*env);
        if !keep_trees {
            fresh.tree = None;
        }
        (path, fresh)
    };
    par_map(reads, &load).into_iter().collect()
}

/// A file that reads empty or cut off may be half-written: read it again
/// shortly, and keep the last version seen.
fn reread_suspicious(applier: &Applier, next: &State, fresh: &mut BTreeMap<String, Fresh>) {
    for _ in 0..REREADS {
        let suspicious: Vec<String> = fresh
            .iter()
            // The settings file had its rereads before its globs were
            // used: read again now, it could bring globs the batch did
            // not read with.
            .filter(|(p, f)| {
                p.as_str() != SETTINGS_FILE
                    && f.state
                        .as_ref()
                        .is_some_and(|s| looks_half_written(&s.text, &s.errors))
            })
            .map(|(p, _)| p.clone())
            .collect();
        if suspicious.is_empty() {
            return;
        }
        std::thread::sleep(super::REREAD_DELAY);
        let mut changed = false;
        for path in suspicious {
            let read = read_file(applier, &next.source, &next.filter, &path);
            let before = fresh
                .get(&path)
                .and_then(|f| f.state.as_ref())
                .map(|s| s.fingerprint);
            if read.fingerprint() == before {
                continue;
            }
            changed = true;
            let f = load_one(&path, read, None, &*applier.env);
            let unchanged_from_applied = match (&f.state, next.files.get(&path)) {
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

/// Reads nothing: turns one read into the file's new state.
/// One file's state from its read; `loaded` is its load when it was made
/// already (the settings file's, in `read_settings`).
fn load_one(
    path: &str,
    read: Read,
    loaded: Option<FileLoad>,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Fresh {
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
                    errors: Arc::new(vec![e]),
                    secrets: Arc::from([]),
                }),
                tree: None,
            };
        }
        Read::Bytes(bytes, stamp, _) => (bytes, stamp),
    };
    let load = loaded.unwrap_or_else(|| config::load_file(role, path, &bytes, env));
    // A config file's secrets are searched for in every file; a workflow's
    // (under keys no workflow has, so errors already) only in its own.
    let secrets = match role {
        FileRole::Workflow => Arc::from([]),
        FileRole::Integration(_) | FileRole::Settings => Arc::from(config::secrets_of(&load)),
    };
    let FileLoad {
        tree,
        entity,
        mut errors,
    } = load;
    sort_by_position(&mut errors);
    let own = entity.map(|e| match e {
        Entity::Workflow(w) => Own::Workflow(Arc::new(w)),
        Entity::Integration(i) => Own::Integration(Arc::new(i)),
        Entity::Settings(s) => Own::Settings(Arc::new(s)),
    });
    let text: Arc<str> = match String::from_utf8(bytes) {
        Ok(s) => Arc::from(s),
        Err(e) => Arc::from(String::from_utf8_lossy(e.as_bytes()).as_ref()),
    };
    Fresh {
        state: Some(FileState {
            fingerprint: fingerprint.unwrap_or_default(),
            stamp,
            text,
            own,
            errors: Arc::new(errors),
            secrets,
        }),
        tree,
    }
}

/// Empty, or cut off in the middle of the YAML (`errors` are the file's
/// load errors): maybe an editor's save in progress. The one test of it,
/// for the settings file and for every other.
fn looks_half_written(text: &str, errors: &[ConfigError]) -> bool {
    text.trim().is_empty()
        || errors
            .iter()
            .any(|e| e.kind == ErrorKind::Syntax && e.is_error())
}
