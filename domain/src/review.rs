//! Order review: rules evaluated on submit (and previewed by `reviewOrder`). Each finding has a
//! stable [`RuleCode`] and a severity that comes from the [`ReviewPolicy`]; the worst severity
//! decides where the order lands.
//!
//! The rules are pure: everything they need from storage (current list prices and lead times,
//! the customer's credit position, orders with the same PO reference) comes in a
//! [`ReviewContext`] the caller fills through the repository ports.

use std::collections::HashMap;
use std::fmt;

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::ProductId;
use crate::lifecycle::OrderStatus;
use crate::money::{Currency, Money, shown};
use crate::order::{OrderContent, check_total};

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

impl Severity {
    /// The stable upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::NeedsApproval => "NEEDS_APPROVAL",
            Severity::Blocker => "BLOCKER",
        }
    }
}

/// The review rules, each with a stable code (the API and the configuration file use the code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleCode {
    /// Completeness: the order has no lines.
    NoLines,
    /// Completeness: no delivery address.
    MissingDeliveryAddress,
    /// Completeness: no requested delivery date.
    MissingRequestedDate,
    /// Accuracy: a line's quantity is not above zero.
    QuantityNotPositive,
    /// Accuracy: a line's discount is outside 0..=100 percent.
    DiscountOutOfRange,
    /// Accuracy: a line's unit price differs from the product's current list price and the line
    /// has no discount (a price is negotiated through the discount, visibly).
    PriceNotList,
    /// Accuracy: a product is now priced in another currency than the order (one currency per order).
    CurrencyMismatch,
    /// Accuracy: the order total cannot be computed exactly from its lines (out of range).
    TotalInconsistent,
    /// A line's discount is above the submitting rep's authority.
    DiscountAboveAuthority,
    /// Open receivables + unbilled confirmed orders + this order exceed the customer's credit limit.
    CreditLimitExceeded,
    /// The requested date is sooner than today plus the longest lead time of the order's products.
    LeadTime,
    /// The order total is below the configured minimum for its currency.
    MinimumAmount,
    /// Another non-cancelled order of the same customer has the same customer PO reference.
    PossibleDuplicate,
}

impl RuleCode {
    /// Every rule, in the order they are evaluated and documented.
    pub const ALL: [RuleCode; 13] = [
        RuleCode::NoLines,
        RuleCode::MissingDeliveryAddress,
        RuleCode::MissingRequestedDate,
        RuleCode::QuantityNotPositive,
        RuleCode::DiscountOutOfRange,
        RuleCode::PriceNotList,
        RuleCode::CurrencyMismatch,
        RuleCode::TotalInconsistent,
        RuleCode::DiscountAboveAuthority,
        RuleCode::CreditLimitExceeded,
        RuleCode::LeadTime,
        RuleCode::MinimumAmount,
        RuleCode::PossibleDuplicate,
    ];

