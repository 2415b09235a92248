//! Following an order after confirmation: shipments never carry more than was ordered, an
//! applied change is exactly what was previewed (and readable field by field), the expected
//! date raises DELIVERY_AT_RISK once when it slips past the promise, and milestones,
//! exceptions and change requests are checked before anything is stored.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use domain::OrderError;
use domain::catalog::{PaymentTerms, Product, ProductDetails, Sku};
use domain::event::OrderEventKind;
use domain::ids::{CustomerId, OrderId, ProductId, UserId};
use domain::lifecycle::{
    CommandKind, OrderCommand, OrderStatus, OrderStatus as S, PaymentStatus, decide,
};
use domain::money::{Currency, Money};
use domain::order::{
    Confirmation, ConfirmationChannel, DiscountPercent, Order, OrderContent, OrderLine, Quantity,
};
use domain::settlement::{Invoice, InvoiceKind, InvoiceLine, NewInvoice};
use domain::tracking::{
    ChangeBasis, ChangeProposal, ChangeRequest, ChangeStatus, ExceptionKind, ExceptionStatus,
    FieldChange, LineChange, MilestoneKind, NewChangeRequest, NewException, NewMilestone,
    NewShipment, OrderException, Severity, Shipment, ShipmentLine, all_delivered, apply_change,
    decide_change, is_at_risk, move_expected_date, plan_shipment, preview_change, raise_exception,
    record_milestone, resolve_exception, shipped_not_invoiced, update_exception,
};
use domain::user::{Actor, Role};
use proptest::prelude::*;
use rust_decimal::Decimal;

