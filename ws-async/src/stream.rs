//! [`WebSocket`]: a `ws_proto::Connection` driven over a stream the runtime `R` can read and write.

use std::future::poll_fn;
use std::io;
#[cfg(feature = "futures")]
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pub use ws_proto::MessagePieces;
use ws_proto::{
    Bytes, CloseCode, CloseFrame, CloseInfo, Connection, Event, Message, MessageKind, Pause, PieceCollector,
    PreparedMessage, State,
};

use crate::error::{Error, TrySendError};
use crate::io::{self as wio, Timer, WriteState};
use crate::offload::Offload;
use crate::runtime::{Io, Runtime};

/// A WebSocket connection over a stream `S` (a `TcpStream`, a TLS stream, an in-memory pipe,
/// a hyper upgrade…) driven by the runtime `R` (a binding's runtime type: `ws-tokio` and
/// `ws-async-std` re-export this type with theirs filled in, as `WebSocket<S>`).
///
/// Get one from [`connect`](crate::connect) / [`connect_with`](crate::connect_with) (client),
/// [`accept_with`](crate::accept_with) and its variants (server), or wrap an already-upgraded
/// stream with [`from_connection`](Self::from_connection) / [`from_parts`](Self::from_parts).
///
/// All protocol work happens in [`ws_proto::Connection`]: answering pings, echoing the peer's
/// close, failing the connection on protocol errors with the right close code, limits,
/// keepalive and close timers. This type moves bytes and runs one resettable timer.
///
/// # Receiving
///
/// [`recv`](Self::recv) (or [`poll_next_event`](Self::poll_next_event)) returns every event:
/// messages (or fragments with `Config::deliver_fragments`), pings, pongs, and
/// `Event::Closed` exactly once. It also writes what the connection queued, so pongs, close
/// echoes and keepalive pings go out while the application only reads. The `Stream`
/// implementation (feature `futures`) and [`recv_message`](Self::recv_message) yield data
/// messages only. **Protocol errors never appear as `Err`**: a peer breaking the protocol, a
/// timeout or an EOF end in `Event::Closed(info)`; only real IO failures are `Err`.
///
/// Events are produced only while the `WebSocket` is polled: input is parsed lazily and reading
/// stops once `Connection::wants_read` says enough is buffered, so not calling `recv` is
/// backpressure towards the peer (TCP flow control). The timers (keepalive, pong deadline,
/// close timeout) also fire only while some method is being polled.
///
/// # Sending
///
/// [`send`](Self::send) queues and writes; [`feed`](Self::feed) queues without writing: the
/// next `flush` or `send` writes it, and so does `recv` once the messages already received are
/// all delivered (just before it waits for the peer). A request/response loop that answers with
/// `feed` therefore writes all the answers to one read's requests in one system call. Both
/// first wait until the output queue is below
/// `Config::write_high_water` ([`poll_ready`](Self::poll_ready)), so a peer that does not read
/// bounds this side's memory to about the high-water mark plus one message.
///
/// # Written, queued or lost
///
/// `Ok` from [`send`](Self::send), [`send_prepared`](Self::send_prepared),
/// [`send_frame_part`](Self::send_frame_part), [`flush`](Self::flush) and `close` means the
/// bytes were written to the stream (the kernel has them; the peer may still not read them).
/// `Ok` from [`feed`](Self::feed), [`start_send`](Self::start_send) or
/// [`try_send`](Self::try_send) means the message is queued, in the connection or in the
/// offload slot while it is being compressed ([`offload`](crate::offload)); it is on the wire
/// after the next successful `flush` or `send`, or once `recv` has delivered what was already
/// received. If the connection ends first (a timer, [`terminate`](Self::terminate), an IO
/// error), queued output is not sent: the next flush or send returns
/// [`Error::ConnectionClosed`] (the IO error itself the first time), and a message that was
/// still being compressed is also counted in `Event::Closed`'s `CloseInfo::unsent_messages`.
/// Nothing the application handed over disappears without one of these. In the other
/// direction, what was already received is not lost to `terminate` (nor to an IO error):
/// `recv` still delivers the messages whose frames had fully arrived, then `Event::Closed`.
///
/// # Cancel safety
///
/// Every async method keeps its progress in `self`, never on its own stack:
///
/// | method | cancel safe? |
/// |---|---|
/// | [`recv`](Self::recv), [`recv_message`](Self::recv_message), `StreamExt::next` | yes: no event is lost or duplicated |
/// | [`recv_pieces`](Self::recv_pieces) | yes: pieces received so far are kept for the next call |
/// | [`flush`](Self::flush) | yes: unwritten bytes stay queued, in order |
/// | [`send`](Self::send), [`feed`](Self::feed), [`send_prepared`](Self::send_prepared), [`send_frame_part`](Self::send_frame_part) | the message is either queued whole (and written by any later flush, `send` or `recv`) or not at all (dropped with the future); a large message being compressed off the runtime when cancelled counts as queued: the next call that polls the connection finishes it (see [`offload`](crate::offload)) |
/// | [`close`](Self::close), [`close_with`](Self::close_with), [`ping`](Self::ping), [`pong`](Self::pong) | the frame is queued when the future is first polled; cancelling afterwards only stops waiting for the write |
///
/// # Runtime
///
/// Timers run on `R`'s clock and timer (with tokio: a runtime with the time driver enabled,
/// `Builder::enable_time` or `enable_all`, and `tokio::time::pause()` drives keepalive and close
/// timers in tests.
#[derive(Debug)]
pub struct WebSocket<S, R: Runtime> {
    pub(crate) io: S,
    pub(crate) conn: Connection,
    pub(crate) write: WriteState<R>,
    pub(crate) recv: RecvState<R>,
    pub(crate) url: Option<String>,
}

