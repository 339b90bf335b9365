//! The three kinds of error, never mixed: peer faults ([`ProtocolError`], ending the connection
//! with a close code), API misuse ([`SendError`], returned at once) and handshake failures
//! ([`HandshakeError`], carrying the HTTP status to answer with).

use std::fmt;

use crate::close::CloseCode;

/// The peer broke RFC 6455 (or a configured limit). The connection fails with
/// [`close_code`](Self::close_code) and the error is reported once, in `Event::Closed`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV1, RSV2 or RSV3 set without an extension that defines it.
    ReservedBitsSet,
    /// A reserved opcode.
    UnknownOpcode(u8),
    /// A control frame without FIN.
    FragmentedControlFrame,
    /// A control frame payload longer than 125 bytes.
    ControlFrameTooLong(u64),
    /// A server received an unmasked frame.
    UnmaskedFrameFromClient,
    /// A client received a masked frame.
    MaskedFrameFromServer,
    /// A 64-bit payload length with its most significant bit set.
    LengthMsbSet,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was in progress.
    ExpectedContinuation,
    /// A text message or close reason was not valid UTF-8.
    InvalidUtf8,
    /// A close frame carried a code not allowed on the wire.
    InvalidCloseCode(u16),
    /// A close frame with a one-byte payload.
    ClosePayloadTooShort,
    /// A frame longer than `max_frame_size`.
    FrameTooLarge {
        /// The frame's length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A message longer than `max_message_size`.
    MessageTooLarge {
        /// The limit.
        max: usize,
    },
    /// A message with more frames than `max_fragments`.
    TooManyFragments {
        /// The limit.
        max: usize,
    },
    /// RSV1 on a continuation frame.
    UnexpectedRsv1,
    /// RSV1 on a control frame.
    CompressedControlFrame,
    /// A compressed message could not be inflated.
    InflateFailed,
}

impl ProtocolError {
    /// The close code to fail the connection with: 1007 for bad UTF-8, 1009 for sizes, 1008 for
    /// the fragment count policy, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InflateFailed => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::TooManyFragments { .. } => CloseCode::POLICY_VIOLATION,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedBitsSet => f.write_str("reserved bits set without a negotiated extension"),
            Self::UnknownOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            Self::FragmentedControlFrame => f.write_str("fragmented control frame"),
            Self::ControlFrameTooLong(n) => write!(f, "control frame payload of {n} bytes (max 125)"),
            Self::UnmaskedFrameFromClient => f.write_str("unmasked frame from client"),
            Self::MaskedFrameFromServer => f.write_str("masked frame from server"),
            Self::LengthMsbSet => f.write_str("payload length with the most significant bit set"),
            Self::UnexpectedContinuation => f.write_str("continuation frame without a message in progress"),
            Self::ExpectedContinuation => f.write_str("new message while a fragmented message was in progress"),
            Self::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            Self::InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            Self::ClosePayloadTooShort => f.write_str("close payload of one byte"),
            Self::FrameTooLarge { len, max } => write!(f, "frame of {len} bytes exceeds the limit of {max}"),
            Self::MessageTooLarge { max } => write!(f, "message exceeds the limit of {max} bytes"),
            Self::TooManyFragments { max } => write!(f, "message has more than {max} fragments"),
            Self::UnexpectedRsv1 => f.write_str("RSV1 set on a continuation frame"),
            Self::CompressedControlFrame => f.write_str("RSV1 set on a control frame"),
            Self::InflateFailed => f.write_str("compressed data could not be inflated"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// The caller misused the API. Returned synchronously; the connection is unaffected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is not open (closing or closed).
    NotOpen,
    /// A close frame was already sent.
    CloseAlreadySent,
    /// A fragmented message is in progress: finish it before sending a whole one.
    MessageInProgress,
    /// A control payload longer than 125 bytes.
    ControlPayloadTooLong(usize),
    /// A close code that may not be sent.
    InvalidCloseCode(u16),
    /// A close reason longer than 123 bytes.
    CloseReasonTooLong(usize),
    /// A message taken out by [`Connection::prepare_compressed`] was not handed back through
    /// [`Connection::send_compressed`] yet: data messages must wait (control frames need not).
    ///
    /// [`Connection::prepare_compressed`]: crate::Connection::prepare_compressed
    /// [`Connection::send_compressed`]: crate::Connection::send_compressed
    CompressionPending,
    /// A [`CompressedMessage`](crate::CompressedMessage) was handed to another connection than
    /// the one that prepared it.
    WrongConnection,
    /// The compressor failed in the middle of a message sent in parts (not expected with valid
    /// settings); the message cannot be completed, so fail the connection.
    CompressionFailed,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOpen => f.write_str("the connection is not open"),
            Self::CloseAlreadySent => f.write_str("a close frame was already sent"),
            Self::MessageInProgress => f.write_str("a fragmented message is in progress"),
            Self::ControlPayloadTooLong(n) => write!(f, "control payload of {n} bytes (max 125)"),
            Self::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            Self::CloseReasonTooLong(n) => write!(f, "close reason of {n} bytes (max 123)"),
            Self::CompressionPending => f.write_str("a message is being compressed outside the connection"),
            Self::WrongConnection => f.write_str("the compressed message belongs to another connection"),
            Self::CompressionFailed => f.write_str("the compressor failed in the middle of a message"),
        }
    }
}

