//! Stage `follow`: `serve --follow REMOTE`. Keeps a bare mirror of one
//! branch of a remote in the data folder, fetches it (on a poll with
//! jitter, or at once when a webhook asks), and hands each new head of the
//! branch to the engine as one revision: cause `commit`, or
//! `history_rewritten` when the new head does not have the one served in
//! its history (a force-push).
//!
//! A fetch that fails leaves the commit served in force: the state says
//! `unreachable` since when, with the last error (credentials masked), and
//! the next attempt waits 1 s, 2 s, 4 s… up to the poll interval.
//!
//! Replicas (several followers on one PostgreSQL): the one that takes a
//! webhook, or whose fetch finds a new head, tells the others through the
//! database, and they fetch at once; behind a load balancer only one of
//! them gets the webhook. A notice naming the commit already served
//! fetches nothing.
//!
//! May not: read files from disk (the engine reads the commit's tree it is
//! handed), touch the user's checkout, or trust a webhook's payload (a
//! webhook only wakes the loop; what is served comes from the fetch).

pub mod resume;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::engine::{CauseKind, Engine};
use crate::git::{CommitInfo, CommitTree, GitError, HISTORY_LIMIT, Mirror};
use crate::load::fs::ROOTS;
use crate::secret;
use crate::store::replica::{PushNotice, Replica, Scope};

/// The poll interval unless `--poll-interval` says otherwise.
pub const DEFAULT_POLL: Duration = Duration::from_secs(60);

/// The first wait after a failed fetch; each failure doubles it, up to the
/// poll interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// A fetch taking longer counts as failed (a remote that accepts the
/// connection and then says nothing); it may finish in the background,
/// and no other fetch starts until it has.
pub const FETCH_DEADLINE: Duration = Duration::from_secs(120);

/// What `serve --follow` is told.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// Any URL or path git can fetch from.
    pub remote: String,
    pub branch: String,
    /// How often the remote is fetched without a webhook (±10 %).
    pub poll: Duration,
    /// Where the mirror (`mirror.git`) and, by default, the runs live.
    pub data_dir: PathBuf,
    /// How long a fetch may take ([`FETCH_DEADLINE`] outside tests).
    pub fetch_deadline: Duration,
}

impl FollowConfig {
    /// The bare mirror's folder.
    pub fn mirror_dir(&self) -> PathBuf {
        self.data_dir.join("mirror.git")
    }
}

/// Whether the last fetch reached the remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// No fetch has finished yet.
    Unknown,
    Reachable,
    Unreachable,
}

crate::named!(Reach);

/// The follower's state, for `/status` and `/readyz`.
#[derive(Debug, Clone)]
pub struct FollowStatus {
    /// The remote, credentials masked.
    pub remote: String,
    pub branch: String,
    pub poll: Duration,
    pub reach: Reach,
    /// Since when fetches fail (while `Unreachable`).
    pub unreachable_since: Option<SystemTime>,
    /// The last fetch error, credentials masked (kept after a recovery,
    /// until the next failure replaces it).
    pub last_error: Option<String>,
    /// When a fetch last succeeded.
    pub last_fetch: Option<SystemTime>,
    /// Fetches attempted since start.
    pub fetches: u64,
    /// Failed fetches in a row.
    pub failures: u32,
    /// The commit served (none before the first one).
    pub commit: Option<CommitInfo>,
}

/// The handle the API holds: wake the loop, read the state. Cheap to clone.
#[derive(Clone)]
pub struct Follow {
    inner: Arc<Inner>,
}

struct Inner {
    mirror: Mirror,
    poll: Duration,
    deadline: Duration,
    wake: Notify,
    status: Mutex<FollowStatus>,
    /// The replica group this follower belongs to (`--database
    /// postgres://…`), set once before the loop starts.
    replica: OnceLock<Replica>,
}

impl Follow {
    /// Opens (or creates) the mirror and reads the commit it last fetched,
    /// if any, so a restart serves it before the remote answers. Blocking.
    pub fn open(config: &FollowConfig) -> Result<(Follow, Option<Arc<CommitTree>>), GitError> {
        let mirror = Mirror::open(&config.mirror_dir(), &config.remote, &config.branch)?;
        let first = match mirror.tracked() {
            Some(id) => Some(Arc::new(first_tree(&mirror, &id)?)),
            None => None,
        };
        let status = FollowStatus {
            remote: mask_remote(mirror.remote(), mirror.remote()),
            branch: config.branch.clone(),
            poll: config.poll,
            reach: Reach::Unknown,
            unreachable_since: None,
            last_error: None,
            last_fetch: None,
            fetches: 0,
            failures: 0,
            commit: first.as_ref().and_then(|t| t.commit.clone()),
        };
        let follow = Follow {
            inner: Arc::new(Inner {
                mirror,
                poll: config.poll,
                deadline: config.fetch_deadline,
                wake: Notify::new(),
                status: Mutex::new(status),
                replica: OnceLock::new(),
            }),
        };
        Ok((follow, first))
    }

