//! The configuration model of the README, "The files it reads": workflows, integrations, settings.
//!
//! Plain immutable data. The serde form of an entity is its JSON document,
//! the one JSON Patches are computed against and the API serves; secrets
//! serialise masked, so no serialisation of the model can leak one.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::diagnostic::Pos;
use crate::secret;

/// One QA workflow template (`workflows/**/*.yaml`). Its serde form is the
/// workflow's entity document, described as `WorkflowDefinition` in the
/// OpenAPI document.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = WorkflowDefinition)]
pub struct Workflow {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub ticket_types: Vec<String>,
    pub steps: Vec<Step>,
    /// Where the id was written (or the top of the file when it defaults to
    /// the file stem), for cross-file errors.
    #[serde(skip)]
    pub id_pos: Pos,
}

impl Workflow {
    /// Every text a person wrote (name, description, ticket types, step
    /// names, checklist items), not ids or references, which index the
    /// workflow. [`for_each_text_mut`](Self::for_each_text_mut) visits the
    /// same texts in the same order.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str())
            .chain(self.description.as_deref())
            .chain(self.ticket_types.iter().map(String::as_str))
            .chain(self.steps.iter().flat_map(|s| {
                std::iter::once(s.name.as_str()).chain(s.checklist.iter().map(String::as_str))
            }))
    }

    /// Calls `f` on each of [`texts`](Self::texts), in place.
    pub fn for_each_text_mut(&mut self, mut f: impl FnMut(&mut String)) {
        f(&mut self.name);
        if let Some(d) = &mut self.description {
            f(d);
        }
        self.ticket_types.iter_mut().for_each(&mut f);
        for step in &mut self.steps {
            f(&mut step.name);
            step.checklist.iter_mut().for_each(&mut f);
        }
    }
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Step {
    pub id: String,
    pub name: String,
    pub estimated_minutes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
    pub checklist: Vec<String>,
    #[serde(skip)]
    pub integration_pos: Pos,
}

/// The integrations qa-reload knows how to configure and test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationKind {
    Jira,
    Postman,
    Testmo,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 3] = [
        IntegrationKind::Jira,
        IntegrationKind::Postman,
        IntegrationKind::Testmo,
    ];

    /// The file this integration is configured in, relative to the repository.
    pub fn config_file(self) -> String {
        format!("config/{}_config.yaml", self.as_str())
    }
}

crate::named!(IntegrationKind);

impl FromStr for IntegrationKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IntegrationKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

/// A string setting of an integration. Values read from `${VAR}` and values
/// of secret keys are masked whenever they are serialised or printed, and so
/// is the userinfo of a URL in any other value.
#[derive(Clone, PartialEq)]
pub struct Setting {
    /// The value in force; `None` when it names an unset variable.
    value: Option<String>,
    /// The variables it reads, in order (empty for a literal).
    pub env: Vec<String>,
    pub masked: bool,
}

impl Setting {
    pub fn new(value: Option<String>, env: Vec<String>, masked: bool) -> Self {
        Setting { value, env, masked }
    }

    pub fn literal(value: impl Into<String>) -> Self {
        Setting {
            value: Some(value.into()),
            env: Vec::new(),
            masked: false,
        }
    }

    /// The real value, for the integration client only. Never log it.
    pub fn expose(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What may be shown to a person.
    pub fn shown(&self) -> String {
        match (&self.value, self.masked) {
            (Some(v), false) => secret::mask_url_secrets(v),
            (Some(v), true) => secret::mask(v),
            (None, _) => format!("(unset: ${{{}}})", self.env.join("}, ${")),
        }
    }
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown())
    }
}

impl Serialize for Setting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.shown())
    }
}

/// One integration's settings (`config/<kind>_config.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Integration {
    pub id: IntegrationKind,
    pub enabled: bool,
    pub base_url: Setting,
    pub timeout_ms: u64,
    /// Minutes between connection tests while nothing changes (0: only on
    /// a change or on demand).
    pub retest_minutes: u64,
    #[serde(flatten)]
    pub fields: IntegrationFields,
}

