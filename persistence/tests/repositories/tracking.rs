//! Milestones, shipments, exceptions and change requests (`TrackingRepository`): a tracking
//! change lands whole or not at all, with the id storage assigns to its new record filled into
//! the event announcing it; an applied change rewrites the lines and keeps the previous
//! revision; the exception list honours scope, filters and keyset pages; the orders at risk are
//! exactly those `tracking::is_at_risk` names.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use domain::catalog::Customer;
use domain::event::OrderEventKind;
use domain::lifecycle::{OrderCommand, OrderStatus, decide, reassign};
use domain::order::{Confirmation, ConfirmationChannel, Order};
use domain::ports::{
    EventLog, ExceptionFilter, OrderFilter, OrderRepository, PageRequest, RepoError,
    TrackingChange, TrackingRecord, TrackingRepository, TrackingSaved,
};
use domain::tracking::{
    ChangeProposal, ChangeRequest, ChangeStatus, ExceptionKind, ExceptionStatus, LineChange,
    Milestone, MilestoneKind, NewChangeRequest, NewException, NewMilestone, NewShipment,
    OrderException, Severity, Shipment, ShipmentLine, apply_change, decide_change, is_at_risk,
    move_expected_date, plan_shipment, preview_change, raise_exception, record_milestone,
    resolve_exception, update_exception,
};
use domain::user::{Role, Scope, User};
use domain::{CustomerId, OrderId, UserId};
use persistence::Store;
use rust_decimal::Decimal;

use crate::fixtures::{
    Desk, actor, apply, at, change, dec, draft, line, load, new_customer, new_user,
};

backend_tests!(
    milestones_and_shipments_round_trip_with_the_ids_storage_assigns,
    exceptions_round_trip_through_raise_update_and_resolve,
    an_applied_change_rewrites_the_lines_and_keeps_the_previous_revision,
    a_stale_version_is_a_conflict_and_nothing_of_the_change_is_written,
    exceptions_list_applies_scope_and_filters_and_pages_newest_first,
    orders_at_risk_are_exactly_those_is_at_risk_names_within_the_scope,
);

fn day(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap()
}

fn days(n: u64) -> chrono::Days {
    chrono::Days::new(n)
}

/// A tracking change decided on an order, as the service decides it, not yet stored.
#[derive(Clone, Debug)]
struct Planned {
    order: Order,
    expected_version: i64,
    lines_changed: bool,
    records: Vec<TrackingRecord>,
    events: Vec<OrderEventKind>,
    actor_id: UserId,
    at: DateTime<Utc>,
}

impl Planned {
    /// `next` (decided on `before`) one version up, with its records and events.
    fn new(
        before: &Order,
        mut next: Order,
        records: Vec<TrackingRecord>,
        events: Vec<OrderEventKind>,
        by: &User,
        at: DateTime<Utc>,
    ) -> Self {
        next.version = before.version + 1;
        next.updated_at = at;
        Planned {
            order: next,
            expected_version: before.version,
            lines_changed: false,
            records,
            events,
            actor_id: by.id,
            at,
        }
    }

    fn change(&self) -> TrackingChange<'_> {
        TrackingChange {
            order: &self.order,
            expected_version: self.expected_version,
            lines_changed: self.lines_changed,
            records: self.records.clone(),
            events: self.events.clone(),
            actor_id: self.actor_id,
            at: self.at,
        }
    }
}

async fn save(store: &Store, planned: &Planned) -> TrackingSaved {
    let saved = store.save_tracking(planned.change()).await.unwrap();
    assert_eq!(saved.events.len(), planned.events.len());
    assert!(saved.events.iter().all(|e| e.order_id == planned.order.id
        && e.order_version == planned.order.version
        && e.actor_id == planned.actor_id
        && e.at == planned.at));
    assert_eq!(load(store, planned.order.id).await, planned.order);
    saved
}

/// A milestone of `kind` on the order as stored now, optionally moving the expected date.
async fn plan_milestone(
    store: &Store,
    order_id: OrderId,
    kind: MilestoneKind,
    occurred_at: DateTime<Utc>,
    expected: Option<NaiveDate>,
    by: &User,
    at: DateTime<Utc>,
) -> (Planned, NewMilestone) {
    let order = load(store, order_id).await;
    let mut next = order.clone();
    let (milestone, events) = record_milestone(
        &mut next,
        NewMilestone {
            order_id,
            kind,
            occurred_at,
            note: Some(format!("{kind} reported")),
            recorded_by: by.id,
        },
        expected,
        at,
    )
    .unwrap();
    let records = vec![TrackingRecord::NewMilestone(milestone.clone())];
    (
        Planned::new(&order, next, records, events, by, at),
        milestone,
    )
}

/// An exception on the order as stored now.
async fn plan_exception(
    store: &Store,
    order_id: OrderId,
    kind: ExceptionKind,
    severity: Severity,
    delay_days: u32,
    by: &User,
    at: DateTime<Utc>,
) -> (Planned, NewException) {
    let order = load(store, order_id).await;
    let mut next = order.clone();
    let (exception, events) = raise_exception(
        &mut next,
        NewException {
            order_id,
            customer_id: order.customer_id,
            sales_rep_id: order.sales_rep_id,
            kind,
            severity,
            description: format!("  {kind} on {}  ", order.number),
            cost_impact: dec("120.5"),
            currency: order.currency,
            delay_days,
            held_order: false,
            raised_by: by.id,
            raised_at: at,
        },
        at.date_naive(),
    )
    .unwrap();
    let records = vec![TrackingRecord::NewException(exception.clone())];
    (
        Planned::new(&order, next, records, events, by, at),
        exception,
    )
}

