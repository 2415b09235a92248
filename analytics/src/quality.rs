//! Quality: the exception Pareto, which kinds and root causes cost the most, with what was
//! learned from them.

use std::collections::BTreeMap;

use domain::money::Currency;
use domain::ports::{ExceptionGroup, Lesson, QualityCounts};
use domain::tracking::ExceptionKind;
use rust_decimal::Decimal;

use crate::stats::ratio;

/// Most lessons listed per Pareto entry.
pub const LESSONS_PER_ENTRY: usize = 10;

/// The root cause shown for exceptions not analysed yet.
pub const UNANALYSED: &str = "unanalysed";

/// One bar of the Pareto chart: the exceptions of one kind and root cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParetoEntry {
    /// What went wrong.
    pub kind: ExceptionKind,
    /// The root cause as written, or [`UNANALYSED`].
    pub root_cause: String,
    /// How many exceptions.
    pub exceptions: u64,
    /// This entry's share of all exceptions, 0 to 1, rounded to 4 places.
    pub share: Option<Decimal>,
    /// The share of this entry and all before it, 0 to 1, rounded to 4 places.
    pub cumulative_share: Option<Decimal>,
    /// Estimated cost impact per currency (ordered by currency code), never added across them.
    pub cost_impact: Vec<(Currency, Decimal)>,
    /// Estimated delay, in days, summed.
    pub delay_days: u64,
    /// Distinct lessons learned of the resolved ones, most recently resolved first, at most
    /// [`LESSONS_PER_ENTRY`].
    pub lessons: Vec<String>,
}

/// Groups by kind and root cause (currencies merged, their costs kept apart), most exceptions
/// first (ties: kind, then root cause), with each entry's share and the running share, and
/// attaches `lessons` (most recent first) to their entry.
#[must_use]
pub fn pareto(groups: &[ExceptionGroup], lessons: &[Lesson]) -> Vec<ParetoEntry> {
    let label = |root: &Option<String>| root.clone().unwrap_or_else(|| UNANALYSED.to_owned());
    let mut entries: BTreeMap<(ExceptionKind, String), ParetoEntry> = BTreeMap::new();
    for group in groups {
        let root_cause = label(&group.root_cause);
        let entry = entries
            .entry((group.kind, root_cause.clone()))
            .or_insert_with(|| ParetoEntry {
                kind: group.kind,
                root_cause,
                exceptions: 0,
                share: None,
                cumulative_share: None,
                cost_impact: Vec::new(),
                delay_days: 0,
                lessons: Vec::new(),
            });
        entry.exceptions += group.exceptions;
        entry.delay_days += group.delay_days;
        match entry
            .cost_impact
            .iter_mut()
            .find(|(c, _)| *c == group.currency)
        {
            Some((_, cost)) => *cost += group.cost_impact,
            None => entry.cost_impact.push((group.currency, group.cost_impact)),
        }
    }
    for lesson in lessons {
        if let Some(entry) = entries.get_mut(&(lesson.kind, label(&lesson.root_cause)))
            && entry.lessons.len() < LESSONS_PER_ENTRY
            && !entry.lessons.contains(&lesson.lessons_learned)
        {
            entry.lessons.push(lesson.lessons_learned.clone());
        }
    }
    let mut sorted: Vec<ParetoEntry> = entries.into_values().collect();
    // Stable: ties keep the (kind, root cause) order of the map.
    sorted.sort_by_key(|e| std::cmp::Reverse(e.exceptions));
    let total: u64 = sorted.iter().map(|e| e.exceptions).sum();
    let mut running = 0;
    for entry in &mut sorted {
        running += entry.exceptions;
        entry.share = ratio(entry.exceptions, total);
        entry.cumulative_share = ratio(running, total);
        entry
            .cost_impact
            .sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    }
    sorted
}

/// How often orders needed changes or ran into exceptions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QualityRates {
    /// Submitted orders created in the period.
    pub orders: u64,
    /// Those with at least one change request.
    pub orders_with_change_requests: u64,
    /// Change requests on them.
    pub change_requests: u64,
    /// `orders_with_change_requests / orders`, 4 places; `None` without orders.
    pub change_request_rate: Option<Decimal>,
    /// Those with at least one exception.
    pub orders_with_exceptions: u64,
    /// Exceptions on them.
    pub exceptions: u64,
    /// `orders_with_exceptions / orders`, 4 places; `None` without orders.
    pub exception_rate: Option<Decimal>,
}

/// Sums the per-rep counts into rates.
#[must_use]
pub fn quality_rates(counts: &[QualityCounts]) -> QualityRates {
    let mut rates = QualityRates::default();
    for c in counts {
        rates.orders += c.orders;
        rates.orders_with_change_requests += c.orders_with_change_requests;
        rates.change_requests += c.change_requests;
        rates.orders_with_exceptions += c.orders_with_exceptions;
        rates.exceptions += c.exceptions;
    }
    rates.change_request_rate = ratio(rates.orders_with_change_requests, rates.orders);
    rates.exception_rate = ratio(rates.orders_with_exceptions, rates.orders);
    rates
}

