//! Settlement: invoices (deposit and standard), payments, and how they move an order's payment
//! status. Pure: the caller loads the order with its invoices, these functions decide, and
//! persistence stores the result in one transaction with its events.
//!
//! Amounts: an invoice line is `quantity x unit price x (1 - discount)`, rounded once to the
//! currency's minor unit; invoicing a line's last remaining quantity takes exactly what is left of
//! the line total, so the invoices of a line always add up to the line total on the order.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::{PaymentTerms, optional_text, required_text};
use crate::error::ValidationError;
use crate::ids::{CustomerId, OrderId, UserId};
use crate::lifecycle::{OrderStatus, PaymentStatus};
use crate::money::{Currency, round_to_minor, shown};
use crate::order::Order;

/// What an invoice bills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvoiceKind {
    /// The deposit that DEPOSIT_<p>_NET_<n> terms ask for before production; due on issue.
    Deposit,
    /// Goods: the whole remaining order or some quantities; paid deposits are credited.
    Standard,
}

impl InvoiceKind {
    /// The stable upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceKind::Deposit => "DEPOSIT",
            InvoiceKind::Standard => "STANDARD",
        }
    }

    /// Parses the stable name.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for an unknown name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "DEPOSIT" => Ok(InvoiceKind::Deposit),
            "STANDARD" => Ok(InvoiceKind::Standard),
            _ => Err(ValidationError::invalid(
                "kind",
                format!("unknown invoice kind `{text}`"),
            )),
        }
    }
}

/// How a payment was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentMethod {
    /// Bank transfer.
    BankTransfer,
    /// Card.
    Card,
    /// Cash.
    Cash,
    /// Cheque.
    Cheque,
    /// WeChat Pay.
    WechatPay,
    /// Alipay.
    Alipay,
    /// Anything else.
    Other,
}

impl PaymentMethod {
    /// Every method.
    pub const ALL: [PaymentMethod; 7] = [
        PaymentMethod::BankTransfer,
        PaymentMethod::Card,
        PaymentMethod::Cash,
        PaymentMethod::Cheque,
        PaymentMethod::WechatPay,
        PaymentMethod::Alipay,
        PaymentMethod::Other,
    ];

    /// The stable upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::BankTransfer => "BANK_TRANSFER",
            PaymentMethod::Card => "CARD",
            PaymentMethod::Cash => "CASH",
            PaymentMethod::Cheque => "CHEQUE",
            PaymentMethod::WechatPay => "WECHAT_PAY",
            PaymentMethod::Alipay => "ALIPAY",
            PaymentMethod::Other => "OTHER",
        }
    }

    /// Parses the stable name.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for an unknown name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == text)
            .ok_or_else(|| ValidationError::invalid("method", format!("unknown method `{text}`")))
    }
}

impl fmt::Display for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part of one order line an invoice bills.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// The order line.
    pub line_no: u32,
    /// Quantity billed.
    pub quantity: Decimal,
    /// Amount billed for it.
    pub amount: Decimal,
}

/// An invoice as decided, before storage gives it an id and number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInvoice {
    /// The order billed.
    pub order_id: OrderId,
    /// The order's customer.
    pub customer_id: CustomerId,
    /// The order's rep.
    pub sales_rep_id: UserId,
    /// The order's currency.
    pub currency: Currency,
    /// Deposit or goods.
    pub kind: InvoiceKind,
    /// Issue date.
    pub issued_on: NaiveDate,
    /// Due date, from the payment terms.
    pub due_on: NaiveDate,
    /// Lines billed (empty for a deposit).
    pub lines: Vec<InvoiceLine>,
    /// Paid-or-invoiced deposit credited against this invoice's lines.
    pub deposit_credit: Decimal,
    /// What the customer owes on this invoice.
    pub amount: Decimal,
}

/// A stored invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    /// Identity.
    pub id: i64,
    /// Human-readable unique number, e.g. `INV-000042`.
    pub number: String,
    /// What was decided.
    pub details: NewInvoice,
    /// Sum of its payments.
    pub paid: Decimal,
    /// The date it became fully paid (the last payment's `receivedAt`).
    pub fully_paid_on: Option<NaiveDate>,
    /// Why it was voided, if it was.
    pub void_reason: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl Invoice {
    /// Whether it still counts (not voided).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.void_reason.is_none()
    }

    /// What is still owed: 0 for a voided invoice.
    #[must_use]
    pub fn outstanding(&self) -> Decimal {
        if self.is_valid() {
            self.details.amount - self.paid
        } else {
            Decimal::ZERO
        }
    }
}

