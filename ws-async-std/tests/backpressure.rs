//! Output backpressure on async-std and smol: a peer that does not read bounds the writer's
//! memory to about the write high-water mark plus one message; `feed` and `send` wait instead
//! of queuing more.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::io::AsyncReadExt;
use ws_async_std::ws_proto::{Error as ProtoError, Role, TimeoutKind};
use ws_async_std::{Event, Message, TrySendError, WebSocket};

const HIGH_WATER: usize = 16 * 1024;
const MSG: usize = 4096;
/// A client frame of MSG bytes: header (4 bytes at this size) and mask key.
const FRAME: usize = MSG + 8;

both! {
    async fn feed_waits_while_the_peer_does_not_read() {
        let cfg = config_with(|c| {
            c.write_high_water(HIGH_WATER);
        });
        let (mut client, mut server) = raw_pair(8 * 1024, cfg, config());
        let mut queued = 0;
        let mut max_buffered = 0;
        while timeout(Duration::from_millis(100), client.feed(payload(queued, MSG))).await.is_some() {
            queued += 1;
            max_buffered = max_buffered.max(client.buffered_amount());
            assert!(client.buffered_amount() <= HIGH_WATER + FRAME, "{}", client.buffered_amount());
            assert!(queued < 100, "feed never waited");
        }
        // The pipe (8 KiB) and the queue (the high-water mark plus one message) hold it all.
        assert!(queued <= (8 * 1024 + HIGH_WATER) / MSG + 2, "{queued} messages queued");
        assert!(max_buffered >= HIGH_WATER);
        assert!(!client.is_write_ready());
        assert!(matches!(client.try_send(vec![0u8; 10]), Err(TrySendError::Full(_))));

        // Once the peer reads, everything arrives, and the cancelled feed goes through.
        let reader = spawn(async move {
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
        for (i, m) in within(reader).await.iter().enumerate() {
            assert_eq!(m, &payload(i, MSG));
        }
    }

    async fn a_non_reading_peer_bounds_memory_over_tcp() {
        let cfg = config_with(|c| {
            c.write_high_water(HIGH_WATER);
        });
        let (mut client, server) = tcp_pair(cfg).await;
        // The server never reads: the kernel's buffers fill, then the client's queue.
        let mut blocked = false;
        for i in 0..20_000 {
            let before = client.buffered_amount();
            match timeout(Duration::from_millis(200), client.send(payload(i, 64 * 1024))).await {
                Some(r) => r.unwrap(),
                None => {
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
        while timeout(Duration::from_millis(100), client.feed(vec![1u8; 1000])).await.is_some() {
            fed += 1;
            assert!(fed <= HIGH_WATER / 1000 + 1, "feed never waited");
        }
        assert!(client.buffered_amount() <= HIGH_WATER + 64 * 1024 + 14);
        drop(server);
    }

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
        let reader = spawn(async move {
            for i in 0..n {
                let got = server.recv().await;
                assert!(matches!(got, Some(Ok(Event::Message(Message::Binary(b)))) if b == payload(i, MSG)));
            }
        });
        within(client.flush()).await.unwrap();
        within(reader).await;
        assert!(client.try_send("room again").is_ok());
    }

    /// A writer stuck on a peer that stopped reading is released by the close timeout.
    async fn close_timeout_releases_a_stuck_writer() {
        let cfg = config_with(|c| {
            c.close_timeout(Some(Duration::from_millis(300)));
        });
        let (peer, io) = duplex(1024);
        let mut server = WebSocket::from_connection(io, connection(Role::Server, cfg));
        within(server.feed(vec![7u8; 100_000])).await.unwrap();
        let started = Instant::now();
        // The close frame queues behind the message, which never drains.
        let err = within(server.close(1000u16, "")).await.unwrap_err();
        assert!(matches!(err, ws_async_std::Error::ConnectionClosed), "{err:?}");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "{elapsed:?}");
        match within(server.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Close))),
            other => panic!("{other:?}"),
        }
        assert!(within(server.recv()).await.is_none());
        drop(peer);
    }

    async fn a_slow_reader_gets_everything() {
        let cfg = config_with(|c| {
            c.write_high_water(HIGH_WATER);
        });
        let (client, server) = tcp_pair(cfg).await;
        let sender = spawn(async move {
            let mut client = client;
            let mut max = 0;
            for i in 0..300 {
                client.feed(payload(i, 3000)).await.unwrap();
                max = max.max(client.buffered_amount());
            }
            client.flush().await.unwrap();
            max
        });
        let mut raw = server.into_inner();
        let mut total = 0;
        let mut buf = vec![0u8; 1000];
        let expected: usize = (0..300).map(|i| payload(i, 3000).len() + 8).sum();
        let mut reads = 0;
        while total < expected {
            let n = within(raw.read(&mut buf)).await.unwrap();
            assert!(n > 0);
            total += n;
            reads += 1;
            if reads % 64 == 0 {
                sleep(Duration::from_millis(1)).await;
            }
        }
        let max = within(sender).await;
        assert!(max <= HIGH_WATER + 3008, "{max}");
    }
}
