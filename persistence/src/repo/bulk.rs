//! Bulk loading of generated order histories (`orderdesk seed --orders N`): the rows the normal
//! repositories would have written order by order, written a few thousand orders per
//! transaction with multi-row INSERTs.
//!
//! The loader assigns ids itself (events carry invoice and payment ids), so it assumes it is the
//! only writer while it runs; the counters (order numbers, invoice numbers, event sequence) are
//! advanced in the same transactions, and each batch checks that they are where it expected, so
//! a concurrent writer makes the load fail rather than collide.

use chrono::{DateTime, Utc};
use domain::UserId;
use domain::event::{OrderEventKind, StoredEvent};
use domain::order::Order;
use domain::ports::RepoError;
use domain::settlement::{Invoice, Payment};
use domain::tracking::OrderException;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, Iterable, Set,
};

use super::corrupt;
use super::events::{event_row, set_milestones, take_counter};
use super::orders::{line_rows, new_order_row};
use super::settlement::{invoice_row, payment_row};
use super::tracking::{exception_analysis, new_exception_row};
use crate::codec::{MONEY_SCALE, from_micros, to_micros, to_scaled};
use crate::entity::{invoice, order, order_event, order_exception, order_line, payment};
use crate::store::{Store, WriteTxn, storage};

/// One event of a generated history, as the change that produced it would have stored it.
#[derive(Clone, Debug)]
pub struct BulkEvent {
    /// What happened.
    pub kind: OrderEventKind,
    /// The order's version after the change.
    pub order_version: i64,
    /// Who made the change.
    pub actor_id: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// One generated order with everything its history produced, in final state.
#[derive(Clone, Debug)]
pub struct BulkOrder {
    /// The order as it stands at the end of its history (id and number from [`BulkIds`]).
    pub order: Order,
    /// Its events, oldest first.
    pub events: Vec<BulkEvent>,
    /// Its invoices as they stand (ids and numbers from [`BulkIds`], paid amounts summed).
    pub invoices: Vec<Invoice>,
    /// Its payments (ids from [`BulkIds`]).
    pub payments: Vec<Payment>,
    /// Its exceptions as they stand (ids from [`BulkIds`]).
    pub exceptions: Vec<OrderException>,
}

/// The next free ids and numbers; a generator takes them in order, one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkIds {
    /// Next `orders.id`.
    pub order_id: i64,
    /// Next value of the order number counter (`SO-000001` is 1).
    pub order_number: i64,
    /// Next `invoices.id`.
    pub invoice_id: i64,
    /// Next value of the invoice number counter.
    pub invoice_number: i64,
    /// Next `payments.id`.
    pub payment_id: i64,
    /// Next `order_exceptions.id`.
    pub exception_id: i64,
}

/// The order number of counter value `n` (`create_order` and the bulk loader both write it).
#[must_use]
pub fn order_number(n: i64) -> String {
    format!("SO-{n:06}")
}

/// The invoice number of counter value `n` (`issueInvoice` and the bulk loader both write it).
#[must_use]
pub fn invoice_number(n: i64) -> String {
    format!("INV-{n:06}")
}

/// Bound parameters per statement: below SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 30_000;

async fn insert_chunked<A>(txn: &WriteTxn, rows: Vec<A>) -> Result<(), RepoError>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
{
    let columns = <A::Entity as EntityTrait>::Column::iter().count().max(1);
    let per_statement = (MAX_PARAMS / columns).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        <A::Entity as EntityTrait>::insert_many(chunk)
            .exec_without_returning(txn)
            .await
            .map_err(storage)?;
    }
    Ok(())
}

async fn max_id<C: ConnectionTrait>(conn: &C, table: &str) -> Result<i64, RepoError> {
    let statement = Query::select()
        .expr_as(Func::max(Expr::col(Alias::new("id"))), Alias::new("max_id"))
        .from(Alias::new(table))
        .take();
    let row = conn.query_one(&statement).await.map_err(storage)?;
    Ok(row
        .map(|r| r.try_get::<Option<i64>>("", "max_id"))
        .transpose()
        .map_err(storage)?
        .flatten()
        .unwrap_or(0))
}

async fn counter<C: ConnectionTrait>(conn: &C, name: &str) -> Result<i64, RepoError> {
    let statement = Query::select()
        .column(Alias::new("value"))
        .from(Alias::new("counters"))
        .and_where(Expr::col(Alias::new("name")).eq(name))
        .take();
    let row = conn
        .query_one(&statement)
        .await
        .map_err(storage)?
        .ok_or_else(|| RepoError::Storage(format!("counter {name} missing")))?;
    row.try_get::<i64>("", "value").map_err(storage)
}

/// Takes `n` values of a counter and checks they start at `first` (else another writer took some).
async fn take_expected(
    txn: &WriteTxn,
    name: &str,
    n: usize,
    first: Option<i64>,
) -> Result<i64, RepoError> {
    let n = i64::try_from(n).map_err(|e| RepoError::Storage(e.to_string()))?;
    if n == 0 {
        return Ok(0);
    }
    let last = take_counter(txn, name, n).await?;
    let taken = last - n + 1;
    match first {
        Some(first) if first != taken => Err(RepoError::Storage(format!(
            "counter {name} is at {taken}, the bulk load expected {first}: another writer is active"
        ))),
        _ => Ok(taken),
    }
}

