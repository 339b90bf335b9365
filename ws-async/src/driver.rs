//! Driver-task mode: one task owns the stream and the connection (quinn's `ConnectionDriver`
//! pattern); the application holds a cloneable [`WsHandle`] to send and an [`EventReceiver`]
//! for what arrives.
//!
//! The driver polls, in one task: the bounded command queue (only while the connection's
//! output is below its write high-water mark, so a peer that does not read fills the queue and
//! makes [`WsHandle::send`] wait and [`WsHandle::try_send`] fail with `Full`; and not while a
//! large message is being compressed off the runtime, see [`offload`](crate::offload), so
//! commands keep their order), the socket (reading, writing, the timers), and room in the
//! bounded event channel: while it is full the driver stops reading the socket, which is TCP
//! backpressure towards the peer.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use tokio::sync::mpsc::{self, error::TrySendError as ChannelFull, OwnedPermit};
use ws_proto::{Bytes, CloseCode, CloseFrame, Event, Message, PreparedMessage, SendError, SendOptions, State};

use crate::error::{Error, TrySendError};
use crate::runtime::{Io, Runtime};
use crate::stream::WebSocket;

/// A command for the driver task.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outbound {
    /// A text or binary message.
    Message(Message),
    /// A message with per-message options (Node `send(data, { compress, mask })`); see
    /// [`WsHandle::send_with`].
    MessageWith(Message, SendOptions),
    /// A message framed once for many connections (broadcast).
    Prepared(PreparedMessage),
    /// A ping (payload at most 125 bytes).
    Ping(Bytes),
    /// An unsolicited pong (payload at most 125 bytes).
    Pong(Bytes),
    /// Start the closing handshake (`None`: a close frame without a status code).
    Close(Option<CloseFrame>),
    /// Drop the connection without a closing handshake (Node `terminate()`).
    Terminate,
}

impl Outbound {
    /// Whether the command sends something (refused once the connection is no longer open);
    /// `Close` and `Terminate` are always taken.
    fn sends(&self) -> bool {
        !matches!(self, Self::Close(_) | Self::Terminate)
    }

    /// A message the application handed over (counted when it cannot be sent).
    fn is_message(&self) -> bool {
        matches!(self, Self::Message(_) | Self::MessageWith(..) | Self::Prepared(_))
    }

    /// Checks what the connection would refuse outright (control payload sizes, close codes).
    fn validate(&self) -> Result<(), SendError> {
        match self {
            Self::Ping(p) | Self::Pong(p) if p.len() > 125 => Err(SendError::ControlPayloadTooLong(p.len())),
            Self::Close(Some(f)) => f.validate(),
            _ => Ok(()),
        }
    }
}

/// What goes through the urgent channel: commands that bypass the queue, and the event
/// receiver's go-ahead for the held close echo.
#[derive(Debug)]
enum Urgent {
    Command(Outbound),
    /// The application took [`Item::PeerClosing`]: once the commands it queued before are
    /// applied, echo the peer's close.
    ReleaseCloseEcho,
}

/// What goes through the event channel.
#[derive(Debug)]
enum Item {
    Event(io::Result<Event>),
    /// The peer's close was reached (every event before it is ahead in the channel) and its
    /// echo is held; the receiver turns this into [`Urgent::ReleaseCloseEcho`].
    PeerClosing,
}

/// State the driver shares with the handles.
#[derive(Debug)]
struct Status {
    /// `Event::Closed` was produced, or the driver ended.
    closed: AtomicBool,
    /// Whether commands that send are accepted: true while the connection is open. The
    /// driver clears it under the write lock, then takes what is left in the queue; a handle
    /// checks it and queues under the read lock. So every command that sends was queued
    /// before the driver stopped accepting (and is applied or counted as unsent), or is
    /// refused with an error.
    accepting: RwLock<bool>,
}

impl Default for Status {
    fn default() -> Self {
        Self { closed: AtomicBool::new(false), accepting: RwLock::new(true) }
    }
}

