//! Timings and sizes for writing a handshake rejection and closing the connection gracefully,
//! shared by the adapters so that every runtime behaves the same.
//!
//! A server that refuses an upgrade writes the HTTP response, half-closes its write side and
//! then should not close the socket at once: if the client's request (or anything it sent
//! after it) is still unread when the socket closes, the kernel answers with a TCP reset, and
//! the reset can destroy the response before the client read it. So the server reads and
//! discards what the client still sends ("lingers") for a short, bounded time and amount.
//!
//! The core never sleeps or reads: these are the values the adapters' IO loops use.
//!
//! ```text
//! write rejection (≤ REJECT_WRITE) → shutdown(Write) → read and discard (≤ LINGER, ≤ LINGER_BYTES,
//! DRAIN_CHUNK at a time) until EOF or error → close
//! ```

use std::time::Duration;

/// Longest time writing (and flushing) a handshake rejection, or a server's `101`, may take
/// before the adapter gives up on the connection: a client that does not read cannot hold
/// the server's task forever.
pub const REJECT_WRITE: Duration = Duration::from_secs(2);

/// How long a rejected client's remaining input is read and discarded after the response
/// and the half-close, so that closing with unread input does not reset the connection
/// before the client read the response.
pub const LINGER: Duration = Duration::from_millis(500);

/// Most bytes read and discarded while lingering; a client that keeps sending is cut off
/// after this much.
pub const LINGER_BYTES: usize = 64 * 1024;

/// Size of the buffer the discarded input is read into while lingering.
pub const DRAIN_CHUNK: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_the_adapters_used() {
        assert_eq!(REJECT_WRITE, Duration::from_secs(2));
        assert_eq!(LINGER, Duration::from_millis(500));
        assert_eq!(LINGER_BYTES, 65_536);
        assert_eq!(DRAIN_CHUNK, 4096);
        const { assert!(DRAIN_CHUNK <= LINGER_BYTES) };
        const { assert!(LINGER.as_nanos() < REJECT_WRITE.as_nanos()) };
    }
}
