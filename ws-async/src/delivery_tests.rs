//! Nothing the application handed over, and nothing the peer sent before its close, is lost
//! in the adapter layer (the hardening issue's delivery cases that live here).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use ws_proto::{Config, DeflateConfig, Event, Message, Role, ServerOptions};

use crate::error::AcceptError;
use crate::handshake::{accept_async_with, connect_with};
use crate::test_runtime::TestRuntime;
use crate::WebSocket;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Accepts on `io` with a `verify_client` that takes 50 ms.
async fn slow_accept(io: DuplexStream) -> Result<WebSocket<DuplexStream, TestRuntime>, AcceptError> {
    accept_async_with::<_, TestRuntime, _, _>(io, Arc::default(), Arc::default(), |req| {
        let verdict = req.negotiate();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            verdict
        }
    })
    .await
}

#[tokio::test]
async fn a_client_gone_during_async_verification_gets_no_101() {
    let (mut client, server) = tokio::io::duplex(4096);
    client.write_all(REQUEST).await.unwrap();
    drop(client);
    match slow_accept(server).await {
        Err(AcceptError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted, "{e}"),
        other => panic!("expected the dead client to be refused, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_client_still_there_after_async_verification_is_accepted() {
    let (mut client, server) = tokio::io::duplex(4096);
    client.write_all(REQUEST).await.unwrap();
    let accepted = tokio::spawn(slow_accept(server));
    let mut head = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut head)).await.unwrap().unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101"), "{:?}", String::from_utf8_lossy(&head[..n]));
    assert!(accepted.await.unwrap().is_ok());
}

/// A deflate pair over an in-memory pipe; the server compresses every message of 1 byte or
/// more, off the runtime.
async fn deflate_pair() -> (WebSocket<DuplexStream, TestRuntime>, WebSocket<DuplexStream, TestRuntime>) {
    let (c, s) = tokio::io::duplex(1 << 20);
    let mut server_options = ServerOptions::default();
    server_options.per_message_deflate(Some(DeflateConfig::default().threshold(1).offload_threshold(Some(1))));
    let server = tokio::spawn(async move {
        crate::handshake::accept_with::<_, TestRuntime>(s, Arc::default(), Arc::new(server_options)).await
    });
    let mut config = Config::default();
    config.permessage_deflate(Some(DeflateConfig::default()));
    let request = ws_proto::ClientRequest::new("x", "/");
    let (client, _) = connect_with::<_, TestRuntime>(c, request, Arc::new(config)).await.unwrap();
    let server = server.await.unwrap().unwrap();
    assert_eq!(server.connection().role(), Role::Server);
    (client, server)
}

#[tokio::test]
async fn a_reply_being_compressed_goes_out_before_the_close_echo() {
    let (mut client, mut server) = deflate_pair().await;
    let reply = "reply ".repeat(50_000);
    client.send("question").await.unwrap();
    client.close(1000u16, "done").await.unwrap();
    // The server reads the question; the client's close is already in its input.
    match server.recv().await {
        Some(Ok(Event::Message(m))) => assert_eq!(m, Message::text("question")),
        other => panic!("{other:?}"),
    }
    // Queued whole, compressed off the runtime; the next recv must write it before it
    // parses (and echoes) the close.
    server.feed(reply.as_str()).await.unwrap();
    assert!(server.buffered_amount() >= reply.len(), "a message being compressed counts as buffered");
    match server.recv().await {
        Some(Ok(Event::Closed(info))) => assert!(info.was_clean(), "{info:?}"),
        other => panic!("{other:?}"),
    }
    match client.recv().await {
        Some(Ok(Event::Message(m))) => assert_eq!(m, Message::text(reply.as_str())),
        other => panic!("the reply was lost: {other:?}"),
    }
    match client.recv().await {
        Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), ws_proto::CloseCode::NORMAL),
        other => panic!("{other:?}"),
    }
}
