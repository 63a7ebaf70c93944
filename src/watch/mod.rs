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
//! debounce  pure state machine: quiet period, max-wait cap, hold during git ops
//! driver    the tokio task tying them together; periodic reconciliation
//! status    the handle: health, counts, runtime settings
//! timer     the debouncer's deadlines, kept to the microsecond on a thread of its own
//! ```

mod debounce;
mod driver;
mod source;
mod status;
mod timer;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::load::paths::{DEFAULT_WATCH, GlobError};

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

/// Everything that happened on disk between two reloads, as hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Config files that may have changed (created, written, renamed,
    /// removed): repo-relative, `/` separators, matching the watch globs.
    pub paths: BTreeSet<String>,
    /// git's HEAD, index, ORIG_HEAD, packed-refs or a branch ref was touched.
    pub git_changed: bool,
    /// Set when events may have been lost: the consumer must compare the
    /// whole tree with what it last applied.
    pub rescan: Option<RescanReason>,
    /// When the first event of the batch was seen (for `detect_ms`).
    pub first_event_at: Instant,
    /// Which of the debouncer's deadlines let the batch go.
    pub trigger: Trigger,
    /// Set when the batch went before its window ended; see [`Early`].
    pub early: Option<Early>,
}

/// A batch of complete writes sent as soon as its paths were whole, before
/// its coalescing window ends, so the engine's work overlaps the window.
///
/// The engine applies it at once but publishes only after `not_before`,
/// and only if it can [`Claim::take`] it first. A hint that joins the batch
/// before then makes the watcher [`Claim::withdraw`] it: the engine drops
/// what it applied, and the batch, grown, is sent again. One of the two
/// always wins, so the batch is published once or not at all. The engine
/// may also [`Claim::decline`] it when a file of `closed` merely grew (an
/// append): the batch then waits the quiet period in the watcher, and
/// goes once that has passed.
#[derive(Debug, Clone)]
pub struct Early {
    /// When the window ends: the earliest the engine may publish.
    pub not_before: Instant,
    pub claim: Arc<Claim>,
    /// The paths whose last hint was a close after writing (not a rename
    /// into place): whole unless the write was an append, which only their
    /// content tells.
    pub closed: BTreeSet<String>,
}

impl PartialEq for Early {
    fn eq(&self, other: &Self) -> bool {
        self.not_before == other.not_before && Arc::ptr_eq(&self.claim, &other.claim)
    }
}

impl Eq for Early {}

impl Early {
    /// Waits (on the calling thread) until the window ends, then claims the
    /// batch: `true` if it is the engine's to publish, `false` if the
    /// watcher withdrew it (or the engine declined it) meanwhile.
    pub fn wait_and_take(&self) -> bool {
        // A withdrawal is noticed within this, so the thread is free soon
        // for the batch that replaces this one.
        const SLICE: Duration = Duration::from_micros(250);
        loop {
            if self.claim.state() != OPEN {
                return false;
            }
            let now = Instant::now();
            if now >= self.not_before {
                return self.claim.take();
            }
            std::thread::sleep((self.not_before - now).min(SLICE));
        }
    }
}

/// Who has the last word on an early batch: the engine (take, or decline)
/// or the watcher (withdraw), whichever comes first.
#[derive(Debug, Default)]
pub struct Claim {
    state: AtomicU8,
    /// Wakes the watcher when the engine declines: its timer is off while
    /// a copy is out.
    declined: tokio::sync::Notify,
}

const OPEN: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;
const DECLINED: u8 = 3;

impl Claim {
    /// The engine publishes the batch: `false` if it was withdrawn.
    pub fn take(&self) -> bool {
        self.settle(TAKEN)
    }

    /// The watcher takes the batch back: `false` if the engine took it
    /// (the batch is the engine's; what comes next starts a new one).
    /// A declined batch is the watcher's again too.
    pub fn withdraw(&self) -> bool {
        self.settle(WITHDRAWN) || self.is_declined()
    }

