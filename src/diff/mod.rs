//! Stage `diff`: from two versions of an entity to what changed.
//!
//! `semantic` compares positioned trees key by key, `json_patch` compares
//! entity JSON documents, `text` compares lines; `patch` puts the three
//! together for one entity, `files` for two sets of files and `document`
//! for two entity documents (a run's pinned definition and the one in force);
//! `identity` is the rule both list diffs match items by.

pub mod document;
pub mod files;
pub mod identity;
pub mod json_patch;
pub mod order;
pub mod patch;
pub mod semantic;
pub mod text;
