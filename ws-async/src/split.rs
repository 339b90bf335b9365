//! [`WebSocket::split`]: a [`WsReader`] and a [`WsWriter`] usable from different tasks.
//!
//! Shared state is the `Connection` and the stream behind one `std::sync::Mutex`, never held
//! across an `.await` (every operation is a synchronous `poll_*`, and the stream is only ever
//! polled, never blocked on). **Bytes leave the `Connection` only under that lock**,
//! so their order on the wire is the queue's order. Whichever half finds output queued (the
//! writer's messages, the reader's pongs and close echoes) writes *all* of it, polling the
//! write half with a fan-out waker that wakes both halves' tasks: a half waiting for the
//! stream to become writable is woken even if the other half registered last.
//!
//! Only the reader reads. It locks to fire timers, take events, write output and read into
//! the connection (a non-blocking read under the lock, which saves a copy). The runtime keeps
//! separate read and write wakers per stream, so the reader waiting for input and the writer
//! waiting for room do not disturb each other.

use std::fmt;
use std::future::poll_fn;
use std::io;
#[cfg(feature = "futures")]
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use ws_proto::{
    Bytes, CloseCode, CloseFrame, CloseInfo, Connection, Event, Message, MessageKind, PreparedMessage, SendOptions,
    State,
};

use crate::error::{Error, TrySendError};
use crate::io::{self as wio, Half, Wakers, WriteState};
use crate::runtime::{Io, Runtime};
use crate::stream::{self, Duplex, MessagePieces, RecvState, WebSocket};

/// What both halves share, behind the lock.
struct Inner<S, R: Runtime> {
    conn: Connection,
    io: S,
    state: WriteState<R>,
}

struct Shared<S, R: Runtime> {
    inner: Mutex<Inner<S, R>>,
    wakers: Arc<Wakers>,
    url: Option<String>,
}

impl<S, R: Runtime> Shared<S, R> {
    fn lock(&self) -> MutexGuard<'_, Inner<S, R>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The stream under the lock, seen by `half`.
struct Locked<'a, S, R: Runtime> {
    io: &'a mut S,
    state: &'a mut WriteState<R>,
    wakers: &'a Arc<Wakers>,
    half: Half,
}

impl<'a, S, R: Runtime> Locked<'a, S, R> {
    fn new(inner: &'a mut Inner<S, R>, wakers: &'a Arc<Wakers>, half: Half) -> (&'a mut Connection, Self) {
        let Inner { conn, io, state } = inner;
        (conn, Self { io, state, wakers, half })
    }
}

