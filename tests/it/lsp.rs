//! `qa-reload lsp` driven in process over `Connection::memory()`: the
//! diagnostics are `check`'s, on unsaved buffers and across files; every
//! request answers; bad input is answered or ignored, never fatal. The
//! binary itself is driven over stdio at the end.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use qa_reload::lsp::{self, Exit};
use serde_json::{Value, json};

const STEP_JIRA: &str =
    "name: W\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 5\n    integration: jira\n";
const JIRA: &str =
    "enabled: false\nbase_url: https://user:pw@jira.example/\nemail: a@b.c\napi_token: t0ps3cret\n";

/// A response, split.
struct Reply {
    result: Option<Value>,
    error: Option<lsp_server::ResponseError>,
}

/// A client on one end of an in-memory connection; the server runs on a
/// thread on the other.
struct Client {
    conn: Connection,
    server: Option<std::thread::JoinHandle<Exit>>,
    root: std::path::PathBuf,
    next: i32,
    /// Notifications received while waiting for something else.
    pending: Vec<Notification>,
}

fn uri(root: &Path, rel: &str) -> String {
    url::Url::from_file_path(root.join(rel))
        .unwrap()
        .to_string()
}

impl Client {
    fn start(root: &Path, capabilities: Value) -> (Client, Value) {
        let root = std::fs::canonicalize(root).unwrap();
        let (client, server) = Connection::memory();
        let repo = root.clone();
        let handle = std::thread::spawn(move || lsp::run(&server, &repo));
        let mut c = Client {
            conn: client,
            server: Some(handle),
            root,
            next: 0,
            pending: Vec::new(),
        };
        let init = c.request(
            "initialize",
            json!({
                "capabilities": capabilities,
                "rootUri": uri(&c.root, ""),
            }),
        );
        c.notify("initialized", json!({}));
        (c, init.result.unwrap())
    }

    fn uri(&self, rel: &str) -> String {
        uri(&self.root, rel)
    }

    fn notify(&self, method: &str, params: Value) {
        self.conn
            .sender
            .send(Notification::new(method.into(), params).into())
            .unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Reply {
        self.next += 1;
        let id = RequestId::from(self.next);
        self.conn
            .sender
            .send(Request::new(id.clone(), method.into(), params).into())
            .unwrap();
        loop {
            match self.recv() {
                Message::Response(r) if r.id == id => {
                    let (result, error) = match r.response_result {
                        Ok(v) => (Some(v), None),
                        Err(e) => (None, Some(e)),
                    };
                    return Reply { result, error };
                }
                Message::Notification(n) => self.pending.push(n),
                _ => {}
            }
        }
    }

    fn recv(&self) -> Message {
        self.conn
            .receiver
            .recv_timeout(Duration::from_secs(20))
            .expect("a message from the server")
    }

    fn result(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params);
        r.result
            .unwrap_or_else(|| panic!("{method} failed: {:?}", r.error))
    }

    /// The next diagnostics published for `rel`.
    fn diagnostics(&mut self, rel: &str) -> Vec<Value> {
        let uri = self.uri(rel);
        let is_it = |n: &Notification| {
            n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri.as_str()
        };
        if let Some(i) = self.pending.iter().position(is_it) {
            let n = self.pending.remove(i);
            return n.params["diagnostics"].as_array().unwrap().clone();
        }
        loop {
            match self.recv() {
                Message::Notification(n) if is_it(&n) => {
                    return n.params["diagnostics"].as_array().unwrap().clone();
                }
                Message::Notification(n) => self.pending.push(n),
                _ => {}
            }
        }
    }

    fn messages(diagnostics: &[Value]) -> Vec<String> {
        diagnostics
            .iter()
            .map(|d| d["message"].as_str().unwrap().to_string())
            .collect()
    }

    fn open(&self, rel: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": self.uri(rel), "languageId": "yaml", "version": 1, "text": text}}),
        );
    }

    fn change(&self, rel: &str, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": self.uri(rel), "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    fn at(&self, rel: &str, line: u32, character: u32) -> Value {
        json!({"textDocument": {"uri": self.uri(rel)}, "position": {"line": line, "character": character}})
    }

    fn shutdown(mut self) -> Exit {
        let r = self.request("shutdown", Value::Null);
        assert!(r.error.is_none());
        self.notify("exit", Value::Null);
        self.server.take().unwrap().join().unwrap()
    }
}

fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    dir
}

/// `file:line:col: kind: message` of each published diagnostic, as
/// `check` prints them (columns in characters: the client asks for UTF-32).
fn as_check_lines(rel: &str, diagnostics: &[Value]) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d["severity"] != 3)
        .map(|d| {
            let kind = d["code"].as_str().unwrap();
            let kind = if d["severity"] == 2 {
                format!("warning ({kind})")
            } else {
                kind.to_string()
            };
            format!(
                "{rel}:{}:{}: {kind}: {}",
                d["range"]["start"]["line"].as_u64().unwrap() + 1,
                d["range"]["start"]["character"].as_u64().unwrap() + 1,
                d["message"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn diagnostics_at_startup_are_exactly_what_check_prints() {
    let files = [
        (
            "workflows/a.yaml",
            "id: x\nname: A\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 5\n",
        ),
        (
            "workflows/b.yaml",
            "id: x\nname: B\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 5\n",
        ),
        (
            "workflows/c.yaml",
            "name: \"é😀\"\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: \"10\"\n    nmae: typo\n",
        ),
        ("workflows/d.yaml", STEP_JIRA),
        ("workflows/e.yaml", "name: [unclosed\n"),
        (
            "config/postman_config.yaml",
            "enabled: true\nbase_url: ftp://x\napi_key: ${QA_RELOAD_LSP_UNSET}\n",
        ),
    ];
    let dir = repo(&files);
    let (_, check) = crate::cli::check(dir.path(), qa_reload::cli::Format::Text);
    let expected: Vec<&str> = check
        .lines()
        .filter(|l| !l.starts_with("checked "))
        .collect();
    assert!(expected.len() >= 6, "{check}");

    let (mut c, init) = Client::start(
        dir.path(),
        json!({"general": {"positionEncodings": ["utf-32", "utf-16"]}}),
    );
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-32");
    let mut got = Vec::new();
    for (rel, _) in files {
        if rel == "workflows/a.yaml" {
            continue; // it serves `x`: nothing of check's to report
        }
        got.extend(as_check_lines(rel, &c.diagnostics(rel)));
    }
    got.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(c.shutdown(), Exit::Clean);
}

#[test]
fn diagnostics_carry_severity_code_source_and_where_the_rule_is_written() {
    let dir = repo(&[("workflows/a.yaml", "name: A\nsteps: []\nextra: 1\n")]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    let d = c.diagnostics("workflows/a.yaml");
    let unknown = d
        .iter()
        .find(|d| {
            d["message"]
                .as_str()
                .unwrap()
                .contains("unknown key `extra`")
        })
        .unwrap();
    assert_eq!(unknown["severity"], 1);
    assert_eq!(unknown["code"], "schema");
    assert_eq!(unknown["source"], "qa-reload");
    let href = unknown["codeDescription"]["href"].as_str().unwrap();
    assert!(href.ends_with("docs/errors.md#schema"), "{href}");
    let path = url::Url::parse(href).unwrap().to_file_path().unwrap();
    let doc = std::fs::read_to_string(path).unwrap();
    assert!(doc.contains("## schema"));
    assert_eq!(
        unknown["range"],
        json!({"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 5}})
    );
    c.shutdown();
}

#[test]
fn an_unsaved_config_clears_not_configured_in_every_workflow_using_it() {
    let dir = repo(&[
        ("workflows/a.yaml", STEP_JIRA),
        ("workflows/b.yaml", STEP_JIRA),
        (
            "workflows/c.yaml",
            "name: C\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 5\n",
        ),
    ]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    for rel in ["workflows/a.yaml", "workflows/b.yaml"] {
        let m = Client::messages(&c.diagnostics(rel));
        assert_eq!(
            m,
            [
                "step `s` uses integration `jira`, which is not configured; add config/jira_config.yaml"
            ]
        );
    }
    // Typed into a new buffer, never saved.
    c.open("config/jira_config.yaml", JIRA);
    assert!(c.diagnostics("workflows/a.yaml").is_empty());
    assert!(c.diagnostics("workflows/b.yaml").is_empty());
    // Broken on its own, it still exists: the references stay good, the
    // config file reports its own error.
    c.change("config/jira_config.yaml", 2, "enabled: maybe\n");
    let own = Client::messages(&c.diagnostics("config/jira_config.yaml"));
    assert!(own.iter().any(|m| m.contains("`enabled`")), "{own:?}");
    // Closed without saving: the disk has no such file again.
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": c.uri("config/jira_config.yaml")}}),
    );
    assert_eq!(c.diagnostics("workflows/a.yaml").len(), 1);
    assert_eq!(c.diagnostics("workflows/b.yaml").len(), 1);
    c.shutdown();
}

#[test]
fn an_unsaved_workflow_taking_another_files_id_flags_both() {
    let dir = repo(&[(
        "workflows/a.yaml",
        "id: login\nname: A\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 5\n",
    )]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    c.open(
        "workflows/b.yaml",
        "id: other\nname: B\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 5\n",
    );
    c.change(
        "workflows/b.yaml",
        2,
        "id: login\nname: B\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 5\n",
    );
    let b = c.diagnostics("workflows/b.yaml");
    assert_eq!(
        Client::messages(&b),
        ["workflow id `login` is already used by workflows/a.yaml; ids must be unique"]
    );
    assert_eq!(
        b[0]["relatedInformation"][0]["location"]["uri"],
        c.uri("workflows/a.yaml")
    );
    let a = c.diagnostics("workflows/a.yaml");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["severity"], 3);
    assert!(
        a[0]["message"]
            .as_str()
            .unwrap()
            .contains("workflows/b.yaml")
    );
    // Go to definition on the id: the other file.
    let def = c.result("textDocument/definition", c.at("workflows/b.yaml", 0, 5));
    assert_eq!(def[0]["uri"], c.uri("workflows/a.yaml"));
    // Back to its own id: both clear.
    c.change(
        "workflows/b.yaml",
        3,
        "id: other\nname: B\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 5\n",
    );
    assert!(c.diagnostics("workflows/b.yaml").is_empty());
    assert!(c.diagnostics("workflows/a.yaml").is_empty());
    c.shutdown();
}

#[test]
fn changes_on_disk_are_followed_through_watched_file_events() {
    let dir = repo(&[("workflows/a.yaml", STEP_JIRA)]);
    let (mut c, init) = Client::start(
        dir.path(),
        json!({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}}),
    );
    assert!(init["capabilities"]["textDocumentSync"] == 1);
    assert_eq!(c.diagnostics("workflows/a.yaml").len(), 1);
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/jira_config.yaml"), JIRA).unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": c.uri("config/jira_config.yaml"), "type": 1}]}),
    );
    assert!(c.diagnostics("workflows/a.yaml").is_empty());
    // A folder event (a branch switch) rereads the whole disk.
    std::fs::remove_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("workflows/b.yaml"), "name: [\n").unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": c.uri("config"), "type": 3}]}),
    );
    assert_eq!(c.diagnostics("workflows/a.yaml").len(), 1);
    assert_eq!(c.diagnostics("workflows/b.yaml")[0]["code"], "syntax");
    c.shutdown();
}

