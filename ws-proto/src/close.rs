//! Close codes (an open set, as a newtype), close frames and the close outcome.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, ProtocolError, SendError};
use crate::utf8::Utf8Bytes;

/// A WebSocket close status code (RFC 6455 §7.4).
///
/// An open set: any `u16` can be held, the associated constants name the registered ones and
/// [`is_valid_on_wire`](Self::is_valid_on_wire) says which may appear in a close frame.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection closed without a close frame (never sent on the wire).
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: a message's data was inconsistent with its type (invalid UTF-8).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client needed an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (also used for slow consumers).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway got an invalid response upstream.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: TLS handshake failure (never sent on the wire).
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// Wraps a raw code.
    pub const fn from_u16(v: u16) -> Self {
        Self(v)
    }

    /// The raw code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether the code may appear in a close frame: 1000–1003, 1007–1014 and 3000–4999.
    /// Applied to received frames and to the arguments of `close()`.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "NORMAL",
            1001 => "GOING_AWAY",
            1002 => "PROTOCOL_ERROR",
            1003 => "UNSUPPORTED_DATA",
            1005 => "NO_STATUS",
            1006 => "ABNORMAL",
            1007 => "INVALID_PAYLOAD",
            1008 => "POLICY_VIOLATION",
            1009 => "MESSAGE_TOO_BIG",
            1010 => "MANDATORY_EXTENSION",
            1011 => "INTERNAL_ERROR",
            1012 => "SERVICE_RESTART",
            1013 => "TRY_AGAIN_LATER",
            1014 => "BAD_GATEWAY",
            1015 => "TLS_HANDSHAKE",
            _ => return None,
        })
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{}({})", n, self.0),
            None => write!(f, "CloseCode({})", self.0),
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u16> for CloseCode {
    fn from(v: u16) -> Self {
        Self(v)
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> Self {
        c.0
    }
}

/// Longest close reason: a control payload is at most 125 bytes, two of which are the code.
pub const MAX_CLOSE_REASON: usize = 123;

/// A close frame's code and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, at most [`MAX_CLOSE_REASON`] bytes of UTF-8.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// A close frame with this code and reason.
    pub fn new(code: impl Into<CloseCode>, reason: impl Into<Utf8Bytes>) -> Self {
        Self { code: code.into(), reason: reason.into() }
    }

    /// Checks the frame may be sent: a code valid on the wire and a short enough reason.
    pub fn validate(&self) -> Result<(), SendError> {
        if !self.code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode(self.code.as_u16()));
        }
        if self.reason.len() > MAX_CLOSE_REASON {
            return Err(SendError::CloseReasonTooLong(self.reason.len()));
        }
        Ok(())
    }

    /// The close frame payload: the code in network order, then the reason.
    pub(crate) fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(2 + self.reason.len());
        b.put_u16(self.code.as_u16());
        b.extend_from_slice(self.reason.as_bytes());
        b.freeze()
    }

    /// Parses a received close payload. `Ok(None)` is an empty payload (no status, 1005).
    pub(crate) fn decode(payload: Bytes, validate_utf8: bool) -> Result<Option<Self>, ProtocolError> {
        match payload.len() {
            0 => Ok(None),
            1 => Err(ProtocolError::ClosePayloadTooShort),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = payload.slice(2..);
                let reason = if validate_utf8 {
                    Utf8Bytes::try_from(reason).map_err(|_| ProtocolError::InvalidUtf8)?
                } else {
                    Utf8Bytes::from_validated(reason)
                };
                Ok(Some(Self { code, reason }))
            }
        }
    }
}

/// Who started the closing of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initiator {
    /// This endpoint's application called `close`.
    Local,
    /// The peer sent a close frame first.
    Remote,
    /// The library failed the connection (protocol error, timeout, EOF).
    Library,
}

/// How a connection ended: carried by [`Event::Closed`](crate::Event::Closed).
///
/// What to read first:
///
/// | question | read |
/// |---|---|
/// | what the peer said (Node's `close` event: `code`, `reason`) | [`code`](Self::code), [`reason`](Self::reason) |
/// | what this side said | [`sent_code`](Self::sent_code), [`sent_reason`](Self::sent_reason) |
/// | did this side end it (its application closed, or the library failed the connection)? | [`by_us`](Self::by_us) |
/// | did the library fail it, and why (e.g. a message over `max_message_size`: 1009 sent) | [`failed_by_us`](Self::failed_by_us), [`error`](Self::error) |
/// | was it a clean close? | [`was_clean`](Self::was_clean) |
///
/// When this side fails the connection (a protocol error or a limit), it sends a close frame
/// with the code for the error ([`ProtocolError::close_code`]) and the error's text as reason,
/// and [`code`](Self::code) is then what the peer answered: usually the same code echoed,
/// 1005 for an empty close frame, or 1006 when the peer just dropped the connection. The code
/// this side chose is [`sent_code`](Self::sent_code).
#[derive(Clone, Debug)]
pub struct CloseInfo {
    /// The code and reason this endpoint sent, if it sent a close frame with a code.
    pub sent: Option<CloseFrame>,
    /// The code and reason the peer sent, if its close frame had a code.
    pub received: Option<CloseFrame>,
    /// This endpoint sent a close frame (with or without a code).
    pub close_sent: bool,
    /// The peer sent a close frame (with or without a code).
    pub close_received: bool,
    /// Who started closing.
    pub initiator: Initiator,
    /// Why the library ended the connection, if it did (protocol error, timeout, EOF).
    pub error: Option<Error>,
    /// Messages the application handed over that were never sent: a message lent for
    /// compression off the runtime ([`Connection::prepare_compressed`]) when the connection
    /// stopped being open (a timer, `terminate`, an IO failure, the peer's EOF, or a close
    /// that overtook it) cannot be queued any more. 0 when everything accepted was queued.
    ///
    /// [`Connection::prepare_compressed`]: crate::Connection::prepare_compressed
    pub unsent_messages: usize,
}

