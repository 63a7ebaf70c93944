//! Randomized: a secret written in every YAML shape, changed to another
//! secret, and then broken in a random way, never appears in any output —
//! raw, lower- or upper-case, URL-encoded or base64-encoded.
//!
//! Checked in process for every case: the patches of every pair of
//! versions (semantic changes, JSON Patch, text diff and hunks, through the
//! wire form and `Debug`), and every error of every version (message and
//! excerpt, through the wire form and `Display`). For every tenth case the
//! real binary runs `check` and `diff` in every format at `RUST_LOG=trace`
//! and its stdout and stderr are checked too.
//!
//! Each case comes from a seed; a failure names it, and
//! `QA_RELOAD_SEED=<seed> cargo test secret_shapes` replays just that case.

use std::collections::BTreeMap;
use std::process::Command;

use qa_reload::api::wire;
use qa_reload::diff::files::diff_files;
use qa_reload::load::config;

use crate::util::{Rng, TestRepo, secret_forms};

const CASES: u64 = 400;
const CLI_EVERY: u64 = 10;

/// One word of a secret: starts with `Qz` (never a hex digit, so a mask's
/// fingerprint cannot look like it), then letters, digits, `+` and `=`.
fn word(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789+=";
    let len = 8 + rng.below(8);
    let mut w = String::from("Qz");
    for i in 0..len {
        let c = CHARS[rng.below(CHARS.len())];
        // A word ends in a letter or digit: `=` or `+` at the end would
        // make the URL-encoded and plain forms differ only in padding.
        let c = if i + 1 == len && !c.is_ascii_alphanumeric() {
            b'x'
        } else {
            c
        };
        w.push(char::from(c));
    }
    w
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal(&'static str),
    Folded(&'static str),
    PlainLines,
    SingleLines,
    DoubleLines,
    Flow,
    Env,
    AnchoredHere,
    AliasedFromElsewhere,
    Tagged,
    WrongTag,
    Userinfo,
}

const STYLES: [Style; 21] = [
    Style::Plain,
    Style::Single,
    Style::Double,
    Style::Literal(""),
    Style::Literal("-"),
    Style::Literal("+"),
    Style::Folded(""),
    Style::Folded("-"),
    Style::Folded("+"),
    Style::PlainLines,
    Style::SingleLines,
    Style::DoubleLines,
    Style::Flow,
    Style::Env,
    Style::AnchoredHere,
    Style::AliasedFromElsewhere,
    Style::Tagged,
    Style::WrongTag,
    Style::Userinfo,
    Style::Plain,
    Style::Double,
];

const KEYS: [&str; 16] = [
    "api_token",
    "api_key",
    "password",
    "client_secret",
    "private_key",
    "api_tokn",
    "credentials",
    "auth",
    "db_pwd",
    "passwd",
    "passphrase",
    "db_pass",
    "access_key",
    "bearer",
    "ssh_key",
    "webhook_url",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum FileKind {
    Jira,
    Workflow,
}

impl FileKind {
    fn path(self) -> &'static str {
        match self {
            FileKind::Jira => "config/jira_config.yaml",
            FileKind::Workflow => "workflows/w.yaml",
        }
    }
}

/// How a version is broken.
#[derive(Debug, Clone, Copy)]
enum Break {
    UnclosedList,
    NoSeparator,
    EqualsSeparator,
    Misspelt,
    Tab,
    DuplicateBlock,
    SecondDocument,
    CutAfterFirstLine,
}

const BREAKS: [Break; 8] = [
    Break::UnclosedList,
    Break::NoSeparator,
    Break::EqualsSeparator,
    Break::Misspelt,
    Break::Tab,
    Break::DuplicateBlock,
    Break::SecondDocument,
    Break::CutAfterFirstLine,
];

/// One case: a file kind, a key, a style, two secrets (as words).
#[derive(Debug)]
struct Case {
    seed: u64,
    kind: FileKind,
    key: &'static str,
    style: Style,
    broken: Break,
    old: Vec<String>,
    new: Vec<String>,
}

impl Case {
    fn new(seed: u64) -> Case {
        let mut rng = Rng(seed);
        let kind = *rng.pick(&[FileKind::Jira, FileKind::Workflow]);
        let key = *rng.pick(&KEYS);
        let style = *rng.pick(&STYLES);
        let broken = *rng.pick(&BREAKS);
        let words = match style {
            Style::Plain
            | Style::Flow
            | Style::Env
            | Style::AnchoredHere
            | Style::AliasedFromElsewhere
            | Style::Tagged
            | Style::WrongTag
            | Style::Userinfo => 1,
            _ => 2 + rng.below(2),
        };
        let secret = |rng: &mut Rng| (0..words).map(|_| word(rng)).collect::<Vec<_>>();
        let old = secret(&mut rng);
        let new = secret(&mut rng);
        Case {
            seed,
            kind,
            key,
            style,
            broken,
            old,
            new,
        }
    }

    /// The lines that write `words` under this case's key, and the
    /// environment variable they read (for `${VAR}`).
    fn block(&self, words: &[String]) -> String {
        let k = self.key;
        let one = &words[0];
        let joined = words.join(" ");
        let indented =
            |words: &[String]| words.iter().map(|w| format!("  {w}\n")).collect::<String>();
        match self.style {
            Style::Plain => format!("{k}: {one}\n"),
            Style::Single => format!("{k}: '{joined}'\n"),
            Style::Double => format!("{k}: \"{joined}\"\n"),
            Style::Literal(chomp) => format!("{k}: |{chomp}\n{}", indented(words)),
            Style::Folded(chomp) => format!("{k}: >{chomp}\n{}", indented(words)),
            Style::PlainLines => format!("{k}: {one}\n{}", indented(&words[1..])),
            Style::SingleLines => format!("{k}: '{}'\n", words.join("\n  ")),
            Style::DoubleLines => format!("{k}: \"{}\"\n", words.join("\n  ")),
            Style::Flow => format!("conn: {{user: ann, {k}: {one}}}\n"),
            Style::Env => format!("{k}: ${{QA_SECRET_SHAPE}}\n"),
            Style::AnchoredHere => format!("{k}: &s {one}\nreused: *s\n"),
            Style::AliasedFromElsewhere => format!("defaults: &s {one}\n{k}: *s\n"),
            Style::Tagged => format!("{k}: !!str {one}\n"),
            Style::WrongTag => format!("{k}: !!int {one}\n"),
            Style::Userinfo => format!("{k}_url: https://admin:{one}@jira.example.com/x\n"),
        }
    }

    fn file(&self, words: &[String]) -> String {
        let block = self.block(words);
        match self.kind {
            FileKind::Jira => {
                // With the key `api_token` the block is the integration's own
                // token; any other key is an unknown key (a schema error).
                let token = if self.key == "api_token" {
                    String::new()
                } else {
                    "api_token: ${QA_JIRA_TOKEN}\n".to_string()
                };
                format!(
                    "enabled: false\nbase_url: https://jira.example.com\nemail: qa@example.com\n{token}{block}project_key: QA\ntimeout_ms: 5000\n"
                )
            }
            FileKind::Workflow => format!(
                "name: Regression\n{block}steps:\n  - id: login\n    name: Log in\n    estimated_minutes: 5\n"
            ),
        }
    }

    fn broken_file(&self) -> String {
        let good = self.file(&self.new);
        let block = self.block(&self.new);
        // The line that names the key (for an alias, the anchor comes first).
        let first = block
            .lines()
            .find(|l| l.contains(self.key))
            .unwrap_or_default()
            .to_string();
        match self.broken {
            Break::UnclosedList => format!("{good}broken: [unclosed\n"),
            Break::NoSeparator => good.replacen(&first, &first.replacen(": ", " ", 1), 1),
            Break::EqualsSeparator => good.replacen(&first, &first.replacen(": ", "= ", 1), 1),
            Break::Misspelt => {
                // Misspelt as people do, still a secret-looking name.
                let typo = first
                    .replacen("token", "tokn", 1)
                    .replacen("password", "passwrd", 1);
                let typo = if typo == first {
                    format!("x{first}")
                } else {
                    typo
                };
                good.replacen(&first, &typo, 1)
            }
            Break::Tab => format!("\t{good}"),
            Break::DuplicateBlock => format!("{good}{block}"),
            Break::SecondDocument => format!("{good}---\nname: again\n"),
            Break::CutAfterFirstLine => {
                let at = good
                    .find(&first)
                    .map_or(good.len(), |i| i + first.len() + 1);
                good[..at.min(good.len())].to_string()
            }
        }
    }

    fn env(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| match name {
            "QA_SECRET_SHAPE" => Some(self.new.join(" ")),
            "QA_JIRA_TOKEN" => Some("env-token-not-under-test".to_string()),
            _ => None,
        }
    }

    /// Every form of every word of both secrets that must never show.
    fn forbidden(&self) -> Vec<String> {
        let mut out = Vec::new();
        for w in self.old.iter().chain(&self.new) {
            out.extend(secret_forms(w));
        }
        out
    }

    fn check(&self, what: &str, output: &str) {
        let lower = output.to_lowercase();
        for form in self.forbidden() {
            assert!(
                !output.contains(&form) && !lower.contains(&form.to_lowercase()),
                "seed {} ({self:?}): `{form}` shows in {what} \
                 (replay: QA_RELOAD_SEED={} cargo test secret_shapes):\n{output}",
                self.seed,
                self.seed
            );
        }
    }
}

fn one_file(path: &str, text: &str) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(path.to_string(), text.as_bytes().to_vec())])
}

