//! Stage `integrations`: the supervisor. It follows the engine's events,
//! rebuilds the client of each integration whose configuration changed, and
//! runs its connection test as a task of its own.
//!
//! It never blocks the engine (it only reads snapshots and a broadcast) and
//! never waits for a test: a test is a spawned task with a deadline, and a
//! result is published only while its generation is still the current one,
//! so a newer configuration (or a manual test) silently wins over an older
//! test. No JSON, no HTTP routes.
//!
//! With replicas (`serve --follow` on one PostgreSQL), only the elected
//! replica tests by itself: a new configuration first looks for a result
//! another replica recorded for the same configuration, and the leader
//! tests only when there is none. Every result of a test is recorded; the
//! other replicas show it when the database tells them. A manual test runs
//! where it was asked for, and is recorded too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use arc_swap::ArcSwapOption;
use tokio::sync::{broadcast, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::diagnostic::EntityKind;
use crate::engine::{Engine, Event, Served, Snapshot};
use crate::integrations::Timing;
use crate::integrations::client::IntegrationClient;
use crate::integrations::shared::{fingerprint, from_shared, to_shared};
use crate::integrations::status::{FailureKind, IntegrationStatus, State};
use crate::model::{Integration, IntegrationKind};
use crate::store::replica::{Replica, Role, SharedResult, TestsNotice};
use crate::units::whole_ms;

/// Statuses a subscriber may fall behind by before it is told it lagged
/// (and should read [`super::Integrations::statuses`] again).
pub const STATUS_CAPACITY: usize = 256;

/// How long past its deadline a test may run before the supervisor gives
/// up on it (reqwest's own deadline should always fire first).
const GRACE: Duration = Duration::from_secs(2);

/// The state the handle and the supervisor share.
pub(super) struct Shared {
    pub(super) engine: Engine,
    /// The one HTTP client (and connection pool) every integration uses, or
    /// why it could not be built.
    http: Result<reqwest::Client, String>,
    /// The client in force per kind, swapped whole; a request in flight
    /// keeps the `Arc` of the client it started on.
    clients: [ArcSwapOption<IntegrationClient>; 3],
    pub(super) slots: Mutex<Slots>,
    pub(super) tx: broadcast::Sender<IntegrationStatus>,
    pub(super) shutdown: CancellationToken,
    timing: Timing,
    /// This process as one of several replicas sharing results; `None`
    /// when it tests alone.
    replica: Option<Replica>,
}

/// Every configured integration, and the rate limits in force (kept apart,
/// so deleting and re-adding a file does not lift one).
#[derive(Default)]
pub(super) struct Slots {
    pub(super) by_kind: BTreeMap<IntegrationKind, Slot>,
    holds: [Option<Hold>; 3],
}

/// A rate limit: nothing is sent to the service before `until`.
#[derive(Clone)]
pub(super) struct Hold {
    until: Instant,
    /// The `rate_limited` result that set it.
    status: IntegrationStatus,
}

impl Hold {
    fn active(&self) -> bool {
        Instant::now() < self.until
    }

    /// The hold as the status of `revision`, saying how long is left.
    pub(super) fn status(&self, revision: u64, tested_at: Option<SystemTime>) -> IntegrationStatus {
        let left = self.until.saturating_duration_since(Instant::now());
        let mut status = self.status.clone();
        status.revision = revision;
        status.tested_at = tested_at;
        status.at = SystemTime::now();
        let step = status
            .step
            .map_or(String::new(), |s| format!(" at step `{s}`"));
        let code = status
            .http_status
            .map_or(String::new(), |c| format!(" (HTTP {c})"));
        status.detail = Some(format!(
            "rate limited{step}{code}: no request for another {} s; the test runs by itself then",
            left.as_secs_f64().ceil() as u64
        ));
        status
    }
}

/// One configured integration.
pub(super) struct Slot {
    /// Grows with every configuration and every test started; a result or
    /// timer carrying another generation is stale and dropped.
    generation: u64,
    /// The configuration in force (the engine's last good version).
    pub(super) served: Arc<Served<Integration>>,
    pub(super) status: IntegrationStatus,
    running: Option<AbortHandle>,
    /// The next test by itself: the periodic re-test, or the end of a rate
    /// limit.
    timer: Option<AbortHandle>,
    /// When the last test that reached the service ended.
    tested: Option<(Instant, SystemTime)>,
}

impl Slot {
    /// Makes every running test and timer of this slot stale, and stops
    /// them.
    fn supersede(&mut self) -> u64 {
        self.generation += 1;
        if let Some(task) = self.running.take() {
            task.abort();
        }
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        self.generation
    }

    fn tested_at(&self) -> Option<SystemTime> {
        self.tested.map(|(_, at)| at)
    }
}

pub(super) fn index(kind: IntegrationKind) -> usize {
    match kind {
        IntegrationKind::Jira => 0,
        IntegrationKind::Postman => 1,
        IntegrationKind::Testmo => 2,
    }
}

impl Slots {
    /// The rate limit of `kind`, while it lasts.
    pub(super) fn hold(&self, kind: IntegrationKind) -> Option<&Hold> {
        self.holds[index(kind)].as_ref().filter(|h| h.active())
    }
}

impl Shared {
    pub(super) fn new(
        engine: Engine,
        http: Result<reqwest::Client, String>,
        shutdown: CancellationToken,
        timing: Timing,
        replica: Option<Replica>,
    ) -> Self {
        let (tx, _) = broadcast::channel(STATUS_CAPACITY);
        Shared {
            engine,
            http,
            clients: Default::default(),
            slots: Mutex::new(Slots::default()),
            tx,
            shutdown,
            timing,
            replica,
        }
    }

    /// Whether this process runs tests by itself: it is alone, or the
    /// replica elected to.
    fn tests_here(&self) -> bool {
        self.replica.as_ref().is_none_or(Replica::is_leader)
    }

    pub(super) fn client(&self, kind: IntegrationKind) -> Option<Arc<IntegrationClient>> {
        self.clients[index(kind)].load_full()
    }

    /// Brings `kinds` in line with `snapshot`: a new configuration gets a new
    /// client and a test; one that is gone is published as removed; one that
    /// is the same `Served` (unchanged, or its file is now invalid and the
    /// last good version stays) keeps its client and status.
    pub(super) fn reconcile(
        self: &Arc<Self>,
        snapshot: &Snapshot,
        kinds: impl IntoIterator<Item = IntegrationKind>,
    ) {
        let mut guard = self.slots.lock();
        let slots = &mut *guard;
        for kind in kinds {
            let current = slots
                .by_kind
                .get(&kind)
                .map(|slot| Arc::clone(&slot.served));
            match (snapshot.integrations.get(&kind), current) {
                (None, None) => {}
                (None, Some(_)) => {
                    if let Some(mut slot) = slots.by_kind.remove(&kind) {
                        slot.supersede();
                    }
                    self.clients[index(kind)].store(None);
                    let status = IntegrationStatus::new(kind, snapshot.revision, State::Removed);
                    tracing::info!(integration = %kind, revision = snapshot.revision, "integration removed");
                    let _ = self.tx.send(status);
                }
                (Some(served), Some(current)) if Arc::ptr_eq(served, &current) => {}
                (Some(served), _) => self.configure(slots, served),
            }
        }
    }

    /// A new configuration: supersede the old test, swap the client, test
    /// (or wait out a rate limit). The same settings saved again while
    /// their test runs, or within the cooldown of its end, change nothing.
    fn configure(self: &Arc<Self>, slots: &mut Slots, served: &Arc<Served<Integration>>) {
        let integration = &served.value;
        let kind = integration.id;
        let revision = served.revision;
        let hold = slots.hold(kind).cloned();
        let slot = slots.by_kind.entry(kind).or_insert_with(|| Slot {
            generation: 0,
            served: Arc::clone(served),
            status: IntegrationStatus::new(kind, revision, State::Testing),
            running: None,
            timer: None,
            tested: None,
        });
        let same = slot.served.value == *integration && slot.served.revision != revision;
        let recent = slot.running.is_some()
            || slot
                .tested
                .is_some_and(|(at, _)| at.elapsed() < self.timing.cooldown);
        if same && recent && integration.enabled {
            tracing::debug!(integration = %kind, revision, "same settings saved again; not testing again so soon");
            slot.served = Arc::clone(served);
            return;
        }
        slot.supersede();
        slot.served = Arc::clone(served);
        if !integration.enabled {
            self.clients[index(kind)].store(None);
            self.settle(
                slot,
                IntegrationStatus::new(kind, revision, State::Disabled),
            );
            return;
        }
        let built = match &self.http {
            Ok(http) => IntegrationClient::new(integration, http)
                .map(|c| c.with_default_retry(self.timing.default_retry))
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("the HTTP client could not be built: {e}")),
        };
        match built {
            Ok(client) => {
                let client = Arc::new(client);
                self.clients[index(kind)].store(Some(Arc::clone(&client)));
                match hold {
                    Some(hold) => {
                        let status = hold.status(revision, slot.tested_at());
                        self.publish(slot, status);
                        self.schedule(slot, hold.until);
                    }
                    None if self.replica.is_some() => self.look_up(slot),
                    None => self.start_test(slot, client, None),
                }
            }
            Err(why) => {
                self.clients[index(kind)].store(None);
                let mut status = IntegrationStatus::new(kind, revision, State::Failed);
                status.failure = Some(FailureKind::Config);
                status.detail = Some(format!("{}: {why}", kind.config_file()));
                self.settle(slot, status);
            }
        }
    }

    /// Publishes `testing` and spawns the test; its result is published
    /// (and sent to `reply`) only if nothing superseded it meanwhile.
    pub(super) fn start_test(
        self: &Arc<Self>,
        slot: &mut Slot,
        client: Arc<IntegrationClient>,
        reply: Option<oneshot::Sender<IntegrationStatus>>,
    ) {
        let generation = slot.supersede();
        let kind = client.kind();
        let revision = slot.served.revision;
        self.publish(slot, IntegrationStatus::new(kind, revision, State::Testing));
        let shared = Arc::clone(self);
        let shutdown = self.shutdown.clone();
        let task = tokio::spawn(async move {
            let deadline = client.deadline() + GRACE;
            let status = tokio::select! {
                () = shutdown.cancelled() => return,
                tested = tokio::time::timeout(deadline, client.test(revision)) => match tested {
                    Ok(status) => status,
                    Err(_) => {
                        let mut s = IntegrationStatus::new(kind, revision, State::Failed);
                        s.failure = Some(FailureKind::Timeout);
                        s.latency_ms = Some(whole_ms(deadline));
                        s.tested_at = Some(SystemTime::now());
                        s.detail = Some(format!(
                            "no answer from {} within {} ms; check that the service is up, or raise `timeout_ms`",
                            client.test_url(),
                            client.timeout().as_millis()
                        ));
                        s
                    }
                },
            };
            shared.finish(kind, generation, status, reply);
        });
        slot.running = Some(task.abort_handle());
    }

    /// A test's result: published if its generation is still current,
    /// dropped otherwise (a newer configuration or test owns the slot).
    /// Then the next test by itself is set: at the end of a rate limit, or
    /// `retest_minutes` on.
    fn finish(
        self: &Arc<Self>,
        kind: IntegrationKind,
        generation: u64,
        status: IntegrationStatus,
        reply: Option<oneshot::Sender<IntegrationStatus>>,
    ) {
        let mut guard = self.slots.lock();
        let slots = &mut *guard;
        let Some(slot) = slots.by_kind.get_mut(&kind) else {
            return;
        };
        if slot.generation != generation {
            tracing::debug!(integration = %kind, revision = status.revision, "dropping a superseded test result");
            return;
        }
        slot.running = None;
        if let Some(replica) = &self.replica {
            let commit = self
                .engine
                .snapshot()
                .head
                .as_ref()
                .and_then(|h| h.commit.clone());
            if let Some(row) = to_shared(&status, fingerprint(&slot.served), commit, replica.id()) {
                record(replica.clone(), row);
            }
        }
        self.settle(slot, status.clone());
        self.after_result(slots, kind, &status);
        if let Some(reply) = reply {
            let _ = reply.send(status);
        }
    }

    /// After a result (ours or another replica's) is shown: the time of
    /// the last test, the rate limit it sets, and (where tests run) the
    /// next test by itself.
    fn after_result(
        self: &Arc<Self>,
        slots: &mut Slots,
        kind: IntegrationKind,
        status: &IntegrationStatus,
    ) {
        let Some(slot) = slots.by_kind.get_mut(&kind) else {
            return;
        };
        if let Some(at) = status.tested_at {
            slot.tested = Some((instant_of(at), at));
        }
        let next = match status.retry_at {
            Some(retry_at) if status.status == State::RateLimited => {
                Some((instant_of(retry_at), true))
            }
            _ => {
                let minutes = u32::try_from(slot.served.value.retest_minutes).unwrap_or(u32::MAX);
                (minutes > 0).then(|| {
                    let every = self.timing.minute.saturating_mul(minutes);
                    let from = status.tested_at.map_or_else(Instant::now, instant_of);
                    (from + every, false)
                })
            }
        };
        if let Some((until, limited)) = next {
            if self.tests_here() {
                self.schedule(slot, until);
            }
            if limited {
                slots.holds[index(kind)] = Some(Hold {
                    until,
                    status: status.clone(),
                });
            }
        }
    }

    /// A new configuration with replicas: shows `testing` and looks for a
    /// result recorded for it; the leader tests when there is none.
    fn look_up(self: &Arc<Self>, slot: &mut Slot) {
        let generation = slot.supersede();
        let kind = slot.served.value.id;
        self.publish(
            slot,
            IntegrationStatus::new(kind, slot.served.revision, State::Testing),
        );
        self.fetch_shared(kind, Some(generation));
    }

    /// Reads the recorded result of `kind` and shows it if it is about the
    /// configuration in force and newer than what is shown. With
    /// `generation` (a look-up for a new configuration, or a take-over),
    /// the leader tests when nothing recorded fits.
    fn fetch_shared(self: &Arc<Self>, kind: IntegrationKind, generation: Option<u64>) {
        let Some(replica) = self.replica.clone() else {
            return;
        };
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            let read = tokio::task::spawn_blocking(move || replica.result(kind.as_str())).await;
            let found = match read {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    tracing::warn!(integration = %kind, error = %e, "cannot read the shared connection-test result");
                    None
                }
                Err(_) => return,
            };
            if !shared.shutdown.is_cancelled() {
                shared.shared_result(kind, generation, found);
            }
        });
    }

    fn shared_result(
        self: &Arc<Self>,
        kind: IntegrationKind,
        generation: Option<u64>,
        found: Option<SharedResult>,
    ) {
        let mut guard = self.slots.lock();
        let slots = &mut *guard;
        let Some(slot) = slots.by_kind.get_mut(&kind) else {
            return;
        };
        // A newer configuration, or a test of our own under way, wins.
        if generation.is_some_and(|g| g != slot.generation) || slot.running.is_some() {
            return;
        }
        // Disabled, or no client here (this replica's configuration cannot
        // make one): its own status stands.
        if !slot.served.value.enabled || self.client(kind).is_none() {
            return;
        }
        let fits = found
            .filter(|row| row.fingerprint == fingerprint(&slot.served))
            .and_then(|row| {
                from_shared(&row, kind, slot.served.revision).map(|status| (row.tested_by, status))
            });
        match fits {
            Some((by, status)) => {
                let shown = slot.status.status != State::Testing
                    && slot.status.tested_at >= status.tested_at;
                if shown {
                    return;
                }
                tracing::debug!(integration = %kind, replica = %by, "connection status {} from another replica's test", status.status);
                self.publish(slot, status.clone());
                self.after_result(slots, kind, &status);
            }
            None if generation.is_some() && self.tests_here() => {
                if let Some(client) = self.client(kind) {
                    self.start_test(slot, client, None);
                }
            }
            // The leader has not tested this configuration yet: its notice
            // will come.
            None => {}
        }
    }

    /// This replica was elected: what waited for another replica's test
    /// is looked up again (and tested when nothing fits), and the next
    /// test by itself of every other integration is set.
    fn take_over(self: &Arc<Self>) {
        let mut guard = self.slots.lock();
        let slots = &mut *guard;
        let mut waiting = Vec::new();
        let kinds: Vec<IntegrationKind> = slots.by_kind.keys().copied().collect();
        for kind in kinds {
            let hold = slots.hold(kind).map(|h| h.until);
            let Some(slot) = slots.by_kind.get_mut(&kind) else {
                continue;
            };
            if slot.running.is_some() || slot.timer.is_some() || !slot.served.value.enabled {
                continue;
            }
            if slot.status.status == State::Testing {
                waiting.push((kind, slot.generation));
            } else if let Some(until) = hold {
                self.schedule(slot, until);
            } else {
                let status = slot.status.clone();
                if status.tested_at.is_some() {
                    self.after_result(slots, kind, &status);
                }
            }
        }
        drop(guard);
        for (kind, generation) in waiting {
            self.fetch_shared(kind, Some(generation));
        }
    }

    /// This replica is no longer elected: its tests and timers stop (the
    /// new leader runs them), and what was being tested waits for its
    /// result.
    fn step_down(self: &Arc<Self>) {
        let mut waiting = Vec::new();
        for (kind, slot) in self.slots.lock().by_kind.iter_mut() {
            let testing = slot.running.is_some();
            if testing || slot.timer.is_some() {
                let generation = slot.supersede();
                if testing {
                    waiting.push((*kind, generation));
                }
            }
        }
        for (kind, generation) in waiting {
            self.fetch_shared(kind, Some(generation));
        }
    }

    /// What the database said about connection tests.
    fn notice(self: &Arc<Self>, notice: TestsNotice) {
        match notice {
            TestsNotice::Changed(kind) => {
                if let Ok(kind) = kind.parse() {
                    self.fetch_shared(kind, None);
                }
            }
            TestsNotice::Resync => self.resync(),
            TestsNotice::Role(Role::Leader) => self.take_over(),
            TestsNotice::Role(Role::Follower) => self.step_down(),
        }
    }

    /// Reads every configured integration's recorded result again.
    fn resync(self: &Arc<Self>) {
        let kinds: Vec<IntegrationKind> = self.slots.lock().by_kind.keys().copied().collect();
        for kind in kinds {
            self.fetch_shared(kind, None);
        }
    }

    /// Tests the slot's configuration at `at`, unless something supersedes
    /// the slot first.
    fn schedule(self: &Arc<Self>, slot: &mut Slot, at: Instant) {
        if let Some(timer) = slot.timer.take() {
            timer.abort();
        }
        let kind = slot.served.value.id;
        let generation = slot.generation;
        let shared = Arc::clone(self);
        let shutdown = self.shutdown.clone();
        let timer = tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep_until(at) => shared.due(kind, generation),
            }
        });
        slot.timer = Some(timer.abort_handle());
    }

    /// A timer is due: test again, with the client in force.
    fn due(self: &Arc<Self>, kind: IntegrationKind, generation: u64) {
        let mut guard = self.slots.lock();
        let slots = &mut *guard;
        if let Some(hold) = &slots.holds[index(kind)]
            && !hold.active()
        {
            slots.holds[index(kind)] = None;
        }
        let Some(slot) = slots.by_kind.get_mut(&kind) else {
            return;
        };
        if slot.generation != generation || slot.running.is_some() {
            return;
        }
        slot.timer = None;
        match self.client(kind) {
            Some(client) if slot.served.value.enabled => {
                tracing::debug!(integration = %kind, "testing again by itself");
                self.start_test(slot, client, None);
            }
            _ => {}
        }
    }

    /// Publishes a final status, and logs it.
    fn settle(&self, slot: &mut Slot, status: IntegrationStatus) {
        match status.status {
            State::Failed => tracing::warn!(
                integration = %status.id,
                revision = status.revision,
                step = status.step.map(|s| s.as_str()),
                failure = status.failure.map(FailureKind::as_str),
                http_status = status.http_status,
                latency_ms = status.latency_ms,
                "connection test failed: {}",
                status.detail.as_deref().unwrap_or("")
            ),
            State::RateLimited => tracing::warn!(
                integration = %status.id,
                revision = status.revision,
                step = status.step.map(|s| s.as_str()),
                http_status = status.http_status,
                "connection test rate limited: {}",
                status.detail.as_deref().unwrap_or("")
            ),
            _ => tracing::info!(
                integration = %status.id,
                revision = status.revision,
                latency_ms = status.latency_ms,
                "integration {}",
                status.status
            ),
        }
        self.publish(slot, status);
    }

    /// Records and broadcasts a status, under the slots lock so the order on
    /// the channel is the order of the records. A status reached without a
    /// request carries the time of the last test.
    fn publish(&self, slot: &mut Slot, mut status: IntegrationStatus) {
        if status.tested_at.is_none() {
            status.tested_at = slot.tested_at();
        }
        slot.status = status.clone();
        // No receiver is not an error: nobody is watching yet.
        let _ = self.tx.send(status);
    }

    fn abort_all(&self) {
        for slot in self.slots.lock().by_kind.values_mut() {
            slot.supersede();
        }
    }
}

