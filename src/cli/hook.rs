//! `qa-reload hook install`: a plain git pre-commit hook that runs `check`
//! when a commit touches `workflows/` or `config/`, and refuses the commit
//! when it finds errors. It goes where git runs hooks from (`core.hooksPath`
//! or `.git/hooks`).
//!
//! A hook it did not write is left alone unless `--force` is given.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{EXIT_OK, EXIT_USAGE, check_repo_dir};
use crate::git::GitRepo;

/// The line that marks a hook as written by qa-reload.
const MARKER: &str = "# qa-reload pre-commit hook";

/// The hook script. `binary` is the qa-reload that installed it; the hook
/// falls back to `qa-reload` on `PATH` when that file is gone.
pub fn script(binary: &Path) -> String {
    let binary = binary.to_string_lossy().replace('\'', r"'\''");
    format!(
        r#"#!/bin/sh
{MARKER} (written by `qa-reload hook install`; rerun it to update).
# Runs `qa-reload check` when the commit touches workflows/ or config/ and
# refuses the commit when it reports errors. Skip once: git commit --no-verify
set -e
if git diff --cached --quiet -- workflows config; then
    exit 0
fi
qa_reload='{binary}'
if [ ! -x "$qa_reload" ]; then
    qa_reload=qa-reload
fi
exec "$qa_reload" check --repo "$(git rev-parse --show-toplevel)"
"#
    )
}

/// Writes `.git/hooks/pre-commit` of the repository `repo` is in.
pub fn install(repo: &Path, force: bool, out: &mut dyn Write) -> std::io::Result<u8> {
    if let Err(message) = check_repo_dir(repo) {
        writeln!(out, "error: {message}")?;
        return Ok(EXIT_USAGE);
    }
    let git = match GitRepo::discover(repo) {
        Ok(Some(git)) => git,
        Ok(None) => {
            writeln!(
                out,
                "error: {} is not in a git repository; a pre-commit hook needs one",
                repo.display()
            )?;
            return Ok(EXIT_USAGE);
        }
        Err(e) => {
            writeln!(out, "error: {e}")?;
            return Ok(EXIT_USAGE);
        }
    };
    let path = git.hooks_dir().join("pre-commit");
    let verb = match std::fs::read(&path) {
        Ok(old) => {
            let ours = String::from_utf8_lossy(&old).contains(MARKER);
            if !ours && !force {
                writeln!(
                    out,
                    "error: {} already exists and was not written by qa-reload; \
                     pass --force to replace it, or add `qa-reload check` to it",
                    path.display()
                )?;
                return Ok(EXIT_USAGE);
            }
            if ours { "updated" } else { "replaced" }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "installed",
        Err(e) => {
            writeln!(out, "error: cannot read {}: {e}", path.display())?;
            return Ok(EXIT_USAGE);
        }
    };
    let binary = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("qa-reload"));
    if let Err(e) = write_executable(&path, &script(&binary)) {
        writeln!(out, "error: cannot write {}: {e}", path.display())?;
        return Ok(EXIT_USAGE);
    }
    writeln!(out, "{verb} {}", path.display())?;
    Ok(EXIT_OK)
}

fn write_executable(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}
