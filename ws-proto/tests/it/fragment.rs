//! Fragmentation: streaming sends with `send_frame_part`, automatic fragmentation with
//! `outgoing_fragment_size`, and fragment delivery mode (`deliver_fragments`).

use std::time::Instant;

use ws_proto::{Bytes, Config, Message, MessageKind, PreparedMessage, ProtocolError, Role, SendError, State};

use super::pair::*;

// ------------------------------------------------------------------ sending

both_roles!(client_send_frame_part_with_interleaved_ping, server_send_frame_part_with_interleaved_ping, |role| {
    let sender = Side::of(role);
    let receiver = sender.other();
    for chunk in [usize::MAX, 1] {
        let mut p = Pair::default().chunked(chunk);
        p.conn(sender).send_frame_part(MessageKind::Text, Bytes::from_static(b"Hel"), false).unwrap();
        p.drive();
        assert!(p.events(receiver).is_empty(), "no event before the message is complete");
        p.conn(sender).send_ping("p").unwrap();
        p.drive();
        assert_eq!(p.take_events(receiver), [Ev::ping(b"p")]);
        assert_eq!(p.take_events(sender), [Ev::pong(b"p")], "the pong comes back mid-message");
        // The kind of a continuation part is ignored.
        p.conn(sender).send_frame_part(MessageKind::Binary, Bytes::from_static(b"lo "), false).unwrap();
        p.conn(sender).send_frame_part(MessageKind::Text, Bytes::new(), false).unwrap();
        p.conn(sender).send_frame_part(MessageKind::Text, Bytes::from("wörld".as_bytes()), true).unwrap();
        p.drive();
        assert_eq!(p.take_events(receiver), [Ev::text("Hello wörld")]);
        assert_eq!(
            p.frames_sent(sender),
            [
                Frame::text("Hel").fin(false),
                Frame::ping("p"),
                Frame::cont("lo ").fin(false),
                Frame::cont("").fin(false),
                Frame::cont("wörld"),
            ]
        );
        assert_eq!(p.frames_sent(receiver), [Frame::pong("p")]);
        // A binary message streamed, then a whole message.
        p.conn(sender).send_frame_part(MessageKind::Binary, Bytes::from(vec![1u8; 300]), false).unwrap();
        p.conn(sender).send_frame_part(MessageKind::Binary, Bytes::from(vec![2u8; 300]), true).unwrap();
        p.conn(sender).send_text("after").unwrap();
        p.drive();
        let mut joined = vec![1u8; 300];
        joined.extend([2u8; 300]);
        assert_eq!(p.take_events(receiver), [Ev::Binary(joined), Ev::text("after")]);
    }
});

both_roles!(
    client_frame_part_in_progress_blocks_whole_messages,
    server_frame_part_in_progress_blocks_whole_messages,
    |role| {
        let t0 = Instant::now();
        let mut c = default_conn(role, t0);
        c.send_frame_part(MessageKind::Binary, Bytes::from_static(b"a"), false).unwrap();
        assert_eq!(c.send_text("x"), Err(SendError::MessageInProgress));
        assert_eq!(c.send_binary(vec![1]), Err(SendError::MessageInProgress));
        let prepared = PreparedMessage::new(Message::text("p"));
        assert_eq!(c.send_prepared(&prepared), Err(SendError::MessageInProgress));
        // Control frames are fine in the middle of a message.
        c.send_ping("").unwrap();
        c.send_pong("").unwrap();
        c.send_frame_part(MessageKind::Binary, Bytes::from_static(b"b"), true).unwrap();
        c.send_text("x").unwrap();
        c.send_prepared(&prepared).unwrap();
        let s = sent(&mut c);
        let data: Vec<&Frame> = s.frames.iter().filter(|f| f.opcode < 8).collect();
        assert_eq!(data, [&Frame::binary("a").fin(false), &Frame::cont("b"), &Frame::text("x"), &Frame::text("p")]);
    }
);

