//! The client builder: Node `new WebSocket(address, protocols, options)` over std threads,
//! spelled as ws-async's `ClientBuilder`.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use ws_async::{ClientOptions, ConnectPlan};
use ws_proto::http::Response;

use crate::client::{deadline, handshake, Dialer};
use crate::connector::Connector;
use crate::transport::ClientStream;
use crate::websocket::WebSocket;
use crate::ConnectError;

/// Builds and opens a client connection, with the options of Node `ws`'s
/// `new WebSocket(address, protocols, options)`; the same names and semantics as the async
/// bindings' `ClientBuilder`.
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
/// | failing on "Server sent no subprotocol" | [`require_subprotocol`](Self::require_subprotocol) | off |
/// | `auth` | [`auth`](Self::auth) (URL userinfo wins) | none |
/// | `generateMask` | [`generate_mask`](Self::generate_mask) | the OS's randomness |
/// | `finishRequest` | [`finish_request`](Self::finish_request) | |
/// | `'redirect'` event | [`on_redirect`](Self::on_redirect) | the safe policy alone |
/// | `origin` | [`origin`](Self::origin) | none |
/// | `headers` | [`header`](Self::header) | none |
/// | `protocolVersion` | [`protocol_version`](Self::protocol_version) | 13 |
/// | `handshakeTimeout` | [`handshake_timeout`](Self::handshake_timeout) (per hop: connect, proxy, TLS and handshake) | `Config`'s (10 s) |
/// | `followRedirects`, `maxRedirects` | [`follow_redirects`](Self::follow_redirects), [`max_redirects`](Self::max_redirects) | off, 10 |
/// | `localAddress` | [`local_address`](Self::local_address) | any |
/// | `agent` / `createConnection` | [`connector`](Self::connector) | TCP |
/// | an HTTP proxy agent | [`proxy`](Self::proxy) (HTTP `CONNECT`) | none; environment variables are **not** read |
/// | `perMessageDeflate` | [`per_message_deflate`](Self::per_message_deflate) | **on**: `DeflateConfig::default()` |
/// | `maxPayload` and other limits | [`config`](Self::config) | `Config::default()` |
/// | `ca`, `cert`, `key`, `servername` (`''`: no SNI), `rejectUnauthorized`, `checkServerIdentity` | `tls` (`TlsOptions`) | Mozilla roots, host verified |
/// | `'upgrade'` event | the `Response<()>` returned with the connection | |
/// | `'unexpected-response'` event | [`ConnectError::Rejected`] (status, headers, body) | |
#[derive(Clone)]
#[must_use = "a ClientBuilder does nothing until connect() is called"]
pub struct ClientBuilder {
    options: ClientOptions,
    connector: Option<Arc<dyn Connector>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("options", &self.options)
            .field("connector", &self.connector.is_some())
            .finish()
    }
}

impl ClientBuilder {
    /// A client for `url`: `ws://host[:port]/path?query`, `wss://…` (TLS, feature `rustls`),
    /// `ws+unix:///path/to.sock:/request/path` (a Unix socket, as Node `ws`), or `http://` /
    /// `https://`, which mean `ws://` / `wss://`. Other schemes and URLs with a fragment fail
    /// at [`connect`](Self::connect) with [`ConnectError::InvalidUrl`]. Userinfo becomes
    /// `Authorization: Basic` unless an `Authorization` [`header`](Self::header) is set.
    pub fn new(url: impl Into<String>) -> Self {
        Self { options: ClientOptions::new(url), connector: None }
    }

    ws_async::client_builder_setters!("ws_blocking");

    /// Opens the transport with `connector` instead of TCP (Node `agent` /
    /// `createConnection`): a closure `Fn(Target) -> io::Result<S>` for any
    /// `S: Read + Write + Transport + TryClone + Send + 'static` (boxed into
    /// [`Stream::Custom`](crate::Stream::Custom)), or any [`Connector`](crate::Connector).
    /// It is called once per connection attempt, so again for every redirect followed. For
    /// `wss://`, TLS is run over the returned stream unless the connector
    /// [handles TLS](crate::Connector::handles_tls). With a [`proxy`](Self::proxy) the
    /// connector reaches the proxy. Not used for `ws+unix:` URLs.
    pub fn connector(mut self, connector: impl Connector) -> Self {
        self.connector = Some(Arc::new(connector));
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
        let mut plan = self.options.plan()?;
        let mut dialer = Dialer::new(plan.config.get_max_handshake_size());
        dialer.connector = self.connector.clone();
        dialer.local_address = self.options.local_address;
        dialer.proxy = plan.proxy.clone();
        #[cfg(feature = "rustls")]
        {
            dialer.tls = self.options.tls.clone();
        }
        loop {
            match Self::hop(&plan, &dialer) {
                Ok((ws, response)) => return Ok((ws.with_url(plan.target().url.as_str()), response)),
                Err(e) => plan.follow(e)?,
            }
        }
    }

    /// One connection attempt to the plan's target, bounded by the handshake timeout.
    fn hop(plan: &ConnectPlan, dialer: &Dialer) -> Result<(WebSocket<ClientStream>, Response<()>), ConnectError> {
        let start = Instant::now();
        let stream = dialer.open(&plan.target().endpoint, deadline(&plan.config, start))?;
        handshake(stream, plan.request(), plan.config.clone(), start, plan.entropy())
    }
}
