//! The sales summary: how many submitted orders, for how much, per time bucket, currency and
//! status group.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use domain::lifecycle::OrderStatus;
use domain::money::Currency;
use domain::ports::DailySales;
use rust_decimal::Decimal;

use crate::stats::{Granularity, average, bucket_start};

/// Where an order stands, coarsely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusGroup {
    /// Still moving: DRAFT through SHIPPED, and ON_HOLD.
    Open,
    /// DELIVERED or COMPLETED.
    Fulfilled,
    /// CANCELLED.
    Cancelled,
}

/// The group a status belongs to.
#[must_use]
pub fn status_group(status: OrderStatus) -> StatusGroup {
    match status {
        OrderStatus::Draft
        | OrderStatus::NeedsRevision
        | OrderStatus::PendingApproval
        | OrderStatus::Approved
        | OrderStatus::Confirmed
        | OrderStatus::InProduction
        | OrderStatus::ReadyToShip
        | OrderStatus::PartiallyShipped
        | OrderStatus::Shipped
        | OrderStatus::OnHold => StatusGroup::Open,
        OrderStatus::Delivered | OrderStatus::Completed => StatusGroup::Fulfilled,
        OrderStatus::Cancelled => StatusGroup::Cancelled,
    }
}

/// A count of orders and their value, in one currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// How many orders.
    pub orders: u64,
    /// The sum of their totals.
    pub value: Decimal,
}

impl Figures {
    /// Value per order, rounded to `decimals` places (the currency's minor units); `None`
    /// without orders.
    #[must_use]
    pub fn average(&self, decimals: u32) -> Option<Decimal> {
        average(self.value, self.orders, decimals)
    }

    fn add(&mut self, orders: u64, value: Decimal) {
        self.orders += orders;
        self.value += value;
    }
}

/// One bucket of the sales summary, in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SalesBucket {
    /// The bucket's first day (the day, the ISO week's Monday, or the month's first).
    pub start: NaiveDate,
    /// The currency of every amount in the bucket.
    pub currency: Currency,
    /// All orders of the bucket.
    pub total: Figures,
    /// Those still open.
    pub open: Figures,
    /// Those delivered or completed.
    pub fulfilled: Figures,
    /// Those cancelled (their value is counted here and in `total`).
    pub cancelled: Figures,
}

/// Rolls daily rows up into buckets of `granularity`, one per (bucket, currency), ordered by
/// bucket start then currency code. Buckets without orders are absent.
#[must_use]
pub fn sales_summary(rows: &[DailySales], granularity: Granularity) -> Vec<SalesBucket> {
    let mut buckets: BTreeMap<(NaiveDate, &str), SalesBucket> = BTreeMap::new();
    for row in rows {
        let start = bucket_start(row.day, granularity);
        let bucket = buckets
            .entry((start, row.currency.as_str()))
            .or_insert_with(|| SalesBucket {
                start,
                currency: row.currency,
                total: Figures::default(),
                open: Figures::default(),
                fulfilled: Figures::default(),
                cancelled: Figures::default(),
            });
        bucket.total.add(row.orders, row.value);
        let group = match status_group(row.status) {
            StatusGroup::Open => &mut bucket.open,
            StatusGroup::Fulfilled => &mut bucket.fulfilled,
            StatusGroup::Cancelled => &mut bucket.cancelled,
        };
        group.add(row.orders, row.value);
    }
    buckets.into_values().collect()
}

