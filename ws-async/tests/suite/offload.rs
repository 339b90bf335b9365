//! permessage-deflate compression off the executor (`ws_async::offload`, through the
//! runtime's `spawn_blocking`): large messages are compressed on the blocking pool so that the
//! sending task's thread keeps running, in order, with at most `concurrency_limit`
//! compressions at once, and a cancelled send loses nothing.
//!
//! The offload statistics ([`stats`]) are process-wide per `concurrency_limit` value, and the
//! same test runs on several runtimes at once: each test uses limits of its own, offset by the
//! runtime's [`TestRt::SLOT`], so that no two running tests share them.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::FutureExt;
use futures::{select_biased, SinkExt};
use tokio::sync::{mpsc, oneshot};
use ws_async::offload::stats;
use ws_async::{
    accept_with, connect_with, ClientRequest, CloseCode, Config, DeflateConfig, Error, Event, Message, ServerOptions,
};

use crate::harness::*;

/// Upper bound for every step a test awaits (compressing megabytes in a debug build is slow).
const STEP: Duration = Duration::from_secs(120);

async fn within_step<F: Future>(what: &str, f: F) -> F::Output {
    timeout(STEP, f).await.unwrap_or_else(|| panic!("{what}: not done within {STEP:?}"))
}

/// A `concurrency_limit` of its own for this test on this runtime: `base` plus ten per
/// runtime slot (bases 7, 8, 9 and 11 never meet).
fn limit<T: TestRt>(base: usize) -> usize {
    base + 10 * T::SLOT
}

fn deflate(limit: usize) -> DeflateConfig {
    DeflateConfig::default().concurrency_limit(limit)
}

fn client_config(d: Option<DeflateConfig>) -> Arc<Config> {
    let c = Config::default().max_message_size(Some(64 << 20)).permessage_deflate(d);
    Arc::new(c)
}

fn server_parts(d: Option<DeflateConfig>) -> (Arc<Config>, Arc<ServerOptions>) {
    let c = Config::default().max_message_size(Some(64 << 20));
    let o = ServerOptions::default().per_message_deflate(d);
    (Arc::new(c), Arc::new(o))
}

/// Text that compresses about 3:1 (so both compressing and inflating it take a while).
fn payload(len: usize, seed: u64) -> String {
    const WORDS: [&str; 16] = [
        "alpha ",
        "bravo ",
        "charlie ",
        "delta ",
        "echo ",
        "foxtrot ",
        "golf ",
        "hotel ",
        "india ",
        "juliet ",
        "kilo ",
        "lima ",
        "mike ",
        "november ",
        "oscar ",
        "papa ",
    ];
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut s = String::with_capacity(len + 16);
    while s.len() < len {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        s.push_str(WORDS[(x >> 60) as usize]);
        if x & 0xff == 0 {
            s.push_str(&format!("{} ", x >> 40));
        }
    }
    s.truncate(len);
    s
}

/// Text of `len` bytes made of one pseudo-random 4 KiB block repeated: it compresses about
/// 50:1, and a debug build of the backends compresses it in seconds rather than tens of seconds.
fn repetitive(len: usize) -> String {
    let block = payload(4096, 99);
    block.repeat(len / block.len() + 1)[..len].to_owned()
}

/// What the server received: a message, or how the connection ended.
type Received = mpsc::UnboundedReceiver<Result<Message, String>>;

/// A server on a thread and an instance of the runtime of its own (so that inflating does not
/// slow the runtime under test): accepts one connection, then reports every message it
/// receives until the connection closes. Returns the port and the receiver of what arrived.
fn spawn_server<T: TestRt>(d: Option<DeflateConfig>) -> (u16, Received) {
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        T::block_on(async move {
            let listener = T::listen();
            port_tx.send(T::listener_addr(&listener).port()).unwrap();
            let (tcp, _) = within_step("accepting", T::accept(&listener)).await.unwrap();
            let (config, options) = server_parts(d);
            let mut ws = accept_with::<_, T::R>(tcp, config, options).await.unwrap();
            while let Some(event) = within_step("the server receiving", ws.recv()).await {
                match event {
                    Ok(Event::Message(m)) => {
                        if tx.send(Ok(m)).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Closed(info)) => {
                        let _ = tx.send(Err(format!("closed {} {}", info.code(), info.reason())));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(format!("io error {e}")));
                        return;
                    }
                }
            }
        });
    });
    (port_rx.recv_timeout(STEP).expect("the server's port"), rx)
}

