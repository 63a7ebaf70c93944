//! Stage `diff`: two entity documents (JSON, as a run stores its pinned
//! definition) to one [`Patch`], for comparing a run's definition with the
//! one in force when only their documents are at hand, not their files.
//!
//! Both documents are written out as block YAML the same way
//! ([`yaml_text`]), parsed back into positioned trees and compared like two
//! files: the semantic changes, the JSON Patch and the line diff all come
//! from [`entity_patch`]. Lines are those of the written-out documents.
//! Pure: no I/O, never panics.

use std::fmt::Write as _;

use serde_json::Value;

use crate::diagnostic::EntityKind;
use crate::diff::patch::{Patch, Version, entity_patch};
use crate::load::yaml::{Limits, parse};

/// The patch from document `old` to `new` (`None`: the entity is gone), or
/// `None` when they write out the same.
pub fn documents_patch(
    kind: EntityKind,
    id: &str,
    file: &str,
    old: &Value,
    new: Option<&Value>,
) -> Option<Patch> {
    let old_text = yaml_text(old);
    let new_text = new.map(yaml_text);
    let limits = Limits::default();
    let old_tree = parse(old_text.as_bytes(), file, &limits).0;
    let new_tree = new_text
        .as_ref()
        .and_then(|t| parse(t.as_bytes(), file, &limits).0);
    entity_patch(
        kind,
        id,
        file,
        Some(Version {
            text: &old_text,
            tree: old_tree.as_ref(),
            json: Some(old),
        }),
        new_text.as_deref().zip(new).map(|(text, json)| Version {
            text,
            tree: new_tree.as_ref(),
            json: Some(json),
        }),
    )
}

/// `value` as block YAML: mappings in their order, one list item per line,
/// strings plain when they read back as the same string, else quoted as
/// JSON quotes them (a YAML double-quoted scalar).
pub fn yaml_text(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => list(&mut out, items, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn mapping(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (i, (key, value)) in map.iter().enumerate() {
        // The first key of a list item follows its `- `.
        if i > 0 || indent == 0 {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&key_text(key));
        out.push(':');
        nested(out, value, indent);
    }
}

fn list(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => mapping(out, map, indent + 2),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                list(out, inner, indent + 2);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// What follows `key:`: a scalar on the line, or a block below it.
fn nested(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            mapping(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            list(out, items, indent + 2);
        }
        other => {
            let _ = writeln!(out, " {}", scalar(other));
        }
    }
}

fn key_text(key: &str) -> String {
    if is_plain(key) {
        key.to_string()
    } else {
        quoted(key)
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if is_plain(s) => s.clone(),
        Value::String(s) => quoted(s),
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// Whether `s` written plain reads back as this string: letters first, a
/// small set of characters after, nothing YAML would read as another type.
fn is_plain(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_alphabetic()
        && !s.ends_with(' ')
        && s.chars()
            .all(|c| c.is_alphanumeric() || " _-./()',".contains(c))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "nan" | "inf"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_document_reads_back_as_itself() {
        for doc in [
            json!({"id": "smoke", "name": "Release smoke", "steps": [
                {"id": "login", "name": "Log in: then out # twice", "estimated_minutes": 5,
                 "checklist": ["yes", "Works on \"staging\"", "", "10", " lead"]},
                {"id": "x", "name": "naïve café", "estimated_minutes": 1, "checklist": []}
            ], "ticket_types": ["bug"], "description": null}),
            json!([1, [2, 3], {"a": {}}]),
            json!("true"),
        ] {
            let text = yaml_text(&doc);
            let (tree, errors) = parse(text.as_bytes(), "x.yaml", &Limits::default());
            assert!(errors.is_empty(), "{text}: {errors:?}");
            assert_eq!(tree.map(|t| t.to_json()), Some(doc), "{text}");
        }
    }

    #[test]
    fn a_changed_minute_and_an_added_step_are_named_by_step() {
        let old = json!({"id": "w", "name": "W", "steps": [
            {"id": "a", "name": "A", "estimated_minutes": 5}]});
        let new = json!({"id": "w", "name": "W", "steps": [
            {"id": "a", "name": "A", "estimated_minutes": 7},
            {"id": "b", "name": "B", "estimated_minutes": 3}]});
        let patch = documents_patch(
            EntityKind::Workflow,
            "w",
            "workflows/w.yaml",
            &old,
            Some(&new),
        )
        .expect("a patch");
        let paths: Vec<&str> = patch.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["steps[id=a].estimated_minutes", "steps[id=b]"],
            "{:?}",
            patch.changes
        );
        assert!(documents_patch(EntityKind::Workflow, "w", "f", &old, Some(&old)).is_none());
        let gone = documents_patch(EntityKind::Workflow, "w", "f", &old, None).expect("removed");
        assert_eq!(gone.op, crate::diff::patch::PatchKind::Removed);
    }
}
