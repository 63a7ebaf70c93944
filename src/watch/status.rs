//! watch stage: the handle the rest of the program holds on the watcher.
//!
//! Health and counts for the status API, and the way in for runtime settings.
//! It does no watching itself.

use std::sync::Arc;

use parking_lot::Mutex;

use tokio::sync::mpsc;

use super::debounce::DebounceSettings;
use super::{RescanReason, WatchError, WatchSettings};
use crate::load::paths::PathFilter;

/// A copy of the watcher's health, for the status API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WatchStatus {
    /// `inotify`, `fsevent`, `windows`, `kqueue` or `poll`.
    pub backend: &'static str,
    /// False once the watcher could not be kept working (its fallback failed
    /// too, or the repository root vanished).
    pub healthy: bool,
    /// Why the native watcher was given up for polling, if it was.
    pub fallback: Option<String>,
    /// Raw events received from the watcher.
    pub events: u64,
    /// Batches sent.
    pub batches: u64,
    /// Batches sent with `rescan` set.
    pub rescans: u64,
    /// The last watcher error, in words.
    pub last_error: Option<String>,
    /// Set while a batch has been held for git longer than
    /// [`SLOW_HOLD`]: which lock, and since when.
    pub waiting_for_git: Option<GitWait>,
}

/// A hold is reported (status, page, log) once it lasts this long.
pub const SLOW_HOLD: std::time::Duration = std::time::Duration::from_secs(2);

/// A batch waiting for git to finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitWait {
    /// The lock or marker that holds it, as a path from the repository root
    /// (`.git/index.lock`).
    pub lock: String,
    pub since: std::time::Instant,
}

impl GitWait {
    /// `waiting for git (`.git/index.lock`, 3 s)`
    pub fn describe(&self) -> String {
        format!(
            "waiting for git (`{}`, {} s)",
            self.lock,
            self.since.elapsed().as_secs()
        )
    }
}

/// Messages from the handle to the driver task.
pub(crate) enum Control {
    Settings(PathFilter, DebounceSettings),
    Rescan(RescanReason),
}

/// The running watch stage. Cheap to clone; dropping it does not stop the
/// watcher (cancel the shutdown token for that).
#[derive(Clone)]
pub struct WatchHandle {
    pub(crate) status: Arc<Mutex<WatchStatus>>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    pub(crate) hold_max: std::time::Duration,
}

impl WatchHandle {
    /// A copy of the current status.
    pub fn status(&self) -> WatchStatus {
        self.status.lock().clone()
    }

    pub fn backend(&self) -> &'static str {
        self.status.lock().backend
    }

    pub fn healthy(&self) -> bool {
        self.status.lock().healthy
    }

    /// New globs and timings, from the next event on (a pending batch gets
    /// the new timings too). Bad globs are refused here and change nothing.
    pub fn update(&self, settings: WatchSettings) -> Result<(), WatchError> {
        let filter = PathFilter::new(&settings.watch, &settings.ignore)?;
        let timings = DebounceSettings {
            debounce: settings.debounce,
            max_wait: settings.max_wait,
            hold_max: self.hold_max,
            complete_write: settings.complete_write,
        };
        self.control
            .send(Control::Settings(filter, timings))
            .map_err(|_| WatchError::Stopped)
    }

    /// Asks for a batch with `rescan` set, debounced like any event (a manual
    /// reload, or a test injecting an overflow).
    pub fn request_rescan(&self, reason: RescanReason) -> Result<(), WatchError> {
        self.control
            .send(Control::Rescan(reason))
            .map_err(|_| WatchError::Stopped)
    }
}
