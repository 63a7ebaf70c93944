//! Stage `git`: everything the program knows about git, read through gix.
//!
//! The only module that talks to git. It reads HEAD and its reflog, trees at a
//! revision, tree-to-tree diffs, and compares working-tree bytes with HEAD;
//! for `serve --follow` it fetches one branch into a bare mirror of its own.
//! May not: write to the user's repository (no index, ref or object writes;
//! only the mirror is fetched into), run the
//! `git` binary, parse YAML, or know about workflows beyond "paths under roots".
//!
//! `GitRepo` is `Send + Sync`: it holds a `gix::ThreadSafeRepository` and turns
//! it into a thread-local `gix::Repository` per call, which is cheap (shared
//! handles are cloned, nothing is re-read from disk).

mod error;
mod head;
mod mirror;
mod tree;
mod worktree;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

pub use error::GitError;
pub use head::{Head, HeadMove};
pub use mirror::{CommitInfo, CommitTree, HISTORY_LIMIT, LastChanges, Mirror};
pub use tree::Files;
pub use worktree::Pass;

use error::lower_first;

/// A git repository with a working tree, discovered from a directory inside it.
pub struct GitRepo {
    repo: gix::ThreadSafeRepository,
    git_dir: PathBuf,
    common_dir: PathBuf,
    workdir: PathBuf,
    /// Per-HEAD caches for the per-file questions (`differs_from_head`, `is_ignored`).
    /// A std mutex is right: it is held only for the duration of one lookup and
    /// never across an `.await` (callers run git work in `spawn_blocking`).
    cache: Mutex<worktree::Cache>,
    /// The pass in progress (see [`GitRepo::pass`]), 0 when none.
    pass: AtomicU64,
    /// Passes begun so far, so each gets its own number.
    passes: AtomicU64,
}

impl std::fmt::Debug for GitRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRepo")
            .field("git_dir", &self.git_dir)
            .field("common_dir", &self.common_dir)
            .field("workdir", &self.workdir)
            .finish_non_exhaustive()
    }
}

impl GitRepo {
    /// Find the repository `dir` is in, searching upwards like `git` does.
    ///
    /// Returns `Ok(None)` when `dir` is not inside any git repository: such a
    /// folder is served without the git parts. Linked worktrees and `.git`
    /// files (submodules, `--separate-git-dir`) are followed.
    pub fn discover(dir: &Path) -> Result<Option<GitRepo>, GitError> {
        let repo = match gix::ThreadSafeRepository::discover(dir) {
            Ok(repo) => repo,
            Err(err) if is_not_a_repository(&err) => return Ok(None),
            Err(err) => {
                return Err(GitError::Open {
                    dir: dir.to_path_buf(),
                    cause: lower_first(&err.to_string()),
                });
            }
        };
        let local = repo.to_thread_local();
        let Some(workdir) = local.workdir() else {
            return Err(GitError::Bare {
                git_dir: local.git_dir().to_path_buf(),
            });
        };
        // Absolute and without `..` (a linked worktree's common dir is
        // `<git_dir>/../..`), but symlinks kept so paths look like the user's.
        let absolute = |path: &Path| -> PathBuf {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let root = PathBuf::from(std::path::MAIN_SEPARATOR_STR);
            gix::path::normalize(path.as_path().into(), &root)
                .map(|clean| clean.into_owned())
                .unwrap_or(path)
        };
        let workdir = absolute(workdir);
        let git_dir = absolute(local.git_dir());
        let common_dir = absolute(local.common_dir());
        drop(local);
        Ok(Some(GitRepo {
            repo,
            git_dir,
            common_dir,
            workdir,
            cache: Mutex::new(worktree::Cache::default()),
            pass: AtomicU64::new(0),
            passes: AtomicU64::new(0),
        }))
    }

    /// The git directory of this worktree: `.git`, or `.git/worktrees/<name>`
    /// for a linked worktree. HEAD, the index and rebase/merge state live here.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The directory shared by all worktrees: objects, refs, config.
    /// Equal to [`GitRepo::git_dir`] outside linked worktrees.
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }

    /// The root of the working tree; repo-relative paths are relative to it.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Where git runs hooks from: `core.hooksPath` when set (`~/` expanded
    /// and a relative path taken from the working tree's root, as git reads
    /// it), else `hooks/` in the common directory, shared by linked worktrees.
    pub fn hooks_dir(&self) -> Result<PathBuf, GitError> {
        let configured = self
            .local()
            .config_snapshot()
            .trusted_path("core.hooksPath")
            .map_err(GitError::read("core.hooksPath"))?
            .filter(|p| !p.as_os_str().is_empty());
        Ok(match configured {
            Some(p) => self.workdir.join(p),
            None => self.common_dir.join("hooks"),
        })
    }

    fn local(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }
}

/// Whether a discovery error only says "there is no repository here".
fn is_not_a_repository(err: &gix::Error) -> bool {
    use gix::discover::upwards::Error as Upwards;
    err.iter_errors().any(|source| {
        matches!(
            source.downcast_ref::<Upwards>(),
            Some(
                Upwards::NoGitRepository { .. }
                    | Upwards::NoGitRepositoryWithinCeiling { .. }
                    | Upwards::NoGitRepositoryWithinFs { .. }
            )
        )
    })
}

/// Resolve any rev-spec (`HEAD`, a branch, a tag, a short hash, `HEAD~1`) to a commit.
fn resolve_commit<'repo>(
    repo: &'repo gix::Repository,
    rev: &str,
) -> Result<gix::Commit<'repo>, GitError> {
    let id = repo
        .rev_parse_single(rev)
        .map_err(|err| GitError::UnknownRevision {
            rev: rev.to_owned(),
            cause: lower_first(&err.to_string()),
        })?;
    let object = id
        .object()
        .map_err(GitError::read(format!("the object {rev:?} names")))?;
    object.peel_to_commit().map_err(|err| GitError::NotACommit {
        rev: rev.to_owned(),
        cause: lower_first(&err.to_string()),
    })
}

/// Check a repo-relative path (`workflows/a.yaml`) and return its components.
fn path_components(path: &str) -> Result<Vec<&str>, GitError> {
    let invalid = || GitError::InvalidPath {
        path: path.to_owned(),
    };
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() || trimmed.starts_with('/') {
        return Err(invalid());
    }
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts
        .iter()
        .any(|part| part.is_empty() || *part == "." || *part == "..")
    {
        return Err(invalid());
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_repo_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<GitRepo>();
        check::<GitError>();
    }

    #[test]
    fn path_components_accepts_plain_paths_only() {
        let table: &[(&str, Option<&[&str]>)] = &[
            ("workflows/a.yaml", Some(&["workflows", "a.yaml"])),
            ("workflows/", Some(&["workflows"])),
            ("", None),
            ("/etc/passwd", None),
            ("workflows/../x", None),
            ("a//b", None),
        ];
        for (input, expect) in table {
            let got = path_components(input).ok();
            assert_eq!(got.as_deref(), *expect, "input {input:?}");
        }
    }
}
