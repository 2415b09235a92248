//! Settlement use cases: issuing and voiding invoices, recording payments, and the production
//! gate of prepaid and deposit terms. Each change is decided on the order with all its invoices
//! and stored against the order's version; a concurrent change makes the store refuse, and the
//! use case decides again on fresh data (payments carry no `expectedVersion`, so a busy order
//! must not bounce them back to the client).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::event::OrderEventKind;
use domain::lifecycle::complete_if_settled;
use domain::order::Order;
use domain::ports::{
    IdempotencyClaim, RepoError, SettlementChange, SettlementRepository, TrackingRepository,
};
use domain::settlement::{
    CollectionActivity, Invoice, NewCollectionActivity, NewPayment, Payment, PaymentMethod,
    check_payment, check_void, payment_status, plan_deposit_invoice, plan_invoice,
    production_payment_gap, promise_broken,
};
use domain::user::{Actor, Scope};
use domain::{OrderId, ValidationError};
use rust_decimal::Decimal;

use super::{Services, staff_only};
use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::loaders::Loaders;

/// How often a settlement change is decided again after losing a race on the order's version.
const MAX_ATTEMPTS: u32 = 30;

/// Input of `recordPayment`, parsed.
#[derive(Clone, Debug)]
pub struct PaymentInput {
    /// Amount.
    pub amount: Decimal,
    /// How.
    pub method: PaymentMethod,
    /// Bank reference, cheque number...
    pub reference: Option<String>,
    /// When the money arrived; now when absent.
    pub received_at: Option<DateTime<Utc>>,
}

/// What `issueInvoice` bills.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvoiceRequest {
    /// The deposit of DEPOSIT terms.
    Deposit,
    /// These quantities of these lines.
    Lines(Vec<(u32, Decimal)>),
    /// What has shipped and is not invoiced yet.
    Shipped,
    /// Everything not invoiced yet.
    Everything,
}

/// An invoice the caller should chase.
#[derive(Clone, Debug)]
pub struct CollectionItem {
    /// The invoice.
    pub invoice: Invoice,
    /// Days past due today.
    pub days_overdue: i64,
    /// The latest promise to pay that was broken, if any.
    pub broken_promise: Option<CollectionActivity>,
}

/// What a settlement mutation returns.
#[derive(Clone, Debug)]
pub struct Settled {
    /// The order after the change.
    pub order: Order,
    /// The invoice concerned, after the change.
    pub invoice: Invoice,
    /// The payment recorded (recordPayment only).
    pub payment: Option<Payment>,
}

/// The order after a settlement change: payment status from its invoices, closed when
/// delivered and fully paid, one version up. Returns the events the change adds.
pub(crate) fn settle(
    order: &Order,
    invoices: &[Invoice],
    now: DateTime<Utc>,
) -> (Order, Vec<OrderEventKind>) {
    let mut next = order.clone();
    let mut events = Vec::new();
    next.payment_status = payment_status(order.total(), invoices);
    if next.payment_status != order.payment_status {
        events.push(OrderEventKind::PaymentStatusChanged {
            from: order.payment_status,
            to: next.payment_status,
        });
    }
    complete_if_settled(&mut next, &mut events);
    next.version = order.version + 1;
    next.updated_at = now;
    (next, events)
}

impl Services {
    /// The invoices of an order the caller has already been allowed to see, oldest first.
    pub async fn invoices_of(&self, order_id: OrderId) -> ApiResult<Vec<Invoice>> {
        Ok(self.store.invoices_of_order(order_id).await?)
    }

    /// An invoice whose order the actor may see, else NOT_FOUND.
    pub async fn invoice(&self, loaders: &Loaders, actor: &Actor, id: i64) -> ApiResult<Invoice> {
        let not_found = || ApiError::NotFound(format!("invoice {id} not found"));
        let invoice = self
            .store
            .invoices_by_ids(&[id])
            .await?
            .pop()
            .ok_or_else(not_found)?;
        self.order(loaders, actor, invoice.details.order_id)
            .await
            .map_err(|_| not_found())?;
        Ok(invoice)
    }

    /// PREPAID orders go into production only fully paid, DEPOSIT orders only with the deposit
    /// paid: `PAYMENT_REQUIRED` otherwise.
    pub async fn check_production_payment(&self, order: &Order) -> ApiResult<()> {
        let invoices = self.store.invoices_of_order(order.id).await?;
        match production_payment_gap(order, &invoices) {
            Some(gap) => Err(ApiError::PaymentRequired(format!(
                "order {} cannot go into production or ship yet: {gap}",
                order.number
            ))),
            None => Ok(()),
        }
    }

