//! The behavioural suite of the async layer, written once against ws-async's generic API and
//! run on every runtime: each `async fn case<T: TestRt>()` becomes `case::tokio` (tokio
//! current-thread), `case::tokio_mt` (tokio multi-thread), `case::async_std` and `case::smol`
//! (see `harness`).
//!
//! Loopback only (127.0.0.1, in-memory pipes, Unix sockets in the temporary directory); every
//! await is bounded by `harness::within`, every test by `harness::TEST_LIMIT`.
//!
//! Adding a test: in the module of its area, inside `on_every_runtime! { … }`, write
//!
//! ```ignore
//! /// One line saying what behaviour the test holds.
//! async fn the_behaviour<T: TestRt>() {
//!     let (mut client, mut server) = tcp_pair::<T>(config()).await; // or pipe_pair, raw_pair
//!     within(client.send("hi")).await.unwrap();
//!     let task = T::spawn(async move { server.recv().await }); // tasks on the runtime
//!     assert!(matches!(within(task).await, Some(Ok(Event::Message(_)))));
//! }
//! ```
//!
//! using ws-async's generic API with `T::R` as the runtime (`ClientBuilder::<T::R>::new`,
//! `connect_with::<_, T::R>`), the runtime's sockets through `T` (`T::listen`, `T::accept`,
//! `T::connect`, `raw::<T>` for hand-rolled peers), and the harness's runtime-independent
//! `within`/`timeout`/`sleep`. A new area is a new module listed below. A new runtime is one
//! more `TestRt` implementation (`harness/runtimes.rs`) and one more line in
//! `on_every_runtime!`.

#[macro_use]
mod harness;

mod backpressure;
mod byte_stream;
mod cancel;
mod client;
mod client_error;
mod client_parity;
mod close_order;
mod connection;
mod delivery;
mod driver;
mod hostile;
mod offload;
mod server;
mod split;
mod tls;
