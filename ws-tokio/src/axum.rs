//! axum 0.8 integration (feature `axum`): [`WebSocketUpgrade`], an extractor shaped like axum's
//! own, which answers the upgrade with ws-proto's handshake rules ([`ServerOptions`]:
//! subprotocols, permessage-deflate, origins, `verify_client`, `client_error`; [`Config`]:
//! limits and timers) and hands a ws-tokio [`WebSocket`] to the callback.
//!
//! ```no_run
//! use axum::response::Response;
//! use axum::routing::get;
//! use axum::Router;
//! use ws_tokio::axum::WebSocketUpgrade;
//! use ws_tokio::Event;
//!
//! async fn echo(ws: WebSocketUpgrade) -> Response {
//!     ws.protocols(["chat"]).on_upgrade(|mut socket| async move {
//!         while let Some(Ok(Event::Message(msg))) = socket.recv().await {
//!             if socket.send(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/ws", get(echo));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! A request that is not an upgrade at all (no `Upgrade`, or no `Connection: upgrade`) is
//! refused by the extractor with 426, as Node's HTTP server answers it; take
//! `Option<WebSocketUpgrade>` to serve plain HTTP on the same route. Every other check runs in
//! [`on_upgrade`](WebSocketUpgrade::on_upgrade), in Node's order, with the statuses of
//! [`UpgradeRequest`] (405, 400, 403, 401…).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use ::axum::body::Body;
use ::axum::extract::{FromRequestParts, OptionalFromRequestParts};
use ::axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use ws_async::http::header::{HeaderValue, UPGRADE};
use ws_async::http::request::Parts;
use ws_async::http::{HeaderMap, Request, StatusCode};
use ws_async::runtime::Runtime;

use crate::server::rejection_response;
use crate::{Bytes, Config, HandshakeError, Rejection, ServerOptions, Tokio, UpgradeRequest, WebSocket};

/// The stream an upgraded axum (hyper) connection runs over. hyper's `Upgraded` hands back
/// the bytes it read past the request first, so the connection is built with
/// [`WebSocket::from_connection`](ws_async::WebSocket::from_connection).
pub type UpgradedStream = TokioIo<Upgraded>;

/// Extracts a WebSocket upgrade request in an axum handler (like axum's own
/// `WebSocketUpgrade`); [`on_upgrade`](Self::on_upgrade) answers it.
///
/// The handshake uses `Config::default()` and `ServerOptions::default()` (no subprotocol
/// preference, no permessage-deflate, as Node's server) unless [`config`](Self::config),
/// [`options`](Self::options) or [`protocols`](Self::protocols) say otherwise.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    head: Request<()>,
    on_upgrade: Option<OnUpgrade>,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
}

impl WebSocketUpgrade {
    /// The connection's settings (limits, timers, keepalive).
    pub fn config(mut self, config: Arc<Config>) -> Self {
        self.config = config;
        self
    }

    /// The handshake policy (subprotocols, permessage-deflate, origins, hooks), replacing what
    /// [`protocols`](Self::protocols) set.
    pub fn options(mut self, options: Arc<ServerOptions>) -> Self {
        self.options = options;
        self
    }

    /// The subprotocols this route supports (`ServerOptions::subprotocols`): the first the
    /// client offers that is in this list is chosen.
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options = Arc::new((*self.options).clone().subprotocols(protocols));
        self
    }

    /// The request head (path, query, cookies, `X-Forwarded-For`…).
    pub fn request(&self) -> &Request<()> {
        &self.head
    }

    /// Answers the request: runs ws-proto's checks and negotiation, and returns the `101`
    /// (axum sends it, then hyper hands over the connection and `callback` runs in a task of
    /// its own with the `WebSocket`), or the refusal (its status, headers and body, after the
    /// options' `client_error` hook; a `ClientErrorReply::Drop` gets the default answer, as
    /// axum must send a response). Must be called within a tokio runtime.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket<UpgradedStream>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let options = self.options.clone();
        let decided = UpgradeRequest::from_http(&self.head, Bytes::new(), self.config, self.options)
            .and_then(|upgrade| upgrade.negotiate().map(|accept| (upgrade, accept)));
        let (upgrade, accept) = match decided {
            Ok(decided) => decided,
            Err(rejection) => return refuse(&rejection),
        };
        let Some(on_upgrade) = self.on_upgrade else {
            // A valid request on a connection hyper cannot upgrade (served without upgrades).
            let mut headers = HeaderMap::new();
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
            let body = Bytes::from_static(b"this connection cannot be upgraded");
            let rejection = Rejection::new(StatusCode::UPGRADE_REQUIRED, headers, body);
            return refuse(&options.answer_client_error(&self.head, rejection));
        };
        let (response, connection) = upgrade.accept_http(accept, Tokio::now());
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                callback(WebSocket::from_connection(TokioIo::new(upgraded), connection)).await;
            }
        });
        response.map(|()| Body::empty())
    }
}

fn refuse(rejection: &Rejection) -> Response {
    rejection_response(rejection).map(Body::from)
}

/// Why [`WebSocketUpgrade`] could not be extracted: the request is not an upgrade at all. Its
/// response is 426 Upgrade Required with `Upgrade: websocket`.
#[derive(Debug)]
pub struct NotAnUpgrade(Rejection);

impl fmt::Display for NotAnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for NotAnUpgrade {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl IntoResponse for NotAnUpgrade {
    fn into_response(self) -> Response {
        refuse(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = NotAnUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotAnUpgrade> {
        let mut head = Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.uri_mut() = parts.uri.clone();
        *head.version_mut() = parts.version;
        *head.headers_mut() = parts.headers.clone();
        if let Err(rejection) = UpgradeRequest::check_head(&head) {
            if rejection.error == Some(HandshakeError::UpgradeRequired) {
                return Err(NotAnUpgrade(rejection));
            }
        }
        Ok(Self {
            head,
            on_upgrade: parts.extensions.remove::<OnUpgrade>(),
            config: Arc::default(),
            options: Arc::default(),
        })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for WebSocketUpgrade {
    type Rejection = Infallible;

    /// `None` for a request that is not an upgrade at all (plain HTTP on the same route).
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Infallible> {
        Ok(<Self as FromRequestParts<S>>::from_request_parts(parts, state).await.ok())
    }
}
