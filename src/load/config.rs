//! Stage `load`: a set of files to one validated configuration.
//!
//! `load_file` reads one file in isolation; `validate` checks what only the
//! whole configuration can tell (references, unique ids). Pure: file bytes
//! and the environment come in as arguments; no I/O, never panics.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{ConfigError, EntityKind, ErrorKind};
use crate::load::mask::{self, Masker};
use crate::load::node::Node;
use crate::load::schema::{self, Env};
use crate::load::yaml::{self, Limits};
use crate::model::{Integration, IntegrationKind, SETTINGS_FILE, Settings, Workflow};

/// What a file is, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileRole {
    Workflow,
    Integration(IntegrationKind),
    Settings,
}

impl FileRole {
    /// The role of a repository-relative path, or `None` when qa-reload does
    /// not read that file.
    pub fn of(path: &str) -> Option<FileRole> {
        if let Some(rest) = path.strip_prefix("workflows/") {
            let name = rest.rsplit('/').next().unwrap_or(rest);
            let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
            return (yaml && !name.starts_with('.')).then_some(FileRole::Workflow);
        }
        if path == SETTINGS_FILE {
            return Some(FileRole::Settings);
        }
        let kind = path
            .strip_prefix("config/")?
            .strip_suffix("_config.yaml")?
            .parse()
            .ok()?;
        Some(FileRole::Integration(kind))
    }
}

/// One entity, as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Workflow(Workflow),
    Integration(Integration),
    Settings(Settings),
}

/// The result of reading one file on its own.
#[derive(Debug, Clone)]
pub struct FileLoad {
    /// The positioned tree, when the file is well-formed YAML.
    pub tree: Option<Node>,
    /// The entity, when the file has no errors of its own.
    pub entity: Option<Entity>,
    pub errors: Vec<ConfigError>,
}

/// Parses and checks one file. `bytes` are its whole content.
pub fn load_file(role: FileRole, path: &str, bytes: &[u8], env: Env<'_>) -> FileLoad {
    let (tree, mut errors) = yaml::parse(bytes, path, &Limits::default());
    let parsed = errors.is_empty();
    let entity = if parsed {
        let (entity, more) = match role {
            FileRole::Workflow => {
                let (w, e) = schema::workflow(tree.as_ref(), path);
                (w.map(Entity::Workflow), e)
            }
            FileRole::Integration(kind) => {
                let (i, e) = schema::integration(kind, tree.as_ref(), path, env);
                (i.map(Entity::Integration), e)
            }
            FileRole::Settings => {
                let (s, e) = schema::settings(tree.as_ref(), path);
                (s.map(Entity::Settings), e)
            }
        };
        errors.extend(more);
        entity
    } else {
        // Tell which entity a broken file belongs to, where the path says.
        if let FileRole::Integration(kind) = role {
            for e in &mut errors {
                *e = e.clone().for_entity(EntityKind::Integration, kind.as_str());
            }
        }
        None
    };
    // Messages name keys and types, not values; should one still carry a
    // secret value or a URL's userinfo, it is masked here, where every
    // diagnostic of a file passes.
    if !errors.is_empty() {
        let masker = Masker::new([tree.as_ref()]);
        for e in &mut errors {
            e.message = masker.mask_line(&e.message);
        }
        errors = mask::with_excerpts(errors, &String::from_utf8_lossy(bytes), tree.as_ref());
    }
    FileLoad {
        tree,
        entity,
        errors,
    }
}

/// A whole configuration: every valid entity, keyed by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Workflow id → (file, workflow).
    pub workflows: BTreeMap<String, (String, Workflow)>,
    pub integrations: BTreeMap<IntegrationKind, (String, Integration)>,
    pub settings: Settings,
}

