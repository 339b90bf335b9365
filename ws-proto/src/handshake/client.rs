//! The client side of the opening handshake (RFC 6455 §4.1).
//!
//! Build a [`ClientRequest`], start a [`ClientHandshake`] (which queues the request head), write
//! what [`ClientHandshake::poll_transmit`] yields, feed the response bytes back, and call
//! [`ClientHandshake::poll_outcome`] until it yields a [`ClientOutcome`]: a [`Connection`] when
//! the server switched protocols, or the server's response and (capped) body otherwise.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Version};

use super::headers::{self as h, HeadBuffer};
use super::{accept_key, Negotiated};
use crate::config::{Config, Role};
use crate::connection::Connection;
use crate::deflate::{params as deflate_params, DeflateConfig, DeflateParams};
use crate::error::HandshakeError;
use crate::mask::Entropy;
use crate::transmit::{OutQueue, Transmit};

/// `Sec-WebSocket-Origin`, the origin header of protocol version 8.
const SEC_WEBSOCKET_ORIGIN: HeaderName = HeaderName::from_static("sec-websocket-origin");

/// What to ask the server for: target, headers, subprotocols, origin and protocol version.
///
/// Builder methods take `self` and return `Self`. Invalid input (a header that is not
/// valid HTTP, a subprotocol that is not a token…) is reported by [`ClientHandshake::new`] as
/// [`HandshakeError::InvalidRequest`].
#[derive(Clone, Debug)]
pub struct ClientRequest {
    authority: String,
    path_and_query: String,
    secure: bool,
    host: String,
    port: Option<u16>,
    headers: HeaderMap,
    subprotocols: Vec<String>,
    origin: Option<HeaderValue>,
    version: u8,
    /// Fail when subprotocols were offered and the server chose none.
    require_subprotocol: bool,
    /// The first builder error, reported when the handshake starts.
    error: Option<String>,
}

/// Whether `s` may appear in a request line or `Host` field: visible ASCII only.
fn is_visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

/// Splits an authority (`host`, `host:port`, `[v6]`, `[v6]:port`) into host and port.
fn split_authority(authority: &str) -> (String, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host.to_owned(), port);
        }
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host.to_owned(), port.parse().ok())
        }
        _ => (authority.to_owned(), None),
    }
}

impl ClientRequest {
    /// A request for `ws://{authority}{path_and_query}`: `authority` is sent as `Host` (e.g.
    /// `example.com:8080`), `path_and_query` as the request target (`/` when empty). Both must be
    /// visible ASCII (percent-encode the rest). Use [`secure`](Self::secure) for `wss`.
    pub fn new(authority: &str, path_and_query: &str) -> Self {
        let path = if path_and_query.is_empty() { "/" } else { path_and_query };
        let mut error = None;
        if authority.is_empty() || !is_visible_ascii(authority) {
            error = Some(format!("invalid authority {authority:?}"));
        } else if !path.starts_with('/') || !is_visible_ascii(path) {
            error = Some(format!("invalid request target {path:?} (must start with '/' and be visible ASCII)"));
        }
        let (host, port) = split_authority(authority);
        Self {
            authority: authority.to_owned(),
            path_and_query: path.to_owned(),
            secure: false,
            host,
            port,
            headers: HeaderMap::new(),
            subprotocols: Vec::new(),
            origin: None,
            version: 13,
            require_subprotocol: false,
            error,
        }
    }

