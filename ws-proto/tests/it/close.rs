//! The close lifecycle (DESIGN §3.5): initiated by either side or both, echo, TCP shutdown
//! order, `Event::Closed` exactly once, send errors, close timers, EOF, `fail` and `terminate`.

use std::time::{Duration, Instant};

use ws_proto::{
    Bytes, CloseCode, Config, Connection, Error, Initiator, Message, MessageKind, PreparedMessage, ProtocolError, Role,
    SendError, State, TimeoutKind,
};

use super::pair::*;

/// Checks the end of a close handshake in a pair: both ends closed and dropped, the server
/// half-closed once and the client never, each side sent exactly one close frame.
#[track_caller]
fn assert_closed_cleanly(p: &Pair, client_frame: Frame, server_frame: Frame) {
    assert_eq!(p.frames_sent(Side::Client), [client_frame]);
    assert_eq!(p.frames_sent(Side::Server), [server_frame]);
    assert_eq!(p.shutdowns(Side::Server), 1, "the server closes TCP first");
    assert_eq!(p.shutdowns(Side::Client), 0, "the client waits for the server's TCP close");
    for side in SIDES {
        assert!(p.dropped(side), "{side:?} not terminated");
        assert_eq!(p.conn_ref(side).state(), State::Closed);
        assert!(!p.conn_ref(side).wants_read());
    }
}

fn initiate_close(initiator: Side) {
    for chunk in [usize::MAX, 3, 1] {
        let mut p = Pair::default().chunked(chunk);
        let now = p.now;
        p.conn(initiator).close(Some(cf(1000, "bye")), now).unwrap();
        assert_eq!(p.conn(initiator).state(), State::Closing);
        p.drive();
        let f = cf(1000, "bye");
        assert_eq!(
            p.take_events(initiator),
            [Ev::Closed(Closed::clean(Initiator::Local, Some(f.clone()), Some(f.clone())))]
        );
        assert_eq!(
            p.take_events(initiator.other()),
            [Ev::Closed(Closed::clean(Initiator::Remote, Some(f.clone()), Some(f)))]
        );
        assert_closed_cleanly(&p, Frame::close(1000, "bye"), Frame::close(1000, "bye"));
        assert_eq!(p.elapsed(), Duration::ZERO, "no timer was needed");
    }
}

#[test]
fn client_initiated_close() {
    initiate_close(Side::Client);
}

#[test]
fn server_initiated_close() {
    initiate_close(Side::Server);
}

#[test]
fn simultaneous_close() {
    let mut p = Pair::default();
    let now = p.now;
    p.client.close(Some(cf(1000, "c")), now).unwrap();
    p.server.close(Some(cf(1001, "s")), now).unwrap();
    p.drive();
    let (c, s) = (cf(1000, "c"), cf(1001, "s"));
    assert_eq!(
        p.take_events(Side::Client),
        [Ev::Closed(Closed::clean(Initiator::Local, Some(c.clone()), Some(s.clone())))]
    );
    assert_eq!(p.take_events(Side::Server), [Ev::Closed(Closed::clean(Initiator::Local, Some(s), Some(c)))]);
    assert_closed_cleanly(&p, Frame::close(1000, "c"), Frame::close(1001, "s"));
}

both_roles!(client_close_without_code, server_close_without_code, |role| {
    let initiator = Side::of(role);
    let mut p = Pair::default();
    let now = p.now;
    p.conn(initiator).close(None, now).unwrap();
    p.drive();
    let local = Closed::clean(Initiator::Local, None, None);
    assert_eq!(local.code, 1005);
    assert_eq!(p.take_events(initiator), [Ev::Closed(local)]);
    assert_eq!(p.take_events(initiator.other()), [Ev::Closed(Closed::clean(Initiator::Remote, None, None))]);
    assert_closed_cleanly(&p, Frame::close_empty(), Frame::close_empty());
});