/// Reads every file of `files` (path → bytes) that qa-reload knows, checks
/// them together and returns the valid entities and all diagnostics, sorted
/// by file and position.
pub fn build(files: &BTreeMap<String, Vec<u8>>, env: Env<'_>) -> (Config, Vec<ConfigError>) {
    let mut config = Config::default();
    let mut errors = Vec::new();
    let mut configured = BTreeSet::new();
    for (path, bytes) in files {
        let Some(role) = FileRole::of(path) else {
            continue;
        };
        if let FileRole::Integration(kind) = role {
            configured.insert(kind);
        }
        let load = load_file(role, path, bytes, env);
        errors.extend(load.errors);
        match load.entity {
            Some(Entity::Workflow(w)) => {
                let id = w.id.clone();
                match config.workflows.get(&id) {
                    Some((first, _)) => errors.push(duplicate_id(path, &w, first)),
                    None => {
                        config.workflows.insert(id, (path.clone(), w));
                    }
                }
            }
            Some(Entity::Integration(i)) => {
                config.integrations.insert(i.id, (path.clone(), i));
            }
            Some(Entity::Settings(s)) => config.settings = s,
            None => {}
        }
    }
    let broken = validate(&config, &configured);
    for e in &broken {
        if let Some(entity) = &e.entity {
            config.workflows.remove(&entity.id);
        }
    }
    errors.extend(broken);
    errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    (config, errors)
}

/// The error for a workflow whose id another file already uses.
pub fn duplicate_id(path: &str, w: &Workflow, first_file: &str) -> ConfigError {
    ConfigError::new(
        path,
        w.id_pos,
        ErrorKind::Reference,
        format!(
            "workflow id `{}` is already used by {first_file}; ids must be unique",
            w.id
        ),
    )
    .for_entity(EntityKind::Workflow, w.id.clone())
}

/// Checks what spans files: every step's `integration` names a known,
/// configured integration (`configured`: those whose config file exists,
/// valid or not). Each error names the workflow it makes invalid.
pub fn validate(config: &Config, configured: &BTreeSet<IntegrationKind>) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (file, w) in config.workflows.values() {
        errors.extend(workflow_references(file, w, configured));
    }
    errors
}

/// The reference errors of one workflow.
pub fn workflow_references(
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
    use super::*;

    #[test]
    fn roles_by_path() {
        assert_eq!(FileRole::of("workflows/a.yaml"), Some(FileRole::Workflow));
        assert_eq!(
            FileRole::of("workflows/x/y/b.yml"),
            Some(FileRole::Workflow)
        );
        assert_eq!(FileRole::of("workflows/a.yaml.swp"), None);
        assert_eq!(FileRole::of("workflows/.#a.yaml"), None);
        assert_eq!(
            FileRole::of("config/jira_config.yaml"),
            Some(FileRole::Integration(IntegrationKind::Jira))
        );
        assert_eq!(
            FileRole::of("config/hot_reload.yaml"),
            Some(FileRole::Settings)
        );
        assert_eq!(FileRole::of("config/slack_config.yaml"), None);
        assert_eq!(FileRole::of("README.md"), None);
    }

    #[test]
    fn references_and_duplicate_ids_span_files() {
        let mut files = BTreeMap::new();
        let step = |integration: &str| {
            format!(
                "name: W\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 1\n    integration: {integration}\n"
            )
        };
        files.insert("workflows/a.yaml".to_string(), step("jira").into_bytes());
        files.insert("workflows/b.yaml".to_string(), step("postman").into_bytes());
        files.insert(
            "workflows/c.yaml".to_string(),
            format!("id: a\n{}", step("jira")).into_bytes(),
        );
        files.insert(
            "config/jira_config.yaml".to_string(),
            b"enabled: false\nbase_url: https://x.example\nemail: a@b.c\napi_token: t\n".to_vec(),
        );
        let (config, errors) = build(&files, &|_| None);
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "workflows/b.yaml:6:18: reference: step `s` uses integration `postman`, which is not configured; add config/postman_config.yaml",
                "workflows/c.yaml:1:5: reference: workflow id `a` is already used by workflows/a.yaml; ids must be unique",
            ]
        );
        assert_eq!(config.workflows.keys().collect::<Vec<_>>(), ["a"]);
        assert!(config.integrations.contains_key(&IntegrationKind::Jira));
    }
}
