//! `serve --follow`, the real binary against local bare remotes (and a
//! `git daemon` on loopback): a push and a signed webhook serve the commit
//! with its author and subject; each git host's signature, right and
//! wrong, pings, replayed deliveries, oversized bodies; a force-push; the
//! remote disappearing and coming back; no secret, no webhook.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::served::{Conn, GUARD, eventually};
use crate::support::{Serving, git, hmac_sha256_hex, serve_command, spawn_serving};

pub(crate) const SECRET: &str = "s3cret-webhook-key";

fn workflow(minutes: u32) -> String {
    crate::support::one_step_workflow("Smoke", minutes)
}

/// A bare remote on `main`, and a clone to push from.
pub(crate) struct Remote {
    dir: tempfile::TempDir,
}

impl Remote {
    /// A remote whose one commit adds `workflows/smoke.yaml`.
    pub(crate) fn new() -> Remote {
        let remote = Remote::empty();
        remote.commit(5, "add smoke");
        remote
    }

    /// A remote with no commit yet.
    pub(crate) fn empty() -> Remote {
        let dir = tempfile::tempdir().unwrap();
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        git(dir.path(), &["init", "-q", "-b", "main", "work"]);
        let remote = Remote { dir };
        git(
            &remote.work(),
            &["remote", "add", "origin", remote.bare().to_str().unwrap()],
        );
        remote
    }

    pub(crate) fn bare(&self) -> PathBuf {
        self.dir.path().join("remote.git")
    }

    /// The bare remote's path, as `--follow` takes it.
    pub(crate) fn url(&self) -> String {
        self.bare().to_str().unwrap().to_owned()
    }

    pub(crate) fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Commits the workflow with `minutes` and pushes it; its id.
    fn commit(&self, minutes: u32, subject: &str) -> String {
        self.push(
            &[("workflows/smoke.yaml", Some(&workflow(minutes)))],
            subject,
        )
    }

    /// Writes (`Some`) or deletes (`None`) each file in the clone, commits
    /// and pushes; the commit's id.
    pub(crate) fn push(&self, files: &[(&str, Option<&str>)], subject: &str) -> String {
        for (path, text) in files {
            let file = self.work().join(path);
            match text {
                Some(text) => {
                    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                    std::fs::write(&file, text).unwrap();
                }
                None => std::fs::remove_file(&file).unwrap(),
            }
        }
        git(&self.work(), &["add", "-A"]);
        git(&self.work(), &["commit", "-q", "-m", subject]);
        git(&self.work(), &["push", "-q", "origin", "HEAD:main"]);
        git(&self.work(), &["rev-parse", "HEAD"])
    }
}

