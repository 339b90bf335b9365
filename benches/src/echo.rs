//! Echo servers of every stack the loopback load test compares, each run as its own process.
//!
//! A server is started with [`Server::start`]: the Rust ones by re-running the current
//! executable as `--server NAME [--deflate LEVEL]` (every binary of this package that starts
//! servers calls [`serve_if_asked`] first thing in `main`), Node `ws` as `node
//! benches/node/echo-server.js`. The child binds a free loopback port and prints it on its
//! first line of output. Being a separate process, its CPU time ([`Server::cpu_ticks`]) and
//! memory ([`Server::rss_kib`]) can be read from procfs without counting the load generator.
//!
//! Every server is the plain echo loop its library documents (receive a message, send it
//! back), with `TCP_NODELAY` on the accepted socket (Node `ws` sets it too), on a multi-thread
//! tokio runtime for the tokio-based peers (what `#[tokio::main]` gives):
//!
//! | name | stack |
//! |---|---|
//! | `ws-tokio` | ws-tokio, multi-thread runtime, `accept_with` + `recv`/`feed` (`recv` writes the fed answers before it waits) |
//! | `ws-tokio-ct` | the same on a current-thread runtime |
//! | `ws-smol` | ws-async-std on smol (`smol::block_on`, tasks on smol's global executor) |
//! | `ws-blocking` | ws-blocking, a thread per connection |
//! | `ws-blocking-reactor` | ws-blocking's `Reactor`: the handshake on a short-lived thread, then every connection on one reactor thread (a handler echoing with `WsHandle::send`) |
//! | `tungstenite` | tokio-tungstenite `accept_async`, `StreamExt::next` + `SinkExt::send` |
//! | `tungstenite-forward` | tokio-tungstenite's echo example: `split`, `read.try_filter(..).forward(write)` |
//! | `fastwebsockets` | fastwebsockets `FragmentCollector`, `read_frame` + `write_frame` (upgrade answered by hand, as its hyper helper would) |
//! | `tokio-websockets` | tokio-websockets `ServerBuilder::accept`, `next` + `send` |
//! | `sockudo` | sockudo-ws `WebSocketStream` (its `simple_echo` example; `CompressedWebSocketStream` with deflate) |
//! | `node` | Node `ws` `WebSocketServer`, `ws.send(data, { binary })` on `message` |
//! | `raw` | no WebSocket: a tokio TCP echo (64 KiB buffer), the physical limit of the loopback |
//!
//! With `--deflate LEVEL`, the servers that support permessage-deflate ([`supports_deflate`])
//! enable it at that zlib level, compressing every message (threshold 0), context takeover on.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every server, in the order the reports list them.
pub const SERVERS: &[&str] = &[
    "ws-tokio",
    "ws-tokio-ct",
    "ws-smol",
    "ws-blocking",
    "ws-blocking-reactor",
    "tungstenite",
    "tungstenite-forward",
    "fastwebsockets",
    "tokio-websockets",
    "sockudo",
    "node",
    "raw",
];

/// Variants that `--servers` accepts but the default runs leave out (experiments):
/// `ws-tokio-send` is `ws-tokio` echoing with `send` (queue and write each answer) instead of
/// `feed` (queue; `recv` writes before it waits).
pub const EXTRA_SERVERS: &[&str] = &["ws-tokio-send"];

/// The servers built on this workspace's stack.
pub const OURS: &[&str] = &["ws-tokio", "ws-tokio-ct", "ws-smol", "ws-blocking", "ws-blocking-reactor"];

/// The other Rust WebSocket libraries: the reference every ratio is taken against.
pub const RUST_PEERS: &[&str] =
    &["tungstenite", "tungstenite-forward", "fastwebsockets", "tokio-websockets", "sockudo"];

/// Whether `name` can negotiate permessage-deflate.
pub fn supports_deflate(name: &str) -> bool {
    OURS.contains(&name) || matches!(name, "sockudo" | "node")
}

/// Whether `name` is a WebSocket server (everything but `raw`).
pub fn is_websocket(name: &str) -> bool {
    name != "raw"
}

/// The Node script of the `node` server.
pub fn node_script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/node/echo-server.js"))
}

/// Where scripts/setup-interop.sh installs Node `ws` (interop/node/node_modules).
pub fn node_modules() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/node/node_modules"))
}

