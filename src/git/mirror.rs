//! Stage `git`: the bare mirror `serve --follow` keeps of one branch of a
//! remote: fetch it, read a commit's metadata and the files of its tree.
//!
//! May not: touch any repository but the mirror it created (no working
//! tree, no checkout), run a `git` command itself (gix runs `git
//! upload-pack` for a local path or `file://`, and `ssh` for `ssh://`, as
//! git does), or know what the files mean.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use gix::bstr::ByteSlice;

use super::error::lower_first;
use super::tree::{Files, files_at};
use super::{GitError, Head};
use crate::diagnostic::ConfigError;

/// Where fetched heads of the followed branch are kept in the mirror.
const TRACKING_PREFIX: &str = "refs/remotes/follow/";

/// An error with its causes, `top: cause: root cause`, each said once (a
/// transport error often repeats its source's text).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// One commit, as a revision's cause names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Full hex id.
    pub id: String,
    /// The author's name (as the commit spells it, trimmed).
    pub author: String,
    pub email: String,
    /// When the author made it.
    pub time: SystemTime,
    /// The first line of the message.
    pub subject: String,
}

/// The files of one commit of the followed branch, under the roots asked
/// for, with the files refused for their size.
#[derive(Debug, Clone, Default)]
pub struct CommitTree {
    /// Branch and commit (empty before the first commit is known).
    pub head: Head,
    pub commit: Option<CommitInfo>,
    pub files: Files,
    /// Blobs over the size limit, as errors at their path.
    pub refused: Vec<ConfigError>,
}

/// A bare repository that mirrors one branch of a remote.
pub struct Mirror {
    repo: gix::ThreadSafeRepository,
    dir: PathBuf,
    remote: String,
    branch: String,
    tracking: String,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("dir", &self.dir)
            .field("branch", &self.branch)
            .finish_non_exhaustive()
    }
}

impl Mirror {
    /// Opens the bare mirror at `dir`, creating it (and its parents) when
    /// missing. `remote` is any URL or path git can fetch from; a path
    /// that exists is made absolute, so the mirror does not depend on the
    /// current folder.
    pub fn open(dir: &Path, remote: &str, branch: &str) -> Result<Mirror, GitError> {
        let full = format!("refs/heads/{branch}");
        if gix::refs::FullName::try_from(full.as_str()).is_err() || branch.starts_with('-') {
            return Err(GitError::InvalidBranch {
                branch: branch.to_owned(),
            });
        }
        let repo = if dir.join("HEAD").is_file() {
            gix::ThreadSafeRepository::open(dir).map_err(|err| GitError::Open {
                dir: dir.to_path_buf(),
                cause: lower_first(&err.to_string()),
            })?
        } else {
            std::fs::create_dir_all(dir).map_err(|err| GitError::Open {
                dir: dir.to_path_buf(),
                cause: lower_first(&err.to_string()),
            })?;
            gix::ThreadSafeRepository::init(
                dir,
                gix::create::Kind::Bare,
                gix::create::Options::default(),
            )
            .map_err(|err| GitError::Open {
                dir: dir.to_path_buf(),
                cause: lower_first(&err.to_string()),
            })?
        };
        let local_path = Path::new(remote);
        let remote = if !remote.contains("://") && local_path.exists() {
            std::path::absolute(local_path)
                .map_or_else(|_| remote.to_owned(), |p| p.display().to_string())
        } else {
            remote.to_owned()
        };
        Ok(Mirror {
            repo,
            dir: dir.to_path_buf(),
            remote,
            branch: branch.to_owned(),
            tracking: format!("{TRACKING_PREFIX}{branch}"),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The remote as fetched from (an existing local path made absolute).
    /// It may hold credentials: mask it before showing it.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// The commit of the branch as last fetched, if any fetch reached it.
    pub fn tracked(&self) -> Option<String> {
        let repo = self.repo.to_thread_local();
        let mut reference = repo.find_reference(self.tracking.as_str()).ok()?;
        let id = reference.peel_to_id().ok()?;
        Some(id.to_string())
    }

    /// Fetches the branch (a forced update: a rewritten history replaces
    /// the old one) and returns its commit. Blocking; bounded by the
    /// transport's own timeouts.
    pub fn fetch(&self) -> Result<String, GitError> {
        let repo = self.repo.to_thread_local();
        let fetch_error = |err: &dyn std::error::Error| GitError::Fetch {
            cause: lower_first(&chain(err)),
        };
        let spec = format!("+refs/heads/{}:{}", self.branch, self.tracking);
        let remote = repo
            .remote_at(self.remote.as_str())
            .map_err(|e| fetch_error(&e))?
            .with_refspecs([spec.as_str()], gix::remote::Direction::Fetch)
            .map_err(|e| fetch_error(&e))?;
        let connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| fetch_error(&e))?;
        let interrupt = AtomicBool::new(false);
        let outcome = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| fetch_error(&e))?
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| fetch_error(&e))?;
        if outcome.ref_map.mappings.is_empty() {
            return Err(GitError::NoSuchBranch {
                branch: self.branch.clone(),
            });
        }
        self.tracked().ok_or_else(|| GitError::NoSuchBranch {
            branch: self.branch.clone(),
        })
    }

