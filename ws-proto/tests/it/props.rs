//! Property tests: chunking invariance (the sans-IO property), round trips with arbitrary
//! fragmentation, header encode/parse identity, and the incremental UTF-8 validator against std.

use std::time::Instant;

use proptest::collection::vec;
use proptest::prelude::*;
use ws_proto::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use ws_proto::{Bytes, Config, MessageKind, Role, State, Utf8Validator};

use super::pair::*;

/// `cases` by default (the suite stays fast); `PROPTEST_CASES` overrides it for deep runs.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn arb_text(max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..max).prop_map(|v| v.into_iter().collect())
}

// ------------------------------------------------------------------ chunking invariance

/// One unit of an input stream.
#[derive(Clone, Debug)]
enum Unit {
    /// A data message split into frames at the given byte offsets.
    Data {
        text: bool,
        payload: Vec<u8>,
        splits: Vec<usize>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    /// Arbitrary bytes as a text frame (usually invalid UTF-8).
    BadText(Vec<u8>),
    /// Arbitrary bytes.
    Junk(Vec<u8>),
}

fn arb_unit() -> impl Strategy<Value = Unit> {
    prop_oneof![
        6 => (arb_text(40), vec(0usize..200, 0..4))
            .prop_map(|(t, splits)| Unit::Data { text: true, payload: t.into_bytes(), splits }),
        // Up to 6 frames and 220 bytes: crosses max_fragments (4) and max_message_size (150).
        4 => (vec(any::<u8>(), 0..220), vec(0usize..250, 0..6))
            .prop_map(|(payload, splits)| Unit::Data { text: false, payload, splits }),
        2 => vec(any::<u8>(), 0..20).prop_map(Unit::Ping),
        1 => vec(any::<u8>(), 0..20).prop_map(Unit::Pong),
        1 => proptest::option::of((prop_oneof![Just(1000u16), Just(1001), Just(4000), Just(1005), 0u16..5000], arb_text(10)))
            .prop_map(Unit::Close),
        1 => vec(any::<u8>(), 0..12).prop_map(Unit::BadText),
        1 => vec(any::<u8>(), 0..16).prop_map(Unit::Junk),
    ]
}

/// Encodes units as the bytes a peer would send to `to`, with varying masking keys.
fn encode(units: &[Unit], to: Role, seed: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = 0u8;
    let mut key = || {
        n = n.wrapping_add(1);
        [seed, n, seed.wrapping_mul(3) ^ n, 0x5a]
    };
    let push = |f: RawFrame, out: &mut Vec<u8>, k: [u8; 4]| {
        let f = if to == Role::Server { f.masked(k) } else { f };
        out.extend(f.to(to));
    };
    for u in units {
        match u {
            Unit::Data { text, payload, splits } => {
                let mut cuts: Vec<usize> = splits.iter().map(|s| s % (payload.len() + 1)).collect();
                cuts.sort_unstable();
                cuts.push(payload.len());
                let mut start = 0;
                for (i, &end) in cuts.iter().enumerate() {
                    let part = &payload[start..end];
                    let opcode = match (i, text) {
                        (0, true) => 1,
                        (0, false) => 2,
                        _ => 0,
                    };
                    let k = key();
                    push(RawFrame::new(opcode, part).fin(i == cuts.len() - 1), &mut out, k);
                    start = end;
                }
            }
            Unit::Ping(p) => push(RawFrame::ping(p), &mut out, key()),
            Unit::Pong(p) => push(RawFrame::pong(p), &mut out, key()),
            Unit::Close(None) => push(RawFrame::close_payload([]), &mut out, key()),
            Unit::Close(Some((code, reason))) => push(RawFrame::close(*code, reason), &mut out, key()),
            Unit::BadText(b) => push(RawFrame::text_bytes(b), &mut out, key()),
            Unit::Junk(j) => out.extend_from_slice(j),
        }
    }
    out
}

/// The observable result of feeding a stream.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    events: Vec<Ev>,
    output: Vec<u8>,
    shutdown: bool,
    state: State,
    terminated: bool,
}

