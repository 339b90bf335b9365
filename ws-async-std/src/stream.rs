//! [`WebSocket`]: a `ws_proto::Connection` over a `futures-io` stream.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use ws_proto::{
    Bytes, CloseCode, CloseFrame, CloseInfo, Connection, Event, Message, MessageKind, PreparedMessage, State,
};

use crate::drive::{self, MessagePieces, Receiver, Transport};
use crate::error::{Error, TrySendError};
use crate::io::{self as wio, WriteState};

/// A WebSocket connection over a `futures-io` stream `S`: an `async_net::TcpStream` (smol), an
/// `async_std::net::TcpStream`, `async_io::Async<…>`, a `futures-rustls` stream, a Unix
/// socket, an in-memory pipe…
///
/// Get one from [`connect`](crate::connect) / [`connect_with`](crate::connect_with) (client),
/// [`accept_with`](crate::accept_with) and its variants (server), or wrap an upgraded stream
/// with [`from_connection`](Self::from_connection) / [`from_parts`](Self::from_parts).
///
/// The protocol lives in [`ws_proto::Connection`]: answering pings, echoing the peer's close,
/// failing on protocol errors with the right close code, limits, keepalive and close timers.
/// This type moves bytes and runs one resettable `async_io::Timer`.
///
/// # Receiving
///
/// [`recv`](Self::recv) returns every event: messages (fragments with
/// `Config::deliver_fragments`), pings, pongs, and `Event::Closed` exactly once, then `None`.
/// It also writes what the connection queued, so pongs, close echoes and keepalive pings go
/// out while the application only reads. The `Stream` implementation and
/// [`recv_message`](Self::recv_message) yield data messages only. **Protocol errors are never
/// `Err`**: a peer breaking the protocol, a timeout or an EOF end in `Event::Closed(info)`;
/// `Err` is a failure of the stream itself.
///
/// Input is read only while the `WebSocket` is polled for events and the connection wants
/// more, so not receiving is backpressure towards the peer. Timers (keepalive, pong deadline,
/// close timeout) also run only while a method is polled.
///
/// # Sending
///
/// [`send`](Self::send) queues and writes; [`feed`](Self::feed) queues only (the next `recv`,
/// `flush` or `send` writes). Both first wait while the output queue is at or above
/// `Config::write_high_water` ([`poll_ready`](Self::poll_ready)), so a peer that does not read
/// bounds this side's memory to about the high-water mark plus one message.
///
/// # Cancel safety
///
/// The async methods keep their progress in `self`, never on their own stack:
///
/// | method | cancelled (e.g. losing a `select!`) |
/// |---|---|
/// | [`recv`](Self::recv), [`recv_message`](Self::recv_message), `StreamExt::next` | safe: no event is lost or duplicated; partially read frames stay buffered |
/// | [`recv_pieces`](Self::recv_pieces) | safe: pieces collected so far are kept for the next call |
/// | [`flush`](Self::flush) | safe: unwritten bytes stay queued, in order |
/// | [`send`](Self::send), [`feed`](Self::feed), [`send_prepared`](Self::send_prepared), [`send_frame_part`](Self::send_frame_part) | all or nothing: cancelled while waiting for room, nothing was queued; once queued, the message stays queued whole and any later `flush`, `send` or `recv` writes it |
/// | [`close`](Self::close), [`close_with`](Self::close_with), [`ping`](Self::ping), [`pong`](Self::pong) | the frame is queued at the first poll; cancelling later only stops waiting for the write |
///
/// # Runtime
///
/// Any executor: the stream brings its own readiness, and the timer is `async_io`'s (driven by
/// its reactor thread, or by `async_io::block_on`, which both async-std and smol use).
#[derive(Debug)]
pub struct WebSocket<S> {
    pub(crate) io: S,
    pub(crate) conn: Connection,
    pub(crate) write: WriteState,
    pub(crate) recv: Receiver,
    pub(crate) url: Option<String>,
}

