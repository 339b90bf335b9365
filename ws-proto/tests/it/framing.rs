//! Data round trips, masking, prepared messages, output ordering and every framing violation
//! (fed as raw bytes) with its close code.

use std::time::Instant;

use ws_proto::{
    Buf, Bytes, Config, Connection, Error, Initiator, Message, PreparedMessage, ProtocolError, Role, SendOptions,
    State, Transmit,
};

use super::pair::*;

// ------------------------------------------------------------------ round trips

fn round_trip_messages() -> Vec<(Message, Ev, Frame)> {
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let mid = "é".repeat(200);
    vec![
        (Message::text("hello"), Ev::text("hello"), Frame::text("hello")),
        (Message::binary(vec![0, 1, 2, 255]), Ev::binary(&[0, 1, 2, 255]), Frame::binary([0, 1, 2, 255])),
        (Message::text(""), Ev::text(""), Frame::text("")),
        (Message::binary(Vec::new()), Ev::binary(&[]), Frame::binary([])),
        (Message::text("κόσμε 𝄞"), Ev::text("κόσμε 𝄞"), Frame::text("κόσμε 𝄞")),
        (Message::text(mid.clone()), Ev::text(&mid), Frame::text(&mid)),
        (Message::binary(vec![7u8; 125]), Ev::binary(&[7; 125]), Frame::binary([7; 125])),
        (Message::binary(vec![8u8; 126]), Ev::binary(&[8; 126]), Frame::binary([8; 126])),
        (Message::binary(vec![9u8; 65_535]), Ev::binary(&[9; 65_535]), Frame::binary([9; 65_535])),
        (Message::binary(big.clone()), Ev::binary(&big), Frame::binary(&big)),
    ]
}

both_roles!(client_round_trips_text_binary_empty, server_round_trips_text_binary_empty, |role: Role| {
    let sender = Side::of(role);
    for chunk in [usize::MAX, 1000, 7] {
        let mut p = Pair::default().chunked(chunk);
        let msgs = round_trip_messages();
        for (m, _, _) in &msgs {
            match m.clone() {
                Message::Text(t) => p.conn(sender).send_text(t).unwrap(),
                Message::Binary(b) => p.conn(sender).send_binary(b).unwrap(),
            }
        }
        p.drive();
        let expected_ev: Vec<Ev> = msgs.iter().map(|(_, e, _)| e.clone()).collect();
        let expected_frames: Vec<Frame> = msgs.iter().map(|(_, _, f)| f.clone()).collect();
        assert_eq!(p.take_events(sender.other()), expected_ev, "chunk {chunk}");
        assert!(p.events(sender).is_empty());
        assert_eq!(p.frames_sent(sender), expected_frames);
        assert!(p.frames_sent(sender.other()).is_empty());
        assert_eq!(p.conn(sender).state(), State::Open);
        assert_eq!(p.conn(sender.other()).state(), State::Open);
    }
});

both_roles!(client_round_trips_one_byte_reads_interleaved, server_round_trips_one_byte_reads_interleaved, |role| {
    // Messages both ways at once, read a byte at a time.
    let side = Side::of(role);
    let mut p = Pair::default().chunked(1);
    for i in 0..20u8 {
        p.conn(side).send_text(format!("from {side:?} {i}")).unwrap();
        p.conn(side.other()).send_binary(vec![i; usize::from(i) * 20]).unwrap();
        if i % 3 == 0 {
            p.drive();
        }
    }
    p.drive();
    let texts: Vec<Ev> = (0..20).map(|i| Ev::text(&format!("from {side:?} {i}"))).collect();
    let bins: Vec<Ev> = (0..20u8).map(|i| Ev::binary(&vec![i; usize::from(i) * 20])).collect();
    assert_eq!(p.take_events(side.other()), texts);
    assert_eq!(p.take_events(side), bins);
});

