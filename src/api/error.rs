//! Stage `api`: the one error type every handler returns, [`ApiError`]
//! (status, [`ErrorCode`], message), written to the wire as
//! `{"code": "...", "message": "..."}` with its HTTP status.
//!
//! A message is what the user reads: lower case, no trailing period, saying
//! what to do. It may not carry internal detail — an `internal` error's detail
//! goes to the log and the client gets a generic message. Axum's own
//! rejections (bad JSON, path or query) are converted here so that bad input
//! never gets axum's plain-text answer.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::{
    FailedToDeserializePathParams, JsonRejection, PathRejection, QueryRejection,
};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// What went wrong, as a stable snake_case code clients may match on. Each
/// code is answered with one HTTP status (in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// (404) No route answers this path.
    RouteNotFound,
    /// (405) The route does not take this method.
    MethodNotAllowed,
    /// (404) No workflow with this id is in force.
    WorkflowNotFound,
    /// (404) No run with this id.
    RunNotFound,
    /// (404) The run's definition has no step with this id.
    StepNotFound,
    /// (409) The step is already completed.
    StepAlreadyCompleted,
    /// (409) The run is finished: no step can be completed any more.
    RunFinished,
    /// (409) The run was finished before.
    RunAlreadyFinished,
    /// (404) Not `jira`, `postman` or `testmo`.
    IntegrationNotFound,
    /// (404) The integration has no configuration file.
    IntegrationNotConfigured,
    /// (404) No file kind has this JSON Schema name.
    SchemaNotFound,
    /// (503) This server runs no connection tests.
    IntegrationsNotRunning,
    /// (400) `since` is a revision that has not happened.
    RevisionAhead,
    /// (410) Some events after `since` have left history: take a snapshot.
    HistoryGone,
    /// (410) `since` came without the `instance` (server run) it is from,
    /// so it cannot be told from another run's revision: take a snapshot.
    InstanceRequired,
    /// (410) `since` is from another run of the server (it restarted):
    /// take a snapshot.
    InstanceChanged,
    /// (410) `since` is a commit this server does not have in the history
    /// of the commit it serves (unknown, newer than what it fetched, or
    /// removed by a force-push): take a snapshot.
    CommitUnknown,
    /// (410) `since` is a commit whose change cannot be given as patches
    /// (none is served yet, or the state served keeps a version of an
    /// earlier commit for a broken file): take a snapshot.
    CommitNotResumable,
    /// (400) The stream route was asked for without a WebSocket upgrade.
    WebsocketRequired,
    /// (400) The body is not JSON.
    InvalidJson,
    /// (400) The body is JSON of the wrong shape.
    InvalidBody,
    /// (400) The body was sent without `Content-Type: application/json`.
    JsonContentTypeRequired,
    /// (413) The body is larger than the server accepts.
    BodyTooLarge,
    /// (400) The body could not be read.
    UnreadableBody,
    /// (400) A part of the path does not parse.
    InvalidPath,
    /// (400) The query string does not parse.
    InvalidQuery,
    /// (400) Two `Host` headers.
    DuplicateHost,
    /// (400) Two `Origin` headers.
    DuplicateOrigin,
    /// (400) No `Host` header and no authority in the target.
    HostRequired,
    /// (403) A host name this server does not answer to (DNS rebinding).
    HostNotAllowed,
    /// (403) A change or WebSocket from a foreign page.
    OriginNotAllowed,
    /// (400) The request is not well-formed HTTP/1.1.
    MalformedRequest,
    /// (414) The request target is longer than the server reads.
    UriTooLong,
    /// (431) The request's headers are larger, or more, than the server reads.
    HeadersTooLarge,
    /// (401) The server needs a token and none was sent.
    TokenRequired,
    /// (401) The token sent is not the server's.
    TokenInvalid,
    /// (503) The engine has stopped.
    EngineStopped,
    /// (503) The run store cannot be reached or written; nothing was recorded.
    StoreUnavailable,
    /// (400) `cursor` is not a run id from a previous page.
    InvalidCursor,
    /// (503) The server is stopping.
    Stopping,
    /// (503) The connection cap is met.
    TooManyConnections,
    /// (503) The response bodies held for clients that have not read them
    /// yet are over the server's budget.
    ResponsesOverBudget,
    /// (404) A webhook came to a server that follows no remote.
    NotFollowing,
    /// (403) No webhook secret is configured: every webhook is refused.
    WebhookSecretUnset,
    /// (401) A webhook without any git host's signature or token.
    SignatureRequired,
    /// (401) A webhook whose signature or token is not the one the secret
    /// makes.
    SignatureInvalid,
    /// (500) A bug or an environment failure; the detail is in the log.
    Internal,
}