impl<S, R: Runtime> WebSocket<S, R> {
    /// Drives `conn` over `io`, an already-upgraded stream. Anything `conn` already queued (a
    /// server's `101` from `UpgradeRequest::accept`) is written by the next call that flushes.
    /// Needs no runtime until polled.
    pub fn from_connection(io: S, conn: Connection) -> Self {
        Self { io, conn, write: WriteState::default(), recv: RecvState::default(), url: None }
    }

    /// Like [`from_connection`](Self::from_connection), with `read_buf` holding bytes already
    /// read from `io` past the handshake (hyper's `upgrade::Parts::read_buf`, Node's `head`):
    /// they are handed to the connection first.
    pub fn from_parts(io: S, read_buf: Bytes, mut conn: Connection) -> Self {
        conn.receive(&read_buf);
        Self::from_connection(io, conn)
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

    /// Open, closing or closed (Node `readyState` without CONNECTING, which a `WebSocket` is
    /// never in: it exists once the handshake is done). `Closed` means the close handshake
    /// completed or the connection failed; `recv` may still be finishing the transport.
    pub fn ready_state(&self) -> State {
        self.conn.state()
    }

    /// Bytes queued and not yet written, framing included (Node `bufferedAmount`), plus the
    /// payload of a message still being compressed off the runtime (see
    /// [`offload`](crate::offload)).
    pub fn buffered_amount(&self) -> usize {
        self.conn.buffered_amount() + self.write.offload.pending_len()
    }

    /// Whether the output queue is below `Config::write_high_water`: a send would not wait.
    pub fn is_write_ready(&self) -> bool {
        self.conn.is_write_ready()
    }

    /// Total bytes received from the peer.
    pub fn bytes_received(&self) -> u64 {
        self.conn.bytes_received()
    }

    /// The subprotocol the handshake settled on, if any (Node `protocol`).
    pub fn protocol(&self) -> Option<&str> {
        self.conn.negotiated().subprotocol.as_deref()
    }

    /// The negotiated `Sec-WebSocket-Extensions` value, if any (Node `extensions`).
    pub fn extensions(&self) -> Option<&str> {
        self.conn.negotiated().extensions.as_deref()
    }

    /// The WebSocket protocol version: 13, or 8 for HyBi-07..12 peers.
    pub fn protocol_version(&self) -> u8 {
        self.conn.negotiated().version
    }

    /// How the connection ended, once `Event::Closed` has been returned (also when the
    /// `Stream` or [`recv_message`](Self::recv_message) consumed it).
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.recv.close_info.as_deref()
    }

