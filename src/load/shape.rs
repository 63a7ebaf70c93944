//! Stage `load`: the shape of every file kind as data — its keys, their
//! types, ranges and meaning, the id rule. `schema` reads files by it (which
//! keys are known, the ranges it enforces); `json_schema` writes it out as
//! JSON Schema for editors. One table, two readers; the tests below load a
//! document built from each table to check the reader keeps to it.
//!
//! Constants only: no I/O, nothing to fail.

use crate::model::{IntegrationKind, Settings};

/// An inclusive range of whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i64,
    pub max: i64,
}

impl Range {
    pub fn contains(self, n: i64) -> bool {
        (self.min..=self.max).contains(&n)
    }
}

/// The id rule, as a regular expression (with [`ID_MAX_LEN`]).
pub const ID_PATTERN: &str = "^[a-z0-9][a-z0-9-]*$";
/// Ids are at most this many characters.
pub const ID_MAX_LEN: usize = 100;

pub const ESTIMATED_MINUTES: Range = Range { min: 1, max: 1440 };
pub const TIMEOUT_MS: Range = Range {
    min: 1,
    max: 600_000,
};
pub const DEBOUNCE_MS: Range = Range {
    min: 0,
    max: 10_000,
};
pub const MAX_WAIT_MS: Range = Range {
    min: 1,
    max: 60_000,
};
/// Up to a week between periodic connection tests.
pub const RETEST_MINUTES: Range = Range {
    min: 0,
    max: 10_080,
};
pub const COMPLETE_WRITE_MS: Range = Range { min: 0, max: 1000 };
pub const HISTORY: Range = Range {
    min: 1,
    max: 100_000,
};
pub const HISTORY_BYTES: Range = Range {
    min: 4096,
    max: 1 << 32,
};

/// What a key's value must be.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// A workflow or step id: [`ID_PATTERN`], at most [`ID_MAX_LEN`] characters.
    Id,
    /// A string that is not empty or blank.
    Text,
    /// A list of [`Ty::Text`].
    TextList,
    /// A whole number within the range.
    Int(Range),
    /// Milliseconds within the range, whole or to the microsecond
    /// (`0.5`).
    Millis(Range),
    Bool,
    /// A string (`${NAME}` read from the environment) or a whole number.
    Setting,
    /// A string: an http or https URL, or one read from `${NAME}`.
    Url,
    /// The name of an integration kind.
    IntegrationName,
    /// One of these names.
    OneOf(&'static [&'static str]),
    /// A list of glob strings.
    Globs,
    /// A list of at least one mapping of the given shape.
    Items(&'static Shape),
}

/// Whether a key must be there. `null` (or an empty value) means the same
/// as leaving an optional key out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    /// Optional, but when written it must be a value, not `null`.
    OptionalNotNull,
    /// Required unless the key `.0` is set to the value `.1`.
    RequiredUnless(&'static str, &'static str),
}

impl Presence {
    /// Whether the key must be written in a mapping where `other(key)`
    /// gives the value written under another key (`None`: absent or not a
    /// string).
    pub fn is_required<'a>(self, other: impl Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            Presence::Required => true,
            Presence::Optional | Presence::OptionalNotNull => false,
            Presence::RequiredUnless(key, value) => other(key) != Some(value),
        }
    }
}

/// One key of a mapping.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    pub ty: Ty,
    pub presence: Presence,
    /// What the key means, for people (an editor's hover text).
    pub description: &'static str,
    /// The value an absent key stands for, where it is a number.
    pub default: Option<DefaultValue>,
}

/// A number an absent key stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    Int(u64),
    Millis(f64),
}

impl DefaultValue {
    pub fn to_json(self) -> serde_json::Value {
        match self {
            DefaultValue::Int(n) => serde_json::json!(n),
            DefaultValue::Millis(ms) => serde_json::json!(ms),
        }
    }
}

impl std::fmt::Display for DefaultValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DefaultValue::Int(n) => write!(f, "{n}"),
            DefaultValue::Millis(ms) => write!(f, "{ms}"),
        }
    }
}

impl Field {
    /// The description with the default, as editors show it.
    pub fn help(&self) -> String {
        match self.default {
            Some(default) => format!("{} Default: {default}.", self.description),
            None => self.description.to_owned(),
        }
    }
}

/// One mapping: a file's top level or a list item. Keys not listed are errors.
#[derive(Debug)]
pub struct Shape {
    pub title: &'static str,
    pub description: &'static str,
    pub fields: &'static [Field],
    /// An empty file (no YAML content) is allowed and means all defaults.
    pub empty_ok: bool,
}

impl Shape {
    pub fn keys(&self) -> Vec<&'static str> {
        self.fields.iter().map(|f| f.key).collect()
    }

    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }
}

