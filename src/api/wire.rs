//! JSON shapes of docs/protocol.md: every frame, response body and error object the
//! API writes, as typed structs that serialise to the contract's field names
//! and describe themselves to the OpenAPI document (`ToSchema`).
//!
//! Domain values convert into these here, in one place; no other module
//! names a wire field. No I/O, no state: conversions only. Secrets are
//! already masked in the domain values (`Setting` serialises masked, patches
//! are masked at the source), and nothing here unmasks them.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::conn::HttpStats;
use crate::diagnostic::{ConfigError, EntityKind, EntityRef, ErrorKind, Severity};
use crate::diff::json_patch::PatchOp;
use crate::diff::patch::{Patch, PatchKind};
use crate::diff::semantic::{Change, ChangeOp};
use crate::diff::text::{Hunk, Line, LineTag, TextDiff};
use crate::engine::diagnostics::PER_FILE_IN_EVENTS;
use crate::engine::{
    Cause, CauseKind, Counts, Diagnostics, Event, LastReload, Served, Snapshot, Status, Timings,
};
use crate::follow::{FollowStatus, Reach};
use crate::git::{CommitInfo, Head};
use crate::integrations::{FailureKind, IntegrationStatus, State, TestStep};
use crate::model::{Integration, IntegrationKind, Workflow};
use crate::store::replica::{Replica, Role};
use crate::store::{
    CompletedStep, Definition, DefinitionRef, DefinitionStatus, Page, Run, Runs, StoreInfo,
};
use crate::units::{ms, whole_ms};
use crate::watch::{Trigger, WatchStatus};

/// The WebSocket protocol version announced in `hello`.
pub const PROTOCOL: u32 = 1;

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

/// A diagnostic: `{"file","line","column","kind","severity","message","entity"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConfigErrorWire {
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    pub kind: ErrorKind,
    pub severity: Severity,
    pub message: String,
    pub entity: Option<EntityRefWire>,
    /// The source line at `line`, secrets masked; `None` when the error is
    /// not about one file's text (e.g. a cross-file reference).
    pub excerpt: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntityRefWire {
    pub kind: EntityKind,
    pub id: String,
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

/// `serve --follow`: the remote followed and whether it answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowWire {
    /// The remote, credentials masked.
    pub remote: String,
    pub branch: String,
    pub poll_interval_s: u64,
    /// `unknown` before the first fetch ends, then `reachable` or
    /// `unreachable`.
    pub remote_state: Reach,
    /// RFC 3339: since when fetches fail (while `unreachable`).
    pub unreachable_since: Option<String>,
    /// The last fetch error, credentials masked.
    pub last_error: Option<String>,
    /// RFC 3339: the last fetch that reached the remote.
    pub last_fetch: Option<String>,
    pub fetches: u64,
    /// Failed fetches in a row (the retry waits 1 s, 2 s, 4 s… up to the
    /// poll interval).
    pub failures: u32,
    /// The commit served; `null` before the first one.
    pub commit: Option<CommitWire>,
    /// Whether `POST /api/v1/hooks/git` accepts signed webhooks (a secret
    /// is configured).
    pub webhooks: bool,
}

impl FollowWire {
    pub fn new(f: &FollowStatus, webhooks: bool) -> Self {
        FollowWire {
            remote: f.remote.clone(),
            branch: f.branch.clone(),
            poll_interval_s: f.poll.as_secs(),
            remote_state: f.reach,
            unreachable_since: f.unreachable_since.map(rfc3339),
            last_error: f.last_error.clone(),
            last_fetch: f.last_fetch.map(rfc3339),
            fetches: f.fetches,
            failures: f.failures,
            commit: f.commit.as_ref().map(CommitWire::from),
            webhooks,
        }
    }
}

/// The git host a webhook came from, told by its signature header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookProvider {
    Github,
    Gitea,
    Forgejo,
    Bitbucket,
    Gitlab,
}

crate::named!(HookProvider);

/// What a verified webhook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookResult {
    /// A fetch is queued (202).
    Queued,
    /// This delivery id was seen before: nothing fetched (200).
    Duplicate,
    /// A ping: nothing fetched (200).
    Pong,
}

