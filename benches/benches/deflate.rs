//! permessage-deflate throughput, through the public API, for every compiled backend
//! (miniz_oxide and zlib-rs), at compression levels 1 and 6, with and without context
//! takeover, on JSON market-feed / chat messages of 1 KiB, 16 KiB and 1 MiB.
//!
//! - `deflate_compress/{backend}/l{level}/{ctx|no_ctx}/{size}`: a server connection
//!   `send_text`s the next message of a stream of distinct messages and its output is drained
//!   with `transmit_into` (compression plus framing and one copy).
//! - `deflate_decompress/...`: a client connection `receive`s the next compressed frame of that
//!   stream and `poll_event` inflates it, checks its UTF-8 and delivers it.
//!
//! Throughput counts uncompressed message bytes. The stream has at least 512 KiB of distinct
//! messages, so with context takeover the 32 KiB window never sees a repeat of the message
//! being compressed; the decompressing client replays the compressed stream in order, which
//! is valid because its first frame was compressed with an empty history.

use std::time::Instant;

use criterion::{Criterion, SamplingMode, Throughput};
use ws_benches::{deflate_pair, drain_copy, drain_events, json_corpus, size_label};
use ws_proto::{Backend, Utf8Bytes};

const SIZES: [usize; 3] = [1024, 16 * 1024, 1024 * 1024];
const LEVELS: [u8; 2] = [1, 6];

/// Distinct messages per size: at least 512 KiB in all, and at least two.
fn stream_len(size: usize) -> usize {
    (512 * 1024 / size).max(2)
}

fn ctx_label(context_takeover: bool) -> &'static str {
    if context_takeover {
        "ctx"
    } else {
        "no_ctx"
    }
}

fn bench_deflate(c: &mut Criterion) {
    let corpora: Vec<(usize, Vec<Utf8Bytes>)> = SIZES
        .iter()
        .map(|&size| {
            (size, json_corpus(size, stream_len(size), size as u64).into_iter().map(Utf8Bytes::from).collect())
        })
        .collect();

    let mut compress = c.benchmark_group("deflate_compress");
    for &backend in Backend::available() {
        for level in LEVELS {
            for context_takeover in [true, false] {
                for (size, corpus) in &corpora {
                    let id =
                        format!("{}/l{level}/{}/{}", backend.name(), ctx_label(context_takeover), size_label(*size));
                    compress.throughput(Throughput::Bytes(*size as u64));
                    compress.sampling_mode(if *size >= 1 << 20 { SamplingMode::Flat } else { SamplingMode::Auto });
                    let (mut server, _) = deflate_pair(backend, level, context_takeover);
                    let mut out = Vec::with_capacity(size + 64);
                    let mut next = 0;
                    compress.bench_function(id, |b| {
                        b.iter(|| {
                            server.send_text(corpus[next].clone()).expect("send");
                            next = (next + 1) % corpus.len();
                            drain_copy(&mut server, &mut out)
                        })
                    });
                }
            }
        }
    }
    compress.finish();

    let mut decompress = c.benchmark_group("deflate_decompress");
    for &backend in Backend::available() {
        for level in LEVELS {
            for context_takeover in [true, false] {
                for (size, corpus) in &corpora {
                    let id =
                        format!("{}/l{level}/{}/{}", backend.name(), ctx_label(context_takeover), size_label(*size));
                    decompress.throughput(Throughput::Bytes(*size as u64));
                    decompress.sampling_mode(if *size >= 1 << 20 { SamplingMode::Flat } else { SamplingMode::Auto });
                    // The stream as the server puts it on the wire, one frame per message.
                    let (mut server, mut client) = deflate_pair(backend, level, context_takeover);
                    let frames: Vec<Vec<u8>> = corpus
                        .iter()
                        .map(|m| {
                            server.send_text(m.clone()).expect("send");
                            let mut wire = Vec::new();
                            server.transmit_into(&mut wire);
                            wire
                        })
                        .collect();
                    let now = Instant::now();
                    let mut next = 0;
                    decompress.bench_function(id, |b| {
                        b.iter(|| {
                            client.receive(&frames[next]);
                            next = (next + 1) % frames.len();
                            drain_events(&mut client, now)
                        })
                    });
                }
            }
        }
    }
    decompress.finish();
}

fn main() {
    let mut c = ws_benches::criterion();
    bench_deflate(&mut c);
    c.final_summary();
}
