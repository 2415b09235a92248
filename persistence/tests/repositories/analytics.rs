//! Analytics (`AnalyticsRepository`): milestone timestamps are set the first time and agree
//! with the migration's backfill; the sales aggregates count submitted orders created in the
//! period, per day, currency and status, within the caller's scope and the filter. The expected
//! numbers are worked out by hand in the comments.

use chrono::{DateTime, TimeZone, Utc};
use domain::OrderId;
use domain::catalog::Customer;
use domain::event::OrderEventKind;
use domain::lifecycle::{OrderCommand, OrderStatus};
use domain::order::Order;
use domain::order::{Confirmation, ConfirmationChannel};
use domain::ports::{
    AnalyticsFilter, AnalyticsRepository, ConversionCounts, CustomerRepository, DailySales,
    DeliveryCounts, ExceptionGroup, OpenOrders, OrderRepository, Ranked, Stage, TrackingChange,
    TrackingRecord, TrackingRepository,
};
use domain::review::{Finding, Severity};
use domain::tracking::{
    ExceptionKind, NewException, Severity as ExceptionSeverity, raise_exception, resolve_exception,
    update_exception,
};
use domain::user::{Scope, User};
use persistence::Store;

use crate::fixtures::{Desk, OtherTeam, apply, at, currency, dec, draft, line, load, profile};

backend_tests!(
    milestones_are_set_the_first_time_only_and_the_backfill_agrees,
    daily_sales_count_submitted_orders_of_the_period_per_day_currency_and_status,
    sales_filters_and_scopes_narrow_the_orders_counted,
    top_customers_and_products_rank_by_value_within_each_currency,
    the_pipeline_counts_open_orders_now_and_conversion_and_findings_of_the_period,
    an_edited_drafts_value_is_its_new_total,
    stage_durations_and_deliveries_cover_orders_whose_stage_ended_in_the_period,
    exceptions_of_the_period_group_by_kind_root_cause_and_currency_with_their_lessons,
);

fn confirm(now: DateTime<Utc>) -> OrderCommand {
    confirm_promising(now, None)
}

pub(crate) fn submit() -> OrderCommand {
    OrderCommand::Submit {
        findings: Vec::new(),
    }
}

async fn milestones_are_set_the_first_time_only_and_the_backfill_agrees(store: Store) {
    let desk = Desk::set_up(&store).await;
    let id = store
        .create_order(desk.draft(at(0)), desk.rep.id, None)
        .await
        .unwrap()
        .order
        .id;
    let blocker = OrderCommand::Submit {
        findings: vec![Finding {
            code: "PRICE_BELOW_LIST".to_owned(),
            severity: Severity::Blocker,
            message: "too cheap".to_owned(),
            line_no: Some(1),
        }],
    };
    apply(&store, id, blocker, &desk.rep, at(10)).await;
    // Sent back by review, submitted again: submitted_at stays the first submission.
    apply(&store, id, submit(), &desk.rep, at(20)).await;
    apply(&store, id, confirm(at(30)), &desk.rep, at(30)).await;
    let hold = OrderCommand::Hold {
        reason: "customer asked to wait".to_owned(),
    };
    apply(&store, id, hold, &desk.rep, at(40)).await;
    // Resuming moves the status to CONFIRMED again: confirmed_at stays the first time.
    apply(&store, id, OrderCommand::Resume, &desk.rep, at(50)).await;
    apply(&store, id, OrderCommand::StartProduction, &desk.rep, at(60)).await;
    apply(&store, id, OrderCommand::MarkReadyToShip, &desk.rep, at(70)).await;
    apply(
        &store,
        id,
        OrderCommand::Ship { complete: true },
        &desk.rep,
        at(80),
    )
    .await;
    apply(&store, id, OrderCommand::Deliver, &desk.rep, at(90)).await;
    let untouched = store
        .create_order(desk.draft(at(5)), desk.rep.id, None)
        .await
        .unwrap()
        .order
        .id;

    let expected = domain::ports::OrderMilestones {
        submitted_at: Some(at(10)),
        confirmed_at: Some(at(30)),
        shipped_at: Some(at(80)),
        delivered_at: Some(at(90)),
        paid_at: None,
    };
    let read = store.order_milestones(&[id, untouched]).await.unwrap();
    assert_eq!(
        read,
        vec![(id, expected), (untouched, Default::default())],
        "set by the writes themselves"
    );

    // Rebuilt from the event log by the migration (000006, under the later 000007..000009):
    // the same instants.
    store.revert_migrations(4).await.unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), 4);
    store.migrate().await.unwrap();
    let backfilled = store.order_milestones(&[id, untouched]).await.unwrap();
    assert_eq!(backfilled, read, "backfilled from the event log");
}

