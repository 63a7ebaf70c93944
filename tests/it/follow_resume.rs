//! Resumes named by commit (`since=<commit>`) against the real binary
//! following local bare remotes: a client holding an older commit's state
//! gets exactly the change to the commit served (workflows added, changed
//! and removed, an integration's secret changed and masked), and two
//! followers with their own data folders, one that followed the change
//! live and one started after it, answer the same; an unknown commit, a
//! commit newer than the one served and a state that a commit cannot
//! reach get a snapshot (WebSocket) or a 410 with its code (`/events`);
//! a working tree's server sends no `commit` and refuses commit resumes.

use std::collections::BTreeMap;
use std::time::Duration;

use ::json_patch as oracle;
use serde_json::Value;

use qa_reload::api::WsConfig;

use crate::follow::{Follower, Remote, SECRET, signed};
use crate::served::{self, Fed, Server, Ws, next_frame, ws_connect};

/// The first commit: `alpha` and `beta`, Jira with the first secret.
fn first_files() -> Vec<(&'static str, Option<String>)> {
    vec![
        ("workflows/alpha.yaml", Some(served::workflow("Alpha", 10))),
        ("workflows/beta.yaml", Some(served::workflow("Beta", 3))),
        (
            "config/jira_config.yaml",
            Some(served::jira_config(served::SECRETS[1])),
        ),
    ]
}

/// The second: `alpha` changed, `beta` removed, `gamma` added, Jira's
/// secret changed.
fn second_files() -> Vec<(&'static str, Option<String>)> {
    vec![
        ("workflows/alpha.yaml", Some(served::workflow("Alpha", 12))),
        ("workflows/beta.yaml", None),
        ("workflows/gamma.yaml", Some(served::workflow("Gamma", 7))),
        (
            "config/jira_config.yaml",
            Some(served::jira_config(served::SECRETS[2])),
        ),
    ]
}

fn borrowed<'a>(
    files: &'a [(&'static str, Option<String>)],
) -> Vec<(&'static str, Option<&'a str>)> {
    files.iter().map(|(p, t)| (*p, t.as_deref())).collect()
}

/// Asks `server` to fetch now, by a signed webhook.
async fn push_hook(server: &Follower, delivery: &str) {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (code, answer) = server
        .hook(&signed("github", SECRET, body, delivery), body)
        .await;
    assert_eq!(code, 202, "{answer}");
}

fn ws_url(server: &Follower, query: &str) -> String {
    format!("ws://{}/ws/hot-reload{query}", server.addr)
}

/// The next frame that is not an `integration_status` (those come
/// whenever a connection test ends).
async fn next_state_frame(ws: &mut Ws) -> Value {
    loop {
        let frame = next_frame(ws).await;
        if frame["type"] != "integration_status" {
            return frame;
        }
    }
}

/// What a client holds: each entity's document by (kind, id).
type Held = BTreeMap<(String, String), Value>;

fn held_of_snapshot(frame: &Value) -> Held {
    let mut held = Held::new();
    for w in frame["workflows"].as_array().unwrap() {
        let id = w["id"].as_str().unwrap().to_owned();
        held.insert(("workflow".into(), id), w["definition"].clone());
    }
    for i in frame["integrations"].as_array().unwrap() {
        let id = i["id"].as_str().unwrap().to_owned();
        held.insert(("integration".into(), id), i["config"].clone());
    }
    held
}

/// The state a server serves now, as a client would hold it.
async fn held_of_server(server: &Follower) -> Held {
    let mut held = Held::new();
    let (_, workflows) = server.get("/api/v1/workflows").await;
    for w in workflows["workflows"].as_array().unwrap() {
        let id = w["id"].as_str().unwrap().to_owned();
        held.insert(("workflow".into(), id), w["definition"].clone());
    }
    let (_, integrations) = server.get("/api/v1/integrations").await;
    for i in integrations["integrations"].as_array().unwrap() {
        let id = i["id"].as_str().unwrap().to_owned();
        held.insert(("integration".into(), id), i["config"].clone());
    }
    held
}

/// `held` with every patch of `frame` applied (RFC 6902, by an
/// independent implementation).
fn apply(mut held: Held, frame: &Value) -> Held {
    for p in frame["patches"].as_array().unwrap() {
        let key = (
            p["kind"].as_str().unwrap().to_owned(),
            p["id"].as_str().unwrap().to_owned(),
        );
        let ops: oracle::Patch = serde_json::from_value(p["json_patch"].clone()).unwrap();
        match p["op"].as_str().unwrap() {
            "removed" => {
                assert!(held.remove(&key).is_some(), "{key:?} removed but not held");
            }
            op => {
                let mut doc = held.remove(&key).unwrap_or(Value::Null);
                assert_eq!(op == "added", doc.is_null(), "{key:?} {op}");
                oracle::patch(&mut doc, &ops).unwrap_or_else(|e| panic!("{key:?}: {e}"));
                held.insert(key, doc);
            }
        }
    }
    held
}

