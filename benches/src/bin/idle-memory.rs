//! Server memory per idle WebSocket connection, per adapter.
//!
//! ```sh
//! cargo run --release -p ws-benches --bin idle-memory -- [--connections N] [ADAPTER...]
//! ```
//!
//! For each adapter (default: every one) this starts an echo server in a child process (this
//! same binary, `serve ADAPTER`), reads its resident set size (`VmRSS` in `/proc/PID/status`),
//! opens N client connections over loopback (10 000 by default) and completes their
//! handshakes, then reads the RSS again: the difference over N is the server's memory per idle
//! connection. Three phases per adapter: no extension; permessage-deflate negotiated but idle;
//! and after one compressed message each way per connection (both sides' deflate contexts
//! allocated, with context takeover). The clients are ws-proto connections driven over
//! blocking sockets in this process, so the child holds nothing but the server.
//!
//! Linux only (procfs). The file-descriptor limit is raised to fit 2 × N sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_proto::{
    Buf, ClientHandshake, ClientOutcome, ClientRequest, Config, Connection, DeflateConfig, Event, Message, Transmit,
};

/// Adapters this benchmark can serve with.
const ADAPTERS: &[&str] = &["tokio", "tokio-current-thread", "smol", "blocking"];

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("serve") {
        let adapter = args.next().expect("serve ADAPTER");
        serve(&adapter);
        return;
    }
    let mut connections = 10_000usize;
    let mut adapters = Vec::new();
    let mut next = first;
    while let Some(arg) = next {
        match arg.as_str() {
            "--connections" => {
                connections = args.next().and_then(|n| n.parse().ok()).expect("--connections N");
            }
            a if ADAPTERS.contains(&a) => adapters.push(a.to_owned()),
            other => panic!("unknown argument {other:?} (adapters: {ADAPTERS:?})"),
        }
        next = args.next();
    }
    if adapters.is_empty() {
        adapters = ADAPTERS.iter().map(|a| (*a).to_owned()).collect();
    }
    raise_fd_limit(2 * connections as u64 + 256);
    println!("server RSS per idle connection, {connections} connections over loopback");
    println!("{:<22} {:>12} {:>16} {:>22}", "adapter", "plain", "deflate (idle)", "deflate (after 1 msg)");
    for adapter in &adapters {
        let plain = measure(adapter, connections, Phase::Plain);
        let idle = measure(adapter, connections, Phase::DeflateIdle);
        let used = measure(adapter, connections, Phase::DeflateUsed);
        println!("{adapter:<22} {:>9.2} KiB {:>12.2} KiB {:>18.2} KiB", plain, idle, used);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Plain,
    DeflateIdle,
    DeflateUsed,
}

/// Starts a server, opens `n` connections in `phase`, returns KiB of server RSS per connection.
fn measure(adapter: &str, n: usize, phase: Phase) -> f64 {
    let (mut child, addr) = spawn_server(adapter);
    // A few connections first, so that lazily allocated runtime state is in the baseline.
    let warm: Vec<_> = (0..16).map(|_| Client::open(addr, phase)).collect();
    drop(warm);
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(child.id());
    let clients: Vec<_> = (0..n).map(|_| Client::open(addr, phase)).collect();
    // Let the server finish what the last handshakes queued.
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(child.id());
    drop(clients);
    let _ = child.kill();
    let _ = child.wait();
    (after.saturating_sub(before)) as f64 / n as f64
}

/// Runs this binary as `serve ADAPTER` and reads the port it prints.
fn spawn_server(adapter: &str) -> (Child, SocketAddr) {
    let exe = std::env::current_exe().expect("current exe");
    let mut child =
        Command::new(exe).args(["serve", adapter]).stdout(Stdio::piped()).spawn().expect("start the server");
    let mut out = child.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).expect("read the port") == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let port: u16 = String::from_utf8(line).ok().and_then(|l| l.trim().parse().ok()).expect("a port");
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// `VmRSS` of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn raise_fd_limit(want: u64) {
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
    if soft < want {
        let new = want.min(hard);
        rlimit::setrlimit(rlimit::Resource::NOFILE, new, hard).expect("setrlimit");
        if new < want {
            eprintln!(
                "idle-memory: only {new} file descriptors allowed; expect failures above {} connections",
                new / 2
            );
        }
    }
}

/// One client connection: a ws-proto `Connection` over a blocking socket.
struct Client {
    _tcp: TcpStream,
    _conn: Connection,
}