    /// A request for a `ws`, `wss`, `http` or `https` URL (`http`/`https` mean `ws`/`wss`).
    /// Other schemes and URLs with a fragment are refused. `Host` omits the scheme's default
    /// port; userinfo becomes `Authorization: Basic` (percent-decoded), as in Node `ws`.
    #[cfg(feature = "url")]
    pub fn from_url(url: &url::Url) -> Result<Self, HandshakeError> {
        let secure = match url.scheme() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            s => {
                return Err(HandshakeError::InvalidRequest(format!(
                    "unsupported URL scheme {s:?} (expected ws, wss, http or https)"
                )))
            }
        };
        if url.fragment().is_some() {
            return Err(HandshakeError::InvalidRequest("a WebSocket URL must not have a fragment".into()));
        }
        let host_str = url.host_str().filter(|h| !h.is_empty());
        let host_str = host_str.ok_or_else(|| HandshakeError::InvalidRequest("URL has no host".into()))?;
        let default_port = if secure { 443 } else { 80 };
        let port = url.port_or_known_default().unwrap_or(default_port);
        let authority = if port == default_port { host_str.to_owned() } else { format!("{host_str}:{port}") };
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let mut req = Self::new(&authority, &path);
        req.secure = secure;
        req.port = Some(port);
        req.host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => host_str.to_owned(),
        };
        if let Some(value) = super::target::basic_auth(url) {
            req = req.header("Authorization", &value);
        }
        if let Some(e) = req.error.take() {
            return Err(HandshakeError::InvalidRequest(e));
        }
        Ok(req)
    }

    /// Takes the first builder error (reported later by [`ClientHandshake::new`] otherwise).
    #[cfg(feature = "url")]
    pub(crate) fn take_error(&mut self) -> Option<String> {
        self.error.take()
    }

    /// Marks the request as `wss` (for [`port`](Self::port)'s default and for adapters).
    #[must_use]
    pub fn secure(mut self, on: bool) -> Self {
        self.secure = on;
        self
    }

    /// Whether the connection must use TLS (`wss`).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The host to connect to (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to: the explicit one, else 443 for `wss` and 80 for `ws`.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.secure { 443 } else { 80 })
    }

    /// The `Host` value (unless a custom `Host` header replaces it).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The request target.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// Sets a custom header (`Authorization`, `Cookie`, `User-Agent`…), replacing an earlier
    /// value of that name; a custom `Host` replaces the authority. The handshake's own headers
    /// win, as in Node `ws`: `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version` and `Sec-WebSocket-Extensions` are ignored, and
    /// `Sec-WebSocket-Protocol` adds its list to the [`subprotocol`](Self::subprotocol)s.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            self.error.get_or_insert_with(|| format!("invalid header name {name:?}"));
            return self;
        };
        let Ok(value) = HeaderValue::from_str(value) else {
            self.error.get_or_insert_with(|| format!("invalid value for header {name}"));
            return self;
        };
        if name == header::SEC_WEBSOCKET_PROTOCOL {
            match h::parse_subprotocols([value.as_bytes()]) {
                Ok(list) => self.subprotocols.extend(list),
                Err(()) => {
                    self.error.get_or_insert_with(|| format!("invalid Sec-WebSocket-Protocol {value:?}"));
                }
            }
        } else if !is_reserved_request(&name) {
            self.headers.insert(name, value);
        }
        self
    }

    /// Offers a subprotocol (repeatable; the server picks at most one). The list must be unique
    /// RFC 7230 tokens.
    #[must_use]
    pub fn subprotocol(mut self, p: &str) -> Self {
        self.subprotocols.push(p.to_owned());
        self
    }

    /// Sets the origin, sent as `Origin` (or `Sec-WebSocket-Origin` for protocol version 8).
    #[must_use]
    pub fn origin(mut self, origin: &str) -> Self {
        match HeaderValue::from_str(origin) {
            Ok(v) => self.origin = Some(v),
            Err(_) => {
                self.error.get_or_insert_with(|| format!("invalid origin {origin:?}"));
            }
        }
        self
    }

    /// The `Sec-WebSocket-Version` to send: 13 (the default) or 8 (HyBi-07..12).
    #[must_use]
    pub fn protocol_version(mut self, version: u8) -> Self {
        if version == 13 || version == 8 {
            self.version = version;
        } else {
            self.error.get_or_insert_with(|| format!("unsupported protocol version {version} (expected 13 or 8)"));
        }
        self
    }

    /// Whether the handshake fails when subprotocols were offered and the server's `101` chose
    /// none ([`HandshakeError::SubprotocolMissing`]; Node `ws` fails with "Server sent no
    /// subprotocol"). Off by default: RFC 6455 lets the server choose none, and the
    /// connection's negotiated subprotocol is then `None`. Without an offer it has no effect.
    #[must_use]
    pub fn require_subprotocol(mut self, on: bool) -> Self {
        self.require_subprotocol = on;
        self
    }

    /// Whether [`require_subprotocol`](Self::require_subprotocol) is on.
    pub fn is_subprotocol_required(&self) -> bool {
        self.require_subprotocol
    }

    /// The custom headers set so far (with [`header`](Self::header); the handshake's own
    /// headers, the origin and the subprotocols are not among them).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The subprotocols offered so far, most preferred first.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// Removes a custom header (any case) set earlier with [`header`](Self::header), e.g. from
    /// a hook that edits the request before it is sent.
    #[must_use]
    pub fn remove_header(mut self, name: &str) -> Self {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            self.headers.remove(name);
        }
        self
    }

    /// The request head for `key`, offering `extensions` if any.
    fn head(&self, key: &str, extensions: Option<&str>) -> Result<Vec<u8>, HandshakeError> {
        if let Some(e) = &self.error {
            return Err(HandshakeError::InvalidRequest(e.clone()));
        }
        h::validate_subprotocols(&self.subprotocols).map_err(HandshakeError::InvalidRequest)?;
        let origin_name = if self.version == 8 { SEC_WEBSOCKET_ORIGIN } else { header::ORIGIN };
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(self.path_and_query.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let host = self.headers.get(header::HOST).map_or(self.authority.as_bytes(), HeaderValue::as_bytes);
        h::put_header(&mut out, b"Host", host);
        h::put_header(&mut out, b"Upgrade", b"websocket");
        h::put_header(&mut out, b"Connection", b"Upgrade");
        h::put_header(&mut out, b"Sec-WebSocket-Key", key.as_bytes());
        h::put_header(&mut out, b"Sec-WebSocket-Version", if self.version == 8 { b"8" } else { b"13" });
        if !self.subprotocols.is_empty() {
            h::put_header(&mut out, b"Sec-WebSocket-Protocol", self.subprotocols.join(", ").as_bytes());
        }
        if let Some(e) = extensions {
            h::put_header(&mut out, b"Sec-WebSocket-Extensions", e.as_bytes());
        }
        if let Some(o) = &self.origin {
            let name: &[u8] = if self.version == 8 { b"Sec-WebSocket-Origin" } else { b"Origin" };
            h::put_header(&mut out, name, o.as_bytes());
        }
        let mut skip = vec![&header::HOST];
        if self.origin.is_some() {
            skip.push(&origin_name);
        }
        h::put_headers(&mut out, &self.headers, &skip);
        out.extend_from_slice(b"\r\n");
        Ok(out)
    }
}

/// Request headers that belong to the handshake and that [`ClientRequest::header`] ignores.
fn is_reserved_request(name: &HeaderName) -> bool {
    name == header::UPGRADE
        || name == header::CONNECTION
        || name == header::SEC_WEBSOCKET_KEY
        || name == header::SEC_WEBSOCKET_VERSION
        || name == header::SEC_WEBSOCKET_EXTENSIONS
        || name == header::SEC_WEBSOCKET_ACCEPT
}

/// How a client handshake ended.
// `Accepted` is large because it holds the `Connection`; the outcome is produced once per
// handshake and moved straight out, so boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum ClientOutcome {
    /// `101 Switching Protocols` and every check passed. `connection` already holds the bytes
    /// that followed the response head.
    Accepted {
        /// The server's response head (e.g. to read `Set-Cookie`).
        response: Response<()>,
        /// The open client connection.
        connection: Connection,
    },
    /// Any other status (401, 403, 3xx…): data, not an error (Node `unexpected-response`). A
    /// redirect's target is in `response.headers()["location"]`. `body` holds the response
    /// body up to `Content-Length` (until EOF without one; undecoded with `Transfer-Encoding`),
    /// truncated to `max_rejection_body`, or what arrived before the handshake timed out.
    Rejected {
        /// The server's response head.
        response: Response<()>,
        /// The body, capped.
        body: Bytes,
    },
}

impl fmt::Debug for ClientOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Accepted { response, .. } => {
                f.debug_struct("Accepted").field("response", response).finish_non_exhaustive()
            }
            Self::Rejected { response, body } => {
                f.debug_struct("Rejected").field("response", response).field("body", body).finish()
            }
        }
    }
}

