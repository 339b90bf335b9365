//! permessage-deflate compression off the runtime (`ws_tokio::offload`): large messages are
//! compressed in `spawn_blocking` so that the runtime keeps running other tasks, in order,
//! with at most `concurrency_limit` compressions at once, and a cancelled send loses nothing.
//!
//! Each test uses its own `concurrency_limit` value, so that the process-wide statistics of one
//! test ([`ws_tokio::offload::stats`]) are not disturbed by the others running in parallel.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use ws_tokio::offload::stats;
use ws_tokio::{
    accept_with, connect_with, ClientRequest, CloseCode, Config, DeflateConfig, Event, Message, ServerOptions,
    WebSocket,
};

/// Upper bound for every step a test awaits.
const LIMIT: Duration = Duration::from_secs(120);

fn deflate(limit: usize) -> DeflateConfig {
    DeflateConfig::default().concurrency_limit(limit)
}

fn client_config(d: Option<DeflateConfig>) -> Arc<Config> {
    let mut c = Config::default();
    c.max_message_size(Some(64 << 20)).permessage_deflate(d);
    Arc::new(c)
}

fn server_parts(d: Option<DeflateConfig>) -> (Arc<Config>, Arc<ServerOptions>) {
    let mut c = Config::default();
    c.max_message_size(Some(64 << 20));
    let mut o = ServerOptions::default();
    o.per_message_deflate(d);
    (Arc::new(c), Arc::new(o))
}

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f).await.unwrap_or_else(|_| panic!("{what}: not done within {LIMIT:?}"))
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

/// A server on its own thread and multi-thread runtime: accepts one connection, then sends
/// every message it receives (as `(index, length, first bytes)`) to the test until the
/// connection closes. Returns the port and the receiver of what arrived.
fn spawn_server(d: Option<DeflateConfig>) -> (u16, std::sync::mpsc::Receiver<Result<Message, String>>) {
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            port_tx.send(listener.local_addr().unwrap().port()).unwrap();
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (config, options) = server_parts(d);
            let mut ws = accept_with(tcp, config, options).await.unwrap();
            while let Some(event) = ws.recv().await {
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
    (port_rx.recv().unwrap(), rx)
}

async fn connect(port: u16, d: Option<DeflateConfig>) -> WebSocket<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (ws, _) = connect_with(tcp, ClientRequest::new("localhost", "/"), client_config(d)).await.unwrap();
    ws
}

fn next(rx: &std::sync::mpsc::Receiver<Result<Message, String>>, what: &str) -> Result<Message, String> {
    rx.recv_timeout(LIMIT).unwrap_or_else(|_| panic!("{what}: nothing arrived within {LIMIT:?}"))
}

/// Text of `len` bytes made of one pseudo-random 4 KiB block repeated: it compresses about
/// 50:1, and a debug build of the backends compresses it in seconds rather than tens of seconds.
fn repetitive(len: usize) -> String {
    let block = payload(4096, 99);
    block.repeat(len / block.len() + 1)[..len].to_owned()
}

/// The largest gap between ticks of a 1 ms ticker on a current-thread runtime while `text` is
/// sent (compressed) from that same runtime, how long the send took, and how many ticks there
/// were meanwhile.
fn ticker_gap_while_sending(d: DeflateConfig, text: &str) -> (Duration, Duration, usize) {
    let (port, rx) = spawn_server(Some(d.clone()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let msg = Message::from(text);
    let (gap, took, ticks) = rt.block_on(async {
        let mut ws = connect(port, Some(d)).await;
        assert!(ws.extensions().is_some_and(|e| e.contains("permessage-deflate")), "deflate not negotiated");
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let ticker = tokio::spawn(async move {
            let mut last = Instant::now();
            let mut gap = Duration::ZERO;
            let mut ticks = 0;
            let mut interval = tokio::time::interval(Duration::from_millis(1));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stop_rx => return (gap.max(last.elapsed()), ticks),
                    _ = interval.tick() => {
                        gap = gap.max(last.elapsed());
                        last = Instant::now();
                        ticks += 1;
                    }
                }
            }
        });
        // Let the ticker start.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let start = Instant::now();
        within("sending", ws.send(msg)).await.unwrap();
        let took = start.elapsed();
        stop_tx.send(()).unwrap();
        let (gap, ticks) = ticker.await.unwrap();
        within("closing", ws.close(CloseCode::NORMAL, "")).await.unwrap();
        (gap, took, ticks)
    });
    match next(&rx, "the large message") {
        Ok(Message::Text(t)) => assert!(t.as_str() == text, "the large message arrived changed"),
        other => panic!("expected the large text, got {:?}", other.map(|m| m.len())),
    }
    (gap, took, ticks)
}