/// Cost (per currency, by code) and delay totals of the exception groups.
#[must_use]
pub fn impact_totals(groups: &[ExceptionGroup]) -> (Vec<(Currency, Decimal)>, u64) {
    let mut cost: BTreeMap<Currency, Decimal> = BTreeMap::new();
    let mut delay = 0;
    for group in groups {
        *cost.entry(group.currency).or_default() += group.cost_impact;
        delay += group.delay_days;
    }
    (cost.into_iter().collect(), delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(
        kind: ExceptionKind,
        root: Option<&str>,
        code: &str,
        exceptions: u64,
        cost: i64,
        delay_days: u64,
    ) -> ExceptionGroup {
        ExceptionGroup {
            kind,
            root_cause: root.map(str::to_owned),
            currency: Currency::parse(code).unwrap(),
            exceptions,
            cost_impact: Decimal::new(cost, 0),
            delay_days,
        }
    }

    fn lesson(kind: ExceptionKind, root: Option<&str>, text: &str) -> Lesson {
        Lesson {
            kind,
            root_cause: root.map(str::to_owned),
            lessons_learned: text.to_owned(),
        }
    }

    #[test]
    fn entries_are_sorted_by_count_with_running_shares_and_costs_per_currency() {
        use ExceptionKind::{Delay, Quality};
        let groups = [
            group(Delay, Some("supplier late"), "EUR", 3, 300, 12),
            group(Delay, Some("supplier late"), "USD", 2, 50, 4),
            group(Quality, None, "EUR", 2, 1000, 0),
            group(Quality, Some("bad batch"), "EUR", 1, 80, 2),
        ];
        let lessons = [
            lesson(Delay, Some("supplier late"), "order earlier"),
            lesson(Delay, Some("supplier late"), "second supplier"),
            lesson(Delay, Some("supplier late"), "order earlier"),
            lesson(Quality, Some("bad batch"), "inspect on arrival"),
        ];
        let entries = pareto(&groups, &lessons);
        // 8 exceptions: 5 (0.625), 2 (0.25, running 0.875), 1 (0.125, running 1).
        let summary: Vec<_> = entries
            .iter()
            .map(|e| {
                (
                    e.kind,
                    e.root_cause.as_str(),
                    e.exceptions,
                    e.share.unwrap().to_string(),
                    e.cumulative_share.unwrap().to_string(),
                    e.delay_days,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    Delay,
                    "supplier late",
                    5,
                    "0.625".into(),
                    "0.625".into(),
                    16
                ),
                (Quality, "unanalysed", 2, "0.25".into(), "0.875".into(), 0),
                (Quality, "bad batch", 1, "0.125".into(), "1".into(), 2),
            ]
        );
        let eur = Currency::parse("EUR").unwrap();
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(
            entries[0].cost_impact,
            vec![(eur, Decimal::new(300, 0)), (usd, Decimal::new(50, 0))]
        );
        assert_eq!(entries[0].lessons, vec!["order earlier", "second supplier"]);
        assert!(entries[1].lessons.is_empty());
        assert_eq!(entries[2].lessons, vec!["inspect on arrival"]);
        assert!(pareto(&[], &[]).is_empty());
    }

    #[test]
    fn rates_are_shares_of_orders_and_impacts_stay_per_currency() {
        let counts =
            |rep, orders, with_changes, changes, with_exceptions, exceptions| QualityCounts {
                sales_rep_id: domain::UserId(rep),
                orders,
                orders_with_change_requests: with_changes,
                change_requests: changes,
                orders_with_exceptions: with_exceptions,
                exceptions,
            };
        // 8 orders: 1 + 2 changed (4 requests), 3 + 0 with exceptions (5 of them).
        let rates = quality_rates(&[counts(1, 5, 1, 1, 3, 5), counts(2, 3, 2, 3, 0, 0)]);
        assert_eq!(rates.orders, 8);
        assert_eq!(rates.change_requests, 4);
        assert_eq!(rates.change_request_rate, Some(Decimal::new(3750, 4)));
        assert_eq!(rates.exception_rate, Some(Decimal::new(3750, 4)));
        assert_eq!(quality_rates(&[]).exception_rate, None);

        let groups = [
            group(ExceptionKind::Quality, None, "USD", 1, 50_000, 2),
            group(ExceptionKind::Delay, Some("x"), "EUR", 2, 12_345, 3),
            group(ExceptionKind::Quality, Some("y"), "EUR", 1, 10_000, 0),
        ];
        let (cost, delay) = impact_totals(&groups);
        let cost: Vec<(String, Decimal)> = cost
            .into_iter()
            .map(|(c, amount)| (c.as_str().to_owned(), amount))
            .collect();
        assert_eq!(
            cost,
            vec![
                ("EUR".to_owned(), Decimal::new(22_345, 0)),
                ("USD".to_owned(), Decimal::new(50_000, 0)),
            ]
        );
        assert_eq!(delay, 5);
    }
}