/// A payment, before storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPayment {
    /// The invoice paid.
    pub invoice_id: i64,
    /// Amount, in the invoice's currency.
    pub amount: Decimal,
    /// How.
    pub method: PaymentMethod,
    /// Bank reference, cheque number...
    pub reference: Option<String>,
    /// When the money arrived.
    pub received_at: DateTime<Utc>,
    /// Who recorded it.
    pub recorded_by: UserId,
}

/// A stored payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// Identity.
    pub id: i64,
    /// What was recorded.
    pub details: NewPayment,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// Why an invoicing or payment request was refused. Nothing changes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    /// The order is not in a state that can be invoiced.
    #[error(
        "cannot invoice an order that is {0}: invoices start at CONFIRMED and stop at COMPLETED or CANCELLED"
    )]
    NotInvoiceable(OrderStatus),
    /// Bad input (quantities, amounts, dates), naming the field.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The invoice has payments and cannot be voided, or is already void.
    #[error("{0}")]
    Refused(String),
}

/// When an invoice is due under the order's terms: PREPAID and deposits on issue, NET_n and the
/// rest of a deposit order n days after issue.
#[must_use]
pub fn due_date(terms: PaymentTerms, kind: InvoiceKind, issued_on: NaiveDate) -> NaiveDate {
    let days = match (terms, kind) {
        (_, InvoiceKind::Deposit) | (PaymentTerms::Prepaid, _) => 0,
        (PaymentTerms::Net(days), InvoiceKind::Standard)
        | (PaymentTerms::Deposit { net_days: days, .. }, InvoiceKind::Standard) => days,
    };
    issued_on
        .checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX)
}

fn invoiceable(order: &Order) -> Result<(), SettlementError> {
    if order.status.is_confirmed_or_later()
        && !matches!(
            order.status,
            OrderStatus::Completed | OrderStatus::Cancelled
        )
    {
        Ok(())
    } else {
        Err(SettlementError::NotInvoiceable(order.status))
    }
}

/// Quantity and amount already billed per order line by valid standard invoices.
#[must_use]
pub fn invoiced_per_line(invoices: &[Invoice]) -> HashMap<u32, (Decimal, Decimal)> {
    let mut billed: HashMap<u32, (Decimal, Decimal)> = HashMap::new();
    for invoice in invoices
        .iter()
        .filter(|i| i.is_valid() && i.details.kind == InvoiceKind::Standard)
    {
        for line in &invoice.details.lines {
            let entry = billed.entry(line.line_no).or_default();
            entry.0 += line.quantity;
            entry.1 += line.amount;
        }
    }
    billed
}

/// Plans a deposit invoice: DEPOSIT terms only, one valid deposit invoice per order, before any
/// goods are invoiced. Amount: the deposit percentage of the order total, rounded to the minor unit.
///
/// # Errors
/// [`SettlementError`] when the order cannot take a deposit invoice now.
pub fn plan_deposit_invoice(
    order: &Order,
    invoices: &[Invoice],
    issued_on: NaiveDate,
) -> Result<NewInvoice, SettlementError> {
    invoiceable(order)?;
    let PaymentTerms::Deposit { percent, .. } = order.content.payment_terms else {
        return Err(ValidationError::invalid(
            "deposit",
            format!(
                "the order's terms {} ask for no deposit",
                order.content.payment_terms
            ),
        )
        .into());
    };
    if invoices.iter().any(Invoice::is_valid) {
        return Err(ValidationError::invalid(
            "deposit",
            "the order already has invoices; a deposit is invoiced first, once",
        )
        .into());
    }
    let amount = round_to_minor(
        order.total() * Decimal::from(percent) / Decimal::ONE_HUNDRED,
        order.currency,
    );
    Ok(NewInvoice {
        order_id: order.id,
        customer_id: order.customer_id,
        sales_rep_id: order.sales_rep_id,
        currency: order.currency,
        kind: InvoiceKind::Deposit,
        issued_on,
        due_on: due_date(order.content.payment_terms, InvoiceKind::Deposit, issued_on),
        lines: Vec::new(),
        deposit_credit: Decimal::ZERO,
        amount,
    })
}

