//! Limits, each at, below and above: message and frame sizes (checked from the header before
//! any payload is buffered), fragment counts, input backpressure (`wants_read`), output
//! backpressure (`is_write_ready`), control payloads and close reasons.

use std::time::Instant;

use ws_proto::{Bytes, CloseFrame, Config, Connection, MessageKind, ProtocolError, Role, SendError, State};

use super::pair::*;

fn header_only(role: Role, f: &RawFrame) -> Vec<u8> {
    f.header(role)
}

#[track_caller]
fn accepts(role: Role, cfg: &Config, frames: &[RawFrame], expected: &[Ev]) {
    let t0 = Instant::now();
    let mut c = new_conn(role, cfg, t0);
    assert_eq!(recv(&mut c, &wire(role, frames), t0), expected);
    assert_eq!(c.state(), State::Open);
}

/// Feeds `prefix` frames whole and then only the header of `last`: the failure must come from
/// the header alone.
#[track_caller]
fn fails_at_header(role: Role, cfg: &Config, prefix: &[RawFrame], last: &RawFrame, expect: ProtocolError) {
    let t0 = Instant::now();
    let mut c = new_conn(role, cfg, t0);
    let mut evs = recv(&mut c, &wire(role, prefix), t0);
    assert!(evs.iter().all(|e| !matches!(e, Ev::Closed(_))));
    evs.extend(recv(&mut c, &header_only(role, last), t0));
    assert_failed(&mut c, &evs, &expect, t0);
}

both_roles!(client_max_message_size_single_frame, server_max_message_size_single_frame, |role| {
    let mut cfg = Config::default().max_message_size(Some(10));
    accepts(role, &cfg, &[RawFrame::binary([1u8; 9])], &[Ev::binary(&[1; 9])]);
    accepts(role, &cfg, &[RawFrame::binary([1u8; 10])], &[Ev::binary(&[1; 10])]);
    accepts(role, &cfg, &[RawFrame::text(&"x".repeat(10))], &[Ev::text(&"x".repeat(10))]);
    fails_at_header(role, &cfg, &[], &RawFrame::binary([1u8; 11]), ProtocolError::MessageTooLarge { max: 10 });
    fails_at_header(role, &cfg, &[], &RawFrame::text(&"x".repeat(11)), ProtocolError::MessageTooLarge { max: 10 });
    // A huge declared length is refused before anything is buffered.
    let huge = RawFrame::binary([]).declared_len(1 << 40);
    fails_at_header(role, &cfg, &[], &huge, ProtocolError::MessageTooLarge { max: 10 });
    // Same in fragment mode.
    cfg = cfg.deliver_fragments(true);
    fails_at_header(role, &cfg, &[], &RawFrame::binary([1u8; 11]), ProtocolError::MessageTooLarge { max: 10 });
});

both_roles!(client_max_message_size_across_fragments, server_max_message_size_across_fragments, |role| {
    let cfg = Config::default().max_message_size(Some(10));
    let first = RawFrame::binary([1u8; 5]).fin(false);
    accepts(role, &cfg, &[first.clone(), RawFrame::cont([2u8; 4])], &[Ev::binary(&[1, 1, 1, 1, 1, 2, 2, 2, 2])]);
    accepts(role, &cfg, &[first.clone(), RawFrame::cont([2u8; 5])], &[Ev::binary(&[1, 1, 1, 1, 1, 2, 2, 2, 2, 2])]);
    fails_at_header(
        role,
        &cfg,
        std::slice::from_ref(&first),
        &RawFrame::cont([2u8; 6]),
        ProtocolError::MessageTooLarge { max: 10 },
    );
    // The budget is per message.
    accepts(
        role,
        &cfg,
        &[first.clone(), RawFrame::cont([2u8; 5]), RawFrame::binary([3u8; 10])],
        &[Ev::binary(&[1, 1, 1, 1, 1, 2, 2, 2, 2, 2]), Ev::binary(&[3; 10])],
    );
    // Control frames do not count.
    accepts(
        role,
        &cfg,
        &[first, RawFrame::ping([0u8; 100]), RawFrame::cont([2u8; 5])],
        &[Ev::ping(&[0; 100]), Ev::binary(&[1, 1, 1, 1, 1, 2, 2, 2, 2, 2])],
    );
    // Unlimited.
    let cfg = Config::default().max_message_size(None);
    accepts(role, &cfg, &[RawFrame::binary(vec![4u8; 200_000])], &[Ev::binary(&vec![4u8; 200_000])]);
});

