//! What a client builder collects, and the plan of one `connect` (the per-hop request, the
//! redirect loop), without IO: shared by the async [`ClientBuilder`](crate::ClientBuilder)
//! and ws-blocking's, so that both spell and behave the same.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use url::Url;
use ws_proto::{
    ClientRequest, ClientTarget, Config, DeflateConfig, HandshakeError, HttpProxy, RedirectPolicy,
    DEFAULT_MAX_REDIRECTS,
};

use crate::error::ConnectError;
#[cfg(feature = "rustls")]
use crate::tls::TlsOptions;

/// Node `ws`'s client options (`new WebSocket(address, protocols, options)`), as the builders
/// collect them. Use a builder (`ClientBuilder`); this is the data behind it.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The URL (`ws`, `wss`, `ws+unix`, `http`, `https`).
    pub url: String,
    /// Subprotocols to offer, most preferred first.
    pub subprotocols: Vec<String>,
    /// The `Origin` header (`Sec-WebSocket-Origin` for version 8).
    pub origin: Option<String>,
    /// Extra request headers, names unique (case-insensitive).
    pub headers: Vec<(String, String)>,
    /// `Sec-WebSocket-Version`: 13 or 8.
    pub protocol_version: u8,
    /// Bound on each connection attempt; `None`: the config's.
    pub handshake_timeout: Option<Duration>,
    /// Whether `3xx` responses with a `Location` are followed.
    pub follow_redirects: bool,
    /// Most redirects followed.
    pub max_redirects: usize,
    /// The local address to connect from.
    pub local_address: Option<IpAddr>,
    /// An HTTP `CONNECT` proxy URL.
    pub proxy: Option<String>,
    /// The permessage-deflate offer (`None`: none).
    pub per_message_deflate: Option<DeflateConfig>,
    /// The connection's settings (`None`: `Config::default()`).
    pub config: Option<Arc<Config>>,
    /// TLS settings for `wss://`.
    #[cfg(feature = "rustls")]
    pub tls: TlsOptions,
}

impl ClientOptions {
    /// Node's defaults for `url`: protocol version 13, no redirects followed (10 at most when
    /// on), permessage-deflate offered with `DeflateConfig::default()`.
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
            proxy: None,
            per_message_deflate: Some(DeflateConfig::default()),
            config: None,
            #[cfg(feature = "rustls")]
            tls: TlsOptions::default(),
        }
    }

    /// Checks the options and plans the connection: the effective config, the parsed proxy,
    /// the first target and its headers (URL userinfo as `Authorization` unless one is set).
    pub fn plan(&self) -> Result<ConnectPlan, ConnectError> {
        let mut config = self.config.as_deref().cloned().unwrap_or_default();
        config = config.permessage_deflate(self.per_message_deflate.clone());
        if let Some(t) = self.handshake_timeout {
            config = config.handshake_timeout(Some(t));
        }
        for (name, value) in &self.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(value).is_err() {
                return Err(HandshakeError::InvalidRequest(format!("invalid header {name:?}")).into());
            }
        }
        let proxy = self.proxy.as_deref().map(HttpProxy::parse).transpose()?;
        let target = ClientTarget::parse(&self.url)?;
        let mut headers = self.headers.clone();
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
            if let Some(auth) = target.basic_authorization() {
                headers.push(("authorization".into(), auth));
            }
        }
        Ok(ConnectPlan {
            config: Arc::new(config),
            proxy,
            original: target.url.clone(),
            target,
            headers,
            followed: 0,
            policy: self.follow_redirects.then(|| RedirectPolicy::new(self.max_redirects)),
            subprotocols: self.subprotocols.clone(),
            origin: self.origin.clone(),
            protocol_version: self.protocol_version,
        })
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientOptions");
        d.field("url", &self.url)
            .field("subprotocols", &self.subprotocols)
            .field("origin", &self.origin)
            // Header values may be credentials.
            .field("headers", &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("protocol_version", &self.protocol_version)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("follow_redirects", &self.follow_redirects)
            .field("max_redirects", &self.max_redirects)
            .field("local_address", &self.local_address)
            .field("proxy", &self.proxy.as_ref().map(|_| "…"))
            .field("per_message_deflate", &self.per_message_deflate)
            .field("config", &self.config);
        #[cfg(feature = "rustls")]
        d.field("tls", &self.tls);
        d.finish()
    }
}

/// One `connect` in progress: where to connect next and with which request, and the redirect
/// loop. An adapter opens [`target`](Self::target)'s endpoint (through
/// [`proxy`](Self::proxy) when set), runs the handshake with [`request`](Self::request) and
/// [`config`](Self::config), and hands a [`ConnectError::Rejected`] to
/// [`follow`](Self::follow), which either moves to the redirect's target or gives the final
/// error.
#[derive(Debug)]
pub struct ConnectPlan {
    /// The connection's settings, deflate offer and handshake timeout applied.
    pub config: Arc<Config>,
    /// The HTTP `CONNECT` proxy, parsed.
    pub proxy: Option<HttpProxy>,
    original: Url,
    target: ClientTarget,
    headers: Vec<(String, String)>,
    followed: usize,
    /// `Some` when redirects are followed.
    policy: Option<RedirectPolicy>,
    subprotocols: Vec<String>,
    origin: Option<String>,
    protocol_version: u8,
}

impl ConnectPlan {
    /// Where the next attempt connects (the URL, its endpoint).
    pub fn target(&self) -> &ClientTarget {
        &self.target
    }

    /// The upgrade request of the next attempt: the target's, with the custom headers (those a
    /// redirect dropped left out), the subprotocols, the origin and the version.
    pub fn request(&self) -> ClientRequest {
        let mut request = self.target.request.clone();
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        for p in &self.subprotocols {
            request = request.subprotocol(p);
        }
        if let Some(origin) = &self.origin {
            request = request.origin(origin);
        }
        request.protocol_version(self.protocol_version)
    }

    /// After a failed attempt: `Ok(())` when `error` is a redirect to follow (the plan now
    /// points at its target, with the headers the redirect keeps), else the error to return
    /// (the rejection itself, [`ConnectError::TooManyRedirects`], or
    /// [`ConnectError::InvalidUrl`] for an unusable `Location`).
    pub fn follow(&mut self, error: ConnectError) -> Result<(), ConnectError> {
        let (policy, status, headers, body) = match (self.policy, error) {
            (Some(policy), ConnectError::Rejected { status, headers, body }) => (policy, status, headers, body),
            (_, other) => return Err(other),
        };
        let location = RedirectPolicy::location(&headers);
        match policy.next(&self.original, &self.target.url, status, location, self.followed)? {
            Some(redirect) => {
                redirect.apply(&mut self.headers);
                self.target = redirect.into_target();
                self.followed += 1;
                Ok(())
            }
            None => Err(ConnectError::Rejected { status, headers, body }),
        }
    }
}