both_roles!(client_echoes_peer_close_code_and_reason, server_echoes_peer_close_code_and_reason, |role| {
    for (code, reason) in [(1000, ""), (1001, "going"), (4000, "custom reason"), (3999, "é")] {
        let t0 = Instant::now();
        let mut c = default_conn(role, t0);
        let evs = recv(&mut c, &RawFrame::close(code, reason).to(role), t0);
        let f = cf(code, reason);
        assert_eq!(evs, [Ev::Closed(Closed::clean(Initiator::Remote, Some(f.clone()), Some(f)))]);
        assert_frames_sent(&mut c, &[Frame::close(code, reason)], role == Role::Server);
        assert_eq!(c.state(), State::Closed);
        // Both ends then wait for the peer's TCP close (or the close timer).
        assert!(!c.is_terminated());
        assert!(c.wants_read());
        c.receive_eof();
        assert!(c.is_terminated());
        assert!(poll_events(&mut c, t0).is_empty());
        assert!(!c.wants_read());
    }
    // An empty close is echoed empty.
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    let evs = recv(&mut c, &RawFrame::close_payload([]).to(role), t0);
    assert_eq!(last_closed(&evs).code, 1005);
    assert_frames_sent(&mut c, &[Frame::close_empty()], role == Role::Server);
});

both_roles!(client_never_sends_two_close_frames, server_never_sends_two_close_frames, |role| {
    let t0 = Instant::now();
    // Peer closes first: echo once; later close/fail calls and a second peer close send nothing.
    let mut c = default_conn(role, t0);
    assert_eq!(last_closed(&recv(&mut c, &RawFrame::close(1000, "").to(role), t0)).initiator, Initiator::Remote);
    assert_eq!(c.close(Some(cf(1000, "again")), t0), Err(SendError::NotOpen));
    c.fail(CloseCode::PROTOCOL_ERROR, "x", t0);
    assert!(recv(&mut c, &RawFrame::close(1001, "").to(role), t0).is_empty());
    assert_frames_sent(&mut c, &[Frame::close(1000, "")], role == Role::Server);
    // We close first: the peer's close is not echoed.
    let mut c = default_conn(role, t0);
    c.close(Some(cf(1001, "")), t0).unwrap();
    assert_eq!(c.close(None, t0), Err(SendError::CloseAlreadySent));
    let evs = recv(&mut c, &RawFrame::close(1000, "echo").to(role), t0);
    assert_eq!(evs, [Ev::Closed(Closed::clean(Initiator::Local, Some(cf(1001, "")), Some(cf(1000, "echo"))))]);
    assert_frames_sent(&mut c, &[Frame::close(1001, "")], role == Role::Server);
    // fail() while closing sends nothing more.
    let mut c = default_conn(role, t0);
    c.close(None, t0).unwrap();
    c.fail(CloseCode::POLICY_VIOLATION, "bored", t0);
    let evs = poll_events(&mut c, t0);
    let closed = last_closed(&evs);
    assert!(closed.close_sent && !closed.close_received && !closed.clean);
    assert_frames_sent(&mut c, &[Frame::close_empty()], role == Role::Server);
});

both_roles!(client_send_after_close_is_an_error, server_send_after_close_is_an_error, |role| {
    let t0 = Instant::now();
    let prepared = PreparedMessage::new(Message::text("p"));
    let check = |c: &mut Connection, err: SendError| {
        assert_eq!(c.send_text("x"), Err(err.clone()));
        assert_eq!(c.send_binary(vec![1]), Err(err.clone()));
        assert_eq!(c.send_prepared(&prepared), Err(err.clone()));
        assert_eq!(c.send_frame_part(MessageKind::Text, Bytes::from_static(b"x"), true), Err(err.clone()));
        assert_eq!(c.send_ping("x"), Err(err.clone()));
        assert_eq!(c.send_pong("x"), Err(err.clone()));
        assert_eq!(c.close(None, t0), Err(err.clone()));
        assert_eq!(c.close(Some(cf(1000, "x")), t0), Err(err));
    };
    let mut c = default_conn(role, t0);
    c.close(Some(cf(1000, "")), t0).unwrap();
    check(&mut c, SendError::CloseAlreadySent);
    assert_frames_sent(&mut c, &[Frame::close(1000, "")], false);
    assert!(poll_events(&mut c, t0).is_empty());
    // Closed: NotOpen.
    assert_eq!(last_closed(&recv(&mut c, &RawFrame::close(1000, "").to(role), t0)).initiator, Initiator::Local);
    check(&mut c, SendError::NotOpen);
    // Closed by the peer first: NotOpen as well.
    let mut c = default_conn(role, t0);
    recv(&mut c, &RawFrame::close(1000, "").to(role), t0);
    check(&mut c, SendError::NotOpen);
    // Terminated.
    let mut c = default_conn(role, t0);
    c.terminate();
    check(&mut c, SendError::NotOpen);
});

