//! Internals for fuzz targets (compiled only with `--cfg fuzzing`).

/// Deterministic entropy for reproducible fuzzing.
#[derive(Debug, Default)]
pub struct CountingEntropy(pub u8);

impl crate::Entropy for CountingEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        for b in dest {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}
