//! Stage `api`, routes of the live reload itself: the status, a manual
//! reload, and the events a client missed (by revision, or by commit when
//! following a branch). Bodies held for clients count against the response
//! budget (`cache`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::cache::OverBudget;
use crate::api::error::{ApiError, ErrorBody, ErrorCode};
use crate::api::extract::{Json, Query};
use crate::api::state::AppState;
use crate::api::wire::{
    ErrorsShown, EventList, EventListHead, EventWire, FollowWire, ReloadResult, ReplicaWire, Since,
    StatusWire, commit_of,
};
use crate::follow::resume::ResumeError;
use crate::store::Runs;

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