/// A second team (a manager with one rep) and their EUR customer; and a USD customer of the
/// desk's rep.
struct World {
    desk: Desk,
    other_rep: User,
    beta: Customer,
    gamma: Customer,
    /// O1..O6 as described in `build`.
    orders: Vec<OrderId>,
}

/// 2026-03-02 00:00 UTC plus `days` days and `hours` hours.
pub(crate) fn day(days: i64, hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
        + chrono::Duration::days(days)
        + chrono::Duration::hours(hours)
}

pub(crate) fn march() -> AnalyticsFilter {
    AnalyticsFilter {
        from: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap(),
        sales_rep_id: None,
        team_of: None,
        customer_id: None,
        product_id: None,
        currency: None,
    }
}

/// The data set (unit prices 10.00 for widgets and 200.00 for gadgets, no discounts):
/// - O1 Acme (desk rep), created 03-02 09:00, 10 widgets + 1 gadget = 300.00 EUR, CONFIRMED;
/// - O2 Acme, created 03-02 10:00, 5 widgets = 50.00 EUR, submitted then CANCELLED;
/// - O3 Beta (other rep, not in the desk manager's team), created 03-10, 2 gadgets = 400.00 EUR,
///   DELIVERED;
/// - O4 Acme, created 03-10, 100 widgets = 1000.00 EUR, still a DRAFT (never counted);
/// - O5 Gamma (desk rep), created 03-03, 7 widgets at 10.00 = 70.00 USD, APPROVED;
/// - O6 Acme, created 02-20 (before March), 1 widget = 10.00 EUR, APPROVED (outside the period).
async fn build(store: &Store) -> World {
    let desk = Desk::set_up(store).await;
    let OtherTeam {
        rep: other_rep,
        customer: beta,
        ..
    } = OtherTeam::set_up(store).await;
    let gamma = store
        .create_customer(
            profile("Gamma Inc", desk.rep.id, currency("USD"), dec("50000")),
            at(0),
        )
        .await
        .unwrap();
    let widgets = |n: &str| line(1, &desk.widget, dec(n), dec("10"), dec("0"));
    let gadgets = |no: u32, n: &str| line(no, &desk.gadget, dec(n), dec("200"), dec("0"));
    let acme = &desk.customer;
    let plans = [
        (
            acme,
            vec![widgets("10"), gadgets(2, "1")],
            day(0, 9),
            &desk.rep,
        ),
        (acme, vec![widgets("5")], day(0, 10), &desk.rep),
        (&beta, vec![gadgets(1, "2")], day(8, 12), &other_rep),
        (acme, vec![widgets("100")], day(8, 13), &desk.rep),
        (&gamma, vec![widgets("7")], day(1, 8), &desk.rep),
        (acme, vec![widgets("1")], day(-10, 8), &desk.rep),
    ];
    let mut orders = Vec::new();
    for (customer, lines, created, rep) in plans {
        let id = store
            .create_order(draft(customer, lines, created), rep.id, None)
            .await
            .unwrap()
            .order
            .id;
        orders.push(id);
    }
    let later = day(20, 0);
    let steps: [(usize, Vec<OrderCommand>); 5] = [
        (0, vec![submit(), confirm(later)]),
        (
            1,
            vec![
                submit(),
                OrderCommand::Cancel {
                    reason: "duplicate".to_owned(),
                },
            ],
        ),
        (
            2,
            vec![
                submit(),
                confirm(later),
                OrderCommand::StartProduction,
                OrderCommand::MarkReadyToShip,
                OrderCommand::Ship { complete: true },
                OrderCommand::Deliver,
            ],
        ),
        (4, vec![submit()]),
        (5, vec![submit()]),
    ];
    for (index, commands) in steps {
        let by = if index == 2 { &other_rep } else { &desk.rep };
        for command in commands {
            apply(store, orders[index], command, by, later).await;
        }
    }
    World {
        desk,
        other_rep,
        beta,
        gamma,
        orders,
    }
}

