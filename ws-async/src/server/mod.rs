//! A WebSocket server modelled on Node `ws`'s `WebSocket.Server` (feature `server`).
//!
//! All protocol policy lives in ws-proto ([`ServerOptions`](crate::ServerOptions),
//! [`UpgradeRequest`]); this module adds the listener, the order of the checks, asynchronous
//! verification, client tracking with encode-once broadcast, and shutdown.
//!
//! ```no_run
//! use ws_tokio::server::Server;
//! use ws_tokio::Event;
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::builder().path("/chat").bind("127.0.0.1", 8080).await?; // 'listening'
//! println!("listening on {:?}", server.local_addr());
//! while let Ok(mut conn) = server.accept().await {
//!     // 'connection': the request is there for cookies, X-Forwarded-For…
//!     let clients = server.clients().clone();
//!     tokio::spawn(async move {
//!         while let Some(Ok(event)) = conn.events.recv().await {
//!             if let Event::Message(msg) = event {
//!                 clients.broadcast_message(msg); // to every client, framed once
//!             }
//!         }
//!     });
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Modes (Node's `port`, `server` and `noServer`)
//!
//! | Node | here |
//! |---|---|
//! | `new WebSocket.Server({ port, host, backlog })` | [`ServerBuilder::bind`] ([`ServerBuilder::bind_tls`] for `wss://`, feature `rustls`) |
//! | `new WebSocket.Server({ server })` | [`ServerBuilder::serve`] on your `TcpListener` ([`ServerBuilder::serve_tls`]), or [`Server::accept_stream`] on any stream you accepted |
//! | `new WebSocket.Server({ noServer: true })` + `handleUpgrade` | [`ServerBuilder::build`] + [`Server::handle_upgrade`] (another stack parsed the head, we write the `101`) or [`Server::respond`] (hyper/axum write the `101`, then [`WebSocket::from_parts`]) |
//! | `wss.shouldHandle(req)` | [`ServerBuilder::should_handle`], [`Server::should_handle`] |
//! | `wss.address()` | [`Server::local_addr`] |
//! | `wss.clients` | [`Server::clients`] |
//! | `wss.close(cb)` | [`Server::close`] (resolves when every tracked client is gone) |
//!
//! ## Events
//!
//! | Node event | here |
//! |---|---|
//! | `listening` | [`ServerBuilder::bind`] returned |
//! | `connection (ws, req)` | [`Server::accept`] returns a [`ServerConnection`] (with the request), or [`Server::accept_websocket`] an [`Accepted`] |
//! | `headers (headers, req)` | [`ServerBuilder::on_headers`] |
//! | `error` | [`Server::accept`] returns [`ServerError::Listener`]: the listener failed to accept (e.g. out of file descriptors); the server keeps listening |
//! | `close` | [`Server::close`] resolved; [`Server::accept`] returns [`ServerError::Closed`] |
//! | `wsClientError` | [`ServerBuilder::client_error`]: sees the error and the request of an invalid upgrade request, keeps or replaces the answer (400, 405, 426…) or drops the connection without one; the failed handshake is then dropped. [`Server::accept_stream`] returns the [`AcceptError`] |
//!
//! ## Connections
//!
//! [`Server::accept`] runs each connection in driver mode ([`WebSocket::spawn`]): the
//! [`ServerConnection`] holds a [`WsHandle`] to send (clone it freely) and an
//! [`EventReceiver`]. With client tracking on (the default) the handle is also in
//! [`Server::clients`] until the connection reports `Event::Closed`, for
//! [`Clients::broadcast`]. [`Server::accept_websocket`] gives a plain [`WebSocket`] instead
//! (never tracked), for one task per connection without the driver. [`Server::track`] puts
//! a `WebSocket` obtained any other way (TLS, hyper) under the server's tracking.

mod builder;
mod clients;
mod server_core;
mod settings;

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};
use ws_proto::http::{HeaderMap, Request, Response, StatusCode};
use ws_proto::{
    Accept, Bytes, CloseCode, Connection, HandshakeError, Refusal, Rejection, ServerHandshake, UpgradeRequest,
};

