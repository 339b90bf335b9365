//! The input buffer: bytes received and not yet parsed.

use bytes::BytesMut;

/// Received bytes awaiting parsing, with an end-of-stream flag.
///
/// Adapters either copy in with [`receive`](Self::receive) or read straight into
/// [`recv_slot`](Self::recv_slot) and then [`commit`](Self::commit). Reads land in `spare`, a
/// zero-initialized region (the crate has no `unsafe`) that survives reads returning nothing,
/// so a `Pending` read costs no memset; committed bytes move into `buf` without a copy when
/// `buf` is empty or contiguous with them.
#[derive(Debug)]
pub(crate) struct InputBuffer {
    pub(crate) buf: BytesMut,
    /// Zeroed bytes that the next read goes into.
    spare: BytesMut,
    /// Length of the slot handed out by `recv_slot` and not yet committed.
    slot: usize,
    /// Adaptive read size: grows while reads fill their slot, shrinks when they come back
    /// small, so idle connections hold little memory.
    hint: usize,
    pub(crate) eof: bool,
}

/// Smallest slot handed out, so that small hints still make reads worthwhile.
pub(crate) const MIN_SLOT: usize = 4096;
/// Largest adaptive read size.
const MAX_HINT: usize = 64 * 1024;

impl Default for InputBuffer {
    fn default() -> Self {
        Self { buf: BytesMut::new(), spare: BytesMut::new(), slot: 0, hint: MIN_SLOT, eof: false }
    }
}

impl InputBuffer {
    pub(crate) fn receive(&mut self, data: &[u8]) {
        self.slot = 0;
        self.buf.extend_from_slice(data);
    }

    pub(crate) fn recv_slot(&mut self, len_hint: usize) -> &mut [u8] {
        let want = len_hint.max(MIN_SLOT);
        let oversized = self.buf.is_empty() && self.spare.len() > 4 * want;
        if self.spare.len() < want || oversized {
            // A fresh zeroed allocation (calloc: large ones come zeroed from the OS for free).
            self.spare = BytesMut::zeroed(want);
        }
        self.slot = self.spare.len();
        &mut self.spare[..]
    }

    pub(crate) fn commit(&mut self, n: usize) {
        let n = n.min(self.slot);
        let filled = n == self.slot;
        self.slot = 0;
        if n == 0 {
            return;
        }
        self.hint = if filled {
            (self.hint * 2).min(MAX_HINT)
        } else if n < self.hint / 4 {
            (self.hint / 2).max(MIN_SLOT)
        } else {
            self.hint
        };
        let data = self.spare.split_to(n);
        if self.buf.is_empty() {
            self.buf = data;
        } else {
            // O(1) when `data` directly follows `buf` in the same allocation, else a copy.
            self.buf.unsplit(data);
        }
    }

    /// The read size to ask for next (adaptive, at least `MIN_SLOT`).
    pub(crate) fn hint(&self) -> usize {
        self.hint
    }

    /// Bytes received and not parsed.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
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
    fn pending_reads_reuse_the_slot_and_hint_adapts() {
        let mut b = InputBuffer::default();
        let p1 = b.recv_slot(100).as_ptr();
        b.commit(0);
        let p2 = b.recv_slot(100).as_ptr();
        assert_eq!(p1, p2, "an unfilled slot is handed out again, not re-zeroed");
        let n = b.recv_slot(100).len();
        b.commit(n);
        assert_eq!(b.hint(), 2 * MIN_SLOT, "a filled read grows the hint");
        for _ in 0..8 {
            b.recv_slot(b.hint());
            b.commit(10);
        }
        assert_eq!(b.hint(), MIN_SLOT, "small reads shrink it back");
        assert_eq!(b.len(), n + 80);
        // Contiguous commits land without a copy: one allocation holds them all.
        let mut c = InputBuffer::default();
        c.recv_slot(64)[..3].copy_from_slice(b"abc");
        c.commit(3);
        let start = c.buf.as_ptr();
        c.recv_slot(64)[..3].copy_from_slice(b"def");
        c.commit(3);
        assert_eq!(&c.buf[..], b"abcdef");
        assert_eq!(c.buf.as_ptr(), start);
    }

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
        let slot = b.recv_slot(1).len();
        b.commit(usize::MAX);
        assert_eq!(b.len(), 6 + slot);
    }
}
