//! [`WebSocket`]: a `Connection` driven over a blocking stream.

use std::io::{self, Read, Write};
use std::time::Instant;

use ws_proto::{Bytes, CloseFrame, Connection, Event, Message, MessageKind, PreparedMessage};

use crate::driver::Io;
use crate::error::Error;
use crate::transport::Transport;

/// A WebSocket connection over a blocking stream `S`.
///
/// Get one from [`connect`](crate::connect) / [`connect_with`](crate::connect_with) (client),
/// [`accept`](crate::accept) / [`accept_with`](crate::accept_with) (server), or wrap an
/// already-upgraded stream with [`from_connection`](Self::from_connection).
///
/// All protocol work happens in [`ws_proto::Connection`]: answering pings, echoing the peer's
/// close, failing the connection on protocol errors, keepalive and close timers. This type only
/// moves bytes. [`read`](Self::read) flushes what the connection queued as it goes, so pongs and
/// close echoes go out even if the application only reads.
///
/// **Timers** (keepalive, pong deadline, close timeout) fire while a call blocks only if
/// `S::TIMEOUTS` (true for `TcpStream`, `UnixStream` and [`Stream`](crate::Stream)): the
/// adapter sets the socket's read and write timeouts to the next deadline. Otherwise they fire
/// only when a later call finds them expired.
///
/// **Blocking.** A single `WebSocket` cannot read and write at the same time: if both peers only
/// send large messages without reading, both block in `write`. Use [`split`](Self::split) to
/// read on one thread and write on another.
#[derive(Debug)]
pub struct WebSocket<S> {
    io: Io<S>,
    conn: Connection,
    /// `Event::Closed` was returned to the application.
    closed_reported: bool,
    /// An IO error met while flushing after an event was already in hand; returned next.
    pending_error: Option<io::Error>,
}

