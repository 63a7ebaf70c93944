//! Benchmark: the API under load, release build, one process (server and
//! clients share the machine's 2 cores).
//!
//! 1. 1,000 WebSocket clients: every client receives every frame; p50/p99
//!    from publish (the engine's broadcast) to receipt; RSS per idle client.
//! 2. `GET /api/v1/workflows` latency p50/p99/p99.9 idle, during reloads
//!    every 50 ms (the most the watcher makes at default settings) and
//!    during reloads back to back (a stress), and the error count.
//! 3. Save → `reload` frame received, 100 saves, default settings (real
//!    watcher: a complete save applies after the 1 ms complete-write window).
//!
//! Run: `cargo bench --bench api`. Prints figures; asserts nothing.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use qa_reload::api::conn::HttpLimits;
use qa_reload::app::{self, Options};
use qa_reload::engine::BROADCAST_CAPACITY;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;
use support::{Fed, save, serve, small_workflow, small_workflows_repo};

const CLIENTS: usize = 1000;
const FRAMES: u64 = 50;
/// How long each read phase lasts.
const READ_PHASE: Duration = Duration::from_secs(3);
const SAVES: usize = 100;

/// The server's limits: room for every client (and the readers) beyond the
/// default cap of 512 connections.
fn limits() -> HttpLimits {
    HttpLimits {
        max_connections: 2 * CLIENTS,
        ..HttpLimits::default()
    }
}

/// The engine the tests use, fed batches by the bench, and a server for it.
struct Rig {
    fed: Fed,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start(workflows: usize) -> Rig {
        let dir = small_workflows_repo(workflows);
        let fed = Fed::start(dir.path(), Arc::new(|_: &str| None), BROADCAST_CAPACITY).await;
        let addr = serve(fed.engine.clone(), fed.shutdown.clone(), limits()).await;
        Rig {
            fed,
            addr,
            _dir: dir,
        }
    }

    /// Rewrites `workflows/w0.yaml` and applies it as one batch.
    async fn change(&self, generation: u32) {
        save(
            self.fed.engine.root(),
            "workflows/w0.yaml",
            &small_workflow(&format!("W0 gen {generation}"), 10 + generation % 100),
        );
        self.fed
            .send(BTreeSet::from(["workflows/w0.yaml".to_owned()]))
            .await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:8.3} ms", d.as_secs_f64() * 1000.0)
}

fn revision_of(text: &str) -> Option<u64> {
    let rest = &text[text.find("\"revision\":")? + 11..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()
}

async fn websocket_clients() {
    let rig = Rig::start(20).await;
    let url = format!("ws://{}/ws/hot-reload", rig.addr);
    let before = support::rss_kib("self").0;
    let (ready_tx, mut ready_rx) = mpsc::channel(CLIENTS);
    let start_revision = rig.fed.engine.snapshot().revision;
    let mut tasks = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let url = url.clone();
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .unwrap();
            // hello + snapshot
            for _ in 0..2 {
                ws.next().await.unwrap().unwrap();
            }
            ready.send(()).await.unwrap();
            let mut got = Vec::with_capacity(FRAMES as usize);
            while (got.len() as u64) < FRAMES {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        got.push((revision_of(&t).unwrap(), Instant::now()));
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
            got
        }));
    }
    for _ in 0..CLIENTS {
        ready_rx.recv().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = support::rss_kib("self").0;
    let mut publish = rig.fed.engine.subscribe();
    let mut published = std::collections::HashMap::new();
    for g in 1..=FRAMES {
        rig.change(g as u32).await;
        let event = publish.recv().await.unwrap();
        published.insert(event.revision, Instant::now());
        // Spaced so each frame is measured on its own, not queued behind the last.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut latencies = Vec::new();
    let mut complete = 0;
    for task in tasks {
        let got = task.await.unwrap();
        let revisions: Vec<u64> = got.iter().map(|(r, _)| *r).collect();
        let expected: Vec<u64> = (start_revision + 1..=start_revision + FRAMES).collect();
        if revisions == expected {
            complete += 1;
        }
        for (revision, at) in got {
            if let Some(p) = published.get(&revision) {
                latencies.push(at.saturating_duration_since(*p));
            }
        }
    }
    latencies.sort();
    println!("1,000 WebSocket clients, {FRAMES} reload frames each");
    println!("  clients that received every frame, in order: {complete} / {CLIENTS}");
    println!(
        "  publish -> receipt: p50 {}  p99 {}  max {}   (target p99 <= 50 ms)",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "  RSS per idle client (server and client side together, one process): {:.1} KiB",
        (idle.saturating_sub(before)) as f64 / CLIENTS as f64
    );
    rig.fed.shutdown.cancel();
}

/// One keep-alive GET; `Err` on anything but a whole 200.
async fn get(conn: &mut BufReader<TcpStream>, path: &str) -> Result<(), String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    conn.get_mut()
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    conn.read_line(&mut line).await.map_err(|e| e.to_string())?;
    let ok = line.starts_with("HTTP/1.1 200");
    let mut length = 0;
    loop {
        line.clear();
        conn.read_line(&mut line).await.map_err(|e| e.to_string())?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    if ok {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&body).into_owned())
    }
}

