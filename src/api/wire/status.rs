//! Stage `api`: the status body (`/status`: the watcher, history, HTTP,
//! store, follow mode and replica), health, manual reloads and webhook answers.
//!
//! May not: do I/O or hold state (conversions only; see `wire`).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::conn::HttpStats;
use crate::engine::{CauseKind, Counts, LastReload, Status};
use crate::follow::{FollowStatus, Reach};
use crate::store::StoreInfo;
use crate::store::replica::{Replica, Role};
use crate::units::whole_ms;
use crate::watch::{Trigger, WatchStatus};

use super::*;

/// `serve --follow`: the remote followed and whether it answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowWire {
    /// The remote, credentials masked.
    pub remote: String,
    pub branch: String,
    pub poll_interval_s: u64,
    /// `unknown` before the first fetch ends, then `reachable` or
    /// `unreachable`.
    pub remote_state: Reach,
    /// RFC 3339: since when fetches fail (while `unreachable`).
    pub unreachable_since: Option<String>,
    /// The last fetch error, credentials masked.
    pub last_error: Option<String>,
    /// RFC 3339: the last fetch that reached the remote.
    pub last_fetch: Option<String>,
    pub fetches: u64,
    /// Failed fetches in a row (the retry waits 1 s, 2 s, 4 s… up to the
    /// poll interval).
    pub failures: u32,
    /// The commit served; `null` before the first one.
    pub commit: Option<CommitWire>,
    /// Whether `POST /api/v1/hooks/git` accepts signed webhooks (a secret
    /// is configured).
    pub webhooks: bool,
}

impl FollowWire {
    pub fn new(f: &FollowStatus, webhooks: bool) -> Self {
        FollowWire {
            remote: f.remote.clone(),
            branch: f.branch.clone(),
            poll_interval_s: f.poll.as_secs(),
            remote_state: f.reach,
            unreachable_since: f.unreachable_since.map(rfc3339),
            last_error: f.last_error.clone(),
            last_fetch: f.last_fetch.map(rfc3339),
            fetches: f.fetches,
            failures: f.failures,
            commit: f.commit.as_ref().map(CommitWire::from),
            webhooks,
        }
    }
}

/// The git host a webhook came from, told by its signature header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookProvider {
    Github,
    Gitea,
    Forgejo,
    Bitbucket,
    Gitlab,
}

crate::named!(HookProvider);

/// What a verified webhook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookResult {
    /// A fetch is queued (202).
    Queued,
    /// This delivery id was seen before: nothing fetched (200).
    Duplicate,
    /// A ping: nothing fetched (200).
    Pong,
}

/// `POST /api/v1/hooks/git`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HookWire {
    pub provider: HookProvider,
    pub result: HookResult,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthWire {
    /// `ok`, or for `/readyz` `not_ready`.
    pub status: String,
    /// What is not ready yet (empty when ready).
    pub waiting_for: Vec<String>,
}

/// `POST /api/v1/dev/hot-reload/reload`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadResult {
    /// Whether the rescan made a revision.
    pub changed: bool,
    /// The revision in force after the rescan.
    pub revision: u64,
    /// The event of the new revision; `None` when nothing changed.
    pub event: Option<EventWire>,
}

/// `GET /api/v1/dev/hot-reload/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusWire {
    pub revision: u64,
    /// This server run's id (also in every `hello`): revisions restart at
    /// 1 in every run, so a resume names the run its `since` came from.
    pub instance: String,
    /// RFC 3339, UTC: when the revision in force was made.
    pub at: String,
    pub root: String,
    /// Whether the folder is served as a git repository.
    pub git: bool,
    pub head: Option<HeadWire>,
    pub last_reload: Option<LastReloadWire>,
    pub watcher: Option<WatcherWire>,
    pub counts: CountsWire,
    /// The diagnostics in force: capped as in a reload frame, or every one
    /// with `?errors=all`.
    #[serde(skip_serializing_if = "ErrorsField::is_appended")]
    #[schema(value_type = Vec<ConfigErrorWire>, required = true)]
    pub errors: ErrorsField,
    pub errors_total: usize,
    pub errors_truncated: bool,
    /// `config/hot_reload.yaml` in force (or the defaults).
    #[schema(value_type = Object)]
    pub settings: Value,
    pub websocket_clients: u64,
    /// HTTP connections: open now, the limits, and how many the limits closed.
    pub http: HttpWire,
    /// Where runs are stored; `null` when this server keeps none.
    pub store: Option<StoreWire>,
    /// The resume history: what it holds and its bounds.
    pub history: HistoryWire,
    /// `serve --follow`: the remote, its state and the commit served;
    /// `null` when a working tree is served.
    pub follow: Option<FollowWire>,
    /// `serve --follow` with a PostgreSQL `--database`: this server as one
    /// of the replicas sharing it, and whether it is the one that runs
    /// connection tests; `null` otherwise (every server tests its own).
    pub replica: Option<ReplicaWire>,
    /// `serve --follow`: the commit of the revision in force (full hex
    /// id); absent when a working tree is served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// One replica of several `serve --follow` servers on one PostgreSQL
/// database (same remote and branch).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplicaWire {
    /// `leader`: this replica runs the connection tests and records their
    /// results; `follower`: it shows the results the leader records, and
    /// takes over if the leader stops.
    pub role: ReplicaRole,
    /// This server run (its `instance`), as the other replicas name it.
    pub id: String,
}

/// Whether a replica runs connection tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaRole {
    Leader,
    Follower,
}

