//! Invoices and payments (`SettlementRepository`): a settlement change lands whole or not at all,
//! with the ids storage assigns filled into its events; a claimed payment is stored once and
//! replayed after; open invoices honour scope, filters and keyset pages; settled invoices are a
//! customer's fully paid ones.

use chrono::{DateTime, NaiveDate, Utc};
use domain::catalog::Customer;
use domain::event::OrderEventKind;
use domain::lifecycle::{PaymentStatus, complete_if_settled};
use domain::order::Order;
use domain::ports::{
    EventLog, IdempotencyClaim, OrderRepository, PageRequest, ReceivableFilter, RepoError,
    SettlementChange, SettlementRepository, SettlementSaved,
};
use domain::settlement::{
    Invoice, InvoiceKind, NewInvoice, NewPayment, Payment, PaymentMethod, payment_status,
    plan_invoice,
};
use domain::user::{Role, Scope, User};
use domain::{OrderId, UserId};
use persistence::Store;
use rust_decimal::Decimal;

use crate::fixtures::{
    Desk, apply, at, dec, draft, happy_path, line, load, new_customer, new_user,
};

backend_tests!(
    a_settlement_change_is_stored_with_its_events_and_the_ids_storage_assigns,
    a_stale_version_is_a_conflict_and_nothing_of_the_change_is_written,
    a_claimed_payment_is_replayed_and_a_reused_key_is_refused,
    concurrent_payments_with_one_claim_store_one_payment,
    open_invoices_apply_scope_and_filters_and_page_newest_first,
    all_open_invoices_are_oldest_due_first_within_the_scope_and_the_limit,
    settled_invoices_are_the_customers_fully_paid_ones_newest_first,
);

fn day(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap()
}

/// A settlement change decided on an order, as the service decides it, not yet stored.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    order: Order,
    expected_version: i64,
    new_invoice: Option<NewInvoice>,
    invoice_update: Option<Invoice>,
    payment: Option<NewPayment>,
    events: Vec<OrderEventKind>,
    actor_id: UserId,
    at: DateTime<Utc>,
}

impl Planned {
    /// `order` after a change that leaves it with `invoices`: payment status from them, closed
    /// when delivered and paid, one version up; `first` goes before the events that follow.
    fn settle(
        order: &Order,
        invoices: &[Invoice],
        first: OrderEventKind,
        actor_id: UserId,
        at: DateTime<Utc>,
    ) -> Self {
        let mut next = order.clone();
        let mut events = vec![first];
        next.payment_status = payment_status(order.total(), invoices);
        if next.payment_status != order.payment_status {
            events.push(OrderEventKind::PaymentStatusChanged {
                from: order.payment_status,
                to: next.payment_status,
            });
        }
        complete_if_settled(&mut next, &mut events);
        next.version = order.version + 1;
        next.updated_at = at;
        Planned {
            order: next,
            expected_version: order.version,
            new_invoice: None,
            invoice_update: None,
            payment: None,
            events,
            actor_id,
            at,
        }
    }

    fn change(&self, claim: Option<IdempotencyClaim>) -> SettlementChange<'_> {
        SettlementChange {
            order: &self.order,
            expected_version: self.expected_version,
            new_invoice: self.new_invoice.clone(),
            invoice_update: self.invoice_update.clone(),
            payment: self.payment.clone(),
            claim,
            events: self.events.clone(),
            actor_id: self.actor_id,
            at: self.at,
        }
    }
}

/// An invoice for `lines` (everything left when `None`) of the order as stored now.
async fn plan_issue(
    store: &Store,
    order_id: OrderId,
    lines: Option<&[(u32, Decimal)]>,
    issued_on: NaiveDate,
    by: &User,
    at: DateTime<Utc>,
) -> Planned {
    let order = load(store, order_id).await;
    let invoices = store.invoices_of_order(order_id).await.unwrap();
    let new = plan_invoice(&order, &invoices, lines, issued_on).unwrap();
    let mut with_new = invoices;
    with_new.push(Invoice {
        id: 0,
        number: String::new(),
        details: new.clone(),
        paid: Decimal::ZERO,
        fully_paid_on: None,
        void_reason: None,
        created_at: at,
    });
    let issued = OrderEventKind::InvoiceIssued {
        invoice_id: 0,
        number: String::new(),
        kind: new.kind,
        amount: new.amount,
        currency: new.currency,
        due_on: new.due_on,
    };
    let mut planned = Planned::settle(&order, &with_new, issued, by.id, at);
    planned.new_invoice = Some(new);
    planned
}

