//! The axum extractor (feature `axum`): a real axum server on 127.0.0.1 and ws-tokio clients.
//! The extractor answers with ws-proto's handshake rules (subprotocols, permessage-deflate,
//! config, the `client_error` hook) and hands a ws-tokio `WebSocket` to its callback.
//! Loopback only; every await is bounded by `common::within`.
#![cfg(feature = "axum")]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ws_tokio::axum::WebSocketUpgrade;
use ws_tokio::http::StatusCode;
use ws_tokio::ws_async::runtime::Io;
use ws_tokio::{
    Bytes, ClientBuilder, ClientErrorReply, CloseCode, Config, ConnectError, DeflateConfig, Event, Message,
    ServerOptions,
};

/// Echoes every message; tells the client the request path first.
async fn echo(ws: WebSocketUpgrade) -> Response {
    let path = ws.request().uri().path().to_owned();
    let config = Arc::new(Config::default().max_message_size(Some(1 << 20)));
    let options = ServerOptions::default().per_message_deflate(Some(DeflateConfig::default()));
    ws.options(Arc::new(options)).protocols(["v2", "chat"]).config(config).on_upgrade(|mut socket| async move {
        if socket.send(format!("hello {path}")).await.is_err() {
            return;
        }
        while let Some(Ok(event)) = socket.recv().await {
            if let Event::Message(msg) = event {
                if socket.send(msg).await.is_err() {
                    break;
                }
            }
        }
    })
}

/// Plain HTTP and WebSocket on one route (`Option<WebSocketUpgrade>`).
async fn both(ws: Option<WebSocketUpgrade>) -> Response {
    match ws {
        Some(ws) => ws.on_upgrade(|mut socket| async move {
            let _ = socket.send("upgraded").await;
            let _ = socket.close(CloseCode::NORMAL, "bye").await;
            while let Some(Ok(_)) = socket.recv().await {}
        }),
        None => "plain http\n".into_response(),
    }
}

/// Answers every invalid upgrade request with the `client_error` hook's 418.
async fn hooked(ws: WebSocketUpgrade) -> Response {
    let options = ServerOptions::default().client_error(|error, _request| {
        let mut response = ws_tokio::http::Response::new(Bytes::from(format!("hook: {error}")));
        *response.status_mut() = StatusCode::IM_A_TEAPOT;
        ClientErrorReply::Replace(response)
    });
    ws.options(Arc::new(options)).on_upgrade(|_socket| async {})
}

async fn serve() -> SocketAddr {
    let app = Router::new().route("/ws", get(echo)).route("/both", get(both)).route("/hooked", get(hooked));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn next_text<S>(ws: &mut ws_tokio::WebSocket<S>) -> String
where
    ws_tokio::Tokio: Io<S>,
{
    match within(ws.recv()).await {
        Some(Ok(Event::Message(Message::Text(t)))) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Sends `request` and returns everything the server answers until it closes.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut tcp = within(TcpStream::connect(addr)).await.unwrap();
    within(tcp.write_all(request.as_bytes())).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    // axum keeps a plain HTTP/1.1 connection open: read until the body is complete.
    loop {
        let n = within(tcp.read(&mut buf)).await.unwrap();
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response);
        let complete = text.find("\r\n\r\n").is_some_and(|end| {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.parse().unwrap()));
            length.is_some_and(|len: usize| text.len() >= end + 4 + len)
        });
        if n == 0 || complete {
            return text.into_owned();
        }
    }
}

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[tokio::test]
async fn the_extractor_upgrades_with_protocols_and_deflate() {
    let addr = serve().await;
    let url = format!("ws://{addr}/ws");
    // The client builder offers permessage-deflate by default.
    let (mut ws, response) = within(ClientBuilder::new(&url).subprotocols(["chat", "v2"]).connect()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    // The client's first offer that the route supports.
    assert_eq!(ws.protocol(), Some("chat"));
    assert!(ws.extensions().is_some_and(|e| e.starts_with("permessage-deflate")), "{:?}", ws.extensions());
    assert_eq!(next_text(&mut ws).await, "hello /ws");
    let big = "compressible ".repeat(10_000);
    within(ws.send(big.as_str())).await.unwrap();
    assert_eq!(next_text(&mut ws).await, big);
    // The route's config: a message over 1 MiB fails the connection with 1009.
    within(ws.send(Message::binary(vec![0u8; (1 << 20) + 1]))).await.unwrap();
    loop {
        match within(ws.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert_eq!(info.code(), CloseCode::MESSAGE_TOO_BIG);
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }

    // Without a common subprotocol or deflate offer: neither.
    let (mut ws, _) = within(ClientBuilder::new(&url).per_message_deflate(None).connect()).await.unwrap();
    assert_eq!((ws.protocol(), ws.extensions()), (None, None));
    assert_eq!(next_text(&mut ws).await, "hello /ws");
    within(ws.close(CloseCode::NORMAL, "done")).await.unwrap();
}

#[tokio::test]
async fn refusals_follow_the_handshake_rules() {
    let addr = serve().await;
    // Not an upgrade at all: the extractor refuses with 426.
    let plain = exchange(addr, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(plain.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{plain}");
    assert!(plain.to_ascii_lowercase().contains("\r\nupgrade: websocket\r\n"), "{plain}");
    // A bad version: 400 with the versions this server speaks.
    let bad = exchange(
        addr,
        &format!("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{KEY}Sec-WebSocket-Version: 7\r\n\r\n"),
    )
    .await;
    assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
    assert!(bad.to_ascii_lowercase().contains("\r\nsec-websocket-version: 13, 8\r\n"), "{bad}");
    assert!(bad.ends_with("missing or invalid Sec-WebSocket-Version header"), "{bad}");
    // The client sees the refusal as such.
    let e = within(ClientBuilder::new(format!("ws://{addr}/missing")).connect()).await.map(|_| ()).unwrap_err();
    assert!(matches!(e, ConnectError::Rejected { status: StatusCode::NOT_FOUND, .. }), "{e:?}");
    // The options' client_error hook replaces the answer.
    let hooked = exchange(
        addr,
        &format!("GET /hooked HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{KEY}\r\n"),
    )
    .await;
    assert!(hooked.starts_with("HTTP/1.1 418 I'm a teapot\r\n"), "{hooked}");
    assert!(hooked.ends_with("hook: missing or invalid Sec-WebSocket-Version header"), "{hooked}");
}

#[tokio::test]
async fn option_serves_plain_http_and_websocket_on_one_route() {
    let addr = serve().await;
    let plain = exchange(addr, "GET /both HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(plain.starts_with("HTTP/1.1 200 OK\r\n") && plain.ends_with("plain http\n"), "{plain}");
    let (mut ws, _) = within(ClientBuilder::new(format!("ws://{addr}/both")).connect()).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "upgraded");
    match within(ws.recv()).await {
        Some(Ok(Event::Closed(info))) => assert!(info.was_clean() && info.reason() == "bye", "{info:?}"),
        other => panic!("{other:?}"),
    }
}