impl<S: Read + Write + Transport> WebSocket<S> {
    /// Drives `conn` over `stream`, an already-upgraded connection (a handshake done
    /// elsewhere, or a pre-agreed raw connection in tests). Anything `conn` already queued (a
    /// server's `101`) is written by the next call.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        Self { io: Io::new(stream), conn, closed_reported: false, pending_error: None }
    }

    pub(crate) fn from_parts(io: Io<S>, conn: Connection) -> Self {
        Self { io, conn, closed_reported: false, pending_error: None }
    }

    /// Blocks until the next event: `Event::Message` (or `Event::Fragment` with
    /// `Config::deliver_fragments`), `Event::Ping`, `Event::Pong`, or `Event::Closed`.
    ///
    /// Pings are answered, and the peer's close echoed, automatically. A peer that breaks the
    /// protocol, a timeout or an EOF all end in `Event::Closed(info)` (never an `Err`): see
    /// [`CloseInfo::code`](ws_proto::CloseInfo::code) and `info.error`. `Closed` comes exactly
    /// once. Reading again after it waits until the connection is completely over (the peer's
    /// TCP close, or the close timeout) and returns [`Error::ConnectionClosed`]; dropping the
    /// `WebSocket` instead closes the socket at once.
    ///
    /// `Err(Error::Io)` means the stream failed; the connection is then dropped and the next
    /// call returns `Closed` (1006).
    pub fn read(&mut self) -> Result<Event, Error> {
        if let Some(e) = self.pending_error.take() {
            return Err(Error::Io(e));
        }
        loop {
            let now = Instant::now();
            if self.conn.poll_timeout().is_some_and(|d| d <= now) {
                self.conn.handle_timeout(now);
            }
            if let Some(event) = self.conn.poll_event(now) {
                return Ok(self.deliver(event));
            }
            if let Err(e) = self.io.write_all(&mut self.conn) {
                return Err(self.io_failed(e));
            }
            if self.conn.is_terminated() {
                self.io.close();
                // A timer may have ended the connection while writing.
                if let Some(event) = self.conn.poll_event(Instant::now()) {
                    return Ok(self.deliver(event));
                }
                self.closed_reported = true;
                return Err(Error::ConnectionClosed);
            }
            if !self.conn.wants_read() {
                // ws-proto wants input whenever it is not terminated; never spin if it does not.
                let e = io::Error::other("ws-proto neither wants input nor is terminated");
                return Err(self.io_failed(e));
            }
            if let Err(e) = self.io.read_once(&mut self.conn) {
                return Err(self.io_failed(e));
            }
        }
    }

    /// Hands an event out after flushing what producing it queued (a pong, a close echo, the
    /// server's half-close).
    fn deliver(&mut self, event: Event) -> Event {
        let closed = matches!(event, Event::Closed(_));
        if self.conn.wants_write() {
            if let Err(e) = self.io.write_all(&mut self.conn) {
                self.conn.terminate();
                self.io.close();
                if !closed {
                    self.pending_error = Some(e);
                }
            }
        }
        if closed {
            self.closed_reported = true;
            if self.conn.is_terminated() {
                self.io.close();
            }
        }
        event
    }

    /// The stream failed: drop the connection (the next `read` reports `Closed`, 1006).
    fn io_failed(&mut self, e: io::Error) -> Error {
        self.conn.terminate();
        self.io.close();
        if self.closed_reported {
            Error::ConnectionClosed
        } else {
            Error::Io(e)
        }
    }

    /// Flushes first if the output queue is above `Config::write_high_water`.
    fn reserve(&mut self) -> Result<(), Error> {
        if !self.conn.is_write_ready() {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends a message: queues it and writes it out (blocking until the stream took it).
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.feed(msg)?;
        self.flush()
    }

    /// Queues a message without writing it, unless the queue is above the write high-water
    /// mark (then it is flushed first). Call [`flush`](Self::flush) to write. Lets many small
    /// messages go out in few writes.
    pub fn feed(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.reserve()?;
        match msg.into() {
            Message::Text(t) => self.conn.send_text(t)?,
            Message::Binary(b) => self.conn.send_binary(b)?,
        }
        Ok(())
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: impl Into<ws_proto::Utf8Bytes>) -> Result<(), Error> {
        self.send(Message::Text(text.into()))
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.send(Message::Binary(data.into()))
    }

    /// Sends a message framed once for many connections (broadcast).
    pub fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        self.reserve()?;
        self.conn.send_prepared(msg)?;
        self.flush()
    }

    /// Streams one frame of a message: the first call starts a message of `kind`, later calls
    /// continue it until one with `fin`. Pings, pongs and close may interleave; other messages
    /// may not (`SendError::MessageInProgress`).
    pub fn send_frame_part(&mut self, kind: MessageKind, data: impl Into<Bytes>, fin: bool) -> Result<(), Error> {
        self.reserve()?;
        self.conn.send_frame_part(kind, data.into(), fin)?;
        self.flush()
    }

    /// Sends a ping (payload at most 125 bytes). The pong arrives as `Event::Pong` from
    /// [`read`](Self::read).
    pub fn ping(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.conn.send_ping(payload)?;
        self.flush()
    }

    /// Sends an unsolicited pong (payload at most 125 bytes); pings are answered
    /// automatically.
    pub fn pong(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.conn.send_pong(payload)?;
        self.flush()
    }

    /// Starts the closing handshake: sends a close frame (`None`: without a status code) and
    /// returns. Keep calling [`read`](Self::read): messages still arriving are delivered, then
    /// `Event::Closed` once the peer's close frame arrives or `Config::close_timeout` expires.
    /// Closing twice is `SendError::CloseAlreadySent`.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.conn.close(frame, Instant::now())?;
        self.flush()
    }

    /// Writes everything queued and flushes the stream.
    ///
    /// Blocks while the peer does not read. If a timer ends the connection meanwhile (pong
    /// deadline then close timeout, or the close timeout after [`close`](Self::close)), the
    /// unwritten output is dropped and this returns [`Error::ConnectionClosed`]; `read` then
    /// reports `Event::Closed`.
    pub fn flush(&mut self) -> Result<(), Error> {
        match self.io.write_all(&mut self.conn) {
            Ok(complete) => {
                if self.conn.is_terminated() {
                    self.io.close();
                }
                if complete {
                    Ok(())
                } else {
                    Err(Error::ConnectionClosed)
                }
            }
            Err(e) => Err(self.io_failed(e)),
        }
    }

    /// Bytes queued and not yet written, framing included (Node `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.conn.buffered_amount()
    }

    /// The subprotocol the handshake settled on, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.conn.negotiated().subprotocol.as_deref()
    }

    /// The protocol state (open, closing, closed) and settings.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The protocol state, mutably: e.g. `terminate()` or `fail(code, reason, now)`. Call
    /// [`flush`](Self::flush) afterwards for anything that queues output. Taking events out
    /// with `poll_event` here bypasses [`read`](Self::read).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.io.stream
    }

    /// The underlying stream, mutably. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io.stream
    }

    /// The stream and the connection, for driving them some other way.
    pub fn into_parts(self) -> (S, Connection) {
        (self.io.stream, self.conn)
    }

    pub(crate) fn into_split_parts(self) -> (Io<S>, Connection, bool, Option<io::Error>) {
        (self.io, self.conn, self.closed_reported, self.pending_error)
    }
}
