//! Stage `diff`: two sets of configuration files to the patches between them.
//!
//! Used by `qa-reload diff` on two git revisions (or a revision and the
//! working tree). Files pair up by path: one entity per file. Pure: the
//! bytes come in, nothing is read here.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{ConfigError, EntityKind};
use crate::diff::patch::{self, Patch, Version};
use crate::load::config::{self, Entity, FileLoad, FileRole};
use crate::load::schema::{Env, file_stem};

/// The patches turning `old` into `new` (path → bytes), in path order, and
/// the diagnostics of the new side.
pub fn diff_files(
    old: &BTreeMap<String, Vec<u8>>,
    new: &BTreeMap<String, Vec<u8>>,
    env: Env<'_>,
) -> (Vec<Patch>, Vec<ConfigError>) {
    let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut patches = Vec::new();
    for path in paths {
        let Some(role) = FileRole::of(path) else {
            continue;
        };
        let (a, b) = (old.get(path), new.get(path));
        if a == b {
            continue;
        }
        let load = |bytes: &Vec<u8>| config::load_file(role, path, bytes, env);
        let (la, lb) = (a.map(load), b.map(load));
        let (ta, tb) = (
            a.map(|x| String::from_utf8_lossy(x)),
            b.map(|x| String::from_utf8_lossy(x)),
        );
        let (ja, jb) = (
            la.as_ref().and_then(entity_json),
            lb.as_ref().and_then(entity_json),
        );
        let (kind, id) = identity(role, path, [&lb, &la]);
        let va = version(ta.as_deref(), &la, ja.as_ref());
        let vb = version(tb.as_deref(), &lb, jb.as_ref());
        if let Some(p) = patch::entity_patch(kind, &id, path, va, vb) {
            patches.push(p);
        }
    }
    let (_, errors) = config::build(new, env);
    (patches, errors)
}

fn version<'a>(
    text: Option<&'a str>,
    load: &'a Option<FileLoad>,
    json: Option<&'a serde_json::Value>,
) -> Option<Version<'a>> {
    text.map(|text| Version {
        text,
        tree: load.as_ref().and_then(|l| l.tree.as_ref()),
        json,
    })
}

/// The entity's JSON document (secrets masked by the model).
pub fn entity_json(load: &FileLoad) -> Option<serde_json::Value> {
    match load.entity.as_ref()? {
        Entity::Workflow(w) => serde_json::to_value(w).ok(),
        Entity::Integration(i) => serde_json::to_value(i).ok(),
        Entity::Settings(s) => serde_json::to_value(s).ok(),
    }
}

/// The kind and id of the entity a file holds: from the first version that
/// parsed, else from the path.
pub fn identity(role: FileRole, path: &str, loads: [&Option<FileLoad>; 2]) -> (EntityKind, String) {
    match role {
        FileRole::Integration(kind) => (EntityKind::Integration, kind.as_str().to_string()),
        FileRole::Settings => (EntityKind::Settings, "hot_reload".to_string()),
        FileRole::Workflow => {
            let id = loads
                .into_iter()
                .flatten()
                .find_map(|l| match &l.entity {
                    Some(Entity::Workflow(w)) => Some(w.id.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| file_stem(path).to_string());
            (EntityKind::Workflow, id)
        }
    }
}
