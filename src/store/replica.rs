//! Stage `store`: replicas of `serve --follow` sharing one PostgreSQL
//! database. Three things pass through it, and nothing else:
//!
//! - **who runs connection tests**: the replica holding a session-level
//!   advisory lock (`pg_try_advisory_lock`) on a connection of its own. The
//!   others try again every [`ELECTION_RETRY`]; when the leader's process
//!   dies its connection closes, the lock goes with it, and the next try of
//!   another replica takes it;
//! - **test results**: the table `qa_reload_integration_status`, one row per
//!   integration, written by whoever ran the test and announced on a
//!   channel the others LISTEN on (after a reconnection they read every
//!   row again, since notices sent meanwhile are lost);
//! - **push notices**: a replica that took a webhook, or whose fetch found a
//!   new head, sends a NOTIFY; the others fetch at once. A notice is a hint:
//!   what is served always comes from the fetch.
//!
//! Everything is kept apart per [`Scope`] (the remote and branch followed),
//! so two teams' servers on one database neither share results nor wait
//! for each other's lock. Blocking: the listening connection lives on a
//! thread of its own, and the other calls run on tokio's blocking threads.
//! May not: know what an integration or a commit is beyond the plain
//! values it stores, or trust a notice's payload for anything but a hint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Notification, Row};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

use super::postgres::{PgStore, unavailable};
use super::{StoreError, from_micros, to_micros};

/// How often a replica that does not lead tries to take the lock, and the
/// leader checks its connection is still there.
pub const ELECTION_RETRY: Duration = Duration::from_secs(2);

/// How long the listening thread waits for a notice before it looks at the
/// shutdown signal and the election clock again.
const WAKE: Duration = Duration::from_millis(200);

/// The first wait before reconnecting a lost listening connection; it
/// doubles up to [`ELECTION_RETRY`].
const RECONNECT_FIRST: Duration = Duration::from_millis(250);

/// Notices a subscriber may fall behind by before it is told it lagged (and
/// should read every result again).
const NOTICE_CAPACITY: usize = 64;

/// The remote and branch a group of replicas follows, and what is derived
/// from it: the lock key, the channels and the key of shared rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// SHA-256 (hex) of the remote and branch: what rows are keyed by.
    key: String,
    lock: i64,
    push_channel: String,
    tests_channel: String,
}

impl Scope {
    /// The scope of `remote` (without credentials: replicas holding
    /// different ones still follow the same branch) and `branch`.
    pub fn new(remote: &str, branch: &str) -> Scope {
        let digest = Sha256::digest(format!("qa-reload replicas\n{remote}\n{branch}").as_bytes());
        let key: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Scope {
            lock: i64::from_be_bytes(first),
            push_channel: format!("qa_reload_push_{}", &key[..16]),
            tests_channel: format!("qa_reload_tests_{}", &key[..16]),
            key,
        }
    }

    /// The advisory lock key of the connection-test leader.
    pub fn lock_key(&self) -> i64 {
        self.lock
    }
}

/// Whether this replica runs connection tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It holds the lock: it tests, and writes each result.
    Leader,
    /// Another replica tests; this one shows the results it writes.
    Follower,
}

/// What the database says about connection tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestsNotice {
    /// A replica wrote the result of this integration.
    Changed(String),
    /// Notices may have been missed (the listening connection was lost):
    /// read every result again.
    Resync,
    /// This replica's role changed.
    Role(Role),
}

/// Another replica learned of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNotice {
    /// The server run that sent it.
    pub from: String,
    /// The commit it found, when it fetched one (a webhook's notice names
    /// none). A hint only.
    pub commit: Option<String>,
}

/// One integration's last test result, as stored. Every text was masked
/// before it came here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedResult {
    pub integration: String,
    /// SHA-256 (hex) of the configuration file tested.
    pub fingerprint: String,
    pub commit: Option<String>,
    pub state: String,
    pub step: Option<String>,
    pub failure: Option<String>,
    pub http_status: Option<u16>,
    pub latency_ms: Option<u64>,
    pub detail: Option<String>,
    pub retry_at: Option<SystemTime>,
    pub tested_at: Option<SystemTime>,
    pub at: SystemTime,
    /// The server run that ran the test.
    pub tested_by: String,
}

/// This process as one replica of a group. Cheap to clone.
#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.inner.id)
            .field("role", &self.role())
            .finish()
    }
}

