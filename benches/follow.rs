//! Benchmark: `serve --follow`, the release binary against a bare remote
//! served on loopback by git's own `http-backend` (smart HTTP, so every
//! request a fetch makes can be counted).
//!
//! 1. push → signed webhook → every replica serving the commit, p50 and
//!    p99 (target p99 <= 1 s): two replicas on one PostgreSQL cluster
//!    started for the run (one replica without PostgreSQL's programs); the
//!    webhook goes to one replica only, as a load balancer would send it;
//! 2. a poll of an unchanged remote: the HTTP requests it makes (target:
//!    one ref listing) and the follower's CPU per poll (target <= 20 ms);
//! 3. a commit changing 1,000 workflows: one revision, webhook → served
//!    (target <= 500 ms);
//! 4. the resident memory of a follower serving 10,000 workflows (target
//!    <= 150 MB).
//!
//! Run: `cargo bench --bench follow` (release build). Pass a figure's
//! number (`cargo bench --bench follow -- 2`) to run only that one.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[allow(dead_code, clippy::unwrap_used)]
#[path = "../tests/it/git_http.rs"]
mod git_http;
#[allow(dead_code, clippy::unwrap_used)]
#[path = "../tests/it/pg.rs"]
mod pg;
#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use support::{git, hmac_sha256_hex, serve_command, small_workflow, spawn_serving_blocking};

const SECRET: &str = "bench-webhook-secret";
const MIB: f64 = 1024.0 * 1024.0;

/// A bare remote with `n` workflows on `main`, a clone to push from, and
/// a loopback HTTP server in front of it.
struct Remote {
    dir: tempfile::TempDir,
    http: git_http::GitHttp,
    n: usize,
}

impl Remote {
    fn new(rt: &tokio::runtime::Runtime, n: usize) -> Remote {
        let dir = tempfile::tempdir().expect("temp dir");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("workflows")).expect("mkdir");
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["remote", "add", "origin", "../remote.git"]);
        let http = rt.block_on(git_http::GitHttp::start(dir.path().to_path_buf()));
        let remote = Remote { dir, http, n };
        remote.commit_all(10, "start");
        remote
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn url(&self) -> String {
        format!("http://{}/remote.git", self.http.addr)
    }

    /// Rewrites every workflow with `minutes`, commits and pushes; the id.
    fn commit_all(&self, minutes: u32, subject: &str) -> String {
        for i in 0..self.n {
            std::fs::write(
                self.work().join(format!("workflows/w{i}.yaml")),
                small_workflow(&format!("W{i}"), minutes),
            )
            .expect("write");
        }
        self.commit(subject)
    }

    /// Rewrites workflow `i` with `minutes`, commits and pushes; the id.
    fn commit_one(&self, i: usize, minutes: u32, subject: &str) -> String {
        std::fs::write(
            self.work().join(format!("workflows/w{i}.yaml")),
            small_workflow(&format!("W{i}"), minutes),
        )
        .expect("write");
        self.commit(subject)
    }

    fn commit(&self, subject: &str) -> String {
        git(&self.work(), &["add", "-A"]);
        git(&self.work(), &["commit", "-q", "-m", subject]);
        git(&self.work(), &["push", "-q", "origin", "HEAD:main"]);
        git(&self.work(), &["rev-parse", "HEAD"])
    }
}

/// One `serve --follow` process.
struct Follower {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Follower {
    fn start(remote: &str, database: Option<&str>) -> Follower {
        Follower::start_in(tempfile::tempdir().expect("temp dir"), remote, database)
    }

    /// [`Follower::start`] with the data folder `data` (a mirror already in
    /// it is served at start, before the remote answers).
    fn start_in(data: tempfile::TempDir, remote: &str, database: Option<&str>) -> Follower {
        let mut command = serve_command(&["--poll-interval", "3600", "--follow", remote]);
        command
            .args(["--data-dir", data.path().to_str().expect("a UTF-8 path")])
            .env("QA_RELOAD_WEBHOOK_SECRET", SECRET)
            .stderr(Stdio::inherit());
        if let Some(database) = database {
            command.args(["--database", database]);
        }
        let (child, url) = spawn_serving_blocking(command);
        Follower {
            child,
            url,
            _data: data,
        }
    }

    fn status(&self, client: &Client) -> serde_json::Value {
        client.get(&format!("{}/api/v1/dev/hot-reload/status", self.url))
    }

