//! Benchmark: parse + validate + diff of one changed workflow, the work a
//! reload does per changed file before publishing.
//!
//! Prints median and p99 for a typical ~1 KB workflow and for a 1,000-step
//! workflow with one field changed (targets: ≤ 1 ms and ≤ 2 ms), and, when Python's
//! `deepdiff` is installed, deepdiff's time for the same 1,000-step pair as a
//! peer. Then the `adversarial` group: hostile but accepted files (95,000
//! keys, a 49,000-key merge, 30,000 errors, ...) timed through `load_file`
//! and through the engine, each against 250 ms.
//! Run: `cargo bench --bench core` (`-- adversarial` for that group only).

use std::hint::black_box;
use std::time::{Duration, Instant};

use qa_reload::diagnostic::EntityKind;
use qa_reload::diff::files::entity_json;
use qa_reload::diff::patch::{Version, entity_patch};
use qa_reload::load::config::{FileRole, load_file};

/// The binary's allocator (`src/main.rs`), so the figures are the ones the
/// shipped server gives, not the system allocator's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn workflow(steps: usize, changed: Option<usize>) -> String {
    let mut s = String::from(
        "# Regression suite for the checkout flow\nid: bench\nname: Checkout regression\ndescription: Full regression of the checkout flow before a release\nticket_types: [story, bug]\nsteps:\n",
    );
    for i in 0..steps {
        let minutes = if Some(i) == changed { 45 } else { 15 };
        s.push_str(&format!(
            "  - id: step-{i}\n    name: Check part {i} of the checkout\n    estimated_minutes: {minutes}\n    checklist:\n      - Happy path passes\n      - Error messages are clear\n"
        ));
    }
    s
}

