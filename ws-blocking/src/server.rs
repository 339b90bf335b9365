//! The server handshake over an accepted stream.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_proto::Config;
use ws_proto::{Accept, Rejection, ServerHandshake, ServerOptions, UpgradeRequest};

use crate::driver::Io;
use crate::error::AcceptError;
use crate::transport::Transport;
use crate::websocket::WebSocket;

/// How long a rejected client's remaining input is drained after the response, so that
/// closing with unread input does not reset the connection before the client reads it.
const LINGER: Duration = Duration::from_millis(500);
/// Most bytes drained while lingering.
const LINGER_BYTES: usize = 64 * 1024;

/// Accepts a WebSocket upgrade on `stream` with the default [`Config`] and [`ServerOptions`].
///
/// The stream's options are left alone: consider `TcpStream::set_nodelay(true)` first, as
/// the client side does.
pub fn accept<S: Read + Write + Transport>(stream: S) -> Result<WebSocket<S>, AcceptError> {
    accept_with(stream, Arc::new(Config::default()), Arc::new(ServerOptions::default()))
}

/// Reads the upgrade request from `stream`, applies `options` (path, origins, `verify_client`,
/// subprotocols, `on_headers`: see [`UpgradeRequest::negotiate`]) and answers `101`.
///
/// A refused request (RFC violation, policy, `Config::handshake_timeout` when `S::TIMEOUTS`)
/// is answered with its HTTP response, the write side is shut down and
/// [`AcceptError::Rejected`] holds the status and the error.
pub fn accept_with<S: Read + Write + Transport>(
    stream: S,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
) -> Result<WebSocket<S>, AcceptError> {
    accept_hdr(stream, config, options, UpgradeRequest::negotiate)
}

/// [`accept_with`] where `decide` inspects the request (path, headers, `request()`) and
/// accepts or rejects it; `UpgradeRequest::negotiate` applies the options' policy, and
/// `Rejection::new(status, headers, body)` builds a custom refusal.
pub fn accept_hdr<S, F>(
    stream: S,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
    decide: F,
) -> Result<WebSocket<S>, AcceptError>
where
    S: Read + Write + Transport,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Rejection>,
{
    let mut handshake = ServerHandshake::new(config, options, Instant::now());
    let mut io = Io::new(stream);
    loop {
        match handshake.poll_request() {
            Ok(Some(request)) => {
                return match decide(&request) {
                    Ok(accept) => {
                        let connection = request.accept(accept, Instant::now());
                        let mut ws = WebSocket::from_parts(io, connection);
                        // Write the 101 now so the client can start.
                        ws.flush().map_err(|e| AcceptError::Io(e.into()))?;
                        Ok(ws)
                    }
                    Err(rejection) => Err(reject(io, rejection)),
                };
            }
            Ok(None) => io.read_once(&mut handshake)?,
            Err(rejection) => return Err(reject(io, rejection)),
        }
    }
}

/// Writes the rejection, half-closes, and drains what the client still sends for a moment.
fn reject<S: Read + Write + Transport>(mut io: Io<S>, rejection: Rejection) -> AcceptError {
    let written = io.stream.write_all(rejection.bytes()).and_then(|()| io.stream.flush());
    io.shutdown_write();
    if written.is_ok() && S::TIMEOUTS {
        let until = Instant::now() + LINGER;
        let mut armed = std::mem::take(&mut io.read_armed);
        let mut buf = [0u8; 4096];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            if !armed.arm_read(&io.stream, Some(until)).unwrap_or(false) {
                break;
            }
            match io.stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }
    AcceptError::Rejected { status: rejection.status(), error: rejection.error }
}
