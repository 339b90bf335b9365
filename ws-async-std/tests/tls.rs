//! `wss://` on async-std and smol (feature `rustls`): a TLS echo server with a certificate made
//! at test time, reached with custom roots, refused with the default roots, and reached with
//! verification turned off.
#![cfg(feature = "rustls")]

#[macro_use]
mod common;

use std::sync::Arc;

use common::*;
use futures_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use futures_rustls::rustls::{crypto, ServerConfig};
use futures_rustls::TlsAcceptor;
use ws_async_std::tls::TlsOptions;
use ws_async_std::{
    accept_with, connect, ClientBuilder, ClientStream, CloseCode, Config, ConnectError, Event, Message,
};

/// A `wss://` client with `tls` and the tests' config, as `ClientBuilder` does it.
async fn connect_tls(
    url: &str,
    config: Arc<Config>,
    tls: &TlsOptions,
) -> Result<(ws_async_std::WebSocket<ClientStream>, ws_async_std::http::Response<()>), ConnectError> {
    ClientBuilder::new(url).config(config).per_message_deflate(None).tls(tls.clone()).connect().await
}

/// A TLS echo server for `localhost` on a free port; returns its address and the
/// certificate's PEM.
async fn tls_echo_server(connections: usize) -> (std::net::SocketAddr, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let server_config = ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server_config));
    let listener = Listener::bind().await;
    let addr = listener.addr();
    let _server = spawn(async move {
        for _ in 0..connections {
            let tcp = listener.accept().await;
            let acceptor = acceptor.clone();
            let _conn = spawn(async move {
                // Clients that refuse the certificate end here.
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut ws) = accept_with(tls, config(), Arc::default()).await else { return };
                while let Some(Ok(event)) = ws.recv().await {
                    if let Event::Message(m) = event {
                        let _ = ws.send(m).await;
                    }
                }
            });
        }
    });
    (addr, certified.cert.pem())
}

both! {
    async fn wss_round_trip_with_custom_roots() {
        let (addr, pem) = tls_echo_server(1).await;
        let tls = TlsOptions::new().ca_pem(&pem);
        let url = format!("wss://localhost:{}/secure", addr.port());
        let (mut ws, response) = within(connect_tls(&url, config(), &tls)).await.unwrap();
        assert_eq!(response.status(), 101);
        assert!(matches!(ws.get_ref(), ClientStream::Tls(_)));
        within(ws.send("over tls")).await.unwrap();
        let big = payload(3, 200_000);
        within(ws.send(big.clone())).await.unwrap();
        assert!(matches!(within(ws.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("over tls")));
        assert!(matches!(within(ws.recv()).await, Some(Ok(Event::Message(Message::Binary(b)))) if b == big));
        within(ws.close(CloseCode::NORMAL, "tls bye")).await.unwrap();
        match within(ws.recv()).await {
            Some(Ok(Event::Closed(info))) => assert!(info.was_clean(), "{info:?}"),
            other => panic!("{other:?}"),
        }
        assert!(within(ws.recv()).await.is_none());
    }

    async fn wss_verification() {
        let (addr, _pem) = tls_echo_server(2).await;
        let url = format!("wss://localhost:{}/", addr.port());
        // The default roots do not know the test certificate.
        let err = within(connect(&url)).await.unwrap_err();
        assert!(matches!(&err, ConnectError::Tls(e) if e.to_string().contains("certificate")), "{err:?}");
        // Verification off (tests only).
        let tls = TlsOptions::new().danger_accept_invalid_certs(true);
        let (mut ws, _) = within(connect_tls(&url, config(), &tls)).await.unwrap();
        within(ws.send("unverified")).await.unwrap();
        assert!(matches!(within(ws.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("unverified")));
        // Malformed PEM is refused when the config is built.
        assert!(TlsOptions::new().ca_pem("not pem").build().is_err());
        let err = within(connect_tls(&url, config(), &TlsOptions::new().ca_pem("not pem"))).await.unwrap_err();
        assert!(matches!(err, ConnectError::Tls(_)), "{err:?}");
    }
}
