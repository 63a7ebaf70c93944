//! Property tests for `diff::json_patch`, with the json-patch crate as an
//! independent oracle: whatever pair of documents we generate, applying our
//! patch to the first with someone else's RFC 6902 implementation must give
//! the second.
//!
//! Inputs lean towards what the product diffs: workflows with lists of steps
//! that carry `id`/`name`, reordered, grown at the head, with duplicate or
//! missing ids, keys that need pointer escaping, and type changes.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::sample::select;
use qa_reload::diff::json_patch::{self, PatchOp};
use serde_json::{Map, Value, json};

use crate::util::Rng;

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..40).prop_map(Value::from),
        // Integral floats: `1` and `1.0` differ for serde_json and must diff.
        (-3i64..40).prop_map(|n| json!(n as f64)),
        Just(json!(0.5)),
        Just(json!(-0.0)),
        select(vec!["30", "1", "a", "b/c", "~0", "x~1/y", ""]).prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    select(vec![
        "id", "name", "a", "b", "a/b", "~", "~1", "/", "", "0", "-", "x~/y", "steps",
    ])
    .prop_map(String::from)
}

fn object(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), inner), 0..6)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
}

/// A step-like object; ids drawn from a small pool, so duplicates and
/// `"1"` vs `1` collisions happen, and sometimes absent.
fn step(inner: impl Strategy<Value = Value> + Clone) -> impl Strategy<Value = Value> {
    let id = prop_oneof![
        (0..6u8).prop_map(|i| json!(format!("s{i}"))),
        (0..6u8).prop_map(|i| json!(i)),
        (0..6u8).prop_map(|i| json!(i.to_string())),
    ];
    (
        prop::option::weighted(0.8, id),
        prop::option::weighted(0.5, select(vec!["Login", "Pay", "a/b"])),
        object(inner),
    )
        .prop_map(|(id, name, body)| {
            let mut m = Map::new();
            if let Some(id) = id {
                m.insert("id".into(), id);
            }
            if let Some(name) = name {
                m.insert("name".into(), name.into());
            }
            if let Value::Object(body) = body {
                for (k, v) in body {
                    if k != "id" && k != "name" {
                        m.insert(k, v);
                    }
                }
            }
            Value::Object(m)
        })
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            object(inner.clone()),
            prop::collection::vec(step(inner), 0..6).prop_map(Value::Array),
        ]
    })
}

/// Applies one random edit somewhere inside `v`: the kind of change a person
/// makes to a file, so `a` and `b` share most of their shape.
fn mutate(v: &mut Value, rng: &mut Rng) {
    let descend = rng.below(3) != 0;
    match v {
        Value::Array(items) if descend && !items.is_empty() => {
            let i = rng.below(items.len());
            mutate(&mut items[i], rng);
        }
        Value::Object(m) if descend && !m.is_empty() => {
            let i = rng.below(m.len());
            if let Some((_, child)) = m.iter_mut().nth(i) {
                mutate(child, rng);
            }
        }
        Value::Array(items) => match rng.below(6) {
            0 if !items.is_empty() => {
                let i = rng.below(items.len());
                items.remove(i);
            }
            1 => items.insert(0, json!({"id": format!("new{}", rng.below(3)), "x": 1})),
            2 => {
                let i = rng.below(items.len() + 1);
                items.insert(i, json!(rng.below(4)));
            }
            3 => {
                // A reorder: rotate or reverse a prefix.
                let n = rng.below(items.len() + 1);
                if rng.below(2) == 0 {
                    items[..n].reverse();
                } else if n > 0 {
                    items[..n].rotate_left(1);
                }
            }
            4 if !items.is_empty() => {
                let i = rng.below(items.len());
                let dup = items[i].clone();
                items.push(dup);
            }
            _ => *v = json!(rng.below(3)),
        },
        Value::Object(m) => match rng.below(5) {
            0 if !m.is_empty() => {
                let i = rng.below(m.len());
                if let Some(k) = m.keys().nth(i).cloned() {
                    m.shift_remove(&k);
                }
            }
            1 => {
                let k = ["id", "name", "a/b", "~", "new", ""][rng.below(6)];
                m.insert(k.into(), Value::Null);
            }
            2 => {
                m.insert("id".into(), json!(rng.below(4)));
            }
            _ => *v = Value::Array(vec![]),
        },
        Value::Number(n) => {
            *v = match (n.as_i64(), n.as_f64()) {
                (Some(i), _) if rng.below(2) == 0 => json!(i as f64),
                (Some(i), _) => json!(i.to_string()),
                (None, Some(f)) => json!(f as i64),
                _ => Value::Null,
            }
        }
        Value::String(s) => {
            *v = match s.parse::<i64>() {
                Ok(i) => json!(i),
                Err(_) => json!(format!("{s}~/")),
            }
        }
        Value::Null => *v = json!({"k": null}),
        Value::Bool(b) => *v = json!(!*b),
    }
}