use crate::driver::{EventReceiver, WsHandle};
use crate::error::AcceptError;
use crate::handshake::{peer_gone, reject, REJECT_WRITE};
use crate::io::{self as wio, Timer};
use crate::runtime::{self, Io, Net, Runtime};
use crate::stream::WebSocket;

pub use builder::{IntoVerdict, ServerBuilder, Shutdown, VerifyFuture};
pub use clients::{BroadcastReport, ClientId, Clients, Reservation, Skipped, SlowPolicy, Tracked};

use builder::Verify;
pub use server_core::ServerCore;
pub use settings::{handles, ServerSettings, ShouldHandleFn, DEFAULT_BACKLOG};

/// Upgraded connections waiting for [`Server::accept`].
const INCOMING: usize = 128;
/// Pause after a listener error, so that running out of file descriptors does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What the server knows about a client beyond its request (Node `verifyClient`'s `info`,
/// less `origin` and `req`, which [`UpgradeRequest`] has).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The peer's address (`req.socket.remoteAddress`); `None` when unknown (a Unix socket, an
    /// in-memory stream). Behind a proxy this is the proxy: see [`forwarded_for`].
    pub remote: Option<SocketAddr>,
    /// The local address the connection arrived on.
    pub local: Option<SocketAddr>,
    /// Whether the connection is encrypted (TLS; Node `info.secure`). A server built with
    /// [`ServerBuilder::bind_tls`] or [`ServerBuilder::serve_tls`] sets it; for streams you
    /// accept yourself, set it with [`with_secure`](Self::with_secure).
    pub secure: bool,
}

impl ClientInfo {
    /// Info for a peer at `remote`, not encrypted.
    pub fn new(remote: Option<SocketAddr>) -> Self {
        Self { remote, local: None, secure: false }
    }

    /// Sets [`secure`](Self::secure) (the connection is TLS).
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets [`local`](Self::local).
    pub fn with_local(mut self, local: Option<SocketAddr>) -> Self {
        self.local = local;
        self
    }

    /// The remote and local addresses of a TCP stream of runtime `R`
    /// (`ClientInfo::of_tcp::<R>(&tcp)`; the bindings' `client_info(&tcp)` infers `R`).
    pub fn of_tcp<R: Net>(tcp: &R::Tcp) -> Self {
        let (local, remote) = R::tcp_info(tcp, None);
        Self { remote, local, secure: false }
    }
}