impl<S, R: Io<S>> Duplex<R> for Locked<'_, S, R> {
    fn poll_read(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        match self.half {
            Half::Reader => {
                // The reader parks here: recorded so that the writer's `terminate` wakes it.
                self.wakers.register(Half::Reader, cx.waker());
                wio::poll_read_into::<R, S, _>(self.io, conn, cx)
            }
            Half::Writer => Poll::Pending,
        }
    }

    fn poll_write(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !conn.wants_write() && !self.state.in_progress() && !self.state.offload.is_pending() {
            return Poll::Ready(Ok(()));
        }
        let fan_out = self.wakers.fan_out(self.half, cx);
        let mut fcx = Context::from_waker(&fan_out);
        // The message being compressed off the runtime first (either half finishes it).
        let compressing = self.state.offload.poll(conn, &mut fcx).is_pending();
        ready!(wio::poll_write_out(self.io, conn, self.state, &mut fcx))?;
        if compressing {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn state(&mut self) -> &mut WriteState<R> {
        self.state
    }

    fn finish(&mut self, cx: &mut Context<'_>) {
        wio::shutdown_once(self.io, self.state, cx);
    }

    fn timer_fired(&mut self) {
        // The timer may have ended the connection and dropped the output a blocked writer waits
        // to write.
        self.wakers.wake_half(Half::Writer);
    }
}

impl<S, R: Io<S>> WebSocket<S, R> {
    /// Splits into a [`WsReader`] and a [`WsWriter`] that can be used from different tasks.
    ///
    /// **The reader runs the timers** (keepalive, pong deadline, close timeout) and reports
    /// `Event::Closed`, so poll it. Pongs, close echoes and keepalive pings go out from the
    /// reader while the writer is idle; closing from either half works. Without a reader
    /// being polled, the writer still sends, but nothing answers the peer's pings and no timer
    /// fires. [`reunite`](WsReader::reunite) puts the halves back together.
    pub fn split(self) -> (WsReader<S, R>, WsWriter<S, R>) {
        let Self { io, conn, write: state, recv, url } = self;
        let shared = Arc::new(Shared { inner: Mutex::new(Inner { conn, io, state }), wakers: Arc::default(), url });
        (WsReader { recv, shared: shared.clone() }, WsWriter { shared })
    }
}

/// The receiving half of a split [`WebSocket`]: events, timers and automatic replies.
pub struct WsReader<S, R: Runtime> {
    recv: RecvState<R>,
    shared: Arc<Shared<S, R>>,
}

/// The sending half of a split [`WebSocket`]: messages, pings, close. Not `Clone`: share it
/// behind an async mutex, or use [`spawn`](WebSocket::spawn) for many senders.
///
/// When a message is on the wire is as for [`WebSocket`] (see its "Written, queued or lost"):
/// `Ok` from `send`, `send_with`, `flush` or `close` means written to the stream; from `feed`,
/// `start_send` or `try_send`, queued — written by the next flush of either half, including the
/// reader's `recv` before it waits for the peer. If the connection ends first, the next flush or
/// send returns `Error::ConnectionClosed` (a message still being compressed is also counted in
/// `CloseInfo::unsent_messages`).
pub struct WsWriter<S, R: Runtime> {
    shared: Arc<Shared<S, R>>,
}

impl<S, R: Runtime> fmt::Debug for WsReader<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReader").field("conn", &self.shared.lock().conn).finish_non_exhaustive()
    }
}

impl<S, R: Runtime> fmt::Debug for WsWriter<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter").field("conn", &self.shared.lock().conn).finish_non_exhaustive()
    }
}

/// [`WsReader::reunite`] was given halves of two different connections; they are handed back.
pub struct ReuniteError<S, R: Runtime>(pub WsReader<S, R>, pub WsWriter<S, R>);

impl<S, R: Runtime> fmt::Debug for ReuniteError<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S, R: Runtime> fmt::Display for ReuniteError<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of different WebSockets")
    }
}

impl<S, R: Runtime> std::error::Error for ReuniteError<S, R> {}

