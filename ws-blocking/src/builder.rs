//! The client builder: Node `new WebSocket(address, protocols, options)` over std threads,
//! spelled as ws-async's `ClientBuilder`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_proto::http::{HeaderName, HeaderValue, Response};
use ws_proto::{ClientTarget, Config, DeflateConfig, HandshakeError, HttpProxy, RedirectError, RedirectPolicy};

use crate::client::{deadline, handshake, url_error, Dialer};
#[cfg(feature = "rustls")]
use crate::tls::TlsOptions;
use crate::transport::ClientStream;
use crate::websocket::WebSocket;
use crate::ConnectError;

/// Builds and opens a client connection, with the options of Node `ws`'s
/// `new WebSocket(address, protocols, options)`; the same names and semantics as the async
/// bindings' `ClientBuilder`, minus `connector`.
///
/// ```no_run
/// use std::time::Duration;
/// use ws_blocking::ClientBuilder;
///
/// let (mut ws, response) = ClientBuilder::new("wss://example.com/chat")
///     .subprotocols(["v2.chat", "v1.chat"])
///     .origin("https://example.com")
///     .header("Authorization", "Bearer abc")
///     .handshake_timeout(Duration::from_secs(5))
///     .follow_redirects(true)
///     .connect()?;
/// println!("upgraded: {:?}, subprotocol {:?}", response.headers(), ws.protocol());
/// ws.send("hello")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// | Node `ws` | here | default |
/// |---|---|---|
/// | `address` | [`new`](Self::new): `ws://`, `wss://`, `ws+unix:///sock:/path`; `http(s)://` mean `ws(s)://` | |
/// | `protocols` | [`subprotocols`](Self::subprotocols), [`subprotocol`](Self::subprotocol) | none |
/// | `origin` | [`origin`](Self::origin) | none |
/// | `headers` | [`header`](Self::header) | none |
/// | `protocolVersion` | [`protocol_version`](Self::protocol_version) | 13 |
/// | `handshakeTimeout` | [`handshake_timeout`](Self::handshake_timeout) (per hop: connect, proxy, TLS and handshake) | `Config`'s (10 s) |
/// | `followRedirects`, `maxRedirects` | [`follow_redirects`](Self::follow_redirects), [`max_redirects`](Self::max_redirects) | off, 10 |
/// | `localAddress` | [`local_address`](Self::local_address) | any |
/// | an HTTP proxy agent | [`proxy`](Self::proxy) (HTTP `CONNECT`) | none; environment variables are **not** read |
/// | `perMessageDeflate` | [`per_message_deflate`](Self::per_message_deflate) | **on**: `DeflateConfig::default()` |
/// | `maxPayload` and other limits | [`config`](Self::config) | `Config::default()` |
/// | `ca`, `cert`, `key`, `servername`, `rejectUnauthorized`, `checkServerIdentity` | `tls` (`TlsOptions`) | Mozilla roots, host verified |
/// | `'upgrade'` event | the `Response<()>` returned with the connection | |
/// | `'unexpected-response'` event | [`ConnectError::Rejected`] (status, headers, body) | |
#[derive(Clone, Debug)]
#[must_use = "a ClientBuilder does nothing until connect() is called"]
pub struct ClientBuilder {
    url: String,
    subprotocols: Vec<String>,
    origin: Option<String>,
    headers: Vec<(String, String)>,
    protocol_version: u8,
    handshake_timeout: Option<Duration>,
    follow_redirects: bool,
    max_redirects: usize,
    local_address: Option<IpAddr>,
    proxy: Option<String>,
    per_message_deflate: Option<DeflateConfig>,
    config: Option<Arc<Config>>,
    #[cfg(feature = "rustls")]
    tls: TlsOptions,
}

