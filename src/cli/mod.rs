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

use std::path::{Path, PathBuf};

use serde::Serialize;

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
/// naming it why it cannot (a file of that name is there, no permission).
pub fn create_out_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{} is not a folder; pass --out DIR", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
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
