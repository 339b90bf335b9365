//! A tokio runtime binding for this crate's own unit tests (the real one is `ws-tokio`).

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::runtime::{BlockingJob, Io, Runtime, Sleep};

#[derive(Debug)]
pub(crate) struct TestRuntime;

#[derive(Debug)]
pub(crate) struct TestSleep(Pin<Box<tokio::time::Sleep>>);

impl Sleep for TestSleep {
    fn reset(&mut self, deadline: Instant) {
        self.0.as_mut().reset(deadline.into());
    }
    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Runtime for TestRuntime {
    type Sleep = TestSleep;
    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }
    fn sleep_until(deadline: Instant) -> TestSleep {
        TestSleep(Box::pin(tokio::time::sleep_until(deadline.into())))
    }
    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
        tokio::spawn(future);
    }
    fn spawn_blocking(job: BlockingJob) -> Result<(), BlockingJob> {
        tokio::task::spawn_blocking(job);
        Ok(())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> for TestRuntime {
    fn poll_read(io: &mut S, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(io).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
    fn poll_write(io: &mut S, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(io).poll_write(cx, buf)
    }
    fn poll_write_vectored(io: &mut S, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(io: &S) -> bool {
        io.is_write_vectored()
    }
    fn poll_flush(io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(io).poll_flush(cx)
    }
    fn poll_shutdown(io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(io).poll_shutdown(cx)
    }
}