/// Raises and stores an exception; returns its id.
async fn raise(
    store: &Store,
    order_id: OrderId,
    kind: ExceptionKind,
    severity: Severity,
    by: &User,
    at: DateTime<Utc>,
) -> i64 {
    let (planned, _) = plan_exception(store, order_id, kind, severity, 0, by, at).await;
    save(store, &planned).await.new_id.unwrap()
}

/// Resolves a stored exception.
async fn resolve(store: &Store, id: i64, by: &User, at: DateTime<Utc>) -> OrderException {
    let exception = store.exception(id).await.unwrap().unwrap();
    let order = load(store, exception.details.order_id).await;
    let (resolved, event) =
        resolve_exception(&order, &exception, "fixed", None, by.id, at).unwrap();
    let planned = Planned::new(
        &order,
        order.clone(),
        vec![TrackingRecord::UpdatedException(resolved.clone())],
        vec![event],
        by,
        at,
    );
    save(store, &planned).await;
    resolved
}

/// A draft of `customer` (3 widgets, 2.5 gadgets less 7.5%), submitted and confirmed by `by`
/// with `promised` as the promised date.
async fn confirmed(
    store: &Store,
    desk: &Desk,
    customer: &Customer,
    by: &User,
    seconds: i64,
    promised: Option<NaiveDate>,
) -> Order {
    let new = draft(
        customer,
        vec![
            line(1, &desk.widget, dec("3"), dec("19.99"), dec("0")),
            line(2, &desk.gadget, dec("2.5"), dec("1250.5"), dec("7.5")),
        ],
        at(seconds),
    );
    let created = store.create_order(new, by.id, None).await.unwrap();
    let id = created.order.id;
    apply(
        store,
        id,
        OrderCommand::Submit {
            findings: Vec::new(),
        },
        by,
        at(seconds + 1),
    )
    .await;
    apply(
        store,
        id,
        OrderCommand::Confirm(Confirmation {
            confirmed_by: "Ms Buyer".to_owned(),
            channel: ConfirmationChannel::Email,
            reference: None,
            confirmed_at: at(seconds + 1),
            promised_date: promised,
        }),
        by,
        at(seconds + 2),
    )
    .await;
    let order = load(store, id).await;
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert_eq!(
        order.expected_date, promised,
        "expected when promised, stored"
    );
    order
}