/// Plans a standard invoice for the given `(line_no, quantity)` pairs, or for every remaining
/// quantity when `requested` is `None`. Quantities never exceed what is left to invoice; the
/// deposit invoiced and not yet credited is deducted (up to this invoice's lines).
///
/// # Errors
/// [`SettlementError`] naming the line and the quantity left, or when nothing is left.
pub fn plan_invoice(
    order: &Order,
    invoices: &[Invoice],
    requested: Option<&[(u32, Decimal)]>,
    issued_on: NaiveDate,
) -> Result<NewInvoice, SettlementError> {
    invoiceable(order)?;
    let billed = invoiced_per_line(invoices);
    let left = |line_no: u32| -> Option<(Decimal, Decimal, Decimal)> {
        let line = order.content.lines.iter().find(|l| l.line_no == line_no)?;
        let (qty, amount) = billed.get(&line_no).copied().unwrap_or_default();
        let unit_net =
            line.unit_price * (Decimal::ONE_HUNDRED - line.discount.get()) / Decimal::ONE_HUNDRED;
        Some((
            line.quantity.get() - qty,
            line.total(order.currency) - amount,
            unit_net,
        ))
    };
    let wanted: Vec<(u32, Decimal)> = match requested {
        Some(pairs) => pairs.to_vec(),
        None => order
            .content
            .lines
            .iter()
            .filter_map(|l| left(l.line_no).map(|(q, _, _)| (l.line_no, q)))
            .filter(|(_, q)| *q > Decimal::ZERO)
            .collect(),
    };
    if wanted.is_empty() {
        return Err(ValidationError::invalid(
            "lines",
            "everything on the order is already invoiced",
        )
        .into());
    }
    let mut lines: Vec<InvoiceLine> = Vec::new();
    for (line_no, quantity) in wanted {
        if lines.iter().any(|l| l.line_no == line_no) {
            return Err(ValidationError::invalid(
                "lines",
                format!("line {line_no} is listed twice"),
            )
            .into());
        }
        let (qty_left, amount_left, unit_net) = left(line_no).ok_or_else(|| {
            ValidationError::invalid("lines", format!("the order has no line {line_no}"))
        })?;
        if quantity <= Decimal::ZERO || quantity.normalize().scale() > 3 {
            return Err(ValidationError::invalid(
                "quantity",
                format!(
                    "line {line_no}: {quantity} is not a positive quantity with at most 3 decimals"
                ),
            )
            .into());
        }
        if quantity > qty_left {
            return Err(ValidationError::invalid(
                "quantity",
                format!("line {line_no}: {quantity} is more than the {qty_left} left to invoice"),
            )
            .into());
        }
        let amount = if quantity == qty_left {
            amount_left
        } else {
            round_to_minor(quantity * unit_net, order.currency).min(amount_left)
        };
        lines.push(InvoiceLine {
            line_no,
            quantity,
            amount,
        });
    }
    let lines_amount: Decimal = lines.iter().map(|l| l.amount).sum();
    let deposits: Decimal = invoices
        .iter()
        .filter(|i| i.is_valid() && i.details.kind == InvoiceKind::Deposit)
        .map(|i| i.details.amount)
        .sum();
    let credited: Decimal = invoices
        .iter()
        .filter(|i| i.is_valid())
        .map(|i| i.details.deposit_credit)
        .sum();
    let deposit_credit = (deposits - credited).max(Decimal::ZERO).min(lines_amount);
    Ok(NewInvoice {
        order_id: order.id,
        customer_id: order.customer_id,
        sales_rep_id: order.sales_rep_id,
        currency: order.currency,
        kind: InvoiceKind::Standard,
        issued_on,
        due_on: due_date(
            order.content.payment_terms,
            InvoiceKind::Standard,
            issued_on,
        ),
        lines,
        deposit_credit,
        amount: lines_amount - deposit_credit,
    })
}

