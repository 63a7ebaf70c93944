//! Stage `git`, tested against real repositories made with the `git` CLI.
//!
//! May not: depend on the user's git configuration (system and global config
//! are switched off for every `git` call) or on the network.

use qa_reload::git::{GitRepo, Head, HeadMove};

use crate::support;
use crate::util::TestRepo;

#[test]
fn discover_outside_a_repository_is_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let found = GitRepo::discover(dir.path()).expect("no error");
    assert!(found.is_none(), "{found:?}");
}

#[test]
fn discover_from_a_subfolder_finds_the_root() {
    let repo = TestRepo::new();
    repo.write("workflows/sub/a.yaml", "x: 1\n");
    let git = GitRepo::discover(&repo.root.join("workflows/sub"))
        .expect("discover")
        .expect("repo");
    assert_eq!(
        git.workdir().canonicalize().expect("canon"),
        repo.root.canonicalize().expect("canon")
    );
    assert_eq!(git.git_dir(), git.common_dir());
}

#[test]
fn head_on_an_unborn_branch_has_no_commit() {
    let repo = TestRepo::new();
    let head = repo.open().head().expect("head");
    assert_eq!(
        head,
        Head {
            branch: Some("main".into()),
            commit: None
        }
    );
}

#[test]
fn head_after_a_commit() {
    let repo = TestRepo::new();
    let id = repo.commit(&[("workflows/a.yaml", "a: 1\n")], "first");
    let head = repo.open().head().expect("head");
    assert_eq!(head.branch.as_deref(), Some("main"));
    assert_eq!(head.commit.as_deref(), Some(id.as_str()));
    assert_eq!(id.len(), 40);
}

#[test]
fn head_detached() {
    let repo = TestRepo::new();
    let first = repo.commit(&[("a.txt", "1\n")], "first");
    repo.commit(&[("a.txt", "2\n")], "second");
    repo.git(&["checkout", "-q", "--detach", &first]);
    let head = repo.open().head().expect("head");
    assert_eq!(
        head,
        Head {
            branch: None,
            commit: Some(first)
        }
    );
}

#[test]
fn read_files_at_revisions() {
    let repo = TestRepo::new();
    repo.commit(
        &[
            ("workflows/a.yaml", "a: 1\n"),
            ("workflows/nested/b.yml", "b: 1\n"),
            ("config/jira_config.yaml", "enabled: true\n"),
            ("src/other.txt", "not read\n"),
        ],
        "first",
    );
    repo.git(&["branch", "old"]);
    repo.commit(
        &[
            ("workflows/a.yaml", "a: 2\n"),
            ("workflows/c.yaml", "c: 1\n"),
        ],
        "second",
    );
    std::os::unix::fs::symlink("a.yaml", repo.root.join("workflows/link.yaml")).expect("symlink");
    repo.commit(&[], "add a symlink");
    let git = repo.open();

    let head = git
        .read_files_at("HEAD", &["workflows", "config"])
        .expect("HEAD")
        .0;
    let keys: Vec<&str> = head.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "config/jira_config.yaml",
            "workflows/a.yaml",
            "workflows/c.yaml",
            "workflows/nested/b.yml"
        ]
    );
    assert_eq!(head["workflows/a.yaml"], b"a: 2\n");

    let previous = git
        .read_files_at("HEAD~2", &["workflows"])
        .expect("HEAD~2")
        .0;
    assert_eq!(previous["workflows/a.yaml"], b"a: 1\n");
    assert!(!previous.contains_key("workflows/c.yaml"));

    let branch = git
        .read_files_at("old", &["workflows", "missing"])
        .expect("branch")
        .0;
    assert_eq!(branch, previous);

    let short = repo.git(&["rev-parse", "--short", "HEAD"]);
    let mut workflows_only = head.clone();
    workflows_only.remove("config/jira_config.yaml");
    assert_eq!(
        git.read_files_at(&short, &["workflows"])
            .expect("short hash")
            .0,
        workflows_only
    );

    let err = git
        .read_files_at("no-such-branch", &["workflows"])
        .expect_err("unknown rev");
    let message = err.to_string();
    assert!(
        message.starts_with("unknown revision \"no-such-branch\""),
        "{message}"
    );
}

