//! Receivables analytics: aging buckets at every boundary, grouping that never mixes
//! currencies, payment behaviour examples, and property tests over random open items.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{Duration, NaiveDate};
use domain::ids::{CustomerId, UserId};
use domain::money::Currency;
use domain::receivables::{
    AgingBucket, AgingGroup, AgingRow, OpenItem, SettledInvoice, aging, bucket_of, days_overdue,
    payment_behaviour,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
}

/// A date `days` before today (negative: after).
fn ago(days: i64) -> NaiveDate {
    today() - Duration::days(days)
}

fn item(
    invoice: i64,
    customer: i64,
    rep: i64,
    currency: Currency,
    days_past_due: i64,
    outstanding: &str,
) -> OpenItem {
    OpenItem {
        invoice_id: invoice,
        customer_id: CustomerId(customer),
        sales_rep_id: UserId(rep),
        currency,
        due_on: ago(days_past_due),
        outstanding: dec(outstanding),
    }
}

#[test]
fn each_boundary_falls_in_the_right_bucket() {
    let cases = [
        (-30, 0, AgingBucket::Current),
        (-1, 0, AgingBucket::Current),
        (0, 0, AgingBucket::Current),
        (1, 1, AgingBucket::Days1To30),
        (30, 30, AgingBucket::Days1To30),
        (31, 31, AgingBucket::Days31To60),
        (60, 60, AgingBucket::Days31To60),
        (61, 61, AgingBucket::Days61To90),
        (90, 90, AgingBucket::Days61To90),
        (91, 91, AgingBucket::Over90),
        (3650, 3650, AgingBucket::Over90),
    ];
    for (late, overdue, bucket) in cases {
        assert_eq!(
            days_overdue(ago(late), today()),
            overdue,
            "{late} days late"
        );
        assert_eq!(bucket_of(ago(late), today()), bucket, "{late} days late");
    }
}

#[test]
fn bucket_names_are_stable_and_round_trip() {
    let names: Vec<&str> = AgingBucket::ALL.iter().map(|b| b.as_str()).collect();
    assert_eq!(
        names,
        [
            "CURRENT",
            "DAYS_1_30",
            "DAYS_31_60",
            "DAYS_61_90",
            "OVER_90"
        ]
    );
    for bucket in AgingBucket::ALL {
        assert_eq!(AgingBucket::parse(bucket.as_str()).unwrap(), bucket);
        assert_eq!(
            serde_json::to_value(bucket).unwrap(),
            serde_json::json!(bucket.as_str())
        );
    }
    assert!(AgingBucket::parse("DAYS_1_TO_30").is_err());
}

/// Customer 1 (rep 10) owes EUR in three buckets and USD in one; customer 2 (rep 10) owes EUR;
/// customer 3 (rep 20) owes EUR. A paid invoice and a credit balance are not open.
fn ledger() -> Vec<OpenItem> {
    vec![
        item(1, 1, 10, eur(), 0, "100.00"),
        item(2, 1, 10, eur(), 45, "250.50"),
        item(3, 1, 10, eur(), 120, "49.50"),
        item(4, 1, 10, usd(), 10, "1000.00"),
        item(5, 2, 10, eur(), 31, "80.00"),
        item(6, 3, 20, eur(), 91, "400.00"),
        item(7, 3, 20, eur(), 200, "0.00"),
        item(8, 2, 10, usd(), 5, "-20.00"),
    ]
}

fn row(key: i64, currency: Currency, buckets: [&str; 5], count: u32) -> AgingRow {
    let [current, days_1_30, days_31_60, days_61_90, over_90] = buckets.map(dec);
    AgingRow {
        key,
        currency,
        current,
        days_1_30,
        days_31_60,
        days_61_90,
        over_90,
        total: current + days_1_30 + days_31_60 + days_61_90 + over_90,
        invoice_count: count,
    }
}

#[test]
fn aging_by_customer_keeps_currencies_apart_and_puts_the_biggest_exposure_first() {
    let rows = aging(&ledger(), today(), AgingGroup::Customer);
    assert_eq!(
        rows,
        vec![
            row(1, usd(), ["0", "1000.00", "0", "0", "0"], 1),
            row(1, eur(), ["100.00", "0", "250.50", "0", "49.50"], 3),
            row(3, eur(), ["0", "0", "0", "0", "400.00"], 1),
            row(2, eur(), ["0", "0", "80.00", "0", "0"], 1),
        ]
    );
    // Customers 1 and 3 both owe 400.00 EUR: the tie goes to the lower key.
    assert_eq!(rows[1].total, rows[2].total);
}

