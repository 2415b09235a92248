//! The lifecycle against DESIGN.md: every allowed edge is accepted with the right events, and
//! (by property test) nothing else ever is.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use domain::OrderError;
use domain::catalog::PaymentTerms;
use domain::event::OrderEventKind;
use domain::ids::{CustomerId, OrderId, ProductId, UserId};
use domain::lifecycle::{
    CommandKind, OrderCommand, OrderStatus, OrderStatus as S, PaymentStatus, allowed_targets,
    decide,
};
use domain::money::Currency;
use domain::order::{
    Confirmation, ConfirmationChannel, DiscountPercent, Order, OrderContent, OrderLine, Quantity,
};
use domain::review::{Finding, Severity};
use domain::user::{Actor, Role};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn line(no: u32, qty: &str, price: &str, discount: &str) -> OrderLine {
    OrderLine {
        line_no: no,
        product_id: ProductId(i64::from(no)),
        sku: format!("SKU-{no}"),
        description: "Widget".into(),
        quantity: Quantity::new(Decimal::from_str(qty).unwrap()).unwrap(),
        unit_price: Decimal::from_str(price).unwrap(),
        discount: DiscountPercent::new(Decimal::from_str(discount).unwrap()).unwrap(),
    }
}

fn order(status: OrderStatus, held_from: Option<OrderStatus>) -> Order {
    Order {
        id: OrderId(1),
        number: "SO-000001".into(),
        customer_id: CustomerId(10),
        sales_rep_id: UserId(2),
        currency: Currency::parse("EUR").unwrap(),
        status,
        held_from,
        payment_status: PaymentStatus::Uninvoiced,
        content: OrderContent {
            lines: vec![line(1, "2", "10.00", "0")],
            requested_date: None,
            delivery_address: Some("1 Main St".into()),
            payment_terms: PaymentTerms::Net(30),
            customer_po: None,
            notes: None,
        },
        confirmation: None,
        findings: vec![],
        cancel_reason: None,
        expected_date: None,
        version: 3,
        revision: 0,
        created_at: now(),
        updated_at: now(),
    }
}

const SALES: Actor = Actor {
    user_id: UserId(2),
    role: Role::Sales,
    customer_id: None,
};
const MANAGER: Actor = Actor {
    user_id: UserId(1),
    role: Role::Manager,
    customer_id: None,
};
const CUSTOMER: Actor = Actor {
    user_id: UserId(50),
    role: Role::Customer,
    customer_id: Some(CustomerId(10)),
};

fn finding(severity: Severity) -> Finding {
    Finding {
        code: "X".into(),
        severity,
        message: "x".into(),
        line_no: None,
    }
}

fn confirmation(channel: ConfirmationChannel) -> Confirmation {
    Confirmation {
        confirmed_by: "Ms Buyer".into(),
        channel,
        reference: Some("mail 42".into()),
        confirmed_at: now(),
        promised_date: None,
    }
}