fn sales(day: &str, code: &str, status: OrderStatus, orders: u64, value: &str) -> DailySales {
    DailySales {
        day: day.parse().unwrap(),
        currency: currency(code),
        status,
        orders,
        value: dec(value),
    }
}

async fn daily_sales_count_submitted_orders_of_the_period_per_day_currency_and_status(
    store: Store,
) {
    let world = build(&store).await;
    let rows = store.daily_sales(Scope::All, &march()).await.unwrap();
    // O4 is a draft and O6 was created in February: neither counts.
    assert_eq!(
        rows,
        vec![
            sales("2026-03-02", "EUR", OrderStatus::Cancelled, 1, "50"),
            sales("2026-03-02", "EUR", OrderStatus::Confirmed, 1, "300"),
            sales("2026-03-03", "USD", OrderStatus::Approved, 1, "70"),
            sales("2026-03-10", "EUR", OrderStatus::Delivered, 1, "400"),
        ]
    );
    // The period is half-open: ending at O1's creation instant leaves O1 out (and O2, created an
    // hour later).
    let until_o1 = AnalyticsFilter {
        to: day(0, 9),
        ..march()
    };
    assert_eq!(
        store.daily_sales(Scope::All, &until_o1).await.unwrap(),
        vec![]
    );
    // February holds O6 only.
    let february = AnalyticsFilter {
        from: Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        ..march()
    };
    assert_eq!(
        store.daily_sales(Scope::All, &february).await.unwrap(),
        vec![sales("2026-02-20", "EUR", OrderStatus::Approved, 1, "10")]
    );
    assert_eq!(world.orders.len(), 6);
}

async fn sales_filters_and_scopes_narrow_the_orders_counted(store: Store) {
    let world = build(&store).await;
    let desk = &world.desk;
    // Only ever summed over one currency here (each case filters on one or has one).
    let totals = |rows: Vec<DailySales>| {
        assert!(rows.windows(2).all(|w| w[0].currency == w[1].currency));
        let orders: u64 = rows.iter().map(|r| r.orders).sum();
        (
            orders,
            rows.iter().map(|r| r.value).sum::<rust_decimal::Decimal>(),
        )
    };
    let eur = AnalyticsFilter {
        currency: Some(currency("EUR")),
        ..march()
    };
    // All EUR: O1 300 + O2 50 + O3 400.
    let all_eur = store.daily_sales(Scope::All, &eur).await.unwrap();
    assert_eq!(totals(all_eur), (3, dec("750")));
    // The desk rep sees O1 and O2 (EUR); their manager the same; the other rep only O3.
    for scope in [Scope::Rep(desk.rep.id), Scope::Team(desk.manager.id)] {
        let rows = store.daily_sales(scope, &eur).await.unwrap();
        assert_eq!(totals(rows), (2, dec("350")), "{scope:?}");
    }
    let rows = store
        .daily_sales(Scope::Rep(world.other_rep.id), &eur)
        .await
        .unwrap();
    assert_eq!(totals(rows), (1, dec("400")));
    // The same through filters, on an admin's scope.
    let cases: [(AnalyticsFilter, u64, &str); 5] = [
        (
            AnalyticsFilter {
                sales_rep_id: Some(desk.rep.id),
                ..eur
            },
            2,
            "350",
        ),
        (
            AnalyticsFilter {
                team_of: Some(desk.manager.id),
                ..eur
            },
            2,
            "350",
        ),
        (
            AnalyticsFilter {
                customer_id: Some(world.beta.id),
                ..eur
            },
            1,
            "400",
        ),
        // Orders with a gadget line, whole order values: O1 300 + O3 400.
        (
            AnalyticsFilter {
                product_id: Some(desk.gadget.id),
                ..eur
            },
            2,
            "700",
        ),
        (
            AnalyticsFilter {
                customer_id: Some(world.gamma.id),
                ..march()
            },
            1,
            "70",
        ),
    ];
    for (filter, orders, value) in cases {
        let rows = store.daily_sales(Scope::All, &filter).await.unwrap();
        assert_eq!(totals(rows), (orders, dec(value)), "{filter:?}");
    }
    // A rep filter outside the caller's scope finds nothing.
    let others = AnalyticsFilter {
        sales_rep_id: Some(world.other_rep.id),
        ..march()
    };
    let rows = store
        .daily_sales(Scope::Rep(desk.rep.id), &others)
        .await
        .unwrap();
    assert!(rows.is_empty());
    let nothing = store.daily_sales(Scope::Nothing, &march()).await.unwrap();
    assert!(nothing.is_empty());
}

