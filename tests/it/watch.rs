//! watch stage, end to end: a real temp dir, the real watcher, real batches.
//!
//! Timeouts here are failure guards, not performance assertions: a test
//! waits a few seconds at most for a batch it expects, and a short quiet
//! window to show that no further batch comes.

use std::fs;
use std::path::Path;
use std::time::Duration;

use qa_reload::watch::{self, Batch, RescanReason, WatchConfig, WatchHandle};
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// Long enough for any batch to arrive on a loaded CI machine.
const GUARD: Duration = Duration::from_secs(5);
/// After a batch, how long to listen for a (wrong) second one: more than the
/// 300 ms max-wait cap.
const QUIET: Duration = Duration::from_millis(600);

struct Fixture {
    dir: TempDir,
    rx: mpsc::Receiver<Batch>,
    handle: WatchHandle,
    shutdown: CancellationToken,
}

impl Fixture {
    /// A repo-like folder with `workflows/`, `config/` and a bare-bones
    /// `.git` dir (enough for the watcher, which reads no git objects).
    fn new(poll: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("workflows")).unwrap();
        fs::create_dir_all(root.join("config")).unwrap();
        fs::create_dir_all(root.join(".git/refs/heads")).unwrap();
        fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        fs::write(root.join("workflows/x.yaml"), "name: X\n").unwrap();
        let mut config = WatchConfig::new(root);
        config.git_dir = Some(root.join(".git"));
        let (tx, rx) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let handle = if poll {
            watch::spawn_polling(config, tx, shutdown.clone()).unwrap()
        } else {
            watch::spawn(config, tx, shutdown.clone()).unwrap()
        };
        Fixture {
            dir,
            rx,
            handle,
            shutdown,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    async fn next(&mut self) -> Batch {
        timeout(GUARD, self.rx.recv())
            .await
            .expect("a batch within the guard time")
            .expect("watcher running")
    }

    /// Asserts that no batch comes for a while.
    async fn assert_quiet(&mut self) {
        if let Ok(batch) = timeout(QUIET, self.rx.recv()).await {
            panic!("unexpected batch: {batch:?}");
        }
    }

    /// Batches until one names `path`; fails after the guard time.
    async fn until_path(&mut self, path: &str) -> Batch {
        let found = timeout(GUARD, async {
            loop {
                let batch = self.rx.recv().await.expect("watcher running");
                if batch.paths.contains(path) {
                    return batch;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no batch named {path}"))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn paths(batch: &Batch) -> Vec<&str> {
    batch.paths.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn write_temp_then_rename_is_one_batch_with_the_target() {
    let mut f = Fixture::new(false);
    let tmp = f.root().join("workflows/.x.yaml.tmp123");
    fs::write(&tmp, "name: X2\n").unwrap();
    fs::rename(&tmp, f.root().join("workflows/x.yaml")).unwrap();
    let batch = f.next().await;
    assert_eq!(paths(&batch), ["workflows/x.yaml"]);
    assert!(!batch.git_changed);
    assert_eq!(batch.rescan, None);
    f.assert_quiet().await;
}

#[tokio::test]
async fn vim_style_save_is_one_batch() {
    let mut f = Fixture::new(false);
    let target = f.root().join("workflows/x.yaml");
    let backup = f.root().join("workflows/x.yaml~");
    fs::rename(&target, &backup).unwrap();
    fs::write(&target, "name: X2\n").unwrap();
    fs::remove_file(&backup).unwrap();
    let batch = f.next().await;
    assert_eq!(paths(&batch), ["workflows/x.yaml"]);
    f.assert_quiet().await;
}

#[tokio::test]
async fn a_file_written_right_after_mkdir_p_is_seen() {
    let mut f = Fixture::new(false);
    let deep = f.root().join("workflows/a/b/c");
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("deep.yaml"), "name: Deep\n").unwrap();
    f.until_path("workflows/a/b/c/deep.yaml").await;
}

#[tokio::test]
async fn a_swap_file_created_and_deleted_makes_no_batch() {
    let mut f = Fixture::new(false);
    let swp = f.root().join("workflows/.x.yaml.swp");
    fs::write(&swp, "swap").unwrap();
    fs::remove_file(&swp).unwrap();
    fs::write(f.root().join("workflows/4913"), "").unwrap();
    fs::remove_file(f.root().join("workflows/4913")).unwrap();
    f.assert_quiet().await;
}

#[tokio::test]
async fn index_lock_holds_the_batch_until_it_goes_away() {
    let mut f = Fixture::new(false);
    let lock = f.root().join(".git/index.lock");
    fs::write(&lock, "").unwrap();
    fs::write(f.root().join("workflows/x.yaml"), "name: X2\n").unwrap();
    fs::write(f.root().join("workflows/y.yaml"), "name: Y\n").unwrap();
    // Well past max-wait: still held.
    f.assert_quiet().await;
    fs::write(f.root().join("workflows/z.yaml"), "name: Z\n").unwrap();
    fs::write(f.root().join(".git/index"), "new index").unwrap();
    fs::remove_file(&lock).unwrap();
    let batch = f.next().await;
    assert_eq!(
        paths(&batch),
        ["workflows/x.yaml", "workflows/y.yaml", "workflows/z.yaml"]
    );
    assert!(batch.git_changed);
    f.assert_quiet().await;
}

#[tokio::test]
async fn a_recreated_workflows_dir_is_watched_again() {
    let mut f = Fixture::new(false);
    let workflows = f.root().join("workflows");
    fs::remove_dir_all(&workflows).unwrap();
    f.until_path("workflows/x.yaml").await;
    fs::create_dir(&workflows).unwrap();
    fs::write(workflows.join("new.yaml"), "name: New\n").unwrap();
    f.until_path("workflows/new.yaml").await;
    // And later edits in it are seen through its new watch.
    tokio::time::sleep(Duration::from_millis(100)).await;
    fs::write(workflows.join("later.yaml"), "name: Later\n").unwrap();
    f.until_path("workflows/later.yaml").await;
}

#[tokio::test]
async fn head_and_branch_refs_set_git_changed() {
    let mut f = Fixture::new(false);
    fs::write(f.root().join(".git/HEAD"), "ref: refs/heads/other\n").unwrap();
    fs::write(f.root().join(".git/refs/heads/other"), "0".repeat(40)).unwrap();
    let batch = f.next().await;
    assert!(batch.git_changed);
    assert!(batch.paths.is_empty());
}

#[tokio::test]
async fn a_requested_rescan_passes_through() {
    let mut f = Fixture::new(false);
    f.handle.request_rescan(RescanReason::Overflow).unwrap();
    let batch = f.next().await;
    assert_eq!(batch.rescan, Some(RescanReason::Overflow));
    let status = f.handle.status();
    assert_eq!(status.rescans, 1);
    assert_eq!(status.batches, 1);
}

#[tokio::test]
async fn updated_globs_apply_to_the_next_event() {
    let mut f = Fixture::new(false);
    f.handle
        .update(watch::WatchSettings {
            debounce: Duration::from_millis(20),
            max_wait: Duration::from_millis(200),
            complete_write: Duration::from_millis(2),
            watch: vec!["workflows/**/*.yaml".to_string()],
            ignore: vec!["workflows/drafts/**".to_string()],
        })
        .unwrap();
    assert!(
        f.handle
            .update(watch::WatchSettings {
                debounce: Duration::from_millis(20),
                max_wait: Duration::from_millis(200),
                complete_write: Duration::from_millis(2),
                watch: vec!["workflows/[".to_string()],
                ignore: vec![],
            })
            .is_err()
    );
    // Give the driver the settings before the events.
    tokio::time::sleep(Duration::from_millis(50)).await;
    fs::create_dir(f.root().join("workflows/drafts")).unwrap();
    fs::write(f.root().join("workflows/drafts/d.yaml"), "name: D\n").unwrap();
    fs::write(f.root().join("workflows/kept.yaml"), "name: K\n").unwrap();
    let batch = f.until_path("workflows/kept.yaml").await;
    assert!(!batch.paths.contains("workflows/drafts/d.yaml"));
}

#[tokio::test]
async fn the_poll_fallback_reports_changes_and_says_so() {
    let mut f = Fixture::new(true);
    assert_eq!(f.handle.backend(), "poll");
    assert!(f.handle.healthy());
    fs::write(f.root().join("workflows/polled.yaml"), "name: P\n").unwrap();
    f.until_path("workflows/polled.yaml").await;
}

#[tokio::test]
async fn the_native_backend_is_reported() {
    let f = Fixture::new(false);
    let status = f.handle.status();
    if cfg!(target_os = "linux") {
        assert_eq!(status.backend, "inotify");
    }
    assert!(status.healthy);
    assert_eq!(status.fallback, None);
}

#[tokio::test]
async fn a_directory_moved_away_asks_for_a_rescan() {
    let mut f = Fixture::new(false);
    fs::create_dir_all(f.root().join("workflows/team")).unwrap();
    fs::write(f.root().join("workflows/team/t.yaml"), "name: T\n").unwrap();
    f.until_path("workflows/team/t.yaml").await;
    let outside = tempfile::tempdir().unwrap();
    fs::rename(f.root().join("workflows/team"), outside.path().join("team")).unwrap();
    let batch = f.next().await;
    assert_eq!(batch.rescan, Some(RescanReason::NewDirectory));
}

/// Kubernetes mounts a ConfigMap as `file -> ..data/file`, `..data -> ..<ts>`,
/// and updates it by renaming a new `..data` link over the old one.
#[cfg(unix)]
#[tokio::test]
async fn a_kubernetes_style_data_symlink_swap_names_the_files_behind_it() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    fs::create_dir_all(config.join("..2024_01")).unwrap();
    fs::write(
        config.join("..2024_01/jira_config.yaml"),
        "enabled: false\n",
    )
    .unwrap();
    symlink("..2024_01", config.join("..data")).unwrap();
    symlink("..data/jira_config.yaml", config.join("jira_config.yaml")).unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let _handle = watch::spawn(WatchConfig::new(dir.path()), tx, shutdown.clone()).unwrap();

    fs::create_dir(config.join("..2024_02")).unwrap();
    fs::write(config.join("..2024_02/jira_config.yaml"), "enabled: true\n").unwrap();
    symlink("..2024_02", config.join("..data_tmp")).unwrap();
    fs::rename(config.join("..data_tmp"), config.join("..data")).unwrap();
    fs::remove_dir_all(config.join("..2024_01")).unwrap();

    let batch = timeout(GUARD, rx.recv()).await.unwrap().unwrap();
    assert_eq!(paths(&batch), ["config/jira_config.yaml"]);
    assert!(timeout(QUIET, rx.recv()).await.is_err(), "one batch");
    shutdown.cancel();
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=qa", "-c", "user.email=qa@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[tokio::test]
async fn a_git_checkout_is_one_batch_naming_every_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    fs::create_dir_all(root.join("workflows")).unwrap();
    for i in 0..200 {
        fs::write(
            root.join(format!("workflows/w{i}.yaml")),
            format!("name: W{i}\n"),
        )
        .unwrap();
    }
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "main"]);
    git(root, &["checkout", "-qb", "other"]);
    fs::create_dir_all(root.join("workflows/new/deep")).unwrap();
    for i in 0..200 {
        fs::write(
            root.join(format!("workflows/w{i}.yaml")),
            format!("name: Other {i}\n"),
        )
        .unwrap();
    }
    fs::write(root.join("workflows/new/deep/n.yaml"), "name: N\n").unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "other"]);
    git(root, &["checkout", "-q", "main"]);

    let mut config = WatchConfig::new(root);
    config.git_dir = Some(root.join(".git"));
    let (tx, mut rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let _handle = watch::spawn(config, tx, shutdown.clone()).unwrap();

    git(root, &["checkout", "-q", "other"]);
    let batch = timeout(GUARD, rx.recv()).await.unwrap().unwrap();
    assert!(batch.git_changed);
    assert!(
        batch.paths.contains("workflows/new/deep/n.yaml"),
        "{batch:?}"
    );
    for i in 0..200 {
        assert!(
            batch.paths.contains(&format!("workflows/w{i}.yaml")),
            "w{i}"
        );
    }
    assert!(timeout(QUIET, rx.recv()).await.is_err(), "one batch");
    shutdown.cancel();
}