/// The client address a reverse proxy reports: the first entry of `X-Forwarded-For` (Node's
/// `req.headers['x-forwarded-for'].split(',')[0].trim()`). Only meaningful behind a proxy you
/// run, which sets or overwrites the header: any client can send one.
pub fn forwarded_for<B>(req: &Request<B>) -> Option<IpAddr> {
    let value = req.headers().get("x-forwarded-for")?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    first.parse::<IpAddr>().ok().or_else(|| first.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// A refusal as an HTTP response with its body, for hosts that write responses themselves
/// (hyper: `rejection_response(&r).map(Full::new)`; axum: `.map(Body::from)`). The headers
/// include `Content-Length`, `Content-Type` and `Connection: close`. For a refusal the
/// `client_error` hook chose to drop ([`Rejection::is_drop`]) it is the default answer: such a
/// host cannot close the connection without one.
pub fn rejection_response(rejection: &Rejection) -> Response<Bytes> {
    let bytes = rejection.bytes();
    let body = bytes.windows(4).position(|w| w == b"\r\n\r\n").map_or_else(Bytes::new, |i| bytes.slice(i + 4..));
    let mut response = Response::new(body);
    *response.status_mut() = rejection.status();
    *response.headers_mut() = rejection.response.headers().clone();
    response
}

/// A connection from [`Server::accept`] or [`Server::track`] (Node's `connection` event),
/// running in driver mode.
///
/// Drop the [`events`](Self::events) receiver if you only send (events are then discarded).
/// An untracked connection closes with 1000 once every handle and the receiver are gone; a
/// tracked one stays open, as [`Server::clients`] holds a handle, until either side closes it
/// (`handle.close(..)`) or [`Server::close`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerConnection {
    /// Its id in [`Server::clients`] (for [`Clients::broadcast_except`]).
    pub id: ClientId,
    /// Sends to it; cheap to clone.
    pub handle: WsHandle,
    /// What it sends: messages, pings, pongs, then `Event::Closed` once, then `None`.
    pub events: EventReceiver,
    /// Its addresses and whether it is encrypted.
    pub info: ClientInfo,
    /// Its upgrade request (path, query, cookies, `X-Forwarded-For`…).
    pub request: Request<()>,
    /// The negotiated subprotocol.
    pub protocol: Option<String>,
    /// The negotiated extensions (`Sec-WebSocket-Extensions` of the `101`).
    pub extensions: Option<String>,
}

/// A plain [`WebSocket`] upgraded by the server, with what the handshake saw (from
/// [`Server::accept_websocket`] and [`Server::accept_stream`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct Accepted<S, R: Runtime> {
    /// The connection.
    pub ws: WebSocket<S, R>,
    /// Its addresses and whether it is encrypted.
    pub info: ClientInfo,
    /// Its upgrade request.
    pub request: Request<()>,
    /// Its place under [`ServerBuilder::max_connections`], until it is tracked or handed out.
    reservation: Option<Reservation<WsHandle>>,
}

/// Why [`Server::accept`] returned no connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The server was closed ([`Server::close`]; Node's `close` event).
    Closed,
    /// Accepting a TCP connection failed (Node's `error` event). The server keeps listening:
    /// call `accept` again.
    Listener(io::Error),
    /// The server has no listener ([`ServerBuilder::build`], Node `noServer`).
    NoListener,
}

impl ServerError {
    /// Whether the server is closed (no connection will come).
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed | Self::NoListener)
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the WebSocket server is closed"),
            Self::Listener(e) => write!(f, "accepting a connection failed: {e}"),
            Self::NoListener => f.write_str("the WebSocket server has no listener (noServer mode)"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Listener(e) => Some(e),
            _ => None,
        }
    }
}

type IncomingItem<R> = Result<Accepted<<R as Net>::ServerStream, R>, io::Error>;

/// A WebSocket server (Node `WebSocket.Server`); see the [module documentation](self).
///
/// Build one with [`Server::builder`]. Methods take `&self`: share it in an `Arc`. Dropping
/// it stops the listener; connections already accepted keep running.
pub struct Server<R: Net> {
    inner: Arc<Inner>,
    incoming: Option<Incoming<R>>,
    local_addr: Option<SocketAddr>,
    _runtime: PhantomData<fn() -> R>,
}

struct Incoming<R: Net> {
    rx: tokio::sync::Mutex<mpsc::Receiver<IncomingItem<R>>>,
    /// Stops the accept task (which then drops the listener, or hands it back).
    stop: Arc<Notify>,
    /// A listener the application passed in ([`ServerBuilder::serve`]) comes back here when
    /// the server closes (Node leaves a pre-created server alone).
    returned: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<R::Listener>>>,
}

/// What the handshake tasks share with the server.
pub(crate) struct Inner {
    /// Settings, registry, closing state and the upgrade checks (shared with ws-blocking).
    core: ServerCore<WsHandle>,
    verify: Option<Verify>,
    queue: usize,
    /// The TLS settings of a `bind_tls` / `serve_tls` listener.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    tls: Option<builder::TlsConfig>,
    /// Notified once when the server closes (wakes pending `accept` calls).
    closed: Notify,
}

impl<R: Net> fmt::Debug for Server<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("core", &self.inner.core)
            .finish_non_exhaustive()
    }
}

