//! [`WsByteStream`]: a WebSocket as a `futures-io` byte stream (Node `createWebSocketStream`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use ws_proto::{Buf, Bytes, CloseCode, CloseFrame, Event, Message, State, TimeoutKind};

use crate::error::Error;
use crate::io::{self as wio, Side, Wakers};
use crate::stream::WebSocket;

/// A [`WebSocket`] as `AsyncRead + AsyncWrite` (Node `createWebSocketStream`), for code that
/// speaks bytes: `futures::io::copy`, codecs, protocols tunnelled over WebSocket.
///
/// - **Writes** become binary messages, one per `poll_write` (wrap the stream in a
///   `BufWriter` for fewer, larger messages), written at once as far as the stream takes them;
///   the rest goes out with the next write, flush or read. Writing waits while the output queue
///   is at or above `Config::write_high_water`.
/// - **Reads** return the payloads of received messages, text or binary, concatenated
///   (message boundaries are lost). Pings are answered and skipped.
/// - **`poll_close`** starts the closing handshake (1000) and flushes: a half-close, as in
///   Node's duplex. Reading goes on until the peer's close frame, which is the readable side's
///   EOF.
/// - **Errors**: a connection that ended abnormally is an `Err` from `poll_read` (protocol
///   error → `InvalidData`, timeout → `TimedOut`, EOF without a close frame →
///   `UnexpectedEof`), as is an IO failure. Writing after the connection closed is
///   `BrokenPipe`.
///
/// Reading also writes (pongs, the close echo), so both directions poll the stream with a
/// waker that wakes the reading and the writing task alike: the halves of
/// `futures::io::AsyncReadExt::split` may live in different tasks.
#[derive(Debug)]
pub struct WsByteStream<S> {
    ws: WebSocket<S>,
    wakers: Arc<Wakers>,
    /// What is left of the message being read.
    chunk: Bytes,
    /// The readable side is over.
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

    /// The connection, mutably (sending through it interleaves messages with the writes).
    pub fn get_mut(&mut self) -> &mut WebSocket<S> {
        &mut self.ws
    }

    /// The connection back (unread bytes of the current message are lost).
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
fn ended(e: ws_proto::Error) -> io::Error {
    let kind = match &e {
        ws_proto::Error::Protocol(_) => io::ErrorKind::InvalidData,
        ws_proto::Error::Timeout(TimeoutKind::Close | TimeoutKind::Pong) => io::ErrorKind::TimedOut,
        ws_proto::Error::UnexpectedEof => io::ErrorKind::UnexpectedEof,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsByteStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let waker = this.wakers.waker(Side::Reader, cx);
        let cx = &mut Context::from_waker(&waker);
        while this.chunk.is_empty() && !this.eof {
            match ready!(this.ws.poll_next_event(cx)) {
                Some(Ok(Event::Message(m))) => this.chunk = m.into_bytes(),
                Some(Ok(Event::Fragment(f))) => this.chunk = f.data,
                Some(Ok(Event::Closed(info))) => {
                    this.eof = true;
                    if let Some(e) = info.error {
                        return Poll::Ready(Err(ended(e)));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => this.eof = true,
            }
        }
        let n = this.chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&this.chunk[..n]);
        this.chunk.advance(n);
        Poll::Ready(Ok(n))
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
        let waker = this.wakers.waker(Side::Writer, cx);
        let cx = &mut Context::from_waker(&waker);
        ready!(this.ws.poll_ready(cx))?;
        this.ws.start_send(Message::Binary(Bytes::copy_from_slice(buf)))?;
        // Write at once what the stream takes, like a socket would: `futures::io::copy` flushes
        // only at EOF. The rest goes out with the next write, flush or read (a reading task is
        // woken for that); a failure shows as the connection's end (the next write is
        // `BrokenPipe`, the reader gets the error).
        if this.ws.poll_flush(cx).is_pending() {
            this.wakers.wake(Side::Reader);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let waker = this.wakers.waker(Side::Writer, cx);
        ready!(this.ws.poll_flush(&mut Context::from_waker(&waker)))?;
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ws.ready_state() == State::Open {
            this.ws.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), wio::now()).map_err(Error::Send)?;
        }
        let waker = this.wakers.waker(Side::Writer, cx);
        match ready!(this.ws.poll_flush(&mut Context::from_waker(&waker))) {
            // Already over: the half-close is as done as it gets.
            Ok(()) | Err(Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }
}
