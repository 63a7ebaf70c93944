//! Stage `load`: from file bytes to validated entities.

pub mod node;
pub mod schema;
pub mod yaml;
