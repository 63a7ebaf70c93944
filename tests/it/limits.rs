//! Hostile clients against a real server: slow and idle connections, too
//! many of them, malformed or foreign headers, weak tokens; and what
//! thousands of errors or a long history may cost. Deadlines are set short
//! through the server's limits; every wait is bounded by the guard only.

use std::time::Duration;

use qa_reload::api::conn::HttpLimits;
use qa_reload::api::routes;
use qa_reload::api::security::Security;
use qa_reload::api::{AppState, WsConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::served::{self, Conn, Fed, GUARD, Server};

fn limits(header: Duration, idle: Duration, max: usize) -> HttpLimits {
    HttpLimits {
        header_read_timeout: header,
        idle_timeout: idle,
        max_connections: max,
    }
}

/// Reads until the server closes the connection (a failure if it does
/// not within the guard); returns what was read.
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .expect("the server closed the connection within the guard")
            .unwrap_or(0);
        if n == 0 {
            return seen;
        }
        seen.extend_from_slice(&buf[..n]);
    }
}

/// The `http` block of the status, read on a connection of its own.
async fn http_status(server: &Server) -> Value {
    server.get(routes::STATUS).await.json()["http"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_read_timeout_closes_slow_client() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let limits = limits(Duration::from_millis(300), Duration::from_secs(60), 64);
    let server = Server::with_limits(fed.engine.clone(), limits).await;

    // Never finishes its headers, but keeps sending a byte now and then
    // (so a deadline reset by every byte would never fire).
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let trickle = async {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if slow.write_all(b"X").await.is_err() {
                break;
            }
        }
    };
    let mut reader = TcpStream::connect(server.addr).await.unwrap();
    // A connection that sends nothing at all is closed too.
    let (_, silent) = tokio::join!(trickle, closed_by_server(&mut reader));
    assert!(silent.is_empty());
    let answered = closed_by_server(&mut slow).await;
    assert!(
        answered.is_empty(),
        "{}",
        String::from_utf8_lossy(&answered)
    );

    let http = assert_timeouts(&server, 2, 0).await;
    assert_eq!(http["header_read_timeout_ms"], 300, "{http}");
    server.stop().await;
    fed.shutdown.cancel();
}

