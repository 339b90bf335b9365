//! Loopback echo load test: ours against the other WebSocket stacks, head to head.
//!
//! ```sh
//! cargo run --release -p ws-benches --bin load -- --all            # ~25 minutes on 2 cores
//! cargo run --release -p ws-benches --bin load -- --all --quick    # ~2-3 minute smoke run
//! cargo run --release -p ws-benches --bin load -- --load --servers ws-tokio,fastwebsockets \
//!     --cells 100x16B/16,1x1MiB/1 --reps 5 --measure 3
//! ```
//!
//! Every echo server of `ws_benches::echo` runs as its own process (all started once, at the
//! start), so its CPU time (utime + stime of `/proc/PID/stat`) can be read before and after
//! each cell. The load generator is this process: one thread (a current-thread tokio runtime),
//! a task per connection that keeps `inflight` messages outstanding, masks every message with
//! a fresh key as a client must, and checks every echo byte for byte as it streams in (each
//! message carries its sequence number in its first 8 bytes, the rest is a fixed random
//! pattern). `raw` gets the same bytes (frames whose mask key is zero) echoed by a TCP echo.
//!
//! Parts (`--all` = all three):
//! - `--load`: the cells (connections × message size × messages in flight) of [`load_cells`];
//!   for each cell, each repetition, every server in turn (the order rotates between
//!   repetitions): connect, warm up, measure for a fixed time, drain and close. Reported:
//!   messages per second and server CPU time per message (min / median / max over the
//!   repetitions), each as a ratio to the best of the other Rust libraries
//!   (`ws_benches::echo::RUST_PEERS`) in the same cell.
//! - `--compression`: echo of JSON text (`ws_benches::json_corpus`) with permessage-deflate at
//!   zlib level 1 and 6 (threshold 0, context takeover) on the servers that support it; the
//!   clients are ws-tokio clients compressing too. Reported: server CPU time per message.
//! - `--memory`: server RSS per idle connection (`ws_benches::memory`), 10 000 connections.
//!
//! The markdown tables go to stdout and, with `--out FILE`, to that file as well.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use ws_benches::echo::{self, Server};
use ws_benches::{memory, size_label};

/// One cell: so many connections, each keeping so many messages of one size in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    conns: usize,
    size: usize,
    inflight: usize,
}

impl Shape {
    fn label(&self) -> String {
        format!("{}x{}/{}", self.conns, size_label(self.size), self.inflight)
    }

    fn parse(s: &str) -> Option<Self> {
        let (conns, rest) = s.split_once('x')?;
        let (size, inflight) = rest.split_once('/')?;
        let size = if let Some(n) = size.strip_suffix("MiB") {
            n.parse::<usize>().ok()? << 20
        } else if let Some(n) = size.strip_suffix("KiB") {
            n.parse::<usize>().ok()? << 10
        } else {
            size.strip_suffix('B')?.parse().ok()?
        };
        Some(Self { conns: conns.parse().ok()?, size, inflight: inflight.parse().ok()? })
    }
}

/// The cells of `--load`: 1 and 100 connections × 16 B, 1 KiB, 64 KiB, 1 MiB × 1 and 16 in
/// flight, then the shapes of uWebSockets' `load_test` (one message in flight each).
fn load_cells() -> Vec<Shape> {
    let mut cells = Vec::new();
    for conns in [1, 100] {
        for size in [16, 1 << 10, 64 << 10, 1 << 20] {
            for inflight in [1, 16] {
                cells.push(Shape { conns, size, inflight });
            }
        }
    }
    for (conns, size) in [(100, 20), (10, 1 << 10), (10, 16 << 10), (200, 16 << 10), (500, 16 << 10)] {
        cells.push(Shape { conns, size, inflight: 1 });
    }
    cells
}

struct Opts {
    load: bool,
    compression: bool,
    memory: bool,
    servers: Vec<String>,
    cells: Vec<Shape>,
    reps: usize,
    warmup: Duration,
    measure: Duration,
    mem_connections: usize,
    out: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: load [--all | --load | --compression | --memory]... [--quick] [--servers A,B,...] \
         [--cells 100x16B/16,...] [--reps N] [--warmup SECS] [--measure SECS] [--connections N] [--out FILE]\n\
         servers: {:?}",
        echo::SERVERS
    );
    std::process::exit(2)
}

