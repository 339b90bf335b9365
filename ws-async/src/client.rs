//! The client builder: Node `new WebSocket(address, protocols, options)` on any runtime.
//!
//! [`ClientBuilder`] opens the transport (TCP, a Unix socket, a [`Connector`], an HTTP
//! `CONNECT` proxy), adds TLS for `wss://` (feature `rustls`), performs the handshake and
//! follows redirects when asked to; [`connect`], [`connect_config`] and [`dial`] are the
//! URL-only shortcuts.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::Response;
use ws_proto::{ClientRequest, ClientTarget, Config, Endpoint, HttpProxy};

use crate::client_options::{ClientOptions, ConnectPlan};
use crate::connector::Connector;
use crate::error::ConnectError;
use crate::handshake::{connect_with, connect_with_entropy};
use crate::proxy;
use crate::runtime::{self, Net, Target};
use crate::stream::WebSocket;
#[cfg(feature = "rustls")]
use crate::tls::TlsOptions;

/// Builds and opens a client connection, with the options of Node `ws`'s
/// `new WebSocket(address, protocols, options)`.
///
/// ```no_run
/// use std::time::Duration;
/// use ws_tokio::ClientBuilder;
///
/// # async fn run() -> Result<(), ws_tokio::ConnectError> {
/// let (mut ws, response) = ClientBuilder::new("wss://example.com/chat")
///     .subprotocols(["v2.chat", "v1.chat"])
///     .origin("https://example.com")
///     .header("Authorization", "Bearer abc")
///     .handshake_timeout(Duration::from_secs(5))
///     .follow_redirects(true)
///     .connect()
///     .await?;
/// println!("upgraded: {:?}, subprotocol {:?}", response.headers(), ws.protocol());
/// ws.send("hello").await.ok();
/// # Ok(())
/// # }
/// ```
///
/// | Node `ws` | here | default |
/// |---|---|---|
/// | `address` | [`new`](Self::new): `ws://`, `wss://`, `ws+unix:///sock:/path`; `http(s)://` mean `ws(s)://` | |
/// | `protocols` | [`subprotocols`](Self::subprotocols), [`subprotocol`](Self::subprotocol) | none |
/// | failing on "Server sent no subprotocol" | [`require_subprotocol`](Self::require_subprotocol) | off |
/// | `auth` | [`auth`](Self::auth) (URL userinfo wins) | none |
/// | `generateMask` | [`generate_mask`](Self::generate_mask) | the OS's randomness |
/// | `finishRequest` | [`finish_request`](Self::finish_request) | |
/// | `'redirect'` event | [`on_redirect`](Self::on_redirect) | the safe policy alone |
/// | `origin` | [`origin`](Self::origin) (`Sec-WebSocket-Origin` with version 8) | none |
/// | `headers` | [`header`](Self::header) | none |
/// | `protocolVersion` | [`protocol_version`](Self::protocol_version) | 13 |
/// | `handshakeTimeout` | [`handshake_timeout`](Self::handshake_timeout) (per hop, covers connect, proxy, TLS and handshake) | `Config`'s (10 s) |
/// | `followRedirects`, `maxRedirects` | [`follow_redirects`](Self::follow_redirects), [`max_redirects`](Self::max_redirects) | off, 10 |
/// | `localAddress` | [`local_address`](Self::local_address) | any |
/// | `agent` / `createConnection` | [`connector`](Self::connector) | TCP |
/// | an HTTP proxy agent | [`proxy`](Self::proxy) (HTTP `CONNECT`) | none; environment variables are **not** read |
/// | `perMessageDeflate` | [`per_message_deflate`](Self::per_message_deflate) | **on**: `DeflateConfig::default()` |
/// | `maxPayload` and other limits | [`config`](Self::config) | `Config::default()` |
/// | `ca`, `cert`, `key`, `servername` (`''`: no SNI), `rejectUnauthorized`, `checkServerIdentity` | [`tls`](Self::tls) ([`TlsOptions`](crate::tls::TlsOptions)) | Mozilla roots, host verified |
/// | `'upgrade'` event | the `Response<()>` returned with the connection | |
/// | `'unexpected-response'` event | [`ConnectError::Rejected`] (status, headers, body) | |
#[must_use = "a ClientBuilder does nothing until connect() is awaited"]
pub struct ClientBuilder<R: Net> {
    options: ClientOptions,
    connector: Option<Arc<dyn Connector<R>>>,
}

