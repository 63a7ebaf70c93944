//! The command-line commands, callable from tests: each takes parsed
//! arguments and an output stream and returns the process exit code.
//!
//! Exit codes: 0 success, 1 the configuration is invalid, 2 a usage or I/O
//! problem that stopped the command.

pub mod check;
pub mod ci;
pub mod diff;
pub mod hook;
pub mod schema;
pub mod tree;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::git::GitRepo;

/// Output format of `check` and `diff` (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col: kind: message` lines and a summary.
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// GitHub Actions workflow commands (annotations on the changed lines).
    Github,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
    /// JUnit XML, one test case per file.
    Junit,
}

pub const EXIT_OK: u8 = 0;
pub const EXIT_INVALID: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// The process environment, as the loader wants it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A clear message when `--repo` is not a folder.
pub fn check_repo_dir(repo: &Path) -> Result<(), NotAFolder> {
    if repo.is_dir() {
        Ok(())
    } else {
        Err(NotAFolder(repo.to_path_buf()))
    }
}

/// Creates the `--out` folder of `schema` and `man`, or says in one line
/// naming it why it cannot (a file of that name is there, no permission, a
/// link that leaves the checkout).
pub fn create_out_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{} is not a folder; pass --out DIR", dir.display()));
    }
    leaves_checkout_through_link(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Refuses an `--out` folder named inside the checkout (the current
/// folder's git working tree, or the current folder) that a link leads out
/// of it: a checkout may commit `schemas` as a link to a folder in the home
/// folder, and `schema --out schemas` would write there. A folder named
/// outside the checkout is the user's own choice and is taken as it is.
fn leaves_checkout_through_link(dir: &Path) -> Result<(), String> {
    let Ok(cwd) = std::env::current_dir().and_then(std::fs::canonicalize) else {
        return Ok(());
    };
    let checkout = GitRepo::discover(&cwd)
        .ok()
        .flatten()
        .and_then(|g| std::fs::canonicalize(g.workdir()).ok())
        .unwrap_or_else(|| cwd.clone());
    let named = lexical(&cwd.join(dir));
    if !named.starts_with(&checkout) {
        return Ok(());
    }
    // The deepest part of the path that exists, with every link resolved.
    let Some(real) = named
        .ancestors()
        .find_map(|a| std::fs::canonicalize(a).ok())
    else {
        return Ok(());
    };
    if real.starts_with(&checkout) {
        Ok(())
    } else {
        Err(format!(
            "{} leads out of the checkout through a link (to {}); qa-reload does not write \
             through it: pass that folder itself if it is where the files should go",
            dir.display(),
            real.display()
        ))
    }
}

/// `path` with `.` and `..` resolved by name (no link followed).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Writes files into `dir` the way `schema --out` and `man --out` need in a
/// checkout that may be hostile: `write` fills a fresh folder inside `dir`,
/// then every target is checked (a folder already at a file's name is an
/// error before anything is written), then each file is renamed into
/// `dir`, so a link already at a file's name (say
/// `schemas/workflow.schema.json` committed as a link to a file in the home
/// folder) is replaced, never written through. Returns the paths written,
/// sorted.
pub fn write_files_into(
    dir: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<Vec<PathBuf>> {
    let staging = dir.join(format!(".qa-reload-staging-{}", std::process::id()));
    if staging.symlink_metadata().is_ok() {
        // Left by a run of the same process id that was killed.
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir(&staging)?;
    let moved = write(&staging).and_then(|()| {
        let mut staged = Vec::new();
        for entry in std::fs::read_dir(&staging)? {
            let entry = entry?;
            let target = dir.join(entry.file_name());
            let is_folder = target
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_dir());
            if is_folder {
                return Err(std::io::Error::other(format!(
                    "{} is a folder; move it away (nothing was written)",
                    target.display()
                )));
            }
            staged.push((entry.path(), target));
        }
        let mut written = Vec::new();
        for (from, target) in staged {
            std::fs::rename(from, &target)?;
            written.push(target);
        }
        written.sort();
        Ok(written)
    });
    let _ = std::fs::remove_dir_all(&staging);
    moved
}

/// Whether `repo` is the top folder of `git`'s working tree. A folder
/// inside a repository but below its top is served without git (as
/// `serve` does): git's paths, ignore rules and revisions are the top
/// folder's, not its.
pub fn is_top_folder(git: &GitRepo, repo: &Path) -> bool {
    match (
        std::fs::canonicalize(git.workdir()),
        std::fs::canonicalize(repo),
    ) {
        (Ok(top), Ok(repo)) => top == repo,
        _ => false,
    }
}

/// `--repo` names something that is not a folder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a folder; pass --repo DIR", .0.display())]
pub struct NotAFolder(pub PathBuf);

/// Prints a JSON document, pretty, on one stream.
pub fn print_json<T: Serialize>(out: &mut dyn std::io::Write, doc: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(doc).map_err(std::io::Error::other)?;
    writeln!(out, "{text}")
}
