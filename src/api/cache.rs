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
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use super::wire::{EventWire, Frame, SnapshotWire, Statuses, WorkflowList};
use crate::engine::{Event, Snapshot};
use crate::integrations::IntegrationStatus;

/// Bodies kept: a branch switch or a burst of thousands of files makes
/// frames of tens of MB, and a count alone kept 64 of them, so the bytes
/// are bounded too (the newest body always stays).
const CACHED: usize = 64;
const CACHED_BYTES: usize = 16 * 1024 * 1024;

/// What a cached body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Reload,
    Snapshot,
    WorkflowList,
}

/// A body's shape, the revision it shows and the tag of the connection
/// statuses it embeds (0 when it embeds none).
type Key = (Shape, u64, u64);

/// Serialised frames and bodies of the latest revisions.
#[derive(Default)]
pub struct SerialCache {
    entries: Mutex<VecDeque<(Key, Utf8Bytes)>>,
}

impl SerialCache {
    /// The `reload` frame of `event`.
    pub fn reload(&self, event: &Arc<Event>) -> Utf8Bytes {
        self.get_or((Shape::Reload, event.revision, 0), || {
            Frame::Reload(EventWire::from(event))
        })
    }

    /// The `snapshot` frame of `snapshot` with the connection `statuses`.
    pub fn snapshot(&self, snapshot: &Snapshot, statuses: &[IntegrationStatus]) -> Utf8Bytes {
        self.get_or(
            (Shape::Snapshot, snapshot.revision, statuses_tag(statuses)),
            || Frame::Snapshot(SnapshotWire::new(snapshot, Statuses(statuses))),
        )
    }

    /// The `GET /api/v1/workflows` body of `snapshot` with `statuses`.
    pub fn workflow_list(&self, snapshot: &Snapshot, statuses: &[IntegrationStatus]) -> Utf8Bytes {
        self.get_or(
            (
                Shape::WorkflowList,
                snapshot.revision,
                statuses_tag(statuses),
            ),
            || WorkflowList::new(snapshot, Statuses(statuses)),
        )
    }

    fn get_or<T: Serialize>(&self, key: Key, body: impl FnOnce() -> T) -> Utf8Bytes {
        if let Some((_, hit)) = self.entries.lock().iter().find(|(k, _)| *k == key) {
            return hit.clone();
        }
        // Serialised outside the lock: two readers may both build a body for
        // a new revision, which costs time but never serves a wrong one.
        // The wire types hold strings, numbers and JSON values only, for
        // which serialising cannot fail.
        let built = Utf8Bytes::from(exact_json(&body()));
        let mut entries = self.entries.lock();
        if !entries.iter().any(|(k, _)| *k == key) {
            entries.push_back((key, built.clone()));
            evict(&mut entries);
        }
        built
    }
}

/// `value` as JSON in a buffer of exactly its length: a counting pass
/// first, then one write. A burst's frame of tens of MB then takes its
/// length once, where a growing buffer held up to twice that (and both the
/// old and the new buffer while it grew), and the cache's byte bound counts
/// what is really held.
fn exact_json<T: Serialize>(value: &T) -> String {
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
    if serde_json::to_writer(&mut count, value).is_err() {
        return String::new();
    }
    let mut out = Vec::with_capacity(count.0);
    if serde_json::to_writer(&mut out, value).is_err() {
        return String::new();
    }
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
            let body = cache.get_or((Shape::WorkflowList, 7, 1), || {
                builds += 1;
                [1, 2]
            });
            assert_eq!(body.as_str(), "[1,2]");
        }
        assert_eq!(builds, 1);
        let other = cache.get_or((Shape::WorkflowList, 7, 2), || [3]);
        assert_eq!(other.as_str(), "[3]", "another tag is another body");
    }

    #[test]
    fn a_body_is_written_at_its_exact_size() {
        let value = serde_json::json!({"a": "é\u{1F600}".repeat(1000), "b": [1, 2.5, null]});
        let body = exact_json(&value);
        assert_eq!(body, serde_json::to_string(&value).unwrap_or_default());
        assert_eq!(body.capacity(), body.len());
    }
}
