//! permessage-deflate (RFC 7692) end to end: negotiation through the real handshakes (both
//! roles), compressed framing both ways, context takeover, the threshold and the compress flag,
//! limits (the bomb), corrupt data, RSV1 rules, `PreparedMessage`, and the offload API.
//!
//! The backend is the preferred one ([`Backend::preferred`]); property tests also mix every
//! compiled backend on both ends (run the suite with `--features zlib-rs` for both).

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use ws_proto::frame::FrameHeader;
use ws_proto::handshake::server::Rejection;
use ws_proto::{
    accept_key, apply_mask, Backend, Bytes, ClientHandshake, ClientOutcome, ClientRequest, CloseFrame, Config,
    Connection, DeflateConfig, DeflateParams, Error, HandshakeError, Message, MessageKind, Negotiated, PreparedMessage,
    ProtocolError, Role, SendError, SendOptions, ServerHandshake, ServerOptions, State, Transmit,
};

use super::pair::{counter_entropy, poll_events, Ev, RawFrame};

fn backend() -> Backend {
    Backend::preferred().expect("a deflate backend is compiled")
}

/// Whether the preferred backend compresses with windows below 15 bits (zlib-rs).
fn small_windows() -> bool {
    backend().min_window_bits() < 15
}

// ------------------------------------------------------------------ wire helpers

/// A frame as written by an endpoint (unmasked), with its RSV1 bit.
#[derive(Clone, Debug, PartialEq, Eq)]
struct WireFrame {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

/// Parses every frame in `wire` (which must end at a frame boundary).
#[track_caller]
fn parse(mut wire: &[u8]) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        let (h, n) = FrameHeader::parse(wire).expect("valid header").expect("complete header");
        assert!(!h.rsv2 && !h.rsv3);
        let len = h.len as usize;
        let mut payload = wire[n..n + len].to_vec();
        if let Some(key) = h.mask {
            apply_mask(&mut payload, key, 0);
        }
        frames.push(WireFrame { fin: h.fin, rsv1: h.rsv1, opcode: h.opcode.as_u8(), payload });
        wire = &wire[n + len..];
    }
    frames
}

fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    conn.transmit_into(&mut out);
    out
}

/// Moves everything `from` wrote to `to` in reads of `chunk` bytes, returning the frames sent
/// and the events `to` reported.
fn transfer(from: &mut Connection, to: &mut Connection, chunk: usize) -> (Vec<WireFrame>, Vec<Ev>) {
    let now = Instant::now();
    let wire = drain(from);
    let frames = parse(&wire);
    let mut evs = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        to.receive(piece);
        evs.extend(poll_events(to, now));
    }
    evs.extend(poll_events(to, now));
    (frames, evs)
}

/// Joins fragment events into messages (assembled events pass through).
fn assemble(evs: Vec<Ev>) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut cur: Option<(MessageKind, Vec<u8>)> = None;
    for e in evs {
        match e {
            Ev::Fragment { kind, data, fin } => {
                let c = cur.get_or_insert_with(|| (kind, Vec::new()));
                assert_eq!(c.0, kind);
                c.1.extend_from_slice(&data);
                if fin {
                    let (k, d) = cur.take().expect("message");
                    out.push(if k == MessageKind::Text { Ev::Text(d) } else { Ev::Binary(d) });
                }
            }
            other => out.push(other),
        }
    }
    assert!(cur.is_none(), "unfinished fragmented message");
    out
}

/// Lowercase letters from a xorshift generator: compressible (by about a third) but without
/// repeats, so a repeated message shows context takeover.
fn noise(n: usize, seed: u32) -> String {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

fn text(n: usize, seed: u8) -> String {
    (0..n).map(|i| char::from(b'a' + ((i * 7 + usize::from(seed) + i / 13) % 26) as u8)).collect()
}

// ------------------------------------------------------------------ handshakes

fn client_bytes(hs: &mut ClientHandshake) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(Transmit::Data(mut t)) = hs.poll_transmit() {
        use ws_proto::Buf;
        let n = t.chunk().len();
        out.extend_from_slice(t.chunk());
        t.advance(n);
    }
    out
}

/// Both ends after real handshakes, plus the request and response heads.
struct Setup {
    client: Connection,
    server: Connection,
    request: String,
    response: String,
}

/// Runs both handshakes in memory: `client` offers per its `permessage_deflate`, `server`
/// accepts per `options`.
fn connect(client: &Config, options: &ServerOptions, server: &Config) -> Setup {
    let now = Instant::now();
    let mut hs = ClientHandshake::new(
        ClientRequest::new("example.com", "/chat"),
        Arc::new(client.clone()),
        counter_entropy(),
        now,
    )
    .expect("valid request");
    let request = client_bytes(&mut hs);
    let mut sh = ServerHandshake::new(Arc::new(server.clone()), Arc::new(options.clone()), now);
    sh.receive(&request);
    let up = sh.poll_request().expect("valid request").expect("complete");
    let accept = up.negotiate().expect("accepted");
    let mut server_conn = up.accept(accept, now);
    let response = drain(&mut server_conn);
    hs.receive(&response);
    let Some(ClientOutcome::Accepted { connection, .. }) = hs.poll_outcome(now).expect("valid response") else {
        panic!("not accepted");
    };
    Setup {
        client: connection,
        server: server_conn,
        request: String::from_utf8(request).expect("ASCII"),
        response: String::from_utf8(response).expect("ASCII"),
    }
}

/// A pair with deflate on both ends: the client's and the server's settings, and connection
/// configs (limits, modes).
fn deflate_pair(client: DeflateConfig, server: DeflateConfig, ccfg: &Config, scfg: &Config) -> Setup {
    let mut c = ccfg.clone();
    c = c.permessage_deflate(Some(client));
    let o = ServerOptions::default().per_message_deflate(Some(server));
    connect(&c, &o, scfg)
}

fn default_pair() -> Setup {
    deflate_pair(DeflateConfig::default(), DeflateConfig::default(), &Config::default(), &Config::default())
}

/// A connection of `role` with `params` agreed, built directly.
fn direct(role: Role, params: DeflateParams, cfg: &Config) -> Connection {
    let negotiated = Negotiated { deflate: Some(params), version: 13, ..Negotiated::default() };
    let entropy = (role == Role::Client).then(counter_entropy);
    Connection::new(role, Arc::new(cfg.clone()), negotiated, entropy, Instant::now())
}

fn header_line<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn sides(s: &mut Setup, from: Role) -> (&mut Connection, &mut Connection) {
    match from {
        Role::Client => (&mut s.client, &mut s.server),
        Role::Server => (&mut s.server, &mut s.client),
    }
}

#[track_caller]
fn closed_with(evs: &[Ev], expect: ProtocolError) {
    match evs.last() {
        Some(Ev::Closed(c)) => {
            assert_eq!(c.error, Some(Error::Protocol(expect.clone())), "{evs:?}");
            assert_eq!(c.sent.as_ref().map(|f| f.code.as_u16()), Some(expect.close_code().as_u16()));
        }
        other => panic!("expected Closed, got {other:?} in {evs:?}"),
    }
}

// ------------------------------------------------------------------ negotiation