    /// Polls the status every 2 ms until the commit served is `id`.
    fn wait_serving(&self, client: &Client, id: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let status = self.status(client);
            if status["follow"]["commit"]["id"] == id {
                return status;
            }
            assert!(Instant::now() < deadline, "{id} never served: {status}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends a GitHub-signed push delivery; its status code.
    fn webhook(&self, client: &Client, delivery: &str) -> u16 {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let signature = format!("sha256={}", hmac_sha256_hex(SECRET.as_bytes(), body));
        client.post(
            &format!("{}/api/v1/hooks/git", self.url),
            &[
                ("X-Hub-Signature-256", signature.as_str()),
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", delivery),
            ],
            body,
        )
    }

    /// User plus system CPU time of the process so far.
    fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces), 1-based
        // from the state: utime is the 12th, stime the 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let hz = clock_ticks_per_second();
        Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / hz)
    }

    fn rss(&self) -> (u64, u64) {
        let (rss, peak) = support::rss_kib(&self.child.id().to_string());
        (rss * 1024, peak * 1024)
    }

    fn stop(self) {
        drop(self.end());
    }

    /// Stops the process; its data folder, to start another in.
    fn end(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self._data
    }
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A blocking HTTP client on its own runtime.
struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Client {
    fn new() -> Client {
        Client {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime"),
            http: reqwest::Client::new(),
        }
    }

    fn get(&self, url: &str) -> serde_json::Value {
        self.rt.block_on(async {
            let response = self.http.get(url).send().await.expect("request");
            let body = response.text().await.expect("body");
            serde_json::from_str(&body).expect("json")
        })
    }

    fn post(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
        self.rt.block_on(async {
            let mut request = self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.to_vec());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request.send().await.expect("request").status().as_u16()
        })
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MIB)
}

/// p50, p99 and max of `samples`.
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99), at(1.0))
}

fn figure_1(client: &Client) {
    println!("1. push -> signed webhook -> every replica serving the commit");
    let remote = Remote::new(&client.rt, 100);
    let cluster = pg::Cluster::start_with("bench follow", "");
    let database = cluster.as_ref().map(|c| c.database("follow"));
    let replicas: Vec<Follower> = match &database {
        Some(url) => (0..2)
            .map(|_| Follower::start(&remote.url(), Some(url)))
            .collect(),
        None => {
            println!("   (PostgreSQL not installed: one replica, its own SQLite)");
            vec![Follower::start(&remote.url(), None)]
        }
    };
    let first = git(&remote.work(), &["rev-parse", "HEAD"]);
    for replica in &replicas {
        replica.wait_serving(client, &first);
    }
    println!(
        "   {} replica(s), 100 workflows; each push changes one; the webhook goes to the first replica only",
        replicas.len()
    );
    let rounds = 60;
    let mut push_to_all = Vec::with_capacity(rounds);
    let mut hook_to_all = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let began = Instant::now();
        let id = remote.commit_one(round % 100, 20 + round as u32, &format!("round {round}"));
        let hooked = Instant::now();
        let code = replicas[0].webhook(client, &format!("bench-1-{round}"));
        assert_eq!(code, 202);
        for replica in &replicas {
            replica.wait_serving(client, &id);
        }
        push_to_all.push(began.elapsed());
        hook_to_all.push(hooked.elapsed());
    }
    let (p50, p99, max) = percentiles(&mut push_to_all);
    println!(
        "   push -> all serving:    p50 {}  p99 {}  max {}  (target p99 <= 1 s)",
        ms(p50),
        ms(p99),
        ms(max)
    );
    let (p50, p99, max) = percentiles(&mut hook_to_all);
    println!(
        "   webhook -> all serving: p50 {}  p99 {}  max {}",
        ms(p50),
        ms(p99),
        ms(max)
    );
    for replica in replicas {
        replica.stop();
    }
}

