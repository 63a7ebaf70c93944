//! The `check` and `diff` commands as a user runs them: exit codes and the
//! lines they print.

use std::path::Path;

use qa_reload::cli::{self, Format};

use crate::util::TestRepo;

/// Every output format of `check` and `diff`.
pub(crate) const FORMATS: [Format; 5] = [
    Format::Text,
    Format::Json,
    Format::Github,
    Format::Sarif,
    Format::Junit,
];

/// `qa-reload check` of `repo` in `format`: its exit code and output.
pub(crate) fn check(repo: &Path, format: Format) -> (u8, String) {
    let mut out = Vec::new();
    let code = cli::check::run(repo, format, &mut out).unwrap();
    (code, String::from_utf8(out).unwrap())
}

/// `qa-reload diff` of `repo` in `format`, without colour: from `old` to
/// `new` (commits), the working tree against `HEAD` when both are `None`.
/// Its exit code and output.
pub(crate) fn diff(
    repo: &Path,
    old: Option<&str>,
    new: Option<&str>,
    format: Format,
) -> (u8, String) {
    let mut out = Vec::new();
    let args = cli::diff::Args {
        repo,
        old,
        new,
        format,
        color: false,
        fail_on_errors: false,
    };
    let code = cli::diff::run(&args, &mut out).unwrap();
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn check_passes_on_the_example_and_reports_every_bad_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, out) = check(root, Format::Text);
    assert_eq!(code, cli::EXIT_OK, "{out}");
    assert!(out.contains("0 errors"), "{out}");

    let bad = root.join("tests/fixtures/bad");
    let (code, out) = check(&bad, Format::Text);
    assert_eq!(code, cli::EXIT_INVALID);
    for entry in std::fs::read_dir(bad.join("workflows")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("20-") {
            continue; // the first of a duplicate-id pair is itself valid
        }
        let prefix = format!("workflows/{name}:");
        assert!(
            out.lines().any(|l| l.starts_with(&prefix)),
            "{name} not reported:\n{out}"
        );
    }
}

#[test]
fn check_json_and_usage_errors() {
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let (code, out) = check(&bad, Format::Json);
    assert_eq!(code, cli::EXIT_INVALID);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["ok"], false);
    let first = &doc["errors"][0];
    for field in ["file", "line", "column", "kind", "message"] {
        assert!(!first[field].is_null(), "{field} missing in {first}");
    }
    let (code, out) = check(Path::new("/definitely/not/here"), Format::Text);
    assert_eq!(code, cli::EXIT_USAGE);
    assert!(out.contains("is not a folder"), "{out}");
}

#[test]
fn diff_shows_semantic_changes_between_two_commits() {
    let repo = TestRepo::new();
    let wf = |minutes: u32, extra: &str| {
        format!(
            "name: Smoke\nsteps:\n  - id: login\n    name: Log in\n    estimated_minutes: {minutes}\n  - id: logout\n    name: Log out\n    estimated_minutes: 2\n{extra}"
        )
    };
    repo.commit(&[("workflows/smoke.yaml", &wf(5, ""))], "first");
    repo.commit(
        &[(
            "workflows/smoke.yaml",
            &wf(
                10,
                "  - id: report\n    name: Report\n    estimated_minutes: 3\n",
            ),
        )],
        "second",
    );
    let (code, out) = diff(&repo.root, Some("HEAD~1"), Some("HEAD"), Format::Text);
    assert_eq!(code, cli::EXIT_OK, "{out}");
    assert!(
        out.contains("modified workflow `smoke` (workflows/smoke.yaml)"),
        "{out}"
    );
    assert!(
        out.contains("~ steps[id=login].estimated_minutes: 5 -> 10 (line 5)"),
        "{out}"
    );
    assert!(out.contains("+ steps[id=report]"), "{out}");
    assert!(out.contains("  -    estimated_minutes: 5"), "{out}");
    assert!(
        out.contains("1 entity changed between HEAD~1 and HEAD"),
        "{out}"
    );

    // Default: HEAD against the working tree.
    repo.write(
        "workflows/smoke.yaml",
        &wf(10, "").replace("Log out", "Sign out"),
    );
    let (code, out) = diff(&repo.root, None, None, Format::Json);
    assert_eq!(code, cli::EXIT_OK, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let changes = &doc["patches"][0]["changes"];
    assert!(
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "steps[id=logout].name" && c["new"] == "Sign out"),
        "{doc:#}"
    );
}

/// A folder below the top of a git repository: `check` reads it without
/// git's ignore rules (a top-level `.gitignore` of `workflows/` hid the
/// folder's own workflows, so a broken one passed), and `diff`, which reads
/// `workflows/` and `config/` at the top of each revision, says so instead
/// of reporting no change.
#[test]
fn a_folder_below_the_top_of_a_repository() {
    let repo = TestRepo::new();
    let good = "name: Smoke\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 5\n";
    repo.commit(
        &[
            (".gitignore", "/workflows/\n"),
            ("qa/workflows/s.yaml", good),
        ],
        "first",
    );
    repo.write(
        "qa/workflows/s.yaml",
        &good.replace("estimated_minutes: 5", "estimated_minutes: 5000"),
    );
    let qa = repo.root.join("qa");
    let (code, out) = check(&qa, Format::Text);
    assert_eq!(code, cli::EXIT_INVALID, "{out}");
    assert!(out.contains("workflows/s.yaml:5:24"), "{out}");

    let (code, out) = diff(&qa, None, None, Format::Text);
    assert_eq!(code, cli::EXIT_USAGE, "{out}");
    assert!(out.contains("is not its top folder"), "{out}");
}
