//! The server side of the opening handshake (RFC 6455 §4.2), with Node `ws` policy hooks.
//!
//! 1. [`ServerHandshake`] buffers the request head and parses it once complete (or
//!    [`UpgradeRequest::from_http`] takes a head another HTTP stack parsed). Requests that break
//!    RFC 6455 become a [`Rejection`] carrying the HTTP response to write.
//! 2. The application inspects the [`UpgradeRequest`] and decides, usually through
//!    [`UpgradeRequest::negotiate`], which applies the [`ServerOptions`] policy.
//! 3. [`UpgradeRequest::accept`] yields a [`Connection`] with the `101` queued;
//!    [`UpgradeRequest::reject`] yields a [`Rejection`].
//!
//! Statuses follow Node `ws`, checked in this order (the first failing check answers):
//!
//! | condition | status |
//! |---|---|
//! | not an upgrade at all: no `Upgrade` header, or no `Connection: upgrade` (a plain GET) | 426 with `Upgrade: websocket` |
//! | method is not GET | 405 with `Allow: GET` |
//! | not HTTP/1.1 | 505 |
//! | `Host` missing | 400 |
//! | `Upgrade` without the `websocket` token | 400 |
//! | `Sec-WebSocket-Key` missing, repeated, or not base64 of 16 bytes | 400 |
//! | `Sec-WebSocket-Version` not 13 or 8 | 400 with `Sec-WebSocket-Version: 13, 8` |
//! | [`ServerOptions::path`] mismatch (a server's `should_handle` / path check comes here too) | 400 |
//! | malformed `Sec-WebSocket-Protocol`, then `Sec-WebSocket-Extensions` | 400 |
//! | a malformed permessage-deflate offer (with [`ServerOptions::per_message_deflate`]) | 400 |
//! | [`ServerOptions::origins`] mismatch | 403 |
//! | [`ServerOptions::verify_client`] refusal (a server's asynchronous one too) | the app's choice, 401 by default |
//! | the server is closing (adapters' `Server`) | 503 |
//!
//! Before any of these, reading the head: larger than `max_handshake_size` or more than
//! `max_headers` fields → 431; incomplete at EOF → 400; `handshake_timeout` expired → 408.
//!
//! [`ServerOptions::client_error`] (Node's `wsClientError`) may replace the answer to a request
//! that breaks these rules, once its head is parsed: every [`Rejection`] that carries a
//! [`HandshakeError`] (not the application's own refusals, such as `verify_client`'s, nor a
//! closing server's 503). [`ServerOptions::answer_client_error`] is the one place that applies
//! it; [`UpgradeRequest::from_http`], [`ServerHandshake::poll_request`] and
//! [`UpgradeRequest::negotiate`] call it themselves.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};

use super::headers::{self as h, HeadBuffer};
use super::{accept_key, Negotiated};
use crate::config::{Config, Role};
use crate::connection::Connection;
use crate::deflate::{params as deflate_params, DeflateConfig, DeflateParams};
use crate::error::HandshakeError;

pub use crate::extension::ExtensionOffer;

/// `Sec-WebSocket-Origin`, the origin header of protocol version 8.
const SEC_WEBSOCKET_ORIGIN: HeaderName = HeaderName::from_static("sec-websocket-origin");

type ProtocolsFn = dyn Fn(&[&str], &UpgradeRequest) -> Option<String> + Send + Sync;
type VerifyFn = dyn Fn(&UpgradeRequest) -> Result<(), Refusal> + Send + Sync;
type HeadersFn = dyn Fn(&UpgradeRequest, &mut HeaderMap) + Send + Sync;
type ClientErrorFn = dyn Fn(&HandshakeError, &Request<()>) -> ClientErrorReply + Send + Sync;

/// Server policy shared by every handshake (share as `Arc<ServerOptions>`): what
/// [`UpgradeRequest::negotiate`] applies, in Node `ws`'s order: path, origin, `verify_client`,
/// subprotocol choice, permessage-deflate, `on_headers`.
///
/// Setters take `self` and return `Self` so they chain, as every builder of the workspace does:
/// `Arc::new(ServerOptions::default().path("/ws"))`.
#[derive(Clone, Default)]
pub struct ServerOptions {
    path: Option<String>,
    origins: Option<Vec<String>>,
    allow_missing_origin: bool,
    subprotocols: Option<Vec<String>>,
    handle_protocols: Option<Arc<ProtocolsFn>>,
    verify_client: Option<Arc<VerifyFn>>,
    on_headers: Option<Arc<HeadersFn>>,
    client_error: Option<Arc<ClientErrorFn>>,
    per_message_deflate: Option<DeflateConfig>,
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("path", &self.path)
            .field("origins", &self.origins)
            .field("allow_missing_origin", &self.allow_missing_origin)
            .field("subprotocols", &self.subprotocols)
            .field("handle_protocols", &self.handle_protocols.is_some())
            .field("verify_client", &self.verify_client.is_some())
            .field("on_headers", &self.on_headers.is_some())
            .field("client_error", &self.client_error.is_some())
            .field("per_message_deflate", &self.per_message_deflate)
            .finish()
    }
}

impl ServerOptions {
    /// Accept only requests whose path (without the query) is exactly `p`; others get 400
    /// (Node `path`).
    #[must_use]
    pub fn path(mut self, p: impl Into<String>) -> Self {
        self.path = Some(p.into());
        self
    }

    /// Accept only these origins (`Origin`, or `Sec-WebSocket-Origin` for version 8), compared
    /// ignoring ASCII case, e.g. `https://example.com`; others get 403. Requests without an
    /// origin header are refused too unless [`allow_missing_origin`](Self::allow_missing_origin)
    /// is set (non-browser clients usually send none). Defends against cross-site WebSocket
    /// hijacking.
    #[must_use]
    pub fn origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// With [`origins`](Self::origins) set: also accept requests that carry no origin header.
    #[must_use]
    pub fn allow_missing_origin(mut self, allow: bool) -> Self {
        self.allow_missing_origin = allow;
        self
    }

    /// The subprotocols this server supports, in order of preference of the client's list: by
    /// default the first protocol the client offers that is in this list is chosen.
    #[must_use]
    pub fn subprotocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols = Some(protocols.into_iter().map(Into::into).collect());
        self
    }

    /// Chooses the subprotocol (Node `handleProtocols`): called with the client's offers (only
    /// when there is at least one) and the request; `None` answers without a subprotocol. The
    /// result should be one of the offers: a client rejects anything else.
    ///
    /// Without it, the first offer in [`subprotocols`](Self::subprotocols) is chosen, or, when
    /// that list is not set, the client's first offer.
    #[must_use]
    pub fn handle_protocols(
        mut self,
        f: impl Fn(&[&str], &UpgradeRequest) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.handle_protocols = Some(Arc::new(f));
        self
    }

    /// Accepts or refuses a request after the RFC, path and origin checks (Node `verifyClient`,
    /// synchronous form). A [`Refusal`] sets the status (401 by default), headers and body of
    /// the response. Adapters with asynchronous verification run it before `negotiate`.
    #[must_use]
    pub fn verify_client(mut self, f: impl Fn(&UpgradeRequest) -> Result<(), Refusal> + Send + Sync + 'static) -> Self {
        self.verify_client = Some(Arc::new(f));
        self
    }

    /// Adds headers to the `101` response (Node's `headers` event), e.g. `Set-Cookie`. The
    /// handshake's own headers (`Upgrade`, `Connection`, `Sec-WebSocket-*`) cannot be changed.
    #[must_use]
    pub fn on_headers(mut self, f: impl Fn(&UpgradeRequest, &mut HeaderMap) + Send + Sync + 'static) -> Self {
        self.on_headers = Some(Arc::new(f));
        self
    }

    /// Accepts permessage-deflate (RFC 7692) with these settings (Node `perMessageDeflate`);
    /// `None`, the default as in Node, accepts nothing. The client's offers are tried in order
    /// and the first one that can be honoured is accepted; a malformed offer is answered with
    /// 400. The tables are in [`DeflateConfig`]'s module documentation and
    /// `docs/design/deflate.md`.
    #[must_use]
    pub fn per_message_deflate(mut self, c: Option<DeflateConfig>) -> Self {
        self.per_message_deflate = c;
        self
    }

    /// The configured permessage-deflate settings.
    pub fn get_per_message_deflate(&self) -> Option<&DeflateConfig> {
        self.per_message_deflate.as_ref()
    }

    /// Answers invalid upgrade requests (Node's `wsClientError` event): called with the error
    /// and the request head whenever a request whose head was parsed is refused for breaking a
    /// rule (426, 405, 505, 400 for the head, the path or the offers, 403 for the origin, 408
    /// when verification outlasts the handshake timeout), it keeps the default answer
    /// ([`ClientErrorReply::Default`]: the status, headers and message of
    /// [`Rejection::from_error`]), replaces it ([`ClientErrorReply::Replace`], sent as
    /// [`Rejection::from_response`] describes) or answers nothing and closes the connection
    /// ([`ClientErrorReply::Drop`]). Without it, the default answer is sent.
    ///
    /// Not called for the application's own refusals (`verify_client`, a custom decision),
    /// which set their response already, for a closing server's 503, nor for a head that could
    /// not be read (too large, malformed, cut short or late: there is no request to show; Node's
    /// HTTP server answers those itself too).
    ///
    /// ```
    /// use ws_proto::http::{Response, StatusCode};
    /// use ws_proto::{Bytes, ClientErrorReply, HandshakeError, ServerOptions};
    ///
    /// let options = ServerOptions::default().client_error(|error, request| {
    ///     eprintln!("bad upgrade request for {}: {error}", request.uri());
    ///     match error {
    ///         HandshakeError::UnsupportedVersion => ClientErrorReply::Default,
    ///         _ => {
    ///             let mut response = Response::new(Bytes::from_static(b"{\"error\":\"bad request\"}"));
    ///             *response.status_mut() = StatusCode::BAD_REQUEST;
    ///             ClientErrorReply::Replace(response)
    ///         }
    ///     }
    /// });
    /// ```
    #[must_use]
    pub fn client_error(
        mut self,
        f: impl Fn(&HandshakeError, &Request<()>) -> ClientErrorReply + Send + Sync + 'static,
    ) -> Self {
        self.client_error = Some(Arc::new(f));
        self
    }

    /// The answer to send for `rejection`, a refusal of `request`: the
    /// [`client_error`](Self::client_error) hook's reply when the rejection carries a
    /// [`HandshakeError`] and a hook is set, else `rejection` unchanged. A rejection goes
    /// through the hook at most once, so calling this again (or on a rejection that
    /// [`UpgradeRequest::from_http`], [`ServerHandshake::poll_request`] or
    /// [`UpgradeRequest::negotiate`] returned, which call it themselves) changes nothing. For
    /// servers that refuse a request themselves, e.g. after [`UpgradeRequest::check_head`] or
    /// their own routing.
    pub fn answer_client_error(&self, request: &Request<()>, mut rejection: Rejection) -> Rejection {
        let Some(hook) = &self.client_error else { return rejection };
        if rejection.answered {
            return rejection;
        }
        let Some(error) = &rejection.error else { return rejection };
        match hook(error, request) {
            ClientErrorReply::Default => {
                rejection.answered = true;
                rejection
            }
            ClientErrorReply::Replace(response) => {
                let mut replaced = Rejection::from_response(rejection.error.take(), response);
                replaced.answered = true;
                replaced
            }
            ClientErrorReply::Drop => {
                rejection.answered = true;
                rejection.dropped = true;
                rejection
            }
        }
    }
}