#[test]
fn negotiation_through_the_handshakes() {
    let mut s = default_pair();
    let offer = header_line(&s.request, "Sec-WebSocket-Extensions").expect("offered");
    let expected_offer =
        if small_windows() { "permessage-deflate; client_max_window_bits" } else { "permessage-deflate" };
    assert_eq!(offer, expected_offer, "Node's default offer, as far as the backend can honour it");
    assert_eq!(header_line(&s.response, "Sec-WebSocket-Extensions"), Some("permessage-deflate"));
    for conn in [&s.client, &s.server] {
        assert_eq!(conn.negotiated().deflate, Some(DeflateParams::default()));
        assert_eq!(conn.negotiated().extensions.as_deref(), Some("permessage-deflate"));
        assert!(conn.deflate_config().is_some());
    }
    // Messages go compressed and arrive intact, both ways.
    let big = text(5000, 1);
    for from in [Role::Client, Role::Server] {
        let (a, b) = sides(&mut s, from);
        a.send_text(big.clone()).unwrap();
        let (frames, evs) = transfer(a, b, usize::MAX);
        assert!(frames[0].rsv1 && frames[0].payload.len() < 1000);
        assert_eq!(evs, [Ev::text(&big)]);
    }
}

#[test]
fn nothing_negotiated_unless_both_want_it() {
    let client = Config::default().permessage_deflate(Some(DeflateConfig::default()));
    let deflate_server = ServerOptions::default().per_message_deflate(Some(DeflateConfig::default()));
    for (c, o) in [
        (&client, &ServerOptions::default()),
        (&Config::default(), &deflate_server),
        (&Config::default(), &ServerOptions::default()),
    ] {
        let mut s = connect(c, o, &Config::default());
        assert!(header_line(&s.response, "Sec-WebSocket-Extensions").is_none());
        assert_eq!(s.client.negotiated().deflate, None);
        assert_eq!(s.server.negotiated().deflate, None);
        assert!(s.client.deflate_config().is_none() && !s.client.would_compress(1 << 20, SendOptions::default()));
        s.client.send_text(text(5000, 2)).unwrap();
        let (frames, evs) = transfer(&mut s.client, &mut s.server, usize::MAX);
        assert!(!frames[0].rsv1);
        assert_eq!(evs, [Ev::text(&text(5000, 2))]);
    }
    // Without a deflate config the request carries no offer at all.
    let s = connect(&Config::default(), &deflate_server, &Config::default());
    assert!(header_line(&s.request, "Sec-WebSocket-Extensions").is_none());
}

#[test]
fn all_four_parameters_agreed() {
    let zlib = small_windows();
    let client = DeflateConfig::default()
        .server_no_context_takeover(true)
        .client_no_context_takeover(true)
        .server_max_window_bits(Some(if zlib { 10 } else { 15 }))
        .client_max_window_bits(Some(11));
    let server = DeflateConfig::default().client_max_window_bits(Some(12));
    let mut s = deflate_pair(client, server, &Config::default(), &Config::default());
    let expected = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: Some(if zlib { 10 } else { 15 }),
        // miniz_oxide cannot offer client_max_window_bits, so the server (which requires it)
        // would decline... unless the offer has it: only zlib-rs gets here with a value.
        client_max_window_bits: if zlib { Some(11) } else { None },
    };
    if !zlib {
        // The server insists on client_max_window_bits, which a miniz_oxide client never
        // offers: the offer is declined and the connection is uncompressed.
        assert_eq!(s.client.negotiated().deflate, None);
        return;
    }
    assert_eq!(s.client.negotiated().deflate, Some(expected));
    assert_eq!(s.server.negotiated().deflate, Some(expected));
    assert_eq!(
        header_line(&s.response, "Sec-WebSocket-Extensions"),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=11"
        )
    );
    for from in [Role::Client, Role::Server] {
        let (a, b) = sides(&mut s, from);
        for i in 0..3 {
            a.send_text(text(3000, i)).unwrap();
            let (frames, evs) = transfer(a, b, 1000);
            assert!(frames[0].rsv1);
            assert_eq!(evs, [Ev::text(&text(3000, i))]);
        }
    }
}

fn request_with_extensions(value: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {value}\r\n\r\n"
    )
    .into_bytes()
}

fn serve(request: &[u8], options: &ServerOptions) -> Result<Connection, Rejection> {
    let now = Instant::now();
    let mut sh = ServerHandshake::new(Arc::new(Config::default()), Arc::new(options.clone()), now);
    sh.receive(request);
    let up = sh.poll_request()?.expect("complete");
    let accept = up.negotiate()?;
    Ok(up.accept(accept, now))
}

fn deflate_server() -> ServerOptions {
    ServerOptions::default().per_message_deflate(Some(DeflateConfig::default()))
}

#[test]
fn browser_offers_are_accepted() {
    for offer in [
        // Chromium.
        "permessage-deflate; client_max_window_bits",
        // Firefox.
        "permessage-deflate",
        // Safari.
        "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame",
    ] {
        let mut conn = serve(&request_with_extensions(offer), &deflate_server()).expect("accepted");
        let response = String::from_utf8(drain(&mut conn)).unwrap();
        assert!(response.starts_with("HTTP/1.1 101"));
        assert_eq!(header_line(&response, "Sec-WebSocket-Extensions"), Some("permessage-deflate"), "{offer}");
        assert_eq!(conn.negotiated().deflate, Some(DeflateParams::default()));
    }
}

#[test]
fn server_answers_400_to_malformed_offers() {
    for offer in [
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_no_context_takeover=yes",
        "permessage-deflate, permessage-deflate; client_max_window_bits=99",
    ] {
        let rej = serve(&request_with_extensions(offer), &deflate_server()).expect_err(offer);
        assert_eq!(rej.status().as_u16(), 400, "{offer}");
        assert!(matches!(rej.error, Some(HandshakeError::DeflateParams(_))), "{offer}: {:?}", rej.error);
        assert!(rej.bytes().starts_with(b"HTTP/1.1 400"));
        // A server without deflate does not look at the parameters (as Node `ws`).
        let conn = serve(&request_with_extensions(offer), &ServerOptions::default()).expect("no deflate");
        assert_eq!(conn.negotiated().deflate, None);
    }
}

#[test]
fn server_declines_offers_it_cannot_honour() {
    let offer = "permessage-deflate; server_max_window_bits=9";
    let mut conn = serve(&request_with_extensions(offer), &deflate_server()).expect("accepted");
    let response = String::from_utf8(drain(&mut conn)).unwrap();
    if small_windows() {
        assert_eq!(header_line(&response, "Sec-WebSocket-Extensions"), Some(offer));
    } else {
        // miniz_oxide only compresses with a 15-bit window: the offer is declined.
        assert_eq!(header_line(&response, "Sec-WebSocket-Extensions"), None);
        assert_eq!(conn.negotiated().deflate, None);
    }
    // With a fallback offer, the fallback is taken.
    let offers = format!("{offer}, permessage-deflate");
    let mut conn = serve(&request_with_extensions(&offers), &deflate_server()).expect("accepted");
    let response = String::from_utf8(drain(&mut conn)).unwrap();
    let expect = if small_windows() { offer } else { "permessage-deflate" };
    assert_eq!(header_line(&response, "Sec-WebSocket-Extensions"), Some(expect));
}

