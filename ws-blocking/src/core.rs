//! The two sides of driving a connection, written once for every place a connection lives
//! (a [`WebSocket`](crate::WebSocket) owning its stream, or the halves of a split one): the
//! [`Sender`] and [`Receiver`] traits, and the sending calls over them.

use std::io;
use std::time::Instant;

use ws_proto::{Bytes, CloseFrame, Connection, Message, MessageKind, PreparedMessage, SendError, State};

use crate::{Error, TrySendError};

/// Where the connection's output goes.
pub(crate) trait Sender {
    /// Runs `f` on the connection (under its lock when shared; `f` must not block).
    fn with_conn<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> T;

    /// Writes out everything queued, then closes the socket if the connection is terminated.
    /// With `wait` false a shared connection may leave the output to the thread already
    /// writing. `Ok(false)`: a timer ended the connection while a write was blocked (the
    /// output was dropped).
    fn write_out(&mut self, wait: bool) -> io::Result<bool>;

    /// Closes the socket both ways (wakes a thread blocked reading it); idempotent.
    fn close_io(&mut self);

    /// Output was queued that this side will not write now (a shared connection's flusher
    /// thread picks it up).
    fn queued(&mut self) {}
}

/// Where the connection's input comes from.
pub(crate) trait Receiver: Sender {
    /// One blocking read into the connection, bounded by its next deadline (a timeout fires
    /// its timers instead); EOF goes to `receive_eof`.
    fn read_once(&mut self) -> io::Result<()>;
}

/// The stream failed while writing: drop the connection. [`Error::Io`] unless the connection
/// was already over.
pub(crate) fn write_failed<C: Sender + ?Sized>(c: &mut C, e: io::Error) -> Error {
    let was_over = c.with_conn(|conn| {
        let over = conn.is_terminated();
        conn.terminate();
        over
    });
    c.close_io();
    if was_over {
        Error::ConnectionClosed
    } else {
        Error::Io(e)
    }
}

/// Writes everything queued and flushes the stream.
pub(crate) fn flush<C: Sender>(c: &mut C) -> Result<(), Error> {
    match c.write_out(true) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::ConnectionClosed),
        Err(e) => Err(write_failed(c, e)),
    }
}

/// Flushes first while the output queue is above `Config::write_high_water`.
fn reserve<C: Sender>(c: &mut C) -> Result<(), Error> {
    if !c.with_conn(|conn| conn.is_write_ready()) {
        flush(c)?;
    }
    Ok(())
}

/// Queues with `f` (after making room when `room`), then writes when `write`.
pub(crate) fn queue<C: Sender>(
    c: &mut C,
    room: bool,
    write: bool,
    f: impl FnOnce(&mut Connection) -> Result<(), SendError>,
) -> Result<(), Error> {
    if room {
        reserve(c)?;
    }
    c.with_conn(f)?;
    if write {
        flush(c)
    } else {
        c.queued();
        Ok(())
    }
}

/// Queues a whole message.
pub(crate) fn queue_message(conn: &mut Connection, msg: Message) -> Result<(), SendError> {
    match msg {
        Message::Text(t) => conn.send_text(t),
        Message::Binary(b) => conn.send_binary(b),
    }
}

/// Queues `msg` if the output queue is below the high-water mark, without writing.
pub(crate) fn try_send<C: Sender>(c: &mut C, msg: Message) -> Result<(), TrySendError<Message>> {
    c.with_conn(|conn| {
        if conn.state() != State::Open {
            return Err(TrySendError::Closed(msg));
        }
        if !conn.is_write_ready() {
            return Err(TrySendError::Full(msg));
        }
        queue_message(conn, msg).map_err(TrySendError::Send)
    })?;
    c.queued();
    Ok(())
}

/// Starts the closing handshake.
pub(crate) fn close<C: Sender>(c: &mut C, frame: Option<CloseFrame>) -> Result<(), Error> {
    queue(c, false, true, |conn| conn.close(frame, Instant::now()))
}

/// Streams one frame of a message.
pub(crate) fn frame_part<C: Sender>(c: &mut C, kind: MessageKind, data: Bytes, fin: bool) -> Result<(), Error> {
    queue(c, true, true, |conn| conn.send_frame_part(kind, data, fin))
}

/// Sends a prepared (encode-once) message.
pub(crate) fn prepared<C: Sender>(c: &mut C, msg: &PreparedMessage) -> Result<(), Error> {
    queue(c, true, true, |conn| conn.send_prepared(msg))
}

