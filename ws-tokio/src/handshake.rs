//! The opening handshakes over any tokio stream, and a minimal `connect` for `ws://`,
//! `wss://` (feature `rustls`) and `ws+unix://` URLs; [`ClientBuilder`](crate::ClientBuilder)
//! has every client option.
//!
//! [`connect_with`] and the `accept*` functions are generic over the stream, so TLS, proxies
//! or an HTTP server's upgraded connection plug in by handing over an already-open stream.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Response;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;
use url::Url;
use ws_proto::{
    Accept, ClientHandshake, ClientOutcome, ClientRequest, Config, HandshakeError, Rejection, ServerHandshake,
    ServerOptions, UpgradeRequest,
};

use crate::entropy::OsEntropy;
use crate::error::{AcceptError, ConnectError};
use crate::io::{self as wio, Timer, WriteState};
use crate::stream::WebSocket;

/// How long writing a rejection may take.
pub(crate) const REJECT_WRITE: Duration = Duration::from_secs(2);
/// How long a rejected client's remaining input is drained after the response, so that closing
/// with unread input does not reset the connection before the client read the response.
const LINGER: Duration = Duration::from_millis(500);
/// Most bytes drained while lingering.
const LINGER_BYTES: usize = 64 * 1024;

/// Performs the client handshake over an open stream (TCP, TLS, a Unix socket, a proxy
/// tunnel…) and returns the connection and the server's `101` response (e.g. for its
/// `Set-Cookie`).
///
/// `Config::handshake_timeout` bounds the whole exchange ([`ConnectError::Timeout`]). A
/// non-101 answer is [`ConnectError::Rejected`] with the status, headers and body (up to
/// `Config::max_rejection_body`); a 101 that breaks RFC 6455 is
/// [`ConnectError::Handshake`]. Bytes the server sent right after its `101` are kept for the
/// connection. Masking keys come from [`OsEntropy`].
///
/// Not cancel safe in a useful sense: cancelled midway, the stream is dropped with the future.
pub async fn connect_with<S>(
    mut io: S,
    request: ClientRequest,
    config: Arc<Config>,
) -> Result<(WebSocket<S>, Response<()>), ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hs = ClientHandshake::new(request, config, Box::new(OsEntropy::new()), wio::now())?;
    let mut write = WriteState::default();
    let mut timer = Timer::default();
    let mut eof = false;
    let outcome = poll_fn(|cx| loop {
        timer.poll(&mut hs, cx);
        match hs.poll_outcome(wio::now()) {
            Ok(Some(outcome)) => return Poll::Ready(Ok(outcome)),
            Err(e) => return Poll::Ready(Err(ConnectError::from(e))),
            Ok(None) if eof => return Poll::Ready(Err(HandshakeError::UnexpectedEof.into())),
            Ok(None) => {}
        }
        match wio::poll_write_out(&mut io, &mut hs, &mut write, cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            // The server answers only once the request is complete.
            Poll::Pending => return Poll::Pending,
        }
        match wio::poll_read_into(&mut io, &mut hs, cx) {
            Poll::Ready(Ok(n)) => eof = n == 0,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await?;
    match outcome {
        ClientOutcome::Accepted { response, connection } => Ok((WebSocket::from_connection(io, connection), response)),
        ClientOutcome::Rejected { response, body } => {
            let (parts, ()) = response.into_parts();
            Err(ConnectError::Rejected { status: parts.status, headers: Box::new(parts.headers), body })
        }
    }
}

/// Accepts a WebSocket upgrade on a fresh stream: reads the request, applies `options` (path,
/// origins, `verify_client`, subprotocols, `on_headers`: see [`UpgradeRequest::negotiate`])
/// and writes the `101`.
///
/// A refused request (RFC violation, policy, `Config::handshake_timeout` → 408) is answered
/// with its HTTP response, the write side is shut down, the client's remaining input is
/// drained for a moment, and [`AcceptError::Rejected`] holds the status and the error. The
/// stream's options are left alone: consider `TcpStream::set_nodelay(true)` first.
pub async fn accept_with<S>(
    io: S,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
) -> Result<WebSocket<S>, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_hdr_with(io, config, options, UpgradeRequest::negotiate).await
}

/// [`accept_with`] where `decide` inspects the request (path, query, headers via
/// `request()`, offered subprotocols) and accepts or refuses it.
/// `UpgradeRequest::negotiate` applies the options' policy and can be called from `decide`;
/// `Rejection::new(status, headers, body)` builds a custom refusal.
pub async fn accept_hdr_with<S, F>(
    io: S,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
    decide: F,
) -> Result<WebSocket<S>, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Rejection>,
{
    accept_async_with(io, config, options, |req| std::future::ready(decide(req))).await
}

/// [`accept_hdr_with`] with asynchronous verification (Node `verifyClient` with a callback):
/// `decide` gets the request and returns a future (which cannot borrow the request: clone what
/// it needs, e.g. a cookie header). The handshake deadline also bounds the future; when it
/// expires the client is answered 408.
pub async fn accept_async_with<S, F, Fut>(
    mut io: S,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
    decide: F,
) -> Result<WebSocket<S>, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> Fut,
    Fut: Future<Output = Result<Accept, Rejection>>,
{
    let mut hs = ServerHandshake::new(config, options, wio::now());
    let deadline = hs.poll_timeout();
    let mut timer = Timer::default();
    let read = poll_fn(|cx| loop {
        timer.poll(&mut hs, cx);
        match hs.poll_request() {
            Ok(Some(request)) => return Poll::Ready(Read::Request(Box::new(request))),
            Err(rejection) => return Poll::Ready(Read::Refused(rejection)),
            Ok(None) => {}
        }
        match wio::poll_read_into(&mut io, &mut hs, cx) {
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Read::Failed(e)),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await;
    let request = match read {
        Read::Request(r) => r,
        Read::Refused(rejection) => return Err(reject(io, rejection).await),
        Read::Failed(e) => return Err(AcceptError::Io(e)),
    };
    let verdict = match deadline {
        Some(d) => match tokio::time::timeout_at(d.into(), decide(&request)).await {
            Ok(v) => v,
            Err(_) => Err(Rejection::from_error(HandshakeError::Timeout)),
        },
        None => decide(&request).await,
    };
    match verdict {
        Ok(accept) => {
            let conn = request.accept(accept, wio::now());
            let mut ws = WebSocket::from_connection(io, conn);
            match tokio::time::timeout(REJECT_WRITE, ws.flush()).await {
                Ok(Ok(())) => Ok(ws),
                Ok(Err(e)) => Err(AcceptError::Io(e.into())),
                Err(_) => Err(AcceptError::Io(io::ErrorKind::TimedOut.into())),
            }
        }
        Err(rejection) => Err(reject(io, rejection).await),
    }
}

/// What reading the request head ended with.
enum Read {
    Request(Box<UpgradeRequest>),
    Refused(Rejection),
    Failed(io::Error),
}

/// Writes the rejection, half-closes, and drains what the client still sends for a moment.
pub(crate) async fn reject<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, rejection: Rejection) -> AcceptError {
    let status = rejection.status();
    let written = tokio::time::timeout(REJECT_WRITE, async {
        io.write_all(rejection.bytes()).await?;
        io.flush().await?;
        io.shutdown().await
    })
    .await;
    if let Ok(Ok(())) = written {
        let _ = tokio::time::timeout(LINGER, async {
            let mut buf = [0u8; 4096];
            let mut drained = 0;
            while drained < LINGER_BYTES {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        })
        .await;
    }
    AcceptError::Rejected { status, error: rejection.error }
}

/// Connects to `url` with the default [`Config`] and performs the handshake.
///
/// URLs: `ws://host[:port]/path?query` (also `http://`) over TCP with `TCP_NODELAY` on,
/// `wss://` (also `https://`) over TLS with the default [`TlsOptions`](crate::tls::TlsOptions)
/// (feature `rustls`; [`ConnectError::InvalidUrl`] without it), and
/// `ws+unix:///path/to.sock:/request/path` over a Unix domain socket (as in Node `ws`: the
/// socket path, then `:` and the request path, `/` when omitted). Userinfo in the URL becomes
/// `Authorization: Basic`.
///
/// The `Config` is used as is: unlike [`ClientBuilder`](crate::ClientBuilder), nothing turns
/// permessage-deflate on. For redirects, proxies, TLS options and the other Node client
/// options, use [`ClientBuilder`](crate::ClientBuilder).
///
/// The returned `WebSocket` reports the URL from [`url`](WebSocket::url).
pub async fn connect(url: &str) -> Result<(WebSocket<ClientStream>, Response<()>), ConnectError> {
    connect_config(url, Arc::new(Config::default())).await
}

/// [`connect`] with a custom [`Config`]; its handshake timeout also bounds the TCP connect.
pub async fn connect_config(
    url: &str,
    config: Arc<Config>,
) -> Result<(WebSocket<ClientStream>, Response<()>), ConnectError> {
    let (stream, request) = match config.get_handshake_timeout() {
        Some(t) => tokio::time::timeout(t, dial(url)).await.map_err(|_| ConnectError::Timeout)??,
        None => dial(url).await?,
    };
    let (ws, response) = connect_with(stream, request, config).await?;
    Ok((ws.with_url(url), response))
}

/// Opens the stream for `url` (see [`connect`]) and builds its [`ClientRequest`] without the
/// handshake: add headers, subprotocols or an origin to the request, then call
/// [`connect_with`].
pub async fn dial(url: &str) -> Result<(ClientStream, ClientRequest), ConnectError> {
    crate::client::dial_url(url).await
}

/// `ws+unix:///sock:/path?q` → (`/sock`, `/path?q`), the socket path percent-decoded.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn unix_target(url: &Url) -> Result<(String, String), ConnectError> {
    if url.fragment().is_some() {
        return Err(ConnectError::InvalidUrl("a WebSocket URL must not have a fragment".into()));
    }
    let (socket, target) = url.path().split_once(':').unwrap_or_else(|| (url.path(), ""));
    let socket = percent_decode(socket).ok_or_else(|| ConnectError::InvalidUrl("socket path is not UTF-8".into()))?;
    if socket.is_empty() || socket == "/" {
        return Err(ConnectError::InvalidUrl(format!("no socket path in {:?}", url.as_str())));
    }
    let mut path = if target.starts_with('/') { target.to_owned() } else { format!("/{target}") };
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok((socket, path))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The stream [`connect`] and [`ClientBuilder`](crate::ClientBuilder) open (also named
/// [`MaybeTlsStream`](crate::MaybeTlsStream)): TCP, a Unix domain socket for `ws+unix:` URLs,
/// TLS for `wss://`, or a [`Connector`](crate::Connector)'s stream.
#[non_exhaustive]
pub enum ClientStream {
    /// A TCP connection (`ws://`).
    Tcp(TcpStream),
    /// A Unix domain socket connection (`ws+unix://`).
    #[cfg(unix)]
    Unix(UnixStream),
    /// TLS (`wss://`) over another `ClientStream` (TCP, a proxy tunnel or a connector's
    /// stream). `get_ref()` gives the inner stream and the rustls connection (negotiated
    /// version, peer certificates…).
    #[cfg(feature = "rustls")]
    Tls(Box<crate::tls::ClientTlsStream<Self>>),
    /// A stream opened by a [`Connector`](crate::Connector).
    Custom(crate::connector::BoxStream),
}

impl std::fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
            #[cfg(unix)]
            Self::Unix(s) => f.debug_tuple("Unix").field(s).finish(),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => f.debug_tuple("Tls").field(&s.get_ref().0).finish(),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            ClientStream::Tcp($s) => $e,
            #[cfg(unix)]
            ClientStream::Unix($s) => $e,
            #[cfg(feature = "rustls")]
            ClientStream::Tls($s) => $e,
            ClientStream::Custom($s) => $e,
        }
    };
}

impl AsyncRead for ClientStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(s) => s.is_write_vectored(),
            #[cfg(unix)]
            Self::Unix(s) => s.is_write_vectored(),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.is_write_vectored(),
            Self::Custom(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Result<(String, String), ConnectError> {
        unix_target(&Url::parse(url).unwrap())
    }

    #[test]
    fn unix_urls_as_node() {
        assert_eq!(target("ws+unix:///tmp/a.sock:/chat?x=1").unwrap(), ("/tmp/a.sock".into(), "/chat?x=1".into()));
        assert_eq!(target("ws+unix:///tmp/a.sock").unwrap(), ("/tmp/a.sock".into(), "/".into()));
        assert_eq!(target("ws+unix:///tmp/my%20dir/a.sock:/").unwrap(), ("/tmp/my dir/a.sock".into(), "/".into()));
        assert!(matches!(target("ws+unix://"), Err(ConnectError::InvalidUrl(_))));
        assert!(matches!(target("ws+unix:///a.sock:/x#frag"), Err(ConnectError::InvalidUrl(_))));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%zz%4%+f").as_deref(), Some("a/b%zz%4%+f"));
        assert_eq!(percent_decode("%ff"), None);
    }

    #[tokio::test]
    async fn unsupported_schemes() {
        #[cfg(not(feature = "rustls"))]
        assert!(matches!(dial("wss://example.invalid/").await, Err(ConnectError::InvalidUrl(_))));
        assert!(matches!(dial("ftp://example.invalid/").await, Err(ConnectError::InvalidUrl(_))));
        assert!(matches!(dial("ws://example.invalid/#fragment").await, Err(ConnectError::InvalidUrl(_))));
        assert!(matches!(dial("not a url").await, Err(ConnectError::InvalidUrl(_))));
    }
}
