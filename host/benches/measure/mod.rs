//! Timing helpers the plugin benches share.

use std::time::{Duration, Instant};

/// The value `f` returns and how long it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed())
}

/// The `p`th percentile of the samples (sorting them).
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[index]
}