/// Feeds `input` to a fresh connection in the given chunk sizes (cycled; `None` = at once),
/// draining events after every read as the driving contract says, and the output at the end.
fn feed(role: Role, cfg: &Config, input: &[u8], chunks: Option<&[usize]>, eof: bool) -> Run {
    let t0 = Instant::now();
    let mut c = new_conn(role, cfg, t0);
    let mut events = Vec::new();
    match chunks {
        None => events.extend(recv(&mut c, input, t0)),
        Some(sizes) => {
            let mut pos = 0;
            let mut i = 0;
            while pos < input.len() {
                let n = sizes[i % sizes.len()].min(input.len() - pos);
                if i % 3 == 1 {
                    let slot = c.recv_slot(n);
                    slot[..n].copy_from_slice(&input[pos..pos + n]);
                    c.commit_received(n);
                } else {
                    c.receive(&input[pos..pos + n]);
                }
                events.extend(poll_events(&mut c, t0));
                pos += n;
                i += 1;
            }
        }
    }
    if eof {
        c.receive_eof();
        events.extend(poll_events(&mut c, t0));
    }
    let out = drain_output(&mut c);
    Run { events, output: out.bytes, shutdown: out.shutdown, state: c.state(), terminated: c.is_terminated() }
}

/// Fragment mode: pieces depend on how bytes arrived, so merge them per message. The data of
/// a message cut short by a failure is returned separately (it is a prefix of what a finer
/// chunking delivers, since a whole chunk is validated before any of it is handed out).
fn merge_fragments(evs: Vec<Ev>) -> (Vec<Ev>, Vec<u8>) {
    let mut out = Vec::new();
    let mut cur: Option<(MessageKind, Vec<u8>)> = None;
    for e in evs {
        match e {
            Ev::Fragment { kind, data, fin } => {
                let entry = cur.get_or_insert_with(|| (kind, Vec::new()));
                assert_eq!(entry.0, kind, "kind changed inside a message");
                entry.1.extend(data);
                if fin {
                    let (kind, data) = cur.take().unwrap_or((kind, Vec::new()));
                    out.push(Ev::Fragment { kind, data, fin: true });
                }
            }
            other => out.push(other),
        }
    }
    (out, cur.map(|c| c.1).unwrap_or_default())
}

fn invariance_config(deliver_fragments: bool) -> Config {
    Config::default()
        .max_message_size(Some(150))
        .max_frame_size(Some(100))
        .max_fragments(Some(4))
        .deliver_fragments(deliver_fragments)
}

proptest! {
    #![proptest_config(config(256))]

    /// THE sans-IO property: any split of the input yields the same events and output bytes.
    #[test]
    fn chunking_invariance(
        units in vec(arb_unit(), 1..8),
        server in any::<bool>(),
        seed in any::<u8>(),
        chunks in vec(1usize..40, 1..10),
        eof in any::<bool>(),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let input = encode(&units, role, seed);
        let cfg = invariance_config(false);
        let whole = feed(role, &cfg, &input, None, eof);
        let split = feed(role, &cfg, &input, Some(&chunks), eof);
        prop_assert_eq!(&whole, &split);
        let bytewise = feed(role, &cfg, &input, Some(&[1]), eof);
        prop_assert_eq!(&whole, &bytewise);
        // At most one Closed, and last.
        let closed = whole.events.iter().filter(|e| matches!(e, Ev::Closed(_))).count();
        prop_assert!(closed <= 1);
        if closed == 1 {
            prop_assert!(matches!(whole.events.last(), Some(Ev::Closed(_))));
        }
        // The output is always whole frames, with at most one close frame.
        let p = parse_frames(&whole.output);
        prop_assert_eq!(p.rest, 0);
        prop_assert!(p.frames.iter().filter(|f| f.opcode == 8).count() <= 1);
    }

    /// The same in fragment mode, comparing messages rather than pieces.
    #[test]
    fn chunking_invariance_fragment_mode(
        units in vec(arb_unit(), 1..8),
        server in any::<bool>(),
        seed in any::<u8>(),
        chunks in vec(1usize..40, 1..10),
        eof in any::<bool>(),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let input = encode(&units, role, seed);
        let cfg = invariance_config(true);
        let whole = feed(role, &cfg, &input, None, eof);
        let split = feed(role, &cfg, &input, Some(&chunks), eof);
        let bytewise = feed(role, &cfg, &input, Some(&[1]), eof);
        prop_assert_eq!(&whole.output, &split.output);
        prop_assert_eq!(&whole.output, &bytewise.output);
        prop_assert_eq!((whole.shutdown, whole.state, whole.terminated), (split.shutdown, split.state, split.terminated));
        prop_assert_eq!((whole.shutdown, whole.state, whole.terminated), (bytewise.shutdown, bytewise.state, bytewise.terminated));
        let (w, w_rest) = merge_fragments(whole.events);
        let (s, s_rest) = merge_fragments(split.events);
        let (b, b_rest) = merge_fragments(bytewise.events);
        prop_assert_eq!(&w, &s);
        prop_assert_eq!(&w, &b);
        prop_assert!(s_rest.starts_with(&w_rest), "{:?} / {:?}", w_rest, s_rest);
        prop_assert!(b_rest.starts_with(&w_rest), "{:?} / {:?}", w_rest, b_rest);
        // The same messages as assembled mode.
        let assembled = feed(role, &invariance_config(false), &input, None, eof);
        let as_fragments: Vec<Ev> = assembled
            .events
            .into_iter()
            .map(|e| match e {
                Ev::Text(data) => Ev::Fragment { kind: MessageKind::Text, data, fin: true },
                Ev::Binary(data) => Ev::Fragment { kind: MessageKind::Binary, data, fin: true },
                other => other,
            })
            .collect();
        prop_assert_eq!(&w, &as_fragments);
    }
}

