//! [`TestRt`]: what a test needs from a runtime, implemented for every runtime the suite runs
//! on (tokio current-thread and multi-thread, async-std, smol).

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{AbortHandle, Abortable};
use tokio::sync::oneshot;
use ws_async::runtime::{Custom, Io, Net};
use ws_async::tls::rustls::pki_types::ServerName;
use ws_async::tls::rustls::{ClientConfig, ServerConfig};

use super::io::{AnyStream, Pipe};

/// A runtime the suite runs on: ws-async's runtime type for it ([`TestRt::R`], a binding's
/// `Tokio` or `AsyncStd`), its native TCP stream, and the executor's `block_on` and `spawn`.
///
/// Tests are `async fn name<T: TestRt>()`; [`on_every_runtime!`] instantiates them once per
/// implementation. Everything else a test needs (timeouts, pipes, pairs of connections) is
/// written once in the harness, over this trait.
pub trait TestRt: Sized + Send + Sync + 'static {
    /// ws-async's runtime type: `ws_tokio::Tokio` or `ws_async_std::AsyncStd`. It drives
    /// connections over the runtime's TCP streams, the in-memory [`Pipe`], any [`AnyStream`]
    /// (TLS, wrappers written by tests), and takes both from custom connectors.
    type R: Net + Io<Self::Tcp> + Io<Pipe> + Io<AnyStream> + Custom<Self::Tcp> + Custom<AnyStream>;
    /// The runtime's own TCP stream (with `TCP_NODELAY`), as an application would use it.
    type Tcp: Send + Sync + Unpin + Debug + 'static;
    /// The runtime's own TCP listener.
    type Listener: Send + Sync + 'static;
    /// The runtime's own Unix domain socket listener.
    #[cfg(unix)]
    type UnixListener: Send + Sync + 'static;

    /// The name of the generated test function (`case::tokio`, `case::smol`, …).
    const NAME: &'static str;
    /// A number of its own (0, 1, 2, …), for process-wide state that tests running at the same
    /// time on other runtimes must not share (offload statistics, socket paths).
    const SLOT: usize;

    /// Runs `f` to completion on a fresh instance (tokio) or on the global executor (async-std,
    /// smol), from the calling thread.
    fn block_on<F: Future>(f: F) -> F::Output;

    /// Spawns `f` as a task of the runtime, detached.
    fn spawn_detached<F: Future<Output = ()> + Send + 'static>(f: F);

    /// A listener on 127.0.0.1, on a free port.
    fn listen() -> Self::Listener;

    /// The address of a listener.
    fn listener_addr(listener: &Self::Listener) -> SocketAddr;

    /// Accepts a connection (`TCP_NODELAY` on).
    fn accept(listener: &Self::Listener) -> impl Future<Output = io::Result<(Self::Tcp, SocketAddr)>> + Send;

    /// Connects to `addr` (`TCP_NODELAY` on).
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>> + Send + 'static;

    /// A connected std socket as the runtime's stream (to connect with socket options set first).
    fn from_std(tcp: std::net::TcpStream) -> io::Result<Self::Tcp>;

    /// The socket beneath the stream, for socket options.
    fn socket(tcp: &Self::Tcp) -> socket2::SockRef<'_>;

    /// A Unix domain socket listener at `path`.
    #[cfg(unix)]
    fn bind_unix(path: &Path) -> io::Result<Self::UnixListener>;

    /// Accepts a Unix domain socket connection.
    #[cfg(unix)]
    fn accept_unix(listener: &Self::UnixListener) -> impl Future<Output = io::Result<AnyStream>> + Send;

    /// The server side of TLS over `tcp`, with the runtime's rustls adapter (tokio-rustls,
    /// futures-rustls).
    fn accept_tls(tcp: Self::Tcp, config: Arc<ServerConfig>) -> impl Future<Output = io::Result<TlsAccepted>> + Send;

    /// The client side of TLS over `tcp`, with the runtime's rustls adapter.
    fn connect_tls(
        tcp: Self::Tcp,
        name: ServerName<'static>,
        config: Arc<ClientConfig>,
    ) -> impl Future<Output = io::Result<AnyStream>> + Send;

    /// What a client stream opened by ws-async is (the binding's `ClientStream` enum).
    fn kind(stream: &<Self::R as Net>::ClientStream) -> StreamKind;

    /// Spawns `f` on the runtime; awaiting the [`Task`] gives its output (and fails the test if
    /// the task panicked). Dropping the `Task` detaches it.
    fn spawn<F>(f: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let (abort, registration) = AbortHandle::new_pair();
        Self::spawn_detached(async move {
            if let Ok(out) = Abortable::new(f, registration).await {
                let _ = tx.send(out);
            }
        });
        Task { rx, abort }
    }
}

