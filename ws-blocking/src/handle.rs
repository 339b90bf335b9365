//! Driver mode ([`WebSocket::spawn`]): a thread owns the connection's reading side and its
//! flusher thread its writing side; the application holds cloneable [`WsHandle`]s to send and
//! an [`EventReceiver`] for what arrives. The same names and semantics as the async bindings'
//! driver mode, minus `.await`.
//!
//! It runs on the split machinery ([`WebSocket::split`] and the flusher thread tracked server
//! connections use): the driver thread reads with the [`WsReader`] (answering pings and the
//! peer's close, running the timers through the socket's read timeout) and hands the events
//! to a bounded channel; handles queue into the connection under its lock and wake the
//! flusher, which writes and, in driver mode, also fires due timers (a handle's `close` arms
//! the close timer while the reader may be blocked without a read timeout). While the event
//! channel is full the driver stops reading, which is TCP backpressure towards the peer;
//! writes and timers go on.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ws_proto::{CloseCode, CloseFrame, Connection, Event, Message, PreparedMessage, SendError, SendOptions, State};

use crate::core::queue_message;
use crate::split::{Shared, WsReader, FLUSHER_TICK};
use crate::transport::{Transport, TryClone};
use crate::websocket::WebSocket;
use crate::{Error, TrySendError};

/// Why a handle's command was not queued.
pub(crate) enum Refused {
    /// The connection is closed or over.
    Closed,
    /// A message while the connection is closing (the close frame was sent).
    Closing,
    /// The queue is full (only without waiting).
    Full,
    /// The connection refused it.
    Send(SendError),
}

/// What a handle needs from the connection, whatever drives it (a driver thread over any
/// stream type, or a [`Reactor`](crate::reactor::Reactor)).
pub(crate) trait Driven: Send + Sync {
    /// Runs `f` on the connection. With `limit` (a message), first waits (or, without `wait`,
    /// refuses with `Full`) while the output is above the write high-water mark or `limit`
    /// messages are waiting to be written. Wakes the flusher.
    fn push(
        &self,
        limit: Option<usize>,
        wait: bool,
        f: &mut dyn FnMut(&mut Connection) -> Result<(), SendError>,
    ) -> Result<(), Refused>;
    /// Drops the connection at once.
    fn terminate(&self);
    /// Whether the connection is closed or over.
    fn is_over(&self) -> bool;
    /// Starts the closing handshake with 1000, if it is open: nobody sends or listens any
    /// more.
    fn close_normal(&self);
    /// Whether whatever drives the connection is done with it (without an event channel,
    /// which says so itself).
    fn is_finished(&self) -> bool {
        self.is_over()
    }
    /// Blocks until [`is_finished`](Self::is_finished) (without an event channel).
    fn wait_finished(&self) {}
}

/// Whether a handle may queue into `conn` now (`Ok(true)`), must wait for room (`Ok(false)`,
/// only with `wait`), or is refused: the rules of every driven connection. `limited`: a
/// message (control frames and `close` are never held back); `room`: below the limits.
pub(crate) fn admit(conn: &Connection, limited: bool, room: bool, wait: bool) -> Result<bool, Refused> {
    if conn.state() == State::Closed || conn.is_terminated() {
        return Err(Refused::Closed);
    }
    if !limited {
        return Ok(true);
    }
    if conn.state() != State::Open {
        return Err(Refused::Closing);
    }
    if room {
        return Ok(true);
    }
    if wait {
        Ok(false)
    } else {
        Err(Refused::Full)
    }
}

impl<S: Write + Transport + Send + 'static> Driven for Shared<S> {
    fn push(
        &self,
        limit: Option<usize>,
        wait: bool,
        f: &mut dyn FnMut(&mut Connection) -> Result<(), SendError>,
    ) -> Result<(), Refused> {
        let mut conn = self.conn();
        loop {
            let room = limit.map_or(true, |l| conn.is_write_ready() && self.unwritten.load(Ordering::Acquire) < l);
            if admit(&conn, limit.is_some(), room, wait)? {
                break;
            }
            conn = self.wait_room(conn, FLUSHER_TICK);
        }
        f(&mut conn).map_err(Refused::Send)?;
        if limit.is_some() {
            self.unwritten.fetch_add(1, Ordering::AcqRel);
        }
        drop(conn);
        self.notify();
        Ok(())
    }

    fn terminate(&self) {
        Self::terminate(self);
    }

    fn is_over(&self) -> bool {
        let conn = self.conn();
        conn.state() == State::Closed || conn.is_terminated()
    }

    fn close_normal(&self) {
        {
            let mut conn = self.conn();
            if conn.state() == State::Open {
                let _ = conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), Instant::now());
            }
        }
        self.notify();
    }
}

