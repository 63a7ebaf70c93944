//! The live reload engine, end to end: temp git repos, the real filesystem,
//! the real watcher, and the events the engine publishes.
//!
//! Every test ends by checking that what the engine serves equals what is
//! on disk, and how many revisions the actions made. Timeouts are failure
//! guards, not performance assertions.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qa_reload::app::{self, App, Options};
use qa_reload::diff::patch::PatchKind;
use qa_reload::engine::{CauseKind, Engine, Event};
use qa_reload::load::{config, fs as load_fs};
use qa_reload::store::{Completion, DefinitionStatus, Runs};
use qa_reload::watch::RescanReason;
use tokio::sync::broadcast;

use crate::util::TestRepo;

/// Longest wait for an expected event on a loaded machine.
const GUARD: Duration = Duration::from_secs(15);
/// How long without events counts as settled: above the 300 ms max-wait
/// cap plus the re-read delays.
const QUIET: Duration = Duration::from_millis(900);

pub(crate) fn workflow(name: &str, minutes: u32) -> String {
    format!(
        "name: {name}\nsteps:\n  - id: first\n    name: First step\n    estimated_minutes: {minutes}\n  - id: second\n    name: Second step\n    estimated_minutes: 5\n"
    )
}

const JIRA: &str = "enabled: false\nbase_url: https://jira.example.com\nemail: qa@example.com\napi_token: t0ken-one\n";

pub(crate) struct Served {
    app: App,
    rx: broadcast::Receiver<Arc<Event>>,
}

impl Served {
    pub(crate) async fn start(repo: &TestRepo) -> Served {
        let mut options = Options::new(&repo.root);
        options.env = Arc::new(|_| None);
        let app = app::start(options).await.expect("engine starts");
        let rx = app.engine.subscribe();
        Served { app, rx }
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.app.engine
    }

    /// Every event until none came for [`QUIET`] (at least one expected
    /// when `expect_some`).
    pub(crate) async fn settle(&mut self, expect_some: bool) -> Vec<Arc<Event>> {
        let mut events = Vec::new();
        let deadline = Instant::now() + GUARD;
        if expect_some {
            match tokio::time::timeout(GUARD, self.rx.recv()).await {
                Ok(Ok(e)) => events.push(e),
                other => panic!("no event within {GUARD:?}: {other:?}"),
            }
        }
        while Instant::now() < deadline {
            match tokio::time::timeout(QUIET, self.rx.recv()).await {
                Ok(Ok(e)) => events.push(e),
                Ok(Err(e)) => panic!("event stream broke: {e}"),
                Err(_) => break,
            }
        }
        events
    }

    pub(crate) async fn stop(self) {
        self.app.stop().await;
    }
}

/// What the engine serves equals a fresh load of the files on disk.
pub(crate) fn assert_serves_disk(engine: &Engine, root: &Path) {
    let (files, _) = load_fs::read_tree(root, &|_| false);
    let (expected, _) = config::build(&files, &|_| None);
    let snapshot = engine.snapshot();
    let served: BTreeMap<String, (String, qa_reload::model::Workflow)> = snapshot
        .workflows
        .iter()
        .map(|(id, s)| (id.to_string(), (s.file.to_string(), (*s.value).clone())))
        .collect();
    assert_eq!(
        served.keys().collect::<Vec<_>>(),
        expected.workflows.keys().collect::<Vec<_>>(),
        "served workflow ids differ from disk"
    );
    assert_eq!(
        served, expected.workflows,
        "served workflows differ from disk"
    );
    let integrations: BTreeMap<_, _> = snapshot
        .integrations
        .iter()
        .map(|(k, s)| (*k, (s.file.to_string(), (*s.value).clone())))
        .collect();
    assert_eq!(integrations, expected.integrations);
    assert_eq!(*snapshot.settings, expected.settings);
}

pub(crate) fn served_name(engine: &Engine, id: &str) -> Option<String> {
    engine.snapshot().workflow(id).map(|w| w.value.name.clone())
}

