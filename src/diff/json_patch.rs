//! Stage `diff`: RFC 6902 JSON Patch between two versions of an entity.
//!
//! Takes two `serde_json::Value`s and returns the ops that turn the first
//! into the second. Does no I/O and never panics on any input; the only cost
//! bound it cannot meet (arrays larger than [`ARRAY_DIFF_CAP`]) degrades to a
//! whole-array replace rather than to a slow diff. Recursion follows the
//! nesting of the input, which `load`'s depth budget bounds.
//!
//! Ops are meant to be applied in order: every index refers to the document
//! as the previous ops left it, which is what RFC 6902 prescribes.

use crate::diff::identity::list_key;
use crate::diff::order::longest_increasing;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};
use similar::{Algorithm, DiffOp};

/// Arrays with more elements than this on either side are replaced whole.
///
/// Similar's Myers is bounded, but hashing and pairing still cost memory
/// proportional to the input; past this size a precise array patch is worth
/// less to a reader than a predictable, cheap one.
pub const ARRAY_DIFF_CAP: usize = 100_000;

/// Work bound (moved items × list length) for matching a reordered list.
const MOVE_WORK_CAP: usize = 20_000_000;

/// One RFC 6902 operation. Paths are RFC 6901 JSON Pointers. Its serde
/// form is the standard one, e.g. `{"op":"add","path":"/a","value":1}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
#[schema(as = JsonPatchOp)]
pub enum PatchOp {
    Add { path: String, value: Value },
    Remove { path: String },
    Replace { path: String, value: Value },
    Move { from: String, path: String },
}

impl PatchOp {
    /// The pointer the op writes to.
    pub fn path(&self) -> &str {
        match self {
            PatchOp::Add { path, .. }
            | PatchOp::Remove { path }
            | PatchOp::Replace { path, .. }
            | PatchOp::Move { path, .. } => path,
        }
    }
}

/// A whole patch as a JSON array, in application order.
pub fn to_json_array(ops: &[PatchOp]) -> Value {
    // Strings and JSON values only: serialising cannot fail.
    serde_json::to_value(ops).unwrap_or_default()
}

/// Appends one RFC 6901 reference token to `parent`.
pub fn push_token(parent: &str, token: &str) -> String {
    let mut out = String::with_capacity(parent.len() + token.len() + 1);
    out.push_str(parent);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

fn push_index(parent: &str, index: usize) -> String {
    format!("{parent}/{index}")
}

/// The ops that turn `old` into `new`; empty when they are equal.
///
/// Equality is serde_json's: `1` and `1.0`, or `"30"` and `30`, differ and
/// give a `Replace`. Object key order is not a difference.
pub fn diff(old: &Value, new: &Value) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    diff_at("", old, new, &mut ops);
    ops
}

fn diff_at(path: &str, old: &Value, new: &Value, ops: &mut Vec<PatchOp>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => diff_objects(path, o, n, ops),
        (Value::Array(o), Value::Array(n)) => diff_arrays(path, o, n, ops),
        _ => ops.push(PatchOp::Replace {
            path: path.to_owned(),
            value: new.clone(),
        }),
    }
}

fn diff_objects(
    path: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    ops: &mut Vec<PatchOp>,
) {
    for key in old.keys() {
        if !new.contains_key(key) {
            ops.push(PatchOp::Remove {
                path: push_token(path, key),
            });
        }
    }
    for (key, old_value) in old {
        if let Some(new_value) = new.get(key) {
            diff_at(&push_token(path, key), old_value, new_value, ops);
        }
    }
    for (key, new_value) in new {
        if !old.contains_key(key) {
            ops.push(PatchOp::Add {
                path: push_token(path, key),
                value: new_value.clone(),
            });
        }
    }
}

fn diff_arrays(path: &str, old: &[Value], new: &[Value], ops: &mut Vec<PatchOp>) {
    if old.len() > ARRAY_DIFF_CAP || new.len() > ARRAY_DIFF_CAP {
        ops.push(PatchOp::Replace {
            path: path.to_owned(),
            value: Value::Array(new.to_vec()),
        });
        return;
    }
    if let Some(key) = list_key(old, new, identity)
        && let (Some(old_ids), Some(mut new_ids)) = (identities(old, key), identities(new, key))
    {
        match_renames(old, new, key, &old_ids, &mut new_ids);
        diff_identified(path, old, new, &old_ids, &new_ids, ops);
    } else if let Some((old_ids, new_ids)) = reordered_scalars(old, new) {
        diff_identified(path, old, new, &old_ids, &new_ids, ops);
    } else {
        diff_sequence(path, old, new, ops);
    }
}

