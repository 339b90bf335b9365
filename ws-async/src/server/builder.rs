//! [`ServerBuilder`]: the options of Node `new WebSocket.Server(options)`.

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use ws_proto::http::{HeaderMap, Request};
use ws_proto::{Config, DeflateConfig, Refusal, ServerOptions, UpgradeRequest};

use super::clients::{Clients, SlowPolicy};
use super::{ClientInfo, Inner, Server};
use crate::runtime::Net;

/// Node's default `backlog`.
const DEFAULT_BACKLOG: u32 = 511;
/// Default per-client queue size (commands and events) for tracked connections.
const DEFAULT_QUEUE: usize = 64;

/// The future an asynchronous `verify_client` returns.
pub type VerifyFuture = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

pub(crate) type ShouldHandleFn = dyn Fn(&Request<()>) -> bool + Send + Sync;
type SyncVerifyFn = dyn Fn(&UpgradeRequest, &ClientInfo) -> Result<(), Refusal> + Send + Sync;
type AsyncVerifyFn = dyn Fn(&UpgradeRequest, &ClientInfo) -> VerifyFuture + Send + Sync;

/// A `verify_client` hook.
#[derive(Clone)]
pub(crate) enum Verify {
    Sync(Arc<SyncVerifyFn>),
    Async(Arc<AsyncVerifyFn>),
}

/// What `verify_client` may return: `bool` (Node's `verifyClient` returning `false` refuses
/// with 401) or `Result<(), Refusal>` (Node's `cb(false, code, message, headers)`: a
/// [`Refusal`] carries the status, headers and body; `Refusal::default()` is 401).
pub trait IntoVerdict {
    /// `Ok(())` accepts; `Err` refuses with that response.
    fn into_verdict(self) -> Result<(), Refusal>;
}

impl IntoVerdict for bool {
    fn into_verdict(self) -> Result<(), Refusal> {
        if self {
            Ok(())
        } else {
            Err(Refusal::default())
        }
    }
}

impl IntoVerdict for Result<(), Refusal> {
    fn into_verdict(self) -> Result<(), Refusal> {
        self
    }
}

/// How [`Server::close`] ends the tracked connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shutdown {
    /// The closing handshake with 1001 Going Away, after what each client already has queued
    /// (ahead of it when its queue is full); the close timeout bounds each.
    #[default]
    GoingAway,
    /// Drop every connection at once without a closing handshake (Node `terminate()`, what
    /// Node 7's `server.close()` did).
    Terminate,
}

/// Builds a [`Server`]: the options of Node `new WebSocket.Server(options)`, then one of the
/// modes: [`bind`](Self::bind) (`port`), [`serve`](Self::serve) (`server`) or
/// [`build`](Self::build) (`noServer`).
///
/// The request checks run in Node's order: [`path`](Self::path) /
/// [`should_handle`](Self::should_handle) (400), the RFC 6455 checks, [`origins`](Self::origins)
/// (403), [`verify_client`](Self::verify_client) (401 or the status it chooses),
/// [`handle_protocols`](Self::handle_protocols), permessage-deflate, [`on_headers`](Self::on_headers),
/// then the `101`.
pub struct ServerBuilder<R: Net> {
    config: Arc<Config>,
    max_payload: Option<usize>,
    options: ServerOptions,
    path: Option<String>,
    should_handle: Option<Arc<ShouldHandleFn>>,
    verify: Option<Verify>,
    client_tracking: bool,
    slow_policy: SlowPolicy,
    queue: usize,
    backlog: u32,
    shutdown: Shutdown,
    nodelay: bool,
    _runtime: PhantomData<fn() -> R>,
}