/// Stores a result for the other replicas, off the async threads; a
/// failure is logged (the others keep what they show, and see the next
/// result).
fn record(replica: Replica, row: SharedResult) {
    tokio::task::spawn_blocking(move || {
        if let Err(e) = replica.record(&row) {
            tracing::warn!(integration = %row.integration, error = %e, "cannot share the connection-test result with the other replicas");
        }
    });
}

/// The monotonic instant as far before or after now as the wall-clock
/// time `at` is.
fn instant_of(at: SystemTime) -> Instant {
    let now = Instant::now();
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => now + ahead,
        Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
    }
}

/// The next notice of the replica group; never, when there is none.
async fn next_notice(
    notices: &mut Option<broadcast::Receiver<TestsNotice>>,
) -> Result<TestsNotice, broadcast::error::RecvError> {
    match notices {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The supervisor task: reconciles on every event that patches an
/// integration (and on everything after a lag), and follows the replica
/// group's notices, until `shutdown`.
pub(super) async fn run(
    shared: Arc<Shared>,
    mut events: broadcast::Receiver<Arc<Event>>,
    mut notices: Option<broadcast::Receiver<TestsNotice>>,
) {
    loop {
        let event = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            event = events.recv() => event,
            notice = next_notice(&mut notices) => {
                match notice {
                    Ok(notice) => shared.notice(notice),
                    Err(broadcast::error::RecvError::Lagged(_)) => shared.resync(),
                    Err(broadcast::error::RecvError::Closed) => notices = None,
                }
                continue;
            }
        };
        match event {
            Ok(event) => {
                let kinds: Vec<IntegrationKind> = event
                    .patches
                    .iter()
                    .filter(|p| p.kind == EntityKind::Integration)
                    .filter_map(|p| p.id.parse().ok())
                    .collect();
                if !kinds.is_empty() {
                    shared.reconcile(&shared.engine.snapshot(), kinds);
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "integrations fell behind the engine; checking every integration"
                );
                shared.reconcile(&shared.engine.snapshot(), IntegrationKind::ALL);
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    shared.abort_all();
}
