//! The integration tests: one binary, one module per area.
//!
//! Where a test goes, by what it drives:
//! - **a stage on its own**, real files and git but no server: `watch`
//!   (the watcher's batches), `git`, `engine` and `engine_git_ops` (the
//!   engine's revisions for edits and git operations), `model` (seeded
//!   random sequences of both), `semantic_diff`, `json_patch_props`,
//!   `bad_fixtures` (one bad file, one expected error), `fuzz_fixtures`;
//! - **the HTTP API and the WebSocket**, a real server on `127.0.0.1:0` fed
//!   by a test engine (`served` holds the set-up): `api`, `stream`,
//!   `frames` (the wire format pinned), `limits` (hostile clients), `page`;
//! - **the real binary**, as a user runs it: `cli`, `ci_formats`, `globs`,
//!   `install`, `example_config`, `appends`, `early_batches`, `hostile`
//!   (hostile repositories), `secrets_served`, `follow` (with `git_http`,
//!   a smart-HTTP git server), `follow_resume` (resumes by commit),
//!   `replicas` (followers on one PostgreSQL), `runs` (every store backend; `pg` starts a
//!   throwaway PostgreSQL), `integrations` (loopback stand-ins for Jira,
//!   Postman and Testmo);
//! - **secrets**: `secrets` (known strings never in any output),
//!   `secret_shapes` (randomized shapes), `output_escaping`;
//! - **editors and other programs**: `lsp` (in process), `nvim` (Neovim's
//!   client), `editor` (the YAML language server), `browser` (the page in
//!   Chromium and the JavaScript tests), `schemas`, `ts_types`;
//! - **the repository itself**: `tidy`.
//!
//! A new test joins the module of the area it checks; a new area gets a
//! module listed here. Before writing a helper, look for it: helpers
//! shared with the benches live in `tests/support/` (git, repositories of
//! n workflows, starting `qa-reload serve` and reading its URL); helpers
//! for one kind of test beside the tests (`served`: a test engine behind a
//! server, and `Response::assert_refused`; `util`: `TestRepo`, the binary
//! as a command; `cli`: `check` and `diff` in every format; `pg`;
//! `git_http`).

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
mod git_http;
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
mod replicas;
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