/// `POST /api/v1/hooks/git`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HookWire {
    pub provider: HookProvider,
    pub result: HookResult,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthWire {
    /// `ok`, or for `/readyz` `not_ready`.
    pub status: String,
    /// What is not ready yet (empty when ready).
    pub waiting_for: Vec<String>,
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
    fn new(s: &Snapshot, statuses: Statuses<'_>) -> Self {
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

/// An integration's connection status: the body of an `integration_status`
/// frame, the `status` of each integration, and the answer of
/// `POST /api/v1/integrations/{id}/test`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationStatusWire {
    /// The revision that applied the configuration tested (for `removed`,
    /// the revision that removed it).
    pub revision: u64,
    pub id: IntegrationKind,
    pub status: State,
    /// The step that failed or was rate limited (`authenticate`, then
    /// `project` or `workspace`); `null` when every step passed.
    pub step: Option<TestStep>,
    /// Time to the last answer (ok) or to the failure (failed).
    pub latency_ms: Option<u64>,
    /// Why it failed, with the service's own message; secrets masked.
    pub detail: Option<String>,
    /// The HTTP status the service answered with, when it answered.
    pub http_status: Option<u16>,
    pub failure: Option<FailureKind>,
    /// RFC 3339, UTC: while `rate_limited`, the time before which no
    /// request is sent (the test then runs by itself).
    pub retry_at: Option<String>,
    /// RFC 3339, UTC: when the last test that reached the service ended.
    pub tested_at: Option<String>,
    /// RFC 3339, UTC: when this status was reached.
    pub at: String,
    /// `serve --follow`, in an `integration_status` frame: the commit
    /// served when the frame was sent; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// A workflow step that names an integration, with that integration's
/// connection status now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepIntegrationWire {
    pub step: String,
    pub integration: String,
    /// The integration's status; `None` when it has none (not configured,
    /// or no test result yet).
    pub status: Option<State>,
    pub detail: Option<String>,
}

/// A workflow as served: its id, source file, the revision that applied
/// this version, and its definition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkflowWire {
    pub id: String,
    pub file: String,
    /// The revision that applied this version.
    pub revision: u64,
    /// The entity document (the one JSON Patches apply to).
    #[schema(value_type = Workflow)]
    pub definition: Value,
    /// The steps that use an integration, with its connection status.
    pub step_integrations: Vec<StepIntegrationWire>,
    /// `serve --follow`: the commit that last changed this version (its
    /// id, author and time); absent in working-tree mode, and for a file
    /// unchanged in the commits walked at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<CommitWire>,
}

/// An integration as served, secrets masked, with its connection status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationWire {
    pub id: IntegrationKind,
    pub file: String,
    pub revision: u64,
    pub enabled: bool,
    /// The entity document, every secret masked (`••••••` and a fingerprint).
    #[schema(value_type = Object)]
    pub config: Value,
    /// The last connection test's result; `None` before the first.
    pub status: Option<IntegrationStatusWire>,
    /// `serve --follow`: the commit that last changed this version (its
    /// id, author and time); absent in working-tree mode, and for a file
    /// unchanged in the commits walked at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<CommitWire>,
}

/// `GET /api/v1/workflows`: one revision's workflows, never a mix.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkflowList {
    pub revision: u64,
    /// The server run `revision` belongs to: pass it as `instance` with
    /// `since` to `GET .../events` to follow on from this list.
    pub instance: String,
    #[schema(value_type = Vec<WorkflowWire>)]
    pub workflows: WorkflowsWire,
    /// `serve --follow`: the commit served (full hex id), which a client
    /// passes back as `since` to resume on any server following the same
    /// branch; absent when a working tree is served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// `GET /api/v1/integrations`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationList {
    pub revision: u64,
    pub integrations: Vec<IntegrationWire>,
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

/// `POST /api/v1/dev/hot-reload/reload`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadResult {
    /// Whether the rescan made a revision.
    pub changed: bool,
    /// The revision in force after the rescan.
    pub revision: u64,
    /// The event of the new revision; `None` when nothing changed.
    pub event: Option<EventWire>,
}

