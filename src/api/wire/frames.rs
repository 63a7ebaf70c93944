//! Stage `api`: the frames of the WebSocket stream and the `/events` list
//! (`hello`, `snapshot`, `reload` with its patches, causes and timings).
//!
//! May not: do I/O or hold state (conversions only; see `wire`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::diagnostic::EntityKind;
use crate::diff::json_patch::PatchOp;
use crate::diff::patch::{Patch, PatchKind};
use crate::diff::semantic::{Change, ChangeOp};
use crate::diff::text::{Hunk, Line, LineTag, TextDiff};
use crate::engine::{Cause, CauseKind, Event, Served, Snapshot, Timings};
use crate::git::{CommitInfo, Head};
use crate::integrations::IntegrationStatus;
use crate::model::Workflow;
use crate::units::ms;

use super::*;

/// The `since` of a resume: a revision of this server run, or (`serve
/// --follow`) a full commit id, 40 or 64 hex digits (lower case here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    Revision(u64),
    Commit(String),
}

impl<'de> Deserialize<'de> for Since {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        // A commit id first: 40 zeros are a commit, not revision 0.
        if let Some(commit) = crate::follow::resume::commit_id(&text) {
            return Ok(Since::Commit(commit));
        }
        text.parse::<u64>().map(Since::Revision).map_err(|_| {
            serde::de::Error::custom(
                "`since` is neither a revision number nor a full commit id (40 or 64 hex \
                     digits; a server following a branch resumes from the commit of any frame)",
            )
        })
    }
}

/// One entity's change: semantic changes, RFC 6902 JSON Patch and line diff.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PatchWire {
    pub kind: EntityKind,
    pub id: String,
    pub file: String,
    pub op: PatchKind,
    pub changes: Vec<ChangeWire>,
    /// RFC 6902 operations that turn the previous entity document into the
    /// new one.
    pub json_patch: Vec<PatchOp>,
    pub diff: TextDiffWire,
    /// `None` outside git.
    pub git: Option<GitWire>,
    /// `serve --follow`: the commit that made this change (the entity's
    /// new `last_change`); absent for a removal and in working-tree mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<CommitWire>,
}

/// `{"path","op","old","new","line"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeWire {
    /// e.g. `steps[id=reproduce].estimated_minutes`.
    pub path: String,
    pub op: ChangeOp,
    pub old: Option<Value>,
    pub new: Option<Value>,
    /// Line of the new value (of the old one for a removal).
    pub line: Option<u32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GitWire {
    pub differs_from_head: bool,
}

/// The line diff of one file, secrets masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TextDiffWire {
    pub unified: String,
    pub hunks: Vec<HunkWire>,
    /// The diff gave up on its deadline and shows the file as replaced.
    pub timed_out: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HunkWire {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
    pub lines: Vec<LineWire>,
}

/// One line of a hunk, with its numbers in the old and the new file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineWire {
    pub tag: LineTag,
    pub old_line: Option<u32>,
    pub new_line: Option<u32>,
    pub text: String,
}

/// Where HEAD pointed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeadWire {
    /// `None` when detached.
    pub branch: Option<String>,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CauseWire {
    pub kind: CauseKind,
    pub head: Option<HeadWire>,
    pub previous_head: Option<HeadWire>,
    /// `serve --follow`: the commit served from this revision on (with
    /// `kind` `commit`, `history_rewritten` or `startup`); `null` otherwise.
    pub commit: Option<CommitWire>,
}

/// A commit of the followed branch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommitWire {
    /// Full hex id.
    pub id: String,
    pub author: String,
    pub email: String,
    /// RFC 3339, UTC: the author's time.
    pub time: String,
    /// The first line of the message.
    pub subject: String,
}

