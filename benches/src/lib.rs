//! Shared helpers for the benchmarks (the benches themselves live in `benches/`).
