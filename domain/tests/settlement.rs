//! Settlement rules: invoiced never exceeds ordered, payments never exceed invoiced, the
//! invoices of a line add up to the line exactly, and deposits are credited once.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::catalog::PaymentTerms;
use domain::ids::{CustomerId, OrderId, ProductId, UserId};
use domain::lifecycle::{OrderStatus, PaymentStatus};
use domain::money::Currency;
use domain::order::{DiscountPercent, Order, OrderContent, OrderLine, Quantity};
use domain::settlement::{
    CollectionActivity, CollectionKind, Invoice, InvoiceKind, NewCollectionActivity, NewInvoice,
    NewPayment, Payment, PaymentMethod, SettlementError, check_payment, check_void, due_date,
    payment_status, plan_deposit_invoice, plan_invoice, production_payment_gap, promise_broken,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

fn today() -> NaiveDate {
    now().date_naive()
}

fn line(no: u32, qty: &str, price: &str, discount: &str) -> OrderLine {
    OrderLine {
        line_no: no,
        product_id: ProductId(i64::from(no)),
        sku: format!("SKU-{no}"),
        description: "Widget".into(),
        quantity: Quantity::new(dec(qty)).unwrap(),
        unit_price: dec(price),
        discount: DiscountPercent::new(dec(discount)).unwrap(),
    }
}

fn order(lines: Vec<OrderLine>, terms: PaymentTerms) -> Order {
    Order {
        id: OrderId(7),
        number: "SO-000007".into(),
        customer_id: CustomerId(1),
        sales_rep_id: UserId(2),
        currency: Currency::parse("EUR").unwrap(),
        status: OrderStatus::Confirmed,
        held_from: None,
        payment_status: PaymentStatus::Uninvoiced,
        content: OrderContent {
            lines,
            requested_date: None,
            delivery_address: Some("Dock 1".into()),
            payment_terms: terms,
            customer_po: None,
            notes: None,
        },
        confirmation: None,
        findings: vec![],
        cancel_reason: None,
        expected_date: None,
        version: 5,
        revision: 0,
        created_at: now(),
        updated_at: now(),
    }
}

/// Stores a planned invoice the way the repository would (an id, a number, nothing paid).
fn stored(new: NewInvoice, id: i64) -> Invoice {
    Invoice {
        id,
        number: format!("INV-{id:06}"),
        details: new,
        paid: Decimal::ZERO,
        fully_paid_on: None,
        void_reason: None,
        created_at: now(),
    }
}

fn payment(invoice: &Invoice, amount: &str) -> NewPayment {
    NewPayment {
        invoice_id: invoice.id,
        amount: dec(amount),
        method: PaymentMethod::BankTransfer,
        reference: Some("  BANK-1 ".into()),
        received_at: now(),
        recorded_by: UserId(2),
    }
}

#[test]
fn due_dates_follow_the_terms() {
    let day = today();
    assert_eq!(
        due_date(PaymentTerms::Prepaid, InvoiceKind::Standard, day),
        day
    );
    assert_eq!(
        due_date(PaymentTerms::Net(30), InvoiceKind::Standard, day),
        NaiveDate::from_ymd_opt(2026, 12, 27).unwrap()
    );
    let deposit = PaymentTerms::Deposit {
        percent: 30,
        net_days: 60,
    };
    assert_eq!(due_date(deposit, InvoiceKind::Deposit, day), day);
    assert_eq!(
        due_date(deposit, InvoiceKind::Standard, day),
        NaiveDate::from_ymd_opt(2027, 1, 26).unwrap()
    );
}

#[test]
fn a_line_invoiced_in_parts_adds_up_to_its_total_exactly() {
    // 3 x 33.333 at 10% = 89.9991 -> 90.00 on the order.
    let o = order(vec![line(1, "3", "33.333", "10")], PaymentTerms::Net(30));
    assert_eq!(o.total(), dec("90.00"));
    let first = stored(
        plan_invoice(&o, &[], Some(&[(1, dec("1"))]), today()).unwrap(),
        1,
    );
    // 1 x 29.9997 -> 30.00
    assert_eq!(first.details.amount, dec("30.00"));
    let second = plan_invoice(&o, std::slice::from_ref(&first), None, today()).unwrap();
    assert_eq!(second.lines[0].quantity, dec("2"));
    assert_eq!(first.details.amount + second.amount, o.total());
    let second = stored(second, 2);
    let err = plan_invoice(&o, &[first, second], None, today()).unwrap_err();
    assert!(err.to_string().contains("already invoiced"), "{err}");
}

#[test]
fn invoicing_more_than_is_left_names_what_is_left() {
    let o = order(vec![line(1, "5", "10", "0")], PaymentTerms::Net(30));
    let first = stored(
        plan_invoice(&o, &[], Some(&[(1, dec("3"))]), today()).unwrap(),
        1,
    );
    let rest = plan_invoice(&o, &[first], Some(&[(1, dec("2"))]), today()).unwrap();
    assert_eq!(rest.amount, dec("20.00"));
    let o2 = order(vec![line(1, "5", "10", "0")], PaymentTerms::Net(30));
    let first = stored(
        plan_invoice(&o2, &[], Some(&[(1, dec("3"))]), today()).unwrap(),
        1,
    );
    let refused = plan_invoice(&o2, &[first], Some(&[(1, dec("2.001"))]), today()).unwrap_err();
    assert!(refused.to_string().contains("2 left"), "{refused}");
    assert!(plan_invoice(&o2, &[], Some(&[(9, dec("1"))]), today()).is_err());
    assert!(plan_invoice(&o2, &[], Some(&[(1, dec("0"))]), today()).is_err());
    assert!(
        plan_invoice(&o2, &[], Some(&[(1, dec("1")), (1, dec("1"))]), today()).is_err(),
        "a line listed twice"
    );
}

#[test]
fn only_confirmed_unfinished_orders_are_invoiced() {
    for status in [
        OrderStatus::Draft,
        OrderStatus::Approved,
        OrderStatus::Cancelled,
        OrderStatus::Completed,
    ] {
        let mut o = order(vec![line(1, "1", "10", "0")], PaymentTerms::Net(30));
        o.status = status;
        assert_eq!(
            plan_invoice(&o, &[], None, today()).unwrap_err(),
            SettlementError::NotInvoiceable(status)
        );
    }
}

#[test]
fn deposits_are_invoiced_first_once_and_credited_on_goods() {
    let terms = PaymentTerms::Deposit {
        percent: 30,
        net_days: 60,
    };
    let o = order(vec![line(1, "10", "100", "0")], terms);
    let deposit = stored(plan_deposit_invoice(&o, &[], today()).unwrap(), 1);
    assert_eq!(deposit.details.amount, dec("300.00"));
    assert_eq!(deposit.details.due_on, today());
    assert!(plan_deposit_invoice(&o, std::slice::from_ref(&deposit), today()).is_err());
    assert!(production_payment_gap(&o, std::slice::from_ref(&deposit)).is_some());
    let mut paid_deposit = deposit.clone();
    paid_deposit.paid = dec("300.00");
    assert_eq!(
        production_payment_gap(&o, std::slice::from_ref(&paid_deposit)),
        None
    );
    let goods = plan_invoice(
        &o,
        std::slice::from_ref(&paid_deposit),
        Some(&[(1, dec("4"))]),
        today(),
    )
    .unwrap();
    assert_eq!(goods.deposit_credit, dec("300.00"));
    assert_eq!(goods.amount, dec("100.00"));
    let goods = stored(goods, 2);
    let rest = plan_invoice(&o, &[paid_deposit, goods.clone()], None, today()).unwrap();
    assert_eq!(rest.deposit_credit, Decimal::ZERO, "credited once");
    assert_eq!(
        deposit.details.amount + goods.details.amount + rest.amount,
        o.total()
    );
    let net = order(vec![line(1, "1", "10", "0")], PaymentTerms::Net(30));
    assert!(plan_deposit_invoice(&net, &[], today()).is_err());
    assert_eq!(production_payment_gap(&net, &[]), None);
}

#[test]
fn prepaid_orders_need_full_payment_before_production() {
    let o = order(vec![line(1, "2", "50", "0")], PaymentTerms::Prepaid);
    assert!(production_payment_gap(&o, &[]).is_some());
    let mut invoice = stored(plan_invoice(&o, &[], None, today()).unwrap(), 1);
    assert_eq!(invoice.details.due_on, today());
    invoice.paid = dec("100.00");
    assert_eq!(production_payment_gap(&o, &[invoice]), None);
}

#[test]
fn payments_above_the_balance_or_not_in_minor_units_are_refused() {
    let o = order(vec![line(1, "1", "100", "0")], PaymentTerms::Net(30));
    let mut invoice = stored(plan_invoice(&o, &[], None, today()).unwrap(), 1);
    invoice.paid = dec("60");
    let err = check_payment(&invoice, payment(&invoice, "40.01"), now()).unwrap_err();
    assert!(err.to_string().contains("40.00 EUR"), "{err}");
    assert!(check_payment(&invoice, payment(&invoice, "0"), now()).is_err());
    assert!(check_payment(&invoice, payment(&invoice, "10.001"), now()).is_err());
    let mut future = payment(&invoice, "1");
    future.received_at = now() + chrono::Duration::hours(1);
    assert!(check_payment(&invoice, future, now()).is_err());
    let ok = check_payment(&invoice, payment(&invoice, "40.00"), now()).unwrap();
    assert_eq!(ok.reference.as_deref(), Some("BANK-1"));
    invoice.void_reason = Some("wrong customer".into());
    assert!(check_payment(&invoice, payment(&invoice, "1"), now()).is_err());
}

#[test]
fn only_unpaid_valid_invoices_can_be_voided() {
    let o = order(vec![line(1, "1", "100", "0")], PaymentTerms::Net(30));
    let mut invoice = stored(plan_invoice(&o, &[], None, today()).unwrap(), 1);
    assert_eq!(check_void(&invoice, " typo ").unwrap(), "typo");
    assert!(check_void(&invoice, "  ").is_err());
    invoice.paid = dec("1");
    assert!(check_void(&invoice, "typo").is_err());
    invoice.paid = Decimal::ZERO;
    invoice.void_reason = Some("x".into());
    assert!(check_void(&invoice, "typo").is_err());
}

#[test]
fn payment_status_follows_payments_and_ignores_void_invoices() {
    let o = order(vec![line(1, "1", "100", "0")], PaymentTerms::Net(30));
    assert_eq!(payment_status(o.total(), &[]), PaymentStatus::Uninvoiced);
    let mut invoice = stored(plan_invoice(&o, &[], None, today()).unwrap(), 1);
    assert_eq!(
        payment_status(o.total(), std::slice::from_ref(&invoice)),
        PaymentStatus::Invoiced
    );
    invoice.paid = dec("99.99");
    assert_eq!(
        payment_status(o.total(), std::slice::from_ref(&invoice)),
        PaymentStatus::PartiallyPaid
    );
    invoice.paid = dec("100");
    assert_eq!(
        payment_status(o.total(), std::slice::from_ref(&invoice)),
        PaymentStatus::Paid
    );
    invoice.paid = Decimal::ZERO;
    invoice.void_reason = Some("wrong".into());
    assert_eq!(
        payment_status(o.total(), &[invoice]),
        PaymentStatus::Uninvoiced
    );
}

/// One step of a random settlement history.
#[derive(Clone, Debug)]
enum Step {
    /// Invoice some quantity (in thousandths) of a line, or everything left.
    Invoice(Option<(u32, u32)>),
    /// Pay some cents against an invoice (by index).
    Pay(usize, u32),
    /// Void an invoice (by index).
    Void(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => prop::option::of((1u32..4, 1u32..20_000)).prop_map(Step::Invoice),
        4 => (0usize..6, 1u32..2_000_000).prop_map(|(i, c)| Step::Pay(i, c)),
        1 => (0usize..6).prop_map(Step::Void),
    ]
}

proptest! {
    /// Whatever is asked, in whatever order: invoiced quantities never exceed ordered ones, a
    /// line's invoices never exceed its total (and equal it when fully invoiced), payments never
    /// exceed an invoice's amount, and a fully invoiced and paid order is PAID.
    #[test]
    fn money_never_exceeds_what_was_ordered_or_invoiced(
        lines in prop::collection::vec((1u32..10_000, 1u32..100_000, 0u32..5_000), 1..4),
        deposit in any::<bool>(),
        steps in prop::collection::vec(step(), 1..30),
    ) {
        let terms = if deposit { PaymentTerms::Deposit { percent: 30, net_days: 30 } } else { PaymentTerms::Net(30) };
        let o = order(
            lines
                .iter()
                .enumerate()
                .map(|(i, (q, p, d))| OrderLine {
                    line_no: u32::try_from(i + 1).unwrap(),
                    product_id: ProductId(1),
                    sku: "S".into(),
                    description: "D".into(),
                    quantity: Quantity::new(Decimal::new(i64::from(*q), 3)).unwrap(),
                    unit_price: Decimal::new(i64::from(*p), 2),
                    discount: DiscountPercent::new(Decimal::new(i64::from(*d), 2)).unwrap(),
                })
                .collect(),
            terms,
        );
        let mut invoices: Vec<Invoice> = Vec::new();
        if deposit {
            invoices.push(stored(plan_deposit_invoice(&o, &[], today()).unwrap(), 1));
        }
        for step in steps {
            match step {
                Step::Invoice(request) => {
                    let request = request.map(|(line, milli)| vec![(line, Decimal::new(i64::from(milli), 3))]);
                    if let Ok(new) = plan_invoice(&o, &invoices, request.as_deref(), today()) {
                        prop_assert!(new.amount >= Decimal::ZERO);
                        let id = i64::try_from(invoices.len()).unwrap() + 1;
                        invoices.push(stored(new, id));
                    }
                }
                Step::Pay(index, cents) => {
                    if let Some(invoice) = invoices.get(index).cloned() {
                        let amount = Decimal::new(i64::from(cents), 2);
                        let mut p = payment(&invoice, "1");
                        p.amount = amount;
                        match check_payment(&invoice, p, now()) {
                            Ok(ok) => invoices[index].paid += ok.amount,
                            Err(_) => prop_assert!(amount > invoice.outstanding() || !invoice.is_valid() || amount.is_zero()),
                        }
                    }
                }
                Step::Void(index) => {
                    if let Some(invoice) = invoices.get(index)
                        && check_void(invoice, "test").is_ok()
                    {
                        invoices[index].void_reason = Some("test".into());
                    }
                }
            }
            for invoice in &invoices {
                prop_assert!(invoice.paid <= invoice.details.amount, "paid beyond invoiced");
                prop_assert!(invoice.is_valid() || invoice.paid.is_zero(), "a voided invoice had payments");
            }
            let billed = domain::settlement::invoiced_per_line(&invoices);
            for l in &o.content.lines {
                let (qty, amount) = billed.get(&l.line_no).copied().unwrap_or_default();
                prop_assert!(qty <= l.quantity.get(), "invoiced beyond ordered");
                prop_assert!(amount <= l.total(o.currency), "line amount beyond its total");
                if qty == l.quantity.get() {
                    prop_assert_eq!(amount, l.total(o.currency));
                }
            }
            let valid_total: Decimal = invoices.iter().filter(|i| i.is_valid()).map(|i| i.details.amount).sum();
            prop_assert!(valid_total <= o.total(), "invoiced {} beyond the order total {}", valid_total, o.total());
        }
        // Invoice what is left and pay everything: the order is then PAID, never more.
        if let Ok(new) = plan_invoice(&o, &invoices, None, today()) {
            let id = i64::try_from(invoices.len()).unwrap() + 1;
            invoices.push(stored(new, id));
        }
        for invoice in &mut invoices {
            if invoice.is_valid() {
                invoice.paid = invoice.details.amount;
            }
        }
        let valid_total: Decimal = invoices.iter().filter(|i| i.is_valid()).map(|i| i.details.amount).sum();
        let has_valid_deposit = invoices.iter().any(|i| i.is_valid() && i.details.kind == InvoiceKind::Deposit);
        if !deposit || has_valid_deposit {
            prop_assert_eq!(valid_total, o.total());
            prop_assert_eq!(payment_status(o.total(), &invoices), PaymentStatus::Paid);
        }
    }
}

/// An open 100.00 EUR invoice (NET_30), of which `paid` is paid.
fn open_invoice(paid: &str) -> Invoice {
    let o = order(vec![line(1, "1", "100", "0")], PaymentTerms::Net(30));
    let mut invoice = stored(plan_invoice(&o, &[], None, today()).unwrap(), 1);
    invoice.paid = dec(paid);
    invoice
}

fn activity(
    kind: CollectionKind,
    promised_date: Option<NaiveDate>,
    promised_amount: Option<&str>,
) -> NewCollectionActivity {
    NewCollectionActivity {
        invoice_id: 1,
        user_id: UserId(2),
        kind,
        note: Some("  spoke to accounts payable  ".into()),
        promised_date,
        promised_amount: promised_amount.map(dec),
    }
}

/// The field a refused activity names.
#[track_caller]
fn refused_field(result: Result<NewCollectionActivity, SettlementError>) -> &'static str {
    match result {
        Err(SettlementError::Validation(error)) => error.field(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn day(offset: i64) -> NaiveDate {
    today() + chrono::Duration::days(offset)
}

#[test]
fn collection_activities_are_checked_against_their_invoice() {
    let invoice = open_invoice("40");
    // Every kind without a promise; the note is trimmed.
    for kind in [
        CollectionKind::Reminder,
        CollectionKind::Call,
        CollectionKind::Dispute,
    ] {
        let ok = activity(kind, None, None).validate(&invoice).unwrap();
        assert_eq!(ok.note.as_deref(), Some("spoke to accounts payable"));
        assert_eq!((ok.promised_date, ok.promised_amount), (None, None));
    }
    // A promise needs its date; the amount is optional.
    assert_eq!(
        refused_field(activity(CollectionKind::PromiseToPay, None, None).validate(&invoice)),
        "promisedDate"
    );
    assert_eq!(
        refused_field(activity(CollectionKind::PromiseToPay, None, Some("10")).validate(&invoice)),
        "promisedDate"
    );
    let whole = activity(CollectionKind::PromiseToPay, Some(day(7)), None)
        .validate(&invoice)
        .unwrap();
    assert_eq!(whole.promised_date, Some(day(7)));
    assert_eq!(whole.promised_amount, None);
    // The amount: more than zero, at most the open balance (60.00), in minor units.
    for good in ["0.01", "25.5", "60", "60.00", "59.990"] {
        let ok = activity(CollectionKind::PromiseToPay, Some(day(7)), Some(good))
            .validate(&invoice)
            .unwrap_or_else(|e| panic!("{good}: {e}"));
        assert_eq!(ok.promised_amount, Some(dec(good)));
    }
    for bad in ["0", "-5", "60.01", "100", "10.001"] {
        let result =
            activity(CollectionKind::PromiseToPay, Some(day(7)), Some(bad)).validate(&invoice);
        assert_eq!(refused_field(result), "promisedAmount", "{bad}");
    }
    let err = activity(CollectionKind::PromiseToPay, Some(day(7)), Some("60.01"))
        .validate(&invoice)
        .unwrap_err();
    assert!(err.to_string().contains("60.00 EUR"), "{err}");
    // Other kinds take no promise.
    for kind in [
        CollectionKind::Reminder,
        CollectionKind::Call,
        CollectionKind::Dispute,
    ] {
        assert_eq!(
            refused_field(activity(kind, Some(day(7)), None).validate(&invoice)),
            "promisedDate",
            "{kind:?}"
        );
        assert_eq!(
            refused_field(activity(kind, Some(day(7)), Some("10")).validate(&invoice)),
            "promisedDate",
            "{kind:?}"
        );
        assert!(
            activity(kind, None, Some("10")).validate(&invoice).is_err(),
            "{kind:?}"
        );
    }
    // A note too long is refused.
    let mut long = activity(CollectionKind::Call, None, None);
    long.note = Some("x".repeat(4001));
    assert_eq!(refused_field(long.validate(&invoice)), "note");
}

#[test]
fn a_promised_amount_in_a_currency_without_minor_units_is_whole() {
    let mut o = order(vec![line(1, "1", "1000", "0")], PaymentTerms::Net(30));
    o.currency = Currency::parse("JPY").unwrap();
    let invoice = stored(plan_invoice(&o, &[], None, today()).unwrap(), 1);
    assert!(
        activity(CollectionKind::PromiseToPay, Some(day(3)), Some("500"))
            .validate(&invoice)
            .is_ok()
    );
    assert_eq!(
        refused_field(
            activity(CollectionKind::PromiseToPay, Some(day(3)), Some("500.5")).validate(&invoice)
        ),
        "promisedAmount"
    );
}

#[test]
fn a_promised_amount_on_another_kind_names_the_amount() {
    let invoice = open_invoice("0");
    assert_eq!(
        refused_field(activity(CollectionKind::Reminder, None, Some("10")).validate(&invoice)),
        "promisedAmount",
        "only the amount was given, so the error should name it"
    );
}

#[test]
fn a_paid_or_void_invoice_has_nothing_to_collect() {
    let paid = open_invoice("100");
    let mut void = open_invoice("0");
    void.void_reason = Some("wrong customer".into());
    for invoice in [&paid, &void] {
        for new in [
            activity(CollectionKind::Reminder, None, None),
            activity(CollectionKind::PromiseToPay, Some(day(3)), None),
        ] {
            match new.validate(invoice) {
                Err(SettlementError::Refused(reason)) => {
                    assert!(reason.contains("INV-000001"), "{reason}");
                    assert!(reason.contains("nothing to collect"), "{reason}");
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }
}

/// A promise logged at `now()` to pay by `date` (and `amount`).
fn promise(date: NaiveDate, amount: Option<&str>) -> CollectionActivity {
    CollectionActivity {
        id: 1,
        details: activity(CollectionKind::PromiseToPay, Some(date), amount),
        created_at: now(),
    }
}

/// A payment of `amount` received at `received` and recorded at `recorded`.
fn paid(
    invoice: &Invoice,
    amount: &str,
    received: DateTime<Utc>,
    recorded: DateTime<Utc>,
) -> Payment {
    let mut details = payment(invoice, amount);
    details.received_at = received;
    Payment {
        id: 1,
        details,
        created_at: recorded,
    }
}

#[test]
fn a_promise_is_broken_only_once_its_date_has_passed_without_the_money() {
    let invoice = open_invoice("0");
    let by = day(3);
    let hour = chrono::Duration::hours(1);
    let on_the_date = now() + chrono::Duration::days(3);
    let p = promise(by, Some("50"));
    // Before and on the date: not broken yet.
    assert!(!promise_broken(&p, &invoice, &[], today()));
    assert!(!promise_broken(&p, &invoice, &[], day(2)));
    assert!(!promise_broken(&p, &invoice, &[], by));
    // After it, without payment: broken.
    assert!(promise_broken(&p, &invoice, &[], day(4)));
    assert!(promise_broken(&p, &invoice, &[], day(40)));
    // Kept: payments received from the promise up to the date reach the amount.
    let full = paid(&invoice, "50", now() + hour, now() + hour);
    assert!(!promise_broken(&p, &invoice, &[full], day(4)));
    let on_time = paid(&invoice, "50", on_the_date, on_the_date);
    assert!(!promise_broken(&p, &invoice, &[on_time], day(4)));
    let parts = [
        paid(&invoice, "20", now() + hour, now() + hour),
        paid(&invoice, "30", on_the_date, on_the_date),
    ];
    assert!(!promise_broken(&p, &invoice, &parts, day(4)));
    let more = paid(&invoice, "80", now() + hour, now() + hour);
    assert!(!promise_broken(&p, &invoice, &[more], day(4)));
    // Too little is broken.
    let short = paid(&invoice, "49.99", now() + hour, now() + hour);
    assert!(promise_broken(&p, &invoice, &[short], day(4)));
    // Money received after the date does not keep it.
    let late = paid(
        &invoice,
        "50",
        on_the_date + chrono::Duration::days(1),
        now() + hour,
    );
    assert!(promise_broken(&p, &invoice, &[late], day(5)));
    // A payment recorded before the promise does not count toward it, even received in time.
    let earlier = paid(&invoice, "50", now() - hour, now() - hour);
    assert!(promise_broken(
        &p,
        &invoice,
        std::slice::from_ref(&earlier),
        day(4)
    ));
    let with_new = [earlier, paid(&invoice, "30", now() + hour, now() + hour)];
    assert!(promise_broken(&p, &invoice, &with_new, day(4)));
    // Recorded after the promise but received (backdated) before it, by the date: counts.
    let backdated = paid(
        &invoice,
        "50",
        now() - chrono::Duration::days(1),
        now() + hour,
    );
    assert!(!promise_broken(&p, &invoice, &[backdated], day(4)));
}

#[test]
fn a_promise_without_an_amount_is_kept_only_if_the_invoice_was_paid_by_the_date() {
    let by = day(3);
    let p = promise(by, None);
    let mut invoice = open_invoice("0");
    assert!(!promise_broken(&p, &invoice, &[], by));
    assert!(promise_broken(&p, &invoice, &[], day(4)));
    // Partly paid by the date is still broken.
    invoice.paid = dec("99.99");
    let part = paid(&invoice, "99.99", now(), now());
    assert!(promise_broken(&p, &invoice, &[part], day(4)));
    // Fully paid on the date or before: kept.
    invoice.paid = dec("100");
    for on in [today(), day(1), by] {
        invoice.fully_paid_on = Some(on);
        assert!(!promise_broken(&p, &invoice, &[], day(4)), "paid on {on}");
    }
    // Fully paid, but a day late: broken.
    invoice.fully_paid_on = Some(day(4));
    assert!(promise_broken(&p, &invoice, &[], day(5)));
}

#[test]
fn only_a_dated_promise_to_pay_can_be_broken() {
    let invoice = open_invoice("0");
    let mut undated = promise(day(1), Some("10"));
    undated.details.promised_date = None;
    assert!(!promise_broken(&undated, &invoice, &[], day(30)));
    for kind in [
        CollectionKind::Reminder,
        CollectionKind::Call,
        CollectionKind::Dispute,
    ] {
        let mut other = promise(day(1), Some("10"));
        other.details.kind = kind;
        assert!(!promise_broken(&other, &invoice, &[], day(30)), "{kind:?}");
    }
}

#[test]
fn collection_kinds_have_stable_names() {
    for (kind, name) in [
        (CollectionKind::Reminder, "REMINDER"),
        (CollectionKind::Call, "CALL"),
        (CollectionKind::PromiseToPay, "PROMISE_TO_PAY"),
        (CollectionKind::Dispute, "DISPUTE"),
    ] {
        assert_eq!(kind.as_str(), name);
        assert_eq!(CollectionKind::parse(name).unwrap(), kind);
    }
    assert_eq!(
        CollectionKind::parse("reminder").unwrap_err().field(),
        "kind"
    );
}