/// The client's verdict on a 101 carrying `extensions`, having offered per `offer`.
fn client_verdict(offer: Option<DeflateConfig>, extensions: &str) -> Result<Option<DeflateParams>, HandshakeError> {
    let now = Instant::now();
    let cfg = Config::default().permessage_deflate(offer);
    let mut hs =
        ClientHandshake::new(ClientRequest::new("example.com", "/"), Arc::new(cfg), counter_entropy(), now).unwrap();
    let _ = client_bytes(&mut hs);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n",
        accept_key(hs.key().as_bytes())
    );
    hs.receive(response.as_bytes());
    match hs.poll_outcome(now)? {
        Some(ClientOutcome::Accepted { connection, .. }) => Ok(connection.negotiated().deflate),
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_validates_the_response_exactly() {
    let d = DeflateConfig::default;
    let params_error = |r: Result<_, HandshakeError>| matches!(r, Err(HandshakeError::DeflateParams(_)));
    // Acceptable responses.
    assert_eq!(client_verdict(Some(d()), "permessage-deflate"), Ok(Some(DeflateParams::default())));
    let r = client_verdict(Some(d()), "permessage-deflate; server_no_context_takeover; server_max_window_bits=9");
    let p = DeflateParams { server_no_context_takeover: true, server_max_window_bits: Some(9), ..Default::default() };
    assert_eq!(r, Ok(Some(p)));
    // An extension that was not offered.
    assert_eq!(client_verdict(None, "permessage-deflate"), Err(HandshakeError::ExtensionNotOffered));
    assert_eq!(client_verdict(Some(d()), "x-webkit-deflate-frame"), Err(HandshakeError::ExtensionNotOffered));
    // A bare client_max_window_bits in a response.
    assert!(params_error(client_verdict(Some(d()), "permessage-deflate; client_max_window_bits")));
    // Parameters the offer did not allow.
    assert!(params_error(client_verdict(Some(d()), "permessage-deflate; x_param")));
    assert!(params_error(client_verdict(
        Some(d()),
        "permessage-deflate; server_max_window_bits=8; server_max_window_bits=8"
    )));
    let limited = d().server_max_window_bits(Some(10));
    assert!(params_error(client_verdict(Some(limited.clone()), "permessage-deflate; server_max_window_bits=12")));
    assert!(params_error(client_verdict(Some(limited), "permessage-deflate")));
    let snct = d().server_no_context_takeover(true);
    assert!(params_error(client_verdict(Some(snct), "permessage-deflate")));
    let cmwb = client_verdict(Some(d()), "permessage-deflate; client_max_window_bits=10");
    if small_windows() {
        let p = DeflateParams { client_max_window_bits: Some(10), ..Default::default() };
        assert_eq!(cmwb, Ok(Some(p)));
    } else {
        // miniz_oxide never offers client_max_window_bits, so the server may not send it.
        assert!(params_error(cmwb));
    }
    // Two extensions for one offer.
    assert!(params_error(client_verdict(Some(d()), "permessage-deflate, permessage-deflate")));
    // Malformed syntax.
    assert_eq!(client_verdict(Some(d()), "permessage-deflate; ="), Err(HandshakeError::InvalidExtensions));
}

// ------------------------------------------------------------------ framing

#[test]
fn compressed_and_uncompressed_interleaved_both_ways() {
    let mut s = default_pair();
    let big = text(4000, 3);
    let bin: Vec<u8> = big.bytes().rev().collect();
    for from in [Role::Client, Role::Server] {
        let (a, b) = sides(&mut s, from);
        a.send_text(big.clone()).unwrap();
        a.send_text("small").unwrap();
        a.send_binary(bin.clone()).unwrap();
        a.send_message_with(Message::binary(bin.clone()), SendOptions::default().compress(false)).unwrap();
        a.send_text(big.clone()).unwrap();
        a.send_binary(Vec::new()).unwrap();
        let (frames, evs) = transfer(a, b, 100);
        let rsv1: Vec<bool> = frames.iter().map(|f| f.rsv1).collect();
        assert_eq!(rsv1, [true, false, true, false, true, false]);
        assert_eq!(frames[3].payload, bin, "sent as is");
        assert!(frames[4].payload.len() < frames[0].payload.len(), "context takeover: the repeat is cheaper");
        assert_eq!(
            evs,
            [Ev::text(&big), Ev::text("small"), Ev::binary(&bin), Ev::binary(&bin), Ev::text(&big), Ev::binary(&[])]
        );
    }
}

#[test]
fn fragmented_compressed_messages_both_ways() {
    let cfg = Config::default().outgoing_fragment_size(Some(64));
    let fragments = Config::default().deliver_fragments(true);
    let msg = text(20_000, 4);
    for receive_fragments in [false, true] {
        let rcfg = if receive_fragments { &fragments } else { &Config::default() };
        for from in [Role::Client, Role::Server] {
            // The sender fragments; the receiver assembles or streams.
            let (ccfg, scfg) = if from == Role::Client { (&cfg, rcfg) } else { (rcfg, &cfg) };
            let mut s = deflate_pair(DeflateConfig::default(), DeflateConfig::default(), ccfg, scfg);
            let (a, b) = sides(&mut s, from);
            a.send_text(msg.clone()).unwrap();
            let (frames, evs) = transfer(a, b, 37);
            assert!(frames.len() > 1, "fragmented by outgoing_fragment_size");
            assert!(frames[0].rsv1 && frames[0].opcode == 1 && !frames[0].fin);
            assert!(frames[1..].iter().all(|f| !f.rsv1 && f.opcode == 0 && f.payload.len() <= 64));
            assert!(frames.last().unwrap().fin);
            if receive_fragments {
                assert!(evs.iter().all(|e| matches!(e, Ev::Fragment { data, .. } if data.len() <= 32 * 1024)));
            }
            assert_eq!(assemble(evs), [Ev::text(&msg)]);

            // Streaming with send_frame_part: each part compressed and sync-flushed.
            let parts = [text(3000, 5), text(10, 6), String::new(), text(3000, 5)];
            for (i, p) in parts.iter().enumerate() {
                a.send_frame_part(MessageKind::Binary, Bytes::from(p.clone()), i + 1 == parts.len()).unwrap();
            }
            let (frames, evs) = transfer(a, b, 1000);
            assert_eq!(frames.len(), parts.len());
            assert!(frames[0].rsv1 && frames[0].opcode == 2);
            assert!(frames[1..].iter().all(|f| !f.rsv1 && f.opcode == 0));
            for f in frames[..3].iter().filter(|f| !f.payload.is_empty()) {
                // (zlib writes nothing for the empty part: a repeated flush.)
                assert!(f.payload.ends_with(&[0, 0, 0xff, 0xff]), "sync flush kept inside the message");
            }
            assert!(!frames[3].payload.ends_with(&[0, 0, 0xff, 0xff]), "the tail is stripped at the end");
            assert!(frames[3].payload.len() < 500, "the repeated part refers back");
            assert_eq!(assemble(evs), [Ev::binary(parts.concat().as_bytes())]);
        }
    }
}

/// Compressed payloads of the messages `from` sends in `setup`.
fn compressed_payloads(s: &mut Setup, from: Role, msgs: &[String]) -> Vec<Vec<u8>> {
    let (a, b) = sides(s, from);
    let mut out = Vec::new();
    for m in msgs {
        a.send_text(m.clone()).unwrap();
        let (frames, evs) = transfer(a, b, usize::MAX);
        assert_eq!(evs, [Ev::text(m)]);
        assert!(frames[0].rsv1);
        out.push(frames[0].payload.clone());
    }
    out
}

/// Receives `payload` as one compressed text message on a fresh connection (empty history).
fn decode_alone(to: Role, payload: &[u8]) -> Vec<Ev> {
    let mut conn = direct(to, DeflateParams::default(), &Config::default());
    let frame = RawFrame::text_bytes(payload).rsv(0b100);
    conn.receive(&frame.to(to));
    poll_events(&mut conn, Instant::now())
}

#[test]
fn context_takeover_on_and_off_both_ways() {
    let msgs = [noise(2000, 7), noise(2000, 7), noise(2000, 8)];
    for snct in [false, true] {
        for cnct in [false, true] {
            let server = DeflateConfig::default().server_no_context_takeover(snct).client_no_context_takeover(cnct);
            let mut s = deflate_pair(DeflateConfig::default(), server, &Config::default(), &Config::default());
            let p = s.client.negotiated().deflate.expect("negotiated");
            assert_eq!((p.server_no_context_takeover, p.client_no_context_takeover), (snct, cnct));
            for (from, nct) in [(Role::Client, cnct), (Role::Server, snct)] {
                let payloads = compressed_payloads(&mut s, from, &msgs);
                let to = if from == Role::Client { Role::Server } else { Role::Client };
                if nct {
                    // Every message decodes on its own, and identical messages compress the same.
                    for (m, p) in msgs.iter().zip(&payloads) {
                        assert_eq!(decode_alone(to, p), [Ev::text(m)], "{from:?} snct={snct} cnct={cnct}");
                    }
                    assert_eq!(payloads[0], payloads[1]);
                } else {
                    // The repeat refers to the previous message: smaller, and undecodable alone.
                    assert!(payloads[1].len() * 4 < payloads[0].len(), "{from:?}");
                    assert_ne!(decode_alone(to, &payloads[1]).first(), Some(&Ev::text(&msgs[1])));
                }
            }
        }
    }
}

#[test]
fn threshold_at_below_above() {
    for threshold in [0, 100, 1024] {
        let d = DeflateConfig::default().threshold(threshold);
        let mut s = deflate_pair(d.clone(), d, &Config::default(), &Config::default());
        for from in [Role::Client, Role::Server] {
            let (a, b) = sides(&mut s, from);
            let sizes: Vec<usize> = [threshold.saturating_sub(1), threshold, threshold + 1].into();
            for &n in &sizes {
                a.send_binary(vec![b'q'; n]).unwrap();
            }
            let (frames, evs) = transfer(a, b, usize::MAX);
            let rsv1: Vec<bool> = frames.iter().map(|f| f.rsv1).collect();
            let expect: Vec<bool> = sizes.iter().map(|&n| n >= threshold).collect();
            assert_eq!(rsv1, expect, "threshold {threshold}");
            assert_eq!(evs, sizes.iter().map(|&n| Ev::binary(&vec![b'q'; n])).collect::<Vec<_>>());
            // The first part decides for a message sent in parts.
            a.send_frame_part(MessageKind::Binary, Bytes::from(vec![1u8; threshold.saturating_sub(1)]), false).unwrap();
            a.send_frame_part(MessageKind::Binary, Bytes::from(vec![2u8; 5000]), true).unwrap();
            let (frames, _) = transfer(a, b, usize::MAX);
            assert_eq!(frames[0].rsv1, threshold == 0, "threshold {threshold}");
        }
    }
}

#[test]
fn compress_flag_false_sends_uncompressed() {
    let mut s = default_pair();
    let big = text(5000, 9);
    for from in [Role::Client, Role::Server] {
        let (a, b) = sides(&mut s, from);
        let off = SendOptions::default().compress(false);
        assert!(!a.would_compress(big.len(), off) && a.would_compress(big.len(), SendOptions::new()));
        a.send_message_with(Message::text(big.clone()), off).unwrap();
        a.send_frame_part_with(MessageKind::Text, Bytes::from(big.clone()), false, off).unwrap();
        a.send_frame_part_with(MessageKind::Text, Bytes::from(big.clone()), true, SendOptions::new()).unwrap();
        a.send_message_with(Message::text(big.clone()), SendOptions::new()).unwrap();
        let (frames, evs) = transfer(a, b, usize::MAX);
        let rsv1: Vec<bool> = frames.iter().map(|f| f.rsv1).collect();
        assert_eq!(rsv1, [false, false, false, true]);
        assert_eq!(evs, [Ev::text(&big), Ev::text(&big.repeat(2)), Ev::text(&big)]);
    }
}

#[test]
fn control_frames_are_never_compressed() {
    let mut s = default_pair();
    for from in [Role::Client, Role::Server] {
        let (a, b) = sides(&mut s, from);
        a.send_ping(vec![b'p'; 125]).unwrap();
        a.send_pong(vec![b'o'; 125]).unwrap();
        let (frames, evs) = transfer(a, b, usize::MAX);
        assert!(frames.iter().all(|f| !f.rsv1));
        assert_eq!(evs, [Ev::ping(&[b'p'; 125]), Ev::pong(&[b'o'; 125])]);
        let (_, _) = transfer(b, a, usize::MAX); // the auto-pong
    }
    let now = Instant::now();
    s.client.close(Some(CloseFrame::new(1000, "r".repeat(100))), now).unwrap();
    let (frames, _) = transfer(&mut s.client, &mut s.server, usize::MAX);
    let (echo, _) = transfer(&mut s.server, &mut s.client, usize::MAX);
    assert!(frames.iter().chain(&echo).all(|f| !f.rsv1 && f.opcode == 8));
}

#[test]
fn rsv1_rules() {
    let now = Instant::now();
    for role in [Role::Client, Role::Server] {
        let fresh = || direct(role, DeflateParams::default(), &Config::default());
        // RSV1 on a control frame.
        let mut c = fresh();
        c.receive(&RawFrame::ping("x").rsv(0b100).to(role));
        closed_with(&poll_events(&mut c, now), ProtocolError::CompressedControlFrame);
        // RSV1 on a continuation frame, of a compressed or an uncompressed message.
        for first_rsv in [0b100, 0] {
            let mut c = fresh();
            let first = RawFrame::binary([0x00]).rsv(first_rsv).fin(false);
            c.receive(&first.to(role));
            c.receive(&RawFrame::cont([0x00]).rsv(0b100).to(role));
            closed_with(&poll_events(&mut c, now), ProtocolError::UnexpectedRsv1);
        }
        // RSV2 and RSV3 stay reserved.
        for bits in [0b010, 0b001, 0b110] {
            let mut c = fresh();
            c.receive(&RawFrame::binary([0x00]).rsv(bits).to(role));
            closed_with(&poll_events(&mut c, now), ProtocolError::ReservedBitsSet);
        }
        // RSV1 without negotiation.
        let entropy = (role == Role::Client).then(counter_entropy);
        let mut plain = Connection::new(role, Arc::new(Config::default()), Negotiated::default(), entropy, now);
        plain.receive(&RawFrame::binary([0x00]).rsv(0b100).to(role));
        closed_with(&poll_events(&mut plain, now), ProtocolError::ReservedBitsSet);
        // The same compressed frame is fine with deflate: an empty message.
        let mut c = fresh();
        c.receive(&RawFrame::binary([0x00]).rsv(0b100).to(role));
        assert_eq!(poll_events(&mut c, now), [Ev::binary(&[])]);
    }
}

#[test]
fn corrupt_data_fails_with_1007() {
    let now = Instant::now();
    for role in [Role::Client, Role::Server] {
        for fragments in [false, true] {
            let cfg = Config::default().deliver_fragments(fragments);
            for bad in [&[0xff, 0xff][..], &[0x07], &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xff, 0xff, 0xff]] {
                let mut c = direct(role, DeflateParams::default(), &cfg);
                c.receive(&RawFrame::text_bytes(bad).rsv(0b100).to(role));
                let evs = poll_events(&mut c, now);
                closed_with(&evs, ProtocolError::InflateFailed);
                assert_eq!(c.state(), State::Closed);
            }
        }
    }
}

