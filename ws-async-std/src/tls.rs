//! TLS with rustls (feature `rustls`): the client options ([`TlsOptions`], given to
//! [`ClientBuilder::tls`](crate::ClientBuilder::tls)) and config helpers come from
//! [`ws_async::tls`]; this module adds the futures-rustls pieces to serve `wss://`
//! ([`accept_tls`], [`TlsAcceptor`]).

use std::io;

use futures_io::{AsyncRead, AsyncWrite};

pub use futures_rustls::{TlsAcceptor, TlsConnector};
pub use ws_async::tls::*;

/// The client side of a TLS stream ([`ClientStream::Tls`](crate::ClientStream::Tls) holds one).
pub type ClientTlsStream<S> = futures_rustls::client::TlsStream<S>;

/// The server side of a TLS stream, from [`accept_tls`].
pub type ServerTlsStream<S> = futures_rustls::server::TlsStream<S>;

/// Runs the server side of the TLS handshake on a freshly accepted stream (the
/// [`Server`](crate::server::Server) does it itself when built with `bind_tls` / `serve_tls`) and returns the TLS
/// stream, ready for [`accept_with`](crate::accept_with) or its variants. Bound it with a
/// timeout: a client that never completes the handshake otherwise holds the stream.
pub async fn accept_tls<S>(stream: S, acceptor: &TlsAcceptor) -> io::Result<ServerTlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    acceptor.accept(stream).await
}
