//! Soak test (by hand) on tokio (multi-thread runtime): a tracked `Server` on 127.0.0.1
//! (driver mode, echo) and N clients in the same process that each send one message a second,
//! check every echo, and close and reconnect after a random lifetime (churn); reports
//! connections, messages, losses, errors, p50/p99 latency and RSS, and exits non-zero if a
//! message was lost or RSS grew more than 25 %. The test itself is written once over
//! ws-async's runtime traits in `testkit/soak.rs` (options and output are described there);
//! `ws-async-std/examples/soak-smol.rs` runs the same on smol.
//!
//! ```sh
//! ulimit -n 20000   # two sockets per connection in one process
//! cargo run --release -p ws-tokio --example soak -- --connections 9000 --minutes 10
//! cargo run --release -p ws-tokio --example soak -- --connections 2000 --minutes 3 --deflate
//! ```

#[path = "../../testkit/soak.rs"]
mod soak;

fn main() -> std::io::Result<()> {
    let o = soak::options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(soak::run::<ws_tokio::Tokio>(o))
}