#[test]
fn changed_paths_only_reports_files_under_the_roots() {
    let repo = TestRepo::new();
    let old = repo.commit(
        &[
            ("workflows/a.yaml", "a: 1\n"),
            ("workflows/keep.yaml", "k: 1\n"),
            ("config/jira_config.yaml", "enabled: true\n"),
            ("README.md", "hello\n"),
        ],
        "first",
    );
    repo.git(&["rm", "-q", "workflows/keep.yaml"]);
    let new = repo.commit(
        &[
            ("workflows/a.yaml", "a: 2\n"),
            ("workflows/deep/new.yaml", "n: 1\n"),
            ("README.md", "changed\n"),
        ],
        "second",
    );
    let git = repo.open();
    let changed = git
        .changed_paths(&old, &new, &["workflows", "config"])
        .expect("diff");
    assert_eq!(
        changed,
        [
            "workflows/a.yaml",
            "workflows/deep/new.yaml",
            "workflows/keep.yaml"
        ]
    );
    assert!(
        git.changed_paths(&new, &new, &["workflows"])
            .expect("same")
            .is_empty()
    );
    let back = git
        .changed_paths(&new, &old, &["workflows"])
        .expect("reverse");
    assert_eq!(back, changed);
}

#[test]
fn differs_from_head_compares_with_the_committed_blob() {
    let repo = TestRepo::new();
    repo.commit(&[("workflows/a.yaml", "a: 1\nb: 2\n")], "first");
    let git = repo.open();
    assert!(
        !git.differs_from_head("workflows/a.yaml", b"a: 1\nb: 2\n")
            .expect("same")
    );
    assert!(
        git.differs_from_head("workflows/a.yaml", b"a: 1\nb: 3\n")
            .expect("changed")
    );
    assert!(
        git.differs_from_head("workflows/new.yaml", b"a: 1\n")
            .expect("new file")
    );
    assert!(
        git.differs_from_head("workflows", b"")
            .expect("a folder is no file")
    );

    // The cache follows HEAD: after a commit the new content is the base.
    repo.commit(&[("workflows/a.yaml", "a: 1\nb: 3\n")], "second");
    assert!(
        !git.differs_from_head("workflows/a.yaml", b"a: 1\nb: 3\n")
            .expect("after commit")
    );
}

/// Within a pass HEAD is looked at once, at the first question; when the
/// pass ends, every answer checks HEAD again.
#[test]
fn a_pass_checks_head_once_and_ends_when_dropped() {
    let repo = TestRepo::new();
    repo.commit(&[("workflows/a.yaml", "a: 1\n")], "first");
    let git = repo.open();
    let pass = git.pass();
    assert!(
        !git.differs_from_head("workflows/a.yaml", b"a: 1\n")
            .expect("same")
    );
    repo.commit(&[("workflows/a.yaml", "a: 2\n")], "second");
    assert!(
        git.differs_from_head("workflows/a.yaml", b"a: 2\n")
            .expect("still against the HEAD the pass saw")
    );
    drop(pass);
    assert!(
        !git.differs_from_head("workflows/a.yaml", b"a: 2\n")
            .expect("the new HEAD once the pass ended")
    );
    // A new pass sees the HEAD of its time.
    let _pass = git.pass();
    assert!(
        git.differs_from_head("workflows/a.yaml", b"a: 1\n")
            .expect("old content")
    );
}

#[test]
fn differs_from_head_on_an_unborn_branch() {
    let repo = TestRepo::new();
    assert!(
        repo.open()
            .differs_from_head("workflows/a.yaml", b"a: 1\n")
            .expect("unborn")
    );
}

#[test]
fn differs_from_head_applies_autocrlf() {
    let repo = TestRepo::new();
    repo.commit(&[("workflows/a.yaml", "a: 1\nb: 2\n")], "first");
    repo.git(&["config", "core.autocrlf", "true"]);
    let git = repo.open();
    assert!(
        !git.differs_from_head("workflows/a.yaml", b"a: 1\r\nb: 2\r\n")
            .expect("crlf")
    );
    assert!(
        git.differs_from_head("workflows/a.yaml", b"a: 1\r\nb: 3\r\n")
            .expect("changed")
    );
}

#[test]
fn differs_from_head_applies_gitattributes_eol() {
    let repo = TestRepo::new();
    repo.commit(
        &[
            (".gitattributes", "*.yaml text eol=crlf\n"),
            ("workflows/a.yaml", "a: 1\n"),
        ],
        "first",
    );
    let git = repo.open();
    assert!(
        !git.differs_from_head("workflows/a.yaml", b"a: 1\r\n")
            .expect("crlf")
    );
}

