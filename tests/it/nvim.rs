//! Neovim's built-in LSP client (Debian's `neovim`, headless) with the
//! README's configuration (`tests/nvim/qa-reload.lua`) against the
//! `qa-reload` binary: a typed error is underlined before saving, and go to
//! definition on `integration: jira` opens `config/jira_config.yaml`
//! (`tests/nvim/editor_test.lua`). Without `nvim`, plain `cargo test` skips
//! it with one line; `scripts/test` installs it and fails instead (see
//! `browser::may_run`).

use std::path::Path;
use std::process::Command;

use crate::browser::may_run;

const SETUP: &str =
    "run `scripts/test`, which installs it and runs every test, or `apt-get install -y neovim`";

#[test]
fn neovim_underlines_a_typed_error_and_jumps_to_the_integration_config() {
    let nvim = std::env::var("QA_RELOAD_NVIM").unwrap_or_else(|_| "nvim".to_owned());
    let missing = match Command::new(&nvim).arg("--version").output() {
        Ok(out) if out.status.success() => Vec::new(),
        _ => vec![format!("Neovim (`{nvim}`)")],
    };
    if !may_run("the Neovim test (tests/it/nvim.rs)", &missing, SETUP) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    std::fs::create_dir_all(repo.join("workflows")).unwrap();
    std::fs::create_dir_all(repo.join("config")).unwrap();
    std::fs::write(
        repo.join("workflows/login.yaml"),
        "name: Login\nsteps:\n  - id: open\n    name: Open the page\n    estimated_minutes: 5\n    integration: jira\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("config/jira_config.yaml"),
        "enabled: false\nbase_url: https://jira.example\nemail: qa@example.com\napi_token: ${JIRA_API_TOKEN}\n",
    )
    .unwrap();
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nvim");
    let script = tests.join("editor_test.lua");
    let out = Command::new(&nvim)
        .args(["--headless", "--noplugin", "-u", "NONE", "-i", "NONE", "-n"])
        .arg("-c")
        .arg(format!("luafile {}", script.display()))
        .current_dir(repo)
        .env("QA_RELOAD_BIN", env!("CARGO_BIN_EXE_qa-reload"))
        .env("QA_RELOAD_REPO", repo)
        .env("QA_RELOAD_SNIPPET", tests.join("qa-reload.lua"))
        .env("XDG_STATE_HOME", repo.join(".state"))
        .env("XDG_CACHE_HOME", repo.join(".cache"))
        .output()
        .expect("run nvim");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l.trim() == "ok"),
        "the Neovim test failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