/// Work bound (vanished items × new items) for matching renamed items.
const RENAME_WORK_CAP: usize = 1_000_000;

/// A new item whose identity is new, and whose body (everything but its
/// identity key) equals that of an item whose identity vanished, continues
/// that item under a new identity: it takes the old identity here, so the
/// patch is a `replace` of the identity key (`/steps/3/id`), not a remove
/// and an add of the whole item.
fn match_renames(
    old: &[Value],
    new: &[Value],
    key: &str,
    old_ids: &[String],
    new_ids: &mut [String],
) {
    let (mut gone, fresh) = {
        let old_set: std::collections::HashSet<&str> = old_ids.iter().map(String::as_str).collect();
        let new_set: std::collections::HashSet<&str> = new_ids.iter().map(String::as_str).collect();
        let gone: Vec<usize> = (0..old.len())
            .filter(|&i| !new_set.contains(old_ids[i].as_str()))
            .collect();
        let fresh: Vec<usize> = (0..new.len())
            .filter(|&j| !old_set.contains(new_ids[j].as_str()))
            .collect();
        (gone, fresh)
    };
    if gone.is_empty()
        || fresh.is_empty()
        || gone.len().saturating_mul(fresh.len()) > RENAME_WORK_CAP
    {
        return;
    }
    for j in fresh {
        if let Some(k) = gone.iter().position(|&i| same_body(&old[i], &new[j], key)) {
            let i = gone.remove(k);
            new_ids[j] = old_ids[i].clone();
        }
    }
}

/// Whether two identified items are equal apart from `key`, the key that
/// gives their identity.
fn same_body(a: &Value, b: &Value, key: &str) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return false;
    };
    a.len() == b.len()
        && a.iter()
            .filter(|(name, _)| name.as_str() != key)
            .all(|(name, v)| b.get(name) == Some(v))
}

/// Lists of scalars, unique on each side, whose common items changed their
/// relative order: the values are their identities, so a reorder is a
/// `move` (not a remove and an add). Lists whose common items kept their
/// order are left to the sequence diff, which can pair an edit as one
/// `replace`.
fn reordered_scalars(old: &[Value], new: &[Value]) -> Option<(Vec<String>, Vec<String>)> {
    let ids = |items: &[Value]| -> Option<Vec<String>> {
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        items
            .iter()
            .map(|v| match v {
                Value::Object(_) | Value::Array(_) => None,
                v => {
                    let id = v.to_string();
                    seen.insert(id.clone()).then_some(id)
                }
            })
            .collect()
    };
    let (old_ids, new_ids) = (ids(old)?, ids(new)?);
    let rank: HashMap<&str, usize> = old_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let common: Vec<usize> = new_ids
        .iter()
        .filter_map(|id| rank.get(id.as_str()).copied())
        .collect();
    let reordered = common.windows(2).any(|w| w[0] > w[1]);
    reordered.then_some((old_ids, new_ids))
}

/// The identity of a list item under `key` (`id` or `name`, chosen for the
/// whole list by [`list_key`]).
///
/// The key name is part of the identity so that a step whose id is `"x"` is
/// never matched with one whose name is `"x"`; the value is kept in its JSON
/// spelling so that `"1"` and `1` stay different, as they do for equality.
fn identity(item: &Value, key: &str) -> Option<String> {
    match item.as_object()?.get(key) {
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(format!("{key}:{v}")),
        _ => None,
    }
}

/// Identities of every item under `key`, or `None` when any item lacks
/// one or two share one: matching by identity is only sound when it is a
/// bijection.
fn identities(items: &[Value], key: &str) -> Option<Vec<String>> {
    let ids = items
        .iter()
        .map(|item| identity(item, key))
        .collect::<Option<Vec<_>>>()?;
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter().all(|id| seen.insert(id.as_str())).then_some(ids)
}

