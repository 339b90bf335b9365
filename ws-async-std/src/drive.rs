//! The driving loop shared by [`WebSocket`](crate::WebSocket) and
//! [`WsReader`](crate::WsReader), over a [`Transport`]: the whole stream, or the shared stream
//! seen by one half under the lock.
//!
//! One turn, as DESIGN §3.10 prescribes: fire expired timers; hand out a ready event (after
//! opportunistically writing what producing it queued); write queued output; stop once the
//! connection is terminated; read when the connection wants input.

use std::io;
use std::task::{ready, Context, Poll};

use ws_proto::{Bytes, CloseInfo, Connection, Event, Fragment, Message, MessageKind, SendError, State, Utf8Bytes};

use crate::error::{Error, TrySendError};
use crate::io::{self as wio, Timer, WriteState};

/// The stream as the loop sees it.
pub(crate) trait Transport {
    /// Reads once into the connection (`Ready(Ok(0))`: EOF, already handed over).
    fn read(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<usize>>;
    /// Writes all queued output and flushes.
    fn write(&mut self, conn: &mut Connection, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// The write-side progress.
    fn state(&mut self) -> &mut WriteState;
    /// Closes the write side once the connection is over (once, best effort).
    fn finish(&mut self, cx: &mut Context<'_>);
    /// A timer fired and may have ended the connection: wake anyone waiting to write.
    fn timer_fired(&mut self) {}
}

/// Fires due timers. A timer that ended the connection with output still queued dropped that
/// output: later flushes then report `Error::ConnectionClosed`.
fn fire<T: Transport + ?Sized>(timer: &mut Timer, conn: &mut Connection, t: &mut T, cx: &mut Context<'_>) -> bool {
    let had_output = conn.wants_write();
    if !timer.poll(conn, cx) {
        return false;
    }
    if had_output && conn.is_terminated() {
        t.state().dropped = true;
    }
    t.timer_fired();
    true
}

/// The stream failed while writing: the connection is dropped.
fn broken<T: Transport + ?Sized>(conn: &mut Connection, t: &mut T) -> bool {
    conn.terminate();
    !std::mem::replace(&mut t.state().dropped, true)
}

/// Writes everything queued. With a timer (an unsplit connection), the connection's timers run
/// while the stream refuses data, so the close timeout releases a writer stuck on a peer that
/// does not read.
pub(crate) fn poll_flush<T: Transport + ?Sized>(
    conn: &mut Connection,
    t: &mut T,
    mut timer: Option<&mut Timer>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    loop {
        match t.write(conn, cx) {
            Poll::Ready(Ok(())) if t.state().dropped => return Poll::Ready(Err(Error::ConnectionClosed)),
            Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => {
                let first = broken(conn, t);
                return Poll::Ready(Err(if first { Error::Io(e) } else { Error::ConnectionClosed }));
            }
            Poll::Pending => {
                let fired = timer.as_deref_mut().is_some_and(|timer| fire(timer, conn, t, cx));
                if !fired {
                    return Poll::Pending;
                }
            }
        }
    }
}

/// Ready when a message may be queued: the output is below the write high-water mark
/// (flushing until it is), or the connection is not open (the send then says why).
pub(crate) fn poll_ready<T: Transport + ?Sized>(
    conn: &mut Connection,
    t: &mut T,
    timer: Option<&mut Timer>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    if conn.state() != State::Open || conn.is_write_ready() {
        return Poll::Ready(Ok(()));
    }
    // A full flush empties the queue, which satisfies any high-water mark, even zero.
    poll_flush(conn, t, timer, cx)
}

fn push(conn: &mut Connection, msg: Message) -> Result<(), SendError> {
    match msg {
        Message::Text(t) => conn.send_text(t),
        Message::Binary(b) => conn.send_binary(b),
    }
}

/// Queues a message, whatever the queue's size.
pub(crate) fn queue(conn: &mut Connection, msg: Message) -> Result<(), Error> {
    push(conn, msg).map_err(Error::Send)
}

/// Queues a message only if the connection is open and the queue below the high-water mark.
pub(crate) fn try_queue(conn: &mut Connection, msg: Message) -> Result<(), TrySendError<Message>> {
    if conn.state() != State::Open {
        Err(TrySendError::Closed(msg))
    } else if !conn.is_write_ready() {
        Err(TrySendError::Full(msg))
    } else {
        push(conn, msg).map_err(TrySendError::Send)
    }
}

/// A message as the pieces it arrived in: see [`WebSocket::recv_pieces`](crate::WebSocket::recv_pieces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePieces {
    /// Text or binary.
    pub kind: MessageKind,
    /// The payload in arrival order, empty pieces left out. A text piece may end inside a
    /// UTF-8 sequence; the concatenation is valid UTF-8.
    pub pieces: Vec<Bytes>,
}

impl MessagePieces {
    /// The payload length.
    pub fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.pieces.iter().all(Bytes::is_empty)
    }

    /// The payload in one buffer (no copy for one piece).
    pub fn concat(&self) -> Bytes {
        if let [one] = self.pieces.as_slice() {
            return one.clone();
        }
        let mut all = Vec::with_capacity(self.len());
        for p in &self.pieces {
            all.extend_from_slice(p);
        }
        Bytes::from(all)
    }

    /// The whole message. Text that is not UTF-8 (only possible with
    /// `Config::skip_utf8_validation`) comes out binary.
    pub fn into_message(self) -> Message {
        let data = self.concat();
        match self.kind {
            MessageKind::Binary => Message::Binary(data),
            MessageKind::Text => Utf8Bytes::try_from(data.clone()).map_or(Message::Binary(data), Message::Text),
        }
    }
}

impl From<Message> for MessagePieces {
    fn from(m: Message) -> Self {
        let kind = m.kind();
        let data = m.into_bytes();
        Self { kind, pieces: if data.is_empty() { Vec::new() } else { vec![data] } }
    }
}

/// The receiving side's state: the timer, the held `Closed`, pause, message assembly.
#[derive(Debug, Default)]
pub(crate) struct Receiver {
    pub(crate) timer: Timer,
    /// `Event::Closed`, held back until what closing queued (the echo, a server's half-close)
    /// is written.
    closed: Option<Event>,
    /// An IO error met while writing after an event was already taken; returned next.
    error: Option<io::Error>,
    reported: bool,
    info: Option<CloseInfo>,
    pub(crate) paused: bool,
    /// Fragments of the message being assembled (message-level API in fragment mode).
    pieces: Vec<Bytes>,
    /// The message-level API consumed `Event::Closed`: it returns `None` from now on.
    ended: bool,
}

impl Receiver {
    pub(crate) fn close_info(&self) -> Option<&CloseInfo> {
        self.info.as_ref()
    }