both_roles!(client_outgoing_fragment_size_splits_messages, server_outgoing_fragment_size_splits_messages, |role| {
    let sender = Side::of(role);
    let cfg = Config::default().outgoing_fragment_size(Some(4));
    let (ccfg, scfg) = if role == Role::Client { (cfg, Config::default()) } else { (Config::default(), cfg) };
    let mut p = Pair::new(&ccfg, &scfg);
    p.conn(sender).send_text("hello world").unwrap();
    p.conn(sender).send_binary(vec![1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    p.conn(sender).send_text("abcd").unwrap();
    p.conn(sender).send_text("").unwrap();
    // Splitting inside a code point is fine on the wire: the receiver validates incrementally.
    p.conn(sender).send_text("é€𝄞").unwrap();
    p.conn(sender).send_binary(vec![9u8; 1000]).unwrap();
    p.drive();
    assert_eq!(
        p.take_events(sender.other()),
        [
            Ev::text("hello world"),
            Ev::binary(&[1, 2, 3, 4, 5, 6, 7, 8]),
            Ev::text("abcd"),
            Ev::text(""),
            Ev::text("é€𝄞"),
            Ev::binary(&[9; 1000]),
        ]
    );
    let frames = p.frames_sent(sender);
    assert_eq!(
        frames[..10],
        [
            Frame::text("hell").fin(false),
            Frame::cont("o wo").fin(false),
            Frame::cont("rld"),
            Frame::binary([1, 2, 3, 4]).fin(false),
            Frame::cont([5, 6, 7, 8]),
            Frame::text("abcd"),
            Frame::text(""),
            Frame::new(1, &"é€𝄞".as_bytes()[..4]).fin(false),
            Frame::cont(&"é€𝄞".as_bytes()[4..8]).fin(false),
            Frame::cont(&"é€𝄞".as_bytes()[8..]),
        ]
    );
    assert_eq!(frames.len(), 10 + 250);
    assert!(frames[10..].iter().all(|f| f.payload == [9; 4]));
    assert!(frames[10..259].iter().all(|f| !f.fin) && frames[259].fin);
    // A ping queued behind a long auto-fragmented message overtakes it at a frame boundary.
    p.conn(sender).send_binary(vec![7u8; 40]).unwrap();
    p.conn(sender).send_ping("x").unwrap();
    p.drive();
    let frames = p.frames_sent(sender);
    assert_eq!(frames[260], Frame::ping("x"));
});

// ------------------------------------------------------------------ fragment delivery mode

fn fragment_config() -> Config {
    Config::default().deliver_fragments(true)
}

/// Concatenates fragment data, checking that only the last piece has `fin` and every piece
/// has `kind`.
#[track_caller]
fn joined(evs: &[Ev], kind: MessageKind) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in evs.iter().enumerate() {
        match e {
            Ev::Fragment { kind: k, data, fin } => {
                assert_eq!(*k, kind);
                assert_eq!(*fin, i == evs.len() - 1, "fin only on the last piece: {evs:?}");
                out.extend_from_slice(data);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

both_roles!(
    client_fragment_mode_one_piece_per_frame_however_bytes_arrive,
    server_fragment_mode_one_piece_per_frame_however_bytes_arrive,
    |role| {
        // Node `binaryType = 'fragments'`: the message's frames, one buffer each.
        let t0 = Instant::now();
        let mut c = new_conn(role, &fragment_config(), t0);
        let f = RawFrame::text("hello");
        let bytes = f.to(role);
        let mut evs = Vec::new();
        for (i, b) in bytes.iter().enumerate() {
            let got = recv(&mut c, &[*b], t0);
            if i + 1 < bytes.len() {
                assert!(got.is_empty(), "no piece before the frame is complete: {got:?}");
            }
            evs.extend(got);
        }
        assert_eq!(evs, [Ev::frag(MessageKind::Text, b"hello", true)]);
        // A message of three frames, fed a byte at a time: three pieces.
        let input =
            wire(role, &[RawFrame::binary("one").fin(false), RawFrame::cont("two!").fin(false), RawFrame::cont("3")]);
        let mut evs = Vec::new();
        for b in &input {
            evs.extend(recv(&mut c, &[*b], t0));
        }
        assert_eq!(
            evs,
            [
                Ev::frag(MessageKind::Binary, b"one", false),
                Ev::frag(MessageKind::Binary, b"two!", false),
                Ev::frag(MessageKind::Binary, b"3", true),
            ]
        );
        // In uneven chunks: still one piece per frame.
        for chunk in [2, 3, 7] {
            let mut evs = Vec::new();
            for part in input.chunks(chunk) {
                evs.extend(recv(&mut c, part, t0));
            }
            assert_eq!(evs.len(), 3, "chunks of {chunk}: {evs:?}");
            assert_eq!(joined(&evs, MessageKind::Binary), b"onetwo!3");
        }
        // A frame fed whole is one piece.
        let evs = recv(&mut c, &RawFrame::binary([1, 2, 3]).to(role), t0);
        assert_eq!(evs, [Ev::frag(MessageKind::Binary, &[1, 2, 3], true)]);
    }
);

both_roles!(
    client_fragment_mode_fin_on_last_piece_of_last_frame,
    server_fragment_mode_fin_on_last_piece_of_last_frame,
    |role| {
        let t0 = Instant::now();
        let mut c = new_conn(role, &fragment_config(), t0);
        let input =
            wire(role, &[RawFrame::text("ab").fin(false), RawFrame::cont("cd").fin(false), RawFrame::cont("ef")]);
        let evs = recv(&mut c, &input, t0);
        assert_eq!(
            evs,
            [
                Ev::frag(MessageKind::Text, b"ab", false),
                Ev::frag(MessageKind::Text, b"cd", false),
                Ev::frag(MessageKind::Text, b"ef", true),
            ]
        );
        // Empty fragments: an empty final frame still delivers the `fin`.
        let input = wire(role, &[RawFrame::binary("").fin(false), RawFrame::cont("").fin(false), RawFrame::cont("")]);
        let evs = recv(&mut c, &input, t0);
        assert_eq!(evs.last(), Some(&Ev::frag(MessageKind::Binary, b"", true)));
        assert_eq!(joined(&evs, MessageKind::Binary), b"");
        let input = wire(role, &[RawFrame::binary("x").fin(false), RawFrame::cont("")]);
        assert_eq!(joined(&recv(&mut c, &input, t0), MessageKind::Binary), b"x");
        let evs = recv(&mut c, &RawFrame::text("").to(role), t0);
        assert_eq!(evs, [Ev::frag(MessageKind::Text, b"", true)]);
    }
);

both_roles!(
    client_fragment_mode_text_split_inside_code_point,
    server_fragment_mode_text_split_inside_code_point,
    |role| {
        let t0 = Instant::now();
        let mut c = new_conn(role, &fragment_config(), t0);
        let text = "é€𝄞 ok";
        let f = RawFrame::text(text);
        let mut evs = Vec::new();
        for b in f.to(role) {
            evs.extend(recv(&mut c, &[b], t0));
            assert_eq!(c.state(), State::Open);
        }
        assert_eq!(evs, [Ev::frag(MessageKind::Text, text.as_bytes(), true)]);
        // Split across frames: each frame is a piece, the character whole only in the message.
        let input = wire(role, &[RawFrame::text_bytes(b"\xe2\x82").fin(false), RawFrame::cont(b"\xac")]);
        let evs = recv(&mut c, &input, t0);
        assert_eq!(evs, [Ev::frag(MessageKind::Text, b"\xe2\x82", false), Ev::frag(MessageKind::Text, b"\xac", true)]);
        assert_eq!(joined(&evs, MessageKind::Text), "€".as_bytes());
    }
);

both_roles!(client_fragment_mode_invalid_utf8_fails_fast, server_fragment_mode_invalid_utf8_fails_fast, |role| {
    let t0 = Instant::now();
    let f = RawFrame::text_bytes(b"ab\xffcdefgh");
    let bytes = f.to(role);
    let header_len = f.header(role).len();
    let mut c = new_conn(role, &fragment_config(), t0);
    // Validated as it arrives: the frame fails at its bad byte, before it is complete.
    assert_eq!(recv(&mut c, &bytes[..header_len + 2], t0), []);
    let evs = recv(&mut c, &bytes[header_len + 2..header_len + 3], t0);
    assert_failed(&mut c, &evs, &ProtocolError::InvalidUtf8, t0);
    // Invalid bytes arriving with valid ones: nothing of the chunk is delivered.
    let mut c = new_conn(role, &fragment_config(), t0);
    let evs = recv(&mut c, &bytes[..header_len + 4], t0);
    assert_failed(&mut c, &evs, &ProtocolError::InvalidUtf8, t0);
    // An incomplete sequence at the end of the message.
    let mut c = new_conn(role, &fragment_config(), t0);
    let input = wire(role, &[RawFrame::text("ok").fin(false), RawFrame::cont(b"\xe2\x82")]);
    let evs = recv(&mut c, &input, t0);
    assert_eq!(evs[0], Ev::frag(MessageKind::Text, b"ok", false));
    assert_failed(&mut c, &evs, &ProtocolError::InvalidUtf8, t0);
});

both_roles!(client_fragment_mode_control_frames_interleave, server_fragment_mode_control_frames_interleave, |role| {
    let t0 = Instant::now();
    let mut c = new_conn(role, &fragment_config(), t0);
    let input = wire(
        role,
        &[
            RawFrame::binary("ab").fin(false),
            RawFrame::ping("1"),
            RawFrame::cont("cd").fin(false),
            RawFrame::pong("2"),
            RawFrame::cont("ef"),
        ],
    );
    assert_eq!(
        recv(&mut c, &input, t0),
        [
            Ev::frag(MessageKind::Binary, b"ab", false),
            Ev::ping(b"1"),
            Ev::frag(MessageKind::Binary, b"cd", false),
            Ev::pong(b"2"),
            Ev::frag(MessageKind::Binary, b"ef", true),
        ]
    );
    assert_frames_sent(&mut c, &[Frame::pong("1")], false);
    // A close in the middle of a message ends it.
    let input = wire(role, &[RawFrame::text("par").fin(false), RawFrame::close(1001, "")]);
    let evs = recv(&mut c, &input, t0);
    assert_eq!(evs[0], Ev::frag(MessageKind::Text, b"par", false));
    assert_eq!(last_closed(&evs).code, 1001);
});

both_roles!(client_fragment_mode_over_a_pair, server_fragment_mode_over_a_pair, |role| {
    // The sender auto-fragments into 100-byte frames; reads are 5 bytes at a time; the
    // receiver gets one piece per frame.
    let receiver = Side::of(role);
    let send_cfg = Config::default().outgoing_fragment_size(Some(100));
    let (ccfg, scfg) = if role == Role::Client { (fragment_config(), send_cfg) } else { (send_cfg, fragment_config()) };
    let mut p = Pair::new(&ccfg, &scfg).chunked(5);
    let text: String = (0..300).map(|i| char::from_u32(0x3b1 + i % 20).unwrap_or('x')).collect();
    p.conn(receiver.other()).send_text(text.clone()).unwrap();
    p.drive();
    let evs = p.take_events(receiver);
    assert_eq!(evs.len(), text.len().div_ceil(100), "{evs:?}");
    for e in &evs[..evs.len() - 1] {
        assert!(matches!(e, Ev::Fragment { data, .. } if data.len() == 100), "{e:?}");
    }
    assert_eq!(joined(&evs, MessageKind::Text), text.as_bytes());
});
