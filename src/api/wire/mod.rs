//! JSON shapes of docs/protocol.md: every frame, response body and error object the
//! API writes, as typed structs that serialise to the contract's field names
//! and describe themselves to the OpenAPI document (`ToSchema`).
//!
//! Domain values convert into these here, in one place; no other module
//! names a wire field. No I/O, no state: conversions only. Secrets are
//! already masked in the domain values (`Setting` serialises masked, patches
//! are masked at the source), and nothing here unmasks them.
//!
//! One file per group of routes: `frames` (the stream and `/events`),
//! `status`, `catalog` (workflows and integrations), `runs`, and the
//! `diagnostics` and `time` every body shares.

mod catalog;
mod diagnostics;
mod frames;
mod runs;
mod status;
mod time;

pub use catalog::*;
pub use diagnostics::*;
pub use frames::*;
pub use runs::*;
pub use status::*;
pub use time::*;

/// The WebSocket protocol version announced in `hello`.
pub const PROTOCOL: u32 = 1;
