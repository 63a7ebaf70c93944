//! Stage `api`: serialise once per revision and tag. A `reload` frame goes
//! to every WebSocket client and a burst of readers asks for the same
//! workflow list; each is written to JSON once and shared, keyed by what it
//! is, the revision it shows and the connection statuses it embeds.
//!
//! Holds serialised bytes only, bounded by count and by bytes; it never
//! decides what a body says (that is `wire`) and nothing here is held across
//! an `.await`.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use super::wire::{AllErrors, EventWire, Frame, SnapshotWire, Statuses, WorkflowList, commit_of};
use crate::engine::{Event, Snapshot};
use crate::integrations::IntegrationStatus;

/// Bodies kept: a branch switch or a burst of thousands of files makes
/// frames of tens of MB, and a count alone kept 64 of them, so the bytes
/// are bounded too (the newest body always stays).
const CACHED: usize = 64;
const CACHED_BYTES: usize = 16 * 1024 * 1024;

/// The serialised bytes alive at once (cached, or held by a response or a
/// WebSocket send not yet taken) above which a body an HTTP request would
/// build anew is refused (`503 responses_over_budget`). Frames every
/// WebSocket client gets are never refused, but they count.
pub const RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// What a cached body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Reload,
    /// A `reload` frame from a commit to the one served (`since=<commit>`),
    /// tagged by that commit.
    Resume,
    Snapshot,
    WorkflowList,
    /// Every diagnostic in force, the `errors` of `status?errors=all`.
    AllErrors,
}

/// A body's shape, the revision it shows and the tag of the connection
/// statuses it embeds (0 when it embeds none).
type Key = (Shape, u64, u64);

/// A body over the response budget; see [`RESPONSE_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    /// The body's size.
    pub size: usize,
    /// What was alive when it was asked for.
    pub held: usize,
    pub budget: usize,
}

/// Serialised frames and bodies of the latest revisions, and the count of
/// every serialised byte alive.
pub struct SerialCache {
    entries: Mutex<Entries>,
    account: Arc<Account>,
    /// `serve --follow`: frames and the workflow list name the commit
    /// served (see [`SerialCache::name_commits`]).
    commits: AtomicBool,
    /// Keys the tag of a resume's commit: per process, so nobody can
    /// choose two commits whose tags collide.
    tags: std::collections::hash_map::RandomState,
}

#[derive(Default)]
struct Entries {
    /// The newest bodies, bounded by [`CACHED`] and [`CACHED_BYTES`].
    kept: VecDeque<(Key, Utf8Bytes)>,
    /// Every body still alive anywhere (kept here, or held by a response
    /// or a connection after it left `kept`): a request for it shares that
    /// copy instead of writing another. Dead ones are pruned on insert.
    alive: Vec<(Key, Weak<Body>)>,
}

/// The serialised bytes alive, and the budget.
struct Account {
    held: AtomicUsize,
    budget: usize,
}

/// One serialised body. Every `Bytes`/`Utf8Bytes` handed out for it shares
/// this one allocation; the account counts it until the last one is gone.
struct Body {
    text: String,
    account: Arc<Account>,
}

impl Drop for Body {
    fn drop(&mut self) {
        self.account
            .held
            .fetch_sub(self.text.len(), Ordering::Relaxed);
    }
}

/// The owner behind a shared body's bytes.
struct Shared(Arc<Body>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.text.as_bytes()
    }
}

impl Default for SerialCache {
    fn default() -> Self {
        SerialCache::with_budget(RESPONSE_BYTES)
    }
}

impl SerialCache {
    /// A cache refusing new HTTP bodies once `budget` bytes are alive.
    pub fn with_budget(budget: usize) -> Self {
        SerialCache {
            entries: Mutex::new(Entries::default()),
            account: Arc::new(Account {
                held: AtomicUsize::new(0),
                budget,
            }),
            commits: AtomicBool::new(false),
            tags: std::collections::hash_map::RandomState::new(),
        }
    }

