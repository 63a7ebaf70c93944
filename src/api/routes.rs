//! Stage `api`: the HTTP routes of docs/protocol.md, their handlers and
//! [`routes`], which wires them, the page and `/metrics` into one `Router`
//! (`api::router` adds the stream, the OpenAPI document, the fallbacks and
//! the guards).
//!
//! Handlers read the snapshot in force (never waiting for a reload), ask the
//! engine for a manual reload, or touch the run store; they turn domain
//! values into `wire` types and every refusal into an [`ApiError`]. They do
//! no file or git I/O and hold no lock across an `.await`.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use axum::body::Bytes;

use super::cache::OverBudget;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::{Json, Path, Query};
use super::state::AppState;
use super::wire::{
    ErrorsShown, EventList, EventListHead, EventWire, FollowWire, HealthWire, IntegrationList,
    IntegrationStatusWire, ReloadResult, ReplicaWire, RunComparisonWire, RunList, RunSummaryWire,
    RunWire, Since, StatusWire, Statuses, WorkflowList, WorkflowWire, commit_of,
};
use crate::diagnostic::{EntityKind, shown_id};
use crate::diff::document::documents_patch;
use crate::follow::resume::ResumeError;
use crate::integrations::{IntegrationError, State as TestState};
use crate::metrics::{self, MetricsView};
use crate::model::IntegrationKind;
use crate::store::{
    self, Completion, Finish, PageQuery, RunWithDefinition, Runs, StateFilter, StoreError,
};

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

/// Which diagnostics the status lists.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorsParam {
    /// Every diagnostic in force, however many.
    All,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StatusQuery {
    /// `all` lists every diagnostic in force; without it, the first 100 of
    /// each file (`errors_truncated` says when some are left out).
    pub errors: Option<ErrorsParam>,
}

/// Revision, server run, last reload, HEAD, watcher, counts, HTTP
/// connections, errors and settings.
#[utoipa::path(get, path = "/api/v1/dev/hot-reload/status", tag = "hot-reload",
    params(StatusQuery),
    responses(
        (status = 200, body = StatusWire),
        (status = 400, description = "`errors` is not `all`", body = ErrorBody),
        (status = 503, description = "`errors=all`: the bodies held for clients are over the response budget; try again when they have read them", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<AppState>,
    Query(query): Query<StatusQuery>,
) -> Result<Response, ApiError> {
    let status = state.engine.status();
    let shown = match query.errors {
        Some(ErrorsParam::All) => ErrorsShown::All,
        None => ErrorsShown::Capped,
    };
    let mut wire = StatusWire::new(
        &status,
        state.engine.instance(),
        state.clients.count(),
        &state.connections.stats(),
        state.runs.as_ref().map(Runs::info).as_ref(),
        shown,
    );
    wire.follow = state
        .follow
        .as_ref()
        .map(|f| FollowWire::new(&f.status(), state.webhooks.accepts()));
    wire.replica = state
        .follow
        .as_ref()
        .and_then(|f| f.replica())
        .map(ReplicaWire::from);
    if state.follow.is_some() {
        wire.commit = commit_of(status.snapshot.head.as_ref());
    }
    let ErrorsShown::All = shown else {
        return Ok(Json(wire).into_response());
    };
    // Every diagnostic is serialised once per revision and shared by every
    // such response (30,000 of them make a body of tens of MB); the rest of
    // the status is written per request, with the list appended.
    let errors = state
        .cache
        .all_errors(&status.snapshot)
        .map_err(over_budget)?;
    let mut head = crate::json::to_vec(&wire);
    head.pop(); // the object's closing brace
    head.extend_from_slice(b",\"errors\":");
    Ok(json_chunks(vec![
        Bytes::from(head),
        errors,
        Bytes::from_static(b"}"),
    ]))
}

/// A full rescan now (cause `manual`), through the same path as file events.
#[utoipa::path(post, path = "/api/v1/dev/hot-reload/reload", tag = "hot-reload",
    responses(
        (status = 200, description = "the new revision's event, or `changed: false`", body = ReloadResult),
        (status = 403, description = "foreign Origin", body = ErrorBody),
        (status = 503, description = "the engine has stopped", body = ErrorBody),
    ))]