impl Client {
    fn open(addr: SocketAddr, phase: Phase) -> Self {
        let mut tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut config = Config::default();
        if phase != Phase::Plain {
            config = config.permessage_deflate(Some(DeflateConfig::default().threshold(0)));
        }
        let config = Arc::new(config);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(tcp.local_addr().map(|a| a.port()).unwrap_or(1));
        let entropy = Box::new(move |dest: &mut [u8]| {
            for b in dest {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = seed as u8;
            }
        });
        let request = ClientRequest::new(&addr.to_string(), "/");
        let mut hs = ClientHandshake::new(request, config, entropy, Instant::now()).expect("request");
        write_all(&mut tcp, |out| {
            while let Some(t) = hs.poll_transmit() {
                push(t, out)
            }
        });
        let mut conn = loop {
            let slot = hs.recv_slot(4096);
            let n = tcp.read(slot).expect("read the response");
            hs.commit_received(n);
            if n == 0 {
                hs.receive_eof();
            }
            match hs.poll_outcome(Instant::now()).expect("handshake") {
                Some(ClientOutcome::Accepted { connection, .. }) => break connection,
                Some(ClientOutcome::Rejected { response, .. }) => panic!("rejected: {}", response.status()),
                None => {}
            }
        };
        if phase != Phase::Plain {
            assert!(conn.negotiated().extensions.is_some(), "permessage-deflate not negotiated");
        }
        if phase == Phase::DeflateUsed {
            let text = "{\"idle\":\"memory\",\"n\":12345}".repeat(8);
            conn.send_text(text.as_str()).expect("send");
            write_all(&mut tcp, |out| {
                while let Some(t) = conn.poll_transmit() {
                    push(t, out)
                }
            });
            loop {
                match conn.poll_event(Instant::now()) {
                    Some(Event::Message(Message::Text(t))) => {
                        assert_eq!(t.as_str(), text);
                        break;
                    }
                    Some(_) => {}
                    None => {
                        let slot = conn.recv_slot(4096);
                        let n = tcp.read(slot).expect("read the echo");
                        conn.commit_received(n);
                        assert!(n > 0, "the server closed before echoing");
                    }
                }
            }
        }
        Self { _tcp: tcp, _conn: conn }
    }
}

fn push(t: Transmit<'_>, out: &mut Vec<u8>) {
    if let Transmit::Data(mut buf) = t {
        while buf.has_remaining() {
            let chunk = buf.chunk();
            out.extend_from_slice(chunk);
            let n = chunk.len();
            buf.advance(n);
        }
    }
}

fn write_all(tcp: &mut TcpStream, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut out = Vec::new();
    fill(&mut out);
    tcp.write_all(&out).expect("write");
}

/// The child: an echo server of `adapter` on a free loopback port, printed on stdout.
fn serve(adapter: &str) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    println!("{}", listener.local_addr().expect("addr").port());
    let mut options = ws_proto::ServerOptions::default();
    options = options.per_message_deflate(Some(DeflateConfig::default().threshold(0)));
    let options = Arc::new(options);
    let config = Arc::new(Config::default());
    match adapter {
        "tokio" | "tokio-current-thread" => {
            let mut rt = if adapter == "tokio" {
                tokio::runtime::Builder::new_multi_thread()
            } else {
                tokio::runtime::Builder::new_current_thread()
            };
            rt.enable_all().build().expect("runtime").block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((tcp, _)) = listener.accept().await else { continue };
                    let (config, options) = (config.clone(), options.clone());
                    tokio::spawn(async move {
                        let Ok(mut ws) = ws_tokio::accept_with(tcp, config, options).await else { return };
                        while let Some(Ok(event)) = ws.recv().await {
                            if let Event::Message(m) = event {
                                if ws.send(m).await.is_err() {
                                    break;
                                }
                            }
                        }
                    });
                }
            });
        }
        "smol" => smol::block_on(async move {
            let listener = smol::net::TcpListener::try_from(listener).expect("listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (config, options) = (config.clone(), options.clone());
                smol::spawn(async move {
                    let Ok(mut ws) = ws_async_std::accept_with(tcp, config, options).await else { return };
                    while let Some(Ok(event)) = ws.recv().await {
                        if let Event::Message(m) = event {
                            if ws.send(m).await.is_err() {
                                break;
                            }
                        }
                    }
                })
                .detach();
            }
        }),
        "blocking" => {
            listener.set_nonblocking(false).expect("blocking");
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let (config, options) = (config.clone(), options.clone());
                // A thread per connection, with a small stack: what an idle one costs is the
                // stack pages it touched plus the connection.
                let spawned = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
                    let Ok(mut ws) = ws_blocking::accept_with(tcp, config, options) else { return };
                    while let Some(Ok(event)) = ws.recv() {
                        if let Event::Message(m) = event {
                            if ws.send(m).is_err() {
                                break;
                            }
                        }
                    }
                });
                if spawned.is_err() {
                    eprintln!("idle-memory: cannot start a thread");
                }
            }
        }
        other => panic!("unknown adapter {other:?}"),
    }
}