#[test]
fn client_masks_with_keys_from_injected_entropy() {
    let t0 = Instant::now();
    let mut c = default_conn(Role::Client, t0);
    c.send_text("hello").unwrap();
    let out = drain_output(&mut c);
    // The counter entropy yields 1, 2, 3, 4 for the first key.
    assert_eq!(&out.bytes[..6], &[0x81, 0x85, 1, 2, 3, 4]);
    let masked: Vec<u8> = b"hello".iter().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]).collect();
    assert_eq!(&out.bytes[6..], &masked[..]);
    c.send_binary(vec![0u8; 300]).unwrap();
    c.send_ping("p").unwrap();
    c.send_pong("q").unwrap();
    c.close(None, t0).unwrap();
    // Each frame draws a fresh key at the moment it is queued, in order.
    let s = sent(&mut c);
    let mut keys = s.keys.clone();
    keys.sort();
    let expected: Vec<Option<[u8; 4]>> = (0..4u8).map(|k| Some([5 + 4 * k, 6 + 4 * k, 7 + 4 * k, 8 + 4 * k])).collect();
    assert_eq!(keys, expected);
    assert!(!s.shutdown, "a client never half-closes first");
    // A zero payload masked with a non-zero key is visible on the wire.
    let mut c = default_conn(Role::Client, t0);
    c.send_binary(vec![0u8; 300]).unwrap();
    let out = drain_output(&mut c);
    assert_eq!(&out.bytes[..8], &[0x82, 0xFE, 1, 44, 1, 2, 3, 4]);
    assert!(out.bytes[8..].chunks(4).all(|w| w == [1, 2, 3, 4]));
}

/// `SendOptions::mask(false)` (Node `mask: false`) unmasks that message's frames only: the
/// frames before and after it, and a server's, are as usual.
#[test]
fn send_options_mask_false_unmasks_one_message() {
    let t0 = Instant::now();
    let mut c = default_conn(Role::Client, t0);
    c.send_text("a").unwrap();
    c.send_message_with(Message::text("bare"), SendOptions::default().mask(false)).unwrap();
    c.send_frame_part_with(
        ws_proto::MessageKind::Binary,
        Bytes::from_static(b"p"),
        true,
        SendOptions::new().mask(false),
    )
    .unwrap();
    c.send_text("b").unwrap();
    let out = drain_output(&mut c);
    let p = parse_frames(&out.bytes);
    assert_eq!(p.keys.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false, false, true]);
    assert_eq!(p.frames[1].payload, b"bare");
    assert!(!c.unmasked_sends(), "the switch is not left on");
    let mut s = default_conn(Role::Server, t0);
    s.send_message_with(Message::text("x"), SendOptions::default().mask(true)).unwrap();
    assert_eq!(sent(&mut s).keys, [None], "servers never mask");
}

#[test]
fn client_never_masks_a_shared_payload_in_place() {
    let mut p = Pair::default();
    let data = Bytes::from(vec![0xAAu8; 1000]);
    p.client.send_binary(data.clone()).unwrap();
    let small = Bytes::from(vec![0xBBu8; 10]);
    p.client.send_binary(small.clone()).unwrap();
    p.drive();
    assert!(data.iter().all(|&b| b == 0xAA), "the caller's bytes were masked in place");
    assert!(small.iter().all(|&b| b == 0xBB));
    assert_eq!(p.take_events(Side::Server), [Ev::binary(&[0xAA; 1000]), Ev::binary(&[0xBB; 10])]);
}