// ------------------------------------------------------------------ round trips

#[derive(Clone, Debug)]
struct Msg {
    from_client: bool,
    text: bool,
    payload: Vec<u8>,
    splits: Vec<usize>,
    ping_between: bool,
    drive_after: bool,
}

fn arb_msg() -> impl Strategy<Value = Msg> {
    (
        any::<bool>(),
        prop_oneof![
            arb_text(60).prop_map(|t| (true, t.into_bytes())),
            vec(any::<u8>(), 0..400).prop_map(|b| (false, b))
        ],
        vec(0usize..500, 0..5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(from_client, (text, payload), splits, ping_between, drive_after)| Msg {
            from_client,
            text,
            payload,
            splits,
            ping_between,
            drive_after,
        })
}

proptest! {
    #![proptest_config(config(128))]

    /// Arbitrary messages with arbitrary `send_frame_part` splits (inside code points too),
    /// both directions, arbitrary read sizes, auto-fragmentation and delivery modes.
    #[test]
    fn round_trip(
        msgs in vec(arb_msg(), 1..12),
        read_chunk in prop_oneof![Just(usize::MAX), 1usize..64],
        frag_size in proptest::option::of(1usize..50),
        fragments in any::<(bool, bool)>(),
    ) {
        let ccfg = Config::default().outgoing_fragment_size(frag_size).deliver_fragments(fragments.0);
        let scfg = Config::default().outgoing_fragment_size(frag_size).deliver_fragments(fragments.1);
        let mut p = Pair::new(&ccfg, &scfg).chunked(read_chunk);
        let mut expect = [Vec::new(), Vec::new()];
        for m in &msgs {
            let sender = if m.from_client { Side::Client } else { Side::Server };
            let kind = if m.text { MessageKind::Text } else { MessageKind::Binary };
            if m.splits.is_empty() {
                if m.text {
                    let t = String::from_utf8(m.payload.clone()).unwrap_or_default();
                    p.conn(sender).send_text(t).unwrap();
                } else {
                    p.conn(sender).send_binary(m.payload.clone()).unwrap();
                }
            } else {
                let mut cuts: Vec<usize> = m.splits.iter().map(|s| s % (m.payload.len() + 1)).collect();
                cuts.sort_unstable();
                cuts.push(m.payload.len());
                let mut start = 0;
                for (i, &end) in cuts.iter().enumerate() {
                    let part = Bytes::copy_from_slice(&m.payload[start..end]);
                    p.conn(sender).send_frame_part(kind, part, i == cuts.len() - 1).unwrap();
                    if m.ping_between && i == 0 {
                        p.conn(sender).send_ping("mid").unwrap();
                    }
                    start = end;
                }
            }
            expect[usize::from(!m.from_client)].push(Ev::Fragment { kind, data: m.payload.clone(), fin: true });
            if m.drive_after {
                p.drive();
            }
        }
        p.drive();
        for (side, sent_by) in [(Side::Server, 0), (Side::Client, 1)] {
            let evs: Vec<Ev> = p
                .take_events(side)
                .into_iter()
                .filter(|e| !matches!(e, Ev::Ping(_) | Ev::Pong(_)))
                .map(|e| match e {
                    Ev::Text(data) => Ev::Fragment { kind: MessageKind::Text, data, fin: true },
                    Ev::Binary(data) => Ev::Fragment { kind: MessageKind::Binary, data, fin: true },
                    other => other,
                })
                .collect();
            let (merged, rest) = merge_fragments(evs);
            prop_assert!(rest.is_empty());
            prop_assert_eq!(&merged, &expect[sent_by], "received by {:?}", side);
        }
        prop_assert_eq!(p.client.state(), State::Open);
        prop_assert_eq!(p.server.state(), State::Open);
    }
}

// ------------------------------------------------------------------ frame headers

fn arb_opcode() -> impl Strategy<Value = OpCode> {
    prop_oneof![
        Just(OpCode::Continuation),
        Just(OpCode::Text),
        Just(OpCode::Binary),
        Just(OpCode::Close),
        Just(OpCode::Ping),
        Just(OpCode::Pong),
    ]
}

fn arb_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=130,
        prop_oneof![Just(125u64), Just(126), Just(127), Just(65_535), Just(65_536), Just((1 << 63) - 1)],
        0u64..=70_000,
        0u64..(1 << 63),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// `encode_into` then `parse` is the identity; every strict prefix is incomplete; trailing
    /// bytes are not consumed.
    #[test]
    fn frame_header_encode_parse_identity(
        fin in any::<bool>(),
        rsv in any::<(bool, bool, bool)>(),
        opcode in arb_opcode(),
        mask in proptest::option::of(any::<[u8; 4]>()),
        len in arb_len(),
        trailing in vec(any::<u8>(), 0..8),
    ) {
        let h = FrameHeader { fin, rsv1: rsv.0, rsv2: rsv.1, rsv3: rsv.2, opcode, mask, len };
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = h.encode_into(&mut buf);
        prop_assert_eq!(n, h.encoded_len());
        let expected_n = match len { 0..=125 => 2, 126..=65_535 => 4, _ => 10 } + if mask.is_some() { 4 } else { 0 };
        prop_assert_eq!(n, expected_n, "shortest length encoding");
        prop_assert_eq!(FrameHeader::parse(&buf[..n]), Ok(Some((h, n))));
        for short in 0..n {
            prop_assert_eq!(FrameHeader::parse(&buf[..short]), Ok(None));
        }
        let mut longer = buf[..n].to_vec();
        longer.extend_from_slice(&trailing);
        prop_assert_eq!(FrameHeader::parse(&longer), Ok(Some((h, n))));
        // The test's own raw encoder agrees with the crate's.
        if !rsv.0 && !rsv.1 && !rsv.2 && len < 100_000 {
            let raw = RawFrame::new(opcode.as_u8(), vec![0u8; len as usize]).fin(fin);
            let raw = match mask { Some(k) => raw.masked(k), None => raw.unmasked() };
            prop_assert_eq!(raw.header(Role::Client), buf[..n].to_vec());
        }
    }
}

