//! Streams for the tests, each implementing both tokio's and futures-io's `AsyncRead` and
//! `AsyncWrite`, so that every runtime's ws-async binding drives them:
//!
//! - [`Pipe`]: an in-memory duplex pipe of bounded capacity (like `tokio::io::duplex`).
//! - [`AnyStream`]: any stream of either family, boxed (TLS streams, test wrappers).
//! - [`Raw`]: a runtime's native stream seen through ws-async's `Io` trait, for hand-rolled
//!   peers that write and read bytes with tokio's `AsyncReadExt`/`AsyncWriteExt` on any runtime.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};

use tokio::io::ReadBuf;
use ws_async::runtime::Io;

use super::TestRt;

#[derive(Debug)]
struct Chan {
    buf: VecDeque<u8>,
    capacity: usize,
    /// The writer closed or was dropped: EOF once `buf` is drained.
    write_closed: bool,
    /// The reader was dropped: writes fail.
    read_closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Chan {
    fn new(capacity: usize) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self {
            buf: VecDeque::new(),
            capacity,
            write_closed: false,
            read_closed: false,
            reader: None,
            writer: None,
        }))
    }
}

fn wake(w: &mut Option<Waker>) {
    if let Some(w) = w.take() {
        w.wake();
    }
}

/// The reading end of one direction of a [`Pipe`].
#[derive(Debug)]
pub struct PipeReader(Arc<Mutex<Chan>>);

/// The writing end of one direction of a [`Pipe`].
#[derive(Debug)]
pub struct PipeWriter(Arc<Mutex<Chan>>);

/// One end of an in-memory duplex pipe: each direction holds at most `capacity` bytes, so a
/// side that does not read blocks the other's writes. Dropping (or closing) an end is EOF for
/// the other; writing to an end whose peer is gone fails with `BrokenPipe`.
#[derive(Debug)]
pub struct Pipe {
    reader: PipeReader,
    writer: PipeWriter,
}

impl Pipe {
    /// The reading and writing halves, for two tasks.
    pub fn split(self) -> (PipeReader, PipeWriter) {
        (self.reader, self.writer)
    }
}

/// Two connected ends of a pipe holding up to `capacity` bytes each way.
pub fn duplex(capacity: usize) -> (Pipe, Pipe) {
    let (ab, ba) = (Chan::new(capacity), Chan::new(capacity));
    (
        Pipe { reader: PipeReader(ba.clone()), writer: PipeWriter(ab.clone()) },
        Pipe { reader: PipeReader(ab), writer: PipeWriter(ba) },
    )
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        let mut c = self.0.lock().unwrap();
        c.read_closed = true;
        wake(&mut c.writer);
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        let mut c = self.0.lock().unwrap();
        c.write_closed = true;
        wake(&mut c.reader);
    }
}

impl PipeReader {
    fn read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut c = self.0.lock().unwrap();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if c.buf.is_empty() {
            if c.write_closed {
                return Poll::Ready(Ok(0));
            }
            c.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(c.buf.len());
        for (dst, src) in buf.iter_mut().zip(c.buf.drain(..n)) {
            *dst = src;
        }
        wake(&mut c.writer);
        Poll::Ready(Ok(n))
    }
}

impl PipeWriter {
    fn write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut c = self.0.lock().unwrap();
        if c.read_closed || c.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = c.capacity - c.buf.len();
        if room == 0 {
            c.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        c.buf.extend(&buf[..n]);
        wake(&mut c.reader);
        Poll::Ready(Ok(n))
    }

    fn close(&mut self) -> Poll<io::Result<()>> {
        let mut c = self.0.lock().unwrap();
        c.write_closed = true;
        wake(&mut c.reader);
        Poll::Ready(Ok(()))
    }
}

/// Implements tokio's and futures-io's reading trait for a type with
/// `fn read(&mut self, cx, &mut [u8]) -> Poll<io::Result<usize>>`.
macro_rules! read_traits {
    ($ty:ty, |$this:ident, $cx:ident, $buf:ident| $read:expr) => {
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, $cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                let $buf = buf.initialize_unfilled();
                let n = ready!($read)?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }

        impl futures::io::AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, $cx: &mut Context<'_>, $buf: &mut [u8]) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                $read
            }
        }
    };
}

/// Implements tokio's and futures-io's writing trait for a type with the given write, vectored
/// write, flush and shutdown expressions.
macro_rules! write_traits {
    (
        $ty:ty,
        write |$this:ident, $cx:ident, $buf:ident| $write:expr,
        vectored |$vthis:ident, $vcx:ident, $bufs:ident| $vectored:expr,
        is_vectored |$ithis:ident| $is_vectored:expr,
        flush |$fthis:ident, $fcx:ident| $flush:expr,
        shutdown |$sthis:ident, $scx:ident| $shutdown:expr $(,)?
    ) => {
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, $cx: &mut Context<'_>, $buf: &[u8]) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                $write
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                $vcx: &mut Context<'_>,
                $bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $vthis = self.get_mut();
                $vectored
            }
            fn is_write_vectored(&self) -> bool {
                let $ithis = self;
                $is_vectored
            }
            fn poll_flush(self: Pin<&mut Self>, $fcx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $fthis = self.get_mut();
                $flush
            }
            fn poll_shutdown(self: Pin<&mut Self>, $scx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $sthis = self.get_mut();
                $shutdown
            }
        }

        impl futures::io::AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, $cx: &mut Context<'_>, $buf: &[u8]) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                $write
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                $vcx: &mut Context<'_>,
                $bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $vthis = self.get_mut();
                $vectored
            }
            fn poll_flush(self: Pin<&mut Self>, $fcx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $fthis = self.get_mut();
                $flush
            }
            fn poll_close(self: Pin<&mut Self>, $scx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $sthis = self.get_mut();
                $shutdown
            }
        }
    };
}

