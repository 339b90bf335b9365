//! The structured fuzz target: a client and a server [`Connection`] wired together in memory,
//! driven by a sequence of operations decoded from the fuzz input (sends of every kind, close,
//! fail, terminate, timeouts, arbitrary chunking of the bytes in flight and corruption of them).
//!
//! Invariants checked on every input:
//!
//! - nothing panics, `poll_event` returns `None` after `Closed`, and each side reports exactly
//!   one `Closed` by the end (with close timeouts configured, without the harness having to
//!   `terminate` anything);
//! - buffered input stays within its cap (the configured one, or what the frame being read
//!   needs, which the size limits bound) plus one read, and a side never stops reading with
//!   bytes in flight while it still has something to do with them;
//! - everything each side writes parses as valid frames for its role (masking, RSV bits, control
//!   frame rules, fragmentation order, nothing after a close frame, valid close payloads, UTF-8
//!   text), ends on a frame boundary and never follows `Transmit::Shutdown`;
//! - on a direction whose bytes were not corrupted, the messages delivered are exactly a prefix of
//!   the messages accepted by send calls, in order and with the same content; and if the receiver
//!   got the sender's close frame, every accepted message was delivered (the sender queues its
//!   close after its data) and the close frame is the one sent. Messages not delivered are thus
//!   accounted for by the connection ending otherwise (error, timeout, termination).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_proto::frame::{FrameHeader, OpCode};
use ws_proto::{
    apply_mask, Backend, Bytes, CloseCode, CloseFrame, CloseInfo, CompressTask, Config, Connection, DeflateConfig,
    DeflateParams, Event, Message, MessageKind, Negotiated, PreparedMessage, Role, SendOptions, Transmit,
};

/// Reads the fuzz input as a stream of small numbers; zeros once it runs out.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A payload: short ones are copied from the input, long ones (to reach the 16- and 64-bit
    /// length encodings) are a cheap pattern.
    fn payload(&mut self) -> Vec<u8> {
        let sel = self.u8();
        match sel {
            0..=199 => self.bytes(usize::from(sel) % 64).to_vec(),
            200..=239 => {
                let n = usize::from(self.u8());
                self.bytes(n).to_vec()
            }
            _ => {
                let len =
                    if sel == 255 { 65_536 + usize::from(self.u8()) } else { 126 + usize::from(self.u16() % 2048) };
                let seed = self.u8();
                let mut v = vec![seed; len];
                v[len / 2] = seed.wrapping_add(sel);
                v
            }
        }
    }

    /// Valid UTF-8 made from a payload: short ones with invalid sequences replaced by U+FFFD
    /// (three bytes each), long patterned ones made ASCII (cheaper).
    fn text(&mut self) -> String {
        let p = self.payload();
        if p.len() > 255 {
            return p.into_iter().map(|b| char::from(b & 0x3f | 0x20)).collect();
        }
        String::from_utf8_lossy(&p).into_owned()
    }
}

/// A message being sent in parts.
struct Streaming {
    kind: MessageKind,
    /// Bytes accepted so far.
    done: Vec<u8>,
    /// Bytes still to send.
    rest: Vec<u8>,
    /// A first part was accepted: the connection considers the message started.
    started: bool,
}

/// Per-side bookkeeping of the harness.
struct Side {
    conn: Connection,
    role: Role,
    max_message: usize,
    max_buffered_input: usize,
    close_timeout: bool,
    /// Everything this side wrote.
    wire: Vec<u8>,
    shutdown: bool,
    /// The socket was dropped (`is_terminated()`).
    dropped: bool,
    /// Bytes in flight towards this side.
    inbox: VecDeque<u8>,
    /// The peer half-closed or dropped: EOF once the inbox is read.
    inbox_eof: bool,
    eof_delivered: bool,
    /// Bytes towards this side were corrupted at some point.
    corrupted: bool,
    /// Whole messages accepted by this side's send calls.
    sent: Vec<(MessageKind, Vec<u8>)>,
    /// A message being streamed with `send_frame_part`.
    streaming: Option<Streaming>,
    /// A compression lent out with `prepare_compressed`, and the message it carries.
    task: Option<(CompressTask, MessageKind, Vec<u8>)>,
    /// Messages delivered to this side.
    delivered: usize,
    /// A message arriving in fragments.
    partial: Option<(MessageKind, Vec<u8>)>,
    closed: Option<CloseInfo>,
    /// The harness had to `terminate` this side to end the run.
    forced: bool,
}

