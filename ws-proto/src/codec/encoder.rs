//! The frame encoder: header bytes plus payload segments, masking for clients.
//!
//! Servers push large payloads as their own segment (the caller's `Bytes`, zero-copy, written
//! with vectored IO); small ones are copied next to the header. Clients mask in place when they
//! own the payload buffer uniquely and copy-and-mask in one pass otherwise.

use bytes::{BufMut, Bytes, BytesMut};

use crate::config::Role;
use crate::deflate::DeflateCache;
use crate::event::{Message, MessageKind};
use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::mask::{apply_mask, Entropy};
use crate::transmit::OutQueue;

/// Payloads shorter than this are copied next to their header rather than queued as a
/// separate segment (an extra iovec costs more than a small copy).
pub(crate) const CHAIN_THRESHOLD: usize = 256;

/// Reusable scratch space for headers and small frames.
#[derive(Debug, Default)]
pub(crate) struct FrameEncoder {
    scratch: BytesMut,
}

fn header_for(opcode: OpCode, fin: bool, rsv1: bool, len: usize, mask: Option<[u8; 4]>) -> FrameHeader {
    FrameHeader { fin, rsv1, rsv2: false, rsv3: false, opcode, mask, len: len as u64 }
}

fn draw_mask(entropy: Option<&mut (dyn Entropy + '_)>) -> [u8; 4] {
    let mut key = [0u8; 4];
    if let Some(e) = entropy {
        e.fill(&mut key);
    }
    key
}

impl FrameEncoder {
    fn put_header(&mut self, h: &FrameHeader) {
        let mut hb = [0u8; MAX_HEADER_LEN];
        let n = h.encode_into(&mut hb);
        self.scratch.reserve(n);
        self.scratch.put_slice(&hb[..n]);
    }

    /// Encodes a complete control frame into one buffer.
    pub(crate) fn control(
        &mut self,
        role: Role,
        entropy: Option<&mut (dyn Entropy + '_)>,
        opcode: OpCode,
        payload: &[u8],
    ) -> Bytes {
        let mask = (role == Role::Client).then(|| draw_mask(entropy));
        let h = header_for(opcode, true, false, payload.len(), mask);
        self.put_header(&h);
        let start = self.scratch.len();
        self.scratch.put_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut self.scratch[start..], key, 0);
        }
        self.scratch.split().freeze()
    }

    /// Queues one data frame.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn data(
        &mut self,
        out: &mut OutQueue,
        role: Role,
        entropy: Option<&mut (dyn Entropy + '_)>,
        opcode: OpCode,
        fin: bool,
        rsv1: bool,
        payload: Bytes,
    ) {
        let mask = (role == Role::Client).then(|| draw_mask(entropy));
        let h = header_for(opcode, fin, rsv1, payload.len(), mask);
        self.put_header(&h);
        if payload.len() < CHAIN_THRESHOLD {
            let start = self.scratch.len();
            self.scratch.put_slice(&payload);
            if let Some(key) = mask {
                apply_mask(&mut self.scratch[start..], key, 0);
            }
            out.push_data(self.scratch.split().freeze(), true);
            return;
        }
        out.push_data(self.scratch.split().freeze(), false);
        let body = match mask {
            None => payload,
            Some(key) => match payload.try_into_mut() {
                Ok(mut unique) => {
                    apply_mask(&mut unique, key, 0);
                    unique.freeze()
                }
                Err(shared) => {
                    let mut copy = BytesMut::from(&shared[..]);
                    apply_mask(&mut copy, key, 0);
                    copy.freeze()
                }
            },
        };
        out.push_data(body, true);
    }
}

/// A message framed once for many connections (encode-once broadcast).
///
/// For server connections without compression the header and payload `Bytes` are shared by
/// every peer: N peers cost N reference count bumps. Client connections mask per connection,
/// so they re-encode from the shared payload.
///
/// With permessage-deflate (see [`Connection::send_prepared`](crate::Connection::send_prepared)):
/// without context takeover the compressed payload is computed by the first connection and
/// shared by every connection with the same compression settings (clones share it too); with
/// context takeover each connection compresses its own copy.
#[derive(Clone, Debug)]
pub struct PreparedMessage {
    pub(crate) header: Bytes,
    pub(crate) payload: Bytes,
    pub(crate) kind: MessageKind,
    /// The compressed payload, once computed for connections without context takeover.
    pub(crate) deflated: DeflateCache,
}

impl PreparedMessage {
    /// Frames `msg` as a single unmasked frame.
    pub fn new(msg: Message) -> Self {
        let kind = msg.kind();
        let payload = msg.into_bytes();
        let opcode = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let h = header_for(opcode, true, false, payload.len(), None);
        let mut hb = [0u8; MAX_HEADER_LEN];
        let n = h.encode_into(&mut hb);
        Self { header: Bytes::copy_from_slice(&hb[..n]), payload, kind, deflated: DeflateCache::default() }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Bytes on the wire for a server connection (header plus payload).
    pub fn wire_len(&self) -> usize {
        self.header.len() + self.payload.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transmit::OutQueue;

    fn drain(out: &mut OutQueue) -> Vec<u8> {
        let mut v = Vec::new();
        out.drain_into(&mut v);
        v
    }

    #[test]
    fn server_frames_small_and_large() {
        let mut enc = FrameEncoder::default();
        let mut out = OutQueue::default();
        enc.data(&mut out, Role::Server, None, OpCode::Text, true, false, Bytes::from_static(b"hi"));
        assert_eq!(drain(&mut out), [0x81, 2, b'h', b'i']);
        let big = Bytes::from(vec![7u8; 300]);
        enc.data(&mut out, Role::Server, None, OpCode::Binary, false, false, big.clone());
        let wire = drain(&mut out);
        assert_eq!(&wire[..4], &[0x02, 126, 1, 44]);
        assert_eq!(&wire[4..], &big[..]);
    }

    #[test]
    fn client_masks_unique_and_shared_payloads() {
        let mut key_src = |d: &mut [u8]| d.copy_from_slice(&[1, 2, 3, 4][..d.len()]);
        for shared in [false, true] {
            let mut enc = FrameEncoder::default();
            let mut out = OutQueue::default();
            let data = vec![0xAAu8; 400];
            let payload = Bytes::from(data.clone());
            let keep = shared.then(|| payload.clone());
            enc.data(&mut out, Role::Client, Some(&mut key_src), OpCode::Binary, true, false, payload);
            let wire = drain(&mut out);
            assert_eq!(&wire[..8], &[0x82, 0x80 | 126, 1, 144, 1, 2, 3, 4]);
            let mut body = wire[8..].to_vec();
            apply_mask(&mut body, [1, 2, 3, 4], 0);
            assert_eq!(body, data);
            if let Some(k) = keep {
                assert_eq!(&k[..], &data[..], "a shared payload must not be masked in place");
            }
        }
    }

    #[test]
    fn prepared_message_header() {
        let p = PreparedMessage::new(Message::text("abc"));
        assert_eq!(&p.header[..], &[0x81, 3]);
        assert_eq!(p.wire_len(), 5);
    }
}
