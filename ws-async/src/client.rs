//! The client builder: Node `new WebSocket(address, protocols, options)` for tokio.
//!
//! [`ClientBuilder`] opens the transport (TCP, a Unix socket, a [`Connector`], an HTTP
//! `CONNECT` proxy), adds TLS for `wss://` (feature `rustls`), performs the handshake and
//! follows redirects when asked to.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Response};
use ws_proto::{
    ClientRequest, ClientTarget, Config, DeflateConfig, Endpoint, HandshakeError, HttpProxy, RedirectPolicy,
    DEFAULT_MAX_REDIRECTS,
};

use crate::connector::Connector;
use crate::error::ConnectError;
use crate::handshake::connect_with;
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
/// | `ca`, `cert`, `key`, `servername`, `rejectUnauthorized`, `checkServerIdentity` | [`tls`](Self::tls) ([`TlsOptions`](crate::tls::TlsOptions)) | Mozilla roots, host verified |
/// | `'upgrade'` event | the `Response<()>` returned with the connection | |
/// | `'unexpected-response'` event | [`ConnectError::Rejected`] (status, headers, body) | |
#[must_use = "a ClientBuilder does nothing until connect() is awaited"]
pub struct ClientBuilder<R: Net> {
    url: String,
    subprotocols: Vec<String>,
    origin: Option<String>,
    headers: Vec<(String, String)>,
    protocol_version: u8,
    handshake_timeout: Option<Duration>,
    follow_redirects: bool,
    max_redirects: usize,
    local_address: Option<IpAddr>,
    connector: Option<Arc<dyn Connector<R>>>,
    proxy: Option<String>,
    per_message_deflate: Option<DeflateConfig>,
    config: Option<Arc<Config>>,
    #[cfg(feature = "rustls")]
    tls: TlsOptions,
}

impl<R: Net> Clone for ClientBuilder<R> {
    fn clone(&self) -> Self {
        Self {
            url: self.url.clone(),
            subprotocols: self.subprotocols.clone(),
            origin: self.origin.clone(),
            headers: self.headers.clone(),
            protocol_version: self.protocol_version,
            handshake_timeout: self.handshake_timeout,
            follow_redirects: self.follow_redirects,
            max_redirects: self.max_redirects,
            local_address: self.local_address,
            connector: self.connector.clone(),
            proxy: self.proxy.clone(),
            per_message_deflate: self.per_message_deflate.clone(),
            config: self.config.clone(),
            #[cfg(feature = "rustls")]
            tls: self.tls.clone(),
        }
    }
}

impl<R: Net> fmt::Debug for ClientBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientBuilder");
        d.field("url", &self.url)
            .field("subprotocols", &self.subprotocols)
            .field("origin", &self.origin)
            .field("headers", &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("protocol_version", &self.protocol_version)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("follow_redirects", &self.follow_redirects)
            .field("max_redirects", &self.max_redirects)
            .field("local_address", &self.local_address)
            .field("connector", &self.connector.is_some())
            .field("proxy", &self.proxy.as_ref().map(|_| "…"))
            .field("per_message_deflate", &self.per_message_deflate)
            .field("config", &self.config);
        #[cfg(feature = "rustls")]
        d.field("tls", &self.tls);
        d.finish()
    }
}

