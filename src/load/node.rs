//! The positioned YAML tree: every value knows the line and column it came from.
//!
//! Produced by `load::yaml`, read by `load::schema` and `diff::semantic`.
//! Aliases and `<<` merge keys are already resolved here, so consumers see
//! plain data. Pure data: no I/O.

use std::collections::HashMap;

use crate::diagnostic::Pos;

/// One YAML value with the position of its first character.
#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// Where a scalar's text lies in the source (for an alias: where its
    /// anchor's text lies), so a secret can be masked over every line it
    /// spans. `None` for lists and mappings.
    pub source: Option<Source>,
}

/// The stretch of source text a scalar was read from: 1-based lines,
/// 0-based character columns, `end` exclusive. It starts at the scalar's
/// anchor or tag when it has one; a quoted scalar's stretch may run past its
/// closing quote (over spaces and a comment), so `quote` says which quote
/// ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub start: (u32, u32),
    pub end: (u32, u32),
    pub quote: Option<char>,
}

/// A resolved YAML value (YAML 1.2 core schema).
///
/// `null`, `~` and an empty value all resolve to `Null`: they are the same
/// value and differ only in formatting. A missing key is not a `Null`.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One key/value pair of a mapping, in source order. Keys are scalars.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

impl Node {
    pub fn new(value: Value, pos: Pos) -> Self {
        Node {
            value,
            pos,
            source: None,
        }
    }

    pub fn with_source(mut self, source: Option<Source>) -> Self {
        self.source = source;
        self
    }

    /// The entry for `key` when this is a mapping with a string key of that name.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|e| matches!(&e.key.value, Value::Str(k) if k == key)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a scalar key or value as it reads (`1`, `true`, `name`).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Null => Some("null".to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Str(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// Number of nodes in this subtree, counting itself.
    pub fn size(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|e| e.key.size() + e.value.size()).sum(),
            _ => 0,
        }
    }

    /// A hashable stand-in for a scalar, equal exactly when `same_value` is
    /// (so mapping keys can be looked up in a map, not by a scan); `None`
    /// for a list or mapping.
    pub fn scalar_key(&self) -> Option<ScalarKey> {
        Some(match &self.value {
            Value::Null => ScalarKey::Null,
            Value::Bool(b) => ScalarKey::Bool(*b),
            Value::Int(i) => ScalarKey::Int(*i),
            Value::Float(f) => ScalarKey::Float(if f.is_nan() {
                f64::NAN.to_bits()
            } else if *f == 0.0 {
                0
            } else {
                f.to_bits()
            }),
            Value::Str(s) => ScalarKey::Str(s.clone()),
            Value::Seq(_) | Value::Map(_) => return None,
        })
    }

    /// Semantic equality: positions, comments and formatting are ignored;
    /// mapping key order is ignored; `1` and `1.0` and `"1"` are all different.
    pub fn same_value(&self, other: &Node) -> bool {
        self.value.same_value(&other.value)
    }

    /// The value as JSON, for change payloads. Non-finite floats, which JSON
    /// cannot hold, become their YAML spelling as a string.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(format_float(*f))),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.scalar_text().unwrap_or_default(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

impl Value {
    pub fn same_value(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_value(y))
            }
            (Value::Map(a), Value::Map(b)) if a.len() <= SMALL_MAP => {
                a.len() == b.len()
                    && a.iter().all(|ea| {
                        b.iter()
                            .any(|eb| ea.key.same_value(&eb.key) && ea.value.same_value(&eb.value))
                    })
            }
            (Value::Map(a), Value::Map(b)) => {
                // Keys are scalars and unique within a mapping: look each up.
                if a.len() != b.len() {
                    return false;
                }
                let by_key: HashMap<ScalarKey, &Node> = b
                    .iter()
                    .filter_map(|e| Some((e.key.scalar_key()?, &e.value)))
                    .collect();
                a.iter().all(|ea| {
                    ea.key
                        .scalar_key()
                        .and_then(|k| by_key.get(&k))
                        .is_some_and(|v| ea.value.same_value(v))
                })
            }
            _ => false,
        }
    }

    /// A short name of the value's type, for messages ("expected a string, found a number").
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Up to this many entries, mappings are compared by a scan (no allocation).
const SMALL_MAP: usize = 16;

/// A scalar in a form that hashes: floats by their bits, with every NaN one
/// value and `-0.0` the same as `0.0`, as `same_value` has it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScalarKey {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(String),
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        let s = f.to_string();
        if s.contains(['.', 'e', 'E']) {
            s
        } else {
            format!("{s}.0")
        }
    }
}
