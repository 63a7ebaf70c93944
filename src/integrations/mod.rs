//! Stage `integrations`: on an integration patch, rebuild that integration's
//! client, run its connection test, publish its status.
//!
//! ```text
//! client      one integration's prepared request on the shared reqwest pool; the test
//! redact      secrets out of every detail, excerpt and log line
//! shared      results shared between replicas (the stored row, the configuration's fingerprint)
//! status      IntegrationStatus / State / FailureKind (domain types)
//! supervisor  engine events -> reconcile -> one task per test, stale results dropped
//! ```
//!
//! [`Integrations`] is the cheap, cloneable handle the API holds: current
//! statuses, a broadcast of every status, a manual test. This stage reads
//! the engine (snapshots, events) and never writes to it, never blocks it,
//! and defines no wire shapes: `api/` turns statuses into JSON.
//!
//! A deleted configuration file publishes one `removed` status; the
//! integration then leaves [`Integrations::statuses`] (and
//! [`Integrations::status`] answers `None`), like it leaves the snapshot.

pub mod client;
pub mod redact;
mod shared;
pub mod status;
mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::model::IntegrationKind;
use crate::store::replica::Replica;

pub use client::{ClientError, DEFAULT_RETRY, IntegrationClient, Resolver, USER_AGENT};
pub use status::{FailureKind, IntegrationStatus, State, TestStep};
pub use supervisor::STATUS_CAPACITY;

use supervisor::Shared;

/// Why a manual test could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrationError {
    #[error("the {0} integration is not configured; add {file}", file = .0.config_file())]
    NotConfigured(IntegrationKind),
    #[error("the integration supervisor has stopped")]
    Stopped,
}

/// The supervisor's clock: what a minute of `retest_minutes` is, how long a
/// `429` without `Retry-After` holds requests back, and the cooldown within
/// which saving the same settings again does not test again. The defaults
/// are the documented ones; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub minute: Duration,
    pub default_retry: Duration,
    pub cooldown: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            minute: Duration::from_secs(60),
            default_retry: DEFAULT_RETRY,
            cooldown: COOLDOWN,
        }
    }
}

/// Saving settings that test the same as the last test within this long of
/// its end does not test again.
pub const COOLDOWN: Duration = Duration::from_secs(10);

/// The handle on the integration supervisor. Cheap to clone.
#[derive(Clone)]
pub struct Integrations {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Integrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integrations")
            .field("statuses", &self.statuses())
            .finish()
    }
}

impl Integrations {
    /// Builds the shared HTTP client, configures and starts testing every
    /// integration of the current snapshot (so [`Self::statuses`] is
    /// complete on return), and gives back the supervisor task that follows
    /// the engine until `shutdown`. Call it within a Tokio runtime.
    pub fn start(
        engine: Engine,
        resolver: Option<client::Resolver>,
        timing: Timing,
        shutdown: CancellationToken,
    ) -> (Integrations, impl Future<Output = ()> + Send + 'static) {
        Integrations::start_replicated(engine, resolver, timing, shutdown, None)
    }

    /// [`Self::start`] as one of several replicas sharing results through
    /// `replica` (`None`: alone). Only the elected replica tests by itself;
    /// the others show the results it records.
    pub fn start_replicated(
        engine: Engine,
        resolver: Option<client::Resolver>,
        timing: Timing,
        shutdown: CancellationToken,
        replica: Option<Replica>,
    ) -> (Integrations, impl Future<Output = ()> + Send + 'static) {
        let http = client::http_client(resolver)
            .map_err(|e| crate::secret::mask_url_secrets(&e.to_string()));
        if let Err(e) = &http {
            tracing::error!(
                "the HTTP client for integration tests could not be built: {e}; every enabled integration reports it"
            );
        }
        // Subscribe before reading the snapshot: no event can fall between.
        let events = engine.subscribe();
        let notices = replica.as_ref().map(Replica::subscribe_tests);
        let shared = Arc::new(Shared::new(engine, http, shutdown, timing, replica));
        shared.reconcile(&shared.engine.snapshot(), IntegrationKind::ALL);
        let task = supervisor::run(Arc::clone(&shared), events, notices);
        (Integrations { shared }, task)
    }

    /// The current status of every configured integration, by kind.
    pub fn statuses(&self) -> Vec<IntegrationStatus> {
        self.shared
            .slots
            .lock()
            .by_kind
            .values()
            .map(|slot| slot.status.clone())
            .collect()
    }

    /// The current status of one integration; `None` when it is not
    /// configured. What a workflow step naming `kind` shows.
    pub fn status(&self, kind: IntegrationKind) -> Option<IntegrationStatus> {
        self.shared
            .slots
            .lock()
            .by_kind
            .get(&kind)
            .map(|slot| slot.status.clone())
    }

    /// Every status published from now on (`testing`, then the result).
    /// A lagging receiver should read [`Self::statuses`] again.
    pub fn subscribe(&self) -> broadcast::Receiver<IntegrationStatus> {
        self.shared.tx.subscribe()
    }

    /// The client in force for `kind`: `None` when the integration is not
    /// configured, disabled, or its configuration cannot make a client. A
    /// caller keeps the `Arc` for the length of its requests; a new
    /// configuration swaps in a new client without disturbing them.
    pub fn client(&self, kind: IntegrationKind) -> Option<Arc<IntegrationClient>> {
        self.shared.client(kind)
    }

    /// Tests `kind` now with the configuration in force and waits for the
    /// result (at most about `timeout_ms` per step). A running test of
    /// `kind` is superseded. A disabled integration, or one whose
    /// configuration cannot make a client, answers its current status
    /// without testing; a rate-limited one answers `rate_limited` with the
    /// time to wait, and sends nothing. If a new configuration arrives
    /// meanwhile, the answer is the status in force then (`testing` the new
    /// configuration); subscribe to follow it.
    pub async fn test_now(
        &self,
        kind: IntegrationKind,
    ) -> Result<IntegrationStatus, IntegrationError> {
        if self.shared.shutdown.is_cancelled() {
            return Err(IntegrationError::Stopped);
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut guard = self.shared.slots.lock();
            let slots = &mut *guard;
            let hold = slots.hold(kind).cloned();
            let slot = slots
                .by_kind
                .get_mut(&kind)
                .ok_or(IntegrationError::NotConfigured(kind))?;
            let client = match self.shared.client(kind) {
                Some(client) if slot.served.value.enabled => client,
                _ => return Ok(slot.status.clone()),
            };
            if let Some(hold) = hold {
                return Ok(hold.status(slot.served.revision, slot.status.tested_at));
            }
            self.shared.start_test(slot, client, Some(tx));
        }
        match rx.await {
            Ok(status) => Ok(status),
            Err(_) if self.shared.shutdown.is_cancelled() => Err(IntegrationError::Stopped),
            Err(_) => self
                .status(kind)
                .ok_or(IntegrationError::NotConfigured(kind)),
        }
    }
}
