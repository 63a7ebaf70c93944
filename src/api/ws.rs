//! Stage `api`: the WebSocket stream `GET /ws/hot-reload?since=R&instance=I`.
//!
//! Per connection: `hello`, then what the client missed (the events after
//! `R` while history has them, when `I` names this server run; in follow
//! mode, with `since=<commit>`, one `reload` from that commit to the one
//! served, computed from git by `follow::resume`; else a `snapshot`), then
//! every live `reload`. Each connection takes its events
//! from history one at a time (`Engine::next_after`), woken by the engine's
//! revision watch, so it holds at most one event and one frame: a client
//! that reads slowly leaves its backlog in history (bounded by `history`
//! and `history_bytes`), and once history has dropped an event it has not
//! taken it gets a fresh `snapshot` instead. A client that answers no ping,
//! or takes no frame for `send_timeout`, is dropped. Frames every client
//! gets are serialised once (`cache`). It only reads the engine: it never
//! applies or changes anything.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::error::ErrorBody;
use super::error::{ApiError, ErrorCode};
use super::extract::Query;
use super::state::AppState;
use super::wire::{Frame, HelloWire, IntegrationStatusWire, PROTOCOL, Since, commit_of};
use crate::engine::Next;
use crate::follow::resume::ResumeError;
use crate::integrations::{IntegrationStatus, Integrations};

/// Largest message a client may send (it has nothing to send but pongs).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// Read buffer per connection. Clients only send pongs and closes, so the
/// 128 KiB default would be memory held for nothing by every idle client.
const READ_BUFFER: usize = 4 * 1024;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// The last revision the client has; the events after it are sent if
    /// history still has them (and `instance` names this server run), else
    /// a snapshot. In follow mode it may be the commit of the state held
    /// (the full id of a frame's `commit`), on any server following the
    /// same branch: one `reload` frame from that commit to the one served
    /// follows the hello (none when it is the one served), or a snapshot
    /// when that commit is unknown here or not in the served one's history.
    #[param(value_type = Option<String>)]
    pub since: Option<Since>,
    /// The `instance` of the hello that revision came from. Required to
    /// resume from a revision: revisions restart at 1 in every server run,
    /// so a `since` without it, or with another run's, gets a snapshot. Not
    /// needed with a commit.
    pub instance: Option<String>,
}

/// What a connection resumes from.
#[derive(Debug, Clone)]
enum Resume {
    Nothing,
    /// A revision of this server run.
    Revision(u64),
    /// A commit of the followed branch (full id).
    Commit(String),
}

/// `GET /ws/hot-reload`: upgrades to the stream.
#[utoipa::path(
    get,
    path = "/ws/hot-reload",
    tag = "stream",
    params(StreamQuery),
    responses(
        (status = 101, description = "WebSocket upgrade; text frames are `Frame` JSON objects", body = Frame),
        (status = 400, description = "not a WebSocket request or a bad `since`", body = ErrorBody),
        (status = 403, description = "foreign Host or Origin", body = ErrorBody),
    )
)]
pub async fn upgrade(
    State(state): State<AppState>,
    query: Result<Query<StreamQuery>, ApiError>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let since = match query.since {
        Some(Since::Revision(revision)) => match &query.instance {
            Some(instance) if instance == state.engine.instance() => Resume::Revision(revision),
            _ => Resume::Nothing,
        },
        // A commit is global: no instance needed (a working tree's server
        // has no commit resumes and answers with a snapshot).
        Some(Since::Commit(commit)) if state.resumes.is_some() => Resume::Commit(commit),
        _ => Resume::Nothing,
    };
    let ws = ws.map_err(|e| {
        ApiError::new(
            ErrorCode::WebsocketRequired,
            format!(
                "this route is a WebSocket stream ({}); connect with a WebSocket client",
                e.body_text().to_lowercase()
            ),
        )
    })?;
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        // A frame's declared length is checked before its payload is read.
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| connection(socket, state, since)))
}

type Sink = SplitSink<WebSocket, Message>;

/// How long a stopping server waits for a client's answer to its close
/// frame (below the server's own wait for its clients).
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);

/// Why a connection ended.
enum End {
    /// The client closed, vanished or stopped answering.
    Client,
    /// The server is stopping.
    Shutdown,
    /// The client sent a message over [`MAX_CLIENT_MESSAGE`].
    TooBig,
}

async fn connection(socket: WebSocket, state: AppState, since: Resume) {
    let _counted = state.clients.connect();
    let (mut sink, mut stream) = socket.split();
    let end = run(&mut sink, &mut stream, &state, since).await;
    if let End::TooBig = end {
        // 1009: the client learns why, rather than seeing the socket drop.
        let close = Message::Close(Some(CloseFrame {
            code: close_code::SIZE,
            reason: Utf8Bytes::from_static("message too big: a client sends at most 64 KiB"),
        }));
        let _ = tokio::time::timeout(state.ws.send_timeout, sink.send(close)).await;
        let _ = tokio::time::timeout(state.ws.send_timeout, sink.close()).await;
    }
    if let End::Shutdown = end {
        let close = Message::Close(Some(CloseFrame {
            code: close_code::AWAY,
            reason: Utf8Bytes::from_static("server shutting down"),
        }));
        let _ = tokio::time::timeout(state.ws.send_timeout, sink.send(close)).await;
        // Read until the client's answering close: a socket dropped with
        // that reply unread is reset by the kernel, and a reset can make
        // the client lose the close frame it had not read yet.
        let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Close(_) = message {
                    break;
                }
            }
        })
        .await;
    }
    // Dropping both halves closes the socket and frees its buffers.
}

