//! Integration clients and the supervisor, end to end: a temp git repo
//! served by `app::start`, and tiny HTTP servers on 127.0.0.1 standing in
//! for Jira, Postman and Testmo. The stand-ins check the credentials they
//! receive, record every request, and can hang or echo what they were sent.
//!
//! Timeouts here are failure guards, not performance assertions. No secret
//! used in this file may appear in any status, detail, Debug output or log.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use qa_reload::app::{self, App, Options};
use qa_reload::diff::patch::PatchKind;
use qa_reload::integrations::{
    FailureKind, IntegrationError, IntegrationStatus, Integrations, State, TestStep, Timing,
    USER_AGENT,
};
use qa_reload::model::IntegrationKind;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast};

use crate::util::{TestRepo, base64, secret_forms};

/// Longest wait for an expected status or event on a loaded machine.
const GUARD: Duration = Duration::from_secs(15);

const EMAIL: &str = "qa@example.com";
const JIRA_TOKEN: &str = "jira-SECRET-tok-4711";
const JIRA_BAD_TOKEN: &str = "jira-SECRET-bad-9999";
const POSTMAN_KEY: &str = "PMAK-SECRET-key-0815";
const POSTMAN_OTHER_KEY: &str = "PMAK-SECRET-other-2222";
const TESTMO_TOKEN: &str = "testmo-SECRET-tok-1234";
/// A base URL read from the environment: a secret, host included, in
/// whatever case a URL parser rewrites it to.
const TENANT_URL: &str = "HTTPS://Secret-Tenant-Host.invalid:443/jira";
const TENANT_HOST: &str = "secret-tenant-host";
const SECRETS: [&str; 5] = [
    JIRA_TOKEN,
    JIRA_BAD_TOKEN,
    POSTMAN_KEY,
    POSTMAN_OTHER_KEY,
    TESTMO_TOKEN,
];

use IntegrationKind::{Jira, Postman, Testmo};

// ---------------------------------------------------------------- stand-ins

/// One request a stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What a stand-in does with a request.
enum Reply {
    Status(u16, String),
    /// A status with extra headers (`Retry-After`, `Location`).
    With(u16, Vec<(&'static str, String)>, String),
    /// Answer only after this long.
    Slow(Duration, u16, String),
    /// Never answer; notice when the client gives up on the connection.
    Hang,
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct StandIn {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Requests it is hanging on right now.
    hanging: Arc<AtomicUsize>,
    /// Hung requests whose client went away.
    abandoned: Arc<AtomicUsize>,
    changed: Arc<Notify>,
}

impl StandIn {
    async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = StandIn {
            addr: listener.local_addr().unwrap(),
            seen: Arc::default(),
            hanging: Arc::default(),
            abandoned: Arc::default(),
            changed: Arc::default(),
        };
        let handler: Handler = Arc::new(handler);
        let (seen, hanging, abandoned, changed) = (
            Arc::clone(&s.seen),
            Arc::clone(&s.hanging),
            Arc::clone(&s.abandoned),
            Arc::clone(&s.changed),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, seen, hanging, abandoned, changed) = (
                    Arc::clone(&handler),
                    Arc::clone(&seen),
                    Arc::clone(&hanging),
                    Arc::clone(&abandoned),
                    Arc::clone(&changed),
                );
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    // Keep-alive: one request after another on a connection.
                    while let Some(request) = read_request(&mut stream).await {
                        seen.lock().unwrap().push(request.clone());
                        changed.notify_waiters();
                        let reply = match handler(&request) {
                            Reply::Status(code, body) => Reply::With(code, Vec::new(), body),
                            Reply::Slow(wait, code, body) => {
                                tokio::time::sleep(wait).await;
                                Reply::With(code, Vec::new(), body)
                            }
                            other => other,
                        };
                        match reply {
                            Reply::With(code, headers, body) => {
                                let extra: String = headers
                                    .iter()
                                    .map(|(k, v)| format!("{k}: {v}\r\n"))
                                    .collect();
                                let head = format!(
                                    "HTTP/1.1 {code} Stand-in\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n",
                                    body.len()
                                );
                                let out = stream.get_mut();
                                if out.write_all(head.as_bytes()).await.is_err()
                                    || out.write_all(body.as_bytes()).await.is_err()
                                {
                                    return;
                                }
                            }
                            Reply::Status(..) | Reply::Slow(..) => return,
                            Reply::Hang => {
                                hanging.fetch_add(1, Ordering::SeqCst);
                                changed.notify_waiters();
                                let mut rest = Vec::new();
                                let _ = stream.read_to_end(&mut rest).await;
                                hanging.fetch_sub(1, Ordering::SeqCst);
                                abandoned.fetch_add(1, Ordering::SeqCst);
                                changed.notify_waiters();
                                return;
                            }
                        }
                    }
                });
            }
        });
        s
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `check` holds (re-checked whenever the stand-in sees
    /// something).
    async fn until(&self, what: &str, check: impl Fn(&StandIn) -> bool) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if check(self) {
                    return;
                }
                // Notify has no memory for notify_waiters: poll as well.
                let _ = tokio::time::timeout(Duration::from_millis(50), changed).await;
            }
        };
        if tokio::time::timeout(GUARD, wait).await.is_err() {
            panic!("stand-in: {what} did not happen within {GUARD:?}");
        }
    }
}

async fn read_request<R: AsyncBufReadExt + Unpin>(stream: &mut R) -> Option<Seen> {
    let mut line = String::new();
    if stream.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Some(Seen {
        method,
        path,
        headers,
    })
}

/// The credential header each service expects, as (header, value).
fn expected_auth(kind: IntegrationKind) -> (&'static str, String) {
    match kind {
        Jira => (
            "authorization",
            format!(
                "Basic {}",
                base64(format!("{EMAIL}:{JIRA_TOKEN}").as_bytes())
            ),
        ),
        Postman => ("x-api-key", POSTMAN_KEY.to_string()),
        Testmo => ("authorization", format!("Bearer {TESTMO_TOKEN}")),
    }
}

/// The paths of `kind`'s test, in order: authenticate, then the project or
/// workspace the file names (`QA`, `ws-1`, `7`).
fn test_paths(kind: IntegrationKind) -> [&'static str; 2] {
    match kind {
        Jira => ["/rest/api/3/myself", "/rest/api/3/project/QA"],
        Postman => ["/me", "/workspaces/ws-1"],
        Testmo => ["/api/v1/user", "/api/v1/projects/7"],
    }
}

