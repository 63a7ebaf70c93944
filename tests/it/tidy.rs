//! Repository hygiene that review would otherwise have to catch:
//!
//! - every file in `src/` opens with a `//!` comment (what it says is left to
//!   review) and has no stub macros left behind;
//! - no text in the repository points at a document the repository does not
//!   hold: no reference to an outside design document, and no section sign
//!   (U+00A7) but right after an RFC's number (`RFC 9112 <sign>3.2.2`);
//! - every relative link in a Markdown file, and every repository path a
//!   Markdown file names in backticks (`src/…`, `tests/…`, `docs/…`, …),
//!   leads to a file or folder that exists;
//! - no module of `src/` imports one above it in [`LAYERS`].

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file below `dir`, leaving out build output, installed packages,
/// git's own files and what fuzzing writes locally.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    const SKIP: [&str; 5] = ["target", "node_modules", ".git", "corpus", "artifacts"];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !SKIP.contains(&name.as_str()) {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// The repository's text files: sources, docs, configs, scripts.
fn text_files() -> Vec<PathBuf> {
    const TEXT: [&str; 12] = [
        "rs", "md", "ts", "js", "mjs", "html", "css", "toml", "yaml", "yml", "json", "sh",
    ];
    let root = root();
    let mut all = Vec::new();
    files(&root, &mut all);
    all.into_iter()
        .filter(|p| {
            let in_scripts = [root.join("scripts"), root.join(".ci")]
                .iter()
                .any(|d| p.parent() == Some(d.as_path()));
            in_scripts
                || p.extension()
                    .is_some_and(|e| TEXT.contains(&e.to_string_lossy().as_ref()))
        })
        .collect()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_source_file_opens_with_a_doc_comment_and_has_no_stubs() {
    let mut sources = Vec::new();
    files(&root().join("src"), &mut sources);
    sources.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    assert!(sources.len() > 10);
    for file in sources {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must open with a //! comment",
            file.display()
        );
        for stub in ["todo!(", "unimplemented!(", "dbg!("] {
            assert!(!text.contains(stub), "{} contains {stub}", file.display());
        }
    }
}

