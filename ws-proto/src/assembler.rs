//! Message assembly: continuation rules, size and fragment budgets, incremental UTF-8.

use bytes::{Bytes, BytesMut};

use crate::config::Config;
use crate::error::ProtocolError;
use crate::event::{Fragment, Message, MessageKind};
use crate::frame::{FrameHeader, OpCode};
use crate::utf8::{Utf8Bytes, Utf8Validator};

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
        }
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
            }
            _ => {}
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
        if self.validate_utf8 && self.kind == Some(MessageKind::Text) {
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

    /// Passes a piece of the message through (fragment mode).
    pub(crate) fn on_piece(&mut self, data: Bytes, fin: bool) -> Result<Fragment, ProtocolError> {
        let kind = if fin { self.finish_checks()? } else { self.kind.unwrap_or(MessageKind::Binary) };
        Ok(Fragment { kind, data, fin })
    }
}
