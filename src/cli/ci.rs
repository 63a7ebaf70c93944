//! The CI formats of `check` and `diff`: GitHub Actions workflow commands,
//! SARIF 2.1.0 and JUnit XML, so a pipeline shows each problem on its line.
//!
//! They print diagnostics as they are: messages and excerpts were masked
//! where they were made (`load_file`), and nothing here reads a value.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::cli::print_json;
use crate::diagnostic::{ConfigError, ErrorKind, Severity, one_line};

/// What a CI format reports: the problems, and (for JUnit) every file that
/// was checked, problems or not.
pub struct Report<'a> {
    /// `check` or `diff`: names the run.
    pub command: &'a str,
    /// Prefix of every path (the `--repo` folder as given, `""` for the
    /// current folder), so paths are relative to where CI runs.
    pub root: &'a str,
    pub files: Vec<&'a str>,
    pub problems: &'a [ConfigError],
}

impl Report<'_> {
    fn path(&self, file: &str) -> String {
        if self.root.is_empty() {
            file.to_owned()
        } else {
            format!("{}/{file}", self.root.trim_end_matches('/'))
        }
    }
}

/// The `--repo` folder as a prefix for paths: `""` for `.`, `./` dropped.
pub fn root_prefix(repo: &std::path::Path) -> String {
    let text = repo.to_string_lossy().replace('\\', "/");
    let mut rest = text.as_str();
    while let Some(r) = rest.strip_prefix("./") {
        rest = r;
    }
    let rest = rest.trim_end_matches('/');
    if rest == "." { "" } else { rest }.to_owned()
}

// ---- GitHub Actions ----------------------------------------------------

/// One workflow command per problem: `::error file=…,line=…,col=…,title=…::message`
/// (`::warning` for warnings).
pub fn github(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    for e in report.problems {
        let command = match e.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(
            out,
            "::{command} file={},line={},col={},title={}::{}",
            property(&report.path(&e.file)),
            e.line,
            e.column,
            property(&format!(
                "qa-reload {}: {} {command}",
                report.command, e.kind
            )),
            data(&e.message),
        )?;
    }
    Ok(())
}

/// A workflow command's message: first as [`one_line`] (so no line break,
/// control or bidi character from a file reaches the log, where the runner
/// would read a new line as a new command), then `%` escaped as the runner
/// decodes it. CR and LF, which the runner would decode from `%0D` and
/// `%0A`, are already escapes.
fn data(s: &str) -> String {
    one_line(s).replace('%', "%25")
}

/// A workflow command's property value: also `:` and `,`.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

// ---- SARIF 2.1.0 -------------------------------------------------------

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Every error kind is a rule.
const RULES: [ErrorKind; 4] = [
    ErrorKind::Syntax,
    ErrorKind::Schema,
    ErrorKind::Reference,
    ErrorKind::Io,
];

fn rule_text(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Syntax => {
            "The file is not one well-formed YAML document within the size, depth and alias budgets."
        }
        ErrorKind::Schema => {
            "The YAML does not fit the model: an unknown key, a wrong type, a value out of range, a missing key."
        }
        ErrorKind::Reference => {
            "A value names something the whole configuration does not have, or an id is used twice."
        }
        ErrorKind::Io => "The file could not be read, is too large or is not allowed.",
    }
}