/// A run with the definition it is pinned to (`GET /api/v1/runs/{id}`,
/// the answer to a start).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunWire {
    /// UUIDv7: ordered by start, never reused.
    pub id: String,
    pub workflow_id: String,
    /// The revision whose definition the run uses (numbered within the
    /// server instance `definition_ref.instance`).
    pub revision: u64,
    pub file: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub definition_ref: DefinitionRefWire,
    /// The workflow's entity document the run started with.
    #[schema(value_type = Workflow)]
    pub definition: Box<RawValue>,
    /// Completed steps in completion order.
    pub completed: Vec<CompletedStepWire>,
    pub finished: bool,
    pub definition_status: DefinitionStatusWire,
}

/// A run whose definition is given by reference (`definition_ref.hash`):
/// a list entry, and the answer to a step completion.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunSummaryWire {
    pub id: String,
    pub workflow_id: String,
    pub revision: u64,
    pub file: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub definition_ref: DefinitionRefWire,
    pub completed: Vec<CompletedStepWire>,
    pub finished: bool,
    pub definition_status: DefinitionStatusWire,
}

/// Where a run's definition came from: its content address.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DefinitionRefWire {
    /// SHA-256 (hex) of the definition's entity document; the key of
    /// `definitions` in a run list.
    pub hash: String,
    /// The file it was read from and the SHA-256 (hex) of that file's text.
    pub file: String,
    pub file_hash: String,
    /// The HEAD commit, when the file did not differ from it.
    pub commit: Option<String>,
    /// The server instance and revision that served it.
    pub instance: String,
    pub revision: u64,
}

/// `GET /api/v1/runs/{id}/compare`: the run's own definition against the
/// workflow's definition in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunComparisonWire {
    /// The run's id.
    pub run: String,
    pub workflow_id: String,
    /// The revision the run's definition came from.
    pub revision: u64,
    pub definition_status: DefinitionStatusWire,
    /// From the run's definition to the one in force (`op` `removed` when
    /// the workflow is gone), both written out as YAML the same way (line
    /// numbers are those of the written-out documents, not of the file);
    /// `null` when they are the same.
    pub patch: Option<PatchWire>,
}

/// One definition of a run list, written once however many runs use it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunDefinitionWire {
    pub hash: String,
    #[schema(value_type = Workflow)]
    pub definition: Box<RawValue>,
}

/// `GET /api/v1/runs`: one page of runs, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunList {
    /// The revision the definition statuses were compared with.
    pub revision: u64,
    pub runs: Vec<RunSummaryWire>,
    /// Each distinct definition the page's runs use, once.
    pub definitions: Vec<RunDefinitionWire>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompletedStepWire {
    pub step: String,
    pub at: String,
}

/// How the run's definition compares with the one in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DefinitionStatusWire {
    pub state: DefinitionState,
    /// The revision of the newer definition, for `newer`.
    pub revision: Option<u64>,
}

/// Whether a run's definition is the one in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefinitionState {
    Current,
    /// A newer definition of the workflow is in force.
    Newer,
    /// The workflow is no longer in force.
    Removed,
}

/// `GET /api/v1/dev/hot-reload/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusWire {
    pub revision: u64,
    /// This server run's id (also in every `hello`): revisions restart at
    /// 1 in every run, so a resume names the run its `since` came from.
    pub instance: String,
    /// RFC 3339, UTC: when the revision in force was made.
    pub at: String,
    pub root: String,
    /// Whether the folder is served as a git repository.
    pub git: bool,
    pub head: Option<HeadWire>,
    pub last_reload: Option<LastReloadWire>,
    pub watcher: Option<WatcherWire>,
    pub counts: CountsWire,
    /// The diagnostics in force: capped as in a reload frame, or every one
    /// with `?errors=all`.
    #[serde(skip_serializing_if = "ErrorsField::is_appended")]
    #[schema(value_type = Vec<ConfigErrorWire>, required = true)]
    pub errors: ErrorsField,
    pub errors_total: usize,
    pub errors_truncated: bool,
    /// `config/hot_reload.yaml` in force (or the defaults).
    #[schema(value_type = Object)]
    pub settings: Value,
    pub websocket_clients: u64,
    /// HTTP connections: open now, the limits, and how many the limits closed.
    pub http: HttpWire,
    /// Where runs are stored; `null` when this server keeps none.
    pub store: Option<StoreWire>,
    /// The resume history: what it holds and its bounds.
    pub history: HistoryWire,
    /// `serve --follow`: the remote, its state and the commit served;
    /// `null` when a working tree is served.
    pub follow: Option<FollowWire>,
    /// `serve --follow` with a PostgreSQL `--database`: this server as one
    /// of the replicas sharing it, and whether it is the one that runs
    /// connection tests; `null` otherwise (every server tests its own).
    pub replica: Option<ReplicaWire>,
    /// `serve --follow`: the commit of the revision in force (full hex
    /// id); absent when a working tree is served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// One replica of several `serve --follow` servers on one PostgreSQL
