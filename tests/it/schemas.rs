//! The JSON Schemas of the file kinds: the committed copies in `schemas/`
//! are what the model generates, the example maps them for VS Code, `serve`
//! serves them, and they agree with `check` — every file `check` accepts
//! validates, and every schema error of the bad corpus that a schema can
//! express is rejected by the schema too.

use std::collections::BTreeMap;
use std::path::Path;

use qa_reload::api::WsConfig;
use qa_reload::api::schemas::SCHEMA;
use qa_reload::diagnostic::{ConfigError, ErrorKind};
use qa_reload::load::config::{self, FileRole};
use qa_reload::load::fs;
use qa_reload::load::json_schema::{SchemaKind, schema, schema_text};
use qa_reload::load::yaml::{Limits, parse};
use qa_reload::model::IntegrationKind;
use serde_json::Value;

use crate::served::{self, Fed, Server};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn kind_of(role: FileRole) -> SchemaKind {
    match role {
        FileRole::Workflow => SchemaKind::Workflow,
        FileRole::Integration(IntegrationKind::Jira) => SchemaKind::Jira,
        FileRole::Integration(IntegrationKind::Postman) => SchemaKind::Postman,
        FileRole::Integration(IntegrationKind::Testmo) => SchemaKind::Testmo,
        FileRole::Settings => SchemaKind::HotReload,
    }
}

/// Every schema compiled by an independent validator.
struct Validator {
    schemas: boon::Schemas,
    index: BTreeMap<SchemaKind, boon::SchemaIndex>,
}

impl Validator {
    fn new() -> Validator {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V7);
        let mut index = BTreeMap::new();
        for kind in SchemaKind::ALL {
            let url = format!("file:///schemas/{}", kind.file_name());
            compiler.add_resource(&url, schema(kind)).unwrap();
            index.insert(kind, compiler.compile(&url, &mut schemas).unwrap());
        }
        Validator { schemas, index }
    }

    /// `Err` with the validator's reasons when the YAML text does not fit.
    fn validate(&self, kind: SchemaKind, text: &[u8]) -> Result<(), String> {
        let (tree, errors) = parse(text, "f.yaml", &Limits::default());
        assert!(errors.is_empty(), "only well-formed YAML is validated");
        let instance = tree.map_or(Value::Null, |t| t.to_json());
        self.schemas
            .validate(&instance, self.index[&kind])
            .map_err(|e| format!("{e}"))
    }
}

/// Each file's errors (warnings left out) when `check` reads `files` as one
/// configuration, for every file of a role, errors or not.
fn check_errors(
    files: &BTreeMap<String, Vec<u8>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<String, Vec<ConfigError>> {
    let mut by_file: BTreeMap<String, Vec<ConfigError>> = files
        .keys()
        .filter(|p| FileRole::of(p).is_some())
        .map(|p| (p.clone(), Vec::new()))
        .collect();
    let (_, errors) = config::build(files, env);
    for e in errors.into_iter().filter(ConfigError::is_error) {
        by_file.entry(e.file.clone()).or_default().push(e);
    }
    by_file
}

/// The example repository, the bad corpus, and each extra file on its own.
fn file_sets(extra: &[(&str, &str)]) -> Vec<BTreeMap<String, Vec<u8>>> {
    let mut sets: Vec<BTreeMap<String, Vec<u8>>> =
        [root().to_path_buf(), root().join("tests/fixtures/bad")]
            .iter()
            .map(|dir| fs::read_tree(dir, &|_| false).0)
            .collect();
    for (path, text) in extra {
        sets.push(BTreeMap::from([(
            path.to_string(),
            text.as_bytes().to_vec(),
        )]));
    }
    sets
}

#[test]
fn the_committed_schemas_are_the_generated_ones() {
    for kind in SchemaKind::ALL {
        let path = root().join("schemas").join(kind.file_name());
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == schema_text(kind),
            "{} differs from what the model generates; run `qa-reload schema --out schemas` and commit the result",
            path.display()
        );
    }
    let files = std::fs::read_dir(root().join("schemas")).unwrap().count();
    assert_eq!(files, SchemaKind::ALL.len(), "schemas/ holds a stale file");
}