both_roles!(
    client_close_with_invalid_arguments_sends_nothing,
    server_close_with_invalid_arguments_sends_nothing,
    |role| {
        let t0 = Instant::now();
        let mut c = default_conn(role, t0);
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert_eq!(c.close(Some(cf(code, "")), t0), Err(SendError::InvalidCloseCode(code)));
        }
        let long = "a".repeat(124);
        assert_eq!(c.close(Some(cf(1000, &long)), t0), Err(SendError::CloseReasonTooLong(124)));
        let long = "é".repeat(62); // 124 bytes
        assert_eq!(c.close(Some(cf(4000, &long)), t0), Err(SendError::CloseReasonTooLong(124)));
        assert_eq!(c.state(), State::Open);
        assert_eq!(c.buffered_amount(), 0);
        assert!(c.poll_transmit().is_none());
        assert!(c.poll_timeout().is_none());
        // Still usable.
        c.send_text("still open").unwrap();
        c.close(Some(cf(4999, &"a".repeat(123))), t0).unwrap();
        assert_frames_sent(&mut c, &[Frame::text("still open"), Frame::close(4999, &"a".repeat(123))], false);
    }
);

both_roles!(client_data_while_closing_is_delivered, server_data_while_closing_is_delivered, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    c.close(Some(cf(1000, "")), t0).unwrap();
    let input = wire(
        role,
        &[
            RawFrame::text("late"),
            RawFrame::binary("a").fin(false),
            RawFrame::ping("p"),
            RawFrame::cont("b"),
            RawFrame::close(1000, ""),
        ],
    );
    let evs = recv(&mut c, &input, t0);
    assert_eq!(evs[..3], [Ev::text("late"), Ev::ping(b"p"), Ev::binary(b"ab")]);
    assert_eq!(last_closed(&evs).initiator, Initiator::Local);
    assert_eq!(evs.len(), 4);
    // Nothing but our close frame goes out, and it went first.
    let s = sent(&mut c);
    assert_eq!(s.frames[0], Frame::close(1000, ""));
    assert!(s.frames[1..].iter().all(|f| f.opcode > 8), "{:?}", s.frames);
});

both_roles!(client_data_after_peer_close_is_discarded, server_data_after_peer_close_is_discarded, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    let input =
        wire(role, &[RawFrame::text("before"), RawFrame::close(1000, ""), RawFrame::text("after"), RawFrame::ping("")]);
    let evs = recv(&mut c, &input, t0);
    assert_eq!(evs[0], Ev::text("before"));
    assert_eq!(last_closed(&evs).initiator, Initiator::Remote);
    assert_eq!(evs.len(), 2);
    assert!(recv(&mut c, &RawFrame::text("later").to(role), t0).is_empty());
    // Even garbage is ignored now.
    assert!(recv(&mut c, &[0xff; 20], t0).is_empty());
    assert_frames_sent(&mut c, &[Frame::close(1000, "")], role == Role::Server);
});

both_roles!(client_closed_event_exactly_once, server_closed_event_exactly_once, |role| {
    let side = Side::of(role);
    let mut p = Pair::default();
    p.conn(side).send_text("x").unwrap();
    let now = p.now;
    p.conn(side).close(None, now).unwrap();
    p.drive();
    for s in SIDES {
        assert_eq!(p.events(s).iter().filter(|e| matches!(e, Ev::Closed(_))).count(), 1);
    }
    // Later calls produce nothing.
    let later = p.now + Duration::from_secs(3600);
    for s in SIDES {
        let conn = p.conn(s);
        conn.receive(&RawFrame::close(1000, "").to(s.role()));
        conn.receive_eof();
        conn.handle_timeout(later);
        conn.terminate();
        assert!(conn.poll_event(later).is_none());
        assert!(conn.poll_transmit().is_none());
        assert!(conn.poll_timeout().is_none());
    }
});

