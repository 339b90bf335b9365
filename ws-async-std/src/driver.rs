//! Driver mode: one future owns the stream and the connection (quinn's `ConnectionDriver`);
//! the application spawns it on its executor (`smol::spawn(driver).detach()`,
//! `async_std::task::spawn(driver)`) and keeps cloneable [`WsHandle`]s to send and an
//! [`EventReceiver`] for what arrives. The queues are `async-channel`s, which work on any
//! executor.
//!
//! In one poll the driver takes commands from the bounded queue (only while the connection's
//! output is below its write high-water mark: a peer that does not read fills the queue, so
//! [`WsHandle::send`] waits and [`WsHandle::try_send`] fails with `Full`), drives the socket
//! (reads, writes, timers), and hands events to the bounded event channel; while that is full
//! it stops reading the socket, which is TCP backpressure towards the peer.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use async_channel::{Receiver, Sender, TrySendError as ChannelError};
use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};
use ws_proto::{Bytes, CloseCode, CloseFrame, Event, Message, PreparedMessage, SendError, State};

use crate::drive;
use crate::error::{Error, TrySendError};
use crate::io as wio;
use crate::stream::WebSocket;

/// A command for the driver.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outbound {
    /// A text or binary message.
    Message(Message),
    /// A message framed once for many connections (broadcast).
    Prepared(PreparedMessage),
    /// A ping (payload at most 125 bytes).
    Ping(Bytes),
    /// An unsolicited pong (payload at most 125 bytes).
    Pong(Bytes),
    /// Start the closing handshake (`None`: a close frame without a code).
    Close(Option<CloseFrame>),
    /// Drop the connection without a closing handshake (Node `terminate()`).
    Terminate,
}

impl Outbound {
    /// What the connection would refuse outright, checked before queuing.
    fn check(&self) -> Result<(), SendError> {
        match self {
            Self::Ping(p) | Self::Pong(p) if p.len() > 125 => Err(SendError::ControlPayloadTooLong(p.len())),
            Self::Close(Some(frame)) => frame.validate(),
            _ => Ok(()),
        }
    }
}

/// Sends to a connection run by a [`Driver`]. Cheap to clone; `Send + Sync`.
///
/// Commands go through a bounded queue, in order, and are applied while the connection is
/// open; once it is closing or closed the driver drops them. The methods return
/// [`Error::ConnectionClosed`] once the connection has closed.
#[derive(Clone)]
pub struct WsHandle {
    tx: Sender<Outbound>,
    closed: Arc<AtomicBool>,
}

impl fmt::Debug for WsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsHandle").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

impl WsHandle {
    /// Queues a command, waiting for room (backpressure: the queue drains as fast as the peer
    /// reads). Cancel safe: queued whole or not at all.
    pub async fn command(&self, cmd: Outbound) -> Result<(), Error> {
        cmd.check()?;
        if self.is_closed() {
            return Err(Error::ConnectionClosed);
        }
        self.tx.send(cmd).await.map_err(|_| Error::ConnectionClosed)
    }

    /// Queues a command if there is room, without waiting.
    pub fn try_command(&self, cmd: Outbound) -> Result<(), TrySendError<Outbound>> {
        self.try_push(cmd, |c| c, |c| c)
    }

    fn try_push<T>(
        &self,
        item: T,
        wrap: impl FnOnce(T) -> Outbound,
        unwrap: impl FnOnce(Outbound) -> T,
    ) -> Result<(), TrySendError<T>> {
        if self.is_closed() {
            return Err(TrySendError::Closed(item));
        }
        let cmd = wrap(item);
        cmd.check().map_err(TrySendError::Send)?;
        match self.tx.try_send(cmd) {
            Ok(()) => Ok(()),
            Err(ChannelError::Full(cmd)) => Err(TrySendError::Full(unwrap(cmd))),
            Err(ChannelError::Closed(cmd)) => Err(TrySendError::Closed(unwrap(cmd))),
        }
    }