/// A payment of `amount` against the invoice, on the order as stored now.
async fn plan_payment(
    store: &Store,
    invoice_id: i64,
    amount: Decimal,
    received_at: DateTime<Utc>,
    by: &User,
    at: DateTime<Utc>,
) -> Planned {
    let invoice = store
        .invoices_by_ids(&[invoice_id])
        .await
        .unwrap()
        .remove(0);
    let order = load(store, invoice.details.order_id).await;
    let mut invoices = store.invoices_of_order(order.id).await.unwrap();
    let payment = NewPayment {
        invoice_id,
        amount,
        method: PaymentMethod::BankTransfer,
        reference: Some(format!("TX {amount}")),
        received_at,
        recorded_by: by.id,
    };
    let mut paid = invoices
        .iter()
        .find(|i| i.id == invoice_id)
        .unwrap()
        .clone();
    paid.paid += amount;
    if paid.outstanding().is_zero() {
        paid.fully_paid_on = Some(received_at.date_naive());
    }
    for i in &mut invoices {
        if i.id == invoice_id {
            *i = paid.clone();
        }
    }
    let recorded = OrderEventKind::PaymentRecorded {
        invoice_id,
        invoice_number: paid.number.clone(),
        payment_id: 0,
        amount,
        method: payment.method,
        reference: payment.reference.clone(),
        received_at,
        invoice_outstanding: paid.outstanding(),
    };
    let mut planned = Planned::settle(&order, &invoices, recorded, by.id, at);
    planned.invoice_update = Some(paid);
    planned.payment = Some(payment);
    planned
}

/// A void of the invoice, on the order as stored now.
pub(crate) async fn plan_void(
    store: &Store,
    invoice_id: i64,
    reason: &str,
    by: &User,
    at: DateTime<Utc>,
) -> Planned {
    let invoice = store
        .invoices_by_ids(&[invoice_id])
        .await
        .unwrap()
        .remove(0);
    let order = load(store, invoice.details.order_id).await;
    let mut invoices = store.invoices_of_order(order.id).await.unwrap();
    let mut voided = invoice.clone();
    voided.void_reason = Some(reason.to_owned());
    for i in &mut invoices {
        if i.id == invoice_id {
            *i = voided.clone();
        }
    }
    let event = OrderEventKind::InvoiceVoided {
        invoice_id,
        number: voided.number.clone(),
        reason: reason.to_owned(),
    };
    let mut planned = Planned::settle(&order, &invoices, event, by.id, at);
    planned.invoice_update = Some(voided);
    planned
}

pub(crate) async fn save(store: &Store, planned: &Planned) -> SettlementSaved {
    store.save_settlement(planned.change(None)).await.unwrap()
}

/// Issues and stores an invoice; returns it as stored.
pub(crate) async fn issue(
    store: &Store,
    order_id: OrderId,
    lines: Option<&[(u32, Decimal)]>,
    issued_on: NaiveDate,
    by: &User,
    at: DateTime<Utc>,
) -> Invoice {
    let planned = plan_issue(store, order_id, lines, issued_on, by, at).await;
    save(store, &planned).await.invoice.unwrap()
}

/// Records and stores a payment; returns it as stored.
pub(crate) async fn pay(
    store: &Store,
    invoice_id: i64,
    amount: Decimal,
    received_at: DateTime<Utc>,
    by: &User,
    at: DateTime<Utc>,
) -> Payment {
    let planned = plan_payment(store, invoice_id, amount, received_at, by, at).await;
    save(store, &planned).await.payment.unwrap()
}

async fn invoice(store: &Store, id: i64) -> Invoice {
    let mut found = store.invoices_by_ids(&[id]).await.unwrap();
    assert_eq!(found.len(), 1, "invoice {id} should exist once");
    found.pop().unwrap()
}

/// A CONFIRMED order of `customer` (submitted and confirmed by `by`): 3 widgets at 19.99 and
/// 2.5 gadgets at 1250.50 less 7.5%, NET_30.
async fn confirmed(
    store: &Store,
    desk: &Desk,
    customer: &Customer,
    by: &User,
    seconds: i64,
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
    for command in happy_path(at(seconds)).into_iter().take(2) {
        apply(store, created.order.id, command, by, at(seconds + 1)).await;
    }
    let order = load(store, created.order.id).await;
    assert_eq!(order.status, domain::lifecycle::OrderStatus::Confirmed);
    order
}

