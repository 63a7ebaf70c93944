//! Stage `api`: runs, their pinned definitions and comparisons, as the run
//! routes write them.
//!
//! May not: do I/O or hold state (conversions only; see `wire`).

use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::diff::patch::Patch;
use crate::engine::Snapshot;
use crate::model::Workflow;
use crate::store::{CompletedStep, Definition, DefinitionRef, DefinitionStatus, Page, Run, Runs};

use super::*;

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

pub(super) fn definition_status_wire(status: DefinitionStatus) -> DefinitionStatusWire {
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
pub(super) fn raw(body: &str) -> Box<RawValue> {
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

impl From<&CompletedStep> for CompletedStepWire {
    fn from(c: &CompletedStep) -> Self {
        CompletedStepWire {
            step: c.step.clone(),
            at: rfc3339(c.at),
        }
    }
}