/// The bounded event channel from the driver thread to the [`EventReceiver`].
struct Channel {
    queue: Mutex<Queue>,
    /// An event arrived or the driver ended (the receiver waits on it).
    ready: Condvar,
    /// An event was taken or the receiver went away (the driver waits on it).
    room: Condvar,
    /// The driver ended ([`WsHandle::closed`] waits on it).
    done: Condvar,
    capacity: usize,
}

/// What goes through the channel.
enum Item {
    Event(io::Result<Event>),
    /// The peer's close was reached (every event before it is ahead) and its echo is held:
    /// taking it lets the driver release the echo.
    PeerClosing,
}

struct Queue {
    events: VecDeque<Item>,
    /// The receiver took [`Item::PeerClosing`]: the answers sent before are queued.
    release: bool,
    /// `Event::Closed` was produced.
    closed: bool,
    /// The driver thread ended.
    finished: bool,
    /// The receiver exists.
    receiver: bool,
    /// A handle exists.
    handles: bool,
}

impl Channel {
    fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::new(Queue {
                events: VecDeque::new(),
                release: false,
                closed: false,
                finished: false,
                receiver: true,
                handles: true,
            }),
            ready: Condvar::new(),
            room: Condvar::new(),
            done: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands an event to the receiver (dropped if there is none any more).
    fn push(&self, event: io::Result<Event>) {
        let mut queue = self.lock();
        queue.closed |= matches!(event, Ok(Event::Closed(_)));
        if queue.receiver {
            queue.events.push_back(Item::Event(event));
        }
        drop(queue);
        self.ready.notify_all();
    }

    /// Announces the peer's close after the events before it, then waits until the receiver
    /// took it, the receiver went away, or `released` (the close timer released the echo).
    fn wait_peer_closing(&self, released: impl Fn() -> bool) {
        let mut queue = self.lock();
        queue.events.push_back(Item::PeerClosing);
        drop(queue);
        self.ready.notify_all();
        loop {
            let done = released();
            let queue = self.lock();
            if done || queue.release || !queue.receiver {
                return;
            }
            let _ = self.room.wait_timeout(queue, FLUSHER_TICK);
        }
    }

    /// Waits while the channel is full and the receiver exists, unless `over` (the connection
    /// ended while reading was stopped: its last events go through whatever the room).
    fn wait_for_room(&self, over: impl Fn() -> bool) {
        loop {
            let ended = over();
            let queue = self.lock();
            if ended || !queue.receiver || queue.events.len() < self.capacity {
                return;
            }
            let _ = self.room.wait_timeout(queue, FLUSHER_TICK);
        }
    }

    /// The driver ended.
    fn finish(&self) {
        let mut queue = self.lock();
        queue.finished = true;
        queue.closed = true;
        drop(queue);
        self.ready.notify_all();
        self.done.notify_all();
    }

    /// Takes the next event, waiting until `deadline` (`None`: forever; `Some(now)`: not at
    /// all). `Err(true)`: the driver ended; `Err(false)`: the deadline passed.
    fn pop(&self, deadline: Option<Instant>) -> Result<io::Result<Event>, bool> {
        let mut queue = self.lock();
        loop {
            match queue.events.pop_front() {
                Some(Item::Event(event)) => {
                    drop(queue);
                    self.room.notify_all();
                    return Ok(event);
                }
                Some(Item::PeerClosing) => {
                    queue.release = true;
                    self.room.notify_all();
                    continue;
                }
                None => {}
            }
            if queue.finished {
                return Err(true);
            }
            queue = match deadline {
                None => self.ready.wait(queue).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(false);
                    }
                    self.ready.wait_timeout(queue, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }
}

/// What the handles share; dropped with the last handle.
struct Inner {
    ops: Arc<dyn Driven>,
    /// The driver thread's event channel; `None` on a reactor, where a handler takes the
    /// events and dropping the handles changes nothing.
    channel: Option<Arc<Channel>>,
    /// Messages that may wait to be written.
    limit: usize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Some(channel) = &self.channel else { return };
        let mut queue = channel.lock();
        queue.handles = false;
        let orphaned = !queue.receiver;
        drop(queue);
        if orphaned {
            self.ops.close_normal();
        }
    }
}

/// Sends to a connection run in driver mode ([`WebSocket::spawn`]). Cheap to clone;
/// `Send + Sync`.
///
/// Every call queues into the connection at once, in order (a message sent by one thread
/// before another's is written before it), and the connection's flusher thread writes. The
/// queue is bounded: [`send`](Self::send) waits while `queue` messages (the `spawn`
/// argument) are waiting to be written or the output is above `Config::write_high_water` (a
/// peer that does not read), and [`try_send`](Self::try_send) hands the message back
/// instead. Control frames ([`ping`](Self::ping), [`pong`](Self::pong), [`close`](Self::close))
/// never wait, so a full queue can still be closed (e.g. with 1013 Try Again Later).
///
/// Nothing handed over is dropped silently: once the close frame was sent, a message is
/// refused ([`Error::Send`] with `SendError::NotOpen`), and once the connection is closed every
/// call returns [`Error::ConnectionClosed`]. (Output still queued when the connection fails or
/// is terminated is lost with it; the event receiver reports how it ended.)
#[derive(Clone)]
pub struct WsHandle {
    inner: Arc<Inner>,
}

impl fmt::Debug for WsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsHandle").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

impl WsHandle {
    /// A handle on a connection driven without an event channel (a reactor's).
    pub(crate) fn driven(ops: Arc<dyn Driven>) -> Self {
        Self { inner: Arc::new(Inner { ops, channel: None, limit: usize::MAX }) }
    }

