//! Stage `load`: which file serves each entity, and the errors only the whole
//! configuration can tell (references, duplicate ids).
//!
//! One rule, used by `check`, `diff` and the engine:
//!
//! 1. A workflow file *declares* an id when it is valid on its own. Its
//!    steps' `integration` must name an integration whose config file exists
//!    (valid or not); otherwise the file gets a reference error and is not a
//!    candidate for its id.
//! 2. Among the candidates for an id, the file that served it before keeps
//!    it; otherwise the first by path wins. Every other candidate gets a
//!    duplicate-id error naming the winner.
//! 3. With no candidate, the version served before stays (the last good
//!    version) while its file exists and does not declare another id: the
//!    file is broken or its references fail. Otherwise the id is gone.
//! 4. An integration or the settings: a valid file serves; an invalid one
//!    keeps the version served before; no file, nothing (default settings).
//!
//! "Before" is an input, [`Previous`]: what was served at the last
//! revision. `check` has no history and passes [`Previous::default`]; `diff`
//! passes what the old side serves; the engine passes its current snapshot.
//! The engine resolves only the ids a batch touched ([`workflow`]); the
//! result is by construction the one [`resolve`] gives on the whole disk,
//! because both apply the same per-id rule and an id's outcome depends only
//! on the files declaring it, the previous holder's file and the set of
//! configured integrations.
//!
//! Pure: no I/O, never panics.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{ConfigError, EntityKind, ErrorKind};
use crate::model::{Integration, IntegrationKind, Settings, Workflow};

/// One file as resolution sees it: its role and its entity when it is valid
/// on its own (`None`: present but invalid).
#[derive(Debug, Clone, Copy)]
pub enum FileView<'a> {
    Workflow(Option<&'a Workflow>),
    Integration(IntegrationKind, Option<&'a Integration>),
    Settings(Option<&'a Settings>),
}

/// What was served at the last revision: workflow id → file, the
/// integrations served, whether settings from the file were in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Previous {
    pub workflows: BTreeMap<String, String>,
    pub integrations: BTreeSet<IntegrationKind>,
    pub settings: bool,
}

/// Where an entity in force comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// The version read now from this file.
    Read(String),
    /// The version served before stays (read earlier from this file).
    Kept(String),
}

impl Pick {
    pub fn file(&self) -> &str {
        match self {
            Pick::Read(f) | Pick::Kept(f) => f,
        }
    }
}

/// The outcome for one workflow id.
#[derive(Debug, Clone, PartialEq)]
pub struct IdOutcome {
    pub pick: Option<Pick>,
    /// Cross-file errors of the files declaring the id, by file.
    pub errors: BTreeMap<String, Vec<ConfigError>>,
}

/// What the previous holder's file is now, for rule 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderNow<'a> {
    /// The file is gone.
    Gone,
    /// The file is there but not valid on its own.
    Invalid,
    /// The file is valid and declares this id.
    Declares(&'a str),
}

/// Rules 1–3 for one workflow id. `declaring` are the files valid on their
/// own that declare `id` (any order); `previous` is the file that served it
/// at the last revision and what that file is now.
pub fn workflow(
    id: &str,
    declaring: &[(&str, &Workflow)],
    configured: &BTreeSet<IntegrationKind>,
    previous: Option<(&str, HolderNow<'_>)>,
) -> IdOutcome {
    let mut files: Vec<(&str, &Workflow)> = declaring.to_vec();
    files.sort_by_key(|(f, _)| *f);
    if let Some((holder, _)) = previous
        && let Some(i) = files.iter().position(|(f, _)| *f == holder)
    {
        let incumbent = files.remove(i);
        files.insert(0, incumbent);
    }
    let mut errors: BTreeMap<String, Vec<ConfigError>> = BTreeMap::new();
    let mut winner: Option<&str> = None;
    for (file, w) in files {
        let refs = references(file, w, configured);
        if !refs.is_empty() {
            errors.insert(file.to_string(), refs);
            continue;
        }
        match winner {
            None => winner = Some(file),
            Some(first) => {
                errors.insert(file.to_string(), vec![duplicate_id(file, w, first)]);
            }
        }
    }
    let pick = match (winner, previous) {
        (Some(file), _) => Some(Pick::Read(file.to_string())),
        (None, Some((holder, HolderNow::Invalid))) => Some(Pick::Kept(holder.to_string())),
        (None, Some((holder, HolderNow::Declares(now)))) if now == id => {
            Some(Pick::Kept(holder.to_string()))
        }
        (None, _) => None,
    };
    IdOutcome { pick, errors }
}

/// Everything in force for a set of files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolution {
    pub workflows: BTreeMap<String, Pick>,
    pub integrations: BTreeMap<IntegrationKind, Pick>,
    /// `None`: the default settings.
    pub settings: Option<Pick>,
    /// Cross-file errors (references, duplicate ids), by file then position.
    pub errors: Vec<ConfigError>,
}

