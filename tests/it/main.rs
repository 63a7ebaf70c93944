//! The integration tests: one binary, one module per area.

#![allow(clippy::unwrap_used)]

mod api;
mod appends;
mod bad_fixtures;
mod browser;
mod ci_formats;
mod cli;
mod early_batches;
mod editor;
mod engine;
mod engine_git_ops;
mod example_config;
mod follow;
mod follow_resume;
mod frames;
mod fuzz_fixtures;
mod git;
mod globs;
mod hostile;
mod install;
mod integrations;
mod json_patch_props;
mod limits;
mod lsp;
mod model;
mod nvim;
mod output_escaping;
mod page;
mod pg;
mod runs;
mod schemas;
mod secret_shapes;
mod secrets;
mod secrets_served;
mod semantic_diff;
mod served;
mod stream;
// Shared with the benches; each includer uses a part of it.
#[allow(dead_code)]
#[path = "../support/mod.rs"]
mod support;
mod tidy;
mod ts_types;
mod util;
mod watch;
