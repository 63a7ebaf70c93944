//! `qa-reload hook install`: a plain git pre-commit hook that runs `check`
//! when a commit touches `workflows/` or `config/`, and refuses the commit
//! when it finds errors. It goes where git runs hooks from (`core.hooksPath`
//! or `.git/hooks`).
//!
//! A hook it did not write (anything but byte for byte a hook it writes) is
//! left alone unless `--force` is given; a hook
//! that is a symbolic link is never written through (`--force` replaces the
//! link). The new hook is written beside the old and renamed over it.

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
    let path = match git.hooks_dir() {
        Ok(dir) => dir.join("pre-commit"),
        Err(e) => {
            writeln!(out, "error: {e}")?;
            return Ok(EXIT_USAGE);
        }
    };
    let verb = match existing(&path) {
        Ok(Existing::None) => "installed",
        Ok(Existing::Ours) => "updated",
        Ok(Existing::Foreign) if force => "replaced",
        Ok(Existing::Foreign) => {
            writeln!(
                out,
                "error: {} already exists and was not written by qa-reload; \
                 pass --force to replace it, or add `qa-reload check` to it",
                path.display()
            )?;
            return Ok(EXIT_USAGE);
        }
        // A link may point at a hook shared with other repositories, or
        // anywhere at all: it is never written through. `--force` replaces
        // the link itself and leaves what it points to as it is.
        Ok(Existing::Link(_)) if force => "replaced the link at",
        Ok(Existing::Link(target)) => {
            writeln!(
                out,
                "error: {} is a symbolic link to {}; qa-reload does not write through it: \
                 pass --force to replace the link with its own hook (the file it points to \
                 is left as it is)",
                path.display(),
                target.display()
            )?;
            return Ok(EXIT_USAGE);
        }
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

/// What is at the hook's path now.
enum Existing {
    None,
    /// Byte for byte a hook [`script`] writes (for whichever binary).
    Ours,
    /// Any other file.
    Foreign,
    /// A symbolic link (to this target), whatever it points to, dangling
    /// included.
    Link(PathBuf),
}

fn existing(path: &Path) -> std::io::Result<Existing> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::None),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Ok(Existing::Link(std::fs::read_link(path)?));
    }
    if !meta.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let old = std::fs::read(path)?;
    Ok(if is_generated(&old) {
        Existing::Ours
    } else {
        Existing::Foreign
    })
}

/// Whether `text` is exactly what [`script`] writes for the binary it
/// names. A hook that merely holds [`MARKER`] (a user's own hook that
/// copied ours and added lines) is not ours: replacing it would lose them.
fn is_generated(text: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(text) else {
        return false;
    };
    let Some(binary) = text
        .lines()
        .find_map(|l| l.strip_prefix("qa_reload='")?.strip_suffix('\''))
    else {
        return false;
    };
    let binary = binary.replace(r"'\''", "'");
    script(Path::new(&binary)) == text
}

/// Writes `text` to a new file beside `path` and renames it over `path`, so
/// a link at `path` is replaced rather than followed and a hook is never
/// seen half-written.
fn write_executable(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the hook path has no folder"))?;
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".pre-commit.qa-reload-{}", std::process::id()));
    let written = write_new(&temp, text).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Creates `path` (never following or reusing what is there) with `text`,
/// executable.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o755);
    }
    let mut file = match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Left by an install of the same process id that was killed.
            std::fs::remove_file(path)?;
            options.open(path)?
        }
        other => other?,
    };
    file.write_all(text.as_bytes())?;
    #[cfg(unix)]
    {
        // The mode given at creation is narrowed by the umask.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_hook_byte_for_byte_as_written_is_ours() {
        for binary in [
            "/usr/bin/qa-reload",
            "/opt/it's here/qa-reload",
            "qa-reload",
        ] {
            let ours = script(Path::new(binary));
            assert!(is_generated(ours.as_bytes()), "{binary}");
            let added = format!("{ours}echo my own line\n");
            assert!(!is_generated(added.as_bytes()), "{binary}: a line added");
            let edited = ours.replacen("set -e", "set -eu", 1);
            assert!(!is_generated(edited.as_bytes()), "{binary}: a line changed");
        }
        let users = format!("#!/bin/sh\n{MARKER}\nnpm test\n");
        assert!(!is_generated(users.as_bytes()));
        assert!(!is_generated(b"\xff\xfe"));
    }
}
