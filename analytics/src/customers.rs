//! Customers: RFM segments (recency, frequency, monetary quintiles), customers whose usual
//! ordering rhythm has lapsed, and how promptly customers pay.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use domain::CustomerId;
use domain::money::Currency;
use domain::ports::{CustomerActivity, SettlementRecord};
use rust_decimal::Decimal;

use crate::stats::{average, ratio};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A customer's place among its peers: the classic RFM groups, from the three 1–5 scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// Recent, frequent and big: R ≥ 4, F ≥ 4, M ≥ 4.
    Champions,
    /// Ordering regularly: R ≥ 3 and F ≥ 3 (not a champion).
    Loyal,
    /// Ordered lately but seldom: R ≥ 4, F ≤ 2.
    Promising,
    /// Neither recent nor frequent enough to tell: R = 3, F ≤ 2.
    NeedsAttention,
    /// Used to order often, not lately: R ≤ 2, F ≥ 3.
    AtRisk,
    /// Seldom, and not lately: R ≤ 2, F ≤ 2.
    Hibernating,
}

impl Segment {
    /// Every segment, best first.
    pub const ALL: [Segment; 6] = [
        Segment::Champions,
        Segment::Loyal,
        Segment::Promising,
        Segment::NeedsAttention,
        Segment::AtRisk,
        Segment::Hibernating,
    ];

    /// The segment of the scores.
    #[must_use]
    pub fn of(recency: u8, frequency: u8, monetary: u8) -> Self {
        match (recency, frequency) {
            (4.., 4..) if monetary >= 4 => Segment::Champions,
            (3.., 3..) => Segment::Loyal,
            (4.., _) => Segment::Promising,
            (3, _) => Segment::NeedsAttention,
            (_, 3..) => Segment::AtRisk,
            _ => Segment::Hibernating,
        }
    }
}

/// One customer's RFM figures in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RfmEntry {
    /// The customer.
    pub customer_id: CustomerId,
    /// The currency of `value` (a customer buying in two currencies is scored in each).
    pub currency: Currency,
    /// Whole days from the last order to the end of the period.
    pub recency_days: i64,
    /// Orders in the period.
    pub orders: u64,
    /// Their value.
    pub value: Decimal,
    /// 1 (longest ago) to 5 (most recent): ⌈5 × (customers of the currency whose last order
    /// was no later) / n⌉.
    pub recency_score: u8,
    /// 1 (fewest orders) to 5 (most).
    pub frequency_score: u8,
    /// 1 (smallest value) to 5 (largest).
    pub monetary_score: u8,
    /// The segment the scores put it in.
    pub segment: Segment,
}

/// The quintile score of each value among `values`, higher is better: ⌈5 × (how many are at
/// most as good) / n⌉. Equal values share a score, the higher one: customers tied at the top
/// (say, all ordered today) are all top customers. A lone customer scores 5.
fn quintiles<T: Ord + Copy>(values: &[T]) -> Vec<u8> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = values.len();
    values
        .iter()
        .map(|v| {
            let at_most = sorted.partition_point(|x| x <= v);
            u8::try_from((5 * at_most).div_ceil(n)).unwrap_or(5)
        })
        .collect()
}

/// Scores every customer in every currency against the other customers of that currency, as of
/// `as_of` (the end of the period). Sorted by segment (best first), then value descending, then
/// customer id.
#[must_use]
pub fn rfm(activity: &[CustomerActivity], as_of: DateTime<Utc>) -> Vec<RfmEntry> {
    let mut by_currency: BTreeMap<Currency, Vec<&CustomerActivity>> = BTreeMap::new();
    for row in activity {
        by_currency.entry(row.currency).or_default().push(row);
    }
    let mut entries = Vec::with_capacity(activity.len());
    for (currency, rows) in by_currency {
        let recency: Vec<i64> = rows
            .iter()
            .map(|r| (as_of - r.last_order_at).num_days())
            .collect();
        // Fewer days since the last order is better: score the negation.
        let r = quintiles(&recency.iter().map(|d| -d).collect::<Vec<_>>());
        let f = quintiles(&rows.iter().map(|r| r.orders).collect::<Vec<_>>());
        let m = quintiles(&rows.iter().map(|r| r.value).collect::<Vec<_>>());
        for (i, row) in rows.iter().enumerate() {
            entries.push(RfmEntry {
                customer_id: row.customer_id,
                currency,
                recency_days: recency[i],
                orders: row.orders,
                value: row.value,
                recency_score: r[i],
                frequency_score: f[i],
                monetary_score: m[i],
                segment: Segment::of(r[i], f[i], m[i]),
            });
        }
    }
    entries.sort_by(|a, b| {
        a.segment
            .cmp(&b.segment)
            .then(b.value.cmp(&a.value))
            .then(a.customer_id.cmp(&b.customer_id))
            .then(a.currency.cmp(&b.currency))
    });
    entries
}

