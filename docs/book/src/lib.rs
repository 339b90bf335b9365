//! # The ws-rs guide
//!
//! This crate is the guide's test harness. The guide is an mdBook (`docs/book/book.toml`,
//! built by `scripts/book.sh` into `target/book/`); each chapter is also the documentation of
//! one module below, so `cargo test -p ws-guide` compiles every Rust sample of the book as a
//! doc-test and runs those that can finish on their own over 127.0.0.1. Samples that need a
//! peer elsewhere are marked `no_run`: they are compiled, not run.
//!
//! The library has no code of its own.
#![forbid(unsafe_code)]

#[doc = include_str!("../src/introduction.md")]
pub mod introduction {}

#[doc = include_str!("../src/getting-started.md")]
pub mod getting_started {}

#[doc = include_str!("../src/from-node.md")]
pub mod from_node {}

#[doc = include_str!("../src/server.md")]
pub mod server {}

#[doc = include_str!("../src/client.md")]
pub mod client {}

#[doc = include_str!("../src/compression.md")]
pub mod compression {}

#[doc = include_str!("../src/limits.md")]
pub mod limits {}

#[doc = include_str!("../src/performance.md")]
pub mod performance {}

#[doc = include_str!("../src/embedding.md")]
pub mod embedding {}
