//! The generated JSON Schemas in the YAML language server that editors run
//! (`tests/editor/editor.test.mjs`, under Node): with the example's
//! `.vscode/settings.json` mapping, the example is clean and a wrong
//! `estimated_minutes` is underlined at its position before it is saved.
//! Needs Node and the npm packages pinned in `tests/editor/`; when either is
//! missing, plain `cargo test` skips it with one line on stderr, and
//! `scripts/test` (`QA_RELOAD_REQUIRE_BROWSER=1`) fails instead (see
//! `browser::may_run`).

use std::path::Path;
use std::process::Command;

use crate::browser::{assert_node_passed, may_run, missing_node_and_packages, node};

const SETUP: &str = "run `scripts/test`, which installs them and runs every test, or by hand: \
    `apt-get install -y nodejs npm` and `npm ci --prefix tests/editor`";

#[test]
fn the_yaml_language_server_underlines_what_the_schemas_refuse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/editor");
    let node = node();
    let missing = missing_node_and_packages(
        &node,
        "tests/editor",
        &["yaml-language-server", "vscode-languageserver-textdocument"],
    );
    if !may_run("the editor test (tests/it/editor.rs)", &missing, SETUP) {
        return;
    }
    let out = Command::new(&node)
        .args(["--test", "editor.test.mjs"])
        .current_dir(&dir)
        .env("QA_RELOAD_REPO", root)
        .output()
        .expect("run node --test");
    assert_node_passed("the editor tests", &out);
}
