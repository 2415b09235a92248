//! Order review: rules evaluated on submit. Each finding has a stable code and a severity; the
//! worst severity decides where the order lands.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::ProductId;
use crate::lifecycle::OrderStatus;
use crate::money::Money;
use crate::order::OrderContent;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// For information; does not stop the order.
    Info,
    /// A manager must approve the order.
    NeedsApproval,
    /// The order must be revised before it can go on.
    Blocker,
}

/// One result of a review rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule code, e.g. `DISCOUNT_ABOVE_AUTHORITY`.
    pub code: String,
    /// Severity.
    pub severity: Severity,
    /// What was found, for the rep to negotiate with the customer.
    pub message: String,
    /// The line concerned, if the finding is about one line.
    pub line_no: Option<u32>,
}

/// Where a submitted order lands, given its findings: any BLOCKER -> NEEDS_REVISION, else any
/// NEEDS_APPROVAL -> PENDING_APPROVAL, else APPROVED.
#[must_use]
pub fn outcome_of(findings: &[Finding]) -> OrderStatus {
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Blocker) => OrderStatus::NeedsRevision,
        Some(Severity::NeedsApproval) => OrderStatus::PendingApproval,
        Some(Severity::Info) | None => OrderStatus::Approved,
    }
}

/// What the review rules need to know beyond the order itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewContext {
    /// The submitting rep's discount authority in percent.
    pub discount_authority: Decimal,
    /// Current list prices of the order's products.
    pub list_prices: HashMap<ProductId, Money>,
}

/// Runs the review rules on an order's content.
///
/// Rules: `NO_LINES`, `MISSING_DELIVERY_ADDRESS`, `MISSING_REQUESTED_DATE` (blockers);
/// `PRICE_BELOW_LIST` (a unit price under the list price without a discount) and
/// `DISCOUNT_ABOVE_AUTHORITY` (needs approval).
#[must_use]
pub fn evaluate(content: &OrderContent, ctx: &ReviewContext) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut blocker = |code: &str, message: &str| {
        findings.push(Finding {
            code: code.to_owned(),
            severity: Severity::Blocker,
            message: message.to_owned(),
            line_no: None,
        });
    };
    if content.lines.is_empty() {
        blocker("NO_LINES", "the order has no lines");
    }
    if content.delivery_address.is_none() {
        blocker("MISSING_DELIVERY_ADDRESS", "no delivery address");
    }
    if content.requested_date.is_none() {
        blocker("MISSING_REQUESTED_DATE", "no requested delivery date");
    }
    for line in &content.lines {
        if let Some(list) = ctx.list_prices.get(&line.product_id)
            && line.unit_price < list.amount()
            && line.discount.get().is_zero()
        {
            findings.push(Finding {
                code: "PRICE_BELOW_LIST".to_owned(),
                severity: Severity::NeedsApproval,
                message: format!(
                    "line {}: unit price {} is below the list price {} without a discount",
                    line.line_no,
                    line.unit_price,
                    list.amount()
                ),
                line_no: Some(line.line_no),
            });
        }
        if line.discount.get() > ctx.discount_authority {
            findings.push(Finding {
                code: "DISCOUNT_ABOVE_AUTHORITY".to_owned(),
                severity: Severity::NeedsApproval,
                message: format!(
                    "line {}: discount {}% is above the rep's authority of {}%",
                    line.line_no,
                    line.discount.get(),
                    ctx.discount_authority
                ),
                line_no: Some(line.line_no),
            });
        }
    }
    findings
}