both_roles!(client_max_frame_size, server_max_frame_size, |role| {
    let cfg = Config::default().max_frame_size(Some(10));
    accepts(role, &cfg, &[RawFrame::binary([1u8; 9])], &[Ev::binary(&[1; 9])]);
    accepts(role, &cfg, &[RawFrame::binary([1u8; 10])], &[Ev::binary(&[1; 10])]);
    fails_at_header(role, &cfg, &[], &RawFrame::binary([1u8; 11]), ProtocolError::FrameTooLarge { len: 11, max: 10 });
    assert_eq!(ProtocolError::FrameTooLarge { len: 11, max: 10 }.close_code().as_u16(), 1009);
    // A message may be larger than a frame.
    accepts(
        role,
        &cfg,
        &[RawFrame::binary([1u8; 10]).fin(false), RawFrame::cont([2u8; 10])],
        &[Ev::Binary([[1u8; 10], [2u8; 10]].concat())],
    );
    let first = RawFrame::text("0123456789").fin(false);
    fails_at_header(
        role,
        &cfg,
        &[first],
        &RawFrame::cont("0123456789a"),
        ProtocolError::FrameTooLarge { len: 11, max: 10 },
    );
});

both_roles!(client_max_fragments, server_max_fragments, |role| {
    let mut cfg = Config::default().max_fragments(Some(3));
    let empty_start = RawFrame::text("").fin(false);
    let empty_cont = RawFrame::cont("").fin(false);
    // Below and at the limit, empty fragments included.
    accepts(role, &cfg, &[empty_start.clone(), RawFrame::cont("ab")], &[Ev::text("ab")]);
    accepts(role, &cfg, &[empty_start.clone(), empty_cont.clone(), RawFrame::cont("abc")], &[Ev::text("abc")]);
    accepts(role, &cfg, &[RawFrame::text("one")], &[Ev::text("one")]);
    // Above: the fourth header fails, with 1008.
    let prefix = [empty_start.clone(), empty_cont.clone(), empty_cont.clone()];
    fails_at_header(role, &cfg, &prefix, &RawFrame::cont("x"), ProtocolError::TooManyFragments { max: 3 });
    assert_eq!(ProtocolError::TooManyFragments { max: 3 }.close_code().as_u16(), 1008);
    // Control frames do not count; the count restarts with each message.
    accepts(
        role,
        &cfg,
        &[
            empty_start.clone(),
            RawFrame::ping(""),
            empty_cont.clone(),
            RawFrame::pong(""),
            RawFrame::cont("a"),
            RawFrame::binary("b").fin(false),
            RawFrame::cont("c").fin(false),
            RawFrame::cont("d"),
        ],
        &[Ev::ping(b""), Ev::pong(b""), Ev::text("a"), Ev::binary(b"bcd")],
    );
    // Fragment mode counts the same way.
    cfg = cfg.deliver_fragments(true);
    fails_at_header(role, &cfg, &prefix, &RawFrame::cont("x"), ProtocolError::TooManyFragments { max: 3 });
});

/// Binary frames of exactly 8 bytes on the wire to `role`.
fn eight_byte_frame(role: Role) -> Vec<u8> {
    let payload = if role == Role::Server { 2 } else { 6 };
    let bytes = RawFrame::binary(vec![0xAB; payload]).to(role);
    assert_eq!(bytes.len(), 8);
    bytes
}

