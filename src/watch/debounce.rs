//! watch stage: the debounce state machine that turns hints into batches.
//!
//! Pure: it is handed the time and never reads a clock, sleeps or touches the
//! filesystem (whether git is busy is told to it by `set_hold`). That is what
//! lets the tests drive it without sleeping.
//!
//! One batch collects every hint until a quiet period passes with no new
//! hint, but never longer than `max_wait` after its first hint — a global
//! timer, not one per path, so a `git checkout` touching many files is one
//! batch. While git is busy (a lock or a rebase/merge in progress) the batch is
//! held, whatever its age, for at most `hold_max`.
//!
//! A complete save — a writer closed the file after writing (`Closed`), or
//! a file was renamed into place (`Complete`) — does not wait for the quiet
//! period: the batch goes `complete_write` after the last such hint, so a
//! "save all" still lands in one batch. Only while every path of the batch
//! is complete, nothing else (git, a rescan, a new directory) is in it, and
//! it was never held: a bare modify, a create or a delete of any of its
//! paths falls back to the quiet period, and so does a batch released from
//! a git hold. A close is only whole if it was not an append, which only the
//! file's content tells: a batch with closes skips the quiet period only as
//! an early copy (whose content the engine checks; it declines an append,
//! and [`Debouncer::quiet_period`] sends the batch back to the quiet
//! period). The hold starts
//! from the moment the driver reports git busy (the lock's creation event),
//! even with no batch pending, so the files of a checkout that follow join a
//! held batch and never trigger the short window.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{Batch, RescanReason, Trigger};
use crate::model::Settings;

/// How long after a batch's last hint a copy of it may go early. A burst
/// (a "save all", `sed -i`) brings its next event sooner than this unless
/// its writer is paused, so a burst is not applied file by file while it is
/// still being written, competing with the writer for the CPU.
pub const EARLY_GAP: Duration = Duration::from_micros(100);

/// The most paths a batch may have to go early. A burst larger than this
/// (a script, a copy) gains little from it, and each file that joins would
/// otherwise withdraw a copy the engine may already be reading in full;
/// checked before any copy is made, so a growing burst is never cloned.
pub const EARLY_MAX_PATHS: usize = 32;

/// The timings the debouncer works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebounceSettings {
    /// Quiet period: the batch is ready once no hint arrived for this long.
    pub debounce: Duration,
    /// Cap from the first hint of a batch (or from the end of a hold).
    pub max_wait: Duration,
    /// Longest a batch is held while git is busy, so a stale lock cannot
    /// stop reloads for good.
    pub hold_max: Duration,
    /// Coalescing window after a complete write (close or rename into place).
    pub complete_write: Duration,
}

impl Default for DebounceSettings {
    fn default() -> Self {
        DebounceSettings {
            complete_write: Duration::from_secs_f64(Settings::COMPLETE_WRITE_MS / 1000.0),
            debounce: Duration::from_millis(Settings::DEBOUNCE_MS),
            max_wait: Duration::from_millis(Settings::MAX_WAIT_MS),
            hold_max: Duration::from_secs(10),
        }
    }
}

/// One hint from the filesystem, already filtered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// A file that matches the watch globs (repo-relative, `/` separators).
    Path(String),
    /// A matching file renamed into place: its contents are whole.
    Complete(String),
    /// A matching file whose writer closed it after writing: whole unless
    /// that write was an append (one `>>` of a script building the file),
    /// which the engine tells from the content of the early copy.
    Closed(String),
    /// One of git's HEAD, index, ORIG_HEAD, packed-refs or refs/heads changed.
    Git,
    /// Events can no longer be trusted to describe the disk.
    Rescan(RescanReason),
    /// Something is going on (a directory appeared, a lock came or went) but
    /// nothing to report yet: opens a batch if none is pending, resets the
    /// quiet period otherwise.
    Activity,
    /// Like `Activity`, but never opens a batch: git lock files coming and
    /// going only matter to a batch already under way.
    Wake,
}