/// The payload of `data` compressed as one message by a fresh compressor.
fn compress(data: &[u8]) -> Vec<u8> {
    let local = DeflateConfig::default().threshold(0);
    let cfg = Config::default().permessage_deflate(Some(local));
    let mut c = direct(Role::Server, DeflateParams::default(), &cfg);
    c.send_binary(data.to_vec()).unwrap();
    let frames = parse(&drain(&mut c));
    assert!(frames[0].rsv1);
    frames[0].payload.clone()
}

#[test]
fn inflated_text_is_validated_fail_fast() {
    let now = Instant::now();
    let mut bad = vec![0xffu8];
    bad.extend(text(1 << 20, 10).bytes());
    let payload = compress(&bad);
    for role in [Role::Client, Role::Server] {
        for fragments in [false, true] {
            let cfg = Config::default().deliver_fragments(fragments);
            let mut c = direct(role, DeflateParams::default(), &cfg);
            c.receive(&RawFrame::text_bytes(&payload).rsv(0b100).to(role));
            let evs = poll_events(&mut c, now);
            assert_eq!(evs.len(), 1, "failed on the first inflated piece: {:?}", evs.len());
            closed_with(&evs, ProtocolError::InvalidUtf8);
        }
        // A code point split across inflated pieces is fine; one cut at the end is not.
        let ok = "é€😀".repeat(20_000);
        for (bytes, good) in [(ok.as_bytes(), true), (&ok.as_bytes()[..ok.len() - 1], false)] {
            let payload = compress(bytes);
            let cfg = Config::default().deliver_fragments(true);
            let mut c = direct(role, DeflateParams::default(), &cfg);
            c.receive(&RawFrame::text_bytes(&payload).rsv(0b100).to(role));
            let evs = poll_events(&mut c, now);
            if good {
                assert_eq!(assemble(evs), [Ev::text(&ok)]);
            } else {
                closed_with(&evs, ProtocolError::InvalidUtf8);
            }
        }
    }
}

