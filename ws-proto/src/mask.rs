//! Payload masking (RFC 6455 §5.3) and the injected source of entropy.

/// Source of masking keys and `Sec-WebSocket-Key` nonces.
///
/// It must be unpredictable (RFC 6455 §5.3, §10.3): the adapters supply one backed by the
/// operating system. `ws-proto` never draws randomness itself, so tests and fuzzers can inject
/// a deterministic one.
pub trait Entropy: Send {
    /// Fills `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

impl<F: FnMut(&mut [u8]) + Send> Entropy for F {
    fn fill(&mut self, dest: &mut [u8]) {
        self(dest)
    }
}

/// XORs `buf` with the mask `key`, starting at byte `phase` (0..4) of the key.
///
/// Returns the phase for the byte after `buf`, so a payload can be (un)masked in pieces as it
/// arrives. Works a machine word at a time on the aligned middle of the buffer.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let phase = phase & 3;
    let total = buf.len();
    // Rotate the key so that index 0 of `buf` uses key byte `phase`.
    let key = [key[phase], key[(phase + 1) & 3], key[(phase + 2) & 3], key[(phase + 3) & 3]];
    let word = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);

    // 64 bytes at a time: a fixed-size XOR that the compiler turns into vector instructions
    // (SSE2 on any x86-64, wider with target features), then words, then bytes. The 64-byte
    // key block is only built when there is a block to mask (short control frames and small
    // messages are the common case).
    let mut rest = buf;
    if rest.len() >= 64 {
        let wide: [u8; 64] = std::array::from_fn(|i| key[i & 3]);
        let mut blocks = rest.chunks_exact_mut(64);
        for block in &mut blocks {
            for (b, k) in block.iter_mut().zip(wide.iter()) {
                *b ^= k;
            }
        }
        rest = blocks.into_remainder();
    }
    let mut chunks = rest.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let v = u64::from_ne_bytes(w) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
    (phase + total) & 3
}

/// Byte-at-a-time reference used by tests.
#[cfg(test)]
pub(crate) fn apply_mask_reference(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(phase + i) & 3];
    }
    (phase + buf.len()) & 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_matches_reference_everywhere() {
        let key = [0x6d, 0xb6, 0xb2, 0x80];
        let data: Vec<u8> = (0..80u8).map(|i| i.wrapping_mul(37)).collect();
        for offset in 0..4 {
            for len in 0..64 {
                for phase in 0..4 {
                    let mut a = data[offset..offset + len].to_vec();
                    let mut b = a.clone();
                    let pa = apply_mask(&mut a, key, phase);
                    let pb = apply_mask_reference(&mut b, key, phase);
                    assert_eq!(a, b, "offset {offset} len {len} phase {phase}");
                    assert_eq!(pa, pb);
                }
            }
        }
    }

    #[test]
    fn piecewise_equals_whole() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..100).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        for cut in 0..data.len() {
            let mut parts = data.clone();
            let (a, b) = parts.split_at_mut(cut);
            let p = apply_mask(a, key, 0);
            apply_mask(b, key, p);
            assert_eq!(parts, whole);
        }
    }

    #[test]
    fn rfc_example() {
        // RFC 6455 §5.7: a masked "Hello".
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }
}
