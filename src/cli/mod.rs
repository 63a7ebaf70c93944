//! The command-line commands, callable from tests: each takes parsed
//! arguments and an output stream and returns the process exit code.
//!
//! Exit codes: 0 success, 1 the configuration is invalid, 2 a usage or I/O
//! problem that stopped the command.

pub mod check;
pub mod diff;

use std::path::{Path, PathBuf};

/// Output format of `check` and `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
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

/// `--repo` names something that is not a folder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a folder; pass --repo DIR", .0.display())]
pub struct NotAFolder(pub PathBuf);

/// Prints a JSON document, pretty, on one stream.
pub fn print_json(out: &mut dyn std::io::Write, doc: &serde_json::Value) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    writeln!(out, "{text}")
}
