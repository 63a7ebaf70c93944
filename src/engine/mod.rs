//! Stages `apply` and `publish`: the live reload engine.
//!
//! ```text
//! apply     Applier: a batch -> truth from disk -> at most one new Snapshot + Event
//! snapshot  the immutable state every reader sees (swapped whole, arc-swap)
//! diagnostics  the diagnostics in force, by file, shared between revisions
//! event     what one revision says: cause, timings, summary, patches, errors
//! worker    the one task applying batches and commands in order
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
mod publish;
pub mod snapshot;
mod worker;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::git::{CommitTree, GitError, GitRepo};
use crate::load::paths::GlobError;
use crate::metrics::Histogram;
use crate::watch::{WatchHandle, WatchStatus};

pub use apply::{Applier, ApplyError, Input, Outcome, Scope, SharedEnv, apply_caught};
pub use diagnostics::{Diagnostics, FileDiagnostics};
pub use event::{Cause, CauseKind, Event, Timings};
use publish::History;
pub use publish::{Attach, Backlog, HistoryUse, Next};
pub use snapshot::{Served, Snapshot};
pub use worker::{Worker, watch_settings};

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
