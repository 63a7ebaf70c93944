//! Replicas: several `serve --follow` processes (the real binary) on one
//! PostgreSQL cluster of their own. A push and a webhook sent to one
//! replica reach the other through the database (its poll is an hour
//! away); a connection test runs once per change, on the elected replica,
//! and the other shows its result (a test asked for by hand too, where it
//! was asked); killing the leader hands the tests to the other; a run
//! started on one is seen on the other; after the database restarts one
//! replica (never two) leads again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::follow::{Follower, Remote, SECRET, signed};
use crate::pg::Cluster;
use crate::served::{Conn, GUARD};

const TOKEN_VAR: &str = "QA_RELOAD_REPLICAS_JIRA_TOKEN";
const TOKEN: &str = "jira-t0ken-of-the-replicas";

/// A stand-in Jira on loopback that counts the connection tests it
/// answers (one request each: no project is named).
struct Jira {
    addr: SocketAddr,
    tests: Arc<AtomicUsize>,
}

impl Jira {
    async fn start() -> Jira {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&tests);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    if head.starts_with(b"GET /rest/api/3/myself ") {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                              Content-Length: 2\r\nConnection: close\r\n\r\n{}",
                        )
                        .await;
                });
            }
        });
        Jira { addr, tests }
    }

    fn tests(&self) -> usize {
        self.tests.load(Ordering::SeqCst)
    }

    /// The configuration file pointing at this stand-in.
    fn config(&self, timeout_ms: u32) -> String {
        format!(
            "enabled: true\nbase_url: http://{}\ntimeout_ms: {timeout_ms}\n\
             email: qa@example.com\napi_token: ${{{TOKEN_VAR}}}\n",
            self.addr
        )
    }
}

fn workflow(minutes: u32) -> String {
    crate::support::one_step_workflow("Smoke", minutes)
}

/// Commits `files` in the remote's clone and pushes them; the commit id.
fn push(remote: &Remote, files: &[(&str, String)], subject: &str) -> String {
    let files: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(path, text)| (*path, Some(text.as_str())))
        .collect();
    remote.push(&files, subject)
}

async fn replica(remote: &Remote, database: &str) -> Follower {
    Follower::start_with(
        remote.bare().to_str().unwrap(),
        Some(SECRET),
        &["--database", database],
        &[(TOKEN_VAR, TOKEN)],
    )
    .await
}

