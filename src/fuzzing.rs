//! The bodies of the fuzz targets (`fuzz/`), here so that `cargo test` can
//! replay every input the fuzzer found (`tests/fixtures/fuzz/`) without the
//! nightly toolchain. Not part of the program.

use crate::diagnostic::EntityKind;
use crate::diff::json_patch;
use crate::diff::patch;
use crate::diff::semantic;
use crate::load::config::{self, Entity, FileRole};
use crate::model::IntegrationKind;

/// The role a fuzz input's first byte picks, and the path that goes with it.
fn role_of(byte: u8) -> (FileRole, &'static str) {
    match byte % 5 {
        0 => (
            FileRole::Integration(IntegrationKind::Jira),
            "config/jira_config.yaml",
        ),
        1 => (
            FileRole::Integration(IntegrationKind::Postman),
            "config/postman_config.yaml",
        ),
        2 => (
            FileRole::Integration(IntegrationKind::Testmo),
            "config/testmo_config.yaml",
        ),
        3 => (FileRole::Settings, "config/hot_reload.yaml"),
        _ => (FileRole::Workflow, "workflows/fuzz.yaml"),
    }
}

/// Environment for `${VAR}`: a few set, the rest unset.
fn env(name: &str) -> Option<String> {
    name.len()
        .is_multiple_of(2)
        .then(|| format!("value-of-{name}"))
}

/// Loads `data[1..]` in the role `data[0]` picks. Panics (a finding) when a
/// diagnostic has no position, when an entity comes with an error, or when
/// the semantic diff of the tree with itself is not empty.
pub fn load(data: &[u8]) {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let (role, path) = role_of(first);
    let load = config::load_file(role, path, bytes, &env);
    for e in &load.errors {
        assert!(e.line >= 1 && e.column >= 1, "no position: {e}");
        assert_eq!(e.file, path, "{e}");
    }
    if load.entity.is_some() {
        assert!(
            load.errors.iter().all(|e| !e.is_error()),
            "an entity with errors: {:?}",
            load.errors
        );
    }
    if let Some(tree) = &load.tree {
        let same = semantic::diff(Some(tree), Some(tree));
        assert!(same.is_empty(), "a tree differs from itself: {same:?}");
    }
}

/// Splits `data` into two workflow files (the first two bytes give the
/// length of the first), diffs them every way the program does, and returns
/// the two entity JSON documents and the JSON Patch between them when both
/// load: the caller applies the patch with an independent implementation.
pub fn diff_roundtrip(
    data: &[u8],
) -> Option<(serde_json::Value, serde_json::Value, serde_json::Value)> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (a, b) = rest.split_at(len);
    let path = "workflows/fuzz.yaml";
    let la = config::load_file(FileRole::Workflow, path, a, &env);
    let lb = config::load_file(FileRole::Workflow, path, b, &env);
    let json = |l: &config::FileLoad| match &l.entity {
        Some(Entity::Workflow(w)) => serde_json::to_value(w).ok(),
        _ => None,
    };
    let (ja, jb) = (json(&la), json(&lb));
    let (ta, tb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let version = |text: &'_ str, l: &'_ config::FileLoad, j: Option<&'_ serde_json::Value>| {
        (text.to_string(), l.tree.clone(), j.cloned())
    };
    let (va, vb) = (
        version(&ta, &la, ja.as_ref()),
        version(&tb, &lb, jb.as_ref()),
    );
    let p = patch::entity_patch(
        EntityKind::Workflow,
        "fuzz",
        path,
        Some(patch::Version {
            text: &va.0,
            tree: va.1.as_ref(),
            json: va.2.as_ref(),
        }),
        Some(patch::Version {
            text: &vb.0,
            tree: vb.1.as_ref(),
            json: vb.2.as_ref(),
        }),
    );
    let _ = semantic::diff(lb.tree.as_ref(), la.tree.as_ref());
    let (ja, jb) = (ja?, jb?);
    let ops = json_patch::diff(&ja, &jb);
    if let Some(p) = &p {
        assert_eq!(p.json_patch, ops, "the entity patch carries the JSON Patch");
    } else {
        assert_eq!(ja, jb, "the same text gives the same entity");
    }
    Some((ja, jb, json_patch::to_json_array(&ops)))
}

