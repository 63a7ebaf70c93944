//! Stages `apply` and `publish`: the live reload engine.
//!
//! ```text
//! apply     Applier: a batch -> truth from disk -> at most one new Snapshot + Event
//! snapshot  the immutable state every reader sees (swapped whole, arc-swap)
//! diagnostics  the diagnostics in force, by file, shared between revisions
//! event     what one revision says: cause, timings, summary, patches, errors
//! publish   broadcast + bounded history, under one lock so resume is exact
//! ```
//!
//! [`Engine`] is the cheap, cloneable handle the API holds: it reads
//! snapshots, subscribes to events and asks for reloads; it never applies
//! anything itself. [`Worker`] is the one task that applies batches, in
//! order, on a blocking thread. No JSON here: `api` turns events into frames.

pub mod apply;
pub mod diagnostics;
pub mod event;
pub mod snapshot;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::git::{CommitTree, GitError, GitRepo};
use crate::load::paths::GlobError;
use crate::metrics::Histogram;
use crate::model::Settings;
use crate::units::ms;
use crate::watch::{Batch, RescanReason, WatchHandle, WatchSettings, WatchStatus};

pub use apply::{Applier, ApplyError, Input, Outcome, Scope, SharedEnv, apply_caught};
pub use diagnostics::{Diagnostics, FileDiagnostics};
pub use event::{Cause, CauseKind, Event, Timings};
pub use snapshot::{Served, Snapshot};

/// Events a broadcast subscriber (the integrations supervisor, tests) may
/// fall behind by before it is told it lagged (and must resync from a
/// snapshot). WebSocket clients do not subscribe: they pull from history
/// (see [`Engine::next_after`]), so a slow one pins nothing here.
pub const BROADCAST_CAPACITY: usize = 1024;

/// What stops the engine from starting or answering.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{}: not a folder; pass --repo with the folder holding workflows/ and config/", .0.display())]
    NotAFolder(PathBuf),
    #[error(transparent)]
    Git(#[from] GitError),
    /// The default `watch`/`ignore` globs did not compile.
    #[error(transparent)]
    Glob(#[from] GlobError),
    #[error("the reload engine has stopped")]
    Stopped,
}

/// Reload counts since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Revisions made after startup.
    pub reloads: u64,
    /// Revisions whose batch left an error in a file it read.
    pub failures: u64,
    /// Batches that changed nothing on disk.
    pub noops: u64,
    /// Batches that compared the whole tree.
    pub rescans: u64,
}

/// The latest revision, for status.
#[derive(Debug, Clone)]
pub struct LastReload {
    pub revision: u64,
    pub at: SystemTime,
    pub ok: bool,
    pub cause: CauseKind,
    pub summary: String,
    pub timings: Timings,
}

/// A copy of the engine's state for the status route.
#[derive(Debug, Clone)]
pub struct Status {
    pub snapshot: Arc<Snapshot>,
    pub counts: Counts,
    pub last: Option<LastReload>,
    /// `None` before the watcher is started (or outside `serve`).
    pub watcher: Option<WatchStatus>,
    pub root: PathBuf,
    pub git: bool,
    /// `timings.apply` of every revision after startup.
    pub reload_duration: Histogram,
    /// What the resume history holds.
    pub history: HistoryUse,
}

/// What `publish` and the worker count, behind one lock.
#[derive(Debug, Clone, Default)]
struct Stats {
    counts: Counts,
    last: Option<LastReload>,
    reload_duration: Histogram,
}

/// What a new subscriber missed, decided under the publish lock so that the
/// backlog and the live receiver neither overlap nor leave a gap.
#[derive(Debug)]
pub enum Backlog {
    /// Every event after the revision asked for, in order.
    Events(Vec<Arc<Event>>),
    /// The revision asked for is no longer in history (or none was given).
    Snapshot(Arc<Snapshot>),
}

/// What a client holding some revision gets next, from
/// [`Engine::next_after`].
#[derive(Debug)]
pub enum Next {
    /// The client holds the revision in force.
    UpToDate,
    /// The event right after the client's revision.
    Event(Arc<Event>),
    /// History no longer has the event right after the client's revision
    /// (or that revision never happened here): the snapshot in force.
    Snapshot(Arc<Snapshot>),
}

