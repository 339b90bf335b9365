//! The miniz_oxide backend (feature `deflate`): pure Rust, compressor window 15 bits only.
//!
//! miniz_oxide's `CompressorOxide::with_params` takes a window size, but only approximates it
//! by lowering the level, and its fast path (level 1) matches up to 32 KiB back whatever the
//! window; so this backend compresses with a 15-bit window only and negotiation declines what
//! needs less (see `params.rs`). Its decompressor keeps a 32 KiB dictionary, enough for any
//! window.

use miniz_oxide::deflate::core::{create_comp_flags_from_zip_params, CompressorOxide};
use miniz_oxide::deflate::stream::deflate;
use miniz_oxide::inflate::stream::{inflate, InflateState, MinReset};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use super::{grow_spare, Compress, Decompress, Progress, Strategy};

/// A raw-deflate compressor with a 32 KiB window.
pub(super) struct MinizCompressor(Box<CompressorOxide>);

impl MinizCompressor {
    pub(super) fn new(level: u8, strategy: Strategy) -> Self {
        // miniz_oxide's `CompressionStrategy` numbers are zlib's.
        let strategy = match strategy {
            Strategy::Default => 0,
            Strategy::Filtered => 1,
            Strategy::HuffmanOnly => 2,
            Strategy::Rle => 3,
            Strategy::Fixed => 4,
        };
        // Negative window bits: raw deflate, no zlib header.
        let flags = create_comp_flags_from_zip_params(i32::from(level.min(9)), -15, strategy);
        Self(Box::new(CompressorOxide::new(flags)))
    }
}

impl Compress for MinizCompressor {
    fn compress_sync(&mut self, input: &[u8], out: &mut Vec<u8>, step: usize) -> Result<(), ()> {
        let mut pos = 0;
        // The previous call filled the output. miniz_oxide then may have stopped early: when a
        // block it emits mid-message does not fit, it stages the block, hands out what fits
        // and returns, and the next call only hands out the rest, even if the input was all
        // read meanwhile; the last bytes (up to 258, still in its lookahead) and the sync flush
        // then come only from one more call. (zlib, and zlib-rs, finish a sync flush whenever
        // they return with output room left.) So after a full output, the flush is complete
        // only once a later call leaves room too; one call too many merely adds an empty
        // block, which receivers skip.
        let mut after_full = false;
        loop {
            let start = out.len();
            grow_spare(out, step);
            let avail = out.len() - start;
            let r = deflate(&mut self.0, input.get(pos..).unwrap_or_default(), &mut out[start..], MZFlush::Sync);
            out.truncate(start + r.bytes_written);
            pos += r.bytes_consumed;
            r.status.map_err(drop)?;
            let full = r.bytes_written >= avail;
            if pos >= input.len() && !full && !after_full {
                return Ok(());
            }
            if r.bytes_consumed == 0 && r.bytes_written == 0 {
                return Err(());
            }
            after_full = full;
        }
    }
}

/// A raw-deflate decompressor (32 KiB dictionary).
pub(super) struct MinizDecompressor(Box<InflateState>);

impl MinizDecompressor {
    pub(super) fn new() -> Self {
        Self(InflateState::new_boxed(DataFormat::Raw))
    }
}

impl Decompress for MinizDecompressor {
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, ()> {
        if out.is_empty() {
            return Ok(Progress::default());
        }
        let r = inflate(&mut self.0, input, out, MZFlush::None);
        let stream_end = match r.status {
            Ok(MZStatus::StreamEnd) => true,
            // `Buf`: no progress possible (needs input); not an error.
            Ok(_) | Err(MZError::Buf) => false,
            Err(_) => return Err(()),
        };
        Ok(Progress { consumed: r.bytes_consumed, written: r.bytes_written, stream_end })
    }

    fn reset(&mut self) {
        // The dictionary is not zeroed: it only ever holds this connection's own earlier
        // output, so a stale back-reference can reveal nothing the peer did not send.
        self.0.reset_as(MinReset);
    }
}
