//! `ShutdownOnClose` over async-std's own `TcpStream`, whose `poll_close` only flushes: with
//! the wrapper a server closes TCP first once the close handshake is done (RFC 6455 §7.1.1),
//! so the client sees EOF at once; without it the client sees EOF only when the server gives up
//! at its close timeout.
//!
//! Binding-specific: the wrapper exists for async-std's sockets. Every other behaviour is
//! tested on async-std and smol (and tokio) by ws-async's shared suite (`ws-async/tests/suite`),
//! whose async-std runtime uses these wrapped sockets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_std::net::{TcpListener, TcpStream};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ws_async_std::{accept_with, CloseInfo, Config, Event, ShutdownOnClose};

/// Upper bound for every await.
const LIMIT: Duration = Duration::from_secs(20);

/// The server's close timeout: how long it waits for the client's EOF.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Awaits `f`, failing the test after [`LIMIT`].
async fn within<F: std::future::Future>(f: F) -> F::Output {
    async_std::future::timeout(LIMIT, f).await.expect("test step timed out")
}

/// Runs a WebSocket server over `tcp` until the connection is over; returns how it ended.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(tcp: S) -> Option<CloseInfo> {
    let config = Config::default().close_timeout(Some(CLOSE_TIMEOUT));
    let mut ws = accept_with(tcp, Arc::new(config), Arc::default()).await.unwrap();
    let mut info = None;
    while let Some(Ok(event)) = ws.recv().await {
        if let Event::Closed(i) = event {
            info = Some(i);
        }
    }
    info
}

/// A hand-rolled client: the handshake, then a masked close frame (1000); returns how long
/// after the close the server's EOF came, and everything the server sent after its 101.
async fn close_and_wait_for_eof(addr: std::net::SocketAddr) -> (Duration, Vec<u8>) {
    let mut tcp = within(TcpStream::connect(addr)).await.unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within(tcp.read_exact(&mut byte)).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    let key = [1u8, 2, 3, 4];
    let mut close = vec![0x88, 0x82];
    close.extend_from_slice(&key);
    close.extend(1000u16.to_be_bytes().iter().zip(key).map(|(b, k)| b ^ k));
    tcp.write_all(&close).await.unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    within(tcp.read_to_end(&mut rest)).await.unwrap();
    (started.elapsed(), rest)
}

/// With `ShutdownOnClose` the server closes TCP first after the close handshake: the client's EOF is prompt.
#[test]
fn the_server_closes_tcp_first_with_the_wrapper() {
    async_std::task::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = async_std::task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            serve(ShutdownOnClose::new(tcp)).await
        });
        let (eof_after, rest) = close_and_wait_for_eof(addr).await;
        // The echo of the close frame, then EOF.
        assert_eq!(rest, [0x88, 0x02, 0x03, 0xe8]);
        assert!(eof_after < CLOSE_TIMEOUT / 2, "EOF {eof_after:?} after the close");
        let info = within(server).await.expect("Closed was reported");
        assert!(info.was_clean(), "{info:?}");
    });
}

/// Without it, async-std's sockets do not half-close: the client's EOF waits for the close timeout.
#[test]
fn without_the_wrapper_eof_waits_for_the_close_timeout() {
    async_std::task::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = async_std::task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            serve(tcp).await
        });
        let (eof_after, rest) = close_and_wait_for_eof(addr).await;
        assert_eq!(rest, [0x88, 0x02, 0x03, 0xe8]);
        assert!(eof_after >= CLOSE_TIMEOUT - Duration::from_millis(100), "EOF {eof_after:?} after the close");
        within(server).await.expect("Closed was reported");
    });
}