    /// The engine hands the batch back to wait the quiet period (it found
    /// an append): `false` if the watcher withdrew it first.
    pub fn decline(&self) -> bool {
        let declined = self.settle(DECLINED);
        if declined {
            // A permit is kept if the watcher is not waiting right now.
            self.declined.notify_one();
        }
        declined
    }

    pub fn is_withdrawn(&self) -> bool {
        self.state() == WITHDRAWN
    }

    pub fn is_declined(&self) -> bool {
        self.state() == DECLINED
    }

    /// Returns once the engine has declined the batch.
    pub async fn declined(&self) {
        while !self.is_declined() {
            self.declined.notified().await;
        }
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    fn settle(&self, to: u8) -> bool {
        match self
            .state
            .compare_exchange(OPEN, to, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == to,
        }
    }
}

/// Which deadline let a batch go: what `/status` reports as the last
/// revision's trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The short window after a complete write (`complete_write_ms`).
    CompleteWrite,
    /// The quiet period after the last event (`debounce_ms`).
    QuietPeriod,
    /// The cap from the batch's first event (`max_wait_ms`) while events
    /// kept coming.
    MaxWait,
    /// A git hold that lasted its cap (the lock looked stale).
    HoldCap,
}

crate::named!(Trigger);

impl Batch {
    /// A batch that says nothing: no path, no git change, no rescan.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && !self.git_changed && self.rescan.is_none()
    }
}

/// Why a batch asks for a full comparison of the tree with the last applied
/// state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RescanReason {
    /// The OS event queue overflowed (or ours did): events were lost.
    Overflow,
    /// The watcher reported an error (the message says which); events may
    /// have been lost.
    WatcherError(String),
    /// A directory under a watched tree was moved away, or a watched tree
    /// appeared or vanished: the events cannot name every file concerned.
    NewDirectory,
    /// The every-30-seconds reconciliation, or one asked for by the handle.
    Periodic,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_early_batch_is_taken_or_withdrawn_never_both() {
        let claim = Claim::default();
        assert!(claim.take());
        assert!(!claim.withdraw(), "taken: the watcher must start anew");
        assert!(claim.take(), "taking twice is still taken");
        let claim = Claim::default();
        assert!(claim.withdraw());
        assert!(claim.is_withdrawn());
        assert!(!claim.take(), "withdrawn: the engine drops its copy");
    }

    #[test]
    fn a_declined_batch_is_the_watchers_again_and_never_published() {
        let early = Early {
            not_before: Instant::now() + Duration::from_secs(60),
            claim: Arc::default(),
            closed: BTreeSet::new(),
        };
        assert!(early.claim.decline());
        assert!(!early.wait_and_take(), "declined: not published");
        assert!(early.claim.withdraw(), "the batch stays the watcher's");
        let claim = Claim::default();
        assert!(claim.withdraw());
        assert!(!claim.decline(), "withdrawn first: nothing to decline");
    }

    #[test]
    fn the_engine_waits_for_the_window_then_takes_the_batch() {
        let not_before = Instant::now() + Duration::from_millis(3);
        let early = Early {
            not_before,
            claim: Arc::default(),
            closed: BTreeSet::new(),
        };
        assert!(early.wait_and_take());
        assert!(
            Instant::now() >= not_before,
            "published only after the window"
        );
        assert!(!early.claim.withdraw());
    }

    #[test]
    fn a_withdrawal_during_the_wait_wins() {
        let early = Early {
            not_before: Instant::now() + Duration::from_secs(60),
            claim: Arc::default(),
            closed: BTreeSet::new(),
        };
        let claim = Arc::clone(&early.claim);
        let watcher = std::thread::spawn(move || claim.withdraw());
        // Returns long before the 60 s window: the wait notices.
        assert!(!early.wait_and_take());
        assert!(watcher.join().expect("no panic"));
    }
}
