//! One set of globs: `check`, `diff` and the pre-commit hook read the
//! `watch`/`ignore` globs of `config/hot_reload.yaml` as `serve` does (the
//! real binary, as a user runs it), and the settings file itself is always
//! watched, whatever its globs say.

use qa_reload::engine::CauseKind;

use crate::engine::{Served, workflow};
use crate::util::{TestRepo, qa_reload, text};

const SETTINGS: &str = "config/hot_reload.yaml";
const SKIP_DRAFTS: &str = "ignore: [\"workflows/drafts/**\"]\n";
/// Not a workflow: `steps` is missing and `estimated` is unknown.
const BROKEN: &str = "name: Half done\nestimated: 3\n";

#[test]
fn check_skips_the_drafts_the_settings_ignore_as_serve_does() {
    let repo = TestRepo::new();
    repo.commit(
        &[
            (SETTINGS, SKIP_DRAFTS),
            ("workflows/smoke.yaml", &workflow("Smoke", 5)),
            ("workflows/drafts/wip.yaml", BROKEN),
        ],
        "drafts ignored",
    );
    let out = qa_reload(&["check", "--repo", "."], &repo.root);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("drafts"), "{}", text(&out));
    assert!(
        text(&out).contains("checked 2 files: 1 workflow"),
        "{}",
        text(&out)
    );
    let out = qa_reload(&["check", "--repo", ".", "--format", "json"], &repo.root);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["files"], 2, "{doc}");

    // `watch` narrows the same way: only `workflows/*.yaml` at the top.
    repo.write(
        SETTINGS,
        "watch: [\"workflows/*.yaml\", \"config/*.yaml\"]\n",
    );
    let out = qa_reload(&["check", "--repo", "."], &repo.root);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("drafts"), "{}", text(&out));
}

#[test]
fn a_broken_settings_file_is_reported_and_the_defaults_decide() {
    let repo = TestRepo::new();
    repo.commit(
        &[
            (
                SETTINGS,
                "ignore: [\"workflows/drafts/**\"\ndebounce_ms: 5\n",
            ),
            ("workflows/smoke.yaml", &workflow("Smoke", 5)),
            ("workflows/drafts/wip.yaml", BROKEN),
        ],
        "broken settings",
    );
    let out = qa_reload(&["check", "--repo", "."], &repo.root);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("config/hot_reload.yaml:")),
        "{shown}"
    );
    // As `serve` starting on this tree: the default globs, drafts included.
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("workflows/drafts/wip.yaml:")),
        "{shown}"
    );
}

#[test]
fn the_settings_file_is_checked_even_when_its_globs_leave_it_out() {
    let repo = TestRepo::new();
    repo.commit(
        &[
            (
                SETTINGS,
                "watch: [\"workflows/**/*.yaml\"]\ndebounce_ms: fifty\n",
            ),
            ("workflows/smoke.yaml", &workflow("Smoke", 5)),
        ],
        "settings outside their own globs",
    );
    let out = qa_reload(&["check", "--repo", "."], &repo.root);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("config/hot_reload.yaml:2:"),
        "{}",
        text(&out)
    );
}

#[test]
fn diff_reads_each_side_by_its_own_settings() {
    let repo = TestRepo::new();
    repo.commit(
        &[
            ("workflows/smoke.yaml", &workflow("Smoke", 5)),
            ("workflows/drafts/wip.yaml", &workflow("Wip", 5)),
        ],
        "no settings: the draft is served",
    );
    repo.commit(&[(SETTINGS, SKIP_DRAFTS)], "drafts ignored from now on");
    repo.commit(
        &[
            ("workflows/drafts/wip.yaml", BROKEN),
            ("workflows/smoke.yaml", &workflow("Smoke", 7)),
        ],
        "a draft breaks, smoke changes",
    );
    let diff = |old: &str, new: &str| {
        let out = qa_reload(
            &["diff", "--repo", ".", "--format", "json", old, new],
            &repo.root,
        );
        assert!(out.status.success(), "{}", text(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let patches: Vec<String> = doc["patches"]
            .as_array()
            .expect("patches")
            .iter()
            .map(|p| format!("{} {} {}", p["op"], p["kind"], p["id"]).replace('"', ""))
            .collect();
        let errors: Vec<String> = doc["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["file"].as_str().unwrap_or("").to_string())
            .collect();
        (patches, errors)
    };
    // The new globs take the draft out, as `serve` does in that revision.
    let (mut patches, errors) = diff("HEAD~2", "HEAD~1");
    patches.sort();
    assert_eq!(
        patches,
        ["added settings hot_reload", "removed workflow wip"],
        "{errors:?}"
    );
    // The broken draft is outside both sides' globs: no error, no patch.
    let (patches, errors) = diff("HEAD~1", "HEAD");
    assert_eq!(patches, ["modified workflow smoke"]);
    assert!(errors.is_empty(), "{errors:?}");
    // The working tree as the new side, with the settings file removed:
    // the default globs bring the broken draft back.
    std::fs::remove_file(repo.root.join(SETTINGS)).expect("remove");
    let out = qa_reload(&["diff", "--repo", ".", "--format", "json"], &repo.root);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let files: Vec<&str> = doc["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["file"].as_str())
        .collect();
    assert!(files.contains(&"workflows/drafts/wip.yaml"), "{doc}");
}

#[test]
fn the_pre_commit_hook_lets_an_ignored_broken_draft_through() {
    let repo = TestRepo::new();
    repo.commit(
        &[
            (SETTINGS, SKIP_DRAFTS),
            ("workflows/smoke.yaml", &workflow("Smoke", 5)),
        ],
        "first",
    );
    let out = qa_reload(&["hook", "install", "--repo", "."], &repo.root);
    assert!(out.status.success(), "{}", text(&out));
    let commit = |message: &str| {
        repo.git(&["add", "-A"]);
        repo.commit_with_hooks(message)
    };
    repo.write("workflows/drafts/wip.yaml", BROKEN);
    let out = commit("a draft in progress");
    assert!(out.status.success(), "{}", text(&out));
    // The same file outside the ignored folder is refused.
    repo.write("workflows/wip.yaml", BROKEN);
    let out = commit("the draft, promoted too early");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("workflows/wip.yaml:"), "{}", text(&out));
}

/// Globs that leave out `config/` entirely: an edit of the settings file
/// is still an edit, applied as its own revision (cause `edit`, not the
/// 30 s rescan's `rescan`), and the globs it brings take effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_whose_globs_leave_them_out_still_reload_at_once() {
    let repo = TestRepo::new();
    repo.commit(
        &[
            (SETTINGS, "watch: [\"workflows/**/*.yaml\"]\n"),
            ("workflows/smoke.yaml", &workflow("Smoke", 5)),
            ("workflows/drafts/wip.yaml", &workflow("Wip", 5)),
        ],
        "config/ outside the globs",
    );
    let mut s = Served::start(&repo).await;
    assert!(s.engine().snapshot().workflow("wip").is_some());
    repo.write(
        SETTINGS,
        "watch: [\"workflows/**/*.yaml\"]\nignore: [\"workflows/drafts/**\"]\n",
    );
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].cause.kind, CauseKind::Edit, "{events:#?}");
    assert!(s.engine().snapshot().workflow("wip").is_none());
    assert_eq!(
        s.engine().snapshot().settings.ignore,
        ["workflows/drafts/**"]
    );
    assert!(s.engine().snapshot().workflow("smoke").is_some());
    s.stop().await;
}