/// Sends to a connection run by a driver task. Cheap to clone; `Send + Sync`.
///
/// Commands go through a bounded queue, in order, and are applied while the connection is
/// open.
///
/// # When a message is on the wire, queued, or lost
///
/// - `send` / `try_send` (and the prepared variants) returning `Ok` means the message is in
///   the command queue, not on the wire: the driver moves it into the connection (in order;
///   a large compressed message first goes through [`offload`](crate::offload)), and writes
///   it as the peer reads. There is no per-message acknowledgement; a clean close
///   (`Event::Closed` with [`CloseInfo::was_clean`](ws_proto::CloseInfo::was_clean)) means
///   every message queued before the close went out before the close frame.
/// - Once the connection is no longer open (this side's close was applied, the peer's close
///   was echoed, a failure, a timer, `terminate`), every method that sends returns
///   [`Error::ConnectionClosed`] (`try_*`: [`TrySendError::Closed`] with the message back).
/// - A message accepted (`Ok`) that can no longer be sent (it was still queued behind a close
///   or a `close_now`, or was being compressed when the connection ended) is counted in the
///   `Event::Closed`'s [`CloseInfo::unsent_messages`](ws_proto::CloseInfo::unsent_messages):
///   never dropped silently. Output the connection already held when it was terminated or
///   timed out is discarded with it (Node `terminate()`); `Closed` then carries the error.
///   Input is not: after `terminate`, the messages already received still arrive on the
///   [`EventReceiver`] before `Closed`.
#[derive(Clone)]
pub struct WsHandle {
    tx: mpsc::Sender<Outbound>,
    /// Close and terminate commands that bypass the bounded queue ([`WsHandle::close_now`]).
    urgent: mpsc::UnboundedSender<Urgent>,
    status: Arc<Status>,
}

impl fmt::Debug for WsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsHandle").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

impl WsHandle {
    /// Queues a command, waiting for room in the queue (backpressure: the queue drains only as
    /// fast as the peer reads). Cancel safe: the command is queued whole or not at all.
    pub async fn command(&self, cmd: Outbound) -> Result<(), Error> {
        cmd.validate()?;
        if self.is_closed() {
            return Err(Error::ConnectionClosed);
        }
        let permit = self.tx.reserve().await.map_err(|_| Error::ConnectionClosed)?;
        let accepting = self.status.accepting.read().unwrap_or_else(PoisonError::into_inner);
        if !*accepting && cmd.sends() {
            return Err(Error::ConnectionClosed);
        }
        permit.send(cmd);
        Ok(())
    }

    /// Queues a command if the queue has room, without waiting.
    pub fn try_command(&self, cmd: Outbound) -> Result<(), TrySendError<Outbound>> {
        let sends = cmd.sends();
        self.try_push(cmd, sends, |c| c)
    }

    /// Queues `item` (wrapped by `wrap`) if there is room; `sends`: whether the command sends
    /// something (refused once the connection is no longer open).
    fn try_push<T>(&self, item: T, sends: bool, wrap: impl FnOnce(T) -> Outbound) -> Result<(), TrySendError<T>> {
        if self.is_closed() {
            return Err(TrySendError::Closed(item));
        }
        let accepting = self.status.accepting.read().unwrap_or_else(PoisonError::into_inner);
        if !*accepting && sends {
            return Err(TrySendError::Closed(item));
        }
        match self.tx.try_reserve() {
            Ok(permit) => {
                let cmd = wrap(item);
                cmd.validate().map_err(TrySendError::Send)?;
                permit.send(cmd);
                Ok(())
            }
            Err(ChannelFull::Full(())) => Err(TrySendError::Full(item)),
            Err(ChannelFull::Closed(())) => Err(TrySendError::Closed(item)),
        }
    }

