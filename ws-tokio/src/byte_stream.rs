//! [`WsByteStream`]: a WebSocket as a tokio byte stream (Node `createWebSocketStream`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ws_proto::{Buf, Bytes, CloseCode, CloseFrame, Event, Message, State, TimeoutKind};

use crate::io::{self as wio, Half, Wakers};
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
pub struct WsByteStream<S> {
    ws: WebSocket<S>,
    wakers: Arc<Wakers>,
    /// Unread bytes of the current message.
    chunk: Bytes,
    /// The readable side ended.
    eof: bool,
}

impl<S> WsByteStream<S> {
    /// Wraps a connection.
    pub fn new(ws: WebSocket<S>) -> Self {
        Self { ws, wakers: Arc::default(), chunk: Bytes::new(), eof: false }
    }

    /// The connection.
    pub fn get_ref(&self) -> &WebSocket<S> {
        &self.ws
    }

    /// The connection, mutably (sending through it directly interleaves messages with the
    /// stream's writes).
    pub fn get_mut(&mut self) -> &mut WebSocket<S> {
        &mut self.ws
    }

    /// The connection back (bytes of the current message not yet read are lost).
    pub fn into_inner(self) -> WebSocket<S> {
        self.ws
    }
}

impl<S> From<WebSocket<S>> for WsByteStream<S> {
    fn from(ws: WebSocket<S>) -> Self {
        Self::new(ws)
    }
}

/// The `io::Error` for a connection the library ended.
fn close_error(e: ws_proto::Error) -> io::Error {
    let kind = match &e {
        ws_proto::Error::Protocol(_) => io::ErrorKind::InvalidData,
        ws_proto::Error::Timeout(TimeoutKind::Close | TimeoutKind::Pong) => io::ErrorKind::TimedOut,
        ws_proto::Error::UnexpectedEof => io::ErrorKind::UnexpectedEof,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsByteStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let waker = this.wakers.fan_out(Half::Reader, cx);
        let cx = &mut Context::from_waker(&waker);
        loop {
            if !this.chunk.is_empty() {
                let n = this.chunk.len().min(buf.remaining());
                buf.put_slice(&this.chunk[..n]);
                this.chunk.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.ws.poll_next_event(cx)) {
                Some(Ok(Event::Message(m))) => this.chunk = m.into_bytes(),
                Some(Ok(Event::Fragment(f))) => this.chunk = f.data,
                Some(Ok(Event::Closed(info))) => {
                    this.eof = true;
                    if let Some(e) = info.error {
                        return Poll::Ready(Err(close_error(e)));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => this.eof = true,
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsByteStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.ws.ready_state() != State::Open {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let waker = this.wakers.fan_out(Half::Writer, cx);
        ready!(this.ws.poll_ready(&mut Context::from_waker(&waker)))?;
        this.ws.start_send(Message::Binary(Bytes::copy_from_slice(buf)))?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let waker = this.wakers.fan_out(Half::Writer, cx);
        Poll::Ready(Ok(ready!(this.ws.poll_flush(&mut Context::from_waker(&waker)))?))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ws.ready_state() == State::Open && this.ws.write.offload.is_pending() {
            // The last write, still being compressed off the runtime, goes out before the close.
            let waker = this.wakers.fan_out(Half::Writer, cx);
            ready!(this.ws.poll_flush(&mut Context::from_waker(&waker)))?;
        }
        if this.ws.ready_state() == State::Open {
            this.ws.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), wio::now()).map_err(crate::Error::from)?;
        }
        let waker = this.wakers.fan_out(Half::Writer, cx);
        match ready!(this.ws.poll_flush(&mut Context::from_waker(&waker))) {
            // The connection may be over already: the half-close is then done.
            Ok(()) | Err(crate::Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }
}
