//! Ping/pong duties and timers with simulated time: auto-pong (every ping answered, floods bounded), keepalive pings,
//! the pong deadline, idle-timer resets, `poll_timeout` and spurious `handle_timeout` calls.

use std::time::{Duration, Instant};

use ws_proto::{Config, Error, Initiator, Role, State, TimeoutKind};

use super::pair::*;

const IDLE: Duration = Duration::from_secs(10);
const PONG: Duration = Duration::from_secs(5);

fn keepalive_config() -> Config {
    Config::default().keep_alive(Some(IDLE), Some(PONG))
}

// ------------------------------------------------------------------ ping / pong

both_roles!(client_auto_pong_same_payload, server_auto_pong_same_payload, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    for payload in [&b""[..], b"abc", &[0u8, 255, 7][..], &[9u8; 125][..]] {
        assert_eq!(recv(&mut c, &RawFrame::ping(payload).to(role), t0), [Ev::ping(payload)]);
        assert_frames_sent(&mut c, &[Frame::pong(payload)], false);
    }
    // In a pair, the pinger sees the pong.
    let side = Side::of(role);
    let mut p = Pair::default();
    p.conn(side).send_ping("are you there").unwrap();
    p.drive();
    assert_eq!(p.take_events(side.other()), [Ev::ping(b"are you there")]);
    assert_eq!(p.take_events(side), [Ev::pong(b"are you there")]);
});

both_roles!(client_auto_pong_off_sends_nothing, server_auto_pong_off_sends_nothing, |role| {
    let cfg = Config::default().auto_pong(false);
    let t0 = Instant::now();
    let mut c = new_conn(role, &cfg, t0);
    assert_eq!(recv(&mut c, &RawFrame::ping("x").to(role), t0), [Ev::ping(b"x")]);
    assert_frames_sent(&mut c, &[], false);
    // The application may answer itself.
    c.send_pong("x").unwrap();
    assert_frames_sent(&mut c, &[Frame::pong("x")], false);
});

both_roles!(client_every_ping_is_answered, server_every_ping_is_answered, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    let input = wire(role, &[RawFrame::ping("1"), RawFrame::ping("2")]);
    assert_eq!(recv(&mut c, &input, t0), [Ev::ping(b"1"), Ev::ping(b"2")]);
    assert_frames_sent(&mut c, &[Frame::pong("1"), Frame::pong("2")], false);
    // Pongs jump ahead of queued data at a frame boundary; the application's own ping stays.
    c.send_text("data").unwrap();
    c.send_ping("mine").unwrap();
    recv(&mut c, &wire(role, &[RawFrame::ping("6"), RawFrame::ping("7")]), t0);
    assert_frames_sent(&mut c, &[Frame::ping("mine"), Frame::pong("6"), Frame::pong("7"), Frame::text("data")], false);
});

both_roles!(client_ping_flood_is_bounded, server_ping_flood_is_bounded, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    let pongs_at_limit = 16;
    // Below and at the limit every pong is kept.
    for i in 0..pongs_at_limit {
        c.receive(&RawFrame::ping([i as u8; 100]).to(role));
    }
    assert_eq!(poll_events(&mut c, t0).len(), pongs_at_limit);
    let expect: Vec<Frame> = (0..pongs_at_limit).map(|i| Frame::pong([i as u8; 100])).collect();
    assert_frames_sent(&mut c, &expect, false);
    // Above it, while nothing is written, the oldest unsent pongs are dropped.
    for i in 0..1000u32 {
        c.receive(&RawFrame::ping([(i % 251) as u8; 100]).to(role));
    }
    assert_eq!(poll_events(&mut c, t0).len(), 1000);
    let per_pong = 102 + if role == Role::Client { 4 } else { 0 };
    assert_eq!(c.buffered_amount(), pongs_at_limit * per_pong, "bounded, not a thousand pongs");
    let expect: Vec<Frame> =
        (1000 - pongs_at_limit as u32..1000).map(|i| Frame::pong([(i % 251) as u8; 100])).collect();
    assert_frames_sent(&mut c, &expect, false);
});

both_roles!(client_unsolicited_pong_accepted, server_unsolicited_pong_accepted, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    assert_eq!(recv(&mut c, &RawFrame::pong("x").to(role), t0), [Ev::pong(b"x")]);
    assert_eq!(recv(&mut c, &RawFrame::pong("").to(role), t0), [Ev::pong(b"")]);
    assert_frames_sent(&mut c, &[], false);
    assert_eq!(c.state(), State::Open);
    // And sending one is allowed.
    c.send_pong("hb").unwrap();
    assert_frames_sent(&mut c, &[Frame::pong("hb")], false);
});

