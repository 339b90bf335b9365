//! The poll-level IO steps of the driving loop, shared by the handshakes, [`WebSocket`], the
//! split halves and the driver task: read into the machine's receive slot, write out what it
//! queued (vectored when the stream supports it), and one resettable timer per machine.
//!
//! Every step is a synchronous `poll_*` that keeps its progress in the machine or in
//! [`WriteState`]: nothing lives on an async stack, which is what makes the async methods
//! built on them cancel safe.
//!
//! [`WebSocket`]: crate::WebSocket

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Instant;

use ws_proto::{Buf, ClientHandshake, Connection, ServerHandshake, Transmit};

use crate::runtime::{Io, Runtime, Sleep};

/// Bytes asked of a handshake for each read (a request or response head is small).
const HANDSHAKE_READ: usize = 4 * 1024;

/// Slices gathered per vectored write.
const IOV: usize = 64;

/// What the IO steps need from a sans-IO state machine.
pub(crate) trait Machine {
    fn poll_transmit(&mut self) -> Option<Transmit<'_>>;
    /// How many bytes to read next.
    fn read_hint(&self) -> usize {
        HANDSHAKE_READ
    }
    fn recv_slot(&mut self, len_hint: usize) -> &mut [u8];
    fn commit_received(&mut self, n: usize);
    /// Whether the next read should go into the thread's shared read buffer and be copied in
    /// (nothing buffered: the machine then holds no receive memory while it waits).
    fn reads_shared(&self) -> bool {
        false
    }
    /// Copies received bytes in.
    fn receive(&mut self, data: &[u8]);
    fn receive_eof(&mut self);
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
}

