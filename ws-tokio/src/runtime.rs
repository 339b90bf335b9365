//! [`Tokio`]: the runtime type `ws-async` is driven with here.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use ws_async::runtime::{BlockingJob, Custom, Io, Net, Runtime, Sleep};

use crate::client_stream::{AsyncStream, ClientStream, ServerStream};

/// The tokio runtime, as `ws-async` sees it: tokio's clock (so `tokio::time::pause()` drives
/// the connections' timers in tests), `tokio::time::Sleep`, `tokio::spawn`,
/// `spawn_blocking`, and tokio's TCP and Unix sockets.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

/// A resettable tokio sleep.
#[derive(Debug)]
pub struct TokioSleep(Pin<Box<tokio::time::Sleep>>);

impl Sleep for TokioSleep {
    fn reset(&mut self, deadline: Instant) {
        self.0.as_mut().reset(deadline.into());
    }

    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Runtime for Tokio {
    type Sleep = TokioSleep;

    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(deadline: Instant) -> TokioSleep {
        TokioSleep(Box::pin(tokio::time::sleep_until(deadline.into())))
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
        tokio::spawn(future);
    }

    fn spawn_blocking(job: BlockingJob) -> Result<(), BlockingJob> {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(job);
                Ok(())
            }
            Err(_) => Err(job),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> for Tokio {
    fn poll_read(io: &mut S, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(io).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write(io: &mut S, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(io).poll_write(cx, buf)
    }

    fn poll_write_vectored(io: &mut S, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(io: &S) -> bool {
        io.is_write_vectored()
    }

    fn poll_flush(io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(io).poll_flush(cx)
    }

    fn poll_shutdown(io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(io).poll_shutdown(cx)
    }
}

impl Net for Tokio {
    type ClientStream = ClientStream;
    type Tcp = TcpStream;
    type Listener = TcpListener;
    type ServerStream = ServerStream;

    fn server_tcp(tcp: TcpStream) -> ServerStream {
        ServerStream::Tcp(tcp)
    }

    #[cfg(feature = "rustls")]
    async fn accept_tls(tcp: TcpStream, config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<ServerStream> {
        let tls = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await?;
        Ok(ServerStream::Tls(Box::new(tls)))
    }

    async fn connect_tcp(host: String, port: u16, local: Option<IpAddr>) -> io::Result<ClientStream> {
        Ok(ClientStream::Tcp(tcp_connect(&host, port, local).await?))
    }

    async fn connect_unix(path: String) -> io::Result<ClientStream> {
        #[cfg(unix)]
        return Ok(ClientStream::Unix(tokio::net::UnixStream::connect(path).await?));
        #[cfg(not(unix))]
        return Err(io::Error::new(io::ErrorKind::Unsupported, format!("no Unix domain sockets here ({path})")));
    }

    #[cfg(feature = "rustls")]
    async fn connect_tls(
        stream: ClientStream,
        server_name: rustls::pki_types::ServerName<'static>,
        config: std::sync::Arc<rustls::ClientConfig>,
    ) -> io::Result<ClientStream> {
        let tls = tokio_rustls::TlsConnector::from(config).connect(server_name, stream).await?;
        Ok(ClientStream::Tls(Box::new(tls)))
    }

    fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        #[cfg(not(windows))]
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(backlog)
    }

    async fn resolve(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host.as_str(), port)).await?.collect())
    }

    fn poll_accept(listener: &TcpListener, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        listener.poll_accept(cx)
    }

    fn listener_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    fn tcp_info(tcp: &TcpStream, nodelay: Option<bool>) -> (Option<SocketAddr>, Option<SocketAddr>) {
        if let Some(on) = nodelay {
            let _ = tcp.set_nodelay(on);
        }
        (tcp.local_addr().ok(), tcp.peer_addr().ok())
    }
}

impl<S: AsyncStream> Custom<S> for Tokio {
    fn custom(stream: S) -> ClientStream {
        ClientStream::Custom(Box::new(stream))
    }
}

/// Connects over TCP with `TCP_NODELAY` on, trying each resolved address in turn. With `local`,
/// the socket is bound to that address first (Node `localAddress`), and only addresses of its
/// family are tried.
async fn tcp_connect(host: &str, port: u16, local: Option<IpAddr>) -> io::Result<TcpStream> {
    let stream = match local {
        None => TcpStream::connect((host, port)).await?,
        Some(local) => {
            let mut last = None;
            for addr in tokio::net::lookup_host((host, port)).await? {
                if addr.is_ipv4() != local.is_ipv4() {
                    continue;
                }
                let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
                socket.bind(SocketAddr::new(local, 0))?;
                match socket.connect(addr).await {
                    Ok(s) => {
                        s.set_nodelay(true)?;
                        return Ok(s);
                    }
                    Err(e) => last = Some(e),
                }
            }
            return Err(last.unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!("{host:?} has no address of the same family as the local address {local}"),
                )
            }));
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}
