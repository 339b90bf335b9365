//! The client: `ws://`, `wss://` (feature `rustls`) and `ws+unix://` URLs, and the handshake
//! over any stream.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;
use ws_proto::http::Response;
use ws_proto::Config;
use ws_proto::{ClientHandshake, ClientOutcome, ClientRequest};

use crate::driver::Io;
use crate::entropy::OsEntropy;
use crate::error::ConnectError;
#[cfg(feature = "rustls")]
use crate::tls::TlsOptions;
use crate::transport::{Stream, Transport};
use crate::websocket::WebSocket;

/// Connects to `url` with the default [`Config`] and performs the handshake.
///
/// URLs: `ws://host[:port]/path?query` over TCP (`TCP_NODELAY` on),
/// `ws+unix:///path/to.sock:/request/path` over a Unix domain socket (as Node `ws`: the socket
/// path, then `:` and the request path, `/` when omitted), and `wss://` over TLS with the
/// default `TlsOptions` (Mozilla's roots; feature `rustls`, else
/// [`ConnectError::TlsNotSupported`]). For other TLS settings use `connect_tls`.
///
/// A non-101 answer is [`ConnectError::Rejected`] with the status, headers and body.
pub fn connect(url: &str) -> Result<(WebSocket<Stream>, Response<()>), ConnectError> {
    connect_config(url, Arc::new(Config::default()))
}

/// [`connect`] with a custom [`Config`] (limits, timers; its handshake timeout also bounds the
/// TCP connect).
pub fn connect_config(url: &str, config: Arc<Config>) -> Result<(WebSocket<Stream>, Response<()>), ConnectError> {
    let (stream, request) = dial(url, config.get_handshake_timeout())?;
    connect_with(stream, request, config)
}

/// Opens the stream for `url` (see [`connect`]) and builds its [`ClientRequest`], without the
/// handshake: add headers, subprotocols or an origin to the request, then call
/// [`connect_with`]. `timeout` bounds each TCP connection attempt.
pub fn dial(url: &str, timeout: Option<Duration>) -> Result<(Stream, ClientRequest), ConnectError> {
    #[cfg(feature = "rustls")]
    return dial_tls(url, timeout, &TlsOptions::default());
    #[cfg(not(feature = "rustls"))]
    dial_url(url, timeout, |_, _, _| Err(ConnectError::TlsNotSupported))
}

/// [`connect_config`] with TLS settings for `wss://` URLs (custom CA, client certificate,
/// server name, skipping verification…); `ws://` and `ws+unix:` URLs ignore them. The TLS
/// handshake is bounded by the config's handshake timeout (per read and write) and happens
/// before the WebSocket handshake; its failures are [`ConnectError::Tls`].
#[cfg(feature = "rustls")]
pub fn connect_tls(
    url: &str,
    config: Arc<Config>,
    tls: &TlsOptions,
) -> Result<(WebSocket<Stream>, Response<()>), ConnectError> {
    let (stream, request) = dial_tls(url, config.get_handshake_timeout(), tls)?;
    connect_with(stream, request, config)
}

/// [`dial`] with TLS settings for `wss://` URLs: the TLS handshake is done when it returns.
#[cfg(feature = "rustls")]
pub fn dial_tls(
    url: &str,
    timeout: Option<Duration>,
    tls: &TlsOptions,
) -> Result<(Stream, ClientRequest), ConnectError> {
    dial_url(url, timeout, |tcp, request, timeout| {
        let name = tls.get_server_name().unwrap_or_else(|| request.host());
        Ok(Stream::Tls(Box::new(crate::tls::handshake(tcp, name, tls, timeout)?)))
    })
}

/// Opens the stream for `url`; `secure` turns the TCP stream of a `wss://` URL into a stream.
fn dial_url(
    url: &str,
    timeout: Option<Duration>,
    secure: impl FnOnce(TcpStream, &ClientRequest, Option<Duration>) -> Result<Stream, ConnectError>,
) -> Result<(Stream, ClientRequest), ConnectError> {
    let parsed = Url::parse(url).map_err(|e| ConnectError::InvalidUrl(format!("{url:?}: {e}")))?;
    match parsed.scheme() {
        "ws" | "http" => {
            let request = ClientRequest::from_url(&parsed)?;
            let stream = connect_tcp(request.host(), request.port(), timeout)?;
            Ok((Stream::Tcp(stream), request))
        }
        "wss" | "https" => {
            let request = ClientRequest::from_url(&parsed)?;
            let tcp = connect_tcp(request.host(), request.port(), timeout)?;
            Ok((secure(tcp, &request, timeout)?, request))
        }
        "ws+unix" => dial_unix(&parsed),
        s => Err(ConnectError::InvalidUrl(format!("unsupported scheme {s:?} (expected ws, wss or ws+unix)"))),
    }
}