    /// Sends a message: queues it for the driver, waiting for room (backpressure). `Ok` means
    /// queued, not written (see [When a message is on the wire](WsHandle#when-a-message-is-on-the-wire-queued-or-lost));
    /// [`Error::ConnectionClosed`] once the connection is no longer open. Cancel safe.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
        self.command(Outbound::Message(msg.into())).await
    }

    /// Queues a message without waiting: [`TrySendError::Full`] when the queue is full (a slow
    /// consumer; a broadcaster drops the message or closes the connection with 1013),
    /// [`TrySendError::Closed`] once the connection is no longer open; both hand the message
    /// back. `Ok` means queued, as for [`send`](Self::send).
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), TrySendError<Message>> {
        self.try_push(msg.into(), true, Outbound::Message)
    }

    /// Sends a message with per-message options (Node `send(data, { compress, mask })`),
    /// waiting for room, as [`send`](Self::send) does: `SendOptions::default().compress(false)`
    /// sends this one message uncompressed, `.mask(false)` unmasked from a client (a testing
    /// tool: a conforming server fails the connection with 1002; servers never mask). With the
    /// default options it is `send`; otherwise the message is compressed on the driver task,
    /// never [offloaded](crate::offload). Cancel safe.
    pub async fn send_with(&self, msg: impl Into<Message>, opts: SendOptions) -> Result<(), Error> {
        self.command(Outbound::MessageWith(msg.into(), opts)).await
    }

    /// [`send_with`](Self::send_with) without waiting: errors as [`try_send`](Self::try_send),
    /// handing the message back.
    pub fn try_send_with(&self, msg: impl Into<Message>, opts: SendOptions) -> Result<(), TrySendError<Message>> {
        self.try_push(msg.into(), true, |m| Outbound::MessageWith(m, opts))
    }

    /// Sends a message framed once for many connections, waiting for room.
    pub async fn send_prepared(&self, msg: PreparedMessage) -> Result<(), Error> {
        self.command(Outbound::Prepared(msg)).await
    }

    /// Queues a prepared message without waiting (encode-once broadcast: clone the
    /// `PreparedMessage`, which shares its bytes).
    pub fn try_send_prepared(&self, msg: PreparedMessage) -> Result<(), TrySendError<PreparedMessage>> {
        self.try_push(msg, true, Outbound::Prepared)
    }

    /// Sends a ping; the pong arrives as `Event::Pong` on the [`EventReceiver`].
    pub async fn ping(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.command(Outbound::Ping(payload.into())).await
    }

    /// Sends an unsolicited pong.
    pub async fn pong(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.command(Outbound::Pong(payload.into())).await
    }

    /// Starts the closing handshake after the commands queued before it; `Event::Closed`
    /// arrives on the [`EventReceiver`] when the peer answers or the close timeout expires.
    pub async fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.command(Outbound::Close(Some(CloseFrame::new(code.into(), reason)))).await
    }

    /// Drops the connection without a closing handshake, after the commands queued before it.
    /// The [`EventReceiver`] still gets the messages already received (also those the driver
    /// had not parsed yet while the channel was full), then `Event::Closed` (1006).
    pub async fn terminate(&self) -> Result<(), Error> {
        self.command(Outbound::Terminate).await
    }

    /// Starts the closing handshake at once, ahead of the commands still queued (a closing
    /// connection sends no more messages: theirs are counted in the `Event::Closed`'s
    /// [`CloseInfo::unsent_messages`](ws_proto::CloseInfo::unsent_messages)). Works when the queue is
    /// full, so a server can close a slow consumer (e.g. with 1013 Try Again Later). The close
    /// frame is written after the output the connection already holds; if the peer does not
    /// read it, the close timeout ends the connection. Does nothing if it is already closing.
    pub fn close_now(&self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.urgent(Outbound::Close(Some(CloseFrame::new(code.into(), reason))))
    }

    /// Drops the connection at once without a closing handshake, ahead of the commands still
    /// queued (Node `terminate()`), even when the queue is full. As with
    /// [`terminate`](Self::terminate), the messages already received still reach the
    /// [`EventReceiver`] before `Event::Closed`.
    pub fn terminate_now(&self) -> Result<(), Error> {
        self.urgent(Outbound::Terminate)
    }

    fn urgent(&self, cmd: Outbound) -> Result<(), Error> {
        cmd.validate()?;
        if self.is_closed() {
            return Err(Error::ConnectionClosed);
        }
        self.urgent.send(Urgent::Command(cmd)).map_err(|_| Error::ConnectionClosed)
    }

    /// Whether the connection has closed (`Event::Closed` was produced) or the driver ended.
    pub fn is_closed(&self) -> bool {
        self.status.closed.load(Ordering::Acquire) || self.tx.is_closed()
    }

    /// Waits until the driver task has ended (the connection is completely over).
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// The events of a connection run by a driver task: messages (or fragments), pings, pongs,
/// then `Event::Closed` once, then the end (`None`). `Err` is an IO failure (followed by the
/// messages already received and `Event::Closed` with 1006).
///
/// The channel is bounded: while it is full the driver stops reading the socket. Dropping the
/// receiver discards further events; the connection keeps running for the handles (and closes
/// with 1000 once the handles are gone too).
///
/// The peer's close does not overtake the application: the driver echoes it only once the
/// application has taken every event before it from this receiver and the commands it queued
/// until then are applied (bounded by the close timeout), so an echo server answers every
/// message before the close; `Event::Closed` follows the echo.
#[derive(Debug)]
pub struct EventReceiver {
    rx: mpsc::Receiver<Item>,
    urgent: mpsc::UnboundedSender<Urgent>,
}