pub async fn reload(State(state): State<AppState>) -> Result<Json<ReloadResult>, ApiError> {
    let event = state.engine.reload().await.map_err(|e| {
        ApiError::new(
            ErrorCode::EngineStopped,
            format!("{e}; the server is shutting down, try again after it restarts"),
        )
    })?;
    Ok(Json(ReloadResult {
        changed: event.is_some(),
        revision: event
            .as_ref()
            .map_or_else(|| state.engine.snapshot().revision, |e| e.revision),
        event: event.as_ref().map(EventWire::from),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// The last revision the client has; in follow mode, or the commit of
    /// the state it holds (a full id, as frames and the workflow list name
    /// it), on any server following the same branch.
    #[param(value_type = String)]
    pub since: Since,
    /// The server run `since` came from (`instance` of the `hello`, the
    /// status, the workflow list or an earlier event list). Required with
    /// a revision: revisions restart at 1 in every run. Not needed with a
    /// commit.
    pub instance: Option<String>,
}

/// The events after revision `since` of server run `instance`, while
/// history still has them.
#[utoipa::path(get, path = "/api/v1/dev/hot-reload/events", tag = "hot-reload",
    params(EventsQuery),
    responses(
        (status = 200, body = EventList),
        (status = 400, description = "`since` missing, neither a number nor a commit id, ahead of the revision in force, or a commit while a working tree is served", body = ErrorBody),
        (status = 410, description = "`instance` missing (`instance_required`) or another server run's (`instance_changed`), some events after `since` are no longer in history (`history_gone`), or the commit is not in the served commit's history here (`commit_unknown`) or its change does not lead to the state served (`commit_not_resumable`); fetch a snapshot", body = ErrorBody),
        (status = 503, description = "the bodies held for clients are over the response budget; try again when they have read them", body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let since = match query.since {
        Since::Revision(revision) => revision,
        Since::Commit(commit) => return events_since_commit(&state, &commit).await,
    };
    let instance = state.engine.instance();
    match query.instance.as_deref() {
        Some(asked) if asked == instance => {}
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InstanceChanged,
                format!(
                    "revision {} is from another run of the server, which has restarted \
                     since (this run is {instance}); fetch GET /api/v1/workflows for a \
                     snapshot and resume from its revision and instance",
                    since
                ),
            ));
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::InstanceRequired,
                format!(
                    "revision {} cannot be resumed without the instance it came from \
                     (revisions restart at 1 in every run of the server); pass \
                     instance={instance} only if revision {} came from this run, else \
                     fetch GET /api/v1/workflows for a snapshot",
                    since, since
                ),
            ));
        }
    }
    let snapshot = state.engine.snapshot();
    let current = snapshot.revision;
    let commit = state
        .follow
        .as_ref()
        .and_then(|_| commit_of(snapshot.head.as_ref()));
    drop(snapshot);
    if since > current {
        return Err(ApiError::new(
            ErrorCode::RevisionAhead,
            format!(
                "revision {} has not happened yet (the revision in force is {current}); \
                 pass a revision you received",
                since
            ),
        ));
    }
    let Some(events) = state.engine.events_since(since) else {
        return Err(ApiError::new(
            ErrorCode::HistoryGone,
            format!(
                "the events after revision {} are no longer in history; fetch \
                 GET /api/v1/workflows (or reconnect the WebSocket without since) for a snapshot",
                since
            ),
        ));
    };
    // Each event is its `reload` frame, serialised once per revision and
    // shared with the WebSocket clients and every other such response.
    let mut frames = Vec::with_capacity(events.len());
    for event in &events {
        frames.push(Bytes::from(
            state.cache.try_reload(event).map_err(over_budget)?,
        ));
    }
    drop(events);
    let head = EventListHead {
        revision: current,
        since,
        instance,
        commit: commit.as_deref(),
        since_commit: None,
    };
    let mut head = crate::json::to_vec(&head);
    head.pop(); // the object's closing brace
    head.extend_from_slice(b",\"events\":[");
    let mut chunks = Vec::with_capacity(frames.len() * 2 + 2);
    chunks.push(Bytes::from(head));
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            chunks.push(Bytes::from_static(b","));
        }
        chunks.push(frame);
    }
    chunks.push(Bytes::from_static(b"]}"));
    Ok(json_chunks(chunks))
}

