//! Stage `follow`: resumes named by commit (`since=<commit>`). A client
//! that holds the state of a commit of the followed branch gets the change
//! from that commit to the one served, computed from the mirror's objects:
//! a fresh applier loads the old commit's tree, then applies the served
//! commit's tree, exactly as the engine applies a new head (the same load,
//! resolve, patch and masking code), so every server following the branch
//! answers a commit the same way, whatever it saw before.
//!
//! The change is given only when it leads to the state served: the old
//! commit must be in the served commit's history (every follower fetched
//! it), and the served commit loaded after it must equal what this server
//! serves (it differs when a broken file keeps a version from an earlier
//! commit this server saw). Otherwise the client takes a snapshot.
//!
//! Bounded: one computation at a time (each costs a load of the old tree
//! and of the files that changed, like a cold start), and the last few
//! answers are kept per (old commit, revision served), so a crowd of
//! clients resuming from one commit costs one computation.
//!
//! May not: publish, change the engine's state, or serve anything but a
//! commit of the mirror's history.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imbl::OrdMap;
use parking_lot::Mutex;
use tokio::sync::{OnceCell, Semaphore};

use super::Follow;
use crate::engine::{Applier, CauseKind, Event, Input, Served, SharedEnv, Snapshot, Timings};
use crate::git::Mirror;
use crate::load::fs::ROOTS;

/// Answers kept (the newest first out last), and the bytes their patches
/// may hold together (the newest is always kept).
const KEPT: usize = 8;
const KEPT_BYTES: usize = 64 * 1024 * 1024;

/// Why a commit cannot be resumed from; the client takes a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("no commit is served yet")]
    NothingServed,
    #[error("commit {commit} is not in this server's mirror of the branch")]
    Unknown { commit: String },
    #[error(
        "commit {commit} is not in the history of the commit served ({served}): it may be newer \
         than what this server fetched, or a force-push removed it"
    )]
    NotInHistory { commit: String, served: String },
    #[error(
        "the state served differs from commit {served} loaded after commit {commit} (a broken \
         file keeps a version of an earlier commit)"
    )]
    Differs { commit: String, served: String },
    #[error("the change from commit {commit} could not be computed: {cause}")]
    Failed { commit: String, cause: String },
}

/// A full commit id as a client may send it: 40 (SHA-1) or 64 (SHA-256)
/// hex digits, any case; lower case returned. Anything else is `None`.
pub fn commit_id(text: &str) -> Option<String> {
    let full = matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit());
    full.then(|| text.to_ascii_lowercase())
}

/// What one (old commit, revision served) resolved to.
type Answer = Result<Arc<Event>, ResumeError>;

/// (old commit, revision served).
type Key = (String, u64);

/// The resumes of one follower: computes and keeps them. Cheap to clone.
#[derive(Clone)]
pub struct Resumes {
    inner: Arc<Inner>,
}

struct Inner {
    follow: Follow,
    env: SharedEnv,
    kept: Mutex<VecDeque<(Key, Arc<OnceCell<Answer>>)>>,
    gate: Semaphore,
}

impl Resumes {
    /// Resumes from `follow`'s mirror; `env` reads `${VAR}` as the engine
    /// does (so secrets are the same and masked the same).
    pub fn new(follow: Follow, env: SharedEnv) -> Self {
        Resumes {
            inner: Arc::new(Inner {
                follow,
                env,
                kept: Mutex::new(VecDeque::new()),
                gate: Semaphore::new(1),
            }),
        }
    }

