//! [`ServerSettings`]: what every server builder collects (Node `new WebSocket.Server(options)`),
//! without a runtime, and [`server_builder_setters!`](crate::server_builder_setters), the
//! builders' option methods written once for the async `ServerBuilder` and ws-blocking's.

use std::fmt;
use std::sync::Arc;

use ws_proto::http::Request;
use ws_proto::{Config, ServerOptions};

use super::clients::SlowPolicy;
use super::Shutdown;

/// `listen(2)`'s backlog when none is set (Node's default).
pub const DEFAULT_BACKLOG: u32 = 511;

/// Node `shouldHandle`: whether the server takes a request.
pub type ShouldHandleFn = dyn Fn(&Request<()>) -> bool + Send + Sync;

/// The options every server builder collects. Use a builder (`ServerBuilder`); this is the
/// data behind it, with the checks both builders' servers share.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerSettings {
    /// The connections' settings.
    pub config: Arc<Config>,
    /// Node `maxPayload`: replaces the config's message size limit when set.
    pub max_payload: Option<usize>,
    /// The handshake policy (subprotocols, origins, deflate, hooks).
    pub options: ServerOptions,
    /// Node `path`: the only request path taken (without the query).
    pub path: Option<String>,
    /// Node `shouldHandle`: replaces the path check.
    pub should_handle: Option<Arc<ShouldHandleFn>>,
    /// Node `clientTracking`.
    pub client_tracking: bool,
    /// The most connections held at once (tracked ones and upgrades on their way); `None`:
    /// no limit.
    pub max_connections: Option<usize>,
    /// What a broadcast does with a client whose queue is full.
    pub slow_policy: SlowPolicy,
    /// `listen(2)`'s backlog for `bind`.
    pub backlog: u32,
    /// How `close` ends the connections.
    pub shutdown: Shutdown,
    /// `TCP_NODELAY` on accepted connections.
    pub nodelay: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            config: Arc::new(Config::default()),
            max_payload: None,
            options: ServerOptions::default(),
            path: None,
            should_handle: None,
            client_tracking: true,
            max_connections: None,
            slow_policy: SlowPolicy::Drop,
            backlog: DEFAULT_BACKLOG,
            shutdown: Shutdown::GoingAway,
            nodelay: true,
        }
    }
}

impl fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSettings")
            .field("config", &self.config)
            .field("max_payload", &self.max_payload)
            .field("options", &self.options)
            .field("path", &self.path)
            .field("should_handle", &self.should_handle.is_some())
            .field("client_tracking", &self.client_tracking)
            .field("max_connections", &self.max_connections)
            .field("slow_policy", &self.slow_policy)
            .field("backlog", &self.backlog)
            .field("shutdown", &self.shutdown)
            .field("nodelay", &self.nodelay)
            .finish()
    }
}

impl ServerSettings {
    /// The connections' config with [`max_payload`](Self::max_payload) applied.
    pub fn effective_config(&self) -> Arc<Config> {
        match self.max_payload {
            Some(n) => {
                let mut c = (*self.config).clone();
                c = c.max_message_size(Some(n));
                Arc::new(c)
            }
            None => self.config.clone(),
        }
    }

    /// Node `shouldHandle`: the hook when set, else the [`path`](Self::path) check.
    pub fn handles(&self, req: &Request<()>) -> bool {
        handles(self.path.as_deref(), self.should_handle.as_deref(), req)
    }
}

/// Node `shouldHandle`, the one check every server runs: `should_handle` when set, else whether
/// the request's path is `path` (any path without one).
pub fn handles(path: Option<&str>, should_handle: Option<&ShouldHandleFn>, req: &Request<()>) -> bool {
    match (should_handle, path) {
        (Some(f), _) => f(req),
        (None, Some(path)) => req.uri().path() == path,
        (None, None) => true,
    }
}

