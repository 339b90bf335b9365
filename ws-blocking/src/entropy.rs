//! The operating system's randomness as a `ws_proto::Entropy` (masking keys and handshake
//! nonces must be unpredictable, RFC 6455 §5.3 and §10.3).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Instant, SystemTime};

use ws_proto::Entropy;

/// Bytes drawn from the OS per refill: one `getrandom` call serves 64 masking keys.
const POOL: usize = 256;

/// [`Entropy`] backed by the operating system (`getrandom`), buffered so that masking a frame
/// does not cost a system call.
///
/// Should the OS source ever fail, it falls back to SipHash keyed by the standard library's
/// per-process random keys over a counter and the clock, rather than panicking.
pub struct OsEntropy {
    pool: [u8; POOL],
    /// Bytes of `pool` already handed out.
    used: usize,
    fallback: RandomState,
    counter: u64,
}

impl OsEntropy {
    /// A new source; the first bytes are drawn on first use.
    pub fn new() -> Self {
        Self { pool: [0; POOL], used: POOL, fallback: RandomState::new(), counter: 0 }
    }

    fn refill(&mut self) {
        if getrandom::getrandom(&mut self.pool).is_err() {
            for chunk in self.pool.chunks_mut(8) {
                self.counter = self.counter.wrapping_add(1);
                let mut h = self.fallback.build_hasher();
                h.write_u64(self.counter);
                h.write_u128(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos());
                std::hash::Hash::hash(&Instant::now(), &mut h);
                let v = h.finish().to_ne_bytes();
                chunk.copy_from_slice(&v[..chunk.len()]);
            }
        }
        self.used = 0;
    }
}

impl Default for OsEntropy {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for OsEntropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsEntropy").finish_non_exhaustive()
    }
}

impl Entropy for OsEntropy {
    fn fill(&mut self, mut dest: &mut [u8]) {
        while !dest.is_empty() {
            if self.used == POOL {
                self.refill();
            }
            let n = dest.len().min(POOL - self.used);
            let (head, rest) = dest.split_at_mut(n);
            head.copy_from_slice(&self.pool[self.used..self.used + n]);
            // Never hand out the same bytes twice.
            self.pool[self.used..self.used + n].fill(0);
            self.used += n;
            dest = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_any_length_without_repeats() {
        let mut e = OsEntropy::new();
        let mut a = [0u8; 600];
        let mut b = [0u8; 600];
        e.fill(&mut a);
        e.fill(&mut b);
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != 0));
        let mut empty = [];
        e.fill(&mut empty);
    }
}