impl EventReceiver {
    /// The next event; `None` once the driver ended. Cancel safe.
    pub async fn recv(&mut self) -> Option<io::Result<Event>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<io::Result<Event>> {
        loop {
            match self.rx.try_recv().ok()? {
                Item::Event(event) => return Some(event),
                Item::PeerClosing => self.release_close_echo(),
            }
        }
    }

    /// Polls for the next event.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Event>>> {
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(Item::Event(event))) => return Poll::Ready(Some(event)),
                Poll::Ready(Some(Item::PeerClosing)) => self.release_close_echo(),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn release_close_echo(&self) {
        // The driver may be gone already; then there is nothing left to echo.
        let _ = self.urgent.send(Urgent::ReleaseCloseEcho);
    }
}

#[cfg(feature = "futures")]
impl futures_core::Stream for EventReceiver {
    type Item = io::Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

/// Commands applied per turn before the socket gets its turn.
const COMMANDS_PER_TURN: usize = 64;

type Reserve = Pin<Box<dyn Future<Output = Result<OwnedPermit<Item>, mpsc::error::SendError<()>>> + Send>>;

/// The task that runs a connection in driver mode: a future that ends when the connection is
/// over. [`WebSocket::spawn`] spawns it; [`WebSocket::into_driver`] hands it out for other
/// executors (a `LocalSet`, a `JoinSet`).
#[must_use = "the driver does nothing unless polled or spawned"]
pub struct Driver<S, R: Runtime> {
    ws: WebSocket<S, R>,
    commands: mpsc::Receiver<Outbound>,
    commands_open: bool,
    urgent: mpsc::UnboundedReceiver<Urgent>,
    events: mpsc::Sender<Item>,
    events_open: bool,
    /// Events waiting for room in the channel (the last may be `Event::Closed` reported by a
    /// timer while reading was stopped).
    held: VecDeque<Item>,
    /// [`Item::PeerClosing`] was delivered for the held close echo.
    peer_closing_sent: bool,
    /// The receiver asked for the close echo: it goes out once the queued commands are applied.
    release_wanted: bool,
    reserve: Option<Reserve>,
    /// Resolves when the event receiver is dropped; watched once the handles are gone.
    receiver_gone: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The connection is over; only held events remain to deliver.
    finished: bool,
    /// Commands that send are still accepted (a copy of `status.accepting`).
    accepting: bool,
    /// Messages accepted from the handles that could not be sent (added to
    /// [`CloseInfo::unsent_messages`](ws_proto::CloseInfo::unsent_messages)).
    unsent: usize,
    status: Arc<Status>,
}

impl<S: fmt::Debug, R: Runtime> fmt::Debug for Driver<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").field("ws", &self.ws).field("held", &self.held.len()).finish_non_exhaustive()
    }
}

impl<S: Unpin + Send + 'static, R: Io<S>> WebSocket<S, R> {
    /// Runs the connection in a task of its own (the runtime's `spawn`; must be called within
    /// the runtime) and returns a handle to send and the receiver of events. `queue` bounds
    /// both the command queue and the event channel (at least 1).
    pub fn spawn(self, queue: usize) -> (WsHandle, EventReceiver) {
        let (driver, handle, events) = self.into_driver(queue);
        R::spawn(driver);
        (handle, events)
    }
}

