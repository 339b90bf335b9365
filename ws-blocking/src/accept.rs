//! The server handshake over an accepted stream: [`accept`], [`accept_with`],
//! [`accept_hdr`]. The [`Server`](crate::server::Server) builds on it.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use ws_proto::http::Request;
use ws_proto::linger::{DRAIN_CHUNK, LINGER, LINGER_BYTES, REJECT_WRITE};
use ws_proto::Config;
use ws_proto::{Accept, Bytes, Rejection, ServerHandshake, ServerOptions, UpgradeRequest};

use crate::driver::Io;
use crate::transport::Transport;
use crate::websocket::WebSocket;
use crate::AcceptError;

/// Accepts a WebSocket upgrade on `stream` with the default [`Config`] and [`ServerOptions`]
/// (no permessage-deflate, as Node's server by default).
///
/// The stream's options are left alone: consider `TcpStream::set_nodelay(true)` first, as
/// the client side does.
pub fn accept<S: Read + Write + Transport>(stream: S) -> Result<WebSocket<S>, AcceptError> {
    accept_with(stream, Arc::new(Config::default()), Arc::new(ServerOptions::default()))
}

/// Reads the upgrade request from `stream`, applies `options` (path, origins, `verify_client`,
/// subprotocols, permessage-deflate, `on_headers`: see [`UpgradeRequest::negotiate`]) and
/// answers `101`.
///
/// A refused request (RFC violation, policy, `Config::handshake_timeout` when `S::TIMEOUTS`)
/// is answered with its HTTP response, the write side is shut down, what the client still
/// sends is drained for a moment (ws-proto's [`linger`](ws_proto::linger) values), and
/// [`AcceptError::Rejected`] holds the status and the error. The options'
/// [`client_error`](ServerOptions::client_error) hook (Node `wsClientError`) may replace the
/// answer to a request that breaks a rule, or drop the connection without one
/// ([`AcceptError::Dropped`]).
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
    let (io, head) = read_head(Io::new(stream), config.clone(), options.clone())?;
    let (request, leftover) = match head {
        Ok(head) => head,
        Err(rejection) => return Err(reject(io, rejection)),
    };
    let decided = UpgradeRequest::from_http(&request, leftover, config, options.clone())
        .and_then(|upgrade| decide(&upgrade).map(|accept| (upgrade, accept)));
    match decided {
        Ok((upgrade, accept)) => write_101(io, upgrade, accept),
        // `from_http` and `negotiate` applied the `client_error` hook already; a refusal
        // `decide` built from a `HandshakeError` gets it here (at most once either way).
        Err(rejection) => Err(reject(io, options.answer_client_error(&request, rejection))),
    }
}

/// A request head and the bytes read past it, or the refusal of a malformed one.
pub(crate) type Head = Result<(Request<()>, Bytes), Rejection>;

/// Reads the request head (bounded by the handshake timeout); a malformed one is a
/// rejection to answer.
pub(crate) fn read_head<S: Read + Write + Transport>(
    mut io: Io<S>,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
) -> Result<(Io<S>, Head), AcceptError> {
    let mut handshake = ServerHandshake::new(config, options, Instant::now());
    loop {
        match handshake.poll_head() {
            Ok(Some(head)) => return Ok((io, Ok(head))),
            Ok(None) => io.read_once(&mut handshake)?,
            Err(rejection) => return Ok((io, Err(rejection))),
        }
    }
}

/// Writes the `101` queued in the accepted connection (bounded by `REJECT_WRITE`).
pub(crate) fn write_101<S: Read + Write + Transport>(
    io: Io<S>,
    upgrade: UpgradeRequest,
    accept: Accept,
) -> Result<WebSocket<S>, AcceptError> {
    let mut ws = WebSocket::from_parts(io, upgrade.accept(accept, Instant::now()));
    bound_writes(ws.get_ref())?;
    ws.flush().map_err(|e| AcceptError::Io(e.into()))?;
    if S::TIMEOUTS {
        ws.get_ref().set_write_timeout(None)?;
    }
    Ok(ws)
}

fn bound_writes<S: Transport>(stream: &S) -> std::io::Result<()> {
    if S::TIMEOUTS {
        stream.set_write_timeout(Some(REJECT_WRITE))?;
    }
    Ok(())
}

/// Writes the rejection, half-closes, and drains what the client still sends for a moment; a
/// rejection the `client_error` hook chose to drop is not answered at all.
pub(crate) fn reject<S: Read + Write + Transport>(mut io: Io<S>, rejection: Rejection) -> AcceptError {
    if rejection.is_drop() {
        // No answer (Node's `socket.destroy()`): the stream is closed when dropped here.
        return AcceptError::dropped(rejection);
    }
    let written =
        bound_writes(&io.stream).and_then(|()| io.stream.write_all(rejection.bytes())).and_then(|()| io.stream.flush());
    io.shutdown_write();
    if written.is_ok() && S::TIMEOUTS {
        let until = Instant::now() + LINGER;
        let mut armed = std::mem::take(&mut io.read_armed);
        let mut buf = [0u8; DRAIN_CHUNK];
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
