//! Stage `diff`: two sets of configuration files to the patches between them.
//!
//! Used by `qa-reload diff` on two git revisions (or a revision and the
//! working tree). It speaks entities, like `serve`: each side is resolved
//! with the rule of `load::resolve` (the new side with the old side as its
//! history), and entities pair up by (kind, id). A file renamed with the
//! same id is one `modified` entity whose `file` changed; an id change is
//! `removed` + `added`; a new version that does not load is an error (with
//! its position) and the old entity stays, unchanged. Pure: the bytes come
//! in, nothing is read here.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{ConfigError, EntityKind};
use crate::diff::patch::{self, Patch, Version};
use crate::json;
use crate::load::config::{self, Entity, FileLoad};
use crate::load::mask::Masker;
use crate::load::resolve::{Pick, Previous, Resolution};
use crate::load::schema::Env;
use crate::model::IntegrationKind;

/// The patches turning `old` into `new` (path → bytes), by kind and id,
/// and every diagnostic of the new side.
pub fn diff_files(
    old: &BTreeMap<String, Vec<u8>>,
    new: &BTreeMap<String, Vec<u8>>,
    env: Env<'_>,
) -> (Vec<Patch>, Vec<ConfigError>) {
    let (old_loads, new_loads) = (config::load_files(old, env), config::load_files(new, env));
    let (old_res, _) = config::resolution(&old_loads, &Previous::default());
    let (new_res, errors) = config::resolution(&new_loads, &previous_of(&old_res));
    let old_side = Side {
        files: old,
        loads: &old_loads,
    };
    let new_side = Side {
        files: new,
        loads: &new_loads,
    };
    // One masker for both sides: a secret of any file, on either side, is
    // masked wherever it is written.
    let masker = config::masker_of([&old_loads, &new_loads]);
    let mut patches = Vec::new();
    for (kind, id) in entities(&old_res).union(&entities(&new_res)) {
        let a = pick(&old_res, *kind, id).map(|p| (old_side, p.file().to_string()));
        let b = pick(&new_res, *kind, id).map(|p| match p {
            Pick::Read(file) => (new_side, file.clone()),
            // The last good version stays: the old side's.
            Pick::Kept(file) => (old_side, file.clone()),
        });
        if let Some(p) = entity_patch(*kind, id, a, b, &masker) {
            patches.push(p);
        }
    }
    (patches, errors)
}

/// One side of the diff: its files and their loads.
#[derive(Clone, Copy)]
struct Side<'a> {
    files: &'a BTreeMap<String, Vec<u8>>,
    loads: &'a BTreeMap<String, FileLoad>,
}

fn entity_patch(
    kind: EntityKind,
    id: &str,
    a: Option<(Side<'_>, String)>,
    b: Option<(Side<'_>, String)>,
    masker: &Masker,
) -> Option<Patch> {
    if let (Some((_, fa)), Some((_, fb))) = (&a, &b)
        && fa != fb
        && text(a.as_ref()) == text(b.as_ref())
    {
        return Some(patch::file_moved(kind, id, fb));
    }
    let (ta, tb) = (text(a.as_ref()), text(b.as_ref()));
    let (la, lb) = (load(a.as_ref()), load(b.as_ref()));
    let (ja, jb) = (la.and_then(entity_json), lb.and_then(entity_json));
    let file = b.as_ref().or(a.as_ref()).map(|(_, f)| f.clone())?;
    let va = ta.as_deref().map(|text| Version {
        text,
        tree: la.and_then(|l| l.tree.as_ref()),
        json: ja.as_ref(),
    });
    let vb = tb.as_deref().map(|text| Version {
        text,
        tree: lb.and_then(|l| l.tree.as_ref()),
        json: jb.as_ref(),
    });
    patch::entity_patch_masked(kind, id, &file, va, vb, masker)
}

fn text(side: Option<&(Side<'_>, String)>) -> Option<String> {
    let (s, file) = side?;
    s.files
        .get(file)
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

fn load<'a>(side: Option<&(Side<'a>, String)>) -> Option<&'a FileLoad> {
    let (s, file) = side?;
    s.loads.get(file)
}

/// The old side's entities in force, as the new side's history.
fn previous_of(r: &Resolution) -> Previous {
    Previous {
        workflows: r
            .workflows
            .iter()
            .map(|(id, p)| (id.clone(), p.file().to_string()))
            .collect(),
        integrations: r.integrations.keys().copied().collect(),
        settings: r.settings.is_some(),
    }
}

fn entities(r: &Resolution) -> BTreeSet<(EntityKind, String)> {
    let mut out: BTreeSet<(EntityKind, String)> = r
        .workflows
        .keys()
        .map(|id| (EntityKind::Workflow, id.clone()))
        .collect();
    out.extend(
        r.integrations
            .keys()
            .map(|k| (EntityKind::Integration, k.as_str().to_string())),
    );
    if r.settings.is_some() {
        out.insert((EntityKind::Settings, "hot_reload".to_string()));
    }
    out
}

fn pick<'r>(r: &'r Resolution, kind: EntityKind, id: &str) -> Option<&'r Pick> {
    match kind {
        EntityKind::Workflow => r.workflows.get(id),
        EntityKind::Integration => r.integrations.get(&id.parse::<IntegrationKind>().ok()?),
        EntityKind::Settings => r.settings.as_ref(),
    }
}

