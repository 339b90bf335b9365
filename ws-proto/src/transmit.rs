//! The output queue: bytes the connection wants written, in two lanes.
//!
//! Control frames (pong, close, ping) jump ahead of data whenever the data lane is at a frame
//! boundary, so a long message never delays a pong by more than one frame. Segments are `Bytes`
//! so that payloads are written straight from the caller's buffer (vectored writes).

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

/// One queued segment of the data lane.
#[derive(Debug)]
struct Segment {
    bytes: Bytes,
    /// The last segment of a frame.
    ends_frame: bool,
}

/// Whether the write side should be half-closed once the queue is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shutdown {
    No,
    Pending,
    Done,
}

/// The connection's growable output queue. Callers never size a buffer: they drain it.
#[derive(Debug)]
pub(crate) struct OutQueue {
    control: VecDeque<Bytes>,
    data: VecDeque<Segment>,
    /// Part of the front control frame was written: it must finish first.
    control_started: bool,
    /// Part of the front data frame was written: it must finish before any control frame.
    data_started: bool,
    buffered: usize,
    shutdown: Shutdown,
}

impl Default for OutQueue {
    fn default() -> Self {
        Self {
            control: VecDeque::new(),
            data: VecDeque::new(),
            control_started: false,
            data_started: false,
            buffered: 0,
            shutdown: Shutdown::No,
        }
    }
}

impl OutQueue {
    /// Queues a complete control frame (header and payload in one buffer).
    pub(crate) fn push_control(&mut self, frame: Bytes) {
        self.buffered += frame.len();
        self.control.push_back(frame);
    }

    /// Queues one segment of a data frame; `ends_frame` on its last segment.
    pub(crate) fn push_data(&mut self, bytes: Bytes, ends_frame: bool) {
        if bytes.is_empty() {
            // Never queue an empty segment: it would make `chunk()` empty while bytes remain.
            if ends_frame {
                match self.data.back_mut() {
                    Some(last) => last.ends_frame = true,
                    None => self.data_started = false,
                }
            }
            return;
        }
        self.buffered += bytes.len();
        self.data.push_back(Segment { bytes, ends_frame });
    }

    /// Queues raw bytes that are not frames (handshake heads).
    pub(crate) fn push_raw(&mut self, bytes: Bytes) {
        self.push_data(bytes, true);
    }

    /// Counts queued control frames matching `pred` that have not started to be written.
    pub(crate) fn count_control(&self, mut pred: impl FnMut(&Bytes) -> bool) -> usize {
        let skip = usize::from(self.control_started);
        self.control.iter().skip(skip).filter(|b| pred(b)).count()
    }

    /// Removes the oldest control frame matching `pred` that has not started to be written.
    pub(crate) fn remove_first_control(&mut self, pred: impl FnMut(&Bytes) -> bool) -> bool {
        let skip = usize::from(self.control_started);
        let Some(i) = self.control.iter().skip(skip).position(pred) else { return false };
        if let Some(b) = self.control.remove(i + skip) {
            self.buffered -= b.len();
        }
        true
    }

    /// Drops everything not yet started (used when the connection is terminated).
    pub(crate) fn clear(&mut self) {
        self.control.clear();
        self.data.clear();
        self.control_started = false;
        self.data_started = false;
        self.buffered = 0;
    }

    /// Requests a half-close once everything queued is written.
    pub(crate) fn request_shutdown(&mut self) {
        if self.shutdown == Shutdown::No {
            self.shutdown = Shutdown::Pending;
        }
    }

