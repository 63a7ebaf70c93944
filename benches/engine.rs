//! Benchmark: the live reload engine, on temp git repositories.
//!
//! Prints four figures (targets from BENCHMARKS.md):
//! 1. processing one changed file (batch ready → event published) in a repo
//!    of 100 and of 10,000 workflows: ≤ 5 ms median at 10,000, ratio ≤ 1.5;
//! 2. `git checkout` changing 1,000 workflows: one revision, time from git
//!    exiting to the event (≤ 250 ms);
//! 3. cold start of `qa-reload serve` on 10,000 workflows (≤ 1 s) and its
//!    RSS (≤ 150 MB);
//! 4. save → event published over 100 saves at default settings
//!    (p50 ≤ 60 ms, p99 ≤ 80 ms), and as a peer the same saves seen by
//!    chokidar with a 50 ms quiet period (`npm ci --prefix benches/peer`).
//!
//! Run: `cargo bench --bench engine` (release build). Pass a figure's
//! number (`cargo bench --bench engine -- 2`) to run only that one.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qa_reload::app::{self, Options};
use qa_reload::engine::{Applier, CauseKind, Input, SharedEnv};
use qa_reload::git::GitRepo;
use tokio::sync::broadcast;

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;
use support::git;

fn workflow(name: &str, minutes: u32) -> String {
    format!(
        "# QA workflow\nname: {name}\ndescription: Verify the change and look for regressions\nticket_types: [bug, story]\nsteps:\n  - id: reproduce\n    name: Reproduce the original problem\n    estimated_minutes: {minutes}\n    checklist:\n      - Steps to reproduce are written down\n      - Environment noted\n  - id: verify\n    name: Verify the fix\n    estimated_minutes: 15\n    checklist: [Fix verified on staging]\n  - id: regression\n    name: Run the regression suite\n    estimated_minutes: 30\n    checklist: [Smoke suite green, No new console errors]\n"
    )
}

/// A repo with `n` workflows committed on `main`.
fn repo(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    git(root, &["init", "-q", "-b", "main"]);
    for i in 0..n {
        std::fs::write(
            root.join(format!("workflows/w{i:05}.yaml")),
            workflow(&format!("Workflow {i}"), 10),
        )
        .expect("write");
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "workflows"]);
    dir
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn no_env() -> SharedEnv {
    Arc::new(|_| None)
}

/// The watcher and engine on `root`, as `qa-reload serve` starts them.
async fn start(root: &Path) -> app::App {
    let mut options = Options::new(root);
    options.env = no_env();
    app::start(options).await.expect("start")
}