impl CloseInfo {
    /// The peer's code, as Node's `close` event reports it: the code of the peer's close
    /// frame, else 1005 when that frame had none, else 1006 when no close frame arrived.
    ///
    /// It is the *received* code even when this side ended the connection: after this side
    /// failed it with 1009, `code()` is the peer's echo (1009 from a conforming peer) or 1006;
    /// [`sent_code`](Self::sent_code) is the 1009 this side sent.
    pub fn code(&self) -> CloseCode {
        match (&self.received, self.close_received) {
            (Some(f), _) => f.code,
            (None, true) => CloseCode::NO_STATUS,
            (None, false) => CloseCode::ABNORMAL,
        }
    }

    /// The peer's reason, empty when there was none.
    pub fn reason(&self) -> &str {
        self.received.as_ref().map_or("", |f| f.reason.as_str())
    }

    /// The code this side sent in its close frame; `None` when it sent none, or sent one
    /// without a code. After this side failed the connection, the code for the error (1002,
    /// 1007, 1009…).
    pub fn sent_code(&self) -> Option<CloseCode> {
        self.sent.as_ref().map(|f| f.code)
    }

    /// The reason this side sent, empty when there was none. After this side failed the
    /// connection, a short description of the error.
    pub fn sent_reason(&self) -> &str {
        self.sent.as_ref().map_or("", |f| f.reason.as_str())
    }

    /// This side started the closing: its application called `close`, or the library failed
    /// the connection (a protocol error, a limit, a timeout, the peer's EOF). False when the
    /// peer's close frame came first.
    pub fn by_us(&self) -> bool {
        self.initiator != Initiator::Remote
    }

    /// The library failed the connection ([`Initiator::Library`] with an [`error`](Self::error)):
    /// the error. For a protocol error or a limit, [`sent_code`](Self::sent_code) is its close
    /// code ([`ProtocolError::close_code`]) when the connection was still open to send it.
    pub fn failed_by_us(&self) -> Option<&Error> {
        self.error.as_ref().filter(|_| self.initiator == Initiator::Library)
    }

    /// Both close frames were exchanged and no error happened.
    pub fn was_clean(&self) -> bool {
        self.error.is_none() && self.close_sent && self.close_received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_table() {
        let valid = |c: u16| CloseCode(c).is_valid_on_wire();
        for c in 0..1000 {
            assert!(!valid(c), "{c}");
        }
        for c in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014] {
            assert!(valid(c), "{c}");
        }
        for c in [1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(!valid(c), "{c}");
        }
        assert!(valid(3000) && valid(3999) && valid(4000) && valid(4999));
    }

    #[test]
    fn payload_round_trip_and_errors() {
        let f = CloseFrame::new(4001u16, "bye");
        assert_eq!(CloseFrame::decode(f.encode(), true).unwrap(), Some(f));
        assert_eq!(CloseFrame::decode(Bytes::new(), true).unwrap(), None);
        assert_eq!(CloseFrame::decode(Bytes::from_static(&[3]), true), Err(ProtocolError::ClosePayloadTooShort));
        assert_eq!(
            CloseFrame::decode(Bytes::from_static(&[0x03, 0xed]), true),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(CloseFrame::decode(Bytes::from_static(&[0x03, 0xe8, 0xff]), true), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn reason_limit_at_below_above() {
        assert!(CloseFrame::new(1000u16, "a".repeat(122)).validate().is_ok());
        assert!(CloseFrame::new(1000u16, "a".repeat(123)).validate().is_ok());
        assert_eq!(CloseFrame::new(1000u16, "a".repeat(124)).validate(), Err(SendError::CloseReasonTooLong(124)));
        assert_eq!(CloseFrame::new(1005u16, "").validate(), Err(SendError::InvalidCloseCode(1005)));
    }

    #[test]
    fn debug_names() {
        assert_eq!(format!("{:?}", CloseCode::NORMAL), "NORMAL(1000)");
        assert_eq!(format!("{:?}", CloseCode::from_u16(4321)), "CloseCode(4321)");
    }
}