/// A subscription: the current revision, what was missed, and the live feed
/// of every later event.
#[derive(Debug)]
pub struct Attach {
    pub revision: u64,
    pub backlog: Backlog,
    pub receiver: broadcast::Receiver<Arc<Event>>,
}

enum Command {
    Reload(oneshot::Sender<Option<Arc<Event>>>),
    /// Follow mode: serve this commit (cause `commit` or
    /// `history_rewritten`).
    Commit(
        Arc<CommitTree>,
        CauseKind,
        oneshot::Sender<Option<Arc<Event>>>,
    ),
}

/// The handle on the running engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    git: Option<Arc<GitRepo>>,
    current: ArcSwap<Snapshot>,
    history: Mutex<History>,
    tx: broadcast::Sender<Arc<Event>>,
    /// The latest published revision: a wake-up for clients that pull
    /// their next event from history (it holds no event).
    published: tokio::sync::watch::Sender<u64>,
    stats: Mutex<Stats>,
    watch: OnceLock<WatchHandle>,
    commands: mpsc::Sender<Command>,
    /// Names this run of the engine: revisions restart at 1 in the next one.
    instance: String,
}

/// The events a client may resume from, oldest first, bounded by count
/// (`history`) and by bytes (`history_bytes`): whichever is met first
/// drops the oldest. Each event is counted with what it does not share with
/// the one before (see `Event::bytes_beyond`).
struct History {
    events: VecDeque<(Arc<Event>, usize)>,
    capacity: usize,
    budget: usize,
    bytes: usize,
}

impl History {
    fn push(&mut self, event: Arc<Event>, bytes: usize) {
        self.events.push_back((event, bytes));
        self.bytes += bytes;
        self.trim();
    }

    fn trim(&mut self) {
        while self.events.len() > self.capacity || self.bytes > self.budget {
            let Some((_, bytes)) = self.events.pop_front() else {
                break;
            };
            self.bytes -= bytes;
        }
    }
}

/// The resume history's size now, for status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryUse {
    pub events: usize,
    pub bytes: usize,
    pub capacity: usize,
    pub budget: usize,
}

/// The task that applies batches; see [`Worker::run`].
pub struct Worker {
    engine: Engine,
    applier: Applier,
    commands: mpsc::Receiver<Command>,
}

impl Engine {
    /// Opens `root` (and its git repository, if it is one) and loads every
    /// file: revision 1, cause `startup`. Blocking: reads the whole tree.
    pub fn load(root: &Path, env: SharedEnv) -> Result<(Engine, Worker), EngineError> {
        Self::load_with_capacity(root, env, BROADCAST_CAPACITY)
    }

    /// [`Engine::load`] with a broadcast of `capacity` events (how far a
    /// subscriber may fall behind before it is told it lagged; at least 1).
    pub fn load_with_capacity(
        root: &Path,
        env: SharedEnv,
        capacity: usize,
    ) -> Result<(Engine, Worker), EngineError> {
        if !root.is_dir() {
            return Err(EngineError::NotAFolder(root.to_path_buf()));
        }
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        let git = match GitRepo::discover(&root)? {
            Some(git) if same_dir(git.workdir(), &root) => Some(Arc::new(git)),
            Some(git) => {
                tracing::warn!(
                    workdir = %git.workdir().display(),
                    "the folder is inside a git repository but not at its root; serving it without git"
                );
                None
            }
            None => None,
        };
        let applier = Applier::new(root.clone(), git.clone(), env)?;
        Ok(Self::start(
            root,
            git,
            applier,
            Input::full(CauseKind::Startup),
            capacity,
        ))
    }

    /// Follow mode: an engine serving commits instead of a working tree,
    /// starting with `first` (the mirror's last fetched commit, if any;
    /// else an empty revision 1). `data_dir` is where the mirror and the
    /// runs live; no file is read from it. Blocking while the first
    /// commit loads.
    pub fn follow(
        data_dir: &Path,
        first: Option<Arc<CommitTree>>,
        env: SharedEnv,
        capacity: usize,
    ) -> Result<(Engine, Worker), EngineError> {
        let root = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let applier = Applier::following(root.clone(), env)?;
        let input = match first {
            Some(tree) => Input::commit(tree, CauseKind::Startup),
            None => Input::full(CauseKind::Startup),
        };
        Ok(Self::start(root, None, applier, input, capacity))
    }

