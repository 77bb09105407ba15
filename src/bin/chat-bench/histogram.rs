//! Latencies in a fixed-size histogram rather than a list, so a reader
//! thread's memory stays bounded however long a run is.

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Latencies in microseconds, counted in buckets: exact below 1,024 µs, then
/// 512 buckets per power of two (within 0.2%). A fixed 17,000 counters
/// whatever the number of samples, and merging two is adding them up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    /// How many values were recorded.
    pub samples: u64,
    max: u64,
}

impl Histogram {
    /// Values below this are counted exactly.
    const EXACT: u64 = 1024;
    /// Buckets per power of two above `EXACT`.
    const STEPS: u64 = 512;
    /// Larger values (over 12 days) are counted as this.
    const CEILING: u64 = (1 << 40) - 1;

    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; Self::bucket(Self::CEILING) + 1],
            samples: 0,
            max: 0,
        }
    }

    fn bucket(value: u64) -> usize {
        if value < Self::EXACT {
            return value as usize;
        }
        // Keep the top ten bits: `value >> shift` is in STEPS..2*STEPS.
        let shift = u64::from(63 - value.leading_zeros()) - 9;
        (Self::EXACT + (shift - 1) * Self::STEPS + ((value >> shift) - Self::STEPS)) as usize
    }

    /// The smallest value that falls into `bucket`.
    fn lowest(bucket: usize) -> u64 {
        let bucket = bucket as u64;
        if bucket < Self::EXACT {
            return bucket;
        }
        let above = bucket - Self::EXACT;
        (above % Self::STEPS + Self::STEPS) << (above / Self::STEPS + 1)
    }

    pub fn record(&mut self, micros: u64) {
        let micros = micros.min(Self::CEILING);
        self.counts[Self::bucket(micros)] += 1;
        self.samples += 1;
        self.max = self.max.max(micros);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.samples += other.samples;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (nearest rank); `None` when empty.
    fn quantile(&self, q: f64) -> Option<u64> {
        if self.samples == 0 {
            return None;
        }
        let rank = ((self.samples as f64 * q).ceil() as u64).clamp(1, self.samples);
        let mut seen = 0;
        self.counts.iter().enumerate().find_map(|(bucket, &count)| {
            seen += count;
            (seen >= rank).then(|| Self::lowest(bucket).min(self.max))
        })
    }

    pub fn percentiles(&self) -> Option<Percentiles> {
        Some(Percentiles {
            p50: self.quantile(0.50)?,
            p99: self.quantile(0.99)?,
            p999: self.quantile(0.999)?,
            max: self.max,
        })
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_exact_below_a_millisecond() {
        let mut h = Histogram::new();
        for v in (1..=1000).rev() {
            h.record(v);
        }
        let p = h.percentiles().unwrap();
        assert_eq!((p.p50, p.p99, p.p999, p.max), (500, 990, 999, 1000));
        assert_eq!(Histogram::new().percentiles(), None);
    }

    #[test]
    fn histogram_is_within_a_fifth_of_a_percent_above() {
        for v in [1024, 1500, 2047, 2048, 99_999, 12_345_678, 1 << 39] {
            let low = Histogram::lowest(Histogram::bucket(v));
            assert!(low <= v && v - low <= v / 500, "{v} -> {low}");
        }
        for b in 0..Histogram::bucket(Histogram::CEILING) {
            assert_eq!(Histogram::bucket(Histogram::lowest(b)), b);
        }
        let mut h = Histogram::new();
        h.record(5_000_000);
        h.record(u64::MAX);
        assert_eq!(h.percentiles().unwrap().max, Histogram::CEILING);
    }

    #[test]
    fn histograms_merge() {
        let (mut a, mut b) = (Histogram::new(), Histogram::new());
        (0..99).for_each(|_| a.record(10));
        b.record(20_000);
        a.merge(&b);
        let p = a.percentiles().unwrap();
        assert_eq!((p.p50, p.p99, p.max), (10, 10, 20_000));
        assert!(p.p999 > 19_950 && p.p999 <= 20_000);
    }
}