impl From<&CommitInfo> for CommitWire {
    fn from(c: &CommitInfo) -> Self {
        CommitWire {
            id: c.id.clone(),
            author: c.author.clone(),
            email: c.email.clone(),
            time: rfc3339(c.time),
            subject: c.subject.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimingsWire {
    /// First file event to the batch reaching the applier.
    pub detect_ms: f64,
    /// Batch to broadcast: read, parse, validate, diff, swap.
    pub apply_ms: f64,
}

/// One revision: the body of a `reload` frame and of each item of
/// `GET .../events`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventWire {
    pub revision: u64,
    pub base_revision: u64,
    /// RFC 3339, UTC.
    pub at: String,
    pub cause: CauseWire,
    pub timings: TimingsWire,
    pub summary: String,
    #[schema(value_type = Vec<PatchWire>)]
    pub patches: PatchesWire,
    /// The diagnostics in force after this revision: the first 100 of each
    /// file (see `errors_truncated`).
    pub errors: Vec<ConfigErrorWire>,
    /// How many diagnostics are in force, shown in `errors` or not.
    pub errors_total: usize,
    /// Whether `errors` leaves some out; the full list is on
    /// `GET /api/v1/dev/hot-reload/status?errors=all`.
    pub errors_truncated: bool,
    /// Files this revision read anew.
    pub files: Vec<String>,
    /// `serve --follow`: the commit served after this revision; absent
    /// when a working tree is served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// A resume from a commit (`since=<commit>`): the patches turn that
    /// commit's state into the one served, not revision `base_revision`
    /// (which is then 0); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_commit: Option<String>,
}

/// The patches of an event, written from the event itself as the body is
/// serialised: one patch's wire copy at a time, never the whole list's (a
/// burst's revision holds thousands, and a copy of them all doubled what
/// the revision held while its frame was written).
#[derive(Debug, Clone)]
pub struct PatchesWire(Arc<Event>);

impl Serialize for PatchesWire {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let changes = &self.0.last_changes;
        serializer.collect_seq(self.0.patches.iter().map(|p| {
            let mut wire = PatchWire::from(p);
            if !changes.is_empty() {
                wire.last_change = changes
                    .get(&(p.kind, p.id.clone()))
                    .map(|c| CommitWire::from(&**c));
            }
            wire
        }))
    }
}

/// A snapshot's workflows, each written as a [`WorkflowWire`] as the body
/// is serialised: one workflow's document at a time, never all of them
/// (the list of 50,000 workflows built every document before it was
/// written, some hundreds of MB for a 20 MB body).
#[derive(Debug, Clone)]
pub struct WorkflowsWire {
    workflows: imbl::OrdMap<Arc<str>, Arc<Served<Workflow>>>,
    statuses: Vec<IntegrationStatus>,
}

impl WorkflowsWire {
    pub(super) fn new(s: &Snapshot, statuses: Statuses<'_>) -> Self {
        WorkflowsWire {
            workflows: s.workflows.clone(),
            statuses: statuses.0.to_vec(),
        }
    }
}

impl Serialize for WorkflowsWire {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let statuses = Statuses(&self.statuses);
        serializer.collect_seq(
            self.workflows
                .values()
                .map(|w| WorkflowWire::new(w, statuses)),
        )
    }
}

/// `hello`: the first frame of every connection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HelloWire {
    pub revision: u64,
    pub protocol: u32,
    /// This server run's id: pass it back as `instance` with `since` when
    /// resuming, so revisions of an earlier run are never mistaken for
    /// this one's.
    pub instance: String,
    /// `serve --follow`: the commit served (full hex id), which a client
    /// passes back as `since` to resume on any server following the same
    /// branch; absent when a working tree is served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// Everything in force at one revision: the body of a `snapshot` frame.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SnapshotWire {
    pub revision: u64,
    /// RFC 3339, UTC: when this revision was made.
    pub at: String,
    pub head: Option<HeadWire>,
    #[schema(value_type = Vec<WorkflowWire>)]
    pub workflows: WorkflowsWire,
    pub integrations: Vec<IntegrationWire>,
    /// The diagnostics in force, capped as in a reload frame.
    pub errors: Vec<ConfigErrorWire>,
    pub errors_total: usize,
    pub errors_truncated: bool,
    /// `serve --follow`: the commit served (full hex id), which a client
    /// passes back as `since` to resume on any server following the same
    /// branch; absent when a working tree is served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// A WebSocket frame, tagged by `type`.
// A frame is built to be serialised once and dropped, never kept in
// numbers, so its size is no cost worth a box per frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    Hello(HelloWire),
    Snapshot(SnapshotWire),
    Reload(EventWire),
    IntegrationStatus(IntegrationStatusWire),
}

/// `GET /api/v1/dev/hot-reload/events?since=N&instance=I`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventList {
    /// The revision in force.
    pub revision: u64,
    /// The revision asked for; 0 for a resume from a commit.
    pub since: u64,
    /// The server run these revisions belong to.
    pub instance: String,
    /// `serve --follow`: the commit served; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The commit asked for (`since=<commit>`): `events` is then one
    /// `reload` frame from that commit to the one served (`base_commit`),
    /// or none when it is the one served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_commit: Option<String>,
    /// Every event after `since`, oldest first: each the revision's
    /// `reload` frame as the WebSocket sends it (so it also has
    /// `"type": "reload"`).
    pub events: Vec<EventWire>,
}

