//! [`AsyncStd`]: the runtime type `ws-async` is driven with here.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::Async;
use async_net::TcpStream;
use futures_io::{AsyncRead, AsyncWrite};
use ws_async::runtime::{BlockingJob, Custom, Io, Net, Runtime, Sleep};

use crate::client_stream::{AsyncStream, ClientStream, ServerStream};

/// async-std and smol, as `ws-async` sees them: both run on the `async-io` reactor, so the
/// timers are `async_io::Timer`s, the sockets `async-net`'s, blocking work goes to the
/// `blocking` pool both use, and tasks are spawned on `async-global-executor` (async-std's own
/// executor; under smol it runs beside smol's, on the same reactor). Streams are anything
/// implementing `futures_io::{AsyncRead, AsyncWrite}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

/// A resettable `async_io::Timer`.
#[derive(Debug)]
pub struct AsyncIoSleep(async_io::Timer);

impl Sleep for AsyncIoSleep {
    fn reset(&mut self, deadline: Instant) {
        self.0.set_at(deadline);
    }

    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Runtime for AsyncStd {
    type Sleep = AsyncIoSleep;

    fn now() -> Instant {
        Instant::now()
    }

    fn sleep_until(deadline: Instant) -> AsyncIoSleep {
        AsyncIoSleep(async_io::Timer::at(deadline))
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
        async_global_executor::spawn(future).detach();
    }

    fn spawn_blocking(job: BlockingJob) -> Result<(), BlockingJob> {
        blocking::unblock(job).detach();
        Ok(())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> for AsyncStd {
    fn poll_read(io: &mut S, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(io).poll_read(cx, buf)
    }

    fn poll_write(io: &mut S, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(io).poll_write(cx, buf)
    }

    fn poll_write_vectored(io: &mut S, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(_: &S) -> bool {
        // futures-io has no such query; its default `poll_write_vectored` writes the first
        // buffer, which is correct, and sockets implement it with one system call.
        true
    }

    fn poll_flush(io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(io).poll_flush(cx)
    }

    fn poll_shutdown(io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(io).poll_close(cx)
    }
}

impl Net for AsyncStd {
    type ClientStream = ClientStream;
    type Tcp = TcpStream;
    type Listener = Async<std::net::TcpListener>;
    type ServerStream = ServerStream;

    fn server_tcp(tcp: TcpStream) -> ServerStream {
        ServerStream::Tcp(tcp)
    }

    #[cfg(feature = "rustls")]
    async fn accept_tls(
        tcp: TcpStream,
        config: std::sync::Arc<futures_rustls::rustls::ServerConfig>,
    ) -> io::Result<ServerStream> {
        let tls = futures_rustls::TlsAcceptor::from(config).accept(tcp).await?;
        Ok(ServerStream::Tls(Box::new(tls)))
    }

    async fn connect_tcp(host: String, port: u16, local: Option<IpAddr>) -> io::Result<ClientStream> {
        Ok(ClientStream::Tcp(tcp_connect(&host, port, local).await?))
    }

    async fn connect_unix(path: String) -> io::Result<ClientStream> {
        #[cfg(unix)]
        return Ok(ClientStream::Unix(async_net::unix::UnixStream::connect(path).await?));
        #[cfg(not(unix))]
        return Err(io::Error::new(io::ErrorKind::Unsupported, format!("no Unix domain sockets here ({path})")));
    }

    #[cfg(feature = "rustls")]
    async fn connect_tls(
        stream: ClientStream,
        server_name: futures_rustls::pki_types::ServerName<'static>,
        config: std::sync::Arc<futures_rustls::rustls::ClientConfig>,
    ) -> io::Result<ClientStream> {
        let tls = futures_rustls::TlsConnector::from(config).connect(server_name, stream).await?;
        Ok(ClientStream::Tls(Box::new(tls)))
    }

    fn bind(addr: SocketAddr, backlog: u32) -> io::Result<Async<std::net::TcpListener>> {
        let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
        #[cfg(not(windows))]
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        Async::new(std::net::TcpListener::from(socket))
    }

    async fn resolve(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
        async_net::resolve((host.as_str(), port)).await
    }

    fn poll_accept(
        listener: &Async<std::net::TcpListener>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        loop {
            match listener.get_ref().accept() {
                Ok((tcp, peer)) => return Poll::Ready(TcpStream::try_from(tcp).map(|tcp| (tcp, peer))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Registers `cx` with the reactor until the listener is readable again.
            std::task::ready!(listener.poll_readable(cx))?;
        }
    }

    fn listener_addr(listener: &Async<std::net::TcpListener>) -> io::Result<SocketAddr> {
        listener.get_ref().local_addr()
    }

    fn tcp_info(tcp: &TcpStream, nodelay: Option<bool>) -> (Option<SocketAddr>, Option<SocketAddr>) {
        if let Some(on) = nodelay {
            let _ = tcp.set_nodelay(on);
        }
        (tcp.local_addr().ok(), tcp.peer_addr().ok())
    }
}

impl<S: AsyncStream> Custom<S> for AsyncStd {
    fn custom(stream: S) -> ClientStream {
        ClientStream::Custom(Box::new(stream))
    }
}

/// Connects over TCP with `TCP_NODELAY` on, trying each resolved address in turn; with
/// `local`, from that address, trying only addresses of its family.
async fn tcp_connect(host: &str, port: u16, local: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(local) = local else {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        return Ok(stream);
    };
    let mut last = None;
    for addr in async_net::resolve((host, port)).await? {
        if addr.is_ipv4() != local.is_ipv4() {
            continue;
        }
        // A rare option: the bind and the connect run on the blocking pool, as std would.
        let connected = blocking::unblock(move || {
            let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
            socket.bind(&SocketAddr::new(local, 0).into())?;
            socket.connect(&addr.into())?;
            Ok::<_, io::Error>(std::net::TcpStream::from(socket))
        })
        .await;
        match connected.and_then(TcpStream::try_from) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{host:?} has no address of the same family as the local address {local}"),
        )
    }))
}
