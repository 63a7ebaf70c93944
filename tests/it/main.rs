//! The integration tests: one binary, one module per area.

#![allow(clippy::unwrap_used)]

mod bad_fixtures;
mod example_config;
mod json_patch_props;
mod watch;
