//! Fuzz harness bodies: each takes arbitrary bytes, drives ws-proto, and asserts invariants
//! that must hold for any input (no panic, bounded buffering, `Closed` at most once, ...).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_proto::frame::{FrameHeader, MAX_HEADER_LEN};
use ws_proto::{
    accept_key, Buf, ClientHandshake, ClientOutcome, ClientRequest, Config, Connection, Event, Negotiated, Rejection,
    Role, ServerHandshake, ServerOptions, UpgradeRequest, Utf8Validator,
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

/// The incremental validator against std, under chunking the first byte picks (empty chunks
/// included): after every `feed`, `Ok` iff the bytes so far are valid or a valid prefix (an
/// incomplete last sequence), `Err` as soon as they are not (fail-fast, at the chunk that makes
/// them invalid), `is_complete` iff they are valid; at the end it agrees with
/// `std::str::from_utf8`, and so does `Utf8Bytes::try_from`. After `reset`, the validator
/// starts afresh.
pub fn utf8(data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else { return };
    let mut v = Utf8Validator::new();
    let mut fed = 0;
    let mut state = u32::from(seed) | 1;
    let mut failed = false;
    while fed < body.len() {
        // Chunk sizes 0..=8 from a small generator, so boundaries fall everywhere.
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = ((state >> 16) % 9) as usize;
        let end = (fed + n).min(body.len());
        let r = v.feed(&body[fed..end]);
        fed = end;
        let std = std::str::from_utf8(&body[..fed]);
        match r {
            Ok(()) => {
                assert!(std.as_ref().map_or_else(|e| e.error_len().is_none(), |_| true), "accepted invalid UTF-8");
                assert_eq!(v.is_complete(), std.is_ok(), "is_complete disagrees with std");
            }
            Err(_) => {
                assert!(std.is_err_and(|e| e.error_len().is_some()), "rejected a valid prefix");
                failed = true;
                break;
            }
        }
    }
    let whole = std::str::from_utf8(body).is_ok();
    assert_eq!(!failed && v.is_complete(), whole);
    assert_eq!(ws_proto::Utf8Bytes::try_from(body.to_vec()).is_ok(), whole);
    v.reset();
    assert!(v.feed("h\u{e9}llo \u{1F600}".as_bytes()).is_ok() && v.is_complete(), "reset starts afresh");
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

// ------------------------------------------------------------------ handshake header lists

/// A valid upgrade request with `extra` header lines (`name: value\r\n` each) before the end.
fn upgrade_request(extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut r = b"GET /chat HTTP/1.1\r\nHost: a.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        .to_vec();
    for (name, value) in extra {
        r.extend_from_slice(name.as_bytes());
        r.extend_from_slice(b": ");
        r.extend_from_slice(value);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r
}

/// Runs a server handshake on `request`, fed whole.
fn server_request(request: &[u8], options: ServerOptions, now: Instant) -> Result<UpgradeRequest, Rejection> {
    let mut hs = ServerHandshake::new(handshake_config(), Arc::new(options), now);
    hs.receive(request);
    match hs.poll_request() {
        Ok(Some(req)) => Ok(req),
        Ok(None) => {
            hs.receive_eof();
            match hs.poll_request() {
                Ok(Some(req)) => Ok(req),
                Ok(None) => panic!("a complete head must end the handshake"),
                Err(r) => Err(r),
            }
        }
        Err(r) => Err(r),
    }
}

/// Header values: the input split at `\n` (several fields of the same name), without `\r` so
/// that every line stays one field.
fn header_values(body: &[u8]) -> Vec<Vec<u8>> {
    body.split(|&b| b == b'\n').take(4).map(|v| v.iter().copied().filter(|&b| b != b'\r').collect()).collect()
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Everything a client handshake wants to write (its request head).
fn drain_head(hs: &mut ClientHandshake) -> Vec<u8> {
    let mut head = Vec::new();
    while let Some(ws_proto::Transmit::Data(mut b)) = hs.poll_transmit() {
        while b.has_remaining() {
            let c = b.chunk();
            head.extend_from_slice(c);
            let n = c.len();
            b.advance(n);
        }
    }
    head
}

/// Runs a client handshake offering `config`'s deflate settings and `protocols`, answered by a
/// `101` carrying `extra` header lines.
fn client_response(
    config: Config,
    protocols: &[&str],
    extra: &[(&str, &[u8])],
    now: Instant,
) -> Result<Connection, ws_proto::HandshakeError> {
    let mut req = ClientRequest::new("a.example", "/chat");
    for p in protocols {
        req = req.subprotocol(p);
    }
    let mut hs = ClientHandshake::new(req, Arc::new(config), counter_entropy(), now).expect("valid request");
    drain_head(&mut hs);
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(hs.key().as_bytes())
    )
    .into_bytes();
    for (name, value) in extra {
        response.extend_from_slice(name.as_bytes());
        response.extend_from_slice(b": ");
        response.extend_from_slice(value);
        response.extend_from_slice(b"\r\n");
    }
    response.extend_from_slice(b"\r\n");
    hs.receive(&response);
    match hs.poll_outcome(now)? {
        Some(ClientOutcome::Accepted { response, connection }) => {
            assert_eq!(response.status(), 101);
            Ok(connection)
        }
        Some(ClientOutcome::Rejected { .. }) => panic!("a 101 is never a rejection"),
        None => panic!("a complete head must end the handshake"),
    }
}

/// Sends compressible messages both ways between two connected endpoints and checks they
/// arrive intact: negotiated parameters must work end to end.
fn exchange(client: &mut Connection, server: &mut Connection, now: Instant) {
    let mut to_client = Vec::new();
    server.transmit_into(&mut to_client);
    // A server accepted through the handshake writes its 101 first.
    if to_client.starts_with(b"HTTP/1.1 101") {
        let end = to_client.windows(4).position(|w| w == b"\r\n\r\n").expect("end of head") + 4;
        to_client.drain(..end);
    }
    assert!(to_client.is_empty(), "nothing but the 101 before any send");
    let text: String = (0..3000).map(|i| char::from(b'a' + (i * 7 % 13) as u8)).collect();
    for round in 0..3 {
        let msg = format!("{round}{text}");
        send_one(client, server, &msg, now);
        send_one(server, client, &msg, now);
    }
}

fn send_one(from: &mut Connection, to: &mut Connection, msg: &str, now: Instant) {
    from.send_text(msg.to_owned()).expect("send");
    let mut wire = Vec::new();
    from.transmit_into(&mut wire);
    to.receive(&wire);
    match to.poll_event(now) {
        Some(Event::Message(ws_proto::Message::Text(t))) => {
            assert!(t.as_str() == msg, "message changed on the way");
        }
        other => panic!("expected the message, got {other:?} (negotiated {:?})", to.negotiated()),
    }
    let mut echo = Vec::new();
    to.transmit_into(&mut echo);
    assert!(echo.is_empty(), "unexpected output");
}

/// Deflate settings chosen by `b`, with the backend chosen by `b >> 5` among those compiled.
fn deflate_config(b: u8) -> Option<ws_proto::DeflateConfig> {
    let backends = ws_proto::Backend::available();
    if backends.is_empty() {
        return None;
    }
    let bits = |v: u8| (v & 1 != 0).then_some(8 + (v >> 1) % 8);
    Some(
        ws_proto::DeflateConfig::default()
            .backend(backends[usize::from(b >> 5) % backends.len()])
            .server_no_context_takeover(b & 1 != 0)
            .client_no_context_takeover(b & 2 != 0)
            .server_max_window_bits(bits((b >> 2) & 0x0f))
            .client_max_window_bits(bits((b >> 3) & 0x0f))
            .threshold(0),
    )
}

/// `Sec-WebSocket-Extensions` parsing and permessage-deflate negotiation, both roles. The
/// first byte picks the server's settings, the second the client's; the rest is the header
/// (several fields split at `\n`).
///
/// Server: offers parse into tokens (quoted values unescaped), a canonical re-serialization
/// parses back to the same offers, a malformed list is a 4xx, and whatever is agreed works: a
/// client and the accepted server exchange compressed messages intact. Client: an accepted
/// response never exceeds the offer (tables of RFC 7692 §7.1), and the agreed parameters work
/// end to end too.
pub fn extensions(data: &[u8]) {
    let [server_sel, client_sel, body @ ..] = data else { return };
    let values = header_values(body);
    let fields: Vec<(&str, &[u8])> = values.iter().map(|v| ("Sec-WebSocket-Extensions", v.as_slice())).collect();
    let now = Instant::now();
    let server_cfg = deflate_config(*server_sel);
    let options = ServerOptions::default().per_message_deflate(server_cfg.clone());
    let request = upgrade_request(&fields);
    match server_request(&request, options.clone(), now) {
        Ok(req) => {
            let offers = req.extension_offers().to_vec();
            let mut canonical = Vec::new();
            for o in &offers {
                assert!(is_token(&o.name), "extension name {:?}", o.name);
                let mut s = o.name.clone();
                for (n, v) in &o.params {
                    assert!(is_token(n), "parameter name {n:?}");
                    s.push_str("; ");
                    s.push_str(n);
                    if let Some(v) = v {
                        assert!(is_token(v), "parameter value {v:?}");
                        s.push('=');
                        // Quoted or not, at random: both forms must parse the same.
                        if v.len() % 2 == 0 {
                            s.push_str(v);
                        } else {
                            s.push('"');
                            s.push_str(v);
                            s.push('"');
                        }
                    }
                }
                canonical.push(s);
            }
            if !canonical.is_empty() {
                let joined = canonical.join(", ");
                let again_request = upgrade_request(&[("Sec-WebSocket-Extensions", joined.as_bytes())]);
                match server_request(&again_request, options, now) {
                    Ok(again) => assert_eq!(again.extension_offers(), offers.as_slice(), "canonical form {joined:?}"),
                    // The canonical form adds spaces and quotes the request may not have had:
                    // past the head limit, refusing it is the limit working (found by the
                    // fuzzer: corpus/extensions/canonical-over-head-limit).
                    Err(r)
                        if r.error == Some(ws_proto::HandshakeError::HeadTooLarge)
                            && again_request.len() > request.len() => {}
                    Err(r) => panic!("canonical form {joined:?} refused: {:?}", r.error),
                }
            }
            match req.negotiate() {
                Ok(accept) => {
                    let params = accept.deflate().cloned();
                    if let Some(p) = &params {
                        assert!(server_cfg.is_some(), "deflate agreed without being configured");
                        for b in [p.server_max_window_bits, p.client_max_window_bits].into_iter().flatten() {
                            assert!((8..=15).contains(&b), "window bits {b}");
                        }
                    }
                    let mut server = req.accept(accept, now);
                    assert_eq!(server.negotiated().deflate, params);
                    let client_cfg = Config::default().permessage_deflate(server_cfg.clone());
                    let negotiated = Negotiated { deflate: params, ..Negotiated::default() };
                    let mut client =
                        Connection::new(Role::Client, Arc::new(client_cfg), negotiated, Some(counter_entropy()), now);
                    exchange(&mut client, &mut server, now);
                }
                Err(rejection) => {
                    let status = rejection.status().as_u16();
                    assert!((400..500).contains(&status), "a bad offer is a client error: {status}");
                }
            }
        }
        Err(rejection) => {
            let status = rejection.status().as_u16();
            assert!((400..500).contains(&status), "a bad header is a client error: {status}");
        }
    }

    // Client: the same values as the server's response.
    let Some(offer) = deflate_config(*client_sel) else { return };
    let config = Config::default().permessage_deflate(Some(offer.clone()));
    let Ok(mut client) = client_response(config, &[], &fields, now) else { return };
    let params = client.negotiated().deflate;
    if let Some(p) = &params {
        let m = offer.get_backend().expect("backend").min_window_bits();
        if offer.get_server_no_context_takeover() {
            assert!(p.server_no_context_takeover, "server_no_context_takeover offered, not agreed: {p:?}");
        }
        if let Some(n) = offer.get_server_max_window_bits() {
            assert!(p.server_max_window_bits.is_some_and(|v| v <= n), "server window over the offer: {p:?}");
        }
        if let Some(v) = p.client_max_window_bits {
            assert!(v >= m, "client window below what the backend compresses with: {p:?}");
            assert!(
                v <= offer.get_client_max_window_bits().unwrap_or(15).max(m),
                "client window over the offer: {p:?}"
            );
        }
    }
    let server_cfg = Config::default().permessage_deflate(Some(ws_proto::DeflateConfig::default()));
    let negotiated = Negotiated { deflate: params, ..Negotiated::default() };
    let mut server = Connection::new(Role::Server, Arc::new(server_cfg), negotiated, None, now);
    exchange(&mut client, &mut server, now);
}

/// The subprotocols a side supports, chosen by a byte.
fn protocol_list(b: u8) -> Vec<&'static str> {
    const ALL: [&str; 5] = ["chat", "superchat", "v2.json", "a", "Chat"];
    ALL.iter().enumerate().filter(|(i, _)| b & (1 << i) != 0).map(|(_, p)| *p).collect()
}

/// `Sec-WebSocket-Protocol` parsing and selection, both roles. The first byte picks the
/// server's supported list, the second the client's offers; the rest is the header (several
/// fields split at `\n`).
///
/// Server: offers are unique tokens, the comma-joined list parses back to the same, and the
/// chosen protocol is one the client offered and the server supports. Client: the protocol
/// accepted from a `101` is one it offered, exactly as the server wrote it (trimmed).
pub fn subprotocols(data: &[u8]) {
    let [server_sel, client_sel, body @ ..] = data else { return };
    let values = header_values(body);
    let fields: Vec<(&str, &[u8])> = values.iter().map(|v| ("Sec-WebSocket-Protocol", v.as_slice())).collect();
    let now = Instant::now();
    let supported = protocol_list(*server_sel);
    let options = if server_sel & 0x80 != 0 {
        ServerOptions::default()
    } else {
        ServerOptions::default().subprotocols(supported.clone())
    };
    let request = upgrade_request(&fields);
    match server_request(&request, options.clone(), now) {
        Ok(req) => {
            let offered: Vec<String> = req.subprotocols().map(str::to_owned).collect();
            for (i, p) in offered.iter().enumerate() {
                assert!(is_token(p), "offer {p:?}");
                assert!(!offered[..i].contains(p), "offer {p:?} twice");
            }
            if !offered.is_empty() {
                let joined = offered.join(" ,\t");
                let again_request = upgrade_request(&[("Sec-WebSocket-Protocol", joined.as_bytes())]);
                match server_request(&again_request, options, now) {
                    Ok(again) => assert!(again.subprotocols().eq(offered.iter().map(String::as_str)), "{joined:?}"),
                    // The re-joined list spends three bytes per separator where the request
                    // may have used one: past the head limit, refusing it is the limit working
                    // (found by the fuzzer: corpus/subprotocols/rejoined-over-head-limit).
                    Err(r)
                        if r.error == Some(ws_proto::HandshakeError::HeadTooLarge)
                            && again_request.len() > request.len() => {}
                    Err(r) => panic!("{joined:?} refused: {:?}", r.error),
                }
            }
            let accept = req.negotiate().expect("no policy that refuses");
            let chosen = accept.subprotocol.clone();
            if let Some(p) = &chosen {
                assert!(offered.contains(p), "chose {p:?}, not offered");
                assert!(server_sel & 0x80 != 0 || supported.contains(&p.as_str()), "chose {p:?}, not supported");
            } else {
                if server_sel & 0x80 != 0 {
                    assert!(offered.is_empty(), "no choice although any offer would do");
                } else {
                    assert!(!offered.iter().any(|p| supported.contains(&p.as_str())), "a supported offer was ignored");
                }
            }
            let conn = req.accept(accept, now);
            assert_eq!(conn.negotiated().subprotocol, chosen);
        }
        Err(rejection) => {
            let status = rejection.status().as_u16();
            assert!((400..500).contains(&status), "a bad header is a client error: {status}");
        }
    }

    let offers = protocol_list(*client_sel);
    if let Ok(conn) = client_response(Config::default(), &offers, &fields, now) {
        match &conn.negotiated().subprotocol {
            Some(p) => {
                assert!(offers.contains(&p.as_str()), "accepted {p:?}, not offered");
                assert_eq!(values.len(), 1, "one field");
                let trimmed = String::from_utf8_lossy(&values[0]);
                assert_eq!(trimmed.trim_matches([' ', '\t']), p, "accepted something else than sent");
            }
            None => assert!(values.is_empty(), "a protocol header was ignored"),
        }
    }
}

// ------------------------------------------------------------------ inflate

/// What one connection made of the compressed messages: the messages (fragments assembled),
/// and the error that ended it, if any.
#[derive(Debug, PartialEq)]
struct Inflated {
    messages: Vec<(ws_proto::MessageKind, Vec<u8>)>,
    error: Option<ws_proto::ProtocolError>,
}

/// Unmasked frames: each message's bytes as the payload of `frames` frames, RSV1 on the first
/// one unless the message goes uncompressed.
fn deflate_frames(messages: &[(&[u8], bool)], text: bool, frames: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    for (payload, compressed) in messages {
        let n = frames.min(payload.len().max(1));
        let step = payload.len().div_ceil(n).max(1);
        let mut parts: Vec<&[u8]> = payload.chunks(step).collect();
        if parts.is_empty() {
            parts.push(&[]);
        }
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            let opcode = match (i, text) {
                (0, true) => ws_proto::frame::OpCode::Text,
                (0, false) => ws_proto::frame::OpCode::Binary,
                _ => ws_proto::frame::OpCode::Continuation,
            };
            let h = FrameHeader {
                fin: i == last,
                rsv1: i == 0 && *compressed,
                rsv2: false,
                rsv3: false,
                opcode,
                mask: None,
                len: part.len() as u64,
            };
            let mut hb = [0u8; MAX_HEADER_LEN];
            let m = h.encode_into(&mut hb);
            wire.extend_from_slice(&hb[..m]);
            wire.extend_from_slice(part);
        }
    }
    wire
}

/// Feeds `wire` to a client connection that negotiated permessage-deflate with `backend`.
fn inflate_with(backend: ws_proto::Backend, wire: &[u8], max: usize, fragments: bool, takeover: bool) -> Inflated {
    let now = Instant::now();
    let local = ws_proto::DeflateConfig::default().backend(backend);
    let config = Config::default()
        .max_message_size(Some(max))
        .deliver_fragments(fragments)
        .max_buffered_input(1024)
        .permessage_deflate(Some(local));
    let params = ws_proto::DeflateParams {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: None,
    };
    let negotiated = Negotiated { deflate: Some(params), ..Negotiated::default() };
    let mut conn = Connection::new(Role::Client, Arc::new(config), negotiated, Some(counter_entropy()), now);
    let mut out = Inflated { messages: Vec::new(), error: None };
    let mut partial: Option<(ws_proto::MessageKind, Vec<u8>)> = None;
    let mut closed = 0;
    let mut pos = 0;
    let mut eof = false;
    loop {
        if pos < wire.len() && conn.wants_read() {
            let end = (pos + 700).min(wire.len());
            conn.receive(&wire[pos..end]);
            pos = end;
        } else if pos >= wire.len() && !eof {
            conn.receive_eof();
            eof = true;
        }
        let mut progressed = false;
        while let Some(ev) = conn.poll_event(now) {
            progressed = true;
            assert_eq!(closed, 0, "no event after Closed");
            match ev {
                Event::Message(m) => {
                    assert!(m.len() <= max, "inflated message over the limit: {} > {max}", m.len());
                    out.messages.push((m.kind(), m.as_bytes().to_vec()));
                }
                Event::Fragment(f) => {
                    assert!(f.data.len() <= max, "fragment of {} bytes over the limit {max}", f.data.len());
                    let (kind, mut data) = partial.take().unwrap_or((f.kind, Vec::new()));
                    assert_eq!(kind, f.kind);
                    data.extend_from_slice(&f.data);
                    assert!(data.len() <= max, "inflated message over the limit: {} > {max}", data.len());
                    if f.fin {
                        out.messages.push((kind, data));
                    } else {
                        partial = Some((kind, data));
                    }
                }
                Event::Closed(info) => {
                    closed += 1;
                    match info.error {
                        Some(ws_proto::Error::Protocol(e)) => {
                            let code = e.close_code().as_u16();
                            assert!(matches!(code, 1002 | 1007 | 1008 | 1009), "{e:?} closes with {code}");
                            assert_eq!(info.sent.as_ref().map(|f| f.code.as_u16()), Some(code));
                            out.error = Some(e);
                        }
                        Some(ws_proto::Error::UnexpectedEof) => {}
                        other => panic!("unexpected end {other:?}"),
                    }
                }
                _ => {}
            }
        }
        if closed > 0 {
            break;
        }
        if !progressed {
            assert!(pos >= wire.len() || conn.wants_read(), "stalled with input left");
            assert!(!eof || pos < wire.len(), "EOF did not end the connection");
        }
    }
    // The only output: one close frame with the error's code (a client masks it), nothing else.
    let mut wire_out = Vec::new();
    conn.transmit_into(&mut wire_out);
    match &out.error {
        Some(e) => {
            let (h, n) = FrameHeader::parse(&wire_out).expect("valid").expect("a close frame");
            assert_eq!(h.opcode, ws_proto::frame::OpCode::Close);
            assert_eq!(wire_out.len(), n + h.len as usize, "exactly one frame");
            let mut payload = wire_out[n..].to_vec();
            ws_proto::apply_mask(&mut payload, h.mask.expect("masked"), 0);
            assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), e.close_code().as_u16());
        }
        None => assert!(wire_out.is_empty(), "output without a ping or an error"),
    }
    out
}