/// The integrations whose config file exists, valid or not: what a step's
/// `integration` may name.
pub fn configured(files: &BTreeMap<String, FileView<'_>>) -> BTreeSet<IntegrationKind> {
    files
        .values()
        .filter_map(|f| match f {
            FileView::Integration(kind, _) => Some(*kind),
            _ => None,
        })
        .collect()
}

/// Resolves a whole set of files (path → view) against what was served
/// before.
pub fn resolve(files: &BTreeMap<String, FileView<'_>>, previous: &Previous) -> Resolution {
    let configured = configured(files);
    let mut declaring: BTreeMap<&str, Vec<(&str, &Workflow)>> = BTreeMap::new();
    let mut out = Resolution::default();
    for (path, view) in files {
        match view {
            FileView::Workflow(Some(w)) => {
                declaring.entry(&w.id).or_default().push((path, w));
            }
            FileView::Workflow(None) => {}
            FileView::Integration(kind, valid) => {
                let pick = match valid {
                    Some(_) => Some(Pick::Read(path.clone())),
                    None if previous.integrations.contains(kind) => Some(Pick::Kept(path.clone())),
                    None => None,
                };
                if let Some(pick) = pick {
                    out.integrations.insert(*kind, pick);
                }
            }
            FileView::Settings(valid) => {
                out.settings = match valid {
                    Some(_) => Some(Pick::Read(path.clone())),
                    None if previous.settings => Some(Pick::Kept(path.clone())),
                    None => None,
                };
            }
        }
    }
    let ids: BTreeSet<&str> = declaring
        .keys()
        .copied()
        .chain(previous.workflows.keys().map(String::as_str))
        .collect();
    for id in ids {
        let holder = previous.workflows.get(id).map(|file| {
            let now = match files.get(file) {
                None => HolderNow::Gone,
                Some(FileView::Workflow(None)) => HolderNow::Invalid,
                Some(FileView::Workflow(Some(w))) => HolderNow::Declares(&w.id),
                // A path is a workflow's by its role; anything else is gone.
                Some(_) => HolderNow::Gone,
            };
            (file.as_str(), now)
        });
        let outcome = workflow(
            id,
            declaring.get(id).map_or(&[][..], Vec::as_slice),
            &configured,
            holder,
        );
        if let Some(pick) = outcome.pick {
            out.workflows.insert(id.to_string(), pick);
        }
        out.errors.extend(outcome.errors.into_values().flatten());
    }
    sort_errors(&mut out.errors);
    out
}