#[test]
fn aging_by_rep_sums_the_reps_customers_per_currency() {
    let rows = aging(&ledger(), today(), AgingGroup::SalesRep);
    assert_eq!(
        rows,
        vec![
            row(10, usd(), ["0", "1000.00", "0", "0", "0"], 1),
            row(10, eur(), ["100.00", "0", "330.50", "0", "49.50"], 4),
            row(20, eur(), ["0", "0", "0", "0", "400.00"], 1),
        ]
    );
}

#[test]
fn equal_totals_are_ordered_by_key_then_currency_code() {
    let items = [
        item(1, 2, 1, usd(), 0, "5"),
        item(2, 2, 1, eur(), 0, "5"),
        item(3, 1, 1, usd(), 0, "5"),
    ];
    let rows = aging(&items, today(), AgingGroup::Customer);
    let order: Vec<(i64, Currency)> = rows.iter().map(|r| (r.key, r.currency)).collect();
    assert_eq!(order, [(1, usd()), (2, eur()), (2, usd())]);
}

#[test]
fn nothing_open_gives_an_empty_report() {
    assert_eq!(aging(&[], today(), AgingGroup::Customer), vec![]);
    let paid = [item(1, 1, 1, eur(), 40, "0"), item(2, 1, 1, eur(), 5, "-3")];
    assert_eq!(aging(&paid, today(), AgingGroup::SalesRep), vec![]);
}

/// An invoice due `due` days and paid `paid` days after today.
fn settled(due: i64, paid: i64) -> SettledInvoice {
    SettledInvoice {
        due_on: today() + Duration::days(due),
        paid_on: today() + Duration::days(paid),
    }
}

#[test]
fn paying_on_or_before_the_due_date_is_on_time_and_zero_days_late() {
    let b = payment_behaviour(&[settled(30, 30), settled(30, 12)]);
    assert_eq!(b.invoices_paid, 2);
    assert_eq!(b.average_days_late, Some(dec("0")));
    assert_eq!(b.on_time_share, Some(dec("1")));
}

#[test]
fn late_payments_average_their_days_late() {
    let b = payment_behaviour(&[settled(30, 31), settled(30, 40)]);
    assert_eq!(b.invoices_paid, 2);
    assert_eq!(b.average_days_late, Some(dec("5.5")));
    assert_eq!(b.on_time_share, Some(dec("0")));
}

#[test]
fn an_early_payment_does_not_offset_a_late_one() {
    // Days late: 0 (paid 20 days early), 0 (on the day), 7. Mean 7/3 = 2.33..., 1 of 3 late.
    let b = payment_behaviour(&[settled(30, 10), settled(30, 30), settled(30, 37)]);
    assert_eq!(b.invoices_paid, 3);
    assert_eq!(b.average_days_late, Some(dec("2.3")));
    assert_eq!(b.on_time_share, Some(dec("0.67")));
}

#[test]
fn means_round_half_away_from_zero() {
    // Days late 0, 1, 0, 8: mean 2.25 -> 2.3 (banker's rounding would give 2.2).
    // On time 1 of 8 = 0.125 -> 0.13.
    let b = payment_behaviour(&[settled(0, 0), settled(0, 1), settled(0, 0), settled(0, 8)]);
    assert_eq!(b.average_days_late, Some(dec("2.3")));
    let mut one_in_eight = vec![settled(0, 0)];
    one_in_eight.extend((0..7).map(|_| settled(0, 1)));
    assert_eq!(
        payment_behaviour(&one_in_eight).on_time_share,
        Some(dec("0.13"))
    );
}

#[test]
fn without_settled_invoices_there_is_no_behaviour_to_report() {
    let b = payment_behaviour(&[]);
    assert_eq!(b.invoices_paid, 0);
    assert_eq!(b.average_days_late, None);
    assert_eq!(b.on_time_share, None);
}

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["EUR", "USD", "JPY"]).prop_map(|c| Currency::parse(c).unwrap())
}

prop_compose! {
    /// An item of customers 1..=4 and reps 1..=3, due up to 200 days either side of today,
    /// owing between -1 000.00 and 100 000.00 (zero and negative ones are not open).
    fn arb_item()(
        invoice in 1i64..10_000,
        customer in 1i64..=4,
        rep in 1i64..=3,
        currency in currency(),
        days_past_due in -200i64..=200,
        cents in -100_000i64..10_000_000,
    ) -> OpenItem {
        OpenItem {
            invoice_id: invoice,
            customer_id: CustomerId(customer),
            sales_rep_id: UserId(rep),
            currency,
            due_on: ago(days_past_due),
            outstanding: Decimal::new(cents, 2),
        }
    }
}

fn group() -> impl Strategy<Value = AgingGroup> {
    prop_oneof![Just(AgingGroup::Customer), Just(AgingGroup::SalesRep)]
}