    /// The stable code, e.g. `DISCOUNT_ABOVE_AUTHORITY`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RuleCode::NoLines => "NO_LINES",
            RuleCode::MissingDeliveryAddress => "MISSING_DELIVERY_ADDRESS",
            RuleCode::MissingRequestedDate => "MISSING_REQUESTED_DATE",
            RuleCode::QuantityNotPositive => "QUANTITY_NOT_POSITIVE",
            RuleCode::DiscountOutOfRange => "DISCOUNT_OUT_OF_RANGE",
            RuleCode::PriceNotList => "PRICE_NOT_LIST",
            RuleCode::CurrencyMismatch => "CURRENCY_MISMATCH",
            RuleCode::TotalInconsistent => "TOTAL_INCONSISTENT",
            RuleCode::DiscountAboveAuthority => "DISCOUNT_ABOVE_AUTHORITY",
            RuleCode::CreditLimitExceeded => "CREDIT_LIMIT_EXCEEDED",
            RuleCode::LeadTime => "LEAD_TIME",
            RuleCode::MinimumAmount => "MINIMUM_AMOUNT",
            RuleCode::PossibleDuplicate => "POSSIBLE_DUPLICATE",
        }
    }

    /// Parses a stable code.
    ///
    /// # Errors
    /// `ValidationError::Invalid` naming the unknown code and listing the known ones.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
                ValidationError::invalid(
                    "rule",
                    format!("unknown review rule `{text}` (known: {})", known.join(", ")),
                )
            })
    }

    /// The severity when the configuration says nothing about the rule.
    #[must_use]
    pub fn default_severity(self) -> Severity {
        match self {
            RuleCode::NoLines
            | RuleCode::MissingDeliveryAddress
            | RuleCode::MissingRequestedDate
            | RuleCode::QuantityNotPositive
            | RuleCode::DiscountOutOfRange
            | RuleCode::CurrencyMismatch
            | RuleCode::TotalInconsistent => Severity::Blocker,
            RuleCode::PriceNotList
            | RuleCode::DiscountAboveAuthority
            | RuleCode::CreditLimitExceeded
            | RuleCode::LeadTime
            | RuleCode::MinimumAmount
            | RuleCode::PossibleDuplicate => Severity::NeedsApproval,
        }
    }

    /// One sentence on what the rule checks, for documentation and the `reviewRules` query.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            RuleCode::NoLines => "The order has at least one line.",
            RuleCode::MissingDeliveryAddress => "The order has a delivery address.",
            RuleCode::MissingRequestedDate => "The order has a requested delivery date.",
            RuleCode::QuantityNotPositive => "Every line's quantity is above zero.",
            RuleCode::DiscountOutOfRange => "Every line's discount is between 0 and 100 percent.",
            RuleCode::PriceNotList => {
                "A line without a discount is priced at the product's current list price."
            }
            RuleCode::CurrencyMismatch => {
                "Every product is still priced in the order's currency (one currency per order)."
            }
            RuleCode::TotalInconsistent => {
                "The order total can be computed exactly from its lines (within the money range)."
            }
            RuleCode::DiscountAboveAuthority => {
                "No line's discount is above the submitting rep's discount authority."
            }
            RuleCode::CreditLimitExceeded => {
                "Open receivables + unbilled confirmed orders + this order stay within the customer's credit limit."
            }
            RuleCode::LeadTime => {
                "The requested date is no sooner than today plus the longest lead time of the order's products."
            }
            RuleCode::MinimumAmount => {
                "The order total reaches the configured minimum for its currency."
            }
            RuleCode::PossibleDuplicate => {
                "No other non-cancelled order of the customer has the same customer PO reference."
            }
        }
    }
}

impl fmt::Display for RuleCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One result of a review rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule code (a [`RuleCode`] name), e.g. `DISCOUNT_ABOVE_AUTHORITY`.
    pub code: String,
    /// Severity, as configured when the review ran.
    pub severity: Severity,
    /// What was found, with the numbers, for the rep to negotiate with the customer.
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

/// The company's review configuration: a severity per rule (or off) and minimum order amounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewPolicy {
    severities: HashMap<RuleCode, Option<Severity>>,
    minimum_amounts: HashMap<Currency, Decimal>,
    rep_change_limits: HashMap<Currency, Decimal>,
}

fn non_negative(
    field: &'static str,
    amount: Decimal,
    currency: Currency,
) -> Result<Decimal, ValidationError> {
    if amount.is_sign_negative() {
        return Err(ValidationError::invalid(
            field,
            format!("{amount} {currency} is negative"),
        ));
    }
    Ok(amount)
}

impl Default for ReviewPolicy {
    /// Every rule at its [default severity](RuleCode::default_severity), no minimum amounts.
    fn default() -> Self {
        Self {
            severities: RuleCode::ALL
                .into_iter()
                .map(|c| (c, Some(c.default_severity())))
                .collect(),
            minimum_amounts: HashMap::new(),
            rep_change_limits: HashMap::new(),
        }
    }
}

impl ReviewPolicy {
    /// The rule's severity; `None` when the rule is switched off.
    #[must_use]
    pub fn severity(&self, code: RuleCode) -> Option<Severity> {
        self.severities
            .get(&code)
            .copied()
            .unwrap_or(Some(code.default_severity()))
    }

    /// Sets the rule's severity; `None` switches it off.
    pub fn set_severity(&mut self, code: RuleCode, severity: Option<Severity>) {
        self.severities.insert(code, severity);
    }

    /// The minimum order total in `currency`, if one is configured.
    #[must_use]
    pub fn minimum_amount(&self, currency: Currency) -> Option<Decimal> {
        self.minimum_amounts.get(&currency).copied()
    }