/// Hand-made raw deflate: one dynamic block of 1-bit codes where every zero byte inflates to
/// 1032 zeros (`zero_bytes` of them).
fn bomb(zero_bytes: usize) -> Vec<u8> {
    // Built and checked by the unit tests (`deflate::tests::bomb`); these are its header bytes.
    let mut out = bomb_header();
    out.resize(out.len() + zero_bytes, 0);
    out
}

fn bomb_header() -> Vec<u8> {
    // Bit writer: LSB-first fields, MSB-first Huffman codes.
    let mut bits: Vec<bool> = Vec::new();
    let put = |v: u32, n: u32, reverse: bool, bits: &mut Vec<bool>| {
        for i in 0..n {
            let bit = if reverse { (v >> (n - 1 - i)) & 1 } else { (v >> i) & 1 };
            bits.push(bit == 1);
        }
    };
    put(0, 1, false, &mut bits);
    put(2, 2, false, &mut bits);
    put(29, 5, false, &mut bits);
    put(1, 5, false, &mut bits);
    put(14, 4, false, &mut bits);
    for len in [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2] {
        put(len, 3, false, &mut bits);
    }
    for (code, len, extra) in [
        (0b11, 2, None),
        (0b0, 1, Some(127)),
        (0b0, 1, Some(106)),
        (0b11, 2, None),
        (0b0, 1, Some(17)),
        (0b10, 2, None),
        (0b10, 2, None),
        (0b10, 2, None),
    ] {
        put(code, len, true, &mut bits);
        if let Some(e) = extra {
            put(e, 7, false, &mut bits);
        }
    }
    put(0b10, 2, true, &mut bits); // the literal 0
    bits.chunks(8).map(|c| c.iter().enumerate().fold(0u8, |b, (i, &x)| b | (u8::from(x) << i))).collect()
}

#[test]
fn bomb_fails_with_1009_at_the_limit() {
    const LIMIT: usize = 1 << 20;
    let now = Instant::now();
    let mut cfg = Config::default().max_message_size(Some(LIMIT));
    // ~1 MiB on the wire, 1 GiB inflated.
    let payload = bomb(LIMIT - 64);
    for role in [Role::Client, Role::Server] {
        for fragments in [false, true] {
            cfg = cfg.deliver_fragments(fragments);
            let started = Instant::now();
            let mut c = direct(role, DeflateParams::default(), &cfg);
            c.receive(&RawFrame::binary(&payload).rsv(0b100).to(role));
            let evs = poll_events(&mut c, now);
            closed_with(&evs, ProtocolError::MessageTooLarge { max: LIMIT });
            let delivered: usize = evs
                .iter()
                .map(|e| match e {
                    Ev::Fragment { data, .. } => data.len(),
                    _ => 0,
                })
                .sum();
            // A piece is a whole frame: the one frame of the bomb never completes.
            assert_eq!(delivered, 0, "fragments={fragments}");
            assert!(started.elapsed() < Duration::from_secs(10), "stopped at the limit, not after 1 GiB");
        }
    }
    // A compressed frame longer than the limit is refused from its header (wire size counts).
    let mut c = direct(Role::Server, DeflateParams::default(), &cfg);
    c.receive(&RawFrame::binary(bomb(LIMIT + 1)).rsv(0b100).header(Role::Server));
    closed_with(&poll_events(&mut c, now), ProtocolError::MessageTooLarge { max: LIMIT });
}

// ------------------------------------------------------------------ prepared and offloaded

#[test]
fn prepared_messages_with_deflate() {
    let body = noise(5000, 11);
    let msg = PreparedMessage::new(Message::text(body.clone()));
    // Without context takeover: computed once, shared.
    let nct = DeflateConfig::default().server_no_context_takeover(true);
    let mut a = deflate_pair(DeflateConfig::default(), nct.clone(), &Config::default(), &Config::default());
    let mut b = deflate_pair(DeflateConfig::default(), nct, &Config::default(), &Config::default());
    let mut wire = Vec::new();
    for s in [&mut a, &mut b] {
        for _ in 0..2 {
            s.server.send_prepared(&msg).unwrap();
            s.server.send_prepared(&msg.clone()).unwrap();
        }
        let (frames, evs) = transfer(&mut s.server, &mut s.client, usize::MAX);
        assert_eq!(evs, vec![Ev::text(&body); 4]);
        assert!(frames.iter().all(|f| f.rsv1));
        wire.extend(frames.into_iter().map(|f| f.payload));
    }
    assert!(wire.windows(2).all(|w| w[0] == w[1]), "the same compressed bytes everywhere");
    // With context takeover: per connection, and the repeats refer back.
    let mut s = default_pair();
    for _ in 0..2 {
        s.server.send_prepared(&msg).unwrap();
        s.client.send_prepared(&msg).unwrap();
    }
    for from in [Role::Server, Role::Client] {
        let (x, y) = sides(&mut s, from);
        let (frames, evs) = transfer(x, y, usize::MAX);
        assert_eq!(evs, vec![Ev::text(&body); 2]);
        assert!(frames[1].payload.len() * 4 < frames[0].payload.len());
    }
    // Below the threshold: the plain zero-copy frame.
    let small = PreparedMessage::new(Message::text("hi"));
    s.server.send_prepared(&small).unwrap();
    let (frames, _) = transfer(&mut s.server, &mut s.client, usize::MAX);
    assert!(!frames[0].rsv1 && frames[0].payload == b"hi");
}

