//! Helpers shared by the bench binaries (included with `#[path]`; not a
//! bench of its own).

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `git` in `dir`, isolated from the user's and the system's git
/// configuration; panics when it fails (a bench cannot go on without it).
pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdout(Stdio::null())
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?} failed");
}