async fn milestones_and_shipments_round_trip_with_the_ids_storage_assigns(store: Store) {
    let desk = Desk::set_up(&store).await;
    let promised = day(3, 22);
    let order = confirmed(
        &store,
        &desk,
        &desk.customer,
        &desk.admin,
        0,
        Some(promised),
    )
    .await;
    assert!(
        store
            .milestones_of_order(order.id)
            .await
            .unwrap()
            .is_empty()
    );
    let last_seq = store.last_seq().await.unwrap();

    // A milestone that also moves the expected date past the promised one.
    let (planned, first) = plan_milestone(
        &store,
        order.id,
        MilestoneKind::ProductionStarted,
        at(50),
        Some(promised + days(3)),
        &desk.rep,
        at(60),
    )
    .await;
    let saved = save(&store, &planned).await;
    let first_id = saved.new_id.expect("the milestone's id");
    assert_eq!(
        saved.events.iter().map(|e| &e.kind).collect::<Vec<_>>(),
        [
            &OrderEventKind::MilestoneRecorded {
                milestone_id: first_id,
                kind: MilestoneKind::ProductionStarted,
                occurred_at: at(50),
                note: Some("PRODUCTION_STARTED reported".to_owned()),
            },
            &OrderEventKind::ExpectedDateChanged {
                from: Some(promised),
                to: promised + days(3),
                reason: "milestone PRODUCTION_STARTED".to_owned(),
            },
            &OrderEventKind::DeliveryAtRisk {
                promised_date: promised,
                expected_date: promised + days(3),
            },
        ]
    );
    assert_eq!(
        store.events_after(last_seq, 100).await.unwrap(),
        saved.events
    );
    assert_eq!(
        load(&store, order.id).await.expected_date,
        Some(promised + days(3))
    );

    // One that happened earlier, recorded later: listed in the order they happened.
    let (planned, second) = plan_milestone(
        &store,
        order.id,
        MilestoneKind::QualityCheck,
        at(40),
        None,
        &desk.rep,
        at(70),
    )
    .await;
    let saved = save(&store, &planned).await;
    let second_id = saved.new_id.unwrap();
    assert!(second_id > first_id);
    assert_eq!(saved.events.len(), 1);
    assert_eq!(
        store.milestones_of_order(order.id).await.unwrap(),
        [
            Milestone {
                id: second_id,
                details: second,
            },
            Milestone {
                id: first_id,
                details: first,
            },
        ]
    );

    // Two shipments of a ready order: partial, then the rest.
    for command in [OrderCommand::StartProduction, OrderCommand::MarkReadyToShip] {
        apply(&store, order.id, command, &desk.admin, at(80)).await;
    }
    let mut ids = Vec::new();
    let mut expected = Vec::new();
    for (n, (lines, status)) in [
        (vec![(1, "1"), (2, "2")], OrderStatus::PartiallyShipped),
        (vec![(2, "0.5"), (1, "2")], OrderStatus::Shipped),
    ]
    .into_iter()
    .enumerate()
    {
        let now = at(100 + 10 * i64::try_from(n).unwrap());
        let before = load(&store, order.id).await;
        let shipments = store.shipments_of_order(order.id).await.unwrap();
        let (shipment, complete) = plan_shipment(
            &before,
            &shipments,
            NewShipment {
                order_id: order.id,
                carrier: format!("Carrier {n}"),
                tracking_number: (n == 0).then(|| "TRK-1".to_owned()),
                lines: lines
                    .iter()
                    .map(|(line_no, quantity)| ShipmentLine {
                        line_no: *line_no,
                        quantity: domain::order::Quantity::new(dec(quantity)).unwrap(),
                    })
                    .collect(),
                shipped_at: now,
                recorded_by: desk.rep.id,
            },
            now,
        )
        .unwrap();
        let decision = decide(
            &before,
            OrderCommand::RecordShipment { complete },
            &actor(&desk.admin),
            now,
        )
        .unwrap();
        let mut events = vec![OrderEventKind::ShipmentRecorded {
            shipment_id: 0,
            carrier: shipment.carrier.clone(),
            tracking_number: shipment.tracking_number.clone(),
            lines: shipment.lines.clone(),
        }];
        events.extend(decision.events.clone());
        let planned = Planned::new(
            &before,
            decision.order.clone(),
            vec![TrackingRecord::NewShipment(shipment.clone())],
            events,
            &desk.rep,
            now,
        );
        let saved = save(&store, &planned).await;
        let id = saved.new_id.unwrap();
        match &saved.events[0].kind {
            OrderEventKind::ShipmentRecorded { shipment_id, .. } => assert_eq!(*shipment_id, id),
            other => panic!("expected SHIPMENT_RECORDED first, got {other:?}"),
        }
        assert_eq!(load(&store, order.id).await.status, status);
        ids.push(id);
        expected.push(Shipment {
            id,
            details: shipment,
            delivered_at: None,
        });
        assert_eq!(store.shipments_of_order(order.id).await.unwrap(), expected);
    }
    assert_eq!(
        store.shipment(ids[1]).await.unwrap().as_ref(),
        Some(&expected[1])
    );
    assert_eq!(store.shipment(987_654).await.unwrap(), None);

    // The first arrives: its delivery time is stored, no new record.
    let before = load(&store, order.id).await;
    let planned = Planned::new(
        &before,
        before.clone(),
        vec![TrackingRecord::ShipmentDelivered {
            shipment_id: ids[0],
            delivered_at: at(200),
        }],
        vec![OrderEventKind::ShipmentDelivered {
            shipment_id: ids[0],
            delivered_at: at(200),
        }],
        &desk.rep,
        at(201),
    );
    let saved = save(&store, &planned).await;
    assert_eq!(saved.new_id, None);
    expected[0].delivered_at = Some(at(200));
    assert_eq!(store.shipments_of_order(order.id).await.unwrap(), expected);
    // Another order's records are untouched and not listed.
    let other = confirmed(&store, &desk, &desk.customer, &desk.admin, 300, None).await;
    assert!(store.shipments_of_order(other.id).await.unwrap().is_empty());
    assert!(
        store
            .milestones_of_order(other.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn exceptions_round_trip_through_raise_update_and_resolve(store: Store) {
    let desk = Desk::set_up(&store).await;
    let promised = day(3, 22);
    let order = confirmed(
        &store,
        &desk,
        &desk.customer,
        &desk.admin,
        0,
        Some(promised),
    )
    .await;

    // Raised with a delay: the expected date moves, the order is at risk.
    let (planned, raised) = plan_exception(
        &store,
        order.id,
        ExceptionKind::Delay,
        Severity::High,
        5,
        &desk.rep,
        at(10),
    )
    .await;
    assert_eq!(raised.description, format!("DELAY on {}", order.number));
    let saved = save(&store, &planned).await;
    let id = saved.new_id.unwrap();
    assert_eq!(
        saved.events[0].kind,
        OrderEventKind::ExceptionRaised {
            exception_id: id,
            kind: ExceptionKind::Delay,
            severity: Severity::High,
            description: raised.description.clone(),
            cost_impact: dec("120.5"),
            delay_days: 5,
        }
    );
    assert_eq!(saved.events.len(), 3, "raised, date moved, at risk");
    let stored_order = load(&store, order.id).await;
    assert_eq!(stored_order.expected_date, Some(promised + days(5)));
    assert!(is_at_risk(&stored_order, promised));
    let open = OrderException {
        id,
        details: raised,
        root_cause: None,
        actions: None,
        status: ExceptionStatus::Open,
        resolution: None,
        lessons_learned: None,
        resolved_by: None,
        resolved_at: None,
    };
    assert_eq!(store.exception(id).await.unwrap().as_ref(), Some(&open));
    assert_eq!(store.exception(987_654).await.unwrap(), None);

    // Analysed.
    let (analysed, event) = update_exception(
        &stored_order,
        &open,
        Some("supplier strike".to_owned()),
        Some("second supplier".to_owned()),
    )
    .unwrap();
    let planned = Planned::new(
        &stored_order,
        stored_order.clone(),
        vec![TrackingRecord::UpdatedException(analysed.clone())],
        vec![event],
        &desk.manager,
        at(20),
    );
    assert_eq!(save(&store, &planned).await.new_id, None);
    assert_eq!(store.exception(id).await.unwrap().as_ref(), Some(&analysed));
    assert_eq!(analysed.root_cause.as_deref(), Some("supplier strike"));

    // Resolved: every field after `details` is stored.
    let resolved = resolve(&store, id, &desk.manager, at(30)).await;
    assert_eq!(resolved.status, ExceptionStatus::Resolved);
    assert_eq!(resolved.resolved_by, Some(desk.manager.id));
    assert_eq!(resolved.resolved_at, Some(at(30)));
    assert_eq!(store.exception(id).await.unwrap(), Some(resolved.clone()));
    assert_eq!(resolved.details, open.details, "what was raised stays");
}

async fn an_applied_change_rewrites_the_lines_and_keeps_the_previous_revision(store: Store) {
    let desk = Desk::set_up(&store).await;
    let promised = day(3, 22);
    let order = confirmed(
        &store,
        &desk,
        &desk.customer,
        &desk.admin,
        0,
        Some(promised),
    )
    .await;
    let products: HashMap<_, _> = [desk.widget.clone(), desk.gadget.clone()]
        .into_iter()
        .map(|p| (p.id, p))
        .collect();

    // Requested: line 1 goes from 3 to 5, line 2 goes, a new gadget line, a later promise.
    let proposal = ChangeProposal {
        lines: vec![
            LineChange {
                line_no: Some(1),
                product_id: None,
                quantity: dec("5"),
                unit_price: Some(dec("18.5")),
                discount_percent: None,
            },
            LineChange {
                line_no: Some(2),
                product_id: None,
                quantity: Decimal::ZERO,
                unit_price: None,
                discount_percent: None,
            },
            LineChange {
                line_no: None,
                product_id: Some(desk.gadget.id),
                quantity: dec("1"),
                unit_price: None,
                discount_percent: Some(dec("5")),
            },
        ],
        promised_date: Some(day(4, 1)),
        delivery_address: None,
    };
    let impact = preview_change(&order, &[], &proposal, &products, at(10).date_naive()).unwrap();
    let new = NewChangeRequest {
        order_id: order.id,
        proposal: proposal.clone(),
        reason: "customer needs more widgets".to_owned(),
        base_revision: order.revision,
        amount_delta: impact.amount_delta(),
        delay_days: impact.delay_days(),
        review_required: true,
        requested_by: desk.rep.id,
        requested_at: at(10),
    };
    let requested = OrderEventKind::ChangeRequested {
        change_request_id: 0,
        reason: new.reason.clone(),
        amount_delta: new.amount_delta,
        delay_days: new.delay_days,
        review_required: true,
    };
    let planned = Planned::new(
        &order,
        order.clone(),
        vec![TrackingRecord::NewChangeRequest(new.clone())],
        vec![requested],
        &desk.rep,
        at(10),
    );
    let saved = save(&store, &planned).await;
    let id = saved.new_id.unwrap();
    match &saved.events[0].kind {
        OrderEventKind::ChangeRequested {
            change_request_id, ..
        } => assert_eq!(*change_request_id, id),
        other => panic!("expected CHANGE_REQUESTED, got {other:?}"),
    }
    let proposed = ChangeRequest {
        id,
        details: new,
        status: ChangeStatus::Proposed,
        decided_by: None,
        decided_at: None,
        decision_comment: None,
        applied_revision: None,
        applied_at: None,
    };
    assert_eq!(
        store.change_request(id).await.unwrap().as_ref(),
        Some(&proposed)
    );
    assert_eq!(store.change_request(987_654).await.unwrap(), None);

    // Approved.
    let before = load(&store, order.id).await;
    let (approved, event) = decide_change(
        &before,
        &proposed,
        true,
        Some("ok"),
        desk.manager.id,
        at(20),
    )
    .unwrap();
    let planned = Planned::new(
        &before,
        before.clone(),
        vec![TrackingRecord::UpdatedChangeRequest(approved.clone())],
        vec![event],
        &desk.manager,
        at(20),
    );
    save(&store, &planned).await;
    assert_eq!(
        store.change_request(id).await.unwrap().as_ref(),
        Some(&approved)
    );

    // Applied: new lines and revision, the old content kept, the request APPLIED.
    let before = load(&store, order.id).await;
    let applied = apply_change(&before, &[], &approved, &products, at(30)).unwrap();
    let mut planned = Planned::new(
        &before,
        applied.order.clone(),
        vec![
            TrackingRecord::UpdatedChangeRequest(applied.request.clone()),
            TrackingRecord::Revision(applied.previous.clone()),
        ],
        applied.events.clone(),
        &desk.manager,
        at(30),
    );
    planned.lines_changed = true;
    let saved = save(&store, &planned).await;
    assert_eq!(saved.new_id, None);
    let after = load(&store, order.id).await;
    assert_eq!(after.revision, order.revision + 1);
    assert_eq!(
        after
            .content
            .lines
            .iter()
            .map(|l| (l.line_no, l.sku.as_str(), l.quantity.get(), l.unit_price))
            .collect::<Vec<_>>(),
        [
            (1, "WID-1", dec("5"), dec("18.5")),
            (3, "GAD-2", dec("1"), dec("1250.5"))
        ]
    );
    assert_eq!(after.total(), impact.total_after);
    // The stored total, which lists without lines show, follows the new lines.
    let listed = store
        .list_order_summaries(
            Scope::All,
            &OrderFilter::default(),
            PageRequest {
                first: 100,
                after: None,
            },
        )
        .await
        .unwrap();
    let summary = listed
        .items
        .iter()
        .find(|s| s.order.id == order.id)
        .unwrap();
    assert_eq!(summary.total, impact.total_after);
    assert_eq!(
        after.confirmation.as_ref().unwrap().promised_date,
        Some(day(4, 1))
    );
    assert_eq!(
        store.change_requests_of_order(order.id).await.unwrap(),
        std::slice::from_ref(&applied.request)
    );
    assert_eq!(applied.request.applied_revision, Some(after.revision));
    let revisions = store.revisions_of_order(order.id).await.unwrap();
    assert_eq!(revisions, std::slice::from_ref(&applied.previous));
    assert_eq!(revisions[0].content, order.content);
    assert_eq!(revisions[0].total, order.total());
    assert_eq!(revisions[0].promised_date, Some(promised));
    assert!(
        store
            .revisions_of_order(OrderId(987_654))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_stale_version_is_a_conflict_and_nothing_of_the_change_is_written(store: Store) {
    let desk = Desk::set_up(&store).await;
    let promised = day(3, 22);
    let order = confirmed(
        &store,
        &desk,
        &desk.customer,
        &desk.admin,
        0,
        Some(promised),
    )
    .await;
    let products: HashMap<_, _> = [desk.widget.clone(), desk.gadget.clone()]
        .into_iter()
        .map(|p| (p.id, p))
        .collect();

    // Four changes decided on the same version; the first milestone is stored.
    let (winner, _) = plan_milestone(
        &store,
        order.id,
        MilestoneKind::ProductionStarted,
        at(10),
        None,
        &desk.rep,
        at(10),
    )
    .await;
    let (late_milestone, _) = plan_milestone(
        &store,
        order.id,
        MilestoneKind::Packed,
        at(11),
        Some(promised + days(9)),
        &desk.rep,
        at(11),
    )
    .await;
    let (late_exception, _) = plan_exception(
        &store,
        order.id,
        ExceptionKind::Quality,
        Severity::Critical,
        3,
        &desk.rep,
        at(12),
    )
    .await;
    // A change applied with its lines, decided on the same version.
    let proposal = ChangeProposal {
        lines: vec![LineChange {
            line_no: Some(1),
            product_id: None,
            quantity: dec("9"),
            unit_price: None,
            discount_percent: None,
        }],
        promised_date: None,
        delivery_address: None,
    };
    let request = ChangeRequest {
        id: 0,
        details: NewChangeRequest {
            order_id: order.id,
            proposal,
            reason: "more".to_owned(),
            base_revision: order.revision,
            amount_delta: Decimal::ZERO,
            delay_days: 0,
            review_required: false,
            requested_by: desk.rep.id,
            requested_at: at(13),
        },
        status: ChangeStatus::Approved,
        decided_by: Some(desk.manager.id),
        decided_at: Some(at(13)),
        decision_comment: None,
        applied_revision: None,
        applied_at: None,
    };
    let applied = apply_change(&order, &[], &request, &products, at(13)).unwrap();
    let mut late_change = Planned::new(
        &order,
        applied.order.clone(),
        vec![TrackingRecord::Revision(applied.previous.clone())],
        applied.events.clone(),
        &desk.manager,
        at(13),
    );
    late_change.lines_changed = true;

    save(&store, &winner).await;
    let version = winner.order.version;
    let last_seq = store.last_seq().await.unwrap();
    let state = (
        load(&store, order.id).await,
        store.milestones_of_order(order.id).await.unwrap(),
        store
            .list_exceptions(
                Scope::All,
                &ExceptionFilter::default(),
                PageRequest {
                    first: 100,
                    after: None,
                },
            )
            .await
            .unwrap()
            .items,
        store.revisions_of_order(order.id).await.unwrap(),
    );
    assert_eq!(state.1.len(), 1);

    for (what, planned) in [
        ("milestone", &late_milestone),
        ("exception", &late_exception),
        ("applied change", &late_change),
    ] {
        let err = store.save_tracking(planned.change()).await.unwrap_err();
        assert_eq!(
            err,
            RepoError::Conflict {
                expected: version - 1,
                actual: version
            },
            "{what}"
        );
        assert_eq!(
            store.last_seq().await.unwrap(),
            last_seq,
            "{what}: no events"
        );
        assert_eq!(
            (
                load(&store, order.id).await,
                store.milestones_of_order(order.id).await.unwrap(),
                store
                    .list_exceptions(
                        Scope::All,
                        &ExceptionFilter::default(),
                        PageRequest {
                            first: 100,
                            after: None,
                        },
                    )
                    .await
                    .unwrap()
                    .items,
                store.revisions_of_order(order.id).await.unwrap(),
            ),
            state,
            "{what}: no order change, lines, record or revision"
        );
    }

    // An update of a record that is not the order's is refused the same way: nothing written.
    let other = confirmed(
        &store,
        &desk,
        &desk.customer,
        &desk.admin,
        100,
        Some(promised),
    )
    .await;
    let foreign = raise(
        &store,
        other.id,
        ExceptionKind::Other,
        Severity::Low,
        &desk.rep,
        at(110),
    )
    .await;
    let foreign = store.exception(foreign).await.unwrap().unwrap();
    let current = load(&store, order.id).await;
    let (resolved, event) = resolve_exception(
        &current,
        &foreign,
        "wrong order",
        None,
        desk.rep.id,
        at(120),
    )
    .unwrap();
    let planned = Planned::new(
        &current,
        current.clone(),
        vec![TrackingRecord::UpdatedException(resolved)],
        vec![event],
        &desk.rep,
        at(120),
    );
    let last_seq = store.last_seq().await.unwrap();
    assert_eq!(
        store.save_tracking(planned.change()).await.unwrap_err(),
        RepoError::NotFound {
            entity: "exception",
            id: foreign.id
        }
    );
    assert_eq!(store.last_seq().await.unwrap(), last_seq);
    assert_eq!(load(&store, order.id).await, current);
    assert_eq!(store.exception(foreign.id).await.unwrap(), Some(foreign));
}

/// Every page of the exception list, following the keyset cursor; asserts `has_next`.
async fn all_pages(
    store: &Store,
    scope: Scope,
    filter: &ExceptionFilter,
    first: u32,
) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_exceptions(scope, filter, PageRequest { first, after })
            .await
            .unwrap();
        let ids: Vec<i64> = page.items.iter().map(|e| e.id).collect();
        assert!(ids.len() <= first as usize);
        if page.has_next {
            assert_eq!(
                ids.len(),
                first as usize,
                "a page followed by another is full"
            );
        }
        after = ids.last().copied();
        pages.push(ids);
        if !page.has_next {
            return pages;
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

async fn listed(store: &Store, scope: Scope, filter: &ExceptionFilter) -> Vec<i64> {
    all_pages(store, scope, filter, 100).await.concat()
}

async fn exceptions_list_applies_scope_and_filters_and_pages_newest_first(store: Store) {
    let desk = Desk::set_up(&store).await;
    let manager = &desk.manager;
    let rep1 = &desk.rep;
    let rep2 = new_user(&store, "rep2@desk.example", Role::Sales, Some(manager.id)).await;
    let other_manager = new_user(&store, "m2@desk.example", Role::Manager, None).await;
    let rep3 = new_user(
        &store,
        "rep3@desk.example",
        Role::Sales,
        Some(other_manager.id),
    )
    .await;
    let c1 = desk.customer.clone();
    let c2 = new_customer(&store, "Borealis", rep2.id).await;
    let c3 = new_customer(&store, "Cobalt", rep3.id).await;
    let promised = Some(day(3, 22));
    let o1 = confirmed(&store, &desk, &c1, &desk.admin, 0, promised).await;
    let o2 = confirmed(&store, &desk, &c1, &desk.admin, 10, promised).await;
    let o3 = confirmed(&store, &desk, &c2, &desk.admin, 20, promised).await;
    let o4 = confirmed(&store, &desk, &c3, &desk.admin, 30, promised).await;

    use ExceptionKind as K;
    use Severity as S;
    let x1 = raise(&store, o1.id, K::Delay, S::High, rep1, at(100)).await;
    let x2 = raise(&store, o1.id, K::Quality, S::Low, rep1, at(110)).await;
    let x3 = raise(&store, o2.id, K::Logistics, S::Critical, rep1, at(120)).await;
    let x4 = raise(&store, o3.id, K::Delay, S::Medium, &rep2, at(130)).await;
    let x5 = raise(&store, o4.id, K::Payment, S::High, &rep3, at(140)).await;
    let x6 = raise(&store, o3.id, K::Shortage, S::Low, &rep2, at(150)).await;
    resolve(&store, x3, manager, at(160)).await;

    let all = ExceptionFilter::default();
    assert_eq!(
        listed(&store, Scope::All, &all).await,
        [x6, x5, x4, x3, x2, x1]
    );
    // Keyset pages visit each exception once, newest first.
    assert_eq!(
        all_pages(&store, Scope::All, &all, 2).await,
        [vec![x6, x5], vec![x4, x3], vec![x2, x1]]
    );
    assert_eq!(
        all_pages(&store, Scope::All, &all, 4).await,
        [vec![x6, x5, x4, x3], vec![x2, x1]]
    );
    // The items are the stored exceptions.
    let page = store
        .list_exceptions(
            Scope::All,
            &all,
            PageRequest {
                first: 1,
                after: Some(x4),
            },
        )
        .await
        .unwrap();
    assert!(page.has_next);
    assert_eq!(page.items, [store.exception(x3).await.unwrap().unwrap()]);

    // Filters, alone and together.
    let filters: Vec<(&str, ExceptionFilter, Vec<i64>)> = vec![
        (
            "open",
            ExceptionFilter {
                status: Some(ExceptionStatus::Open),
                ..ExceptionFilter::default()
            },
            vec![x6, x5, x4, x2, x1],
        ),
        (
            "resolved",
            ExceptionFilter {
                status: Some(ExceptionStatus::Resolved),
                ..ExceptionFilter::default()
            },
            vec![x3],
        ),
        (
            "delays",
            ExceptionFilter {
                kind: Some(K::Delay),
                ..ExceptionFilter::default()
            },
            vec![x4, x1],
        ),
        (
            "high",
            ExceptionFilter {
                severity: Some(S::High),
                ..ExceptionFilter::default()
            },
            vec![x5, x1],
        ),
        (
            "of c1",
            ExceptionFilter {
                customer_id: Some(c1.id),
                ..ExceptionFilter::default()
            },
            vec![x3, x2, x1],
        ),
        (
            "on o3",
            ExceptionFilter {
                order_id: Some(o3.id),
                ..ExceptionFilter::default()
            },
            vec![x6, x4],
        ),
        (
            "raised in [120, 140)",
            ExceptionFilter {
                from: Some(at(120)),
                to: Some(at(140)),
                ..ExceptionFilter::default()
            },
            vec![x4, x3],
        ),
        (
            "open delays of c2",
            ExceptionFilter {
                status: Some(ExceptionStatus::Open),
                kind: Some(K::Delay),
                customer_id: Some(c2.id),
                ..ExceptionFilter::default()
            },
            vec![x4],
        ),
        (
            "low on o1 before 110",
            ExceptionFilter {
                severity: Some(S::Low),
                order_id: Some(o1.id),
                to: Some(at(110)),
                ..ExceptionFilter::default()
            },
            vec![],
        ),
        (
            "unknown customer",
            ExceptionFilter {
                customer_id: Some(CustomerId(987_654)),
                ..ExceptionFilter::default()
            },
            vec![],
        ),
    ];
    for (what, filter, expected) in &filters {
        assert_eq!(
            &listed(&store, Scope::All, filter).await,
            expected,
            "{what}"
        );
    }

    // Scopes: a rep sees their own orders' exceptions, a manager the team's.
    assert_eq!(
        listed(&store, Scope::Rep(rep1.id), &all).await,
        [x3, x2, x1]
    );
    assert_eq!(listed(&store, Scope::Rep(rep2.id), &all).await, [x6, x4]);
    assert_eq!(
        listed(&store, Scope::Team(manager.id), &all).await,
        [x6, x4, x3, x2, x1]
    );
    assert_eq!(
        listed(&store, Scope::Team(other_manager.id), &all).await,
        [x5]
    );
    assert_eq!(listed(&store, Scope::Customer(c3.id), &all).await, [x5]);
    assert!(listed(&store, Scope::Nothing, &all).await.is_empty());
    let open = &filters[0].1;
    assert_eq!(listed(&store, Scope::Rep(rep1.id), open).await, [x2, x1]);
    assert!(
        listed(&store, Scope::Rep(rep1.id), &filters[5].1)
            .await
            .is_empty(),
        "another rep's order, even when named"
    );
    assert_eq!(
        all_pages(&store, Scope::Team(manager.id), &all, 2).await,
        [vec![x6, x4], vec![x3, x2], vec![x1]]
    );

    // A reassigned order's exceptions follow it to the new rep.
    let before = load(&store, o4.id).await;
    let decision = reassign(
        &before,
        rep1.id,
        Some("cover"),
        &actor(&desk.admin),
        at(200),
    )
    .unwrap();
    store
        .save_order(change(&decision, before.version, desk.admin.id, at(200)))
        .await
        .unwrap();
    assert_eq!(
        listed(&store, Scope::Rep(rep1.id), &all).await,
        [x5, x3, x2, x1]
    );
    assert!(listed(&store, Scope::Rep(rep3.id), &all).await.is_empty());
    assert_eq!(
        store
            .exception(x5)
            .await
            .unwrap()
            .unwrap()
            .details
            .sales_rep_id,
        rep1.id
    );
}

async fn orders_at_risk_are_exactly_those_is_at_risk_names_within_the_scope(store: Store) {
    let desk = Desk::set_up(&store).await;
    let rep = &desk.rep;
    let admin = &desk.admin;
    let other_rep = new_user(&store, "rep2@desk.example", Role::Sales, None).await;
    let theirs = new_customer(&store, "Borealis", other_rep.id).await;
    let c = desk.customer.clone();
    let promised = day(3, 20);

    /// Moves the stored order's expected date to `to`, as the domain does.
    async fn expect(store: &Store, id: OrderId, to: NaiveDate, by: &User, at: DateTime<Utc>) {
        let before = load(store, id).await;
        let mut next = before.clone();
        let mut events = Vec::new();
        move_expected_date(&mut next, to, "test", &mut events);
        let planned = Planned::new(&before, next, Vec::new(), events, by, at);
        assert_eq!(save(store, &planned).await.new_id, None);
        assert_eq!(load(store, id).await.expected_date, Some(to));
    }

    // On time: expected when promised.
    let on_time = confirmed(&store, &desk, &c, admin, 0, Some(promised)).await;
    // Expected two days late.
    let late = confirmed(&store, &desk, &c, admin, 10, Some(promised + days(5))).await;
    expect(&store, late.id, promised + days(7), admin, at(11)).await;
    // Expected early.
    let early = confirmed(&store, &desk, &c, admin, 20, Some(promised + days(1))).await;
    expect(&store, early.id, promised - days(3), admin, at(21)).await;
    // In production, promised earlier.
    let producing = confirmed(&store, &desk, &c, admin, 30, Some(promised - days(4))).await;
    apply(
        &store,
        producing.id,
        OrderCommand::StartProduction,
        admin,
        at(31),
    )
    .await;
    // On hold, promised earlier still.
    let held = confirmed(&store, &desk, &c, admin, 40, Some(promised - days(6))).await;
    apply(
        &store,
        held.id,
        OrderCommand::Hold {
            reason: "credit check".to_owned(),
        },
        admin,
        at(41),
    )
    .await;
    // Shipped, expected late: still on its way.
    let shipped = confirmed(&store, &desk, &c, admin, 50, Some(promised - days(2))).await;
    expect(&store, shipped.id, promised + days(2), admin, at(51)).await;
    for command in [
        OrderCommand::StartProduction,
        OrderCommand::MarkReadyToShip,
        OrderCommand::Ship { complete: true },
    ] {
        apply(&store, shipped.id, command, admin, at(52)).await;
    }
    // Delivered, expected late and promised long ago: no longer at risk.
    let delivered = confirmed(&store, &desk, &c, admin, 60, Some(promised - days(10))).await;
    expect(&store, delivered.id, promised + days(9), admin, at(61)).await;
    for command in [
        OrderCommand::StartProduction,
        OrderCommand::MarkReadyToShip,
        OrderCommand::Ship { complete: true },
        OrderCommand::Deliver,
    ] {
        apply(&store, delivered.id, command, admin, at(62)).await;
    }
    // Cancelled with a passed promise.
    let cancelled = confirmed(&store, &desk, &c, admin, 70, Some(promised - days(10))).await;
    apply(
        &store,
        cancelled.id,
        OrderCommand::Cancel {
            reason: "no longer needed".to_owned(),
        },
        admin,
        at(71),
    )
    .await;
    // Confirmed without a promised date, and a draft.
    let unpromised = confirmed(&store, &desk, &c, admin, 80, None).await;
    let drafted = store
        .create_order(desk.draft(at(90)), rep.id, None)
        .await
        .unwrap()
        .order;
    // Another rep's order, expected late.
    let foreign = confirmed(&store, &desk, &theirs, admin, 100, Some(promised)).await;
    expect(&store, foreign.id, promised + days(1), admin, at(101)).await;
    // Same promised date as `on_time`: ties go by id.
    let tie = confirmed(&store, &desk, &c, admin, 110, Some(promised)).await;
    expect(&store, tie.id, promised + days(4), admin, at(111)).await;

    let ids = [
        on_time.id,
        late.id,
        early.id,
        producing.id,
        held.id,
        shipped.id,
        delivered.id,
        cancelled.id,
        unpromised.id,
        drafted.id,
        foreign.id,
        tie.id,
    ];
    let orders = store.orders_by_ids(&ids).await.unwrap();
    assert_eq!(orders.len(), ids.len());
    let first = |first| PageRequest { first, after: None };

    for today in [
        promised - days(30),
        promised - days(5),
        promised - days(4),
        promised,
        promised + days(1),
        promised + days(6),
        promised + days(60),
    ] {
        for scope in [Scope::All, Scope::Rep(rep.id), Scope::Rep(other_rep.id)] {
            let mut expected: Vec<&Order> = orders
                .iter()
                .filter(|o| is_at_risk(o, today))
                .filter(|o| match scope {
                    Scope::Rep(r) => o.sales_rep_id == r,
                    _ => true,
                })
                .collect();
            expected.sort_by_key(|o| (o.confirmation.as_ref().unwrap().promised_date, o.id));
            let expected: Vec<OrderId> = expected.iter().map(|o| o.id).collect();
            let page = store
                .orders_at_risk(scope, today, first(100))
                .await
                .unwrap();
            assert!(!page.has_next);
            assert_eq!(
                page.items.iter().map(|o| o.id).collect::<Vec<_>>(),
                expected,
                "{today} in {scope:?}"
            );
            // The items are the stored orders, with their lines.
            for item in &page.items {
                assert_eq!(Some(item), orders.iter().find(|o| o.id == item.id));
            }
        }
    }

    // A fixed day, spelled out: what is at risk and why.
    let today = promised + days(1);
    let expected = [
        held.id,      // promised -6, passed
        producing.id, // promised -4, passed
        shipped.id,   // promised -2, passed (and expected late)
        on_time.id,   // promised 0, passed
        foreign.id,   // promised 0, passed (another rep's)
        tie.id,       // promised 0, passed
        late.id,      // promised +5, expected +7
    ];
    let all = store
        .orders_at_risk(Scope::All, today, first(100))
        .await
        .unwrap();
    assert_eq!(all.items.iter().map(|o| o.id).collect::<Vec<_>>(), expected);
    let mine = store
        .orders_at_risk(Scope::Rep(rep.id), today, first(100))
        .await
        .unwrap();
    assert!(!mine.items.iter().any(|o| o.id == foreign.id));
    assert_eq!(mine.items.len(), expected.len() - 1);

    // `after` is an offset into the list.
    let mut seen = Vec::new();
    let mut after = 0i64;
    loop {
        let page = store
            .orders_at_risk(
                Scope::All,
                today,
                PageRequest {
                    first: 3,
                    after: Some(after),
                },
            )
            .await
            .unwrap();
        after += i64::try_from(page.items.len()).unwrap();
        seen.extend(page.items.iter().map(|o| o.id));
        if !page.has_next {
            break;
        }
        assert_eq!(page.items.len(), 3);
    }
    assert_eq!(seen, expected);
}
