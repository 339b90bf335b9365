//! Message assembly: continuation rules, size and fragment budgets, incremental UTF-8, and
//! inflating permessage-deflate messages with a bounded output.
//!
//! A compressed message (RSV1 on its first frame) counts twice against `max_message_size`:
//! its frames' wire lengths from their headers (which bounds what is buffered before
//! inflating), and its inflated bytes as they are produced (so a bomb stops at the limit
//! having produced at most the limit plus one byte). Its text is validated after inflating.
//!
//! In fragment mode (Node `binaryType = 'fragments'`) every frame with payload becomes one
//! [`Fragment`]: its bytes (inflated, for a compressed message) in one buffer, handed out when
//! the frame is complete. A frame that arrives whole is handed out without a copy.

use bytes::{Bytes, BytesMut};

use crate::config::Config;
use crate::deflate::Inflater;
use crate::error::ProtocolError;
use crate::event::{Fragment, Message, MessageKind};
use crate::frame::{FrameHeader, OpCode};
use crate::utf8::{Utf8Bytes, Utf8Validator};

/// The longest data frame payload accepted whatever the limits: 2^53 - 1 bytes (Node `ws`).
pub(crate) const MAX_PAYLOAD: u64 = (1 << 53) - 1;

/// Tracks the incoming message in progress.
#[derive(Debug)]
pub(crate) struct MessageAssembler {
    /// Kind of the message in progress; `None` between messages.
    kind: Option<MessageKind>,
    /// Payload bytes announced so far by the message's frame headers.
    size: usize,
    /// Frames of the message so far, empty ones included.
    frames: usize,
    /// Received parts of the message (assembled mode) or of the frame in progress (fragment
    /// mode).
    parts: Vec<Bytes>,
    utf8: Utf8Validator,
    max_frame: Option<usize>,
    max_message: Option<usize>,
    max_fragments: Option<usize>,
    validate_utf8: bool,
    /// Decompresses messages whose first frame has RSV1 (permessage-deflate in use).
    /// Boxed: most connections never negotiate it.
    inflater: Option<Box<Inflater>>,
    /// The message in progress is compressed.
    compressed: bool,
    /// Inflated bytes of the message in progress.
    inflated: usize,
    /// The inflated message (assembled mode) or frame (fragment mode) in progress.
    out: Vec<u8>,
}