/// A task spawned with [`TestRt::spawn`].
#[derive(Debug)]
pub struct Task<T> {
    rx: oneshot::Receiver<T>,
    abort: AbortHandle,
}

impl<T> Task<T> {
    /// Cancels the task (it is dropped at its next poll).
    pub fn abort(&self) {
        self.abort.abort();
    }

    /// A guard that cancels the task when dropped: for servers and proxies that would
    /// otherwise wait for connections after the test is over.
    pub fn abort_on_drop(self) -> AbortOnDrop {
        AbortOnDrop(self.abort)
    }
}

/// Cancels a task when dropped (see [`Task::abort_on_drop`]).
#[derive(Debug)]
pub struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.rx).poll(cx).map(|r| r.expect("the spawned task panicked or was aborted"))
    }
}

/// What a client stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// TCP (`ws://`).
    Tcp,
    /// A Unix domain socket (`ws+unix://`).
    Unix,
    /// TLS by ws-async (`wss://`), and whether the server presented certificates.
    Tls {
        /// The server's certificates are known.
        peer_certificates: bool,
    },
    /// A custom connector's stream.
    Custom,
    /// A variant this harness does not know.
    Other,
}

/// A TLS connection accepted by [`TestRt::accept_tls`].
#[derive(Debug)]
pub struct TlsAccepted {
    /// The TLS stream.
    pub stream: AnyStream,
    /// The SNI the client sent.
    pub sni: Option<String>,
    /// Whether the client presented a certificate.
    pub client_certificate: bool,
}

/// A std listener on 127.0.0.1, any port, non-blocking.
fn std_listener() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.set_nonblocking(true).unwrap();
    listener
}

/// Implements [`TestRt`] for a tokio runtime flavour.
macro_rules! tokio_rt {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $slot:literal, $builder:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $ty;

        impl TestRt for $ty {
            type R = ws_tokio::Tokio;
            type Tcp = tokio::net::TcpStream;
            type Listener = tokio::net::TcpListener;
            #[cfg(unix)]
            type UnixListener = tokio::net::UnixListener;

            const NAME: &'static str = $name;
            const SLOT: usize = $slot;

            fn block_on<F: Future>(f: F) -> F::Output {
                let build: fn() -> tokio::runtime::Builder = $builder;
                build().enable_all().build().expect("a tokio runtime").block_on(f)
            }

            fn spawn_detached<F: Future<Output = ()> + Send + 'static>(f: F) {
                tokio::spawn(f);
            }

            fn listen() -> Self::Listener {
                tokio::net::TcpListener::from_std(std_listener()).unwrap()
            }

            fn listener_addr(listener: &Self::Listener) -> SocketAddr {
                listener.local_addr().unwrap()
            }

            async fn accept(listener: &Self::Listener) -> io::Result<(Self::Tcp, SocketAddr)> {
                let (tcp, peer) = listener.accept().await?;
                tcp.set_nodelay(true)?;
                Ok((tcp, peer))
            }

            #[allow(clippy::manual_async_fn)]
            fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>> + Send + 'static {
                async move {
                    let tcp = tokio::net::TcpStream::connect(addr).await?;
                    tcp.set_nodelay(true)?;
                    Ok(tcp)
                }
            }

            fn from_std(tcp: std::net::TcpStream) -> io::Result<Self::Tcp> {
                tcp.set_nonblocking(true)?;
                tcp.set_nodelay(true)?;
                tokio::net::TcpStream::from_std(tcp)
            }

            fn socket(tcp: &Self::Tcp) -> socket2::SockRef<'_> {
                socket2::SockRef::from(tcp)
            }

            #[cfg(unix)]
            fn bind_unix(path: &Path) -> io::Result<Self::UnixListener> {
                tokio::net::UnixListener::bind(path)
            }

            #[cfg(unix)]
            async fn accept_unix(listener: &Self::UnixListener) -> io::Result<AnyStream> {
                Ok(AnyStream::new(listener.accept().await?.0))
            }

            async fn accept_tls(tcp: Self::Tcp, config: Arc<ServerConfig>) -> io::Result<TlsAccepted> {
                let tls = ws_tokio::tls::accept_tls(tcp, &ws_tokio::tls::TlsAcceptor::from(config)).await?;
                let conn = tls.get_ref().1;
                let sni = conn.server_name().map(str::to_owned);
                let client_certificate = conn.peer_certificates().is_some();
                Ok(TlsAccepted { stream: AnyStream::new(tls), sni, client_certificate })
            }

            async fn connect_tls(
                tcp: Self::Tcp,
                name: ServerName<'static>,
                config: Arc<ClientConfig>,
            ) -> io::Result<AnyStream> {
                let tls = ws_tokio::tls::TlsConnector::from(config).connect(name, tcp).await?;
                Ok(AnyStream::new(tls))
            }

            fn kind(stream: &ws_tokio::ClientStream) -> StreamKind {
                match stream {
                    ws_tokio::ClientStream::Tcp(_) => StreamKind::Tcp,
                    #[cfg(unix)]
                    ws_tokio::ClientStream::Unix(_) => StreamKind::Unix,
                    ws_tokio::ClientStream::Tls(tls) => {
                        StreamKind::Tls { peer_certificates: tls.get_ref().1.peer_certificates().is_some() }
                    }
                    ws_tokio::ClientStream::Custom(_) => StreamKind::Custom,
                    _ => StreamKind::Other,
                }
            }
        }
    };
}

