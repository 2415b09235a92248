//! Analytics, second half: the cash aggregates (invoiced, collected, owed at a period's end,
//! settlements, invoices due), the quality counts, sales per rep and customer activity, on a
//! small ledger whose expected figures are worked out by hand in the comments.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::OrderId;
use domain::catalog::Customer;
use domain::event::OrderEventKind;
use domain::lifecycle::reassign;
use domain::ports::{
    AnalyticsFilter, AnalyticsRepository, CustomerActivity, CustomerRepository, DueInvoices,
    OpenReceivable, OrderRepository, QualityCounts, RepAmount, SettlementRecord,
    SettlementRepository, TrackingRecord,
};
use domain::receivables::AgingBucket;
use domain::tracking::{ChangeProposal, ExceptionKind, NewChangeRequest};
use domain::user::{Scope, User};
use persistence::Store;

use crate::analytics::{confirm_promising, day, march, raise, submit, track};
use crate::fixtures::{
    Desk, OtherTeam, actor, apply, change, currency, dec, draft, line, load, profile,
};
use crate::settlement::{issue, pay, plan_void, save};

backend_tests!(
    invoiced_and_collected_count_the_periods_valid_invoices_and_payments,
    what_was_owed_at_the_end_of_a_period_counts_payments_received_before_it,
    settlements_and_invoices_due_measure_promptness_and_collection,
    quality_counts_cover_the_periods_orders_and_everything_raised_on_them,
    sales_per_rep_and_customer_activity_group_the_periods_orders,
);

fn date(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap()
}

fn noon(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 12, 0, 0).unwrap()
}

fn month(month: u32) -> AnalyticsFilter {
    AnalyticsFilter {
        from: Utc.with_ymd_and_hms(2026, month, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, month + 1, 1, 0, 0, 0).unwrap(),
        ..march()
    }
}

struct Ledger {
    desk: Desk,
    other_rep: User,
    beta: Customer,
    gamma: Customer,
    /// P1..P6 as described in `build`.
    orders: [OrderId; 6],
}

/// A CONFIRMED order of `quantity` widgets at 100.00 (NET_30 customers).
async fn confirmed(
    store: &Store,
    desk: &Desk,
    customer: &Customer,
    rep: &User,
    quantity: &str,
    created: DateTime<Utc>,
) -> OrderId {
    let lines = vec![line(1, &desk.widget, dec(quantity), dec("100"), dec("0"))];
    let id = store
        .create_order(draft(customer, lines, created), rep.id, None)
        .await
        .unwrap()
        .order
        .id;
    let later = created + chrono::Duration::hours(1);
    apply(store, id, submit(), rep, later).await;
    apply(store, id, confirm_promising(later, None), rep, later).await;
    id
}

