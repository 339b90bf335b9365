//! [`WebSocket::split`]: a [`WsReader`] and a [`WsWriter`] usable from different threads, over
//! any stream with a second handle ([`TryClone`]: TCP, Unix sockets, TLS).
//!
//! The `Connection` sits behind one mutex and the write handle behind another, locked in the
//! order **writer, then connection**; neither is held while blocked reading, and the
//! connection's lock is never held during socket IO. Bytes leave the connection only while
//! the writer lock is held and are written before it is released, so their order on the wire
//! is the queue's order. The reader reads on its own handle without any lock, then feeds the
//! connection under its lock; if that queued output (a pong, a close echo) it writes it too,
//! without waiting when the writer lock is busy: whoever holds it re-checks the queue before
//! returning. Tracked server connections live the same way, with a flusher thread writing
//! what broadcasts queue ([`Server`](crate::server::Server)), and so does driver mode
//! ([`WebSocket::spawn`]), whose flusher also fires the timers.

use std::fmt;
use std::io::{self, Read, Write};
use std::net;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use ws_proto::{
    Buf, Bytes, CloseCode, CloseFrame, CloseInfo, Connection, Event, Message, MessageKind, MessagePieces, Negotiated,
    PreparedMessage, State, Transmit,
};

use crate::core::{self, sending_methods, Receiver, Sender};
use crate::driver::Armed;
use crate::recv::{receiving_methods, RecvState};
use crate::transport::{Transport, TryClone};
use crate::websocket::{Core, Owned, WebSocket};
use crate::{Error, TrySendError};

/// Bytes moved out of the connection per critical section.
const CHUNK: usize = 128 * 1024;
/// Longest a write blocks before the writer checks whether the connection was terminated by
/// another thread (which cannot interrupt the write otherwise).
const WRITE_POLL: Duration = Duration::from_millis(200);
/// How often an idle flusher thread checks whether its connection is still wanted.
pub(crate) const FLUSHER_TICK: Duration = Duration::from_millis(250);

/// The write handle and its state, behind the writer lock.
struct Out<S> {
    /// `None` when the second handle could not be made: the connection failed at `split`.
    stream: Option<S>,
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
            if let Some(s) = &self.stream {
                let _ = s.shutdown(net::Shutdown::Both);
            }
        }
    }
}

/// What the halves (and a server's client registry) share.
pub(crate) struct Shared<S> {
    conn: Mutex<Connection>,
    out: Mutex<Out<S>>,
    /// Wakes the flusher thread of a tracked connection; waited on with `conn`'s lock.
    wake: Condvar,
    /// Signalled when output was written or the connection ended (room for a driver-mode
    /// send); waited on with `conn`'s lock.
    room: Condvar,
    /// Messages driver-mode handles queued since the output was last found empty.
    pub(crate) unwritten: AtomicUsize,
    /// A flusher thread was started.
    flusher: AtomicBool,
    /// The flusher fires the connection's timers (driver mode: a handle's `close` arms the
    /// close timer while the reader may be blocked with no read timeout).
    flusher_timers: AtomicBool,
}

impl<S> fmt::Debug for Shared<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Write + Transport> Shared<S> {
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    /// Wakes the flusher thread, if any: output was queued or the connection ended; and
    /// driver-mode senders waiting for room.
    pub(crate) fn notify(&self) {
        self.wake.notify_all();
        self.room.notify_all();
    }

