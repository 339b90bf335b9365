//! Errors. A peer breaking the protocol is not one of them: the connection ends and the
//! application sees `Event::Closed` with a `CloseInfo` saying why.

use std::fmt;
use std::io;

use ws_proto::http::{HeaderMap, StatusCode};
use ws_proto::{Bytes, HandshakeError, SendError};

/// Why a call on a [`WebSocket`](crate::WebSocket), a split half or a
/// [`WsHandle`](crate::WsHandle) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The stream failed. The connection is dropped: the next `recv` reports `Event::Closed`
    /// (1006) once, then `None`.
    Io(io::Error),
    /// Not allowed in the connection's state (sending after `close`, a control payload over
    /// 125 bytes, an invalid close code…). Nothing was queued.
    Send(SendError),
    /// The connection is over: terminated, or ended by a timer while output waited to be
    /// written (that output was dropped). In driver mode: the driver has ended.
    ConnectionClosed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "WebSocket IO error: {e}"),
            Self::Send(e) => write!(f, "cannot send: {e}"),
            Self::ConnectionClosed => f.write_str("the WebSocket connection is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Send(e) => Some(e),
            Self::ConnectionClosed => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            Error::Send(e @ (SendError::NotOpen | SendError::CloseAlreadySent)) => {
                Self::new(io::ErrorKind::BrokenPipe, e)
            }
            Error::Send(e) => Self::new(io::ErrorKind::InvalidInput, e),
            Error::ConnectionClosed => Self::new(io::ErrorKind::NotConnected, Error::ConnectionClosed),
        }
    }
}

/// Why a non-blocking send did not queue its item.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrySendError<T> {
    /// The output queue is at or above `Config::write_high_water` (in driver mode: the command
    /// queue is full). The item is handed back: retry after a flush, or drop it.
    Full(T),
    /// The connection is closing or closed (or the driver has ended). The item is handed back.
    Closed(T),
    /// Not allowed in the connection's state (e.g. a fragmented message is in progress). The
    /// item was consumed.
    Send(SendError),
}

impl<T> TrySendError<T> {
    /// The item, when it was handed back.
    pub fn into_inner(self) -> Option<T> {
        match self {
            Self::Full(t) | Self::Closed(t) => Some(t),
            Self::Send(_) => None,
        }
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the WebSocket send queue is full"),
            Self::Closed(_) => f.write_str("the WebSocket connection is closed"),
            Self::Send(e) => write!(f, "cannot send: {e}"),
        }
    }
}

impl<T: fmt::Debug> std::error::Error for TrySendError<T> {}

/// Why [`connect`](crate::connect) or [`connect_with`](crate::connect_with) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL does not parse, or its scheme is not supported (`wss://` without the `rustls`
    /// feature).
    InvalidUrl(String),
    /// Resolving, connecting, reading or writing failed.
    Io(io::Error),
    /// The TLS handshake failed (an untrusted certificate…) or the TLS options are unusable
    /// (malformed PEM). Feature `rustls`.
    Tls(io::Error),
    /// The handshake failed: an invalid request, a response breaking RFC 6455, or EOF.
    Handshake(HandshakeError),
    /// `Config::handshake_timeout` expired first.
    Timeout,
    /// The server answered another status than 101 (Node `unexpected-response`).
    Rejected {
        /// The status (401, 403, a redirect…).
        status: StatusCode,
        /// The headers (`Location`, `WWW-Authenticate`…), boxed to keep the error small.
        headers: Box<HeaderMap>,
        /// The body, up to `Config::max_rejection_body`.
        body: Bytes,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(e) => write!(f, "invalid WebSocket URL: {e}"),
            Self::Io(e) => write!(f, "WebSocket connection failed: {e}"),
            Self::Tls(e) => write!(f, "WebSocket TLS failed: {e}"),
            Self::Handshake(e) => write!(f, "WebSocket handshake failed: {e}"),
            Self::Timeout => f.write_str("WebSocket handshake timed out"),
            Self::Rejected { status, .. } => write!(f, "WebSocket handshake rejected: unexpected response {status}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) | Self::Tls(e) => Some(e),
            Self::Handshake(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ConnectError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<HandshakeError> for ConnectError {
    fn from(e: HandshakeError) -> Self {
        match e {
            HandshakeError::Timeout => Self::Timeout,
            e => Self::Handshake(e),
        }
    }
}

/// Why [`accept_with`](crate::accept_with) or a variant failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum AcceptError {
    /// Reading or writing failed (the client may have left mid-handshake).
    Io(io::Error),
    /// The request was refused: the HTTP response was written (as far as the client still
    /// listened) and the write side closed.
    Rejected {
        /// The status answered (400, 403, 408 for the handshake timeout, 426, 431…).
        status: StatusCode,
        /// The RFC violation or `HandshakeError::Timeout`; `None` when the application
        /// refused.
        error: Option<HandshakeError>,
    },
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "WebSocket accept failed: {e}"),
            Self::Rejected { status, error: Some(e) } => write!(f, "WebSocket handshake rejected with {status}: {e}"),
            Self::Rejected { status, error: None } => {
                write!(f, "WebSocket handshake rejected with {status} by the application")
            }
        }
    }
}

impl std::error::Error for AcceptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Rejected { error: Some(e), .. } => Some(e),
            Self::Rejected { error: None, .. } => None,
        }
    }
}

impl From<io::Error> for AcceptError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}