crate::named!(ErrorCode);

impl ErrorCode {
    /// The one HTTP status this code is answered with (the number in
    /// brackets on each variant).
    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::RevisionAhead
            | ErrorCode::WebsocketRequired
            | ErrorCode::InvalidJson
            | ErrorCode::InvalidBody
            | ErrorCode::JsonContentTypeRequired
            | ErrorCode::UnreadableBody
            | ErrorCode::InvalidPath
            | ErrorCode::InvalidQuery
            | ErrorCode::DuplicateHost
            | ErrorCode::DuplicateOrigin
            | ErrorCode::HostRequired
            | ErrorCode::MalformedRequest
            | ErrorCode::InvalidCursor => StatusCode::BAD_REQUEST,
            ErrorCode::TokenRequired
            | ErrorCode::TokenInvalid
            | ErrorCode::SignatureRequired
            | ErrorCode::SignatureInvalid => StatusCode::UNAUTHORIZED,
            ErrorCode::HostNotAllowed
            | ErrorCode::OriginNotAllowed
            | ErrorCode::WebhookSecretUnset => StatusCode::FORBIDDEN,
            ErrorCode::RouteNotFound
            | ErrorCode::WorkflowNotFound
            | ErrorCode::RunNotFound
            | ErrorCode::StepNotFound
            | ErrorCode::IntegrationNotFound
            | ErrorCode::IntegrationNotConfigured
            | ErrorCode::SchemaNotFound
            | ErrorCode::NotFollowing => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::StepAlreadyCompleted
            | ErrorCode::RunFinished
            | ErrorCode::RunAlreadyFinished => StatusCode::CONFLICT,
            ErrorCode::HistoryGone
            | ErrorCode::InstanceRequired
            | ErrorCode::InstanceChanged
            | ErrorCode::CommitUnknown
            | ErrorCode::CommitNotResumable => StatusCode::GONE,
            ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UriTooLong => StatusCode::URI_TOO_LONG,
            ErrorCode::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::IntegrationsNotRunning
            | ErrorCode::EngineStopped
            | ErrorCode::StoreUnavailable
            | ErrorCode::Stopping
            | ErrorCode::TooManyConnections
            | ErrorCode::ResponsesOverBudget => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// `{"code","message"}`: every error the API answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code clients may match on.
    pub code: ErrorCode,
    /// For people: what went wrong and what to do.
    pub message: String,
}

/// An error answered to an API client: the HTTP status, a [`ErrorCode`] and
/// a message for people. Written as [`ErrorBody`] by its one
/// `IntoResponse`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

/// What an `internal` error tells the client, whatever went wrong.
const INTERNAL_MESSAGE: &str = "the server hit an unexpected error; see its log for details";

