//! Benchmark: what a running server holds in memory under two hostile
//! loads, measured as the resident set (RSS) of the release binary
//! `qa-reload serve`, with one WebSocket client taking every frame.
//!
//! 1. a workflow with 30,000 errors, then 200 saves of another workflow:
//!    RSS after the first revision, the largest and the last (target: at
//!    most 300 MB, and flat after the first revision), and the largest
//!    reload frame;
//! 2. a burst of 50,000 new workflow files, then 20 saves of one of them:
//!    RSS once every file is served, the largest and the last (same target);
//! 3. a history of 120 large revisions (some 300 KB each, up to the
//!    default 32 MiB), then 60 `GET .../events` from its start whose
//!    responses are never read: RSS before, and the peak while they are
//!    held;
//! 4. a WebSocket client that never reads (4 KiB receive buffer), while
//!    150 saves of a large workflow are made: RSS before and the peak.
//!
//! Run: `cargo bench --bench memory` (release build). Pass a figure's
//! number (`cargo bench --bench memory -- 2`) to run only that one. Set
//! `QA_RELOAD_BIN` to measure another build of the binary (an older one,
//! for a before/after comparison).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;
use support::{save, spawn_serving_blocking};

const MIB: f64 = 1024.0 * 1024.0;
/// The longest wait for a revision; a hang guard, not a measurement.
const GUARD: Duration = Duration::from_secs(120);

fn workflow(name: &str, minutes: u32) -> String {
    format!(
        "name: {name}\ndescription: Verify the change and look for regressions\nsteps:\n  - id: reproduce\n    name: Reproduce the original problem\n    estimated_minutes: {minutes}\n  - id: verify\n    name: Verify the fix\n    estimated_minutes: 15\n"
    )
}

/// A workflow with `n` errors: every step is a string, not a mapping
/// (6 bytes an error, so 30,000 fit well under the 1 MiB file limit).
fn broken_workflow(n: usize) -> String {
    let mut text = String::from("name: Broken\nsteps:\n");
    for _ in 0..n {
        text.push_str("  - x\n");
    }
    text
}

/// A temp git repository holding `files`, committed.
fn repo(files: &[(&str, String)]) -> tempfile::TempDir {
    support::committed_repo(files, "start")
}

/// The running binary, its address, and the frames its client took.
struct Served {
    child: Child,
    addr: String,
    frames: Arc<AtomicU64>,
    largest_frame: Arc<AtomicU64>,
    rt: tokio::runtime::Runtime,
}