fn parse_args() -> Opts {
    let mut o = Opts {
        load: false,
        compression: false,
        memory: false,
        servers: Vec::new(),
        cells: load_cells(),
        reps: 3,
        warmup: Duration::from_millis(300),
        measure: Duration::from_millis(1000),
        mem_connections: 10_000,
        out: None,
    };
    let mut quick = false;
    let (mut reps, mut warmup, mut measure, mut conns) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    let secs = |v: Option<String>| Duration::from_secs_f64(v.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()));
    while let Some(a) = args.next() {
        match a.as_str() {
            "--all" => (o.load, o.compression, o.memory) = (true, true, true),
            "--load" => o.load = true,
            "--compression" => o.compression = true,
            "--memory" => o.memory = true,
            "--quick" => quick = true,
            "--servers" => {
                o.servers = args.next().unwrap_or_else(|| usage()).split(',').map(str::to_owned).collect();
                if let Some(s) = o
                    .servers
                    .iter()
                    .find(|s| !echo::SERVERS.contains(&s.as_str()) && !echo::EXTRA_SERVERS.contains(&s.as_str()))
                {
                    eprintln!("unknown server {s:?}");
                    usage();
                }
            }
            "--cells" => {
                let list = args.next().unwrap_or_else(|| usage());
                o.cells = list.split(',').map(|c| Shape::parse(c).unwrap_or_else(|| usage())).collect();
            }
            "--reps" => reps = Some(args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())),
            "--warmup" => warmup = Some(secs(args.next())),
            "--measure" => measure = Some(secs(args.next())),
            "--connections" => conns = Some(args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())),
            "--out" => o.out = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    if !(o.load || o.compression || o.memory) {
        usage();
    }
    if quick {
        (o.reps, o.warmup, o.measure, o.mem_connections) =
            (1, Duration::from_millis(100), Duration::from_millis(250), 1000);
    }
    o.reps = reps.unwrap_or(o.reps).max(1);
    o.warmup = warmup.unwrap_or(o.warmup);
    o.measure = measure.unwrap_or(o.measure);
    o.mem_connections = conns.unwrap_or(o.mem_connections);
    if o.servers.is_empty() {
        o.servers = echo::SERVERS.iter().map(|s| (*s).to_owned()).collect();
    }
    o.servers.retain(|s| {
        let ok = echo::available(s);
        if !ok {
            eprintln!("load: {s} is not available here (Node `ws`: run scripts/setup-interop.sh), skipped");
        }
        ok
    });
    o
}

fn main() {
    echo::serve_if_asked();
    let o = parse_args();
    let max_conns = o.cells.iter().map(|c| c.conns).max().unwrap_or(1);
    let want = (2 * o.mem_connections.max(max_conns) + 512) as u64;
    let limit = echo::raise_fd_limit(want);
    if limit < want {
        eprintln!("load: only {limit} file descriptors allowed (wanted {want}); expect failures");
    }
    let started = Instant::now();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "Run of {} ({}), {} CPUs: {} repetitions, {:.2} s warm-up + {:.2} s measured per cell and server.\n",
        chrono_like_now(),
        std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.reps,
        o.warmup.as_secs_f64(),
        o.measure.as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    if o.load {
        let results = run_load(&rt, &o);
        report.push_str(&load_tables(&o, &results));
    }
    if o.compression {
        report.push_str(&run_compression(&rt, &o));
    }
    if o.memory {
        let rows: Vec<_> = o
            .servers
            .iter()
            .map(|s| {
                let row = memory::measure_server(s, o.mem_connections);
                eprintln!("memory: {s} done ({:.0} s)", started.elapsed().as_secs_f64());
                row
            })
            .collect();
        report.push_str("\n## Memory\n\n");
        report.push_str(&memory::table(&rows, o.mem_connections));
    }
    let _ = writeln!(report, "\nTotal time: {:.0} s.", started.elapsed().as_secs_f64());
    println!("{report}");
    if let Some(path) = &o.out {
        std::fs::write(path, &report).expect("write --out");
    }
}

