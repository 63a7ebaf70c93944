//! Stage `publish`: a revision leaves the engine here. One lock holds the
//! broadcast and the bounded resume history, so a client that attaches or
//! resumes neither misses nor repeats an event; the counts and the last
//! reload are kept beside them.
//!
//! May not: apply anything (the worker does) or write JSON (`api` does).

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::model::Settings;
use crate::units::ms;

use super::*;

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

/// The events a client may resume from, oldest first, bounded by count
/// (`history`) and by bytes (`history_bytes`): whichever is met first
/// drops the oldest. Each event is counted with what it does not share with
/// the one before (see `Event::bytes_beyond`).
pub(super) struct History {
    pub(super) events: VecDeque<(Arc<Event>, usize)>,
    pub(super) capacity: usize,
    pub(super) budget: usize,
    pub(super) bytes: usize,
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

impl Engine {
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

    /// Counts the reload, swaps the snapshot in, records the event and
    /// broadcasts it, all under the history lock (so `attach` sees either
    /// all of it or none). The counts come first: whoever sees the new
    /// revision (a frame, `/status`, `/metrics`) sees it counted.
    pub(super) fn publish(&self, outcome: &Outcome) {
        let event = &outcome.event;
        let ok = !event.failed();
        {
            let mut history = self.inner.history.lock();
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

    pub(super) fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.inner.stats.lock().counts);
    }

    /// New settings: new globs and timings for the watcher. (The applier
    /// already took files in or out by the new globs in the same revision.)
    pub(super) fn apply_settings(&self, settings: &Settings) {
        let Some(watch) = self.inner.watch.get() else {
            return;
        };
        if let Err(e) = watch.update(watch_settings(settings)) {
            tracing::warn!(error = %e, "the watcher did not take the new settings");
        }
    }
}

pub(super) fn events_after(
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
