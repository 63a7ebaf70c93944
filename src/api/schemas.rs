//! Stage `api`: `GET /api/v1/schemas/{kind}.json`, the JSON Schema of each
//! file kind (`load::json_schema`), for editors and tools that fetch them
//! from a running server instead of the repository's `schemas/`.
//!
//! Static for the life of the binary; no state, no I/O.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::Path;
use crate::load::json_schema::{SchemaKind, schema_text};

/// The route as documented (`kind` one of the file kinds).
pub const SCHEMA: &str = "/api/v1/schemas/{kind}.json";
/// The route as routed: the router matches a whole segment, so the
/// handler takes `<kind>.json` and checks the suffix.
pub const SCHEMA_ROUTE: &str = "/api/v1/schemas/{file}";

/// The JSON Schema (draft-07) of one file kind: `workflow`, `jira`,
/// `postman`, `testmo` or `hot_reload`.
#[utoipa::path(get, path = "/api/v1/schemas/{kind}.json", tag = "schemas",
    params(("kind" = String, Path,
        description = "`workflow`, `jira`, `postman`, `testmo` or `hot_reload`")),
    responses(
        (status = 200, description = "the JSON Schema (draft-07) of the file kind",
            content_type = "application/schema+json", body = Object),
        (status = 404, description = "no such file kind", body = ErrorBody),
    ))]
pub async fn schema(Path(file): Path<String>) -> Result<Response, ApiError> {
    let kind = file
        .strip_suffix(".json")
        .and_then(|k| k.parse::<SchemaKind>().ok())
        .ok_or_else(|| {
            let kinds: Vec<&str> = SchemaKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::new(
                ErrorCode::SchemaNotFound,
                format!(
                    "no such schema; ask for /api/v1/schemas/<kind>.json with kind one of: {}",
                    kinds.join(", ")
                ),
            )
        })?;
    Ok((
        [(header::CONTENT_TYPE, "application/schema+json")],
        schema_text(kind),
    )
        .into_response())
}
