//! An in-memory duplex pipe for futures-io (like `tokio::io::duplex`): each direction holds
//! at most `capacity` bytes, so a side that does not read blocks the other's writes.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::io::{AsyncRead, AsyncWrite};

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

/// The reading end of one direction.
#[derive(Debug)]
pub struct PipeReader(Arc<Mutex<Chan>>);

/// The writing end of one direction.
#[derive(Debug)]
pub struct PipeWriter(Arc<Mutex<Chan>>);

/// One end of a duplex pipe.
#[derive(Debug)]
pub struct Pipe {
    pub reader: PipeReader,
    pub writer: PipeWriter,
}

impl Pipe {
    pub fn split(self) -> (PipeReader, PipeWriter) {
        (self.reader, self.writer)
    }
}

/// Two connected ends.
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

impl AsyncRead for PipeReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
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

impl AsyncWrite for PipeWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
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

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut c = self.0.lock().unwrap();
        c.write_closed = true;
        wake(&mut c.reader);
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Pipe {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().writer).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_close(cx)
    }
}
