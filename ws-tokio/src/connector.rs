//! Opening a client's transport: TCP (optionally from a chosen local address), or a
//! user-supplied [`Connector`] (Node `ws`'s `agent` / `createConnection`), which is also how
//! another transport (SOCKS, an in-memory pipe, a QUIC stream…) plugs into
//! [`ClientBuilder`](crate::ClientBuilder).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};

/// A byte stream a [`Connector`] may return: any `AsyncRead + AsyncWrite + Unpin + Send`.
/// Implemented for every such type.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncStream for T {}

/// A boxed [`AsyncStream`]: what a [`Connector`] returns, held by
/// [`ClientStream::Custom`](crate::ClientStream::Custom).
pub type BoxStream = Box<dyn AsyncStream>;

/// The future a [`Connector`] returns.
pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send + 'a>>;

/// Where a [`Connector`] is asked to connect.
///
/// With a proxy ([`ClientBuilder::proxy`](crate::ClientBuilder::proxy)) the target is the proxy
/// itself (`secure` false); the tunnel and TLS are then layered over the returned stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Target {
    /// The host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// Whether the URL asks for TLS (`wss://`). Unless the connector
    /// [handles TLS](Connector::handles_tls), the client runs TLS over the returned stream.
    pub secure: bool,
}

impl Target {
    /// A target for `host:port`, `secure` for `wss://`.
    pub fn new(host: impl Into<String>, port: u16, secure: bool) -> Self {
        Self { host: host.into(), port, secure }
    }
}

/// Opens the byte stream for a client connection (Node `ws`'s `agent`): given the host, port and
/// whether TLS is wanted, returns any `AsyncRead + AsyncWrite + Unpin + Send` stream.
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
pub trait Connector: Send + Sync + 'static {
    /// Opens a stream to `target`.
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a>;

    /// Whether the streams returned for `secure` targets are already TLS streams, so that the
    /// client must not add its own TLS layer. Defaults to `false`.
    fn handles_tls(&self) -> bool {
        false
    }
}

impl<F, Fut, S> Connector for F
where
    F: Fn(Target) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<S>> + Send + 'static,
    S: AsyncStream,
{
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a> {
        let fut = self(target.clone());
        Box::pin(async move { Ok(Box::new(fut.await?) as BoxStream) })
    }
}

/// Connects over TCP with `TCP_NODELAY` on, trying each resolved address in turn. With `local`,
/// the socket is bound to that address first (Node `localAddress`), and only addresses of its
/// family are tried.
pub(crate) async fn tcp_connect(host: &str, port: u16, local: Option<IpAddr>) -> io::Result<TcpStream> {
    let stream = match local {
        None => TcpStream::connect((host, port)).await?,
        Some(local) => {
            let mut last = None;
            let mut found = None;
            for addr in tokio::net::lookup_host((host, port)).await? {
                if addr.is_ipv4() != local.is_ipv4() {
                    continue;
                }
                let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
                socket.bind(SocketAddr::new(local, 0))?;
                match socket.connect(addr).await {
                    Ok(s) => {
                        found = Some(s);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match (found, last) {
                (Some(s), _) => s,
                (None, Some(e)) => return Err(e),
                (None, None) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrNotAvailable,
                        format!("{host:?} has no address of the same family as the local address {local}"),
                    ))
                }
            }
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}