#[derive(Debug, Clone)]
struct Pending {
    paths: BTreeSet<String>,
    git_changed: bool,
    rescan: Option<RescanReason>,
    first: Instant,
    last: Instant,
    /// When the batch was first held; the hold cap counts from here.
    held_since: Option<Instant>,
    held: bool,
    /// When busy-ness was last checked, for the recheck while held.
    checked: Instant,
    /// When the last hold ended: the `max_wait` cap restarts from here so
    /// the writes git makes right after dropping its lock (HEAD) still join.
    released_at: Option<Instant>,
    /// Paths whose last hint was not a complete write.
    incomplete: BTreeSet<String>,
    /// Paths whose last hint was a close after writing (see `Hint::Closed`).
    closed: BTreeSet<String>,
    /// The last complete-write hint.
    completed: Option<Instant>,
    /// Something other than paths joined, or the batch was held: only the
    /// quiet period ends it.
    slow: bool,
    /// A copy went early since the last hint.
    early_sent: bool,
}

impl Pending {
    fn into_batch(self, trigger: Trigger) -> Batch {
        Batch {
            paths: self.paths,
            git_changed: self.git_changed,
            rescan: self.rescan,
            first_event_at: self.first,
            trigger,
            early: None,
        }
    }

    /// When the short window after a complete write ends, if it applies.
    /// Closes skip the quiet period only as an early copy, whose content
    /// the engine checks for appends: a batch too large to go early waits
    /// the quiet period if it has any.
    fn complete_deadline(&self, window: Duration) -> Option<Instant> {
        if self.slow || self.held || !self.incomplete.is_empty() {
            return None;
        }
        if !self.closed.is_empty() && self.paths.len() > EARLY_MAX_PATHS {
            return None;
        }
        Some(self.completed? + window)
    }
}

/// The debounce state machine; see the module doc.
#[derive(Debug)]
pub struct Debouncer {
    settings: DebounceSettings,
    pending: Option<Pending>,
    /// Git is busy (told by `set_hold`), whether or not a batch is pending.
    busy: bool,
}

impl Debouncer {
    pub fn new(settings: DebounceSettings) -> Self {
        Debouncer {
            settings,
            pending: None,
            busy: false,
        }
    }

    pub fn settings(&self) -> DebounceSettings {
        self.settings
    }

    /// New timings apply to the pending batch too.
    pub fn set_settings(&mut self, settings: DebounceSettings) {
        self.settings = settings;
    }

    /// Whether a batch is being collected.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Records a hint seen at `now`; it resets the quiet period.
    pub fn event(&mut self, now: Instant, hint: Hint) {
        if self.pending.is_none() {
            if hint == Hint::Wake {
                return;
            }
            self.pending = Some(Pending {
                paths: BTreeSet::new(),
                git_changed: false,
                rescan: None,
                first: now,
                last: now,
                held_since: None,
                held: false,
                checked: now,
                released_at: None,
                incomplete: BTreeSet::new(),
                closed: BTreeSet::new(),
                completed: None,
                slow: false,
                early_sent: false,
            });
            if self.busy {
                self.set_hold(now, true);
            }
        }
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        p.last = p.last.max(now);
        p.early_sent = false;
        match hint {
            Hint::Path(path) => {
                p.closed.remove(&path);
                p.incomplete.insert(path.clone());
                p.paths.insert(path);
            }
            Hint::Complete(path) => {
                p.closed.remove(&path);
                p.incomplete.remove(&path);
                p.paths.insert(path);
                p.completed = Some(now.max(p.completed.unwrap_or(now)));
            }
            Hint::Closed(path) => {
                p.incomplete.remove(&path);
                p.closed.insert(path.clone());
                p.paths.insert(path);
                p.completed = Some(now.max(p.completed.unwrap_or(now)));
            }
            Hint::Git => {
                p.git_changed = true;
                p.slow = true;
            }
            Hint::Rescan(reason) => {
                p.rescan = Some(stronger(p.rescan.take(), reason));
                p.slow = true;
            }
            Hint::Activity => p.slow = true,
            Hint::Wake => {}
        }
    }

