//! [`WsByteStream`]: a WebSocket as a tokio byte stream (Node `createWebSocketStream`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use ws_proto::{Buf, Bytes, CloseCode, CloseFrame, Event, Message, State};

use crate::io::{Half, Wakers};
use crate::runtime::{Io, Runtime};
use crate::stream::WebSocket;

/// A [`WebSocket`] as `AsyncRead + AsyncWrite` (Node `createWebSocketStream`), for code that
/// speaks bytes: `tokio::io::copy`, codecs, protocols tunnelled over WebSocket.
///
/// - **Writes** become binary messages, one per `poll_write` call (wrap the stream in a
///   `tokio::io::BufWriter` for fewer, larger messages). Writing waits while the output
///   queue is above `Config::write_high_water`.
/// - **Reads** return the bytes of received messages, text or binary, concatenated (message
///   boundaries are not preserved). Pings are answered and skipped.
/// - **`poll_shutdown`** starts the closing handshake (1000) and flushes: a half-close, as in
///   Node's duplex. Reading goes on until the peer's close frame arrives, which is the
///   readable side's end (EOF).
/// - **Errors**: a connection that ended abnormally (protocol error → `InvalidData`, timeout →
///   `TimedOut`, EOF without a close frame → `UnexpectedEof`) is an `Err` from `poll_read`,
///   as is an IO failure. Writing after the connection closed is `BrokenPipe`.
///
/// Reading also writes (pongs, the close echo), so both directions are polled with a waker
/// that wakes the reading and the writing task alike: the halves of `tokio::io::split` may
/// live in different tasks.
#[derive(Debug)]
pub struct WsByteStream<S, R: Runtime> {
    ws: WebSocket<S, R>,
    wakers: Arc<Wakers>,
    /// Unread bytes of the current message.
    chunk: Bytes,
    /// The readable side ended.
    eof: bool,
}

impl<S, R: Runtime> WsByteStream<S, R> {
    /// Wraps a connection.
    pub fn new(ws: WebSocket<S, R>) -> Self {
        Self { ws, wakers: Arc::default(), chunk: Bytes::new(), eof: false }
    }

    /// The connection.
    pub fn get_ref(&self) -> &WebSocket<S, R> {
        &self.ws
    }

    /// The connection, mutably (sending through it directly interleaves messages with the
    /// stream's writes).
    pub fn get_mut(&mut self) -> &mut WebSocket<S, R> {
        &mut self.ws
    }

    /// The connection back (bytes of the current message not yet read are lost).
    pub fn into_inner(self) -> WebSocket<S, R> {
        self.ws
    }
}

impl<S, R: Runtime> From<WebSocket<S, R>> for WsByteStream<S, R> {
    fn from(ws: WebSocket<S, R>) -> Self {
        Self::new(ws)
    }
}

impl<S, R: Io<S>> WsByteStream<S, R> {
    /// Reads message bytes into `buf` (`Ready(Ok(0))`: the peer closed, or `buf` is empty).
    /// A connection that ended with an error (protocol error, timeout, EOF without a close) is
    /// an `io::Error` of the matching kind.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let waker = self.wakers.fan_out(Half::Reader, cx);
        let cx = &mut Context::from_waker(&waker);
        while self.chunk.is_empty() && !self.eof {
            match ready!(self.ws.poll_next_event(cx)) {
                Some(Ok(Event::Message(m))) => self.chunk = m.into_bytes(),
                Some(Ok(Event::Fragment(f))) => self.chunk = f.data,
                Some(Ok(Event::Closed(info))) => {
                    self.eof = true;
                    if let Some(e) = info.error {
                        return Poll::Ready(Err(e.into()));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => self.eof = true,
            }
        }
        let n = self.chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Poll::Ready(Ok(n))
    }

    /// Sends `buf` as one binary message, waiting while the output is above the high-water
    /// mark. What the stream takes at once is written at once, as a socket would (a copy loop
    /// may flush only at EOF); the rest goes out with the next write, flush or read.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.ws.ready_state() != State::Open {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let waker = self.wakers.fan_out(Half::Writer, cx);
        let cx = &mut Context::from_waker(&waker);
        ready!(self.ws.poll_ready(cx))?;
        self.ws.start_send(Message::Binary(Bytes::copy_from_slice(buf)))?;
        // A failure shows as the connection's end: the next write is `BrokenPipe` and the
        // reader gets the error. A pending write wakes a reading task to go on with it.
        if self.ws.poll_flush(cx).is_pending() {
            self.wakers.wake_half(Half::Reader);
        }
        Poll::Ready(Ok(buf.len()))
    }

    /// Writes everything queued.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let waker = self.wakers.fan_out(Half::Writer, cx);
        Poll::Ready(Ok(ready!(self.ws.poll_flush(&mut Context::from_waker(&waker)))?))
    }

    /// Half-closes: sends a close frame (1000) after everything written so far, and flushes.
    /// Reading goes on until the peer's close.
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let waker = self.wakers.fan_out(Half::Writer, cx);
        let cx = &mut Context::from_waker(&waker);
        if self.ws.ready_state() == State::Open && self.ws.write.offload.is_pending() {
            // The last write, still being compressed off the runtime, goes out before the close.
            ready!(self.ws.poll_flush(cx))?;
        }
        if self.ws.ready_state() == State::Open {
            self.ws.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), R::now()).map_err(crate::Error::from)?;
        }
        match ready!(self.ws.poll_flush(cx)) {
            // The connection may be over already: the half-close is then done.
            Ok(()) | Err(crate::Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }
}

impl<S: Unpin, R: Io<S>> tokio::io::AsyncRead for WsByteStream<S, R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = ready!(Self::poll_read(self.get_mut(), cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: Unpin, R: Io<S>> tokio::io::AsyncWrite for WsByteStream<S, R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Self::poll_write(self.get_mut(), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Self::poll_flush(self.get_mut(), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Self::poll_close(self.get_mut(), cx)
    }
}

impl<S: Unpin, R: Io<S>> futures_io::AsyncRead for WsByteStream<S, R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Self::poll_read(self.get_mut(), cx, buf)
    }
}

impl<S: Unpin, R: Io<S>> futures_io::AsyncWrite for WsByteStream<S, R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Self::poll_write(self.get_mut(), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Self::poll_flush(self.get_mut(), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Self::poll_close(self.get_mut(), cx)
    }
}