async fn a_settlement_change_is_stored_with_its_events_and_the_ids_storage_assigns(store: Store) {
    let desk = Desk::set_up(&store).await;
    let order = confirmed(&store, &desk, &desk.customer, &desk.admin, 0).await;
    assert!(store.invoices_of_order(order.id).await.unwrap().is_empty());
    let last_seq = store.last_seq().await.unwrap();

    // One widget of three.
    let planned = plan_issue(
        &store,
        order.id,
        Some(&[(1, dec("1"))]),
        day(3, 2),
        &desk.rep,
        at(100),
    )
    .await;
    let saved = save(&store, &planned).await;
    assert!(!saved.replayed);
    assert_eq!(saved.payment, None);
    let first = saved.invoice.clone().expect("the new invoice");
    assert_eq!(first.number, "INV-000001");
    assert_eq!(Some(&first.details), planned.new_invoice.as_ref());
    assert_eq!(first.details.amount, dec("19.99"));
    assert_eq!(first.details.due_on, day(4, 1));
    assert_eq!(
        (first.paid, first.fully_paid_on, &first.void_reason),
        (Decimal::ZERO, None, &None)
    );
    assert_eq!(first.created_at, at(100));

    // The events carry the id and number storage gave the invoice.
    let kinds: Vec<&OrderEventKind> = saved.events.iter().map(|e| &e.kind).collect();
    assert_eq!(
        kinds,
        [
            &OrderEventKind::InvoiceIssued {
                invoice_id: first.id,
                number: first.number.clone(),
                kind: InvoiceKind::Standard,
                amount: dec("19.99"),
                currency: first.details.currency,
                due_on: day(4, 1),
            },
            &OrderEventKind::PaymentStatusChanged {
                from: PaymentStatus::Uninvoiced,
                to: PaymentStatus::Invoiced,
            },
        ]
    );
    assert!(
        saved
            .events
            .iter()
            .all(|e| e.order_version == order.version + 1
                && e.actor_id == desk.rep.id
                && e.at == at(100)
                && e.order_id == order.id)
    );
    assert_eq!(
        store.events_after(last_seq, 100).await.unwrap(),
        saved.events
    );

    // The order row moved with it, and the invoice reads back as returned.
    let stored = load(&store, order.id).await;
    assert_eq!(stored, planned.order);
    assert_eq!(stored.payment_status, PaymentStatus::Invoiced);
    assert_eq!(stored.version, order.version + 1);
    assert_eq!(
        store.invoices_of_order(order.id).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert_eq!(
        store.invoices_by_ids(&[first.id, 987_654]).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert!(store.invoices_by_ids(&[]).await.unwrap().is_empty());

    // The rest of the order: the next number, listed after the first.
    let rest = issue(&store, order.id, None, day(3, 3), &desk.rep, at(110)).await;
    assert_eq!(rest.number, "INV-000002");
    assert_eq!(
        first.details.amount + rest.details.amount,
        stored.total(),
        "the invoices add up to the order total"
    );
    assert_eq!(
        store.invoices_of_order(order.id).await.unwrap(),
        [first.clone(), rest.clone()]
    );

    // A payment: stored with the invoice's new state and its events, its id in PAYMENT_RECORDED.
    let last_seq = store.last_seq().await.unwrap();
    let planned = plan_payment(
        &store,
        first.id,
        dec("19.99"),
        at(150),
        &desk.manager,
        at(200),
    )
    .await;
    let saved = save(&store, &planned).await;
    assert!(!saved.replayed);
    assert_eq!(saved.invoice, None);
    let payment = saved.payment.clone().expect("the new payment");
    assert_eq!(Some(&payment.details), planned.payment.as_ref());
    assert_eq!(payment.created_at, at(200));
    match &saved.events[0].kind {
        OrderEventKind::PaymentRecorded {
            payment_id,
            invoice_id,
            invoice_outstanding,
            ..
        } => {
            assert_eq!(*payment_id, payment.id);
            assert_eq!(*invoice_id, first.id);
            assert_eq!(*invoice_outstanding, Decimal::ZERO);
        }
        other => panic!("expected PAYMENT_RECORDED first, got {other:?}"),
    }
    assert_eq!(
        saved.events[1].kind,
        OrderEventKind::PaymentStatusChanged {
            from: PaymentStatus::Invoiced,
            to: PaymentStatus::PartiallyPaid,
        }
    );
    assert_eq!(
        store.events_after(last_seq, 100).await.unwrap(),
        saved.events
    );
    assert_eq!(
        store.payments_of_invoice(first.id).await.unwrap(),
        std::slice::from_ref(&payment)
    );
    let paid = invoice(&store, first.id).await;
    assert_eq!(paid.paid, dec("19.99"));
    assert_eq!(paid.fully_paid_on, Some(at(150).date_naive()));
    assert_eq!(paid.outstanding(), Decimal::ZERO);
    assert_eq!(load(&store, order.id).await, planned.order);

    // Two payments on the rest: oldest first.
    let a = pay(&store, rest.id, dec("100"), at(300), &desk.rep, at(300)).await;
    let b = pay(&store, rest.id, dec("0.01"), at(301), &desk.rep, at(301)).await;
    assert_eq!(
        store.payments_of_invoice(rest.id).await.unwrap(),
        [a.clone(), b.clone()]
    );
    assert_eq!(invoice(&store, rest.id).await.paid, dec("100.01"));
    assert!(store.payments_of_invoice(987_654).await.unwrap().is_empty());
    // Several invoices in one query, oldest first; unknown ids add nothing.
    assert_eq!(
        store
            .payments_of_invoices(&[rest.id, first.id, 987_654])
            .await
            .unwrap(),
        [payment.clone(), a, b]
    );
    assert!(store.payments_of_invoices(&[]).await.unwrap().is_empty());

    // A void: the reason is stored, the invoice stops counting.
    let third = confirmed(&store, &desk, &desk.customer, &desk.admin, 400).await;
    let to_void = issue(&store, third.id, None, day(3, 4), &desk.rep, at(410)).await;
    let planned = plan_void(&store, to_void.id, "wrong address", &desk.rep, at(420)).await;
    let saved = save(&store, &planned).await;
    assert_eq!(
        saved.events.iter().map(|e| &e.kind).collect::<Vec<_>>(),
        [
            &OrderEventKind::InvoiceVoided {
                invoice_id: to_void.id,
                number: to_void.number.clone(),
                reason: "wrong address".to_owned(),
            },
            &OrderEventKind::PaymentStatusChanged {
                from: PaymentStatus::Invoiced,
                to: PaymentStatus::Uninvoiced,
            },
        ]
    );
    let voided = invoice(&store, to_void.id).await;
    assert_eq!(voided.void_reason.as_deref(), Some("wrong address"));
    assert!(!voided.is_valid());
    assert_eq!(
        load(&store, third.id).await.payment_status,
        PaymentStatus::Uninvoiced
    );
}

async fn a_stale_version_is_a_conflict_and_nothing_of_the_change_is_written(store: Store) {
    let desk = Desk::set_up(&store).await;
    let order = confirmed(&store, &desk, &desk.customer, &desk.admin, 0).await;
    let first = issue(
        &store,
        order.id,
        Some(&[(1, dec("1"))]),
        day(3, 2),
        &desk.rep,
        at(10),
    )
    .await;
    let claim = |key: &str| IdempotencyClaim {
        user_id: desk.rep.id,
        key: key.to_owned(),
        fingerprint: format!("fp-{key}"),
    };

    // Two payments and an invoice decided on the same version; the first payment is stored.
    let winner = plan_payment(&store, first.id, dec("5"), at(20), &desk.rep, at(20)).await;
    let late_payment = plan_payment(&store, first.id, dec("7"), at(21), &desk.rep, at(21)).await;
    let late_invoice = plan_issue(
        &store,
        order.id,
        Some(&[(2, dec("1"))]),
        day(3, 3),
        &desk.rep,
        at(22),
    )
    .await;
    let late_void = plan_void(&store, first.id, "too late", &desk.rep, at(23)).await;
    let won = save(&store, &winner).await.payment.unwrap();
    let version = winner.order.version;
    let last_seq = store.last_seq().await.unwrap();
    let state = (
        load(&store, order.id).await,
        store.invoices_of_order(order.id).await.unwrap(),
        store.payments_of_invoice(first.id).await.unwrap(),
    );
    assert_eq!(state.2, [won]);

    for (what, planned, key) in [
        ("payment", &late_payment, Some(claim("late-pay"))),
        ("invoice", &late_invoice, None),
        ("void", &late_void, None),
    ] {
        let err = store
            .save_settlement(planned.change(key.clone()))
            .await
            .unwrap_err();
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
                store.invoices_of_order(order.id).await.unwrap(),
                store.payments_of_invoice(first.id).await.unwrap(),
            ),
            state,
            "{what}: no order change, invoice, invoice update or payment"
        );
        if let Some(key) = key {
            assert_eq!(
                store.replayed_payment(&key).await.unwrap(),
                None,
                "{what}: the key stays unused"
            );
        }
    }

    // The refused invoice took no number: the next one follows on.
    let next = issue(&store, order.id, None, day(3, 4), &desk.rep, at(30)).await;
    assert_eq!(next.number, "INV-000002");
    // And the refused payment's key is free for the real retry.
    let planned = plan_payment(&store, first.id, dec("7"), at(40), &desk.rep, at(40)).await;
    let saved = store
        .save_settlement(planned.change(Some(claim("late-pay"))))
        .await
        .unwrap();
    assert!(!saved.replayed);
    assert_eq!(invoice(&store, first.id).await.paid, dec("12"));
}

