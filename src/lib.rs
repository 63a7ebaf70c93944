//! qa-reload: hot reload for QA workflow templates and integration settings.
//!
//! The data flows one way, and the modules follow it:
//!
//! ```text
//! watch    filesystem events -> debounced batches of candidate paths (notify)
//! load     bytes -> positioned YAML tree -> validated entities (+ diagnostics),
//!          by one key table per file kind, also written out as JSON Schema
//! diff     two versions of an entity -> semantic changes, JSON Patch, text diff
//! git      read config files at a revision or in the working tree (gix)
//! engine   apply a batch as one revision (Snapshot, arc-swap); publish events
//!          (broadcast + history)
//! store    runs pinned to their definition, kept in SQLite (default) or
//!          PostgreSQL behind one `RunStore` trait; migrations, retention
//! integrations  on an integration patch: rebuild its client (reqwest),
//!          test the connection, publish the status (masked)
//! follow   `serve --follow`: fetch one branch of a remote into a bare
//!          mirror (poll with jitter, webhook triggers, backoff) and serve
//!          each new head as one revision
//! api      HTTP routes, WebSocket stream, OpenAPI, metrics route; wire shapes,
//!          ApiError, request guards (Host/Origin/token), bind and serve
//! app      the wiring: watcher -> engine worker -> server, one shutdown signal
//! cli      the `check`, `diff`, `schema` and `hook install` commands; the CI
//!          formats of `check` and `diff` (GitHub, SARIF, JUnit)
//! lsp      `qa-reload lsp`: open buffers over the disk -> check's load and
//!          resolve -> diagnostics, hover, completion, navigation (lsp-server)
//! ```
//!
//! `metrics` renders counters and a histogram in Prometheus text format
//! (with the `prometheus-client` crate);
//! `logging` caps the HTTP stack's own log lines, which may quote secrets.
//!
//! `diagnostic` holds the one error type every stage reports and survives;
//! `names` gives closed sets their text names from their serde form;
//! `units` turns durations into the milliseconds logs and frames show.

pub mod api;
pub mod app;
pub mod cli;
pub mod diagnostic;
pub mod diff;
pub mod engine;
pub mod follow;
#[doc(hidden)]
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod git;
pub mod integrations;
pub mod json;
pub mod load;
pub mod logging;
pub mod lsp;
pub mod metrics;
pub mod model;
pub mod names;
pub mod secret;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod units;
pub mod watch;