fn ranked<K>(key: K, code: &str, orders: u64, value: &str) -> Ranked<K> {
    Ranked {
        key,
        currency: currency(code),
        orders,
        value: dec(value),
    }
}

async fn top_customers_and_products_rank_by_value_within_each_currency(store: Store) {
    let world = build(&store).await;
    let desk = &world.desk;
    // EUR: Beta 400 (O3) before Acme 350 (O1 + O2, the cancelled one included); USD: Gamma.
    assert_eq!(
        store.top_customers(Scope::All, &march(), 10).await.unwrap(),
        vec![
            ranked(world.beta.id, "EUR", 1, "400"),
            ranked(desk.customer.id, "EUR", 2, "350"),
            ranked(world.gamma.id, "USD", 1, "70"),
        ]
    );
    assert_eq!(
        store.top_customers(Scope::All, &march(), 1).await.unwrap(),
        vec![
            ranked(world.beta.id, "EUR", 1, "400"),
            ranked(world.gamma.id, "USD", 1, "70"),
        ],
        "the limit applies per currency"
    );
    // Line values. EUR gadgets: O1 200 + O3 400 = 600; EUR widgets: O1 100 + O2 50 = 150.
    // USD widgets: O5 70.
    assert_eq!(
        store.top_products(Scope::All, &march(), 10).await.unwrap(),
        vec![
            ranked(desk.gadget.id, "EUR", 2, "600"),
            ranked(desk.widget.id, "EUR", 2, "150"),
            ranked(desk.widget.id, "USD", 1, "70"),
        ]
    );
    // The desk rep's scope: no O3.
    assert_eq!(
        store
            .top_products(Scope::Rep(desk.rep.id), &march(), 10)
            .await
            .unwrap(),
        vec![
            ranked(desk.gadget.id, "EUR", 1, "200"),
            ranked(desk.widget.id, "EUR", 2, "150"),
            ranked(desk.widget.id, "USD", 1, "70"),
        ]
    );
}

pub(crate) fn confirm_promising(now: DateTime<Utc>, promised: Option<&str>) -> OrderCommand {
    OrderCommand::Confirm(Confirmation {
        confirmed_by: "Ms Buyer".to_owned(),
        channel: ConfirmationChannel::Email,
        reference: None,
        confirmed_at: now,
        promised_date: promised.map(|d| d.parse().unwrap()),
    })
}

fn flagged(findings: &[(&str, Severity, u32)]) -> OrderCommand {
    OrderCommand::Submit {
        findings: findings
            .iter()
            .map(|(code, severity, line_no)| Finding {
                code: (*code).to_owned(),
                severity: *severity,
                message: "flagged".to_owned(),
                line_no: Some(*line_no),
            })
            .collect(),
    }
}

fn approve() -> OrderCommand {
    OrderCommand::Approve { comment: None }
}

