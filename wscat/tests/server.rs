//! `wscat -l` against ws-tokio clients: printing what clients send, broadcasting input
//! lines, JSON events, slash commands, subprotocols, compression, limits, pings, binary and
//! hex, and Ctrl-C.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{listening_port, within, wscat, Counting, TempDir, Wscat};
use serde_json::Value;
use tokio::net::TcpStream;
use ws_tokio::{
    connect_with, ClientBuilder, ClientRequest, Config, DeflateConfig, Event, MaxWindowBits, MaybeTlsStream, Message,
    WebSocket,
};

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
    // The default backend (zlib-rs) compresses with any window, so the server announces it.
    assert!(ext.contains("server_max_window_bits=12"), "{ext}");
    drop(ws);
    w.interrupt();
    w.finish().await;
}

/// A client of `wscat -l` on `port` over a stream that counts the bytes it reads, offering
/// `deflate`; returns it with the counter and the accepted extensions.
async fn counting_client(
    port: u16,
    deflate: DeflateConfig,
) -> (WebSocket<Counting<TcpStream>>, Arc<AtomicU64>, String) {
    let tcp = within("tcp connect", TcpStream::connect(("127.0.0.1", port))).await.unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let stream = Counting { inner: tcp, count: count.clone() };
    let config = Config::default().max_message_size(Some(1 << 20)).permessage_deflate(Some(deflate));
    let request = ClientRequest::new(&format!("127.0.0.1:{port}"), "/");
    let (ws, response) = within("handshake", connect_with(stream, request, Arc::new(config))).await.unwrap();
    let ext =
        response.headers().get("sec-websocket-extensions").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (ws, count, ext)
}

/// The next text message on a counting client.
async fn counted_text(ws: &mut WebSocket<Counting<TcpStream>>) -> String {
    loop {
        match within("a message from wscat", ws.recv()).await {
            Some(Ok(Event::Message(Message::Text(t)))) => return t.as_str().to_owned(),
            Some(Ok(Event::Ping(_) | Event::Pong(_))) => {}
            other => panic!("{other:?}"),
        }
    }
}

/// 64 000 letters: one pseudo-random block of `period` letters (from 16), repeated. Only a
/// compressor whose window reaches `period` bytes back finds the repeats.
fn repeating_text(period: usize) -> String {
    let mut x: u32 = 12345;
    let block: String = (0..period)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            char::from(b'a' + ((x >> 16) % 16) as u8)
        })
        .collect();
    block.repeat(64_000 / period)
}

/// `wscat -l EXTRA…` broadcasts `line` to a counting client offering `deflate`, and prints
/// the same text sent back by the client; returns the bytes the client read for the
/// message and the extensions the server accepted.
async fn round_trip(extra: &[&str], deflate: DeflateConfig, line: &str) -> (u64, String) {
    let (mut w, port) = listen(extra).await;
    let (mut ws, count, ext) = counting_client(port, deflate).await;
    w.stderr_until("Client #1 connected").await;
    let before = count.load(Ordering::Relaxed);
    w.send_line(line).await;
    assert!(counted_text(&mut ws).await == line, "the broadcast arrives intact ({extra:?}, {ext})");
    let bytes = count.load(Ordering::Relaxed) - before;
    ws.send(line.to_owned()).await.unwrap();
    assert!(w.line().await == line, "the client's message arrives intact ({extra:?}, {ext})");
    drop(ws);
    w.interrupt();
    assert_eq!(w.finish().await.code, Some(0));
    (bytes, ext)
}

#[tokio::test]
async fn server_window_bits_with_the_default_backend() {
    // Repeats 1000 bytes apart: zlib matches at most 2^bits - 262 bytes back, so 8, 9 and 10
    // bits cannot reach them, 12 and 15 can.
    let text = repeating_text(1000);
    let mut sizes = Vec::new();
    for bits in ["8", "9", "10", "12", "15"] {
        let (bytes, ext) =
            round_trip(&["--deflate-server-max-window-bits", bits], DeflateConfig::default(), &text).await;
        // 15 is the default window, announced only when the client asked for a size.
        let announced = ext.contains(&format!("server_max_window_bits={bits}"));
        assert!(announced || bits == "15", "{bits}: {ext}");
        sizes.push(bytes);
    }
    // 16 letters: ~4 bits each without matches (~32 000 bytes); with them, a few KB.
    assert!(sizes[..3].iter().all(|&n| n > 25_000), "small windows cannot reach the repeats: {sizes:?}");
    assert!(sizes[3..].iter().all(|&n| n < 8_000), "larger ones do: {sizes:?}");
}

#[tokio::test]
async fn server_asks_clients_for_their_settings() {
    let text = repeating_text(1000);
    let (_, ext) = round_trip(
        &["--deflate-client-no-context-takeover", "--deflate-client-max-window-bits", "10"],
        DeflateConfig::default(),
        &text,
    )
    .await;
    assert!(ext.contains("client_no_context_takeover"), "{ext}");
    assert!(ext.contains("client_max_window_bits=10"), "{ext}");
    // A client that cannot limit its window (no `client_max_window_bits` in its offer) gets
    // no compression rather than a refusal (as Node's ws).
    let (bytes, ext) = round_trip(
        &["--deflate-client-max-window-bits", "10"],
        DeflateConfig::default().client_max_window_bits(MaxWindowBits::Never),
        &text,
    )
    .await;
    assert_eq!(ext, "", "declined");
    assert!(bytes > 64_000, "{bytes}");
}

#[tokio::test]
async fn server_level_and_threshold() {
    let text = "abcdefgh".repeat(12_500);
    let (compressed, _) = round_trip(&[], DeflateConfig::default(), &text).await;
    assert!(compressed < 5_000, "compressed by default: {compressed}");
    let (stored, _) = round_trip(&["--deflate-level", "0"], DeflateConfig::default(), &text).await;
    assert!(stored > 100_000, "level 0 stores: {stored}");
    let (skipped, _) = round_trip(&["--deflate-threshold", "200000"], DeflateConfig::default(), &text).await;
    assert!(skipped > 100_000, "under the threshold, not compressed: {skipped}");
    let (best, _) = round_trip(&["--deflate-level", "9"], DeflateConfig::default(), &text).await;
    assert!(best < 5_000, "{best}");
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