/// A non-101 response whose body is being read.
#[derive(Debug)]
struct BodyState {
    response: Response<()>,
    body: BytesMut,
    /// Bytes of body still expected per `Content-Length`; `None` reads until EOF.
    remaining: Option<usize>,
}

#[derive(Debug)]
enum ClientState {
    Reading,
    Body(Box<BodyState>),
    Done,
}

/// The client's opening handshake, sans IO.
pub struct ClientHandshake {
    config: Arc<Config>,
    entropy: Option<Box<dyn Entropy>>,
    key: String,
    offered: Vec<String>,
    require_subprotocol: bool,
    version: u8,
    out: OutQueue,
    head: HeadBuffer,
    deadline: Option<Instant>,
    timed_out: bool,
    state: ClientState,
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("key", &self.key)
            .field("offered", &self.offered)
            .field("version", &self.version)
            .field("deadline", &self.deadline)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Starts a handshake at `now`: draws the 16-byte key from `entropy` and queues the request
    /// head. `entropy` is kept and moved into the [`Connection`] (clients mask their frames).
    /// Fails with [`HandshakeError::InvalidRequest`] when `req` is invalid.
    pub fn new(
        req: ClientRequest,
        config: Arc<Config>,
        mut entropy: Box<dyn Entropy>,
        now: Instant,
    ) -> Result<Self, HandshakeError> {
        let mut nonce = [0u8; 16];
        entropy.fill(&mut nonce);
        let key = base64::engine::general_purpose::STANDARD.encode(nonce);
        let offer = config.permessage_deflate.as_ref().and_then(DeflateConfig::offer);
        let head = req.head(&key, offer.as_deref())?;
        let mut out = OutQueue::default();
        out.push_raw(Bytes::from(head));
        let deadline = config.handshake_timeout.and_then(|d| now.checked_add(d));
        Ok(Self {
            config,
            entropy: Some(entropy),
            key,
            offered: req.subprotocols,
            require_subprotocol: req.require_subprotocol,
            version: req.version,
            out,
            head: HeadBuffer::default(),
            deadline,
            timed_out: false,
            state: ClientState::Reading,
        })
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The request bytes to write; call until it returns `None` (after `new`).
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        self.out.poll_transmit()
    }

    /// Buffers received bytes (copying). Call [`poll_outcome`](Self::poll_outcome) after it.
    pub fn receive(&mut self, data: &[u8]) {
        self.head.receive(data);
    }

    /// A zero-filled region of at least `len_hint` bytes to read into; then call
    /// [`commit_received`](Self::commit_received) with the count read.
    pub fn recv_slot(&mut self, len_hint: usize) -> &mut [u8] {
        self.head.recv_slot(len_hint)
    }

    /// Keeps the first `n` bytes of the last [`recv_slot`](Self::recv_slot).
    pub fn commit_received(&mut self, n: usize) {
        self.head.commit(n);
    }

