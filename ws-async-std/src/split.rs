//! [`WebSocket::split`]: a [`WsReader`] and a [`WsWriter`] for two tasks.
//!
//! Both halves share the `Connection` and the whole stream behind one `std::sync::Mutex`,
//! which is never held across an `.await`: every operation is a synchronous `poll_*` under
//! the lock. **Bytes leave the connection only while that lock guards the stream**, so the
//! wire order is the queue's order. Whichever half finds output queued (the writer's messages,
//! the reader's pongs and close echoes) writes all of it. The stream is always polled with a
//! fan-out waker that wakes both halves' tasks, so a half waiting for the stream is woken even
//! when the other half polled it last; this also covers streams that keep a single waker for
//! both directions (TLS, some pipes).
//!
//! Reads are non-blocking polls under the lock as well, straight into the connection's buffer.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use ws_proto::{
    Bytes, CloseCode, CloseFrame, CloseInfo, Connection, Event, Message, MessageKind, PreparedMessage, State,
};

use crate::drive::{self, MessagePieces, Receiver, Transport};
use crate::error::{Error, TrySendError};
use crate::io::{self as wio, Side, Wakers, WriteState};
use crate::stream::WebSocket;

/// What the halves share under the lock.
struct Inner<S> {
    conn: Connection,
    io: S,
    write: WriteState,
}

struct Shared<S> {
    inner: Mutex<Inner<S>>,
    wakers: Arc<Wakers>,
    url: Option<String>,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        // A panic under the lock leaves the connection in a state it can report from.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The shared stream seen by `side`, under the lock.
struct Locked<'a, S> {
    io: &'a mut S,
    write: &'a mut WriteState,
    wakers: &'a Arc<Wakers>,
    side: Side,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport for Locked<'_, S> {
    fn read(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let waker = self.wakers.waker(self.side, cx);
        wio::poll_read_into(self.io, conn, &mut Context::from_waker(&waker))
    }

    fn write(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !conn.wants_write() && !self.write.busy() {
            return Poll::Ready(Ok(()));
        }
        let waker = self.wakers.waker(self.side, cx);
        wio::poll_write_out(self.io, conn, self.write, &mut Context::from_waker(&waker))
    }

    fn state(&mut self) -> &mut WriteState {
        self.write
    }

    fn finish(&mut self, cx: &mut Context<'_>) {
        wio::finish_once(self.io, self.write, cx);
    }

    fn timer_fired(&mut self) {
        // The timer may have ended the connection and dropped what the writer waits to write.
        self.wakers.wake(Side::Writer);
    }
}

/// Runs `f` with the connection and the stream locked, as seen by `side`.
fn with_locked<S, R>(shared: &Shared<S>, side: Side, f: impl FnOnce(&mut Connection, &mut Locked<'_, S>) -> R) -> R {
    let mut guard = shared.lock();
    let Inner { conn, io, write } = &mut *guard;
    f(conn, &mut Locked { io, write, wakers: &shared.wakers, side })
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Splits into a [`WsReader`] and a [`WsWriter`] usable from different tasks (no
    /// `futures::io::split` needed: both halves poll the stream under the shared lock).
    ///
    /// **Poll the reader**: it runs the timers (keepalive, pong deadline, close timeout) and
    /// reports `Event::Closed`. Pongs, close echoes and keepalive pings go out from the reader
    /// while the writer is idle; either half can close. Without a reader being polled the
    /// writer still sends, but pings go unanswered and no timer runs. Put the halves back
    /// together with [`WsReader::reunite`].
    pub fn split(self) -> (WsReader<S>, WsWriter<S>) {
        let Self { io, conn, write, recv, url } = self;
        let shared = Arc::new(Shared { inner: Mutex::new(Inner { conn, io, write }), wakers: Arc::default(), url });
        (WsReader { recv, shared: Arc::clone(&shared) }, WsWriter { shared })
    }
}

/// The receiving half of a split [`WebSocket`]: events, timers and automatic replies.
pub struct WsReader<S> {
    recv: Receiver,
    shared: Arc<Shared<S>>,
}

/// The sending half of a split [`WebSocket`]: messages, pings, close. Not `Clone`: share it
/// behind an async mutex, or use [`into_driver`](WebSocket::into_driver) for many senders.
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

/// [`WsReader::reunite`] got halves of two different connections; here they are back.
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
    /// Polls for the next event, like [`WebSocket::poll_next_event`]. Cancel safe.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Event>>> {
        let recv = &mut self.recv;
        with_locked(&self.shared, Side::Reader, |conn, t| recv.poll_event(conn, t, cx))
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let recv = &mut self.recv;
        with_locked(&self.shared, Side::Reader, |conn, t| recv.poll_message(conn, t, cx))
    }

    /// The next event; see [`WebSocket::recv`]. Cancel safe.
    pub async fn recv(&mut self) -> Option<io::Result<Event>> {
        poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// The next data message; see [`WebSocket::recv_message`]. Cancel safe.
    pub async fn recv_message(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_message(cx)).await
    }

    /// The next data message as pieces; see [`WebSocket::recv_pieces`]. Cancel safe.
    pub async fn recv_pieces(&mut self) -> Option<io::Result<MessagePieces>> {
        poll_fn(|cx| {
            let recv = &mut self.recv;
            with_locked(&self.shared, Side::Reader, |conn, t| recv.poll_pieces(conn, t, cx))
        })
        .await
    }

    /// Starts the closing handshake from the reading side; see [`WebSocket::close`].
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.shared.lock().conn.close(Some(CloseFrame::new(code.into(), reason)), wio::now())?;
        poll_fn(|cx| flush(&self.shared, Side::Reader, cx)).await
    }

    /// Stops consuming input; see [`WebSocket::pause`].
    pub fn pause(&mut self) {
        self.recv.paused = true;
    }

    /// Consumes input again; see [`WebSocket::resume`].
    pub fn resume(&mut self) {
        self.recv.paused = false;
    }

    /// Whether input is paused.
    pub fn is_paused(&self) -> bool {
        self.recv.paused
    }

    /// How the connection ended, once `Event::Closed` was returned.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.recv.close_info()
    }

    /// Open, closing or closed.
    pub fn ready_state(&self) -> State {
        self.shared.lock().conn.state()
    }

    /// Runs `f` on the connection under the lock (do not block in it).
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        f(&mut self.shared.lock().conn)
    }

    /// Whether `writer` is this reader's other half.
    pub fn is_pair_of(&self, writer: &WsWriter<S>) -> bool {
        Arc::ptr_eq(&self.shared, &writer.shared)
    }

    /// Puts the halves back together into the [`WebSocket`] they came from.
    // The error hands both halves back by value; boxing it would only add an allocation.
    #[allow(clippy::result_large_err)]
    pub fn reunite(self, writer: WsWriter<S>) -> Result<WebSocket<S>, ReuniteError<S>> {
        if !self.is_pair_of(&writer) {
            return Err(ReuniteError(self, writer));
        }
        drop(writer);
        let Self { recv, shared } = self;
        match Arc::try_unwrap(shared) {
            Ok(shared) => {
                let Inner { conn, io, write } = shared.inner.into_inner().unwrap_or_else(PoisonError::into_inner);
                Ok(WebSocket { io, conn, write, recv, url: shared.url })
            }
            // Unreachable: the halves hold the only references.
            Err(shared) => Err(ReuniteError(Self { recv, shared: Arc::clone(&shared) }, WsWriter { shared })),
        }
    }
}

