//! The JavaScript tests, run by `cargo test`: the browser end-to-end test of
//! the page (playwright-core driving Debian's Chromium) and the tests of the
//! client core and the React hook, all against the `qa-reload` binary cargo
//! built. They need Node, the npm packages in `tests/browser/` and
//! Chromium (`QA_RELOAD_NODE` and `QA_RELOAD_CHROMIUM` name other ones).
//!
//! When one is missing, plain `cargo test` skips them with one line on
//! stderr saying what is missing and how to run them; with
//! `QA_RELOAD_REQUIRE_BROWSER=1` (which `scripts/test`, and so CI, sets) a
//! missing one fails the test instead, so CI never passes without them.
//! [`may_run`] decides this for every test that needs Node (`editor.rs`
//! too).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SETUP: &str = "run `scripts/test`, which installs them and runs every test, or by hand: \
    `apt-get install -y nodejs npm chromium` and `npm ci --prefix tests/browser`";

/// Set to `1` to fail, not skip, when what a JavaScript test needs is missing.
const REQUIRE: &str = "QA_RELOAD_REQUIRE_BROWSER";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// The `node` the JavaScript tests run: `QA_RELOAD_NODE`, else `node`.
pub(crate) fn node() -> String {
    std::env::var("QA_RELOAD_NODE").unwrap_or_else(|_| "node".to_owned())
}

/// What this machine lacks of Node and of the npm `packages` installed in
/// `dir` (a folder of the repository), in words.
pub(crate) fn missing_node_and_packages(node: &str, dir: &str, packages: &[&str]) -> Vec<String> {
    let mut missing = Vec::new();
    match Command::new(node).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => missing.push(format!("Node 20 or newer (`{node}`)")),
    }
    let modules = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dir)
        .join("node_modules");
    let absent: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !modules.join(p).is_dir())
        .collect();
    if !absent.is_empty() {
        missing.push(format!("npm packages in {dir} ({})", absent.join(", ")));
    }
    missing
}

/// Fails unless `node --test` (its output `out`) passed. The message holds
/// the whole output, then each failing test's report again at the end: a
/// log cut in the middle (as CI's is) still shows why.
pub(crate) fn assert_node_passed(what: &str, out: &Output) {
    if out.status.success() {
        return;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    panic!(
        "{what} failed ({}):\n{stdout}\n{}\nfailing tests:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        failure_reports(&stdout)
    );
}

/// The TAP reports of the failed tests in `tap` (node's `--test` output):
/// each from its `not ok` line to the `...` ending its details.
fn failure_reports(tap: &str) -> String {
    let mut reports = String::new();
    let mut inside = false;
    for line in tap.lines() {
        if line.trim_start().starts_with("not ok ") {
            inside = true;
        }
        if inside {
            reports.push_str(line);
            reports.push('\n');
            if line.trim() == "..." {
                inside = false;
            }
        }
    }
    reports
}

/// Whether a test that needs what `missing` lists may run. Nothing missing:
/// yes. Otherwise it fails under `QA_RELOAD_REQUIRE_BROWSER=1`, and else
/// writes one line to stderr (what was skipped, what is missing, `setup`)
/// and says no.
pub(crate) fn may_run(skipped: &str, missing: &[String], setup: &str) -> bool {
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    assert!(
        std::env::var(REQUIRE).as_deref() != Ok("1"),
        "{skipped} cannot run: missing {what}; {setup}"
    );
    // Straight to stderr: the test harness holds back `eprintln!` of a
    // passing test, and this line must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "skipped {skipped}: missing {what}; {setup}"
    );
    false
}

#[test]
fn page_and_hooks_pass_their_browser_and_node_tests() {
    let node = node();
    let chromium =
        std::env::var("QA_RELOAD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let mut missing = missing_node_and_packages(
        &node,
        "tests/browser",
        &[
            "playwright-core",
            "ws",
            "react",
            "react-test-renderer",
            "esbuild",
            "typescript",
        ],
    );
    if !Path::new(&chromium).exists() {
        missing.push(format!("Chromium at {chromium}"));
    }
    if !may_run(
        "the browser and JavaScript tests (tests/it/browser.rs)",
        &missing,
        SETUP,
    ) {
        return;
    }
    let dir = browser_dir();

    let binary = env!("CARGO_BIN_EXE_qa-reload");
    // Screenshots go beside the binary's build folder: <target>/browser-test-output.
    let output_dir = Path::new(binary)
        .parent()
        .and_then(Path::parent)
        .map_or_else(
            || dir.join(".build"),
            |target| target.join("browser-test-output"),
        );
    let out = Command::new(&node)
        .args([
            "--test",
            "--test-concurrency=1",
            "page.test.mjs",
            "runs.test.mjs",
            "scale.test.mjs",
            "hooks.test.mjs",
            "follow.test.mjs",
        ])
        .current_dir(&dir)
        .env("QA_RELOAD_BIN", binary)
        .env("QA_RELOAD_CHROMIUM", &chromium)
        .env("QA_RELOAD_TEST_OUTPUT", &output_dir)
        .output()
        .expect("run node --test");
    assert_node_passed("the JavaScript tests", &out);
    eprintln!("screenshots of each page state: {}", output_dir.display());
}

/// The RFC 6902 applier of `hooks/json_patch.js`, case by case
/// (`json_patch.test.mjs`): needs Node only, no npm package or browser.
#[test]
fn the_client_json_patch_applier_passes_its_table() {
    let node = node();
    let missing = missing_node_and_packages(&node, "tests/browser", &[]);
    if !may_run(
        "the JSON Patch table of hooks/json_patch.js (tests/it/browser.rs)",
        &missing,
        SETUP,
    ) {
        return;
    }
    let out = Command::new(&node)
        .args(["--test", "json_patch.test.mjs"])
        .current_dir(browser_dir())
        .output()
        .expect("run node --test");
    assert_node_passed("the JSON Patch table", &out);
}