    /// The metadata of commit `id`.
    pub fn commit(&self, id: &str) -> Result<CommitInfo, GitError> {
        let repo = self.repo.to_thread_local();
        let commit = find_commit(&repo, id)?;
        let what = || format!("the commit {id}");
        let author = commit.author().map_err(GitError::read(what()))?;
        let time = author
            .time()
            .map(|t| t.seconds)
            .map_err(GitError::read(what()))?;
        let time = u64::try_from(time)
            .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let message = commit.message_raw_sloppy();
        let subject = message
            .lines()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .map(|l| l.to_str_lossy().into_owned())
            .unwrap_or_default();
        Ok(CommitInfo {
            id: commit.id.to_string(),
            author: author.name.to_str_lossy().into_owned(),
            email: author.email.to_str_lossy().into_owned(),
            time,
            subject,
        })
    }

    /// Commit `id` with every file under `roots` in its tree.
    pub fn tree_at(&self, id: &str, roots: &[&str]) -> Result<CommitTree, GitError> {
        let repo = self.repo.to_thread_local();
        let commit = find_commit(&repo, id)?;
        let (files, refused) = files_at(&repo, &commit, id, roots)?;
        Ok(CommitTree {
            head: Head {
                branch: Some(self.branch.clone()),
                commit: Some(commit.id.to_string()),
            },
            commit: Some(self.commit(id)?),
            files,
            refused,
        })
    }

    /// Whether `new` has `old` in its history (a fast-forward from `old`).
    /// False when either is unknown.
    pub fn descends_from(&self, new: &str, old: &str) -> bool {
        let repo = self.repo.to_thread_local();
        let (Ok(new), Ok(old)) = (
            gix::ObjectId::from_hex(new.as_bytes()),
            gix::ObjectId::from_hex(old.as_bytes()),
        ) else {
            return false;
        };
        if new == old {
            return true;
        }
        matches!(repo.merge_base(new, old), Ok(Some(base)) if base.detach() == old)
    }
}

fn find_commit<'repo>(
    repo: &'repo gix::Repository,
    id: &str,
) -> Result<gix::Commit<'repo>, GitError> {
    let oid = gix::ObjectId::from_hex(id.as_bytes()).map_err(|err| GitError::UnknownRevision {
        rev: id.to_owned(),
        cause: lower_first(&err.to_string()),
    })?;
    repo.find_commit(oid).map_err(|err| GitError::NotACommit {
        rev: id.to_owned(),
        cause: lower_first(&err.to_string()),
    })
}