/// The date and time (UTC), from `date` (keeps this binary free of a date dependency).
fn chrono_like_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

// ------------------------------------------------------------------------------ the load part

/// One measurement of one server in one cell.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// Messages echoed (and checked) per second.
    rate: f64,
    /// Server CPU time per message, µs.
    cpu_us: f64,
    /// The load generator's CPU use over the window (1.0 = one core busy).
    client_load: f64,
    /// Whether every outstanding echo came back within [`DRAIN_LIMIT`] after the window.
    drained: bool,
}

/// How long the outstanding echoes may take to come back once a measured window is over; past
/// it the connections are dropped (the window's numbers stand) and the server is restarted.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

type LoadResults = Vec<(Shape, Vec<(String, Vec<Sample>)>)>;

fn run_load(rt: &tokio::runtime::Runtime, o: &Opts) -> LoadResults {
    let tck = echo::clock_ticks_per_second() as f64;
    let mut servers: Vec<Server> =
        o.servers.iter().map(|s| Server::start(s, None).unwrap_or_else(|e| panic!("start {s}: {e}"))).collect();
    let total = o.cells.len() * o.reps * servers.len();
    let mut done = 0;
    let started = Instant::now();
    let mut results = LoadResults::new();
    for &shape in &o.cells {
        let mut per_server: Vec<(String, Vec<Sample>)> = o.servers.iter().map(|s| (s.clone(), Vec::new())).collect();
        for rep in 0..o.reps {
            for k in 0..servers.len() {
                let i = (k + rep) % servers.len();
                let server = &servers[i];
                let ws = echo::is_websocket(server.name());
                let outcome = rt.block_on(run_cell(server.addr(), ws, shape, o.warmup, o.measure, server.pid()));
                done += 1;
                match outcome {
                    Ok((msgs, secs, server_ticks, client_ticks, drained)) => {
                        let sample = Sample {
                            rate: msgs as f64 / secs,
                            cpu_us: server_ticks as f64 / tck * 1e6 / msgs.max(1) as f64,
                            client_load: client_ticks as f64 / tck / secs,
                            drained,
                        };
                        per_server[i].1.push(sample);
                        if !drained {
                            // Still busy with the abandoned backlog: it would steal CPU from the
                            // next runs.
                            eprintln!(
                                "load: {} {}: outstanding echoes not back within {DRAIN_LIMIT:?} of the end; restarting it",
                                shape.label(),
                                o.servers[i]
                            );
                            servers[i] = Server::start(&o.servers[i], None).expect("restart");
                        }
                    }
                    Err(e) => {
                        eprintln!("load: {} {}: {e}; restarting it", shape.label(), o.servers[i]);
                        servers[i] = Server::start(&o.servers[i], None).expect("restart");
                    }
                }
                // Let the server finish closing the connections.
                std::thread::sleep(Duration::from_millis(if shape.conns > 50 { 150 } else { 30 }));
            }
        }
        eprintln!("load: {:<14} done ({done}/{total} runs, {:.0} s)", shape.label(), started.elapsed().as_secs_f64());
        for (name, samples) in &per_server {
            if let Some(m) = median_by(samples, |s| s.rate) {
                eprintln!(
                    "  {name:<17} {:>12.0} msg/s {:>9.2} µs/msg server CPU, client {:.0} %",
                    m,
                    median_by(samples, |s| s.cpu_us).unwrap_or(f64::NAN),
                    median_by(samples, |s| s.client_load).unwrap_or(f64::NAN) * 100.0
                );
            }
        }
        results.push((shape, per_server));
    }
    results
}

