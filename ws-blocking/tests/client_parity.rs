//! Node `ws` client options beyond the basics, on the blocking `ClientBuilder`: a required
//! subprotocol, the redirect hook (`'redirect'`), the request hook (`finishRequest`), `auth`,
//! the masking-key source (`generateMask`), unmasked sends (`mask: false`), SNI turned off
//! (`servername: ''`) and the normalised `url()` on every connect path. Loopback only; every
//! test runs under a watchdog.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;

use ws_blocking::http::{HeaderMap, StatusCode};
use ws_blocking::ws_proto::{accept_key, HandshakeError};
use ws_blocking::{
    accept, accept_hdr, connect, connect_config, Accept, ClientBuilder, CloseCode, Config, ConnectError, Event,
    Message, RedirectAction, ServerOptions, UpgradeRequest,
};

mod common;
#[path = "../../testkit/decide.rs"]
mod decide;
use common::{serve, watchdog};
use decide::*;

/// A server on 127.0.0.1 with `config`: reports each request's path and headers, lets
/// `decide` answer it, and echoes messages on accepted connections.
fn server(config: Config, decide: Arc<Decide>) -> (SocketAddr, Receiver<(String, HeaderMap)>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let config = Arc::new(config);
    let (addr, _) = serve(usize::MAX, move |tcp: TcpStream| {
        let options = Arc::new(ServerOptions::default());
        let accepted = accept_hdr(tcp, config.clone(), options, |req: &UpgradeRequest| {
            let _ = tx.lock().unwrap().send((req.path().to_owned(), req.request().headers().clone()));
            decide(req)
        });
        if let Ok(mut ws) = accepted {
            while let Some(Ok(m)) = ws.recv_message() {
                if ws.send(m).is_err() {
                    break;
                }
            }
        }
    });
    (addr, rx)
}

fn round_trip<S: Read + Write + ws_blocking::Transport>(ws: &mut ws_blocking::WebSocket<S>, text: &str) {
    ws.send(text).unwrap();
    assert_eq!(ws.recv_message().unwrap().unwrap(), Message::text(text));
}

#[test]
fn required_subprotocol() {
    watchdog(20, || {
        let (addr, _seen) = server(Config::default(), Arc::new(|_: &UpgradeRequest| Ok(Accept::default())));
        let url = format!("ws://{addr}/");
        let e =
            ClientBuilder::new(&url).subprotocol("chat").require_subprotocol(true).connect().map(|_| ()).unwrap_err();
        assert!(matches!(e, ConnectError::Handshake(HandshakeError::SubprotocolMissing)), "{e:?}");
        let (ws, _) = ClientBuilder::new(&url).subprotocol("chat").connect().unwrap();
        assert_eq!(ws.protocol(), None);
        let (addr, _seen) = server(Config::default(), negotiate());
        let (ws, _) = ClientBuilder::new(format!("ws://{addr}/"))
            .subprotocol("chat")
            .require_subprotocol(true)
            .connect()
            .unwrap();
        assert_eq!(ws.protocol(), Some("chat"));
    });
}

#[test]
fn redirect_hook() {
    watchdog(20, || {
        let (target, target_seen) = server(Config::default(), negotiate());
        let (first, first_seen) = server(Config::default(), redirecting("/start", format!("http://{target}/final")));
        let start = format!("ws://{first}/start");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        let (mut ws, _) = ClientBuilder::new(&start)
            .follow_redirects(true)
            .header("Authorization", "Bearer secret")
            .header("Cookie", "c=1")
            .on_redirect(move |redirect| {
                log.lock().unwrap().push((
                    redirect.url().to_string(),
                    redirect.status(),
                    redirect.credentials_dropped(),
                    redirect.header("cookie").is_some(),
                ));
                redirect.keep_credentials();
                redirect.set_header("X-Hop", "1");
                RedirectAction::Follow
            })
            .connect()
            .unwrap();
        let final_url = format!("ws://{target}/final");
        assert_eq!(ws.url(), Some(final_url.as_str()));
        assert_eq!(*calls.lock().unwrap(), [(final_url, StatusCode::FOUND, true, false)]);
        first_seen.recv().unwrap();
        let (path, h) = target_seen.recv().unwrap();
        assert_eq!(path, "/final");
        assert_eq!(header_str(&h, "authorization"), Some("Bearer secret"));
        assert_eq!(header_str(&h, "cookie"), Some("c=1"));
        assert_eq!(header_str(&h, "x-hop"), Some("1"));
        round_trip(&mut ws, "kept");

        // A hook that only looks leaves the safe policy alone.
        let (ws, _) = ClientBuilder::new(&start)
            .follow_redirects(true)
            .header("Authorization", "Bearer secret")
            .on_redirect(|_| RedirectAction::Follow)
            .connect()
            .unwrap();
        drop(ws);
        first_seen.recv().unwrap();
        assert_eq!(target_seen.recv().unwrap().1.get("authorization"), None);

        // Stop: the redirect is the error.
        let e = ClientBuilder::new(&start)
            .follow_redirects(true)
            .on_redirect(|_| RedirectAction::Stop)
            .connect()
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, ConnectError::Rejected { status: StatusCode::FOUND, .. }), "{e:?}");
        first_seen.recv().unwrap();
        assert!(target_seen.try_recv().is_err(), "not followed");
    });
}