/// permessage-deflate inflation with bounded output, on every compiled backend. The first byte
/// picks the message limit (64 B to 128 KiB), context takeover, text or binary, frames per
/// message and whether every other message goes uncompressed; then each message is a length
/// byte (255: the rest of the input) and that many bytes of raw deflate data.
///
/// Checks: no message or fragment (one per frame, inflated) over the limit, errors are clean (one `Closed` with a
/// protocol error closing with 1002/1007/1008/1009, and exactly one close frame with that code
/// sent), fragment delivery and assembled delivery agree, and backends agree on every message
/// both inflate.
pub fn inflate(data: &[u8]) {
    let Some((&flags, mut body)) = data.split_first() else { return };
    let max = [64usize, 1000, 40_000, 1 << 17][usize::from(flags & 3)];
    let takeover = flags & 4 == 0;
    let text = flags & 8 != 0;
    let frames = usize::from((flags >> 4) & 3) + 1;
    let mixed = flags & 64 != 0;
    let mut messages = Vec::new();
    while let Some((&n, rest)) = body.split_first() {
        let n = if n == 255 { rest.len() } else { usize::from(n).min(rest.len()) };
        let compressed = !(mixed && messages.len() % 2 == 1);
        messages.push((&rest[..n], compressed));
        body = &rest[n..];
    }
    let wire = deflate_frames(&messages, text, frames);
    let mut results: Vec<Inflated> = Vec::new();
    for &backend in ws_proto::Backend::available() {
        let assembled = inflate_with(backend, &wire, max, false, takeover);
        let pieces = inflate_with(backend, &wire, max, true, takeover);
        assert_eq!(assembled.messages, pieces.messages, "{backend:?}: fragment delivery differs");
        assert_eq!(
            assembled.error.is_some(),
            pieces.error.is_some(),
            "{backend:?}: {:?} vs {:?}",
            assembled.error,
            pieces.error
        );
        results.push(assembled);
    }
    for pair in results.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let n = a.messages.len().min(b.messages.len());
        assert_eq!(a.messages[..n], b.messages[..n], "backends inflate differently");
        if a.error.is_none() && b.error.is_none() {
            assert_eq!(a.messages.len(), b.messages.len(), "backends accept differently");
        }
    }
}

