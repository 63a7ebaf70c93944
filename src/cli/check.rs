//! `qa-reload check`: validate the whole configuration tree once.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::api::wire::ConfigErrorWire;
use crate::cli::ci::{self, Report};
use crate::cli::tree;
use crate::cli::{
    EXIT_INVALID, EXIT_OK, EXIT_USAGE, Format, check_repo_dir, is_top_folder, print_json,
    process_env,
};
use crate::git::GitRepo;
use crate::load::config;
use crate::load::paths::PathFilter;

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

/// Validates every configuration file below `repo` and prints each problem as
/// `file:line:col: kind: message` (or in one of the other formats).
pub fn run(repo: &Path, format: Format, out: &mut dyn Write) -> std::io::Result<u8> {
    if let Err(message) = check_repo_dir(repo) {
        writeln!(out, "error: {message}")?;
        return Ok(EXIT_USAGE);
    }
    let git = match GitRepo::discover(repo) {
        // Ignore rules name paths from the top folder: below it, they would
        // be asked about other files.
        Ok(git) => git.filter(|g| is_top_folder(g, repo)),
        Err(e) => {
            writeln!(out, "error: {e}")?;
            return Ok(EXIT_USAGE);
        }
    };
    let skip = |rel: &str| {
        git.as_ref()
            .is_some_and(|g| g.is_ignored(rel).unwrap_or(false))
    };
    // One look at HEAD and the ignore rules for the whole walk.
    let pass = git.as_ref().map(GitRepo::pass);
    // The files `serve` would load: those the settings' globs admit (the
    // defaults when the settings file does not load, as at `serve`'s start).
    let (files, mut errors, _) = tree::read_worktree(repo, &skip, PathFilter::default());
    drop(pass);
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