/// `GET .../events?since=<commit>` (follow mode): one `reload` frame from
/// that commit to the one served, computed from git (the same on every
/// server following the branch), or none when it is the one served.
async fn events_since_commit(state: &AppState, commit: &str) -> Result<Response, ApiError> {
    let Some(resumes) = &state.resumes else {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "`since` is a commit id, but this server serves a working tree, not a followed \
             branch; resume with since=<revision>&instance=<instance>",
        ));
    };
    let snapshot = state.engine.snapshot();
    let change = resumes.since(commit, &snapshot).await.map_err(|e| {
        let code = match e {
            ResumeError::Unknown { .. } | ResumeError::NotInHistory { .. } => {
                ErrorCode::CommitUnknown
            }
            _ => ErrorCode::CommitNotResumable,
        };
        // A failure's cause may name the mirror's folder: logged, not sent.
        let shown = match &e {
            ResumeError::Failed { commit, .. } => {
                tracing::warn!(error = %e, "a resume from a commit failed");
                format!(
                    "the change from commit {commit} could not be computed (the server logged why)"
                )
            }
            _ => e.to_string(),
        };
        ApiError::new(
            code,
            format!(
                "{shown}; fetch GET /api/v1/workflows for a snapshot and resume from its commit"
            ),
        )
    })?;
    let frame = match &change {
        Some(event) => Some(Bytes::from(
            state
                .cache
                .resume(event, commit, true)
                .map_err(over_budget)?,
        )),
        None => None,
    };
    let served = commit_of(snapshot.head.as_ref());
    let head = EventListHead {
        revision: snapshot.revision,
        since: 0,
        instance: state.engine.instance(),
        commit: served.as_deref(),
        since_commit: Some(commit),
    };
    let mut head = crate::json::to_vec(&head);
    head.pop(); // the object's closing brace
    head.extend_from_slice(b",\"events\":[");
    let mut chunks = vec![Bytes::from(head)];
    chunks.extend(frame);
    chunks.push(Bytes::from_static(b"]}"));
    Ok(json_chunks(chunks))
}

/// A JSON body written from `chunks` as they are, shared bodies included
/// (nothing is copied into one buffer), with its `Content-Length`.
fn json_chunks(chunks: Vec<Bytes>) -> Response {
    let length: usize = chunks.iter().map(Bytes::len).sum();
    let stream =
        futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// The answer when a body would pass the response budget.
fn over_budget(over: OverBudget) -> ApiError {
    tracing::warn!(
        size = over.size,
        held = over.held,
        budget = over.budget,
        "a response was refused: the bodies held for clients are over the response budget"
    );
    ApiError::new(
        ErrorCode::ResponsesOverBudget,
        format!(
            "this response ({} bytes) would pass the {} bytes the server holds for \
             clients that have not read their responses yet; try again later",
            over.size, over.budget
        ),
    )
}

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

/// Starts a run pinned to the workflow's definition in force; answered
/// once the run is stored.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/runs", tag = "runs",
    params(("id" = String, Path, description = "workflow id")),
    responses(
        (status = 201, body = RunWire),
        (status = 404, description = "no such workflow", body = ErrorBody),
        (status = 503, description = "the run store is unavailable; no run was started", body = ErrorBody),
    ))]
pub async fn start_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<RunWire>), ApiError> {
    let snapshot = state.engine.snapshot();
    let runs = runs_of(&state)?;
    let started = runs
        .start(&state.engine, &snapshot, &id)
        .await
        .map_err(run_error)?;
    let location = format!("/api/v1/runs/{}", started.run.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(RunWire::new(
            &started.run,
            &started.definition,
            &snapshot,
            runs,
        )),
    ))
}

/// Which runs a page lists.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    InProgress,
    Finished,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RunsQuery {
    /// Runs per page, 1 to 500 (default 50).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only runs in progress, or only finished runs.
    pub state: Option<RunState>,
    /// Only runs of this workflow id.
    pub workflow: Option<String>,
}

/// Runs per page unless `limit` says otherwise.
pub const DEFAULT_PAGE: usize = 50;

/// One page of runs, newest first, each with its definition by reference
/// and whether a newer definition of its workflow is in force; each
/// definition the page uses is written once.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs",
    params(RunsQuery),
    responses(
        (status = 200, body = RunList),
        (status = 400, description = "`limit` out of range, or `cursor`/`state` not understood", body = ErrorBody),
        (status = 503, description = "the run store is unavailable", body = ErrorBody),
    ))]
