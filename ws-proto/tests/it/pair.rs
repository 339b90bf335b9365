//! The test harness: an in-memory client/server [`Pair`] with simulated time (quinn-proto's
//! `tests/util.rs` idea), a builder for raw frames to inject ([`RawFrame`]), a parser for the
//! frames an endpoint writes ([`parse_frames`], [`sent`], [`assert_frames_sent`]) and a
//! comparable view of events ([`Ev`], [`Closed`]).

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_proto::frame::FrameHeader;
use ws_proto::{
    apply_mask, Buf, CloseFrame, Config, Connection, Entropy, Error, Event, Initiator, Message, MessageKind,
    Negotiated, ProtocolError, Role, State, Transmit,
};

// ------------------------------------------------------------------ connections

/// Deterministic entropy: 1, 2, 3, ... (wrapping), so the first masking key is `[1, 2, 3, 4]`.
pub(crate) fn counter_entropy() -> Box<dyn Entropy> {
    let mut n = 0u8;
    Box::new(move |dest: &mut [u8]| {
        for b in dest {
            n = n.wrapping_add(1);
            *b = n;
        }
    })
}

/// A connection of `role`; clients get [`counter_entropy`].
pub(crate) fn new_conn(role: Role, config: &Config, now: Instant) -> Connection {
    let entropy = (role == Role::Client).then(counter_entropy);
    Connection::new(role, Arc::new(config.clone()), Negotiated::default(), entropy, now)
}

/// A connection of `role` with the default configuration.
pub(crate) fn default_conn(role: Role, now: Instant) -> Connection {
    new_conn(role, &Config::default(), now)
}

/// Drains `poll_event` into comparable events.
pub(crate) fn poll_events(conn: &mut Connection, now: Instant) -> Vec<Ev> {
    let mut evs = Vec::new();
    while let Some(e) = conn.poll_event(now) {
        evs.push(Ev::from(e));
        assert!(evs.len() < 1_000_000, "poll_event never returns None");
    }
    evs
}

/// Feeds `bytes` (copying) and drains the events.
pub(crate) fn recv(conn: &mut Connection, bytes: &[u8], now: Instant) -> Vec<Ev> {
    conn.receive(bytes);
    poll_events(conn, now)
}

// ------------------------------------------------------------------ events

/// A comparable view of an [`Event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Fragment { kind: MessageKind, data: Vec<u8>, fin: bool },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Closed(Closed),
}

impl Ev {
    pub(crate) fn text(s: &str) -> Self {
        Self::Text(s.as_bytes().to_vec())
    }

    pub(crate) fn binary(b: &[u8]) -> Self {
        Self::Binary(b.to_vec())
    }

    pub(crate) fn ping(b: &[u8]) -> Self {
        Self::Ping(b.to_vec())
    }

    pub(crate) fn pong(b: &[u8]) -> Self {
        Self::Pong(b.to_vec())
    }

    pub(crate) fn frag(kind: MessageKind, data: &[u8], fin: bool) -> Self {
        Self::Fragment { kind, data: data.to_vec(), fin }
    }
}

