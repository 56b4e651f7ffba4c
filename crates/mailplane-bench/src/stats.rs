//! Percentiles, batched timing and a small deterministic random generator.
//!
//! A call that takes a fraction of a microsecond cannot be timed alone: reading the clock
//! costs about as much. [`time_batches`] times batches of calls and divides, so each sample
//! is the mean cost of one call in a batch, and the percentiles are taken over batches.

use std::time::{Duration, Instant};

/// Percentiles of a set of samples, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    /// The median.
    pub p50: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The largest sample.
    pub max: f64,
    /// How many samples.
    pub samples: usize,
}

impl Percentiles {
    /// The percentiles of `samples` (sorted here); all zero when there are none.
    pub fn of(mut samples: Vec<f64>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i]
        };
        Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: samples[samples.len() - 1],
            samples: samples.len(),
        }
    }
}

/// Times `batches` batches of `per_batch` calls of `call` (given the call's index) and
/// returns the percentiles of the mean time per call in a batch.
pub fn time_batches(batches: usize, per_batch: usize, mut call: impl FnMut(usize)) -> Percentiles {
    let mut samples = Vec::with_capacity(batches);
    let mut i = 0;
    for _ in 0..batches {
        let start = Instant::now();
        for _ in 0..per_batch {
            call(i);
            i += 1;
        }
        samples.push(start.elapsed().as_secs_f64() / per_batch as f64);
    }
    Percentiles::of(samples)
}

/// The same for an asynchronous call.
pub async fn time_batches_async<F, Fut>(
    batches: usize,
    per_batch: usize,
    mut call: F,
) -> Percentiles
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(batches);
    let mut i = 0;
    for _ in 0..batches {
        let start = Instant::now();
        for _ in 0..per_batch {
            call(i).await;
            i += 1;
        }
        samples.push(start.elapsed().as_secs_f64() / per_batch as f64);
    }
    Percentiles::of(samples)
}

/// A xorshift64* generator: deterministic, so that two runs pick the same tenants, and
/// without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value; zero is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// The numbers `0..n` in a random order.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
        v
    }
}

/// Seconds as a `Duration`, for flags given in seconds.
pub fn seconds(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(vec![]).samples, 0);
        assert_eq!(Percentiles::of(vec![3.0]).p99, 3.0);
    }

    #[test]
    fn a_permutation_holds_every_number_once() {
        let mut p = Rng::new(7).permutation(1000);
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }
}
