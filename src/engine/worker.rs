//! Stage `apply`: the one task that applies batches and commands, in
//! order, on a blocking thread, and hands each outcome to `publish`.
//!
//! May not: be shared (one worker per engine) or read the disk itself
//! (the applier does, through `load::fs`).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::model::Settings;
use crate::watch::{Batch, RescanReason, WatchSettings};

use super::*;

/// The task that applies batches; see [`Worker::run`].
pub struct Worker {
    pub(super) engine: Engine,
    pub(super) applier: Applier,
    pub(super) commands: mpsc::Receiver<Command>,
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

pub(super) async fn next_batch(batches: &mut Option<mpsc::Receiver<Batch>>) -> Option<Batch> {
    match batches {
        Some(rx) => rx.recv().await,
        None => None,
    }
}

pub(super) fn input_of(batch: &Batch) -> Input {
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
