//! [`ShutdownOnClose`]: makes `poll_close` half-close a socket whose own `poll_close` only
//! flushes.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// A socket whose `poll_close` shuts its write side down (TCP FIN), for socket types whose own
/// `poll_close` only flushes: **`async_std::net::TcpStream`**, `async_std::os::unix::net::UnixStream`
/// and `async_io::Async<std::net::TcpStream>` (smol's `async_net` streams do shut down and need
/// no wrapper).
///
/// The connection half-closes the stream where RFC 6455 wants it: a server closes TCP first
/// once the close handshake is done (§7.1.1), then waits for the client's EOF. Over a stream
/// whose `poll_close` does not shut down, the client never sees that EOF, so both sides wait
/// for their close timeout. Wrap such sockets before the handshake (async-std's sockets
/// implement `AsFd`, which the wrapper needs, with its `io_safety` feature):
///
/// ```no_run
/// # async fn run(listener: async_std::net::TcpListener) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use ws_async_std::{accept_with, ShutdownOnClose};
///
/// let (tcp, _) = listener.accept().await?;
/// tcp.set_nodelay(true)?;
/// let ws = accept_with(ShutdownOnClose::new(tcp), Arc::default(), Arc::default()).await?;
/// # Ok(())
/// # }
/// ```
///
/// Under TLS, wrap the socket, not the TLS stream: `TlsAcceptor::accept(ShutdownOnClose::new(tcp))`
/// (the TLS stream's `poll_close` sends `close_notify`, then closes the socket beneath).
#[derive(Debug)]
pub struct ShutdownOnClose<S> {
    io: S,
    shut: bool,
}

impl<S> ShutdownOnClose<S> {
    /// Wraps a socket.
    pub fn new(io: S) -> Self {
        Self { io, shut: false }
    }

    /// The socket (its options, such as `set_nodelay`, take `&self`; reading or writing it
    /// directly would corrupt the connection, so there is no `get_mut`).
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The socket back.
    pub fn into_inner(self) -> S {
        self.io
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ShutdownOnClose<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [io::IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_read_vectored(cx, bufs)
    }
}

macro_rules! write_impl {
    ($socket:path) => {
        impl<S: AsyncWrite + Unpin + $socket> AsyncWrite for ShutdownOnClose<S> {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().io).poll_flush(cx)
            }

            /// Flushes, then shuts the write side down (once; a socket the peer already
            /// reset counts as shut).
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let this = self.get_mut();
                ready!(Pin::new(&mut this.io).poll_close(cx))?;
                if !this.shut {
                    this.shut = true;
                    match socket2::SockRef::from(&this.io).shutdown(std::net::Shutdown::Write) {
                        Err(e) if e.kind() != io::ErrorKind::NotConnected => return Poll::Ready(Err(e)),
                        _ => {}
                    }
                }
                Poll::Ready(Ok(()))
            }
        }
    };
}

#[cfg(unix)]
write_impl!(std::os::fd::AsFd);
#[cfg(windows)]
write_impl!(std::os::windows::io::AsSocket);