    fn command(&self, f: &mut dyn FnMut(&mut Connection) -> Result<(), SendError>) -> Result<(), Error> {
        self.inner.ops.push(None, false, f).map_err(|r| match r {
            Refused::Closed => Error::ConnectionClosed,
            Refused::Closing => Error::Send(SendError::NotOpen),
            Refused::Full => unreachable!("control frames do not wait"),
            Refused::Send(e) => Error::Send(e),
        })
    }

    /// Queues a message-like item, waiting for room with `wait`; a refusal hands it back
    /// (unless the connection refused it).
    fn message<T>(
        &self,
        item: T,
        wait: bool,
        mut queue: impl FnMut(&mut Connection, T) -> Result<(), SendError>,
    ) -> Result<(), (Refused, Option<T>)> {
        let mut item = Some(item);
        let result = self.inner.ops.push(Some(self.inner.limit), wait, &mut |conn| match item.take() {
            Some(item) => queue(conn, item),
            None => Ok(()),
        });
        result.map_err(|refused| (refused, item))
    }

    /// [`message`](Self::message) waiting for room.
    fn send_waiting<T>(
        &self,
        item: T,
        queue: impl FnMut(&mut Connection, T) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        self.message(item, true, queue).map_err(|(refused, _)| match refused {
            Refused::Closed => Error::ConnectionClosed,
            Refused::Closing | Refused::Full => Error::Send(SendError::NotOpen),
            Refused::Send(e) => Error::Send(e),
        })
    }

    /// [`message`](Self::message) without waiting.
    fn send_now<T>(
        &self,
        item: T,
        queue: impl FnMut(&mut Connection, T) -> Result<(), SendError>,
    ) -> Result<(), TrySendError<T>> {
        self.message(item, false, queue).map_err(|refused| match refused {
            (Refused::Send(e), _) => TrySendError::Send(e),
            (Refused::Full, Some(item)) => TrySendError::Full(item),
            (Refused::Closed | Refused::Closing, Some(item)) => TrySendError::Closed(item),
            (_, None) => unreachable!("an item is taken only to be queued"),
        })
    }

    /// Sends a message: queues it for the flusher thread, first waiting while the queue is
    /// full (backpressure: it drains only as fast as the peer reads). With
    /// permessage-deflate, compression happens on this thread.
    pub fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
        self.send_waiting(msg.into(), queue_message)
    }

