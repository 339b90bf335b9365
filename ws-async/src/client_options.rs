//! What a client builder collects, and the plan of one `connect` (the per-hop request, the
//! redirect loop), without IO: shared by the async [`ClientBuilder`](crate::ClientBuilder)
//! and ws-blocking's, so that both spell and behave the same.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use url::Url;
use ws_proto::{
    ClientRequest, ClientTarget, Config, DeflateConfig, Entropy, HandshakeError, HttpProxy, RedirectPolicy,
    DEFAULT_MAX_REDIRECTS,
};

use crate::entropy::OsEntropy;
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
    /// Fail the handshake when subprotocols were offered and the server chose none.
    pub require_subprotocol: bool,
    /// `user:password` for `Authorization: Basic` (Node `auth`); the URL's userinfo and an
    /// `Authorization` header win over it.
    pub auth: Option<String>,
    /// Where masking keys come from (Node `generateMask`); `None`: the OS ([`OsEntropy`]).
    pub generate_mask: Option<Arc<MaskGenerator>>,
    /// Called before each redirect is followed (Node's `'redirect'` event).
    pub on_redirect: Option<Arc<RedirectHook>>,
    /// Edits each request right before it is sent (Node `finishRequest`).
    pub finish_request: Option<Arc<FinishRequest>>,
}

/// A source of masking keys (Node `generateMask`): fills the 4-byte key of each frame a
/// client sends. Shared by every connection the options open, so keep any state in atomics or
/// a mutex.
pub type MaskGenerator = dyn Fn(&mut [u8]) + Send + Sync;

/// A redirect hook (Node's `'redirect'` event): sees and edits the next request of a redirect
/// about to be followed, and follows it or stops. See
/// [`ClientBuilder::on_redirect`](crate::ClientBuilder::on_redirect).
pub type RedirectHook = dyn Fn(&mut RedirectRequest<'_>) -> RedirectAction + Send + Sync;

/// A request hook (Node `finishRequest`): gets each upgrade request (the first one and every
/// redirect's) right before it is sent, and returns it, edited.
pub type FinishRequest = dyn Fn(ClientRequest) -> ClientRequest + Send + Sync;

/// What a [`RedirectHook`] decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectAction {
    /// Follow the redirect with the request as the hook left it.
    Follow,
    /// Do not follow it: `connect` returns the redirect response as
    /// [`ConnectError::Rejected`], as when redirects are not followed.
    Stop,
}

/// A redirect about to be followed, as a [`RedirectHook`] sees it: where it goes, and the
/// custom headers the next request will carry, which the hook may edit.
///
/// The headers are those the safe policy keeps: on a redirect to another host, or from `wss`
/// to `ws`, `Authorization` and `Cookie` (and `Host` for another host) are already removed
/// ([`credentials_dropped`](Self::credentials_dropped)).
/// [`keep_credentials`](Self::keep_credentials) puts them back (Node: a `'redirect'` listener
/// keeps every header), [`drop_credentials`](Self::drop_credentials) removes them on any
/// redirect. The subprotocols, the origin and the handshake's own headers are not among these
/// headers; a [`FinishRequest`] hook sees the whole request.
pub struct RedirectRequest<'a> {
    status: StatusCode,
    from: &'a Url,
    url: &'a Url,
    response_headers: &'a HeaderMap,
    headers: &'a mut Vec<(String, String)>,
    dropped: Vec<(String, String)>,
    followed: usize,
}

impl fmt::Debug for RedirectRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials.
        let names = |h: &[(String, String)]| h.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        f.debug_struct("RedirectRequest")
            .field("status", &self.status)
            .field("from", &self.from.as_str())
            .field("url", &self.url.as_str())
            .field("headers", &names(self.headers))
            .field("dropped", &names(&self.dropped))
            .field("followed", &self.followed)
            .finish_non_exhaustive()
    }
}