    /// Sets the minimum order total for `currency`.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for a negative amount.
    pub fn set_minimum_amount(
        &mut self,
        currency: Currency,
        amount: Decimal,
    ) -> Result<(), ValidationError> {
        self.minimum_amounts
            .insert(currency, non_negative("minimumAmount", amount, currency)?);
        Ok(())
    }

    /// How far (in either direction) a sales rep may move an order's total by approving a
    /// change request on their own, in `currency`; `None`: only managers decide changes.
    #[must_use]
    pub fn rep_change_limit(&self, currency: Currency) -> Option<Decimal> {
        self.rep_change_limits.get(&currency).copied()
    }

    /// Sets the rep's change authority for `currency`.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for a negative amount.
    pub fn set_rep_change_limit(
        &mut self,
        currency: Currency,
        amount: Decimal,
    ) -> Result<(), ValidationError> {
        self.rep_change_limits
            .insert(currency, non_negative("changeAuthority", amount, currency)?);
        Ok(())
    }

    /// The configured minimum amounts, by currency code.
    #[must_use]
    pub fn minimum_amounts(&self) -> Vec<Money> {
        let mut amounts: Vec<Money> = self
            .minimum_amounts
            .iter()
            .filter_map(|(currency, amount)| Money::new(*amount, *currency).ok())
            .collect();
        amounts.sort_by_key(|m| m.currency());
        amounts
    }
}

/// What the review needs to know about a product now (the line holds what it was when written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProductFacts {
    /// Current list price.
    pub list_price: Money,
    /// Current lead time in days.
    pub lead_time_days: u16,
}

/// The customer's credit position, from the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditPosition {
    /// The customer's credit limit (in the customer's invoicing currency).
    pub limit: Money,
    /// Invoiced and not yet paid, in the limit's currency.
    pub open_receivables: Decimal,
    /// Confirmed (or later), not cancelled, not yet invoiced orders, in the limit's currency,
    /// this order excluded.
    pub unbilled_confirmed: Decimal,
}

/// What the review rules need to know beyond the order itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewContext {
    /// Today (the caller's clock), for the lead-time rule.
    pub today: NaiveDate,
    /// The submitting rep's discount authority in percent.
    pub discount_authority: Decimal,
    /// Current facts of the order's products; a product missing here is not checked.
    pub products: HashMap<ProductId, ProductFacts>,
    /// The customer's credit position.
    pub credit: CreditPosition,
    /// Numbers of other non-cancelled orders of the customer with the same customer PO reference.
    pub same_po_orders: Vec<String>,
}

