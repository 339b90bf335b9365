//! Server memory per idle connection (the `idle-memory` binary and `load --memory`).
//!
//! For each server of [`crate::echo`], in its own process: read its resident set size
//! (`VmRSS`), open N client connections over loopback and complete their handshakes, read the
//! RSS again; the difference over N is what one idle connection costs the server. Three
//! phases: no extension (server started without permessage-deflate); permessage-deflate
//! negotiated but unused; and after one compressed message each way per connection (both of
//! the server's deflate contexts allocated, context takeover on). The deflate phases run only
//! for servers that support it ([`crate::echo::supports_deflate`]), at zlib level 6. The
//! clients are ws-proto connections over blocking sockets in the calling process (`raw`: bare
//! TCP connections), so the server process holds nothing but the server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_proto::{
    Buf, ClientHandshake, ClientOutcome, ClientRequest, Connection, DeflateConfig, Event, Message, Transmit,
};

use crate::echo::{self, Server};

/// What the connections have done when the RSS is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Handshake only, no extension.
    Plain,
    /// permessage-deflate negotiated, no message sent.
    DeflateIdle,
    /// permessage-deflate negotiated, one compressed message echoed.
    DeflateUsed,
}

/// One server's results: KiB of server RSS per connection in each phase (`None`: not run).
#[derive(Clone, Debug)]
pub struct MemoryRow {
    /// The server.
    pub server: String,
    /// No extension.
    pub plain: Option<f64>,
    /// permessage-deflate negotiated, idle.
    pub deflate_idle: Option<f64>,
    /// permessage-deflate, after one message each way.
    pub deflate_used: Option<f64>,
}

/// Measures every phase `server` supports with `n` connections.
pub fn measure_server(server: &str, n: usize) -> MemoryRow {
    let run = |phase| match measure(server, n, phase) {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("memory: {server} {phase:?}: {e}");
            None
        }
    };
    let deflate = echo::supports_deflate(server);
    MemoryRow {
        server: server.to_owned(),
        plain: run(Phase::Plain),
        deflate_idle: if deflate { run(Phase::DeflateIdle) } else { None },
        deflate_used: if deflate { run(Phase::DeflateUsed) } else { None },
    }
}

/// Starts `server`, opens `n` connections in `phase`, returns KiB of server RSS per connection.
pub fn measure(server: &str, n: usize, phase: Phase) -> std::io::Result<f64> {
    let deflate = (phase != Phase::Plain).then_some(6);
    let server = Server::start(server, deflate)?;
    let ws = echo::is_websocket(server.name());
    let addr = server.addr();
    // A few connections first, so that lazily allocated runtime state is in the baseline.
    let warm = (0..16).map(|_| Client::open(addr, ws, phase)).collect::<std::io::Result<Vec<_>>>()?;
    drop(warm);
    std::thread::sleep(Duration::from_millis(300));
    let before = server.rss_kib();
    let clients = (0..n).map(|_| Client::open(addr, ws, phase)).collect::<std::io::Result<Vec<_>>>()?;
    // Let the server finish what the last handshakes queued.
    std::thread::sleep(Duration::from_millis(500));
    let after = server.rss_kib();
    drop(clients);
    Ok(after.saturating_sub(before) as f64 / n as f64)
}

/// The markdown table of `rows`.
pub fn table(rows: &[MemoryRow], n: usize) -> String {
    let mut s = format!(
        "Server RSS per idle connection, {n} connections over loopback (KiB; deflate at level 6):\n\n\
         | server | plain | deflate, idle | deflate, after one message |\n|---|--:|--:|--:|\n"
    );
    let cell = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}"));
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.server,
            cell(r.plain),
            cell(r.deflate_idle),
            cell(r.deflate_used)
        ));
    }
    s
}

/// One client connection: a ws-proto `Connection` over a blocking socket (or bare TCP).
struct Client {
    _tcp: TcpStream,
    _conn: Option<Connection>,
}

impl Client {
    fn open(addr: SocketAddr, ws: bool, phase: Phase) -> std::io::Result<Self> {
        let mut tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        if !ws {
            return Ok(Self { _tcp: tcp, _conn: None });
        }
        let deflate = (phase != Phase::Plain).then(|| DeflateConfig::default().threshold(0));
        let config = Arc::new(echo::client_config(deflate));
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
        let mut hs = ClientHandshake::new(request, config, entropy, Instant::now()).map_err(std::io::Error::other)?;
        let mut out = Vec::new();
        while let Some(t) = hs.poll_transmit() {
            push(t, &mut out);
        }
        tcp.write_all(&out)?;
        let mut conn = loop {
            let slot = hs.recv_slot(4096);
            let n = tcp.read(slot)?;
            hs.commit_received(n);
            if n == 0 {
                hs.receive_eof();
            }
            match hs.poll_outcome(Instant::now()).map_err(std::io::Error::other)? {
                Some(ClientOutcome::Accepted { connection, .. }) => break connection,
                Some(ClientOutcome::Rejected { response, .. }) => {
                    return Err(std::io::Error::other(format!("rejected: {}", response.status())))
                }
                None => {}
            }
        };
        if phase != Phase::Plain && conn.negotiated().extensions.is_none() {
            return Err(std::io::Error::other("permessage-deflate not negotiated"));
        }
        if phase == Phase::DeflateUsed {
            let text = "{\"idle\":\"memory\",\"n\":12345}".repeat(8);
            conn.send_text(text.as_str()).map_err(std::io::Error::other)?;
            let mut out = Vec::new();
            while let Some(t) = conn.poll_transmit() {
                push(t, &mut out);
            }
            tcp.write_all(&out)?;
            loop {
                match conn.poll_event(Instant::now()) {
                    Some(Event::Message(Message::Text(t))) => {
                        assert_eq!(t.as_str(), text, "the echo differs");
                        break;
                    }
                    Some(_) => {}
                    None => {
                        let slot = conn.recv_slot(4096);
                        let n = tcp.read(slot)?;
                        conn.commit_received(n);
                        if n == 0 {
                            return Err(std::io::Error::other("the server closed before echoing"));
                        }
                    }
                }
            }
        }
        Ok(Self { _tcp: tcp, _conn: Some(conn) })
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
