//! A smart-HTTP git server on loopback for the tests: every request runs
//! git's own `git http-backend` (CGI), as a web server in front of git
//! would, over the repositories under one folder.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use tokio::io::AsyncWriteExt;

/// A running server; it stops with the test's runtime.
pub struct GitHttp {
    pub addr: SocketAddr,
    /// Requests answered, by path (to see what a client asked for).
    pub requests: std::sync::Arc<parking_lot::Mutex<Vec<String>>>,
}

impl GitHttp {
    /// Serves the repositories under `root` at `http://ADDR/NAME.git`.
    pub async fn start(root: PathBuf) -> GitHttp {
        let requests = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&requests);
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let root = root.clone();
                let seen = std::sync::Arc::clone(&seen);
                async move {
                    seen.lock().push(uri.path().to_owned());
                    backend(&root, method, uri, headers, body).await
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        GitHttp { addr, requests }
    }
}

/// One request through `git http-backend`: the CGI variables from the
/// request, the body on its input, its headers and body as the answer.
async fn backend(
    root: &std::path::Path,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(&body).await.unwrap();
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    let out = output.stdout;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .unwrap_or((out.len(), 0));
    let head = String::from_utf8_lossy(&out[..split.0]).into_owned();
    let mut answer = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().unwrap_or("500");
            answer = answer.status(code.parse::<u16>().unwrap_or(500));
        } else {
            answer = answer.header(name.trim(), value);
        }
    }
    answer
        .body(Body::from(out[split.0 + split.1..].to_vec()))
        .unwrap()
}