/// The frame without what is a server process's own (its revision
/// numbers, times, timings).
fn content(frame: &Value) -> Value {
    let mut frame = frame.clone();
    let object = frame.as_object_mut().unwrap();
    for own in ["revision", "at", "timings"] {
        object.remove(own);
    }
    frame
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_from_an_older_commit_gets_exactly_the_change_on_any_follower() {
    let remote = Remote::empty();
    let first = remote.push(&borrowed(&first_files()), "alpha and beta");
    let live = Follower::start(&remote.url(), Some(SECRET)).await;
    let status = live.serves(&first).await;
    assert_eq!(status["commit"], first.as_str(), "{status}");

    // A client takes the first commit's state from the first follower.
    let mut ws = ws_connect(&ws_url(&live, ""), &[]).await.unwrap();
    let hello = next_frame(&mut ws).await;
    assert_eq!(hello["commit"], first.as_str(), "{hello}");
    let snapshot = next_state_frame(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["commit"], first.as_str());
    let held = held_of_snapshot(&snapshot);
    served::close(ws).await;

    // The branch moves on: the first follower takes it live, a second one
    // (its own data folder) starts after it and never saw the first commit
    // served.
    let second = remote.push(&borrowed(&second_files()), "alpha longer, gamma for beta");
    push_hook(&live, "d-1").await;
    live.serves(&second).await;
    let late = Follower::start(&remote.url(), Some(SECRET)).await;
    late.serves(&second).await;

    let mut answers = Vec::new();
    for server in [&live, &late] {
        let mut ws = ws_connect(&ws_url(server, &format!("?since={first}")), &[])
            .await
            .unwrap();
        let hello = next_frame(&mut ws).await;
        assert_eq!(hello["type"], "hello");
        assert_eq!(hello["commit"], second.as_str(), "{hello}");
        let frame = next_state_frame(&mut ws).await;
        assert_eq!(frame["type"], "reload", "{frame}");
        assert_eq!(frame["base_commit"], first.as_str());
        assert_eq!(frame["commit"], second.as_str());
        assert_eq!(frame["base_revision"], 0);
        assert_eq!(frame["revision"], hello["revision"]);
        assert_eq!(frame["cause"]["kind"], "commit");
        assert_eq!(frame["cause"]["commit"]["id"], second.as_str());
        assert_eq!(frame["cause"]["previous_head"]["commit"], first.as_str());
        let ops: Vec<(String, String, String)> = frame["patches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["kind"].as_str().unwrap().to_owned(),
                    p["id"].as_str().unwrap().to_owned(),
                    p["op"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected = [
            ("workflow", "alpha", "modified"),
            ("workflow", "beta", "removed"),
            ("workflow", "gamma", "added"),
            ("integration", "jira", "modified"),
        ]
        .map(|(k, i, o)| (k.to_owned(), i.to_owned(), o.to_owned()));
        assert_eq!(ops, expected, "{frame}");
        // The changed secret is masked (`next_frame` also checks that no
        // secret's text is in any frame).
        let jira = &frame["patches"][3];
        let token = jira["json_patch"]
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["path"] == "/api_token")
            .unwrap_or_else(|| panic!("no api_token op: {jira}"));
        assert!(
            token["value"].as_str().unwrap().starts_with("••••••"),
            "{token}"
        );
        // Applied to what the client held, the patches make what is served.
        assert_eq!(apply(held.clone(), &frame), held_of_server(server).await);

        // The same over HTTP, without an instance.
        let (code, events) = server
            .get(&format!("/api/v1/dev/hot-reload/events?since={first}"))
            .await;
        assert_eq!(code, 200, "{events}");
        assert_eq!(events["since_commit"], first.as_str());
        assert_eq!(events["commit"], second.as_str());
        assert_eq!(events["events"].as_array().unwrap().len(), 1);
        assert_eq!(content(&events["events"][0]), content(&frame));
        answers.push(content(&frame));
        served::close(ws).await;
    }
    assert_eq!(answers[0], answers[1], "the two followers answer alike");

    // The commit served: the hello, and nothing to catch up on.
    let (code, events) = late
        .get(&format!("/api/v1/dev/hot-reload/events?since={second}"))
        .await;
    assert_eq!(code, 200, "{events}");
    assert_eq!(events["events"], serde_json::json!([]));
    let mut ws = ws_connect(&ws_url(&late, &format!("?since={second}")), &[])
        .await
        .unwrap();
    assert_eq!(next_frame(&mut ws).await["commit"], second.as_str());
    let quiet = tokio::time::timeout(Duration::from_millis(500), next_state_frame(&mut ws)).await;
    assert!(quiet.is_err(), "a frame after the hello: {quiet:?}");
    served::close(ws).await;

    // A commit the late follower has not fetched (newer than it serves),
    // and one no follower has: a snapshot, or 410 `commit_unknown`.
    let third = remote.push(
        &[("workflows/alpha.yaml", Some(&served::workflow("Alpha", 20)))],
        "alpha longer still",
    );
    push_hook(&live, "d-2").await;
    live.serves(&third).await;
    for unknown in [third.as_str(), &"0".repeat(40)] {
        let mut ws = ws_connect(&ws_url(&late, &format!("?since={unknown}")), &[])
            .await
            .unwrap();
        next_frame(&mut ws).await;
        let frame = next_state_frame(&mut ws).await;
        assert_eq!(frame["type"], "snapshot", "{frame}");
        assert_eq!(frame["commit"], second.as_str());
        served::close(ws).await;
        let (code, error) = late
            .get(&format!("/api/v1/dev/hot-reload/events?since={unknown}"))
            .await;
        assert_eq!(
            (code, error["code"].as_str()),
            (410, Some("commit_unknown")),
            "{error}"
        );
    }
    // Neither a revision nor a full commit id.
    let (code, error) = late.get("/api/v1/dev/hot-reload/events?since=abc123").await;
    assert_eq!(
        (code, error["code"].as_str()),
        (400, Some("invalid_query")),
        "{error}"
    );
    live.stop().await;
    late.stop().await;
}

/// A broken file keeps the version of an earlier commit on a follower
/// that saw that commit, and nothing on one that did not: the change from
/// the earlier commit leads to the first's state only, so the second
/// answers with a snapshot.
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_whose_change_does_not_reach_the_state_served_gets_a_snapshot() {
    let remote = Remote::empty();
    let first = remote.push(&borrowed(&first_files()), "alpha and beta");
    let live = Follower::start(&remote.url(), Some(SECRET)).await;
    live.serves(&first).await;
    let second = remote.push(
        &[("workflows/beta.yaml", Some("name: Beta\nsteps: [\n"))],
        "break beta",
    );
    push_hook(&live, "d-1").await;
    live.serves(&second).await;
    let late = Follower::start(&remote.url(), Some(SECRET)).await;
    late.serves(&second).await;
    assert_eq!(
        live.get("/api/v1/workflows/beta").await.0,
        200,
        "last good kept"
    );
    assert_eq!(
        late.get("/api/v1/workflows/beta").await.0,
        404,
        "never good here"
    );

    let (code, events) = live
        .get(&format!("/api/v1/dev/hot-reload/events?since={first}"))
        .await;
    assert_eq!(code, 200, "{events}");
    let frame = &events["events"][0];
    assert_eq!(frame["patches"], serde_json::json!([]), "{frame}");
    assert!(
        frame["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["file"] == "workflows/beta.yaml")
    );

    let (code, error) = late
        .get(&format!("/api/v1/dev/hot-reload/events?since={first}"))
        .await;
    assert_eq!(
        (code, error["code"].as_str()),
        (410, Some("commit_not_resumable")),
        "{error}"
    );
    let mut ws = ws_connect(&ws_url(&late, &format!("?since={first}")), &[])
        .await
        .unwrap();
    next_frame(&mut ws).await;
    assert_eq!(next_state_frame(&mut ws).await["type"], "snapshot");
    served::close(ws).await;
    live.stop().await;
    late.stop().await;
}

/// Serving a working tree, frames and bodies name no commit (they are as
/// they were), and a commit resume is a snapshot or a 400.
#[tokio::test(flavor = "multi_thread")]
async fn a_working_trees_server_names_no_commit_and_refuses_commit_resumes() {
    let fed = Fed::start(served::repo(16), 64).await;
    let head = fed.repo.git(&["rev-parse", "HEAD"]);
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let mut ws = ws_connect(&server.ws_url(&format!("?since={head}")), &[])
        .await
        .unwrap();
    let hello = next_frame(&mut ws).await;
    assert!(hello.get("commit").is_none(), "{hello}");
    let snapshot = next_state_frame(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert!(snapshot.get("commit").is_none(), "{snapshot}");
    served::close(ws).await;
    let status = server.get("/api/v1/dev/hot-reload/status").await.json();
    assert!(status.get("commit").is_none());
    let list = server.get("/api/v1/workflows").await.json();
    assert!(list.get("commit").is_none());
    let refused = server
        .get(&format!("/api/v1/dev/hot-reload/events?since={head}"))
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["code"], "invalid_query");
    server.stop().await;
}
