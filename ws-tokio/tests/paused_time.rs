//! Timers on tokio's paused clock (`tokio::time::pause()`, `start_paused`): keepalive, the
//! close timeout and a writer released by it, with exact durations. Binding-specific: only
//! tokio's clock can be paused; the shared suite (`ws-async/tests/suite`) holds the same
//! behaviours in real time on every runtime.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncReadExt;
use ws_tokio::ws_proto::{Error as ProtoError, Role, TimeoutKind};
use ws_tokio::{CloseCode, Event, WebSocket};

/// Paused clock: the keepalive ping exactly after the idle interval, the 1011 close exactly at the deadline.
#[tokio::test(start_paused = true)]
async fn keepalive_ping_then_pong_deadline() {
    let cfg = config_with(|c| c.keep_alive(Some(Duration::from_secs(5)), Some(Duration::from_secs(2))));
    let (peer_io, server_io) = tokio::io::duplex(4096);
    let mut server = WebSocket::from_connection(server_io, connection(Role::Server, cfg));
    // The peer reads what arrives but never answers.
    let peer = tokio::spawn(async move {
        let mut peer_io = peer_io;
        let mut wire = Vec::new();
        let _ = peer_io.read_to_end(&mut wire).await;
        wire
    });
    let started = tokio::time::Instant::now();
    match within(server.recv()).await {
        Some(Ok(Event::Closed(info))) => {
            assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Pong)));
            assert_eq!(info.sent.as_ref().map(|f| f.code), Some(CloseCode::INTERNAL_ERROR));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(7));
    drop(server);
    let wire = within(peer).await.unwrap();
    let (frames, _) = server_frames(&wire);
    assert_eq!(frames[0].1, 0x9, "a keepalive ping first");
    assert_eq!(frames[1].1, 0x8, "then the close");
}

/// A close the peer never answers ends exactly at the close timeout (1006).
#[tokio::test(start_paused = true)]
async fn close_timeout_ends_an_unanswered_close() {
    let cfg = config_with(|c| c.close_timeout(Some(Duration::from_secs(3))));
    let (peer_io, server_io) = tokio::io::duplex(4096);
    let mut server = WebSocket::from_connection(server_io, connection(Role::Server, cfg));
    let _peer = tokio::spawn(async move {
        let mut peer_io = peer_io;
        let mut sink = Vec::new();
        let _ = peer_io.read_to_end(&mut sink).await;
    });
    let started = tokio::time::Instant::now();
    within(server.close(4000u16, "going")).await.unwrap();
    match within(server.recv()).await {
        Some(Ok(Event::Closed(info))) => {
            assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Close)));
            assert_eq!(info.code(), CloseCode::ABNORMAL);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert!(within(server.recv()).await.is_none());
}

/// A writer stuck on a peer that stopped reading is released exactly at the close timeout.
#[tokio::test(start_paused = true)]
async fn close_timeout_releases_a_stuck_writer() {
    let cfg = config_with(|c| c.close_timeout(Some(Duration::from_secs(2))));
    let (peer, server_io) = tokio::io::duplex(1024);
    let mut server = WebSocket::from_connection(server_io, connection(Role::Server, cfg));
    within(server.feed(vec![7u8; 100_000])).await.unwrap();
    let started = tokio::time::Instant::now();
    // The close frame queues behind the message, which never drains.
    let err = within(server.close(1000u16, "")).await.unwrap_err();
    assert!(matches!(err, ws_tokio::Error::ConnectionClosed), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    match within(server.recv()).await {
        Some(Ok(Event::Closed(info))) => assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Close))),
        other => panic!("{other:?}"),
    }
    assert!(within(server.recv()).await.is_none());
    drop(peer);
}
