//! Stage `lsp`: `qa-reload lsp`, a Language Server Protocol server that
//! shows in the editor, while typing, every error `check` would report —
//! cross-file ones included — and answers hover, completion, navigation,
//! symbols, code actions and rename from the same load.
//!
//! ```text
//! transport  stdio frames <-> lsp_server messages (malformed input answered, never fatal)
//! server     the main loop: initialize, notifications in order, requests, publish
//! workspace  open buffers over the disk -> load + resolve (check's code) -> diagnostics
//! features   hover, completion, definition, references, symbols, code actions, rename
//! cursor     what the text says at a position (key, value, step), even while broken
//! text       positions: (line, column in characters) <-> the negotiated encoding
//! ```
//!
//! It may not apply, serve or watch anything itself: the files it reads
//! come from the editor's buffers and `cli::check::Checkout`, and the editor
//! says when the disk changed (`workspace/didChangeWatchedFiles`).

mod cursor;
mod features;
pub mod server;
pub mod text;
pub mod transport;
pub mod workspace;

pub use server::{Exit, run};
