//! The input buffer: bytes received and not yet parsed.

use bytes::BytesMut;

/// Received bytes awaiting parsing, with an end-of-stream flag.
///
/// Adapters either copy in with [`receive`](Self::receive) or read straight into
/// [`recv_slot`](Self::recv_slot) and then [`commit`](Self::commit). The slot is zero-filled
/// (the crate has no `unsafe`), which costs far less than the read syscall that fills it.
#[derive(Debug, Default)]
pub(crate) struct InputBuffer {
    pub(crate) buf: BytesMut,
    /// Length of the slot handed out by `recv_slot` and not yet committed.
    slot: usize,
    pub(crate) eof: bool,
}

/// Smallest slot handed out, so that small hints still make reads worthwhile.
const MIN_SLOT: usize = 4096;

impl InputBuffer {
    pub(crate) fn receive(&mut self, data: &[u8]) {
        self.drop_slot();
        self.buf.extend_from_slice(data);
    }

    pub(crate) fn recv_slot(&mut self, len_hint: usize) -> &mut [u8] {
        self.drop_slot();
        let len = len_hint.max(MIN_SLOT);
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        self.slot = len;
        &mut self.buf[start..]
    }

    pub(crate) fn commit(&mut self, n: usize) {
        let n = n.min(self.slot);
        let keep = self.buf.len() - self.slot + n;
        self.buf.truncate(keep);
        self.slot = 0;
    }

    fn drop_slot(&mut self) {
        if self.slot > 0 {
            let keep = self.buf.len() - self.slot;
            self.buf.truncate(keep);
            self.slot = 0;
        }
    }

    /// Bytes received and not parsed (excluding an uncommitted slot).
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.slot
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.slot = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_commit_and_abandon() {
        let mut b = InputBuffer::default();
        b.receive(b"ab");
        let s = b.recv_slot(3);
        assert!(s.len() >= 3);
        s[..3].copy_from_slice(b"cde");
        b.commit(3);
        assert_eq!(&b.buf[..], b"abcde");
        // An abandoned slot is dropped by the next call.
        b.recv_slot(10);
        b.receive(b"f");
        assert_eq!(&b.buf[..], b"abcdef");
        assert_eq!(b.len(), 6);
        // Commit never exceeds the slot.
        b.recv_slot(1);
        b.commit(usize::MAX);
        assert_eq!(b.len(), 6 + MIN_SLOT);
    }
}