impl<R: Net> Drop for Server<R> {
    fn drop(&mut self) {
        if let Some(incoming) = &self.incoming {
            incoming.stop.notify_one();
        }
    }
}

impl<R: Net> Server<R> {
    /// Starts building a server.
    pub fn builder() -> ServerBuilder<R> {
        ServerBuilder::default()
    }

    /// A server over `listener`; `give_back`: the application's listener, returned by
    /// [`close`](Self::close).
    fn new(inner: Arc<Inner>, listener: Option<R::Listener>, give_back: bool) -> Self {
        let local_addr = listener.as_ref().and_then(|l| R::listener_addr(l).ok());
        let incoming = listener.map(|listener| {
            let (tx, rx) = mpsc::channel(INCOMING);
            let stop = Arc::new(Notify::new());
            let (back, returned) = tokio::sync::oneshot::channel();
            let back = give_back.then_some(back);
            R::spawn(accept_loop::<R>(listener, inner.clone(), tx, stop.clone(), back));
            let returned = std::sync::Mutex::new(give_back.then_some(returned));
            Incoming { rx: tokio::sync::Mutex::new(rx), stop, returned }
        });
        Self { inner, incoming, local_addr, _runtime: PhantomData }
    }

    /// The address the listener is bound to (Node `address()`); `None` without a listener
    /// and once the server is closed.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr.filter(|_| !self.is_closing())
    }

    crate::server_accessors!();

    /// The next upgraded connection (Node's `connection` event), run in driver mode and, with
    /// client tracking on, added to [`clients`](Self::clients). Handshakes run concurrently in
    /// tasks of their own; failed ones are answered and dropped.
    ///
    /// [`ServerError::Listener`] reports a listener error (the server keeps listening);
    /// [`ServerError::Closed`] comes once the server is closed. Cancel safe.
    pub async fn accept(&self) -> Result<ServerConnection, ServerError> {
        let Accepted { ws, info, request, reservation } = self.accept_websocket().await?;
        Ok(self.track_reserved(ws, info, request, reservation))
    }

    /// The next upgraded connection as a plain [`WebSocket`], never tracked (drive it in a
    /// task of your own; under [`ServerBuilder::max_connections`] its place is held only while
    /// the [`Accepted`] lives). Errors as [`accept`](Self::accept). Cancel safe.
    pub async fn accept_websocket(&self) -> Result<Accepted<R::ServerStream, R>, ServerError> {
        let incoming = self.incoming.as_ref().ok_or(ServerError::NoListener)?;
        let mut closed = pin!(self.inner.closed.notified());
        closed.as_mut().enable();
        if self.is_closing() {
            return Err(ServerError::Closed);
        }
        let mut rx = incoming.rx.lock().await;
        let item = poll_fn(|cx| {
            if closed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            rx.poll_recv(cx)
        })
        .await;
        match item {
            Some(Ok(accepted)) => Ok(accepted),
            Some(Err(e)) => Err(ServerError::Listener(e)),
            None => Err(ServerError::Closed),
        }
    }

    /// Runs an upgraded connection in driver mode (queue size from
    /// [`ServerBuilder::handle_queue`]) and, with client tracking on, adds it to
    /// [`clients`](Self::clients) until it closes. For connections from
    /// [`handle_upgrade`](Self::handle_upgrade), [`accept_stream`](Self::accept_stream) or a
    /// hyper upgrade. Must be called within a tokio runtime. After [`close`](Self::close), the
    /// connection is closed at once as `close` closes the others.
    pub fn track<S>(&self, ws: WebSocket<S, R>, info: ClientInfo, request: Request<()>) -> ServerConnection
    where
        S: Unpin + Send + 'static,
        R: Io<S>,
    {
        self.track_reserved(ws, info, request, None)
    }

    /// [`track`](Self::track) taking over the place `reservation` held under the connection cap.
    fn track_reserved<S>(
        &self,
        ws: WebSocket<S, R>,
        info: ClientInfo,
        request: Request<()>,
        reservation: Option<Reservation<WsHandle>>,
    ) -> ServerConnection
    where
        S: Unpin + Send + 'static,
        R: Io<S>,
    {
        let protocol = ws.protocol().map(str::to_owned);
        let extensions = ws.extensions().map(str::to_owned);
        let (driver, handle, events) = ws.into_driver(self.inner.queue);
        let clients = &self.inner.core.clients;
        let id = clients.next_id();
        if self.inner.core.tracking && clients.insert_reserved(id, handle.clone(), reservation) {
            R::spawn(clients.run_tracked(id, driver));
        } else {
            R::spawn(driver);
            if self.is_closing() {
                self.inner.core.end(&handle);
            }
        }
        ServerConnection { id, handle, events, info, request, protocol, extensions }
    }

    /// Reads the upgrade request from a stream you accepted (TLS, a Unix socket…; Node's
    /// `server` mode) and performs the handshake. Refusals are answered (and the write side
    /// shut down) before [`AcceptError::Rejected`] is returned. The connection is not tracked:
    /// pass it to [`track`](Self::track) for that.
    pub async fn accept_stream<S>(&self, io: S, info: ClientInfo) -> Result<Accepted<S, R>, AcceptError>
    where
        R: Io<S>,
    {
        self.inner.accept_stream::<S, R>(io, info).await
    }

    /// Upgrades a connection whose request head another HTTP stack already read (Node
    /// `handleUpgrade(request, socket, head)`, `noServer` mode): `head` holds bytes read past
    /// the head, handed to the connection first. Writes the `101` (or the refusal) on `io`.
    /// The connection is not tracked: pass it to [`track`](Self::track) for that.
    pub async fn handle_upgrade<S>(
        &self,
        req: &Request<()>,
        io: S,
        head: Bytes,
        info: ClientInfo,
    ) -> Result<WebSocket<S, R>, AcceptError>
    where
        R: Io<S>,
    {
        let deadline = self.inner.deadline::<R>();
        match self.inner.decide::<R>(req, head, &info, deadline).await {
            // The connection is handed out untracked: its place under the cap ends here.
            Ok((upgrade, accept, _reservation)) => {
                write_101::<S, R>(io, upgrade, accept, self.inner.verifies_async()).await
            }
            Err(rejection) => Err(Box::pin(reject::<S, R>(io, rejection)).await),
        }
    }

    /// For hosts that write the response themselves (hyper, axum): runs every check and
    /// returns the `101` to send and the [`Connection`]. A refusal is a [`Rejection`] whose
    /// `response` (status, headers) and [`bytes`](Rejection::bytes) the host sends instead
    /// ([`rejection_response`]).
    ///
    /// Once the host completed the upgrade, drive the connection with:
    /// - [`WebSocket::from_connection`]`(io, connection)` when `io` is the host's upgraded
    ///   stream as it hands it over (hyper's `Upgraded`, in `hyper_util::rt::TokioIo`): it
    ///   replays the bytes the host read past the request itself, so nothing is lost;
    /// - [`WebSocket::from_parts`]`(io, read_buf, connection)` when you take the raw stream
    ///   back instead (hyper's `Upgraded::downcast` gives the `TcpStream` and `read_buf`, the
    ///   bytes hyper read with the request, Node's `head`): those bytes are only in `read_buf`,
    ///   and `from_parts` hands them to the connection first.
    ///
    /// With axum, ws-tokio's `axum::WebSocketUpgrade` extractor (feature `axum`) does all this.
    ///
    /// Synchronous: with [`ServerBuilder::verify_client_async`] configured it refuses with 500
    /// (the hook cannot run here); use [`respond_async`](Self::respond_async).
    pub fn respond(&self, req: &Request<()>, info: &ClientInfo) -> Result<(Response<()>, Connection), Rejection> {
        self.inner.respond::<R>(req, info).map_err(|r| self.inner.core.answer(req, r))
    }

    /// [`respond`](Self::respond) running an asynchronous `verify_client` too (bounded by the
    /// handshake timeout: 408).
    pub async fn respond_async(
        &self,
        req: &Request<()>,
        info: &ClientInfo,
    ) -> Result<(Response<()>, Connection), Rejection> {
        let deadline = self.inner.deadline::<R>();
        let (upgrade, accept, _reservation) = self.inner.decide::<R>(req, Bytes::new(), info, deadline).await?;
        Ok(upgrade.accept_http(accept, R::now()))
    }

    /// Closes the server as Node's `close()` does: stops accepting (the listener stops; one
    /// the application passed to [`ServerBuilder::serve`] is handed back, not dropped), answers
    /// upgrades still in progress and later ones (from any method) with 503, and closes
    /// connections upgraded but not yet accepted (1001); established connections stay open.
    /// Resolves once every tracked connection is gone (close them yourself, or call
    /// [`shutdown`](Self::shutdown)). A second call returns [`ServerError::Closed`] (Node:
    /// "The server is not running").
    pub async fn close(&self) -> Result<Option<R::Listener>, ServerError> {
        let listener = self.stop().await?;
        self.inner.core.clients.wait_empty::<R>().await;
        Ok(listener)
    }

    /// Closes the server ([`close`](Self::close)'s first steps, if not done yet) and ends
    /// every tracked connection per [`ServerBuilder::shutdown`] (1001 Going Away by default,
    /// or terminate). Resolves once they are all gone, bounded by the close timeout (plus a
    /// second), after which the rest are terminated. Untracked connections are left alone.
    /// Returns the application's listener, unless [`close`](Self::close) returned it already.
    pub async fn shutdown(&self) -> Option<R::Listener> {
        let listener = self.stop().await.ok().flatten();
        let clients = &self.inner.core.clients;
        for handle in clients.start_closing() {
            self.inner.core.end(&handle);
        }
        let bound = self.inner.core.close_bound();
        if runtime::timeout::<R, _>(bound, clients.wait_empty::<R>()).await.is_none() {
            for (_, handle) in clients.iter() {
                let _ = handle.terminate_now();
            }
            let _ = runtime::timeout::<R, _>(self.inner.core.close_margin(), clients.wait_empty::<R>()).await;
        }
        listener
    }

    /// Stops accepting: the first time, returns the application's listener (if any); then
    /// [`ServerError::Closed`].
    async fn stop(&self) -> Result<Option<R::Listener>, ServerError> {
        if !self.inner.core.start_closing() {
            return Err(ServerError::Closed);
        }
        self.inner.closed.notify_waiters();
        // Tracking takes no new connection from now on.
        let _ = self.inner.core.clients.start_closing();
        let Some(incoming) = &self.incoming else { return Ok(None) };
        incoming.stop.notify_one();
        {
            let mut rx = incoming.rx.lock().await;
            rx.close();
            while let Ok(item) = rx.try_recv() {
                if let Ok(accepted) = item {
                    R::spawn(self.inner.clone().dismiss(accepted.ws));
                }
            }
        }
        let returned = incoming.returned.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        Ok(match returned {
            Some(rx) => rx.await.ok(),
            None => None,
        })
    }
}

