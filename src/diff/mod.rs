//! Stage `diff`: from two versions of an entity to what changed.

pub mod json_patch;
pub mod semantic;
pub mod text;
