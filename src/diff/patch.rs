//! Stage `diff`: one entity's two versions to one [`Patch`]: the semantic
//! changes, the JSON Patch between its JSON documents, and the line diff.
//!
//! Secrets are masked here, at the source: the changes mask secret values,
//! the entity JSON is masked by the model, and every text-diff line goes
//! through [`LineMasker`]. Pure: no I/O, never panics.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::diagnostic::EntityKind;
use crate::diff::json_patch::{self, PatchOp};
use crate::diff::semantic::{self, Change};
use crate::diff::text::{self, TextDiff};
use crate::load::node::{Node, Value};
use crate::secret;

/// How long a text diff may take before it settles for a coarser answer.
pub const TEXT_DIFF_DEADLINE: Duration = Duration::from_millis(50);

/// Whether the entity appeared, changed or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Added,
    Modified,
    Removed,
}

impl PatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PatchKind::Added => "added",
            PatchKind::Modified => "modified",
            PatchKind::Removed => "removed",
        }
    }
}

/// Everything that changed in one entity between two versions of its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub kind: EntityKind,
    pub id: String,
    pub file: String,
    pub op: PatchKind,
    /// Key-level changes; empty when only comments or formatting changed.
    pub changes: Vec<Change>,
    /// RFC 6902 operations from the previous entity JSON to the new one.
    pub json_patch: Vec<PatchOp>,
    pub text: TextDiff,
    /// Whether the new file differs from HEAD; `None` outside git.
    pub differs_from_head: Option<bool>,
}

/// One version of an entity's file.
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    pub text: &'a str,
    /// The positioned tree, when the file parsed.
    pub tree: Option<&'a Node>,
    /// The entity's JSON document, when the file was valid.
    pub json: Option<&'a serde_json::Value>,
}

/// The patch from `old` to `new` (either may be absent: added or removed),
/// or `None` when the file text is the same.
pub fn entity_patch(
    kind: EntityKind,
    id: &str,
    file: &str,
    old: Option<Version<'_>>,
    new: Option<Version<'_>>,
) -> Option<Patch> {
    let op = match (&old, &new) {
        (None, None) => return None,
        (None, Some(_)) => PatchKind::Added,
        (Some(_), None) => PatchKind::Removed,
        (Some(o), Some(n)) if o.text == n.text => return None,
        (Some(_), Some(_)) => PatchKind::Modified,
    };
    let changes = match (old.and_then(|v| v.json), new.and_then(|v| v.json)) {
        // The same entity: whatever the text says, nothing changed in it.
        (Some(a), Some(b)) if a == b => Vec::new(),
        _ => semantic::diff(old.and_then(|v| v.tree), new.and_then(|v| v.tree)),
    };
    let null = serde_json::Value::Null;
    let json_patch = match (old.and_then(|v| v.json), new.and_then(|v| v.json)) {
        (Some(a), Some(b)) => json_patch::diff(a, b),
        (None, Some(b)) => json_patch::diff(&null, b),
        (Some(a), None) if op == PatchKind::Removed => json_patch::diff(a, &null),
        // The new version is invalid: the entity keeps its last good JSON.
        _ => Vec::new(),
    };
    let masker = LineMasker::new([old.and_then(|v| v.tree), new.and_then(|v| v.tree)]);
    let text = text::diff(
        old.map_or("", |v| v.text),
        new.map_or("", |v| v.text),
        file,
        file,
        &|line| masker.mask(line),
        TEXT_DIFF_DEADLINE,
    );
    Some(Patch {
        kind,
        id: id.to_string(),
        file: file.to_string(),
        op,
        changes,
        json_patch,
        text,
        differs_from_head: None,
    })
}

/// The patch of an entity whose file moved (renamed, or into another
/// folder) with its text unchanged: `modified`, with the new `file` and no
/// changes.
pub fn file_moved(kind: EntityKind, id: &str, file: &str) -> Patch {
    Patch {
        kind,
        id: id.to_string(),
        file: file.to_string(),
        op: PatchKind::Modified,
        changes: Vec::new(),
        json_patch: Vec::new(),
        text: TextDiff {
            unified: String::new(),
            hunks: Vec::new(),
            timed_out: false,
        },
        differs_from_head: None,
    }
}