#[test]
fn the_example_maps_every_schema_for_vs_code() {
    let text = std::fs::read_to_string(root().join(".vscode/settings.json")).unwrap();
    let settings: Value = serde_json::from_str(&text).unwrap();
    let map = settings["yaml.schemas"].as_object().unwrap();
    assert_eq!(map.len(), SchemaKind::ALL.len(), "{map:#?}");
    for kind in SchemaKind::ALL {
        let globs = &map[&format!("./schemas/{}", kind.file_name())];
        let globs: Vec<&str> = globs
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        assert_eq!(globs, kind.applies_to(), "{kind}");
    }
}

/// Files `check` accepts beyond the example: nulls, empty lists, numbers as
/// ids, variables, an empty settings file.
const ACCEPTED: &[(&str, &str)] = &[
    (
        "workflows/minimal.yaml",
        "name: M\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 1\n",
    ),
    (
        "workflows/nulls.yml",
        "id: n-1\nname: N\ndescription: ~\nticket_types: []\nsteps:\n  - {id: 0a, name: A, estimated_minutes: 1440, integration: null, checklist: []}\n",
    ),
    (
        "config/jira_config.yaml",
        "enabled: false\nbase_url: ${JIRA_URL}\nemail: a@b.c\napi_token: ${T}\nproject_key: ~\ntimeout_ms: 600000\n",
    ),
    (
        "config/testmo_config.yaml",
        "base_url: HTTPS://t.example/x\napi_token: t-1\nproject_id: 42\nenabled: ~\nretest_minutes: 0\n",
    ),
    (
        "config/jira_config.yaml",
        "base_url: https://jira.corp.example\ndeployment: data_center\napi_token: ${PAT}\nproject_key: QA\nretest_minutes: 10080\n",
    ),
    (
        "config/postman_config.yaml",
        "base_url: http://localhost:9000\napi_key: k\nworkspace_id: 7\n",
    ),
    ("config/hot_reload.yaml", ""),
    (
        "config/hot_reload.yaml",
        "debounce_ms: 0\nmax_wait_ms: 1\ncomplete_write_ms: 1000\nwatch: ~\nignore: [\"a/**\"]\nhistory: 100000\nhistory_bytes: 4096\n",
    ),
    // Whole numbers written as floats: an `integer` to the schema (draft-07)
    // and that whole number to `check`.
    (
        "workflows/floats.yaml",
        "name: F\nsteps:\n  - {id: a, name: A, estimated_minutes: 5.0}\n  - {id: b, name: B, estimated_minutes: 1.0e+3}\n",
    ),
    (
        "config/jira_config.yaml",
        "base_url: https://x\nemail: e\napi_token: t\ntimeout_ms: 5000.0\n",
    ),
    (
        "config/hot_reload.yaml",
        "debounce_ms: 50.0\nhistory: 1.0e+2\n",
    ),
];

#[test]
fn every_file_check_accepts_validates_against_its_schema() {
    let v = Validator::new();
    let env = |name: &str| Some(format!("value-of-{name}"));
    let mut accepted = 0;
    for files in file_sets(ACCEPTED) {
        for (path, errors) in check_errors(&files, &env) {
            if !errors.is_empty() {
                continue; // a bad fixture: the next test
            }
            let Some(role) = FileRole::of(&path) else {
                continue;
            };
            accepted += 1;
            if let Err(why) = v.validate(kind_of(role), &files[&path]) {
                panic!("{path} passes `check` but not its schema:\n{why}");
            }
        }
    }
    // The example's 9 files, the bad corpus's valid one, and ACCEPTED.
    assert!(accepted >= 9 + 1 + ACCEPTED.len(), "only {accepted} files");
}

/// What a schema cannot say, by the message `check` gives.
const NOT_EXPRESSIBLE: &[&str] = &[
    "duplicate step id",
    "is already used by",
    "which is not configured",
    "environment variable",
    "must not be less than `debounce_ms`",
    "not a valid glob",
];

/// Schema errors a schema says too, by the message `check` gives.
const EXPRESSIBLE: &[&str] = &[
    "unknown key",
    "missing required key",
    "must be a",
    "must be true or false",
    "must be between",
    "is not a valid workflow id",
    "is not a valid step id",
    "must list at least one step",
    "must not be empty",
    "file is empty",
    "is not a valid URL",
    "names an integration that is not known",
    "must be one of",
];

