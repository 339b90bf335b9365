//! Fuzz harness bodies: each takes arbitrary bytes, drives ws-proto, and asserts invariants
//! that must hold for any input (no panic, bounded buffering, `Closed` at most once, ...).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_proto::frame::{FrameHeader, MAX_HEADER_LEN};
use ws_proto::{
    accept_key, Buf, ClientHandshake, ClientOutcome, ClientRequest, Config, Connection, Event, Negotiated, Role,
    ServerHandshake, ServerOptions, Utf8Validator,
};

/// Deterministic entropy: fuzz runs must be reproducible.
fn counter_entropy() -> Box<dyn ws_proto::Entropy> {
    let mut n = 0u8;
    Box::new(move |d: &mut [u8]| {
        for b in d {
            n = n.wrapping_add(1);
            *b = n;
        }
    })
}

/// Parse a header; whatever parses must encode and parse back to itself.
pub fn frame_header(data: &[u8]) {
    if let Ok(Some((h, n))) = FrameHeader::parse(data) {
        assert!((2..=MAX_HEADER_LEN).contains(&n));
        let mut out = [0u8; MAX_HEADER_LEN];
        let m = h.encode_into(&mut out);
        assert!(m <= n, "shortest encoding is never longer than the parsed one");
        assert_eq!(FrameHeader::parse(&out[..m]), Ok(Some((h, m))));
    }
}

/// First byte picks the configuration, second the chunk size; the rest is the peer's bytes.
fn connection(role: Role, data: &[u8]) {
    let (flags, chunk, body) = match data {
        [f, c, rest @ ..] => (*f, usize::from(*c).max(1), rest),
        _ => return,
    };
    let mut config = Config::default()
        .deliver_fragments(flags & 1 != 0)
        .auto_pong(flags & 2 == 0)
        .max_message_size(Some(if flags & 4 != 0 { 64 } else { 1 << 16 }))
        .max_fragments(Some(if flags & 8 != 0 { 3 } else { 1000 }))
        .max_buffered_input(if flags & 16 != 0 { 32 } else { 4096 })
        .accept_unmasked_frames(flags & 32 != 0)
        .keep_alive(Some(Duration::from_millis(50)), Some(Duration::from_millis(20)));
    let cap_floor = if flags & 16 != 0 { 32 } else { 4096 };
    let max_message = if flags & 4 != 0 { 64 } else { 1 << 16 };
    let start = Instant::now();
    let mut now = start;
    let entropy = (role == Role::Client).then(counter_entropy);
    // Bit 6 negotiates permessage-deflate (bit 7: no context takeover), so RSV1 frames reach
    // the inflater: the bounded-inflate invariants below then cover compressed input too.
    let mut negotiated = Negotiated::default();
    if flags & 64 != 0 {
        let takeover = flags & 128 == 0;
        negotiated.deflate = Some(ws_proto::DeflateParams {
            server_no_context_takeover: !takeover,
            client_no_context_takeover: !takeover,
            server_max_window_bits: None,
            client_max_window_bits: None,
        });
        config = config.permessage_deflate(Some(ws_proto::DeflateConfig::default()));
    }
    let mut conn = Connection::new(role, Arc::new(config), negotiated, entropy, now);
    let mut closed = 0;
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        if pos < body.len() && conn.wants_read() {
            let end = (pos + chunk).min(body.len());
            let slot = conn.recv_slot(end - pos);
            slot[..end - pos].copy_from_slice(&body[pos..end]);
            conn.commit_received(end - pos);
            pos = end;
        } else if pos >= body.len() {
            conn.receive_eof();
        }
        let stalled_before = pos < body.len() && !conn.wants_read();
        let mut progressed = false;
        while let Some(ev) = conn.poll_event(now) {
            progressed = true;
            assert_eq!(closed, 0, "no event after Closed");
            match ev {
                Event::Closed(_) => closed += 1,
                Event::Message(m) => assert!(m.len() <= max_message),
                Event::Fragment(f) => assert!(f.data.len() <= max_message),
                Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= 125),
                _ => {}
            }
        }
        // Unparsed input stays bounded by the cap or by what the current frame needs (which the
        // limits bound), plus at most one read.
        assert!(!stalled_before || progressed || conn.wants_read(), "input cap reached but nothing to parse");
        assert!(conn.buffered_input() <= cap_floor.max(max_message).max(125) + chunk);
        out.clear();
        conn.transmit_into(&mut out);
        now += Duration::from_millis(7);
        conn.handle_timeout(now);
        if conn.is_terminated() || (pos >= body.len() && !progressed && closed > 0) {
            break;
        }
        if pos >= body.len() && !progressed && !conn.wants_write() {
            // EOF was delivered; the next poll reports Closed, then we stop.
            if closed > 0 || now > start + Duration::from_secs(120) {
                break;
            }
        }
    }
    assert!(closed <= 1);
}

