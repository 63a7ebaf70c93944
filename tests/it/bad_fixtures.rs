//! Every file of `tests/fixtures/bad/` is reported with the expected kind,
//! line, column and message, and nothing else is reported.

use std::path::Path;

use qa_reload::load::{config, fs};

#[test]
fn every_bad_fixture_is_reported_at_its_position() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let table = std::fs::read_to_string(root.join("expected.tsv")).unwrap();
    let (files, mut errors) = fs::read_tree(&root, &|_| false);
    let (_, more) = config::build(&files, &|_| None);
    errors.extend(more);

    let mut unmatched: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let mut missing = Vec::new();
    for row in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = row.split('\t').collect();
        let [file, kind, line, col, needle] = cols[..] else {
            panic!("bad row in expected.tsv: {row:?}");
        };
        let found = errors.iter().position(|e| {
            e.file == file
                && e.kind.as_str() == kind
                && e.line.to_string() == line
                && e.column.to_string() == col
                && e.message.to_lowercase().contains(&needle.to_lowercase())
        });
        match found {
            Some(i) => unmatched.retain(|s| *s != errors[i].to_string()),
            None => missing.push(row.to_string()),
        }
    }
    assert!(
        missing.is_empty() && unmatched.is_empty(),
        "expected but not reported:\n{}\n\nreported but not expected:\n{}",
        missing.join("\n"),
        unmatched.join("\n")
    );
    assert!(
        table.lines().count() > 25,
        "the corpus must keep at least 25 files"
    );
}