impl MessageAssembler {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            kind: None,
            size: 0,
            frames: 0,
            parts: Vec::new(),
            utf8: Utf8Validator::new(),
            max_frame: config.max_frame_size,
            max_message: config.max_message_size,
            max_fragments: config.max_fragments,
            validate_utf8: !config.skip_utf8_validation,
            inflater: None,
            compressed: false,
            inflated: 0,
            out: Vec::new(),
        }
    }

    /// Turns inflating of RSV1 messages on (permessage-deflate negotiated) or off.
    pub(crate) fn set_inflater(&mut self, inflater: Option<Inflater>) {
        self.inflater = inflater.map(Box::new);
    }

    /// Whether RSV1 (a compressed message) is allowed.
    pub(crate) fn inflates(&self) -> bool {
        self.inflater.is_some()
    }

    /// Checks a data frame header against the continuation rules and every limit, before any
    /// of its payload is buffered.
    pub(crate) fn on_header(&mut self, h: &FrameHeader, len: usize) -> Result<(), ProtocolError> {
        match h.opcode {
            OpCode::Continuation if self.kind.is_none() => return Err(ProtocolError::UnexpectedContinuation),
            OpCode::Text | OpCode::Binary if self.kind.is_some() => return Err(ProtocolError::ExpectedContinuation),
            OpCode::Text | OpCode::Binary => {
                self.kind = Some(if h.opcode == OpCode::Text { MessageKind::Text } else { MessageKind::Binary });
                self.size = 0;
                self.frames = 0;
                self.parts.clear();
                self.utf8.reset();
                // The decoder lets RSV1 through only with an inflater.
                self.compressed = h.rsv1 && self.inflater.is_some();
                self.inflated = 0;
                self.out = Vec::new();
            }
            _ => {}
        }
        // Even without a limit: lengths of 2^53 and more are refused, as Node `ws` refuses
        // what a JavaScript number cannot count exactly; no peer sends such a frame honestly.
        if h.len > MAX_PAYLOAD {
            return Err(ProtocolError::FrameTooLarge { len: h.len, max: MAX_PAYLOAD as usize });
        }
        if let Some(max) = self.max_frame {
            if len > max {
                return Err(ProtocolError::FrameTooLarge { len: h.len, max });
            }
        }
        self.frames += 1;
        if let Some(max) = self.max_fragments {
            if self.frames > max {
                return Err(ProtocolError::TooManyFragments { max });
            }
        }
        self.size = self.size.saturating_add(len);
        if let Some(max) = self.max_message {
            if self.size > max {
                return Err(ProtocolError::MessageTooLarge { max });
            }
        }
        Ok(())
    }

    /// Validates newly unmasked payload bytes of the message in progress (fail-fast UTF-8).
    pub(crate) fn on_payload(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        if self.validate_utf8 && self.kind == Some(MessageKind::Text) && !self.compressed {
            self.utf8.feed(data).map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    fn finish_checks(&mut self) -> Result<MessageKind, ProtocolError> {
        let kind = self.kind.take().unwrap_or(MessageKind::Binary);
        if kind == MessageKind::Text && self.validate_utf8 && !self.utf8.is_complete() {
            return Err(ProtocolError::InvalidUtf8);
        }
        Ok(kind)
    }

    /// Adds a whole frame's payload (assembled mode); returns the message at its final frame.
    pub(crate) fn on_frame(&mut self, data: Bytes, fin: bool) -> Result<Option<Message>, ProtocolError> {
        if self.compressed {
            return self.inflate_frame(data, fin);
        }
        if !data.is_empty() {
            self.parts.push(data);
        }
        if !fin {
            return Ok(None);
        }
        let kind = self.finish_checks()?;
        let payload = match self.parts.len() {
            0 => Bytes::new(),
            // A single-frame message is the read buffer's own bytes: zero-copy.
            1 => self.parts.pop().unwrap_or_default(),
            _ => {
                let total = self.parts.iter().map(Bytes::len).sum();
                let mut joined = BytesMut::with_capacity(total);
                for p in self.parts.drain(..) {
                    joined.extend_from_slice(&p);
                }
                joined.freeze()
            }
        };
        Ok(Some(match kind {
            MessageKind::Text => Message::Text(Utf8Bytes::from_validated(payload)),
            MessageKind::Binary => Message::Binary(payload),
        }))
    }

    /// Fragment mode: takes a piece of a frame's payload (`frame_done`: the frame's last
    /// bytes; `fin`: the message's); returns the frame as one [`Fragment`] once it is complete
    /// (`None` before, and for a frame with no bytes that does not end the message).
    pub(crate) fn on_piece(
        &mut self,
        data: Bytes,
        frame_done: bool,
        fin: bool,
    ) -> Result<Option<Fragment>, ProtocolError> {
        let r = self.on_piece_inner(data, frame_done, fin);
        if r.is_err() {
            // The connection fails: free the partial frame at once.
            self.out = Vec::new();
            self.parts = Vec::new();
        }
        r
    }

    fn on_piece_inner(&mut self, data: Bytes, frame_done: bool, fin: bool) -> Result<Option<Fragment>, ProtocolError> {
        let data = if self.compressed {
            self.inflate_into_out(data, fin)?;
            if !frame_done {
                return Ok(None);
            }
            if fin {
                if let Some(inf) = self.inflater.as_deref_mut() {
                    inf.end_message();
                }
            }
            take_buffer(&mut self.out)
        } else {
            if !frame_done {
                if !data.is_empty() {
                    self.parts.push(data);
                }
                return Ok(None);
            }
            join_parts(&mut self.parts, data)
        };
        let kind = if fin { self.finish_checks()? } else { self.kind.unwrap_or(MessageKind::Binary) };
        // Node leaves frames without bytes out of the fragments; the last one still ends the
        // message.
        if data.is_empty() && !fin {
            return Ok(None);
        }
        Ok(Some(Fragment { kind, data, fin }))
    }

    /// Counts `n` more inflated bytes against the message limit.
    fn count_inflated(&mut self, n: usize) -> Result<(), ProtocolError> {
        self.inflated = self.inflated.saturating_add(n);
        match self.max_message {
            Some(max) if self.inflated > max => Err(ProtocolError::MessageTooLarge { max }),
            _ => Ok(()),
        }
    }

    /// Room for the next inflated bytes: up to one byte past the limit, so exceeding it shows.
    fn inflate_room(&self, want: usize) -> usize {
        match self.max_message {
            Some(max) => want.min(max.saturating_sub(self.inflated).saturating_add(1)),
            None => want,
        }
    }

    /// Inflates compressed bytes of the message into [`out`](Self::out), bounded by the limit
    /// and validating text as it comes; `fin`: they end the message.
    fn inflate_into_out(&mut self, data: Bytes, fin: bool) -> Result<(), ProtocolError> {
        let Some(inf) = self.inflater.as_deref_mut() else { return Err(ProtocolError::InflateFailed) };
        let chunk = inf.chunk();
        inf.push(data, fin);
        while self.inflater.as_deref().is_some_and(|i| !i.is_drained()) {
            let len = self.out.len();
            let room = self.inflate_room(chunk.max(len / 2));
            self.out.reserve_exact(room);
            self.out.resize(len + room, 0);
            let step = match self.inflater.as_deref_mut() {
                Some(inf) => inf.step(&mut self.out[len..]),
                None => Ok(0),
            };
            self.out.truncate(len + *step.as_ref().unwrap_or(&0));
            self.count_inflated(step?)?;
            if self.validate_utf8 && self.kind == Some(MessageKind::Text) {
                self.utf8.feed(&self.out[len..]).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        Ok(())
    }

    /// Assembled mode: inflates a whole frame into the message buffer, bounded by the limit.
    fn inflate_frame(&mut self, data: Bytes, fin: bool) -> Result<Option<Message>, ProtocolError> {
        let r = self.inflate_frame_inner(data, fin);
        if r.is_err() {
            // The connection fails: free the partial message at once.
            self.out = Vec::new();
        }
        r
    }

    fn inflate_frame_inner(&mut self, data: Bytes, fin: bool) -> Result<Option<Message>, ProtocolError> {
        self.inflate_into_out(data, fin)?;
        if !fin {
            return Ok(None);
        }
        if let Some(inf) = self.inflater.as_deref_mut() {
            inf.end_message();
        }
        let kind = self.finish_checks()?;
        let payload = take_buffer(&mut self.out);
        Ok(Some(match kind {
            MessageKind::Text => Message::Text(Utf8Bytes::from_validated(payload)),
            MessageKind::Binary => Message::Binary(payload),
        }))
    }
}

/// Takes an inflated buffer as `Bytes`, giving back spare room worth a reallocation.
fn take_buffer(out: &mut Vec<u8>) -> Bytes {
    let mut out = std::mem::take(out);
    if out.capacity() - out.len() > out.len() / 4 + 4096 {
        out.shrink_to_fit();
    }
    Bytes::from(out)
}

/// The frame whose earlier pieces are `parts` and whose last piece is `last`, as one buffer:
/// `last` itself (no copy) when the frame arrived in one piece.
fn join_parts(parts: &mut Vec<Bytes>, last: Bytes) -> Bytes {
    if parts.is_empty() {
        return last;
    }
    let total = parts.iter().map(Bytes::len).sum::<usize>() + last.len();
    let mut joined = BytesMut::with_capacity(total);
    for p in parts.drain(..) {
        joined.extend_from_slice(&p);
    }
    joined.extend_from_slice(&last);
    joined.freeze()
}

#[cfg(all(test, any(feature = "miniz", feature = "zlib-rs")))]
mod tests {
    use super::*;
    use crate::deflate::tests::bomb;
    use crate::deflate::{Backend, Inflater};

    const LIMIT: usize = 1 << 20;

    fn compressed_assembler(backend: Backend, fragments: bool) -> MessageAssembler {
        let cfg = Config::default().max_message_size(Some(LIMIT)).deliver_fragments(fragments);
        let mut asm = MessageAssembler::new(&cfg);
        asm.set_inflater(Some(Inflater::new(backend, false)));
        asm
    }

    fn first_frame(len: usize) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: true,
            rsv2: false,
            rsv3: false,
            opcode: OpCode::Binary,
            mask: None,
            len: len as u64,
        }
    }

    /// Frame lengths of 2^53 and more fail with 1009 even when no limit is set; 2^53 - 1 passes
    /// the header check (and waits for its payload).
    #[test]
    fn lengths_of_2_pow_53_and_more_are_too_big_without_limits() {
        let cfg = Config::default().max_message_size(None).max_frame_size(None);
        for (len, refused) in [((1u64 << 53) - 1, false), (1 << 53, true), (u64::from(u32::MAX) << 31, true)] {
            let mut asm = MessageAssembler::new(&cfg);
            let h = FrameHeader { rsv1: false, len, ..first_frame(0) };
            let got = asm.on_header(&h, usize::try_from(len).unwrap_or(usize::MAX));
            if refused {
                let err = got.unwrap_err();
                assert_eq!(err, ProtocolError::FrameTooLarge { len, max: MAX_PAYLOAD as usize });
                assert_eq!(err.close_code(), crate::CloseCode::MESSAGE_TOO_BIG);
            } else {
                assert!(got.is_ok(), "{len}: {got:?}");
            }
        }
    }

    /// Just under 1 MiB on the wire (the wire length counts against the limit too) that would
    /// inflate to 1 GiB: refused with 1009 having inflated at most the limit plus one byte,
    /// into a buffer no larger than that.
    #[test]
    fn bomb_stops_at_the_limit_assembled() {
        for &b in Backend::available() {
            let mut asm = compressed_assembler(b, false);
            let data = bomb(LIMIT - 64);
            asm.on_header(&first_frame(data.len()), data.len()).unwrap();
            let started = std::time::Instant::now();
            // The inner step keeps the buffer for inspection; `on_frame` frees it on error.
            let err = asm.inflate_frame_inner(Bytes::from(data), true).unwrap_err();
            assert_eq!(err, ProtocolError::MessageTooLarge { max: LIMIT });
            assert_eq!(asm.inflated, LIMIT + 1, "{b:?}");
            let buffered = asm.out.capacity();
            assert!(buffered <= LIMIT + 1, "{b:?}: {buffered} bytes buffered");
            // Through the real entry point: the same error, and the buffer is freed.
            let mut asm = compressed_assembler(b, false);
            let data = bomb(LIMIT - 64);
            asm.on_header(&first_frame(data.len()), data.len()).unwrap();
            let err = asm.on_frame(Bytes::from(data), true).unwrap_err();
            assert_eq!(err, ProtocolError::MessageTooLarge { max: LIMIT });
            assert_eq!(asm.out.capacity(), 0);
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "it stopped early");
        }
    }

    /// In fragment mode the same bomb (one frame) fails the same way: a frame is one buffer,
    /// bounded like a message, and freed on the error.
    #[test]
    fn bomb_stops_at_the_limit_in_fragment_mode() {
        for &b in Backend::available() {
            let mut asm = compressed_assembler(b, true);
            let data = Bytes::from(bomb(LIMIT - 64));
            asm.on_header(&first_frame(data.len()), data.len()).unwrap();
            // Arriving in two pieces: nothing is handed out before the frame is complete.
            let half = data.len() / 2;
            let err = match asm.on_piece(data.slice(..half), false, false) {
                Ok(got) => panic!("{b:?}: {got:?} from half a bomb"),
                Err(e) => e,
            };
            assert_eq!(err, ProtocolError::MessageTooLarge { max: LIMIT });
            assert_eq!(asm.inflated, LIMIT + 1, "{b:?}");
            assert_eq!(asm.out.capacity(), 0);
        }
    }

    /// Fragment mode: one fragment per frame, compressed or not, however the frame's bytes
    /// arrive; a frame that arrives whole is not copied; frames without bytes are left out.
    #[test]
    fn one_fragment_per_frame() {
        let frame =
            |opcode, fin, rsv1, len: usize| FrameHeader { fin, rsv1, opcode, len: len as u64, ..first_frame(0) };
        for &b in Backend::available() {
            // Compressed: three parts streamed with sync flushes, each frame cut in two pieces.
            let parts: [&[u8]; 3] = [b"first frame ", b"second, longer frame, which repeats: frame frame frame", b"!"];
            let local = crate::deflate::DeflateConfig::default().backend(b);
            let p = crate::deflate::DeflateParams::default();
            let (mut d, _) = crate::deflate::setup(crate::config::Role::Server, &p, &local).unwrap();
            let mut asm = compressed_assembler(b, true);
            let mut got = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                let fin = i + 1 == parts.len();
                let c = d.compress_part(part, fin).unwrap();
                let op = if i == 0 { OpCode::Text } else { OpCode::Continuation };
                asm.on_header(&frame(op, fin, i == 0, c.len()), c.len()).unwrap();
                let cut = c.len() / 2;
                assert_eq!(asm.on_piece(c.slice(..cut), false, false), Ok(None));
                let f = asm.on_piece(c.slice(cut..), true, fin).unwrap().expect("a fragment per frame");
                assert_eq!((f.kind, f.fin), (MessageKind::Text, fin));
                got.push(f.data);
            }
            assert_eq!(got, parts.map(Bytes::from_static), "{b:?}");

            // Uncompressed: whole frames are the read buffer's bytes; split ones are joined;
            // an empty non-final frame gives nothing, an empty final frame ends the message.
            let mut asm = compressed_assembler(b, true);
            let whole = Bytes::from_static(b"whole frame");
            asm.on_header(&frame(OpCode::Binary, false, false, whole.len()), whole.len()).unwrap();
            let f = asm.on_piece(whole.clone(), true, false).unwrap().unwrap();
            assert_eq!((f.data.as_ptr(), f.fin), (whole.as_ptr(), false));
            asm.on_header(&frame(OpCode::Continuation, false, false, 6), 6).unwrap();
            assert_eq!(asm.on_piece(Bytes::from_static(b"spl"), false, false), Ok(None));
            assert_eq!(asm.on_piece(Bytes::from_static(b"it"), false, false), Ok(None));
            let f = asm.on_piece(Bytes::from_static(b"!"), true, false).unwrap().unwrap();
            assert_eq!(f.data, "split!");
            asm.on_header(&frame(OpCode::Continuation, false, false, 0), 0).unwrap();
            assert_eq!(asm.on_piece(Bytes::new(), true, false), Ok(None));
            asm.on_header(&frame(OpCode::Continuation, true, false, 0), 0).unwrap();
            let f = asm.on_piece(Bytes::new(), true, true).unwrap().unwrap();
            assert_eq!((f.kind, f.data.len(), f.fin), (MessageKind::Binary, 0, true));
        }
    }

    /// A message inflating to exactly the limit is fine; one byte more is not.
    #[test]
    fn inflated_limit_at_and_above() {
        for &b in Backend::available() {
            for (extra, ok) in [(0usize, true), (1, false)] {
                let payload = vec![b'z'; LIMIT + extra];
                let p = crate::deflate::DeflateParams::default();
                let local = crate::deflate::DeflateConfig::default().backend(b);
                let (mut d, _) = crate::deflate::setup(crate::config::Role::Server, &p, &local).unwrap();
                let c = d.compress_message(&payload).unwrap();
                for fragments in [false, true] {
                    let mut asm = compressed_assembler(b, fragments);
                    asm.on_header(&first_frame(c.len()), c.len()).unwrap();
                    let mut total = 0;
                    let r = if fragments {
                        asm.on_piece(c.clone(), true, true).map(|f| f.map(|f| (f.data.len(), f.fin)))
                    } else {
                        asm.on_frame(c.clone(), true).map(|m| m.map(|m| (m.len(), true)))
                    };
                    let result = r.map(|got| {
                        let (n, fin) = got.expect("the message");
                        assert!(fin);
                        total += n;
                        total
                    });
                    if ok {
                        assert_eq!(result, Ok(LIMIT), "{b:?} fragments={fragments}");
                    } else {
                        assert_eq!(result, Err(ProtocolError::MessageTooLarge { max: LIMIT }));
                    }
                }
            }
        }
    }
}
