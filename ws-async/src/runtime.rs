//! The runtime abstraction: everything the async layer needs from an executor and its
//! reactor, and nothing else (quinn's `Runtime`, hyper's `rt` traits).
//!
//! A binding (`ws-tokio`, `ws-async-std`) implements these traits for one zero-sized type
//! that names its runtime, and re-exports this crate's types with that type filled in. The
//! runtime type is a type parameter, never a value: a `WebSocket<S, R>` costs nothing for it.
//!
//! - [`Runtime`]: the clock, a resettable timer, spawning a task, and running a closure on a
//!   blocking pool (compression offload).
//! - [`Io<S>`]: reading and writing a stream `S` at the poll level. A binding implements it
//!   for every stream of its IO traits (`impl<S: tokio::io::AsyncRead + …> Io<S> for Tokio`),
//!   so user streams (TLS, hyper upgrades, in-memory pipes) need no wrapper.
//! - [`Net`]: opening client streams (TCP, Unix sockets, TLS over another client stream, a
//!   custom connector's stream) and accepting TCP connections for the `Server`.
//!
//! `docs/design/runtime.md` explains the choice and what a new binding needs.

use std::fmt::Debug;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
#[cfg(feature = "rustls")]
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// A resettable one-shot timer (a `tokio::time::Sleep`, an `async_io::Timer`).
pub trait Sleep: Send + Sync + Unpin + 'static {
    /// Moves the deadline; a waker registered by an earlier poll may be forgotten, so poll
    /// again after resetting.
    fn reset(&mut self, deadline: Instant);
    /// `Ready` once the deadline has passed; otherwise registers `cx` to be woken then.
    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// An executor with a clock: what every part of the async layer needs.
///
/// Implemented by a zero-sized type of the binding. All functions are associated functions,
/// so the runtime is named by type (`R::now()`), never carried as a value.
pub trait Runtime: Send + Sync + Sized + Debug + 'static {
    /// The binding's timer.
    type Sleep: Sleep;

    /// The current time, from the runtime's clock (tokio's, so that `tokio::time::pause()`
    /// drives the connection's timers in tests).
    fn now() -> Instant;

    /// A timer that fires at `deadline`.
    fn sleep_until(deadline: Instant) -> Self::Sleep;

    /// Runs `future` as a task of its own (driver mode, the server's connections). Panics when
    /// called outside the runtime, as the runtime's own `spawn` does.
    fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Runs `job` on the runtime's pool for blocking work (compression offload). Hands `job`
    /// back when there is no such pool here (e.g. no runtime is running): the caller then runs
    /// it inline.
    fn spawn_blocking(job: BlockingJob) -> Result<(), BlockingJob>;
}

/// A closure for [`Runtime::spawn_blocking`].
pub type BlockingJob = Box<dyn FnOnce() + Send + 'static>;

