//! The math every KPI shares: calendar buckets, averages and percentiles.

use chrono::{Datelike, Days, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};

/// The width of a time bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Granularity {
    /// One UTC day.
    Day,
    /// One ISO week (Monday to Sunday, UTC).
    Week,
    /// One calendar month (UTC).
    Month,
}

/// The first day of the bucket `day` falls in: the day itself, the Monday of its ISO week, or
/// the first of its month.
#[must_use]
pub fn bucket_start(day: NaiveDate, granularity: Granularity) -> NaiveDate {
    match granularity {
        Granularity::Day => day,
        Granularity::Week => day
            .checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
            .unwrap_or(day),
        Granularity::Month => day.with_day(1).unwrap_or(day),
    }
}

/// `total / count` rounded to `decimals` places (midpoint away from zero); `None` when `count`
/// is zero.
#[must_use]
pub fn average(total: Decimal, count: u64, decimals: u32) -> Option<Decimal> {
    if count == 0 {
        return None;
    }
    total
        .checked_div(Decimal::from(count))
        .map(|avg| avg.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero))
}

/// `part / whole` as a share from 0 to 1, rounded to 4 places (midpoint away from zero); `None`
/// when `whole` is zero.
#[must_use]
pub fn ratio(part: u64, whole: u64) -> Option<Decimal> {
    average(Decimal::from(part), whole, 4)
}

/// The `p`-th percentile (0 < p <= 100) by the nearest-rank method: the value at 1-based rank
/// `ceil(p / 100 * n)` of the values sorted ascending. It is always one of the values (never
/// interpolated). `None` for no values.
#[must_use]
pub fn nearest_rank<T: Ord + Copy>(values: &[T], p: u32) -> Option<T> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let p = p.clamp(1, 100) as usize;
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_week_starts_on_its_iso_monday_even_across_a_year_end() {
        // 2027-01-01 is a Friday; its ISO week (2026-W53) starts on Monday 2026-12-28.
        assert_eq!(
            bucket_start(d(2027, 1, 1), Granularity::Week),
            d(2026, 12, 28)
        );
        assert_eq!(
            bucket_start(d(2026, 11, 23), Granularity::Week),
            d(2026, 11, 23)
        );
        assert_eq!(
            bucket_start(d(2026, 11, 29), Granularity::Week),
            d(2026, 11, 23)
        );
    }

    #[test]
    fn a_month_starts_on_its_first_and_a_day_is_itself() {
        assert_eq!(
            bucket_start(d(2026, 2, 28), Granularity::Month),
            d(2026, 2, 1)
        );
        assert_eq!(
            bucket_start(d(2026, 2, 28), Granularity::Day),
            d(2026, 2, 28)
        );
    }

    #[test]
    fn an_average_is_rounded_half_away_from_zero_and_absent_without_orders() {
        assert_eq!(
            average(Decimal::new(1000, 2), 3, 2),
            Some(Decimal::new(333, 2))
        );
        assert_eq!(average(Decimal::new(5, 0), 2, 0), Some(Decimal::new(3, 0)));
        assert_eq!(average(Decimal::ONE, 0, 2), None);
    }

    #[test]
    fn nearest_rank_percentiles_pick_a_real_value() {
        let hours = [15, 20, 35, 40, 50];
        // Median: rank ceil(0.5 * 5) = 3 -> 35. p90: rank ceil(4.5) = 5 -> 50.
        assert_eq!(nearest_rank(&hours, 50), Some(35));
        assert_eq!(nearest_rank(&hours, 90), Some(50));
        // Four values: median rank 2 -> 20 (no interpolation), p90 rank ceil(3.6) = 4.
        assert_eq!(nearest_rank(&[40, 20, 15, 35], 50), Some(20));
        assert_eq!(nearest_rank(&[40, 20, 15, 35], 90), Some(40));
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        assert_eq!(nearest_rank::<i64>(&[], 50), None);
    }
}