/// Arbitrary bytes into a server connection.
pub fn decoder_server(data: &[u8]) {
    connection(Role::Server, data);
}

/// Arbitrary bytes into a client connection.
pub fn decoder_client(data: &[u8]) {
    connection(Role::Client, data);
}

/// The incremental validator agrees with std under the chunking the first byte picks.
pub fn utf8(data: &[u8]) {
    let Some((&split, body)) = data.split_first() else { return };
    let step = usize::from(split % 7) + 1;
    let mut v = Utf8Validator::new();
    let mut ok = true;
    for c in body.chunks(step) {
        if v.feed(c).is_err() {
            ok = false;
            break;
        }
    }
    let ours = ok && v.is_complete();
    assert_eq!(ours, std::str::from_utf8(body).is_ok());
}

fn handshake_config() -> Arc<Config> {
    let c = Config::default().max_handshake_size(2048).max_headers(32).max_rejection_body(256);
    Arc::new(c)
}

/// Drains a fresh connection's events, checking `Closed` comes at most once and last.
fn drain_connection(conn: &mut Connection, now: Instant) {
    let mut closed = 0;
    while let Some(ev) = conn.poll_event(now) {
        assert_eq!(closed, 0, "no event after Closed");
        if matches!(ev, Event::Closed(_)) {
            closed += 1;
        }
    }
}

/// Arbitrary bytes as a client's opening handshake, fed in chunks the first byte picks.
pub fn handshake_request(data: &[u8]) {
    let Some((&split, body)) = data.split_first() else { return };
    let step = usize::from(split % 17) + 1;
    let now = Instant::now();
    let mut hs = ServerHandshake::new(handshake_config(), Arc::new(ServerOptions::default()), now);
    let mut outcome = None;
    for chunk in body.chunks(step) {
        hs.receive(chunk);
        match hs.poll_request() {
            Ok(None) => continue,
            other => {
                outcome = Some(other);
                break;
            }
        }
    }
    let outcome = match outcome {
        Some(o) => o,
        None => {
            hs.receive_eof();
            match hs.poll_request() {
                Ok(None) => panic!("EOF must end the handshake"),
                o => o,
            }
        }
    };
    match outcome {
        Ok(Some(req)) => match req.negotiate() {
            Ok(accept) => {
                let mut conn = req.accept(accept, now);
                let mut out = Vec::new();
                conn.transmit_into(&mut out);
                assert!(out.starts_with(b"HTTP/1.1 101 "), "accept writes a 101 first");
                drain_connection(&mut conn, now);
            }
            Err(rejection) => assert!(rejection.bytes().starts_with(b"HTTP/1.1 ")),
        },
        Ok(None) => unreachable!(),
        Err(rejection) => {
            let status = rejection.status().as_u16();
            assert!((400..600).contains(&status), "rejections are errors: {status}");
        }
    }
}

/// Arbitrary bytes as a server's handshake response. The text `ACCEPT` is replaced by the right
/// accept key so the fuzzer reaches the accepted path too.
pub fn handshake_response(data: &[u8]) {
    let Some((&split, body)) = data.split_first() else { return };
    let step = usize::from(split % 17) + 1;
    let now = Instant::now();
    let req = ClientRequest::new("example.com", "/chat");
    let Ok(mut hs) = ClientHandshake::new(req, handshake_config(), counter_entropy(), now) else { return };
    let mut head = Vec::new();
    while let Some(t) = hs.poll_transmit() {
        match t {
            ws_proto::Transmit::Data(mut b) => {
                while b.has_remaining() {
                    let c = b.chunk();
                    head.extend_from_slice(c);
                    let n = c.len();
                    b.advance(n);
                }
            }
            ws_proto::Transmit::Shutdown => break,
        }
    }
    assert!(head.starts_with(b"GET /chat HTTP/1.1\r\n"));
    let accept = accept_key(hs.key().as_bytes());
    let body = replace(body, b"ACCEPT", accept.as_bytes());
    let mut result = Ok(None);
    for chunk in body.chunks(step) {
        hs.receive(chunk);
        result = hs.poll_outcome(now);
        if !matches!(result, Ok(None)) {
            break;
        }
    }
    if matches!(result, Ok(None)) {
        hs.receive_eof();
        result = hs.poll_outcome(now);
        assert!(!matches!(result, Ok(None)), "EOF must end the handshake");
    }
    match result {
        Ok(Some(ClientOutcome::Accepted { response, mut connection })) => {
            assert_eq!(response.status(), 101);
            drain_connection(&mut connection, now);
        }
        Ok(Some(ClientOutcome::Rejected { response, body })) => {
            assert_ne!(response.status(), 101);
            assert!(body.len() <= 256, "rejection body is capped");
        }
        Ok(None) => unreachable!(),
        Err(_) => {}
    }
}

fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}