#[test]
fn is_ignored_follows_gitignore() {
    let repo = TestRepo::new();
    repo.commit(
        &[
            (".gitignore", "*.tmp\nscratch/\n!keep.tmp\n"),
            ("workflows/a.yaml", "a: 1\n"),
        ],
        "first",
    );
    repo.write("workflows/nested/.gitignore", "local.yaml\n");
    let git = repo.open();
    let table = [
        ("workflows/a.yaml", false),
        ("workflows/a.yaml.tmp", true),
        ("workflows/keep.tmp", false),
        ("scratch/x.yaml", true),
        ("workflows/scratch/x.yaml", true),
        ("workflows/nested/local.yaml", true),
        ("workflows/local.yaml", false),
    ];
    for (path, expect) in table {
        assert_eq!(git.is_ignored(path).expect("is_ignored"), expect, "{path}");
    }

    // An edit of the top-level .gitignore is picked up without help.
    repo.write(".gitignore", "*.tmp\nscratch/\n!keep.tmp\n*.bak.yaml\n");
    assert!(git.is_ignored("workflows/a.bak.yaml").expect("new rule"));
}

#[test]
fn is_ignored_follows_info_exclude() {
    let repo = TestRepo::new();
    std::fs::write(repo.root.join(".git/info/exclude"), "private/\n").expect("write exclude");
    let git = repo.open();
    assert!(git.is_ignored("private/x.yaml").expect("excluded"));
    assert!(!git.is_ignored("workflows/x.yaml").expect("not excluded"));
}

#[test]
fn classify_head_move_from_the_reflog() {
    let repo = TestRepo::new();
    repo.commit(&[("workflows/a.yaml", "a: 1\n")], "first");
    let git = repo.open();
    let mut head = git.head().expect("head");
    let mut step = |args: &[&str]| {
        repo.git(args);
        let next = git.head().expect("head");
        let kind = git.classify_head_move(&head, &next);
        head = next;
        kind
    };

    assert_eq!(step(&["checkout", "-q", "-b", "x"]), HeadMove::BranchSwitch);
    assert_eq!(step(&["checkout", "-q", "main"]), HeadMove::BranchSwitch);
    std::fs::write(repo.root.join("workflows/a.yaml"), "a: 2\n").expect("edit");
    assert_eq!(step(&["commit", "-q", "-am", "second"]), HeadMove::Commit);
    assert_eq!(
        step(&["commit", "-q", "--amend", "-m", "second, amended"]),
        HeadMove::Commit
    );
    assert_eq!(step(&["reset", "-q", "--hard", "HEAD~1"]), HeadMove::Reset);
    assert_eq!(step(&["switch", "-q", "x"]), HeadMove::BranchSwitch);

    std::fs::write(repo.root.join("workflows/x.yaml"), "x: 1\n").expect("edit");
    repo.git(&["add", "-A"]);
    assert_eq!(step(&["commit", "-q", "-m", "on x"]), HeadMove::Commit);
    assert_eq!(step(&["switch", "-q", "main"]), HeadMove::BranchSwitch);
    std::fs::write(repo.root.join("workflows/m.yaml"), "m: 1\n").expect("edit");
    repo.git(&["add", "-A"]);
    assert_eq!(step(&["commit", "-q", "-m", "on main"]), HeadMove::Commit);
    assert_eq!(step(&["switch", "-q", "x"]), HeadMove::BranchSwitch);
    assert_eq!(step(&["rebase", "-q", "main"]), HeadMove::Rebase);
    assert_eq!(step(&["switch", "-q", "main"]), HeadMove::BranchSwitch);
    assert_eq!(step(&["merge", "-q", "--ff-only", "x"]), HeadMove::Merge);
}

#[test]
fn classify_head_move_without_a_reflog_falls_back_to_branches() {
    let repo = TestRepo::new();
    repo.git(&["config", "core.logAllRefUpdates", "false"]);
    let first = repo.commit(&[("a.txt", "1\n")], "first");
    let git = repo.open();
    let on = |branch: &str, commit: &str| Head {
        branch: Some(branch.into()),
        commit: Some(commit.into()),
    };
    let second = repo.commit(&[("a.txt", "2\n")], "second");
    assert_eq!(
        git.classify_head_move(&on("main", &first), &on("main", &second)),
        HeadMove::Commit
    );
    assert_eq!(
        git.classify_head_move(&on("main", &second), &on("other", &second)),
        HeadMove::BranchSwitch
    );
    assert_eq!(
        git.classify_head_move(&on("main", &second), &on("main", &first)),
        HeadMove::Other
    );
}