tokio_rt!(
    /// tokio, current-thread runtime (what `#[tokio::test]` uses): every task on the test's
    /// thread.
    TokioCurrentThread,
    "tokio",
    0,
    tokio::runtime::Builder::new_current_thread
);

tokio_rt!(
    /// tokio, multi-thread runtime with two workers: tasks move between threads.
    TokioMultiThread,
    "tokio_mt",
    1,
    || {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    }
);

/// async-std (`async_std::task`), with async-std's sockets wrapped in
/// [`ShutdownOnClose`](ws_async_std::ShutdownOnClose) as the binding documents.
#[derive(Debug)]
pub struct AsyncStdRt;

impl TestRt for AsyncStdRt {
    type R = ws_async_std::AsyncStd;
    type Tcp = ws_async_std::ShutdownOnClose<async_std::net::TcpStream>;
    type Listener = async_std::net::TcpListener;
    #[cfg(unix)]
    type UnixListener = async_std::os::unix::net::UnixListener;

    const NAME: &'static str = "async_std";
    const SLOT: usize = 2;

    fn block_on<F: Future>(f: F) -> F::Output {
        async_std::task::block_on(f)
    }

    fn spawn_detached<F: Future<Output = ()> + Send + 'static>(f: F) {
        drop(async_std::task::spawn(f));
    }

    fn listen() -> Self::Listener {
        async_std::net::TcpListener::from(std_listener())
    }

    fn listener_addr(listener: &Self::Listener) -> SocketAddr {
        listener.local_addr().unwrap()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<(Self::Tcp, SocketAddr)> {
        let (tcp, peer) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        Ok((ws_async_std::ShutdownOnClose::new(tcp), peer))
    }

    #[allow(clippy::manual_async_fn)]
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>> + Send + 'static {
        async move {
            let tcp = async_std::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            Ok(ws_async_std::ShutdownOnClose::new(tcp))
        }
    }

    fn from_std(tcp: std::net::TcpStream) -> io::Result<Self::Tcp> {
        tcp.set_nonblocking(true)?;
        tcp.set_nodelay(true)?;
        Ok(ws_async_std::ShutdownOnClose::new(async_std::net::TcpStream::from(tcp)))
    }

    fn socket(tcp: &Self::Tcp) -> socket2::SockRef<'_> {
        socket2::SockRef::from(tcp.get_ref())
    }

    #[cfg(unix)]
    fn bind_unix(path: &Path) -> io::Result<Self::UnixListener> {
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(async_std::os::unix::net::UnixListener::from(listener))
    }

    #[cfg(unix)]
    async fn accept_unix(listener: &Self::UnixListener) -> io::Result<AnyStream> {
        let (stream, _) = listener.accept().await?;
        Ok(AnyStream::from_futures(ws_async_std::ShutdownOnClose::new(stream)))
    }

    async fn accept_tls(tcp: Self::Tcp, config: Arc<ServerConfig>) -> io::Result<TlsAccepted> {
        let tls = ws_async_std::tls::accept_tls(tcp, &ws_async_std::tls::TlsAcceptor::from(config)).await?;
        let conn = tls.get_ref().1;
        let sni = conn.server_name().map(str::to_owned);
        let client_certificate = conn.peer_certificates().is_some();
        Ok(TlsAccepted { stream: AnyStream::from_futures(tls), sni, client_certificate })
    }

    async fn connect_tls(
        tcp: Self::Tcp,
        name: ServerName<'static>,
        config: Arc<ClientConfig>,
    ) -> io::Result<AnyStream> {
        let tls = ws_async_std::tls::TlsConnector::from(config).connect(name, tcp).await?;
        Ok(AnyStream::from_futures(tls))
    }

    fn kind(stream: &ws_async_std::ClientStream) -> StreamKind {
        async_std_kind(stream)
    }
}

