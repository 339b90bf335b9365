//! permessage-deflate compression off the async runtime (Node `ws`'s `concurrencyLimit`).
//!
//! Compressing is CPU work proportional to the message: a 16 MiB message is hundreds of
//! milliseconds of one core, during which a runtime thread that did it inline would run no
//! other task (on a current-thread runtime: none at all). So a message that
//!
//! - would be compressed (`Connection::would_compress`: the extension is in use, the message
//!   reaches [`DeflateConfig::threshold`](ws_proto::DeflateConfig::threshold)), and
//! - is at least [`offload_threshold`](ws_proto::DeflateConfig::offload_threshold) bytes long
//!   (64 KiB by default; `None` turns offloading off),
//!
//! is compressed by [`CompressTask::run`] on the runtime's blocking pool
//! ([`Runtime::spawn_blocking`]), and at most
//! [`concurrency_limit`](ws_proto::DeflateConfig::concurrency_limit) such compressions run at
//! once in the process (10 by default; a semaphore per distinct limit value, shared by every
//! connection configured with that value, like Node's process-wide zlib limiter). Smaller
//! messages are compressed inline: for them a thread hop costs more than it saves.
//!
//! This covers whole messages sent with `send`, `feed`, `start_send`, `try_send`, the `Sink`,
//! the split writer, [`WsHandle::send`](crate::WsHandle::send) and `WsByteStream` writes.
//! `send_frame_part` (each part is compressed as it is sent, so keep parts small) and
//! `send_prepared` (compressed once and shared between connections when this endpoint does
//! not take context over) compress inline.
//!
//! # Order and what happens meanwhile
//!
//! A connection has at most one message in the offload slot. While it waits for a permit or
//! is being compressed, the connection refuses other data messages
//! ([`SendError::CompressionPending`]), so the adapter's senders wait: `WebSocket::poll_ready`
//! (and so `send`, `feed`, `send_prepared`, `send_frame_part`, the `Sink`) waits until the slot
//! is empty, and the driver task takes no command until then. Messages therefore go out in the
//! order they were sent. Pings and pongs may still go out first, and receiving goes on. A
//! close waits for the message in the slot, so the message is sent before the close frame.
//!
//! # Cancellation
//!
//! Once `start_send` (or `send`, `feed`, the `Sink`'s `start_send`) accepted a message, it is
//! queued: whichever of `flush`, `send`, `recv`, `close` (on either split half) polls the
//! connection next waits for its permit and its compression and queues it. So a `send`
//! cancelled while compressing loses nothing and reorders nothing: the compression goes on on
//! the blocking pool, and the next call on the connection finishes the send. A compression
//! cannot be stopped: if the connection is dropped (or closed) meanwhile, the compression
//! still runs to its end on its thread, then its result is discarded and its permit released.
//!
//! # A message that can no longer be sent is reported
//!
//! If the connection stops being open while a message is in the slot (a keepalive or close
//! timer, `terminate`, an IO failure, a driver's `close_now`), the message cannot be queued
//! any more: it is never written. It is not dropped silently: the connection's
//! `Event::Closed` counts it in
//! [`CloseInfo::unsent_messages`](ws_proto::CloseInfo::unsent_messages) (ws-proto counts every
//! message lent for compression and not handed back when the connection leaves `Open`), and
//! [`buffered_amount`](crate::WebSocket::buffered_amount) included it until then.
//!
//! Where the runtime has no blocking pool at hand (e.g. a tokio binding polled outside a
//! tokio runtime) the compression runs inline.
//!
//! [`CompressTask::run`]: ws_proto::CompressTask::run
//! [`Runtime::spawn_blocking`]: crate::runtime::Runtime::spawn_blocking
//! [`SendError::CompressionPending`]: ws_proto::SendError::CompressionPending

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{ready, Context, Poll};

use tokio::sync::{oneshot, AcquireError, OwnedSemaphorePermit, Semaphore};
use ws_proto::{CompressTask, CompressedMessage, Connection, Message, SendError, SendOptions, State};

use crate::runtime::Runtime;

/// How many offloaded compressions run at once for one `concurrency_limit` value, and how
/// many did at most: see [`stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OffloadStats {
    /// The limit (the `concurrency_limit` these numbers are for).
    pub limit: usize,
    /// Compressions holding a permit now (waiting for a blocking thread or running).
    pub running: usize,
    /// The most that ever held a permit at once (never above `limit`).
    pub peak: usize,
    /// Compressions offloaded so far.
    pub total: usize,
}

