//! Tracking use cases: milestones, shipments and deliveries, exceptions, change requests, the
//! at-risk list and the timeline. Commands that carry an `expectedVersion` are refused when it
//! is stale; those that do not (delivering a shipment, working on an exception or a change
//! request) are decided again on fresh data when they lose a race on the order's version, so a
//! busy order never bounces them back to a client that could not have known better.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use domain::archive::OrderNote;
use domain::event::{OrderEventKind, StoredEvent};
use domain::lifecycle::{OrderCommand, OrderStatus, decide};
use domain::order::Order;
use domain::ports::{
    ArchiveRepository, ExceptionFilter, OrderRepository, Page, PageRequest, ProductRepository,
    RepoError, SettlementRepository, TrackingChange, TrackingRecord, TrackingRepository,
    TrackingSaved,
};
use domain::review::Severity as ReviewSeverity;
use domain::settlement::invoiced_per_line;
use domain::tracking::{
    ChangeBasis, ChangeImpact, ChangeProposal, ChangeRequest, ChangeStatus, ExceptionKind,
    Milestone, MilestoneKind, NewChangeRequest, NewException, NewMilestone, NewShipment,
    OrderException, OrderRevision, Severity, Shipment, ShipmentLine, all_delivered, apply_change,
    decide_change, plan_shipment, preview_change, raise_exception, record_milestone,
    resolve_exception, update_exception,
};
use domain::user::{Actor, Role};
use domain::{OrderId, ProductId};
use rust_decimal::Decimal;

use super::{Services, staff_only};
use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::loaders::Loaders;

/// How often a command without `expectedVersion` is decided again after losing a race.
const MAX_ATTEMPTS: u32 = 30;

/// What a tracking mutation returns: the order after it, and the record it concerns.
#[derive(Clone, Debug)]
pub struct Tracked<T> {
    /// The order after the change.
    pub order: Order,
    /// The milestone, shipment, exception or change request.
    pub record: T,
}

/// Input of `raiseException`, parsed.
#[derive(Clone, Debug)]
pub struct ExceptionInput {
    /// What kind.
    pub kind: ExceptionKind,
    /// How bad.
    pub severity: Severity,
    /// What happened.
    pub description: String,
    /// Estimated cost in the order's currency.
    pub cost_impact: Decimal,
    /// Estimated delay in days.
    pub delay_days: u32,
    /// Put the order ON_HOLD in the same transaction.
    pub hold_order: bool,
}

/// What a change would do, with the checks that need storage: credit and review.
#[derive(Clone, Debug)]
pub struct ChangePreview {
    /// The order as it is.
    pub order: Order,
    /// The pure impact.
    pub impact: ChangeImpact,
    /// The customer's credit limit.
    pub credit_limit: Decimal,
    /// The customer's currency, in which limit and exposure are counted.
    pub credit_currency: domain::money::Currency,
    /// Open receivables and other confirmed unbilled orders, plus this order before the change
    /// (when in the limit's currency).
    pub exposure_before: Decimal,
    /// The same after the change.
    pub exposure_after: Decimal,
    /// Whether the customer's currency is the order's (credit is compared only then).
    pub credit_comparable: bool,
    /// Review findings on the new content that need a manager or block it.
    pub findings: Vec<domain::review::Finding>,
}

impl ChangePreview {
    /// Whether review flags the new content (so a manager must approve the change).
    pub fn review_required(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity != ReviewSeverity::Info)
    }

    /// Whether the change takes the customer past their credit limit.
    pub fn exceeds_credit(&self) -> bool {
        self.credit_comparable && self.exposure_after > self.credit_limit
    }
}

/// One entry of an order's timeline: an event or a note.
#[derive(Clone, Debug)]
pub enum TimelineItem {
    /// A stored event.
    Event(StoredEvent),
    /// A note on the order.
    Note(OrderNote),
}

impl TimelineItem {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            TimelineItem::Event(e) => e.at,
            TimelineItem::Note(n) => n.created_at,
        }
    }
}

impl Services {
    /// The order's milestones.
    pub async fn milestones_of(&self, order_id: OrderId) -> ApiResult<Vec<Milestone>> {
        Ok(self.store.milestones_of_order(order_id).await?)
    }

