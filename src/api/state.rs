//! Stage `api`: [`AppState`], what every handler and WebSocket connection
//! shares: the engine handle, the guards, the shutdown signal, the client
//! count, the connection limits and counters, and the cache of serialised
//! frames and bodies.
//!
//! Plain handles, cheap to clone; nothing here holds a lock across an
//! `.await` or applies anything (the engine's worker does that).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::cache::SerialCache;
use super::conn::{Connections, HttpLimits};
use super::hooks::Webhooks;
use super::security::Security;
use crate::engine::{Engine, SharedEnv};
use crate::follow::Follow;
use crate::follow::resume::Resumes;
use crate::integrations::{IntegrationStatus, Integrations};
use crate::store::Runs;

/// What every route shares.
///
/// To extend: add a cheap handle as a field and set it in [`AppState::new`]
/// (or a `with_` builder).
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub security: Arc<Security>,
    /// Cancelled when the server stops: WebSocket clients get a close frame.
    pub shutdown: CancellationToken,
    pub ws: WsConfig,
    pub clients: Clients,
    /// The HTTP connection limits and their counters.
    pub connections: Arc<Connections>,
    /// Frames and bodies serialised once per revision and statuses.
    pub cache: Arc<SerialCache>,
    /// Connection statuses; `None` when no integrations supervisor runs
    /// (tests of the API alone).
    pub integrations: Option<Integrations>,
    /// The run store; `None` when runs are not served (tests of the API
    /// alone): run routes answer 503.
    pub runs: Option<Runs>,
    /// The follower (`serve --follow`); `None` when a working tree is
    /// served: webhooks answer 404.
    pub follow: Option<Follow>,
    /// Resumes from a commit (`since=<commit>`), with the follower.
    pub resumes: Option<Resumes>,
    /// The webhook secret and the deliveries seen.
    pub webhooks: Arc<Webhooks>,
}

impl AppState {
    pub fn new(engine: Engine, security: Security, shutdown: CancellationToken) -> Self {
        AppState {
            engine,
            security: Arc::new(security),
            shutdown,
            ws: WsConfig::default(),
            clients: Clients::default(),
            connections: Arc::new(Connections::default()),
            cache: Arc::new(SerialCache::default()),
            integrations: None,
            runs: None,
            follow: None,
            resumes: None,
            webhooks: Arc::new(Webhooks::new(None)),
        }
    }

    /// Serves runs from `runs`.
    pub fn with_runs(mut self, runs: Runs) -> Self {
        self.runs = Some(runs);
        self
    }

    /// Serves follow mode's status, takes its webhooks, names the commit
    /// served in every frame and answers resumes from a commit (reading
    /// `${VAR}` with `env`, as the engine does).
    pub fn with_follow(mut self, follow: Follow, env: SharedEnv) -> Self {
        self.cache.name_commits();
        self.resumes = Some(Resumes::new(follow.clone(), env));
        self.follow = Some(follow);
        self
    }

    /// `serve --follow`: the commit of the revision in force; `None` when a
    /// working tree is served (or before the first commit).
    pub fn commit_served(&self) -> Option<String> {
        self.follow.as_ref()?;
        self.engine.snapshot().head.as_ref()?.commit.clone()
    }

    /// The webhook secret; `None` (or blank) refuses every webhook.
    pub fn with_webhooks(mut self, secret: Option<&str>) -> Self {
        self.webhooks = Arc::new(Webhooks::new(secret));
        self
    }

    pub fn with_integrations(mut self, integrations: Integrations) -> Self {
        self.integrations = Some(integrations);
        self
    }

    /// Every integration's current connection status.
    pub fn statuses(&self) -> Vec<IntegrationStatus> {
        self.integrations
            .as_ref()
            .map(Integrations::statuses)
            .unwrap_or_default()
    }

    pub fn with_ws(mut self, ws: WsConfig) -> Self {
        self.ws = ws;
        self
    }

    /// Sets the connection limits (before the server starts: the counters
    /// start over).
    pub fn with_http_limits(mut self, limits: HttpLimits) -> Self {
        self.connections = Arc::new(Connections::new(limits));
        self
    }
}

/// WebSocket timings.
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    /// A ping is sent this often; a client that answered nothing since the
    /// previous ping is dead and dropped.
    pub ping_interval: Duration,
    /// A frame the client does not take within this time means the client is
    /// gone (a slow reader gets a snapshot, not a disconnect, well before).
    pub send_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            ping_interval: Duration::from_secs(15),
            send_timeout: Duration::from_secs(30),
        }
    }
}

/// The number of WebSocket clients connected now, observable (for metrics,
/// status and waiting for the last client to close at shutdown).
#[derive(Clone)]
pub struct Clients(Arc<watch::Sender<u64>>);

impl Default for Clients {
    fn default() -> Self {
        Clients(Arc::new(watch::Sender::new(0)))
    }
}

impl Clients {
    pub fn count(&self) -> u64 {
        *self.0.borrow()
    }

    /// Counts one client until the returned guard is dropped.
    pub fn connect(&self) -> ClientGuard {
        self.0.send_modify(|n| *n += 1);
        ClientGuard(Arc::clone(&self.0))
    }

    /// Waits until no client is connected.
    pub async fn wait_none(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close here.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// One connected client; uncounted when dropped.
pub struct ClientGuard(Arc<watch::Sender<u64>>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}
