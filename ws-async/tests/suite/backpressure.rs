//! Output backpressure: a peer that does not read bounds the writer's memory to about the
//! write high-water mark plus one message; `feed` and `send` wait instead of queuing more.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tokio::io::AsyncReadExt;
use ws_async::ws_proto::{Error as ProtoError, Role, TimeoutKind};
use ws_async::{accept_with, connect_with, ClientRequest, Config, Error, Event, Message, TrySendError};

use crate::harness::*;

const HIGH_WATER: usize = 16 * 1024;
const MSG: usize = 4096;
/// A client frame of MSG bytes: header (4 bytes at this size) and mask key.
const FRAME: usize = MSG + 8;

/// The socket buffer size asked for on both ends of [`small_buffer_pair`] (Linux doubles it).
const SOCKET_BUFFER: usize = 16 * 1024;

/// A TCP socket with small send and receive buffers, set before connecting: fixed sizes turn
/// the kernel's buffer autotuning off, so a peer that does not read frees no room later.
fn small_buffer_socket() -> Socket {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    socket.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    socket
}

/// A client and a server over loopback TCP (the runtime's sockets) whose socket buffers are
/// small and fixed on both ends, through the handshakes.
async fn small_buffer_pair<T: TestRt>(config: Arc<Config>) -> (Ws<T::Tcp, T>, Ws<T::Tcp, T>) {
    let listener = small_buffer_socket();
    listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    listener.listen(8).unwrap();
    let client = small_buffer_socket();
    // Loopback: the connection completes in the listener's backlog, so neither call blocks.
    client.connect(&listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    server.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    let server = T::from_std(server.into()).unwrap();
    let client = T::from_std(client.into()).unwrap();
    let server_config = config.clone();
    let server = T::spawn(async move { accept_with::<_, T::R>(server, server_config, Arc::default()).await.unwrap() });
    let (client, _) =
        within(connect_with::<_, T::R>(client, ClientRequest::new("localhost", "/"), config)).await.unwrap();
    (client, within(server).await)
}

on_every_runtime! {
    /// `feed` waits while the peer does not read: memory stays at the high-water mark plus a message.
    async fn feed_waits_while_the_peer_does_not_read<T: TestRt>() {
        let cfg = config_with(|c| c.write_high_water(HIGH_WATER));
        let (mut client, mut server) = raw_pair::<T>(8 * 1024, cfg, config());
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
        let reader = T::spawn(async move {
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

    /// Over TCP with a non-reading peer, `send` and `feed` wait and the queue stays bounded by the high-water mark.
    async fn send_waits_and_memory_stays_bounded_over_tcp<T: TestRt>() {
        let cfg = config_with(|c| c.write_high_water(HIGH_WATER));
        let (mut client, server) = small_buffer_pair::<T>(cfg).await;
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
        // `feed` queues only below the high-water mark (so each one that completes leaves at
        // most the mark plus its own frame queued), then waits.
        let mut fed = 0;
        while timeout(Duration::from_millis(100), client.feed(vec![1u8; 1000])).await.is_some() {
            fed += 1;
            assert!(client.buffered_amount() <= HIGH_WATER + 1008, "{}", client.buffered_amount());
            assert!(fed <= HIGH_WATER / 1000 + 1, "feed never waited");
        }
        assert!(client.buffered_amount() <= HIGH_WATER + 64 * 1024 + 14);
        drop(server);
    }

    /// `try_send` queues up to the high-water mark, then is `Full` (message handed back); a flush makes room.
    async fn try_send_reports_full_then_drains<T: TestRt>() {
        let cfg = config_with(|c| c.write_high_water(HIGH_WATER));
        let (mut client, mut server) = raw_pair::<T>(1024, cfg, config());
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
        let reader = T::spawn(async move {
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
    async fn close_timeout_releases_a_stuck_writer<T: TestRt>() {
        let cfg = config_with(|c| c.close_timeout(Some(Duration::from_millis(300))));
        let (peer, io) = duplex(1024);
        let mut server = websocket::<T, _>(io, Role::Server, cfg);
        within(server.feed(vec![7u8; 100_000])).await.unwrap();
        let started = Instant::now();
        // The close frame queues behind the message, which never drains.
        let err = within(server.close(1000u16, "")).await.unwrap_err();
        assert!(matches!(err, Error::ConnectionClosed), "{err:?}");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "{elapsed:?}");
        match within(server.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Close))),
            other => panic!("{other:?}"),
        }
        assert!(within(server.recv()).await.is_none());
        drop(peer);
    }

    /// A peer reading slowly gets everything; the writer's queue never exceeds the high-water mark plus a message.
    async fn peer_that_reads_slowly_gets_everything<T: TestRt>() {
        let cfg = config_with(|c| c.write_high_water(HIGH_WATER));
        let (client, server) = tcp_pair::<T>(cfg).await;
        let sender = T::spawn(async move {
            let mut client = client;
            let mut max = 0;
            for i in 0..300 {
                client.feed(payload(i, 3000)).await.unwrap();
                max = max.max(client.buffered_amount());
            }
            client.flush().await.unwrap();
            max
        });
        let mut raw = raw::<T>(server.into_inner());
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
