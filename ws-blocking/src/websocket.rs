//! [`WebSocket`]: a `Connection` driven over a blocking stream.

use std::fmt;
use std::io::{self, Read, Write};
use std::ops::{Deref, DerefMut};
use std::sync::MutexGuard;

use ws_proto::{
    Bytes, CloseCode, CloseFrame, CloseInfo, Connection, Event, Message, MessageKind, MessagePieces, Negotiated,
    PreparedMessage, State,
};

use crate::core::{sending_methods, Receiver, Sender};
use crate::driver::Io;
use crate::recv::{receiving_methods, RecvState};
use crate::split::ReadHalf;
use crate::transport::Transport;
use crate::{Error, TrySendError};

/// A connection and the stream it owns.
pub(crate) struct Owned<S> {
    pub(crate) io: Io<S>,
    pub(crate) conn: Connection,
}

impl<S: Read + Write + Transport> Sender for Owned<S> {
    fn with_conn<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.conn)
    }

    fn write_out(&mut self, _wait: bool) -> io::Result<bool> {
        let complete = self.io.write_all(&mut self.conn)?;
        if self.conn.is_terminated() {
            self.io.close();
        }
        Ok(complete)
    }

    fn close_io(&mut self) {
        self.io.close();
    }
}

impl<S: Read + Write + Transport> Receiver for Owned<S> {
    fn read_once(&mut self) -> io::Result<()> {
        self.io.read_once(&mut self.conn)
    }
}

/// Where a [`WebSocket`]'s connection lives: owned, or shared with a server's client
/// registry (a tracked connection). The owned case, by far the common one, stays inline: boxing
/// it would add an indirection to every call.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Core<S: Write + Transport> {
    Owned(Owned<S>),
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    Shared(ReadHalf<S>),
}

impl<S: Read + Write + Transport> Sender for Core<S> {
    fn with_conn<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> T {
        match self {
            Self::Owned(o) => o.with_conn(f),
            Self::Shared(h) => h.with_conn(f),
        }
    }

    fn write_out(&mut self, wait: bool) -> io::Result<bool> {
        match self {
            Self::Owned(o) => o.write_out(wait),
            Self::Shared(h) => h.write_out(wait),
        }
    }

    fn close_io(&mut self) {
        match self {
            Self::Owned(o) => o.close_io(),
            Self::Shared(h) => h.close_io(),
        }
    }

    fn queued(&mut self) {
        if let Self::Shared(h) = self {
            h.queued();
        }
    }
}

impl<S: Read + Write + Transport> Receiver for Core<S> {
    fn read_once(&mut self) -> io::Result<()> {
        match self {
            Self::Owned(o) => o.read_once(),
            Self::Shared(h) => h.read_once(),
        }
    }
}

/// A WebSocket connection over a blocking stream `S`.
///
/// Get one from [`ClientBuilder::connect`](crate::ClientBuilder::connect),
/// [`connect`](crate::connect) or [`connect_with`](crate::connect_with) (client),
/// `server::Server::accept` or [`accept_with`](crate::accept_with)
/// (server), or wrap an already-upgraded stream with [`from_connection`](Self::from_connection).
///
/// All protocol work happens in [`ws_proto::Connection`]: answering pings, echoing the peer's
/// close, failing the connection on protocol errors, keepalive and close timers. This type only
/// moves bytes. [`recv`](Self::recv) writes what the connection queued as it goes, so pongs and
/// close echoes go out even if the application only reads. As an [`Iterator`] it yields the
/// data messages (as [`recv_message`](Self::recv_message)).
///
/// **Timers** (keepalive, pong deadline, close timeout) fire while a call blocks only if
/// `S::TIMEOUTS` (true for `TcpStream`, `UnixStream`, [`Stream`](crate::Stream) and TLS over
/// them): the adapter sets the socket's read and write timeouts to the next deadline.
/// Otherwise they fire only when a later call finds them expired.
///
/// **Blocking.** A single `WebSocket` cannot read and write at the same time: if both peers only
/// send large messages without reading, both block in `send`. Use [`split`](Self::split) to
/// read on one thread and write on another.
///
/// **Written, queued or lost.** `Ok` from `send`, `send_with`, `send_prepared`, `flush` or
/// `close` means the bytes were written to the stream; `Ok` from `feed` or `try_send` means
/// queued: written by the next `flush` or `send`, or by a receive once every message already
/// received is delivered. If the connection ends first (a timer, `terminate`, an IO error),
/// queued output is not sent and the next flush or send returns an error
/// ([`Error::ConnectionClosed`](crate::Error::ConnectionClosed), or the IO error itself the
/// first time). What was already received is not lost to `terminate` (nor to an IO error): a
/// receive still delivers the messages whose frames had fully arrived, then `Event::Closed`.
///
/// Dropping it closes the socket at once (also for a server's tracked connection, which then
/// leaves `server::Server::clients`).
pub struct WebSocket<S: Write + Transport> {
    core: Core<S>,
    recv: RecvState,
    url: Option<String>,
    negotiated: Negotiated,
}

impl<S: Write + Transport> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("url", &self.url)
            .field("negotiated", &self.negotiated)
            .field("tracked", &matches!(self.core, Core::Shared(_)))
            .finish_non_exhaustive()
    }
}

/// The connection of a [`WebSocket`], borrowed: [`WebSocket::connection`].
pub struct ConnectionRef<'a>(RefGuard<'a>);