    /// The change from commit `from` (a full id, see [`commit_id`]) to
    /// `live`, the snapshot served: `None` when `live` serves `from`
    /// itself, else one event whose patches turn `from`'s state into
    /// `live`'s (revision `live.revision`, base revision 0, cause `commit`
    /// with the previous head at `from`).
    pub async fn since(
        &self,
        from: &str,
        live: &Arc<Snapshot>,
    ) -> Result<Option<Arc<Event>>, ResumeError> {
        let Some(served) = live.head.as_ref().and_then(|h| h.commit.clone()) else {
            return Err(ResumeError::NothingServed);
        };
        if served == from {
            return Ok(None);
        }
        let cell = self.cell((from.to_owned(), live.revision));
        let answer = cell
            .get_or_init(|| async {
                // One at a time: each costs a load of a whole tree.
                let Ok(_permit) = self.inner.gate.acquire().await else {
                    return Err(failed(from, "the server is stopping"));
                };
                let this = self.clone();
                let (from, live) = (from.to_owned(), Arc::clone(live));
                let fallback = from.clone();
                tokio::task::spawn_blocking(move || this.compute(&from, &served, &live))
                    .await
                    .unwrap_or_else(|e| Err(failed(&fallback, &e.to_string())))
            })
            .await
            .clone();
        if let Ok(event) = &answer {
            tracing::debug!(
                revision = event.revision,
                patches = event.patches.len(),
                "a resume from a commit answered"
            );
        }
        self.trim();
        answer.map(Some)
    }

    /// The cell of `key`, new or kept (and then made the newest).
    fn cell(&self, key: Key) -> Arc<OnceCell<Answer>> {
        let mut kept = self.inner.kept.lock();
        let cell = match kept.iter().position(|(k, _)| *k == key) {
            Some(at) => kept.remove(at).map(|(_, c)| c),
            None => None,
        }
        .unwrap_or_default();
        kept.push_back((key, Arc::clone(&cell)));
        drop(kept);
        // Bounded on every insert, refusals too: a client sending one
        // made-up id after another leaves at most KEPT entries.
        self.trim();
        cell
    }

    /// Drops the oldest answers past [`KEPT`] or [`KEPT_BYTES`] (one being
    /// computed still reaches those waiting for it, only not later ones).
    fn trim(&self) {
        let mut kept = self.inner.kept.lock();
        let cost = |cell: &OnceCell<Answer>| match cell.get() {
            Some(Ok(event)) => event.bytes_beyond(&event.errors),
            _ => 0,
        };
        let mut bytes: usize = kept.iter().map(|(_, c)| cost(c)).sum();
        while kept.len() > KEPT || (bytes > KEPT_BYTES && kept.len() > 1) {
            let Some((_, old)) = kept.pop_front() else {
                break;
            };
            bytes -= cost(&old);
        }
    }

    /// Blocking: loads `from`, applies `served` after it, and checks the
    /// result against `live`.
    fn compute(&self, from: &str, served: &str, live: &Snapshot) -> Answer {
        let started = Instant::now();
        let mirror = &self.inner.follow.inner.mirror;
        if mirror.commit(from).is_err() {
            return Err(ResumeError::Unknown {
                commit: from.to_owned(),
            });
        }
        if !mirror.descends_from(served, from) {
            return Err(ResumeError::NotInHistory {
                commit: from.to_owned(),
                served: served.to_owned(),
            });
        }
        let event = change(mirror, Arc::clone(&self.inner.env), from, served)?;
        let (fresh, event) = event;
        if !same_state(&fresh, live) {
            return Err(ResumeError::Differs {
                commit: from.to_owned(),
                served: served.to_owned(),
            });
        }
        Ok(Arc::new(Event {
            revision: live.revision,
            base_revision: 0,
            at: live.at,
            timings: Timings {
                detect: Duration::ZERO,
                apply: started.elapsed(),
                trigger: None,
            },
            // Equal to the fresh state's (checked above), and shared with
            // the snapshot rather than held twice.
            errors: live.errors.clone(),
            ..event
        }))
    }
}