// ------------------------------------------------------------------ keepalive

both_roles!(client_keepalive_ping_after_idle, server_keepalive_ping_after_idle, |role| {
    // Only `role` has keepalive on; the peer answers; five cycles.
    let side = Side::of(role);
    let (ccfg, scfg) = if role == Role::Client {
        (keepalive_config(), Config::default())
    } else {
        (Config::default(), keepalive_config())
    };
    let mut p = Pair::new(&ccfg, &scfg);
    assert_eq!(p.conn_ref(side.other()).poll_timeout(), None);
    for cycle in 1..=5u32 {
        assert_eq!(p.next_timeout(), Some(p.start + IDLE * cycle));
        assert_eq!(p.advance_time(), Some(p.start + IDLE * cycle));
        assert_eq!(p.take_events(side.other()), [Ev::ping(b"")]);
        assert_eq!(p.take_events(side), [Ev::pong(b"")], "cycle {cycle}");
    }
    assert_eq!(p.frames_sent(side), vec![Frame::ping(""); 5]);
    assert_eq!(p.frames_sent(side.other()), vec![Frame::pong(""); 5]);
    assert_eq!(p.conn_ref(side).state(), State::Open);
});

both_roles!(client_keepalive_pong_deadline_fails_with_1011, server_keepalive_pong_deadline_fails_with_1011, |role| {
    let t0 = Instant::now();
    let mut c = new_conn(role, &keepalive_config(), t0);
    assert_eq!(c.poll_timeout(), Some(t0 + IDLE));
    c.handle_timeout(t0 + IDLE);
    assert!(poll_events(&mut c, t0 + IDLE).is_empty());
    assert_frames_sent(&mut c, &[Frame::ping("")], false);
    assert_eq!(c.poll_timeout(), Some(t0 + IDLE + PONG));
    let t1 = t0 + IDLE + PONG;
    c.handle_timeout(t1);
    let evs = poll_events(&mut c, t1);
    let closed = last_closed(&evs);
    assert_eq!(closed.error, Some(Error::Timeout(TimeoutKind::Pong)));
    assert_eq!((closed.initiator, closed.code), (Initiator::Library, 1006));
    assert_eq!(closed.sent.as_ref().map(|f| f.code.as_u16()), Some(1011));
    let s = sent(&mut c);
    assert_eq!(s.frames.len(), 1);
    assert_eq!(s.frames[0].close_code(), Some(1011));
    assert_eq!(s.shutdown, role == Role::Server);
    assert_eq!(c.state(), State::Closed);
});

both_roles!(client_keepalive_pong_deadline_in_a_pair, server_keepalive_pong_deadline_in_a_pair, |role| {
    // The peer never answers pings (auto_pong off and the application ignores them).
    let side = Side::of(role);
    let silent = Config::default().auto_pong(false);
    let (ccfg, scfg) = if role == Role::Client { (keepalive_config(), silent) } else { (silent, keepalive_config()) };
    let mut p = Pair::new(&ccfg, &scfg);
    assert_eq!(p.advance_time(), Some(p.start + IDLE));
    assert_eq!(p.advance_time(), Some(p.start + IDLE + PONG));
    let closed = last_closed(p.events(side)).clone();
    assert_eq!(closed.error, Some(Error::Timeout(TimeoutKind::Pong)));
    // The peer sees a close with 1011 and echoes it.
    let peer = last_closed(p.events(side.other())).clone();
    assert_eq!((peer.code, peer.initiator), (1011, Initiator::Remote));
    assert!(p.dropped(Side::Client) && p.dropped(Side::Server));
});

both_roles!(client_incoming_traffic_resets_idle_timer, server_incoming_traffic_resets_idle_timer, |role| {
    let frames = [
        RawFrame::text("t"),
        RawFrame::binary("b"),
        RawFrame::ping("p"),
        RawFrame::pong("q"),
        RawFrame::text("a").fin(false),
    ];
    for f in frames {
        let t0 = Instant::now();
        let mut c = new_conn(role, &keepalive_config(), t0);
        let t1 = t0 + Duration::from_secs(6);
        recv(&mut c, &f.to(role), t1);
        assert_eq!(c.poll_timeout(), Some(t1 + IDLE), "{f:?}");
        // The old deadline passes: spurious, nothing sent.
        c.handle_timeout(t0 + IDLE);
        assert!(poll_events(&mut c, t0 + IDLE).is_empty());
        let s = sent(&mut c);
        assert!(s.frames.iter().all(|f| f.opcode != 0x9), "{f:?}: no keepalive ping yet: {:?}", s.frames);
        // Idle from t1: ping.
        c.handle_timeout(t1 + IDLE);
        assert_frames_sent(&mut c, &[Frame::ping("")], false);
        assert_eq!(c.poll_timeout(), Some(t1 + IDLE + PONG));
    }
});