impl From<Event> for Ev {
    fn from(e: Event) -> Self {
        match e {
            Event::Message(Message::Text(t)) => Self::Text(t.as_bytes().to_vec()),
            Event::Message(Message::Binary(b)) => Self::Binary(b.to_vec()),
            Event::Fragment(f) => Self::Fragment { kind: f.kind, data: f.data.to_vec(), fin: f.fin },
            Event::Ping(b) => Self::Ping(b.to_vec()),
            Event::Pong(b) => Self::Pong(b.to_vec()),
            Event::Closed(info) => Self::Closed(Closed {
                initiator: info.initiator,
                code: info.code().as_u16(),
                reason: info.reason().to_owned(),
                clean: info.was_clean(),
                error: info.error.clone(),
                sent: info.sent.clone(),
                received: info.received.clone(),
                close_sent: info.close_sent,
                close_received: info.close_received,
            }),
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// A comparable view of a [`ws_proto::CloseInfo`], with `code()`, `reason()` and
/// `was_clean()` evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Closed {
    pub(crate) initiator: Initiator,
    pub(crate) code: u16,
    pub(crate) reason: String,
    pub(crate) clean: bool,
    pub(crate) error: Option<Error>,
    pub(crate) sent: Option<CloseFrame>,
    pub(crate) received: Option<CloseFrame>,
    pub(crate) close_sent: bool,
    pub(crate) close_received: bool,
}

impl Closed {
    /// A clean close in which `sent` and `received` were exchanged.
    pub(crate) fn clean(initiator: Initiator, sent: Option<CloseFrame>, received: Option<CloseFrame>) -> Self {
        Self {
            initiator,
            code: received.as_ref().map_or(1005, |f| f.code.as_u16()),
            reason: received.as_ref().map_or(String::new(), |f| f.reason.to_string()),
            clean: true,
            error: None,
            sent,
            received,
            close_sent: true,
            close_received: true,
        }
    }
}

/// A close frame value, for comparisons.
pub(crate) fn cf(code: u16, reason: &str) -> CloseFrame {
    CloseFrame::new(code, reason)
}

/// The one `Closed` event of `evs`, which must be the last event.
#[track_caller]
pub(crate) fn last_closed(evs: &[Ev]) -> &Closed {
    let n = evs.iter().filter(|e| matches!(e, Ev::Closed(_))).count();
    assert_eq!(n, 1, "expected exactly one Closed event in {evs:?}");
    match evs.last() {
        Some(Ev::Closed(c)) => c,
        _ => panic!("Closed must be the last event: {evs:?}"),
    }
}

// ------------------------------------------------------------------ output parsing

/// A frame as written by an endpoint, with its payload unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) fin: bool,
    pub(crate) opcode: u8,
    pub(crate) payload: Vec<u8>,
}

impl Frame {
    pub(crate) fn new(opcode: u8, payload: impl AsRef<[u8]>) -> Self {
        Self { fin: true, opcode, payload: payload.as_ref().to_vec() }
    }

    pub(crate) fn text(s: &str) -> Self {
        Self::new(0x1, s)
    }

    pub(crate) fn binary(b: impl AsRef<[u8]>) -> Self {
        Self::new(0x2, b)
    }

    pub(crate) fn cont(b: impl AsRef<[u8]>) -> Self {
        Self::new(0x0, b)
    }

    pub(crate) fn ping(b: impl AsRef<[u8]>) -> Self {
        Self::new(0x9, b)
    }

    pub(crate) fn pong(b: impl AsRef<[u8]>) -> Self {
        Self::new(0xA, b)
    }

    pub(crate) fn close(code: u16, reason: &str) -> Self {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        Self::new(0x8, p)
    }

    pub(crate) fn close_empty() -> Self {
        Self::new(0x8, [])
    }

    pub(crate) fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }

    /// The status code of a close frame that has one.
    pub(crate) fn close_code(&self) -> Option<u16> {
        (self.opcode == 0x8 && self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Frames parsed from a byte stream.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) frames: Vec<Frame>,
    /// The masking key of each frame.
    pub(crate) keys: Vec<Option<[u8; 4]>>,
    /// Bytes of an incomplete trailing frame.
    pub(crate) rest: usize,
}

/// Parses the frames in `wire` with [`FrameHeader::parse`] and unmasks them with
/// [`apply_mask`]. Endpoints never set RSV bits without an extension.
#[track_caller]
pub(crate) fn parse_frames(mut wire: &[u8]) -> Parsed {
    let mut frames = Vec::new();
    let mut keys = Vec::new();
    while let Some((h, n)) = FrameHeader::parse(wire).expect("an endpoint wrote an invalid frame header") {
        let len = usize::try_from(h.len).expect("frame length");
        if wire.len() < n + len {
            break;
        }
        assert!(!h.rsv1 && !h.rsv2 && !h.rsv3, "RSV bits set without an extension");
        let mut payload = wire[n..n + len].to_vec();
        if let Some(key) = h.mask {
            apply_mask(&mut payload, key, 0);
        }
        frames.push(Frame { fin: h.fin, opcode: h.opcode.as_u8(), payload });
        keys.push(h.mask);
        wire = &wire[n + len..];
    }
    Parsed { frames, keys, rest: wire.len() }
}

/// Writes one `Transmit::Data` the way a vectored socket write would: takes
/// `chunks_vectored`, writes at most `limit` bytes of it in order and advances by that much.
fn write_some(buf: &mut impl Buf, out: &mut Vec<u8>, limit: usize) -> usize {
    let mut written = 0;
    {
        let mut slices = [IoSlice::new(&[]); 4];
        let n = buf.chunks_vectored(&mut slices);
        assert!(n > 0, "Transmit::Data without bytes");
        // `chunk()` and `chunks_vectored()` must describe the same next bytes, in the order
        // `advance` consumes them.
        assert_eq!(buf.chunk(), &slices[0][..], "chunk() disagrees with chunks_vectored()");
        for s in &slices[..n] {
            let take = s.len().min(limit - written);
            out.extend_from_slice(&s[..take]);
            written += take;
            if written == limit {
                break;
            }
        }
    }
    buf.advance(written);
    written
}

/// Everything an endpoint hands out through `poll_transmit`.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) bytes: Vec<u8>,
    pub(crate) shutdown: bool,
}

