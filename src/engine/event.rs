//! Stage `publish`: what one revision tells the world: its cause, timings,
//! summary, patches and the diagnostics in force.
//!
//! Domain types only; `api/wire/` turns them into JSON frames. No I/O.

use crate::watch::Trigger;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::diagnostics::Diagnostics;
use crate::diagnostic::EntityKind;
use crate::diff::patch::{Patch, PatchKind};
use crate::git::{CommitInfo, Head, HeadMove};

/// Why a revision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    /// The first load.
    Startup,
    /// Files changed on disk with HEAD where it was.
    Edit,
    BranchSwitch,
    /// A commit in the checkout; in follow mode, the branch moved to a
    /// commit that has the one served in its history (the cause's
    /// `commit` names the new head).
    Commit,
    Reset,
    Rebase,
    Merge,
    /// HEAD moved in a way the reflog does not explain.
    HeadMoved,
    /// `POST .../reload`.
    Manual,
    /// Follow mode: the branch was force-pushed to a commit that does not
    /// have the one served in its history.
    HistoryRewritten,
    /// A full comparison after lost events (overflow, watcher error, a moved
    /// folder) or the periodic reconciliation.
    Rescan,
}

impl CauseKind {
    pub fn of_head_move(m: HeadMove) -> Self {
        match m {
            HeadMove::BranchSwitch => CauseKind::BranchSwitch,
            HeadMove::Commit => CauseKind::Commit,
            HeadMove::Reset => CauseKind::Reset,
            HeadMove::Rebase => CauseKind::Rebase,
            HeadMove::Merge => CauseKind::Merge,
            HeadMove::Other => CauseKind::HeadMoved,
        }
    }
}

crate::named!(CauseKind);

/// The cause with the HEAD it happened at (and, for HEAD moves, the HEAD
/// before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub kind: CauseKind,
    pub head: Option<Head>,
    pub previous_head: Option<Head>,
    /// Follow mode: the commit served from this revision on.
    pub commit: Option<CommitInfo>,
}

/// Where the time of one revision went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timings {
    /// From the first file event of the batch to the batch reaching the
    /// applier (the debounce window).
    pub detect: Duration,
    /// From the batch reaching the applier to the event being published:
    /// reading, parsing, validating, diffing and the swap.
    pub apply: Duration,
    /// The watcher's deadline that let the batch go (`None` for startup
    /// and manual reloads).
    pub trigger: Option<Trigger>,
}

/// An entity (kind and id) to the commit that last changed it.
pub type LastChangeMap = BTreeMap<(EntityKind, String), Arc<CommitInfo>>;

/// One published revision.
#[derive(Debug, Clone)]
pub struct Event {
    pub revision: u64,
    /// The revision this one was built on (always `revision - 1`).
    pub base_revision: u64,
    pub at: SystemTime,
    pub cause: Cause,
    pub timings: Timings,
    /// One line for logs and toasts, e.g. `regression: 2 changes`.
    pub summary: String,
    /// Per-entity patches, in (kind, id) order. Empty at startup: the
    /// snapshot is the baseline there.
    pub patches: Vec<Patch>,
    /// Follow mode: the commit that last changed each entity a patch
    /// brings in force (what the snapshot's versions say); empty in
    /// working-tree mode.
    pub last_changes: LastChangeMap,
    /// Every diagnostic in force after this revision (the lists are shared
    /// with the snapshot and with every revision that did not change them).
    pub errors: Diagnostics,
    /// Files whose content this batch read anew (changed, added or removed),
    /// including broken ones that produced no patch.
    pub files: Vec<String>,
}

impl Event {
    /// What keeping this event costs beside the revision before it, in
    /// bytes, roughly: its patches, summary and file names, and the
    /// diagnostic lists it does not share with `before` (the previous
    /// revision's). The resume history's byte budget counts this.
    pub fn bytes_beyond(&self, before: &Diagnostics) -> usize {
        std::mem::size_of::<Event>()
            + self.summary.len()
            + self.files.iter().map(|f| f.len() + 24).sum::<usize>()
            + self.patches.iter().map(patch_bytes).sum::<usize>()
            + self
                .last_changes
                .keys()
                .map(|(_, id)| id.len() + 64)
                .sum::<usize>()
            + self.errors.bytes_beyond(before)
    }

    /// Whether the batch left any error in a file it touched.
    pub fn failed(&self) -> bool {
        self.files
            .iter()
            .any(|f| self.errors.file(f).is_some_and(|d| d.errors > 0))
    }
}

