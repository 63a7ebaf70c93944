//! Stage `git`: the bare mirror `serve --follow` keeps of one branch of a
//! remote: fetch it, read a commit's metadata and the files of its tree.
//!
//! May not: touch any repository but the mirror it created (no working
//! tree, no checkout), run a `git` command itself (gix runs `git
//! upload-pack` for a local path or `file://`, and `ssh` for `ssh://`, as
//! git does), or know what the files mean.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use gix::bstr::ByteSlice;
use parking_lot::Mutex;

use super::error::lower_first;
use super::tree::{blob_at as tree_blob_at, blobs_at, changed_between, read_blob};
use super::{GitError, Head};
use crate::diagnostic::{ConfigError, ErrorKind, Pos};

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

/// How many commits back from the first head served the history is walked
/// to find who last changed each file; a file unchanged in all of them has
/// no known last change.
pub const HISTORY_LIMIT: usize = 1000;

/// Who last changed each file, by path (see [`Mirror::last_changes`]).
pub type LastChanges = BTreeMap<String, Arc<CommitInfo>>;

/// One commit of the followed branch: its metadata, and its files under the
/// roots asked for, read from the mirror only when asked (so a new head
/// costs the files that changed, not every file).
#[derive(Default)]
pub struct CommitTree {
    /// Branch and commit (empty before the first commit is known).
    pub head: Head,
    pub commit: Option<CommitInfo>,
    /// For the first commit served: who last changed each file, from the
    /// branch's history; `None` for later commits, whose changes are their
    /// own.
    pub last_changes: Option<LastChanges>,
    /// The mirror and the tree's id, when a commit is known.
    objects: Option<Objects>,
    /// Blobs read from the mirror so far.
    reads: AtomicUsize,
}

struct Objects {
    /// A thread-local handle behind a lock: reads happen on the applier's
    /// one thread, and `gix::Repository` is `Send` but not `Sync`.
    repo: Mutex<gix::Repository>,
    /// The mirror's folder: two trees compare only within one mirror.
    dir: PathBuf,
    tree: gix::ObjectId,
    roots: Vec<String>,
    /// Every blob under the roots, listed the first time it is asked for.
    blobs: OnceLock<Result<BTreeMap<String, gix::ObjectId>, String>>,
    /// Files looked up by path, one walk of the trees each; past
    /// [`PER_PATH_LOOKUPS`] the blobs are listed once instead.
    lookups: AtomicUsize,
}

/// Files looked up one by one before a commit's blobs are listed: a
/// lookup decodes every tree on the path, so a commit changing 1,000 files
/// of one folder decoded that folder 1,000 times.
const PER_PATH_LOOKUPS: usize = 16;

impl std::fmt::Debug for CommitTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitTree")
            .field("head", &self.head)
            .field("commit", &self.commit)
            .finish_non_exhaustive()
    }
}

