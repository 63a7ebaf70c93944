//! Hostile but accepted files (each under the 1 MiB limit), shared by the
//! `adversarial` bench group and the tests that guard against hangs.

/// `(name, file text)` for each shape; every text is a workflow file.
pub fn adversarial() -> Vec<(&'static str, String)> {
    vec![
        ("95,000 distinct keys", distinct_keys(95_000)),
        ("`<<` merge of a 49,000-key anchor", merge(49_000)),
        ("30,000 errors", errors(30_000)),
        ("100,000 list items", list_items(100_000)),
        ("20,000 steps with unique ids", steps(20_000)),
        ("nesting to the depth budget, 3,000 times", deep(3_000)),
        ("30,000 secret lines", secret_lines(30_000, false)),
        (
            "15,000 aliases of secrets, unparsable",
            secret_aliases(15_000),
        ),
        (
            "8,000 secrets with trailing comments",
            secret_lines(8_000, true),
        ),
    ]
}

const HEAD: &str = "name: Hostile\nsteps:\n  - {id: a, name: A, estimated_minutes: 1}\n";

fn distinct_keys(n: usize) -> String {
    let mut s = String::from(HEAD);
    for i in 0..n {
        s.push_str(&format!("k{i:05}: 1\n"));
    }
    s
}

fn merge(n: usize) -> String {
    let mut s = String::from(HEAD);
    s.push_str("base: &b\n");
    for i in 0..n {
        s.push_str(&format!("  k{i:05}: 1\n"));
    }
    s.push_str("copy:\n  <<: *b\n  k00000: 2\n");
    s
}

fn errors(n: usize) -> String {
    let mut s = String::from("name: Hostile\nsteps:\n");
    for _ in 0..n {
        s.push_str("  - 1\n");
    }
    s
}

fn list_items(n: usize) -> String {
    let mut s = String::from(HEAD);
    s.push_str("ticket_types:\n");
    for _ in 0..n {
        s.push_str("- t\n");
    }
    s
}

fn steps(n: usize) -> String {
    let mut s = String::from("name: Hostile\nsteps:\n");
    for i in 0..n {
        s.push_str(&format!("- {{id: s{i}, name: n, estimated_minutes: 1}}\n"));
    }
    s
}

fn deep(n: usize) -> String {
    let mut s = String::from(HEAD);
    // 62 flow lists inside a top-level key: 63 levels with the root mapping.
    let line = format!("{}1{}", "[".repeat(62), "]".repeat(62));
    for i in 0..n {
        s.push_str(&format!("d{i}: {line}\n"));
    }
    s
}

/// A workflow followed by `n` secrets (each an unknown key, so each is an
/// error whose excerpt and message are masked against all `n` values),
/// each with a trailing comment holding another value when `comments`.
pub fn secret_lines(n: usize, comments: bool) -> String {
    let mut s = String::from(HEAD);
    for i in 0..n {
        s.push_str(&format!("pwd_{i}: S{i}x"));
        if comments {
            s.push_str(&format!(" # old: O{i}y"));
        }
        s.push('\n');
    }
    s
}

/// A workflow followed by `n` secrets that are aliases of anchors never
/// defined: the file does not parse, so every line goes through the
/// lexical rule, and each alias asks where its anchor is.
pub fn secret_aliases(n: usize) -> String {
    let mut s = String::from(HEAD);
    for i in 0..n {
        s.push_str(&format!("pwd_{i}: *a{i}\n"));
    }
    s
}