#[test]
fn large_message_compresses_off_a_current_thread_runtime() {
    // Inline (offloading off), 1 MiB: the ticker stalls for the whole compression.
    let (inline_gap, inline_took, _) =
        ticker_gap_while_sending(deflate(7).offload_threshold(None), &payload(1 << 20, 5));
    let before = stats(7);
    // Offloaded, 16 MiB: the ticker keeps ticking.
    let (gap, took, ticks) = ticker_gap_while_sending(deflate(7), &repetitive(16 << 20));
    let after = stats(7);
    eprintln!(
        "inline 1 MiB send {inline_took:?} (ticker stalled up to {inline_gap:?}); offloaded 16 MiB send {took:?} \
         (ticker stalled up to {gap:?}, {ticks} ticks)"
    );
    assert_eq!(after.total - before.total, 1, "the message was not offloaded: {before:?} → {after:?}");
    assert!(
        inline_gap * 2 >= inline_took,
        "inline compression should stall the ticker: {inline_gap:?} of {inline_took:?}"
    );
    // What remains on the runtime is framing and writing (and, in a client, masking: slow in a
    // debug build, ~10 % of the compression time).
    assert!(
        gap * 4 < took && gap < Duration::from_millis(500),
        "the runtime stalled for {gap:?} during a {took:?} offloaded send"
    );
    assert!(ticks * 10 >= took.as_millis() as usize, "the ticker ticked only {ticks} times in {took:?}");
}

/// Sizes mixing inline (small) and offloaded (≥ 64 KiB) messages.
const SIZES: [usize; 12] = [10, 200_000, 3_000, 600_000, 0, 70_000, 65_536, 65_535, 1_000_000, 5, 100_000, 1_500];

