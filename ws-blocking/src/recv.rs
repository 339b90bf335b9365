//! The receiving side of the driving loop, shared by [`WebSocket`](crate::WebSocket) and
//! [`WsReader`](crate::WsReader).

use std::io;
use std::time::Instant;

use ws_proto::{CloseInfo, Event, Message, MessagePieces, Pause, PieceCollector};

use crate::core::Receiver;
use crate::Error;

/// What the application has been told, and what it still has to be told.
#[derive(Debug, Default)]
pub(crate) struct RecvState {
    /// An IO error met while writing after an event was already in hand; returned next.
    pending_error: Option<io::Error>,
    closed_reported: bool,
    close_info: Option<CloseInfo>,
    /// The application's pause, with Node's rules.
    pub(crate) pause: Pause,
    /// The message being collected in fragment mode.
    pieces: PieceCollector,
    /// `Event::Closed` was consumed by the message-level calls.
    messages_ended: bool,
}

/// What one look at the connection found.
struct Look {
    event: Option<Event>,
    terminated: bool,
    wants_read: bool,
    wants_write: bool,
    /// The output queue is below the high-water mark.
    write_ready: bool,
    /// The peer's close was reached and its echo is held (driver mode).
    echo_held: bool,
}

impl RecvState {
    pub(crate) fn close_info(&self) -> Option<&CloseInfo> {
        self.close_info.as_ref()
    }

    /// The connection failed before the application saw it: `e` is returned first.
    pub(crate) fn fail_with(&mut self, e: io::Error) {
        self.pending_error = Some(e);
    }