/// Writes a secret (from the input up to its first NUL: letters and digits
/// only, `Qz` in front) under `api_token:` in the scalar style the next byte
/// picks, between a prefix and a suffix (the rest, split at the next NUL),
/// and masks the text as every output does. Panics (a finding) when the
/// masked text loses or gains a line break, or still shows the secret where
/// it is one: anywhere, when the file does not parse (the lexical rule must
/// hide the `api_token` line), or when the tree holds it under a
/// secret-looking key. Inputs whose prefix or suffix already hold the secret
/// are skipped: there it may be ordinary text.
pub fn mask(data: &[u8]) {
    use crate::load::mask::Masker;
    use crate::load::node::{Node, Value};
    use crate::load::yaml::{Limits, parse};

    let mut parts = data.splitn(3, |&b| b == 0);
    let secret: String = parts
        .next()
        .unwrap_or_default()
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(|&b| char::from(b))
        .collect();
    let rest = parts.next().unwrap_or_default();
    let tail = parts.next().unwrap_or_default();
    let (Some((&style, prefix)), true) = (rest.split_first(), secret.len() >= 4) else {
        return;
    };
    let secret = format!("Qz{secret}");
    let (prefix, suffix) = (
        String::from_utf8_lossy(prefix),
        String::from_utf8_lossy(tail),
    );
    let lower = secret.to_ascii_lowercase();
    // The multi-line style shows the part after `Qz` on a line of its own:
    // text around that already holds it is not judged either.
    if format!("{prefix}{suffix}")
        .to_ascii_lowercase()
        .contains(&lower[2..])
    {
        return;
    }
    let block = match style % 6 {
        0 => format!("api_token: {secret}"),
        1 => format!("api_token: '{secret}'"),
        2 => format!("api_token: \"{secret}\""),
        3 => format!("api_token: |\n  {secret}"),
        4 => format!("api_token: >-\n  {secret}"),
        _ => format!("api_token: {}\n  {}", &secret[..2], &secret[2..]),
    };
    let text = format!("{prefix}\n{block}\n{suffix}");
    let (tree, _) = parse(text.as_bytes(), "fuzz.yaml", &Limits::default());
    let masked = Masker::new([tree.as_ref()]).mask_text(&text, tree.as_ref());
    assert_eq!(
        masked.matches('\n').count(),
        text.matches('\n').count(),
        "line breaks changed:\n{text}\n--\n{masked}"
    );
    fn under_secret(node: &Node, secret: &str, under: bool) -> bool {
        match &node.value {
            Value::Map(entries) => entries.iter().any(|e| {
                let key = e
                    .key
                    .scalar_text()
                    .is_some_and(|k| crate::secret::is_secret_key(&k));
                under_secret(&e.value, secret, under || key)
            }),
            Value::Seq(items) => items.iter().any(|n| under_secret(n, secret, under)),
            _ => {
                under
                    && node
                        .scalar_text()
                        .is_some_and(|t| t.replace([' ', '\n'], "").contains(secret))
            }
        }
    }
    // The multi-line style splits the secret over two lines: its halves
    // are what could show.
    let shown = masked.to_ascii_lowercase();
    let leaked = shown.contains(&lower) || (style % 6 == 5 && shown.contains(&lower[2..]));
    let is_secret = match &tree {
        None => true,
        Some(tree) => under_secret(tree, &secret, false),
    };
    assert!(
        !(is_secret && leaked),
        "the secret shows:\n{text}\n--\n{masked}"
    );
}
