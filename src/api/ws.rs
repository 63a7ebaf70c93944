//! Stage `api`: the WebSocket stream `GET /ws/hot-reload?since=R`.
//!
//! Per connection: `hello`, then what the client missed (the events after
//! `R` while history has them, else a `snapshot`), then every live `reload`.
//! The backlog and the live feed come from one `Engine::attach`, decided
//! under the publish lock, so nothing is missed or sent twice. A client that
//! falls behind the broadcast is re-attached and sent a fresh `snapshot`; a
//! client that answers no ping, or takes no frame for `send_timeout`, is
//! dropped. It only reads the engine: it never applies or changes anything.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::extract::Query;
use super::state::{AppState, statuses_tag};
use super::wire::{
    EventWire, Frame, HelloWire, IntegrationStatusWire, PROTOCOL, SnapshotWire, Statuses,
};
use crate::engine::{Backlog, Event, Snapshot};
use crate::integrations::{IntegrationStatus, Integrations};

/// Frames kept serialised: one event is sent to every client, so it is
/// written to JSON once, not once per client. Bounded by count and by bytes
/// (the newest frame always stays): a branch switch or a burst of thousands
/// of files makes frames of tens of MB, and a count alone kept 64 of them.
const CACHED_FRAMES: usize = 64;
const CACHED_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Largest message a client may send (it has nothing to send but pongs).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// Read buffer per connection. Clients only send pongs and closes, so the
/// 128 KiB default would be memory held for nothing by every idle client.
const READ_BUFFER: usize = 4 * 1024;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// The last revision the client has; the events after it are sent if
    /// history still has them, else a snapshot.
    pub since: Option<u64>,
    /// The `instance` of the hello that revision came from; when it is not
    /// this server run's, `since` is ignored and a snapshot is sent.
    pub instance: Option<String>,
}

/// `GET /ws/hot-reload`: upgrades to the stream.
#[utoipa::path(
    get,
    path = "/ws/hot-reload",
    tag = "stream",
    params(StreamQuery),
    responses(
        (status = 101, description = "WebSocket upgrade; text frames are `Frame` JSON objects", body = Frame),
        (status = 400, description = "not a WebSocket request or a bad `since`", body = super::wire::ErrorBody),
        (status = 403, description = "foreign Host or Origin", body = super::wire::ErrorBody),
    )
)]
pub async fn upgrade(
    State(state): State<AppState>,
    query: Result<Query<StreamQuery>, ApiError>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let since = match &query.instance {
        Some(instance) if instance != state.engine.instance() => None,
        _ => query.since,
    };
    let ws = ws.map_err(|e| {
        ApiError::bad_request(
            "websocket_required",
            format!(
                "this route is a WebSocket stream ({}); connect with a WebSocket client",
                e.body_text().to_lowercase()
            ),
        )
    })?;
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| connection(socket, state, since)))
}

type Sink = SplitSink<WebSocket, Message>;

/// Why a connection ended.
enum End {
    /// The client closed, vanished or stopped answering.
    Client,
    /// The server is stopping.
    Shutdown,
}

async fn connection(socket: WebSocket, state: AppState, since: Option<u64>) {
    let _counted = state.clients.connect();
    let (mut sink, mut stream) = socket.split();
    let end = run(&mut sink, &mut stream, &state, since).await;
    if let End::Shutdown = end {
        let close = Message::Close(Some(CloseFrame {
            code: close_code::AWAY,
            reason: Utf8Bytes::from_static("server shutting down"),
        }));
        let _ = tokio::time::timeout(state.ws.send_timeout, sink.send(close)).await;
    }
    // Dropping both halves closes the socket and frees its buffers.
}

