//! Stage `load`, shared with `watch`: which repo-relative paths are config
//! files, by name only.
//!
//! Decides from repo-relative names and the `watch`/`ignore` globs of
//! `config/hot_reload.yaml`; it reads no file and knows nothing of what the
//! files contain. The watcher filters events with it, the engine decides
//! with it which candidates it reads, and `check` and `diff` which files
//! they load, so all of them take the same files.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::fs::ROOTS;

pub use crate::model::DEFAULT_WATCH;
use crate::model::SETTINGS_FILE;

/// A `watch` or `ignore` glob that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid glob {glob:?}: {source}")]
pub struct GlobError {
    pub glob: String,
    #[source]
    pub source: globset::Error,
}

/// Compiled `watch` and `ignore` globs.
#[derive(Debug, Clone)]
pub struct PathFilter {
    watch: GlobSet,
    ignore: GlobSet,
}

impl PathFilter {
    /// Compiles the globs; `*` does not cross `/`, `**` does. An empty
    /// `watch` list means [`DEFAULT_WATCH`].
    pub fn new(watch: &[String], ignore: &[String]) -> Result<Self, GlobError> {
        let watch = if watch.is_empty() {
            build(DEFAULT_WATCH.iter().copied())?
        } else {
            build(watch.iter().map(String::as_str))?
        };
        let ignore = build(ignore.iter().map(String::as_str))?;
        Ok(PathFilter { watch, ignore })
    }

    /// Whether a repo-relative path (`/` separators) is a config file to load.
    /// The settings file always is, whatever its own globs say: it is
    /// where they are changed, so leaving it out would leave no way back
    /// short of a restart.
    pub fn matches(&self, rel: &str) -> bool {
        if rel == SETTINGS_FILE {
            return true;
        }
        let name = rel.rsplit('/').next().unwrap_or(rel);
        !is_editor_temp(name) && self.watch.is_match(rel) && !self.ignore.is_match(rel)
    }
}

impl Default for PathFilter {
    /// The filter of the default settings (no settings file).
    fn default() -> Self {
        PathFilter::new(&[], &[]).unwrap_or_else(|_| PathFilter {
            // The default globs are constants that compile (a test checks
            // it): this arm is never taken, and would take no file but
            // the settings file.
            watch: GlobSet::empty(),
            ignore: GlobSet::empty(),
        })
    }
}

fn build<'a>(globs: impl Iterator<Item = &'a str>) -> Result<GlobSet, GlobError> {
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        let compiled = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|source| GlobError {
                glob: glob.to_string(),
                source,
            })?;
        set.add(compiled);
    }
    set.build().map_err(|source| GlobError {
        glob: String::new(),
        source,
    })
}

/// Files editors and tools write beside the real one while saving, and lock
/// files: never a config file, whatever the globs say.
pub fn is_editor_temp(name: &str) -> bool {
    name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with('~')
        || name.starts_with(".#")
        || name.ends_with("___jb_tmp___")
        || name.ends_with("___jb_old___")
        || name == "4913"
        || name.ends_with(".lock")
}

/// Whether a repo-relative path lies in (or is) one of the config folders.
pub fn in_tree(rel: &str) -> bool {
    ROOTS.iter().any(|tree| {
        rel == *tree
            || rel
                .strip_prefix(tree)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_filter() -> PathFilter {
        PathFilter::new(&[], &["workflows/drafts/**".to_string()]).expect("valid globs")
    }

    #[test]
    fn matches_table() {
        let f = default_filter();
        for (path, expect) in [
            ("workflows/a.yaml", true),
            ("workflows/a/b/c/d.yml", true),
            ("workflows/a.json", false),
            ("config/jira_config.yaml", true),
            ("config/sub/x.yaml", false),
            ("config/jira_config.yaml.lock", false),
            ("workflows/.a.yaml.swp", false),
            ("workflows/a.yaml~", false),
            ("workflows/.#a.yaml", false),
            ("workflows/a.yaml___jb_tmp___", false),
            ("workflows/a.yaml___jb_old___", false),
            ("workflows/4913", false),
            ("workflows/drafts/x.yaml", false),
            ("README.md", false),
            ("other/a.yaml", false),
        ] {
            assert_eq!(f.matches(path), expect, "{path}");
        }
    }

    #[test]
    fn the_default_filter_takes_the_default_paths() {
        let f = PathFilter::default();
        for (path, expect) in [
            ("workflows/a.yaml", true),
            ("workflows/drafts/x.yml", true),
            ("config/jira_config.yaml", true),
            ("config/sub/x.yaml", false),
        ] {
            assert_eq!(f.matches(path), expect, "{path}");
        }
    }

    #[test]
    fn the_settings_file_passes_globs_that_leave_it_out() {
        let f = PathFilter::new(
            &["workflows/**/*.yaml".to_string()],
            &["config/**".to_string()],
        )
        .expect("valid globs");
        assert!(f.matches(SETTINGS_FILE));
        assert!(!f.matches("config/jira_config.yaml"));
    }

    #[test]
    fn a_path_thirty_thousand_folders_deep_is_matched() {
        let deep = format!("workflows/{}deep.yaml", "d/".repeat(30_000));
        let f = default_filter();
        assert!(f.matches(&deep));
        assert!(!f.matches(&format!("{deep}.txt")));
    }

    #[test]
    fn a_bad_glob_is_an_error_naming_it() {
        let err = PathFilter::new(&["workflows/[".to_string()], &[]).expect_err("bad glob");
        assert!(err.to_string().contains("workflows/["), "{err}");
    }

    #[test]
    fn in_tree_table() {
        for (path, expect) in [
            ("workflows", true),
            ("workflows/a", true),
            ("workflowsx", false),
            ("config/x.yaml", true),
            ("README.md", false),
        ] {
            assert_eq!(in_tree(path), expect, "{path}");
        }
    }
}