/// What a [`ServerOptions::client_error`] hook answers an invalid upgrade request with.
#[derive(Debug)]
pub enum ClientErrorReply {
    /// The default answer: the error's status, the headers it calls for and its message (as
    /// [`Rejection::from_error`]), as without a hook.
    Default,
    /// This response instead: its status, headers and body, with `Connection: close` and
    /// `Content-Length` (see [`Rejection::from_response`]).
    Replace(Response<Bytes>),
    /// No answer: the connection is closed without writing anything (Node's
    /// `socket.destroy()` in a `wsClientError` listener), e.g. for scanners that deserve no
    /// reply. The rejection keeps the default status and response for the record, and
    /// [`Rejection::is_drop`] tells the IO layer to write nothing: every server and `accept*`
    /// function of this project's adapters then closes the socket at once (no response, no
    /// linger). Hosts that write the response themselves (an HTTP stack such as hyper or axum)
    /// cannot drop the connection from there and send the default answer.
    Drop,
}

impl From<Response<Bytes>> for ClientErrorReply {
    fn from(response: Response<Bytes>) -> Self {
        Self::Replace(response)
    }
}

/// A refusal from [`ServerOptions::verify_client`]: the response to answer with (Node
/// `verifyClient`'s `code`, `headers` and message). Small (one box) so that hooks returning
/// `Result<(), Refusal>` stay cheap.
#[derive(Clone, Debug)]
pub struct Refusal(Box<RefusalInner>);

#[derive(Clone, Debug)]
struct RefusalInner {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Default for Refusal {
    /// 401 Unauthorized, as Node `ws` answers a bare refusal.
    fn default() -> Self {
        Self::new(StatusCode::UNAUTHORIZED)
    }
}

impl Refusal {
    /// A refusal with this status (a 1xx one is answered as 500), no extra headers and the
    /// default body (the reason phrase).
    pub fn new(status: StatusCode) -> Self {
        Self(Box::new(RefusalInner { status, headers: HeaderMap::new(), body: Bytes::new() }))
    }

    /// Adds a header field, e.g. `WWW-Authenticate` or `Retry-After`.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.append(name, value);
        self
    }

    /// Sets the body (the reason phrase is sent when it is empty).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.0.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The extra headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.0.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.0.body
    }

    fn into_rejection(self) -> Rejection {
        let RefusalInner { status, headers, body } = *self.0;
        Rejection::new(status, headers, body)
    }
}

/// The application's decision to accept, built by [`UpgradeRequest::negotiate`] or by hand
/// (`Accept::default()` then set the fields).
#[derive(Clone, Debug, Default)]
pub struct Accept {
    /// The subprotocol to answer with (`Sec-WebSocket-Protocol`). It must be an RFC 7230 token
    /// and should be one the client offered; a value that is not a token is not sent.
    pub subprotocol: Option<String>,
    /// Extra headers for the `101` response. `Upgrade`, `Connection`, `Sec-WebSocket-*`,
    /// `Content-Length` and `Transfer-Encoding` are the handshake's and are skipped.
    pub headers: HeaderMap,
    /// The negotiated extensions: the `Sec-WebSocket-Extensions` response value, set by
    /// `negotiate` when permessage-deflate was agreed. Being private, it also keeps `Accept`
    /// constructible only through `Default` and `negotiate`.
    extensions: Option<HeaderValue>,
    /// The permessage-deflate parameters behind `extensions`.
    deflate: Option<DeflateParams>,
}

impl Accept {
    /// An acceptance with this subprotocol and no extra headers.
    pub fn with_subprotocol(subprotocol: impl Into<String>) -> Self {
        Self { subprotocol: Some(subprotocol.into()), ..Self::default() }
    }

    /// The permessage-deflate parameters [`UpgradeRequest::negotiate`] agreed on, if any.
    pub fn deflate(&self) -> Option<&DeflateParams> {
        self.deflate.as_ref()
    }

    /// Drops the negotiated permessage-deflate (the connection then goes uncompressed).
    pub fn decline_deflate(&mut self) {
        self.extensions = None;
        self.deflate = None;
    }
}

/// A refused handshake: the error, if the request broke the rules, and the complete HTTP
/// response to write before closing the connection (rustls's `ErrorWithAlert` idea).
///
/// The response always carries `Connection: close`, `Content-Type` (`text/plain` unless the
/// application set one) and `Content-Length`. Its body is the error message, the
/// application's body, or else the status's reason phrase.
#[derive(Debug)]
pub struct Rejection {
    /// Why the request was refused; `None` when the application refused it.
    pub error: Option<HandshakeError>,
    /// The response, as serialized in [`bytes`](Self::bytes) (changing it does not change them).
    /// Boxed to keep `Result<_, Rejection>` small.
    pub response: Box<Response<()>>,
    bytes: Bytes,
    /// Went through [`ServerOptions::answer_client_error`] already.
    answered: bool,
    /// The hook chose [`ClientErrorReply::Drop`]: nothing is to be written.
    dropped: bool,
}

impl Rejection {
    /// The rejection for a handshake error: its [`http_status`](HandshakeError::http_status),
    /// the headers that status calls for (`Allow: GET` for 405, `Sec-WebSocket-Version: 13, 8`
    /// for a bad version, `Upgrade: websocket` for 426) and the error message as the body.
    pub fn from_error(error: HandshakeError) -> Self {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut headers = HeaderMap::new();
        match error {
            HandshakeError::MethodNotGet => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            HandshakeError::UnsupportedVersion => {
                headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13, 8"));
            }
            HandshakeError::UpgradeRequired => {
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            }
            _ => {}
        }
        let body = Bytes::from(error.to_string());
        Self::build(Some(error), status, headers, body)
    }