    /// Tells whether git is busy now (a lock, a rebase or merge in progress).
    /// The driver calls it when a lock appears or goes, and when the
    /// deadline passes, before `take`. A hold told with no batch pending
    /// holds the next batch from its first hint.
    pub fn set_hold(&mut self, now: Instant, busy: bool) {
        self.busy = busy;
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        p.checked = now;
        if busy {
            p.held_since.get_or_insert(now);
            p.held = true;
            p.slow = true;
        } else if p.held {
            p.held = false;
            p.released_at = Some(now);
        }
    }

    /// Since when the pending batch is held for git, while it is.
    pub fn held_since(&self) -> Option<Instant> {
        self.pending.as_ref().filter(|p| p.held)?.held_since
    }

    /// When the driver should next look at the batch: to emit it, or, while
    /// held, to check again whether git is still busy.
    pub fn deadline(&self) -> Option<Instant> {
        let batch = self.batch_deadline()?;
        Some(self.early_at().map_or(batch, |early| early.min(batch)))
    }

    /// When the pending batch goes (or, while held, is looked at again).
    fn batch_deadline(&self) -> Option<Instant> {
        let p = self.pending.as_ref()?;
        let s = &self.settings;
        if p.held {
            let cap = p.held_since.unwrap_or(p.first) + s.hold_max;
            let recheck = p.checked + s.debounce.max(Duration::from_millis(10));
            return Some(recheck.min(cap));
        }
        let cap_from = p.released_at.unwrap_or(p.first);
        let quiet = (p.last + s.debounce).min(cap_from + s.max_wait);
        Some(match p.complete_deadline(s.complete_write) {
            Some(complete) => complete.min(quiet),
            None => quiet,
        })
    }

    /// The batch, if its deadline has passed and it is not held (or its hold
    /// ran out).
    pub fn take(&mut self, now: Instant) -> Option<Batch> {
        let deadline = self.batch_deadline()?;
        if now < deadline {
            return None;
        }
        let p = self.pending.as_ref()?;
        let s = &self.settings;
        let trigger = if p.held {
            let cap = p.held_since.unwrap_or(p.first) + s.hold_max;
            if now < cap {
                return None;
            }
            Trigger::HoldCap
        } else if p.complete_deadline(s.complete_write) == Some(deadline) {
            Trigger::CompleteWrite
        } else if p.last + s.debounce <= deadline {
            Trigger::QuietPeriod
        } else {
            Trigger::MaxWait
        };
        Some(self.pending.take()?.into_batch(trigger))
    }

    /// When a copy of the pending batch may go early: [`EARLY_GAP`] after
    /// its last hint, if what ends it is the window after complete writes
    /// (only complete writes in it, never held), it has at most
    /// [`EARLY_MAX_PATHS`] paths, and no copy went since.
    fn early_at(&self) -> Option<Instant> {
        let p = self.pending.as_ref()?;
        if p.early_sent || self.busy || p.paths.len() > EARLY_MAX_PATHS {
            return None;
        }
        let window = p.complete_deadline(self.settings.complete_write)?;
        if self.batch_deadline()? != window {
            return None;
        }
        Some((p.last + EARLY_GAP).min(window))
    }

    /// A copy of the pending batch, the end of its window and the paths
    /// in it that were closed (not renamed in), once
    /// [`Debouncer::early_at`] has passed; at most one per hint. The batch
    /// stays pending: the driver drops it once the engine took the copy,
    /// or lets it grow if a hint comes first.
    pub fn early(&mut self, now: Instant) -> Option<(Batch, Instant, BTreeSet<String>)> {
        if now < self.early_at()? {
            return None;
        }
        let window = self.batch_deadline()?;
        let p = self.pending.as_mut()?;
        p.early_sent = true;
        let closed = p.closed.clone();
        Some((p.clone().into_batch(Trigger::CompleteWrite), window, closed))
    }

    /// The engine declined the early copy (a file in it grew by an
    /// append): the pending batch waits the quiet period from its last
    /// hint, and keeps waiting it as it grows.
    pub fn quiet_period(&mut self) {
        if let Some(p) = self.pending.as_mut() {
            p.slow = true;
        }
    }

