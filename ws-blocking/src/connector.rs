//! Opening a client's transport with a user-supplied [`Connector`] (Node `ws`'s `agent` /
//! `createConnection`) instead of TCP: how another transport (a SOCKS client, a pre-resolved
//! or specially bound socket, an in-memory pipe…) plugs into
//! [`ClientBuilder`](crate::ClientBuilder). The stream it opens is boxed into
//! [`Stream::Custom`](crate::Stream::Custom) as a [`CustomStream`].

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::transport::{ClientStream, Transport, TryClone};
use crate::Target;

/// Opens the byte stream for a client connection (Node `ws`'s `agent`): given the host, port and
/// whether TLS is wanted, returns a [`ClientStream`]. With a proxy
/// ([`ClientBuilder::proxy`](crate::ClientBuilder::proxy)) the target is the proxy itself
/// (`secure` false); the tunnel and TLS are then layered over the returned stream.
///
/// Closures `Fn(Target) -> io::Result<S>` implement it, for any stream `S` that is
/// `Read + Write + Transport + TryClone + Send + 'static` (it is boxed into
/// [`ClientStream::Custom`](crate::Stream::Custom)):
///
/// ```no_run
/// use std::net::TcpStream;
/// use ws_blocking::{ClientBuilder, Target};
///
/// let (ws, _) = ClientBuilder::new("ws://example.com/chat")
///     .connector(|target: Target| {
///         // e.g. a SOCKS client, a pre-resolved address, a socket bound to a device…
///         TcpStream::connect((target.host.as_str(), target.port))
///     })
///     .connect()?;
/// # drop(ws);
/// # Ok::<(), ws_blocking::ConnectError>(())
/// ```
///
/// A type implementing the trait by hand may return any [`ClientStream`] variant (e.g.
/// `Stream::Tcp`), and can say it already did TLS ([`handles_tls`](Self::handles_tls)), e.g. to
/// use another TLS library.
///
/// The call is not bounded by the handshake timeout (a connector blocks as long as it
/// likes); once it returns, an expired handshake timeout is [`ConnectError::Timeout`], and
/// what follows (proxy tunnel, TLS, handshake) is bounded as usual when the stream supports
/// timeouts.
///
/// [`ConnectError::Timeout`]: crate::ConnectError::Timeout
pub trait Connector: Send + Sync + 'static {
    /// Opens a stream to `target`.
    fn connect(&self, target: &Target) -> io::Result<ClientStream>;

    /// Whether the streams returned for `secure` targets are already TLS streams, so that the
    /// client must not add its own TLS layer. Defaults to `false`.
    fn handles_tls(&self) -> bool {
        false
    }
}

impl<F, S> Connector for F
where
    F: Fn(Target) -> io::Result<S> + Send + Sync + 'static,
    S: Read + Write + Transport + TryClone + Send + 'static,
{
    fn connect(&self, target: &Target) -> io::Result<ClientStream> {
        Ok(ClientStream::Custom(CustomStream::new(self(target.clone())?)))
    }
}

/// What a boxed custom stream can do: `Read + Write` and its [`Transport`] and [`TryClone`]
/// capabilities, object-safe.
trait Object: Read + Write + Send + 'static {
    fn timeouts(&self) -> bool;
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    fn shutdown(&self, how: net::Shutdown) -> io::Result<()>;
    fn try_clone(&self) -> io::Result<Box<dyn Object>>;
}

/// A stream that can be cloned into a second handle.
struct Cloneable<S>(S);

/// A stream that cannot: [`TryClone`] is an `Unsupported` error.
struct Single<S>(S);

/// `Read` and `Write` by the inner stream.
macro_rules! forward_io {
    ($t:ident) => {
        impl<S: Read> Read for $t<S> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.read(buf)
            }
        }

        impl<S: Write> Write for $t<S> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.write(buf)
            }

            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                self.0.write_vectored(bufs)
            }

            fn flush(&mut self) -> io::Result<()> {
                self.0.flush()
            }
        }
    };
}

forward_io!(Cloneable);
forward_io!(Single);