proptest! {
    /// Every row's buckets partition its total, and the report loses and invents nothing: per
    /// currency, the rows sum to exactly the positive outstanding amounts.
    #[test]
    fn buckets_partition_each_row_and_rows_account_for_every_open_amount(
        items in prop::collection::vec(arb_item(), 0..40),
        group in group(),
    ) {
        let rows = aging(&items, today(), group);
        let mut reported: BTreeMap<Currency, Decimal> = BTreeMap::new();
        let mut counted = 0u32;
        for row in &rows {
            let buckets: Decimal = AgingBucket::ALL.into_iter().map(|b| row.amount_in(b)).sum();
            prop_assert_eq!(
                row.current + row.days_1_30 + row.days_31_60 + row.days_61_90 + row.over_90,
                row.total
            );
            prop_assert_eq!(buckets, row.total);
            prop_assert!(row.total > Decimal::ZERO);
            *reported.entry(row.currency).or_default() += row.total;
            counted += row.invoice_count;
        }
        let mut open: BTreeMap<Currency, Decimal> = BTreeMap::new();
        for item in items.iter().filter(|i| i.outstanding > Decimal::ZERO) {
            *open.entry(item.currency).or_default() += item.outstanding;
        }
        prop_assert_eq!(reported, open);
        prop_assert_eq!(
            counted as usize,
            items.iter().filter(|i| i.outstanding > Decimal::ZERO).count()
        );
        // Sorted as documented; the strict order also means each (key, currency) appears once.
        for pair in rows.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            prop_assert!(
                a.total > b.total
                    || (a.total == b.total
                        && (a.key, a.currency.as_str()) < (b.key, b.currency.as_str()))
            );
        }
    }

    /// As time passes an amount only ever ages: its bucket never becomes younger.
    #[test]
    fn buckets_only_age_as_time_passes(
        due_offset in -400i64..=400,
        as_of_offset in -400i64..=400,
        later in 0i64..=400,
    ) {
        let due_on = today() + Duration::days(due_offset);
        let as_of = today() + Duration::days(as_of_offset);
        let then = as_of + Duration::days(later);
        prop_assert!(bucket_of(due_on, then) >= bucket_of(due_on, as_of));
        prop_assert!(days_overdue(due_on, then) >= days_overdue(due_on, as_of));
        prop_assert!(days_overdue(due_on, as_of) >= 0);
    }

    /// The share paid on time is a share, and lateness is never negative.
    #[test]
    fn payment_behaviour_stays_within_its_ranges(
        offsets in prop::collection::vec((-100i64..=100, -100i64..=300), 0..30),
    ) {
        let invoices: Vec<SettledInvoice> = offsets.iter().map(|(d, p)| settled(*d, *p)).collect();
        let b = payment_behaviour(&invoices);
        prop_assert_eq!(b.invoices_paid as usize, invoices.len());
        prop_assert_eq!(b.average_days_late.is_none(), invoices.is_empty());
        prop_assert_eq!(b.on_time_share.is_none(), invoices.is_empty());
        if let Some(share) = b.on_time_share {
            prop_assert!((Decimal::ZERO..=Decimal::ONE).contains(&share), "{share}");
            prop_assert!(share.scale() <= 2);
        }
        if let Some(days) = b.average_days_late {
            prop_assert!(days >= Decimal::ZERO, "{days}");
            prop_assert!(days.scale() <= 1);
        }
    }
}

#[test]
fn due_from_ages_exactly_like_bucket_of() {
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
    for back in -5..200 {
        let due = as_of - chrono::Duration::days(back);
        let by_dates = domain::receivables::AgingBucket::ALL
            .into_iter()
            .find(|b| b.due_from(as_of).is_none_or(|from| due >= from))
            .unwrap();
        assert_eq!(
            by_dates,
            domain::receivables::bucket_of(due, as_of),
            "due {due}"
        );
    }
}

#[test]
fn an_analytics_period_covers_every_utc_day_it_touches() {
    use chrono::TimeZone;
    let at = |m, d, h| chrono::Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap();
    let period = |from, to| domain::ports::AnalyticsFilter {
        from,
        to,
        sales_rep_id: None,
        team_of: None,
        customer_id: None,
        product_id: None,
        currency: None,
    };
    let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
    // A month, midnight to midnight: 31 days, the last one 31 March.
    let march = period(at(3, 1, 0), at(4, 1, 0));
    assert_eq!(march.days(), (day(3, 1), day(3, 31)));
    assert_eq!(march.day_count(), 31);
    // Noon to noon touches both ends' days.
    let noon = period(at(3, 1, 12), at(3, 3, 12));
    assert_eq!(noon.days(), (day(3, 1), day(3, 3)));
    assert_eq!(noon.day_count(), 3);
    // An empty period at midnight covers no day.
    let empty = period(at(3, 1, 0), at(3, 1, 0));
    assert_eq!(empty.day_count(), 0);
}
