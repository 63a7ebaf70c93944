//! watch stage: the task that turns raw notify events into batches.
//!
//! Classifies each event (git metadata, config file, new directory, rescan),
//! feeds the debouncer, and sends a batch when the debouncer lets it go. It
//! may list directories and check whether git's lock files exist, but never
//! reads a file's contents.

use std::collections::{BTreeSet, HashSet};
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use std::time::Instant;

use notify::EventKind;
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::debounce::{DebounceSettings, Debouncer, Hint};
use super::source::{Events, Layout, Source, describe, needs_polling};
use super::status::{Control, GitWait, SLOW_HOLD, WatchHandle, WatchStatus};
use super::timer::PreciseTimer;
use super::{Batch, Claim, Early, PERIODIC_RESCAN, RescanReason, WatchConfig, WatchError};
use crate::load::fs;
use crate::load::paths::{PathFilter, in_tree};

pub(crate) fn spawn(
    config: WatchConfig,
    tx: mpsc::Sender<Batch>,
    shutdown: CancellationToken,
    force_poll: bool,
) -> Result<WatchHandle, WatchError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| WatchError::NoRuntime)?;
    // Canonical paths, so the paths in events strip cleanly against them.
    let root = config
        .root
        .canonicalize()
        .map_err(|source| WatchError::Root {
            path: config.root.clone(),
            source,
        })?;
    let canonical = |d: PathBuf| d.canonicalize().unwrap_or(d);
    let layout = Layout {
        root,
        git_dir: config.git_dir.map(canonical),
        common_dir: config.common_dir.map(canonical),
    };
    let filter = PathFilter::new(&config.watch, &config.ignore)?;
    let timings = DebounceSettings {
        debounce: config.debounce,
        max_wait: config.max_wait,
        hold_max: config.hold_max,
        complete_write: config.complete_write,
    };
    let timer = PreciseTimer::start()
        .map_err(|e| WatchError::Notify(format!("cannot start the timer thread: {e}")))?;
    let (source, events, fallback) = Source::start(layout, force_poll)?;
    let status = Arc::new(Mutex::new(WatchStatus {
        backend: source.backend(),
        healthy: true,
        last_error: fallback.clone(),
        fallback,
        ..WatchStatus::default()
    }));
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let root = source.layout().root.clone();
    let dirs: HashSet<PathBuf> = fs::walk(&root).dirs.iter().map(|d| root.join(d)).collect();
    let driver = Driver {
        source,
        filter,
        debouncer: Debouncer::new(timings),
        status: status.clone(),
        new_dirs: BTreeSet::new(),
        dirs,
        early: None,
        opened: HashSet::new(),
    };
    runtime.spawn(driver.run(events, timer, control_rx, tx, shutdown));
    Ok(WatchHandle {
        status,
        control: control_tx,
        hold_max: config.hold_max,
    })
}

struct Driver {
    source: Source,
    filter: PathFilter,
    debouncer: Debouncer,
    status: Arc<Mutex<WatchStatus>>,
    /// Directories created during the pending batch, listed when it is sent
    /// (by then their watches exist, so nothing falls between list and watch).
    new_dirs: BTreeSet<PathBuf>,
    /// The directories known under the watched trees: a directory renamed
    /// away takes its files with it unreported, and only this tells that the
    /// name that went was a directory.
    dirs: HashSet<PathBuf>,
    /// The claim on the batch sent early (see [`Early`]), until its window
    /// passes or a hint settles it.
    early: Option<Arc<Claim>>,
    /// Matching files opened since their last write. A close of one of
    /// them closed a descriptor that wrote nothing (another process
    /// opening and closing the file while its writer is still at work):
    /// not a complete write. Readers' opens stay here until the next
    /// write (notify reports no close of a reader), so at most one entry
    /// per file; emptied when events were lost.
    opened: HashSet<String>,
}

/// What an event says happened to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Appeared,
    /// Renamed into place: a whole file (or a directory, or a symlink).
    MovedIn,
    /// A descriptor open for writing was closed.
    Closed,
    /// Its content was written (or truncated).
    Written,
    /// Its metadata changed (or an event said only "something").
    Changed,
    Removed,
    /// Renamed away: if it was a directory, the files in it left unreported.
    MovedAway,
}

