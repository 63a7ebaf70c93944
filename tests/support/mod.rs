//! Helpers shared by the integration tests (`tests/it`) and the bench
//! binaries (`benches/`), each including this file with `#[path]`: the
//! isolated `git` runner, saving a file the way editors do, an engine fed
//! batches by its caller, and a server on `127.0.0.1:0`. One harness, so a
//! figure in BENCHMARKS.md is measured on the engine the tests check.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use qa_reload::api::conn::HttpLimits;
use qa_reload::api::security::Security;
use qa_reload::api::{self, AppState};
use qa_reload::engine::{Engine, Event, SharedEnv};
use qa_reload::watch::{Batch, Trigger};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Runs `git` in `dir`, isolated from the user's and the system's git
/// configuration; its standard output, trimmed. Panics when git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=QA Tester",
            "-c",
            "user.email=qa@example.com",
        ])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Writes `text` to `root/path` by rename, as editors do, so no reader sees
/// it half-written.
pub fn save(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    let tmp = full.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, &full).expect("rename");
}

/// An engine whose batches the caller sends (no watcher: every revision is
/// one the caller made).
pub struct Fed {
    pub engine: Engine,
    batches: mpsc::Sender<Batch>,
    pub shutdown: CancellationToken,
}

impl Fed {
    /// Loads `root` (revision 1) and starts the worker; `capacity` is the
    /// event broadcast's.
    pub async fn start(root: &Path, env: SharedEnv, capacity: usize) -> Fed {
        let root = root.to_path_buf();
        let (engine, worker) =
            tokio::task::spawn_blocking(move || Engine::load_with_capacity(&root, env, capacity))
                .await
                .expect("the load task ran")
                .expect("the engine loads");
        let (batches, rx) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        tokio::spawn(worker.run(Some(rx), shutdown.clone()));
        Fed {
            engine,
            batches,
            shutdown,
        }
    }

    /// Sends `paths` as one batch of complete writes; does not wait for it.
    pub async fn send(&self, paths: BTreeSet<String>) {
        let batch = Batch {
            paths,
            git_changed: false,
            rescan: None,
            first_event_at: Instant::now(),
            trigger: Trigger::CompleteWrite,
            early: None,
        };
        self.batches.send(batch).await.expect("the worker runs");
    }

    /// Saves each file (by rename), sends them as one batch and waits on
    /// `events` (subscribed before) for the revision after the current one.
    /// `None` when none came within `guard`.
    pub async fn change(
        &self,
        files: &[(&str, &str)],
        events: &mut broadcast::Receiver<Arc<Event>>,
        guard: std::time::Duration,
    ) -> Option<Arc<Event>> {
        let root = self.engine.root().to_path_buf();
        for (path, text) in files {
            save(&root, path, text);
        }
        // Events of revisions made before this batch (a manual reload's)
        // may still be queued: wait for one after them.
        let before = self.engine.snapshot().revision;
        self.send(files.iter().map(|(p, _)| (*p).to_owned()).collect())
            .await;
        loop {
            match tokio::time::timeout(guard, events.recv()).await {
                Ok(Ok(event)) if event.revision > before => return Some(event),
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                _ => return None,
            }
        }
    }
}

/// Serves `engine` on `127.0.0.1:0` without a token until `shutdown`, held
/// to `limits`; the address.
pub async fn serve(engine: Engine, shutdown: CancellationToken, limits: HttpLimits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let state =
        AppState::new(engine, Security::new(addr, None, &[]), shutdown).with_http_limits(limits);
    tokio::spawn(api::server::run(listener, state));
    addr
}

/// The smallest valid workflow: `name`, one step `a` ("Do it") taking
/// `minutes`.
pub fn one_step_workflow(name: &str, minutes: u32) -> String {
    format!("name: {name}\nsteps:\n  - id: a\n    name: Do it\n    estimated_minutes: {minutes}\n")
}

/// A small two-step workflow named `name` (the first step takes `minutes`),
/// the one the API and save-latency benches serve.
pub fn small_workflow(name: &str, minutes: u32) -> String {
    format!(
        "name: {name}\ndescription: benchmark workflow\nsteps:\n  - id: first\n    name: First step\n    estimated_minutes: {minutes}\n    checklist: [a, b, c]\n  - id: second\n    name: Second step\n    estimated_minutes: 5\n"
    )
}

/// A temp git repository with `n` of them, `workflows/w{i}.yaml` named
/// `W{i}`, committed on `main`.
pub fn small_workflows_repo(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    for i in 0..n {
        std::fs::write(
            root.join(format!("workflows/w{i}.yaml")),
            small_workflow(&format!("W{i}"), 10),
        )
        .expect("write");
    }
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "bench"]);
    dir
}

/// Resident and peak resident set (`VmRSS`, `VmHWM`) of process `pid`
/// (`"self"` for this one), in KiB, from `/proc/<pid>/status`; 0 where the
/// file or the field cannot be read.
pub fn rss_kib(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

/// HMAC-SHA256 as RFC 2104 defines it, written apart from the server's,
/// as hex: what a git host signs a webhook delivery with.
pub fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.iter().map(|b| b ^ 0x36).collect::<Vec<u8>>());
    inner.update(body);
    let mut outer = Sha256::new();
    outer.update(block.iter().map(|b| b ^ 0x5c).collect::<Vec<u8>>());
    outer.update(inner.finalize());
    outer
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