// ------------------------------------------------------------------ HTTP CONNECT proxy

/// Feeds `body` to a tunnel in chunks of `step`; the results of every call.
fn run_tunnel(
    mut t: ws_proto::ProxyTunnel,
    body: &[u8],
    step: usize,
) -> Result<ws_proto::ProxyStatus, ws_proto::ProxyError> {
    let mut result = Ok(ws_proto::ProxyStatus::NeedMore);
    for chunk in body.chunks(step) {
        result = t.receive(chunk);
        if !matches!(result, Ok(ws_proto::ProxyStatus::NeedMore)) {
            assert!(t.is_finished());
            assert_eq!(t.receive(b"x"), Err(ws_proto::ProxyError::Finished), "input after the end");
            return result;
        }
    }
    assert!(!t.is_finished());
    result
}

/// The HTTP `CONNECT` exchange ([`ws_proto::ProxyTunnel`]). The first byte picks the head
/// limit, the credentials, and whether the first line of the input is the target host; the
/// second the chunk size; the rest is what the proxy answers.
///
/// Checks: the request is one well-formed `CONNECT` head (no header injection through the host
/// or the credentials: it parses completely, with `Host` equal to the request target and nothing
/// else); the outcome does not depend on how the answer is split; it is `Established` exactly
/// when the head ends within the limit with a 2xx status, with every byte after the head as
/// leftover; `Rejected` carries the status; the exchange is over after any outcome; EOF before
/// the end of the head is `UnexpectedEof`.
pub fn proxy(data: &[u8]) {
    let [sel, step, rest @ ..] = data else { return };
    let (host, body) = if sel & 1 != 0 {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
        (String::from_utf8_lossy(line).into_owned(), rest.get(line.len() + 1..).unwrap_or_default())
    } else {
        ("a.example".to_owned(), rest)
    };
    let authorization = match (sel >> 1) & 3 {
        0 => None,
        1 => Some("Basic dXNlcjpwdw==".to_owned()),
        _ => Some(String::from_utf8_lossy(body.get(..usize::from(*step % 16)).unwrap_or_default()).into_owned()),
    };
    let max_head = [32usize, 300, 16 * 1024][usize::from(sel >> 3) % 3];
    let port = u16::from(*step) * 257;
    let proxy = ws_proto::HttpProxy { host: "p.example".into(), port: 3128, authorization: authorization.clone() };
    let make = || ws_proto::ProxyTunnel::new(&proxy, &host, port, max_head);
    let tunnel = match make() {
        Ok(t) => t,
        Err(ws_proto::ProxyError::InvalidTarget(_)) => return,
        Err(e) => panic!("new: {e:?}"),
    };
    // The request: one complete head, CONNECT authority, Host = authority, and the credentials.
    let request = tunnel.request().to_vec();
    let mut slots = [httparse::EMPTY_HEADER; 8];
    let mut req = httparse::Request::new(&mut slots);
    assert_eq!(
        req.parse(&request),
        Ok(httparse::Status::Complete(request.len())),
        "{:?}",
        String::from_utf8_lossy(&request)
    );
    assert_eq!(req.method, Some("CONNECT"));
    let target = req.path.expect("target");
    assert!(target.ends_with(&format!(":{port}")), "{target}");
    let expected_headers = 1 + usize::from(authorization.is_some());
    assert_eq!(req.headers.len(), expected_headers, "{:?}", String::from_utf8_lossy(&request));
    assert!(req.headers[0].name.eq_ignore_ascii_case("host") && req.headers[0].value == target.as_bytes());
    if let Some(a) = &authorization {
        assert!(req.headers[1].name.eq_ignore_ascii_case("proxy-authorization"));
        // HTTP trims optional whitespace around a field value.
        assert_eq!(req.headers[1].value, a.trim_matches([' ', '\t']).as_bytes());
    }

    let step = usize::from(*step).max(1);
    let whole = run_tunnel(make().expect("tunnel"), body, body.len().max(1));
    let chunked = run_tunnel(tunnel, body, step);
    // Fed whole, the outcome is reached at the end of the input; fed in chunks it may be
    // reached earlier, with less leftover: compare outcomes, and leftovers via the model below.
    let end =
        body.get(..body.len().min(max_head)).and_then(|b| b.windows(4).position(|w| w == b"\r\n\r\n")).map(|i| i + 4);
    for (result, fed_whole) in [(&whole, true), (&chunked, false)] {
        match result {
            Ok(ws_proto::ProxyStatus::Established { leftover }) => {
                let end = end.expect("established without the end of the head");
                let mut slots = [httparse::EMPTY_HEADER; ws_proto::MAX_PROXY_HEADERS];
                let mut resp = httparse::Response::new(&mut slots);
                assert!(matches!(resp.parse(&body[..end]), Ok(httparse::Status::Complete(_))));
                assert!((200..300).contains(&resp.code.expect("code")), "established with {:?}", resp.code);
                // The leftover is everything fed after the head.
                let fed = if fed_whole { body.len() } else { (end.div_ceil(step) * step).min(body.len()) };
                assert_eq!(&leftover[..], &body[end..fed], "leftover");
            }
            Ok(ws_proto::ProxyStatus::NeedMore) => {
                assert!(end.is_none() && body.len() < max_head, "head complete or too large, yet NeedMore");
            }
            Err(ws_proto::ProxyError::Rejected { status, .. }) => {
                let end = end.expect("rejected without the end of the head");
                let mut slots = [httparse::EMPTY_HEADER; ws_proto::MAX_PROXY_HEADERS];
                let mut resp = httparse::Response::new(&mut slots);
                assert!(matches!(resp.parse(&body[..end]), Ok(httparse::Status::Complete(_))));
                assert_eq!(resp.code, Some(status.as_u16()));
                assert!(!status.is_success());
            }
            Err(ws_proto::ProxyError::HeadTooLarge { max }) => {
                assert_eq!(*max, max_head);
                assert!(end.is_none() && body.len() >= max_head, "head too large although it ends in time");
            }
            Err(ws_proto::ProxyError::Malformed(_)) => assert!(end.is_some(), "malformed before the end of the head"),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    match (&whole, &chunked) {
        (Ok(ws_proto::ProxyStatus::Established { .. }), Ok(ws_proto::ProxyStatus::Established { .. })) => {}
        (a, b) => assert_eq!(a, b, "the outcome depends on the split"),
    }
    if matches!(chunked, Ok(ws_proto::ProxyStatus::NeedMore)) {
        let mut t = make().expect("tunnel");
        let _ = t.receive(body);
        assert_eq!(t.receive_eof(), Err(ws_proto::ProxyError::UnexpectedEof));
        assert_eq!(t.receive_eof(), Err(ws_proto::ProxyError::Finished));
    }
}

// ------------------------------------------------------------------ URLs and redirects

/// The request head a target's [`ClientRequest`] makes: it must parse as one `GET` head whose
/// target and `Host` are the request's; returns whether it carries `Authorization`.
#[cfg(feature = "url")]
fn check_request(req: &ClientRequest) -> bool {
    let mut hs = ClientHandshake::new(req.clone(), handshake_config(), counter_entropy(), Instant::now())
        .unwrap_or_else(|e| panic!("a parsed target makes an invalid request: {e}"));
    let head = drain_head(&mut hs);
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Request::new(&mut slots);
    assert_eq!(r.parse(&head), Ok(httparse::Status::Complete(head.len())), "{:?}", String::from_utf8_lossy(&head));
    assert_eq!(r.method, Some("GET"));
    assert_eq!(r.path, Some(req.path_and_query()));
    assert!(req.path_and_query().starts_with('/'), "{}", req.path_and_query());
    let hosts: Vec<_> = r.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("host")).collect();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].value, req.authority().as_bytes());
    let auth = r.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("authorization")).count();
    assert!(auth <= 1);
    auth == 1
}