impl<R: Net> fmt::Debug for ServerBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("max_payload", &self.max_payload)
            .field("options", &self.options)
            .field("path", &self.path)
            .field("should_handle", &self.should_handle.is_some())
            .field("verify_client", &self.verify.is_some())
            .field("client_tracking", &self.client_tracking)
            .field("slow_policy", &self.slow_policy)
            .field("queue", &self.queue)
            .field("backlog", &self.backlog)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl<R: Net> Default for ServerBuilder<R> {
    fn default() -> Self {
        Self {
            config: Arc::new(Config::default()),
            max_payload: None,
            options: ServerOptions::default(),
            path: None,
            should_handle: None,
            verify: None,
            client_tracking: true,
            slow_policy: SlowPolicy::Drop,
            queue: DEFAULT_QUEUE,
            backlog: DEFAULT_BACKLOG,
            shutdown: Shutdown::GoingAway,
            nodelay: true,
            _runtime: PhantomData,
        }
    }
}

impl<R: Net> ServerBuilder<R> {
    /// Accept only requests for this path (without the query); others are answered 400 (Node
    /// `path`). This is the default [`should_handle`](Self::should_handle).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Decides whether this server handles a request (Node `shouldHandle`), before any other
    /// check; `false` is answered 400. It replaces the default, the [`path`](Self::path) check,
    /// as overriding Node's method does. [`Server::should_handle`] calls it, so a host
    /// routing upgrades between several servers can ask each one.
    pub fn should_handle(mut self, f: impl Fn(&Request<()>) -> bool + Send + Sync + 'static) -> Self {
        self.should_handle = Some(Arc::new(f));
        self
    }

    /// Accepts or refuses each valid request (Node `verifyClient` without a callback), after
    /// the path, RFC and origin checks. It gets the request (origin, headers, cookies, query)
    /// and the [`ClientInfo`] (remote address, TLS), and returns `bool` (`false`: 401) or
    /// `Result<(), Refusal>` (any status, headers such as `WWW-Authenticate`, a body).
    /// Replaces an earlier `verify_client` or [`verify_client_async`](Self::verify_client_async).
    pub fn verify_client<F, V>(mut self, f: F) -> Self
    where
        F: Fn(&UpgradeRequest, &ClientInfo) -> V + Send + Sync + 'static,
        V: IntoVerdict,
    {
        self.verify = Some(Verify::Sync(Arc::new(move |req, info| f(req, info).into_verdict())));
        self
    }

    /// [`verify_client`](Self::verify_client) returning a future (Node `verifyClient` with a
    /// callback), e.g. to look a token up in a database. The future cannot borrow the request:
    /// clone what it needs first. `Config::handshake_timeout` bounds it; when it expires the
    /// client is answered 408.
    pub fn verify_client_async<F, Fut, V>(mut self, f: F) -> Self
    where
        F: Fn(&UpgradeRequest, &ClientInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = V> + Send + 'static,
        V: IntoVerdict,
    {
        let f = Arc::new(f);
        self.verify = Some(Verify::Async(Arc::new(move |req, info| {
            let fut = f(req, info);
            Box::pin(async move { fut.await.into_verdict() })
        })));
        self
    }

    /// Chooses the subprotocol (Node `handleProtocols`): called with the client's offers
    /// (when there is at least one) and the request; `None` answers without one. Without it,
    /// the first offer in [`subprotocols`](Self::subprotocols) is chosen, or the client's
    /// first offer when that list is not set.
    pub fn handle_protocols(
        mut self,
        f: impl Fn(&[&str], &UpgradeRequest) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.options.handle_protocols(f);
        self
    }

    /// The subprotocols this server supports (see [`handle_protocols`](Self::handle_protocols)).
    pub fn subprotocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.subprotocols(protocols);
        self
    }