/// smol (`smol::block_on`, `smol::spawn`), with smol's own sockets.
#[derive(Debug)]
pub struct SmolRt;

impl TestRt for SmolRt {
    type R = ws_async_std::AsyncStd;
    type Tcp = smol::net::TcpStream;
    type Listener = smol::net::TcpListener;
    #[cfg(unix)]
    type UnixListener = smol::net::unix::UnixListener;

    const NAME: &'static str = "smol";
    const SLOT: usize = 3;

    fn block_on<F: Future>(f: F) -> F::Output {
        smol::block_on(f)
    }

    fn spawn_detached<F: Future<Output = ()> + Send + 'static>(f: F) {
        smol::spawn(f).detach();
    }

    fn listen() -> Self::Listener {
        smol::net::TcpListener::try_from(std_listener()).unwrap()
    }

    fn listener_addr(listener: &Self::Listener) -> SocketAddr {
        listener.local_addr().unwrap()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<(Self::Tcp, SocketAddr)> {
        let (tcp, peer) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        Ok((tcp, peer))
    }

    #[allow(clippy::manual_async_fn)]
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>> + Send + 'static {
        async move {
            let tcp = smol::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            Ok(tcp)
        }
    }

    fn from_std(tcp: std::net::TcpStream) -> io::Result<Self::Tcp> {
        tcp.set_nodelay(true)?;
        smol::net::TcpStream::try_from(tcp)
    }

    fn socket(tcp: &Self::Tcp) -> socket2::SockRef<'_> {
        socket2::SockRef::from(tcp)
    }

    #[cfg(unix)]
    fn bind_unix(path: &Path) -> io::Result<Self::UnixListener> {
        smol::net::unix::UnixListener::bind(path)
    }

    #[cfg(unix)]
    async fn accept_unix(listener: &Self::UnixListener) -> io::Result<AnyStream> {
        Ok(AnyStream::from_futures(listener.accept().await?.0))
    }

    async fn accept_tls(tcp: Self::Tcp, config: Arc<ServerConfig>) -> io::Result<TlsAccepted> {
        let tls = ws_async_std::tls::accept_tls(tcp, &ws_async_std::tls::TlsAcceptor::from(config)).await?;
        let conn = tls.get_ref().1;
        let sni = conn.server_name().map(str::to_owned);
        let client_certificate = conn.peer_certificates().is_some();
        Ok(TlsAccepted { stream: AnyStream::from_futures(tls), sni, client_certificate })
    }

    async fn connect_tls(
        tcp: Self::Tcp,
        name: ServerName<'static>,
        config: Arc<ClientConfig>,
    ) -> io::Result<AnyStream> {
        let tls = ws_async_std::tls::TlsConnector::from(config).connect(name, tcp).await?;
        Ok(AnyStream::from_futures(tls))
    }

    fn kind(stream: &ws_async_std::ClientStream) -> StreamKind {
        async_std_kind(stream)
    }
}

fn async_std_kind(stream: &ws_async_std::ClientStream) -> StreamKind {
    match stream {
        ws_async_std::ClientStream::Tcp(_) => StreamKind::Tcp,
        #[cfg(unix)]
        ws_async_std::ClientStream::Unix(_) => StreamKind::Unix,
        ws_async_std::ClientStream::Tls(tls) => {
            StreamKind::Tls { peer_certificates: tls.get_ref().1.peer_certificates().is_some() }
        }
        ws_async_std::ClientStream::Custom(_) => StreamKind::Custom,
        _ => StreamKind::Other,
    }
}
