//! [`ServerBuilder`]: the options of Node `new WebSocket.Server(options)`.

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use ws_proto::{Refusal, UpgradeRequest};

use super::server_core::ServerCore;
use super::settings::ServerSettings;
use super::{ClientInfo, Inner, Server};
use crate::runtime::Net;

/// Default per-client queue size (commands and events) for tracked connections.
const DEFAULT_QUEUE: usize = 64;

/// The future an asynchronous `verify_client` returns.
pub type VerifyFuture = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

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

/// How [`Server::shutdown`] ends the tracked connections.
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
    settings: ServerSettings,
    verify: Option<Verify>,
    queue: usize,
    _runtime: PhantomData<fn() -> R>,
}

impl<R: Net> fmt::Debug for ServerBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("settings", &self.settings)
            .field("verify_client", &self.verify.is_some())
            .field("queue", &self.queue)
            .finish()
    }
}

impl<R: Net> Default for ServerBuilder<R> {
    fn default() -> Self {
        Self { settings: ServerSettings::default(), verify: None, queue: DEFAULT_QUEUE, _runtime: PhantomData }
    }
}

impl<R: Net> ServerBuilder<R> {
    crate::server_builder_setters!();

    /// Replaces an earlier `verify_client` or [`verify_client_async`](Self::verify_client_async).
    pub fn verify_client<F, V>(mut self, f: F) -> Self
    where
        F: Fn(&UpgradeRequest, &ClientInfo) -> V + Send + Sync + 'static,
        V: IntoVerdict,
    {
        self.verify = Some(Verify::Sync(Arc::new(move |req, info| f(req, info).into_verdict())));
        self
    }

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

    /// this many messages wait behind its socket.
    pub fn handle_queue(mut self, n: usize) -> Self {
        self.queue = n.max(1);
        self
    }

    fn into_inner(self, tls: Option<TlsConfig>) -> Arc<Inner> {
        Arc::new(Inner {
            core: ServerCore::new(self.settings.clone()),
            verify: self.verify,
            queue: self.queue,
            tls,
            closed: Default::default(),
        })
    }

    /// A server without a listener (Node `noServer`): upgrades come from another HTTP stack
    /// through [`Server::handle_upgrade`], [`Server::respond`] or [`Server::accept_stream`].
    pub fn build(self) -> Server<R> {
        Server::new(self.into_inner(None), None, false)
    }

    /// Binds a listener on `host:port` (Node `port` and `host`; port 0 picks a free one) with
    /// the [`backlog`](Self::backlog) and `SO_REUSEADDR`, and starts accepting in a task (must
    /// be called within the runtime). Returning is Node's `listening` event;
    /// [`Server::local_addr`] is `address()`. `host` is resolved and the first address that
    /// binds is used.
    pub async fn bind(self, host: &str, port: u16) -> io::Result<Server<R>> {
        let mut last = None;
        for addr in R::resolve(host.to_owned(), port).await? {
            match R::bind(addr, self.settings.backlog) {
                Ok(listener) => return Ok(Server::new(self.into_inner(None), Some(listener), false)),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, format!("{host:?} did not resolve"))))
    }

    /// Binds a listener on `port` on every address (Node `{ port }` without `host`): the IPv6
    /// wildcard `[::]`, which also takes IPv4 connections where the system allows dual-stack
    /// sockets (Linux's default), else `0.0.0.0`. Otherwise as [`bind`](Self::bind).
    pub async fn listen(self, port: u16) -> io::Result<Server<R>> {
        let any_v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        let listener = match R::bind(any_v6, self.settings.backlog) {
            Ok(listener) => listener,
            Err(_) => R::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), self.settings.backlog)?,
        };
        Ok(Server::new(self.into_inner(None), Some(listener), false))
    }

    /// Accepts WebSocket connections on a listener you already have (Node `server`); starts
    /// accepting in a task (must be called within the runtime). Every connection on it is
    /// expected to be a WebSocket upgrade: to share a port with plain HTTP, run an HTTP server
    /// and use [`build`](Self::build) with [`Server::respond`] or [`Server::handle_upgrade`].
    /// [`Server::close`] hands the listener back.
    pub fn serve(self, listener: R::Listener) -> Server<R> {
        Server::new(self.into_inner(None), Some(listener), true)
    }

    /// [`bind`](Self::bind) serving `wss://` (Node `{ server: https.createServer(..) }`): each
    /// connection runs the TLS handshake with `config` (bounded by the handshake timeout) in
    /// its handshake task, then the WebSocket one; [`ClientInfo::secure`] is set, and
    /// [`Server::accept_websocket`]'s stream is the binding's `ServerStream::Tls`. Build
    /// `config` with `tls::server_config_from_pem` (or
    /// `tls::server_config_with_client_auth_pem` to require client certificates).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub async fn bind_tls(self, host: &str, port: u16, config: Arc<rustls::ServerConfig>) -> io::Result<Server<R>> {
        let mut last = None;
        for addr in R::resolve(host.to_owned(), port).await? {
            match R::bind(addr, self.settings.backlog) {
                Ok(listener) => return Ok(Server::new(self.into_inner(Some(config)), Some(listener), false)),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, format!("{host:?} did not resolve"))))
    }

    /// [`serve`](Self::serve) serving `wss://` (see [`bind_tls`](Self::bind_tls)).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn serve_tls(self, listener: R::Listener, config: Arc<rustls::ServerConfig>) -> Server<R> {
        Server::new(self.into_inner(Some(config)), Some(listener), true)
    }
}

/// The TLS settings of a `bind_tls` / `serve_tls` server.
#[cfg(feature = "rustls")]
pub(crate) type TlsConfig = Arc<rustls::ServerConfig>;
/// No TLS without the `rustls` feature.
#[cfg(not(feature = "rustls"))]
pub(crate) type TlsConfig = std::convert::Infallible;