const fn required(key: &'static str, ty: Ty, description: &'static str) -> Field {
    Field {
        key,
        ty,
        presence: Presence::Required,
        description,
        default: None,
    }
}

const fn optional(key: &'static str, ty: Ty, description: &'static str) -> Field {
    Field {
        key,
        ty,
        presence: Presence::Optional,
        description,
        default: None,
    }
}

const fn defaulted(
    key: &'static str,
    ty: Ty,
    default: DefaultValue,
    description: &'static str,
) -> Field {
    Field {
        key,
        ty,
        presence: Presence::Optional,
        description,
        default: Some(default),
    }
}

pub const STEP: Shape = Shape {
    title: "step",
    description: "One step of a workflow.",
    fields: &[
        required(
            "id",
            Ty::Id,
            "Step id, unique within the workflow: lower-case letters, digits and `-`, starting with a letter or digit.",
        ),
        required(
            "name",
            Ty::Text,
            "What the step is called, as shown on the page.",
        ),
        required(
            "estimated_minutes",
            Ty::Int(ESTIMATED_MINUTES),
            "How long the step usually takes, in minutes (1 to 1440).",
        ),
        optional(
            "integration",
            Ty::IntegrationName,
            "The integration the step uses (`jira`, `postman` or `testmo`); its file in `config/` must exist.",
        ),
        optional(
            "checklist",
            Ty::TextList,
            "Items to tick off during the step.",
        ),
    ],
    empty_ok: false,
};

pub const WORKFLOW: Shape = Shape {
    title: "qa-reload workflow",
    description: "A QA workflow template (`workflows/**/*.yaml`).",
    fields: &[
        Field {
            key: "id",
            ty: Ty::Id,
            presence: Presence::OptionalNotNull,
            description: "Workflow id, unique across `workflows/`; defaults to the file name without extension. Lower-case letters, digits and `-`, starting with a letter or digit.",
            default: None,
        },
        required(
            "name",
            Ty::Text,
            "The workflow's name, as shown on the page.",
        ),
        optional(
            "description",
            Ty::Text,
            "What the workflow is for and when to use it.",
        ),
        optional(
            "ticket_types",
            Ty::TextList,
            "The ticket types the workflow applies to (e.g. `bug`, `story`).",
        ),
        required(
            "steps",
            Ty::Items(&STEP),
            "The steps, in order; at least one.",
        ),
    ],
    empty_ok: false,
};

const ENABLED: Field = optional(
    "enabled",
    Ty::Bool,
    "Whether the integration is used and its connection tested (default true). When false, a missing environment variable is only a warning.",
);
const BASE_URL: Field = required(
    "base_url",
    Ty::Url,
    "The service's base URL (http or https); `${NAME}` reads it from the environment.",
);
const TIMEOUT: Field = optional(
    "timeout_ms",
    Ty::Int(TIMEOUT_MS),
    "Milliseconds each request of the connection test may take (1 to 600000; default 5000).",
);
const RETEST: Field = optional(
    "retest_minutes",
    Ty::Int(RETEST_MINUTES),
    "Minutes between connection tests while nothing changes, so an expired or revoked credential shows without a save (0 to 10080; 0 turns it off; default 60).",
);

/// The values of Jira's `deployment`, as written.
pub const JIRA_DEPLOYMENTS: &[&str] = &["cloud", "data_center"];

pub const JIRA: Shape = Shape {
    title: "qa-reload Jira integration",
    description: "Jira settings (`config/jira_config.yaml`). Write secrets as `${NAME}`: they are read from the environment and never shown.",
    fields: &[
        ENABLED,
        BASE_URL,
        TIMEOUT,
        RETEST,
        optional(
            "deployment",
            Ty::OneOf(JIRA_DEPLOYMENTS),
            "`cloud` (default: Atlassian's cloud, REST API v3, basic auth with `email` and an API token) or `data_center` (Jira Data Center or Server: REST API v2, `api_token` is a personal access token sent as a bearer token, `email` is not used).",
        ),
        Field {
            key: "email",
            ty: Ty::Setting,
            presence: Presence::RequiredUnless("deployment", "data_center"),
            description: "The Jira account's email address (basic auth user); required for `cloud`, not used by `data_center`.",
            default: None,
        },
        required(
            "api_token",
            Ty::Setting,
            "The Jira API token (`cloud`) or personal access token (`data_center`). Secret: write `${NAME}` and export the variable.",
        ),
        optional(
            "project_key",
            Ty::Setting,
            "The Jira project key (e.g. `QA`); the connection test checks that the account can see it.",
        ),
    ],
    empty_ok: false,
};

