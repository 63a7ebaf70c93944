//! Stage `api`: listening and serving — bind with a clear error, run the
//! accept loop (HTTP/1.1 through hyper, each connection held to the limits
//! of `conn`), serve the router until the shutdown signal, let in-flight
//! requests finish, and give WebSocket clients their close frame before
//! returning.
//!
//! No routes here (see `routes`) and no signal handling (the wiring in
//! `app` owns the shutdown token).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::{IntoResponse, Response};
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::conn::{Connections, HttpLimits, Phase, Tracked};
use super::error::{ApiError, ErrorCode};
use super::state::AppState;

/// How long stopping waits for WebSocket clients to take their close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The pause after a failed accept (out of descriptors, usually).
const ACCEPT_RETRY: Duration = Duration::from_secs(1);

/// The longest an over-cap connection is kept to read its head and answer.
const REFUSAL_WAIT: Duration = Duration::from_secs(2);

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

/// Serves `router(state)` on `listener` until `state.shutdown` is
/// cancelled; then stops accepting, lets in-flight requests finish, and
/// waits (briefly) for the WebSocket clients to be sent their close frame.
///
/// Each connection is held to `state.connections`' limits: a head within
/// the header-read timeout, no longer idle than the idle timeout, and no
/// more open at once than the cap (one more is answered `503`).
pub async fn run(listener: TcpListener, state: AppState) {
    let router = super::router(state.clone());
    let connections = Arc::clone(&state.connections);
    let shutdown = state.shutdown.clone();
    let mut open = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = open.join_next(), if !open.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (or another passing failure): wait for
                // some to close rather than spin.
                tracing::error!(error = %e, "accept error; retrying in a second");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        match connections.slot() {
            Some(slot) => {
                connections.counters.accepted();
                open.spawn(serve_connection(
                    stream,
                    peer,
                    slot,
                    router.clone(),
                    Arc::clone(&connections),
                    shutdown.clone(),
                ));
            }
            None => {
                connections
                    .counters
                    .refused(connections.limits.max_connections);
                if let Some(refusal) = connections.refusal() {
                    open.spawn(refuse(stream, refusal, connections.limits));
                }
            }
        }
    }
    // In-flight requests finish (each connection was told to stop after
    // its current one); a connection still sending its head is cut by its
    // deadline.
    while open.join_next().await.is_some() {}
    // Upgraded connections watch the same token and close themselves; wait
    // for them so none is cut mid-frame.
    let clients = &state.clients;
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

/// One connection until it closes, its deadline passes, or the server stops.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    router: Router,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
) {
    let phase = Phase::new(connections.limits);
    let io = TokioIo::new(Tracked::new(stream, Arc::clone(&phase), slot));
    let service = TrackedService {
        inner: TowerToHyperService::new(router),
        phase: Arc::clone(&phase),
        peer,
    };
    let conn = http1::Builder::new()
        // The deadlines are `Phase`'s: hyper's own header timer would also
        // cut idle keep-alive connections at the header timeout.
        .header_read_timeout(None)
        .keep_alive(true)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "a connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            expiry = phase.expired() => {
                connections.counters.expired(expiry);
                tracing::debug!(?expiry, "closed a connection past its deadline");
                return;
            }
        }
    }
}

/// Answers an over-cap connection `503` (reading its head first, so the
/// answer is not lost to a reset) and closes it.
async fn refuse(stream: TcpStream, _refusal: OwnedSemaphorePermit, limits: HttpLimits) {
    let service = service_fn(move |_request: Request<Incoming>| async move {
        let refusal = ApiError::new(
            ErrorCode::TooManyConnections,
            format!(
                "the server has {} connections open, its limit; try again shortly",
                limits.max_connections
            ),
        );
        Ok::<_, Infallible>(refusal.into_response())
    });
    let conn = http1::Builder::new()
        .header_read_timeout(None)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(limits.header_read_timeout.min(REFUSAL_WAIT), conn).await;
}

/// The router as a hyper service that tells the connection's [`Phase`]
/// when a request is in progress.
#[derive(Clone)]
struct TrackedService {
    inner: TowerToHyperService<Router>,
    phase: Arc<Phase>,
    /// The client's address, given to handlers as axum's `ConnectInfo`.
    peer: SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for TrackedService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        let busy = self.phase.request();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(busy);
            response
        })
    }
}