    /// Sends a message (waits for room in the queue). Cancel safe.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
        self.command(Outbound::Message(msg.into())).await
    }

    /// Queues a message without waiting: [`TrySendError::Full`] when the queue is full (a slow
    /// consumer: a broadcaster drops the message or closes the connection with 1013).
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), TrySendError<Message>> {
        self.try_push(msg.into(), Outbound::Message, |cmd| match cmd {
            Outbound::Message(m) => m,
            _ => unreachable!("wrapped as a message"),
        })
    }

    /// Sends a message framed once for many connections, waiting for room.
    pub async fn send_prepared(&self, msg: PreparedMessage) -> Result<(), Error> {
        self.command(Outbound::Prepared(msg)).await
    }

    /// Queues a prepared message without waiting (encode-once broadcast: clone the
    /// `PreparedMessage`, which shares its bytes).
    pub fn try_send_prepared(&self, msg: PreparedMessage) -> Result<(), TrySendError<PreparedMessage>> {
        self.try_push(msg, Outbound::Prepared, |cmd| match cmd {
            Outbound::Prepared(m) => m,
            _ => unreachable!("wrapped as a prepared message"),
        })
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
    pub async fn terminate(&self) -> Result<(), Error> {
        self.command(Outbound::Terminate).await
    }

    /// Whether the connection has closed (`Event::Closed` was produced) or the driver ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.tx.is_closed()
    }

    /// Waits until the driver has ended (the connection is completely over) or was dropped.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// The events of a connection run by a [`Driver`]: messages (or fragments), pings, pongs,
/// `Event::Closed` once, then the end (`None`). `Err` is an IO failure (followed by
/// `Event::Closed` with 1006). Also a `Stream` of the same items.
///
/// The channel is bounded: while it is full the driver stops reading the socket. Dropping the
/// receiver discards further events; the connection goes on for the handles (and closes with
/// 1000 once they are gone too).
#[derive(Debug)]
pub struct EventReceiver {
    rx: Pin<Box<Receiver<io::Result<Event>>>>,
}

impl EventReceiver {
    /// The next event; `None` once the driver ended. Cancel safe.
    pub async fn recv(&mut self) -> Option<io::Result<Event>> {
        self.rx.recv().await.ok()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<io::Result<Event>> {
        self.rx.try_recv().ok()
    }

    /// Polls for the next event.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Event>>> {
        self.rx.as_mut().poll_next(cx)
    }
}

impl Stream for EventReceiver {
    type Item = io::Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

/// Commands applied per turn before the socket gets its turn.
const COMMANDS_PER_TURN: usize = 64;

type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A connection in driver mode: a future that completes when the connection is over. Spawn
/// it on any executor; it needs no runtime of its own.
#[must_use = "the driver does nothing unless polled or spawned"]
pub struct Driver<S> {
    ws: WebSocket<S>,
    commands: Pin<Box<Receiver<Outbound>>>,
    commands_open: bool,
    events: Sender<io::Result<Event>>,
    events_open: bool,
    /// Events waiting for room in the channel (the last may be `Event::Closed` reported by a
    /// timer while reading was stopped).
    held: VecDeque<io::Result<Event>>,
    /// The front held event being sent while the channel is full.
    sending: Option<Pending<bool>>,
    /// Completes when the event receiver is dropped; watched once the handles are gone.
    receiver_gone: Option<Pending<()>>,
    /// The connection is over; only held events remain to deliver.
    finished: bool,
    closed: Arc<AtomicBool>,
}

impl<S: fmt::Debug> fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").field("ws", &self.ws).field("held", &self.held.len()).finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Driver mode: returns the [`Driver`] future to spawn on your executor, a handle to send
    /// and the receiver of events. `queue` bounds both the command queue and the event channel
    /// (at least 1).
    ///
    /// ```no_run
    /// # async fn run(ws: ws_async_std::WebSocket<smol::net::TcpStream>) -> Result<(), ws_async_std::Error> {
    /// let (driver, handle, mut events) = ws.into_driver(64);
    /// smol::spawn(driver).detach(); // or async_std::task::spawn(driver)
    /// handle.send("hello").await?;
    /// while let Some(event) = events.recv().await {
    ///     println!("{event:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_driver(self, queue: usize) -> (Driver<S>, WsHandle, EventReceiver) {
        let queue = queue.max(1);
        let (tx, commands) = async_channel::bounded(queue);
        let (events, rx) = async_channel::bounded(queue);
        let closed = Arc::new(AtomicBool::new(false));
        let driver = Driver {
            ws: self,
            commands: Box::pin(commands),
            commands_open: true,
            events,
            events_open: true,
            held: VecDeque::new(),
            sending: None,
            receiver_gone: None,
            finished: false,
            closed: Arc::clone(&closed),
        };
        (driver, WsHandle { tx, closed }, EventReceiver { rx: Box::pin(rx) })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    fn apply(&mut self, cmd: Outbound) {
        let conn = &mut self.ws.conn;
        // Refused commands (the connection is no longer open) are dropped: the handles learn
        // about the close through `is_closed` and the event channel.
        let _ = match cmd {
            Outbound::Message(m) => drive::queue(conn, m).map_err(|_| SendError::NotOpen),
            Outbound::Prepared(p) => conn.send_prepared(&p),
            Outbound::Ping(p) => conn.send_ping(p),
            Outbound::Pong(p) => conn.send_pong(p),
            Outbound::Close(frame) => conn.close(frame, wio::now()),
            Outbound::Terminate => {
                self.ws.terminate();
                Ok(())
            }
        };
    }