fn check_sequence(rx: &std::sync::mpsc::Receiver<Result<Message, String>>, n: usize, what: &str) {
    for i in 0..n {
        let len = SIZES[i % SIZES.len()];
        let want = format!("{i:05}{}", payload(len, i as u64));
        match next(rx, what) {
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

#[test]
fn order_is_kept_across_large_and_small_messages() {
    let d = deflate(8);
    let n = 24;
    let before = stats(8);

    // WebSocket::send and feed, alternately.
    let (port, rx) = spawn_server(Some(d.clone()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut ws = connect(port, Some(d.clone())).await;
        for i in 0..n {
            let m = format!("{i:05}{}", payload(SIZES[i % SIZES.len()], i as u64));
            if i % 2 == 0 {
                within("send", ws.send(m)).await.unwrap();
            } else {
                within("feed", ws.feed(m)).await.unwrap();
            }
        }
        within("close", ws.close(CloseCode::NORMAL, "done")).await.unwrap();
        while within("recv", ws.recv()).await.is_some() {}
    });
    check_sequence(&rx, n, "send/feed");
    assert!(matches!(next(&rx, "close"), Err(s) if s == "closed 1000 done"));

    // The Sink (start_send + flush only at the end), the split writer, and driver mode.
    let (port, rx) = spawn_server(Some(d.clone()));
    rt.block_on(async {
        use futures_util::SinkExt;
        let ws = connect(port, Some(d.clone())).await;
        let (mut reader, mut writer) = ws.split();
        let reading = tokio::spawn(async move { while reader.recv().await.is_some() {} });
        for i in 0..n {
            let m = format!("{i:05}{}", payload(SIZES[i % SIZES.len()], i as u64));
            within("split feed", SinkExt::feed(&mut writer, Message::from(m))).await.unwrap();
        }
        within("split close", SinkExt::close(&mut writer)).await.unwrap();
        within("reader", reading).await.unwrap();
    });
    check_sequence(&rx, n, "split sink");

    let (port, rx) = spawn_server(Some(d.clone()));
    rt.block_on(async {
        let ws = connect(port, Some(d.clone())).await;
        let (handle, mut events) = ws.spawn(4);
        let sender = {
            let handle = handle.clone();
            tokio::spawn(async move {
                for i in 0..n {
                    let m = format!("{i:05}{}", payload(SIZES[i % SIZES.len()], i as u64));
                    handle.send(m).await.unwrap();
                }
                handle.close(CloseCode::NORMAL, "driver").await.unwrap();
            })
        };
        within("driver sender", sender).await.unwrap();
        while within("driver events", events.recv()).await.is_some() {}
    });
    check_sequence(&rx, n, "driver");
    assert!(matches!(next(&rx, "close"), Err(s) if s == "closed 1000 driver"));

    // Messages of at least 64 KiB are offloaded, in each of the three runs.
    let offloaded = (0..n).filter(|i| SIZES[i % SIZES.len()] + 5 >= 64 * 1024).count() * 3;
    assert_eq!(stats(8).total - before.total, offloaded, "offloaded compressions");
}

#[test]
fn a_cancelled_send_is_finished_by_the_next_call_in_order() {
    let d = deflate(9);
    let (port, rx) = spawn_server(Some(d.clone()));
    let big = repetitive(8 << 20);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut ws = connect(port, Some(d)).await;
        // Cancelled while compressing: the message is queued nonetheless.
        let cancelled = tokio::time::timeout(Duration::from_millis(1), ws.send(big.as_str())).await;
        assert!(cancelled.is_err(), "compressing 8 MiB took under 1 ms?");
        assert!(!ws.is_write_ready() || ws.try_send("x").is_err(), "a send must wait while compressing");
        // The next send waits for it, then goes after it.
        within("send after the cancelled one", ws.send("after")).await.unwrap();
        // A cancelled send followed by close: the message goes before the close frame.
        let _ = tokio::time::timeout(Duration::from_millis(1), ws.send(big.as_str())).await;
        within("close", ws.close(4000, "end")).await.unwrap();
        while within("recv", ws.recv()).await.is_some() {}
    });
    match next(&rx, "first") {
        Ok(Message::Text(t)) => assert!(t.as_str() == big, "the cancelled message arrived changed"),
        other => panic!("expected the cancelled 8 MiB message first, got {:?}", other.map(|m| m.len())),
    }
    assert!(matches!(next(&rx, "second"), Ok(Message::Text(t)) if t == "after"));
    assert!(matches!(next(&rx, "third"), Ok(Message::Text(t)) if t.len() == big.len()));
    assert!(matches!(next(&rx, "close"), Err(s) if s == "closed 4000 end"));
}

#[test]
fn concurrency_limit_bounds_offloaded_compressions() {
    const LIMIT_N: usize = 3;
    const CONNECTIONS: usize = 8;
    const EACH: usize = 2;
    let d = deflate(LIMIT_N);
    let before = stats(LIMIT_N);
    let servers: Vec<_> = (0..CONNECTIONS).map(|_| spawn_server(Some(d.clone()))).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let ports: Vec<u16> = servers.iter().map(|(p, _)| *p).collect();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for (c, port) in ports.into_iter().enumerate() {
            let d = d.clone();
            tasks.push(tokio::spawn(async move {
                let mut ws = connect(port, Some(d)).await;
                for m in 0..EACH {
                    ws.send(payload(512 << 10, (c * 100 + m) as u64)).await.unwrap();
                }
                ws.close(CloseCode::NORMAL, "").await.unwrap();
                while ws.recv().await.is_some() {}
            }));
        }
        for t in tasks {
            within("a sender", t).await.unwrap();
        }
    });
    for (c, (_, rx)) in servers.iter().enumerate() {
        for m in 0..EACH {
            match next(rx, "a 512 KiB message") {
                Ok(Message::Text(t)) => assert!(t.as_str() == payload(512 << 10, (c * 100 + m) as u64)),
                other => panic!("connection {c}, message {m}: {:?}", other.map(|m| m.len())),
            }
        }
    }
    let after = stats(LIMIT_N);
    eprintln!("concurrency limit {LIMIT_N}: {after:?}");
    assert_eq!(after.total - before.total, CONNECTIONS * EACH, "every 512 KiB message is offloaded");
    assert!(after.peak <= LIMIT_N, "{} compressions ran at once, limit {LIMIT_N}", after.peak);
    assert!(after.peak >= 2, "compressions never overlapped ({after:?}): the test did not exercise the limit");
    assert_eq!(after.running, 0);
}

#[test]
fn small_messages_and_uncompressed_connections_stay_inline() {
    let before = stats(11);
    // Below the offload threshold: inline.
    let d = deflate(11).offload_threshold(Some(1 << 20));
    let (port, rx) = spawn_server(Some(d.clone()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut ws = connect(port, Some(d)).await;
        ws.send(payload(500_000, 3)).await.unwrap();
        // compress: false is never offloaded either (the Connection decides; nothing to do).
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        while ws.recv().await.is_some() {}
    });
    assert!(matches!(next(&rx, "inline"), Ok(m) if m.len() == 500_000));
    // Not negotiated: nothing to compress.
    let (port, rx) = spawn_server(None);
    rt.block_on(async {
        let mut ws = connect(port, Some(deflate(11))).await;
        assert_eq!(ws.extensions(), None);
        ws.send(payload(2 << 20, 4)).await.unwrap();
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        while ws.recv().await.is_some() {}
    });
    assert!(matches!(next(&rx, "uncompressed"), Ok(m) if m.len() == 2 << 20));
    assert_eq!(stats(11).total, before.total, "nothing should have been offloaded");
}
