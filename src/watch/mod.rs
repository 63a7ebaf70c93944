//! watch stage: filesystem events in, [`Batch`]es out.
//!
//! The first stage of the pipeline. It watches directories (never single
//! files, so rename-saves and recreated folders work), filters paths by name,
//! debounces, and holds a batch while git is busy so a checkout is one batch.
//! It may not read file contents, parse YAML, open git objects or know the
//! model: events are only hints, and the next stages decide from the disk
//! what actually changed.
//!
//! ```text
//! source    notify watcher (inotify, or polling as a fallback) -> raw events
//!           (`load::paths` decides by name: globs and editor temp files)
//! batch     what goes to the engine: `Batch`, its early copy and the claim on it
//! debounce  pure state machine: quiet period, max-wait cap, hold during git ops
//! driver    the tokio task tying them together; periodic reconciliation
//! status    the handle: health, counts, runtime settings
//! timer     the debouncer's deadlines, kept to the microsecond on a thread of its own
//! ```

mod batch;
mod debounce;
mod driver;
mod source;
mod status;
mod timer;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::load::paths::{DEFAULT_WATCH, GlobError};

pub use batch::{Batch, Claim, Early, RescanReason, Trigger};
pub use debounce::{DebounceSettings, Debouncer, Hint};
pub use source::POLL_INTERVAL;
pub use status::{GitWait, SLOW_HOLD, WatchHandle, WatchStatus};

/// How often a reconciliation batch (`rescan: Periodic`) is made, as a safety
/// net for events that no backend reported.
pub const PERIODIC_RESCAN: Duration = Duration::from_secs(30);

/// What to watch and how to debounce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    /// The repository's working tree.
    pub root: PathBuf,
    /// The git dir (`.git`, or `.git/worktrees/<name>` of a linked worktree);
    /// `None` when the folder is not a git repository.
    pub git_dir: Option<PathBuf>,
    /// The common dir holding `refs/` and `packed-refs`; `None` means the git
    /// dir.
    pub common_dir: Option<PathBuf>,
    /// Quiet period that ends a batch.
    pub debounce: Duration,
    /// Cap from the first event of a batch.
    pub max_wait: Duration,
    /// Window after a complete write (a close or a rename into place) that
    /// ends a batch of complete writes.
    pub complete_write: Duration,
    /// Globs of the files to report (empty: [`DEFAULT_WATCH`]).
    pub watch: Vec<String>,
    /// Globs of the files never to report.
    pub ignore: Vec<String>,
    /// Longest a batch is held while git is busy.
    pub hold_max: Duration,
}

impl WatchConfig {
    /// The defaults of `config/hot_reload.yaml`, for a folder without git.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let d = DebounceSettings::default();
        WatchConfig {
            root: root.into(),
            git_dir: None,
            common_dir: None,
            debounce: d.debounce,
            max_wait: d.max_wait,
            complete_write: d.complete_write,
            watch: DEFAULT_WATCH.iter().map(|g| g.to_string()).collect(),
            ignore: Vec::new(),
            hold_max: d.hold_max,
        }
    }
}

impl WatchConfig {
    /// Takes the globs and timings of `settings`.
    pub fn set(&mut self, settings: WatchSettings) {
        let WatchSettings {
            debounce,
            max_wait,
            complete_write,
            watch,
            ignore,
        } = settings;
        self.debounce = debounce;
        self.max_wait = max_wait;
        self.complete_write = complete_write;
        self.watch = watch;
        self.ignore = ignore;
    }
}

/// The part of the configuration that `config/hot_reload.yaml` can change
/// while running; see [`WatchHandle::update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSettings {
    pub debounce: Duration,
    pub max_wait: Duration,
    pub complete_write: Duration,
    pub watch: Vec<String>,
    pub ignore: Vec<String>,
}

/// What stops the watch stage from starting.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Glob(#[from] GlobError),
    #[error("cannot watch {}: {source}", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("file watcher failed: {0}")]
    Notify(String),
    #[error("the watch stage must be started inside a tokio runtime")]
    NoRuntime,
    #[error("the watch stage has stopped")]
    Stopped,
}

/// Starts watching: batches go to `tx` until `shutdown` is cancelled or the
/// receiver is dropped. Must be called inside a tokio runtime.
pub fn spawn(
    config: WatchConfig,
    tx: mpsc::Sender<Batch>,
    shutdown: CancellationToken,
) -> Result<WatchHandle, WatchError> {
    driver::spawn(config, tx, shutdown, false)
}

/// Like [`spawn`], but with the poll watcher from the start, as after a
/// fallback. For tests of the fallback path and for filesystems where native
/// events are known not to work.
pub fn spawn_polling(
    config: WatchConfig,
    tx: mpsc::Sender<Batch>,
    shutdown: CancellationToken,
) -> Result<WatchHandle, WatchError> {
    driver::spawn(config, tx, shutdown, true)
}
