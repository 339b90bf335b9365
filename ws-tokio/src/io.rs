//! The poll-level IO steps of the driving loop, shared by the handshakes, [`WebSocket`], the
//! split halves and the driver task: read into the machine's receive slot, write out what it
//! queued (vectored when the stream supports it), and one resettable timer per machine.
//!
//! Every step is a synchronous `poll_*` that keeps its progress in the machine or in
//! [`WriteState`]: nothing lives on an async stack, which is what makes the async methods
//! built on them cancel safe.
//!
//! [`WebSocket`]: crate::WebSocket

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
use ws_proto::{Buf, ClientHandshake, Connection, ServerHandshake, Transmit};

/// Bytes asked of the machine for each read.
pub(crate) const READ_HINT: usize = 32 * 1024;

/// Slices gathered per vectored write.
const IOV: usize = 64;

/// The clock handed to ws-proto: tokio's, so that `tokio::time::pause()` drives the
/// connection's timers in tests.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What the IO steps need from a sans-IO state machine.
pub(crate) trait Machine {
    fn poll_transmit(&mut self) -> Option<Transmit<'_>>;
    fn recv_slot(&mut self, len_hint: usize) -> &mut [u8];
    fn commit_received(&mut self, n: usize);
    fn receive_eof(&mut self);
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
}

macro_rules! machine {
    ($t:ty) => {
        impl Machine for $t {
            fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
                <$t>::poll_transmit(self)
            }
            fn recv_slot(&mut self, len_hint: usize) -> &mut [u8] {
                <$t>::recv_slot(self, len_hint)
            }
            fn commit_received(&mut self, n: usize) {
                <$t>::commit_received(self, n)
            }
            fn receive_eof(&mut self) {
                <$t>::receive_eof(self)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$t>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$t>::handle_timeout(self, now)
            }
        }
    };
}

machine!(Connection);
machine!(ClientHandshake);

impl Machine for ServerHandshake {
    fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        // The server handshake writes nothing itself: the 101 is queued in the connection and a
        // rejection carries its own bytes.
        None
    }
    fn recv_slot(&mut self, len_hint: usize) -> &mut [u8] {
        Self::recv_slot(self, len_hint)
    }
    fn commit_received(&mut self, n: usize) {
        Self::commit_received(self, n);
    }
    fn receive_eof(&mut self) {
        Self::receive_eof(self);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Self::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Self::handle_timeout(self, now);
    }
}