/// The state of `served` loaded after `from` by a fresh applier, and the
/// event of that second revision.
fn change(
    mirror: &Mirror,
    env: SharedEnv,
    from: &str,
    served: &str,
) -> Result<(Arc<Snapshot>, Event), ResumeError> {
    let fail = |e: &dyn std::fmt::Display| failed(from, &e.to_string());
    let old = mirror.tree_at(from, &ROOTS).map_err(|e| fail(&e))?;
    let new = mirror.tree_at(served, &ROOTS).map_err(|e| fail(&e))?;
    // The folder is never read: files come from the trees.
    let mut applier = Applier::following(PathBuf::from(mirror.dir()), env).map_err(|e| fail(&e))?;
    applier
        .apply(Input::commit(Arc::new(old), CauseKind::Startup))
        .map_err(|e| fail(&e))?;
    let outcome = applier
        .apply(Input::commit(Arc::new(new), CauseKind::Commit))
        .map_err(|e| fail(&e))?
        .ok_or_else(|| failed(from, "the served commit made no revision"))?;
    let event = Arc::unwrap_or_clone(outcome.event);
    Ok((outcome.snapshot, event))
}

fn failed(commit: &str, cause: &str) -> ResumeError {
    ResumeError::Failed {
        commit: commit.to_owned(),
        cause: cause.to_owned(),
    }
}

/// Whether two snapshots serve the same: each entity from the same file
/// with the same text (an entity is a function of both), the same
/// settings and the same diagnostics.
fn same_state(a: &Snapshot, b: &Snapshot) -> bool {
    same_entities(&a.workflows, &b.workflows)
        && same_entities(&a.integrations, &b.integrations)
        && a.settings == b.settings
        && a.settings_file == b.settings_file
        && a.errors == b.errors
}

fn same_entities<K: Ord, T>(a: &OrdMap<K, Arc<Served<T>>>, b: &OrdMap<K, Arc<Served<T>>>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, sa), (kb, sb))| ka == kb && sa.file == sb.file && sa.text == sb.text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::follow::FollowConfig;
    use crate::git::Head;

    /// Commits a mirror has never fetched are refused without loading
    /// anything, and however many a client makes up, the answers kept
    /// stay bounded.
    #[tokio::test]
    async fn made_up_commits_are_unknown_and_the_answers_kept_are_bounded() {
        let data = tempfile::tempdir().unwrap();
        let config = FollowConfig {
            remote: data.path().join("nowhere.git").display().to_string(),
            branch: "main".to_owned(),
            poll: Duration::from_secs(3600),
            data_dir: data.path().to_path_buf(),
            fetch_deadline: Duration::from_secs(1),
        };
        let (follow, _) = Follow::open(&config).unwrap();
        let resumes = Resumes::new(follow, Arc::new(|_: &str| None));
        let nothing = Arc::new(Snapshot::empty());
        let made_up = "1".repeat(40);
        assert_eq!(
            resumes.since(&made_up, &nothing).await.err(),
            Some(ResumeError::NothingServed)
        );
        let served = "f".repeat(40);
        let live = Arc::new(Snapshot {
            head: Some(Head {
                branch: Some("main".to_owned()),
                commit: Some(served.clone()),
            }),
            ..Snapshot::empty()
        });
        assert!(matches!(resumes.since(&served, &live).await, Ok(None)));
        for n in 0..3 * KEPT {
            let commit = format!("{n:040x}");
            assert_eq!(
                resumes.since(&commit, &live).await.err(),
                Some(ResumeError::Unknown { commit })
            );
            assert!(resumes.inner.kept.lock().len() <= KEPT);
        }
    }

    #[test]
    fn only_full_hex_ids_are_commits() {
        let sha1 = "0123456789abcdef0123456789ABCDEF01234567";
        assert_eq!(
            commit_id(sha1).as_deref(),
            Some(sha1.to_ascii_lowercase().as_str())
        );
        assert!(commit_id(&"a".repeat(64)).is_some());
        for not in [
            "",
            "12",
            "0123456",
            &"a".repeat(39),
            &"a".repeat(41),
            &"g".repeat(40),
            &"é".repeat(20),
        ] {
            assert_eq!(commit_id(not), None, "{not}");
        }
    }
}