both_roles!(client_fail_sends_close_and_reports_local, server_fail_sends_close_and_reports_local, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    c.fail(CloseCode::POLICY_VIOLATION, "nope", t0);
    let evs = poll_events(&mut c, t0);
    let closed = last_closed(&evs);
    assert_eq!(closed.initiator, Initiator::Local);
    assert_eq!(closed.sent, Some(cf(1008, "nope")));
    assert_eq!((closed.code, closed.clean, closed.error.clone()), (1006, false, None));
    assert_frames_sent(&mut c, &[Frame::close(1008, "nope")], role == Role::Server);
    assert!(recv(&mut c, &RawFrame::text("x").to(role), t0).is_empty(), "input after fail is discarded");
    // An invalid code becomes 1011; a long reason is cut at a character boundary.
    let mut c = default_conn(role, t0);
    c.fail(CloseCode::NO_STATUS, &"é".repeat(100), t0);
    let s = sent(&mut c);
    assert_eq!(s.frames.len(), 1);
    assert_eq!(s.frames[0].close_code(), Some(1011));
    assert_eq!(s.frames[0].payload[2..], *"é".repeat(61).as_bytes());
});

both_roles!(client_terminate, server_terminate, |role| {
    let side = Side::of(role);
    let mut p = Pair::default();
    p.conn(side).send_text("delivered").unwrap();
    p.drive();
    p.conn(side).send_text("discarded").unwrap();
    p.conn(side).terminate();
    let c = p.conn(side);
    assert!(c.is_terminated());
    assert!(!c.wants_read());
    assert!(!c.wants_write());
    assert_eq!(c.buffered_amount(), 0);
    assert!(c.poll_timeout().is_none());
    p.drive();
    let local = last_closed(p.events(side)).clone();
    assert_eq!((local.initiator, local.code, local.clean, local.close_sent), (Initiator::Local, 1006, false, false));
    assert_eq!(local.error, None);
    let peer = p.take_events(side.other());
    assert_eq!(peer[0], Ev::text("delivered"));
    let remote = last_closed(&peer);
    assert_eq!(
        (remote.initiator, remote.code, remote.error.clone()),
        (Initiator::Library, 1006, Some(Error::UnexpectedEof))
    );
    assert!(p.dropped(Side::Client) && p.dropped(Side::Server));
    assert_eq!(p.frames_sent(side), [Frame::text("delivered")]);
    assert!(p.frames_sent(side.other()).is_empty());
});

both_roles!(client_terminate_delivers_what_was_received, server_terminate_delivers_what_was_received, |role| {
    // Node `ws` emits the messages whose bytes it had read before 'close' when its socket is
    // destroyed: complete frames already buffered are delivered, then `Closed` (1006).
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    let third = RawFrame::text("three").to(role);
    let mut input = wire(role, &[RawFrame::text("one"), RawFrame::ping("p"), RawFrame::binary([2, 2])]);
    input.extend_from_slice(&third[..third.len() / 2]);
    c.receive(&input);
    c.terminate();
    assert!(c.is_terminated());
    assert!(!c.wants_read(), "nothing more is read");
    // Bytes arriving anyway (copied or read into the slot) do not join what was received.
    c.receive(&third[third.len() / 2..]);
    let rest = RawFrame::text("four").to(role);
    let slot = c.recv_slot(rest.len());
    slot[..rest.len()].copy_from_slice(&rest);
    c.commit_received(rest.len());
    let evs = poll_events(&mut c, t0);
    assert_eq!(evs.len(), 4, "the complete frames, then Closed (the half-received message is dropped): {evs:?}");
    assert_eq!(evs[..3], [Ev::text("one"), Ev::ping(b"p"), Ev::binary(&[2, 2])]);
    let closed = last_closed(&evs);
    assert_eq!((closed.initiator, closed.code, closed.clean), (Initiator::Local, 1006, false));
    assert_eq!((closed.error.clone(), closed.close_sent, closed.close_received), (None, false, false));
    assert!(c.poll_transmit().is_none(), "nothing is written, not even the ping's pong");
    assert_eq!(c.buffered_input(), 0);
    assert!(poll_events(&mut c, t0).is_empty());
});

