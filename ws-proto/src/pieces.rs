//! Messages kept as the pieces they arrived in (Node `binaryType = 'fragments'`).
//!
//! In fragment mode ([`Config::deliver_fragments`](crate::Config::deliver_fragments)) a
//! connection hands out one [`Fragment`] per received frame. An API that returns whole
//! messages without copying them into one buffer collects those fragments with a
//! [`PieceCollector`] and hands out [`MessagePieces`]: a message's frames, one buffer each, as
//! Node's `binaryType = 'fragments'` gives them; a whole [`Message`] converts into one too.

use bytes::Bytes;

use crate::event::{Fragment, Message, MessageKind};
use crate::utf8::Utf8Bytes;

/// A complete data message as a list of buffers, in arrival order: from a connection in
/// fragment mode, one per frame with payload (inflated when compressed).
///
/// Empty buffers are never included, so an empty message has no pieces. For text, a piece can
/// stop in the middle of a multi-byte UTF-8 character; only the whole sequence is valid UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePieces {
    /// Whether the message is text or binary.
    pub kind: MessageKind,
    /// The payload, one buffer per frame (fragment mode).
    pub pieces: Vec<Bytes>,
}

impl MessagePieces {
    /// The payload size in bytes (all pieces together).
    pub fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }

    /// Whether the payload has no bytes.
    pub fn is_empty(&self) -> bool {
        self.pieces.iter().all(Bytes::is_empty)
    }

    /// The payload as one buffer. A message of one piece is returned as that piece (a
    /// reference-count increment, no copy); otherwise the pieces are copied into a new buffer.
    pub fn concat(&self) -> Bytes {
        match self.pieces.as_slice() {
            [] => Bytes::new(),
            [only] => only.clone(),
            many => {
                let mut joined = Vec::with_capacity(self.len());
                for piece in many {
                    joined.extend_from_slice(piece);
                }
                Bytes::from(joined)
            }
        }
    }

    /// Joins the pieces into a [`Message`]. Text whose bytes are not UTF-8 (which a connection
    /// only lets through with `Config::skip_utf8_validation`) becomes [`Message::Binary`]
    /// instead of failing.
    pub fn into_message(self) -> Message {
        let payload = self.concat();
        match self.kind {
            MessageKind::Binary => Message::Binary(payload),
            MessageKind::Text if simdutf8::basic::from_utf8(&payload).is_ok() => {
                Message::Text(Utf8Bytes::from_validated(payload))
            }
            MessageKind::Text => Message::Binary(payload),
        }
    }
}

impl From<Message> for MessagePieces {
    /// One piece holding the payload (none for an empty message); no copy.
    fn from(message: Message) -> Self {
        let kind = message.kind();
        let payload = message.into_bytes();
        let pieces = if payload.is_empty() { Vec::new() } else { vec![payload] };
        Self { kind, pieces }
    }
}

/// Gathers the [`Fragment`]s of one message at a time into [`MessagePieces`].
///
/// It keeps no limit of its own: the connection already enforces `max_message_size` and
/// `max_fragments` on what it delivers.
///
/// ```
/// use ws_proto::{Bytes, Fragment, MessageKind, PieceCollector};
///
/// let mut collector = PieceCollector::default();
/// let piece = |data: &'static str, fin| Fragment { kind: MessageKind::Text, data: Bytes::from(data), fin };
/// assert_eq!(collector.push(piece("Hel", false)), None);
/// assert_eq!(collector.push(piece("", false)), None);
/// let message = collector.push(piece("lo", true)).unwrap();
/// assert_eq!(message.pieces, [Bytes::from("Hel"), Bytes::from("lo")]);
/// assert_eq!(message.into_message(), ws_proto::Message::text("Hello"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct PieceCollector {
    pieces: Vec<Bytes>,
}

impl PieceCollector {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a fragment (left out if empty). On the message's last fragment (`fin`), returns
    /// the whole message, of the last fragment's kind, and starts over.
    pub fn push(&mut self, fragment: Fragment) -> Option<MessagePieces> {
        if !fragment.data.is_empty() {
            self.pieces.push(fragment.data);
        }
        if !fragment.fin {
            return None;
        }
        Some(MessagePieces { kind: fragment.kind, pieces: std::mem::take(&mut self.pieces) })
    }

    /// Whether part of a message is held (non-empty pieces received, last one not yet).
    pub fn has_partial(&self) -> bool {
        !self.pieces.is_empty()
    }

    /// How many payload bytes are held for the message in progress.
    pub fn buffered(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }

