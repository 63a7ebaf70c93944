//! Phase `patches`: one [`Patch`] per entity whose version in force changed,
//! from the old served text to the new (so a JSON Patch always applies to
//! what clients hold), each with `differs_from_head`.

use std::sync::Arc;

use super::resolve::Resolved;
use super::{Trees, par_map};
use crate::diagnostic::EntityKind;
use crate::diff::patch::{self, Patch, PatchKind, Version};
use crate::engine::snapshot::{Served, Snapshot};
use crate::git::GitRepo;
use crate::load::mask::Masker;
use crate::load::node::Node;
use crate::load::yaml::{self, Limits};
use crate::model::{IntegrationKind, Settings};

/// An entity that could not be turned into its JSON document: its patch
/// would be wrong, so the batch is not applied.
#[derive(Debug, thiserror::Error)]
#[error("{kind} `{id}`: cannot serialise the entity: {message}")]
pub struct PatchError {
    kind: EntityKind,
    id: String,
    message: String,
}

/// `trees` are the batch's parsed files; each is moved into the one patch
/// that needs it and dropped as soon as that patch is built. `secrets`
/// masks every file's secret values: each patch masks them as well as its
/// own file's.
pub(super) fn patches(
    git: Option<&GitRepo>,
    current: &Snapshot,
    resolved: &Resolved,
    mut trees: Trees,
    secrets: &Arc<Masker>,
) -> Result<Vec<Patch>, PatchError> {
    let mut jobs: Vec<PatchJob> = Vec::new();
    for id in &resolved.affected {
        let (old, new) = (
            current.workflows.get(id.as_str()),
            resolved.workflows.get(id.as_str()),
        );
        if !same(old, new) {
            jobs.push(PatchJob::new(EntityKind::Workflow, id, old, new)?);
        }
    }
    for kind in IntegrationKind::ALL {
        let (old, new) = (
            current.integrations.get(&kind),
            resolved.integrations.get(&kind),
        );
        if !same(old, new) {
            jobs.push(PatchJob::new(
                EntityKind::Integration,
                kind.as_str(),
                old,
                new,
            )?);
        }
    }
    if resolved.settings_changed {
        jobs.push(PatchJob::new::<Settings>(
            EntityKind::Settings,
            "hot_reload",
            resolved.settings_before.as_ref(),
            resolved.settings_after.as_ref(),
        )?);
    }
    for job in &mut jobs {
        job.new_tree = job.new.as_ref().and_then(|s| trees.remove(&*s.file));
    }
    drop(trees);
    let make = move |mut job: PatchJob| -> Option<Patch> {
        let mut p = job.build(secrets)?;
        if let Some(git) = git {
            let differs = match p.op {
                PatchKind::Removed => git.in_head(&p.file),
                _ => job.new.as_ref().map_or(Ok(true), |side| {
                    git.differs_from_head(&p.file, side.text.as_bytes())
                }),
            };
            p.differs_from_head = differs.ok();
        }
        Some(p)
    };
    let mut patches: Vec<Patch> = par_map(jobs, &make).into_iter().flatten().collect();
    patches.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Ok(patches)
}

fn same<T>(a: Option<&Arc<Served<T>>>, b: Option<&Arc<Served<T>>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// One side of a patch: the file and text of a version, and its JSON.
struct Side {
    file: Arc<str>,
    text: Arc<str>,
    json: serde_json::Value,
}

/// A patch to compute: an entity's version before and after.
struct PatchJob {
    kind: EntityKind,
    id: String,
    old: Option<Side>,
    new: Option<Side>,
    /// The new file's tree, when this batch parsed it.
    new_tree: Option<Node>,
}

impl PatchJob {
    fn new<T: serde::Serialize>(
        kind: EntityKind,
        id: &str,
        old: Option<&Arc<Served<T>>>,
        new: Option<&Arc<Served<T>>>,
    ) -> Result<Self, PatchError> {
        let side = |served: Option<&Arc<Served<T>>>| -> Result<Option<Side>, PatchError> {
            let Some(served) = served else {
                return Ok(None);
            };
            let json = serde_json::to_value(&*served.value).map_err(|e| PatchError {
                kind,
                id: id.to_string(),
                message: e.to_string(),
            })?;
            Ok(Some(Side {
                file: Arc::clone(&served.file),
                text: Arc::clone(&served.text),
                json,
            }))
        };
        Ok(PatchJob {
            kind,
            id: id.to_string(),
            old: side(old)?,
            new: side(new)?,
            new_tree: None,
        })
    }

    /// The patch; the tree of a file read in this batch is used (and
    /// dropped once the patch is built), the others are parsed again from
    /// their text.
    fn build(&mut self, secrets: &Arc<Masker>) -> Option<Patch> {
        if let (Some(old), Some(new)) = (&self.old, &self.new)
            && old.text == new.text
            && old.file != new.file
        {
            return Some(patch::file_moved(self.kind, &self.id, &new.file));
        }
        let parse = |text: &str| yaml::parse(text.as_bytes(), "", &Limits::default()).0;
        let old_tree = self.old.as_ref().and_then(|s| parse(&s.text));
        let new_tree = match self.new_tree.take() {
            Some(tree) => Some(tree),
            None => self.new.as_ref().and_then(|s| parse(&s.text)),
        };
        let file = self
            .new
            .as_ref()
            .or(self.old.as_ref())
            .map_or_else(String::new, |s| s.file.to_string());
        fn version<'a>(side: &'a Side, tree: Option<&'a Node>) -> Version<'a> {
            Version {
                text: &side.text,
                tree,
                json: Some(&side.json),
            }
        }
        let old = self.old.as_ref().map(|s| version(s, old_tree.as_ref()));
        let new = self.new.as_ref().map(|s| version(s, new_tree.as_ref()));
        let masker = Masker::new([old_tree.as_ref(), new_tree.as_ref()]).and(Arc::clone(secrets));
        patch::entity_patch_masked(self.kind, &self.id, &file, old, new, &masker)
    }
}