/// Poll-level IO on a stream `S`, as the runtime's IO traits provide it.
///
/// Implemented by the binding's runtime type for every stream of its ecosystem. The methods
/// take `&mut S` (the binding requires `S: Unpin`) and mirror `AsyncRead`/`AsyncWrite`.
pub trait Io<S>: Runtime {
    /// Reads into `buf`; `Ready(Ok(0))` is EOF (or an empty `buf`).
    fn poll_read(io: &mut S, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes from `buf`, returning how many bytes were taken.
    fn poll_write(io: &mut S, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Writes from several buffers at once (one system call for many frames).
    fn poll_write_vectored(io: &mut S, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>>;
    /// Whether [`poll_write_vectored`](Self::poll_write_vectored) is better than one
    /// `poll_write` per buffer.
    fn is_write_vectored(io: &S) -> bool;
    /// Flushes buffered writes (TLS records).
    fn poll_flush(io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Half-closes the write side (TCP FIN, TLS `close_notify`).
    fn poll_shutdown(io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// Where a client opens a TCP (or TLS) connection: a host name or an IP address (IPv6 without
/// brackets) and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Target {
    /// The host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// Whether the URL asks for TLS (`wss://`). Unless the connector
    /// [handles TLS](crate::Connector::handles_tls), the client runs TLS over the returned
    /// stream.
    pub secure: bool,
}

impl Target {
    /// A target for `host:port`, `secure` for `wss://`.
    pub fn new(host: impl Into<String>, port: u16, secure: bool) -> Self {
        Self { host: host.into(), port, secure }
    }
}

/// Networking: the client's streams and the server's listener.
///
/// The client stream type is the binding's own enum (TCP, Unix socket, TLS, a custom
/// connector's boxed stream), since a binding implements its ecosystem's IO traits for its own
/// types only.
pub trait Net:
    Runtime + Io<<Self as Net>::ClientStream> + Io<<Self as Net>::Tcp> + Io<<Self as Net>::ServerStream>
{
    /// What a client connection runs over.
    type ClientStream: Send + Unpin + Debug + 'static;
    /// An accepted TCP connection.
    type Tcp: Send + Unpin + Debug + 'static;
    /// A listening TCP socket.
    type Listener: Send + Sync + Debug + 'static;
    /// What a connection the server's listener accepted runs over: TCP, or TLS over it (the
    /// binding's enum from [`server_stream!`](crate::server_stream)).
    type ServerStream: Send + Unpin + Debug + 'static;

    /// An accepted TCP connection as a server stream (no TLS).
    fn server_tcp(tcp: Self::Tcp) -> Self::ServerStream;

    /// Runs the server side of TLS over an accepted TCP connection with `config` (feature
    /// `rustls`). The default is an `Unsupported` error, for bindings built without TLS.
    #[cfg(feature = "rustls")]
    fn accept_tls(
        tcp: Self::Tcp,
        config: Arc<rustls::ServerConfig>,
    ) -> impl Future<Output = io::Result<Self::ServerStream>> + Send {
        let _ = (tcp, config);
        std::future::ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this runtime binding was built without TLS",
        )))
    }

    /// Connects over TCP with `TCP_NODELAY` on, trying each resolved address in turn; with
    /// `local`, from that address (Node `localAddress`), trying only addresses of its family.
    fn connect_tcp(
        host: String,
        port: u16,
        local: Option<IpAddr>,
    ) -> impl Future<Output = io::Result<Self::ClientStream>> + Send;

    /// Connects to a Unix domain socket (`ws+unix:` URLs); an `Unsupported` error where there
    /// are none.
    fn connect_unix(path: String) -> impl Future<Output = io::Result<Self::ClientStream>> + Send;

    /// Runs the client side of TLS over `stream` for `server_name` (feature `rustls`). The
    /// default is an `Unsupported` error, for bindings built without TLS.
    #[cfg(feature = "rustls")]
    fn connect_tls(
        stream: Self::ClientStream,
        server_name: rustls::pki_types::ServerName<'static>,
        config: Arc<rustls::ClientConfig>,
    ) -> impl Future<Output = io::Result<Self::ClientStream>> + Send {
        let _ = (stream, server_name, config);
        std::future::ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this runtime binding was built without TLS",
        )))
    }

    /// Binds a listener on `addr` with a listen backlog of `backlog` (and `SO_REUSEADDR`, as
    /// Node does).
    fn bind(addr: SocketAddr, backlog: u32) -> io::Result<Self::Listener>;

    /// Resolves `host` (a name or an IP address) to socket addresses for `port`.
    fn resolve(host: String, port: u16) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// Accepts one connection.
    fn poll_accept(listener: &Self::Listener, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Tcp, SocketAddr)>>;

    /// The address the listener is bound to.
    fn listener_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// The local and peer addresses of an accepted connection, and turns `TCP_NODELAY` on or
    /// off.
    fn tcp_info(tcp: &Self::Tcp, nodelay: Option<bool>) -> (Option<SocketAddr>, Option<SocketAddr>);
}

/// Makes a [`Net::ClientStream`] out of a stream `S` of the runtime's IO traits (a custom
/// connector's result: boxed).
pub trait Custom<S>: Net {
    /// Wraps `stream`.
    fn custom(stream: S) -> Self::ClientStream;
}

/// Drives a future against a deadline on `R`'s clock: `None` once `deadline` passed first.
pub(crate) async fn timeout_at<R: Runtime, F: Future>(deadline: Instant, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep: Option<R::Sleep> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if R::now() >= deadline {
            return Poll::Ready(None);
        }
        let sleep = sleep.get_or_insert_with(|| R::sleep_until(deadline));
        match sleep.poll_elapsed(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// [`timeout_at`] `after` from now.
pub(crate) async fn timeout<R: Runtime, F: Future>(after: std::time::Duration, fut: F) -> Option<F::Output> {
    timeout_at::<R, F>(R::now() + after, fut).await
}

/// Waits `after` on `R`'s clock.
#[cfg(feature = "server")]
pub(crate) async fn sleep<R: Runtime>(after: std::time::Duration) {
    let mut s = R::sleep_until(R::now() + after);
    std::future::poll_fn(|cx| s.poll_elapsed(cx)).await;
}