    /// Bytes queued and not yet written.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.control.is_empty() && self.data.is_empty()
    }

    /// Whether a Shutdown is due and not yet handed out.
    pub(crate) fn shutdown_pending(&self) -> bool {
        self.shutdown == Shutdown::Pending
    }

    /// Whether the Shutdown was handed out.
    #[cfg(test)]
    pub(crate) fn shutdown_done(&self) -> bool {
        self.shutdown == Shutdown::Done
    }

    /// The next thing to write, if any.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        if !self.is_empty() {
            return Some(Transmit::Data(TransmitBuf { queue: self }));
        }
        if self.shutdown == Shutdown::Pending {
            self.shutdown = Shutdown::Done;
            return Some(Transmit::Shutdown);
        }
        None
    }

    /// Appends every queued byte to `out`, returning how many.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        while self.has_remaining() {
            let c = self.chunk_impl();
            out.extend_from_slice(c);
            let l = c.len();
            n += l;
            self.advance_impl(l);
        }
        n
    }

    fn has_remaining(&self) -> bool {
        !self.is_empty()
    }

    /// Which lane the next byte comes from.
    fn control_next(&self) -> bool {
        if self.control_started {
            return true;
        }
        if self.data_started {
            return false;
        }
        !self.control.is_empty()
    }

    fn chunk_impl(&self) -> &[u8] {
        if self.control_next() {
            self.control.front().map_or(&[], |b| &b[..])
        } else {
            // An empty segment can only be the end of a frame: skip over it in advance().
            self.data.front().map_or(&[], |s| &s.bytes[..])
        }
    }

    fn advance_impl(&mut self, mut n: usize) {
        self.buffered -= n.min(self.buffered);
        loop {
            if self.control_next() {
                let Some(front) = self.control.front_mut() else { return };
                if n >= front.len() {
                    n -= front.len();
                    self.control.pop_front();
                    self.control_started = false;
                } else {
                    front.advance(n);
                    self.control_started = n > 0 || self.control_started;
                    return;
                }
            } else {
                let Some(front) = self.data.front_mut() else { return };
                if n >= front.bytes.len() {
                    n -= front.bytes.len();
                    let ends = front.ends_frame;
                    self.data.pop_front();
                    self.data_started = !ends;
                } else {
                    front.bytes.advance(n);
                    self.data_started = n > 0 || self.data_started;
                    return;
                }
            }
            if n == 0 {
                // Skip empty segments so chunk() never returns an empty slice while bytes remain.
                let empty_next = if self.control_next() {
                    self.control.front().is_some_and(Bytes::is_empty)
                } else {
                    self.data.front().is_some_and(|s| s.bytes.is_empty())
                };
                if !empty_next {
                    return;
                }
            }
        }
    }

    /// Fills `dst` with slices in the exact order `advance` consumes them.
    fn chunks_vectored_impl<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        let mut push = |b: &'a [u8], n: &mut usize| -> bool {
            if *n == dst.len() {
                return false;
            }
            if !b.is_empty() {
                dst[*n] = IoSlice::new(b);
                *n += 1;
            }
            true
        };
        let mut control_from = 0;
        if self.control_started {
            if let Some(f) = self.control.front() {
                if !push(f, &mut n) {
                    return n;
                }
            }
            control_from = 1;
        }
        let mut data_from = 0;
        if self.data_started {
            for s in &self.data {
                data_from += 1;
                if !push(&s.bytes, &mut n) {
                    return n;
                }
                if s.ends_frame {
                    break;
                }
            }
        }
        for c in self.control.iter().skip(control_from) {
            if !push(c, &mut n) {
                return n;
            }
        }
        for s in self.data.iter().skip(data_from) {
            if !push(&s.bytes, &mut n) {
                return n;
            }
        }
        n
    }
}

/// What [`Connection::poll_transmit`](crate::Connection::poll_transmit) asks the adapter to do.
#[derive(Debug)]
pub enum Transmit<'a> {
    /// Write these bytes. Use [`Buf::chunks_vectored`] (or [`Buf::chunk`]) and then
    /// [`Buf::advance`] by what was written; a partial write leaves the rest queued.
    Data(TransmitBuf<'a>),
    /// Everything queued was written and the protocol wants the write side half-closed
    /// (TCP `shutdown(Write)`). Yielded once.
    Shutdown,
}