/// Runs one cell against the server at `addr` (process `pid`): returns messages echoed in the
/// measured window, its length in seconds, and the server's and this process's CPU ticks in it.
async fn run_cell(
    addr: SocketAddr,
    ws: bool,
    shape: Shape,
    warmup: Duration,
    measure: Duration,
    pid: u32,
) -> io::Result<(u64, f64, u64, u64, bool)> {
    let shared = Arc::new(Shared { stop: AtomicBool::new(false), received: AtomicU64::new(0) });
    let mut base = vec![0u8; shape.size];
    ws_benches::Rng::new(shape.size as u64 ^ 0x5eed).fill(&mut base);
    let base: Arc<[u8]> = base.into();
    // Every connection is set up before any sends: handshakes never queue behind traffic.
    let connect = async {
        let mut conns = Vec::with_capacity(shape.conns);
        for c in 0..shape.conns {
            let mut tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let leftover = if ws { handshake(&mut tcp, addr).await? } else { Vec::new() };
            let conn =
                Conn::new(ws, base.clone(), shared.clone(), 0x1234_5678 ^ (c as u64) << 20, shape.inflight, leftover);
            conns.push((conn, tcp));
        }
        Ok::<_, io::Error>(conns)
    };
    let conns = match tokio::time::timeout(Duration::from_secs(20), connect).await {
        Ok(conns) => conns?,
        Err(_) => return Err(io::Error::other("connections not set up within 20 s")),
    };
    let tasks: Vec<_> = conns.into_iter().map(|(conn, tcp)| tokio::spawn(conn.run(tcp))).collect();
    tokio::time::sleep(warmup).await;
    let me = std::process::id();
    let (m0, s0, c0, t0) = (shared.received.load(Relaxed), echo::cpu_ticks(pid), echo::cpu_ticks(me), Instant::now());
    tokio::time::sleep(measure).await;
    let (m1, s1, c1, t1) = (shared.received.load(Relaxed), echo::cpu_ticks(pid), echo::cpu_ticks(me), Instant::now());
    shared.stop.store(true, Relaxed);
    let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
    let mut failure = None;
    let mut drained = true;
    for task in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => failure = failure.or(Some(e)),
            Ok(Err(e)) => failure = failure.or_else(|| Some(io::Error::other(e))),
            Err(_) => {
                drained = false;
                abort.abort();
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if m1 == m0 {
        return Err(io::Error::other("no message echoed in the measured window"));
    }
    Ok((m1 - m0, (t1 - t0).as_secs_f64(), s1 - s0, c1 - c0, drained))
}

struct Shared {
    stop: AtomicBool,
    received: AtomicU64,
}

/// The opening handshake, by hand; returns bytes received after the response.
async fn handshake(tcp: &mut TcpStream, addr: SocketAddr) -> io::Result<Vec<u8>> {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::other("EOF in the handshake"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]);
            if !head.starts_with("HTTP/1.1 101") || !head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
                return Err(io::Error::other(format!("bad handshake response: {head}")));
            }
            return Ok(buf[end + 4..].to_vec());
        }
    }
}

/// One connection of the load generator.
struct Conn {
    ws: bool,
    base: Arc<[u8]>,
    shared: Arc<Shared>,
    rng: u64,
    inflight: u64,
    sent: u64,
    received: u64,
    wbuf: Vec<u8>,
    wpos: usize,
    rbuf: Vec<u8>,
    rlen: usize,
    // The frame being received.
    remaining: u64,
    in_frame: bool,
    fin: bool,
    control: bool,
    msg_off: usize,
}

/// Write more once less than this is waiting to be written.
const WRITE_LOW_WATER: usize = 64 * 1024;

impl Conn {
    fn new(ws: bool, base: Arc<[u8]>, shared: Arc<Shared>, seed: u64, inflight: usize, leftover: Vec<u8>) -> Self {
        let mut rbuf = vec![0u8; 256 * 1024];
        rbuf[..leftover.len()].copy_from_slice(&leftover);
        Self {
            ws,
            base,
            shared,
            rng: seed | 1,
            inflight: inflight as u64,
            sent: 0,
            received: 0,
            wbuf: Vec::with_capacity(2 * WRITE_LOW_WATER),
            wpos: 0,
            rbuf,
            rlen: leftover.len(),
            remaining: 0,
            in_frame: false,
            fin: false,
            control: false,
            msg_off: 0,
        }
    }