    /// From now on, frames and the workflow list carry the commit served
    /// (`serve --follow`; set before the server takes connections).
    pub fn name_commits(&self) {
        self.commits.store(true, Ordering::Relaxed);
    }

    fn commits(&self) -> bool {
        self.commits.load(Ordering::Relaxed)
    }

    /// The `reload` frame of `event`, written for follow mode when the
    /// cache names commits.
    fn reload_frame(&self, event: &Arc<Event>) -> Frame {
        let mut wire = EventWire::from(event);
        if self.commits() {
            wire.commit = commit_of(event.cause.head.as_ref());
        }
        Frame::Reload(wire)
    }

    /// The `reload` frame of a resume from commit `from` (`event`, built
    /// on that commit rather than on a revision: `base_revision` 0 and
    /// `base_commit`), shared by every client resuming from `from` at this
    /// revision; refused like [`Self::try_reload`] when `refusable`.
    pub fn resume(
        &self,
        event: &Arc<Event>,
        from: &str,
        refusable: bool,
    ) -> Result<Utf8Bytes, OverBudget> {
        use std::hash::BuildHasher;
        let tag = self.tags.hash_one(from);
        self.get_or((Shape::Resume, event.revision, tag), refusable, || {
            let mut wire = EventWire::from(event);
            wire.commit = commit_of(event.cause.head.as_ref());
            wire.base_commit = Some(from.to_owned());
            Frame::Reload(wire)
        })
    }

    /// Serialised bytes alive now (cached or held by clients).
    pub fn held(&self) -> usize {
        self.account.held.load(Ordering::Relaxed)
    }

    /// The `reload` frame of `event`, for a WebSocket client (never refused).
    pub fn reload(&self, event: &Arc<Event>) -> Utf8Bytes {
        self.always((Shape::Reload, event.revision, 0), || {
            self.reload_frame(event)
        })
    }

    /// The `reload` frame of `event`, for an HTTP body (an item of
    /// `GET .../events`): refused when it is not alive and writing it
    /// would pass the budget.
    pub fn try_reload(&self, event: &Arc<Event>) -> Result<Utf8Bytes, OverBudget> {
        self.get_or((Shape::Reload, event.revision, 0), true, || {
            self.reload_frame(event)
        })
    }

    /// The `snapshot` frame of `snapshot` with the connection `statuses`.
    pub fn snapshot(&self, snapshot: &Snapshot, statuses: &[IntegrationStatus]) -> Utf8Bytes {
        self.always(
            (Shape::Snapshot, snapshot.revision, statuses_tag(statuses)),
            || {
                let mut wire = SnapshotWire::new(snapshot, Statuses(statuses));
                if self.commits() {
                    wire.commit = commit_of(snapshot.head.as_ref());
                }
                Frame::Snapshot(wire)
            },
        )
    }

    /// The `GET /api/v1/workflows` body of `snapshot` (of server run
    /// `instance`) with `statuses`.
    pub fn workflow_list(
        &self,
        snapshot: &Snapshot,
        instance: &str,
        statuses: &[IntegrationStatus],
    ) -> Utf8Bytes {
        self.always(
            (
                Shape::WorkflowList,
                snapshot.revision,
                statuses_tag(statuses),
            ),
            || {
                let mut list = WorkflowList::new(snapshot, instance, Statuses(statuses));
                if self.commits() {
                    list.commit = commit_of(snapshot.head.as_ref());
                }
                list
            },
        )
    }

    /// Every diagnostic in force at `snapshot`, as a JSON array (the
    /// `errors` of `status?errors=all`); refused like [`Self::try_reload`].
    pub fn all_errors(&self, snapshot: &Snapshot) -> Result<Bytes, OverBudget> {
        self.get_or((Shape::AllErrors, snapshot.revision, 0), true, || {
            AllErrors(&snapshot.errors)
        })
        .map(Bytes::from)
    }