fn measure(label: &str, old: &str, new: &str, iterations: usize) -> Duration {
    let env = |_: &str| None;
    let path = "workflows/bench.yaml";
    let old_load = load_file(FileRole::Workflow, path, old.as_bytes(), &env);
    let old_json = entity_json(&old_load);
    let old_version = Version {
        text: old,
        tree: old_load.tree.as_ref(),
        json: old_json.as_ref(),
    };
    let mut times = Vec::with_capacity(iterations);
    let mut changes = 0;
    for _ in 0..iterations {
        let start = Instant::now();
        let new_load = load_file(FileRole::Workflow, path, new.as_bytes(), &env);
        let new_json = entity_json(&new_load);
        let patch = entity_patch(
            EntityKind::Workflow,
            "bench",
            path,
            Some(old_version),
            Some(Version {
                text: new,
                tree: new_load.tree.as_ref(),
                json: new_json.as_ref(),
            }),
        );
        changes = patch.as_ref().map_or(0, |p| p.changes.len());
        black_box(patch);
        times.push(start.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    println!(
        "{label:<44} {:>7} bytes  median {:>8.3} ms  p99 {:>8.3} ms  ({changes} change)",
        new.len(),
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
    );
    median
}

/// Where the time goes for one pair: each stage alone, median of `n` runs.
fn breakdown(old: &str, new: &str, n: usize) {
    use qa_reload::diff::{json_patch, semantic, text};
    use qa_reload::load::yaml::{Limits, parse};
    let env = |_: &str| None;
    let path = "workflows/bench.yaml";
    let median = |f: &mut dyn FnMut()| median_of(n, f).as_secs_f64() * 1e3;
    let (la, lb) = (
        load_file(FileRole::Workflow, path, old.as_bytes(), &env),
        load_file(FileRole::Workflow, path, new.as_bytes(), &env),
    );
    let (ja, jb) = (
        entity_json(&la).unwrap_or_default(),
        entity_json(&lb).unwrap_or_default(),
    );
    let rows: [(&str, f64); 6] = [
        (
            "YAML events (saphyr-parser alone)",
            median(&mut || {
                black_box(saphyr_parser::Parser::new_from_str(new).count());
            }),
        ),
        (
            "positioned tree (yaml::parse)",
            median(&mut || {
                black_box(parse(new.as_bytes(), path, &Limits::default()));
            }),
        ),
        (
            "tree + schema (load_file)",
            median(&mut || {
                black_box(load_file(FileRole::Workflow, path, new.as_bytes(), &env));
            }),
        ),
        (
            "semantic diff",
            median(&mut || {
                black_box(semantic::diff(la.tree.as_ref(), lb.tree.as_ref()));
            }),
        ),
        (
            "JSON Patch",
            median(&mut || {
                black_box(json_patch::diff(&ja, &jb));
            }),
        ),
        (
            "text diff",
            median(&mut || {
                black_box(text::diff(
                    old,
                    new,
                    path,
                    path,
                    &|l| l.to_string(),
                    Duration::from_millis(50),
                ));
            }),
        ),
    ];
    for (label, ms) in rows {
        println!("    {label:<40} median {ms:>8.3} ms");
    }
}

fn deepdiff_peer(old: &str, new: &str) -> Option<Duration> {
    let env = |_: &str| None;
    let to_json = |text: &str| {
        entity_json(&load_file(
            FileRole::Workflow,
            "workflows/bench.yaml",
            text.as_bytes(),
            &env,
        ))
    };
    let dir = std::env::temp_dir().join(format!("qa-reload-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("a.json"), to_json(old)?.to_string()).ok()?;
    std::fs::write(dir.join("b.json"), to_json(new)?.to_string()).ok()?;
    let script = concat!(
        "import json,sys,time\n",
        "from deepdiff import DeepDiff\n",
        "a=json.load(open(sys.argv[1]));b=json.load(open(sys.argv[2]))\n",
        "t=[]\n",
        "for _ in range(50):\n",
        "  s=time.perf_counter();DeepDiff(a,b);t.append(time.perf_counter()-s)\n",
        "t.sort();print(t[len(t)//2])\n",
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.join("a.json"))
        .arg(dir.join("b.json"))
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        return None;
    }
    let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(Duration::from_secs_f64(secs))
}

#[path = "shapes.rs"]
mod shapes;

/// A budget for any accepted file: the time a reload may spend on one.
const ADVERSARIAL_BUDGET: Duration = Duration::from_millis(250);

/// The median time of `n` runs of `f`.
fn median_of(n: usize, f: &mut dyn FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[n / 2]
}

/// Each hostile shape: `load_file` alone, then the engine's whole path for
/// it (read, hash, parse, validate, excerpts, patch) at startup and when one
/// line is added to it.
fn adversarial() {
    use std::sync::Arc;

    use qa_reload::engine::{Applier, CauseKind, Input};

    println!(
        "adversarial: each accepted shape against {} ms",
        ADVERSARIAL_BUDGET.as_millis()
    );
    let env = |_: &str| None;
    let path = "workflows/hostile.yaml";
    for (name, text) in shapes::adversarial() {
        let mut errors = 0;
        let load = median_of(5, &mut || {
            let l = load_file(FileRole::Workflow, path, text.as_bytes(), &env);
            errors = l.errors.len();
            black_box(l);
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("workflows")).expect("mkdir");
        std::fs::write(root.join(path), &text).expect("write");
        let mut applier = Applier::new(root.clone(), None, Arc::new(|_| None)).expect("applier");
        let start = Instant::now();
        applier
            .apply(Input::full(CauseKind::Startup))
            .expect("startup revision");
        let startup = start.elapsed();
        std::fs::write(root.join(path), format!("{text}# one more line\n")).expect("write");
        let start = Instant::now();
        let outcome = applier.apply(Input::paths([path]));
        let edit = start.elapsed();
        let _ = black_box(outcome);
        let worst = load.max(startup).max(edit);
        println!(
            "  {name:<42} {:>8} bytes {errors:>6} errors  load_file {:>8.1} ms  startup {:>8.1} ms  edit {:>8.1} ms  {}",
            text.len(),
            load.as_secs_f64() * 1e3,
            startup.as_secs_f64() * 1e3,
            edit.as_secs_f64() * 1e3,
            if worst <= ADVERSARIAL_BUDGET {
                "met"
            } else {
                "NOT MET"
            },
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "adversarial") {
        return adversarial();
    }
    adversarial();
    println!();
    println!("parse + validate + semantic diff + JSON Patch + text diff, one changed file");
    let small_old = workflow(6, None);
    let small_new = workflow(6, Some(2));
    measure(
        "typical workflow (6 steps, ~1 KB)",
        &small_old,
        &small_new,
        2_000,
    );
    let big_old = workflow(1_000, None);
    let big_new = workflow(1_000, Some(500));
    let ours = measure(
        "1,000-step workflow, one field changed",
        &big_old,
        &big_new,
        200,
    );
    println!("  breakdown of the 1,000-step case:");
    breakdown(&big_old, &big_new, 50);
    match deepdiff_peer(&big_old, &big_new) {
        Some(peer) => println!(
            "peer: deepdiff (Python) on the same 1,000-step JSON pair, diff only: median {:.3} ms; ours (full pipeline) / deepdiff = {:.2}",
            peer.as_secs_f64() * 1e3,
            ours.as_secs_f64() / peer.as_secs_f64()
        ),
        None => println!("peer: deepdiff not installed (pip install deepdiff) — no peer figure"),
    }
}