impl CommitTree {
    /// Every file under the roots (over-size ones too: reading them says
    /// so). Reads the folders, no file. Empty when no commit is known; an
    /// error when the mirror cannot be read.
    pub fn paths(&self) -> Result<Vec<String>, GitError> {
        Ok(self
            .blobs()?
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// The file at `path`: `None` when the commit has none there, the
    /// size error when it is over the limit (then it is not read), or an
    /// error at its path when the mirror cannot give it.
    pub fn read(&self, path: &str) -> Option<Result<Vec<u8>, ConfigError>> {
        let objects = self.objects.as_ref()?;
        let io = |e: GitError| ConfigError::new(path, Pos::START, ErrorKind::Io, e.to_string());
        let listed = objects.blobs.get().is_some()
            || objects.lookups.fetch_add(1, Ordering::Relaxed) >= PER_PATH_LOOKUPS;
        let id = if listed {
            match self.blobs() {
                Ok(blobs) => blobs.and_then(|b| b.get(path).copied()),
                Err(e) => return Some(Err(io(e))),
            }
        } else {
            let repo = objects.repo.lock();
            match repo.find_tree(objects.tree) {
                Ok(tree) => match tree_blob_at(&tree, path) {
                    Ok(id) => id,
                    Err(e) => return Some(Err(io(e))),
                },
                Err(e) => {
                    let e = GitError::read(format!("the tree of {}", objects.tree))(e);
                    return Some(Err(io(e)));
                }
            }
        }?;
        let repo = objects.repo.lock();
        let read = match read_blob(&repo, id, path) {
            Ok(read) => read,
            Err(e) => return Some(Err(io(e))),
        };
        if read.is_ok() {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        Some(read)
    }

    /// The files that differ between `older` and this commit (added,
    /// removed or modified), from a diff of the two trees: only the folders
    /// whose ids differ are read, and no file. `None` when the two cannot
    /// be compared (either has no commit, or they are not of one mirror).
    pub fn changed_since(&self, older: &CommitTree) -> Option<Result<Vec<String>, GitError>> {
        let (new, old) = (self.objects.as_ref()?, older.objects.as_ref()?);
        if new.dir != old.dir {
            return None;
        }
        let repo = new.repo.lock();
        let tree = |id: gix::ObjectId| {
            repo.find_tree(id)
                .map_err(GitError::read(format!("the tree {id}")))
        };
        let roots: Vec<&str> = new.roots.iter().map(String::as_str).collect();
        Some(
            tree(old.tree)
                .and_then(|o| tree(new.tree).map(|n| (o, n)))
                .and_then(|(o, n)| changed_between(&repo, &o, &n, &roots)),
        )
    }

    /// How many files were read from the mirror (by [`CommitTree::read`]).
    pub fn files_read(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }

    fn blobs(&self) -> Result<Option<&BTreeMap<String, gix::ObjectId>>, GitError> {
        let Some(objects) = &self.objects else {
            return Ok(None);
        };
        let listed = objects.blobs.get_or_init(|| {
            let repo = objects.repo.lock();
            let roots: Vec<&str> = objects.roots.iter().map(String::as_str).collect();
            repo.find_tree(objects.tree)
                .map_err(GitError::read(format!("the tree {}", objects.tree)))
                .and_then(|tree| blobs_at(&repo, &tree, &roots))
                .map_err(|e| e.to_string())
        });
        match listed {
            Ok(blobs) => Ok(Some(blobs)),
            Err(cause) => Err(GitError::Read {
                what: "the files of the commit".to_owned(),
                cause: cause.clone(),
            }),
        }
    }
}

/// A bare repository that mirrors one branch of a remote.
pub struct Mirror {
    /// Re-opened when the packs fetched near the slots it was opened with.
    repo: parking_lot::RwLock<Opened>,
    /// The fewest pack-index slots the repository is opened with.
    min_slots: usize,
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

/// The repository as opened, and how many pack indexes it can hold.
struct Opened {
    repo: gix::ThreadSafeRepository,
    slots: usize,
}

/// The pack-index slots a mirror is opened with at least. gix sizes its
/// slot map once, at open, and every fetch that brings objects adds a
/// pack: a mirror opened with gix's default (32) fails after some 30
/// pushes. Past half of its slots, the mirror is opened again with twice
/// the packs on disk.
pub const MIN_SLOTS: usize = 1024;

/// The pack indexes in `dir`'s object database.
fn packs_in(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("objects/pack")).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "idx"))
            .count()
    })
}

/// Opens (or creates, when `create`) the bare repository at `dir` with
/// room for at least `min_slots` pack indexes, and twice those on disk.
fn open_repo(dir: &Path, create: bool, min_slots: usize) -> Result<Opened, GitError> {
    let slots = min_slots.max(2 * packs_in(dir)).min(usize::from(u16::MAX));
    let options = gix::open::Options::default().object_store_slots(
        gix::odb::store::init::Slots::Given(u16::try_from(slots).unwrap_or(u16::MAX)),
    );
    let error = |err: &dyn std::fmt::Display| GitError::Open {
        dir: dir.to_path_buf(),
        cause: lower_first(&err.to_string()),
    };
    let repo = if create {
        std::fs::create_dir_all(dir).map_err(|e| error(&e))?;
        gix::ThreadSafeRepository::init_opts(
            dir,
            gix::create::Kind::Bare,
            gix::create::Options::default(),
            options,
        )
        .map_err(|e| error(&e))?
    } else {
        gix::ThreadSafeRepository::open_opts(dir, options).map_err(|e| error(&e))?
    };
    Ok(Opened { repo, slots })
}

impl Mirror {
    /// Opens the bare mirror at `dir`, creating it (and its parents) when
    /// missing. `remote` is any URL or path git can fetch from; a path
    /// that exists is made absolute, so the mirror does not depend on the
    /// current folder.
    pub fn open(dir: &Path, remote: &str, branch: &str) -> Result<Mirror, GitError> {
        Mirror::open_with_slots(dir, remote, branch, MIN_SLOTS)
    }

    /// [`Mirror::open`] with at least `min_slots` pack-index slots (the
    /// tests take few, to reach a re-open in a few fetches).
    pub fn open_with_slots(
        dir: &Path,
        remote: &str,
        branch: &str,
        min_slots: usize,
    ) -> Result<Mirror, GitError> {
        let full = format!("refs/heads/{branch}");
        if gix::refs::FullName::try_from(full.as_str()).is_err() || branch.starts_with('-') {
            return Err(GitError::InvalidBranch {
                branch: branch.to_owned(),
            });
        }
        let repo = open_repo(dir, !dir.join("HEAD").is_file(), min_slots)?;
        let local_path = Path::new(remote);
        let remote = if !remote.contains("://") && local_path.exists() {
            std::path::absolute(local_path)
                .map_or_else(|_| remote.to_owned(), |p| p.display().to_string())
        } else {
            remote.to_owned()
        };
        Ok(Mirror {
            repo: parking_lot::RwLock::new(repo),
            min_slots,
            dir: dir.to_path_buf(),
            remote,
            branch: branch.to_owned(),
            tracking: format!("{TRACKING_PREFIX}{branch}"),
        })
    }