    fn always<T: Serialize>(&self, key: Key, body: impl FnOnce() -> T) -> Utf8Bytes {
        match self.get_or(key, false, body) {
            Ok(bytes) => bytes,
            // Not refusable: `get_or` only refuses when asked to.
            Err(_) => Utf8Bytes::from_static(""),
        }
    }

    fn get_or<T: Serialize>(
        &self,
        key: Key,
        refusable: bool,
        body: impl FnOnce() -> T,
    ) -> Result<Utf8Bytes, OverBudget> {
        {
            let mut entries = self.entries.lock();
            if let Some((_, hit)) = entries.kept.iter().find(|(k, _)| *k == key) {
                return Ok(hit.clone());
            }
            let alive = entries
                .alive
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, body)| body.upgrade());
            if let Some(body) = alive {
                let bytes = shared(body);
                entries.keep(key, bytes.clone());
                return Ok(bytes);
            }
        }
        // Serialised outside the lock: two readers may both build a body for
        // a new revision, which costs time but never serves a wrong one.
        // Serialising cannot fail (see `crate::json`).
        let value = body();
        let size = json_len(&value);
        let held = self.account.held.fetch_add(size, Ordering::Relaxed);
        if refusable && held + size > self.account.budget {
            self.account.held.fetch_sub(size, Ordering::Relaxed);
            return Err(OverBudget {
                size,
                held,
                budget: self.account.budget,
            });
        }
        let body = Arc::new(Body {
            text: exact_json(&value, size),
            account: Arc::clone(&self.account),
        });
        // The account counted `size`; the body releases its own length.
        let written = body.text.len();
        if written != size {
            if written > size {
                self.account
                    .held
                    .fetch_add(written - size, Ordering::Relaxed);
            } else {
                self.account
                    .held
                    .fetch_sub(size - written, Ordering::Relaxed);
            }
        }
        let mut entries = self.entries.lock();
        entries.alive.retain(|(_, b)| b.strong_count() > 0);
        entries.alive.push((key, Arc::downgrade(&body)));
        let bytes = shared(body);
        if !entries.kept.iter().any(|(k, _)| *k == key) {
            entries.keep(key, bytes.clone());
        }
        Ok(bytes)
    }
}

impl Entries {
    fn keep(&mut self, key: Key, bytes: Utf8Bytes) {
        self.kept.push_back((key, bytes));
        evict(&mut self.kept);
    }
}

/// Bytes sharing `body`'s one allocation.
fn shared(body: Arc<Body>) -> Utf8Bytes {
    // The text is a `String`, so the check cannot fail.
    Utf8Bytes::try_from(Bytes::from_owner(Shared(body))).unwrap_or_default()
}

/// The length of `value` as JSON (a counting pass, nothing stored).
fn json_len<T: Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    crate::json::to_writer(&mut count, value);
    count.0
}