    /// The replica group of followers of this remote and branch: keyed by
    /// the remote without its credentials, so replicas given different
    /// ones are still one group.
    pub fn scope(config: &FollowConfig) -> Scope {
        let remote = &config.remote;
        let mut bare = String::with_capacity(remote.len());
        let mut from = 0;
        for range in secret::url_secret_ranges(remote) {
            bare.push_str(remote.get(from..range.start).unwrap_or(""));
            from = from.max(range.end);
        }
        bare.push_str(remote.get(from..).unwrap_or(""));
        Scope::new(&bare, &config.branch)
    }

    /// Joins the replicas of `replica`'s group: webhooks and new heads are
    /// announced to them, and theirs wake this loop. Call it before
    /// [`Self::run`]; a second call changes nothing.
    pub fn join_replicas(&self, replica: Replica) {
        let _ = self.inner.replica.set(replica);
    }

    /// The replica group joined, if any.
    pub fn replica(&self) -> Option<&Replica> {
        self.inner.replica.get()
    }

    /// Asks for a fetch now (a webhook came), here and in every other
    /// replica. Requests made while one runs are one more fetch after it,
    /// not one each.
    pub fn trigger(&self) {
        self.inner.wake.notify_one();
        self.announce(None);
    }

    /// Tells the other replicas to fetch, off the async threads.
    fn announce(&self, commit: Option<String>) {
        let Some(replica) = self.inner.replica.get().cloned() else {
            return;
        };
        tokio::task::spawn_blocking(move || {
            if let Err(e) = replica.announce_push(commit.as_deref()) {
                tracing::warn!(error = %e, "cannot tell the other replicas of the push; they fetch at their next poll");
            }
        });
    }

    /// Whether another replica's notice calls for a fetch: not when it
    /// names the commit served.
    fn calls_for_fetch(&self, notice: &PushNotice) -> bool {
        let status = self.inner.status.lock();
        let served = status.commit.as_ref().map(|c| c.id.as_str());
        notice.commit.is_none() || notice.commit.as_deref() != served
    }

    pub fn status(&self) -> FollowStatus {
        self.inner.status.lock().clone()
    }

    /// Whether a commit is served.
    pub fn ready(&self) -> bool {
        self.inner.status.lock().commit.is_some()
    }

