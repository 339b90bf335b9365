//! End-to-end opening handshakes in memory: the client's request bytes go into a
//! `ServerHandshake`, the server's answer goes back into the `ClientHandshake`, and both sides
//! end with working `Connection`s (or the client with a `Rejected` outcome).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_proto::handshake::client::{ClientHandshake, ClientOutcome, ClientRequest};
use ws_proto::handshake::server::{Accept, Refusal, Rejection, ServerHandshake, ServerOptions, UpgradeRequest};
use ws_proto::http::{self, HeaderMap, HeaderValue, StatusCode};
use ws_proto::{Bytes, Config, Connection, Entropy, Event, HandshakeError, Message, Role};

/// Deterministic entropy: 1, 2, 3, ... (wrapping).
fn entropy() -> Box<dyn Entropy> {
    let mut n = 0u8;
    Box::new(move |dest: &mut [u8]| {
        for b in dest {
            n = n.wrapping_add(1);
            *b = n;
        }
    })
}

fn config() -> Arc<Config> {
    Arc::new(Config::default())
}

/// Everything the client handshake wants written.
fn client_bytes(hs: &mut ClientHandshake) -> Vec<u8> {
    use ws_proto::{Buf, Transmit};
    let mut out = Vec::new();
    while let Some(Transmit::Data(mut t)) = hs.poll_transmit() {
        let n = t.chunk().len();
        out.extend_from_slice(t.chunk());
        t.advance(n);
    }
    out
}

fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    conn.transmit_into(&mut out);
    out
}

/// Feeds `bytes` to the server in chunks of `step` until it decides; also returns the bytes of
/// later chunks, which an adapter hands to the connection itself.
fn serve_rest(bytes: &[u8], step: usize, options: ServerOptions) -> Result<(UpgradeRequest, &[u8]), Rejection> {
    let mut hs = ServerHandshake::new(config(), Arc::new(options), Instant::now());
    let step = step.max(1);
    for (i, chunk) in bytes.chunks(step).enumerate() {
        hs.receive(chunk);
        if let Some(req) = hs.poll_request()? {
            let used = (i * step + chunk.len()).min(bytes.len());
            return Ok((req, &bytes[used..]));
        }
    }
    hs.receive_eof();
    hs.poll_request().map(|r| (r.expect("decided at EOF"), &[][..]))
}

fn serve(bytes: &[u8], step: usize, options: ServerOptions) -> Result<UpgradeRequest, Rejection> {
    serve_rest(bytes, step, options).map(|(r, _)| r)
}

/// Feeds `bytes` to the client in chunks of `step`, then EOF, until it decides; also returns
/// the bytes of later chunks.
fn conclude_rest<'a>(
    hs: &mut ClientHandshake,
    bytes: &'a [u8],
    step: usize,
    now: Instant,
) -> Result<(ClientOutcome, &'a [u8]), HandshakeError> {
    let step = step.max(1);
    for (i, chunk) in bytes.chunks(step).enumerate() {
        hs.receive(chunk);
        if let Some(o) = hs.poll_outcome(now)? {
            let used = (i * step + chunk.len()).min(bytes.len());
            return Ok((o, &bytes[used..]));
        }
    }
    hs.receive_eof();
    hs.poll_outcome(now).map(|o| (o.expect("decided at EOF"), &[][..]))
}

fn conclude(
    hs: &mut ClientHandshake,
    bytes: &[u8],
    step: usize,
    now: Instant,
) -> Result<ClientOutcome, HandshakeError> {
    conclude_rest(hs, bytes, step, now).map(|(o, _)| o)
}