/// Flushes under the lock on behalf of `side` (no timers: the reader runs them).
fn flush<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared<S>,
    side: Side,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    with_locked(shared, side, |conn, t| drive::poll_flush(conn, t, None, cx))
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsWriter<S> {
    /// Ready when a message may be queued; see [`WebSocket::poll_ready`].
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        with_locked(&self.shared, Side::Writer, |conn, t| drive::poll_ready(conn, t, None, cx))
    }

    /// Queues a message without waiting; see [`WebSocket::start_send`].
    pub fn start_send(&mut self, msg: Message) -> Result<(), Error> {
        drive::queue(&mut self.shared.lock().conn, msg)
    }

    /// Queues a message if below the high-water mark; see [`WebSocket::try_send`]. The next
    /// flush of either half writes it.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), TrySendError<Message>> {
        drive::try_queue(&mut self.shared.lock().conn, msg.into())
    }

    /// Writes everything queued, the reader's pongs included; see [`WebSocket::poll_flush`].
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        flush(&self.shared, Side::Writer, cx)
    }

    /// Sends a close (1000) if the connection is open, then flushes (`Sink::poll_close`).
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        {
            let mut inner = self.shared.lock();
            if inner.conn.state() == State::Open {
                inner.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), wio::now())?;
            }
        }
        self.poll_flush(cx)
    }

    /// Sends a message; see [`WebSocket::send`] (same cancel safety).
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.feed(msg).await?;
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

    /// Sends one frame of a message in parts; see [`WebSocket::send_frame_part`].
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

    /// Starts the closing handshake; see [`WebSocket::close`]. The [`WsReader`] reports
    /// `Event::Closed` when the peer answers or the close timeout expires.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.close_with(Some(CloseFrame::new(code.into(), reason))).await
    }

    /// [`close`](Self::close) with an optional frame (`None`: no status code).
    pub async fn close_with(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.shared.lock().conn.close(frame, wio::now())?;
        self.flush().await
    }

    /// Drops the connection without a closing handshake; see [`WebSocket::terminate`]. The
    /// reader reports `Event::Closed` (1006).
    pub fn terminate(&mut self) {
        {
            let mut inner = self.shared.lock();
            inner.conn.terminate();
            inner.write.dropped = true;
        }
        self.shared.wakers.wake(Side::Reader);
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

    /// The URL a client connected to; `None` on a server.
    pub fn url(&self) -> Option<&str> {
        self.shared.url.as_deref()
    }

    /// Runs `f` on the connection under the lock (do not block in it). What it queues is
    /// written by the next flush of either half.
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        f(&mut self.shared.lock().conn)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WsReader<S> {
    /// Data messages only, as for [`WebSocket`]'s `Stream`.
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WsWriter<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.get_mut().start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_close(cx)
    }
}
