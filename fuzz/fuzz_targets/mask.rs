//! The masker: a secret written under `api_token` in any scalar style,
//! between arbitrary text, never survives masking where it is a secret.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    qa_reload::fuzzing::mask(data);
});
