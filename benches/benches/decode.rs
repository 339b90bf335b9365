//! Frame parsing: bytes in through `receive`, messages out through `poll_event` until `None`.
//!
//! - `decode/server/...`: a server connection parsing masked client frames (unmasking included);
//! - `decode/client/...`: a client connection parsing unmasked server frames.
//!
//! Cases: `small_64B_x1024` (1024 binary messages of 64 B arriving in one buffer),
//! `single_1MiB` (one 1 MiB frame), `fragmented_1MiB` (one 1 MiB message in 16 frames of
//! 64 KiB, reassembled). Throughput counts payload bytes delivered.

use std::time::Instant;

use criterion::{Criterion, Throughput};
use ws_benches::{client, drain_events, server, Rng};
use ws_proto::{Bytes, Config, Connection, MessageKind, Role};

const SMALL: usize = 64;
const SMALL_COUNT: usize = 1024;
const LARGE: usize = 1024 * 1024;
const FRAGMENT: usize = 64 * 1024;

fn payload(len: usize, seed: u64) -> Bytes {
    let mut v = vec![0u8; len];
    Rng::new(seed).fill(&mut v);
    Bytes::from(v)
}

/// The wire bytes of each case as `sender` puts them out.
fn cases(mut sender: Connection) -> Vec<(&'static str, usize, Vec<u8>)> {
    let mut out = Vec::new();

    let mut wire = Vec::new();
    for i in 0..SMALL_COUNT {
        sender.send_binary(payload(SMALL, i as u64)).expect("send");
    }
    sender.transmit_into(&mut wire);
    out.push(("small_64B_x1024", SMALL * SMALL_COUNT, wire));

    let mut wire = Vec::new();
    sender.send_binary(payload(LARGE, 1)).expect("send");
    sender.transmit_into(&mut wire);
    out.push(("single_1MiB", LARGE, wire));

    let mut wire = Vec::new();
    let whole = payload(LARGE, 2);
    for start in (0..LARGE).step_by(FRAGMENT) {
        let fin = start + FRAGMENT >= LARGE;
        sender.send_frame_part(MessageKind::Binary, whole.slice(start..start + FRAGMENT), fin).expect("send");
    }
    sender.transmit_into(&mut wire);
    out.push(("fragmented_1MiB", LARGE, wire));
    out
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for role in [Role::Server, Role::Client] {
        // The peer produces the frames: masked from a client, unmasked from a server.
        let (label, sender) = match role {
            Role::Server => ("server", client(Config::default())),
            Role::Client => ("client", server(Config::default())),
        };
        for (name, payload_bytes, wire) in cases(sender) {
            let mut conn = match role {
                Role::Server => server(Config::default()),
                Role::Client => client(Config::default()),
            };
            let now = Instant::now();
            conn.receive(&wire);
            assert_eq!(drain_events(&mut conn, now), payload_bytes, "{label}/{name}");
            group.throughput(Throughput::Bytes(payload_bytes as u64));
            group.bench_function(format!("{label}/{name}"), |b| {
                b.iter(|| {
                    conn.receive(&wire);
                    drain_events(&mut conn, now)
                })
            });
        }
    }
    group.finish();
}

fn main() {
    let mut c = ws_benches::criterion();
    bench_decode(&mut c);
    c.final_summary();
}