    /// Fetches at once, then on every poll (jittered), webhook or retry,
    /// until `shutdown`; each new head goes to `engine` as one revision.
    pub async fn run(self, engine: Engine, shutdown: CancellationToken) {
        // The commit served at start as the engine names it (config
        // secrets masked), in place of the mirror's own copy.
        if let Some(commit) = engine.snapshot().commit.clone() {
            self.inner.status.lock().commit = Some(commit);
        }
        let mut rng = Jitter::new();
        let mut late: Option<tokio::task::JoinHandle<()>> = None;
        let mut pushes = self.inner.replica.get().map(Replica::subscribe_pushes);
        loop {
            let failures = self.fetch_once(&engine, &mut late).await;
            let wait = match failures {
                0 => rng.around(self.inner.poll),
                n => retry_wait(n, self.inner.poll),
            };
            let until = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep_until(until) => break,
                    () = self.inner.wake.notified() => break,
                    notice = next_push(&mut pushes) => match notice {
                        Ok(notice) if self.calls_for_fetch(&notice) => {
                            tracing::debug!(replica = %notice.from, "another replica learned of a push; fetching");
                            break;
                        }
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => pushes = None,
                    },
                }
            }
        }
    }

    /// One fetch and, when the head moved, one revision. Returns the
    /// failures in a row after it.
    async fn fetch_once(
        &self,
        engine: &Engine,
        late: &mut Option<tokio::task::JoinHandle<()>>,
    ) -> u32 {
        if late.as_ref().is_some_and(|h| !h.is_finished()) {
            return self.failed(GitError::Fetch {
                cause: format!(
                    "a fetch begun {} ms ago or more has not ended; waiting for it",
                    self.inner.deadline.as_millis()
                ),
            });
        }
        *late = None;
        let served = self
            .inner
            .status
            .lock()
            .commit
            .as_ref()
            .map(|c| c.id.clone());
        let this = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::task::spawn_blocking(move || {
            let _ = tx.send(this.fetch_new_head(served.as_deref()));
        });
        let fetched = match tokio::time::timeout(self.inner.deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(GitError::Fetch {
                cause: "the fetch stopped before it ended".to_owned(),
            }),
            Err(_) => {
                *late = Some(task);
                Err(GitError::Fetch {
                    cause: format!(
                        "the remote did not answer within {} ms",
                        self.inner.deadline.as_millis()
                    ),
                })
            }
        };
        let now = SystemTime::now();
        match fetched {
            Ok(new_head) => {
                {
                    let mut status = self.inner.status.lock();
                    status.fetches += 1;
                    if status.reach == Reach::Unreachable {
                        tracing::info!(remote = %status.remote, "the remote is reachable again");
                    }
                    status.reach = Reach::Reachable;
                    status.unreachable_since = None;
                    status.last_fetch = Some(now);
                    status.failures = 0;
                }
                if let Some((tree, kind)) = new_head {
                    let commit = tree.commit.clone();
                    match engine.apply_commit(tree, kind).await {
                        // The event's copy has config secrets masked.
                        Ok(event) => {
                            self.announce(commit.as_ref().map(|c| c.id.clone()));
                            self.inner.status.lock().commit =
                                event.and_then(|e| e.cause.commit.clone()).or(commit);
                        }
                        Err(e) => tracing::error!(error = %e, "the commit was not applied"),
                    }
                }
                0
            }
            Err(e) => self.failed(e),
        }
    }

    /// Records a failed fetch; the failures in a row.
    fn failed(&self, e: GitError) -> u32 {
        let mut status = self.inner.status.lock();
        let message = mask_remote(&e.to_string(), self.inner.mirror.remote());
        status.fetches += 1;
        status.failures = status.failures.saturating_add(1);
        if status.reach != Reach::Unreachable {
            status.unreachable_since = Some(SystemTime::now());
            tracing::warn!(remote = %status.remote, error = %message, "the remote is unreachable; the commit served stays in force");
        }
        status.reach = Reach::Unreachable;
        status.last_error = Some(message);
        status.failures
    }

    /// Fetches; when the branch's head is not `served`, reads its tree and
    /// says how it relates to `served`. Blocking.
    fn fetch_new_head(
        &self,
        served: Option<&str>,
    ) -> Result<Option<(Arc<CommitTree>, CauseKind)>, GitError> {
        let mirror = &self.inner.mirror;
        let head = mirror.fetch()?;
        if served == Some(head.as_str()) {
            return Ok(None);
        }
        let kind = match served {
            Some(old) if !mirror.descends_from(&head, old) => CauseKind::HistoryRewritten,
            _ => CauseKind::Commit,
        };
        let tree = match served {
            None => first_tree(mirror, &head)?,
            Some(_) => mirror.tree_at(&head, &ROOTS)?,
        };
        Ok(Some((Arc::new(tree), kind)))
    }
}

