//! Stage `api`: the only module that knows the JSON wire format.
//!
//! Domain types convert into wire values here; nothing else serialises
//! frames or error objects. It never reads files or talks to git.
//!
//! ```text
//! wire      JSON shapes of DESIGN §5 (ConfigError, Patch)
//! error     ApiError: every refusal as {"code","message"} with its status
//! extract   Json/Path/Query extractors that reject with ApiError
//! page      the page at `/` and its static files, embedded (ui/, hooks/client.js)
//! security  Host/Origin/token guards as axum middleware, check_bind
//! ```

pub mod error;
pub mod extract;
pub mod page;
pub mod security;
pub mod wire;

pub use error::ApiError;
