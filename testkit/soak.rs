//! The soak test, written once over ws-async's runtime traits and included by path from each
//! binding's `soak` example (`ws-tokio/examples/soak.rs`, `ws-async-std/examples/soak-smol.rs`),
//! whose `main` only starts its runtime and calls [`run`].
//!
//! A tracked `Server` on 127.0.0.1 (driver mode, echo) and N clients in the same process that
//! each send one message a second, check every echo (order, content), and close and reconnect
//! after a random lifetime (churn). Prints every `--every` seconds: connections, messages
//! sent/echoed, lost, errors, p50/p99 latency and RSS; at the end RSS at the first report after
//! ramp-up against the last, and fails if any message was lost or RSS grew more than 25 %.
//!
//! Options: `--connections N` (10 000), `--minutes M` (10), `--lifetime S` (mean connection
//! lifetime in seconds, 60), `--every S` (report period, 10), `--size B` (message size, 64),
//! `--deflate` (permessage-deflate on both sides, every message compressed).
//!
//! Both ends live in one process, so each connection holds two file descriptors: 10 000
//! connections need `ulimit -n` above 20 000.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use ws_async::runtime::{Net, Runtime, Sleep};
use ws_async::server::Server;
use ws_async::{connect_with, ClientRequest, Config, DeflateConfig, Event, Message, WebSocket};

/// Latency histogram: 100 µs buckets up to 2 s, then one overflow bucket.
const BUCKETS: usize = 20_000;
const BUCKET_US: u64 = 100;

#[derive(Default)]
struct Stats {
    connections: AtomicUsize,
    /// Client slots still running (the end waits for them).
    running: AtomicUsize,
    connects: AtomicU64,
    sent: AtomicU64,
    echoed: AtomicU64,
    lost: AtomicU64,
    errors: AtomicU64,
    latency: Mutex<Vec<u64>>,
}

impl Stats {
    fn record(&self, d: Duration) {
        let i = ((d.as_micros() as u64) / BUCKET_US).min(BUCKETS as u64) as usize;
        self.latency.lock().unwrap()[i] += 1;
    }

    /// The `q` quantiles of the latencies recorded since the last call, in milliseconds.
    fn take_quantiles(&self, qs: &[f64]) -> Vec<f64> {
        let mut h = self.latency.lock().unwrap();
        let total: u64 = h.iter().sum();
        let mut out = Vec::new();
        for q in qs {
            let want = ((total as f64) * q).ceil() as u64;
            let mut seen = 0;
            let mut at = BUCKETS;
            for (i, n) in h.iter().enumerate() {
                seen += n;
                if seen >= want.max(1) {
                    at = i;
                    break;
                }
            }
            out.push(((at as u64 + 1) * BUCKET_US) as f64 / 1000.0);
        }
        h.iter_mut().for_each(|n| *n = 0);
        out
    }
}

/// The command-line options.
pub(crate) struct Options {
    connections: usize,
    minutes: f64,
    lifetime: f64,
    every: u64,
    size: usize,
    deflate: bool,
}

/// Parses the command line.
pub(crate) fn options() -> io::Result<Options> {
    let mut o = Options { connections: 10_000, minutes: 10.0, lifetime: 60.0, every: 10, size: 64, deflate: false };
    let mut args = std::env::args().skip(1);
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| bad(&format!("{arg} needs a value")));
        match arg.as_str() {
            "--connections" => o.connections = value()?.parse().map_err(|_| bad("--connections"))?,
            "--minutes" => o.minutes = value()?.parse().map_err(|_| bad("--minutes"))?,
            "--lifetime" => o.lifetime = value()?.parse().map_err(|_| bad("--lifetime"))?,
            "--every" => o.every = value()?.parse().map_err(|_| bad("--every"))?,
            "--size" => o.size = value()?.parse().map_err(|_| bad("--size"))?,
            "--deflate" => o.deflate = true,
            other => return Err(bad(&format!("unknown option {other}"))),
        }
    }
    Ok(o)
}

/// The process's resident set size in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A small xorshift generator (jitter and lifetimes; no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Waits `d` on `R`'s timer (the soak needs nothing of a runtime beyond ws-async's traits).
async fn sleep<R: Runtime>(d: Duration) {
    let mut timer = R::sleep_until(Instant::now() + d);
    std::future::poll_fn(|cx| timer.poll_elapsed(cx)).await
}

/// `f`'s output, or `None` once `d` has passed.
async fn timeout<R: Runtime, F: Future>(d: Duration, f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    let mut timer = R::sleep_until(Instant::now() + d);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        timer.poll_elapsed(cx).map(|()| None)
    })
    .await
}

