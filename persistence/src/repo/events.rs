//! The event log: appended in the same transaction as each change, read in sequence order.

use chrono::{DateTime, Utc};
use domain::event::{OrderEventKind, StoredEvent};
use domain::order::Order;
use domain::ports::{EventLog, RepoError};
use domain::{CustomerId, OrderId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::corrupt;
use super::rows::event_columns;
use crate::codec::{from_micros, to_micros};
use crate::entity::{order, order_event};
use crate::store::{Store, WriteTxn, storage};

impl TryFrom<order_event::Model> for StoredEvent {
    type Error = RepoError;
    fn try_from(row: order_event::Model) -> Result<Self, RepoError> {
        Ok(StoredEvent {
            seq: row.seq,
            order_id: OrderId(row.order_id),
            order_number: row.order_number,
            customer_id: CustomerId(row.customer_id),
            sales_rep_id: UserId(row.sales_rep_id),
            order_version: row.order_version,
            actor_id: UserId(row.actor_id),
            at: from_micros(row.occurred_at)?,
            kind: serde_json::from_str(&row.payload).map_err(|e| corrupt("event payload", e))?,
        })
    }
}

/// Takes the next `n` values of a named counter inside `txn` and returns the last one.
///
/// The UPDATE locks the counter row until the transaction ends, so values are handed out in
/// commit order: a reader that has seen value `k` committed will never later find a committed
/// value below `k`. That is what lets the dispatcher tail the log by `seq > last_seen`.
pub(crate) async fn take_counter(txn: &WriteTxn, name: &str, n: i64) -> Result<i64, RepoError> {
    let statement = Query::update()
        .table(Counters::Table)
        .value(Counters::Value, Expr::col(Counters::Value).add(n))
        .and_where(Expr::col(Counters::Name).eq(name))
        .returning_col(Counters::Value)
        .take();
    let row = txn
        .query_one(&statement)
        .await
        .map_err(storage)?
        .ok_or_else(|| RepoError::Storage(format!("counter {name} missing")))?;
    row.try_get::<i64>("", "value").map_err(storage)
}

#[derive(sea_orm::DeriveIden)]
enum Counters {
    Table,
    Name,
    Value,
}

/// Appends `events` for `order` (after its change) and returns them as stored.
pub(crate) async fn append(
    txn: &WriteTxn,
    order: &Order,
    events: Vec<OrderEventKind>,
    actor_id: UserId,
    at: DateTime<Utc>,
) -> Result<Vec<StoredEvent>, RepoError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // Publish exactly what is stored: instants are kept to the microsecond.
    let at = from_micros(to_micros(at))?;
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    // Taken last, just before the inserts, so the counter row stays locked as briefly as possible.
    let last = take_counter(txn, "event_seq", count).await?;
    let stored: Vec<StoredEvent> = events
        .into_iter()
        .zip(last - count + 1..)
        .map(|(kind, seq)| StoredEvent {
            seq,
            order_id: order.id,
            order_number: order.number.clone(),
            customer_id: order.customer_id,
            sales_rep_id: order.sales_rep_id,
            order_version: order.version,
            actor_id,
            at,
            kind,
        })
        .collect();
    let rows = stored
        .iter()
        .map(event_row)
        .collect::<Result<Vec<_>, RepoError>>()?;
    order_event::Entity::insert_many(rows)
        .exec(txn)
        .await
        .map_err(storage)?;
    record_milestones(txn, &stored).await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // Delivered to listeners on commit, dropped on rollback. Only a wake-up: the payload is
        // at most the sequence number, and the log stays the one source of truth.
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [crate::notify::CHANNEL.into(), last.to_string().into()],
        ))
        .await
        .map_err(storage)?;
    }
    Ok(stored)
}

