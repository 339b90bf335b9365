//! The connection state machine: decoding, the automatic protocol duties (pong, close echo,
//! failing with the right code, server shuts TCP first), close bookkeeping, keepalive and
//! close timers, and the send API.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::assembler::MessageAssembler;
use crate::close::{CloseCode, CloseFrame, CloseInfo, Initiator, MAX_CLOSE_REASON};
use crate::codec::decoder::{DecodeCtx, Decoded, FrameDecoder};
use crate::codec::encoder::FrameEncoder;
use crate::codec::PreparedMessage;
use crate::config::{Config, Role};
use crate::deflate::{self, CompressTask, CompressedMessage, DeflateConfig, Deflater};
use crate::error::{Error, SendError, TimeoutKind};
use crate::event::{Event, Message, MessageKind};
use crate::frame::OpCode;
use crate::handshake::Negotiated;
use crate::input::InputBuffer;
use crate::mask::Entropy;
use crate::timer::{Timer, TimerTable};
use crate::transmit::{OutQueue, Transmit};
use crate::utf8::Utf8Bytes;

/// Where the connection is in its life (Node `readyState` minus CONNECTING, which is the
/// handshake's business).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// This endpoint sent a close frame and waits for the peer's; incoming data is still
    /// delivered, nothing more may be sent.
    Closing,
    /// The close handshake completed or the connection failed; `Event::Closed` was or will be
    /// reported. The adapter keeps flushing output until [`Connection::is_terminated`].
    Closed,
}

/// A WebSocket connection after the opening handshake, in either role.
///
/// See the [crate documentation](crate) for the driving contract.
pub struct Connection {
    role: Role,
    config: Arc<Config>,
    negotiated: Negotiated,
    input: InputBuffer,
    decoder: FrameDecoder,
    assembler: MessageAssembler,
    out: OutQueue,
    encoder: FrameEncoder,
    entropy: Option<Box<dyn Entropy>>,
    timers: TimerTable,
    state: State,
    /// An outgoing fragmented message is in progress (`send_frame_part` without `fin`).
    sending_message: bool,
    /// permessage-deflate's sending half (its receiving half is in the assembler).
    /// Boxed: most connections never negotiate it, and it is large.
    deflater: Option<Box<Deflater>>,
    /// The message being sent in parts is compressed.
    sending_compressed: bool,
    sent_close: Option<CloseFrame>,
    received_close: Option<CloseFrame>,
    close_sent: bool,
    close_received: bool,
    initiator: Initiator,
    error: Option<Error>,
    /// `Event::Closed` is due.
    closed_pending: bool,
    /// `Event::Closed` was returned.
    closed_reported: bool,
    /// The protocol is finished with the socket once the output is flushed.
    done: bool,
    /// Drop the socket now, whatever is queued.
    hard_terminated: bool,
    /// Terminated, and the complete frames already received are still to be delivered before
    /// `Event::Closed` (Node `ws` emits the messages already read when its socket is
    /// destroyed).
    draining: bool,
    /// Bytes arrived since the keepalive timer was last re-armed.
    activity: bool,
    /// Hold the close echo until [`release_close_echo`](Self::release_close_echo).
    hold_close_echo: bool,
    /// The peer's close was read and its echo is held: the application may still send.
    echo_held: bool,
    /// A client sends its frames unmasked (testing tool, see `set_unmasked_sends`).
    unmasked_sends: bool,
    bytes_received: u64,
    /// Messages lent for compression ([`prepare_compressed`](Self::prepare_compressed)) when
    /// the connection left `Open`: they can no longer be sent ([`CloseInfo::unsent_messages`]).
    unsent_messages: usize,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("negotiated", &self.negotiated)
            .field("buffered_input", &self.input.len())
            .field("buffered_amount", &self.out.buffered())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection over an already-upgraded stream. The handshakes build this for you, with
    /// any bytes that followed the handshake head already received.
    ///
    /// A client connection needs `entropy` for its masking keys; without it the keys are zero
    /// (acceptable only in tests: RFC 6455 requires unpredictable masks).
    pub fn new(
        role: Role,
        config: Arc<Config>,
        negotiated: Negotiated,
        entropy: Option<Box<dyn Entropy>>,
        now: Instant,
    ) -> Self {
        debug_assert!(role == Role::Server || entropy.is_some(), "client connections need entropy");
        let mut timers = TimerTable::default();
        if let Some(idle) = config.keep_alive_idle {
            timers.set(Timer::KeepAlive, now + idle);
        }
        let local = config.permessage_deflate.clone().unwrap_or_default();
        let mut conn = Self {
            role,
            assembler: MessageAssembler::new(&config),
            config,
            negotiated,
            input: InputBuffer::default(),
            decoder: FrameDecoder::default(),
            out: OutQueue::default(),
            encoder: FrameEncoder::default(),
            entropy,
            timers,
            state: State::Open,
            sending_message: false,
            deflater: None,
            sending_compressed: false,
            sent_close: None,
            received_close: None,
            close_sent: false,
            close_received: false,
            initiator: Initiator::Library,
            error: None,
            closed_pending: false,
            closed_reported: false,
            done: false,
            hard_terminated: false,
            draining: false,
            unmasked_sends: false,
            activity: false,
            hold_close_echo: false,
            echo_held: false,
            bytes_received: 0,
            unsent_messages: 0,
        };
        conn.set_local_deflate(&local);
        conn
    }