    /// The next event. See [`WebSocket::poll_next_event`](crate::WebSocket::poll_next_event).
    pub(crate) fn poll_event<T: Transport + ?Sized>(
        &mut self,
        conn: &mut Connection,
        t: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Event>>> {
        if let Some(e) = self.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            fire(&mut self.timer, conn, t, cx);
            if let Some(closed) = self.closed.take() {
                match t.write(conn, cx) {
                    Poll::Pending => {
                        // Bounded by the close timer, armed just above.
                        self.closed = Some(closed);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(_)) => {
                        broken(conn, t);
                    }
                    Poll::Ready(Ok(())) => {}
                }
                return Poll::Ready(Some(Ok(closed)));
            }
            if !self.paused || conn.is_terminated() {
                match conn.poll_event(wio::now()) {
                    Some(Event::Closed(info)) => {
                        self.reported = true;
                        self.info = Some(info.clone());
                        self.closed = Some(Event::Closed(info));
                        continue;
                    }
                    Some(event) => {
                        // Pongs and echoes go out now if the stream takes them; a failure is
                        // reported after this event.
                        if conn.wants_write() {
                            if let Poll::Ready(Err(e)) = t.write(conn, cx) {
                                broken(conn, t);
                                self.error = Some(e);
                            }
                        }
                        return Poll::Ready(Some(Ok(event)));
                    }
                    None => {}
                }
            }
            let wrote = t.write(conn, cx);
            if let Poll::Ready(Err(e)) = wrote {
                return self.failed(conn, t, e);
            }
            if conn.is_terminated() {
                t.finish(cx);
                return Poll::Ready(None);
            }
            if self.paused {
                return Poll::Pending;
            }
            if !conn.wants_read() {
                if wrote.is_pending() {
                    return Poll::Pending;
                }
                // Not reachable with a correct core; never spin.
                let e = io::Error::other("ws-proto neither wants input nor is terminated");
                return self.failed(conn, t, e);
            }
            match t.read(conn, cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return self.failed(conn, t, e),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The stream failed: the connection is dropped and reports `Event::Closed` (1006) next,
    /// unless that was reported already.
    fn failed<T: Transport + ?Sized>(
        &mut self,
        conn: &mut Connection,
        t: &mut T,
        e: io::Error,
    ) -> Poll<Option<io::Result<Event>>> {
        broken(conn, t);
        Poll::Ready(if self.reported { None } else { Some(Err(e)) })
    }

    /// The next data message, whole or as the fragments it arrived in; `None` once
    /// `Event::Closed` was consumed.
    fn poll_data<T: Transport + ?Sized>(
        &mut self,
        conn: &mut Connection,
        t: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Data>>> {
        while !self.ended {
            match ready!(self.poll_event(conn, t, cx)) {
                None | Some(Ok(Event::Closed(_))) => self.ended = true,
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(Event::Message(m))) => return Poll::Ready(Some(Ok(Data::Whole(m)))),
                Some(Ok(Event::Fragment(f))) => {
                    if let Some(done) = self.collect(f) {
                        return Poll::Ready(Some(Ok(Data::Pieces(done))));
                    }
                }
                Some(Ok(_)) => {}
            }
        }
        Poll::Ready(None)
    }

    /// The next data message as pieces; `None` once `Event::Closed` was consumed.
    pub(crate) fn poll_pieces<T: Transport + ?Sized>(
        &mut self,
        conn: &mut Connection,
        t: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<MessagePieces>>> {
        let next = ready!(self.poll_data(conn, t, cx));
        Poll::Ready(next.map(|r| r.map(Data::into_pieces)))
    }

    /// The next data message; `None` once `Event::Closed` was consumed.
    pub(crate) fn poll_message<T: Transport + ?Sized>(
        &mut self,
        conn: &mut Connection,
        t: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        let next = ready!(self.poll_data(conn, t, cx));
        Poll::Ready(next.map(|r| r.map(Data::into_message).map_err(Error::Io)))
    }

    fn collect(&mut self, f: Fragment) -> Option<MessagePieces> {
        if !f.data.is_empty() {
            self.pieces.push(f.data);
        }
        f.fin.then(|| MessagePieces { kind: f.kind, pieces: std::mem::take(&mut self.pieces) })
    }
}

/// A data message as the connection delivered it.
enum Data {
    Whole(Message),
    Pieces(MessagePieces),
}

impl Data {
    fn into_message(self) -> Message {
        match self {
            Self::Whole(m) => m,
            Self::Pieces(p) => p.into_message(),
        }
    }

    fn into_pieces(self) -> MessagePieces {
        match self {
            Self::Whole(m) => m.into(),
            Self::Pieces(p) => p,
        }
    }
}