async fn connect<T: TestRt>(port: u16, d: Option<DeflateConfig>) -> Ws<T::Tcp, T> {
    let tcp = within(T::connect(([127, 0, 0, 1], port).into())).await.unwrap();
    let (ws, _) =
        within(connect_with::<_, T::R>(tcp, ClientRequest::new("localhost", "/"), client_config(d))).await.unwrap();
    ws
}

async fn next(rx: &mut Received, what: &str) -> Result<Message, String> {
    within_step(what, rx.recv()).await.unwrap_or_else(|| panic!("{what}: the server is gone"))
}

/// Sizes mixing inline (small) and offloaded (≥ 64 KiB) messages.
const SIZES: [usize; 12] = [10, 200_000, 3_000, 600_000, 0, 70_000, 65_536, 65_535, 1_000_000, 5, 100_000, 1_500];

fn message(i: usize) -> String {
    format!("{i:05}{}", payload(SIZES[i % SIZES.len()], i as u64))
}

async fn check_sequence(rx: &mut Received, n: usize, what: &str) {
    for i in 0..n {
        let want = message(i);
        match next(rx, what).await {
            Ok(Message::Text(t)) => {
                assert!(
                    t.as_str() == want,
                    "{what}: message {i} ({} bytes) arrived as {} bytes starting {:?}",
                    want.len(),
                    t.len(),
                    &t.as_str()[..t.len().min(5)]
                );
            }
            other => panic!("{what}: message {i}: {:?}", other.map(|m| m.len())),
        }
    }
}

/// The largest gap between ticks of a 1 ms ticker running in the sending task itself (joined
/// with the send, so on the same thread) while `text` is sent compressed, how long the send
/// took, and how many ticks there were meanwhile.
async fn ticker_gap_while_sending<T: TestRt>(d: DeflateConfig, text: &str) -> (Duration, Duration, usize) {
    let (port, mut rx) = spawn_server::<T>(Some(d.clone()));
    let mut ws = connect::<T>(port, Some(d)).await;
    assert!(ws.extensions().is_some_and(|e| e.contains("permessage-deflate")), "deflate not negotiated");
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let ticker = async {
        let mut last = Instant::now();
        let mut gap = Duration::ZERO;
        let mut ticks = 0;
        let mut tick = async_io::Timer::interval(Duration::from_millis(1));
        loop {
            select_biased! {
                _ = (&mut stop_rx).fuse() => return (gap.max(last.elapsed()), ticks),
                _ = futures::StreamExt::next(&mut tick).fuse() => {
                    gap = gap.max(last.elapsed());
                    last = Instant::now();
                    ticks += 1;
                }
            }
        }
    };
    let send = async {
        // Let the ticker start.
        sleep(Duration::from_millis(20)).await;
        let start = Instant::now();
        within_step("sending", ws.send(Message::from(text))).await.unwrap();
        let took = start.elapsed();
        stop_tx.send(()).unwrap();
        took
    };
    let ((gap, ticks), took) = futures::future::join(ticker, send).await;
    within_step("closing", ws.close(CloseCode::NORMAL, "")).await.unwrap();
    match next(&mut rx, "the large message").await {
        Ok(Message::Text(t)) => assert!(t.as_str() == text, "the large message arrived changed"),
        other => panic!("expected the large text, got {:?}", other.map(|m| m.len())),
    }
    (gap, took, ticks)
}

