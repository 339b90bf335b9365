//! Nothing the application handed over, and nothing the peer sent before its close, is lost in
//! the adapter layer: a reply still being compressed goes out before the close echo, and a
//! client that left during an asynchronous `verify_client` gets no `101`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_async::{
    accept_async_with, accept_with, connect_with, AcceptError, ClientRequest, CloseCode, Config, DeflateConfig, Event,
    Message, ServerOptions,
};

use crate::harness::*;

/// A minimal valid upgrade request.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Accepts on `io` with a `verify_client` that takes 50 ms.
async fn slow_accept<T: TestRt>(io: Pipe) -> Result<Ws<Pipe, T>, AcceptError> {
    accept_async_with::<_, T::R, _, _>(io, Arc::default(), Arc::default(), |req| {
        let verdict = req.negotiate();
        async move {
            sleep(Duration::from_millis(50)).await;
            verdict
        }
    })
    .await
}

/// A deflate pair over an in-memory pipe whose server compresses every message off the
/// runtime (a concurrency limit of its own, so other tests' offload counts are untouched).
async fn deflate_pair<T: TestRt>() -> (Ws<Pipe, T>, Ws<Pipe, T>) {
    let (c, s) = duplex(1 << 20);
    let mut server_options = ServerOptions::default();
    let offloaded = DeflateConfig::default().threshold(1).offload_threshold(Some(1)).concurrency_limit(100 + T::SLOT);
    server_options = server_options.per_message_deflate(Some(offloaded));
    let server = T::spawn(async move { accept_with::<_, T::R>(s, Arc::default(), Arc::new(server_options)).await });
    let config = Config::default().permessage_deflate(Some(DeflateConfig::default()));
    let (client, _) = within(connect_with::<_, T::R>(c, ClientRequest::new("x", "/"), Arc::new(config))).await.unwrap();
    let server = within(server).await.unwrap();
    (client, server)
}

on_every_runtime! {
    /// A client that went away while an asynchronous verify_client ran gets no 101, and the application no connection.
    async fn a_client_gone_during_async_verification_gets_no_101<T: TestRt>() {
        let (mut client, server) = duplex(4096);
        client.write_all(REQUEST).await.unwrap();
        drop(client);
        match within(slow_accept::<T>(server)).await {
            Err(AcceptError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted, "{e}"),
            other => panic!("expected the dead client to be refused, got {:?}", other.map(|_| ())),
        }
    }

    /// A client still there after an asynchronous verify_client is accepted as usual.
    async fn a_client_still_there_after_async_verification_is_accepted<T: TestRt>() {
        let (mut client, server) = duplex(4096);
        client.write_all(REQUEST).await.unwrap();
        let accepted = T::spawn(slow_accept::<T>(server));
        let mut head = vec![0u8; 1024];
        let n = within(client.read(&mut head)).await.unwrap();
        assert!(head[..n].starts_with(b"HTTP/1.1 101"), "{:?}", String::from_utf8_lossy(&head[..n]));
        assert!(within(accepted).await.is_ok());
    }

    /// A reply being compressed off the runtime when the peer's close is already buffered goes out before the close echo, and counts as buffered meanwhile.
    async fn a_reply_being_compressed_goes_out_before_the_close_echo<T: TestRt>() {
        let (mut client, mut server) = deflate_pair::<T>().await;
        let reply = "reply ".repeat(50_000);
        within(client.send("question")).await.unwrap();
        within(client.close(CloseCode::NORMAL, "done")).await.unwrap();
        // The server reads the question; the client's close is already in its input.
        match within(server.recv()).await {
            Some(Ok(Event::Message(m))) => assert_eq!(m, Message::text("question")),
            other => panic!("{other:?}"),
        }
        // Queued whole and compressed off the runtime: the next recv must write it before it
        // parses (and echoes) the close.
        within(server.feed(reply.as_str())).await.unwrap();
        assert!(server.buffered_amount() >= reply.len(), "a message being compressed counts as buffered");
        match within(server.recv()).await {
            Some(Ok(Event::Closed(info))) => assert!(info.was_clean(), "{info:?}"),
            other => panic!("{other:?}"),
        }
        match within(client.recv()).await {
            Some(Ok(Event::Message(m))) => assert_eq!(m, Message::text(reply.as_str())),
            other => panic!("the reply was lost: {other:?}"),
        }
        match within(client.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::NORMAL),
            other => panic!("{other:?}"),
        }
    }
}