struct Inner {
    id: String,
    scope: Scope,
    /// Writes and reads (a small pool of its own).
    store: PgStore,
    leader: AtomicBool,
    tests: broadcast::Sender<TestsNotice>,
    pushes: broadcast::Sender<PushNotice>,
}

const RESULT_COLUMNS: &str = "integration, fingerprint, git_commit, state, step, failure, \
                              http_status, latency_ms, detail, retry_at, tested_at, at, tested_by";

impl Replica {
    /// Joins the group of `scope` on the PostgreSQL database `url` as
    /// server run `id`: connects (migrating the schema), listens, and tries
    /// the lock once, so the role is known on return. Then a thread keeps
    /// the connection until `shutdown`; the future given back ends when it
    /// has closed it (and so released the lock). Blocking.
    pub fn join(
        url: &str,
        scope: Scope,
        id: &str,
        shutdown: CancellationToken,
    ) -> Result<(Replica, impl Future<Output = ()> + Send + use<>), StoreError> {
        let store = PgStore::connect(url)?;
        let (tests, _) = broadcast::channel(NOTICE_CAPACITY);
        let (pushes, _) = broadcast::channel(NOTICE_CAPACITY);
        let inner = Arc::new(Inner {
            id: id.to_string(),
            scope,
            store,
            leader: AtomicBool::new(false),
            tests,
            pushes,
        });
        let mut client = inner.connect().map_err(|e| {
            StoreError::Refused(format!(
                "{}: cannot open the replicas' connection: {e}",
                inner.store.location()
            ))
        })?;
        if let Err(e) = inner.try_lead(&mut client) {
            return Err(StoreError::Refused(format!(
                "{}: cannot take part in the election of the replica that tests connections: {e}",
                inner.store.location()
            )));
        }
        let (done, ended) = oneshot::channel();
        let session = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("qa-reload-replica".to_string())
            .spawn(move || {
                session.keep(client, &shutdown);
                let _ = done.send(());
            })
            .map_err(|e| StoreError::Refused(format!("cannot start the replica thread: {e}")))?;
        let stopped = async move {
            let _ = ended.await;
        };
        Ok((Replica { inner }, stopped))
    }

