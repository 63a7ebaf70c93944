//! Text that comes from a file (keys, values, file names) cannot forge
//! output: no line break, control, separator or bidi character of it
//! reaches `check`, `diff` or the pre-commit hook in any text format, so a
//! key holding `\n::error file=README.md` prints no GitHub Actions command
//! and no forged diagnostic.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use proptest::prelude::*;
use proptest::sample::select;
use qa_reload::cli::{self, ci};
use qa_reload::diagnostic::is_unprintable;
use qa_reload::diff::files::diff_files;
use qa_reload::load::config;

use crate::util::{TestRepo, qa_reload};

const GOOD: &str =
    "name: Smoke\nsteps:\n  - id: login\n    name: Log in\n    estimated_minutes: 5\n";

/// A key that, printed raw, ends the diagnostic's line and starts a
/// workflow command of its own.
const FORGED: &str = "x\\n::error file=README.md,line=1,col=1::forged\\u2028::warning::more";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// No line of `text` is a command the runner would take from us but ours,
/// and no character in it may move or reorder what a reader sees.
fn assert_no_forged_line(what: &str, text: &str) {
    for line in text.lines() {
        // The runner reads a command only at the start of a line.
        assert!(
            !line.starts_with("::") || line.starts_with("::error file=workflows/smoke.yaml,"),
            "{what}: a forged command line: {line:?}"
        );
        assert!(
            !line.chars().any(is_unprintable),
            "{what}: an unprintable character in {line:?}"
        );
    }
}

#[test]
fn a_key_holding_a_workflow_command_forges_no_line_in_check_diff_or_the_hook() {
    let repo = TestRepo::new();
    repo.commit(&[("workflows/smoke.yaml", GOOD)], "first");
    let bad = format!("{GOOD}\"{FORGED}\": 1\n");
    repo.write("workflows/smoke.yaml", &bad);

    for format in ["text", "github", "junit"] {
        let out = qa_reload(&["check", "--format", format], &repo.root);
        assert_eq!(out.status.code(), Some(1), "check {format}");
        let shown = stdout(&out);
        assert!(shown.contains("::error file=README.md"), "{shown}");
        assert_no_forged_line(&format!("check --format {format}"), &shown);
    }
    let out = qa_reload(&["check"], &repo.root);
    assert!(
        stdout(&out).contains(
            "workflows/smoke.yaml:6:1: schema: unknown key `x\\n::error file=README.md,line=1,col=1::forged\\u{2028}::warning::more`"
        ),
        "{}",
        stdout(&out)
    );
    for format in ["text", "github"] {
        let out = qa_reload(&["diff", "--format", format], &repo.root);
        let shown = stdout(&out);
        assert!(shown.contains("::error file=README.md"), "{shown}");
        assert_no_forged_line(&format!("diff --format {format}"), &shown);
    }

    // The hook prints what `check` prints, through git.
    let out = qa_reload(&["hook", "install"], &repo.root);
    assert!(out.status.success(), "{}", stdout(&out));
    repo.git(&["add", "-A"]);
    let out = Command::new("git")
        .args(["-c", "user.name=QA", "-c", "user.email=qa@example.com"])
        .args(["commit", "-q", "-m", "forged"])
        .current_dir(&repo.root)
        .output()
        .expect("git runs");
    assert!(
        !out.status.success(),
        "the hook let a broken commit through"
    );
    let shown = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(shown.contains("::error file=README.md"), "{shown}");
    assert_no_forged_line("the hook", &shown);
}

#[test]
fn diff_fails_a_ci_job_only_with_fail_on_errors_when_the_new_side_has_errors() {
    let repo = TestRepo::new();
    repo.commit(&[("workflows/smoke.yaml", GOOD)], "first");
    repo.write(
        "workflows/smoke.yaml",
        &GOOD.replace("estimated_minutes: 5", "estimated_minutes: 0"),
    );
    for format in ["text", "json", "github", "sarif", "junit"] {
        let out = qa_reload(&["diff", "--format", format], &repo.root);
        assert_eq!(out.status.code(), Some(0), "diff --format {format}");
        let out = qa_reload(
            &["diff", "--format", format, "--fail-on-errors"],
            &repo.root,
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "diff --format {format} --fail-on-errors"
        );
    }
    // No error on the new side: 0 with the flag too.
    repo.write("workflows/smoke.yaml", &GOOD.replace("Log in", "Sign in"));
    let out = qa_reload(&["diff", "--fail-on-errors"], &repo.root);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// Characters that break lines, steer terminals or reorder text, and the
/// ones the formats escape themselves.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => select(vec![
            '\n', '\r', '\t', '\u{0}', '\u{7}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{7f}',
            '\u{85}', '\u{9b}', '\u{2028}', '\u{2029}', '\u{200e}', '\u{200f}', '\u{61c}',
            '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\\', '%', ':', ',', '`', '"', '\'',
            '<', '&', '#', ' ',
        ]),
        2 => any::<char>(),
        2 => proptest::char::range('a', 'z'),
    ]
}