/// One read into the machine's receive slot: `Ready(Ok(n))` after committing `n` bytes
/// (`0`: EOF, already handed to `receive_eof`).
pub(crate) fn poll_read_into<R, M>(io: &mut R, m: &mut M, cx: &mut Context<'_>) -> Poll<io::Result<usize>>
where
    R: AsyncRead + Unpin + ?Sized,
    M: Machine + ?Sized,
{
    let result = {
        let mut buf = ReadBuf::new(m.recv_slot(READ_HINT));
        match Pin::new(io).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    };
    match result {
        Poll::Ready(Ok(n)) => {
            m.commit_received(n);
            if n == 0 {
                m.receive_eof();
            }
            Poll::Ready(Ok(n))
        }
        other => {
            m.commit_received(0);
            other
        }
    }
}

/// Write-side progress that must survive a `Pending`.
#[derive(Debug, Default)]
pub(crate) struct WriteState {
    /// Bytes were written since the stream was last flushed.
    needs_flush: bool,
    /// A `Transmit::Shutdown` was taken (it is yielded once) and `poll_shutdown` has not
    /// completed yet.
    shutting_down: bool,
    /// The connection ended with output still queued (a timer or `terminate`), or the stream
    /// failed: flushes report `Error::ConnectionClosed` from now on.
    pub(crate) dropped: bool,
    /// The stream was shut down because the connection is over.
    pub(crate) closed: bool,
    /// The message being compressed off the runtime, if any (see `crate::offload`); every
    /// path that writes finishes it first.
    pub(crate) offload: crate::offload::Offload,
}

impl WriteState {
    /// Whether a flush or a half-close is under way.
    pub(crate) fn in_progress(&self) -> bool {
        self.needs_flush || self.shutting_down
    }
}

/// Writes everything `m` queued, in order, then flushes the stream; `Transmit::Shutdown`
/// half-closes it (`poll_shutdown`; a failure there is ignored: the peer may be gone).
///
/// `Ready(Ok)` means the machine's queue is empty and the stream flushed. On `Pending` the
/// unwritten bytes stay queued in the machine.
pub(crate) fn poll_write_out<W, M>(
    io: &mut W,
    m: &mut M,
    st: &mut WriteState,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>>
where
    W: AsyncWrite + Unpin + ?Sized,
    M: Machine + ?Sized,
{
    loop {
        if st.shutting_down {
            if st.needs_flush {
                ready!(Pin::new(&mut *io).poll_flush(cx))?;
                st.needs_flush = false;
            }
            let _ = ready!(Pin::new(&mut *io).poll_shutdown(cx));
            st.shutting_down = false;
            continue;
        }
        let written = match m.poll_transmit() {
            None => break,
            Some(Transmit::Shutdown) => {
                st.shutting_down = true;
                continue;
            }
            Some(Transmit::Data(mut buf)) => {
                let polled = if io.is_write_vectored() {
                    let mut slices = [IoSlice::new(&[]); IOV];
                    let n = buf.chunks_vectored(&mut slices);
                    Pin::new(&mut *io).poll_write_vectored(cx, &slices[..n])
                } else {
                    Pin::new(&mut *io).poll_write(cx, buf.chunk())
                };
                let n = ready!(polled)?;
                buf.advance(n);
                n
            }
        };
        if written == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        st.needs_flush = true;
    }
    if st.needs_flush {
        ready!(Pin::new(&mut *io).poll_flush(cx))?;
        st.needs_flush = false;
    }
    Poll::Ready(Ok(()))
}

/// Shuts the write side down once the connection is over, so that the peer sees EOF even
/// while the application keeps the stream. Best effort: a shutdown that does not complete at
/// once (TLS `close_notify` to a peer that does not read) is not waited for.
pub(crate) fn shutdown_once<W: AsyncWrite + Unpin + ?Sized>(io: &mut W, st: &mut WriteState, cx: &mut Context<'_>) {
    if !st.closed {
        st.closed = true;
        let _ = Pin::new(io).poll_shutdown(cx);
    }
}

/// One resettable sleep standing for a machine's next deadline (quinn's `drive_timer`).
#[derive(Debug, Default)]
pub(crate) struct Timer {
    /// Created on first need, so that building a `WebSocket` needs no runtime.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The deadline the sleep is set to.
    armed: Option<Instant>,
}

impl Timer {
    /// Fires the machine's expired timers, or arms the sleep for its next deadline (resetting
    /// it only when the deadline changed) and registers `cx` with it. Returns whether
    /// `handle_timeout` ran: the machine may then have events or output.
    pub(crate) fn poll<M: Machine + ?Sized>(&mut self, m: &mut M, cx: &mut Context<'_>) -> bool {
        let mut fired = false;
        // Loops until the sleep is armed for a deadline still ahead (it is then registered
        // with `cx`), or there is none: firing timers sets new deadlines (keepalive → pong).
        while let Some(deadline) = m.poll_timeout() {
            let now = now();
            if deadline <= now {
                m.handle_timeout(now);
                fired = true;
                continue;
            }
            let at = tokio::time::Instant::from_std(deadline);
            let sleep = match &mut self.sleep {
                Some(sleep) => {
                    if self.armed != Some(deadline) {
                        sleep.as_mut().reset(at);
                    }
                    sleep
                }
                None => self.sleep.insert(Box::pin(tokio::time::sleep_until(at))),
            };
            self.armed = Some(deadline);
            if sleep.as_mut().poll(cx).is_pending() {
                break;
            }
            // The timer wheel rounds up, so this is at or past the deadline; never pass an
            // earlier time, which would make the firing a no-op and the loop spin.
            m.handle_timeout(self::now().max(deadline));
            fired = true;
        }
        fired
    }
}

/// Which side of a shared stream a waker belongs to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Half {
    Reader,
    Writer,
}

/// The wakers of the tasks using the two sides of one stream, woken together (a fan-out
/// waker, tokio-tungstenite's `compat` idea): whichever side polls the write direction
/// registers this, so a side waiting for the stream to become writable is woken even when the
/// other side polled last.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl Wakers {
    /// Records `waker` as `half`'s.
    pub(crate) fn register(&self, half: Half, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = &mut slots[half as usize];
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    /// Wakes `half` only.
    pub(crate) fn wake_half(&self, half: Half) {
        let waker = self.slots.lock().unwrap_or_else(PoisonError::into_inner)[half as usize].take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Registers `cx`'s waker as `half`'s and returns the fan-out waker to poll with.
    pub(crate) fn fan_out(self: &Arc<Self>, half: Half, cx: &Context<'_>) -> Waker {
        self.register(half, cx.waker());
        Waker::from(self.clone())
    }
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken out first: waking never runs under the slots' lock.
        let [a, b] = std::mem::take(&mut *self.slots.lock().unwrap_or_else(PoisonError::into_inner));
        for w in [a, b].into_iter().flatten() {
            w.wake();
        }
    }
}
