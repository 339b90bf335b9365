//! [`WebSocket::split`]: a [`Reader`] and a [`Writer`] usable from different threads.
//!
//! Shared state is the `Connection` behind one mutex and the write handle behind another, locked
//! in the order **writer, then connection**. Bytes leave the connection only while the writer
//! lock is held, and are written before it is released, so their order on the wire is the
//! queue's order. The reader locks the connection only to feed it and poll it; then, if the
//! connection wants to write (a pong, a close echo), it flushes too, without waiting when the
//! writer lock is busy: whoever holds it re-checks the queue after releasing it.

use std::io::{self, Read, Write};
use std::net;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Instant;

use ws_proto::{Buf, Bytes, CloseFrame, Connection, Event, Message, MessageKind, PreparedMessage, Transmit};

use crate::driver::{Armed, READ_HINT};
use crate::error::Error;
use crate::transport::{Transport, TryClone};
use crate::websocket::WebSocket;

/// Bytes moved out of the connection per critical section.
const CHUNK: usize = 128 * 1024;

/// The write handle and its state, behind the writer lock.
#[derive(Debug)]
struct Out<S> {
    stream: S,
    /// Bytes taken from the connection, being written.
    buf: Vec<u8>,
    armed: Armed,
    write_shut: bool,
    closed: bool,
}

impl<S: Transport> Out<S> {
    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.stream.shutdown(net::Shutdown::Both);
        }
    }
}

#[derive(Debug)]
struct Shared<S> {
    conn: Mutex<Connection>,
    out: Mutex<Out<S>>,
}

impl<S: Write + Transport> Shared<S> {
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes out everything queued. The caller holds the writer lock (`out`). Returns
    /// `Ok(false)` if a timer ended the connection while a write was blocked.
    fn drain(&self, out: &mut Out<S>) -> io::Result<bool> {
        let mut wrote = false;
        loop {
            out.buf.clear();
            let shutdown = {
                let mut conn = self.conn();
                match conn.poll_transmit() {
                    None => break,
                    Some(Transmit::Shutdown) => true,
                    Some(Transmit::Data(mut data)) => {
                        while out.buf.len() < CHUNK && data.has_remaining() {
                            let chunk = data.chunk();
                            let n = chunk.len().min(CHUNK - out.buf.len());
                            out.buf.extend_from_slice(&chunk[..n]);
                            data.advance(n);
                        }
                        false
                    }
                }
            };
            if shutdown {
                if wrote {
                    out.stream.flush()?;
                    wrote = false;
                }
                if !out.write_shut && !out.closed {
                    out.write_shut = true;
                    let _ = out.stream.shutdown(net::Shutdown::Write);
                }
            } else if self.write_buf(out)? {
                wrote = true;
            } else {
                return Ok(false);
            }
        }
        if wrote {
            out.stream.flush()?;
        }
        Ok(true)
    }