    fn stop_events(&mut self) {
        self.events_open = false;
        self.held.clear();
        self.sending = None;
    }

    /// Hands an event to the channel, or holds it while the channel is full.
    fn deliver(&mut self, event: io::Result<Event>) {
        if matches!(event, Ok(Event::Closed(_))) {
            self.closed.store(true, Ordering::Release);
        }
        if !self.events_open {
            return;
        }
        if self.sending.is_some() || !self.held.is_empty() {
            self.held.push_back(event);
            return;
        }
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(ChannelError::Full(event)) => self.held.push_back(event),
            Err(ChannelError::Closed(_)) => self.stop_events(),
        }
    }

    /// Moves held events into the channel as room appears; true if any moved.
    fn poll_held(&mut self, cx: &mut Context<'_>) -> bool {
        let mut moved = false;
        loop {
            if let Some(sending) = self.sending.as_mut() {
                match sending.as_mut().poll(cx) {
                    Poll::Pending => return moved,
                    Poll::Ready(true) => self.sending = None,
                    Poll::Ready(false) => {
                        self.stop_events();
                        return true;
                    }
                }
                moved = true;
            }
            let Some(event) = self.held.pop_front() else { return moved };
            match self.events.try_send(event) {
                Ok(()) => moved = true,
                Err(ChannelError::Full(event)) => {
                    let events = self.events.clone();
                    self.sending = Some(Box::pin(async move { events.send(event).await.is_ok() }));
                }
                Err(ChannelError::Closed(_)) => {
                    self.stop_events();
                    return true;
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Driver<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let mut progress = this.poll_held(cx);
            if this.finished {
                if this.held.is_empty() && this.sending.is_none() {
                    this.closed.store(true, Ordering::Release);
                    // Wakes `WsHandle::closed`; the receiver drains what is left, then ends.
                    this.commands.close();
                    this.events.close();
                    return Poll::Ready(());
                }
                if progress {
                    continue;
                }
                return Poll::Pending;
            }
            // Commands, while the output is below the high-water mark.
            let mut taken = 0;
            while this.commands_open && this.ws.conn.is_write_ready() && taken < COMMANDS_PER_TURN {
                match this.commands.as_mut().poll_next(cx) {
                    Poll::Ready(Some(cmd)) => {
                        this.apply(cmd);
                        taken += 1;
                    }
                    Poll::Ready(None) => this.commands_open = false,
                    Poll::Pending => break,
                }
            }
            progress |= taken > 0;
            if !this.commands_open && this.events_open {
                let events = this.events.clone();
                let gone = this.receiver_gone.get_or_insert_with(|| Box::pin(async move { events.closed().await }));
                if gone.as_mut().poll(cx).is_ready() {
                    this.stop_events();
                }
            }
            if !this.commands_open && !this.events_open && this.ws.conn.state() == State::Open {
                // Nobody can send or listen any more.
                let _ = this.ws.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), wio::now());
            }
            // The socket. While events wait for room, reading stops; writes and timers go on.
            this.ws.recv.paused = !this.held.is_empty() || this.sending.is_some();
            match this.ws.poll_next_event(cx) {
                Poll::Ready(Some(event)) => {
                    this.deliver(event);
                    progress = true;
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    progress = true;
                }
                Poll::Pending => {}
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }
}