    /// Accept only these origins (403 otherwise); see [`ServerOptions::origins`].
    pub fn origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.origins(origins);
        self
    }

    /// Adds headers to each `101` response (Node's `headers` event), e.g. `Set-Cookie`.
    pub fn on_headers(mut self, f: impl Fn(&UpgradeRequest, &mut HeaderMap) + Send + Sync + 'static) -> Self {
        self.options.on_headers(f);
        self
    }

    /// Accept permessage-deflate with these settings (Node `perMessageDeflate`); `None`, the
    /// default as in Node, accepts none.
    pub fn per_message_deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.options.per_message_deflate(deflate);
        self
    }

    /// Replaces the [`ServerOptions`] the settings above write into (for options not mirrored
    /// here). Call it first: it discards `handle_protocols`, `subprotocols`, `origins`,
    /// `on_headers` and `per_message_deflate` set before.
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.options = options;
        self
    }

    /// The largest message accepted, in bytes (Node `maxPayload`, default 100 MiB); a larger
    /// one fails the connection with 1009. Overrides the [`config`](Self::config)'s
    /// `max_message_size` whatever the order of the calls.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// The connection settings: limits, keepalive (`Config::keep_alive`, the heartbeat), the
    /// close timeout (Node `closeTimeout`), the handshake timeout.
    pub fn config(mut self, config: Arc<Config>) -> Self {
        self.config = config;
        self
    }

    /// Track connections in [`Server::clients`] (Node `clientTracking`, default `true`). When
    /// off, [`Server::accept`] and [`Server::track`] still run connections in driver mode, but
    /// nothing is registered and [`Server::close`] leaves them alone.
    pub fn client_tracking(mut self, on: bool) -> Self {
        self.client_tracking = on;
        self
    }

    /// What a broadcast does with a client whose queue is full (default
    /// [`SlowPolicy::Drop`]).
    pub fn slow_client_policy(mut self, policy: SlowPolicy) -> Self {
        self.slow_policy = policy;
        self
    }

    /// The per-connection queue size for connections run in driver mode (commands to send and
    /// events received; default 64, at least 1). A broadcast finds a client's queue full once
    /// this many messages wait behind its socket.
    pub fn handle_queue(mut self, n: usize) -> Self {
        self.queue = n.max(1);
        self
    }

    /// The listen backlog for [`bind`](Self::bind) (Node `backlog`, default 511).
    pub fn backlog(mut self, n: u32) -> Self {
        self.backlog = n;
        self
    }

    /// How [`Server::close`] ends the tracked connections (default 1001 Going Away).
    pub fn shutdown(mut self, mode: Shutdown) -> Self {
        self.shutdown = mode;
        self
    }

    /// Set `TCP_NODELAY` on accepted connections (default `true`).
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }

    fn into_inner(self) -> Arc<Inner> {
        let config = match self.max_payload {
            Some(n) => {
                let mut c = (*self.config).clone();
                c.max_message_size(Some(n));
                Arc::new(c)
            }
            None => self.config,
        };
        Arc::new(Inner {
            config,
            options: Arc::new(self.options),
            path: self.path,
            should_handle: self.should_handle,
            verify: self.verify,
            tracking: self.client_tracking,
            clients: Clients::new(self.slow_policy),
            queue: self.queue,
            shutdown: self.shutdown,
            nodelay: self.nodelay,
            closing: Default::default(),
            closed: Default::default(),
        })
    }

    /// A server without a listener (Node `noServer`): upgrades come from another HTTP stack
    /// through [`Server::handle_upgrade`], [`Server::respond`] or [`Server::accept_stream`].
    pub fn build(self) -> Server<R> {
        Server::new(self.into_inner(), None)
    }

    /// Binds a listener on `host:port` (Node `port` and `host`; port 0 picks a free one) with
    /// the [`backlog`](Self::backlog) and `SO_REUSEADDR`, and starts accepting in a task (must
    /// be called within the runtime). Returning is Node's `listening` event;
    /// [`Server::local_addr`] is `address()`. `host` is resolved and the first address that
    /// binds is used.
    pub async fn bind(self, host: &str, port: u16) -> io::Result<Server<R>> {
        let mut last = None;
        for addr in R::resolve(host.to_owned(), port).await? {
            match R::bind(addr, self.backlog) {
                Ok(listener) => return Ok(self.serve(listener)),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, format!("{host:?} did not resolve"))))
    }

    /// Accepts WebSocket connections on a listener you already have (Node `server`); starts
    /// accepting in a task (must be called within the runtime). Every connection on it is
    /// expected to be a WebSocket upgrade: to share a port with plain HTTP, run an HTTP server
    /// and use [`build`](Self::build) with [`Server::respond`] or [`Server::handle_upgrade`].
    pub fn serve(self, listener: R::Listener) -> Server<R> {
        Server::new(self.into_inner(), Some(listener))
    }
}
