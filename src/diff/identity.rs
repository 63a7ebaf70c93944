//! Stage `diff`: the one rule for which key identifies the items of a list,
//! shared by the semantic diff (`steps[id=login]`) and JSON Patch (a
//! reorder is a `move`), so the two never disagree on whether an item
//! moved or was replaced. Pure, no I/O, never panics.

use std::collections::HashSet;
use std::hash::Hash;

/// The keys that can identify a list's items, in the order they are tried.
pub const KEYS: [&str; 2] = ["id", "name"];

/// The key shared by both lists: `id` when every item on both sides has a
/// scalar `id` (`identity` says what it is) unique on its side, else `name`
/// under the same rule, else none (the items are compared by place).
pub fn list_key<T, I: Eq + Hash>(
    a: &[T],
    b: &[T],
    identity: impl Fn(&T, &str) -> Option<I>,
) -> Option<&'static str> {
    KEYS.into_iter().find(|key| {
        [a, b].iter().all(|items| {
            let mut seen = HashSet::with_capacity(items.len());
            items
                .iter()
                .all(|item| identity(item, key).is_some_and(|id| seen.insert(id)))
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::diff::json_patch::{self, PatchOp};
    use crate::diff::semantic::{self, ChangeOp};
    use crate::load::yaml::{Limits, parse};

    /// Whether the semantic diff and JSON Patch each see a move when the
    /// two items of `items` swap places.
    fn moves(items: [&str; 2]) -> (bool, bool) {
        let doc = |a: &str, b: &str| {
            let text = format!("steps:\n  - {a}\n  - {b}\n");
            parse(text.as_bytes(), "w.yaml", &Limits::default())
                .0
                .unwrap()
        };
        let (old, new) = (doc(items[0], items[1]), doc(items[1], items[0]));
        let semantic = semantic::diff(Some(&old), Some(&new))
            .iter()
            .any(|c| c.op == ChangeOp::Move);
        let patch = json_patch::diff(&old.to_json(), &new.to_json())
            .iter()
            .any(|op| matches!(op, PatchOp::Move { .. }));
        (semantic, patch)
    }

    #[test]
    fn the_semantic_diff_and_json_patch_agree_on_what_moved() {
        let cases = [
            // Unique ids: both move.
            (["{id: a, n: 1}", "{id: b, n: 2}"], true),
            // One without an id, names unique: both move, by name.
            (["{id: a, name: A, n: 1}", "{name: B, n: 2}"], true),
            // One identified by id only, the other by name only: no key
            // holds for the whole list, so neither moves.
            (["{id: a, n: 1}", "{name: B, n: 2}"], false),
            // Ids and names shared: nothing identifies the items.
            (["{id: a, name: A, n: 1}", "{id: a, name: A, n: 2}"], false),
        ];
        for (items, moved) in cases {
            assert_eq!(moves(items), (moved, moved), "{items:?}");
        }
    }

    fn item<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&usize, &str) -> Option<&'a str> {
        move |i, key| {
            let (id, name) = pairs[*i];
            match key {
                "id" => (!id.is_empty()).then_some(id),
                _ => (!name.is_empty()).then_some(name),
            }
        }
    }

    #[test]
    fn id_then_name_then_none_each_unique_on_both_sides() {
        let both = [("a", "A"), ("b", "B")];
        assert_eq!(list_key(&[0, 1], &[1, 0], item(&both)), Some("id"));
        let no_id_on_one = [("a", "A"), ("", "B")];
        assert_eq!(
            list_key(&[0, 1], &[1, 0], item(&no_id_on_one)),
            Some("name")
        );
        let shared_id = [("a", "A"), ("a", "B")];
        assert_eq!(list_key(&[0, 1], &[0], item(&shared_id)), Some("name"));
        let nothing = [("a", ""), ("", "B")];
        assert_eq!(list_key(&[0, 1], &[1, 0], item(&nothing)), None);
    }
}
