//! [`WebSocket::split`]: a [`WsReader`] and a [`WsWriter`] usable from different tasks.
//!
//! Shared state is the `Connection` and the stream's write half behind one
//! `std::sync::Mutex`, never held across an `.await` (every operation is a synchronous
//! `poll_*`). **Bytes leave the `Connection` only while the same lock guards the write half**,
//! so their order on the wire is the queue's order. Whichever half finds output queued (the
//! writer's messages, the reader's pongs and close echoes) writes *all* of it, polling the
//! write half with a fan-out waker that wakes both halves' tasks: a half waiting for the
//! stream to become writable is woken even if the other half registered last.
//!
//! The reader owns the read half. It locks to fire timers, take events, write output and read
//! into the connection (a non-blocking read under the lock, which saves a copy).

use std::fmt;
use std::future::poll_fn;
use std::io;
#[cfg(feature = "futures")]
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use ws_proto::{
    Bytes, CloseCode, CloseFrame, CloseInfo, Connection, Event, Message, MessageKind, PreparedMessage, State,
};

use crate::error::{Error, TrySendError};
use crate::io::{self as wio, Half, Wakers, WriteState};
use crate::stream::{self, Duplex, MessagePieces, RecvState, WebSocket};

/// What both halves share, behind the lock.
struct Inner<S> {
    conn: Connection,
    write: WriteHalf<S>,
    state: WriteState,
}

struct Shared<S> {
    inner: Mutex<Inner<S>>,
    wakers: Arc<Wakers>,
    url: Option<String>,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The write half under the lock, seen by `half`.
struct Locked<'a, S> {
    read: Option<&'a mut ReadHalf<S>>,
    write: &'a mut WriteHalf<S>,
    state: &'a mut WriteState,
    wakers: &'a Arc<Wakers>,
    half: Half,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Duplex for Locked<'_, S> {
    fn poll_read(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        match self.read.as_deref_mut() {
            Some(read) => wio::poll_read_into(read, conn, cx),
            None => Poll::Pending,
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
        ready!(wio::poll_write_out(self.write, conn, self.state, &mut fcx))?;
        if compressing {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn state(&mut self) -> &mut WriteState {
        self.state
    }

    fn finish(&mut self, cx: &mut Context<'_>) {
        wio::shutdown_once(self.write, self.state, cx);
    }

    fn timer_fired(&mut self) {
        // The timer may have ended the connection and dropped the output a blocked writer waits
        // to write.
        self.wakers.wake_half(Half::Writer);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Splits into a [`WsReader`] and a [`WsWriter`] that can be used from different tasks
    /// (through `tokio::io::split`, whose small internal lock is uncontended here since both
    /// halves go through the shared state's lock).
    ///
    /// **The reader runs the timers** (keepalive, pong deadline, close timeout) and reports
    /// `Event::Closed`, so poll it. Pongs, close echoes and keepalive pings go out from the
    /// reader while the writer is idle; closing from either half works. Without a reader
    /// being polled, the writer still sends, but nothing answers the peer's pings and no timer
    /// fires. [`reunite`](WsReader::reunite) puts the halves back together.
    pub fn split(self) -> (WsReader<S>, WsWriter<S>) {
        let Self { io, conn, write: state, recv, url } = self;
        let (read, write) = tokio::io::split(io);
        let shared = Arc::new(Shared { inner: Mutex::new(Inner { conn, write, state }), wakers: Arc::default(), url });
        (WsReader { read, recv, shared: shared.clone() }, WsWriter { shared })
    }
}

/// The receiving half of a split [`WebSocket`]: events, timers and automatic replies.
pub struct WsReader<S> {
    read: ReadHalf<S>,
    recv: RecvState,
    shared: Arc<Shared<S>>,
}

/// The sending half of a split [`WebSocket`]: messages, pings, close. Not `Clone`: share it
/// behind an async mutex, or use [`spawn`](WebSocket::spawn) for many senders.
pub struct WsWriter<S> {
    shared: Arc<Shared<S>>,
}

impl<S> fmt::Debug for WsReader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReader").field("conn", &self.shared.lock().conn).finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for WsWriter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter").field("conn", &self.shared.lock().conn).finish_non_exhaustive()
    }
}

/// [`WsReader::reunite`] was given halves of two different connections; they are handed back.
pub struct ReuniteError<S>(pub WsReader<S>, pub WsWriter<S>);

impl<S> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of different WebSockets")
    }
}

impl<S> std::error::Error for ReuniteError<S> {}