/// Broken files beyond the corpus, one schema error each.
const REFUSED: &[(&str, &str)] = &[
    (
        "workflows/w.yaml",
        "name: W\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 1\n    integration: jiraa\n",
    ),
    (
        "workflows/w.yaml",
        "name: '  '\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 1\n",
    ),
    (
        "workflows/w.yaml",
        "id: ~\nname: W\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 1\n",
    ),
    (
        "workflows/w.yaml",
        "name: W\nticket_types: [bug, 3]\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 1\n",
    ),
    (
        "config/jira_config.yaml",
        "base_url: ftp://x\nemail: e\napi_token: t\n",
    ),
    (
        "config/jira_config.yaml",
        "base_url: https://x\nemail: e\napi_token: t\nenabled: yes\n",
    ),
    (
        "config/jira_config.yaml",
        "base_url: https://x\nemail: e\napi_token: t\ntimeout_ms: 0\n",
    ),
    (
        "config/jira_config.yaml",
        "base_url: https://x\ndeployment: server\nemail: e\napi_token: t\n",
    ),
    (
        "config/jira_config.yaml",
        "base_url: https://x\ndeployment: cloud\napi_token: t\n",
    ),
    (
        "config/postman_config.yaml",
        "base_url: https://x\napi_key: k\nretest_minutes: 10081\n",
    ),
    ("config/postman_config.yaml", "base_url: https://x\n"),
    (
        "config/testmo_config.yaml",
        "base_url: https://x\napi_token: [a]\n",
    ),
    ("config/hot_reload.yaml", "history_bytes: 100\n"),
    ("config/hot_reload.yaml", "debounce_ms: '5'\n"),
    ("config/hot_reload.yaml", "- a list\n"),
    // Floats that are not whole numbers, or not numbers: refused by both.
    (
        "workflows/w.yaml",
        "name: W\nsteps:\n  - {id: a, name: A, estimated_minutes: 5.5}\n",
    ),
    (
        "workflows/w.yaml",
        "name: W\nsteps:\n  - {id: a, name: A, estimated_minutes: 2.0e+3}\n",
    ),
    (
        "config/jira_config.yaml",
        "base_url: https://x\nemail: e\napi_token: t\ntimeout_ms: .nan\n",
    ),
    ("config/hot_reload.yaml", "complete_write_ms: .inf\n"),
];

#[test]
fn every_expressible_schema_error_is_refused_by_the_schema_too() {
    let v = Validator::new();
    let mut refused = 0;
    for files in file_sets(REFUSED) {
        for (path, errors) in check_errors(&files, &|_| None) {
            let Some(role) = FileRole::of(&path) else {
                continue;
            };
            let messages: Vec<&str> = errors
                .iter()
                .filter(|e| matches!(e.kind, ErrorKind::Schema | ErrorKind::Reference))
                .map(|e| e.message.as_str())
                .collect();
            for m in &messages {
                assert!(
                    EXPRESSIBLE
                        .iter()
                        .chain(NOT_EXPRESSIBLE)
                        .any(|p| m.contains(p)),
                    "{path}: an error neither list names: {m}"
                );
            }
            if !messages
                .iter()
                .any(|m| EXPRESSIBLE.iter().any(|p| m.contains(p)))
            {
                continue;
            }
            refused += 1;
            assert!(
                v.validate(kind_of(role), &files[&path]).is_err(),
                "{path}: `check` says {messages:?}, the schema accepts it"
            );
        }
    }
    // Corpus files 05–18 but the duplicate step id, 23–26, and REFUSED.
    assert!(
        refused >= 17 + REFUSED.len(),
        "only {refused} files refused"
    );
}

#[tokio::test]
async fn serve_serves_each_schema() {
    let fed = Fed::start(served::repo(16), 64).await;
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    for kind in SchemaKind::ALL {
        let path = SCHEMA.replace("{kind}", kind.as_str());
        let r = server.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/schema+json"));
        assert_eq!(r.body, schema_text(kind));
    }
    for path in ["/api/v1/schemas/nope.json", "/api/v1/schemas/workflow"] {
        let r = server.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["code"], "schema_not_found");
    }
    server.stop().await;
    fed.shutdown.cancel();
}
