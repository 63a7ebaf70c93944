//! Model-based randomized runs: seeded sequences of file and git operations
//! against a real temp repository, with the real watcher and engine.
//!
//! After each step settles:
//! - the state served is what `load::resolve` gives on the whole disk
//!   against it (the served state is a fixed point of the rule: the holder
//!   of each id keeps it, a last good version stays only while its file is
//!   broken), and every entity read from a file is that file's version;
//! - a client that applied every event's JSON Patch since it attached holds
//!   exactly the served workflows and integrations (and every event builds
//!   on the revision before it);
//! - no revision was made without a change (a patch, other errors, or a
//!   HEAD move);
//! - `check --format json` reports the errors the snapshot holds (all of
//!   them when history changes nothing, else all but duplicate-id errors,
//!   where the holder `serve` remembers may differ from `check`'s first by
//!   path).
//!
//! `QA_RELOAD_SEED=n` replays one seed; the ignored `model_runs_long` runs
//! `QA_RELOAD_SEEDS` seeds (default 10,000). A failure names its seed and
//! the operations that led to it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::json_patch as oracle;
use qa_reload::app::{self, App, Options};
use qa_reload::cli::{self, Format};
use qa_reload::diagnostic::{ConfigError, EntityKind};
use qa_reload::diff::json_patch;
use qa_reload::diff::patch::PatchKind;
use qa_reload::engine::{Backlog, Event, Snapshot};
use qa_reload::load::resolve::Pick;
use qa_reload::load::{config, fs as load_fs};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::util::{Rng, TestRepo};

/// Seeds in the default run.
const SEEDS: u64 = 200;
/// Seeds run at once (each mostly waits on its watcher).
const PARALLEL: u64 = 6;
/// Steps per seed: short runs, many seeds.
const STEPS: usize = 6;
/// Settled: no event for this long after the last one and the checks hold.
const QUIET: Duration = Duration::from_millis(250);
/// Failure guard for one step to settle (not a performance bound).
const GUARD: Duration = Duration::from_secs(20);

const SETTINGS: &str = "debounce_ms: 20\nmax_wait_ms: 100\n";
const JIRA: &str = "enabled: false\nbase_url: https://jira.example.com\nemail: qa@example.com\napi_token: t0ken-one\n";
const POSTMAN: &str = "enabled: false\nbase_url: https://api.example.com\napi_key: k3y-one\n";

const IDS: &[&str] = &["login", "pay", "search", "smoke"];
const NAMES: &[&str] = &["a", "b", "c", "login", "zz"];
const DIRS: &[&str] = &["", "team/", "x/y/"];

fn workflow(id: Option<&str>, rng: &mut Rng) -> String {
    let mut s = String::new();
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    s.push_str(&format!("name: Flow {}\n", rng.below(3)));
    if rng.below(3) == 0 {
        s.push_str("description: null\n");
    }
    s.push_str("steps:\n");
    let steps = 1 + rng.below(3);
    let order = rng.below(2);
    for k in 0..steps {
        let k = if order == 0 { k } else { steps - 1 - k };
        s.push_str(&format!(
            "  - id: s{k}\n    name: Step {k}\n    estimated_minutes: {}\n",
            1 + rng.below(4)
        ));
        match rng.below(6) {
            0 => s.push_str("    integration: jira\n"),
            1 => s.push_str("    integration: postman\n"),
            2 => s.push_str("    checklist: [one, two]\n"),
            3 => s.push_str("    checklist: [two, one]\n"),
            _ => {}
        }
    }
    s
}

fn invalid(rng: &mut Rng) -> String {
    (*rng.pick(&[
        "id: login\nname: Two docs\nsteps: []\n---\nname: second\n",
        "name: \"bad \\q escape\"\nsteps: []\n",
        "name: [unclosed\n",
        "name: N\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: lots\n",
        "id: Not Valid!\nname: N\nsteps: []\n",
    ]))
    .to_string()
}

