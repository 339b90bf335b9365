//! The opening handshakes over any `futures-io` stream, and `connect` for `ws://`,
//! `ws+unix://` (and `wss://` with the `rustls` feature) URLs.
//!
//! [`connect_with`] and the `accept*` functions take an open stream, so TLS, proxies or an
//! HTTP server's upgraded connection plug in by handing the stream over.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_net::TcpStream;
use futures_io::{AsyncRead, AsyncWrite};
use http::Response;
use url::Url;
use ws_proto::{
    Accept, ClientHandshake, ClientOutcome, ClientRequest, Config, HandshakeError, Rejection, ServerHandshake,
    ServerOptions, UpgradeRequest,
};

use crate::entropy::OsEntropy;
use crate::error::{AcceptError, ConnectError};
use crate::io::{self as wio, Timer, WriteState};
use crate::stream::WebSocket;

/// How long writing the `101` or a rejection may take.
const WRITE_LIMIT: Duration = Duration::from_secs(2);
/// After a rejection, how long the client's remaining input is drained, so that closing with
/// unread input does not reset the connection before the client read the response.
const LINGER: Duration = Duration::from_millis(500);
/// At most this much is drained while lingering.
const LINGER_BYTES: usize = 64 * 1024;

/// Performs the client handshake over an open stream (TCP, TLS, Unix socket, proxy tunnel…)
/// and returns the connection with the server's `101` response (e.g. for `Set-Cookie`).
///
/// `Config::handshake_timeout` bounds the exchange ([`ConnectError::Timeout`]). A non-101
/// answer is [`ConnectError::Rejected`] with status, headers and body (up to
/// `Config::max_rejection_body`); a 101 breaking RFC 6455 is [`ConnectError::Handshake`].
/// Bytes the server sent right after its 101 are kept for the connection. Masking keys come
/// from [`OsEntropy`].
///
/// Cancelling drops the stream with the future.
pub async fn connect_with<S>(
    mut io: S,
    request: ClientRequest,
    config: Arc<Config>,
) -> Result<(WebSocket<S>, Response<()>), ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hs = ClientHandshake::new(request, config, Box::new(OsEntropy::new()), wio::now())?;
    let (mut write, mut timer, mut eof) = (WriteState::default(), Timer::default(), false);
    let outcome = poll_fn(|cx| loop {
        timer.poll(&mut hs, cx);
        match hs.poll_outcome(wio::now()) {
            Ok(Some(outcome)) => return Poll::Ready(Ok(outcome)),
            Ok(None) if eof => return Poll::Ready(Err(HandshakeError::UnexpectedEof.into())),
            Ok(None) => {}
            Err(e) => return Poll::Ready(Err(ConnectError::from(e))),
        }
        // The server answers only once the whole request is there.
        if let Err(e) = std::task::ready!(wio::poll_write_out(&mut io, &mut hs, &mut write, cx)) {
            return Poll::Ready(Err(e.into()));
        }
        match std::task::ready!(wio::poll_read_into(&mut io, &mut hs, cx)) {
            Ok(n) => eof = n == 0,
            Err(e) => return Poll::Ready(Err(e.into())),
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
/// with its HTTP response, the write side is closed, the client's remaining input drained for
/// a moment, and [`AcceptError::Rejected`] tells the status and why. Consider
/// `TcpStream::set_nodelay(true)` first.
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

/// [`accept_with`] where `decide` looks at the request (path, query, headers via `request()`,
/// offered subprotocols) and accepts or refuses it. `UpgradeRequest::negotiate` applies the
/// options' policy and can be called from `decide`; `Rejection::new(status, headers, body)`
/// builds a custom refusal.
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
/// `decide` returns a future, which cannot borrow the request (clone what it needs). The
/// handshake deadline bounds the future too: when it expires the client is answered 408.
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
    let head = poll_fn(|cx| loop {
        timer.poll(&mut hs, cx);
        match hs.poll_request() {
            Ok(Some(request)) => return Poll::Ready(Ok(Ok(Box::new(request)))),
            Ok(None) => {}
            Err(rejection) => return Poll::Ready(Ok(Err(rejection))),
        }
        if let Err(e) = std::task::ready!(wio::poll_read_into(&mut io, &mut hs, cx)) {
            return Poll::Ready(Err(e));
        }
    })
    .await?;
    let request = match head {
        Ok(request) => request,
        Err(rejection) => return Err(reject(io, rejection).await),
    };
    let verdict = wio::until(deadline, decide(&request))
        .await
        .unwrap_or_else(|| Err(Rejection::from_error(HandshakeError::Timeout)));
    let accept = match verdict {
        Ok(accept) => accept,
        Err(rejection) => return Err(reject(io, rejection).await),
    };
    let mut ws = WebSocket::from_connection(io, request.accept(accept, wio::now()));
    match wio::until(Some(Instant::now() + WRITE_LIMIT), ws.flush()).await {
        Some(Ok(())) => Ok(ws),
        Some(Err(e)) => Err(AcceptError::Io(e.into())),
        None => Err(AcceptError::Io(io::ErrorKind::TimedOut.into())),
    }
}

/// Writes the rejection, closes the write side, and drains what the client still sends for a
/// moment.
async fn reject<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, rejection: Rejection) -> AcceptError {
    let status = rejection.status();
    let written =
        wio::until(Some(Instant::now() + WRITE_LIMIT), wio::write_and_close(&mut io, rejection.bytes())).await;
    if let Some(Ok(())) = written {
        let drain = async {
            let mut buf = [0u8; 4096];
            let mut drained = 0;
            while drained < LINGER_BYTES {
                match wio::read_some(&mut io, &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        };
        wio::until(Some(Instant::now() + LINGER), drain).await;
    }
    AcceptError::Rejected { status, error: rejection.error }
}

/// Connects to `url` with the default [`Config`] and performs the handshake.
///
/// URLs: `ws://host[:port]/path?query` (also `http://`) over TCP with `TCP_NODELAY` set;
/// `ws+unix:///path/to.sock:/request/path` over a Unix domain socket (as in Node `ws`: the
/// socket path, then `:` and the request path, `/` when omitted); `wss://` (also `https://`)
/// with the `rustls` feature and the default [`TlsOptions`](crate::TlsOptions) (Mozilla's
/// roots), else [`ConnectError::InvalidUrl`]. Userinfo becomes `Authorization: Basic`.
///
/// The `WebSocket` reports the URL from [`url`](WebSocket::url).
pub async fn connect(url: &str) -> Result<(WebSocket<ClientStream>, Response<()>), ConnectError> {
    connect_config(url, Arc::new(Config::default())).await
}

/// [`connect`] with a custom [`Config`], whose handshake timeout also bounds resolving,
/// connecting and the TLS handshake.
pub async fn connect_config(
    url: &str,
    config: Arc<Config>,
) -> Result<(WebSocket<ClientStream>, Response<()>), ConnectError> {
    let deadline = config.get_handshake_timeout().map(|t| Instant::now() + t);
    let (stream, request) = wio::until(deadline, dial(url)).await.ok_or(ConnectError::Timeout)??;
    let (ws, response) = connect_with(stream, request, config).await?;
    Ok((ws.with_url(url), response))
}

/// Opens the stream for `url` (see [`connect`]; `wss://` with the default TLS options) and
/// builds its [`ClientRequest`] without the handshake: add headers, subprotocols or an origin
/// to the request, then call [`connect_with`].
pub async fn dial(url: &str) -> Result<(ClientStream, ClientRequest), ConnectError> {
    let parsed = Url::parse(url).map_err(|e| ConnectError::InvalidUrl(format!("{url:?}: {e}")))?;
    match parsed.scheme() {
        "ws" | "http" => {
            let request = ClientRequest::from_url(&parsed)?;
            Ok((ClientStream::Tcp(tcp(&request).await?), request))
        }
        #[cfg(feature = "rustls")]
        "wss" | "https" => crate::tls::dial(&parsed, &crate::tls::TlsOptions::default()).await,
        #[cfg(not(feature = "rustls"))]
        "wss" | "https" => Err(ConnectError::InvalidUrl(format!(
            "{url:?}: wss:// needs the `rustls` feature of ws-async-std (or open a TLS stream and use connect_with)"
        ))),
        #[cfg(unix)]
        "ws+unix" => {
            let (socket, path) = unix_target(&parsed)?;
            let stream = async_net::unix::UnixStream::connect(socket).await?;
            Ok((ClientStream::Unix(stream), ClientRequest::new("localhost", &path)))
        }
        s => Err(ConnectError::InvalidUrl(format!("unsupported scheme {s:?} (expected ws, wss or ws+unix)"))),
    }
}

/// A TCP connection to the request's host and port, `TCP_NODELAY` on.
pub(crate) async fn tcp(request: &ClientRequest) -> io::Result<TcpStream> {
    let tcp = TcpStream::connect((request.host(), request.port())).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// `ws+unix:///sock:/path?q` → (`/sock`, `/path?q`), the socket path percent-decoded.
#[cfg_attr(not(unix), allow(dead_code))]
fn unix_target(url: &Url) -> Result<(String, String), ConnectError> {
    if url.fragment().is_some() {
        return Err(ConnectError::InvalidUrl("a WebSocket URL must not have a fragment".into()));
    }
    let full = url.path();
    let (socket, target) = full.split_once(':').unwrap_or((full, ""));
    let socket = percent_decode(socket).ok_or_else(|| ConnectError::InvalidUrl("socket path is not UTF-8".into()))?;
    if socket.is_empty() || socket == "/" {
        return Err(ConnectError::InvalidUrl(format!("no socket path in {:?}", url.as_str())));
    }
    let mut path = String::with_capacity(target.len() + 1);
    if !target.starts_with('/') {
        path.push('/');
    }
    path.push_str(target);
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok((socket, path))
}

/// `%XX` escapes decoded; malformed escapes are kept as they are.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        let escaped = (b == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(v) => {
                out.push(v);
                rest = &tail[2..];
            }
            None => {
                out.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The stream [`connect`] opens.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientStream {
    /// TCP (`ws://`).
    Tcp(TcpStream),
    /// A Unix domain socket (`ws+unix://`).
    #[cfg(unix)]
    Unix(async_net::unix::UnixStream),
    /// TLS over TCP (`wss://`, feature `rustls`).
    #[cfg(feature = "rustls")]
    Tls(Box<futures_rustls::client::TlsStream<TcpStream>>),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            ClientStream::Tcp($s) => $e,
            #[cfg(unix)]
            ClientStream::Unix($s) => $e,
            #[cfg(feature = "rustls")]
            ClientStream::Tls($s) => $e,
        }
    };
}

impl AsyncRead for ClientStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_close(cx))
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
        assert_eq!(percent_decode("%e2%82%AC").as_deref(), Some("€"));
    }

    #[test]
    fn unsupported_schemes() {
        async_io::block_on(async {
            assert!(matches!(dial("ftp://example.invalid/").await, Err(ConnectError::InvalidUrl(_))));
            assert!(matches!(dial("not a url").await, Err(ConnectError::InvalidUrl(_))));
            #[cfg(not(feature = "rustls"))]
            assert!(matches!(dial("wss://example.invalid/").await, Err(ConnectError::InvalidUrl(_))));
        });
    }
}
