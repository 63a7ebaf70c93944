//! Stage `api`: listening and serving — bind with a clear error, serve the
//! router until the shutdown signal, let in-flight requests finish, and give
//! WebSocket clients their close frame before returning.
//!
//! No routes here (see `routes`) and no signal handling (the wiring in
//! `app` owns the shutdown token).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::state::Clients;

/// How long stopping waits for WebSocket clients to take their close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why the server could not listen.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "cannot listen on {addr}: the port is already in use; stop the other server or pass --bind with another port"
    )]
    InUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Other {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds `addr`, naming a port already in use plainly.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).await.map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            BindError::InUse { addr }
        } else {
            BindError::Other { addr, source }
        }
    })
}

/// Serves `router` on `listener` until `shutdown` is cancelled; then stops
/// accepting, lets in-flight requests finish, and waits (briefly) for the
/// WebSocket clients to be sent their close frame.
pub async fn run(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    clients: Clients,
) {
    let signal = shutdown.clone();
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move { signal.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the HTTP server stopped with an error");
    }
    // Upgraded connections are not tracked by `serve`: they watch the same
    // token and close themselves; wait for them so none is cut mid-frame.
    if tokio::time::timeout(CLOSE_GRACE, clients.wait_none())
        .await
        .is_err()
    {
        tracing::warn!(
            clients = clients.count(),
            "some WebSocket clients did not close in time"
        );
    }
}
