//! The frame decoder: a resumable header → payload state machine over the input buffer.
//!
//! Every header is checked (reserved bits, opcode, mask for the role, control frame rules,
//! limits) before any of its payload is buffered. Payload bytes are unmasked in place as they
//! arrive and text is validated as it arrives, so invalid UTF-8 fails the connection at once
//! even inside a frame (compressed text is validated after inflating, by the assembler). Complete frames leave as zero-copy `Bytes` slices of the read buffer.

use bytes::{Buf, Bytes, BytesMut};

use crate::assembler::MessageAssembler;
use crate::config::Role;
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::mask::apply_mask;

/// What the decoder needs to know about the connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DecodeCtx {
    pub(crate) role: Role,
    pub(crate) accept_unmasked: bool,
    pub(crate) deliver_fragments: bool,
    /// permessage-deflate is in use: RSV1 may mark the first frame of a data message.
    pub(crate) rsv1: bool,
}

/// The frame being read.
#[derive(Debug)]
struct InFrame {
    header: FrameHeader,
    /// Payload bytes not yet handed out.
    remaining: usize,
    /// Bytes at the front of the buffer already unmasked and validated.
    processed: usize,
    /// Mask phase for the next unprocessed byte.
    phase: usize,
}

/// A decoded unit.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A complete control frame.
    Control(OpCode, Bytes),
    /// Payload of the data message in progress: a whole frame in assembled mode, any piece in
    /// fragment mode. `fin` marks the last bytes of the message.
    Data { data: Bytes, frame_done: bool, fin: bool },
}

/// Resumable frame decoder.
#[derive(Debug, Default)]
pub(crate) struct FrameDecoder {
    current: Option<InFrame>,
}

impl FrameDecoder {
    /// Buffered bytes needed before the decoder can make progress (bounded by the limits the
    /// header was checked against).
    pub(crate) fn need(&self, deliver_fragments: bool) -> usize {
        match &self.current {
            None => MAX_HEADER_LEN,
            Some(f) if f.header.opcode.is_control() || !deliver_fragments => f.remaining,
            Some(_) => 1,
        }
    }

    fn check_header(h: &FrameHeader, ctx: &DecodeCtx) -> Result<(), ProtocolError> {
        if h.rsv2 || h.rsv3 || (h.rsv1 && !ctx.rsv1) {
            return Err(ProtocolError::ReservedBitsSet);
        }
        if h.rsv1 {
            if h.opcode.is_control() {
                return Err(ProtocolError::CompressedControlFrame);
            }
            if h.opcode == OpCode::Continuation {
                return Err(ProtocolError::UnexpectedRsv1);
            }
        }
        match (ctx.role, h.mask.is_some()) {
            (Role::Server, false) if !ctx.accept_unmasked => return Err(ProtocolError::UnmaskedFrameFromClient),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrameFromServer),
            _ => {}
        }
        if h.opcode.is_control() {
            if !h.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if h.len > 125 {
                return Err(ProtocolError::ControlFrameTooLong(h.len));
            }
        }
        Ok(())
    }

    /// Decodes the next unit from `buf`; `Ok(None)` when more input is needed.
    pub(crate) fn decode(
        &mut self,
        buf: &mut BytesMut,
        ctx: &DecodeCtx,
        asm: &mut MessageAssembler,
    ) -> Result<Option<Decoded>, ProtocolError> {
        loop {
            if self.current.is_none() {
                let Some((header, n)) = FrameHeader::parse(buf)? else { return Ok(None) };
                Self::check_header(&header, ctx)?;
                // On 32-bit targets a length beyond usize can only exceed the limits.
                let len = usize::try_from(header.len).unwrap_or(usize::MAX);
                if !header.opcode.is_control() {
                    asm.on_header(&header, len)?;
                }
                buf.advance(n);
                self.current = Some(InFrame { header, remaining: len, processed: 0, phase: 0 });
            }
            let Some(f) = self.current.as_mut() else { return Ok(None) };
            let control = f.header.opcode.is_control();
            let avail = buf.len().min(f.remaining);
            if avail > f.processed {
                let fresh = &mut buf[f.processed..avail];
                if let Some(key) = f.header.mask {
                    f.phase = apply_mask(fresh, key, f.phase);
                }
                if !control {
                    asm.on_payload(fresh)?;
                }
                f.processed = avail;
            }
            if control || !ctx.deliver_fragments {
                if avail < f.remaining {
                    return Ok(None);
                }
                let data = take_front(buf, f.remaining);
                let header = f.header;
                self.current = None;
                return Ok(Some(if control {
                    Decoded::Control(header.opcode, data)
                } else {
                    Decoded::Data { data, frame_done: true, fin: header.fin }
                }));
            }
            if avail == 0 && f.remaining > 0 {
                return Ok(None);
            }
            let data = take_front(buf, avail);
            f.remaining -= avail;
            f.processed = 0;
            let frame_done = f.remaining == 0;
            let fin = frame_done && f.header.fin;
            if frame_done {
                self.current = None;
            }
            if data.is_empty() && !fin {
                // An empty non-final frame has nothing to deliver.
                continue;
            }
            return Ok(Some(Decoded::Data { data, frame_done, fin }));
        }
    }
}

/// The first `n` bytes of `buf`, frozen. When they are all of it (a read that brought exactly
/// one frame, the usual case for small messages), the buffer is taken whole: splitting it would
/// allocate the shared header `bytes` needs for two owners.
fn take_front(buf: &mut BytesMut, n: usize) -> Bytes {
    if n == buf.len() {
        std::mem::take(buf).freeze()
    } else {
        buf.split_to(n).freeze()
    }
}