impl Driver {
    async fn run(
        mut self,
        mut events: Events,
        mut timer: PreciseTimer,
        mut control: mpsc::UnboundedReceiver<Control>,
        tx: mpsc::Sender<Batch>,
        shutdown: CancellationToken,
    ) {
        let start = tokio::time::Instant::now() + PERIODIC_RESCAN;
        let mut periodic = tokio::time::interval_at(start, PERIODIC_RESCAN);
        periodic.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // tokio's timer would end a 1 ms window 1-2 ms later, on its
            // next millisecond tick; this one ends it on time.
            // While a copy is out early, only a hint (which settles it)
            // or the engine declining it matters: the engine publishes it
            // once its window has passed.
            timer.set(match self.early {
                Some(_) => None,
                None => self.debouncer.deadline(),
            });
            let out = self.early.clone();
            let declined = async {
                match &out {
                    Some(claim) => claim.declined().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = declined => self.on_declined(),
                _ = shutdown.cancelled() => break,
                _ = tx.closed() => break,
                event = events.rx.recv() => {
                    let Some(event) = event else { break };
                    self.on_event(Instant::now(), event);
                    while let Ok(event) = events.rx.try_recv() {
                        self.on_event(Instant::now(), event);
                    }
                    if events.overflowed.swap(false, Ordering::SeqCst) {
                        self.opened.clear();
                        self.hint(Instant::now(), Hint::Rescan(RescanReason::Overflow));
                    }
                }
                () = timer.fired() => {
                    if let Some(batch) = self.fire(Instant::now()) {
                        // A slow consumer stalls this loop (the raw queue then
                        // overflows into a rescan), but never shutdown.
                        tokio::select! {
                            sent = tx.send(batch) => if sent.is_err() { break },
                            _ = shutdown.cancelled() => break,
                        }
                    }
                }
                _ = periodic.tick() => {
                    self.hint(Instant::now(), Hint::Rescan(RescanReason::Periodic));
                }
                Some(message) = control.recv() => match message {
                    Control::Settings(filter, timings) => {
                        self.settle_early();
                        self.filter = filter;
                        self.debouncer.set_settings(timings);
                    }
                    Control::Rescan(reason) => {
                        self.hint(Instant::now(), Hint::Rescan(reason));
                    }
                },
            }
        }
    }

    /// Feeds a hint to the debouncer, settling an early batch first.
    fn hint(&mut self, now: Instant, hint: Hint) {
        self.settle_early();
        self.debouncer.event(now, hint);
    }

    /// Something is about to join the pending batch: if a copy of it went
    /// early, withdraw that copy (the batch stays pending and grows), or,
    /// if the engine already took it, forget the batch here, so what comes
    /// next starts a new one.
    fn settle_early(&mut self) {
        if let Some(claim) = self.early.take() {
            if !claim.withdraw() {
                self.debouncer.drop_pending();
            } else if claim.is_declined() {
                self.debouncer.quiet_period();
            }
        }
    }

    /// The engine declined the copy that went early (a file in it grew by
    /// an append): the batch, still pending, waits the quiet period.
    fn on_declined(&mut self) {
        if self.early.take_if(|claim| claim.is_declined()).is_some() {
            self.debouncer.quiet_period();
        }
    }

    /// Sends a copy of the pending batch early when only complete writes
    /// are in it and no hint came for `EARLY_GAP`: the engine applies it
    /// during the window and publishes it when the window ends, unless a
    /// hint withdraws it first.
    fn send_early(&mut self, now: Instant) -> Option<Batch> {
        if self.early.is_some() || !self.new_dirs.is_empty() {
            return None;
        }
        let (mut batch, not_before, closed) = self.debouncer.early(now)?;
        let claim = Arc::new(Claim::default());
        batch.early = Some(Early {
            not_before,
            claim: Arc::clone(&claim),
            closed,
        });
        self.early = Some(claim);
        self.status.lock().batches += 1;
        Some(batch)
    }