impl<S, R: Io<S>> WebSocket<S, R> {
    /// Like [`spawn`](Self::spawn), but returns the driver future to run it yourself.
    pub fn into_driver(mut self, queue: usize) -> (Driver<S, R>, WsHandle, EventReceiver) {
        let queue = queue.max(1);
        // The application reads events through a queue: the peer's close must not overtake
        // the answers it still sends (see `EventReceiver`).
        self.conn.hold_close_echo(true);
        let (tx, commands) = mpsc::channel(queue);
        let (urgent_tx, urgent) = mpsc::unbounded_channel();
        let (events, rx) = mpsc::channel(queue);
        let status = Arc::new(Status::default());
        let driver = Driver {
            ws: self,
            commands,
            commands_open: true,
            urgent,
            events,
            events_open: true,
            held: VecDeque::new(),
            peer_closing_sent: false,
            release_wanted: false,
            reserve: None,
            receiver_gone: None,
            finished: false,
            accepting: true,
            unsent: 0,
            status: status.clone(),
        };
        let receiver = EventReceiver { rx, urgent: urgent_tx.clone() };
        (driver, WsHandle { tx, urgent: urgent_tx, status }, receiver)
    }
}

impl<S, R: Io<S>> Driver<S, R> {
    fn apply(&mut self, cmd: Outbound) {
        let message = cmd.is_message();
        let conn = &mut self.ws.conn;
        // A refused message (the connection is no longer open) is counted for `Event::Closed`;
        // other refusals (a ping, a second close) need no report.
        let result = match cmd {
            Outbound::Message(m) => {
                crate::stream::queue(conn, &mut self.ws.write.offload, m).map_err(|_| SendError::NotOpen)
            }
            // The default options take the path that may offload compression.
            Outbound::MessageWith(m, opts) if opts == SendOptions::default() => {
                crate::stream::queue(conn, &mut self.ws.write.offload, m).map_err(|_| SendError::NotOpen)
            }
            Outbound::MessageWith(m, opts) => conn.send_message_with(m, opts),
            Outbound::Prepared(p) => conn.send_prepared(&p),
            Outbound::Ping(p) => conn.send_ping(p),
            Outbound::Pong(p) => conn.send_pong(p),
            Outbound::Close(f) => conn.close(f, R::now()),
            Outbound::Terminate => {
                self.ws.terminate();
                Ok(())
            }
        };
        if message && result.is_err() {
            self.unsent += 1;
        }
        self.check_open();
    }

    /// Once the connection is no longer open, stops accepting commands that send and takes
    /// those already queued: their messages are counted as unsent (a `Terminate` among them
    /// still applies).
    fn check_open(&mut self) {
        if !self.accepting || self.ws.conn.state() == State::Open {
            return;
        }
        self.accepting = false;
        *self.status.accepting.write().unwrap_or_else(PoisonError::into_inner) = false;
        while let Ok(cmd) = self.commands.try_recv() {
            match cmd {
                Outbound::Terminate => self.ws.terminate(),
                cmd if cmd.is_message() => self.unsent += 1,
                _ => {}
            }
        }
    }

    /// Hands an event to the channel, or holds it while the channel is full.
    fn deliver(&mut self, mut event: Item) {
        if let Item::Event(Ok(Event::Closed(info))) = &mut event {
            self.check_open();
            info.unsent_messages += self.unsent;
            self.status.closed.store(true, Ordering::Release);
        }
        if !self.events_open {
            return;
        }
        if !self.held.is_empty() {
            self.held.push_back(event);
            return;
        }
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(ChannelFull::Full(event)) => self.held.push_back(event),
            Err(ChannelFull::Closed(_)) => self.events_open = false,
        }
    }

    /// Moves held events into the channel as room appears; true if any moved.
    fn poll_held(&mut self, cx: &mut Context<'_>) -> bool {
        let mut moved = false;
        while !self.held.is_empty() {
            let reserve = self.reserve.get_or_insert_with(|| Box::pin(self.events.clone().reserve_owned()));
            match reserve.as_mut().poll(cx) {
                Poll::Pending => return moved,
                Poll::Ready(result) => {
                    self.reserve = None;
                    match (result, self.held.pop_front()) {
                        (Ok(permit), Some(event)) => {
                            permit.send(event);
                            moved = true;
                        }
                        (Ok(_), None) => {}
                        (Err(_), _) => {
                            self.events_open = false;
                            self.held.clear();
                            return true;
                        }
                    }
                }
            }
        }
        moved
    }
}

