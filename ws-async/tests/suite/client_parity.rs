//! Node `ws` client options that go beyond the basics, on every runtime: a required
//! subprotocol, the redirect hook (`'redirect'`), the request hook (`finishRequest`), `auth`,
//! the masking-key source (`generateMask`), unmasked sends (`mask: false`), SNI turned off
//! (`servername: ''`) and the normalised `url()` on every connect path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use ws_async::http::{HeaderMap, StatusCode};
use ws_async::runtime::Io;
use ws_async::tls::{server_config_from_pem, TlsOptions};
use ws_async::ws_proto::{accept_key, HandshakeError};
use ws_async::{
    accept_hdr_with, accept_with, connect, connect_config, Accept, ClientBuilder, CloseCode, Config, ConnectError,
    Event, Message, RedirectAction, SendOptions, ServerOptions, UpgradeRequest, WebSocket,
};

use crate::harness::decide::*;
use crate::harness::*;

/// What a test server saw of one upgrade request.
#[derive(Debug)]
struct Seen {
    path: String,
    headers: HeaderMap,
}

/// A WebSocket server on 127.0.0.1 that reports each request, lets `decide` answer it, and
/// echoes messages on accepted connections with `config`; it stops when the guard is dropped.
async fn server<T: TestRt>(
    config: Config,
    decide: Arc<Decide>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>, AbortOnDrop) {
    let listener = T::listen();
    let addr = T::listener_addr(&listener);
    let (tx, rx) = mpsc::unbounded_channel();
    let config = Arc::new(config);
    let task = T::spawn(async move {
        loop {
            let Ok((tcp, _)) = T::accept(&listener).await else { return };
            let (tx, decide, config) = (tx.clone(), decide.clone(), config.clone());
            T::spawn_detached(async move {
                let options = Arc::new(ServerOptions::default());
                let accepted = accept_hdr_with::<_, T::R, _>(tcp, config, options, |req: &UpgradeRequest| {
                    let _ = tx.send(Seen { path: req.path().to_owned(), headers: req.request().headers().clone() });
                    decide(req)
                })
                .await;
                if let Ok(ws) = accepted {
                    echo(ws).await;
                }
            });
        }
    });
    (addr, rx, task.abort_on_drop())
}

async fn echo<S, R: Io<S>>(mut ws: WebSocket<S, R>) {
    while let Some(Ok(event)) = ws.recv().await {
        if let Event::Message(m) = event {
            if ws.send(m).await.is_err() {
                break;
            }
        }
    }
}

async fn round_trip<S, R: Io<S>>(ws: &mut WebSocket<S, R>, text: &str) {
    ws.send(text).await.unwrap();
    match within(ws.recv()).await {
        Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, text),
        other => panic!("{other:?}"),
    }
}

/// Reads a request head from `io`; returns its lines (without CRLF).
async fn read_head<R: tokio::io::AsyncBufRead + Unpin>(io: &mut R) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        io.read_line(&mut line).await.unwrap();
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return lines;
        }
        lines.push(line);
    }
}

