//! Stage `load`: a set of files to one validated configuration.
//!
//! `load_file` reads one file in isolation; `build` resolves a whole set of
//! files with the rule of `load::resolve` (references, unique ids). Pure:
//! file bytes and the environment come in as arguments; no I/O, never panics.

use std::collections::BTreeMap;

use crate::diagnostic::{ConfigError, EntityKind};
use crate::load::mask::{self, Masker};
use crate::load::node::Node;
use crate::load::paths::PathFilter;
use crate::load::resolve::{self, FileView, Pick};
use crate::load::schema::{self, Env};
use crate::load::yaml::{self, Limits};
use crate::model::{
    Integration, IntegrationFields, IntegrationKind, SETTINGS_FILE, Settings, Workflow,
};

/// What a file is, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// Parses and checks one file. `bytes` are its whole content. Its
/// diagnostics are masked with the file's own secrets only; [`load_files`]
/// masks with the secrets of every file it loads.
pub fn load_file(role: FileRole, path: &str, bytes: &[u8], env: Env<'_>) -> FileLoad {
    let mut load = load_unmasked(role, path, bytes, env);
    let masker = Masker::new([load.tree.as_ref()]);
    mask_errors(&mut load, &masker, bytes);
    load
}

/// [`load_file`] without masking its diagnostics.
fn load_unmasked(role: FileRole, path: &str, bytes: &[u8], env: Env<'_>) -> FileLoad {
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
        // Parsed, so `errors` is empty: take the schema's list as it is
        // (a file of 95,000 errors is not copied).
        errors = more;
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
    FileLoad {
        tree,
        entity,
        errors,
    }
}

/// Masks a file's diagnostics and adds their excerpts. Messages name keys
/// and types, not values; should one still carry a secret value or a URL's
/// userinfo, it is masked here, where every diagnostic of a file passes.
fn mask_errors(load: &mut FileLoad, masker: &Masker, bytes: &[u8]) {
    if load.errors.is_empty() {
        return;
    }
    for e in &mut load.errors {
        masker.mask_line_in_place(&mut e.message);
    }
    let text = String::from_utf8_lossy(bytes);
    let errors = std::mem::take(&mut load.errors);
    load.errors = mask::with_excerpts(errors, masker, &text, load.tree.as_ref());
}

/// A masker over the secret values every loaded file (of every given
/// tree) holds, for masking any file's text:
/// each file's secret scalars as written, and the value each integration's
/// credential takes (`${NAME}` substituted). A value shorter
/// than four characters is not searched for (see [`Masker`]).
pub fn masker_of<'a>(trees: impl IntoIterator<Item = &'a BTreeMap<String, FileLoad>>) -> Masker {
    let loads: Vec<&FileLoad> = trees.into_iter().flat_map(BTreeMap::values).collect();
    let values = loads.iter().filter_map(|l| match &l.entity {
        Some(Entity::Integration(i)) => credential(i),
        _ => None,
    });
    Masker::with_values(loads.iter().map(|l| l.tree.as_ref()), values)
}

/// The secret values one loaded file holds, to be searched for in the
/// text of every other file: its secret scalars as written and, for an
/// integration, its credential's value (`${NAME}` substituted). Values
/// shorter than four characters are left out (see [`Masker`]). Sorted, no
/// repeats.
pub fn secrets_of(load: &FileLoad) -> Vec<String> {
    let mut out = load
        .tree
        .as_ref()
        .map(mask::secret_values)
        .unwrap_or_default();
    if let Some(Entity::Integration(i)) = &load.entity
        && let Some(value) = credential(i)
        && value.trim().chars().count() >= mask::MIN_NEEDLE_CHARS
    {
        out.push(value.trim().to_string());
    }
    out.sort();
    out.dedup();
    out
}

/// The value of an integration's credential (`${NAME}` substituted).
/// Other settings read from the environment (a base URL, say) are masked
/// where they are served, but their values are not secrets to hunt for in
/// other files.
fn credential(i: &Integration) -> Option<&str> {
    match &i.fields {
        IntegrationFields::Jira { api_token, .. } => api_token.expose(),
        IntegrationFields::Postman { api_key, .. } => api_key.expose(),
        IntegrationFields::Testmo { api_token, .. } => api_token.expose(),
    }
}

/// The settings a settings file's content sets: `None` for `bytes` means
/// the tree has no settings file (the defaults). `None` back when the file
/// does not load; whoever reads a tree by its settings then keeps what it
/// had (`serve` the globs in force, `check` the defaults, `diff`'s new side
/// the old side's), and the file's errors are reported with its load.
pub fn settings_of(bytes: Option<&[u8]>) -> Option<Settings> {
    let Some(bytes) = bytes else {
        return Some(Settings::default());
    };
    match load_file(FileRole::Settings, SETTINGS_FILE, bytes, &|_| None).entity {
        Some(Entity::Settings(s)) => Some(s),
        _ => None,
    }
}