/// The [`Transport`] methods of [`Object`], by the inner stream's.
macro_rules! forward_transport {
    () => {
        fn timeouts(&self) -> bool {
            S::TIMEOUTS
        }

        fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
            if S::TIMEOUTS {
                Transport::set_read_timeout(&self.0, timeout)
            } else {
                Ok(())
            }
        }

        fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
            if S::TIMEOUTS {
                Transport::set_write_timeout(&self.0, timeout)
            } else {
                Ok(())
            }
        }

        fn shutdown(&self, how: net::Shutdown) -> io::Result<()> {
            Transport::shutdown(&self.0, how)
        }
    };
}

impl<S: Read + Write + Transport + TryClone + Send + 'static> Object for Cloneable<S> {
    forward_transport!();

    fn try_clone(&self) -> io::Result<Box<dyn Object>> {
        Ok(Box::new(Self(TryClone::try_clone(&self.0)?)))
    }
}

impl<S: Read + Write + Transport + Send + 'static> Object for Single<S> {
    forward_transport!();

    fn try_clone(&self) -> io::Result<Box<dyn Object>> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "this custom stream has no second handle"))
    }
}

/// A stream opened by a [`Connector`], boxed: held by [`Stream::Custom`](crate::Stream::Custom).
///
/// It keeps the capabilities of the stream it boxes: socket timeouts (so the connection's
/// timers fire while a call blocks) when its `Transport::TIMEOUTS` is true, half-close, and a
/// second handle for [`WebSocket::split`](crate::WebSocket::split) and
/// [driver mode](crate::WebSocket::spawn) when made with [`new`](Self::new). A stream without
/// timeouts (a [`Plain`](crate::Plain) wrapper) behaves as `Plain` does: the timers fire only
/// when a call finds them expired.
pub struct CustomStream {
    /// The mutex only makes the box `Sync` (as every other `Stream` variant is): reads and
    /// writes go through `get_mut`, and the `&self` calls (timeouts, shutdown) never wait on a
    /// blocked read or write.
    inner: Mutex<Box<dyn Object>>,
}

impl fmt::Debug for CustomStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomStream").field("timeouts", &self.lock().timeouts()).finish_non_exhaustive()
    }
}

impl CustomStream {
    /// Boxes a stream that can be cloned into a second handle (TCP, a Unix socket, TLS over
    /// one, a [`Plain`](crate::Plain) wrapper of a cloneable stream…).
    pub fn new<S: Read + Write + Transport + TryClone + Send + 'static>(stream: S) -> Self {
        Self { inner: Mutex::new(Box::new(Cloneable(stream))) }
    }

    /// Boxes a stream without a second handle (an in-memory pipe…): the connection works,
    /// but [`split`](crate::WebSocket::split) and [driver mode](crate::WebSocket::spawn) fail
    /// it at once with an `Unsupported` error.
    pub fn without_clone<S: Read + Write + Transport + Send + 'static>(stream: S) -> Self {
        Self { inner: Mutex::new(Box::new(Single(stream))) }
    }

    /// Whether the boxed stream supports read and write timeouts.
    pub fn has_timeouts(&self) -> bool {
        self.lock().timeouts()
    }

    fn lock(&self) -> MutexGuard<'_, Box<dyn Object>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get_mut(&mut self) -> &mut dyn Object {
        &mut **self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Read for CustomStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.get_mut().read(buf)
    }
}

impl Write for CustomStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.get_mut().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.get_mut().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.get_mut().flush()
    }
}

impl Transport for CustomStream {
    /// True: the calls are forwarded when the boxed stream supports timeouts, and do nothing
    /// otherwise.
    const TIMEOUTS: bool = true;

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.lock().set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.lock().set_write_timeout(timeout)
    }

    fn shutdown(&self, how: net::Shutdown) -> io::Result<()> {
        self.lock().shutdown(how)
    }
}

impl TryClone for CustomStream {
    /// A second handle, or `Unsupported` for a stream boxed with
    /// [`without_clone`](Self::without_clone).
    fn try_clone(&self) -> io::Result<Self> {
        Ok(Self { inner: Mutex::new(self.lock().try_clone()?) })
    }
}
