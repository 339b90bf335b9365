//! Integration and property tests of the sans-IO core, in one test binary.

mod it;