// ------------------------------------------------------------------ UTF-8

/// Feeds `bytes` in the given chunks; after every chunk the validator must have failed iff
/// the bytes so far cannot begin any valid UTF-8 (fail-fast), and at the end it must accept
/// exactly what std accepts.
fn check_validator(bytes: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    let mut v = Utf8Validator::new();
    let mut start = 0;
    for &end in &cuts {
        let r = v.feed(&bytes[start..end]);
        let prefix_dead = matches!(std::str::from_utf8(&bytes[..end]), Err(e) if e.error_len().is_some());
        prop_assert_eq!(r.is_err(), prefix_dead, "after {} bytes of {:x?}", end, bytes);
        if r.is_err() {
            prop_assert!(std::str::from_utf8(bytes).is_err());
            return Ok(());
        }
        start = end;
    }
    prop_assert_eq!(v.is_complete(), std::str::from_utf8(bytes).is_ok(), "{:x?}", bytes);
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn utf8_validator_agrees_with_std_on_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..64),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        check_validator(&bytes, &cuts)?;
    }

    #[test]
    fn utf8_validator_accepts_valid_text_under_any_chunking(text in arb_text(40), cuts in vec(any::<usize>(), 0..8)) {
        check_validator(text.as_bytes(), &cuts)?;
    }

    /// Mostly valid text with one byte changed: exercises the boundary between valid and
    /// invalid sequences much more than uniform bytes do.
    #[test]
    fn utf8_validator_agrees_with_std_on_corrupted_text(
        text in arb_text(30),
        at in any::<usize>(),
        byte in prop_oneof![0x80u8..=0xBF, 0xC0u8..=0xFF, any::<u8>()],
        truncate in any::<bool>(),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let mut bytes = text.into_bytes();
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
            if truncate {
                bytes.truncate(i + 1);
            }
        }
        check_validator(&bytes, &cuts)?;
    }
}