/// Whether a read failed because the client's message (or frame) is over
/// the size limit.
fn is_too_big(e: &axum::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|inner| inner.downcast_ref::<tungstenite::Error>())
        .is_some_and(|inner| matches!(inner, tungstenite::Error::Capacity(_)))
}

async fn run(
    sink: &mut Sink,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    state: &AppState,
    since: Resume,
) -> End {
    // Subscribed before the snapshot is read, so no status is missed; the
    // revision watch before the first look at history, so no revision
    // published in between goes unnoticed.
    let mut statuses = state.integrations.as_ref().map(Integrations::subscribe);
    let mut revisions = state.engine.revisions();
    // One snapshot for the hello and, when there is no resume, the
    // snapshot frame: both name the same revision.
    let snapshot = state.engine.snapshot();
    let hello = Frame::Hello(HelloWire {
        revision: snapshot.revision,
        protocol: PROTOCOL,
        instance: state.engine.instance().to_owned(),
        commit: state
            .follow
            .as_ref()
            .and_then(|_| commit_of(snapshot.head.as_ref())),
    });
    if !send(sink, state, text(&hello)).await {
        return End::Client;
    }
    // The revision this client holds: `since` while history can carry it
    // on from there, else the snapshot sent now.
    let resumed = match since {
        Resume::Revision(r) => {
            Some(r).filter(|&r| !matches!(state.engine.next_after(r), Next::Snapshot(_)))
        }
        Resume::Commit(commit) => {
            let Some(resumes) = &state.resumes else {
                return End::Client;
            };
            let answer = tokio::select! {
                biased;
                () = state.shutdown.cancelled() => return End::Shutdown,
                answer = resumes.since(&commit, &snapshot) => answer,
            };
            match answer {
                Ok(change) => {
                    if let Some(event) = change {
                        let frame = state
                            .cache
                            .resume(&event, &commit, false)
                            .unwrap_or_default();
                        if !send(sink, state, frame).await {
                            return End::Client;
                        }
                    }
                    Some(snapshot.revision)
                }
                Err(e @ ResumeError::Failed { .. }) => {
                    tracing::warn!(error = %e, "a resume from a commit failed; sending a snapshot");
                    None
                }
                Err(e) => {
                    tracing::debug!(error = %e, "a WebSocket client's commit cannot be resumed from; sending a snapshot");
                    None
                }
            }
        }
        Resume::Nothing => None,
    };
    let mut held = match resumed {
        Some(revision) => {
            drop(snapshot);
            // Statuses are not events: a resuming client gets the current ones.
            if !send_statuses(sink, state).await {
                return End::Client;
            }
            revision
        }
        None => {
            let frame = state.cache.snapshot(&snapshot, &state.statuses());
            let revision = snapshot.revision;
            drop(snapshot);
            if !send(sink, state, frame).await {
                return End::Client;
            }
            revision
        }
    };

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
            // reload frame, which is already in history when the status
            // arrives.
            biased;
            () = state.shutdown.cancelled() => return End::Shutdown,
            message = stream.next() => match message {
                Some(Err(e)) if is_too_big(&e) => return End::TooBig,
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
            next = next_after(state, &mut revisions, held) => {
                // Only the frame is kept while it is sent, never the event
                // or snapshot it was written from.
                let frame = match next {
                    Some(Next::Event(event)) => {
                        held = event.revision;
                        state.cache.reload(&event)
                    }
                    Some(Next::Snapshot(snapshot)) => {
                        tracing::debug!(held, revision = snapshot.revision, "a WebSocket client fell behind history; sending a snapshot");
                        held = snapshot.revision;
                        state.cache.snapshot(&snapshot, &state.statuses())
                    }
                    Some(Next::UpToDate) | None => return End::Shutdown,
                };
                if !send(sink, state, frame).await {
                    return End::Client;
                }
            }
            status = next_status(&mut statuses) => {
                let sent = match status {
                    Ok(status) => send(sink, state, status_frame(state, &status)).await,
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

/// The next event (or snapshot) for a client holding revision `held`,
/// waiting for a publish while it is up to date; `None` once the engine is
/// gone. Cancel-safe: nothing is taken from history until it returns.
async fn next_after(
    state: &AppState,
    revisions: &mut tokio::sync::watch::Receiver<u64>,
    held: u64,
) -> Option<Next> {
    loop {
        match state.engine.next_after(held) {
            Next::UpToDate => {}
            next => return Some(next),
        }
        revisions.changed().await.ok()?;
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

fn status_frame(state: &AppState, status: &IntegrationStatus) -> Utf8Bytes {
    let mut wire = IntegrationStatusWire::from(status);
    wire.commit = state.commit_served();
    text(&Frame::IntegrationStatus(wire))
}

/// Every current connection status, one `integration_status` frame each.
async fn send_statuses(sink: &mut Sink, state: &AppState) -> bool {
    for status in state.statuses() {
        if !send(sink, state, status_frame(state, &status)).await {
            return false;
        }
    }
    true
}

fn text(frame: &Frame) -> Utf8Bytes {
    Utf8Bytes::from(crate::json::to_string(frame))
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