impl std::error::Error for SendError {}

/// Which timer ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The peer did not complete the close handshake in time.
    Close,
    /// The peer did not answer a keepalive ping in time.
    Pong,
}

/// Why the library ended a connection, reported in [`CloseInfo::error`](crate::CloseInfo).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the protocol.
    Protocol(ProtocolError),
    /// A timer expired.
    Timeout(TimeoutKind),
    /// The peer closed TCP without completing the close handshake.
    UnexpectedEof,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Timeout(TimeoutKind::Close) => f.write_str("timed out waiting for the close handshake"),
            Self::Timeout(TimeoutKind::Pong) => f.write_str("keepalive ping timed out"),
            Self::UnexpectedEof => f.write_str("connection closed without a close frame"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Self::Protocol(e)
    }
}

/// For byte-stream adapters (Node `createWebSocketStream`), where a connection the library
/// ended surfaces as an IO error: a protocol error is `InvalidData`, a timer `TimedOut`, the
/// peer's EOF without a close `UnexpectedEof`; the error itself is the source.
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        use std::io::ErrorKind;
        let kind = match &e {
            Error::Protocol(_) => ErrorKind::InvalidData,
            Error::Timeout(TimeoutKind::Close | TimeoutKind::Pong) => ErrorKind::TimedOut,
            Error::UnexpectedEof => ErrorKind::UnexpectedEof,
        };
        Self::new(kind, e)
    }
}

/// An opening handshake failed. On the server side this maps to an HTTP status
/// ([`http_status`](Self::http_status)); on the client side it is a response that broke the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The HTTP head could not be parsed.
    Malformed(String),
    /// The head was larger than `max_handshake_size`.
    HeadTooLarge,
    /// The head had more than `max_headers` header fields.
    TooManyHeaders,
    /// The peer closed the connection before the handshake completed.
    UnexpectedEof,
    /// The handshake took longer than `handshake_timeout`.
    Timeout,
    /// The request method was not GET.
    MethodNotGet,
    /// The request was not HTTP/1.1 (or later).
    NotHttp11,
    /// No `Upgrade` header at all: a plain HTTP request to a WebSocket endpoint (426).
    UpgradeRequired,
    /// `Upgrade: websocket` missing or wrong.
    MissingUpgrade,
    /// `Connection: Upgrade` missing.
    MissingConnectionUpgrade,
    /// `Host` missing.
    MissingHost,
    /// `Sec-WebSocket-Key` missing or not the base64 of 16 bytes.
    BadKey,
    /// `Sec-WebSocket-Version` missing or not 13 or 8.
    UnsupportedVersion,
    /// The request path is not served here.
    PathNotFound,
    /// The origin is not allowed.
    OriginNotAllowed,
    /// `Sec-WebSocket-Protocol` malformed (not unique tokens).
    InvalidSubprotocol,
    /// `Sec-WebSocket-Extensions` malformed.
    InvalidExtensions,
    /// The server is shutting down.
    ServiceUnavailable,
    /// Client: the response status was not 101 (used where a rejection cannot be returned as data).
    BadStatus(u16),
    /// Client: `Sec-WebSocket-Accept` did not match the key.
    AcceptMismatch,
    /// Client: the server chose a subprotocol that was not offered, or one when none was offered.
    SubprotocolNotOffered,
    /// Client: the server offered no subprotocol although one was required (not an error by default).
    SubprotocolMissing,
    /// Client: the server accepted an extension that was not offered.
    ExtensionNotOffered,
    /// The permessage-deflate parameters were not acceptable: a server got a malformed offer
    /// (400, as Node `ws`), or a client got a response it did not allow.
    DeflateParams(String),
    /// Client: the request could not be built (bad URL, header or subprotocol).
    InvalidRequest(String),
    /// Server: an application hook produced a response that cannot be sent (500).
    InvalidAccept(String),
}

