//! Helpers shared by the integration tests (`tests/it`) and the bench
//! binaries (`benches/`), each including this file with `#[path]`: the
//! isolated `git` runner, saving a file the way editors do, an engine fed
//! batches by its caller, and a server on `127.0.0.1:0`. One harness, so a
//! figure in BENCHMARKS.md is measured on the engine the tests check.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// The `qa-reload` binary cargo built for these tests and benches.
pub const BIN: &str = env!("CARGO_BIN_EXE_qa-reload");

/// `qa-reload serve --bind 127.0.0.1:0` and `args`, as a test starts it:
/// `RUST_LOG=warn`, none of the caller's `QA_RELOAD_*` settings, both
/// output streams piped (for [`spawn_serving`] or
/// [`spawn_serving_blocking`] to read).
pub fn serve_command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("QA_RELOAD_TOKEN")
        .env_remove("QA_RELOAD_DATABASE_URL")
        .env_remove("QA_RELOAD_WEBHOOK_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The URL named by `line`, the line `serve` starts with (`… at
/// http://127.0.0.1:PORT/`), without its final slash.
pub fn url_in(line: &str) -> String {
    let at = line
        .find("http://")
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    line[at..].trim_end().trim_end_matches('/').to_owned()
}

/// A `serve` process a test started, and the lines it has printed so far
/// on each stream (both are kept read, so it never blocks on a full pipe).
pub struct Serving {
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub stdout: Arc<parking_lot::Mutex<Vec<String>>>,
    pub stderr: Arc<parking_lot::Mutex<Vec<String>>>,
}

impl Serving {
    /// Stops it as a user does (SIGTERM) and asserts that it exits 0
    /// within 20 s.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("it exits after SIGTERM")
            .expect("its exit status");
        assert!(status.success(), "{status}");
    }

    /// Ends it at once (SIGKILL): nothing of it closes cleanly.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("it exits after SIGKILL")
            .expect("its exit status");
    }

    /// Every line printed so far, standard output's first.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = self.stdout.lock().clone();
        lines.extend(self.stderr.lock().iter().cloned());
        lines
    }

    /// The address the URL names.
    pub fn addr(&self) -> SocketAddr {
        self.url
            .trim_start_matches("http://")
            .parse()
            .expect("an address")
    }
}

/// Spawns `command` (a [`serve_command`]), killed when dropped, and waits
/// at most `within` for the line naming its URL; panics with what it wrote
/// to standard error when that line does not come.
pub async fn spawn_serving(command: Command, within: Duration) -> Serving {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::from(command);
    let mut child = command.kill_on_drop(true).spawn().expect("serve starts");
    let stderr = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let kept = Arc::clone(&stderr);
    let mut errors = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            kept.lock().push(line);
        }
    });
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = match tokio::time::timeout(within, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        _ => panic!("serve printed no URL: {:?}", stderr.lock()),
    };
    let url = url_in(&first);
    let stdout = Arc::new(parking_lot::Mutex::new(vec![first]));
    let kept = Arc::clone(&stdout);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            kept.lock().push(line);
        }
    });
    Serving {
        child,
        url,
        stdout,
        stderr,
    }
}

/// [`spawn_serving`] for a caller without a runtime: the child and its
/// URL, once the line naming it is read. Its output is read on threads,
/// and standard error is passed through when `command` pipes it.
pub fn spawn_serving_blocking(mut command: Command) -> (Child, String) {
    let mut child = command.spawn().expect("serve starts");
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
            }
        });
    }
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = lines.next().and_then(Result::ok).unwrap_or_default();
    std::thread::spawn(move || lines.for_each(drop));
    (child, url_in(&line))
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
    let files: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                format!("workflows/w{i}.yaml"),
                small_workflow(&format!("W{i}"), 10),
            )
        })
        .collect();
    committed_repo(&files, "bench")
}

/// A temp git repository on `main` with a `workflows/` folder and `files`
/// (path, text), committed as `message`.
pub fn committed_repo(
    files: &[(impl AsRef<str>, impl AsRef<str>)],
    message: &str,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
    for (path, text) in files {
        let path = root.join(path.as_ref());
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text.as_ref()).expect("write");
    }
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", message]);
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
