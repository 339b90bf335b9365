//! A WebSocket server modelled on Node `ws`'s `WebSocket.Server` (feature `server`), over std
//! threads: a thread accepts, each connection's handshake runs on a thread of its own, and
//! the application drives each connection on a thread of its own.
//!
//! All protocol policy lives in ws-proto ([`ServerOptions`](crate::ServerOptions),
//! [`UpgradeRequest`]); this module adds the listener, the order of the checks, client
//! tracking with encode-once broadcast, and shutdown. The option and report types ([`ClientInfo`], [`SlowPolicy`], [`Shutdown`],
//! [`BroadcastReport`], [`ServerError`]…) are ws-async's, shared with the async bindings.
//!
//! ```no_run
//! use ws_blocking::server::Server;
//! use ws_blocking::Message;
//!
//! let server = Server::builder().path("/chat").bind("127.0.0.1", 8080)?; // 'listening'
//! println!("listening on {:?}", server.local_addr());
//! while let Ok(mut conn) = server.accept() {
//!     // 'connection': the request is there for cookies, X-Forwarded-For…
//!     let clients = server.clients().clone();
//!     std::thread::spawn(move || {
//!         while let Some(Ok(msg)) = conn.ws.recv_message() {
//!             clients.broadcast_message(msg); // to every client, framed once
//!         }
//!     });
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | Node | here |
//! |---|---|
//! | `new WebSocket.Server({ port, host, backlog })` | [`ServerBuilder::bind`] ([`ServerBuilder::bind_tls`] for `wss://`) |
//! | `new WebSocket.Server({ server })` | [`ServerBuilder::serve`] on your `TcpListener` ([`ServerBuilder::serve_tls`]) |
//! | `new WebSocket.Server({ noServer: true })` | [`ServerBuilder::build`] + [`Server::accept_stream`] on streams you accepted |
//! | `connection (ws, req)` event | [`Server::accept`] returns a [`ServerConnection`] with the request |
//! | `wss.address()` | [`Server::local_addr`] |
//! | `wss.clients` | [`Server::clients`] |
//! | `wss.close(cb)` | [`Server::close`] (returns when every tracked client is gone) |
//! | `wsClientError` event | [`ServerBuilder::client_error`]: keeps or replaces the answer to an invalid upgrade request, or drops the connection without one |
//!
//! With client tracking on (the default) each connection's `WebSocket` shares its
//! `Connection` with [`Server::clients`], and a flusher thread per connection writes what
//! broadcasts queue, so a broadcast never waits for a socket. Dropping the `WebSocket` ends
//! the connection.

mod builder;
mod clients;

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use ws_proto::http::Request;
use ws_proto::{Accept, Bytes, CloseCode, Rejection, UpgradeRequest};

pub use builder::ServerBuilder;
pub(crate) use clients::{offer_to, Conn};
pub use clients::{ClientHandle, ClientId, Clients};
pub use ws_async::server::{
    forwarded_for, rejection_response, BroadcastReport, ClientInfo, IntoVerdict, ServerError, Shutdown, SlowPolicy,
};
use ws_async::server::{Reservation, ServerCore};

use crate::accept::{read_head, reject, write_101};
use crate::driver::Io;
#[cfg(unix)]
use crate::reactor::{Handler, Reactor};
use crate::split::ReadHalf;
use crate::transport::{ServerStream, Transport, TryClone};
use crate::websocket::{Core, WebSocket};
use crate::AcceptError;
use builder::{TlsConfig, VerifyFn};

/// Pause after a listener error, so that running out of file descriptors does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A connection from [`Server::accept`] or [`Server::track`] (Node's `connection` event):
/// drive [`ws`](Self::ws) on a thread of its own.
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerConnection<S: Write + Transport = ServerStream> {
    /// Its id in [`Server::clients`] (for [`Clients::broadcast_except`]).
    pub id: ClientId,
    /// The connection; with client tracking on, shared with [`Server::clients`].
    pub ws: WebSocket<S>,
    /// Its addresses and whether it is encrypted.
    pub info: ClientInfo,
    /// Its upgrade request (path, query, cookies, `X-Forwarded-For`…).
    pub request: Request<()>,
}