impl HandshakeError {
    /// The HTTP status a server answers this failure with (Node `ws` statuses).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MethodNotGet => 405,
            Self::NotHttp11 => 505,
            Self::HeadTooLarge | Self::TooManyHeaders => 431,
            Self::OriginNotAllowed => 403,
            Self::Timeout => 408,
            Self::UpgradeRequired => 426,
            Self::InvalidAccept(_) => 500,
            Self::ServiceUnavailable => 503,
            Self::BadStatus(s) => *s,
            _ => 400,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed HTTP head: {e}"),
            Self::HeadTooLarge => f.write_str("HTTP head too large"),
            Self::TooManyHeaders => f.write_str("too many header fields"),
            Self::UnexpectedEof => f.write_str("connection closed during the handshake"),
            Self::Timeout => f.write_str("handshake timed out"),
            Self::MethodNotGet => f.write_str("method is not GET"),
            Self::NotHttp11 => f.write_str("HTTP version is not 1.1"),
            Self::UpgradeRequired => f.write_str("not a WebSocket upgrade request (no Upgrade header)"),
            Self::MissingUpgrade => f.write_str("missing or invalid Upgrade header"),
            Self::MissingConnectionUpgrade => f.write_str("missing Connection: Upgrade"),
            Self::MissingHost => f.write_str("missing Host header"),
            Self::BadKey => f.write_str("missing or invalid Sec-WebSocket-Key header"),
            Self::UnsupportedVersion => f.write_str("missing or invalid Sec-WebSocket-Version header"),
            Self::PathNotFound => f.write_str("path not served"),
            Self::OriginNotAllowed => f.write_str("origin not allowed"),
            Self::InvalidSubprotocol => f.write_str("invalid Sec-WebSocket-Protocol header"),
            Self::InvalidExtensions => f.write_str("invalid Sec-WebSocket-Extensions header"),
            Self::ServiceUnavailable => f.write_str("server is shutting down"),
            Self::BadStatus(s) => write!(f, "unexpected response status {s}"),
            Self::AcceptMismatch => f.write_str("Sec-WebSocket-Accept does not match the key"),
            Self::SubprotocolNotOffered => f.write_str("server chose a subprotocol that was not offered"),
            Self::SubprotocolMissing => f.write_str("server chose no subprotocol"),
            Self::ExtensionNotOffered => f.write_str("server accepted an extension that was not offered"),
            Self::DeflateParams(e) => write!(f, "unacceptable permessage-deflate parameters: {e}"),
            Self::InvalidRequest(e) => write!(f, "invalid request: {e}"),
            Self::InvalidAccept(e) => write!(f, "invalid handshake response: {e}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_mapping() {
        assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
        assert_eq!(ProtocolError::MessageTooLarge { max: 1 }.close_code(), CloseCode::MESSAGE_TOO_BIG);
        assert_eq!(ProtocolError::FrameTooLarge { len: 2, max: 1 }.close_code(), CloseCode::MESSAGE_TOO_BIG);
        assert_eq!(ProtocolError::TooManyFragments { max: 1 }.close_code(), CloseCode::POLICY_VIOLATION);
        assert_eq!(ProtocolError::ReservedBitsSet.close_code(), CloseCode::PROTOCOL_ERROR);
        assert_eq!(ProtocolError::UnknownOpcode(3).close_code(), CloseCode::PROTOCOL_ERROR);
    }

    #[test]
    fn status_mapping() {
        assert_eq!(HandshakeError::MethodNotGet.http_status(), 405);
        assert_eq!(HandshakeError::HeadTooLarge.http_status(), 431);
        assert_eq!(HandshakeError::TooManyHeaders.http_status(), 431);
        assert_eq!(HandshakeError::BadKey.http_status(), 400);
        assert_eq!(HandshakeError::UnsupportedVersion.http_status(), 400);
        assert_eq!(HandshakeError::OriginNotAllowed.http_status(), 403);
        assert_eq!(HandshakeError::NotHttp11.http_status(), 505);
        assert_eq!(HandshakeError::UpgradeRequired.http_status(), 426);
        assert_eq!(HandshakeError::InvalidAccept(String::new()).http_status(), 500);
    }

    #[test]
    fn io_error_kinds() {
        use std::io::ErrorKind;
        let kind = |e: Error| std::io::Error::from(e).kind();
        assert_eq!(kind(Error::Protocol(ProtocolError::InvalidUtf8)), ErrorKind::InvalidData);
        assert_eq!(kind(Error::Timeout(TimeoutKind::Close)), ErrorKind::TimedOut);
        assert_eq!(kind(Error::Timeout(TimeoutKind::Pong)), ErrorKind::TimedOut);
        assert_eq!(kind(Error::UnexpectedEof), ErrorKind::UnexpectedEof);
        let io = std::io::Error::from(Error::UnexpectedEof);
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(inner, Some(&Error::UnexpectedEof), "the error itself is the source");
    }
}