both_roles!(client_max_buffered_input_and_wants_read, server_max_buffered_input_and_wants_read, |role| {
    let cfg = Config::default().max_buffered_input(64);
    let t0 = Instant::now();
    let mut c = new_conn(role, &cfg, t0);
    let frame = eight_byte_frame(role);
    assert!(c.wants_read());
    for _ in 0..7 {
        c.receive(&frame);
    }
    c.receive(&frame[..7]);
    assert!(c.wants_read(), "63 bytes buffered: below the cap");
    c.receive(&frame[7..]);
    assert!(!c.wants_read(), "64 bytes buffered: at the cap");
    assert!(c.poll_event(t0).is_some());
    assert!(c.wants_read(), "poll_event consumed a frame");
    assert_eq!(poll_events(&mut c, t0).len(), 7);
    assert!(c.wants_read());
    // The cap is raised to fit the frame being read.
    let big = RawFrame::binary(vec![5u8; 1000]);
    let bytes = big.to(role);
    let header_len = big.header(role).len();
    c.receive(&bytes[..header_len + 100]);
    assert!(!c.wants_read(), "over the cap before the header is parsed");
    assert!(poll_events(&mut c, t0).is_empty());
    assert!(c.wants_read(), "the frame being read needs 1000 bytes");
    c.receive(&bytes[header_len + 100..bytes.len() - 1]);
    assert!(c.wants_read(), "999 of 1000 bytes");
    assert!(poll_events(&mut c, t0).is_empty());
    c.receive(&bytes[bytes.len() - 1..]);
    assert!(!c.wants_read(), "the whole frame is buffered");
    assert_eq!(poll_events(&mut c, t0), [Ev::binary(&[5; 1000])]);
    assert!(c.wants_read());
    // No more reads after EOF or termination.
    c.receive_eof();
    assert!(!c.wants_read());
    let mut c = new_conn(role, &cfg, t0);
    c.terminate();
    assert!(!c.wants_read());
});

both_roles!(client_fragment_mode_input_stays_bounded, server_fragment_mode_input_stays_bounded, |role| {
    let cfg = Config::default().max_buffered_input(64).deliver_fragments(true);
    let t0 = Instant::now();
    let mut c = new_conn(role, &cfg, t0);
    let big = RawFrame::binary(vec![5u8; 1000]);
    let bytes = big.to(role);
    let header_len = big.header(role).len();
    c.receive(&bytes[..header_len]);
    assert!(poll_events(&mut c, t0).is_empty());
    c.receive(&bytes[header_len..header_len + 64]);
    assert!(!c.wants_read(), "fragment mode does not raise the cap");
    let mut got = Vec::new();
    let mut pos = header_len + 64;
    loop {
        for e in poll_events(&mut c, t0) {
            match e {
                Ev::Fragment { data, .. } => got.extend(data),
                other => panic!("{other:?}"),
            }
        }
        assert!(c.wants_read());
        if pos == bytes.len() {
            break;
        }
        let n = (bytes.len() - pos).min(64);
        c.receive(&bytes[pos..pos + n]);
        pos += n;
    }
    assert_eq!(got, vec![5u8; 1000]);
});

both_roles!(client_pair_reads_obey_wants_read, server_pair_reads_obey_wants_read, |role| {
    // A tight input cap over a pair never stalls and delivers everything.
    let receiver = Side::of(role);
    let cfg = Config::default().max_buffered_input(16);
    let (ccfg, scfg) = if role == Role::Client { (cfg, Config::default()) } else { (Config::default(), cfg) };
    let mut p = Pair::new(&ccfg, &scfg).chunked(10);
    for i in 0..50u8 {
        p.conn(receiver.other()).send_binary(vec![i; usize::from(i) * 7]).unwrap();
    }
    p.drive();
    let expected: Vec<Ev> = (0..50u8).map(|i| Ev::binary(&vec![i; usize::from(i) * 7])).collect();
    assert_eq!(p.take_events(receiver), expected);
});

both_roles!(client_write_high_water, server_write_high_water, |role| {
    let cfg = Config::default().write_high_water(100);
    let t0 = Instant::now();
    let header = if role == Role::Client { 6 } else { 2 };
    let ready_after = |payload: usize| -> (usize, bool) {
        let mut c = new_conn(role, &cfg, t0);
        assert!(c.is_write_ready());
        c.send_binary(vec![0u8; payload]).unwrap();
        (c.buffered_amount(), c.is_write_ready())
    };
    assert_eq!(ready_after(99 - header), (99, true), "below");
    assert_eq!(ready_after(100 - header), (100, false), "at");
    assert_eq!(ready_after(101 - header), (101, false), "above");
    // Draining brings it back; control frames count too.
    let mut c: Connection = new_conn(role, &cfg, t0);
    c.send_binary(vec![0u8; 300]).unwrap();
    c.send_ping("abc").unwrap();
    let total = 300 + if role == Role::Client { 8 } else { 4 } + 3 + header;
    assert_eq!(c.buffered_amount(), total);
    assert!(!c.is_write_ready());
    assert!(c.wants_write());
    let mut written = 0;
    while let Some(ws_proto::Transmit::Data(mut buf)) = c.poll_transmit() {
        use ws_proto::Buf;
        let n = buf.chunk().len().min(50);
        buf.advance(n);
        written += n;
        assert_eq!(c.buffered_amount(), total - written);
        assert_eq!(c.is_write_ready(), total - written < 100);
    }
    assert_eq!(written, total);
    assert!(c.is_write_ready());
    assert!(!c.wants_write());
    assert_eq!(c.buffered_amount(), 0);
});

