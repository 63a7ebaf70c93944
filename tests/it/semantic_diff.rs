//! The semantic diff, as a table: before, after, and the changes expected,
//! one compact line each (`replace steps[id=a].estimated_minutes 10 -> 15 @4`).

use qa_reload::diff::semantic::{Change, ChangeOp, diff};
use qa_reload::load::node::Node;
use qa_reload::load::yaml::{Limits, parse};
use qa_reload::secret::MASK;

fn tree(text: &str) -> Option<Node> {
    let (node, errors) = parse(text.as_bytes(), "t.yaml", &Limits::default());
    assert!(errors.is_empty(), "{errors:?}\n{text}");
    node
}

fn value(v: &serde_json::Value) -> String {
    let text = v.to_string();
    if text.len() > 100 {
        format!("<{} chars>", text.len())
    } else {
        text
    }
}

/// `op path [old ->] [new] @line`, with masked values written `***`.
fn render(c: &Change) -> String {
    let path = if c.path.is_empty() { "<root>" } else { &c.path };
    let old = c.old.as_ref().map(value).unwrap_or_default();
    let new = c.new.as_ref().map(value).unwrap_or_default();
    let body = match c.op {
        ChangeOp::Add => format!("add {path} {new}"),
        ChangeOp::Remove => format!("remove {path} {old}"),
        op => format!("{op} {path} {old} -> {new}"),
    };
    let line = c.line.map(|l| format!(" @{l}")).unwrap_or_default();
    let text = format!("{body}{line}");
    // Fingerprints are salted per process; the table only says "masked".
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(MASK) {
        out.push_str(&rest[..at]);
        out.push_str("***");
        rest = rest[at + MASK.len()..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

fn changes(before: &str, after: &str) -> Vec<Change> {
    diff(tree(before).as_ref(), tree(after).as_ref())
}

fn check(before: &str, after: &str, expected: &[&str]) {
    let got: Vec<String> = changes(before, after).iter().map(render).collect();
    assert_eq!(got, expected, "\n--- before\n{before}\n--- after\n{after}");
}

const WF: &str = "\
id: bug-fix
name: Bug Fix
steps:
  - id: reproduce
    name: Reproduce
    estimated_minutes: 10
    checklist: [written down]
  - id: fix
    name: Fix
    estimated_minutes: 30
  - id: verify
    name: Verify
    estimated_minutes: 5
";

#[test]
fn a_step_field_changes() {
    check(
        WF,
        &WF.replace("estimated_minutes: 10", "estimated_minutes: 15"),
        &["replace steps[id=reproduce].estimated_minutes 10 -> 15 @6"],
    );
}

#[test]
fn self_diff_with_quoted_ids_is_empty() {
    let text = "steps:\n  - id: \"a\"\n    name: A\n  - id: 'b'\n    name: B\n";
    check(text, text, &[]);
}

#[test]
fn a_step_removed_and_another_added_elsewhere() {
    let after = "\
id: bug-fix
name: Bug Fix
steps:
  - id: triage
    name: Triage
    estimated_minutes: 3
  - id: reproduce
    name: Reproduce
    estimated_minutes: 10
    checklist: [written down]
  - id: verify
    name: Verify
    estimated_minutes: 5
";
    check(
        WF,
        after,
        &[
            r#"remove steps[id=fix] {"id":"fix","name":"Fix","estimated_minutes":30} @8"#,
            r#"add steps[id=triage] {"id":"triage","name":"Triage","estimated_minutes":3} @4"#,
        ],
    );
}

#[test]
fn reorder_only_gives_moves() {
    let before = "steps:\n  - id: a\n  - id: b\n  - id: c\n";
    check(
        before,
        "steps:\n  - id: c\n  - id: b\n  - id: a\n",
        &["move steps[id=c] 2 -> 0 @2", "move steps[id=b] 1 -> 1 @3"],
    );
}

#[test]
fn moving_one_item_is_one_move() {
    let before = "steps:\n  - id: a\n  - id: b\n  - id: c\n  - id: d\n";
    check(
        before,
        "steps:\n  - id: b\n  - id: c\n  - id: d\n  - id: a\n",
        &["move steps[id=a] 0 -> 3 @5"],
    );
}

#[test]
fn a_move_and_an_edit_of_the_same_item() {
    check(
        "steps:\n  - {id: a, n: 1}\n  - {id: b, n: 2}\n",
        "steps:\n  - {id: b, n: 3}\n  - {id: a, n: 1}\n",
        &[
            "move steps[id=b] 1 -> 0 @2",
            "replace steps[id=b].n 2 -> 3 @2",
        ],
    );
}

#[test]
fn id_rename() {
    check(
        WF,
        &WF.replace("id: fix", "id: apply-fix"),
        &[r#"rename steps[id=fix] "fix" -> "apply-fix" @8"#],
    );
}

#[test]
fn a_renamed_id_with_other_edits_is_remove_and_add() {
    check(
        "steps:\n  - {id: a, n: 1}\n",
        "steps:\n  - {id: b, n: 2}\n",
        &[
            r#"remove steps[id=a] {"id":"a","n":1} @2"#,
            r#"add steps[id=b] {"id":"b","n":2} @2"#,
        ],
    );
}

#[test]
fn duplicate_ids_fall_back_to_positions_and_drop_nothing() {
    check(
        "steps:\n  - {id: a, n: 1}\n  - {id: a, n: 2}\n",
        "steps:\n  - {id: a, n: 1}\n  - {id: a, n: 3}\n  - {id: a, n: 4}\n",
        &[
            "replace steps[1].n 2 -> 3 @3",
            r#"add steps[2] {"id":"a","n":4} @4"#,
        ],
    );
}

#[test]
fn items_without_identity_are_never_dropped() {
    check(
        "steps:\n  - {title: a}\n  - {title: b}\n  - {title: c}\n",
        "steps:\n  - {title: a}\n  - {title: c}\n  - {title: d}\n",
        &[
            r#"remove steps[1] {"title":"b"} @3"#,
            r#"add steps[2] {"title":"d"} @4"#,
        ],
    );
}

#[test]
fn mixed_identity_compares_by_position() {
    check(
        "steps:\n  - {id: a}\n  - {title: b}\n",
        "steps:\n  - {id: a}\n  - {title: c}\n",
        &[r#"replace steps[1].title "b" -> "c" @3"#],
    );
}

#[test]
fn lists_match_by_name_when_there_is_no_id() {
    check(
        "people:\n  - {name: ann, age: 30}\n  - {name: bob, age: 40}\n",
        "people:\n  - {name: bob, age: 41}\n  - {name: ann, age: 30}\n",
        &[
            "move people[name=bob] 1 -> 0 @2",
            "replace people[name=bob].age 40 -> 41 @2",
        ],
    );
}

#[test]
fn numeric_ids() {
    check(
        "steps:\n  - {id: 1, n: a}\n  - {id: 2, n: b}\n",
        "steps:\n  - {id: 1, n: a}\n  - {id: 2, n: c}\n",
        &[r#"replace steps[id=2].n "b" -> "c" @3"#],
    );
}

#[test]
fn string_one_point_oh_vs_float() {
    check(
        "version: '1.0'\n",
        "version: 1.0\n",
        &[r#"replace version "1.0" -> 1.0 @1"#],
    );
}

#[test]
fn quoted_number_vs_number() {
    check(
        "minutes: \"30\"\n",
        "minutes: 30\n",
        &[r#"replace minutes "30" -> 30 @1"#],
    );
}

#[test]
fn yes_no_are_strings_not_booleans() {
    check(
        "a: yes\nb: no\n",
        "a: true\nb: false\n",
        &[
            r#"replace a "yes" -> true @1"#,
            r#"replace b "no" -> false @2"#,
        ],
    );
}

#[test]
fn null_spellings_are_the_same_value() {
    check("a: null\nb: ~\nc:\n", "a: ~\nb:\nc: null\n", &[]);
}

#[test]
fn null_and_empty_collections_are_the_same_as_a_missing_key() {
    check("a: 1\n", "a: 1\nb: ~\n", &[]);
    check("a: 1\nb:\n", "a: 1\n", &[]);
    check("a: 1\n", "a: 1\nb: []\nc: {}\n", &[]);
    check(
        "steps:\n  - id: s\n    checklist: []\n",
        "steps:\n  - id: s\n",
        &[],
    );
    check("a: 1\nb: null\n", "a: 1\nb: 2\n", &["add b 2 @2"]);
    check("a: 1\nb: [x]\n", "a: 1\nb: []\n", &["remove b [\"x\"] @2"]);
}

#[test]
fn an_anchor_change_reaches_its_aliases() {
    let before = "base: &m 10\nsteps:\n  - {id: a, estimated_minutes: *m}\n  - {id: b, estimated_minutes: *m}\n";
    check(
        before,
        &before.replace("&m 10", "&m 20"),
        &[
            "replace base 10 -> 20 @1",
            "replace steps[id=a].estimated_minutes 10 -> 20 @3",
            "replace steps[id=b].estimated_minutes 10 -> 20 @4",
        ],
    );
}

#[test]
fn merge_keys_equal_to_written_out_values_are_no_change() {
    let written = "\
defaults: {timeout: 5, retries: 2}
steps:
  - id: a
    timeout: 5
    retries: 2
  - id: b
    timeout: 9
    retries: 2
";
    let merged = "\
defaults: &d {timeout: 5, retries: 2}
steps:
  - id: a
    <<: *d
  - id: b
    <<: *d
    timeout: 9
";
    check(written, merged, &[]);
}

#[test]
fn a_change_in_a_merged_anchor_reaches_every_user() {
    let before = "defaults: &d {timeout: 5}\nsteps:\n  - id: a\n    <<: *d\n";
    check(
        before,
        &before.replace("timeout: 5", "timeout: 6"),
        &[
            "replace defaults.timeout 5 -> 6 @1",
            "replace steps[id=a].timeout 5 -> 6 @1",
        ],
    );
}

#[test]
fn one_line_changed_in_a_500_kb_block_scalar() {
    let body: String = (0..10_000)
        .map(|i| format!("    line {i:05} of the long notes, padded out to fifty.\n"))
        .collect();
    assert!(body.len() > 500_000);
    let before = format!("name: x\nnotes: |\n{body}tail: 1\n");
    let after = before.replace("line 05000 of", "line 05000 OF");
    let got = changes(&before, &after);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        render(&got[0]),
        "replace notes <520002 chars> -> <520002 chars> @3"
    );
}

#[test]
fn numeric_keys() {
    check(
        "codes:\n  200: ok\n  404: missing\n",
        "codes:\n  200: fine\n  404: missing\n  500: broken\n",
        &[
            r#"replace codes.200 "ok" -> "fine" @2"#,
            r#"add codes.500 "broken" @4"#,
        ],
    );
}

#[test]
fn keys_with_slash_and_tilde_are_quoted() {
    check(
        "paths:\n  a/b: 1\n  c~d: 2\n  plain_key-1: 3\n",
        "paths:\n  a/b: 2\n  c~d: 3\n  plain_key-1: 4\n",
        &[
            r#"replace paths["a/b"] 1 -> 2 @2"#,
            r#"replace paths["c~d"] 2 -> 3 @3"#,
            "replace paths.plain_key-1 3 -> 4 @4",
        ],
    );
}

#[test]
fn comment_and_formatting_changes_are_nothing() {
    check(
        WF,
        &format!(
            "# a comment\n{}",
            WF.replace("name: Fix", "name:   \"Fix\"   # why")
        ),
        &[],
    );
}

#[test]
fn key_order_is_not_a_change() {
    check("a: 1\nb: {x: 1, y: 2}\n", "b: {y: 2, x: 1}\na: 1\n", &[]);
}

#[test]
fn nested_checklist_item_added() {
    check(
        WF,
        &WF.replace("[written down]", "[written down, screenshot attached]"),
        &[r#"add steps[id=reproduce].checklist[1] "screenshot attached" @7"#],
    );
}

#[test]
fn checklist_head_insert_is_one_add() {
    check(
        "checklist: [b, c, d]\n",
        "checklist: [a, b, c, d]\n",
        &[r#"add checklist[0] "a" @1"#],
    );
}

#[test]
fn description_added() {
    check(
        WF,
        &WF.replace(
            "name: Bug Fix\n",
            "name: Bug Fix\ndescription: Verify a fix\n",
        ),
        &[r#"add description "Verify a fix" @3"#],
    );
}

#[test]
fn step_field_removed() {
    check(
        WF,
        &WF.replace("    checklist: [written down]\n", ""),
        &[r#"remove steps[id=reproduce].checklist ["written down"] @7"#],
    );
}

#[test]
fn scalar_becomes_a_mapping() {
    check(
        "owner: qa\n",
        "owner:\n  team: qa\n",
        &[r#"replace owner "qa" -> {"team":"qa"} @1"#],
    );
}

#[test]
fn whole_entity_added_removed_or_absent() {
    check("", "name: x\n", &[r#"add <root> {"name":"x"} @1"#]);
    check("name: x\n", "", &[r#"remove <root> {"name":"x"} @1"#]);
    check("", "# only a comment\n", &[]);
}

#[test]
fn secret_key_change_is_masked() {
    let before = "enabled: true\napi_token: hunter2-old\n";
    let after = "enabled: true\napi_token: hunter2-new\n";
    check(before, after, &[r#"replace api_token "***" -> "***" @2"#]);
    let got = changes(before, after);
    let text = format!("{got:?} {}", got[0]);
    assert!(!text.contains("hunter2"), "{text}");
    assert_ne!(
        got[0].old, got[0].new,
        "a changed secret shows a changed fingerprint"
    );
}

#[test]
fn values_under_a_secret_key_are_masked_recursively() {
    let before = "auth:\n  password: {primary: hunter2, pin: 1234}\n";
    let after = "auth:\n  password: {primary: hunter3, pin: 4321, rotate: true}\n";
    check(
        before,
        after,
        &[
            r#"replace auth.password.primary "***" -> "***" @2"#,
            r#"replace auth.password.pin "***" -> "***" @2"#,
            "add auth.password.rotate true @2",
        ],
    );
    check(
        "a: 1\n",
        "a: 1\ncreds: {client_secret: hunter2, user: bob}\n",
        &[r#"add creds {"client_secret":"***","user":"bob"} @2"#],
    );
}

#[test]
fn lists_under_a_secret_key_do_not_show_ids_in_paths() {
    let got = changes(
        "tokens:\n  - {id: hunter2, v: 1}\n",
        "tokens:\n  - {id: hunter2, v: 2}\n",
    );
    let text = format!("{got:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "tokens[0].v");
}

#[test]
fn env_reference_names_are_shown_and_the_value_they_stood_for_is_masked() {
    let got = changes(
        "base_url: ${JIRA_URL}\n",
        "base_url: https://literal.example\n",
    );
    assert_eq!(got.len(), 1);
    let text = format!("{got:?}");
    assert!(text.contains("${JIRA_URL}"), "{text}");
    assert!(!text.contains("literal"), "{text}");
}

#[test]
fn url_userinfo_is_masked_and_text_mentioning_env_syntax_is_shown() {
    let got = changes(
        "base_url: https://a.example\nchecklist:\n  - set ${BASE_URL} first\n",
        "base_url: https://admin:hunter22@b.example\nchecklist:\n  - set ${BASE_URL} now\n",
    );
    let text = format!("{got:?}");
    assert!(text.contains("@b.example"), "{text}");
    assert!(
        !text.contains("hunter22") && !text.contains("admin"),
        "{text}"
    );
    assert!(text.contains("set ${BASE_URL} now"), "{text}");
}

#[test]
fn secret_values_are_masked_but_their_env_reference_names_are_not() {
    let got = changes("api_token: ${OLD_TOKEN}\n", "api_token: literal-hunter22\n");
    let text = format!("{got:?}");
    assert!(text.contains("${OLD_TOKEN}"), "{text}");
    assert!(!text.contains("hunter22"), "{text}");
}

#[test]
fn display_reads_like_a_change_list() {
    let got = changes(
        "steps:\n  - {id: a, name: A}\n",
        "steps:\n  - {id: a, name: B}\n",
    );
    assert_eq!(
        got[0].to_string(),
        r#"~ steps[id=a].name: "A" -> "B" (line 2)"#
    );
}

#[test]
fn ten_thousand_item_lists_stay_fast() {
    let items: Vec<String> = (0..10_000).map(|i| format!("  - item {i}\n")).collect();
    let before = format!("list:\n{}", items.concat());
    let after = format!("list:\n  - new head\n{}", items[..9_999].concat());
    check(
        &before,
        &after,
        &[
            r#"add list[0] "new head" @2"#,
            r#"remove list[9999] "item 9999" @10001"#,
        ],
    );
    let reversed: String = items.iter().rev().cloned().collect();
    let got = changes(&before, &format!("list:\n{reversed}"));
    assert!(got.len() >= 9_999, "{}", got.len());

    let ids: Vec<String> = (0..10_000)
        .map(|i| format!("  - {{id: s{i}, n: {i}}}\n"))
        .collect();
    let before = format!("steps:\n{}", ids.concat());
    let rev: String = ids.iter().rev().cloned().collect();
    let got = changes(&before, &format!("steps:\n{rev}"));
    assert_eq!(got.len(), 9_999);
    assert!(got.iter().all(|c| c.op == ChangeOp::Move));
}

mod properties {
    use proptest::prelude::*;
    use qa_reload::diagnostic::Pos;
    use qa_reload::diff::semantic::diff;
    use qa_reload::load::node::{Entry, Node, Value};

    fn node(value: Value) -> Node {
        Node::new(value, Pos::START)
    }

    /// Small alphabets, so that ids, names and keys collide often.
    fn tree() -> impl Strategy<Value = Node> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0i64..4).prop_map(Value::Int),
            prop_oneof![Just(1.0f64), Just(-0.0), Just(0.0)].prop_map(Value::Float),
            "[ab]{0,2}".prop_map(Value::Str),
        ]
        .prop_map(node);
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(|v| node(Value::Seq(v))),
                prop::collection::vec(
                    (
                        prop_oneof![Just("id"), Just("name"), Just("x"), Just("token")],
                        inner
                    ),
                    0..4
                )
                .prop_map(|kvs| {
                    let mut entries: Vec<Entry> = Vec::new();
                    for (k, v) in kvs {
                        if !entries.iter().any(|e| e.key.as_str() == Some(k)) {
                            entries.push(Entry {
                                key: node(Value::Str(k.to_string())),
                                value: v,
                            });
                        }
                    }
                    node(Value::Map(entries))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn no_changes_exactly_when_the_values_are_the_same(a in tree(), b in tree()) {
            prop_assert!(diff(Some(&a), Some(&a)).is_empty());
            let same = normalised(&a).same_value(&normalised(&b));
            prop_assert_eq!(diff(Some(&a), Some(&b)).is_empty(), same);
        }
    }

    /// Mapping entries whose value is null or an empty list or mapping
    /// left out (they mean the same as no entry), at every level.
    fn normalised(n: &Node) -> Node {
        let nothing = |v: &Node| match &v.value {
            Value::Null => true,
            Value::Seq(items) => items.is_empty(),
            Value::Map(entries) => entries.is_empty(),
            _ => false,
        };
        let value = match &n.value {
            Value::Map(entries) => Value::Map(
                entries
                    .iter()
                    .filter(|e| !nothing(&e.value))
                    .map(|e| Entry {
                        key: e.key.clone(),
                        value: normalised(&e.value),
                    })
                    .collect(),
            ),
            Value::Seq(items) => Value::Seq(items.iter().map(normalised).collect()),
            other => other.clone(),
        };
        Node::new(value, n.pos)
    }
}
