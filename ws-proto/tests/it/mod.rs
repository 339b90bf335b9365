//! Integration tests: an in-memory client/server pair with simulated time, raw frame injection
//! and recording assertions that parse the bytes each endpoint really writes.

/// Defines one test per role from a closure taking the role under test:
/// `both_roles!(client_name, server_name, |role: Role| { ... });`
macro_rules! both_roles {
    ($client:ident, $server:ident, $body:expr) => {
        #[test]
        fn $client() {
            let body: fn(ws_proto::Role) = $body;
            body(ws_proto::Role::Client)
        }

        #[test]
        fn $server() {
            let body: fn(ws_proto::Role) = $body;
            body(ws_proto::Role::Server)
        }
    };
}

mod pair;

mod close;
#[cfg(any(feature = "miniz", feature = "zlib-rs"))]
mod deflate;
mod fragment;
mod framing;
mod handshake;
mod keepalive;
mod limits;
mod props;
