//! Shared by every stage: the program's own values written as JSON, with
//! one policy for a failure.
//!
//! The types written (the model, patches, wire types) hold strings,
//! numbers, booleans, JSON values and maps keyed by strings, for which
//! serde_json cannot fail. A failure is therefore a bug, never bad input,
//! and it panics naming the type: inside the engine `apply_caught` turns
//! the panic into a rescan; in a request or a WebSocket connection only
//! that task ends. Nothing half-written or empty is ever sent in its place.
//!
//! May not: be used for values read from outside (files, requests), whose
//! failures are errors to report.

use serde::Serialize;

fn failed<T: ?Sized>(err: &serde_json::Error) -> ! {
    panic!(
        "cannot write a {} as JSON: {err}",
        std::any::type_name::<T>()
    )
}

/// `value` as a JSON tree.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|e| failed::<T>(&e))
}

/// `value` as JSON text.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| failed::<T>(&e))
}

/// `value` as JSON bytes.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| failed::<T>(&e))
}

/// `value` written as JSON into `out` (an in-memory writer, which cannot
/// fail either).
pub fn to_writer<W: std::io::Write, T: Serialize + ?Sized>(out: W, value: &T) {
    if let Err(e) = serde_json::to_writer(out, value) {
        failed::<T>(&e)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn a_value_serde_json_refuses_is_a_panic_naming_its_type() {
        // A map keyed by a non-string: the one shape serde_json refuses.
        let map: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        let caught = std::panic::catch_unwind(|| super::to_string(&map));
        let message = caught.err().and_then(|p| p.downcast::<String>().ok());
        let message = message.map(|m| *m).unwrap_or_default();
        assert!(message.contains("BTreeMap"), "{message}");
        assert_eq!(super::to_string(&[1, 2]), "[1,2]");
    }
}
