//! The JavaScript tests, run by `cargo test`: the browser end-to-end test of
//! the page (playwright-core driving Debian's Chromium) and the tests of the
//! client core and the React hook, all against the `qa-reload` binary cargo
//! built. They need Node, the npm packages in `tests/browser/` and
//! Chromium; when any is missing this test fails and says how to install
//! them (`scripts/test` does it), rather than passing without running.

use std::path::{Path, PathBuf};
use std::process::Command;

const SETUP: &str = "run the tests with `scripts/test`, which installs them, or by hand: \
    `apt-get install -y nodejs npm chromium` and `npm ci --prefix tests/browser`";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

#[test]
fn page_and_hooks_pass_their_browser_and_node_tests() {
    let node = std::env::var("QA_RELOAD_NODE").unwrap_or_else(|_| "node".to_owned());
    match Command::new(&node).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "`{node}` is not installed: the page's browser tests need Node 20 or newer; {SETUP}"
        ),
    }
    let dir = browser_dir();
    for package in [
        "playwright-core",
        "ws",
        "react",
        "react-test-renderer",
        "esbuild",
        "typescript",
    ] {
        assert!(
            dir.join("node_modules").join(package).is_dir(),
            "the npm package `{package}` is missing in tests/browser/node_modules; {SETUP}"
        );
    }
    let chromium =
        std::env::var("QA_RELOAD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is missing at {chromium}; {SETUP}"
    );

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
            "scale.test.mjs",
            "hooks.test.mjs",
        ])
        .current_dir(&dir)
        .env("QA_RELOAD_BIN", binary)
        .env("QA_RELOAD_CHROMIUM", &chromium)
        .env("QA_RELOAD_TEST_OUTPUT", &output_dir)
        .output()
        .expect("run node --test");
    assert!(
        out.status.success(),
        "the JavaScript tests failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("screenshots of each page state: {}", output_dir.display());
}
