//! What the adapter needs from a stream beyond `Read + Write`: timeouts (so the connection's
//! timers fire while a call blocks), half-close, and a second handle for
//! [`split`](crate::WebSocket::split); and [`Stream`], the streams this crate opens.

use std::io::{self, Read, Write};
use std::net::{self, SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::connector::CustomStream;

/// Socket capabilities the driving loop uses: read and write timeouts and half-close.
///
/// Implemented for [`TcpStream`], [`UnixStream`], [`Stream`] and
/// `tls::TlsStream`. For any other stream (an in-memory pipe…), either
/// wrap it in [`Plain`] or write `impl Transport for MyStream {}`: the defaults do nothing
/// and report no timeout support, which **disables the connection's timers while a call
/// blocks** (keepalive, pong deadline, close timeout and handshake timeout then fire only
/// when a later call finds them expired).
pub trait Transport {
    /// Whether [`set_read_timeout`](Self::set_read_timeout) and
    /// [`set_write_timeout`](Self::set_write_timeout) work, i.e. a blocking read or write
    /// returns `WouldBlock` or `TimedOut` once the timeout elapses. When false the adapter never
    /// calls them.
    const TIMEOUTS: bool = false;

    /// Bounds how long a blocking read waits (`None`: forever).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Bounds how long a blocking write waits (`None`: forever).
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Half-closes (`Write`: the peer reads EOF) or closes (`Both`) the stream. The default
    /// does nothing: the stream closes when dropped.
    fn shutdown(&self, how: net::Shutdown) -> io::Result<()> {
        let _ = how;
        Ok(())
    }
}

/// Streams that can be duplicated into a second handle on the same connection: the split
/// halves (and tracked server connections) read on one handle and write on the other.
pub trait TryClone: Sized {
    /// A second handle on the same underlying connection.
    fn try_clone(&self) -> io::Result<Self>;
}

/// `Transport` and `TryClone` for a std socket type, by its inherent methods.
macro_rules! socket_transport {
    ($t:ty) => {
        impl Transport for $t {
            const TIMEOUTS: bool = true;

            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$t>::set_read_timeout(self, timeout)
            }

            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$t>::set_write_timeout(self, timeout)
            }

            fn shutdown(&self, how: net::Shutdown) -> io::Result<()> {
                <$t>::shutdown(self, how)
            }
        }

        impl TryClone for $t {
            fn try_clone(&self) -> io::Result<Self> {
                <$t>::try_clone(self)
            }
        }
    };
}

socket_transport!(TcpStream);
#[cfg(unix)]
socket_transport!(UnixStream);

/// A connected stream: TCP, a Unix domain socket (`ws+unix:` URLs), TLS over another one
/// (`wss://`, and the server's TLS listener; feature `rustls`), or a custom connector's stream.
/// Every variant but a [`CustomStream`] without them supports timeouts and
/// [`try_clone`](TryClone::try_clone), so it can be [split](crate::WebSocket::split).
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// A TCP connection (`ws://`).
    Tcp(TcpStream),
    /// A Unix domain socket connection (`ws+unix://`).
    #[cfg(unix)]
    Unix(UnixStream),
    /// TLS over another stream (`wss://`, possibly through a proxy tunnel).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    Tls(Box<crate::tls::TlsStream<Self>>),
    /// A stream opened by a [`Connector`](crate::Connector)
    /// ([`ClientBuilder::connector`](crate::ClientBuilder::connector)). Timeouts and a second
    /// handle work as far as the boxed stream supports them (see [`CustomStream`]).
    Custom(CustomStream),
}

/// The stream of a client connection ([`ClientBuilder::connect`](crate::ClientBuilder::connect),
/// [`connect`](crate::connect), [`dial`](crate::dial)).
pub type ClientStream = Stream;

/// The stream of a connection accepted by a `server::Server`: TCP, or TLS
/// over TCP from a TLS listener.
pub type ServerStream = Stream;

/// Runs `$e` with `$s` bound to the variant's inner stream.
macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Stream::Tcp($s) => $e,
            #[cfg(unix)]
            Stream::Unix($s) => $e,
            #[cfg(feature = "rustls")]
            Stream::Tls($s) => $e,
            Stream::Custom($s) => $e,
        }
    };
}

impl Stream {
    /// Whether the stream is encrypted (TLS).
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "rustls")]
        if let Self::Tls(_) = self {
            return true;
        }
        false
    }

    /// Whether the stream was opened by a custom [`Connector`](crate::Connector) (under TLS
    /// or not).
    pub fn is_custom(&self) -> bool {
        match self {
            Self::Custom(_) => true,
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.get_ref().is_custom(),
            _ => false,
        }
    }

    /// The peer's address (`None` for a Unix socket or a custom stream).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(s) => s.peer_addr().ok(),
            #[cfg(unix)]
            Self::Unix(_) => None,
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.get_ref().peer_addr(),
            Self::Custom(_) => None,
        }
    }

    /// The local address (`None` for a Unix socket or a custom stream).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(s) => s.local_addr().ok(),
            #[cfg(unix)]
            Self::Unix(_) => None,
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.get_ref().local_addr(),
            Self::Custom(_) => None,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each!(self, s => s.read(buf))
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each!(self, s => s.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        each!(self, s => s.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        each!(self, s => s.flush())
    }
}

impl Transport for Stream {
    const TIMEOUTS: bool = true;

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        each!(self, s => s.set_read_timeout(timeout))
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        each!(self, s => s.set_write_timeout(timeout))
    }

    fn shutdown(&self, how: net::Shutdown) -> io::Result<()> {
        each!(self, s => s.shutdown(how))
    }
}

impl TryClone for Stream {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(match self {
            Self::Tcp(s) => Self::Tcp(s.try_clone()?),
            #[cfg(unix)]
            Self::Unix(s) => Self::Unix(s.try_clone()?),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => Self::Tls(Box::new(s.try_clone()?)),
            Self::Custom(s) => Self::Custom(s.try_clone()?),
        })
    }
}

/// Wraps any `Read + Write` stream as a [`Transport`] without timeouts or half-close: the
/// connection's timers only fire when a call finds them expired, never while a call blocks.
#[derive(Debug, Default)]
pub struct Plain<S>(pub S);

impl<S: Read> Read for Plain<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for Plain<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S> Transport for Plain<S> {}

impl<S: TryClone> TryClone for Plain<S> {
    fn try_clone(&self) -> io::Result<Self> {
        self.0.try_clone().map(Plain)
    }
}
