//! Stage `api`, routes of what is in force: the workflows and the
//! integrations (with their connection state), and a connection test asked
//! for by hand. They read the snapshot; they never wait for a reload.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::runs::unknown_workflow;
use crate::api::error::{ApiError, ErrorBody, ErrorCode};
use crate::api::extract::{Json, Path};
use crate::api::state::AppState;
use crate::api::wire::{
    IntegrationList, IntegrationStatusWire, Statuses, WorkflowList, WorkflowWire,
};
use crate::diagnostic::shown_id;
use crate::integrations::IntegrationError;
use crate::model::IntegrationKind;

/// Every workflow in force, all of one revision.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows",
    responses((status = 200, body = WorkflowList)))]
pub async fn workflows(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        workflows_body(&state),
    )
        .into_response()
}

/// The `GET /api/v1/workflows` body in force, serialised once per revision
/// and set of connection statuses.
fn workflows_body(state: &AppState) -> Bytes {
    let body = state.cache.workflow_list(
        &state.engine.snapshot(),
        state.engine.instance(),
        &state.statuses(),
    );
    Bytes::from(body)
}

/// One workflow in force.
#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "workflows",
    params(("id" = String, Path, description = "workflow id")),
    responses(
        (status = 200, body = WorkflowWire),
        (status = 404, description = "no such workflow", body = ErrorBody),
    ))]
pub async fn workflow(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WorkflowWire>, ApiError> {
    let snapshot = state.engine.snapshot();
    let served = snapshot
        .workflow(&id)
        .ok_or_else(|| unknown_workflow(&id))?;
    let statuses = state.statuses();
    Ok(Json(WorkflowWire::new(served, Statuses(&statuses))))
}

/// Every integration in force, secrets masked, with its connection status.
#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations",
    responses((status = 200, body = IntegrationList)))]
pub async fn integrations(State(state): State<AppState>) -> Json<IntegrationList> {
    let statuses = state.statuses();
    Json(IntegrationList::new(
        &state.engine.snapshot(),
        Statuses(&statuses),
    ))
}

/// Tests the integration's connection now and answers with the result
/// (a disabled integration answers `disabled` without a test).
#[utoipa::path(post, path = "/api/v1/integrations/{id}/test", tag = "integrations",
    params(("id" = String, Path, description = "`jira`, `postman` or `testmo`")),
    responses(
        (status = 200, body = IntegrationStatusWire),
        (status = 404, description = "unknown or not configured integration", body = ErrorBody),
        (status = 503, description = "the server is stopping", body = ErrorBody),
    ))]
pub async fn test_integration(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IntegrationStatusWire>, ApiError> {
    let kind: IntegrationKind = id.parse().map_err(|()| {
        ApiError::new(
            ErrorCode::IntegrationNotFound,
            format!(
                "no integration `{}`; use one of: jira, postman, testmo",
                shown_id(&id)
            ),
        )
    })?;
    let integrations = state.integrations.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::IntegrationsNotRunning,
            "connection tests are not running in this server",
        )
    })?;
    match integrations.test_now(kind).await {
        Ok(status) => Ok(Json(IntegrationStatusWire::from(&status))),
        Err(IntegrationError::NotConfigured(_)) => Err(ApiError::new(
            ErrorCode::IntegrationNotConfigured,
            format!("`{kind}` is not configured; add {}", kind.config_file()),
        )),
        Err(IntegrationError::Stopped) => Err(ApiError::new(
            ErrorCode::Stopping,
            "the server is stopping; try again when it is back",
        )),
    }
}