both_roles!(
    client_terminate_delivers_up_to_a_close_or_an_error,
    server_terminate_delivers_up_to_a_close_or_an_error,
    |role| {
        let t0 = Instant::now();
        // The peer's close among the received bytes ends the delivery and is recorded (Node
        // reports its code), unanswered; what followed it is not delivered.
        let mut c = default_conn(role, t0);
        c.receive(&wire(role, &[RawFrame::text("a"), RawFrame::close(1001, "bye"), RawFrame::text("after")]));
        c.terminate();
        let evs = poll_events(&mut c, t0);
        assert_eq!(evs.len(), 2, "{evs:?}");
        assert_eq!(evs[0], Ev::text("a"));
        let closed = last_closed(&evs);
        assert_eq!((closed.initiator, closed.code, closed.reason.as_str()), (Initiator::Local, 1001, "bye"));
        assert_eq!((closed.clean, closed.close_sent, closed.close_received), (false, false, true));
        assert!(c.poll_transmit().is_none(), "the close is not echoed");
        // A protocol error ends it too, silently: the application already ended the connection.
        let mut c = default_conn(role, t0);
        c.receive(&wire(role, &[RawFrame::text("a"), RawFrame::text("bad").rsv(0b010), RawFrame::text("b")]));
        c.terminate();
        let evs = poll_events(&mut c, t0);
        assert_eq!(evs.len(), 2, "{evs:?}");
        assert_eq!(evs[0], Ev::text("a"));
        let closed = last_closed(&evs);
        assert_eq!((closed.code, closed.error.clone(), closed.close_sent), (1006, None, false));
        assert!(c.poll_transmit().is_none(), "no 1002 is sent");
    }
);

// ------------------------------------------------------------------ EOF

both_roles!(client_eof_while_open, server_eof_while_open, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    c.receive_eof();
    assert!(!c.wants_read());
    let evs = poll_events(&mut c, t0);
    let closed = last_closed(&evs);
    assert_eq!((closed.initiator, closed.code, closed.clean), (Initiator::Library, 1006, false));
    assert_eq!(closed.error, Some(Error::UnexpectedEof));
    assert!(!closed.close_sent && !closed.close_received);
    assert!(c.is_terminated());
    assert_eq!(c.state(), State::Closed);
    assert_frames_sent(&mut c, &[], false);
});

both_roles!(client_eof_delivers_buffered_messages_first, server_eof_delivers_buffered_messages_first, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    let mut input = wire(role, &[RawFrame::text("one"), RawFrame::binary([2]), RawFrame::ping("3")]);
    // And half a frame.
    input.extend_from_slice(&RawFrame::text("four").to(role)[..3]);
    c.receive(&input);
    c.receive_eof();
    let evs = poll_events(&mut c, t0);
    assert_eq!(evs[..3], [Ev::text("one"), Ev::binary(&[2]), Ev::ping(b"3")]);
    assert_eq!(last_closed(&evs).error, Some(Error::UnexpectedEof));
    assert_eq!(evs.len(), 4);
    assert!(c.is_terminated() || c.wants_write());
});

both_roles!(client_eof_while_closing, server_eof_while_closing, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    c.close(Some(cf(1000, "")), t0).unwrap();
    assert_frames_sent(&mut c, &[Frame::close(1000, "")], false);
    c.receive_eof();
    let evs = poll_events(&mut c, t0);
    let closed = last_closed(&evs);
    assert_eq!((closed.initiator, closed.code, closed.clean), (Initiator::Local, 1006, false));
    assert_eq!(closed.error, Some(Error::UnexpectedEof));
    assert!(c.is_terminated());
    // EOF right behind the peer's close frame is a clean close.
    let mut c = default_conn(role, t0);
    c.close(Some(cf(1000, "")), t0).unwrap();
    c.receive(&RawFrame::close(1000, "").to(role));
    c.receive_eof();
    let evs = poll_events(&mut c, t0);
    assert_eq!(evs, [Ev::Closed(Closed::clean(Initiator::Local, Some(cf(1000, "")), Some(cf(1000, ""))))]);
    let s = sent(&mut c);
    assert_eq!(s.shutdown, role == Role::Server);
    assert!(c.is_terminated());
});

// ------------------------------------------------------------------ close timers

both_roles!(client_close_timeout, server_close_timeout, |role| {
    let cfg = Config::default().close_timeout(Some(Duration::from_secs(5)));
    let t0 = Instant::now();
    let mut c = new_conn(role, &cfg, t0);
    assert_eq!(c.poll_timeout(), None);
    c.close(Some(cf(1000, "")), t0).unwrap();
    assert_frames_sent(&mut c, &[Frame::close(1000, "")], false);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    c.handle_timeout(t0 + Duration::from_millis(4999));
    assert!(poll_events(&mut c, t0 + Duration::from_millis(4999)).is_empty());
    assert!(!c.is_terminated());
    let t1 = t0 + Duration::from_secs(5);
    c.handle_timeout(t1);
    let evs = poll_events(&mut c, t1);
    let closed = last_closed(&evs);
    assert_eq!(closed.error, Some(Error::Timeout(TimeoutKind::Close)));
    assert_eq!((closed.initiator, closed.code, closed.clean), (Initiator::Local, 1006, false));
    assert!(closed.close_sent && !closed.close_received);
    assert!(c.is_terminated());
    assert_eq!(c.poll_timeout(), None);
    assert!(c.poll_transmit().is_none());
});

