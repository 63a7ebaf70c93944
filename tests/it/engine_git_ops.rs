//! Git operations and editor save styles against the real watcher: each is
//! exactly one revision, and what is served equals the disk afterwards.
//!
//! A complete save skips the quiet period, so these guard the other side:
//! git's lock must hold the files of an operation together, and a save must
//! not be split or read half-written. Timeouts are failure guards only.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use qa_reload::diff::patch::PatchKind;
use qa_reload::watch::Trigger;

use crate::engine::{Served, assert_serves_disk, served_name, summaries, workflow};
use crate::support;
use crate::util::TestRepo;

fn path(i: usize) -> String {
    format!("workflows/w{i}.yaml")
}

/// Workflows changed by each commit of `feature` and by `main`'s own: enough
/// that git takes longer writing them than the complete-write window.
const PART: usize = 100;

/// `3 * PART` workflows on `main`, and a branch `feature` off it with two
/// commits: one changing the first `PART`, one the next `PART`.
fn repo_with_feature() -> TestRepo {
    let repo = TestRepo::new();
    let files: Vec<(String, String)> = (0..3 * PART)
        .map(|i| (path(i), workflow(&format!("W{i}"), 5)))
        .collect();
    repo.commit_made(&files, "the workflows");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    for part in [0..PART, PART..2 * PART] {
        let files: Vec<(String, String)> = part
            .map(|i| (path(i), workflow(&format!("W{i} on feature"), 6)))
            .collect();
        repo.commit_made(&files, "feature change");
    }
    repo.git(&["checkout", "-q", "main"]);
    repo
}

/// [`repo_with_feature`] with a 200 ms complete-write window, so a busy
/// machine pausing a writer cannot split what a test writes back to back.
fn repo_with_wide_window() -> TestRepo {
    let repo = repo_with_feature();
    repo.commit(
        &[("config/hot_reload.yaml", "complete_write_ms: 200\n")],
        "a wide complete-write window",
    );
    repo
}

/// A commit on `main` changing the last `PART`, so merges and rebases have
/// work.
fn diverge_main(repo: &TestRepo) {
    let files: Vec<(String, String)> = (2 * PART..3 * PART)
        .map(|i| (path(i), workflow(&format!("W{i} on main"), 7)))
        .collect();
    repo.commit_made(&files, "main change");
}

