//! Stage `load`: the tables of `shape` written as JSON Schema (draft-07, the
//! draft YAML language servers read), one document per file kind, so an
//! editor underlines a wrong key or value while it is typed.
//!
//! Generated, never hand-kept: the `schema` command prints these, `serve`
//! serves them, and a test compares the files committed in `schemas/` with
//! them. What a schema cannot say (references across files, duplicate ids,
//! environment variables being set) only `check` finds. Pure: no I/O.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value, json};

use crate::load::shape::{self, Field, ID_MAX_LEN, ID_PATTERN, Presence, Shape, Ty};
use crate::model::IntegrationKind;

/// The file kinds with a schema of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaKind {
    Workflow,
    Jira,
    Postman,
    Testmo,
    HotReload,
}

impl SchemaKind {
    pub const ALL: [SchemaKind; 5] = [
        SchemaKind::Workflow,
        SchemaKind::Jira,
        SchemaKind::Postman,
        SchemaKind::Testmo,
        SchemaKind::HotReload,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SchemaKind::Workflow => "workflow",
            SchemaKind::Jira => "jira",
            SchemaKind::Postman => "postman",
            SchemaKind::Testmo => "testmo",
            SchemaKind::HotReload => "hot_reload",
        }
    }

    /// The schema's file name in `schemas/` (and its name on the API).
    pub fn file_name(self) -> String {
        format!("{}.schema.json", self.as_str())
    }

    /// The files of a repository the schema is for, as globs.
    pub fn applies_to(self) -> &'static [&'static str] {
        match self {
            SchemaKind::Workflow => &["workflows/**/*.yaml", "workflows/**/*.yml"],
            SchemaKind::Jira => &["config/jira_config.yaml"],
            SchemaKind::Postman => &["config/postman_config.yaml"],
            SchemaKind::Testmo => &["config/testmo_config.yaml"],
            SchemaKind::HotReload => &["config/hot_reload.yaml"],
        }
    }

    fn shape(self) -> &'static Shape {
        match self {
            SchemaKind::Workflow => &shape::WORKFLOW,
            SchemaKind::Jira => shape::integration(IntegrationKind::Jira),
            SchemaKind::Postman => shape::integration(IntegrationKind::Postman),
            SchemaKind::Testmo => shape::integration(IntegrationKind::Testmo),
            SchemaKind::HotReload => &shape::SETTINGS,
        }
    }
}

impl fmt::Display for SchemaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SchemaKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SchemaKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

const DRAFT: &str = "http://json-schema.org/draft-07/schema#";

/// A string that is not empty or blank (the loader trims before it checks).
const NOT_BLANK: &str = "\\S";

/// A string the loader takes as a URL: http or https with a host, or one
/// read from the environment (checked only once the variable is read).
const URL_PATTERN: &str = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#:][^\\s]*$|\\$\\{";

/// The JSON Schema of one file kind.
pub fn schema(kind: SchemaKind) -> Value {
    let shape = kind.shape();
    let mut doc = Map::new();
    doc.insert("$schema".into(), json!(DRAFT));
    doc.extend(object(shape));
    if shape.empty_ok {
        doc.insert("type".into(), json!(["object", "null"]));
    }
    Value::Object(doc)
}

/// The schema as its file holds it: pretty, with a final newline.
pub fn schema_text(kind: SchemaKind) -> String {
    let mut text = serde_json::to_string_pretty(&schema(kind)).unwrap_or_default();
    text.push('\n');
    text
}