/// Emits the option methods of a server builder whose `settings` field is a
/// [`ServerSettings`], documented once for every builder.
#[doc(hidden)]
#[macro_export]
macro_rules! server_builder_setters {
    () => {
        /// Accept only requests for this path (without the query); others are answered 400
        /// (Node `path`). This is the default [`should_handle`](Self::should_handle).
        pub fn path(mut self, path: impl Into<String>) -> Self {
            self.settings.path = Some(path.into());
            self
        }

        /// Decides which requests this server takes (Node `shouldHandle`), replacing the
        /// [`path`](Self::path) check; refused requests are answered 400.
        pub fn should_handle(mut self, f: impl Fn(&$crate::http::Request<()>) -> bool + Send + Sync + 'static) -> Self {
            self.settings.should_handle = Some(std::sync::Arc::new(f));
            self
        }

        /// Chooses the subprotocol (Node `handleProtocols`): called with the client's offers
        /// (when there is at least one) and the request; `None` answers without one. Without
        /// it, the first offer in [`subprotocols`](Self::subprotocols) is chosen, or the
        /// client's first offer when that list is not set.
        pub fn handle_protocols(
            mut self,
            f: impl Fn(&[&str], &$crate::UpgradeRequest) -> Option<String> + Send + Sync + 'static,
        ) -> Self {
            self.settings.options = self.settings.options.handle_protocols(f);
            self
        }

        /// The subprotocols this server supports (see
        /// [`handle_protocols`](Self::handle_protocols)).
        pub fn subprotocols<I, S>(mut self, protocols: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.settings.options = self.settings.options.subprotocols(protocols);
            self
        }

        /// Accept only these origins (403 otherwise); see `ServerOptions::origins`.
        pub fn origins<I, S>(mut self, origins: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.settings.options = self.settings.options.origins(origins);
            self
        }

        /// Adds headers to each `101` response (Node's `headers` event), e.g. `Set-Cookie`.
        pub fn on_headers(
            mut self,
            f: impl Fn(&$crate::UpgradeRequest, &mut $crate::http::HeaderMap) + Send + Sync + 'static,
        ) -> Self {
            self.settings.options = self.settings.options.on_headers(f);
            self
        }

        /// Answers invalid upgrade requests (Node's `wsClientError` event): called with the
        /// error and the request head when a request breaks a rule (426, 405, 400 for the
        /// head, the path or the offers, 403, 408), it keeps the default answer
        /// (`ClientErrorReply::Default`), replaces it (`ClientErrorReply::Replace(response)`:
        /// that status, headers and body, with `Connection: close` and `Content-Length`) or
        /// closes the connection without writing anything (`ClientErrorReply::Drop`, Node's
        /// `socket.destroy()`).
        /// `verify_client`'s refusals and the 503 of a closing server are not client errors.
        /// See `ServerOptions::client_error`; [`options`](Self::options) replaces it.
        pub fn client_error(
            mut self,
            f: impl Fn(&$crate::ws_proto::HandshakeError, &$crate::http::Request<()>) -> $crate::ClientErrorReply
                + Send
                + Sync
                + 'static,
        ) -> Self {
            self.settings.options = self.settings.options.client_error(f);
            self
        }

        /// Accept permessage-deflate with these settings (Node `perMessageDeflate`); `None`,
        /// the default as in Node, accepts none.
        pub fn per_message_deflate(mut self, deflate: Option<$crate::DeflateConfig>) -> Self {
            self.settings.options = self.settings.options.per_message_deflate(deflate);
            self
        }

        /// The whole handshake policy at once, replacing what the other handshake methods set.
        pub fn options(mut self, options: $crate::ServerOptions) -> Self {
            self.settings.options = options;
            self
        }

        /// The largest message accepted, in bytes (Node `maxPayload`, default 100 MiB); a
        /// larger one fails the connection with 1009. Overrides the [`config`](Self::config)'s
        /// `max_message_size` whatever the order of the calls.
        pub fn max_payload(mut self, bytes: usize) -> Self {
            self.settings.max_payload = Some(bytes);
            self
        }

        /// The connections' settings (limits, timers, keepalive).
        pub fn config(mut self, config: std::sync::Arc<$crate::Config>) -> Self {
            self.settings.config = config;
            self
        }

        /// Track connections in the server's `clients()` (Node `clientTracking`, default
        /// `true`). When off, nothing is registered and `close` leaves connections alone.
        pub fn client_tracking(mut self, on: bool) -> Self {
            self.settings.client_tracking = on;
            self
        }

        /// The most connections the server holds at once (default: no limit). Counted: the
        /// tracked connections ([`clients`](crate::server::Clients)`.len()`) and the upgrades on
        /// their way to them (accepted and waiting for `accept`). Beyond it, an upgrade request
        /// that passed every other check is answered 503 Service Unavailable (as a closing
        /// server's; not a client error), and a place frees as soon as a tracked connection
        /// ends. `0` refuses every upgrade.
        ///
        /// It needs client tracking (on by default): connections the server does not track
        /// (with `client_tracking(false)`, or upgraded by a method that hands out a plain
        /// `WebSocket`, such as `accept_stream`, and not passed to `track`) are counted only
        /// until they are handed to the application.
        pub fn max_connections(mut self, n: usize) -> Self {
            self.settings.max_connections = Some(n);
            self
        }

        /// What a broadcast does with a client whose queue is full: skip it (the default) or
        /// close it with 1013.
        pub fn slow_client_policy(mut self, policy: $crate::server::SlowPolicy) -> Self {
            self.settings.slow_policy = policy;
            self
        }

        /// The listen backlog for `bind` (Node `backlog`, default 511).
        pub fn backlog(mut self, n: u32) -> Self {
            self.settings.backlog = n;
            self
        }

        /// How `close` ends connected clients: 1001 (default) or terminate.
        pub fn shutdown(mut self, mode: $crate::server::Shutdown) -> Self {
            self.settings.shutdown = mode;
            self
        }

        /// Set `TCP_NODELAY` on accepted connections (default `true`).
        pub fn nodelay(mut self, on: bool) -> Self {
            self.settings.nodelay = on;
            self
        }
    };
}
