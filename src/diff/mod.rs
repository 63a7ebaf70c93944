//! Stage `diff`: from two versions of an entity to what changed.
//!
//! `semantic` compares positioned trees key by key, `json_patch` compares
//! entity JSON documents, `text` compares lines; `patch` puts the three
//! together for one entity and `files` for two sets of files.

pub mod files;
pub mod json_patch;
pub mod order;
pub mod patch;
pub mod semantic;
pub mod text;
