//! YAML + schema load of one file, in every role: never panics, and every
//! diagnostic has a position.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    qa_reload::fuzzing::load(data);
});