/// How many customers one segment holds in one currency, and their value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentCount {
    /// The segment.
    pub segment: Segment,
    /// The currency of `value`.
    pub currency: Currency,
    /// How many customers (in this currency).
    pub customers: u64,
    /// Their order value in the period.
    pub value: Decimal,
}

/// Customers and value per segment and currency, best segment first, then by currency.
#[must_use]
pub fn segment_counts(entries: &[RfmEntry]) -> Vec<SegmentCount> {
    let mut counts: BTreeMap<(Segment, Currency), SegmentCount> = BTreeMap::new();
    for e in entries {
        let count = counts
            .entry((e.segment, e.currency))
            .or_insert(SegmentCount {
                segment: e.segment,
                currency: e.currency,
                customers: 0,
                value: Decimal::ZERO,
            });
        count.customers += 1;
        count.value += e.value;
    }
    counts.into_values().collect()
}

/// A customer who has not ordered for more than twice their usual interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LapsedCustomer {
    /// The customer.
    pub customer_id: CustomerId,
    /// Orders in the period (all currencies).
    pub orders: u64,
    /// When the last of them was created.
    pub last_order_at: DateTime<Utc>,
    /// Their mean interval, first to last order over `orders - 1`, in days (2 places).
    pub average_interval_days: Decimal,
    /// Days from the last order to the end of the period (2 places).
    pub days_since_last_order: Decimal,
    /// `days_since_last_order / average_interval_days`, 2 places: above 2 is lapsed.
    pub lapse_factor: Decimal,
}

/// Customers with at least two orders in the period whose time since their last order, at
/// `as_of`, is more than twice their mean interval between orders. Most lapsed (largest
/// factor) first, then customer id.
#[must_use]
pub fn lapsed(activity: &[CustomerActivity], as_of: DateTime<Utc>) -> Vec<LapsedCustomer> {
    struct Span {
        orders: u64,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
    }
    let mut spans: BTreeMap<CustomerId, Span> = BTreeMap::new();
    for row in activity {
        let span = spans.entry(row.customer_id).or_insert(Span {
            orders: 0,
            first: row.first_order_at,
            last: row.last_order_at,
        });
        span.orders += row.orders;
        span.first = span.first.min(row.first_order_at);
        span.last = span.last.max(row.last_order_at);
    }
    let days = |d: Duration| {
        let micros = d.num_microseconds().unwrap_or(i64::MAX);
        Decimal::from(micros) / Decimal::from(MICROS_PER_DAY)
    };
    let mut result: Vec<LapsedCustomer> = spans
        .into_iter()
        .filter(|(_, s)| s.orders >= 2 && s.last > s.first)
        .filter_map(|(customer_id, s)| {
            // Compared in microseconds, exactly: "more than twice" has no rounding.
            let gaps = i64::try_from(s.orders - 1).ok()?;
            let since = (as_of - s.last).num_microseconds()?;
            let span = (s.last - s.first).num_microseconds()?;
            if i128::from(since) * i128::from(gaps) <= 2 * i128::from(span) {
                return None;
            }
            let interval = days(s.last - s.first) / Decimal::from(gaps);
            let since_days = days(as_of - s.last);
            Some(LapsedCustomer {
                customer_id,
                orders: s.orders,
                last_order_at: s.last,
                average_interval_days: average(interval, 1, 2)?,
                days_since_last_order: average(since_days, 1, 2)?,
                lapse_factor: average(since_days.checked_div(interval)?, 1, 2)?,
            })
        })
        .collect();
    result.sort_by(|a, b| {
        b.lapse_factor
            .cmp(&a.lapse_factor)
            .then(a.customer_id.cmp(&b.customer_id))
    });
    result
}

/// How promptly invoices were paid: over a customer, a rep, or everyone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaymentFigures {
    /// Invoices that became fully paid in the period.
    pub invoices_paid: u64,
    /// Those paid on or before their due date.
    pub paid_on_time: u64,
    /// Days late summed over the late ones.
    pub days_late: u64,
}

impl PaymentFigures {
    pub(crate) fn add(&mut self, record: &SettlementRecord) {
        self.invoices_paid += record.invoices;
        self.paid_on_time += record.on_time;
        self.days_late += record.days_late;
    }