impl ApiError {
    /// An error answered with `code`'s status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: code.status(),
            code,
            message: message.into(),
        }
    }

    /// 500: an unexpected failure. `detail` goes to the log now (errors are
    /// made on the way to the response); the client only learns that
    /// something went wrong.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error answering a request");
        Self::new(ErrorCode::Internal, INTERNAL_MESSAGE)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let body = ErrorBody {
            code: self.code,
            message: self.message,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if unauthorized {
            // RFC 6750 §3: a 401 names the scheme the client should use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The answer, with its JSON body, that replaces one the HTTP layer
/// (hyper) writes by itself, with an empty body, to a request it could not
/// parse: 400 (malformed), 414 (target too long), 431 (headers too large).
/// `head` is what hyper asked to write; `None` when it is anything else.
///
/// Such an answer is recognised by its shape: one of those statuses, a head
/// alone whose only headers are `content-length: 0` and `date`. Every
/// answer of the router carries a `content-type` (every error is an
/// [`ApiError`]), so none has that shape.
pub fn parse_error_answer(head: &[u8]) -> Option<Vec<u8>> {
    const MOST: usize = 512;
    if head.len() > MOST || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.strip_suffix("\r\n\r\n")?.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    let mut date = None;
    let mut empty = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "date" => date = Some(value.trim()),
            "content-length" if value.trim() == "0" => empty = true,
            "connection" => {}
            _ => return None,
        }
    }
    if !empty {
        return None;
    }
    let error = match status {
        "400" => ApiError::new(
            ErrorCode::MalformedRequest,
            "the request is not well-formed HTTP/1.1; check the request line and headers",
        ),
        "414" => ApiError::new(
            ErrorCode::UriTooLong,
            "the request target is too long (the limit is 65,534 bytes); shorten the path or query",
        ),
        "431" => ApiError::new(
            ErrorCode::HeadersTooLarge,
            "the request's headers are too large or too many; send fewer or shorter headers",
        ),
        _ => return None,
    };
    let body = serde_json::to_string(&ErrorBody {
        code: error.code,
        message: error.message,
    })
    .ok()?;
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        error.status.as_u16(),
        error.status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if let Some(date) = date {
        answer.push_str(&format!("date: {date}\r\n"));
    }
    answer.push_str("\r\n");
    answer.push_str(&body);
    Some(answer.into_bytes())
}

/// The innermost message of a rejection (serde's own words about the input,
/// e.g. ``steps[0].id: invalid type: integer `3`, expected a string``),
/// without axum's capitalised prefix.
/// Cut to [`INNER_MESSAGE_MAX`] characters: serde quotes the value it
/// refused, and a client may send kilobytes of it.
fn inner_message(rejection: &dyn std::error::Error) -> String {
    let message = rejection
        .source()
        .map_or_else(|| rejection.to_string(), ToString::to_string);
    match message.char_indices().nth(INNER_MESSAGE_MAX) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

/// The most characters of a rejection's own message an error body carries.
const INNER_MESSAGE_MAX: usize = 200;

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match &rejection {
            JsonRejection::JsonSyntaxError(e) => Self::new(
                ErrorCode::InvalidJson,
                format!(
                    "the request body is not valid JSON ({}); send a JSON document",
                    inner_message(e)
                ),
            ),
            JsonRejection::JsonDataError(e) => Self::new(
                ErrorCode::InvalidBody,
                format!(
                    "the request body does not have the expected shape: {}; \
                     see /api/openapi.json for the fields this route takes",
                    inner_message(e)
                ),
            ),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                ErrorCode::JsonContentTypeRequired,
                "the request body must be JSON; send it with Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Self::new(
                    ErrorCode::BodyTooLarge,
                    "the request body is too large; send a smaller document",
                )
            }
            _ => Self::new(
                ErrorCode::UnreadableBody,
                "the request body could not be read; send it again",
            ),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            PathRejection::FailedToDeserializePathParams(e) => path_error(e),
            // No captures for the matched route: a routing bug, not bad input.
            other => Self::internal(other),
        }
    }
}