/// Checks a parsed target: a scheme the client can use, no fragment, an endpoint and request
/// that match the URL, and parsing its URL again gives the same.
#[cfg(feature = "url")]
fn check_target(t: &ws_proto::ClientTarget, credentials: bool) {
    let url = &t.url;
    assert!(matches!(url.scheme(), "ws" | "wss" | "ws+unix"), "{url}");
    assert!(url.fragment().is_none(), "{url}");
    match &t.endpoint {
        ws_proto::Endpoint::Tcp { host, port, secure } => {
            assert!(!host.is_empty());
            assert_eq!(*secure, url.scheme() == "wss");
            assert_eq!(Some(*port), url.port_or_known_default().or(Some(if *secure { 443 } else { 80 })));
            assert_eq!(t.request.is_secure(), *secure);
        }
        ws_proto::Endpoint::Unix { path } => {
            assert_eq!(url.scheme(), "ws+unix");
            assert!(!path.is_empty() && path != "/");
            assert_eq!(t.request.authority(), "localhost");
        }
    }
    let has_auth = check_request(&t.request);
    let userinfo = !url.username().is_empty() || url.password().is_some();
    assert_eq!(
        has_auth,
        credentials && userinfo,
        "Authorization iff credentials are kept and there is userinfo ({url})"
    );
    assert_eq!(t.basic_authorization().is_some(), userinfo);
    let again =
        ws_proto::ClientTarget::parse(url.as_str()).unwrap_or_else(|e| panic!("{url} parsed once, not twice: {e}"));
    assert_eq!(&again.url, url);
    assert_eq!(again.endpoint, t.endpoint);
    assert_eq!(again.request.path_and_query(), t.request.path_and_query());
    assert_eq!(again.request.authority(), t.request.authority());
}