/// The unsplit stream as a [`Transport`].
pub(crate) struct Whole<'a, S> {
    io: &'a mut S,
    write: &'a mut WriteState,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport for Whole<'_, S> {
    fn read(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        wio::poll_read_into(self.io, conn, cx)
    }
    fn write(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        wio::poll_write_out(self.io, conn, self.write, cx)
    }
    fn state(&mut self) -> &mut WriteState {
        self.write
    }
    fn finish(&mut self, cx: &mut Context<'_>) {
        wio::finish_once(self.io, self.write, cx);
    }
}

impl<S> WebSocket<S> {
    /// Drives `conn` over `io`, a stream whose handshake is done. Output `conn` already queued
    /// (a server's `101` from `UpgradeRequest::accept`) is written by the next call that
    /// flushes.
    pub fn from_connection(io: S, conn: Connection) -> Self {
        Self { io, conn, write: WriteState::default(), recv: Receiver::default(), url: None }
    }

    /// [`from_connection`](Self::from_connection) with bytes already read from `io` past the
    /// handshake (an HTTP server's leftover read buffer, Node's `head`), handed to the
    /// connection first.
    pub fn from_parts(io: S, read_buf: Bytes, mut conn: Connection) -> Self {
        conn.receive(&read_buf);
        Self::from_connection(io, conn)
    }

    /// Records the URL a client connected to, for [`url`](Self::url).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The URL this client connected to (Node `url`); `None` on a server.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Open, closing or closed (Node `readyState`; a `WebSocket` exists only after its
    /// handshake, so never connecting). `Closed`: the close handshake is done or the connection
    /// failed; `recv` may still be finishing with the transport.
    pub fn ready_state(&self) -> State {
        self.conn.state()
    }