/// The path filter of a tree whose settings file holds `bytes` (see
/// [`settings_of`]): the one rule by which `serve`, `check` and `diff`
/// decide which files of a tree they load.
pub fn filter_of(bytes: Option<&[u8]>) -> Option<PathFilter> {
    let settings = settings_of(bytes)?;
    // A glob that does not compile is a schema error, so this holds.
    PathFilter::new(&settings.watch, &settings.ignore).ok()
}

/// A whole configuration: every valid entity, keyed by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Workflow id → (file, workflow).
    pub workflows: BTreeMap<String, (String, Workflow)>,
    pub integrations: BTreeMap<IntegrationKind, (String, Integration)>,
    pub settings: Settings,
}

/// Reads every file of `files` (path → bytes) that qa-reload knows, resolves
/// them together with no history (see [`resolve`]) and returns the entities
/// in force and all diagnostics, sorted by file and position.
pub fn build(files: &BTreeMap<String, Vec<u8>>, env: Env<'_>) -> (Config, Vec<ConfigError>) {
    resolve_loads(&load_files(files, env), &resolve::Previous::default())
}

/// Loads every file of `files` that qa-reload knows, each on its own, and
/// masks every diagnostic with the secrets of all of them (a config file's
/// token written again in a workflow is masked there too).
pub fn load_files(files: &BTreeMap<String, Vec<u8>>, env: Env<'_>) -> BTreeMap<String, FileLoad> {
    let mut loads: BTreeMap<String, FileLoad> = files
        .iter()
        .filter_map(|(path, bytes)| {
            let role = FileRole::of(path)?;
            Some((path.clone(), load_unmasked(role, path, bytes, env)))
        })
        .collect();
    // One automaton over every file's secrets, built once.
    let masker = masker_of([&loads]);
    for (path, load) in &mut loads {
        if let Some(bytes) = files.get(path) {
            mask_errors(load, &masker, bytes);
        }
    }
    loads
}

/// Resolves loaded files against `previous`: which file serves each entity
/// (as [`resolve::Pick`]s) and every diagnostic (the files' own and the
/// cross-file ones), sorted by file and position.
pub fn resolution(
    loads: &BTreeMap<String, FileLoad>,
    previous: &resolve::Previous,
) -> (resolve::Resolution, Vec<ConfigError>) {
    let views: BTreeMap<String, FileView<'_>> = loads
        .iter()
        .filter_map(|(path, load)| Some((path.clone(), view(FileRole::of(path)?, load))))
        .collect();
    let resolution = resolve::resolve(&views, previous);
    let mut errors: Vec<ConfigError> = loads.values().flat_map(|l| l.errors.clone()).collect();
    errors.extend(resolution.errors.iter().cloned());
    resolve::sort_errors(&mut errors);
    (resolution, errors)
}

/// What resolution sees of one file's load.
pub fn view(role: FileRole, load: &FileLoad) -> FileView<'_> {
    match (role, &load.entity) {
        (FileRole::Workflow, Some(Entity::Workflow(w))) => FileView::Workflow(Some(w)),
        (FileRole::Workflow, _) => FileView::Workflow(None),
        (FileRole::Integration(kind), Some(Entity::Integration(i))) => {
            FileView::Integration(kind, Some(i))
        }
        (FileRole::Integration(kind), _) => FileView::Integration(kind, None),
        (FileRole::Settings, Some(Entity::Settings(s))) => FileView::Settings(Some(s)),
        (FileRole::Settings, _) => FileView::Settings(None),
    }
}

/// Resolves loaded files (path → load) against `previous`. Entities picked
/// as [`resolve::Pick::Kept`] are not in the loads; they are left out (the
/// caller holds them).
pub fn resolve_loads(
    loads: &BTreeMap<String, FileLoad>,
    previous: &resolve::Previous,
) -> (Config, Vec<ConfigError>) {
    let (resolution, errors) = resolution(loads, previous);
    let entity = |file: &str| loads.get(file).and_then(|l| l.entity.as_ref());
    let mut config = Config::default();
    for (id, pick) in &resolution.workflows {
        if let Pick::Read(file) = pick
            && let Some(Entity::Workflow(w)) = entity(file)
        {
            config
                .workflows
                .insert(id.clone(), (file.clone(), w.clone()));
        }
    }
    for (kind, pick) in &resolution.integrations {
        if let Pick::Read(file) = pick
            && let Some(Entity::Integration(i)) = entity(file)
        {
            config.integrations.insert(*kind, (file.clone(), i.clone()));
        }
    }
    if let Some(Pick::Read(file)) = &resolution.settings
        && let Some(Entity::Settings(s)) = entity(file)
    {
        config.settings = s.clone();
    }
    (config, errors)
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
    fn the_settings_file_decides_the_filter_or_keeps_none() {
        let drafts = filter_of(Some(b"ignore: [\"workflows/drafts/**\"]\n")).expect("valid");
        assert!(!drafts.matches("workflows/drafts/a.yaml"));
        assert!(drafts.matches("workflows/a.yaml"));
        let none = filter_of(None).expect("defaults");
        assert!(none.matches("workflows/drafts/a.yaml"));
        assert!(filter_of(Some(b"ignore: [\"workflows/[a\"]\n")).is_none());
        assert!(filter_of(Some(b"debounce_ms: [\n")).is_none());
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