/// Runs every rule that the policy does not switch off on an order's content.
///
/// `currency` is the order's currency. Findings come in [`RuleCode::ALL`] order, line findings
/// in line order.
#[must_use]
pub fn evaluate(
    currency: Currency,
    content: &OrderContent,
    ctx: &ReviewContext,
    policy: &ReviewPolicy,
) -> Vec<Finding> {
    let mut raw: Vec<(RuleCode, String, Option<u32>)> = Vec::new();
    let mut order_level = |code: RuleCode, message: String| raw.push((code, message, None));

    if content.lines.is_empty() {
        order_level(RuleCode::NoLines, "the order has no lines".into());
    }
    if content.delivery_address.is_none() {
        order_level(
            RuleCode::MissingDeliveryAddress,
            "no delivery address".into(),
        );
    }
    if content.requested_date.is_none() {
        order_level(
            RuleCode::MissingRequestedDate,
            "no requested delivery date".into(),
        );
    }

    for line in &content.lines {
        let n = line.line_no;
        let mut at_line = |code: RuleCode, message: String| raw.push((code, message, Some(n)));
        let quantity = line.quantity.get();
        let discount = line.discount.get();
        if quantity <= Decimal::ZERO {
            at_line(
                RuleCode::QuantityNotPositive,
                format!("line {n}: quantity {quantity} is not above zero"),
            );
        }
        if discount.is_sign_negative() || discount > Decimal::ONE_HUNDRED {
            at_line(
                RuleCode::DiscountOutOfRange,
                format!("line {n}: discount {discount}% is outside 0..100"),
            );
        }
        if let Some(facts) = ctx.products.get(&line.product_id) {
            if facts.list_price.currency() != currency {
                at_line(
                    RuleCode::CurrencyMismatch,
                    format!(
                        "line {n}: {} is now priced in {}, the order is in {currency}",
                        line.sku,
                        facts.list_price.currency()
                    ),
                );
            } else if discount.is_zero() && line.unit_price != facts.list_price.amount() {
                let side = if line.unit_price < facts.list_price.amount() {
                    "below"
                } else {
                    "above"
                };
                at_line(
                    RuleCode::PriceNotList,
                    format!(
                        "line {n}: unit price {} is {side} the list price {} and the line has no discount",
                        shown(line.unit_price, currency),
                        shown(facts.list_price.amount(), currency)
                    ),
                );
            }
        }
        if discount > ctx.discount_authority {
            at_line(
                RuleCode::DiscountAboveAuthority,
                format!(
                    "line {n}: discount {discount}% is above the rep's authority of {}%",
                    ctx.discount_authority
                ),
            );
        }
    }

    // Totals feed the money rules below; a total that cannot be computed exactly would make
    // them meaningless (and the arithmetic overflow), so they are skipped then.
    let total = if check_total(&content.lines).is_ok()
        && content.lines.iter().all(|l| {
            l.quantity.get() > Decimal::ZERO
                && (Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&l.discount.get())
        }) {
        Some(
            content
                .lines
                .iter()
                .map(|l| l.total(currency))
                .sum::<Decimal>(),
        )
    } else {
        if check_total(&content.lines).is_err() {
            raw.push((
                RuleCode::TotalInconsistent,
                format!(
                    "the order total would exceed {} and cannot be computed exactly",
                    crate::money::max_amount()
                ),
                None,
            ));
        }
        None
    };

    if let Some(total) = total {
        let credit = &ctx.credit;
        // A limit in another currency cannot be compared without an exchange rate; the
        // repository sums only orders in the limit's currency for the same reason.
        if credit.limit.currency() == currency {
            let exposure = credit.open_receivables + credit.unbilled_confirmed + total;
            if exposure > credit.limit.amount() {
                raw.push((
                    RuleCode::CreditLimitExceeded,
                    format!(
                        "open receivables {} + unbilled confirmed orders {} + this order {} = {} {currency}, above the credit limit {}",
                        shown(credit.open_receivables, currency),
                        shown(credit.unbilled_confirmed, currency),
                        shown(total, currency),
                        shown(exposure, currency),
                        shown(credit.limit.amount(), currency)
                    ),
                    None,
                ));
            }
        }
        if let Some(minimum) = policy.minimum_amount(currency)
            && total < minimum
        {
            raw.push((
                RuleCode::MinimumAmount,
                format!(
                    "the order total {} {currency} is below the minimum of {} {currency}",
                    shown(total, currency),
                    shown(minimum, currency)
                ),
                None,
            ));
        }
    }

    if let Some(requested) = content.requested_date {
        let longest = content
            .lines
            .iter()
            .filter_map(|l| ctx.products.get(&l.product_id))
            .map(|f| f.lead_time_days)
            .max();
        if let Some(days) = longest {
            let earliest = ctx
                .today
                .checked_add_days(Days::new(u64::from(days)))
                .unwrap_or(NaiveDate::MAX);
            if requested < earliest {
                raw.push((
                    RuleCode::LeadTime,
                    format!(
                        "requested date {requested} is sooner than {earliest} (today + the longest lead time of {days} days)"
                    ),
                    None,
                ));
            }
        }
    }

    if content.customer_po.is_some() && !ctx.same_po_orders.is_empty() {
        raw.push((
            RuleCode::PossibleDuplicate,
            format!(
                "customer PO `{}` is also on {}",
                content.customer_po.as_deref().unwrap_or_default(),
                ctx.same_po_orders.join(", ")
            ),
            None,
        ));
    }

    let mut findings: Vec<(RuleCode, Finding)> = raw
        .into_iter()
        .filter_map(|(code, message, line_no)| {
            policy.severity(code).map(|severity| {
                (
                    code,
                    Finding {
                        code: code.as_str().to_owned(),
                        severity,
                        message,
                        line_no,
                    },
                )
            })
        })
        .collect();
    // Stable sort: rule order first, then the order the findings were produced (line order).
    findings.sort_by_key(|(code, _)| *code);
    findings.into_iter().map(|(_, f)| f).collect()
}
