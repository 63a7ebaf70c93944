//! Stage `api`, routes of trial runs: start, list, read, complete a step,
//! finish, discard, and compare a run's definition with the one in force.
//! Each answers once the store has the change; every id a refusal echoes is
//! cut and escaped.

use axum::extract::State;
use axum::http::{StatusCode, header};
use serde::Deserialize;

use crate::api::error::{ApiError, ErrorBody, ErrorCode};
use crate::api::extract::{Json, Path, Query};
use crate::api::state::AppState;
use crate::api::wire::{RunComparisonWire, RunList, RunSummaryWire, RunWire};
use crate::diagnostic::{EntityKind, shown_id};
use crate::diff::document::documents_patch;
use crate::store::{
    self, Completion, Finish, PageQuery, RunWithDefinition, Runs, StateFilter, StoreError,
};

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

pub(super) fn unknown_workflow(id: &str) -> ApiError {
    run_error(StoreError::UnknownWorkflow(id.to_owned()))
}

/// The error of a run operation; every id it echoes is cut and escaped
/// ([`shown_id`]), since a client may send 60 KB of id, NUL or U+202E.
pub(super) fn run_error(e: StoreError) -> ApiError {
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