fn status_events(events: &[OrderEventKind]) -> Vec<(OrderStatus, OrderStatus)> {
    events
        .iter()
        .filter_map(|e| match e {
            OrderEventKind::StatusChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

/// `(from, held_from, command, actor, expected to)` for every edge of DESIGN.md.
fn allowed_cases() -> Vec<(
    OrderStatus,
    Option<OrderStatus>,
    OrderCommand,
    Actor,
    OrderStatus,
)> {
    let reason = || "customer asked".to_string();
    let mut cases = vec![
        (
            S::Draft,
            None,
            OrderCommand::Submit { findings: vec![] },
            SALES,
            S::Approved,
        ),
        (
            S::Draft,
            None,
            OrderCommand::Submit {
                findings: vec![finding(Severity::NeedsApproval)],
            },
            SALES,
            S::PendingApproval,
        ),
        (
            S::Draft,
            None,
            OrderCommand::Submit {
                findings: vec![finding(Severity::Blocker), finding(Severity::NeedsApproval)],
            },
            SALES,
            S::NeedsRevision,
        ),
        (
            S::NeedsRevision,
            None,
            OrderCommand::Submit {
                findings: vec![finding(Severity::Info)],
            },
            SALES,
            S::Approved,
        ),
        (
            S::PendingApproval,
            None,
            OrderCommand::Approve {
                comment: Some("ok".into()),
            },
            MANAGER,
            S::Approved,
        ),
        (
            S::PendingApproval,
            None,
            OrderCommand::Reject {
                comment: "too cheap".into(),
            },
            MANAGER,
            S::NeedsRevision,
        ),
        (
            S::Approved,
            None,
            OrderCommand::Confirm(confirmation(ConfirmationChannel::Email)),
            SALES,
            S::Confirmed,
        ),
        (
            S::Approved,
            None,
            OrderCommand::Confirm(confirmation(ConfirmationChannel::Portal)),
            CUSTOMER,
            S::Confirmed,
        ),
        (
            S::Approved,
            None,
            OrderCommand::RequestRevision { reason: reason() },
            SALES,
            S::NeedsRevision,
        ),
        (
            S::Confirmed,
            None,
            OrderCommand::StartProduction,
            SALES,
            S::InProduction,
        ),
        (
            S::Confirmed,
            None,
            OrderCommand::MarkReadyToShip,
            SALES,
            S::ReadyToShip,
        ),
        (
            S::InProduction,
            None,
            OrderCommand::MarkReadyToShip,
            SALES,
            S::ReadyToShip,
        ),
        (
            S::ReadyToShip,
            None,
            OrderCommand::Ship { complete: false },
            SALES,
            S::PartiallyShipped,
        ),
        (
            S::ReadyToShip,
            None,
            OrderCommand::Ship { complete: true },
            SALES,
            S::Shipped,
        ),
        (
            S::PartiallyShipped,
            None,
            OrderCommand::Ship { complete: true },
            SALES,
            S::Shipped,
        ),
        (S::Shipped, None, OrderCommand::Deliver, SALES, S::Delivered),
    ];
    for held in [
        S::Confirmed,
        S::InProduction,
        S::ReadyToShip,
        S::PartiallyShipped,
        S::Shipped,
    ] {
        cases.push((
            held,
            None,
            OrderCommand::Hold { reason: reason() },
            SALES,
            S::OnHold,
        ));
        cases.push((S::OnHold, Some(held), OrderCommand::Resume, SALES, held));
    }
    for from in [S::Draft, S::NeedsRevision, S::PendingApproval, S::Approved] {
        cases.push((
            from,
            None,
            OrderCommand::Cancel { reason: reason() },
            SALES,
            S::Cancelled,
        ));
    }
    for from in [S::Confirmed, S::InProduction, S::ReadyToShip] {
        cases.push((
            from,
            None,
            OrderCommand::Cancel { reason: reason() },
            MANAGER,
            S::Cancelled,
        ));
        cases.push((
            S::OnHold,
            Some(from),
            OrderCommand::Cancel { reason: reason() },
            MANAGER,
            S::Cancelled,
        ));
    }
    cases
}

#[test]
fn every_allowed_transition_is_accepted_with_one_status_event_and_a_new_version() {
    for (from, held, command, actor, to) in allowed_cases() {
        let before = order(from, held);
        let kind = command.kind();
        let decision = decide(&before, command, &actor, now())
            .unwrap_or_else(|e| panic!("{from} --{kind}--> {to} refused: {e}"));
        assert_eq!(decision.order.status, to, "{from} --{kind}-->");
        assert_eq!(decision.order.version, before.version + 1);
        let changes = status_events(&decision.events);
        if from == to {
            assert!(changes.is_empty());
        } else {
            assert_eq!(changes, vec![(from, to)], "{from} --{kind}-->");
        }
        if to == S::OnHold {
            assert_eq!(decision.order.held_from, Some(from));
        } else {
            assert_eq!(decision.order.held_from, None, "{from} --{kind}--> {to}");
        }
    }
}

#[test]
fn completing_requires_full_payment() {
    let delivered = order(S::Delivered, None);
    let err = decide(&delivered, OrderCommand::Complete, &SALES, now()).unwrap_err();
    assert!(
        matches!(
            err,
            OrderError::PreconditionFailed {
                from: S::Delivered,
                command: CommandKind::Complete,
                ..
            }
        ),
        "{err:?}"
    );
    let mut paid = delivered;
    paid.payment_status = PaymentStatus::Paid;
    let decision = decide(&paid, OrderCommand::Complete, &SALES, now()).unwrap();
    assert_eq!(decision.order.status, S::Completed);
}

#[test]
fn cancelling_after_confirmation_needs_a_manager() {
    for (from, held) in [
        (S::Confirmed, None),
        (S::InProduction, None),
        (S::OnHold, Some(S::Confirmed)),
    ] {
        let err = decide(
            &order(from, held),
            OrderCommand::Cancel { reason: "r".into() },
            &SALES,
            now(),
        )
        .unwrap_err();
        assert!(matches!(err, OrderError::Forbidden(_)), "{from}: {err:?}");
    }
}

#[test]
fn only_managers_approve_or_reject() {
    let pending = order(S::PendingApproval, None);
    assert!(matches!(
        decide(
            &pending,
            OrderCommand::Approve { comment: None },
            &SALES,
            now()
        ),
        Err(OrderError::Forbidden(_))
    ));
    assert!(matches!(
        decide(
            &pending,
            OrderCommand::Reject {
                comment: "no".into()
            },
            &SALES,
            now()
        ),
        Err(OrderError::Forbidden(_))
    ));
}

#[test]
fn customers_only_confirm_their_own_orders_through_the_portal() {
    let approved = order(S::Approved, None);
    assert!(matches!(
        decide(
            &approved,
            OrderCommand::Confirm(confirmation(ConfirmationChannel::Phone)),
            &CUSTOMER,
            now()
        ),
        Err(OrderError::Forbidden(_))
    ));
    let stranger = Actor {
        customer_id: Some(CustomerId(11)),
        ..CUSTOMER
    };
    assert!(matches!(
        decide(
            &approved,
            OrderCommand::Confirm(confirmation(ConfirmationChannel::Portal)),
            &stranger,
            now()
        ),
        Err(OrderError::Forbidden(_))
    ));
    assert!(matches!(
        decide(
            &order(S::Confirmed, None),
            OrderCommand::StartProduction,
            &CUSTOMER,
            now()
        ),
        Err(OrderError::Forbidden(_))
    ));
}

#[test]
fn an_invalid_transition_names_the_current_status_and_the_allowed_ones() {
    let err = decide(&order(S::Draft, None), OrderCommand::Deliver, &SALES, now()).unwrap_err();
    match err {
        OrderError::InvalidTransition {
            from,
            command,
            allowed,
        } => {
            assert_eq!(from, S::Draft);
            assert_eq!(command, CommandKind::Deliver);
            assert_eq!(allowed, vec![S::Cancelled]);
        }
        other => panic!("{other:?}"),
    }
    let message = decide(
        &order(S::Confirmed, None),
        OrderCommand::Deliver,
        &SALES,
        now(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("CONFIRMED")
            && message.contains("IN_PRODUCTION")
            && message.contains("ON_HOLD"),
        "{message}"
    );
}

#[test]
fn resume_returns_to_the_held_status_only() {
    let held = order(S::OnHold, Some(S::InProduction));
    assert_eq!(allowed_targets(&held), vec![S::InProduction, S::Cancelled]);
    let cmd = OrderCommand::to_status(&held, S::ReadyToShip, None).unwrap_err();
    assert!(matches!(cmd, OrderError::InvalidTransition { .. }));
    let cmd = OrderCommand::to_status(&held, S::InProduction, None).unwrap();
    assert_eq!(cmd, OrderCommand::Resume);
}

#[test]
fn reasons_are_required_for_hold_cancel_and_reject() {
    let confirmed = order(S::Confirmed, None);
    assert!(matches!(
        OrderCommand::to_status(&confirmed, S::OnHold, None),
        Err(OrderError::Validation(_))
    ));
    assert!(matches!(
        OrderCommand::to_status(&confirmed, S::Cancelled, Some("  ")),
        Err(OrderError::Validation(_))
    ));
    assert!(matches!(
        decide(
            &order(S::PendingApproval, None),
            OrderCommand::Reject {
                comment: " ".into()
            },
            &MANAGER,
            now()
        ),
        Err(OrderError::Validation(_))
    ));
}

#[test]
fn editing_is_limited_to_drafts_and_records_what_changed() {
    let draft = order(S::Draft, None);
    let mut content = draft.content.clone();
    content.lines.push(line(2, "1", "5", "0"));
    content.notes = Some("rush".into());
    let decision = decide(
        &draft,
        OrderCommand::UpdateDraft(content.clone()),
        &SALES,
        now(),
    )
    .unwrap();
    assert!(decision.lines_changed);
    assert_eq!(
        decision.events,
        vec![OrderEventKind::DraftUpdated {
            changed: vec!["lines".into(), "notes".into()]
        }]
    );
    assert!(matches!(
        decide(
            &order(S::Approved, None),
            OrderCommand::UpdateDraft(content),
            &SALES,
            now()
        ),
        Err(OrderError::InvalidTransition { .. })
    ));
}

// ---- properties -------------------------------------------------------------------------

/// DESIGN.md's diagram, written out independently of `TRANSITIONS`.
fn design_allows(
    from: OrderStatus,
    held: Option<OrderStatus>,
    kind: CommandKind,
    to: OrderStatus,
) -> bool {
    use CommandKind as C;
    let pre_confirm = [S::Draft, S::NeedsRevision, S::PendingApproval, S::Approved];
    let holdable = [
        S::Confirmed,
        S::InProduction,
        S::ReadyToShip,
        S::PartiallyShipped,
        S::Shipped,
    ];
    match kind {
        C::UpdateDraft => matches!(from, S::Draft | S::NeedsRevision) && to == from,
        C::Submit => {
            matches!(from, S::Draft | S::NeedsRevision)
                && matches!(to, S::NeedsRevision | S::PendingApproval | S::Approved)
        }
        C::Approve => from == S::PendingApproval && to == S::Approved,
        C::Reject => from == S::PendingApproval && to == S::NeedsRevision,
        C::RequestRevision => from == S::Approved && to == S::NeedsRevision,
        C::Confirm => from == S::Approved && to == S::Confirmed,
        C::StartProduction => from == S::Confirmed && to == S::InProduction,
        C::MarkReadyToShip => {
            matches!(from, S::Confirmed | S::InProduction) && to == S::ReadyToShip
        }
        C::Ship => {
            matches!(from, S::ReadyToShip | S::PartiallyShipped)
                && matches!(to, S::PartiallyShipped | S::Shipped)
                && from != to
        }
        C::Deliver => from == S::Shipped && to == S::Delivered,
        C::Complete => from == S::Delivered && to == S::Completed,
        C::Hold => holdable.contains(&from) && to == S::OnHold,
        C::Resume => from == S::OnHold && held == Some(to) && holdable.contains(&to),
        C::Cancel => {
            to == S::Cancelled
                && (pre_confirm.contains(&from)
                    || matches!(from, S::Confirmed | S::InProduction | S::ReadyToShip)
                    || (from == S::OnHold
                        && held.is_some_and(|h| {
                            matches!(h, S::Confirmed | S::InProduction | S::ReadyToShip)
                        })))
        }
        // A recorded shipment: a further partial one keeps PARTIALLY_SHIPPED.
        C::RecordShipment => {
            matches!(from, S::ReadyToShip | S::PartiallyShipped)
                && matches!(to, S::PartiallyShipped | S::Shipped)
        }
        // Not status moves: `decide` never takes them (see `reassign` and `tracking`).
        C::Reassign
        | C::RecordMilestone
        | C::RaiseException
        | C::UpdateException
        | C::ResolveException
        | C::ChangeOrder
        | C::ApproveChange
        | C::RejectChange => false,
    }
}

fn any_status() -> impl Strategy<Value = OrderStatus> {
    prop::sample::select(OrderStatus::ALL.to_vec())
}

fn any_command() -> impl Strategy<Value = OrderCommand> {
    let severity = prop::sample::select(vec![
        Severity::Info,
        Severity::NeedsApproval,
        Severity::Blocker,
    ]);
    prop_oneof![
        prop::collection::vec(severity, 0..3).prop_map(|s| OrderCommand::Submit {
            findings: s.into_iter().map(finding).collect()
        }),
        Just(OrderCommand::Approve { comment: None }),
        Just(OrderCommand::Reject {
            comment: "no".into()
        }),
        Just(OrderCommand::RequestRevision { reason: "r".into() }),
        prop::sample::select(vec![
            ConfirmationChannel::Email,
            ConfirmationChannel::Portal
        ])
        .prop_map(|c| OrderCommand::Confirm(confirmation(c))),
        Just(OrderCommand::StartProduction),
        Just(OrderCommand::MarkReadyToShip),
        any::<bool>().prop_map(|complete| OrderCommand::Ship { complete }),
        any::<bool>().prop_map(|complete| OrderCommand::RecordShipment { complete }),
        Just(OrderCommand::Deliver),
        Just(OrderCommand::Complete),
        Just(OrderCommand::Hold { reason: "r".into() }),
        Just(OrderCommand::Resume),
        Just(OrderCommand::Cancel { reason: "r".into() }),
        Just(OrderCommand::UpdateDraft(order(S::Draft, None).content)),
    ]
}

fn any_actor() -> impl Strategy<Value = Actor> {
    prop::sample::select(vec![
        SALES,
        MANAGER,
        CUSTOMER,
        Actor {
            user_id: UserId(9),
            role: Role::Admin,
            customer_id: None,
        },
    ])
}

#[test]
fn only_managers_and_admins_reassign_unfinished_orders() {
    let confirmed = order(S::Confirmed, None);
    let decision =
        domain::lifecycle::reassign(&confirmed, UserId(7), Some(" rep left "), &MANAGER, now())
            .unwrap();
    assert_eq!(decision.order.sales_rep_id, UserId(7));
    assert_eq!(decision.order.status, S::Confirmed);
    assert_eq!(decision.order.version, confirmed.version + 1);
    assert_eq!(
        decision.events,
        vec![OrderEventKind::OrderReassigned {
            from: UserId(2),
            to: UserId(7),
            reason: Some("rep left".into()),
        }]
    );
    assert!(matches!(
        domain::lifecycle::reassign(&confirmed, UserId(7), None, &SALES, now()),
        Err(OrderError::Forbidden(_))
    ));
    assert!(domain::lifecycle::reassign(&confirmed, UserId(2), None, &MANAGER, now()).is_err());
    for status in [S::Completed, S::Cancelled] {
        assert!(matches!(
            domain::lifecycle::reassign(&order(status, None), UserId(7), None, &MANAGER, now()),
            Err(OrderError::InvalidTransition { .. })
        ));
    }
}

#[test]
fn delivering_a_fully_paid_order_completes_it() {
    let mut shipped = order(S::Shipped, None);
    shipped.payment_status = PaymentStatus::Paid;
    let decision = decide(&shipped, OrderCommand::Deliver, &SALES, now()).unwrap();
    assert_eq!(decision.order.status, S::Completed);
    let moves: Vec<(OrderStatus, OrderStatus)> = decision
        .events
        .iter()
        .filter_map(|e| match e {
            OrderEventKind::StatusChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        moves,
        vec![(S::Shipped, S::Delivered), (S::Delivered, S::Completed)]
    );
    let unpaid = decide(
        &order(S::Shipped, None),
        OrderCommand::Deliver,
        &SALES,
        now(),
    )
    .unwrap();
    assert_eq!(unpaid.order.status, S::Delivered);
}

proptest! {
    // The whole space (status x held-from x payment x command x role) is ~20k cases: sample it well.
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn no_transition_outside_the_design_is_ever_accepted(
        status in any_status(),
        held in prop::option::of(any_status()),
        paid in any::<bool>(),
        command in any_command(),
        actor in any_actor(),
    ) {
        let mut before = order(status, if status == S::OnHold { held } else { None });
        if paid { before.payment_status = PaymentStatus::Paid; }
        let kind = command.kind();
        if let Ok(decision) = decide(&before, command, &actor, now()) {
            // Delivering a fully paid order closes it in the same step (DELIVERED + paid = COMPLETED).
            let auto_completed = kind == CommandKind::Deliver
                && paid
                && decision.order.status == S::Completed
                && design_allows(status, before.held_from, kind, S::Delivered);
            prop_assert!(auto_completed || design_allows(status, before.held_from, kind, decision.order.status),
                "{status} (held {:?}) --{kind}--> {} accepted", before.held_from, decision.order.status);
            prop_assert_eq!(decision.order.version, before.version + 1);
            prop_assert!(kind != CommandKind::Complete || paid, "completed unpaid");
            prop_assert!(actor.role != Role::Customer || kind == CommandKind::Confirm);
            prop_assert!(!matches!(kind, CommandKind::Approve | CommandKind::Reject) || actor.role.is_manager_or_admin(), "approved by a non-manager");
        }
    }

    #[test]
    fn final_statuses_accept_nothing(command in any_command(), actor in any_actor(), status in prop::sample::select(vec![S::Completed, S::Cancelled])) {
        prop_assert!(decide(&order(status, None), command, &actor, now()).is_err());
    }

    #[test]
    fn the_total_is_the_sum_of_rounded_line_totals(
        lines in prop::collection::vec((1u32..10_000, 0u32..1_000_000, 0u32..10_000), 0..20)
    ) {
        let mut o = order(S::Draft, None);
        o.content.lines = lines.iter().enumerate().map(|(i, (q, p, d))| OrderLine {
            line_no: i as u32 + 1,
            product_id: ProductId(1),
            sku: "S".into(),
            description: "D".into(),
            quantity: Quantity::new(Decimal::new(i64::from(*q), 1)).unwrap(),
            unit_price: Decimal::new(i64::from(*p), 3),
            discount: DiscountPercent::new(Decimal::new(i64::from(*d), 2)).unwrap(),
        }).collect();
        let expected: Decimal = o.content.lines.iter().map(|l| {
            let exact = l.quantity.get() * l.unit_price * (Decimal::ONE_HUNDRED - l.discount.get()) / Decimal::ONE_HUNDRED;
            exact.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        }).sum();
        prop_assert_eq!(o.total(), expected);
        prop_assert_eq!(o.total().round_dp(2), o.total());
    }
}