macro_rules! machine {
    ($t:ty $(, $hint:ident, $shared:ident)?) => {
        impl Machine for $t {
            $(fn $hint(&self) -> usize {
                <$t>::$hint(self)
            }
            fn $shared(&self) -> bool {
                self.buffered_input() == 0
            })?
            fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
                <$t>::poll_transmit(self)
            }
            fn recv_slot(&mut self, len_hint: usize) -> &mut [u8] {
                <$t>::recv_slot(self, len_hint)
            }
            fn commit_received(&mut self, n: usize) {
                <$t>::commit_received(self, n)
            }
            fn receive(&mut self, data: &[u8]) {
                <$t>::receive(self, data)
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

machine!(Connection, read_hint, reads_shared);
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
    fn receive(&mut self, data: &[u8]) {
        Self::receive(self, data);
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

/// Size of each thread's shared read buffer: the largest read a connection with nothing
/// buffered makes (`Connection::read_hint` never asks for more then).
const SHARED_READ: usize = 64 * 1024;

thread_local! {
    /// The read buffer connections with nothing buffered share on this thread: a read that
    /// finds nothing costs no memory per connection, and what arrives is copied into the
    /// connection (one allocation of exactly its size, which the parsed messages slice).
    static SHARED: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0; SHARED_READ].into_boxed_slice());
}

/// One read into the machine: `Ready(Ok(n))` after handing it `n` bytes (`0`: EOF, already
/// handed to `receive_eof`). With nothing buffered the read goes into the thread's shared
/// buffer; inside a frame, straight into the machine's receive slot.
pub(crate) fn poll_read_into<R, S, M>(io: &mut S, m: &mut M, cx: &mut Context<'_>) -> Poll<io::Result<usize>>
where
    R: Io<S>,
    M: Machine + ?Sized,
{
    let hint = m.read_hint();
    if m.reads_shared() {
        let shared = SHARED.with(|cell| {
            // Busy only if this read is nested in another connection's (a WebSocket over a
            // byte stream of another one): that read takes the slot path.
            let Ok(mut buf) = cell.try_borrow_mut() else { return None };
            let len = hint.min(buf.len());
            Some(match R::poll_read(io, cx, &mut buf[..len]) {
                Poll::Ready(Ok(n)) => {
                    m.receive(&buf[..n.min(len)]);
                    Poll::Ready(Ok(n))
                }
                other => other,
            })
        });
        if let Some(result) = shared {
            return match result {
                Poll::Ready(Ok(0)) => {
                    m.receive_eof();
                    Poll::Ready(Ok(0))
                }
                Poll::Pending => {
                    // Nothing came: let the machine release an empty receive region.
                    m.commit_received(0);
                    Poll::Pending
                }
                other => other,
            };
        }
    }
    let result = R::poll_read(io, cx, m.recv_slot(hint));
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
#[derive(Debug)]
pub(crate) struct WriteState<R: Runtime> {
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
    pub(crate) offload: crate::offload::Offload<R>,
}

impl<R: Runtime> Default for WriteState<R> {
    fn default() -> Self {
        Self {
            needs_flush: false,
            shutting_down: false,
            dropped: false,
            closed: false,
            offload: crate::offload::Offload::default(),
        }
    }
}

impl<R: Runtime> WriteState<R> {
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
pub(crate) fn poll_write_out<R, S, M>(
    io: &mut S,
    m: &mut M,
    st: &mut WriteState<R>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>>
where
    R: Io<S>,
    M: Machine + ?Sized,
{
    if st.offload.take_lost() {
        // A message the application handed over died in the offload slot with the connection:
        // flushes report it as they do for output a timer dropped.
        st.dropped = true;
    }
    loop {
        if st.shutting_down {
            if st.needs_flush {
                ready!(R::poll_flush(io, cx))?;
                st.needs_flush = false;
            }
            let _ = ready!(R::poll_shutdown(io, cx));
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
                let polled = if R::is_write_vectored(io) {
                    let mut slices = [IoSlice::new(&[]); IOV];
                    let n = buf.chunks_vectored(&mut slices);
                    R::poll_write_vectored(io, cx, &slices[..n])
                } else {
                    R::poll_write(io, cx, buf.chunk())
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
        ready!(R::poll_flush(io, cx))?;
        st.needs_flush = false;
    }
    Poll::Ready(Ok(()))
}

/// Shuts the write side down once the connection is over, so that the peer sees EOF even
/// while the application keeps the stream. Best effort: a shutdown that does not complete at
/// once (TLS `close_notify` to a peer that does not read) is not waited for.
pub(crate) fn shutdown_once<R: Io<S>, S>(io: &mut S, st: &mut WriteState<R>, cx: &mut Context<'_>) {
    if !st.closed {
        st.closed = true;
        let _ = R::poll_shutdown(io, cx);
    }
}

/// One resettable sleep standing for a machine's next deadline (quinn's `drive_timer`).
pub(crate) struct Timer<R: Runtime> {
    /// Created on first need, so that building a `WebSocket` needs no runtime.
    sleep: Option<R::Sleep>,
    /// The deadline the sleep is set to.
    armed: Option<Instant>,
    _runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> Default for Timer<R> {
    fn default() -> Self {
        Self { sleep: None, armed: None, _runtime: PhantomData }
    }
}

impl<R: Runtime> std::fmt::Debug for Timer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer").field("armed", &self.armed).finish()
    }
}

impl<R: Runtime> Timer<R> {
    /// Fires the machine's expired timers, or arms the sleep for its next deadline (resetting
    /// it only when the deadline changed) and registers `cx` with it. Returns whether
    /// `handle_timeout` ran: the machine may then have events or output.
    pub(crate) fn poll<M: Machine + ?Sized>(&mut self, m: &mut M, cx: &mut Context<'_>) -> bool {
        let mut fired = false;
        // Loops until the sleep is armed for a deadline still ahead (it is then registered
        // with `cx`), or there is none: firing timers sets new deadlines (keepalive → pong).
        while let Some(deadline) = m.poll_timeout() {
            let now = R::now();
            if deadline <= now {
                m.handle_timeout(now);
                fired = true;
                continue;
            }
            let sleep = match &mut self.sleep {
                Some(sleep) => {
                    if self.armed != Some(deadline) {
                        sleep.reset(deadline);
                    }
                    sleep
                }
                None => self.sleep.insert(R::sleep_until(deadline)),
            };
            self.armed = Some(deadline);
            if sleep.poll_elapsed(cx).is_pending() {
                break;
            }
            // A timer wheel rounds up, so this is at or past the deadline; never pass an
            // earlier time, which would make the firing a no-op and the loop spin.
            m.handle_timeout(R::now().max(deadline));
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

/// Writes all of `buf`.
pub(crate) async fn write_all<S, R: Io<S>>(io: &mut S, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| R::poll_write(io, cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}
