//! Hand-written upgrade requests for tests that play a raw HTTP client (handshake limits,
//! slowloris), included by path from the ws-async suite's harness and ws-blocking's tests (one
//! copy for both).

#![allow(dead_code)]

/// A valid upgrade request for `path` on `host`.
pub(crate) fn upgrade_request(path: &str, host: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A valid upgrade request of exactly `len` bytes with `extra` header fields beyond the six
/// it always has (Host, Upgrade, Connection, Key, Version, X-Pad: the padding).
pub(crate) fn request_of(len: usize, extra: usize) -> Vec<u8> {
    let base = upgrade_request("/", "x");
    let mut head = base[..base.len() - 2].to_string();
    for i in 0..extra {
        head.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    let fixed = head.len() + "X-Pad: \r\n\r\n".len();
    assert!(len >= fixed, "a head of {len} bytes cannot hold {extra} extra fields");
    head.push_str("X-Pad: ");
    head.push_str(&"a".repeat(len - fixed));
    head.push_str("\r\n\r\n");
    assert_eq!(head.len(), len);
    head.into_bytes()
}

/// Requests at, below and above a head-size limit of `size` bytes and a limit of `fields`
/// header fields, with the status each must get (101, or 431 over a limit).
pub(crate) fn header_limit_cases(size: usize, fields: usize) -> Vec<(Vec<u8>, u16)> {
    let base = 6;
    vec![
        (request_of(size - 1, 0), 101),
        (request_of(size, 0), 101),
        (request_of(size + 1, 0), 431),
        (request_of(size * 8, 0), 431),
        (request_of(1024, fields - base - 1), 101),
        (request_of(1024, fields - base), 101),
        (request_of(1024, fields - base + 1), 431),
        (request_of(200_000, 5_000), 431),
    ]
}