fn repo_with_smoke() -> TestRepo {
    let repo = TestRepo::new();
    repo.commit(
        &[
            ("workflows/smoke.yaml", &workflow("Smoke", 10)),
            ("workflows/other.yaml", &workflow("Other", 3)),
        ],
        "initial",
    );
    repo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_over_saves_three_times_make_three_revisions() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    let start_revision = s.engine().snapshot().revision;
    let path = repo.root.join("workflows/smoke.yaml");
    let tmp = repo.root.join("workflows/smoke.yaml.tmp123");
    // Each save waits for the revision of the one before, so a loaded
    // machine cannot fold two saves into one batch.
    let mut events = Vec::new();
    for i in 1..=3 {
        std::fs::write(&tmp, workflow(&format!("Smoke v{i}"), 10 + i)).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        match tokio::time::timeout(GUARD, s.rx.recv()).await {
            Ok(Ok(e)) => events.push(e),
            other => panic!("no revision for save {i}: {other:?}"),
        }
    }
    events.extend(s.settle(false).await);
    assert_eq!(events.len(), 3, "{:#?}", summaries(&events));
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.revision, start_revision + 1 + i as u64);
        assert_eq!(e.base_revision, e.revision - 1);
        assert_eq!(e.cause.kind, CauseKind::Edit);
        let [p] = e.patches.as_slice() else {
            panic!("one patch expected: {:?}", e.summary)
        };
        assert_eq!((p.id.as_str(), p.op), ("smoke", PatchKind::Modified));
        let names: Vec<_> = p.changes.iter().map(|c| c.path.as_str()).collect();
        assert!(names.contains(&"name"), "{names:?}");
        assert_eq!(
            p.changes.iter().find(|c| c.path == "name").unwrap().new,
            Some(serde_json::json!(format!("Smoke v{}", i + 1)))
        );
    }
    assert_eq!(
        served_name(s.engine(), "smoke").as_deref(),
        Some("Smoke v3")
    );
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vim_style_save_makes_one_revision() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    let dir = repo.root.join("workflows");
    std::fs::rename(dir.join("smoke.yaml"), dir.join("smoke.yaml~")).unwrap();
    std::fs::write(dir.join("4913"), "").unwrap();
    std::fs::remove_file(dir.join("4913")).unwrap();
    std::fs::write(dir.join("smoke.yaml"), workflow("Smoke (vim)", 12)).unwrap();
    std::fs::remove_file(dir.join("smoke.yaml~")).unwrap();
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    assert_eq!(events[0].patches.len(), 1);
    assert_eq!(events[0].patches[0].op, PatchKind::Modified);
    assert_eq!(
        served_name(s.engine(), "smoke").as_deref(),
        Some("Smoke (vim)")
    );
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetbrains_safe_write_makes_one_revision() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    let dir = repo.root.join("workflows");
    std::fs::write(
        dir.join("smoke.yaml___jb_tmp___"),
        workflow("Smoke (IDE)", 14),
    )
    .unwrap();
    std::fs::rename(dir.join("smoke.yaml"), dir.join("smoke.yaml___jb_old___")).unwrap();
    std::fs::rename(dir.join("smoke.yaml___jb_tmp___"), dir.join("smoke.yaml")).unwrap();
    std::fs::remove_file(dir.join("smoke.yaml___jb_old___")).unwrap();
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    assert_eq!(events[0].patches[0].op, PatchKind::Modified);
    assert_eq!(
        served_name(s.engine(), "smoke").as_deref(),
        Some("Smoke (IDE)")
    );
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_then_write_never_applies_an_empty_version() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    let path = repo.root.join("workflows/smoke.yaml");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    drop(file);
    tokio::time::sleep(Duration::from_millis(40)).await;
    std::fs::write(&path, workflow("Smoke after truncate", 20)).unwrap();
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    for e in &events {
        assert!(
            e.errors.is_empty(),
            "an error was published: {:?}",
            e.errors
        );
        for p in &e.patches {
            assert_ne!(p.op, PatchKind::Removed);
            assert!(!p.json_patch.is_empty());
        }
    }
    assert_eq!(
        served_name(s.engine(), "smoke").as_deref(),
        Some("Smoke after truncate")
    );
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_then_recreate_serves_the_new_content() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    let path = repo.root.join("workflows/smoke.yaml");
    std::fs::remove_file(&path).unwrap();
    // The removal's revision first, so a loaded machine cannot fold the
    // delete and the recreate into one batch (an edit).
    let mut events = match tokio::time::timeout(GUARD, s.rx.recv()).await {
        Ok(Ok(e)) => vec![e],
        other => panic!("no revision for the delete: {other:?}"),
    };
    std::fs::write(&path, workflow("Smoke recreated", 30)).unwrap();
    events.extend(s.settle(true).await);
    assert_eq!(events.len(), 2, "{:#?}", summaries(&events));
    assert_eq!(events[0].patches[0].op, PatchKind::Removed);
    assert_eq!(events[1].patches[0].op, PatchKind::Added);
    assert_eq!(
        served_name(s.engine(), "smoke").as_deref(),
        Some("Smoke recreated")
    );
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_of_300_changed_files_is_one_branch_switch() {
    let repo = TestRepo::new();
    let files: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("workflows/w{i:03}.yaml"),
                workflow(&format!("W{i}"), 5),
            )
        })
        .collect();
    let main = repo.commit_made(&files, "300 workflows");
    repo.git(&["checkout", "-q", "-b", "feature/x"]);
    let changed: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("workflows/w{i:03}.yaml"),
                workflow(&format!("W{i} on feature"), 6),
            )
        })
        .collect();
    let feature = repo.commit_made(&changed, "change all 300");
    repo.git(&["checkout", "-q", "main"]);

    let mut s = Served::start(&repo).await;
    repo.git(&["checkout", "-q", "feature/x"]);
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    let e = &events[0];
    assert_eq!(e.cause.kind, CauseKind::BranchSwitch);
    let head = e.cause.head.as_ref().unwrap();
    assert_eq!(head.branch.as_deref(), Some("feature/x"));
    assert_eq!(head.commit.as_deref(), Some(feature.as_str()));
    let previous = e.cause.previous_head.as_ref().unwrap();
    assert_eq!(previous.branch.as_deref(), Some("main"));
    assert_eq!(previous.commit.as_deref(), Some(main.as_str()));
    assert_eq!(e.patches.len(), 300);
    assert!(e.patches.iter().all(|p| p.differs_from_head == Some(false)));
    let snapshot = s.engine().snapshot();
    for (path, _) in &changed {
        let committed = repo.git(&["show", &format!("feature/x:{path}")]);
        let served = snapshot
            .workflows
            .values()
            .find(|w| &*w.file == path)
            .unwrap();
        assert_eq!(served.text.trim_end(), committed);
    }
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_without_workflows_and_back_then_edit_is_seen() {
    let repo = repo_with_smoke();
    repo.git(&["checkout", "-q", "-b", "bare"]);
    repo.git(&["rm", "-q", "-r", "workflows"]);
    repo.commit(
        &[("config/hot_reload.yaml", "debounce_ms: 50\n")],
        "no workflows",
    );
    repo.git(&["checkout", "-q", "main"]);
    let mut s = Served::start(&repo).await;

    repo.git(&["checkout", "-q", "bare"]);
    let away = s.settle(true).await;
    assert!(!repo.root.join("workflows").exists());
    assert!(s.engine().snapshot().workflows.is_empty());

    repo.git(&["checkout", "-q", "main"]);
    let back = s.settle(true).await;
    assert_eq!(s.engine().snapshot().workflows.len(), 2);

    repo.write("workflows/smoke.yaml", &workflow("Smoke after return", 9));
    let edit = s.settle(true).await;
    assert_eq!(
        (away.len(), back.len(), edit.len()),
        (1, 1, 1),
        "{:#?}",
        [summaries(&away), summaries(&back), summaries(&edit)]
    );
    assert_eq!(away[0].cause.kind, CauseKind::BranchSwitch);
    assert_eq!(edit[0].cause.kind, CauseKind::Edit);
    assert_eq!(
        served_name(s.engine(), "smoke").as_deref(),
        Some("Smoke after return")
    );
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_written_at_once_into_a_new_nested_folder_is_loaded() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    let dir = repo.root.join("workflows/a/b/c");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("deep.yaml"), workflow("Deep", 7)).unwrap();
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    assert_eq!(events[0].patches[0].op, PatchKind::Added);
    assert_eq!(events[0].patches[0].file, "workflows/a/b/c/deep.yaml");
    assert_eq!(served_name(s.engine(), "deep").as_deref(), Some("Deep"));
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_overflow_rescan_applies_a_change_no_event_reported() {
    let repo = repo_with_smoke();
    let outside = tempfile::tempdir_in(repo.root.parent().unwrap()).unwrap();
    let alias = outside.path().join("smoke-alias.yaml");
    std::fs::hard_link(repo.root.join("workflows/smoke.yaml"), &alias).unwrap();
    let mut s = Served::start(&repo).await;

    // Written through a hard link outside the watched folders: the same
    // file changes, but no watched directory reports it.
    std::fs::write(&alias, workflow("Smoke changed unseen", 11)).unwrap();
    let unseen = s.settle(false).await;
    assert!(unseen.is_empty(), "{:#?}", summaries(&unseen));
    assert_eq!(served_name(s.engine(), "smoke").as_deref(), Some("Smoke"));

    s.engine()
        .watch()
        .unwrap()
        .request_rescan(RescanReason::Overflow)
        .unwrap();
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    assert_eq!(events[0].cause.kind, CauseKind::Rescan);
    assert_eq!(
        served_name(s.engine(), "smoke").as_deref(),
        Some("Smoke changed unseen")
    );
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_status_add_commit_gc_make_no_content_patches() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    repo.write("workflows/smoke.yaml", &workflow("Smoke edited", 10));
    let edit = s.settle(true).await;
    assert_eq!(edit.len(), 1);
    let patch = &edit[0].patches[0];
    assert_eq!(patch.differs_from_head, Some(true));

    repo.git(&["status"]);
    let after_status = s.settle(false).await;
    repo.git(&["add", "-A"]);
    let after_add = s.settle(false).await;
    let commit = repo.git(&["commit", "-q", "-m", "edit smoke"]);
    let _ = commit;
    let after_commit = s.settle(true).await;
    repo.git(&["gc", "-q"]);
    let after_gc = s.settle(false).await;

    assert!(after_status.is_empty(), "{:#?}", summaries(&after_status));
    assert!(after_add.is_empty(), "{:#?}", summaries(&after_add));
    assert!(after_gc.is_empty(), "{:#?}", summaries(&after_gc));
    // The commit moves HEAD: one revision that names it, with no patch.
    assert_eq!(after_commit.len(), 1, "{:#?}", summaries(&after_commit));
    assert_eq!(after_commit[0].cause.kind, CauseKind::Commit);
    assert!(after_commit[0].patches.is_empty());
    let head = repo.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        s.engine()
            .snapshot()
            .head
            .as_ref()
            .unwrap()
            .commit
            .as_deref(),
        Some(head.as_str())
    );
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_edit_keeps_the_last_good_version_until_fixed() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    repo.write(
        "workflows/smoke.yaml",
        "name: Smoke\nsteps:\n  - id: first\n    name: First\n    estimated_minutes: lots\n",
    );
    let broken = s.settle(true).await;
    assert_eq!(broken.len(), 1, "{:#?}", summaries(&broken));
    let e = &broken[0];
    assert!(e.patches.is_empty(), "a broken file makes no patch");
    let [err] = &e.errors.iter().collect::<Vec<_>>()[..] else {
        panic!("one error expected: {:?}", e.errors)
    };
    assert_eq!(
        (err.file.as_str(), err.line, err.column),
        ("workflows/smoke.yaml", 5, 24)
    );
    assert_eq!(err.excerpt.as_deref(), Some("    estimated_minutes: lots"));
    assert!(e.failed());
    // Still served: the last good version.
    let served = s.engine().snapshot().workflow("smoke").cloned().unwrap();
    assert_eq!(served.value.steps[0].estimated_minutes, 10);
    assert_eq!(s.engine().status().counts.failures, 1);

    repo.write("workflows/smoke.yaml", &workflow("Smoke fixed", 15));
    let fixed = s.settle(true).await;
    assert_eq!(fixed.len(), 1, "{:#?}", summaries(&fixed));
    assert!(fixed[0].errors.is_empty());
    assert!(!fixed[0].failed());
    // The patch goes from the last good version to the fixed one.
    let p = &fixed[0].patches[0];
    let paths: Vec<_> = p.changes.iter().map(|c| c.path.as_str()).collect();
    assert!(
        paths.contains(&"steps[id=first].estimated_minutes"),
        "{paths:?}"
    );
    assert!(s.engine().snapshot().errors.is_empty());
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_excerpt_of_a_broken_secret_line_is_masked() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    repo.write(
        "config/jira_config.yaml",
        "enabled: false\nbase_url: https://example.atlassian.net\napi_token: hunter2-secret: oops\n",
    );
    let broken = s.settle(true).await;
    let err = broken
        .iter()
        .flat_map(|e| e.errors.iter())
        .find(|e| e.file == "config/jira_config.yaml")
        .expect("an error in the broken file");
    assert_eq!(err.line, 3, "{err}");
    let excerpt = err.excerpt.as_deref().expect("an excerpt");
    assert!(excerpt.starts_with("api_token: ••••••"), "{excerpt}");
    assert!(!excerpt.contains("hunter2"), "{excerpt}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_before_an_edit_keeps_its_steps() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    let runs = Runs::in_memory().unwrap();
    let started = runs
        .start(s.engine(), &s.engine().snapshot(), "smoke")
        .await
        .unwrap();
    let id = started.run.id;
    repo.write(
        "workflows/smoke.yaml",
        "name: Smoke\nsteps:\n  - id: only\n    name: The only step now\n    estimated_minutes: 1\n",
    );
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1);
    let run = runs.get(&id).await.unwrap().unwrap().run;
    assert_eq!(run.steps, ["first", "second"]);
    let Completion::Done(run) = runs.complete(&id, "second").await.unwrap() else {
        panic!("a first completion is done");
    };
    assert_eq!(run.completed.len(), 1);
    assert_eq!(
        run.definition_status(&s.engine().snapshot(), &runs),
        DefinitionStatus::Newer {
            revision: events[0].revision
        }
    );
    std::fs::remove_file(repo.root.join("workflows/smoke.yaml")).unwrap();
    let removed = s.settle(true).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(
        run.definition_status(&s.engine().snapshot(), &runs),
        DefinitionStatus::Removed
    );
    assert_eq!(runs.get(&id).await.unwrap().unwrap().run.steps.len(), 2);
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_data_symlink_swap_is_one_revision() {
    use std::os::unix::fs::symlink;
    let repo = repo_with_smoke();
    let config = repo.root.join("config");
    std::fs::create_dir_all(config.join("..2026_11_28_1")).unwrap();
    std::fs::write(config.join("..2026_11_28_1/jira_config.yaml"), JIRA).unwrap();
    symlink("..2026_11_28_1", config.join("..data")).unwrap();
    symlink("..data/jira_config.yaml", config.join("jira_config.yaml")).unwrap();
    let mut s = Served::start(&repo).await;
    assert!(s.engine().snapshot().integrations.len() == 1);

    std::fs::create_dir_all(config.join("..2026_11_28_2")).unwrap();
    std::fs::write(
        config.join("..2026_11_28_2/jira_config.yaml"),
        JIRA.replace("jira.example.com", "jira2.example.com"),
    )
    .unwrap();
    symlink("..2026_11_28_2", config.join("..data_tmp")).unwrap();
    std::fs::rename(config.join("..data_tmp"), config.join("..data")).unwrap();
    std::fs::remove_dir_all(config.join("..2026_11_28_1")).unwrap();
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    let p = &events[0].patches[0];
    assert_eq!((p.id.as_str(), p.op), ("jira", PatchKind::Modified));
    assert!(p.changes.iter().any(|c| c.path == "base_url"));
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangling_emacs_lock_link_is_ignored() {
    let repo = repo_with_smoke();
    let mut s = Served::start(&repo).await;
    std::os::unix::fs::symlink(
        "qa@host.12345:1764300000",
        repo.root.join("workflows/.#smoke.yaml"),
    )
    .unwrap();
    let none = s.settle(false).await;
    assert!(none.is_empty(), "{:#?}", summaries(&none));
    repo.write("workflows/smoke.yaml", &workflow("Smoke from emacs", 8));
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    assert!(events[0].errors.is_empty());
    assert_eq!(
        served_name(s.engine(), "smoke").as_deref(),
        Some("Smoke from emacs")
    );
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_edits_apply_on_the_next_batch_with_their_own_patch() {
    let repo = repo_with_smoke();
    repo.commit(
        &[("workflows/drafts/draft.yaml", &workflow("Draft", 4))],
        "draft",
    );
    let mut s = Served::start(&repo).await;
    assert!(s.engine().snapshot().workflow("draft").is_some());

    repo.write(
        "config/hot_reload.yaml",
        "debounce_ms: 1000\nmax_wait_ms: 5000\ncomplete_write_ms: 1000\nignore:\n  - workflows/drafts/**\n",
    );
    let events = s.settle(true).await;
    // One revision: the settings patch, and the draft the new ignore list
    // excludes taken out.
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    let ops: Vec<_> = events[0]
        .patches
        .iter()
        .map(|p| (p.kind.as_str(), p.id.as_str(), p.op))
        .collect();
    assert_eq!(
        ops,
        [
            ("workflow", "draft", PatchKind::Removed),
            ("settings", "hot_reload", PatchKind::Added)
        ]
    );
    let settings = &events[0].patches[1];
    assert!(
        settings.text.unified.contains("+debounce_ms: 1000"),
        "{}",
        settings.text.unified
    );
    assert!(s.engine().snapshot().workflow("draft").is_none());
    assert_eq!(s.engine().snapshot().settings.debounce_ms, 1000);

    // With a one-second quiet period and window, two saves 200 ms apart are
    // one batch.
    repo.write("workflows/smoke.yaml", &workflow("Smoke one", 1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    repo.write("workflows/smoke.yaml", &workflow("Smoke two", 2));
    repo.write("workflows/drafts/draft.yaml", &workflow("Draft edited", 4));
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    assert_eq!(
        events[0].patches.len(),
        1,
        "the ignored draft is not loaded"
    );
    assert_eq!(
        served_name(s.engine(), "smoke").as_deref(),
        Some("Smoke two")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_outside_git_is_served_without_the_git_parts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("plain");
    std::fs::create_dir_all(root.join("workflows")).unwrap();
    std::fs::write(root.join("workflows/smoke.yaml"), workflow("Smoke", 10)).unwrap();
    let mut options = Options::new(&root);
    options.env = Arc::new(|_| None);
    let app = app::start(options).await.unwrap();
    let mut s = Served {
        rx: app.engine.subscribe(),
        app,
    };
    assert!(s.engine().git().is_none());
    std::fs::write(
        root.join("workflows/smoke.yaml"),
        workflow("Smoke plain", 10),
    )
    .unwrap();
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    assert_eq!(events[0].cause.kind, CauseKind::Edit);
    assert!(events[0].cause.head.is_none());
    assert_eq!(events[0].patches[0].differs_from_head, None);
    assert_serves_disk(s.engine(), &root);
    s.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_leaving_the_repository_is_refused_with_an_error() {
    let repo = repo_with_smoke();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("stolen.yaml"), workflow("Stolen", 1)).unwrap();
    let mut s = Served::start(&repo).await;
    std::os::unix::fs::symlink(
        outside.path().join("stolen.yaml"),
        repo.root.join("workflows/stolen.yaml"),
    )
    .unwrap();
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    let [e] = &events[0].errors.iter().collect::<Vec<_>>()[..] else {
        panic!("one error expected: {:?}", events[0].errors)
    };
    assert_eq!(e.file, "workflows/stolen.yaml");
    assert!(e.message.contains("leaves the repository"), "{}", e.message);
    assert!(s.engine().snapshot().workflow("stolen").is_none());
    assert_eq!(s.engine().snapshot().workflows.len(), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitignored_files_are_not_loaded() {
    let repo = repo_with_smoke();
    repo.commit(&[(".gitignore", "workflows/local/\n")], "ignore local");
    repo.write("workflows/local/mine.yaml", &workflow("Mine", 3));
    let mut s = Served::start(&repo).await;
    assert!(s.engine().snapshot().workflow("mine").is_none());
    repo.write("workflows/local/mine.yaml", &workflow("Mine edited", 3));
    let none = s.settle(false).await;
    assert!(none.is_empty(), "{:#?}", summaries(&none));
    repo.write("workflows/smoke.yaml", &workflow("Smoke seen", 3));
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    assert!(s.engine().snapshot().workflow("mine").is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_to_an_older_commit_names_its_cause_and_restores_the_files() {
    let repo = repo_with_smoke();
    let first = repo.git(&["rev-parse", "HEAD"]);
    repo.commit(&[("workflows/smoke.yaml", &workflow("Smoke v2", 10))], "v2");
    let mut s = Served::start(&repo).await;
    assert_eq!(
        served_name(s.engine(), "smoke").as_deref(),
        Some("Smoke v2")
    );
    repo.git(&["reset", "-q", "--hard", &first]);
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    assert_eq!(events[0].cause.kind, CauseKind::Reset);
    assert_eq!(
        events[0].cause.head.as_ref().unwrap().commit.as_deref(),
        Some(first.as_str())
    );
    assert_eq!(served_name(s.engine(), "smoke").as_deref(), Some("Smoke"));
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

pub(crate) fn summaries(events: &[Arc<Event>]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("r{} {} {}", e.revision, e.cause.kind, e.summary))
        .collect()
}