    fn start(
        root: PathBuf,
        git: Option<Arc<GitRepo>>,
        applier: Applier,
        startup: Input,
        capacity: usize,
    ) -> (Engine, Worker) {
        let (applier, outcome) = apply::apply_caught(applier, startup);
        let snapshot = outcome.as_ref().map_or_else(
            || Arc::clone(applier.current()),
            |o| Arc::clone(&o.snapshot),
        );
        let (tx, _) = broadcast::channel(capacity.max(1));
        let (commands_tx, commands) = mpsc::channel(16);
        let engine = Engine {
            inner: Arc::new(Inner {
                root,
                git,
                history: Mutex::new(History {
                    events: VecDeque::new(),
                    capacity: snapshot.settings.history,
                    budget: snapshot.settings.history_bytes,
                    bytes: 0,
                }),
                published: tokio::sync::watch::Sender::new(snapshot.revision),
                current: ArcSwap::new(snapshot),
                tx,
                stats: Mutex::new(Stats::default()),
                watch: OnceLock::new(),
                commands: commands_tx,
                instance: instance_id(),
            }),
        };
        if let Some(o) = outcome {
            engine.publish(&o);
        }
        (
            engine.clone(),
            Worker {
                engine,
                applier,
                commands,
            },
        )
    }

    /// The snapshot in force. Never waits.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.current.load_full()
    }

    /// An id of this run of the engine. Revision numbers only mean
    /// something within one instance (they restart at 1), so a client
    /// resumes only by naming the instance its revision came from.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    pub fn git(&self) -> Option<&GitRepo> {
        self.inner.git.as_deref()
    }

    /// Every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.tx.subscribe()
    }

    /// Subscribes and says what was missed since revision `since`: the
    /// events after it while they are in history, else the snapshot.
    pub fn attach(&self, since: Option<u64>) -> Attach {
        let history = self.inner.history.lock();
        let receiver = self.inner.tx.subscribe();
        let snapshot = self.snapshot();
        let backlog = match since.and_then(|r| events_after(&history.events, r, snapshot.revision))
        {
            Some(events) => Backlog::Events(events),
            None => Backlog::Snapshot(Arc::clone(&snapshot)),
        };
        Attach {
            revision: snapshot.revision,
            backlog,
            receiver,
        }
    }

    /// A receiver that wakes when a revision is published (its value is
    /// the latest one). Take it before the first [`Engine::next_after`], so
    /// no revision published in between goes unnoticed.
    pub fn revisions(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.published.subscribe()
    }

    /// What a client holding revision `held` gets next: the one event after
    /// it while history has it, else the snapshot in force. A client that
    /// takes its events one at a time this way holds at most one event
    /// itself; its backlog stays in history, bounded by `history` and
    /// `history_bytes`, and once history drops what it has not taken yet it
    /// gets the snapshot instead.
    pub fn next_after(&self, held: u64) -> Next {
        let history = self.inner.history.lock();
        let snapshot = self.snapshot();
        if held == snapshot.revision {
            return Next::UpToDate;
        }
        if held > snapshot.revision {
            return Next::Snapshot(snapshot);
        }
        let at = history.events.partition_point(|(e, _)| e.revision <= held);
        match history.events.get(at) {
            Some((event, _)) if event.revision == held + 1 => Next::Event(Arc::clone(event)),
            _ => Next::Snapshot(snapshot),
        }
    }

    /// The events after revision `since`, or `None` when some of them are
    /// no longer in history (or `since` is ahead of the current revision).
    pub fn events_since(&self, since: u64) -> Option<Vec<Arc<Event>>> {
        let history = self.inner.history.lock();
        events_after(&history.events, since, self.snapshot().revision)
    }

    /// How much the resume history holds now.
    pub fn history_use(&self) -> HistoryUse {
        let history = self.inner.history.lock();
        HistoryUse {
            events: history.events.len(),
            bytes: history.bytes,
            capacity: history.capacity,
            budget: history.budget,
        }
    }

    /// A full rescan through the same path as file events (cause `manual`).
    /// `None` when nothing changed.
    pub async fn reload(&self) -> Result<Option<Arc<Event>>, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Reload(tx))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// Follow mode: serves the commit `tree` as one revision with cause
    /// `kind` (`commit` or `history_rewritten`). `None` when nothing
    /// clients see changed.
    pub async fn apply_commit(
        &self,
        tree: Arc<CommitTree>,
        kind: CauseKind,
    ) -> Result<Option<Arc<Event>>, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Commit(tree, kind, tx))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    pub fn status(&self) -> Status {
        let Stats {
            counts,
            last,
            reload_duration,
        } = self.inner.stats.lock().clone();
        Status {
            snapshot: self.snapshot(),
            counts,
            last,
            watcher: self.inner.watch.get().map(WatchHandle::status),
            root: self.inner.root.clone(),
            git: self.inner.git.is_some(),
            reload_duration,
            history: self.history_use(),
        }
    }

    /// The running watcher, for status and settings. Set once by the wiring.
    pub fn set_watch(&self, handle: WatchHandle) {
        let _ = self.inner.watch.set(handle);
    }

    pub fn watch(&self) -> Option<&WatchHandle> {
        self.inner.watch.get()
    }

    /// Swaps the snapshot in, records the event and broadcasts it, all under
    /// the history lock (so `attach` sees either all of it or none).
    fn publish(&self, outcome: &Outcome) {
        let event = &outcome.event;
        {
            let mut history = self.inner.history.lock();
            let before = self.inner.current.swap(Arc::clone(&outcome.snapshot));
            history.capacity = outcome.snapshot.settings.history.max(1);
            history.budget = outcome.snapshot.settings.history_bytes;
            // The startup load has no patches: its snapshot is the baseline,
            // and a client that saw nothing resumes from a snapshot.
            if event.cause.kind != CauseKind::Startup {
                let bytes = event.bytes_beyond(&before.errors.heads());
                history.push(Arc::clone(event), bytes);
                // No receiver is not an error: nobody is watching yet.
                let _ = self.inner.tx.send(Arc::clone(event));
                self.inner.published.send_replace(event.revision);
            }
            history.trim();
        }
        let ok = !event.failed();
        {
            let mut stats = self.inner.stats.lock();
            if event.cause.kind != CauseKind::Startup {
                stats.counts.reloads += 1;
                if !ok {
                    stats.counts.failures += 1;
                }
                stats.reload_duration.observe(event.timings.apply);
            }
            stats.last = Some(LastReload {
                revision: event.revision,
                at: event.at,
                ok,
                cause: event.cause.kind,
                summary: event.summary.clone(),
                timings: event.timings,
            });
        }
        let snapshot = &outcome.snapshot;
        tracing::info!(
            revision = event.revision,
            cause = event.cause.kind.as_str(),
            branch = event.cause.head.as_ref().and_then(|h| h.branch.as_deref()),
            patches = event.patches.len(),
            errors = snapshot.error_count(),
            workflows = snapshot.workflows.len(),
            integrations = snapshot.integrations.len(),
            detect_ms = ms(event.timings.detect),
            apply_ms = ms(event.timings.apply),
            "{}",
            event.summary
        );
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.inner.stats.lock().counts);
    }

    /// New settings: new globs and timings for the watcher. (The applier
    /// already took files in or out by the new globs in the same revision.)
    fn apply_settings(&self, settings: &Settings) {
        let Some(watch) = self.inner.watch.get() else {
            return;
        };
        if let Err(e) = watch.update(watch_settings(settings)) {
            tracing::warn!(error = %e, "the watcher did not take the new settings");
        }
    }
}

