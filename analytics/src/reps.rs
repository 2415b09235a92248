//! Reps: one scorecard per sales rep (sales, on-time delivery, change and exception rates,
//! collection rate, DSO), assembled from the same per-rep rows as the desk-wide KPIs.

use std::collections::BTreeSet;

use domain::UserId;
use domain::money::Currency;
use domain::ports::{
    DeliveryCounts, DueInvoices, OpenReceivable, QualityCounts, RepAmount, SettlementRecord,
};
use rust_decimal::Decimal;

use crate::cash::{CashSummary, cash_summary};
use crate::customers::PaymentFigures;
use crate::delivery::{OnTime, on_time};
use crate::quality::{QualityRates, quality_rates};
use crate::stats::ratio;

/// Everything a scorecard is built from, each row carrying its rep.
#[derive(Clone, Copy, Debug)]
pub struct RepRows<'a> {
    /// Submitted orders created in the period and their value.
    pub sales: &'a [RepAmount],
    /// Deliveries in the period against their promised dates.
    pub deliveries: &'a [DeliveryCounts],
    /// Change requests and exceptions on the period's orders.
    pub quality: &'a [QualityCounts],
    /// Invoices issued in the period.
    pub invoiced: &'a [RepAmount],
    /// Payments received in the period.
    pub collected: &'a [RepAmount],
    /// Owed at the end of the period.
    pub open: &'a [OpenReceivable],
    /// Invoices falling due in the period.
    pub due: &'a [DueInvoices],
    /// Invoices fully paid in the period.
    pub settlements: &'a [SettlementRecord],
}

/// One rep's figures for a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scorecard {
    /// The rep.
    pub sales_rep_id: UserId,
    /// Orders and value per currency (ordered by currency code).
    pub sales: Vec<(Currency, u64, Decimal)>,
    /// On-time delivery.
    pub on_time: OnTime,
    /// Change-request and exception rates of the rep's orders.
    pub quality: QualityRates,
    /// Invoices due in the period.
    pub invoices_due: u64,
    /// Of them, fully paid by the period's end.
    pub invoices_collected: u64,
    /// `invoices_collected / invoices_due`, 4 places; `None` when nothing fell due.
    pub collection_rate: Option<Decimal>,
    /// How promptly the rep's customers paid.
    pub payments: PaymentFigures,
    /// Cash per currency, DSO included.
    pub cash: Vec<CashSummary>,
}