#[test]
fn columns_follow_the_negotiated_encoding_on_non_ascii_lines() {
    let text = "name: W\ndescription: \"é😀\"\nsteps:\n  - {id: s, name: \"😀😀\", estimated_minutes: 0}\n";
    for (offer, enc, col) in [
        (json!(null), "utf-16", 45),
        (json!(["utf-8"]), "utf-8", 49),
        (json!(["utf-32", "utf-8"]), "utf-32", 43),
    ] {
        let dir = repo(&[]);
        let caps = if offer.is_null() {
            json!({})
        } else {
            json!({"general": {"positionEncodings": offer}})
        };
        let (mut c, init) = Client::start(dir.path(), caps);
        assert_eq!(init["capabilities"]["positionEncoding"], enc);
        c.open("workflows/w.yaml", text);
        let d = c.diagnostics("workflows/w.yaml");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0]["message"]
                .as_str()
                .unwrap()
                .contains("estimated_minutes")
        );
        assert_eq!(
            d[0]["range"]["start"],
            json!({"line": 3, "character": col}),
            "{enc}"
        );
        c.shutdown();
    }
}

#[test]
fn hover_shows_key_texts_totals_and_the_integration_masked() {
    let dir = repo(&[
        (
            "workflows/a.yaml",
            "name: A\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 5\n    integration: jira\n  - id: t\n    name: T\n    estimated_minutes: 7\n",
        ),
        ("config/jira_config.yaml", JIRA),
    ]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    let text = std::fs::read_to_string(dir.path().join("workflows/a.yaml")).unwrap();
    c.open("workflows/a.yaml", &text);
    let h = c.result("textDocument/hover", c.at("workflows/a.yaml", 4, 6));
    let v = h["contents"]["value"].as_str().unwrap();
    assert!(v.contains("How long the step usually takes"), "{v}");
    let h = c.result("textDocument/hover", c.at("workflows/a.yaml", 1, 1));
    let v = h["contents"]["value"].as_str().unwrap();
    assert!(v.contains("2 steps, 12 minutes estimated in total"), "{v}");
    let h = c.result("textDocument/hover", c.at("workflows/a.yaml", 5, 19));
    let v = h["contents"]["value"].as_str().unwrap();
    assert!(
        v.contains("jira.example") && v.contains("config/jira_config.yaml"),
        "{v}"
    );
    assert!(
        !v.contains("pw@") && v.contains('•'),
        "userinfo masked: {v}"
    );
    // Out of range: no answer, no failure.
    let h = c.request("textDocument/hover", c.at("workflows/a.yaml", 999, 999));
    assert!(h.error.is_none());
    c.shutdown();
}

#[test]
fn completion_offers_keys_values_and_configured_integrations() {
    let dir = repo(&[(
        "config/testmo_config.yaml",
        "enabled: false\nbase_url: https://t.example\napi_token: x\n",
    )]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    c.open(
        "workflows/a.yaml",
        "name: A\nsteps:\n  - id: s\n    name: S\n    \n    integration: \n",
    );
    let labels = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    let keys = c.result("textDocument/completion", c.at("workflows/a.yaml", 4, 4));
    assert_eq!(labels(&keys), ["estimated_minutes", "checklist"]);
    let top = c.result("textDocument/completion", c.at("workflows/a.yaml", 0, 0));
    // On `name` itself: every key the line could hold.
    assert_eq!(labels(&top), ["id", "name", "description", "ticket_types"]);
    let ids = c.result("textDocument/completion", c.at("workflows/a.yaml", 5, 17));
    assert_eq!(labels(&ids), ["testmo"]);
    c.open("config/testmo_config.yaml", "enabled: \n");
    let bools = c.result(
        "textDocument/completion",
        c.at("config/testmo_config.yaml", 0, 9),
    );
    assert_eq!(labels(&bools), ["true", "false"]);
    c.shutdown();
}

#[test]
fn definition_and_references_join_steps_and_integration_configs() {
    let dir = repo(&[
        ("workflows/a.yaml", STEP_JIRA),
        ("workflows/b.yaml", STEP_JIRA),
        ("config/jira_config.yaml", JIRA),
    ]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    c.open("workflows/a.yaml", STEP_JIRA);
    let def = c.result("textDocument/definition", c.at("workflows/a.yaml", 5, 18));
    assert_eq!(def["uri"], c.uri("config/jira_config.yaml"));
    let mut at = c.at("config/jira_config.yaml", 0, 0);
    at["context"] = json!({"includeDeclaration": true});
    let refs = c.result("textDocument/references", at);
    let mut files: Vec<&str> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["uri"].as_str().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [c.uri("workflows/a.yaml"), c.uri("workflows/b.yaml")]
    );
    assert_eq!(
        refs[0]["range"]["start"],
        json!({"line": 5, "character": 17})
    );
    c.shutdown();
}

#[test]
fn symbols_list_the_workflow_and_its_steps() {
    let dir = repo(&[]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    c.open("workflows/w.yaml", "id: w\nname: W\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 1\n  - id: b\n    name: B\n    estimated_minutes: 1\n");
    let s = c.result(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": c.uri("workflows/w.yaml")}}),
    );
    assert_eq!(s[0]["name"], "w");
    let steps: Vec<&str> = s[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["a", "b"]);
    assert_eq!(s[0]["children"][1]["range"]["start"]["line"], 6);
    c.shutdown();
}

#[test]
fn code_actions_apply_the_fixes_check_suggests() {
    let dir = repo(&[]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    let text = "name: W\nsteps:\n  - id: s\n    name: S\n    estimated_minuts: 1\n  - id: t\n    name: T\n    estimated_minutes: \"10\"\n    integration: postman\n";
    c.open("workflows/w.yaml", text);
    let d = c.diagnostics("workflows/w.yaml");
    // The typo, the key it leaves missing, the quoted number.
    assert_eq!(d.len(), 3, "{d:?}");
    let params = json!({
        "textDocument": {"uri": c.uri("workflows/w.yaml")},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}},
        "context": {"diagnostics": d},
    });
    let actions = c.result("textDocument/codeAction", params);
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["Change to `estimated_minutes`", "Remove the quotes from 10"]
    );
    let edit = &actions[1]["edit"]["changes"][c.uri("workflows/w.yaml")][0];
    assert_eq!(edit["newText"], "10");
    assert_eq!(edit["range"]["start"], json!({"line": 7, "character": 23}));
    assert_eq!(edit["range"]["end"], json!({"line": 7, "character": 27}));
    // Fixed, the reference error shows and offers the example config.
    c.change(
        "workflows/w.yaml",
        2,
        &text.replace("minuts", "minutes").replace("\"10\"", "10"),
    );
    let d = c.diagnostics("workflows/w.yaml");
    assert_eq!(d.len(), 1);
    let params = json!({
        "textDocument": {"uri": c.uri("workflows/w.yaml")},
        "range": d[0]["range"],
        "context": {"diagnostics": d},
    });
    let actions = c.result("textDocument/codeAction", params);
    assert_eq!(
        actions[0]["title"],
        "Create config/postman_config.yaml from the example"
    );
    let ops = &actions[0]["edit"]["documentChanges"];
    assert_eq!(ops[0]["kind"], "create");
    assert_eq!(ops[0]["uri"], c.uri("config/postman_config.yaml"));
    assert!(
        ops[1]["edits"][0]["newText"]
            .as_str()
            .unwrap()
            .contains("api_key: ${")
    );
    c.shutdown();
}

#[test]
fn rename_changes_a_step_id_and_refuses_a_taken_or_invalid_one() {
    let dir = repo(&[]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    c.open("workflows/w.yaml", "name: W\nsteps:\n  - id: first\n    name: A\n    estimated_minutes: 1\n  - id: second\n    name: B\n    estimated_minutes: 1\n");
    let prep = c.result("textDocument/prepareRename", c.at("workflows/w.yaml", 2, 9));
    assert_eq!(prep["placeholder"], "first");
    let mut p = c.at("workflows/w.yaml", 2, 9);
    p["newName"] = json!("login");
    let edit = c.result("textDocument/rename", p.clone());
    let e = &edit["changes"][c.uri("workflows/w.yaml")][0];
    assert_eq!(e["newText"], "login");
    assert_eq!(
        e["range"],
        json!({"start": {"line": 2, "character": 8}, "end": {"line": 2, "character": 13}})
    );
    p["newName"] = json!("second");
    assert!(
        c.request("textDocument/rename", p.clone())
            .error
            .unwrap()
            .message
            .contains("already used")
    );
    p["newName"] = json!("Bad Id");
    assert!(c.request("textDocument/rename", p).error.is_some());
    c.shutdown();
}

#[test]
fn bad_requests_get_protocol_errors_and_the_server_goes_on() {
    let dir = repo(&[]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    let r = c.request("textDocument/nothingLikeThis", json!({}));
    assert_eq!(r.error.unwrap().code, -32601);
    let r = c.request("textDocument/hover", json!({"textDocument": 5}));
    assert_eq!(r.error.unwrap().code, -32602);
    // Ignored with a log line: a change to a file never opened, a bad
    // notification, an unknown one.
    c.change("workflows/never.yaml", 2, "name: [\n");
    c.notify("textDocument/didOpen", json!({"bogus": true}));
    c.notify("$/somethingElse", json!({}));
    let r = c.request(
        "textDocument/hover",
        c.at("workflows/never.yaml", u32::MAX, u32::MAX),
    );
    assert_eq!(r.result, Some(Value::Null));
    // A 50 MB buffer: check's size error, not a crash.
    let big = format!("name: W\ndescription: {}\n", "x".repeat(50 * 1024 * 1024));
    c.open("workflows/big.yaml", &big);
    let d = c.diagnostics("workflows/big.yaml");
    assert_eq!(d[0]["code"], "io");
    assert!(d[0]["message"].as_str().unwrap().contains("too large"));
    assert_eq!(c.shutdown(), Exit::Clean);
}

#[test]
fn the_loop_ends_when_the_input_closes_or_on_exit_without_shutdown() {
    let dir = repo(&[]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    let server = c.server.take().unwrap();
    drop(c);
    assert_eq!(server.join().unwrap(), Exit::Abrupt);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    c.notify("exit", Value::Null);
    assert_eq!(c.server.take().unwrap().join().unwrap(), Exit::Abrupt);
}

fn frame(body: &str) -> String {
    format!("Content-Length: {}\r\n\r\n{body}", body.len())
}

/// Reads one framed message from the binary's stdout.
fn read_message(out: &mut impl BufRead) -> Value {
    let mut length = 0;
    loop {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            length = n.parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    out.read_exact(&mut body).unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn the_binary_answers_malformed_frames_and_exits_cleanly_over_stdio() {
    let dir = repo(&[("workflows/a.yaml", "name: [\n")]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_qa-reload"))
        .args(["lsp", "--repo"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(frame("{oops").as_bytes()).unwrap();
    let err = read_message(&mut stdout);
    assert_eq!(err["error"]["code"], -32700);
    stdin
        .write_all(
            frame(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#)
                .as_bytes(),
        )
        .unwrap();
    let init = read_message(&mut stdout);
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["capabilities"]["positionEncoding"], "utf-16");
    stdin
        .write_all(frame(r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#).as_bytes())
        .unwrap();
    let published = read_message(&mut stdout);
    assert_eq!(published["method"], "textDocument/publishDiagnostics");
    assert_eq!(published["params"]["diagnostics"][0]["code"], "syntax");
    stdin
        .write_all(frame(r#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#).as_bytes())
        .unwrap();
    assert_eq!(read_message(&mut stdout)["id"], 2);
    stdin
        .write_all(frame(r#"{"jsonrpc":"2.0","method":"exit"}"#).as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());

    // Input closed without shutdown: it ends (exit code 1, as the protocol says).
    let mut child = Command::new(env!("CARGO_BIN_EXE_qa-reload"))
        .args(["lsp", "--repo"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    assert_eq!(child.wait().unwrap().code(), Some(1));
}

#[test]
fn a_config_token_echoed_in_another_files_message_is_masked_until_it_changes() {
    // A step id that happens to equal the Jira token: the duplicate-id
    // message quotes it.
    const TOKEN: &str = "tok-7731-live";
    let jira = format!(
        "enabled: false\nbase_url: https://jira.example.com\nemail: qa@example.com\napi_token: {TOKEN}\nproject_key: QA\n"
    );
    let twice = format!(
        "name: W\nsteps:\n  - id: {TOKEN}\n    name: A\n    estimated_minutes: 5\n  - id: {TOKEN}\n    name: B\n    estimated_minutes: 5\n"
    );
    let dir = repo(&[
        ("config/jira_config.yaml", &jira),
        ("workflows/w.yaml", &twice),
    ]);
    let (mut c, _) = Client::start(dir.path(), json!({}));
    let masked = Client::messages(&c.diagnostics("workflows/w.yaml"));
    assert_eq!(masked.len(), 1, "{masked:?}");
    assert!(!masked[0].contains(TOKEN), "{masked:?}");
    assert!(
        masked[0].contains("duplicate step id `••••••"),
        "{masked:?}"
    );
    // The token changes in an unsaved buffer: the old value is no secret
    // any more, and the workflow's diagnostics are published again.
    c.open(
        "config/jira_config.yaml",
        &jira.replace(TOKEN, "other-token-5512"),
    );
    let shown = Client::messages(&c.diagnostics("workflows/w.yaml"));
    assert!(
        shown
            .iter()
            .any(|m| m.contains(&format!("duplicate step id `{TOKEN}`"))),
        "{shown:?}"
    );
    c.shutdown();
}
