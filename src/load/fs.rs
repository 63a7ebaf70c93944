//! Stage `load`: the only code that reads configuration files from disk.
//!
//! It finds the files qa-reload reads (never following a link to a folder,
//! skipping submodules and nested repositories), refuses links that leave
//! the repository and files over the size budget (without reading them), and
//! hands bytes to the pure stages. It never parses.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::diagnostic::{ConfigError, ErrorKind, Pos};
use crate::load::config::FileRole;
use crate::load::yaml::Limits;

/// Folders below the repository root that hold configuration.
pub const ROOTS: [&str; 2] = ["workflows", "config"];

/// Deepest folder nesting read below `workflows/`.
const MAX_DIR_DEPTH: usize = 32;

/// Reads every configuration file below `root` for which `skip` (given the
/// repository-relative path) is false. Problems reading one file, and
/// folders that could not be walked or were skipped (see [`walk`]), are
/// reported and the rest are still read.
pub fn read_tree(
    root: &Path,
    skip: &dyn Fn(&str) -> bool,
) -> (BTreeMap<String, Vec<u8>>, Vec<ConfigError>) {
    let mut files = BTreeMap::new();
    let Walk {
        files: found,
        problems: mut errors,
        ..
    } = walk(root);
    for rel in found {
        if FileRole::of(&rel).is_none() || skip(&rel) {
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
    let mut paths = walk(root).files;
    paths.retain(|rel| FileRole::of(rel).is_some());
    paths
}

/// What one walk of the configuration folders found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Repository-relative paths of the files (regular files and links to
    /// files), whatever their name, sorted.
    pub files: Vec<String>,
    /// The folders walked (the two roots and every folder below
    /// `workflows/`), repository-relative: what the watcher watches.
    pub dirs: Vec<String>,
    /// A folder that could not be read (an error, with the OS reason), or
    /// one skipped on purpose (a warning): a link to a folder, a git
    /// submodule or nested repository, a loop, too deep, a root that is a
    /// file.
    pub problems: Vec<ConfigError>,
}

/// Walks `workflows/` (recursively) and `config/` (its files only).
///
/// Links to folders are never followed, so a link cannot make a loop or
/// lead out of the repository; a link to a file is listed (reading it
/// checks where it leads). A folder holding `.git` is a submodule or a
/// nested repository and is skipped, as git skips it. If a loop is met
/// anyway (a bind mount), it is found by (device, inode) and reported once.
pub fn walk(root: &Path) -> Walk {
    let mut walker = Walker {
        root,
        seen: HashMap::new(),
        out: Walk::default(),
    };
    for top in ROOTS {
        walker.top(top);
    }
    walker.out.files.sort();
    walker.out
}

/// Like [`walk`], for one folder below `workflows/` (or a root) that just
/// appeared: its files and folders, by the same rules.
pub fn walk_below(root: &Path, rel: &str) -> Walk {
    let mut walker = Walker {
        root,
        seen: HashMap::new(),
        out: Walk::default(),
    };
    if ROOTS.contains(&rel) {
        walker.top(rel);
    } else if rel.starts_with("workflows/") && reachable(root, rel) {
        // (Not inside a nested repository, nor below a link: a `.git`
        // folder made by `git init` there is none of ours.)
        let depth = rel.matches('/').count();
        walker.folder(rel, depth);
    }
    walker.out.files.sort();
    walker.out
}

struct Walker<'r> {
    root: &'r Path,
    /// (device, inode) of every folder walked → its path, to catch loops.
    seen: HashMap<(u64, u64), String>,
    out: Walk,
}

impl Walker<'_> {
    fn problem(&mut self, rel: &str, message: String, warning: bool) {
        let e = ConfigError::new(rel, Pos::START, ErrorKind::Io, message);
        self.out
            .problems
            .push(if warning { e.warning() } else { e });
    }

    fn top(&mut self, top: &str) {
        let path = self.root.join(top);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if vanished(&e) => return,
            Err(e) => return self.problem(top, format!("cannot read the folder: {e}"), false),
        };
        if meta.file_type().is_symlink() {
            if path.is_dir() {
                self.problem(top, format!("`{top}` is a link to a folder; links to folders are not followed, so nothing is read from it"), true);
            }
            return;
        }
        if !meta.is_dir() {
            return self.problem(
                top,
                format!("`{top}` is a file, not a folder; nothing is read from it"),
                true,
            );
        }
        self.folder(top, 0);
    }

    /// Lists one real folder (never reached through a link).
    fn folder(&mut self, rel: &str, depth: usize) {
        let path = self.root.join(rel);
        if path.join(".git").symlink_metadata().is_ok() {
            return self.problem(rel, format!("`{rel}` is a git submodule or a nested repository; it is skipped, as git skips it"), true);
        }
        if depth > MAX_DIR_DEPTH {
            return self.problem(
                rel,
                format!("folder is nested deeper than {MAX_DIR_DEPTH} levels below `workflows/`; it is not read"),
                true,
            );
        }
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if vanished(&e) => return,
            Err(e) => return self.problem(rel, format!("cannot read the folder: {e}"), false),
        };
        if let Some(id) = dir_id(&path) {
            if let Some(first) = self.seen.get(&id) {
                let message = format!(
                    "folder `{rel}` is the folder `{first}` again (a bind mount?); it is not read twice"
                );
                return self.problem(rel, message, true);
            }
            self.seen.insert(id, rel.to_string());
        }
        self.out.dirs.push(rel.to_string());
        let recursive = rel == "workflows" || rel.starts_with("workflows/");
        let mut subfolders = Vec::new();
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                // Paths are text everywhere downstream; a YAML file whose
                // name is not is reported (by its name with U+FFFD), not
                // dropped without a word.
                let lossy = entry.file_name().to_string_lossy().into_owned();
                if lossy.ends_with(".yaml") || lossy.ends_with(".yml") {
                    let child = format!("{rel}/{lossy}");
                    let message = format!(
                        "`{child}`: the file name is not valid UTF-8, so the file is not read; rename it"
                    );
                    self.problem(&child, message, true);
                }
                continue;
            };
            let child = format!("{rel}/{name}");
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if recursive {
                    subfolders.push(child);
                }
            } else if kind.is_symlink() {
                // A dangling link (an editor's lock file) is simply not there.
                match std::fs::metadata(entry.path()) {
                    Ok(meta) if meta.is_file() => self.out.files.push(child),
                    Ok(meta) if meta.is_dir() && recursive => {
                        let message = format!(
                            "`{child}` is a link to a folder; links to folders are not followed"
                        );
                        self.problem(&child, message, true);
                    }
                    _ => {}
                }
            } else if kind.is_file() {
                self.out.files.push(child);
            }
        }
        subfolders.sort();
        for child in subfolders {
            self.folder(&child, depth + 1);
        }
    }
}