/// The ledger (R1 the desk rep, R2 another team's rep; NET_30, so due 30 days after issue):
/// - P1 Acme (R1) 1000.00 EUR, created 01-31: I1 issued 02-10, due 03-12; 400.00 received
///   03-05, 600.00 on 04-02 (fully paid 04-02);
/// - P2 Acme (R1) 500.00 EUR, created 01-31: I2 issued 02-20, due 03-22; paid 03-20;
/// - P3 Acme (R1) 300.00 EUR, created 03-12: I3 issued 03-15, due 04-14; unpaid;
/// - P4 Beta (R2) 200.00 EUR, created 01-01: I4 issued 01-05, due 02-04; paid 03-10;
/// - P5 Acme (R1) 100.00 EUR, created 03-17: I5 issued 03-20, voided;
/// - P6 Gamma (R1) 700.00 USD, created 01-01: I6 issued 01-01, due 01-31; unpaid.
async fn build(store: &Store) -> Ledger {
    let desk = Desk::set_up(store).await;
    let OtherTeam {
        rep: other_rep,
        customer: beta,
        ..
    } = OtherTeam::set_up(store).await;
    let gamma = store
        .create_customer(
            profile("Gamma Inc", desk.rep.id, currency("USD"), dec("50000")),
            noon(1, 1),
        )
        .await
        .unwrap();
    let (acme, r1, r2) = (&desk.customer, &desk.rep, &other_rep);
    let jan31 = Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap();
    let p1 = confirmed(store, &desk, acme, r1, "10", jan31).await;
    let p2 = confirmed(store, &desk, acme, r1, "5", jan31).await;
    let p3 = confirmed(store, &desk, acme, r1, "3", noon(3, 12)).await;
    let p4 = confirmed(store, &desk, &beta, r2, "2", noon(1, 1)).await;
    let p5 = confirmed(store, &desk, acme, r1, "1", noon(3, 17)).await;
    let p6 = confirmed(store, &desk, &gamma, r1, "7", noon(1, 1)).await;

    let i1 = issue(store, p1, None, date(2, 10), r1, noon(2, 10)).await;
    let i2 = issue(store, p2, None, date(2, 20), r1, noon(2, 20)).await;
    issue(store, p3, None, date(3, 15), r1, noon(3, 15)).await;
    let i4 = issue(store, p4, None, date(1, 5), r2, noon(1, 5)).await;
    let i5 = issue(store, p5, None, date(3, 20), r1, noon(3, 20)).await;
    issue(store, p6, None, date(1, 1), r1, noon(1, 1)).await;
    assert_eq!(
        (i1.details.due_on, i4.details.due_on),
        (date(3, 12), date(2, 4)),
        "NET_30"
    );
    pay(store, i1.id, dec("400"), noon(3, 5), r1, noon(3, 5)).await;
    pay(store, i1.id, dec("600"), noon(4, 2), r1, noon(4, 2)).await;
    pay(store, i2.id, dec("500"), noon(3, 20), r1, noon(3, 20)).await;
    pay(store, i4.id, dec("200"), noon(3, 10), r2, noon(3, 10)).await;
    let void = plan_void(store, i5.id, "duplicate", r1, noon(3, 21)).await;
    save(store, &void).await;
    Ledger {
        desk,
        other_rep,
        beta,
        gamma,
        orders: [p1, p2, p3, p4, p5, p6],
    }
}

fn amount(rep: &User, code: &str, count: u64, value: &str) -> RepAmount {
    RepAmount {
        sales_rep_id: rep.id,
        currency: currency(code),
        count,
        amount: dec(value),
    }
}

