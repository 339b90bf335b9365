//! Fuzz harnesses for ws-proto. The same functions run the committed seed corpora as ordinary
//! tests (`ws-proto/tests/fuzz_corpus.rs` includes `harness.rs`), so the targets stay buildable
//! and their invariants are checked in CI.

#[path = "harness.rs"]
pub mod harness;

#[path = "pair.rs"]
pub mod pair;