/// Where a Jira site runs, which decides its REST API and its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JiraDeployment {
    /// Atlassian's cloud: REST v3, basic auth with `email` and an API token.
    #[default]
    Cloud,
    /// Jira Data Center or Server: REST v2, a personal access token as a
    /// bearer token (`email` not used).
    DataCenter,
}

impl JiraDeployment {
    pub const ALL: [JiraDeployment; 2] = [JiraDeployment::Cloud, JiraDeployment::DataCenter];
}

crate::named!(JiraDeployment);

impl FromStr for JiraDeployment {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JiraDeployment::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

/// The settings that differ per integration kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum IntegrationFields {
    Jira {
        deployment: JiraDeployment,
        /// Required for `cloud`; `data_center` does not use it.
        #[serde(skip_serializing_if = "Option::is_none")]
        email: Option<Setting>,
        api_token: Setting,
        #[serde(skip_serializing_if = "Option::is_none")]
        project_key: Option<Setting>,
    },
    Postman {
        api_key: Setting,
        #[serde(skip_serializing_if = "Option::is_none")]
        workspace_id: Option<Setting>,
    },
    Testmo {
        api_token: Setting,
        #[serde(skip_serializing_if = "Option::is_none")]
        project_id: Option<Setting>,
    },
}

/// `config/hot_reload.yaml`: how the reloader itself behaves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub debounce_ms: u64,
    pub max_wait_ms: u64,
    /// Window after a complete write (close or rename into place), in
    /// milliseconds to the microsecond.
    pub complete_write_ms: f64,
    pub watch: Vec<String>,
    pub ignore: Vec<String>,
    /// Events kept for resume, at most.
    pub history: usize,
    /// Bytes the kept events may hold, at most (roughly: patches, summaries
    /// and the diagnostics they do not share).
    pub history_bytes: usize,
}

/// The defaults of `config/hot_reload.yaml`, written here only: the
/// schema, the JSON Schemas and hover texts (`load::shape`) and the watcher
/// read them from here.
impl Settings {
    pub const DEBOUNCE_MS: u64 = 50;
    pub const MAX_WAIT_MS: u64 = 300;
    pub const COMPLETE_WRITE_MS: f64 = 1.0;
    pub const HISTORY: usize = 256;
    pub const HISTORY_BYTES: usize = 32 * 1024 * 1024;
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            debounce_ms: Settings::DEBOUNCE_MS,
            max_wait_ms: Settings::MAX_WAIT_MS,
            complete_write_ms: Settings::COMPLETE_WRITE_MS,
            watch: DEFAULT_WATCH.iter().map(|g| g.to_string()).collect(),
            ignore: Vec::new(),
            history: Settings::HISTORY,
            history_bytes: Settings::HISTORY_BYTES,
        }
    }
}

/// The `watch` globs when the settings give none.
pub const DEFAULT_WATCH: &[&str] = &["workflows/**/*.yaml", "workflows/**/*.yml", "config/*.yaml"];

/// The file that holds the settings.
pub const SETTINGS_FILE: &str = "config/hot_reload.yaml";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_their_mutable_walk_visit_the_same_fields() {
        let mut w = Workflow {
            id: "id".into(),
            name: "n".into(),
            description: Some("d".into()),
            ticket_types: vec!["t1".into(), "t2".into()],
            steps: vec![Step {
                id: "s".into(),
                name: "sn".into(),
                estimated_minutes: 1,
                integration: Some("jira".into()),
                checklist: vec!["c1".into()],
                integration_pos: Pos::START,
            }],
            id_pos: Pos::START,
        };
        let read: Vec<String> = w.texts().map(str::to_string).collect();
        assert_eq!(read, ["n", "d", "t1", "t2", "sn", "c1"]);
        let mut walked = Vec::new();
        w.for_each_text_mut(|t| {
            walked.push(t.clone());
            t.push('!');
        });
        assert_eq!(walked, read);
        // Ids and references are not texts: they stay as written.
        assert_eq!((w.id.as_str(), w.steps[0].id.as_str()), ("id", "s"));
        assert_eq!(w.steps[0].integration.as_deref(), Some("jira"));
        assert_eq!(w.name, "n!");
    }
}
