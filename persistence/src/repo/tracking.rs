//! Milestones, shipments, exceptions, change requests and order revisions. Every tracking change
//! goes through the order row's version, like settlement: the records of one order's commands
//! serialize, and a change lands whole (order row, records, events) or not at all.

use chrono::NaiveDate;
use domain::event::{OrderEventKind, StoredEvent};
use domain::lifecycle::OrderStatus;
use domain::money::Currency;
use domain::order::Order;
use domain::ports::{
    ExceptionFilter, Page, PageRequest, RepoError, TrackingChange, TrackingRecord,
    TrackingRepository, TrackingSaved,
};
use domain::tracking::{
    ChangeRequest, ChangeStatus, ExceptionKind, ExceptionStatus, Milestone, MilestoneKind,
    NewChangeRequest, NewException, NewMilestone, NewShipment, OrderException, OrderRevision,
    Severity, Shipment,
};
use domain::user::Scope;
use domain::{CustomerId, OrderId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use super::catalog::scope_condition;
use super::orders::{Touched, orders_with_lines, replace_lines, update_order_row};
use super::{corrupt, events, fetch_limit, into_page};
use crate::codec::{MONEY_SCALE, from_micros, from_scaled, to_micros, to_scaled};
use crate::entity::{change_request, milestone, order, order_exception, order_revision, shipment};
use crate::store::{Store, WriteTxn, storage};

/// Statuses in which an order's delivery is followed, as `tracking::is_at_risk` decides them
/// (holdable, i.e. CONFIRMED .. SHIPPED, or ON_HOLD).
fn tracked_statuses() -> impl Iterator<Item = &'static str> {
    OrderStatus::ALL
        .iter()
        .filter(|s| s.is_holdable() || **s == OrderStatus::OnHold)
        .map(|s| s.as_str())
}

fn to_milestone(row: milestone::Model) -> Result<Milestone, RepoError> {
    Ok(Milestone {
        id: row.id,
        details: NewMilestone {
            order_id: OrderId(row.order_id),
            kind: MilestoneKind::parse(&row.kind).map_err(|e| corrupt("milestone kind", e))?,
            occurred_at: from_micros(row.occurred_at)?,
            note: row.note,
            recorded_by: UserId(row.recorded_by),
        },
    })
}

fn to_shipment(row: shipment::Model) -> Result<Shipment, RepoError> {
    Ok(Shipment {
        id: row.id,
        details: NewShipment {
            order_id: OrderId(row.order_id),
            carrier: row.carrier,
            tracking_number: row.tracking_number,
            lines: serde_json::from_str(&row.lines).map_err(|e| corrupt("shipment lines", e))?,
            shipped_at: from_micros(row.shipped_at)?,
            recorded_by: UserId(row.recorded_by),
        },
        delivered_at: row.delivered_at.map(from_micros).transpose()?,
    })
}

fn to_exception(row: order_exception::Model) -> Result<OrderException, RepoError> {
    Ok(OrderException {
        id: row.id,
        details: NewException {
            order_id: OrderId(row.order_id),
            customer_id: CustomerId(row.customer_id),
            sales_rep_id: UserId(row.sales_rep_id),
            kind: ExceptionKind::parse(&row.kind).map_err(|e| corrupt("exception kind", e))?,
            severity: Severity::parse(&row.severity).map_err(|e| corrupt("severity", e))?,
            description: row.description,
            cost_impact: from_scaled(row.cost_impact_e4, MONEY_SCALE),
            currency: Currency::parse(&row.currency).map_err(|e| corrupt("currency", e))?,
            delay_days: u32::try_from(row.delay_days).map_err(|e| corrupt("delay days", e))?,
            held_order: row.held_order,
            raised_by: UserId(row.raised_by),
            raised_at: from_micros(row.raised_at)?,
        },
        root_cause: row.root_cause,
        actions: row.actions,
        status: ExceptionStatus::parse(&row.status).map_err(|e| corrupt("exception status", e))?,
        resolution: row.resolution,
        lessons_learned: row.lessons_learned,
        resolved_by: row.resolved_by.map(UserId),
        resolved_at: row.resolved_at.map(from_micros).transpose()?,
    })
}