    /// Stops reading (Node `pause()`): while paused, [`recv`](Self::recv) and the other
    /// receiving methods return no event and read nothing from the stream. They still write
    /// queued output and fire due timers when polled, and still report `Event::Closed` if a
    /// timer or [`terminate`](Self::terminate) ends the connection. Pongs to pings not yet read
    /// are not sent, and a keepalive pong deadline may expire while paused.
    ///
    /// Simply not calling `recv` has the same backpressure effect; `pause` exists so that code
    /// which keeps polling (a `select!` loop) can stop consuming.
    ///
    /// As in Node, pausing or resuming a closed connection does nothing.
    pub fn pause(&mut self) {
        self.recv.pause.pause(self.conn.state());
    }

    /// Resumes reading after [`pause`](Self::pause) (Node `resume()`; nothing once closed).
    pub fn resume(&mut self) {
        self.recv.pause.resume(self.conn.state());
    }

    /// Whether reading is paused (Node `isPaused`).
    pub fn is_paused(&self) -> bool {
        self.recv.pause.is_paused()
    }

    /// The protocol state and settings.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The protocol state, mutably, e.g. for `fail(code, reason, now)`. Output queued through it
    /// is written by the next flush, `send` or `recv`; events taken with `poll_event` here
    /// bypass `recv`.
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The underlying stream, mutably. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The underlying stream (output still queued in the connection is lost).
    pub fn into_inner(self) -> S {
        self.io
    }

    /// The stream and the connection, to drive them some other way.
    pub fn into_parts(self) -> (S, Connection) {
        (self.io, self.conn)
    }

    /// Drops the connection at once without a closing handshake (Node `terminate()`): queued
    /// output is discarded and nothing more is read or written. As Node `ws` still emits the
    /// messages it had read before `'close'`, [`recv`](Self::recv) first delivers the messages
    /// (and pings and pongs, unanswered) whose frames had already arrived, then
    /// `Event::Closed` (1006) if it was not reported yet, then `None`; a message still missing
    /// frames is dropped (see `Connection::terminate`). Drop the `WebSocket` to close the
    /// stream.
    pub fn terminate(&mut self) {
        self.conn.terminate();
        self.write.dropped = true;
    }

    /// Queues a message without waiting; see [`poll_ready`](Self::poll_ready) for when to call
    /// it. Errors if the connection is not open (`SendError::CloseAlreadySent`,
    /// `SendError::NotOpen`), a fragmented message is in progress, or an earlier large message
    /// is still being compressed off the runtime (`SendError::CompressionPending`, which
    /// `poll_ready` waits out; see [`offload`](crate::offload)).
    pub fn start_send(&mut self, msg: Message) -> Result<(), Error> {
        queue(&mut self.conn, &mut self.write.offload, msg)
    }

    /// Queues a message if the output queue is below the high-water mark, without waiting and
    /// without writing (the next `recv`, `flush` or `send` writes it). For broadcasting to slow
    /// consumers: [`TrySendError::Full`] hands the message back.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), TrySendError<Message>> {
        try_queue(&mut self.conn, &mut self.write.offload, msg.into())
    }
}

impl<S, R: Io<S>> WebSocket<S, R> {
    fn duplex(&mut self) -> (&mut RecvState<R>, &mut Connection, Whole<'_, S, R>) {
        (&mut self.recv, &mut self.conn, Whole { io: &mut self.io, write: &mut self.write })
    }