    /// The deadline passed: check git, and send the batch unless held.
    fn fire(&mut self, now: Instant) -> Option<Batch> {
        if self.early.is_some() {
            // Out early (the timer is off meanwhile): the engine publishes
            // it once the window has passed and its work is done; until it
            // takes it, a hint still withdraws it and the batch grows.
            return None;
        }
        let busy = self.git_busy();
        self.debouncer.set_hold(now, busy.is_some());
        self.note_hold(now, busy.as_deref());
        if let Some(batch) = self.send_early(now) {
            return Some(batch);
        }
        let mut batch = self.debouncer.take(now)?;
        if let Some(held) = busy {
            // Taken although git still looks busy: the hold ran out.
            tracing::warn!(
                "`{held}` looked stale: it held the batch for {} s; applying it",
                self.debouncer.settings().hold_max.as_secs()
            );
            self.status.lock().waiting_for_git = None;
        }
        let root = self.source.layout().root.clone();
        for dir in mem::take(&mut self.new_dirs) {
            let Some(rel) = dir.strip_prefix(&root).ok().and_then(to_slash) else {
                continue;
            };
            let found = fs::walk_below(&root, &rel);
            self.dirs.extend(found.dirs.iter().map(|d| root.join(d)));
            batch
                .paths
                .extend(found.files.into_iter().filter(|f| self.filter.matches(f)));
        }
        if batch.is_empty() {
            return None;
        }
        let mut status = self.status.lock();
        status.batches += 1;
        if batch.rescan.is_some() {
            status.rescans += 1;
        }
        Some(batch)
    }

    /// A lock or an operation in progress: git is still writing. Names
    /// the first one found, from the repository root (`.git/index.lock`).
    fn git_busy(&self) -> Option<String> {
        let layout = self.source.layout();
        let git_dir = layout.git_dir.as_ref()?;
        let found = GIT_BUSY
            .iter()
            .map(|name| git_dir.join(name))
            .find(|path| path.symlink_metadata().is_ok())?;
        let shown = found.strip_prefix(&layout.root).unwrap_or(&found);
        Some(shown.display().to_string())
    }

    /// While a batch is held for git longer than `SLOW_HOLD`, the status
    /// says so, and the log says it once per hold.
    fn note_hold(&mut self, now: Instant, busy: Option<&str>) {
        let wait = match (busy, self.debouncer.held_since()) {
            (Some(held), Some(since)) if now.duration_since(since) >= SLOW_HOLD => Some(GitWait {
                lock: held.to_string(),
                since,
            }),
            _ => None,
        };
        let mut status = self.status.lock();
        if let Some(wait) = &wait
            && status.waiting_for_git.is_none()
        {
            tracing::warn!("{}; the batch is held until it goes", wait.describe());
        }
        status.waiting_for_git = wait;
    }