/// Whether `name` can run here: everything but `node` always; `node` when `node` is on the
/// `PATH` and Node `ws` is installed (scripts/setup-interop.sh).
pub fn available(name: &str) -> bool {
    if name != "node" {
        return SERVERS.contains(&name) || EXTRA_SERVERS.contains(&name);
    }
    node_modules().join("ws/package.json").exists()
        && Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// An echo server running in a child process; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    name: String,
    addr: SocketAddr,
}

impl Server {
    /// Starts server `name` (one of [`SERVERS`]), with permessage-deflate at `deflate` level
    /// when given, and waits for the port it listens on.
    pub fn start(name: &str, deflate: Option<u8>) -> io::Result<Self> {
        let mut cmd = if name == "node" {
            let mut cmd = Command::new("node");
            cmd.arg(node_script()).env("NODE_PATH", node_modules());
            cmd
        } else {
            let mut cmd = Command::new(std::env::current_exe()?);
            cmd.args(["--server", name]);
            cmd
        };
        if let Some(level) = deflate {
            cmd.args(["--deflate", &level.to_string()]);
        }
        // The server dies with this process, even if it is killed.
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).spawn()?;
        let mut out = child.stdout.take().expect("piped stdout");
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte)? == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let port = String::from_utf8_lossy(&line).trim().parse::<u16>().map_err(|_| {
            let _ = child.kill();
            io::Error::other(format!("server {name} did not print its port (got {:?})", String::from_utf8_lossy(&line)))
        })?;
        Ok(Self { child, name: name.to_owned(), addr: SocketAddr::from(([127, 0, 0, 1], port)) })
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User plus system CPU time of the whole process (all its threads) so far, in clock ticks
    /// ([`clock_ticks_per_second`]), from `/proc/PID/stat`.
    pub fn cpu_ticks(&self) -> u64 {
        cpu_ticks(self.pid())
    }

    /// Resident set size (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of process `pid` in clock ticks (fields 14 and 15 of `/proc/PID/stat`).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("procfs");
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// The kernel's clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of [`cpu_ticks`].
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as u64
    } else {
        100
    }
}

/// `VmRSS` of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// Raises the soft limit on open files to at least `want` (up to the hard limit); returns the
/// limit in force afterwards. Children started later inherit it.
pub fn raise_fd_limit(want: u64) -> u64 {
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
    if soft >= want {
        return soft;
    }
    let new = want.min(hard);
    rlimit::setrlimit(rlimit::Resource::NOFILE, new, hard).expect("setrlimit");
    new
}

/// If this process was started as `--server NAME [--deflate LEVEL]`, runs that server (never
/// returns); otherwise returns. Call it first thing in `main` of every binary that uses
/// [`Server::start`].
pub fn serve_if_asked() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("--server") {
        return;
    }
    let name = args.get(1).expect("--server NAME").clone();
    let deflate = match args.get(2).map(String::as_str) {
        Some("--deflate") => Some(args.get(3).and_then(|l| l.parse::<u8>().ok()).expect("--deflate LEVEL (0-9)")),
        _ => None,
    };
    serve(&name, deflate);
    std::process::exit(0);
}

/// Runs echo server `name` on a free loopback port, printing the port on stdout; returns only
/// if the listener fails.
pub fn serve(name: &str, deflate: Option<u8>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("{}", listener.local_addr().expect("addr").port());
    match name {
        "ws-blocking" => ours_blocking(listener, deflate),
        "ws-blocking-reactor" => ours_blocking_reactor(listener, deflate),
        "ws-smol" => {
            listener.set_nonblocking(true).expect("nonblocking");
            smol::block_on(ours_smol(listener, deflate));
        }
        "ws-tokio-ct" => {
            listener.set_nonblocking(true).expect("nonblocking");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(tokio_server(listener, name.to_owned(), deflate));
        }
        "ws-tokio"
        | "ws-tokio-send"
        | "tungstenite"
        | "tungstenite-forward"
        | "fastwebsockets"
        | "tokio-websockets"
        | "sockudo"
        | "raw" => {
            listener.set_nonblocking(true).expect("nonblocking");
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
            rt.block_on(tokio_server(listener, name.to_owned(), deflate));
        }
        other => panic!("unknown server {other:?} (servers: {SERVERS:?})"),
    }
}

/// A client `Config`, with permessage-deflate offered when `deflate` is given.
pub fn client_config(deflate: Option<ws_proto::DeflateConfig>) -> ws_proto::Config {
    ws_proto::Config::default().permessage_deflate(deflate)
}