/// database (same remote and branch).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplicaWire {
    /// `leader`: this replica runs the connection tests and records their
    /// results; `follower`: it shows the results the leader records, and
    /// takes over if the leader stops.
    pub role: ReplicaRole,
    /// This server run (its `instance`), as the other replicas name it.
    pub id: String,
}

/// Whether a replica runs connection tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaRole {
    Leader,
    Follower,
}

impl From<&Replica> for ReplicaWire {
    fn from(r: &Replica) -> Self {
        ReplicaWire {
            role: match r.role() {
                Role::Leader => ReplicaRole::Leader,
                Role::Follower => ReplicaRole::Follower,
            },
            id: r.id().to_string(),
        }
    }
}

/// The resume history's use and bounds (`history`, `history_bytes`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryWire {
    pub events: usize,
    /// Roughly: patches, summaries and the diagnostics not shared.
    pub bytes: usize,
    pub max_events: usize,
    pub max_bytes: usize,
}

/// The connection layer's limits and counters.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HttpWire {
    /// Connections open now, WebSockets included.
    pub open_connections: u64,
    /// The cap (`--max-connections`); one more is answered 503.
    pub max_connections: u64,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Connections answered 503 because the cap was met.
    pub refused_over_cap: u64,
    /// Connections closed for not sending a request head in time.
    pub header_timeouts: u64,
    /// Keep-alive connections closed after being idle too long.
    pub idle_timeouts: u64,
    pub header_read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
}

impl From<&HttpStats> for HttpWire {
    fn from(h: &HttpStats) -> Self {
        HttpWire {
            open_connections: h.open,
            max_connections: h.max_connections,
            accepted: h.accepted,
            refused_over_cap: h.refused,
            header_timeouts: h.header_timeouts,
            idle_timeouts: h.idle_timeouts,
            header_read_timeout_ms: whole_ms(h.header_read_timeout),
            idle_timeout_ms: whole_ms(h.idle_timeout),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LastReloadWire {
    pub revision: u64,
    pub at: String,
    pub ok: bool,
    pub cause: CauseKind,
    pub summary: String,
    pub timings: TimingsWire,
    /// Which of the watcher's deadlines applied it: `complete_write` (a
    /// save, after `complete_write_ms`), `quiet_period` (`debounce_ms` after
    /// the last event), `max_wait` (events kept coming), `hold_cap` (a git
    /// lock held it to its cap); `null` for startup and manual reloads.
    pub trigger: Option<Trigger>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WatcherWire {
    /// `inotify`, `fsevents`, `poll`, ….
    pub backend: String,
    pub healthy: bool,
    /// Why the watcher fell back to polling, if it did.
    pub fallback: Option<String>,
    pub events: u64,
    pub batches: u64,
    pub rescans: u64,
    pub last_error: Option<String>,
    /// While a batch has been held for git more than 2 s: ``waiting for git
    /// (`.git/index.lock`, 3 s)``.
    pub waiting_for_git: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CountsWire {
    pub reloads: u64,
    pub failures: u64,
    pub noops: u64,
    pub rescans: u64,
}

// ---- conversions -------------------------------------------------------

/// A diagnostic as its wire value (used by the `check` and `diff` commands).
pub fn config_error(e: &ConfigError) -> Value {
    to_value(&ConfigErrorWire::from(e))
}

/// A patch as its wire value (used by the `diff` command).
pub fn patch(p: &Patch) -> Value {
    to_value(&PatchWire::from(p))
}

/// A serialisable value as JSON. The wire types hold only strings, numbers
/// and JSON values, for which serialisation cannot fail.
pub fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl From<&ConfigError> for ConfigErrorWire {
    fn from(e: &ConfigError) -> Self {
        ConfigErrorWire {
            file: e.file.clone(),
            line: e.line,
            column: e.column,
            kind: e.kind,
            severity: e.severity,
            message: e.message.clone(),
            entity: e.entity.as_ref().map(EntityRefWire::from),
            excerpt: e.excerpt.clone(),
        }
    }
}

impl From<&EntityRef> for EntityRefWire {
    fn from(r: &EntityRef) -> Self {
        EntityRefWire {
            kind: r.kind,
            id: r.id.clone(),
        }
    }
}

/// Which diagnostics a body carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorsShown {
    /// The first [`PER_FILE_IN_EVENTS`] of each file: a file with thousands
    /// of errors must not make every frame megabytes (the first ones say
    /// what is wrong; the full list is on `GET .../status?errors=all`).
    /// Every file with diagnostics still appears, so a client can tell
    /// which files are broken.
    Capped,
    All,
}

/// The `errors` of a status: the list, or left out of the serialised
/// object for the route to append (`?errors=all` appends the one shared
/// serialisation of every diagnostic, see `cache::SerialCache::all_errors`).
#[derive(Debug, Clone)]
pub enum ErrorsField {
    List(Vec<ConfigErrorWire>),
    Appended,
}

impl ErrorsField {
    fn is_appended(&self) -> bool {
        matches!(self, ErrorsField::Appended)
    }
}

impl Serialize for ErrorsField {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ErrorsField::List(list) => list.serialize(serializer),
            ErrorsField::Appended => serializer.collect_seq(std::iter::empty::<()>()),
        }
    }
}

/// Every diagnostic in force, written one at a time as the body is
/// serialised (30,000 diagnostics' wire copies were built whole before).
pub struct AllErrors<'a>(pub &'a Diagnostics);

impl Serialize for AllErrors<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.0
                .files()
                .flat_map(|(_, file)| file.list.iter())
                .map(ConfigErrorWire::from),
        )
    }
}