/// Masks secrets in lines of YAML text: every value known from the parsed
/// trees to be secret, and the value of any `key: value` line whose key is
/// secret (which also covers files that did not parse).
pub struct LineMasker {
    secrets: Vec<String>,
}

impl LineMasker {
    pub fn new<'a>(trees: impl IntoIterator<Item = Option<&'a Node>>) -> Self {
        let mut found = BTreeSet::new();
        for tree in trees.into_iter().flatten() {
            collect_secrets(tree, false, &mut found);
        }
        // Longest first, so a secret that contains another is masked whole.
        let mut secrets: Vec<String> = found.into_iter().collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        LineMasker { secrets }
    }

    pub fn mask(&self, line: &str) -> String {
        let mut out = line.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), &secret::mask(s));
            }
        }
        mask_secret_key_value(&out)
    }
}

fn collect_secrets(node: &Node, under_secret: bool, out: &mut BTreeSet<String>) {
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                let key_secret = e.key.as_str().is_some_and(secret::is_secret_key);
                collect_secrets(&e.value, under_secret || key_secret, out);
            }
        }
        Value::Seq(items) => {
            for item in items {
                collect_secrets(item, under_secret, out);
            }
        }
        _ => {
            // Very short values would mask unrelated text; the key rule below
            // still hides them on their own line.
            if under_secret
                && let Some(text) = node.scalar_text()
                && text.chars().count() >= 4
            {
                out.insert(text);
            }
        }
    }
}

/// `  api_token: value` → `  api_token: ••••••ab12cd` (also in `- key: v`
/// list items and with quoted keys). Lines already masked are left alone.
fn mask_secret_key_value(line: &str) -> String {
    let body = line.trim_start();
    let body = body.strip_prefix("- ").unwrap_or(body).trim_start();
    let Some(colon) = body.find(':') else {
        return line.to_string();
    };
    let key = body[..colon].trim().trim_matches(['"', '\'']);
    let value = body[colon + 1..].trim();
    let value = match value.find(" #") {
        Some(i) => value[..i].trim_end(),
        None => value,
    };
    if !secret::is_secret_key(key)
        || value.is_empty()
        || value.starts_with(secret::MASK)
        || value.contains(secret::MASK)
    {
        return line.to_string();
    }
    let start = line.len() - body.len() + colon + 1;
    let rest = &line[start..];
    let offset = rest.find(value).unwrap_or(0);
    let value_start = start + offset;
    let value_end = value_start + value.len();
    format!(
        "{}{}{}",
        &line[..value_start],
        secret::mask(value.trim_matches(['"', '\''])),
        &line[value_end..]
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::load::yaml::{Limits, parse};

    #[test]
    fn key_value_lines_are_masked() {
        for line in [
            "api_token: abc",
            "  api_key: \"abc\"  # comment",
            "- password: abc",
            "'client_secret': abc",
        ] {
            let masked = mask_secret_key_value(line);
            assert!(!masked.contains("abc"), "{line} -> {masked}");
            assert!(masked.contains(secret::MASK));
        }
        assert_eq!(mask_secret_key_value("name: abc"), "name: abc");
        assert_eq!(mask_secret_key_value("api_token:"), "api_token:");
    }

    #[test]
    fn secret_values_are_masked_wherever_they_appear() {
        let (tree, _) = parse(
            b"auth: {api_token: swordfish-99}\nnote: uses swordfish-99\n",
            "t",
            &Limits::default(),
        );
        let masker = LineMasker::new([tree.as_ref()]);
        let line = masker.mask("auth: {api_token: swordfish-99}");
        assert!(!line.contains("swordfish"), "{line}");
        assert!(!masker.mask("note: uses swordfish-99").contains("swordfish"));
    }
}
