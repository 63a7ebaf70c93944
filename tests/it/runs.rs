//! Runs that are never lost: one behaviour table run against every store
//! backend (SQLite file, SQLite in memory, PostgreSQL), and the real
//! binary restarted, killed with `kill -9`, pointed at a corrupt, foreign or
//! newer file, sharing one PostgreSQL with a second server, and losing its
//! PostgreSQL half-way.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use qa_reload::store::sqlite::SqliteStore;
use qa_reload::store::{
    Completion, Definition, DefinitionRef, Finish, NewRun, PageQuery, Run, RunStore, StateFilter,
    StoreError, from_micros, to_micros,
};
use serde_json::Value;

use crate::pg::Cluster;
use crate::served::{self, GUARD};
use crate::support::{Serving, serve_command, spawn_serving};

// ---- the behaviour table ----------------------------------------------------

fn new_run(workflow: &str, def: &str, steps: &[&str], started: SystemTime) -> NewRun {
    // Stores keep microseconds.
    let started = from_micros(to_micros(started));
    let body = format!(r#"{{"id":"{workflow}","name":"{def}","steps":[]}}"#);
    let hash = qa_reload::store::sha256_hex(body.as_bytes());
    NewRun {
        run: Run {
            id: uuid::Uuid::now_v7().to_string(),
            workflow_id: workflow.into(),
            definition: DefinitionRef {
                hash: hash.clone(),
                file: format!("workflows/{workflow}.yaml"),
                file_hash: "f".repeat(64),
                commit: None,
                instance: "test".into(),
                revision: 1,
            },
            steps: steps.iter().map(|s| (*s).to_string()).collect(),
            started_at: started,
            finished_at: None,
            completed: Vec::new(),
        },
        definition: Definition {
            hash,
            body: body.into(),
        },
    }
}

fn all_ids(store: &dyn RunStore, limit: usize, state: Option<StateFilter>) -> Vec<String> {
    let mut ids = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .page(&PageQuery {
                limit,
                before: before.clone(),
                state,
                workflow: None,
            })
            .unwrap();
        assert!(page.runs.len() <= limit);
        ids.extend(page.runs.iter().map(|r| r.id.clone()));
        match page.next {
            Some(next) => before = Some(next),
            None => return ids,
        }
    }
}