impl<R: Net> ClientBuilder<R> {
    /// A client for `url`: `ws://host[:port]/path?query`, `wss://…` (TLS, feature `rustls`),
    /// `ws+unix:///path/to.sock:/request/path` (a Unix socket, as Node `ws`), or `http://` /
    /// `https://`, which mean `ws://` / `wss://`. Other schemes and URLs with a fragment fail
    /// at [`connect`](Self::connect) with [`ConnectError::InvalidUrl`]. Userinfo becomes
    /// `Authorization: Basic` unless an `Authorization` [`header`](Self::header) is set.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            subprotocols: Vec::new(),
            origin: None,
            headers: Vec::new(),
            protocol_version: 13,
            handshake_timeout: None,
            follow_redirects: false,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            local_address: None,
            connector: None,
            proxy: None,
            per_message_deflate: Some(DeflateConfig::default()),
            config: None,
            #[cfg(feature = "rustls")]
            tls: TlsOptions::default(),
        }
    }

    /// The subprotocols to offer, most preferred first (Node `protocols`), replacing earlier
    /// ones. They must be unique tokens; the server picks at most one
    /// ([`WebSocket::protocol`]).
    pub fn subprotocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Adds one subprotocol to offer.
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> Self {
        self.subprotocols.push(protocol.into());
        self
    }

    /// The `Origin` header (`Sec-WebSocket-Origin` for protocol version 8), Node `origin`.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Adds a request header (Node `headers`), replacing an earlier one of the same name
    /// (case-insensitive). The handshake's own headers (`Upgrade`, `Connection`,
    /// `Sec-WebSocket-Key`, `-Version`, `-Extensions`) cannot be overridden;
    /// `Sec-WebSocket-Protocol` adds subprotocols; `Host` replaces the authority. On a redirect
    /// to another host, or from `wss` to `ws`, `Authorization` and `Cookie` are dropped (and
    /// `Host` too for another host), as Node `ws` and curl do.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// The `Sec-WebSocket-Version` to send: 13 (default) or 8 (Node `protocolVersion`).
    pub fn protocol_version(mut self, version: u8) -> Self {
        self.protocol_version = version;
        self
    }

    /// Bounds each connection attempt (Node `handshakeTimeout`, reset on every redirect):
    /// resolving and connecting, the proxy tunnel, TLS and the WebSocket handshake together.
    /// Overrides `Config::handshake_timeout` (10 s by default). Expiry is
    /// [`ConnectError::Timeout`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = Some(timeout);
        self
    }

    /// Follows `3xx` responses with a `Location` (Node `followRedirects`, default off). The
    /// location is resolved against the current URL; `http(s)` locations mean `ws(s)`. When
    /// off, a redirect is [`ConnectError::Rejected`] with its status and `Location` header.
    pub fn follow_redirects(mut self, on: bool) -> Self {
        self.follow_redirects = on;
        self
    }

    /// Most redirects followed (Node `maxRedirects`, default 10); one more is
    /// [`ConnectError::TooManyRedirects`].
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.max_redirects = n;
        self
    }

    /// Binds the TCP socket to this local address before connecting (Node `localAddress`).
    /// Only remote addresses of the same family are tried. Not used for `ws+unix:` URLs,
    /// nor by a [`connector`](Self::connector).
    pub fn local_address(mut self, address: IpAddr) -> Self {
        self.local_address = Some(address);
        self
    }

    /// Opens the transport with `connector` instead of TCP (Node `agent`): a closure
    /// `Fn(Target) -> impl Future<Output = io::Result<S>>`, or any [`Connector`]. For `wss://`,
    /// TLS is run over the returned stream unless the connector
    /// [handles TLS](Connector::handles_tls). With a [`proxy`](Self::proxy) the connector
    /// reaches the proxy. Not used for `ws+unix:` URLs.
    pub fn connector(mut self, connector: impl Connector<R>) -> Self {
        self.connector = Some(Arc::new(connector));
        self
    }

    /// Tunnels through an HTTP proxy with `CONNECT host:port` (`http://[user:pass@]host:port`;
    /// userinfo becomes `Proxy-Authorization: Basic`). Used for `ws://` and `wss://` alike
    /// (TLS runs end to end inside the tunnel). A refusal is [`ConnectError::ProxyRejected`].
    ///
    /// Proxy environment variables (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`…) are **not**
    /// read: pass the proxy here explicitly if the application wants to honour them. Not used
    /// for `ws+unix:` URLs.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// The permessage-deflate offer (Node `perMessageDeflate`): `None` offers nothing. On by
    /// default, as in Node: `DeflateConfig::default()` (with ws-proto's miniz_oxide backend
    /// the offer is `permessage-deflate` without `client_max_window_bits`; with zlib-rs it
    /// adds `client_max_window_bits`). Replaces `Config::permessage_deflate` of
    /// [`config`](Self::config).
    pub fn per_message_deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.per_message_deflate = deflate;
        self
    }

    /// Limits, timers and the rest of the connection's settings (Node `maxPayload`,
    /// `skipUTF8Validation`, `autoPong`…). Its `permessage_deflate` is replaced by
    /// [`per_message_deflate`](Self::per_message_deflate)'s setting, and its handshake timeout
    /// by [`handshake_timeout`](Self::handshake_timeout) when set.
    pub fn config(mut self, config: Arc<Config>) -> Self {
        self.config = Some(config);
        self
    }

    /// TLS settings for `wss://`: roots, client certificate, server name, verification.
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, options: TlsOptions) -> Self {
        self.tls = options;
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
        let mut config = self.config.as_deref().cloned().unwrap_or_default();
        config.permessage_deflate(self.per_message_deflate.clone());
        if let Some(t) = self.handshake_timeout {
            config.handshake_timeout(Some(t));
        }
        let config = Arc::new(config);
        for (name, value) in &self.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(value).is_err() {
                return Err(HandshakeError::InvalidRequest(format!("invalid header {name:?}")).into());
            }
        }
        let dialer = Dialer::<R> {
            connector: self.connector.clone(),
            local_address: self.local_address,
            proxy: self.proxy.as_deref().map(HttpProxy::parse).transpose()?,
            max_head: config.get_max_handshake_size(),
            #[cfg(feature = "rustls")]
            tls: self.tls.clone(),
        };

        let mut target = ClientTarget::parse(&self.url)?;
        let original = target.url.clone();
        let mut headers = self.headers.clone();
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
            if let Some(auth) = target.basic_authorization() {
                headers.push(("authorization".into(), auth));
            }
        }
        let policy = RedirectPolicy::new(self.max_redirects);
        let mut redirects = 0;
        loop {
            match self.hop(&target, &headers, &dialer, &config).await {
                Ok((ws, response)) => return Ok((ws.with_url(target.url.as_str()), response)),
                Err(ConnectError::Rejected { status, headers: response, body }) if self.follow_redirects => {
                    let location = RedirectPolicy::location(&response);
                    match policy.next(&original, &target.url, status, location, redirects) {
                        Ok(Some(redirect)) => {
                            redirect.apply(&mut headers);
                            target = redirect.into_target();
                            redirects += 1;
                        }
                        Ok(None) => return Err(ConnectError::Rejected { status, headers: response, body }),
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One connection attempt to `target`, bounded by the handshake timeout.
    async fn hop(
        &self,
        target: &ClientTarget,
        headers: &[(String, String)],
        dialer: &Dialer<R>,
        config: &Arc<Config>,
    ) -> Result<(WebSocket<R::ClientStream, R>, Response<()>), ConnectError> {
        let mut request = target.request.clone();
        for (name, value) in headers {
            request.header(name, value);
        }
        for p in &self.subprotocols {
            request.subprotocol(p);
        }
        if let Some(origin) = &self.origin {
            request.origin(origin);
        }
        request.protocol_version(self.protocol_version);
        let attempt = async {
            let stream = dialer.open(&target.endpoint).await?;
            connect_with::<_, R>(stream, request, config.clone()).await
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
            let name =
                crate::tls::server_name(self.tls.get_server_name().unwrap_or(host)).map_err(ConnectError::Tls)?;
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

/// [`dial`](crate::dial): a normalised URL's stream (default TLS for `wss`) and request, the
/// userinfo as `Authorization`.
pub(crate) async fn dial_url<R: Net>(url: &str) -> Result<(R::ClientStream, ClientRequest), ConnectError> {
    let target = ClientTarget::parse(url)?;
    let stream = Dialer::<R>::plain().open(&target.endpoint).await?;
    Ok((stream, target.request))
}
