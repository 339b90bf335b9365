//! The adapter's errors. Protocol errors are not among them: a peer that breaks the protocol
//! ends the connection, which the application sees as `Event::Closed` with a `CloseInfo`.

use std::fmt;
use std::io;

use ws_proto::http::{HeaderMap, StatusCode};
use ws_proto::{Bytes, HandshakeError, SendError};

/// Why a call on an open [`WebSocket`](crate::WebSocket) (or a split half, or a
/// [`WsHandle`](crate::WsHandle)) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading from or writing to the stream failed. The connection is dropped: `recv` then
    /// delivers the messages already received, reports `Event::Closed` (code 1006) once,
    /// then `None`.
    Io(io::Error),
    /// The call is not allowed in the connection's state (sending after `close`, a control
    /// payload over 125 bytes, an invalid close code…). Nothing was queued.
    Send(SendError),
    /// The connection is over (terminated, or a timer ended it while output was waiting to be
    /// written, which was then dropped). In driver mode: the driver task has ended.
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
            Error::Send(SendError::NotOpen | SendError::CloseAlreadySent) => {
                Self::new(io::ErrorKind::BrokenPipe, Error::Send(SendError::NotOpen))
            }
            Error::Send(e) => Self::new(io::ErrorKind::InvalidInput, e),
            Error::ConnectionClosed => Self::new(io::ErrorKind::NotConnected, "the WebSocket connection is closed"),
        }
    }
}

/// Why a non-blocking send (`try_send`) did not queue its item; the item is handed back.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrySendError<T> {
    /// The output queue is above `Config::write_high_water` (or, in driver mode, the command
    /// queue is full): try again after a flush, or drop the message (slow consumer).
    Full(T),
    /// The connection is closing or closed (or the driver task has ended).
    Closed(T),
    /// The call is not allowed in the connection's state (e.g. a fragmented message is in
    /// progress). The item was consumed.
    Send(SendError),
}

impl<T> TrySendError<T> {
    /// The item that was not queued, if it is handed back.
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

/// Why [`connect`](crate::connect), [`connect_with`](crate::connect_with) or
/// [`ClientBuilder::connect`](crate::ClientBuilder::connect) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL (or a proxy URL, or a redirect's `Location`) could not be parsed, has an
    /// unsupported scheme or a fragment (also `wss://` without the `rustls` feature).
    InvalidUrl(String),
    /// Resolving, connecting, reading or writing failed.
    Io(io::Error),
    /// The handshake failed: an invalid request, a response breaking RFC 6455, or EOF.
    Handshake(HandshakeError),
    /// `Config::handshake_timeout` expired before the handshake completed.
    Timeout,
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
    /// TLS failed: the server's certificate did not verify (untrusted, expired, another name),
    /// the handshake failed, or the TLS options were unusable (bad PEM: `InvalidInput`). The
    /// rustls error, if any, is the `io::Error`'s inner error.
    Tls(io::Error),
    /// More redirects than `max_redirects` (Node: "Maximum redirects exceeded"); holds the limit.
    TooManyRedirects(usize),
    /// The HTTP proxy refused the `CONNECT` (e.g. 407 Proxy Authentication Required).
    ProxyRejected {
        /// The proxy's status.
        status: StatusCode,
        /// The proxy's response headers (`Proxy-Authenticate`…).
        headers: Box<HeaderMap>,
    },
}

impl ConnectError {
    /// The rustls error behind a [`Tls`](Self::Tls) failure (e.g.
    /// `InvalidCertificate(NotValidForName)`), when there is one.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn rustls_error(&self) -> Option<&rustls::Error> {
        match self {
            Self::Tls(e) => e.get_ref()?.downcast_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(e) => write!(f, "invalid WebSocket URL: {e}"),
            Self::Io(e) => write!(f, "WebSocket connection failed: {e}"),
            Self::Handshake(e) => write!(f, "WebSocket handshake failed: {e}"),
            Self::Timeout => f.write_str("WebSocket handshake timed out"),
            Self::Rejected { status, .. } => write!(f, "WebSocket handshake rejected: unexpected response {status}"),
            Self::Tls(e) => write!(f, "WebSocket TLS failed: {e}"),
            Self::TooManyRedirects(max) => write!(f, "WebSocket handshake: maximum redirects ({max}) exceeded"),
            Self::ProxyRejected { status, .. } => write!(f, "proxy refused the CONNECT request: {status}"),
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

impl From<ws_proto::UrlError> for ConnectError {
    fn from(e: ws_proto::UrlError) -> Self {
        Self::InvalidUrl(e.to_string())
    }
}

impl From<ws_proto::ProxyError> for ConnectError {
    /// A refusal keeps its status and headers; an EOF before the head ended is
    /// `UnexpectedEof`; anything else (malformed or oversized head) is `InvalidData`.
    fn from(e: ws_proto::ProxyError) -> Self {
        match e {
            ws_proto::ProxyError::Rejected { status, headers } => Self::ProxyRejected { status, headers },
            ws_proto::ProxyError::UnexpectedEof => {
                Self::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "proxy closed before answering CONNECT"))
            }
            other => Self::Io(io::Error::new(io::ErrorKind::InvalidData, other.to_string())),
        }
    }
}

impl From<ws_proto::RedirectError> for ConnectError {
    /// Too many redirects is [`ConnectError::TooManyRedirects`]; a `Location` that is not a
    /// usable URL is [`ConnectError::InvalidUrl`].
    fn from(e: ws_proto::RedirectError) -> Self {
        match e {
            ws_proto::RedirectError::TooMany { max } => Self::TooManyRedirects(max),
            other => Self::InvalidUrl(other.to_string()),
        }
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

/// Why [`accept_with`](crate::accept_with) (or a variant) failed.
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
        /// The RFC violation (`HandshakeError::Timeout` for the handshake timeout), or `None`
        /// when the application refused the request.
        error: Option<HandshakeError>,
    },
    /// The request broke a rule and the `client_error` hook chose
    /// [`ClientErrorReply::Drop`](ws_proto::ClientErrorReply::Drop): the connection was closed
    /// without an answer.
    Dropped {
        /// The RFC violation.
        error: Option<HandshakeError>,
    },
}

impl AcceptError {
    /// The error for a refusal that was dropped without an answer.
    #[doc(hidden)]
    pub fn dropped(rejection: ws_proto::Rejection) -> Self {
        Self::Dropped { error: rejection.error }
    }
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "WebSocket accept failed: {e}"),
            Self::Rejected { status, error: Some(e) } => write!(f, "WebSocket handshake rejected with {status}: {e}"),
            Self::Rejected { status, error: None } => {
                write!(f, "WebSocket handshake rejected with {status} by the application")
            }
            Self::Dropped { error: Some(e) } => write!(f, "WebSocket handshake dropped without an answer: {e}"),
            Self::Dropped { error: None } => f.write_str("WebSocket handshake dropped without an answer"),
        }
    }
}

impl std::error::Error for AcceptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Rejected { error: Some(e), .. } | Self::Dropped { error: Some(e) } => Some(e),
            Self::Rejected { error: None, .. } | Self::Dropped { error: None } => None,
        }
    }
}

impl From<io::Error> for AcceptError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}