    /// The repository, for this thread.
    fn repo(&self) -> gix::Repository {
        self.repo.read().repo.to_thread_local()
    }

    /// Opens the repository again when the packs on disk have filled half
    /// of the slots it was opened with (each fetch that brings objects
    /// adds one).
    fn make_room(&self) -> Result<(), GitError> {
        if 2 * packs_in(&self.dir) > self.repo.read().slots {
            let opened = open_repo(&self.dir, false, self.min_slots)?;
            tracing::debug!(
                slots = opened.slots,
                "mirror opened again with more pack slots"
            );
            *self.repo.write() = opened;
        }
        Ok(())
    }

    /// Pack-index slots the repository is open with now.
    pub fn slots(&self) -> usize {
        self.repo.read().slots
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
        let repo = self.repo();
        let mut reference = repo.find_reference(self.tracking.as_str()).ok()?;
        let id = reference.peel_to_id().ok()?;
        Some(id.to_string())
    }

    /// Fetches the branch (a forced update: a rewritten history replaces
    /// the old one) and returns its commit. Blocking; bounded by the
    /// transport's own timeouts.
    pub fn fetch(&self) -> Result<String, GitError> {
        let repo = self.repo();
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
        drop(repo);
        self.make_room()?;
        self.tracked().ok_or_else(|| GitError::NoSuchBranch {
            branch: self.branch.clone(),
        })
    }

    /// The metadata of commit `id`.
    pub fn commit(&self, id: &str) -> Result<CommitInfo, GitError> {
        let repo = self.repo();
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

    /// Commit `id`, whose files under `roots` are read when asked for.
    pub fn tree_at(&self, id: &str, roots: &[&str]) -> Result<CommitTree, GitError> {
        let repo = self.repo();
        let commit = find_commit(&repo, id)?;
        let tree = commit
            .tree_id()
            .map_err(GitError::read(format!("the tree of {id}")))?
            .detach();
        for root in roots {
            // Checked here, so a bad root fails now rather than at a read.
            super::path_components(root)?;
        }
        Ok(CommitTree {
            head: Head {
                branch: Some(self.branch.clone()),
                commit: Some(commit.id.to_string()),
            },
            commit: Some(self.commit(id)?),
            last_changes: None,
            objects: Some(Objects {
                repo: Mutex::new(self.repo()),
                dir: self.dir.clone(),
                tree,
                roots: roots.iter().map(|r| (*r).to_owned()).collect(),
                blobs: OnceLock::new(),
                lookups: AtomicUsize::new(0),
            }),
            reads: AtomicUsize::new(0),
        })
    }

    /// For each of `paths`, the commit that last changed it, walking the
    /// first parents back from `head` (so a change merged from another
    /// branch is the merge's) for at most `limit` commits. A path
    /// unchanged in all of them is left out. Reads commits and the folders
    /// under `roots` whose ids differ, never a file.
    pub fn last_changes(
        &self,
        head: &str,
        paths: &[String],
        roots: &[&str],
        limit: usize,
    ) -> Result<LastChanges, GitError> {
        let repo = self.repo();
        let mut wanted: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
        let mut found = LastChanges::new();
        let mut at = find_commit(&repo, head)?;
        for _ in 0..limit {
            if wanted.is_empty() {
                break;
            }
            let what = || format!("the commit {}", at.id);
            let tree = at.tree().map_err(GitError::read(what()))?;
            let parent = at.parent_ids().next().map(|p| p.detach());
            let changed = match parent {
                Some(parent) => {
                    let parent = repo
                        .find_commit(parent)
                        .map_err(GitError::read(format!("the commit {parent}")))?;
                    let parent_tree = parent.tree().map_err(GitError::read(what()))?;
                    let changed = changed_between(&repo, &parent_tree, &tree, roots)?;
                    Some((changed, parent))
                }
                None => None,
            };
            let here: Vec<&str> = match &changed {
                Some((changed, _)) => changed
                    .iter()
                    .filter_map(|p| wanted.get(p.as_str()).copied())
                    .collect(),
                // The first commit of the history made every file left.
                None => wanted.iter().copied().collect(),
            };
            if !here.is_empty() {
                let info = Arc::new(self.commit(&at.id.to_string())?);
                for path in here {
                    wanted.remove(path);
                    found.insert(path.to_owned(), Arc::clone(&info));
                }
            }
            match changed {
                Some((_, parent)) => at = parent,
                None => break,
            }
        }
        Ok(found)
    }

    /// Whether `new` has `old` in its history (a fast-forward from `old`).
    /// False when either is unknown.
    pub fn descends_from(&self, new: &str, old: &str) -> bool {
        let repo = self.repo();
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