    /// Polls for the next event, driving the connection: fires expired timers, returns an event
    /// if one is ready (first writing what producing it queued, when the stream accepts it),
    /// writes queued output, and reads when the connection wants input.
    ///
    /// - `Ready(Some(Ok(event)))`: `Event::Closed` comes exactly once, after the output that
    ///   closing queued (the close echo, the server's half-close) was written (bounded by the
    ///   close timeout).
    /// - `Ready(Some(Err(e)))`: the stream failed; the connection is dropped, the next polls
    ///   return the messages already received, `Event::Closed` (1006), then `None`.
    /// - `Ready(None)`: the connection is over (terminated): drop the `WebSocket`. After
    ///   `Event::Closed`, polling on until `None` lets a client wait for the server to close
    ///   TCP first (RFC 6455 §7.1.1), bounded by `Config::close_timeout`.
    ///
    /// Cancel safe: all progress is kept in `self`.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Event>>> {
        let (recv, conn, mut d) = self.duplex();
        recv.poll_event(conn, &mut d, cx)
    }

    /// Waits until a message may be queued: flushes while the output queue is at or above
    /// `Config::write_high_water` (h2's `poll_ready`) or a message is being compressed off the
    /// runtime (see [`offload`](crate::offload)). Ready at once when the connection is not open
    /// (the send then reports why).
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let (recv, conn, mut d) = self.duplex();
        poll_ready(conn, &mut d, Some(&mut recv.timer), cx)
    }

    /// Writes everything queued and flushes the stream. While the stream does not accept data
    /// the connection's timers still fire, so the close timeout releases a writer stuck on a
    /// peer that stopped reading; the unwritten output is then dropped and this returns
    /// [`Error::ConnectionClosed`].
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let (recv, conn, mut d) = self.duplex();
        poll_flush(conn, &mut d, Some(&mut recv.timer), cx)
    }

    /// Starts the closing handshake with code 1000 if the connection is open, then flushes
    /// (the `Sink::poll_close` semantics). The peer's answer arrives through
    /// [`recv`](Self::recv).
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.state() == State::Open {
            // A message still being compressed goes out before the close.
            if self.write.offload.is_pending() {
                ready!(self.poll_flush(cx))?;
            }
            self.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), R::now())?;
        }
        self.poll_flush(cx)
    }

    /// The next event: `Event::Message` (or `Event::Fragment` with
    /// `Config::deliver_fragments`), `Event::Ping`, `Event::Pong`, or `Event::Closed` (once);
    /// `None` once the connection is over. See [`poll_next_event`](Self::poll_next_event).
    ///
    /// Cancel safe.
    pub async fn recv(&mut self) -> Option<io::Result<Event>> {
        poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// The next data message, skipping pings and pongs (answered automatically) and
    /// assembling fragments in fragment mode; `None` once `Event::Closed` was consumed (see
    /// [`close_info`](Self::close_info)). The same as `StreamExt::next` without the `futures`
    /// feature. `Err` is an IO failure.
    ///
    /// Cancel safe.
    pub async fn recv_message(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| {
            let (recv, conn, mut d) = self.duplex();
            recv.poll_message(conn, &mut d, cx)
        })
        .await
    }

    /// The next data message as the pieces it arrived in (Node `binaryType = 'fragments'`):
    /// with `Config::deliver_fragments` every piece the connection delivered, without it one
    /// piece holding the whole message. Pings and pongs are skipped; `None` once
    /// `Event::Closed` was consumed (see [`close_info`](Self::close_info)).
    ///
    /// Cancel safe: pieces received before a cancellation are kept for the next call.
    pub async fn recv_pieces(&mut self) -> Option<io::Result<MessagePieces>> {
        poll_fn(|cx| {
            let (recv, conn, mut d) = self.duplex();
            recv.poll_pieces(conn, &mut d, cx)
        })
        .await
    }

    /// Sends a message: waits until the queue is below the high-water mark, queues it and
    /// writes everything queued.
    ///
    /// With permessage-deflate, a message of at least `DeflateConfig::offload_threshold` bytes
    /// that would be compressed is compressed in `spawn_blocking` (at most
    /// `DeflateConfig::concurrency_limit` at once per process), so the runtime keeps running
    /// other tasks meanwhile; see [`offload`](crate::offload).
    ///
    /// Cancel safety: cancelled before the message was queued (while waiting for room), it is
    /// dropped; cancelled after, it stays queued whole and any later flush, `send`, `recv` or
    /// `close` writes it, in order. That includes a cancellation while the message waits for a
    /// compression permit or is being compressed: the compression goes on, and the next call
    /// that polls the connection queues its result.
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        let msg = msg.into();
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.start_send(msg)?;
        self.flush().await
    }

    /// Queues a message after waiting until the queue is below the high-water mark, without
    /// writing it: many small messages then go out in few writes. The next
    /// [`flush`](Self::flush) or `send` writes it, and so does [`recv`](Self::recv) when it
    /// has delivered every message already received and is about to wait for more (an echo or
    /// request/response loop `recv` → `feed` needs no flush; a task that stops calling `recv`
    /// must `flush`).
    ///
    /// Cancel safety: the message is queued whole or not at all.
    pub async fn feed(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        let msg = msg.into();
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.start_send(msg)
    }

    /// Writes everything queued and flushes the stream. Cancel safe.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Sends a message framed once for many connections (encode-once broadcast). Cancel
    /// safety as [`send`](Self::send).
    pub async fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.conn.send_prepared(msg)?;
        self.flush().await
    }

    /// Streams one frame of a large message: the first call starts a message of `kind`, later
    /// calls continue it (their `kind` is ignored) until one with `fin`. Pings, pongs and
    /// close may interleave; whole messages may not (`SendError::MessageInProgress`). Cancel
    /// safety as [`send`](Self::send).
    pub async fn send_frame_part(&mut self, kind: MessageKind, data: impl Into<Bytes>, fin: bool) -> Result<(), Error> {
        let data = data.into();
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.conn.send_frame_part(kind, data, fin)?;
        self.flush().await
    }

    /// Sends a ping (payload at most 125 bytes); the pong arrives as `Event::Pong` from
    /// [`recv`](Self::recv). The ping is queued when the future is first polled.
    pub async fn ping(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.conn.send_ping(payload)?;
        self.flush().await
    }

    /// Sends an unsolicited pong (payload at most 125 bytes); pings are answered
    /// automatically. The pong is queued when the future is first polled.
    pub async fn pong(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.conn.send_pong(payload)?;
        self.flush().await
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123 bytes) and writes
    /// the close frame (Node `close(code, reason)`). It returns once the frame is written, not
    /// when the handshake completes: keep calling [`recv`](Self::recv), which delivers
    /// messages still arriving, then `Event::Closed` when the peer answers or
    /// `Config::close_timeout` expires. Closing twice is `SendError::CloseAlreadySent`.
    ///
    /// The frame is queued when the future is first polled, unless a message is still being
    /// compressed off the runtime (see [`offload`](crate::offload)): that message is queued
    /// first, then the close frame.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame::new(code.into(), reason);
        self.close_with(Some(frame)).await
    }

    /// [`close`](Self::close) with an optional frame: `None` sends a close frame without a
    /// status code (the peer sees 1005).
    pub async fn close_with(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        if self.write.offload.is_pending() && self.conn.state() == State::Open {
            self.flush().await?;
        }
        self.conn.close(frame, R::now())?;
        self.flush().await
    }
}

