//! Replays every input the fuzzer kept (`tests/fixtures/fuzz/<target>/`,
//! copied there by `scripts/fuzz`) through the fuzz targets' bodies, plus
//! the example configuration in every role, so a crash found once stays
//! fixed.

use std::path::{Path, PathBuf};

use qa_reload::fuzzing;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixture folder") {
        let path = entry.expect("entry").path();
        if path.is_file() && path.extension().is_none_or(|e| e != "md") {
            let bytes = std::fs::read(&path).expect("read fixture");
            out.push((path, bytes));
        }
    }
    out
}

fn examples() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["workflows", "config"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("example folder") {
            out.push(std::fs::read(entry.expect("entry").path()).expect("read example"));
        }
    }
    out
}

fn round_trip(data: &[u8], what: &str) {
    if let Some((old, new, ops)) = fuzzing::diff_roundtrip(data) {
        let mut doc = old;
        let patch: json_patch::Patch = serde_json::from_value(ops).expect("RFC 6902");
        json_patch::patch(&mut doc, &patch).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(doc, new, "{what}");
    }
}

#[test]
fn load_fixtures_and_examples_in_every_role() {
    for (path, bytes) in inputs("load") {
        eprintln!("replaying {}", path.display());
        fuzzing::load(&bytes);
    }
    for example in examples() {
        for role in 0..5u8 {
            let mut data = vec![role];
            data.extend(&example);
            fuzzing::load(&data);
        }
    }
}

#[test]
fn diff_roundtrip_fixtures_and_example_pairs() {
    for (path, bytes) in inputs("diff_roundtrip") {
        round_trip(&bytes, &path.display().to_string());
    }
    let examples = examples();
    for a in &examples {
        for b in &examples {
            let len = u16::try_from(a.len()).expect("small example");
            let mut data = len.to_le_bytes().to_vec();
            data.extend(a);
            data.extend(b);
            round_trip(&data, "example pair");
        }
    }
}

#[test]
fn mask_fixtures_and_examples_in_every_style() {
    for (path, bytes) in inputs("mask") {
        eprintln!("replaying {}", path.display());
        fuzzing::mask(&bytes);
    }
    for example in examples() {
        for style in 0..6u8 {
            let mut data = b"Secret4711\0".to_vec();
            data.push(style);
            data.extend(&example);
            data.push(0);
            data.extend(&example);
            fuzzing::mask(&data);
        }
    }
}
