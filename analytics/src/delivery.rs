//! Delivery: how long each lifecycle stage takes, and how often the promised date is kept.

use domain::ports::{DeliveryCounts, Stage};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::stats::{nearest_rank, ratio};

const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// The duration of one stage over the orders that finished it in a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CycleTime {
    /// The stage.
    pub stage: Stage,
    /// How many orders finished it in the period.
    pub orders: u64,
    /// The median (nearest rank, 50th percentile) in hours, rounded to 2 places (half away
    /// from zero).
    pub median_hours: Option<Decimal>,
    /// The 90th percentile (nearest rank) in hours, rounded to 2 places.
    pub p90_hours: Option<Decimal>,
}

fn hours(micros: i64) -> Decimal {
    (Decimal::from(micros) / Decimal::from(MICROS_PER_HOUR))
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Median and p90 of `durations` (microseconds), by the nearest-rank method.
#[must_use]
pub fn cycle_time(stage: Stage, durations: &[i64]) -> CycleTime {
    CycleTime {
        stage,
        orders: durations.len() as u64,
        median_hours: nearest_rank(durations, 50).map(hours),
        p90_hours: nearest_rank(durations, 90).map(hours),
    }
}

/// Deliveries against the promised date.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OnTime {
    /// Orders delivered in the period that had a promised date.
    pub delivered: u64,
    /// Those delivered on or before the promised date (UTC day of delivery).
    pub on_time: u64,
    /// Those delivered after it.
    pub late: u64,
    /// `on_time / delivered`, from 0 to 1 rounded to 4 places; `None` without deliveries.
    pub rate: Option<Decimal>,
}

/// Counts deliveries on or before their promised date.
#[must_use]
pub fn on_time(rows: &[DeliveryCounts]) -> OnTime {
    let mut result = OnTime::default();
    for row in rows {
        result.delivered += row.delivered;
        result.on_time += row.on_time;
        result.late += row.delivered.saturating_sub(row.on_time);
    }
    result.rate = ratio(result.on_time, result.delivered);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = MICROS_PER_HOUR;

    #[test]
    fn cycle_times_are_nearest_rank_percentiles_in_hours() {
        // 10 h, 20 h, 30 h, 40 h and 100.5 h: median rank 3 -> 30 h; p90 rank 5 -> 100.5 h.
        let durations = [40 * HOUR, 10 * HOUR, 201 * HOUR / 2, 30 * HOUR, 20 * HOUR];
        let time = cycle_time(Stage::ShippedToDelivered, &durations);
        assert_eq!(time.orders, 5);
        assert_eq!(time.median_hours, Some(Decimal::new(30, 0)));
        assert_eq!(time.p90_hours, Some(Decimal::new(1005, 1)));
        // 90 minutes and 20 minutes: median rank 1 -> 0.33 h; p90 rank 2 -> 1.5 h.
        let short = cycle_time(Stage::DeliveredToPaid, &[90 * 60_000_000, 20 * 60_000_000]);
        assert_eq!(short.median_hours, Some(Decimal::new(33, 2)));
        assert_eq!(short.p90_hours, Some(Decimal::new(15, 1)));
        let none = cycle_time(Stage::SubmittedToConfirmed, &[]);
        assert_eq!(
            (none.orders, none.median_hours, none.p90_hours),
            (0, None, None)
        );
    }

    #[test]
    fn the_on_time_rate_adds_up_every_reps_deliveries() {
        let row = |rep, delivered, on_time| DeliveryCounts {
            sales_rep_id: domain::UserId(rep),
            delivered,
            on_time,
        };
        let rows = [row(1, 3, 3), row(2, 1, 0)];
        assert_eq!(
            on_time(&rows),
            OnTime {
                delivered: 4,
                on_time: 3,
                late: 1,
                rate: Some(Decimal::new(75, 2)),
            }
        );
        assert_eq!(on_time(&[]).rate, None);
    }
}