/// The connection of a [`WebSocket`], borrowed mutably: [`WebSocket::connection_mut`].
pub struct ConnectionMut<'a>(MutGuard<'a>);

enum RefGuard<'a> {
    Ref(&'a Connection),
    Locked(MutexGuard<'a, Connection>),
}

enum MutGuard<'a> {
    Mut(&'a mut Connection),
    Locked(MutexGuard<'a, Connection>),
}

impl Deref for ConnectionRef<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match &self.0 {
            RefGuard::Ref(c) => c,
            RefGuard::Locked(c) => c,
        }
    }
}

impl Deref for ConnectionMut<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match &self.0 {
            MutGuard::Mut(c) => c,
            MutGuard::Locked(c) => c,
        }
    }
}

impl DerefMut for ConnectionMut<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        match &mut self.0 {
            MutGuard::Mut(c) => c,
            MutGuard::Locked(c) => c,
        }
    }
}

impl<S: Write + Transport> WebSocket<S> {
    pub(crate) fn from_fields(core: Core<S>, recv: RecvState, url: Option<String>, negotiated: Negotiated) -> Self {
        Self { core, recv, url, negotiated }
    }

    pub(crate) fn into_fields(self) -> (Core<S>, RecvState, Option<String>, Negotiated) {
        (self.core, self.recv, self.url, self.negotiated)
    }

    /// Records the URL this client connected to (returned by [`url`](Self::url)). Client
    /// constructors call it; a server-side `WebSocket` has none.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The URL a client connected to (Node `url`); `None` on the server side.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The subprotocol the handshake settled on, if any (Node `protocol`).
    pub fn protocol(&self) -> Option<&str> {
        self.negotiated.subprotocol.as_deref()
    }

    /// The negotiated `Sec-WebSocket-Extensions` value, if any (Node `extensions`), e.g.
    /// `permessage-deflate; client_max_window_bits=15`.
    pub fn extensions(&self) -> Option<&str> {
        self.negotiated.extensions.as_deref()
    }

    /// The WebSocket protocol version: 13, or 8 for HyBi-07..12 peers.
    pub fn protocol_version(&self) -> u8 {
        self.negotiated.version
    }

    /// The protocol state and settings. For a server's tracked connection this holds the
    /// connection's lock: do not keep it across other calls.
    pub fn connection(&self) -> ConnectionRef<'_> {
        ConnectionRef(match &self.core {
            Core::Owned(o) => RefGuard::Ref(&o.conn),
            Core::Shared(h) => RefGuard::Locked(h.shared.conn()),
        })
    }

    /// The protocol state, mutably, e.g. for `fail(code, reason, now)`. Output queued through
    /// it is written by the next `flush`, send or receive; events taken with `poll_event` here
    /// bypass [`recv`](Self::recv).
    pub fn connection_mut(&mut self) -> ConnectionMut<'_> {
        ConnectionMut(match &mut self.core {
            Core::Owned(o) => MutGuard::Mut(&mut o.conn),
            Core::Shared(h) => MutGuard::Locked(h.shared.conn()),
        })
    }

    /// Open, closing or closed (Node `readyState` without CONNECTING).
    pub fn ready_state(&self) -> State {
        self.connection().state()
    }

    /// Bytes queued and not yet written, framing included (Node `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.connection().buffered_amount()
    }

    /// Whether the output queue is below `Config::write_high_water`: a send would not wait.
    pub fn is_write_ready(&self) -> bool {
        self.connection().is_write_ready()
    }

    /// Total bytes received from the peer.
    pub fn bytes_received(&self) -> u64 {
        self.connection().bytes_received()
    }

    /// The underlying stream (its read handle for a tracked connection).
    pub fn get_ref(&self) -> &S {
        match &self.core {
            Core::Owned(o) => &o.io.stream,
            Core::Shared(h) => h.stream(),
        }
    }

    /// The underlying stream, mutably. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        match &mut self.core {
            Core::Owned(o) => &mut o.io.stream,
            Core::Shared(h) => h.stream_mut(),
        }
    }

    /// The underlying stream (output still queued in the connection is lost).
    pub fn into_inner(self) -> S {
        match self.core {
            Core::Owned(o) => o.io.stream,
            Core::Shared(h) => h.into_stream(),
        }
    }
}

impl<S: Read + Write + Transport> WebSocket<S> {
    /// Drives `conn` over `stream`, an already-upgraded connection (a handshake done
    /// elsewhere, or a pre-agreed raw connection in tests). Anything `conn` already queued (a
    /// server's `101`) is written by the next call.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        Self::from_parts(Io::new(stream), conn)
    }

    pub(crate) fn from_parts(io: Io<S>, conn: Connection) -> Self {
        let negotiated = conn.negotiated().clone();
        Self::from_fields(Core::Owned(Owned { io, conn }), RecvState::default(), None, negotiated)
    }

    fn receiver(&mut self) -> (&mut RecvState, &mut Core<S>) {
        (&mut self.recv, &mut self.core)
    }

    fn sender(&mut self) -> &mut Core<S> {
        &mut self.core
    }

    receiving_methods!();
    sending_methods!();
}

impl<S: Read + Write + Transport> Iterator for WebSocket<S> {
    /// Data messages only: pings and pongs are answered and skipped, fragments assembled, and
    /// the iterator ends after the close handshake ([`WebSocket::close_info`] tells how).
    type Item = Result<Message, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.recv_message()
    }
}