/// The diagnostics shown, how many there are, and whether some were left out.
fn errors(d: &Diagnostics, shown: ErrorsShown) -> (Vec<ConfigErrorWire>, usize, bool) {
    let per_file = match shown {
        ErrorsShown::Capped => PER_FILE_IN_EVENTS,
        ErrorsShown::All => usize::MAX,
    };
    let list: Vec<ConfigErrorWire> = d
        .files()
        .flat_map(|(_, file)| file.list.iter().take(per_file))
        .map(ConfigErrorWire::from)
        .collect();
    let truncated = list.len() < d.len();
    (list, d.len(), truncated)
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

/// The connection statuses to join into workflows and integrations.
#[derive(Debug, Clone, Copy)]
pub struct Statuses<'a>(pub &'a [IntegrationStatus]);

impl Statuses<'_> {
    fn get(&self, kind: IntegrationKind) -> Option<&IntegrationStatus> {
        self.0.iter().find(|s| s.id == kind)
    }

    fn named(&self, name: &str) -> Option<&IntegrationStatus> {
        name.parse().ok().and_then(|kind| self.get(kind))
    }
}

impl From<&IntegrationStatus> for IntegrationStatusWire {
    fn from(s: &IntegrationStatus) -> Self {
        IntegrationStatusWire {
            revision: s.revision,
            id: s.id,
            status: s.status,
            step: s.step,
            latency_ms: s.latency_ms,
            detail: s.detail.clone(),
            http_status: s.http_status,
            failure: s.failure,
            retry_at: s.retry_at.map(rfc3339),
            tested_at: s.tested_at.map(rfc3339),
            at: rfc3339(s.at),
            commit: None,
        }
    }
}

impl WorkflowWire {
    pub fn new(s: &Served<Workflow>, statuses: Statuses<'_>) -> Self {
        let step_integrations = s
            .value
            .steps
            .iter()
            .filter_map(|step| {
                let name = step.integration.as_ref()?;
                let status = statuses.named(name);
                Some(StepIntegrationWire {
                    step: step.id.clone(),
                    integration: name.clone(),
                    status: status.map(|st| st.status),
                    detail: status.and_then(|st| st.detail.clone()),
                })
            })
            .collect();
        WorkflowWire {
            id: s.value.id.clone(),
            file: s.file.to_string(),
            revision: s.revision,
            definition: to_value(&*s.value),
            step_integrations,
            last_change: s.last_change.as_deref().map(CommitWire::from),
        }
    }
}