/// An [`EventList`] but its `events`, which the route appends as the
/// shared `reload` frames they are.
#[derive(Debug, Clone, Serialize)]
pub struct EventListHead<'a> {
    pub revision: u64,
    pub since: u64,
    pub instance: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_commit: Option<&'a str>,
}

/// A patch as its wire value (used by the `diff` command).
pub fn patch(p: &Patch) -> Value {
    to_value(&PatchWire::from(p))
}

impl From<&Patch> for PatchWire {
    fn from(p: &Patch) -> Self {
        PatchWire {
            kind: p.kind,
            id: p.id.clone(),
            file: p.file.clone(),
            op: p.op,
            changes: p.changes.iter().map(ChangeWire::from).collect(),
            json_patch: p.json_patch.clone(),
            diff: TextDiffWire::from(&p.text),
            git: p
                .differs_from_head
                .map(|differs_from_head| GitWire { differs_from_head }),
            last_change: None,
        }
    }
}

impl From<&Change> for ChangeWire {
    fn from(c: &Change) -> Self {
        ChangeWire {
            path: c.path.clone(),
            op: c.op,
            old: c.old.clone(),
            new: c.new.clone(),
            line: c.line,
        }
    }
}

impl From<&TextDiff> for TextDiffWire {
    fn from(d: &TextDiff) -> Self {
        TextDiffWire {
            unified: d.unified.clone(),
            hunks: d.hunks.iter().map(HunkWire::from).collect(),
            timed_out: d.timed_out,
        }
    }
}

impl From<&Hunk> for HunkWire {
    fn from(h: &Hunk) -> Self {
        HunkWire {
            old_start: h.old_start,
            old_lines: h.old_lines,
            new_start: h.new_start,
            new_lines: h.new_lines,
            lines: h.lines.iter().map(LineWire::from).collect(),
        }
    }
}

impl From<&Line> for LineWire {
    fn from(l: &Line) -> Self {
        LineWire {
            tag: l.tag,
            old_line: l.old_line,
            new_line: l.new_line,
            text: l.text.clone(),
        }
    }
}

impl From<&Head> for HeadWire {
    fn from(h: &Head) -> Self {
        HeadWire {
            branch: h.branch.clone(),
            commit: h.commit.clone(),
        }
    }
}

impl From<&Cause> for CauseWire {
    fn from(c: &Cause) -> Self {
        CauseWire {
            kind: c.kind,
            head: c.head.as_ref().map(HeadWire::from),
            previous_head: c.previous_head.as_ref().map(HeadWire::from),
            commit: c.commit.as_ref().map(CommitWire::from),
        }
    }
}

impl From<Timings> for TimingsWire {
    fn from(t: Timings) -> Self {
        TimingsWire {
            detect_ms: ms(t.detect),
            apply_ms: ms(t.apply),
        }
    }
}

impl From<&Arc<Event>> for EventWire {
    fn from(e: &Arc<Event>) -> Self {
        let (errors, errors_total, errors_truncated) = errors(&e.errors, ErrorsShown::Capped);
        EventWire {
            revision: e.revision,
            base_revision: e.base_revision,
            at: rfc3339(e.at),
            cause: CauseWire::from(&e.cause),
            timings: TimingsWire::from(e.timings),
            summary: e.summary.clone(),
            patches: PatchesWire(Arc::clone(e)),
            errors,
            errors_total,
            errors_truncated,
            files: e.files.clone(),
            commit: None,
            base_commit: None,
        }
    }
}

impl SnapshotWire {
    pub fn new(s: &Snapshot, statuses: Statuses<'_>) -> Self {
        let (errors, errors_total, errors_truncated) = errors(&s.errors, ErrorsShown::Capped);
        SnapshotWire {
            revision: s.revision,
            at: rfc3339(s.at),
            head: s.head.as_ref().map(HeadWire::from),
            workflows: WorkflowsWire::new(s, statuses),
            integrations: IntegrationList::new(s, statuses).integrations,
            errors,
            errors_total,
            errors_truncated,
            commit: None,
        }
    }
}

/// The commit a snapshot serves, for the `commit` fields of follow mode.
pub fn commit_of(head: Option<&Head>) -> Option<String> {
    head.and_then(|h| h.commit.clone())
}