impl Served {
    fn start(root: &Path) -> Served {
        let bin = std::env::var_os("QA_RELOAD_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_qa-reload").into());
        let mut command = Command::new(bin);
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--repo"])
            .arg(root)
            .env("RUST_LOG", "off")
            .env_remove("QA_RELOAD_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let (child, url) = spawn_serving_blocking(command);
        let addr = url.trim_start_matches("http://").to_owned();
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let frames = Arc::new(AtomicU64::new(0));
        let largest_frame = Arc::new(AtomicU64::new(0));
        let url = format!("ws://{addr}/ws/hot-reload");
        let (count, largest) = (Arc::clone(&frames), Arc::clone(&largest_frame));
        rt.spawn(async move {
            // A burst's reload frame can pass the client library's 16 MiB
            // default; a browser has no such limit, and a client that
            // dropped out would leave the server nothing to send to.
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .max_message_size(None)
                .max_frame_size(None);
            let Ok((mut ws, _)) =
                tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false)
                    .await
            else {
                eprintln!("memory bench: the WebSocket client could not connect");
                return;
            };
            while let Some(message) = ws.next().await {
                let message = match message {
                    Ok(message) => message,
                    Err(e) => {
                        eprintln!("memory bench: the WebSocket client stopped: {e}");
                        return;
                    }
                };
                if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                    count.fetch_add(1, Ordering::Relaxed);
                    if text.contains("\"type\":\"reload\"") {
                        largest.fetch_max(text.len() as u64, Ordering::Relaxed);
                    }
                }
            }
        });
        Served {
            child,
            addr,
            frames,
            largest_frame,
            rt,
        }
    }

    /// `GET path` on a connection of its own; the body.
    fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/api/v1/dev/hot-reload/status")).unwrap_or_default()
    }

    fn revision(&self) -> u64 {
        self.status()["revision"].as_u64().unwrap_or(0)
    }

    /// Waits until `ready` holds for the status.
    fn wait(&self, what: &str, ready: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + GUARD;
        while !ready(&self.status()) {
            assert!(Instant::now() < deadline, "never happened: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resident and peak resident set, in bytes.
    fn rss(&self) -> (u64, u64) {
        let (rss, peak) = support::rss_kib(&self.child.id().to_string());
        (rss * 1024, peak * 1024)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.rt.shutdown_background();
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MIB)
}

/// Saves `path` `saves` times with a new value each time, waiting for each
/// revision; RSS after each (bytes).
fn saves(served: &Served, root: &Path, path: &str, saves: std::ops::Range<u32>) -> Vec<u64> {
    let mut rss = Vec::new();
    for i in saves {
        let before = served.revision();
        save(root, path, &workflow("Other", 2 + i % 1000));
        served.wait("the save's revision", |s| {
            s["revision"].as_u64().is_some_and(|r| r > before)
        });
        rss.push(served.rss().0);
    }
    rss
}

fn report(label: &str, first: u64, after: &[u64], peak: u64) {
    let max = after.iter().copied().max().unwrap_or(first);
    let last = after.last().copied().unwrap_or(first);
    println!(
        "   {label}: RSS after the first revision {}, largest after {} {}, last {}, peak (VmHWM) {}  (target <= 300 MB, flat)",
        mb(first),
        after.len(),
        mb(max),
        mb(last),
        mb(peak)
    );
}

/// Figure 1: 30,000 errors in one file, then 200 saves of another.
fn figure_errors() {
    const ERRORS: usize = 30_000;
    let dir = repo(&[
        ("workflows/big.yaml", broken_workflow(ERRORS)),
        ("workflows/other.yaml", workflow("Other", 1)),
    ]);
    let root = dir.path();
    let started = Instant::now();
    let served = Served::start(root);
    served.wait("the startup load", |s| s["revision"].as_u64().is_some());
    let loaded = started.elapsed();
    let status = served.status();
    println!(
        "1. {ERRORS} errors in one file, then 200 saves of another (startup load {:.1} s, {} diagnostics in force)",
        loaded.as_secs_f64(),
        status["errors_total"]
    );
    let first = saves(&served, root, "workflows/other.yaml", 0..1)[0];
    let after = saves(&served, root, "workflows/other.yaml", 1..200);
    report("200 saves", first, &after, served.rss().1);
    let status_bytes = served.get("/api/v1/dev/hot-reload/status").len();
    println!(
        "   largest reload frame {} bytes, status {} bytes, frames taken {}",
        served.largest_frame.load(Ordering::Relaxed),
        status_bytes,
        served.frames.load(Ordering::Relaxed)
    );
    served.stop();
}

/// Figure 2: a burst of 50,000 new workflow files, then 20 saves of one.
fn figure_burst() {
    const FILES: usize = 50_000;
    let dir = repo(&[("workflows/other.yaml", workflow("Other", 1))]);
    let root = dir.path();
    let served = Served::start(root);
    served.wait("the startup load", |s| s["revision"].as_u64().is_some());
    let started = Instant::now();
    std::fs::create_dir_all(root.join("workflows/burst")).expect("mkdir");
    for i in 0..FILES {
        std::fs::write(
            root.join(format!("workflows/burst/w{i:05}.yaml")),
            workflow(&format!("Workflow {i}"), 10),
        )
        .expect("write");
    }
    let written = started.elapsed();
    // Every file served (`counts` in the status count revisions; the
    // workflow list names them all).
    let expected = FILES + 1;
    let deadline = Instant::now() + GUARD;
    loop {
        let list: serde_json::Value =
            serde_json::from_str(&served.get("/api/v1/workflows")).unwrap_or_default();
        if list["workflows"]
            .as_array()
            .is_some_and(|w| w.len() == expected)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the burst was never served whole"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let served_after = started.elapsed();
    let first = served.rss().0;
    let status = served.status();
    println!(
        "2. a burst of {FILES} new workflow files (written in {:.1} s, all served after {:.1} s, {} revisions, history {} events / {} bytes)",
        written.as_secs_f64(),
        served_after.as_secs_f64(),
        status["counts"]["reloads"],
        status["history"]["events"],
        status["history"]["bytes"]
    );
    let after = saves(&served, root, "workflows/other.yaml", 0..20);
    report("then 20 saves", first, &after, served.rss().1);
    served.stop();
}

/// A workflow whose 400-line description changes every line in each
/// generation: every revision's patch and frame is some hundreds of KB.
fn long_workflow(generation: u32) -> String {
    let mut text = String::from("name: Long\ndescription: |\n");
    for line in 0..400 {
        text.push_str(&format!(
            "  generation {generation} line {line} of a long description that changes whole\n"
        ));
    }
    text.push_str("steps:\n  - id: a\n    name: A\n    estimated_minutes: 1\n");
    text
}

/// `GET path` on a socket that takes 4 KiB at a time and is never read.
fn unread(served: &Served, path: &str) -> tokio::net::TcpStream {
    served.rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("buffer size");
        let mut stream = socket
            .connect(served.addr.parse().expect("address"))
            .await
            .expect("connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
            .await
            .expect("send");
        stream
    })
}

/// Saves the long workflow `saves` times, waiting for each revision.
fn long_saves(served: &Served, root: &Path, saves: std::ops::Range<u32>) {
    for generation in saves {
        let before = served.revision();
        save(root, "workflows/long.yaml", &long_workflow(generation));
        served.wait("the save's revision", |s| {
            s["revision"].as_u64().is_some_and(|r| r > before)
        });
    }
}

/// Figure 3: a large history, then 60 unread `GET .../events`.
fn figure_unread_events() {
    const CLIENTS: usize = 60;
    let dir = repo(&[("workflows/long.yaml", long_workflow(0))]);
    let root = dir.path();
    let served = Served::start(root);
    served.wait("the startup load", |s| s["revision"].as_u64().is_some());
    long_saves(&served, root, 1..121);
    let status = served.status();
    let kept = status["history"]["events"].as_u64().unwrap_or(0);
    let since = served.revision() - kept;
    // An older build names no instance and takes none; this one needs it.
    let instance = status["instance"].as_str().unwrap_or("").to_owned();
    let path = format!("/api/v1/dev/hot-reload/events?since={since}&instance={instance}");
    let body = served.get(&path).len();
    let before = served.rss().0;
    let streams: Vec<_> = (0..CLIENTS).map(|_| unread(&served, &path)).collect();
    // Each request is answered at once (or refused); give them time to
    // be written as far as the sockets take, then read the peak.
    std::thread::sleep(Duration::from_secs(3));
    let (now, peak) = served.rss();
    println!(
        "3. {CLIENTS} unread GET .../events over a history of {kept} events / {} bytes (each body {} bytes)",
        status["history"]["bytes"], body
    );
    println!(
        "   RSS before {}, while unread {}, peak (VmHWM) {}",
        mb(before),
        mb(now),
        mb(peak)
    );
    // What they were answered: a refusal would hold nothing, so count.
    let answered = served.rt.block_on(async {
        let mut ok = 0;
        for mut stream in streams {
            let mut head = [0u8; 12];
            if tokio::io::AsyncReadExt::read_exact(&mut stream, &mut head)
                .await
                .is_ok()
                && head.ends_with(b" 200")
            {
                ok += 1;
            }
        }
        ok
    });
    println!("   answered 200 OK: {answered} of {CLIENTS}");
    served.stop();
}

/// Figure 4: a WebSocket client that never reads, while 300 saves happen.
fn figure_never_reading_client() {
    const SAVES: u32 = 150;
    let dir = repo(&[("workflows/long.yaml", long_workflow(0))]);
    let root = dir.path();
    let served = Served::start(root);
    served.wait("the startup load", |s| s["revision"].as_u64().is_some());
    // Fill history first, so what the stuck client adds is what is shown.
    long_saves(&served, root, 1..121);
    let before = served.rss();
    let url = format!("ws://{}/ws/hot-reload", served.addr);
    let stuck = served.rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("buffer size");
        let stream = socket
            .connect(served.addr.parse().expect("address"))
            .await
            .expect("connect");
        let (ws, _) = tokio_tungstenite::client_async(url.as_str(), stream)
            .await
            .expect("upgrade");
        ws
    });
    let started = Instant::now();
    long_saves(&served, root, 121..121 + SAVES);
    let (now, peak) = served.rss();
    println!(
        "4. a WebSocket client that never reads, {SAVES} saves of a large workflow in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "   RSS before {} (peak {}), after the saves {}, peak (VmHWM) {}",
        mb(before.0),
        mb(before.1),
        mb(now),
        mb(peak)
    );
    drop(stuck);
    served.stop();
}

fn main() {
    let only: Option<u32> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let run = |n: u32| only.is_none_or(|o| o == n);
    if run(1) {
        figure_errors();
    }
    if run(2) {
        figure_burst();
    }
    if run(3) {
        figure_unread_events();
    }
    if run(4) {
        figure_never_reading_client();
    }
}
