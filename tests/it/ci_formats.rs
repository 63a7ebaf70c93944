//! `check` and `diff` in the CI formats: GitHub workflow commands parsed
//! back with the grammar's regex, SARIF 2.1.0 read back with serde, JUnit
//! XML; every problem at its file, line and column; exit codes as in text.

use std::collections::BTreeSet;
use std::path::Path;

use qa_reload::cli::{self, Format};
use qa_reload::diagnostic::{ConfigError, Severity};
use qa_reload::load::{config, fs};
use serde::Deserialize;

use crate::cli::{check, diff};
use crate::util::TestRepo;

fn bad() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad")
}

/// What `check` finds in the bad corpus, as `check` itself collects it.
fn corpus_problems() -> Vec<ConfigError> {
    let (files, mut errors) = fs::read_tree(&bad(), &|_| false);
    let (_, more) = config::build(&files, &cli::process_env);
    errors.extend(more);
    errors
}

type Key = (String, u32, u32, &'static str, String);

fn key(prefix: &str, e: &ConfigError) -> Key {
    let severity = match e.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    (
        format!("{prefix}{}", e.file),
        e.line,
        e.column,
        severity,
        e.message.clone(),
    )
}

/// `::error file=…,line=…,col=…,title=…::message` (properties in any
/// order, values with `%`, CR, LF, `:` and `,` escaped).
fn parse_github(out: &str) -> Vec<Key> {
    let command = regex::Regex::new(
        r"^::(error|warning|notice)((?: [a-zA-Z]+=[^,:]*)(?:,[a-zA-Z]+=[^,:]*)*)?::(.*)$",
    )
    .unwrap();
    let unescape = |s: &str| {
        s.replace("%3A", ":")
            .replace("%2C", ",")
            .replace("%0D", "\r")
            .replace("%0A", "\n")
            .replace("%25", "%")
    };
    let mut keys = Vec::new();
    for line in out.lines() {
        let caps = command
            .captures(line)
            .unwrap_or_else(|| panic!("not a workflow command: {line}"));
        let props: std::collections::HashMap<&str, String> = caps
            .get(2)
            .map_or("", |m| m.as_str())
            .trim_start()
            .split(',')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k, unescape(v)))
            .collect();
        let severity = if &caps[1] == "error" {
            "error"
        } else {
            "warning"
        };
        assert!(props["title"].starts_with("qa-reload "), "{line}");
        keys.push((
            props["file"].clone(),
            props["line"].parse().unwrap(),
            props["col"].parse().unwrap(),
            severity,
            unescape(&caps[3]),
        ));
    }
    keys
}