/// The sending methods, spelled as in ws-async, for a type with a
/// `fn sender(&mut self) -> &mut impl Sender`.
macro_rules! sending_methods {
    () => {
        /// Sends a message: flushes first while the output queue is above
        /// `Config::write_high_water`, queues it and writes everything queued (blocking until
        /// the stream took it). With permessage-deflate, compression happens on this thread.
        pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
            let msg = msg.into();
            $crate::core::queue(self.sender(), true, true, |c| $crate::core::queue_message(c, msg))
        }

        /// Sends a message with per-message options (Node `send(data, { compress, mask })`):
        /// `SendOptions::default().compress(false)` sends this one message uncompressed,
        /// `.mask(false)` unmasked from a client (a testing tool: a conforming server fails
        /// the connection with 1002). Blocking and errors as [`send`](Self::send).
        pub fn send_with(&mut self, msg: impl Into<Message>, opts: $crate::SendOptions) -> Result<(), Error> {
            let msg = msg.into();
            $crate::core::queue(self.sender(), true, true, |c| c.send_message_with(msg, opts))
        }

        /// Queues a message without writing it, unless the queue is above the write high-water
        /// mark (then it is flushed first). [`flush`](Self::flush) or `send` writes it, and so
        /// does a receive once every message already received is delivered (before it waits
        /// for the peer): many small messages then go out in few writes, and an echo or
        /// request/response loop answering with `feed` writes once per read.
        pub fn feed(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
            let msg = msg.into();
            $crate::core::queue(self.sender(), true, false, |c| $crate::core::queue_message(c, msg))
        }

        /// Queues a message if the output queue is below the high-water mark, without waiting
        /// and without writing; [`TrySendError::Full`](crate::TrySendError::Full) hands it back
        /// (a slow consumer). The next `flush`, `send` or receive writes it.
        pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), TrySendError<Message>> {
            $crate::core::try_send(self.sender(), msg.into())
        }

        /// Writes everything queued and flushes the stream.
        ///
        /// Blocks while the peer does not read. If a timer ends the connection meanwhile (pong
        /// deadline then close timeout, or the close timeout after `close`), the unwritten
        /// output is dropped and this returns [`Error::ConnectionClosed`].
        pub fn flush(&mut self) -> Result<(), Error> {
            $crate::core::flush(self.sender())
        }

        /// Sends a message framed once for many connections (encode-once broadcast).
        pub fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
            $crate::core::prepared(self.sender(), msg)
        }

        /// Streams one frame of a large message: the first call starts a message of `kind`,
        /// later calls continue it (their `kind` is ignored) until one with `fin`. Pings, pongs
        /// and close may interleave; whole messages may not (`SendError::MessageInProgress`).
        pub fn send_frame_part(&mut self, kind: MessageKind, data: impl Into<Bytes>, fin: bool) -> Result<(), Error> {
            $crate::core::frame_part(self.sender(), kind, data.into(), fin)
        }

        /// Sends a ping (payload at most 125 bytes); the pong arrives as `Event::Pong`.
        pub fn ping(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
            $crate::core::queue(self.sender(), false, true, |c| c.send_ping(payload))
        }

        /// Sends an unsolicited pong (payload at most 125 bytes); pings are answered
        /// automatically.
        pub fn pong(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
            $crate::core::queue(self.sender(), false, true, |c| c.send_pong(payload))
        }

        /// Starts the closing handshake with `code` and `reason` (at most 123 bytes) and writes
        /// the close frame (Node `close(code, reason)`). It returns once the frame is written:
        /// keep receiving, which delivers messages still arriving, then `Event::Closed` when
        /// the peer answers or `Config::close_timeout` expires. Closing twice is
        /// `SendError::CloseAlreadySent`.
        pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
            self.close_with(Some(CloseFrame::new(code.into(), reason)))
        }

        /// [`close`](Self::close) with an optional frame: `None` sends a close frame without a
        /// status code (the peer sees 1005).
        pub fn close_with(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
            $crate::core::close(self.sender(), frame)
        }

        /// Drops the connection at once without a closing handshake (Node `terminate()`):
        /// queued output is discarded and the socket closed. As Node `ws` still emits the
        /// messages it had read before `'close'`, receiving first delivers the messages (and
        /// pings and pongs, unanswered) whose frames had already arrived, then
        /// `Event::Closed` (1006) if it was not reported yet, then `None`; a message still
        /// missing frames is dropped.
        pub fn terminate(&mut self) {
            let s = self.sender();
            $crate::core::Sender::with_conn(s, |c| c.terminate());
            $crate::core::Sender::close_io(s);
        }
    };
}

pub(crate) use sending_methods;
