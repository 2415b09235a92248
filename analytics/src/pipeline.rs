//! The pipeline: conversion from submitted to confirmed, and what review found on the orders
//! submitted in a period.

use std::collections::{BTreeMap, BTreeSet};

use domain::ports::ConversionCounts;
use domain::review::{Finding, Severity};
use rust_decimal::Decimal;

use crate::stats::ratio;

/// Share of the submitted orders that were confirmed, from 0 to 1 rounded to 4 places; `None`
/// when nothing was submitted.
#[must_use]
pub fn conversion_rate(counts: ConversionCounts) -> Option<Decimal> {
    ratio(counts.confirmed, counts.submitted)
}

/// How often one review rule fired, at one severity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleOutcome {
    /// The rule code, e.g. `DISCOUNT_ABOVE_AUTHORITY`.
    pub code: String,
    /// The severity it had when it fired.
    pub severity: Severity,
    /// How many findings (a rule may fire once per line).
    pub findings: u64,
    /// How many orders had at least one such finding.
    pub orders: u64,
}

/// Counts findings per (rule code, severity) over the orders' finding lists (one list per
/// order), most findings first, then by code and severity.
#[must_use]
pub fn review_outcomes(orders: &[Vec<Finding>]) -> Vec<RuleOutcome> {
    let mut counts: BTreeMap<(&str, Severity), (u64, u64)> = BTreeMap::new();
    for findings in orders {
        let mut seen = BTreeSet::new();
        for finding in findings {
            let key = (finding.code.as_str(), finding.severity);
            let entry = counts.entry(key).or_default();
            entry.0 += 1;
            if seen.insert(key) {
                entry.1 += 1;
            }
        }
    }
    let mut outcomes: Vec<RuleOutcome> = counts
        .into_iter()
        .map(|((code, severity), (findings, orders))| RuleOutcome {
            code: code.to_owned(),
            severity,
            findings,
            orders,
        })
        .collect();
    // Stable: ties keep the (code, severity) order of the map.
    outcomes.sort_by_key(|o| std::cmp::Reverse(o.findings));
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: &str, severity: Severity, line_no: Option<u32>) -> Finding {
        Finding {
            code: code.to_owned(),
            severity,
            message: String::new(),
            line_no,
        }
    }

    #[test]
    fn conversion_is_confirmed_over_submitted_and_absent_without_submissions() {
        let counts = |submitted, confirmed| ConversionCounts {
            submitted,
            confirmed,
        };
        // 2 of 3: 0.66666... -> 0.6667.
        assert_eq!(conversion_rate(counts(3, 2)), Some(Decimal::new(6667, 4)));
        assert_eq!(conversion_rate(counts(4, 4)), Some(Decimal::ONE));
        assert_eq!(conversion_rate(counts(0, 0)), None);
    }

    #[test]
    fn outcomes_count_findings_and_the_orders_they_were_on_per_code_and_severity() {
        let orders = vec![
            // Two lines below list price, and an approval for the discount.
            vec![
                finding("PRICE_BELOW_LIST", Severity::Blocker, Some(1)),
                finding("PRICE_BELOW_LIST", Severity::Blocker, Some(2)),
                finding("DISCOUNT_ABOVE_AUTHORITY", Severity::NeedsApproval, Some(1)),
            ],
            vec![finding("PRICE_BELOW_LIST", Severity::Blocker, Some(3))],
            // The same rule configured as INFO at the time: a separate row.
            vec![finding("PRICE_BELOW_LIST", Severity::Info, None)],
            vec![],
        ];
        let outcome = |code: &str, severity, findings, orders| RuleOutcome {
            code: code.to_owned(),
            severity,
            findings,
            orders,
        };
        assert_eq!(
            review_outcomes(&orders),
            vec![
                outcome("PRICE_BELOW_LIST", Severity::Blocker, 3, 2),
                outcome("DISCOUNT_ABOVE_AUTHORITY", Severity::NeedsApproval, 1, 1),
                outcome("PRICE_BELOW_LIST", Severity::Info, 1, 1),
            ]
        );
    }
}