/// Diff of two lists whose items carry unique identities.
///
/// Order of ops: removes (highest index first, so lower indices stay put),
/// moves (only for items outside a longest run already in order, which is
/// the fewest moves any reorder needs; a reorder never shows as field
/// edits), adds at their final index, then edits inside matched items at
/// their final index.
fn diff_identified(
    path: &str,
    old: &[Value],
    new: &[Value],
    old_ids: &[String],
    new_ids: &[String],
    ops: &mut Vec<PatchOp>,
) {
    let new_pos: HashMap<&str, usize> = new_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let old_pos: HashMap<&str, usize> = old_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();

    // Identities of kept items, as they stand after the removes.
    let mut cur: Vec<&str> = old_ids
        .iter()
        .map(String::as_str)
        .filter(|id| new_pos.contains_key(id))
        .collect();
    // The same items in the order `new` wants them.
    let target: Vec<&str> = new_ids
        .iter()
        .map(String::as_str)
        .filter(|id| old_pos.contains_key(id))
        .collect();

    let cur_rank: HashMap<&str, usize> = cur.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let ranks: Vec<usize> = target
        .iter()
        .map(|id| cur_rank.get(id).copied().unwrap_or(0))
        .collect();
    let stable = longest_increasing(&ranks);

    // Each move scans the list; a list reordered wholesale is cheaper to
    // send whole than to compute and replay move by move.
    let moved = stable.iter().filter(|s| !**s).count();
    if moved.saturating_mul(cur.len()) > MOVE_WORK_CAP {
        ops.push(PatchOp::Replace {
            path: path.to_owned(),
            value: Value::Array(new.to_vec()),
        });
        return;
    }

    for (i, id) in old_ids.iter().enumerate().rev() {
        if !new_pos.contains_key(id.as_str()) {
            ops.push(PatchOp::Remove {
                path: push_index(path, i),
            });
        }
    }

    // Items are placed in target order right after their target
    // predecessor, which is always stable or already placed; so the placed
    // items stay in target order and, once all are placed, `cur == target`.
    for (j, (id, &is_stable)) in target.iter().zip(&stable).enumerate() {
        if is_stable {
            continue;
        }
        let Some(from) = cur.iter().position(|c| c == id) else {
            continue;
        };
        cur.remove(from);
        let to = match j.checked_sub(1).and_then(|p| target.get(p)) {
            Some(pred) => cur.iter().position(|c| c == pred).map_or(0, |p| p + 1),
            None => 0,
        };
        cur.insert(to, id);
        if from != to {
            ops.push(PatchOp::Move {
                from: push_index(path, from),
                path: push_index(path, to),
            });
        }
    }

    for (j, (id, item)) in new_ids.iter().zip(new).enumerate() {
        if !old_pos.contains_key(id.as_str()) {
            ops.push(PatchOp::Add {
                path: push_index(path, j),
                value: item.clone(),
            });
        }
    }

    for (j, (id, item)) in new_ids.iter().zip(new).enumerate() {
        if let Some(old_item) = old_pos.get(id.as_str()).and_then(|&i| old.get(i)) {
            diff_at(&push_index(path, j), old_item, item, ops);
        }
    }
}

fn keyed(items: &[Value]) -> Vec<Keyed<'_>> {
    items
        .iter()
        .map(|value| Keyed {
            hash: value_hash(value),
            value,
        })
        .collect()
}

/// A list item keyed for similar: equality is `Value`'s, the hash is
/// precomputed and consistent with it.
struct Keyed<'a> {
    hash: u64,
    value: &'a Value,
}

impl PartialEq for Keyed<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.value == other.value
    }
}

impl Eq for Keyed<'_> {}

impl Hash for Keyed<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A hash that agrees with `Value`'s equality: object entries are combined
/// order-independently (key order is not equality), and `-0.0` hashes like
/// `0.0` (they compare equal).
fn value_hash(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    match v {
        Value::Null => 0u8.hash(&mut h),
        Value::Bool(b) => (1u8, b).hash(&mut h),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                (2u8, u).hash(&mut h);
            } else if let Some(i) = n.as_i64() {
                (3u8, i).hash(&mut h);
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                let bits = if f == 0.0 { 0 } else { f.to_bits() };
                (4u8, bits).hash(&mut h);
            }
        }
        Value::String(s) => (5u8, s).hash(&mut h),
        Value::Array(a) => {
            (6u8, a.len()).hash(&mut h);
            for item in a {
                value_hash(item).hash(&mut h);
            }
        }
        Value::Object(o) => {
            let mut sum = 0u64;
            for (k, item) in o {
                let mut eh = DefaultHasher::new();
                k.hash(&mut eh);
                value_hash(item).hash(&mut eh);
                sum = sum.wrapping_add(eh.finish());
            }
            (7u8, o.len(), sum).hash(&mut h);
        }
    }
    h.finish()
}