/// Lifecycle data (every order 1 widget at 100.00 EUR unless said; times from 2026-03-02 00:00):
/// - A (desk rep): submitted +10h with 1 DISCOUNT_ABOVE_AUTHORITY (NEEDS_APPROVAL), approved,
///   confirmed +1d10h (24 h later) promising 03-10, shipped +3d10h (48 h), delivered +5d10h
///   (48 h, on 03-07: on time);
/// - B (desk rep): submitted +12h with 1 LEAD_TIME (INFO), confirmed +18h (6 h) promising 03-05,
///   shipped +1d18h (24 h), delivered +8d18h (168 h, on 03-10: late);
/// - C (desk rep): submitted +1d1h, APPROVED, never confirmed;
/// - D (other rep): submitted +2d1h with 2 DISCOUNT_ABOVE_AUTHORITY (NEEDS_APPROVAL), approved,
///   confirmed +2d13h (12 h) without a promised date, CONFIRMED;
/// - E (desk rep): 2 widgets = 200.00, a DRAFT;
/// - F (desk rep): submitted and confirmed in February (-9d+1h), shipped +1d1h (240 h), SHIPPED.
async fn build_lifecycle(store: &Store) -> (Desk, User, [OrderId; 6]) {
    let desk = Desk::set_up(store).await;
    let OtherTeam {
        boss,
        rep: other_rep,
        customer: beta,
    } = OtherTeam::set_up(store).await;
    let widgets = |n: &str| vec![line(1, &desk.widget, dec(n), dec("100"), dec("0"))];
    let mut ids = Vec::new();
    for (customer, n, created, rep) in [
        (&desk.customer, "1", day(0, 9), &desk.rep),
        (&desk.customer, "1", day(0, 11), &desk.rep),
        (&desk.customer, "1", day(1, 0), &desk.rep),
        (&beta, "1", day(2, 0), &other_rep),
        (&desk.customer, "2", day(2, 5), &desk.rep),
        (&desk.customer, "1", day(-10, 0), &desk.rep),
    ] {
        let created = store
            .create_order(draft(customer, widgets(n), created), rep.id, None)
            .await
            .unwrap();
        ids.push(created.order.id);
    }
    let [a, b, c, d, e, f] = ids.try_into().unwrap();
    let need = Severity::NeedsApproval;
    let (rep, manager) = (&desk.rep, &desk.manager);
    let ship = || OrderCommand::Ship { complete: true };
    let steps: Vec<(OrderId, OrderCommand, &User, DateTime<Utc>)> = vec![
        (
            a,
            flagged(&[("DISCOUNT_ABOVE_AUTHORITY", need, 1)]),
            rep,
            day(0, 10),
        ),
        (a, approve(), manager, day(0, 11)),
        (
            a,
            confirm_promising(day(1, 10), Some("2026-03-10")),
            rep,
            day(1, 10),
        ),
        (a, OrderCommand::StartProduction, rep, day(2, 0)),
        (a, OrderCommand::MarkReadyToShip, rep, day(3, 0)),
        (a, ship(), rep, day(3, 10)),
        (a, OrderCommand::Deliver, rep, day(5, 10)),
        (
            b,
            flagged(&[("LEAD_TIME", Severity::Info, 1)]),
            rep,
            day(0, 12),
        ),
        (
            b,
            confirm_promising(day(0, 18), Some("2026-03-05")),
            rep,
            day(0, 18),
        ),
        (b, OrderCommand::StartProduction, rep, day(1, 0)),
        (b, OrderCommand::MarkReadyToShip, rep, day(1, 1)),
        (b, ship(), rep, day(1, 18)),
        (b, OrderCommand::Deliver, rep, day(8, 18)),
        (c, submit(), rep, day(1, 1)),
        (f, submit(), rep, day(-10, 1)),
        (f, confirm_promising(day(-9, 1), None), rep, day(-9, 1)),
        (f, OrderCommand::StartProduction, rep, day(-5, 0)),
        (f, OrderCommand::MarkReadyToShip, rep, day(0, 0)),
        (f, ship(), rep, day(1, 1)),
    ];
    for (id, command, by, now) in steps {
        apply(store, id, command, by, now).await;
    }
    let boss_steps: Vec<(OrderCommand, &User, DateTime<Utc>)> = vec![
        (
            flagged(&[
                ("DISCOUNT_ABOVE_AUTHORITY", need, 1),
                ("DISCOUNT_ABOVE_AUTHORITY", need, 2),
            ]),
            &other_rep,
            day(2, 1),
        ),
        (approve(), &boss, day(2, 2)),
        (confirm_promising(day(2, 13), None), &other_rep, day(2, 13)),
    ];
    for (command, by, now) in boss_steps {
        apply(store, d, command, by, now).await;
    }
    (desk, other_rep, [a, b, c, d, e, f])
}

