//! Opening client connections: [`connect`], [`connect_config`], [`dial`] and
//! [`connect_with`], and the [`Dialer`] the [`ClientBuilder`](crate::ClientBuilder) shares.
//! URLs are parsed by ws-proto's [`ClientTarget`] (`ws://`, `wss://`, `ws+unix:`, `http(s)://`).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Instant;

use ws_proto::http::Response;
use ws_proto::{ClientHandshake, ClientOutcome, ClientRequest, ClientTarget, Config, Endpoint, Entropy, HttpProxy};

use crate::connector::Connector;
use crate::driver::Io;
#[cfg(feature = "rustls")]
use crate::tls::{TlsOptions, TlsStream};
use crate::transport::{ClientStream, Transport};
use crate::websocket::WebSocket;
use crate::{ConnectError, OsEntropy, Target};

/// Connects to `url` with the default [`Config`] and performs the handshake.
///
/// URLs: `ws://host[:port]/path?query` over TCP (`TCP_NODELAY` on),
/// `ws+unix:///path/to.sock:/request/path` over a Unix domain socket (as Node `ws`),
/// `wss://` over TLS with the default `TlsOptions` (Mozilla's roots; feature `rustls`), and
/// `http(s)://`, which mean `ws(s)://`. Userinfo becomes `Authorization: Basic`.
///
/// The `Config` is used as is: unlike [`ClientBuilder`](crate::ClientBuilder), nothing turns
/// permessage-deflate on. For redirects, proxies, TLS options and the other Node client
/// options, use the builder. A non-101 answer is [`ConnectError::Rejected`].
pub fn connect(url: &str) -> Result<(WebSocket<ClientStream>, Response<()>), ConnectError> {
    connect_config(url, Arc::new(Config::default()))
}

/// [`connect`] with a custom [`Config`]; its handshake timeout bounds the whole attempt
/// (connect, TLS and handshake: [`ConnectError::Timeout`]).
pub fn connect_config(url: &str, config: Arc<Config>) -> Result<(WebSocket<ClientStream>, Response<()>), ConnectError> {
    let start = Instant::now();
    let target = ClientTarget::parse(url)?;
    let deadline = deadline(&config, start);
    let stream = Dialer::new(config.get_max_handshake_size()).open(&target.endpoint, deadline)?;
    let (ws, response) = handshake(stream, target.request, config, start, Box::new(OsEntropy::new()))?;
    Ok((ws.with_url(target.url.as_str()), response))
}

/// Opens the stream for `url` (see [`connect`]; TLS with the default options for `wss://`)
/// and builds its [`ClientRequest`] without the handshake: add headers, subprotocols or an
/// origin to the request, then call [`connect_with`]. The default `Config`'s handshake timeout
/// (10 s) bounds it.
pub fn dial(url: &str) -> Result<(ClientStream, ClientRequest), ConnectError> {
    let config = Config::default();
    let target = ClientTarget::parse(url)?;
    let stream =
        Dialer::new(config.get_max_handshake_size()).open(&target.endpoint, deadline(&config, Instant::now()))?;
    Ok((stream, target.request))
}

/// Performs the client handshake over an open `stream` (TCP, TLS, a [`Plain`](crate::Plain)
/// wrapper…) and returns the connection and the server's `101` response (Node `'upgrade'`).
///
/// `Config::handshake_timeout` bounds it when `S::TIMEOUTS` ([`ConnectError::Timeout`]). A
/// non-101 answer is [`ConnectError::Rejected`] (status, headers, body up to
/// `Config::max_rejection_body`).
pub fn connect_with<S: Read + Write + Transport>(
    stream: S,
    request: ClientRequest,
    config: Arc<Config>,
) -> Result<(WebSocket<S>, Response<()>), ConnectError> {
    handshake(stream, request, config, Instant::now(), Box::new(OsEntropy::new()))
}

/// The handshake, its timeout counted from `start`, the key and masking keys drawn from
/// `entropy`.
pub(crate) fn handshake<S: Read + Write + Transport>(
    stream: S,
    request: ClientRequest,
    config: Arc<Config>,
    start: Instant,
    entropy: Box<dyn Entropy>,
) -> Result<(WebSocket<S>, Response<()>), ConnectError> {
    let mut handshake = ClientHandshake::new(request, config, entropy, start)?;
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

/// When a hop started at `start` must be done.
pub(crate) fn deadline(config: &Config, start: Instant) -> Option<Instant> {
    config.get_handshake_timeout().filter(|t| !t.is_zero()).and_then(|t| start.checked_add(t))
}

/// Opens transports: TCP (from a local address) or a custom connector's stream, a proxy
/// tunnel, a Unix socket, TLS.
pub(crate) struct Dialer {
    pub(crate) connector: Option<Arc<dyn Connector>>,
    pub(crate) local_address: Option<IpAddr>,
    pub(crate) proxy: Option<HttpProxy>,
    /// Bound on the proxy's response head.
    pub(crate) max_head: usize,
    #[cfg(feature = "rustls")]
    pub(crate) tls: TlsOptions,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("connector", &self.connector.is_some())
            .field("local_address", &self.local_address)
            .field("proxy", &self.proxy.is_some())
            .finish_non_exhaustive()
    }
}