/// What every backend must do the same way.
fn table(store: &dyn RunStore) {
    let long_ago = SystemTime::now() - Duration::from_secs(90 * 24 * 3600);
    let a = new_run("smoke", "v1", &["one", "two"], long_ago);
    let b = new_run("smoke", "v1", &["one", "two"], SystemTime::now());
    let c = new_run("other", "o1", &["x"], SystemTime::now());
    for new in [&a, &b, &c] {
        store.start(new).unwrap();
    }

    // A run reads back whole, with its definition's body.
    let got = store.get(&a.run.id).unwrap().unwrap();
    assert_eq!(got.run, a.run);
    assert_eq!(got.definition, a.definition);
    assert!(
        store
            .get(&uuid::Uuid::now_v7().to_string())
            .unwrap()
            .is_none()
    );

    // Completions: once each, in order; unknown steps and runs refused;
    // the last step finishes the run.
    let Completion::Done(run) = store.complete(&a.run.id, "two", long_ago).unwrap() else {
        panic!("first completion");
    };
    assert_eq!(run.completed.len(), 1);
    let Completion::Already(run) = store.complete(&a.run.id, "two", SystemTime::now()).unwrap()
    else {
        panic!("second completion of one step");
    };
    assert_eq!(run.completed.len(), 1, "a retry adds nothing");
    assert!(matches!(
        store.complete(&a.run.id, "nope", SystemTime::now()),
        Err(StoreError::UnknownStep { .. })
    ));
    assert!(matches!(
        store.complete(
            "0190ffff-0000-7000-8000-000000000000",
            "one",
            SystemTime::now()
        ),
        Err(StoreError::UnknownRun(_))
    ));
    let Completion::Done(run) = store.complete(&a.run.id, "one", long_ago).unwrap() else {
        panic!("last step");
    };
    assert!(run.is_finished());
    let steps: Vec<_> = run.completed.iter().map(|c| c.step.as_str()).collect();
    assert_eq!(steps, ["two", "one"], "completion order");
    let Completion::Done(_) = store.complete(&c.run.id, "x", SystemTime::now()).unwrap() else {
        panic!("c's only step");
    };

    // Pages: newest first, every run once, each definition once.
    assert_eq!(
        all_ids(store, 1, None),
        [c.run.id.clone(), b.run.id.clone(), a.run.id.clone()],
        "newest first, one at a time"
    );
    let page = store
        .page(&PageQuery {
            limit: 10,
            ..PageQuery::default()
        })
        .unwrap();
    assert_eq!(page.runs.len(), 3);
    assert_eq!(page.definitions.len(), 2, "two distinct definitions");
    assert!(page.next.is_none());
    assert_eq!(
        all_ids(store, 10, Some(StateFilter::InProgress)),
        vec![b.run.id.clone()]
    );
    assert_eq!(
        all_ids(store, 10, Some(StateFilter::Finished)),
        [c.run.id.clone(), a.run.id.clone()]
    );
    let smoke = store
        .page(&PageQuery {
            limit: 10,
            workflow: Some("other".into()),
            ..PageQuery::default()
        })
        .unwrap();
    assert_eq!(smoke.runs.len(), 1);
    assert_eq!(smoke.definitions.len(), 1);
    assert_eq!(smoke.definitions[0].hash, c.definition.hash);

    // Retention: a run finished 90 days ago goes; a run finished now and a
    // run in progress stay, however old.
    let old_in_progress = new_run("smoke", "v0", &["one"], long_ago);
    store.start(&old_in_progress).unwrap();
    let cutoff = SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
    assert_eq!(store.purge_finished_before(cutoff).unwrap(), 1);
    assert!(store.get(&a.run.id).unwrap().is_none());
    for kept in [&b, &c, &old_in_progress] {
        assert!(store.get(&kept.run.id).unwrap().is_some());
    }
    assert_eq!(store.purge_finished_before(cutoff).unwrap(), 0);

    // Finish: a run ends early with the steps it has, once; its other steps
    // can no longer be completed.
    let now = from_micros(to_micros(SystemTime::now()));
    let d = new_run("trial", "t1", &["one", "two"], now);
    let e = new_run("trial", "t1", &["one", "two"], now);
    store.start(&d).unwrap();
    store.start(&e).unwrap();
    let Completion::Done(_) = store.complete(&d.run.id, "one", now).unwrap() else {
        panic!("d's first step");
    };
    let Completion::Done(_) = store.complete(&e.run.id, "two", now).unwrap() else {
        panic!("e's second step");
    };
    let Finish::Done(run) = store.finish(&d.run.id, now).unwrap() else {
        panic!("finishing d");
    };
    assert_eq!(run.finished_at, Some(now));
    assert_eq!(run.completed.len(), 1);
    let got = store.get(&d.run.id).unwrap().unwrap().run;
    assert_eq!(got.finished_at, Some(now), "the finish is stored");
    assert!(matches!(
        store.finish(&d.run.id, SystemTime::now()).unwrap(),
        Finish::Already(r) if r.finished_at == Some(now)
    ));
    assert!(matches!(
        store.complete(&d.run.id, "two", SystemTime::now()).unwrap(),
        Completion::RunFinished(r) if r.completed.len() == 1
    ));
    assert!(matches!(
        store.complete(&d.run.id, "one", SystemTime::now()).unwrap(),
        Completion::Already(_)
    ));
    assert!(matches!(
        store.finish("0190ffff-0000-7000-8000-000000000000", now),
        Err(StoreError::UnknownRun(_))
    ));
    let trial = |store: &dyn RunStore, state| {
        store
            .page(&PageQuery {
                limit: 10,
                workflow: Some("trial".into()),
                state,
                ..PageQuery::default()
            })
            .unwrap()
    };
    assert_eq!(trial(store, Some(StateFilter::Finished)).runs.len(), 1);

    // Discard: the run and its completions go, another run of the same
    // definition keeps its own; an unknown run is no.
    assert!(store.discard(&d.run.id).unwrap());
    assert!(store.get(&d.run.id).unwrap().is_none());
    assert!(!store.discard(&d.run.id).unwrap());
    let left = trial(store, None);
    assert_eq!(left.runs.len(), 1);
    assert_eq!(left.runs[0].id, e.run.id);
    assert_eq!(left.runs[0].completed.len(), 1, "e keeps its completion");
    assert_eq!(left.definitions.len(), 1, "the shared definition stays");
    let got = store.get(&e.run.id).unwrap().unwrap();
    assert_eq!(got.definition, e.definition);
    // A run in progress is discarded too; its definition then goes with it
    // (a new run of it stores it again).
    assert!(store.discard(&e.run.id).unwrap());
    assert!(trial(store, None).runs.is_empty());
    let f = new_run("trial", "t1", &["one"], SystemTime::now());
    store.start(&f).unwrap();
    assert_eq!(
        store.get(&f.run.id).unwrap().unwrap().definition,
        f.definition
    );
    assert!(store.discard(&f.run.id).unwrap());
    assert_eq!(
        all_ids(store, 100, None).len(),
        3,
        "b, c and the old run in progress"
    );
}

