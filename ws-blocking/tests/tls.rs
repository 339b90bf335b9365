//! `wss://` with the blocking client over `rustls::StreamOwned`, against a blocking server over
//! TLS, with certificates generated at test time (rcgen). Every test runs under a watchdog.
#![cfg(feature = "rustls")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use ws_blocking::tls::rustls::{self, ServerConfig, ServerConnection, StreamOwned};
use ws_blocking::tls::{certs_from_pem, crypto_provider, private_key_from_pem};
use ws_blocking::ws_proto::HandshakeError;
use ws_blocking::{
    accept, connect, connect_tls, CloseInfo, Config, ConnectError, Event, Message, Plain, Stream, TlsOptions, WebSocket,
};

/// Runs `f` on a thread and fails the test if it takes longer than `secs`.
fn watchdog<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => handle.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = handle.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test timed out after {secs} s"),
    }
}

/// A CA and a server certificate for `names` signed by it: (CA PEM, chain PEM, key PEM).
fn pki(names: &[&str]) -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "blocking test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

/// A blocking `wss://` echo server on 127.0.0.1 (rustls `StreamOwned` wrapped in `Plain`),
/// serving connections until the test ends.
fn wss_echo_server(cert: &str, key: &str) -> SocketAddr {
    let config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs_from_pem(cert.as_bytes()).unwrap(), private_key_from_pem(key.as_bytes()).unwrap())
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let config = config.clone();
            thread::spawn(move || {
                tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let tls = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
                let Ok(mut ws) = accept(Plain(tls)) else { return };
                while let Ok(event) = ws.read() {
                    let message = match event {
                        Event::Message(m) => m,
                        Event::Closed(_) => break,
                        _ => continue,
                    };
                    if ws.send(message).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn next_message<S: Read + Write + ws_blocking::Transport>(ws: &mut WebSocket<S>) -> Message {
    loop {
        match ws.read().expect("read") {
            Event::Message(m) => return m,
            Event::Closed(info) => panic!("closed early: {info:?}"),
            _ => {}
        }
    }
}

fn next_closed<S: Read + Write + ws_blocking::Transport>(ws: &mut WebSocket<S>) -> CloseInfo {
    loop {
        if let Event::Closed(info) = ws.read().expect("read") {
            return info;
        }
    }
}

/// The rustls error inside a `ConnectError::Tls`.
fn rustls_error(e: &ConnectError) -> &rustls::Error {
    match e {
        ConnectError::Tls(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .unwrap_or_else(|| panic!("no rustls error in {io:?}")),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

fn config() -> Arc<Config> {
    Arc::new(Config::default())
}

#[test]
fn wss_round_trip_with_a_custom_ca() {
    watchdog(20, || {
        let (ca, cert, key) = pki(&["localhost", "127.0.0.1"]);
        let addr = wss_echo_server(&cert, &key);
        for host in ["127.0.0.1", "localhost"] {
            let url = format!("wss://{host}:{}/secure", addr.port());
            let (mut ws, response) = connect_tls(&url, config(), &TlsOptions::new().ca_pem(&ca)).unwrap();
            assert_eq!(response.status(), 101);
            assert!(matches!(ws.get_ref(), Stream::Tls(_)));
            ws.send("hello over TLS").unwrap();
            assert_eq!(next_message(&mut ws), Message::text("hello over TLS"));
            let big = vec![7u8; 200_000];
            ws.send(big.clone()).unwrap();
            assert_eq!(next_message(&mut ws), Message::binary(big));
            ws.close(None).unwrap();
            assert!(next_closed(&mut ws).close_received);
        }
        // A TLS stream is one handle: it cannot be split.
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let (ws, _) = connect_tls(&url, config(), &TlsOptions::new().ca_pem(&ca)).unwrap();
        assert_eq!(ws.split().map(|_| ()).unwrap_err().kind(), std::io::ErrorKind::Unsupported);
    });
}

#[test]
fn untrusted_certificates_are_rejected() {
    watchdog(20, || {
        let (ca, cert, key) = pki(&["127.0.0.1"]);
        let addr = wss_echo_server(&cert, &key);
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        // `connect` uses Mozilla's roots, which do not know the test CA.
        let e = connect(&url).map(|_| ()).unwrap_err();
        assert!(
            matches!(rustls_error(&e), rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
            "{e:?}"
        );
        // Another CA does not help.
        let (other_ca, _, _) = pki(&["127.0.0.1"]);
        let e = connect_tls(&url, config(), &TlsOptions::new().ca_pem(other_ca)).map(|_| ()).unwrap_err();
        assert!(matches!(rustls_error(&e), rustls::Error::InvalidCertificate(_)), "{e:?}");
        // The right one does.
        let (mut ws, _) = connect_tls(&url, config(), &TlsOptions::new().ca_pem(&ca)).unwrap();
        ws.send("trusted").unwrap();
        assert_eq!(next_message(&mut ws), Message::text("trusted"));
        // Unusable PEM.
        let e = connect_tls(&url, config(), &TlsOptions::new().ca_pem("junk")).map(|_| ()).unwrap_err();
        assert!(matches!(&e, ConnectError::Tls(io) if io.kind() == std::io::ErrorKind::InvalidInput), "{e:?}");
    });
}

#[test]
fn skip_verification_and_server_name() {
    watchdog(20, || {
        let (ca, cert, key) = pki(&["ws.test"]);
        let addr = wss_echo_server(&cert, &key);
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        // The certificate is for ws.test, not 127.0.0.1.
        let e = connect_tls(&url, config(), &TlsOptions::new().ca_pem(&ca)).map(|_| ()).unwrap_err();
        assert!(matches!(rustls_error(&e), rustls::Error::InvalidCertificate(_)), "{e:?}");
        let (mut ws, _) = connect_tls(&url, config(), &TlsOptions::new().ca_pem(&ca).server_name("ws.test")).unwrap();
        ws.send("verified as ws.test").unwrap();
        assert_eq!(next_message(&mut ws), Message::text("verified as ws.test"));
        // Not verified at all, by explicit opt-in.
        let (mut ws, _) = connect_tls(&url, config(), &TlsOptions::new().danger_accept_invalid_certs(true)).unwrap();
        ws.send("unverified").unwrap();
        assert_eq!(next_message(&mut ws), Message::text("unverified"));
        // The identity hook can refuse.
        let refuse = TlsOptions::new()
            .danger_accept_invalid_certs(true)
            .check_server_identity(|_, _, _| Err(rustls::Error::General("no".into())));
        let e = connect_tls(&url, config(), &refuse).map(|_| ()).unwrap_err();
        assert!(matches!(rustls_error(&e), rustls::Error::General(_)), "{e:?}");
    });
}

#[test]
fn tls_handshake_timeout() {
    watchdog(20, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts TCP, never speaks TLS, holds the connection until told.
        let (done, wait) = mpsc::channel::<()>();
        let holder = thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let _ = wait.recv_timeout(Duration::from_secs(10));
            drop(tcp);
        });
        let mut c = Config::default();
        c.handshake_timeout(Some(Duration::from_millis(300)));
        let started = Instant::now();
        let e = connect_tls(
            &format!("wss://127.0.0.1:{}/", addr.port()),
            Arc::new(c),
            &TlsOptions::new().danger_accept_invalid_certs(true),
        )
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(e, ConnectError::Handshake(HandshakeError::Timeout)), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        done.send(()).unwrap();
        holder.join().unwrap();
    });
}
