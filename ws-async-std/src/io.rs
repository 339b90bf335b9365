//! Poll-level glue between a sans-IO machine and a `futures-io` stream: one read into the
//! machine's receive slot, writing out what it queued, a resettable `async_io::Timer` for its
//! next deadline, and the fan-out waker used when two tasks share one stream.
//!
//! Everything here is a synchronous `poll_*` whose progress lives in the machine or in
//! [`WriteState`], never on an async stack: that is what makes the async methods built on top
//! cancel safe.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};
use ws_proto::{Buf, ClientHandshake, Connection, ServerHandshake, Transmit};

/// How many bytes each read asks the machine to make room for.
pub(crate) const READ_SIZE: usize = 32 * 1024;

/// At most this many slices per vectored write.
const MAX_SLICES: usize = 64;

/// The clock handed to ws-proto (`async_io::Timer` runs on the same `std::time::Instant`).
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// The sans-IO calls the glue makes, implemented by the connection and both handshakes.
pub(crate) trait Machine {
    fn next_transmit(&mut self) -> Option<Transmit<'_>>;
    fn slot(&mut self, hint: usize) -> &mut [u8];
    fn commit(&mut self, n: usize);
    fn eof(&mut self);
    fn deadline(&self) -> Option<Instant>;
    fn expire(&mut self, now: Instant);
}

impl Machine for Connection {
    fn next_transmit(&mut self) -> Option<Transmit<'_>> {
        self.poll_transmit()
    }
    fn slot(&mut self, hint: usize) -> &mut [u8] {
        self.recv_slot(hint)
    }
    fn commit(&mut self, n: usize) {
        self.commit_received(n);
    }
    fn eof(&mut self) {
        self.receive_eof();
    }
    fn deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn expire(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
}

impl Machine for ClientHandshake {
    fn next_transmit(&mut self) -> Option<Transmit<'_>> {
        self.poll_transmit()
    }
    fn slot(&mut self, hint: usize) -> &mut [u8] {
        self.recv_slot(hint)
    }
    fn commit(&mut self, n: usize) {
        self.commit_received(n);
    }
    fn eof(&mut self) {
        self.receive_eof();
    }
    fn deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn expire(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
}

impl Machine for ServerHandshake {
    fn next_transmit(&mut self) -> Option<Transmit<'_>> {
        // Nothing to write while reading the request: the 101 is queued in the connection it
        // becomes, and a rejection carries its own bytes.
        None
    }
    fn slot(&mut self, hint: usize) -> &mut [u8] {
        self.recv_slot(hint)
    }
    fn commit(&mut self, n: usize) {
        self.commit_received(n);
    }
    fn eof(&mut self) {
        self.receive_eof();
    }
    fn deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn expire(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
}

/// Reads once into `m`'s receive slot and commits what arrived: `Ready(Ok(n))`, where `0`
/// means EOF (already handed to the machine).
pub(crate) fn poll_read_into<R, M>(io: &mut R, m: &mut M, cx: &mut Context<'_>) -> Poll<io::Result<usize>>
where
    R: AsyncRead + Unpin + ?Sized,
    M: Machine + ?Sized,
{
    let polled = Pin::new(io).poll_read(cx, m.slot(READ_SIZE));
    // A slot not committed is handed out again, zeroed, by the next `slot` call.
    let n = match polled {
        Poll::Ready(Ok(n)) => n,
        other => {
            m.commit(0);
            return other;
        }
    };
    m.commit(n);
    if n == 0 {
        m.eof();
    }
    Poll::Ready(Ok(n))
}

/// Write-side progress that must outlive a `Pending`.
#[derive(Debug, Default)]
pub(crate) struct WriteState {
    /// Bytes went to the stream since its last successful flush.
    unflushed: bool,
    /// The machine asked for a half-close (`Transmit::Shutdown`, handed out once) and
    /// `poll_close` has not completed yet.
    closing: bool,
    /// Output was discarded (a timer or `terminate` ended the connection with output queued,
    /// or the stream failed): flushing reports `Error::ConnectionClosed` from now on.
    pub(crate) dropped: bool,
    /// The stream's write side was closed because the connection is over.
    pub(crate) finished: bool,
}

impl WriteState {
    /// A flush or a half-close has started and not completed.
    pub(crate) fn busy(&self) -> bool {
        self.unflushed || self.closing
    }
}

/// Writes everything `m` has queued, in order, then flushes; `Transmit::Shutdown` closes the
/// write side (`poll_close`, whose failure is ignored: the peer may be gone already).
///
/// `Ready(Ok(()))`: the queue is empty and the stream flushed. On `Pending` the rest stays
/// queued in the machine (or in `st`) for the next call.
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
        if st.closing {
            // futures-io's `poll_close` flushes first.
            let _ = ready!(Pin::new(&mut *io).poll_close(cx));
            st.closing = false;
            st.unflushed = false;
            continue;
        }
        match m.next_transmit() {
            None => break,
            Some(Transmit::Shutdown) => st.closing = true,
            Some(Transmit::Data(mut buf)) => {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let count = buf.chunks_vectored(&mut slices);
                // Streams without vectored writes write the first slice (the trait's default).
                let n = ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                buf.advance(n);
                st.unflushed = true;
            }
        }
    }
    if st.unflushed {
        ready!(Pin::new(&mut *io).poll_flush(cx))?;
        st.unflushed = false;
    }
    Poll::Ready(Ok(()))
}