impl<S, R: Io<S>> WsReader<S, R> {
    /// Polls for the next event, exactly like [`WebSocket::poll_next_event`]: pongs and close
    /// echoes are written from here (or by the writer, whichever gets the lock). Cancel safe.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Event>>> {
        let mut guard = self.shared.lock();
        let (conn, mut d) = Locked::new(&mut guard, &self.shared.wakers, Half::Reader);
        self.recv.poll_event(conn, &mut d, cx)
    }

    /// The next event; see [`WebSocket::recv`]. Cancel safe.
    pub async fn recv(&mut self) -> Option<io::Result<Event>> {
        poll_fn(|cx| self.poll_next_event(cx)).await
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let mut guard = self.shared.lock();
        let (conn, mut d) = Locked::new(&mut guard, &self.shared.wakers, Half::Reader);
        self.recv.poll_message(conn, &mut d, cx)
    }

    /// The next data message; see [`WebSocket::recv_message`]. Cancel safe.
    pub async fn recv_message(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_message(cx)).await
    }

    /// The next data message as pieces; see [`WebSocket::recv_pieces`]. Cancel safe.
    pub async fn recv_pieces(&mut self) -> Option<io::Result<MessagePieces>> {
        poll_fn(|cx| {
            let mut guard = self.shared.lock();
            let (conn, mut d) = Locked::new(&mut guard, &self.shared.wakers, Half::Reader);
            self.recv.poll_pieces(conn, &mut d, cx)
        })
        .await
    }

    /// Starts the closing handshake from the reading side; see [`WebSocket::close`].
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame::new(code.into(), reason);
        let offloading = {
            let inner = self.shared.lock();
            inner.state.offload.is_pending() && inner.conn.state() == State::Open
        };
        if offloading {
            // A message still being compressed goes out before the close.
            poll_fn(|cx| poll_flush(&self.shared, Half::Reader, cx)).await?;
        }
        self.shared.lock().conn.close(Some(frame), R::now())?;
        poll_fn(|cx| poll_flush(&self.shared, Half::Reader, cx)).await
    }

    /// Stops reading; see [`WebSocket::pause`].
    pub fn pause(&mut self) {
        let state = self.shared.lock().conn.state();
        self.recv.pause.pause(state);
    }

    /// Resumes reading; see [`WebSocket::resume`].
    pub fn resume(&mut self) {
        let state = self.shared.lock().conn.state();
        self.recv.pause.resume(state);
    }

    /// Whether reading is paused.
    pub fn is_paused(&self) -> bool {
        self.recv.pause.is_paused()
    }

    /// How the connection ended, once `Event::Closed` has been returned.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.recv.close_info()
    }

    /// Runs `f` on the connection under the lock (do not block in it).
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.shared.lock().conn)
    }

    /// Whether `writer` is the other half of this reader.
    pub fn is_pair_of(&self, writer: &WsWriter<S, R>) -> bool {
        Arc::ptr_eq(&self.shared, &writer.shared)
    }

    /// Puts the halves back together into the [`WebSocket`] they came from.
    // The error hands both halves back by value, once: boxing would only add an allocation.
    #[allow(clippy::result_large_err)]
    pub fn reunite(self, writer: WsWriter<S, R>) -> Result<WebSocket<S, R>, ReuniteError<S, R>> {
        if !self.is_pair_of(&writer) {
            return Err(ReuniteError(self, writer));
        }
        drop(writer);
        let Self { recv, shared } = self;
        // The reader and the writer held the only references.
        let shared = match Arc::try_unwrap(shared) {
            Ok(shared) => shared,
            Err(shared) => return Err(ReuniteError(Self { recv, shared: shared.clone() }, WsWriter { shared })),
        };
        let Inner { conn, io, state } = shared.inner.into_inner().unwrap_or_else(PoisonError::into_inner);
        Ok(WebSocket { io, conn, write: state, recv, url: shared.url })
    }
}

/// Flushes under the lock on behalf of `half`.
fn poll_flush<S, R: Io<S>>(shared: &Shared<S, R>, half: Half, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
    let mut guard = shared.lock();
    let (conn, mut d) = Locked::new(&mut guard, &shared.wakers, half);
    stream::poll_flush(conn, &mut d, None, cx)
}