/// `qa-reload serve --follow` on a free port; its stdout and stderr lines
/// are kept.
pub(crate) struct Follower {
    serving: Serving,
    pub(crate) addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Follower {
    pub(crate) async fn start(remote: &str, secret: Option<&str>) -> Follower {
        Follower::start_with(remote, secret, &[], &[]).await
    }

    /// [`Follower::start`] with more arguments and environment variables.
    pub(crate) async fn start_with(
        remote: &str,
        secret: Option<&str>,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> Follower {
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().to_str().unwrap();
        let mut command = serve_command(&["--poll-interval", "3600", "--follow", remote]);
        command.args(["--data-dir", data_dir]);
        if let Some(secret) = secret {
            command.env("QA_RELOAD_WEBHOOK_SECRET", secret);
        }
        command.args(args).envs(vars.iter().copied());
        let serving = spawn_serving(command, GUARD).await;
        Follower {
            addr: serving.addr(),
            serving,
            _data: data,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let r = Conn::open(self.addr).await.request("GET", path, &[]).await;
        (r.status, r.json())
    }

    async fn follow_status(&self) -> Value {
        self.get("/api/v1/dev/hot-reload/status").await.1["follow"].clone()
    }

    /// Waits until the follower says the remote is unreachable; its
    /// follow status then.
    async fn until_unreachable(&self) -> Value {
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let follow = self.follow_status().await;
            if follow["remote_state"] == "unreachable" {
                return follow;
            }
            assert!(tokio::time::Instant::now() < deadline, "{follow}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the commit served is `id`; the status then.
    pub(crate) async fn serves(&self, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let status = self.get("/api/v1/dev/hot-reload/status").await.1;
            if status["follow"]["commit"]["id"] == id {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "commit {id} never served: {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The events after revision `since`.
    async fn events_since(&self, since: u64) -> Vec<Value> {
        let status = self.get("/api/v1/dev/hot-reload/status").await.1;
        let instance = status["instance"].as_str().unwrap().to_owned();
        let (code, body) = self
            .get(&format!(
                "/api/v1/dev/hot-reload/events?since={since}&instance={instance}"
            ))
            .await;
        assert_eq!(code, 200, "{body}");
        body["events"].as_array().unwrap().clone()
    }

    pub(crate) async fn hook(&self, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
        post(self.addr, "/api/v1/hooks/git", headers, body).await
    }

    pub(crate) fn stderr_lines(&self, containing: &str) -> usize {
        self.serving
            .stderr
            .lock()
            .iter()
            .filter(|l| l.contains(containing))
            .count()
    }

    /// Ends the process at once (SIGKILL): nothing of it closes cleanly.
    pub(crate) async fn kill(self) {
        self.serving.kill().await;
    }

    pub(crate) async fn stop(self) {
        self.serving.stop().await;
    }
}

/// A POST with a body, on its own connection; the status and the JSON
/// answer.
async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // A refusal may come before the whole body is sent (413): the server
    // may close while we write.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(GUARD, stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let json = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| serde_json::from_str(b).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    (status, json)
}

/// The headers each git host signs a delivery with, for `body` under
/// `key`, with delivery id `id`.
pub(crate) fn signed(host: &str, key: &str, body: &[u8], id: &str) -> Vec<(&'static str, String)> {
    let sig = hmac_sha256_hex(key.as_bytes(), body);
    match host {
        "github" => vec![
            ("X-Hub-Signature-256", format!("sha256={sig}")),
            ("X-GitHub-Event", "push".into()),
            ("X-GitHub-Delivery", id.into()),
        ],
        "gitea" => vec![
            ("X-Gitea-Signature", sig.clone()),
            ("X-Hub-Signature-256", format!("sha256={sig}")),
            ("X-Gitea-Event", "push".into()),
            ("X-Gitea-Delivery", id.into()),
        ],
        "forgejo" => vec![
            ("X-Forgejo-Signature", sig.clone()),
            ("X-Gitea-Signature", sig),
            ("X-Forgejo-Event", "push".into()),
            ("X-Forgejo-Delivery", id.into()),
        ],
        "bitbucket" => vec![
            ("X-Hub-Signature", format!("sha256={sig}")),
            ("X-Event-Key", "repo:push".into()),
            ("X-Request-UUID", id.into()),
        ],
        "gitlab" => vec![
            ("X-Gitlab-Token", key.into()),
            ("X-Gitlab-Event", "Push Hook".into()),
            ("X-Gitlab-Event-UUID", id.into()),
        ],
        other => panic!("no host {other}"),
    }
}

const HOSTS: [&str; 5] = ["github", "gitea", "forgejo", "bitbucket", "gitlab"];

#[test]
fn the_tests_signature_is_rfc_4231s() {
    assert_eq!(
        hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_and_a_signed_webhook_serve_the_commit_with_its_author() {
    let remote = Remote::new();
    let first = git(&remote.work(), &["rev-parse", "HEAD"]);
    let server = Follower::start(remote.bare().to_str().unwrap(), Some(SECRET)).await;
    let status = server.serves(&first).await;
    let follow = &status["follow"];
    assert_eq!(follow["remote_state"], "reachable", "{follow}");
    assert_eq!(follow["branch"], "main");
    assert_eq!(follow["webhooks"], true);
    assert_eq!(status["head"]["commit"], first.as_str());
    assert_eq!(server.get("/readyz").await.0, 200);
    assert_eq!(server.get("/healthz").await.0, 200);
    let served_first = status["revision"].as_u64().unwrap();

    let second = remote.commit(7, "longer smoke");
    let body = br#"{"ref":"refs/heads/main","after":"0000"}"#;
    let (code, answer) = server
        .hook(&signed("github", SECRET, body, "delivery-1"), body)
        .await;
    assert_eq!(
        (code, answer["result"].as_str()),
        (202, Some("queued")),
        "{answer}"
    );
    assert_eq!(answer["provider"], "github");
    let status = server.serves(&second).await;
    assert_eq!(status["revision"], served_first + 1, "one revision");
    let events = server.events_since(served_first).await;
    assert_eq!(events.len(), 1);
    let cause = &events[0]["cause"];
    assert_eq!(cause["kind"], "commit", "{cause}");
    assert_eq!(cause["commit"]["id"], second.as_str());
    assert_eq!(cause["commit"]["author"], "QA Tester");
    assert_eq!(cause["commit"]["email"], "qa@example.com");
    assert_eq!(cause["commit"]["subject"], "longer smoke");
    assert!(cause["commit"]["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(events[0]["patches"][0]["id"], "smoke");
    let summary = events[0]["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("{} longer smoke (QA Tester)", &second[..7])),
        "{summary}"
    );
    let (code, smoke) = server.get("/api/v1/workflows/smoke").await;
    assert_eq!(code, 200);
    assert_eq!(
        smoke["definition"]["steps"][0]["estimated_minutes"], 7,
        "{smoke}"
    );

    // The same delivery again fetches nothing.
    let (code, answer) = server
        .hook(&signed("github", SECRET, body, "delivery-1"), body)
        .await;
    assert_eq!((code, answer["result"].as_str()), (200, Some("duplicate")));

    // A force-push: one revision to the new head, saying so.
    std::fs::write(remote.work().join("workflows/smoke.yaml"), workflow(9)).unwrap();
    git(
        &remote.work(),
        &["commit", "-q", "-a", "--amend", "-m", "rewritten smoke"],
    );
    git(&remote.work(), &["push", "-q", "-f", "origin", "HEAD:main"]);
    let rewritten = git(&remote.work(), &["rev-parse", "HEAD"]);
    let before = server.get("/api/v1/dev/hot-reload/status").await.1["revision"]
        .as_u64()
        .unwrap();
    let (code, _) = server
        .hook(&signed("gitlab", SECRET, body, "delivery-2"), body)
        .await;
    assert_eq!(code, 202);
    server.serves(&rewritten).await;
    let events = server.events_since(before).await;
    assert_eq!(events.len(), 1, "one revision for the force-push");
    assert_eq!(events[0]["cause"]["kind"], "history_rewritten");
    assert_eq!(events[0]["cause"]["commit"]["subject"], "rewritten smoke");
    assert_eq!(
        events[0]["cause"]["previous_head"]["commit"],
        second.as_str()
    );
    let (_, smoke) = server.get("/api/v1/workflows/smoke").await;
    assert_eq!(smoke["definition"]["steps"][0]["estimated_minutes"], 9);

    // The remote disappears: the commit served stays, the status says why.
    let gone = remote.dir.path().join("gone.git");
    std::fs::rename(remote.bare(), &gone).unwrap();
    let (code, _) = server
        .hook(&signed("gitea", SECRET, body, "delivery-3"), body)
        .await;
    assert_eq!(code, 202);
    let follow = server.until_unreachable().await;
    assert!(follow["unreachable_since"].is_string(), "{follow}");
    assert!(
        follow["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot fetch from the remote"),
        "{follow}"
    );
    assert_eq!(follow["commit"]["id"], rewritten.as_str());
    let (code, smoke) = server.get("/api/v1/workflows/smoke").await;
    assert_eq!(code, 200, "still served");
    assert_eq!(smoke["definition"]["steps"][0]["estimated_minutes"], 9);

    // It comes back with a new commit: served, reachable again.
    std::fs::rename(&gone, remote.bare()).unwrap();
    let back = remote.commit(11, "back again");
    let (code, _) = server
        .hook(&signed("forgejo", SECRET, body, "delivery-4"), body)
        .await;
    assert_eq!(code, 202);
    let status = server.serves(&back).await;
    assert_eq!(status["follow"]["remote_state"], "reachable");
    assert!(status["follow"]["unreachable_since"].is_null());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_hosts_signature_is_checked_and_pings_replays_and_big_bodies_fetch_nothing() {
    let remote = Remote::new();
    let first = git(&remote.work(), &["rev-parse", "HEAD"]);
    let server = Follower::start(remote.bare().to_str().unwrap(), Some(SECRET)).await;
    server.serves(&first).await;
    let body = br#"{"ref":"refs/heads/main"}"#;

    for (i, host) in HOSTS.into_iter().enumerate() {
        let id = format!("{host}-{i}");
        let (code, answer) = server.hook(&signed(host, SECRET, body, &id), body).await;
        assert_eq!(code, 202, "{host}: {answer}");
        assert_eq!(answer["provider"], host);
        assert_eq!(answer["result"], "queued");
        let (code, answer) = server.hook(&signed(host, SECRET, body, &id), body).await;
        assert_eq!(
            (code, answer["result"].as_str()),
            (200, Some("duplicate")),
            "{host}"
        );
        // Another secret, and the right secret over another body.
        let (code, answer) = server
            .hook(
                &signed(host, "not-the-secret", body, &format!("{id}-x")),
                body,
            )
            .await;
        assert_eq!(code, 401, "{host}");
        assert_eq!(answer["code"], "signature_invalid", "{host}");
        if host != "gitlab" {
            let (code, _) = server
                .hook(&signed(host, SECRET, b"{}", &format!("{id}-y")), body)
                .await;
            assert_eq!(code, 401, "{host}: a signature of another body");
        }
    }
    let (code, answer) = server.hook(&[], body).await;
    assert_eq!(
        (code, answer["code"].as_str()),
        (401, Some("signature_required"))
    );
    // Wrong signatures from one address: logged once (within the minute).
    eventually("a refusal is logged", || {
        server.stderr_lines("refused a webhook") >= 1
    })
    .await;
    assert_eq!(server.stderr_lines("refused a webhook"), 1);
    assert_eq!(server.stderr_lines(SECRET), 0);

    // Pings are answered, and fetch nothing.
    let mut ping = signed("github", SECRET, body, "ping-1");
    ping[1].1 = "ping".into();
    let (code, answer) = server.hook(&ping, body).await;
    assert_eq!((code, answer["result"].as_str()), (200, Some("pong")));
    let mut ping = signed("bitbucket", SECRET, body, "ping-2");
    ping[1].1 = "diagnostics:ping".into();
    let (code, answer) = server.hook(&ping, body).await;
    assert_eq!((code, answer["result"].as_str()), (200, Some("pong")));

    // Over 1 MiB: refused, signed or not.
    let big = vec![b' '; 1024 * 1024 + 1];
    let (code, answer) = server
        .hook(&signed("github", SECRET, &big, "big-1"), &big)
        .await;
    assert_eq!(
        (code, answer["code"].as_str()),
        (413, Some("body_too_large"))
    );
    // Exactly 1 MiB is read and checked.
    let limit = vec![b' '; 1024 * 1024];
    let (code, _) = server
        .hook(&signed("github", SECRET, &limit, "big-2"), &limit)
        .await;
    assert_eq!(code, 202);

    // Webhooks need no token, but every other route keeps its guard: the
    // route is not a way around the Host check.
    let (code, _) = post(
        server.addr,
        "/api/v1/hooks/git",
        &[("Host", "evil.example".into())],
        body,
    )
    .await;
    assert_eq!(code, 403, "a foreign Host");

    // Only wake-ups: five accepted deliveries of an unchanged branch made
    // no revision after the first commit.
    let events = server.events_since(1).await;
    assert!(
        events
            .iter()
            .all(|e| e["cause"]["commit"]["id"] == first.as_str()),
        "{events:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_secret_every_webhook_is_refused_and_an_unreachable_remote_is_masked() {
    // Nothing listens on the discard port of loopback: the fetch fails at
    // once, with the remote's credentials in the URL.
    let remote = "git://alice:pa55word-in-url@127.0.0.1:9/qa.git";
    let server = Follower::start(remote, None).await;
    eventually("the start says webhooks are refused", || {
        server
            .serving
            .stdout
            .lock()
            .iter()
            .any(|l| l.contains("every webhook is refused"))
    })
    .await;
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (code, answer) = server
        .hook(&signed("github", SECRET, body, "d-1"), body)
        .await;
    assert_eq!(
        (code, answer["code"].as_str()),
        (403, Some("webhook_secret_unset"))
    );

    let follow = server.until_unreachable().await;
    let text = follow.to_string();
    assert!(!text.contains("pa55word-in-url"), "{text}");
    assert!(
        follow["remote"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9/qa.git")
    );
    assert!(follow["last_error"].is_string());
    assert!(follow["commit"].is_null());
    assert_eq!(follow["webhooks"], false);
    // Alive, not ready: no commit yet.
    assert_eq!(server.get("/healthz").await.0, 200);
    let (code, ready) = server.get("/readyz").await;
    assert_eq!(code, 503);
    assert_eq!(ready["waiting_for"][0], "commit");
    // It keeps trying, backing off (1 s, then 2 s…).
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let follow = server.follow_status().await;
        if follow["failures"].as_u64().unwrap() >= 2 {
            assert_eq!(follow["remote_state"], "unreachable");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{follow}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for line in server.serving.lines() {
        assert!(!line.contains("pa55word-in-url"), "{line}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_remote_over_git_daemon_is_followed() {
    let remote = Remote::new();
    let first = git(&remote.work(), &["rev-parse", "HEAD"]);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = remote.dir.path().to_path_buf();
    let mut daemon = tokio::process::Command::new("git")
        .args([
            "daemon",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(&base)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_port(port).await;
    let url = format!("git://127.0.0.1:{port}/remote.git");
    let server = Follower::start(&url, Some(SECRET)).await;
    server.serves(&first).await;
    let second = remote.commit(8, "over the network");
    let body = b"{}";
    let (code, _) = server
        .hook(&signed("bitbucket", SECRET, body, "net-1"), body)
        .await;
    assert_eq!(code, 202);
    let status = server.serves(&second).await;
    assert_eq!(status["last_reload"]["cause"], "commit");
    server.stop().await;
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
}

async fn wait_for_port(port: u16) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "git daemon never listened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_remote_is_followed_and_credentials_in_clear_are_refused_masked() {
    let remote = Remote::new();
    let first = git(&remote.work(), &["rev-parse", "HEAD"]);
    let http = crate::git_http::GitHttp::start(remote.dir.path().to_path_buf()).await;

    // A password over plain http is never sent: the fetch fails, saying
    // why, and the password shows nowhere.
    let with_password = format!("http://qa:http-pa55word@{}/remote.git", http.addr);
    let refused = Follower::start(&with_password, Some(SECRET)).await;
    let follow = refused.until_unreachable().await;
    let text = follow.to_string();
    assert!(!text.contains("http-pa55word"), "{text}");
    assert!(text.contains("clear text"), "{text}");
    for line in refused.serving.lines() {
        assert!(!line.contains("http-pa55word"), "{line}");
    }
    refused.stop().await;

    let url = format!("http://{}/remote.git", http.addr);
    let server = Follower::start(&url, Some(SECRET)).await;
    server.serves(&first).await;
    assert!(
        http.requests
            .lock()
            .iter()
            .any(|p| p == "/remote.git/info/refs"),
        "the fetch did not go through the HTTP server: {:?}",
        http.requests.lock()
    );
    let second = remote.commit(9, "over http");
    let body = b"{}";
    let (code, _) = server
        .hook(&signed("github", SECRET, body, "http-1"), body)
        .await;
    assert_eq!(code, 202);
    let status = server.serves(&second).await;
    assert_eq!(status["last_reload"]["cause"], "commit");
    assert_eq!(
        status["follow"]["commit"]["subject"], "over http",
        "{status}"
    );
    server.stop().await;
}

/// Commits every file of `files` in `remote`'s clone as `author` (name and
/// email) at `date`, pushes, and returns the commit's id.
fn commit_as(
    remote: &Remote,
    files: &[(&str, &str)],
    author: &str,
    date: &str,
    subject: &str,
) -> String {
    for (path, text) in files {
        let file = remote.work().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
    }
    git(&remote.work(), &["add", "-A"]);
    git(
        &remote.work(),
        &[
            "commit", "-q", "--author", author, "--date", date, "-m", subject,
        ],
    );
    git(&remote.work(), &["push", "-q", "origin", "HEAD:main"]);
    git(&remote.work(), &["rev-parse", "HEAD"])
}

/// The `last_change` of the entity with `id` in a list.
fn change_of<'a>(list: &'a Value, id: &str) -> &'a Value {
    let rows = list.as_array().unwrap();
    let row = rows
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {list}"));
    &row["last_change"]
}

#[tokio::test(flavor = "multi_thread")]
async fn each_entity_names_the_commit_that_last_changed_it() {
    const TOKEN: &str = "jira-t0ken-9f8e7d6c5b4a";
    let remote = Remote::new();
    let first = git(&remote.work(), &["rev-parse", "HEAD"]);
    let jira = format!(
        "enabled: false\nbase_url: https://jira.example.com\nemail: qa@example.com\napi_token: {TOKEN}\n"
    );
    let other = "name: Other\nsteps:\n  - id: b\n    name: Check\n    estimated_minutes: 3\n";
    let second = commit_as(
        &remote,
        &[
            ("workflows/other.yaml", other),
            ("config/jira_config.yaml", &jira),
        ],
        "QA Tester <qa@example.com>",
        "2026-01-02T03:04:05Z",
        "add other and jira",
    );
    let server = Follower::start(remote.bare().to_str().unwrap(), Some(SECRET)).await;
    let status = server.serves(&second).await;
    let served_first = status["revision"].as_u64().unwrap();

    // At start each entity names the commit that last changed its file,
    // from the branch's history: smoke its own first commit, not the head.
    let (_, list) = server.get("/api/v1/workflows").await;
    let smoke = change_of(&list["workflows"], "smoke");
    assert_eq!(smoke["id"], first.as_str(), "{list}");
    assert_eq!(smoke["author"], "QA Tester");
    assert_eq!(smoke["subject"], "add smoke");
    assert_eq!(
        change_of(&list["workflows"], "other")["id"],
        second.as_str()
    );
    assert_eq!(
        change_of(&list["workflows"], "other")["time"],
        "2026-01-02T03:04:05.000Z"
    );
    let (_, integrations) = server.get("/api/v1/integrations").await;
    assert_eq!(
        change_of(&integrations["integrations"], "jira")["id"],
        second.as_str(),
        "{integrations}"
    );

    // Ann changes smoke (her subject quotes the Jira token by mistake).
    let ann = commit_as(
        &remote,
        &[("workflows/smoke.yaml", &workflow(12))],
        "Ann Author <ann@example.com>",
        "2026-03-04T05:06:07Z",
        &format!("smoke takes longer; token {TOKEN}"),
    );
    let body = b"{}";
    let (code, _) = server
        .hook(&signed("github", SECRET, body, "provenance-1"), body)
        .await;
    assert_eq!(code, 202);
    server.serves(&ann).await;

    // The reload frame names Ann on the patch of the workflow she changed.
    let events = server.events_since(served_first).await;
    assert_eq!(events.len(), 1);
    let patches = events[0]["patches"].as_array().unwrap();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0]["id"], "smoke");
    let change = &patches[0]["last_change"];
    assert_eq!(change["id"], ann.as_str(), "{change}");
    assert_eq!(change["author"], "Ann Author");
    assert_eq!(change["email"], "ann@example.com");
    assert_eq!(change["time"], "2026-03-04T05:06:07.000Z");

    // The list and the detail name Ann for smoke; the untouched workflow
    // and integration keep naming their own earlier commit.
    let (_, list) = server.get("/api/v1/workflows").await;
    let smoke = change_of(&list["workflows"], "smoke");
    assert_eq!(smoke["id"], ann.as_str());
    assert_eq!(smoke["author"], "Ann Author");
    assert_eq!(smoke["time"], "2026-03-04T05:06:07.000Z");
    let other = change_of(&list["workflows"], "other");
    assert_eq!(other["id"], second.as_str());
    assert_eq!(other["author"], "QA Tester");
    let (_, detail) = server.get("/api/v1/workflows/smoke").await;
    assert_eq!(detail["last_change"], *smoke);
    let (_, detail) = server.get("/api/v1/workflows/other").await;
    assert_eq!(detail["last_change"]["id"], second.as_str());
    let (_, integrations) = server.get("/api/v1/integrations").await;
    assert_eq!(
        change_of(&integrations["integrations"], "jira")["id"],
        second.as_str()
    );

    // The token a config file holds is masked where a commit quotes it:
    // in the entity's last change, the frame's cause and the status.
    assert!(
        smoke["subject"]
            .as_str()
            .unwrap()
            .starts_with("smoke takes longer; token "),
        "{smoke}"
    );
    let status = server.get("/api/v1/dev/hot-reload/status").await.1;
    for shown in [events[0].to_string(), list.to_string(), status.to_string()] {
        assert!(!shown.contains(TOKEN), "{shown}");
    }
    server.stop().await;
}

/// A new head is read through a diff of the two commits' trees: a commit
/// changing one workflow of forty and deleting another reads one file,
/// while the first commit served is read whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_head_reads_only_the_files_its_diff_names() {
    use qa_reload::engine::{CauseKind, Engine, SharedEnv};
    use qa_reload::git::{HISTORY_LIMIT, Mirror};
    use qa_reload::load::fs::ROOTS;

    let remote = Remote::new();
    let files: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                format!("workflows/w{i:02}.yaml"),
                format!(
                    "name: W{i}\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: {}\n",
                    i + 1
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    commit_as(
        &remote,
        &refs,
        "QA Tester <qa@example.com>",
        "2026-01-01T00:00:00Z",
        "forty workflows",
    );
    let data = tempfile::tempdir().unwrap();
    let mirror = Mirror::open(
        &data.path().join("mirror.git"),
        remote.bare().to_str().unwrap(),
        "main",
    )
    .unwrap();
    let head = mirror.fetch().unwrap();
    let mut first = mirror.tree_at(&head, &ROOTS).unwrap();
    let paths = first.paths().unwrap();
    first.last_changes = Some(
        mirror
            .last_changes(&head, &paths, &ROOTS, HISTORY_LIMIT)
            .unwrap(),
    );
    assert_eq!(first.files_read(), 0, "listing and history read no file");
    let first = Arc::new(first);
    let env: SharedEnv = Arc::new(|_: &str| None);
    let (engine, worker) = Engine::follow(data.path(), Some(Arc::clone(&first)), env, 16).unwrap();
    assert_eq!(first.files_read(), 41, "the first commit is read whole");
    assert_eq!(engine.snapshot().workflows.len(), 41);
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(worker.run(None, shutdown.clone()));

    std::fs::remove_file(remote.work().join("workflows/w07.yaml")).unwrap();
    let changed = files[3]
        .1
        .replace("estimated_minutes: 4", "estimated_minutes: 44");
    commit_as(
        &remote,
        &[("workflows/w03.yaml", &changed)],
        "Ann Author <ann@example.com>",
        "2026-03-04T05:06:07Z",
        "w03 longer, w07 gone",
    );
    let head = mirror.fetch().unwrap();
    let second = Arc::new(mirror.tree_at(&head, &ROOTS).unwrap());
    let event = engine
        .apply_commit(Arc::clone(&second), CauseKind::Commit)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.files_read(), 1, "only the changed file is read");
    let patches: Vec<(&str, String)> = event
        .patches
        .iter()
        .map(|p| (p.id.as_str(), p.op.to_string()))
        .collect();
    assert_eq!(
        patches,
        [
            ("w03", "modified".to_owned()),
            ("w07", "removed".to_owned())
        ]
    );
    let snapshot = engine.snapshot();
    assert_eq!(snapshot.workflows.len(), 40);
    let w03 = snapshot.workflow("w03").unwrap();
    assert_eq!(w03.value.steps[0].estimated_minutes, 44);
    assert_eq!(w03.last_change.as_ref().unwrap().author, "Ann Author");
    let w04 = snapshot.workflow("w04").unwrap();
    assert_eq!(w04.last_change.as_ref().unwrap().subject, "forty workflows");
    let smoke = snapshot.workflow("smoke").unwrap();
    assert_eq!(
        smoke.last_change.as_ref().unwrap().subject,
        "add smoke",
        "from the history"
    );
    shutdown.cancel();
}

/// A restart serves the commit the mirror last fetched before the remote
/// answers: each entity names its last change from the history, and a
/// config secret quoted in the commit's subject is masked there and in
/// the follower's status.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_names_the_history_and_masks_secrets_in_the_commit() {
    use qa_reload::engine::{Engine, SharedEnv};
    use qa_reload::follow::{Follow, FollowConfig};
    use qa_reload::git::Mirror;
    use qa_reload::model::IntegrationKind;

    const TOKEN: &str = "jira-t0ken-restart-5e6f7a8b";
    let remote = Remote::new();
    let jira = format!(
        "enabled: false\nbase_url: https://jira.example.com\nemail: qa@example.com\napi_token: {TOKEN}\n"
    );
    let head = commit_as(
        &remote,
        &[("config/jira_config.yaml", &jira)],
        "Ann Author <ann@example.com>",
        "2026-03-04T05:06:07Z",
        &format!("jira, token {TOKEN}"),
    );
    let data = tempfile::tempdir().unwrap();
    let config = FollowConfig {
        remote: remote.bare().to_str().unwrap().to_owned(),
        branch: "main".to_owned(),
        poll: Duration::from_secs(3600),
        data_dir: data.path().to_path_buf(),
        fetch_deadline: Duration::from_secs(30),
    };
    // An earlier run fetched the branch into the mirror.
    Mirror::open(&config.mirror_dir(), &config.remote, "main")
        .unwrap()
        .fetch()
        .unwrap();

    let (follow, first) = Follow::open(&config).unwrap();
    let first = first.unwrap();
    assert_eq!(first.files_read(), 0, "the history walk reads no file");
    let env: SharedEnv = Arc::new(|_: &str| None);
    let (engine, worker) = Engine::follow(data.path(), Some(first), env, 16).unwrap();
    let snapshot = engine.snapshot();
    let smoke = snapshot.workflow("smoke").unwrap();
    let smoke = smoke.last_change.as_ref().unwrap();
    assert_eq!(smoke.subject, "add smoke", "from the history, not the head");
    assert_eq!(smoke.author, "QA Tester");
    let jira = snapshot.integrations.get(&IntegrationKind::Jira).unwrap();
    let jira = jira.last_change.as_ref().unwrap();
    assert_eq!(
        (jira.id.as_str(), jira.author.as_str()),
        (head.as_str(), "Ann Author")
    );
    assert!(jira.subject.starts_with("jira, token "), "{}", jira.subject);
    assert!(!jira.subject.contains(TOKEN), "{}", jira.subject);

    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(worker.run(None, shutdown.clone()));
    tokio::spawn(follow.clone().run(engine.clone(), shutdown.clone()));
    let deadline = tokio::time::Instant::now() + GUARD;
    while follow.status().fetches == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no fetch");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = follow.status();
    let served = status.commit.unwrap();
    assert_eq!(served.id, head);
    assert!(!served.subject.contains(TOKEN), "{}", served.subject);
    shutdown.cancel();
}