#[test]
fn finish_request_hook() {
    watchdog(20, || {
        let (addr, seen) = server(Config::default(), redirecting("/old", "/new?x=1".into()));
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/old"))
            .follow_redirects(true)
            .header("X-Remove", "1")
            .finish_request(move |request| {
                counted.fetch_add(1, Ordering::SeqCst);
                let signature = format!("sig:{}", request.path_and_query());
                request.header("X-Signature", &signature).remove_header("x-remove")
            })
            .connect()
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        for (path, signature) in [("/old", "sig:/old"), ("/new", "sig:/new?x=1")] {
            let (p, h) = seen.recv().unwrap();
            assert_eq!(p, path);
            assert_eq!(header_str(&h, "x-signature"), Some(signature));
            assert_eq!(h.get("x-remove"), None);
        }
        round_trip(&mut ws, "signed");
    });
}

#[test]
fn auth_option() {
    watchdog(20, || {
        let (addr, seen) = server(Config::default(), negotiate());
        let cases = [
            (format!("ws://{addr}/"), None, basic("user:pass")),
            (format!("ws://url:info@{addr}/"), None, basic("url:info")),
            (format!("ws://url:info@{addr}/"), Some("Bearer t"), "Bearer t".to_owned()),
        ];
        for (url, header, expected) in cases {
            let mut builder = ClientBuilder::new(&url).auth("user:pass");
            if let Some(h) = header {
                builder = builder.header("Authorization", h);
            }
            drop(builder.connect().unwrap());
            let (_, h) = seen.recv().unwrap();
            assert_eq!(header_str(&h, "authorization"), Some(expected.as_str()), "{url}");
        }
    });
}

#[test]
fn generate_mask_supplies_the_keys() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let (addr, _) = serve(1, move |tcp: TcpStream| {
            let mut reader = BufReader::new(tcp.try_clone().unwrap());
            let mut key = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if line.to_ascii_lowercase().starts_with("sec-websocket-key:") {
                    key = line[18..].trim().to_owned();
                }
                line.clear();
            }
            let accept = accept_key(key.as_bytes());
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            (&tcp).write_all(response.as_bytes()).unwrap();
            let mut frames = [0u8; 2 * (2 + 4 + 5)];
            reader.read_exact(&mut frames).unwrap();
            tx.send((key, frames)).unwrap();
        });
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/"))
            .per_message_deflate(None)
            .generate_mask(move |key| {
                let n = counted.fetch_add(1, Ordering::SeqCst) as u8;
                key.copy_from_slice(&[n, 2, 3, 4]);
            })
            .connect()
            .unwrap();
        ws.send("hello").unwrap();
        ws.send("again").unwrap();
        let (key, frames) = rx.recv().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one key per frame, none for the handshake");
        // The 16-byte nonce (24 characters of base64) did not come from the generator, which
        // fills 4 bytes and would have panicked.
        assert_eq!(key.len(), 24);
        for (i, (frame, text)) in frames.chunks(11).zip(["hello", "again"]).enumerate() {
            assert_eq!(&frame[..2], &[0x81, 0x80 | 5]);
            assert_eq!(&frame[2..6], &[i as u8, 2, 3, 4]);
            let payload: Vec<u8> = frame[6..].iter().enumerate().map(|(j, b)| b ^ frame[2 + j % 4]).collect();
            assert_eq!(payload, text.as_bytes());
        }
    });
}

#[test]
fn send_unmasked_is_refused_by_a_conforming_server() {
    watchdog(20, || {
        let (addr, _seen) = server(Config::default(), negotiate());
        let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/")).connect().unwrap();
        round_trip(&mut ws, "masked");
        ws.send_unmasked("unmasked").unwrap();
        assert!(!ws.connection().unmasked_sends(), "only that message");
        let closed = std::iter::from_fn(|| ws.recv()).find_map(|e| match e {
            Ok(Event::Closed(info)) => Some(info),
            _ => None,
        });
        assert_eq!(closed.unwrap().code(), CloseCode::PROTOCOL_ERROR);

        let (addr, _seen) = server(Config::default().accept_unmasked_frames(true), negotiate());
        let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/")).connect().unwrap();
        ws.send_unmasked("unmasked").unwrap();
        assert_eq!(ws.recv_message().unwrap().unwrap(), Message::text("unmasked"));
        round_trip(&mut ws, "masked again");
    });
}