/// `value` as JSON in a buffer of exactly its length `len` (from
/// [`json_len`]). A burst's frame of tens of MB then takes its length once,
/// where a growing buffer held up to twice that (and both the old and the
/// new buffer while it grew), and the budget counts what is really held.
fn exact_json<T: Serialize>(value: &T, len: usize) -> String {
    let mut out = Vec::with_capacity(len);
    crate::json::to_writer(&mut out, value);
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

/// A tag for a set of connection statuses: equal sets, equal tags.
fn statuses_tag(statuses: &[IntegrationStatus]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for s in statuses {
        (s.id, s.revision, s.status, s.at).hash(&mut hasher);
    }
    hasher.finish()
}

/// Drops the oldest bodies until at most [`CACHED`] are kept and they hold
/// at most [`CACHED_BYTES`], the newest always kept.
fn evict(entries: &mut VecDeque<(Key, Utf8Bytes)>) {
    let mut bytes: usize = entries.iter().map(|(_, f)| f.len()).sum();
    while entries.len() > CACHED || (bytes > CACHED_BYTES && entries.len() > 1) {
        if let Some((_, old)) = entries.pop_front() {
            bytes -= old.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_in_bytes_and_keeps_the_newest() {
        let mut entries = VecDeque::new();
        let big = "x".repeat(CACHED_BYTES / 3 + 1);
        for revision in 0..5 {
            entries.push_back(((Shape::Reload, revision, 0), Utf8Bytes::from(big.clone())));
            evict(&mut entries);
        }
        let kept: Vec<u64> = entries.iter().map(|((_, r, _), _)| *r).collect();
        assert_eq!(kept, [3, 4]);
        let huge = "x".repeat(CACHED_BYTES * 2);
        entries.push_back(((Shape::Reload, 9, 0), Utf8Bytes::from(huge)));
        evict(&mut entries);
        assert_eq!(entries.len(), 1, "the newest stays, however large");
        for revision in 10..100 {
            entries.push_back(((Shape::Reload, revision, 0), Utf8Bytes::from("{}")));
            evict(&mut entries);
        }
        assert_eq!(entries.len(), CACHED);
    }

    #[test]
    fn a_body_is_built_once_per_key() {
        let cache = SerialCache::default();
        let mut builds = 0;
        for _ in 0..3 {
            let body = cache.get_or((Shape::WorkflowList, 7, 1), true, || {
                builds += 1;
                [1, 2]
            });
            assert_eq!(body.map(|b| b.to_string()).as_deref(), Ok("[1,2]"));
        }
        assert_eq!(builds, 1);
        let other = cache.always((Shape::WorkflowList, 7, 2), || [3]);
        assert_eq!(other.as_str(), "[3]", "another tag is another body");
    }

    #[test]
    fn a_body_held_after_it_left_the_cache_is_shared_not_written_again() {
        let cache = SerialCache::default();
        let big = "x".repeat(CACHED_BYTES / 2);
        let held = cache.always((Shape::Reload, 1, 0), || big.as_str());
        // Two more bodies that size push the first out of the cache ...
        for revision in 2..4 {
            cache.always((Shape::Reload, revision, 0), || big.as_str());
        }
        assert!(
            cache
                .entries
                .lock()
                .kept
                .iter()
                .all(|((_, r, _), _)| *r != 1)
        );
        // ... but a client still holds it: asking again shares that copy.
        let again = cache.get_or((Shape::Reload, 1, 0), true, || -> &str {
            panic!("written twice")
        });
        assert_eq!(again.map(|b| b.len()), Ok(held.len()));
    }

    #[test]
    fn bytes_alive_are_counted_until_the_last_holder_lets_go() {
        let cache = SerialCache::with_budget(1000);
        let body = "y".repeat(600);
        let first = cache.get_or((Shape::Reload, 1, 0), true, || body.as_str());
        assert!(first.is_ok());
        assert_eq!(cache.held(), 602, "the body and its two quotes");
        // A second body would pass the budget: refused, and not counted.
        let refused = cache.get_or((Shape::Reload, 2, 0), true, || body.as_str());
        assert_eq!(
            refused.map(|_| ()),
            Err(OverBudget {
                size: 602,
                held: 602,
                budget: 1000
            })
        );
        assert_eq!(cache.held(), 602);
        // Frames for WebSocket clients are never refused, but count.
        let frame = cache.always((Shape::Reload, 3, 0), || body.as_str());
        assert_eq!(frame.len(), 602);
        assert_eq!(cache.held(), 1204);
        // Once the cache and every holder drop a body, its bytes are free.
        cache.entries.lock().kept.clear();
        drop(first);
        assert_eq!(cache.held(), 602);
        drop(frame);
        assert_eq!(cache.held(), 0);
        assert!(
            cache
                .get_or((Shape::Reload, 2, 0), true, || body.as_str())
                .is_ok()
        );
    }

    #[test]
    fn a_body_is_written_at_its_exact_size() {
        let value = serde_json::json!({"a": "é\u{1F600}".repeat(1000), "b": [1, 2.5, null]});
        let body = exact_json(&value, json_len(&value));
        assert_eq!(body, serde_json::to_string(&value).unwrap_or_default());
        assert_eq!(body.capacity(), body.len());
    }
}
