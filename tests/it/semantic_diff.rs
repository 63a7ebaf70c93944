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
