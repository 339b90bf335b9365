//! `wscat -l` against ws-tokio clients: printing what clients send, broadcasting input
//! lines, JSON events, slash commands, subprotocols, compression, limits, pings, binary and
//! hex, and Ctrl-C.

mod common;

use std::time::Duration;

use common::{listening_port, within, wscat, TempDir, Wscat};
use serde_json::Value;
use ws_tokio::{ClientBuilder, Event, MaybeTlsStream, Message, WebSocket};

type Ws = WebSocket<MaybeTlsStream>;

/// Starts `wscat -l 0 --bind 127.0.0.1 EXTRA…` and returns it with its port.
async fn listen(extra: &[&str]) -> (Wscat, u16) {
    let mut args = vec!["-l", "0", "--bind", "127.0.0.1"];
    args.extend_from_slice(extra);
    let w = wscat(&args);
    let port = if extra.contains(&"--json") {
        let mut w = w;
        let line: Value = serde_json::from_str(&w.line().await).unwrap();
        assert_eq!(line["type"], "listening");
        let port = line["port"].as_u64().unwrap() as u16;
        return (w, port);
    } else {
        listening_port(&w.stderr_until("Listening on port").await)
    };
    (w, port)
}

async fn client(port: u16) -> Ws {
    within("connecting to wscat", ClientBuilder::new(format!("ws://127.0.0.1:{port}/room")).connect()).await.unwrap().0
}

/// The next event that is not a ping or pong.
async fn next(ws: &mut Ws) -> Event {
    loop {
        match within("an event from wscat", ws.recv()).await {
            Some(Ok(Event::Ping(_) | Event::Pong(_))) => continue,
            Some(Ok(e)) => return e,
            other => panic!("{other:?}"),
        }
    }
}