impl IntegrationWire {
    pub fn new(s: &Served<Integration>, statuses: Statuses<'_>) -> Self {
        IntegrationWire {
            id: s.value.id,
            file: s.file.to_string(),
            revision: s.revision,
            enabled: s.value.enabled,
            config: to_value(&*s.value),
            status: statuses.get(s.value.id).map(IntegrationStatusWire::from),
            last_change: s.last_change.as_deref().map(CommitWire::from),
        }
    }
}

impl WorkflowList {
    pub fn new(s: &Snapshot, instance: &str, statuses: Statuses<'_>) -> Self {
        WorkflowList {
            revision: s.revision,
            instance: instance.to_owned(),
            workflows: WorkflowsWire::new(s, statuses),
            commit: None,
        }
    }
}

impl IntegrationList {
    pub fn new(s: &Snapshot, statuses: Statuses<'_>) -> Self {
        IntegrationList {
            revision: s.revision,
            integrations: s
                .integrations
                .values()
                .map(|i| IntegrationWire::new(i, statuses))
                .collect(),
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

fn definition_status_wire(status: DefinitionStatus) -> DefinitionStatusWire {
    match status {
        DefinitionStatus::Current => DefinitionStatusWire {
            state: DefinitionState::Current,
            revision: None,
        },
        DefinitionStatus::Newer { revision } => DefinitionStatusWire {
            state: DefinitionState::Newer,
            revision: Some(revision),
        },
        DefinitionStatus::Removed => DefinitionStatusWire {
            state: DefinitionState::Removed,
            revision: None,
        },
    }
}

impl From<&DefinitionRef> for DefinitionRefWire {
    fn from(d: &DefinitionRef) -> Self {
        DefinitionRefWire {
            hash: d.hash.clone(),
            file: d.file.clone(),
            file_hash: d.file_hash.clone(),
            commit: d.commit.clone(),
            instance: d.instance.clone(),
            revision: d.revision,
        }
    }
}

/// A stored definition's text as it is: it was written from the entity
/// document, so it is JSON (anything else is `null`).
fn raw(body: &str) -> Box<RawValue> {
    RawValue::from_string(body.to_string())
        .or_else(|_| RawValue::from_string("null".to_string()))
        .unwrap_or_default()
}

impl RunSummaryWire {
    /// The run, and how its definition compares with `now`'s.
    pub fn new(run: &Run, now: &Snapshot, runs: &Runs) -> Self {
        RunSummaryWire {
            id: run.id.clone(),
            workflow_id: run.workflow_id.clone(),
            revision: run.definition.revision,
            file: run.definition.file.clone(),
            started_at: rfc3339(run.started_at),
            finished_at: run.finished_at.map(rfc3339),
            definition_ref: DefinitionRefWire::from(&run.definition),
            completed: run.completed.iter().map(CompletedStepWire::from).collect(),
            finished: run.is_finished(),
            definition_status: definition_status_wire(run.definition_status(now, runs)),
        }
    }
}

impl RunWire {
    /// The run with its definition, and how it compares with `now`'s.
    pub fn new(run: &Run, definition: &Definition, now: &Snapshot, runs: &Runs) -> Self {
        let s = RunSummaryWire::new(run, now, runs);
        RunWire {
            id: s.id,
            workflow_id: s.workflow_id,
            revision: s.revision,
            file: s.file,
            started_at: s.started_at,
            finished_at: s.finished_at,
            definition_ref: s.definition_ref,
            definition: raw(&definition.body),
            completed: s.completed,
            finished: s.finished,
            definition_status: s.definition_status,
        }
    }
}

impl RunComparisonWire {
    /// How `run`'s definition compares with `now`'s, and `patch` between them.
    pub fn new(run: &Run, now: &Snapshot, runs: &Runs, patch: Option<&Patch>) -> Self {
        RunComparisonWire {
            run: run.id.clone(),
            workflow_id: run.workflow_id.clone(),
            revision: run.definition.revision,
            definition_status: definition_status_wire(run.definition_status(now, runs)),
            patch: patch.map(PatchWire::from),
        }
    }
}

impl RunList {
    pub fn new(page: &Page, now: &Snapshot, runs: &Runs) -> Self {
        RunList {
            revision: now.revision,
            runs: page
                .runs
                .iter()
                .map(|r| RunSummaryWire::new(r, now, runs))
                .collect(),
            definitions: page
                .definitions
                .iter()
                .map(|d| RunDefinitionWire {
                    hash: d.hash.clone(),
                    definition: raw(&d.body),
                })
                .collect(),
            next_cursor: page.next.clone(),
        }
    }
}

/// Which store keeps the runs, and where.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreWire {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The SQLite file, or `postgres://user@host:port/db` (never a password).
    pub location: String,
}

impl From<&StoreInfo> for StoreWire {
    fn from(i: &StoreInfo) -> Self {
        StoreWire {
            backend: i.backend.to_string(),
            location: i.location.clone(),
        }
    }
}

impl From<&CompletedStep> for CompletedStepWire {
    fn from(c: &CompletedStep) -> Self {
        CompletedStepWire {
            step: c.step.clone(),
            at: rfc3339(c.at),
        }
    }
}

impl StatusWire {
    /// The status; with [`ErrorsShown::All`], `errors` is left out of the
    /// serialised object for the route to append (see [`ErrorsField`]).
    pub fn new(
        status: &Status,
        instance: &str,
        websocket_clients: u64,
        http: &HttpStats,
        store: Option<&StoreInfo>,
        shown: ErrorsShown,
    ) -> Self {
        let s = &status.snapshot;
        let (errors, errors_total, errors_truncated) = match shown {
            ErrorsShown::Capped => {
                let (list, total, truncated) = errors(&s.errors, shown);
                (ErrorsField::List(list), total, truncated)
            }
            ErrorsShown::All => (ErrorsField::Appended, s.errors.len(), false),
        };
        StatusWire {
            revision: s.revision,
            instance: instance.to_owned(),
            at: rfc3339(s.at),
            root: status.root.display().to_string(),
            git: status.git,
            head: s.head.as_ref().map(HeadWire::from),
            last_reload: status.last.as_ref().map(LastReloadWire::from),
            watcher: status.watcher.as_ref().map(WatcherWire::from),
            counts: CountsWire::from(status.counts),
            errors,
            errors_total,
            errors_truncated,
            settings: to_value(&*s.settings),
            websocket_clients,
            http: HttpWire::from(http),
            store: store.map(StoreWire::from),
            history: HistoryWire {
                events: status.history.events,
                bytes: status.history.bytes,
                max_events: status.history.capacity,
                max_bytes: status.history.budget,
            },
            follow: None,
            replica: None,
            commit: None,
        }
    }
}

impl From<&LastReload> for LastReloadWire {
    fn from(l: &LastReload) -> Self {
        LastReloadWire {
            revision: l.revision,
            at: rfc3339(l.at),
            ok: l.ok,
            cause: l.cause,
            summary: l.summary.clone(),
            timings: TimingsWire::from(l.timings),
            trigger: l.timings.trigger,
        }
    }
}

impl From<&WatchStatus> for WatcherWire {
    fn from(w: &WatchStatus) -> Self {
        WatcherWire {
            backend: w.backend.to_owned(),
            healthy: w.healthy,
            fallback: w.fallback.clone(),
            events: w.events,
            batches: w.batches,
            rescans: w.rescans,
            last_error: w.last_error.clone(),
            waiting_for_git: w.waiting_for_git.as_ref().map(|g| g.describe()),
        }
    }
}

impl From<Counts> for CountsWire {
    fn from(c: Counts) -> Self {
        CountsWire {
            reloads: c.reloads,
            failures: c.failures,
            noops: c.noops,
            rescans: c.rescans,
        }
    }
}

/// Milliseconds with two decimals.
/// `SystemTime` as RFC 3339 in UTC with milliseconds,
/// e.g. `2026-11-28T09:14:03.250Z`. Times before 1970 clamp to the epoch.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rfc3339_formats_utc_with_millis() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
            (1_700_000_000, 123, "2023-11-14T22:13:20.123Z"),
            (4_102_444_799, 999, "2099-12-31T23:59:59.999Z"),
        ];
        for (secs, ms, expected) in cases {
            let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms);
            assert_eq!(rfc3339(t), expected);
        }
    }
}
