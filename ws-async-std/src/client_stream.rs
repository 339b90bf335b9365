//! [`ClientStream`]: what a client connection runs over.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_net::TcpStream;
use futures_io::{AsyncRead, AsyncWrite};

/// A byte stream a [`Connector`](crate::Connector) may return: any
/// `AsyncRead + AsyncWrite + Unpin + Send` of `futures-io`. Implemented for every such type.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncStream for T {}

/// A boxed [`AsyncStream`], held by [`ClientStream::Custom`].
pub type BoxStream = Box<dyn AsyncStream>;

/// The stream [`connect`](crate::connect) and [`ClientBuilder`](crate::ClientBuilder) open
/// (also named [`MaybeTlsStream`](crate::MaybeTlsStream)): TCP, a Unix domain socket for
/// `ws+unix:` URLs, TLS for `wss://`, or a [`Connector`](crate::Connector)'s stream.
#[non_exhaustive]
pub enum ClientStream {
    /// A TCP connection (`ws://`).
    Tcp(TcpStream),
    /// A Unix domain socket connection (`ws+unix://`).
    #[cfg(unix)]
    Unix(async_net::unix::UnixStream),
    /// TLS (`wss://`) over another `ClientStream` (TCP, a proxy tunnel or a connector's
    /// stream). `get_ref()` gives the inner stream and the rustls connection.
    #[cfg(feature = "rustls")]
    Tls(Box<futures_rustls::client::TlsStream<Self>>),
    /// A stream opened by a [`Connector`](crate::Connector).
    Custom(BoxStream),
}

impl std::fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
            #[cfg(unix)]
            Self::Unix(s) => f.debug_tuple("Unix").field(s).finish(),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => f.debug_tuple("Tls").field(&s.get_ref().0).finish(),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            ClientStream::Tcp($s) => $e,
            #[cfg(unix)]
            ClientStream::Unix($s) => $e,
            #[cfg(feature = "rustls")]
            ClientStream::Tls($s) => $e,
            ClientStream::Custom($s) => $e,
        }
    };
}

impl AsyncRead for ClientStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_close(cx))
    }
}