#[test]
fn close_timeout_in_a_pair_when_the_peer_never_answers() {
    let cfg = Config::default().close_timeout(Some(Duration::from_secs(2)));
    let mut p = Pair::new(&cfg, &cfg);
    // The client closes; the server's application is stuck and never polls: simulate by
    // terminating nothing and delivering nothing: just advance time on the client.
    let now = p.now;
    p.client.close(None, now).unwrap();
    assert_eq!(p.client.poll_timeout(), Some(now + Duration::from_secs(2)));
    let later = now + Duration::from_secs(2);
    p.client.handle_timeout(later);
    let evs = poll_events(&mut p.client, later);
    assert_eq!(last_closed(&evs).error, Some(Error::Timeout(TimeoutKind::Close)));
    assert!(p.client.is_terminated());
}

#[test]
fn client_waits_for_server_tcp_close_then_times_out() {
    let cfg = Config::default().close_timeout(Some(Duration::from_secs(3)));
    let t0 = Instant::now();
    let mut c = new_conn(Role::Client, &cfg, t0);
    let evs = recv(&mut c, &RawFrame::close(1000, "").to(Role::Client), t0);
    assert_eq!(last_closed(&evs).initiator, Initiator::Remote);
    assert_frames_sent(&mut c, &[Frame::close(1000, "")], false);
    assert!(!c.is_terminated(), "the client waits for the server to close TCP");
    assert!(c.wants_read());
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    c.handle_timeout(t0 + Duration::from_secs(1));
    assert!(!c.is_terminated());
    c.handle_timeout(t0 + Duration::from_secs(3));
    assert!(c.is_terminated());
    assert!(poll_events(&mut c, t0 + Duration::from_secs(3)).is_empty(), "Closed was already reported");
    // Same after we initiated.
    let mut c = new_conn(Role::Client, &cfg, t0);
    c.close(None, t0).unwrap();
    let t1 = t0 + Duration::from_secs(1);
    let evs = recv(&mut c, &RawFrame::close_payload([]).to(Role::Client), t1);
    assert_eq!(last_closed(&evs).initiator, Initiator::Local);
    assert!(!c.is_terminated());
    assert_eq!(c.poll_timeout(), Some(t1 + Duration::from_secs(3)), "a new wait for the TCP close");
    c.handle_timeout(t1 + Duration::from_secs(3));
    assert!(c.is_terminated());
}

#[test]
fn server_waits_for_client_eof_after_shutdown_then_times_out() {
    let cfg = Config::default().close_timeout(Some(Duration::from_secs(3)));
    let t0 = Instant::now();
    let mut s = new_conn(Role::Server, &cfg, t0);
    recv(&mut s, &RawFrame::close(1000, "").to(Role::Server), t0);
    assert_frames_sent(&mut s, &[Frame::close(1000, "")], true);
    assert!(!s.is_terminated());
    s.handle_timeout(t0 + Duration::from_secs(3));
    assert!(s.is_terminated());
}

#[test]
fn close_timeout_none_waits_forever() {
    let cfg = Config::default().close_timeout(None);
    let t0 = Instant::now();
    let mut c = new_conn(Role::Client, &cfg, t0);
    c.close(None, t0).unwrap();
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t0 + Duration::from_secs(1_000_000));
    assert!(poll_events(&mut c, t0).is_empty());
    assert_eq!(c.state(), State::Closing);
}

#[test]
fn pair_close_with_partial_reads_and_writes() {
    // The close handshake survives one-byte reads and writes while data is in flight.
    let mut p = Pair::default().chunked(1);
    p.write_chunk = 1;
    p.client.send_binary(vec![1u8; 500]).unwrap();
    p.server.send_text("ready").unwrap();
    let now = p.now;
    p.server.close(Some(cf(1001, "restart")), now).unwrap();
    p.drive();
    let client = p.take_events(Side::Client);
    assert_eq!(client[0], Ev::text("ready"));
    assert_eq!(last_closed(&client).initiator, Initiator::Remote);
    let server = p.take_events(Side::Server);
    assert_eq!(server[0], Ev::binary(&[1; 500]));
    assert_eq!(last_closed(&server).initiator, Initiator::Local);
    assert!(p.dropped(Side::Client) && p.dropped(Side::Server));
}

