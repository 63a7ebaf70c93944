//! Benchmark: save → WebSocket message, qa-reload against Vite 6 in one run.
//!
//! qa-reload serves 100 workflows (real watcher, default settings); the peer
//! is a Vite 6 dev server (`benches/peer/vite-hmr.mjs`) with one module that
//! accepts its own hot updates. 100 saves to each, interleaved (one to
//! Vite's module, one to a workflow, 100 ms apart), each timed from the
//! write to the message on a WebSocket client of this process: qa-reload's
//! `reload` frame, Vite's HMR `update` message. Prints p50/p99/max of both,
//! the ratios, and the revisions beyond one per save. Then the revisions an
//! IDE-style "save all" (10 files written back to back, 20 times) and a
//! `sed -i` over 50 files (5 times) make.
//!
//! Needs the peer installed (`npm ci --prefix benches/peer`); without it
//! only qa-reload's figures are printed.
//!
//! Run: `cargo bench --bench save_vs_vite` (release build); a number after
//! `--` sets qa-reload's `complete_write_ms` for the run (default 1). Targets:
//! qa-reload p50 ≤ 3 ms and p99 ≤ 10 ms, and no slower than Vite at either.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use qa_reload::api::conn::HttpLimits;
use qa_reload::app::{self, Options};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;
use support::{serve, small_workflow, small_workflows_repo};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SAVES: usize = 100;
const WORKFLOWS: usize = 100;
const GAP: Duration = Duration::from_millis(100);
/// A message later than this is a failure, not a figure.
const GUARD: Duration = Duration::from_secs(5);

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// Reads frames until one whose JSON `type` is `kind`, and returns it;
/// `None` past the guard.
async fn until(ws: &mut Ws, kind: &str) -> Option<String> {
    let wanted = format!("\"type\":\"{kind}\"");
    loop {
        match tokio::time::timeout(GUARD, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains(&wanted) => {
                return Some(text.to_string());
            }
            Ok(Some(Ok(Message::Ping(p)))) => ws.send(Message::Pong(p)).await.ok()?,
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Frames of `kind` already received and not read: revisions beyond the
/// one each save made.
fn count_ready(ws: &mut Ws, kind: &str) -> usize {
    let wanted = format!("\"type\":\"{kind}\"");
    let mut n = 0;
    while let Some(Some(Ok(message))) = ws.next().now_or_never() {
        if matches!(&message, Message::Text(t) if t.contains(&wanted)) {
            n += 1;
        }
    }
    n
}

struct Vite {
    child: Child,
    ws: Ws,
    file: PathBuf,
}

/// Starts the Vite peer and connects to its HMR WebSocket.
async fn start_vite() -> Result<Vite, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer");
    if !dir.join("node_modules/vite").is_dir() {
        return Err("install it with `npm ci --prefix benches/peer`".to_string());
    }
    let mut child = Command::new("node")
        .arg(dir.join("vite-hmr.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .map_err(|_| "Vite did not start within 30 s".to_string())?
    .map_err(|e| e.to_string())?;
    let ready: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| format!("unexpected output {line:?}: {e}"))?;
    let (Some(port), Some(token), Some(file)) = (
        ready["port"].as_u64(),
        ready["token"].as_str(),
        ready["file"].as_str(),
    ) else {
        return Err(format!("unexpected output {line:?}"));
    };
    let mut request = format!("ws://127.0.0.1:{port}/?token={token}")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("vite-hmr"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("Vite's WebSocket: {e}"))?;
    until(&mut ws, "connected")
        .await
        .ok_or("Vite sent no `connected` message")?;
    Ok(Vite {
        child,
        ws,
        file: PathBuf::from(file),
    })
}

async fn run(complete_write_ms: Option<f64>) {
    let dir = small_workflows_repo(WORKFLOWS);
    let root = dir.path().to_path_buf();
    if let Some(window) = complete_write_ms {
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::write(
            root.join("config/hot_reload.yaml"),
            format!("complete_write_ms: {window}\n"),
        )
        .unwrap();
    }
    let mut options = Options::new(&root);
    options.env = Arc::new(|_: &str| None);
    let app = app::start(options).await.unwrap();
    let shutdown = CancellationToken::new();
    let addr = serve(app.engine.clone(), shutdown.clone(), HttpLimits::default()).await;
    let (mut ours, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/hot-reload"))
        .await
        .unwrap();
    until(&mut ours, "snapshot")
        .await
        .expect("a snapshot frame");
    let mut vite = match start_vite().await {
        Ok(vite) => Some(vite),
        Err(why) => {
            println!("peer: Vite not run ({why})");
            None
        }
    };

    let (mut our_times, mut vite_times) = (Vec::new(), Vec::new());
    let (mut our_extra, mut vite_extra) = (0, 0);
    // qa-reload's own split: first event → batch applied, and applying.
    let (mut detect, mut apply) = (Vec::new(), Vec::new());
    for i in 0..SAVES {
        if let Some(v) = vite.as_mut() {
            tokio::time::sleep(GAP).await;
            vite_extra += count_ready(&mut v.ws, "update");
            let text = format!(
                "export const value = {i};\nif (import.meta.hot) import.meta.hot.accept();\n"
            );
            let t = Instant::now();
            std::fs::write(&v.file, text).unwrap();
            until(&mut v.ws, "update")
                .await
                .unwrap_or_else(|| panic!("no Vite update for save {i}"));
            vite_times.push(t.elapsed());
        }
        tokio::time::sleep(GAP).await;
        our_extra += count_ready(&mut ours, "reload");
        let path = root.join(format!("workflows/w{}.yaml", i % WORKFLOWS));
        let t = Instant::now();
        std::fs::write(&path, small_workflow(&format!("Saved {i}"), 11)).unwrap();
        let frame = until(&mut ours, "reload")
            .await
            .unwrap_or_else(|| panic!("no reload frame for save {i}"));
        our_times.push(t.elapsed());
        let frame: serde_json::Value = serde_json::from_str(&frame).unwrap();
        let timing = |key: &str| {
            Duration::from_secs_f64(frame["timings"][key].as_f64().unwrap_or(0.0) / 1e3)
        };
        detect.push(timing("detect_ms"));
        apply.push(timing("apply_ms"));
    }
    tokio::time::sleep(GAP).await;
    our_extra += count_ready(&mut ours, "reload");

    our_times.sort();
    let (p50, p99) = (percentile(&our_times, 0.5), percentile(&our_times, 0.99));
    let max = |t: &[Duration]| t.last().map_or(0.0, |d| d.as_secs_f64() * 1e3);
    println!(
        "save -> WebSocket message, {SAVES} saves each, interleaved {} ms apart",
        GAP.as_millis()
    );
    println!(
        "  qa-reload `reload` frame ({WORKFLOWS} workflows, inotify, complete_write_ms {}): p50 {p50:.2} ms  p99 {p99:.2} ms  max {:.2} ms  extra revisions {our_extra}  (targets: p50 <= 3 ms, p99 <= 10 ms)",
        complete_write_ms.map_or_else(|| "1 (default)".to_string(), |w| w.to_string()),
        max(&our_times)
    );
    detect.sort();
    apply.sort();
    println!(
        "    of which first event -> batch applied p50 {:.2} ms, applying p50 {:.2} ms",
        percentile(&detect, 0.5),
        percentile(&apply, 0.5)
    );
    if let Some(mut v) = vite {
        vite_times.sort();
        let (v50, v99) = (percentile(&vite_times, 0.5), percentile(&vite_times, 0.99));
        println!(
            "  Vite 6 HMR `update` message (one self-accepting module):        p50 {v50:.2} ms  p99 {v99:.2} ms  max {:.2} ms  extra updates {vite_extra}",
            max(&vite_times)
        );
        println!(
            "  qa-reload / Vite: p50 {:.2}  p99 {:.2}  (target <= 1 at both)",
            p50 / v50,
            p99 / v99
        );
        drop(v.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), v.child.wait()).await;
    }
    save_all_and_sed(&root, &mut ours).await;
    shutdown.cancel();
    app.stop().await;
}

/// Revisions one multi-file save makes: `op` runs, then frames are counted
/// until none came for 300 ms.
async fn revisions_of(ours: &mut Ws, op: impl FnOnce()) -> usize {
    tokio::time::sleep(GAP).await;
    count_ready(ours, "reload");
    op();
    let mut n = 0;
    while until_within(ours, "reload", Duration::from_millis(300)).await {
        n += 1;
    }
    n
}

async fn until_within(ws: &mut Ws, kind: &str, wait: Duration) -> bool {
    tokio::time::timeout(wait, until(ws, kind))
        .await
        .is_ok_and(|f| f.is_some())
}

/// Counts of each number of revisions, as `1 ×18, 2 ×2`.
fn tally(counts: &[usize]) -> String {
    let mut seen = std::collections::BTreeMap::new();
    for &c in counts {
        *seen.entry(c).or_insert(0) += 1;
    }
    seen.iter()
        .map(|(revisions, times)| format!("{revisions} ×{times}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An IDE's "save all" (10 files written back to back by one process) and
/// `sed -i` over 50 files: how many revisions each makes.
async fn save_all_and_sed(root: &Path, ours: &mut Ws) {
    const ROUNDS: usize = 20;
    let mut save_all = Vec::new();
    for round in 0..ROUNDS {
        let n = revisions_of(ours, || {
            for i in 0..10 {
                let path = root.join(format!("workflows/w{}.yaml", 50 + i));
                std::fs::write(&path, small_workflow(&format!("Save all {round}"), 12)).unwrap();
            }
        })
        .await;
        save_all.push(n);
    }
    let mut sed = Vec::new();
    for round in 0..5 {
        let (from, to) = if round % 2 == 0 {
            ("5", "6")
        } else {
            ("6", "5")
        };
        let files: Vec<String> = (0..50).map(|i| format!("workflows/w{i}.yaml")).collect();
        let n = revisions_of(ours, || {
            let status = std::process::Command::new("sed")
                .arg("-i")
                .arg(format!(
                    "s/estimated_minutes: {from}$/estimated_minutes: {to}/"
                ))
                .args(&files)
                .current_dir(root)
                .status()
                .unwrap();
            assert!(status.success(), "sed failed");
        })
        .await;
        sed.push(n);
    }
    println!(
        "  save all (10 files back to back), {ROUNDS} times: revisions {}  (target 1)",
        tally(&save_all)
    );
    println!(
        "  sed -i over 50 files, {} times: revisions {}",
        sed.len(),
        tally(&sed)
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let window = std::env::args().skip(1).find_map(|a| a.parse().ok());
    runtime.block_on(run(window));
}