/// The workflow files on disk now.
fn workflow_files(root: &Path) -> Vec<String> {
    load_fs::list_tree(root)
        .into_iter()
        .filter(|p| p.starts_with("workflows/"))
        .collect()
}

/// One random operation; returns what it did, for the failure report.
fn step(repo: &TestRepo, rng: &mut Rng, n: usize) -> Vec<String> {
    let root = &repo.root;
    let files = workflow_files(root);
    let git = |args: &[&str]| -> bool {
        std::process::Command::new("git")
            .args(["-c", "user.name=QA", "-c", "user.email=qa@example.com"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let new_path = |rng: &mut Rng| {
        format!(
            "workflows/{}{}{}.yaml",
            rng.pick(DIRS),
            rng.pick(NAMES),
            rng.below(3)
        )
    };
    let existing = |rng: &mut Rng| (!files.is_empty()).then(|| rng.pick(&files).clone());
    match rng.below(15) {
        0 | 1 => {
            let path = existing(rng)
                .filter(|_| rng.below(2) == 0)
                .unwrap_or_else(|| new_path(rng));
            let id = (rng.below(3) != 0).then(|| *rng.pick(IDS));
            repo.write(&path, &workflow(id, rng));
            vec![format!("write {path}")]
        }
        2 => {
            let path = existing(rng).unwrap_or_else(|| new_path(rng));
            repo.write(&path, &invalid(rng));
            vec![format!("write invalid {path}")]
        }
        3 => {
            let path = format!("workflows/new{n}/{}.yaml", rng.pick(NAMES));
            let id = *rng.pick(IDS);
            repo.write(&path, &workflow(Some(id), rng));
            vec![format!("create in a new folder {path}")]
        }
        4 => match existing(rng) {
            Some(path) => {
                std::fs::remove_file(root.join(&path)).expect("delete");
                vec![format!("delete {path}")]
            }
            None => vec!["delete: nothing".into()],
        },
        5 => match existing(rng) {
            Some(path) => {
                let to = new_path(rng);
                std::fs::create_dir_all(root.join(&to).parent().expect("parent")).expect("mkdir");
                std::fs::rename(root.join(&path), root.join(&to)).expect("rename");
                vec![format!("rename {path} -> {to}")]
            }
            None => vec!["rename: nothing".into()],
        },
        6 => {
            let dirs: Vec<String> = files
                .iter()
                .filter_map(|f| {
                    let rest = f.strip_prefix("workflows/")?;
                    let (dir, _) = rest.split_once('/')?;
                    Some(dir.to_string())
                })
                .collect();
            if dirs.is_empty() {
                return vec!["rename folder: none".into()];
            }
            let dir = rng.pick(&dirs).clone();
            let to = format!("moved{n}");
            std::fs::rename(
                root.join("workflows").join(&dir),
                root.join("workflows").join(&to),
            )
            .expect("rename folder");
            vec![format!("rename folder workflows/{dir} -> workflows/{to}")]
        }
        7 => {
            let id = rng.pick(IDS);
            let path = new_path(rng);
            repo.write(&path, &workflow(Some(id), rng));
            vec![format!("duplicate id {id} in {path}")]
        }
        8 => {
            let (path, text) = *rng.pick(&[
                ("config/jira_config.yaml", JIRA),
                ("config/postman_config.yaml", POSTMAN),
            ]);
            if root.join(path).exists() {
                std::fs::remove_file(root.join(path)).expect("remove config");
                vec![format!("remove {path}")]
            } else {
                repo.write(path, text);
                vec![format!("add {path}")]
            }
        }
        9 => {
            let text = match rng.below(3) {
                0 => format!(
                    "debounce_ms: {}\nmax_wait_ms: 100\n",
                    10 + rng.below(3) * 10
                ),
                1 => format!("{SETTINGS}history: {}\n", 50 + rng.below(50)),
                _ => "debounce_ms: [\n".to_string(),
            };
            repo.write("config/hot_reload.yaml", &text);
            vec!["edit config/hot_reload.yaml".into()]
        }
        10 => {
            git(&["add", "-A"]);
            let ok = git(&["commit", "-q", "--allow-empty", "-m", &format!("step {n}")]);
            vec![format!("git commit ({ok})")]
        }
        11 => {
            git(&["add", "-A"]);
            git(&["commit", "-q", "--allow-empty", "-m", &format!("wip {n}")]);
            let branch = if repo.git(&["branch", "--show-current"]) == "main" {
                "side"
            } else {
                "main"
            };
            let ok = git(&["checkout", "-q", branch]);
            vec![format!("git checkout {branch} ({ok})")]
        }
        12 => {
            let ok = git(&["stash", "push", "-u", "-q"]);
            vec![format!("git stash ({ok})"), "then pop".into()]
        }
        13 => {
            let ok = git(&["reset", "-q", "--hard"]);
            vec![format!("git reset --hard ({ok})")]
        }
        _ => {
            git(&["add", "-A"]);
            git(&[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("before rebase {n}"),
            ]);
            let onto = if repo.git(&["branch", "--show-current"]) == "main" {
                "side"
            } else {
                "main"
            };
            let ok = git(&["rebase", "-q", onto]);
            if !ok {
                git(&["rebase", "--abort"]);
            }
            vec![format!("git rebase {onto} ({ok})")]
        }
    }
}

/// A client that applies every event's JSON Patches, keyed by (kind, id).
#[derive(Default)]
struct Client {
    revision: u64,
    entities: BTreeMap<(EntityKind, String), (String, Value)>,
    errors: Vec<ConfigError>,
}

impl Client {
    fn from_snapshot(s: &Snapshot) -> Client {
        Client {
            revision: s.revision,
            entities: served(s),
            errors: s.errors.iter().cloned().collect(),
        }
    }

    fn apply(&mut self, e: &Event) -> Result<(), String> {
        if e.base_revision != self.revision {
            return Err(format!(
                "revision {} builds on {}, the client holds {}",
                e.revision, e.base_revision, self.revision
            ));
        }
        let head_moved = e.cause.previous_head.is_some();
        if e.patches.is_empty() && e.errors.iter().eq(self.errors.iter()) && !head_moved {
            return Err(format!("revision {} changed nothing", e.revision));
        }
        for p in &e.patches {
            if p.kind == EntityKind::Settings {
                continue;
            }
            let key = (p.kind, p.id.clone());
            let held = self.entities.remove(&key);
            let ops: oracle::Patch =
                serde_json::from_value(json_patch::to_json_array(&p.json_patch))
                    .map_err(|e| format!("not RFC 6902: {e}"))?;
            match (p.op, held) {
                (PatchKind::Removed, Some(_)) => {}
                (PatchKind::Added, None) => {
                    let mut doc = Value::Null;
                    oracle::patch(&mut doc, &ops)
                        .map_err(|e| format!("{} {}: {e}", p.kind, p.id))?;
                    self.entities.insert(key, (p.file.clone(), doc));
                }
                (PatchKind::Modified, Some((_, mut doc))) => {
                    oracle::patch(&mut doc, &ops)
                        .map_err(|e| format!("{} {}: {e}", p.kind, p.id))?;
                    self.entities.insert(key, (p.file.clone(), doc));
                }
                (op, held) => {
                    return Err(format!(
                        "{} {} {} but held: {}",
                        p.kind,
                        p.id,
                        op.as_str(),
                        held.is_some()
                    ));
                }
            }
        }
        self.revision = e.revision;
        self.errors = e.errors.iter().cloned().collect();
        Ok(())
    }
}

/// Workflows and integrations served, as (kind, id) → (file, JSON).
fn served(s: &Snapshot) -> BTreeMap<(EntityKind, String), (String, Value)> {
    let mut out = BTreeMap::new();
    for (id, w) in &s.workflows {
        let json = serde_json::to_value(&*w.value).expect("json");
        out.insert(
            (EntityKind::Workflow, id.to_string()),
            (w.file.to_string(), json),
        );
    }
    for (kind, i) in &s.integrations {
        let json = serde_json::to_value(&*i.value).expect("json");
        out.insert(
            (EntityKind::Integration, kind.as_str().to_string()),
            (i.file.to_string(), json),
        );
    }
    out
}

type Shown = (String, u32, u32, String);

fn shown(e: &ConfigError) -> Shown {
    (e.file.clone(), e.line, e.column, e.message.clone())
}

/// Every check of the module doc; `Err` says which failed.
fn check(root: &Path, snapshot: &Snapshot, client: &Client) -> Result<(), String> {
    let (files, read_errors) = load_fs::read_tree(root, &|_| false);
    let loads = config::load_files(&files, &|_| None);
    let (res, mut errors) = config::resolution(&loads, &snapshot.previous());
    errors.extend(read_errors);
    errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));

    // The served state is a fixed point of the rule on this disk.
    let want: BTreeMap<String, String> = res
        .workflows
        .iter()
        .map(|(id, p)| (id.clone(), p.file().to_string()))
        .collect();
    let got: BTreeMap<String, String> = snapshot
        .workflows
        .iter()
        .map(|(id, s)| (id.to_string(), s.file.to_string()))
        .collect();
    if got != want {
        return Err(format!("served {got:?}, resolve(disk) {want:?}"));
    }
    for (id, pick) in &res.workflows {
        if let Pick::Read(file) = pick {
            let Some(config::Entity::Workflow(w)) = &loads[file].entity else {
                return Err(format!("{file} has no workflow"));
            };
            if *snapshot.workflows[id.as_str()].value != *w {
                return Err(format!("`{id}` is not {file}'s version"));
            }
        }
    }
    let kinds: Vec<_> = res.integrations.keys().collect();
    let served_kinds: Vec<_> = snapshot.integrations.keys().collect();
    if kinds != served_kinds {
        return Err(format!(
            "integrations {served_kinds:?}, resolve(disk) {kinds:?}"
        ));
    }
    let want_errors: Vec<Shown> = errors.iter().map(shown).collect();
    let got_errors: Vec<Shown> = snapshot.errors.iter().map(shown).collect();
    if got_errors != want_errors {
        return Err(format!(
            "errors {got_errors:#?}\nresolve(disk) {want_errors:#?}"
        ));
    }

    // The client holds what is served.
    if client.revision != snapshot.revision {
        return Err(format!(
            "client at {}, served {}",
            client.revision, snapshot.revision
        ));
    }
    if client.entities != served(snapshot) {
        return Err(format!(
            "client holds {:#?}\nserved {:#?}",
            client.entities,
            served(snapshot)
        ));
    }

    // `check --format json` agrees.
    let mut out = Vec::new();
    cli::check::run(root, Format::Json, &mut out).map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_slice(&out).map_err(|e| e.to_string())?;
    let mut checked: Vec<Shown> = doc["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["file"].as_str().unwrap_or_default().to_string(),
                e["line"].as_u64().unwrap_or_default() as u32,
                e["column"].as_u64().unwrap_or_default() as u32,
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    checked.sort();
    let mut status = got_errors;
    status.sort();
    let (fresh, _) = config::resolution(&loads, &Default::default());
    let history_matters = fresh.workflows != res.workflows;
    let dup = |e: &Shown| e.3.contains("is already used by");
    if history_matters {
        checked.retain(|e| !dup(e));
        status.retain(|e| !dup(e));
    }
    if checked != status {
        return Err(format!(
            "check {checked:#?}\nstatus {status:#?} (history matters: {history_matters})"
        ));
    }
    Ok(())
}

struct Run {
    app: App,
    rx: broadcast::Receiver<Arc<Event>>,
    client: Client,
}

impl Run {
    /// Waits until no event came for [`QUIET`] and the checks hold.
    async fn settle(&mut self, root: &Path) -> Result<(), String> {
        let started = Instant::now();
        let mut last = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_millis(50), self.rx.recv()).await {
                Ok(Ok(e)) => {
                    self.client.apply(&e)?;
                    last = Instant::now();
                    continue;
                }
                Ok(Err(e)) => return Err(format!("event stream: {e}")),
                Err(_) => {}
            }
            if last.elapsed() >= QUIET {
                let snapshot = self.app.engine.snapshot();
                let outcome = check(root, &snapshot, &self.client);
                if outcome.is_ok() || started.elapsed() > GUARD {
                    return outcome;
                }
            }
        }
    }
}