    /// The order's shipments.
    pub async fn shipments_of(&self, order_id: OrderId) -> ApiResult<Vec<Shipment>> {
        Ok(self.store.shipments_of_order(order_id).await?)
    }

    /// The order's change requests (staff only).
    pub async fn change_requests_of(
        &self,
        actor: &Actor,
        order_id: OrderId,
    ) -> ApiResult<Vec<ChangeRequest>> {
        staff_only(actor, "change requests")?;
        Ok(self.store.change_requests_of_order(order_id).await?)
    }

    /// The order's previous revisions.
    pub async fn revisions_of(&self, order_id: OrderId) -> ApiResult<Vec<OrderRevision>> {
        Ok(self.store.revisions_of_order(order_id).await?)
    }

    /// Exceptions the actor may see (staff only).
    pub async fn exceptions(
        &self,
        actor: &Actor,
        filter: &ExceptionFilter,
        page: PageRequest,
    ) -> ApiResult<Page<OrderException>> {
        staff_only(actor, "exceptions")?;
        Ok(self
            .store
            .list_exceptions(actor.scope(), filter, page)
            .await?)
    }

    /// Orders the actor may see whose delivery is at risk today.
    pub async fn orders_at_risk(&self, actor: &Actor, page: PageRequest) -> ApiResult<Page<Order>> {
        staff_only(actor, "delivery risks")?;
        Ok(self
            .store
            .orders_at_risk(actor.scope(), super::now().date_naive(), page)
            .await?)
    }

    /// The order's timeline: events and notes, oldest first. CUSTOMER users get what concerns
    /// them (`OrderEventKind::customer_visible`, CUSTOMER_VISIBLE notes).
    pub async fn timeline(&self, actor: &Actor, order_id: OrderId) -> ApiResult<Vec<TimelineItem>> {
        let customer = actor.role == Role::Customer;
        let mut items: Vec<TimelineItem> = self
            .store
            .order_events(order_id)
            .await?
            .into_iter()
            .filter(|e| !customer || e.kind.customer_visible())
            .map(TimelineItem::Event)
            .collect();
        items.extend(
            self.store
                .order_notes(&[order_id], !customer)
                .await?
                .into_iter()
                .map(TimelineItem::Note),
        );
        // Stable: events keep their log order among equal times, and a note written in the
        // same microsecond as an event follows it.
        items.sort_by_key(TimelineItem::at);
        Ok(items)
    }

