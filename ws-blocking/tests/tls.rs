//! `wss://`: the blocking client (ClientBuilder with TlsOptions) against the blocking
//! `Server` on a TLS listener, with certificates generated at test time (rcgen): custom CA,
//! mutual TLS, skipped verification, wrong host, split halves over TLS. Loopback only; every
//! test runs under a watchdog.
#![cfg(all(feature = "rustls", feature = "server"))]

use std::net::TcpListener;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use ws_blocking::server::Server;
use ws_blocking::tls::{rustls, server_config_from_pem, server_config_with_client_auth_pem};
use ws_blocking::{ClientBuilder, CloseCode, Config, ConnectError, Event, Message, Stream, TlsOptions};

mod common;
use common::{watchdog, ReadEvent};

/// A CA: its PEM and its issuer.
fn new_ca() -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "blocking test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pem = ca.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(ca, key))
}

/// A leaf certificate for `names` signed by `issuer`: (chain PEM, key PEM).
fn leaf(issuer: &Issuer<'static, KeyPair>, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.extended_key_usages = vec![usage];
    (params.signed_by(&key, issuer).unwrap().pem(), key.serialize_pem())
}

/// A `wss://` echo server for `names`, with (or without) required client certificates from
/// `client_ca`. Returns the CA's PEM and the port.
fn wss_echo(names: &[&str], client_ca: Option<&str>) -> (String, u16) {
    let (ca_pem, issuer) = new_ca();
    let (cert, key) = leaf(&issuer, names, ExtendedKeyUsagePurpose::ServerAuth);
    let tls = match client_ca {
        Some(client_ca) => {
            server_config_with_client_auth_pem(cert.as_bytes(), key.as_bytes(), client_ca.as_bytes(), true).unwrap()
        }
        None => server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap(),
    };
    let server = Server::builder().bind_tls("127.0.0.1", 0, tls).unwrap();
    let port = server.local_addr().unwrap().port();
    thread::spawn(move || {
        while let Ok(mut conn) = server.accept() {
            assert!(conn.info.secure);
            thread::spawn(move || {
                while let Some(Ok(m)) = conn.ws.recv_message() {
                    let _ = conn.ws.send(m);
                }
                while conn.ws.recv().is_some() {}
            });
        }
    });
    (ca_pem, port)
}

/// [`wss_echo`] with every connection on a reactor thread (Unix).
#[cfg(unix)]
fn wss_reactor_echo(names: &[&str]) -> (String, u16) {
    let (ca_pem, issuer) = new_ca();
    let (cert, key) = leaf(&issuer, names, ExtendedKeyUsagePurpose::ServerAuth);
    let tls = server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let server = Server::builder().bind_tls("127.0.0.1", 0, tls).unwrap();
    let port = server.local_addr().unwrap().port();
    let reactor = ws_blocking::reactor::Reactor::new().unwrap();
    thread::spawn(move || {
        server
            .drive_on(&reactor, |conn| {
                assert!(conn.info.secure);
                |ws: &ws_blocking::WsHandle, event: std::io::Result<Event>| {
                    if let Ok(Event::Message(m)) = event {
                        ws.send(m).unwrap();
                    }
                }
            })
            .unwrap();
    });
    (ca_pem, port)
}

fn echo_once(url: &str, tls: TlsOptions) -> Result<(), ConnectError> {
    let (mut ws, response) = ClientBuilder::new(url).tls(tls).connect()?;
    assert_eq!(response.status(), 101);
    assert!(matches!(ws.get_ref(), Stream::Tls(_)));
    ws.send("hello over TLS").unwrap();
    assert_eq!(ws.recv_message().unwrap().unwrap(), Message::text("hello over TLS"));
    let big = vec![7u8; 200_000];
    ws.send(big.clone()).unwrap();
    assert_eq!(ws.recv_message().unwrap().unwrap(), Message::binary(big));
    ws.close(CloseCode::NORMAL, "").unwrap();
    while ws.recv().is_some() {}
    assert!(ws.close_info().unwrap().close_received);
    Ok(())
}

#[cfg(unix)]
#[test]
fn tls_connections_on_a_reactor() {
    watchdog(30, || {
        let (ca, port) = wss_reactor_echo(&["127.0.0.1"]);
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let ca = ca.clone();
                thread::spawn(move || echo_once(&format!("wss://127.0.0.1:{port}/"), TlsOptions::new().ca_pem(&ca)))
            })
            .collect();
        for c in clients {
            c.join().unwrap().unwrap();
        }
    });
}

