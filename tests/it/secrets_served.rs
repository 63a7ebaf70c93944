//! End to end through the real `qa-reload serve` at `RUST_LOG=trace`:
//! secrets planted in many shapes (multi-line block and quoted scalars,
//! a line without a separator, a misspelt key, a wrong tag, URL userinfo, a
//! `${VAR}` holding a URL) and a Jira stand-in on loopback that echoes the
//! token back raw, in other case, URL-encoded and base64-encoded. Every
//! frame, every route and the process's whole log are scanned for every
//! form of every planted secret; and what is not secret (a `${NAME}`
//! reference, a checklist item that mentions a password) still shows.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::served::{self, Conn, GUARD};
use crate::util::{TestRepo, secret_forms};

const TOKEN: &str = "QzJiraTok+en/7731x";
const USERINFO: &str = "QzUserPw4512x";
const BLOCK_A: [&str; 2] = ["QzBlockOne8841", "QzBlockTwo9932"];
const BLOCK_B: [&str; 2] = ["QzBlockThree7723", "QzBlockFour6614"];
const QUOTED: [&str; 2] = ["QzQuotedOne5521", "QzQuotedTwo4412"];
const NO_SEPARATOR: &str = "QzNoColon3301x";
const MISSPELT: &str = "QzMisspelt2290x";
const WRONG_TAG: &str = "QzWrongTag1189x";
const URL_HOST: &str = "qz-tenant-host-e2e";

fn planted() -> Vec<&'static str> {
    let mut all = vec![TOKEN, USERINFO, NO_SEPARATOR, MISSPELT, WRONG_TAG, URL_HOST];
    all.extend(BLOCK_A);
    all.extend(BLOCK_B);
    all.extend(QUOTED);
    all
}

fn assert_hidden(what: &str, text: &str) {
    let lower = text.to_lowercase();
    for secret in planted() {
        for form in secret_forms(secret) {
            assert!(
                !lower.contains(&form.to_lowercase()),
                "`{form}` (a form of a planted secret) shows in {what}:\n{text}"
            );
        }
    }
}

/// A Jira stand-in that refuses every request and echoes the token in
/// several encodings, and the Authorization header it got.
async fn echoing_jira() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut auth = String::new();
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        auth = line.trim_end().to_string();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let body = format!(
                    r#"{{"message":"rejected","got":"{auth}","echo":"{}"}}"#,
                    secret_forms(TOKEN).join(" ")
                );
                let head = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let out = stream.get_mut();
                let _ = out.write_all(head.as_bytes()).await;
                let _ = out.write_all(body.as_bytes()).await;
            });
        }
    });
    addr
}

fn jira(addr: SocketAddr, token_line: &str) -> String {
    format!(
        "enabled: true\nbase_url: http://{addr}\nemail: qa@example.com\n{token_line}\nproject_key: QA\ntimeout_ms: 3000\n"
    )
}

fn testmo(block: [&str; 2]) -> String {
    format!(
        "enabled: false\nbase_url: https://admin:{USERINFO}@testmo.example.com\napi_token: |\n  {}\n  {}\nproject_id: 7\n",
        block[0], block[1]
    )
}

fn postman(api_key_lines: &str) -> String {
    format!("enabled: false\nbase_url: ${{POSTMAN_URL_E2E}}\n{api_key_lines}\nworkspace_id: ws-1\n")
}

const WORKFLOW: &str = "name: Login\ndescription: reads ${NOT_A_SECRET_NAME}\nsteps:\n  - id: reset\n    name: Reset\n    estimated_minutes: 5\n    checklist:\n      - \"password: reset link works\"\n";

