//! The operating system's randomness as a [`ws_proto::Entropy`]: masking keys and handshake
//! nonces must be unpredictable (RFC 6455 §5.3, §10.3).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Instant, SystemTime};

use ws_proto::Entropy;

/// Bytes fetched from the OS at a time: one `getrandom` call covers 128 masking keys.
const BATCH: usize = 512;

/// [`Entropy`] from the operating system (`getrandom`), drawn in batches so that masking a
/// frame costs no system call.
///
/// If the OS source fails (it practically never does), it degrades to SipHash keyed with the
/// standard library's per-process random keys over a counter and the clock instead of
/// panicking.
pub struct OsEntropy {
    batch: Box<[u8; BATCH]>,
    /// Next unused byte of `batch`.
    pos: usize,
    fallback: RandomState,
    counter: u64,
}

impl OsEntropy {
    /// A new source; nothing is drawn until first use.
    pub fn new() -> Self {
        Self { batch: Box::new([0; BATCH]), pos: BATCH, fallback: RandomState::new(), counter: 0 }
    }

    fn refill(&mut self) {
        if getrandom::getrandom(&mut self.batch[..]).is_err() {
            for word in self.batch.chunks_mut(8) {
                self.counter = self.counter.wrapping_add(1);
                let mut h = self.fallback.build_hasher();
                h.write_u64(self.counter);
                let wall = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
                h.write_u128(wall.as_nanos());
                Instant::now().hash(&mut h);
                let v = h.finish().to_le_bytes();
                word.copy_from_slice(&v[..word.len()]);
            }
        }
        self.pos = 0;
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
    fn fill(&mut self, dest: &mut [u8]) {
        let mut done = 0;
        while done < dest.len() {
            if self.pos == BATCH {
                self.refill();
            }
            let n = (dest.len() - done).min(BATCH - self.pos);
            let src = &mut self.batch[self.pos..self.pos + n];
            dest[done..done + n].copy_from_slice(src);
            // Bytes handed out are wiped so they can never be handed out again.
            src.fill(0);
            self.pos += n;
            done += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_draws_of_any_length() {
        let mut e = OsEntropy::new();
        let mut a = [0u8; 1500];
        let mut b = [0u8; 1500];
        e.fill(&mut a);
        e.fill(&mut b);
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != 0));
        e.fill(&mut []);
        let mut key = [0u8; 4];
        e.fill(&mut key);
    }
}