/// The rustls error inside a `ConnectError::Tls`.
fn rustls_error(e: &ConnectError) -> &rustls::Error {
    e.rustls_error().unwrap_or_else(|| panic!("expected a TLS error with a rustls error, got {e:?}"))
}

#[test]
fn custom_ca_and_wrong_host() {
    watchdog(30, || {
        let (ca, port) = wss_echo(&["localhost", "127.0.0.1"], None);
        for host in ["127.0.0.1", "localhost"] {
            echo_once(&format!("wss://{host}:{port}/secure"), TlsOptions::new().ca_pem(&ca)).unwrap();
        }
        // Mozilla's roots do not know the test CA.
        let e = ClientBuilder::new(format!("wss://127.0.0.1:{port}/")).connect().map(|_| ()).unwrap_err();
        assert!(
            matches!(rustls_error(&e), rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
            "{e:?}"
        );
        // A certificate for another name is refused, unless that name is the one verified.
        let (ca, port) = wss_echo(&["ws.test"], None);
        let url = format!("wss://127.0.0.1:{port}/");
        let e = ClientBuilder::new(&url).tls(TlsOptions::new().ca_pem(&ca)).connect().map(|_| ()).unwrap_err();
        assert!(matches!(rustls_error(&e), rustls::Error::InvalidCertificate(_)), "{e:?}");
        echo_once(&url, TlsOptions::new().ca_pem(&ca).server_name("ws.test")).unwrap();
        // Unusable PEM.
        let e = ClientBuilder::new(&url).tls(TlsOptions::new().ca_pem("junk")).connect().map(|_| ()).unwrap_err();
        assert!(matches!(&e, ConnectError::Tls(io) if io.kind() == std::io::ErrorKind::InvalidInput), "{e:?}");
    });
}

#[test]
fn danger_accept_invalid_certs() {
    watchdog(20, || {
        let (_, port) = wss_echo(&["ws.test"], None);
        let url = format!("wss://127.0.0.1:{port}/");
        echo_once(&url, TlsOptions::new().danger_accept_invalid_certs(true)).unwrap();
        // The identity hook still runs, and can refuse.
        let refuse = TlsOptions::new()
            .danger_accept_invalid_certs(true)
            .check_server_identity(|_, _, _| Err(rustls::Error::General("no".into())));
        let e = ClientBuilder::new(&url).tls(refuse).connect().map(|_| ()).unwrap_err();
        assert!(matches!(rustls_error(&e), rustls::Error::General(_)), "{e:?}");
    });
}

#[test]
fn mutual_tls_client_certificate_required() {
    watchdog(20, || {
        let (client_ca, client_issuer) = new_ca();
        let (ca, port) = wss_echo(&["127.0.0.1"], Some(&client_ca));
        let url = format!("wss://127.0.0.1:{port}/");
        // Without a certificate the server refuses the TLS handshake (TLS 1.3 reports it on
        // the first read, so the failure may also surface as an IO error during the upgrade).
        let e = ClientBuilder::new(&url).tls(TlsOptions::new().ca_pem(&ca)).connect().map(|_| ()).unwrap_err();
        assert!(matches!(e, ConnectError::Tls(_) | ConnectError::Io(_) | ConnectError::Handshake(_)), "{e:?}");
        // A certificate from another CA neither.
        let (_, stranger) = new_ca();
        let (cert, key) = leaf(&stranger, &["client"], ExtendedKeyUsagePurpose::ClientAuth);
        let tls = TlsOptions::new().ca_pem(&ca).client_auth_pem(&cert, &key);
        assert!(ClientBuilder::new(&url).tls(tls).connect().is_err());
        // The right one is let in.
        let (cert, key) = leaf(&client_issuer, &["client"], ExtendedKeyUsagePurpose::ClientAuth);
        echo_once(&url, TlsOptions::new().ca_pem(&ca).client_auth_pem(&cert, &key)).unwrap();
    });
}

#[test]
fn split_over_tls_answers_pings_while_only_the_reader_reads() {
    watchdog(30, || {
        let (ca_pem, issuer) = new_ca();
        let (cert, key) = leaf(&issuer, &["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
        let tls = server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let server = Server::builder().bind_tls("127.0.0.1", 0, tls).unwrap();
        let url = format!("wss://127.0.0.1:{}/", server.local_addr().unwrap().port());
        let (done_tx, done_rx) = mpsc::channel();
        let client = thread::spawn(move || {
            let (ws, _) = ClientBuilder::new(url).tls(TlsOptions::new().ca_pem(&ca_pem)).connect().unwrap();
            let (mut reader, mut writer) = ws.split();
            // The writer streams messages while the reader reads (and answers pings).
            let sender = thread::spawn(move || {
                for i in 0..200u32 {
                    writer.send(format!("from writer {i}")).unwrap();
                }
                done_rx.recv().unwrap();
                writer.close(CloseCode::NORMAL, "done").unwrap();
            });
            let mut pings = 0;
            let mut messages = 0;
            loop {
                match reader.read_event().unwrap() {
                    Event::Ping(_) => pings += 1,
                    Event::Message(_) => messages += 1,
                    Event::Closed(info) => {
                        assert_eq!(info.code(), CloseCode::NORMAL);
                        break;
                    }
                    _ => {}
                }
                if pings == 5 && messages == 1 {
                    done_tx.send(()).unwrap();
                }
            }
            sender.join().unwrap();
            pings
        });
        let mut conn = server.accept().unwrap();
        // The server pings and waits for each pong before the next ping.
        let mut received = 0;
        for i in 0..5u8 {
            conn.ws.ping([i]).unwrap();
            loop {
                match conn.ws.read_event().unwrap() {
                    Event::Pong(p) => {
                        assert_eq!(&p[..], &[i]);
                        break;
                    }
                    Event::Message(_) => received += 1,
                    _ => {}
                }
            }
        }
        conn.ws.send("from the server").unwrap();
        let started = Instant::now();
        let info = loop {
            match conn.ws.read_event().unwrap() {
                Event::Message(_) => received += 1,
                Event::Closed(info) => break info,
                _ => {}
            }
        };
        assert_eq!((received, info.code()), (200, CloseCode::NORMAL));
        assert_eq!(client.join().unwrap(), 5);
        assert!(started.elapsed() < Duration::from_secs(10));
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
        let started = Instant::now();
        let e = ClientBuilder::new(format!("wss://127.0.0.1:{}/", addr.port()))
            .handshake_timeout(Duration::from_millis(300))
            .tls(TlsOptions::new().danger_accept_invalid_certs(true))
            .config(Arc::new(Config::default()))
            .connect()
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, ConnectError::Timeout), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        done.send(()).unwrap();
        holder.join().unwrap();
    });
}

/// A custom connector under `wss://`: TLS is layered over the connector's stream (verified
/// against the URL's host name), and the TLS connection splits.
#[test]
fn custom_connector_under_tls() {
    watchdog(20, || {
        let (ca, port) = wss_echo(&["ws.test"], None);
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let (ws, _) = ClientBuilder::new("wss://ws.test:443/secure")
            .tls(TlsOptions::new().ca_pem(&ca))
            .connector(move |target: ws_blocking::Target| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                assert_eq!(target, ws_blocking::Target::new("ws.test", 443, true));
                std::net::TcpStream::connect(("127.0.0.1", port))
            })
            .connect()
            .unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        let Stream::Tls(tls) = ws.get_ref() else { panic!("{:?}", ws.get_ref()) };
        assert!(matches!(tls.get_ref(), Stream::Custom(_)));
        assert!(ws.get_ref().is_custom() && ws.get_ref().is_tls());
        let (mut reader, mut writer) = ws.split();
        writer.send("over TLS over a custom stream").unwrap();
        assert_eq!(reader.recv_message().unwrap().unwrap(), Message::text("over TLS over a custom stream"));
        writer.close(CloseCode::NORMAL, "").unwrap();
        while reader.recv().is_some() {}
        assert!(reader.close_info().unwrap().close_received);
    });
}

/// A PKCS#12 bundle of the leaf `chain_pem` (plus `ca_pem`) and its key, with `passphrase`;
/// `legacy`: 3DES, as older tools write, else AES.
fn pkcs12_bundle(chain_pem: &str, key_pem: &str, ca_pem: &str, passphrase: &str, legacy: bool) -> Vec<u8> {
    use p12_keystore::{Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    use ws_blocking::tls::certs_from_pem;
    let certs =
        certs_from_pem(chain_pem.as_bytes()).unwrap().into_iter().chain(certs_from_pem(ca_pem.as_bytes()).unwrap());
    let certs = certs.map(|c| Certificate::from_der(&c).unwrap());
    let key = PrivateKey::from_der(&KeyPair::from_pem(key_pem).unwrap().serialize_der()).unwrap();
    let mut store = KeyStore::new();
    store.add_entry("test", KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(&b"test key"[..], key, certs)));
    // Fewer key-derivation rounds than the default 10 000: the tests run unoptimised.
    let writer = store.writer(passphrase).encryption_iterations(1000).mac_iterations(1000);
    let writer =
        if legacy { writer.encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc) } else { writer };
    writer.write().unwrap()
}