#[test]
fn offloaded_compression() {
    let mut s = default_pair();
    let big = noise(20_000, 12);
    for from in [Role::Client, Role::Server] {
        let (a, b) = sides(&mut s, from);
        assert_eq!(a.deflate_config().map(DeflateConfig::get_offload_threshold), Some(Some(64 * 1024)));
        // The task runs on another thread; meanwhile data waits and control frames go out.
        let task = a.prepare_compressed(Message::text(big.clone()), SendOptions::new()).unwrap();
        assert!(task.compresses() && task.len() == big.len());
        let worker = std::thread::spawn(move || task.run());
        assert_eq!(a.send_text("later"), Err(SendError::CompressionPending));
        assert_eq!(a.send_frame_part(MessageKind::Text, Bytes::new(), true), Err(SendError::CompressionPending));
        assert_eq!(a.prepare_compressed("x", SendOptions::new()).err(), Some(SendError::CompressionPending));
        a.send_ping("still alive").unwrap();
        let done = worker.join().unwrap();
        assert!(done.is_compressed() && done.wire_len() < big.len());
        a.send_compressed(done).unwrap();
        a.send_text(big.clone()).unwrap(); // inline, continuing the same context
        let (frames, evs) = transfer(a, b, 4096);
        assert_eq!(evs, [Ev::ping(b"still alive"), Ev::text(&big), Ev::text(&big)]);
        assert!(frames[1].rsv1 && frames[2].rsv1 && frames[2].payload.len() * 4 < frames[1].payload.len());
        let _ = transfer(b, a, usize::MAX);

        // A dropped task (or result) costs nothing but the context: the next message starts a
        // fresh compressor, which the peer decodes fine.
        drop(a.prepare_compressed(Message::text(big.clone()), SendOptions::new()).unwrap());
        a.send_text(big.clone()).unwrap();
        let result = a.prepare_compressed(Message::text(big.clone()), SendOptions::new()).unwrap().run();
        drop(result);
        a.send_text(big.clone()).unwrap();
        let (_, evs) = transfer(a, b, usize::MAX);
        assert_eq!(evs, [Ev::text(&big), Ev::text(&big)]);

        // Below the threshold, or asked not to: passed through.
        let task = a.prepare_compressed(Message::text("tiny"), SendOptions::new()).unwrap();
        assert!(!task.compresses());
        a.send_compressed(task.run()).unwrap();
        let task = a.prepare_compressed(Message::binary(big.clone()), SendOptions::new().compress(false)).unwrap();
        assert!(!task.compresses());
        a.send_compressed(task.run()).unwrap();
        let (frames, evs) = transfer(a, b, usize::MAX);
        assert!(frames.iter().all(|f| !f.rsv1));
        assert_eq!(evs, [Ev::text("tiny"), Ev::binary(big.as_bytes())]);
    }
    // A result belongs to its connection.
    let mut other = default_pair();
    let done = s.client.prepare_compressed(Message::text(big.clone()), SendOptions::new()).unwrap().run();
    assert_eq!(other.client.send_compressed(done), Err(SendError::WrongConnection));
    other.client.send_text("fine").unwrap();
    s.client.send_text(big.clone()).unwrap();
    let (_, evs) = transfer(&mut s.client, &mut s.server, usize::MAX);
    assert_eq!(evs, [Ev::text(&big)]);
    // Without deflate the task is a pass-through.
    let mut plain = connect(&Config::default(), &ServerOptions::default(), &Config::default());
    let task = plain.client.prepare_compressed(Message::text(big.clone()), SendOptions::new()).unwrap();
    assert!(!task.compresses());
    plain.client.send_compressed(task.run()).unwrap();
    let (_, evs) = transfer(&mut plain.client, &mut plain.server, usize::MAX);
    assert_eq!(evs, [Ev::text(&big)]);
}