/// Runs `op` on a served repository and checks it made exactly one
/// revision changing `changed` workflows, with no errors, serving the disk.
async fn one_revision(repo: &TestRepo, changed: usize, op: impl FnOnce(&TestRepo)) {
    let mut s = Served::start(repo).await;
    op(repo);
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    let e = &events[0];
    assert!(e.errors.is_empty(), "errors: {:?}", e.errors);
    assert_eq!(e.patches.len(), changed, "{:#?}", summaries(&events));
    assert!(e.patches.iter().all(|p| p.op == PatchKind::Modified));
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_checkout_is_one_revision() {
    let repo = repo_with_feature();
    one_revision(&repo, 2 * PART, |r| {
        r.git(&["checkout", "-q", "feature"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_switch_is_one_revision() {
    let repo = repo_with_feature();
    one_revision(&repo, 2 * PART, |r| {
        r.git(&["switch", "-q", "feature"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_reset_hard_is_one_revision() {
    let repo = repo_with_feature();
    one_revision(&repo, 2 * PART, |r| {
        r.git(&["reset", "-q", "--hard", "feature"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_pull_ff_only_from_a_second_clone_is_one_revision() {
    let repo = repo_with_feature();
    let other = tempfile::tempdir().unwrap();
    let root = repo.root.to_str().unwrap();
    support::git(other.path(), &["clone", "-q", root, "clone"]);
    let clone = other.path().join("clone");
    for i in 0..2 * PART {
        std::fs::write(clone.join(path(i)), workflow(&format!("W{i} pulled"), 8)).unwrap();
    }
    support::git(&clone, &["commit", "-q", "-a", "-m", "change some"]);
    let clone = clone.to_str().unwrap().to_string();
    one_revision(&repo, 2 * PART, |r| {
        r.git(&["pull", "-q", "--ff-only", &clone, "main"]);
    })
    .await;
    assert_eq!(
        repo.git(&["show", "HEAD:workflows/w0.yaml"]).lines().next(),
        Some("name: W0 pulled")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_merge_is_one_revision() {
    let repo = repo_with_feature();
    diverge_main(&repo);
    one_revision(&repo, 2 * PART, |r| {
        r.git(&["merge", "-q", "--no-edit", "feature"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_rebase_is_one_revision() {
    let repo = repo_with_feature();
    diverge_main(&repo);
    repo.git(&["checkout", "-q", "feature"]);
    // Two commits replayed on main: main's part changes, feature's ends as
    // it was.
    one_revision(&repo, PART, |r| {
        r.git(&["rebase", "-q", "main"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_cherry_pick_of_two_commits_is_one_revision() {
    let repo = repo_with_feature();
    one_revision(&repo, 2 * PART, |r| {
        r.git(&["cherry-pick", "main..feature"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_stash_and_stash_pop_are_one_revision_each() {
    let repo = repo_with_feature();
    let mut s = Served::start(&repo).await;
    for i in 0..2 * PART {
        repo.write(&path(i), &workflow(&format!("W{i} edited"), 9));
    }
    // The edits themselves: however many revisions, they end on the disk.
    s.settle(true).await;
    assert_serves_disk(s.engine(), &repo.root);
    for op in [&["stash", "-q"][..], &["stash", "pop", "-q"][..]] {
        repo.git(op);
        let events = s.settle(true).await;
        assert_eq!(events.len(), 1, "{op:?}: {:#?}", summaries(&events));
        assert_eq!(events[0].patches.len(), 2 * PART, "{op:?}");
        assert_serves_disk(s.engine(), &repo.root);
    }
    assert_eq!(served_name(s.engine(), "w0").as_deref(), Some("W0 edited"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_redirect_save_is_one_revision() {
    let repo = repo_with_feature();
    one_revision(&repo, 1, |r| {
        let status = Command::new("sh")
            .args(["-c", "echo \"$1\" > \"$2\"", "sh"])
            .arg(workflow("W0 echoed", 4).trim_end())
            .arg(r.root.join(path(0)))
            .status()
            .unwrap();
        assert!(status.success());
    })
    .await;
    let text = std::fs::read_to_string(repo.root.join(path(0))).unwrap();
    assert!(text.starts_with("name: W0 echoed\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_into_place_save_is_one_revision() {
    let repo = repo_with_feature();
    one_revision(&repo, 1, |r| {
        let tmp = r.root.join("w0.yaml.saving");
        std::fs::write(&tmp, workflow("W0 renamed in", 4)).unwrap();
        std::fs::rename(&tmp, r.root.join(path(0))).unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_then_slow_write_is_never_served_half_written() {
    let repo = repo_with_feature();
    let mut s = Served::start(&repo).await;
    let text = workflow("W0 written slowly", 4);
    let (head, tail) = text.split_at(text.len() / 2);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(repo.root.join(path(0)))
        .unwrap();
    file.write_all(head.as_bytes()).unwrap();
    file.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    file.write_all(tail.as_bytes()).unwrap();
    drop(file);
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    assert!(events[0].errors.is_empty(), "{:?}", events[0].errors);
    assert_eq!(
        served_name(s.engine(), "w0").as_deref(),
        Some("W0 written slowly")
    );
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

/// Ten files written back to back by one process, as an editor's "save
/// all" does: one revision. The window is widened for the test so a busy
/// machine pausing the writer between two files cannot split it; the
/// bench reports what the default window gives (BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_all_of_ten_files_is_one_revision() {
    let repo = repo_with_wide_window();
    one_revision(&repo, 10, |r| {
        for i in 0..10 {
            std::fs::write(r.root.join(path(i)), workflow(&format!("W{i} saved"), 4)).unwrap();
        }
    })
    .await;
}

/// A save is applied during its window and published when the window
/// ends: a second save of the same file inside the window (here 200 ms,
/// the second save 30 ms after the first, when the first is surely applied
/// and waiting) withdraws what was applied, so clients see one revision
/// with the second content and never the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_save_within_the_window_replaces_the_first() {
    let repo = repo_with_wide_window();
    let mut s = Served::start(&repo).await;
    let file = repo.root.join(path(0));
    std::fs::write(&file, workflow("W0 first", 4)).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    std::fs::write(&file, workflow("W0 second", 4)).unwrap();
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    let frame = format!("{:?}", events[0].patches);
    assert!(
        !frame.contains("W0 first"),
        "the withdrawn save leaked: {frame}"
    );
    assert_eq!(served_name(s.engine(), "w0").as_deref(), Some("W0 second"));
    assert_serves_disk(s.engine(), &repo.root);
    // A save after the window is a revision of its own, on top.
    std::fs::write(&file, workflow("W0 third", 4)).unwrap();
    assert_eq!(s.settle(true).await.len(), 1);
    assert_eq!(served_name(s.engine(), "w0").as_deref(), Some("W0 third"));
    s.stop().await;
}

/// `sed -i` over 50 files (each written to a temp file and renamed into
/// place): however many revisions it makes, every one is whole and the
/// served state ends equal to the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sed_in_place_over_fifty_files_serves_the_disk() {
    let repo = repo_with_feature();
    let mut s = Served::start(&repo).await;
    let files: Vec<String> = (0..50).map(path).collect();
    let status = Command::new("sed")
        .args(["-i", "s/^name: W\\([0-9]*\\)$/name: W\\1 by sed/"])
        .args(&files)
        .current_dir(&repo.root)
        .status()
        .unwrap();
    assert!(status.success());
    let events = s.settle(true).await;
    let mut patched = std::collections::BTreeSet::new();
    for e in &events {
        assert!(e.errors.is_empty(), "errors: {:?}", e.errors);
        for p in &e.patches {
            assert_eq!(p.op, PatchKind::Modified, "{:#?}", summaries(&events));
            patched.insert(p.id.clone());
        }
    }
    assert_eq!(patched.len(), 50, "{:#?}", summaries(&events));
    assert_eq!(served_name(s.engine(), "w7").as_deref(), Some("W7 by sed"));
    assert_serves_disk(s.engine(), &repo.root);
    s.stop().await;
}

/// `/status` names the deadline that applied the last revision: a save
/// goes after the complete-write window, a checkout after git's lock and
/// the quiet period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_the_trigger_of_the_last_revision() {
    let repo = repo_with_feature();
    let mut s = Served::start(&repo).await;
    let trigger = |s: &Served| s.engine().status().last.and_then(|l| l.timings.trigger);
    assert_eq!(trigger(&s), None, "startup is not a watcher trigger");
    std::fs::write(repo.root.join(path(2 * PART)), workflow("W saved", 4)).unwrap();
    assert_eq!(s.settle(true).await.len(), 1);
    assert_eq!(trigger(&s), Some(Trigger::CompleteWrite));
    repo.git(&["checkout", "-q", "feature"]);
    s.settle(true).await;
    assert_eq!(trigger(&s), Some(Trigger::QuietPeriod));
    s.stop().await;
}