impl Side {
    fn new(role: Role, bits: u8, config: Config, negotiated: Negotiated, now: Instant) -> Self {
        let max_message = config.get_max_message_size().unwrap_or(usize::MAX);
        let close_timeout = config.get_close_timeout().is_some();
        let max_buffered_input = buffered_input(bits);
        let entropy = (role == Role::Client).then(counter_entropy);
        let conn = Connection::new(role, Arc::new(config), negotiated, entropy, now);
        Self {
            conn,
            role,
            max_message,
            max_buffered_input,
            close_timeout,
            wire: Vec::new(),
            shutdown: false,
            dropped: false,
            inbox: VecDeque::new(),
            inbox_eof: false,
            eof_delivered: false,
            corrupted: false,
            sent: Vec::new(),
            streaming: None,
            task: None,
            delivered: 0,
            partial: None,
            closed: None,
            forced: false,
        }
    }
}

fn buffered_input(bits: u8) -> usize {
    if bits & 16 != 0 {
        64
    } else {
        4096
    }
}

/// Deterministic entropy for the client's masking keys: fuzz runs must be reproducible.
fn counter_entropy() -> Box<dyn ws_proto::Entropy> {
    let mut n = 0u8;
    Box::new(move |d: &mut [u8]| {
        for b in d {
            n = n.wrapping_add(7);
            *b = n;
        }
    })
}

/// Outgoing fragment sizes: around the 7- and 16-bit length encodings, and small ones (not too
/// small: a large message in 1-byte frames costs a lot of executions per second).
const FRAGMENT_SIZES: [usize; 7] = [5, 16, 125, 126, 127, 1000, 65_536];

/// A configuration from one byte, plus the shared deflate settings.
fn config(bits: u8, extra: u8, deflate: Option<DeflateConfig>) -> Config {
    let c = Config::default()
        .deliver_fragments(bits & 1 != 0)
        .auto_pong(bits & 2 == 0)
        .max_message_size(Some(if bits & 4 != 0 { 300 } else { 1 << 17 }))
        .max_fragments(Some(if bits & 8 != 0 { 4 } else { 1000 }))
        .max_buffered_input(buffered_input(bits))
        .outgoing_fragment_size((bits & 32 != 0).then_some(FRAGMENT_SIZES[usize::from(extra) % FRAGMENT_SIZES.len()]))
        .close_timeout((bits & 128 == 0).then_some(Duration::from_secs(5)))
        .permessage_deflate(deflate);
    if bits & 64 != 0 {
        let idle = Duration::from_millis(u64::from(extra) * 20 + 10);
        let timeout = (extra & 1 == 0).then_some(Duration::from_millis(u64::from(extra) * 10 + 5));
        return c.keep_alive(Some(idle), timeout);
    }
    c
}

/// The negotiated permessage-deflate parameters and each side's local settings, if any.
fn deflate(input: &mut Input<'_>) -> (Negotiated, Option<DeflateConfig>, Option<DeflateConfig>) {
    let flags = input.u8();
    let backends = Backend::available();
    if flags & 1 == 0 || backends.is_empty() {
        return (Negotiated::default(), None, None);
    }
    let backend = backends[usize::from(flags >> 1) % backends.len()];
    let m = backend.min_window_bits();
    let bits = |b: u8| (b & 8 != 0).then(|| m + b % (16 - m));
    let windows = input.u8();
    let params = DeflateParams {
        server_no_context_takeover: flags & 8 != 0,
        client_no_context_takeover: flags & 16 != 0,
        server_max_window_bits: bits(windows & 15),
        client_max_window_bits: bits(windows >> 4),
    };
    // Level 1 (the fast path) or 6, and zlib-rs's smallest memory level: cheaper executions.
    let local = |t: u8| {
        DeflateConfig::default()
            .backend(backend)
            .threshold(usize::from(t % 4) * 20)
            .compression_level(if t & 4 != 0 { 1 } else { 6 })
            .memory_level(if t & 4 != 0 { 1 } else { 8 })
    };
    let negotiated = Negotiated { deflate: Some(params), ..Negotiated::default() };
    (negotiated, Some(local(flags >> 5)), Some(local(windows >> 5 | flags >> 6)))
}