impl Worker {
    /// Applies batches, reload requests and commits one at a time until
    /// `shutdown` or until the batch channel closes. Follow mode has no
    /// watcher: `batches` is `None` and only commands come.
    pub async fn run(
        self,
        mut batches: Option<mpsc::Receiver<Batch>>,
        shutdown: CancellationToken,
    ) {
        let Worker {
            engine,
            applier,
            mut commands,
        } = self;
        // The applier is owned by this loop and lent to one blocking thread
        // at a time (moved there and back): there is no lock to poison, and
        // `apply_caught` turns a panic into an error and a rebuild.
        let mut applier = Some(applier);
        loop {
            let (input, early, reply) = tokio::select! {
                () = shutdown.cancelled() => break,
                batch = next_batch(&mut batches), if batches.is_some() => match batch {
                    // Withdrawn while it waited here: its successor, grown,
                    // is already on its way.
                    Some(batch) if batch.early.as_ref().is_some_and(|e| e.claim.is_withdrawn()) => {
                        continue;
                    }
                    Some(batch) => (input_of(&batch), batch.early, None),
                    None => break,
                },
                Some(command) = commands.recv() => match command {
                    Command::Reload(reply) => (Input::full(CauseKind::Manual), None, Some(reply)),
                    Command::Commit(tree, kind, reply) => (Input::commit(tree, kind), None, Some(reply)),
                },
            };
            if input.scope != Scope::Paths {
                engine.count(|c| c.rescans += 1);
            }
            let Some(lent) = applier.take() else { break };
            // An early batch is applied to a copy (cheap: persistent maps),
            // so a withdrawal leaves the applier as it was.
            let spare = early.as_ref().map(|_| lent.clone());
            let publisher = engine.clone();
            // Published from the applier's thread: one wake-up less between
            // the work and the clients.
            let applied = tokio::task::spawn_blocking(move || {
                let (back, outcome) = apply::apply_caught(lent, input);
                let keep = early.is_none_or(|early| early.wait_and_take());
                if keep && let Some(outcome) = &outcome {
                    publisher.publish(outcome);
                    if outcome.settings_changed {
                        publisher.apply_settings(&outcome.snapshot.settings);
                    }
                }
                (back, outcome, keep)
            })
            .await;
            let event = match applied {
                Ok((_, _, false)) => {
                    // Withdrawn (a hint joined the batch within its window)
                    // or declined (a file in it grew by an append): it
                    // comes again, grown or after the quiet period.
                    applier = spare;
                    None
                }
                Ok((back, outcome, true)) => {
                    applier = Some(back);
                    if outcome.is_none() {
                        engine.count(|c| c.noops += 1);
                    }
                    outcome.map(|outcome| outcome.event)
                }
                Err(e) => {
                    // Only a runtime shutting down cancels a blocking task
                    // (`apply_caught` catches panics): stop.
                    tracing::error!(error = %e, "the applier's thread was cancelled; the engine stops");
                    break;
                }
            };
            if let Some(reply) = reply {
                let _ = reply.send(event);
            }
        }
    }
}