/// Gone, or a parent that is no longer a folder: not there, not an error.
fn vanished(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

#[cfg(unix)]
fn dir_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn dir_id(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// Whether `rel` is reached only through real folders of the walk: no
/// folder on the way is a link or a nested repository.
fn reachable(root: &Path, rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut dir = root.to_path_buf();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        dir.push(part);
        let real_folder = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
        if !real_folder || dir.join(".git").symlink_metadata().is_ok() {
            return false;
        }
    }
    true
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
    // Only what the walk would find: not through a link to a folder, not
    // inside a submodule.
    if !reachable(root, rel) {
        return Ok(None);
    }
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if vanished(&e) => return Ok(None),
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
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if vanished(&e) => return Ok(None),
        Err(e) => return Err(io(format!("cannot read the file: {e}"))),
    };
    // Read one byte past the budget so a file that grew meanwhile is still caught.
    let limit = u64::try_from(limits.max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    match file.take(limit).read_to_end(&mut bytes) {
        Ok(_) => Ok(Some(bytes)),
        Err(e) if vanished(&e) => Ok(None),
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

    #[cfg(unix)]
    #[test]
    fn a_yaml_file_whose_name_is_not_utf8_is_reported_not_dropped() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("workflows")).unwrap();
        let name = std::ffi::OsStr::from_bytes(b"bad\xff.yaml");
        std::fs::write(root.join("workflows").join(name), "name: x").unwrap();
        std::fs::write(
            root.join("workflows")
                .join(std::ffi::OsStr::from_bytes(b"n\xff.txt")),
            "",
        )
        .unwrap();
        let (files, errors) = read_tree(root, &|_| false);
        assert!(files.is_empty(), "{files:?}");
        let [e] = &errors[..] else {
            panic!("one problem: {errors:?}")
        };
        assert_eq!(e.file, "workflows/bad\u{FFFD}.yaml");
        assert!(e.message.contains("not valid UTF-8"), "{}", e.message);
        assert_eq!(e.severity, crate::diagnostic::Severity::Warning);
    }

    #[test]
    fn walk_follows_no_folder_link_and_skips_nested_repositories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("workflows/team/.git")).unwrap();
        std::fs::create_dir_all(root.join("workflows/real")).unwrap();
        std::fs::write(root.join("workflows/a.yaml"), "a").unwrap();
        std::fs::write(root.join("workflows/real/b.yaml"), "b").unwrap();
        std::fs::write(root.join("workflows/team/c.yaml"), "c").unwrap();
        std::os::unix::fs::symlink(".", root.join("workflows/loop")).unwrap();
        std::os::unix::fs::symlink("/usr", root.join("workflows/usr")).unwrap();
        std::os::unix::fs::symlink("real/b.yaml", root.join("workflows/b-link.yaml")).unwrap();
        let walk = walk(root);
        assert_eq!(
            walk.files,
            [
                "workflows/a.yaml",
                "workflows/b-link.yaml",
                "workflows/real/b.yaml"
            ]
        );
        assert_eq!(walk.dirs, ["workflows", "workflows/real"]);
        let mut skipped: Vec<&str> = walk.problems.iter().map(|e| e.file.as_str()).collect();
        skipped.sort();
        assert_eq!(
            skipped,
            ["workflows/loop", "workflows/team", "workflows/usr"]
        );
        assert!(walk.problems.iter().all(|e| !e.is_error()));
        // A folder appearing inside the nested repository is not walked.
        std::fs::create_dir_all(root.join("workflows/team/.git/objects")).unwrap();
        assert!(walk_below(root, "workflows/team/.git").dirs.is_empty());
        assert_eq!(walk_below(root, "workflows/real").dirs, ["workflows/real"]);
        // Nor can a path through a link or into the nested repository be read.
        assert_eq!(read_file(root, "workflows/loop/a.yaml").unwrap(), None);
        assert_eq!(read_file(root, "workflows/team/c.yaml").unwrap(), None);
        assert_eq!(
            read_file(root, "workflows/b-link.yaml").unwrap().as_deref(),
            Some(&b"b"[..])
        );
    }
}