/// By file, then position.
pub fn sort_errors(errors: &mut [ConfigError]) {
    errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

/// The error for a workflow whose id another file already serves.
pub fn duplicate_id(path: &str, w: &Workflow, winner: &str) -> ConfigError {
    ConfigError::new(
        path,
        w.id_pos,
        ErrorKind::Reference,
        format!(
            "workflow id `{}` is already used by {winner}; ids must be unique",
            w.id
        ),
    )
    .for_entity(EntityKind::Workflow, w.id.clone())
}

/// The reference errors of one workflow: every step's `integration` must
/// name a known integration whose config file exists.
pub fn references(
    file: &str,
    w: &Workflow,
    configured: &BTreeSet<IntegrationKind>,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for step in &w.steps {
        let Some(name) = &step.integration else {
            continue;
        };
        let message = match name.parse::<IntegrationKind>() {
            Ok(kind) if configured.contains(&kind) => continue,
            Ok(kind) => format!(
                "step `{}` uses integration `{name}`, which is not configured; add {}",
                step.id,
                kind.config_file()
            ),
            // The unknown name is not repeated: messages quote names, not values.
            Err(()) => format!(
                "step `{}` names an integration that is not known; use one of: jira, postman, testmo",
                step.id
            ),
        };
        errors.push(
            ConfigError::new(file, step.integration_pos, ErrorKind::Reference, message)
                .for_entity(EntityKind::Workflow, w.id.clone()),
        );
    }
    errors
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::diagnostic::Pos;
    use crate::model::Step;

    fn wf(id: &str, integration: Option<&str>) -> Workflow {
        Workflow {
            id: id.to_string(),
            name: id.to_uppercase(),
            description: None,
            ticket_types: Vec::new(),
            steps: vec![Step {
                id: "s".into(),
                name: "S".into(),
                estimated_minutes: 1,
                integration: integration.map(str::to_string),
                checklist: Vec::new(),
                integration_pos: Pos { line: 6, col: 18 },
            }],
            id_pos: Pos { line: 1, col: 5 },
        }
    }

    /// A disk: path → workflow (`None`: the file is invalid).
    struct Case {
        files: Vec<(&'static str, Option<Workflow>)>,
        jira: bool,
        previous: Vec<(&'static str, &'static str)>,
        served: Vec<(&'static str, Pick)>,
        /// (file, message start) of every error.
        errors: Vec<(&'static str, &'static str)>,
    }

    fn run(name: &str, case: Case) {
        let jira = crate::model::Integration {
            id: IntegrationKind::Jira,
            enabled: false,
            base_url: crate::model::Setting::literal("https://x.example"),
            timeout_ms: 1000,
            retest_minutes: 60,
            fields: crate::model::IntegrationFields::Jira {
                deployment: crate::model::JiraDeployment::Cloud,
                email: Some(crate::model::Setting::literal("a@b.c")),
                api_token: crate::model::Setting::literal("t"),
                project_key: None,
            },
        };
        let mut files: BTreeMap<String, FileView<'_>> = case
            .files
            .iter()
            .map(|(p, w)| (p.to_string(), FileView::Workflow(w.as_ref())))
            .collect();
        if case.jira {
            files.insert(
                "config/jira_config.yaml".into(),
                FileView::Integration(IntegrationKind::Jira, Some(&jira)),
            );
        }
        let previous = Previous {
            workflows: case
                .previous
                .iter()
                .map(|(id, f)| (id.to_string(), f.to_string()))
                .collect(),
            ..Previous::default()
        };
        let r = resolve(&files, &previous);
        let served: Vec<(&str, Pick)> = r
            .workflows
            .iter()
            .map(|(id, p)| (id.as_str(), p.clone()))
            .collect();
        assert_eq!(served, case.served, "{name}: served");
        crate::test_support::assert_errors(name, &r.errors, &case.errors);
    }

    fn read(f: &str) -> Pick {
        Pick::Read(f.to_string())
    }

    fn kept(f: &str) -> Pick {
        Pick::Kept(f.to_string())
    }

    #[test]
    fn table() {
        run(
            "a reference error takes a file out before ids are chosen",
            Case {
                files: vec![
                    ("workflows/a.yaml", Some(wf("x", Some("jira")))),
                    ("workflows/b.yaml", Some(wf("x", None))),
                ],
                jira: false,
                previous: vec![],
                served: vec![("x", read("workflows/b.yaml"))],
                errors: vec![(
                    "workflows/a.yaml",
                    "step `s` uses integration `jira`, which is not configured",
                )],
            },
        );
        run(
            "without history the first by path wins",
            Case {
                files: vec![
                    ("workflows/a.yaml", Some(wf("x", None))),
                    ("workflows/b.yaml", Some(wf("x", None))),
                ],
                jira: false,
                previous: vec![],
                served: vec![("x", read("workflows/a.yaml"))],
                errors: vec![(
                    "workflows/b.yaml",
                    "workflow id `x` is already used by workflows/a.yaml",
                )],
            },
        );
        run(
            "the file already serving an id keeps it",
            Case {
                files: vec![
                    ("workflows/a.yaml", Some(wf("x", None))),
                    ("workflows/b.yaml", Some(wf("x", None))),
                ],
                jira: false,
                previous: vec![("x", "workflows/b.yaml")],
                served: vec![("x", read("workflows/b.yaml"))],
                errors: vec![(
                    "workflows/a.yaml",
                    "workflow id `x` is already used by workflows/b.yaml",
                )],
            },
        );
        run(
            "a broken holder keeps its last good version",
            Case {
                files: vec![("workflows/a.yaml", None)],
                jira: false,
                previous: vec![("x", "workflows/a.yaml")],
                served: vec![("x", kept("workflows/a.yaml"))],
                errors: vec![],
            },
        );
        run(
            "a holder with a reference error keeps its last good version",
            Case {
                files: vec![("workflows/a.yaml", Some(wf("x", Some("jira"))))],
                jira: false,
                previous: vec![("x", "workflows/a.yaml")],
                served: vec![("x", kept("workflows/a.yaml"))],
                errors: vec![("workflows/a.yaml", "step `s` uses integration `jira`")],
            },
        );
        run(
            "a broken holder yields to a valid newcomer",
            Case {
                files: vec![
                    ("workflows/a.yaml", None),
                    ("workflows/b.yaml", Some(wf("x", None))),
                ],
                jira: false,
                previous: vec![("x", "workflows/a.yaml")],
                served: vec![("x", read("workflows/b.yaml"))],
                errors: vec![],
            },
        );
        run(
            "a holder that now declares another id lets the old one go",
            Case {
                files: vec![("workflows/a.yaml", Some(wf("y", None)))],
                jira: false,
                previous: vec![("x", "workflows/a.yaml")],
                served: vec![("y", read("workflows/a.yaml"))],
                errors: vec![],
            },
        );
        run(
            "a deleted holder's id is gone",
            Case {
                files: vec![],
                jira: false,
                previous: vec![("x", "workflows/a.yaml")],
                served: vec![],
                errors: vec![],
            },
        );
        run(
            "a configured integration clears the reference error",
            Case {
                files: vec![("workflows/a.yaml", Some(wf("x", Some("jira"))))],
                jira: true,
                previous: vec![],
                served: vec![("x", read("workflows/a.yaml"))],
                errors: vec![],
            },
        );
        run(
            "an unknown integration is an error even with others configured",
            Case {
                files: vec![("workflows/a.yaml", Some(wf("x", Some("slack"))))],
                jira: true,
                previous: vec![],
                served: vec![],
                errors: vec![(
                    "workflows/a.yaml",
                    "step `s` names an integration that is not known",
                )],
            },
        );
    }

    #[test]
    fn integrations_and_settings_keep_their_last_good_version() {
        let mut files = BTreeMap::new();
        files.insert(
            "config/jira_config.yaml".to_string(),
            FileView::Integration(IntegrationKind::Jira, None),
        );
        files.insert(
            "config/hot_reload.yaml".to_string(),
            FileView::Settings(None),
        );
        let fresh = resolve(&files, &Previous::default());
        assert!(fresh.integrations.is_empty());
        assert_eq!(fresh.settings, None);
        let previous = Previous {
            integrations: [IntegrationKind::Jira].into(),
            settings: true,
            ..Previous::default()
        };
        let kept = resolve(&files, &previous);
        assert_eq!(
            kept.integrations.get(&IntegrationKind::Jira),
            Some(&Pick::Kept("config/jira_config.yaml".into()))
        );
        assert_eq!(
            kept.settings,
            Some(Pick::Kept("config/hot_reload.yaml".into()))
        );
        assert!(resolve(&BTreeMap::new(), &previous).integrations.is_empty());
    }
}