impl From<&Replica> for ReplicaWire {
    fn from(r: &Replica) -> Self {
        ReplicaWire {
            role: match r.role() {
                Role::Leader => ReplicaRole::Leader,
                Role::Follower => ReplicaRole::Follower,
            },
            id: r.id().to_string(),
        }
    }
}

/// The resume history's use and bounds (`history`, `history_bytes`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryWire {
    pub events: usize,
    /// Roughly: patches, summaries and the diagnostics not shared.
    pub bytes: usize,
    pub max_events: usize,
    pub max_bytes: usize,
}

/// The connection layer's limits and counters.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HttpWire {
    /// Connections open now, WebSockets included.
    pub open_connections: u64,
    /// The cap (`--max-connections`); one more is answered 503.
    pub max_connections: u64,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Connections answered 503 because the cap was met.
    pub refused_over_cap: u64,
    /// Connections closed for not sending a request head in time.
    pub header_timeouts: u64,
    /// Keep-alive connections closed after being idle too long.
    pub idle_timeouts: u64,
    pub header_read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
}

impl From<&HttpStats> for HttpWire {
    fn from(h: &HttpStats) -> Self {
        HttpWire {
            open_connections: h.open,
            max_connections: h.max_connections,
            accepted: h.accepted,
            refused_over_cap: h.refused,
            header_timeouts: h.header_timeouts,
            idle_timeouts: h.idle_timeouts,
            header_read_timeout_ms: whole_ms(h.header_read_timeout),
            idle_timeout_ms: whole_ms(h.idle_timeout),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LastReloadWire {
    pub revision: u64,
    pub at: String,
    pub ok: bool,
    pub cause: CauseKind,
    pub summary: String,
    pub timings: TimingsWire,
    /// Which of the watcher's deadlines applied it: `complete_write` (a
    /// save, after `complete_write_ms`), `quiet_period` (`debounce_ms` after
    /// the last event), `max_wait` (events kept coming), `hold_cap` (a git
    /// lock held it to its cap); `null` for startup and manual reloads.
    pub trigger: Option<Trigger>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WatcherWire {
    /// `inotify`, `fsevents`, `poll`, ….
    pub backend: String,
    pub healthy: bool,
    /// Why the watcher fell back to polling, if it did.
    pub fallback: Option<String>,
    pub events: u64,
    pub batches: u64,
    pub rescans: u64,
    pub last_error: Option<String>,
    /// While a batch has been held for git more than 2 s: ``waiting for git
    /// (`.git/index.lock`, 3 s)``.
    pub waiting_for_git: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CountsWire {
    pub reloads: u64,
    pub failures: u64,
    pub noops: u64,
    pub rescans: u64,
}

/// Which store keeps the runs, and where.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreWire {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The SQLite file, or `postgres://user@host:port/db` (never a password).
    pub location: String,
}

impl From<&StoreInfo> for StoreWire {
    fn from(i: &StoreInfo) -> Self {
        StoreWire {
            backend: i.backend.to_string(),
            location: i.location.clone(),
        }
    }
}

impl StatusWire {
    /// The status; with [`ErrorsShown::All`], `errors` is left out of the
    /// serialised object for the route to append (see [`ErrorsField`]).
    pub fn new(
        status: &Status,
        instance: &str,
        websocket_clients: u64,
        http: &HttpStats,
        store: Option<&StoreInfo>,
        shown: ErrorsShown,
    ) -> Self {
        let s = &status.snapshot;
        let (errors, errors_total, errors_truncated) = match shown {
            ErrorsShown::Capped => {
                let (list, total, truncated) = errors(&s.errors, shown);
                (ErrorsField::List(list), total, truncated)
            }
            ErrorsShown::All => (ErrorsField::Appended, s.errors.len(), false),
        };
        StatusWire {
            revision: s.revision,
            instance: instance.to_owned(),
            at: rfc3339(s.at),
            root: status.root.display().to_string(),
            git: status.git,
            head: s.head.as_ref().map(HeadWire::from),
            last_reload: status.last.as_ref().map(LastReloadWire::from),
            watcher: status.watcher.as_ref().map(WatcherWire::from),
            counts: CountsWire::from(status.counts),
            errors,
            errors_total,
            errors_truncated,
            settings: to_value(&*s.settings),
            websocket_clients,
            http: HttpWire::from(http),
            store: store.map(StoreWire::from),
            history: HistoryWire {
                events: status.history.events,
                bytes: status.history.bytes,
                max_events: status.history.capacity,
                max_bytes: status.history.budget,
            },
            follow: None,
            replica: None,
            commit: None,
        }
    }
}

impl From<&LastReload> for LastReloadWire {
    fn from(l: &LastReload) -> Self {
        LastReloadWire {
            revision: l.revision,
            at: rfc3339(l.at),
            ok: l.ok,
            cause: l.cause,
            summary: l.summary.clone(),
            timings: TimingsWire::from(l.timings),
            trigger: l.timings.trigger,
        }
    }
}

impl From<&WatchStatus> for WatcherWire {
    fn from(w: &WatchStatus) -> Self {
        WatcherWire {
            backend: w.backend.to_owned(),
            healthy: w.healthy,
            fallback: w.fallback.clone(),
            events: w.events,
            batches: w.batches,
            rescans: w.rescans,
            last_error: w.last_error.clone(),
            waiting_for_git: w.waiting_for_git.as_ref().map(|g| g.describe()),
        }
    }
}

impl From<Counts> for CountsWire {
    fn from(c: Counts) -> Self {
        CountsWire {
            reloads: c.reloads,
            failures: c.failures,
            noops: c.noops,
            rescans: c.rescans,
        }
    }
}
