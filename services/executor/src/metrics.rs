//! In-process latency samples for the benchmarks: the unhedged window (perp fill answered ->
//! spot hedge sent) and opportunity -> first order. Statistics are f64-free integers (µs).

use std::sync::Mutex;
use std::time::Duration;

/// Bounded sample store (oldest dropped first).
#[derive(Debug, Default)]
pub struct Samples {
    values: Mutex<Vec<u64>>,
}

const MAX_SAMPLES: usize = 10_000;

impl Samples {
    pub fn record(&self, value: Duration) {
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        if values.len() >= MAX_SAMPLES {
            values.remove(0);
        }
        values.push(micros);
    }

    pub fn len(&self) -> usize {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Nearest-rank percentile in µs (`p` in 0..=100); `None` without samples.
    pub fn percentile(&self, p: u32) -> Option<u64> {
        let mut values = self
            .values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank = (p.min(100) as usize * values.len()).div_ceil(100).max(1);
        values.get(rank - 1).copied()
    }

    pub fn max(&self) -> Option<u64> {
        self.percentile(100)
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// Perp entry fill answered -> spot hedge order sent.
    pub unhedged_window: Samples,
    /// Perp fill -> hedge definitely failed -> unwind order sent (hedge failures only).
    pub unwind_window: Samples,
    /// Opportunity snapshot received -> first entry order sent.
    pub opportunity_to_order: Samples,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples = Samples::default();
        assert_eq!(samples.percentile(50), None);
        for ms in 1..=100 {
            samples.record(Duration::from_micros(ms));
        }
        assert_eq!(samples.percentile(50), Some(50));
        assert_eq!(samples.percentile(99), Some(99));
        assert_eq!(samples.max(), Some(100));
        assert_eq!(samples.percentile(0), Some(1));
    }
}