/// A connection [`Server::drive_on`] hands to a reactor (Node's `connection` event), for the
/// application to make its handler from.
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
#[derive(Debug)]
#[non_exhaustive]
pub struct DrivenConnection {
    /// Its id in [`Server::clients`] (for [`Clients::broadcast_except`]).
    pub id: ClientId,
    /// Sends to it, from the handler or any thread (the handler gets a clone too).
    pub handle: crate::WsHandle,
    /// Its addresses and whether it is encrypted.
    pub info: ClientInfo,
    /// Its upgrade request (path, query, cookies, `X-Forwarded-For`…).
    pub request: Request<()>,
}

/// A plain [`WebSocket`] upgraded by [`Server::accept_stream`], with what the handshake saw.
#[derive(Debug)]
#[non_exhaustive]
pub struct Accepted<S: Write + Transport> {
    /// The connection.
    pub ws: WebSocket<S>,
    /// Its addresses and whether it is encrypted.
    pub info: ClientInfo,
    /// Its upgrade request.
    pub request: Request<()>,
    /// Its place under [`ServerBuilder::max_connections`], until it is tracked or handed out.
    reservation: Option<Reservation<ClientHandle>>,
}

/// What [`Server::accept`] waits for.
enum Incoming {
    Upgraded(Box<Accepted<ServerStream>>),
    Failed(io::Error),
    /// Wakes a waiting `accept` (the server is closing).
    Wake,
}

/// The listener side of a server.
struct Listener {
    rx: Mutex<Receiver<Incoming>>,
    tx: Sender<Incoming>,
    addr: SocketAddr,
    /// The accept thread, which returns the listener when it stops.
    thread: Mutex<Option<thread::JoinHandle<TcpListener>>>,
    /// The application passed the listener in ([`ServerBuilder::serve`]): `close` hands it
    /// back (Node leaves a pre-created server alone).
    give_back: bool,
}

/// A WebSocket server (Node `WebSocket.Server`); see the [module documentation](self).
///
/// Build one with [`Server::builder`]. Methods take `&self`: share it in an `Arc`. Dropping
/// it stops the listener; connections already accepted keep running.
pub struct Server {
    inner: Arc<Inner>,
    listener: Option<Listener>,
}

/// What the handshake threads share with the server.
pub(crate) struct Inner {
    /// Settings, registry, closing state and the upgrade checks (ws-async's, shared with the
    /// async servers).
    core: ServerCore<ClientHandle>,
    verify: Option<Arc<VerifyFn>>,
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    tls: Option<TlsConfig>,
    /// The accept thread must stop (the server closed or was dropped).
    stopped: AtomicBool,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr())
            .field("core", &self.inner.core)
            .finish_non_exhaustive()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_listener();
    }
}