/// One scorecard per rep that appears in any of the rows, by rep id. `period_days` as for
/// [`cash_summary`].
#[must_use]
pub fn scorecards(rows: RepRows<'_>, period_days: u64) -> Vec<Scorecard> {
    let reps: BTreeSet<UserId> = rows
        .sales
        .iter()
        .map(|r| r.sales_rep_id)
        .chain(rows.deliveries.iter().map(|r| r.sales_rep_id))
        .chain(rows.quality.iter().map(|r| r.sales_rep_id))
        .chain(rows.invoiced.iter().map(|r| r.sales_rep_id))
        .chain(rows.collected.iter().map(|r| r.sales_rep_id))
        .chain(rows.open.iter().map(|r| r.sales_rep_id))
        .chain(rows.due.iter().map(|r| r.sales_rep_id))
        .chain(rows.settlements.iter().map(|r| r.sales_rep_id))
        .collect();
    reps.into_iter()
        .map(|rep| {
            fn of<T: Copy>(rows: &[T], rep: UserId, key: impl Fn(&T) -> UserId) -> Vec<T> {
                rows.iter().filter(|r| key(r) == rep).copied().collect()
            }
            let mut sales: Vec<(Currency, u64, Decimal)> = rows
                .sales
                .iter()
                .filter(|r| r.sales_rep_id == rep)
                .map(|r| (r.currency, r.count, r.amount))
                .collect();
            sales.sort_by_key(|s| s.0);
            let due = of(rows.due, rep, |r| r.sales_rep_id);
            let invoices_due = due.iter().map(|r| r.due).sum();
            let invoices_collected = due.iter().map(|r| r.collected).sum();
            let mut payments = PaymentFigures::default();
            for record in rows.settlements.iter().filter(|r| r.sales_rep_id == rep) {
                payments.add(record);
            }
            Scorecard {
                sales_rep_id: rep,
                sales,
                on_time: on_time(&of(rows.deliveries, rep, |r| r.sales_rep_id)),
                quality: quality_rates(&of(rows.quality, rep, |r| r.sales_rep_id)),
                invoices_due,
                invoices_collected,
                collection_rate: ratio(invoices_collected, invoices_due),
                payments,
                cash: cash_summary(
                    &of(rows.invoiced, rep, |r| r.sales_rep_id),
                    &of(rows.collected, rep, |r| r.sales_rep_id),
                    &of(rows.open, rep, |r| r.sales_rep_id),
                    period_days,
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn each_rep_gets_only_their_own_rows() {
        let sales = [
            RepAmount {
                sales_rep_id: UserId(1),
                currency: eur(),
                count: 4,
                amount: Decimal::new(1000, 0),
            },
            RepAmount {
                sales_rep_id: UserId(2),
                currency: eur(),
                count: 1,
                amount: Decimal::new(50, 0),
            },
        ];
        let deliveries = [DeliveryCounts {
            sales_rep_id: UserId(1),
            delivered: 4,
            on_time: 3,
        }];
        let quality = [QualityCounts {
            sales_rep_id: UserId(1),
            orders: 4,
            orders_with_change_requests: 1,
            change_requests: 2,
            orders_with_exceptions: 2,
            exceptions: 2,
        }];
        let invoiced = [RepAmount {
            sales_rep_id: UserId(2),
            currency: eur(),
            count: 1,
            amount: Decimal::new(300, 0),
        }];
        let open = [OpenReceivable {
            sales_rep_id: UserId(2),
            currency: eur(),
            bucket: domain::receivables::AgingBucket::Days1To30,
            invoices: 1,
            outstanding: Decimal::new(100, 0),
        }];
        let due = [DueInvoices {
            sales_rep_id: UserId(3),
            due: 4,
            collected: 3,
        }];
        let cards = scorecards(
            RepRows {
                sales: &sales,
                deliveries: &deliveries,
                quality: &quality,
                invoiced: &invoiced,
                collected: &[],
                open: &open,
                due: &due,
                settlements: &[],
            },
            30,
        );
        let reps: Vec<i64> = cards.iter().map(|c| c.sales_rep_id.0).collect();
        assert_eq!(reps, vec![1, 2, 3], "every rep with any row, by id");
        let one = &cards[0];
        assert_eq!(one.sales, vec![(eur(), 4, Decimal::new(1000, 0))]);
        assert_eq!((one.on_time.delivered, one.on_time.on_time), (4, 3));
        assert_eq!(one.on_time.rate, Some(Decimal::new(7500, 4)));
        assert_eq!(one.quality.change_request_rate, Some(Decimal::new(2500, 4)));
        assert_eq!(one.quality.exception_rate, Some(Decimal::new(5000, 4)));
        assert!(one.cash.is_empty());
        let two = &cards[1];
        assert_eq!(two.on_time.delivered, 0);
        assert_eq!(two.quality.change_request_rate, None, "no orders, no rate");
        // 100 owed of 300 invoiced over 30 days: DSO 10.0; 20 days overdue.
        assert_eq!(two.cash[0].dso_days, Some(Decimal::new(100, 1)));
        assert_eq!(two.cash[0].overdue, Decimal::new(100, 0));
        let three = &cards[2];
        assert_eq!((three.invoices_due, three.invoices_collected), (4, 3));
        assert_eq!(three.collection_rate, Some(Decimal::new(7500, 4)));
    }
}