async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Event::Message(Message::Text(t)) => t.as_str().to_owned(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn prints_messages_and_broadcasts_lines() {
    let (mut w, port) = listen(&[]).await;
    let mut a = client(port).await;
    let mut b = client(port).await;
    w.stderr_until("Client #2 connected").await;
    a.send("from a").await.unwrap();
    assert_eq!(w.line().await, "from a");
    b.send("from b").await.unwrap();
    assert_eq!(w.line().await, "from b");
    w.send_line("to everyone").await;
    assert_eq!(next_text(&mut a).await, "to everyone");
    assert_eq!(next_text(&mut b).await, "to everyone");
    a.close(1000u16, "leaving").await.unwrap();
    w.stderr_until("Client #1 disconnected (code: 1000, reason: \"leaving\")").await;
    w.interrupt();
    match next(&mut b).await {
        Event::Closed(info) => assert_eq!(info.code().as_u16(), 1000),
        other => panic!("{other:?}"),
    }
    let done = w.finish().await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(done.stderr.contains("Server stopped"), "{done:?}");
}

#[tokio::test]
async fn end_of_input_keeps_the_server_running() {
    let (mut w, port) = listen(&[]).await;
    w.close_stdin();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut a = client(port).await;
    a.send("still here").await.unwrap();
    assert_eq!(w.line().await, "still here");
    drop(a);
    w.interrupt();
    assert_eq!(w.finish().await.code, Some(0));
}

#[tokio::test]
async fn json_events_name_the_client() {
    let (mut w, port) = listen(&["--json"]).await;
    let mut a = client(port).await;
    let conn: Value = serde_json::from_str(&w.line().await).unwrap();
    assert_eq!(conn["type"], "connection");
    assert_eq!(conn["client"], 1);
    assert_eq!(conn["path"], "/room");
    a.send("hi").await.unwrap();
    let msg: Value = serde_json::from_str(&w.line().await).unwrap();
    assert_eq!(msg, serde_json::json!({"type": "message", "kind": "text", "data": "hi", "client": 1}));
    a.close(4005u16, "bye").await.unwrap();
    let close: Value = serde_json::from_str(&w.line().await).unwrap();
    assert_eq!(close, serde_json::json!({"type": "close", "code": 4005, "reason": "bye", "clean": true, "client": 1}));
    w.interrupt();
    w.finish().await;
}

#[tokio::test]
async fn slash_commands_reach_every_client() {
    let (mut w, port) = listen(&["--slash", "-P"]).await;
    let mut a = client(port).await;
    w.stderr_until("Client #1 connected").await;
    w.send_line("/ping are you there").await;
    match within("ping", a.recv()).await {
        Some(Ok(Event::Ping(p))) => assert_eq!(&p[..], b"are you there"),
        other => panic!("{other:?}"),
    }
    w.stderr_until("Received pong from client #1 (data: \"are you there\")").await;
    a.ping("client ping").await.unwrap();
    w.stderr_until("Received ping from client #1 (data: \"client ping\")").await;
    w.send_line("/pong x").await;
    w.send_line("/close 4002 server says bye").await;
    loop {
        match within("close", a.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert_eq!((info.code().as_u16(), info.reason()), (4002, "server says bye"));
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    w.interrupt();
    w.finish().await;
}

#[tokio::test]
async fn subprotocols_compression_and_limits() {
    let (w, port) = listen(&["-s", "chat", "--no-deflate", "--max-payload", "50"]).await;
    let (mut ws, _) = within(
        "connect",
        ClientBuilder::new(format!("ws://127.0.0.1:{port}/")).subprotocols(["other", "chat"]).connect(),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), Some("chat"));
    assert_eq!(ws.extensions(), None, "--no-deflate declines compression");
    w.stderr_until("subprotocol chat").await;
    ws.send("y".repeat(100)).await.unwrap();
    match next(&mut ws).await {
        Event::Closed(info) => assert_eq!(info.code().as_u16(), 1009),
        other => panic!("{other:?}"),
    }
    w.interrupt();
    w.finish().await;

    let (w, port) = listen(&["--deflate-server-no-context-takeover", "--deflate-server-max-window-bits", "12"]).await;
    let ws = client(port).await;
    let ext = ws.extensions().unwrap_or_default().to_owned();
    assert!(ext.contains("permessage-deflate") && ext.contains("server_no_context_takeover"), "{ext}");
    drop(ws);
    // (The default deflate backend cannot compress with a smaller window, so the server does
    // not announce `server_max_window_bits`; the option is accepted and ignored then.)
    w.interrupt();
    w.finish().await;
}

#[tokio::test]
async fn ping_interval_pings_every_client() {
    let (w, port) = listen(&["--ping-interval", "0.2"]).await;
    let mut a = client(port).await;
    let mut pings = 0;
    while pings < 2 {
        if let Some(Ok(Event::Ping(_))) = within("ping", a.recv()).await {
            pings += 1;
        }
    }
    drop(a);
    w.interrupt();
    w.finish().await;
}

#[tokio::test]
async fn binary_file_hex_and_dumps() {
    let dir = TempDir::new("server-bin");
    let file = dir.file("greeting.bin", [1u8, 2, 3]);
    let (mut w, port) = listen(&["--binary-file", file.to_str().unwrap(), "--hex"]).await;
    let mut a = client(port).await;
    match next(&mut a).await {
        Event::Message(Message::Binary(b)) => assert_eq!(&b[..], [1, 2, 3]),
        other => panic!("{other:?}"),
    }
    a.send(Message::binary(vec![0xde, 0xad])).await.unwrap();
    assert_eq!(w.line().await, "dead");
    w.send_line("be ef").await;
    match next(&mut a).await {
        Event::Message(Message::Binary(b)) => assert_eq!(&b[..], [0xbe, 0xef]),
        other => panic!("{other:?}"),
    }
    drop(a);
    w.interrupt();
    w.finish().await;

    // Without --hex, binary messages are dumped.
    let (mut w, port) = listen(&[]).await;
    let mut a = client(port).await;
    a.send(Message::binary(b"AB".to_vec())).await.unwrap();
    assert_eq!(w.line().await, "00000000  41 42                                             |AB|");
    drop(a);
    w.interrupt();
    w.finish().await;
}

#[tokio::test]
async fn no_client_means_nothing_sent() {
    let (mut w, _port) = listen(&[]).await;
    w.send_line("anyone?").await;
    w.stderr_until("no client is connected").await;
    w.interrupt();
    assert_eq!(w.finish().await.code, Some(0));
}