#[test]
fn server_frames_are_unmasked() {
    let t0 = Instant::now();
    let mut s = default_conn(Role::Server, t0);
    s.send_text("hello").unwrap();
    s.send_binary(vec![1u8; 300]).unwrap();
    s.send_ping("p").unwrap();
    let out = drain_output(&mut s);
    // Control frames jump ahead of queued data.
    assert_eq!(&out.bytes[..3], &[0x89, 0x01, b'p']);
    assert_eq!(&out.bytes[3..10], &[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']);
    assert_eq!(&out.bytes[10..14], &[0x82, 126, 1, 44]);
    assert_eq!(&out.bytes[14..], &[1u8; 300][..]);
}

both_roles!(client_control_frame_waits_for_frame_boundary, server_control_frame_waits_for_frame_boundary, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    c.send_binary(vec![5u8; 1000]).unwrap();
    c.send_binary(vec![6u8; 1000]).unwrap();
    let mut wire = Vec::new();
    // Write the first 10 bytes of the first frame, then queue a ping: it must wait for the end
    // of that frame and go before the second one.
    match c.poll_transmit() {
        Some(Transmit::Data(mut buf)) => {
            let mut taken = 0;
            while taken < 10 {
                let chunk = buf.chunk();
                let n = chunk.len().min(10 - taken);
                wire.extend_from_slice(&chunk[..n]);
                buf.advance(n);
                taken += n;
            }
        }
        other => panic!("{other:?}"),
    }
    c.send_ping("now").unwrap();
    wire.extend(drain_output(&mut c).bytes);
    let p = parse_frames(&wire);
    assert_eq!(p.rest, 0);
    assert_eq!(p.frames, [Frame::binary([5u8; 1000]), Frame::ping("now"), Frame::binary([6u8; 1000])]);
});

// ------------------------------------------------------------------ prepared messages

#[test]
fn server_prepared_message_to_several_connections() {
    let small = PreparedMessage::new(Message::text("broadcast"));
    let big = PreparedMessage::new(Message::binary(vec![3u8; 5000]));
    let empty = PreparedMessage::new(Message::binary(Vec::new()));
    assert_eq!(big.wire_len(), 4 + 5000);
    let mut pairs: Vec<Pair> = (0..3).map(|_| Pair::default()).collect();
    let mut wires = Vec::new();
    for p in &mut pairs {
        for m in [&small, &big, &empty] {
            p.server.send_prepared(m).unwrap();
        }
        p.drive();
        assert_eq!(p.take_events(Side::Client), [Ev::text("broadcast"), Ev::binary(&[3; 5000]), Ev::binary(&[])]);
        wires.push(p.wire(Side::Server).to_vec());
    }
    assert!(wires.windows(2).all(|w| w[0] == w[1]), "server connections write identical bytes");
    // The prepared payload is shared, not consumed or modified.
    assert_eq!(&big.payload()[..], &[3u8; 5000][..]);
}

#[test]
fn client_prepared_message_is_masked_per_connection() {
    let m = PreparedMessage::new(Message::binary(vec![0x42u8; 600]));
    let t = PreparedMessage::new(Message::text("hi there"));
    let mut p1 = Pair::default();
    let mut p2 = Pair::default();
    // Draw one key on the second client so that the two use different keys.
    p2.client.send_ping("").unwrap();
    for p in [&mut p1, &mut p2] {
        p.client.send_prepared(&m).unwrap();
        p.client.send_prepared(&t).unwrap();
        p.drive();
        let evs: Vec<Ev> = p.take_events(Side::Server).into_iter().filter(|e| !matches!(e, Ev::Ping(_))).collect();
        assert_eq!(evs, [Ev::binary(&[0x42; 600]), Ev::text("hi there")]);
    }
    let f1 = parse_frames(p1.wire(Side::Client));
    let f2 = parse_frames(p2.wire(Side::Client));
    assert!(f1.keys.iter().chain(&f2.keys).all(Option::is_some));
    assert_ne!(f1.keys[0], f2.keys[1], "each connection masks with its own key");
    assert_eq!(&m.payload()[..], &[0x42u8; 600][..], "the shared payload was masked in place");
}

#[test]
fn server_prepared_message_honours_outgoing_fragment_size() {
    let cfg = Config::default().outgoing_fragment_size(Some(100));
    let mut p = Pair::new(&Config::default(), &cfg);
    p.server.send_prepared(&PreparedMessage::new(Message::binary(vec![1u8; 250]))).unwrap();
    p.drive();
    assert_eq!(p.take_events(Side::Client), [Ev::binary(&[1; 250])]);
    assert_eq!(
        p.frames_sent(Side::Server),
        [Frame::binary([1; 100]).fin(false), Frame::cont([1; 100]).fin(false), Frame::cont([1; 50])]
    );
}

// ------------------------------------------------------------------ framing violations

/// Feeds `input` to a fresh connection of `role` and checks it fails with `expect`.
#[track_caller]
fn fails_with(role: Role, config: &Config, input: &[u8], expect: ProtocolError) -> Vec<Ev> {
    let t0 = Instant::now();
    let mut c = new_conn(role, config, t0);
    let evs = recv(&mut c, input, t0);
    assert_failed(&mut c, &evs, &expect, t0);
    evs
}

#[track_caller]
fn fails(role: Role, frames: &[RawFrame], expect: ProtocolError) -> Vec<Ev> {
    fails_with(role, &Config::default(), &wire(role, frames), expect)
}

both_roles!(client_rsv_bits_without_extension, server_rsv_bits_without_extension, |role| {
    for bits in [0b100, 0b010, 0b001, 0b111] {
        fails(role, &[RawFrame::text("x").rsv(bits)], ProtocolError::ReservedBitsSet);
        fails(role, &[RawFrame::ping("x").rsv(bits)], ProtocolError::ReservedBitsSet);
        // A valid message first is still delivered.
        let evs = fails(role, &[RawFrame::text("ok"), RawFrame::cont("x").rsv(bits)], ProtocolError::ReservedBitsSet);
        assert_eq!(evs[0], Ev::text("ok"));
    }
});

both_roles!(client_reserved_opcodes, server_reserved_opcodes, |role| {
    for op in (3..=7).chain(0xB..=0xF) {
        let evs = fails(role, &[RawFrame::new(op, "x")], ProtocolError::UnknownOpcode(op));
        assert_eq!(evs.len(), 1);
        // Detected from the first two header bytes.
        let bytes = RawFrame::new(op, [0u8; 300]).to(role);
        fails_with(role, &Config::default(), &bytes[..2], ProtocolError::UnknownOpcode(op));
    }
});

both_roles!(client_fragmented_control_frame, server_fragmented_control_frame, |role| {
    for f in [RawFrame::ping("a"), RawFrame::pong("a"), RawFrame::close(1000, "")] {
        fails(role, &[f.fin(false)], ProtocolError::FragmentedControlFrame);
    }
});

both_roles!(client_control_payload_126, server_control_payload_126, |role| {
    fails(role, &[RawFrame::ping([1u8; 126])], ProtocolError::ControlFrameTooLong(126));
    fails(role, &[RawFrame::pong([1u8; 126])], ProtocolError::ControlFrameTooLong(126));
    fails(role, &[RawFrame::close(1000, &"r".repeat(124))], ProtocolError::ControlFrameTooLong(126));
    // Detected from the header alone.
    let bytes = RawFrame::ping([1u8; 200]).to(role);
    let header = RawFrame::ping([1u8; 200]).header(role);
    fails_with(role, &Config::default(), &bytes[..header.len()], ProtocolError::ControlFrameTooLong(200));
    // 125 is fine and answered with the same payload.
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    assert_eq!(recv(&mut c, &RawFrame::ping([2u8; 125]).to(role), t0), [Ev::ping(&[2; 125])]);
    assert_frames_sent(&mut c, &[Frame::pong([2u8; 125])], false);
});

#[test]
fn server_rejects_unmasked_frames() {
    for f in [RawFrame::text("x"), RawFrame::binary([]), RawFrame::ping(""), RawFrame::close(1000, "")] {
        fails(Role::Server, &[f.unmasked()], ProtocolError::UnmaskedFrameFromClient);
    }
}

#[test]
fn server_accept_unmasked_frames_allows_them() {
    let cfg = Config::default().accept_unmasked_frames(true);
    let t0 = Instant::now();
    let mut s = new_conn(Role::Server, &cfg, t0);
    let input = wire(
        Role::Server,
        &[
            RawFrame::text("plain").unmasked(),
            RawFrame::text("masked"),
            RawFrame::binary("a").unmasked().fin(false),
            RawFrame::cont("b").masked([9, 9, 9, 9]),
            RawFrame::ping("p").unmasked(),
        ],
    );
    assert_eq!(recv(&mut s, &input, t0), [Ev::text("plain"), Ev::text("masked"), Ev::binary(b"ab"), Ev::ping(b"p")]);
    assert_frames_sent(&mut s, &[Frame::pong("p")], false);
}

#[test]
fn client_rejects_masked_frames() {
    for f in [RawFrame::text("x"), RawFrame::binary([]), RawFrame::ping(""), RawFrame::close(1000, "")] {
        fails(Role::Client, &[f.masked(KEY)], ProtocolError::MaskedFrameFromServer);
    }
    // `accept_unmasked_frames` is a server knob: it does not let a client accept masks.
    let cfg = Config::default().accept_unmasked_frames(true);
    fails_with(
        Role::Client,
        &cfg,
        &RawFrame::text("x").masked(KEY).to(Role::Client),
        ProtocolError::MaskedFrameFromServer,
    );
}

both_roles!(client_length_with_msb_set, server_length_with_msb_set, |role| {
    for len in [1u64 << 63, u64::MAX] {
        let f = RawFrame::binary([]).declared_len(len);
        let header = f.header(role);
        // Failing needs only the 10 length bytes, not the mask.
        fails_with(role, &Config::default(), &header[..10], ProtocolError::LengthMsbSet);
    }
});

both_roles!(client_continuation_without_message, server_continuation_without_message, |role| {
    fails(role, &[RawFrame::cont("x")], ProtocolError::UnexpectedContinuation);
    fails(role, &[RawFrame::cont("x").fin(false)], ProtocolError::UnexpectedContinuation);
    let evs = fails(role, &[RawFrame::text("done"), RawFrame::cont("x")], ProtocolError::UnexpectedContinuation);
    assert_eq!(evs[0], Ev::text("done"));
});

both_roles!(client_new_message_inside_fragmented_one, server_new_message_inside_fragmented_one, |role| {
    for second in [RawFrame::text("b"), RawFrame::binary("b"), RawFrame::text("b").fin(false)] {
        fails(role, &[RawFrame::text("a").fin(false), second.clone()], ProtocolError::ExpectedContinuation);
        fails(
            role,
            &[RawFrame::binary("a").fin(false), RawFrame::cont("a").fin(false), second],
            ProtocolError::ExpectedContinuation,
        );
    }
    // Control frames may interleave.
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    let input = wire(role, &[RawFrame::text("a").fin(false), RawFrame::ping("p"), RawFrame::cont("b")]);
    assert_eq!(recv(&mut c, &input, t0), [Ev::ping(b"p"), Ev::text("ab")]);
});

both_roles!(client_invalid_utf8_text, server_invalid_utf8_text, |role| {
    let bad: [&[u8]; 8] = [
        &[0xff],
        b"abc\xfe",
        &[0xc0, 0xaf],             // overlong
        &[0xe0, 0x80, 0xaf],       // overlong
        &[0xed, 0xa0, 0x80],       // surrogate
        &[0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
        b"a\xe2\x82",              // truncated at the end of the message
        &[0x80],                   // lone continuation byte
    ];
    for b in bad {
        fails(role, &[RawFrame::text_bytes(b)], ProtocolError::InvalidUtf8);
        // Also when the message is fragmented.
        fails(role, &[RawFrame::text("ok").fin(false), RawFrame::cont(b)], ProtocolError::InvalidUtf8);
    }
    // Binary messages are not validated.
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    assert_eq!(recv(&mut c, &RawFrame::binary([0xff, 0xfe]).to(role), t0), [Ev::binary(&[0xff, 0xfe])]);
});

both_roles!(client_invalid_utf8_fails_fast_inside_a_frame, server_invalid_utf8_fails_fast_inside_a_frame, |role| {
    // The first half of a 20-byte frame holds invalid UTF-8; the second half never arrives.
    let payload = b"hello\xffworld, more text";
    let f = RawFrame::text_bytes(payload);
    let bytes = f.to(role);
    let header_len = f.header(role).len();
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    assert!(recv(&mut c, &bytes[..header_len + 5], t0).is_empty(), "valid so far");
    let evs = recv(&mut c, &bytes[header_len + 5..header_len + 6], t0);
    assert_failed(&mut c, &evs, &ProtocolError::InvalidUtf8, t0);
    // A sequence that can still become valid does not fail early.
    let f = RawFrame::text_bytes("ab€cd".as_bytes());
    let bytes = f.to(role);
    let header_len = f.header(role).len();
    let mut c = default_conn(role, t0);
    for i in 0..bytes.len() - 1 {
        assert!(recv(&mut c, &bytes[i..=i], t0).is_empty(), "byte {i}");
        assert_eq!(c.state(), State::Open);
    }
    assert_eq!(recv(&mut c, &bytes[bytes.len() - 1..], t0), [Ev::text("ab€cd")]);
    assert!(header_len > 0);
});

both_roles!(client_invalid_utf8_fails_fast_across_fragments, server_invalid_utf8_fails_fast_across_fragments, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    assert!(recv(&mut c, &RawFrame::text("hello").fin(false).to(role), t0).is_empty());
    // Fragment 2 is invalid: fail now, before fragment 3 arrives.
    let evs = recv(&mut c, &RawFrame::cont([0xc3, 0x28]).fin(false).to(role), t0);
    assert_failed(&mut c, &evs, &ProtocolError::InvalidUtf8, t0);
    // A code point split across fragments is fine.
    let mut c = default_conn(role, t0);
    let input = wire(
        role,
        &[
            RawFrame::text_bytes(b"caf\xc3").fin(false),
            RawFrame::cont(b"\xa9 \xf0\x9d").fin(false),
            RawFrame::cont(b"\x84\x9e"),
        ],
    );
    assert_eq!(recv(&mut c, &input, t0), [Ev::text("café 𝄞")]);
});

both_roles!(client_invalid_utf8_in_close_reason, server_invalid_utf8_in_close_reason, |role| {
    fails(role, &[RawFrame::close_payload([0x03, 0xe8, 0xff])], ProtocolError::InvalidUtf8);
    fails(role, &[RawFrame::close_payload([0x03, 0xe8, b'o', b'k', 0xe2, 0x82])], ProtocolError::InvalidUtf8);
});

both_roles!(client_invalid_close_code_received, server_invalid_close_code_received, |role| {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        fails(role, &[RawFrame::close(code, "")], ProtocolError::InvalidCloseCode(code));
    }
    for code in [1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
        let t0 = Instant::now();
        let mut c = default_conn(role, t0);
        let evs = recv(&mut c, &RawFrame::close(code, "r").to(role), t0);
        let closed = last_closed(&evs);
        assert_eq!((closed.code, closed.initiator, closed.error.clone()), (code, Initiator::Remote, None));
    }
});

