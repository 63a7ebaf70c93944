//! Stage `api`: the HTTP routes of docs/protocol.md, their handlers and
//! [`routes`], which wires them, the page and `/metrics` into one `Router`
//! (`api::router` adds the stream, the OpenAPI document, the fallbacks and
//! the guards).
//!
//! ```text
//! mod       the paths, the router, the page and the fallbacks
//! reload    status, a manual reload, the events a client missed
//! catalog   workflows and integrations in force, a connection test by hand
//! runs      trial runs: start, list, read, complete, finish, discard, compare
//! meta      /healthz, /readyz, /metrics
//! ```
//!
//! Handlers read the snapshot in force (never waiting for a reload), ask the
//! engine for a manual reload, or touch the run store; they turn domain
//! values into `wire` types and every refusal into an [`ApiError`]. They do
//! no file or git I/O and hold no lock across an `.await`.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::routing::{get, post};

use super::error::{ApiError, ErrorCode};
use super::state::AppState;

pub const STATUS: &str = "/api/v1/dev/hot-reload/status";
pub const RELOAD: &str = "/api/v1/dev/hot-reload/reload";
pub const EVENTS: &str = "/api/v1/dev/hot-reload/events";
pub const STREAM: &str = "/ws/hot-reload";
pub const WORKFLOWS: &str = "/api/v1/workflows";
pub const WORKFLOW: &str = "/api/v1/workflows/{id}";
pub const INTEGRATIONS: &str = "/api/v1/integrations";
pub const TEST_INTEGRATION: &str = "/api/v1/integrations/{id}/test";
pub const START_RUN: &str = "/api/v1/workflows/{id}/runs";
pub const RUNS: &str = "/api/v1/runs";
pub const RUN: &str = "/api/v1/runs/{id}";
pub const COMPLETE_STEP: &str = "/api/v1/runs/{id}/steps/{step}/complete";
pub const FINISH_RUN: &str = "/api/v1/runs/{id}/finish";
pub const COMPARE_RUN: &str = "/api/v1/runs/{id}/compare";
pub const OPENAPI: &str = "/api/openapi.json";
pub const METRICS: &str = "/metrics";
pub const HOOK: &str = "/api/v1/hooks/git";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";

mod catalog;
mod meta;
mod reload;
mod runs;

pub use catalog::*;
pub use meta::*;
pub use reload::*;
pub use runs::*;

/// The page, its files, the HTTP API and `/metrics`, unguarded and without
/// fallbacks (`api::router` adds them).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .merge(super::page::assets())
        .route(STATUS, get(status))
        .route(RELOAD, post(reload))
        .route(EVENTS, get(events))
        .route(WORKFLOWS, get(workflows))
        .route(WORKFLOW, get(workflow))
        .route(INTEGRATIONS, get(integrations))
        .route(TEST_INTEGRATION, post(test_integration))
        .route(START_RUN, post(start_run))
        .route(RUNS, get(runs))
        .route(RUN, get(run).delete(discard_run))
        .route(COMPLETE_STEP, post(complete_step))
        .route(FINISH_RUN, post(finish_run))
        .route(COMPARE_RUN, get(compare_run))
        .route(METRICS, get(metrics_text))
        .route(
            HOOK,
            post(super::hooks::git).layer(DefaultBodyLimit::max(super::hooks::BODY_LIMIT)),
        )
        .route(HEALTHZ, get(healthz))
        .route(READYZ, get(readyz))
}

/// `GET /`: the page (embedded in the binary; see `page`).
#[utoipa::path(get, path = "/", tag = "page",
    responses((status = 200, description = "the live page", content_type = "text/html")))]
pub async fn page() -> Response {
    super::page::index()
}

/// Any path no route answers.
pub async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        "no such route; see /api/openapi.json for the routes this server answers",
    )
}

/// A routed path asked with a method it does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method; see /api/openapi.json",
    )
}
