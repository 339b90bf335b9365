//! permessage-deflate compression off a current-thread tokio runtime: a large message is
//! compressed in `spawn_blocking` so that the runtime's thread keeps running its other tasks (a
//! ticker task keeps ticking), which it does not while compressing inline.
//!
//! Binding-specific: tokio's `spawn_blocking` under a current-thread runtime, with the ticker as
//! a task of its own. The other offload behaviours (order, cancelled sends, the concurrency
//! limit, what stays inline) and a ticker joined with the send are tested on every runtime in
//! ws-async's shared suite (`ws-async/tests/suite/offload.rs`).

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
    let c = Config::default().max_message_size(Some(64 << 20)).permessage_deflate(d);
    Arc::new(c)
}

fn server_parts(d: Option<DeflateConfig>) -> (Arc<Config>, Arc<ServerOptions>) {
    let c = Config::default().max_message_size(Some(64 << 20));
    let o = ServerOptions::default().per_message_deflate(d);
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

/// `spawn_blocking` offload keeps a current-thread runtime's ticker task running; inline stalls it.
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