/// The entity's JSON document (secrets masked by the model). `None` when
/// the file has no entity.
pub fn entity_json(load: &FileLoad) -> Option<serde_json::Value> {
    Some(match load.entity.as_ref()? {
        Entity::Workflow(w) => json::to_value(w),
        Entity::Integration(i) => json::to_value(i),
        Entity::Settings(s) => json::to_value(s),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::diff::patch::PatchKind;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        list.iter()
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect()
    }

    fn wf(id: &str, minutes: u32) -> String {
        format!(
            "id: {id}\nname: N\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: {minutes}\n"
        )
    }

    fn run(old: &[(&str, &str)], new: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
        let (patches, errors) = diff_files(&files(old), &files(new), &|_| None);
        (
            patches
                .iter()
                .map(|p| format!("{} {} {} {}", p.op.as_str(), p.kind, p.id, p.file))
                .collect(),
            errors.iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn entities_pair_by_kind_and_id() {
        let (a, a2) = (wf("login", 10), wf("login", 15));
        let (patches, _) = run(
            &[("workflows/login.yaml", &a)],
            &[("workflows/a-login.yaml", &a)],
        );
        assert_eq!(patches, ["modified workflow login workflows/a-login.yaml"]);
        let (patches, _) = run(
            &[("workflows/login.yaml", &a)],
            &[("workflows/x/login.yaml", &a2)],
        );
        assert_eq!(patches, ["modified workflow login workflows/x/login.yaml"]);

        let (patches, _) = run(
            &[("workflows/a.yaml", &wf("x", 10))],
            &[("workflows/a.yaml", &wf("y", 10))],
        );
        assert_eq!(
            patches,
            [
                "removed workflow x workflows/a.yaml",
                "added workflow y workflows/a.yaml"
            ]
        );
    }

    #[test]
    fn null_absent_and_empty_are_no_change() {
        let spelled = "id: x\nname: N\ndescription: null\nticket_types: []\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 1\n    checklist: []\n    integration: ~\n";
        let bare = "id: x\nname: N\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 1\n";
        let (patches, errors) = diff_files(
            &files(&[("workflows/a.yaml", spelled)]),
            &files(&[("workflows/a.yaml", bare)]),
            &|_| None,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(patches.len(), 1, "the text changed");
        assert_eq!(patches[0].op, PatchKind::Modified);
        assert!(patches[0].changes.is_empty(), "{:?}", patches[0].changes);
        assert!(
            patches[0].json_patch.is_empty(),
            "{:?}",
            patches[0].json_patch
        );
    }

    #[test]
    fn a_broken_new_version_is_an_error_and_the_old_entity_stays() {
        let (patches, errors) = run(
            &[("workflows/a.yaml", &wf("x", 10))],
            &[("workflows/a.yaml", "id: x\nname: \"bad \\q escape\"\n")],
        );
        assert!(patches.is_empty(), "{patches:?}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("workflows/a.yaml:2:"), "{errors:?}");

        let two_docs = format!("{}---\nname: other\n", wf("x", 10));
        let (patches, errors) = run(
            &[("workflows/a.yaml", &wf("x", 10))],
            &[("workflows/a.yaml", &two_docs)],
        );
        assert!(patches.is_empty(), "{patches:?}");
        assert!(errors[0].starts_with("workflows/a.yaml:7:"), "{errors:?}");
    }

    #[test]
    fn the_old_side_is_the_new_sides_history() {
        // b.yaml served `x`; a.yaml, first by path, duplicates it.
        let (patches, errors) = run(
            &[("workflows/b.yaml", &wf("x", 10))],
            &[
                ("workflows/a.yaml", &wf("x", 20)),
                ("workflows/b.yaml", &wf("x", 10)),
            ],
        );
        assert!(patches.is_empty(), "{patches:?}");
        assert_eq!(
            errors,
            [
                "workflows/a.yaml:1:5: reference: workflow id `x` is already used by workflows/b.yaml; ids must be unique"
            ]
        );
        let (patches, _) = run(
            &[("workflows/a.yaml", &wf("x", 10))],
            &[("workflows/b.yaml", &wf("x", 10))],
        );
        assert_eq!(patches, ["modified workflow x workflows/b.yaml"]);
        assert_eq!(
            diff_files(
                &files(&[("workflows/a.yaml", &wf("x", 10))]),
                &files(&[("workflows/b.yaml", &wf("x", 10))]),
                &|_| None
            )
            .0[0]
                .op,
            PatchKind::Modified
        );
    }
}
