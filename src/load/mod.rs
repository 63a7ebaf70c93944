//! Stage `load`: from file bytes to validated entities.
//!
//! `yaml` builds a positioned tree, `schema` turns one tree into one entity
//! by the tables of `shape` (which `json_schema` writes out for editors),
//! `config` loads files, `resolve` decides which file serves each id and
//! what spans files (references, duplicate ids), `paths` says which paths
//! are config files by the `watch`/`ignore` globs (the watcher and the engine
//! both ask it), and `fs` is the only part that touches the disk.

pub mod config;
pub mod fs;
pub mod json_schema;
pub mod mask;
pub mod node;
pub mod paths;
pub mod resolve;
pub mod schema;
pub mod shape;
pub mod yaml;