    /// Sets up permessage-deflate as negotiated, with `local` compression settings.
    pub(crate) fn set_local_deflate(&mut self, local: &DeflateConfig) {
        let halves = self.negotiated.deflate.as_ref().and_then(|p| deflate::setup(self.role, p, local));
        let (deflater, inflater) = halves.map_or((None, None), |(d, i)| (Some(d), Some(i)));
        self.deflater = deflater.map(Box::new);
        self.assembler.set_inflater(inflater);
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Open, closing or closed.
    pub fn state(&self) -> State {
        self.state
    }

    /// The subprotocol, extensions and version the handshake settled.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Total bytes received from the peer (Node `bytesReceived`-style counter).
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    // ---------------------------------------------------------------- ingress

    /// Received bytes buffered and not yet parsed.
    pub fn buffered_input(&self) -> usize {
        self.input.len()
    }

    fn discarding(&self) -> bool {
        self.state == State::Closed || self.hard_terminated || self.echo_held
    }

    /// Holds the echo of the peer's close frame until
    /// [`release_close_echo`](Self::release_close_echo), for adapters whose application
    /// reads events through a queue (driver mode): the peer's close then waits until the
    /// application has received every message before it and its answers are queued (RFC 6455
    /// §5.5.1 lets an endpoint send its current messages before its close). Meanwhile the
    /// connection stays `Open` for sending, reads nothing more, and the close timer bounds the
    /// wait (on expiry the echo is released). Off by default: the echo is queued as soon as
    /// [`poll_event`](Self::poll_event) reaches the peer's close.
    pub fn hold_close_echo(&mut self, on: bool) {
        self.hold_close_echo = on;
    }

    /// **Testing and interop only.** While on, a client connection encodes every frame it
    /// queues (data, control, close) without a mask (Node `ws`'s `send(data, { mask: false })`), to
    /// test how a server treats them: RFC 6455 §5.1 requires clients to mask, and a conforming
    /// server fails the connection (1002). Frames already queued are not changed; a server
    /// connection never masks anyway. Off by default.
    pub fn set_unmasked_sends(&mut self, on: bool) {
        self.unmasked_sends = on;
    }

    /// Whether [`set_unmasked_sends`](Self::set_unmasked_sends) is on.
    pub fn unmasked_sends(&self) -> bool {
        self.unmasked_sends
    }

    /// The role frames are encoded for: a client's frames are masked unless
    /// [`set_unmasked_sends`](Self::set_unmasked_sends) is on.
    fn frame_role(&self) -> Role {
        if self.unmasked_sends {
            Role::Server
        } else {
            self.role
        }
    }

    /// Whether the peer's close was read and its echo is held (see
    /// [`hold_close_echo`](Self::hold_close_echo)): every event before it has been polled.
    pub fn is_close_echo_held(&self) -> bool {
        self.echo_held
    }

    /// Queues the held echo of the peer's close (after everything queued so far) and closes:
    /// `Event::Closed` follows. A no-op when no echo is held.
    pub fn release_close_echo(&mut self, now: Instant) {
        if self.echo_held {
            self.echo_held = false;
            let frame = self.received_close.clone();
            self.queue_close(frame);
            self.enter_closed(now);
        }
    }

    /// Buffers bytes received from the peer (copying). Parsing happens in
    /// [`poll_event`](Self::poll_event). Ignored once the connection is closed.
    pub fn receive(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.bytes_received += data.len() as u64;
        self.activity = true;
        if !self.discarding() {
            self.input.receive(data);
        }
    }

    /// A zero-filled region of at least `len_hint` bytes to read into; follow with
    /// [`commit_received`](Self::commit_received). Avoids a copy compared with `receive`: the
    /// region is allocated with the bytes already buffered, so a frame read in many pieces ends
    /// up in one allocation. While nothing is buffered (`buffered_input() == 0`, the usual
    /// state of an idle connection), reading into a buffer shared between connections and
    /// handing the bytes to [`receive`](Self::receive) costs a copy of what arrived but keeps
    /// no receive memory in the connection between messages.
    pub fn recv_slot(&mut self, len_hint: usize) -> &mut [u8] {
        self.input.recv_slot(len_hint)
    }

    /// How many bytes to ask [`recv_slot`](Self::recv_slot) (or a shared read buffer) for
    /// next: adaptive (4 KiB while the peer sends little, growing to 64 KiB while reads fill
    /// what they were given), and enough for the rest of a frame being read, up to 4 MiB.
    pub fn read_hint(&self) -> usize {
        let need = self.decoder.need(self.config.deliver_fragments).saturating_sub(self.input.len());
        self.input.hint().max(need.min(4 << 20))
    }

    /// Marks `n` bytes of the last [`recv_slot`](Self::recv_slot) as received. `0` says the
    /// read found nothing (it would block): with nothing buffered, the connection then releases
    /// its receive region, so a connection waiting for its peer holds no receive memory.
    pub fn commit_received(&mut self, n: usize) {
        if n > 0 {
            self.bytes_received += n as u64;
            self.activity = true;
        }
        if self.draining {
            // Terminated: what was read before still goes out as events; this read does not
            // join it.
            self.input.abandon_slot();
            return;
        }
        self.input.commit(n);
        if self.discarding() {
            self.input.clear();
        }
    }

    /// The peer closed its write side (TCP FIN, or read returned 0).
    pub fn receive_eof(&mut self) {
        self.input.eof = true;
        if self.state == State::Closed {
            self.done = true;
        }
    }

    /// Whether the adapter should read more. False once enough unparsed input is buffered
    /// (call [`poll_event`](Self::poll_event) to make room), after EOF, or after termination.
    pub fn wants_read(&self) -> bool {
        if self.hard_terminated || self.input.eof || self.done {
            return false;
        }
        if self.discarding() {
            return true;
        }
        let cap = self.config.max_buffered_input.max(self.decoder.need(self.config.deliver_fragments));
        self.input.len() < cap
    }

    /// Parses buffered input and returns the next event.
    ///
    /// Call after every `receive*`, `receive_eof`, `handle_timeout` and send, until it returns
    /// `None`; then drain [`poll_transmit`](Self::poll_transmit). Pongs and close echoes are
    /// queued as a side effect. `Event::Closed` comes exactly once, and then `None` forever.
    #[must_use]
    pub fn poll_event(&mut self, now: Instant) -> Option<Event> {
        self.input.abandon_slot();
        self.note_activity(now);
        loop {
            if self.closed_pending && !self.draining {
                self.closed_pending = false;
                self.closed_reported = true;
                return Some(Event::Closed(self.close_info()));
            }
            if self.closed_reported || (self.discarding() && !self.draining) {
                return None;
            }
            let ctx = DecodeCtx {
                role: self.role,
                accept_unmasked: self.config.accept_unmasked_frames,
                deliver_fragments: self.config.deliver_fragments,
                rsv1: self.assembler.inflates(),
            };
            let decoded = self.decoder.decode(&mut self.input.buf, &ctx, &mut self.assembler);
            match decoded {
                Err(e) => self.fail_with(Error::Protocol(e), now),
                Ok(None) if self.draining => self.end_draining(),
                Ok(None) => {
                    if !self.input.eof {
                        return None;
                    }
                    self.on_eof();
                }
                Ok(Some(Decoded::Control(op, payload))) => match op {
                    OpCode::Ping => {
                        if self.config.auto_pong && self.state == State::Open {
                            self.queue_pong(&payload);
                        }
                        return Some(Event::Ping(payload));
                    }
                    OpCode::Pong => return Some(Event::Pong(payload)),
                    _ => self.on_close_frame(payload, now),
                },
                Ok(Some(Decoded::Data { data, frame_done, fin })) => {
                    let result = if self.config.deliver_fragments {
                        self.assembler.on_piece(data, frame_done, fin).map(|f| f.map(Event::Fragment))
                    } else {
                        debug_assert!(frame_done);
                        self.assembler.on_frame(data, fin).map(|m| m.map(Event::Message))
                    };
                    match result {
                        Ok(Some(ev)) => return Some(ev),
                        Ok(None) => {}
                        Err(e) => self.fail_with(Error::Protocol(e), now),
                    }
                }
            }
        }
    }

    fn queue_pong(&mut self, payload: &[u8]) {
        // Every ping is answered (peers such as Autobahn 2.10 expect one pong per ping), but
        // under a flood whose pongs are not being written only the latest ones are kept
        // (RFC 6455 §5.5.3 allows answering just the most recent ping): the queue stays bounded.
        let is_pong = |f: &Bytes| f.first() == Some(&0x8A);
        if self.out.count_control(is_pong) >= MAX_PENDING_PONGS {
            self.out.remove_first_control(is_pong);
        }
        let role = self.frame_role();
        let frame = self.encoder.control(role, self.entropy.as_deref_mut(), OpCode::Pong, payload);
        self.out.push_control(frame);
    }

    fn on_close_frame(&mut self, payload: Bytes, now: Instant) {
        let frame = match CloseFrame::decode(payload, !self.config.skip_utf8_validation) {
            Ok(f) => f,
            Err(e) => return self.fail_with(Error::Protocol(e), now),
        };
        self.close_received = true;
        self.received_close = frame.clone();
        if self.draining {
            // The peer's close was among the bytes read before `terminate`: it is recorded
            // (its code is then `CloseInfo::code`, as Node reports it) but not answered, and
            // nothing after it counts (§5.5.1).
            return self.end_draining();
        }
        if self.state == State::Open {
            self.initiator = Initiator::Remote;
            if self.hold_close_echo {
                // The echo waits for `release_close_echo`; what follows the close is discarded
                // (§5.5.1) and the close timer bounds the wait.
                self.echo_held = true;
                self.input.clear();
                self.timers.stop(Timer::KeepAlive);
                self.timers.stop(Timer::PongDeadline);
                self.arm_close_timer(now);
                return;
            }
            self.queue_close(frame);
        }
        self.enter_closed(now);
    }

    fn on_eof(&mut self) {
        if self.echo_held {
            // The peer half-closed after its close frame: the held echo still goes out.
            return;
        }
        match self.state {
            State::Open | State::Closing => {
                self.error = Some(Error::UnexpectedEof);
                if self.state == State::Open {
                    self.initiator = Initiator::Library;
                }
                self.leave_open();
                self.state = State::Closed;
                self.closed_pending = true;
                self.timers.stop_all();
                self.input.clear();
                self.done = true;
            }
            State::Closed => self.done = true,
        }
    }

    fn queue_close(&mut self, frame: Option<CloseFrame>) {
        let payload = frame.as_ref().map(CloseFrame::encode).unwrap_or_default();
        let role = self.frame_role();
        let bytes = self.encoder.control(role, self.entropy.as_deref_mut(), OpCode::Close, &payload);
        // The close frame goes in the data lane, after every data frame queued before it: in the
        // control lane it would overtake them, putting data frames after the Close on the wire
        // (RFC 6455 §5.5.1), which the peer discards.
        self.out.push_data(bytes, true);
        self.close_sent = true;
        self.sent_close = frame;
    }

    fn arm_close_timer(&mut self, now: Instant) {
        match self.config.close_timeout {
            Some(d) => self.timers.set(Timer::Close, now + d),
            None => self.timers.stop(Timer::Close),
        }
    }

    /// Both close frames exchanged, or the connection failed.
    fn enter_closed(&mut self, now: Instant) {
        self.leave_open();
        self.state = State::Closed;
        self.closed_pending = true;
        self.input.clear();
        self.timers.stop(Timer::KeepAlive);
        self.timers.stop(Timer::PongDeadline);
        if self.role == Role::Server {
            // The server closes TCP first (RFC 6455 §7.1.1).
            self.out.request_shutdown();
        }
        self.arm_close_timer(now);
        if self.input.eof {
            self.done = true;
        }
    }

    /// Called before the state leaves `Open`: a message lent for compression and not handed
    /// back can no longer be sent (its `send_compressed` will be refused), so it is counted
    /// for [`CloseInfo::unsent_messages`].
    fn leave_open(&mut self) {
        if self.state == State::Open && self.deflater.as_deref().is_some_and(Deflater::is_busy) {
            self.unsent_messages += 1;
        }
    }

    fn fail_with(&mut self, error: Error, now: Instant) {
        if self.draining {
            // Terminated: a protocol error in the bytes read before ends their delivery; the
            // connection is already closed by the application, so nothing is sent or reported.
            return self.end_draining();
        }
        if self.state == State::Closed {
            return;
        }
        let code = match &error {
            Error::Protocol(e) => Some(e.close_code()),
            Error::Timeout(TimeoutKind::Pong) => Some(CloseCode::INTERNAL_ERROR),
            _ => None,
        };
        if let (Some(code), State::Open) = (code, self.state) {
            let reason = truncate_reason(&error.to_string());
            self.queue_close(Some(CloseFrame { code, reason }));
        }
        self.echo_held = false;
        self.initiator = Initiator::Library;
        self.error = Some(error);
        self.enter_closed(now);
    }

    fn note_activity(&mut self, now: Instant) {
        if !std::mem::take(&mut self.activity) || self.state != State::Open {
            return;
        }
        self.timers.stop(Timer::PongDeadline);
        if let Some(idle) = self.config.keep_alive_idle {
            self.timers.set(Timer::KeepAlive, now + idle);
        }
    }

    fn close_info(&self) -> CloseInfo {
        CloseInfo {
            sent: self.sent_close.clone(),
            received: self.received_close.clone(),
            close_sent: self.close_sent,
            close_received: self.close_received,
            initiator: self.initiator,
            error: self.error.clone(),
            unsent_messages: self.unsent_messages,
        }
    }

    // ---------------------------------------------------------------- sending

    fn check_open(&self) -> Result<(), SendError> {
        match self.state {
            State::Open => Ok(()),
            State::Closing => Err(SendError::CloseAlreadySent),
            State::Closed => Err(SendError::NotOpen),
        }
    }

    /// A whole data message may be queued now.
    fn check_data_send(&self) -> Result<(), SendError> {
        self.check_open()?;
        if self.sending_message {
            return Err(SendError::MessageInProgress);
        }
        if self.deflater.as_deref().is_some_and(Deflater::is_busy) {
            return Err(SendError::CompressionPending);
        }
        Ok(())
    }

    fn queue_message(&mut self, kind: MessageKind, payload: Bytes) -> Result<(), SendError> {
        self.queue_message_with(kind, payload, SendOptions::default())
    }

    fn queue_message_with(&mut self, kind: MessageKind, payload: Bytes, opts: SendOptions) -> Result<(), SendError> {
        self.check_data_send()?;
        let compressed = match self.deflater.as_deref_mut() {
            Some(d) if opts.compress && d.would_compress(payload.len()) => d.compress_message(&payload),
            _ => None,
        };
        // Only this message's frames go unmasked (`mask: false`).
        let was = self.unmasked_sends;
        self.unmasked_sends |= !opts.mask;
        match compressed {
            Some(c) => self.push_message(kind, true, c),
            // Below the threshold, not negotiated, not wanted, or the compressor failed (then
            // uncompressed is always allowed).
            None => self.push_message(kind, false, payload),
        }
        self.unmasked_sends = was;
        Ok(())
    }

    /// Frames a whole message's payload (compressed when `rsv1`), split by
    /// `outgoing_fragment_size`; RSV1 goes on the first frame only.
    fn push_message(&mut self, kind: MessageKind, rsv1: bool, payload: Bytes) {
        let opcode = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        match self.config.outgoing_fragment_size {
            Some(size) if payload.len() > size => {
                let mut first = true;
                let mut rest = payload;
                while !rest.is_empty() {
                    let part = rest.split_to(rest.len().min(size));
                    let op = if first { opcode } else { OpCode::Continuation };
                    self.push_data_frame(op, rest.is_empty(), rsv1 && first, part);
                    first = false;
                }
            }
            _ => self.push_data_frame(opcode, true, rsv1, payload),
        }
    }

    fn push_data_frame(&mut self, opcode: OpCode, fin: bool, rsv1: bool, payload: Bytes) {
        let role = self.frame_role();
        self.encoder.data(&mut self.out, role, self.entropy.as_deref_mut(), opcode, fin, rsv1, payload);
    }

    /// Queues a text message (compressed when permessage-deflate is in use and it reaches the
    /// threshold).
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), SendError> {
        self.queue_message(MessageKind::Text, text.into().into_bytes())
    }