impl Server {
    /// Starts building a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    fn new(inner: Arc<Inner>, listener: Option<TcpListener>, give_back: bool) -> Self {
        let listener = listener.and_then(|listener| {
            let addr = listener.local_addr().ok()?;
            let (tx, rx) = mpsc::channel();
            let (inner, tx2) = (inner.clone(), tx.clone());
            let thread = thread::Builder::new()
                .name("ws-blocking accept".into())
                .spawn(move || {
                    accept_loop(&listener, &inner, &tx2);
                    listener
                })
                .ok()?;
            Some(Listener { rx: Mutex::new(rx), tx, addr, thread: Mutex::new(Some(thread)), give_back })
        });
        Self { inner, listener }
    }

    /// The address the listener is bound to (Node `address()`); `None` without a listener
    /// and once the server is closed.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().map(|l| l.addr).filter(|_| !self.is_closing())
    }

    ws_async::server_accessors!();

    /// Blocks until the next upgraded connection (Node's `connection` event); with client
    /// tracking on it is added to [`clients`](Self::clients). Failed handshakes are answered
    /// (400, 401, 403, 408…) and dropped on their own threads.
    ///
    /// [`ServerError::Listener`] reports a listener error (the server keeps listening);
    /// [`ServerError::Closed`] comes once the server is closed, [`ServerError::NoListener`]
    /// without a listener ([`ServerBuilder::build`]).
    pub fn accept(&self) -> Result<ServerConnection, ServerError> {
        let Accepted { ws, info, request, reservation } = self.next_upgraded()?;
        Ok(self.track_reserved(ws, info, request, reservation))
    }

    /// The next upgraded connection from the listener.
    fn next_upgraded(&self) -> Result<Accepted<ServerStream>, ServerError> {
        let listener = self.listener.as_ref().ok_or(ServerError::NoListener)?;
        let rx = listener.rx.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.is_closing() {
                return Err(ServerError::Closed);
            }
            match rx.recv() {
                Ok(Incoming::Upgraded(a)) if !self.is_closing() => return Ok(*a),
                Ok(Incoming::Upgraded(a)) => self.inner.dismiss(a.ws),
                Ok(Incoming::Failed(e)) => return Err(ServerError::Listener(e)),
                Ok(Incoming::Wake) => {}
                Err(_) => return Err(ServerError::Closed),
            }
        }
    }

    /// Serves every upgraded connection on `reactor` (Unix): `on_connection` gets each one
    /// (Node's `connection` event: its id, handle, addresses and request) and returns the
    /// [`Handler`] for its events, which runs on the reactor thread. An idle connection then
    /// holds no thread (see [`reactor`](crate::reactor)). With client tracking on, the
    /// registry holds the reactor's connections, so [`clients`](Self::clients), broadcast,
    /// [`close`](Self::close) and [`shutdown`](Self::shutdown) work as with
    /// [`accept`](Self::accept).
    ///
    /// Blocks, accepting, until the server is closed (`Ok`), or returns a listener error (call
    /// it again to go on; `&mut on_connection` keeps the closure). A connection the reactor
    /// refuses (its thread has ended) is dropped.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn drive_on<F, H>(&self, reactor: &Reactor, mut on_connection: F) -> Result<(), ServerError>
    where
        F: FnMut(DrivenConnection) -> H,
        H: Handler,
    {
        loop {
            let Accepted { ws, info, request, reservation } = match self.next_upgraded() {
                Ok(accepted) => accepted,
                Err(ServerError::Closed) => return Ok(()),
                Err(e) => return Err(e),
            };
            let id = self.inner.core.clients.next_id();
            let _ = reactor.drive_with(ws, |handle, link| {
                if self.inner.core.tracking {
                    let tracked = ClientHandle::new(link.clone());
                    if !self.inner.core.clients.insert_reserved(id, tracked.clone(), reservation) {
                        self.inner.core.end(&tracked);
                    }
                }
                on_connection(DrivenConnection { id, handle: handle.clone(), info, request })
            });
        }
    }

    /// Tracks an upgraded connection (with client tracking on): its `WebSocket` then shares
    /// its connection with [`clients`](Self::clients) and gets a flusher thread. For
    /// connections from [`accept_stream`](Self::accept_stream). After [`close`](Self::close),
    /// the connection is closed at once as `close` closes the others.
    pub fn track<S>(&self, ws: WebSocket<S>, info: ClientInfo, request: Request<()>) -> ServerConnection<S>
    where
        S: Read + Write + Transport + TryClone + Send + 'static,
    {
        self.track_reserved(ws, info, request, None)
    }

    /// [`track`](Self::track) taking over the place `reservation` held under the connection cap.
    fn track_reserved<S>(
        &self,
        ws: WebSocket<S>,
        info: ClientInfo,
        request: Request<()>,
        reservation: Option<Reservation<ClientHandle>>,
    ) -> ServerConnection<S>
    where
        S: Read + Write + Transport + TryClone + Send + 'static,
    {
        let id = self.inner.core.clients.next_id();
        if !self.inner.core.tracking {
            return ServerConnection { id, ws, info, request };
        }
        let (core, mut recv, url, negotiated) = ws.into_fields();
        let mut half = match core {
            Core::Owned(owned) => {
                let (half, error) = ReadHalf::new(owned);
                if let Some(e) = error {
                    recv.fail_with(e);
                }
                half
            }
            Core::Shared(half) => half,
        };
        half.end_on_drop(true);
        let shared = half.shared.clone();
        if shared.spawn_flusher(false).is_err() {
            shared.terminate();
        }
        let handle = ClientHandle::new(shared);
        if !self.inner.core.clients.insert_reserved(id, handle.clone(), reservation) {
            self.inner.core.end(&handle);
        }
        let ws = WebSocket::from_fields(Core::Shared(half), recv, url, negotiated);
        ServerConnection { id, ws, info, request }
    }

    /// Reads the upgrade request from a stream you accepted (plain or TLS; Node's `server` and
    /// `noServer` modes) and performs the handshake with this server's checks. Refusals are
    /// answered (and the write side shut down) before [`AcceptError::Rejected`] is returned;
    /// after [`close`](Self::close) every request is answered 503. The connection is not
    /// tracked: pass it to [`track`](Self::track) for that.
    pub fn accept_stream<S: Read + Write + Transport>(
        &self,
        stream: S,
        info: ClientInfo,
    ) -> Result<Accepted<S>, AcceptError> {
        self.inner.accept_stream(stream, info)
    }

    /// Closes the server as Node's `close()` does: stops accepting (the listener stops; one
    /// the application passed to [`ServerBuilder::serve`] is handed back, not dropped), answers
    /// upgrades still in progress and later ones with 503, and closes connections upgraded but
    /// not yet accepted (1001); established connections stay open. Returns once every tracked
    /// connection is over (close them yourself, or call [`shutdown`](Self::shutdown)). A second
    /// call returns [`ServerError::Closed`] (Node: "The server is not running").
    pub fn close(&self) -> Result<Option<TcpListener>, ServerError> {
        let listener = self.stop()?;
        while !self.inner.core.clients.wait_empty_until(Instant::now() + Duration::from_secs(3600)) {}
        Ok(listener)
    }

    /// Closes the server ([`close`](Self::close)'s first steps, if not done yet) and ends
    /// every tracked connection per [`ServerBuilder::shutdown`] (1001 Going Away by default,
    /// or terminate). Returns once they are all over, bounded by the close timeout (plus a
    /// second), after which the rest are terminated. Untracked connections are left alone.
    /// Returns the application's listener, unless [`close`](Self::close) returned it already.
    pub fn shutdown(&self) -> Option<TcpListener> {
        let listener = self.stop().ok().flatten();
        let clients = &self.inner.core.clients;
        for conn in clients.start_closing() {
            self.inner.core.end(&conn);
        }
        let bound = self.inner.core.close_bound();
        if !clients.wait_empty_until(Instant::now() + bound) {
            for conn in clients.start_closing() {
                conn.terminate();
            }
            clients.wait_empty_until(Instant::now() + self.inner.core.close_margin());
        }
        listener
    }

    /// Stops accepting: the first time, returns the application's listener (if any); then
    /// [`ServerError::Closed`].
    fn stop(&self) -> Result<Option<TcpListener>, ServerError> {
        if !self.inner.core.start_closing() {
            return Err(ServerError::Closed);
        }
        // Tracking takes no new connection from now on.
        let _ = self.inner.core.clients.start_closing();
        self.stop_listener();
        let Some(listener) = &self.listener else { return Ok(None) };
        let _ = listener.tx.send(Incoming::Wake);
        if let Ok(rx) = listener.rx.try_lock() {
            while let Ok(item) = rx.try_recv() {
                if let Incoming::Upgraded(a) = item {
                    self.inner.dismiss(a.ws);
                }
            }
        }
        let thread = listener.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        let returned = thread.and_then(|t| t.join().ok());
        Ok(returned.filter(|_| listener.give_back))
    }

    /// Stops the accept thread: it is blocked in `accept`, so connect to wake it.
    fn stop_listener(&self) {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(listener) = &self.listener {
            let mut addr = listener.addr;
            if addr.ip().is_unspecified() {
                let loopback = match addr.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                };
                addr.set_ip(loopback);
            }
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
    }
}