    /// Records a milestone; `expected_date` moves the expected delivery at the same time.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_milestone(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        order_id: OrderId,
        expected_version: i64,
        kind: MilestoneKind,
        occurred_at: Option<DateTime<Utc>>,
        note: Option<String>,
        expected_date: Option<NaiveDate>,
    ) -> ApiResult<Tracked<Milestone>> {
        staff_only(actor, "milestones")?;
        let order = self
            .order_at(loaders, actor, order_id, expected_version)
            .await?;
        let now = super::now();
        let mut next = order.clone();
        let (milestone, events) = record_milestone(
            &mut next,
            NewMilestone {
                order_id,
                kind,
                occurred_at: occurred_at.map_or(now, trunc),
                note,
                recorded_by: actor.user_id,
            },
            expected_date,
            now,
        )?;
        let next = bump(next, now);
        let records = vec![TrackingRecord::NewMilestone(milestone.clone())];
        let saved = self
            .commit(&order, &next, records, events, actor, now)
            .await?;
        Ok(Tracked {
            order: next,
            record: Milestone {
                id: saved.new_id.unwrap_or_default(),
                details: milestone,
            },
        })
    }

    /// Records a shipment: the order moves to PARTIALLY_SHIPPED or SHIPPED by the quantities.
    pub async fn record_shipment(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        order_id: OrderId,
        expected_version: i64,
        shipment: NewShipment,
    ) -> ApiResult<Tracked<Shipment>> {
        staff_only(actor, "shipments")?;
        let order = self
            .order_at(loaders, actor, order_id, expected_version)
            .await?;
        let shipments = self.store.shipments_of_order(order_id).await?;
        let now = super::now();
        let shipment = NewShipment {
            shipped_at: trunc(shipment.shipped_at),
            ..shipment
        };
        let (shipment, complete) = plan_shipment(&order, &shipments, shipment, now)?;
        let decision = decide(
            &order,
            OrderCommand::RecordShipment { complete },
            actor,
            now,
        )?;
        let mut events = vec![OrderEventKind::ShipmentRecorded {
            shipment_id: 0,
            carrier: shipment.carrier.clone(),
            tracking_number: shipment.tracking_number.clone(),
            lines: shipment.lines.clone(),
        }];
        events.extend(decision.events);
        let records = vec![TrackingRecord::NewShipment(shipment.clone())];
        let saved = self
            .commit(&order, &decision.order, records, events, actor, now)
            .await?;
        Ok(Tracked {
            order: decision.order,
            record: Shipment {
                id: saved.new_id.unwrap_or_default(),
                details: shipment,
                delivered_at: None,
            },
        })
    }

    /// Marks a shipment delivered; when every shipment of a SHIPPED order has arrived, the
    /// order is DELIVERED (and COMPLETED when also paid). Delivering it again changes nothing
    /// and answers the same, so a phone may retry.
    pub async fn mark_delivered(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        shipment_id: i64,
        delivered_at: Option<DateTime<Utc>>,
    ) -> ApiResult<Tracked<Shipment>> {
        staff_only(actor, "shipments")?;
        let not_found = || ApiError::NotFound(format!("shipment {shipment_id} not found"));
        retrying(|| async move {
            let shipment = self
                .store
                .shipment(shipment_id)
                .await?
                .ok_or_else(not_found)?;
            let order = self
                .order(loaders, actor, shipment.details.order_id)
                .await
                .map_err(|_| not_found())?;
            if shipment.delivered_at.is_some() {
                return Ok(Tracked {
                    order,
                    record: shipment,
                });
            }
            let now = super::now();
            let delivered_at = delivered_at.map_or(now, trunc);
            if delivered_at > now + chrono::Duration::minutes(1) {
                return Err(ApiError::bad_input(
                    "deliveredAt",
                    format!("{delivered_at} is in the future"),
                ));
            }
            if delivered_at < shipment.details.shipped_at {
                return Err(ApiError::bad_input(
                    "deliveredAt",
                    format!(
                        "{delivered_at} is before the shipment left ({})",
                        shipment.details.shipped_at
                    ),
                ));
            }
            let shipments = self.store.shipments_of_order(order.id).await?;
            let mut events = vec![OrderEventKind::ShipmentDelivered {
                shipment_id,
                delivered_at,
            }];
            let next = if all_delivered(&order, &shipments, shipment_id) {
                let decision = decide(&order, OrderCommand::Deliver, actor, now)?;
                events.extend(decision.events);
                decision.order
            } else {
                bump(order.clone(), now)
            };
            self.commit(
                &order,
                &next,
                vec![TrackingRecord::ShipmentDelivered {
                    shipment_id,
                    delivered_at,
                }],
                events,
                actor,
                now,
            )
            .await?;
            Ok(Tracked {
                order: next,
                record: Shipment {
                    delivered_at: Some(delivered_at),
                    ..shipment
                },
            })
        })
        .await
    }

    /// Raises an exception; `hold_order` puts the order ON_HOLD in the same transaction and a
    /// delay moves the expected delivery date (which may put it at risk).
    pub async fn raise_exception(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        order_id: OrderId,
        expected_version: i64,
        input: ExceptionInput,
    ) -> ApiResult<Tracked<OrderException>> {
        staff_only(actor, "exceptions")?;
        let order = self
            .order_at(loaders, actor, order_id, expected_version)
            .await?;
        let now = super::now();
        let mut next = order.clone();
        let (exception, mut events) = raise_exception(
            &mut next,
            NewException {
                order_id,
                customer_id: order.customer_id,
                sales_rep_id: order.sales_rep_id,
                kind: input.kind,
                severity: input.severity,
                description: input.description,
                cost_impact: input.cost_impact,
                currency: order.currency,
                delay_days: input.delay_days,
                held_order: input.hold_order,
                raised_by: actor.user_id,
                raised_at: now,
            },
            now.date_naive(),
        )?;
        let next = if input.hold_order {
            let reason = format!("{} exception: {}", exception.kind, exception.description);
            let decision = decide(&next, OrderCommand::Hold { reason }, actor, now)?;
            events.extend(decision.events);
            decision.order
        } else {
            bump(next, now)
        };
        let records = vec![TrackingRecord::NewException(exception.clone())];
        let saved = self
            .commit(&order, &next, records, events, actor, now)
            .await?;
        Ok(Tracked {
            order: next,
            record: OrderException::open(saved.new_id.unwrap_or_default(), exception),
        })
    }

    /// An exception whose order the actor may see, with that order.
    async fn exception_state(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: i64,
    ) -> ApiResult<(Order, OrderException)> {
        let not_found = || ApiError::NotFound(format!("exception {id} not found"));
        let exception = self.store.exception(id).await?.ok_or_else(not_found)?;
        let order = self
            .order(loaders, actor, exception.details.order_id)
            .await
            .map_err(|_| not_found())?;
        Ok((order, exception))
    }

    /// One exception the actor may see (staff only).
    pub async fn exception(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: i64,
    ) -> ApiResult<OrderException> {
        staff_only(actor, "exceptions")?;
        Ok(self.exception_state(loaders, actor, id).await?.1)
    }

    /// Records the root cause and actions of an open exception.
    pub async fn update_exception(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: i64,
        root_cause: Option<String>,
        actions: Option<String>,
    ) -> ApiResult<Tracked<OrderException>> {
        staff_only(actor, "exceptions")?;
        let (root_cause, actions) = (&root_cause, &actions);
        retrying(|| async move {
            let (order, exception) = self.exception_state(loaders, actor, id).await?;
            let (updated, event) =
                update_exception(&order, &exception, root_cause.clone(), actions.clone())?;
            let now = super::now();
            let next = bump(order.clone(), now);
            let records = vec![TrackingRecord::UpdatedException(updated.clone())];
            self.commit(&order, &next, records, vec![event], actor, now)
                .await?;
            Ok(Tracked {
                order: next,
                record: updated,
            })
        })
        .await
    }

    /// Resolves an exception; `resume_order` resumes the order when it is ON_HOLD.
    pub async fn resolve_exception(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: i64,
        resolution: &str,
        lessons_learned: Option<&str>,
        resume_order: bool,
    ) -> ApiResult<Tracked<OrderException>> {
        staff_only(actor, "exceptions")?;
        retrying(|| async move {
            let (order, exception) = self.exception_state(loaders, actor, id).await?;
            let now = super::now();
            let (resolved, event) = resolve_exception(
                &order,
                &exception,
                resolution,
                lessons_learned,
                actor.user_id,
                now,
            )?;
            let mut events = vec![event];
            let next = if resume_order && order.status == OrderStatus::OnHold {
                let decision = decide(&order, OrderCommand::Resume, actor, now)?;
                events.extend(decision.events);
                decision.order
            } else {
                bump(order.clone(), now)
            };
            let records = vec![TrackingRecord::UpdatedException(resolved.clone())];
            self.commit(&order, &next, records, events, actor, now)
                .await?;
            Ok(Tracked {
                order: next,
                record: resolved,
            })
        })
        .await
    }

    /// What a change would do to the order now; stores nothing.
    pub async fn preview_change(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        order_id: OrderId,
        proposal: &ChangeProposal,
    ) -> ApiResult<ChangePreview> {
        staff_only(actor, "change requests")?;
        let order = self.order(loaders, actor, order_id).await?;
        self.preview_on(loaders, order, proposal).await
    }

    async fn preview_on(
        &self,
        loaders: &Loaders,
        order: Order,
        proposal: &ChangeProposal,
    ) -> ApiResult<ChangePreview> {
        let shipments = self.store.shipments_of_order(order.id).await?;
        let basis = self.change_basis(&order, &shipments).await?;
        let products = self.change_products(&order, proposal).await?;
        let impact = preview_change(
            &order,
            basis,
            proposal,
            &products,
            super::now().date_naive(),
        )?;
        let customer = loaders
            .load_one(order.customer_id)
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .ok_or_else(|| {
                ApiError::NotFound(format!("customer {} not found", order.customer_id))
            })?;
        let limit_currency = customer.profile.currency;
        let exposure = self
            .store
            .credit_exposure(order.customer_id, limit_currency, order.id)
            .await?;
        let base = exposure.open_receivables + exposure.unbilled_confirmed;
        let comparable = limit_currency == order.currency;
        let (before, after) = if comparable {
            (base + impact.total_before, base + impact.total_after)
        } else {
            (base, base)
        };
        let mut changed = order.clone();
        changed.content = impact.content.clone();
        let findings = self
            .run_review(loaders, &changed)
            .await?
            .into_iter()
            .filter(|f| f.severity != ReviewSeverity::Info)
            .collect();
        Ok(ChangePreview {
            order,
            impact,
            credit_limit: customer.profile.credit_limit,
            credit_currency: limit_currency,
            exposure_before: before,
            exposure_after: after,
            credit_comparable: comparable,
            findings,
        })
    }

    /// What a change is checked against besides the order: shipped and invoiced quantities,
    /// and the line numbers used so far.
    async fn change_basis<'a>(
        &self,
        order: &Order,
        shipments: &'a [Shipment],
    ) -> ApiResult<ChangeBasis<'a>> {
        let invoices = self.store.invoices_of_order(order.id).await?;
        let highest_line_no = self
            .store
            .revisions_of_order(order.id)
            .await?
            .iter()
            .flat_map(|r| r.content.lines.iter().map(|l| l.line_no))
            .max()
            .unwrap_or(0);
        Ok(ChangeBasis {
            shipments,
            invoiced: invoiced_per_line(&invoices)
                .into_iter()
                .map(|(line_no, (quantity, _))| (line_no, quantity))
                .collect(),
            highest_line_no,
        })
    }

    /// Products a proposal and the order refer to, for pricing and lead times.
    async fn change_products(
        &self,
        order: &Order,
        proposal: &ChangeProposal,
    ) -> ApiResult<HashMap<ProductId, domain::catalog::Product>> {
        let mut ids: Vec<ProductId> = order.content.lines.iter().map(|l| l.product_id).collect();
        ids.extend(proposal.lines.iter().filter_map(|l| l.product_id));
        ids.sort_unstable_by_key(|id| id.0);
        ids.dedup();
        Ok(self
            .store
            .products_by_ids(&ids)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect())
    }

    /// Stores a change request as PROPOSED, with its impact as computed now.
    pub async fn request_change(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        order_id: OrderId,
        expected_version: i64,
        proposal: ChangeProposal,
        reason: &str,
    ) -> ApiResult<Tracked<ChangeRequest>> {
        staff_only(actor, "change requests")?;
        let reason = domain::catalog::required_text("reason", reason, 1000)?;
        let order = self
            .order_at(loaders, actor, order_id, expected_version)
            .await?;
        let preview = self.preview_on(loaders, order.clone(), &proposal).await?;
        let now = super::now();
        let request = NewChangeRequest {
            order_id,
            proposal,
            reason: reason.clone(),
            base_revision: order.revision,
            amount_delta: preview.impact.amount_delta(),
            delay_days: preview.impact.delay_days(),
            review_required: preview.review_required() || preview.exceeds_credit(),
            requested_by: actor.user_id,
            requested_at: now,
        };
        let event = OrderEventKind::ChangeRequested {
            change_request_id: 0,
            reason,
            amount_delta: request.amount_delta,
            delay_days: request.delay_days,
            review_required: request.review_required,
        };
        let next = bump(order.clone(), now);
        let records = vec![TrackingRecord::NewChangeRequest(request.clone())];
        let saved = self
            .commit(&order, &next, records, vec![event], actor, now)
            .await?;
        Ok(Tracked {
            order: next,
            record: ChangeRequest {
                id: saved.new_id.unwrap_or_default(),
                details: request,
                status: ChangeStatus::Proposed,
                decided_by: None,
                decided_at: None,
                decision_comment: None,
                applied_revision: None,
                applied_at: None,
            },
        })
    }

    /// A change request whose order the actor may see, with that order (staff only).
    pub async fn change_request(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: i64,
    ) -> ApiResult<(Order, ChangeRequest)> {
        staff_only(actor, "change requests")?;
        let not_found = || ApiError::NotFound(format!("change request {id} not found"));
        let request = self.store.change_request(id).await?.ok_or_else(not_found)?;
        let order = self
            .order(loaders, actor, request.details.order_id)
            .await
            .map_err(|_| not_found())?;
        Ok((order, request))
    }

    /// Approves or rejects a proposed change: a MANAGER (or ADMIN) always; the order's rep
    /// only within their authority (`[change_authority]` of the review configuration: the
    /// amount may move by at most the configured amount, and review must not flag it).
    pub async fn decide_change(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: i64,
        approve: bool,
        comment: Option<&str>,
    ) -> ApiResult<Tracked<ChangeRequest>> {
        retrying(|| async move {
            let (order, request) = self.change_request(loaders, actor, id).await?;
            if actor.role == Role::Sales {
                let limit = self.review_policy.rep_change_limit(order.currency);
                let within = !request.details.review_required
                    && limit.is_some_and(|limit| request.details.amount_delta.abs() <= limit);
                if !within {
                    return Err(ApiError::Forbidden(format!(
                        "change request {id} is beyond a sales rep's authority{}; a manager decides it",
                        limit.map_or_else(
                            || " (none configured)".to_owned(),
                            |l| format!(
                                " (amount change up to {l} {}, no review findings)",
                                order.currency
                            )
                        )
                    )));
                }
            }
            let now = super::now();
            let (decided, event) =
                decide_change(&order, &request, approve, comment, actor.user_id, now)?;
            let next = bump(order.clone(), now);
            let records = vec![TrackingRecord::UpdatedChangeRequest(decided.clone())];
            self.commit(&order, &next, records, vec![event], actor, now)
                .await?;
            Ok(Tracked {
                order: next,
                record: decided,
            })
        })
        .await
    }

    /// Applies an approved change: the order gets the new content and the next revision, and
    /// the previous content stays readable.
    pub async fn apply_change(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: i64,
        expected_version: i64,
    ) -> ApiResult<Tracked<ChangeRequest>> {
        let (order, request) = self.change_request(loaders, actor, id).await?;
        if order.version != expected_version {
            return Err(RepoError::Conflict {
                expected: expected_version,
                actual: order.version,
            }
            .into());
        }
        let shipments = self.store.shipments_of_order(order.id).await?;
        let basis = self.change_basis(&order, &shipments).await?;
        let products = self
            .change_products(&order, &request.details.proposal)
            .await?;
        let now = super::now();
        let applied = apply_change(&order, basis, &request, &products, now)?;
        let next = bump(applied.order, now);
        let records = vec![
            TrackingRecord::UpdatedChangeRequest(applied.request.clone()),
            TrackingRecord::Revision(applied.previous),
        ];
        self.commit(&order, &next, records, applied.events, actor, now)
            .await?;
        Ok(Tracked {
            order: next,
            record: applied.request,
        })
    }

    /// Stores `next` (decided on `before`, its version already raised) with the records and
    /// events in one transaction, and wakes the subscribers. `CONFLICT` when `before` is stale.
    async fn commit(
        &self,
        before: &Order,
        next: &Order,
        records: Vec<TrackingRecord>,
        events: Vec<OrderEventKind>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> ApiResult<TrackingSaved> {
        let saved = self
            .store
            .save_tracking(TrackingChange {
                order: next,
                expected_version: before.version,
                lines_changed: before.content.lines != next.content.lines,
                records,
                events,
                actor_id: actor.user_id,
                at: now,
            })
            .await?;
        self.hub.committed();
        Ok(saved)
    }
}