#[derive(Serialize)]
struct Sarif<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [SarifRun<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRun<'a> {
    tool: SarifTool,
    /// With an absolute `--repo`, where `%SRCROOT%` is (a `file:` URI
    /// ending in `/`), so a reader can resolve the relative `uri`s.
    #[serde(skip_serializing_if = "Option::is_none")]
    original_uri_base_ids: Option<BTreeMap<&'static str, SarifBase>>,
    /// Columns count characters, as every diagnostic's do.
    column_kind: &'static str,
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
struct SarifBase {
    uri: String,
}

#[derive(Serialize)]
struct SarifTool {
    driver: SarifDriver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifDriver {
    name: &'static str,
    version: &'static str,
    rules: Vec<SarifRule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRule {
    id: &'static str,
    name: &'static str,
    short_description: SarifText<String>,
    default_configuration: SarifLevel,
}

#[derive(Serialize)]
struct SarifLevel {
    level: &'static str,
}

#[derive(Serialize)]
struct SarifText<T> {
    text: T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: SarifText<&'a str>,
    locations: [SarifLocation<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation<'a> {
    physical_location: SarifPhysical<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifPhysical<'a> {
    artifact_location: SarifArtifact,
    region: SarifRegion<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifArtifact {
    uri: String,
    uri_base_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRegion<'a> {
    start_line: u32,
    start_column: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<SarifText<&'a str>>,
}

/// Bytes a relative URI reference's path may hold as they are: the
/// unreserved characters and `/`.
const URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A path as the URI reference SARIF's `artifactLocation.uri` must be: a
/// `#`, `?`, `%` or space in a file name would otherwise cut the path short
/// or decode into another name.
fn uri_reference(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, URI_PATH).to_string()
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A SARIF 2.1.0 log with one run: a rule per error kind, a result per
/// problem at its file, line and column (characters), the masked excerpt
/// as the snippet.
///
/// Every `uri` is a relative reference against `uriBaseId: %SRCROOT%`
/// (in SARIF 2.1.0, a `uri` with a `uriBaseId` is a relative reference): the
/// path from where CI runs for a relative `--repo`; for an absolute one,
/// the path within it, with `originalUriBaseIds` naming the folder as a
/// `file:` URI.
pub fn sarif(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let absolute = std::path::Path::new(report.root).is_absolute();
    let uri = |file: &str| {
        if absolute {
            uri_reference(file)
        } else {
            uri_reference(&report.path(file))
        }
    };
    let original_uri_base_ids = absolute.then(|| {
        let root = report.root.trim_end_matches('/');
        let root = root.strip_prefix('/').unwrap_or(root);
        BTreeMap::from([(
            "%SRCROOT%",
            SarifBase {
                uri: format!("file:///{}/", uri_reference(root)),
            },
        )])
    });
    let rules = RULES
        .iter()
        .map(|&kind| SarifRule {
            id: kind.as_str(),
            name: kind.as_str(),
            short_description: SarifText {
                text: rule_text(kind).to_owned(),
            },
            default_configuration: SarifLevel { level: "error" },
        })
        .collect();
    let results = report
        .problems
        .iter()
        .map(|e| SarifResult {
            rule_id: e.kind.as_str(),
            rule_index: RULES.iter().position(|&k| k == e.kind).unwrap_or(0),
            level: level(e.severity),
            message: SarifText { text: &e.message },
            locations: [SarifLocation {
                physical_location: SarifPhysical {
                    artifact_location: SarifArtifact {
                        uri: uri(&e.file),
                        uri_base_id: "%SRCROOT%",
                    },
                    region: SarifRegion {
                        start_line: e.line,
                        start_column: e.column,
                        snippet: e.excerpt.as_deref().map(|text| SarifText { text }),
                    },
                },
            }],
        })
        .collect();
    let log = Sarif {
        schema: SARIF_SCHEMA,
        version: "2.1.0",
        runs: [SarifRun {
            tool: SarifTool {
                driver: SarifDriver {
                    name: "qa-reload",
                    version: env!("CARGO_PKG_VERSION"),
                    rules,
                },
            },
            original_uri_base_ids,
            column_kind: "unicodeCodePoints",
            results,
        }],
    };
    print_json(out, &log)
}

// ---- JUnit XML ---------------------------------------------------------

/// JUnit XML: one test suite, one test case per file; a file with errors
/// fails with every error listed, warnings go to its `system-out`.
pub fn junit(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut by_file: BTreeMap<&str, Vec<&ConfigError>> =
        report.files.iter().map(|f| (*f, Vec::new())).collect();
    for e in report.problems {
        by_file.entry(e.file.as_str()).or_default().push(e);
    }
    let failures = by_file
        .values()
        .filter(|es| es.iter().any(|e| e.is_error()))
        .count();
    let suite = xml(&format!("qa-reload {}", report.command));
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="{suite}" tests="{}" failures="{failures}" errors="0">"#,
        by_file.len()
    )?;
    writeln!(
        out,
        r#"  <testsuite name="{suite}" tests="{}" failures="{failures}" errors="0" skipped="0">"#,
        by_file.len()
    )?;
    for (file, problems) in &by_file {
        let path = xml(&report.path(file));
        let folder = xml(file.split('/').next().unwrap_or(file));
        write!(out, r#"    <testcase classname="{folder}" name="{path}""#)?;
        if problems.is_empty() {
            writeln!(out, "/>")?;
            continue;
        }
        writeln!(out, ">")?;
        let (errors, warnings): (Vec<&ConfigError>, Vec<&ConfigError>) =
            problems.iter().partition(|e| e.is_error());
        if let Some(first) = errors.first() {
            writeln!(
                out,
                r#"      <failure type="{}" message="{}">{}</failure>"#,
                first.kind,
                xml(&format!(
                    "{}:{}: {}",
                    first.line,
                    first.column,
                    one_line(&first.message)
                )),
                xml_text(&listing(&report.path(file), &errors)),
            )?;
        }
        if !warnings.is_empty() {
            writeln!(
                out,
                "      <system-out>{}</system-out>",
                xml_text(&listing(&report.path(file), &warnings))
            )?;
        }
        writeln!(out, "    </testcase>")?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

/// `path:line:col: kind: message` lines, each with its excerpt, each
/// kept to its line by [`one_line`].
fn listing(path: &str, problems: &[&ConfigError]) -> String {
    let mut text = String::new();
    let path = one_line(path);
    for e in problems {
        text.push_str(&format!(
            "{path}:{}:{}: {}: {}\n",
            e.line,
            e.column,
            e.kind,
            one_line(&e.message)
        ));
        if let Some(x) = &e.excerpt {
            text.push_str(&format!("    {}\n", one_line(x)));
        }
    }
    text
}

/// Text for XML content: as [`xml`], with line ends and tabs kept as they
/// are (only CR, which a parser turns into LF, as a reference).
fn xml_text(s: &str) -> String {
    xml(s).replace("&#10;", "\n").replace("&#9;", "\t")
}

/// Text for XML attributes (and content): markup escaped, and characters
/// XML 1.0 cannot hold replaced with U+FFFD. Tab, LF and CR are written as
/// character references: a parser turns them into spaces in an attribute
/// and CR into LF in content, which would change a file name.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if c < ' ' || matches!(c, '\u{FFFE}' | '\u{FFFF}') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Pos;

    fn problem(message: &str) -> ConfigError {
        ConfigError::new(
            "workflows/a,b.yaml",
            Pos { line: 3, col: 5 },
            ErrorKind::Schema,
            message,
        )
    }

    #[test]
    fn github_commands_escape_data_and_properties() {
        let problems = [problem("50% done\nnext: line")];
        let report = Report {
            command: "check",
            root: "sub:dir",
            files: vec![],
            problems: &problems,
        };
        let mut out = Vec::new();
        github(&report, &mut out).expect("writes");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "::error file=sub%3Adir/workflows/a%2Cb.yaml,line=3,col=5,title=qa-reload check%3A schema error::50%25 done\\nnext: line\n"
        );
    }

    #[test]
    fn sarif_uris_are_percent_encoded_paths() {
        let problems = [ConfigError::new(
            "workflows/a#b?c %41\nü.yaml",
            Pos { line: 3, col: 5 },
            ErrorKind::Schema,
            "m",
        )];
        let report = Report {
            command: "check",
            root: "qa dir",
            files: vec![],
            problems: &problems,
        };
        let mut out = Vec::new();
        sarif(&report, &mut out).expect("writes");
        let log: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        let location = &log["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(
            location["artifactLocation"]["uri"],
            "qa%20dir/workflows/a%23b%3Fc%20%2541%0A%C3%BC.yaml"
        );
        assert_eq!(location["region"]["startLine"], 3);
        assert_eq!(location["region"]["startColumn"], 5);
    }

    #[test]
    fn an_absolute_repo_gives_relative_uris_and_names_the_base() {
        let problems = [problem("m")];
        let report = Report {
            command: "check",
            root: "/srv/qa repo",
            files: vec![],
            problems: &problems,
        };
        let mut out = Vec::new();
        sarif(&report, &mut out).expect("writes");
        let log: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        let run = &log["runs"][0];
        let artifact = &run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(artifact["uri"], "workflows/a%2Cb.yaml");
        assert_eq!(artifact["uriBaseId"], "%SRCROOT%");
        assert_eq!(
            run["originalUriBaseIds"]["%SRCROOT%"]["uri"],
            "file:///srv/qa%20repo/"
        );
    }

    #[test]
    fn xml_text_is_escaped_and_kept_valid() {
        assert_eq!(xml("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}");
        // Kept through a parser's attribute and line-end normalisation.
        assert_eq!(xml("a\r\nb\tc"), "a&#13;&#10;b&#9;c");
        assert_eq!(xml_text("a\r\nb\tc&#10;"), "a&#13;\nb\tc&amp;#10;");
    }

    #[test]
    fn the_root_prefix_drops_the_current_folder() {
        use std::path::Path;
        assert_eq!(root_prefix(Path::new(".")), "");
        assert_eq!(root_prefix(Path::new("./")), "");
        assert_eq!(root_prefix(Path::new("./qa/")), "qa");
        assert_eq!(root_prefix(Path::new("a/b")), "a/b");
    }
}