both_roles!(client_control_payload_limit_on_send, server_control_payload_limit_on_send, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    c.send_ping([1u8; 125]).unwrap();
    c.send_pong([2u8; 125]).unwrap();
    assert_frames_sent(&mut c, &[Frame::ping([1u8; 125]), Frame::pong([2u8; 125])], false);
    assert_eq!(c.send_ping([1u8; 126]), Err(SendError::ControlPayloadTooLong(126)));
    assert_eq!(c.send_pong([2u8; 126]), Err(SendError::ControlPayloadTooLong(126)));
    assert_eq!(c.send_ping(vec![0u8; 100_000]), Err(SendError::ControlPayloadTooLong(100_000)));
    assert_eq!(c.buffered_amount(), 0, "nothing queued on error");
    assert_eq!(c.state(), State::Open);
});

both_roles!(client_close_reason_limit, server_close_reason_limit, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    let r124 = "r".repeat(124);
    assert_eq!(c.close(Some(CloseFrame::new(1000u16, r124.as_str())), t0), Err(SendError::CloseReasonTooLong(124)));
    assert_eq!(c.buffered_amount(), 0);
    let r123 = "r".repeat(123);
    c.close(Some(CloseFrame::new(1000u16, r123.as_str())), t0).unwrap();
    assert_frames_sent(&mut c, &[Frame::close(1000, &r123)], false);
    // 122 is fine too, and a received 123-byte reason is accepted.
    let mut c = default_conn(role, t0);
    c.close(Some(CloseFrame::new(1000u16, "r".repeat(122))), t0).unwrap();
    let mut c = default_conn(role, t0);
    let evs = recv(&mut c, &RawFrame::close(1000, &r123).to(role), t0);
    assert_eq!(last_closed(&evs).reason, r123);
    assert_frames_sent(&mut c, &[Frame::close(1000, &r123)], role == Role::Server);
});

both_roles!(
    client_send_frame_part_is_not_limited_by_receive_limits,
    server_send_frame_part_is_not_limited_by_receive_limits,
    |role| {
        // Receive limits apply to the peer's input only.
        let cfg = Config::default().max_message_size(Some(4)).max_frame_size(Some(4)).max_fragments(Some(1));
        let t0 = Instant::now();
        let mut c = new_conn(role, &cfg, t0);
        c.send_frame_part(MessageKind::Binary, Bytes::from_static(b"12345"), false).unwrap();
        c.send_frame_part(MessageKind::Binary, Bytes::from_static(b"678"), true).unwrap();
        c.send_text("longer than four").unwrap();
        assert_eq!(sent(&mut c).frames.len(), 3);
    }
);

both_roles!(client_length_of_2_pow_53_fails_without_limits, server_length_of_2_pow_53_fails_without_limits, |role| {
    // Node `ws` refuses 64-bit lengths a JavaScript number cannot count exactly: 1009 from
    // the header, even with no size limit at all, in either receive mode.
    for fragments in [false, true] {
        let cfg = Config::default().max_message_size(None).max_frame_size(None).deliver_fragments(fragments);
        for len in [1u64 << 53, (1 << 53) + 1, u64::MAX >> 1] {
            let max = ((1u64 << 53) - 1) as usize;
            let frame = RawFrame::binary([]).declared_len(len);
            fails_at_header(role, &cfg, &[], &frame, ProtocolError::FrameTooLarge { len, max });
        }
        // 2^53 - 1 passes the header check: the connection waits for the payload.
        let t0 = Instant::now();
        let mut c = new_conn(role, &cfg, t0);
        let frame = RawFrame::binary([]).declared_len((1 << 53) - 1);
        assert!(recv(&mut c, &header_only(role, &frame), t0).is_empty());
        assert_eq!(c.state(), State::Open);
    }
});
