//! Helpers for the API tests: an engine on a temp git repo (fed batches by
//! the test, or watching for real), a real server on `127.0.0.1:0`, a tiny
//! keep-alive HTTP/1.1 client and a WebSocket client. Every response body
//! and frame they return has been checked to hold no secret value.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use qa_reload::api::conn::HttpLimits;
use qa_reload::api::security::Security;
use qa_reload::api::{self, AppState, WsConfig};
use qa_reload::engine::{Engine, Event};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

use crate::support;
use crate::util::TestRepo;

/// Longest wait for anything expected; a failure guard, not a measurement.
pub const GUARD: Duration = Duration::from_secs(20);

/// Values that must never appear in a response or frame.
pub const SECRETS: [&str; 3] = ["env-s3cret-value-1", "lit3ral-secret-A", "lit3ral-secret-B"];

pub fn env() -> qa_reload::engine::SharedEnv {
    Arc::new(|name: &str| (name == "JIRA_TOKEN").then(|| SECRETS[0].to_owned()))
}

pub fn assert_no_secret(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

pub fn workflow(name: &str, minutes: u32) -> String {
    format!(
        "name: {name}\nsteps:\n  - id: first\n    name: First step\n    estimated_minutes: {minutes}\n    integration: jira\n  - id: second\n    name: Second step\n    estimated_minutes: 5\n"
    )
}

/// A repo with `smoke` and `other` workflows and a Jira config holding
/// secrets; `history` events are kept.
pub fn repo(history: usize) -> TestRepo {
    let repo = TestRepo::new();
    repo.commit(
        &[
            ("workflows/smoke.yaml", &workflow("Smoke", 10)),
            ("workflows/other.yaml", &workflow("Other", 3)),
            ("config/jira_config.yaml", &jira_config(SECRETS[1])),
            (
                "config/postman_config.yaml",
                "enabled: false\nbase_url: https://api.postman.example\napi_key: ${JIRA_TOKEN}\n",
            ),
            ("config/hot_reload.yaml", &format!("history: {history}\n")),
        ],
        "initial",
    );
    repo
}

/// A valid Jira config whose literal `api_token` is `literal` (a secret by
/// its key). Enabled, so it is tested: its URL is a closed port on
/// loopback, so the test fails at once and nothing leaves the machine.
pub fn jira_config(literal: &str) -> String {
    format!(
        "enabled: true\nbase_url: http://127.0.0.1:9\nemail: qa@example.com\napi_token: {literal}\nproject_key: QA\n"
    )
}

/// An engine whose batches the test sends (no watcher: every revision is
/// one the test made), on one of the [`repo`]s; the shared
/// [`support::Fed`] (its `engine` and `shutdown`) plus the repository and
/// an event receiver subscribed from the start.
pub struct Fed {
    fed: support::Fed,
    pub repo: TestRepo,
    events: broadcast::Receiver<Arc<Event>>,
}

impl std::ops::Deref for Fed {
    type Target = support::Fed;

    fn deref(&self) -> &support::Fed {
        &self.fed
    }
}

impl Fed {
    pub async fn start(repo: TestRepo, capacity: usize) -> Fed {
        let fed = support::Fed::start(&repo.root, env(), capacity).await;
        let events = fed.engine.subscribe();
        Fed { fed, repo, events }
    }

    /// Writes the files (each by rename, so never seen half-written), sends
    /// them as one batch and returns the revision's event.
    pub async fn change(&mut self, files: &[(&str, &str)]) -> Arc<Event> {
        self.fed
            .change(files, &mut self.events, GUARD)
            .await
            .expect("a revision for the batch")
    }
}

/// A server on `127.0.0.1:0` serving `state`.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(engine: Engine, token: Option<&str>, ws: WsConfig) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(listener, engine, token, ws)
    }

    pub fn on(listener: TcpListener, engine: Engine, token: Option<&str>, ws: WsConfig) -> Server {
        let addr = listener.local_addr().unwrap();
        let security = Security::new(addr, token, &[]);
        let state = AppState::new(engine, security, CancellationToken::new()).with_ws(ws);
        Self::serving(listener, state)
    }

    /// A server on `127.0.0.1:0` held to `limits`.
    pub async fn with_limits(engine: Engine, limits: HttpLimits) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let security = Security::new(listener.local_addr().unwrap(), None, &[]);
        let state =
            AppState::new(engine, security, CancellationToken::new()).with_http_limits(limits);
        Self::serving(listener, state)
    }

    /// Serves `state` on `listener`.
    pub fn serving(listener: TcpListener, state: AppState) -> Server {
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(api::server::run(listener, state.clone()));
        Server { addr, state, task }
    }

    pub async fn stop(self) {
        self.state.shutdown.cancel();
        tokio::time::timeout(GUARD, self.task)
            .await
            .unwrap()
            .unwrap();
    }

    pub async fn get(&self, path: &str) -> Response {
        Conn::open(self.addr).await.request("GET", path, &[]).await
    }

    pub async fn post(&self, path: &str) -> Response {
        Conn::open(self.addr).await.request("POST", path, &[]).await
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws/hot-reload{query}", self.addr)
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts that this is a refusal: `status`, and the JSON error body
    /// naming `code`.
    #[track_caller]
    pub fn assert_refused(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.json()["code"].as_str()),
            (status, Some(code)),
            "{}",
            self.body
        );
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive HTTP/1.1 connection (bodies with Content-Length only,
/// which is all this server sends).
pub struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        Conn::try_open(addr).await.unwrap()
    }

    pub async fn try_open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        Ok(Conn {
            stream: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    /// Sends a request (a `Host` naming the server unless `headers` has
    /// one) and reads the whole response.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        self.try_request(method, path, headers)
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
    }

    pub async fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<Response> {
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("Host: {}\r\n", self.host));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if method == "POST" {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        self.stream.get_mut().write_all(head.as_bytes()).await?;
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).await?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                }
                headers.push((name, value));
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        let body = String::from_utf8(body).map_err(std::io::Error::other)?;
        assert_no_secret(&body);
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Connects to the stream with extra request headers.
pub async fn ws_connect(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (ws, _) = tokio::time::timeout(GUARD, tokio_tungstenite::connect_async(request))
        .await
        .expect("connect within the guard")?;
    Ok(ws)
}

/// The next text frame as JSON (pings are answered by the client library).
pub async fn next_frame<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("a frame within the guard")
            .expect("the stream is open")
            .expect("a valid message");
        match message {
            Message::Text(text) => {
                assert_no_secret(&text);
                return serde_json::from_str(&text).unwrap();
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// Closes politely (errors ignored: the test is over with this client).
pub async fn close<S>(mut ws: tokio_tungstenite::WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let _ = ws.close(None).await;
    let _ = ws.send(Message::Close(None)).await;
}

/// Polls `f` until it holds (a failure guard bounds the wait).
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + GUARD;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