both_roles!(client_one_byte_close_payload, server_one_byte_close_payload, |role| {
    fails(role, &[RawFrame::close_payload([0x03])], ProtocolError::ClosePayloadTooShort);
});

both_roles!(
    client_violation_while_closing_sends_no_second_close,
    server_violation_while_closing_sends_no_second_close,
    |role| {
        let t0 = Instant::now();
        let mut c = default_conn(role, t0);
        c.close(Some(cf(1000, "bye")), t0).unwrap();
        assert_frames_sent(&mut c, &[Frame::close(1000, "bye")], false);
        let evs = recv(&mut c, &RawFrame::text("x").rsv(0b100).to(role), t0);
        let closed = last_closed(&evs);
        assert_eq!(closed.error, Some(Error::Protocol(ProtocolError::ReservedBitsSet)));
        assert_eq!(closed.sent, Some(cf(1000, "bye")));
        assert!(closed.close_sent && !closed.close_received && !closed.clean);
        assert_eq!(c.state(), State::Closed);
        assert_frames_sent(&mut c, &[], role == Role::Server);
    }
);

both_roles!(client_skip_utf8_validation, server_skip_utf8_validation, |role| {
    let cfg = Config::default().skip_utf8_validation(true);
    let t0 = Instant::now();
    let mut c = new_conn(role, &cfg, t0);
    let input = wire(
        role,
        &[
            RawFrame::text_bytes([0xff, 0xfe]),
            RawFrame::text_bytes(b"a\xc3").fin(false),
            RawFrame::cont([0x28]),
            RawFrame::text_bytes(b"trunc\xe2"),
        ],
    );
    assert_eq!(
        recv(&mut c, &input, t0),
        [Ev::Text(vec![0xff, 0xfe]), Ev::Text(b"a\xc3\x28".to_vec()), Ev::Text(b"trunc\xe2".to_vec())]
    );
    // A close reason is not validated either.
    let evs = recv(&mut c, &RawFrame::close_payload([0x03, 0xe8, 0xff]).to(role), t0);
    let closed = last_closed(&evs);
    assert_eq!((closed.code, closed.initiator, closed.error.clone()), (1000, Initiator::Remote, None));
    assert_eq!(c.state(), State::Closed);
});

#[test]
fn receive_slot_api_is_equivalent_to_receive() {
    let t0 = Instant::now();
    let mut c: Connection = default_conn(Role::Server, t0);
    let bytes = wire(Role::Server, &[RawFrame::text("slot"), RawFrame::binary([1, 2, 3])]);
    let slot = c.recv_slot(3);
    slot[..3].copy_from_slice(&bytes[..3]);
    c.commit_received(3);
    assert!(poll_events(&mut c, t0).is_empty());
    // An abandoned slot is dropped by the next call.
    let _ = c.recv_slot(100);
    let slot = c.recv_slot(bytes.len());
    assert!(slot.len() >= bytes.len() - 3);
    slot[..bytes.len() - 3].copy_from_slice(&bytes[3..]);
    c.commit_received(bytes.len() - 3);
    assert_eq!(poll_events(&mut c, t0), [Ev::text("slot"), Ev::binary(&[1, 2, 3])]);
    assert_eq!(c.bytes_received(), bytes.len() as u64);
}