    async fn run(mut self, mut tcp: TcpStream) -> io::Result<()> {
        if self.rlen > 0 {
            self.process()?;
        }
        loop {
            let stop = self.shared.stop.load(Relaxed);
            if !stop {
                while self.sent - self.received < self.inflight && self.wbuf.len() - self.wpos < WRITE_LOW_WATER {
                    self.append_message();
                }
            }
            let want_write = self.wpos < self.wbuf.len();
            if stop && self.sent == self.received && !want_write {
                break;
            }
            let interest = if want_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            let ready = tcp.ready(interest).await?;
            if ready.is_readable() {
                match tcp.try_read(&mut self.rbuf[self.rlen..]) {
                    Ok(0) => return Err(io::Error::other("the server closed the connection")),
                    Ok(n) => {
                        self.rlen += n;
                        self.process()?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            if want_write && ready.is_writable() {
                match tcp.try_write(&self.wbuf[self.wpos..]) {
                    Ok(n) => {
                        self.wpos += n;
                        if self.wpos == self.wbuf.len() {
                            self.wbuf.clear();
                            self.wpos = 0;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if self.ws {
            // A masked close frame (1000), then EOF.
            let key = self.next_key();
            let mut close = vec![0x88, 0x82, key[0], key[1], key[2], key[3], 0x03, 0xe8];
            ws_proto::apply_mask(&mut close[6..], key, 0);
            let _ = tcp.write_all(&close).await;
        }
        let _ = tcp.shutdown().await;
        Ok(())
    }

    fn next_key(&mut self) -> [u8; 4] {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng as u32).to_le_bytes()
    }

    /// Appends message number `sent`: a binary frame, masked with a fresh key (`raw`: a key of
    /// zero, so the bytes are the payload's own and the echo can be parsed the same way).
    fn append_message(&mut self) {
        if self.wpos > 0 {
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        let len = self.base.len();
        self.wbuf.push(0x82);
        if len < 126 {
            self.wbuf.push(0x80 | len as u8);
        } else if len < 65536 {
            self.wbuf.push(0x80 | 126);
            self.wbuf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.wbuf.push(0x80 | 127);
            self.wbuf.extend_from_slice(&(len as u64).to_be_bytes());
        }
        let key = if self.ws { self.next_key() } else { [0; 4] };
        self.wbuf.extend_from_slice(&key);
        let start = self.wbuf.len();
        self.wbuf.extend_from_slice(&self.base);
        self.wbuf[start..start + 8].copy_from_slice(&self.sent.to_le_bytes());
        if self.ws {
            ws_proto::apply_mask(&mut self.wbuf[start..], key, 0);
        }
        self.sent += 1;
    }

    /// Parses and checks what `rbuf` holds, keeping an incomplete frame header for later.
    fn process(&mut self) -> io::Result<()> {
        let mut i = 0;
        let end = self.rlen;
        let mut completed = 0u64;
        loop {
            if !self.in_frame {
                let data = &self.rbuf[i..end];
                if data.len() < 2 {
                    break;
                }
                let (b0, b1) = (data[0], data[1]);
                let masked = b1 & 0x80 != 0;
                let len7 = b1 & 0x7f;
                let ext = match len7 {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                let header = 2 + ext + if masked { 4 } else { 0 };
                if data.len() < header {
                    break;
                }
                let len = match len7 {
                    126 => u64::from(u16::from_be_bytes([data[2], data[3]])),
                    127 => u64::from_be_bytes(data[2..10].try_into().expect("8 bytes")),
                    n => u64::from(n),
                };
                if masked && (self.ws || data[2 + ext..header] != [0; 4]) {
                    return Err(io::Error::other("masked frame from the server"));
                }
                if b0 & 0x70 != 0 {
                    return Err(io::Error::other("RSV bits set"));
                }
                let opcode = b0 & 0x0f;
                self.control = opcode >= 8;
                match opcode {
                    0x2 if self.msg_off == 0 => {}
                    0x0 if self.msg_off > 0 => {}
                    0x9 | 0xa => {} // a ping or pong: skipped
                    0x8 => return Err(io::Error::other("the server sent a close frame")),
                    _ => return Err(io::Error::other(format!("unexpected opcode {opcode:#x}"))),
                }
                self.fin = b0 & 0x80 != 0;
                self.remaining = len;
                self.in_frame = true;
                i += header;
            }
            let take = (self.remaining.min((end - i) as u64)) as usize;
            if !self.control {
                if self.msg_off + take > self.base.len() {
                    return Err(io::Error::other("echo longer than the message"));
                }
                if !self.matches(&self.rbuf[i..i + take]) {
                    return Err(io::Error::other(format!("echo of message {} differs", self.received)));
                }
                self.msg_off += take;
            }
            i += take;
            self.remaining -= take as u64;
            if self.remaining > 0 {
                break;
            }
            self.in_frame = false;
            if !self.control && self.fin {
                if self.msg_off != self.base.len() {
                    return Err(io::Error::other("echo shorter than the message"));
                }
                self.msg_off = 0;
                self.received += 1;
                completed += 1;
                if self.received > self.sent {
                    return Err(io::Error::other("more echoes than messages sent"));
                }
            }
        }
        self.rbuf.copy_within(i..end, 0);
        self.rlen = end - i;
        if completed > 0 {
            self.shared.received.fetch_add(completed, Relaxed);
        }
        Ok(())
    }

    /// Whether `chunk`, at `msg_off` in the message being received, is what was sent.
    fn matches(&self, chunk: &[u8]) -> bool {
        let seq = self.received.to_le_bytes();
        let mut off = self.msg_off;
        let mut chunk = chunk;
        while off < 8 && !chunk.is_empty() {
            if chunk[0] != seq[off] {
                return false;
            }
            chunk = &chunk[1..];
            off += 1;
        }
        chunk == &self.base[off..off + chunk.len()]
    }
}

// ------------------------------------------------------------------------------ load tables

fn median_by(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> Option<f64> {
    stats(samples, f).map(|(_, m, _)| m)
}

/// min, median, max (`None` without samples).
fn stats(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = samples.iter().map(f).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    Some((v[0], median, v[n - 1]))
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.0}k", r / 1e3)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 10.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.2}")
    }
}

/// The best median of the Rust peers in a cell: highest rate, lowest CPU per message.
fn best_peer(
    per_server: &[(String, Vec<Sample>)],
    f: impl Fn(&Sample) -> f64 + Copy,
    higher: bool,
) -> Option<(String, f64)> {
    per_server
        .iter()
        .filter(|(name, _)| echo::RUST_PEERS.contains(&name.as_str()))
        .filter_map(|(name, s)| median_by(s, f).map(|m| (name.clone(), m)))
        .reduce(|a, b| if (b.1 > a.1) == higher { b } else { a })
}

fn load_tables(o: &Opts, results: &LoadResults) -> String {
    let mut s = String::from("\n## Load\n\n");
    s.push_str(
        "Cells are `connections x message size / messages in flight per connection`. Each entry: \
         median over the repetitions, and in parentheses its ratio to the best Rust peer of the cell \
         (tungstenite, tungstenite-forward, fastwebsockets, tokio-websockets, sockudo; named in the last column). \
         Messages per second: higher is better; server CPU per message (user + system time of the \
         server process over the messages echoed): lower is better.\n",
    );
    let header = |title: &str| {
        let mut h = format!("\n### {title}\n\n| cell |");
        for name in &o.servers {
            let _ = write!(h, " {name} |");
        }
        h.push_str(" best peer |\n|---|");
        for _ in &o.servers {
            h.push_str("--:|");
        }
        h.push_str("---|\n");
        h
    };
    for (title, f, higher, fmt) in [
        ("Messages per second", (|x: &Sample| x.rate) as fn(&Sample) -> f64, true, fmt_rate as fn(f64) -> String),
        ("Server CPU time per message (µs)", |x: &Sample| x.cpu_us, false, fmt_us),
    ] {
        s.push_str(&header(title));
        for (shape, per_server) in results {
            let best = best_peer(per_server, f, higher);
            let _ = write!(s, "| {} |", shape.label());
            for (_, samples) in per_server {
                match (median_by(samples, f), &best) {
                    (Some(m), Some((_, b))) => {
                        let _ = write!(s, " {} ({:.2}) |", fmt(m), m / b);
                    }
                    (Some(m), None) => {
                        let _ = write!(s, " {} |", fmt(m));
                    }
                    _ => s.push_str(" — |"),
                }
            }
            let _ = writeln!(s, " {} |", best.map_or_else(|| "—".to_owned(), |(n, _)| n));
        }
    }
    // The spread: min / median / max as ratios to the best peer's median.
    s.push_str(
        "\n### Spread (min / median / max over the repetitions, as ratios to the best peer's median)\n\n\
         | cell | server | msg/s | CPU/msg | median msg/s | median µs/msg | client CPU |\n|---|---|---|---|--:|--:|--:|\n",
    );
    for (shape, per_server) in results {
        let best_rate = best_peer(per_server, |x| x.rate, true).map(|b| b.1);
        let best_cpu = best_peer(per_server, |x| x.cpu_us, false).map(|b| b.1);
        for (name, samples) in per_server {
            let (Some(r), Some(c), Some(l)) =
                (stats(samples, |x| x.rate), stats(samples, |x| x.cpu_us), stats(samples, |x| x.client_load))
            else {
                let _ = writeln!(s, "| {} | {name} | failed | | | | |", shape.label());
                continue;
            };
            let rel = |(a, b, c): (f64, f64, f64), base: Option<f64>| match base {
                Some(x) => format!("{:.2} / {:.2} / {:.2}", a / x, b / x, c / x),
                None => "—".to_owned(),
            };
            let undrained = samples.iter().filter(|x| !x.drained).count();
            let flag = if undrained > 0 { format!(" ({undrained} undrained)") } else { String::new() };
            let _ = writeln!(
                s,
                "| {} | {name}{flag} | {} | {} | {} | {} | {:.0} % |",
                shape.label(),
                rel(r, best_rate),
                rel(c, best_cpu),
                fmt_rate(r.1),
                fmt_us(c.1),
                l.1 * 100.0
            );
        }
    }
    s
}

// ------------------------------------------------------------------------------ compression

/// Echo of JSON text with permessage-deflate: server CPU per message at each level and size.
fn run_compression(rt: &tokio::runtime::Runtime, o: &Opts) -> String {
    let tck = echo::clock_ticks_per_second() as f64;
    let servers: Vec<&String> = o.servers.iter().filter(|s| echo::supports_deflate(s)).collect();
    let (conns, inflight) = (10usize, 4usize);
    let mut s = format!(
        "\n## Compression\n\nEcho of JSON text (`ws_benches::json_corpus`, 64 distinct messages per size) \
         with permessage-deflate negotiated (threshold 0, context takeover both ways), {conns} connections × \
         {inflight} messages in flight; the clients (ws-tokio) compress at the same level. Median over the \
         repetitions; in parentheses the ratio to Node `ws` (or to ws-tokio without Node).\n\n\
         | level | size | server | msg/s | server CPU µs/msg (min / median / max) |\n|---|---|---|--:|---|\n"
    );
    for level in [1u8, 6] {
        let running: Vec<Server> = servers
            .iter()
            .map(|n| Server::start(n, Some(level)).unwrap_or_else(|e| panic!("start {n}: {e}")))
            .collect();
        for size in [1usize << 10, 64 << 10] {
            let corpus: Arc<Vec<String>> = Arc::new(ws_benches::json_corpus(size, 64, 7));
            let mut rows: Vec<(String, Vec<Sample>)> = servers.iter().map(|n| ((*n).clone(), Vec::new())).collect();
            for rep in 0..o.reps {
                for k in 0..running.len() {
                    let i = (k + rep) % running.len();
                    let server = &running[i];
                    let outcome = rt.block_on(compression_cell(
                        server.addr(),
                        level,
                        corpus.clone(),
                        conns,
                        inflight,
                        o.warmup,
                        o.measure,
                        server.pid(),
                    ));
                    match outcome {
                        Ok((msgs, secs, ticks)) => rows[i].1.push(Sample {
                            rate: msgs as f64 / secs,
                            cpu_us: ticks as f64 / tck * 1e6 / msgs.max(1) as f64,
                            client_load: 0.0,
                            drained: true,
                        }),
                        Err(e) => eprintln!("compression: {} level {level} {}: {e}", server.name(), size_label(size)),
                    }
                    std::thread::sleep(Duration::from_millis(30));
                }
            }
            let reference = rows
                .iter()
                .find(|(n, _)| n == "node")
                .or_else(|| rows.iter().find(|(n, _)| n == "ws-tokio"))
                .and_then(|(_, v)| median_by(v, |x| x.cpu_us));
            for (name, samples) in &rows {
                match (stats(samples, |x| x.rate), stats(samples, |x| x.cpu_us)) {
                    (Some(r), Some(c)) => {
                        let ratio = reference.map_or_else(String::new, |b| format!(" ({:.2})", c.1 / b));
                        let _ = writeln!(
                            s,
                            "| {level} | {} | {name} | {} | {} / **{}**{ratio} / {} |",
                            size_label(size),
                            fmt_rate(r.1),
                            fmt_us(c.0),
                            fmt_us(c.1),
                            fmt_us(c.2)
                        );
                    }
                    _ => {
                        let _ = writeln!(s, "| {level} | {} | {name} | failed | |", size_label(size));
                    }
                }
            }
            eprintln!("compression: level {level} {} done", size_label(size));
        }
    }
    s
}

#[allow(clippy::too_many_arguments)]
async fn compression_cell(
    addr: SocketAddr,
    level: u8,
    corpus: Arc<Vec<String>>,
    conns: usize,
    inflight: usize,
    warmup: Duration,
    measure: Duration,
    pid: u32,
) -> io::Result<(u64, f64, u64)> {
    let shared = Arc::new(Shared { stop: AtomicBool::new(false), received: AtomicU64::new(0) });
    let deflate = ws_proto::DeflateConfig::default().compression_level(level).threshold(0);
    let config = Arc::new(echo::client_config(Some(deflate)));
    let url = format!("ws://{addr}/");
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (mut ws, response) = ws_tokio::connect_config(&url, config.clone()).await.map_err(io::Error::other)?;
        if !response.headers().contains_key("sec-websocket-extensions") {
            return Err(io::Error::other("permessage-deflate not negotiated"));
        }
        let (shared, corpus) = (shared.clone(), corpus.clone());
        tasks.push(tokio::spawn(async move {
            let (mut sent, mut received) = (c * 7, c * 7);
            loop {
                let stop = shared.stop.load(Relaxed);
                while !stop && sent - received < inflight {
                    ws.send(corpus[sent % corpus.len()].as_str()).await.map_err(io::Error::other)?;
                    sent += 1;
                }
                if stop && sent == received {
                    break;
                }
                match ws.recv().await {
                    Some(Ok(ws_tokio::Event::Message(ws_tokio::Message::Text(t)))) => {
                        if t.as_str() != corpus[received % corpus.len()] {
                            return Err(io::Error::other("the echo differs"));
                        }
                        received += 1;
                        shared.received.fetch_add(1, Relaxed);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Err(io::Error::other("the server closed the connection")),
                }
            }
            let _ = ws.close(1000u16, "").await;
            Ok::<(), io::Error>(())
        }));
    }
    tokio::time::sleep(warmup).await;
    let (m0, s0, t0) = (shared.received.load(Relaxed), echo::cpu_ticks(pid), Instant::now());
    tokio::time::sleep(measure).await;
    let (m1, s1, t1) = (shared.received.load(Relaxed), echo::cpu_ticks(pid), Instant::now());
    shared.stop.store(true, Relaxed);
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(30), task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(e)) => return Err(io::Error::other(e)),
            Err(_) => return Err(io::Error::other("no echo within 30 s of the end")),
        }
    }
    if m1 == m0 {
        return Err(io::Error::other("no message echoed in the measured window"));
    }
    Ok((m1 - m0, (t1 - t0).as_secs_f64(), s1 - s0))
}
