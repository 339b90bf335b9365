//! What the adapter needs from a stream beyond `Read + Write`: timeouts (so the connection's
//! timers fire while a call blocks), half-close, and cloning for [`split`](crate::WebSocket::split).

use std::io::{self, Read, Write};
use std::net::{self, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Socket capabilities the driving loop uses: read and write timeouts (the `Deadline` part)
/// and half-close (the `Shutdown` part).
///
/// Implemented for [`TcpStream`], [`UnixStream`] and [`Stream`]. For any other stream
/// (a TLS stream, an in-memory pipe…), either wrap it in [`Plain`] or write
/// `impl Transport for MyStream {}`: the defaults do nothing and report no timeout support,
/// which **disables the connection's timers while a call blocks** (keepalive, pong deadline,
/// close timeout and handshake timeout then fire only when a later call finds them expired).
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

/// Streams that can be duplicated into a second handle on the same connection (needed by
/// [`WebSocket::split`](crate::WebSocket::split), which reads on one handle and writes on the
/// other).
pub trait TryClone: Sized {
    /// A second handle on the same underlying connection.
    fn try_clone(&self) -> io::Result<Self>;
}

impl Transport for TcpStream {
    const TIMEOUTS: bool = true;

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_write_timeout(self, timeout)
    }

    fn shutdown(&self, how: net::Shutdown) -> io::Result<()> {
        Self::shutdown(self, how)
    }
}

impl TryClone for TcpStream {
    fn try_clone(&self) -> io::Result<Self> {
        Self::try_clone(self)
    }
}

#[cfg(unix)]
impl Transport for UnixStream {
    const TIMEOUTS: bool = true;

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_write_timeout(self, timeout)
    }

    fn shutdown(&self, how: net::Shutdown) -> io::Result<()> {
        Self::shutdown(self, how)
    }
}

#[cfg(unix)]
impl TryClone for UnixStream {
    fn try_clone(&self) -> io::Result<Self> {
        Self::try_clone(self)
    }
}

/// A connected client stream: TCP, a Unix domain socket for `ws+unix:` URLs, or TLS over TCP
/// for `wss://` (feature `rustls`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// A TCP connection (`ws://`).
    Tcp(TcpStream),
    /// A Unix domain socket connection (`ws+unix://`).
    #[cfg(unix)]
    Unix(UnixStream),
    /// TLS over TCP (`wss://`). Cannot be [`try_clone`](TryClone::try_clone)d, so
    /// [`WebSocket::split`](crate::WebSocket::split) is not available for it. Half-close
    /// shuts the TCP stream down without a TLS `close_notify`.
    #[cfg(feature = "rustls")]
    Tls(Box<crate::tls::TlsStream>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.read(buf),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.write(buf),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write_vectored(bufs),
            #[cfg(unix)]
            Self::Unix(s) => s.write_vectored(bufs),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Self::Unix(s) => s.flush(),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.flush(),
        }
    }
}

impl Transport for Stream {
    const TIMEOUTS: bool = true;

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Self::Unix(s) => s.set_read_timeout(timeout),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.sock.set_read_timeout(timeout),
        }
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_write_timeout(timeout),
            #[cfg(unix)]
            Self::Unix(s) => s.set_write_timeout(timeout),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.sock.set_write_timeout(timeout),
        }
    }

    fn shutdown(&self, how: net::Shutdown) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.shutdown(how),
            #[cfg(unix)]
            Self::Unix(s) => s.shutdown(how),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.sock.shutdown(how),
        }
    }
}

impl TryClone for Stream {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(match self {
            Self::Tcp(s) => Self::Tcp(s.try_clone()?),
            #[cfg(unix)]
            Self::Unix(s) => Self::Unix(s.try_clone()?),
            #[cfg(feature = "rustls")]
            Self::Tls(_) => {
                return Err(io::Error::new(io::ErrorKind::Unsupported, "a TLS stream cannot be cloned (no split)"))
            }
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