async fn run_seed(seed: u64) -> Result<(), String> {
    let mut rng = Rng(seed);
    let repo = TestRepo::new();
    repo.commit(
        &[
            ("config/hot_reload.yaml", SETTINGS),
            ("config/jira_config.yaml", JIRA),
            ("workflows/login.yaml", &workflow(None, &mut rng)),
            ("workflows/team/pay.yaml", &workflow(Some("pay"), &mut rng)),
        ],
        "start",
    );
    repo.git(&["branch", "side"]);
    repo.git(&["checkout", "-q", "side"]);
    repo.commit(
        &[("workflows/search.yaml", &workflow(None, &mut rng))],
        "side",
    );
    repo.git(&["checkout", "-q", "main"]);

    let mut options = Options::new(&repo.root);
    options.env = Arc::new(|_| None);
    let app = app::start(options).await.map_err(|e| e.to_string())?;
    let attach = app.engine.attach(None);
    let Backlog::Snapshot(first) = &attach.backlog else {
        return Err("no snapshot on attach".into());
    };
    let client = Client::from_snapshot(first);
    let mut run = Run {
        app,
        rx: attach.receiver,
        client,
    };
    let mut log = Vec::new();
    let mut result = run.settle(&repo.root).await;
    for n in 0..STEPS {
        if result.is_err() {
            break;
        }
        let did = step(&repo, &mut rng, n);
        let stash = did.len() == 2;
        log.extend(did);
        result = run.settle(&repo.root).await;
        if stash && result.is_ok() {
            let _ = std::process::Command::new("git")
                .args(["stash", "pop", "-q"])
                .current_dir(&repo.root)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output();
            result = run.settle(&repo.root).await;
        }
    }
    run.app.stop().await;
    result.map_err(|e| format!("after [{}]: {e}", log.join("; ")))
}