on_every_runtime! {
    /// Offloaded compression leaves the sending task's thread free (a joined ticker ticks); inline stalls it.
    // The guard is a plain mutex serializing the timed tests, never contended inside a runtime.
    #[allow(clippy::await_holding_lock)]
    async fn large_message_compresses_off_the_senders_thread<T: TestRt>() {
        let _alone = timing_lock();
        let limit = limit::<T>(7);
        // Inline (offloading off), 1 MiB: the ticker stalls for the whole compression.
        let (inline_gap, inline_took, _) =
            ticker_gap_while_sending::<T>(deflate(limit).offload_threshold(None), &payload(1 << 20, 5)).await;
        let before = stats(limit);
        // Offloaded, 16 MiB: the ticker keeps ticking.
        let (gap, took, ticks) = ticker_gap_while_sending::<T>(deflate(limit), &repetitive(16 << 20)).await;
        let after = stats(limit);
        eprintln!(
            "{}: inline 1 MiB send {inline_took:?} (ticker stalled up to {inline_gap:?}); offloaded 16 MiB send \
             {took:?} (ticker stalled up to {gap:?}, {ticks} ticks)",
            T::NAME
        );
        assert_eq!(after.total - before.total, 1, "the message was not offloaded: {before:?} → {after:?}");
        assert!(
            inline_gap * 2 >= inline_took,
            "inline compression should stall the ticker: {inline_gap:?} of {inline_took:?}"
        );
        // What remains on the sending thread is framing and writing (and, in a client, masking:
        // slow in a debug build, ~10 % of the compression time).
        assert!(
            gap * 4 < took && gap < Duration::from_millis(500),
            "the sending thread stalled for {gap:?} during a {took:?} offloaded send"
        );
        assert!(ticks * 10 >= took.as_millis() as usize, "the ticker ticked only {ticks} times in {took:?}");
    }

    /// Order is kept across inline and offloaded messages via `send`/`feed`, the split `Sink` and driver mode.
    async fn order_is_kept_across_large_and_small_messages<T: TestRt>() {
        let limit = limit::<T>(8);
        let d = deflate(limit);
        let n = 24;
        let before = stats(limit);

        // WebSocket::send and feed, alternately.
        let (port, mut rx) = spawn_server::<T>(Some(d.clone()));
        let mut ws = connect::<T>(port, Some(d.clone())).await;
        for i in 0..n {
            if i % 2 == 0 {
                within_step("send", ws.send(message(i))).await.unwrap();
            } else {
                within_step("feed", ws.feed(message(i))).await.unwrap();
            }
        }
        within_step("close", ws.close(CloseCode::NORMAL, "done")).await.unwrap();
        while within_step("recv", ws.recv()).await.is_some() {}
        check_sequence(&mut rx, n, "send/feed").await;
        assert!(matches!(next(&mut rx, "close").await, Err(s) if s == "closed 1000 done"));

        // The Sink (start_send + flush only at the end) of the split writer.
        let (port, mut rx) = spawn_server::<T>(Some(d.clone()));
        let ws = connect::<T>(port, Some(d.clone())).await;
        let (mut reader, mut writer) = ws.split();
        let reading = T::spawn(async move { while reader.recv().await.is_some() {} });
        for i in 0..n {
            within_step("split feed", SinkExt::feed(&mut writer, Message::from(message(i)))).await.unwrap();
        }
        within_step("split close", SinkExt::close(&mut writer)).await.unwrap();
        within_step("reader", reading).await;
        check_sequence(&mut rx, n, "split sink").await;

        // Driver mode, a handle sending from another task.
        let (port, mut rx) = spawn_server::<T>(Some(d.clone()));
        let ws = connect::<T>(port, Some(d.clone())).await;
        let (handle, mut events) = ws.spawn(4);
        let sender = {
            let handle = handle.clone();
            T::spawn(async move {
                for i in 0..n {
                    handle.send(message(i)).await.unwrap();
                }
                handle.close(CloseCode::NORMAL, "driver").await.unwrap();
            })
        };
        within_step("driver sender", sender).await;
        while within_step("driver events", events.recv()).await.is_some() {}
        check_sequence(&mut rx, n, "driver").await;
        assert!(matches!(next(&mut rx, "close").await, Err(s) if s == "closed 1000 driver"));

        // Messages of at least 64 KiB are offloaded, in each of the three runs.
        let offloaded = (0..n).filter(|i| SIZES[i % SIZES.len()] + 5 >= 64 * 1024).count() * 3;
        assert_eq!(stats(limit).total - before.total, offloaded, "offloaded compressions");
    }

    /// A send cancelled while compressing still goes out, before the next send and before a close.
    async fn a_cancelled_send_is_finished_by_the_next_call_in_order<T: TestRt>() {
        let d = deflate(limit::<T>(9));
        let (port, mut rx) = spawn_server::<T>(Some(d.clone()));
        let big = repetitive(8 << 20);
        let mut ws = connect::<T>(port, Some(d)).await;
        // Cancelled while compressing: the message is queued nonetheless.
        let cancelled = timeout(Duration::from_millis(1), ws.send(big.as_str())).await;
        assert!(cancelled.is_none(), "compressing 8 MiB took under 1 ms?");
        assert!(!ws.is_write_ready() || ws.try_send("x").is_err(), "a send must wait while compressing");
        // The next send waits for it, then goes after it.
        within_step("send after the cancelled one", ws.send("after")).await.unwrap();
        // A cancelled send followed by close: the message goes before the close frame.
        let _ = timeout(Duration::from_millis(1), ws.send(big.as_str())).await;
        within_step("close", ws.close(4000, "end")).await.unwrap();
        while within_step("recv", ws.recv()).await.is_some() {}
        match next(&mut rx, "first").await {
            Ok(Message::Text(t)) => assert!(t.as_str() == big, "the cancelled message arrived changed"),
            other => panic!("expected the cancelled 8 MiB message first, got {:?}", other.map(|m| m.len())),
        }
        assert!(matches!(next(&mut rx, "second").await, Ok(Message::Text(t)) if t == "after"));
        assert!(matches!(next(&mut rx, "third").await, Ok(Message::Text(t)) if t.len() == big.len()));
        assert!(matches!(next(&mut rx, "close").await, Err(s) if s == "closed 4000 end"));
    }

    /// Concurrent senders never run more than `concurrency_limit` offloaded compressions at once.
    async fn concurrency_limit_bounds_offloaded_compressions<T: TestRt>() {
        // 3 to 6 by runtime: below the number of connections, apart from the other tests' limits.
        let limit_n = 3 + T::SLOT;
        const CONNECTIONS: usize = 8;
        const EACH: usize = 2;
        let d = deflate(limit_n);
        let before = stats(limit_n);
        let mut servers: Vec<_> = (0..CONNECTIONS).map(|_| spawn_server::<T>(Some(d.clone()))).collect();
        let mut tasks = Vec::new();
        for (c, (port, _)) in servers.iter().enumerate() {
            let (d, port) = (d.clone(), *port);
            tasks.push(T::spawn(async move {
                let mut ws = connect::<T>(port, Some(d)).await;
                for m in 0..EACH {
                    ws.send(payload(512 << 10, (c * 100 + m) as u64)).await.unwrap();
                }
                ws.close(CloseCode::NORMAL, "").await.unwrap();
                while ws.recv().await.is_some() {}
            }));
        }
        for t in tasks {
            within_step("a sender", t).await;
        }
        for (c, (_, rx)) in servers.iter_mut().enumerate() {
            for m in 0..EACH {
                match next(rx, "a 512 KiB message").await {
                    Ok(Message::Text(t)) => assert!(t.as_str() == payload(512 << 10, (c * 100 + m) as u64)),
                    other => panic!("connection {c}, message {m}: {:?}", other.map(|m| m.len())),
                }
            }
        }
        let after = stats(limit_n);
        eprintln!("{}: concurrency limit {limit_n}: {after:?}", T::NAME);
        assert_eq!(after.total - before.total, CONNECTIONS * EACH, "every 512 KiB message is offloaded");
        assert!(after.peak <= limit_n, "{} compressions ran at once, limit {limit_n}", after.peak);
        assert!(after.peak >= 2, "compressions never overlapped ({after:?}): the test did not exercise the limit");
        assert_eq!(after.running, 0);
    }

    /// Messages below the offload threshold, and connections without deflate, are never offloaded.
    async fn small_messages_and_uncompressed_connections_stay_inline<T: TestRt>() {
        let limit = limit::<T>(11);
        let before = stats(limit);
        // Below the offload threshold: inline.
        let d = deflate(limit).offload_threshold(Some(1 << 20));
        let (port, mut rx) = spawn_server::<T>(Some(d.clone()));
        let mut ws = connect::<T>(port, Some(d)).await;
        within_step("send", ws.send(payload(500_000, 3))).await.unwrap();
        within_step("close", ws.close(CloseCode::NORMAL, "")).await.unwrap();
        while within_step("recv", ws.recv()).await.is_some() {}
        assert!(matches!(next(&mut rx, "inline").await, Ok(m) if m.len() == 500_000));
        // Not negotiated: nothing to compress.
        let (port, mut rx) = spawn_server::<T>(None);
        let mut ws = connect::<T>(port, Some(deflate(limit))).await;
        assert_eq!(ws.extensions(), None);
        within_step("send", ws.send(payload(2 << 20, 4))).await.unwrap();
        within_step("close", ws.close(CloseCode::NORMAL, "")).await.unwrap();
        while within_step("recv", ws.recv()).await.is_some() {}
        assert!(matches!(next(&mut rx, "uncompressed").await, Ok(m) if m.len() == 2 << 20));
        assert_eq!(stats(limit).total, before.total, "nothing should have been offloaded");
    }
}