    fn on_event(&mut self, now: Instant, event: notify::Result<notify::Event>) {
        self.status.lock().events += 1;
        let event = match event {
            Ok(event) => event,
            Err(e) => return self.on_error(now, e),
        };
        // Before any filtering: a rescan flag may come on an event with no
        // path, or one the filter would drop.
        if event.need_rescan() {
            self.opened.clear();
            self.hint(now, Hint::Rescan(RescanReason::Overflow));
        }
        let seen = match event.kind {
            EventKind::Access(AccessKind::Open(_)) => {
                // Our own reads (and git's) open files too: an open is not
                // a change, only what the next close means.
                for path in &event.paths {
                    self.on_open(path);
                }
                return;
            }
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Seen::Closed,
            EventKind::Access(_) | EventKind::Other => return,
            EventKind::Create(_) => Seen::Appeared,
            EventKind::Remove(_) => Seen::Removed,
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Seen::MovedAway,
            EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Seen::MovedIn,
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                // inotify also reports the two halves on their own; other
                // backends may report only this one: from, then to.
                let mut paths = event.paths.iter();
                if let Some(from) = paths.next() {
                    self.on_path(now, from, Seen::MovedAway);
                }
                for to in paths {
                    self.on_path(now, to, Seen::MovedIn);
                }
                return;
            }
            EventKind::Modify(ModifyKind::Name(_)) => {
                for path in &event.paths {
                    let seen = if path.symlink_metadata().is_ok() {
                        Seen::Appeared
                    } else {
                        Seen::MovedAway
                    };
                    self.on_path(now, path, seen);
                }
                return;
            }
            EventKind::Modify(ModifyKind::Metadata(_)) => Seen::Changed,
            EventKind::Modify(_) | EventKind::Any => Seen::Written,
        };
        for path in &event.paths {
            self.on_path(now, path, seen);
        }
    }

    fn on_error(&mut self, now: Instant, e: notify::Error) {
        let message = describe(&e);
        if vanished(&e) {
            // A watched folder went (the poll watcher says so before the
            // event for its parent arrives): look again, nothing is broken.
            tracing::debug!(error = %message, "a watched folder vanished");
            self.hint(now, Hint::Rescan(RescanReason::NewDirectory));
            return;
        }
        tracing::warn!(error = %message, backend = self.source.backend(), "file watcher error");
        {
            let mut status = self.status.lock();
            status.last_error = Some(message.clone());
        }
        if needs_polling(&e) && self.source.backend() != "poll" {
            let result = self.source.fall_back_to_polling();
            let mut status = self.status.lock();
            match result {
                Ok(()) => {
                    tracing::warn!(reason = %message, "falling back to polling every 500 ms");
                    status.backend = self.source.backend();
                    status.fallback = Some(message.clone());
                }
                Err(err) => {
                    status.healthy = false;
                    status.last_error = Some(err.to_string());
                }
            }
        }
        self.hint(now, Hint::Rescan(RescanReason::WatcherError(message)));
    }

    /// A file was opened: remember it if it is one the batch would take.
    /// O(1), and never a hint: opens come from every reader.
    fn on_open(&mut self, path: &Path) {
        let Some(rel) = path
            .strip_prefix(&self.source.layout().root)
            .ok()
            .and_then(to_slash)
        else {
            return;
        };
        if in_tree(&rel) && self.filter.matches(&rel) {
            self.opened.insert(rel);
        }
    }

    fn on_path(&mut self, now: Instant, path: &Path, seen: Seen) {
        if self.is_git_busy_name(path) {
            // The hold starts from the lock's own event, not from the next
            // look at the disk: the files git writes next are already queued
            // behind it. Its going is checked on disk, as another may remain.
            let busy = match seen {
                Seen::Removed | Seen::MovedAway => self.git_busy().is_some(),
                _ => true,
            };
            self.settle_early();
            self.debouncer.set_hold(now, busy);
        }
        match self.git_path(path) {
            GitPath::Hint(hint) => return self.hint(now, hint),
            GitPath::Quiet => return,
            GitPath::NotGit => {}
        }
        let layout = self.source.layout();
        let Ok(rel) = path.strip_prefix(&layout.root) else {
            return;
        };
        let Some(rel) = to_slash(rel) else {
            return;
        };
        if rel.is_empty() {
            if matches!(seen, Seen::Removed | Seen::MovedAway) {
                let mut status = self.status.lock();
                status.healthy = false;
                status.last_error = Some("the repository root was removed or moved".to_string());
            }
            return;
        }
        if !in_tree(&rel) {
            return;
        }
        // A close with no write since the file's last open: that
        // descriptor wrote nothing, and the one that writes may still be
        // at work.
        let wrote_nothing = match seen {
            Seen::Changed => false,
            Seen::Closed => self.opened.remove(&rel),
            _ => {
                self.opened.remove(&rel);
                false
            }
        };
        let top_level = fs::ROOTS.contains(&rel.as_str());
        match seen {
            Seen::Appeared | Seen::MovedIn if path.is_symlink() => self.symlink_swapped(now, path),
            Seen::Appeared | Seen::MovedIn if path.is_dir() => {
                if let Err(e) = self.source.watch_below(&rel) {
                    return self.on_error(now, e);
                }
                self.dirs.insert(path.to_path_buf());
                self.new_dirs.insert(path.to_path_buf());
                // A root that appears may replace a file of that name (or
                // come back empty): what was served from it must go now,
                // not at the next periodic rescan.
                let hint = if top_level {
                    Hint::Rescan(RescanReason::NewDirectory)
                } else {
                    Hint::Activity
                };
                self.hint(now, hint);
            }
            Seen::Removed | Seen::MovedAway if self.dirs.contains(path) => {
                self.source.unwatch_below(path);
                self.dirs.retain(|d| !d.starts_with(path));
                self.new_dirs.retain(|d| !d.starts_with(path));
                // A removed directory was empty (its files were reported one
                // by one); one moved away took its files along unreported.
                if seen == Seen::MovedAway || top_level {
                    self.hint(now, Hint::Rescan(RescanReason::NewDirectory));
                } else {
                    self.hint(now, Hint::Activity);
                }
            }
            // An empty file closed is more likely a truncate before a write
            // than a save: it waits the quiet period like a bare modify.
            Seen::Closed
                if !wrote_nothing
                    && self.filter.matches(&rel)
                    && path.metadata().is_ok_and(|m| m.is_file() && m.len() > 0) =>
            {
                self.hint(now, Hint::Closed(rel));
            }
            Seen::MovedIn
                if self.filter.matches(&rel)
                    && path.metadata().is_ok_and(|m| m.is_file() && m.len() > 0) =>
            {
                self.hint(now, Hint::Complete(rel));
            }
            _ if self.filter.matches(&rel) => self.hint(now, Hint::Path(rel)),
            _ => {}
        }
    }

    /// A symlink appeared (Kubernetes swaps `..data` by renaming a new link
    /// over it): the files that resolve through it changed with no event of
    /// their own, so every matching symlink beside it is a candidate.
    fn symlink_swapped(&mut self, now: Instant, link: &Path) {
        let root = &self.source.layout().root;
        let Some(parent) = link.parent() else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(parent) else {
            return;
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_symlink()) {
                continue;
            }
            let path = entry.path();
            if let Some(rel) = path.strip_prefix(root).ok().and_then(to_slash)
                && self.filter.matches(&rel)
            {
                found.push(rel);
            }
        }
        self.hint(now, Hint::Activity);
        for rel in found {
            self.hint(now, Hint::Path(rel));
        }
    }

    /// One of the [`GIT_BUSY`] names in the git dir.
    fn is_git_busy_name(&self, path: &Path) -> bool {
        let Some(git_dir) = &self.source.layout().git_dir else {
            return false;
        };
        path.parent() == Some(git_dir.as_path())
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| GIT_BUSY.contains(&n))
    }

    /// Whether the path is git's, and the hint it gives if it is.
    fn git_path(&self, path: &Path) -> GitPath {
        let layout = self.source.layout();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(git_dir) = &layout.git_dir
            && (path == git_dir || path.parent() == Some(git_dir))
        {
            return match name {
                "HEAD" | "index" | "ORIG_HEAD" | "packed-refs" => GitPath::Hint(Hint::Git),
                "index.lock" | "HEAD.lock" | "ORIG_HEAD.lock" | "packed-refs.lock"
                | "MERGE_HEAD" | "rebase-merge" | "rebase-apply" => GitPath::Hint(Hint::Wake),
                _ => GitPath::Quiet,
            };
        }
        if let Some(common) = &layout.common_dir
            && (path == common || path.parent() == Some(common))
        {
            return match name {
                "packed-refs" => GitPath::Hint(Hint::Git),
                "packed-refs.lock" => GitPath::Hint(Hint::Wake),
                _ => GitPath::Quiet,
            };
        }
        if let Some(heads) = layout.refs_heads()
            && path.starts_with(&heads)
        {
            return GitPath::Hint(if name.ends_with(".lock") {
                Hint::Wake
            } else {
                Hint::Git
            });
        }
        let in_git = |d: &Option<PathBuf>| d.as_ref().is_some_and(|d| path.starts_with(d));
        if in_git(&layout.git_dir) || in_git(&layout.common_dir) {
            return GitPath::Quiet;
        }
        GitPath::NotGit
    }
}

/// What a path means to the watcher as far as git goes.
enum GitPath {
    /// git's, and it says git changed something (or is about to).
    Hint(Hint),
    /// git's, and of no interest (objects, logs, other refs).
    Quiet,
    /// Not in the git dir or the common dir: a working-tree path.
    NotGit,
}

/// In the git dir while git is writing the working tree: a batch is held
/// while one of these exists.
const GIT_BUSY: [&str; 5] = [
    "index.lock",
    "HEAD.lock",
    "rebase-merge",
    "rebase-apply",
    "MERGE_HEAD",
];

/// A relative path with `/` separators; `None` if it is not UTF-8.
fn to_slash(rel: &Path) -> Option<String> {
    let mut out = String::new();
    for part in rel.components() {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(part.as_os_str().to_str()?);
    }
    Some(out)
}

/// A path not found: a folder that went between two looks.
fn vanished(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::PathNotFound => true,
        notify::ErrorKind::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}