/// Our server settings: defaults, plus permessage-deflate at `level` on every message.
fn ours_settings(deflate: Option<u8>) -> (Arc<ws_proto::Config>, Arc<ws_proto::ServerOptions>) {
    let deflate = deflate.map(|level| ws_proto::DeflateConfig::default().compression_level(level).threshold(0));
    (Arc::new(ws_proto::Config::default()), Arc::new(ws_proto::ServerOptions::default().per_message_deflate(deflate)))
}

async fn tokio_server(listener: std::net::TcpListener, name: String, deflate: Option<u8>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    let (config, options) = ours_settings(deflate);
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        let (config, options) = (config.clone(), options.clone());
        // One spawn per stack, so that each connection's task is the size of its own echo
        // loop (one async block matching on the name would be as large as the largest).
        match name.as_str() {
            "ws-tokio" | "ws-tokio-ct" => tokio::spawn(ours_tokio(tcp, config, options, true)),
            "ws-tokio-send" => tokio::spawn(ours_tokio(tcp, config, options, false)),
            "tungstenite" => tokio::spawn(tungstenite(tcp)),
            "tungstenite-forward" => tokio::spawn(tungstenite_forward(tcp)),
            "fastwebsockets" => tokio::spawn(fastwebsockets(tcp)),
            "tokio-websockets" => tokio::spawn(tokio_websockets(tcp)),
            "sockudo" => tokio::spawn(sockudo(tcp, deflate)),
            _ => tokio::spawn(raw(tcp)),
        };
    }
}

async fn ours_tokio(tcp: TcpStream, config: Arc<ws_proto::Config>, options: Arc<ws_proto::ServerOptions>, feed: bool) {
    let Ok(mut ws) = ws_tokio::accept_with(tcp, config, options).await else { return };
    while let Some(Ok(event)) = ws.recv().await {
        if let ws_proto::Event::Message(m) = event {
            // `feed` queues without writing; `recv` writes what is queued before it waits for
            // the peer, so the answers to one read's messages leave in one write.
            let sent = if feed { ws.feed(m).await } else { ws.send(m).await };
            if sent.is_err() {
                break;
            }
        }
    }
}

async fn ours_smol(listener: std::net::TcpListener, deflate: Option<u8>) {
    let listener = smol::net::TcpListener::try_from(listener).expect("listener");
    let (config, options) = ours_settings(deflate);
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        let (config, options) = (config.clone(), options.clone());
        smol::spawn(async move {
            let Ok(mut ws) = ws_async_std::accept_with(tcp, config, options).await else { return };
            while let Some(Ok(event)) = ws.recv().await {
                if let ws_proto::Event::Message(m) = event {
                    if ws.feed(m).await.is_err() {
                        break;
                    }
                }
            }
        })
        .detach();
    }
}

fn ours_blocking(listener: std::net::TcpListener, deflate: Option<u8>) {
    let (config, options) = ours_settings(deflate);
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let _ = tcp.set_nodelay(true);
        let (config, options) = (config.clone(), options.clone());
        // A thread per connection with a small stack, as idle-memory has always measured it.
        let spawned = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
            let Ok(mut ws) = ws_blocking::accept_with(tcp, config, options) else { return };
            while let Some(Ok(event)) = ws.recv() {
                if let ws_proto::Event::Message(m) = event {
                    if ws.feed(m).is_err() {
                        break;
                    }
                }
            }
        });
        if spawned.is_err() {
            eprintln!("echo server: cannot start a thread");
        }
    }
}

fn ours_blocking_reactor(listener: std::net::TcpListener, deflate: Option<u8>) {
    let (config, options) = ours_settings(deflate);
    let reactor = ws_blocking::reactor::Reactor::new().expect("reactor");
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let _ = tcp.set_nodelay(true);
        let (config, options, reactor) = (config.clone(), options.clone(), reactor.clone());
        // The handshake blocks, so it gets a short-lived thread; the connection then lives on
        // the reactor.
        let spawned = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
            let Ok(ws) = ws_blocking::accept_with(tcp, config, options) else { return };
            let _ = reactor.drive(ws, |ws: &ws_blocking::WsHandle, event: io::Result<ws_proto::Event>| {
                if let Ok(ws_proto::Event::Message(m)) = event {
                    let _ = ws.send(m);
                }
            });
        });
        if spawned.is_err() {
            eprintln!("echo server: cannot start a thread");
        }
    }
}