/// The summary line: what changed, the errors the batch left, and the branch
/// when HEAD moved.
pub fn summarize(cause: &Cause, patches: &[Patch], files: &[String], new_errors: usize) -> String {
    let mut parts = Vec::new();
    match patches {
        [] if cause.kind == CauseKind::Startup => {}
        [] => parts.push("no entity changed".to_string()),
        [p] => parts.push(match p.op {
            PatchKind::Added => format!("{}: added", p.id),
            PatchKind::Removed => format!("{}: removed", p.id),
            PatchKind::Modified => match p.changes.len() {
                1 => format!("{}: 1 change", p.id),
                n => format!("{}: {n} changes", p.id),
            },
        }),
        many => {
            let count = |kind: EntityKind| many.iter().filter(|p| p.kind == kind).count();
            let mut what = Vec::new();
            for (kind, one, more) in [
                (EntityKind::Workflow, "workflow", "workflows"),
                (EntityKind::Integration, "integration", "integrations"),
                (EntityKind::Settings, "settings", "settings"),
            ] {
                match count(kind) {
                    0 => {}
                    1 => what.push(format!("1 {one}")),
                    n => what.push(format!("{n} {more}")),
                }
            }
            parts.push(format!("{} changed", what.join(", ")));
        }
    }
    if new_errors > 0 {
        let files_with = if files.len() == 1 {
            files[0].clone()
        } else {
            format!("{} files", files.len())
        };
        parts.push(match new_errors {
            1 => format!("1 error in {files_with}"),
            n => format!("{n} errors in {files_with}"),
        });
    }
    if let Some(commit) = &cause.commit {
        let subject: String = crate::diagnostic::one_line(&commit.subject)
            .chars()
            .take(72)
            .collect();
        let author: String = crate::diagnostic::one_line(&commit.author)
            .chars()
            .take(40)
            .collect();
        let what = format!("{} {subject} ({author})", short(&commit.id));
        match cause.kind {
            CauseKind::HistoryRewritten => parts.push(format!("history rewritten · {what}")),
            _ => parts.push(what),
        }
    } else if cause.previous_head.is_some()
        && let Some(head) = &cause.head
    {
        match (&head.branch, &head.commit) {
            (Some(branch), _) => parts.push(format!("branch {branch}")),
            (None, Some(commit)) => parts.push(format!("detached at {}", short(commit))),
            (None, None) => {}
        }
    }
    if parts.is_empty() {
        parts.push(cause.kind.as_str().to_string());
    }
    parts.join(" · ")
}

/// The first 7 hex digits of a commit id.
pub fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// What the allocator adds to each block, about: its header and the
/// rounding up to a size class.
const PER_ALLOCATION: usize = 16;

/// The heap block behind a `String` (its capacity, not its length).
fn string_heap(s: &String) -> usize {
    match s.capacity() {
        0 => 0,
        n => n + PER_ALLOCATION,
    }
}

/// The heap block behind a `Vec` (capacity times element size).
fn vec_heap<T>(v: &Vec<T>) -> usize {
    match v.capacity() * std::mem::size_of::<T>() {
        0 => 0,
        n => n + PER_ALLOCATION,
    }
}

/// One patch's heap size: every block it owns, by capacity, with the
/// allocator's overhead per block (heaptrack put the old count, by lengths,
/// at about half of what a burst's patches really held).
fn patch_bytes(p: &Patch) -> usize {
    use crate::diff::json_patch::PatchOp;
    let changes: usize = p
        .changes
        .iter()
        .map(|c| {
            string_heap(&c.path)
                + c.old.as_ref().map_or(0, json_heap)
                + c.new.as_ref().map_or(0, json_heap)
        })
        .sum();
    let ops: usize = p
        .json_patch
        .iter()
        .map(|op| match op {
            PatchOp::Add { path, value } | PatchOp::Replace { path, value } => {
                string_heap(path) + json_heap(value)
            }
            PatchOp::Remove { path } => string_heap(path),
            PatchOp::Move { from, path } => string_heap(from) + string_heap(path),
        })
        .sum();
    let lines: usize = p
        .text
        .hunks
        .iter()
        .map(|h| vec_heap(&h.lines) + h.lines.iter().map(|l| string_heap(&l.text)).sum::<usize>())
        .sum();
    std::mem::size_of::<Patch>()
        + string_heap(&p.id)
        + string_heap(&p.file)
        + vec_heap(&p.changes)
        + changes
        + vec_heap(&p.json_patch)
        + ops
        + string_heap(&p.text.unified)
        + vec_heap(&p.text.hunks)
        + lines
}

/// The heap behind a JSON value (not the value itself, which its owner
/// holds inline); iterative, so any depth is safe. An object is an
/// insertion-ordered map: its entries (hash, key, value) in one block, and
/// a hash index of about one word and one control byte per entry in
/// another.
fn json_heap(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    const ENTRY: usize = 8 + std::mem::size_of::<String>() + std::mem::size_of::<Value>();
    let mut total = 0;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => total += string_heap(s),
            Value::Array(items) => {
                total += vec_heap(items);
                stack.extend(items);
            }
            Value::Object(map) if map.is_empty() => {}
            Value::Object(map) => {
                total += map.len() * (ENTRY + 9) + 16 + 2 * PER_ALLOCATION;
                for (key, item) in map {
                    total += string_heap(key);
                    stack.push(item);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::diagnostic::EntityKind;
    use crate::diff::patch::{Version, entity_patch};
    use crate::load::yaml::{Limits, parse};

    #[test]
    fn a_patch_is_counted_at_no_less_than_what_it_holds() {
        let text = "name: A\nsteps:\n  - id: a\n    name: Do it\n    estimated_minutes: 5\n";
        let (tree, errors) = parse(text.as_bytes(), "workflows/a.yaml", &Limits::default());
        assert!(errors.is_empty());
        let json = serde_json::json!({
            "id": "a", "name": "A", "ticket_types": [],
            "steps": [{"id": "a", "name": "Do it", "estimated_minutes": 5, "checklist": []}],
        });
        let new = Version {
            text,
            tree: tree.as_ref(),
            json: Some(&json),
        };
        let p = entity_patch(
            EntityKind::Workflow,
            "a",
            "workflows/a.yaml",
            None,
            Some(new),
        )
        .unwrap();
        // The `add` op holds the whole document; the text diff holds every
        // line twice (the unified text and each hunk line).
        let lines: usize = p
            .text
            .hunks
            .iter()
            .flat_map(|h| &h.lines)
            .map(|l| l.text.len())
            .sum();
        let changes: usize = p.changes.iter().map(|c| c.path.len()).sum();
        let held =
            serde_json::to_string(&json).unwrap().len() + p.text.unified.len() + lines + changes;
        assert!(
            patch_bytes(&p) >= std::mem::size_of::<Patch>() + held,
            "{} < {}",
            patch_bytes(&p),
            std::mem::size_of::<Patch>() + held
        );
    }
}