impl RedirectRequest<'_> {
    /// The URL the redirect goes to (normalised: `ws`, `wss` or `ws+unix`), which
    /// [`url`](crate::WebSocket::url) reports if the connection opens there.
    pub fn url(&self) -> &Url {
        self.url
    }

    /// The URL that answered with the redirect.
    pub fn previous_url(&self) -> &Url {
        self.from
    }

    /// The redirect's status (`301`, `302`, `307`…).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The redirect response's headers (`Location`, `Set-Cookie`…).
    pub fn response_headers(&self) -> &HeaderMap {
        self.response_headers
    }

    /// Redirects followed before this one (0 for the first).
    pub fn redirects_followed(&self) -> usize {
        self.followed
    }

    /// The custom headers the next request will carry, in order.
    pub fn headers(&self) -> &[(String, String)] {
        self.headers
    }

    /// The value of the custom header `name` (any case), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Sets a custom header for this and later requests, replacing one of the same name (any
    /// case). An invalid name or value fails the request as
    /// [`ConnectError::Handshake`] (`InvalidRequest`).
    pub fn set_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
    }

    /// Removes the custom header `name` (any case) from this and later requests; returns its
    /// value.
    pub fn remove_header(&mut self, name: &str) -> Option<String> {
        let at = self.headers.iter().position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(self.headers.remove(at).1)
    }

    /// Whether the safe policy removed headers for this redirect (another host, or `wss` to
    /// `ws`): those [`keep_credentials`](Self::keep_credentials) would put back.
    pub fn credentials_dropped(&self) -> bool {
        !self.dropped.is_empty()
    }

    /// Keeps the credentials the safe policy removed: `Authorization` and `Cookie` come back
    /// (not `Host`, which names the previous host), and when no `Authorization` is set the new
    /// URL's userinfo provides one. For a redirect the application trusts, e.g. to a sibling
    /// host of the same service.
    pub fn keep_credentials(&mut self) {
        for (name, value) in std::mem::take(&mut self.dropped) {
            if name.eq_ignore_ascii_case("host") {
                continue;
            }
            if self.header(&name).is_none() {
                self.headers.push((name, value));
            }
        }
        if self.header("authorization").is_none() {
            let userinfo = ClientTarget::from_url(self.url.clone()).ok().and_then(|t| t.basic_authorization());
            if let Some(auth) = userinfo {
                self.headers.push(("authorization".to_owned(), auth));
            }
        }
    }

    /// Removes `Authorization` and `Cookie` from this and later requests, whatever the
    /// redirect.
    pub fn drop_credentials(&mut self) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization") && !n.eq_ignore_ascii_case("cookie"));
    }
}

/// `Authorization: Basic` for `user:password` (Node `auth`).
fn basic(credentials: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

/// The entropy of a client with a [`MaskGenerator`]: the handshake's `Sec-WebSocket-Key`
/// (the first draw, made by `ClientHandshake::new`) from the OS, every later draw (the
/// masking keys) from the generator.
struct CustomMasks {
    nonce: Option<OsEntropy>,
    generate: Arc<MaskGenerator>,
}

impl Entropy for CustomMasks {
    fn fill(&mut self, dest: &mut [u8]) {
        match self.nonce.take() {
            Some(mut os) => os.fill(dest),
            None => (self.generate)(dest),
        }
    }
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
            require_subprotocol: false,
            auth: None,
            generate_mask: None,
            on_redirect: None,
            finish_request: None,
        }
    }

    /// Checks the options and plans the connection: the effective config, the parsed proxy,
    /// the first target and its headers (`Authorization` from the URL's userinfo, else from
    /// [`auth`](Self::auth), unless an `Authorization` header is set).
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
            if let Some(auth) = target.basic_authorization().or_else(|| self.auth.as_deref().map(basic)) {
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
            require_subprotocol: self.require_subprotocol,
            generate_mask: self.generate_mask.clone(),
            on_redirect: self.on_redirect.clone(),
            finish_request: self.finish_request.clone(),
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
            .field("config", &self.config)
            .field("require_subprotocol", &self.require_subprotocol)
            .field("auth", &self.auth.as_ref().map(|_| "…"))
            .field("generate_mask", &self.generate_mask.is_some())
            .field("on_redirect", &self.on_redirect.is_some())
            .field("finish_request", &self.finish_request.is_some());
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
    require_subprotocol: bool,
    generate_mask: Option<Arc<MaskGenerator>>,
    on_redirect: Option<Arc<RedirectHook>>,
    finish_request: Option<Arc<FinishRequest>>,
}

