//! Stage `load`: from file bytes to validated entities.
//!
//! `yaml` builds a positioned tree, `schema` turns one tree into one entity,
//! `config` checks a whole set of files together, and `fs` is the only part
//! that touches the disk.

pub mod config;
pub mod fs;
pub mod mask;
pub mod node;
pub mod schema;
pub mod yaml;
