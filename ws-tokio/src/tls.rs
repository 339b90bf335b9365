//! TLS with rustls (feature `rustls`): the client options ([`TlsOptions`], given to
//! [`ClientBuilder::tls`](crate::ClientBuilder::tls)) and config helpers come from
//! [`ws_async::tls`]; this module adds the tokio-rustls pieces to serve `wss://`
//! ([`accept_tls`], [`TlsAcceptor`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use ws_tokio::tls::{accept_tls, server_config_from_pem, TlsAcceptor};
//! use ws_tokio::{accept_with, Config, ServerOptions};
//!
//! # async fn run(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let acceptor = TlsAcceptor::from(server_config_from_pem(cert_pem, key_pem)?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9443").await?;
//! let (config, options) = (Arc::new(Config::default()), Arc::new(ServerOptions::default()));
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     let (acceptor, config, options) = (acceptor.clone(), config.clone(), options.clone());
//!     tokio::spawn(async move {
//!         let Ok(tls) = accept_tls(tcp, &acceptor).await else { return };
//!         let Ok(mut ws) = accept_with(tls, config, options).await else { return };
//!         // … ws.recv() / ws.send() …
//! #       let _ = ws.recv().await;
//!     });
//! }
//! # }
//! ```

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

pub use tokio_rustls::{TlsAcceptor, TlsConnector};
pub use ws_async::tls::*;

/// The client side of a TLS stream ([`ClientStream::Tls`](crate::ClientStream::Tls) holds one).
pub type ClientTlsStream<S> = tokio_rustls::client::TlsStream<S>;

/// The server side of a TLS stream, from [`accept_tls`].
pub type ServerTlsStream<S> = tokio_rustls::server::TlsStream<S>;

/// Runs the server side of the TLS handshake on a freshly accepted stream (the
/// [`Server`](crate::server::Server) does it itself when built with `bind_tls` / `serve_tls`) (typically a
/// `TcpStream`) and returns the TLS stream, ready for [`accept_with`](crate::accept_with) or
/// its variants. Bound it with `tokio::time::timeout`: a client that never completes the
/// handshake otherwise holds the stream. A failed handshake is an `io::Error` (the rustls
/// error inside, e.g. a client certificate that does not verify).
pub async fn accept_tls<S>(stream: S, acceptor: &TlsAcceptor) -> io::Result<ServerTlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    acceptor.accept(stream).await
}
