//! [`ServerBuilder`]: the options of Node `new WebSocket.Server(options)`, spelled as
//! ws-async's.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use socket2::{Domain, Socket, Type};
use ws_async::server::{ClientInfo, IntoVerdict, Shutdown, SlowPolicy};
use ws_proto::http::{HeaderMap, Request};
use ws_proto::{Config, DeflateConfig, Refusal, ServerOptions, UpgradeRequest};

use super::clients::Clients;
use super::{Inner, Server};

/// Node's default `backlog`.
const DEFAULT_BACKLOG: u32 = 511;

pub(crate) type ShouldHandleFn = dyn Fn(&Request<()>) -> bool + Send + Sync;
pub(crate) type VerifyFn = dyn Fn(&UpgradeRequest, &ClientInfo) -> Result<(), Refusal> + Send + Sync;

/// Builds a [`Server`]: the options of Node `new WebSocket.Server(options)`, then one of the
/// modes: [`bind`](Self::bind) (`port`), [`serve`](Self::serve) (`server`), their TLS forms
/// [`bind_tls`](Self::bind_tls) and [`serve_tls`](Self::serve_tls), or [`build`](Self::build)
/// (`noServer`).
///
/// The request checks run in Node's order: [`path`](Self::path) /
/// [`should_handle`](Self::should_handle) (400), the RFC 6455 checks, [`origins`](Self::origins)
/// (403), [`verify_client`](Self::verify_client) (401 or the status it chooses),
/// [`handle_protocols`](Self::handle_protocols), permessage-deflate,
/// [`on_headers`](Self::on_headers), then the `101`. The policy is ws-proto's
/// ([`ServerOptions`], [`UpgradeRequest::negotiate`]).
pub struct ServerBuilder {
    config: Arc<Config>,
    max_payload: Option<usize>,
    options: ServerOptions,
    path: Option<String>,
    should_handle: Option<Arc<ShouldHandleFn>>,
    verify: Option<Arc<VerifyFn>>,
    client_tracking: bool,
    slow_policy: SlowPolicy,
    backlog: u32,
    shutdown: Shutdown,
    nodelay: bool,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("max_payload", &self.max_payload)
            .field("path", &self.path)
            .field("verify_client", &self.verify.is_some())
            .field("client_tracking", &self.client_tracking)
            .field("slow_policy", &self.slow_policy)
            .field("backlog", &self.backlog)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
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
            backlog: DEFAULT_BACKLOG,
            shutdown: Shutdown::GoingAway,
            nodelay: true,
        }
    }
}

impl ServerBuilder {
    /// Accept only requests for this path (without the query); others are answered 400 (Node
    /// `path`). This is the default [`should_handle`](Self::should_handle).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Decides whether this server handles a request (Node `shouldHandle`), before any other
    /// check; `false` is answered 400. It replaces the [`path`](Self::path) check.
    pub fn should_handle(mut self, f: impl Fn(&Request<()>) -> bool + Send + Sync + 'static) -> Self {
        self.should_handle = Some(Arc::new(f));
        self
    }

    /// Accepts or refuses each valid request (Node `verifyClient`), after the path, RFC and
    /// origin checks, on the connection's handshake thread. It gets the request (origin,
    /// headers, cookies, query) and the [`ClientInfo`] (remote address, TLS), and returns
    /// `bool` (`false`: 401) or `Result<(), Refusal>` (any status, headers such as
    /// `WWW-Authenticate`, a body).
    pub fn verify_client<F, V>(mut self, f: F) -> Self
    where
        F: Fn(&UpgradeRequest, &ClientInfo) -> V + Send + Sync + 'static,
        V: IntoVerdict,
    {
        self.verify = Some(Arc::new(move |req, info| f(req, info).into_verdict()));
        self
    }

    /// Chooses the subprotocol (Node `handleProtocols`): called with the client's offers and
    /// the request; `None` answers without one. Without it, the first offer in
    /// [`subprotocols`](Self::subprotocols) is chosen, or the client's first offer when that
    /// list is not set.
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