/// Drains `poll_transmit` completely.
#[track_caller]
pub(crate) fn drain_output(conn: &mut Connection) -> Output {
    let mut out = Output::default();
    while let Some(t) = conn.poll_transmit() {
        match t {
            Transmit::Data(mut buf) => {
                assert!(!out.shutdown, "data after Transmit::Shutdown");
                let before = buf.remaining();
                let n = write_some(&mut buf, &mut out.bytes, usize::MAX);
                assert_eq!(buf.remaining(), before - n, "Buf::remaining must track advance");
            }
            Transmit::Shutdown => {
                assert!(!out.shutdown, "Transmit::Shutdown yielded twice");
                out.shutdown = true;
            }
        }
    }
    out
}

/// What an endpoint sent: frames (masking checked against its role) and whether it asked for
/// a half-close.
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) frames: Vec<Frame>,
    pub(crate) keys: Vec<Option<[u8; 4]>>,
    pub(crate) shutdown: bool,
}

/// Drains and parses an endpoint's output. Client frames must be masked, server frames not.
#[track_caller]
pub(crate) fn sent(conn: &mut Connection) -> Sent {
    let role = conn.role();
    let out = drain_output(conn);
    let p = parse_frames(&out.bytes);
    assert_eq!(p.rest, 0, "output ends inside a frame");
    for k in &p.keys {
        assert_eq!(k.is_some(), role == Role::Client, "{role:?} frames must be masked iff client");
    }
    assert_eq!(conn.buffered_amount(), 0, "buffered_amount after draining");
    Sent { frames: p.frames, keys: p.keys, shutdown: out.shutdown }
}

/// Drains the endpoint's output and compares it with `expected`, and the half-close request.
#[track_caller]
pub(crate) fn assert_frames_sent(conn: &mut Connection, expected: &[Frame], shutdown: bool) {
    let s = sent(conn);
    assert_eq!(s.frames, expected, "frames sent by the {:?}", conn.role());
    assert_eq!(s.shutdown, shutdown, "Transmit::Shutdown from the {:?}", conn.role());
}

/// Checks that `conn` failed with `expect`: one `Closed` event (the last of `evs`) reporting
/// the error, exactly one close frame with the error's code sent, a half-close from a server
/// and none from a client, and all further input discarded.
#[track_caller]
pub(crate) fn assert_failed(conn: &mut Connection, evs: &[Ev], expect: &ProtocolError, now: Instant) {
    let code = expect.close_code().as_u16();
    let closed = last_closed(evs);
    assert_eq!(closed.error, Some(Error::Protocol(expect.clone())), "{evs:?}");
    assert_eq!(closed.initiator, Initiator::Library);
    assert_eq!(closed.sent.as_ref().map(|f| f.code.as_u16()), Some(code));
    assert!(closed.close_sent && !closed.close_received && !closed.clean, "{closed:?}");
    assert_eq!(closed.code, 1006, "no close frame was received");
    assert_eq!(conn.state(), State::Closed);
    let s = sent(conn);
    assert_eq!(s.frames.len(), 1, "exactly one frame (the close) after a failure: {:?}", s.frames);
    assert_eq!(s.frames[0].close_code(), Some(code), "{:?}", s.frames[0]);
    assert_eq!(s.shutdown, conn.role() == Role::Server, "the server closes TCP first");
    // Input after a failure is discarded: no events, nothing sent.
    let role = conn.role();
    conn.receive(&RawFrame::text("more").to(role));
    conn.receive(&RawFrame::ping("p").to(role));
    assert!(conn.poll_event(now).is_none(), "event after failure");
    assert!(conn.poll_transmit().is_none(), "output after failure");
}

