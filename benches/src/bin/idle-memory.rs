//! Server memory per idle WebSocket connection, per server (ours and the other stacks).
//!
//! ```sh
//! cargo run --release -p ws-benches --bin idle-memory -- [--connections N] [SERVER...]
//! ```
//!
//! SERVER is any of `ws_benches::echo::SERVERS` (default: every one available here). See
//! `ws_benches::memory` for the method: each server runs in its own process, N connections
//! (10 000 by default) are opened over loopback, and the growth of the server's RSS over N is
//! printed, plain and with permessage-deflate (idle, then after one message each way).
//!
//! Linux only (procfs). The file-descriptor limit is raised to fit 2 × N sockets.

use ws_benches::{echo, memory};

fn main() {
    echo::serve_if_asked();
    let mut args = std::env::args().skip(1);
    let mut connections = 10_000usize;
    let mut servers = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--connections" => {
                connections = args.next().and_then(|n| n.parse().ok()).expect("--connections N");
            }
            s if echo::SERVERS.contains(&s) => servers.push(s.to_owned()),
            other => panic!("unknown argument {other:?} (servers: {:?})", echo::SERVERS),
        }
    }
    if servers.is_empty() {
        servers = echo::SERVERS.iter().filter(|s| echo::available(s)).map(|s| (*s).to_owned()).collect();
    }
    let limit = echo::raise_fd_limit(2 * connections as u64 + 256);
    if limit < 2 * connections as u64 + 256 {
        eprintln!("idle-memory: only {limit} file descriptors allowed; expect failures");
    }
    let rows: Vec<_> = servers
        .iter()
        .map(|s| {
            let row = memory::measure_server(s, connections);
            eprintln!("idle-memory: {s} done");
            row
        })
        .collect();
    print!("{}", memory::table(&rows, connections));
}