    /// Replaces the [`ServerOptions`] the settings above write into. Call it first: it
    /// discards `handle_protocols`, `subprotocols`, `origins`, `on_headers` and
    /// `per_message_deflate` set before.
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.options = options;
        self
    }

    /// The largest message accepted, in bytes (Node `maxPayload`); a larger one fails the
    /// connection with 1009. Overrides the [`config`](Self::config)'s `max_message_size`.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// The connection settings: limits, keepalive, the close timeout (Node `closeTimeout`),
    /// the handshake timeout.
    pub fn config(mut self, config: Arc<Config>) -> Self {
        self.config = config;
        self
    }

    /// Track connections in [`Server::clients`] (Node `clientTracking`, default `true`): each
    /// tracked connection gets a flusher thread writing what broadcasts queue. When off,
    /// nothing is registered and [`Server::close`] leaves connections alone.
    pub fn client_tracking(mut self, on: bool) -> Self {
        self.client_tracking = on;
        self
    }

    /// What a broadcast does with a client whose output queue is above
    /// `Config::write_high_water` (default [`SlowPolicy::Drop`]; [`SlowPolicy::Close`] closes
    /// it with 1013).
    pub fn slow_client_policy(mut self, policy: SlowPolicy) -> Self {
        self.slow_policy = policy;
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

    fn into_inner(self, tls: Option<TlsConfig>) -> Arc<Inner> {
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
            shutdown: self.shutdown,
            nodelay: self.nodelay,
            tls,
            closing: Default::default(),
            stopped: Default::default(),
        })
    }

    /// A server without a listener (Node `noServer`): upgrades come from streams you accept,
    /// through [`Server::accept_stream`] (then [`Server::track`] to track them).
    pub fn build(self) -> Server {
        Server::new(self.into_inner(None), None)
    }

    /// Binds a listener on `host:port` (Node `port` and `host`; port 0 picks a free one) with
    /// the [`backlog`](Self::backlog) and `SO_REUSEADDR`, and starts accepting on a thread;
    /// each connection's handshake runs on a thread of its own. Returning is Node's
    /// `listening` event; [`Server::local_addr`] is `address()`.
    pub fn bind(self, host: &str, port: u16) -> io::Result<Server> {
        let listener = listen(host, port, self.backlog)?;
        Ok(self.serve(listener))
    }

    /// Accepts WebSocket connections on a listener you already have (Node `server`). Every
    /// connection on it is expected to be a WebSocket upgrade.
    pub fn serve(self, listener: TcpListener) -> Server {
        Server::new(self.into_inner(None), Some(listener))
    }

    /// [`bind`](Self::bind) serving `wss://`: each connection runs the TLS handshake with
    /// `config` (bounded by the handshake timeout) before the WebSocket one;
    /// [`ClientInfo::secure`] is set. Use
    /// [`server_config_with_client_auth_pem`](crate::tls::server_config_with_client_auth_pem)
    /// to require client certificates.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn bind_tls(self, host: &str, port: u16, config: TlsConfig) -> io::Result<Server> {
        let listener = listen(host, port, self.backlog)?;
        Ok(self.serve_tls(listener, config))
    }

    /// [`serve`](Self::serve) serving `wss://` (see [`bind_tls`](Self::bind_tls)).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn serve_tls(self, listener: TcpListener, config: TlsConfig) -> Server {
        Server::new(self.into_inner(Some(config)), Some(listener))
    }
}

/// The server's TLS settings.
#[cfg(feature = "rustls")]
pub(crate) type TlsConfig = Arc<rustls::ServerConfig>;
/// No TLS without the `rustls` feature.
#[cfg(not(feature = "rustls"))]
pub(crate) type TlsConfig = std::convert::Infallible;

/// A listener on the first address of `host:port` that binds.
fn listen(host: &str, port: u16, backlog: u32) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match listen_on(addr, backlog) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, format!("{host:?} did not resolve"))))
}

fn listen_on(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}