fn figure_2(client: &Client) {
    println!("2. a poll of an unchanged remote");
    let remote = Remote::new(&client.rt, 100);
    let follower = Follower::start(&remote.url(), None);
    let first = git(&remote.work(), &["rev-parse", "HEAD"]);
    follower.wait_serving(client, &first);
    std::thread::sleep(Duration::from_millis(500));
    let polls = 100;
    let before = follower.status(client);
    let fetches_before = before["follow"]["fetches"].as_u64().unwrap_or(0);
    let requests_before = remote.http.requests.lock().len();
    let cpu_before = follower.cpu();
    for round in 0..polls {
        assert_eq!(follower.webhook(client, &format!("bench-2-{round}")), 202);
        // Well past one fetch of an unchanged remote: no status call
        // inside the measured window but the webhook itself.
        std::thread::sleep(Duration::from_millis(150));
    }
    let cpu = follower.cpu().saturating_sub(cpu_before);
    let requests: Vec<String> = remote.http.requests.lock()[requests_before..].to_vec();
    let status = follower.status(client);
    let fetches = status["follow"]["fetches"].as_u64().unwrap_or(0) - fetches_before;
    assert_eq!(
        fetches, polls as u64,
        "every webhook fetched once: {status}"
    );
    assert_eq!(
        status["revision"], before["revision"],
        "an unchanged remote made a revision"
    );
    let mut kinds: Vec<String> = requests.clone();
    kinds.sort();
    kinds.dedup();
    println!(
        "   {polls} fetches of an unchanged remote: {} HTTP requests ({:.1} per poll: {})",
        requests.len(),
        requests.len() as f64 / polls as f64,
        kinds.join(", ")
    );
    println!(
        "   follower CPU per poll, webhook included: {} (target <= 20 ms)",
        ms(cpu / polls)
    );
    follower.stop();
}

fn figure_3(client: &Client) {
    println!("3. a commit changing 1,000 workflows");
    let remote = Remote::new(&client.rt, 1000);
    let follower = Follower::start(&remote.url(), None);
    let first = git(&remote.work(), &["rev-parse", "HEAD"]);
    follower.wait_serving(client, &first);
    let mut served = Vec::new();
    let mut applied = Vec::new();
    for round in 0..5u32 {
        let before = follower.status(client)["revision"].as_u64().unwrap_or(0);
        let id = remote.commit_all(30 + round, &format!("all {round}"));
        let hooked = Instant::now();
        assert_eq!(follower.webhook(client, &format!("bench-3-{round}")), 202);
        let status = follower.wait_serving(client, &id);
        served.push(hooked.elapsed());
        let revision = status["revision"].as_u64().unwrap_or(0);
        assert_eq!(revision, before + 1, "not one revision: {status}");
        let apply = status["last_reload"]["timings"]["apply_ms"]
            .as_f64()
            .unwrap_or(f64::NAN);
        applied.push(apply);
        println!(
            "   round {round}: webhook -> served {} (fetch + read + apply), engine apply {apply:.1} ms, revision {before} -> {revision}",
            ms(hooked.elapsed())
        );
    }
    let (p50, _, max) = percentiles(&mut served);
    println!(
        "   webhook -> served: median {}  max {}  (target <= 500 ms, one revision each)",
        ms(p50),
        ms(max)
    );
    follower.stop();
}

fn figure_4(client: &Client) {
    println!("4. a follower serving 10,000 workflows");
    let remote = Remote::new(&client.rt, 10_000);
    let began = Instant::now();
    let follower = Follower::start(&remote.url(), None);
    let first = git(&remote.work(), &["rev-parse", "HEAD"]);
    let status = follower.wait_serving(client, &first);
    let ready = began.elapsed();
    assert_eq!(status["errors_total"], 0, "{status}");
    let (rss, peak) = follower.rss();
    println!(
        "   empty data folder: first commit (10,000 new workflows, one revision) served in {}; RSS {} (peak {})",
        ms(ready),
        mb(rss),
        mb(peak)
    );
    std::thread::sleep(Duration::from_secs(3));
    let (rss, _) = follower.rss();
    println!("   3 s later, idle: RSS {} (target <= 150 MB)", mb(rss));
    let id = remote.commit_one(7, 99, "one change");
    assert_eq!(follower.webhook(client, "bench-4"), 202);
    follower.wait_serving(client, &id);
    std::thread::sleep(Duration::from_millis(500));
    let (rss, peak) = follower.rss();
    println!(
        "   after a commit changing one: RSS {} (peak {})",
        mb(rss),
        mb(peak)
    );
    // A restart serves the mirror's commit at start, as a working tree's
    // startup does (no patches made).
    let data = follower.end();
    let began = Instant::now();
    let restarted = Follower::start_in(data, &remote.url(), None);
    restarted.wait_serving(client, &id);
    let ready = began.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let (rss, peak) = restarted.rss();
    println!(
        "   restart on the same data folder: serving in {}; RSS {} (peak {}) (target <= 150 MB)",
        ms(ready),
        mb(rss),
        mb(peak)
    );
    restarted.stop();
}

type Figure = fn(&Client);

fn main() {
    let only: Option<u32> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let client = Client::new();
    let figures: [(u32, Figure); 4] = [(1, figure_1), (2, figure_2), (3, figure_3), (4, figure_4)];
    for (n, figure) in figures {
        if only.is_none_or(|o| o == n) {
            figure(&client);
        }
    }
}