/// The pair and the simulated clock.
struct Pair {
    sides: [Side; 2],
    now: Instant,
    deflate: bool,
}

const CLIENT: usize = 0;
const SERVER: usize = 1;

impl Pair {
    /// Drains events and output of both sides and drops terminated sockets, until nothing moves.
    fn pump(&mut self) {
        for _ in 0..64 {
            let mut progress = false;
            for i in [CLIENT, SERVER] {
                progress |= self.events(i);
                progress |= self.output(i);
                progress |= self.check_drop(i);
            }
            if !progress {
                return;
            }
        }
    }

    fn events(&mut self, i: usize) -> bool {
        let now = self.now;
        let (me, peer) = split(&mut self.sides, i);
        if me.dropped {
            return false;
        }
        let mut any = false;
        let mut count = 0usize;
        while let Some(ev) = me.conn.poll_event(now) {
            any = true;
            count += 1;
            assert!(count < 1_000_000, "poll_event never returns None");
            assert!(me.closed.is_none(), "{:?}: event {ev:?} after Closed", me.role);
            match ev {
                Event::Message(m) => {
                    assert!(m.len() <= me.max_message, "message over the limit");
                    deliver(me, peer, m.kind(), m.as_bytes());
                }
                Event::Fragment(f) => {
                    assert!(f.data.len() <= me.max_message, "fragment over the limit");
                    let (kind, mut data) = me.partial.take().unwrap_or((f.kind, Vec::new()));
                    assert_eq!(kind, f.kind, "fragment kind changed within a message");
                    data.extend_from_slice(&f.data);
                    assert!(data.len() <= me.max_message, "fragmented message over the limit");
                    if f.fin {
                        if kind == MessageKind::Text {
                            assert!(std::str::from_utf8(&data).is_ok(), "text message is not UTF-8");
                        }
                        deliver(me, peer, kind, &data);
                    } else {
                        me.partial = Some((kind, data));
                    }
                }
                Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= 125),
                Event::Closed(info) => me.closed = Some(info),
                _ => {}
            }
        }
        any
    }

    fn output(&mut self, i: usize) -> bool {
        let (me, peer) = split(&mut self.sides, i);
        if me.dropped {
            return false;
        }
        let mut out = Vec::new();
        let mut shutdown = false;
        while let Some(t) = me.conn.poll_transmit() {
            match t {
                Transmit::Data(mut buf) => {
                    assert!(!shutdown && !me.shutdown, "{:?}: data after Transmit::Shutdown", me.role);
                    while ws_proto::Buf::has_remaining(&buf) {
                        let c = ws_proto::Buf::chunk(&buf);
                        assert!(!c.is_empty(), "empty chunk with bytes remaining");
                        out.extend_from_slice(c);
                        let n = c.len();
                        ws_proto::Buf::advance(&mut buf, n);
                    }
                }
                Transmit::Shutdown => {
                    assert!(!shutdown && !me.shutdown, "{:?}: Transmit::Shutdown twice", me.role);
                    shutdown = true;
                }
            }
        }
        assert_eq!(me.conn.buffered_amount(), 0, "buffered_amount after draining");
        let any = !out.is_empty() || shutdown;
        me.wire.extend_from_slice(&out);
        me.shutdown |= shutdown;
        if !peer.dropped {
            peer.inbox.extend(out);
            peer.inbox_eof |= shutdown;
        }
        any
    }

    fn check_drop(&mut self, i: usize) -> bool {
        let (me, peer) = split(&mut self.sides, i);
        if me.dropped || !me.conn.is_terminated() {
            return false;
        }
        assert!(me.closed.is_some(), "{:?}: terminated before reporting Closed", me.role);
        me.dropped = true;
        me.inbox.clear();
        peer.inbox_eof = true;
        true
    }

    /// Moves up to `n` bytes in flight to side `i` (in reads of at most `chunk`), then EOF if
    /// due and everything was read.
    fn deliver_to(&mut self, i: usize, mut n: usize, chunk: usize) {
        let now = self.now;
        loop {
            let me = &mut self.sides[i];
            if me.dropped {
                return;
            }
            if n == 0 || me.inbox.is_empty() {
                break;
            }
            if !me.conn.wants_read() {
                // Allowed only once enough is buffered to parse, after EOF, or once finished.
                assert!(
                    me.eof_delivered || me.conn.is_terminated() || me.conn.buffered_input() >= me.max_buffered_input,
                    "{:?} stalled: wants_read() is false with {} bytes buffered and {} in flight",
                    me.role,
                    me.conn.buffered_input(),
                    me.inbox.len()
                );
                return;
            }
            // At most about 64 reads per call, whatever the chunk size.
            let take = chunk.max(me.inbox.len().min(n) / 64).min(n).min(me.inbox.len());
            let bytes: Vec<u8> = me.inbox.drain(..take).collect();
            n -= take;
            if bytes.len() & 1 == 0 {
                me.conn.receive(&bytes);
            } else {
                let slot = me.conn.recv_slot(bytes.len());
                slot[..bytes.len()].copy_from_slice(&bytes);
                me.conn.commit_received(bytes.len());
            }
            let cap = me.max_buffered_input.max(me.max_message.min(1 << 20) + 14).max(125 + 14) + take;
            assert!(me.conn.buffered_input() <= cap, "buffered input {} over {cap}", me.conn.buffered_input());
            let _ = now;
            self.pump();
        }
        let me = &mut self.sides[i];
        if !me.dropped && me.inbox.is_empty() && me.inbox_eof && !me.eof_delivered && me.conn.wants_read() {
            me.eof_delivered = true;
            me.conn.receive_eof();
            self.pump();
        }
    }

    fn deliver_all(&mut self) {
        for _ in 0..16 {
            let before = self.sides.iter().map(|s| (s.inbox.len(), s.eof_delivered, s.dropped)).collect::<Vec<_>>();
            for i in [CLIENT, SERVER] {
                self.deliver_to(i, usize::MAX, usize::MAX);
            }
            let after = self.sides.iter().map(|s| (s.inbox.len(), s.eof_delivered, s.dropped)).collect::<Vec<_>>();
            if before == after {
                return;
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        for side in &mut self.sides {
            if !side.dropped {
                side.conn.handle_timeout(self.now);
            }
        }
        self.pump();
    }

    fn run_op(&mut self, input: &mut Input<'_>) {
        let op = input.u8();
        let i = usize::from(op & 1);
        let now = self.now;
        let side = &mut self.sides[i];
        match op >> 1 {
            0 | 1 => {
                let text = input.text();
                if side.conn.send_text(text.clone()).is_ok() {
                    side.sent.push((MessageKind::Text, text.into_bytes()));
                }
            }
            2 | 3 => {
                let data = input.payload();
                if side.conn.send_binary(data.clone()).is_ok() {
                    side.sent.push((MessageKind::Binary, data));
                }
            }
            4 => {
                let (kind, data) = message(input);
                let compress = input.u8() & 1 == 0;
                let msg = to_message(kind, &data);
                if side.conn.send_message_with(msg, SendOptions::default().compress(compress)).is_ok() {
                    side.sent.push((kind, data));
                }
            }
            5 => {
                let (kind, data) = message(input);
                let prepared = PreparedMessage::new(to_message(kind, &data));
                if side.conn.send_prepared(&prepared).is_ok() {
                    side.sent.push((kind, data));
                }
            }
            6 | 7 => {
                // Start (or continue) a message sent in parts.
                let mut st = match side.streaming.take() {
                    Some(st) => st,
                    None => {
                        let (kind, rest) = message(input);
                        Streaming { kind, done: Vec::new(), rest, started: false }
                    }
                };
                let n = usize::from(input.u8());
                let fin_wanted = input.u8() & 3 != 0;
                let cut = n.min(st.rest.len());
                let part: Vec<u8> = st.rest.drain(..cut).collect();
                let fin = st.rest.is_empty() && fin_wanted;
                let opts = SendOptions::default().compress(n & 1 == 0);
                match side.conn.send_frame_part_with(st.kind, Bytes::from(part.clone()), fin, opts) {
                    Ok(()) => {
                        st.done.extend_from_slice(&part);
                        st.started = true;
                        if fin {
                            side.sent.push((st.kind, st.done));
                        } else {
                            side.streaming = Some(st);
                        }
                    }
                    // Never started (closing, or compression lent out): abandoned, not accepted.
                    Err(_) if !st.started => {}
                    // A started message that cannot go on stays unfinished (not accepted).
                    Err(_) => {
                        let mut rest = part;
                        rest.append(&mut st.rest);
                        st.rest = rest;
                        side.streaming = Some(st);
                    }
                }
            }
            8 => {
                let len = usize::from(input.u8() % 140);
                let payload = input.bytes(len).to_vec();
                let open = side.conn.state() == ws_proto::State::Open;
                let r = if op & 2 == 0 { side.conn.send_ping(&payload) } else { side.conn.send_pong(&payload) };
                if open {
                    assert_eq!(r.is_err(), payload.len() > 125, "ping/pong refused iff too long");
                }
            }
            9 => {
                let sel = input.u8();
                let frame = match sel % 4 {
                    0 => None,
                    1 => Some(CloseFrame::new(CODES[usize::from(sel >> 2) % CODES.len()], "")),
                    _ => {
                        let len = usize::from(input.u8() % 130);
                        let reason = String::from_utf8_lossy(input.bytes(len)).into_owned();
                        Some(CloseFrame::new(CODES[usize::from(sel >> 2) % CODES.len()], reason))
                    }
                };
                let _ = side.conn.close(frame, now);
            }
            10 => {
                let sel = input.u8();
                let reason = String::from_utf8_lossy(input.bytes(usize::from(sel % 200))).into_owned();
                side.conn.fail(CloseCode::from_u16(CODES[usize::from(sel) % CODES.len()]), &reason, now);
            }
            11 => {
                if input.u8() < 16 {
                    side.conn.terminate();
                }
            }
            12 => {
                let d = match input.u8() {
                    0..=127 => Duration::from_millis(u64::from(input.u8())),
                    128..=191 => Duration::from_millis(u64::from(input.u16())),
                    _ => side.conn.poll_timeout().map_or(Duration::ZERO, |t| t.saturating_duration_since(now)),
                };
                self.advance(d);
                return;
            }
            13 | 14 => {
                let n = usize::from(input.u16());
                let chunk = usize::from(input.u8()).max(1);
                self.pump();
                self.deliver_to(i, n, chunk);
                return;
            }
            15 => {
                // Corrupt a byte in flight towards this side.
                let at = usize::from(input.u16());
                let x = input.u8().max(1);
                if !side.inbox.is_empty() {
                    let len = side.inbox.len();
                    side.inbox[at % len] ^= x;
                    side.corrupted = true;
                }
            }
            16 => {
                // Lend the compressor out; the result comes back with op 17 (or never).
                if side.task.is_none() {
                    let (kind, data) = message(input);
                    let compress = input.u8() & 1 == 0;
                    let msg = to_message(kind, &data);
                    if let Ok(task) = side.conn.prepare_compressed(msg, SendOptions::default().compress(compress)) {
                        side.task = Some((task, kind, data));
                    }
                }
            }
            17 => {
                if let Some((task, kind, data)) = side.task.take() {
                    if input.u8() < 200 {
                        let done = task.run();
                        if side.conn.send_compressed(done).is_ok() {
                            side.sent.push((kind, data));
                        }
                    }
                }
            }
            _ => self.deliver_all(),
        }
        self.pump();
    }

    /// Ends the run: delivers everything, closes open sides, lets timers fire, and as a last
    /// resort terminates sides that are still alive.
    fn finish(&mut self) {
        self.pump();
        for round in 0..200 {
            self.deliver_all();
            if self.sides.iter().all(|s| s.dropped) {
                break;
            }
            if round == 0 {
                for side in &mut self.sides {
                    if let Some((task, _, _)) = side.task.take() {
                        drop(task);
                    }
                    let _ = side.conn.close(None, self.now);
                }
                self.pump();
                continue;
            }
            let next = self.sides.iter().filter(|s| !s.dropped).filter_map(|s| s.conn.poll_timeout()).min();
            match next {
                Some(t) => {
                    let d = t.saturating_duration_since(self.now);
                    self.advance(d);
                }
                None => break,
            }
        }
        self.deliver_all();
        for side in &mut self.sides {
            if !side.dropped && side.closed.is_none() {
                side.forced = true;
                side.conn.terminate();
            }
        }
        self.pump();
        self.deliver_all();
    }

    fn check(&self) {
        for (i, side) in self.sides.iter().enumerate() {
            let peer = &self.sides[1 - i];
            assert!(side.closed.is_some(), "{:?}: no Closed event", side.role);
            if side.close_timeout && peer.close_timeout {
                assert!(!side.forced, "{:?} had to be terminated although close timeouts are set", side.role);
            }
            check_wire(&side.wire, side.role, self.deflate);
            // Direction peer -> side.
            if !side.corrupted {
                let info = side.closed.as_ref().expect("closed");
                if info.close_received {
                    assert_eq!(
                        side.delivered,
                        peer.sent.len(),
                        "{:?} got the close frame but not every message",
                        side.role
                    );
                    let peer_info = peer.closed.as_ref().expect("closed");
                    assert!(peer_info.close_sent, "close received but the peer never sent one");
                    assert_eq!(info.received, peer_info.sent, "the close frame changed on the way");
                }
            }
        }
    }
}

/// A received message: compared with what the peer's send calls accepted, unless bytes towards
/// this side were corrupted.
fn deliver(me: &mut Side, peer: &Side, kind: MessageKind, data: &[u8]) {
    if !me.corrupted {
        let expected = peer.sent.get(me.delivered);
        assert!(expected.is_some(), "{:?} got a message the peer never sent", me.role);
        let (k, d) = expected.expect("checked");
        assert_eq!(*k, kind, "message kind changed");
        assert!(d.as_slice() == data, "message content changed ({} vs {} bytes)", d.len(), data.len());
    }
    me.delivered += 1;
}

fn split(sides: &mut [Side; 2], i: usize) -> (&mut Side, &mut Side) {
    let [a, b] = sides;
    if i == CLIENT {
        (a, b)
    } else {
        (b, a)
    }
}

const CODES: [u16; 8] = [1000, 1001, 1003, 1011, 3000, 4999, 1005, 999];

fn message(input: &mut Input<'_>) -> (MessageKind, Vec<u8>) {
    if input.u8() & 1 == 0 {
        (MessageKind::Text, input.text().into_bytes())
    } else {
        (MessageKind::Binary, input.payload())
    }
}

fn to_message(kind: MessageKind, data: &[u8]) -> Message {
    match kind {
        MessageKind::Text => Message::text(String::from_utf8(data.to_vec()).expect("text is UTF-8")),
        MessageKind::Binary => Message::binary(data.to_vec()),
    }
}

/// Everything `role` wrote must be valid frames.
fn check_wire(mut wire: &[u8], role: Role, deflate: bool) {
    // The data message in progress: opcode, compressed, bytes.
    let mut message: Option<(OpCode, bool, Vec<u8>)> = None;
    let mut closed = false;
    while !wire.is_empty() {
        let (h, n) = match FrameHeader::parse(wire) {
            Ok(Some(x)) => x,
            Ok(None) => panic!("{role:?}: output ends inside a frame header"),
            Err(e) => panic!("{role:?} wrote an invalid frame header: {e}"),
        };
        let len = usize::try_from(h.len).expect("length");
        assert!(wire.len() >= n + len, "{role:?}: output ends inside a frame");
        assert!(!closed, "{role:?}: frame after its close frame");
        assert_eq!(h.mask.is_some(), role == Role::Client, "{role:?}: frames are masked iff client");
        assert!(!h.rsv2 && !h.rsv3, "{role:?}: RSV2/RSV3 set");
        let mut payload = wire[n..n + len].to_vec();
        if let Some(key) = h.mask {
            apply_mask(&mut payload, key, 0);
        }
        wire = &wire[n + len..];
        if h.opcode.is_control() {
            assert!(h.fin && len <= 125 && !h.rsv1, "{role:?}: invalid control frame {h:?}");
            if h.opcode == OpCode::Close {
                closed = true;
                assert!(payload.len() != 1, "{role:?}: one-byte close payload");
                if payload.len() >= 2 {
                    let code = CloseCode::from_u16(u16::from_be_bytes([payload[0], payload[1]]));
                    assert!(code.is_valid_on_wire(), "{role:?} sent close code {}", code.as_u16());
                    assert!(std::str::from_utf8(&payload[2..]).is_ok(), "{role:?}: close reason not UTF-8");
                }
            }
            continue;
        }
        match (h.opcode, message.as_mut()) {
            (OpCode::Continuation, Some((_, _, data))) => {
                assert!(!h.rsv1, "{role:?}: RSV1 on a continuation frame");
                data.extend_from_slice(&payload);
            }
            (OpCode::Continuation, None) => panic!("{role:?}: continuation without a message"),
            (_, Some(_)) => panic!("{role:?}: new message inside a fragmented one"),
            (op, None) => {
                assert!(!h.rsv1 || deflate, "{role:?}: RSV1 without permessage-deflate");
                message = Some((op, h.rsv1, payload));
            }
        }
        if h.fin {
            let (op, compressed, data) = message.take().expect("message");
            if op == OpCode::Text && !compressed {
                assert!(std::str::from_utf8(&data).is_ok(), "{role:?} sent a text message that is not UTF-8");
            }
        }
    }
}

/// What a run did, for tests that check the harness is not vacuous.
#[derive(Debug, Default)]
pub struct Summary {
    /// Messages accepted by the client's and the server's send calls.
    pub sent: [usize; 2],
    /// Messages delivered to the client and to the server.
    pub delivered: [usize; 2],
    /// Whether each side's `Closed` reported a clean close.
    pub clean: [bool; 2],
}

/// Runs one fuzz input.
pub fn pair(data: &[u8]) {
    run(data);
}

/// Runs one fuzz input and says what happened.
pub fn run(data: &[u8]) -> Summary {
    let mut input = Input { data };
    let client_bits = input.u8();
    let server_bits = input.u8();
    let extra = input.u8();
    let (negotiated, client_deflate, server_deflate) = deflate(&mut input);
    let now = Instant::now();
    let deflate = negotiated.deflate.is_some();
    let client_config = config(client_bits, extra, client_deflate);
    let server_config = config(server_bits, extra.rotate_left(3), server_deflate);
    let client = Side::new(Role::Client, client_bits, client_config, negotiated.clone(), now);
    let server = Side::new(Role::Server, server_bits, server_config, negotiated, now);
    let mut pair = Pair { sides: [client, server], now, deflate };
    let mut ops = 0;
    while !input.is_empty() && ops < 400 {
        pair.run_op(&mut input);
        ops += 1;
    }
    pair.finish();
    pair.check();
    let [c, s] = &pair.sides;
    let clean = |x: &Side| x.closed.as_ref().is_some_and(CloseInfo::was_clean);
    Summary { sent: [c.sent.len(), s.sent.len()], delivered: [c.delivered, s.delivered], clean: [clean(c), clean(s)] }
}