fn to_change_request(row: change_request::Model) -> Result<ChangeRequest, RepoError> {
    Ok(ChangeRequest {
        id: row.id,
        details: NewChangeRequest {
            order_id: OrderId(row.order_id),
            proposal: serde_json::from_str(&row.proposal)
                .map_err(|e| corrupt("change proposal", e))?,
            reason: row.reason,
            base_revision: row.base_revision,
            amount_delta: from_scaled(row.amount_delta_e4, MONEY_SCALE),
            delay_days: row.delay_days,
            review_required: row.review_required,
            requested_by: UserId(row.requested_by),
            requested_at: from_micros(row.requested_at)?,
        },
        status: ChangeStatus::parse(&row.status).map_err(|e| corrupt("change status", e))?,
        decided_by: row.decided_by.map(UserId),
        decided_at: row.decided_at.map(from_micros).transpose()?,
        decision_comment: row.decision_comment,
        applied_revision: row.applied_revision,
        applied_at: row.applied_at.map(from_micros).transpose()?,
    })
}

fn to_revision(row: order_revision::Model) -> Result<OrderRevision, RepoError> {
    Ok(OrderRevision {
        order_id: OrderId(row.order_id),
        revision: row.revision,
        content: serde_json::from_str(&row.content).map_err(|e| corrupt("revision content", e))?,
        promised_date: row.promised_date,
        total: from_scaled(row.total_e4, MONEY_SCALE),
        replaced_at: from_micros(row.replaced_at)?,
        replaced_by_change: row.replaced_by_change,
    })
}

/// The kinds of record a tracking change creates, each announced by one kind of event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Created {
    Milestone,
    Shipment,
    Exception,
    ChangeRequest,
}

/// Whether `event` announces a new record of `kind` and still waits for its id.
fn awaits_id(kind: Created, event: &OrderEventKind) -> bool {
    match (kind, event) {
        (
            Created::Milestone,
            OrderEventKind::MilestoneRecorded {
                milestone_id: id, ..
            },
        )
        | (
            Created::Shipment,
            OrderEventKind::ShipmentRecorded {
                shipment_id: id, ..
            },
        )
        | (
            Created::Exception,
            OrderEventKind::ExceptionRaised {
                exception_id: id, ..
            },
        )
        | (
            Created::ChangeRequest,
            OrderEventKind::ChangeRequested {
                change_request_id: id,
                ..
            },
        ) => *id == 0,
        _ => false,
    }
}

/// Refuses a record of another order: its events would be appended to the wrong one.
fn same_order(order: &Order, record_order: OrderId, what: &str) -> Result<(), RepoError> {
    if record_order == order.id {
        Ok(())
    } else {
        Err(RepoError::Storage(format!(
            "{what} of order {record_order} saved with order {}",
            order.id
        )))
    }
}

/// `NotFound` when an UPDATE of one of the order's records matched nothing.
fn updated(rows: u64, entity: &'static str, id: i64) -> Result<(), RepoError> {
    if rows == 0 {
        Err(RepoError::NotFound { entity, id })
    } else {
        Ok(())
    }
}

/// The row of a newly raised exception: open, not analysed yet.
pub(crate) fn new_exception_row(
    new: NewException,
) -> Result<order_exception::ActiveModel, RepoError> {
    Ok(order_exception::ActiveModel {
        order_id: Set(new.order_id.0),
        customer_id: Set(new.customer_id.0),
        sales_rep_id: Set(new.sales_rep_id.0),
        kind: Set(new.kind.as_str().to_owned()),
        severity: Set(new.severity.as_str().to_owned()),
        description: Set(new.description),
        cost_impact_e4: Set(to_scaled(new.cost_impact, MONEY_SCALE)?),
        currency: Set(new.currency.as_str().to_owned()),
        delay_days: Set(i64::from(new.delay_days)),
        held_order: Set(new.held_order),
        raised_by: Set(new.raised_by.0),
        raised_at: Set(to_micros(new.raised_at)),
        root_cause: Set(None),
        actions: Set(None),
        status: Set(ExceptionStatus::Open.as_str().to_owned()),
        resolution: Set(None),
        lessons_learned: Set(None),
        resolved_by: Set(None),
        resolved_at: Set(None),
        ..Default::default()
    })
}