on_every_runtime! {
    /// `require_subprotocol(true)` fails the handshake when the server chose none of the offered subprotocols.
    async fn required_subprotocol<T: TestRt>() {
        let none: Arc<Decide> = Arc::new(|_: &UpgradeRequest| Ok(Accept::default()));
        let (addr, _seen, _server) = server::<T>(Config::default(), none).await;
        let url = format!("ws://127.0.0.1:{}/", addr.port());
        let e = within(ClientBuilder::<T::R>::new(&url).subprotocol("chat").require_subprotocol(true).connect())
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, ConnectError::Handshake(HandshakeError::SubprotocolMissing)), "{e:?}");
        assert!(e.to_string().contains("no subprotocol"), "{e}");
        // Not required (the default): accepted without one.
        let (ws, _) = within(ClientBuilder::<T::R>::new(&url).subprotocol("chat").connect()).await.unwrap();
        assert_eq!(ws.protocol(), None);
        // Required and chosen: accepted.
        let (addr, _seen, _server) = server::<T>(Config::default(), negotiate()).await;
        let url = format!("ws://127.0.0.1:{}/", addr.port());
        let (ws, _) = within(ClientBuilder::<T::R>::new(&url).subprotocol("chat").require_subprotocol(true).connect())
            .await
            .unwrap();
        assert_eq!(ws.protocol(), Some("chat"));
    }

    /// The redirect hook sees each redirect, can keep credentials across hosts, edit headers, or stop.
    async fn redirect_hook<T: TestRt>() {
        let (target, mut target_seen, _target) = server::<T>(Config::default(), negotiate()).await;
        let location = format!("http://127.0.0.1:{}/final", target.port());
        let (first, mut first_seen, _first) = server::<T>(Config::default(), redirecting("/start", location)).await;
        let start = format!("ws://127.0.0.1:{}/start", first.port());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        let builder = ClientBuilder::<T::R>::new(&start)
            .follow_redirects(true)
            .header("Authorization", "Bearer secret")
            .header("Cookie", "c=1")
            .header("X-Drop", "1")
            .on_redirect(move |redirect| {
                log.lock().unwrap().push((
                    redirect.url().to_string(),
                    redirect.previous_url().to_string(),
                    redirect.status(),
                    redirect.credentials_dropped(),
                    redirect.header("authorization").map(str::to_owned),
                    header_str(redirect.response_headers(), "set-cookie").map(str::to_owned),
                    redirect.redirects_followed(),
                ));
                redirect.keep_credentials();
                redirect.set_header("X-Hop", "1");
                assert_eq!(redirect.remove_header("x-drop").as_deref(), Some("1"));
                RedirectAction::Follow
            });
        let (mut ws, _) = within(builder.clone().connect()).await.unwrap();
        let final_url = format!("ws://127.0.0.1:{}/final", target.port());
        assert_eq!(ws.url(), Some(final_url.as_str()));
        round_trip(&mut ws, "kept").await;
        let calls = std::mem::take(&mut *calls.lock().unwrap());
        // Another host: the policy had dropped the credentials before the hook ran.
        assert_eq!(
            calls,
            [(final_url.clone(), start.clone(), StatusCode::FOUND, true, None, Some("hop=1".to_owned()), 0)]
        );
        assert_eq!(header_str(&first_seen.recv().await.unwrap().headers, "x-drop"), Some("1"));
        let s = target_seen.recv().await.unwrap();
        assert_eq!(s.path, "/final");
        assert_eq!(header_str(&s.headers, "authorization"), Some("Bearer secret"));
        assert_eq!(header_str(&s.headers, "cookie"), Some("c=1"));
        assert_eq!(header_str(&s.headers, "x-hop"), Some("1"));
        assert_eq!(s.headers.get("x-drop"), None);
        // The Host header names the new host.
        assert_eq!(header_str(&s.headers, "host"), Some(format!("127.0.0.1:{}", target.port()).as_str()));

        // A hook that only looks leaves the safe policy alone.
        let (ws, _) = within(
            ClientBuilder::<T::R>::new(&start)
                .follow_redirects(true)
                .header("Authorization", "Bearer secret")
                .on_redirect(|_| RedirectAction::Follow)
                .connect(),
        )
        .await
        .unwrap();
        drop(ws);
        first_seen.recv().await.unwrap();
        assert_eq!(target_seen.recv().await.unwrap().headers.get("authorization"), None);

        // Stop: the redirect is the error, as when redirects are not followed.
        let stop = ClientBuilder::<T::R>::new(&start).follow_redirects(true).on_redirect(|_| RedirectAction::Stop);
        match within(stop.connect()).await {
            Err(ConnectError::Rejected { status, headers, .. }) => {
                assert_eq!(status, StatusCode::FOUND);
                assert_eq!(header_str(&headers, "location"), Some(format!("http://127.0.0.1:{}/final", target.port()).as_str()));
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        first_seen.recv().await.unwrap();
        assert!(target_seen.try_recv().is_err(), "not followed");
    }

    /// `finish_request` edits every request (the first and each redirect's) right before it is sent.
    async fn finish_request_hook<T: TestRt>() {
        let (addr, mut seen, _server) = server::<T>(Config::default(), redirecting("/old", "/new?x=1".into())).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/old", addr.port()))
                .follow_redirects(true)
                .header("X-Remove", "1")
                .subprotocol("chat")
                .finish_request(move |request| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(request.subprotocols(), ["chat"]);
                    assert_eq!(request.headers()["x-remove"], "1");
                    let signature = format!("sig:{}", request.path_and_query());
                    request.header("X-Signature", &signature).remove_header("X-Remove")
                })
                .connect(),
        )
        .await
        .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        for path in ["/old", "/new"] {
            let s = seen.recv().await.unwrap();
            assert_eq!(s.path, path);
            let expected = if path == "/old" { "sig:/old" } else { "sig:/new?x=1" };
            assert_eq!(header_str(&s.headers, "x-signature"), Some(expected));
            assert_eq!(s.headers.get("x-remove"), None);
        }
        round_trip(&mut ws, "signed").await;
    }

    /// `auth("user:pass")` sends Basic credentials; URL userinfo wins over it, an Authorization header over both.
    async fn auth_option<T: TestRt>() {
        let (addr, mut seen, _server) = server::<T>(Config::default(), negotiate()).await;
        let port = addr.port();
        let cases = [
            (format!("ws://127.0.0.1:{port}/"), None, basic("user:pass")),
            (format!("ws://url:info@127.0.0.1:{port}/"), None, basic("url:info")),
            (format!("ws://url:info@127.0.0.1:{port}/"), Some("Bearer t"), "Bearer t".to_owned()),
        ];
        for (url, header, expected) in cases {
            let mut builder = ClientBuilder::<T::R>::new(&url).auth("user:pass");
            if let Some(h) = header {
                builder = builder.header("Authorization", h);
            }
            let (ws, _) = within(builder.connect()).await.unwrap();
            drop(ws);
            let s = seen.recv().await.unwrap();
            assert_eq!(header_str(&s.headers, "authorization"), Some(expected.as_str()), "{url}");
        }
    }

    /// `generate_mask` supplies every masking key; the `Sec-WebSocket-Key` still comes from the OS.
    async fn generate_mask_supplies_the_keys<T: TestRt>() {
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        let peer = T::spawn(async move {
            let (tcp, _) = T::accept(&listener).await.unwrap();
            let mut io = BufReader::new(raw::<T>(tcp));
            let head = read_head(&mut io).await;
            let key = head
                .iter()
                .find_map(|l| l.to_ascii_lowercase().starts_with("sec-websocket-key:").then(|| l[18..].trim().to_owned()))
                .unwrap();
            let accept = accept_key(key.as_bytes());
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            io.get_mut().write_all(response.as_bytes()).await.unwrap();
            let mut frames = [0u8; 2 * (2 + 4 + 5)];
            io.read_exact(&mut frames).await.unwrap();
            (key, frames)
        });
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/", addr.port()))
                .per_message_deflate(None)
                .generate_mask(move |key| {
                    let n = counted.fetch_add(1, Ordering::SeqCst) as u8;
                    key.copy_from_slice(&[n, 2, 3, 4]);
                })
                .connect(),
        )
        .await
        .unwrap();
        within(ws.send("hello")).await.unwrap();
        within(ws.send("again")).await.unwrap();
        let (key, frames) = within(peer).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one key per frame, none for the handshake");
        let nonce = base64::engine::general_purpose::STANDARD.decode(&key).unwrap();
        assert_eq!(nonce.len(), 16);
        assert_ne!(&nonce[..4], &[0, 2, 3, 4], "the nonce is not drawn from the generator");
        for (i, (frame, text)) in frames.chunks(11).zip(["hello", "again"]).enumerate() {
            assert_eq!(&frame[..2], &[0x81, 0x80 | 5]);
            assert_eq!(&frame[2..6], &[i as u8, 2, 3, 4]);
            let payload: Vec<u8> = frame[6..].iter().enumerate().map(|(j, b)| b ^ frame[2 + j % 4]).collect();
            assert_eq!(payload, text.as_bytes());
        }
    }

    /// `send_unmasked` sends one unmasked frame: a conforming server fails the connection with 1002.
    async fn send_unmasked_is_refused_by_a_conforming_server<T: TestRt>() {
        let (addr, _seen, _server) = server::<T>(Config::default(), negotiate()).await;
        let url = format!("ws://127.0.0.1:{}/", addr.port());
        let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).connect()).await.unwrap();
        round_trip(&mut ws, "masked").await;
        within(ws.send_unmasked("unmasked")).await.unwrap();
        assert!(!ws.connection().unmasked_sends(), "only that message");
        loop {
            match within(ws.recv()).await {
                Some(Ok(Event::Closed(info))) => {
                    assert_eq!(info.code(), CloseCode::PROTOCOL_ERROR);
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        // A server that accepts unmasked frames gets the message, and later sends are masked.
        let (addr, _seen, _server) = server::<T>(Config::default().accept_unmasked_frames(true), negotiate()).await;
        let url = format!("ws://127.0.0.1:{}/", addr.port());
        let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).connect()).await.unwrap();
        within(ws.send_unmasked("unmasked")).await.unwrap();
        match within(ws.recv()).await {
            Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, "unmasked"),
            other => panic!("{other:?}"),
        }
        round_trip(&mut ws, "masked again").await;
    }

    /// `send_with` (Node `send(data, { compress, mask })`): a message sent with options is
    /// delivered (ws-proto's deflate tests check that `compress(false)` leaves RSV1 off), and
    /// `mask(false)` from the split writer is refused by a
    /// conforming server with 1002 (only that message: the writer's own `send` before went through).
    async fn send_with_options_on_the_socket_and_the_split_writer<T: TestRt>() {
        let (addr, _seen, _server) = server::<T>(Config::default(), negotiate()).await;
        let url = format!("ws://127.0.0.1:{}/", addr.port());
        let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).connect()).await.unwrap();
        let text = "uncompressed ".repeat(200);
        within(ws.send_with(text.as_str(), SendOptions::default().compress(false))).await.unwrap();
        match within(ws.recv()).await {
            Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, text.as_str()),
            other => panic!("{other:?}"),
        }
        let (mut reader, mut writer) = ws.split();
        within(writer.send_with("masked", SendOptions::default())).await.unwrap();
        match within(reader.recv()).await {
            Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, "masked"),
            other => panic!("{other:?}"),
        }
        within(writer.send_with("unmasked", SendOptions::default().mask(false))).await.unwrap();
        loop {
            match within(reader.recv()).await {
                Some(Ok(Event::Closed(info))) => {
                    assert_eq!(info.code(), CloseCode::PROTOCOL_ERROR);
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    /// `TlsOptions::sni(false)` (or Node's `servername: ''`) sends no SNI; the certificate is still verified.
    async fn sni_can_be_turned_off<T: TestRt>() {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_pem = params.self_signed(&key).unwrap().pem();
        let issuer = Issuer::new(params, key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
        let config = server_config_from_pem(leaf.pem().as_bytes(), leaf_key.serialize_pem().as_bytes()).unwrap();
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        let (tx, mut sni) = mpsc::unbounded_channel();
        let _server = T::spawn(async move {
            loop {
                let Ok((tcp, _)) = T::accept(&listener).await else { return };
                let (config, tx) = (config.clone(), tx.clone());
                T::spawn_detached(async move {
                    let Ok(tls) = T::accept_tls(tcp, config).await else { return };
                    let _ = tx.send(tls.sni);
                    let options = Arc::new(ServerOptions::default());
                    if let Ok(ws) = accept_with::<_, T::R>(tls.stream, Arc::new(Config::default()), options).await {
                        echo(ws).await;
                    }
                });
            }
        })
        .abort_on_drop();
        let url = format!("wss://localhost:{}/", addr.port());
        let options = || TlsOptions::new().ca_pem(&ca_pem);
        assert!(options().is_sni_enabled());
        for (tls, expected) in [
            (options(), Some("localhost")),
            (options().sni(false), None),
            (options().server_name(""), None),
            (options().sni(false).sni(true), Some("localhost")),
        ] {
            assert_eq!(tls.is_sni_enabled(), expected.is_some());
            let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).tls(tls).connect()).await.unwrap();
            assert_eq!(within(sni.recv()).await.unwrap().as_deref(), expected);
            round_trip(&mut ws, "over TLS").await;
        }
        // Still verified: without SNI, a certificate for another name is refused.
        let wrong = ClientBuilder::<T::R>::new(format!("wss://127.0.0.1:{}/", addr.port())).tls(options().sni(false));
        assert!(matches!(within(wrong.connect()).await.map(|_| ()), Err(ConnectError::Tls(_))));
    }

    /// `url()` is the normalised URL (`http` → `ws`, default path) on every connect path, redirects included.
    async fn url_is_normalised_on_every_path<T: TestRt>() {
        let (addr, _seen, _server) = server::<T>(Config::default(), negotiate()).await;
        let port = addr.port();
        let expected = format!("ws://127.0.0.1:{port}/");
        let (ws, _) = within(connect::<T::R>(&format!("http://127.0.0.1:{port}"))).await.unwrap();
        assert_eq!(ws.url(), Some(expected.as_str()));
        let (ws, _) =
            within(connect_config::<T::R>(&format!("HTTP://127.0.0.1:{port}"), Arc::new(Config::default()))).await.unwrap();
        assert_eq!(ws.url(), Some(expected.as_str()));
        let (ws, _) = within(ClientBuilder::<T::R>::new(format!("http://127.0.0.1:{port}/a/../b?q")).connect()).await.unwrap();
        assert_eq!(ws.url(), Some(format!("ws://127.0.0.1:{port}/b?q").as_str()));
        // After a redirect: the normalised Location (resolved, http → ws), here a relative one.
        let (other, _other_seen, _other) = server::<T>(Config::default(), negotiate()).await;
        let location = format!("HTTP://127.0.0.1:{}/next/./x", other.port());
        let (first, _first_seen, _first) = server::<T>(Config::default(), redirecting("/go", location)).await;
        let (ws, _) = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/go", first.port())).follow_redirects(true).connect(),
        )
        .await
        .unwrap();
        assert_eq!(ws.url(), Some(format!("ws://127.0.0.1:{}/next/x", other.port()).as_str()));
    }
}