async fn the_pipeline_counts_open_orders_now_and_conversion_and_findings_of_the_period(
    store: Store,
) {
    let (desk, other_rep, _) = build_lifecycle(&store).await;
    let open = |status, orders, value: &str| OpenOrders {
        status,
        currency: currency("EUR"),
        orders,
        value: dec(value),
    };
    // A and B are delivered; the rest is open, the draft E and February's F included (the
    // period does not apply to what is open now).
    assert_eq!(
        store.open_orders(Scope::All, &march()).await.unwrap(),
        vec![
            open(OrderStatus::Draft, 1, "200"),
            open(OrderStatus::Approved, 1, "100"),
            open(OrderStatus::Confirmed, 1, "100"),
            open(OrderStatus::Shipped, 1, "100"),
        ]
    );
    // The other rep sees their D only.
    assert_eq!(
        store
            .open_orders(Scope::Rep(other_rep.id), &march())
            .await
            .unwrap(),
        vec![open(OrderStatus::Confirmed, 1, "100")]
    );
    // Submitted in March: A, B, C, D (F was submitted in February); confirmed since: A, B, D.
    assert_eq!(
        store.conversion(Scope::All, &march()).await.unwrap(),
        ConversionCounts {
            submitted: 4,
            confirmed: 3
        }
    );
    // The desk rep: A, B, C submitted; A, B confirmed.
    assert_eq!(
        store
            .conversion(Scope::Rep(desk.rep.id), &march())
            .await
            .unwrap(),
        ConversionCounts {
            submitted: 3,
            confirmed: 2
        }
    );
    // Findings of A, B, D (C passed review clean: orders without findings are left out).
    let mut findings: Vec<Vec<(String, Severity)>> = store
        .review_findings(Scope::All, &march())
        .await
        .unwrap()
        .into_iter()
        .map(|list| list.into_iter().map(|f| (f.code, f.severity)).collect())
        .collect();
    findings.sort();
    let discount = || {
        (
            "DISCOUNT_ABOVE_AUTHORITY".to_owned(),
            Severity::NeedsApproval,
        )
    };
    assert_eq!(
        findings,
        vec![
            vec![discount()],
            vec![discount(), discount()],
            vec![("LEAD_TIME".to_owned(), Severity::Info)],
        ]
    );
}

async fn stage_durations_and_deliveries_cover_orders_whose_stage_ended_in_the_period(store: Store) {
    let (desk, _, _) = build_lifecycle(&store).await;
    let hours = |stage| {
        let store = store.clone();
        async move {
            let mut durations = store
                .stage_durations(Scope::All, &march(), stage)
                .await
                .unwrap();
            durations.sort_unstable();
            durations
                .into_iter()
                .map(|micros| micros / 3_600_000_000)
                .collect::<Vec<_>>()
        }
    };
    // Submitted -> confirmed: B 6 h, D 12 h, A 24 h (F was confirmed in February).
    assert_eq!(hours(Stage::SubmittedToConfirmed).await, vec![6, 12, 24]);
    // Confirmed -> shipped: B 24 h, A 48 h, F 240 h (shipped in March).
    assert_eq!(hours(Stage::ConfirmedToShipped).await, vec![24, 48, 240]);
    // Shipped -> delivered: A 48 h, B 168 h.
    assert_eq!(hours(Stage::ShippedToDelivered).await, vec![48, 168]);
    assert_eq!(hours(Stage::DeliveredToPaid).await, Vec::<i64>::new());
    // A period ending before B's delivery keeps only A's.
    let early = AnalyticsFilter {
        to: day(8, 0),
        ..march()
    };
    let a_only = store
        .stage_durations(Scope::All, &early, Stage::ShippedToDelivered)
        .await
        .unwrap();
    assert_eq!(a_only, vec![48 * 3_600_000_000]);

    // A arrived on 03-07 against 03-10 (on time); B on 03-10 against 03-05 (late).
    assert_eq!(
        store
            .deliveries(Scope::Rep(desk.rep.id), &march())
            .await
            .unwrap(),
        vec![DeliveryCounts {
            sales_rep_id: desk.rep.id,
            delivered: 2,
            on_time: 1,
        }]
    );
    // G, delivered at 23:30 UTC on its promised day (03-13): still on time (the UTC day counts).
    let g = store
        .create_order(
            draft(
                &desk.customer,
                vec![line(1, &desk.widget, dec("1"), dec("100"), dec("0"))],
                day(9, 0),
            ),
            desk.rep.id,
            None,
        )
        .await
        .unwrap()
        .order
        .id;
    for (command, at) in [
        (submit(), day(9, 1)),
        (confirm_promising(day(9, 2), Some("2026-03-13")), day(9, 2)),
        (OrderCommand::StartProduction, day(9, 3)),
        (OrderCommand::MarkReadyToShip, day(9, 4)),
        (OrderCommand::Ship { complete: true }, day(9, 5)),
        (
            OrderCommand::Deliver,
            day(12, 0) - chrono::Duration::minutes(30),
        ),
    ] {
        apply(&store, g, command, &desk.rep, at).await;
    }
    // From 03-08 on: B (late) and G (on time).
    let from_eighth = AnalyticsFilter {
        from: day(6, 0),
        ..march()
    };
    assert_eq!(
        store.deliveries(Scope::All, &from_eighth).await.unwrap(),
        vec![DeliveryCounts {
            sales_rep_id: desk.rep.id,
            delivered: 2,
            on_time: 1,
        }]
    );
    let other_team = store
        .deliveries(Scope::Team(desk.admin.id), &march())
        .await
        .unwrap();
    assert!(other_team.is_empty(), "the admin manages no team");
}

