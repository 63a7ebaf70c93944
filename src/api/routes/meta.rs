//! Stage `api`, routes for the machines around the server: liveness and
//! readiness probes, and `/metrics` in Prometheus text format.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::extract::Json;
use crate::api::state::AppState;
use crate::api::wire::HealthWire;
use crate::integrations::State as TestState;
use crate::metrics::{self, MetricsView};

/// The process answers (for a load balancer's liveness probe). Needs no
/// token.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "the process is alive", body = HealthWire)))]
pub async fn healthz() -> Json<HealthWire> {
    Json(HealthWire {
        status: "ok".to_owned(),
        waiting_for: Vec::new(),
    })
}

/// Ready to serve: in follow mode a commit is served, and the run store
/// (when runs are kept) answers a query. Needs no token.
#[utoipa::path(get, path = "/readyz", tag = "meta",
    responses(
        (status = 200, description = "ready", body = HealthWire),
        (status = 503, description = "not ready: `waiting_for` says what for (`commit`, `database`)", body = HealthWire),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut waiting_for = Vec::new();
    if state.follow.as_ref().is_some_and(|f| !f.ready()) {
        waiting_for.push("commit".to_owned());
    }
    if let Some(runs) = &state.runs
        && runs.reachable().await.is_err()
    {
        waiting_for.push("database".to_owned());
    }
    let (code, status) = if waiting_for.is_empty() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (
        code,
        Json(HealthWire {
            status: status.to_owned(),
            waiting_for,
        }),
    )
        .into_response()
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")))]
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    let status = state.engine.status();
    let last = status.last.as_ref();
    let http = state.connections.stats();
    let view = MetricsView {
        reloads_ok: status.counts.reloads - status.counts.failures,
        reloads_failed: status.counts.failures,
        last_reload_success: last.is_some_and(|l| l.ok),
        last_reload_timestamp_seconds: last
            .and_then(|l| l.at.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64()),
        reload_duration: status.reload_duration,
        noop_batches: status.counts.noops,
        rescans: status.counts.rescans,
        websocket_clients: state.clients.count(),
        http_connections: http.open,
        http_connections_max: http.max_connections,
        http_refused: http.refused,
        http_header_timeouts: http.header_timeouts,
        http_idle_timeouts: http.idle_timeouts,
        history_events: status.history.events as u64,
        history_bytes: status.history.bytes as u64,
        integrations_up: state
            .statuses()
            .iter()
            .map(|s| (s.id.as_str().to_owned(), s.status == TestState::Ok))
            .collect(),
    };
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(&view),
    )
        .into_response()
}