// ------------------------------------------------------------ held close echo (driver mode)

/// A server connection holding its close echo, that read `n` texts and then the client's close.
fn held_echo_server(n: usize, now: Instant) -> (Connection, Vec<Ev>) {
    let config = Config::default().close_timeout(Some(Duration::from_secs(5)));
    let mut conn = new_conn(Role::Server, &config, now);
    conn.hold_close_echo(true);
    let mut wire = Vec::new();
    for i in 0..n {
        wire.extend(RawFrame::text(&format!("m{i}")).to(Role::Server));
    }
    wire.extend(RawFrame::close(1000, "done").to(Role::Server));
    wire.extend(RawFrame::text("after the close").to(Role::Server));
    let evs = recv(&mut conn, &wire, now);
    (conn, evs)
}

#[test]
fn held_close_echo_lets_the_answers_go_first() {
    let now = Instant::now();
    let (mut conn, evs) = held_echo_server(3, now);
    // Every message before the close, nothing after it, and no Closed yet.
    assert_eq!(evs, [Ev::text("m0"), Ev::text("m1"), Ev::text("m2")]);
    assert!(conn.is_close_echo_held());
    assert_eq!(conn.state(), State::Open, "the application may still answer");
    assert_frames_sent(&mut conn, &[], false);
    for i in 0..3 {
        conn.send_text(format!("r{i}")).unwrap();
    }
    conn.release_close_echo(now);
    assert!(!conn.is_close_echo_held());
    assert_frames_sent(
        &mut conn,
        &[Frame::text("r0"), Frame::text("r1"), Frame::text("r2"), Frame::close(1000, "done")],
        true,
    );
    let evs = poll_events(&mut conn, now);
    assert_eq!(evs, [Ev::Closed(Closed::clean(Initiator::Remote, Some(cf(1000, "done")), Some(cf(1000, "done"))))]);
    assert_eq!(conn.send_text("late"), Err(SendError::NotOpen));
    // Releasing again does nothing.
    conn.release_close_echo(now);
    assert_frames_sent(&mut conn, &[], false);
}

#[test]
fn held_close_echo_is_released_by_the_close_timer() {
    let now = Instant::now();
    let (mut conn, _) = held_echo_server(1, now);
    let deadline = conn.poll_timeout().expect("the close timer bounds the wait");
    assert_eq!(deadline, now + Duration::from_secs(5));
    conn.handle_timeout(deadline - Duration::from_millis(1));
    assert!(conn.is_close_echo_held(), "not before the deadline");
    conn.handle_timeout(deadline);
    assert!(!conn.is_close_echo_held());
    assert_frames_sent(&mut conn, &[Frame::close(1000, "done")], true);
    let evs = poll_events(&mut conn, deadline);
    assert!(last_closed(&evs).clean, "{evs:?}");
}

#[test]
fn close_while_the_echo_is_held_answers_with_that_frame() {
    let now = Instant::now();
    let (mut conn, _) = held_echo_server(0, now);
    conn.send_text("last words").unwrap();
    conn.close(Some(cf(4000, "mine")), now).unwrap();
    assert_frames_sent(&mut conn, &[Frame::text("last words"), Frame::close(4000, "mine")], true);
    let evs = poll_events(&mut conn, now);
    assert_eq!(evs, [Ev::Closed(Closed::clean(Initiator::Remote, Some(cf(4000, "mine")), Some(cf(1000, "done"))))]);
}

#[test]
fn eof_while_the_echo_is_held_is_not_an_error() {
    let now = Instant::now();
    let (mut conn, _) = held_echo_server(1, now);
    conn.receive_eof();
    assert!(poll_events(&mut conn, now).is_empty());
    assert!(conn.is_close_echo_held());
    conn.release_close_echo(now);
    let evs = poll_events(&mut conn, now);
    let closed = last_closed(&evs);
    assert!(closed.clean && closed.error.is_none(), "{closed:?}");
}

