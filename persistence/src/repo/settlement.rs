//! Invoices and payments. Every change goes through the order row's version, so changes to one
//! order's money serialize: two payments can never both pass the same balance check.

use chrono::{DateTime, Utc};
use domain::event::OrderEventKind;
use domain::event::StoredEvent;
use domain::money::Currency;
use domain::order::Order;
use domain::ports::{
    IdempotencyClaim, Page, PageRequest, ReceivableFilter, RepoError, SettlementChange,
    SettlementRepository, SettlementSaved,
};
use domain::settlement::{
    CollectionActivity, CollectionKind, Invoice, InvoiceKind, NewCollectionActivity, NewInvoice,
    NewPayment, Payment, PaymentMethod,
};
use domain::user::Scope;
use domain::{CustomerId, OrderId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::catalog::scope_condition;
use super::orders::{Touched, update_order_row};
use super::{corrupt, events, fetch_limit, idempotency, into_page};
use crate::codec::{MONEY_SCALE, from_micros, from_scaled, to_micros, to_scaled};
use crate::entity::{collection_activity, invoice, payment};
use crate::store::{Store, storage};

const RECORD_PAYMENT: &str = "recordPayment";

fn to_invoice(row: invoice::Model) -> Result<Invoice, RepoError> {
    Ok(Invoice {
        id: row.id,
        number: row.number,
        details: NewInvoice {
            order_id: OrderId(row.order_id),
            customer_id: CustomerId(row.customer_id),
            sales_rep_id: UserId(row.sales_rep_id),
            currency: Currency::parse(&row.currency).map_err(|e| corrupt("currency", e))?,
            kind: InvoiceKind::parse(&row.kind).map_err(|e| corrupt("invoice kind", e))?,
            issued_on: row.issued_on,
            due_on: row.due_on,
            lines: serde_json::from_str(&row.lines).map_err(|e| corrupt("invoice lines", e))?,
            deposit_credit: from_scaled(row.deposit_credit_e4, MONEY_SCALE),
            amount: from_scaled(row.amount_e4, MONEY_SCALE),
        },
        paid: from_scaled(row.paid_e4, MONEY_SCALE),
        fully_paid_on: row.fully_paid_on,
        void_reason: row.void_reason,
        created_at: from_micros(row.created_at)?,
    })
}

fn to_activity(row: collection_activity::Model) -> Result<CollectionActivity, RepoError> {
    Ok(CollectionActivity {
        id: row.id,
        details: NewCollectionActivity {
            invoice_id: row.invoice_id,
            user_id: UserId(row.user_id),
            kind: CollectionKind::parse(&row.kind).map_err(|e| corrupt("collection kind", e))?,
            note: row.note,
            promised_date: row.promised_date,
            promised_amount: row.promised_amount_e4.map(|a| from_scaled(a, MONEY_SCALE)),
        },
        created_at: from_micros(row.created_at)?,
    })
}

fn to_payment(row: payment::Model) -> Result<Payment, RepoError> {
    Ok(Payment {
        id: row.id,
        details: NewPayment {
            invoice_id: row.invoice_id,
            amount: from_scaled(row.amount_e4, MONEY_SCALE),
            method: PaymentMethod::parse(&row.method).map_err(|e| corrupt("method", e))?,
            reference: row.reference,
            received_at: from_micros(row.received_at)?,
            recorded_by: UserId(row.recorded_by),
        },
        created_at: from_micros(row.created_at)?,
    })
}

/// The row of a newly issued invoice (nothing paid yet; `at` in epoch microseconds).
pub(crate) fn invoice_row(
    number: String,
    new: &NewInvoice,
    at: i64,
) -> Result<invoice::ActiveModel, RepoError> {
    Ok(invoice::ActiveModel {
        number: Set(number),
        order_id: Set(new.order_id.0),
        customer_id: Set(new.customer_id.0),
        sales_rep_id: Set(new.sales_rep_id.0),
        currency: Set(new.currency.as_str().to_owned()),
        kind: Set(new.kind.as_str().to_owned()),
        issued_on: Set(new.issued_on),
        due_on: Set(new.due_on),
        lines: Set(serde_json::to_string(&new.lines).map_err(|e| corrupt("lines", e))?),
        deposit_credit_e4: Set(to_scaled(new.deposit_credit, MONEY_SCALE)?),
        amount_e4: Set(to_scaled(new.amount, MONEY_SCALE)?),
        paid_e4: Set(0),
        fully_paid_on: Set(None),
        void_reason: Set(None),
        created_at: Set(at),
        ..Default::default()
    })
}

/// The row of a payment recorded on `invoice` (`at` in epoch microseconds).
pub(crate) fn payment_row(
    new: &NewPayment,
    invoice: &NewInvoice,
    at: i64,
) -> Result<payment::ActiveModel, RepoError> {
    Ok(payment::ActiveModel {
        invoice_id: Set(new.invoice_id),
        order_id: Set(invoice.order_id.0),
        sales_rep_id: Set(invoice.sales_rep_id.0),
        customer_id: Set(invoice.customer_id.0),
        currency: Set(invoice.currency.as_str().to_owned()),
        amount_e4: Set(to_scaled(new.amount, MONEY_SCALE)?),
        method: Set(new.method.as_str().to_owned()),
        reference: Set(new.reference.clone()),
        received_at: Set(to_micros(new.received_at)),
        recorded_by: Set(new.recorded_by.0),
        created_at: Set(at),
        ..Default::default()
    })
}

/// Valid invoices with money still owed, visible in `scope`.
fn open_in(scope: Scope) -> sea_orm::Select<invoice::Entity> {
    invoice::Entity::find()
        .filter(scope_condition(
            scope,
            invoice::Column::SalesRepId,
            invoice::Column::CustomerId,
        ))
        .filter(invoice::Column::VoidReason.is_null())
        .filter(Expr::col(invoice::Column::AmountE4).gt(Expr::col(invoice::Column::PaidE4)))
}

impl Store {
    async fn replay_payment<C: ConnectionTrait>(
        &self,
        conn: &C,
        claim: &IdempotencyClaim,
    ) -> Result<Option<Payment>, RepoError> {
        let Some(id) = idempotency::previous_result(conn, claim, RECORD_PAYMENT).await? else {
            return Ok(None);
        };
        let row = payment::Entity::find_by_id(id)
            .one(conn)
            .await
            .map_err(storage)?
            .ok_or_else(|| RepoError::Storage("idempotency key without its payment".into()))?;
        to_payment(row).map(Some)
    }

    async fn try_save_settlement(
        &self,
        change: SettlementChange<'_>,
    ) -> Result<SettlementSaved, RepoError> {
        let txn = self.begin_write().await?;
        if let Some(claim) = &change.claim
            && let Some(previous) = self.replay_payment(&txn, claim).await?
        {
            txn.rollback().await?;
            return Ok(SettlementSaved {
                invoice: None,
                payment: Some(previous),
                events: Vec::new(),
                replayed: true,
            });
        }
        let order = change.order;
        // Payments and invoices change neither the rep nor the lines.
        let touched = Touched {
            rep: false,
            lines: false,
        };
        update_order_row(&txn, order, change.expected_version, touched).await?;
        let at = to_micros(change.at);
        let mut events = change.events;

        let mut stored_invoice = None;
        if let Some(new) = change.new_invoice {
            let number =
                super::bulk::invoice_number(events::take_counter(&txn, "invoice_number", 1).await?);
            let row = invoice_row(number, &new, at)?
                .insert(&txn)
                .await
                .map_err(storage)?;
            let stored = to_invoice(row)?;
            for event in &mut events {
                if let OrderEventKind::InvoiceIssued {
                    invoice_id, number, ..
                } = event
                {
                    *invoice_id = stored.id;
                    number.clone_from(&stored.number);
                }
            }
            stored_invoice = Some(stored);
        }

        if let Some(updated) = &change.invoice_update {
            invoice::Entity::update_many()
                .col_expr(
                    invoice::Column::PaidE4,
                    Expr::value(to_scaled(updated.paid, MONEY_SCALE)?),
                )
                .col_expr(
                    invoice::Column::FullyPaidOn,
                    Expr::value(updated.fully_paid_on),
                )
                .col_expr(
                    invoice::Column::VoidReason,
                    Expr::value(updated.void_reason.clone()),
                )
                .filter(invoice::Column::Id.eq(updated.id))
                .exec(&txn)
                .await
                .map_err(storage)?;
        }

        let mut stored_payment = None;
        if let Some(new) = change.payment {
            let invoice = change
                .invoice_update
                .as_ref()
                .filter(|invoice| invoice.id == new.invoice_id)
                .ok_or_else(|| corrupt("payment", "recorded without its invoice's update"))?;
            let row = payment_row(&new, &invoice.details, at)?
                .insert(&txn)
                .await
                .map_err(storage)?;
            let stored = to_payment(row)?;
            if let Some(claim) = &change.claim {
                idempotency::record(&txn, claim, RECORD_PAYMENT, stored.id).await?;
            }
            for event in &mut events {
                if let OrderEventKind::PaymentRecorded { payment_id, .. } = event {
                    *payment_id = stored.id;
                }
            }
            stored_payment = Some(stored);
        }

        let stored_events = events::append(&txn, order, events, change.actor_id, change.at).await?;
        txn.commit().await?;
        Ok(SettlementSaved {
            invoice: stored_invoice,
            payment: stored_payment,
            events: stored_events,
            replayed: false,
        })
    }
}

impl SettlementRepository for Store {
    async fn save_settlement(
        &self,
        change: SettlementChange<'_>,
    ) -> Result<SettlementSaved, RepoError> {
        let claim = change.claim.clone();
        match self.try_save_settlement(change).await {
            // A concurrent request with the same key committed first: answer as its retry would.
            Err(RepoError::Duplicate {
                field: "idempotencyKey",
                ..
            }) => {
                let claim =
                    claim.ok_or_else(|| RepoError::Storage("lost idempotency claim".into()))?;
                let payment = self
                    .replay_payment(&self.db, &claim)
                    .await?
                    .ok_or_else(|| RepoError::Storage("idempotency key vanished".into()))?;
                Ok(SettlementSaved {
                    invoice: None,
                    payment: Some(payment),
                    events: Vec::new(),
                    replayed: true,
                })
            }
            other => other,
        }
    }

    async fn replayed_payment(
        &self,
        claim: &IdempotencyClaim,
    ) -> Result<Option<Payment>, RepoError> {
        self.replay_payment(&self.db, claim).await
    }

    async fn invoices_of_order(&self, order_id: OrderId) -> Result<Vec<Invoice>, RepoError> {
        invoice::Entity::find()
            .filter(invoice::Column::OrderId.eq(order_id.0))
            .order_by_asc(invoice::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_invoice)
            .collect()
    }

    async fn invoices_by_ids(&self, ids: &[i64]) -> Result<Vec<Invoice>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        invoice::Entity::find()
            .filter(invoice::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_invoice)
            .collect()
    }

    async fn payments_of_invoice(&self, invoice_id: i64) -> Result<Vec<Payment>, RepoError> {
        self.payments_of_invoices(&[invoice_id]).await
    }

    async fn payments_of_invoices(&self, invoice_ids: &[i64]) -> Result<Vec<Payment>, RepoError> {
        if invoice_ids.is_empty() {
            return Ok(Vec::new());
        }
        payment::Entity::find()
            .filter(payment::Column::InvoiceId.is_in(invoice_ids.iter().copied()))
            .order_by_asc(payment::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_payment)
            .collect()
    }

    async fn open_invoices(
        &self,
        scope: Scope,
        filter: &ReceivableFilter,
        page: PageRequest,
    ) -> Result<Page<Invoice>, RepoError> {
        let mut query = open_in(scope);
        if let Some(customer) = filter.customer_id {
            query = query.filter(invoice::Column::CustomerId.eq(customer.0));
        }
        if let Some(rep) = filter.sales_rep_id {
            query = query.filter(invoice::Column::SalesRepId.eq(rep.0));
        }
        if let Some(as_of) = filter.overdue_as_of {
            query = query.filter(invoice::Column::DueOn.lt(as_of));
        }
        if let Some(after) = page.after {
            query = query.filter(invoice::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(invoice::Column::Id)
            .limit(fetch_limit(page))
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_invoice)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(rows, page))
    }

    async fn all_open_invoices(&self, scope: Scope, limit: u64) -> Result<Vec<Invoice>, RepoError> {
        open_in(scope)
            .order_by_asc(invoice::Column::DueOn)
            .order_by_asc(invoice::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_invoice)
            .collect()
    }

    async fn log_collection(
        &self,
        activity: NewCollectionActivity,
        order: &Order,
        mut event: OrderEventKind,
        at: DateTime<Utc>,
    ) -> Result<(CollectionActivity, Vec<StoredEvent>), RepoError> {
        let txn = self.begin_write().await?;
        let row = collection_activity::ActiveModel {
            invoice_id: Set(activity.invoice_id),
            user_id: Set(activity.user_id.0),
            kind: Set(activity.kind.as_str().to_owned()),
            note: Set(activity.note.clone()),
            promised_date: Set(activity.promised_date),
            promised_amount_e4: Set(activity
                .promised_amount
                .map(|a| to_scaled(a, MONEY_SCALE))
                .transpose()?),
            created_at: Set(to_micros(at)),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(storage)?;
        let stored = to_activity(row)?;
        if let OrderEventKind::CollectionLogged { activity_id, .. } = &mut event {
            *activity_id = stored.id;
        }
        let events = events::append(&txn, order, vec![event], activity.user_id, at).await?;
        txn.commit().await?;
        Ok((stored, events))
    }

    async fn collection_activities(
        &self,
        invoice_ids: &[i64],
    ) -> Result<Vec<CollectionActivity>, RepoError> {
        if invoice_ids.is_empty() {
            return Ok(Vec::new());
        }
        collection_activity::Entity::find()
            .filter(collection_activity::Column::InvoiceId.is_in(invoice_ids.iter().copied()))
            .order_by_asc(collection_activity::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_activity)
            .collect()
    }

    async fn settled_invoices(&self, customer_id: CustomerId) -> Result<Vec<Invoice>, RepoError> {
        invoice::Entity::find()
            .filter(invoice::Column::CustomerId.eq(customer_id.0))
            .filter(invoice::Column::VoidReason.is_null())
            .filter(invoice::Column::FullyPaidOn.is_not_null())
            .order_by_desc(invoice::Column::Id)
            .limit(500)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_invoice)
            .collect()
    }
}
