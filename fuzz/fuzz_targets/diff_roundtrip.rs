//! Semantic diff + JSON Patch of two fuzzed documents: never panics, and the
//! JSON Patch applied by an independent RFC 6902 implementation turns the
//! old entity JSON into the new one.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((old, new, ops)) = qa_reload::fuzzing::diff_roundtrip(data) {
        let mut doc = old;
        let patch: json_patch::Patch =
            serde_json::from_value(ops).expect("the patch is RFC 6902 JSON");
        json_patch::patch(&mut doc, &patch).expect("the patch applies");
        assert_eq!(doc, new, "the patch gives the new document");
    }
});