pub async fn runs(
    State(state): State<AppState>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<RunList>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=store::MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("`limit` is {limit}; use 1 to {}", store::MAX_PAGE),
        ));
    }
    if let Some(cursor) = &query.cursor
        && !store::is_run_id(cursor)
    {
        return Err(ApiError::new(
            ErrorCode::InvalidCursor,
            "`cursor` is not a run id; pass the `next_cursor` of the previous page",
        ));
    }
    let runs = runs_of(&state)?;
    let page = runs
        .page(PageQuery {
            limit,
            before: query.cursor,
            state: query.state.map(|s| match s {
                RunState::InProgress => StateFilter::InProgress,
                RunState::Finished => StateFilter::Finished,
            }),
            workflow: query.workflow,
        })
        .await
        .map_err(run_error)?;
    Ok(Json(RunList::new(&page, &state.engine.snapshot(), runs)))
}

/// A run with its pinned definition, and whether a newer definition of its
/// workflow is in force.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    responses(
        (status = 200, body = RunWire),
        (status = 404, description = "no such run", body = ErrorBody),
        (status = 503, description = "the run store is unavailable", body = ErrorBody),
    ))]
pub async fn run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunWire>, ApiError> {
    let runs = runs_of(&state)?;
    let found = stored_run(runs, id).await?;
    Ok(Json(RunWire::new(
        &found.run,
        &found.definition,
        &state.engine.snapshot(),
        runs,
    )))
}

/// Marks a step of the run's own definition done; answered once stored. A
/// step completed before answers 409 and adds nothing, so a retry can tell
/// that its first try landed.
#[utoipa::path(post, path = "/api/v1/runs/{id}/steps/{step}/complete", tag = "runs",
    params(
        ("id" = String, Path, description = "run id"),
        ("step" = String, Path, description = "step id in the run's definition"),
    ),
    responses(
        (status = 200, body = RunSummaryWire),
        (status = 404, description = "no such run or step", body = ErrorBody),
        (status = 409, description = "the step is already completed", body = ErrorBody),
        (status = 503, description = "the run store is unavailable; nothing was recorded", body = ErrorBody),
    ))]
pub async fn complete_step(
    State(state): State<AppState>,
    Path((id, step)): Path<(String, String)>,
) -> Result<Json<RunSummaryWire>, ApiError> {
    let runs = runs_of(&state)?;
    match runs.complete(&id, &step).await.map_err(run_error)? {
        Completion::Done(run) => Ok(Json(RunSummaryWire::new(
            &run,
            &state.engine.snapshot(),
            runs,
        ))),
        Completion::Already(_) => Err(ApiError::new(
            ErrorCode::StepAlreadyCompleted,
            format!(
                "step `{}` of run `{}` is already completed",
                shown_id(&step),
                shown_id(&id)
            ),
        )),
        Completion::RunFinished(_) => Err(ApiError::new(
            ErrorCode::RunFinished,
            format!(
                "run `{}` is finished; step `{}` can no longer be completed",
                shown_id(&id),
                shown_id(&step)
            ),
        )),
    }
}

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

/// Finishes the run now with the steps it has (a trial stopped early);
/// answered once stored. A run finished before answers 409.
#[utoipa::path(post, path = "/api/v1/runs/{id}/finish", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    responses(
        (status = 200, body = RunSummaryWire),
        (status = 404, description = "no such run", body = ErrorBody),
        (status = 409, description = "the run was finished before", body = ErrorBody),
        (status = 503, description = "the run store is unavailable; nothing was recorded", body = ErrorBody),
    ))]
pub async fn finish_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunSummaryWire>, ApiError> {
    let runs = runs_of(&state)?;
    match runs.finish(&id).await.map_err(run_error)? {
        Finish::Done(run) => Ok(Json(RunSummaryWire::new(
            &run,
            &state.engine.snapshot(),
            runs,
        ))),
        Finish::Already(_) => Err(ApiError::new(
            ErrorCode::RunAlreadyFinished,
            format!("run `{}` is already finished", shown_id(&id)),
        )),
    }
}

/// Deletes the run, in progress or finished, and its completions, from
/// the store; answered once that is stored.
#[utoipa::path(delete, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    responses(
        (status = 204, description = "the run is deleted"),
        (status = 404, description = "no such run", body = ErrorBody),
        (status = 503, description = "the run store is unavailable; nothing was deleted", body = ErrorBody),
    ))]