/// Accepts TCP connections and runs each handshake in a task of its own, until `stop` is
/// notified (the server closed or was dropped); the listener is then dropped, or handed back
/// through `back`.
async fn accept_loop<R: Net>(
    listener: R::Listener,
    inner: Arc<Inner>,
    tx: mpsc::Sender<IncomingItem<R>>,
    stop: Arc<Notify>,
    back: Option<tokio::sync::oneshot::Sender<R::Listener>>,
) {
    accept_until_stopped::<R>(&listener, inner, tx, stop).await;
    if let Some(back) = back {
        let _ = back.send(listener);
    }
}

async fn accept_until_stopped<R: Net>(
    listener: &R::Listener,
    inner: Arc<Inner>,
    tx: mpsc::Sender<IncomingItem<R>>,
    stop: Arc<Notify>,
) {
    let mut stopped = pin!(stop.notified());
    loop {
        let accepted = poll_fn(|cx| {
            if stopped.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            R::poll_accept(listener, cx).map(Some)
        })
        .await;
        match accepted {
            None => return,
            Some(Ok((tcp, remote))) => {
                let (local, _) = R::tcp_info(&tcp, Some(inner.core.nodelay));
                let info = ClientInfo { remote: Some(remote), local, secure: false };
                let (inner, tx) = (inner.clone(), tx.clone());
                R::spawn(async move {
                    let Some((stream, info)) = inner.open::<R>(tcp, info).await else { return };
                    if let Ok(accepted) = inner.accept_stream::<R::ServerStream, R>(stream, info).await {
                        if let Err(mpsc::error::SendError(Ok(accepted))) = tx.send(Ok(accepted)).await {
                            // The server closed meanwhile.
                            inner.dismiss(accepted.ws).await;
                        }
                    }
                });
            }
            Some(Err(e)) => {
                let _ = tx.try_send(Err(e));
                runtime::sleep::<R>(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Writes the `101` queued in the accepted connection; with `check_peer`, first makes sure the
/// client is still there.
async fn write_101<S, R: Io<S>>(
    mut io: S,
    upgrade: UpgradeRequest,
    accept: Accept,
    check_peer: bool,
) -> Result<WebSocket<S, R>, AcceptError> {
    let mut conn = upgrade.accept(accept, R::now());
    if check_peer {
        // An asynchronous `verify_client` gave the client time to go away.
        peer_gone::<S, R>(&mut io, &mut conn)?;
    }
    let mut ws = WebSocket::from_connection(io, conn);
    match runtime::timeout::<R, _>(REJECT_WRITE, ws.flush()).await {
        Some(Ok(())) => Ok(ws),
        Some(Err(e)) => Err(AcceptError::Io(e.into())),
        None => Err(AcceptError::Io(io::ErrorKind::TimedOut.into())),
    }
}

/// An upgrade that passed every check: the request, the answer, and its place under the
/// connection cap.
type Decided = (UpgradeRequest, Accept, Option<Reservation<WsHandle>>);

fn refusal(r: Refusal) -> Rejection {
    Rejection::new(r.status(), r.headers().clone(), r.body().clone())
}

impl Inner {
    /// An accepted TCP connection as the server's stream: TLS when the server has a TLS
    /// config (bounded by the handshake timeout; `None` when it fails), with
    /// [`ClientInfo::secure`] set, else plain.
    async fn open<R: Net>(&self, tcp: R::Tcp, info: ClientInfo) -> Option<(R::ServerStream, ClientInfo)> {
        #[cfg(feature = "rustls")]
        if let Some(config) = &self.tls {
            let handshake = R::accept_tls(tcp, config.clone());
            let tls = match self.core.config.get_handshake_timeout() {
                Some(limit) => runtime::timeout::<R, _>(limit, handshake).await?,
                None => handshake.await,
            };
            return tls.ok().map(|stream| (stream, info.with_secure(true)));
        }
        Some((R::server_tcp(tcp), info))
    }

    /// Whether `verify_client` is asynchronous (the client may leave while it runs).
    fn verifies_async(&self) -> bool {
        matches!(self.verify, Some(Verify::Async(_)))
    }

    fn deadline<R: Runtime>(&self) -> Option<Instant> {
        self.core.config.get_handshake_timeout().and_then(|d| R::now().checked_add(d))
    }

    /// [`Server::respond`]'s checks, before the `client_error` hook.
    fn respond<R: Runtime>(
        &self,
        req: &Request<()>,
        info: &ClientInfo,
    ) -> Result<(Response<()>, Connection), Rejection> {
        let upgrade = self.core.prepare(req, Bytes::new())?;
        match &self.verify {
            Some(Verify::Sync(f)) => f(&upgrade, info).map_err(refusal)?,
            Some(Verify::Async(_)) => {
                return Err(Rejection::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    HeaderMap::new(),
                    Bytes::from_static(b"verify_client is asynchronous: call Server::respond_async"),
                ))
            }
            None => {}
        }
        // The host completes the upgrade: the place under the cap ends here.
        let (accept, _reservation) = self.core.finish(&upgrade)?;
        Ok(upgrade.accept_http(accept, R::now()))
    }

    /// Every check, in Node's order, with asynchronous verification; a refusal for a broken
    /// rule goes through the `client_error` hook (ws-proto's, applied once).
    async fn decide<R: Runtime>(
        &self,
        req: &Request<()>,
        leftover: Bytes,
        info: &ClientInfo,
        deadline: Option<Instant>,
    ) -> Result<Decided, Rejection> {
        self.checks::<R>(req, leftover, info, deadline).await.map_err(|r| self.core.options.answer_client_error(req, r))
    }

    async fn checks<R: Runtime>(
        &self,
        req: &Request<()>,
        leftover: Bytes,
        info: &ClientInfo,
        deadline: Option<Instant>,
    ) -> Result<Decided, Rejection> {
        let upgrade = self.core.prepare(req, leftover)?;
        match &self.verify {
            Some(Verify::Sync(f)) => f(&upgrade, info).map_err(refusal)?,
            Some(Verify::Async(f)) => {
                let fut = f(&upgrade, info);
                let verdict = match deadline {
                    Some(d) => runtime::timeout_at::<R, _>(d, fut)
                        .await
                        .ok_or_else(|| Rejection::from_error(HandshakeError::Timeout))?,
                    None => fut.await,
                };
                verdict.map_err(refusal)?;
            }
            None => {}
        }
        let (accept, reservation) = self.core.finish(&upgrade)?;
        Ok((upgrade, accept, reservation))
    }

    async fn accept_stream<S, R: Io<S>>(&self, mut io: S, info: ClientInfo) -> Result<Accepted<S, R>, AcceptError> {
        let mut hs = ServerHandshake::new(self.core.config.clone(), self.core.options.clone(), R::now());
        let deadline = hs.poll_timeout();
        let mut timer = Timer::<R>::default();
        let head = poll_fn(|cx| loop {
            timer.poll(&mut hs, cx);
            match hs.poll_head() {
                Ok(Some(head)) => return Poll::Ready(Ok(head)),
                Err(rejection) => return Poll::Ready(Err(Ok(rejection))),
                Ok(None) => {}
            }
            match wio::poll_read_into::<R, S, _>(&mut io, &mut hs, cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Err(e))),
                Poll::Pending => return Poll::Pending,
            }
        })
        .await;
        let (request, leftover) = match head {
            Ok(head) => head,
            Err(Ok(rejection)) => return Err(Box::pin(reject::<S, R>(io, rejection)).await),
            Err(Err(e)) => return Err(AcceptError::Io(e)),
        };
        match self.decide::<R>(&request, leftover, &info, deadline).await {
            Ok((upgrade, accept, reservation)) => {
                let ws = write_101::<S, R>(io, upgrade, accept, self.verifies_async()).await?;
                Ok(Accepted { ws, info, request, reservation })
            }
            Err(rejection) => Err(Box::pin(reject::<S, R>(io, rejection)).await),
        }
    }

    /// Ends a connection upgraded after the server closed.
    async fn dismiss<S, R: Io<S>>(self: Arc<Self>, mut ws: WebSocket<S, R>) {
        if self.core.shutdown == Shutdown::Terminate {
            return;
        }
        let bound = self.core.close_bound();
        let _ = runtime::timeout::<R, _>(bound, async {
            if ws.close(CloseCode::GOING_AWAY, "server closing").await.is_ok() {
                while let Some(Ok(_)) = ws.recv().await {}
            }
        })
        .await;
    }
}
