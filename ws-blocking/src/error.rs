//! The adapter's errors. Protocol errors are not among them: a peer that breaks the protocol
//! ends the connection, which the application sees as `Event::Closed` with a `CloseInfo`.

use std::fmt;
use std::io;

use ws_proto::http::{HeaderMap, StatusCode};
use ws_proto::{Bytes, HandshakeError, SendError};

/// Why a call on an open [`WebSocket`](crate::WebSocket) (or a split half) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading from or writing to the stream failed. The connection is dropped: the next
    /// `read` reports `Event::Closed` (code 1006) once, later ones
    /// [`ConnectionClosed`](Self::ConnectionClosed).
    Io(io::Error),
    /// The call is not allowed in the connection's state (sending after `close`, a control
    /// payload over 125 bytes, an invalid close code…). Nothing was sent.
    Send(SendError),
    /// The connection is over: `Event::Closed` was already returned and the socket is done.
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
            Error::Send(e) => Self::new(io::ErrorKind::InvalidInput, e),
            Error::ConnectionClosed => Self::new(io::ErrorKind::NotConnected, "the WebSocket connection is closed"),
        }
    }
}

/// Why [`connect`](crate::connect) or [`connect_with`](crate::connect_with) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL could not be parsed or has an unsupported scheme.
    InvalidUrl(String),
    /// `wss://` without the `rustls` feature.
    TlsNotSupported,
    /// Resolving, connecting, reading or writing failed.
    Io(io::Error),
    /// The handshake failed: an invalid request, a response breaking RFC 6455, EOF or the
    /// handshake timeout.
    Handshake(HandshakeError),
    /// The server answered with another status than 101 (Node `unexpected-response`).
    Rejected {
        /// The response status (e.g. 401, 403, 400, a redirect).
        status: StatusCode,
        /// The response headers (`Location` for a redirect, `WWW-Authenticate`…), boxed to
        /// keep the error small.
        headers: Box<HeaderMap>,
        /// The response body, capped at `Config::max_rejection_body`.
        body: Bytes,
    },
    /// TLS failed: the server's certificate did not verify, the TLS handshake failed, or the
    /// `TlsOptions` were unusable (`InvalidInput`). The rustls error, if
    /// any, is the `io::Error`'s inner error.
    Tls(io::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(e) => write!(f, "invalid WebSocket URL: {e}"),
            Self::TlsNotSupported => f.write_str(
                "wss:// is not supported by ws-blocking without its `rustls` feature; \
                 connect a TLS stream yourself and use connect_with",
            ),
            Self::Tls(e) => write!(f, "WebSocket TLS failed: {e}"),
            Self::Io(e) => write!(f, "WebSocket connection failed: {e}"),
            Self::Handshake(e) => write!(f, "WebSocket handshake failed: {e}"),
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
        Self::Handshake(e)
    }
}

/// Why [`accept`](crate::accept) or [`accept_with`](crate::accept_with) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum AcceptError {
    /// Reading or writing failed (the client may have gone away mid-handshake).
    Io(io::Error),
    /// The request was refused. The HTTP response was written (as far as the client was still
    /// listening) and the write side shut down.
    Rejected {
        /// The status answered (400, 403, 405, 408 for the handshake timeout, 426, 431…).
        status: StatusCode,
        /// The RFC violation, or `None` when the application refused the request.
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