/// The next push notice of the replica group; never, when there is none.
async fn next_push(
    pushes: &mut Option<broadcast::Receiver<PushNotice>>,
) -> Result<PushNotice, broadcast::error::RecvError> {
    match pushes {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The first commit served, with who last changed each of its files (the
/// branch's history, at most [`HISTORY_LIMIT`] commits back). When the
/// history cannot be read, its files are the commit's own (logged).
fn first_tree(mirror: &Mirror, id: &str) -> Result<CommitTree, GitError> {
    let mut tree = mirror.tree_at(id, &ROOTS)?;
    let history = tree
        .paths()
        .and_then(|paths| mirror.last_changes(id, &paths, &ROOTS, HISTORY_LIMIT));
    match history {
        Ok(history) => tree.last_changes = Some(history),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read who last changed each file; the commit served is named instead")
        }
    }
    Ok(tree)
}

/// `text` with the credentials of `remote` (its URL userinfo and secret
/// query values, wherever they appear) and of any URL in it masked.
pub fn mask_remote(text: &str, remote: &str) -> String {
    let mut out = text.to_string();
    for range in secret::url_secret_ranges(remote) {
        let raw = &remote[range];
        // The whole userinfo, then its password alone (an error may name
        // only that).
        let password = raw.split_once(':').map(|(_, p)| p);
        for secret in std::iter::once(raw).chain(password) {
            if !secret.is_empty() {
                out = out.replace(secret, &secret::mask(secret));
            }
        }
    }
    secret::mask_url_secrets(&out)
}

/// The wait after `failures` failed fetches in a row: 1 s doubled each
/// time, never past the poll interval.
fn retry_wait(failures: u32, poll: Duration) -> Duration {
    let doubled = FIRST_RETRY.saturating_mul(1 << failures.saturating_sub(1).min(16));
    doubled.min(poll).max(Duration::from_millis(1))
}

/// A small generator for the poll's jitter (not for anything secret):
/// seeded by the OS's random hasher keys, so replicas started together
/// do not poll in step.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        Jitter(h.finish() | 1)
    }

    /// A duration within 10 % of `base`.
    fn around(&mut self, base: Duration) -> Duration {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let unit = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.9 + 0.2 * unit)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A remote that takes the connection and never answers: the fetch
    /// fails at its deadline, the commit served stays, and the follower
    /// does not start a second fetch while the first still hangs.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_silent_remote_fails_at_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Takes one connection and holds it for a while, writing nothing;
        // closing it then lets the hung fetch end.
        let held = std::thread::spawn(move || {
            let stream = listener.accept();
            std::thread::sleep(Duration::from_millis(1500));
            drop(stream);
        });
        let data = tempfile::tempdir().unwrap();
        let config = FollowConfig {
            remote: format!("git://127.0.0.1:{port}/qa.git"),
            branch: "main".to_owned(),
            poll: Duration::from_secs(3600),
            data_dir: data.path().to_path_buf(),
            fetch_deadline: Duration::from_millis(300),
        };
        let (follow, first) = Follow::open(&config).unwrap();
        assert!(first.is_none());
        let env: crate::engine::SharedEnv = Arc::new(|_: &str| None);
        let (engine, worker) = Engine::follow(data.path(), None, env, 16).unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(worker.run(None, shutdown.clone()));
        let mut late = None;
        assert_eq!(follow.fetch_once(&engine, &mut late).await, 1);
        let status = follow.status();
        assert_eq!(status.reach, Reach::Unreachable);
        let error = status.last_error.unwrap();
        assert!(error.contains("did not answer within 300 ms"), "{error}");
        // The hung fetch is still running: no second one starts.
        assert_eq!(follow.fetch_once(&engine, &mut late).await, 2);
        let error = follow.status().last_error.unwrap();
        assert!(error.contains("has not ended"), "{error}");
        assert!(!follow.ready());
        shutdown.cancel();
        held.join().unwrap();
    }

    #[test]
    fn replicas_given_other_credentials_for_one_branch_are_one_group() {
        let config = |remote: &str, branch: &str| FollowConfig {
            remote: remote.to_owned(),
            branch: branch.to_owned(),
            poll: DEFAULT_POLL,
            data_dir: PathBuf::from("/nonexistent"),
            fetch_deadline: FETCH_DEADLINE,
        };
        let a = Follow::scope(&config("https://alice:one@git.example.com/qa.git", "main"));
        let b = Follow::scope(&config("https://bob:two@git.example.com/qa.git", "main"));
        assert_eq!(a, b);
        let release = Follow::scope(&config(
            "https://alice:one@git.example.com/qa.git",
            "release",
        ));
        assert_ne!(a.lock_key(), release.lock_key());
        let other = Follow::scope(&config(
            "https://alice:one@git.example.com/other.git",
            "main",
        ));
        assert_ne!(a.lock_key(), other.lock_key());
    }

    #[test]
    fn retries_double_up_to_the_poll_interval() {
        let poll = Duration::from_secs(60);
        let waits: Vec<u64> = (1..=8).map(|n| retry_wait(n, poll).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(retry_wait(u32::MAX, poll), poll);
        assert_eq!(
            retry_wait(3, Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn the_poll_is_jittered_within_ten_percent() {
        let mut jitter = Jitter::new();
        let base = Duration::from_secs(60);
        let waits: Vec<Duration> = (0..200).map(|_| jitter.around(base)).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= base.mul_f64(0.9) && *w <= base.mul_f64(1.1))
        );
        assert!(waits.iter().any(|w| *w != waits[0]), "no jitter at all");
    }

    #[test]
    fn credentials_of_the_remote_are_masked_wherever_they_appear() {
        let remote = "https://alice:hunter2secret@git.example.com/qa/config.git";
        let error = "cannot fetch from https://alice:hunter2secret@git.example.com/qa/config.git: \
                     authentication failed for alice:hunter2secret";
        let shown = mask_remote(error, remote);
        assert!(!shown.contains("hunter2secret"), "{shown}");
        assert!(shown.contains("git.example.com/qa/config.git"), "{shown}");
        assert_eq!(
            mask_remote(remote, remote).matches("hunter2secret").count(),
            0
        );
        // Nothing to mask: the text is kept.
        assert_eq!(
            mask_remote("no route to host", "/srv/git/qa.git"),
            "no route to host"
        );
    }
}