/// The columns an exception's analysis and resolution change.
pub(crate) fn exception_analysis(exception: OrderException) -> order_exception::ActiveModel {
    order_exception::ActiveModel {
        root_cause: Set(exception.root_cause),
        actions: Set(exception.actions),
        status: Set(exception.status.as_str().to_owned()),
        resolution: Set(exception.resolution),
        lessons_learned: Set(exception.lessons_learned),
        resolved_by: Set(exception.resolved_by.map(|u| u.0)),
        resolved_at: Set(exception.resolved_at.map(to_micros)),
        ..Default::default()
    }
}

/// Writes one record; returns the id and kind of a record it created.
async fn write_record(
    txn: &WriteTxn,
    order: &Order,
    record: TrackingRecord,
) -> Result<Option<(i64, Created)>, RepoError> {
    match record {
        TrackingRecord::NewMilestone(new) => {
            same_order(order, new.order_id, "milestone")?;
            let row = milestone::ActiveModel {
                order_id: Set(new.order_id.0),
                kind: Set(new.kind.as_str().to_owned()),
                occurred_at: Set(to_micros(new.occurred_at)),
                note: Set(new.note),
                recorded_by: Set(new.recorded_by.0),
                ..Default::default()
            }
            .insert(txn)
            .await
            .map_err(storage)?;
            Ok(Some((row.id, Created::Milestone)))
        }
        TrackingRecord::NewShipment(new) => {
            same_order(order, new.order_id, "shipment")?;
            let row = shipment::ActiveModel {
                order_id: Set(new.order_id.0),
                carrier: Set(new.carrier),
                tracking_number: Set(new.tracking_number),
                lines: Set(serde_json::to_string(&new.lines).map_err(|e| corrupt("lines", e))?),
                shipped_at: Set(to_micros(new.shipped_at)),
                recorded_by: Set(new.recorded_by.0),
                delivered_at: Set(None),
                ..Default::default()
            }
            .insert(txn)
            .await
            .map_err(storage)?;
            Ok(Some((row.id, Created::Shipment)))
        }
        TrackingRecord::ShipmentDelivered {
            shipment_id,
            delivered_at,
        } => {
            let result = shipment::Entity::update_many()
                .col_expr(
                    shipment::Column::DeliveredAt,
                    Expr::value(Some(to_micros(delivered_at))),
                )
                .filter(shipment::Column::Id.eq(shipment_id))
                .filter(shipment::Column::OrderId.eq(order.id.0))
                .exec(txn)
                .await
                .map_err(storage)?;
            updated(result.rows_affected, "shipment", shipment_id)?;
            Ok(None)
        }
        TrackingRecord::NewException(new) => {
            same_order(order, new.order_id, "exception")?;
            let row = new_exception_row(new)?.insert(txn).await.map_err(storage)?;
            Ok(Some((row.id, Created::Exception)))
        }
        TrackingRecord::UpdatedException(exception) => {
            let id = exception.id;
            let result = order_exception::Entity::update_many()
                .set(exception_analysis(exception))
                .filter(order_exception::Column::Id.eq(id))
                .filter(order_exception::Column::OrderId.eq(order.id.0))
                .exec(txn)
                .await
                .map_err(storage)?;
            updated(result.rows_affected, "exception", id)?;
            Ok(None)
        }
        TrackingRecord::NewChangeRequest(new) => {
            same_order(order, new.order_id, "change request")?;
            let row = change_request::ActiveModel {
                order_id: Set(new.order_id.0),
                proposal: Set(
                    serde_json::to_string(&new.proposal).map_err(|e| corrupt("proposal", e))?
                ),
                reason: Set(new.reason),
                base_revision: Set(new.base_revision),
                amount_delta_e4: Set(to_scaled(new.amount_delta, MONEY_SCALE)?),
                delay_days: Set(new.delay_days),
                review_required: Set(new.review_required),
                requested_by: Set(new.requested_by.0),
                requested_at: Set(to_micros(new.requested_at)),
                status: Set(ChangeStatus::Proposed.as_str().to_owned()),
                decided_by: Set(None),
                decided_at: Set(None),
                decision_comment: Set(None),
                applied_revision: Set(None),
                applied_at: Set(None),
                ..Default::default()
            }
            .insert(txn)
            .await
            .map_err(storage)?;
            Ok(Some((row.id, Created::ChangeRequest)))
        }
        TrackingRecord::UpdatedChangeRequest(request) => {
            let result = change_request::Entity::update_many()
                .set(change_request::ActiveModel {
                    status: Set(request.status.as_str().to_owned()),
                    decided_by: Set(request.decided_by.map(|u| u.0)),
                    decided_at: Set(request.decided_at.map(to_micros)),
                    decision_comment: Set(request.decision_comment),
                    applied_revision: Set(request.applied_revision),
                    applied_at: Set(request.applied_at.map(to_micros)),
                    ..Default::default()
                })
                .filter(change_request::Column::Id.eq(request.id))
                .filter(change_request::Column::OrderId.eq(order.id.0))
                .exec(txn)
                .await
                .map_err(storage)?;
            updated(result.rows_affected, "change request", request.id)?;
            Ok(None)
        }
        TrackingRecord::Revision(revision) => {
            same_order(order, revision.order_id, "revision")?;
            order_revision::ActiveModel {
                order_id: Set(revision.order_id.0),
                revision: Set(revision.revision),
                content: Set(
                    serde_json::to_string(&revision.content).map_err(|e| corrupt("content", e))?
                ),
                promised_date: Set(revision.promised_date),
                total_e4: Set(to_scaled(revision.total, MONEY_SCALE)?),
                replaced_at: Set(to_micros(revision.replaced_at)),
                replaced_by_change: Set(revision.replaced_by_change),
            }
            .insert(txn)
            .await
            .map_err(storage)?;
            Ok(None)
        }
    }
}

