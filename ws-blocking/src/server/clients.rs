//! Client tracking (Node `clientTracking` and `server.clients`) and encode-once broadcast:
//! ws-async's registry ([`ws_async::server::Clients`]) over this crate's connections.
//!
//! A tracked connection shares its `Connection` with the registry (see
//! [`split`](crate::WebSocket::split) for how), and has a flusher thread that writes what
//! broadcasts queue: a broadcast only takes each connection's lock for a moment to queue the
//! prepared frame, and never waits for a socket.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use ws_async::server::{Skipped, Tracked};
use ws_proto::{CloseCode, CloseFrame, Connection, PreparedMessage, State};

use crate::split::Shared;
use crate::transport::Transport;

pub use ws_async::server::ClientId;

/// The connections a [`Server`](super::Server) tracks (Node `server.clients`): every
/// connection from [`Server::accept`](super::Server::accept) or
/// [`Server::track`](super::Server::track) while client tracking is on, until it is closed
/// (or its `WebSocket` dropped). The same registry as the async adapters', over
/// [`ClientHandle`]s.
pub type Clients = ws_async::server::Clients<ClientHandle>;

/// A tracked connection, as [`Clients::get`](ws_async::server::Clients::get) and
/// [`Clients::iter`](ws_async::server::Clients::iter) give it: shared with the connection's
/// `WebSocket`, whatever its stream type.
#[derive(Clone)]
pub struct ClientHandle(Arc<dyn Conn>);

impl ClientHandle {
    pub(crate) fn new(conn: Arc<dyn Conn>) -> Self {
        Self(conn)
    }

    /// Queues `msg` (framed once) without waiting; false when the connection's output is
    /// above `Config::write_high_water` or the connection is closing.
    pub fn try_send_prepared(&self, msg: &PreparedMessage) -> bool {
        self.0.offer(msg).is_ok()
    }

    /// Starts the closing handshake, after what is already queued.
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) {
        self.0.close_with(code.into(), reason);
    }

    /// Drops the connection at once.
    pub fn terminate(&self) {
        self.0.end();
    }

    /// Whether the connection is over (closed or terminated).
    pub fn is_closed(&self) -> bool {
        self.0.is_over()
    }
}

impl fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandle").field("closed", &self.is_closed()).finish()
    }
}

impl Tracked for ClientHandle {
    fn offer(&self, msg: &PreparedMessage) -> Result<(), Skipped> {
        self.0.offer(msg)
    }
    fn close_with(&self, code: CloseCode, reason: &str) {
        self.0.close_with(code, reason);
    }
    fn end(&self) {
        self.0.end();
    }
    fn is_over(&self) -> bool {
        self.0.is_over()
    }
}

/// What a tracked connection does for the registry, whatever its stream type (the
/// object-safe side of [`Tracked`]).
pub(crate) trait Conn: Send + Sync {
    /// Queues `msg` without waiting, and wakes the connection's flusher.
    fn offer(&self, msg: &PreparedMessage) -> Result<(), Skipped>;
    /// Starts the closing handshake (after what is already queued).
    fn close_with(&self, code: CloseCode, reason: &str);
    /// Drops the connection at once.
    fn end(&self);
    /// Whether the connection is over (closed or terminated): it leaves the registry.
    fn is_over(&self) -> bool;
}

/// Queues a broadcast into a tracked connection without waiting: refused while it is not
/// open, above the write high-water mark, or streaming a message in parts (which a whole
/// message cannot interleave).
pub(crate) fn offer_to(conn: &mut Connection, msg: &PreparedMessage) -> Result<(), Skipped> {
    if conn.state() != State::Open {
        return Err(Skipped::Closed);
    }
    if !conn.is_write_ready() || conn.send_prepared(msg).is_err() {
        return Err(Skipped::Full);
    }
    Ok(())
}

impl<S: Write + Transport + Send> Conn for Shared<S> {
    fn offer(&self, msg: &PreparedMessage) -> Result<(), Skipped> {
        offer_to(&mut self.conn(), msg)?;
        self.notify();
        Ok(())
    }

    fn close_with(&self, code: CloseCode, reason: &str) {
        let _ = self.conn().close(Some(CloseFrame::new(code, reason)), Instant::now());
        self.notify();
    }

    fn end(&self) {
        self.terminate();
    }

    fn is_over(&self) -> bool {
        let conn = self.conn();
        conn.state() == State::Closed || conn.is_terminated()
    }
}