pub async fn discard_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let runs = runs_of(&state)?;
    if runs.discard(&id).await.map_err(run_error)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(run_error(StoreError::UnknownRun(id)))
    }
}

/// The run's own definition against the workflow's definition in force:
/// the same patch shape as a `reload` frame's.
#[utoipa::path(get, path = "/api/v1/runs/{id}/compare", tag = "runs",
    params(("id" = String, Path, description = "run id")),
    responses(
        (status = 200, body = RunComparisonWire),
        (status = 404, description = "no such run", body = ErrorBody),
        (status = 503, description = "the run store is unavailable", body = ErrorBody),
    ))]
pub async fn compare_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunComparisonWire>, ApiError> {
    let runs = runs_of(&state)?;
    let found = stored_run(runs, id).await?;
    let snapshot = state.engine.snapshot();
    let run = &found.run;
    let pinned: serde_json::Value = serde_json::from_str(&found.definition.body)
        .map_err(|e| run_error(StoreError::Unavailable(format!("a stored definition: {e}"))))?;
    let served = snapshot.workflow(&run.workflow_id);
    let now = served
        .map(|s| serde_json::to_value(&*s.value))
        .transpose()
        .map_err(|e| run_error(StoreError::Unavailable(format!("a served workflow: {e}"))))?;
    let file = served.map_or(run.definition.file.as_str(), |s| &*s.file);
    // Both documents are small (one workflow each), but the line diff may
    // take up to its deadline: off the async threads.
    let (kind, workflow, file) = (
        EntityKind::Workflow,
        run.workflow_id.clone(),
        file.to_owned(),
    );
    let patch = tokio::task::spawn_blocking(move || {
        documents_patch(kind, &workflow, &file, &pinned, now.as_ref())
    })
    .await
    .map_err(|e| run_error(StoreError::Unavailable(format!("the diff's thread: {e}"))))?;
    Ok(Json(RunComparisonWire::new(
        run,
        &snapshot,
        runs,
        patch.as_ref(),
    )))
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

/// The run `id` with its definition, or the 404 (or 503) to answer.
async fn stored_run(runs: &Runs, id: String) -> Result<RunWithDefinition, ApiError> {
    runs.get(&id)
        .await
        .map_err(run_error)?
        .ok_or_else(|| run_error(StoreError::UnknownRun(id)))
}

fn runs_of(state: &AppState) -> Result<&Runs, ApiError> {
    state.runs.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::StoreUnavailable,
            "this server keeps no runs: its run store could not be opened at start \
             (see its log); restart it with --database",
        )
    })
}

fn unknown_workflow(id: &str) -> ApiError {
    run_error(StoreError::UnknownWorkflow(id.to_owned()))
}

/// The error of a run operation; every id it echoes is cut and escaped
/// ([`shown_id`]), since a client may send 60 KB of id, NUL or U+202E.
fn run_error(e: StoreError) -> ApiError {
    let message = match &e {
        StoreError::UnknownWorkflow(w) => StoreError::UnknownWorkflow(shown_id(w)),
        StoreError::UnknownRun(r) => StoreError::UnknownRun(shown_id(r)),
        StoreError::UnknownStep {
            run,
            workflow,
            step,
        } => StoreError::UnknownStep {
            run: shown_id(run),
            workflow: shown_id(workflow),
            step: shown_id(step),
        },
        StoreError::Unavailable(d) => StoreError::Unavailable(d.clone()),
        StoreError::Refused(d) => StoreError::Refused(d.clone()),
    }
    .to_string();
    match e {
        StoreError::UnknownWorkflow(_) => ApiError::new(ErrorCode::WorkflowNotFound, message),
        StoreError::UnknownRun(_) => ApiError::new(ErrorCode::RunNotFound, message),
        StoreError::UnknownStep { .. } => ApiError::new(ErrorCode::StepNotFound, message),
        StoreError::Unavailable(_) | StoreError::Refused(_) => {
            // The detail (a driver's message) is for the log only.
            tracing::warn!(error = %message, "a run request was not stored");
            ApiError::new(
                ErrorCode::StoreUnavailable,
                "the run store cannot be reached or written; nothing was recorded, try again",
            )
        }
    }
}