// ------------------------------------------------------------------ raw frames to inject

/// The key used by [`RawFrame`] when it masks automatically.
pub(crate) const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

#[derive(Clone, Copy, Debug)]
enum Mask {
    /// Masked iff sent to a server.
    Auto,
    Never,
    Key([u8; 4]),
}

/// A frame to inject as raw bytes, encoded by the test itself (so invalid frames can be built).
#[derive(Clone, Debug)]
pub(crate) struct RawFrame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Mask,
    payload: Vec<u8>,
    declared_len: Option<u64>,
}

impl RawFrame {
    pub(crate) fn new(opcode: u8, payload: impl AsRef<[u8]>) -> Self {
        Self { fin: true, rsv: 0, opcode, mask: Mask::Auto, payload: payload.as_ref().to_vec(), declared_len: None }
    }

    pub(crate) fn text(s: &str) -> Self {
        Self::new(0x1, s)
    }

    pub(crate) fn text_bytes(b: impl AsRef<[u8]>) -> Self {
        Self::new(0x1, b)
    }

    pub(crate) fn binary(b: impl AsRef<[u8]>) -> Self {
        Self::new(0x2, b)
    }

    pub(crate) fn cont(b: impl AsRef<[u8]>) -> Self {
        Self::new(0x0, b)
    }

    pub(crate) fn ping(b: impl AsRef<[u8]>) -> Self {
        Self::new(0x9, b)
    }

    pub(crate) fn pong(b: impl AsRef<[u8]>) -> Self {
        Self::new(0xA, b)
    }

    pub(crate) fn close(code: u16, reason: &str) -> Self {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        Self::new(0x8, p)
    }

    pub(crate) fn close_payload(b: impl AsRef<[u8]>) -> Self {
        Self::new(0x8, b)
    }