/// Polls `path` until `check` holds; the answer then.
async fn until(server: &Follower, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let (_, body) = server.get(path).await;
        if check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const STATUS: &str = "/api/v1/dev/hot-reload/status";

/// Jira's connection status once it is `ok` and `check` holds.
async fn jira_ok(server: &Follower, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let list = until(server, "/api/v1/integrations", what, |list| {
        let status = &list["integrations"][0]["status"];
        status["status"] == "ok" && check(status)
    })
    .await;
    list["integrations"][0]["status"].clone()
}

async fn send(server: &Follower, method: &str, path: &str) -> (u16, Value) {
    let r = Conn::open(server.addr)
        .await
        .request(method, path, &[])
        .await;
    (r.status, r.json())
}

/// A stand-in Jira, and a remote whose first commit (its id, third)
/// configures it.
async fn jira_and_remote() -> (Jira, Remote, String) {
    let jira = Jira::start().await;
    let remote = Remote::new();
    let first = push(
        &remote,
        &[("config/jira_config.yaml", jira.config(5000))],
        "add jira",
    );
    (jira, remote, first)
}

/// Polls `/status` until the replica's role is `role`; the status then.
async fn until_role(server: &Follower, role: &str, what: &str) -> Value {
    until(server, STATUS, what, |s| s["replica"]["role"] == role).await
}

/// Pushes `files` and sends the push's webhook, signed the way `provider`
/// signs, to `via` alone, which accepts it; the commit id.
async fn push_and_hook(
    remote: &Remote,
    files: &[(&str, String)],
    subject: &str,
    via: &Follower,
    (provider, delivery): (&str, &str),
) -> String {
    let commit = push(remote, files, subject);
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (code, _) = via
        .hook(&signed(provider, SECRET, body, delivery), body)
        .await;
    assert_eq!(code, 202);
    commit
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_pushes_runs_and_one_connection_test_per_change() {
    let Some(cluster) =
        Cluster::start("two_replicas_share_pushes_runs_and_one_connection_test_per_change")
    else {
        return;
    };
    let database = cluster.database("replicas");
    let (jira, remote, first) = jira_and_remote().await;

    // The first replica leads, and tests the configuration once.
    let a = replica(&remote, &database).await;
    a.serves(&first).await;
    let status = until_role(&a, "leader", "a replica alone leads").await;
    let a_id = status["replica"]["id"].as_str().unwrap().to_owned();
    assert_eq!(a_id, status["instance"].as_str().unwrap());
    let tested = jira_ok(&a, "the leader tested jira", |_| true).await;
    assert_eq!(jira.tests(), 1);

    // The second follows: it shows the leader's result without testing.
    let b = replica(&remote, &database).await;
    b.serves(&first).await;
    let status = b.get(STATUS).await.1;
    assert_eq!(status["replica"]["role"], "follower", "{status}");
    assert_ne!(status["replica"]["id"], a_id.as_str());
    let shown = jira_ok(&b, "the follower shows the leader's result", |_| true).await;
    assert_eq!(shown["tested_at"], tested["tested_at"], "{shown}");
    assert_eq!(jira.tests(), 1, "the follower tested nothing");

    // A run started on one replica is the other's too, both ways.
    let (code, run) = send(&a, "POST", "/api/v1/workflows/smoke/runs").await;
    assert_eq!(code, 201, "{run}");
    let id = run["id"].as_str().unwrap();
    let (code, seen) = send(&b, "GET", &format!("/api/v1/runs/{id}")).await;
    assert_eq!(code, 200, "{seen}");
    assert_eq!(seen["workflow_id"], "smoke");
    let (code, _) = send(&b, "POST", &format!("/api/v1/runs/{id}/steps/a/complete")).await;
    assert_eq!(code, 200);
    let (_, back) = send(&a, "GET", &format!("/api/v1/runs/{id}")).await;
    assert_eq!(back["completed"][0]["step"], "a", "{back}");
    assert_eq!(back["finished"], true);

    // A test asked for by hand runs where it was asked (once), and the
    // leader shows its result too.
    let (code, manual) = send(&b, "POST", "/api/v1/integrations/jira/test").await;
    assert_eq!(
        (code, manual["status"].as_str()),
        (200, Some("ok")),
        "{manual}"
    );
    assert_eq!(jira.tests(), 2);
    let tested = jira_ok(&a, "the leader shows the follower's manual test", |s| {
        s["tested_at"] == manual["tested_at"]
    })
    .await;

    // A push, and its webhook sent to the follower only: the leader
    // learns of it through the database (its poll is an hour away) and
    // tests the new configuration, once.
    let second = push_and_hook(
        &remote,
        &[
            ("config/jira_config.yaml", jira.config(6000)),
            ("workflows/smoke.yaml", workflow(7)),
        ],
        "longer jira timeout",
        &b,
        ("github", "delivery-1"),
    )
    .await;
    a.serves(&second).await;
    b.serves(&second).await;
    let retested = jira_ok(&a, "the leader tested the new configuration", |s| {
        s["tested_at"] != tested["tested_at"]
    })
    .await;
    jira_ok(&b, "the follower shows the new result", |s| {
        s["tested_at"] == retested["tested_at"]
    })
    .await;
    assert_eq!(
        jira.tests(),
        3,
        "one test for the change, not one per replica"
    );

    // The other way: a webhook to the leader brings the follower along. A
    // commit that leaves the configuration as it is tests nothing.
    let third = push_and_hook(
        &remote,
        &[("workflows/smoke.yaml", workflow(9))],
        "nine minutes",
        &a,
        ("gitlab", "delivery-2"),
    )
    .await;
    b.serves(&third).await;
    let (_, smoke) = b.get("/api/v1/workflows/smoke").await;
    assert_eq!(smoke["definition"]["steps"][0]["estimated_minutes"], 9);

    // The leader dies without a word: the follower takes the tests over
    // (without testing again what was tested) and tests the next change.
    a.kill().await;
    until_role(&b, "leader", "the follower takes over").await;
    let fourth = push_and_hook(
        &remote,
        &[("config/jira_config.yaml", jira.config(7000))],
        "even longer jira timeout",
        &b,
        ("gitea", "delivery-3"),
    )
    .await;
    b.serves(&fourth).await;
    jira_ok(&b, "the new leader tested the change", |s| {
        s["tested_at"] != retested["tested_at"]
    })
    .await;
    assert_eq!(jira.tests(), 4);

    // Another team's replica on the same database (another remote) is a
    // group of its own: it leads there, and does not wait for this lock.
    let other = Remote::new();
    let c = replica(&other, &database).await;
    let status = until_role(&c, "leader", "another remote's replica leads its own group").await;
    assert_eq!(status["replica"]["role"], "leader");
    assert_eq!(b.get(STATUS).await.1["replica"]["role"], "leader");
    c.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_postgres_a_follower_tests_alone_and_names_no_replica() {
    let (jira, remote, first) = jira_and_remote().await;
    let server = Follower::start_with(
        remote.bare().to_str().unwrap(),
        Some(SECRET),
        &[],
        &[(TOKEN_VAR, TOKEN)],
    )
    .await;
    let status = server.serves(&first).await;
    assert!(status["replica"].is_null(), "{status}");
    jira_ok(&server, "a lone follower tests", |_| true).await;
    assert_eq!(jira.tests(), 1);
    server.stop().await;
}

async fn role(server: &Follower) -> String {
    server.get(STATUS).await.1["replica"]["role"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_database_restarts_one_replica_leads_again_and_tests_once() {
    let Some(cluster) =
        Cluster::start("after_the_database_restarts_one_replica_leads_again_and_tests_once")
    else {
        return;
    };
    let database = cluster.database("restarts");
    let (jira, remote, first) = jira_and_remote().await;
    let a = replica(&remote, &database).await;
    a.serves(&first).await;
    until_role(&a, "leader", "the first replica leads").await;
    let tested = jira_ok(&a, "the leader tested jira", |_| true).await;
    let b = replica(&remote, &database).await;
    b.serves(&first).await;
    jira_ok(&b, "the follower shows the result", |s| {
        s["tested_at"] == tested["tested_at"]
    })
    .await;

    // The database goes away: the leader stops leading (no replica can
    // know whether another took over).
    cluster.pg_ctl_stop();
    until_role(&a, "follower", "the leader steps down").await;
    // Back: one replica leads again, never both.
    cluster.pg_ctl_start();
    let deadline = tokio::time::Instant::now() + GUARD;
    let (leader, follower) = loop {
        let (ra, rb) = (role(&a).await, role(&b).await);
        assert!(!(ra == "leader" && rb == "leader"), "two leaders");
        if ra == "leader" {
            break (&a, &b);
        }
        if rb == "leader" {
            break (&b, &a);
        }
        assert!(tokio::time::Instant::now() < deadline, "no leader again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(role(follower).await, "follower");
    assert_eq!(jira.tests(), 1, "nothing changed: nothing tested again");

    // The next change is tested once, by the new leader, and shown by both.
    let second = push_and_hook(
        &remote,
        &[("config/jira_config.yaml", jira.config(6000))],
        "longer jira timeout",
        follower,
        ("github", "after-restart"),
    )
    .await;
    leader.serves(&second).await;
    follower.serves(&second).await;
    let retested = jira_ok(leader, "the leader tested the change", |s| {
        s["tested_at"] != tested["tested_at"]
    })
    .await;
    jira_ok(follower, "the follower shows it", |s| {
        s["tested_at"] == retested["tested_at"]
    })
    .await;
    assert_eq!(jira.tests(), 2);
    a.stop().await;
    b.stop().await;
}
