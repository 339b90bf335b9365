//! `apply_mask` throughput (RFC 6455 §5.3 payload masking, the hot loop of every client send
//! and server receive) at 16 B, 1 KiB, 64 KiB and 1 MiB from an 8-byte-aligned start, and at
//! 1 KiB and 64 KiB from starts misaligned by 1 to 3 bytes (`mask/{size}/offset{n}`), and
//! the reference it is measured against: a `memcpy` of the same size (`mask/{size}/memcpy`,
//! `copy_from_slice` into another buffer; the target is masking at ≥ 50 % of it).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use ws_benches::{size_label, Rng};
use ws_proto::apply_mask;

const KEY: [u8; 4] = [0x6d, 0xb6, 0xb2, 0x80];

fn bench_mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    let cases = [(16, 0), (1024, 0), (64 * 1024, 0), (1024 * 1024, 0)]
        .into_iter()
        .chain([1024, 64 * 1024].into_iter().flat_map(|size| (1..4).map(move |offset| (size, offset))));
    for (size, offset) in cases {
        // Start at the first 8-byte boundary of the buffer, then move `offset` bytes off it.
        let mut bytes = vec![0u8; size + offset + 8];
        Rng::new(size as u64).fill(&mut bytes);
        let start = bytes.as_ptr().align_offset(8) + offset;
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("{}/offset{offset}", size_label(size)), |b| {
            b.iter(|| apply_mask(black_box(&mut bytes[start..start + size]), black_box(KEY), 0))
        });
    }
    for size in [1024, 64 * 1024, 1024 * 1024] {
        let mut from = vec![0u8; size];
        Rng::new(size as u64).fill(&mut from);
        let mut to = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("{}/memcpy", size_label(size)), |b| {
            b.iter(|| black_box(&mut to[..]).copy_from_slice(black_box(&from[..])))
        });
    }
    group.finish();
}

fn main() {
    let mut c = ws_benches::criterion();
    bench_mask(&mut c);
    c.final_summary();
}