#[test]
fn terminate_and_fail_drop_a_held_echo() {
    let now = Instant::now();
    let (mut conn, _) = held_echo_server(0, now);
    conn.fail(CloseCode::POLICY_VIOLATION, "no", now);
    assert!(!conn.is_close_echo_held());
    assert_frames_sent(&mut conn, &[Frame::close(1008, "no")], true);
    let (mut conn, _) = held_echo_server(0, now);
    conn.terminate();
    assert!(!conn.is_close_echo_held());
    assert!(conn.poll_transmit().is_none());
    assert_eq!(poll_events(&mut conn, now).len(), 1);
}

/// The next `Event::Closed`'s `CloseInfo`, skipping other events.
fn closed_info(conn: &mut Connection, now: Instant) -> Option<ws_proto::CloseInfo> {
    while let Some(e) = conn.poll_event(now) {
        if let ws_proto::Event::Closed(info) = e {
            return Some(info);
        }
    }
    None
}

/// Our own size limit: a message over `max_message_size` fails the connection with 1009, and
/// `CloseInfo` shows what this side sent (`sent_code`/`sent_reason`, `by_us`, `failed_by_us`)
/// as plainly as what the peer sent (`code`/`reason`), on both ends, whichever side limits.
#[test]
fn close_info_shows_our_1009_for_an_oversized_message() {
    for limited in [Role::Server, Role::Client] {
        let t0 = Instant::now();
        let small = Config::default().max_message_size(Some(100));
        let (ccfg, scfg) =
            if limited == Role::Server { (Config::default(), small) } else { (small, Config::default()) };
        let mut client = new_conn(Role::Client, &ccfg, t0);
        let mut server = new_conn(Role::Server, &scfg, t0);
        let (sender, receiver) =
            if limited == Role::Server { (&mut client, &mut server) } else { (&mut server, &mut client) };
        sender.send_binary(vec![7u8; 1000]).unwrap();
        receiver.receive(&drain_output(sender).bytes);
        // The limited side fails the connection at the frame header and sends 1009.
        let early = closed_info(receiver, t0);
        assert_ne!(receiver.state(), State::Open);
        let close = drain_output(receiver).bytes;
        assert!(!close.is_empty(), "a close frame goes out");
        // Its peer gets the 1009 and echoes it.
        sender.receive(&close);
        let peer = closed_info(sender, t0).expect("the peer closes");
        assert_eq!(
            (peer.code(), peer.by_us(), peer.failed_by_us().is_none()),
            (CloseCode::MESSAGE_TOO_BIG, false, true)
        );
        assert!(peer.reason().contains("100"), "the reason names the limit: {:?}", peer.reason());
        assert_eq!(peer.sent_code(), Some(CloseCode::MESSAGE_TOO_BIG), "the echo");
        receiver.receive(&drain_output(sender).bytes);
        let ours = early.or_else(|| closed_info(receiver, t0)).expect("closed");
        // What we sent, read as plainly as what was received.
        assert_eq!(ours.sent_code(), Some(CloseCode::MESSAGE_TOO_BIG), "{ours:?}");
        assert_eq!(ours.sent_reason(), peer.reason());
        assert!(ours.by_us());
        assert_eq!(ours.initiator, Initiator::Library);
        assert!(matches!(ours.failed_by_us(), Some(Error::Protocol(ProtocolError::MessageTooLarge { max: 100 }))));
        // `code()` is the peer's side of it: here 1006, as the limited side stopped reading
        // once it failed (a peer's echo, when read, would show as 1009).
        assert!([CloseCode::MESSAGE_TOO_BIG, CloseCode::ABNORMAL].contains(&ours.code()), "{:?}", ours.code());
        assert!(!ours.was_clean());
    }
    // A close the application started: by_us, not a failure; a peer's close: neither.
    let t0 = Instant::now();
    let mut client = new_conn(Role::Client, &Config::default(), t0);
    let mut server = new_conn(Role::Server, &Config::default(), t0);
    client.close(Some(ws_proto::CloseFrame::new(4000u16, "done")), t0).unwrap();
    server.receive(&drain_output(&mut client).bytes);
    let info = closed_info(&mut server, t0).expect("closed");
    assert_eq!((info.code().as_u16(), info.reason(), info.by_us()), (4000, "done", false));
    assert_eq!((info.sent_code().map(CloseCode::as_u16), info.sent_reason()), (Some(4000), "done"));
    client.receive(&drain_output(&mut server).bytes);
    let info = closed_info(&mut client, t0).expect("closed");
    assert!(info.by_us() && info.failed_by_us().is_none() && info.was_clean());
    assert_eq!(info.sent_code(), Some(CloseCode::from_u16(4000)));
}