/// Asserts that `/status` and `/metrics` count `header` connections closed
/// for a slow request head and `idle` ones closed idle; `/status.http`.
async fn assert_timeouts(server: &Server, header: u64, idle: u64) -> Value {
    let http = http_status(server).await;
    assert_eq!(http["header_timeouts"], header, "{http}");
    assert_eq!(http["idle_timeouts"], idle, "{http}");
    let metrics = server.get(routes::METRICS).await.body;
    for (reason, count) in [("header", header), ("idle", idle)] {
        let line =
            format!("qa_reload_http_connections_timed_out_total{{reason=\"{reason}\"}} {count}\n");
        assert!(metrics.contains(&line), "{line}in {metrics}");
    }
    http
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let limits = limits(Duration::from_secs(60), Duration::from_millis(300), 64);
    let server = Server::with_limits(fed.engine.clone(), limits).await;

    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
        routes::WORKFLOWS,
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // The response, then the close once the connection has been idle.
    let seen = closed_by_server(&mut stream).await;
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");

    assert_timeouts(&server, 0, 1).await;
    server.stop().await;
    fed.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_answers_503() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let limits = limits(Duration::from_secs(60), Duration::from_secs(60), 2);
    let server = Server::with_limits(fed.engine.clone(), limits).await;

    let mut first = Conn::open(server.addr).await;
    assert_eq!(first.request("GET", routes::STATUS, &[]).await.status, 200);
    // A WebSocket holds a slot too.
    let ws = served::ws_connect(&server.ws_url(""), &[]).await.unwrap();

    let mut over = Conn::open(server.addr).await;
    let refused = over.request("GET", routes::STATUS, &[]).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.json()["code"], "too_many_connections");

    let http = first.request("GET", routes::STATUS, &[]).await.json()["http"].clone();
    assert_eq!(http["open_connections"], 2, "{http}");
    assert_eq!(http["max_connections"], 2, "{http}");
    assert_eq!(http["refused_over_cap"], 1, "{http}");
    let metrics = first.request("GET", routes::METRICS, &[]).await.body;
    assert!(
        metrics.contains("qa_reload_http_connections_refused_total 1\n"),
        "{metrics}"
    );

    // A slot freed is a slot to take.
    served::close(ws).await;
    served::eventually("a freed slot is taken again", || {
        server.state.connections.open() < 2
    })
    .await;
    let mut again = Conn::open(server.addr).await;
    assert_eq!(again.request("GET", routes::STATUS, &[]).await.status, 200);
    server.stop().await;
    fed.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_host_header_is_400() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let mut conn = Conn::open(server.addr).await;
    let twice = conn
        .request(
            "GET",
            routes::STATUS,
            &[("Host", "localhost"), ("Host", "evil.example")],
        )
        .await;
    assert_eq!(twice.status, 400, "{}", twice.body);
    assert_eq!(twice.json()["code"], "duplicate_host");
    server.stop().await;
    fed.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_origin_header_is_400() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let mut conn = Conn::open(server.addr).await;
    let own = format!("http://{}", server.addr);
    let twice = conn
        .request(
            "POST",
            routes::RELOAD,
            &[("Origin", &own), ("Origin", "https://evil.example")],
        )
        .await;
    assert_eq!(twice.status, 400, "{}", twice.body);
    assert_eq!(twice.json()["code"], "duplicate_origin");
    server.stop().await;
    fed.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_foreign_host_is_403() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let mut conn = Conn::open(server.addr).await;
    // The `Host` header is the server's own; the target names another host.
    let foreign = conn
        .request("GET", "http://evil.example/api/v1/workflows", &[])
        .await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    assert_eq!(foreign.json()["code"], "host_not_allowed");
    let own = conn
        .request(
            "GET",
            &format!("http://{}/api/v1/workflows", server.addr),
            &[],
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    server.stop().await;
    fed.shutdown.cancel();
}

#[test]
fn short_token_is_refused() {
    let repo = served::repo(256);
    for (how, token) in [
        ("flag", " "),
        ("flag", "fifteen-chars-x"),
        ("env", "                    "),
    ] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_qa-reload"));
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--repo"])
            .arg(&repo.root)
            .env("RUST_LOG", "off")
            .env_remove("QA_RELOAD_TOKEN");
        if how == "flag" {
            command.args(["--token", token]);
        } else {
            command.env("QA_RELOAD_TOKEN", token);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{how} {token:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("at least 16"), "{stderr}");
        assert!(!stderr.contains(token.trim()) || token.trim().is_empty());
        assert!(output.stdout.is_empty(), "it served anyway");
    }
}

/// A server that believes it is bound to `0.0.0.0` (as `--bind 0.0.0.0`
/// would make it) while listening on loopback only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_literal_origin_on_open_bind_is_refused() {
    const TOKEN: &str = "a-token-long-enough-for-tests";
    let fed = Fed::start(served::repo(256), 1024).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let open_bind = format!("0.0.0.0:{port}").parse().unwrap();
    let security = Security::new(open_bind, Some(TOKEN), &[])
        .with_allowed_origins(&["http://app.example:3000".to_owned()])
        .unwrap();
    let state = AppState::new(fed.engine.clone(), security, CancellationToken::new());
    let server = Server::serving(listener, state);
    let bearer = format!("Bearer {TOKEN}");
    let host = format!("127.0.0.1:{port}");
    let own = format!("http://127.0.0.1:{port}");
    // (Origin, expected status) of a POST naming the server as 127.0.0.1
    let table = [
        ("http://10.1.2.3", 403),
        ("http://192.168.0.7:8080", 403),
        ("http://[fe80::1]", 403),
        ("http://app.example", 403),
        (own.as_str(), 200),
        ("http://app.example:3000", 200),
    ];
    let mut conn = Conn::open(server.addr).await;
    for (origin, expected) in table {
        let answer = conn
            .request(
                "POST",
                routes::RELOAD,
                &[
                    ("Host", &host),
                    ("Origin", origin),
                    ("Authorization", &bearer),
                ],
            )
            .await;
        assert_eq!(answer.status, expected, "Origin {origin}: {}", answer.body);
        if expected == 403 {
            assert_eq!(answer.json()["code"], "origin_not_allowed");
        }
    }
    server.stop().await;
    fed.shutdown.cancel();
}