impl Store {
    async fn try_save_tracking(
        &self,
        change: TrackingChange<'_>,
    ) -> Result<TrackingSaved, RepoError> {
        let order = change.order;
        let txn = self.begin_write().await?;
        let touched = Touched {
            rep: false,
            lines: change.lines_changed,
        };
        update_order_row(&txn, order, change.expected_version, touched).await?;
        if change.lines_changed {
            replace_lines(&txn, order).await?;
        }
        let mut events = change.events;
        let mut new_id = None;
        for record in change.records {
            if let Some((id, kind)) = write_record(&txn, order, record).await? {
                // Records and the events announcing them pair up in order.
                if let Some(event) = events.iter_mut().find(|e| awaits_id(kind, e)) {
                    event.assign_record_id(id);
                }
                new_id = new_id.or(Some(id));
            }
        }
        // Also wakes the dispatchers (NOTIFY on PostgreSQL, sent on commit).
        let stored: Vec<StoredEvent> =
            events::append(&txn, order, events, change.actor_id, change.at).await?;
        txn.commit().await?;
        Ok(TrackingSaved {
            new_id,
            events: stored,
        })
    }
}

impl TrackingRepository for Store {
    async fn save_tracking(&self, change: TrackingChange<'_>) -> Result<TrackingSaved, RepoError> {
        // No idempotency key is claimed here, so unlike settlement there is nothing to replay:
        // a stale version is answered with `Conflict` and the caller decides again.
        self.try_save_tracking(change).await
    }

    async fn milestones_of_order(&self, order_id: OrderId) -> Result<Vec<Milestone>, RepoError> {
        milestone::Entity::find()
            .filter(milestone::Column::OrderId.eq(order_id.0))
            .order_by_asc(milestone::Column::OccurredAt)
            .order_by_asc(milestone::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_milestone)
            .collect()
    }

