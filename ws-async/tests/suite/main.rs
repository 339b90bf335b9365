//! The behavioural suite of the async layer, written once against ws-async's generic API and
//! run on every runtime: each `async fn case<T: TestRt>()` becomes `case::tokio` (tokio
//! current-thread), `case::tokio_mt` (tokio multi-thread), `case::async_std` and `case::smol`
//! (see `harness`).
//!
//! Loopback only (127.0.0.1, in-memory pipes, Unix sockets in the temporary directory); every
//! await is bounded by `harness::within`, every test by `harness::TEST_LIMIT`.

#[macro_use]
mod harness;

mod backpressure;
mod byte_stream;
mod cancel;
mod client;
mod connection;
mod driver;
mod offload;
mod server;
mod split;
mod tls;
