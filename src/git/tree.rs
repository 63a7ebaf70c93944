//! Stage `git`: files as committed: the tree at a revision, and what changed
//! between two commits.
//!
//! May not: look at the working tree or the index, or descend into a subtree
//! whose id did not change (a diff costs what changed, not the repo's size).

use std::collections::BTreeMap;

use gix::bstr::{BStr, ByteSlice};
use gix::objs::TreeRefIter;
use gix::objs::tree::EntryMode;

use super::{GitError, GitRepo, path_components, resolve_commit};
use crate::diagnostic::ConfigError;
use crate::load::yaml::{Limits, size_error};

/// Files by repository-relative path: their bytes.
pub type Files = BTreeMap<String, Vec<u8>>;

impl GitRepo {
    /// Every blob under the top-level folders `roots` (e.g. `["workflows",
    /// "config"]`) in the commit `rev` names, keyed by repo-relative path with
    /// `/`. `rev` is any rev-spec: `HEAD`, a branch, a tag, a short hash,
    /// `HEAD~1`. Symlinks and submodules are skipped; a missing root is empty.
    /// A blob over the file size limit is not read (its size is in the
    /// object's header): it comes back as an error for its path instead.
    pub fn read_files_at(
        &self,
        rev: &str,
        roots: &[&str],
    ) -> Result<(Files, Vec<ConfigError>), GitError> {
        let repo = self.local();
        let commit = resolve_commit(&repo, rev)?;
        files_at(&repo, &commit, rev, roots)
    }

    /// The paths of blobs under `roots` that differ between two commits
    /// (added, removed or modified; renames show as both paths), sorted.
    ///
    /// The design asks for `:(top,glob)<root>/**` pathspecs. gix 0.90's tree
    /// diff takes no pathspec, so the restriction is structural instead: each
    /// root's subtree is looked up in both commits and only those two subtrees
    /// are diffed, which matches the same paths and never touches the rest of
    /// the repository. Equal subtree ids are skipped without being read, and
    /// no blob is ever read (rename tracking is off).
    pub fn changed_paths(
        &self,
        old_commit: &str,
        new_commit: &str,
        roots: &[&str],
    ) -> Result<Vec<String>, GitError> {
        let repo = self.local();
        let old_tree = resolve_commit(&repo, old_commit)?
            .tree()
            .map_err(GitError::read(format!("the tree of {old_commit:?}")))?;
        let new_tree = resolve_commit(&repo, new_commit)?
            .tree()
            .map_err(GitError::read(format!("the tree of {new_commit:?}")))?;
        changed_between(&repo, &old_tree, &new_tree, roots)
    }
}

/// The paths of blobs under `roots` that differ between two trees (see
/// [`GitRepo::changed_paths`]), sorted. Reads only the subtrees whose ids
/// differ, and no blob.
pub(super) fn changed_between(
    repo: &gix::Repository,
    old_tree: &gix::Tree<'_>,
    new_tree: &gix::Tree<'_>,
    roots: &[&str],
) -> Result<Vec<String>, GitError> {
    let mut changed = Vec::new();
    for root in roots {
        let root_path = path_components(root)?.join("/");
        let lookup =
            |tree: &gix::Tree<'_>| -> Result<Option<(EntryMode, gix::ObjectId)>, GitError> {
                Ok(tree
                    .lookup_entry_by_path(&root_path)
                    .map_err(GitError::read(format!("{root_path:?} in a commit tree")))?
                    .map(|entry| (entry.mode(), entry.object_id())))
            };
        let (old, new) = (lookup(old_tree)?, lookup(new_tree)?);
        if old == new {
            continue;
        }
        // A root that is (or was) a single file rather than a folder.
        if old.is_some_and(|(mode, _)| mode.is_blob())
            || new.is_some_and(|(mode, _)| mode.is_blob())
        {
            changed.push(root_path.clone());
        }
        let subtree = |entry: Option<(EntryMode, gix::ObjectId)>| {
            entry.filter(|(mode, _)| mode.is_tree()).map(|(_, id)| id)
        };
        diff_subtrees(repo, subtree(old), subtree(new), &root_path, &mut changed)?;
    }
    changed.sort();
    changed.dedup();
    Ok(changed)
}

/// Every blob under `roots` in `tree`, by path, with its id; no blob is
/// read. Symlinks and submodules are skipped, as [`files_at`] does.
pub(super) fn blobs_at(
    repo: &gix::Repository,
    tree: &gix::Tree<'_>,
    roots: &[&str],
) -> Result<BTreeMap<String, gix::ObjectId>, GitError> {
    let mut blobs = BTreeMap::new();
    for root in roots {
        let root_path = path_components(root)?.join("/");
        let entry = tree
            .lookup_entry_by_path(&root_path)
            .map_err(GitError::read(format!("{root_path:?} in a commit tree")))?;
        let Some(entry) = entry else { continue };
        let (mode, id) = (entry.mode(), entry.object_id());
        if mode.is_blob() {
            blobs.insert(root_path, id);
            continue;
        }
        if !mode.is_tree() {
            continue;
        }
        each_blob(repo, id, &root_path, |path, id| {
            blobs.insert(path, id);
            Ok(())
        })?;
    }
    Ok(blobs)
}

/// The blob at `path` in `tree`, if there is one (a folder, a symlink or a
/// submodule there counts as none).
pub(super) fn blob_at(tree: &gix::Tree<'_>, path: &str) -> Result<Option<gix::ObjectId>, GitError> {
    let path = path_components(path)?.join("/");
    let entry = tree
        .lookup_entry_by_path(&path)
        .map_err(GitError::read(format!("{path:?} in a commit tree")))?;
    Ok(entry.filter(|e| e.mode().is_blob()).map(|e| e.object_id()))
}