/// Runs `attempt` again, on fresh data, while it loses races on the order's version: for
/// commands without `expectedVersion`, whose client could not have known better.
async fn retrying<T, F, Fut>(mut attempt: F) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ApiResult<T>>,
{
    for _ in 0..MAX_ATTEMPTS {
        match attempt().await {
            Err(ApiError::Conflict { .. }) => {}
            other => return other,
        }
    }
    Err(ApiError::Internal(
        "the order is too busy; try again".into(),
    ))
}

/// The order one version up, as every stored command leaves it. `next` still carries the
/// version it was decided on.
fn bump(mut next: Order, now: DateTime<Utc>) -> Order {
    next.version += 1;
    next.updated_at = now;
    next
}

/// Times are kept to the microsecond, as storage keeps them.
fn trunc(at: DateTime<Utc>) -> DateTime<Utc> {
    chrono::SubsecRound::trunc_subsecs(at, 6)
}

/// Parses shipment lines given as `(line number, quantity)`.
pub fn shipment_lines(lines: Vec<(u32, Decimal)>) -> ApiResult<Vec<ShipmentLine>> {
    lines
        .into_iter()
        .map(|(line_no, quantity)| {
            Ok(ShipmentLine {
                line_no,
                quantity: domain::order::Quantity::new(quantity)?,
            })
        })
        .collect()
}