    /// An order with valid invoices cannot be cancelled: the invoices would stay receivable.
    /// Unpaid ones are voided first; paid ones need a refund, which orderdesk does not handle.
    pub async fn check_no_open_invoices(&self, order: &Order) -> ApiResult<()> {
        let invoices = self.store.invoices_of_order(order.id).await?;
        let valid: Vec<&str> = invoices
            .iter()
            .filter(|i| i.is_valid())
            .map(|i| i.number.as_str())
            .collect();
        if valid.is_empty() {
            return Ok(());
        }
        let message = format!(
            "order {} has invoices ({}); void them first (voidInvoice) before cancelling",
            order.number,
            valid.join(", ")
        );
        Err(ApiError::InvalidTransition {
            message: message.clone(),
            from: order.status,
            allowed: Vec::new(),
            reason: Some(message),
        })
    }

    /// Issues an invoice: the deposit (`deposit`), the given `(lineNo, quantity)` pairs, or
    /// everything not yet invoiced.
    pub async fn issue_invoice(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        order_id: OrderId,
        expected_version: i64,
        what: InvoiceRequest,
    ) -> ApiResult<Settled> {
        staff_only(actor, "invoicing and payments")?;
        let order = self
            .order_at(loaders, actor, order_id, expected_version)
            .await?;
        let invoices = self.store.invoices_of_order(order.id).await?;
        let now = super::now();
        let today = now.date_naive();
        let planned = match what {
            InvoiceRequest::Deposit => plan_deposit_invoice(&order, &invoices, today)?,
            InvoiceRequest::Everything => plan_invoice(&order, &invoices, None, today)?,
            InvoiceRequest::Lines(lines) => plan_invoice(&order, &invoices, Some(&lines), today)?,
            InvoiceRequest::Shipped => {
                let shipments = self.store.shipments_of_order(order.id).await?;
                let lines = domain::tracking::shipped_not_invoiced(&order, &shipments, &invoices)?;
                plan_invoice(&order, &invoices, Some(&lines), today)?
            }
        };
        let mut with_new = invoices.clone();
        with_new.push(Invoice {
            id: 0,
            number: String::new(),
            details: planned.clone(),
            paid: Decimal::ZERO,
            fully_paid_on: None,
            void_reason: None,
            created_at: now,
        });
        let (next, mut events) = settle(&order, &with_new, now);
        events.insert(
            0,
            OrderEventKind::InvoiceIssued {
                invoice_id: 0,
                number: String::new(),
                kind: planned.kind,
                amount: planned.amount,
                currency: planned.currency,
                due_on: planned.due_on,
            },
        );
        let saved = self
            .store
            .save_settlement(SettlementChange {
                order: &next,
                expected_version: order.version,
                new_invoice: Some(planned),
                invoice_update: None,
                payment: None,
                claim: None,
                events,
                actor_id: actor.user_id,
                at: now,
            })
            .await?;
        self.hub.committed();
        let invoice = saved
            .invoice
            .ok_or_else(|| ApiError::Internal("invoice not returned by storage".into()))?;
        Ok(Settled {
            order: next,
            invoice,
            payment: None,
        })
    }