/// A URL's password must not appear in an error about it.
#[cfg(feature = "url")]
fn check_redacted(input: &str, shown: &str) {
    let Ok(t) = ws_proto::ClientTarget::parse(input).map(|t| t.url) else { return };
    if let Some(pw) = t.password().filter(|p| p.len() >= 4 && !p.contains('*')) {
        assert!(!shown.contains(&format!(":{pw}@")), "password shown in {shown:?}");
    }
}

/// `ws`, `wss`, `http(s)` and `ws+unix` URL parsing ([`ws_proto::ClientTarget`]), proxy URLs
/// ([`ws_proto::HttpProxy::parse`]) and the redirect policy ([`ws_proto::RedirectPolicy`]).
/// The input is `flags`, then lines: the original URL, the `Location`, and the URL that
/// answered (the original when absent).
///
/// Checks: parsed targets are usable and consistent (see `check_target`), errors do not show
/// passwords; a redirect is followed only for a 3xx with a `Location` and within the limit, to a
/// usable target; credentials follow only to the same host without a `wss` → `ws` downgrade,
/// and `Host` is dropped when the host changes.
#[cfg(feature = "url")]
pub fn url(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let location = lines.next();
    let current = lines.next();
    match ws_proto::ClientTarget::parse(first) {
        Ok(t) => check_target(&t, true),
        Err(e) => {
            // Shown with `{:?}` (escaped), so compare with that form.
            assert!(e.to_string().contains(&format!("{:?}", e.url())), "{e}");
            check_redacted(first, &e.to_string());
        }
    }
    if let Ok(p) = ws_proto::HttpProxy::parse(first) {
        assert!(!p.host.is_empty());
        if let Ok(t) = ws_proto::ProxyTunnel::new(&p, "a.example", 443, 1024) {
            assert!(t.request().starts_with(b"CONNECT a.example:443 HTTP/1.1\r\n"));
        }
    }
    let Ok(original) = ws_proto::ClientTarget::parse(first) else { return };
    let current = match current.map(ws_proto::ClientTarget::parse) {
        Some(Ok(c)) => c.url,
        _ => original.url.clone(),
    };
    use ws_proto::http::StatusCode;
    let status = StatusCode::from_u16([301, 302, 303, 307, 308, 300, 304, 200, 101, 404][usize::from(flags & 15) % 10])
        .expect("status");
    let policy = ws_proto::RedirectPolicy::new(usize::from(flags >> 4) % 4);
    let followed = usize::from(flags >> 6);
    match policy.next(&original.url, &current, status, location, followed) {
        Ok(None) => assert!(!ws_proto::RedirectPolicy::is_redirect(status, location)),
        Ok(Some(r)) => {
            assert!(ws_proto::RedirectPolicy::is_redirect(status, location));
            assert!(followed < policy.max_redirects);
            check_target(r.target(), r.keeps_credentials());
            let same_host = match (&r.target().endpoint, &original.endpoint) {
                (ws_proto::Endpoint::Unix { path: a }, ws_proto::Endpoint::Unix { path: b }) => a == b,
                (ws_proto::Endpoint::Tcp { .. }, ws_proto::Endpoint::Tcp { .. }) => {
                    r.url().host_str() == original.url.host_str() && r.url().port() == original.url.port()
                }
                _ => false,
            };
            assert_eq!(r.is_same_host(), same_host, "{} -> {}", original.url, r.url());
            let downgrade = original.url.scheme() == "wss" && r.url().scheme() != "wss";
            assert_eq!(r.keeps_credentials(), same_host && !downgrade);
            let mut headers = vec![
                ("Authorization".to_owned(), "Basic eDp5".to_owned()),
                ("cookie".to_owned(), "a=b".to_owned()),
                ("HOST".to_owned(), "h".to_owned()),
                ("X-Other".to_owned(), "1".to_owned()),
            ];
            r.apply(&mut headers);
            let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
            assert!(has("x-other"));
            assert_eq!(has("authorization"), r.keeps_credentials());
            assert_eq!(has("cookie"), r.keeps_credentials());
            assert_eq!(has("host"), same_host);
            if !r.keeps_credentials() {
                assert!(r.authorization().is_none());
            }
        }
        Err(ws_proto::RedirectError::TooMany { max }) => {
            assert!(ws_proto::RedirectPolicy::is_redirect(status, location));
            assert_eq!(max, policy.max_redirects);
            assert!(followed >= max);
        }
        Err(e) => {
            assert!(ws_proto::RedirectPolicy::is_redirect(status, location));
            if let Some(l) = location {
                check_redacted(l, &e.to_string());
            }
        }
    }
}