/// Reads frames until one with `type` `reload` at a revision above `after`;
/// returns it (every frame read is kept in `seen`).
async fn reload_after(ws: &mut served::Ws, after: u64, seen: &mut Vec<String>) -> Value {
    loop {
        let frame = served::next_frame(ws).await;
        seen.push(frame.to_string());
        if frame["type"] == "reload" && frame["revision"].as_u64().unwrap_or(0) > after {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_show_in_frames_routes_or_the_trace_log() {
    let jira_addr = echoing_jira().await;
    let repo = TestRepo::new();
    let token_ref = "api_token: ${JIRA_TOKEN_E2E}";
    repo.commit(
        &[
            ("config/jira_config.yaml", &jira(jira_addr, token_ref)),
            ("config/testmo_config.yaml", &testmo(BLOCK_A)),
            (
                "config/postman_config.yaml",
                &postman(&format!("api_key: \"{}\n  {}\"", QUOTED[0], QUOTED[1])),
            ),
            ("workflows/login.yaml", WORKFLOW),
        ],
        "initial",
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_qa-reload"))
        .args(["serve", "--bind", "127.0.0.1:0", "--repo"])
        .arg(&repo.root)
        .env("RUST_LOG", "trace")
        .env("JIRA_TOKEN_E2E", TOKEN)
        .env("POSTMAN_URL_E2E", format!("https://{URL_HOST}.invalid/api"))
        .env_remove("QA_RELOAD_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = Arc::clone(&log);
    let drain = tokio::spawn(async move {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(GUARD, stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line.split(" at ").nth(1).unwrap().to_owned();
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let mut ws = served::ws_connect(&format!("ws://{addr}/ws/hot-reload"), &[])
        .await
        .unwrap();
    let mut seen = Vec::new();
    let hello = served::next_frame(&mut ws).await;
    let snapshot = served::next_frame(&mut ws).await;
    seen.push(hello.to_string());
    seen.push(snapshot.to_string());
    let mut revision = hello["revision"].as_u64().unwrap();

    // Not over-masked: a checklist item that mentions a password and a
    // `${NAME}` in a workflow are shown as written.
    let shown = snapshot.to_string();
    assert!(shown.contains("password: reset link works"), "{shown}");
    assert!(shown.contains("${NOT_A_SECRET_NAME}"), "{shown}");

    let edits: Vec<(&str, String)> = vec![
        ("config/testmo_config.yaml", testmo(BLOCK_B)),
        (
            "config/postman_config.yaml",
            postman(&format!("api_key {NO_SEPARATOR}")),
        ),
        (
            "workflows/login.yaml",
            format!("{WORKFLOW}api_tokn: {MISSPELT}\n"),
        ),
        (
            "config/jira_config.yaml",
            jira(jira_addr, &format!("api_token: !!int {WRONG_TAG}")),
        ),
        (
            "workflows/login.yaml",
            WORKFLOW.replace("reset link works", "reset link still works"),
        ),
        (
            "config/jira_config.yaml",
            jira(jira_addr, token_ref).replace("project_key: QA", "project_key: QB"),
        ),
    ];
    let mut frames = Vec::new();
    for (path, text) in &edits {
        repo.write(path, text);
        let frame = reload_after(&mut ws, revision, &mut seen).await;
        revision = frame["revision"].as_u64().unwrap();
        frames.push(frame);
    }
    // The broken files are reported, with their excerpts masked.
    let errors = frames[3]["errors"].to_string();
    assert!(errors.contains("postman_config.yaml"), "{errors}");
    assert!(errors.contains("api_tokn: ••••••"), "{errors}");
    // The text diff of the workflow keeps the quotes around the checklist
    // item, and the `${NAME}` reference of the token is shown as written.
    let workflow_diff = frames[4]["patches"].to_string();
    assert!(
        workflow_diff.contains(r#"\"password: reset link still works\""#),
        "{workflow_diff}"
    );
    let jira_diff = frames[5]["patches"].to_string();
    assert!(jira_diff.contains("${JIRA_TOKEN_E2E}"), "{jira_diff}");

    // Every route, after the connection test has failed against the echo.
    let mut conn = Conn::open(addr).await;
    let mut bodies = Vec::new();
    let test = conn
        .request("POST", "/api/v1/integrations/jira/test", &[])
        .await;
    bodies.push(test.body.clone());
    for _ in 0..100 {
        let r = conn.request("GET", "/api/v1/integrations", &[]).await;
        let failed = r.body.contains("\"failed\"");
        bodies.push(r.body);
        if failed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        bodies.last().unwrap().contains("HTTP 401"),
        "{:?}",
        bodies.last()
    );
    let events = format!(
        "/api/v1/dev/hot-reload/events?since=1&instance={}",
        hello["instance"].as_str().unwrap()
    );
    for (method, path) in [
        ("GET", "/api/v1/dev/hot-reload/status"),
        ("GET", "/api/v1/dev/hot-reload/status?errors=all"),
        ("GET", events.as_str()),
        ("GET", "/api/v1/workflows"),
        ("GET", "/api/v1/workflows/login"),
        ("GET", "/api/v1/integrations"),
        ("GET", "/api/openapi.json"),
        ("GET", "/metrics"),
        ("POST", "/api/v1/dev/hot-reload/reload"),
        ("POST", "/api/v1/workflows/login/runs"),
        ("GET", "/"),
    ] {
        let response = conn.request(method, path, &[]).await;
        assert!(
            response.status < 300,
            "{method} {path}: {}",
            response.status
        );
        bodies.push(response.body);
    }
    served::close(ws).await;

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    tokio::time::timeout(GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(GUARD, drain).await.unwrap().unwrap();
    let log = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();

    assert!(log.contains("TRACE"), "the log ran at trace level");
    for (i, frame) in seen.iter().enumerate() {
        assert_hidden(&format!("frame {i}"), frame);
    }
    for (i, body) in bodies.iter().enumerate() {
        assert_hidden(&format!("response {i}"), body);
    }
    assert_hidden("the log", &log);
}

/// Every body `serve` answers about its workflows, and every event frame
/// since the start, as text.
async fn served_bodies(server: &served::Server, instance: &str, ids: &[&str]) -> Vec<String> {
    let mut paths = vec![
        "/api/v1/workflows".to_string(),
        "/api/v1/dev/hot-reload/status?errors=all".to_string(),
        format!("/api/v1/dev/hot-reload/events?since=1&instance={instance}"),
    ];
    paths.extend(ids.iter().map(|id| format!("/api/v1/workflows/{id}")));
    let mut bodies = Vec::new();
    for path in paths {
        let r = server.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        bodies.push(r.body);
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_secret_quoted_in_a_workflow_is_masked_in_everything_serve_sends() {
    use qa_reload::api::WsConfig;
    use served::{Fed, SECRETS, Server};

    // The Jira token is a literal (SECRETS[1]); the Postman key is read
    // from the environment (SECRETS[0]).
    let mut fed = Fed::start(served::repo(64), 64).await;
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let instance = fed.engine.instance().to_string();
    let quoting = format!(
        "name: Quoting\ndescription: call with {} or {}\nsteps:\n  - id: a\n    name: use {}\n    estimated_minutes: 1\n    checklist:\n      - \"{}\"\n",
        SECRETS[1], SECRETS[0], SECRETS[1], SECRETS[0]
    );
    let added = fed.change(&[("workflows/quoting.yaml", &quoting)]).await;
    assert!(added.patches.iter().any(|p| p.id == "quoting"));
    let edited = quoting.replace("estimated_minutes: 1", "estimated_minutes: 2");
    fed.change(&[("workflows/quoting.yaml", &edited)]).await;
    // Broken on the line that quotes the token: the excerpt is masked.
    let broken = edited.replace("name: use ", "name: [use ");
    let failed = fed.change(&[("workflows/quoting.yaml", &broken)]).await;
    assert!(
        failed
            .errors
            .iter()
            .any(|e| e.file == "workflows/quoting.yaml"),
        "{:?}",
        failed.errors
    );
    let shown = served_bodies(&server, &instance, &["quoting"]).await;
    for body in &shown {
        served::assert_no_secret(body);
    }
    let one = server.get("/api/v1/workflows/quoting").await.body;
    assert!(
        one.contains("call with ••••••"),
        "masked, not dropped: {one}"
    );
    let status = &shown[1];
    assert!(status.contains("\"excerpt\""), "{status}");

    // A value that is no secret yet is shown; once the Jira token becomes
    // that value, the workflow quoting it is masked at once, by a patch.
    const ROTATED: &str = "rotated-tok-9913";
    let plain = format!(
        "name: Later\ndescription: see {ROTATED}\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 1\n"
    );
    fed.change(&[("workflows/later.yaml", &plain)]).await;
    let before = server.get("/api/v1/workflows/later").await.body;
    assert!(before.contains(ROTATED), "not a secret yet: {before}");
    let rotated = fed
        .change(&[("config/jira_config.yaml", &served::jira_config(ROTATED))])
        .await;
    assert!(
        rotated.patches.iter().any(|p| p.id == "later"),
        "the workflow quoting the new token is patched: {:?}",
        rotated.patches.iter().map(|p| &p.id).collect::<Vec<_>>()
    );
    let after = server.get("/api/v1/workflows/later").await.body;
    assert!(!after.contains(ROTATED), "{after}");
    assert!(after.contains("see ••••••"), "{after}");
    let latest = server
        .get(&format!(
            "/api/v1/dev/hot-reload/events?since={}&instance={instance}",
            rotated.revision - 1
        ))
        .await
        .body;
    assert!(latest.contains("later"), "{latest}");
    assert!(!latest.contains(ROTATED), "{latest}");
    server.stop().await;
}
