//! [`ServerCore`]: what every Node-style server holds and decides with, whatever drives it —
//! the settings, the client registry, the closing flag, and the upgrade checks in Node's
//! order — shared by the async `Server` and ws-blocking's, so that the two cannot drift.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ws_proto::http::{HeaderMap, Request, StatusCode};
use ws_proto::{Accept, Bytes, Config, HandshakeError, Rejection, ServerOptions, UpgradeRequest};

use super::clients::{Clients, Reservation, Tracked};
use super::settings::{handles, ServerSettings, ShouldHandleFn};
use super::Shutdown;

/// Extra time a server's shutdown gives the connections beyond their close timeout.
const CLOSE_MARGIN: Duration = Duration::from_secs(1);

/// A server's settings, registry and closing state, and the synchronous part of its upgrade
/// decision. Built from the builder's [`ServerSettings`]; the adapters add their listener,
/// verification and TLS around it.
#[doc(hidden)]
pub struct ServerCore<H: Tracked> {
    /// The connections' settings (after `max_payload`).
    pub config: Arc<Config>,
    /// The handshake policy.
    pub options: Arc<ServerOptions>,
    path: Option<String>,
    should_handle: Option<Arc<ShouldHandleFn>>,
    /// Node `clientTracking`.
    pub tracking: bool,
    /// The tracked connections.
    pub clients: Clients<H>,
    max_connections: Option<usize>,
    /// How shutdown ends the connections.
    pub shutdown: Shutdown,
    /// `TCP_NODELAY` on accepted connections.
    pub nodelay: bool,
    closing: AtomicBool,
}

impl<H: Tracked> fmt::Debug for ServerCore<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCore")
            .field("path", &self.path)
            .field("clients", &self.clients)
            .field("closing", &self.is_closing())
            .finish_non_exhaustive()
    }
}

impl<H: Tracked> ServerCore<H> {
    /// From the builder's settings.
    pub fn new(settings: ServerSettings) -> Self {
        let config = settings.effective_config();
        let ServerSettings {
            options,
            path,
            should_handle,
            client_tracking,
            slow_policy,
            max_connections,
            shutdown,
            nodelay,
            ..
        } = settings;
        Self {
            config,
            options: Arc::new(options),
            path,
            should_handle,
            tracking: client_tracking,
            clients: Clients::new(slow_policy),
            max_connections,
            shutdown,
            nodelay,
            closing: AtomicBool::new(false),
        }
    }

    /// Node `shouldHandle`: the hook when set, else the `path` check.
    pub fn handles(&self, req: &Request<()>) -> bool {
        handles(self.path.as_deref(), self.should_handle.as_deref(), req)
    }

    /// [`handles`](Self::handles) for a request with any body type (hosts routing upgrades
    /// between servers): the path check needs no copy of the head.
    pub fn handles_any<B>(&self, req: &Request<B>) -> bool {
        if self.should_handle.is_none() {
            return self.path.as_deref().map_or(true, |path| req.uri().path() == path);
        }
        let mut head = Request::new(());
        *head.method_mut() = req.method().clone();
        *head.uri_mut() = req.uri().clone();
        *head.version_mut() = req.version();
        *head.headers_mut() = req.headers().clone();
        self.handles(&head)
    }

    /// Whether the server is closing.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Marks the server closing: `true` the first time, `false` if it already was.
    pub fn start_closing(&self) -> bool {
        !self.closing.swap(true, Ordering::AcqRel)
    }

    /// 503 once the server is closing.
    pub fn check_open(&self) -> Result<(), Rejection> {
        if self.is_closing() {
            Err(Rejection::new(StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), Bytes::new()))
        } else {
            Ok(())
        }
    }

    /// The head checks (426, 405, 400), `should_handle` / the path (400), then the offers
    /// (400): Node's order up to verification, which the adapter runs next.
    pub fn prepare(&self, req: &Request<()>, leftover: Bytes) -> Result<UpgradeRequest, Rejection> {
        UpgradeRequest::check_head(req)?;
        if !self.handles(req) {
            return Err(Rejection::from_error(HandshakeError::PathNotFound));
        }
        UpgradeRequest::from_http(req, leftover, self.config.clone(), self.options.clone())
    }

    /// After verification: origins, subprotocol, deflate and `on_headers` (ws-proto's
    /// policy), the closing server (503), then a place under the connection cap (503).
    pub fn finish(&self, upgrade: &UpgradeRequest) -> Result<(Accept, Option<Reservation<H>>), Rejection> {
        let accept = upgrade.negotiate()?;
        self.check_open()?;
        Ok((accept, self.clients.reserve(self.max_connections)?))
    }

    /// Every check in Node's order with a synchronous `verify`, the refusal of a broken rule
    /// going through the `client_error` hook.
    pub fn decide(
        &self,
        req: &Request<()>,
        leftover: Bytes,
        verify: impl FnOnce(&UpgradeRequest) -> Result<(), Rejection>,
    ) -> Result<(UpgradeRequest, Accept, Option<Reservation<H>>), Rejection> {
        let checks = || {
            let upgrade = self.prepare(req, leftover)?;
            verify(&upgrade)?;
            let (accept, reservation) = self.finish(&upgrade)?;
            Ok((upgrade, accept, reservation))
        };
        checks().map_err(|r| self.answer(req, r))
    }

    /// The `client_error` hook's answer to a refused request.
    pub fn answer(&self, req: &Request<()>, refusal: Rejection) -> Rejection {
        self.options.answer_client_error(req, refusal)
    }

    /// How long a shutdown waits for the connections: their close timeout and a margin.
    pub fn close_bound(&self) -> Duration {
        self.config.get_close_timeout().unwrap_or(Duration::ZERO) + CLOSE_MARGIN
    }

    /// Extra time for the connections after [`close_bound`](Self::close_bound) before giving
    /// up on them.
    pub fn close_margin(&self) -> Duration {
        CLOSE_MARGIN
    }

    /// Ends a tracked connection per the shutdown mode (1001, or terminate).
    pub fn end(&self, conn: &H) {
        match self.shutdown {
            Shutdown::Terminate => conn.end(),
            _ => conn.close_with(ws_proto::CloseCode::GOING_AWAY, "server closing"),
        }
    }
}

/// A server's accessors, written once for the async `Server` and ws-blocking's (both keep a
/// [`ServerCore`] at `self.inner.core`).
#[doc(hidden)]
#[macro_export]
macro_rules! server_accessors {
    () => {
        /// The connection settings (after `max_payload`).
        pub fn config(&self) -> &std::sync::Arc<$crate::Config> {
            &self.inner.core.config
        }

        /// The tracked connections (Node `clients`). Always present; empty when client
        /// tracking is off.
        pub fn clients(&self) -> &Clients {
            &self.inner.core.clients
        }

        /// Whether client tracking is on.
        pub fn is_tracking(&self) -> bool {
            self.inner.core.tracking
        }

        /// Whether [`close`](Self::close) was called.
        pub fn is_closing(&self) -> bool {
            self.inner.core.is_closing()
        }

        /// Whether this server handles the request (Node `shouldHandle`): the
        /// `should_handle` hook, else the `path` check, else `true`. For hosts routing
        /// upgrades between several servers.
        pub fn should_handle<B>(&self, req: &$crate::http::Request<B>) -> bool {
            self.inner.core.handles_any(req)
        }
    };
}
