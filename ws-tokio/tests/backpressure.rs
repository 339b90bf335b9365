//! Output backpressure: a peer that does not read bounds the writer's memory to about the
//! write high-water mark plus one message; `feed` and `send` wait instead of queuing more.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use ws_tokio::ws_proto::{Error as ProtoError, Role, TimeoutKind};
use ws_tokio::{Event, Message, TrySendError, WebSocket};

const HIGH_WATER: usize = 16 * 1024;
const MSG: usize = 4096;
/// A client frame's overhead: header (4 bytes for this size) and mask key.
const FRAME: usize = MSG + 8;

#[tokio::test]
async fn feed_waits_while_the_peer_does_not_read() {
    let cfg = config_with(|c| {
        c.write_high_water(HIGH_WATER);
    });
    let (mut client, mut server) = raw_pair(8 * 1024, cfg, config());
    let mut queued = 0;
    let mut max_buffered = 0;
    loop {
        match tokio::time::timeout(Duration::from_millis(100), client.feed(payload(queued, MSG))).await {
            Ok(r) => {
                r.unwrap();
                queued += 1;
                max_buffered = max_buffered.max(client.buffered_amount());
                assert!(client.buffered_amount() <= HIGH_WATER + FRAME, "{}", client.buffered_amount());
            }
            Err(_) => break,
        }
        assert!(queued < 100, "feed never waited");
    }
    // The pipe (8 KiB) and the queue (the high-water mark plus one message) hold it all.
    assert!(queued <= (8 * 1024 + HIGH_WATER) / MSG + 2, "{queued} messages queued");
    assert!(max_buffered >= HIGH_WATER);
    assert!(!client.is_write_ready());
    assert!(matches!(client.try_send(vec![0u8; 10]), Err(TrySendError::Full(_))));

    // Once the peer reads, everything arrives, and the cancelled feed can go again.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < queued + 1 {
            match server.recv().await {
                Some(Ok(Event::Message(Message::Binary(b)))) => got.push(b),
                other => panic!("{other:?}"),
            }
        }
        got
    });
    within(client.feed(payload(queued, MSG))).await.unwrap();
    within(client.flush()).await.unwrap();
    assert_eq!(client.buffered_amount(), 0);
    let got = within(reader).await.unwrap();
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m, &payload(i, MSG));
    }
}

#[tokio::test]
async fn send_waits_and_memory_stays_bounded_over_tcp() {
    let cfg = config_with(|c| {
        c.write_high_water(HIGH_WATER);
    });
    let (mut client, server) = tcp_pair(cfg).await;
    // The server never reads: the kernel's buffers fill, then the client's queue.
    let mut blocked = false;
    for i in 0..20_000 {
        let before = client.buffered_amount();
        match tokio::time::timeout(Duration::from_millis(200), client.send(payload(i, 64 * 1024))).await {
            Ok(r) => r.unwrap(),
            Err(_) => {
                blocked = true;
                // Cancelled while flushing: the message was queued whole.
                assert!(client.buffered_amount() > before);
                break;
            }
        }
        assert_eq!(client.buffered_amount(), 0, "a completed send wrote everything");
    }
    assert!(blocked, "send never waited");
    assert!(client.buffered_amount() <= HIGH_WATER + 64 * 1024 + 14);
    // `feed` queues only up to the high-water mark, then waits.
    let mut fed = 0;
    while tokio::time::timeout(Duration::from_millis(100), client.feed(vec![1u8; 1000])).await.is_ok() {
        fed += 1;
        assert!(fed <= HIGH_WATER / 1000 + 1, "feed never waited");
    }
    assert!(client.buffered_amount() <= HIGH_WATER + 64 * 1024 + 14);
    drop(server);
}

#[tokio::test]
async fn try_send_reports_full_then_drains() {
    let cfg = config_with(|c| {
        c.write_high_water(HIGH_WATER);
    });
    let (mut client, mut server) = raw_pair(1024, cfg, config());
    let mut n = 0;
    loop {
        match client.try_send(payload(n, MSG)) {
            Ok(()) => n += 1,
            Err(TrySendError::Full(m)) => {
                assert_eq!(m, Message::Binary(payload(n, MSG).into()));
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(n, HIGH_WATER.div_ceil(FRAME));
    let reader = tokio::spawn(async move {
        for i in 0..n {
            assert!(
                matches!(server.recv().await, Some(Ok(Event::Message(Message::Binary(b)))) if b == payload(i, MSG))
            );
        }
    });
    within(client.flush()).await.unwrap();
    within(reader).await.unwrap();
    assert!(client.try_send("room again").is_ok());
}

#[tokio::test]
async fn peer_that_reads_slowly_gets_everything() {
    let cfg = config_with(|c| {
        c.write_high_water(HIGH_WATER);
    });
    let (client, server) = tcp_pair(cfg).await;
    let sender = tokio::spawn(async move {
        let mut client = client;
        let mut max = 0;
        for i in 0..300 {
            client.feed(payload(i, 3000)).await.unwrap();
            max = max.max(client.buffered_amount());
        }
        client.flush().await.unwrap();
        max
    });
    let mut raw: TcpStream = server.into_inner();
    let mut total = 0;
    let mut buf = vec![0u8; 1000];
    let expected: usize = (0..300).map(|i| payload(i, 3000).len() + 8).sum();
    while total < expected {
        let n = within(raw.read(&mut buf)).await.unwrap();
        assert!(n > 0);
        total += n;
        if total % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let max = within(sender).await.unwrap();
    assert!(max <= HIGH_WATER + 3008, "{max}");
}
