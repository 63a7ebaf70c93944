//! Benchmark: the run store, through the release binary `qa-reload serve`
//! over HTTP (one keep-alive connection, requests one after another).
//!
//! 1. 300 runs of a 356 KB workflow: the size of `GET /api/v1/runs?limit=300`
//!    (target: at most 1 MB) and the server's peak RSS against idle (target:
//!    within 50 MB);
//! 2. start a run / complete a step, p50 and p99, on SQLite (target p99
//!    <= 5 ms) and on a local PostgreSQL cluster started for the run
//!    (target p99 <= 10 ms; skipped without PostgreSQL's programs);
//! 3. 100,000 stored runs: the first page of `GET /api/v1/runs`, p50 and
//!    p99 (target p99 <= 10 ms), and the peak RSS while reading it;
//! 4. time from starting `serve` to serving, with 10,000 runs in progress
//!    against none (target: at most 1 s more).
//!
//! Run: `cargo bench --bench runs` (release build). Pass a figure's number
//! (`cargo bench --bench runs -- 2`) to run only that one.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

#[allow(dead_code, clippy::unwrap_used)]
#[path = "../tests/it/pg.rs"]
mod pg;
#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use support::{serve_command, spawn_serving_blocking};

const MIB: f64 = 1024.0 * 1024.0;

/// A workflow of `steps` steps with checklists (about 190 bytes a step).
fn big_workflow(min_bytes: usize) -> String {
    let mut text = String::from("name: Long regression pass\nsteps:\n");
    let mut n = 0;
    while text.len() < min_bytes {
        n += 1;
        text.push_str(&format!(
            "  - id: step-{n:05}\n    name: Step {n} of the long regression pass, with a descriptive name\n    estimated_minutes: 5\n    checklist:\n      - Check the first thing carefully\n      - Check the second thing carefully\n"
        ));
    }
    text
}

fn small_workflow() -> String {
    "name: Smoke\nsteps:\n  - id: first\n    name: First\n    estimated_minutes: 5\n  - id: second\n    name: Second\n    estimated_minutes: 5\n".to_string()
}

/// A temp git repository holding `files`, committed.
fn repo(files: &[(&str, String)]) -> tempfile::TempDir {
    support::committed_repo(files, "start")
}

struct Served {
    child: Child,
    url: String,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
    /// From spawning to the URL line.
    ready_in: Duration,
}

impl Served {
    fn start(root: &Path, database: Option<&str>) -> Served {
        let began = Instant::now();
        let mut command = serve_command(&["--repo", root.to_str().expect("a UTF-8 path")]);
        command.stderr(Stdio::inherit());
        if let Some(database) = database {
            command.args(["--database", database]);
        }
        let (child, url) = spawn_serving_blocking(command);
        let ready_in = began.elapsed();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Served {
            child,
            url,
            client: reqwest::Client::new(),
            rt,
            ready_in,
        }
    }

    /// `method path`: status, body, and how long it took.
    fn call(&self, method: &str, path: &str) -> (u16, String, Duration) {
        let url = format!("{}{path}", self.url);
        self.rt.block_on(async {
            let began = Instant::now();
            let request = match method {
                "POST" => self.client.post(&url),
                _ => self.client.get(&url),
            };
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let body = response.text().await.expect("body");
            (status, body, began.elapsed())
        })
    }

    fn start_run(&self, workflow: &str) -> (String, Duration) {
        let (code, body, took) = self.call("POST", &format!("/api/v1/workflows/{workflow}/runs"));
        assert_eq!(code, 201, "{body}");
        let run: serde_json::Value = serde_json::from_str(&body).expect("json");
        (run["id"].as_str().expect("id").to_owned(), took)
    }

    fn rss(&self) -> (u64, u64) {
        let (rss, peak) = support::rss_kib(&self.child.id().to_string());
        (rss * 1024, peak * 1024)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MIB)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// p50 and p99 of `samples`.
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

fn figure_1() {
    println!("1. 300 runs of a 356 KB workflow: the list");
    let text = big_workflow(356 * 1024);
    println!("   workflow file: {} bytes", text.len());
    let dir = repo(&[("workflows/big.yaml", text)]);
    let served = Served::start(dir.path(), None);
    std::thread::sleep(Duration::from_millis(500));
    let (idle, idle_peak) = served.rss();
    for _ in 0..300 {
        served.start_run("big");
    }
    let mut size = 0;
    for _ in 0..20 {
        let (code, body, _) = served.call("GET", "/api/v1/runs?limit=300");
        assert_eq!(code, 200);
        let list: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(list["runs"].as_array().map(Vec::len), Some(300));
        size = body.len();
    }
    let (rss, peak) = served.rss();
    println!(
        "   answer {:.1} KB (target <= 1 MB); RSS idle {} (peak {}), after {}, peak {} (+{} over idle; target <= 50 MB)",
        size as f64 / 1024.0,
        mb(idle),
        mb(idle_peak),
        mb(rss),
        mb(peak),
        mb(peak.saturating_sub(idle))
    );
    served.stop();
}

fn latencies(label: &str, served: &Served, n: usize) {
    // Warm the connection and the statement caches.
    for _ in 0..20 {
        served.start_run("smoke");
    }
    let mut starts = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let (id, took) = served.start_run("smoke");
        starts.push(took);
        ids.push(id);
    }
    let mut completes = Vec::with_capacity(n);
    for id in &ids {
        let (code, body, took) =
            served.call("POST", &format!("/api/v1/runs/{id}/steps/first/complete"));
        assert_eq!(code, 200, "{body}");
        completes.push(took);
    }
    let (s50, s99) = percentiles(&mut starts);
    let (c50, c99) = percentiles(&mut completes);
    println!(
        "   {label}: start p50 {} p99 {}; complete p50 {} p99 {}  ({n} each)",
        ms(s50),
        ms(s99),
        ms(c50),
        ms(c99)
    );
}