    /// The server closed its write side. Call [`poll_outcome`](Self::poll_outcome) after it.
    pub fn receive_eof(&mut self) {
        self.head.receive_eof();
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called; `None` once finished.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ClientState::Done => None,
            _ if self.timed_out => None,
            _ => self.deadline,
        }
    }

    /// Expires the handshake if its deadline has passed (spurious calls are no-ops); the next
    /// [`poll_outcome`](Self::poll_outcome) reports it.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| d <= now) {
            self.timed_out = true;
        }
    }

    /// `Ok(Some)` once the handshake ended, `Ok(None)` while more bytes are needed.
    ///
    /// Call after every `receive*` and `handle_timeout`. Errors: a head larger than
    /// `max_handshake_size` ([`HeadTooLarge`](HandshakeError::HeadTooLarge)) or with more than
    /// `max_headers` fields, EOF before the head ([`UnexpectedEof`](HandshakeError::UnexpectedEof)),
    /// the deadline ([`Timeout`](HandshakeError::Timeout)), and a 101 that breaks RFC 6455
    /// (`MissingUpgrade`, `MissingConnectionUpgrade`, `AcceptMismatch`,
    /// `SubprotocolNotOffered`, `SubprotocolMissing` (only with
    /// [`ClientRequest::require_subprotocol`]), `ExtensionNotOffered`, `InvalidExtensions`, and
    /// `DeflateParams` for a permessage-deflate response the offer did not allow). Once it
    /// returned `Some` or `Err`, the handshake is finished and later calls return `Ok(None)`.
    pub fn poll_outcome(&mut self, now: Instant) -> Result<Option<ClientOutcome>, HandshakeError> {
        self.handle_timeout(now);
        match std::mem::replace(&mut self.state, ClientState::Done) {
            ClientState::Done => Ok(None),
            ClientState::Body(body) => Ok(self.poll_body(body)),
            ClientState::Reading => self.poll_head(now),
        }
    }

    fn poll_head(&mut self, now: Instant) -> Result<Option<ClientOutcome>, HandshakeError> {
        if self.timed_out {
            return Err(HandshakeError::Timeout);
        }
        if !self.head.take_fresh() {
            self.state = ClientState::Reading;
            return Ok(None);
        }
        let end = match self.head.find_end(self.config.max_handshake_size)? {
            Some(end) => end,
            None if self.head.eof() => return Err(HandshakeError::UnexpectedEof),
            None => {
                self.state = ClientState::Reading;
                return Ok(None);
            }
        };
        let (response, leftover) = parse_response(&mut self.head, end, self.config.max_headers)?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let remaining = body_length(&response);
            // The leftover is the start of the body; the input buffer is empty after `take`.
            self.head.input.receive(&leftover);
            let body = BodyState { response, body: BytesMut::new(), remaining };
            return Ok(self.poll_body(Box::new(body)));
        }
        let (subprotocol, extensions, deflate) = self.check_101(&response)?;
        let negotiated = Negotiated { subprotocol, extensions, version: self.version, deflate };
        let mut connection = Connection::new(Role::Client, self.config.clone(), negotiated, self.entropy.take(), now);
        if !leftover.is_empty() {
            connection.receive(&leftover);
        }
        Ok(Some(ClientOutcome::Accepted { response, connection }))
    }

    /// Moves body bytes from the input (never more than needed or than the cap) and finishes
    /// once the body is complete, capped, cut by EOF or by the deadline.
    fn poll_body(&mut self, mut st: Box<BodyState>) -> Option<ClientOutcome> {
        let cap = self.config.max_rejection_body;
        let input = &mut self.head.input;
        input.abandon_slot();
        let room = cap.saturating_sub(st.body.len());
        let want = st.remaining.map_or(room, |r| r.min(room));
        let n = want.min(input.buf.len());
        st.body.extend_from_slice(input.buf.get(..n).unwrap_or_default());
        if let Some(r) = &mut st.remaining {
            *r -= n;
        }
        // Anything past the body (or the cap) is dropped, never buffered.
        input.clear();
        let done = st.remaining == Some(0) || st.body.len() >= cap || input.eof || self.timed_out;
        if done {
            let BodyState { response, body, .. } = *st;
            Some(ClientOutcome::Rejected { response, body: body.freeze() })
        } else {
            self.state = ClientState::Body(st);
            None
        }
    }

    /// The RFC 6455 §4.1 checks of a 101; returns the chosen subprotocol, the extensions
    /// header value and the agreed permessage-deflate parameters.
    #[allow(clippy::type_complexity)]
    fn check_101(
        &self,
        response: &Response<()>,
    ) -> Result<(Option<String>, Option<String>, Option<DeflateParams>), HandshakeError> {
        let headers = response.headers();
        if !h::has_token(headers, &header::UPGRADE, "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        if !h::has_token(headers, &header::CONNECTION, "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        let expected = accept_key(self.key.as_bytes());
        match h::single(headers, &header::SEC_WEBSOCKET_ACCEPT) {
            Ok(Some(v)) if h::trim_ows(v.as_bytes()) == expected.as_bytes() => {}
            _ => return Err(HandshakeError::AcceptMismatch),
        }
        let (extensions, deflate) = self.check_extensions(headers)?;
        let subprotocol = match h::single(headers, &header::SEC_WEBSOCKET_PROTOCOL) {
            Ok(None) => None,
            Ok(Some(v)) => {
                let chosen = h::trim_ows(v.as_bytes());
                match self.offered.iter().find(|p| p.as_bytes() == chosen) {
                    Some(p) => Some(p.clone()),
                    None => return Err(HandshakeError::SubprotocolNotOffered),
                }
            }
            Err(()) => return Err(HandshakeError::SubprotocolNotOffered),
        };
        if subprotocol.is_none() && self.require_subprotocol && !self.offered.is_empty() {
            return Err(HandshakeError::SubprotocolMissing);
        }
        Ok((subprotocol, extensions, deflate))
    }

    /// Validates the accepted extensions against the offer (only permessage-deflate is ever
    /// offered): the header value and the agreed parameters.
    fn check_extensions(&self, headers: &HeaderMap) -> Result<(Option<String>, Option<DeflateParams>), HandshakeError> {
        let values = headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS);
        if values.iter().next().is_none() {
            return Ok((None, None));
        }
        let offered =
            self.config.permessage_deflate.as_ref().and_then(|c| Some((c, c.get_backend()?.min_window_bits())));
        if offered.is_none() {
            return Err(HandshakeError::ExtensionNotOffered);
        }
        let exts = h::parse_extensions(values.iter().map(HeaderValue::as_bytes))
            .map_err(|()| HandshakeError::InvalidExtensions)?;
        let deflate = match deflate_params::client_validate(&exts, offered) {
            Ok(d) => d,
            Err(deflate_params::ResponseError::NotOffered) => return Err(HandshakeError::ExtensionNotOffered),
            Err(deflate_params::ResponseError::Params(e)) => return Err(HandshakeError::DeflateParams(e)),
        };
        let text: Vec<&str> = values
            .iter()
            .map(|v| v.to_str().map(str::trim))
            .collect::<Result<_, _>>()
            .map_err(|_| HandshakeError::InvalidExtensions)?;
        Ok((deflate.map(|_| text.join(", ")), deflate))
    }
}

/// How much body a non-101 response has: `Some(0)` for 1xx, 204 and 304, the `Content-Length`
/// when present and valid (and no `Transfer-Encoding`), else `None` (read until EOF).
fn body_length(response: &Response<()>) -> Option<usize> {
    let status = response.status();
    if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Some(0);
    }
    let headers = response.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return None;
    }
    let v = h::single(headers, &header::CONTENT_LENGTH).ok()??;
    let digits = h::trim_ows(v.as_bytes());
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Parses the complete response head in `head[..end]` (header values sliced out of the frozen
/// head without copying) plus the bytes after it.
fn parse_response(
    head: &mut HeadBuffer,
    end: usize,
    max_headers: usize,
) -> Result<(Response<()>, Bytes), HandshakeError> {
    let (n, status, version, raw) = {
        let buf = head.input.buf.get(..end).unwrap_or_default();
        let mut slots = h::header_slots(end, max_headers);
        let mut res = httparse::Response::new(&mut slots);
        let n = match res.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Err(HandshakeError::Malformed("incomplete response head".into())),
            Err(httparse::Error::Version) => return Err(HandshakeError::Malformed("invalid HTTP version".into())),
            Err(e) => return Err(h::map_parse_error(e)),
        };
        let code = res.code.unwrap_or_default();
        let status =
            StatusCode::from_u16(code).map_err(|_| HandshakeError::Malformed(format!("invalid status code {code}")))?;
        let version = if res.version == Some(1) { Version::HTTP_11 } else { Version::HTTP_10 };
        let raw = h::record_headers(buf, res.headers)?;
        (n, status, version, raw)
    };
    let (bytes, leftover) = head.take(n);
    let headers = h::build_header_map(&bytes, raw)?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    Ok((response, leftover))
}

