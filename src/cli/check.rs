//! `qa-reload check`: validate the whole configuration tree once.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::api::wire::ConfigErrorWire;
use crate::cli::ci::{self, Report};
use crate::cli::tree;
use crate::cli::{
    EXIT_INVALID, EXIT_OK, EXIT_USAGE, Format, check_repo_dir, is_top_folder, print_json,
    process_env,
};
use crate::diagnostic::ConfigError;
use crate::git::GitRepo;
use crate::load::paths::PathFilter;
use crate::load::{config, fs};

/// `check --format json`.
#[derive(Serialize)]
struct CheckReport<'a> {
    ok: bool,
    /// How many files were checked (read, or refused as too large or not
    /// allowed), as the text and JUnit formats count them.
    files: usize,
    workflows: Vec<&'a str>,
    integrations: Vec<&'a str>,
    errors: Vec<ConfigErrorWire>,
}

/// A folder as `check` reads it: its files, and git's ignore rules when the
/// folder is the top of a git working tree. `qa-reload lsp` reads the disk
/// through it too, so both see the same files.
pub struct Checkout {
    root: PathBuf,
    git: Option<GitRepo>,
}

impl Checkout {
    /// Opens `repo`, or says in one line why it cannot.
    pub fn open(repo: &Path) -> Result<Checkout, String> {
        check_repo_dir(repo).map_err(|e| e.to_string())?;
        let git = match GitRepo::discover(repo) {
            // Ignore rules name paths from the top folder: below it, they
            // would be asked about other files.
            Ok(git) => git.filter(|g| is_top_folder(g, repo)),
            Err(e) => return Err(e.to_string()),
        };
        Ok(Checkout {
            root: repo.to_path_buf(),
            git,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether git ignores the repository-relative path (such a file is
    /// not read).
    pub fn ignored(&self, rel: &str) -> bool {
        self.git
            .as_ref()
            .is_some_and(|g| g.is_ignored(rel).unwrap_or(false))
    }

    /// Every configuration file `serve` would load (path → bytes): those
    /// git does not ignore and the settings' `watch`/`ignore` globs admit
    /// (the defaults when the settings file does not load, as at `serve`'s
    /// start), and the problems of the walk and of files that could not be
    /// read.
    pub fn read_all(&self) -> (BTreeMap<String, Vec<u8>>, Vec<ConfigError>) {
        // One look at HEAD and the ignore rules for the whole walk.
        let pass = self.git.as_ref().map(GitRepo::pass);
        let (files, errors, _) =
            tree::read_worktree(&self.root, &|rel| self.ignored(rel), PathFilter::default());
        drop(pass);
        (files, errors)
    }

    /// One configuration file, as [`Checkout::read_all`] reads it:
    /// `Ok(None)` when it is absent or ignored.
    pub fn read(&self, rel: &str) -> Result<Option<Vec<u8>>, ConfigError> {
        if self.ignored(rel) {
            return Ok(None);
        }
        fs::read_file(&self.root, rel)
    }
}

/// Validates every configuration file below `repo` and prints each problem as
/// `file:line:col: kind: message` (or in one of the other formats).
pub fn run(repo: &Path, format: Format, out: &mut dyn Write) -> std::io::Result<u8> {
    let checkout = match Checkout::open(repo) {
        Ok(checkout) => checkout,
        Err(message) => {
            writeln!(out, "error: {message}")?;
            return Ok(EXIT_USAGE);
        }
    };
    let (files, mut errors) = checkout.read_all();
    let (config, more) = config::build(&files, &process_env);
    errors.extend(more);
    errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    let failed = errors.iter().filter(|e| e.is_error()).count();
    let warnings = errors.len() - failed;
    // Files that could not be read (too large, refused) are still files
    // that were checked, in every format (folders that could not be walked
    // are not files).
    let mut checked: Vec<&str> = files.keys().map(String::as_str).collect();
    checked.extend(
        errors
            .iter()
            .filter(|e| config::FileRole::of(&e.file).is_some())
            .map(|e| e.file.as_str()),
    );
    checked.sort_unstable();
    checked.dedup();
    match format {
        Format::Text => {
            for e in &errors {
                writeln!(out, "{e}")?;
            }
            writeln!(
                out,
                "checked {}: {}, {}; {}, {}",
                plural(checked.len(), "file"),
                plural(config.workflows.len(), "workflow"),
                plural(config.integrations.len(), "integration"),
                plural(failed, "error"),
                plural(warnings, "warning"),
            )?;
        }
        Format::Json => {
            let doc = CheckReport {
                ok: failed == 0,
                files: checked.len(),
                workflows: config.workflows.keys().map(String::as_str).collect(),
                integrations: config.integrations.keys().map(|k| k.as_str()).collect(),
                errors: errors.iter().map(ConfigErrorWire::from).collect(),
            };
            print_json(out, &doc)?;
        }
        Format::Github | Format::Sarif | Format::Junit => {
            let root = ci::root_prefix(repo);
            let report = Report {
                command: "check",
                root: &root,
                files: checked,
                problems: &errors,
            };
            match format {
                Format::Github => ci::github(&report, out)?,
                Format::Sarif => ci::sarif(&report, out)?,
                _ => ci::junit(&report, out)?,
            }
        }
    }
    Ok(if failed == 0 { EXIT_OK } else { EXIT_INVALID })
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