    /// Waits (at most `timeout`) for output to be written or the connection to end; `conn`
    /// is this connection's lock.
    pub(crate) fn wait_room<'a>(
        &self,
        conn: MutexGuard<'a, Connection>,
        timeout: Duration,
    ) -> MutexGuard<'a, Connection> {
        self.room.wait_timeout(conn, timeout).unwrap_or_else(PoisonError::into_inner).0
    }

    /// Writes out everything queued. The caller holds the writer lock (`out`). `Ok(false)` if
    /// a timer ended the connection while a write was blocked.
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
            let Some(stream) = out.stream.as_mut() else {
                return Err(io::Error::new(io::ErrorKind::NotConnected, "the write handle could not be made"));
            };
            if shutdown {
                if wrote {
                    stream.flush()?;
                    wrote = false;
                }
                if !out.write_shut && !out.closed {
                    out.write_shut = true;
                    let _ = stream.shutdown(net::Shutdown::Write);
                }
            } else if self.write_buf(out)? {
                wrote = true;
                self.room.notify_all();
            } else {
                return Ok(false);
            }
        }
        if let (true, Some(stream)) = (wrote, out.stream.as_mut()) {
            stream.flush()?;
        }
        Ok(true)
    }

    /// Writes `out.buf` completely, with the write timeout set from the connection's next
    /// deadline so that its timers fire even while this thread is blocked writing. `Ok(false)`
    /// if they ended the connection (the bytes are dropped).
    fn write_buf(&self, out: &mut Out<S>) -> io::Result<bool> {
        let Out { stream: Some(stream), buf, armed, .. } = out else { return Ok(false) };
        let mut pos = 0;
        while pos < buf.len() {
            let poll = Instant::now() + WRITE_POLL;
            let deadline = self.conn().poll_timeout().map_or(poll, |d| d.min(poll));
            let expired = if armed.arm_write(stream, Some(deadline))? {
                match stream.write(&buf[pos..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        pos += n;
                        false
                    }
                    Err(e) if armed.fired(&e) => true,
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
    /// holds the writer lock (it will pick the output up). Closes the socket once the
    /// connection is terminated.
    pub(crate) fn flush(&self, wait: bool) -> io::Result<bool> {
        loop {
            let mut out = if wait {
                lock(&self.out)
            } else {
                match self.out.try_lock() {
                    Ok(out) => out,
                    Err(TryLockError::WouldBlock) => return Ok(true),
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                }
            };
            let complete = match self.drain(&mut out) {
                Ok(complete) => complete,
                Err(e) => {
                    out.close();
                    return Err(e);
                }
            };
            if self.conn().is_terminated() {
                // Wakes the reader if it is blocked reading, and the flusher.
                out.close();
                self.notify();
                return Ok(complete);
            }
            drop(out);
            // Output queued by a thread that found the writer lock busy is ours to write.
            let conn = self.conn();
            if !conn.wants_write() {
                self.unwritten.store(0, Ordering::Release);
                drop(conn);
                self.room.notify_all();
                return Ok(true);
            }
        }
    }

    /// Ends the connection at once: drops its output and closes the socket (a writer blocked
    /// meanwhile notices within `WRITE_POLL` and closes it).
    pub(crate) fn terminate(&self) {
        self.conn().terminate();
        self.close_out();
        self.notify();
    }

    /// Closes the write handle, unless a writer holds it (it closes it once it sees the
    /// connection terminated).
    fn close_out(&self) {
        match self.out.try_lock() {
            Ok(mut out) => out.close(),
            Err(TryLockError::Poisoned(p)) => p.into_inner().close(),
            Err(TryLockError::WouldBlock) => {}
        }
    }
}

impl<S: Write + Transport + Send + 'static> Shared<S> {
    /// Starts the thread that writes what other threads queue without writing it (a
    /// broadcast, a server's close, driver-mode sends), unless one runs already; with
    /// `timers`, it also fires the connection's due timers from now on. It ends with the
    /// connection, or once only it holds the connection.
    pub(crate) fn spawn_flusher(self: &Arc<Self>, timers: bool) -> io::Result<()> {
        if timers {
            self.flusher_timers.store(true, Ordering::Release);
            self.notify();
        }
        if self.flusher.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("ws-blocking flusher".into()).spawn(move || loop {
            let Some(shared) = weak.upgrade() else { return };
            let timers = shared.flusher_timers.load(Ordering::Acquire);
            let (work, over) = {
                let conn = shared.conn();
                let wait = match conn.poll_timeout() {
                    Some(d) if timers => d.saturating_duration_since(Instant::now()).min(FLUSHER_TICK),
                    _ => FLUSHER_TICK,
                };
                let idle = |c: &mut Connection| !c.wants_write() && !c.is_terminated();
                let (mut conn, _) =
                    shared.wake.wait_timeout_while(conn, wait, idle).unwrap_or_else(PoisonError::into_inner);
                if timers {
                    let now = Instant::now();
                    if conn.poll_timeout().is_some_and(|d| d <= now) {
                        conn.handle_timeout(now);
                    }
                }
                (conn.wants_write(), conn.is_terminated())
            };
            if Arc::strong_count(&shared) == 1 {
                return;
            }
            if over && !work {
                if timers {
                    // Whoever ended it closed the socket, unless a timer fired here: close it,
                    // which wakes the reader blocked reading.
                    shared.close_out();
                    shared.notify();
                }
                return;
            }
            if work && shared.flush(true).is_err() {
                return;
            }
        });
        if let Err(e) = spawned {
            self.flusher.store(false, Ordering::Release);
            return Err(e);
        }
        Ok(())
    }
}

/// Ends the connection when dropped, unless disarmed (a tracked server connection's
/// `WebSocket`: dropping it must not leave the connection to the registry).
pub(crate) struct EndOnDrop<S: Write + Transport>(Option<Arc<Shared<S>>>);

impl<S: Write + Transport> Drop for EndOnDrop<S> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.terminate();
        }
    }
}

