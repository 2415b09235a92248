//! Latency recording: one hdrhistogram per worker, merged at the end, summarised as percentiles.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Largest latency a histogram can hold: one hour, in microseconds. Larger values are clamped
/// to it (a request that slow is a failed run anyway, and clamping keeps the count honest).
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Significant decimal digits kept: values are exact up to 2048 µs and within 0.1 % above.
const SIGNIFICANT_DIGITS: u8 = 3;

/// An empty latency histogram in microseconds, from 1 µs to [`MAX_LATENCY_US`].
///
/// # Panics
/// Never: the bounds are constants that hdrhistogram accepts.
#[must_use]
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Records `latency` in `histogram`, in microseconds. Sub-microsecond values count as 1 µs (the
/// histogram's floor) and values beyond [`MAX_LATENCY_US`] as that maximum, so every sample is
/// counted exactly once.
pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
}

/// The percentiles reported for a run, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min_us: u64,
    /// Arithmetic mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest sample.
    pub max_us: u64,
}

impl LatencySummary {
    /// Summarises `histogram`. A percentile is the smallest recorded value such that at least
    /// that share of the samples is at or below it (up to the histogram's precision). An empty
    /// histogram gives all zeros.
    #[must_use]
    pub fn from_histogram(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        Self {
            count: histogram.len(),
            min_us: histogram.min(),
            mean_us: histogram.mean(),
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

/// A latency in microseconds for people: `850µs`, `3.42ms`, `1.20s`.
#[must_use]
pub fn format_micros(micros: u64) -> String {
    // Precision: u64 micros below 2^53 convert exactly, and nobody waits 285 years for a reply.
    #[allow(clippy::cast_precision_loss)]
    let value = micros as f64;
    if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{:.2}ms", value / 1e3)
    } else {
        format!("{:.2}s", value / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(samples: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut histogram = new_histogram();
        for micros in samples {
            record(&mut histogram, Duration::from_micros(micros));
        }
        histogram
    }

    #[test]
    fn one_to_a_thousand_microseconds_give_the_textbook_percentiles() {
        let summary = LatencySummary::from_histogram(&histogram_of(1..=1000));
        assert_eq!(
            summary,
            LatencySummary {
                count: 1000,
                min_us: 1,
                mean_us: 500.5,
                p50_us: 500,
                p90_us: 900,
                p99_us: 990,
                p999_us: 999,
                max_us: 1000,
            }
        );
    }

    #[test]
    fn a_few_slow_requests_show_in_the_tail_and_not_in_the_median() {
        // 990 fast requests at 2 ms, 10 stalls at 250 ms: the p99 is still fast (990 of 1000
        // samples are at or below 2 ms), the p99.9 and max show the stall.
        let samples = std::iter::repeat_n(2_000, 990).chain(std::iter::repeat_n(250_000, 10));
        let summary = LatencySummary::from_histogram(&histogram_of(samples));
        assert_eq!(summary.count, 1000);
        assert_eq!(summary.p50_us, 2_000);
        assert_eq!(summary.p99_us, 2_000);
        // Above 2048 µs values are bucketed: within 0.1 % of the recorded value.
        assert!(summary.p999_us.abs_diff(250_000) <= 250, "{summary:?}");
        assert!(summary.max_us.abs_diff(250_000) <= 250, "{summary:?}");
    }

    #[test]
    fn extreme_samples_are_clamped_and_still_counted() {
        let mut histogram = new_histogram();
        record(&mut histogram, Duration::from_nanos(10));
        record(&mut histogram, Duration::from_secs(10 * 3600));
        let summary = LatencySummary::from_histogram(&histogram);
        assert_eq!(summary.count, 2);
        assert_eq!(summary.min_us, 1);
        assert!(summary.max_us >= MAX_LATENCY_US, "{summary:?}");
    }

    #[test]
    fn an_empty_histogram_summarises_to_zeros() {
        assert_eq!(
            LatencySummary::from_histogram(&new_histogram()),
            LatencySummary::default()
        );
    }

    #[test]
    fn merged_worker_histograms_summarise_like_one() {
        let mut merged = histogram_of(1..=500);
        merged
            .add(histogram_of(501..=1000))
            .expect("same bounds merge");
        assert_eq!(
            LatencySummary::from_histogram(&merged),
            LatencySummary::from_histogram(&histogram_of(1..=1000))
        );
    }

    #[test]
    fn latencies_are_printed_in_a_readable_unit() {
        assert_eq!(format_micros(850), "850µs");
        assert_eq!(format_micros(3_420), "3.42ms");
        assert_eq!(format_micros(1_200_000), "1.20s");
    }
}