/// A view of the queued output implementing [`bytes::Buf`].
#[derive(Debug)]
pub struct TransmitBuf<'a> {
    queue: &'a mut OutQueue,
}

impl Buf for TransmitBuf<'_> {
    fn remaining(&self) -> usize {
        self.queue.buffered
    }

    fn chunk(&self) -> &[u8] {
        self.queue.chunk_impl()
    }

    fn advance(&mut self, cnt: usize) {
        self.queue.advance_impl(cnt);
    }

    fn chunks_vectored<'b>(&'b self, dst: &mut [IoSlice<'b>]) -> usize {
        self.queue.chunks_vectored_impl(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_by(q: &mut OutQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(Transmit::Data(mut t)) = q.poll_transmit() {
            let c = t.chunk();
            let n = c.len().min(step);
            out.extend_from_slice(&c[..n]);
            t.advance(n);
        }
        out
    }

    #[test]
    fn control_waits_for_frame_boundary() {
        let mut q = OutQueue::default();
        q.push_data(Bytes::from_static(b"H1"), false);
        q.push_data(Bytes::from_static(b"payload1"), true);
        q.push_data(Bytes::from_static(b"H2"), false);
        q.push_data(Bytes::from_static(b"p2"), true);
        // Start writing frame 1, then a control frame arrives: it must wait for frame 1's end.
        if let Some(Transmit::Data(mut t)) = q.poll_transmit() {
            t.advance(1);
        }
        q.push_control(Bytes::from_static(b"PONG"));
        let mut rest = drain_by(&mut q, 3);
        rest.insert(0, b'H');
        assert_eq!(rest, b"H1payload1PONGH2p2");
        assert_eq!(q.buffered(), 0);
    }

    #[test]
    fn control_first_at_boundary_and_vectored_order_matches() {
        for started in [false, true] {
            let mut q = OutQueue::default();
            q.push_data(Bytes::from_static(b"ab"), false);
            q.push_data(Bytes::from_static(b"cd"), true);
            q.push_data(Bytes::from_static(b"ef"), true);
            if started {
                if let Some(Transmit::Data(mut t)) = q.poll_transmit() {
                    t.advance(1);
                }
            }
            q.push_control(Bytes::from_static(b"XY"));
            q.push_control(Bytes::from_static(b"Z"));
            let mut vectored = Vec::new();
            if let Some(Transmit::Data(t)) = q.poll_transmit() {
                let mut slices = [IoSlice::new(&[]); 16];
                let n = t.chunks_vectored(&mut slices);
                for s in &slices[..n] {
                    vectored.extend_from_slice(s);
                }
            }
            let sequential = drain_by(&mut q, 1);
            assert_eq!(vectored, sequential);
            let expect: &[u8] = if started { b"bcdXYZef" } else { b"XYZabcdef" };
            assert_eq!(sequential, expect);
        }
    }

    #[test]
    fn shutdown_after_data_once() {
        let mut q = OutQueue::default();
        q.push_raw(Bytes::from_static(b"x"));
        q.request_shutdown();
        let mut v = Vec::new();
        assert_eq!(q.drain_into(&mut v), 1);
        assert!(matches!(q.poll_transmit(), Some(Transmit::Shutdown)));
        assert!(q.poll_transmit().is_none());
        assert!(q.shutdown_done());
    }

    #[test]
    fn removal_skips_started_control_frame() {
        let mut q = OutQueue::default();
        q.push_control(Bytes::from_static(b"P1"));
        q.push_control(Bytes::from_static(b"P2"));
        q.push_control(Bytes::from_static(b"P3"));
        if let Some(Transmit::Data(mut t)) = q.poll_transmit() {
            t.advance(1);
        }
        assert_eq!(q.count_control(|_| true), 2);
        assert!(q.remove_first_control(|_| true));
        assert_eq!(q.buffered(), 3);
        assert_eq!(drain_by(&mut q, 8), b"1P3");
        assert!(!q.remove_first_control(|_| true));
    }
}