/// The reading side of a shared connection: the read handle and the state to drive it.
pub(crate) struct ReadHalf<S: Write + Transport> {
    stream: S,
    armed: Armed,
    closed: bool,
    buf: Vec<u8>,
    pub(crate) shared: Arc<Shared<S>>,
    end_on_drop: EndOnDrop<S>,
}

impl<S: Read + Write + Transport + TryClone> ReadHalf<S> {
    /// Shares an owned connection, with a second handle for writing. If that handle cannot
    /// be made, the connection fails: the error is returned with the half.
    pub(crate) fn new(owned: Owned<S>) -> (Self, Option<io::Error>) {
        let Owned { io, conn } = owned;
        let (write, error) = match io.stream.try_clone() {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        let out =
            Out { stream: write, buf: Vec::new(), armed: io.write_armed, write_shut: io.write_shut, closed: io.closed };
        let shared = Arc::new(Shared {
            conn: Mutex::new(conn),
            out: Mutex::new(out),
            wake: Condvar::new(),
            room: Condvar::new(),
            unwritten: AtomicUsize::new(0),
            flusher: AtomicBool::new(false),
            flusher_timers: AtomicBool::new(false),
        });
        let mut half = Self {
            stream: io.stream,
            armed: io.read_armed,
            closed: io.closed,
            buf: Vec::new(),
            shared,
            end_on_drop: EndOnDrop(None),
        };
        if error.is_some() {
            half.shared.conn().terminate();
            half.close_io();
        }
        (half, error)
    }
}

impl<S: Write + Transport> ReadHalf<S> {
    /// Makes dropping this half end the connection (or not).
    pub(crate) fn end_on_drop(&mut self, on: bool) {
        self.end_on_drop.0 = on.then(|| self.shared.clone());
    }

    pub(crate) fn stream(&self) -> &S {
        &self.stream
    }

    pub(crate) fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    pub(crate) fn into_stream(mut self) -> S {
        self.end_on_drop(false);
        self.stream
    }
}

impl<S: Write + Transport> Sender for ReadHalf<S> {
    fn with_conn<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.shared.conn())
    }

    fn write_out(&mut self, wait: bool) -> io::Result<bool> {
        self.shared.flush(wait)
    }

    fn close_io(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.stream.shutdown(net::Shutdown::Both);
            self.shared.notify();
        }
    }

    fn queued(&mut self) {
        self.shared.notify();
    }
}