pub const POSTMAN: Shape = Shape {
    title: "qa-reload Postman integration",
    description: "Postman settings (`config/postman_config.yaml`). Write secrets as `${NAME}`: they are read from the environment and never shown.",
    fields: &[
        ENABLED,
        BASE_URL,
        TIMEOUT,
        RETEST,
        required(
            "api_key",
            Ty::Setting,
            "The Postman API key. Secret: write `${NAME}` and export the variable.",
        ),
        optional(
            "workspace_id",
            Ty::Setting,
            "The Postman workspace id; the connection test checks that the key can see it.",
        ),
    ],
    empty_ok: false,
};

pub const TESTMO: Shape = Shape {
    title: "qa-reload Testmo integration",
    description: "Testmo settings (`config/testmo_config.yaml`). Write secrets as `${NAME}`: they are read from the environment and never shown.",
    fields: &[
        ENABLED,
        BASE_URL,
        TIMEOUT,
        RETEST,
        required(
            "api_token",
            Ty::Setting,
            "The Testmo API token. Secret: write `${NAME}` and export the variable.",
        ),
        optional(
            "project_id",
            Ty::Setting,
            "The Testmo project id; the connection test checks that the token can see it.",
        ),
    ],
    empty_ok: false,
};

pub const SETTINGS: Shape = Shape {
    title: "qa-reload hot reload settings",
    description: "How qa-reload itself behaves (`config/hot_reload.yaml`); optional, an empty file means all defaults. Hot reloaded too.",
    fields: &[
        defaulted(
            "debounce_ms",
            Ty::Int(DEBOUNCE_MS),
            DefaultValue::Int(Settings::DEBOUNCE_MS),
            "Quiet period in milliseconds: a batch of file events is applied once none has arrived for this long (0 to 10000).",
        ),
        defaulted(
            "max_wait_ms",
            Ty::Int(MAX_WAIT_MS),
            DefaultValue::Int(Settings::MAX_WAIT_MS),
            "Milliseconds from a batch's first event after which it is applied even if events keep arriving (1 to 60000, not less than `debounce_ms`).",
        ),
        defaulted(
            "complete_write_ms",
            Ty::Millis(COMPLETE_WRITE_MS),
            DefaultValue::Millis(Settings::COMPLETE_WRITE_MS),
            "Milliseconds after a complete save (file closed or renamed into place) before it is published; the file is read and checked meanwhile (0 to 1000, to the microsecond, e.g. 0.5).",
        ),
        optional(
            "watch",
            Ty::Globs,
            "Globs, relative to the repository root, of the files that are loaded.",
        ),
        optional(
            "ignore",
            Ty::Globs,
            "Globs of files skipped even when they match `watch`.",
        ),
        defaulted(
            "history",
            Ty::Int(HISTORY),
            DefaultValue::Int(Settings::HISTORY as u64),
            "How many published changes are kept for clients that resume (1 to 100000).",
        ),
        defaulted(
            "history_bytes",
            Ty::Int(HISTORY_BYTES),
            DefaultValue::Int(Settings::HISTORY_BYTES as u64),
            "How many bytes the kept changes may hold (4096 to 4294967296).",
        ),
    ],
    empty_ok: true,
};

/// The shape of an integration kind's file.
pub fn integration(kind: IntegrationKind) -> &'static Shape {
    match kind {
        IntegrationKind::Jira => &JIRA,
        IntegrationKind::Postman => &POSTMAN,
        IntegrationKind::Testmo => &TESTMO,
    }
}

#[cfg(test)]
mod tests {
    //! The table against the reader: a document built from each shape
    //! loads; leaving out any required key, adding an unknown key, or
    //! putting a number just outside a range is an error at that key.

    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::diagnostic::ConfigError;
    use crate::load::config::{FileRole, load_file};