    /// Queues a binary message (compressed when permessage-deflate is in use and it reaches the
    /// threshold).
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.queue_message(MessageKind::Binary, data.into())
    }

    /// Queues a message with per-message options: `SendOptions::default().compress(false)`
    /// sends it uncompressed whatever its size (Node `send(data, { compress: false })`).
    pub fn send_message_with(&mut self, msg: impl Into<Message>, opts: SendOptions) -> Result<(), SendError> {
        let msg = msg.into();
        self.queue_message_with(msg.kind(), msg.into_bytes(), opts)
    }

    /// Queues a message framed once for many connections. Server connections share its bytes
    /// (zero-copy); client connections mask a copy.
    ///
    /// With permessage-deflate, a message at or above the threshold is compressed: without
    /// context takeover (this endpoint resets its compressor per message) the compressed bytes
    /// are computed once and shared by every connection with the same compression settings;
    /// with context takeover they depend on each connection's history, so every connection
    /// compresses its own copy.
    pub fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), SendError> {
        if self.deflater.as_deref().is_some_and(|d| d.would_compress(msg.payload.len())) {
            self.check_data_send()?;
            let compressed =
                self.deflater.as_deref_mut().and_then(|d| d.compress_prepared(&msg.payload, &msg.deflated));
            match compressed {
                Some(c) => self.push_message(msg.kind, true, c),
                None => self.push_message(msg.kind, false, msg.payload.clone()),
            }
            return Ok(());
        }
        if self.role == Role::Client || self.config.outgoing_fragment_size.is_some_and(|s| msg.payload.len() > s) {
            return self.queue_message(msg.kind, msg.payload.clone());
        }
        self.check_data_send()?;
        self.out.push_data(msg.header.clone(), msg.payload.is_empty());
        self.out.push_data(msg.payload.clone(), true);
        Ok(())
    }

    /// Sends one frame of a message being streamed: the first call starts a message of `kind`,
    /// later calls continue it (their `kind` is ignored) until one with `fin`. Control frames
    /// may interleave; whole messages may not (`MessageInProgress`).
    ///
    /// With permessage-deflate, the first part's length decides (against the threshold)
    /// whether the whole message is compressed; each part is then compressed and flushed on
    /// its own (a sync flush), so it can be sent before the next part exists.
    pub fn send_frame_part(&mut self, kind: MessageKind, data: Bytes, fin: bool) -> Result<(), SendError> {
        self.send_frame_part_with(kind, data, fin, SendOptions::default())
    }

    /// [`send_frame_part`](Self::send_frame_part) with per-message options; the options of
    /// the first part apply to the whole message.
    pub fn send_frame_part_with(
        &mut self,
        kind: MessageKind,
        data: Bytes,
        fin: bool,
        opts: SendOptions,
    ) -> Result<(), SendError> {
        self.check_open()?;
        if self.deflater.as_deref().is_some_and(Deflater::is_busy) {
            return Err(SendError::CompressionPending);
        }
        let first = !self.sending_message;
        let opcode = match (first, kind) {
            (false, _) => OpCode::Continuation,
            (true, MessageKind::Text) => OpCode::Text,
            (true, MessageKind::Binary) => OpCode::Binary,
        };
        if first {
            self.sending_compressed =
                opts.compress && self.deflater.as_deref().is_some_and(|d| d.would_compress(data.len()));
        }
        let payload = if self.sending_compressed {
            match self.deflater.as_deref_mut().and_then(|d| d.compress_part(&data, fin)) {
                Some(c) => c,
                None => return Err(SendError::CompressionFailed),
            }
        } else {
            data
        };
        let was = self.unmasked_sends;
        self.unmasked_sends |= !opts.mask;
        self.push_data_frame(opcode, fin, first && self.sending_compressed, payload);
        self.unmasked_sends = was;
        self.sending_message = !fin;
        Ok(())
    }

    /// Whether a data message of `len` bytes sent with `opts` would be compressed:
    /// permessage-deflate is in use, `opts.compress` is set, and `len` reaches the threshold.
    pub fn would_compress(&self, len: usize, opts: SendOptions) -> bool {
        opts.compress && self.deflater.as_deref().is_some_and(|d| d.would_compress(len))
    }

    /// The local permessage-deflate settings when the extension is in use (adapters read
    /// [`offload_threshold`](DeflateConfig::get_offload_threshold) and
    /// [`concurrency_limit`](DeflateConfig::get_concurrency_limit) from it).
    pub fn deflate_config(&self) -> Option<&DeflateConfig> {
        self.deflater.as_deref().map(Deflater::config)
    }

    /// Moves the compression of one message out of the connection, so that an adapter can run
    /// it off its async runtime (Node `ws`'s `concurrencyLimit` answer):
    ///
    /// ```text
    /// if conn.would_compress(len, opts) && len >= offload_threshold {
    ///     let task = conn.prepare_compressed(msg, opts)?;          // cheap
    ///     let done = spawn_blocking(move || task.run()).await;     // at most concurrency_limit at once
    ///     conn.send_compressed(done)?;                             // queues the frames
    /// } else {
    ///     conn.send_message_with(msg, opts)?;                      // compresses inline
    /// }
    /// ```
    ///
    /// The task holds the connection's compressor (with context takeover, messages must be
    /// compressed in order), so until its result comes back through
    /// [`send_compressed`](Self::send_compressed), data sends fail with
    /// [`SendError::CompressionPending`]; control frames, `close` and receiving go on. Dropping
    /// the task or its result is safe: the next message starts a fresh compressor. When the
    /// message would not be compressed, the task passes it through unchanged.
    ///
    /// If the connection stops being open (a timer, [`terminate`](Self::terminate), the
    /// peer's EOF, a failure, [`close`](Self::close)) while the task or its result is still
    /// out, the message can no longer be sent: `send_compressed` refuses it and the
    /// connection's `Event::Closed` counts it in [`CloseInfo::unsent_messages`].
    pub fn prepare_compressed(
        &mut self,
        msg: impl Into<Message>,
        opts: SendOptions,
    ) -> Result<CompressTask, SendError> {
        self.check_data_send()?;
        let msg = msg.into();
        let (kind, payload) = (msg.kind(), msg.into_bytes());
        Ok(match self.deflater.as_deref_mut() {
            Some(d) => {
                let compress = opts.compress && d.would_compress(payload.len());
                d.lend(kind, payload, compress)
            }
            None => CompressTask::passthrough(kind, payload),
        })
    }

    /// Queues a message compressed by [`CompressTask::run`] (see
    /// [`prepare_compressed`](Self::prepare_compressed)) and takes the compressor back.
    /// [`SendError::WrongConnection`] if it was prepared by another connection.
    pub fn send_compressed(&mut self, msg: CompressedMessage) -> Result<(), SendError> {
        let CompressedMessage { kind, data, compressed, compressor, token } = msg;
        match (self.deflater.as_deref_mut(), token) {
            (Some(d), Some(t)) if d.owns(&t) => {
                drop(t);
                d.restore(compressor);
            }
            (None, None) => {}
            _ => return Err(SendError::WrongConnection),
        }
        self.check_data_send()?;
        self.push_message(kind, compressed, data);
        Ok(())
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        if payload.len() > 125 {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        let role = self.frame_role();
        let frame = self.encoder.control(role, self.entropy.as_deref_mut(), opcode, payload);
        self.out.push_control(frame);
        Ok(())
    }

    /// Queues a ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: impl AsRef<[u8]>) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload.as_ref())
    }

    /// Queues a pong (payload at most 125 bytes); unsolicited pongs are allowed.
    pub fn send_pong(&mut self, payload: impl AsRef<[u8]>) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload.as_ref())
    }

    /// Starts the closing handshake with an optional code and reason (`None` sends a close
    /// frame without a status code). The connection becomes `Closing`; data still arriving is
    /// delivered until the peer's close frame, and the close timer bounds the wait.
    pub fn close(&mut self, frame: Option<CloseFrame>, now: Instant) -> Result<(), SendError> {
        self.check_open()?;
        if let Some(f) = &frame {
            f.validate()?;
        }
        if self.echo_held {
            // The answer to the peer's held close: this frame instead of the echo.
            self.echo_held = false;
            self.queue_close(frame);
            self.enter_closed(now);
            return Ok(());
        }
        self.queue_close(frame);
        self.initiator = Initiator::Local;
        self.leave_open();
        self.state = State::Closing;
        self.timers.stop(Timer::KeepAlive);
        self.timers.stop(Timer::PongDeadline);
        self.arm_close_timer(now);
        Ok(())
    }

    /// Fails the connection now: queues a close frame with `code` and `reason` (unless one was
    /// sent already; an invalid code becomes 1011, a long reason is truncated), discards all
    /// further input and reports `Event::Closed`. A no-op once closed.
    pub fn fail(&mut self, code: CloseCode, reason: &str, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if self.state == State::Open {
            let code = if code.is_valid_on_wire() { code } else { CloseCode::INTERNAL_ERROR };
            self.queue_close(Some(CloseFrame { code, reason: truncate_reason(reason) }));
        }
        self.echo_held = false;
        self.initiator = Initiator::Local;
        self.enter_closed(now);
    }

    /// Drops the connection at once without a closing handshake (Node `terminate()`): queued
    /// output is discarded, nothing more is read or written, and
    /// [`is_terminated`](Self::is_terminated) becomes true.
    ///
    /// Input already received is not lost: as Node `ws` still emits the messages whose bytes
    /// it had read before `'close'`, [`poll_event`](Self::poll_event) goes on returning the
    /// events the input already received holds (messages of complete frames, pings and pongs,
    /// which are not answered; with fragment delivery also the pieces it would have delivered
    /// anyway), then `Event::Closed` (1006, initiated locally) if it was not reported yet.
    /// Delivery stops where the input ends (a message whose last frame had not arrived is
    /// dropped), at a protocol error in it (not reported: the application already ended the
    /// connection), or at a close frame of the peer, which is recorded in the `CloseInfo`
    /// (whose code is then the peer's, as in Node) and not answered.
    pub fn terminate(&mut self) {
        if self.state != State::Closed {
            self.leave_open();
            self.state = State::Closed;
            self.initiator = Initiator::Local;
            self.closed_pending = true;
            // With the peer's close echo held, every event before that close was polled and
            // what followed it is discarded already.
            self.draining = !self.echo_held && self.input.len() > 0;
        }
        self.hard_terminated = true;
        self.echo_held = false;
        self.out.clear();
        if !self.draining {
            self.input.clear();
        }
        self.timers.stop_all();
    }

    /// The input left after [`terminate`](Self::terminate) is delivered (or cannot be):
    /// `Event::Closed` is next.
    fn end_draining(&mut self) {
        self.draining = false;
        self.input.clear();
    }

    // ---------------------------------------------------------------- egress

    /// The next bytes to write, or a request to half-close.
    ///
    /// Call after [`poll_event`](Self::poll_event) returned `None`, after every send, `close`,
    /// `fail` and `handle_timeout`, until it returns `None`. Write each `Transmit::Data`
    /// completely and in order; `advance` the buffer by what was written.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        if self.hard_terminated {
            return None;
        }
        self.out.poll_transmit()
    }

    /// Appends all queued output to `out` (a copying convenience for blocking adapters, tests
    /// and fuzzers), returning the number of bytes. A pending half-close is then reported by
    /// `poll_transmit`.
    pub fn transmit_into(&mut self, out: &mut Vec<u8>) -> usize {
        if self.hard_terminated {
            return 0;
        }
        self.out.drain_into(out)
    }

    /// Bytes queued and not yet written, framing included (Node `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.out.buffered()
    }

    /// Whether queued output is below the write high-water mark: if false, flush before
    /// queuing more.
    pub fn is_write_ready(&self) -> bool {
        self.out.buffered() < self.config.write_high_water
    }

    /// Whether `poll_transmit` has something to hand out.
    pub fn wants_write(&self) -> bool {
        !self.hard_terminated && (!self.out.is_empty() || self.out.shutdown_pending())
    }

    /// Whether the socket should be dropped now: the protocol is finished with it and all
    /// output was handed out (or the connection was terminated or timed out).
    pub fn is_terminated(&self) -> bool {
        self.hard_terminated || (self.done && !self.wants_write())
    }

    // ---------------------------------------------------------------- time

    /// The next deadline at which [`handle_timeout`](Self::handle_timeout) must be called.
    /// Re-read after every call into the connection.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_terminated() {
            return None;
        }
        self.timers.next_timeout()
    }

    /// Fires expired timers: keepalive pings, the pong deadline (fails with 1011) and the close
    /// timeout (terminates). Spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.note_activity(now);
        while let Some(t) = self.timers.take_expired(now) {
            match t {
                Timer::KeepAlive if self.state == State::Open => {
                    let role = self.frame_role();
                    let frame = self.encoder.control(role, self.entropy.as_deref_mut(), OpCode::Ping, &[]);
                    self.out.push_control(frame);
                    match self.config.keep_alive_timeout {
                        Some(d) => self.timers.set(Timer::PongDeadline, now + d),
                        None => {
                            if let Some(idle) = self.config.keep_alive_idle {
                                self.timers.set(Timer::KeepAlive, now + idle);
                            }
                        }
                    }
                }
                Timer::PongDeadline if self.state == State::Open => {
                    self.fail_with(Error::Timeout(TimeoutKind::Pong), now);
                }
                Timer::Close if self.echo_held => {
                    // The application did not take the events before the peer's close in time.
                    self.release_close_echo(now);
                }
                Timer::Close => {
                    if self.state == State::Closing {
                        self.error = Some(Error::Timeout(TimeoutKind::Close));
                        self.state = State::Closed;
                        self.closed_pending = true;
                    }
                    self.hard_terminated = true;
                    self.out.clear();
                    self.input.clear();
                    self.timers.stop_all();
                }
                _ => {}
            }
        }
    }

    /// Queues raw bytes (the handshake's 101 response) ahead of any frame.
    pub(crate) fn push_raw_output(&mut self, bytes: Bytes) {
        self.out.push_control(bytes);
    }
}

