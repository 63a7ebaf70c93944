//! Tests of the request guards (`security.rs`): Host, Origin, token,
//! duplicate headers, absolute-form targets, and that the token is never
//! logged nor echoed.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::test_support::Captured;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use http_body_util::BodyExt;
use tower::ServiceExt;

const TOKEN: &str = "s3cret-t0ken-long-enough";

fn loopback() -> SocketAddr {
    "127.0.0.1:7878".parse().unwrap()
}

/// Each route answers the URI and `Authorization` header it was given,
/// so tests see what the guard passed on.
fn app(security: Security) -> Router {
    async fn echo(req: Request) -> String {
        let auth = req.headers().get(header::AUTHORIZATION).is_some();
        format!("{} auth={auth}", req.uri())
    }
    let router = Router::new()
        .route("/", get(echo))
        .route("/metrics", get(echo))
        .route("/api/v1/workflows", get(echo).post(echo).delete(echo))
        .route("/ws/hot-reload", get(echo));
    protect(router, Arc::new(security))
}

struct Answer {
    status: StatusCode,
    body: String,
}

impl Answer {
    /// The `code` of a JSON refusal, or `"passed"` for a 200.
    fn outcome(&self) -> String {
        if self.status == StatusCode::OK {
            return "passed".to_owned();
        }
        let body: serde_json::Value = serde_json::from_str(&self.body).unwrap();
        format!(
            "{} {}",
            self.status.as_u16(),
            body["code"].as_str().unwrap()
        )
    }
}