#[test]
fn the_store_table_passes_on_sqlite_in_a_file_and_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runs.sqlite3");
    table(&SqliteStore::open(&file).unwrap());
    table(&SqliteStore::memory().unwrap());
    // Reopened: migrated once, the runs still there.
    let again = SqliteStore::open(&file).unwrap();
    assert_eq!(all_ids(&again, 100, None).len(), 3);
    // Discarding the last run of a definition deleted the definition.
    let conn = rusqlite::Connection::open(&file).unwrap();
    let trial: i64 = conn
        .query_row(
            "SELECT count(*) FROM qa_reload_definitions WHERE workflow_id = 'trial'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(trial, 0);
}

#[test]
fn the_store_table_passes_on_postgres() {
    let Some(cluster) = Cluster::start("the_store_table_passes_on_postgres") else {
        return;
    };
    let url = cluster.database("store_table");
    let store = qa_reload::store::postgres::PgStore::connect(&url).unwrap();
    table(&store);
    let again = qa_reload::store::postgres::PgStore::connect(&url).unwrap();
    assert_eq!(all_ids(&again, 100, None).len(), 3);
    assert!(!again.info().location.contains("password"));
    // Discarding the last run of a definition deleted the definition.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let trial: i64 = client
        .query_one(
            "SELECT count(*) FROM qa_reload_definitions WHERE workflow_id = 'trial'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(trial, 0);
}

// ---- the real binary --------------------------------------------------------

/// `qa-reload serve` of `root` on a free port, keeping runs in
/// `database` (else the default SQLite file).
async fn serve(root: &Path, database: Option<&str>) -> Serving {
    let mut command = serve_command(&["--repo", root.to_str().unwrap()]);
    if let Some(database) = database {
        command.args(["--database", database]);
    }
    spawn_serving(command, GUARD).await
}

/// The refusal `serve --database …` exits with: (exit code, stderr).
async fn refused(root: &Path, database: &str) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_qa-reload"))
        .args(["serve", "--bind", "127.0.0.1:0", "--repo"])
        .arg(root)
        .args(["--database", database])
        .env("RUST_LOG", "off")
        .output();
    let out = tokio::time::timeout(GUARD, out).await.unwrap().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn http(method: &str, url: &str) -> (u16, Value) {
    let client = reqwest::Client::new();
    let request = match method {
        "POST" => client.post(url),
        _ => client.get(url),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    served::assert_no_secret(&text);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn start_run(s: &Serving, workflow: &str) -> Value {
    let (code, run) = http(
        "POST",
        &format!("{}/api/v1/workflows/{workflow}/runs", s.url),
    )
    .await;
    assert_eq!(code, 201, "{run}");
    run
}

async fn get_run(s: &Serving, id: &str) -> Value {
    let (code, run) = http("GET", &format!("{}/api/v1/runs/{id}", s.url)).await;
    assert_eq!(code, 200, "{run}");
    run
}

fn steps_of(run: &Value) -> Vec<String> {
    run["definition"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every run id of the server's list, walking the pages.
async fn listed(s: &Serving, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let (code, page) = http(
            "GET",
            &format!("{}/api/v1/runs?limit=500{query}{cursor}", s.url),
        )
        .await;
        assert_eq!(code, 200, "{page}");
        for r in page["runs"].as_array().unwrap() {
            ids.push(r["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_and_kill_9_keep_runs_completions_and_pinned_definitions() {
    let repo = served::repo(256);
    let s = serve(&repo.root, None).await;
    let (_, status) = http("GET", &format!("{}/api/v1/dev/hot-reload/status", s.url)).await;
    assert_eq!(status["store"]["backend"], "sqlite");
    let file = status["store"]["location"].as_str().unwrap().to_owned();
    assert!(file.ends_with(".git/qa-reload/runs.sqlite3"), "{file}");

    let first = start_run(&s, "smoke").await;
    let id = first["id"].as_str().unwrap().to_owned();
    let before = steps_of(&first);
    let (code, _) = http(
        "POST",
        &format!("{}/api/v1/runs/{id}/steps/{}/complete", s.url, before[0]),
    )
    .await;
    assert_eq!(code, 200);
    s.stop().await;

    // The workflow changes (and is committed) while the server is down.
    repo.commit(
        &[("workflows/smoke.yaml", &served::workflow("Smoke v9", 3))],
        "smoke v9",
    );
    let s = serve(&repo.root, None).await;
    let run = get_run(&s, &id).await;
    assert_eq!(steps_of(&run), before, "the pinned definition came back");
    assert_eq!(run["definition"], first["definition"]);
    assert_eq!(run["completed"][0]["step"], before[0].as_str());
    assert_eq!(run["definition_status"]["state"], "newer");
    assert_eq!(run["definition_ref"], first["definition_ref"]);

    // A burst of completions, then kill -9: every 200 is still there.
    let mut ids = Vec::new();
    for _ in 0..20 {
        let run = start_run(&s, "smoke").await;
        ids.push(run["id"].as_str().unwrap().to_owned());
    }
    assert!(!ids.contains(&id));
    let steps = steps_of(&get_run(&s, &ids[0]).await);
    let mut burst = tokio::task::JoinSet::new();
    for run in &ids {
        for step in &steps {
            let url = format!("{}/api/v1/runs/{run}/steps/{step}/complete", s.url);
            let key = (run.clone(), step.clone());
            burst.spawn(async move {
                let client = reqwest::Client::new();
                let ok = client
                    .post(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 200);
                (key, ok)
            });
        }
    }
    // Let some land, then kill the server in the middle of the rest.
    let mut answered = BTreeSet::new();
    for _ in 0..(ids.len() * steps.len() / 3) {
        if let Some(Ok((key, true))) = burst.join_next().await {
            answered.insert(key);
        }
    }
    s.kill().await;
    while let Some(done) = burst.join_next().await {
        if let Ok((key, true)) = done {
            answered.insert(key);
        }
    }
    assert!(!answered.is_empty());
    let s = serve(&repo.root, None).await;
    for (run, step) in &answered {
        let got = get_run(&s, run).await;
        let done: Vec<_> = got["completed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["step"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            done.contains(step),
            "{run}: {step} was answered 200 but is gone"
        );
    }
    // Ids never repeat across restarts, and stay ordered.
    let after = start_run(&s, "smoke").await;
    let new_id = after["id"].as_str().unwrap().to_owned();
    assert!(!ids.contains(&new_id) && new_id != id);
    assert!(ids.iter().all(|old| *old < new_id), "UUIDv7 ids grow");
    assert_eq!(listed(&s, "").await.len(), 22);

    // The store file stays out of git's sight and out of the watcher's.
    let porcelain = std::process::Command::new("git")
        .args(["status", "--porcelain", "--ignored"])
        .current_dir(&repo.root)
        .output()
        .unwrap();
    assert!(porcelain.status.success());
    assert_eq!(String::from_utf8_lossy(&porcelain.stdout), "");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_a_repository_the_store_is_in_a_dot_folder_the_watcher_ignores() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    std::fs::write(
        dir.path().join("workflows/smoke.yaml"),
        "name: Smoke\nsteps:\n  - id: first\n    name: First\n    estimated_minutes: 2\n",
    )
    .unwrap();
    let s = serve(dir.path(), None).await;
    let status_url = format!("{}/api/v1/dev/hot-reload/status", s.url);
    let (_, status) = http("GET", &status_url).await;
    let location = status["store"]["location"].as_str().unwrap().to_owned();
    assert!(location.ends_with(".qa-reload/runs.sqlite3"), "{location}");
    let revision = status["revision"].clone();
    for _ in 0..5 {
        start_run(&s, "smoke").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, status) = http("GET", &status_url).await;
    assert_eq!(
        status["revision"], revision,
        "writing runs made no revision"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_and_fifty_runs_lose_none() {
    const RUNS: usize = 10_050;
    let repo = served::repo(256);
    let s = serve(&repo.root, None).await;
    let url = format!("{}/api/v1/workflows/smoke/runs", s.url);
    let client = reqwest::Client::new();
    let mut started = BTreeSet::new();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for _ in (worker..RUNS).step_by(8) {
                let response = client.post(&url).send().await.unwrap();
                assert_eq!(response.status().as_u16(), 201);
                let run: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
                ids.push(run["id"].as_str().unwrap().to_owned());
            }
            ids
        });
    }
    while let Some(ids) = tasks.join_next().await {
        started.extend(ids.unwrap());
    }
    assert_eq!(started.len(), RUNS, "ids are unique");
    let first = started.iter().next().unwrap().clone();
    assert_eq!(get_run(&s, &first).await["id"], first.as_str());
    let all: BTreeSet<String> = listed(&s, "&state=in_progress").await.into_iter().collect();
    assert_eq!(all, started, "every run is listed, none dropped");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_foreign_or_newer_store_file_is_refused_and_left_alone() {
    let repo = served::repo(256);
    let dir = tempfile::tempdir().unwrap();

    let corrupt = dir.path().join("corrupt.sqlite3");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&corrupt, &garbage).unwrap();
    let (code, stderr) = refused(&repo.root, &format!("sqlite:{}", corrupt.display())).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&corrupt.display().to_string()), "{stderr}");
    assert!(stderr.contains("not a SQLite database"), "{stderr}");
    assert_eq!(
        std::fs::read(&corrupt).unwrap(),
        garbage,
        "never overwritten"
    );

    let foreign = dir.path().join("foreign.sqlite3");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let (code, stderr) = refused(&repo.root, &format!("sqlite:{}", foreign.display())).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&foreign.display().to_string()), "{stderr}");
    assert!(stderr.contains("not a qa-reload run store"), "{stderr}");
    assert_eq!(std::fs::read(&foreign).unwrap(), before);

    let newer = dir.path().join("newer.sqlite3");
    drop(SqliteStore::open(&newer).unwrap());
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.execute_batch(
            "INSERT INTO qa_reload_migrations (version, name, applied_at) VALUES (99, 'later', 0)",
        )
        .unwrap();
    }
    let before = std::fs::read(&newer).unwrap();
    let (code, stderr) = refused(&repo.root, &format!("sqlite:{}", newer.display())).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("schema version 99, newer"), "{stderr}");
    assert_eq!(std::fs::read(&newer).unwrap(), before);

    let (code, stderr) = refused(&repo.root, "mysql://root:hunter2@db/runs").await;
    assert_eq!(code, 2, "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_see_each_others_runs_and_completions() {
    let Some(cluster) = Cluster::start("two_servers_on_one_postgres") else {
        return;
    };
    let url = cluster.database("shared");
    let repo = served::repo(256);
    let other = served::repo(256);
    other.commit(
        &[(
            "workflows/smoke.yaml",
            &served::workflow("Smoke elsewhere", 2),
        )],
        "another smoke",
    );
    let a = serve(&repo.root, Some(&url)).await;
    let b = serve(&other.root, Some(&url)).await;
    let (_, status) = http("GET", &format!("{}/api/v1/dev/hot-reload/status", b.url)).await;
    assert_eq!(status["store"]["backend"], "postgres");

    let run = start_run(&a, "smoke").await;
    let id = run["id"].as_str().unwrap().to_owned();
    let steps = steps_of(&run);
    let seen = get_run(&b, &id).await;
    assert_eq!(seen["definition"], run["definition"]);
    assert_eq!(
        seen["definition_status"]["state"], "newer",
        "b serves another smoke"
    );
    let (code, _) = http(
        "POST",
        &format!("{}/api/v1/runs/{id}/steps/{}/complete", b.url, steps[0]),
    )
    .await;
    assert_eq!(code, 200);
    let (code, again) = http(
        "POST",
        &format!("{}/api/v1/runs/{id}/steps/{}/complete", a.url, steps[0]),
    )
    .await;
    assert_eq!(
        (code, again["code"].as_str()),
        (409, Some("step_already_completed"))
    );
    assert_eq!(
        get_run(&a, &id).await["completed"][0]["step"],
        steps[0].as_str()
    );
    let other_run = start_run(&b, "smoke").await;
    let listed_a = listed(&a, "").await;
    assert_eq!(listed_a.len(), 2);
    assert_eq!(listed_a[0], other_run["id"].as_str().unwrap());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_midway_answers_503_reload_still_works_and_it_recovers() {
    let Some(cluster) = Cluster::start("postgres_stopped_midway") else {
        return;
    };
    let url = cluster.database("faults");
    let repo = served::repo(256);
    let s = serve(&repo.root, Some(&url)).await;
    let run = start_run(&s, "smoke").await;
    let id = run["id"].as_str().unwrap().to_owned();

    cluster.pg_ctl_stop();
    let (code, body) = http("POST", &format!("{}/api/v1/workflows/smoke/runs", s.url)).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    let (code, body) = http(
        "POST",
        &format!("{}/api/v1/runs/{id}/steps/first/complete", s.url),
    )
    .await;
    assert_eq!(code, 503, "{body}");
    let (code, _) = http("GET", &format!("{}/api/v1/runs", s.url)).await;
    assert_eq!(code, 503);
    // Hot reload never waits on the database.
    std::fs::write(
        repo.root.join("workflows/smoke.yaml"),
        served::workflow("Smoke while the database is down", 4),
    )
    .unwrap();
    let (code, reload) = http("POST", &format!("{}/api/v1/dev/hot-reload/reload", s.url)).await;
    assert_eq!(code, 200, "{reload}");
    let (code, w) = http("GET", &format!("{}/api/v1/workflows/smoke", s.url)).await;
    assert_eq!(code, 200);
    assert_eq!(w["definition"]["name"], "Smoke while the database is down");

    // Back: picked up without a restart; nothing the 503s refused landed.
    cluster.pg_ctl_start();
    let run = get_run(&s, &id).await;
    assert_eq!(
        run["completed"],
        Value::Array(vec![]),
        "a 503 stored nothing"
    );
    assert_eq!(listed(&s, "").await, vec![id.clone()]);
    let (code, _) = http(
        "POST",
        &format!("{}/api/v1/runs/{id}/steps/first/complete", s.url),
    )
    .await;
    assert_eq!(code, 200);
    start_run(&s, "smoke").await;
    s.stop().await;
}