/// Element-equality diff of two lists without usable identities.
///
/// Walking similar's ops left to right, the array always reads
/// `new[..new_index] ++ old[old_index..]`, so `new_index` is the live index
/// of the next untouched old element.
fn diff_sequence(path: &str, old: &[Value], new: &[Value], ops: &mut Vec<PatchOp>) {
    let (old_keys, new_keys) = (keyed(old), keyed(new));
    let script = similar::capture_diff_slices(Algorithm::Myers, &old_keys, &new_keys);
    for op in script {
        match op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete {
                old_len, new_index, ..
            } => remove_run(path, new_index, old_len, ops),
            DiffOp::Insert {
                new_index, new_len, ..
            } => add_run(path, new, new_index..new_index + new_len, ops),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                let paired = old_len.min(new_len);
                for k in 0..paired {
                    if let (Some(o), Some(n)) = (old.get(old_index + k), new.get(new_index + k)) {
                        let at = push_index(path, new_index + k);
                        if same_container_kind(o, n) {
                            diff_at(&at, o, n, ops);
                        } else {
                            ops.push(PatchOp::Replace {
                                path: at,
                                value: n.clone(),
                            });
                        }
                    }
                }
                remove_run(path, new_index + paired, old_len - paired, ops);
                add_run(path, new, new_index + paired..new_index + new_len, ops);
            }
        }
    }
}

fn same_container_kind(a: &Value, b: &Value) -> bool {
    matches!(
        (a, b),
        (Value::Object(_), Value::Object(_)) | (Value::Array(_), Value::Array(_))
    )
}

fn remove_run(path: &str, at: usize, count: usize, ops: &mut Vec<PatchOp>) {
    for _ in 0..count {
        ops.push(PatchOp::Remove {
            path: push_index(path, at),
        });
    }
}

