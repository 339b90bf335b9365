//! The input buffer: bytes received and not yet parsed.

use bytes::BytesMut;

/// Received bytes awaiting parsing, with an end-of-stream flag.
///
/// Adapters either copy in with [`receive`](Self::receive) or read straight into
/// [`recv_slot`](Self::recv_slot) and then [`commit`](Self::commit). The slot is `spare`, a
/// zero-initialized region (the crate has no `unsafe`) allocated together with the unparsed
/// bytes, so committed bytes join `buf` without a copy, and one allocation holds a whole frame
/// once its header gave its length. While nothing is buffered the region is released, so an
/// idle connection whose adapter reads into a shared buffer and copies in holds no receive
/// memory at all.
#[derive(Debug)]
pub(crate) struct InputBuffer {
    pub(crate) buf: BytesMut,
    /// Zeroed bytes that the next read goes into, directly after `buf` in the same allocation.
    spare: BytesMut,
    /// Length of the slot handed out by `recv_slot` and not yet committed.
    slot: usize,
    /// Adaptive read size: grows while reads fill their slot, shrinks when they come back
    /// small.
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
    /// Copies `data` in. Into an empty buffer it goes to an allocation of its own, exactly its
    /// size: messages parsed from it are slices of that allocation.
    pub(crate) fn receive(&mut self, data: &[u8]) {
        self.slot = 0;
        if data.is_empty() {
            return;
        }
        self.adapt(data.len(), self.hint);
        if self.buf.is_empty() {
            self.spare = BytesMut::new();
            self.buf = BytesMut::from(data);
        } else {
            self.buf.extend_from_slice(data);
        }
    }

    pub(crate) fn recv_slot(&mut self, len_hint: usize) -> &mut [u8] {
        let want = len_hint.max(MIN_SLOT);
        let oversized = self.buf.is_empty() && self.spare.len() > 4 * want;
        if self.spare.len() < want || oversized {
            // One zeroed region (calloc: large ones come zeroed from the OS for free) for the
            // unparsed bytes and the read, so that what the read brings joins them in place.
            // The unparsed bytes (a frame's beginning) are copied once.
            let kept = self.buf.len();
            let mut region = BytesMut::zeroed(kept + want);
            region[..kept].copy_from_slice(&self.buf);
            self.spare = region.split_off(kept);
            self.buf = region;
        }
        self.slot = self.spare.len();
        &mut self.spare[..]
    }

    /// Takes `n` bytes of the slot as received. `n == 0` means the read found nothing: with
    /// nothing buffered the connection is idle, and the receive region is released.
    pub(crate) fn commit(&mut self, n: usize) {
        let slot = std::mem::take(&mut self.slot);
        let n = n.min(slot);
        if n == 0 {
            if self.buf.is_empty() {
                self.buf = BytesMut::new();
                self.spare = BytesMut::new();
            }
            return;
        }
        self.adapt(n, slot);
        let data = self.spare.split_to(n);
        if self.buf.is_empty() {
            self.buf = data;
        } else {
            // O(1) when `data` directly follows `buf` in the same allocation, else a copy.
            self.buf.unsplit(data);
        }
    }

    /// Forgets a slot handed out and not committed (the adapter gave up on that read).
    pub(crate) fn abandon_slot(&mut self) {
        self.slot = 0;
    }

    /// Grows the read size while reads fill what they were given, shrinks it when they bring
    /// little.
    fn adapt(&mut self, got: usize, asked: usize) {
        self.hint = if got >= asked.max(MIN_SLOT) {
            (self.hint * 2).min(MAX_HINT)
        } else if got < self.hint / 4 {
            (self.hint / 2).max(MIN_SLOT)
        } else {
            self.hint
        };
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
        self.buf = BytesMut::new();
        self.spare = BytesMut::new();
        self.slot = 0;
    }

    /// Memory this buffer keeps allocated beyond the unparsed bytes (the zeroed read region).
    #[cfg(test)]
    pub(crate) fn spare_len(&self) -> usize {
        self.spare.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_finds_nothing_releases_an_empty_buffer_and_the_hint_adapts() {
        let mut b = InputBuffer::default();
        b.recv_slot(100);
        assert_eq!(b.spare_len(), MIN_SLOT);
        b.commit(0);
        assert_eq!(b.spare_len(), 0, "idle: nothing held");
        let n = b.recv_slot(100).len();
        b.commit(n);
        assert_eq!(b.hint(), 2 * MIN_SLOT, "a filled read grows the hint");
        for _ in 0..8 {
            b.recv_slot(b.hint());
            b.commit(10);
        }
        assert_eq!(b.hint(), MIN_SLOT, "small reads shrink it back");
        assert_eq!(b.len(), n + 80);
        // With bytes buffered (a frame's beginning), a read finding nothing keeps the region.
        let before = b.recv_slot(10).as_ptr();
        b.commit(0);
        assert_eq!(b.recv_slot(10).as_ptr(), before, "an unfilled slot is handed out again, not re-zeroed");
        b.abandon_slot();
        // Copied input adapts the hint too.
        let mut c = InputBuffer::default();
        c.receive(&[1; MIN_SLOT]);
        assert_eq!(c.hint(), 2 * MIN_SLOT);
    }

    #[test]
    fn a_frame_is_read_into_one_allocation() {
        // The beginning of a frame came copied (in its own allocation of exactly its size);
        // the read for the rest gets one region holding both, the beginning copied once.
        let mut b = InputBuffer::default();
        b.receive(b"head");
        assert_eq!(b.buf.capacity(), 4);
        let slot = b.recv_slot(100_000);
        assert_eq!(slot.len(), 100_000);
        slot[..3].copy_from_slice(b"abc");
        b.commit(3);
        let start = b.buf.as_ptr();
        b.recv_slot(99_997)[..3].copy_from_slice(b"def");
        b.commit(3);
        assert_eq!(&b.buf[..], b"headabcdef");
        assert_eq!(b.buf.as_ptr(), start, "later reads join in place");
        assert_eq!(b.spare_len(), 100_000 - 6, "no second region");
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
        // Copied into an empty buffer: an allocation of its own, the old region released.
        let mut c = InputBuffer::default();
        c.recv_slot(10);
        c.abandon_slot();
        c.receive(b"xyz");
        assert_eq!(c.spare_len(), 0);
        assert_eq!(&c.buf[..], b"xyz");
    }
}