both_roles!(client_incoming_traffic_cancels_pong_deadline, server_incoming_traffic_cancels_pong_deadline, |role| {
    let frames = [RawFrame::pong(""), RawFrame::text("t"), RawFrame::ping("p"), RawFrame::binary("b").fin(false)];
    for f in frames {
        let t0 = Instant::now();
        let mut c = new_conn(role, &keepalive_config(), t0);
        c.handle_timeout(t0 + IDLE);
        assert_frames_sent(&mut c, &[Frame::ping("")], false);
        let t1 = t0 + IDLE + Duration::from_secs(2);
        recv(&mut c, &f.to(role), t1);
        assert_eq!(c.poll_timeout(), Some(t1 + IDLE), "{f:?}: the deadline is cancelled, idle re-armed");
        c.handle_timeout(t0 + IDLE + PONG);
        assert!(poll_events(&mut c, t0 + IDLE + PONG).is_empty());
        assert_eq!(c.state(), State::Open);
    }
});

both_roles!(
    client_keepalive_without_pong_timeout_keeps_pinging,
    server_keepalive_without_pong_timeout_keeps_pinging,
    |role| {
        let cfg = Config::default().keep_alive(Some(IDLE), None);
        let t0 = Instant::now();
        let mut c = new_conn(role, &cfg, t0);
        for i in 1..=3u32 {
            assert_eq!(c.poll_timeout(), Some(t0 + IDLE * i));
            c.handle_timeout(t0 + IDLE * i);
            assert_frames_sent(&mut c, &[Frame::ping("")], false);
        }
        assert_eq!(c.state(), State::Open);
    }
);

both_roles!(client_poll_timeout_none_when_nothing_armed, server_poll_timeout_none_when_nothing_armed, |role| {
    let t0 = Instant::now();
    let mut c = default_conn(role, t0);
    assert_eq!(c.poll_timeout(), None);
    recv(&mut c, &RawFrame::text("x").to(role), t0);
    c.send_text("y").unwrap();
    assert_eq!(c.poll_timeout(), None);
    // A pong timeout alone arms nothing.
    let cfg = Config::default().keep_alive(None, Some(PONG));
    let mut c = new_conn(role, &cfg, t0);
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t0 + Duration::from_secs(100));
    assert_frames_sent(&mut c, &[], false);
    // Closing arms the close timer; closing stops keepalive.
    let mut c = new_conn(role, &keepalive_config(), t0);
    c.close(None, t0).unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
});

both_roles!(client_spurious_handle_timeout_is_a_no_op, server_spurious_handle_timeout_is_a_no_op, |role| {
    let t0 = Instant::now();
    for cfg in [Config::default(), keepalive_config()] {
        let mut c = new_conn(role, &cfg, t0);
        let deadline = c.poll_timeout();
        for ms in [0, 1, 500, 9_999] {
            let t = t0 + Duration::from_millis(ms);
            c.handle_timeout(t);
            assert!(poll_events(&mut c, t).is_empty());
            assert!(c.poll_transmit().is_none());
            assert_eq!(c.poll_timeout(), deadline);
            assert_eq!(c.state(), State::Open);
        }
        // Called twice at the deadline: one ping.
        if let Some(d) = deadline {
            c.handle_timeout(d);
            c.handle_timeout(d);
            assert_frames_sent(&mut c, &[Frame::ping("")], false);
        }
    }
    // A stale deadline after closing does not fire anything else.
    let mut c = new_conn(role, &keepalive_config(), t0);
    c.close(None, t0).unwrap();
    c.handle_timeout(t0 + IDLE);
    assert!(poll_events(&mut c, t0 + IDLE).is_empty());
    assert_frames_sent(&mut c, &[Frame::close_empty()], false);
});

#[test]
fn time_only_moves_through_advance_time() {
    // With nothing armed a pair has no next deadline.
    let mut p = Pair::default();
    assert_eq!(p.advance_time(), None);
    p.advance_by(Duration::from_secs(60));
    assert_eq!(p.elapsed(), Duration::from_secs(60));
    assert!(p.events(Side::Client).is_empty() && p.events(Side::Server).is_empty());
}