/// The whole period per currency: [`sales_summary`] with one bucket, the start of which is
/// the first day with orders.
#[must_use]
pub fn period_totals(rows: &[DailySales]) -> Vec<SalesBucket> {
    let mut by_currency: BTreeMap<String, SalesBucket> = BTreeMap::new();
    for bucket in sales_summary(rows, Granularity::Day) {
        by_currency
            .entry(bucket.currency.as_str().to_owned())
            .and_modify(|sum| {
                for (into, from) in [
                    (&mut sum.total, bucket.total),
                    (&mut sum.open, bucket.open),
                    (&mut sum.fulfilled, bucket.fulfilled),
                    (&mut sum.cancelled, bucket.cancelled),
                ] {
                    into.add(from.orders, from.value);
                }
            })
            .or_insert_with(|| bucket.clone());
    }
    by_currency.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: &str, currency: &str, status: OrderStatus, orders: u64, cents: i64) -> DailySales {
        DailySales {
            day: day.parse().unwrap(),
            currency: Currency::parse(currency).unwrap(),
            status,
            orders,
            value: Decimal::new(cents, 2),
        }
    }

    fn rows() -> Vec<DailySales> {
        vec![
            // Thursday and Sunday of ISO week 2026-W48 (Monday 2026-11-23).
            row("2026-11-26", "EUR", OrderStatus::Confirmed, 2, 30_000),
            row("2026-11-26", "USD", OrderStatus::Delivered, 1, 5_000),
            row("2026-11-29", "EUR", OrderStatus::Cancelled, 1, 10_000),
            // Monday of the next week, the last day of the month.
            row("2026-11-30", "EUR", OrderStatus::Completed, 1, 25_000),
            // December.
            row("2026-12-01", "EUR", OrderStatus::OnHold, 3, 10_000),
        ]
    }

    #[test]
    fn every_status_falls_in_exactly_the_documented_group() {
        let open: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(|s| status_group(*s) == StatusGroup::Open)
            .collect();
        assert_eq!(open.len(), 10);
        assert_eq!(status_group(OrderStatus::OnHold), StatusGroup::Open);
        assert_eq!(status_group(OrderStatus::Completed), StatusGroup::Fulfilled);
        assert_eq!(status_group(OrderStatus::Cancelled), StatusGroup::Cancelled);
    }

    #[test]
    fn weekly_buckets_split_by_currency_and_status_group_without_mixing_currencies() {
        let weeks = sales_summary(&rows(), Granularity::Week);
        let starts: Vec<_> = weeks
            .iter()
            .map(|b| (b.start.to_string(), b.currency.as_str().to_owned()))
            .collect();
        assert_eq!(
            starts,
            [
                ("2026-11-23".to_owned(), "EUR".to_owned()),
                ("2026-11-23".to_owned(), "USD".to_owned()),
                ("2026-11-30".to_owned(), "EUR".to_owned()),
            ]
        );
        let eur = &weeks[0];
        assert_eq!(
            eur.total,
            Figures {
                orders: 3,
                value: Decimal::new(40_000, 2)
            }
        );
        assert_eq!(
            eur.open,
            Figures {
                orders: 2,
                value: Decimal::new(30_000, 2)
            }
        );
        assert_eq!(
            eur.cancelled,
            Figures {
                orders: 1,
                value: Decimal::new(10_000, 2)
            }
        );
        assert_eq!(eur.fulfilled, Figures::default());
        // 400.00 / 3 = 133.333... -> 133.33.
        assert_eq!(eur.total.average(2), Some(Decimal::new(13_333, 2)));
        // The week of Monday 2026-11-30 reaches into December.
        let next = &weeks[2];
        assert_eq!(
            next.total,
            Figures {
                orders: 4,
                value: Decimal::new(35_000, 2)
            }
        );
        assert_eq!(next.fulfilled.orders, 1);
        assert_eq!(next.open.orders, 3);
    }

    #[test]
    fn monthly_buckets_and_period_totals_add_up_per_currency() {
        let months = sales_summary(&rows(), Granularity::Month);
        assert_eq!(months.len(), 3);
        assert_eq!(months[0].start.to_string(), "2026-11-01");
        assert_eq!(
            months[0].total,
            Figures {
                orders: 4,
                value: Decimal::new(65_000, 2)
            }
        );
        assert_eq!(months[2].start.to_string(), "2026-12-01");
        let totals = period_totals(&rows());
        assert_eq!(totals.len(), 2);
        assert_eq!(totals[0].currency.as_str(), "EUR");
        assert_eq!(totals[0].start.to_string(), "2026-11-26");
        assert_eq!(
            totals[0].total,
            Figures {
                orders: 7,
                value: Decimal::new(75_000, 2)
            }
        );
        // 750.00 / 7 = 107.142857... -> 107.14.
        assert_eq!(totals[0].total.average(2), Some(Decimal::new(10_714, 2)));
        assert_eq!(totals[0].fulfilled.orders, 1);
        assert_eq!(
            totals[1].total,
            Figures {
                orders: 1,
                value: Decimal::new(5_000, 2)
            }
        );
    }
}