impl<S, R: Io<S>> WsWriter<S, R> {
    /// Waits until the output queue is below the high-water mark; see
    /// [`WebSocket::poll_ready`]. (Timers run in the reader.)
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut guard = self.shared.lock();
        let (conn, mut d) = Locked::new(&mut guard, &self.shared.wakers, Half::Writer);
        stream::poll_ready(conn, &mut d, None, cx)
    }

    /// Queues a message without waiting; see [`WebSocket::start_send`].
    pub fn start_send(&mut self, msg: Message) -> Result<(), Error> {
        let mut guard = self.shared.lock();
        let inner = &mut *guard;
        stream::queue(&mut inner.conn, &mut inner.state.offload, msg)
    }

    /// Queues a message if below the high-water mark; see [`WebSocket::try_send`]. Queued
    /// output is written by the next flush of either half.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), TrySendError<Message>> {
        let mut guard = self.shared.lock();
        let inner = &mut *guard;
        stream::try_queue(&mut inner.conn, &mut inner.state.offload, msg.into())
    }

    /// Writes everything queued, including the reader's pongs; see [`WebSocket::poll_flush`].
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        poll_flush(&self.shared, Half::Writer, cx)
    }

    /// Sends a close (1000) if the connection is open and flushes (`Sink::poll_close`).
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        {
            let mut inner = self.shared.lock();
            if inner.conn.state() == State::Open {
                // A message still being compressed goes out before the close.
                if inner.state.offload.is_pending() {
                    drop(inner);
                    ready!(self.poll_flush(cx))?;
                    inner = self.shared.lock();
                }
                if inner.conn.state() == State::Open {
                    inner.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), R::now())?;
                }
            }
        }
        self.poll_flush(cx)
    }

    /// Sends a message; see [`WebSocket::send`] (same cancel safety).
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        let msg = msg.into();
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.start_send(msg)?;
        self.flush().await
    }

    /// Sends a message with per-message options; see [`WebSocket::send_with`].
    pub async fn send_with(&mut self, msg: impl Into<Message>, opts: SendOptions) -> Result<(), Error> {
        let msg = msg.into();
        if opts == SendOptions::default() {
            return self.send(msg).await;
        }
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.shared.lock().conn.send_message_with(msg, opts)?;
        self.flush().await
    }

    /// Queues a message without writing it; see [`WebSocket::feed`].
    pub async fn feed(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        let msg = msg.into();
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.start_send(msg)
    }

    /// Writes everything queued and flushes. Cancel safe.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Sends a message framed once for many connections; see [`WebSocket::send_prepared`].
    pub async fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.shared.lock().conn.send_prepared(msg)?;
        self.flush().await
    }

    /// Streams one frame of a message; see [`WebSocket::send_frame_part`].
    pub async fn send_frame_part(&mut self, kind: MessageKind, data: impl Into<Bytes>, fin: bool) -> Result<(), Error> {
        let data = data.into();
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.shared.lock().conn.send_frame_part(kind, data, fin)?;
        self.flush().await
    }

    /// Sends a ping; the pong arrives at the [`WsReader`].
    pub async fn ping(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.shared.lock().conn.send_ping(payload)?;
        self.flush().await
    }

    /// Sends an unsolicited pong.
    pub async fn pong(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.shared.lock().conn.send_pong(payload)?;
        self.flush().await
    }

    /// Starts the closing handshake; see [`WebSocket::close`]. The [`WsReader`] then reports
    /// `Event::Closed` once the peer answers or the close timeout expires.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.close_with(Some(CloseFrame::new(code.into(), reason))).await
    }

    /// [`close`](Self::close) with an optional frame (`None`: no status code).
    pub async fn close_with(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        if self.offloading() {
            // A message still being compressed goes out before the close.
            self.flush().await?;
        }
        self.shared.lock().conn.close(frame, R::now())?;
        self.flush().await
    }

    /// A message is being compressed off the runtime on an open connection.
    fn offloading(&self) -> bool {
        let inner = self.shared.lock();
        inner.state.offload.is_pending() && inner.conn.state() == State::Open
    }

    /// Drops the connection without a closing handshake; see [`WebSocket::terminate`]. The
    /// reader delivers the messages already received, then reports `Event::Closed` (1006).
    pub fn terminate(&mut self) {
        let mut inner = self.shared.lock();
        inner.conn.terminate();
        inner.state.dropped = true;
        drop(inner);
        self.shared.wakers.wake_half(Half::Reader);
    }
}

impl<S, R: Runtime> WsWriter<S, R> {
    /// Bytes queued and not yet written (Node `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        let inner = self.shared.lock();
        inner.conn.buffered_amount() + inner.state.offload.pending_len()
    }

    /// Whether a send would not wait.
    pub fn is_write_ready(&self) -> bool {
        self.shared.lock().conn.is_write_ready()
    }

    /// Open, closing or closed.
    pub fn ready_state(&self) -> State {
        self.shared.lock().conn.state()
    }

    /// The URL a client connected to; `None` on the server side.
    pub fn url(&self) -> Option<&str> {
        self.shared.url.as_deref()
    }

    /// Runs `f` on the connection under the lock (do not block in it). Output queued through
    /// it is written by the next flush of either half.
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.shared.lock().conn)
    }
}

#[cfg(feature = "futures")]
impl<S, R: Io<S>> futures_core::Stream for WsReader<S, R> {
    /// Data messages only, as for [`WebSocket`]'s `Stream`.
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}

#[cfg(feature = "futures")]
impl<S, R: Io<S>> futures_sink::Sink<Message> for WsWriter<S, R> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Self::poll_ready(self.get_mut(), cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Self::start_send(self.get_mut(), item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Self::poll_flush(self.get_mut(), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Self::poll_close(self.get_mut(), cx)
    }
}