async fn a_claimed_payment_is_replayed_and_a_reused_key_is_refused(store: Store) {
    let desk = Desk::set_up(&store).await;
    let order = confirmed(&store, &desk, &desk.customer, &desk.admin, 0).await;
    let bill = issue(&store, order.id, None, day(3, 2), &desk.rep, at(10)).await;
    let claim = IdempotencyClaim {
        user_id: desk.rep.id,
        key: "pay-7".to_owned(),
        fingerprint: "fp-a".to_owned(),
    };
    assert_eq!(store.replayed_payment(&claim).await.unwrap(), None);

    let planned = plan_payment(&store, bill.id, dec("50"), at(20), &desk.rep, at(20)).await;
    let first = store
        .save_settlement(planned.change(Some(claim.clone())))
        .await
        .unwrap();
    assert!(!first.replayed);
    let payment = first.payment.clone().unwrap();
    assert_eq!(
        store.replayed_payment(&claim).await.unwrap(),
        Some(payment.clone())
    );
    let last_seq = store.last_seq().await.unwrap();
    let order_now = load(&store, order.id).await;

    // Retries with the same fingerprint, decided on the new version or on the old one (a client
    // that never saw the answer), get the first payment back and write nothing.
    let fresh = plan_payment(&store, bill.id, dec("50"), at(30), &desk.rep, at(30)).await;
    for (what, retry) in [("fresh", &fresh), ("stale", &planned)] {
        let again = store
            .save_settlement(retry.change(Some(claim.clone())))
            .await
            .unwrap();
        assert!(again.replayed, "{what}");
        assert_eq!(again.payment.as_ref(), Some(&payment), "{what}");
        assert_eq!(again.invoice, None, "{what}");
        assert!(again.events.is_empty(), "{what}");
        assert_eq!(store.last_seq().await.unwrap(), last_seq, "{what}");
        assert_eq!(
            store.payments_of_invoice(bill.id).await.unwrap(),
            std::slice::from_ref(&payment)
        );
        assert_eq!(load(&store, order.id).await, order_now, "{what}");
        assert_eq!(invoice(&store, bill.id).await.paid, dec("50"), "{what}");
    }

    // The key with another request is refused, and nothing is written.
    let reused = IdempotencyClaim {
        fingerprint: "fp-b".to_owned(),
        ..claim.clone()
    };
    let mismatch = RepoError::IdempotencyMismatch("pay-7".to_owned());
    assert_eq!(
        store
            .save_settlement(fresh.change(Some(reused.clone())))
            .await
            .unwrap_err(),
        mismatch
    );
    assert_eq!(store.replayed_payment(&reused).await.unwrap_err(), mismatch);
    assert_eq!(store.last_seq().await.unwrap(), last_seq);
    assert_eq!(store.payments_of_invoice(bill.id).await.unwrap().len(), 1);

    // Keys are per user.
    let managers = IdempotencyClaim {
        user_id: desk.manager.id,
        ..claim.clone()
    };
    let saved = store
        .save_settlement(fresh.change(Some(managers)))
        .await
        .unwrap();
    assert!(!saved.replayed);
    assert_ne!(saved.payment.unwrap().id, payment.id);
    assert_eq!(store.payments_of_invoice(bill.id).await.unwrap().len(), 2);

    // A key that created an order is not a payment's key.
    let order_key = IdempotencyClaim {
        user_id: desk.rep.id,
        key: "create-1".to_owned(),
        fingerprint: "fp-order".to_owned(),
    };
    store
        .create_order(desk.draft(at(40)), desk.rep.id, Some(order_key.clone()))
        .await
        .unwrap();
    assert_eq!(
        store.replayed_payment(&order_key).await.unwrap_err(),
        RepoError::IdempotencyMismatch("create-1".to_owned())
    );
    let planned = plan_payment(&store, bill.id, dec("1"), at(50), &desk.rep, at(50)).await;
    assert_eq!(
        store
            .save_settlement(planned.change(Some(order_key)))
            .await
            .unwrap_err(),
        RepoError::IdempotencyMismatch("create-1".to_owned())
    );
    assert_eq!(store.payments_of_invoice(bill.id).await.unwrap().len(), 2);
}