/// Every in-process output for one case.
fn check_in_process(case: &Case) {
    let path = case.kind.path();
    let versions = [
        ("old", case.file(&case.old)),
        ("new", case.file(&case.new)),
        ("broken", case.broken_file()),
    ];
    let env = case.env();
    for (name, text) in &versions {
        let (_, errors) = config::build(&one_file(path, text), &env);
        for e in &errors {
            let shown = format!("{e} {}", wire::config_error(e));
            case.check(&format!("an error of the {name} version"), &shown);
        }
    }
    for (a, b) in [(0, 1), (1, 2), (0, 2), (2, 1)] {
        let (na, ta) = &versions[a];
        let (nb, tb) = &versions[b];
        let (patches, errors) = diff_files(&one_file(path, ta), &one_file(path, tb), &env);
        let what = format!("the patch {na} -> {nb}");
        // Same text, same entities: nothing to show.
        assert!(ta != tb || patches.is_empty(), "seed {}: {what}", case.seed);
        for p in &patches {
            case.check(&what, &format!("{}\n{p:?}", wire::patch(p)));
        }
        for e in &errors {
            case.check(&what, &format!("{e} {}", wire::config_error(e)));
        }
    }
}

/// `check` and `diff`, text and JSON, from the real binary at trace level.
fn check_cli(case: &Case) {
    let repo = TestRepo::new();
    let path = case.kind.path();
    repo.commit(&[(path, &case.file(&case.old))], "old");
    // `${VAR}` cases write the same text twice: the commit may be empty.
    repo.write(path, &case.file(&case.new));
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "--allow-empty", "-m", "new"]);
    repo.write(path, &case.broken_file());
    let runs: [&[&str]; 12] = [
        &["check"],
        &["check", "--format", "json"],
        &["check", "--format", "github"],
        &["check", "--format", "sarif"],
        &["check", "--format", "junit"],
        &["diff"],
        &["diff", "--format", "json"],
        &["diff", "--format", "github"],
        &["diff", "--format", "sarif"],
        &["diff", "--format", "junit"],
        &["diff", "HEAD~1", "HEAD"],
        &["diff", "HEAD~1", "HEAD", "--format", "json"],
    ];
    for args in runs {
        let out = Command::new(env!("CARGO_BIN_EXE_qa-reload"))
            .args(args)
            .arg("--repo")
            .arg(&repo.root)
            .env("RUST_LOG", "trace")
            .env("QA_SECRET_SHAPE", case.new.join(" "))
            .output()
            .expect("qa-reload runs");
        let shown = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        case.check(&format!("`qa-reload {}`", args.join(" ")), &shown);
    }
}

#[test]
fn a_secret_in_any_yaml_shape_never_shows_in_any_output() {
    let seeds: Vec<u64> = match std::env::var("QA_RELOAD_SEED") {
        Ok(s) => vec![s.parse().expect("QA_RELOAD_SEED is a number")],
        Err(_) => (0..CASES).map(|i| 0x005E_C2E7 + i).collect(),
    };
    for (i, &seed) in seeds.iter().enumerate() {
        let case = Case::new(seed);
        check_in_process(&case);
        if seeds.len() == 1 || (i as u64).is_multiple_of(CLI_EVERY) {
            check_cli(&case);
        }
    }
}
