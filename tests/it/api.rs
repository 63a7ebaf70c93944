//! The HTTP API of docs/protocol.md: routes and their error cases, the manual
//! reload, events since N, metrics, OpenAPI, the request guards, `serve`'s
//! refusals, and whole-snapshot reads during 500 reloads. No response may
//! hold a secret (the client helpers check every body).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use qa_reload::api::security::Security;
use qa_reload::api::server::BindError;
use qa_reload::api::{self, AppState, WsConfig, routes};
use qa_reload::app::{self, Options, ServeError};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::served::{self, Conn, Fed, Server, assert_no_secret, workflow};

/// A request through the router alone, no socket.
async fn call(state: &AppState, method: &str, path: &str) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Body::empty())
        .unwrap();
    let response = api::router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert_no_secret(&text);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn state_of(fed: &Fed) -> AppState {
    let security = Security::new("127.0.0.1:7878".parse().unwrap(), None, &[]);
    AppState::new(fed.engine.clone(), security, CancellationToken::new())
        .with_runs(qa_reload::store::Runs::in_memory().unwrap())
}

fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert!(got.1["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_workflows_and_runs_answer_and_refuse_with_the_right_codes() {
    let mut fed = Fed::start(served::repo(256), 1024).await;
    let state = state_of(&fed);

    let (code, status) = call(&state, "GET", routes::STATUS).await;
    assert_eq!(code, 200);
    assert_eq!(status["revision"], 1);
    assert_eq!(status["git"], true);
    assert_eq!(status["head"]["branch"], "main");
    assert_eq!(status["last_reload"]["cause"], "startup");
    assert!(status["at"].as_str().unwrap().ends_with('Z'));
    for key in ["counts", "errors", "settings", "watcher"] {
        assert!(status.get(key).is_some(), "status lacks {key}");
    }

    let (code, list) = call(&state, "GET", routes::WORKFLOWS).await;
    assert_eq!(code, 200);
    let ids: Vec<_> = list["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].clone())
        .collect();
    assert_eq!(ids, ["other", "smoke"]);
    assert_eq!(list["workflows"][1]["file"], "workflows/smoke.yaml");
    assert_eq!(list["workflows"][1]["definition"]["name"], "Smoke");

    let (code, one) = call(&state, "GET", "/api/v1/workflows/smoke").await;
    assert_eq!((code, one["revision"].clone()), (200, Value::from(1)));
    assert_error(
        &call(&state, "GET", "/api/v1/workflows/nope").await,
        404,
        "workflow_not_found",
    );

    let (code, integrations) = call(&state, "GET", routes::INTEGRATIONS).await;
    assert_eq!(code, 200);
    let jira = &integrations["integrations"][0];
    assert_eq!(jira["id"], "jira");
    assert!(
        jira["config"]["api_token"]
            .as_str()
            .unwrap()
            .starts_with("••••••")
    );

    // Runs: start, read, complete, complete again, unknown step and run.
    assert_error(
        &call(&state, "POST", "/api/v1/workflows/nope/runs").await,
        404,
        "workflow_not_found",
    );
    let (code, run) = call(&state, "POST", "/api/v1/workflows/smoke/runs").await;
    assert_eq!(code, 201, "{run}");
    let run_id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(run["definition_status"]["state"], "current");
    let done = format!("/api/v1/runs/{run_id}/steps/first/complete");
    let (code, after) = call(&state, "POST", &done).await;
    assert_eq!(
        (code, after["completed"][0]["step"].clone()),
        (200, Value::from("first"))
    );
    assert_error(
        &call(&state, "POST", &done).await,
        409,
        "step_already_completed",
    );
    assert_error(
        &call(
            &state,
            "POST",
            &format!("/api/v1/runs/{run_id}/steps/zzz/complete"),
        )
        .await,
        404,
        "step_not_found",
    );
    assert_error(
        &call(&state, "GET", "/api/v1/runs/run-999").await,
        404,
        "run_not_found",
    );

    // The template changes; the run keeps its definition and says so.
    fed.change(&[("workflows/smoke.yaml", &workflow("Smoke v2", 11))])
        .await;
    let (code, run) = call(&state, "GET", &format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(code, 200);
    assert_eq!(run["definition"]["name"], "Smoke");
    assert_eq!(run["definition_status"]["state"], "newer");
    assert_eq!(run["definition_status"]["revision"], 2);

    // The list holds the runs in progress, with the same definition status
    // and the definition by reference (written once, under its hash); a
    // finished run leaves it.
    let in_progress = "/api/v1/runs?state=in_progress";
    let (code, list) = call(&state, "GET", in_progress).await;
    assert_eq!(code, 200);
    let listed: Vec<&Value> = list["runs"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["id"], Value::from(run_id.as_str()));
    assert_eq!(listed[0]["definition_status"]["state"], "newer");
    assert_eq!(listed[0]["completed"][0]["step"], "first");
    assert!(listed[0].get("definition").is_none(), "{list}");
    assert_eq!(list["definitions"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["definitions"][0]["hash"],
        listed[0]["definition_ref"]["hash"]
    );
    assert_eq!(list["definitions"][0]["definition"]["name"], "Smoke");
    assert_eq!(list["next_cursor"], Value::Null);
    let last = format!("/api/v1/runs/{run_id}/steps/second/complete");
    let (code, finished) = call(&state, "POST", &last).await;
    assert_eq!(
        (code, finished["finished"].clone()),
        (200, Value::from(true))
    );
    let (_, list) = call(&state, "GET", in_progress).await;
    assert_eq!(
        list["runs"],
        Value::Array(vec![]),
        "a finished run is not in progress"
    );
    let (_, list) = call(&state, "GET", "/api/v1/runs?state=finished").await;
    assert_eq!(list["runs"][0]["id"], Value::from(run_id.as_str()));
    assert!(list["runs"][0]["finished_at"].is_string(), "{list}");
    for bad in ["limit=0", "limit=501", "cursor=run-1", "state=done"] {
        let got = call(&state, "GET", &format!("/api/v1/runs?{bad}")).await;
        assert_eq!(got.0, 400, "{bad}: {}", got.1);
    }

    // Compare: the run's definition against the one in force, as a patch
    // named by step, like a reload's.
    let (code, compared) = call(&state, "GET", &format!("/api/v1/runs/{run_id}/compare")).await;
    assert_eq!(code, 200, "{compared}");
    assert_eq!(compared["definition_status"]["state"], "newer");
    assert_eq!(compared["patch"]["op"], "modified");
    let paths: Vec<&str> = compared["patch"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["name", "steps[id=first].estimated_minutes"],
        "{compared}"
    );
    let diff = compared["patch"]["diff"]["unified"].as_str().unwrap();
    assert!(
        diff.contains("-    estimated_minutes: 10\n+    estimated_minutes: 11"),
        "{diff}"
    );

    // Finish early, once; then no step can be completed. Discard deletes.
    let (_, trial) = call(&state, "POST", "/api/v1/workflows/smoke/runs").await;
    let trial_id = trial["id"].as_str().unwrap().to_owned();
    let (code, same) = call(&state, "GET", &format!("/api/v1/runs/{trial_id}/compare")).await;
    assert_eq!((code, same["patch"].clone()), (200, Value::Null), "{same}");
    let finish = format!("/api/v1/runs/{trial_id}/finish");
    let (code, ended) = call(&state, "POST", &finish).await;
    assert_eq!(code, 200, "{ended}");
    assert_eq!(ended["finished"], true);
    assert_eq!(ended["completed"], Value::Array(vec![]));
    assert_error(
        &call(&state, "POST", &finish).await,
        409,
        "run_already_finished",
    );
    assert_error(
        &call(
            &state,
            "POST",
            &format!("/api/v1/runs/{trial_id}/steps/first/complete"),
        )
        .await,
        409,
        "run_finished",
    );
    let one = format!("/api/v1/runs/{trial_id}");
    let (code, _) = call(&state, "DELETE", &one).await;
    assert_eq!(code, 204);
    assert_error(&call(&state, "GET", &one).await, 404, "run_not_found");
    assert_error(&call(&state, "DELETE", &one).await, 404, "run_not_found");
    assert_error(&call(&state, "POST", &finish).await, 404, "run_not_found");

    // Bad input and unknown routes are JSON errors too.
    assert_error(
        &call(&state, "GET", routes::EVENTS).await,
        400,
        "invalid_query",
    );
    assert_error(
        &call(&state, "GET", "/api/v1/dev/hot-reload/events?since=x").await,
        400,
        "invalid_query",
    );
    let instance = fed.engine.instance().to_owned();
    assert_error(
        &call(
            &state,
            "GET",
            &format!("/api/v1/dev/hot-reload/events?since=99&instance={instance}"),
        )
        .await,
        400,
        "revision_ahead",
    );
    assert_error(
        &call(&state, "GET", "/api/v1/nothing").await,
        404,
        "route_not_found",
    );
    assert_error(
        &call(&state, "DELETE", routes::WORKFLOWS).await,
        405,
        "method_not_allowed",
    );
    assert_error(
        &call(&state, "GET", routes::STREAM).await,
        400,
        "websocket_required",
    );
    fed.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_reload_and_events_since_follow_history() {
    let mut fed = Fed::start(served::repo(2), 1024).await;
    let state = state_of(&fed);

    let (code, unchanged) = call(&state, "POST", routes::RELOAD).await;
    assert_eq!(code, 200);
    assert_eq!(unchanged["changed"], false);
    assert_eq!(unchanged["revision"], 1);
    assert!(unchanged["event"].is_null());

    // A file written behind the engine's back is found by the manual rescan.
    fed.repo
        .write("workflows/smoke.yaml", &workflow("Smoke manual", 12));
    let (code, reloaded) = call(&state, "POST", routes::RELOAD).await;
    assert_eq!(code, 200);
    assert_eq!(reloaded["changed"], true);
    assert_eq!(reloaded["revision"], 2);
    assert_eq!(reloaded["event"]["cause"]["kind"], "manual");
    assert_eq!(reloaded["event"]["patches"][0]["id"], "smoke");

    let instance = fed.engine.instance().to_owned();
    let events_since = |since: u64| format!("{}?since={since}&instance={instance}", routes::EVENTS);
    let (code, events) = call(&state, "GET", &events_since(1)).await;
    assert_eq!(code, 200);
    assert_eq!(events["instance"], instance.as_str());
    assert_eq!(events["revision"], 2);
    assert_eq!(
        events["events"][0]["type"], "reload",
        "each item is the reload frame"
    );
    let revisions: Vec<_> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["revision"].clone())
        .collect();
    assert_eq!(revisions, [2]);
    let (_, none) = call(&state, "GET", &events_since(2)).await;
    assert_eq!(none["events"], Value::Array(vec![]));

    // History keeps 2: after two more revisions, revision 1's successors are gone.
    fed.change(&[("workflows/smoke.yaml", &workflow("Smoke 3", 13))])
        .await;
    fed.change(&[("workflows/smoke.yaml", &workflow("Smoke 4", 14))])
        .await;
    assert_error(
        &call(&state, "GET", &events_since(1)).await,
        410,
        "history_gone",
    );
    let (_, recent) = call(&state, "GET", &events_since(2)).await;
    let revisions: Vec<_> = recent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["revision"].clone())
        .collect();
    assert_eq!(revisions, [3, 4]);
    fed.shutdown.cancel();
}

/// The value of one sample line of a Prometheus text page.
fn sample(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing in\n{page}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_when_reloads_happen() {
    let mut fed = Fed::start(served::repo(256), 1024).await;
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let before = server.get(routes::METRICS).await;
    assert_eq!(before.status, 200);
    assert!(
        before
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let page = before.body;
    assert_eq!(sample(&page, "qa_reload_reloads_total{result=\"ok\"}"), 0.0);
    assert_eq!(
        sample(&page, "qa_reload_reload_duration_seconds_count"),
        0.0
    );
    assert_eq!(sample(&page, "qa_reload_websocket_clients"), 0.0);

    fed.change(&[("workflows/smoke.yaml", &workflow("Smoke m", 20))])
        .await;
    fed.change(&[("workflows/smoke.yaml", "name: [broken\n")])
        .await;
    let mut ws = served::ws_connect(&server.ws_url(""), &[]).await.unwrap();
    served::next_frame(&mut ws).await;
    let page = server.get(routes::METRICS).await.body;
    assert_eq!(sample(&page, "qa_reload_reloads_total{result=\"ok\"}"), 1.0);
    assert_eq!(
        sample(&page, "qa_reload_reloads_total{result=\"error\"}"),
        1.0
    );
    assert_eq!(sample(&page, "qa_reload_last_reload_success"), 0.0);
    assert!(sample(&page, "qa_reload_last_reload_timestamp_seconds") > 1.0e9);
    assert_eq!(
        sample(&page, "qa_reload_reload_duration_seconds_count"),
        2.0
    );
    assert_eq!(sample(&page, "qa_reload_websocket_clients"), 1.0);

    let reload = server.post(routes::RELOAD).await;
    assert_eq!(reload.status, 200);
    let page = server.get(routes::METRICS).await.body;
    assert_eq!(sample(&page, "qa_reload_rescans_total"), 1.0);
    assert_eq!(sample(&page, "qa_reload_noop_batches_total"), 1.0);
    served::close(ws).await;
    server.stop().await;
    fed.shutdown.cancel();
}

#[tokio::test]
async fn openapi_documents_every_route_and_the_frames() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let state = state_of(&fed);
    let (code, doc) = call(&state, "GET", routes::OPENAPI).await;
    assert_eq!(code, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let design = [
        ("get", "/"),
        ("get", routes::STATUS),
        ("post", routes::RELOAD),
        ("get", routes::EVENTS),
        ("get", routes::STREAM),
        ("get", routes::WORKFLOWS),
        ("get", routes::WORKFLOW),
        ("get", routes::INTEGRATIONS),
        ("post", routes::TEST_INTEGRATION),
        ("post", routes::START_RUN),
        ("get", routes::RUNS),
        ("get", routes::RUN),
        ("post", routes::COMPLETE_STEP),
        ("post", routes::FINISH_RUN),
        ("delete", routes::RUN),
        ("get", routes::COMPARE_RUN),
        ("get", routes::OPENAPI),
        ("get", routes::METRICS),
        ("get", qa_reload::api::schemas::SCHEMA),
        ("post", routes::HOOK),
        ("get", routes::HEALTHZ),
        ("get", routes::READYZ),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = design
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented, expected,
        "documented routes differ from docs/protocol.md (plus the integration test route of issue 6)"
    );
    // Every documented route is routed (answers something but route_not_found).
    for (method, path) in &expected {
        let concrete = path
            .replace("{id}", "x")
            .replace("{step}", "y")
            .replace("{kind}", "workflow");
        let (status, body) = call(&state, &method.to_uppercase(), &concrete).await;
        assert_ne!(
            body["code"], "route_not_found",
            "{method} {path} is not routed"
        );
        assert_ne!(status, 405, "{method} {path} is not routed for {method}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Frame",
        "HelloWire",
        "SnapshotWire",
        "EventWire",
        "PatchWire",
        "ConfigErrorWire",
        "ErrorBody",
        "IntegrationStatusWire",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    let frame = serde_json::to_string(&schemas["Frame"]).unwrap();
    for tag in ["hello", "snapshot", "reload", "integration_status"] {
        assert!(
            frame.contains(&format!("\"{tag}\"")),
            "Frame lacks {tag}: {frame}"
        );
    }
    fed.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_host_origin_and_missing_token_are_refused() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let open = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let mut conn = Conn::open(open.addr).await;

    let rebinding = conn
        .request("GET", routes::STATUS, &[("Host", "evil.example:7878")])
        .await;
    rebinding.assert_refused(403, "host_not_allowed");
    let ok = conn
        .request("GET", routes::STATUS, &[("Host", "localhost:7878")])
        .await;
    assert_eq!(ok.status, 200);
    let post = conn
        .request(
            "POST",
            routes::RELOAD,
            &[("Origin", "https://evil.example")],
        )
        .await;
    post.assert_refused(403, "origin_not_allowed");
    // A foreign page cannot discard or finish a run either.
    for (method, path) in [
        (
            "DELETE",
            "/api/v1/runs/0190ffff-0000-7000-8000-000000000000",
        ),
        (
            "POST",
            "/api/v1/runs/0190ffff-0000-7000-8000-000000000000/finish",
        ),
    ] {
        let refused = conn
            .request(method, path, &[("Origin", "https://evil.example")])
            .await;
        assert_eq!(
            (refused.status, refused.json()["code"].clone()),
            (403, Value::from("origin_not_allowed")),
            "{method} {path}"
        );
    }
    let hijack = served::ws_connect(&open.ws_url(""), &[("Origin", "https://evil.example")]).await;
    match hijack {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("a foreign Origin upgraded: {:?}", other.map(|_| ())),
    }
    let own = served::ws_connect(
        &open.ws_url(""),
        &[("Origin", &format!("http://{}", open.addr))],
    )
    .await;
    assert!(own.is_ok(), "the server's own origin was refused");
    open.stop().await;

    let token = "t0ken-for-tests";
    let locked = Server::start(fed.engine.clone(), Some(token), WsConfig::default()).await;
    let mut conn = Conn::open(locked.addr).await;
    let missing = conn.request("GET", routes::WORKFLOWS, &[]).await;
    missing.assert_refused(401, "token_required");
    let wrong = conn
        .request(
            "GET",
            routes::WORKFLOWS,
            &[("Authorization", "Bearer nope")],
        )
        .await;
    wrong.assert_refused(401, "token_invalid");
    let bearer = conn
        .request(
            "GET",
            routes::WORKFLOWS,
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(bearer.status, 200);
    assert!(!bearer.body.contains(token));
    let metrics = conn.request("GET", routes::METRICS, &[]).await;
    assert_eq!(metrics.status, 401);
    let page = conn.request("GET", "/", &[]).await;
    assert_eq!(page.status, 200);
    let script = conn.request("GET", "/hooks/client.js", &[]).await;
    assert_eq!(script.status, 200);
    match served::ws_connect(&locked.ws_url(""), &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("the stream opened without a token: {:?}", other.map(|_| ())),
    }
    let mut ws = served::ws_connect(&locked.ws_url(&format!("?token={token}")), &[])
        .await
        .unwrap();
    assert_eq!(served::next_frame(&mut ws).await["type"], "hello");
    served::close(ws).await;
    locked.stop().await;
    fed.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_network_bind_without_token_and_a_taken_port() {
    let repo = served::repo(256);
    let mut options = Options::new(&repo.root);
    options.bind = "0.0.0.0:0".parse().unwrap();
    match app::serve(options).await {
        Err(ServeError::Insecure(refusal)) => {
            assert!(refusal.to_string().contains("--token"), "{refusal}")
        }
        other => panic!("a network bind without a token was accepted: {other:?}"),
    }
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut options = Options::new(&repo.root);
    options.bind = taken.local_addr().unwrap();
    match app::serve(options).await {
        Err(ServeError::Bind(BindError::InUse { .. })) => {}
        other => panic!("a taken port was not reported as such: {other:?}"),
    }
}

#[test]
fn serve_binary_exits_2_with_one_line_when_the_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let repo = served::repo(256);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_qa-reload"))
        .args(["serve", "--repo"])
        .arg(&repo.root)
        .args(["--bind", &taken.local_addr().unwrap().to_string()])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: cannot listen on"), "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");
}

/// 200 readers loop on `GET /api/v1/workflows` while 500 revisions are
/// made. Each revision rewrites every workflow with the generation number
/// in its name, so a response mixing two revisions would show two
/// generations, or a generation that does not match its revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_during_500_reloads_see_whole_snapshots() {
    const READERS: usize = 200;
    const RELOADS: u64 = 500;
    const FILES: usize = 4;
    let repo = crate::util::TestRepo::new();
    let gen_workflow = |g: u64| {
        format!("name: gen {g}\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 1\n")
    };
    let files: Vec<(String, String)> = (0..FILES)
        .map(|i| (format!("workflows/w{i}.yaml"), gen_workflow(0)))
        .collect();
    repo.commit_made(&files, "generation 0");
    let mut fed = Fed::start(repo, 1024).await;
    let base = fed.engine.snapshot().revision;
    let server = Arc::new(Server::start(fed.engine.clone(), None, WsConfig::default()).await);
    let stop = CancellationToken::new();
    let checked = Arc::new(AtomicU64::new(0));
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..READERS {
        let (server, stop, checked) = (server.clone(), stop.clone(), checked.clone());
        readers.spawn(async move {
            let mut conn = Conn::open(server.addr).await;
            let mut seen = BTreeSet::new();
            loop {
                let response = conn.request("GET", routes::WORKFLOWS, &[]).await;
                assert_eq!(response.status, 200, "{}", response.body);
                let doc = response.json();
                let revision = doc["revision"].as_u64().unwrap();
                let generation = revision - base;
                let workflows = doc["workflows"].as_array().unwrap();
                assert_eq!(workflows.len(), FILES);
                for w in workflows {
                    assert_eq!(
                        w["definition"]["name"],
                        format!("gen {generation}"),
                        "revision {revision}: {doc}"
                    );
                    let applied_at = if generation == 0 { base } else { revision };
                    assert_eq!(w["revision"].as_u64(), Some(applied_at), "{doc}");
                }
                seen.insert(revision);
                checked.fetch_add(1, Ordering::Relaxed);
                if stop.is_cancelled() {
                    return seen.len();
                }
            }
        });
    }
    for g in 1..=RELOADS {
        let content = gen_workflow(g);
        let batch: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, _)| (p.as_str(), content.as_str()))
            .collect();
        let event = fed.change(&batch).await;
        assert_eq!(event.revision, base + g);
    }
    stop.cancel();
    let mut distinct = 0;
    while let Some(result) = readers.join_next().await {
        distinct += result.expect("a reader failed");
    }
    assert!(checked.load(Ordering::Relaxed) >= READERS as u64);
    assert!(
        distinct > READERS,
        "readers saw almost no revisions: {distinct}"
    );
    Arc::try_unwrap(server).ok().unwrap().stop().await;
    fed.shutdown.cancel();
}

/// `qa-reload serve` as a user runs it: prints the URL, serves, and on
/// SIGTERM closes its WebSocket clients and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_the_url_and_stops_gracefully_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let repo = served::repo(256);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_qa-reload"))
        .args(["serve", "--bind", "127.0.0.1:0", "--repo"])
        .arg(&repo.root)
        .env("RUST_LOG", "off")
        .env_remove("QA_RELOAD_TOKEN")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(served::GUARD, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line
        .split(" at ")
        .nth(1)
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let ws_url = format!("{}ws/hot-reload", url.replace("http://", "ws://"));
    let mut ws = served::ws_connect(&ws_url, &[]).await.unwrap();
    assert_eq!(served::next_frame(&mut ws).await["type"], "hello");
    served::next_frame(&mut ws).await;

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    // Integration statuses may still arrive first; then the close frame.
    let message = loop {
        let message = tokio::time::timeout(served::GUARD, futures_util::StreamExt::next(&mut ws))
            .await
            .unwrap();
        match &message {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                served::assert_no_secret(t);
            }
            // On a busy machine the test can outlive a ping interval.
            Some(Ok(
                tokio_tungstenite::tungstenite::Message::Ping(_)
                | tokio_tungstenite::tungstenite::Message::Pong(_),
            )) => {}
            _ => break message,
        }
    };
    assert!(
        matches!(
            message,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(_))))
        ),
        "{message:?}"
    );
    let status = tokio::time::timeout(served::GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A 404 echoed the id asked for whole: 60 KB of it, or a NUL and a
/// U+202E (right-to-left override) raw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_messages_echo_ids_cut_and_escaped() {
    let fed = Fed::start(served::repo(4), 64).await;
    let state = state_of(&fed);
    let long = "x".repeat(60_000);
    let hostile = "a%00b%E2%80%AEc%0A%3A%3Aerror";
    for (method, path) in [
        ("GET", format!("/api/v1/workflows/{long}")),
        ("POST", format!("/api/v1/workflows/{long}/runs")),
        ("GET", format!("/api/v1/runs/{long}")),
        ("POST", format!("/api/v1/runs/{long}/steps/login/complete")),
        ("POST", format!("/api/v1/integrations/{long}/test")),
        ("GET", format!("/api/v1/workflows/{hostile}")),
        ("GET", format!("/api/v1/runs/{hostile}")),
        ("POST", format!("/api/v1/integrations/{hostile}/test")),
    ] {
        let (status, body) = call(&state, method, &path).await;
        assert!(
            status == 404 || status == 400,
            "{method} {path:.60}: {status}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(
            message.chars().count() < 400,
            "{method} {path:.60}: {} characters",
            message.chars().count()
        );
        assert!(
            !message.chars().any(qa_reload::diagnostic::is_unprintable),
            "{method} {path:.60}: {message:?}"
        );
        if path.contains(hostile) {
            assert_eq!(status, 404, "{path}");
            assert!(message.contains(r"a\u{0}b\u{202e}c\n::error"), "{message}");
        }
    }
    fed.shutdown.cancel();
}