fn path_error(e: FailedToDeserializePathParams) -> ApiError {
    if e.status().is_server_error() {
        // Wrong number of parameters or an unsupported target type: the
        // route and its extractor disagree, which is ours to fix.
        return ApiError::internal(e);
    }
    let message = match e.into_kind() {
        ErrorKind::ParseErrorAtKey { key, value, .. }
        | ErrorKind::DeserializeError { key, value, .. } => {
            format!(
                "`{}` is not a valid {key} in this URL; check the link",
                crate::diagnostic::shown_id(&value)
            )
        }
        ErrorKind::InvalidUtf8InPathParam { key } => {
            format!("the {key} in this URL is not valid UTF-8; check the link")
        }
        ErrorKind::ParseErrorAtIndex { value, .. } | ErrorKind::ParseError { value, .. } => {
            format!(
                "`{}` is not valid in this URL; check the link",
                crate::diagnostic::shown_id(&value)
            )
        }
        _ => "this URL has an invalid part; check the link".to_owned(),
    };
    ApiError::new(ErrorCode::InvalidPath, message)
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(
            ErrorCode::InvalidQuery,
            format!(
                "the query string is invalid: {}; fix the parameter and retry",
                inner_message(&rejection)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::test_support::Captured;
    use http_body_util::BodyExt;
    use serde_json::{Value, json};

    async fn body_of(response: Response) -> (StatusCode, Option<String>, Value) {
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn each_variant_answers_its_status_with_code_and_message() {
        let cases = [
            (
                ErrorCode::WorkflowNotFound,
                "no x",
                404,
                "workflow_not_found",
            ),
            (
                ErrorCode::StepAlreadyCompleted,
                "done",
                409,
                "step_already_completed",
            ),
            (ErrorCode::RevisionAhead, "bad", 400, "revision_ahead"),
            (ErrorCode::TokenRequired, "token", 401, "token_required"),
            (ErrorCode::HostNotAllowed, "no", 403, "host_not_allowed"),
            (ErrorCode::HistoryGone, "resync", 410, "history_gone"),
            (ErrorCode::EngineStopped, "later", 503, "engine_stopped"),
            (ErrorCode::BodyTooLarge, "big", 413, "body_too_large"),
        ];
        for (error_code, message, status, code) in cases {
            let error = ApiError::new(error_code, message);
            let message = error.message.clone();
            let (got_status, content_type, body) = body_of(error.into_response()).await;
            assert_eq!(got_status.as_u16(), status, "{code}");
            assert_eq!(content_type.as_deref(), Some("application/json"));
            assert_eq!(body, json!({"code": code, "message": message}));
        }
    }

    #[tokio::test]
    async fn unauthorized_names_the_bearer_scheme() {
        let response = ApiError::new(ErrorCode::TokenRequired, "send a token").into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[tokio::test]
    async fn internal_error_logs_its_detail_and_answers_a_generic_message() {
        let (response, log) = Captured::during(tracing::Level::INFO, || {
            ApiError::internal("snapshot lock poisoned at src/state.rs:42").into_response()
        });
        let (status, _, body) = body_of(response).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "internal");
        assert_eq!(body["message"], INTERNAL_MESSAGE);
        assert!(!body.to_string().contains("poisoned"));
        let logged = log.text();
        assert!(
            logged.contains("snapshot lock poisoned at src/state.rs:42"),
            "{logged}"
        );
    }

    mod rejections {
        #![allow(clippy::unwrap_used)]

        use super::body_of;
        use crate::api::extract::{Json, Path, Query};
        use axum::Router;
        use axum::body::Body;
        use axum::extract::DefaultBodyLimit;
        use axum::http::{Request, StatusCode, header};
        use axum::routing::{get, post};
        use serde::Deserialize;
        use tower::ServiceExt;

        #[derive(Deserialize)]
        struct Start {
            #[allow(dead_code)]
            ticket: String,
        }

        #[derive(Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Which {
            All,
        }

        #[derive(Deserialize)]
        struct Errors {
            #[allow(dead_code)]
            errors: Which,
        }

        #[derive(Deserialize)]
        struct Since {
            #[allow(dead_code)]
            since: u64,
        }

        fn app() -> Router {
            Router::new()
                .route("/runs", post(|Json(_): Json<Start>| async { "ok" }))
                .route("/runs/{n}", get(|Path(_): Path<u64>| async { "ok" }))
                .route("/events", get(|Query(_): Query<Since>| async { "ok" }))
                .route("/status", get(|Query(_): Query<Errors>| async { "ok" }))
                .layer(DefaultBodyLimit::max(64))
        }

        async fn call(request: Request<Body>) -> (StatusCode, serde_json::Value) {
            let response = app().oneshot(request).await.unwrap();
            let (status, content_type, body) = body_of(response).await;
            assert_eq!(content_type.as_deref(), Some("application/json"));
            (status, body)
        }

        fn post_json(body: impl Into<Body>) -> Request<Body> {
            Request::post("/runs")
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.into())
                .unwrap()
        }

        #[tokio::test]
        async fn good_input_passes_through() {
            let response = app().oneshot(post_json(r#"{"ticket":"QA-1"}"#)).await;
            assert_eq!(response.unwrap().status(), StatusCode::OK);
            let request = Request::get("/events?since=3").body(Body::empty()).unwrap();
            assert_eq!(
                app().oneshot(request).await.unwrap().status(),
                StatusCode::OK
            );
        }

        #[tokio::test]
        async fn json_syntax_error_is_400_invalid_json() {
            let (status, body) = call(post_json("{\"ticket\":")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["code"], "invalid_json");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.starts_with("the request body is not valid JSON ("),
                "{message}"
            );
        }

        #[tokio::test]
        async fn json_of_the_wrong_shape_is_400_invalid_body_naming_the_field() {
            let (status, body) = call(post_json(r#"{"ticket":3}"#)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["code"], "invalid_body");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains("ticket: invalid type: integer `3`"),
                "{message}"
            );
        }

        #[tokio::test]
        async fn body_without_json_content_type_is_400() {
            let request = Request::post("/runs")
                .body(Body::from(r#"{"ticket":"QA-1"}"#))
                .unwrap();
            let (status, body) = call(request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["code"], "json_content_type_required");
        }

        #[tokio::test]
        async fn body_over_the_limit_is_413() {
            let big = format!(r#"{{"ticket":"{}"}}"#, "x".repeat(100));
            let (status, body) = call(post_json(big)).await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
            assert_eq!(body["code"], "body_too_large");
        }

        #[tokio::test]
        async fn bad_path_parameter_is_400_invalid_path() {
            let request = Request::get("/runs/abc").body(Body::empty()).unwrap();
            let (status, body) = call(request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["code"], "invalid_path");
            assert_eq!(
                body["message"],
                "`abc` is not valid in this URL; check the link"
            );
        }

        #[tokio::test]
        async fn bad_query_is_400_invalid_query_naming_the_parameter() {
            let request = Request::get("/events?since=soon")
                .body(Body::empty())
                .unwrap();
            let (status, body) = call(request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["code"], "invalid_query");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.starts_with("the query string is invalid: since: "),
                "{message}"
            );
        }

        #[tokio::test]
        async fn a_long_refused_value_is_not_echoed_whole() {
            let long = "x".repeat(5_000);
            let request = Request::get(format!("/status?errors={long}"))
                .body(Body::empty())
                .unwrap();
            let (status, body) = call(request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            let message = body["message"].as_str().unwrap();
            assert!(message.len() < 400, "{} bytes", message.len());
            assert!(message.contains('…'), "{message}");
        }

        #[tokio::test]
        async fn missing_query_parameter_is_400() {
            let request = Request::get("/events").body(Body::empty()).unwrap();
            let (status, body) = call(request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["code"], "invalid_query");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains("missing field `since`"), "{message}");
        }
    }
}
