//! JSON shapes of DESIGN §5: `ConfigError` and `Patch` as the wire sees them.
//!
//! Built with `serde_json::json!` from domain values so that the field names
//! of the contract are written in exactly one place.

use serde_json::{Value, json};

use crate::diagnostic::{ConfigError, Severity};
use crate::diff::json_patch;
use crate::diff::patch::Patch;
use crate::diff::semantic::Change;
use crate::diff::text::{LineTag, TextDiff};

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

/// DESIGN §5 `Patch`.
pub fn patch(p: &Patch) -> Value {
    json!({
        "kind": p.kind.as_str(),
        "id": p.id,
        "file": p.file,
        "op": p.op.as_str(),
        "changes": p.changes.iter().map(change).collect::<Vec<_>>(),
        "json_patch": json_patch::to_json_array(&p.json_patch),
        "diff": text_diff(&p.text),
        "git": p.differs_from_head.map(|d| json!({"differs_from_head": d})),
    })
}

/// One semantic change: `{"path","op","old","new","line"}`.
pub fn change(c: &Change) -> Value {
    json!({
        "path": c.path,
        "op": c.op.as_str(),
        "old": c.old,
        "new": c.new,
        "line": c.line,
    })
}

/// `{"unified","hunks":[{"old_start",..,"lines":[{"tag","old_line","new_line","text"}]}]}`.
pub fn text_diff(d: &TextDiff) -> Value {
    let hunks: Vec<Value> = d
        .hunks
        .iter()
        .map(|h| {
            json!({
                "old_start": h.old_start,
                "old_lines": h.old_lines,
                "new_start": h.new_start,
                "new_lines": h.new_lines,
                "lines": h.lines.iter().map(|l| json!({
                    "tag": match l.tag {
                        LineTag::Equal => "equal",
                        LineTag::Insert => "insert",
                        LineTag::Delete => "delete",
                    },
                    "old_line": l.old_line,
                    "new_line": l.new_line,
                    "text": l.text,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"unified": d.unified, "hunks": hunks, "timed_out": d.timed_out})
}