impl ClientBuilder {
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
            max_redirects: RedirectPolicy::default().max_redirects,
            local_address: None,
            proxy: None,
            per_message_deflate: Some(DeflateConfig::default()),
            config: None,
            #[cfg(feature = "rustls")]
            tls: TlsOptions::default(),
        }
    }

    /// The subprotocols to offer, most preferred first (Node `protocols`), replacing earlier
    /// ones. The server picks at most one ([`WebSocket::protocol`]).
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
    /// (case-insensitive). The handshake's own headers cannot be overridden;
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

    /// Follows `3xx` responses with a `Location` (Node `followRedirects`, default off), with
    /// ws-proto's [`RedirectPolicy`]. When off, a redirect is [`ConnectError::Rejected`].
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
    /// Only remote addresses of the same family are tried. Not used for `ws+unix:` URLs.
    pub fn local_address(mut self, address: IpAddr) -> Self {
        self.local_address = Some(address);
        self
    }

    /// Tunnels through an HTTP proxy with `CONNECT host:port` (`http://[user:pass@]host:port`;
    /// userinfo becomes `Proxy-Authorization: Basic`), for `ws://` and `wss://` alike (TLS runs
    /// end to end inside the tunnel). A refusal is [`ConnectError::ProxyRejected`]. Proxy
    /// environment variables are **not** read. Not used for `ws+unix:` URLs.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// The permessage-deflate offer (Node `perMessageDeflate`): `None` offers nothing. On by
    /// default, as in Node: `DeflateConfig::default()`. Replaces `Config::permessage_deflate`
    /// of [`config`](Self::config).
    pub fn per_message_deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.per_message_deflate = deflate;
        self
    }

    /// Limits, timers and the rest of the connection's settings (Node `maxPayload`…). Its
    /// `permessage_deflate` is replaced by [`per_message_deflate`](Self::per_message_deflate)'s
    /// setting, and its handshake timeout by [`handshake_timeout`](Self::handshake_timeout)
    /// when set.
    pub fn config(mut self, config: Arc<Config>) -> Self {
        self.config = Some(config);
        self
    }

    /// TLS settings for `wss://`: roots, client certificate (mutual TLS), server name,
    /// verification.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls(mut self, options: TlsOptions) -> Self {
        self.tls = options;
        self
    }

    /// Connects, performs the handshake (following redirects if enabled) and returns the open
    /// connection and the server's `101` response. The connection's [`url`](WebSocket::url)
    /// is the URL finally connected to.
    ///
    /// Errors: [`ConnectError::InvalidUrl`] (also for a redirect's invalid `Location`),
    /// [`ConnectError::Io`], [`ConnectError::Tls`], [`ConnectError::ProxyRejected`],
    /// [`ConnectError::Timeout`], [`ConnectError::Rejected`] for a non-101 answer (redirects
    /// not followed included), [`ConnectError::TooManyRedirects`], and
    /// [`ConnectError::Handshake`] for an invalid request or a `101` that breaks RFC 6455.
    pub fn connect(self) -> Result<(WebSocket<ClientStream>, Response<()>), ConnectError> {
        let mut config = self.config.as_deref().cloned().unwrap_or_default();
        config.permessage_deflate(self.per_message_deflate.clone());
        if let Some(t) = self.handshake_timeout {
            config.handshake_timeout(Some(t));
        }
        let config = Arc::new(config);
        if let Some((name, _)) = self
            .headers
            .iter()
            .find(|(n, v)| HeaderName::from_bytes(n.as_bytes()).is_err() || HeaderValue::from_str(v).is_err())
        {
            return Err(HandshakeError::InvalidRequest(format!("invalid header {name:?}")).into());
        }
        let mut dialer = Dialer::new(config.get_max_handshake_size());
        dialer.local_address = self.local_address;
        dialer.proxy = self.proxy.as_deref().map(HttpProxy::parse).transpose().map_err(url_error)?;
        #[cfg(feature = "rustls")]
        {
            dialer.tls = self.tls.clone();
        }

        let original = ClientTarget::parse(&self.url).map_err(url_error)?;
        let mut headers = self.headers.clone();
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
            if let Some(auth) = original.basic_authorization() {
                headers.push(("authorization".into(), auth));
            }
        }
        let policy = RedirectPolicy::new(self.max_redirects);
        let mut target = original.clone();
        let mut followed = 0;
        loop {
            let url = target.url.clone();
            let rejection = match self.hop(target, &headers, &dialer, &config) {
                Ok((ws, response)) => return Ok((ws.with_url(url.as_str()), response)),
                Err(ConnectError::Rejected { status, headers, body }) => (status, headers, body),
                Err(e) => return Err(e),
            };
            let (status, response_headers, body) = rejection;
            let location = RedirectPolicy::location(&response_headers);
            let next = match self.follow_redirects {
                true => policy.next(&original.url, &url, status, location, followed),
                false => Ok(None),
            };
            match next {
                Ok(Some(redirect)) => {
                    followed += 1;
                    redirect.apply(&mut headers);
                    target = redirect.into_target();
                }
                Ok(None) => return Err(ConnectError::Rejected { status, headers: response_headers, body }),
                Err(RedirectError::TooMany { max }) => return Err(ConnectError::TooManyRedirects(max)),
                Err(e) => return Err(ConnectError::InvalidUrl(e.to_string())),
            }
        }
    }

    /// One connection attempt, bounded by the handshake timeout.
    fn hop(
        &self,
        target: ClientTarget,
        headers: &[(String, String)],
        dialer: &Dialer,
        config: &Arc<Config>,
    ) -> Result<(WebSocket<ClientStream>, Response<()>), ConnectError> {
        let start = Instant::now();
        let ClientTarget { endpoint, mut request, .. } = target;
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
        let stream = dialer.open(&endpoint, deadline(config, start))?;
        handshake(stream, request, config.clone(), start)
    }
}