fn connect_tcp(host: &str, port: u16, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        let attempt = match timeout {
            Some(t) if !t.is_zero() => TcpStream::connect_timeout(&addr, t),
            _ => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host:?} resolved to no address"))))
}

#[cfg(unix)]
fn dial_unix(url: &Url) -> Result<(Stream, ClientRequest), ConnectError> {
    let (socket, path) = split_unix_path(url)?;
    let stream = UnixStream::connect(socket)?;
    Ok((Stream::Unix(stream), ClientRequest::new("localhost", &path)))
}

#[cfg(not(unix))]
fn dial_unix(_: &Url) -> Result<(Stream, ClientRequest), ConnectError> {
    Err(ConnectError::InvalidUrl("ws+unix: URLs need Unix domain sockets".into()))
}

/// `ws+unix:///sock:/path?q` → (`/sock`, `/path?q`); the socket path is percent-decoded.
#[cfg_attr(not(unix), allow(dead_code))]
fn split_unix_path(url: &Url) -> Result<(String, String), ConnectError> {
    if url.fragment().is_some() {
        return Err(ConnectError::InvalidUrl("a WebSocket URL must not have a fragment".into()));
    }
    let (socket, request) = url.path().split_once(':').unwrap_or_else(|| (url.path(), ""));
    let socket = String::from_utf8(percent_decode(socket))
        .map_err(|_| ConnectError::InvalidUrl("the socket path is not UTF-8".into()))?;
    if socket.is_empty() || socket == "/" {
        return Err(ConnectError::InvalidUrl(format!("no socket path in {:?}", url.as_str())));
    }
    let mut path = if request.starts_with('/') { request.to_owned() } else { format!("/{request}") };
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok((socket, path))
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Performs the client handshake over an open `stream` (TCP, a TLS stream wrapped in
/// [`Plain`](crate::Plain), …) and returns the connection and the server's `101` response.
///
/// The handshake is bounded by `Config::handshake_timeout` when `S::TIMEOUTS`. A non-101
/// answer is [`ConnectError::Rejected`] (status, headers, body up to
/// `Config::max_rejection_body`).
pub fn connect_with<S: Read + Write + Transport>(
    stream: S,
    request: ClientRequest,
    config: Arc<Config>,
) -> Result<(WebSocket<S>, Response<()>), ConnectError> {
    let mut handshake = ClientHandshake::new(request, config, Box::new(OsEntropy::new()), Instant::now())?;
    let mut io = Io::new(stream);
    // Cut short only by the handshake timeout, which `poll_outcome` reports.
    io.write_all(&mut handshake)?;
    loop {
        match handshake.poll_outcome(Instant::now())? {
            Some(ClientOutcome::Accepted { response, connection }) => {
                return Ok((WebSocket::from_parts(io, connection), response));
            }
            Some(ClientOutcome::Rejected { response, body }) => {
                let (parts, ()) = response.into_parts();
                io.close();
                return Err(ConnectError::Rejected { status: parts.status, headers: Box::new(parts.headers), body });
            }
            None => io.read_once(&mut handshake)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> Result<(String, String), ConnectError> {
        split_unix_path(&Url::parse(url).unwrap())
    }

    #[test]
    fn unix_urls_as_node() {
        assert_eq!(split("ws+unix:///tmp/a.sock:/chat?x=1").unwrap(), ("/tmp/a.sock".into(), "/chat?x=1".into()));
        assert_eq!(split("ws+unix:///tmp/a.sock").unwrap(), ("/tmp/a.sock".into(), "/".into()));
        assert_eq!(split("ws+unix:///tmp/my%20dir/a.sock:/").unwrap(), ("/tmp/my dir/a.sock".into(), "/".into()));
        assert!(matches!(split("ws+unix://"), Err(ConnectError::InvalidUrl(_))));
        assert!(matches!(split("ws+unix:///a.sock:/x#frag"), Err(ConnectError::InvalidUrl(_))));
    }

    #[test]
    fn wss_and_bad_schemes() {
        #[cfg(not(feature = "rustls"))]
        assert!(matches!(dial("wss://example.com/", None), Err(ConnectError::TlsNotSupported)));
        assert!(matches!(dial("ftp://example.com/", None), Err(ConnectError::InvalidUrl(_))));
        assert!(matches!(dial("not a url", None), Err(ConnectError::InvalidUrl(_))));
    }
}