    pub(crate) fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }

    /// RSV bits, `0b100` = RSV1.
    pub(crate) fn rsv(mut self, bits: u8) -> Self {
        self.rsv = bits & 7;
        self
    }

    pub(crate) fn masked(mut self, key: [u8; 4]) -> Self {
        self.mask = Mask::Key(key);
        self
    }

    pub(crate) fn unmasked(mut self) -> Self {
        self.mask = Mask::Never;
        self
    }

    /// Declares this payload length in a 64-bit length field whatever the payload.
    pub(crate) fn declared_len(mut self, len: u64) -> Self {
        self.declared_len = Some(len);
        self
    }

    fn key_for(&self, to: Role) -> Option<[u8; 4]> {
        match self.mask {
            Mask::Auto => (to == Role::Server).then_some(KEY),
            Mask::Never => None,
            Mask::Key(k) => Some(k),
        }
    }

    /// The header bytes of this frame sent to an endpoint of role `to`.
    pub(crate) fn header(&self, to: Role) -> Vec<u8> {
        let key = self.key_for(to);
        let mut h = vec![(u8::from(self.fin) << 7) | (self.rsv << 4) | (self.opcode & 0x0F)];
        let mask_bit = if key.is_some() { 0x80 } else { 0 };
        let len = self.payload.len() as u64;
        match self.declared_len {
            Some(l) => {
                h.push(mask_bit | 127);
                h.extend_from_slice(&l.to_be_bytes());
            }
            None if len < 126 => h.push(mask_bit | len as u8),
            None if len <= 0xFFFF => {
                h.push(mask_bit | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            None => {
                h.push(mask_bit | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        if let Some(k) = key {
            h.extend_from_slice(&k);
        }
        h
    }

    /// The bytes of this frame sent to an endpoint of role `to` (masked iff `to` is a server,
    /// unless overridden).
    pub(crate) fn to(&self, to: Role) -> Vec<u8> {
        let mut v = self.header(to);
        let start = v.len();
        v.extend_from_slice(&self.payload);
        if let Some(k) = self.key_for(to) {
            apply_mask(&mut v[start..], k, 0);
        }
        v
    }
}

/// The bytes of several frames sent to an endpoint of role `to`.
pub(crate) fn wire(to: Role, frames: &[RawFrame]) -> Vec<u8> {
    frames.iter().flat_map(|f| f.to(to)).collect()
}

// ------------------------------------------------------------------ the pair

/// One end of a [`Pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Side {
    fn idx(self) -> usize {
        match self {
            Self::Client => 0,
            Self::Server => 1,
        }
    }

    pub(crate) fn other(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }

    pub(crate) fn role(self) -> Role {
        match self {
            Self::Client => Role::Client,
            Self::Server => Role::Server,
        }
    }

    pub(crate) fn of(role: Role) -> Self {
        match role {
            Role::Client => Self::Client,
            Role::Server => Self::Server,
        }
    }
}

pub(crate) const SIDES: [Side; 2] = [Side::Client, Side::Server];

/// Per-side bookkeeping: recorded events, bytes written, the simulated socket.
#[derive(Debug, Default)]
struct Link {
    events: Vec<Ev>,
    closed_seen: bool,
    /// Everything this side wrote.
    wire: Vec<u8>,
    shutdowns: usize,
    /// The socket was dropped because the connection `is_terminated()`.
    dropped: bool,
    /// Bytes in flight towards this side.
    inbox: VecDeque<u8>,
    /// The peer half-closed or dropped its socket: EOF once the inbox is read.
    inbox_eof: bool,
    eof_delivered: bool,
    reads: usize,
}

/// A client and a server connected in memory, with simulated time.
pub(crate) struct Pair {
    pub(crate) client: Connection,
    pub(crate) server: Connection,
    pub(crate) now: Instant,
    pub(crate) start: Instant,
    /// Bytes per simulated read (the receiver gets its input in chunks of this size).
    pub(crate) read_chunk: usize,
    /// Bytes per simulated write.
    pub(crate) write_chunk: usize,
    links: [Link; 2],
}

impl Default for Pair {
    fn default() -> Self {
        Self::new(&Config::default(), &Config::default())
    }
}

impl Pair {
    pub(crate) fn new(client_config: &Config, server_config: &Config) -> Self {
        let now = Instant::now();
        Self {
            client: new_conn(Role::Client, client_config, now),
            server: new_conn(Role::Server, server_config, now),
            now,
            start: now,
            read_chunk: usize::MAX,
            write_chunk: usize::MAX,
            links: Default::default(),
        }
    }

    /// A pair whose reads deliver at most `chunk` bytes at a time.
    pub(crate) fn chunked(mut self, chunk: usize) -> Self {
        self.read_chunk = chunk.max(1);
        self
    }

    pub(crate) fn conn(&mut self, side: Side) -> &mut Connection {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    pub(crate) fn conn_ref(&self, side: Side) -> &Connection {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Events recorded for `side` and not yet taken.
    pub(crate) fn events(&self, side: Side) -> &[Ev] {
        &self.links[side.idx()].events
    }

    /// Takes the events recorded for `side`.
    pub(crate) fn take_events(&mut self, side: Side) -> Vec<Ev> {
        std::mem::take(&mut self.links[side.idx()].events)
    }

    /// Everything `side` wrote so far.
    pub(crate) fn wire(&self, side: Side) -> &[u8] {
        &self.links[side.idx()].wire
    }

    /// The frames `side` wrote so far (masking checked against its role).
    #[track_caller]
    pub(crate) fn frames_sent(&self, side: Side) -> Vec<Frame> {
        let p = parse_frames(self.wire(side));
        for k in &p.keys {
            assert_eq!(k.is_some(), side == Side::Client, "{side:?} frames must be masked iff client");
        }
        p.frames
    }

    /// How many times `side` was told to half-close.
    pub(crate) fn shutdowns(&self, side: Side) -> usize {
        self.links[side.idx()].shutdowns
    }

    /// Whether `side`'s socket was dropped (it reported `is_terminated()`).
    pub(crate) fn dropped(&self, side: Side) -> bool {
        self.links[side.idx()].dropped
    }

    /// Simulated time since the pair was created.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn pump_events(&mut self, side: Side) -> bool {
        if self.links[side.idx()].dropped {
            return false;
        }
        let now = self.now;
        let mut any = false;
        while let Some(e) = self.conn(side).poll_event(now) {
            let ev = Ev::from(e);
            let link = &mut self.links[side.idx()];
            assert!(!link.closed_seen, "{side:?}: event {ev:?} after Closed");
            link.closed_seen = matches!(ev, Ev::Closed(_));
            link.events.push(ev);
            any = true;
        }
        any
    }

    fn pump_output(&mut self, side: Side) -> bool {
        if self.links[side.idx()].dropped {
            return false;
        }
        let limit = self.write_chunk;
        let mut out = Vec::new();
        let mut shutdown = false;
        let mut any = false;
        let conn = match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        };
        while let Some(t) = conn.poll_transmit() {
            any = true;
            match t {
                Transmit::Data(mut buf) => {
                    assert!(!shutdown, "{side:?}: data after Transmit::Shutdown");
                    write_some(&mut buf, &mut out, limit);
                }
                Transmit::Shutdown => {
                    assert!(!shutdown, "{side:?}: Transmit::Shutdown twice");
                    shutdown = true;
                }
            }
        }
        let link = &mut self.links[side.idx()];
        assert!(link.shutdowns == 0 || (out.is_empty() && !shutdown), "{side:?}: output after Transmit::Shutdown");
        link.wire.extend_from_slice(&out);
        link.shutdowns += usize::from(shutdown);
        let peer = &mut self.links[side.other().idx()];
        if !peer.dropped {
            peer.inbox.extend(out);
            peer.inbox_eof |= shutdown;
        }
        any
    }

    fn check_drop(&mut self, side: Side) -> bool {
        if self.links[side.idx()].dropped || !self.conn_ref(side).is_terminated() {
            return false;
        }
        let link = &mut self.links[side.idx()];
        link.dropped = true;
        link.inbox.clear();
        self.links[side.other().idx()].inbox_eof = true;
        true
    }

    fn deliver(&mut self, side: Side) -> bool {
        let i = side.idx();
        if self.links[i].dropped {
            return false;
        }
        let mut any = false;
        while !self.links[i].inbox.is_empty() && self.conn_ref(side).wants_read() {
            let n = self.read_chunk.min(self.links[i].inbox.len());
            let chunk: Vec<u8> = self.links[i].inbox.drain(..n).collect();
            let reads = self.links[i].reads;
            self.links[i].reads += 1;
            let conn = self.conn(side);
            if reads % 2 == 0 {
                conn.receive(&chunk);
            } else {
                // Every other read goes through the zero-copy slot API.
                let slot = conn.recv_slot(n);
                slot[..n].copy_from_slice(&chunk);
                conn.commit_received(n);
            }
            self.pump_events(side);
            any = true;
        }
        let link = &self.links[i];
        if link.inbox.is_empty() && link.inbox_eof && !link.eof_delivered && self.conn_ref(side).wants_read() {
            self.links[i].eof_delivered = true;
            self.conn(side).receive_eof();
            self.pump_events(side);
            any = true;
        }
        any
    }

    /// Moves bytes both ways and records events until nothing changes: the driving contract
    /// (events, then transmits, then timers) applied to both ends.
    pub(crate) fn drive(&mut self) {
        for _ in 0..1_000_000 {
            let mut progress = false;
            for side in SIDES {
                progress |= self.pump_events(side);
                progress |= self.pump_output(side);
                progress |= self.check_drop(side);
            }
            for side in SIDES {
                progress |= self.deliver(side);
            }
            if !progress {
                for side in SIDES {
                    let link = &self.links[side.idx()];
                    assert!(
                        link.dropped || link.inbox.is_empty(),
                        "{side:?} stalled: wants_read() is false with {} bytes in flight",
                        link.inbox.len()
                    );
                    let closes = parse_frames(&link.wire).frames.iter().filter(|f| f.opcode == 0x8).count();
                    assert!(closes <= 1, "{side:?} sent {closes} close frames");
                }
                return;
            }
        }
        panic!("drive() did not settle");
    }

    /// The earliest deadline of the live ends.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        SIDES.into_iter().filter(|s| !self.dropped(*s)).filter_map(|s| self.conn_ref(s).poll_timeout()).min()
    }

    /// Jumps to the earliest deadline, calls `handle_timeout` on both ends and drives.
    /// Returns the deadline, or `None` when no timer is armed.
    pub(crate) fn advance_time(&mut self) -> Option<Instant> {
        let t = self.next_timeout()?;
        self.now = self.now.max(t);
        self.fire_timers();
        Some(t)
    }

    /// Moves time forward by `d` (calling `handle_timeout` on both ends, spuriously or not)
    /// and drives.
    pub(crate) fn advance_by(&mut self, d: Duration) {
        self.now += d;
        self.fire_timers();
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        for side in SIDES {
            if !self.dropped(side) {
                self.conn(side).handle_timeout(now);
            }
        }
        self.drive();
    }
}