async fn invoiced_and_collected_count_the_periods_valid_invoices_and_payments(store: Store) {
    let l = build(&store).await;
    let (r1, r2) = (&l.desk.rep, &l.other_rep);
    // Issued in March: I3 300 and I5, which is void.
    assert_eq!(
        store.invoiced(Scope::All, &march()).await.unwrap(),
        vec![amount(r1, "EUR", 1, "300")]
    );
    // January: I4 (R2) and I6 (USD).
    assert_eq!(
        store.invoiced(Scope::All, &month(1)).await.unwrap(),
        vec![amount(r1, "USD", 1, "700"), amount(r2, "EUR", 1, "200")]
    );
    // Received in March: 400 on I1 and 500 on I2 (R1), 200 on I4 (R2). The 600 of 04-02 is
    // April's.
    assert_eq!(
        store.collected(Scope::All, &march()).await.unwrap(),
        vec![amount(r1, "EUR", 2, "900"), amount(r2, "EUR", 1, "200")]
    );
    assert_eq!(
        store.collected(Scope::All, &month(4)).await.unwrap(),
        vec![amount(r1, "EUR", 1, "600")]
    );
    // Scope and filters narrow on the invoice's own rep and customer.
    assert_eq!(
        store.collected(Scope::Rep(r2.id), &march()).await.unwrap(),
        vec![amount(r2, "EUR", 1, "200")]
    );
    assert_eq!(
        store
            .collected(Scope::Team(l.desk.manager.id), &march())
            .await
            .unwrap(),
        vec![amount(r1, "EUR", 2, "900")]
    );
    let beta = AnalyticsFilter {
        customer_id: Some(l.beta.id),
        ..march()
    };
    assert_eq!(
        store.collected(Scope::All, &beta).await.unwrap(),
        vec![amount(r2, "EUR", 1, "200")]
    );
    let usd = AnalyticsFilter {
        currency: Some(currency("USD")),
        ..month(1)
    };
    assert_eq!(
        store.invoiced(Scope::All, &usd).await.unwrap(),
        vec![amount(r1, "USD", 1, "700")]
    );
    assert!(
        store
            .invoiced(Scope::Nothing, &month(1))
            .await
            .unwrap()
            .is_empty()
    );

    // A reassigned order's invoices and payments move to the new rep together: P1's 400 is
    // R2's now.
    let p1 = l.orders[0];
    let before = load(&store, p1).await;
    let decision = reassign(
        &before,
        r2.id,
        Some("territory"),
        &actor(&l.desk.admin),
        noon(4, 5),
    )
    .unwrap();
    store
        .save_order(change(
            &decision,
            before.version,
            l.desk.admin.id,
            noon(4, 5),
        ))
        .await
        .unwrap();
    assert_eq!(load(&store, p1).await.sales_rep_id, r2.id, "the order row");
    assert_eq!(
        store.collected(Scope::All, &march()).await.unwrap(),
        vec![amount(r1, "EUR", 1, "500"), amount(r2, "EUR", 2, "600")]
    );
    assert_eq!(
        store.invoiced(Scope::All, &month(2)).await.unwrap(),
        vec![amount(r1, "EUR", 1, "500"), amount(r2, "EUR", 1, "1000")]
    );

    // Payments carry their invoice's rep, customer and currency; migration 000009 copied them
    // onto the payments stored before it: the same figures from its backfill.
    store.revert_migrations(1).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(
        store.collected(Scope::All, &march()).await.unwrap(),
        vec![amount(r1, "EUR", 1, "500"), amount(r2, "EUR", 2, "600")]
    );
    assert_eq!(
        store.collected(Scope::All, &beta).await.unwrap(),
        vec![amount(r2, "EUR", 1, "200")]
    );
}

fn owed(rep: &User, code: &str, bucket: AgingBucket, invoices: u64, value: &str) -> OpenReceivable {
    OpenReceivable {
        sales_rep_id: rep.id,
        currency: currency(code),
        bucket,
        invoices,
        outstanding: dec(value),
    }
}