    /// Writes `out.buf` completely, with the write timeout set from the connection's next
    /// deadline so that its timers fire even while this thread is blocked writing. Returns
    /// `Ok(false)` if they ended the connection (the bytes are dropped).
    fn write_buf(&self, out: &mut Out<S>) -> io::Result<bool> {
        let mut pos = 0;
        while pos < out.buf.len() {
            let deadline = self.conn().poll_timeout();
            let expired = if out.armed.arm_write(&out.stream, deadline)? {
                match out.stream.write(&out.buf[pos..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        pos += n;
                        false
                    }
                    Err(e) if out.armed.fired(&e) => true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
                    Err(e) => return Err(e),
                }
            } else {
                true
            };
            if expired {
                let mut conn = self.conn();
                conn.handle_timeout(Instant::now());
                if conn.is_terminated() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Flushes the connection's output. With `wait` false, returns at once if another thread
    /// holds the writer lock (it will pick the output up).
    fn flush(&self, wait: bool) -> Result<(), Error> {
        loop {
            let mut out = if wait {
                self.out.lock().unwrap_or_else(PoisonError::into_inner)
            } else {
                match self.out.try_lock() {
                    Ok(out) => out,
                    Err(TryLockError::WouldBlock) => return Ok(()),
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                }
            };
            let complete = match self.drain(&mut out) {
                Ok(complete) => complete,
                Err(e) => {
                    // Writer lock held: taking the connection lock keeps the order.
                    let mut conn = self.conn();
                    let was_over = conn.is_terminated();
                    conn.terminate();
                    drop(conn);
                    out.close();
                    return Err(if was_over { Error::ConnectionClosed } else { Error::Io(e) });
                }
            };
            let conn = self.conn();
            if conn.is_terminated() {
                drop(conn);
                // Wakes the reader if it is blocked reading.
                out.close();
                return if complete { Ok(()) } else { Err(Error::ConnectionClosed) };
            }
            drop(conn);
            drop(out);
            // Output queued by a thread that found the writer lock busy is ours to write.
            if !self.conn().wants_write() {
                return Ok(());
            }
        }
    }
}

impl<S: Read + Write + Transport + TryClone> WebSocket<S> {
    /// Splits into a [`Reader`] and a [`Writer`] that can be used from different threads (the
    /// write side is a second handle from `S::try_clone`).
    ///
    /// **The reader must be read**: it handles the timers (keepalive, pong deadline, close
    /// timeout) and the peer's pings and close, whose answers it writes itself, and it is where
    /// `Event::Closed` is reported. A writer blocked because the peer stopped reading fires the
    /// timers too (through the socket's write timeout), so the close timeout releases it.
    /// Closing from either half works.
    ///
    /// On error (`try_clone` failed) the connection is lost: the stream is dropped.
    pub fn split(self) -> io::Result<(Reader<S>, Writer<S>)> {
        let (mut io, conn, closed_reported, pending_error) = self.into_split_parts();
        let write = io.stream.try_clone()?;
        let armed = io.take_write_armed();
        let out = Out { stream: write, buf: Vec::new(), armed, write_shut: io.write_shut, closed: io.closed };
        let shared = Arc::new(Shared { conn: Mutex::new(conn), out: Mutex::new(out) });
        let reader = Reader {
            stream: io.stream,
            armed: io.read_armed,
            closed: io.closed,
            buf: vec![0; READ_HINT],
            closed_reported,
            pending_error,
            shared: shared.clone(),
        };
        Ok((reader, Writer { shared }))
    }
}

/// The reading half of a split [`WebSocket`]: events, timers and automatic replies.
#[derive(Debug)]
pub struct Reader<S> {
    stream: S,
    armed: Armed,
    closed: bool,
    buf: Vec<u8>,
    closed_reported: bool,
    pending_error: Option<io::Error>,
    shared: Arc<Shared<S>>,
}

/// The writing half of a split [`WebSocket`]: sends, pings and close.
#[derive(Debug)]
pub struct Writer<S> {
    shared: Arc<Shared<S>>,
}

impl<S: Read + Write + Transport> Reader<S> {
    /// Blocks until the next event, exactly like [`WebSocket::read`]; pongs and close echoes
    /// are written from this thread (or by the writer if it is busy writing).
    pub fn read(&mut self) -> Result<Event, Error> {
        if let Some(e) = self.pending_error.take() {
            return Err(Error::Io(e));
        }
        loop {
            let now = Instant::now();
            let (event, wants_write, terminated, wants_read, deadline) = {
                let mut conn = self.shared.conn();
                if conn.poll_timeout().is_some_and(|d| d <= now) {
                    conn.handle_timeout(now);
                }
                let event = conn.poll_event(now);
                (event, conn.wants_write(), conn.is_terminated(), conn.wants_read(), conn.poll_timeout())
            };
            if let Some(event) = event {
                let closed = matches!(event, Event::Closed(_));
                if wants_write {
                    if let Err(Error::Io(e)) = self.shared.flush(false) {
                        if !closed {
                            self.pending_error = Some(e);
                        }
                    }
                }
                if closed {
                    self.closed_reported = true;
                }
                return Ok(event);
            }
            if terminated {
                self.close_socket();
                self.closed_reported = true;
                return Err(Error::ConnectionClosed);
            }
            if !wants_read {
                if wants_write {
                    // Nothing to read until the output is out: wait for the writer lock.
                    self.flush_or_fail(true)?;
                    continue;
                }
                let e = io::Error::other("ws-proto neither wants input nor is terminated");
                return Err(self.io_failed(e));
            }
            if wants_write {
                self.flush_or_fail(false)?;
            }
            match self.armed.arm_read(&self.stream, deadline) {
                Ok(true) => {}
                Ok(false) => {
                    self.shared.conn().handle_timeout(Instant::now());
                    continue;
                }
                Err(e) => return Err(self.io_failed(e)),
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => self.shared.conn().receive_eof(),
                Ok(n) => self.shared.conn().receive(self.buf.get(..n).unwrap_or(&self.buf)),
                Err(e) if self.armed.fired(&e) => self.shared.conn().handle_timeout(Instant::now()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_failed(e)),
            }
        }
    }

    /// Flushes from the reading side. A connection ended meanwhile is not an error here: the
    /// loop reports it as `Event::Closed`.
    fn flush_or_fail(&mut self, wait: bool) -> Result<(), Error> {
        match self.shared.flush(wait) {
            Ok(()) | Err(Error::ConnectionClosed) => Ok(()),
            Err(_) if self.closed_reported => Err(Error::ConnectionClosed),
            Err(e) => Err(e),
        }
    }

    fn close_socket(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.stream.shutdown(net::Shutdown::Both);
        }
    }

    /// The stream failed: drop the connection (the next `read` reports `Closed`, 1006).
    fn io_failed(&mut self, e: io::Error) -> Error {
        self.shared.conn().terminate();
        self.close_socket();
        if self.closed_reported {
            Error::ConnectionClosed
        } else {
            Error::Io(e)
        }
    }

    /// Starts the closing handshake from the reading side (see [`WebSocket::close`]); keep
    /// reading for `Event::Closed`.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.shared.conn().close(frame, Instant::now())?;
        self.flush_or_fail(true)
    }

    /// The subprotocol the handshake settled on, if any.
    pub fn protocol(&self) -> Option<String> {
        self.shared.conn().negotiated().subprotocol.clone()
    }

    /// Runs `f` on the connection (under its lock; do not block in it).
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        f(&mut self.shared.conn())
    }

