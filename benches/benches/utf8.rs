//! UTF-8 validation of text payloads: `Utf8Validator::feed` (the incremental, fail-fast
//! validator used for text messages and fragments) against `std::str::from_utf8`, on ASCII
//! and on mixed-script text, at 1 KiB and 1 MiB.
//!
//! - `utf8/std/{text}/{size}`: `std::str::from_utf8` on the whole buffer;
//! - `utf8/simdutf8/{text}/{size}`: `simdutf8::basic::from_utf8` (SIMD, the reference the
//!   issue sets: ours at least as fast);
//! - `utf8/feed/{text}/{size}`: a fresh validator fed the whole buffer at once;
//! - `utf8/feed_split/{text}/1MiB`: the same buffer fed in 4093-byte pieces (an odd size, so
//!   multi-byte sequences straddle pieces as they do across frames and reads).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use ws_benches::{ascii_text, mixed_text, size_label};
use ws_proto::Utf8Validator;

const SPLIT: usize = 4093;

fn bench_utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for size in [1024, 1024 * 1024] {
        for (name, text) in [("ascii", ascii_text(size, 1)), ("mixed", mixed_text(size, 2))] {
            let bytes = text.as_bytes();
            let label = size_label(size);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function(format!("std/{name}/{label}"), |b| {
                b.iter(|| std::str::from_utf8(black_box(bytes)).is_ok())
            });
            group.bench_function(format!("simdutf8/{name}/{label}"), |b| {
                b.iter(|| simdutf8::basic::from_utf8(black_box(bytes)).is_ok())
            });
            group.bench_function(format!("feed/{name}/{label}"), |b| {
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    v.feed(black_box(bytes)).is_ok() && v.is_complete()
                })
            });
            if size > SPLIT {
                group.bench_function(format!("feed_split/{name}/{label}"), |b| {
                    b.iter(|| {
                        let mut v = Utf8Validator::new();
                        black_box(bytes).chunks(SPLIT).all(|piece| v.feed(piece).is_ok()) && v.is_complete()
                    })
                });
            }
        }
    }
    group.finish();
}

fn main() {
    let mut c = ws_benches::criterion();
    bench_utf8(&mut c);
    c.final_summary();
}