fn figure_2() {
    println!("2. start a run / complete a step (HTTP, one connection)");
    let dir = repo(&[("workflows/smoke.yaml", small_workflow())]);
    let served = Served::start(dir.path(), None);
    latencies("SQLite (WAL, synchronous = FULL)", &served, 1000);
    served.stop();
    let Some(cluster) = pg::Cluster::start_with("figure 2 on PostgreSQL", "") else {
        return;
    };
    let url = cluster.database("bench");
    let served = Served::start(dir.path(), Some(&url));
    latencies("PostgreSQL 15, local, default settings", &served, 1000);
    served.stop();
}

/// `n` runs in progress (and `finished` finished ones), written straight
/// into a new store file in one transaction.
fn seeded_store(path: &Path, n: usize, finished: usize) {
    use qa_reload::store::{Definition, DefinitionRef, NewRun, Run, RunStore, sha256_hex};
    let body = r#"{"id":"smoke","name":"Smoke","steps":[{"id":"first","name":"First","estimated_minutes":5},{"id":"second","name":"Second","estimated_minutes":5}]}"#;
    let hash = sha256_hex(body.as_bytes());
    // The schema as serve makes it.
    drop(qa_reload::store::sqlite::SqliteStore::open(path).expect("store"));
    let store = qa_reload::store::sqlite::SqliteStore::open(path).expect("store");
    let first = NewRun {
        run: Run {
            id: uuid::Uuid::now_v7().to_string(),
            workflow_id: "smoke".into(),
            definition: DefinitionRef {
                hash: hash.clone(),
                file: "workflows/smoke.yaml".into(),
                file_hash: "0".repeat(64),
                commit: None,
                instance: "bench".into(),
                revision: 1,
            },
            steps: vec!["first".into(), "second".into()],
            started_at: SystemTime::now(),
            finished_at: None,
            completed: Vec::new(),
        },
        definition: Definition {
            hash: hash.clone(),
            body: body.into(),
        },
    };
    store.start(&first).expect("first run");
    drop(store);
    let mut conn = rusqlite::Connection::open(path).expect("open");
    let tx = conn.transaction().expect("tx");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO qa_reload_runs (id, workflow_id, definition_hash, file, file_hash, \
                 git_commit, instance, revision, steps, started_at, finished_at) \
                 VALUES (?1, 'smoke', ?2, 'workflows/smoke.yaml', ?3, NULL, 'bench', 1, \
                 '[\"first\",\"second\"]', ?4, ?5)",
            )
            .expect("prepare");
        let now = qa_reload::store::to_micros(SystemTime::now());
        for i in 1..n + finished {
            let done = (i >= n).then_some(now);
            insert
                .execute(rusqlite::params![
                    uuid::Uuid::now_v7().to_string(),
                    hash,
                    "0".repeat(64),
                    now,
                    done
                ])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

fn figure_3() {
    println!("3. 100,000 stored runs: the first page of GET /api/v1/runs");
    let dir = repo(&[("workflows/smoke.yaml", small_workflow())]);
    let file = dir.path().join("many.sqlite3");
    seeded_store(&file, 50_000, 50_000);
    let served = Served::start(dir.path(), Some(&format!("sqlite:{}", file.display())));
    let (idle, _) = served.rss();
    for (label, query) in [
        ("newest 50", "/api/v1/runs"),
        ("newest 50 in progress", "/api/v1/runs?state=in_progress"),
        ("newest 50 finished", "/api/v1/runs?state=finished"),
        (
            "500 of workflow smoke",
            "/api/v1/runs?workflow=smoke&limit=500",
        ),
    ] {
        let mut samples = Vec::new();
        for _ in 0..300 {
            let (code, body, took) = served.call("GET", query);
            assert_eq!(code, 200, "{body}");
            samples.push(took);
        }
        let (p50, p99) = percentiles(&mut samples);
        println!("   {label}: p50 {} p99 {}", ms(p50), ms(p99));
    }
    let (rss, peak) = served.rss();
    println!(
        "   RSS before the reads {}, after {}, peak {}",
        mb(idle),
        mb(rss),
        mb(peak)
    );
    served.stop();
}

fn figure_4() {
    println!("4. from starting serve to serving, with and without 10,000 runs in progress");
    let dir = repo(&[("workflows/smoke.yaml", small_workflow())]);
    let empty = dir.path().join("empty.sqlite3");
    let full = dir.path().join("full.sqlite3");
    seeded_store(&empty, 1, 0);
    seeded_store(&full, 10_000, 0);
    for (label, file) in [("1 run", &empty), ("10,000 runs", &full)] {
        let mut samples = Vec::new();
        for _ in 0..7 {
            let served = Served::start(dir.path(), Some(&format!("sqlite:{}", file.display())));
            samples.push(served.ready_in);
            let (code, body, _) = served.call("GET", "/api/v1/runs?state=in_progress&limit=1");
            assert_eq!(code, 200, "{body}");
            served.stop();
        }
        let (p50, _) = percentiles(&mut samples);
        println!(
            "   {label}: median {} (min {}, max {})",
            ms(p50),
            ms(samples[0]),
            ms(samples[samples.len() - 1])
        );
    }
}

fn main() {
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |n: &str| only.as_deref().is_none_or(|o| o == n);
    if run("1") {
        figure_1();
    }
    if run("2") {
        figure_2();
    }
    if run("3") {
        figure_3();
    }
    if run("4") {
        figure_4();
    }
}