/// The process-wide limiter of one `concurrency_limit` value.
struct Limiter {
    limit: usize,
    semaphore: Arc<Semaphore>,
    running: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicUsize,
}

impl Limiter {
    /// The limiter shared by every connection configured with `limit` (at least 1).
    fn get(limit: usize) -> Arc<Self> {
        static ALL: OnceLock<Mutex<HashMap<usize, Arc<Limiter>>>> = OnceLock::new();
        let limit = limit.max(1);
        let mut all = ALL.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
        all.entry(limit)
            .or_insert_with(|| {
                Arc::new(Self {
                    limit,
                    semaphore: Arc::new(Semaphore::new(limit)),
                    running: AtomicUsize::new(0),
                    peak: AtomicUsize::new(0),
                    total: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    fn stats(&self) -> OffloadStats {
        OffloadStats {
            limit: self.limit,
            running: self.running.load(Ordering::SeqCst),
            peak: self.peak.load(Ordering::SeqCst),
            total: self.total.load(Ordering::SeqCst),
        }
    }
}

/// The offloaded compressions of every connection whose `concurrency_limit` is `limit`
/// (for monitoring and tests).
pub fn stats(limit: usize) -> OffloadStats {
    Limiter::get(limit).stats()
}

/// A permit and the bookkeeping around it, held for the length of one compression.
struct Running {
    limiter: Arc<Limiter>,
    _permit: OwnedSemaphorePermit,
}

impl Running {
    fn start(limiter: Arc<Limiter>, permit: OwnedSemaphorePermit) -> Self {
        let now = limiter.running.fetch_add(1, Ordering::SeqCst) + 1;
        limiter.peak.fetch_max(now, Ordering::SeqCst);
        limiter.total.fetch_add(1, Ordering::SeqCst);
        Self { limiter, _permit: permit }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Before the permit is released (fields drop after this), so `running` never exceeds
        // the limit.
        self.limiter.running.fetch_sub(1, Ordering::SeqCst);
    }
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

enum Stage {
    /// Waiting for a permit.
    Waiting { task: CompressTask, limiter: Arc<Limiter>, acquire: Option<Acquire> },
    /// Compressing on the blocking pool; the sender is dropped without a value if the job
    /// panicked or the pool shut down.
    Running(oneshot::Receiver<CompressedMessage>),
}

/// A connection's offload slot: the one message being compressed off the runtime, if any.
/// Lives in the write state, so that every path that writes (flush, send, recv, either split
/// half, the driver) finishes it.
pub(crate) struct Offload<R> {
    /// Boxed: the slot is empty on almost every connection almost all the time.
    stage: Option<Box<Stage>>,
    /// Payload bytes of the message in the slot (counted by `buffered_amount`).
    pending_len: usize,
    /// The slot's message was dropped because the connection stopped being open: the next
    /// flush reports it (`take_lost`).
    lost: bool,
    _runtime: PhantomData<fn() -> R>,
}

impl<R> Default for Offload<R> {
    fn default() -> Self {
        Self { stage: None, pending_len: 0, lost: false, _runtime: PhantomData }
    }
}

impl<R> fmt::Debug for Offload<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage.as_deref() {
            None => "idle",
            Some(Stage::Waiting { .. }) => "waiting for a permit",
            Some(Stage::Running(_)) => "compressing",
        };
        f.debug_struct("Offload").field("stage", &stage).finish()
    }
}

impl<R: Runtime> Offload<R> {
    /// Whether a message was dropped from the slot since the last call (the connection ended
    /// while it was being compressed).
    pub(crate) fn take_lost(&mut self) -> bool {
        std::mem::take(&mut self.lost)
    }

    /// A message is in the slot: data sends must wait.
    pub(crate) fn is_pending(&self) -> bool {
        self.stage.is_some()
    }

    /// Payload bytes of the message waiting in the slot (0 when empty): part of the
    /// connection's `buffered_amount`, since the application handed them over.
    pub(crate) fn pending_len(&self) -> usize {
        if self.stage.is_some() {
            self.pending_len
        } else {
            0
        }
    }

    /// Queues `msg` on `conn`: into the offload slot when it is large enough and would be
    /// compressed, else at once (compressed inline when it reaches the threshold).
    ///
    /// Fails with [`SendError::CompressionPending`] while the slot is taken (wait with
    /// `poll_ready` first), and as `Connection::send_text` / `send_binary` do otherwise.
    pub(crate) fn queue(&mut self, conn: &mut Connection, msg: Message) -> Result<(), SendError> {
        if self.is_pending() {
            if conn.state() == State::Open {
                return Err(SendError::CompressionPending);
            }
            // Nothing more can be sent: the slot's message is lost with the connection (counted
            // in its `CloseInfo::unsent_messages`).
            self.stage = None;
            self.lost = true;
        }
        let opts = SendOptions::default();
        let offload = conn.deflate_config().and_then(|c| {
            let at = c.get_offload_threshold()?;
            (msg.len() >= at && conn.would_compress(msg.len(), opts)).then(|| c.get_concurrency_limit())
        });
        let Some(limit) = offload else {
            return match msg {
                Message::Text(t) => conn.send_text(t),
                Message::Binary(b) => conn.send_binary(b),
            };
        };
        let len = msg.len();
        let task = conn.prepare_compressed(msg, opts)?;
        self.pending_len = len;
        let limiter = Limiter::get(limit);
        // Start at once when a permit is free (`feed` then compresses while the caller prepares
        // the next message); else the next poll waits for a permit.
        self.stage = Some(Box::new(match limiter.semaphore.clone().try_acquire_owned() {
            Ok(permit) => match spawn::<R>(task, Running::start(limiter, permit)) {
                Ok(rx) => Stage::Running(rx),
                Err(done) => {
                    // No blocking pool here: compressed inline.
                    conn.send_compressed(done)?;
                    return Ok(());
                }
            },
            Err(_) => Stage::Waiting { task, limiter, acquire: None },
        }));
        Ok(())
    }

    /// Drives the slot: waits for a permit, compresses, and hands the result to `conn` (which
    /// queues its frames). `Ready` once the slot is empty. When the connection is no longer
    /// open the slot's message is dropped: `conn` counted it in its `Event::Closed`'s
    /// `unsent_messages` when it left `Open`.
    pub(crate) fn poll(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if conn.state() != State::Open && self.stage.take().is_some() {
                self.lost = true;
            }
            match self.stage.as_deref_mut() {
                None => return Poll::Ready(()),
                Some(Stage::Waiting { limiter, acquire, .. }) => {
                    let acquire = acquire.get_or_insert_with(|| Box::pin(limiter.semaphore.clone().acquire_owned()));
                    let Ok(permit) = ready!(acquire.as_mut().poll(cx)) else {
                        unreachable!("offload semaphores are never closed")
                    };
                    let Some(Stage::Waiting { task, limiter, .. }) = self.stage.take().map(|b| *b) else {
                        unreachable!()
                    };
                    match spawn::<R>(task, Running::start(limiter, permit)) {
                        Ok(rx) => self.stage = Some(Box::new(Stage::Running(rx))),
                        // Refused only when the connection closed meanwhile: dropped then.
                        Err(done) => {
                            let _ = conn.send_compressed(done);
                        }
                    }
                }
                Some(Stage::Running(rx)) => {
                    let result = ready!(Pin::new(rx).poll(cx));
                    self.stage = None;
                    match result {
                        // Refused only when the connection closed meanwhile: dropped then.
                        Ok(done) => {
                            let _ = conn.send_compressed(done);
                        }
                        // The job panicked (the panic was reported on its thread) or the pool
                        // shut down: the message cannot be sent, so the connection fails
                        // rather than silently skipping it.
                        Err(_) => conn.terminate(),
                    }
                }
            }
        }
    }
}

/// Runs `task` on `R`'s blocking pool, holding `running` (its permit) until it is done; runs
/// it inline and returns the result when `R` has no pool at hand.
fn spawn<R: Runtime>(
    task: CompressTask,
    running: Running,
) -> Result<oneshot::Receiver<CompressedMessage>, CompressedMessage> {
    let (tx, rx) = oneshot::channel();
    let job = Box::new(move || {
        let done = task.run();
        drop(running);
        let _ = tx.send(done);
    });
    match R::spawn_blocking(job) {
        Ok(()) => Ok(rx),
        Err(job) => {
            job();
            let mut rx = rx;
            Err(rx.try_recv().expect("an inline compression job always sends its result"))
        }
    }
}
