//! Helpers of ws-tokio's own tests (paused-time timers, the server examples): connections on
//! tokio's clock over in-memory duplex pipes, parsing server frames, and a time limit for
//! every await. The behavioural suite shared by every runtime is in `ws-async/tests/suite`.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::DuplexStream;
use ws_tokio::ws_proto::{Entropy, Negotiated, Role};
use ws_tokio::{Config, Connection, OsEntropy, WebSocket};

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
pub fn config_with(f: impl FnOnce(Config) -> Config) -> Arc<Config> {
    Arc::new(f(Config::default()))
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