    /// This server run's id, as other replicas see it.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn role(&self) -> Role {
        if self.inner.leader.load(Ordering::SeqCst) {
            Role::Leader
        } else {
            Role::Follower
        }
    }

    pub fn is_leader(&self) -> bool {
        self.role() == Role::Leader
    }

    /// Notices about connection tests from now on.
    pub fn subscribe_tests(&self) -> broadcast::Receiver<TestsNotice> {
        self.inner.tests.subscribe()
    }

    /// Other replicas' push notices from now on.
    pub fn subscribe_pushes(&self) -> broadcast::Receiver<PushNotice> {
        self.inner.pushes.subscribe()
    }

    /// Tells the other replicas to fetch: a webhook came (`None`), or this
    /// replica's fetch found `commit`. Blocking.
    pub fn announce_push(&self, commit: Option<&str>) -> Result<(), StoreError> {
        let payload = format!("{} {}", self.inner.id, commit.unwrap_or(""));
        let channel = &self.inner.scope.push_channel;
        self.with(|c| {
            c.execute("SELECT pg_notify($1, $2)", &[channel, &payload])
                .map(|_| ())
                .map_err(unavailable)
        })
    }

    /// Stores a test result (unless a later one of the same integration is
    /// there already) and tells the other replicas, in one commit. Blocking.
    pub fn record(&self, r: &SharedResult) -> Result<(), StoreError> {
        let scope = &self.inner.scope;
        let payload = format!("{} {}", self.inner.id, r.integration);
        self.with(|c| {
            let mut tx = c.transaction().map_err(unavailable)?;
            tx.execute(
                &format!(
                    "INSERT INTO qa_reload_integration_status (scope, {RESULT_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     ON CONFLICT (scope, integration) DO UPDATE SET \
                     fingerprint = EXCLUDED.fingerprint, git_commit = EXCLUDED.git_commit, \
                     state = EXCLUDED.state, step = EXCLUDED.step, failure = EXCLUDED.failure, \
                     http_status = EXCLUDED.http_status, latency_ms = EXCLUDED.latency_ms, \
                     detail = EXCLUDED.detail, retry_at = EXCLUDED.retry_at, \
                     tested_at = EXCLUDED.tested_at, at = EXCLUDED.at, tested_by = EXCLUDED.tested_by \
                     WHERE qa_reload_integration_status.at <= EXCLUDED.at"
                ),
                &[
                    &scope.key,
                    &r.integration,
                    &r.fingerprint,
                    &r.commit,
                    &r.state,
                    &r.step,
                    &r.failure,
                    &r.http_status.map(i32::from),
                    &r.latency_ms.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
                    &r.detail,
                    &r.retry_at.map(to_micros),
                    &r.tested_at.map(to_micros),
                    &to_micros(r.at),
                    &r.tested_by,
                ],
            )
            .map_err(unavailable)?;
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&scope.tests_channel, &payload],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
    }

    /// The last result of `integration`, if any replica recorded one.
    /// Blocking.
    pub fn result(&self, integration: &str) -> Result<Option<SharedResult>, StoreError> {
        let key = &self.inner.scope.key;
        self.with(|c| {
            c.query_opt(
                &format!(
                    "SELECT {RESULT_COLUMNS} FROM qa_reload_integration_status \
                     WHERE scope = $1 AND integration = $2"
                ),
                &[key, &integration],
            )
            .map_err(unavailable)
            .map(|row| row.as_ref().map(result_of))
        })
    }

    /// Runs `f` on a pooled connection, and once more on a fresh one when
    /// that connection had broken (the database restarted since it was
    /// last used): a result is not lost to a stale connection.
    fn with<T>(&self, f: impl Fn(&mut Client) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match self.inner.store.with(&f) {
            Err(StoreError::Unavailable(_)) => self.inner.store.with(&f),
            done => done,
        }
    }

    /// Every integration's last result. Blocking.
    pub fn results(&self) -> Result<Vec<SharedResult>, StoreError> {
        let key = &self.inner.scope.key;
        self.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {RESULT_COLUMNS} FROM qa_reload_integration_status WHERE scope = $1"
                ),
                &[key],
            )
            .map_err(unavailable)?
            .iter()
            .map(result_of)
            .collect())
        })
    }
}

fn result_of(r: &Row) -> SharedResult {
    SharedResult {
        integration: r.get(0),
        fingerprint: r.get(1),
        commit: r.get(2),
        state: r.get(3),
        step: r.get(4),
        failure: r.get(5),
        http_status: r
            .get::<_, Option<i32>>(6)
            .and_then(|s| u16::try_from(s).ok()),
        latency_ms: r
            .get::<_, Option<i64>>(7)
            .and_then(|ms| u64::try_from(ms).ok()),
        detail: r.get(8),
        retry_at: r.get::<_, Option<i64>>(9).map(from_micros),
        tested_at: r.get::<_, Option<i64>>(10).map(from_micros),
        at: from_micros(r.get(11)),
        tested_by: r.get(12),
    }
}