impl Store {
    /// Where the bulk loader starts: the next free ids and counter values.
    ///
    /// # Errors
    /// `Storage` when the database cannot be read.
    pub async fn bulk_ids(&self) -> Result<BulkIds, RepoError> {
        Ok(BulkIds {
            order_id: max_id(&self.db, "orders").await? + 1,
            order_number: counter(&self.db, "order_number").await? + 1,
            invoice_id: max_id(&self.db, "invoices").await? + 1,
            invoice_number: counter(&self.db, "invoice_number").await? + 1,
            payment_id: max_id(&self.db, "payments").await? + 1,
            exception_id: max_id(&self.db, "order_exceptions").await? + 1,
        })
    }

    /// Writes a batch of generated orders with their lines, events (numbered from the event
    /// counter), milestone columns, invoices, payments and exceptions in one transaction, and
    /// advances the counters past them.
    ///
    /// # Errors
    /// `Storage` when a write fails or the counters are not where the batch's numbers say
    /// (another writer): nothing of the batch is stored then.
    pub async fn bulk_insert(&self, batch: &[BulkOrder]) -> Result<(), RepoError> {
        if batch.is_empty() {
            return Ok(());
        }
        let txn = self.begin_write().await?;
        let first_number = number_value(&batch[0].order.number, "SO-");
        take_expected(&txn, "order_number", batch.len(), first_number).await?;
        let invoices: Vec<&Invoice> = batch.iter().flat_map(|b| &b.invoices).collect();
        let first_invoice = invoices
            .first()
            .and_then(|i| number_value(&i.number, "INV-"));
        take_expected(&txn, "invoice_number", invoices.len(), first_invoice).await?;
        let event_count: usize = batch.iter().map(|b| b.events.len()).sum();
        let mut seq = take_expected(&txn, "event_seq", event_count, None).await?;

        let mut order_rows = Vec::with_capacity(batch.len());
        let mut line_rows_all = Vec::new();
        let mut event_rows = Vec::with_capacity(event_count);
        let mut invoice_rows = Vec::with_capacity(invoices.len());
        let mut payment_rows = Vec::new();
        let mut exception_rows = Vec::new();
        for item in batch {
            let order = &item.order;
            let stored: Vec<StoredEvent> = item
                .events
                .iter()
                .map(|e| {
                    let event = StoredEvent {
                        seq,
                        order_id: order.id,
                        order_number: order.number.clone(),
                        customer_id: order.customer_id,
                        sales_rep_id: order.sales_rep_id,
                        order_version: e.order_version,
                        actor_id: e.actor_id,
                        at: from_micros(to_micros(e.at))?,
                        kind: e.kind.clone(),
                    };
                    seq += 1;
                    Ok(event)
                })
                .collect::<Result<_, RepoError>>()?;
            let mut row = new_order_row(order)?;
            set_milestones(&mut row, &stored);
            order_rows.push(row);
            line_rows_all.extend(line_rows(order)?);
            for event in &stored {
                event_rows.push(event_row(event)?);
            }
            for invoice in &item.invoices {
                let mut row = invoice_row(
                    invoice.number.clone(),
                    &invoice.details,
                    to_micros(invoice.created_at),
                )?;
                row.id = Set(invoice.id);
                row.paid_e4 = Set(to_scaled(invoice.paid, MONEY_SCALE)?);
                row.fully_paid_on = Set(invoice.fully_paid_on);
                row.void_reason = Set(invoice.void_reason.clone());
                invoice_rows.push(row);
            }
            for payment in &item.payments {
                let invoice = item
                    .invoices
                    .iter()
                    .find(|invoice| invoice.id == payment.details.invoice_id)
                    .ok_or_else(|| corrupt("payment", "its invoice is not in the batch"))?;
                let mut row = payment_row(
                    &payment.details,
                    &invoice.details,
                    to_micros(payment.created_at),
                )?;
                row.id = Set(payment.id);
                payment_rows.push(row);
            }
            for exception in &item.exceptions {
                let mut row = new_exception_row(exception.details.clone())?;
                let analysis = exception_analysis(exception.clone());
                row.id = Set(exception.id);
                row.root_cause = analysis.root_cause;
                row.actions = analysis.actions;
                row.status = analysis.status;
                row.resolution = analysis.resolution;
                row.lessons_learned = analysis.lessons_learned;
                row.resolved_by = analysis.resolved_by;
                row.resolved_at = analysis.resolved_at;
                exception_rows.push(row);
            }
        }
        insert_chunked::<order::ActiveModel>(&txn, order_rows).await?;
        insert_chunked::<order_line::ActiveModel>(&txn, line_rows_all).await?;
        insert_chunked::<order_event::ActiveModel>(&txn, event_rows).await?;
        insert_chunked::<invoice::ActiveModel>(&txn, invoice_rows).await?;
        insert_chunked::<payment::ActiveModel>(&txn, payment_rows).await?;
        insert_chunked::<order_exception::ActiveModel>(&txn, exception_rows).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            // Ids were given explicitly: move the identity sequences past them, so the
            // server's own inserts continue after the loaded rows.
            for table in ["orders", "invoices", "payments", "order_exceptions"] {
                txn.execute_unprepared(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                ))
                .await
                .map_err(storage)?;
            }
        }
        txn.commit().await?;
        Ok(())
    }
}

/// The counter value in a formatted number (`SO-000042` -> 42).
fn number_value(number: &str, prefix: &str) -> Option<i64> {
    number.strip_prefix(prefix)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_through_their_counter_values() {
        assert_eq!(number_value(&order_number(42), "SO-"), Some(42));
        assert_eq!(
            number_value(&invoice_number(1_234_567), "INV-"),
            Some(1_234_567)
        );
        assert_eq!(number_value("INV-000001", "SO-"), None);
    }
}