/// Checks a payment against its invoice: positive, in the currency's minor units, not above
/// the open balance, on a valid invoice, and not received in the future.
///
/// # Errors
/// `ValidationError` naming `amount` (with the open balance) or `receivedAt`.
pub fn check_payment(
    invoice: &Invoice,
    mut payment: NewPayment,
    now: DateTime<Utc>,
) -> Result<NewPayment, SettlementError> {
    let currency = invoice.details.currency;
    if !invoice.is_valid() {
        return Err(SettlementError::Refused(format!(
            "invoice {} is void",
            invoice.number
        )));
    }
    if payment.amount <= Decimal::ZERO
        || payment.amount.normalize().scale() > currency.minor_units()
    {
        return Err(ValidationError::invalid(
            "amount",
            format!(
                "{} is not a positive amount in {currency} (at most {} decimals)",
                payment.amount,
                currency.minor_units()
            ),
        )
        .into());
    }
    let balance = invoice.outstanding();
    if payment.amount > balance {
        return Err(ValidationError::invalid(
            "amount",
            format!(
                "{} is above the open balance of invoice {}: {} {currency}",
                payment.amount,
                invoice.number,
                shown(balance, currency)
            ),
        )
        .into());
    }
    if payment.received_at > now + chrono::Duration::minutes(1) {
        return Err(ValidationError::invalid(
            "receivedAt",
            format!("{} is in the future", payment.received_at),
        )
        .into());
    }
    payment.reference = optional_text("reference", payment.reference.as_deref(), 200)?;
    Ok(payment)
}

/// Checks a void: only an invoice without payments, with a reason.
///
/// # Errors
/// [`SettlementError::Refused`] when paid or already void; `Validation` for an empty reason.
pub fn check_void(invoice: &Invoice, reason: &str) -> Result<String, SettlementError> {
    if !invoice.is_valid() {
        return Err(SettlementError::Refused(format!(
            "invoice {} is already void",
            invoice.number
        )));
    }
    if invoice.paid > Decimal::ZERO {
        return Err(SettlementError::Refused(format!(
            "invoice {} has payments ({} {}); only an unpaid invoice can be voided",
            invoice.number,
            shown(invoice.paid, invoice.details.currency),
            invoice.details.currency
        )));
    }
    Ok(required_text("reason", reason, 1000)?)
}

/// The order's payment status from its invoices: UNINVOICED without valid invoices, PAID when
/// the payments cover the whole order total, INVOICED when nothing is paid, else PARTIALLY_PAID.
#[must_use]
pub fn payment_status(order_total: Decimal, invoices: &[Invoice]) -> PaymentStatus {
    let valid: Vec<&Invoice> = invoices.iter().filter(|i| i.is_valid()).collect();
    if valid.is_empty() {
        return PaymentStatus::Uninvoiced;
    }
    let paid: Decimal = valid.iter().map(|i| i.paid).sum();
    if paid >= order_total {
        PaymentStatus::Paid
    } else if paid.is_zero() {
        PaymentStatus::Invoiced
    } else {
        PaymentStatus::PartiallyPaid
    }
}

/// Why the order may not go into production (or ship from stock) yet as far as money is
/// concerned: PREPAID orders must be fully paid, DEPOSIT orders must have received at least the
/// deposit; NET orders always may. `None` when nothing is missing.
#[must_use]
pub fn production_payment_gap(order: &Order, invoices: &[Invoice]) -> Option<String> {
    match order.content.payment_terms {
        PaymentTerms::Net(_) => None,
        PaymentTerms::Prepaid => (payment_status(order.total(), invoices) != PaymentStatus::Paid)
            .then(|| "PREPAID terms: the order must be paid in full before production".to_owned()),
        PaymentTerms::Deposit { percent, .. } => {
            // What counts is money received, whichever invoice brought it: a customer who was
            // invoiced for goods first and paid them has paid more than the deposit.
            let required = round_to_minor(
                order.total() * Decimal::from(percent) / Decimal::ONE_HUNDRED,
                order.currency,
            );
            let received: Decimal = invoices
                .iter()
                .filter(|i| i.is_valid())
                .map(|i| i.paid)
                .sum();
            (received < required).then(|| {
                format!("the {percent}% deposit must be paid before production (issueInvoice with deposit: true, then recordPayment)")
            })
        }
    }
}