/// `readers` keep-alive connections reading `GET /api/v1/workflows` in a
/// loop for `phase`; every request's latency, sorted, and the errors.
async fn read_latency(addr: SocketAddr, readers: usize, phase: Duration) -> (Vec<Duration>, usize) {
    let mut tasks = Vec::new();
    for _ in 0..readers {
        tasks.push(tokio::spawn(async move {
            let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
            let mut times = Vec::new();
            let mut errors = 0;
            let end = Instant::now() + phase;
            while Instant::now() < end {
                let t = Instant::now();
                if get(&mut conn, "/api/v1/workflows").await.is_err() {
                    errors += 1;
                }
                times.push(t.elapsed());
            }
            (times, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (times, e) = t.await.unwrap();
        all.extend(times);
        errors += e;
    }
    all.sort();
    (all, errors)
}

/// One read phase, with a reload every `pace` after the previous one is
/// published (no reloads when `None`; back to back when zero). Returns the
/// latencies, the errors and the number of reloads.
async fn read_phase(
    rig: &Arc<Rig>,
    readers: usize,
    pace: Option<Duration>,
) -> (Vec<Duration>, usize, u32) {
    let stop = CancellationToken::new();
    let reloader = pace.map(|pace| {
        let (rig, stop) = (rig.clone(), stop.clone());
        tokio::spawn(async move {
            let mut events = rig.fed.engine.subscribe();
            let mut n = 0u32;
            while !stop.is_cancelled() {
                n += 1;
                rig.change(n).await;
                let _ = events.recv().await;
                tokio::time::sleep(pace).await;
            }
            n
        })
    });
    let (times, errors) = read_latency(rig.addr, readers, READ_PHASE).await;
    stop.cancel();
    let reloads = match reloader {
        Some(task) => task.await.unwrap(),
        None => 0,
    };
    (times, errors, reloads)
}

async fn http_reads() {
    let rig = Arc::new(Rig::start(100).await);
    const READERS: usize = 4;
    // Warm up.
    read_latency(rig.addr, READERS, Duration::from_millis(500)).await;
    let (idle, idle_errors, _) = read_phase(&rig, READERS, None).await;
    // The fastest reloads the watcher makes at default settings: one per
    // 50 ms quiet period.
    let (paced, paced_errors, paced_reloads) =
        read_phase(&rig, READERS, Some(Duration::from_millis(50))).await;
    // A stress beyond what the watcher can produce: batches back to back.
    let (busy, busy_errors, busy_reloads) = read_phase(&rig, READERS, Some(Duration::ZERO)).await;
    println!(
        "GET /api/v1/workflows (100 workflows, ~60 KB), {READERS} keep-alive readers, {} s per phase",
        READ_PHASE.as_secs()
    );
    let line = |label: &str, times: &[Duration], errors: usize, reloads: Option<u32>| {
        println!(
            "  {label:<26} p50 {}  p99 {}  p99.9 {}  requests {:>6}  errors {errors}{}",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99)),
            ms(percentile(times, 0.999)),
            times.len(),
            reloads.map_or_else(String::new, |n| format!("  reloads {n}"))
        );
    };
    line("idle", &idle, idle_errors, None);
    line(
        "reloads every 50 ms",
        &paced,
        paced_errors,
        Some(paced_reloads),
    );
    line(
        "reloads back to back",
        &busy,
        busy_errors,
        Some(busy_reloads),
    );
    let ratio =
        |t: &[Duration]| percentile(t, 0.99).as_secs_f64() / percentile(&idle, 0.99).as_secs_f64();
    println!(
        "  p99 / idle p99: {:.2} with reloads every 50 ms (target <= 2, 0 errors); {:.2} back to back (stress)",
        ratio(&paced),
        ratio(&busy)
    );
    rig.fed.shutdown.cancel();
}

async fn save_to_frame() {
    let dir = small_workflows_repo(20);
    let root = dir.path().to_path_buf();
    let mut options = Options::new(&root);
    options.env = Arc::new(|_: &str| None);
    let app = app::start(options).await.unwrap();
    let shutdown = CancellationToken::new();
    let addr = serve(app.engine.clone(), shutdown.clone(), limits()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/hot-reload"))
        .await
        .unwrap();
    for _ in 0..2 {
        ws.next().await.unwrap().unwrap();
    }
    let path = root.join("workflows/w1.yaml");
    let mut times = Vec::new();
    for i in 0..SAVES {
        let t = Instant::now();
        std::fs::write(
            &path,
            small_workflow(&format!("W1 save {i}"), 10 + (i % 50) as u32),
        )
        .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(Message::Text(_)))) => break,
                Ok(Some(Ok(_))) => continue,
                other => panic!("no frame for save {i}: {other:?}"),
            }
        }
        times.push(t.elapsed());
        // Past the 300 ms cap, so the next save is a batch of its own.
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
    times.sort();
    println!(
        "save -> reload frame received, {SAVES} saves, default settings (complete-write window 1 ms, inotify)"
    );
    println!(
        "  p50 {}  p99 {}   (target <= 60 / 80 ms)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99))
    );
    shutdown.cancel();
    app.stop().await;
    drop(ws);
}

fn main() {
    let limit = std::process::Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("open-file limit (ulimit -n): {limit}; 1,000 clients need about 2,100 descriptors");
    if limit.parse::<u64>().is_ok_and(|l| l < 2200) {
        println!("  the limit is too low for 1,000 clients: run `ulimit -n 4096` first");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        websocket_clients().await;
        http_reads().await;
        save_to_frame().await;
    });
}