impl<S: Read + Write + Transport> Receiver for ReadHalf<S> {
    fn read_once(&mut self) -> io::Result<()> {
        let (deadline, hint) = {
            let conn = self.shared.conn();
            (conn.poll_timeout(), conn.read_hint())
        };
        if !self.armed.arm_read(&self.stream, deadline)? {
            self.shared.conn().handle_timeout(Instant::now());
            return Ok(());
        }
        if self.buf.len() != hint {
            self.buf.resize(hint, 0);
        }
        match self.stream.read(&mut self.buf) {
            Ok(0) => self.shared.conn().receive_eof(),
            Ok(n) => self.shared.conn().receive(self.buf.get(..n).unwrap_or_default()),
            Err(e) if self.armed.fired(&e) => self.shared.conn().handle_timeout(Instant::now()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

impl<S: Read + Write + Transport + TryClone> WebSocket<S> {
    /// Splits into a [`WsReader`] and a [`WsWriter`] that can be used from different threads
    /// (the writer gets a second handle on the stream from `S::try_clone`; a TLS stream shares
    /// its session, see `tls::TlsStream`).
    ///
    /// **The reader runs the timers** (keepalive, pong deadline, close timeout) and answers
    /// the peer's pings and close, writing the answers itself (pongs go out while only the
    /// reader reads), and it is where `Event::Closed` is reported: keep reading it. A writer
    /// blocked because the peer stopped reading fires the timers too (through the socket's
    /// write timeout), so the close timeout releases it. Closing from either half works.
    ///
    /// Should the second handle fail (out of file descriptors), the connection is dropped:
    /// the reader's first `recv` returns that error, then `Event::Closed` (1006).
    pub fn split(self) -> (WsReader<S>, WsWriter<S>) {
        let (core, mut recv, url, negotiated) = self.into_fields();
        let mut half = match core {
            Core::Owned(owned) => {
                let (half, error) = ReadHalf::new(owned);
                if let Some(e) = error {
                    recv.fail_with(e);
                }
                half
            }
            Core::Shared(half) => half,
        };
        half.end_on_drop(false);
        let writer = WsWriter { shared: half.shared.clone(), url: url.clone() };
        (WsReader { half, recv, url, negotiated }, writer)
    }
}

/// The reading half of a split [`WebSocket`]: events, timers and automatic replies.
pub struct WsReader<S: Write + Transport> {
    half: ReadHalf<S>,
    recv: RecvState,
    url: Option<String>,
    negotiated: Negotiated,
}

/// The writing half of a split [`WebSocket`]: sends, pings and close.
pub struct WsWriter<S: Write + Transport> {
    shared: Arc<Shared<S>>,
    url: Option<String>,
}

impl<S: Write + Transport> fmt::Debug for WsReader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReader")
            .field("url", &self.url)
            .field("paused", &self.recv.pause.is_paused())
            .finish_non_exhaustive()
    }
}

impl<S: Write + Transport> fmt::Debug for WsWriter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The old name of [`WsReader`].
pub type Reader<S> = WsReader<S>;
/// The old name of [`WsWriter`].
pub type Writer<S> = WsWriter<S>;

impl<S: Read + Write + Transport> WsReader<S> {
    fn receiver(&mut self) -> (&mut RecvState, &mut ReadHalf<S>) {
        (&mut self.recv, &mut self.half)
    }

    fn sender(&mut self) -> &mut ReadHalf<S> {
        &mut self.half
    }

    receiving_methods!();

    /// Starts the closing handshake from the reading side (see [`WebSocket::close`]); keep
    /// reading for `Event::Closed`.
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        core::close(self.sender(), Some(CloseFrame::new(code.into(), reason)))
    }

    /// [`close`](Self::close) with an optional frame (`None`: no status code).
    pub fn close_with(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        core::close(self.sender(), frame)
    }

    /// The subprotocol the handshake settled on, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.negotiated.subprotocol.as_deref()
    }

    /// The URL a client connected to; `None` on the server side.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Runs `f` on the connection (under its lock; do not block in it).
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.half.shared.conn())
    }

    /// Whether `writer` is this reader's other half.
    pub fn is_pair_of(&self, writer: &WsWriter<S>) -> bool {
        Arc::ptr_eq(&self.half.shared, &writer.shared)
    }

    /// The read handle of the stream.
    pub fn get_ref(&self) -> &S {
        self.half.stream()
    }
}

impl<S: Write + Transport> WsWriter<S> {
    fn sender(&mut self) -> &mut Self {
        self
    }

    /// What the halves share.
    pub(crate) fn shared(&self) -> &Arc<Shared<S>> {
        &self.shared
    }

    sending_methods!();

    /// Bytes queued and not yet written, framing included (Node `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.shared.conn().buffered_amount()
    }

    /// Whether the output queue is below `Config::write_high_water`: a send would not wait.
    pub fn is_write_ready(&self) -> bool {
        self.shared.conn().is_write_ready()
    }

    /// Open, closing or closed (Node `readyState`).
    pub fn ready_state(&self) -> State {
        self.shared.conn().state()
    }

    /// The URL a client connected to; `None` on the server side.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Runs `f` on the connection (under its lock; do not block in it). Call
    /// [`flush`](Self::flush) afterwards for anything that queues output.
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.shared.conn())
    }
}

impl<S: Write + Transport> Sender for WsWriter<S> {
    fn with_conn<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.shared.conn())
    }

    fn write_out(&mut self, wait: bool) -> io::Result<bool> {
        self.shared.flush(wait)
    }

    fn close_io(&mut self) {
        self.shared.close_out();
        self.shared.notify();
    }
}