/// A message lent for compression when the connection stops being open can no longer be
/// sent: `send_compressed` refuses it and `Event::Closed` counts it in `unsent_messages`, for
/// every way out of `Open` (terminate, the pong deadline, a close that overtook it); a task dropped before, or handed back in time, is not counted.
#[test]
fn a_message_lent_for_compression_when_the_connection_ends_is_reported() {
    let big = noise(20_000, 13);
    let closed = |c: &mut Connection| loop {
        match c.poll_event(Instant::now()) {
            Some(ws_proto::Event::Closed(info)) => return info,
            Some(_) => {}
            None => panic!("no Closed"),
        }
    };
    type End = (&'static str, fn(&mut Connection));
    let ends: [End; 3] = [
        ("terminate", |c| c.terminate()),
        ("pong deadline", |c| {
            let t0 = Instant::now();
            for s in 1..=6 {
                c.handle_timeout(t0 + Duration::from_secs(s));
            }
            assert_eq!(c.state(), State::Closed);
        }),
        ("close", |c| c.close(None, Instant::now()).unwrap()),
    ];
    for (what, end) in ends {
        let keepalive =
            Config::default().keep_alive(Some(Duration::from_millis(500)), Some(Duration::from_millis(500)));
        let mut s = deflate_pair(DeflateConfig::default(), DeflateConfig::default(), &keepalive, &keepalive);
        let task = s.client.prepare_compressed(Message::text(big.clone()), SendOptions::new()).unwrap();
        end(&mut s.client);
        let done = task.run();
        assert!(s.client.send_compressed(done).is_err(), "{what}");
        if what == "close" {
            // The peer answers the close: the handshake completes, the message stays unsent.
            let out = drain(&mut s.client);
            s.server.receive(&out);
            while s.server.poll_event(Instant::now()).is_some() {}
            let back = drain(&mut s.server);
            s.client.receive(&back);
        }
        assert_eq!(closed(&mut s.client).unsent_messages, 1, "{what}");
    }
    // Handed back in time, or dropped by the adapter before the end: nothing unsent.
    let mut s = default_pair();
    let task = s.client.prepare_compressed(Message::text(big.clone()), SendOptions::new()).unwrap();
    s.client.send_compressed(task.run()).unwrap();
    drop(s.client.prepare_compressed(Message::text(big.clone()), SendOptions::new()).unwrap());
    s.client.terminate();
    assert_eq!(closed(&mut s.client).unsent_messages, 0);
}

// ------------------------------------------------------------------ properties

#[derive(Clone, Debug)]
struct Side {
    deflate: DeflateConfig,
    fragment_size: Option<usize>,
    deliver_fragments: bool,
}

fn side() -> impl Strategy<Value = Side> {
    let backends = Backend::available().to_vec();
    (
        any::<(bool, bool)>(),
        prop::option::of(8u8..=15),
        prop::option::of(8u8..=15),
        0usize..3,
        0u8..=9,
        prop::sample::select(backends),
        prop::option::of(1usize..3000),
        any::<bool>(),
    )
        .prop_map(|((snct, cnct), smwb, cmwb, threshold, level, backend, fragment_size, deliver_fragments)| Side {
            deflate: DeflateConfig::default()
                // Requested or not set (`false` may refuse what the other side requests).
                .server_no_context_takeover(snct.then_some(true))
                .client_no_context_takeover(cnct.then_some(true))
                .server_max_window_bits(smwb)
                .client_max_window_bits(cmwb)
                .threshold([0, 100, 1024][threshold])
                .compression_level(level)
                .backend(backend),
            fragment_size,
            deliver_fragments,
        })
}

fn payload() -> impl Strategy<Value = (bool, Vec<u8>)> {
    (
        any::<bool>(),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2000),
            "[a-c ]{0,6000}".prop_map(String::into_bytes),
            (0usize..40_000).prop_map(|n| text(n, 13).into_bytes()),
        ],
    )
        .prop_map(|(is_text, data)| (is_text && std::str::from_utf8(&data).is_ok(), data))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Arbitrary messages both ways under arbitrary settings on each end (every compiled
    /// backend, mixed), fragmented or not, streamed or assembled, in any read chunking: what
    /// the handshakes agree works, and every message arrives intact.
    #[test]
    fn round_trip_under_every_setting(
        client in side(),
        server in side(),
        msgs in prop::collection::vec((payload(), any::<bool>(), any::<bool>()), 1..8),
        chunk in 1usize..5000,
    ) {
        let cfg = |s: &Side| {

            Config::default().outgoing_fragment_size(s.fragment_size).deliver_fragments(s.deliver_fragments)
        };
        let mut s = deflate_pair(client.deflate.clone(), server.deflate.clone(), &cfg(&client), &cfg(&server));
        prop_assert_eq!(s.client.negotiated().deflate, s.server.negotiated().deflate);
        for ((is_text, data), from_client, compress) in &msgs {
            let from = if *from_client { Role::Client } else { Role::Server };
            let (a, b) = sides(&mut s, from);
            let msg = if *is_text {
                Message::text(String::from_utf8(data.clone()).unwrap())
            } else {
                Message::binary(data.clone())
            };
            a.send_message_with(msg, SendOptions::new().compress(*compress)).unwrap();
            let (frames, evs) = transfer(a, b, chunk);
            let expect = if *is_text { Ev::Text(data.clone()) } else { Ev::Binary(data.clone()) };
            prop_assert_eq!(assemble(evs), vec![expect]);
            prop_assert!(!frames[0].rsv1 || (*compress && a.negotiated().deflate.is_some()));
            prop_assert!(frames[1..].iter().all(|f| !f.rsv1));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Garbage and corrupted compressed streams, in any framing and mode, never panic: each
    /// message is delivered or the connection fails with 1007, 1009 or 1002.
    #[test]
    fn corrupt_compressed_input_never_panics(
        seed_msg in prop::collection::vec(any::<u8>(), 0..3000),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        garbage in prop::collection::vec(any::<u8>(), 0..200),
        use_garbage: bool,
        split in any::<prop::sample::Index>(),
        text_frame: bool,
        fragments: bool,
        limit in prop::option::of(1usize..5000),
        role in prop::sample::select(vec![Role::Client, Role::Server]),
    ) {
        let mut payload = if use_garbage { garbage } else { compress(&seed_msg) };
        for (i, x) in &flips {
            if !payload.is_empty() {
                let i = i.index(payload.len());
                payload[i] ^= x;
            }
        }
        let cfg = Config::default().deliver_fragments(fragments).max_message_size(limit);
        let mut c = direct(role, DeflateParams::default(), &cfg);
        let cut = split.index(payload.len() + 1);
        let op = if text_frame { 0x1 } else { 0x2 };
        c.receive(&RawFrame::new(op, &payload[..cut]).rsv(0b100).fin(false).to(role));
        c.receive(&RawFrame::cont(&payload[cut..]).to(role));
        let evs = poll_events(&mut c, Instant::now());
        if let Some(Ev::Closed(closed)) = evs.last() {
            prop_assert!(matches!(closed.sent.as_ref().map(|f| f.code.as_u16()), Some(1007 | 1009 | 1002)));
        } else {
            prop_assert!(!evs.is_empty());
        }
    }
}

// ------------------------------------------------------------------ interop (run by hand)

/// Drives `conn` over a blocking socket until it terminates, calling `on_event` for every
/// event (which may send) and `idle` when nothing happened for a while (which may send too).
fn drive_blocking(
    conn: &mut Connection,
    sock: &mut std::net::TcpStream,
    mut on_event: impl FnMut(&mut Connection, ws_proto::Event),
    mut idle: impl FnMut(&mut Connection) -> bool,
) -> std::io::Result<()> {
    use std::io::{ErrorKind, Read, Write};
    sock.set_read_timeout(Some(Duration::from_millis(20)))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        while let Some(ev) = conn.poll_event(now) {
            on_event(conn, ev);
        }
        while let Some(t) = conn.poll_transmit() {
            match t {
                Transmit::Data(mut data) => {
                    use ws_proto::Buf;
                    while data.has_remaining() {
                        let n = sock.write(data.chunk())?;
                        data.advance(n);
                    }
                }
                Transmit::Shutdown => sock.shutdown(std::net::Shutdown::Write)?,
            }
        }
        if conn.is_terminated() {
            return Ok(());
        }
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now);
            continue;
        }
        if !conn.wants_read() {
            if !idle(conn) {
                std::thread::sleep(Duration::from_millis(5));
            }
            continue;
        }
        match sock.read(&mut buf) {
            Ok(0) => conn.receive_eof(),
            Ok(n) => conn.receive(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                idle(conn);
            }
            Err(e) => return Err(e),
        }
    }
}

/// `DeflateConfig` from a comma-separated list: `snct`, `cnct`, `smwb=N`, `cmwb=N`,
/// `threshold=N`, `level=N`.
fn deflate_config_from(spec: &str) -> DeflateConfig {
    let mut c = DeflateConfig::default();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        let n = || v.parse::<usize>().expect("a number");
        c = match k {
            "snct" => c.server_no_context_takeover(true),
            "cnct" => c.client_no_context_takeover(true),
            "smwb" => c.server_max_window_bits(Some(n() as u8)),
            "cmwb" => c.client_max_window_bits(Some(n() as u8)),
            "threshold" => c.threshold(n()),
            "level" => c.compression_level(n() as u8),
            other => panic!("unknown setting {other}"),
        };
    }
    c
}

