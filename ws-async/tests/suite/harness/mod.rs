//! The harness of the shared suite.
//!
//! - [`TestRt`] (`runtimes.rs`): what a test needs from a runtime; implemented for tokio
//!   (current-thread and multi-thread), async-std and smol.
//! - [`on_every_runtime!`]: turns each `async fn case<T: TestRt>() { … }` into one `#[test]`
//!   per runtime: `case::tokio`, `case::tokio_mt`, `case::async_std`, `case::smol`.
//! - `io.rs`: streams every runtime's binding drives ([`Pipe`], [`AnyStream`]) and [`Raw`]
//!   access to a runtime's sockets for hand-rolled peers.
//! - `ws.rs`: time limits, connected pairs of WebSockets, hand-rolled frames, payloads.
#![allow(dead_code, unreachable_pub)]

#[path = "../../../../testkit/client_error.rs"]
pub mod client_error;
#[path = "../../../../testkit/decide.rs"]
pub mod decide;
#[path = "../../../../testkit/frames.rs"]
pub mod frames;
pub mod io;
#[path = "../../../../testkit/requests.rs"]
pub mod requests;
pub mod runtimes;
pub mod ws;

pub(crate) use frames::*;
pub use io::*;
pub(crate) use requests::*;
pub use runtimes::*;
pub use ws::*;

/// Serializes the tests that measure time (a ticker's gaps during a send): their runtime
/// variants would otherwise compete for the machine's cores with each other and skew what
/// they measure. Held for the whole test.
pub fn timing_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Generates, for each `async fn name<T: TestRt>() { … }`, that generic function and a module
/// `name` with one `#[test]` per runtime (`tokio`, `tokio_mt`, `async_std`, `smol`), each
/// running the function on its runtime within [`TEST_LIMIT`]. Attributes (the doc comment
/// saying what behaviour the test holds, `#[cfg]`) apply to both.
macro_rules! on_every_runtime {
    ($(
        $(#[$attr:meta])*
        async fn $name:ident<$rt:ident: TestRt>() $body:block
    )*) => {$(
        $(#[$attr])*
        async fn $name<$rt: $crate::harness::TestRt>() $body

        $(#[$attr])*
        mod $name {
            #[test]
            fn tokio() {
                $crate::harness::run::<$crate::harness::TokioCurrentThread>(
                    super::$name::<$crate::harness::TokioCurrentThread>(),
                );
            }

            #[test]
            fn tokio_mt() {
                $crate::harness::run::<$crate::harness::TokioMultiThread>(
                    super::$name::<$crate::harness::TokioMultiThread>(),
                );
            }

            #[test]
            fn async_std() {
                $crate::harness::run::<$crate::harness::AsyncStdRt>(super::$name::<$crate::harness::AsyncStdRt>());
            }

            #[test]
            fn smol() {
                $crate::harness::run::<$crate::harness::SmolRt>(super::$name::<$crate::harness::SmolRt>());
            }
        }
    )*};
}

/// Runs a test on `T` to completion, failing it after [`TEST_LIMIT`]. The test's future is
/// boxed: in debug builds futures are large, and executors move them on the stack.
pub fn run<T: TestRt>(test: impl std::future::Future<Output = ()>) {
    let test = Box::pin(test);
    T::block_on(async {
        if timeout(TEST_LIMIT, test).await.is_none() {
            panic!("the test did not finish within {TEST_LIMIT:?} on {}", T::NAME);
        }
    });
}
