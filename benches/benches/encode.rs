//! Frame encoding: queue a binary message, then drain the output as an adapter would.
//!
//! - `encode/server_vectored/{size}`: server `send_binary` + `poll_transmit` /
//!   `chunks_vectored` / `advance` (zero-copy for payloads of 256 B and more, which are queued
//!   as their own segment; smaller ones are copied next to the header);
//! - `encode/server_copy/{size}`: server `send_binary` + `transmit_into` (one copy of
//!   everything into a reused `Vec`);
//! - `encode/client_shared/{size}`: client `send_binary` of a shared `Bytes` (masked into a
//!   copy) + vectored drain;
//! - `encode/client_owned/{size}`: the same with a uniquely owned payload, masked in place
//!   (the payload is built outside the measurement);
//! - `encode/prepared_x100/{size}`: one `PreparedMessage` built and sent to 100 server
//!   connections, each drained vectored; `encode/send_binary_x100/{size}` is the same
//!   broadcast with a `send_binary` per connection.
//!
//! Sizes 16 B, 256 B, 4 KiB and 1 MiB (16 B and 4 KiB for the broadcasts). Throughput counts
//! payload bytes (times 100 for the broadcasts).

use criterion::{BatchSize, Criterion, Throughput};
use ws_benches::{client, drain_copy, drain_vectored, server, size_label, Rng};
use ws_proto::{Bytes, Config, Connection, Message, PreparedMessage};

const SIZES: [usize; 4] = [16, 256, 4 * 1024, 1024 * 1024];
const BROADCAST_SIZES: [usize; 2] = [16, 4 * 1024];
const PEERS: usize = 100;

fn payload(len: usize) -> Bytes {
    let mut v = vec![0u8; len];
    Rng::new(len as u64).fill(&mut v);
    Bytes::from(v)
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for size in SIZES {
        let data = payload(size);
        let label = size_label(size);
        group.throughput(Throughput::Bytes(size as u64));

        let mut conn = server(Config::default());
        group.bench_function(format!("server_vectored/{label}"), |b| {
            b.iter(|| {
                conn.send_binary(data.clone()).expect("send");
                drain_vectored(&mut conn)
            })
        });

        let mut out = Vec::with_capacity(size + 16);
        group.bench_function(format!("server_copy/{label}"), |b| {
            b.iter(|| {
                conn.send_binary(data.clone()).expect("send");
                drain_copy(&mut conn, &mut out)
            })
        });

        let mut conn = client(Config::default());
        group.bench_function(format!("client_shared/{label}"), |b| {
            b.iter(|| {
                conn.send_binary(data.clone()).expect("send");
                drain_vectored(&mut conn)
            })
        });
        if size >= 4096 {
            group.bench_function(format!("client_owned/{label}"), |b| {
                b.iter_batched(
                    || Bytes::from(data.to_vec()),
                    |owned| {
                        conn.send_binary(owned).expect("send");
                        drain_vectored(&mut conn)
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }

    let mut peers: Vec<Connection> = (0..PEERS).map(|_| server(Config::default())).collect();
    for size in BROADCAST_SIZES {
        let data = payload(size);
        let label = size_label(size);
        group.throughput(Throughput::Bytes((size * PEERS) as u64));
        group.bench_function(format!("prepared_x100/{label}"), |b| {
            b.iter(|| {
                let msg = PreparedMessage::new(Message::binary(data.clone()));
                peers
                    .iter_mut()
                    .map(|conn| {
                        conn.send_prepared(&msg).expect("send");
                        drain_vectored(conn)
                    })
                    .sum::<usize>()
            })
        });
        group.bench_function(format!("send_binary_x100/{label}"), |b| {
            b.iter(|| {
                peers
                    .iter_mut()
                    .map(|conn| {
                        conn.send_binary(data.clone()).expect("send");
                        drain_vectored(conn)
                    })
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = ws_benches::criterion();
    bench_encode(&mut c);
    c.final_summary();
}