/// An upgrade that passed every check: the request, the answer, and its place under the
/// connection cap.
type Decided = (UpgradeRequest, Accept, Option<Reservation<ClientHandle>>);

/// Accepts TCP connections and runs each handshake on a thread of its own, until stopped.
fn accept_loop(listener: &TcpListener, inner: &Arc<Inner>, tx: &Sender<Incoming>) {
    loop {
        let accepted = listener.accept();
        if inner.stopped.load(Ordering::Acquire) {
            return;
        }
        match accepted {
            Ok((tcp, remote)) => {
                let (inner, tx) = (inner.clone(), tx.clone());
                // A thread that cannot be started drops the connection.
                let _ = thread::Builder::new().name("ws-blocking handshake".into()).spawn(move || {
                    if let Some(accepted) = inner.handshake(tcp, remote) {
                        if let Err(mpsc::SendError(Incoming::Upgraded(a))) =
                            tx.send(Incoming::Upgraded(Box::new(accepted)))
                        {
                            inner.dismiss(a.ws);
                        }
                    }
                });
            }
            Err(e) => {
                let _ = tx.send(Incoming::Failed(e));
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

impl Inner {
    /// Every check in Node's order (ws-async's [`ServerCore`]), with `verify_client`; a
    /// refusal for a broken rule goes through the `client_error` hook.
    fn decide(&self, req: &Request<()>, leftover: Bytes, info: &ClientInfo) -> Result<Decided, Rejection> {
        self.core.decide(req, leftover, |upgrade| match &self.verify {
            Some(verify) => {
                verify(upgrade, info).map_err(|r| Rejection::new(r.status(), r.headers().clone(), r.body().clone()))
            }
            None => Ok(()),
        })
    }

    fn accept_stream<S: Read + Write + Transport>(
        &self,
        stream: S,
        info: ClientInfo,
    ) -> Result<Accepted<S>, AcceptError> {
        let (io, head) = read_head(Io::new(stream), self.core.config.clone(), self.core.options.clone())?;
        let decided = head.and_then(|(request, leftover)| {
            let (upgrade, accept, reservation) = self.decide(&request, leftover, &info)?;
            Ok((request, upgrade, accept, reservation))
        });
        match decided {
            Ok((request, upgrade, accept, reservation)) => {
                Ok(Accepted { ws: write_101(io, upgrade, accept)?, info, request, reservation })
            }
            Err(rejection) => Err(reject(io, rejection)),
        }
    }

    /// A new TCP connection: TLS if configured, then the WebSocket handshake.
    fn handshake(&self, tcp: TcpStream, remote: SocketAddr) -> Option<Accepted<ServerStream>> {
        let _ = tcp.set_nodelay(self.core.nodelay);
        let info = ClientInfo::new(Some(remote)).with_local(tcp.local_addr().ok());
        #[cfg(feature = "rustls")]
        if let Some(config) = &self.tls {
            let tls = crate::tls::TlsStream::accept(
                ServerStream::Tcp(tcp),
                config.clone(),
                self.core.config.get_handshake_timeout(),
            )
            .ok()?;
            return self.accept_stream(ServerStream::Tls(Box::new(tls)), info.with_secure(true)).ok();
        }
        self.accept_stream(ServerStream::Tcp(tcp), info).ok()
    }

    /// Ends a connection upgraded after the server closed, on a thread of its own.
    fn dismiss<S: Read + Write + Transport + Send + 'static>(&self, mut ws: WebSocket<S>) {
        if self.core.shutdown == Shutdown::Terminate {
            return;
        }
        let _ = thread::Builder::new().name("ws-blocking dismiss".into()).spawn(move || {
            if ws.close(CloseCode::GOING_AWAY, "server closing").is_ok() {
                while let Some(Ok(_)) = ws.recv() {}
            }
        });
    }
}
