//! Helpers shared by the integration tests: connected pairs over loopback TCP and in-memory
//! duplex pipes, raw frames for hand-rolled peers, and a time limit for every await.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::DuplexStream;
use tokio::net::{TcpListener, TcpStream};
use ws_tokio::ws_proto::{Entropy, Negotiated, Role};
use ws_tokio::{accept_with, connect_with, ClientRequest, Config, Connection, OsEntropy, ServerOptions, WebSocket};

/// Upper bound for anything a test awaits.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Awaits `f`, failing the test if it takes longer than [`LIMIT`].
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f).await.expect("test step timed out")
}

/// The default configuration.
pub fn config() -> Arc<Config> {
    Arc::new(Config::default())
}

/// A configuration changed by `f`.
pub fn config_with(f: impl FnOnce(&mut Config)) -> Arc<Config> {
    let mut c = Config::default();
    f(&mut c);
    Arc::new(c)
}

/// A client and a server connected over loopback TCP through the real handshakes.
pub async fn tcp_pair(config: Arc<Config>) -> (WebSocket<TcpStream>, WebSocket<TcpStream>) {
    tcp_pair_with(config.clone(), config, Arc::new(ServerOptions::default()), ClientRequest::new("localhost", "/"))
        .await
}

/// [`tcp_pair`] with separate configurations, server options and request.
pub async fn tcp_pair_with(
    client_config: Arc<Config>,
    server_config: Arc<Config>,
    options: Arc<ServerOptions>,
    request: ClientRequest,
) -> (WebSocket<TcpStream>, WebSocket<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        accept_with(tcp, server_config, options).await.unwrap()
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (client, response) = within(connect_with(tcp, request, client_config)).await.unwrap();
    assert_eq!(response.status(), 101);
    (client, within(server).await.unwrap())
}

/// A client and a server over an in-memory pipe of `capacity` bytes, through the handshakes.
pub async fn duplex_pair(capacity: usize, config: Arc<Config>) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = tokio::io::duplex(capacity);
    let request = ClientRequest::new("localhost", "/");
    let (client, server) = within(async {
        tokio::join!(connect_with(a, request, config.clone()), accept_with(b, config.clone(), Arc::default()))
    })
    .await;
    (client.unwrap().0, server.unwrap())
}

/// A connection in `role` as if the handshake had happened (no bytes exchanged), on tokio's
/// clock so that paused-time tests drive its timers.
pub fn connection(role: Role, config: Arc<Config>) -> Connection {
    let negotiated = Negotiated { version: 13, ..Negotiated::default() };
    let entropy: Option<Box<dyn Entropy>> = match role {
        Role::Client => Some(Box::new(OsEntropy::new())),
        Role::Server => None,
    };
    Connection::new(role, config, negotiated, entropy, tokio::time::Instant::now().into_std())
}

/// A client and a server over an in-memory pipe without a handshake.
pub fn raw_pair(
    capacity: usize,
    client_config: Arc<Config>,
    server_config: Arc<Config>,
) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = tokio::io::duplex(capacity);
    (
        WebSocket::from_connection(a, connection(Role::Client, client_config)),
        WebSocket::from_connection(b, connection(Role::Server, server_config)),
    )
}

/// A masked (client-to-server) frame.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Parses unmasked (server-to-client) frames: (fin, opcode, payload) each, plus the bytes of
/// an incomplete last frame.
pub fn server_frames(mut bytes: &[u8]) -> (Vec<(bool, u8, Vec<u8>)>, usize) {
    let mut frames = Vec::new();
    loop {
        if bytes.len() < 2 {
            return (frames, bytes.len());
        }
        let (fin, opcode) = (bytes[0] & 0x80 != 0, bytes[0] & 0x0f);
        assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
        let (len, header) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
            126 | 127 => return (frames, bytes.len()),
            n => (n as usize, 2),
        };
        if bytes.len() < header + len {
            return (frames, bytes.len());
        }
        frames.push((fin, opcode, bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
}

/// A payload whose bytes encode its index and length, to detect loss, duplication and
/// corruption.
pub fn payload(index: usize, len: usize) -> Vec<u8> {
    let mut v = format!("{index}:").into_bytes();
    let mut i = 0u8;
    while v.len() < len {
        v.push(b'a' + i % 26);
        i = i.wrapping_add(1);
    }
    v
}

/// The length of message `index` in the mixed-size sequences the tests send.
pub fn len_of(index: usize) -> usize {
    [8, 125, 126, 1000, 65_535, 65_536, 3, 70_000, 17][index % 9]
}