/// The request head `req` produces (with the key of all-zero entropy), for tests of other
/// modules.
#[cfg(all(test, feature = "url"))]
pub(crate) fn head_for_tests(req: ClientRequest) -> String {
    let zeros: Box<dyn Entropy> = Box::new(|d: &mut [u8]| d.fill(0));
    let mut hs = ClientHandshake::new(req, Arc::new(Config::default()), zeros, Instant::now()).expect("valid request");
    let mut out = Vec::new();
    hs.out.drain_into(&mut out);
    String::from_utf8(out).expect("ASCII head")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::event::{Event, Message};

    /// base64 of 16 zero bytes: the key drawn from `zeros()`.
    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAA==";
    /// An unmasked text frame "Hi" from a server.
    const FRAME: &[u8] = &[0x81, 0x02, b'H', b'i'];

    fn zeros() -> Box<dyn Entropy> {
        Box::new(|d: &mut [u8]| d.fill(0))
    }

    fn config() -> Arc<Config> {
        Arc::new(Config::default())
    }

    fn start(req: ClientRequest) -> ClientHandshake {
        ClientHandshake::new(req, config(), zeros(), Instant::now()).unwrap()
    }

    fn start_with(req: ClientRequest, config: Config) -> ClientHandshake {
        ClientHandshake::new(req, Arc::new(config), zeros(), Instant::now()).unwrap()
    }

    fn request_bytes(hs: &mut ClientHandshake) -> String {
        let mut out = Vec::new();
        hs.out.drain_into(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn response(status_line: &str, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut s = format!("{status_line}\r\n");
        for (n, v) in headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    fn ok_101(extra: &[(&str, &str)]) -> Vec<u8> {
        let accept = accept_key(KEY.as_bytes());
        let mut h =
            vec![("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept.as_str())];
        h.extend_from_slice(extra);
        response("HTTP/1.1 101 Switching Protocols", &h)
    }

    fn outcome(req: ClientRequest, bytes: &[u8]) -> Result<Option<ClientOutcome>, HandshakeError> {
        let mut hs = start(req);
        hs.receive(bytes);
        hs.poll_outcome(Instant::now())
    }

    fn simple() -> ClientRequest {
        ClientRequest::new("example.com", "/chat")
    }

    fn rejected(o: Result<Option<ClientOutcome>, HandshakeError>) -> (Response<()>, Bytes) {
        match o {
            Ok(Some(ClientOutcome::Rejected { response, body })) => (response, body),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[test]
    fn request_bytes_are_exact() {
        let req = ClientRequest::new("example.com:8080", "/chat?x=1")
            .subprotocol("chat")
            .subprotocol("superchat")
            .origin("http://example.com")
            .header("Cookie", "a=b");
        let mut hs = start(req);
        assert_eq!(hs.key(), KEY);
        assert_eq!(
            request_bytes(&mut hs),
            "GET /chat?x=1 HTTP/1.1\r\n\
             Host: example.com:8080\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\
             Origin: http://example.com\r\n\
             cookie: a=b\r\n\
             \r\n"
        );
        assert!(hs.poll_transmit().is_none());
    }

    #[test]
    fn key_comes_from_entropy() {
        let mut n = 0u8;
        let entropy = Box::new(move |d: &mut [u8]| {
            for b in d {
                *b = n;
                n = n.wrapping_add(1);
            }
        });
        let hs = ClientHandshake::new(simple(), config(), entropy, Instant::now()).unwrap();
        let raw: Vec<u8> = (0..16).collect();
        assert_eq!(hs.key(), base64::engine::general_purpose::STANDARD.encode(raw));
    }

    #[test]
    fn transmit_is_a_buf() {
        use bytes::Buf;
        let mut hs = start(simple());
        let mut out = Vec::new();
        while let Some(Transmit::Data(mut t)) = hs.poll_transmit() {
            let c = t.chunk();
            let n = c.len().min(7);
            out.extend_from_slice(&c[..n]);
            t.advance(n);
        }
        assert!(out.starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
        assert!(out.ends_with(b"\r\n\r\n"));
    }

    #[test]
    fn version_8_and_reserved_headers() {
        let mut req = simple();
        req = req
            .protocol_version(8)
            .origin("http://o.example")
            .header("Origin", "http://custom.example")
            .header("Upgrade", "h2c")
            .header("Connection", "close")
            .header("Sec-WebSocket-Key", "forged")
            .header("Sec-WebSocket-Version", "99")
            .header("Sec-WebSocket-Extensions", "permessage-deflate")
            .header("Host", "virtual.example")
            .header("Sec-WebSocket-Protocol", "p1, p2")
            .header("X-Thing", "1")
            .header("x-thing", "2");
        let mut hs = start(req);
        let s = request_bytes(&mut hs);
        assert_eq!(
            s,
            "GET /chat HTTP/1.1\r\n\
             Host: virtual.example\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\
             Sec-WebSocket-Version: 8\r\n\
             Sec-WebSocket-Protocol: p1, p2\r\n\
             Sec-WebSocket-Origin: http://o.example\r\n\
             origin: http://custom.example\r\n\
             x-thing: 2\r\n\
             \r\n"
        );
        // Version 13: `origin()` replaces a custom Origin.
        let mut req = simple();
        req = req.header("Origin", "http://custom.example").origin("http://o.example");
        let s = request_bytes(&mut start(req));
        assert!(s.contains("Origin: http://o.example\r\n"));
        assert!(!s.contains("custom"));
    }

    #[test]
    fn invalid_requests() {
        let cases: Vec<(ClientRequest, &str)> = vec![
            (
                {
                    let mut r = simple();
                    r = r.subprotocol("a b");
                    r
                },
                "token",
            ),
            (
                {
                    let mut r = simple();
                    r = r.subprotocol("a").subprotocol("a");
                    r
                },
                "twice",
            ),
            (
                {
                    let mut r = simple();
                    r = r.subprotocol("");
                    r
                },
                "token",
            ),
            (
                {
                    let mut r = simple();
                    r = r.header("Sec-WebSocket-Protocol", "a,,b");
                    r
                },
                "Sec-WebSocket-Protocol",
            ),
            (
                {
                    let mut r = simple();
                    r = r.header("Sec-WebSocket-Protocol", "a").subprotocol("a");
                    r
                },
                "twice",
            ),
            (
                {
                    let mut r = simple();
                    r = r.header("bad name", "v");
                    r
                },
                "header name",
            ),
            (
                {
                    let mut r = simple();
                    r = r.header("X", "a\r\nInjected: 1");
                    r
                },
                "value",
            ),
            (
                {
                    let mut r = simple();
                    r = r.origin("a\nb");
                    r
                },
                "origin",
            ),
            (
                {
                    let mut r = simple();
                    r = r.protocol_version(12);
                    r
                },
                "version",
            ),
            (ClientRequest::new("", "/"), "authority"),
            (ClientRequest::new("a b", "/"), "authority"),
            (ClientRequest::new("h", "chat"), "target"),
            (ClientRequest::new("h", "/a b"), "target"),
            (ClientRequest::new("h", "/\u{e9}"), "target"),
        ];
        for (req, needle) in cases {
            match ClientHandshake::new(req, config(), zeros(), Instant::now()) {
                Err(HandshakeError::InvalidRequest(msg)) => assert!(msg.contains(needle), "{msg:?} lacks {needle:?}"),
                other => panic!("{other:?}"),
            }
        }
        // An empty target means "/".
        assert_eq!(ClientRequest::new("h", "").path_and_query(), "/");
    }

    #[test]
    fn authority_helpers() {
        let r = ClientRequest::new("example.com", "/");
        assert_eq!((r.host(), r.port(), r.is_secure()), ("example.com", 80, false));
        let r = ClientRequest::new("example.com:9000", "/").secure(true);
        assert_eq!((r.host(), r.port(), r.is_secure()), ("example.com", 9000, true));
        let r = ClientRequest::new("[::1]", "/").secure(true);
        assert_eq!((r.host(), r.port()), ("::1", 443));
        let r = ClientRequest::new("[::1]:8443", "/");
        assert_eq!((r.host(), r.port(), r.authority()), ("::1", 8443, "[::1]:8443"));
        let r = ClientRequest::new("h:notaport", "/");
        assert_eq!((r.host(), r.port()), ("h:notaport", 80));
    }

    #[cfg(feature = "url")]
    #[test]
    fn from_url() {
        let parse = |s: &str| ClientRequest::from_url(&url::Url::parse(s).unwrap());
        let r = parse("ws://example.com/chat?x=1").unwrap();
        assert_eq!(
            (r.authority(), r.path_and_query(), r.host(), r.port(), r.is_secure()),
            ("example.com", "/chat?x=1", "example.com", 80, false)
        );
        let r = parse("wss://example.com:443").unwrap();
        assert_eq!((r.authority(), r.path_and_query(), r.port(), r.is_secure()), ("example.com", "/", 443, true));
        let r = parse("wss://example.com:8443/a").unwrap();
        assert_eq!((r.authority(), r.port()), ("example.com:8443", 8443));
        let r = parse("http://example.com:80/").unwrap();
        assert_eq!((r.authority(), r.is_secure()), ("example.com", false));
        let r = parse("https://example.com/").unwrap();
        assert_eq!((r.authority(), r.port(), r.is_secure()), ("example.com", 443, true));
        let r = parse("ws://[::1]:9001/").unwrap();
        assert_eq!((r.authority(), r.host(), r.port()), ("[::1]:9001", "::1", 9001));
        let r = parse("ws://us%40er:p%3Ass@example.com/").unwrap();
        let mut hs = start(r);
        let s = request_bytes(&mut hs);
        let creds = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss");
        assert!(s.contains(&format!("authorization: Basic {creds}\r\n")), "{s}");
        assert!(s.starts_with("GET / HTTP/1.1\r\nHost: example.com\r\n"), "{s}");
        let r = parse("ws://user@example.com/").unwrap();
        let s = request_bytes(&mut start(r));
        let creds = base64::engine::general_purpose::STANDARD.encode("user:");
        assert!(s.contains(&format!("authorization: Basic {creds}\r\n")), "{s}");
        for bad in ["ftp://example.com/", "ws://example.com/#frag", "ws+unix:///tmp/sock", "file:///x"] {
            assert!(matches!(parse(bad), Err(HandshakeError::InvalidRequest(_))), "{bad}");
        }
    }

    #[test]
    fn accepted_with_leftover() {
        let now = Instant::now();
        let mut req = simple();
        req = req.subprotocol("chat").subprotocol("superchat");
        let mut hs = start(req);
        let mut bytes = ok_101(&[("Sec-WebSocket-Protocol", "superchat"), ("Set-Cookie", "s=1")]);
        bytes.extend_from_slice(FRAME);
        hs.receive(&bytes);
        match hs.poll_outcome(now).unwrap() {
            Some(ClientOutcome::Accepted { response, mut connection }) => {
                assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
                assert_eq!(response.headers()["set-cookie"], "s=1");
                assert_eq!(connection.role(), Role::Client);
                assert_eq!(connection.negotiated().subprotocol.as_deref(), Some("superchat"));
                assert_eq!(connection.negotiated().version, 13);
                match connection.poll_event(now) {
                    Some(Event::Message(Message::Text(t))) => assert_eq!(t, "Hi"),
                    other => panic!("{other:?}"),
                }
                // The entropy moved into the connection: it can mask.
                connection.send_text("x").unwrap();
                let mut out = Vec::new();
                connection.transmit_into(&mut out);
                assert_eq!(out.len(), 2 + 4 + 1);
                assert_eq!(out[1] & 0x80, 0x80);
            }
            other => panic!("{other:?}"),
        }
        assert!(hs.poll_outcome(now).unwrap().is_none(), "finished");
        assert_eq!(hs.poll_timeout(), None);
    }

    #[test]
    fn response_checks() {
        let accept = accept_key(KEY.as_bytes());
        let with_protocols = || {
            let mut r = simple();
            r = r.subprotocol("chat");
            r
        };
        let cases: Vec<(ClientRequest, Vec<u8>, HandshakeError)> = vec![
            (
                simple(),
                response(
                    "HTTP/1.1 101 Switching Protocols",
                    &[("Connection", "Upgrade"), ("Sec-WebSocket-Accept", &accept)],
                ),
                HandshakeError::MissingUpgrade,
            ),
            (
                simple(),
                response(
                    "HTTP/1.1 101 OK",
                    &[("Upgrade", "h2c"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", &accept)],
                ),
                HandshakeError::MissingUpgrade,
            ),
            (
                simple(),
                response("HTTP/1.1 101 OK", &[("Upgrade", "websocket"), ("Sec-WebSocket-Accept", &accept)]),
                HandshakeError::MissingConnectionUpgrade,
            ),
            (
                simple(),
                response("HTTP/1.1 101 OK", &[("Upgrade", "websocket"), ("Connection", "Upgrade")]),
                HandshakeError::AcceptMismatch,
            ),
            (
                simple(),
                response(
                    "HTTP/1.1 101 OK",
                    &[
                        ("Upgrade", "websocket"),
                        ("Connection", "Upgrade"),
                        ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                    ],
                ),
                HandshakeError::AcceptMismatch,
            ),
            (
                simple(),
                response(
                    "HTTP/1.1 101 OK",
                    &[
                        ("Upgrade", "websocket"),
                        ("Connection", "Upgrade"),
                        ("Sec-WebSocket-Accept", &accept),
                        ("Sec-WebSocket-Accept", &accept),
                    ],
                ),
                HandshakeError::AcceptMismatch,
            ),
            (
                simple(),
                ok_101(&[("Sec-WebSocket-Extensions", "permessage-deflate")]),
                HandshakeError::ExtensionNotOffered,
            ),
            (simple(), ok_101(&[("Sec-WebSocket-Protocol", "chat")]), HandshakeError::SubprotocolNotOffered),
            (with_protocols(), ok_101(&[("Sec-WebSocket-Protocol", "other")]), HandshakeError::SubprotocolNotOffered),
            (
                with_protocols(),
                ok_101(&[("Sec-WebSocket-Protocol", "chat, chat")]),
                HandshakeError::SubprotocolNotOffered,
            ),
            (
                with_protocols(),
                ok_101(&[("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "chat")]),
                HandshakeError::SubprotocolNotOffered,
            ),
        ];
        for (req, bytes, error) in cases {
            match outcome(req, &bytes) {
                Err(e) => assert_eq!(e, error),
                Ok(o) => panic!("expected {error:?}, got {o:?}"),
            }
        }
        // Accepted: case-insensitive tokens, token lists, no subprotocol although offered.
        let lenient = response(
            "HTTP/1.1 101 Switching Protocols",
            &[("upgrade", "WebSocket"), ("connection", "keep-alive, upgrade"), ("sec-websocket-accept", &accept)],
        );
        match outcome(with_protocols(), &lenient) {
            Ok(Some(ClientOutcome::Accepted { connection, .. })) => {
                assert_eq!(connection.negotiated().subprotocol, None)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn required_subprotocol() {
        let offer = || simple().subprotocol("chat").require_subprotocol(true);
        // Offered and required, none chosen: Node's "Server sent no subprotocol".
        assert!(offer().is_subprotocol_required());
        assert_eq!(outcome(offer(), &ok_101(&[])).unwrap_err(), HandshakeError::SubprotocolMissing);
        // Chosen: accepted.
        match outcome(offer(), &ok_101(&[("Sec-WebSocket-Protocol", "chat")])) {
            Ok(Some(ClientOutcome::Accepted { connection, .. })) => {
                assert_eq!(connection.negotiated().subprotocol.as_deref(), Some("chat"))
            }
            other => panic!("{other:?}"),
        }
        // Not required (the default), or nothing offered: no subprotocol is fine.
        assert!(matches!(
            outcome(simple().subprotocol("chat"), &ok_101(&[])),
            Ok(Some(ClientOutcome::Accepted { .. }))
        ));
        let nothing_offered = simple().require_subprotocol(true);
        assert!(matches!(outcome(nothing_offered, &ok_101(&[])), Ok(Some(ClientOutcome::Accepted { .. }))));
    }

    #[test]
    fn header_accessors_and_removal() {
        let req = simple().header("X-A", "1").header("Cookie", "c=1").subprotocol("a").subprotocol("b");
        assert_eq!(req.headers()["x-a"], "1");
        assert_eq!(req.subprotocols(), ["a", "b"]);
        let req = req.remove_header("COOKIE").remove_header("not a header name");
        assert!(req.headers().get("cookie").is_none());
        let s = request_bytes(&mut start(req));
        assert!(s.contains("x-a: 1\r\n") && !s.contains("cookie"), "{s}");
    }

    #[test]
    fn malformed_response() {
        for bad in [&b"HTTP/1.1 abc OK\r\n\r\n"[..], b"garbage\r\n\r\n", b"HTTP/1.1 101 OK\r\nbad header\r\n\r\n"] {
            assert!(matches!(outcome(simple(), bad), Err(HandshakeError::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn rejected_with_body_capped() {
        let body = b"0123456789";
        let mut bytes =
            response("HTTP/1.1 401 Unauthorized", &[("Content-Length", "10"), ("WWW-Authenticate", "Basic")]);
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(b"trailing junk");
        for (cap, expect) in [(11, &body[..]), (10, &body[..]), (9, &body[..9]), (0, &body[..0])] {
            let c = Config::default().max_rejection_body(cap);
            let mut hs = start_with(simple(), c);
            hs.receive(&bytes);
            let (response, got) = rejected(hs.poll_outcome(Instant::now()));
            assert_eq!(response.status(), 401);
            assert_eq!(response.headers()["www-authenticate"], "Basic");
            assert_eq!(&got[..], expect, "cap {cap}");
        }
    }

    #[test]
    fn rejected_body_arrives_in_pieces() {
        let now = Instant::now();
        let mut hs = start(simple());
        hs.receive(&response("HTTP/1.1 403 Forbidden", &[("Content-Length", "6")]));
        assert!(hs.poll_outcome(now).unwrap().is_none());
        hs.receive(b"abc");
        assert!(hs.poll_outcome(now).unwrap().is_none());
        hs.receive(b"defEXTRA");
        let (r, body) = rejected(hs.poll_outcome(now));
        assert_eq!(r.status(), 403);
        assert_eq!(&body[..], b"abcdef");

        // No Content-Length: until EOF.
        let mut hs = start(simple());
        hs.receive(&response("HTTP/1.1 500 Oops", &[]));
        hs.receive(b"part1 ");
        assert!(hs.poll_outcome(now).unwrap().is_none());
        hs.receive(b"part2");
        assert!(hs.poll_outcome(now).unwrap().is_none());
        hs.receive_eof();
        let (r, body) = rejected(hs.poll_outcome(now));
        assert_eq!(r.status(), 500);
        assert_eq!(&body[..], b"part1 part2");

        // No Content-Length, cap reached before EOF: done at the cap.
        let c = Config::default().max_rejection_body(4);
        let mut hs = start_with(simple(), c);
        hs.receive(&response("HTTP/1.1 500 Oops", &[]));
        hs.receive(b"abcdefgh");
        assert_eq!(&rejected(hs.poll_outcome(now)).1[..], b"abcd");

        // EOF before Content-Length is complete: what arrived.
        let mut hs = start(simple());
        hs.receive(&response("HTTP/1.1 404 Not Found", &[("Content-Length", "100")]));
        hs.receive(b"short");
        hs.receive_eof();
        assert_eq!(&rejected(hs.poll_outcome(now)).1[..], b"short");

        // Timeout while reading the body: what arrived.
        let mut hs = start(simple());
        hs.receive(&response("HTTP/1.1 404 Not Found", &[("Content-Length", "100")]));
        hs.receive(b"slow");
        assert!(hs.poll_outcome(now).unwrap().is_none());
        let late = now + Duration::from_secs(11);
        hs.handle_timeout(late);
        assert_eq!(&rejected(hs.poll_outcome(late)).1[..], b"slow");
    }

    #[test]
    fn redirects_and_bodyless_statuses() {
        let now = Instant::now();
        let bytes =
            response("HTTP/1.1 302 Found", &[("Location", "wss://other.example/chat"), ("Content-Length", "0")]);
        let (r, body) = rejected(outcome(simple(), &bytes));
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()[header::LOCATION], "wss://other.example/chat");
        assert!(body.is_empty());
        for status in ["204 No Content", "304 Not Modified", "100 Continue"] {
            let mut hs = start(simple());
            hs.receive(&response(&format!("HTTP/1.1 {status}"), &[]));
            let (_, body) = rejected(hs.poll_outcome(now));
            assert!(body.is_empty());
        }
        // Transfer-Encoding: read raw until EOF.
        let mut hs = start(simple());
        hs.receive(&response("HTTP/1.1 400 Bad Request", &[("Transfer-Encoding", "chunked"), ("Content-Length", "1")]));
        hs.receive(b"3\r\nabc\r\n0\r\n\r\n");
        assert!(hs.poll_outcome(now).unwrap().is_none());
        hs.receive_eof();
        assert_eq!(&rejected(hs.poll_outcome(now)).1[..], b"3\r\nabc\r\n0\r\n\r\n");
    }

    #[test]
    fn head_limits() {
        let bytes = ok_101(&[]);
        let len = bytes.len();
        for (max, accepted) in [(len, true), (len + 1, true), (len - 1, false)] {
            let c = Config::default().max_handshake_size(max);
            let mut hs = start_with(simple(), c);
            hs.receive(&bytes);
            match hs.poll_outcome(Instant::now()) {
                Ok(Some(ClientOutcome::Accepted { .. })) => assert!(accepted),
                Err(e) => {
                    assert!(!accepted);
                    assert_eq!(e, HandshakeError::HeadTooLarge);
                }
                other => panic!("{other:?}"),
            }
        }
        for (max, accepted) in [(3, true), (4, true), (2, false)] {
            let c = Config::default().max_headers(max);
            let mut hs = start_with(simple(), c);
            hs.receive(&bytes);
            match hs.poll_outcome(Instant::now()) {
                Ok(Some(ClientOutcome::Accepted { .. })) => assert!(accepted),
                Err(e) => {
                    assert!(!accepted);
                    assert_eq!(e, HandshakeError::TooManyHeaders);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn eof_and_timeout() {
        let now = Instant::now();
        let mut hs = start(simple());
        hs.receive(b"HTTP/1.1 101 Switching");
        assert!(hs.poll_outcome(now).unwrap().is_none());
        hs.receive_eof();
        assert_eq!(hs.poll_outcome(now).unwrap_err(), HandshakeError::UnexpectedEof);

        let mut hs = start(simple());
        hs.receive_eof();
        assert_eq!(hs.poll_outcome(now).unwrap_err(), HandshakeError::UnexpectedEof);

        let start_at = |now| ClientHandshake::new(simple(), config(), zeros(), now).unwrap();
        let mut hs = start_at(now);
        let deadline = now + Duration::from_secs(10);
        assert_eq!(hs.poll_timeout(), Some(deadline));
        hs.handle_timeout(deadline - Duration::from_millis(1));
        assert!(hs.poll_outcome(now).unwrap().is_none());
        // poll_outcome checks the deadline itself too.
        assert_eq!(hs.poll_outcome(deadline).unwrap_err(), HandshakeError::Timeout);
        assert_eq!(hs.poll_timeout(), None);

        let mut hs = start_at(now);
        hs.handle_timeout(deadline);
        assert_eq!(hs.poll_timeout(), None);
        assert_eq!(hs.poll_outcome(now).unwrap_err(), HandshakeError::Timeout);
    }

    #[test]
    fn every_split_gives_the_same_outcome() {
        let now = Instant::now();
        let mut bytes = ok_101(&[("X-A", "1")]);
        bytes.extend_from_slice(FRAME);
        for cut in 0..=bytes.len() {
            let mut hs = start(simple());
            hs.receive(&bytes[..cut]);
            let first = hs.poll_outcome(now).unwrap();
            let outcome = match first {
                Some(o) => {
                    assert!(cut >= bytes.len() - FRAME.len());
                    o
                }
                None => {
                    hs.receive(&bytes[cut..]);
                    hs.poll_outcome(now).unwrap().expect("complete")
                }
            };
            let ClientOutcome::Accepted { response, mut connection } = outcome else {
                panic!("cut {cut}: {outcome:?}")
            };
            assert_eq!(response.headers()["x-a"], "1");
            // The frame reaches the connection when it came with the head (the leftover).
            if cut < bytes.len() - FRAME.len() || cut == bytes.len() {
                assert!(matches!(connection.poll_event(now), Some(Event::Message(_))), "cut {cut}");
            }
        }
        // Byte by byte through recv_slot/commit.
        let mut hs = start(simple());
        let mut done = None;
        for &b in &bytes {
            hs.recv_slot(1)[0] = b;
            hs.commit_received(1);
            if let Some(o) = hs.poll_outcome(now).unwrap() {
                done = Some(o);
            }
        }
        assert!(matches!(done, Some(ClientOutcome::Accepted { .. })));
    }
}