/// The row of a stored event.
pub(crate) fn event_row(e: &StoredEvent) -> Result<order_event::ActiveModel, RepoError> {
    Ok(order_event::ActiveModel {
        seq: Set(e.seq),
        order_id: Set(e.order_id.0),
        order_number: Set(e.order_number.clone()),
        customer_id: Set(e.customer_id.0),
        sales_rep_id: Set(e.sales_rep_id.0),
        order_version: Set(e.order_version),
        event_type: Set(e.kind.type_name().to_owned()),
        payload: Set(serde_json::to_string(&e.kind).map_err(|err| corrupt("event", err))?),
        actor_id: Set(e.actor_id.0),
        occurred_at: Set(to_micros(e.at)),
    })
}

/// Sets the milestone columns of a new order row from its whole history at once, as
/// [`append`] would have set them event by event: the first event of each milestone wins.
pub(crate) fn set_milestones(row: &mut order::ActiveModel, stored: &[StoredEvent]) {
    use sea_orm::ActiveModelTrait;
    let mut seen = Vec::new();
    for event in stored {
        let Some(column) = milestone_column(&event.kind) else {
            continue;
        };
        let key = std::mem::discriminant(&column);
        if !seen.contains(&key) {
            seen.push(key);
            row.set(column, Some(to_micros(event.at)).into());
        }
    }
}

/// The order column that records when an event's milestone was first reached, if it marks one.
fn milestone_column(kind: &OrderEventKind) -> Option<order::Column> {
    use domain::lifecycle::{OrderStatus as S, PaymentStatus as P};
    match kind {
        OrderEventKind::ReviewCompleted { .. } => Some(order::Column::SubmittedAt),
        OrderEventKind::StatusChanged {
            to: S::Confirmed, ..
        } => Some(order::Column::ConfirmedAt),
        OrderEventKind::StatusChanged { to: S::Shipped, .. } => Some(order::Column::ShippedAt),
        OrderEventKind::StatusChanged {
            to: S::Delivered, ..
        } => Some(order::Column::DeliveredAt),
        OrderEventKind::PaymentStatusChanged { to: P::Paid, .. } => Some(order::Column::PaidAt),
        _ => None,
    }
}

/// Keeps the order's milestone timestamps (analytics reads them instead of the log): each is set
/// the first time its event is stored, in the same transaction, and never moved afterwards.
async fn record_milestones(txn: &WriteTxn, stored: &[StoredEvent]) -> Result<(), RepoError> {
    for event in stored {
        let Some(column) = milestone_column(&event.kind) else {
            continue;
        };
        order::Entity::update_many()
            .col_expr(column, Expr::val(to_micros(event.at)))
            .filter(order::Column::Id.eq(event.order_id.0))
            .filter(column.is_null())
            .exec(txn)
            .await
            .map_err(storage)?;
    }
    Ok(())
}

pub(crate) async fn for_order(store: &Store, id: OrderId) -> Result<Vec<StoredEvent>, RepoError> {
    order_event::Entity::find()
        .filter(order_event::Column::OrderId.eq(id.0))
        .order_by_asc(order_event::Column::Seq)
        .all(&store.db)
        .await
        .map_err(storage)?
        .into_iter()
        .map(StoredEvent::try_from)
        .collect()
}

impl EventLog for Store {
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>, RepoError> {
        // The dispatcher reads here after every commit it is told of (and once more to find
        // the end), so on a SQLite file it reads inline: a page of events, bounded by `limit`.
        let page = order_event::Entity::find()
            .filter(order_event::Column::Seq.gt(after))
            .order_by_asc(order_event::Column::Seq)
            .limit(u64::from(limit));
        self.models(page, event_columns)
            .await?
            .into_iter()
            .map(StoredEvent::try_from)
            .collect()
    }

    async fn last_seq(&self) -> Result<i64, RepoError> {
        // Read at every live subscription's start: inline on a SQLite file.
        let newest = order_event::Entity::find()
            .select_only()
            .column_as(order_event::Column::Seq.max(), "max_seq");
        let max: Option<Option<i64>> = match self.inline_all(&newest, |row| row.get(0)) {
            Some(rows) => rows.into_iter().next(),
            None => newest.into_tuple().one(&self.db).await.map_err(storage)?,
        };
        Ok(max.flatten().unwrap_or(0))
    }
}
