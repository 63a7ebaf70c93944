//! Benchmark: `qa-reload lsp` (the release binary, over stdio, as an editor
//! runs it) on a git repository of 10,000 workflows and a 1,000-step one.
//!
//! 1. `initialize` sent → the first `publishDiagnostics` received (target
//!    at most 2 s), and → the last one of the startup pass;
//! 2. a keystroke: a full-text `didChange` of an open workflow → its
//!    `publishDiagnostics` (each change flips one error on or off, so each
//!    one publishes), p50 / p99 over 500 (target p99 at most 20 ms); the
//!    same for a workflow whose id 100 other files also declare (its
//!    change re-resolves them);
//! 3. the 1,000-step workflow edited (one value changed), p50 / p99 over 100
//!    (target at most 20 ms);
//! 4. the server's resident set after all that, and its peak (target at
//!    most 150 MB).
//!
//! Run: `cargo bench --bench lsp`.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;
use support::{rss_kib, small_workflow, small_workflows_repo};

const GUARD: Duration = Duration::from_secs(60);
const MIB: f64 = 1024.0;

fn send(stdin: &mut ChildStdin, message: &Value) {
    let body = message.to_string();
    write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
    stdin.flush().expect("flush");
}

fn read(out: &mut impl BufRead) -> Option<Value> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            length = n.parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    out.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Waits for the next `publishDiagnostics` for `uri`; returns when it came.
fn published(rx: &mpsc::Receiver<(Instant, Value)>, uri: &str) -> Instant {
    loop {
        let (at, msg) = rx.recv_timeout(GUARD).expect("a publish within the guard");
        if msg["method"] == "textDocument/publishDiagnostics" && msg["params"]["uri"] == uri {
            return at;
        }
    }
}

fn big_workflow(steps: usize, minutes: u32) -> String {
    let mut text = String::from("name: Big\nsteps:\n");
    for i in 0..steps {
        let m = if i == steps / 2 { minutes } else { 5 };
        text.push_str(&format!(
            "  - id: step-{i}\n    name: Step number {i}\n    estimated_minutes: {m}\n    checklist: [one, two]\n"
        ));
    }
    text
}

fn main() {
    let dir = small_workflows_repo(10_000);
    let root = std::fs::canonicalize(dir.path()).expect("root");
    // One broken file, so the startup pass has something to publish, and
    // 100 files sharing one id.
    std::fs::write(root.join("workflows/broken.yaml"), "name: [\n").expect("write");
    for i in 0..100 {
        std::fs::write(
            root.join(format!("workflows/shared-{i:03}.yaml")),
            format!("id: shared\n{}", small_workflow("S", 10)),
        )
        .expect("write");
    }
    std::fs::write(root.join("workflows/big.yaml"), big_workflow(1000, 5)).expect("write");
    let uri = |rel: &str| {
        url::Url::from_file_path(root.join(rel))
            .expect("uri")
            .to_string()
    };

    let mut child = Command::new(env!("CARGO_BIN_EXE_qa-reload"))
        .args(["lsp", "--repo"])
        .arg(&root)
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qa-reload lsp");
    let pid = child.id().to_string();
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Some(msg) = read(&mut stdout) {
            if tx.send((Instant::now(), msg)).is_err() {
                return;
            }
        }
    });

    println!(
        "qa-reload lsp, 10,101 workflows + one of 1,000 steps (the binary cargo built, over stdio)"
    );
    let started = Instant::now();
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}, "rootUri": uri("")}}),
    );
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
    );
    let mut first = None;
    let mut last = started;
    let mut startup_publishes = 0;
    // The startup pass publishes 101 files (the broken one and the 100
    // duplicates but the first); count them in.
    while startup_publishes < 100 {
        let (at, msg) = rx.recv_timeout(GUARD).expect("startup publishes");
        if msg["method"] == "textDocument/publishDiagnostics" {
            first.get_or_insert(at);
            last = at;
            startup_publishes += 1;
        }
    }
    let first = first.expect("a publish");
    println!(
        "1. initialize -> first publishDiagnostics {:8.1} ms   (target <= 2000 ms); -> 100th {:8.1} ms",
        ms(first - started),
        ms(last - started)
    );
    // Let the rest of the startup pass drain.
    while rx.recv_timeout(Duration::from_millis(500)).is_ok() {}

    let keystrokes = |stdin: &mut ChildStdin, rel: &str, good: &str, bad: &str, n: usize| {
        let u = uri(rel);
        send(
            stdin,
            &json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": u, "languageId": "yaml", "version": 1, "text": good}}}),
        );
        while rx.recv_timeout(Duration::from_millis(300)).is_ok() {}
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let text = if i % 2 == 0 { bad } else { good };
            let sent = Instant::now();
            send(
                stdin,
                &json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"textDocument": {"uri": u, "version": i + 2}, "contentChanges": [{"text": text}]}}),
            );
            let at = published(&rx, &u);
            times.push(ms(at - sent));
            // Other files re-published by the same change.
            while rx.try_recv().is_ok() {}
        }
        times.sort_by(f64::total_cmp);
        times
    };

    let good = small_workflow("W5", 10);
    let bad = small_workflow("W5", 5000);
    let t = keystrokes(&mut stdin, "workflows/w5.yaml", &good, &bad, 500);
    println!(
        "2. keystroke -> publishDiagnostics     p50 {:7.3} ms  p99 {:7.3} ms  max {:7.3} ms  (500 full-text changes; target p99 <= 20 ms)",
        percentile(&t, 0.5),
        percentile(&t, 0.99),
        t[t.len() - 1]
    );
    let good = format!("id: shared\n{}", small_workflow("S", 10));
    let bad = format!("id: shared\n{}", small_workflow("S", 5000));
    let t = keystrokes(&mut stdin, "workflows/shared-050.yaml", &good, &bad, 200);
    println!(
        "   ... an id 100 files share            p50 {:7.3} ms  p99 {:7.3} ms  max {:7.3} ms  (200 changes)",
        percentile(&t, 0.5),
        percentile(&t, 0.99),
        t[t.len() - 1]
    );
    let good = big_workflow(1000, 5);
    let bad = big_workflow(1000, 5000);
    let t = keystrokes(&mut stdin, "workflows/big.yaml", &good, &bad, 100);
    println!(
        "3. 1,000-step workflow edit -> publish p50 {:7.3} ms  p99 {:7.3} ms  max {:7.3} ms  ({} bytes, 100 changes; target <= 20 ms)",
        percentile(&t, 0.5),
        percentile(&t, 0.99),
        t[t.len() - 1],
        good.len()
    );
    let (rss, peak) = rss_kib(&pid);
    println!(
        "4. memory: RSS {:.1} MB, peak (VmHWM) {:.1} MB   (target <= 150 MB)",
        rss as f64 / MIB,
        peak as f64 / MIB
    );
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}),
    );
    send(&mut stdin, &json!({"jsonrpc": "2.0", "method": "exit"}));
    let status = child.wait().expect("wait");
    println!("   exit after shutdown: {status}");
}