    fn sample(ty: Ty, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent);
        match ty {
            Ty::Id => out.push_str(" a-1\n"),
            Ty::Text | Ty::Setting => out.push_str(" some text\n"),
            Ty::TextList => out.push_str(" [one, two]\n"),
            Ty::Int(r) | Ty::Millis(r) => out.push_str(&format!(" {}\n", r.max)),
            Ty::Bool => out.push_str(" true\n"),
            Ty::Url => out.push_str(" https://example.test\n"),
            Ty::IntegrationName => out.push_str(" jira\n"),
            Ty::OneOf(names) => out.push_str(&format!(" {}\n", names[0])),
            Ty::Globs => out.push_str(" [\"workflows/**/*.yaml\"]\n"),
            Ty::Items(shape) => {
                out.push('\n');
                let item = document(shape, None, indent + 4);
                let item = item.trim_start();
                out.push_str(&format!("{pad}  - {item}"));
            }
        }
    }

    /// A document of the shape with every key, except `skip`; mapping lines
    /// after the first are indented by `indent`.
    fn document(shape: &Shape, skip: Option<&str>, indent: usize) -> String {
        let mut out = String::new();
        for f in shape.fields.iter().filter(|f| Some(f.key) != skip) {
            out.push_str(&" ".repeat(indent));
            out.push_str(f.key);
            out.push(':');
            sample(f.ty, &mut out, indent);
        }
        out
    }

    /// Every shape with a file that is read by it (the step shape through
    /// the workflow file).
    fn files() -> Vec<(&'static Shape, FileRole, &'static str)> {
        vec![
            (&WORKFLOW, FileRole::Workflow, "workflows/w.yaml"),
            (
                &JIRA,
                FileRole::Integration(IntegrationKind::Jira),
                "config/jira_config.yaml",
            ),
            (
                &POSTMAN,
                FileRole::Integration(IntegrationKind::Postman),
                "config/postman_config.yaml",
            ),
            (
                &TESTMO,
                FileRole::Integration(IntegrationKind::Testmo),
                "config/testmo_config.yaml",
            ),
            (&SETTINGS, FileRole::Settings, "config/hot_reload.yaml"),
        ]
    }

    fn load(role: FileRole, path: &str, text: &str) -> Vec<ConfigError> {
        load_file(role, path, text.as_bytes(), &|_| None).errors
    }

    #[test]
    fn a_document_built_from_each_shape_loads() {
        for (shape, role, path) in files() {
            let text = document(shape, None, 0);
            let errors = load(role, path, &text);
            assert!(errors.is_empty(), "{path}:\n{text}\n{errors:#?}");
        }
    }

    #[test]
    fn every_required_key_is_required_and_no_other() {
        for (shape, role, path) in files() {
            for f in shape.fields {
                let text = document(shape, Some(f.key), 0);
                let errors = load(role, path, &text);
                let missing = errors
                    .iter()
                    .any(|e| e.message == format!("missing required key `{}`", f.key));
                // The document writes the first value of every name list
                // (`deployment: cloud`).
                let first = |key: &str| match shape.field(key).map(|f| f.ty) {
                    Some(Ty::OneOf(names)) => Some(names[0]),
                    _ => None,
                };
                assert_eq!(
                    missing,
                    f.presence.is_required(first),
                    "{path} without `{}`: {errors:#?}",
                    f.key
                );
            }
        }
        let text = document(&WORKFLOW, None, 0).replace("\n    name: some text\n", "\n");
        let errors = load(FileRole::Workflow, "workflows/w.yaml", &text);
        assert!(
            errors
                .iter()
                .any(|e| e.message == "missing required key `name`" && e.line == 6),
            "{text}\n{errors:#?}"
        );
    }

    #[test]
    fn keys_outside_the_table_are_refused() {
        for (shape, role, path) in files() {
            let text = format!("{}zzz_unknown: 1\n", document(shape, None, 0));
            let errors = load(role, path, &text);
            assert!(
                errors
                    .iter()
                    .any(|e| e.message.starts_with("unknown key `zzz_unknown`")),
                "{path}: {errors:#?}"
            );
        }
    }

    #[test]
    fn ranges_are_enforced_at_both_ends() {
        for (shape, role, path) in files() {
            for f in shape.fields {
                let (Ty::Int(range) | Ty::Millis(range)) = f.ty else {
                    continue;
                };
                let base = document(shape, Some(f.key), 0);
                for (n, ok) in [
                    (range.min, true),
                    (range.min - 1, false),
                    (range.max + 1, false),
                ] {
                    // max_wait_ms must also not be below debounce_ms.
                    let text = format!("{base}{}: {n}\n", f.key)
                        .replace("debounce_ms: 10000", "debounce_ms: 0");
                    let errors = load(role, path, &text);
                    let refused = errors.iter().any(|e| e.message.contains(f.key));
                    assert_eq!(refused, !ok, "{path} `{}: {n}`: {errors:#?}", f.key);
                }
            }
        }
        let steps = document(&WORKFLOW, None, 0)
            .replace("estimated_minutes: 1440", "estimated_minutes: 1441");
        let errors = load(FileRole::Workflow, "workflows/w.yaml", &steps);
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("between 1 and 1440")),
            "{errors:#?}"
        );
    }

    #[test]
    fn an_empty_file_is_allowed_only_where_the_table_says() {
        for (shape, role, path) in files() {
            let errors = load(role, path, "# nothing\n");
            assert_eq!(errors.is_empty(), shape.empty_ok, "{path}: {errors:#?}");
        }
    }
}