#[test]
fn linked_worktree_is_discovered_and_its_head_read() {
    let repo = TestRepo::new();
    repo.commit(&[("workflows/a.yaml", "a: 1\n")], "first");
    let linked = repo.root.parent().expect("parent").join("linked");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "feature",
        linked.to_str().expect("utf-8"),
    ]);
    let id = support::git(&linked, &["rev-parse", "HEAD"]);

    let git = GitRepo::discover(&linked)
        .expect("discover")
        .expect("a repository");
    let head = git.head().expect("head");
    assert_eq!(head.branch.as_deref(), Some("feature"));
    assert_eq!(head.commit.as_deref(), Some(id.as_str()));
    assert_ne!(git.git_dir(), git.common_dir());
    assert!(git.git_dir().starts_with(git.common_dir()), "{git:?}");
    assert!(repo.root.join(".git").is_dir() && linked.join(".git").is_file());
    assert_eq!(
        git.read_files_at("HEAD", &["workflows"]).expect("read").0["workflows/a.yaml"],
        b"a: 1\n"
    );

    let before = git.head().expect("head");
    std::fs::write(linked.join("workflows/a.yaml"), "a: 2\n").expect("edit");
    support::git(&linked, &["commit", "-q", "-am", "in the linked worktree"]);
    let after = git.head().expect("head");
    assert_eq!(git.classify_head_move(&before, &after), HeadMove::Commit);
    assert!(
        !git.differs_from_head("workflows/a.yaml", b"a: 2\n")
            .expect("differs")
    );
    assert_eq!(
        repo.open().head().expect("main head").branch.as_deref(),
        Some("main")
    );

    std::fs::write(git.git_dir().join("index.lock"), b"").expect("lock");
    assert!(git.operation_in_progress());
    assert!(
        !repo.open().operation_in_progress(),
        "a lock in one worktree does not hold the other"
    );
}

#[test]
fn operation_in_progress_sees_index_lock_and_merges() {
    let repo = TestRepo::new();
    repo.commit(&[("a.txt", "1\n")], "first");
    let git = repo.open();
    assert!(!git.operation_in_progress());

    let lock = git.git_dir().join("index.lock");
    std::fs::write(&lock, b"").expect("lock");
    assert!(git.operation_in_progress());
    std::fs::remove_file(&lock).expect("unlock");
    assert!(!git.operation_in_progress());

    std::fs::write(git.git_dir().join("MERGE_HEAD"), b"").expect("merge head");
    assert!(git.operation_in_progress());
}

#[test]
fn invalid_paths_are_refused() {
    let repo = TestRepo::new();
    let git = repo.open();
    let err = git.is_ignored("../outside").expect_err("refused");
    assert!(
        err.to_string().contains("is not a repo-relative path"),
        "{err}"
    );
}

/// Every fetch that brings objects adds a pack to the mirror; gix sizes
/// its pack slots once, at open. A mirror taking more packs than it was
/// opened for is opened again with room, and keeps fetching.
#[test]
fn a_mirror_keeps_fetching_past_the_pack_slots_it_opened_with() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bare = dir.path().join("remote.git");
    let work = dir.path().join("work");
    support::git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "remote.git"],
    );
    support::git(dir.path(), &["init", "-q", "-b", "main", "work"]);
    support::git(
        &work,
        &["remote", "add", "origin", bare.to_str().expect("utf-8")],
    );
    let mirror = qa_reload::git::Mirror::open_with_slots(
        &dir.path().join("mirror.git"),
        bare.to_str().expect("utf-8"),
        "main",
        4,
    )
    .expect("mirror");
    assert_eq!(mirror.slots(), 4);
    for i in 0..12 {
        std::fs::create_dir_all(work.join("workflows")).expect("mkdir");
        std::fs::write(
            work.join(format!("workflows/w{i}.yaml")),
            format!("name: W{i}\n"),
        )
        .expect("write");
        support::git(&work, &["add", "-A"]);
        support::git(&work, &["commit", "-q", "-m", &format!("commit {i}")]);
        support::git(&work, &["push", "-q", "origin", "HEAD:main"]);
        let pushed = support::git(&work, &["rev-parse", "HEAD"]);
        let fetched = mirror
            .fetch()
            .unwrap_or_else(|e| panic!("fetch {i} failed: {e}"));
        assert_eq!(fetched, pushed, "fetch {i}");
        let info = mirror.commit(&fetched).expect("commit readable");
        assert_eq!(info.subject, format!("commit {i}"));
    }
    assert!(mirror.slots() > 4, "never opened again: {}", mirror.slots());
}
