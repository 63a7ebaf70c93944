//! Stage `api`: the workflows and integrations in force, as the list and
//! detail routes and the `integration_status` frame write them.
//!
//! May not: do I/O or hold state (conversions only; see `wire`).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::engine::{Served, Snapshot};
use crate::integrations::{FailureKind, IntegrationStatus, State, TestStep};
use crate::model::{Integration, IntegrationKind, Workflow};

use super::*;

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
