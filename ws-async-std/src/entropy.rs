//! Masking keys and handshake nonces from the operating system: RFC 6455 §5.3 and §10.3 want
//! them unpredictable, and ws-proto takes its randomness injected.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{Instant, SystemTime};

use ws_proto::Entropy;

/// Bytes drawn from the OS per refill: 64 masking keys.
const POOL: usize = 256;

/// [`Entropy`] from the operating system's generator (`getrandom`), drawn in batches so that
/// masking a frame costs no system call. Bytes are wiped once handed out.
///
/// Should the OS generator fail (practically never), the pool is refilled from SipHash keyed
/// with the standard library's per-process random keys over a counter and both clocks rather
/// than panicking.
pub struct OsEntropy {
    pool: [u8; POOL],
    /// Index of the next unused byte of `pool` (`POOL`: empty).
    next: usize,
    keys: RandomState,
    counter: u64,
}

impl OsEntropy {
    /// A source with an empty pool: nothing is drawn before the first use.
    pub fn new() -> Self {
        Self { pool: [0; POOL], next: POOL, keys: RandomState::new(), counter: 0 }
    }

    fn refill(&mut self) {
        if getrandom::getrandom(&mut self.pool).is_err() {
            let started = Instant::now();
            for word in self.pool.chunks_mut(8) {
                self.counter += 1;
                let mut h = self.keys.build_hasher();
                h.write_u64(self.counter);
                let wall = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
                h.write_u128(wall.as_nanos());
                h.write_u128(started.elapsed().as_nanos());
                word.copy_from_slice(&h.finish().to_le_bytes()[..word.len()]);
            }
        }
        self.next = 0;
    }
}

impl Default for OsEntropy {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OsEntropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsEntropy").finish_non_exhaustive()
    }
}

impl Entropy for OsEntropy {
    fn fill(&mut self, mut dest: &mut [u8]) {
        while !dest.is_empty() {
            if self.next == POOL {
                self.refill();
            }
            let n = dest.len().min(POOL - self.next);
            let (now, rest) = dest.split_at_mut(n);
            let src = &mut self.pool[self.next..self.next + n];
            now.copy_from_slice(src);
            src.fill(0);
            self.next += n;
            dest = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_across_refills() {
        let mut e = OsEntropy::new();
        let (mut a, mut b) = ([0u8; 700], [0u8; 700]);
        e.fill(&mut a);
        e.fill(&mut b);
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != 0));
        e.fill(&mut []);
        let mut key = [0u8; 4];
        e.fill(&mut key);
    }
}