async fn what_was_owed_at_the_end_of_a_period_counts_payments_received_before_it(store: Store) {
    use AgingBucket::{Current, Days1To30, Days31To60, Days61To90};
    let l = build(&store).await;
    let (r1, r2) = (&l.desk.rep, &l.other_rep);
    // End of March, aged to 03-31: I3 300 due 04-14 (current); I1 1000 - 400 (the 600 came in
    // April) due 03-12 (19 days); I6 700 USD due 01-31 (59 days). I2 and I4 were paid in
    // March; I5 is void.
    assert_eq!(
        store.open_receivables(Scope::All, &march()).await.unwrap(),
        vec![
            owed(r1, "EUR", Current, 1, "300"),
            owed(r1, "EUR", Days1To30, 1, "600"),
            owed(r1, "USD", Days31To60, 1, "700"),
        ]
    );
    // End of February, aged to 02-28: nothing paid yet; I3 and I5 not issued yet. I1 (due
    // 03-12) and I2 (03-22) not due; I6 28 days and I4 (due 02-04) 24 days past due.
    assert_eq!(
        store.open_receivables(Scope::All, &month(2)).await.unwrap(),
        vec![
            owed(r1, "EUR", Current, 2, "1500"),
            owed(r1, "USD", Days1To30, 1, "700"),
            owed(r2, "EUR", Days1To30, 1, "200"),
        ]
    );
    // End of April, aged to 04-30: only I3 (16 days) and I6 (89 days) are left.
    assert_eq!(
        store.open_receivables(Scope::All, &month(4)).await.unwrap(),
        vec![
            owed(r1, "EUR", Days1To30, 1, "300"),
            owed(r1, "USD", Days61To90, 1, "700"),
        ]
    );
    // A part payment after the period's end still counts as owed at its end: 250 on I3 in
    // April leaves March's figure alone and April's at 50.
    let i3 = store
        .invoices_of_order(l.orders[2])
        .await
        .unwrap()
        .remove(0);
    pay(&store, i3.id, dec("250"), noon(4, 20), r1, noon(4, 20)).await;
    assert_eq!(
        store.open_receivables(Scope::All, &march()).await.unwrap()[0],
        owed(r1, "EUR", Current, 1, "300")
    );
    assert_eq!(
        store.open_receivables(Scope::All, &month(4)).await.unwrap()[0],
        owed(r1, "EUR", Days1To30, 1, "50")
    );
    let gamma = AnalyticsFilter {
        customer_id: Some(l.gamma.id),
        ..march()
    };
    assert_eq!(
        store.open_receivables(Scope::All, &gamma).await.unwrap(),
        vec![owed(r1, "USD", Days31To60, 1, "700")]
    );
    assert!(
        store
            .open_receivables(Scope::Rep(r2.id), &march())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn settlements_and_invoices_due_measure_promptness_and_collection(store: Store) {
    let l = build(&store).await;
    let (r1, r2) = (&l.desk.rep, &l.other_rep);
    let settled = |rep: &User, customer: &Customer, on_time, days_late| SettlementRecord {
        sales_rep_id: rep.id,
        customer_id: customer.id,
        invoices: 1,
        on_time,
        days_late,
    };
    // Fully paid in March: I2 on 03-20, due 03-22 (on time); I4 on 03-10, due 02-04 (34 days
    // late: 28 to 03-04, 6 more).
    assert_eq!(
        store.settlements(Scope::All, &march()).await.unwrap(),
        vec![
            settled(r1, &l.desk.customer, 1, 0),
            settled(r2, &l.beta, 0, 34)
        ]
    );
    // April: I1 on 04-02, due 03-12: 21 days late.
    assert_eq!(
        store.settlements(Scope::All, &month(4)).await.unwrap(),
        vec![settled(r1, &l.desk.customer, 0, 21)]
    );
    assert_eq!(
        store
            .settlements(Scope::Team(l.desk.manager.id), &march())
            .await
            .unwrap(),
        vec![settled(r1, &l.desk.customer, 1, 0)]
    );
    // Due in March: I1 (paid in April) and I2 (paid 03-20).
    assert_eq!(
        store.due_invoices(Scope::All, &march()).await.unwrap(),
        vec![DueInvoices {
            sales_rep_id: r1.id,
            due: 2,
            collected: 1
        }]
    );
    // Due in February: I4 (R2), paid in March: not collected by February's end.
    assert_eq!(
        store.due_invoices(Scope::All, &month(2)).await.unwrap(),
        vec![DueInvoices {
            sales_rep_id: r2.id,
            due: 1,
            collected: 0
        }]
    );
    // Due in April: I3, unpaid; I5's due date is April too, but it is void.
    assert_eq!(
        store.due_invoices(Scope::All, &month(4)).await.unwrap(),
        vec![DueInvoices {
            sales_rep_id: r1.id,
            due: 1,
            collected: 0
        }]
    );
}

/// Stores a change request on the order as it stands (the decision itself is tracking's).
async fn request_change(store: &Store, order_id: OrderId, by: &User, at: DateTime<Utc>) {
    let order = load(store, order_id).await;
    let new = NewChangeRequest {
        order_id,
        proposal: ChangeProposal {
            lines: Vec::new(),
            promised_date: None,
            delivery_address: Some("2 Quay Street".to_owned()),
        },
        reason: "new site".to_owned(),
        base_revision: order.revision,
        amount_delta: rust_decimal::Decimal::ZERO,
        delay_days: 0,
        review_required: false,
        requested_by: by.id,
        requested_at: at,
    };
    let event = OrderEventKind::ChangeRequested {
        change_request_id: 0,
        reason: new.reason.clone(),
        amount_delta: new.amount_delta,
        delay_days: 0,
        review_required: false,
    };
    let records = vec![TrackingRecord::NewChangeRequest(new)];
    track(store, &order, order.clone(), records, vec![event], by, at).await;
}

async fn quality_counts_cover_the_periods_orders_and_everything_raised_on_them(store: Store) {
    let l = build(&store).await;
    let r1 = &l.desk.rep;
    let [p1, _, p3, _, p5, _] = l.orders;
    // P3 and P5 are March's orders. P3: two change requests and an exception; P5: an exception
    // raised in April (it still counts: the rate is about the period's orders). P1's exception
    // belongs to January's order.
    request_change(&store, p3, r1, noon(3, 20)).await;
    request_change(&store, p3, r1, noon(3, 21)).await;
    raise(&store, p3, ExceptionKind::Delay, "0", 2, r1, noon(3, 22)).await;
    raise(&store, p5, ExceptionKind::Quality, "10", 0, r1, noon(4, 3)).await;
    raise(&store, p1, ExceptionKind::Quality, "10", 0, r1, noon(3, 5)).await;
    let counts = QualityCounts {
        sales_rep_id: r1.id,
        orders: 2,
        orders_with_change_requests: 1,
        change_requests: 2,
        orders_with_exceptions: 2,
        exceptions: 2,
    };
    assert_eq!(
        store.quality_counts(Scope::All, &march()).await.unwrap(),
        vec![counts]
    );
    // January's orders: P1 (created 01-31), P2, P4, P6: one with an exception, none changed.
    let january = store.quality_counts(Scope::All, &month(1)).await.unwrap();
    let total = |f: fn(&QualityCounts) -> u64| january.iter().map(f).sum::<u64>();
    assert_eq!(total(|c| c.orders), 4);
    assert_eq!(total(|c| c.orders_with_exceptions), 1);
    assert_eq!(total(|c| c.change_requests), 0);
    assert_eq!(january.len(), 2, "one row per rep");
    assert!(
        store
            .quality_counts(Scope::Rep(l.other_rep.id), &march())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn sales_per_rep_and_customer_activity_group_the_periods_orders(store: Store) {
    let l = build(&store).await;
    let (r1, r2) = (&l.desk.rep, &l.other_rep);
    // Created in March: P3 300 and P5 100 (R1).
    assert_eq!(
        store.sales_by_rep(Scope::All, &march()).await.unwrap(),
        vec![amount(r1, "EUR", 2, "400")]
    );
    // January: P1 1000, P2 500, P6 700 USD (R1); P4 200 (R2).
    assert_eq!(
        store.sales_by_rep(Scope::All, &month(1)).await.unwrap(),
        vec![
            amount(r1, "EUR", 2, "1500"),
            amount(r1, "USD", 1, "700"),
            amount(r2, "EUR", 1, "200"),
        ]
    );
    let activity = |customer: &Customer, code, orders, value, first, last| CustomerActivity {
        customer_id: customer.id,
        currency: currency(code),
        orders,
        value: dec(value),
        first_order_at: first,
        last_order_at: last,
    };
    let jan31 = Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap();
    let first_quarter = AnalyticsFilter {
        from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ..march()
    };
    // Acme: P1, P2, P3, P5 = 1900 from 01-31 to 03-17; Beta: P4; Gamma: P6 (USD).
    let mut expected = vec![
        activity(&l.desk.customer, "EUR", 4, "1900", jan31, noon(3, 17)),
        activity(&l.beta, "EUR", 1, "200", noon(1, 1), noon(1, 1)),
        activity(&l.gamma, "USD", 1, "700", noon(1, 1), noon(1, 1)),
    ];
    expected.sort_by_key(|a| a.customer_id);
    assert_eq!(
        store
            .customer_activity(Scope::All, &first_quarter)
            .await
            .unwrap(),
        expected
    );
    assert_eq!(
        store
            .customer_activity(Scope::Rep(r1.id), &march())
            .await
            .unwrap(),
        vec![activity(
            &l.desk.customer,
            "EUR",
            2,
            "400",
            noon(3, 12),
            noon(3, 17)
        )]
    );
    assert_eq!(
        day(0, 0),
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    );
}
