//! Stage `diff`: one entity's two versions to one [`Patch`]: the semantic
//! changes, the JSON Patch between its JSON documents, and the line diff.
//!
//! Secrets are masked here, at the source: the changes mask secret values,
//! the entity JSON is masked by the model, and both texts are masked whole
//! by [`Masker`] before the line diff. Pure: no I/O, never panics.

use std::time::Duration;

use serde::Serialize;

use crate::diagnostic::EntityKind;
use crate::diff::json_patch::{self, PatchOp};
use crate::diff::semantic::{self, Change};
use crate::diff::text::{self, TextDiff};
use crate::load::mask::Masker;
use crate::load::node::Node;

/// How long a text diff may take before it settles for a coarser answer.
pub const TEXT_DIFF_DEADLINE: Duration = Duration::from_millis(50);

/// Whether the entity appeared, changed or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PatchKind {
    Added,
    Modified,
    Removed,
}

crate::named!(PatchKind);

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
/// or `None` when the file text is the same. Masked with the secrets of
/// the two versions.
pub fn entity_patch(
    kind: EntityKind,
    id: &str,
    file: &str,
    old: Option<Version<'_>>,
    new: Option<Version<'_>>,
) -> Option<Patch> {
    let masker = Masker::new([old.and_then(|v| v.tree), new.and_then(|v| v.tree)]);
    entity_patch_masked(kind, id, file, old, new, &masker)
}

/// [`entity_patch`] masked by `masker`, which must know the secrets of
/// both versions (and may know others: those of every file of a tree).
pub fn entity_patch_masked(
    kind: EntityKind,
    id: &str,
    file: &str,
    old: Option<Version<'_>>,
    new: Option<Version<'_>>,
    masker: &Masker,
) -> Option<Patch> {
    let op = match (&old, &new) {
        (None, None) => return None,
        (None, Some(_)) => PatchKind::Added,
        (Some(_), None) => PatchKind::Removed,
        // The same text can still serve another document: a secret of
        // another file, newly known, is masked in it.
        (Some(o), Some(n)) if o.text == n.text && o.json == n.json => return None,
        (Some(_), Some(_)) => PatchKind::Modified,
    };
    let mut changes = match (old.and_then(|v| v.json), new.and_then(|v| v.json)) {
        // The same entity: whatever the text says, nothing changed in it.
        (Some(a), Some(b)) if a == b => Vec::new(),
        _ => semantic::diff(old.and_then(|v| v.tree), new.and_then(|v| v.tree)),
    };
    // The semantic diff masks by key; a secret's value written again under
    // an ordinary key (through an alias, say) is caught by value here.
    for c in &mut changes {
        masker.mask_line_in_place(&mut c.path);
        for value in [&mut c.old, &mut c.new].into_iter().flatten() {
            mask_strings(value, masker);
        }
    }
    let null = serde_json::Value::Null;
    let mut json_patch = match (old.and_then(|v| v.json), new.and_then(|v| v.json)) {
        (Some(a), Some(b)) => json_patch::diff(a, b),
        (None, Some(b)) => json_patch::diff(&null, b),
        (Some(a), None) if op == PatchKind::Removed => json_patch::diff(a, &null),
        // The new version is invalid: the entity keeps its last good JSON.
        _ => Vec::new(),
    };
    // The entity JSON masks its own secret settings; a secret value of
    // some file written in an ordinary field is caught here.
    for op in &mut json_patch {
        if let PatchOp::Add { value, .. } | PatchOp::Replace { value, .. } = op {
            mask_strings(value, masker);
        }
    }
    // Each side is masked whole before the line diff: a secret can span
    // lines, and only the whole text with its tree knows where it ends
    // (the same masker: it knows the secrets of both trees).
    let masked =
        |v: Option<Version<'_>>| v.map_or(String::new(), |v| masker.mask_text(v.text, v.tree));
    let text = text::diff(
        &masked(old),
        &masked(new),
        file,
        file,
        &str::to_string,
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

/// Masks known secret values and URL userinfo in every string of `value`.
fn mask_strings(value: &mut serde_json::Value, masker: &Masker) {
    match value {
        serde_json::Value::String(s) => masker.mask_line_in_place(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| mask_strings(v, masker)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| mask_strings(v, masker)),
        _ => {}
    }
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