/// One line for people about an event, for the timeline.
pub fn event_summary(kind: &OrderEventKind) -> String {
    use OrderEventKind as E;
    let lines = |n: usize| {
        if n == 1 {
            "1 line".to_owned()
        } else {
            format!("{n} lines")
        }
    };
    match kind {
        E::OrderCreated {
            number,
            total,
            currency,
            ..
        } => {
            format!("Order {number} created ({total} {currency})")
        }
        E::DraftUpdated { changed } => format!("Draft updated: {}", changed.join(", ")),
        E::ReviewCompleted { findings, outcome } => {
            format!("Review: {} finding(s), {outcome}", findings.len())
        }
        E::OrderConfirmed { confirmation } => {
            // The channel's API name (EMAIL, PORTAL...), as clients see it everywhere else.
            let channel = serde_json::to_value(confirmation.channel)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("Confirmed by {} ({channel})", confirmation.confirmed_by)
        }
        E::StatusChanged { from, to, reason } => match reason {
            Some(reason) => format!("{from} → {to}: {reason}"),
            None => format!("{from} → {to}"),
        },
        E::InvoiceIssued {
            number,
            amount,
            currency,
            due_on,
            ..
        } => {
            format!("Invoice {number} issued: {amount} {currency}, due {due_on}")
        }
        E::InvoiceVoided { number, reason, .. } => format!("Invoice {number} voided: {reason}"),
        E::PaymentRecorded {
            invoice_number,
            amount,
            ..
        } => {
            format!("Payment of {amount} on {invoice_number}")
        }
        E::PaymentStatusChanged { from, to } => {
            format!("Payment status {} → {}", from.as_str(), to.as_str())
        }
        E::CollectionLogged {
            invoice_number,
            kind,
            ..
        } => {
            format!("Collection {} on {invoice_number}", kind.as_str())
        }
        E::OrderReassigned { from, to, .. } => format!("Reassigned from user {from} to user {to}"),
        E::MilestoneRecorded { kind, note, .. } => match note {
            Some(note) => format!("{kind}: {note}"),
            None => kind.to_string(),
        },
        E::ExpectedDateChanged { from, to, reason } => match from {
            Some(from) => format!("Expected delivery {from} → {to} ({reason})"),
            None => format!("Expected delivery {to} ({reason})"),
        },
        E::DeliveryAtRisk {
            promised_date,
            expected_date,
        } => {
            format!("Delivery at risk: expected {expected_date}, promised {promised_date}")
        }
        E::ShipmentRecorded {
            carrier,
            tracking_number,
            lines: shipped,
            ..
        } => match tracking_number {
            Some(t) => format!("Shipped {} by {carrier} ({t})", lines(shipped.len())),
            None => format!("Shipped {} by {carrier}", lines(shipped.len())),
        },
        E::ShipmentDelivered { shipment_id, .. } => format!("Shipment {shipment_id} delivered"),
        E::ExceptionRaised {
            kind,
            severity,
            description,
            ..
        } => {
            format!("{severity} {kind} exception: {description}")
        }
        E::ExceptionUpdated { exception_id, .. } => format!("Exception {exception_id} analysed"),
        E::ExceptionResolved {
            exception_id,
            resolution,
            ..
        } => {
            format!("Exception {exception_id} resolved: {resolution}")
        }
        E::ChangeRequested {
            reason,
            amount_delta,
            ..
        } => {
            format!("Change requested ({amount_delta:+}): {reason}")
        }
        E::ChangeDecided {
            change_request_id,
            decision,
            ..
        } => {
            format!("Change request {change_request_id} {decision}")
        }
        E::OrderChanged {
            revision, changes, ..
        } => format!(
            "Revision {revision}: {}",
            changes
                .iter()
                .map(|c| c.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