impl<S: AsyncRead + AsyncWrite + Unpin> WsReader<S> {
    /// Polls for the next event, exactly like [`WebSocket::poll_next_event`]: pongs and close
    /// echoes are written from here (or by the writer, whichever gets the lock). Cancel safe.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Event>>> {
        let mut guard = self.shared.lock();
        let inner = &mut *guard;
        let mut d = Locked {
            read: Some(&mut self.read),
            write: &mut inner.write,
            state: &mut inner.state,
            wakers: &self.shared.wakers,
            half: Half::Reader,
        };
        self.recv.poll_event(&mut inner.conn, &mut d, cx)
    }

    /// The next event; see [`WebSocket::recv`]. Cancel safe.
    pub async fn recv(&mut self) -> Option<io::Result<Event>> {
        poll_fn(|cx| self.poll_next_event(cx)).await
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let mut guard = self.shared.lock();
        let inner = &mut *guard;
        let mut d = Locked {
            read: Some(&mut self.read),
            write: &mut inner.write,
            state: &mut inner.state,
            wakers: &self.shared.wakers,
            half: Half::Reader,
        };
        self.recv.poll_message(&mut inner.conn, &mut d, cx)
    }

    /// The next data message; see [`WebSocket::recv_message`]. Cancel safe.
    pub async fn recv_message(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_message(cx)).await
    }

    /// The next data message as pieces; see [`WebSocket::recv_pieces`]. Cancel safe.
    pub async fn recv_pieces(&mut self) -> Option<io::Result<MessagePieces>> {
        poll_fn(|cx| {
            let mut guard = self.shared.lock();
            let inner = &mut *guard;
            let mut d = Locked {
                read: Some(&mut self.read),
                write: &mut inner.write,
                state: &mut inner.state,
                wakers: &self.shared.wakers,
                half: Half::Reader,
            };
            self.recv.poll_pieces(&mut inner.conn, &mut d, cx)
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
        self.shared.lock().conn.close(Some(frame), wio::now())?;
        poll_fn(|cx| poll_flush(&self.shared, Half::Reader, cx)).await
    }

    /// Stops reading; see [`WebSocket::pause`].
    pub fn pause(&mut self) {
        self.recv.paused = true;
    }

    /// Resumes reading; see [`WebSocket::resume`].
    pub fn resume(&mut self) {
        self.recv.paused = false;
    }

    /// Whether reading is paused.
    pub fn is_paused(&self) -> bool {
        self.recv.paused
    }

    /// How the connection ended, once `Event::Closed` has been returned.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.recv.close_info()
    }

    /// Runs `f` on the connection under the lock (do not block in it).
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        f(&mut self.shared.lock().conn)
    }

    /// Whether `writer` is the other half of this reader.
    pub fn is_pair_of(&self, writer: &WsWriter<S>) -> bool {
        Arc::ptr_eq(&self.shared, &writer.shared)
    }

    /// Puts the halves back together into the [`WebSocket`] they came from.
    // The error hands both halves back by value, once: boxing would only add an allocation.
    #[allow(clippy::result_large_err)]
    pub fn reunite(self, writer: WsWriter<S>) -> Result<WebSocket<S>, ReuniteError<S>> {
        if !self.is_pair_of(&writer) {
            return Err(ReuniteError(self, writer));
        }
        drop(writer);
        let Self { read, recv, shared } = self;
        // The reader and the writer held the only references.
        let shared = match Arc::try_unwrap(shared) {
            Ok(shared) => shared,
            Err(shared) => return Err(ReuniteError(Self { read, recv, shared: shared.clone() }, WsWriter { shared })),
        };
        let Inner { conn, write, state } = shared.inner.into_inner().unwrap_or_else(PoisonError::into_inner);
        let io = read.unsplit(write);
        Ok(WebSocket { io, conn, write: state, recv, url: shared.url })
    }
}

/// Flushes under the lock on behalf of `half`.
fn poll_flush<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared<S>,
    half: Half,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    let mut guard = shared.lock();
    let inner = &mut *guard;
    let mut d = Locked { read: None, write: &mut inner.write, state: &mut inner.state, wakers: &shared.wakers, half };
    stream::poll_flush(&mut inner.conn, &mut d, None, cx)
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsWriter<S> {
    /// Waits until the output queue is below the high-water mark; see
    /// [`WebSocket::poll_ready`]. (Timers run in the reader.)
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut guard = self.shared.lock();
        let inner = &mut *guard;
        let mut d = Locked {
            read: None,
            write: &mut inner.write,
            state: &mut inner.state,
            wakers: &self.shared.wakers,
            half: Half::Writer,
        };
        stream::poll_ready(&mut inner.conn, &mut d, None, cx)
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
                    inner.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), wio::now())?;
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
        self.shared.lock().conn.close(frame, wio::now())?;
        self.flush().await
    }

    /// A message is being compressed off the runtime on an open connection.
    fn offloading(&self) -> bool {
        let inner = self.shared.lock();
        inner.state.offload.is_pending() && inner.conn.state() == State::Open
    }

    /// Drops the connection without a closing handshake; see [`WebSocket::terminate`]. The
    /// reader reports `Event::Closed` (1006).
    pub fn terminate(&mut self) {
        let mut inner = self.shared.lock();
        inner.conn.terminate();
        inner.state.dropped = true;
        drop(inner);
        self.shared.wakers.wake_half(Half::Reader);
    }
}

impl<S> WsWriter<S> {
    /// Bytes queued and not yet written (Node `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.shared.lock().conn.buffered_amount()
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
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        f(&mut self.shared.lock().conn)
    }
}

#[cfg(feature = "futures")]
impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WsReader<S> {
    /// Data messages only, as for [`WebSocket`]'s `Stream`.
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}

#[cfg(feature = "futures")]
impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WsWriter<S> {
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