    /// Voids an invoice without payments.
    pub async fn void_invoice(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        invoice_id: i64,
        reason: &str,
    ) -> ApiResult<Settled> {
        staff_only(actor, "invoicing and payments")?;
        for _ in 0..MAX_ATTEMPTS {
            let (order, mut invoices, invoice) =
                self.settlement_state(loaders, actor, invoice_id).await?;
            let reason = check_void(&invoice, reason)?;
            let mut voided = invoice.clone();
            voided.void_reason = Some(reason.clone());
            for i in &mut invoices {
                if i.id == voided.id {
                    *i = voided.clone();
                }
            }
            let now = super::now();
            let (next, mut events) = settle(&order, &invoices, now);
            events.insert(
                0,
                OrderEventKind::InvoiceVoided {
                    invoice_id: voided.id,
                    number: voided.number.clone(),
                    reason,
                },
            );
            match self
                .store
                .save_settlement(SettlementChange {
                    order: &next,
                    expected_version: order.version,
                    new_invoice: None,
                    invoice_update: Some(voided.clone()),
                    payment: None,
                    claim: None,
                    events,
                    actor_id: actor.user_id,
                    at: now,
                })
                .await
            {
                Ok(_) => {
                    self.hub.committed();
                    return Ok(Settled {
                        order: next,
                        invoice: voided,
                        payment: None,
                    });
                }
                Err(RepoError::Conflict { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(busy())
    }

    /// Records a payment against an invoice. With an idempotency key, a retry returns the first
    /// payment and records nothing; the key with other input is a CONFLICT.
    pub async fn record_payment(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        invoice_id: i64,
        input: PaymentInput,
        idempotency_key: Option<String>,
    ) -> ApiResult<Settled> {
        staff_only(actor, "invoicing and payments")?;
        let claim = match idempotency_key {
            Some(key) => Some(IdempotencyClaim {
                user_id: actor.user_id,
                fingerprint: super::orders::fingerprint(&format!(
                    "recordPayment:{invoice_id}:{}:{}:{:?}:{:?}",
                    input.amount.normalize(),
                    input.method.as_str(),
                    input.reference,
                    input.received_at
                )),
                key: super::orders::checked_key(key)?,
            }),
            None => None,
        };
        for _ in 0..MAX_ATTEMPTS {
            if let Some(claim) = &claim
                && let Some(first) = self.store.replayed_payment(claim).await?
            {
                return self.replayed(loaders, actor, first).await;
            }
            let (order, mut invoices, invoice) =
                self.settlement_state(loaders, actor, invoice_id).await?;
            let now = super::now();
            let payment = check_payment(
                &invoice,
                NewPayment {
                    invoice_id,
                    amount: input.amount,
                    method: input.method,
                    reference: input.reference.clone(),
                    received_at: input
                        .received_at
                        .map_or(now, |at| chrono::SubsecRound::trunc_subsecs(at, 6)),
                    recorded_by: actor.user_id,
                },
                now,
            )?;
            let mut paid = invoice.clone();
            paid.paid += payment.amount;
            if paid.outstanding().is_zero() {
                paid.fully_paid_on = Some(payment.received_at.date_naive());
            }
            for i in &mut invoices {
                if i.id == paid.id {
                    *i = paid.clone();
                }
            }
            let (next, mut events) = settle(&order, &invoices, now);
            events.insert(
                0,
                OrderEventKind::PaymentRecorded {
                    invoice_id,
                    invoice_number: paid.number.clone(),
                    payment_id: 0,
                    amount: payment.amount,
                    method: payment.method,
                    reference: payment.reference.clone(),
                    received_at: payment.received_at,
                    invoice_outstanding: paid.outstanding(),
                },
            );
            match self
                .store
                .save_settlement(SettlementChange {
                    order: &next,
                    expected_version: order.version,
                    new_invoice: None,
                    invoice_update: Some(paid.clone()),
                    payment: Some(payment),
                    claim: claim.clone(),
                    events,
                    actor_id: actor.user_id,
                    at: now,
                })
                .await
            {
                Ok(saved) if saved.replayed => {
                    let first = saved
                        .payment
                        .ok_or_else(|| ApiError::Internal("replay without payment".into()))?;
                    return self.replayed(loaders, actor, first).await;
                }
                Ok(saved) => {
                    self.hub.committed();
                    return Ok(Settled {
                        order: next,
                        invoice: paid,
                        payment: saved.payment,
                    });
                }
                Err(RepoError::Conflict { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(busy())
    }

    /// Logs a collection activity on an open invoice (staff only).
    pub async fn log_collection(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        activity: NewCollectionActivity,
    ) -> ApiResult<CollectionActivity> {
        staff_only(actor, "invoicing and payments")?;
        let invoice = self.invoice(loaders, actor, activity.invoice_id).await?;
        let activity = NewCollectionActivity {
            user_id: actor.user_id,
            ..activity
        }
        .validate(&invoice)?;
        let order = self.fresh_order(invoice.details.order_id).await?;
        let event = OrderEventKind::CollectionLogged {
            invoice_id: invoice.id,
            invoice_number: invoice.number.clone(),
            activity_id: 0,
            kind: activity.kind,
            promised_date: activity.promised_date,
            promised_amount: activity.promised_amount,
        };
        let (stored, _) = self
            .store
            .log_collection(activity, &order, event, super::now())
            .await?;
        self.hub.committed();
        Ok(stored)
    }

    /// The caller's invoices to chase: overdue ones and those with a broken promise to pay,
    /// most overdue first, at most 100.
    pub async fn my_collections(&self, actor: &Actor) -> ApiResult<Vec<CollectionItem>> {
        staff_only(actor, "invoicing and payments")?;
        let today = super::now().date_naive();
        let open = self
            .store
            .all_open_invoices(Scope::Rep(actor.user_id), 10_000)
            .await?;
        let ids: Vec<i64> = open.iter().map(|i| i.id).collect();
        let mut promises: HashMap<i64, Vec<CollectionActivity>> = HashMap::new();
        for activity in self.store.collection_activities(&ids).await? {
            if activity.details.kind == domain::settlement::CollectionKind::PromiseToPay {
                promises
                    .entry(activity.details.invoice_id)
                    .or_default()
                    .push(activity);
            }
        }
        // Payments matter only where something was promised: one query for all of those.
        let promised: Vec<i64> = promises.keys().copied().collect();
        let mut payments: HashMap<i64, Vec<Payment>> = HashMap::new();
        for payment in self.store.payments_of_invoices(&promised).await? {
            payments
                .entry(payment.details.invoice_id)
                .or_default()
                .push(payment);
        }
        let mut items = Vec::new();
        for invoice in open {
            let paid = payments.get(&invoice.id).map_or(&[][..], Vec::as_slice);
            let broken = promises.get(&invoice.id).and_then(|promises| {
                promises
                    .iter()
                    .rev()
                    .find(|p| promise_broken(p, &invoice, paid, today))
                    .cloned()
            });
            let overdue = invoice.details.due_on < today;
            if overdue || broken.is_some() {
                items.push(CollectionItem {
                    days_overdue: domain::receivables::days_overdue(invoice.details.due_on, today),
                    invoice,
                    broken_promise: broken,
                });
            }
        }
        items.sort_by(|a, b| {
            b.days_overdue
                .cmp(&a.days_overdue)
                .then(a.invoice.id.cmp(&b.invoice.id))
        });
        items.truncate(100);
        Ok(items)
    }

    /// Collection activities of an invoice the caller has been allowed to see, oldest first.
    pub async fn collection_activities_of(
        &self,
        invoice_id: i64,
    ) -> ApiResult<Vec<CollectionActivity>> {
        Ok(self.store.collection_activities(&[invoice_id]).await?)
    }

    /// The order, its invoices and the one concerned, read in that order: the order's version
    /// guards only what was read after it, so an invoice read before the order could miss a
    /// payment committed in between and then be overwritten with a stale balance.
    async fn settlement_state(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        invoice_id: i64,
    ) -> ApiResult<(Order, Vec<Invoice>, Invoice)> {
        let order_id = self
            .invoice(loaders, actor, invoice_id)
            .await?
            .details
            .order_id;
        let order = self.fresh_order(order_id).await?;
        let invoices = self.store.invoices_of_order(order.id).await?;
        let invoice = invoices
            .iter()
            .find(|i| i.id == invoice_id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("invoice {invoice_id} not found")))?;
        Ok((order, invoices, invoice))
    }

    /// The answer to a retried payment: the first payment, with its invoice and order as they
    /// are now.
    async fn replayed(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        first: Payment,
    ) -> ApiResult<Settled> {
        let invoice = self
            .invoice(loaders, actor, first.details.invoice_id)
            .await?;
        let order = self.fresh_order(invoice.details.order_id).await?;
        Ok(Settled {
            order,
            invoice,
            payment: Some(first),
        })
    }

    /// The order as stored now (the request's loader may hold an older copy).
    async fn fresh_order(&self, id: OrderId) -> ApiResult<Order> {
        use domain::ports::OrderRepository;
        self.store
            .orders_by_ids(&[id])
            .await?
            .pop()
            .ok_or_else(|| ApiError::NotFound(format!("order {id} not found")))
    }
}

fn busy() -> ApiError {
    ApiError::Conflict {
        message: "the order is being changed by many requests at once; retry".into(),
        versions: None,
    }
}

/// Refuses a line number that does not fit.
///
/// # Errors
/// BAD_USER_INPUT naming `lineId`.
pub fn line_no(text: &str, order_id: OrderId) -> ApiResult<u32> {
    let bad = || {
        ApiError::from(ValidationError::invalid(
            "lineId",
            format!("`{text}` is not a line of order {order_id} (`<orderId>-<lineNo>`)"),
        ))
    };
    let (order, line) = text.split_once('-').ok_or_else(bad)?;
    if order != order_id.0.to_string() {
        return Err(bad());
    }
    line.parse::<u32>().map_err(|_| bad())
}
