//! WebSocket over an external HTTPS server (Node `ws` example "Simple server over HTTPS" with
//! an `https.Server`): a hyper 1.x server behind rustls answers plain HTTPS on `/` and hands
//! upgrades on `/ws` to a [`Server`] in `noServer` mode, which echoes. The certificate is
//! self-signed for `localhost`, made at startup with rcgen.
//!
//! `cargo run -p ws-tokio --example server-https -- [PORT]` (default 8443), then e.g.
//! `wscat --no-check -c wss://localhost:8443/ws` (the certificate is not trusted).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use ws_tokio::server::{self, ClientInfo, Server};
use ws_tokio::tls::{accept_tls, server_config_from_pem, TlsAcceptor};
use ws_tokio::{Event, WebSocket};

/// A TLS acceptor with a fresh self-signed certificate for `localhost` and 127.0.0.1.
pub fn self_signed() -> io::Result<(TlsAcceptor, String)> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let cert = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let cert_pem = cert.cert.pem();
    let config = server_config_from_pem(cert_pem.as_bytes(), cert.signing_key.serialize_pem().as_bytes())?;
    Ok((TlsAcceptor::from(config), cert_pem))
}

/// Serves HTTPS on `listener`.
pub async fn run(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<()> {
    let server = Arc::new(Server::builder().path("/ws").build());
    loop {
        let (tcp, remote) = listener.accept().await?;
        let (server, acceptor) = (server.clone(), acceptor.clone());
        tokio::spawn(async move {
            // Bound the TLS handshake: a client that never finishes it would hold the socket.
            let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), accept_tls(tcp, &acceptor)).await else {
                return;
            };
            let service = service_fn(move |req| handle(server.clone(), req, remote));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), service).with_upgrades().await;
        });
    }
}

async fn handle(
    server: Arc<Server>,
    mut req: Request<Incoming>,
    remote: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if !server.should_handle(&req) {
        return Ok(Response::new(Full::from("hello over HTTPS\n")));
    }
    // Node's `info.secure`: the request came over TLS.
    let info = ClientInfo::new(Some(remote)).with_secure(true);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let head = req.map(|_| ());
    match server.respond(&head, &info) {
        Ok((response, conn)) => {
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else { return };
                // hyper's `Upgraded` replays the bytes hyper read past the request, so
                // `from_connection`; `from_parts` is for the raw stream plus those bytes
                // (`Upgraded::downcast`, see the server-multiple example).
                let ws = WebSocket::from_connection(TokioIo::new(upgraded), conn);
                let mut client = server.track(ws, info, head);
                while let Some(Ok(event)) = client.events.recv().await {
                    if let Event::Message(msg) = event {
                        let _ = client.handle.send(msg).await;
                    }
                }
            });
            Ok(response.map(|()| Full::default()))
        }
        Err(rejection) => Ok(server::rejection_response(&rejection).map(Full::new)),
    }
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let port: u16 = std::env::args().nth(1).map_or(Ok(8443), |p| p.parse()).map_err(io::Error::other)?;
    let (acceptor, _cert_pem) = self_signed()?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on https://{} (WebSocket on /ws)", listener.local_addr()?);
    run(listener, acceptor).await
}
