//! Stage `api`: the only module that knows the JSON wire format, and the
//! HTTP/WebSocket server that speaks it (docs/protocol.md).
//!
//! Domain types convert into wire values here; nothing else serialises
//! frames or error objects. It never reads files or talks to git, and it
//! never applies a change itself: it reads snapshots and asks the engine.
//!
//! ```text
//! wire      JSON shapes of docs/protocol.md (frames, bodies, ConfigError, Patch)
//! error     ApiError: every refusal as {"code","message"} with its status
//! extract   Json/Path/Query extractors that reject with ApiError
//! page      the page at `/` and its static files, embedded (ui/, hooks/client.js)
//! security  Host/Origin/token guards as axum middleware, check_bind
//! state     AppState: engine handle, guards, shutdown, clients, frame cache
//! routes    the HTTP routes and `router(state)`
//! schemas   GET /api/v1/schemas/{kind}.json: the JSON Schema of each file kind
//! ws        the WebSocket stream (hello, backlog or snapshot, live reloads)
//! openapi   the OpenAPI 3.1 document (utoipa)
//! conn      per-connection deadlines (head, idle), the connection cap, counters
//! server    bind, accept loop, serve until shutdown, close WebSocket clients
//! ```

pub mod conn;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod page;
pub mod routes;
pub mod schemas;
pub mod security;
pub mod server;
pub mod state;
pub mod wire;
pub mod ws;

pub use error::ApiError;
pub use routes::router;
pub use state::{AppState, WsConfig};