    /// Queues a message without waiting: [`TrySendError::Full`] hands it back when the queue
    /// is full (a slow consumer; a broadcaster drops the message or closes the connection with
    /// 1013), [`TrySendError::Closed`] once the connection is closing.
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), TrySendError<Message>> {
        self.send_now(msg.into(), queue_message)
    }

    /// Sends a message with per-message options (Node `send(data, { compress, mask })`),
    /// waiting for room as [`send`](Self::send) does: `SendOptions::default().compress(false)`
    /// sends this one message uncompressed, `.mask(false)` unmasked from a client (a testing
    /// tool: a conforming server fails the connection with 1002; servers never mask).
    pub fn send_with(&self, msg: impl Into<Message>, opts: SendOptions) -> Result<(), Error> {
        self.send_waiting(msg.into(), |conn, m| conn.send_message_with(m, opts))
    }

    /// [`send_with`](Self::send_with) without waiting: errors as [`try_send`](Self::try_send),
    /// handing the message back.
    pub fn try_send_with(&self, msg: impl Into<Message>, opts: SendOptions) -> Result<(), TrySendError<Message>> {
        self.send_now(msg.into(), |conn, m| conn.send_message_with(m, opts))
    }

    /// Sends a message framed once for many connections (encode-once broadcast: clone the
    /// `PreparedMessage`, which shares its bytes), waiting for room.
    pub fn send_prepared(&self, msg: PreparedMessage) -> Result<(), Error> {
        self.send_waiting(msg, |conn, m| conn.send_prepared(&m))
    }

    /// Queues a prepared message without waiting.
    pub fn try_send_prepared(&self, msg: PreparedMessage) -> Result<(), TrySendError<PreparedMessage>> {
        self.send_now(msg, |conn, m| conn.send_prepared(&m))
    }

    /// Sends a ping (payload at most 125 bytes); the pong arrives as `Event::Pong` on the
    /// [`EventReceiver`].
    pub fn ping(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.command(&mut |conn| conn.send_ping(payload.as_ref()))
    }

    /// Sends an unsolicited pong (payload at most 125 bytes); pings are answered
    /// automatically.
    pub fn pong(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.command(&mut |conn| conn.send_pong(payload.as_ref()))
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123 bytes), after the
    /// messages queued before it, without waiting for room. `Event::Closed` arrives on the
    /// [`EventReceiver`] when the peer answers or `Config::close_timeout` expires (the
    /// driver's flusher runs that timer). Closing twice is `SendError::CloseAlreadySent`.
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame::new(code.into(), reason);
        let mut frame = Some(frame);
        self.command(&mut |conn| conn.close(frame.take(), Instant::now()))
    }

    /// Drops the connection at once without a closing handshake (Node `terminate()`): queued
    /// output is discarded and the socket closed; the receiver gets the messages already
    /// received (also those not parsed yet while its channel was full), then `Event::Closed`
    /// (1006).
    /// [`Error::ConnectionClosed`] if it was over already.
    pub fn terminate(&self) -> Result<(), Error> {
        if self.inner.ops.is_over() {
            return Err(Error::ConnectionClosed);
        }
        self.inner.ops.terminate();
        Ok(())
    }

    /// Whether the connection has closed (`Event::Closed` was produced) or the driver ended.
    pub fn is_closed(&self) -> bool {
        let Some(channel) = &self.inner.channel else { return self.inner.ops.is_finished() };
        let queue = channel.lock();
        queue.closed || queue.finished || self.inner.ops.is_over()
    }

    /// Blocks until the driver thread has ended (the connection is completely over). On a
    /// [`Reactor`](crate::reactor::Reactor): until the reactor dropped the connection; called
    /// from a handler (on the reactor's own thread) it returns at once, as waiting there
    /// would stop the reactor.
    pub fn closed(&self) {
        let Some(channel) = &self.inner.channel else { return self.inner.ops.wait_finished() };
        let mut queue = channel.lock();
        while !queue.finished {
            queue = channel.done.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The events of a connection run in driver mode ([`WebSocket::spawn`]): messages (or
/// fragments), pings, pongs, then `Event::Closed` once, then the end (`None`). `Err` is an IO
/// failure (followed by the messages already received and `Event::Closed` with 1006).
///
/// The channel is bounded: while it is full the driver stops reading the socket (the timers
/// and writes go on). Dropping the receiver discards further events; the connection keeps
/// running for the handles, and closes with 1000 once the handles are gone too (and
/// likewise when the handles go first).
///
/// As an iterator (`for event in receiver`, or `&mut receiver`), it yields what
/// [`recv`](Self::recv) returns until `None`.
pub struct EventReceiver {
    channel: Arc<Channel>,
    ops: Arc<dyn Driven>,
}

impl fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = self.channel.lock();
        f.debug_struct("EventReceiver")
            .field("queued", &queue.events.len())
            .field("finished", &queue.finished)
            .finish_non_exhaustive()
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        let mut queue = self.channel.lock();
        queue.receiver = false;
        queue.events.clear();
        let orphaned = !queue.handles;
        drop(queue);
        self.channel.room.notify_all();
        if orphaned {
            self.ops.close_normal();
        }
    }
}

impl EventReceiver {
    /// Blocks until the next event; `None` once the driver ended.
    pub fn recv(&mut self) -> Option<io::Result<Event>> {
        self.channel.pop(None).ok()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<io::Result<Event>> {
        self.channel.pop(Some(Instant::now())).ok()
    }

    /// Waits at most `timeout` for the next event: [`RecvTimeoutError::Timeout`] when none
    /// came, [`RecvTimeoutError::Disconnected`] once the driver ended (as
    /// `std::sync::mpsc::Receiver::recv_timeout`).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<io::Result<Event>, RecvTimeoutError> {
        let deadline = Instant::now().checked_add(timeout);
        self.channel.pop(Some(deadline.unwrap_or_else(far_future))).map_err(|ended| {
            if ended {
                RecvTimeoutError::Disconnected
            } else {
                RecvTimeoutError::Timeout
            }
        })
    }

    /// An iterator over the events, blocking for each, until the driver ends.
    pub fn iter(&mut self) -> EventIter<'_> {
        EventIter { rx: self }
    }
}