/// The [`Pkcs12Error`](ws_blocking::tls::Pkcs12Error) inside an IO error.
fn pkcs12_error(e: &std::io::Error) -> &ws_blocking::tls::Pkcs12Error {
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    e.get_ref().and_then(|e| e.downcast_ref()).unwrap_or_else(|| panic!("expected a PKCS#12 error, got {e:?}"))
}

/// PKCS#12 bundles (Node `pfx` + `passphrase`): the server's certificate on the TLS listener
/// and the client's for mutual TLS, AES and legacy 3DES; a wrong passphrase and a malformed
/// bundle are clear errors on both sides.
#[test]
fn pkcs12_bundles_for_the_server_and_the_client_certificate() {
    use ws_blocking::tls::{server_config_from_pkcs12, server_config_with_client_auth_pkcs12, Pkcs12Error};
    watchdog(30, || {
        let (server_ca, server_issuer) = new_ca();
        let (client_ca, client_issuer) = new_ca();
        let (cert, key) = leaf(&server_issuer, &["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
        let server_pfx = pkcs12_bundle(&cert, &key, &server_ca, "server pass", true);
        let (cert, key) = leaf(&client_issuer, &["client.test"], ExtendedKeyUsagePurpose::ClientAuth);
        let client_pfx = pkcs12_bundle(&cert, &key, &client_ca, "client pass", false);

        let tls =
            server_config_with_client_auth_pkcs12(&server_pfx, "server pass", client_ca.as_bytes(), true).unwrap();
        let server = Server::builder().bind_tls("127.0.0.1", 0, tls).unwrap();
        let url = format!("wss://127.0.0.1:{}/", server.local_addr().unwrap().port());
        let served = thread::spawn(move || {
            let mut conn = server.accept().unwrap();
            assert!(conn.info.secure);
            let m = conn.ws.recv_message().unwrap().unwrap();
            conn.ws.send(m).unwrap();
            while conn.ws.recv().is_some() {}
        });
        let trust = || TlsOptions::new().ca_pem(&server_ca);
        // Without the client certificate the server refuses the TLS handshake.
        assert!(ClientBuilder::new(&url).tls(trust()).connect().is_err());
        let (mut ws, _) =
            ClientBuilder::new(&url).tls(trust().client_auth_pkcs12(&client_pfx, "client pass")).connect().unwrap();
        ws.send("pfx on both sides").unwrap();
        assert_eq!(ws.recv_message().unwrap().unwrap(), Message::text("pfx on both sides"));
        ws.close(CloseCode::NORMAL, "").unwrap();
        while ws.recv().is_some() {}
        served.join().unwrap();

        // Client-side errors fail the connect before anything is sent.
        let e = ClientBuilder::new(&url)
            .tls(trust().client_auth_pkcs12(&client_pfx, "nope"))
            .connect()
            .map(|_| ())
            .unwrap_err();
        match &e {
            ConnectError::Tls(io) => assert_eq!(pkcs12_error(io), &Pkcs12Error::WrongPassphrase),
            other => panic!("{other:?}"),
        }
        let e = ClientBuilder::new(&url)
            .tls(trust().client_auth_pkcs12(b"junk", "client pass"))
            .connect()
            .map(|_| ())
            .unwrap_err();
        match &e {
            ConnectError::Tls(io) => assert!(matches!(pkcs12_error(io), Pkcs12Error::Malformed(_))),
            other => panic!("{other:?}"),
        }
        // Server-side errors.
        assert_eq!(
            pkcs12_error(&server_config_from_pkcs12(&server_pfx, "nope").unwrap_err()),
            &Pkcs12Error::WrongPassphrase
        );
        let cut = server_config_from_pkcs12(&server_pfx[..100], "server pass").unwrap_err();
        assert!(matches!(pkcs12_error(&cut), Pkcs12Error::Malformed(_)), "{cut}");
    });
}