#[cfg(feature = "rustls")]
#[test]
fn sni_can_be_turned_off() {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use ws_blocking::tls::{rustls, server_config_from_pem};
    use ws_blocking::{Plain, TlsOptions};

    watchdog(30, || {
        let key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_pem = ca.self_signed(&key).unwrap().pem();
        let issuer = Issuer::new(ca, key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
        let config = server_config_from_pem(leaf.pem().as_bytes(), leaf_key.serialize_pem().as_bytes()).unwrap();

        // A TLS server that reports the SNI of each ClientHello, then echoes.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, sni) = mpsc::channel();
        thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(mut tcp) = tcp else { return };
                let (config, tx) = (config.clone(), tx.clone());
                thread::spawn(move || {
                    let mut acceptor = rustls::server::Acceptor::default();
                    let accepted = loop {
                        if acceptor.read_tls(&mut tcp).is_err() {
                            return;
                        }
                        match acceptor.accept() {
                            Ok(Some(accepted)) => break accepted,
                            Ok(None) => {}
                            Err(_) => return,
                        }
                    };
                    let _ = tx.send(accepted.client_hello().server_name().map(str::to_owned));
                    let Ok(conn) = accepted.into_connection(config) else { return };
                    let Ok(mut ws) = accept(Plain(rustls::StreamOwned::new(conn, tcp))) else { return };
                    while let Some(Ok(m)) = ws.recv_message() {
                        if ws.send(m).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let url = format!("wss://localhost:{port}/");
        let options = || TlsOptions::new().ca_pem(&ca_pem);
        for (tls, expected) in
            [(options(), Some("localhost")), (options().sni(false), None), (options().server_name(""), None)]
        {
            assert_eq!(tls.is_sni_enabled(), expected.is_some());
            let (mut ws, _) = ClientBuilder::new(&url).tls(tls).connect().unwrap();
            assert_eq!(sni.recv().unwrap().as_deref(), expected);
            round_trip(&mut ws, "over TLS");
        }
        // Still verified without SNI: the certificate does not name 127.0.0.1.
        let e = ClientBuilder::new(format!("wss://127.0.0.1:{port}/"))
            .tls(options().sni(false))
            .connect()
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, ConnectError::Tls(_)), "{e:?}");
    });
}

#[test]
fn url_is_normalised_on_every_path() {
    watchdog(20, || {
        let (addr, _seen) = server(Config::default(), negotiate());
        let expected = format!("ws://{addr}/");
        let (ws, _) = connect(&format!("http://{addr}")).unwrap();
        assert_eq!(ws.url(), Some(expected.as_str()));
        let (ws, _) = connect_config(&format!("HTTP://{addr}"), Arc::new(Config::default())).unwrap();
        assert_eq!(ws.url(), Some(expected.as_str()));
        let (ws, _) = ClientBuilder::new(format!("http://{addr}/a/../b?q")).connect().unwrap();
        assert_eq!(ws.url(), Some(format!("ws://{addr}/b?q").as_str()));
        let (first, _first_seen) = server(Config::default(), redirecting("/go", format!("HTTP://{addr}/next/./x")));
        let (ws, _) = ClientBuilder::new(format!("ws://{first}/go")).follow_redirects(true).connect().unwrap();
        assert_eq!(ws.url(), Some(format!("ws://{addr}/next/x").as_str()));
    });
}

/// `send_with` (Node `send(data, { compress, mask })`) on the socket and the split writer:
/// `compress(false)` is delivered, `mask(false)` is refused by a conforming server with 1002.
#[test]
fn send_with_options() {
    watchdog(20, || {
        let addr = echo_server_for_send_with();
        let (mut ws, _) = connect(&format!("ws://{addr}/")).expect("connect");
        ws.send_with("plain", ws_blocking::SendOptions::default().compress(false)).expect("send");
        assert!(matches!(ws.recv(), Some(Ok(Event::Message(m))) if m == Message::text("plain")));
        let (mut reader, mut writer) = ws.split();
        writer.send_with("unmasked", ws_blocking::SendOptions::default().mask(false)).expect("send");
        loop {
            match reader.recv() {
                Some(Ok(Event::Closed(info))) => {
                    assert_eq!(info.code(), CloseCode::PROTOCOL_ERROR);
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    });
}

fn echo_server_for_send_with() -> SocketAddr {
    serve(usize::MAX, |stream| {
        if let Ok(mut ws) = accept(stream) {
            while let Some(Ok(event)) = ws.recv() {
                if let Event::Message(m) = event {
                    if ws.send(m).is_err() {
                        break;
                    }
                }
            }
        }
    })
    .0
}
