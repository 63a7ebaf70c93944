//! `qa-reload diff`: the semantic diff between two revisions of the
//! configuration, or between a revision and the working tree.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::api::wire::{ConfigErrorWire, PatchWire};
use crate::cli::ci::{self, Report};
use crate::cli::tree;
use crate::cli::{
    EXIT_INVALID, EXIT_OK, EXIT_USAGE, Format, check_repo_dir, is_top_folder, print_json,
    process_env,
};
use crate::diagnostic::{ConfigError, one_line};
use crate::diff::files::diff_files;
use crate::diff::patch::Patch;
use crate::diff::semantic::{Change, ChangeOp};
use crate::diff::text::LineTag;
use crate::git::GitRepo;
use crate::load::fs::ROOTS;
use crate::load::paths::PathFilter;

/// Which two versions to compare: `old` defaults to HEAD, `new` to the
/// working tree.
pub struct Args<'a> {
    pub repo: &'a Path,
    pub old: Option<&'a str>,
    pub new: Option<&'a str>,
    pub format: Format,
    pub color: bool,
    /// Exit 1 when the new side has errors (so a CI job fails), in every
    /// format; without it `diff` exits 0 whatever it reports.
    pub fail_on_errors: bool,
}

/// `diff --format json`.
#[derive(Serialize)]
struct DiffReport<'a> {
    old: &'a str,
    new: &'a str,
    patches: Vec<PatchWire>,
    errors: Vec<ConfigErrorWire>,
}

pub fn run(args: &Args<'_>, out: &mut dyn Write) -> std::io::Result<u8> {
    if let Err(message) = check_repo_dir(args.repo) {
        writeln!(out, "error: {message}")?;
        return Ok(EXIT_USAGE);
    }
    let git = match GitRepo::discover(args.repo) {
        Ok(Some(git)) => git,
        Ok(None) => {
            writeln!(
                out,
                "error: {} is not in a git repository; `diff` compares git revisions (use `check` outside git)",
                args.repo.display()
            )?;
            return Ok(EXIT_USAGE);
        }
        Err(e) => {
            writeln!(out, "error: {e}")?;
            return Ok(EXIT_USAGE);
        }
    };
    if !is_top_folder(&git, args.repo) {
        writeln!(
            out,
            "error: {} is inside the git repository at {} but is not its top folder; \
             `diff` compares workflows/ and config/ at the top of each revision: pass --repo {}",
            args.repo.display(),
            git.workdir().display(),
            git.workdir().display()
        )?;
        return Ok(EXIT_USAGE);
    }
    let old_rev = args.old.unwrap_or("HEAD");
    // Each side is read by its own settings file's globs, as `serve` would
    // read that tree; a side whose settings file does not load keeps the
    // globs `serve` would have in force: the defaults for the old side,
    // the old side's for the new.
    let (old, mut refused, old_filter) = match git.read_files_at(old_rev, &ROOTS) {
        Ok((files, refused)) => tree::admitted(files, refused, PathFilter::default()),
        Err(e) => {
            writeln!(out, "error: {e}")?;
            return Ok(EXIT_USAGE);
        }
    };
    let new = match args.new {
        Some(rev) => match git.read_files_at(rev, &ROOTS) {
            Ok((files, more)) => {
                let (files, more, _) = tree::admitted(files, more, old_filter);
                refused.extend(more);
                files
            }
            Err(e) => {
                writeln!(out, "error: {e}")?;
                return Ok(EXIT_USAGE);
            }
        },
        None => {
            let skip = |rel: &str| git.is_ignored(rel).unwrap_or(false);
            let _pass = git.pass();
            tree::read_worktree(git.workdir(), &skip, old_filter).0
        }
    };
    let (patches, mut errors) = diff_files(&old, &new, &process_env);
    // Blobs too large to read, on either side.
    errors.extend(refused);
    let new_name = args.new.unwrap_or("working tree");
    match args.format {
        Format::Json => {
            let doc = DiffReport {
                old: old_rev,
                new: new_name,
                patches: patches.iter().map(PatchWire::from).collect(),
                errors: errors.iter().map(ConfigErrorWire::from).collect(),
            };
            print_json(out, &doc)?;
        }
        Format::Github | Format::Sarif | Format::Junit => {
            // Paths are relative to the repository's top folder, where
            // `diff` reads them.
            let mut changed: Vec<&str> = patches.iter().map(|p| p.file.as_str()).collect();
            changed.extend(errors.iter().map(|e| e.file.as_str()));
            changed.sort_unstable();
            changed.dedup();
            let report = Report {
                command: "diff",
                root: "",
                files: changed,
                problems: &errors,
            };
            match args.format {
                Format::Github => ci::github(&report, out)?,
                Format::Sarif => ci::sarif(&report, out)?,
                _ => ci::junit(&report, out)?,
            }
        }
        Format::Text => write_text(&patches, &errors, old_rev, new_name, args.color, out)?,
    }
    let failed = args.fail_on_errors && errors.iter().any(ConfigError::is_error);
    Ok(if failed { EXIT_INVALID } else { EXIT_OK })
}

/// The text format: each patch (its changes, then its hunks), each error
/// of the new side, and a summary line. Every text that comes from a file
/// is kept to its line ([`one_line`]).
pub fn write_text(
    patches: &[Patch],
    errors: &[ConfigError],
    old_rev: &str,
    new_name: &str,
    color: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let paint = Paint(color);
    for p in patches {
        print_patch(p, paint, out)?;
    }
    for e in errors.iter().filter(|e| e.is_error()) {
        writeln!(out, "{}", paint.red(&e.to_string()))?;
    }
    writeln!(
        out,
        "{} {} changed between {old_rev} and {new_name}",
        patches.len(),
        if patches.len() == 1 {
            "entity"
        } else {
            "entities"
        }
    )
}

fn print_patch(p: &Patch, paint: Paint, out: &mut dyn Write) -> std::io::Result<()> {
    // Everything but our own words comes from a file: kept to its line.
    let head = format!(
        "{} {} `{}` ({})",
        p.op.as_str(),
        p.kind,
        one_line(&p.id),
        one_line(&p.file)
    );
    writeln!(out, "{}", paint.bold(&head))?;
    if p.changes.is_empty() {
        writeln!(out, "  (formatting or comments only)")?;
    }
    for c in &p.changes {
        writeln!(out, "  {}", paint_change(c, paint))?;
    }
    for h in &p.text.hunks {
        writeln!(
            out,
            "  {}",
            paint.cyan(&format!(
                "@@ -{},{} +{},{} @@",
                h.old_start, h.old_lines, h.new_start, h.new_lines
            ))
        )?;
        for l in &h.lines {
            let text = one_line(&l.text);
            let line = match l.tag {
                LineTag::Equal => format!("   {text}"),
                LineTag::Insert => paint.green(&format!("  +{text}")),
                LineTag::Delete => paint.red(&format!("  -{text}")),
            };
            writeln!(out, "{line}")?;
        }
    }
    writeln!(out)
}

fn paint_change(c: &Change, paint: Paint) -> String {
    let text = one_line(&c.to_string()).into_owned();
    match c.op {
        ChangeOp::Add => paint.green(&text),
        ChangeOp::Remove => paint.red(&text),
        _ => paint.yellow(&text),
    }
}

/// ANSI colours, only when writing to a terminal.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn red(self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn green(self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn yellow(self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn cyan(self, s: &str) -> String {
        self.wrap("36", s)
    }
}