/// What was done to collect an invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CollectionKind {
    /// A payment reminder was sent.
    Reminder,
    /// The customer was called about it.
    Call,
    /// The customer promised to pay by a date (and maybe an amount).
    PromiseToPay,
    /// The customer disputes the invoice.
    Dispute,
}

impl CollectionKind {
    /// The stable upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CollectionKind::Reminder => "REMINDER",
            CollectionKind::Call => "CALL",
            CollectionKind::PromiseToPay => "PROMISE_TO_PAY",
            CollectionKind::Dispute => "DISPUTE",
        }
    }

    /// Parses the stable name.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for an unknown name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        [
            CollectionKind::Reminder,
            CollectionKind::Call,
            CollectionKind::PromiseToPay,
            CollectionKind::Dispute,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
        .ok_or_else(|| ValidationError::invalid("kind", format!("unknown kind `{text}`")))
    }
}

/// A collection activity on an invoice, before storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCollectionActivity {
    /// The invoice.
    pub invoice_id: i64,
    /// Who did it.
    pub user_id: UserId,
    /// What.
    pub kind: CollectionKind,
    /// Notes.
    pub note: Option<String>,
    /// PROMISE_TO_PAY: by when.
    pub promised_date: Option<NaiveDate>,
    /// PROMISE_TO_PAY: how much (the whole open balance when absent).
    pub promised_amount: Option<Decimal>,
}

impl NewCollectionActivity {
    /// Checks the activity against its invoice: a promise needs a date and at most the open
    /// balance; other kinds take no promise; the invoice must be valid and not paid.
    ///
    /// # Errors
    /// `ValidationError` naming the field.
    pub fn validate(mut self, invoice: &Invoice) -> Result<Self, SettlementError> {
        if !invoice.is_valid() || invoice.outstanding().is_zero() {
            return Err(SettlementError::Refused(format!(
                "invoice {} has nothing to collect",
                invoice.number
            )));
        }
        self.note = optional_text("note", self.note.as_deref(), 4000)?;
        let currency = invoice.details.currency;
        match self.kind {
            CollectionKind::PromiseToPay => {
                if self.promised_date.is_none() {
                    return Err(ValidationError::invalid(
                        "promisedDate",
                        "a promise to pay needs the date",
                    )
                    .into());
                }
                if let Some(amount) = self.promised_amount
                    && (amount <= Decimal::ZERO
                        || amount > invoice.outstanding()
                        || amount.normalize().scale() > currency.minor_units())
                {
                    return Err(ValidationError::invalid(
                        "promisedAmount",
                        format!(
                            "{amount} is not between 0 and the open balance {} {currency}",
                            shown(invoice.outstanding(), currency)
                        ),
                    )
                    .into());
                }
            }
            _ => {
                let field = match (self.promised_date, self.promised_amount) {
                    (Some(_), _) => Some("promisedDate"),
                    (None, Some(_)) => Some("promisedAmount"),
                    (None, None) => None,
                };
                if let Some(field) = field {
                    return Err(ValidationError::invalid(
                        field,
                        "only a PROMISE_TO_PAY has a promised date or amount",
                    )
                    .into());
                }
            }
        }
        Ok(self)
    }
}

/// A stored collection activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectionActivity {
    /// Identity.
    pub id: i64,
    /// What was logged.
    pub details: NewCollectionActivity,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Whether a promise to pay was broken as of `today`: its date has passed and the payments
/// received from the promise up to its date fall short of the promised amount (of the whole
/// balance at the time, when no amount was promised: then the invoice must be paid by the date).
#[must_use]
pub fn promise_broken(
    promise: &CollectionActivity,
    invoice: &Invoice,
    payments: &[Payment],
    today: NaiveDate,
) -> bool {
    let Some(date) = promise.details.promised_date else {
        return false;
    };
    if promise.details.kind != CollectionKind::PromiseToPay || today <= date {
        return false;
    }
    match promise.details.promised_amount {
        Some(amount) => {
            let kept: Decimal = payments
                .iter()
                .filter(|p| {
                    p.created_at >= promise.created_at && p.details.received_at.date_naive() <= date
                })
                .map(|p| p.details.amount)
                .sum();
            kept < amount
        }
        None => invoice.fully_paid_on.is_none_or(|paid| paid > date),
    }
}