async fn concurrent_payments_with_one_claim_store_one_payment(store: Store) {
    let desk = Desk::set_up(&store).await;
    let order = confirmed(&store, &desk, &desk.customer, &desk.admin, 0).await;
    let bill = issue(&store, order.id, None, day(3, 2), &desk.rep, at(10)).await;
    let claim = IdempotencyClaim {
        user_id: desk.rep.id,
        key: "double-tap".to_owned(),
        fingerprint: "fp-tap".to_owned(),
    };
    let planned = plan_payment(&store, bill.id, dec("25"), at(20), &desk.rep, at(20)).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (store, planned, claim) = (store.clone(), planned.clone(), claim.clone());
            tokio::spawn(async move { store.save_settlement(planned.change(Some(claim))).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let stored = store.payments_of_invoice(bill.id).await.unwrap();
    assert_eq!(stored.len(), 1, "exactly one payment: {results:?}");
    let first = &stored[0];
    let mut written = 0;
    for result in &results {
        match result {
            Ok(saved) => {
                assert_eq!(saved.payment.as_ref(), Some(first), "{results:?}");
                if !saved.replayed {
                    written += 1;
                }
            }
            // Lost the race on the order's version before seeing the key: the caller decides
            // again (and then finds the key).
            Err(err) => assert!(
                matches!(err, RepoError::Conflict { .. }),
                "only a retryable conflict may refuse: {err:?}"
            ),
        }
    }
    assert_eq!(written, 1, "{results:?}");
    assert_eq!(
        store.replayed_payment(&claim).await.unwrap().as_ref(),
        Some(first)
    );
    assert_eq!(invoice(&store, bill.id).await.paid, dec("25"));
    let recorded = store
        .order_events(order.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.kind, OrderEventKind::PaymentRecorded { .. }))
        .count();
    assert_eq!(recorded, 1);
}

/// Invoices of three reps' customers in every state a list must tell apart.
struct Book {
    desk: Desk,
    rep2: User,
    rep3: User,
    c2: Customer,
    c3: Customer,
    /// c1 (rep, team of the manager): one widget, due 01-31, open.
    i1: Invoice,
    /// c1: one widget, due 03-03, partly paid.
    i2: Invoice,
    /// c2 (rep2, same team): the whole order, due 01-31 (as i1), open.
    i3: Invoice,
    /// c3 (rep3, another team): the whole order, due 02-14, open.
    i4: Invoice,
    /// c1: the last widget, voided.
    i5: Invoice,
    /// c1: the gadgets, paid in full 10 days late.
    i6: Invoice,
}

impl Book {
    async fn open(store: &Store) -> Self {
        let desk = Desk::set_up(store).await;
        let other_manager = new_user(store, "m2@desk.example", Role::Manager, None).await;
        let rep2 = new_user(
            store,
            "rep2@desk.example",
            Role::Sales,
            Some(desk.manager.id),
        )
        .await;
        let rep3 = new_user(
            store,
            "rep3@desk.example",
            Role::Sales,
            Some(other_manager.id),
        )
        .await;
        let c2 = new_customer(store, "Borealis", rep2.id).await;
        let c3 = new_customer(store, "Cobalt", rep3.id).await;
        let o1 = confirmed(store, &desk, &desk.customer, &desk.admin, 0).await;
        let o2 = confirmed(store, &desk, &c2, &desk.admin, 10).await;
        let o3 = confirmed(store, &desk, &c3, &desk.admin, 20).await;
        let one = [(1, dec("1"))];
        let i1 = issue(store, o1.id, Some(&one), day(1, 1), &desk.rep, at(100)).await;
        let i2 = issue(store, o1.id, Some(&one), day(2, 1), &desk.rep, at(101)).await;
        let i3 = issue(store, o2.id, None, day(1, 1), &rep2, at(102)).await;
        let i4 = issue(store, o3.id, None, day(1, 15), &rep3, at(103)).await;
        let i5 = issue(store, o1.id, Some(&one), day(2, 2), &desk.rep, at(104)).await;
        let i6 = issue(
            store,
            o1.id,
            Some(&[(2, dec("2.5"))]),
            day(1, 5),
            &desk.rep,
            at(105),
        )
        .await;
        assert_eq!(
            [
                i1.details.due_on,
                i2.details.due_on,
                i3.details.due_on,
                i4.details.due_on
            ],
            [day(1, 31), day(3, 3), day(1, 31), day(2, 14)]
        );
        pay(store, i2.id, dec("5"), at(200), &desk.rep, at(200)).await;
        let planned = plan_void(store, i5.id, "duplicate", &desk.rep, at(201)).await;
        save(store, &planned).await;
        let late = day(2, 14).and_hms_opt(9, 0, 0).unwrap().and_utc();
        pay(store, i6.id, i6.details.amount, late, &desk.rep, at(202)).await;
        let [i1, i2, i3, i4, i5, i6] = [i1.id, i2.id, i3.id, i4.id, i5.id, i6.id];
        let mut all = store
            .invoices_by_ids(&[i1, i2, i3, i4, i5, i6])
            .await
            .unwrap();
        all.sort_by_key(|i| i.id);
        let [i1, i2, i3, i4, i5, i6]: [Invoice; 6] = all.try_into().unwrap();
        assert_eq!(i2.paid, dec("5"));
        assert!(!i5.is_valid());
        assert_eq!(i6.fully_paid_on, Some(day(2, 14)));
        Book {
            desk,
            rep2,
            rep3,
            c2,
            c3,
            i1,
            i2,
            i3,
            i4,
            i5,
            i6,
        }
    }
}

/// Every page of `open_invoices`, following the keyset cursor; asserts `has_next` on the way.
async fn open_pages(
    store: &Store,
    scope: Scope,
    filter: &ReceivableFilter,
    first: u32,
) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .open_invoices(scope, filter, PageRequest { first, after })
            .await
            .unwrap();
        let ids: Vec<i64> = page.items.iter().map(|i| i.id).collect();
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

async fn open_ids(store: &Store, scope: Scope, filter: &ReceivableFilter) -> Vec<i64> {
    open_pages(store, scope, filter, 100).await.concat()
}

async fn open_invoices_apply_scope_and_filters_and_page_newest_first(store: Store) {
    let book = Book::open(&store).await;
    let (i1, i2, i3, i4) = (book.i1.id, book.i2.id, book.i3.id, book.i4.id);
    let none = ReceivableFilter::default();

    // Newest first; the void and the fully paid invoice are not open.
    let all = store
        .open_invoices(
            Scope::All,
            &none,
            PageRequest {
                first: 100,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        all.items,
        [
            book.i4.clone(),
            book.i3.clone(),
            book.i2.clone(),
            book.i1.clone()
        ]
    );
    assert!(!all.has_next);
    assert!(
        all.items
            .iter()
            .all(|i| i.id != book.i5.id && i.id != book.i6.id)
    );

    let desk = &book.desk;
    for (scope, expected) in [
        (Scope::All, vec![i4, i3, i2, i1]),
        (Scope::Team(desk.manager.id), vec![i3, i2, i1]),
        (Scope::Rep(desk.rep.id), vec![i2, i1]),
        (Scope::Rep(book.rep2.id), vec![i3]),
        (Scope::Rep(book.rep3.id), vec![i4]),
        (Scope::Rep(desk.admin.id), vec![]),
        (Scope::Customer(desk.customer.id), vec![i2, i1]),
        (Scope::Customer(book.c3.id), vec![i4]),
        (Scope::Nothing, vec![]),
    ] {
        assert_eq!(open_ids(&store, scope, &none).await, expected, "{scope:?}");
    }

    let by = |customer_id, sales_rep_id, overdue_as_of| ReceivableFilter {
        customer_id,
        sales_rep_id,
        overdue_as_of,
    };
    for (scope, filter, expected) in [
        (
            Scope::All,
            by(Some(desk.customer.id), None, None),
            vec![i2, i1],
        ),
        (Scope::All, by(Some(book.c2.id), None, None), vec![i3]),
        (Scope::All, by(None, Some(book.rep3.id), None), vec![i4]),
        (Scope::All, by(None, Some(desk.rep.id), None), vec![i2, i1]),
        (
            Scope::All,
            by(Some(desk.customer.id), Some(book.rep2.id), None),
            vec![],
        ),
        // A filter never widens the scope.
        (
            Scope::Rep(desk.rep.id),
            by(Some(book.c3.id), None, None),
            vec![],
        ),
        (
            Scope::Team(desk.manager.id),
            by(None, Some(book.rep3.id), None),
            vec![],
        ),
        // Overdue: due strictly before the day (due on the day may still be paid that day).
        (Scope::All, by(None, None, Some(day(1, 31))), vec![]),
        (Scope::All, by(None, None, Some(day(2, 1))), vec![i3, i1]),
        (Scope::All, by(None, None, Some(day(2, 14))), vec![i3, i1]),
        (
            Scope::All,
            by(None, None, Some(day(2, 15))),
            vec![i4, i3, i1],
        ),
        (
            Scope::All,
            by(None, None, Some(day(3, 4))),
            vec![i4, i3, i2, i1],
        ),
        (
            Scope::Team(desk.manager.id),
            by(None, None, Some(day(2, 15))),
            vec![i3, i1],
        ),
        (
            Scope::All,
            by(Some(desk.customer.id), None, Some(day(2, 15))),
            vec![i1],
        ),
    ] {
        assert_eq!(
            open_ids(&store, scope, &filter).await,
            expected,
            "{scope:?} {filter:?}"
        );
    }

    // Keyset pages visit every open invoice once, newest first.
    assert_eq!(
        open_pages(&store, Scope::All, &none, 1).await,
        [vec![i4], vec![i3], vec![i2], vec![i1]]
    );
    assert_eq!(
        open_pages(&store, Scope::All, &none, 3).await,
        [vec![i4, i3, i2], vec![i1]]
    );
    assert_eq!(
        open_pages(&store, Scope::All, &none, 4).await,
        [vec![i4, i3, i2, i1]],
        "a page that holds the rest has no next"
    );
    assert_eq!(
        open_pages(&store, Scope::Team(desk.manager.id), &none, 2).await,
        [vec![i3, i2], vec![i1]]
    );
    let page = store
        .open_invoices(
            Scope::All,
            &none,
            PageRequest {
                first: 0,
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(page.items.is_empty());

    // Paying the rest of an invoice closes it; nothing else changes.
    pay(
        &store,
        i2,
        book.i2.outstanding(),
        at(300),
        &desk.rep,
        at(300),
    )
    .await;
    assert_eq!(open_ids(&store, Scope::All, &none).await, [i4, i3, i1]);
}

async fn all_open_invoices_are_oldest_due_first_within_the_scope_and_the_limit(store: Store) {
    let book = Book::open(&store).await;
    let (i1, i2, i3, i4) = (book.i1.id, book.i2.id, book.i3.id, book.i4.id);
    let ids = |invoices: Vec<Invoice>| invoices.into_iter().map(|i| i.id).collect::<Vec<_>>();
    // Due 01-31 (i1, i3: by id), 02-14, 03-03.
    let all = store.all_open_invoices(Scope::All, 100).await.unwrap();
    assert_eq!(ids(all.clone()), [i1, i3, i4, i2]);
    assert_eq!(all[3], book.i2, "as stored, partly paid");
    assert_eq!(
        ids(store.all_open_invoices(Scope::All, 2).await.unwrap()),
        [i1, i3]
    );
    assert_eq!(
        ids(store
            .all_open_invoices(Scope::Team(book.desk.manager.id), 100)
            .await
            .unwrap()),
        [i1, i3, i2]
    );
    assert_eq!(
        ids(store
            .all_open_invoices(Scope::Rep(book.rep3.id), 100)
            .await
            .unwrap()),
        [i4]
    );
    assert_eq!(
        ids(store
            .all_open_invoices(Scope::Customer(book.c2.id), 100)
            .await
            .unwrap()),
        [i3]
    );
    assert!(
        store
            .all_open_invoices(Scope::Nothing, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .all_open_invoices(Scope::All, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn settled_invoices_are_the_customers_fully_paid_ones_newest_first(store: Store) {
    let book = Book::open(&store).await;
    let desk = &book.desk;
    // Only i6 is fully paid: i1 is open, i2 partly paid, i5 void, i3 and i4 someone else's.
    assert_eq!(
        store.settled_invoices(desk.customer.id).await.unwrap(),
        std::slice::from_ref(&book.i6)
    );
    assert!(store.settled_invoices(book.c2.id).await.unwrap().is_empty());

    // i1 paid in two parts, the last one before it is due: its date is the last payment's.
    pay(&store, book.i1.id, dec("10"), at(300), &desk.rep, at(300)).await;
    assert_eq!(
        store.settled_invoices(desk.customer.id).await.unwrap(),
        std::slice::from_ref(&book.i6),
        "partly paid is not settled"
    );
    let on_time = day(1, 20).and_hms_opt(12, 0, 0).unwrap().and_utc();
    pay(
        &store,
        book.i1.id,
        book.i1.details.amount - dec("10"),
        on_time,
        &desk.rep,
        at(301),
    )
    .await;
    let settled = store.settled_invoices(desk.customer.id).await.unwrap();
    let ids: Vec<i64> = settled.iter().map(|i| i.id).collect();
    assert_eq!(ids, [book.i6.id, book.i1.id], "newest first");
    assert_eq!(settled[1].fully_paid_on, Some(day(1, 20)));
    assert_eq!(settled[1].paid, book.i1.details.amount);
    assert!(
        settled[0].fully_paid_on > Some(settled[0].details.due_on),
        "i6 was paid late"
    );

    // Another customer's settled invoices are their own.
    pay(
        &store,
        book.i3.id,
        book.i3.details.amount,
        at(400),
        &book.rep2,
        at(400),
    )
    .await;
    let c2 = store.settled_invoices(book.c2.id).await.unwrap();
    assert_eq!(c2.iter().map(|i| i.id).collect::<Vec<_>>(), [book.i3.id]);
    assert_eq!(
        store
            .settled_invoices(desk.customer.id)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(store.settled_invoices(book.c3.id).await.unwrap().is_empty());
}