impl fmt::Debug for ConnectPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectPlan")
            .field("config", &self.config)
            .field("proxy", &self.proxy.as_ref().map(|p| (&p.host, p.port)))
            .field("target", &self.target.url.as_str())
            // Header values may be credentials.
            .field("headers", &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("followed", &self.followed)
            .field("policy", &self.policy)
            .field("subprotocols", &self.subprotocols)
            .field("origin", &self.origin)
            .field("protocol_version", &self.protocol_version)
            .field("require_subprotocol", &self.require_subprotocol)
            .field("generate_mask", &self.generate_mask.is_some())
            .field("on_redirect", &self.on_redirect.is_some())
            .field("finish_request", &self.finish_request.is_some())
            .finish_non_exhaustive()
    }
}

impl ConnectPlan {
    /// Where the next attempt connects (the URL, its endpoint).
    pub fn target(&self) -> &ClientTarget {
        &self.target
    }

    /// The upgrade request of the next attempt: the target's, with the custom headers (those a
    /// redirect dropped left out), the subprotocols, the origin, the version and whether a
    /// subprotocol is required, then edited by the
    /// [`finish_request`](ClientOptions::finish_request) hook if there is one.
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
        request = request.protocol_version(self.protocol_version).require_subprotocol(self.require_subprotocol);
        match &self.finish_request {
            Some(hook) => hook(request),
            None => request,
        }
    }

    /// The entropy for the next attempt's handshake: the OS's ([`OsEntropy`]), or with a
    /// [`generate_mask`](ClientOptions::generate_mask) source, the OS's for the
    /// `Sec-WebSocket-Key` and the source's for every masking key (as Node `generateMask`).
    pub fn entropy(&self) -> Box<dyn Entropy> {
        match &self.generate_mask {
            Some(generate) => Box::new(CustomMasks { nonce: Some(OsEntropy::new()), generate: generate.clone() }),
            None => Box::new(OsEntropy::new()),
        }
    }

    /// After a failed attempt: `Ok(())` when `error` is a redirect to follow (the plan now
    /// points at its target, with the headers the redirect keeps, as the
    /// [`on_redirect`](ClientOptions::on_redirect) hook left them), else the error to return
    /// (the rejection itself, also when the hook stopped the redirect,
    /// [`ConnectError::TooManyRedirects`], or [`ConnectError::InvalidUrl`] for an unusable
    /// `Location`).
    pub fn follow(&mut self, error: ConnectError) -> Result<(), ConnectError> {
        let (policy, status, headers, body) = match (self.policy, error) {
            (Some(policy), ConnectError::Rejected { status, headers, body }) => (policy, status, headers, body),
            (_, other) => return Err(other),
        };
        let location = RedirectPolicy::location(&headers);
        match policy.next(&self.original, &self.target.url, status, location, self.followed)? {
            Some(redirect) => {
                let mut next = self.headers.clone();
                let dropped = next.iter().filter(|(n, _)| !redirect.retain_header(n)).cloned().collect();
                redirect.apply(&mut next);
                if let Some(hook) = &self.on_redirect {
                    let mut request = RedirectRequest {
                        status,
                        from: &self.target.url,
                        url: redirect.url(),
                        response_headers: &headers,
                        headers: &mut next,
                        dropped,
                        followed: self.followed,
                    };
                    if hook(&mut request) == RedirectAction::Stop {
                        return Err(ConnectError::Rejected { status, headers, body });
                    }
                }
                self.headers = next;
                self.target = redirect.into_target();
                self.followed += 1;
                Ok(())
            }
            None => Err(ConnectError::Rejected { status, headers, body }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect_to(location: &str) -> ConnectError {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::LOCATION, HeaderValue::from_str(location).unwrap());
        ConnectError::Rejected { status: StatusCode::FOUND, headers: Box::new(headers), body: Default::default() }
    }

    fn header<'a>(request: &'a ClientRequest, name: &str) -> Option<&'a str> {
        request.headers().get(name).map(|v| v.to_str().unwrap())
    }

    fn following(url: &str) -> ClientOptions {
        let mut options = ClientOptions::new(url);
        options.follow_redirects = true;
        options.headers.push(("Cookie".into(), "c=1".into()));
        options
    }

    #[test]
    fn auth_is_the_last_resort() {
        let mut options = ClientOptions::new("ws://a.example/");
        options.auth = Some("user:pass".into());
        assert_eq!(header(&options.plan().unwrap().request(), "authorization"), Some(basic("user:pass").as_str()));
        options.url = "ws://u:p@a.example/".into();
        assert_eq!(header(&options.plan().unwrap().request(), "authorization"), Some(basic("u:p").as_str()));
        options.headers.push(("AUTHORIZATION".into(), "Bearer t".into()));
        assert_eq!(header(&options.plan().unwrap().request(), "authorization"), Some("Bearer t"));
        // Debug never shows the credentials.
        assert!(!format!("{options:?}").contains("user:pass"));
    }

    #[test]
    fn redirect_hook_over_the_safe_policy() {
        // No hook: another host drops the cookie and ignores the new URL's userinfo.
        let mut plan = following("wss://a.example/").plan().unwrap();
        plan.follow(redirect_to("wss://u:p@b.example/x")).unwrap();
        let request = plan.request();
        assert_eq!((header(&request, "cookie"), header(&request, "authorization")), (None, None));

        // keep_credentials: both back, the userinfo as Authorization.
        let mut options = following("wss://a.example/");
        options.on_redirect = Some(Arc::new(|r: &mut RedirectRequest<'_>| {
            assert!(r.credentials_dropped());
            assert_eq!(r.header("cookie"), None);
            r.keep_credentials();
            assert!(!format!("{r:?}").contains("c=1"), "no header values in Debug");
            RedirectAction::Follow
        }));
        let mut plan = options.plan().unwrap();
        plan.follow(redirect_to("wss://u:p@b.example/x")).unwrap();
        assert_eq!(plan.target().url.as_str(), "wss://u:p@b.example/x");
        let request = plan.request();
        assert_eq!(header(&request, "cookie"), Some("c=1"));
        assert_eq!(header(&request, "authorization"), Some(basic("u:p").as_str()));

        // drop_credentials on the same host; Stop gives the redirect back.
        let mut options = following("wss://a.example/");
        options.on_redirect = Some(Arc::new(|r: &mut RedirectRequest<'_>| {
            assert!(!r.credentials_dropped());
            if r.redirects_followed() == 1 {
                return RedirectAction::Stop;
            }
            r.drop_credentials();
            RedirectAction::Follow
        }));
        let mut plan = options.plan().unwrap();
        plan.follow(redirect_to("/next")).unwrap();
        assert_eq!(header(&plan.request(), "cookie"), None);
        match plan.follow(redirect_to("/again")) {
            Err(ConnectError::Rejected { status, .. }) => assert_eq!(status, StatusCode::FOUND),
            other => panic!("{other:?}"),
        }
        assert_eq!(plan.target().url.as_str(), "wss://a.example/next", "not followed");
    }

    #[test]
    fn finish_request_and_required_subprotocol() {
        let mut options = ClientOptions::new("ws://a.example/chat");
        options.subprotocols = vec!["chat".into()];
        options.require_subprotocol = true;
        options.finish_request = Some(Arc::new(|r: ClientRequest| {
            assert!(r.is_subprotocol_required());
            let sig = format!("sig:{}", r.path_and_query());
            r.header("X-Sig", &sig)
        }));
        let request = options.plan().unwrap().request();
        assert_eq!(header(&request, "x-sig"), Some("sig:/chat"));
    }

    #[test]
    fn generated_masks_follow_the_nonce_from_the_os() {
        let mut options = ClientOptions::new("ws://a.example/");
        let plan = options.plan().unwrap();
        let mut os = plan.entropy();
        let mut key = [0u8; 4];
        os.fill(&mut key);
        options.generate_mask = Some(Arc::new(|k: &mut [u8]| k.fill(7)));
        let mut entropy = options.plan().unwrap().entropy();
        let mut nonce = [7u8; 16];
        entropy.fill(&mut nonce);
        assert_ne!(nonce, [7u8; 16], "the first draw (the handshake's key) is the OS's");
        for _ in 0..3 {
            entropy.fill(&mut key);
            assert_eq!(key, [7; 4]);
        }
    }
}