fn add_run(path: &str, new: &[Value], range: std::ops::Range<usize>, ops: &mut Vec<PatchOp>) {
    for j in range {
        if let Some(value) = new.get(j) {
            ops.push(PatchOp::Add {
                path: push_index(path, j),
                value: value.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn check(old: Value, new: Value, expect: Value) {
        let ops = diff(&old, &new);
        assert_eq!(to_json_array(&ops), expect, "old={old} new={new}");
        assert_applies(&old, &new, &ops);
    }

    /// Applying `ops` to `old` with an independent RFC 6902 implementation gives `new`.
    fn assert_applies(old: &Value, new: &Value, ops: &[PatchOp]) {
        let mut doc = old.clone();
        let patch: json_patch::Patch = serde_json::from_value(to_json_array(ops)).unwrap();
        json_patch::patch(&mut doc, &patch).unwrap();
        assert_eq!(&doc, new);
    }

    fn steps(ids: &[&str]) -> Value {
        Value::Array(
            ids.iter()
                .map(|id| json!({"id": id, "name": id.to_uppercase()}))
                .collect(),
        )
    }

    #[test]
    fn table() {
        check(json!(1), json!(1), json!([]));
        check(
            json!("30"),
            json!(30),
            json!([{"op":"replace","path":"","value":30}]),
        );
        check(
            json!(1),
            json!(1.0),
            json!([{"op":"replace","path":"","value":1.0}]),
        );
        check(
            json!({"a/b": 1, "c~d": 2}),
            json!({"a/b": 2}),
            json!([{"op":"remove","path":"/c~0d"},{"op":"replace","path":"/a~1b","value":2}]),
        );
        check(
            json!({"a": null}),
            json!({}),
            json!([{"op":"remove","path":"/a"}]),
        );
        check(
            json!([1, 2, 3]),
            json!([1, 3, 4]),
            json!([{"op":"remove","path":"/1"},{"op":"add","path":"/2","value":4}]),
        );
    }

    #[test]
    fn reorder_of_identified_items_gives_only_moves() {
        let old = steps(&["a", "b", "c", "d", "e"]);
        let new = steps(&["e", "a", "c", "b", "d"]);
        let ops = diff(&old, &new);
        assert!(!ops.is_empty());
        assert!(
            ops.iter().all(|op| matches!(op, PatchOp::Move { .. })),
            "{ops:?}"
        );
        check(old.clone(), new.clone(), to_json_array(&ops));

        let ops = diff(&steps(&["a", "b", "c", "d"]), &steps(&["b", "c", "d", "a"]));
        assert_eq!(
            ops,
            vec![PatchOp::Move {
                from: "/0".into(),
                path: "/3".into()
            }]
        );
    }

    #[test]
    fn a_renamed_step_id_is_one_replace() {
        let old = json!({"steps": [{"id": "a", "m": 1}, {"id": "b", "m": 2}, {"id": "c", "m": 3}]});
        let new =
            json!({"steps": [{"id": "a", "m": 1}, {"id": "b2", "m": 2}, {"id": "c", "m": 3}]});
        check(
            old,
            new,
            json!([{"op":"replace","path":"/steps/1/id","value":"b2"}]),
        );
        // Renamed and moved: a move and a replace.
        let old = json!([{"id": "a", "m": 1}, {"id": "b", "m": 2}, {"id": "c", "m": 3}]);
        let new = json!([{"id": "c", "m": 3}, {"id": "a", "m": 1}, {"id": "z", "m": 2}]);
        let ops = diff(&old, &new);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_applies(&old, &new, &ops);
    }

    #[test]
    fn a_reordered_scalar_list_is_moves() {
        check(
            json!(["a", "b", "c", "d"]),
            json!(["b", "c", "d", "a"]),
            json!([{"op":"move","from":"/0","path":"/3"}]),
        );
        check(
            json!({"checklist": ["x", "y", "z"]}),
            json!({"checklist": ["z", "x", "y", "w"]}),
            json!([{"op":"move","from":"/checklist/2","path":"/checklist/0"},{"op":"add","path":"/checklist/3","value":"w"}]),
        );
        // An edit in place stays one replace.
        check(
            json!(["a", "b", "c"]),
            json!(["a", "q", "c"]),
            json!([{"op":"replace","path":"/1","value":"q"}]),
        );
    }

    #[test]
    fn insert_at_head_of_identified_list_gives_one_add() {
        let ops = diff(&steps(&["a", "b", "c"]), &steps(&["z", "a", "b", "c"]));
        assert_eq!(
            ops,
            vec![PatchOp::Add {
                path: "/0".into(),
                value: json!({"id":"z","name":"Z"})
            }]
        );
    }

    #[test]
    fn one_field_change_in_large_identified_list_gives_one_replace() {
        let old: Vec<Value> = (0..1000)
            .map(|i| json!({"id": format!("s{i}"), "estimated_minutes": 10}))
            .collect();
        let mut new = old.clone();
        new[500]["estimated_minutes"] = json!(15);
        let ops = diff(&json!({"steps": old}), &json!({"steps": new}));
        assert_eq!(
            ops,
            vec![PatchOp::Replace {
                path: "/steps/500/estimated_minutes".into(),
                value: json!(15)
            }]
        );
    }

    #[test]
    fn duplicate_ids_fall_back_to_sequence_diff() {
        check(
            json!([{"id": 1, "v": 1}, {"id": 1, "v": 2}]),
            json!([{"id": 1, "v": 2}]),
            json!([{"op":"remove","path":"/0"}]),
        );
    }

    #[test]
    fn large_identified_reorder_stays_correct() {
        for n in [4_000, 10_000] {
            let old: Vec<Value> = (0..n).map(|i| json!({"id": i})).collect();
            let new: Vec<Value> = old.iter().rev().cloned().collect();
            let (old, new) = (Value::Array(old), Value::Array(new));
            assert_applies(&old, &new, &diff(&old, &new));
        }
    }

    #[test]
    fn large_unidentified_array_is_not_quadratic() {
        let old: Vec<Value> = (0..10_000).map(|i| json!(i)).collect();
        let new: Vec<Value> = (0..10_000).rev().map(|i| json!(i)).collect();
        let (old, new) = (Value::Array(old), Value::Array(new));
        assert_applies(&old, &new, &diff(&old, &new));
    }
}
