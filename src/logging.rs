//! Which log lines are written: `RUST_LOG` as the user set it, with the
//! HTTP stack's own crates capped at `warn`.
//!
//! At `debug` and `trace`, hyper, reqwest, rustls and the WebSocket crates
//! log request targets, host names and headers, which carry what qa-reload
//! must never show (a host read from `${VAR}`, `?token=`). Their warnings and
//! errors still come through; everything qa-reload itself logs is masked at
//! the source. No I/O.

use tracing_subscriber::EnvFilter;

/// Crates whose debug and trace lines may quote a secret.
const CAPPED: [&str; 8] = [
    "hyper",
    "hyper_util",
    "reqwest",
    "rustls",
    "h2",
    "tungstenite",
    "tokio_tungstenite",
    "axum",
];

/// The filter for `spec` (a `RUST_LOG` value; `default` when it is unset or
/// does not parse), with [`CAPPED`] crates at `warn` at most.
pub fn filter(spec: Option<&str>, default: &str) -> EnvFilter {
    let mut filter = spec
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    for target in CAPPED {
        if let Ok(directive) = format!("{target}=warn").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}