impl<S: Unpin, R: Io<S>> Future for Driver<S, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let mut progress = this.poll_held(cx);
            if this.finished {
                if this.held.is_empty() {
                    this.status.closed.store(true, Ordering::Release);
                    return Poll::Ready(());
                }
                return if progress { continue } else { Poll::Pending };
            }
            // Urgent commands (close or terminate), whatever the output holds.
            let mut taken = 0;
            while let Poll::Ready(Some(urgent)) = this.urgent.poll_recv(cx) {
                match urgent {
                    Urgent::Command(cmd) => this.apply(cmd),
                    Urgent::ReleaseCloseEcho => this.release_wanted = true,
                }
                taken += 1;
            }
            // Commands, while the output is below the high-water mark (or every queued one
            // before a held close echo: the queue bounds them) and no message is being
            // compressed off the runtime (commands stay in order behind it).
            let mut queue_empty = !this.commands_open;
            while this.commands_open
                && (this.ws.conn.is_write_ready() || this.release_wanted)
                && !this.ws.write.offload.is_pending()
                && (taken < COMMANDS_PER_TURN || this.release_wanted)
            {
                match this.commands.poll_recv(cx) {
                    Poll::Ready(Some(cmd)) => {
                        this.apply(cmd);
                        taken += 1;
                    }
                    Poll::Ready(None) => {
                        this.commands_open = false;
                        queue_empty = true;
                    }
                    Poll::Pending => {
                        queue_empty = true;
                        break;
                    }
                }
            }
            progress |= taken > 0;
            if this.ws.conn.is_close_echo_held() {
                // Without a receiver nobody will take the marker: the commands already queued
                // still go out first, then the echo.
                this.release_wanted |= !this.events_open;
                let ready = queue_empty && !this.ws.write.offload.is_pending();
                if (this.release_wanted && ready) || !this.commands_open {
                    this.release_wanted = false;
                    this.ws.conn.release_close_echo(R::now());
                    progress = true;
                } else if !this.peer_closing_sent {
                    this.peer_closing_sent = true;
                    this.deliver(Item::PeerClosing);
                    progress = true;
                }
            }
            if !this.commands_open && this.events_open {
                let events = this.events.clone();
                let gone = this.receiver_gone.get_or_insert_with(|| Box::pin(async move { events.closed().await }));
                if gone.as_mut().poll(cx).is_ready() {
                    this.events_open = false;
                    this.held.clear();
                }
            }
            if !this.commands_open && !this.events_open && this.ws.conn.state() == State::Open {
                // Nobody can send or listen any more.
                let _ = this.ws.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), R::now());
            }
            // The socket. While events wait for room, reading stops; writes and timers go on.
            let state = this.ws.conn.state();
            if this.held.is_empty() {
                this.ws.recv.pause.resume(state);
            } else {
                this.ws.recv.pause.pause(state);
            }
            let offloading = this.ws.write.offload.is_pending();
            // Commands were left queued because the output was full: if writing drains it,
            // take them in the next turn (nothing else would wake this task for them).
            let write_blocked = this.commands_open && !this.ws.conn.is_write_ready();
            match this.ws.poll_next_event(cx) {
                Poll::Ready(Some(event)) => {
                    this.deliver(Item::Event(event));
                    progress = true;
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    progress = true;
                }
                Poll::Pending => {}
            }
            this.check_open();
            // The peer's close was just reached: announce it in the next turn.
            progress |= this.ws.conn.is_close_echo_held() && !this.peer_closing_sent;
            // A compression finished: commands may be taken again.
            progress |= offloading && !this.ws.write.offload.is_pending();
            progress |= write_blocked && this.ws.conn.is_write_ready();
            if !progress {
                return Poll::Pending;
            }
        }
    }
}
