//! What `check` and `diff` read of a tree: the files `serve` would load.
//!
//! The settings file is read first and its `watch`/`ignore` globs decide
//! which other files are read, by the rule `serve` applies
//! (`load::config::filter_of`, `load::paths::PathFilter`). A settings file
//! that does not load leaves the globs the caller had; its errors are
//! reported with the rest. May not parse anything but the settings file,
//! or report anything itself.

use std::collections::BTreeMap;
use std::path::Path;

use crate::diagnostic::ConfigError;
use crate::load::config;
use crate::load::fs;
use crate::load::paths::PathFilter;
use crate::model::SETTINGS_FILE;

/// Files by repository-relative path.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Reads the working tree below `root`: the settings file, then every file
/// its globs (or `kept`, when it does not load) admit and `skip` (git's
/// ignore rules) does not. Problems reading a file or walking a folder
/// come back as errors. Returns the filter it read by.
pub fn read_worktree(
    root: &Path,
    skip: &dyn Fn(&str) -> bool,
    kept: PathFilter,
) -> (Files, Vec<ConfigError>, PathFilter) {
    let settings = if skip(SETTINGS_FILE) {
        Ok(None)
    } else {
        fs::read_file(root, SETTINGS_FILE)
    };
    let filter = match &settings {
        Ok(bytes) => config::filter_of(bytes.as_deref()).unwrap_or(kept),
        Err(_) => kept,
    };
    let (mut files, mut errors) = fs::read_tree(root, &|rel| {
        rel == SETTINGS_FILE || skip(rel) || !filter.matches(rel)
    });
    match settings {
        Ok(Some(bytes)) => {
            files.insert(SETTINGS_FILE.to_string(), bytes);
        }
        Ok(None) => {}
        Err(e) => errors.push(e),
    }
    (files, errors, filter)
}

/// Keeps of a tree read at a git revision (`files`, and the blobs
/// `refused` as too large) what its own settings file's globs admit (or
/// `kept`'s, when it does not load). Returns the filter it kept by.
pub fn admitted(
    mut files: Files,
    mut refused: Vec<ConfigError>,
    kept: PathFilter,
) -> (Files, Vec<ConfigError>, PathFilter) {
    let filter = if refused.iter().any(|e| e.file == SETTINGS_FILE) {
        kept
    } else {
        config::filter_of(files.get(SETTINGS_FILE).map(Vec::as_slice)).unwrap_or(kept)
    };
    files.retain(|path, _| filter.matches(path));
    refused.retain(|e| filter.matches(&e.file));
    (files, refused, filter)
}
