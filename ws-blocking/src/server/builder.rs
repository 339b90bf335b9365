//! [`ServerBuilder`]: the options of Node `new WebSocket.Server(options)`, spelled as
//! ws-async's.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use socket2::{Domain, Socket, Type};
use ws_async::server::{ClientInfo, IntoVerdict, ServerCore, ServerSettings};
use ws_proto::{Refusal, UpgradeRequest};

use super::{Inner, Server};

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
/// ([`ServerOptions`](crate::ServerOptions), [`UpgradeRequest::negotiate`]).
#[derive(Default)]
pub struct ServerBuilder {
    settings: ServerSettings,
    verify: Option<Arc<VerifyFn>>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("settings", &self.settings)
            .field("verify_client", &self.verify.is_some())
            .finish()
    }
}

impl ServerBuilder {
    ws_async::server_builder_setters!();

    /// `WWW-Authenticate`, a body).
    pub fn verify_client<F, V>(mut self, f: F) -> Self
    where
        F: Fn(&UpgradeRequest, &ClientInfo) -> V + Send + Sync + 'static,
        V: IntoVerdict,
    {
        self.verify = Some(Arc::new(move |req, info| f(req, info).into_verdict()));
        self
    }

    fn into_inner(self, tls: Option<TlsConfig>) -> Arc<Inner> {
        Arc::new(Inner { core: ServerCore::new(self.settings), verify: self.verify, tls, stopped: Default::default() })
    }

    /// A server without a listener (Node `noServer`): upgrades come from streams you accept,
    /// through [`Server::accept_stream`] (then [`Server::track`] to track them).
    pub fn build(self) -> Server {
        Server::new(self.into_inner(None), None, false)
    }

    /// Binds a listener on `host:port` (Node `port` and `host`; port 0 picks a free one) with
    /// the [`backlog`](Self::backlog) and `SO_REUSEADDR`, and starts accepting on a thread;
    /// each connection's handshake runs on a thread of its own. Returning is Node's
    /// `listening` event; [`Server::local_addr`] is `address()`.
    pub fn bind(self, host: &str, port: u16) -> io::Result<Server> {
        let listener = listen(host, port, self.settings.backlog)?;
        Ok(Server::new(self.into_inner(None), Some(listener), false))
    }

    /// Binds a listener on `port` on every address (Node `{ port }` without `host`): the IPv6
    /// wildcard `[::]`, which also takes IPv4 connections where the system allows dual-stack
    /// sockets (Linux's default), else `0.0.0.0`. Otherwise as [`bind`](Self::bind).
    pub fn listen(self, port: u16) -> io::Result<Server> {
        let listener = listen_on(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)), self.settings.backlog)
            .or_else(|_| listen_on(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), self.settings.backlog))?;
        Ok(Server::new(self.into_inner(None), Some(listener), false))
    }

    /// Accepts WebSocket connections on a listener you already have (Node `server`). Every
    /// connection on it is expected to be a WebSocket upgrade. [`Server::close`] hands the
    /// listener back.
    pub fn serve(self, listener: TcpListener) -> Server {
        Server::new(self.into_inner(None), Some(listener), true)
    }

    /// [`bind`](Self::bind) serving `wss://`: each connection runs the TLS handshake with
    /// `config` (bounded by the handshake timeout) before the WebSocket one;
    /// [`ClientInfo::secure`] is set. Use
    /// [`server_config_with_client_auth_pem`](crate::tls::server_config_with_client_auth_pem)
    /// to require client certificates.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn bind_tls(self, host: &str, port: u16, config: TlsConfig) -> io::Result<Server> {
        let listener = listen(host, port, self.settings.backlog)?;
        Ok(Server::new(self.into_inner(Some(config)), Some(listener), false))
    }

    /// [`serve`](Self::serve) serving `wss://` (see [`bind_tls`](Self::bind_tls)).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn serve_tls(self, listener: TcpListener, config: TlsConfig) -> Server {
        Server::new(self.into_inner(Some(config)), Some(listener), true)
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