/// Stores a tracking change decided on `before` (the order as stored) as the service would.
pub(crate) async fn track(
    store: &Store,
    before: &Order,
    mut next: Order,
    records: Vec<TrackingRecord>,
    events: Vec<OrderEventKind>,
    by: &User,
    at: DateTime<Utc>,
) -> Option<i64> {
    next.version = before.version + 1;
    next.updated_at = at;
    store
        .save_tracking(TrackingChange {
            order: &next,
            expected_version: before.version,
            lines_changed: false,
            records,
            events,
            actor_id: by.id,
            at,
        })
        .await
        .unwrap()
        .new_id
}

/// Raises an exception on the order as stored; returns its id.
pub(crate) async fn raise(
    store: &Store,
    order_id: OrderId,
    kind: ExceptionKind,
    cost: &str,
    delay_days: u32,
    by: &User,
    at: DateTime<Utc>,
) -> i64 {
    let order = load(store, order_id).await;
    let mut next = order.clone();
    let (exception, events) = raise_exception(
        &mut next,
        NewException {
            order_id,
            customer_id: order.customer_id,
            sales_rep_id: order.sales_rep_id,
            kind,
            severity: ExceptionSeverity::Medium,
            description: format!("{kind} on {}", order.number),
            cost_impact: dec(cost),
            currency: order.currency,
            delay_days,
            held_order: false,
            raised_by: by.id,
            raised_at: at,
        },
        at.date_naive(),
    )
    .unwrap();
    let records = vec![TrackingRecord::NewException(exception)];
    track(store, &order, next, records, events, by, at)
        .await
        .unwrap()
}

/// Records a root cause, then resolves with a lesson learned.
async fn analyse_and_resolve(
    store: &Store,
    id: i64,
    root_cause: &str,
    lesson: &str,
    by: &User,
    at: DateTime<Utc>,
) {
    let exception = store.exception(id).await.unwrap().unwrap();
    let order = load(store, exception.details.order_id).await;
    let (analysed, event) =
        update_exception(&order, &exception, Some(root_cause.to_owned()), None).unwrap();
    let records = vec![TrackingRecord::UpdatedException(analysed.clone())];
    track(store, &order, order.clone(), records, vec![event], by, at).await;
    let order = load(store, exception.details.order_id).await;
    let (resolved, event) =
        resolve_exception(&order, &analysed, "handled", Some(lesson), by.id, at).unwrap();
    let records = vec![TrackingRecord::UpdatedException(resolved)];
    track(store, &order, order.clone(), records, vec![event], by, at).await;
}

