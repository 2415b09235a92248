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
use crate::tracking::{
    ChangeStatus, ExceptionKind, FieldChange, MilestoneKind, Severity, ShipmentLine,
};

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
    /// A production or logistics milestone was reached.
    MilestoneRecorded {
        /// The milestone (filled in by storage).
        milestone_id: i64,
        /// Which.
        kind: MilestoneKind,
        /// When it happened.
        occurred_at: DateTime<Utc>,
        /// Remark.
        note: Option<String>,
    },
    /// The expected delivery date moved.
    ExpectedDateChanged {
        /// Before (none until first known).
        from: Option<NaiveDate>,
        /// After.
        to: NaiveDate,
        /// Why: a milestone, an exception's delay, a change.
        reason: String,
    },
    /// The expected delivery date passed the date promised to the customer.
    DeliveryAtRisk {
        /// The promised date.
        promised_date: NaiveDate,
        /// The expected date now.
        expected_date: NaiveDate,
    },
    /// Goods left: a shipment with its lines.
    ShipmentRecorded {
        /// The shipment (filled in by storage).
        shipment_id: i64,
        /// Carrier.
        carrier: String,
        /// The carrier's tracking number.
        tracking_number: Option<String>,
        /// What it carries.
        lines: Vec<ShipmentLine>,
    },
    /// A shipment arrived.
    ShipmentDelivered {
        /// The shipment.
        shipment_id: i64,
        /// When.
        delivered_at: DateTime<Utc>,
    },
    /// An exception was raised on the order.
    ExceptionRaised {
        /// The exception (filled in by storage).
        exception_id: i64,
        /// What kind.
        kind: ExceptionKind,
        /// How bad.
        severity: Severity,
        /// What happened.
        description: String,
        /// Estimated cost, in the order's currency.
        cost_impact: Decimal,
        /// Estimated delay in days.
        delay_days: u32,
    },
    /// The analysis of an exception was updated.
    ExceptionUpdated {
        /// The exception.
        exception_id: i64,
        /// Root cause, as analysed.
        root_cause: Option<String>,
        /// Actions taken or planned.
        actions: Option<String>,
    },
    /// An exception was resolved.
    ExceptionResolved {
        /// The exception.
        exception_id: i64,
        /// How it was resolved.
        resolution: String,
        /// What to do differently next time.
        lessons_learned: Option<String>,
    },
    /// A change to a confirmed order was proposed.
    ChangeRequested {
        /// The change request (filled in by storage).
        change_request_id: i64,
        /// Why.
        reason: String,
        /// New total minus old total.
        amount_delta: Decimal,
        /// Days the expected delivery moves.
        delay_days: i64,
        /// Whether it needs a manager because review flags the new content.
        review_required: bool,
    },
    /// A proposed change was approved or rejected.
    ChangeDecided {
        /// The change request.
        change_request_id: i64,
        /// APPROVED or REJECTED.
        decision: ChangeStatus,
        /// The decider's comment.
        comment: Option<String>,
    },
    /// An approved change was applied: the order's content moved to a new revision.
    OrderChanged {
        /// The change request.
        change_request_id: i64,
        /// The new revision.
        revision: i32,
        /// Each field changed, from and to.
        changes: Vec<FieldChange>,
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
            OrderEventKind::MilestoneRecorded { .. } => "MILESTONE_RECORDED",
            OrderEventKind::ExpectedDateChanged { .. } => "EXPECTED_DATE_CHANGED",
            OrderEventKind::DeliveryAtRisk { .. } => "DELIVERY_AT_RISK",
            OrderEventKind::ShipmentRecorded { .. } => "SHIPMENT_RECORDED",
            OrderEventKind::ShipmentDelivered { .. } => "SHIPMENT_DELIVERED",
            OrderEventKind::ExceptionRaised { .. } => "EXCEPTION_RAISED",
            OrderEventKind::ExceptionUpdated { .. } => "EXCEPTION_UPDATED",
            OrderEventKind::ExceptionResolved { .. } => "EXCEPTION_RESOLVED",
            OrderEventKind::ChangeRequested { .. } => "CHANGE_REQUESTED",
            OrderEventKind::ChangeDecided { .. } => "CHANGE_DECIDED",
            OrderEventKind::OrderChanged { .. } => "ORDER_CHANGED",
            OrderEventKind::StatusChanged { .. } => "STATUS_CHANGED",
        }
    }

    /// Whether a CUSTOMER user sees this event (timeline, feeds): what happens to their goods,
    /// dates, money and the content they agreed to; not review findings, internal analysis,
    /// collection work, exceptions or proposals still under discussion.
    #[must_use]
    pub fn customer_visible(&self) -> bool {
        matches!(
            self,
            OrderEventKind::OrderCreated { .. }
                | OrderEventKind::OrderConfirmed { .. }
                | OrderEventKind::StatusChanged { .. }
                | OrderEventKind::InvoiceIssued { .. }
                | OrderEventKind::InvoiceVoided { .. }
                | OrderEventKind::PaymentRecorded { .. }
                | OrderEventKind::PaymentStatusChanged { .. }
                | OrderEventKind::MilestoneRecorded { .. }
                | OrderEventKind::ExpectedDateChanged { .. }
                | OrderEventKind::ShipmentRecorded { .. }
                | OrderEventKind::ShipmentDelivered { .. }
                | OrderEventKind::OrderChanged { .. }
        )
    }

    /// Storage assigns the id of the record a command creates (milestone, shipment, exception,
    /// change request) and fills it into the event that announces it, which carries 0 until then.
    pub fn assign_record_id(&mut self, id: i64) {
        match self {
            OrderEventKind::MilestoneRecorded {
                milestone_id: slot, ..
            }
            | OrderEventKind::ShipmentRecorded {
                shipment_id: slot, ..
            }
            | OrderEventKind::ExceptionRaised {
                exception_id: slot, ..
            }
            | OrderEventKind::ChangeRequested {
                change_request_id: slot,
                ..
            } if *slot == 0 => {
                *slot = id;
            }
            _ => {}
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