/// Per-message options for [`Connection::send_message_with`],
/// [`Connection::send_frame_part_with`] and [`Connection::prepare_compressed`].
///
/// Build with `SendOptions::default()` and the setters (the struct may gain fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SendOptions {
    /// Compress the message if permessage-deflate is in use and it reaches the threshold
    /// (default `true`; Node `send(data, { compress })`).
    pub compress: bool,
    /// Mask the message's frames when sending as a client (default `true`; honoured by
    /// [`Connection::send_message_with`] and [`Connection::send_frame_part_with`], not by the
    /// compress-elsewhere path of `prepare_compressed`). `false` is Node's
    /// `send(data, { mask: false })`: **a testing tool**, breaking RFC 6455 §5.1 on purpose to
    /// see how a server treats it (a conforming one fails the connection with 1002). Servers
    /// never mask, whatever this says.
    pub mask: bool,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl SendOptions {
    /// The defaults: compress when negotiated and above the threshold.
    pub const fn new() -> Self {
        Self { compress: true, mask: true }
    }

    /// Sets [`compress`](Self::compress).
    pub const fn compress(self, on: bool) -> Self {
        Self { compress: on, ..self }
    }

    /// Sets [`mask`](Self::mask).
    pub const fn mask(self, on: bool) -> Self {
        Self { mask: on, ..self }
    }
}

/// Unsent pongs kept under a ping flood; older unsent ones are dropped beyond this.
pub(crate) const MAX_PENDING_PONGS: usize = 16;

/// Cuts a reason to the 123 bytes a close frame allows, at a character boundary.
fn truncate_reason(reason: &str) -> Utf8Bytes {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Utf8Bytes::from(&reason[..end])
}
