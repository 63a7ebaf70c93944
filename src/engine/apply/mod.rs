//! Stage `apply`: one batch of candidate paths to at most one new revision.
//!
//! The [`Applier`] owns the truth of what was last read from disk (a content
//! fingerprint per file) and what is in force (the current [`Snapshot`]).
//! Events are only hints: each candidate file is read and compared with its
//! fingerprint, and only files whose content changed are loaded. Work per
//! batch grows with the changed files, not with the repository.
//!
//! `apply` runs phases over a value: [`read`] (HEAD, candidates, truth from
//! disk), [`resolve`] (the rule of `load::resolve` on the ids the batch
//! touched, diagnostics), [`patches`] (what clients must apply), then one
//! commit: the next [`State`] replaces the current one in a single
//! assignment. The state is persistent (`imbl`), so taking the value to
//! work on costs nothing; a panic or an error in any phase leaves the
//! applier exactly as it was.
//!
//! May not: publish, log per file, or wait for anything but the short
//! re-read of a file caught mid-save. It runs on a blocking thread.

mod patches;
mod read;
mod resolve;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::diagnostic::ConfigError;
use crate::diagnostic::EntityKind;
use crate::diff::patch::Patch;
use crate::engine::event::{Cause, CauseKind, Event, LastChangeMap, Timings, summarize};
use crate::engine::snapshot::{Served, Snapshot};
use crate::git::{CommitTree, GitRepo};
use crate::load::fs::Stamp;
use crate::load::mask::Masker;
use crate::load::paths::{GlobError, PathFilter};
use crate::model::{Integration, IntegrationKind, Settings, Workflow};
use crate::watch::{Early, Trigger};

pub use patches::PatchError;

/// How the environment is read for `${VAR}` (shared with the applier thread).
pub type SharedEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How long to wait before reading again a file that looked empty or cut off
/// (an editor caught between truncating and writing).
pub const REREAD_DELAY: Duration = Duration::from_millis(30);

/// How much of the tree a batch asks to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only the batch's paths (and what a HEAD move changed).
    Paths,
    /// Every file, read and compared, and every entity resolved again (lost
    /// events, manual reload, startup, rebuild after a failure).
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
    /// What asked for it: `Startup`, `Edit` (the watcher), `Rescan` or
    /// `Manual`. A HEAD move seen while reading names the revision's cause
    /// instead (except at startup).
    pub cause: CauseKind,
    /// The first file event of the batch (for `detect_ms`).
    pub first_event_at: Instant,
    /// The watcher's deadline that let the batch go; `None` when the
    /// watcher did not ask (startup, a manual reload).
    pub trigger: Option<Trigger>,
    /// Set when the batch went early: a file it names as closed that
    /// merely grew (an append) makes the applier decline it, unapplied.
    pub early: Option<Early>,
    /// A commit to serve (follow mode): its tree replaces the files the
    /// applier reads from, and its metadata names the revision's cause.
    pub tree: Option<Arc<CommitTree>>,
}

impl Input {
    pub fn full(cause: CauseKind) -> Self {
        Input {
            paths: BTreeSet::new(),
            git_changed: true,
            scope: Scope::Full,
            cause,
            first_event_at: Instant::now(),
            trigger: None,
            early: None,
            tree: None,
        }
    }

    /// The whole tree of a commit (follow mode), with `cause` (`startup`,
    /// `commit` or `history_rewritten`).
    pub fn commit(tree: Arc<CommitTree>, cause: CauseKind) -> Self {
        Input {
            tree: Some(tree),
            ..Input::full(cause)
        }
    }