/// A stand-in for `kind` that answers 200 to the right credentials at the
/// test's paths and 401 (echoing what it got) to anything else.
async fn service(kind: IntegrationKind) -> StandIn {
    StandIn::start(move |req| {
        let (header, value) = expected_auth(kind);
        if test_paths(kind).contains(&req.path.as_str())
            && req.header(header) == Some(value.as_str())
        {
            Reply::Status(200, r#"{"ok":true}"#.into())
        } else {
            Reply::Status(
                401,
                format!(
                    r#"{{"message":"bad credentials","received":"{}"}}"#,
                    req.header(header).unwrap_or("nothing")
                ),
            )
        }
    })
    .await
}

// ---------------------------------------------------------------- the repo

fn config(kind: IntegrationKind, base_url: &str, timeout_ms: u64) -> String {
    config_with(kind, base_url, timeout_ms, true, secret_var(kind))
}

fn secret_var(kind: IntegrationKind) -> &'static str {
    match kind {
        Jira => "JIRA_TOKEN",
        Postman => "POSTMAN_KEY",
        Testmo => "TESTMO_TOKEN",
    }
}

fn config_with(
    kind: IntegrationKind,
    base_url: &str,
    timeout_ms: u64,
    enabled: bool,
    var: &str,
) -> String {
    let credentials = match kind {
        Jira => format!("email: {EMAIL}\napi_token: ${{{var}}}\nproject_key: QA\n"),
        Postman => format!("api_key: ${{{var}}}\nworkspace_id: ws-1\n"),
        Testmo => format!("api_token: ${{{var}}}\nproject_id: 7\n"),
    };
    format!("enabled: {enabled}\nbase_url: {base_url}\ntimeout_ms: {timeout_ms}\n{credentials}")
}

fn env(name: &str) -> Option<String> {
    let value = match name {
        "JIRA_TOKEN" => JIRA_TOKEN,
        "JIRA_BAD_TOKEN" => JIRA_BAD_TOKEN,
        "POSTMAN_KEY" => POSTMAN_KEY,
        "POSTMAN_OTHER_KEY" => POSTMAN_OTHER_KEY,
        "TESTMO_TOKEN" => TESTMO_TOKEN,
        "TENANT_URL" => TENANT_URL,
        _ => return None,
    };
    Some(value.to_string())
}

const WORKFLOW: &str =
    "name: Smoke\nsteps:\n  - id: login\n    name: Log in\n    estimated_minutes: 5\n";

/// A committed repo with a workflow and the given config files.
fn repo(configs: &[(IntegrationKind, String)]) -> TestRepo {
    let repo = TestRepo::new();
    let mut files: Vec<(String, String)> = vec![("workflows/smoke.yaml".into(), WORKFLOW.into())];
    for (kind, text) in configs {
        files.push((kind.config_file(), text.clone()));
    }
    repo.commit_made(&files, "initial");
    repo
}

async fn start(repo: &TestRepo) -> App {
    start_with(repo, None).await
}

async fn start_with(repo: &TestRepo, resolver: Option<qa_reload::integrations::Resolver>) -> App {
    start_timed(repo, resolver, Timing::default()).await
}

async fn start_timed(
    repo: &TestRepo,
    resolver: Option<qa_reload::integrations::Resolver>,
    timing: Timing,
) -> App {
    captured_logs();
    let mut options = Options::new(&repo.root);
    options.env = Arc::new(env);
    options.resolver = resolver;
    options.integration_timing = timing;
    app::start(options).await.expect("app starts")
}

/// A resolver that knows no name and says which one it was asked for (as a
/// real resolver's error does), so nothing is asked of the machine's
/// resolver and a leaked host name would show.
struct NoSuchHost;

impl reqwest::dns::Resolve for NoSuchHost {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move { Err(format!("no such host: {host}").into()) })
    }
}

// ---------------------------------------------------------------- waiting

/// The status of `kind` once `check` holds for it: the current one, or the
/// next published that does.
async fn wait_status(
    integrations: &Integrations,
    kind: IntegrationKind,
    what: &str,
    check: impl Fn(&IntegrationStatus) -> bool,
) -> IntegrationStatus {
    let mut rx = integrations.subscribe();
    if let Some(s) = integrations.status(kind)
        && check(&s)
    {
        return s;
    }
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(s) if s.id == kind && check(&s) => return s,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(s) = integrations.status(kind)
                        && check(&s)
                    {
                        return s;
                    }
                }
                Err(e) => panic!("status stream closed: {e}"),
            }
        }
    };
    match tokio::time::timeout(GUARD, wait).await {
        Ok(s) => s,
        Err(_) => panic!(
            "{kind}: no status {what} within {GUARD:?}; now {:?}",
            integrations.status(kind)
        ),
    }
}

async fn settled(integrations: &Integrations, kind: IntegrationKind) -> IntegrationStatus {
    wait_status(integrations, kind, "settled", IntegrationStatus::is_settled).await
}

/// Nothing a person or a log could see shows a secret.
fn assert_no_secret(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "a secret leaked: {text}");
    }
}

fn assert_statuses_hide_secrets(integrations: &Integrations) {
    assert_no_secret(&format!("{integrations:?}"));
    for s in integrations.statuses() {
        assert_no_secret(&format!("{s:?} {s}"));
    }
}

// ---------------------------------------------------------------- the table

/// Starts one app with all three integrations pointed at `base_url(kind)`
/// and returns their settled statuses.
async fn run_scenario(
    base_url: impl Fn(IntegrationKind) -> String,
    timeout_ms: u64,
) -> Vec<IntegrationStatus> {
    run_scenario_with(base_url, timeout_ms, None).await
}

