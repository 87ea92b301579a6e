//! Reconnect and request backoff: exponential growth, capped, with jitter.
//!
//! Like `az_iot_calculate_retry_delay`, randomness is an input: the client
//! draws from a [`Rng`] seeded by the shell, so tests are deterministic.

/// Backoff parameters. Defaults: 1 s doubling to 60 s, full jitter (1.0): uniform in `[0, base]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry (attempt 0), before jitter, in ms.
    pub min_ms: u64,
    /// Cap on the un-jittered delay, in ms.
    pub max_ms: u64,
    /// Fraction of the delay that is randomised, 0.0..=1.0. 1.0 is AWS-style
    /// "full jitter" (uniform in `[0, d]`); 0.5 gives `[d/2, d]`; 0.0 none.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min_ms: 1_000,
            max_ms: 60_000,
            jitter: 1.0,
        }
    }
}

impl Backoff {
    /// The un-jittered delay of `attempt` (0-based): `min(max, min * 2^attempt)`.
    pub fn base_ms(&self, attempt: u32) -> u64 {
        let factor = 1u64.checked_shl(attempt.min(63)).unwrap_or(u64::MAX);
        self.min_ms
            .saturating_mul(factor)
            .min(self.max_ms.max(self.min_ms))
    }

    /// The delay of `attempt` given `random` uniform in `[0, 2^32)`:
    /// `base - jitter * base * random / 2^32`, i.e. within `[base * (1 - jitter), base]`.
    pub fn delay_ms(&self, attempt: u32, random: u32) -> u64 {
        let base = self.base_ms(attempt);
        let j = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Float rounding may overshoot for huge bases; never cut more than `base`.
        let spread = ((base as f64 * j) as u64).min(base);
        let cut = ((spread as u128 * random as u128) >> 32) as u64;
        base.saturating_sub(cut)
    }

    /// Checks the parameters (min ≤ max, jitter within 0..=1).
    pub fn validate(&self) -> Result<(), super::Error> {
        if self.min_ms > self.max_ms {
            return Err(super::Error::InvalidArgument(
                "retry min_ms is greater than max_ms",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(super::Error::InvalidArgument(
                "retry jitter must be within 0..=1",
            ));
        }
        Ok(())
    }
}

/// A small deterministic random source (SplitMix64) seeded by the shell.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (the shell passes e.g. `crypto.getRandomValues` output).
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_ms_grows_and_caps_succeeds() {
        let b = Backoff {
            min_ms: 1000,
            max_ms: 60_000,
            jitter: 0.0,
        };
        let d: Vec<u64> = (0..9).map(|a| b.delay_ms(a, u32::MAX)).collect();
        assert_eq!(
            d,
            [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
        );
        assert_eq!(b.delay_ms(200, 0), 60_000);
    }

    #[test]
    fn delay_ms_jitter_bounds_succeeds() {
        let b = Backoff {
            min_ms: 1000,
            max_ms: 60_000,
            jitter: 0.5,
        };
        assert_eq!(b.delay_ms(0, 0), 1000);
        assert_eq!(b.delay_ms(0, u32::MAX), 501);
        let full = Backoff { jitter: 1.0, ..b };
        assert_eq!(full.delay_ms(3, u32::MAX), 1);
        let mut rng = Rng::new(42);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let d = b.delay_ms(4, rng.next_u32());
            assert!((8000..=16000).contains(&d), "{d}");
            seen.insert(d);
        }
        assert!(
            seen.len() > 500,
            "jitter should spread delays: {}",
            seen.len()
        );
    }

    #[test]
    fn delay_ms_huge_base_no_overflow_succeeds() {
        let b = Backoff {
            min_ms: (1 << 54) - 1,
            max_ms: u64::MAX,
            jitter: 1.0,
        };
        assert!(b.delay_ms(0, u32::MAX) < (1 << 54));
        assert_eq!(b.delay_ms(63, 0), u64::MAX);
    }

    #[test]
    fn validate_bad_params_fails() {
        assert!(Backoff {
            min_ms: 5,
            max_ms: 4,
            jitter: 0.1
        }
        .validate()
        .is_err());
        assert!(Backoff {
            min_ms: 1,
            max_ms: 4,
            jitter: 1.5
        }
        .validate()
        .is_err());
        assert!(Backoff {
            min_ms: 1,
            max_ms: 4,
            jitter: f64::NAN
        }
        .validate()
        .is_err());
        assert!(Backoff::default().validate().is_ok());
    }

    #[test]
    fn backoff_default_full_jitter_succeeds() {
        let b = Backoff::default();
        assert_eq!((b.min_ms, b.max_ms, b.jitter), (1_000, 60_000, 1.0));
        // Full jitter: uniform over the whole `[0, base]`, not just its upper half.
        assert_eq!(b.delay_ms(2, 0), 4000);
        assert!(b.delay_ms(2, u32::MAX) <= 1);
        let mut rng = Rng::new(9);
        let d: Vec<u64> = (0..1000).map(|_| b.delay_ms(5, rng.next_u32())).collect();
        assert!(d.iter().all(|&x| x <= 32_000), "above base");
        let low = d.iter().filter(|&&x| x < 8_000).count();
        // About a quarter fall in [0, base/4); none would with jitter 0.5.
        assert!((150..350).contains(&low), "{low} of 1000 below base/4");
    }
}