    async fn shipments_of_order(&self, order_id: OrderId) -> Result<Vec<Shipment>, RepoError> {
        shipment::Entity::find()
            .filter(shipment::Column::OrderId.eq(order_id.0))
            .order_by_asc(shipment::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_shipment)
            .collect()
    }

    async fn shipment(&self, id: i64) -> Result<Option<Shipment>, RepoError> {
        shipment::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(to_shipment)
            .transpose()
    }

    async fn exception(&self, id: i64) -> Result<Option<OrderException>, RepoError> {
        order_exception::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(to_exception)
            .transpose()
    }

    async fn list_exceptions(
        &self,
        scope: Scope,
        filter: &ExceptionFilter,
        page: PageRequest,
    ) -> Result<Page<OrderException>, RepoError> {
        let mut query = order_exception::Entity::find().filter(scope_condition(
            scope,
            order_exception::Column::SalesRepId,
            order_exception::Column::CustomerId,
        ));
        if let Some(status) = filter.status {
            query = query.filter(order_exception::Column::Status.eq(status.as_str()));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(order_exception::Column::Kind.eq(kind.as_str()));
        }
        if let Some(severity) = filter.severity {
            query = query.filter(order_exception::Column::Severity.eq(severity.as_str()));
        }
        if let Some(customer) = filter.customer_id {
            query = query.filter(order_exception::Column::CustomerId.eq(customer.0));
        }
        if let Some(order_id) = filter.order_id {
            query = query.filter(order_exception::Column::OrderId.eq(order_id.0));
        }
        if let Some(from) = filter.from {
            query = query.filter(order_exception::Column::RaisedAt.gte(to_micros(from)));
        }
        if let Some(to) = filter.to {
            query = query.filter(order_exception::Column::RaisedAt.lt(to_micros(to)));
        }
        if let Some(after) = page.after {
            query = query.filter(order_exception::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(order_exception::Column::Id)
            .limit(fetch_limit(page))
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_exception)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(rows, page))
    }

    async fn change_request(&self, id: i64) -> Result<Option<ChangeRequest>, RepoError> {
        change_request::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(to_change_request)
            .transpose()
    }

    async fn change_requests_of_order(
        &self,
        order_id: OrderId,
    ) -> Result<Vec<ChangeRequest>, RepoError> {
        change_request::Entity::find()
            .filter(change_request::Column::OrderId.eq(order_id.0))
            .order_by_asc(change_request::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_change_request)
            .collect()
    }

    async fn revisions_of_order(&self, order_id: OrderId) -> Result<Vec<OrderRevision>, RepoError> {
        order_revision::Entity::find()
            .filter(order_revision::Column::OrderId.eq(order_id.0))
            .order_by_asc(order_revision::Column::Revision)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_revision)
            .collect()
    }

    /// `page.after` is the number of at-risk orders already seen (an offset, not an id): the
    /// list is in promised-date order, which ids do not follow. The next page's `after` is the
    /// previous `after` plus the items returned.
    async fn orders_at_risk(
        &self,
        scope: Scope,
        today: NaiveDate,
        page: PageRequest,
    ) -> Result<Page<Order>, RepoError> {
        // Exactly `tracking::is_at_risk`: a tracked status, a promised date, and either the
        // promised date passed (`today` after it) or the expected date after it. A missing
        // expected date compares as NULL, i.e. not late.
        let late = Condition::any()
            .add(order::Column::PromisedDate.lt(today))
            .add(Expr::col(order::Column::ExpectedDate).gt(Expr::col(order::Column::PromisedDate)));
        let offset = page
            .after
            .map_or(0, |after| u64::try_from(after).unwrap_or(0));
        let select = order::Entity::find()
            .filter(scope_condition(
                scope,
                order::Column::SalesRepId,
                order::Column::CustomerId,
            ))
            .filter(order::Column::Status.is_in(tracked_statuses()))
            .filter(order::Column::PromisedDate.is_not_null())
            .filter(late)
            .order_by_asc(order::Column::PromisedDate)
            .order_by_asc(order::Column::Id)
            .offset(offset)
            .limit(fetch_limit(page));
        Ok(into_page(orders_with_lines(&self.db, select).await?, page))
    }
}
