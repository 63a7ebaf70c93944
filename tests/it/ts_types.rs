//! `hooks/frames.ts` is generated from the OpenAPI document the server
//! answers at `GET /api/openapi.json`, so the TypeScript types of every
//! frame and body cannot drift from the Rust types that write them. The
//! test fails when the committed file differs from what the document
//! generates; `scripts/gen-frames` writes it anew.
//!
//! The generator covers the subset of JSON Schema utoipa writes for the
//! wire types: objects, `$ref`, `oneOf`, `allOf`, string enums, type lists
//! with `null`, arrays, and free-form values. A schema it does not know
//! fails the test rather than becoming `unknown` silently.

use std::path::Path;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::served::{self, Fed};
use qa_reload::api::{self, AppState, routes, security::Security};

const REGENERATE: &str = "QA_RELOAD_REGENERATE";
const COMMAND: &str = "scripts/gen-frames";

const HEADER: &str = "\
// Generated from qa-reload's OpenAPI document (GET /api/openapi.json) by
// `scripts/gen-frames`; do not edit by hand. The types of every frame of the
// WebSocket stream `/ws/hot-reload` and every body of the HTTP API
// (docs/protocol.md). The server may add fields; clients ignore the ones
// they do not know.
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_ts_is_generated_from_the_openapi_document() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let security = Security::new("127.0.0.1:7878".parse().unwrap(), None, &[]);
    let state = AppState::new(fed.engine.clone(), security, CancellationToken::new());
    let request = Request::get(routes::OPENAPI)
        .header("host", "localhost")
        .body(Body::empty())
        .unwrap();
    let response = api::router(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    fed.shutdown.cancel();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();

    let generated = generate(&doc).unwrap_or_else(|e| panic!("cannot generate frames.ts: {e}"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/frames.ts");
    if std::env::var_os(REGENERATE).is_some() {
        std::fs::write(&path, &generated).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "hooks/frames.ts is not what the OpenAPI document generates (first difference at \
             line {}); regenerate it with `{COMMAND}` and commit it",
            line + 1
        );
    }
}

#[test]
fn the_generator_writes_each_schema_form() {
    let doc = serde_json::json!({"components": {"schemas": {
        "Kind": {"type": "string", "description": "What it is (`a/**/*.b`).", "enum": ["a", "b_c"]},
        "Long": {"type": "string", "enum": ["a_long_name_1", "a_long_name_2", "a_long_name_3", "a_long_name_4", "a_long_name_5"]},
        "ThingWire": {
            "type": "object",
            "required": ["kind", "tags"],
            "properties": {
                "kind": {"$ref": "#/components/schemas/Kind"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "note": {"type": ["string", "null"], "description": "A note.\nTwo lines."},
                "any": {},
                "doc": {"type": "object"},
                "parent": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/ThingWire"}]}
            }
        },
        "Op": {"oneOf": [
            {"type": "object", "required": ["path", "op"], "properties": {
                "path": {"type": "string"}, "op": {"type": "string", "enum": ["remove"]}}}
        ]},
        "Msg": {"oneOf": [{"allOf": [
            {"$ref": "#/components/schemas/ThingWire"},
            {"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["big_thing"]}}}
        ]}]}
    }}});
    let expected = format!(
        "{HEADER}
/** What it is (`a/**\\/*.b`). */
export type Kind = 'a' | 'b_c';

export type Long =
  | 'a_long_name_1'
  | 'a_long_name_2'
  | 'a_long_name_3'
  | 'a_long_name_4'
  | 'a_long_name_5';

export type BigThingMsg = {{ type: 'big_thing' }} & Thing;

export type Msg = BigThingMsg;

export interface Thing {{
  kind: Kind;
  tags: string[];
  /**
   * A note.
   * Two lines.
   */
  note?: string | null;
  any?: unknown;
  doc?: Record<string, unknown>;
  parent?: null | Thing;
}}

export type Op = {{ op: 'remove'; path: string }};
"
    );
    assert_eq!(generate(&doc).unwrap(), expected);
    let unknown = serde_json::json!({"components": {"schemas": {"X": {"not": {}}}}});
    assert!(generate(&unknown).is_err());
}

/// The TypeScript module for every schema of `doc`: enums first, then the
/// tagged unions (each member named, e.g. `HelloFrame`), then the rest,
/// each group in the document's order.
fn generate(doc: &Value) -> Result<String, String> {
    let schemas = doc["components"]["schemas"]
        .as_object()
        .ok_or("the document has no components.schemas")?;
    let mut enums = Vec::new();
    let mut unions = Vec::new();
    let mut rest = Vec::new();
    for (name, schema) in schemas {
        let name = ts_name(name);
        let doc = jsdoc(schema, "");
        if schema.get("enum").is_some() {
            enums.push(format!("{doc}{}", alias(&name, schema)?));
        } else if let Some(members) = tagged_union(schema) {
            let mut text = String::new();
            let mut names = Vec::new();
            for (tag_key, tag, target) in members {
                let member = format!("{}{name}", pascal(&tag));
                text.push_str(&format!(
                    "export type {member} = {{ {tag_key}: '{tag}' }} & {};\n\n",
                    ts_name(&target)
                ));
                names.push(member);
            }
            text.push_str(&format!(
                "{doc}export type {name} = {};\n",
                names.join(" | ")
            ));
            unions.push(text);
        } else if schema.get("properties").is_some() {
            rest.push(format!(
                "{doc}export interface {name} {{\n{}}}\n",
                properties(schema, "  ")?
            ));
        } else {
            rest.push(format!("{doc}{}", alias(&name, schema)?));
        }
    }
    let body: Vec<String> = enums.into_iter().chain(unions).chain(rest).collect();
    Ok(format!("{HEADER}\n{}", body.join("\n")))
}

/// `export type Name = ...;`, a long union one member per line.
fn alias(name: &str, schema: &Value) -> Result<String, String> {
    let one_line = format!("export type {name} = {};\n", ts(schema)?);
    let members: Vec<String> = match (schema["enum"].as_array(), schema["oneOf"].as_array()) {
        (Some(values), _) => values
            .iter()
            .map(|v| ts(&serde_json::json!({ "enum": [v] })))
            .collect::<Result<_, _>>()?,
        (None, Some(members)) => members.iter().map(ts).collect::<Result<_, _>>()?,
        (None, None) => return Ok(one_line),
    };
    if one_line.len() <= MAX_LINE || members.len() < 2 {
        return Ok(one_line);
    }
    let lines: Vec<String> = members.iter().map(|m| format!("\n  | {m}")).collect();
    Ok(format!("export type {name} ={};\n", lines.concat()))
}

/// Lines longer than this put each member of a union on its own line.
const MAX_LINE: usize = 100;

/// A schema's name in TypeScript: without the Rust side's `Wire` suffix.
fn ts_name(name: &str) -> String {
    name.strip_suffix("Wire").unwrap_or(name).to_owned()
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// `oneOf` members that are each `allOf: [$ref, {one string property with
/// one value}]`, serde's internally tagged enum: (tag key, tag, target).
fn tagged_union(schema: &Value) -> Option<Vec<(String, String, String)>> {
    schema["oneOf"]
        .as_array()?
        .iter()
        .map(|member| {
            let [target, tag] = member["allOf"].as_array()?.as_slice() else {
                return None;
            };
            let target = target["$ref"].as_str()?.rsplit('/').next()?.to_owned();
            let props = tag["properties"].as_object()?;
            let (key, value) = props.iter().next().filter(|_| props.len() == 1)?;
            let [tag] = value["enum"].as_array()?.as_slice() else {
                return None;
            };
            Some((key.clone(), tag.as_str()?.to_owned(), target))
        })
        .collect()
}

/// The properties of an object schema, one per line: a one-value enum
/// (a tag) first, then in the document's order.
fn properties(schema: &Value, indent: &str) -> Result<String, String> {
    let mut out = String::new();
    for (name, prop) in ordered(schema) {
        let optional = if is_required(schema, name) { "" } else { "?" };
        out.push_str(&jsdoc(prop, indent));
        out.push_str(&format!("{indent}{name}{optional}: {};\n", ts(prop)?));
    }
    Ok(out)
}

fn ordered(schema: &Value) -> Vec<(&String, &Value)> {
    let is_tag = |p: &Value| p["enum"].as_array().is_some_and(|e| e.len() == 1);
    let mut list: Vec<(&String, &Value)> = schema["properties"]
        .as_object()
        .map(|props| props.iter().collect())
        .unwrap_or_default();
    list.sort_by_key(|(_, p)| !is_tag(p));
    list
}

fn is_required(schema: &Value, name: &str) -> bool {
    schema["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|n| n == name))
}

/// A `/** ... */` comment from the schema's description (for a `$ref`
/// behind `oneOf`, the member's), or nothing.
fn jsdoc(schema: &Value, indent: &str) -> String {
    let description = schema["description"].as_str().or_else(|| {
        schema["oneOf"]
            .as_array()?
            .iter()
            .find_map(|m| m["description"].as_str())
    });
    let Some(text) = description.map(str::trim).filter(|t| !t.is_empty()) else {
        return String::new();
    };
    // A description may hold `*/` (a glob such as `workflows/**/*.yaml`).
    let text = text.replace("*/", "*\\/");
    let lines: Vec<&str> = text.lines().collect();
    if let [line] = lines.as_slice() {
        return format!("{indent}/** {line} */\n");
    }
    let mut out = format!("{indent}/**\n");
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            out.push_str(&format!("{indent} *\n"));
        } else {
            out.push_str(&format!("{indent} * {line}\n"));
        }
    }
    out.push_str(&format!("{indent} */\n"));
    out
}

/// The TypeScript type of a schema.
fn ts(schema: &Value) -> Result<String, String> {
    if let Some(target) = schema["$ref"].as_str() {
        return Ok(ts_name(target.rsplit('/').next().unwrap_or(target)));
    }
    if let Some(members) = schema["oneOf"].as_array() {
        return Ok(members
            .iter()
            .map(ts)
            .collect::<Result<Vec<_>, _>>()?
            .join(" | "));
    }
    if let Some(members) = schema["allOf"].as_array() {
        return Ok(members
            .iter()
            .map(ts)
            .collect::<Result<Vec<_>, _>>()?
            .join(" & "));
    }
    if let Some(values) = schema["enum"].as_array() {
        let literals: Vec<String> = values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(|s| format!("'{s}'"))
                    .ok_or("a non-string enum value")
            })
            .collect::<Result<_, _>>()?;
        return Ok(literals.join(" | "));
    }
    match &schema["type"] {
        Value::String(t) => ts_type(t, schema),
        Value::Array(types) => Ok(types
            .iter()
            .map(|t| ts_type(t.as_str().unwrap_or_default(), schema))
            .collect::<Result<Vec<_>, _>>()?
            .join(" | ")),
        Value::Null => match schema.as_object() {
            Some(o) if o.keys().all(|k| k == "description") => Ok("unknown".to_owned()),
            _ => Err(format!("a schema without a type: {schema}")),
        },
        other => Err(format!("a type that is not a name: {other}")),
    }
}

fn ts_type(name: &str, schema: &Value) -> Result<String, String> {
    Ok(match name {
        "string" => "string".to_owned(),
        "integer" | "number" => "number".to_owned(),
        "boolean" => "boolean".to_owned(),
        "null" => "null".to_owned(),
        "array" => {
            let item = ts(&schema["items"])?;
            if item.contains([' ', '|', '&']) {
                format!("Array<{item}>")
            } else {
                format!("{item}[]")
            }
        }
        "object" if schema.get("properties").is_some() => {
            let fields: Vec<String> = ordered(schema)
                .into_iter()
                .map(|(name, prop)| {
                    let optional = if is_required(schema, name) { "" } else { "?" };
                    Ok(format!("{name}{optional}: {}", ts(prop)?))
                })
                .collect::<Result<_, String>>()?;
            format!("{{ {} }}", fields.join("; "))
        }
        "object" => "Record<string, unknown>".to_owned(),
        other => return Err(format!("an unknown type {other:?}")),
    })
}