/// Runs `seeds` (at most [`PARALLEL`] at once, each on its own runtime) and
/// returns the failures.
fn run_seeds(seeds: Vec<u64>) -> Vec<(u64, String)> {
    let queue = Arc::new(std::sync::Mutex::new(seeds));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let failures = Arc::clone(&failures);
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                loop {
                    let Some(seed) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        rt.block_on(run_seed(seed))
                    }));
                    let failure = match outcome {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(e),
                        Err(_) => Some("panicked".to_string()),
                    };
                    if let Some(f) = failure {
                        eprintln!("seed {seed} failed (replay: QA_RELOAD_SEED={seed}): {f}");
                        failures.lock().unwrap().push((seed, f));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("seed thread");
    }
    let failures = failures.lock().unwrap().clone();
    failures.into_iter().collect()
}

fn seeds(default: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("QA_RELOAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("QA_RELOAD_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    (1..=count).rev().collect()
}

fn report(seeds: Vec<u64>) {
    let count = seeds.len();
    let started = Instant::now();
    let failures = run_seeds(seeds);
    eprintln!(
        "model runs: {count} seeds, {} passed, {:.1} s",
        count - failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {count} seeds failed; replay one with QA_RELOAD_SEED=<seed>:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|(s, f)| format!("seed {s}: {f}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn model_runs() {
    report(seeds(SEEDS));
}

#[test]
#[ignore = "long: 10,000 seeds (QA_RELOAD_SEEDS to change)"]
fn model_runs_long() {
    report(seeds(10_000));
}