async fn run_scenario_with(
    base_url: impl Fn(IntegrationKind) -> String,
    timeout_ms: u64,
    resolver: Option<qa_reload::integrations::Resolver>,
) -> Vec<IntegrationStatus> {
    let configs: Vec<_> = IntegrationKind::ALL
        .into_iter()
        .map(|k| (k, config(k, &base_url(k), timeout_ms)))
        .collect();
    let repo = repo(&configs);
    let app = start_with(&repo, resolver).await;
    let mut out = Vec::new();
    for kind in IntegrationKind::ALL {
        let s = settled(&app.integrations, kind).await;
        assert_eq!(s.revision, 1, "{s}");
        out.push(s);
    }
    assert_statuses_hide_secrets(&app.integrations);
    app.stop().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_is_ok_with_its_credentials_at_its_path_with_our_user_agent() {
    let servers = [
        service(Jira).await,
        service(Postman).await,
        service(Testmo).await,
    ];
    let statuses = run_scenario(|k| servers[k as usize].url(), 5000).await;
    for (kind, s) in IntegrationKind::ALL.into_iter().zip(&statuses) {
        assert_eq!(s.status, State::Ok, "{s}");
        assert_eq!(s.http_status, Some(200));
        assert!(s.latency_ms.is_some(), "{s}");
        assert_eq!((s.failure, s.detail.as_deref()), (None, None));
        assert!(s.tested_at.is_some(), "{s}");
        let seen = servers[kind as usize].seen();
        let asked: Vec<(&str, &str)> = seen
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str()))
            .collect();
        let [auth, named] = test_paths(kind);
        assert_eq!(asked, [("GET", auth), ("GET", named)], "{kind}");
        let (header, value) = expected_auth(kind);
        for req in &seen {
            assert_eq!(req.header(header), Some(value.as_str()), "{kind}");
            assert_eq!(req.header("user-agent"), Some(USER_AGENT));
        }
        assert_eq!(
            USER_AGENT,
            format!("qa-reload/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_with_a_json_body_fails_with_the_status_and_a_masked_excerpt() {
    // Every stand-in refuses, echoing the credential it received.
    let refuse = || {
        StandIn::start(|req| {
            let got = req
                .header("x-api-key")
                .or(req.header("authorization"))
                .unwrap_or("");
            Reply::Status(
                401,
                format!(r#"{{"errorMessages":["Client must be authenticated"],"got":"{got}"}}"#),
            )
        })
    };
    let servers = [refuse().await, refuse().await, refuse().await];
    for s in run_scenario(|k| servers[k as usize].url(), 5000).await {
        assert_eq!(s.status, State::Failed, "{s}");
        assert_eq!(s.failure, Some(FailureKind::Http));
        assert_eq!(s.http_status, Some(401));
        assert!(s.latency_ms.is_some(), "{s}");
        let detail = s.detail.clone().unwrap();
        assert!(
            detail.starts_with("HTTP 401 Unauthorized from http://127.0.0.1:"),
            "{detail}"
        );
        assert!(detail.contains("Client must be authenticated"), "{detail}");
        assert!(detail.contains(" ms"), "{detail}");
        assert!(detail.contains("; check `"), "{detail}");
        assert!(detail.chars().count() < 400, "{detail}");
        assert_no_secret(&detail);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_fails_with_the_status() {
    let broken = || StandIn::start(|_| Reply::Status(500, "database on fire".into()));
    let servers = [broken().await, broken().await, broken().await];
    for s in run_scenario(|k| servers[k as usize].url(), 5000).await {
        assert_eq!(
            (s.status, s.failure),
            (State::Failed, Some(FailureKind::Http)),
            "{s}"
        );
        assert_eq!(s.http_status, Some(500));
        assert!(s.detail.unwrap().contains("HTTP 500 Internal Server Error"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_fails_with_a_timeout() {
    let silent = || StandIn::start(|_| Reply::Hang);
    let servers = [silent().await, silent().await, silent().await];
    for s in run_scenario(|k| servers[k as usize].url(), 300).await {
        assert_eq!(
            (s.status, s.failure),
            (State::Failed, Some(FailureKind::Timeout)),
            "{s}"
        );
        assert_eq!(s.http_status, None);
        assert!(s.detail.unwrap().contains("within 300 ms"));
    }
    for server in &servers {
        assert_eq!(server.seen().len(), 1, "the request reached the stand-in");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_fails_with_connect() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    for s in run_scenario(|_| format!("http://127.0.0.1:{port}"), 5000).await {
        assert_eq!(
            (s.status, s.failure),
            (State::Failed, Some(FailureKind::Connect)),
            "{s}"
        );
        let detail = s.detail.unwrap();
        assert!(
            detail.contains(&format!("cannot connect to http://127.0.0.1:{port}/")),
            "{detail}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_host_fails_with_dns() {
    // A long timeout, so the resolver's answer (not the deadline) decides.
    let resolver: qa_reload::integrations::Resolver = Arc::new(NoSuchHost);
    for s in run_scenario_with(
        |_| "http://something.invalid".into(),
        10_000,
        Some(resolver.clone()),
    )
    .await
    {
        assert_eq!(
            (s.status, s.failure),
            (State::Failed, Some(FailureKind::Dns)),
            "{s}"
        );
        let detail = s.detail.as_deref().unwrap();
        assert!(
            detail.contains("cannot resolve the host of http://something.invalid/"),
            "{detail}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_from_the_environment_never_shows_its_host() {
    let logs = captured_logs();
    let resolver: qa_reload::integrations::Resolver = Arc::new(NoSuchHost);
    let statuses = run_scenario_with(|_| "${TENANT_URL}".into(), 10_000, Some(resolver)).await;
    for s in statuses {
        assert_eq!(
            (s.status, s.failure),
            (State::Failed, Some(FailureKind::Dns)),
            "{s}"
        );
        let shown = format!("{s:?} {s}").to_lowercase();
        assert!(!shown.contains(TENANT_HOST), "{shown}");
        let detail = s.detail.unwrap();
        assert!(
            detail.starts_with("cannot resolve the host of ••••••"),
            "{detail}"
        );
    }
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_lowercase();
    assert!(
        !logged.contains(TENANT_HOST),
        "the log shows the host: {logged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_echoing_the_credential_in_other_encodings_is_masked() {
    // Every form, lower-case hex included, and base64 at another offset.
    fn encodings(secret: &str) -> Vec<String> {
        let mut forms = secret_forms(secret);
        forms.push(forms[3].to_lowercase());
        forms.push(base64(format!("x{secret}").as_bytes()));
        forms
    }
    let echo = || {
        StandIn::start(|req| {
            let got = req
                .header("x-api-key")
                .or(req.header("authorization"))
                .unwrap_or("")
                .to_string();
            let secret = got.rsplit(' ').next().unwrap_or("").to_string();
            // For Basic, the secret is inside the base64 credential: echo
            // the decoded token's forms too.
            let token = [JIRA_TOKEN, POSTMAN_KEY, TESTMO_TOKEN]
                .into_iter()
                .find(|t| got.contains(t) || secret == base64(format!("{EMAIL}:{t}").as_bytes()))
                .unwrap_or(secret.as_str())
                .to_string();
            let body = encodings(&token).join(" | ");
            Reply::Status(401, format!("rejected {got} and {body}"))
        })
    };
    let servers = [echo().await, echo().await, echo().await];
    for s in run_scenario(|k| servers[k as usize].url(), 5000).await {
        assert_eq!(s.http_status, Some(401), "{s}");
        let detail = s.detail.unwrap();
        assert!(detail.contains("rejected"), "{detail}");
        for token in [JIRA_TOKEN, POSTMAN_KEY, TESTMO_TOKEN] {
            for form in encodings(token) {
                assert!(!detail.contains(&form), "{form} shows in {detail}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_plain_http_server_fails_with_tls() {
    // Answers every connection with plain HTTP at once, before any
    // handshake: what a TLS client meets at a plain port.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
                let mut rest = Vec::new();
                let _ = stream.read_to_end(&mut rest).await;
            });
        }
    });
    for s in run_scenario(|_| format!("https://{addr}"), 5000).await {
        assert_eq!(
            (s.status, s.failure),
            (State::Failed, Some(FailureKind::Tls)),
            "{s}"
        );
        assert!(
            s.detail
                .as_deref()
                .unwrap()
                .starts_with(&format!("TLS handshake for https://{addr}/")),
            "{s}"
        );
    }
}

// ---------------------------------------------------------------- behaviour

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_test_delays_neither_the_engine_nor_other_integrations() {
    let hang = StandIn::start(|_| Reply::Hang).await;
    let postman = service(Postman).await;
    // A deadline far beyond the test: only shutdown ends this request.
    let repo = repo(&[
        (Jira, config(Jira, &hang.url(), 600_000)),
        (Postman, config(Postman, &postman.url(), 5000)),
    ]);
    let app = start(&repo).await;
    let mut events = app.engine.subscribe();
    hang.until("the jira test is hanging", |s| {
        s.hanging.load(Ordering::SeqCst) == 1
    })
    .await;
    let ok = settled(&app.integrations, Postman).await;
    assert_eq!(ok.status, State::Ok, "{ok}");

    repo.write(
        "workflows/smoke.yaml",
        &WORKFLOW.replace("Smoke", "Smoke v2"),
    );
    let event = tokio::time::timeout(GUARD, events.recv())
        .await
        .expect("the edit is applied while the jira test hangs")
        .unwrap();
    assert_eq!(event.patches[0].id, "smoke");
    assert_eq!(event.patches[0].op, PatchKind::Modified);
    assert_eq!(
        app.engine.snapshot().workflow("smoke").unwrap().value.name,
        "Smoke v2"
    );
    let jira = app.integrations.status(Jira).unwrap();
    assert_eq!((jira.status, jira.revision), (State::Testing, 1), "{jira}");

    tokio::time::timeout(GUARD, app.stop())
        .await
        .expect("shutdown does not wait for a hanging test");
    hang.until("the hung request is abandoned", |s| {
        s.abandoned.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_config_cancels_the_running_test_and_only_its_result_is_published() {
    // The first key hangs; the second is answered at once.
    let server = StandIn::start(|req| match req.header("x-api-key") {
        Some(POSTMAN_OTHER_KEY) => Reply::Status(200, "{}".into()),
        _ => Reply::Hang,
    })
    .await;
    let repo = repo(&[(Postman, config(Postman, &server.url(), 600_000))]);
    let app = start(&repo).await;
    server
        .until("the first test is hanging", |s| {
            s.hanging.load(Ordering::SeqCst) == 1
        })
        .await;
    let mut rx = app.integrations.subscribe();

    repo.write(
        &Postman.config_file(),
        &config_with(Postman, &server.url(), 600_000, true, "POSTMAN_OTHER_KEY"),
    );
    let ok = settled(&app.integrations, Postman).await;
    assert_eq!(ok.status, State::Ok, "{ok}");
    assert!(ok.revision > 1, "{ok}");
    server
        .until("the superseded request is abandoned", |s| {
            s.abandoned.load(Ordering::SeqCst) == 1
        })
        .await;

    // Everything published since the change is about the new revision.
    let mut published = Vec::new();
    while let Ok(s) = rx.try_recv() {
        published.push(s);
    }
    let states: Vec<_> = published.iter().map(|s| (s.status, s.revision)).collect();
    assert_eq!(
        states,
        [(State::Testing, ok.revision), (State::Ok, ok.revision)]
    );
    assert_eq!(app.integrations.status(Postman).unwrap(), ok);
    assert_statuses_hide_secrets(&app.integrations);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_file_keeps_the_last_good_client_and_status() {
    let server = service(Testmo).await;
    let repo = repo(&[(Testmo, config(Testmo, &server.url(), 5000))]);
    let app = start(&repo).await;
    let ok = settled(&app.integrations, Testmo).await;
    assert_eq!(ok.status, State::Ok, "{ok}");
    let client = app.integrations.client(Testmo).expect("a client");
    let mut events = app.engine.subscribe();

    let broken = format!("{}tiemout_ms: 3\n", config(Testmo, &server.url(), 5000));
    repo.write(&Testmo.config_file(), &broken);
    let event = tokio::time::timeout(GUARD, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        event.errors.iter().any(|e| e.file == Testmo.config_file()),
        "{:?}",
        event.errors
    );
    // The event is handled before the next one; a valid workflow edit
    // after it proves the supervisor has seen it.
    repo.write(
        "workflows/smoke.yaml",
        &WORKFLOW.replace("Smoke", "Smoke v3"),
    );
    tokio::time::timeout(GUARD, events.recv())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(app.integrations.status(Testmo).unwrap(), ok);
    assert!(Arc::ptr_eq(
        &client,
        &app.integrations.client(Testmo).unwrap()
    ));
    assert_eq!(server.seen().len(), 2, "no new test of the broken file");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_config_publishes_removed_and_leaves_the_list() {
    let server = service(Jira).await;
    let repo = repo(&[(Jira, config(Jira, &server.url(), 5000))]);
    let app = start(&repo).await;
    settled(&app.integrations, Jira).await;
    let mut rx = app.integrations.subscribe();
    std::fs::remove_file(repo.root.join(Jira.config_file())).unwrap();

    let removed = tokio::time::timeout(GUARD, async {
        loop {
            let s = rx.recv().await.unwrap();
            if s.status == State::Removed {
                return s;
            }
        }
    })
    .await
    .expect("a removed status");
    assert_eq!(removed.id, Jira);
    assert!(removed.revision > 1);
    assert!(app.integrations.statuses().is_empty());
    assert_eq!(app.integrations.status(Jira), None);
    assert!(app.integrations.client(Jira).is_none());
    assert_eq!(
        app.integrations.test_now(Jira).await,
        Err(IntegrationError::NotConfigured(Jira))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_integration_is_not_tested_even_on_demand() {
    let server = service(Postman).await;
    let repo = repo(&[(
        Postman,
        config_with(Postman, &server.url(), 5000, false, "POSTMAN_KEY"),
    )]);
    let app = start(&repo).await;
    let s = app.integrations.status(Postman).unwrap();
    assert_eq!((s.status, s.revision), (State::Disabled, 1));
    let again = app.integrations.test_now(Postman).await.unwrap();
    assert_eq!(again.status, State::Disabled);
    assert!(app.integrations.client(Postman).is_none());
    assert!(
        server.seen().is_empty(),
        "a disabled integration sends nothing"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_now_runs_a_fresh_test_and_answers_its_result() {
    let server = service(Testmo).await;
    let repo = repo(&[(Testmo, config(Testmo, &server.url(), 5000))]);
    let app = start(&repo).await;
    settled(&app.integrations, Testmo).await;
    let s = app.integrations.test_now(Testmo).await.unwrap();
    assert_eq!(
        (s.status, s.http_status, s.revision),
        (State::Ok, Some(200), 1)
    );
    assert_eq!(server.seen().len(), 4, "two steps, tested twice");
    assert_eq!(app.integrations.status(Testmo).unwrap(), s);
    assert_eq!(
        app.integrations.test_now(Jira).await,
        Err(IntegrationError::NotConfigured(Jira))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_finishes_on_the_old_client() {
    let old = service(Jira).await;
    let new = service(Jira).await;
    let repo = repo(&[(Jira, config(Jira, &old.url(), 5000))]);
    let app = start(&repo).await;
    settled(&app.integrations, Jira).await;
    let held = app.integrations.client(Jira).unwrap();

    repo.write(&Jira.config_file(), &config(Jira, &new.url(), 5000));
    let s = wait_status(&app.integrations, Jira, "ok after the move", |s| {
        s.status == State::Ok && s.revision > 1
    })
    .await;
    assert_eq!(new.seen().len(), 2, "{s}");
    let current = app.integrations.client(Jira).unwrap();
    assert!(current.test_url().starts_with(&new.url()));
    // The client held from before still talks to the old service.
    assert!(held.test_url().starts_with(&old.url()));
    assert_eq!(held.test(7).await.status, State::Ok);
    assert_eq!(old.seen().len(), 4);
    app.stop().await;
}

// ---------------------------------------------------------------- secrets in logs

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every test of this module logs here (a process-wide subscriber, set once:
/// a per-test one misses lines when tests run in parallel, since callsites
/// cache which subscribers want them).
fn captured_logs() -> &'static LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogBuffer::default();
        let writer = logs.clone();
        // The filter `serve` uses, at its most verbose.
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(qa_reload::logging::filter(Some("trace"), "trace"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // Another module's test may have set one first; then this module's
        // log assertions fail loudly rather than pass on nothing.
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_then_a_good_one_flips_failed_to_ok_and_no_secret_is_logged() {
    let logs = captured_logs();
    let server = service(Jira).await;
    let repo = repo(&[(
        Jira,
        config_with(Jira, &server.url(), 5000, true, "JIRA_BAD_TOKEN"),
    )]);
    let app = start(&repo).await;
    let failed = settled(&app.integrations, Jira).await;
    assert_eq!(
        (failed.status, failed.http_status),
        (State::Failed, Some(401)),
        "{failed}"
    );
    assert!(
        failed
            .detail
            .as_deref()
            .unwrap()
            .contains("bad credentials")
    );

    // Only the file changes: the supervisor rebuilds the client and tests.
    repo.write(&Jira.config_file(), &config(Jira, &server.url(), 5000));
    let ok = wait_status(&app.integrations, Jira, "ok", |s| s.status == State::Ok).await;
    assert!(ok.revision > failed.revision, "{ok}");
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "one refused step, then two: {seen:?}");
    assert_eq!(
        seen[2].header("authorization"),
        Some(expected_auth(Jira).1.as_str())
    );

    assert_statuses_hide_secrets(&app.integrations);
    assert_no_secret(&format!("{failed:?} {ok:?} {:?}", app.engine.snapshot()));
    app.stop().await;
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let failure = format!(
        "connection test failed: HTTP 401 Unauthorized from {}",
        server.url()
    );
    assert!(logs.contains(&failure), "logs were captured: {logs}");
    assert!(logs.contains("integration ok"), "{logs}");
    // What every test of this module logged so far, at trace level,
    // reqwest's and hyper's lines included.
    assert_no_secret(&logs);
}

// ---------------------------------------------------------------- the API

/// The statuses reach every place a person looks: `GET /api/v1/integrations`,
/// the workflow steps that use the integration, the snapshot frame, live
/// `integration_status` frames, the manual test route and `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_reach_the_routes_the_stream_and_metrics() {
    use crate::served::{Conn, next_frame, ws_connect};
    use qa_reload::api::security::Security;
    use qa_reload::api::{self, AppState};

    let jira = service(Jira).await;
    let repo = repo(&[(Jira, config(Jira, &format!("http://{}", jira.addr), 5_000))]);
    repo.commit(
        &[(
            "workflows/file-bug.yaml",
            "name: File a bug\nsteps:\n  - id: report\n    name: Report it\n    estimated_minutes: 5\n    integration: jira\n",
        )],
        "a workflow that uses jira",
    );
    let app = start(&repo).await;
    assert_eq!(settled(&app.integrations, Jira).await.status, State::Ok);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(
        app.engine.clone(),
        Security::new(addr, None, &[]),
        app.shutdown_token(),
    )
    .with_integrations(app.integrations.clone());
    let server = tokio::spawn(api::server::run(listener, state.clone()));
    let get = |path: &'static str| async move {
        let r = Conn::open(addr).await.request("GET", path, &[]).await;
        assert_no_secret(&r.body);
        r
    };
    let post = |path: &'static str| async move {
        let r = Conn::open(addr).await.request("POST", path, &[]).await;
        assert_no_secret(&r.body);
        r
    };

    let list = get("/api/v1/integrations").await.json();
    let status = &list["integrations"][0]["status"];
    assert_eq!(
        (status["id"].as_str(), status["status"].as_str()),
        (Some("jira"), Some("ok"))
    );
    assert!(status["latency_ms"].is_u64(), "{status}");

    let workflow = get("/api/v1/workflows/file-bug").await.json();
    assert_eq!(
        workflow["step_integrations"],
        serde_json::json!([{"step": "report", "integration": "jira", "status": "ok", "detail": null}])
    );

    let mut ws = ws_connect(&format!("ws://{addr}/ws/hot-reload"), &[])
        .await
        .unwrap();
    assert_eq!(next_frame(&mut ws).await["type"], "hello");
    let snapshot = next_frame(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["integrations"][0]["status"]["status"], "ok");

    let tested = post("/api/v1/integrations/jira/test").await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert_eq!(tested.json()["status"], "ok");
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("ok") {
        let frame = next_frame(&mut ws).await;
        assert_no_secret(&frame.to_string());
        assert_eq!(frame["type"], "integration_status", "{frame}");
        assert_eq!(frame["id"], "jira");
        states.push(frame["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(states, ["testing", "ok"]);

    let unknown = post("/api/v1/integrations/slack/test").await;
    unknown.assert_refused(404, "integration_not_found");
    let missing = post("/api/v1/integrations/testmo/test").await;
    missing.assert_refused(404, "integration_not_configured");
    let metrics = get("/metrics").await.body;
    assert!(
        metrics.contains("qa_reload_integration_up{integration=\"jira\"} 1"),
        "{metrics}"
    );

    // A bad token in the file: the stream reports the failure by itself.
    repo.write(
        "config/jira_config.yaml",
        &config_with(
            Jira,
            &format!("http://{}", jira.addr),
            5_000,
            true,
            "JIRA_BAD_TOKEN",
        ),
    );
    let failed = loop {
        let frame = next_frame(&mut ws).await;
        assert_no_secret(&frame.to_string());
        if frame["type"] == "integration_status" && frame["status"] == "failed" {
            break frame;
        }
    };
    assert_eq!(failed["http_status"], 401);
    assert_eq!(failed["failure"], "http");
    let metrics = get("/metrics").await.body;
    assert!(
        metrics.contains("qa_reload_integration_up{integration=\"jira\"} 0"),
        "{metrics}"
    );
    let workflow = get("/api/v1/workflows/file-bug").await.json();
    assert_eq!(workflow["step_integrations"][0]["status"], "failed");

    drop(ws);
    app.stop().await;
    let _ = tokio::time::timeout(GUARD, server).await;
}

// ---------------------------------------------------------------- steps

/// What each service answers when the project or workspace the file names
/// does not exist or is hidden from the account (their documented bodies).
fn not_found_body(kind: IntegrationKind) -> &'static str {
    match kind {
        Jira => r#"{"errorMessages":["No project could be found with key 'QA'."],"errors":{}}"#,
        Postman => {
            r#"{"error":{"name":"instanceNotFoundError","message":"We could not find the workspace you are looking for"}}"#
        }
        Testmo => r#"{"message":"The requested project was not found."}"#,
    }
}

/// A stand-in that authenticates like [`service`] and answers the second
/// step (the project or workspace) with `named`.
async fn service_answering(
    kind: IntegrationKind,
    named: impl Fn() -> Reply + Send + Sync + 'static,
) -> StandIn {
    StandIn::start(move |req| {
        let (header, value) = expected_auth(kind);
        let [auth, resource] = test_paths(kind);
        match req.path.as_str() {
            _ if req.header(header) != Some(value.as_str()) => {
                Reply::Status(401, r#"{"message":"bad credentials"}"#.into())
            }
            p if p == auth => Reply::Status(200, r#"{"accountId":"qa"}"#.into()),
            p if p == resource => named(),
            _ => Reply::Status(404, "{}".into()),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_project_or_workspace_fails_at_that_step_naming_it() {
    let servers = [
        service_answering(Jira, || Reply::Status(404, not_found_body(Jira).into())).await,
        service_answering(Postman, || {
            Reply::Status(404, not_found_body(Postman).into())
        })
        .await,
        service_answering(Testmo, || Reply::Status(403, not_found_body(Testmo).into())).await,
    ];
    let statuses = run_scenario(|k| servers[k as usize].url(), 5000).await;
    let expected = [
        (
            Jira,
            TestStep::Project,
            404,
            "project `QA` not found or not visible to this account; HTTP 404 Not Found from ",
            "No project could be found with key 'QA'.",
            "check `project_key`",
        ),
        (
            Postman,
            TestStep::Workspace,
            404,
            "workspace `ws-1` not found or not visible to this API key; HTTP 404 Not Found from ",
            "We could not find the workspace you are looking for",
            "check `workspace_id`",
        ),
        (
            Testmo,
            TestStep::Project,
            403,
            "project `7` not found or not visible to this token; HTTP 403 Forbidden from ",
            "The requested project was not found.",
            "check `project_id`",
        ),
    ];
    for (s, (kind, step, code, start, message, hint)) in statuses.iter().zip(expected) {
        assert_eq!(s.id, kind);
        assert_eq!(
            (s.status, s.step, s.http_status, s.failure),
            (
                State::Failed,
                Some(step),
                Some(code),
                Some(FailureKind::Http)
            ),
            "{s}"
        );
        let detail = s.detail.as_deref().unwrap();
        assert!(detail.starts_with(start), "{detail}");
        assert!(detail.contains(test_paths(kind)[1]), "{detail}");
        assert!(detail.contains(message), "{detail}");
        assert!(detail.ends_with(hint), "{detail}");
        assert_eq!(servers[kind as usize].seen().len(), 2, "{kind}");
    }
}

/// One row: what the stand-in answers at each step, and the status.
struct Row {
    name: &'static str,
    auth: fn() -> Reply,
    named: fn() -> Reply,
    timeout_ms: u64,
    state: State,
    step: Option<TestStep>,
    http_status: Option<u16>,
    failure: Option<FailureKind>,
    /// Texts the detail holds.
    says: &'static [&'static str],
    /// Requests the stand-in sees.
    requests: usize,
}

fn ok() -> Reply {
    Reply::Status(200, "{}".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_answer_at_each_step_gives_its_status() {
    let rows = [
        Row {
            name: "both steps pass",
            auth: ok,
            named: ok,
            timeout_ms: 5000,
            state: State::Ok,
            step: None,
            http_status: Some(200),
            failure: None,
            says: &[],
            requests: 2,
        },
        Row {
            name: "401 at authenticate (cloud)",
            auth: || {
                Reply::Status(
                    401,
                    r#"{"errorMessages":["Client must be authenticated to access this resource."]}"#.into(),
                )
            },
            named: ok,
            timeout_ms: 5000,
            state: State::Failed,
            step: Some(TestStep::Authenticate),
            http_status: Some(401),
            failure: Some(FailureKind::Http),
            says: &[
                "HTTP 401 Unauthorized from http://127.0.0.1:",
                "/rest/api/3/myself",
                "Client must be authenticated to access this resource.",
                "check `email` and `api_token`",
                "expired or been revoked",
                "scoped token",
                "https://api.atlassian.com/ex/jira/",
            ],
            requests: 1,
        },
        Row {
            name: "403 at authenticate",
            auth: || Reply::Status(403, r#"{"errorMessages":["Forbidden"]}"#.into()),
            named: ok,
            timeout_ms: 5000,
            state: State::Failed,
            step: Some(TestStep::Authenticate),
            http_status: Some(403),
            failure: Some(FailureKind::Http),
            says: &[
                "HTTP 403 Forbidden",
                ": Forbidden; check `email` and `api_token`",
            ],
            requests: 1,
        },
        Row {
            name: "404 at authenticate: not a Jira Cloud API",
            auth: || Reply::Status(404, "<html>Not here</html>".into()),
            named: ok,
            timeout_ms: 5000,
            state: State::Failed,
            step: Some(TestStep::Authenticate),
            http_status: Some(404),
            failure: Some(FailureKind::Http),
            says: &[
                "HTTP 404 Not Found",
                "Not here",
                "check `base_url`, and `deployment`",
            ],
            requests: 1,
        },
        Row {
            name: "502 at the project",
            auth: ok,
            named: || Reply::Status(502, "upstream down".into()),
            timeout_ms: 5000,
            state: State::Failed,
            step: Some(TestStep::Project),
            http_status: Some(502),
            failure: Some(FailureKind::Http),
            says: &[
                "HTTP 502 Bad Gateway",
                "/rest/api/3/project/QA",
                "upstream down",
            ],
            requests: 2,
        },
        Row {
            name: "a redirect is not followed",
            auth: || {
                Reply::With(
                    302,
                    vec![("location", "https://login.example/sso".into())],
                    String::new(),
                )
            },
            named: ok,
            timeout_ms: 5000,
            state: State::Failed,
            step: Some(TestStep::Authenticate),
            http_status: Some(302),
            failure: Some(FailureKind::Http),
            says: &[
                "HTTP 302 Found",
                "redirected to https://login.example/sso; check `base_url`",
            ],
            requests: 1,
        },
        Row {
            name: "a slow project answer past the timeout",
            auth: ok,
            named: || Reply::Slow(Duration::from_millis(1500), 200, "{}".into()),
            timeout_ms: 300,
            state: State::Failed,
            step: Some(TestStep::Project),
            http_status: None,
            failure: Some(FailureKind::Timeout),
            says: &[
                "no answer from http://127.0.0.1:",
                "/rest/api/3/project/QA within 300 ms",
            ],
            requests: 2,
        },
        Row {
            name: "503 without Retry-After is a failure",
            auth: || Reply::Status(503, "maintenance".into()),
            named: ok,
            timeout_ms: 5000,
            state: State::Failed,
            step: Some(TestStep::Authenticate),
            http_status: Some(503),
            failure: Some(FailureKind::Http),
            says: &["HTTP 503 Service Unavailable", "maintenance"],
            requests: 1,
        },
        Row {
            name: "503 with Retry-After is a rate limit",
            auth: || Reply::With(503, vec![("retry-after", "120".into())], String::new()),
            named: ok,
            timeout_ms: 5000,
            state: State::RateLimited,
            step: Some(TestStep::Authenticate),
            http_status: Some(503),
            failure: None,
            says: &[
                "rate limited: HTTP 503",
                "no request for 120 s (as its Retry-After asks)",
            ],
            requests: 1,
        },
    ];
    for row in rows {
        let (auth, named) = (row.auth, row.named);
        let server = StandIn::start(move |req| match req.path.as_str() {
            "/rest/api/3/myself" => auth(),
            "/rest/api/3/project/QA" => named(),
            _ => Reply::Status(404, "{}".into()),
        })
        .await;
        let repo = repo(&[(Jira, config(Jira, &server.url(), row.timeout_ms))]);
        let app = start(&repo).await;
        let s = settled(&app.integrations, Jira).await;
        let name = row.name;
        assert_eq!(
            (s.status, s.step, s.http_status, s.failure),
            (row.state, row.step, row.http_status, row.failure),
            "{name}: {s}"
        );
        let detail = s.detail.clone().unwrap_or_default();
        for text in row.says {
            assert!(detail.contains(text), "{name}: {text:?} not in {detail}");
        }
        assert_no_secret(&detail);
        assert_eq!(server.seen().len(), row.requests, "{name}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_uses_rest_v2_with_the_token_as_a_bearer_and_no_email() {
    let bearer = format!("Bearer {JIRA_TOKEN}");
    let server = {
        let bearer = bearer.clone();
        StandIn::start(move |req| {
            let ok = ["/rest/api/2/myself", "/rest/api/2/project/QA"].contains(&req.path.as_str())
                && req.header("authorization") == Some(bearer.as_str());
            if ok {
                Reply::Status(200, r#"{"name":"qa"}"#.into())
            } else {
                Reply::Status(401, r#"{"message":"AUTHENTICATION_DENIED"}"#.into())
            }
        })
        .await
    };
    let dc = |var: &str| {
        format!(
            "enabled: true\nbase_url: {}\ndeployment: data_center\napi_token: ${{{var}}}\nproject_key: QA\n",
            server.url()
        )
    };
    let repo = repo(&[(Jira, dc("JIRA_TOKEN"))]);
    let app = start(&repo).await;
    let s = settled(&app.integrations, Jira).await;
    assert_eq!((s.status, s.http_status), (State::Ok, Some(200)), "{s}");
    let seen = server.seen();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/rest/api/2/myself", "/rest/api/2/project/QA"]);
    assert!(
        seen.iter()
            .all(|r| r.header("authorization") == Some(bearer.as_str()))
    );

    // A revoked personal access token: the hint speaks of one.
    repo.write(&Jira.config_file(), &dc("JIRA_BAD_TOKEN"));
    let failed = wait_status(&app.integrations, Jira, "failed", |s| {
        s.status == State::Failed
    })
    .await;
    let detail = failed.detail.as_deref().unwrap();
    assert!(detail.contains("AUTHENTICATION_DENIED"), "{detail}");
    assert!(detail.contains("personal access token"), "{detail}");
    assert!(!detail.contains("check `email`"), "{detail}");
    assert_statuses_hide_secrets(&app.integrations);
    app.stop().await;
}

// ---------------------------------------------------------------- rate limits

/// A stand-in that answers `429` (with `retry_after`, if any) until
/// `limited` is cleared, then like [`service`].
async fn limited_service(
    kind: IntegrationKind,
    retry_after: Option<&'static str>,
) -> (StandIn, Arc<std::sync::atomic::AtomicBool>) {
    let limited = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = Arc::clone(&limited);
    let server = StandIn::start(move |req| {
        if flag.load(Ordering::SeqCst) {
            let headers = retry_after
                .map(|v| vec![("retry-after", v.to_string())])
                .unwrap_or_default();
            return Reply::With(
                429,
                headers,
                r#"{"error":"rateLimited","message":"Rate limit exceeded. Please retry later."}"#
                    .into(),
            );
        }
        let (header, value) = expected_auth(kind);
        if req.header(header) == Some(value.as_str()) {
            Reply::Status(200, "{}".into())
        } else {
            Reply::Status(401, "{}".into())
        }
    })
    .await;
    (server, limited)
}

fn limited(s: &IntegrationStatus) -> bool {
    s.status == State::RateLimited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_holds_back_saves_and_manual_tests() {
    let (server, _) = limited_service(Postman, Some("3600")).await;
    let repo = repo(&[(Postman, config(Postman, &server.url(), 5000))]);
    let app = start(&repo).await;
    let s = wait_status(&app.integrations, Postman, "rate limited", limited).await;
    assert_eq!(
        (s.step, s.http_status),
        (Some(TestStep::Authenticate), Some(429)),
        "{s}"
    );
    assert_eq!(s.failure, None);
    let (retry_at, tested_at) = (s.retry_at.unwrap(), s.tested_at.unwrap());
    let wait = retry_at.duration_since(tested_at).unwrap();
    assert!(
        wait <= Duration::from_secs(3600) && wait > Duration::from_secs(3590),
        "{wait:?}"
    );
    let detail = s.detail.as_deref().unwrap();
    assert!(detail.contains("no request for 3600 s"), "{detail}");
    assert!(
        detail.contains("Rate limit exceeded. Please retry later."),
        "{detail}"
    );
    assert_eq!(server.seen().len(), 1);

    // A manual test answers with the wait and sends nothing.
    let manual = app.integrations.test_now(Postman).await.unwrap();
    assert_eq!(
        (manual.status, manual.retry_at),
        (State::RateLimited, Some(retry_at))
    );
    let detail = manual.detail.as_deref().unwrap();
    assert!(detail.contains("no request for another"), "{detail}");
    assert_eq!(server.seen().len(), 1, "a manual test reached the service");

    // A save with new settings: the new revision is held back too.
    repo.write(
        &Postman.config_file(),
        &config(Postman, &server.url(), 4000),
    );
    let held = wait_status(&app.integrations, Postman, "the new revision held", |s| {
        s.revision > 1
    })
    .await;
    assert_eq!(
        (held.status, held.retry_at),
        (State::RateLimited, Some(retry_at)),
        "{held}"
    );
    assert_eq!(held.tested_at, Some(tested_at));
    // A rescan sends nothing either.
    app.engine.reload().await.unwrap();
    assert_eq!(
        app.integrations.test_now(Postman).await.unwrap().status,
        State::RateLimited
    );
    assert_eq!(
        server.seen().len(),
        1,
        "a save or a rescan reached the service"
    );
    assert_statuses_hide_secrets(&app.integrations);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_retry_after_waits_60_s() {
    let (server, _) = limited_service(Testmo, None).await;
    let repo = repo(&[(Testmo, config(Testmo, &server.url(), 5000))]);
    let app = start(&repo).await;
    let s = wait_status(&app.integrations, Testmo, "rate limited", limited).await;
    let wait = s
        .retry_at
        .unwrap()
        .duration_since(s.tested_at.unwrap())
        .unwrap();
    assert!(
        wait <= Duration::from_secs(60) && wait > Duration::from_secs(50),
        "{wait:?}"
    );
    assert!(s.detail.unwrap().contains("it gave no Retry-After"));
    let manual = app.integrations.test_now(Testmo).await.unwrap();
    assert_eq!(manual.status, State::RateLimited);
    assert_eq!(server.seen().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_runs_again_by_itself_when_the_wait_is_over() {
    let (server, limit) = limited_service(Jira, None).await;
    let repo = repo(&[(Jira, config(Jira, &server.url(), 5000))]);
    // A short default wait, and no periodic re-test in the way.
    let timing = Timing {
        default_retry: Duration::from_millis(300),
        minute: Duration::from_secs(3600),
        ..Timing::default()
    };
    let app = start_timed(&repo, None, timing).await;
    let s = wait_status(&app.integrations, Jira, "rate limited", limited).await;
    assert_eq!(server.seen().len(), 1);
    limit.store(false, Ordering::SeqCst);
    let ok = wait_status(&app.integrations, Jira, "ok", |s| s.status == State::Ok).await;
    assert_eq!(ok.revision, s.revision, "no save was needed");
    assert_eq!(ok.retry_at, None);
    assert_eq!(server.seen().len(), 3, "the 429, then both steps");
    app.stop().await;
}

// ---------------------------------------------------------------- re-tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_retest_catches_a_token_revoked_between_saves() {
    let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = {
        let revoked = Arc::clone(&revoked);
        StandIn::start(move |req| {
            let (header, value) = expected_auth(Testmo);
            if !revoked.load(Ordering::SeqCst) && req.header(header) == Some(value.as_str()) {
                Reply::Status(200, "{}".into())
            } else {
                Reply::Status(401, r#"{"message":"Unauthenticated."}"#.into())
            }
        })
        .await
    };
    let text = format!("{}retest_minutes: 1\n", config(Testmo, &server.url(), 5000));
    let repo = repo(&[(Testmo, text)]);
    // A "minute" of 200 ms.
    let timing = Timing {
        minute: Duration::from_millis(200),
        ..Timing::default()
    };
    let app = start_timed(&repo, None, timing).await;
    let ok = wait_status(&app.integrations, Testmo, "ok", |s| s.status == State::Ok).await;
    revoked.store(true, Ordering::SeqCst);
    let failed = wait_status(&app.integrations, Testmo, "failed", |s| {
        s.status == State::Failed
    })
    .await;
    assert_eq!(failed.revision, ok.revision, "no save happened");
    assert_eq!(
        (failed.step, failed.http_status),
        (Some(TestStep::Authenticate), Some(401))
    );
    assert!(failed.tested_at > ok.tested_at, "{failed:?}");
    assert!(failed.detail.unwrap().contains("Unauthenticated."));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_periodic_retest_when_retest_minutes_is_0() {
    let server = service(Postman).await;
    let text = format!(
        "{}retest_minutes: 0\n",
        config(Postman, &server.url(), 5000)
    );
    let repo = repo(&[(Postman, text)]);
    let timing = Timing {
        minute: Duration::from_millis(1),
        ..Timing::default()
    };
    let app = start_timed(&repo, None, timing).await;
    let ok = settled(&app.integrations, Postman).await;
    assert_eq!(ok.status, State::Ok);
    // A manual test is a later test than any timer could have made idle:
    // if retests ran every millisecond, many requests would be in by now.
    let again = app.integrations.test_now(Postman).await.unwrap();
    assert_eq!(again.status, State::Ok);
    assert_eq!(server.seen().len(), 4, "two tests of two steps, no more");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_the_same_settings_again_within_the_cooldown_does_not_test_again() {
    let server = service(Jira).await;
    let text = config(Jira, &server.url(), 5000);
    let repo = repo(&[(Jira, text.clone())]);
    let app = start(&repo).await;
    let ok = settled(&app.integrations, Jira).await;
    assert_eq!(ok.status, State::Ok);
    let mut events = app.engine.subscribe();

    // A comment only: a new revision of the same settings.
    repo.write(&Jira.config_file(), &format!("# reviewed\n{text}"));
    let event = tokio::time::timeout(GUARD, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.patches[0].id, "jira");
    // Events are handled in order; a workflow edit after it proves the
    // supervisor has seen the first.
    repo.write(
        "workflows/smoke.yaml",
        &WORKFLOW.replace("Smoke", "Smoke v2"),
    );
    tokio::time::timeout(GUARD, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.integrations.status(Jira).unwrap(), ok);
    assert_eq!(
        server.seen().len(),
        2,
        "the same settings were tested again"
    );

    // A changed setting tests at once.
    repo.write(&Jira.config_file(), &config(Jira, &server.url(), 4000));
    let again = wait_status(&app.integrations, Jira, "ok, newer", |s| {
        s.status == State::Ok && s.revision > ok.revision
    })
    .await;
    assert!(again.tested_at > ok.tested_at);
    assert_eq!(server.seen().len(), 4);
    app.stop().await;
}
