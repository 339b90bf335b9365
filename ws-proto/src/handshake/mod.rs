//! The opening handshake (RFC 6455 §4), both roles, on `http` types.

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::deflate::DeflateParams;

pub mod client;
pub(crate) mod headers;
pub mod proxy;
#[cfg(feature = "url")]
pub mod redirect;
pub mod server;
#[cfg(feature = "url")]
pub mod target;

/// The GUID RFC 6455 appends to the key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_key(sec_websocket_key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(sec_websocket_key);
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// What the handshake settled for the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// The chosen subprotocol, if any.
    pub subprotocol: Option<String>,
    /// The `Sec-WebSocket-Extensions` value agreed on, if any (as sent in the response).
    pub extensions: Option<String>,
    /// The protocol version: 13, or 8 for HyBi-07..12 peers.
    pub version: u8,
    /// The permessage-deflate parameters agreed on, if the extension is in use. Setting it by
    /// hand (with [`Connection::new`](crate::Connection::new)) turns compression on for that
    /// connection, with the local settings of [`Config::permessage_deflate`](crate::Config::permessage_deflate).
    pub deflate: Option<DeflateParams>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_sample_vector() {
        // RFC 6455 §1.3.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