/// Both directions of the stream, as the receive loop sees them.
pub(crate) trait Duplex<R: Runtime> {
    /// One read into the connection (`Ready(Ok(0))`: EOF, handed to the connection).
    fn poll_read(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<usize>>;
    /// Finishes the message being compressed off the runtime, if any, then writes everything
    /// the connection queued and flushes (`Pending` until both are done).
    fn poll_write(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// The write-side state.
    fn state(&mut self) -> &mut WriteState<R>;
    /// A timer fired (it may have ended the connection): wake whoever waits to write.
    fn timer_fired(&mut self) {}
    /// The connection is over: shut the write side down (once, best effort).
    fn finish(&mut self, cx: &mut Context<'_>);
}

/// An unsplit stream.
pub(crate) struct Whole<'a, S, R: Runtime> {
    pub(crate) io: &'a mut S,
    pub(crate) write: &'a mut WriteState<R>,
}

impl<S, R: Io<S>> Duplex<R> for Whole<'_, S, R> {
    fn poll_read(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        wio::poll_read_into::<R, S, _>(self.io, conn, cx)
    }
    fn poll_write(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let compressing = self.write.offload.poll(conn, cx).is_pending();
        ready!(wio::poll_write_out(self.io, conn, self.write, cx))?;
        if compressing {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }
    fn state(&mut self) -> &mut WriteState<R> {
        self.write
    }
    fn finish(&mut self, cx: &mut Context<'_>) {
        wio::shutdown_once(self.io, self.write, cx);
    }
}

/// Fires due timers; records output dropped by a timer that ended the connection.
fn fire_timers<R: Runtime, D: Duplex<R> + ?Sized>(
    timer: &mut Timer<R>,
    conn: &mut Connection,
    d: &mut D,
    cx: &mut Context<'_>,
) -> bool {
    let had_output = conn.wants_write();
    if !timer.poll(conn, cx) {
        return false;
    }
    if had_output && conn.is_terminated() {
        d.state().dropped = true;
    }
    d.timer_fired();
    true
}

/// Flushes everything; with a timer, fires it while the stream does not accept data.
pub(crate) fn poll_flush<R: Runtime, D: Duplex<R> + ?Sized>(
    conn: &mut Connection,
    d: &mut D,
    mut timer: Option<&mut Timer<R>>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    loop {
        match d.poll_write(conn, cx) {
            Poll::Ready(Ok(())) => {
                return Poll::Ready(if d.state().dropped { Err(Error::ConnectionClosed) } else { Ok(()) })
            }
            Poll::Ready(Err(e)) => {
                conn.terminate();
                let first = !std::mem::replace(&mut d.state().dropped, true);
                return Poll::Ready(Err(if first { Error::Io(e) } else { Error::ConnectionClosed }));
            }
            Poll::Pending => {
                let fired = match timer.as_deref_mut() {
                    Some(t) => fire_timers(t, conn, d, cx),
                    None => false,
                };
                if !fired {
                    return Poll::Pending;
                }
            }
        }
    }
}

/// Waits until the queue is below the high-water mark (flushing), or the connection is not
/// open.
pub(crate) fn poll_ready<R: Runtime, D: Duplex<R> + ?Sized>(
    conn: &mut Connection,
    d: &mut D,
    timer: Option<&mut Timer<R>>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    if (conn.is_write_ready() && !d.state().offload.is_pending()) || conn.state() != State::Open {
        return Poll::Ready(Ok(()));
    }
    // Everything is flushed then, which satisfies even a zero high-water mark.
    poll_flush(conn, d, timer, cx)
}

/// Queues a message, or puts it in the offload slot when it is compressed off the runtime.
pub(crate) fn queue<R: Runtime>(conn: &mut Connection, offload: &mut Offload<R>, msg: Message) -> Result<(), Error> {
    Ok(offload.queue(conn, msg)?)
}

pub(crate) fn try_queue<R: Runtime>(
    conn: &mut Connection,
    offload: &mut Offload<R>,
    msg: Message,
) -> Result<(), TrySendError<Message>> {
    if conn.state() != State::Open {
        return Err(TrySendError::Closed(msg));
    }
    if !conn.is_write_ready() || offload.is_pending() {
        return Err(TrySendError::Full(msg));
    }
    offload.queue(conn, msg).map_err(TrySendError::Send)
}

/// The receiving side of the driving loop, shared by [`WebSocket`] and
/// [`WsReader`](crate::WsReader).
#[derive(Debug)]
pub(crate) struct RecvState<R: Runtime> {
    pub(crate) timer: Timer<R>,
    /// `Event::Closed`, held until the output closing queued is written.
    held: Option<Event>,
    /// An IO error met while writing after an event was already in hand; returned next.
    pending_error: Option<io::Error>,
    closed_reported: bool,
    /// Boxed: it is only there at the end (and is larger than most of the state).
    close_info: Option<Box<CloseInfo>>,
    /// The application's (or the driver's) pause, with Node's rules.
    pub(crate) pause: Pause,
    /// Pieces of the message being collected (fragment mode, `recv_pieces`, the Stream).
    pieces: PieceCollector,
    /// `Event::Closed` was consumed by the message-level API.
    messages_ended: bool,
}

impl<R: Runtime> Default for RecvState<R> {
    fn default() -> Self {
        Self {
            timer: Timer::default(),
            held: None,
            pending_error: None,
            closed_reported: false,
            close_info: None,
            pause: Pause::default(),
            pieces: PieceCollector::default(),
            messages_ended: false,
        }
    }
}

impl<R: Runtime> RecvState<R> {
    pub(crate) fn close_info(&self) -> Option<&CloseInfo> {
        self.close_info.as_deref()
    }

    /// The loop every adapter shares: (1) fire expired timers; (2) return a ready event (writing
    /// only an auto-pong or a queue past the high-water mark: the rest waits for step 3, so a
    /// read batch's answers share one write); (3) write queued output; (4) stop once
    /// terminated; (5) read when the connection wants input.
    pub(crate) fn poll_event<D: Duplex<R> + ?Sized>(
        &mut self,
        conn: &mut Connection,
        d: &mut D,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Event>>> {
        if let Some(e) = self.pending_error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            fire_timers(&mut self.timer, conn, d, cx);
            if let Some(event) = self.held.take() {
                match d.poll_write(conn, cx) {
                    Poll::Pending => {
                        // The close timer (armed above) bounds this wait.
                        self.held = Some(event);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(_)) => {
                        conn.terminate();
                        d.state().dropped = true;
                    }
                    Poll::Ready(Ok(())) => {}
                }
                return Poll::Ready(Some(Ok(event)));
            }
            // While a message the application handed over is being compressed, input is not
            // parsed: a close from the peer parsed now would queue its echo before that
            // message, which could then no longer be sent.
            let compressing = d.state().offload.is_pending() && !conn.is_terminated();
            if compressing {
                match d.poll_write(conn, cx) {
                    Poll::Ready(Err(e)) => return self.io_failed(conn, d, e),
                    Poll::Pending if d.state().offload.is_pending() => return Poll::Pending,
                    _ => continue,
                }
            }
            if !self.pause.is_paused() || conn.is_terminated() {
                if let Some(event) = conn.poll_event(R::now()) {
                    if let Event::Closed(info) = &event {
                        self.closed_reported = true;
                        self.close_info = Some(Box::new(info.clone()));
                        self.held = Some(event);
                        continue;
                    }
                    // Output is corked while input is buffered: everything queued in one read
                    // batch (replies the application fed, pongs) goes out in one write, made
                    // below before the next read. Exceptions: an auto-pong goes out at once
                    // (the application may take long before asking again) and a queue past
                    // the high-water mark is written to keep it bounded.
                    let urgent = matches!(event, Event::Ping(_)) || !conn.is_write_ready();
                    if urgent && conn.wants_write() {
                        if let Poll::Ready(Err(e)) = d.poll_write(conn, cx) {
                            conn.terminate();
                            d.state().dropped = true;
                            self.pending_error = Some(e);
                        }
                    }
                    return Poll::Ready(Some(Ok(event)));
                }
            }
            let write = d.poll_write(conn, cx);
            if let Poll::Ready(Err(e)) = write {
                return self.io_failed(conn, d, e);
            }
            if conn.is_terminated() {
                d.finish(cx);
                return Poll::Ready(None);
            }
            if self.pause.is_paused() {
                return Poll::Pending;
            }
            if !conn.wants_read() {
                // A held close echo waits for the driver to release it; the peer may well have
                // closed TCP already (a server failing the connection does).
                if write.is_pending() || conn.is_close_echo_held() {
                    return Poll::Pending;
                }
                let e = io::Error::other("ws-proto neither wants input nor is terminated");
                return self.io_failed(conn, d, e);
            }
            match d.poll_read(conn, cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return self.io_failed(conn, d, e),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The stream failed: drop the connection. Its `Event::Closed` (1006) comes next, unless
    /// it was already reported.
    fn io_failed<D: Duplex<R> + ?Sized>(
        &mut self,
        conn: &mut Connection,
        d: &mut D,
        e: io::Error,
    ) -> Poll<Option<io::Result<Event>>> {
        conn.terminate();
        d.state().dropped = true;
        if self.closed_reported {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Err(e)))
        }
    }

    /// The next data message as pieces; `None` once `Event::Closed` was consumed.
    pub(crate) fn poll_pieces<D: Duplex<R> + ?Sized>(
        &mut self,
        conn: &mut Connection,
        d: &mut D,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<MessagePieces>>> {
        if self.messages_ended {
            return Poll::Ready(None);
        }
        loop {
            match ready!(self.poll_event(conn, d, cx)) {
                None | Some(Ok(Event::Closed(_))) => {
                    self.messages_ended = true;
                    return Poll::Ready(None);
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(Event::Message(m))) => return Poll::Ready(Some(Ok(m.into()))),
                Some(Ok(Event::Fragment(f))) => {
                    if let Some(p) = self.pieces.push(f) {
                        return Poll::Ready(Some(Ok(p)));
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next data message; `None` once `Event::Closed` was consumed.
    pub(crate) fn poll_message<D: Duplex<R> + ?Sized>(
        &mut self,
        conn: &mut Connection,
        d: &mut D,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        if self.messages_ended {
            return Poll::Ready(None);
        }
        loop {
            match ready!(self.poll_event(conn, d, cx)) {
                None | Some(Ok(Event::Closed(_))) => {
                    self.messages_ended = true;
                    return Poll::Ready(None);
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(Error::Io(e)))),
                Some(Ok(Event::Message(m))) => return Poll::Ready(Some(Ok(m))),
                Some(Ok(Event::Fragment(f))) => {
                    if let Some(p) = self.pieces.push(f) {
                        return Poll::Ready(Some(Ok(p.into_message())));
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }
}

#[cfg(feature = "futures")]
impl<S: Unpin, R: Io<S>> futures_core::Stream for WebSocket<S, R> {
    /// Data messages only: pings and pongs are answered and skipped (use
    /// [`WebSocket::recv`] to see them), fragments are assembled, and the stream ends after
    /// the close handshake ([`WebSocket::close_info`] tells how). `Err` is an IO failure.
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let (recv, conn, mut d) = self.get_mut().duplex();
        recv.poll_message(conn, &mut d, cx)
    }
}

#[cfg(feature = "futures")]
impl<S: Unpin, R: Io<S>> futures_sink::Sink<Message> for WebSocket<S, R> {
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

    /// Sends a close (1000) if the connection is open and flushes; read on (the `Stream`) for
    /// the peer's answer.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Self::poll_close(self.get_mut(), cx)
    }
}
