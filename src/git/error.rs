//! Stage `git`: the one error type of the git boundary.
//!
//! May not: carry gix types to callers as anything but text. Every message is
//! read by a user, so it says what went wrong and what to try, in lower case,
//! without a trailing period.

use std::path::PathBuf;

/// What can go wrong while talking to git.
///
/// gix's own error is folded into the message (`cause`) rather than exposed as
/// a typed source, so the rest of the program never depends on gix's types.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository was found but could not be opened.
    #[error("cannot open the git repository for {}: {cause}; check that `git status` works there", dir.display())]
    Open { dir: PathBuf, cause: String },

    /// The repository has no working tree, so there are no files to serve.
    #[error("the git repository at {} is bare: run qa-reload inside a checkout", git_dir.display())]
    Bare { git_dir: PathBuf },

    /// A revision (branch, tag, hash, `HEAD~1`, ...) does not resolve.
    #[error("unknown revision {rev:?}: check that the branch, tag or commit exists ({cause})")]
    UnknownRevision { rev: String, cause: String },

    /// A revision resolves, but not to a commit.
    #[error("revision {rev:?} does not name a commit: {cause}")]
    NotACommit { rev: String, cause: String },

    /// A path handed in is not a plain repo-relative path.
    #[error(
        "{path:?} is not a repo-relative path: use `/` between folders and no `..`, `.`, empty parts or leading `/`"
    )]
    InvalidPath { path: String },

    /// `--branch` is not a name a branch can have.
    #[error("{branch:?} is not a valid branch name")]
    InvalidBranch { branch: String },

    /// The remote has no branch of that name.
    #[error("the remote has no branch {branch:?}: check --branch")]
    NoSuchBranch { branch: String },

    /// Fetching from the remote failed (unreachable, refused, not a
    /// repository). The cause may name the remote: mask it before showing.
    #[error("cannot fetch from the remote: {cause}")]
    Fetch { cause: String },

    /// Reading something from the repository failed.
    #[error("cannot read {what} from the git repository: {cause}")]
    Read { what: String, cause: String },
}

impl GitError {
    /// A `map_err` helper for reads: `.map_err(GitError::read("HEAD"))`.
    pub(crate) fn read<E: std::fmt::Display>(
        what: impl Into<String>,
    ) -> impl FnOnce(E) -> GitError {
        let what = what.into();
        move |err| GitError::Read {
            what,
            cause: lower_first(&err.to_string()),
        }
    }
}

/// gix messages start with a capital letter; ours do not.
pub(crate) fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