/// Every blob under `roots` in `commit`'s tree (see
/// [`GitRepo::read_files_at`]); `rev` names the commit in errors.
fn files_at(
    repo: &gix::Repository,
    commit: &gix::Commit<'_>,
    rev: &str,
    roots: &[&str],
) -> Result<(Files, Vec<ConfigError>), GitError> {
    let tree = commit
        .tree()
        .map_err(GitError::read(format!("the tree of {rev:?}")))?;
    let mut files = BTreeMap::new();
    let mut refused = Vec::new();
    for root in roots {
        let root_path = path_components(root)?.join("/");
        let entry = tree
            .lookup_entry_by_path(&root_path)
            .map_err(GitError::read(format!("{root_path:?} at {rev:?}")))?;
        let Some(entry) = entry else { continue };
        let (mode, id) = (entry.mode(), entry.object_id());
        if mode.is_tree() {
            collect_blobs(repo, id, &root_path, &mut files, &mut refused)?;
        } else if mode.is_blob() {
            match read_blob(repo, id, &root_path)? {
                Ok(data) => {
                    files.insert(root_path.clone(), data);
                }
                Err(e) => refused.push(e),
            }
        }
    }
    Ok((files, refused))
}

/// Every blob below `tree_id`, read, by path; those over the size limit
/// as errors in `refused`.
fn collect_blobs(
    repo: &gix::Repository,
    tree_id: gix::ObjectId,
    prefix: &str,
    out: &mut BTreeMap<String, Vec<u8>>,
    refused: &mut Vec<ConfigError>,
) -> Result<(), GitError> {
    each_blob(repo, tree_id, prefix, |path, id| {
        match read_blob(repo, id, &path)? {
            Ok(data) => {
                out.insert(path, data);
            }
            Err(e) => refused.push(e),
        }
        Ok(())
    })
}

/// Calls `found` with the path and id of every blob below `tree_id`, with
/// an explicit stack rather than recursion: a commit can nest trees 30,000
/// deep, far past the call stack. Symlinks are skipped (they may point
/// outside the repository); submodules (commits) have no content here.
fn each_blob(
    repo: &gix::Repository,
    tree_id: gix::ObjectId,
    prefix: &str,
    mut found: impl FnMut(String, gix::ObjectId) -> Result<(), GitError>,
) -> Result<(), GitError> {
    let mut pending = vec![(tree_id, prefix.to_string())];
    while let Some((tree_id, prefix)) = pending.pop() {
        let tree = repo
            .find_tree(tree_id)
            .map_err(GitError::read(format!("the folder {prefix:?}")))?;
        for entry in tree.iter() {
            let entry = entry.map_err(GitError::read(format!("the folder {prefix:?}")))?;
            let (mode, id) = (entry.mode(), entry.object_id());
            let path = join(&prefix, entry.filename());
            if mode.is_tree() {
                pending.push((id, path));
            } else if mode.is_blob() {
                found(path, id)?;
            }
        }
    }
    Ok(())
}

/// The blob's bytes, or the size error when its header says it is over the
/// limit (then it is not read at all).
pub(super) fn read_blob(
    repo: &gix::Repository,
    id: gix::ObjectId,
    path: &str,
) -> Result<Result<Vec<u8>, ConfigError>, GitError> {
    let header = repo
        .find_header(id)
        .map_err(GitError::read(format!("the file {path:?}")))?;
    let size = usize::try_from(header.size()).unwrap_or(usize::MAX);
    if let Some(e) = size_error(path, size, &Limits::default()) {
        return Ok(Err(e));
    }
    let mut blob = repo
        .find_blob(id)
        .map_err(GitError::read(format!("the file {path:?}")))?;
    Ok(Ok(blob.take_data()))
}

/// Diff two (possibly absent) subtrees found at `prefix` and push changed blob paths.
fn diff_subtrees(
    repo: &gix::Repository,
    old: Option<gix::ObjectId>,
    new: Option<gix::ObjectId>,
    prefix: &str,
    out: &mut Vec<String>,
) -> Result<(), GitError> {
    let load = |id: Option<gix::ObjectId>| -> Result<Vec<u8>, GitError> {
        match id {
            Some(id) => Ok(repo
                .find_tree(id)
                .map_err(GitError::read(format!("the folder {prefix:?}")))?
                .detach()
                .data),
            None => Ok(Vec::new()),
        }
    };
    let (old_data, new_data) = (load(old)?, load(new)?);
    let mut recorder = gix::diff::tree::Recorder::default();
    gix::diff::tree(
        TreeRefIter::from_bytes(&old_data, repo.object_hash()),
        TreeRefIter::from_bytes(&new_data, repo.object_hash()),
        gix::diff::tree::State::default(),
        &repo.objects,
        &mut recorder,
    )
    .map_err(GitError::read(format!("the changes under {prefix:?}")))?;

    use gix::diff::tree::recorder::Change;
    for change in recorder.records {
        let (path, is_file) = match &change {
            Change::Addition {
                entry_mode, path, ..
            }
            | Change::Deletion {
                entry_mode, path, ..
            } => (path, entry_mode.is_blob()),
            Change::Modification {
                previous_entry_mode,
                entry_mode,
                path,
                ..
            } => (path, previous_entry_mode.is_blob() || entry_mode.is_blob()),
        };
        if is_file {
            out.push(join(prefix, path.as_bstr()));
        }
    }
    Ok(())
}

fn join(prefix: &str, name: &BStr) -> String {
    format!("{prefix}/{}", name.to_str_lossy())
}
