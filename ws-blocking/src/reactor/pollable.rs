//! [`Pollable`]: the streams a [`Reactor`](super::Reactor) can wait on.

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use crate::transport::Stream;

/// A stream over a file descriptor that the OS readiness API (epoll, kqueue) can watch, and
/// that can be switched to non-blocking mode: what a [`Reactor`](super::Reactor) needs to park
/// a connection without a thread.
///
/// Implemented for [`TcpStream`], [`UnixStream`], [`Stream`] and TLS over them. A
/// [`CustomStream`](crate::CustomStream) has no descriptor: [`source_fd`](Self::source_fd)
/// answers `None` and the reactor refuses it.
pub trait Pollable {
    /// The descriptor to watch, if there is one.
    fn source_fd(&self) -> Option<RawFd>;

    /// Switches the stream to non-blocking reads and writes (`WouldBlock` instead of waiting).
    fn set_nonblocking(&self, on: bool) -> io::Result<()>;
}

impl Pollable for TcpStream {
    fn source_fd(&self) -> Option<RawFd> {
        Some(self.as_raw_fd())
    }

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        Self::set_nonblocking(self, on)
    }
}

impl Pollable for UnixStream {
    fn source_fd(&self) -> Option<RawFd> {
        Some(self.as_raw_fd())
    }

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        Self::set_nonblocking(self, on)
    }
}

#[cfg(feature = "rustls")]
impl<S: Pollable> Pollable for crate::tls::TlsStream<S> {
    fn source_fd(&self) -> Option<RawFd> {
        self.get_ref().source_fd()
    }

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.get_ref().set_nonblocking(on)
    }
}

impl Pollable for Stream {
    fn source_fd(&self) -> Option<RawFd> {
        match self {
            Self::Tcp(s) => s.source_fd(),
            Self::Unix(s) => s.source_fd(),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.source_fd(),
            Self::Custom(_) => None,
        }
    }

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Self::Tcp(s) => Pollable::set_nonblocking(s, on),
            Self::Unix(s) => Pollable::set_nonblocking(s, on),
            #[cfg(feature = "rustls")]
            Self::Tls(s) => s.set_nonblocking(on),
            Self::Custom(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "a custom stream cannot be polled")),
        }
    }
}
