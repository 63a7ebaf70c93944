//! watch stage: what the watcher hands the engine. A [`Batch`] of hints,
//! and for a batch sent before its window ended, the [`Early`] copy and the
//! [`Claim`] that decides whether the engine or the watcher has it.
//!
//! May not: read files or know what they mean (a batch only names paths).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

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