// ---- fixtures -----------------------------------------------------------------------------

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn today() -> NaiveDate {
    date(2026, 11, 26)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

/// The date promised to the customer in the fixtures.
fn promised() -> NaiveDate {
    date(2026, 12, 10)
}

const SALES: Actor = Actor {
    user_id: UserId(2),
    role: Role::Sales,
    customer_id: None,
};

/// Line `no` orders product `no` (SKU-`no`).
fn line(no: u32, qty: &str, price: &str, discount: &str) -> OrderLine {
    OrderLine {
        line_no: no,
        product_id: ProductId(i64::from(no)),
        sku: format!("SKU-{no}"),
        description: format!("Widget {no}"),
        quantity: Quantity::new(dec(qty)).unwrap(),
        unit_price: dec(price),
        discount: DiscountPercent::new(dec(discount)).unwrap(),
    }
}

/// An order in `status` with `lines`; from CONFIRMED on it carries a confirmation promising
/// 2026-12-10 and is expected then.
fn order(status: OrderStatus, lines: Vec<OrderLine>) -> Order {
    let confirmed = status.is_confirmed_or_later();
    Order {
        id: OrderId(9),
        number: "SO-000009".into(),
        customer_id: CustomerId(10),
        sales_rep_id: UserId(2),
        currency: eur(),
        status,
        held_from: None,
        payment_status: PaymentStatus::Uninvoiced,
        content: OrderContent {
            lines,
            requested_date: Some(promised()),
            delivery_address: Some("1 Main St".into()),
            payment_terms: PaymentTerms::Net(30),
            customer_po: None,
            notes: None,
        },
        confirmation: confirmed.then(|| Confirmation {
            confirmed_by: "Ms Buyer".into(),
            channel: ConfirmationChannel::Email,
            reference: None,
            confirmed_at: now() - Duration::days(10),
            promised_date: Some(promised()),
        }),
        findings: vec![],
        cancel_reason: None,
        expected_date: confirmed.then(promised),
        version: 4,
        revision: 0,
        created_at: now() - Duration::days(20),
        updated_at: now() - Duration::days(10),
    }
}

fn with_promise(mut o: Order, promised: Option<NaiveDate>, expected: Option<NaiveDate>) -> Order {
    if let Some(c) = &mut o.confirmation {
        c.promised_date = promised;
    }
    o.expected_date = expected;
    o
}

fn product(id: i64, price: &str, currency: &str, lead_time_days: u16, active: bool) -> Product {
    Product {
        id: ProductId(id),
        details: ProductDetails {
            sku: Sku::parse(&format!("SKU-{id}")).unwrap(),
            name: format!("Widget {id}"),
            unit: "pcs".into(),
            list_price: Money::new(dec(price), Currency::parse(currency).unwrap()).unwrap(),
            lead_time_days,
            active,
            unit_cost: None,
        },
        version: 1,
    }
}

/// Products 1..=3 are the lines of the fixtures (lead times 0, 14, 60 days); 4 is a long-lead
/// product (90 days), 5 is inactive, 6 is priced in USD; 7 does not exist.
fn catalogue() -> HashMap<ProductId, Product> {
    [
        product(1, "10", "EUR", 0, true),
        product(2, "25.5", "EUR", 14, true),
        product(3, "100", "EUR", 60, true),
        product(4, "7.25", "EUR", 90, true),
        product(5, "3", "EUR", 0, false),
        product(6, "3", "USD", 0, true),
    ]
    .into_iter()
    .map(|p| (p.id, p))
    .collect()
}

fn ship(lines: &[(u32, &str)]) -> NewShipment {
    NewShipment {
        order_id: OrderId(9),
        carrier: " DHL ".into(),
        tracking_number: Some("JD0001".into()),
        lines: lines
            .iter()
            .map(|(line_no, qty)| ShipmentLine {
                line_no: *line_no,
                quantity: Quantity::new(dec(qty)).unwrap(),
            })
            .collect(),
        shipped_at: now() - Duration::hours(1),
        recorded_by: UserId(2),
    }
}

fn shipped(id: i64, lines: &[(u32, &str)], delivered: bool) -> Shipment {
    Shipment {
        id,
        details: ship(lines),
        delivered_at: delivered.then(now),
    }
}

fn validation_field<T: std::fmt::Debug>(result: Result<T, OrderError>) -> &'static str {
    match result {
        Err(OrderError::Validation(e)) => e.field(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn status_moves(events: &[OrderEventKind]) -> Vec<(OrderStatus, OrderStatus)> {
    events
        .iter()
        .filter_map(|e| match e {
            OrderEventKind::StatusChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

fn type_names(events: &[OrderEventKind]) -> Vec<&'static str> {
    events.iter().map(OrderEventKind::type_name).collect()
}

// ---- milestones ---------------------------------------------------------------------------

fn milestone(kind: MilestoneKind, occurred_at: DateTime<Utc>) -> NewMilestone {
    NewMilestone {
        order_id: OrderId(9),
        kind,
        occurred_at,
        note: Some("  line 2 done  ".into()),
        recorded_by: UserId(2),
    }
}

#[test]
fn milestones_are_refused_before_confirmation_and_after_delivery() {
    for status in [S::Draft, S::Approved, S::Delivered] {
        let mut o = order(status, vec![line(1, "2", "10", "0")]);
        let result = record_milestone(&mut o, milestone(MilestoneKind::Packed, now()), None, now());
        match result {
            Err(OrderError::InvalidTransition { from, command, .. }) => {
                assert_eq!(from, status);
                assert_eq!(command, CommandKind::RecordMilestone);
            }
            other => panic!("{status}: expected InvalidTransition, got {other:?}"),
        }
    }
    for status in [
        S::Confirmed,
        S::InProduction,
        S::ReadyToShip,
        S::PartiallyShipped,
        S::Shipped,
    ] {
        let mut o = order(status, vec![line(1, "2", "10", "0")]);
        assert!(
            record_milestone(&mut o, milestone(MilestoneKind::Packed, now()), None, now()).is_ok(),
            "{status}"
        );
    }
}

#[test]
fn a_milestone_in_the_future_is_refused_but_a_little_clock_skew_is_not() {
    let mut o = order(S::InProduction, vec![line(1, "2", "10", "0")]);
    let later = now() + Duration::minutes(5);
    assert_eq!(
        validation_field(record_milestone(
            &mut o,
            milestone(MilestoneKind::ProductionFinished, later),
            None,
            now()
        )),
        "occurredAt"
    );
    let skewed = now() + Duration::seconds(30);
    let (recorded, events) = record_milestone(
        &mut o,
        milestone(MilestoneKind::ProductionFinished, skewed),
        None,
        now(),
    )
    .unwrap();
    assert_eq!(recorded.note.as_deref(), Some("line 2 done"));
    assert_eq!(
        events,
        vec![OrderEventKind::MilestoneRecorded {
            milestone_id: 0,
            kind: MilestoneKind::ProductionFinished,
            occurred_at: skewed,
            note: Some("line 2 done".into()),
        }]
    );
    assert_eq!(
        o.expected_date,
        Some(promised()),
        "no date given, none moved"
    );
}

#[test]
fn a_milestone_can_move_the_expected_date_past_the_promise() {
    let mut o = order(S::InProduction, vec![line(1, "2", "10", "0")]);
    let (_, events) = record_milestone(
        &mut o,
        milestone(MilestoneKind::QualityCheck, now()),
        Some(date(2026, 12, 15)),
        now(),
    )
    .unwrap();
    assert_eq!(o.expected_date, Some(date(2026, 12, 15)));
    assert_eq!(
        events[1..],
        [
            OrderEventKind::ExpectedDateChanged {
                from: Some(date(2026, 12, 10)),
                to: date(2026, 12, 15),
                reason: "milestone QUALITY_CHECK".into(),
            },
            OrderEventKind::DeliveryAtRisk {
                promised_date: date(2026, 12, 10),
                expected_date: date(2026, 12, 15),
            },
        ]
    );
    // Earlier than promised again: the date moves, nothing is at risk.
    let (_, events) = record_milestone(
        &mut o,
        milestone(MilestoneKind::Packed, now()),
        Some(date(2026, 12, 8)),
        now(),
    )
    .unwrap();
    assert_eq!(
        type_names(&events),
        ["MILESTONE_RECORDED", "EXPECTED_DATE_CHANGED"]
    );
    assert!(!is_at_risk(&o, today()));
}

// ---- expected date ------------------------------------------------------------------------

#[test]
fn delivery_at_risk_is_raised_once_when_the_expected_date_slips_past_the_promise() {
    let mut o = order(S::InProduction, vec![line(1, "2", "10", "0")]);
    let mut events = Vec::new();
    move_expected_date(&mut o, date(2026, 12, 10), "same", &mut events);
    assert!(events.is_empty(), "not moved, nothing recorded");
    move_expected_date(&mut o, date(2026, 12, 12), "supplier late", &mut events);
    move_expected_date(&mut o, date(2026, 12, 20), "supplier later", &mut events);
    assert_eq!(
        type_names(&events),
        [
            "EXPECTED_DATE_CHANGED",
            "DELIVERY_AT_RISK",
            "EXPECTED_DATE_CHANGED"
        ]
    );
    assert_eq!(
        events[0],
        OrderEventKind::ExpectedDateChanged {
            from: Some(date(2026, 12, 10)),
            to: date(2026, 12, 12),
            reason: "supplier late".into(),
        }
    );
}

#[test]
fn at_risk_means_expected_after_promised_or_promise_passed_while_undelivered() {
    let lines = || vec![line(1, "2", "10", "0")];
    let on_time = order(S::InProduction, lines());
    assert!(!is_at_risk(&on_time, today()));
    assert!(
        !is_at_risk(&on_time, promised()),
        "due today is not late yet"
    );
    let late = with_promise(
        order(S::InProduction, lines()),
        Some(promised()),
        Some(date(2026, 12, 11)),
    );
    assert!(is_at_risk(&late, today()));
    assert!(
        is_at_risk(&on_time, date(2026, 12, 11)),
        "the promised date passed"
    );
    assert!(is_at_risk(&order(S::Shipped, lines()), date(2026, 12, 11)));
    let held = Order {
        status: S::OnHold,
        held_from: Some(S::InProduction),
        ..late.clone()
    };
    assert!(is_at_risk(&held, today()));
    for status in [S::Delivered, S::Completed, S::Cancelled] {
        let done = Order {
            status,
            ..late.clone()
        };
        assert!(!is_at_risk(&done, date(2026, 12, 20)), "{status}");
    }
    let no_promise = with_promise(
        order(S::InProduction, lines()),
        None,
        Some(date(2027, 1, 5)),
    );
    assert!(!is_at_risk(&no_promise, date(2027, 2, 1)));
    assert!(!is_at_risk(&order(S::Approved, lines()), date(2027, 2, 1)));
}

// ---- shipments ----------------------------------------------------------------------------

fn two_lines() -> Vec<OrderLine> {
    vec![line(1, "10", "10", "0"), line(2, "4", "25.5", "5")]
}

#[test]
fn a_shipment_naming_a_line_twice_is_merged_in_line_order() {
    let o = order(S::ReadyToShip, two_lines());
    let (planned, complete) =
        plan_shipment(&o, &[], ship(&[(2, "1"), (1, "3"), (2, "1.5")]), now()).unwrap();
    assert_eq!(planned.carrier, "DHL");
    assert_eq!(
        planned
            .lines
            .iter()
            .map(|l| (l.line_no, l.quantity.get()))
            .collect::<Vec<_>>(),
        vec![(1, dec("3")), (2, dec("2.5"))]
    );
    assert!(!complete);
    let earlier = [shipped(1, &[(1, "3"), (2, "2.5")], false)];
    let o = Order {
        status: S::PartiallyShipped,
        ..o
    };
    let (_, complete) =
        plan_shipment(&o, &earlier, ship(&[(1, "7"), (2, "1"), (2, "0.5")]), now()).unwrap();
    assert!(complete, "everything left went out");
}

#[test]
fn over_shipping_is_refused_naming_what_is_left() {
    let o = order(S::PartiallyShipped, two_lines());
    let earlier = [
        shipped(1, &[(1, "6")], false),
        shipped(2, &[(1, "1")], true),
    ];
    let err = plan_shipment(&o, &earlier, ship(&[(1, "2"), (1, "2")]), now()).unwrap_err();
    match &err {
        OrderError::Validation(e) => assert_eq!(e.field(), "quantity"),
        other => panic!("{other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("line 1 (SKU-1)"), "{message}");
    assert!(message.contains("the 3 left to ship of 10"), "{message}");
    assert!(message.contains('4'), "{message}");
    assert_eq!(
        validation_field(plan_shipment(&o, &earlier, ship(&[(3, "1")]), now())),
        "lineId"
    );
    assert_eq!(
        validation_field(plan_shipment(&o, &earlier, ship(&[]), now())),
        "lines"
    );
    let mut no_carrier = ship(&[(1, "1")]);
    no_carrier.carrier = "  ".into();
    assert_eq!(
        validation_field(plan_shipment(&o, &earlier, no_carrier, now())),
        "carrier"
    );
    let mut future = ship(&[(1, "1")]);
    future.shipped_at = now() + Duration::hours(2);
    assert_eq!(
        validation_field(plan_shipment(&o, &earlier, future, now())),
        "shippedAt"
    );
}

#[test]
fn shipments_are_recorded_only_when_ready_to_ship_or_partially_shipped() {
    for status in [
        S::Approved,
        S::Confirmed,
        S::InProduction,
        S::Shipped,
        S::OnHold,
    ] {
        let o = order(status, two_lines());
        match plan_shipment(&o, &[], ship(&[(1, "1")]), now()) {
            Err(OrderError::InvalidTransition { from, command, .. }) => {
                assert_eq!(from, status);
                assert_eq!(command, CommandKind::RecordShipment);
            }
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[test]
fn a_recorded_shipment_moves_the_order_by_what_it_completes() {
    let ready = order(S::ReadyToShip, two_lines());
    let first = decide(
        &ready,
        OrderCommand::RecordShipment { complete: false },
        &SALES,
        now(),
    )
    .unwrap();
    assert_eq!(first.order.status, S::PartiallyShipped);
    assert_eq!(first.order.version, 5);
    assert_eq!(
        status_moves(&first.events),
        [(S::ReadyToShip, S::PartiallyShipped)]
    );

    let again = decide(
        &first.order,
        OrderCommand::RecordShipment { complete: false },
        &SALES,
        now(),
    )
    .unwrap();
    assert_eq!(again.order.status, S::PartiallyShipped);
    assert_eq!(again.order.version, 6);
    assert!(
        again.events.is_empty(),
        "no status change: {:?}",
        again.events
    );

    let last = decide(
        &again.order,
        OrderCommand::RecordShipment { complete: true },
        &SALES,
        now(),
    )
    .unwrap();
    assert_eq!(last.order.status, S::Shipped);
    assert_eq!(
        status_moves(&last.events),
        [(S::PartiallyShipped, S::Shipped)]
    );

    let all_at_once = decide(
        &ready,
        OrderCommand::RecordShipment { complete: true },
        &SALES,
        now(),
    )
    .unwrap();
    assert_eq!(all_at_once.order.status, S::Shipped);

    for status in [S::Confirmed, S::Shipped, S::Delivered] {
        assert!(
            matches!(
                decide(
                    &order(status, two_lines()),
                    OrderCommand::RecordShipment { complete: true },
                    &SALES,
                    now()
                ),
                Err(OrderError::InvalidTransition { .. })
            ),
            "{status}"
        );
    }
}

#[test]
fn an_order_is_all_delivered_once_its_last_shipment_arrives() {
    let o = order(S::Shipped, two_lines());
    let shipments = [
        shipped(1, &[(1, "10")], true),
        shipped(2, &[(2, "4")], false),
    ];
    assert!(all_delivered(&o, &shipments, 2));
    assert!(
        !all_delivered(&o, &shipments, 1),
        "shipment 2 is still on its way"
    );
    let partly = Order {
        status: S::PartiallyShipped,
        ..o
    };
    assert!(
        !all_delivered(&partly, &shipments, 2),
        "goods are left to ship"
    );
}

// ---- exceptions ---------------------------------------------------------------------------

fn exception(cost: &str, delay_days: u32) -> NewException {
    NewException {
        order_id: OrderId(9),
        customer_id: CustomerId(10),
        sales_rep_id: UserId(2),
        kind: ExceptionKind::Delay,
        severity: Severity::High,
        description: " supplier strike ".into(),
        cost_impact: dec(cost),
        currency: Currency::parse("USD").unwrap(),
        delay_days,
        held_order: false,
        raised_by: UserId(2),
        raised_at: now(),
    }
}

#[test]
fn an_exception_is_checked_before_it_is_raised() {
    let mut o = order(S::InProduction, two_lines());
    assert_eq!(
        validation_field(raise_exception(&mut o, exception("-1", 0), today())),
        "costImpact"
    );
    assert_eq!(
        validation_field(raise_exception(&mut o, exception("12.345", 0), today())),
        "costImpact",
        "EUR has cents, not tenths of cents"
    );
    let mut yen = order(S::InProduction, two_lines());
    yen.currency = Currency::parse("JPY").unwrap();
    assert_eq!(
        validation_field(raise_exception(&mut yen, exception("100.5", 0), today())),
        "costImpact",
        "JPY has no minor unit"
    );
    assert_eq!(
        validation_field(raise_exception(&mut o, exception("0", 731), today())),
        "delayDays"
    );
    let mut blank = exception("0", 0);
    blank.description = "   ".into();
    assert_eq!(
        validation_field(raise_exception(&mut o, blank, today())),
        "description"
    );
    assert_eq!(o.expected_date, Some(promised()), "refusals change nothing");

    let (raised, events) = raise_exception(&mut o, exception("1250.50", 0), today()).unwrap();
    assert_eq!(raised.description, "supplier strike");
    assert_eq!(raised.cost_impact, dec("1250.5"));
    assert_eq!(raised.currency, eur(), "the order's currency, always");
    assert_eq!(
        events,
        vec![OrderEventKind::ExceptionRaised {
            exception_id: 0,
            kind: ExceptionKind::Delay,
            severity: Severity::High,
            description: "supplier strike".into(),
            cost_impact: dec("1250.5"),
            delay_days: 0,
        }]
    );
    assert!(raise_exception(&mut o, exception("0", 730), today()).is_ok());
}

#[test]
fn exceptions_need_a_confirmed_order_and_delays_an_undelivered_one() {
    for status in [S::Draft, S::PendingApproval, S::Approved, S::Cancelled] {
        let mut o = order(status, two_lines());
        assert!(
            matches!(
                raise_exception(&mut o, exception("0", 0), today()),
                Err(OrderError::InvalidTransition { .. })
            ),
            "{status}"
        );
    }
    let mut delivered = order(S::Delivered, two_lines());
    assert_eq!(
        validation_field(raise_exception(&mut delivered, exception("0", 3), today())),
        "delayDays"
    );
    assert!(raise_exception(&mut delivered, exception("80", 0), today()).is_ok());
}

#[test]
fn a_delay_moves_the_expected_date_from_expected_else_promised_else_today() {
    let mut expected = with_promise(
        order(S::InProduction, two_lines()),
        Some(promised()),
        Some(date(2026, 12, 5)),
    );
    let (_, events) = raise_exception(&mut expected, exception("0", 10), today()).unwrap();
    assert_eq!(expected.expected_date, Some(date(2026, 12, 15)));
    assert_eq!(
        events[1..],
        [
            OrderEventKind::ExpectedDateChanged {
                from: Some(date(2026, 12, 5)),
                to: date(2026, 12, 15),
                reason: "delayed 10 days".into(),
            },
            OrderEventKind::DeliveryAtRisk {
                promised_date: date(2026, 12, 10),
                expected_date: date(2026, 12, 15),
            },
        ]
    );

    let mut promised_only = with_promise(order(S::Confirmed, two_lines()), Some(promised()), None);
    raise_exception(&mut promised_only, exception("0", 3), today()).unwrap();
    assert_eq!(promised_only.expected_date, Some(date(2026, 12, 13)));

    let mut neither = with_promise(order(S::Confirmed, two_lines()), None, None);
    let (_, events) = raise_exception(&mut neither, exception("0", 7), today()).unwrap();
    assert_eq!(neither.expected_date, Some(date(2026, 12, 3)));
    assert_eq!(
        type_names(&events),
        ["EXCEPTION_RAISED", "EXPECTED_DATE_CHANGED"],
        "nothing promised, nothing at risk"
    );
}

fn stored_exception(status: ExceptionStatus) -> OrderException {
    OrderException {
        id: 31,
        details: exception("0", 0),
        root_cause: None,
        actions: None,
        status,
        resolution: None,
        lessons_learned: None,
        resolved_by: None,
        resolved_at: None,
    }
}

#[test]
fn a_resolved_exception_is_neither_updated_nor_resolved_again() {
    let o = order(S::InProduction, two_lines());
    let resolved = stored_exception(ExceptionStatus::Resolved);
    assert!(matches!(
        update_exception(&o, &resolved, Some("strike".into()), None),
        Err(OrderError::PreconditionFailed {
            command: CommandKind::UpdateException,
            ..
        })
    ));
    assert!(matches!(
        resolve_exception(&o, &resolved, "done", None, UserId(1), now()),
        Err(OrderError::PreconditionFailed {
            command: CommandKind::ResolveException,
            ..
        })
    ));

    let open = stored_exception(ExceptionStatus::Open);
    assert_eq!(
        validation_field(update_exception(&o, &open, None, None)),
        "input"
    );
    let (updated, event) = update_exception(
        &o,
        &open,
        Some(" strike ".into()),
        Some("second supplier".into()),
    )
    .unwrap();
    assert_eq!(updated.root_cause.as_deref(), Some("strike"));
    assert_eq!(
        event,
        OrderEventKind::ExceptionUpdated {
            exception_id: 31,
            root_cause: Some("strike".into()),
            actions: Some("second supplier".into()),
        }
    );
    assert_eq!(
        validation_field(resolve_exception(&o, &open, " ", None, UserId(1), now())),
        "resolution"
    );
    let (done, event) = resolve_exception(
        &o,
        &open,
        "parts flown in",
        Some(" dual source "),
        UserId(1),
        now(),
    )
    .unwrap();
    assert_eq!(done.status, ExceptionStatus::Resolved);
    assert_eq!(done.resolved_by, Some(UserId(1)));
    assert_eq!(done.resolved_at, Some(now()));
    assert_eq!(
        event,
        OrderEventKind::ExceptionResolved {
            exception_id: 31,
            resolution: "parts flown in".into(),
            lessons_learned: Some("dual source".into()),
        }
    );
}

// ---- change requests ----------------------------------------------------------------------

fn request(status: ChangeStatus, proposal: ChangeProposal, base_revision: i32) -> ChangeRequest {
    ChangeRequest {
        id: 77,
        details: NewChangeRequest {
            order_id: OrderId(9),
            proposal,
            reason: "customer asked".into(),
            base_revision,
            amount_delta: Decimal::ZERO,
            delay_days: 0,
            review_required: false,
            requested_by: UserId(2),
            requested_at: now() - Duration::hours(3),
        },
        status,
        decided_by: None,
        decided_at: None,
        decision_comment: None,
        applied_revision: None,
        applied_at: None,
    }
}

fn edit(line_no: u32, qty: &str) -> LineChange {
    LineChange {
        line_no: Some(line_no),
        product_id: None,
        quantity: dec(qty),
        unit_price: None,
        discount_percent: None,
    }
}

fn add(product: i64, qty: &str) -> LineChange {
    LineChange {
        line_no: None,
        product_id: Some(ProductId(product)),
        quantity: dec(qty),
        unit_price: None,
        discount_percent: None,
    }
}

fn lines_only(lines: Vec<LineChange>) -> ChangeProposal {
    ChangeProposal {
        lines,
        ..ChangeProposal::default()
    }
}

#[test]
fn a_change_is_rejected_only_with_a_comment_and_decided_only_once() {
    let o = order(S::InProduction, two_lines());
    let proposed = request(ChangeStatus::Proposed, lines_only(vec![edit(1, "12")]), 0);
    for blank in [None, Some(""), Some("   ")] {
        assert_eq!(
            validation_field(decide_change(&o, &proposed, false, blank, UserId(1), now())),
            "comment"
        );
    }
    let (rejected, event) =
        decide_change(&o, &proposed, false, Some(" too late "), UserId(1), now()).unwrap();
    assert_eq!(rejected.status, ChangeStatus::Rejected);
    assert_eq!(rejected.decision_comment.as_deref(), Some("too late"));
    assert_eq!(
        event,
        OrderEventKind::ChangeDecided {
            change_request_id: 77,
            decision: ChangeStatus::Rejected,
            comment: Some("too late".into()),
        }
    );

    let (approved, event) = decide_change(&o, &proposed, true, None, UserId(1), now()).unwrap();
    assert_eq!(approved.status, ChangeStatus::Approved);
    assert_eq!(approved.decided_by, Some(UserId(1)));
    assert_eq!(approved.decided_at, Some(now()));
    assert_eq!(
        event,
        OrderEventKind::ChangeDecided {
            change_request_id: 77,
            decision: ChangeStatus::Approved,
            comment: None,
        }
    );

    for status in [
        ChangeStatus::Approved,
        ChangeStatus::Rejected,
        ChangeStatus::Applied,
    ] {
        let decided = request(status, lines_only(vec![edit(1, "12")]), 0);
        for approve in [true, false] {
            assert!(
                matches!(
                    decide_change(&o, &decided, approve, Some("ok"), UserId(1), now()),
                    Err(OrderError::PreconditionFailed { .. })
                ),
                "{status} approve={approve}"
            );
        }
    }
}

#[test]
fn only_an_approved_change_on_the_revision_it_was_made_for_is_applied() {
    let mut o = order(S::InProduction, two_lines());
    o.revision = 2;
    let proposal = lines_only(vec![edit(1, "12")]);
    for status in [
        ChangeStatus::Proposed,
        ChangeStatus::Rejected,
        ChangeStatus::Applied,
    ] {
        assert!(
            matches!(
                apply_change(
                    &o,
                    &[],
                    &request(status, proposal.clone(), 2),
                    &catalogue(),
                    now()
                ),
                Err(OrderError::PreconditionFailed {
                    command: CommandKind::ChangeOrder,
                    ..
                })
            ),
            "{status}"
        );
    }
    let stale = apply_change(
        &o,
        &[],
        &request(ChangeStatus::Approved, proposal.clone(), 1),
        &catalogue(),
        now(),
    )
    .unwrap_err();
    assert!(matches!(stale, OrderError::PreconditionFailed { .. }));
    assert!(
        stale.to_string().contains("from revision 1 to 2"),
        "{stale}"
    );

    let applied = apply_change(
        &o,
        &[],
        &request(ChangeStatus::Approved, proposal, 2),
        &catalogue(),
        now(),
    )
    .unwrap();
    assert_eq!(applied.order.revision, 3);
    assert_eq!(applied.order.content.lines[0].quantity.get(), dec("12"));
    assert_eq!(applied.previous.revision, 2);
    assert_eq!(applied.previous.content, o.content);
    assert_eq!(applied.previous.total, dec("196.9"));
    assert_eq!(applied.request.status, ChangeStatus::Applied);
    assert_eq!(applied.request.applied_revision, Some(3));
    assert_eq!(applied.request.applied_at, Some(now()));
    assert_eq!(
        applied.events,
        vec![OrderEventKind::OrderChanged {
            change_request_id: 77,
            revision: 3,
            changes: vec![FieldChange {
                field: "lines[1].quantity".into(),
                from: Some("10".into()),
                to: Some("12".into()),
            }],
        }]
    );
}

#[test]
fn a_line_cannot_go_below_what_has_shipped() {
    let o = order(S::PartiallyShipped, two_lines());
    let shipments = [shipped(1, &[(1, "6"), (2, "1")], false)];
    for proposal in [
        lines_only(vec![edit(1, "0")]),
        lines_only(vec![edit(1, "5.5")]),
    ] {
        let err = apply_change(
            &o,
            &shipments,
            &request(ChangeStatus::Approved, proposal, 0),
            &catalogue(),
            now(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, OrderError::Validation(e) if e.field() == "quantity"),
            "{err:?}"
        );
        assert!(err.to_string().contains("has 6 shipped already"), "{err}");
    }
    let impact = preview_change(
        &o,
        &shipments,
        &lines_only(vec![edit(1, "6")]),
        &catalogue(),
        today(),
    )
    .unwrap();
    assert_eq!(impact.content.lines[0].quantity.get(), dec("6"));
    assert_eq!(impact.amount_delta(), dec("-40"));
}

#[test]
fn adding_a_product_with_a_lead_time_moves_the_expected_date_when_later() {
    let o = order(S::InProduction, two_lines());
    // Product 4 takes 90 days: 2026-11-26 + 90 = 2027-02-24, past the promised 2026-12-10.
    let applied = apply_change(
        &o,
        &[],
        &request(ChangeStatus::Approved, lines_only(vec![add(4, "3")]), 0),
        &catalogue(),
        now(),
    )
    .unwrap();
    assert_eq!(applied.order.expected_date, Some(date(2027, 2, 24)));
    let added = applied.order.content.lines.last().unwrap();
    assert_eq!(
        (added.line_no, added.sku.as_str(), added.unit_price),
        (3, "SKU-4", dec("7.25"))
    );
    assert_eq!(
        applied.events,
        vec![
            OrderEventKind::OrderChanged {
                change_request_id: 77,
                revision: 1,
                changes: vec![FieldChange {
                    field: "lines[3]".into(),
                    from: None,
                    to: Some("SKU-4 x 3 @ 7.25 -0%".into()),
                }],
            },
            OrderEventKind::ExpectedDateChanged {
                from: Some(date(2026, 12, 10)),
                to: date(2027, 2, 24),
                reason: "change request 77".into(),
            },
            OrderEventKind::DeliveryAtRisk {
                promised_date: date(2026, 12, 10),
                expected_date: date(2027, 2, 24),
            },
        ]
    );
    let impact = preview_change(
        &o,
        &[],
        &lines_only(vec![add(4, "3")]),
        &catalogue(),
        today(),
    )
    .unwrap();
    assert_eq!(impact.delay_days(), 76);
    assert_eq!(impact.amount_delta(), dec("21.75"));

    // Product 2 takes 14 days: 2026-12-10, not later than expected, so nothing moves.
    let applied = apply_change(
        &o,
        &[],
        &request(ChangeStatus::Approved, lines_only(vec![add(2, "1")]), 0),
        &catalogue(),
        now(),
    )
    .unwrap();
    assert_eq!(applied.order.expected_date, Some(promised()));
    assert_eq!(type_names(&applied.events), ["ORDER_CHANGED"]);
}

#[test]
fn new_lines_must_be_active_products_in_the_orders_currency() {
    let o = order(S::Confirmed, two_lines());
    for product in [5, 6, 7] {
        assert_eq!(
            validation_field(preview_change(
                &o,
                &[],
                &lines_only(vec![add(product, "1")]),
                &catalogue(),
                today()
            )),
            "productId",
            "product {product}"
        );
    }
    assert_eq!(
        validation_field(preview_change(
            &o,
            &[],
            &lines_only(vec![edit(1, "10")]),
            &catalogue(),
            today()
        )),
        "change",
        "a change that changes nothing"
    );
    assert_eq!(
        validation_field(preview_change(
            &o,
            &[],
            &lines_only(vec![edit(1, "0"), edit(2, "0")]),
            &catalogue(),
            today()
        )),
        "lines"
    );
    assert_eq!(
        validation_field(preview_change(
            &o,
            &[],
            &lines_only(vec![edit(1, "3"), edit(1, "4")]),
            &catalogue(),
            today()
        )),
        "lineId"
    );
    for status in [S::Draft, S::Shipped, S::OnHold, S::Delivered] {
        assert!(
            matches!(
                preview_change(
                    &order(status, two_lines()),
                    &[],
                    &lines_only(vec![edit(1, "3")]),
                    &catalogue(),
                    today()
                ),
                Err(OrderError::InvalidTransition {
                    command: CommandKind::ChangeOrder,
                    ..
                })
            ),
            "{status}"
        );
    }
}

#[test]
fn a_partially_shipped_order_is_shipped_when_a_change_leaves_nothing_to_ship() {
    let o = order(S::PartiallyShipped, two_lines());
    let shipments = [
        shipped(1, &[(1, "10")], true),
        shipped(2, &[(2, "1")], false),
    ];
    let applied = apply_change(
        &o,
        &shipments,
        &request(ChangeStatus::Approved, lines_only(vec![edit(2, "1")]), 0),
        &catalogue(),
        now(),
    )
    .unwrap();
    assert_eq!(applied.order.status, S::Shipped);
    assert_eq!(
        status_moves(&applied.events),
        [(S::PartiallyShipped, S::Shipped)]
    );
    // Something still to ship: the status stays.
    let applied = apply_change(
        &o,
        &shipments,
        &request(ChangeStatus::Approved, lines_only(vec![edit(2, "2")]), 0),
        &catalogue(),
        now(),
    )
    .unwrap();
    assert_eq!(applied.order.status, S::PartiallyShipped);
    assert!(status_moves(&applied.events).is_empty());
}

#[test]
fn a_new_promised_date_is_kept_by_the_order() {
    let o = order(S::InProduction, two_lines());
    let proposal = ChangeProposal {
        promised_date: Some(date(2027, 1, 15)),
        ..ChangeProposal::default()
    };
    let applied = apply_change(
        &o,
        &[],
        &request(ChangeStatus::Approved, proposal.clone(), 0),
        &catalogue(),
        now(),
    )
    .unwrap();
    assert_eq!(
        domain::tracking::promised_date(&applied.order),
        Some(date(2027, 1, 15))
    );
    assert_eq!(applied.previous.promised_date, Some(promised()));

    // Not confirmed yet: nothing is promised, so a change cannot move the promise (it would
    // be announced by ORDER_CHANGED and then lost, as the order has no confirmation to keep it).
    let approved = order(S::Approved, two_lines());
    assert_eq!(
        validation_field(apply_change(
            &approved,
            &[],
            &request(ChangeStatus::Approved, proposal, 0),
            &catalogue(),
            now(),
        )),
        "promisedDate"
    );
}

// ---- properties ---------------------------------------------------------------------------

/// 0.5 .. 20 in steps of 0.5.
fn halves(range: std::ops::RangeInclusive<i64>) -> impl Strategy<Value = Decimal> {
    range.prop_map(|h| Decimal::new(h * 5, 1).normalize())
}

/// Parses `SKU x 3 @ 7.25 -0%` (an added or removed line as a change shows it).
fn parse_shown_line(text: &str) -> (String, Decimal, Decimal, Decimal) {
    let (sku, rest) = text.split_once(" x ").unwrap();
    let (qty, rest) = rest.split_once(" @ ").unwrap();
    let (price, discount) = rest.split_once(" -").unwrap();
    (
        sku.to_owned(),
        dec(qty),
        dec(price),
        dec(discount.strip_suffix('%').unwrap()),
    )
}

fn line_number(field: &str) -> (u32, Option<&str>) {
    let inner = field.strip_prefix("lines[").unwrap();
    let (no, rest) = inner.split_once(']').unwrap();
    (no.parse().unwrap(), rest.strip_prefix('.'))
}

fn any_price() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        9 => (0i64..=50_000).prop_map(|c| Decimal::new(c, 2)),
        1 => Just(dec("-1")),
        1 => Just(dec("1.23456")),
    ]
}

fn any_discount() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        9 => (0i64..=30).prop_map(Decimal::from),
        1 => Just(dec("150")),
    ]
}

/// Mostly valid edits of lines 1..=3 and additions of products 1..=4; sometimes an unknown
/// line or product, an inactive or foreign product, or an invalid quantity, price or discount.
fn any_line_change() -> impl Strategy<Value = LineChange> {
    let edit = (
        1u32..=3,
        halves(0..=14),
        prop::option::weighted(0.3, any_price()),
        prop::option::weighted(0.3, any_discount()),
    )
        .prop_map(
            |(line_no, quantity, unit_price, discount_percent)| LineChange {
                line_no: Some(line_no),
                product_id: None,
                quantity,
                unit_price,
                discount_percent,
            },
        );
    let add = (
        prop_oneof![8 => 1i64..=4, 1 => 5i64..=7],
        halves(1..=14),
        prop::option::weighted(0.3, any_price()),
        prop::option::weighted(0.3, any_discount()),
    )
        .prop_map(
            |(product, quantity, unit_price, discount_percent)| LineChange {
                line_no: None,
                product_id: Some(ProductId(product)),
                quantity,
                unit_price,
                discount_percent,
            },
        );
    let wild = (
        prop::option::of(1u32..=4),
        prop::option::of(1i64..=7),
        prop_oneof![Just(dec("-1")), Just(dec("0.0001")), halves(0..=14)],
        prop::option::of(any_price()),
        prop::option::of(any_discount()),
    )
        .prop_map(
            |(line_no, product_id, quantity, unit_price, discount_percent)| LineChange {
                line_no,
                product_id: product_id.map(ProductId),
                quantity,
                unit_price,
                discount_percent,
            },
        );
    prop_oneof![6 => edit, 3 => add, 1 => wild]
}

fn any_proposal() -> impl Strategy<Value = ChangeProposal> {
    (
        prop::collection::vec(any_line_change(), 1..=3),
        prop::option::weighted(0.3, -5i64..=60),
        prop::option::weighted(
            0.3,
            prop::sample::select(vec!["Dock 2", "Dock 2", "1 Main St", "  "]),
        ),
    )
        .prop_map(|(lines, promised, address)| ChangeProposal {
            lines,
            promised_date: promised.map(|d| today() + Duration::days(d)),
            delivery_address: address.map(str::to_owned),
        })
}

/// A changeable order with lines 1..=3 and, when partially shipped, what has shipped per line.
fn any_changeable_order() -> impl Strategy<Value = (Order, Vec<Shipment>)> {
    (
        prop::sample::select(vec![
            S::Approved,
            S::Confirmed,
            S::InProduction,
            S::ReadyToShip,
            S::PartiallyShipped,
        ]),
        prop::collection::vec(halves(1..=12), 3),
        prop::collection::vec(0i64..=12, 3),
        prop::option::of(-10i64..=20),
        prop::option::of(-10i64..=30),
        0i32..3,
    )
        .prop_map(
            |(status, quantities, shipped_halves, promise, expected, revision)| {
                let mut o = order(
                    status,
                    vec![
                        line(1, "1", "10", "0"),
                        line(2, "1", "25.5", "5"),
                        line(3, "1", "100", "12.5"),
                    ],
                );
                for (l, q) in o.content.lines.iter_mut().zip(&quantities) {
                    l.quantity = Quantity::new(*q).unwrap();
                }
                if o.confirmation.is_some() {
                    o = with_promise(
                        o,
                        promise.map(|d| today() + Duration::days(d)),
                        expected.map(|d| today() + Duration::days(d)),
                    );
                }
                o.revision = revision;
                let mut shipments = Vec::new();
                if status == S::PartiallyShipped {
                    let lines: Vec<ShipmentLine> = o
                        .content
                        .lines
                        .iter()
                        .zip(&shipped_halves)
                        .filter_map(|(l, h)| {
                            let q = Decimal::new(h * 5, 1).min(l.quantity.get());
                            (q > Decimal::ZERO).then(|| ShipmentLine {
                                line_no: l.line_no,
                                quantity: Quantity::new(q).unwrap(),
                            })
                        })
                        .collect();
                    if !lines.is_empty() {
                        let mut details = ship(&[]);
                        details.lines = lines;
                        shipments.push(Shipment {
                            id: 1,
                            details,
                            delivered_at: None,
                        });
                    }
                }
                (o, shipments)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Accepted shipments never carry a line past its ordered quantity, `complete` says exactly
    /// whether everything is out, and a refusal names the quantity or the line it is about.
    #[test]
    fn shipments_never_exceed_what_was_ordered(
        ordered in prop::collection::vec(halves(1..=40), 1..=3),
        proposals in prop::collection::vec(
            prop::collection::vec((1u32..=5, 1i64..=24), 1..=3),
            1..=12,
        ),
    ) {
        let lines: Vec<OrderLine> = ordered
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let mut l = line(u32::try_from(i).unwrap() + 1, "1", "10", "0");
                l.quantity = Quantity::new(*q).unwrap();
                l
            })
            .collect();
        let ordered: BTreeMap<u32, Decimal> =
            lines.iter().map(|l| (l.line_no, l.quantity.get())).collect();
        let mut o = order(S::ReadyToShip, lines);
        let mut shipments: Vec<Shipment> = Vec::new();
        let mut out: BTreeMap<u32, Decimal> = BTreeMap::new();

        for (i, proposed) in proposals.iter().enumerate() {
            let mut merged: BTreeMap<u32, Decimal> = BTreeMap::new();
            for (line_no, h) in proposed {
                *merged.entry(*line_no).or_default() += Decimal::new(h * 5, 1);
            }
            // The first offending line, in line order, is the one named.
            let expected_refusal = merged.iter().find_map(|(line_no, qty)| match ordered.get(line_no) {
                None => Some("lineId"),
                Some(max) if out.get(line_no).copied().unwrap_or_default() + qty > *max => {
                    Some("quantity")
                }
                Some(_) => None,
            });
            let new = NewShipment {
                lines: proposed
                    .iter()
                    .map(|(line_no, h)| ShipmentLine {
                        line_no: *line_no,
                        quantity: Quantity::new(Decimal::new(h * 5, 1)).unwrap(),
                    })
                    .collect(),
                ..ship(&[])
            };
            match plan_shipment(&o, &shipments, new, now()) {
                Ok((planned, complete)) => {
                    prop_assert_ne!(o.status, S::Shipped);
                    prop_assert_eq!(expected_refusal, None);
                    let carried: Vec<(u32, Decimal)> =
                        planned.lines.iter().map(|l| (l.line_no, l.quantity.get())).collect();
                    let merged: Vec<(u32, Decimal)> = merged.into_iter().collect();
                    prop_assert_eq!(&carried, &merged);
                    for (line_no, qty) in &carried {
                        *out.entry(*line_no).or_default() += *qty;
                    }
                    for (line_no, qty) in &out {
                        prop_assert!(qty <= &ordered[line_no], "line {} shipped {} of {}", line_no, qty, ordered[line_no]);
                    }
                    let everything_out = ordered.iter().all(|(l, q)| out.get(l) == Some(q));
                    prop_assert_eq!(complete, everything_out);
                    let decision = decide(&o, OrderCommand::RecordShipment { complete }, &SALES, now()).unwrap();
                    prop_assert_eq!(
                        decision.order.status,
                        if complete { S::Shipped } else { S::PartiallyShipped }
                    );
                    o = decision.order;
                    shipments.push(Shipment {
                        id: i64::try_from(i).unwrap() + 1,
                        details: planned,
                        delivered_at: None,
                    });
                }
                Err(OrderError::Validation(e)) => {
                    prop_assert_ne!(o.status, S::Shipped);
                    prop_assert_eq!(Some(e.field()), expected_refusal, "{}", e);
                }
                Err(OrderError::InvalidTransition { from, command, .. }) => {
                    prop_assert_eq!(from, S::Shipped, "only a shipped order refuses shipments here");
                    prop_assert_eq!(command, CommandKind::RecordShipment);
                }
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }

    /// What preview shows is what apply does, and the recorded changes read the old content
    /// into the new one field by field.
    #[test]
    fn an_applied_change_is_what_was_previewed(
        (o, shipments) in any_changeable_order(),
        proposal in any_proposal(),
    ) {
        let products = catalogue();
        let Ok(impact) = preview_change(&o, &shipments, &proposal, &products, today()) else {
            return Ok(());
        };
        let req = request(ChangeStatus::Approved, proposal, o.revision);
        let applied = apply_change(&o, &shipments, &req, &products, now()).unwrap();
        let next = &applied.order;

        prop_assert_eq!(&next.content, &impact.content);
        prop_assert_eq!(next.revision, o.revision + 1);
        prop_assert_eq!(next.version, o.version, "the caller raises the version when storing");
        prop_assert_eq!(next.total(), impact.total_after);
        prop_assert_eq!(o.total(), impact.total_before);
        prop_assert_eq!(domain::tracking::promised_date(next), impact.promised_date);
        prop_assert_eq!(&applied.previous.content, &o.content);
        prop_assert_eq!(applied.previous.revision, o.revision);
        prop_assert_eq!(applied.previous.total, o.total());
        prop_assert_eq!(applied.previous.promised_date, domain::tracking::promised_date(&o));
        prop_assert_eq!(applied.request.status, ChangeStatus::Applied);
        prop_assert_eq!(applied.request.applied_revision, Some(next.revision));
        prop_assert_eq!(
            &applied.events[0],
            &OrderEventKind::OrderChanged {
                change_request_id: 77,
                revision: o.revision + 1,
                changes: impact.changes.clone(),
            }
        );

        // Replay the recorded changes on the old content: they must give the new one.
        let mut lines: BTreeMap<u32, OrderLine> =
            o.content.lines.iter().map(|l| (l.line_no, l.clone())).collect();
        let mut promised = domain::tracking::promised_date(&o);
        let mut address = o.content.delivery_address.clone();
        let mut lead: Option<u16> = None;
        for change in &impact.changes {
            prop_assert_ne!(&change.from, &change.to, "{}", change.field);
            match change.field.as_str() {
                "promisedDate" => {
                    prop_assert_eq!(change.from.clone(), promised.map(|d| d.to_string()));
                    promised = change.to.as_deref().map(|d| NaiveDate::from_str(d).unwrap());
                }
                "deliveryAddress" => {
                    prop_assert_eq!(&change.from, &address);
                    address.clone_from(&change.to);
                }
                field => {
                    let (no, attribute) = line_number(field);
                    match attribute {
                        None => match (&change.from, &change.to) {
                            (Some(_), None) => {
                                prop_assert!(lines.remove(&no).is_some(), "removed line {} existed", no);
                            }
                            (None, Some(shown)) => {
                                prop_assert!(!lines.contains_key(&no), "added line {} is new", no);
                                prop_assert!(no > o.content.lines.iter().map(|l| l.line_no).max().unwrap());
                                let (sku, qty, price, discount) = parse_shown_line(shown);
                                let product = products
                                    .values()
                                    .find(|p| p.details.sku.as_str() == sku)
                                    .unwrap();
                                prop_assert!(product.details.active);
                                prop_assert_eq!(product.details.list_price.currency(), eur());
                                lead = lead.max(Some(product.details.lead_time_days));
                                lines.insert(no, OrderLine {
                                    line_no: no,
                                    product_id: product.id,
                                    sku,
                                    description: product.details.name.clone(),
                                    quantity: Quantity::new(qty).unwrap(),
                                    unit_price: price,
                                    discount: DiscountPercent::new(discount).unwrap(),
                                });
                            }
                            other => prop_assert!(false, "{}: {:?}", field, other),
                        },
                        Some(attribute) => {
                            let line = lines.get_mut(&no).unwrap();
                            let from = dec(change.from.as_deref().unwrap());
                            let to = dec(change.to.as_deref().unwrap());
                            match attribute {
                                "quantity" => {
                                    prop_assert_eq!(from, line.quantity.get());
                                    line.quantity = Quantity::new(to).unwrap();
                                    if to > from {
                                        let days = products[&line.product_id].details.lead_time_days;
                                        lead = lead.max(Some(days));
                                    }
                                }
                                "unitPrice" => {
                                    prop_assert_eq!(from, line.unit_price);
                                    line.unit_price = to;
                                }
                                "discountPercent" => {
                                    prop_assert_eq!(from, line.discount.get());
                                    line.discount = DiscountPercent::new(to).unwrap();
                                }
                                other => prop_assert!(false, "unknown attribute {}", other),
                            }
                        }
                    }
                }
            }
        }
        let replayed: Vec<OrderLine> = lines.into_values().collect();
        prop_assert_eq!(&replayed, &next.content.lines);
        prop_assert_eq!(&address, &next.content.delivery_address);
        prop_assert_eq!(promised, impact.promised_date);
        prop_assert_eq!(&next.content.requested_date, &o.content.requested_date);
        prop_assert_eq!(&next.content.payment_terms, &o.content.payment_terms);

        // What has shipped stays on the order.
        let out = domain::tracking::shipped_quantities(&shipments);
        for (line_no, qty) in &out {
            let kept = next.content.lines.iter().find(|l| l.line_no == *line_no);
            prop_assert!(kept.is_some_and(|l| l.quantity.get() >= *qty), "line {} below its shipped {}", line_no, qty);
        }

        // Added or increased lines need their lead time from today; nothing moves earlier.
        let before = o.expected_date.or(domain::tracking::promised_date(&o));
        let earliest = lead.map(|days| today() + Duration::days(i64::from(days)));
        let after = match (before, earliest) {
            (Some(b), Some(e)) => Some(b.max(e)),
            (b, e) => b.or(e),
        };
        prop_assert_eq!(impact.expected_after, after);
        prop_assert_eq!(next.expected_date, if after == before { o.expected_date } else { after });

        let fully_shipped = next.content.lines.iter().all(|l| out.get(&l.line_no) == Some(&l.quantity.get()));
        let expected_status = if o.status == S::PartiallyShipped && fully_shipped { S::Shipped } else { o.status };
        prop_assert_eq!(next.status, expected_status);
    }

    /// DELIVERY_AT_RISK is raised exactly when the expected date crosses from on time (or
    /// unknown) to after the promise.
    #[test]
    fn delivery_at_risk_exactly_when_the_expected_date_crosses_the_promise(
        has_promise in any::<bool>(),
        from in prop::option::of(-20i64..=20),
        to in -20i64..=20,
    ) {
        let day = |d: i64| promised() + Duration::days(d);
        let mut o = with_promise(
            order(S::InProduction, two_lines()),
            has_promise.then(promised),
            from.map(day),
        );
        let mut events = Vec::new();
        move_expected_date(&mut o, day(to), "why", &mut events);
        prop_assert_eq!(o.expected_date, Some(day(to)));
        if from == Some(to) {
            prop_assert!(events.is_empty());
            return Ok(());
        }
        prop_assert_eq!(
            &events[0],
            &OrderEventKind::ExpectedDateChanged { from: from.map(day), to: day(to), reason: "why".into() }
        );
        let was_on_time = from.is_none_or(|f| f <= 0);
        let crosses = has_promise && was_on_time && to > 0;
        if crosses {
            prop_assert_eq!(
                &events[1..],
                &[OrderEventKind::DeliveryAtRisk { promised_date: promised(), expected_date: day(to) }]
            );
        } else {
            prop_assert_eq!(events.len(), 1, "{:?}", events);
        }
    }
}

// ---- shipped and invoiced quantities as floors ----------------------------------------------

fn goods_invoice(lines: &[(u32, &str)], void: bool) -> Invoice {
    Invoice {
        id: 1,
        number: "INV-000001".into(),
        details: NewInvoice {
            order_id: OrderId(9),
            customer_id: CustomerId(10),
            sales_rep_id: UserId(2),
            currency: eur(),
            kind: InvoiceKind::Standard,
            issued_on: today(),
            due_on: today() + Duration::days(30),
            lines: lines
                .iter()
                .map(|(line_no, qty)| InvoiceLine {
                    line_no: *line_no,
                    quantity: dec(qty),
                    amount: dec(qty) * dec("10"),
                })
                .collect(),
            deposit_credit: Decimal::ZERO,
            amount: Decimal::ZERO,
        },
        paid: Decimal::ZERO,
        fully_paid_on: None,
        void_reason: void.then(|| "wrong".to_owned()),
        created_at: now(),
    }
}

#[test]
fn what_is_shipped_and_not_yet_invoiced_is_billed_once() {
    let o = order(S::PartiallyShipped, two_lines());
    let shipments = [
        shipped(1, &[(1, "3"), (2, "1")], false),
        shipped(2, &[(1, "2")], false),
    ];
    // Line 1: 5 shipped, 2 invoiced; line 2: 1 shipped, 1 invoiced; a void invoice counts for nothing.
    let invoices = [
        goods_invoice(&[(1, "2"), (2, "1")], false),
        goods_invoice(&[(1, "5")], true),
    ];
    assert_eq!(
        shipped_not_invoiced(&o, &shipments, &invoices).unwrap(),
        vec![(1, dec("3"))]
    );
    let all_billed = [goods_invoice(&[(1, "5"), (2, "1")], false)];
    let err = shipped_not_invoiced(&o, &shipments, &all_billed).unwrap_err();
    assert_eq!(err.field(), "shipped");
    assert!(
        shipped_not_invoiced(&o, &[], &[]).is_err(),
        "nothing shipped"
    );
}

#[test]
fn a_change_cannot_go_below_what_was_invoiced_nor_reuse_a_line_number() {
    let o = order(S::Confirmed, two_lines());
    let basis = |invoiced: &[(u32, &str)], highest: u32| ChangeBasis {
        shipments: &[],
        invoiced: invoiced.iter().map(|(n, q)| (*n, dec(q))).collect(),
        highest_line_no: highest,
    };
    let below = preview_change(
        &o,
        basis(&[(1, "4")], 0),
        &lines_only(vec![edit(1, "3")]),
        &catalogue(),
        today(),
    );
    let Err(OrderError::Validation(err)) = below else {
        panic!("expected a validation error, got {below:?}");
    };
    assert_eq!(err.field(), "quantity");
    assert!(err.to_string().contains("has 4 invoiced already"), "{err}");
    let removal = preview_change(
        &o,
        basis(&[(2, "1")], 0),
        &lines_only(vec![edit(2, "0")]),
        &catalogue(),
        today(),
    );
    assert_eq!(validation_field(removal), "quantity");
    assert_eq!(
        validation_field(preview_change(
            &o,
            basis(&[], 0),
            &lines_only(vec![edit(1, "-1")]),
            &catalogue(),
            today(),
        )),
        "quantity"
    );

    // Line 3 existed in an earlier revision: a new line is numbered 4.
    let impact = preview_change(
        &o,
        basis(&[], 3),
        &lines_only(vec![add(4, "1")]),
        &catalogue(),
        today(),
    )
    .unwrap();
    let numbers: Vec<u32> = impact.content.lines.iter().map(|l| l.line_no).collect();
    assert_eq!(numbers, vec![1, 2, 4]);
}
