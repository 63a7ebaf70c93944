//! Stage `load`: the only code that reads configuration files from disk.
//!
//! It finds the files qa-reload reads, refuses links that leave the
//! repository and files over the size budget (without reading them), and
//! hands bytes to the pure stages. It never parses.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::diagnostic::{ConfigError, ErrorKind, Pos};
use crate::load::config::FileRole;
use crate::load::yaml::Limits;

/// Folders below the repository root that hold configuration.
pub const ROOTS: [&str; 2] = ["workflows", "config"];

/// Deepest folder nesting followed below `workflows/` (guards link loops).
const MAX_DIR_DEPTH: usize = 32;

/// Reads every configuration file below `root` for which `skip` (given the
/// repository-relative path) is false. Problems reading one file are
/// reported and the rest are still read.
pub fn read_tree(
    root: &Path,
    skip: &dyn Fn(&str) -> bool,
) -> (BTreeMap<String, Vec<u8>>, Vec<ConfigError>) {
    let mut files = BTreeMap::new();
    let mut errors = Vec::new();
    for rel in list_tree(root) {
        if skip(&rel) {
            continue;
        }
        match read_file(root, &rel) {
            Ok(Some(bytes)) => {
                files.insert(rel, bytes);
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    (files, errors)
}

/// The repository-relative paths of every configuration file below `root`
/// (files qa-reload has a role for), without reading them.
pub fn list_tree(root: &Path) -> Vec<String> {
    let mut paths = Vec::new();
    for top in ROOTS {
        collect(root, &root.join(top), top, 0, &mut paths);
    }
    paths.retain(|rel| FileRole::of(rel).is_some());
    paths
}

/// What tells one version of a file from the next without reading it:
/// size, modification time and inode (a link swap changes the inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

/// The stamp of the file `rel` resolves to, or `None` when there is none.
pub fn stamp(root: &Path, rel: &str) -> Option<Stamp> {
    let meta = std::fs::metadata(root.join(rel)).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode,
    })
}

fn collect(root: &Path, dir: &Path, rel: &str, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_DIR_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let child = format!("{rel}/{name}");
        // `metadata` follows links: a dangling link (an editor's lock file)
        // is simply not there.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() {
            // Only `workflows/` is read recursively.
            if rel.starts_with("workflows") && inside(root, &entry.path()) {
                collect(root, &entry.path(), &child, depth + 1, out);
            }
        } else if meta.is_file() {
            out.push(child);
        }
    }
}

fn inside(root: &Path, path: &Path) -> bool {
    match (root.canonicalize(), path.canonicalize()) {
        (Ok(root), Ok(path)) => path.starts_with(root),
        _ => false,
    }
}

/// Reads one file by its repository-relative path. `Ok(None)` when there is
/// no such file (deleted, or a dangling link).
pub fn read_file(root: &Path, rel: &str) -> Result<Option<Vec<u8>>, ConfigError> {
    let path: PathBuf = root.join(rel);
    let io = |message: String| ConfigError::new(rel, Pos::START, ErrorKind::Io, message);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("cannot read the file: {e}"))),
    };
    if !meta.is_file() {
        return Ok(None);
    }
    if !inside(root, &path) {
        return Err(io(
            "file is reached through a link that leaves the repository; refused".to_string(),
        ));
    }
    let limits = Limits::default();
    if let Some(e) = crate::load::yaml::size_error(
        rel,
        usize::try_from(meta.len()).unwrap_or(usize::MAX),
        &limits,
    ) {
        return Err(e);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    let file = std::fs::File::open(&path).map_err(|e| io(format!("cannot read the file: {e}")));
    // Read one byte past the budget so a file that grew meanwhile is still caught.
    let limit = u64::try_from(limits.max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    match file?.take(limit).read_to_end(&mut bytes) {
        Ok(_) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("cannot read the file: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_known_files_and_refuses_escaping_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("workflows/nested")).unwrap();
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::write(root.join("workflows/a.yaml"), "a").unwrap();
        std::fs::write(root.join("workflows/nested/b.yml"), "b").unwrap();
        std::fs::write(root.join("workflows/notes.txt"), "x").unwrap();
        std::fs::write(root.join("config/jira_config.yaml"), "j").unwrap();
        std::fs::write(outside.path().join("secret.yaml"), "s").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.yaml"),
            root.join("workflows/evil.yaml"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/nonexistent/target", root.join("workflows/.#lock.yaml"))
            .unwrap();
        let (files, errors) = read_tree(root, &|_| false);
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            [
                "config/jira_config.yaml",
                "workflows/a.yaml",
                "workflows/nested/b.yml"
            ]
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].file, "workflows/evil.yaml");
        assert!(errors[0].message.contains("leaves the repository"));
    }
}