fn object(shape: &Shape) -> Map<String, Value> {
    let mut properties = Map::new();
    for f in shape.fields {
        properties.insert(f.key.into(), property(f));
    }
    let required: Vec<&str> = shape
        .fields
        .iter()
        .filter(|f| f.presence == Presence::Required)
        .map(|f| f.key)
        .collect();
    // A key required unless another has a given value: required in the
    // `else` of an `if` on that value.
    let conditional: Vec<Value> = shape
        .fields
        .iter()
        .filter_map(|f| match f.presence {
            Presence::RequiredUnless(key, value) => Some(json!({
                "if": {"properties": {key: {"const": value}}, "required": [key]},
                "else": {"required": [f.key]},
            })),
            _ => None,
        })
        .collect();
    let mut out = Map::new();
    out.insert("title".into(), json!(shape.title));
    out.insert("description".into(), json!(shape.description));
    out.insert("type".into(), json!("object"));
    out.insert("additionalProperties".into(), json!(false));
    if !required.is_empty() {
        out.insert("required".into(), json!(required));
    }
    if !conditional.is_empty() {
        out.insert("allOf".into(), Value::Array(conditional));
    }
    out.insert("properties".into(), Value::Object(properties));
    out
}

fn property(f: &Field) -> Value {
    let mut out = Map::new();
    out.insert("description".into(), json!(f.help()));
    if let Some(default) = f.default {
        out.insert("default".into(), default.to_json());
    }
    let nullable = matches!(
        f.presence,
        Presence::Optional | Presence::RequiredUnless(..)
    );
    let text = || json!({"type": "string", "pattern": NOT_BLANK});
    let (mut types, rest): (Vec<&str>, Vec<(&str, Value)>) = match f.ty {
        Ty::Id => (
            vec!["string"],
            vec![
                ("pattern", json!(ID_PATTERN)),
                ("maxLength", json!(ID_MAX_LEN)),
            ],
        ),
        Ty::Text => (vec!["string"], vec![("pattern", json!(NOT_BLANK))]),
        Ty::TextList | Ty::Globs => (vec!["array"], vec![("items", text())]),
        Ty::Int(r) => (
            vec!["integer"],
            vec![("minimum", json!(r.min)), ("maximum", json!(r.max))],
        ),
        Ty::Millis(r) => (
            vec!["number"],
            vec![("minimum", json!(r.min)), ("maximum", json!(r.max))],
        ),
        Ty::Bool => (vec!["boolean"], vec![]),
        Ty::Setting => (
            vec!["string", "integer"],
            vec![("pattern", json!(NOT_BLANK))],
        ),
        Ty::Url => (vec!["string"], vec![("pattern", json!(URL_PATTERN))]),
        Ty::IntegrationName => {
            let mut names: Vec<Value> = IntegrationKind::ALL
                .iter()
                .map(|k| json!(k.as_str()))
                .collect();
            if nullable {
                names.push(Value::Null);
            }
            out.insert("enum".into(), Value::Array(names));
            return Value::Object(out);
        }
        Ty::OneOf(names) => {
            let mut names: Vec<Value> = names.iter().map(|n| json!(n)).collect();
            if nullable {
                names.push(Value::Null);
            }
            out.insert("enum".into(), Value::Array(names));
            return Value::Object(out);
        }
        Ty::Items(item) => (
            vec!["array"],
            vec![
                ("minItems", json!(1)),
                ("items", Value::Object(object(item))),
            ],
        ),
    };
    if nullable {
        types.push("null");
    }
    let types = match types[..] {
        [one] => json!(one),
        _ => json!(types),
    };
    out.insert("type".into(), types);
    for (k, v) in rest {
        out.insert(k.into(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_has_a_description_and_every_object_is_closed() {
        fn walk(v: &Value, path: &str) {
            let Some(obj) = v.as_object() else { return };
            if obj.contains_key("properties") {
                assert_eq!(obj["additionalProperties"], json!(false), "{path}");
                for (k, p) in obj["properties"].as_object().into_iter().flatten() {
                    let d = p["description"].as_str().unwrap_or("");
                    assert!(!d.is_empty(), "{path}.{k} has no description");
                    walk(p, &format!("{path}.{k}"));
                }
            }
            if let Some(items) = obj.get("items") {
                walk(items, &format!("{path}[]"));
            }
        }
        for kind in SchemaKind::ALL {
            walk(&schema(kind), kind.as_str());
        }
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in SchemaKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
        }
        assert_eq!("nope".parse::<SchemaKind>(), Err(()));
    }
}