#[test]
fn check_github_annotates_every_problem_at_its_position() {
    let expected: BTreeSet<Key> = corpus_problems().iter().map(|e| key("", e)).collect();
    assert!(expected.len() >= 30, "{expected:#?}");
    let (code, out) = check(&bad(), Format::Github);
    assert_eq!(code, cli::EXIT_INVALID);
    // Every line of the output is a command: an absolute --repo is the prefix.
    let prefix = format!("{}/", bad().display());
    let found: BTreeSet<Key> = parse_github(&out)
        .into_iter()
        .map(|(f, l, c, s, m)| (f.strip_prefix(&prefix).unwrap_or(&f).to_owned(), l, c, s, m))
        .collect();
    assert_eq!(found, expected);

    let (code, out) = check(Path::new(env!("CARGO_MANIFEST_DIR")), Format::Github);
    assert_eq!(code, cli::EXIT_OK, "{out}");
    // The example's disabled integrations read unset variables: warnings.
    for (_, _, _, severity, _) in parse_github(&out) {
        assert_eq!(severity, "warning", "{out}");
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sarif {
    #[serde(rename = "$schema")]
    schema: String,
    version: String,
    runs: Vec<Run>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Run {
    tool: Tool,
    /// `%SRCROOT%` as a `file:` URI: the corpus is read by absolute path.
    original_uri_base_ids: Option<serde_json::Value>,
    column_kind: String,
    results: Vec<SarifResult>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tool {
    driver: Driver,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Driver {
    name: String,
    version: String,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    id: String,
    name: String,
    short_description: Text,
    default_configuration: Level,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Level {
    level: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SarifResult {
    rule_id: String,
    rule_index: usize,
    level: String,
    message: Text,
    locations: Vec<Location>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Location {
    physical_location: Physical,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Physical {
    artifact_location: Artifact,
    region: Region,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Artifact {
    uri: String,
    uri_base_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Region {
    start_line: u32,
    start_column: u32,
    snippet: Option<Text>,
}

#[test]
fn check_sarif_is_sarif_2_1_0_with_every_problem() {
    let problems = corpus_problems();
    let (code, out) = check(&bad(), Format::Sarif);
    assert_eq!(code, cli::EXIT_INVALID);
    let log: Sarif = serde_json::from_str(&out).unwrap();
    assert_eq!(log.version, "2.1.0");
    assert!(log.schema.ends_with("sarif-2.1.0.json"), "{}", log.schema);
    let [run] = &log.runs[..] else {
        panic!("one run")
    };
    assert_eq!(run.column_kind, "unicodeCodePoints");
    assert_eq!(run.tool.driver.name, "qa-reload");
    assert_eq!(run.tool.driver.version, env!("CARGO_PKG_VERSION"));
    let rule_ids: Vec<&str> = run
        .tool
        .driver
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(rule_ids, ["syntax", "schema", "reference", "io"]);
    for r in &run.tool.driver.rules {
        assert_eq!(r.name, r.id);
        assert!(!r.short_description.text.is_empty());
        assert_eq!(r.default_configuration.level, "error");
    }
    assert!(
        run.original_uri_base_ids
            .as_ref()
            .is_some_and(|b| b["%SRCROOT%"]["uri"]
                .as_str()
                .is_some_and(|u| u.starts_with("file:///"))),
        "an absolute --repo names %SRCROOT%"
    );
    let mut found = BTreeSet::new();
    for r in &run.results {
        assert_eq!(run.tool.driver.rules[r.rule_index].id, r.rule_id);
        let [loc] = &r.locations[..] else {
            panic!("one location")
        };
        let p = &loc.physical_location;
        assert_eq!(p.artifact_location.uri_base_id, "%SRCROOT%");
        // The URI is a percent-encoded path.
        let uri = percent_encoding::percent_decode_str(&p.artifact_location.uri)
            .decode_utf8()
            .unwrap();
        // Relative to the absolute --repo, which %SRCROOT% stands for.
        assert!(!uri.starts_with('/'), "{uri}");
        let file = uri.into_owned();
        let level = if r.level == "error" {
            "error"
        } else {
            "warning"
        };
        found.insert((
            (
                file,
                p.region.start_line,
                p.region.start_column,
                level,
                r.message.text.clone(),
            ),
            r.rule_id.clone(),
            p.region.snippet.as_ref().map(|s| s.text.clone()),
        ));
    }
    let expected: BTreeSet<_> = problems
        .iter()
        .map(|e| (key("", e), e.kind.as_str().to_owned(), e.excerpt.clone()))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn check_junit_fails_each_broken_file_once() {
    let problems = corpus_problems();
    let broken: BTreeSet<&str> = problems
        .iter()
        .filter(|e| e.is_error())
        .map(|e| e.file.as_str())
        .collect();
    let (code, out) = check(&bad(), Format::Junit);
    assert_eq!(code, cli::EXIT_INVALID);
    assert!(out.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "));
    assert!(out.trim_end().ends_with("</testsuites>"));
    let failures = format!("failures=\"{}\"", broken.len());
    assert!(out.contains(&failures), "{failures}\n{out}");
    assert_eq!(out.matches("<failure ").count(), broken.len());
    let prefix = bad().display().to_string();
    for file in &broken {
        let case = format!(
            "<testcase classname=\"{}\" name=\"{prefix}/{file}\">",
            file.split('/').next().unwrap()
        );
        assert!(out.contains(&case), "{case}\n{out}");
    }
    // The valid first of the duplicate pair passes.
    assert!(
        out.contains("20-duplicate-workflow-id-first.yaml\"/>"),
        "{out}"
    );
    // One test case per file checked, read or not.
    let (files, _) = fs::read_tree(&bad(), &|_| false);
    let checked: BTreeSet<&str> = files
        .keys()
        .map(String::as_str)
        .chain(problems.iter().map(|e| e.file.as_str()))
        .collect();
    assert_eq!(out.matches("<testcase ").count(), checked.len(), "{out}");
    // Markup in messages is escaped.
    assert!(
        out.contains("expected &apos;,&apos; or &apos;]&apos;"),
        "{out}"
    );
}

#[test]
fn diff_ci_formats_report_the_new_side_s_problems_and_exit_as_text() {
    let repo = TestRepo::new();
    let good = "name: Smoke\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 5\n";
    repo.commit(&[("workflows/smoke.yaml", good)], "first");
    repo.write(
        "workflows/smoke.yaml",
        &good.replace("estimated_minutes: 5", "estimated_minutes: 5000"),
    );
    for format in [Format::Text, Format::Github, Format::Sarif, Format::Junit] {
        let (code, out) = diff(&repo.root, None, None, format);
        assert_eq!(code, cli::EXIT_OK, "{out}");
        match format {
            Format::Github => {
                let keys = parse_github(&out);
                assert_eq!(keys.len(), 1, "{out}");
                let (file, line, col, severity, message) = &keys[0];
                assert_eq!(
                    (file.as_str(), *line, *col, *severity),
                    ("workflows/smoke.yaml", 5, 24, "error")
                );
                assert!(message.contains("between 1 and 1440"), "{message}");
            }
            Format::Sarif => {
                let log: Sarif = serde_json::from_str(&out).unwrap();
                let r = &log.runs[0].results[0];
                assert_eq!(r.rule_id, "schema");
                let p = &r.locations[0].physical_location;
                assert_eq!(p.artifact_location.uri, "workflows/smoke.yaml");
                assert_eq!((p.region.start_line, p.region.start_column), (5, 24));
            }
            Format::Junit => {
                assert!(
                    out.contains(
                        "<testcase classname=\"workflows\" name=\"workflows/smoke.yaml\">"
                    ),
                    "{out}"
                );
                assert_eq!(out.matches("<failure ").count(), 1, "{out}");
            }
            _ => assert!(out.contains("between 1 and 1440"), "{out}"),
        }
    }
}

#[test]
fn the_binary_takes_every_format_and_keeps_its_exit_codes() {
    for (format, code) in [
        ("text", 1),
        ("json", 1),
        ("github", 1),
        ("sarif", 1),
        ("junit", 1),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_qa-reload"))
            .args(["check", "--format", format, "--repo"])
            .arg(bad())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{format}");
        assert!(!out.stdout.is_empty(), "{format}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qa-reload"))
        .args(["check", "--format", "gitlab"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("github") && stderr.contains("sarif"),
        "{stderr}"
    );
}

/// A file too large to read is a file checked, and every format says so:
/// `--format json` counted it out while text and JUnit counted it in.
#[test]
fn every_format_counts_the_same_files_a_too_large_one_included() {
    let dir = tempfile::tempdir().unwrap();
    let good = "name: S\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 5\n";
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    std::fs::write(dir.path().join("workflows/a.yaml"), good).unwrap();
    let big = format!("{good}# {}\n", "x".repeat(1 << 20));
    std::fs::write(dir.path().join("workflows/big.yaml"), big).unwrap();

    let (code, text) = check(dir.path(), Format::Text);
    assert_eq!(code, cli::EXIT_INVALID, "{text}");
    assert!(text.contains("checked 2 files"), "{text}");
    let (_, json) = check(dir.path(), Format::Json);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["files"], 2, "{json}");
    let (_, junit) = check(dir.path(), Format::Junit);
    assert!(
        junit.contains(r#"<testsuites name="qa-reload check" tests="2""#),
        "{junit}"
    );
}

/// `--repo /abs/path --format sarif` wrote the absolute path as a `uri`
/// relative to `%SRCROOT%`.
#[test]
fn sarif_with_an_absolute_repo_gives_uris_relative_to_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    std::fs::write(dir.path().join("workflows/a.yaml"), "name: [\n").unwrap();
    let repo = std::fs::canonicalize(dir.path()).unwrap();
    assert!(repo.is_absolute());
    let (code, out) = check(&repo, Format::Sarif);
    assert_eq!(code, cli::EXIT_INVALID, "{out}");
    let log: serde_json::Value = serde_json::from_str(&out).unwrap();
    let run = &log["runs"][0];
    let artifact = &run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(artifact["uri"], "workflows/a.yaml", "{out}");
    assert_eq!(artifact["uriBaseId"], "%SRCROOT%");
    let base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        base.starts_with("file:///") && base.ends_with('/'),
        "{base}"
    );
    // A relative --repo keeps paths from where CI runs, with no base named.
    let (_, out) = check(Path::new("tests/fixtures/bad"), Format::Sarif);
    let log: serde_json::Value = serde_json::from_str(&out).unwrap();
    let uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"]
        .as_str()
        .unwrap();
    assert!(uri.starts_with("tests/fixtures/bad/"), "{uri}");
    assert!(log["runs"][0].get("originalUriBaseIds").is_none());
}