impl Dialer {
    pub(crate) fn new(max_head: usize) -> Self {
        Self {
            connector: None,
            local_address: None,
            proxy: None,
            max_head,
            #[cfg(feature = "rustls")]
            tls: TlsOptions::default(),
        }
    }

    /// Opens the stream to `endpoint`, TLS included for `wss`, by `deadline`.
    pub(crate) fn open(&self, endpoint: &Endpoint, deadline: Option<Instant>) -> Result<ClientStream, ConnectError> {
        let (host, port, secure) = match endpoint {
            #[cfg(unix)]
            Endpoint::Unix { path } => return Ok(ClientStream::Unix(UnixStream::connect(path)?)),
            #[cfg(not(unix))]
            Endpoint::Unix { .. } => {
                return Err(ConnectError::InvalidUrl("ws+unix: URLs need Unix domain sockets".into()))
            }
            Endpoint::Tcp { host, port, secure } => (host, *port, *secure),
        };
        let connector_tls = self.proxy.is_none() && self.connector.as_ref().is_some_and(|c| c.handles_tls());
        let add_tls = secure && !connector_tls;
        #[cfg(feature = "rustls")]
        let tls = if add_tls { Some(self.tls.build().map_err(ConnectError::Tls)?) } else { None };
        #[cfg(not(feature = "rustls"))]
        if add_tls {
            return Err(ConnectError::InvalidUrl(
                "wss:// needs the `rustls` feature of ws-blocking, or a connector that handles TLS".into(),
            ));
        }
        let stream = match &self.proxy {
            Some(p) => {
                let to_proxy = self.raw(&Target::new(p.host.clone(), p.port, false), deadline)?;
                crate::proxy::tunnel(to_proxy, p, host, port, self.max_head, deadline).map_err(timed_out)?
            }
            None => self.raw(&Target::new(host.clone(), port, secure), deadline)?,
        };
        #[cfg(feature = "rustls")]
        if let Some(config) = tls {
            let name = crate::tls::server_name(self.tls.verified_name(host)).map_err(ConnectError::Tls)?;
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Err(ConnectError::Timeout);
            }
            return match TlsStream::connect(stream, name, config, left) {
                Ok(tls) => Ok(ClientStream::Tls(Box::new(tls))),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(ConnectError::Timeout),
                Err(e) => Err(ConnectError::Tls(e)),
            };
        }
        Ok(stream)
    }

    /// The connector's stream, or TCP; a connector that returns after `deadline` is a
    /// timeout (it cannot be interrupted).
    fn raw(&self, target: &Target, deadline: Option<Instant>) -> Result<ClientStream, ConnectError> {
        let Some(connector) = &self.connector else {
            return Ok(ClientStream::Tcp(self.tcp(&target.host, target.port, deadline)?));
        };
        let stream = connector.connect(target)?;
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(ConnectError::Timeout);
        }
        Ok(stream)
    }

    /// A TCP connection to `host:port` (each resolved address in turn, of the local
    /// address's family when one is set), `TCP_NODELAY` on.
    fn tcp(&self, host: &str, port: u16, deadline: Option<Instant>) -> Result<TcpStream, ConnectError> {
        let mut last = None;
        for addr in (host, port).to_socket_addrs()? {
            if self.local_address.is_some_and(|l| l.is_ipv4() != addr.is_ipv4()) {
                continue;
            }
            match self.tcp_to(addr, deadline) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{host:?} resolved to no usable address"))
        });
        Err(timed_out(e.into()))
    }

    fn tcp_to(&self, addr: SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
        if let Some(local) = self.local_address {
            socket.bind(&SocketAddr::new(local, 0).into())?;
        }
        match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                socket.connect_timeout(&addr.into(), left)?;
            }
            None => socket.connect(&addr.into())?,
        }
        let stream = TcpStream::from(socket);
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// An IO timeout while dialing is the handshake timeout.
fn timed_out(e: ConnectError) -> ConnectError {
    match e {
        ConnectError::Io(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
            ConnectError::Timeout
        }
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls() {
        for url in ["ftp://example.com/", "not a url", "ws://example.com/#frag", "ws+unix://"] {
            assert!(matches!(dial(url), Err(ConnectError::InvalidUrl(_))), "{url}");
        }
        #[cfg(not(feature = "rustls"))]
        assert!(matches!(dial("wss://example.com/"), Err(ConnectError::InvalidUrl(_))));
    }
}
