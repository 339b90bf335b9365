//! Frame encoding and decoding.

pub(crate) mod decoder;
pub(crate) mod encoder;

pub use encoder::PreparedMessage;
