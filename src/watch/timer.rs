//! watch stage: a deadline timer precise to tens of microseconds.
//!
//! tokio's timer counts in whole milliseconds and wakes on the tick after a
//! deadline, so a 1 ms wait lasts 1–2 ms, and the short window after a
//! complete save is most of a save's latency. This timer waits on one thread
//! of its own (`recv_timeout`, a futex wait with a nanosecond deadline), so
//! the window lasts what it says. Setting a new deadline replaces the old
//! one; the thread ends when the timer is dropped.

use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::Instant;

use tokio::sync::mpsc;

/// A one-deadline timer: [`set`](Self::set) it, then await [`fired`](Self::fired).
#[derive(Debug)]
pub(super) struct PreciseTimer {
    deadlines: std_mpsc::Sender<Option<(u64, Instant)>>,
    fired: mpsc::UnboundedReceiver<u64>,
    /// The deadline asked for last, and its number.
    current: Option<(u64, Instant)>,
    next_id: u64,
}

impl PreciseTimer {
    /// Starts the timer's thread.
    pub(super) fn start() -> std::io::Result<Self> {
        let (deadlines, rx) = std_mpsc::channel::<Option<(u64, Instant)>>();
        let (tx, fired) = mpsc::unbounded_channel();
        thread::Builder::new()
            .name("qa-reload-timer".into())
            .spawn(move || wait_loop(&rx, &tx))?;
        Ok(PreciseTimer {
            deadlines,
            fired,
            current: None,
            next_id: 0,
        })
    }

    /// Asks for a wake-up at `at` (or none), replacing the deadline asked
    /// for before. Asking for the same deadline again changes nothing.
    pub(super) fn set(&mut self, at: Option<Instant>) {
        if self.current.map(|(_, t)| t) == at {
            return;
        }
        self.current = at.map(|t| {
            self.next_id += 1;
            (self.next_id, t)
        });
        // The thread only ends when this sender is dropped.
        let _ = self.deadlines.send(self.current);
    }

    /// Resolves when the deadline set last has passed; pending while there
    /// is none. Cancel-safe: it may be dropped in a `select!` and awaited
    /// again.
    pub(super) async fn fired(&mut self) {
        loop {
            let Some((id, at)) = self.current else {
                return std::future::pending().await;
            };
            if at <= Instant::now() {
                self.current = None;
                return;
            }
            match self.fired.recv().await {
                Some(n) if n == id => {
                    self.current = None;
                    return;
                }
                // A wake-up for a deadline since replaced.
                Some(_) => {}
                None => return std::future::pending().await,
            }
        }
    }
}

fn wait_loop(rx: &std_mpsc::Receiver<Option<(u64, Instant)>>, tx: &mpsc::UnboundedSender<u64>) {
    let mut current: Option<(u64, Instant)> = None;
    loop {
        let next = match current {
            None => match rx.recv() {
                Ok(d) => d,
                Err(_) => return,
            },
            Some((id, at)) => {
                let left = at.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(d) => d,
                    Err(std_mpsc::RecvTimeoutError::Timeout) => {
                        if tx.send(id).is_err() {
                            return;
                        }
                        None
                    }
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        };
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn fires_once_for_the_last_deadline_set() {
        let mut timer = PreciseTimer::start().expect("the timer thread starts");
        let start = Instant::now();
        timer.set(Some(start + Duration::from_secs(3600)));
        timer.set(Some(start + Duration::from_millis(5)));
        tokio::time::timeout(Duration::from_secs(10), timer.fired())
            .await
            .expect("the replaced, sooner deadline fires");
        assert!(Instant::now() >= start + Duration::from_millis(5));
        // Nothing set: never fires.
        let idle = tokio::time::timeout(Duration::from_millis(50), timer.fired()).await;
        assert!(idle.is_err(), "a timer with no deadline fired");
    }

    #[tokio::test]
    async fn a_cleared_deadline_does_not_fire() {
        let mut timer = PreciseTimer::start().expect("the timer thread starts");
        timer.set(Some(Instant::now() + Duration::from_millis(2)));
        timer.set(None);
        let fired = tokio::time::timeout(Duration::from_millis(50), timer.fired()).await;
        assert!(fired.is_err(), "a cleared deadline fired");
    }
}