fn text(conn: &mut Connection, now: Instant) -> String {
    match conn.poll_event(now) {
        Some(Event::Message(Message::Text(t))) => t.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn client_and_server_complete_the_handshake_and_talk() {
    for step in [1, 7, 4096] {
        let now = Instant::now();
        let req = ClientRequest::new("example.com:8080", "/chat?room=1")
            .subprotocol("v1.chat")
            .subprotocol("v2.chat")
            .origin("https://example.com")
            .header("Cookie", "id=7");
        let mut client = ClientHandshake::new(req, config(), entropy(), now).unwrap();

        let mut request = client_bytes(&mut client);
        // A client frame pipelined right behind the request: masked "early".
        let key = [9, 8, 7, 6];
        let mut early = vec![0x81, 0x80 | 5, 9, 8, 7, 6];
        early.extend(b"early".iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        request.extend_from_slice(&early);

        let options = ServerOptions::default()
            .path("/chat")
            .origins(["https://example.com"])
            .subprotocols(["v2.chat"])
            .on_headers(|req, h| {
                let cookie = req.request().headers()["cookie"].clone();
                h.insert("x-echo-cookie", cookie);
            });
        let (upgrade, rest) = serve_rest(&request, step, options).unwrap();
        assert_eq!(upgrade.path(), "/chat");
        assert_eq!(upgrade.query(), Some("room=1"));
        assert_eq!(upgrade.origin(), Some("https://example.com"));
        assert_eq!(upgrade.key(), client.key());
        let accept = upgrade.negotiate().unwrap();
        assert_eq!(accept.subprotocol.as_deref(), Some("v2.chat"));
        let mut server = upgrade.accept(accept, now);
        assert_eq!(server.role(), Role::Server);
        assert_eq!(server.negotiated().subprotocol.as_deref(), Some("v2.chat"));
        // The pipelined frame reaches the server connection: the part that came with the head
        // as leftover, the rest as the adapter forwards later reads.
        server.receive(rest);
        assert_eq!(text(&mut server, now), "early");

        // The server speaks first: its frame follows the 101 in the same write.
        server.send_text("welcome").unwrap();
        let response = drain(&mut server);
        assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
        let (outcome, rest) = conclude_rest(&mut client, &response, step, now).unwrap();
        let ClientOutcome::Accepted { response, connection: mut client_conn } = outcome else { panic!("not accepted") };
        assert_eq!(response.headers()["x-echo-cookie"], "id=7");
        assert_eq!(client_conn.role(), Role::Client);
        assert_eq!(client_conn.negotiated(), server.negotiated());
        client_conn.receive(rest);
        assert_eq!(text(&mut client_conn, now), "welcome");

        // Both directions work after the handshake.
        client_conn.send_text("hello server").unwrap();
        server.receive(&drain(&mut client_conn));
        assert_eq!(text(&mut server, now), "hello server");
        server.send_text("hello client").unwrap();
        client_conn.receive(&drain(&mut server));
        assert_eq!(text(&mut client_conn, now), "hello client");
    }
}

#[test]
fn version_8_handshake() {
    let now = Instant::now();
    let req = ClientRequest::new("legacy.example", "/").protocol_version(8).origin("http://legacy.example");
    let mut client = ClientHandshake::new(req, config(), entropy(), now).unwrap();
    let request = client_bytes(&mut client);
    let text_req = String::from_utf8(request.clone()).unwrap();
    assert!(text_req.contains("Sec-WebSocket-Version: 8\r\n"));
    assert!(text_req.contains("Sec-WebSocket-Origin: http://legacy.example\r\n"));
    let options = ServerOptions::default().origins(["http://legacy.example"]);
    let upgrade = serve(&request, 4096, options).unwrap();
    assert_eq!(upgrade.version(), 8);
    let accept = upgrade.negotiate().unwrap();
    let mut server = upgrade.accept(accept, now);
    let ClientOutcome::Accepted { connection, .. } = conclude(&mut client, &drain(&mut server), 4096, now).unwrap()
    else {
        panic!("not accepted")
    };
    assert_eq!(connection.negotiated().version, 8);
    assert_eq!(server.negotiated().version, 8);
}

#[test]
fn verify_client_refusal_reaches_the_client_as_rejected() {
    let now = Instant::now();
    let mut client = ClientHandshake::new(ClientRequest::new("h", "/"), config(), entropy(), now).unwrap();
    let request = client_bytes(&mut client);
    let options = ServerOptions::default().verify_client(|_| {
        Err(Refusal::new(StatusCode::UNAUTHORIZED)
            .with_header(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"ws\""))
            .with_body("who are you?"))
    });
    let upgrade = serve(&request, 4096, options).unwrap();
    let rejection = upgrade.negotiate().unwrap_err();
    assert_eq!(rejection.error, None);
    match conclude(&mut client, rejection.bytes(), 5, now).unwrap() {
        ClientOutcome::Rejected { response, body } => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"ws\"");
            assert_eq!(&body[..], b"who are you?");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn protocol_errors_reach_the_client_as_rejected() {
    let now = Instant::now();
    let mut client = ClientHandshake::new(ClientRequest::new("h", "/"), config(), entropy(), now).unwrap();
    let mut request = client_bytes(&mut client);
    // Corrupt the version: the server answers 400 with the versions it supports.
    let text_req = String::from_utf8(request).unwrap().replace("Version: 13", "Version: 14");
    request = text_req.into_bytes();
    let rejection = serve(&request, 3, ServerOptions::default()).unwrap_err();
    assert_eq!(rejection.error, Some(HandshakeError::UnsupportedVersion));
    let ClientOutcome::Rejected { response, body } = conclude(&mut client, rejection.bytes(), 3, now).unwrap() else {
        panic!("not rejected")
    };
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["sec-websocket-version"], "13, 8");
    assert_eq!(&body[..], HandshakeError::UnsupportedVersion.to_string().as_bytes());
}

#[test]
fn redirect_is_data_for_the_adapter() {
    let now = Instant::now();
    let mut client = ClientHandshake::new(ClientRequest::new("old.example", "/ws"), config(), entropy(), now).unwrap();
    let request = client_bytes(&mut client);
    let upgrade = serve(&request, 4096, ServerOptions::default()).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(http::header::LOCATION, HeaderValue::from_static("wss://new.example/ws"));
    let rejection = upgrade.reject(StatusCode::MOVED_PERMANENTLY, headers, Bytes::new());
    let ClientOutcome::Rejected { response, body } = conclude(&mut client, rejection.bytes(), 4096, now).unwrap()
    else {
        panic!("not rejected")
    };
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(response.headers()[http::header::LOCATION], "wss://new.example/ws");
    assert_eq!(&body[..], b"Moved Permanently");
    #[cfg(feature = "url")]
    {
        let location = response.headers()[http::header::LOCATION].to_str().unwrap();
        let req = ClientRequest::from_url(&url::Url::parse(location).unwrap()).unwrap();
        assert!(req.is_secure());
        assert_eq!((req.host(), req.port(), req.path_and_query()), ("new.example", 443, "/ws"));
    }
}

#[test]
fn no_server_mode_with_an_external_http_parser() {
    let now = Instant::now();
    let mut client = ClientHandshake::new(ClientRequest::new("h", "/up"), config(), entropy(), now).unwrap();
    let request = client_bytes(&mut client);
    // Another HTTP stack parsed the head; the bytes after it are Node's `head` buffer.
    let mut slots = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Request::new(&mut slots);
    let n = match parsed.parse(&request).unwrap() {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => panic!("partial"),
    };
    assert_eq!(n, request.len());
    let mut builder = http::Request::builder().method(parsed.method.unwrap()).uri(parsed.path.unwrap());
    for h in parsed.headers.iter() {
        builder = builder.header(h.name, h.value);
    }
    let http_req = builder.body(()).unwrap();
    let upgrade = UpgradeRequest::from_http(&http_req, Bytes::new(), config(), Arc::default()).unwrap();
    // The host writes the 101 itself.
    let (response, server) = upgrade.accept_http(Accept::default(), now);
    let mut head = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    for (n, v) in response.headers() {
        head.extend_from_slice(format!("{}: {}\r\n", n, v.to_str().unwrap()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    assert!(matches!(conclude(&mut client, &head, 4096, now).unwrap(), ClientOutcome::Accepted { .. }));
    assert_eq!(server.role(), Role::Server);
}

#[test]
fn handshake_timeouts_on_both_sides() {
    let now = Instant::now();
    let c = Config::default().handshake_timeout(Some(Duration::from_millis(500)));
    let c = Arc::new(c);
    let mut server = ServerHandshake::new(c.clone(), Arc::default(), now);
    let mut client = ClientHandshake::new(ClientRequest::new("h", "/"), c, entropy(), now).unwrap();
    let request = client_bytes(&mut client);
    server.receive(&request[..10]);
    assert!(server.poll_request().unwrap().is_none());
    let deadline = server.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_millis(500));
    server.handle_timeout(deadline);
    let rejection = server.poll_request().unwrap_err();
    assert_eq!(rejection.status(), StatusCode::REQUEST_TIMEOUT);
    // The client times out on its own deadline as well.
    assert_eq!(client.poll_timeout(), Some(deadline));
    client.handle_timeout(deadline);
    assert_eq!(client.poll_outcome(deadline).unwrap_err(), HandshakeError::Timeout);
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn valid_request() -> Vec<u8> {
        let req = ClientRequest::new("example.com", "/chat").subprotocol("a").subprotocol("b");
        let mut hs = ClientHandshake::new(req, config(), entropy(), Instant::now()).unwrap();
        client_bytes(&mut hs)
    }

    fn valid_response(key: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: a\r\n\r\n",
            ws_proto::accept_key(key.as_bytes())
        )
        .into_bytes()
    }

    /// `base` with some bytes replaced.
    fn mutate(mut base: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
        for &(i, b) in edits {
            let n = base.len();
            base[i % n] = b;
        }
        base
    }

    /// A comparable summary of what the server decided.
    fn server_summary(bytes: &[u8], step: usize) -> String {
        match serve(bytes, step, ServerOptions::default()) {
            Ok(r) => match r.negotiate() {
                Ok(a) => format!("accept {:?} {:?} {:?}", r.request().uri(), r.request().headers(), a.subprotocol),
                Err(rej) => format!("negotiate-reject {:?}", rej.bytes()),
            },
            Err(rej) => format!("reject {:?}", rej.bytes()),
        }
    }

    fn client_summary(bytes: &[u8], step: usize) -> String {
        let req = ClientRequest::new("example.com", "/chat").subprotocol("a").subprotocol("b");
        let mut hs = ClientHandshake::new(req, config(), entropy(), Instant::now()).unwrap();
        match conclude(&mut hs, bytes, step, Instant::now()) {
            Ok(ClientOutcome::Accepted { response, connection }) => {
                format!("accepted {:?} {:?}", response.headers(), connection.negotiated())
            }
            Ok(ClientOutcome::Rejected { response, body }) => format!("rejected {response:?} {body:?}"),
            Err(e) => format!("error {e:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn server_survives_and_ignores_chunking(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            noise in proptest::collection::vec(any::<u8>(), 0..64),
            step in 1usize..64,
        ) {
            let mut bytes = mutate(valid_request(), &edits);
            bytes.extend_from_slice(&noise);
            prop_assert_eq!(server_summary(&bytes, step), server_summary(&bytes, bytes.len()));
        }

        #[test]
        fn server_survives_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..512), step in 1usize..32) {
            let _ = server_summary(&bytes, step);
        }

        #[test]
        fn client_survives_and_ignores_chunking(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            step in 1usize..64,
        ) {
            // The key drawn from `entropy()` is base64 of 1..=16.
            let key = {
                let mut req_hs =
                    ClientHandshake::new(ClientRequest::new("example.com", "/chat"), config(), entropy(), Instant::now())
                        .unwrap();
                let _ = client_bytes(&mut req_hs);
                req_hs.key().to_owned()
            };
            let bytes = mutate(valid_response(&key), &edits);
            prop_assert_eq!(client_summary(&bytes, step), client_summary(&bytes, bytes.len()));
        }

        #[test]
        fn client_survives_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..512), step in 1usize..32) {
            let _ = client_summary(&bytes, step);
        }
    }
}
