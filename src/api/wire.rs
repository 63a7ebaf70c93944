//! JSON shapes of DESIGN §5: `ConfigError` and `Patch` as the wire sees them.
//!
//! Built with `serde_json::json!` from domain values so that the field names
//! of the contract are written in exactly one place.

use serde_json::{Value, json};

use crate::diagnostic::{ConfigError, Severity};

/// `{"file","line","column","kind","severity","message","entity"}`.
pub fn config_error(e: &ConfigError) -> Value {
    json!({
        "file": e.file,
        "line": e.line,
        "column": e.column,
        "kind": e.kind.as_str(),
        "severity": match e.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        },
        "message": e.message,
        "entity": e.entity.as_ref().map(|r| json!({"kind": r.kind.as_str(), "id": r.id})),
    })
}