    /// The read handle of the stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: Write + Transport> Writer<S> {
    /// Flushes first if the output queue is above `Config::write_high_water`.
    fn reserve(&mut self) -> Result<(), Error> {
        let ready = self.shared.conn().is_write_ready();
        if !ready {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends a message: queues it and writes it out.
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.feed(msg)?;
        self.flush()
    }

    /// Queues a message without writing it unless the queue is above the high-water mark; see
    /// [`WebSocket::feed`].
    pub fn feed(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.reserve()?;
        let mut conn = self.shared.conn();
        match msg.into() {
            Message::Text(t) => conn.send_text(t)?,
            Message::Binary(b) => conn.send_binary(b)?,
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
        self.shared.conn().send_prepared(msg)?;
        self.flush()
    }

    /// Streams one frame of a message; see [`WebSocket::send_frame_part`].
    pub fn send_frame_part(&mut self, kind: MessageKind, data: impl Into<Bytes>, fin: bool) -> Result<(), Error> {
        self.reserve()?;
        self.shared.conn().send_frame_part(kind, data.into(), fin)?;
        self.flush()
    }

    /// Sends a ping (payload at most 125 bytes); the pong arrives at the [`Reader`].
    pub fn ping(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.shared.conn().send_ping(payload)?;
        self.flush()
    }

    /// Sends an unsolicited pong (payload at most 125 bytes).
    pub fn pong(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.shared.conn().send_pong(payload)?;
        self.flush()
    }

    /// Starts the closing handshake (see [`WebSocket::close`]); the [`Reader`] then reports
    /// `Event::Closed` once the peer answers or the close timeout expires.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.shared.conn().close(frame, Instant::now())?;
        self.flush()
    }

    /// Writes everything queued (including the reader's pongs) and flushes the stream.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.shared.flush(true)
    }

    /// Bytes queued and not yet written, framing included (Node `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.shared.conn().buffered_amount()
    }

    /// Runs `f` on the connection (under its lock; do not block in it). Call
    /// [`flush`](Self::flush) afterwards for anything that queues output.
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        f(&mut self.shared.conn())
    }
}
