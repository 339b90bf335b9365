//! Soak test (by hand) on smol: the same test as ws-tokio's `soak` example (written once over
//! ws-async's runtime traits in `testkit/soak.rs`, where options and output are described),
//! with this binding's runtime: `smol::block_on` runs the test, sockets are smol's `async-net`
//! on the `async-io` reactor, and the clients' and the server's tasks run where the binding
//! spawns them (`async-global-executor`, one thread per core).
//!
//! ```sh
//! ulimit -n 20000   # two sockets per connection in one process
//! cargo run --release -p ws-async-std --example soak-smol -- --connections 9000 --minutes 10
//! ```

#[path = "../../testkit/soak.rs"]
mod soak;

fn main() -> std::io::Result<()> {
    let o = soak::options()?;
    smol::block_on(soak::run::<ws_async_std::AsyncStd>(o))
}