async fn exceptions_of_the_period_group_by_kind_root_cause_and_currency_with_their_lessons(
    store: Store,
) {
    let (desk, other_rep, [_, _, _, d, _, f]) = build_lifecycle(&store).await;
    let rep = &desk.rep;
    // On F (desk rep): two DELAYs in March (100.00 / 3 days and 50.00 / 2 days), both traced to
    // "supplier late" and resolved with a lesson, and one in February. On D (other rep): an
    // unanalysed QUALITY exception, 200.00.
    let first = raise(&store, f, ExceptionKind::Delay, "100", 3, rep, day(1, 2)).await;
    let second = raise(&store, f, ExceptionKind::Delay, "50", 2, rep, day(1, 3)).await;
    raise(&store, f, ExceptionKind::Delay, "999", 9, rep, day(-2, 0)).await;
    raise(
        &store,
        d,
        ExceptionKind::Quality,
        "200",
        0,
        &other_rep,
        day(2, 14),
    )
    .await;
    analyse_and_resolve(
        &store,
        first,
        "supplier late",
        "order earlier",
        rep,
        day(3, 0),
    )
    .await;
    let lesson = "keep a second supplier";
    analyse_and_resolve(&store, second, "supplier late", lesson, rep, day(4, 0)).await;

    let group = |kind, root: Option<&str>, exceptions, cost: &str, delay_days| ExceptionGroup {
        kind,
        root_cause: root.map(str::to_owned),
        currency: currency("EUR"),
        exceptions,
        cost_impact: dec(cost),
        delay_days,
    };
    let mut groups = store.exception_groups(Scope::All, &march()).await.unwrap();
    groups.sort_by_key(|g| g.kind);
    assert_eq!(
        groups,
        vec![
            group(ExceptionKind::Delay, Some("supplier late"), 2, "150", 5),
            group(ExceptionKind::Quality, None, 1, "200", 0),
        ]
    );
    // Most recently resolved first.
    let lessons: Vec<String> = store
        .exception_lessons(Scope::All, &march())
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.lessons_learned)
        .collect();
    assert_eq!(lessons, vec![lesson, "order earlier"]);
    // The other rep sees D's only; a filter on the desk's customer leaves F's.
    assert_eq!(
        store
            .exception_groups(Scope::Rep(other_rep.id), &march())
            .await
            .unwrap(),
        vec![group(ExceptionKind::Quality, None, 1, "200", 0)]
    );
    let acme = AnalyticsFilter {
        customer_id: Some(desk.customer.id),
        ..march()
    };
    assert_eq!(
        store.exception_groups(Scope::All, &acme).await.unwrap(),
        vec![group(
            ExceptionKind::Delay,
            Some("supplier late"),
            2,
            "150",
            5
        )]
    );
}

/// The stored total follows the lines: the pipeline values an edited draft by its new lines,
/// and a change that leaves the lines alone (submitting it) keeps that total.
async fn an_edited_drafts_value_is_its_new_total(store: Store) {
    let desk = Desk::set_up(&store).await;
    let lines = vec![line(1, &desk.widget, dec("10"), dec("100"), dec("0"))];
    let id = store
        .create_order(draft(&desk.customer, lines, at(0)), desk.rep.id, None)
        .await
        .unwrap()
        .order
        .id;
    let mut content = load(&store, id).await.content;
    content.lines = vec![line(1, &desk.widget, dec("3"), dec("100"), dec("0"))];
    apply(
        &store,
        id,
        OrderCommand::UpdateDraft(content),
        &desk.rep,
        at(10),
    )
    .await;
    let drafts = |open: Vec<OpenOrders>| {
        open.into_iter()
            .map(|o| (o.status, o.orders, o.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        drafts(store.open_orders(Scope::All, &march()).await.unwrap()),
        vec![(OrderStatus::Draft, 1, dec("300"))]
    );
    apply(
        &store,
        id,
        OrderCommand::Submit { findings: vec![] },
        &desk.rep,
        at(20),
    )
    .await;
    assert_eq!(
        drafts(store.open_orders(Scope::All, &march()).await.unwrap()),
        vec![(OrderStatus::Approved, 1, dec("300"))]
    );
}
