//! Stage `api`: the only module that knows the JSON wire format.
//!
//! Domain types convert into wire values here; nothing else serialises
//! frames or error objects. It never reads files or talks to git.

pub mod wire;