    /// Forgets the pending batch: it went early and the engine has it.
    pub fn drop_pending(&mut self) {
        self.pending = None;
    }
}

/// Of two reasons to rescan, the one that says most about lost events.
fn stronger(old: Option<RescanReason>, new: RescanReason) -> RescanReason {
    fn rank(r: &RescanReason) -> u8 {
        match r {
            RescanReason::Periodic => 0,
            RescanReason::NewDirectory => 1,
            RescanReason::Overflow => 2,
            RescanReason::WatcherError(_) => 3,
        }
    }
    match old {
        Some(old) if rank(&old) >= rank(&new) => old,
        _ => new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watcher_starts_from_the_settings_files_defaults() {
        let watcher = DebounceSettings::default();
        let settings = Settings::default();
        assert_eq!(watcher.debounce.as_millis() as u64, settings.debounce_ms);
        assert_eq!(watcher.max_wait.as_millis() as u64, settings.max_wait_ms);
        assert_eq!(
            watcher.complete_write.as_secs_f64() * 1000.0,
            settings.complete_write_ms
        );
    }

    const MS: Duration = Duration::from_millis(1);

    /// The default timings, with a 2 ms complete-write window (the tests'
    /// times are written for it).
    fn debouncer() -> (Debouncer, Instant) {
        let settings = DebounceSettings {
            complete_write: 2 * MS,
            ..DebounceSettings::default()
        };
        (Debouncer::new(settings), Instant::now())
    }

    fn path(p: &str) -> Hint {
        Hint::Path(p.to_string())
    }

    #[test]
    fn nothing_pending_means_no_deadline() {
        let (mut d, t0) = debouncer();
        assert_eq!(d.deadline(), None);
        assert!(d.take(t0 + 1000 * MS).is_none());
    }

    #[test]
    fn quiet_period_is_reset_by_each_event() {
        let (mut d, t0) = debouncer();
        d.event(t0, path("workflows/a.yaml"));
        assert_eq!(d.deadline(), Some(t0 + 50 * MS));
        d.event(t0 + 30 * MS, path("workflows/b.yaml"));
        assert_eq!(d.deadline(), Some(t0 + 80 * MS));
        assert!(d.take(t0 + 79 * MS).is_none());
        let batch = d.take(t0 + 80 * MS).expect("ready");
        assert_eq!(
            batch.paths.iter().map(String::as_str).collect::<Vec<_>>(),
            ["workflows/a.yaml", "workflows/b.yaml"]
        );
        assert_eq!(batch.first_event_at, t0);
        assert_eq!(batch.trigger, Trigger::QuietPeriod);
        assert!(!batch.git_changed);
        assert_eq!(batch.rescan, None);
        assert!(!d.is_pending());
    }

    #[test]
    fn max_wait_caps_a_busy_batch() {
        let (mut d, t0) = debouncer();
        for i in 0..20 {
            d.event(t0 + i * 20 * MS, path("workflows/a.yaml"));
        }
        // Events every 20 ms would never leave a 50 ms quiet gap.
        assert_eq!(d.deadline(), Some(t0 + 300 * MS));
        assert!(d.take(t0 + 299 * MS).is_none());
        let batch = d.take(t0 + 300 * MS).expect("ready");
        assert_eq!(batch.trigger, Trigger::MaxWait);
    }

    #[test]
    fn hold_while_git_is_busy_then_one_batch() {
        let (mut d, t0) = debouncer();
        d.event(t0, Hint::Git);
        d.set_hold(t0 + 50 * MS, true);
        assert!(d.take(t0 + 50 * MS).is_none());
        // Past max_wait, still held; files keep joining the same batch.
        for i in 0..10 {
            let now = t0 + (100 + i * 100) * MS;
            d.event(now, path(&format!("workflows/{i}.yaml")));
            let deadline = d.deadline().expect("pending");
            d.set_hold(deadline, true);
            assert!(d.take(deadline).is_none(), "held at {i}");
        }
        // The lock goes away: a quiet period later, one batch with everything.
        let t1 = t0 + 1200 * MS;
        d.event(t1, Hint::Wake);
        d.set_hold(t1, false);
        assert!(d.take(t1).is_none());
        d.event(t1 + 5 * MS, Hint::Git);
        assert_eq!(d.deadline(), Some(t1 + 55 * MS));
        let batch = d.take(t1 + 55 * MS).expect("released");
        assert!(batch.git_changed);
        assert_eq!(batch.paths.len(), 10);
        assert_eq!(batch.trigger, Trigger::QuietPeriod);
    }

    #[test]
    fn hold_is_capped_by_hold_max() {
        let (mut d, t0) = debouncer();
        d.event(t0, path("workflows/a.yaml"));
        d.set_hold(t0 + 50 * MS, true);
        let mut now = t0 + 50 * MS;
        let mut batch = None;
        while batch.is_none() {
            now = d.deadline().expect("pending");
            assert!(now <= t0 + 50 * MS + Duration::from_secs(10));
            d.set_hold(now, true);
            batch = d.take(now);
        }
        assert_eq!(now, t0 + 50 * MS + Duration::from_secs(10));
        assert_eq!(batch.expect("taken").trigger, Trigger::HoldCap);
    }

    #[test]
    fn rescan_passes_through_with_the_strongest_reason() {
        let (mut d, t0) = debouncer();
        d.event(t0, Hint::Rescan(RescanReason::Periodic));
        d.event(t0, Hint::Rescan(RescanReason::Overflow));
        d.event(t0, Hint::Rescan(RescanReason::NewDirectory));
        let batch = d.take(t0 + 50 * MS).expect("ready");
        assert_eq!(batch.rescan, Some(RescanReason::Overflow));
        assert!(batch.paths.is_empty());
    }

    #[test]
    fn wake_alone_opens_no_batch_but_activity_does() {
        let (mut d, t0) = debouncer();
        d.event(t0, Hint::Wake);
        assert!(!d.is_pending());
        d.event(t0, Hint::Activity);
        assert!(d.is_pending());
        d.event(t0 + 40 * MS, Hint::Wake);
        assert_eq!(d.deadline(), Some(t0 + 90 * MS));
    }

    #[test]
    fn new_settings_apply_to_the_pending_batch() {
        let (mut d, t0) = debouncer();
        d.event(t0, Hint::Git);
        d.set_settings(DebounceSettings {
            debounce: 10 * MS,
            ..d.settings()
        });
        assert_eq!(d.deadline(), Some(t0 + 10 * MS));
    }

    fn complete(p: &str) -> Hint {
        Hint::Complete(p.to_string())
    }

    #[test]
    fn a_complete_write_goes_after_the_short_window() {
        let (mut d, t0) = debouncer();
        d.event(t0, complete("workflows/a.yaml"));
        assert_eq!(d.batch_deadline(), Some(t0 + 2 * MS));
        assert!(d.take(t0 + MS).is_none());
        let batch = d.take(t0 + 2 * MS).expect("ready");
        assert_eq!(
            batch.paths.iter().map(String::as_str).collect::<Vec<_>>(),
            ["workflows/a.yaml"]
        );
        assert_eq!(batch.trigger, Trigger::CompleteWrite);
    }

    #[test]
    fn a_second_close_within_the_window_joins_the_batch() {
        let (mut d, t0) = debouncer();
        d.event(t0, complete("workflows/a.yaml"));
        d.event(t0 + MS, complete("workflows/b.yaml"));
        assert_eq!(d.batch_deadline(), Some(t0 + 3 * MS));
        assert!(d.take(t0 + 2 * MS).is_none());
        let batch = d.take(t0 + 3 * MS).expect("ready");
        assert_eq!(batch.paths.len(), 2);
        assert!(!d.is_pending());
    }

    #[test]
    fn a_bare_modify_waits_the_quiet_period_until_its_close() {
        let (mut d, t0) = debouncer();
        // Truncated: a bare modify, nothing whole yet.
        d.event(t0, path("workflows/a.yaml"));
        assert_eq!(d.deadline(), Some(t0 + 50 * MS));
        assert!(d.take(t0 + 2 * MS).is_none());
        // Another file closed meanwhile: `a` is still open, so still waiting.
        d.event(t0 + 10 * MS, complete("workflows/b.yaml"));
        assert_eq!(d.deadline(), Some(t0 + 60 * MS));
        // `a` closed: the short window applies to the whole batch.
        d.event(t0 + 20 * MS, complete("workflows/a.yaml"));
        assert_eq!(d.batch_deadline(), Some(t0 + 22 * MS));
        assert_eq!(d.take(t0 + 22 * MS).expect("ready").paths.len(), 2);
    }

    #[test]
    fn a_delete_or_git_change_keeps_the_quiet_period() {
        let (mut d, t0) = debouncer();
        d.event(t0, complete("workflows/a.yaml"));
        d.event(t0, Hint::Git);
        assert_eq!(d.deadline(), Some(t0 + 50 * MS));
        let (mut d, t0) = debouncer();
        d.event(t0, complete("workflows/a.yaml"));
        d.event(t0 + MS, path("workflows/gone.yaml"));
        assert_eq!(d.deadline(), Some(t0 + 51 * MS));
    }

    #[test]
    fn a_hold_told_before_any_batch_blocks_complete_writes() {
        let (mut d, t0) = debouncer();
        // The lock's creation event, with nothing pending yet.
        d.set_hold(t0, true);
        assert!(!d.is_pending());
        for i in 0..5 {
            d.event(t0 + i * MS, complete(&format!("workflows/{i}.yaml")));
        }
        assert!(d.held_since().is_some());
        let deadline = d.deadline().expect("pending");
        assert!(deadline >= t0 + 10 * MS, "a recheck, not the short window");
        assert!(d.take(t0 + 6 * MS).is_none());
        assert!(d.take(deadline).is_none(), "held while git is busy");
        // The lock went: the released batch waits a quiet period, so the
        // index and HEAD git writes next still join it.
        let t1 = t0 + 100 * MS;
        d.set_hold(t1, false);
        d.event(t1 + MS, complete("workflows/5.yaml"));
        assert_eq!(d.deadline(), Some(t1 + 51 * MS));
        d.event(t1 + 2 * MS, Hint::Git);
        let batch = d.take(t1 + 52 * MS).expect("released");
        assert_eq!(batch.paths.len(), 6);
        assert!(batch.git_changed);
        // Git no longer busy: the next save is fast again.
        d.event(t1 + 200 * MS, complete("workflows/0.yaml"));
        assert_eq!(d.batch_deadline(), Some(t1 + 202 * MS));
    }

    #[test]
    fn a_hold_told_during_the_window_blocks_it() {
        let (mut d, t0) = debouncer();
        d.event(t0, complete("workflows/a.yaml"));
        d.set_hold(t0 + MS, true);
        assert!(d.take(t0 + 2 * MS).is_none());
        assert!(d.deadline().expect("pending") > t0 + 2 * MS);
    }

    #[test]
    fn a_batch_of_complete_writes_goes_early_once_its_hints_pause() {
        let (mut d, t0) = debouncer();
        let gap = EARLY_GAP;
        assert!(d.early(t0).is_none(), "nothing pending");
        d.event(t0, complete("workflows/a.yaml"));
        // The timer wakes the driver for the early copy first.
        assert_eq!(d.deadline(), Some(t0 + gap));
        assert!(d.early(t0 + gap / 2).is_none(), "hints may still come");
        assert!(
            d.take(t0 + gap).is_none(),
            "the batch itself waits the window"
        );
        let (batch, not_before, _) = d.early(t0 + gap).expect("complete writes only");
        assert_eq!(not_before, t0 + 2 * MS);
        assert_eq!(batch.trigger, Trigger::CompleteWrite);
        assert!(batch.early.is_none(), "the driver attaches the claim");
        assert!(d.early(t0 + gap).is_none(), "one copy per hint");
        assert!(d.is_pending(), "the batch stays pending until dropped");
        assert_eq!(d.deadline(), Some(t0 + 2 * MS));
        // A bare modify joins: nothing goes early until its close.
        d.event(t0 + MS, path("workflows/b.yaml"));
        assert!(d.early(t0 + 3 * MS).is_none());
        d.event(t0 + 3 * MS, complete("workflows/b.yaml"));
        let (batch, not_before, _) = d.early(t0 + 3 * MS + gap).expect("whole again");
        assert_eq!(batch.paths.len(), 2);
        assert_eq!(not_before, t0 + 5 * MS);
        d.drop_pending();
        assert!(!d.is_pending());
        assert!(d.early(t0 + 10 * MS).is_none());
    }

    #[test]
    fn no_early_batch_while_git_is_busy_or_anything_else_joined() {
        let later = |t0: Instant| t0 + 10 * MS;
        let (mut d, t0) = debouncer();
        d.event(t0, complete("workflows/a.yaml"));
        d.event(t0, Hint::Git);
        assert!(
            d.early(later(t0)).is_none(),
            "git changed: the quiet period"
        );
        let (mut d, t0) = debouncer();
        d.set_hold(t0, true);
        d.event(t0, complete("workflows/a.yaml"));
        assert!(d.early(later(t0)).is_none(), "held");
        let (mut d, t0) = debouncer();
        d.event(t0, complete("workflows/a.yaml"));
        d.event(t0, Hint::Activity);
        assert!(
            d.early(later(t0)).is_none(),
            "a new folder: the quiet period"
        );
    }

    #[test]
    fn a_batch_of_more_than_early_max_paths_waits_its_window() {
        let (mut d, t0) = debouncer();
        for i in 0..=EARLY_MAX_PATHS {
            d.event(t0, complete(&format!("workflows/{i}.yaml")));
        }
        assert_eq!(d.deadline(), Some(t0 + 2 * MS), "no early wake-up");
        assert!(d.early(t0 + MS).is_none());
        let batch = d.take(t0 + 2 * MS).expect("at the window");
        assert_eq!(batch.paths.len(), EARLY_MAX_PATHS + 1);
        assert_eq!(batch.trigger, Trigger::CompleteWrite);
    }

    fn closed(p: &str) -> Hint {
        Hint::Closed(p.to_string())
    }

    #[test]
    fn a_close_goes_early_naming_itself_and_a_decline_waits_the_quiet_period() {
        let (mut d, t0) = debouncer();
        d.event(t0, closed("workflows/a.yaml"));
        d.event(t0, complete("workflows/b.yaml"));
        let (_, not_before, closes) = d.early(t0 + EARLY_GAP).expect("early");
        assert_eq!(not_before, t0 + 2 * MS);
        assert_eq!(
            closes.iter().map(String::as_str).collect::<Vec<_>>(),
            ["workflows/a.yaml"],
            "a rename into place is whole by itself"
        );
        // The engine found an append: the quiet period from the last hint,
        // and the batch stays slow while appends keep joining.
        d.quiet_period();
        assert_eq!(d.deadline(), Some(t0 + 50 * MS));
        d.event(t0 + 20 * MS, closed("workflows/a.yaml"));
        assert_eq!(d.deadline(), Some(t0 + 70 * MS));
        assert!(d.early(t0 + 30 * MS).is_none());
        let batch = d.take(t0 + 70 * MS).expect("after the quiet period");
        assert_eq!(batch.trigger, Trigger::QuietPeriod);
        assert_eq!(batch.paths.len(), 2);
    }

    #[test]
    fn closes_too_many_to_go_early_wait_the_quiet_period() {
        let (mut d, t0) = debouncer();
        for i in 0..=EARLY_MAX_PATHS {
            d.event(t0, closed(&format!("workflows/{i}.yaml")));
        }
        assert_eq!(d.deadline(), Some(t0 + 50 * MS));
        let batch = d.take(t0 + 50 * MS).expect("after the quiet period");
        assert_eq!(batch.trigger, Trigger::QuietPeriod);
    }
}