impl<R: Net> Clone for ClientBuilder<R> {
    fn clone(&self) -> Self {
        Self { options: self.options.clone(), connector: self.connector.clone() }
    }
}

impl<R: Net> fmt::Debug for ClientBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("options", &self.options)
            .field("connector", &self.connector.is_some())
            .finish()
    }
}

impl<R: Net> ClientBuilder<R> {
    /// A client for `url`: `ws://host[:port]/path?query`, `wss://…` (TLS, feature `rustls`),
    /// `ws+unix:///path/to.sock:/request/path` (a Unix socket, as Node `ws`), or `http://` /
    /// `https://`, which mean `ws://` / `wss://`. Other schemes and URLs with a fragment fail
    /// at [`connect`](Self::connect) with [`ConnectError::InvalidUrl`]. Userinfo becomes
    /// `Authorization: Basic` unless an `Authorization` [`header`](Self::header) is set.
    pub fn new(url: impl Into<String>) -> Self {
        Self { options: ClientOptions::new(url), connector: None }
    }

    crate::client_builder_setters!("ws_tokio");

    /// Opens the transport with `connector` instead of TCP (Node `agent`): a closure
    /// `Fn(Target) -> impl Future<Output = io::Result<S>>`, or any [`Connector`]. For `wss://`,
    /// TLS is run over the returned stream unless the connector
    /// [handles TLS](Connector::handles_tls). With a [`proxy`](Self::proxy) the connector
    /// reaches the proxy. Not used for `ws+unix:` URLs.
    pub fn connector(mut self, connector: impl Connector<R>) -> Self {
        self.connector = Some(Arc::new(connector));
        self
    }

    /// Connects, performs the handshake (following redirects if enabled) and returns the open
    /// connection and the server's `101` response (Node `'upgrade'`: its headers, e.g.
    /// `Set-Cookie`). The connection's [`url`](WebSocket::url) is the URL finally connected to.
    ///
    /// Errors: [`ConnectError::InvalidUrl`] (also for a redirect's invalid `Location`),
    /// [`ConnectError::Io`], [`ConnectError::Tls`], [`ConnectError::ProxyRejected`],
    /// [`ConnectError::Timeout`], [`ConnectError::Rejected`] for a non-101 answer (Node
    /// `'unexpected-response'`, redirects not followed included),
    /// [`ConnectError::TooManyRedirects`], and [`ConnectError::Handshake`] for an invalid
    /// request or a `101` that breaks RFC 6455.
    pub async fn connect(self) -> Result<(WebSocket<R::ClientStream, R>, Response<()>), ConnectError> {
        let mut plan = self.options.plan()?;
        let dialer = Dialer::<R> {
            connector: self.connector.clone(),
            local_address: self.options.local_address,
            proxy: plan.proxy.clone(),
            max_head: plan.config.get_max_handshake_size(),
            #[cfg(feature = "rustls")]
            tls: self.options.tls.clone(),
        };
        loop {
            match Self::hop(&plan, &dialer).await {
                Ok((ws, response)) => return Ok((ws.with_url(plan.target().url.as_str()), response)),
                Err(e) => plan.follow(e)?,
            }
        }
    }

    /// One connection attempt to the plan's target, bounded by the handshake timeout.
    async fn hop(
        plan: &ConnectPlan,
        dialer: &Dialer<R>,
    ) -> Result<(WebSocket<R::ClientStream, R>, Response<()>), ConnectError> {
        let config = plan.config.clone();
        let attempt = async {
            let stream = dialer.open(&plan.target().endpoint).await?;
            connect_with_entropy::<_, R>(stream, plan.request(), config.clone(), plan.entropy()).await
        };
        match config.get_handshake_timeout() {
            Some(t) => runtime::timeout::<R, _>(t, attempt).await.ok_or(ConnectError::Timeout)?,
            None => attempt.await,
        }
    }
}