    /// The loop every adapter shares: (1) fire expired timers; (2) return a ready event, writing
    /// first only what must not wait (an auto-pong, a close echo, the server's half-close, a
    /// queue past the high-water mark); (3) write queued output; (4) stop once terminated; (5) read when the connection wants
    /// input.
    pub(crate) fn recv<C: Receiver>(&mut self, c: &mut C) -> Option<io::Result<Event>> {
        if let Some(e) = self.pending_error.take() {
            return Some(Err(e));
        }
        loop {
            let now = Instant::now();
            let paused = self.pause.is_paused();
            let look = c.with_conn(|conn| {
                if conn.poll_timeout().is_some_and(|d| d <= now) {
                    conn.handle_timeout(now);
                }
                let event = if !paused || conn.is_terminated() { conn.poll_event(now) } else { None };
                Look {
                    event,
                    terminated: conn.is_terminated(),
                    wants_read: conn.wants_read(),
                    wants_write: conn.wants_write(),
                    write_ready: conn.is_write_ready(),
                    echo_held: conn.is_close_echo_held(),
                }
            });
            if let Some(event) = look.event {
                // Output is corked while input is buffered: a read batch's answers (fed
                // replies, pongs) share one write, made below before the next read. An
                // auto-pong goes at once (the application may take long to ask again), and a
                // queue past the high-water mark is written to keep it bounded.
                let urgent = matches!(event, Event::Ping(_)) || !look.write_ready;
                return Some(Ok(self.deliver(c, event, look.wants_write && urgent)));
            }
            if let Err(e) = c.write_out(false) {
                return self.io_failed(c, e);
            }
            if look.terminated {
                c.close_io();
                return None;
            }
            if c.with_conn(|conn| conn.is_terminated()) {
                // A timer ended the connection while writing: its `Closed` comes next.
                continue;
            }
            if paused {
                return Some(Err(io::Error::new(io::ErrorKind::WouldBlock, "reading is paused")));
            }
            if look.echo_held {
                // Driver mode: nothing more to read until the application releases the echo.
                return Some(Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the peer's close waits for the application",
                )));
            }
            if !look.wants_read {
                if look.wants_write {
                    // Nothing to read until the output is out: wait for the writer.
                    if let Err(e) = c.write_out(true) {
                        return self.io_failed(c, e);
                    }
                    continue;
                }
                let e = io::Error::other("ws-proto neither wants input nor is terminated");
                return self.io_failed(c, e);
            }
            if let Err(e) = c.read_once() {
                return self.io_failed(c, e);
            }
        }
    }

    /// Hands an event out, after writing the queued output when `write` (or it is `Closed`).
    fn deliver<C: Receiver>(&mut self, c: &mut C, event: Event, write: bool) -> Event {
        let closed = matches!(event, Event::Closed(_));
        if write || closed {
            if let Err(e) = c.write_out(closed) {
                c.with_conn(|conn| conn.terminate());
                c.close_io();
                if !closed {
                    self.pending_error = Some(e);
                }
            }
        }
        if let Event::Closed(info) = &event {
            self.closed_reported = true;
            self.close_info = Some(info.clone());
        }
        event
    }

    /// The stream failed: drop the connection. Its `Event::Closed` (1006) comes next, unless
    /// it was already reported.
    fn io_failed<C: Receiver>(&mut self, c: &mut C, e: io::Error) -> Option<io::Result<Event>> {
        c.with_conn(|conn| conn.terminate());
        c.close_io();
        if self.closed_reported {
            None
        } else {
            Some(Err(e))
        }
    }

    /// The next data message as pieces; `None` once `Event::Closed` was consumed.
    pub(crate) fn recv_pieces<C: Receiver>(&mut self, c: &mut C) -> Option<io::Result<MessagePieces>> {
        if self.messages_ended {
            return None;
        }
        loop {
            match self.recv(c) {
                None | Some(Ok(Event::Closed(_))) => {
                    self.messages_ended = true;
                    return None;
                }
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(Event::Message(m))) => return Some(Ok(m.into())),
                Some(Ok(Event::Fragment(f))) => {
                    if let Some(p) = self.pieces.push(f) {
                        return Some(Ok(p));
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next data message; `None` once `Event::Closed` was consumed.
    pub(crate) fn recv_message<C: Receiver>(&mut self, c: &mut C) -> Option<Result<Message, Error>> {
        Some(self.recv_pieces(c)?.map(MessagePieces::into_message).map_err(Error::Io))
    }
}

/// The receiving methods, spelled as in ws-async, for a type with fields `recv: RecvState`
/// and a `fn receiver(&mut self) -> (&mut RecvState, &mut impl Receiver)`.
macro_rules! receiving_methods {
    () => {
        /// Blocks until the next event: `Event::Message` (or `Event::Fragment` with
        /// `Config::deliver_fragments`), `Event::Ping`, `Event::Pong`, or `Event::Closed`
        /// (exactly once); `None` once the connection is over.
        ///
        /// Pings are answered and the peer's close echoed automatically, written before the
        /// event is returned. A peer that breaks the protocol, a timeout or an EOF all end in
        /// `Event::Closed(info)`, never an `Err`: see
        /// [`CloseInfo::code`](ws_proto::CloseInfo::code) and `info.error`. Receiving again
        /// after `Closed` waits until the connection is completely over (the peer's TCP close,
        /// or the close timeout) and returns `None`.
        ///
        /// `Err` is an IO failure of the stream: the connection is dropped and the next calls
        /// return the messages already received, then `Closed` (1006). While [paused](Self::pause), returns `WouldBlock` at once
        /// instead of reading (after firing due timers and writing queued output).
        pub fn recv(&mut self) -> Option<io::Result<Event>> {
            let (state, core) = self.receiver();
            state.recv(core)
        }

        /// The next data message, skipping pings and pongs (answered automatically) and
        /// assembling fragments in fragment mode; `None` once `Event::Closed` was consumed
        /// (see [`close_info`](Self::close_info)). `Err` is an IO failure.
        pub fn recv_message(&mut self) -> Option<Result<Message, Error>> {
            let (state, core) = self.receiver();
            state.recv_message(core)
        }

        /// The next data message as the pieces it arrived in (Node `binaryType =
        /// 'fragments'`): with `Config::deliver_fragments` every piece the connection
        /// delivered, without it one piece holding the whole message. `None` once
        /// `Event::Closed` was consumed.
        pub fn recv_pieces(&mut self) -> Option<io::Result<MessagePieces>> {
            let (state, core) = self.receiver();
            state.recv_pieces(core)
        }

        /// How the connection ended, once `Event::Closed` has been returned (also when
        /// [`recv_message`](Self::recv_message) or an iterator consumed it).
        pub fn close_info(&self) -> Option<&CloseInfo> {
            self.recv.close_info()
        }

        /// Stops reading (Node `pause()`): while paused, the receiving calls read nothing from
        /// the stream and return no message; they still fire due timers, write queued output
        /// and report `Event::Closed` if a timer or `terminate` ends the connection, and
        /// otherwise return `WouldBlock` at once. Pings not yet read are not answered.
        ///
        /// As in Node, pausing or resuming a closed connection does nothing.
        pub fn pause(&mut self) {
            let (recv, core) = self.receiver();
            let state = $crate::core::Sender::with_conn(core, |c| c.state());
            recv.pause.pause(state);
        }

        /// Resumes reading after [`pause`](Self::pause) (Node `resume()`; nothing once
        /// closed).
        pub fn resume(&mut self) {
            let (recv, core) = self.receiver();
            let state = $crate::core::Sender::with_conn(core, |c| c.state());
            recv.pause.resume(state);
        }

        /// Whether reading is paused (Node `isPaused`).
        pub fn is_paused(&self) -> bool {
            self.recv.pause.is_paused()
        }
    };
}

pub(crate) use receiving_methods;