async fn run(
    sink: &mut Sink,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    state: &AppState,
    since: Option<u64>,
) -> End {
    // Subscribed before the snapshot is read, so no status is missed.
    let mut statuses = state.integrations.as_ref().map(Integrations::subscribe);
    let attach = state.engine.attach(since);
    let mut receiver = attach.receiver;
    let hello = Frame::Hello(HelloWire {
        revision: attach.revision,
        protocol: PROTOCOL,
        instance: state.engine.instance().to_owned(),
    });
    if !send(sink, state, text(&hello)).await {
        return End::Client;
    }
    match attach.backlog {
        Backlog::Events(events) => {
            for event in events {
                if !send(sink, state, state.frames.reload(&event)).await {
                    return End::Client;
                }
            }
            // Statuses are not events: a resuming client gets the current ones.
            if !send_statuses(sink, state).await {
                return End::Client;
            }
        }
        Backlog::Snapshot(snapshot) => {
            let frame = state.frames.snapshot(&snapshot, &state.statuses());
            if !send(sink, state, frame).await {
                return End::Client;
            }
        }
    }

    let mut ping = tokio::time::interval(state.ws.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await; // the first tick is immediate
    let mut answered = true;
    loop {
        tokio::select! {
            // In this order: the client's own messages and the ping first
            // (rare, and a flood of revisions must not starve them), then
            // revisions before statuses, so a status published after a
            // revision (its connection test) never overtakes that revision's
            // reload frame, which is already queued when the status arrives.
            biased;
            () = state.shutdown.cancelled() => return End::Shutdown,
            message = stream.next() => match message {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return End::Client,
                // Anything the client sends (pongs included) shows it is alive.
                Some(Ok(_)) => answered = true,
            },
            _ = ping.tick() => {
                if !answered {
                    tracing::debug!("a WebSocket client answered no ping; dropping it");
                    return End::Client;
                }
                answered = false;
                if !send_message(sink, state, Message::Ping(Default::default())).await {
                    return End::Client;
                }
            }
            received = receiver.recv() => {
                let frame = match received {
                    Ok(event) => state.frames.reload(&event),
                    Err(RecvError::Lagged(missed)) => {
                        // Re-attach: the new receiver starts right after the
                        // snapshot it comes with, so nothing is lost or doubled.
                        let again = state.engine.attach(None);
                        receiver = again.receiver;
                        tracing::debug!(missed, revision = again.revision, "a WebSocket client lagged; sending a snapshot");
                        let snapshot = match again.backlog {
                            Backlog::Snapshot(s) => s,
                            Backlog::Events(_) => state.engine.snapshot(),
                        };
                        state.frames.snapshot(&snapshot, &state.statuses())
                    }
                    Err(RecvError::Closed) => return End::Shutdown,
                };
                if !send(sink, state, frame).await {
                    return End::Client;
                }
            }
            status = next_status(&mut statuses) => {
                let sent = match status {
                    Ok(status) => send(sink, state, status_frame(&status)).await,
                    // Missed some: the current ones say all there is to know.
                    Err(RecvError::Lagged(_)) => send_statuses(sink, state).await,
                    Err(RecvError::Closed) => {
                        statuses = None;
                        true
                    }
                };
                if !sent {
                    return End::Client;
                }
            }
        }
    }
}

async fn next_status(
    statuses: &mut Option<broadcast::Receiver<IntegrationStatus>>,
) -> Result<IntegrationStatus, RecvError> {
    match statuses {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn status_frame(status: &IntegrationStatus) -> Utf8Bytes {
    text(&Frame::IntegrationStatus(IntegrationStatusWire::from(
        status,
    )))
}

/// Every current connection status, one `integration_status` frame each.
async fn send_statuses(sink: &mut Sink, state: &AppState) -> bool {
    for status in state.statuses() {
        if !send(sink, state, status_frame(&status)).await {
            return false;
        }
    }
    true
}

fn text(frame: &Frame) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

async fn send(sink: &mut Sink, state: &AppState, frame: Utf8Bytes) -> bool {
    send_message(sink, state, Message::Text(frame)).await
}

/// Sends one message; `false` when the client is gone or took longer than
/// `send_timeout` to take it.
async fn send_message(sink: &mut Sink, state: &AppState, message: Message) -> bool {
    matches!(
        tokio::time::timeout(state.ws.send_timeout, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// Serialised `reload` and `snapshot` frames of the latest revisions.
#[derive(Default)]
pub struct FrameCache {
    entries: Mutex<VecDeque<(Key, Utf8Bytes)>>,
}

/// A cached frame: its kind, revision and, for snapshots, which connection
/// statuses it carries.
type Key = (Kind, u64, u64);

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Reload,
    Snapshot,
}

impl FrameCache {
    /// The `reload` frame of `event`.
    pub fn reload(&self, event: &Event) -> Utf8Bytes {
        self.get_or((Kind::Reload, event.revision, 0), || {
            Frame::Reload(EventWire::from(event))
        })
    }

    /// The `snapshot` frame of `snapshot` with the connection `statuses`.
    pub fn snapshot(&self, snapshot: &Snapshot, statuses: &[IntegrationStatus]) -> Utf8Bytes {
        self.get_or(
            (Kind::Snapshot, snapshot.revision, statuses_tag(statuses)),
            || Frame::Snapshot(SnapshotWire::new(snapshot, Statuses(statuses))),
        )
    }

    fn get_or(&self, key: Key, frame: impl FnOnce() -> Frame) -> Utf8Bytes {
        if let Some(hit) = self.lock().iter().find(|(k, _)| *k == key) {
            return hit.1.clone();
        }
        // Serialised outside the lock: two clients may both build a frame
        // for a new revision, which costs time but never a wrong frame.
        let built = text(&frame());
        let mut entries = self.lock();
        if !entries.iter().any(|(k, _)| *k == key) {
            entries.push_back((key, built.clone()));
            evict(&mut entries);
        }
        built
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Key, Utf8Bytes)>> {
        // One push or scan per lock; a panic cannot leave it half-written.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Drops the oldest frames until at most [`CACHED_FRAMES`] are kept and they
/// hold at most [`CACHED_FRAME_BYTES`], the newest always kept.
fn evict(entries: &mut VecDeque<(Key, Utf8Bytes)>) {
    let mut bytes: usize = entries.iter().map(|(_, f)| f.len()).sum();
    while entries.len() > CACHED_FRAMES || (bytes > CACHED_FRAME_BYTES && entries.len() > 1) {
        if let Some((_, old)) = entries.pop_front() {
            bytes -= old.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_cache_is_bounded_in_bytes_and_keeps_the_newest() {
        let mut entries = VecDeque::new();
        let big = "x".repeat(CACHED_FRAME_BYTES / 3 + 1);
        for revision in 0..5 {
            entries.push_back(((Kind::Reload, revision, 0), Utf8Bytes::from(big.clone())));
            evict(&mut entries);
        }
        let kept: Vec<u64> = entries.iter().map(|((_, r, _), _)| *r).collect();
        assert_eq!(kept, [3, 4]);
        let huge = "x".repeat(CACHED_FRAME_BYTES * 2);
        entries.push_back(((Kind::Reload, 9, 0), Utf8Bytes::from(huge)));
        evict(&mut entries);
        assert_eq!(entries.len(), 1, "the newest stays, however large");
        for revision in 10..100 {
            entries.push_back(((Kind::Reload, revision, 0), Utf8Bytes::from("{}")));
            evict(&mut entries);
        }
        assert_eq!(entries.len(), CACHED_FRAMES);
    }
}