    /// Mean days late per paid invoice (an early payment counts 0), 1 place; `None` without
    /// invoices. The same definition as a customer's payment behaviour.
    #[must_use]
    pub fn average_days_late(&self) -> Option<Decimal> {
        average(Decimal::from(self.days_late), self.invoices_paid, 1)
    }

    /// Share paid on time, 0 to 1, 4 places; `None` without invoices.
    #[must_use]
    pub fn on_time_share(&self) -> Option<Decimal> {
        ratio(self.paid_on_time, self.invoices_paid)
    }
}

/// Payment behaviour overall and per customer (latest payers first: mean days late
/// descending, then customer id).
#[must_use]
pub fn payment_behaviour(
    records: &[SettlementRecord],
) -> (PaymentFigures, Vec<(CustomerId, PaymentFigures)>) {
    let mut overall = PaymentFigures::default();
    let mut customers: BTreeMap<CustomerId, PaymentFigures> = BTreeMap::new();
    for record in records {
        overall.add(record);
        customers.entry(record.customer_id).or_default().add(record);
    }
    let mut customers: Vec<(CustomerId, PaymentFigures)> = customers.into_iter().collect();
    customers.sort_by(|(a_id, a), (b_id, b)| {
        b.average_days_late()
            .cmp(&a.average_days_late())
            .then(a_id.cmp(b_id))
    });
    (overall, customers)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, day, hour, 0, 0).unwrap()
    }

    fn activity(customer: i64, orders: u64, euros: i64, first: u32, last: u32) -> CustomerActivity {
        CustomerActivity {
            customer_id: CustomerId(customer),
            currency: eur(),
            orders,
            value: Decimal::from(euros),
            first_order_at: at(first, 0),
            last_order_at: at(last, 0),
        }
    }

    #[test]
    fn quintile_scores_rank_among_peers_and_ties_share_a_score() {
        assert_eq!(quintiles(&[10, 20, 30, 40, 50]), vec![1, 2, 3, 4, 5]);
        // Ten values: two per quintile.
        assert_eq!(
            quintiles(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        );
        // Ties share the higher score: the 20s are at least as good as 3 of 4 (⌈3.75⌉ = 4);
        // the 10 as 1 of 4 (⌈1.25⌉ = 2).
        assert_eq!(quintiles(&[20, 10, 20, 40]), vec![4, 2, 4, 5]);
        assert_eq!(
            quintiles(&[7, 7, 7]),
            vec![5, 5, 5],
            "no difference, no demotion"
        );
        assert_eq!(quintiles(&[7]), vec![5], "alone, the best there is");
    }

    #[test]
    fn segments_follow_the_scores() {
        assert_eq!(Segment::of(5, 5, 5), Segment::Champions);
        assert_eq!(Segment::of(5, 5, 3), Segment::Loyal, "small spender");
        assert_eq!(Segment::of(3, 3, 1), Segment::Loyal);
        assert_eq!(Segment::of(4, 1, 5), Segment::Promising);
        assert_eq!(Segment::of(3, 2, 5), Segment::NeedsAttention);
        assert_eq!(Segment::of(2, 5, 5), Segment::AtRisk);
        assert_eq!(Segment::of(1, 1, 1), Segment::Hibernating);
    }

    #[test]
    fn rfm_scores_five_customers_as_of_the_period_end() {
        // As of 31 Oct 00:00. Last orders 30, 25, 20, 10, 1 Oct: 1, 6, 11, 21, 30 days ago.
        // Orders 5, 4, 1, 3, 2; values 500, 100, 300, 400, 200.
        let rows = [
            activity(1, 5, 500, 1, 30),
            activity(2, 4, 100, 2, 25),
            activity(3, 1, 300, 20, 20),
            activity(4, 3, 400, 3, 10),
            activity(5, 2, 200, 1, 1),
        ];
        let entries = rfm(&rows, at(31, 0));
        let scores: Vec<(i64, i64, u8, u8, u8, Segment)> = entries
            .iter()
            .map(|e| {
                (
                    e.customer_id.0,
                    e.recency_days,
                    e.recency_score,
                    e.frequency_score,
                    e.monetary_score,
                    e.segment,
                )
            })
            .collect();
        assert_eq!(
            scores,
            vec![
                (1, 1, 5, 5, 5, Segment::Champions),
                (2, 6, 4, 4, 1, Segment::Loyal),
                (3, 11, 3, 1, 3, Segment::NeedsAttention),
                (4, 21, 2, 3, 4, Segment::AtRisk),
                (5, 30, 1, 2, 2, Segment::Hibernating),
            ]
        );
        // One customer per segment here; a second EUR champion adds up, a USD one stands apart.
        let mut more = rows.to_vec();
        more.push(activity(6, 6, 600, 1, 30));
        let mut usd = activity(7, 6, 600, 1, 30);
        usd.currency = Currency::parse("USD").unwrap();
        more.push(usd);
        let counts = segment_counts(&rfm(&more, at(31, 0)));
        let champions: Vec<(&str, u64, Decimal)> = counts
            .iter()
            .filter(|c| c.segment == Segment::Champions)
            .map(|c| (c.currency.as_str(), c.customers, c.value))
            .collect();
        assert_eq!(
            champions,
            vec![
                ("EUR", 2, Decimal::from(1100)),
                ("USD", 1, Decimal::from(600))
            ]
        );
        assert_eq!(counts.first().map(|c| c.segment), Some(Segment::Champions));
    }

    #[test]
    fn a_customer_lapses_after_more_than_twice_their_interval() {
        // As of 31 Oct 00:00.
        // 1: 4 orders 1 Oct .. 10 Oct: interval 3 days; 21 days since -> factor 7, lapsed.
        // 2: 3 orders 1 Oct .. 21 Oct: interval 10 days; 10 days since -> not lapsed.
        // 3: 2 orders 1 Oct .. 11 Oct: interval 10 days; exactly 20 days since -> not lapsed
        //    ("more than" twice).
        // 4: 2 orders 1 Oct 00:00 .. 10 Oct 12:00: interval 9.5 days; 20.5 days since ->
        //    factor 2.157… -> 2.16, lapsed.
        // 5: a single order: no rhythm yet.
        let mut four = activity(4, 2, 10, 1, 10);
        four.last_order_at = at(10, 12);
        let rows = [
            activity(1, 4, 10, 1, 10),
            activity(2, 3, 10, 1, 21),
            activity(3, 2, 10, 1, 11),
            four,
            activity(5, 1, 10, 5, 5),
        ];
        let lapsed = lapsed(&rows, at(31, 0));
        let got: Vec<(i64, Decimal, Decimal, Decimal)> = lapsed
            .iter()
            .map(|l| {
                (
                    l.customer_id.0,
                    l.average_interval_days,
                    l.days_since_last_order,
                    l.lapse_factor,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    1,
                    Decimal::new(300, 2),
                    Decimal::new(2100, 2),
                    Decimal::new(700, 2)
                ),
                (
                    4,
                    Decimal::new(950, 2),
                    Decimal::new(2050, 2),
                    Decimal::new(216, 2)
                ),
            ]
        );
    }

    #[test]
    fn a_customer_ordering_in_two_currencies_keeps_one_rhythm() {
        // EUR on 1 and 3 Oct, USD on 5 Oct: 3 orders, interval 2 days, 26 days since.
        let mut usd = activity(1, 1, 10, 5, 5);
        usd.currency = Currency::parse("USD").unwrap();
        let rows = [activity(1, 2, 10, 1, 3), usd];
        let lapsed = lapsed(&rows, at(31, 0));
        assert_eq!(lapsed.len(), 1);
        assert_eq!(lapsed[0].orders, 3);
        assert_eq!(lapsed[0].average_interval_days, Decimal::new(200, 2));
        assert_eq!(lapsed[0].lapse_factor, Decimal::new(1300, 2));
    }

    #[test]
    fn payment_behaviour_averages_days_late_over_all_paid_invoices() {
        let record = |rep, customer, invoices, on_time, days_late| SettlementRecord {
            sales_rep_id: domain::UserId(rep),
            customer_id: CustomerId(customer),
            invoices,
            on_time,
            days_late,
        };
        // Customer 7 with two reps: 4 invoices, 1 on time, 9 days late in all -> 2.25 -> 2.3.
        // Customer 8: 2 invoices, both on time.
        let records = [
            record(1, 7, 3, 1, 5),
            record(2, 7, 1, 0, 4),
            record(1, 8, 2, 2, 0),
        ];
        let (overall, customers) = payment_behaviour(&records);
        assert_eq!(overall.invoices_paid, 6);
        assert_eq!(overall.average_days_late(), Some(Decimal::new(15, 1)));
        assert_eq!(overall.on_time_share(), Some(Decimal::new(5000, 4)));
        assert_eq!(customers.len(), 2);
        assert_eq!(customers[0].0, CustomerId(7), "latest payer first");
        assert_eq!(
            customers[0].1.average_days_late(),
            Some(Decimal::new(23, 1))
        );
        assert_eq!(customers[0].1.on_time_share(), Some(Decimal::new(2500, 4)));
        assert_eq!(customers[1].1.average_days_late(), Some(Decimal::ZERO));
        assert_eq!(PaymentFigures::default().average_days_late(), None);
    }
}
