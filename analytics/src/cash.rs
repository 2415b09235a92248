//! Cash: what was invoiced and collected in a period, what is still owed at its end, how much
//! of that is overdue and by how long (aging), and days sales outstanding.

use std::collections::BTreeMap;

use domain::money::Currency;
use domain::ports::{OpenReceivable, RepAmount};
use domain::receivables::AgingBucket;
use rust_decimal::Decimal;

use crate::stats::average;

/// The cash figures of one currency for a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CashSummary {
    /// Every amount below is in it.
    pub currency: Currency,
    /// Valid invoices issued in the period.
    pub invoices: u64,
    /// Their amount.
    pub invoiced: Decimal,
    /// Payments received in the period.
    pub payments: u64,
    /// Their sum.
    pub collected: Decimal,
    /// Invoices with money owed at the end of the period.
    pub open_invoices: u64,
    /// What was owed at the end of the period.
    pub outstanding: Decimal,
    /// The part of `outstanding` past its due date on the period's last day.
    pub overdue: Decimal,
    /// `outstanding` by how far past due it was on the period's last day, one amount per
    /// [`AgingBucket`] in [`AgingBucket::ALL`] order.
    pub aging: [Decimal; 5],
    /// Days sales outstanding: `outstanding / invoiced × days in the period`, rounded half
    /// away from zero to 1 place; `None` when nothing was invoiced.
    pub dso_days: Option<Decimal>,
}

impl CashSummary {
    fn empty(currency: Currency) -> Self {
        Self {
            currency,
            invoices: 0,
            invoiced: Decimal::ZERO,
            payments: 0,
            collected: Decimal::ZERO,
            open_invoices: 0,
            outstanding: Decimal::ZERO,
            overdue: Decimal::ZERO,
            aging: [Decimal::ZERO; 5],
            dso_days: None,
        }
    }
}

/// Sums the rows per currency (ordered by currency code); `open` is aged already (to the
/// period's last day), `period_days` is the period's length in days (for DSO).
#[must_use]
pub fn cash_summary(
    invoiced: &[RepAmount],
    collected: &[RepAmount],
    open: &[OpenReceivable],
    period_days: u64,
) -> Vec<CashSummary> {
    let mut summaries: BTreeMap<String, CashSummary> = BTreeMap::new();
    for row in invoiced {
        let s = slot(&mut summaries, row.currency);
        s.invoices += row.count;
        s.invoiced += row.amount;
    }
    for row in collected {
        let s = slot(&mut summaries, row.currency);
        s.payments += row.count;
        s.collected += row.amount;
    }
    for row in open {
        let s = slot(&mut summaries, row.currency);
        s.open_invoices += row.invoices;
        s.outstanding += row.outstanding;
        let bucket = row.bucket;
        if bucket != AgingBucket::Current {
            s.overdue += row.outstanding;
        }
        if let Some(i) = AgingBucket::ALL.iter().position(|b| *b == bucket) {
            s.aging[i] += row.outstanding;
        }
    }
    let mut result: Vec<CashSummary> = summaries.into_values().collect();
    for s in &mut result {
        s.dso_days = dso(s.outstanding, s.invoiced, period_days);
    }
    result
}

fn slot(summaries: &mut BTreeMap<String, CashSummary>, currency: Currency) -> &mut CashSummary {
    summaries
        .entry(currency.as_str().to_owned())
        .or_insert_with(|| CashSummary::empty(currency))
}

/// Days sales outstanding, rounded to 1 place; `None` when nothing was invoiced.
#[must_use]
pub fn dso(outstanding: Decimal, invoiced: Decimal, period_days: u64) -> Option<Decimal> {
    if invoiced <= Decimal::ZERO {
        return None;
    }
    let scaled = outstanding.checked_mul(Decimal::from(period_days))?;
    // `average` divides by a count; here the divisor is an amount, so divide first and round
    // the same way (half away from zero).
    let days = scaled.checked_div(invoiced)?;
    average(days, 1, 1)
}

#[cfg(test)]
mod tests {
    use domain::UserId;

    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn amount(rep: i64, currency: Currency, count: u64, cents: i64) -> RepAmount {
        RepAmount {
            sales_rep_id: UserId(rep),
            currency,
            count,
            amount: Decimal::new(cents, 2),
        }
    }

    fn open(currency: Currency, bucket: AgingBucket, cents: i64) -> OpenReceivable {
        OpenReceivable {
            sales_rep_id: UserId(1),
            currency,
            bucket,
            invoices: 1,
            outstanding: Decimal::new(cents, 2),
        }
    }

    #[test]
    fn figures_are_summed_per_currency_and_aged_to_the_periods_last_day() {
        // November 2026 (30 days), as of 30 Nov. EUR: 2,000.00 invoiced by two reps, 500.00
        // collected, open 300.00 due 5 Dec (current), 200.00 due 20 Nov (10 days), 100.00 due
        // 1 Aug (121 days). USD: nothing invoiced, 50.00 open due 30 Nov (current).
        let invoiced = [amount(1, eur(), 2, 150_000), amount(2, eur(), 1, 50_000)];
        let collected = [amount(1, eur(), 1, 50_000)];
        let opens = [
            open(eur(), AgingBucket::Current, 30_000),
            open(eur(), AgingBucket::Days1To30, 20_000),
            open(eur(), AgingBucket::Over90, 10_000),
            open(usd(), AgingBucket::Current, 5_000),
        ];
        let summary = cash_summary(&invoiced, &collected, &opens, 30);
        assert_eq!(summary.len(), 2);
        let e = &summary[0];
        assert_eq!(e.currency, eur());
        assert_eq!((e.invoices, e.invoiced), (3, Decimal::new(2000, 0)));
        assert_eq!((e.payments, e.collected), (1, Decimal::new(500, 0)));
        assert_eq!((e.open_invoices, e.outstanding), (3, Decimal::new(600, 0)));
        assert_eq!(e.overdue, Decimal::new(300, 0));
        assert_eq!(
            e.aging,
            [
                Decimal::new(300, 0),
                Decimal::new(200, 0),
                Decimal::ZERO,
                Decimal::ZERO,
                Decimal::new(100, 0)
            ]
        );
        // 600 / 2000 × 30 = 9.0 days.
        assert_eq!(e.dso_days, Some(Decimal::new(90, 1)));
        let u = &summary[1];
        assert_eq!(u.currency, usd());
        assert_eq!(
            u.overdue,
            Decimal::ZERO,
            "due on the last day is not overdue"
        );
        assert_eq!(u.dso_days, None, "nothing invoiced in USD");
    }

    #[test]
    fn dso_rounds_half_away_from_zero_to_one_place() {
        // 100 / 300 × 31 = 10.333… -> 10.3; 1 / 8 × 1 = 0.125 -> 0.1; 5 / 4 × 1 = 1.25 -> 1.3.
        assert_eq!(
            dso(Decimal::new(100, 0), Decimal::new(300, 0), 31),
            Some(Decimal::new(103, 1))
        );
        assert_eq!(
            dso(Decimal::ONE, Decimal::new(8, 0), 1),
            Some(Decimal::new(1, 1))
        );
        assert_eq!(
            dso(Decimal::new(5, 0), Decimal::new(4, 0), 1),
            Some(Decimal::new(13, 1))
        );
        assert_eq!(dso(Decimal::ONE, Decimal::ZERO, 30), None);
    }
}