/// The first non-empty buffer of a vectored write (what the traits' default does).
fn first<'a>(bufs: &'a [IoSlice<'_>]) -> &'a [u8] {
    bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..])
}

read_traits!(PipeReader, |this, cx, buf| this.read(cx, buf));
read_traits!(Pipe, |this, cx, buf| this.reader.read(cx, buf));

write_traits!(
    PipeWriter,
    write | this,
    cx,
    buf | this.write(cx, buf),
    vectored | this,
    cx,
    bufs | this.write(cx, first(bufs)),
    is_vectored | _this | false,
    flush | _this,
    _cx | Poll::Ready(Ok(())),
    shutdown | this,
    _cx | this.close(),
);

write_traits!(
    Pipe,
    write | this,
    cx,
    buf | this.writer.write(cx, buf),
    vectored | this,
    cx,
    bufs | this.writer.write(cx, first(bufs)),
    is_vectored | _this | false,
    flush | _this,
    _cx | Poll::Ready(Ok(())),
    shutdown | this,
    _cx | this.writer.close(),
);

/// Poll-level IO, object safe: what [`AnyStream`] boxes.
trait DynIo: Send {
    fn read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    fn write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    fn write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>>;
    fn is_write_vectored(&self) -> bool;
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A tokio stream as [`DynIo`].
struct FromTokio<S>(S);

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> DynIo for FromTokio<S> {
    fn read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }
    fn write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A futures-io stream as [`DynIo`].
struct FromFutures<S>(S);

impl<S: futures::io::AsyncRead + futures::io::AsyncWrite + Send + Unpin> DynIo for FromFutures<S> {
    fn read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
    fn write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        // futures-io has no such query; its sockets write vectored.
        true
    }
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Any stream of tokio's or futures-io's traits, boxed, implementing both: a TLS stream, a
/// Unix socket, or a wrapper a test writes once for every runtime.
pub struct AnyStream(Box<dyn DynIo>);

impl std::fmt::Debug for AnyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnyStream(..)")
    }
}

impl AnyStream {
    /// Boxes a stream of tokio's traits.
    pub fn new<S>(stream: S) -> Self
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        Self(Box::new(FromTokio(stream)))
    }

    /// Boxes a stream of futures-io's traits.
    pub fn from_futures<S>(stream: S) -> Self
    where
        S: futures::io::AsyncRead + futures::io::AsyncWrite + Send + Unpin + 'static,
    {
        Self(Box::new(FromFutures(stream)))
    }
}

read_traits!(AnyStream, |this, cx, buf| this.0.read(cx, buf));

write_traits!(
    AnyStream,
    write | this,
    cx,
    buf | this.0.write(cx, buf),
    vectored | this,
    cx,
    bufs | this.0.write_vectored(cx, bufs),
    is_vectored | this | this.0.is_write_vectored(),
    flush | this,
    cx | this.0.flush(cx),
    shutdown | this,
    cx | this.0.shutdown(cx),
);

/// A runtime's native stream `S`, read and written through ws-async's `Io<S>` (what the
/// runtime's binding does), exposed as tokio's `AsyncRead + AsyncWrite`: hand-rolled peers use
/// tokio's `AsyncReadExt`/`AsyncWriteExt`, `BufReader` and `copy_bidirectional` on every
/// runtime's sockets.
pub struct Raw<S, R> {
    io: S,
    _runtime: PhantomData<fn() -> R>,
}

impl<S: std::fmt::Debug, R> std::fmt::Debug for Raw<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Raw").field(&self.io).finish()
    }
}

impl<S, R> Raw<S, R> {
    /// Wraps `io`.
    pub fn new(io: S) -> Self {
        Self { io, _runtime: PhantomData }
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The stream back.
    pub fn into_inner(self) -> S {
        self.io
    }
}

/// The runtime's native TCP stream `tcp` as a [`Raw`] stream.
pub fn raw<T: TestRt>(tcp: T::Tcp) -> Raw<T::Tcp, T::R> {
    Raw::new(tcp)
}

impl<S: Unpin, R: Io<S>> tokio::io::AsyncRead for Raw<S, R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = ready!(R::poll_read(&mut this.io, cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: Unpin, R: Io<S>> tokio::io::AsyncWrite for Raw<S, R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        R::poll_write(&mut self.get_mut().io, cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        R::poll_write_vectored(&mut self.get_mut().io, cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        R::is_write_vectored(&self.io)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        R::poll_flush(&mut self.get_mut().io, cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        R::poll_shutdown(&mut self.get_mut().io, cx)
    }
}
