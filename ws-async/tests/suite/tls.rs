//! `wss://` with rustls on every runtime (tokio-rustls under tokio, futures-rustls under
//! async-std and smol), with certificates generated at test time (rcgen): custom CA, untrusted
//! certificates, skipping verification, server-name override, the identity hook, mutual TLS,
//! PKCS#12 bundles, connectors and timeouts.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use ws_async::runtime::{Custom, Io, Net};
use ws_async::server::Server;
use ws_async::tls::rustls::pki_types::{CertificateDer, ServerName};
use ws_async::tls::rustls::{self, ServerConfig};
use ws_async::tls::{
    certs_from_pem, identity_from_pkcs12, server_config_from_pem, server_config_from_pkcs12,
    server_config_with_client_auth_pem, server_config_with_client_auth_pkcs12, Pkcs12Error, TlsOptions,
};
use ws_async::{
    accept_with, connect, ClientBuilder, CloseCode, Config, ConnectError, ConnectFuture, Connector, Event, Message,
    ServerOptions, Target, WebSocket,
};

use crate::harness::*;

/// A certificate authority generated for the test.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Self { pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// A leaf certificate for `names` (DNS names or IP addresses): (chain PEM, key PEM, DER).
    fn leaf(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> (String, String, CertificateDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }

    fn server_leaf(&self, names: &[&str]) -> (String, String, CertificateDer<'static>) {
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A leaf certificate for `names` with its key and this CA's certificate, as a PKCS#12
    /// bundle protected by `passphrase` (`legacy`: 3DES, as older tools write; else AES).
    fn pkcs12(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose, passphrase: &str, legacy: bool) -> Vec<u8> {
        let (cert, key, _) = self.leaf(names, purpose);
        let mut chain = certs_from_pem(cert.as_bytes()).unwrap();
        chain.extend(certs_from_pem(self.pem.as_bytes()).unwrap());
        pkcs12_bundle(&chain, &KeyPair::from_pem(&key).unwrap().serialize_der(), passphrase, legacy)
    }
}

/// A PKCS#12 bundle of `chain` (end entity first) and the PKCS#8 key `key`.
fn pkcs12_bundle(chain: &[CertificateDer<'_>], key: &[u8], passphrase: &str, legacy: bool) -> Vec<u8> {
    use p12_keystore::{Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let certs = chain.iter().map(|c| Certificate::from_der(c).unwrap());
    let entry = PrivateKeyChain::new(&b"test key"[..], PrivateKey::from_der(key).unwrap(), certs);
    let mut store = KeyStore::new();
    store.add_entry("test", KeyStoreEntry::PrivateKeyChain(entry));
    // Fewer key-derivation rounds than the default 10 000: the tests run unoptimised.
    let writer = store.writer(passphrase).encryption_iterations(1000).mac_iterations(1000);
    let writer =
        if legacy { writer.encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc) } else { writer };
    writer.write().unwrap()
}

/// The [`Pkcs12Error`] inside an IO error.
fn pkcs12_error(e: &std::io::Error) -> &Pkcs12Error {
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    e.get_ref().and_then(|e| e.downcast_ref()).unwrap_or_else(|| panic!("expected a PKCS#12 error, got {e:?}"))
}

/// What the server saw of one TLS connection: the TLS handshake's result, with the SNI and
/// whether a client certificate was presented.
#[derive(Debug)]
struct TlsSeen {
    handshake: Result<(Option<String>, bool), String>,
}

/// A `wss://` echo server on 127.0.0.1 with `config`, built from the runtime's TLS acceptor and
/// `accept_with`; it stops when the guard is dropped.
async fn wss_server<T: TestRt>(
    config: Arc<ServerConfig>,
) -> (SocketAddr, mpsc::UnboundedReceiver<TlsSeen>, AbortOnDrop) {
    let listener = T::listen();
    let addr = T::listener_addr(&listener);
    let (tx, rx) = mpsc::unbounded_channel();
    let task = T::spawn(async move {
        loop {
            let Ok((tcp, _)) = T::accept(&listener).await else { return };
            let (config, tx) = (config.clone(), tx.clone());
            T::spawn_detached(async move {
                let tls = match T::accept_tls(tcp, config).await {
                    Ok(accepted) => {
                        let seen = (accepted.sni, accepted.client_certificate);
                        let _ = tx.send(TlsSeen { handshake: Ok(seen) });
                        accepted.stream
                    }
                    Err(e) => {
                        let _ = tx.send(TlsSeen { handshake: Err(e.to_string()) });
                        return;
                    }
                };
                let Ok(mut ws) =
                    accept_with::<_, T::R>(tls, Arc::new(Config::default()), Arc::new(ServerOptions::default())).await
                else {
                    return;
                };
                while let Some(Ok(event)) = ws.recv().await {
                    if let Event::Message(m) = event {
                        if ws.send(m).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    });
    (addr, rx, task.abort_on_drop())
}

/// Receives `text` as the next event.
async fn round_trip_recv<S, R: Io<S>>(ws: &mut WebSocket<S, R>, text: &str) {
    match within(ws.recv()).await {
        Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, text),
        other => panic!("{other:?}"),
    }
}

async fn round_trip<S, R: Io<S>>(ws: &mut WebSocket<S, R>, text: &str) {
    ws.send(text).await.unwrap();
    match within(ws.recv()).await {
        Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, text),
        other => panic!("{other:?}"),
    }
}

/// The rustls error inside a `ConnectError::Tls`.
fn rustls_error(e: &ConnectError) -> &rustls::Error {
    e.rustls_error().unwrap_or_else(|| panic!("expected a TLS error with a rustls error, got {e:?}"))
}

/// A connector that does TLS itself (e.g. with another TLS stack): here the runtime's rustls
/// adapter over the runtime's TCP, handed over as a custom stream.
struct OwnTls<T> {
    config: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    _runtime: PhantomData<fn() -> T>,
}

impl<T: TestRt> Connector<T::R> for OwnTls<T> {
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, T::R> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            assert!(target.secure);
            let tcp = T::connect(self.addr).await?;
            let name = ServerName::try_from(target.host.clone()).unwrap();
            let tls = T::connect_tls(tcp, name, self.config.clone()).await?;
            Ok(<T::R as Custom<AnyStream>>::custom(tls))
        })
    }

    fn handles_tls(&self) -> bool {
        true
    }
}

on_every_runtime! {
    /// `wss://` (and `https://`) with a custom CA, by IP and by name: messages and a clean close over TLS.
    async fn wss_round_trip_with_a_custom_ca<T: TestRt>() {
        let ca = Ca::new("test CA");
        let (cert, key, _) = ca.server_leaf(&["localhost", "127.0.0.1"]);
        let (addr, mut seen, _server) =
            wss_server::<T>(server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap()).await;
        for host in ["127.0.0.1", "localhost"] {
            let url = format!("wss://{host}:{}/secure", addr.port());
            let (mut ws, response) =
                within(ClientBuilder::<T::R>::new(&url).tls(TlsOptions::new().ca_pem(&ca.pem)).connect()).await.unwrap();
            assert_eq!(response.status(), 101);
            assert_eq!(ws.url(), Some(url.as_str()));
            assert_eq!(T::kind(ws.get_ref()), StreamKind::Tls { peer_certificates: true });
            round_trip(&mut ws, &format!("hello over TLS via {host}")).await;
            let (sni, client_cert) = within(seen.recv()).await.unwrap().handshake.unwrap();
            // No SNI for an IP address.
            assert_eq!(sni.as_deref(), (host == "localhost").then_some("localhost"));
            assert!(!client_cert);
            let big = payload(3, 200_000);
            within(ws.send(big.clone())).await.unwrap();
            assert!(matches!(within(ws.recv()).await, Some(Ok(Event::Message(Message::Binary(b)))) if b == big));
            within(ws.close(CloseCode::NORMAL, "tls bye")).await.unwrap();
            match within(ws.recv()).await {
                Some(Ok(Event::Closed(info))) => assert!(info.was_clean(), "{info:?}"),
                other => panic!("{other:?}"),
            }
            assert!(within(ws.recv()).await.is_none());
        }
        // https:// means wss://.
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new(format!("https://127.0.0.1:{}/", addr.port()))
                .tls(TlsOptions::new().ca_pem(&ca.pem))
                .per_message_deflate(None)
                .connect(),
        )
        .await
        .unwrap();
        round_trip(&mut ws, "https scheme").await;
    }

    /// Untrusted certificates are refused (default roots, another CA, another name); bad options fail early.
    async fn untrusted_certificates_are_rejected<T: TestRt>() {
        let ca = Ca::new("test CA");
        let (cert, key, _) = ca.server_leaf(&["127.0.0.1"]);
        let (addr, mut seen, _server) =
            wss_server::<T>(server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap()).await;
        let url = format!("wss://127.0.0.1:{}/", addr.port());

        // The default roots (Mozilla's) do not know the test CA: `connect` and the builder alike.
        let e = within(connect::<T::R>(&url)).await.map(|_| ()).unwrap_err();
        assert!(
            matches!(rustls_error(&e), rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
            "{e:?}"
        );
        let e = within(ClientBuilder::<T::R>::new(&url).connect()).await.map(|_| ()).unwrap_err();
        assert!(matches!(rustls_error(&e), rustls::Error::InvalidCertificate(_)), "{e:?}");

        // Another CA's root does not help; nor do the built-in roots added to it.
        let other = Ca::new("other CA");
        for options in [TlsOptions::new().ca_pem(&other.pem), TlsOptions::new().ca_pem(&other.pem).built_in_roots(true)] {
            let e = within(ClientBuilder::<T::R>::new(&url).tls(options).connect()).await.map(|_| ()).unwrap_err();
            assert!(matches!(rustls_error(&e), rustls::Error::InvalidCertificate(_)), "{e:?}");
        }
        // The server saw the handshakes fail.
        for _ in 0..4 {
            assert!(within(seen.recv()).await.unwrap().handshake.is_err());
        }

        // Unusable TLS options are reported before connecting.
        assert!(TlsOptions::new().ca_pem("not PEM").build().is_err());
        let e = within(ClientBuilder::<T::R>::new(&url).tls(TlsOptions::new().ca_pem("not PEM")).connect())
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(&e, ConnectError::Tls(io) if io.kind() == std::io::ErrorKind::InvalidInput), "{e:?}");
        let e = within(
            ClientBuilder::<T::R>::new(&url)
                .tls(TlsOptions::new().ca_pem(&ca.pem).client_auth_pem(&ca.pem, "no key"))
                .connect(),
        )
        .await
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(&e, ConnectError::Tls(io) if io.kind() == std::io::ErrorKind::InvalidInput), "{e:?}");
        // A certificate for another name.
        let (cert, key, _) = ca.server_leaf(&["elsewhere.test"]);
        let (addr, _seen, _server) =
            wss_server::<T>(server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap()).await;
        let e = within(
            ClientBuilder::<T::R>::new(format!("wss://127.0.0.1:{}/", addr.port()))
                .tls(TlsOptions::new().ca_pem(&ca.pem))
                .connect(),
        )
        .await
        .map(|_| ())
        .unwrap_err();
        assert!(
            matches!(
                rustls_error(&e),
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. })
            ),
            "{e:?}"
        );
    }

    /// Skipping certificate verification is an explicit opt-in.
    async fn skipping_verification_is_an_explicit_opt_in<T: TestRt>() {
        // A self-signed certificate for another name: nothing about it verifies.
        let ca = Ca::new("nobody");
        let (cert, key, _) = ca.server_leaf(&["unrelated.test"]);
        let (addr, _seen, _server) =
            wss_server::<T>(server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap()).await;
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        assert!(within(ClientBuilder::<T::R>::new(&url).connect()).await.is_err());
        let (mut ws, _) =
            within(ClientBuilder::<T::R>::new(&url).tls(TlsOptions::new().danger_accept_invalid_certs(true)).connect())
                .await
                .unwrap();
        round_trip(&mut ws, "unverified but encrypted").await;
    }

    /// `server_name` overrides the name verified and sent as SNI.
    async fn server_name_override<T: TestRt>() {
        let ca = Ca::new("test CA");
        let (cert, key, _) = ca.server_leaf(&["ws.test"]);
        let (addr, mut seen, _server) =
            wss_server::<T>(server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap()).await;
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let e = within(ClientBuilder::<T::R>::new(&url).tls(TlsOptions::new().ca_pem(&ca.pem)).connect())
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(rustls_error(&e), rustls::Error::InvalidCertificate(_)), "{e:?}");
        assert!(within(seen.recv()).await.unwrap().handshake.is_err());
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new(&url).tls(TlsOptions::new().ca_pem(&ca.pem).server_name("ws.test")).connect(),
        )
        .await
        .unwrap();
        // Sent as SNI too; the Host header still names the URL's host.
        assert_eq!(within(seen.recv()).await.unwrap().handshake.unwrap().0.as_deref(), Some("ws.test"));
        round_trip(&mut ws, "verified as ws.test").await;
    }

    /// The `check_server_identity` hook sees name and certificate, can refuse, and pins without verification.
    async fn check_server_identity_hook<T: TestRt>() {
        let ca = Ca::new("test CA");
        let (cert, key, der) = ca.server_leaf(&["127.0.0.1"]);
        let (addr, _seen, _server) =
            wss_server::<T>(server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap()).await;
        let url = format!("wss://127.0.0.1:{}/", addr.port());

        // After standard verification: sees the name and the certificate, can refuse.
        let calls = Arc::new(Mutex::new(Vec::new()));
        let record = calls.clone();
        let options = TlsOptions::new().ca_pem(&ca.pem).check_server_identity(move |name, end_entity, _| {
            record.lock().unwrap().push((name.to_str().into_owned(), end_entity.as_ref().to_vec()));
            Ok(())
        });
        let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).tls(options).connect()).await.unwrap();
        round_trip(&mut ws, "checked").await;
        assert_eq!(*calls.lock().unwrap(), [("127.0.0.1".to_owned(), der.as_ref().to_vec())]);
        let refuse = TlsOptions::new()
            .ca_pem(&ca.pem)
            .check_server_identity(|_, _, _| Err(rustls::Error::General("pin mismatch".into())));
        let e = within(ClientBuilder::<T::R>::new(&url).tls(refuse).connect()).await.map(|_| ()).unwrap_err();
        assert!(matches!(rustls_error(&e), rustls::Error::General(m) if m == "pin mismatch"), "{e:?}");

        // Alone, with verification skipped: certificate pinning of an untrusted certificate.
        let pinned = der.clone();
        let pin = move |_: &ServerName<'_>, end_entity: &CertificateDer<'_>, _: &[CertificateDer<'_>]| {
            if end_entity.as_ref() == pinned.as_ref() {
                Ok(())
            } else {
                Err(rustls::Error::General("not the pinned certificate".into()))
            }
        };
        let options = TlsOptions::new().danger_accept_invalid_certs(true).check_server_identity(pin.clone());
        let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).tls(options).connect()).await.unwrap();
        round_trip(&mut ws, "pinned").await;
        let (cert, key, _) = Ca::new("impostor").server_leaf(&["127.0.0.1"]);
        let (impostor, _seen, _impostor) =
            wss_server::<T>(server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap()).await;
        let options = TlsOptions::new().danger_accept_invalid_certs(true).check_server_identity(pin);
        let e = within(
            ClientBuilder::<T::R>::new(format!("wss://127.0.0.1:{}/", impostor.port())).tls(options).connect(),
        )
        .await
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(rustls_error(&e), rustls::Error::General(_)), "{e:?}");
    }

    /// Mutual TLS, required (refused without a trusted client certificate) and optional (server knows which).
    async fn mutual_tls<T: TestRt>() {
        let server_ca = Ca::new("server CA");
        let client_ca = Ca::new("client CA");
        let (cert, key, _) = server_ca.server_leaf(&["127.0.0.1"]);
        let (client_cert, client_key, _) = client_ca.leaf(&["client.test"], ExtendedKeyUsagePurpose::ClientAuth);
        let trust = || TlsOptions::new().ca_pem(&server_ca.pem);

        // Required: refused without a certificate, accepted with one from the client CA.
        let required =
            server_config_with_client_auth_pem(cert.as_bytes(), key.as_bytes(), client_ca.pem.as_bytes(), true).unwrap();
        let (addr, mut seen, _required) = wss_server::<T>(required).await;
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        // With TLS 1.3 the client learns of the refusal on its first read: any error will do.
        assert!(within(ClientBuilder::<T::R>::new(&url).tls(trust()).connect()).await.is_err());
        assert!(within(seen.recv()).await.unwrap().handshake.is_err());
        let (mut ws, _) =
            within(ClientBuilder::<T::R>::new(&url).tls(trust().client_auth_pem(&client_cert, &client_key)).connect())
                .await
                .unwrap();
        assert!(within(seen.recv()).await.unwrap().handshake.unwrap().1, "the server saw the client certificate");
        round_trip(&mut ws, "mutually authenticated").await;
        // A certificate from a CA the server does not trust.
        let (stranger_cert, stranger_key, _) = server_ca.leaf(&["stranger.test"], ExtendedKeyUsagePurpose::ClientAuth);
        assert!(within(
            ClientBuilder::<T::R>::new(&url).tls(trust().client_auth_pem(&stranger_cert, &stranger_key)).connect()
        )
        .await
        .is_err());
        assert!(within(seen.recv()).await.unwrap().handshake.is_err());

        // Optional: both are let through, and the server knows which is which.
        let optional =
            server_config_with_client_auth_pem(cert.as_bytes(), key.as_bytes(), client_ca.pem.as_bytes(), false).unwrap();
        let (addr, mut seen, _optional) = wss_server::<T>(optional).await;
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).tls(trust()).connect()).await.unwrap();
        assert!(!within(seen.recv()).await.unwrap().handshake.unwrap().1);
        round_trip(&mut ws, "anonymous").await;
        let (mut ws, _) =
            within(ClientBuilder::<T::R>::new(&url).tls(trust().client_auth_pem(&client_cert, &client_key)).connect())
                .await
                .unwrap();
        assert!(within(seen.recv()).await.unwrap().handshake.unwrap().1);
        round_trip(&mut ws, "identified").await;
    }

    /// A plain connector's stream gets TLS from the client; a connector handling TLS gets no second layer.
    async fn connectors_and_tls<T: TestRt>() {
        let ca = Ca::new("test CA");
        let (cert, key, _) = ca.server_leaf(&["service.test"]);
        let (addr, _seen, _server) =
            wss_server::<T>(server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap()).await;
        // A plain connector: the client runs TLS over its stream, verifying the URL's host.
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new("wss://service.test/")
                .connector(move |target: Target| {
                    assert_eq!((target.host.as_str(), target.port, target.secure), ("service.test", 443, true));
                    T::connect(addr)
                })
                .tls(TlsOptions::new().ca_pem(&ca.pem))
                .connect(),
        )
        .await
        .unwrap();
        assert!(matches!(T::kind(ws.get_ref()), StreamKind::Tls { .. }));
        round_trip(&mut ws, "TLS over a custom transport").await;

        // A connector that handles TLS: no second TLS layer.
        let calls = Arc::new(AtomicUsize::new(0));
        let config = TlsOptions::new().ca_pem(&ca.pem).build().unwrap();
        let own = OwnTls::<T> { config, addr, calls: calls.clone(), _runtime: PhantomData };
        let (mut ws, _) = within(ClientBuilder::<T::R>::new("wss://service.test/").connector(own).connect()).await.unwrap();
        assert_eq!(T::kind(ws.get_ref()), StreamKind::Custom);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        round_trip(&mut ws, "the connector's own TLS").await;
    }

    /// The handshake timeout covers the TLS handshake (a server that never speaks TLS).
    async fn handshake_timeout_covers_tls<T: TestRt>() {
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        // Accepts TCP, never speaks TLS.
        let holder = T::spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = T::accept(&listener).await {
                held.push(tcp);
            }
        });
        let e = within(
            ClientBuilder::<T::R>::new(format!("wss://127.0.0.1:{}/", addr.port()))
                .tls(TlsOptions::new().danger_accept_invalid_certs(true))
                .handshake_timeout(Duration::from_millis(300))
                .connect(),
        )
        .await
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(e, ConnectError::Timeout), "{e:?}");
        holder.abort();
    }

    /// `Server::bind_tls` / `serve_tls`: a `wss://` client connects and `ClientInfo::secure` is
    /// set without the application doing anything; a client that does not speak TLS is
    /// dropped; a plain `bind` listener's connections are not secure.
    async fn server_tls_listener_sets_secure<T: TestRt>() {
        let ca = Ca::new("test CA");
        let (cert, key, _) = ca.server_leaf(&["localhost", "127.0.0.1"]);
        let tls_config = server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let server = within(Server::<T::R>::builder().bind_tls("127.0.0.1", 0, tls_config.clone())).await.unwrap();
        let addr = server.local_addr().unwrap();

        // A client that does not speak TLS gets no WebSocket (and the server keeps going).
        let mut raw_tcp = raw::<T>(within(T::connect(addr)).await.unwrap());
        let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\r\n", addr.port());
        let _ = within(raw_tcp.write_all(request.as_bytes())).await;
        let mut answer = Vec::new();
        let _ = within(raw_tcp.read_to_end(&mut answer)).await;
        assert!(!answer.starts_with(b"HTTP/1.1"), "{}", String::from_utf8_lossy(&answer));

        let url = format!("wss://localhost:{}/secure", addr.port());
        let (mut ws, _) =
            within(ClientBuilder::<T::R>::new(&url).tls(TlsOptions::new().ca_pem(&ca.pem)).connect()).await.unwrap();
        let mut conn = within(server.accept()).await.unwrap();
        assert!(conn.info.secure);
        assert!(conn.info.remote.is_some_and(|a| a.ip().is_loopback()));
        assert_eq!(conn.request.uri().path(), "/secure");
        ws.send("over the TLS listener").await.unwrap();
        match within(conn.events.recv()).await {
            Some(Ok(Event::Message(m))) => conn.handle.send(m).await.unwrap(),
            other => panic!("{other:?}"),
        }
        match within(ws.recv()).await {
            Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, "over the TLS listener"),
            other => panic!("{other:?}"),
        }

        // serve_tls on the application's listener; accept_websocket's stream is TLS too.
        let listener = <T::R as Net>::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let served = Server::<T::R>::builder().serve_tls(listener, tls_config);
        let addr = served.local_addr().unwrap();
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let (mut ws, _) =
            within(ClientBuilder::<T::R>::new(&url).tls(TlsOptions::new().ca_pem(&ca.pem)).connect()).await.unwrap();
        let mut accepted = within(served.accept_websocket()).await.unwrap();
        assert!(accepted.info.secure);
        within(accepted.ws.send("served")).await.unwrap();
        round_trip_recv(&mut ws, "served").await;

        // A plain listener: not secure.
        let plain = within(Server::<T::R>::builder().bind("127.0.0.1", 0)).await.unwrap();
        let url = format!("ws://127.0.0.1:{}/", plain.local_addr().unwrap().port());
        let (_ws, _) = within(ClientBuilder::<T::R>::new(&url).connect()).await.unwrap();
        assert!(!within(plain.accept()).await.unwrap().info.secure);
    }

    /// PKCS#12 bundles (Node `pfx` + `passphrase`): a server certificate for `accept_with` and
    /// for the Server's TLS listener, a client certificate for mutual TLS, AES and legacy 3DES
    /// bundles; a wrong passphrase and a malformed bundle are clear errors on both sides.
    async fn pkcs12_bundles_for_servers_and_client_certificates<T: TestRt>() {
        let server_ca = Ca::new("server CA");
        let client_ca = Ca::new("client CA");
        let server_pfx = server_ca.pkcs12(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth, "server pass", false);
        let client_pfx = client_ca.pkcs12(&["client.test"], ExtendedKeyUsagePurpose::ClientAuth, "client pass", true);
        // The chain comes out end entity first, with the CA the bundle holds.
        let (chain, _) = identity_from_pkcs12(&server_pfx, "server pass").unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1], certs_from_pem(server_ca.pem.as_bytes()).unwrap()[0]);
        let trust = || TlsOptions::new().ca_pem(&server_ca.pem);

        // Mutual TLS with both certificates from bundles.
        let config =
            server_config_with_client_auth_pkcs12(&server_pfx, "server pass", client_ca.pem.as_bytes(), true).unwrap();
        let (addr, mut seen, _server) = wss_server::<T>(config).await;
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let tls = trust().client_auth_pkcs12(&client_pfx, "client pass");
        let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).tls(tls).connect()).await.unwrap();
        assert!(within(seen.recv()).await.unwrap().handshake.unwrap().1, "the server saw the client certificate");
        round_trip(&mut ws, "pfx on both sides").await;
        // The client's wrong passphrase fails the connect before anything is sent.
        let tls = trust().client_auth_pkcs12(&client_pfx, "not it");
        let e = within(ClientBuilder::<T::R>::new(&url).tls(tls).connect()).await.unwrap_err();
        match &e {
            ConnectError::Tls(io) => assert_eq!(pkcs12_error(io), &Pkcs12Error::WrongPassphrase),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("wrong passphrase for the PKCS#12 bundle"), "{e}");
        let tls = trust().client_auth_pkcs12(b"not a bundle", "client pass");
        match within(ClientBuilder::<T::R>::new(&url).tls(tls).connect()).await.unwrap_err() {
            ConnectError::Tls(io) => assert!(matches!(pkcs12_error(&io), Pkcs12Error::Malformed(_))),
            other => panic!("{other:?}"),
        }

        // The Server's TLS listener with a bundle.
        let config = server_config_from_pkcs12(&server_pfx, "server pass").unwrap();
        let server = within(Server::<T::R>::builder().bind_tls("127.0.0.1", 0, config)).await.unwrap();
        let url = format!("wss://127.0.0.1:{}/", server.local_addr().unwrap().port());
        let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).tls(trust()).connect()).await.unwrap();
        let conn = within(server.accept()).await.unwrap();
        assert!(conn.info.secure);
        conn.handle.send("served from a bundle").await.unwrap();
        round_trip_recv(&mut ws, "served from a bundle").await;

        // Server-side errors.
        let wrong = server_config_from_pkcs12(&server_pfx, "server pas").unwrap_err();
        assert_eq!(pkcs12_error(&wrong), &Pkcs12Error::WrongPassphrase);
        let cut = server_config_from_pkcs12(&server_pfx[..server_pfx.len() / 2], "server pass").unwrap_err();
        assert!(matches!(pkcs12_error(&cut), Pkcs12Error::Malformed(_)), "{cut}");
        let pem = server_config_from_pkcs12(server_ca.pem.as_bytes(), "server pass").unwrap_err();
        assert!(matches!(pkcs12_error(&pem), Pkcs12Error::Malformed(_)), "{pem}");
    }
}
