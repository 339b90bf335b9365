//! What a connection reports to the application.

use bytes::Bytes;

use crate::close::CloseInfo;
use crate::utf8::Utf8Bytes;

/// Text or binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Binary data.
    Binary,
}

/// A complete data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message (validated UTF-8).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(t: impl Into<Utf8Bytes>) -> Self {
        Self::Text(t.into())
    }

    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Self::Binary(b.into())
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Text(_) => MessageKind::Text,
            Self::Binary(_) => MessageKind::Binary,
        }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(t) => t.as_bytes(),
            Self::Binary(b) => b,
        }
    }

    /// The payload as `Bytes` (zero-copy).
    pub fn into_bytes(self) -> Bytes {
        match self {
            Self::Text(t) => t.into_bytes(),
            Self::Binary(b) => b,
        }
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Self::Text(s.into())
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Self::Text(s.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(v: Vec<u8>) -> Self {
        Self::Binary(v.into())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Self::Binary(b)
    }
}

/// One frame of a message, delivered when
/// [`Config::deliver_fragments`](crate::Config::deliver_fragments) is on (Node
/// `binaryType = 'fragments'`, whose messages are arrays of their frames' buffers).
///
/// Each frame with payload is one fragment, handed out once the whole frame has arrived (its
/// bytes are validated as they arrive, so invalid text still fails at once): a frame read in
/// one go is a slice of the read buffer (no copy), one read in several goes is joined. A
/// compressed frame is its inflated bytes, in one buffer. Frames without bytes are left out,
/// except that the message's last frame always comes (with `fin`), possibly empty. For text, a
/// code point may be split between fragments; the whole message is valid UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The message's kind (repeated on every piece).
    pub kind: MessageKind,
    /// The bytes.
    pub data: Bytes,
    /// The last piece of the message.
    pub fin: bool,
}

/// An event from [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A complete message (assembled mode).
    Message(Message),
    /// A piece of a message (fragment mode).
    Fragment(Fragment),
    /// A ping arrived; with `auto_pong` the pong is already queued.
    Ping(Bytes),
    /// A pong arrived.
    Pong(Bytes),
    /// The connection is closed. Reported exactly once; `poll_event` returns `None` afterwards.
    Closed(CloseInfo),
}