/// Pairs that are one or a few edits apart.
fn edited_pair() -> impl Strategy<Value = (Value, Value)> {
    (value(), any::<u64>(), 1..5usize).prop_map(|(a, seed, edits)| {
        let mut b = a.clone();
        let mut rng = Rng(seed);
        for _ in 0..edits {
            mutate(&mut b, &mut rng);
        }
        (a, b)
    })
}

/// Workflows whose step lists carry unique ids, then reordered, trimmed,
/// grown (often at the head) and edited.
fn workflow_pair() -> impl Strategy<Value = (Value, Value)> {
    (
        prop::collection::vec(object(scalar()), 0..10),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_flat_map(|(bodies, numeric, seed)| {
            let steps: Vec<Value> = bodies
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    let mut m = Map::new();
                    m.insert(
                        "id".into(),
                        if numeric {
                            json!(i)
                        } else {
                            json!(format!("s{i}"))
                        },
                    );
                    if let Value::Object(body) = body {
                        for (k, v) in body {
                            if k != "id" && k != "name" {
                                m.insert(k, v);
                            }
                        }
                    }
                    Value::Object(m)
                })
                .collect();
            (Just(steps.clone()), Just(steps).prop_shuffle(), Just(seed))
        })
        .prop_map(|(old_steps, mut new_steps, seed)| {
            let mut rng = Rng(seed);
            match rng.below(6) {
                0 => {}
                1 => new_steps.insert(0, json!({"id": "head", "estimated_minutes": 5})),
                2 if !new_steps.is_empty() => {
                    let i = rng.below(new_steps.len());
                    new_steps.remove(i);
                }
                3 if !new_steps.is_empty() => {
                    let i = rng.below(new_steps.len());
                    new_steps[i]["estimated_minutes"] = json!("30");
                }
                _ => {}
            }
            let mut new_steps = Value::Array(new_steps);
            for _ in 0..rng.below(3) {
                mutate(&mut new_steps, &mut rng);
            }
            (
                json!({"id": "wf", "name": "W", "steps": old_steps}),
                json!({"id": "wf", "name": "W", "steps": new_steps}),
            )
        })
}

fn pair() -> impl Strategy<Value = (Value, Value)> {
    prop_oneof![
        2 => (value(), value()),
        3 => edited_pair(),
        3 => workflow_pair(),
    ]
}

fn apply_with_oracle(doc: &Value, ops: &[PatchOp]) -> Result<Value, String> {
    let patch: ::json_patch::Patch = serde_json::from_value(json_patch::to_json_array(ops))
        .map_err(|e| format!("patch does not parse as RFC 6902: {e}"))?;
    let mut out = doc.clone();
    ::json_patch::patch(&mut out, &patch).map_err(|e| format!("oracle refused the patch: {e}"))?;
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn patch_turns_old_into_new((a, b) in pair()) {
        let ops = json_patch::diff(&a, &b);
        let got = apply_with_oracle(&a, &ops);
        prop_assert_eq!(got.as_ref(), Ok(&b), "ops: {}", json_patch::to_json_array(&ops));
        prop_assert_eq!(ops.is_empty(), a == b);
    }

    #[test]
    fn diff_of_a_value_with_itself_is_empty(a in value()) {
        prop_assert!(json_patch::diff(&a, &a).is_empty());
        prop_assert!(json_patch::diff(&a, &a.clone()).is_empty());
    }

    #[test]
    fn reorder_of_identified_steps_is_only_moves(
        (old, new) in (1..12usize).prop_flat_map(|n| {
            let steps: Vec<Value> = (0..n).map(|i| json!({"id": format!("s{i}"), "n": i})).collect();
            (Just(steps.clone()), Just(steps).prop_shuffle())
        })
    ) {
        let (old, new) = (Value::Array(old), Value::Array(new));
        let ops = json_patch::diff(&old, &new);
        prop_assert!(ops.iter().all(|op| matches!(op, PatchOp::Move { .. })), "{:?}", ops);
        let len = old.as_array().map_or(0, Vec::len);
        prop_assert!(ops.len() < len.max(1));
        prop_assert_eq!(apply_with_oracle(&old, &ops), Ok(new));
    }
}