    /// A rejection chosen by the application (e.g. 503 while shutting down): the status (a
    /// 1xx one is answered as 500), extra headers, and the body (the reason phrase when empty).
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self::build(None, status, headers, body)
    }

    /// A rejection answering with `response` as given (what a
    /// [`client_error`](ServerOptions::client_error) hook replies): its status (a 1xx one is
    /// answered as 500), then `Connection: close` and `Content-Length` (the connection ends
    /// after the response), then its headers in their order, less `Connection`,
    /// `Content-Length` and `Transfer-Encoding`, then its body, even an empty one. Nothing else
    /// is added (no `Content-Type` unless the response has one). The status line's reason
    /// phrase is the status's canonical one (`Unknown` for others).
    pub fn from_response(error: Option<HandshakeError>, response: Response<Bytes>) -> Self {
        let (parts, body) = response.into_parts();
        Self::serialize(error, parts.status, false, parts.headers, body)
    }

    fn build(error: Option<HandshakeError>, status: StatusCode, extra: HeaderMap, body: Bytes) -> Self {
        let status = if status.is_informational() { StatusCode::INTERNAL_SERVER_ERROR } else { status };
        let body = if body.is_empty() {
            Bytes::from_static(status.canonical_reason().unwrap_or("Unknown").as_bytes())
        } else {
            body
        };
        Self::serialize(error, status, true, extra, body)
    }

    /// The response bytes: `Connection: close`, a `text/plain` type when `default_type` and
    /// `extra` has none, `Content-Length`, then `extra` (less the framing headers).
    fn serialize(
        error: Option<HandshakeError>,
        status: StatusCode,
        default_type: bool,
        extra: HeaderMap,
        body: Bytes,
    ) -> Self {
        let status = if status.is_informational() { StatusCode::INTERNAL_SERVER_ERROR } else { status };
        let mut map = HeaderMap::with_capacity(extra.len() + 3);
        map.insert(header::CONNECTION, HeaderValue::from_static("close"));
        if default_type && !extra.contains_key(header::CONTENT_TYPE) {
            map.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        }
        map.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        for (name, value) in &extra {
            if name != header::CONNECTION && name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
                map.append(name.clone(), value.clone());
            }
        }
        let mut out = Vec::with_capacity(128 + body.len());
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
        out.extend_from_slice(b"\r\n");
        h::put_headers(&mut out, &map, &[]);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        let mut response = Response::new(());
        *response.status_mut() = status;
        *response.headers_mut() = map;
        Self { error, response: Box::new(response), bytes: Bytes::from(out), answered: false, dropped: false }
    }

    /// The complete HTTP response (head and body) to write before closing, unless
    /// [`is_drop`](Self::is_drop).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Whether the [`client_error`](ServerOptions::client_error) hook chose
    /// [`ClientErrorReply::Drop`]: close the connection without writing
    /// [`bytes`](Self::bytes) (they hold the default answer, for hosts that must answer).
    pub fn is_drop(&self) -> bool {
        self.dropped
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebSocket handshake rejected with {}", self.response.status())?;
        match &self.error {
            Some(e) => write!(f, ": {e}"),
            None => f.write_str(" by the application"),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.as_ref().map(|e| e as _)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerState {
    Reading,
    TimedOut,
    Done,
}

/// Reads and validates an upgrade request from a fresh connection (the `port`/`server` modes
/// of Node `ws`).
///
/// Feed it bytes with [`receive`](Self::receive) (or [`recv_slot`](Self::recv_slot) and
/// [`commit_received`](Self::commit_received)), then call [`poll_request`](Self::poll_request);
/// arm a timer from [`poll_timeout`](Self::poll_timeout) and call
/// [`handle_timeout`](Self::handle_timeout) when it fires. Bytes that follow the head stay in the
/// [`UpgradeRequest`] and are handed to the [`Connection`].
#[derive(Debug)]
pub struct ServerHandshake {
    config: Arc<Config>,
    options: Arc<ServerOptions>,
    head: HeadBuffer,
    deadline: Option<Instant>,
    state: ServerState,
}

impl ServerHandshake {
    /// Starts a handshake at `now`; the deadline is `now + handshake_timeout`.
    pub fn new(config: Arc<Config>, options: Arc<ServerOptions>, now: Instant) -> Self {
        let deadline = config.handshake_timeout.and_then(|d| now.checked_add(d));
        Self { config, options, head: HeadBuffer::default(), deadline, state: ServerState::Reading }
    }

    /// Buffers received bytes (copying). Call [`poll_request`](Self::poll_request) after it.
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

    /// The peer closed its write side. Call [`poll_request`](Self::poll_request) after it.
    pub fn receive_eof(&mut self) {
        self.head.receive_eof();
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called; `None` once finished.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ServerState::Reading => self.deadline,
            _ => None,
        }
    }

    /// Expires the handshake if its deadline has passed (spurious calls are no-ops); the next
    /// [`poll_request`](Self::poll_request) returns the 408 rejection.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == ServerState::Reading && self.deadline.is_some_and(|d| d <= now) {
            self.state = ServerState::TimedOut;
        }
    }

    /// `Ok(Some)` once a complete, RFC-valid head is parsed; `Ok(None)` while more bytes are
    /// needed; `Err` with the response to write when the request is refused.
    ///
    /// Call after every `receive*` and `handle_timeout`. The head is parsed only when new bytes
    /// arrived. Once it returned `Some` or `Err`, the handshake is finished and later calls
    /// return `Ok(None)`.
    pub fn poll_request(&mut self) -> Result<Option<UpgradeRequest>, Rejection> {
        match self.poll_head()? {
            Some((request, leftover)) => {
                UpgradeRequest::validate(request, leftover, self.config.clone(), self.options.clone()).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Like [`poll_request`](Self::poll_request), but stops after parsing: `Ok(Some)` holds the
    /// request head and the bytes received after it, *before* the RFC 6455 checks. For servers
    /// that route on the request first (Node `shouldHandle`) and then validate it with
    /// [`UpgradeRequest::from_request`]. Only size, timeout, EOF and HTTP syntax errors are
    /// rejected here.
    pub fn poll_head(&mut self) -> Result<Option<(Request<()>, Bytes)>, Rejection> {
        match self.state {
            ServerState::Done => return Ok(None),
            ServerState::TimedOut => return Err(self.fail(HandshakeError::Timeout)),
            ServerState::Reading => {}
        }
        if !self.head.take_fresh() {
            return Ok(None);
        }
        let end = match self.head.find_end(self.config.max_handshake_size) {
            Ok(Some(end)) => end,
            Ok(None) if self.head.eof() => return Err(self.fail(HandshakeError::UnexpectedEof)),
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.fail(e)),
        };
        self.state = ServerState::Done;
        match parse_request(&mut self.head, end, self.config.max_headers) {
            Ok(parsed) => Ok(Some(parsed)),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn fail(&mut self, error: HandshakeError) -> Rejection {
        self.state = ServerState::Done;
        self.head.input.clear();
        Rejection::from_error(error)
    }
}

/// Parses the complete head in `head[..end]` into a request (header values sliced out of the
/// frozen head without copying) plus the bytes after it.
fn parse_request(
    head: &mut HeadBuffer,
    end: usize,
    max_headers: usize,
) -> Result<(Request<()>, Bytes), HandshakeError> {
    let (n, method, target, version, raw) = {
        let buf = head.input.buf.get(..end).unwrap_or_default();
        let mut slots = h::header_slots(end, max_headers);
        let mut req = httparse::Request::new(&mut slots);
        let n = match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Err(HandshakeError::Malformed("incomplete request head".into())),
            Err(e) => return Err(h::map_parse_error(e)),
        };
        let method = req.method.unwrap_or_default();
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| HandshakeError::Malformed(format!("invalid method {method:?}")))?;
        let target = req.path.and_then(|p| h::range_in(buf, p.as_bytes())).unwrap_or(0..0);
        let version = if req.version == Some(1) { Version::HTTP_11 } else { Version::HTTP_10 };
        let raw = h::record_headers(buf, req.headers)?;
        (n, method, target, version, raw)
    };
    let (bytes, leftover) = head.take(n);
    let uri = bytes
        .get(target.clone())
        .and_then(|_| http::Uri::from_maybe_shared(bytes.slice(target)).ok())
        .ok_or_else(|| HandshakeError::Malformed("invalid request target".into()))?;
    let headers = h::build_header_map(&bytes, raw)?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok((request, leftover))
}

/// A valid upgrade request awaiting the application's decision: [`accept`](Self::accept),
/// [`accept_http`](Self::accept_http) or [`reject`](Self::reject) consume it.
#[derive(Debug)]
pub struct UpgradeRequest {
    request: Request<()>,
    key: String,
    version: u8,
    subprotocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
    /// permessage-deflate as the offer and [`ServerOptions::per_message_deflate`] settle it,
    /// decided (and a malformed offer refused) before any `verify_client`, as Node does.
    deflate: Option<DeflateParams>,
    leftover: Bytes,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
}

impl UpgradeRequest {
    /// Validates a head parsed by another HTTP stack (hyper, axum…; Node `noServer` mode and
    /// `handleUpgrade`). `leftover` holds any bytes read past the head (Node's `head`). The
    /// request's method, URI, version and headers are copied (its extensions are not).
    pub fn from_http(
        req: &Request<()>,
        leftover: Bytes,
        config: Arc<Config>,
        options: Arc<ServerOptions>,
    ) -> Result<Self, Rejection> {
        let mut copy = Request::new(());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        Self::validate(copy, leftover, config, options)
    }

    /// [`from_http`](Self::from_http) taking the head by value (no copy), e.g. from
    /// [`ServerHandshake::poll_head`].
    pub fn from_request(
        request: Request<()>,
        leftover: Bytes,
        config: Arc<Config>,
        options: Arc<ServerOptions>,
    ) -> Result<Self, Rejection> {
        Self::validate(request, leftover, config, options)
    }

    /// The checks of [`from_http`](Self::from_http); a refusal goes through the options'
    /// [`client_error`](ServerOptions::client_error) hook.
    fn validate(
        request: Request<()>,
        leftover: Bytes,
        config: Arc<Config>,
        options: Arc<ServerOptions>,
    ) -> Result<Self, Rejection> {
        match Self::check(&request, &options) {
            Ok((key, version, subprotocols, extensions, deflate)) => {
                Ok(Self { request, key, version, subprotocols, extensions, deflate, leftover, config, options })
            }
            Err(e) => Err(options.answer_client_error(&request, Rejection::from_error(e))),
        }
    }

    /// The head, the options' path, the offers and the permessage-deflate offer, in this order.
    #[allow(clippy::type_complexity)]
    fn check(
        request: &Request<()>,
        options: &ServerOptions,
    ) -> Result<(String, u8, Vec<String>, Vec<ExtensionOffer>, Option<DeflateParams>), HandshakeError> {
        let (key, version) = check_head(request)?;
        if options.path.as_deref().is_some_and(|p| p != request.uri().path()) {
            return Err(HandshakeError::PathNotFound);
        }
        let (subprotocols, extensions) = check_offers(request)?;
        let deflate = match options.per_message_deflate.as_ref().and_then(|c| Some((c, c.get_backend()?))) {
            Some((cfg, backend)) => deflate_params::server_negotiate(&extensions, cfg, backend.min_window_bits())
                .map_err(HandshakeError::DeflateParams)?,
            None => None,
        };
        Ok((key, version, subprotocols, extensions, deflate))
    }

    /// The checks on a request head that come before an application's routing (Node
    /// `shouldHandle`, a path): whether it is an upgrade at all (426), the method (405), the
    /// HTTP version (505), `Host`, `Upgrade`, `Sec-WebSocket-Key` and `Sec-WebSocket-Version`
    /// (400). [`from_http`](Self::from_http) runs them too; a server calls this first so that
    /// its statuses come in Node's order: these, then the path (400), then the offers. The
    /// refusal has not been through a [`client_error`](ServerOptions::client_error) hook (no
    /// options here): pass it to [`ServerOptions::answer_client_error`].
    pub fn check_head(req: &Request<()>) -> Result<(), Rejection> {
        check_head(req).map(drop).map_err(Rejection::from_error)
    }

    /// The request head.
    pub fn request(&self) -> &Request<()> {
        &self.request
    }

    /// The request path, without the query.
    pub fn path(&self) -> &str {
        self.request.uri().path()
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.request.uri().query()
    }

    /// The client's origin: `Origin`, or `Sec-WebSocket-Origin` for version 8 (as in Node `ws`).
    pub fn origin(&self) -> Option<&str> {
        let name = if self.version == 8 { SEC_WEBSOCKET_ORIGIN } else { header::ORIGIN };
        self.request.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The subprotocols the client offered, in its order.
    pub fn subprotocols(&self) -> impl Iterator<Item = &str> {
        self.subprotocols.iter().map(String::as_str)
    }

    /// The extensions the client offered (only permessage-deflate is negotiated, when
    /// [`ServerOptions::per_message_deflate`] is set).
    pub fn extension_offers(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// The protocol version: 13, or 8 for HyBi-07..12 clients.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The client's `Sec-WebSocket-Key`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes received after the head; they are handed to the connection on accept.
    pub fn leftover(&self) -> &Bytes {
        &self.leftover
    }

    /// The server options this request is checked against.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// Applies the [`ServerOptions`] policy in Node `ws`'s order: path (400), origin (403),
    /// `verify_client` (its refusal), subprotocol choice, permessage-deflate (400 for a
    /// malformed offer), `on_headers`. The RFC checks were already done when this request was
    /// built. A refusal for a broken rule (the origin) goes through the
    /// [`client_error`](ServerOptions::client_error) hook; `verify_client`'s does not.
    pub fn negotiate(&self) -> Result<Accept, Rejection> {
        self.apply_policy().map_err(|r| self.options.answer_client_error(&self.request, r))
    }

    fn apply_policy(&self) -> Result<Accept, Rejection> {
        let o = &*self.options;
        if let Some(allowed) = &o.origins {
            let ok = match self.origin() {
                Some(origin) => allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)),
                None => o.allow_missing_origin && self.request.headers().get(self.origin_header()).is_none(),
            };
            if !ok {
                return Err(Rejection::from_error(HandshakeError::OriginNotAllowed));
            }
        }
        if let Some(verify) = &o.verify_client {
            verify(self).map_err(Refusal::into_rejection)?;
        }
        let mut accept = Accept::default();
        if !self.subprotocols.is_empty() {
            let offered: Vec<&str> = self.subprotocols().collect();
            accept.subprotocol = match (&o.handle_protocols, &o.subprotocols) {
                (Some(f), _) => f(&offered, self),
                (None, Some(supported)) => {
                    offered.iter().find(|p| supported.iter().any(|s| s == *p)).map(|p| p.to_string())
                }
                (None, None) => offered.first().map(|p| p.to_string()),
            };
            if let Some(p) = &accept.subprotocol {
                if !h::is_token(p.as_bytes()) {
                    return Err(Rejection::from_error(HandshakeError::InvalidAccept(format!(
                        "handle_protocols chose {p:?}, which is not a token"
                    ))));
                }
            }
        }
        if let Some(p) = &self.deflate {
            accept.extensions = HeaderValue::from_str(&p.header_value()).ok();
            accept.deflate = accept.extensions.as_ref().map(|_| *p);
        }
        if let Some(f) = &o.on_headers {
            f(self, &mut accept.headers);
        }
        Ok(accept)
    }

    fn origin_header(&self) -> HeaderName {
        if self.version == 8 {
            SEC_WEBSOCKET_ORIGIN
        } else {
            header::ORIGIN
        }
    }

    /// Accepts: the returned server [`Connection`] has the `101` response queued ahead of
    /// everything (drain its `poll_transmit`) and already holds the leftover bytes.
    pub fn accept(self, accept: Accept, now: Instant) -> Connection {
        let (_, bytes, mut connection) = self.finish(&accept, now);
        connection.push_raw_output(bytes);
        connection
    }

    /// Accepts for hosts that write the `101` themselves (hyper upgrades): nothing is queued.
    /// The connection already holds the leftover bytes given to [`from_http`](Self::from_http).
    pub fn accept_http(self, accept: Accept, now: Instant) -> (Response<()>, Connection) {
        let (response, _, connection) = self.finish(&accept, now);
        (response, connection)
    }

    /// Refuses with this status (a 1xx one is answered as 500), extra headers and body (the
    /// reason phrase when empty).
    pub fn reject(self, status: StatusCode, headers: HeaderMap, body: Bytes) -> Rejection {
        Rejection::new(status, headers, body)
    }

    /// Builds the 101 (as `http` and as bytes) and the connection holding the leftover.
    fn finish(self, accept: &Accept, now: Instant) -> (Response<()>, Bytes, Connection) {
        let subprotocol = accept.subprotocol.clone().filter(|p| h::is_token(p.as_bytes()));
        let mut map = HeaderMap::with_capacity(4 + accept.headers.len());
        map.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        map.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::try_from(accept_key(self.key.as_bytes())) {
            map.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        if let Some(v) = subprotocol.as_deref().and_then(|p| HeaderValue::from_str(p).ok()) {
            map.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
        }
        if let Some(v) = &accept.extensions {
            map.insert(header::SEC_WEBSOCKET_EXTENSIONS, v.clone());
        }
        for (name, value) in &accept.headers {
            if !is_reserved_101(name) {
                map.append(name.clone(), value.clone());
            }
        }
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
        h::put_headers(&mut out, &map, &[]);
        out.extend_from_slice(b"\r\n");
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *response.headers_mut() = map;
        let extensions = accept.extensions.as_ref().and_then(|v| v.to_str().ok()).map(str::to_owned);
        let deflate = accept.deflate.filter(|_| extensions.is_some());
        let negotiated = Negotiated { subprotocol, extensions, version: self.version, deflate };
        let mut connection = Connection::new(Role::Server, self.config, negotiated, None, now);
        if let Some(local) = &self.options.per_message_deflate {
            connection.set_local_deflate(local);
        }
        if !self.leftover.is_empty() {
            connection.receive(&self.leftover);
        }
        (response, Bytes::from(out), connection)
    }
}

/// Headers of the 101 that belong to the handshake and that the application cannot set.
fn is_reserved_101(name: &HeaderName) -> bool {
    name == header::UPGRADE
        || name == header::CONNECTION
        || name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name.as_str().starts_with("sec-websocket-")
}

/// The RFC 6455 §4.2.1 checks, in Node `ws`'s order. Returns the key, the version, the offered
/// subprotocols and the offered extensions.
#[allow(clippy::type_complexity)]
/// The head checks, in Node's order: a request that is not an upgrade at all (no `Upgrade`
/// header, or no `Connection: upgrade`: Node's HTTP server never hands it to `ws` and answers
/// 426), the method, then the RFC 6455 head. Returns the key and the version.
fn check_head(req: &Request<()>) -> Result<(String, u8), HandshakeError> {
    let headers = req.headers();
    if !headers.contains_key(header::UPGRADE) || !h::has_token(headers, &header::CONNECTION, "upgrade") {
        return Err(HandshakeError::UpgradeRequired);
    }
    if req.method() != Method::GET {
        return Err(HandshakeError::MethodNotGet);
    }
    if req.version() != Version::HTTP_11 {
        return Err(HandshakeError::NotHttp11);
    }
    match h::single(headers, &header::HOST) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(HandshakeError::MissingHost),
        Err(()) => return Err(HandshakeError::Malformed("repeated Host header".into())),
    }
    if !h::has_token(headers, &header::UPGRADE, "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    let key = match h::single(headers, &header::SEC_WEBSOCKET_KEY) {
        Ok(Some(v)) => h::trim_ows(v.as_bytes()),
        _ => return Err(HandshakeError::BadKey),
    };
    // base64 of 16 bytes is always 24 characters; check that before decoding.
    let valid_key =
        key.len() == 24 && base64::engine::general_purpose::STANDARD.decode(key).is_ok_and(|k| k.len() == 16);
    if !valid_key {
        return Err(HandshakeError::BadKey);
    }
    let key = String::from_utf8_lossy(key).into_owned();
    let version = match h::single(headers, &header::SEC_WEBSOCKET_VERSION) {
        Ok(Some(v)) => match h::trim_ows(v.as_bytes()) {
            b"13" => 13,
            b"8" => 8,
            _ => return Err(HandshakeError::UnsupportedVersion),
        },
        _ => return Err(HandshakeError::UnsupportedVersion),
    };
    Ok((key, version))
}

/// The offers, after the routing: `Sec-WebSocket-Protocol`, then `Sec-WebSocket-Extensions`.
fn check_offers(req: &Request<()>) -> Result<(Vec<String>, Vec<ExtensionOffer>), HandshakeError> {
    let headers = req.headers();
    let protocols = headers.get_all(header::SEC_WEBSOCKET_PROTOCOL);
    let subprotocols = if protocols.iter().next().is_some() {
        h::parse_subprotocols(protocols.iter().map(HeaderValue::as_bytes))
            .map_err(|()| HandshakeError::InvalidSubprotocol)?
    } else {
        Vec::new()
    };
    let exts = headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS);
    let extensions = if exts.iter().next().is_some() {
        h::parse_extensions(exts.iter().map(HeaderValue::as_bytes)).map_err(|()| HandshakeError::InvalidExtensions)?
    } else {
        Vec::new()
    };
    Ok((subprotocols, extensions))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::event::{Event, Message};

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    /// A masked text frame "Hi".
    const FRAME: &[u8] = &[0x81, 0x82, 1, 2, 3, 4, b'H' ^ 1, b'i' ^ 2];

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Host", "example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Sec-WebSocket-Version", "13"),
            ("Origin", "http://example.com"),
            ("Sec-WebSocket-Protocol", "chat, superchat"),
        ]
    }

    fn head(line: &str, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut s = format!("{line}\r\n");
        for (n, v) in headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    fn valid() -> Vec<u8> {
        head("GET /chat?x=1 HTTP/1.1", &base())
    }

    /// The base headers with `name` removed, or replaced by `value`.
    fn with(name: &str, value: Option<&'static str>) -> Vec<u8> {
        let mut h = base();
        h.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            let n = base().into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map_or("X", |(n, _)| n);
            let n = if n == "X" { Box::leak(name.to_owned().into_boxed_str()) } else { n };
            h.push((n, v));
        }
        head("GET /chat?x=1 HTTP/1.1", &h)
    }

    fn config() -> Arc<Config> {
        Arc::new(Config::default())
    }

    fn run_with(
        bytes: &[u8],
        config: Arc<Config>,
        options: ServerOptions,
    ) -> Result<Option<UpgradeRequest>, Rejection> {
        let mut hs = ServerHandshake::new(config, Arc::new(options), Instant::now());
        hs.receive(bytes);
        hs.poll_request()
    }

    fn run(bytes: &[u8]) -> Result<Option<UpgradeRequest>, Rejection> {
        run_with(bytes, config(), ServerOptions::default())
    }

    fn ok(bytes: &[u8]) -> UpgradeRequest {
        run(bytes).expect("accepted").expect("complete")
    }

    fn rejected(bytes: &[u8]) -> Rejection {
        match run(bytes) {
            Err(r) => r,
            Ok(r) => panic!("expected a rejection, got {r:?}"),
        }
    }

    /// Parses serialized response bytes: (status, headers, body).
    fn parse_response(bytes: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut slots);
        let n = match res.parse(bytes).unwrap() {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => panic!("partial response"),
        };
        let headers = res
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8(h.value.to_vec()).unwrap()))
            .collect();
        (res.code.unwrap(), headers, bytes[n..].to_vec())
    }

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn drain(conn: &mut Connection) -> Vec<u8> {
        let mut out = Vec::new();
        conn.transmit_into(&mut out);
        out
    }

    #[test]
    fn valid_request_parses() {
        let r = ok(&valid());
        assert_eq!(r.path(), "/chat");
        assert_eq!(r.query(), Some("x=1"));
        assert_eq!(r.request().method(), Method::GET);
        assert_eq!(r.request().uri(), "/chat?x=1");
        assert_eq!(r.request().headers()["host"], "example.com");
        assert_eq!(r.origin(), Some("http://example.com"));
        assert_eq!(r.subprotocols().collect::<Vec<_>>(), ["chat", "superchat"]);
        assert_eq!(r.version(), 13);
        assert_eq!(r.key(), KEY);
        assert!(r.extension_offers().is_empty());
        assert!(r.leftover().is_empty());
    }

    #[test]
    fn status_table() {
        let cases: Vec<(Vec<u8>, u16, HandshakeError)> = vec![
            (head("POST /chat HTTP/1.1", &base()), 405, HandshakeError::MethodNotGet),
            (head("GET /chat HTTP/1.0", &base()), 505, HandshakeError::NotHttp11),
            (head("GET /chat HTTP/2.0", &base()), 505, HandshakeError::NotHttp11),
            (with("Upgrade", None), 426, HandshakeError::UpgradeRequired),
            (with("Upgrade", Some("h2c")), 400, HandshakeError::MissingUpgrade),
            // Without `Connection: upgrade` it is not an upgrade at all (Node's HTTP server).
            (with("Connection", None), 426, HandshakeError::UpgradeRequired),
            (with("Connection", Some("keep-alive")), 426, HandshakeError::UpgradeRequired),
            (with("Host", None), 400, HandshakeError::MissingHost),
            (with("Sec-WebSocket-Key", None), 400, HandshakeError::BadKey),
            // 15 and 17 bytes, 16 bytes unpadded, not base64, non-zero trailing bits.
            (with("Sec-WebSocket-Key", Some("AAAAAAAAAAAAAAAAAAAA")), 400, HandshakeError::BadKey),
            (with("Sec-WebSocket-Key", Some("AAAAAAAAAAAAAAAAAAAAAAA=")), 400, HandshakeError::BadKey),
            (with("Sec-WebSocket-Key", Some("AAAAAAAAAAAAAAAAAAAAAA")), 400, HandshakeError::BadKey),
            (with("Sec-WebSocket-Key", Some("!!!!!!!!!!!!!!!!!!!!!!==")), 400, HandshakeError::BadKey),
            (with("Sec-WebSocket-Key", Some("AAAAAAAAAAAAAAAAAAAAAB==")), 400, HandshakeError::BadKey),
            (with("Sec-WebSocket-Version", None), 400, HandshakeError::UnsupportedVersion),
            (with("Sec-WebSocket-Version", Some("12")), 400, HandshakeError::UnsupportedVersion),
            (with("Sec-WebSocket-Version", Some("13, 8")), 400, HandshakeError::UnsupportedVersion),
            (with("Sec-WebSocket-Protocol", Some("a,,b")), 400, HandshakeError::InvalidSubprotocol),
            (with("Sec-WebSocket-Protocol", Some("a, a")), 400, HandshakeError::InvalidSubprotocol),
            (with("Sec-WebSocket-Protocol", Some("")), 400, HandshakeError::InvalidSubprotocol),
            (with("Sec-WebSocket-Protocol", Some("a b")), 400, HandshakeError::InvalidSubprotocol),
            (with("Sec-WebSocket-Extensions", Some("a; b=")), 400, HandshakeError::InvalidExtensions),
            (with("Sec-WebSocket-Extensions", Some("a,")), 400, HandshakeError::InvalidExtensions),
        ];
        for (bytes, status, error) in cases {
            let r = rejected(&bytes);
            assert_eq!(r.status().as_u16(), status, "{error:?}");
            assert_eq!(r.error.as_ref(), Some(&error));
            let (code, headers, body) = parse_response(r.bytes());
            assert_eq!(code, status);
            assert_eq!(get(&headers, "connection"), Some("close"));
            assert_eq!(get(&headers, "content-type"), Some("text/plain"));
            assert_eq!(get(&headers, "content-length"), Some(body.len().to_string().as_str()));
            assert_eq!(body, error.to_string().as_bytes());
            let extra = match error {
                HandshakeError::MethodNotGet => Some(("allow", "GET")),
                HandshakeError::UpgradeRequired => Some(("upgrade", "websocket")),
                HandshakeError::UnsupportedVersion => Some(("sec-websocket-version", "13, 8")),
                _ => None,
            };
            if let Some((n, v)) = extra {
                assert_eq!(get(&headers, n), Some(v), "{error:?}");
            }
        }
    }

    #[test]
    fn repeated_headers() {
        let mut h = base();
        h.push(("Sec-WebSocket-Key", KEY));
        assert_eq!(rejected(&head("GET / HTTP/1.1", &h)).error, Some(HandshakeError::BadKey));
        let mut h = base();
        h.push(("Sec-WebSocket-Version", "13"));
        assert_eq!(rejected(&head("GET / HTTP/1.1", &h)).error, Some(HandshakeError::UnsupportedVersion));
        let mut h = base();
        h.push(("Host", "other.example"));
        assert_eq!(rejected(&head("GET / HTTP/1.1", &h)).status(), 400);
        // Several Sec-WebSocket-Protocol fields form one list, and duplicates across them fail.
        let mut h = base();
        h.push(("Sec-WebSocket-Protocol", "third"));
        let r = ok(&head("GET / HTTP/1.1", &h));
        assert_eq!(r.subprotocols().collect::<Vec<_>>(), ["chat", "superchat", "third"]);
        h.push(("Sec-WebSocket-Protocol", "chat"));
        assert_eq!(rejected(&head("GET / HTTP/1.1", &h)).error, Some(HandshakeError::InvalidSubprotocol));
    }

    #[test]
    fn lenient_token_forms() {
        let r = ok(&with("Upgrade", Some("WebSocket")));
        assert_eq!(r.version(), 13);
        ok(&with("Connection", Some("UPGRADE")));
        ok(&with("Upgrade", Some("h2c, websocket")));
        ok(&with("Sec-WebSocket-Protocol", None));
        let r = ok(&with("Sec-WebSocket-Extensions", Some("permessage-deflate; client_max_window_bits, x-foo")));
        let offers = r.extension_offers();
        assert_eq!(offers.len(), 2);
        assert_eq!(offers[0].name, "permessage-deflate");
        assert_eq!(offers[0].param("client_max_window_bits"), Some(None));
        assert_eq!(offers[1].name, "x-foo");
    }

    #[test]
    fn malformed_heads() {
        for bad in [&b"\x00\x01\x02\r\n\r\n"[..], b"GET\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", b"\r\n\r\n"]
        {
            let r = rejected(bad);
            assert_eq!(r.status(), 400, "{bad:?}");
            assert!(matches!(r.error, Some(HandshakeError::Malformed(_))), "{:?}", r.error);
        }
    }

    #[test]
    fn version_8_uses_sec_websocket_origin() {
        let mut h = base();
        h.retain(|(n, _)| *n != "Sec-WebSocket-Version" && *n != "Origin");
        h.push(("Sec-WebSocket-Version", "8"));
        h.push(("Sec-WebSocket-Origin", "http://legacy.example"));
        h.push(("Origin", "http://ignored.example"));
        let r = ok(&head("GET / HTTP/1.1", &h));
        assert_eq!(r.version(), 8);
        assert_eq!(r.origin(), Some("http://legacy.example"));
        let o = ServerOptions::default().origins(["http://legacy.example"]);
        let r = run_with(&head("GET / HTTP/1.1", &h), config(), o).unwrap().unwrap();
        let conn = r.negotiate().map(|a| r.accept(a, Instant::now())).unwrap();
        assert_eq!(conn.negotiated().version, 8);
    }

    #[test]
    fn head_size_limit_at_below_above() {
        let bytes = valid();
        let len = bytes.len();
        for (max, accepted) in [(len, true), (len + 1, true), (len - 1, false)] {
            let c = Config::default().max_handshake_size(max);
            let res = run_with(&bytes, Arc::new(c), ServerOptions::default());
            match res {
                Ok(Some(_)) => assert!(accepted, "max {max}"),
                Err(r) => {
                    assert!(!accepted, "max {max}");
                    assert_eq!(r.status(), 431);
                    assert_eq!(r.error, Some(HandshakeError::HeadTooLarge));
                }
                Ok(None) => panic!("incomplete at max {max}"),
            }
        }
        // An endless head is refused as soon as it exceeds the limit, before its end arrives.
        let c = Config::default().max_handshake_size(100);
        let mut hs = ServerHandshake::new(Arc::new(c), Arc::default(), Instant::now());
        hs.receive(&[b'a'; 99]);
        assert!(hs.poll_request().unwrap().is_none());
        hs.receive(b"a");
        assert_eq!(hs.poll_request().unwrap_err().error, Some(HandshakeError::HeadTooLarge));
    }

    #[test]
    fn header_count_limit_at_below_above() {
        let n = base().len();
        for (max, accepted) in [(n, true), (n + 1, true), (n - 1, false)] {
            let c = Config::default().max_headers(max);
            match run_with(&valid(), Arc::new(c), ServerOptions::default()) {
                Ok(Some(_)) => assert!(accepted, "max {max}"),
                Err(r) => {
                    assert!(!accepted, "max {max}");
                    assert_eq!(r.status(), 431);
                    assert_eq!(r.error, Some(HandshakeError::TooManyHeaders));
                }
                Ok(None) => panic!("incomplete"),
            }
        }
        // A huge limit does not allocate a huge header array.
        let c = Config::default().max_headers(usize::MAX);
        assert!(run_with(&valid(), Arc::new(c), ServerOptions::default()).unwrap().is_some());
    }

    #[test]
    fn every_split_gives_the_same_request() {
        let mut bytes = valid();
        bytes.extend_from_slice(FRAME);
        let whole = ok(&bytes);
        for cut in 0..=bytes.len() {
            let mut hs = ServerHandshake::new(config(), Arc::default(), Instant::now());
            hs.receive(&bytes[..cut]);
            let first = hs.poll_request().unwrap();
            hs.receive(&bytes[cut..]);
            let r = match first {
                Some(r) => r,
                None => hs.poll_request().unwrap().expect("complete"),
            };
            assert_eq!(r.request().uri(), whole.request().uri());
            assert_eq!(r.request().headers(), whole.request().headers());
            // Bytes after the head that arrived with it are the leftover; bytes given after the
            // request was returned are the adapter's to hand to the connection.
            let head_len = bytes.len() - FRAME.len();
            let expect_leftover = if cut >= head_len { &bytes[head_len..cut] } else { FRAME };
            assert_eq!(&r.leftover()[..], expect_leftover, "cut {cut}");
        }
        // Byte by byte through recv_slot/commit.
        let mut hs = ServerHandshake::new(config(), Arc::default(), Instant::now());
        let mut got = None;
        for &b in &bytes {
            hs.recv_slot(1)[0] = b;
            hs.commit_received(1);
            if let Some(r) = hs.poll_request().unwrap() {
                got = Some(r);
            }
        }
        let r = got.unwrap();
        assert_eq!(r.request().headers(), whole.request().headers());
        assert!(r.leftover().is_empty(), "the head completes before the frame arrives");
    }

    #[test]
    fn parse_only_when_new_bytes_arrive() {
        let bytes = valid();
        let mut hs = ServerHandshake::new(config(), Arc::default(), Instant::now());
        hs.receive(&bytes[..10]);
        assert!(hs.poll_request().unwrap().is_none());
        assert!(hs.poll_request().unwrap().is_none());
        // An abandoned slot is not data.
        hs.recv_slot(64);
        assert!(hs.poll_request().unwrap().is_none());
        hs.receive(&bytes[10..]);
        assert!(hs.poll_request().unwrap().is_some());
        // Finished: later calls are inert.
        hs.receive(b"more");
        assert!(hs.poll_request().unwrap().is_none());
        assert_eq!(hs.poll_timeout(), None);
    }

    #[test]
    fn leftover_goes_to_the_connection() {
        let mut bytes = valid();
        bytes.extend_from_slice(FRAME);
        let now = Instant::now();
        let r = ok(&bytes);
        assert_eq!(&r.leftover()[..], FRAME);
        let accept = r.negotiate().unwrap();
        let mut conn = r.accept(accept, now);
        let out = drain(&mut conn);
        let (code, headers, rest) = parse_response(&out);
        assert_eq!(code, 101);
        assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
        assert_eq!(get(&headers, "upgrade"), Some("websocket"));
        assert_eq!(get(&headers, "connection"), Some("Upgrade"));
        assert_eq!(get(&headers, "sec-websocket-accept"), Some(ACCEPT));
        assert_eq!(get(&headers, "sec-websocket-protocol"), Some("chat"));
        assert!(rest.is_empty());
        assert_eq!(conn.role(), Role::Server);
        assert_eq!(conn.negotiated().subprotocol.as_deref(), Some("chat"));
        match conn.poll_event(now) {
            Some(Event::Message(Message::Text(t))) => assert_eq!(t, "Hi"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn eof_and_timeout() {
        let now = Instant::now();
        let mut hs = ServerHandshake::new(config(), Arc::default(), now);
        hs.receive(&valid()[..20]);
        assert!(hs.poll_request().unwrap().is_none());
        hs.receive_eof();
        let r = hs.poll_request().unwrap_err();
        assert_eq!(r.error, Some(HandshakeError::UnexpectedEof));
        assert_eq!(r.status(), 400);
        assert!(hs.poll_request().unwrap().is_none());

        // EOF after a complete head still yields the request.
        let mut hs = ServerHandshake::new(config(), Arc::default(), now);
        hs.receive(&valid());
        hs.receive_eof();
        assert!(hs.poll_request().unwrap().is_some());

        let c = Config::default().handshake_timeout(Some(Duration::from_secs(5)));
        let mut hs = ServerHandshake::new(Arc::new(c), Arc::default(), now);
        let deadline = now + Duration::from_secs(5);
        assert_eq!(hs.poll_timeout(), Some(deadline));
        hs.handle_timeout(deadline - Duration::from_millis(1));
        assert!(hs.poll_request().unwrap().is_none());
        hs.handle_timeout(deadline);
        let r = hs.poll_request().unwrap_err();
        assert_eq!(r.error, Some(HandshakeError::Timeout));
        assert_eq!(r.status(), 408);
        assert!(r.bytes().starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
        assert_eq!(hs.poll_timeout(), None);

        let c = Config::default().handshake_timeout(None);
        let hs = ServerHandshake::new(Arc::new(c), Arc::default(), now);
        assert_eq!(hs.poll_timeout(), None);
    }

    #[test]
    fn path_and_origin_policy() {
        let mut o = ServerOptions::default().path("/chat");
        let r = run_with(&valid(), config(), o.clone()).unwrap().unwrap();
        assert!(r.negotiate().is_ok(), "the query is not part of the path");
        o = o.path("/other");
        // The path is checked with the head, before the offers and any verification.
        let rej = run_with(&valid(), config(), o).unwrap_err();
        assert_eq!(rej.status(), 400);
        assert_eq!(rej.error, Some(HandshakeError::PathNotFound));

        let mut o = ServerOptions::default().origins(["https://a.example", "HTTP://EXAMPLE.COM"]);
        let r = run_with(&valid(), config(), o.clone()).unwrap().unwrap();
        assert!(r.negotiate().is_ok(), "origins compare ignoring case");
        let bytes = with("Origin", Some("http://evil.example"));
        let r = run_with(&bytes, config(), o.clone()).unwrap().unwrap();
        let rej = r.negotiate().unwrap_err();
        assert_eq!(rej.status(), 403);
        assert_eq!(rej.error, Some(HandshakeError::OriginNotAllowed));
        let bytes = with("Origin", None);
        let r = run_with(&bytes, config(), o.clone()).unwrap().unwrap();
        assert_eq!(r.negotiate().unwrap_err().status(), 403);
        o = o.allow_missing_origin(true);
        let r = run_with(&bytes, config(), o).unwrap().unwrap();
        assert!(r.negotiate().is_ok());
    }

    #[test]
    fn verify_client_refusal_with_custom_status_headers_and_body() {
        let o = ServerOptions::default().verify_client(|req| {
            if req.request().headers().contains_key("authorization") {
                Ok(())
            } else {
                Err(Refusal::new(StatusCode::FORBIDDEN)
                    .with_header(HeaderName::from_static("retry-after"), HeaderValue::from_static("120"))
                    .with_body("go away"))
            }
        });
        let r = run_with(&valid(), config(), o.clone()).unwrap().unwrap();
        let rej = r.negotiate().unwrap_err();
        assert_eq!(rej.error, None);
        assert_eq!(rej.status(), 403);
        let (code, headers, body) = parse_response(rej.bytes());
        assert_eq!(code, 403);
        assert_eq!(get(&headers, "retry-after"), Some("120"));
        assert_eq!(get(&headers, "connection"), Some("close"));
        assert_eq!(body, b"go away");
        assert_eq!(rej.to_string(), "WebSocket handshake rejected with 403 Forbidden by the application");

        let mut h = base();
        h.push(("Authorization", "Basic eDp5"));
        let r = run_with(&head("GET / HTTP/1.1", &h), config(), o).unwrap().unwrap();
        assert!(r.negotiate().is_ok());

        // A bare refusal is 401 with the reason phrase as body.
        let o = ServerOptions::default().verify_client(|_| Err(Refusal::default()));
        let r = run_with(&valid(), config(), o).unwrap().unwrap();
        let rej = r.negotiate().unwrap_err();
        let (code, _, body) = parse_response(rej.bytes());
        assert_eq!(code, 401);
        assert_eq!(body, b"Unauthorized");
    }

    #[test]
    fn negotiate_order_follows_node() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut o = ServerOptions::default().path("/nope");
        let c = calls.clone();
        o = o.verify_client(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let c = calls.clone();
        o = o.handle_protocols(move |_, _| {
            c.fetch_add(100, Ordering::SeqCst);
            None
        });
        assert_eq!(run_with(&valid(), config(), o.clone()).unwrap_err().error, Some(HandshakeError::PathNotFound));
        assert_eq!(calls.load(Ordering::SeqCst), 0, "path is checked before verify_client");

        // verify_client refusal stops before handle_protocols.
        let mut o = ServerOptions::default();
        let c = calls.clone();
        o = o.verify_client(|_| Err(Refusal::default()));
        o = o.handle_protocols(move |_, _| {
            c.fetch_add(100, Ordering::SeqCst);
            None
        });
        let r = run_with(&valid(), config(), o).unwrap().unwrap();
        assert!(r.negotiate().is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn subprotocol_choice() {
        let choose = |opts: ServerOptions, bytes: &[u8]| {
            let r = run_with(bytes, config(), opts).unwrap().unwrap();
            r.negotiate().unwrap().subprotocol
        };
        // Default: the client's first offer.
        assert_eq!(choose(ServerOptions::default(), &valid()).as_deref(), Some("chat"));
        // With a supported list: the first offer that is supported.
        let o = ServerOptions::default().subprotocols(["superchat", "other"]);
        assert_eq!(choose(o, &valid()).as_deref(), Some("superchat"));
        let o = ServerOptions::default().subprotocols(["other"]);
        assert_eq!(choose(o, &valid()), None);
        // No offers: none.
        assert_eq!(choose(ServerOptions::default(), &with("Sec-WebSocket-Protocol", None)), None);
        // handle_protocols sees the offers and the request.
        let o = ServerOptions::default().handle_protocols(|offers, req| {
            assert_eq!(offers, ["chat", "superchat"]);
            assert_eq!(req.path(), "/chat");
            Some(offers[1].to_owned())
        });
        assert_eq!(choose(o, &valid()).as_deref(), Some("superchat"));
        // It is not called without offers.
        let o = ServerOptions::default().handle_protocols(|_, _| panic!("called without offers"));
        assert_eq!(choose(o, &with("Sec-WebSocket-Protocol", None)), None);
        // A choice that is not a token cannot be sent: 500.
        let o = ServerOptions::default().handle_protocols(|_, _| Some("bad\r\nvalue".into()));
        let r = run_with(&valid(), config(), o).unwrap().unwrap();
        let rej = r.negotiate().unwrap_err();
        assert_eq!(rej.status(), 500);
        assert!(matches!(rej.error, Some(HandshakeError::InvalidAccept(_))));
    }

    #[test]
    fn on_headers_adds_to_the_101() {
        let o = ServerOptions::default().on_headers(|req, headers| {
            headers.insert("set-cookie", HeaderValue::from_str(&format!("path={}", req.path())).unwrap());
            // The handshake's own headers cannot be changed.
            headers.insert("sec-websocket-accept", HeaderValue::from_static("forged"));
            headers.insert("connection", HeaderValue::from_static("close"));
        });
        let r = run_with(&valid(), config(), o).unwrap().unwrap();
        let accept = r.negotiate().unwrap();
        assert_eq!(accept.headers["set-cookie"], "path=/chat");
        let mut conn = r.accept(accept, Instant::now());
        let (_, headers, _) = parse_response(&drain(&mut conn));
        assert_eq!(get(&headers, "set-cookie"), Some("path=/chat"));
        assert_eq!(get(&headers, "sec-websocket-accept"), Some(ACCEPT));
        assert_eq!(get(&headers, "connection"), Some("Upgrade"));
        assert_eq!(headers.iter().filter(|(n, _)| n == "connection").count(), 1);
    }

    #[test]
    fn accept_http_queues_nothing() {
        let mut bytes = valid();
        bytes.extend_from_slice(FRAME);
        let now = Instant::now();
        let r = ok(&bytes);
        let mut accept = Accept::with_subprotocol("superchat");
        accept.headers.insert("x-extra", HeaderValue::from_static("1"));
        let (response, mut conn) = r.accept_http(accept, now);
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.headers()["upgrade"], "websocket");
        assert_eq!(response.headers()["connection"], "Upgrade");
        assert_eq!(response.headers()["sec-websocket-accept"], ACCEPT);
        assert_eq!(response.headers()["sec-websocket-protocol"], "superchat");
        assert_eq!(response.headers()["x-extra"], "1");
        assert!(drain(&mut conn).is_empty());
        assert!(matches!(conn.poll_event(now), Some(Event::Message(_))));
    }

    #[test]
    fn accept_without_subprotocol_and_invalid_manual_choice() {
        let r = ok(&valid());
        let mut conn = r.accept(Accept::with_subprotocol("not a token"), Instant::now());
        let (_, headers, _) = parse_response(&drain(&mut conn));
        assert_eq!(get(&headers, "sec-websocket-protocol"), None);
        assert_eq!(conn.negotiated().subprotocol, None);
        assert_eq!(conn.negotiated().extensions, None);
    }

    #[test]
    fn from_http_validates_and_keeps_leftover() {
        let req = Request::builder()
            .method("GET")
            .uri("/chat?room=1")
            .header("host", "example.com")
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", KEY)
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        let now = Instant::now();
        let r = UpgradeRequest::from_http(&req, Bytes::from_static(FRAME), config(), Arc::default()).unwrap();
        assert_eq!(r.path(), "/chat");
        assert_eq!(r.query(), Some("room=1"));
        let accept = r.negotiate().unwrap();
        assert_eq!(accept.subprotocol, None);
        let mut conn = r.accept(accept, now);
        let (code, headers, _) = parse_response(&drain(&mut conn));
        assert_eq!(code, 101);
        assert_eq!(get(&headers, "sec-websocket-accept"), Some(ACCEPT));
        assert!(matches!(conn.poll_event(now), Some(Event::Message(Message::Text(t))) if t == "Hi"));

        let mut bad = Request::builder().method("GET").uri("/").header("host", "h").body(()).unwrap();
        let rej = UpgradeRequest::from_http(&bad, Bytes::new(), config(), Arc::default()).unwrap_err();
        assert_eq!(rej.status(), 426);
        bad.headers_mut().insert("upgrade", HeaderValue::from_static("websocket"));
        bad.headers_mut().insert("connection", HeaderValue::from_static("Upgrade"));
        *bad.version_mut() = Version::HTTP_2;
        let rej = UpgradeRequest::from_http(&bad, Bytes::new(), config(), Arc::default()).unwrap_err();
        assert_eq!(rej.status(), 505);
    }

    #[test]
    fn reject_builds_the_response() {
        let r = ok(&valid());
        let mut headers = HeaderMap::new();
        headers.insert("location", HeaderValue::from_static("/elsewhere"));
        headers.insert("content-length", HeaderValue::from_static("999"));
        headers.insert("content-type", HeaderValue::from_static("text/html"));
        let rej = r.reject(StatusCode::FOUND, headers, Bytes::from_static(b"<a>moved</a>"));
        assert!(rej.bytes().starts_with(b"HTTP/1.1 302 Found\r\n"));
        let (code, h, body) = parse_response(rej.bytes());
        assert_eq!(code, 302);
        assert_eq!(get(&h, "location"), Some("/elsewhere"));
        assert_eq!(get(&h, "content-type"), Some("text/html"));
        assert_eq!(get(&h, "content-length"), Some("12"));
        assert_eq!(h.iter().filter(|(n, _)| n == "content-length").count(), 1);
        assert_eq!(body, b"<a>moved</a>");
        assert_eq!(rej.response.status(), 302);

        let rej = ok(&valid()).reject(StatusCode::SWITCHING_PROTOCOLS, HeaderMap::new(), Bytes::new());
        assert_eq!(rej.status(), 500);
        let (_, _, body) = parse_response(rej.bytes());
        assert_eq!(body, b"Internal Server Error");

        let rej = Rejection::new(StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), Bytes::new());
        assert_eq!(parse_response(rej.bytes()).2, b"Service Unavailable");
    }

    #[test]
    fn rejection_display_and_source() {
        let r = Rejection::from_error(HandshakeError::BadKey);
        assert_eq!(
            r.to_string(),
            "WebSocket handshake rejected with 400 Bad Request: missing or invalid Sec-WebSocket-Key header"
        );
        let e: &dyn std::error::Error = &r;
        assert_eq!(e.source().unwrap().to_string(), HandshakeError::BadKey.to_string());
        // A status outside the valid range falls back to 500.
        assert_eq!(Rejection::from_error(HandshakeError::BadStatus(42)).status(), 500);
    }

    /// A `client_error` hook that records what it saw and answers 418 with a header and a body,
    /// except for a bad version, for which it keeps the default.
    fn teapot_options(seen: Arc<std::sync::Mutex<Vec<(HandshakeError, String)>>>) -> ServerOptions {
        ServerOptions::default().client_error(move |error, request| {
            seen.lock().unwrap().push((error.clone(), request.uri().to_string()));
            if *error == HandshakeError::UnsupportedVersion {
                return ClientErrorReply::Default;
            }
            let mut response = Response::new(Bytes::from_static(b"no tea"));
            *response.status_mut() = StatusCode::IM_A_TEAPOT;
            response.headers_mut().insert("x-why", HeaderValue::from_static("bad request"));
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
            ClientErrorReply::Replace(response)
        })
    }

    const TEAPOT: &[u8] =
        b"HTTP/1.1 418 I'm a teapot\r\nconnection: close\r\ncontent-length: 6\r\nx-why: bad request\r\n\r\nno tea";

    #[test]
    fn client_error_hook_replaces_or_keeps_the_answer() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let options = teapot_options(seen.clone());
        // Replaced: the hook's response, with only the framing headers ours.
        let r = match run_with(&with("Sec-WebSocket-Key", None), config(), options.clone()) {
            Err(r) => r,
            Ok(r) => panic!("expected a rejection, got {r:?}"),
        };
        assert_eq!(&r.bytes()[..], TEAPOT);
        assert_eq!(r.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(r.error, Some(HandshakeError::BadKey));
        assert_eq!(r.response.headers()["x-why"], "bad request");
        // Kept: the same bytes as without a hook.
        let r = match run_with(&with("Sec-WebSocket-Version", Some("7")), config(), options.clone()) {
            Err(r) => r,
            Ok(r) => panic!("expected a rejection, got {r:?}"),
        };
        assert_eq!(r.bytes(), rejected(&with("Sec-WebSocket-Version", Some("7"))).bytes());
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (HandshakeError::BadKey, "/chat?x=1".to_owned()),
                (HandshakeError::UnsupportedVersion, "/chat?x=1".to_owned())
            ]
        );
        // A rejection goes through the hook once.
        let again = options.answer_client_error(&Request::new(()), r);
        assert_eq!(again.status(), 400);
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn client_error_hook_can_drop_the_connection() {
        let options = ServerOptions::default().client_error(|error, _| match error {
            HandshakeError::BadKey => ClientErrorReply::Drop,
            _ => ClientErrorReply::Default,
        });
        let r = match run_with(&with("Sec-WebSocket-Key", None), config(), options.clone()) {
            Err(r) => r,
            Ok(r) => panic!("expected a rejection, got {r:?}"),
        };
        assert!(r.is_drop());
        // The default answer stays on record, for hosts that must answer anyway.
        assert_eq!(r.status(), 400);
        assert_eq!(r.bytes(), rejected(&with("Sec-WebSocket-Key", None)).bytes());
        assert_eq!(r.error, Some(HandshakeError::BadKey));
        // Applied once: asking again changes nothing.
        let again = options.answer_client_error(&Request::new(()), r);
        assert!(again.is_drop());
        // Other errors, and rejections without a hook, are answered.
        let r = run_with(&with("Sec-WebSocket-Version", Some("7")), config(), options).unwrap_err();
        assert!(!r.is_drop());
        assert!(!rejected(&with("Sec-WebSocket-Key", None)).is_drop());
    }

    #[test]
    fn client_error_hook_scope() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let options = teapot_options(seen.clone()).path("/chat").origins(["http://good.example"]).verify_client(|r| {
            if r.query() == Some("x=1") {
                Err(Refusal::default())
            } else {
                Ok(())
            }
        });
        // A head that cannot be read: no request, no hook.
        let mut hs = ServerHandshake::new(config(), Arc::new(options.clone()), Instant::now());
        hs.receive(b"GET / HTTP/1.1\r\nHost x\r\n\r\n");
        assert_eq!(hs.poll_request().unwrap_err().status(), 400);
        assert!(seen.lock().unwrap().is_empty());
        // The path, from_http and negotiate's origin check go through it.
        let wrong_path = head("GET /other HTTP/1.1", &base());
        assert_eq!(&run_with(&wrong_path, config(), options.clone()).unwrap_err().bytes()[..], TEAPOT);
        let req = run_with(&valid(), config(), options.clone()).unwrap().unwrap();
        assert_eq!(&req.negotiate().unwrap_err().bytes()[..], TEAPOT);
        let from_http = UpgradeRequest::from_http(
            &Request::post("/chat").header("upgrade", "websocket").header("connection", "upgrade").body(()).unwrap(),
            Bytes::new(),
            config(),
            Arc::new(options.clone()),
        );
        assert_eq!(&from_http.unwrap_err().bytes()[..], TEAPOT);
        let errors: Vec<_> = seen.lock().unwrap().iter().map(|(e, _)| e.clone()).collect();
        assert_eq!(
            errors,
            [HandshakeError::PathNotFound, HandshakeError::OriginNotAllowed, HandshakeError::MethodNotGet]
        );
        // verify_client's own refusal and application refusals are not client errors.
        let mut good = base();
        good.retain(|(n, _)| *n != "Origin");
        good.push(("Origin", "http://good.example"));
        let req = run_with(&head("GET /chat?x=1 HTTP/1.1", &good), config(), options.clone()).unwrap().unwrap();
        assert_eq!(req.negotiate().unwrap_err().status(), 401);
        let closing = Rejection::new(StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), Bytes::new());
        assert_eq!(options.answer_client_error(req.request(), closing).status(), 503);
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[test]
    fn from_response_sends_the_response_as_given() {
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = StatusCode::NOT_FOUND;
        response.headers_mut().insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        response.headers_mut().append("set-cookie", HeaderValue::from_static("a=1"));
        response.headers_mut().append("set-cookie", HeaderValue::from_static("b=2"));
        let r = Rejection::from_response(None, response);
        assert_eq!(
            &r.bytes()[..],
            b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n"
        );
        let mut response = Response::new(Bytes::from_static(b"x"));
        *response.status_mut() = StatusCode::CONTINUE;
        assert_eq!(Rejection::from_response(None, response).status(), 500);
    }

    #[test]
    fn options_debug_hides_closures() {
        let o = ServerOptions::default().path("/x").verify_client(|_| Ok(()));
        let s = format!("{o:?}");
        assert!(s.contains("\"/x\"") && s.contains("verify_client: true") && s.contains("on_headers: false"), "{s}");
    }
}