fn key_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(hostile_char(), 0..24).prop_map(|cs| cs.into_iter().collect()),
        Just("\n::error file=README.md,line=1::forged".to_owned()),
        Just("\u{1b}]0;title\u{7}\u{1b}[2J".to_owned()),
    ]
}

/// `text` as a YAML double-quoted scalar: controls, quotes and backslashes
/// as `\U` escapes; every other character raw, as a file may hold it.
fn yaml_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        let printable = matches!(c, '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..);
        if !printable || c == '"' || c == '\\' {
            out.push_str(&format!("\\U{:08X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// The inverse of `diagnostic::one_line`: `\\`, `\n`, `\r`, `\t` and
/// `\u{…}` read back.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                let code = u32::from_str_radix(&hex, 16).expect("hex escape");
                out.push(char::from_u32(code).expect("a char"));
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn files(workflow: &str) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(
        "workflows/smoke.yaml".to_owned(),
        workflow.as_bytes().to_vec(),
    )])
}

proptest! {
    // Seeded by proptest: a failure prints the case and its seed and is
    // kept in tests/proptest-regressions/ for replay; PROPTEST_RNG_SEED=<n>
    // replays a whole run.
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/proptest-regressions/output_escaping.txt",
            ),
        )),
        ..ProptestConfig::default()
    })]

    /// Any key text, as an unknown key (check) and as a changed value and
    /// its text line (diff), comes out of every text format on the lines
    /// the format makes for it, with no control, separator or bidi
    /// character, and reads back to itself.
    #[test]
    fn any_key_text_stays_on_its_line_in_every_text_format(key in key_text()) {
        let key = format!("k{key}");
        let quoted = yaml_quoted(&key);
        let bad = format!("{GOOD}{quoted}: 1\n");
        let (_, problems) = config::build(&files(&bad), &cli::process_env);
        prop_assert_eq!(problems.len(), 1, "{:?}", problems);
        let message = &problems[0].message;
        prop_assert!(message.contains(&key));

        // check, text: one line per problem, which reads back to the message.
        let text = problems[0].to_string();
        prop_assert!(!text.contains('\n'));
        prop_assert!(!text.chars().any(is_unprintable), "{:?}", text);
        let shown = text.split_once(": schema: ").map(|(_, m)| m).unwrap_or_default();
        prop_assert_eq!(&unescape(shown), message);

        // github and junit, as check and diff print them.
        let report = ci::Report { command: "check", root: "", files: vec!["workflows/smoke.yaml"], problems: &problems };
        let mut github = Vec::new();
        ci::github(&report, &mut github).unwrap();
        let github = String::from_utf8(github).unwrap();
        prop_assert_eq!(github.lines().count(), 1, "{:?}", github);
        prop_assert!(github.starts_with("::error file=workflows/smoke.yaml,line=6,col=1,"));
        prop_assert!(!github.trim_end_matches('\n').chars().any(is_unprintable), "{:?}", github);
        let data = github.trim_end_matches('\n').split_once("::").and_then(|(_, rest)| rest.split_once("::")).map(|(_, d)| d).unwrap_or_default();
        prop_assert_eq!(&unescape(&data.replace("%25", "%")), message);
        let mut junit = Vec::new();
        ci::junit(&report, &mut junit).unwrap();
        let junit = String::from_utf8(junit).unwrap();
        prop_assert!(!junit.chars().any(|c| c != '\n' && is_unprintable(c)), "{:?}", junit);
        prop_assert!(junit.lines().all(|l| l.starts_with('<') || l.starts_with(' ') || l.starts_with("workflows/smoke.yaml:")), "{}", junit);

        // diff, text: the value as a change and as a line of the hunk.
        let new = GOOD.replace("name: Smoke", &format!("name: {quoted}"));
        let (patches, errors) = diff_files(&files(GOOD), &files(&new), &cli::process_env);
        let mut out = Vec::new();
        cli::diff::write_text(&patches, &errors, "HEAD", "working tree", false, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let ours = ["modified workflow `smoke` (workflows/smoke.yaml)", "  ~ name: ", "  @@ ", "   ", "  -", "  +", "1 entity changed", "0 entities changed", "workflows/smoke.yaml:"];
        for line in out.lines() {
            prop_assert!(line.is_empty() || ours.iter().any(|p| line.starts_with(p)), "a line we did not write: {:?} in {:?}", line, out);
            prop_assert!(!line.chars().any(is_unprintable), "{:?}", line);
        }
        if let Some(line) = out.lines().find(|l| l.starts_with("  +name: ")) {
            prop_assert_eq!(unescape(line.trim_start_matches("  +")), format!("name: {quoted}"));
        }
    }
}