/// A workflow with `n` steps that are strings, not mappings: `n` schema
/// errors in one file.
fn broken_workflow(n: usize) -> String {
    let mut text = String::from("name: Broken\nsteps:\n");
    for _ in 0..n {
        text.push_str("  - x\n");
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_errors_do_not_grow_every_frame() {
    const ERRORS: usize = 2_500;
    const BIG: &str = "workflows/big.yaml";
    let repo = served::repo(256);
    repo.commit(
        &[(BIG, &broken_workflow(ERRORS))],
        "a file with thousands of errors",
    );
    let mut fed = Fed::start(repo, 1024).await;
    let total = fed.engine.snapshot().errors.len();
    assert!(total >= ERRORS, "{total}");
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let mut ws = served::ws_connect(&server.ws_url(""), &[]).await.unwrap();
    assert_eq!(served::next_frame(&mut ws).await["type"], "hello");
    let snapshot = served::next_frame(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["errors"].as_array().unwrap().len(), 100);
    assert_eq!(snapshot["errors_total"], total);
    assert_eq!(snapshot["errors_truncated"], true);

    // Saves of another file: each frame carries the same capped list, and
    // every event shares the big file's list instead of copying it.
    let mut lists = Vec::new();
    for minutes in 11..16 {
        let event = fed
            .change(&[("workflows/other.yaml", &served::workflow("Other", minutes))])
            .await;
        let frame = loop {
            let frame = served::next_frame(&mut ws).await;
            if frame["type"] == "reload" {
                break frame;
            }
        };
        assert_eq!(frame["revision"], event.revision);
        let text = frame.to_string();
        assert!(
            text.len() < 100_000,
            "a reload frame of {} bytes",
            text.len()
        );
        assert_eq!(frame["errors"].as_array().unwrap().len(), 100);
        assert_eq!(frame["errors_total"], total);
        assert_eq!(frame["errors_truncated"], true);
        let big = event.errors.file(BIG).unwrap();
        assert_eq!(big.total, ERRORS);
        lists.push(std::ptr::from_ref(big));
    }
    assert!(
        lists.windows(2).all(|w| w[0] == w[1]),
        "each event holds its own copy of the big file's errors"
    );

    // The status is capped the same way; `errors=all` lists every one.
    let status = server.get(routes::STATUS).await.json();
    assert_eq!(status["errors"].as_array().unwrap().len(), 100);
    assert_eq!(status["errors_truncated"], true);
    let all = server
        .get(&format!("{}?errors=all", routes::STATUS))
        .await
        .json();
    assert_eq!(all["errors"].as_array().unwrap().len(), total);
    assert_eq!(all["errors_truncated"], false);
    let bad = server.get(&format!("{}?errors=some", routes::STATUS)).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    served::close(ws).await;
    server.stop().await;
    fed.shutdown.cancel();
}

/// The workflow `Long` of generation `generation`: every line of its
/// 60-line description changes from one generation to the next, so each
/// change is a patch of some 30 KB.
fn described(generation: usize) -> String {
    let mut text = String::from("name: Long\ndescription: |\n");
    for line in 0..60 {
        text.push_str(&format!(
            "  generation {generation} line {line} of a long description\n"
        ));
    }
    text.push_str("steps:\n  - id: a\n    name: A\n    estimated_minutes: 1\n");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_bounded_in_bytes() {
    const BUDGET: usize = 64 * 1024;
    let repo = crate::util::TestRepo::new();
    repo.commit(
        &[
            ("workflows/long.yaml", &described(0)),
            (
                "config/hot_reload.yaml",
                &format!("history: 1000\nhistory_bytes: {BUDGET}\n"),
            ),
        ],
        "a long workflow and a small history budget",
    );
    let mut fed = Fed::start(repo, 1024).await;
    let first = fed.engine.snapshot().revision;
    let mut last = first;
    for generation in 1..=20 {
        last = fed
            .change(&[("workflows/long.yaml", &described(generation))])
            .await
            .revision;
    }
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let history = server.get(routes::STATUS).await.json()["history"].clone();
    assert!(
        history["bytes"].as_u64().unwrap() <= BUDGET as u64,
        "{history}"
    );
    assert_eq!(history["max_bytes"], BUDGET, "{history}");
    let kept = history["events"].as_u64().unwrap();
    assert!((1..20).contains(&kept), "{history}");

    // Resuming from before what is kept: a snapshot, over HTTP and WebSocket.
    let instance = fed.engine.instance().to_owned();
    let gone = server
        .get(&format!(
            "{}?since={first}&instance={instance}",
            routes::EVENTS
        ))
        .await;
    assert_eq!(gone.status, 410, "{}", gone.body);
    assert_eq!(gone.json()["code"], "history_gone");
    let mut ws = served::ws_connect(
        &server.ws_url(&format!("?since={first}&instance={instance}")),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(served::next_frame(&mut ws).await["type"], "hello");
    assert_eq!(served::next_frame(&mut ws).await["type"], "snapshot");
    served::close(ws).await;
    // The latest revisions are still there to resume from.
    let recent = server
        .get(&format!(
            "{}?since={}&instance={instance}",
            routes::EVENTS,
            last - 1
        ))
        .await;
    assert_eq!(recent.status, 200, "{}", recent.body);
    assert_eq!(recent.json()["events"].as_array().unwrap().len(), 1);
    server.stop().await;
    fed.shutdown.cancel();
}

/// A server whose serialisation cache refuses new HTTP bodies past `budget`.
async fn budgeted(fed: &Fed, budget: usize) -> Server {
    let security = Security::new("127.0.0.1:0".parse().unwrap(), None, &[]);
    let mut state = AppState::new(fed.engine.clone(), security, CancellationToken::new());
    state.cache = std::sync::Arc::new(qa_reload::api::cache::SerialCache::with_budget(budget));
    Server::serving(TcpListener::bind("127.0.0.1:0").await.unwrap(), state)
}

/// `GET .../events` sent on a socket that takes 4 KiB at a time and is not
/// read: the server cannot write the body out, so it holds what it sent.
async fn unread_request(server: &Server, path: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// The status and JSON body of a whole response read to the end.
async fn read_response(mut stream: TcpStream) -> (u16, Value) {
    let raw = closed_by_server(&mut stream).await;
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Sixty unread `GET .../events` held 1.5 GiB: each built its own body.
/// Now each event is its reload frame, written once and shared by every
/// response, and a budget bounds the serialised bytes held for clients:
/// twelve unread lists from twelve revisions (whose bodies together are
/// several times the budget) are all answered, and a body the budget
/// cannot take is a 503 with the JSON error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_event_lists_share_their_frames_within_the_response_budget() {
    const CLIENTS: u64 = 12;
    let repo = crate::util::TestRepo::new();
    repo.commit(
        &[
            ("workflows/long.yaml", &described(0)),
            // 50 errors in force, for `status?errors=all`.
            (
                "workflows/broken.yaml",
                &format!("name: Broken\nsteps:\n{}", "  - x\n".repeat(50)),
            ),
            ("config/hot_reload.yaml", "history: 1000\n"),
        ],
        "a long workflow",
    );
    let mut fed = Fed::start(repo, 1024).await;
    let first = fed.engine.snapshot().revision;
    for generation in 1..=20 {
        fed.change(&[("workflows/long.yaml", &described(generation))])
            .await;
    }
    let instance = fed.engine.instance().to_owned();
    let events = |since: u64| format!("{}?since={since}&instance={instance}", routes::EVENTS);

    // The frames of all 20 revisions, measured on a server without budget.
    let free = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let whole = free.get(&events(first)).await;
    assert_eq!(whole.status, 200, "{}", whole.body);
    let frames = whole.body.len();
    free.stop().await;

    let budget = 3 * frames;
    let server = budgeted(&fed, budget).await;
    let mut unread = Vec::new();
    let mut bodies = 0;
    for since in first..first + CLIENTS {
        unread.push((since, unread_request(&server, &events(since)).await));
        bodies += frames * (20 - (since - first) as usize) / 20;
    }
    assert!(bodies > 2 * budget, "the bodies would not pass the budget");
    // While none is read, the serialised bytes alive are one copy of the
    // frames, however many responses hold them.
    let cache = std::sync::Arc::clone(&server.state.cache);
    served::eventually("every request is being answered", || {
        cache.held() >= frames * 9 / 10
    })
    .await;
    assert!(cache.held() <= budget, "{} > {budget}", cache.held());
    for (since, stream) in unread {
        let (status, body) = read_response(stream).await;
        assert_eq!(status, 200, "since {since}: {body}");
        let listed = body["events"].as_array().unwrap();
        assert_eq!(listed.len() as u64, first + 20 - since, "since {since}");
        assert_eq!(listed[0]["revision"], since + 1);
    }
    server.stop().await;

    // A budget smaller than one frame: the list and every diagnostic are
    // refused with the JSON error body, the capped status still answers.
    let tight = budgeted(&fed, 1024).await;
    for path in [events(first), format!("{}?errors=all", routes::STATUS)] {
        let refused = tight.get(&path).await;
        assert_eq!(refused.status, 503, "{path}: {}", refused.body);
        assert_eq!(refused.json()["code"], "responses_over_budget", "{path}");
    }
    assert_eq!(tight.get(routes::STATUS).await.status, 200);
    tight.stop().await;
}

/// Sends `request` on a connection of its own and reads until the server
/// closes it: the status, and the body as JSON.
async fn raw_answer(server: &Server, request: &[u8]) -> (String, Value) {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The server may answer (and close) before it has read everything.
    let _ = stream.write_all(request).await;
    let seen = closed_by_server(&mut stream).await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, body)
}

/// Requests the HTTP layer refuses before any route sees them got empty
/// bodies (414, 431), and one without `Host` got 403 where RFC 9112 says
/// 400: every refusal carries the `{"code","message"}` body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_routing_carry_the_json_error_body() {
    let fed = Fed::start(served::repo(4), 64).await;
    let server = Server::with_limits(fed.engine.clone(), HttpLimits::default()).await;
    let host = format!("Host: {}\r\n", server.addr);

    let long_target = format!("GET /?q={} HTTP/1.1\r\n{host}\r\n", "a".repeat(70_000));
    let (status, body) = raw_answer(&server, long_target.as_bytes()).await;
    assert!(status.starts_with("HTTP/1.1 414 "), "{status}");
    assert_eq!(body["code"], "uri_too_long", "{body}");

    let big_header = format!(
        "GET / HTTP/1.1\r\n{host}X-Big: {}\r\n\r\n",
        "b".repeat(500_000)
    );
    let (status, body) = raw_answer(&server, big_header.as_bytes()).await;
    assert!(status.starts_with("HTTP/1.1 431 "), "{status}");
    assert_eq!(body["code"], "headers_too_large", "{body}");

    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\n{host}{many}\r\n");
    let (status, body) = raw_answer(&server, many.as_bytes()).await;
    assert!(status.starts_with("HTTP/1.1 431 "), "{status}");
    assert_eq!(body["code"], "headers_too_large", "{body}");

    let (status, body) = raw_answer(&server, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert!(status.starts_with("HTTP/1.1 400 "), "{status}");
    assert_eq!(body["code"], "host_required", "{body}");

    let (status, body) = raw_answer(&server, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n").await;
    assert!(status.starts_with("HTTP/1.1 400 "), "{status}");
    assert_eq!(body["code"], "malformed_request", "{body}");

    // The server still answers.
    assert_eq!(server.get(routes::STATUS).await.status, 200);
    server.stop().await;
    fed.shutdown.cancel();
}