/// Whether the line has a section sign (U+00A7) anywhere but right after
/// `RFC <number> `.
fn section_signs_outside_rfcs(line: &str) -> bool {
    line.match_indices('\u{a7}').any(|(i, _)| {
        let mut before = line[..i].split_whitespace().rev();
        let number = before.next().unwrap_or("");
        let rfc = before
            .next()
            .unwrap_or("")
            .trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        !(rfc == "RFC" && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
    })
}

#[test]
fn no_text_points_at_a_document_the_repository_does_not_hold() {
    // Spelled in two parts so this file does not name it either.
    let outside = ["DES", "IGN"].concat();
    let files = text_files();
    assert!(files.len() > 50, "{} text files", files.len());
    let mut found = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for (n, line) in text.lines().enumerate() {
            if line.contains(&outside) || section_signs_outside_rfcs(line) {
                found.push(format!("{}:{}: {}", relative(file), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references outside the repository:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_section_rule_allows_rfcs_only() {
    assert!(!section_signs_outside_rfcs(
        "Host (RFC 9112 \u{a7}3.2.2) must match"
    ));
    assert!(!section_signs_outside_rfcs("no sign at all"));
    assert!(section_signs_outside_rfcs("see the spec \u{a7}4"));
    assert!(section_signs_outside_rfcs("RFC \u{a7}4"));
    assert!(section_signs_outside_rfcs("\u{a7}4 at the start"));
}

/// The targets of `[text](target)` links, without `#anchor`; web and
/// in-page links left out.
fn relative_links(text: &str) -> Vec<&str> {
    text.match_indices("](")
        .filter_map(|(i, _)| {
            let rest = &text[i + 2..];
            let target = &rest[..rest.find(')')?];
            let target = target.split('#').next().unwrap_or("");
            let web = ["http://", "https://", "mailto:"]
                .iter()
                .any(|s| target.starts_with(s));
            (!target.is_empty() && !web).then_some(target)
        })
        .collect()
}

/// Backticked tokens that name a path in one of the repository's own
/// folders (`src/engine/mod.rs`, `tests/browser/`), without a `:line`
/// suffix; globs and placeholders left out. (`workflows/` and `config/`
/// are any repository's layout, not this one's files, so they are not
/// checked.)
fn named_paths(text: &str) -> Vec<&str> {
    const OWN: [&str; 9] = [
        "src/", "tests/", "benches/", "hooks/", "ui/", "scripts/", "docs/", "fuzz/", ".ci/",
    ];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| OWN.iter().any(|d| t.starts_with(d)))
        .filter(|t| !t.contains(['*', '<', '{', ' ']))
        .map(|t| t.split(':').next().unwrap_or(t))
        .collect()
}

#[test]
fn markdown_links_and_named_paths_lead_to_files_that_exist() {
    let root = root();
    let docs: Vec<PathBuf> = text_files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    assert!(docs.iter().any(|d| d.ends_with("ARCHITECTURE.md")));
    let mut missing = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        let dir = doc.parent().unwrap();
        for target in relative_links(&text) {
            if !dir.join(target).exists() {
                missing.push(format!("{}: link to {target}", relative(doc)));
            }
        }
        for path in named_paths(&text) {
            if !root.join(path).exists() {
                missing.push(format!("{}: names {path}", relative(doc)));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn link_and_path_extraction() {
    let text = "see [the doc](docs/protocol.md#errors), [site](https://x.test), \
                `src/app.rs:12`, `tests/it/` and `config/*.yaml`, `workflows/a.yaml`";
    assert_eq!(relative_links(text), ["docs/protocol.md"]);
    assert_eq!(named_paths(text), ["src/app.rs", "tests/it/"]);
}

/// The modules of `src/`, lowest first: code in one may name (`crate::x`)
/// only itself and those before it, so imports go one way. `main.rs` uses
/// the library from outside; `test_support` is only compiled for tests
/// (it asserts on diagnostics).
const LAYERS: [&str; 22] = [
    "names",
    "json",
    "diagnostic",
    "test_support",
    "secret",
    "model",
    "units",
    "logging",
    "metrics",
    "load",
    "diff",
    "git",
    "watch",
    "engine",
    "store",
    "integrations",
    "follow",
    "api",
    "app",
    "cli",
    "lsp",
    "fuzzing",
];

/// The top-level modules a source text names as `crate::<module>`, outside
/// comments and before its unit tests (`#[cfg(test)] mod tests`, which may
/// reach any module); `crate::<macro>!` is not a module.
fn crate_modules(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("mod tests"))
        .filter(|l| !l.trim_start().starts_with("//"))
        .flat_map(|l| l.match_indices("crate::").map(move |(i, _)| &l[i + 7..]))
        .filter_map(|rest| {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let macro_call = rest[end..].starts_with('!');
            (end > 0 && !macro_call).then(|| &rest[..end])
        })
        .collect()
}

#[test]
fn no_module_imports_one_above_it() {
    let src = root().join("src");
    let mut sources = Vec::new();
    files(&src, &mut sources);
    sources.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    let layer = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut upward = Vec::new();
    for file in &sources {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy();
        let module = top.trim_end_matches(".rs");
        if ["lib", "main"].contains(&module) {
            continue;
        }
        let own = layer(module)
            .unwrap_or_else(|| panic!("src/{module} is not in LAYERS; place it there"));
        let text = std::fs::read_to_string(file).unwrap();
        for named in crate_modules(&text) {
            match layer(named) {
                Some(l) if l <= own => {}
                Some(_) => upward.push(format!("src/{}: {module} -> {named}", rel.display())),
                None => upward.push(format!(
                    "src/{}: crate::{named} is not in LAYERS",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn crate_modules_are_read_from_code_before_the_unit_tests() {
    let text = "use crate::load::paths::PathFilter;\n// see crate::api\n\
                let x = crate::units::ms(d);\ncrate::named!(Kind);\n\
                #[cfg(test)]\nmod tests {\n    use crate::api::ErrorCode;\n}";
    assert_eq!(crate_modules(text), ["load", "units"]);
}
