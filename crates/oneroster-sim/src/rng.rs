//! A small deterministic PRNG (SplitMix64). Written here on purpose: the data set
//! for a seed must never change because a dependency was upgraded.

#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; returns 0 for n == 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for test data and stable across platforms.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p` (0.0..=1.0).
    pub fn chance(&mut self, p: f64) -> bool {
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }
}

/// The deterministic "every k-th" pattern used for shares: the n-th event
/// (1-based) is selected iff floor(n*share) > floor((n-1)*share). With share 1/3
/// that is events 3, 6, 9, ...; with 0.5 events 2, 4, 6, ...; with 1.0 every event.
pub fn share_hits(n: u64, share: f64) -> bool {
    if share <= 0.0 || n == 0 {
        return false;
    }
    if share >= 1.0 {
        return true;
    }
    // Small epsilon so that 3 * (1/3) counts as 1.
    let a = (n as f64 * share + 1e-9).floor();
    let b = ((n - 1) as f64 * share + 1e-9).floor();
    a > b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_pattern_every_third() {
        let hits: Vec<u64> = (1..=9).filter(|n| share_hits(*n, 1.0 / 3.0)).collect();
        assert_eq!(hits, vec![3, 6, 9]);
        let hits: Vec<u64> = (1..=6).filter(|n| share_hits(*n, 0.5)).collect();
        assert_eq!(hits, vec![2, 4, 6]);
        assert!((1..=5).all(|n| share_hits(n, 1.0)));
        assert!(!(1..=5).any(|n| share_hits(n, 0.0)));
    }

    #[test]
    fn splitmix_is_stable() {
        let mut r = SplitMix64::new(1);
        assert_eq!(r.next_u64(), 0x910A_2DEC_8902_5CC1);
    }
}
