//! Stage `git`: where HEAD points, why it moved, and whether git is busy.
//!
//! May not: walk history or read trees; everything here is a few small file
//! reads, because it runs on every reload batch.

use gix::bstr::ByteSlice;

use super::{GitError, GitRepo};

/// Where HEAD points.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Head {
    /// Short branch name (`main`, `feature/x`); `None` when HEAD is detached.
    pub branch: Option<String>,
    /// Full hex id of the commit; `None` on an unborn branch (no commit yet).
    pub commit: Option<String>,
}

/// Why HEAD moved between two reads, from the newest HEAD reflog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadMove {
    /// `git checkout`, `git switch`: another branch or commit was checked out.
    BranchSwitch,
    /// `git commit` (also `--amend`, the initial commit, cherry-pick and revert).
    Commit,
    /// `git reset`.
    Reset,
    /// `git rebase` or `git pull --rebase`.
    Rebase,
    /// `git merge` or `git pull`.
    Merge,
    /// Anything else, or a move the reflog does not explain.
    Other,
}

impl GitRepo {
    /// Read HEAD: the branch it names and the commit it resolves to.
    ///
    /// Cheap: reads `HEAD` and the branch ref, never an object.
    pub fn head(&self) -> Result<Head, GitError> {
        let repo = self.local();
        let head = repo.head().map_err(GitError::read("HEAD"))?;
        Ok(Head {
            branch: head
                .referent_name()
                .map(|name| name.shorten().to_str_lossy().into_owned()),
            commit: head.id().map(|id| id.to_string()),
        })
    }

    /// Name the cause of a HEAD move from `prev` to `new`.
    ///
    /// The newest HEAD reflog entry is trusted only when it ends at `new`'s
    /// commit; otherwise (no reflog, `core.logAllRefUpdates=false`, or the log
    /// is behind) the branch names and the commit's parents decide.
    pub fn classify_head_move(&self, prev: &Head, new: &Head) -> HeadMove {
        let repo = self.local();
        if let Some(kind) = newest_reflog_message(&repo, new)
            .as_deref()
            .and_then(classify_reflog_message)
        {
            return kind;
        }
        if prev.branch != new.branch {
            return HeadMove::BranchSwitch;
        }
        match (&prev.commit, &new.commit) {
            (Some(old), Some(new)) if old != new && is_parent_of(&repo, old, new) => {
                HeadMove::Commit
            }
            (None, Some(_)) => HeadMove::Commit,
            _ => HeadMove::Other,
        }
    }

    /// True while git is in the middle of something that rewrites the
    /// working tree or HEAD: hold reloads until it is over.
    ///
    /// Looks for `index.lock` and `HEAD.lock` (any command updating the index
    /// or HEAD), `rebase-merge/` and `rebase-apply/` (rebase, `git am`), and
    /// `MERGE_HEAD`, `CHERRY_PICK_HEAD`, `REVERT_HEAD` (stopped on a conflict).
    /// All of them live in this worktree's git dir.
    pub fn operation_in_progress(&self) -> bool {
        const MARKERS: [&str; 7] = [
            "index.lock",
            "HEAD.lock",
            "rebase-merge",
            "rebase-apply",
            "MERGE_HEAD",
            "CHERRY_PICK_HEAD",
            "REVERT_HEAD",
        ];
        MARKERS
            .iter()
            .any(|marker| self.git_dir.join(marker).exists())
    }
}

/// The message of the newest HEAD reflog entry, if it ends at `new`'s commit.
fn newest_reflog_message(repo: &gix::Repository, new: &Head) -> Option<String> {
    let head = repo.head().ok()?;
    let mut platform = head.log_iter();
    let mut entries = platform.rev().ok()??;
    let line = entries.next()?.ok()?;
    if let Some(commit) = &new.commit
        && gix::ObjectId::from_hex(commit.as_bytes()).ok() != Some(line.new_oid)
    {
        return None;
    }
    Some(line.message.to_str_lossy().into_owned())
}

/// Map a reflog message (as written by git itself) to a cause.
fn classify_reflog_message(message: &str) -> Option<HeadMove> {
    let message = message.trim_start();
    // Order matters: `pull --rebase` is a rebase, other `pull`s are merges.
    let table: [(&str, HeadMove); 9] = [
        ("checkout:", HeadMove::BranchSwitch),
        ("commit", HeadMove::Commit),
        ("cherry-pick", HeadMove::Commit),
        ("revert", HeadMove::Commit),
        ("reset:", HeadMove::Reset),
        ("rebase", HeadMove::Rebase),
        ("pull --rebase", HeadMove::Rebase),
        ("merge", HeadMove::Merge),
        ("pull", HeadMove::Merge),
    ];
    table
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map(|(_, kind)| *kind)
}

fn is_parent_of(repo: &gix::Repository, parent: &str, child: &str) -> bool {
    let (Ok(parent), Ok(child)) = (
        gix::ObjectId::from_hex(parent.as_bytes()),
        gix::ObjectId::from_hex(child.as_bytes()),
    ) else {
        return false;
    };
    let Ok(commit) = repo.find_commit(child) else {
        return false;
    };
    commit.parent_ids().any(|id| id.detach() == parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflog_messages_name_their_cause() {
        let table = [
            (
                "checkout: moving from main to x",
                Some(HeadMove::BranchSwitch),
            ),
            ("commit: add a workflow", Some(HeadMove::Commit)),
            ("commit (amend): add a workflow", Some(HeadMove::Commit)),
            ("commit (initial): start", Some(HeadMove::Commit)),
            ("commit (merge): Merge branch 'x'", Some(HeadMove::Commit)),
            ("cherry-pick: fix", Some(HeadMove::Commit)),
            ("reset: moving to HEAD~1", Some(HeadMove::Reset)),
            ("rebase (start): checkout main", Some(HeadMove::Rebase)),
            (
                "rebase (finish): returning to refs/heads/x",
                Some(HeadMove::Rebase),
            ),
            ("rebase -i (pick): fix", Some(HeadMove::Rebase)),
            (
                "pull --rebase (start): checkout 1234",
                Some(HeadMove::Rebase),
            ),
            ("merge x: Fast-forward", Some(HeadMove::Merge)),
            ("pull: Fast-forward", Some(HeadMove::Merge)),
            ("branch: Created from HEAD", None),
            ("", None),
        ];
        for (message, expect) in table {
            assert_eq!(
                classify_reflog_message(message),
                expect,
                "message {message:?}"
            );
        }
    }
}