/// Figure 1: one changed file, batch ready → event published.
fn per_file(n: usize, iterations: usize) -> (Duration, Duration) {
    let dir = repo(n);
    let root = dir.path().to_path_buf();
    let git = GitRepo::discover(&root).expect("git").map(Arc::new);
    let mut applier = Applier::new(root.clone(), git, no_env()).expect("applier");
    applier
        .apply(Input::full(CauseKind::Startup))
        .expect("startup applies")
        .expect("startup revision");
    let (tx, _rx) = broadcast::channel(16);
    let path = "workflows/w00000.yaml";
    let mut times = Vec::with_capacity(iterations);
    for i in 0..iterations {
        std::fs::write(root.join(path), workflow(&format!("Workflow 0 v{i}"), 10)).expect("write");
        let start = Instant::now();
        let outcome = applier.apply(Input::paths([path]));
        let outcome = outcome
            .expect("the batch applies")
            .expect("a revision per change");
        assert_eq!(outcome.event.patches.len(), 1);
        let _ = tx.send(outcome.event);
        times.push(start.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn figure_per_file() {
    println!(
        "1. one changed file, batch ready -> event published (read, hash, parse, validate, diff, differs-from-HEAD, swap)"
    );
    let (m100, p100) = per_file(100, 300);
    println!(
        "   repo of    100 workflows: median {:.3} ms  p99 {:.3} ms",
        ms(m100),
        ms(p100)
    );
    let (m10k, p10k) = per_file(10_000, 300);
    println!(
        "   repo of 10,000 workflows: median {:.3} ms  p99 {:.3} ms",
        ms(m10k),
        ms(p10k)
    );
    println!(
        "   ratio 10,000 / 100 (median): {:.2}  (targets: <= 5 ms median at 10,000, ratio <= 1.5)",
        ms(m10k) / ms(m100)
    );
}

/// Figure 2: `git checkout` of a branch changing 1,000 workflows.
fn figure_checkout(rt: &tokio::runtime::Runtime) {
    const N: usize = 1000;
    let dir = repo(N);
    let root = dir.path().to_path_buf();
    git(&root, &["checkout", "-q", "-b", "feature/bench"]);
    for i in 0..N {
        std::fs::write(
            root.join(format!("workflows/w{i:05}.yaml")),
            workflow(&format!("Workflow {i} on the feature branch"), 20),
        )
        .expect("write");
    }
    git(
        &root,
        &["commit", "-q", "-a", "-m", "change every workflow"],
    );
    git(&root, &["checkout", "-q", "main"]);

    rt.block_on(async {
        let app = start(&root).await;
        let mut rx = app.engine.subscribe();
        let mut times = Vec::new();
        let mut revisions = Vec::new();
        for (i, branch) in ["feature/bench", "main", "feature/bench", "main", "feature/bench", "main"]
            .iter()
            .enumerate()
        {
            let status = checkout(&root, branch);
            let exited = Instant::now();
            assert!(status, "checkout {branch}");
            let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("an event within 10 s")
                .expect("event");
            times.push(exited.elapsed());
            // Anything more for this checkout would be a second revision.
            let mut count = 1;
            while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(700), rx.recv()).await {
                count += 1;
            }
            assert_eq!(event.cause.kind, CauseKind::BranchSwitch, "checkout {i}");
            assert_eq!(event.patches.len(), N);
            revisions.push(count);
        }
        app.stop().await;
        let mut sorted = times.clone();
        sorted.sort();
        println!("2. git checkout changing {N} workflows: time from git exiting to the event");
        println!(
            "   runs: {}",
            times.iter().map(|t| format!("{:.0} ms", ms(*t))).collect::<Vec<_>>().join(", ")
        );
        println!(
            "   median {:.0} ms  max {:.0} ms  revisions per checkout: {:?}  (target: one revision, <= 250 ms)",
            ms(percentile(&sorted, 0.5)),
            ms(*sorted.last().expect("runs")),
            revisions
        );
    });
}

/// Figure 3: cold start of the binary on 10,000 workflows, and its RSS.
fn figure_cold_start() {
    const N: usize = 10_000;
    let dir = repo(N);
    let exe = env!("CARGO_BIN_EXE_qa-reload");
    let mut starts = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let mut child = Command::new(exe)
            .args(["serve", "--repo"])
            .arg(dir.path())
            .args(serve_extra_args())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn qa-reload");
        let stderr = child.stderr.take().expect("stderr");
        let mut ready = None;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("watching for changes") {
                ready = Some(start.elapsed());
                break;
            }
        }
        let ready = ready.expect("qa-reload reported it was ready");
        std::thread::sleep(Duration::from_millis(300));
        rss.push(support::rss_kib(&child.id().to_string()));
        let _ = child.kill();
        let _ = child.wait();
        starts.push(ready);
    }
    println!("3. cold start of `qa-reload serve` on {N} workflows (process start -> watching)");
    println!(
        "   runs: {}  (target <= 1 s)",
        starts
            .iter()
            .map(|t| format!("{:.0} ms", ms(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "   RSS after start: {}  (target <= 150 MB)",
        rss.iter()
            .map(|(now, peak)| format!(
                "{:.1} MB (peak {:.1} MB)",
                *now as f64 / 1024.0,
                *peak as f64 / 1024.0
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Arguments `serve` needs beyond `--repo` to run beside other servers:
/// any free loopback port.
fn serve_extra_args() -> Vec<&'static str> {
    vec!["--bind", "127.0.0.1:0"]
}

/// Figure 4: save → event published, at default settings.
fn figure_save_latency(rt: &tokio::runtime::Runtime) {
    let dir = repo(100);
    let root = dir.path().to_path_buf();
    rt.block_on(async {
        let app = start(&root).await;
        let mut rx = app.engine.subscribe();
        let mut times = Vec::new();
        let mut extra = 0;
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            while rx.try_recv().is_ok() {
                extra += 1;
            }
            let path = root.join(format!("workflows/w{:05}.yaml", i % 100));
            let start = Instant::now();
            std::fs::write(&path, workflow(&format!("Workflow saved {i}"), 11)).expect("write");
            let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("an event within 5 s")
                .expect("event");
            times.push(start.elapsed());
            assert_eq!(event.patches.len(), 1);
        }
        app.stop().await;
        times.sort();
        println!("4. save -> event published, 100 saves, default settings (a complete save applies after the 1 ms complete-write window; other events wait the 50 ms quiet period)");
        let (p50, p99) = (ms(percentile(&times, 0.5)), ms(percentile(&times, 0.99)));
        println!(
            "   p50 {p50:.1} ms  p99 {p99:.1} ms  max {:.1} ms  extra revisions: {extra}  (targets: p50 <= 60 ms, p99 <= 80 ms)",
            ms(*times.last().expect("saves"))
        );
        match chokidar_peer() {
            Ok((peer50, peer99)) => println!(
                "   peer: chokidar with a 50 ms quiet period, same saves: p50 {peer50:.1} ms  p99 {peer99:.1} ms; ours / peer: p50 {:.2}  p99 {:.2}",
                p50 / peer50,
                p99 / peer99
            ),
            Err(why) => println!("   peer: not run ({why})"),
        }
    });
}

/// Runs `benches/peer/chokidar-latency.mjs` (a watcher only: no reading,
/// parsing or diffing) and returns its p50 and p99 in milliseconds.
fn chokidar_peer() -> Result<(f64, f64), String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer");
    if !dir.join("node_modules/chokidar").is_dir() {
        return Err("install it with `npm ci --prefix benches/peer`".to_string());
    }
    let out = Command::new("node")
        .arg(dir.join("chokidar-latency.mjs"))
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let numbers: Vec<f64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers.as_slice() {
        [p50, p99] if out.status.success() => Ok((*p50, *p99)),
        _ => Err(format!(
            "unexpected output: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// Runs `git checkout -q <branch>` to completion: the time measured starts
/// when git has exited.
fn checkout(root: &Path, branch: &str) -> bool {
    Command::new("git")
        .args(["checkout", "-q", branch])
        .current_dir(root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    let only: Option<u32> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let run = |n: u32| only.is_none_or(|o| o == n);
    if run(1) {
        figure_per_file();
    }
    if run(2) {
        figure_checkout(&rt);
    }
    if run(3) {
        figure_cold_start();
    }
    if run(4) {
        figure_save_latency(&rt);
    }
}
