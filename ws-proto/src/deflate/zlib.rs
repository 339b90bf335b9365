//! The zlib-rs backend (feature `zlib-rs`): a pure-Rust port of zlib, through its safe
//! `Deflate`/`Inflate` API. Compressor windows 9..15 bits; 8 is raised to 9 as zlib does, which
//! still honours an 8-bit limit: a 9-bit zlib window never matches more than 2^9 − 262 = 250
//! bytes back.

use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Inflate, InflateFlush, Method, Status};

use super::{grow_spare, Compress, Decompress, Progress, Strategy};

/// A raw-deflate compressor.
pub(super) struct ZlibCompressor(Deflate);

impl ZlibCompressor {
    /// `level` 0..=9, `mem_level` 1..=9, `window_bits` 8..=15 (clamped: zlib-rs asserts on
    /// out-of-range values).
    pub(super) fn new(level: u8, mem_level: u8, window_bits: u8, strategy: Strategy) -> Self {
        let strategy = match strategy {
            Strategy::Default => zlib_rs::Strategy::Default,
            Strategy::Filtered => zlib_rs::Strategy::Filtered,
            Strategy::HuffmanOnly => zlib_rs::Strategy::HuffmanOnly,
            Strategy::Rle => zlib_rs::Strategy::Rle,
            Strategy::Fixed => zlib_rs::Strategy::Fixed,
        };
        let config = DeflateConfig {
            level: i32::from(level.min(9)),
            method: Method::Deflated,
            // Negative: raw deflate. zlib-rs refuses 8 for raw streams, so 8 becomes 9.
            window_bits: -i32::from(window_bits.clamp(9, 15)),
            mem_level: i32::from(mem_level.clamp(1, 9)),
            strategy,
        };
        Self(Deflate::new_with_config(config))
    }
}

impl Compress for ZlibCompressor {
    fn compress_sync(&mut self, input: &[u8], out: &mut Vec<u8>, step: usize) -> Result<(), ()> {
        let mut pos = 0;
        loop {
            let start = out.len();
            grow_spare(out, step);
            let avail = out.len() - start;
            let (in0, out0) = (self.0.total_in(), self.0.total_out());
            let r = self.0.compress(input.get(pos..).unwrap_or_default(), &mut out[start..], DeflateFlush::SyncFlush);
            let consumed = usize::try_from(self.0.total_in() - in0).map_err(drop)?;
            let written = usize::try_from(self.0.total_out() - out0).map_err(drop)?;
            out.truncate(start + written.min(avail));
            pos += consumed;
            r.map_err(drop)?;
            if pos >= input.len() && written < avail {
                return Ok(());
            }
            if consumed == 0 && written == 0 {
                return Err(());
            }
        }
    }
}

/// A raw-deflate decompressor with the peer's negotiated window (a stream reaching further
/// back fails; zlib-rs 0.6 allocates a 32 KiB window whatever the size).
pub(super) struct ZlibDecompressor(Inflate);

impl ZlibDecompressor {
    /// `window_bits` 9..=15 (clamped): the largest window the peer compresses with (a peer
    /// limited to 8 bits is inflated with 9, which covers it).
    pub(super) fn new(window_bits: u8) -> Self {
        Self(Inflate::new(false, window_bits.clamp(9, 15)))
    }
}

impl Decompress for ZlibDecompressor {
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, ()> {
        let (in0, out0) = (self.0.total_in(), self.0.total_out());
        let r = self.0.decompress(input, out, InflateFlush::NoFlush);
        let consumed = usize::try_from(self.0.total_in() - in0).map_err(drop)?;
        let written = usize::try_from(self.0.total_out() - out0).map_err(drop)?;
        match r {
            Ok(status) => Ok(Progress { consumed, written, stream_end: status == Status::StreamEnd }),
            Err(_) => Err(()),
        }
    }

    fn reset(&mut self) {
        self.0.reset(false);
    }
}