async fn tungstenite(tcp: TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            break;
        }
    }
}

/// tokio-tungstenite's own echo example: the read half forwarded into the write half, which
/// flushes only when the read half has nothing ready (so it batches too).
async fn tungstenite_forward(tcp: TcpStream) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
    let (write, read) = ws.split();
    let _ = read.try_filter(|msg| std::future::ready(msg.is_text() || msg.is_binary())).forward(write).await;
}

async fn fastwebsockets(mut tcp: TcpStream) {
    if upgrade_by_hand(&mut tcp).await.is_err() {
        return;
    }
    let ws = fastwebsockets::WebSocket::after_handshake(tcp, fastwebsockets::Role::Server);
    let mut ws = fastwebsockets::FragmentCollector::new(ws);
    loop {
        let Ok(frame) = ws.read_frame().await else { break };
        let data = matches!(frame.opcode, fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary);
        if frame.opcode == fastwebsockets::OpCode::Close || (data && ws.write_frame(frame).await.is_err()) {
            break;
        }
    }
}

async fn tokio_websockets(tcp: TcpStream) {
    let Ok((_request, mut ws)) = tokio_websockets::ServerBuilder::new().accept(tcp).await else { return };
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            break;
        }
    }
}

async fn sockudo(mut tcp: TcpStream, deflate: Option<u8>) {
    use sockudo_ws::handshake::{build_response, generate_accept_key, parse_request};
    let mut buf = bytes::BytesMut::with_capacity(4096);
    let (negotiated, consumed) = loop {
        match tcp.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Ok(parsed) = parse_request(&buf) else { return };
        if let Some((request, consumed)) = parsed {
            let policy = deflate.map(|level| sockudo_ws::DeflateConfig {
                compression_level: u32::from(level),
                compression_threshold: 0,
                ..sockudo_ws::DeflateConfig::default()
            });
            let negotiated = match (request.extensions, &policy) {
                (Some(offer), Some(policy)) => sockudo_ws::deflate::negotiate_server_deflate(offer, policy),
                _ => None,
            };
            let header = negotiated.as_ref().map(|n| n.to_response_header());
            let response = build_response(&generate_accept_key(request.key), None, header.as_deref());
            if tcp.write_all(&response).await.is_err() {
                return;
            }
            break (negotiated, consumed);
        }
    };
    let leftover = (buf.len() > consumed).then(|| buf.split_off(consumed).freeze());
    let config = sockudo_ws::Config::default();
    match negotiated {
        Some(n) => {
            let mut ws = sockudo_ws::CompressedWebSocketStream::server_with_leftover(tcp, config, n.config, leftover);
            while let Some(Ok(msg)) = ws.next().await {
                if matches!(msg, sockudo_ws::Message::Text(_) | sockudo_ws::Message::Binary(_))
                    && ws.send(msg).await.is_err()
                {
                    break;
                }
            }
        }
        None => {
            let mut ws =
                sockudo_ws::WebSocketStream::from_raw_with_leftover(tcp, sockudo_ws::Role::Server, config, leftover);
            while let Some(Ok(msg)) = ws.next().await {
                if matches!(msg, sockudo_ws::Message::Text(_) | sockudo_ws::Message::Binary(_))
                    && ws.send(msg).await.is_err()
                {
                    break;
                }
            }
        }
    }
}

async fn raw(mut tcp: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tcp.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads an HTTP upgrade request and answers `101 Switching Protocols` (no extensions):
/// what fastwebsockets' hyper-based `upgrade` helper does, without hyper.
async fn upgrade_by_hand(tcp: &mut TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let key = loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let key = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
                    .map(|h| h.value.to_vec())
                    .ok_or_else(|| io::Error::other("no Sec-WebSocket-Key"))?;
                break key;
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(io::Error::other(e)),
        }
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    );
    tcp.write_all(response.as_bytes()).await
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut sha = sha1::Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_rfc_6455() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn procfs_readings() {
        let me = std::process::id();
        let _ = cpu_ticks(me);
        assert!(rss_kib(me) > 0);
        assert!(clock_ticks_per_second() > 0);
    }

    #[test]
    fn server_lists_agree() {
        assert!(OURS.iter().chain(RUST_PEERS).all(|s| SERVERS.contains(s)));
        assert!(SERVERS.iter().filter(|s| supports_deflate(s)).count() == 7);
    }
}