/// A deadline that never comes in practice (a timeout too large to add to now).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(60 * 60 * 24 * 365 * 30)
}

/// A blocking iterator over an [`EventReceiver`]'s events, borrowed ([`EventReceiver::iter`]).
#[derive(Debug)]
pub struct EventIter<'a> {
    rx: &'a mut EventReceiver,
}

impl Iterator for EventIter<'_> {
    type Item = io::Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rx.recv()
    }
}

/// A blocking iterator over an [`EventReceiver`]'s events, owning it.
#[derive(Debug)]
pub struct EventIntoIter {
    rx: EventReceiver,
}

impl Iterator for EventIntoIter {
    type Item = io::Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rx.recv()
    }
}

impl IntoIterator for EventReceiver {
    type Item = io::Result<Event>;
    type IntoIter = EventIntoIter;

    fn into_iter(self) -> EventIntoIter {
        EventIntoIter { rx: self }
    }
}

impl<'a> IntoIterator for &'a mut EventReceiver {
    type Item = io::Result<Event>;
    type IntoIter = EventIter<'a>;

    fn into_iter(self) -> EventIter<'a> {
        self.iter()
    }
}

/// Ends the channel when dropped: the driver thread returned (or panicked).
struct Finish(Arc<Channel>);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// The driver thread: reads events into the channel until the connection is over. The
/// peer's close is echoed once the application has taken every event before it (its answers,
/// queued by its handles at once, are then ahead of the echo) or the close timer expired.
fn drive<S: Read + Write + Transport>(mut reader: WsReader<S>, channel: Arc<Channel>) {
    let _finish = Finish(channel.clone());
    loop {
        channel.wait_for_room(|| reader.with_connection(|c| c.is_terminated()));
        match reader.recv() {
            Some(Err(e))
                if e.kind() == io::ErrorKind::WouldBlock && reader.with_connection(|c| c.is_close_echo_held()) =>
            {
                channel.wait_peer_closing(|| !reader.with_connection(|c| c.is_close_echo_held()));
                reader.with_connection(|c| c.release_close_echo(Instant::now()));
            }
            Some(event) => channel.push(event),
            None => break,
        }
    }
}

impl<S: Read + Write + Transport + TryClone + Send + 'static> WebSocket<S> {
    /// Runs the connection in driver mode: a thread of its own reads it (answering pings and
    /// the peer's close, running keepalive through the socket's read timeout) and the
    /// connection's flusher thread writes what the returned [`WsHandle`] queues and fires the
    /// timers (keepalive, pong deadline, close timeout); events arrive on the returned
    /// [`EventReceiver`]. `queue` bounds both the messages waiting to be written and the
    /// event channel (at least 1).
    ///
    /// Built on [`split`](Self::split): the stream needs a second handle ([`TryClone`]). A
    /// server's tracked connection keeps its flusher. Should a thread fail to start, or the
    /// second handle fail, the receiver returns that error, then the connection's end.
    pub fn spawn(self, queue: usize) -> (WsHandle, EventReceiver) {
        let queue = queue.max(1);
        let (mut reader, writer) = self.split();
        // The driver reads whenever the channel has room.
        reader.resume();
        // The application takes events from a queue: the peer's close waits for its answers.
        reader.with_connection(|c| c.hold_close_echo(true));
        let shared = writer.shared().clone();
        drop(writer);
        let ops: Arc<dyn Driven> = shared.clone();
        let channel = Arc::new(Channel::new(queue));
        if let Err(e) = shared.spawn_flusher(true) {
            shared.terminate();
            channel.push(Err(e));
        }
        let driver = channel.clone();
        let spawned =
            std::thread::Builder::new().name("ws-blocking driver".into()).spawn(move || drive(reader, driver));
        if let Err(e) = spawned {
            shared.terminate();
            channel.push(Err(e));
            channel.finish();
        }
        let handle =
            WsHandle { inner: Arc::new(Inner { ops: ops.clone(), channel: Some(channel.clone()), limit: queue }) };
        (handle, EventReceiver { channel, ops })
    }
}
