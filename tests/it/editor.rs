//! The generated JSON Schemas in the YAML language server that editors run
//! (`tests/editor/editor.test.mjs`, under Node): with the example's
//! `.vscode/settings.json` mapping, the example is clean and a wrong
//! `estimated_minutes` is underlined at its position before it is saved.
//! Needs Node and the npm packages pinned in `tests/editor/`; when either is
//! missing this test fails and says how to install them (`scripts/test`
//! does it), rather than passing without running.

use std::path::Path;
use std::process::Command;

const SETUP: &str = "run the tests with `scripts/test`, which installs them, or by hand: \
    `apt-get install -y nodejs npm` and `npm ci --prefix tests/editor`";

#[test]
fn the_yaml_language_server_underlines_what_the_schemas_refuse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/editor");
    let node = std::env::var("QA_RELOAD_NODE").unwrap_or_else(|_| "node".to_owned());
    match Command::new(&node).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => panic!("`{node}` is not installed: the editor test needs Node 20 or newer; {SETUP}"),
    }
    for package in ["yaml-language-server", "vscode-languageserver-textdocument"] {
        assert!(
            dir.join("node_modules").join(package).is_dir(),
            "the npm package `{package}` is missing in tests/editor/node_modules; {SETUP}"
        );
    }
    let out = Command::new(&node)
        .args(["--test", "editor.test.mjs"])
        .current_dir(&dir)
        .env("QA_RELOAD_REPO", root)
        .output()
        .expect("run node --test");
    assert!(
        out.status.success(),
        "the editor tests failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