/// An echo server with permessage-deflate for the interop peers (`interop/node/client.js URL
/// --mode deflate`, `interop/python/client.py URL --mode deflate`): echoes text and binary,
/// answers pings, echoes closes, and closes with CODE and REASON on `close-me:CODE:REASON`.
///
/// `DEFLATE_ECHO_PORT=9301 [DEFLATE_ECHO_CONFIG=snct,smwb=10] [DEFLATE_ECHO_SECS=60]
/// cargo test -p ws-proto --test all interop_echo_server -- --ignored --nocapture`
#[test]
#[ignore = "interop: serves DEFLATE_ECHO_PORT for DEFLATE_ECHO_SECS seconds"]
fn interop_echo_server() {
    let port: u16 = std::env::var("DEFLATE_ECHO_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(9301);
    let secs: u64 = std::env::var("DEFLATE_ECHO_SECS").ok().and_then(|p| p.parse().ok()).unwrap_or(60);
    let spec = std::env::var("DEFLATE_ECHO_CONFIG").unwrap_or_default();
    let options = ServerOptions::default().per_message_deflate(Some(deflate_config_from(&spec)));
    let options = Arc::new(options);
    let config = Config::default().max_message_size(Some(64 << 20));
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    listener.set_nonblocking(true).unwrap();
    eprintln!("deflate echo server on 127.0.0.1:{port} ({spec:?}, backend {}) for {secs}s", backend().name());
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        let Ok((mut sock, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let (config, options) = (config.clone(), options.clone());
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            sock.set_nonblocking(false).unwrap();
            let mut hs = ServerHandshake::new(config, options, Instant::now());
            let mut buf = [0u8; 4096];
            let req = loop {
                match hs.poll_request() {
                    Ok(Some(r)) => break r,
                    Ok(None) => {}
                    Err(rej) => {
                        let _ = sock.write_all(rej.bytes());
                        return;
                    }
                }
                match sock.read(&mut buf) {
                    Ok(0) | Err(_) => hs.receive_eof(),
                    Ok(n) => hs.receive(&buf[..n]),
                }
            };
            let accept = match req.negotiate() {
                Ok(a) => a,
                Err(rej) => {
                    let _ = sock.write_all(rej.bytes());
                    return;
                }
            };
            let mut conn = req.accept(accept, Instant::now());
            eprintln!("accepted with {:?}", conn.negotiated().extensions);
            let echo = |conn: &mut Connection, ev: ws_proto::Event| match ev {
                ws_proto::Event::Message(Message::Text(t)) => {
                    let s = t.as_str().to_owned();
                    if let Some(rest) = s.strip_prefix("close-me:") {
                        let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
                        let frame = CloseFrame::new(code.parse::<u16>().unwrap_or(1000), reason.to_owned());
                        let _ = conn.close(Some(frame), Instant::now());
                    } else {
                        let _ = conn.send_text(t);
                    }
                }
                ws_proto::Event::Message(Message::Binary(b)) => {
                    let _ = conn.send_binary(b);
                }
                _ => {}
            };
            let _ = drive_blocking(&mut conn, &mut sock, echo, |_| false);
        });
    }
}

/// Our client against a peer's echo server (e.g. `node interop/node/echo-server.js 9302`, which
/// has `perMessageDeflate: true`): messages of every size both ways, whole and in parts, with
/// deflate offered per `DEFLATE_CLIENT_CONFIG` (same syntax as the server's).
///
/// `DEFLATE_PEER_PORT=9302 cargo test -p ws-proto --test all interop_client -- --ignored --nocapture`
#[test]
#[ignore = "interop: needs an echo server on DEFLATE_PEER_PORT"]
fn interop_client() {
    let port: u16 = std::env::var("DEFLATE_PEER_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(9302);
    let spec = std::env::var("DEFLATE_CLIENT_CONFIG").unwrap_or_default();
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let config =
        Config::default().permessage_deflate(Some(deflate_config_from(&spec))).max_message_size(Some(64 << 20));
    let now = Instant::now();
    let mut hs = ClientHandshake::new(
        ClientRequest::new(&format!("127.0.0.1:{port}"), "/"),
        Arc::new(config),
        counter_entropy(),
        now,
    )
    .unwrap();
    {
        use std::io::Write;
        sock.write_all(&client_bytes(&mut hs)).unwrap();
    }
    let mut buf = [0u8; 4096];
    let mut conn = loop {
        use std::io::Read;
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "EOF during the handshake");
        hs.receive(&buf[..n]);
        if let Some(outcome) = hs.poll_outcome(Instant::now()).expect("handshake") {
            match outcome {
                ClientOutcome::Accepted { connection, response } => {
                    eprintln!("accepted: {:?}", response.headers().get("sec-websocket-extensions"));
                    break connection;
                }
                other => panic!("{other:?}"),
            }
        }
    };
    assert!(conn.negotiated().deflate.is_some(), "the peer accepted permessage-deflate");
    let mut expected: std::collections::VecDeque<Message> = Default::default();
    let random: Vec<u8> = noise(70_000, 3).bytes().map(|b| b.wrapping_mul(37)).collect();
    // Everything is sent up front (the echoes come back in order), then driven to the close.
    for n in [0usize, 1, 100, 1023, 1024, 5000, 100_000, 3 << 20] {
        for m in [
            Message::text(noise(n, n as u32)),
            Message::binary(random.iter().cycle().take(n).copied().collect::<Vec<u8>>()),
        ] {
            conn.send_message_with(m.clone(), SendOptions::new()).unwrap();
            expected.push_back(m);
        }
    }
    let parts = [noise(3000, 1), noise(10, 2), String::new(), noise(3000, 1)];
    for (i, p) in parts.iter().enumerate() {
        conn.send_frame_part(MessageKind::Text, Bytes::from(p.clone()), i + 1 == parts.len()).unwrap();
    }
    expected.push_back(Message::text(parts.concat()));
    let (mut failures, mut received) = (0, 0);
    let total = expected.len();
    let result = drive_blocking(
        &mut conn,
        &mut sock,
        |conn, ev| match ev {
            ws_proto::Event::Message(m) => {
                let want = expected.pop_front().expect("an expected echo");
                if m != want {
                    failures += 1;
                    eprintln!("mismatch: got {} bytes, want {} bytes", m.len(), want.len());
                }
                received += 1;
                if expected.is_empty() {
                    let _ = conn.close(Some(CloseFrame::new(1000, "done")), Instant::now());
                }
            }
            ws_proto::Event::Closed(info) => eprintln!("closed: {:?} {:?}", info.code(), info.error),
            _ => {}
        },
        |_| false,
    );
    eprintln!("{received} of {total} echoes received, {failures} mismatches, {result:?}");
    assert_eq!((received, failures), (total, 0));
}

// ------------------------------------------------------------------ fragment mode

/// Fragment mode (Node `binaryType = 'fragments'`) gives one piece per frame for compressed
/// messages too: a compressed message sent in 600-byte frames, read 7 bytes at a time, comes
/// out as one inflated buffer per frame (every frame here inflates to some bytes), whatever
/// the inflate chunk size.
#[test]
fn fragment_mode_one_piece_per_compressed_frame() {
    let body = text(60_000, 5) + &noise(20_000, 9);
    for from in [Role::Client, Role::Server] {
        for chunk in [64, 32 * 1024] {
            let recv_cfg = Config::default().deliver_fragments(true);
            let send_cfg = Config::default().outgoing_fragment_size(Some(600));
            let (ccfg, scfg) = if from == Role::Client { (send_cfg, recv_cfg) } else { (recv_cfg, send_cfg) };
            let d = DeflateConfig::default().inflate_chunk_size(chunk);
            let mut s = deflate_pair(d.clone(), d, &ccfg, &scfg);
            let (a, b) = sides(&mut s, from);
            a.send_text(body.clone()).unwrap();
            let (frames, evs) = transfer(a, b, 7);
            assert!(frames.len() > 3 && frames[0].rsv1, "{} frames", frames.len());
            assert_eq!(evs.len(), frames.len(), "one piece per frame ({from:?}, chunk {chunk})");
            for (i, e) in evs.iter().enumerate() {
                assert!(
                    matches!(e, Ev::Fragment { kind: MessageKind::Text, data, fin } if !data.is_empty() && *fin == (i + 1 == evs.len())),
                    "{i}: {e:?}"
                );
            }
            assert_eq!(assemble(evs), [Ev::text(&body)]);
        }
    }
}