/// Runs the soak on `R` (called inside that runtime).
pub(crate) async fn run<R: Net>(o: Options) -> io::Result<()> {
    let deflate = o.deflate.then(|| DeflateConfig::default().threshold(0));
    let server_config =
        Arc::new(Config::default().keep_alive(Some(Duration::from_secs(30)), Some(Duration::from_secs(30))));
    let server = Server::<R>::builder()
        .config(server_config)
        .per_message_deflate(deflate.clone())
        .backlog(4096)
        .bind("127.0.0.1", 0)
        .await?;
    let addr = server.local_addr().expect("bound");
    let server = Arc::new(server);
    let accepting = server.clone();
    R::spawn(async move {
        while let Ok(mut conn) = accepting.accept().await {
            R::spawn(async move {
                while let Some(Ok(event)) = conn.events.recv().await {
                    if let Event::Message(m) = event {
                        if conn.handle.send(m).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    });

    let stats = Arc::new(Stats { latency: Mutex::new(vec![0; BUCKETS + 1]), ..Stats::default() });
    let client_config = Arc::new(Config::default().permessage_deflate(deflate));
    let end = Instant::now() + Duration::from_secs_f64(o.minutes * 60.0);
    let started = Instant::now();
    println!("soak: {} connections for {} min on {addr} (deflate: {})", o.connections, o.minutes, o.deflate);
    for i in 0..o.connections {
        let (stats, config) = (stats.clone(), client_config.clone());
        let (lifetime, size) = (o.lifetime, o.size);
        stats.running.fetch_add(1, Ordering::Relaxed);
        R::spawn(async move {
            client::<R>(i as u64, addr, config, &stats, end, lifetime, size).await;
            stats.running.fetch_sub(1, Ordering::Relaxed);
        });
        // Ramp up over about a second, whatever the number of connections.
        if i % 100 == 99 {
            sleep::<R>(Duration::from_millis(1_000 * 100 / o.connections.max(100) as u64)).await;
        }
    }
    let ramp_up = started.elapsed();
    println!("ramp-up: {ramp_up:.1?}");
    let mut first_rss = None;
    let mut last_rss = 0;
    let mut next = Instant::now();
    while Instant::now() < end {
        next += Duration::from_secs(o.every);
        sleep::<R>(next.saturating_duration_since(Instant::now())).await;
        let [p50, p99]: [f64; 2] = stats.take_quantiles(&[0.5, 0.99]).try_into().unwrap();
        let rss = rss_kib();
        let conns = stats.connections.load(Ordering::Relaxed);
        if first_rss.is_none() && started.elapsed() > ramp_up + Duration::from_secs(o.every) {
            first_rss = Some(rss);
        }
        last_rss = rss;
        println!(
            "t={:>5.0}s conns={conns} connects={} sent={} echoed={} lost={} errors={} p50={p50:.1}ms p99={p99:.1}ms rss={} MiB ({:.1} KiB/conn)",
            started.elapsed().as_secs_f64(),
            stats.connects.load(Ordering::Relaxed),
            stats.sent.load(Ordering::Relaxed),
            stats.echoed.load(Ordering::Relaxed),
            stats.lost.load(Ordering::Relaxed),
            stats.errors.load(Ordering::Relaxed),
            rss / 1024,
            rss as f64 / conns.max(1) as f64,
        );
    }
    while stats.running.load(Ordering::Relaxed) > 0 {
        sleep::<R>(Duration::from_millis(100)).await;
    }
    let lost = stats.lost.load(Ordering::Relaxed);
    let first = first_rss.unwrap_or(last_rss);
    println!(
        "done: connects={} sent={} echoed={} lost={lost} errors={} rss first={} MiB last={} MiB",
        stats.connects.load(Ordering::Relaxed),
        stats.sent.load(Ordering::Relaxed),
        stats.echoed.load(Ordering::Relaxed),
        stats.errors.load(Ordering::Relaxed),
        first / 1024,
        last_rss / 1024,
    );
    let _ = server.shutdown().await;
    if lost > 0 || last_rss as f64 > first as f64 * 1.25 {
        return Err(io::Error::other("lost messages or RSS grew"));
    }
    Ok(())
}

/// One client slot: connects, sends a message a second (jittered) and checks its echo, closes
/// after a random lifetime and reconnects, until `end`.
async fn client<R: Net>(
    id: u64,
    addr: SocketAddr,
    config: Arc<Config>,
    stats: &Stats,
    end: Instant,
    lifetime: f64,
    size: usize,
) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (id + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    while Instant::now() < end {
        let Ok(tcp) = R::connect_tcp(addr.ip().to_string(), addr.port(), None).await else {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            sleep::<R>(Duration::from_millis(100)).await;
            continue;
        };
        let request = ClientRequest::new(&addr.to_string(), "/");
        let Ok((mut ws, _)) = connect_with::<_, R>(tcp, request, config.clone()).await else {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        stats.connects.fetch_add(1, Ordering::Relaxed);
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let until = (Instant::now() + Duration::from_secs_f64(lifetime * 2.0 * rng.unit())).min(end);
        let mut seq = 0u64;
        let mut pending = 0u64;
        loop {
            sleep::<R>(Duration::from_millis(500 + rng.next() % 1000)).await;
            if Instant::now() >= until {
                break;
            }
            let mut body = format!("{id}:{seq}:").into_bytes();
            body.resize(size.max(body.len()), b'x');
            let sent_at = Instant::now();
            if ws.send(Message::binary(body.clone())).await.is_err() {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
            stats.sent.fetch_add(1, Ordering::Relaxed);
            pending += 1;
            match timeout::<R, _>(Duration::from_secs(30), next_message(&mut ws)).await {
                Some(Some(m)) if m.as_bytes() == &body[..] => {
                    stats.echoed.fetch_add(1, Ordering::Relaxed);
                    stats.record(sent_at.elapsed());
                    pending -= 1;
                }
                Some(Some(_)) => {
                    eprintln!("client {id}: echo {seq} out of order or corrupt");
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Some(None) | None => {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            seq += 1;
        }
        stats.lost.fetch_add(pending, Ordering::Relaxed);
        let _ = ws.close(1000u16, "").await;
        while let Some(Some(_)) = timeout::<R, _>(Duration::from_secs(10), ws.recv()).await {}
        stats.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The next data message, skipping pings and pongs; `None` when the connection ends.
async fn next_message<R: Net>(ws: &mut WebSocket<R::ClientStream, R>) -> Option<Message> {
    loop {
        match ws.recv().await? {
            Ok(Event::Message(m)) => return Some(m),
            Ok(Event::Closed(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}
