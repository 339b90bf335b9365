//! Opening a client's transport: TCP (optionally from a chosen local address), or a
//! user-supplied [`Connector`] (Node `ws`'s `agent` / `createConnection`), which is also how
//! another transport (SOCKS, an in-memory pipe, a QUIC stream…) plugs into
//! [`ClientBuilder`](crate::ClientBuilder).

use std::future::Future;
use std::io;
use std::pin::Pin;

use crate::runtime::{Custom, Net, Target};

/// The future a [`Connector`] returns: the runtime's client stream (a custom stream is wrapped
/// with [`Custom::custom`]).
pub type ConnectFuture<'a, R> = Pin<Box<dyn Future<Output = io::Result<<R as Net>::ClientStream>> + Send + 'a>>;

/// Opens the byte stream for a client connection (Node `ws`'s `agent`): given the host, port and
/// whether TLS is wanted, returns any stream of the runtime's IO traits. With a proxy
/// ([`ClientBuilder::proxy`](crate::ClientBuilder::proxy)) the target is the proxy itself
/// (`secure` false); the tunnel and TLS are then layered over the returned stream.
///
/// Closures implement it:
///
/// ```no_run
/// use ws_tokio::{ClientBuilder, Target};
///
/// # async fn run() -> Result<(), ws_tokio::ConnectError> {
/// let (ws, _) = ClientBuilder::new("ws://example.com/chat")
///     .connector(|target: Target| async move {
///         // e.g. a SOCKS client, a pre-resolved address, an in-memory pipe…
///         tokio::net::TcpStream::connect((target.host.as_str(), target.port)).await
///     })
///     .connect()
///     .await?;
/// # drop(ws);
/// # Ok(())
/// # }
/// ```
///
/// A type implementing the trait by hand can also say it already did TLS
/// ([`handles_tls`](Self::handles_tls)), e.g. to use another TLS library.
pub trait Connector<R: Net>: Send + Sync + 'static {
    /// Opens a stream to `target`.
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, R>;

    /// Whether the streams returned for `secure` targets are already TLS streams, so that the
    /// client must not add its own TLS layer. Defaults to `false`.
    fn handles_tls(&self) -> bool {
        false
    }
}

impl<R, F, Fut, S> Connector<R> for F
where
    R: Custom<S>,
    F: Fn(Target) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<S>> + Send + 'static,
{
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, R> {
        let fut = self(target.clone());
        Box::pin(async move { Ok(R::custom(fut.await?)) })
    }
}