impl Inner {
    /// The listening connection: keep-alives short enough that a dead
    /// peer is noticed in seconds on both sides (the server then releases
    /// the lock of a leader that vanished without closing its connection).
    fn connect(&self) -> Result<Client, postgres::Error> {
        let mut config = self.store.config().clone();
        config
            .application_name("qa-reload replica")
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(10));
        let mut client = config.connect(NoTls)?;
        client.batch_execute(&format!(
            "SET statement_timeout = 10000; SET tcp_keepalives_idle = 10; \
             SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3; \
             LISTEN \"{}\"; LISTEN \"{}\"",
            self.scope.push_channel, self.scope.tests_channel
        ))?;
        Ok(client)
    }

    /// Tries the lock (the leader checks its connection instead); on
    /// taking it, this replica leads.
    fn try_lead(&self, client: &mut Client) -> Result<(), postgres::Error> {
        if self.leader.load(Ordering::SeqCst) {
            client.simple_query("SELECT 1")?;
            return Ok(());
        }
        let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&self.scope.lock])?;
        if row.get::<_, bool>(0) {
            self.leader.store(true, Ordering::SeqCst);
            tracing::info!(replica = %self.id, "this replica now runs the connection tests");
            let _ = self.tests.send(TestsNotice::Role(Role::Leader));
        }
        Ok(())
    }

    /// The connection is gone: a leader is one no longer (another replica
    /// may take the lock now).
    fn lost(&self, e: &postgres::Error) {
        if self.leader.swap(false, Ordering::SeqCst) {
            tracing::warn!(replica = %self.id, error = %e, "lost the replicas' database connection; this replica stops running connection tests");
            let _ = self.tests.send(TestsNotice::Role(Role::Follower));
        } else {
            tracing::warn!(replica = %self.id, error = %e, "lost the replicas' database connection; reconnecting");
        }
    }

    /// The listening thread: notices in, the lock tried every
    /// [`ELECTION_RETRY`], reconnection with backoff, until `shutdown`.
    /// Dropping the connection on return releases the lock.
    fn keep(&self, first: Client, shutdown: &CancellationToken) {
        let mut client = Some(first);
        let mut next_try = Instant::now() + ELECTION_RETRY;
        let mut backoff = RECONNECT_FIRST;
        while !shutdown.is_cancelled() {
            let Some(c) = client.as_mut() else {
                pause(backoff, shutdown);
                match self.connect() {
                    Ok(mut c) => {
                        backoff = RECONNECT_FIRST;
                        let _ = self.tests.send(TestsNotice::Resync);
                        match self.try_lead(&mut c) {
                            Ok(()) => client = Some(c),
                            Err(e) => self.lost(&e),
                        }
                        next_try = Instant::now() + ELECTION_RETRY;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "the replicas' database connection is still down");
                        backoff = (backoff * 2).min(ELECTION_RETRY);
                    }
                }
                continue;
            };
            let step = match next_notification(c, WAKE) {
                Ok(Some(n)) => {
                    self.dispatch(n.channel(), n.payload());
                    Ok(())
                }
                Ok(None) if c.is_closed() => Err(None),
                Ok(None) => Ok(()),
                Err(e) => Err(Some(e)),
            };
            let step = step.and_then(|()| {
                if Instant::now() < next_try {
                    return Ok(());
                }
                next_try = Instant::now() + ELECTION_RETRY;
                self.try_lead(c).map_err(Some)
            });
            match step {
                Ok(()) => {}
                Err(e) => {
                    match e {
                        Some(e) => self.lost(&e),
                        None => {
                            if self.leader.swap(false, Ordering::SeqCst) {
                                tracing::warn!(replica = %self.id, "the replicas' database connection closed; this replica stops running connection tests");
                                let _ = self.tests.send(TestsNotice::Role(Role::Follower));
                            }
                        }
                    }
                    client = None;
                }
            }
        }
    }

    /// One notice, by channel; a replica's own notices are dropped.
    fn dispatch(&self, channel: &str, payload: &str) {
        let (from, rest) = payload.split_once(' ').unwrap_or((payload, ""));
        if from == self.id {
            return;
        }
        if channel == self.scope.push_channel {
            let commit = (!rest.is_empty()).then(|| rest.to_string());
            let _ = self.pushes.send(PushNotice {
                from: from.to_string(),
                commit,
            });
        } else if channel == self.scope.tests_channel && !rest.is_empty() {
            let _ = self.tests.send(TestsNotice::Changed(rest.to_string()));
        }
    }
}

/// The next notice, waiting at most `wait`; `None` when none came (or the
/// connection closed).
fn next_notification(
    c: &mut Client,
    wait: Duration,
) -> Result<Option<Notification>, postgres::Error> {
    c.notifications().timeout_iter(wait).next()
}

/// Waits `d`, or less when `shutdown` comes first.
fn pause(d: Duration, shutdown: &CancellationToken) {
    let end = Instant::now() + d;
    while !shutdown.is_cancelled() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(WAKE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_of_other_remotes_or_branches_do_not_share_a_lock_or_channel() {
        let a = Scope::new("/srv/git/qa.git", "main");
        assert_eq!(a, Scope::new("/srv/git/qa.git", "main"));
        for other in [
            Scope::new("/srv/git/qa.git", "release"),
            Scope::new("/srv/git/other.git", "main"),
        ] {
            assert_ne!(a.lock_key(), other.lock_key());
            assert_ne!(a.push_channel, other.push_channel);
            assert_ne!(a.tests_channel, other.tests_channel);
            assert_ne!(a.key, other.key);
        }
        // Channel names are identifiers PostgreSQL takes (at most 63 bytes).
        assert!(a.tests_channel.len() <= 63);
        assert!(
            a.push_channel
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}