async fn send(security: &Security, request: Request) -> Answer {
    let response = app(security.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

/// `(host header or "-" for none, expected outcome)` against `security`.
async fn check_hosts(security: &Security, table: &[(&str, &str)]) {
    for (host, expect) in table {
        let headers: &[(&str, &str)] = if *host == "-" { &[] } else { &[("host", host)] };
        let answer = send(security, request("GET", "/", headers)).await;
        assert_eq!(answer.outcome(), *expect, "Host: {host}");
    }
}

#[tokio::test]
async fn loopback_bind_accepts_loopback_hosts_on_any_port_and_refuses_others() {
    let security = Security::new(loopback(), None, &[]);
    check_hosts(
        &security,
        &[
            ("localhost", "passed"),
            ("localhost:7878", "passed"),
            ("LocalHost:3000", "passed"),
            ("localhost.:7878", "passed"),
            ("127.0.0.1", "passed"),
            ("127.0.0.1:7878", "passed"),
            ("127.0.0.2:7878", "passed"),
            ("[::1]", "passed"),
            ("[::1]:7878", "passed"),
            ("[::ffff:127.0.0.1]:7878", "passed"),
            ("evil.example", "403 host_not_allowed"),
            ("evil.example:7878", "403 host_not_allowed"),
            ("localhost.evil.example", "403 host_not_allowed"),
            ("192.168.1.5:7878", "403 host_not_allowed"),
            ("0.0.0.0:7878", "403 host_not_allowed"),
            ("::1", "403 host_not_allowed"),
            ("[::1", "403 host_not_allowed"),
            ("localhost:", "403 host_not_allowed"),
            ("localhost:80x", "403 host_not_allowed"),
            ("", "403 host_not_allowed"),
            ("-", "400 host_required"),
        ],
    )
    .await;
}

#[tokio::test]
async fn non_loopback_bind_also_accepts_its_own_address_and_extra_names() {
    let bind = "192.168.1.5:7878".parse().unwrap();
    let extra = ["devbox.lan:7878".to_owned(), "QA.Example.COM".to_owned()];
    let security = Security::new(bind, Some(TOKEN), &extra);
    assert_eq!(
        security.allowed_hosts(),
        ["192.168.1.5", "devbox.lan", "localhost", "qa.example.com"]
    );
    check_hosts(
        &security,
        &[
            ("192.168.1.5:7878", "passed"),
            ("devbox.lan", "passed"),
            ("qa.example.com:443", "passed"),
            ("localhost:7878", "passed"),
            ("192.168.1.6:7878", "403 host_not_allowed"),
            ("evil.example", "403 host_not_allowed"),
        ],
    )
    .await;
}

#[tokio::test]
async fn unspecified_bind_accepts_any_ip_literal_but_only_configured_names() {
    let bind = "[::]:7878".parse().unwrap();
    let security = Security::new(bind, Some(TOKEN), &["devbox.lan".to_owned()]);
    check_hosts(
        &security,
        &[
            ("10.1.2.3:7878", "passed"),
            ("[fe80::1]:7878", "passed"),
            ("devbox.lan:7878", "passed"),
            ("[::]:7878", "403 host_not_allowed"),
            ("evil.example", "403 host_not_allowed"),
        ],
    )
    .await;
}

#[tokio::test]
async fn http2_authority_stands_in_for_a_missing_host_header() {
    let security = Security::new(loopback(), None, &[]);
    let ok = request("GET", "http://localhost:7878/", &[]);
    assert_eq!(send(&security, ok).await.outcome(), "passed");
    let foreign = request("GET", "http://evil.example/", &[]);
    assert_eq!(
        send(&security, foreign).await.outcome(),
        "403 host_not_allowed"
    );
}

#[tokio::test]
async fn websocket_upgrades_and_changes_need_an_allowed_origin_when_one_is_sent() {
    let security = Security::new(loopback(), None, &[]);
    let ws = [("upgrade", "websocket"), ("connection", "upgrade")];
    // (method, path, Upgrade: websocket?, Origin or "-", expected outcome)
    let table = [
        ("GET", "/ws/hot-reload", true, "-", "passed"),
        (
            "GET",
            "/ws/hot-reload",
            true,
            "http://localhost:7878",
            "passed",
        ),
        (
            "GET",
            "/ws/hot-reload",
            true,
            "http://localhost:3000",
            "passed",
        ),
        ("GET", "/ws/hot-reload", true, "https://127.0.0.1", "passed"),
        ("GET", "/ws/hot-reload", true, "http://[::1]:5173", "passed"),
        (
            "GET",
            "/ws/hot-reload",
            true,
            "http://evil.example",
            "403 origin_not_allowed",
        ),
        (
            "GET",
            "/ws/hot-reload",
            true,
            "http://localhost.evil.example",
            "403 origin_not_allowed",
        ),
        (
            "GET",
            "/ws/hot-reload",
            true,
            "null",
            "403 origin_not_allowed",
        ),
        (
            "GET",
            "/ws/hot-reload",
            true,
            "localhost",
            "403 origin_not_allowed",
        ),
        (
            "GET",
            "/ws/hot-reload",
            true,
            "chrome-extension://abcdef",
            "403 origin_not_allowed",
        ),
        (
            "GET",
            "/ws/hot-reload",
            true,
            "http://user@localhost",
            "403 origin_not_allowed",
        ),
        // Any path: the upgrade is what matters.
        (
            "GET",
            "/api/v1/workflows",
            true,
            "http://evil.example",
            "403 origin_not_allowed",
        ),
        ("POST", "/api/v1/workflows", false, "-", "passed"),
        (
            "POST",
            "/api/v1/workflows",
            false,
            "http://localhost:3000",
            "passed",
        ),
        (
            "POST",
            "/api/v1/workflows",
            false,
            "http://evil.example",
            "403 origin_not_allowed",
        ),
        (
            "POST",
            "/api/v1/workflows",
            false,
            "null",
            "403 origin_not_allowed",
        ),
        (
            "DELETE",
            "/api/v1/workflows",
            false,
            "http://evil.example",
            "403 origin_not_allowed",
        ),
        // A plain cross-site GET cannot read the answer (no CORS) nor change anything.
        (
            "GET",
            "/api/v1/workflows",
            false,
            "http://evil.example",
            "passed",
        ),
    ];
    for (method, path, upgrade, origin, expect) in table {
        let mut headers: Vec<(&str, &str)> = vec![("host", "localhost:7878")];
        if upgrade {
            headers.extend(ws);
        }
        if origin != "-" {
            headers.push(("origin", origin));
        }
        let answer = send(&security, request(method, path, &headers)).await;
        assert_eq!(
            answer.outcome(),
            expect,
            "{method} {path} upgrade={upgrade} Origin: {origin}"
        );
    }
}

#[tokio::test]
async fn upgrade_header_is_matched_case_insensitively_in_a_list() {
    let security = Security::new(loopback(), None, &[]);
    let headers = [
        ("host", "localhost"),
        ("upgrade", "h2c, WebSocket"),
        ("origin", "http://evil.example"),
    ];
    let answer = send(&security, request("GET", "/ws/hot-reload", &headers)).await;
    assert_eq!(answer.outcome(), "403 origin_not_allowed");
}

#[tokio::test]
async fn without_a_configured_token_nothing_asks_for_one() {
    let security = Security::new(loopback(), None, &[]);
    for path in ["/", "/api/v1/workflows", "/ws/hot-reload", "/metrics"] {
        let answer = send(&security, request("GET", path, &[("host", "localhost")])).await;
        assert_eq!(answer.outcome(), "passed", "{path}");
    }
    let empty = Security::new(loopback(), Some(""), &[]);
    assert!(!empty.requires_token());
}

#[tokio::test]
async fn with_a_token_every_path_but_the_page_needs_it() {
    let security = Security::new(loopback(), Some(TOKEN), &[]);
    let bearer = format!("Bearer {TOKEN}");
    let lower = format!("bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    let in_query = format!("/ws/hot-reload?since=3&token={TOKEN}");
    // (path, Authorization or "-", expected outcome)
    let table = [
        ("/", "-", "passed"),
        ("/?x=1", "-", "passed"),
        ("/api/v1/workflows", "-", "401 token_required"),
        ("/ws/hot-reload", "-", "401 token_required"),
        ("/metrics", "-", "401 token_required"),
        ("/not-routed-yet", "-", "401 token_required"),
        ("//api/v1/workflows", "-", "401 token_required"),
        (
            "/api/v1/workflows",
            "Basic dXNlcjpwYXNz",
            "401 token_required",
        ),
        ("/api/v1/workflows", "Bearer", "401 token_required"),
        ("/api/v1/workflows", &wrong, "401 token_invalid"),
        ("/api/v1/workflows", "Bearer s3cret", "401 token_invalid"),
        ("/metrics?token=nope", "-", "401 token_invalid"),
        ("/metrics?token=%FF", "-", "401 token_invalid"),
        ("/api/v1/workflows", &bearer, "passed"),
        ("/api/v1/workflows", &lower, "passed"),
        ("/metrics", &bearer, "passed"),
        (&in_query, "-", "passed"),
        (
            "/ws/hot-reload?token=s3cret%2Dt0ken%2Dlong-enough",
            "-",
            "passed",
        ),
    ];
    for (path, auth, expect) in table {
        let mut headers = vec![("host", "localhost")];
        if auth != "-" {
            headers.push(("authorization", auth));
        }
        let answer = send(&security, request("GET", path, &headers)).await;
        assert_eq!(answer.outcome(), expect, "{path} Authorization: {auth}");
    }
}

#[tokio::test]
async fn a_401_tells_the_client_to_use_a_bearer_token() {
    let security = Security::new(loopback(), Some(TOKEN), &[]);
    let response = app(security)
        .oneshot(request("GET", "/metrics", &[("host", "localhost")]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
}

#[tokio::test]
async fn foreign_host_is_refused_before_the_token_is_looked_at() {
    let security = Security::new(loopback(), Some(TOKEN), &[]);
    let answer = send(
        &security,
        request("GET", "/api/v1/workflows", &[("host", "evil.example")]),
    )
    .await;
    assert_eq!(answer.outcome(), "403 host_not_allowed");
}

#[tokio::test]
async fn handlers_never_see_the_credential() {
    let security = Security::new(loopback(), Some(TOKEN), &[]);
    let bearer = format!("Bearer {TOKEN}");
    let cases = [
        (
            format!("/ws/hot-reload?since=3&token={TOKEN}"),
            "-",
            "/ws/hot-reload?since=3 auth=false",
        ),
        (
            format!("/ws/hot-reload?token={TOKEN}&since=3"),
            "-",
            "/ws/hot-reload?since=3 auth=false",
        ),
        (
            format!("/ws/hot-reload?token={TOKEN}"),
            "-",
            "/ws/hot-reload auth=false",
        ),
        (
            "/api/v1/workflows?a=1".to_owned(),
            bearer.as_str(),
            "/api/v1/workflows?a=1 auth=false",
        ),
    ];
    for (path, auth, seen) in cases {
        let mut headers = vec![("host", "localhost")];
        if auth != "-" {
            headers.push(("authorization", auth));
        }
        let answer = send(&security, request("GET", &path, &headers)).await;
        assert_eq!(answer.body, seen, "{path}");
    }
}

#[tokio::test]
async fn the_token_is_never_logged_nor_echoed() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    // The test runtime is single-threaded, so the thread-local default
    // subscriber sees everything the guard logs.
    let _default = tracing::subscriber::set_default(subscriber);

    let security = Security::new(loopback(), Some(TOKEN), &[]);
    assert!(!format!("{security:?}").contains(TOKEN));
    let near_miss = format!("Bearer {TOKEN}x");
    let requests = [
        request(
            "GET",
            "/metrics",
            &[("host", "localhost"), ("authorization", &near_miss)],
        ),
        request(
            "GET",
            &format!("/metrics?token={TOKEN}x"),
            &[("host", "localhost")],
        ),
        request(
            "GET",
            &format!("/metrics?token={TOKEN}"),
            &[("host", "evil.example")],
        ),
        request(
            "GET",
            &format!("/ws/hot-reload?token={TOKEN}"),
            &[
                ("host", "localhost"),
                ("upgrade", "websocket"),
                ("origin", "null"),
            ],
        ),
        request("GET", "/metrics", &[("host", "localhost")]),
    ];
    let mut refusals = 0;
    for req in requests {
        let answer = send(&security, req).await;
        assert_ne!(answer.status, StatusCode::OK);
        assert!(!answer.body.contains(TOKEN), "{}", answer.body);
        refusals += 1;
    }
    let logged = log.text();
    // Every refusal logs one line; with other tests running in parallel,
    // tracing's per-callsite interest cache can now and then skip one of
    // them for a thread-local subscriber, so the count is bounded, not exact.
    // What matters is that lines were written and none holds the token.
    let lines = logged.lines().count();
    assert!((1..=refusals).contains(&lines), "{logged}");
    assert!(!logged.contains(TOKEN), "{logged}");
}

#[test]
fn check_bind_refuses_a_network_bind_without_a_token() {
    let table: &[(&str, Option<&str>, bool)] = &[
        ("127.0.0.1:7878", None, true),
        ("127.0.0.2:7878", None, true),
        ("[::1]:7878", None, true),
        ("[::ffff:127.0.0.1]:7878", None, true),
        ("0.0.0.0:7878", None, false),
        ("[::]:7878", None, false),
        ("192.168.1.5:7878", None, false),
        ("192.168.1.5:7878", Some(""), false),
        ("192.168.1.5:7878", Some(TOKEN), true),
        ("0.0.0.0:7878", Some(TOKEN), true),
        // Too short or blank: refused wherever it is used.
        ("0.0.0.0:7878", Some(" "), false),
        ("0.0.0.0:7878", Some("                    "), false),
        ("0.0.0.0:7878", Some("fifteen-chars-x"), false),
        ("0.0.0.0:7878", Some("sixteen-chars-xy"), true),
        ("0.0.0.0:7878", Some("fifteen chars xy z w"), true),
        ("0.0.0.0:7878", Some(" sixteen-chars-xy"), false),
        ("127.0.0.1:7878", Some("short"), false),
    ];
    for (addr, token, ok) in table {
        let result = check_bind(addr.parse().unwrap(), *token);
        assert_eq!(result.is_ok(), *ok, "{addr} {token:?}");
    }
    let message = check_bind("0.0.0.0:7878".parse().unwrap(), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "refusing to listen on 0.0.0.0:7878 without a token, since anyone on the network \
         could use the API; pass --token <secret> or set QA_RELOAD_TOKEN (or bind 127.0.0.1)"
    );
    assert!(!message.contains('\n'));
}

#[test]
fn a_short_token_is_refused_without_showing_it() {
    let message = check_bind("0.0.0.0:7878".parse().unwrap(), Some("hunter2"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("at least 16"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn host_and_origin_may_appear_only_once() {
    let security = Security::new(loopback(), None, &[]);
    let table: &[(&[(&str, &str)], &str)] = &[
        (
            &[("host", "localhost"), ("host", "evil.example")],
            "400 duplicate_host",
        ),
        (
            &[("host", "localhost"), ("host", "localhost")],
            "400 duplicate_host",
        ),
        (
            &[
                ("host", "localhost"),
                ("origin", "http://localhost"),
                ("origin", "http://evil.example"),
            ],
            "400 duplicate_origin",
        ),
        (
            &[("host", "localhost"), ("origin", "http://localhost")],
            "passed",
        ),
    ];
    for (headers, expect) in table {
        let answer = send(&security, request("POST", "/api/v1/workflows", headers)).await;
        assert_eq!(answer.outcome(), *expect, "{headers:?}");
    }
}

/// A `Host` with bytes beyond ASCII (obs-text, which hyper lets through)
/// is a host not allowed, not a missing one.
#[tokio::test]
async fn a_host_header_that_is_not_ascii_is_refused_as_not_allowed() {
    let security = Security::new(loopback(), None, &[]);
    let mut req = request("GET", "/", &[]);
    req.headers_mut().insert(
        "host",
        axum::http::HeaderValue::from_bytes(b"local\xe9host").unwrap(),
    );
    let answer = send(&security, req).await;
    assert_eq!(answer.outcome(), "403 host_not_allowed", "{}", answer.body);
    assert!(answer.body.contains("not plain ASCII"), "{}", answer.body);
}

#[tokio::test]
async fn an_absolute_form_target_must_name_an_allowed_host_too() {
    let security = Security::new(loopback(), None, &[]);
    let table = [
        (
            "http://localhost:7878/api/v1/workflows",
            "localhost",
            "passed",
        ),
        (
            "http://evil.example/api/v1/workflows",
            "localhost",
            "403 host_not_allowed",
        ),
        (
            "http://localhost/api/v1/workflows",
            "evil.example",
            "403 host_not_allowed",
        ),
    ];
    for (target, host, expect) in table {
        let answer = send(&security, request("GET", target, &[("host", host)])).await;
        assert_eq!(answer.outcome(), expect, "{target} Host: {host}");
    }
}

#[tokio::test]
async fn off_loopback_an_origin_must_name_the_requests_own_host_or_be_listed() {
    let bind = "0.0.0.0:7878".parse().unwrap();
    let security = Security::new(bind, Some(TOKEN), &["devbox.lan".to_owned()])
        .with_allowed_origins(&[
            "HTTP://App.Example:3000".to_owned(),
            "https://ci.example:443".to_owned(),
        ])
        .unwrap();
    let bearer = format!("Bearer {TOKEN}");
    // (Host, Origin, expected outcome) of a POST
    let table = [
        ("10.0.0.5:7878", "http://10.0.0.5:7878", "passed"),
        ("10.0.0.5:7878", "http://10.0.0.5:3000", "passed"),
        ("10.0.0.5:7878", "http://10.0.0.9", "403 origin_not_allowed"),
        (
            "10.0.0.5:7878",
            "http://[fe80::1]",
            "403 origin_not_allowed",
        ),
        (
            "10.0.0.5:7878",
            "http://localhost",
            "403 origin_not_allowed",
        ),
        ("devbox.lan:7878", "http://devbox.lan", "passed"),
        (
            "devbox.lan:7878",
            "http://10.0.0.5",
            "403 origin_not_allowed",
        ),
        ("localhost:7878", "http://localhost:3000", "passed"),
        ("10.0.0.5:7878", "http://app.example:3000", "passed"),
        (
            "10.0.0.5:7878",
            "http://app.example",
            "403 origin_not_allowed",
        ),
        ("10.0.0.5:7878", "https://ci.example", "passed"),
    ];
    for (host, origin, expect) in table {
        let headers = [
            ("host", host),
            ("origin", origin),
            ("authorization", &bearer),
        ];
        let answer = send(&security, request("POST", "/api/v1/workflows", &headers)).await;
        assert_eq!(answer.outcome(), expect, "Host: {host} Origin: {origin}");
    }
}

#[test]
fn allowed_origins_must_be_origins() {
    let security = Security::new(loopback(), None, &[]);
    for bad in [
        "localhost:3000",
        "http://a.example/path",
        "http://u@a.example",
        "null",
        "ftp://a.example",
        "http://a.example/",
    ] {
        let message = security
            .clone()
            .with_allowed_origins(&[bad.to_owned()])
            .unwrap_err()
            .to_string();
        assert!(message.contains(bad), "{message}");
    }
    let table = [
        ("http://A.example:80", Some("http://a.example")),
        ("https://a.example:8443", Some("https://a.example:8443")),
        ("http://[::1]:3000", Some("http://[::1]:3000")),
    ];
    for (origin, normalised) in table {
        assert_eq!(normalise_origin(origin).as_deref(), normalised, "{origin}");
    }
}

#[test]
fn percent_decoding_of_query_values() {
    let table = [
        ("abc", Some("abc")),
        ("a%2Db", Some("a-b")),
        ("a+b", Some("a b")),
        ("100%", Some("100%")),
        ("%zz", Some("%zz")),
        ("%+f", Some("% f")),
        ("%C3%A9", Some("é")),
        ("%FF", None),
    ];
    for (raw, decoded) in table {
        assert_eq!(percent_decode(raw).as_deref(), decoded, "{raw}");
    }
}
