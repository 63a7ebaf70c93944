//! Stage `load`: from file bytes to validated entities.

pub mod node;