    /// Drops the message in progress (e.g. when the connection failed in the middle of it).
    pub fn clear(&mut self) {
        self.pieces.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(kind: MessageKind, data: &[u8], fin: bool) -> Fragment {
        Fragment { kind, data: Bytes::copy_from_slice(data), fin }
    }

    fn pieces(kind: MessageKind, parts: &[&[u8]]) -> MessagePieces {
        MessagePieces { kind, pieces: parts.iter().map(|p| Bytes::copy_from_slice(p)).collect() }
    }

    #[test]
    fn lengths() {
        assert_eq!(pieces(MessageKind::Binary, &[]).len(), 0);
        assert!(pieces(MessageKind::Binary, &[]).is_empty());
        assert_eq!(pieces(MessageKind::Binary, &[b"ab", b"c"]).len(), 3);
        assert!(!pieces(MessageKind::Binary, &[b"ab", b"c"]).is_empty());
        // Built by hand with empty pieces: still empty.
        assert!(pieces(MessageKind::Text, &[b"", b""]).is_empty());
        assert_eq!(pieces(MessageKind::Text, &[b"", b"x", b""]).len(), 1);
    }

    #[test]
    fn concat_is_zero_copy_for_one_piece() {
        let one = Bytes::from_static(b"payload");
        let m = MessagePieces { kind: MessageKind::Binary, pieces: vec![one.clone()] };
        let joined = m.concat();
        assert_eq!(joined.as_ptr(), one.as_ptr(), "same buffer");
        assert_eq!(&m.concat()[..], b"payload");
        assert_eq!(&pieces(MessageKind::Binary, &[b"a", b"", b"bc", b"d"]).concat()[..], b"abcd");
        assert!(pieces(MessageKind::Binary, &[]).concat().is_empty());
    }

    #[test]
    fn into_message() {
        let euro = "\u{20ac}".as_bytes();
        // A character split across pieces is whole again.
        let m = pieces(MessageKind::Text, &[b"1 ", &euro[..1], &euro[1..]]).into_message();
        assert_eq!(m, Message::text("1 \u{20ac}"));
        assert_eq!(pieces(MessageKind::Text, &[]).into_message(), Message::text(""));
        assert_eq!(pieces(MessageKind::Binary, &[b"\xff", b"x"]).into_message(), Message::binary(&b"\xffx"[..]));
        assert_eq!(pieces(MessageKind::Binary, &[b"text"]).into_message(), Message::binary(&b"text"[..]));
        // Text that is not UTF-8 comes out binary, never a panic.
        let m = pieces(MessageKind::Text, &[b"ok", b"\xc3"]).into_message();
        assert_eq!(m, Message::binary(&b"ok\xc3"[..]));
        assert_eq!(pieces(MessageKind::Text, &[b"\xff"]).into_message().kind(), MessageKind::Binary);
    }

    #[test]
    fn from_message() {
        let p = MessagePieces::from(Message::text("hi"));
        assert_eq!(p, pieces(MessageKind::Text, &[b"hi"]));
        let p = MessagePieces::from(Message::binary(Vec::new()));
        assert_eq!(p, MessagePieces { kind: MessageKind::Binary, pieces: vec![] });
        let p = MessagePieces::from(Message::text(""));
        assert!(p.pieces.is_empty() && p.kind == MessageKind::Text);
        // Round trip.
        for m in [Message::text("abc"), Message::binary(&b"\x00\x01"[..]), Message::text("")] {
            assert_eq!(MessagePieces::from(m.clone()).into_message(), m);
        }
    }

    #[test]
    fn collector() {
        let mut c = PieceCollector::new();
        assert!(!c.has_partial());
        assert_eq!(c.buffered(), 0);
        // A single final fragment.
        assert_eq!(c.push(frag(MessageKind::Binary, b"x", true)), Some(pieces(MessageKind::Binary, &[b"x"])));
        // Several, with empty ones left out.
        assert_eq!(c.push(frag(MessageKind::Text, b"", false)), None);
        assert!(!c.has_partial());
        assert_eq!(c.push(frag(MessageKind::Text, b"ab", false)), None);
        assert_eq!(c.push(frag(MessageKind::Text, b"", false)), None);
        assert_eq!(c.push(frag(MessageKind::Text, b"cde", false)), None);
        assert!(c.has_partial());
        assert_eq!(c.buffered(), 5);
        assert_eq!(c.push(frag(MessageKind::Text, b"", true)), Some(pieces(MessageKind::Text, &[b"ab", b"cde"])));
        assert!(!c.has_partial());
        // An empty message.
        assert_eq!(c.push(frag(MessageKind::Binary, b"", true)), Some(pieces(MessageKind::Binary, &[])));
        // The kind is the last fragment's; the collector starts over after each message.
        assert_eq!(c.push(frag(MessageKind::Binary, b"1", false)), None);
        assert_eq!(c.push(frag(MessageKind::Binary, b"2", true)), Some(pieces(MessageKind::Binary, &[b"1", b"2"])));
        assert_eq!(c.push(frag(MessageKind::Text, b"3", true)), Some(pieces(MessageKind::Text, &[b"3"])));
        // clear drops a partial message.
        c.push(frag(MessageKind::Text, b"partial", false));
        c.clear();
        assert!(!c.has_partial());
        assert_eq!(c.push(frag(MessageKind::Text, b"new", true)), Some(pieces(MessageKind::Text, &[b"new"])));
        // Default is the same as new.
        assert!(!PieceCollector::default().has_partial());
    }

    #[test]
    fn collected_pieces_share_the_fragment_buffers() {
        let data = Bytes::from_static(b"shared");
        let mut c = PieceCollector::new();
        let m = c.push(Fragment { kind: MessageKind::Binary, data: data.clone(), fin: true }).unwrap();
        assert_eq!(m.pieces[0].as_ptr(), data.as_ptr());
        assert_eq!(m.concat().as_ptr(), data.as_ptr());
    }
}
