//! Message assembly: continuation rules, size and fragment budgets, incremental UTF-8, and
//! inflating permessage-deflate messages with a bounded output.
//!
//! A compressed message (RSV1 on its first frame) counts twice against `max_message_size`:
//! its frames' wire lengths from their headers (which bounds what is buffered before
//! inflating), and its inflated bytes as they are produced (so a bomb stops at the limit
//! having produced at most the limit plus one byte). Its text is validated after inflating.

use bytes::{Bytes, BytesMut};

use crate::config::Config;
use crate::deflate::{Inflater, INFLATE_CHUNK};
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
    /// Received parts of the message (assembled mode).
    parts: Vec<Bytes>,
    utf8: Utf8Validator,
    max_frame: Option<usize>,
    max_message: Option<usize>,
    max_fragments: Option<usize>,
    validate_utf8: bool,
    /// Decompresses messages whose first frame has RSV1 (permessage-deflate in use).
    inflater: Option<Inflater>,
    /// The message in progress is compressed.
    compressed: bool,
    /// Inflated bytes of the message in progress.
    inflated: usize,
    /// The inflated message in progress (assembled mode).
    out: Vec<u8>,
    /// Fragment mode: compressed input is queued in the inflater and not yet all handed out.
    pending: bool,
    /// Fragment mode: the queued input ends the message.
    pending_fin: bool,
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
            pending: false,
            pending_fin: false,
        }
    }

    /// Turns inflating of RSV1 messages on (permessage-deflate negotiated) or off.
    pub(crate) fn set_inflater(&mut self, inflater: Option<Inflater>) {
        self.inflater = inflater;
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

    /// Passes a piece of the message through (fragment mode). A compressed piece is queued for
    /// inflating and its first output returned (`None` if it produced none yet).
    pub(crate) fn on_piece(&mut self, data: Bytes, fin: bool) -> Result<Option<Fragment>, ProtocolError> {
        if self.compressed {
            if let Some(inf) = self.inflater.as_mut() {
                inf.push(data, fin);
            }
            self.pending = true;
            self.pending_fin = fin;
            return self.next_piece();
        }
        let kind = if fin { self.finish_checks()? } else { self.kind.unwrap_or(MessageKind::Binary) };
        Ok(Some(Fragment { kind, data, fin }))
    }

    /// Fragment mode: inflated output is still to be handed out ([`next_piece`](Self::next_piece)).
    pub(crate) fn has_pending(&self) -> bool {
        self.pending
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

    fn validate_inflated(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        if self.validate_utf8 && self.kind == Some(MessageKind::Text) {
            self.utf8.feed(data).map_err(|_| ProtocolError::InvalidUtf8)?;
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
        let Some(inf) = self.inflater.as_mut() else { return Err(ProtocolError::InflateFailed) };
        inf.push(data, fin);
        while self.inflater.as_ref().is_some_and(|i| !i.is_drained()) {
            let len = self.out.len();
            let room = self.inflate_room(INFLATE_CHUNK.max(len / 2));
            self.out.reserve_exact(room);
            self.out.resize(len + room, 0);
            let step = match self.inflater.as_mut() {
                Some(inf) => inf.step(&mut self.out[len..]),
                None => Ok(0),
            };
            self.out.truncate(len + *step.as_ref().unwrap_or(&0));
            self.count_inflated(step?)?;
            if self.validate_utf8 && self.kind == Some(MessageKind::Text) {
                self.utf8.feed(&self.out[len..]).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        if !fin {
            return Ok(None);
        }
        if let Some(inf) = self.inflater.as_mut() {
            inf.end_message();
        }
        let kind = self.finish_checks()?;
        let mut out = std::mem::take(&mut self.out);
        if out.capacity() - out.len() > out.len() / 4 + 4096 {
            out.shrink_to_fit();
        }
        let payload = Bytes::from(out);
        Ok(Some(match kind {
            MessageKind::Text => Message::Text(Utf8Bytes::from_validated(payload)),
            MessageKind::Binary => Message::Binary(payload),
        }))
    }

    /// Fragment mode: the next piece of inflated output (at most [`INFLATE_CHUNK`] bytes),
    /// `None` once the queued input is used up and the message is not finished.
    pub(crate) fn next_piece(&mut self) -> Result<Option<Fragment>, ProtocolError> {
        let kind = self.kind.unwrap_or(MessageKind::Binary);
        let size = self.inflate_room(INFLATE_CHUNK);
        let Some(inf) = self.inflater.as_mut().filter(|i| !i.is_drained()) else {
            return self.end_pieces(kind, Bytes::new());
        };
        let mut buf = vec![0; size];
        let n = inf.step(&mut buf)?;
        let drained = inf.is_drained();
        buf.truncate(n);
        self.count_inflated(n)?;
        self.validate_inflated(&buf)?;
        let data = if n < size / 2 { Bytes::copy_from_slice(&buf) } else { Bytes::from(buf) };
        if drained {
            return self.end_pieces(kind, data);
        }
        Ok(Some(Fragment { kind, data, fin: false }))
    }

    /// The queued input is used up: the last piece of the message if it ended, else `data`
    /// unless empty.
    fn end_pieces(&mut self, kind: MessageKind, data: Bytes) -> Result<Option<Fragment>, ProtocolError> {
        self.pending = false;
        if !std::mem::take(&mut self.pending_fin) {
            return Ok((!data.is_empty()).then_some(Fragment { kind, data, fin: false }));
        }
        if let Some(inf) = self.inflater.as_mut() {
            inf.end_message();
        }
        let kind = self.finish_checks().map(|_| kind)?;
        Ok(Some(Fragment { kind, data, fin: true }))
    }
}

#[cfg(all(test, any(feature = "deflate", feature = "zlib-rs")))]
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

    /// In fragment mode the same bomb comes out in pieces of at most 32 KiB, adding up to the
    /// limit, and then fails.
    #[test]
    fn bomb_stops_at_the_limit_in_pieces() {
        for &b in Backend::available() {
            let mut asm = compressed_assembler(b, true);
            let data = bomb(LIMIT - 64);
            asm.on_header(&first_frame(data.len()), data.len()).unwrap();
            let mut delivered = 0;
            let mut piece = asm.on_piece(Bytes::from(data), true);
            let err = loop {
                match piece {
                    Ok(Some(f)) => {
                        assert!(f.data.len() <= INFLATE_CHUNK && !f.fin);
                        delivered += f.data.len();
                        assert!(asm.has_pending());
                    }
                    Ok(None) => panic!("{b:?}: the bomb ran dry"),
                    Err(e) => break e,
                }
                piece = asm.next_piece();
            };
            assert_eq!(err, ProtocolError::MessageTooLarge { max: LIMIT });
            assert_eq!(delivered, LIMIT, "{b:?}");
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
                    let mut r = if fragments {
                        asm.on_piece(c.clone(), true).map(|f| f.map(|f| (f.data.len(), f.fin)))
                    } else {
                        asm.on_frame(c.clone(), true).map(|m| m.map(|m| (m.len(), true)))
                    };
                    let result = loop {
                        match r {
                            Ok(Some((n, fin))) => {
                                total += n;
                                if fin {
                                    break Ok(total);
                                }
                            }
                            Ok(None) => {}
                            Err(e) => break Err(e),
                        }
                        r = asm.next_piece().map(|f| f.map(|f| (f.data.len(), f.fin)));
                    };
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
