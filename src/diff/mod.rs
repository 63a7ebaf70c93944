//! Stage `diff`: from two versions of an entity to what changed.

pub mod semantic;