    /// Bytes queued and not yet written, framing included (Node `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.conn.buffered_amount()
    }

    /// Whether the output queue is below `Config::write_high_water`: a send would not wait.
    pub fn is_write_ready(&self) -> bool {
        self.conn.is_write_ready()
    }

    /// Bytes received from the peer so far.
    pub fn bytes_received(&self) -> u64 {
        self.conn.bytes_received()
    }

    /// The negotiated subprotocol (Node `protocol`).
    pub fn protocol(&self) -> Option<&str> {
        self.conn.negotiated().subprotocol.as_deref()
    }

    /// The negotiated `Sec-WebSocket-Extensions` value (Node `extensions`).
    pub fn extensions(&self) -> Option<&str> {
        self.conn.negotiated().extensions.as_deref()
    }

    /// The protocol version: 13, or 8 for HyBi-07..12 peers.
    pub fn protocol_version(&self) -> u8 {
        self.conn.negotiated().version
    }

    /// How the connection ended, once `Event::Closed` was returned (also when the `Stream` or
    /// [`recv_message`](Self::recv_message) consumed it).
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.recv.close_info()
    }

    /// Stops consuming input (Node `pause()`): the receiving methods return no event and read
    /// nothing, but still write queued output, run due timers and report `Event::Closed` if a
    /// timer or [`terminate`](Self::terminate) ends the connection. Pings not yet read are not
    /// answered, so a peer's pong deadline may expire while paused.
    ///
    /// Not calling `recv` has the same backpressure effect; `pause` is for code that keeps
    /// polling (a `select!` loop).
    pub fn pause(&mut self) {
        self.recv.paused = true;
    }

    /// Consumes input again (Node `resume()`).
    pub fn resume(&mut self) {
        self.recv.paused = false;
    }

    /// Whether input is paused (Node `isPaused`).
    pub fn is_paused(&self) -> bool {
        self.recv.paused
    }

    /// The protocol state and its settings.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The protocol state, mutably (e.g. `fail(code, reason, now)`): what it queues is written
    /// by the next flush, `send` or `recv`; events taken here with `poll_event` bypass `recv`.
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The stream, mutably: reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The stream back (queued output is lost).
    pub fn into_inner(self) -> S {
        self.io
    }

    /// The stream and the connection, to drive them another way.
    pub fn into_parts(self) -> (S, Connection) {
        (self.io, self.conn)
    }

    /// Drops the connection without a closing handshake (Node `terminate()`): queued output
    /// is discarded; the next [`recv`](Self::recv) reports `Event::Closed` (1006) unless it was
    /// reported already, then `None`. Drop the `WebSocket` to close the stream.
    pub fn terminate(&mut self) {
        self.conn.terminate();
        self.write.dropped = true;
    }

    /// Queues a message without waiting (call [`poll_ready`](Self::poll_ready) first to respect
    /// the high-water mark). Errors when the connection is not open or a fragmented message is
    /// in progress.
    pub fn start_send(&mut self, msg: Message) -> Result<(), Error> {
        drive::queue(&mut self.conn, msg)
    }

    /// Queues a message if the output queue is below the high-water mark, without waiting or
    /// writing (the next `recv`, `flush` or `send` writes it): for broadcasting to consumers
    /// that may be slow, [`TrySendError::Full`] hands the message back.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), TrySendError<Message>> {
        drive::try_queue(&mut self.conn, msg.into())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    fn parts(&mut self) -> (&mut Receiver, &mut Connection, Whole<'_, S>) {
        (&mut self.recv, &mut self.conn, Whole { io: &mut self.io, write: &mut self.write })
    }

    /// Polls for the next event, driving the connection: runs due timers, returns a ready
    /// event (first writing what producing it queued, if the stream takes it), writes queued
    /// output, and reads when the connection wants input.
    ///
    /// - `Ready(Some(Ok(event)))`; `Event::Closed` comes once, after what closing queued (the
    ///   echo, a server's half-close) was written (bounded by the close timeout).
    /// - `Ready(Some(Err(e)))`: the stream failed; the connection is dropped, the next poll
    ///   returns `Event::Closed` (1006), then `None`.
    /// - `Ready(None)`: the connection is over. After `Event::Closed`, polling until `None`
    ///   lets a client wait for the server to close TCP first (RFC 6455 §7.1.1), bounded by
    ///   `Config::close_timeout`.
    ///
    /// Cancel safe.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Event>>> {
        let (recv, conn, mut t) = self.parts();
        recv.poll_event(conn, &mut t, cx)
    }

    /// Ready when a message may be queued: flushes while the output is at or above
    /// `Config::write_high_water` (h2's `poll_ready`). Ready at once when the connection is
    /// not open (the send then says why).
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let (recv, conn, mut t) = self.parts();
        drive::poll_ready(conn, &mut t, Some(&mut recv.timer), cx)
    }

    /// Writes everything queued and flushes. While the stream takes no data the timers still
    /// run, so the close timeout releases a writer stuck on a peer that stopped reading: the
    /// output is then dropped and this returns [`Error::ConnectionClosed`].
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let (recv, conn, mut t) = self.parts();
        drive::poll_flush(conn, &mut t, Some(&mut recv.timer), cx)
    }

    /// Starts the closing handshake (1000) if the connection is open, then flushes: the
    /// `Sink::poll_close` semantics. The peer's answer arrives through [`recv`](Self::recv).
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.state() == State::Open {
            self.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), wio::now())?;
        }
        self.poll_flush(cx)
    }

    /// The next event: `Event::Message` (`Event::Fragment` in fragment mode), `Event::Ping`,
    /// `Event::Pong`, or `Event::Closed` once; `None` when the connection is over. See
    /// [`poll_next_event`](Self::poll_next_event).
    ///
    /// Cancel safe.
    pub async fn recv(&mut self) -> Option<io::Result<Event>> {
        poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// The next data message, skipping pings and pongs (answered automatically) and assembling
    /// fragments; `None` once `Event::Closed` was consumed (see
    /// [`close_info`](Self::close_info)). Equivalent to `StreamExt::next`. `Err` is an IO
    /// failure.
    ///
    /// Cancel safe.
    pub async fn recv_message(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| {
            let (recv, conn, mut t) = self.parts();
            recv.poll_message(conn, &mut t, cx)
        })
        .await
    }

    /// The next data message as the pieces it arrived in (Node `binaryType = 'fragments'`):
    /// every fragment with `Config::deliver_fragments`, else one piece. Pings and pongs are
    /// skipped; `None` once `Event::Closed` was consumed.
    ///
    /// Cancel safe: pieces received before a cancellation are kept for the next call.
    pub async fn recv_pieces(&mut self) -> Option<io::Result<MessagePieces>> {
        poll_fn(|cx| {
            let (recv, conn, mut t) = self.parts();
            recv.poll_pieces(conn, &mut t, cx)
        })
        .await
    }

    /// Sends a message: waits for room below the high-water mark, queues it, and writes
    /// everything queued.
    ///
    /// Cancel safety: all or nothing (see the table on [`WebSocket`]).
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.feed(msg).await?;
        self.flush().await
    }

    /// Waits for room below the high-water mark and queues a message without writing it, so
    /// many small messages share writes. The next [`flush`](Self::flush), `send` or
    /// [`recv`](Self::recv) writes it.
    ///
    /// Cancel safety: queued whole or not at all.
    pub async fn feed(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        let msg = msg.into();
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.start_send(msg)
    }

    /// Writes everything queued and flushes the stream. Cancel safe.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Sends a message framed once for many connections (encode-once broadcast). Cancel safety
    /// as [`send`](Self::send).
    pub async fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.conn.send_prepared(msg)?;
        self.flush().await
    }

    /// Sends one frame of a message streamed in parts: the first call starts a message of
    /// `kind`, later ones continue it (their `kind` is ignored) up to the one with `fin`.
    /// Pings, pongs and a close may interleave; whole messages may not
    /// (`SendError::MessageInProgress`). Cancel safety as [`send`](Self::send).
    pub async fn send_frame_part(&mut self, kind: MessageKind, data: impl Into<Bytes>, fin: bool) -> Result<(), Error> {
        let data = data.into();
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.conn.send_frame_part(kind, data, fin)?;
        self.flush().await
    }

    /// Sends a ping (payload at most 125 bytes); the pong arrives as `Event::Pong` from
    /// [`recv`](Self::recv). Queued at the first poll.
    pub async fn ping(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.conn.send_ping(payload)?;
        self.flush().await
    }

    /// Sends an unsolicited pong (payload at most 125 bytes); pings are answered
    /// automatically. Queued at the first poll.
    pub async fn pong(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.conn.send_pong(payload)?;
        self.flush().await
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123 bytes) and writes the
    /// close frame (Node `close(code, reason)`). Returns once the frame is written: keep calling
    /// [`recv`](Self::recv), which delivers messages still arriving, then `Event::Closed` when
    /// the peer answers or `Config::close_timeout` expires. Closing twice is
    /// `SendError::CloseAlreadySent`. Queued at the first poll.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.close_with(Some(CloseFrame::new(code.into(), reason))).await
    }

    /// [`close`](Self::close) with an optional frame: `None` sends a close frame without a code
    /// (the peer sees 1005).
    pub async fn close_with(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.conn.close(frame, wio::now())?;
        self.flush().await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WebSocket<S> {
    /// Data messages only: pings and pongs are answered and skipped ([`WebSocket::recv`] shows
    /// them), fragments are assembled, and the stream ends with the close handshake
    /// ([`WebSocket::close_info`] tells how). `Err` is an IO failure.
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let (recv, conn, mut t) = self.get_mut().parts();
        recv.poll_message(conn, &mut t, cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WebSocket<S> {
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

    /// Sends a close (1000) if the connection is open and flushes; keep reading (the `Stream`)
    /// for the peer's answer.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_close(cx)
    }
}
