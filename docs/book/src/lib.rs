//! # The ws-rs guide
//!
//! This crate is the guide's test harness. The guide is an mdBook (`docs/book/book.toml`,
//! built by `scripts/book.sh` into `target/book/`); each chapter is also the documentation of
//! one module below, so `cargo test -p ws-guide` compiles every Rust sample of the book as a
//! doc-test and runs those that can finish on their own over 127.0.0.1. Samples that need a
//! peer elsewhere are marked `no_run`: they are compiled, not run.
//!
//! The repository's `README.md` is compiled the same way (under `cfg(doctest)` only).
//!
//! The modules include copies of the chapters that `build.rs` makes, with the chapters' links
//! to one another (`[Limits](limits.md)` for mdBook) rewritten as links to their modules, so
//! they lead somewhere in rustdoc too.
//!
//! The library has no code of its own.
#![forbid(unsafe_code)]

#[doc = include_str!(concat!(env!("OUT_DIR"), "/introduction.md"))]
pub mod introduction {}

#[doc = include_str!(concat!(env!("OUT_DIR"), "/getting-started.md"))]
pub mod getting_started {}

#[doc = include_str!(concat!(env!("OUT_DIR"), "/from-node.md"))]
pub mod from_node {}

#[doc = include_str!(concat!(env!("OUT_DIR"), "/server.md"))]
pub mod server {}

#[doc = include_str!(concat!(env!("OUT_DIR"), "/client.md"))]
pub mod client {}

#[doc = include_str!(concat!(env!("OUT_DIR"), "/compression.md"))]
pub mod compression {}

#[doc = include_str!(concat!(env!("OUT_DIR"), "/limits.md"))]
pub mod limits {}

#[doc = include_str!(concat!(env!("OUT_DIR"), "/performance.md"))]
pub mod performance {}

#[doc = include_str!(concat!(env!("OUT_DIR"), "/embedding.md"))]
pub mod embedding {}

/// The repository's README, whose Rust samples are compiled as doc-tests here too (only when
/// testing, so it is not part of the documentation).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct Readme;