/// Closes the write side once the connection is over, so that the peer sees EOF while the
/// application still holds the stream. Best effort and not waited for (a TLS `close_notify`
/// to a peer that stopped reading would never complete).
pub(crate) fn finish_once<W: AsyncWrite + Unpin + ?Sized>(io: &mut W, st: &mut WriteState, cx: &mut Context<'_>) {
    if !st.finished {
        st.finished = true;
        let _ = Pin::new(io).poll_close(cx);
    }
}

/// The machine's next deadline as one `async_io::Timer`, re-armed only when the deadline moves
/// (quinn's `drive_timer`).
#[derive(Debug, Default)]
pub(crate) struct Timer {
    /// Made on first use: a connection that never arms a timer never touches the reactor.
    timer: Option<async_io::Timer>,
    /// The deadline `timer` is set to, until it fires.
    armed: Option<Instant>,
}

impl Timer {
    /// Fires the machine's expired timers, or arms the timer for its next deadline and
    /// registers `cx` with it. Returns whether `handle_timeout` ran (the machine may then have
    /// events or output).
    pub(crate) fn poll<M: Machine + ?Sized>(&mut self, m: &mut M, cx: &mut Context<'_>) -> bool {
        let mut fired = false;
        // Firing can set a new deadline (a keepalive ping arms the pong deadline): loop until
        // one lies ahead and is registered, or there is none.
        while let Some(deadline) = m.deadline() {
            let now = now();
            if deadline <= now {
                m.expire(now);
                fired = true;
                continue;
            }
            let timer = self.timer.get_or_insert_with(async_io::Timer::never);
            if self.armed != Some(deadline) {
                timer.set_at(deadline);
                self.armed = Some(deadline);
            }
            if Pin::new(timer).poll(cx).is_pending() {
                break;
            }
            self.armed = None;
            // The timer fires at or after the deadline; never pass an earlier instant.
            m.expire(now.max(deadline));
            fired = true;
        }
        fired
    }
}

/// A side of a stream shared by two tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Reader = 0,
    Writer = 1,
}

/// The wakers of the two tasks sharing a stream, woken together (tokio-tungstenite's `compat`
/// idea). The stream is polled with [`Wakers::waker`], so a task waiting for the stream is
/// woken even when the other task polled it last and replaced the stream's stored waker.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl Wakers {
    fn set(&self, side: Side, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut slots[side as usize] {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Wakes `side`'s task, if it waits.
    pub(crate) fn wake(&self, side: Side) {
        let taken = self.slots.lock().unwrap_or_else(PoisonError::into_inner)[side as usize].take();
        if let Some(w) = taken {
            w.wake();
        }
    }

    /// Records `cx`'s waker for `side` and returns the waker that wakes both sides.
    pub(crate) fn waker(self: &Arc<Self>, side: Side, cx: &Context<'_>) -> Waker {
        self.set(side, cx.waker());
        Waker::from(Arc::clone(self))
    }
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken out under the lock, woken outside it.
        let taken = std::mem::take(&mut *self.slots.lock().unwrap_or_else(PoisonError::into_inner));
        for w in taken.into_iter().flatten() {
            w.wake();
        }
    }
}

/// Awaits `f` until `deadline` (`None`: forever); `None` if the deadline came first.
pub(crate) async fn until<F: Future>(deadline: Option<Instant>, f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut timer = deadline.map(async_io::Timer::at);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        match timer.as_mut().map(|t| Pin::new(t).poll(cx)) {
            Some(Poll::Ready(_)) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    })
    .await
}

/// `write_all`, `flush` and `close` in one go.
pub(crate) async fn write_and_close<W: AsyncWrite + Unpin + ?Sized>(io: &mut W, mut bytes: &[u8]) -> io::Result<()> {
    std::future::poll_fn(|cx| {
        while !bytes.is_empty() {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, bytes))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            bytes = &bytes[n..];
        }
        Pin::new(&mut *io).poll_close(cx)
    })
    .await
}

/// One read into `buf`.
pub(crate) async fn read_some<R: AsyncRead + Unpin + ?Sized>(io: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    std::future::poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, buf)).await
}
