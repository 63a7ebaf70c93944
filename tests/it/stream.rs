//! The WebSocket stream `/ws/hot-reload` on a real server: live reload
//! frames for real edits, exact resume with `since`, a snapshot for a
//! lagging reader or a revision no longer in history, dead clients dropped,
//! and a close frame at shutdown. Every frame is checked for secrets.

use futures_util::StreamExt;
use qa_reload::api::WsConfig;
use qa_reload::app::{self, Options};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::served::{self, Fed, GUARD, SECRETS, Server, eventually, next_frame, workflow};

/// `hello` and then the snapshot or events; returns the hello.
async fn hello<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let hello = next_frame(ws).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    assert_eq!(hello["protocol"], 1);
    hello
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_reaches_the_client_as_a_reload_with_patch_and_hunks() {
    let repo = served::repo(256);
    let mut options = Options::new(&repo.root);
    options.env = served::env();
    let app = app::start(options).await.unwrap();
    let server = Server::start(app.engine.clone(), None, WsConfig::default()).await;
    let mut ws = served::ws_connect(&server.ws_url(""), &[]).await.unwrap();
    let first = hello(&mut ws).await;
    let snapshot = next_frame(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["revision"], first["revision"]);
    let previous = snapshot["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "smoke")
        .unwrap()["definition"]
        .clone();

    // Line 5 of the file is `estimated_minutes: 10`.
    repo.write("workflows/smoke.yaml", &workflow("Smoke", 25));
    let reload = next_frame(&mut ws).await;
    assert_eq!(reload["type"], "reload", "{reload}");
    assert_eq!(
        reload["base_revision"].as_u64().unwrap() + 1,
        reload["revision"].as_u64().unwrap()
    );
    assert_eq!(reload["cause"]["kind"], "edit");
    assert!(reload["at"].as_str().unwrap().ends_with('Z'));
    assert!(reload["timings"]["apply_ms"].is_number());
    let patch = &reload["patches"][0];
    assert_eq!(
        (
            patch["kind"].as_str(),
            patch["id"].as_str(),
            patch["op"].as_str()
        ),
        (Some("workflow"), Some("smoke"), Some("modified"))
    );
    let change = &patch["changes"][0];
    assert_eq!(change["path"], "steps[id=first].estimated_minutes");
    assert_eq!(
        (
            change["old"].clone(),
            change["new"].clone(),
            change["line"].clone()
        ),
        (Value::from(10), Value::from(25), Value::from(5))
    );
    assert_eq!(patch["git"]["differs_from_head"], true);

    let ops: json_patch::Patch = serde_json::from_value(patch["json_patch"].clone()).unwrap();
    let mut doc = previous;
    json_patch::patch(&mut doc, &ops).unwrap();
    let now = server.get("/api/v1/workflows/smoke").await.json();
    assert_eq!(
        doc, now["definition"],
        "the JSON Patch does not turn the old definition into the new"
    );

    let lines: Vec<&Value> = patch["diff"]["hunks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["lines"].as_array().unwrap())
        .collect();
    let inserted = lines.iter().find(|l| l["tag"] == "insert").unwrap();
    assert_eq!(inserted["new_line"], 5);
    assert!(
        inserted["text"]
            .as_str()
            .unwrap()
            .contains("estimated_minutes: 25")
    );
    let deleted = lines.iter().find(|l| l["tag"] == "delete").unwrap();
    assert_eq!(deleted["old_line"], 5);

    // A secret changes: the frame says so, masked (next_frame checks).
    repo.write("config/jira_config.yaml", &served::jira_config(SECRETS[2]));
    let reload = next_frame(&mut ws).await;
    let patch = &reload["patches"][0];
    assert_eq!(patch["id"], "jira");
    assert!(
        patch["changes"][0]["new"]
            .as_str()
            .unwrap()
            .starts_with("••••••"),
        "{patch}"
    );
    served::close(ws).await;
    server.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_since_gets_exactly_the_missed_events_or_a_snapshot() {
    let mut fed = Fed::start(served::repo(3), 1024).await;
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let mut ws = served::ws_connect(&server.ws_url(""), &[]).await.unwrap();
    let first = hello(&mut ws).await;
    let since = first["revision"].as_u64().unwrap();
    let instance = first["instance"].as_str().unwrap().to_owned();
    assert_eq!(next_frame(&mut ws).await["type"], "snapshot");
    served::close(ws).await;

    for minutes in [11, 12, 13] {
        fed.change(&[("workflows/smoke.yaml", &workflow("Smoke", minutes))])
            .await;
    }
    // A revision without the server run it came from is not resumed.
    let mut ws = served::ws_connect(&server.ws_url(&format!("?since={since}")), &[])
        .await
        .unwrap();
    hello(&mut ws).await;
    let snapshot = next_frame(&mut ws).await;
    assert_eq!(
        (snapshot["type"].as_str(), snapshot["revision"].as_u64()),
        (Some("snapshot"), Some(since + 3))
    );
    served::close(ws).await;

    let resume = |since: u64| server.ws_url(&format!("?since={since}&instance={instance}"));
    let mut ws = served::ws_connect(&resume(since), &[]).await.unwrap();
    assert_eq!(hello(&mut ws).await["revision"].as_u64(), Some(since + 3));
    for (i, minutes) in [11, 12, 13].into_iter().enumerate() {
        let frame = next_frame(&mut ws).await;
        assert_eq!(frame["type"], "reload", "{frame}");
        assert_eq!(frame["revision"].as_u64(), Some(since + 1 + i as u64));
        assert_eq!(frame["patches"][0]["changes"][0]["new"], minutes);
    }
    // Then the live feed, with nothing repeated: the next frame is the next revision.
    fed.change(&[("workflows/smoke.yaml", &workflow("Smoke", 14))])
        .await;
    let live = next_frame(&mut ws).await;
    assert_eq!(
        (live["type"].as_str(), live["revision"].as_u64()),
        (Some("reload"), Some(since + 4))
    );
    served::close(ws).await;

    // A revision from another server run (another instance) is not resumed.
    let mut ws = served::ws_connect(
        &server.ws_url(&format!("?since={}&instance=0123456789abcdef", since + 3)),
        &[],
    )
    .await
    .unwrap();
    hello(&mut ws).await;
    assert_eq!(next_frame(&mut ws).await["type"], "snapshot");
    served::close(ws).await;

    // History keeps 3: revision `since + 1` is gone, so `since` gets a snapshot.
    let mut ws = served::ws_connect(&resume(since), &[]).await.unwrap();
    hello(&mut ws).await;
    let snapshot = next_frame(&mut ws).await;
    assert_eq!(
        (snapshot["type"].as_str(), snapshot["revision"].as_u64()),
        (Some("snapshot"), Some(since + 4))
    );
    let smoke = snapshot["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "smoke")
        .unwrap();
    assert_eq!(smoke["definition"]["steps"][0]["estimated_minutes"], 14);
    served::close(ws).await;
    server.stop().await;
    fed.shutdown.cancel();
}

/// A workflow whose description (about 8 KB) changes each generation, so
/// every frame is big enough to fill small socket buffers.
fn big_workflow(generation: u32) -> String {
    let filler = "x".repeat(8000);
    format!(
        "name: Big\ndescription: gen {generation} {filler}\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 1\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_whose_backlog_passes_the_byte_budget_gets_a_snapshot_and_stays_connected() {
    const CHANGES: u32 = 20;
    let repo = served::repo(256);
    // History may keep 1,000 events but only 64 KiB: a few of these
    // revisions (each some 16 KB: the old and the new 8 KB description).
    // The broadcast is as long as history, so only the bytes can cut over
    // a reader stuck on one frame.
    repo.commit(
        &[
            ("workflows/big.yaml", &big_workflow(0)),
            (
                "config/hot_reload.yaml",
                "history: 1000\nhistory_bytes: 65536\n",
            ),
        ],
        "big",
    );
    let mut fed = Fed::start(repo, 1024).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = Server::on(
        socket.listen(64).unwrap(),
        fed.engine.clone(),
        None,
        WsConfig::default(),
    );

    let client = TcpSocket::new_v4().unwrap();
    client.set_recv_buffer_size(4096).unwrap();
    let stream: TcpStream = client.connect(server.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(server.ws_url(""), stream)
        .await
        .unwrap();
    let start = hello(&mut ws).await["revision"].as_u64().unwrap();
    assert_eq!(next_frame(&mut ws).await["type"], "snapshot");

    // The client reads nothing while the revisions are made.
    for g in 1..=CHANGES {
        fed.change(&[("workflows/big.yaml", &big_workflow(g))])
            .await;
    }
    let last = start + u64::from(CHANGES);
    let history = fed.engine.history_use();
    assert!(
        history.events < CHANGES as usize && history.bytes <= 65536,
        "{history:?}"
    );
    let mut reloads = Vec::new();
    let snapshot = loop {
        let frame = next_frame(&mut ws).await;
        match frame["type"].as_str() {
            Some("reload") => reloads.push(frame["revision"].as_u64().unwrap()),
            Some("snapshot") => break frame,
            _ => panic!("unexpected frame {frame}"),
        }
    };
    // Whatever came before the snapshot came in order, without gaps.
    let expected: Vec<u64> = (start + 1..start + 1 + reloads.len() as u64).collect();
    assert_eq!(reloads, expected);
    assert!(reloads.len() < CHANGES as usize, "the reader never lagged");
    assert_eq!(snapshot["revision"].as_u64(), Some(last));
    let big = snapshot["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "big")
        .unwrap();
    assert!(
        big["definition"]["description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("gen {CHANGES} "))
    );

    // Still connected: the next revision arrives as a reload.
    fed.change(&[("workflows/big.yaml", &big_workflow(CHANGES + 1))])
        .await;
    let next = next_frame(&mut ws).await;
    assert_eq!(
        (next["type"].as_str(), next["revision"].as_u64()),
        (Some("reload"), Some(last + 1))
    );
    served::close(ws).await;
    server.stop().await;
    fed.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_answers_no_ping_is_dropped() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let ws_config = WsConfig {
        ping_interval: std::time::Duration::from_millis(100),
        send_timeout: std::time::Duration::from_secs(2),
    };
    let server = Server::start(fed.engine.clone(), None, ws_config).await;
    let clients = server.state.clients.clone();
    let mut ws = served::ws_connect(&server.ws_url(""), &[]).await.unwrap();
    hello(&mut ws).await;
    next_frame(&mut ws).await;
    assert_eq!(clients.count(), 1);
    // Not reading means not answering pings (the client answers when read).
    eventually("the silent client is dropped", || clients.count() == 0).await;
    drop(ws);
    // A client that keeps reading answers pings and stays.
    let mut alive = served::ws_connect(&server.ws_url(""), &[]).await.unwrap();
    hello(&mut alive).await;
    next_frame(&mut alive).await;
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        while let Some(Ok(message)) = alive.next().await {
            if let Message::Ping(_) = message {
                pings += 1;
                if pings == 5 {
                    return alive;
                }
            }
        }
        panic!("the live client was dropped");
    });
    let alive = tokio::time::timeout(GUARD, reader).await.unwrap().unwrap();
    assert_eq!(clients.count(), 1);
    served::close(alive).await;
    server.stop().await;
    fed.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_every_client_a_close_frame() {
    let fed = Fed::start(served::repo(256), 1024).await;
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut ws = served::ws_connect(&server.ws_url(""), &[]).await.unwrap();
        hello(&mut ws).await;
        next_frame(&mut ws).await;
        clients.push(ws);
    }
    let state = server.state.clone();
    let stopping = tokio::spawn(server.stop());
    for mut ws in clients {
        let message = tokio::time::timeout(GUARD, ws.next()).await.unwrap();
        match message {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    stopping.await.unwrap();
    assert_eq!(state.clients.count(), 0);
    fed.shutdown.cancel();
}

/// A client message over the 64 KiB limit closed the socket with no close
/// frame; the client now gets 1009 (message too big), in one frame or
/// split over several, and the server keeps serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_client_message_is_closed_with_1009() {
    use futures_util::SinkExt;
    let fed = Fed::start(served::repo(256), 1024).await;
    let server = Server::start(fed.engine.clone(), None, WsConfig::default()).await;
    for fragmented in [false, true] {
        let mut ws = served::ws_connect(&server.ws_url(""), &[]).await.unwrap();
        hello(&mut ws).await;
        next_frame(&mut ws).await;
        let big = "x".repeat(100 * 1024);
        if fragmented {
            // Two frames of 50 KiB each: every frame is within the limit,
            // the message is not.
            use tokio_tungstenite::tungstenite::protocol::frame::Frame;
            use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
            let half = big.len() / 2;
            let first = Frame::message(big[..half].to_owned(), OpCode::Data(Data::Text), false);
            let rest = Frame::message(big[half..].to_owned(), OpCode::Data(Data::Continue), true);
            let _ = ws.send(Message::Frame(first)).await;
            let _ = ws.send(Message::Frame(rest)).await;
        } else {
            let _ = ws.send(Message::text(big)).await;
        }
        let closed = tokio::time::timeout(GUARD, async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame,
                    Some(Ok(_)) => continue,
                    other => panic!("expected a close frame, got {other:?}"),
                }
            }
        })
        .await
        .expect("a close frame within the guard");
        let frame = closed.expect("the close frame carries a code");
        assert_eq!(frame.code, CloseCode::Size, "fragmented: {fragmented}");
    }
    assert_eq!(server.get(qa_reload::api::routes::STATUS).await.status, 200);
    server.stop().await;
    fed.shutdown.cancel();
}
