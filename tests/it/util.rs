//! Shared helpers for the integration tests: temporary git repositories
//! driven by the real `git` CLI, isolated from the user's git configuration.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use qa_reload::git::GitRepo;

/// A temporary repository driven by the `git` CLI.
pub struct TestRepo {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl TestRepo {
    /// `git init -b main` in a fresh temp dir.
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("repo");
        std::fs::create_dir(&root).expect("create repo dir");
        let repo = TestRepo { _dir: dir, root };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn git(&self, args: &[&str]) -> String {
        crate::support::git(&self.root, args)
    }

    pub fn write(&self, path: &str, content: &str) {
        let full = self.root.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }

    /// Write files, `git add -A` and commit; returns the new commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            self.write(path, content);
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// [`TestRepo::commit`] of files made by the test: (path, text) pairs.
    pub fn commit_made(&self, files: &[(String, String)], message: &str) -> String {
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str()))
            .collect();
        self.commit(&files, message)
    }

    /// `git commit -q -m message` of what is staged, as a user runs it:
    /// the repository's hooks run, and may refuse it. Its output, for the
    /// test to judge.
    pub fn commit_with_hooks(&self, message: &str) -> Output {
        Command::new("git")
            .args([
                "-c",
                "user.name=QA Tester",
                "-c",
                "user.email=qa@example.com",
            ])
            .args(["commit", "-q", "-m", message])
            .current_dir(&self.root)
            .output()
            .expect("git runs")
    }

    pub fn open(&self) -> GitRepo {
        GitRepo::discover(&self.root)
            .expect("discover")
            .expect("a repository")
    }
}

/// Runs the `qa-reload` binary cargo built, with `args`, in `dir`.
pub fn qa_reload(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qa-reload"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("qa-reload runs")
}

/// A command's standard output then its standard error, as a terminal
/// shows them.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// splitmix64: a tiny deterministic stream, so one `u64` seed drives a
/// whole randomized case and replays it.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every form a leaked secret could take in output: as written, lower and
/// upper case, every byte but letters and digits percent-encoded, base64.
pub fn secret_forms(secret: &str) -> Vec<String> {
    let percent = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    vec![
        secret.to_string(),
        secret.to_lowercase(),
        secret.to_uppercase(),
        percent,
        base64(secret.as_bytes()),
    ]
}
