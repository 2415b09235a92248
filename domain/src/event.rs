//! Domain events: what happened to an order. Stored with the change, in the same transaction;
//! the timeline, subscriptions and analytics read them.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, UserId};
use crate::lifecycle::{OrderStatus, PaymentStatus};
use crate::money::Currency;
use crate::order::Confirmation;
use crate::review::Finding;
use crate::settlement::{CollectionKind, InvoiceKind, PaymentMethod};

/// What happened, with its data. Serialised as `{"type": "...", "data": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderEventKind {
    /// The order was created as a draft.
    OrderCreated {
        /// Its number.
        number: String,
        /// Its total at creation.
        total: Decimal,
        /// Its currency.
        currency: Currency,
        /// How many lines.
        line_count: u32,
    },
    /// Draft content was edited.
    DraftUpdated {
        /// The API names of the fields that changed.
        changed: Vec<String>,
    },
    /// Review ran on submit.
    ReviewCompleted {
        /// What it found.
        findings: Vec<Finding>,
        /// Where the order landed.
        outcome: OrderStatus,
    },
    /// The customer's confirmation was recorded.
    OrderConfirmed {
        /// The confirmation.
        confirmation: Confirmation,
    },
    /// An invoice was issued.
    InvoiceIssued {
        /// The invoice (filled in by storage, which assigns it).
        invoice_id: i64,
        /// Its number (filled in by storage).
        number: String,
        /// Deposit or goods.
        kind: InvoiceKind,
        /// What the customer owes on it.
        amount: Decimal,
        /// Its currency.
        currency: Currency,
        /// When it is due.
        due_on: NaiveDate,
    },
    /// An unpaid invoice was voided.
    InvoiceVoided {
        /// The invoice.
        invoice_id: i64,
        /// Its number.
        number: String,
        /// Why.
        reason: String,
    },
    /// A payment was recorded against an invoice.
    PaymentRecorded {
        /// The invoice.
        invoice_id: i64,
        /// Its number.
        invoice_number: String,
        /// The payment (filled in by storage).
        payment_id: i64,
        /// Amount.
        amount: Decimal,
        /// How.
        method: PaymentMethod,
        /// Bank reference, cheque number...
        reference: Option<String>,
        /// When the money arrived.
        received_at: DateTime<Utc>,
        /// What is still owed on the invoice afterwards.
        invoice_outstanding: Decimal,
    },
    /// A collection activity was logged on one of the order's invoices.
    CollectionLogged {
        /// The invoice.
        invoice_id: i64,
        /// Its number.
        invoice_number: String,
        /// The activity (filled in by storage).
        activity_id: i64,
        /// What was done.
        kind: CollectionKind,
        /// PROMISE_TO_PAY: by when.
        promised_date: Option<NaiveDate>,
        /// PROMISE_TO_PAY: how much.
        promised_amount: Option<Decimal>,
    },
    /// The order's payment status changed (an invoice issued or voided, a payment recorded).
    PaymentStatusChanged {
        /// Before.
        from: PaymentStatus,
        /// After.
        to: PaymentStatus,
    },
    /// The order moved to another sales rep; the previous rep no longer sees it.
    OrderReassigned {
        /// The previous rep.
        from: UserId,
        /// The new rep.
        to: UserId,
        /// Why.
        reason: Option<String>,
    },
    /// The main status changed.
    StatusChanged {
        /// Before.
        from: OrderStatus,
        /// After.
        to: OrderStatus,
        /// Comment or reason given with the command.
        reason: Option<String>,
    },
}

impl OrderEventKind {
    /// The stable type name (`ORDER_CREATED`, `STATUS_CHANGED`, ...).
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            OrderEventKind::OrderCreated { .. } => "ORDER_CREATED",
            OrderEventKind::DraftUpdated { .. } => "DRAFT_UPDATED",
            OrderEventKind::ReviewCompleted { .. } => "REVIEW_COMPLETED",
            OrderEventKind::OrderConfirmed { .. } => "ORDER_CONFIRMED",
            OrderEventKind::InvoiceIssued { .. } => "INVOICE_ISSUED",
            OrderEventKind::InvoiceVoided { .. } => "INVOICE_VOIDED",
            OrderEventKind::PaymentRecorded { .. } => "PAYMENT_RECORDED",
            OrderEventKind::PaymentStatusChanged { .. } => "PAYMENT_STATUS_CHANGED",
            OrderEventKind::CollectionLogged { .. } => "COLLECTION_LOGGED",
            OrderEventKind::OrderReassigned { .. } => "ORDER_REASSIGNED",
            OrderEventKind::StatusChanged { .. } => "STATUS_CHANGED",
        }
    }
}

/// An event as stored in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Global sequence number: gap-free and in commit order.
    pub seq: i64,
    /// The order it concerns.
    pub order_id: OrderId,
    /// The order's number.
    pub order_number: String,
    /// The order's customer (for routing and visibility).
    pub customer_id: CustomerId,
    /// The order's rep (for routing and visibility).
    pub sales_rep_id: UserId,
    /// The order's version after the command.
    pub order_version: i64,
    /// Who did it.
    pub actor_id: UserId,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: OrderEventKind,
}