/// The watcher's part of the settings (globs and timings): the one place
/// `Settings` becomes `WatchSettings`, at startup and on every change.
pub fn watch_settings(settings: &Settings) -> WatchSettings {
    WatchSettings {
        debounce: Duration::from_millis(settings.debounce_ms),
        max_wait: Duration::from_millis(settings.max_wait_ms),
        complete_write: Duration::from_micros((settings.complete_write_ms * 1000.0).round() as u64),
        watch: settings.watch.clone(),
        ignore: settings.ignore.clone(),
    }
}

async fn next_batch(batches: &mut Option<mpsc::Receiver<Batch>>) -> Option<Batch> {
    match batches {
        Some(rx) => rx.recv().await,
        None => None,
    }
}

fn input_of(batch: &Batch) -> Input {
    let (scope, cause) = match &batch.rescan {
        None => (Scope::Paths, CauseKind::Edit),
        Some(RescanReason::Periodic) => (Scope::Reconcile, CauseKind::Rescan),
        Some(_) => (Scope::Full, CauseKind::Rescan),
    };
    Input {
        paths: batch.paths.clone(),
        git_changed: batch.git_changed,
        scope,
        cause,
        first_event_at: batch.first_event_at,
        trigger: Some(batch.trigger),
        early: batch.early.clone(),
        tree: None,
    }
}

fn events_after(
    events: &VecDeque<(Arc<Event>, usize)>,
    since: u64,
    current: u64,
) -> Option<Vec<Arc<Event>>> {
    if since > current {
        return None;
    }
    if since == current {
        return Some(Vec::new());
    }
    let oldest = events.front()?.0.revision;
    if since + 1 < oldest {
        return None;
    }
    Some(
        events
            .iter()
            .filter(|(e, _)| e.revision > since)
            .map(|(e, _)| Arc::clone(e))
            .collect(),
    )
}

/// 16 hex digits from the clock, the process id and the OS's random seed
/// of a `RandomState`: unique per start, even for two processes with the
/// same id started in the same instant (containers).
fn instance_id() -> String {
    use sha2::{Digest, Sha256};
    use std::hash::{BuildHasher, Hasher};
    let mut h = Sha256::new();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(now.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    for _ in 0..2 {
        let mut seeded = std::collections::hash_map::RandomState::new().build_hasher();
        seeded.write_u64(0);
        h.update(seeded.finish().to_le_bytes());
    }
    let digest = h.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