on_every_runtime! {
    /// A message in the offload slot when a timer ends the connection fails the flush that
    /// waited for it (`Error::ConnectionClosed`), besides being counted in `Event::Closed`: the
    /// peer holds the socket without ever reading, so the keepalive ping goes unanswered.
    async fn a_message_in_the_slot_when_a_timer_ends_the_connection_fails_the_flush<T: TestRt>() {
        let lim = limit::<T>(4);
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            T::block_on(async move {
                let listener = T::listen();
                port_tx.send(T::listener_addr(&listener).port()).unwrap();
                let (tcp, _) = within_step("accepting", T::accept(&listener)).await.unwrap();
                let (config, options) = server_parts(Some(deflate(lim)));
                let _ws = accept_with::<_, T::R>(tcp, config, options).await.unwrap();
                // Never polled again: no pong, no close echo.
                let _ = done_rx.recv_timeout(Duration::from_secs(30));
            })
        });
        let port = port_rx.recv().unwrap();
        let tcp = within(T::connect(([127, 0, 0, 1], port).into())).await.unwrap();
        let config = Config::default()
            .permessage_deflate(Some(deflate(lim)))
            .keep_alive(Some(Duration::from_millis(50)), Some(Duration::from_millis(50)))
            .close_timeout(Some(Duration::from_millis(50)));
        let (mut client, _) =
            within(connect_with::<_, T::R>(tcp, ClientRequest::new("localhost", "/"), Arc::new(config))).await.unwrap();
        // 16 MiB take far longer to compress than the timers need to end the connection.
        within(client.feed(payload(16 << 20, 7))).await.unwrap();
        assert!(client.buffered_amount() >= 16 << 20, "in the slot");
        let flushed = within_step("flush", client.flush()).await;
        assert!(matches!(flushed, Err(Error::ConnectionClosed)), "{flushed:?}");
        match within(client.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.unsent_messages, 1, "{info:?}"),
            other => panic!("{other:?}"),
        }
        let _ = done_tx.send(());
    }

    /// A message in the offload slot when the connection is terminated is reported, not
    /// silently dropped: `Event::Closed` counts it in `unsent_messages` (direct `WebSocket`
    /// after `feed`, and driver mode after `send` then `terminate_now`).
    async fn a_message_in_the_slot_when_the_connection_ends_is_reported<T: TestRt>() {
        let lim = limit::<T>(3);
        let (port, _rx) = spawn_server::<T>(Some(deflate(lim)));
        let mut client = connect::<T>(port, Some(deflate(lim))).await;
        within(client.feed(payload(4 << 20, 5))).await.unwrap();
        assert!(client.buffered_amount() >= 4 << 20, "in the slot");
        client.terminate();
        match within(client.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.unsent_messages, 1, "{info:?}"),
            other => panic!("{other:?}"),
        }

        let (port, _rx) = spawn_server::<T>(Some(deflate(lim)));
        let client = connect::<T>(port, Some(deflate(lim))).await;
        let (handle, mut events) = client.spawn(4);
        within(handle.send(payload(16 << 20, 6))).await.unwrap();
        // Being compressed (a debug build takes seconds for 16 MiB).
        eventually(|| stats(lim).running == 1).await;
        handle.terminate_now().unwrap();
        match within(events.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.unsent_messages, 1, "{info:?}"),
            other => panic!("{other:?}"),
        }
    }
}