    /// Only these paths, as the watcher would name them.
    pub fn paths<I: IntoIterator<Item = S>, S: Into<String>>(paths: I) -> Self {
        Input {
            paths: paths.into_iter().map(Into::into).collect(),
            git_changed: false,
            scope: Scope::Paths,
            cause: CauseKind::Edit,
            first_event_at: Instant::now(),
            trigger: None,
            early: None,
            tree: None,
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
    /// The file's own diagnostics (syntax, schema, io), in position order,
    /// masked with the secrets of every file; shared with the diagnostics
    /// in force while nothing else is added.
    errors: Arc<Vec<ConfigError>>,
    /// The secret values of a config file (`load::config::secrets_of`),
    /// searched for in every other file's text; empty for workflows.
    secrets: Arc<[String]>,
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

/// Where the applier reads files from.
#[derive(Clone)]
enum Source {
    /// The working tree at the applier's root (and its git repository).
    Disk,
    /// The tree of the commit served last (follow mode): files come from
    /// it, never from disk; a new commit replaces it.
    Commit(Arc<CommitTree>),
}

/// Everything the applier knows, as one value: phases work on a copy (cheap:
/// persistent maps) and the commit swaps it in.
#[derive(Clone)]
struct State {
    source: Source,
    filter: PathFilter,
    files: imbl::OrdMap<String, FileState>,
    /// Whether `files` holds every file of the source (a full read was
    /// made since `forget_reads`), so a new commit may read only the
    /// files its diff names.
    files_complete: bool,
    /// Workflow id → files valid on their own that declare it.
    id_files: imbl::OrdMap<String, BTreeSet<String>>,
    /// File → the workflow id it serves now.
    served_ids: imbl::OrdMap<String, String>,
    /// Cross-file diagnostics (references, duplicate ids) per file.
    derived: imbl::OrdMap<String, Vec<ConfigError>>,
    /// Folders the last walk could not read or skipped, with why.
    folder_problems: BTreeMap<String, Vec<ConfigError>>,
    /// Integration kinds whose config file exists (valid or not).
    configured: BTreeSet<IntegrationKind>,
    settings: Option<Arc<Served<Settings>>>,
    /// Every config file's secret values (sorted, no repeats) and the
    /// masker over them: such a secret is masked wherever another file
    /// repeats it (served workflows, patches, diagnostics).
    secrets: Arc<[String]>,
    masker: Arc<Masker>,
    current: Arc<Snapshot>,
}

impl State {
    /// What was read from disk is forgotten; what is in force (and the
    /// settings that decide what may be read) stays, so the next full scan
    /// rebuilds every file's state and patches against what clients hold.
    fn forget_reads(&mut self) {
        self.files = imbl::OrdMap::new();
        self.files_complete = false;
        self.id_files = imbl::OrdMap::new();
        self.served_ids = self
            .current
            .workflows
            .iter()
            .map(|(id, s)| (s.file.to_string(), id.to_string()))
            .collect();
        self.derived = imbl::OrdMap::new();
        self.folder_problems = BTreeMap::new();
        self.configured = BTreeSet::new();
    }
}

/// Why a batch could not be applied. The applier is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Patch(#[from] PatchError),
}

/// The applier: the last applied state and the way to the next.
#[derive(Clone)]
pub struct Applier {
    root: PathBuf,
    git: Option<Arc<GitRepo>>,
    env: SharedEnv,
    state: State,
    /// Test hook: panic once in the named phase.
    #[cfg(test)]
    fault: std::cell::Cell<Option<&'static str>>,
}

impl Applier {
    /// An applier with nothing applied yet (revision 0); apply
    /// `Input::full(CauseKind::Startup)` to load.
    pub fn new(
        root: PathBuf,
        git: Option<Arc<GitRepo>>,
        env: SharedEnv,
    ) -> Result<Self, GlobError> {
        Self::with_source(root, git, env, Source::Disk)
    }

    /// An applier that reads commits' trees instead of the disk (`serve
    /// --follow`): nothing is served until a commit is applied with
    /// [`Input::commit`]. `root` is the data folder, never read.
    pub fn following(root: PathBuf, env: SharedEnv) -> Result<Self, GlobError> {
        Self::with_source(
            root,
            None,
            env,
            Source::Commit(Arc::new(CommitTree::default())),
        )
    }

    fn with_source(
        root: PathBuf,
        git: Option<Arc<GitRepo>>,
        env: SharedEnv,
        source: Source,
    ) -> Result<Self, GlobError> {
        let defaults = Settings::default();
        Ok(Applier {
            root,
            git,
            env,
            state: State {
                source,
                filter: PathFilter::new(&defaults.watch, &defaults.ignore)?,
                files: imbl::OrdMap::new(),
                files_complete: false,
                id_files: imbl::OrdMap::new(),
                served_ids: imbl::OrdMap::new(),
                derived: imbl::OrdMap::new(),
                folder_problems: BTreeMap::new(),
                configured: BTreeSet::new(),
                settings: None,
                secrets: Arc::from([]),
                masker: Arc::new(Masker::default()),
                current: Arc::new(Snapshot::empty()),
            },
            #[cfg(test)]
            fault: std::cell::Cell::new(None),
        })
    }

    pub fn current(&self) -> &Arc<Snapshot> {
        &self.state.current
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Applies one input: `Ok(None)` when nothing in force changed (no
    /// revision). On an error, or a panic in any phase, the applier is left
    /// as it was before the call.
    pub fn apply(&mut self, input: Input) -> Result<Option<Outcome>, ApplyError> {
        let started = Instant::now();
        let startup = input.cause == CauseKind::Startup;
        let mut next = self.state.clone();
        // HEAD and the ignore rules are checked once for the whole batch,
        // at its first git question (the read phase's first ignore check).
        let git = self.git.clone();
        let _pass = git.as_deref().map(GitRepo::pass);

        // Phase 1: read (HEAD, candidates, truth from disk).
        let reads = read::read(self, &mut next, &input);
        self.fault("read");
        // A close that only added to the end of what was read before may
        // be one append of many: the watcher waits the quiet period, and
        // nothing of this read is kept.
        if let Some(early) = &input.early
            && read::appended(&next, &reads.fresh, &early.closed)
        {
            early.claim.decline();
            return Ok(None);
        }
        if reads.fresh.is_empty()
            && reads.previous_head.is_none()
            && reads.commit.is_none()
            && !startup
            && reads.folders_changed.is_empty()
        {
            return Ok(None);
        }

        // Phase 2: resolve what is in force.
        let revision = next.current.revision + 1;
        let source = next.source.clone();
        let origin = resolve::Origin {
            revision,
            changes: changes_of(&source, reads.scope),
        };
        let mut resolved = resolve::resolve(
            &mut next,
            reads.fresh,
            reads.folders_changed,
            reads.scope,
            &origin,
        );
        self.fault("resolve");

        // Phase 3: patches for every entity whose version in force changed.
        let trees = std::mem::take(&mut resolved.trees);
        let patches = if startup {
            drop(trees);
            Vec::new()
        } else {
            patches::patches(
                self.git.as_deref(),
                &next.current,
                &resolved,
                trees,
                &next.masker,
            )?
        };
        self.fault("patches");
        let errors_changed = resolved.errors != next.current.errors;
        if !startup
            && patches.is_empty()
            && !errors_changed
            && reads.previous_head.is_none()
            && reads.commit.is_none()
        {
            // Files were read but nothing clients see changed: keep what
            // was read (so it is not loaded again), make no revision.
            self.state = next;
            return Ok(None);
        }

        // Phase 4: the new snapshot and its event; one commit.
        let kind = match (input.cause, reads.head_move) {
            (CauseKind::Startup, _) => CauseKind::Startup,
            (_, Some(m)) => CauseKind::of_head_move(m),
            (cause, None) => cause,
        };
        let cause = Cause {
            kind,
            head: reads.head.clone(),
            previous_head: reads.previous_head,
            commit: reads.commit.map(|c| resolve::masked_info(c, &next.masker)),
        };
        let last_changes = last_changes(&patches, &resolved);
        let touched = resolved.touched;
        let errors = resolved.errors;
        let new_errors = touched
            .iter()
            .filter_map(|file| errors.file(file))
            .map(|d| d.errors)
            .sum();
        let summary = summarize(&cause, &patches, &touched, new_errors);
        let at = SystemTime::now();
        let snapshot = Arc::new(Snapshot {
            revision,
            at,
            workflows: resolved.workflows,
            integrations: resolved.integrations,
            settings: resolved.settings,
            settings_file: resolved.settings_after.is_some(),
            errors: errors.clone(),
            head: reads.head,
            commit: cause.commit.clone().or_else(|| next.current.commit.clone()),
        });
        let event = Arc::new(Event {
            revision,
            base_revision: next.current.revision,
            at,
            cause,
            timings: Timings {
                detect: started.saturating_duration_since(input.first_event_at),
                apply: started.elapsed(),
                trigger: input.trigger,
            },
            summary,
            patches,
            last_changes,
            errors: errors.heads(),
            files: touched,
        });
        next.current = Arc::clone(&snapshot);
        self.fault("commit");
        self.state = next;
        Ok(Some(Outcome {
            snapshot,
            event,
            settings_changed: resolved.settings_changed,
        }))
    }

    /// Forgets what was read, for a rebuild from disk after a failure: the
    /// next `Input::full` reads every file again and patches against the
    /// snapshot in force.
    pub fn forget_reads(&mut self) {
        self.state.forget_reads();
    }

    #[cfg(test)]
    fn fault(&self, phase: &str) {
        if self.fault.get() == Some(phase) {
            self.fault.set(None);
            panic!("injected fault in phase {phase}");
        }
    }

    #[cfg(not(test))]
    fn fault(&self, _phase: &str) {}
}

/// Who changed what a batch reads from `source` (see [`resolve::Changes`]).
fn changes_of(source: &Source, scope: Scope) -> resolve::Changes<'_> {
    match source {
        Source::Disk => resolve::Changes::None,
        Source::Commit(tree) => match (&tree.last_changes, &tree.commit) {
            (Some(history), _) if scope != Scope::Paths => resolve::Changes::History(history),
            (_, Some(commit)) => resolve::Changes::Commit(Arc::new(commit.clone())),
            (_, None) => resolve::Changes::None,
        },
    }
}

/// The last change of each entity a patch brings in force (follow mode).
fn last_changes(patches: &[Patch], resolved: &resolve::Resolved) -> LastChangeMap {
    patches
        .iter()
        .filter_map(|p| {
            let change = match p.kind {
                EntityKind::Workflow => resolved.workflows.get(p.id.as_str())?.last_change.clone(),
                EntityKind::Integration => resolved
                    .integrations
                    .get(&p.id.parse::<IntegrationKind>().ok()?)?
                    .last_change
                    .clone(),
                EntityKind::Settings => resolved.settings_after.as_ref()?.last_change.clone(),
            }?;
            Some(((p.kind, p.id.clone()), change))
        })
        .collect()
}

/// Applies `input` on `applier`, catching a panic in any phase: the error is
/// logged, what was read is forgotten and the whole disk is read again
/// (cause `rescan`), so the result is never half-applied and never lost.
/// Returns the applier (it is owned by the caller's thread, not shared) and
/// the outcome, if a revision was made.
pub fn apply_caught(mut applier: Applier, input: Input) -> (Applier, Option<Outcome>) {
    let first = run_caught(&mut applier, input);
    match first {
        Ok(outcome) => (applier, outcome),
        Err(failure) => {
            tracing::error!(error = %failure, "applying a batch failed; rebuilding from disk");
            applier.forget_reads();
            match run_caught(&mut applier, Input::full(CauseKind::Rescan)) {
                Ok(outcome) => (applier, outcome),
                Err(failure) => {
                    tracing::error!(
                        error = %failure,
                        "rebuilding from disk failed; the previous revision stays in force"
                    );
                    applier.forget_reads();
                    (applier, None)
                }
            }
        }
    }
}

fn run_caught(applier: &mut Applier, input: Input) -> Result<Option<Outcome>, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| applier.apply(input))) {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(panic_message(panic.as_ref())),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panic: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panic: {s}")
    } else {
        "panic".to_string()
    }
}

/// Maps `items` with `f` on up to as many threads as there are cores, in
/// order. Small inputs stay on this thread. A panic in `f` is raised again
/// on the calling thread (never turned into a missing result).
fn par_map<T: Send, R: Send>(items: Vec<T>, f: &(dyn Fn(T) -> R + Sync)) -> Vec<R> {
    const PARALLEL_FROM: usize = 32;
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
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Trees parsed in this batch, by file, for the patches.
type Trees = HashMap<String, crate::load::node::Node>;
