//! Source hygiene that review would otherwise have to catch: every file in
//! `src/` opens with a `//!` comment saying which stage it is and what it may
//! not do, and no stub macros are left behind.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_documents_itself_and_has_no_stubs() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10);
    for file in files {
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