/// Opens transports for one `connect`: connector or TCP, proxy tunnel, TLS.
pub(crate) struct Dialer<R: Net> {
    connector: Option<Arc<dyn Connector<R>>>,
    local_address: Option<IpAddr>,
    proxy: Option<HttpProxy>,
    /// Bound on the proxy's response head.
    max_head: usize,
    #[cfg(feature = "rustls")]
    tls: TlsOptions,
}

impl<R: Net> Dialer<R> {
    /// Plain TCP (or a Unix socket), default TLS.
    pub(crate) fn plain() -> Self {
        Self {
            connector: None,
            local_address: None,
            proxy: None,
            max_head: Config::default().get_max_handshake_size(),
            #[cfg(feature = "rustls")]
            tls: TlsOptions::default(),
        }
    }

    /// Opens the stream to `endpoint`, TLS included for `wss`.
    pub(crate) async fn open(&self, endpoint: &Endpoint) -> Result<R::ClientStream, ConnectError> {
        let (host, port, secure) = match endpoint {
            Endpoint::Unix { path } => return Ok(R::connect_unix(path.clone()).await?),
            Endpoint::Tcp { host, port, secure } => (host, *port, *secure),
        };
        let connector_tls = self.proxy.is_none() && self.connector.as_ref().is_some_and(|c| c.handles_tls());
        let add_tls = secure && !connector_tls;
        #[cfg(feature = "rustls")]
        let tls_config = if add_tls { Some(self.tls.build().map_err(ConnectError::Tls)?) } else { None };
        #[cfg(not(feature = "rustls"))]
        if add_tls {
            return Err(ConnectError::InvalidUrl(
                "wss:// needs the `rustls` feature, or a connector that handles TLS".into(),
            ));
        }
        let stream = match &self.proxy {
            Some(p) => {
                let to_proxy = self.raw(&Target::new(p.host.clone(), p.port, false)).await?;
                proxy::tunnel::<_, R>(to_proxy, p, host, port, self.max_head).await?
            }
            None => self.raw(&Target::new(host.clone(), port, secure)).await?,
        };
        #[cfg(feature = "rustls")]
        if let Some(config) = tls_config {
            let name = crate::tls::server_name(self.tls.verified_name(host)).map_err(ConnectError::Tls)?;
            return R::connect_tls(stream, name, config).await.map_err(ConnectError::Tls);
        }
        Ok(stream)
    }

    /// The connector's stream, or TCP.
    async fn raw(&self, target: &Target) -> Result<R::ClientStream, ConnectError> {
        match &self.connector {
            Some(c) => Ok(c.connect(target).await?),
            None => Ok(R::connect_tcp(target.host.clone(), target.port, self.local_address).await?),
        }
    }
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
/// The returned `WebSocket` reports the normalised URL from [`url`](WebSocket::url)
/// (`http(s)` rewritten to `ws(s)`, as Node's `url`).
pub async fn connect<R: Net>(url: &str) -> Result<(WebSocket<R::ClientStream, R>, Response<()>), ConnectError> {
    connect_config::<R>(url, Arc::new(Config::default())).await
}

/// [`connect`] with a custom [`Config`]; its handshake timeout also bounds the TCP connect.
pub async fn connect_config<R: Net>(
    url: &str,
    config: Arc<Config>,
) -> Result<(WebSocket<R::ClientStream, R>, Response<()>), ConnectError> {
    let target = ClientTarget::parse(url)?;
    let dialer = Dialer::<R>::plain();
    let open = dialer.open(&target.endpoint);
    let stream = match config.get_handshake_timeout() {
        Some(t) => runtime::timeout::<R, _>(t, open).await.ok_or(ConnectError::Timeout)??,
        None => open.await?,
    };
    let (ws, response) = connect_with::<_, R>(stream, target.request, config).await?;
    Ok((ws.with_url(target.url.as_str()), response))
}

/// Opens the stream for `url` (see [`connect`]) and builds its [`ClientRequest`] without the
/// handshake: add headers, subprotocols or an origin to the request, then call
/// [`connect_with`].
pub async fn dial<R: Net>(url: &str) -> Result<(R::ClientStream, ClientRequest), ConnectError> {
    let target = ClientTarget::parse(url)?;
    let stream = Dialer::<R>::plain().open(&target.endpoint).await?;
    Ok((stream, target.request))
}
