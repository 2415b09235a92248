//! Settlement through the API: invoices for a whole order, for line quantities and for deposits;
//! payments (partial, too large, retried with an idempotency key, raced by twenty clients);
//! voiding; payment terms that hold production back; receivables, aging and payment behaviour;
//! and the credit-limit rule counting what is still owed.

use std::collections::HashSet;

use futures_util::future::join_all;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tests::json::pretty;
use tests::{
    Backend, Role, TestApp, TestUser, UserOptions, assert_error, data, error_code, spawn_app,
};

use crate::fixtures::{
    EVENT_TIMEOUT, Shop, approve_order, complete_order_input, confirm_order, create_order,
    create_product, customer_input, dec, decimal, fetch_order, id_of, in_days, line, move_order,
    order_events, order_in, submit_order, text, transition, version_of,
};

backend_tests!(
    a_whole_order_invoice_bills_the_total_due_by_the_terms_and_only_staff_may_issue_it,
    line_quantities_are_invoiced_up_to_what_is_left_and_add_up_to_the_line_total,
    payments_move_the_payment_status_and_a_delivered_order_that_is_paid_completes,
    a_retried_payment_with_its_idempotency_key_records_nothing_new,
    twenty_concurrent_retries_of_one_payment_store_it_once_and_answer_byte_for_byte_the_same,
    twenty_concurrent_payments_never_pay_more_than_was_invoiced,
    prepaid_and_deposit_terms_hold_production_back_until_the_money_is_in,
    only_an_unpaid_invoice_can_be_voided_and_then_it_stops_counting,
    a_void_racing_payments_never_voids_money_received,
    receivables_aging_and_payment_behaviour_show_each_user_what_they_may_see,
    open_receivables_count_toward_the_credit_limit,
    money_gates_cover_stock_shipments_deposits_paid_through_goods_and_cancellation,
    reps_log_collection_work_and_chase_invoices_whose_promise_to_pay_was_broken,
);

/// The invoice fields the scenarios look at.
const INVOICE_FRAGMENT: &str = r"
fragment InvoiceFields on Invoice {
  id number kind status issuedOn dueOn fullyPaidOn voidReason daysOverdue
  order { id }
  customer { id }
  lines { lineId lineNo quantity amount { amount currency } }
  depositCredit { amount currency }
  amount { amount currency }
  paid { amount currency }
  outstanding { amount currency }
  payments { id invoiceId amount { amount currency } method reference receivedAt recordedBy { id } createdAt }
}";

/// What the settlement mutations return of the order.
const ORDER_MONEY: &str = "id status paymentStatus version";

/// Every field of a payment, in a fixed order: replays are compared byte for byte.
const PAYMENT_FIELDS: &str = "id invoiceId amount { amount currency } method reference receivedAt recordedBy { id } createdAt";

/// `orderEvents` of one order, from a cursor on.
const ORDER_EVENTS: &str = "subscription($filter: OrderEventFilter, $after: String) {
  orderEvents(filter: $filter, after: $after) { cursor type version orderId data }
}";

fn with_invoice_fields(operation: &str) -> String {
    format!("{operation}\n{INVOICE_FRAGMENT}")
}

async fn issue_invoice(
    app: &TestApp,
    token: &str,
    order_id: &str,
    expected_version: i64,
    input: Value,
) -> Value {
    app.gql(
        &with_invoice_fields(&format!(
            "mutation($orderId: ID!, $v: Int!, $input: IssueInvoiceInput) {{
               issueInvoice(orderId: $orderId, expectedVersion: $v, input: $input) {{
                 invoice {{ ...InvoiceFields }} order {{ {ORDER_MONEY} }}
               }}
             }}"
        )),
        json!({ "orderId": order_id, "v": expected_version, "input": input }),
        Some(token),
    )
    .await
}

/// Issues an invoice for `order` at its version, which must succeed and raise the version by
/// one. Returns the invoice and the order after it.
async fn issued(app: &TestApp, token: &str, order: &Value, input: Value) -> (Value, Value) {
    let body = issue_invoice(app, token, &id_of(order), version_of(order), input).await;
    let payload = &data(&body)["issueInvoice"];
    assert_eq!(
        version_of(&payload["order"]),
        version_of(order) + 1,
        "{}",
        pretty(&body)
    );
    (payload["invoice"].clone(), payload["order"].clone())
}

/// A payment input by bank transfer.
fn transfer(amount: &str) -> Value {
    json!({ "amount": amount, "method": "BANK_TRANSFER", "reference": format!("TX {amount}") })
}

async fn record_payment(
    app: &TestApp,
    token: &str,
    invoice_id: &str,
    input: Value,
    key: Option<&str>,
) -> Value {
    app.gql(
        &with_invoice_fields(&format!(
            "mutation($id: ID!, $input: PaymentInput!, $key: String) {{
               recordPayment(invoiceId: $id, input: $input, idempotencyKey: $key) {{
                 payment {{ {PAYMENT_FIELDS} }}
                 invoice {{ ...InvoiceFields }}
                 order {{ {ORDER_MONEY} }}
               }}
             }}"
        )),
        json!({ "id": invoice_id, "input": input, "key": key }),
        Some(token),
    )
    .await
}

/// Records a bank transfer of `amount` against the invoice; it must succeed. Returns the payload
/// (`payment`, `invoice`, `order`).
async fn pay(app: &TestApp, token: &str, invoice_id: &str, amount: &str) -> Value {
    let body = record_payment(app, token, invoice_id, transfer(amount), None).await;
    data(&body)["recordPayment"].clone()
}

async fn void_invoice(app: &TestApp, token: &str, invoice_id: &str, reason: &str) -> Value {
    app.gql(
        &with_invoice_fields(&format!(
            "mutation($id: ID!, $reason: String!) {{
               voidInvoice(invoiceId: $id, reason: $reason) {{
                 invoice {{ ...InvoiceFields }} order {{ {ORDER_MONEY} }}
               }}
             }}"
        )),
        json!({ "id": invoice_id, "reason": reason }),
        Some(token),
    )
    .await
}

async fn fetch_invoice_raw(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql(
        &with_invoice_fields("query($id: ID!) { invoice(id: $id) { ...InvoiceFields } }"),
        json!({ "id": id }),
        Some(token),
    )
    .await
}

async fn fetch_invoice(app: &TestApp, token: &str, id: &str) -> Value {
    data(&fetch_invoice_raw(app, token, id).await)["invoice"].clone()
}

/// The order's money as stored: status, payment status, version and invoices (oldest first).
async fn order_money(app: &TestApp, token: &str, id: &str) -> Value {
    let body = app
        .gql(
            &with_invoice_fields(&format!(
                "query($id: ID!) {{ order(id: $id) {{ {ORDER_MONEY} invoices {{ ...InvoiceFields }} }} }}"
            )),
            json!({ "id": id }),
            Some(token),
        )
        .await;
    data(&body)["order"].clone()
}

/// `money.amount` as a number.
#[track_caller]
fn amount(money: &Value) -> Decimal {
    decimal(&money["amount"])
}

/// The error's message.
#[track_caller]
fn message(error: &Value) -> String {
    text(&error["message"])
}

/// The types of `events`, oldest first.
fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// An order by `rep` for `customer_id` with `lines` (and `terms`, else the customer's), reviewed
/// (approved by `approver` when review asks for it) and CONFIRMED by the customer.
async fn confirmed_order(
    app: &TestApp,
    rep: &TestUser,
    approver: &TestUser,
    customer_id: &str,
    lines: Vec<Value>,
    terms: Option<&str>,
) -> Value {
    let mut input = complete_order_input(customer_id, lines);
    if let Some(terms) = terms {
        input["paymentTerms"] = json!(terms);
    }
    let draft = create_order(app, &rep.token, input).await;
    let body = submit_order(app, &rep.token, &id_of(&draft), version_of(&draft)).await;
    let mut order = order_in(&body, "submitOrder");
    if order["status"] == "PENDING_APPROVAL" {
        order = order_in(
            &approve_order(app, &approver.token, &order).await,
            "approveOrder",
        );
    }
    assert_eq!(order["status"], "APPROVED", "{}", pretty(&order));
    let confirmed = order_in(
        &confirm_order(app, &rep.token, &order, "EMAIL").await,
        "confirmOrder",
    );
    assert_eq!(confirmed["status"], "CONFIRMED", "{}", pretty(&confirmed));
    if let Some(terms) = terms {
        assert_eq!(confirmed["paymentTerms"], terms);
    }
    confirmed
}

/// A CONFIRMED order of the shop's rep: `quantity` widgets at 120.00 under `terms`.
async fn shop_order(app: &TestApp, shop: &Shop, quantity: &str, terms: Option<&str>) -> Value {
    confirmed_order(
        app,
        &shop.rep,
        &shop.manager,
        &shop.customer_id,
        vec![line(&shop.product_id, quantity)],
        terms,
    )
    .await
}

/// A CUSTOMER user of the shop's customer.
async fn buyer(app: &TestApp, shop: &Shop) -> TestUser {
    app.add_user(
        "ana.buyer@acme.example",
        Role::Customer,
        UserOptions {
            customer: Some(&shop.customer_id),
            ..UserOptions::default()
        },
    )
    .await
}

async fn a_whole_order_invoice_bills_the_total_due_by_the_terms_and_only_staff_may_issue_it(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;

    // A draft is not a sale yet.
    let draft = shop.draft(&app).await;
    let body = issue_invoice(
        &app,
        &rep.token,
        &id_of(&draft),
        version_of(&draft),
        Value::Null,
    )
    .await;
    let error = assert_error(&body, "INVALID_TRANSITION");
    assert_eq!(error["extensions"]["from"], "DRAFT", "{}", pretty(&body));

    // Ten widgets at 120.00 for a NET_30 customer.
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    assert_eq!(order["paymentTerms"], "NET_30");
    assert_eq!(order["paymentStatus"], "UNINVOICED");

    // The customer's buyer may not invoice, and a stale version is refused; neither writes.
    let buyer = buyer(&app, &shop).await;
    let body = issue_invoice(&app, &buyer.token, &id, version_of(&order), Value::Null).await;
    assert_error(&body, "FORBIDDEN");
    let body = issue_invoice(&app, &rep.token, &id, version_of(&order) - 1, Value::Null).await;
    let error = assert_error(&body, "CONFLICT");
    assert_eq!(
        error["extensions"]["expectedVersion"],
        version_of(&order) - 1,
        "{}",
        pretty(&body)
    );
    let stored = order_money(&app, &rep.token, &id).await;
    assert_eq!(stored["invoices"], json!([]), "{}", pretty(&stored));
    assert_eq!(
        (version_of(&stored), &stored["paymentStatus"]),
        (version_of(&order), &json!("UNINVOICED"))
    );

    // The whole order.
    let (invoice, after) = issued(&app, &rep.token, &order, Value::Null).await;
    let number = text(&invoice["number"]);
    assert!(
        number.starts_with("INV-") && number[4..].chars().all(|c| c.is_ascii_digit()),
        "{number}"
    );
    assert_eq!(invoice["kind"], "STANDARD");
    assert_eq!(invoice["status"], "OPEN");
    assert_eq!(invoice["issuedOn"], in_days(0).as_str());
    assert_eq!(
        invoice["dueOn"],
        in_days(30).as_str(),
        "NET_30: due in 30 days"
    );
    assert_eq!(amount(&invoice["amount"]), dec("1200.00"));
    assert_eq!(invoice["amount"]["currency"], "EUR");
    assert_eq!(amount(&invoice["depositCredit"]), Decimal::ZERO);
    assert_eq!(amount(&invoice["paid"]), Decimal::ZERO);
    assert_eq!(amount(&invoice["outstanding"]), dec("1200.00"));
    assert_eq!(invoice["daysOverdue"], 0);
    assert_eq!(invoice["fullyPaidOn"], Value::Null);
    assert_eq!(invoice["voidReason"], Value::Null);
    assert_eq!(invoice["payments"], json!([]));
    assert_eq!(invoice["order"]["id"], id.as_str());
    assert_eq!(invoice["customer"]["id"], shop.customer_id.as_str());
    let lines = invoice["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 1, "{}", pretty(&invoice));
    assert_eq!(lines[0]["lineId"], format!("{id}-1").as_str());
    assert_eq!(lines[0]["lineNo"], 1);
    assert_eq!(decimal(&lines[0]["quantity"]), dec("10"));
    assert_eq!(amount(&lines[0]["amount"]), dec("1200.00"));
    assert_eq!(
        amount(&invoice["amount"]),
        decimal(&order["total"]["amount"]),
        "the invoice bills the order total"
    );
    assert_eq!(after["status"], "CONFIRMED");
    assert_eq!(after["paymentStatus"], "INVOICED");

    // What was returned is what is stored.
    assert_eq!(
        fetch_invoice(&app, &rep.token, &text(&invoice["id"])).await,
        invoice
    );
    let stored = order_money(&app, &rep.token, &id).await;
    assert_eq!(stored["invoices"], json!([invoice]));
    assert_eq!(stored["paymentStatus"], "INVOICED");
    assert_eq!(version_of(&stored), version_of(&after));
    let events = order_events(&app, &rep.token, &id).await;
    let last_two = &events[events.len() - 2..];
    assert_eq!(
        types(last_two),
        ["INVOICE_ISSUED", "PAYMENT_STATUS_CHANGED"],
        "{}",
        pretty(&json!(events))
    );
    assert!(
        last_two
            .iter()
            .all(|e| version_of(e) == version_of(&after) && e["actor"]["id"] == rep.id.as_str()),
        "{}",
        pretty(&json!(last_two))
    );
    assert_eq!(
        last_two[1]["data"],
        json!({ "from": "UNINVOICED", "to": "INVOICED" })
    );
    let issued_event = &last_two[0]["data"];
    assert_eq!(
        issued_event["invoice_id"],
        json!(invoice["id"].as_str().unwrap().parse::<i64>().unwrap()),
        "{}",
        pretty(issued_event)
    );
    assert_eq!(issued_event["number"], number.as_str());
    assert_eq!(decimal(&issued_event["amount"]), dec("1200"));
    assert_eq!(issued_event["due_on"], in_days(30).as_str());

    // Nothing is left to invoice.
    let body = issue_invoice(&app, &rep.token, &id, version_of(&after), Value::Null).await;
    let error = assert_error(&body, "BAD_USER_INPUT");
    assert!(
        message(error).contains("already invoiced"),
        "{}",
        pretty(&body)
    );
    assert_eq!(
        order_money(&app, &rep.token, &id).await["invoices"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Someone else's rep does not see the invoice at all.
    let (other, _) = shop.other_rep(&app).await;
    let body = fetch_invoice_raw(&app, &other.token, &text(&invoice["id"])).await;
    assert_error(&body, "NOT_FOUND");
}

async fn line_quantities_are_invoiced_up_to_what_is_left_and_add_up_to_the_line_total(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let bolt = create_product(&app, &shop.admin.token, "BOLT-M8", "40.00").await;
    // 3 x 33.333 -10% = 89.9991 -> 90.00; 2 x 120.00 = 240.00.
    let order = confirmed_order(
        &app,
        rep,
        &shop.manager,
        &shop.customer_id,
        vec![
            json!({ "productId": bolt, "quantity": "3", "unitPrice": "33.333", "discountPercent": "10" }),
            line(&shop.product_id, "2"),
        ],
        None,
    )
    .await;
    let id = id_of(&order);
    assert_eq!(decimal(&order["lines"][0]["total"]["amount"]), dec("90.00"));
    assert_eq!(decimal(&order["total"]["amount"]), dec("330.00"));
    let (line_1, line_2) = (format!("{id}-1"), format!("{id}-2"));
    let (line_1, line_2) = (line_1.as_str(), line_2.as_str());
    let lines = |pairs: &[(&str, &str)]| {
        json!({ "lines": pairs
            .iter()
            .map(|(line_id, quantity)| json!({ "lineId": line_id, "quantity": quantity }))
            .collect::<Vec<_>>() })
    };

    // One of the three bolts: 33.333 x 0.9 = 29.9997 -> 30.00.
    let (first, order) = issued(&app, &rep.token, &order, lines(&[(line_1, "1")])).await;
    assert_eq!(amount(&first["amount"]), dec("30.00"));
    let billed = first["lines"].as_array().expect("lines");
    assert_eq!(billed.len(), 1);
    assert_eq!(billed[0]["lineId"], line_1);
    assert_eq!(decimal(&billed[0]["quantity"]), dec("1"));
    assert_eq!(order["paymentStatus"], "INVOICED");

    // More than the two left is refused, naming what is left; nothing is written.
    let body = issue_invoice(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        lines(&[(line_1, "3")]),
    )
    .await;
    let error = assert_error(&body, "BAD_USER_INPUT");
    let refusal = message(error);
    let left = refusal
        .split_once(" left")
        .and_then(|(before, _)| before.rsplit(' ').next())
        .map(dec);
    assert_eq!(left, Some(dec("2")), "{refusal}");
    assert!(refusal.contains("line 1"), "{refusal}");

    // Line ids that are not lines of this order, and quantities that are not quantities.
    for (line_id, quantity, field) in [
        ("garbage", "1", "lineId"),
        ("1", "1", "lineId"),
        (&*format!("{id}-x"), "1", "lineId"),
        (&*format!("{id}--1"), "1", "lineId"),
        (
            &*format!("{}-1", id.parse::<i64>().unwrap() + 1000),
            "1",
            "lineId",
        ),
        (&*format!("{id}-9"), "1", "lines"),
        (line_1, "0", "quantity"),
        (line_1, "-1", "quantity"),
    ] {
        let body = issue_invoice(
            &app,
            &rep.token,
            &id,
            version_of(&order),
            lines(&[(line_id, quantity)]),
        )
        .await;
        let error = assert_error(&body, "BAD_USER_INPUT");
        assert_eq!(
            error["extensions"]["field"],
            field,
            "{line_id} x {quantity}: {}",
            pretty(&body)
        );
    }
    let body = issue_invoice(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        lines(&[(line_2, "1"), (line_2, "1")]),
    )
    .await;
    assert_error(&body, "BAD_USER_INPUT");
    let stored = order_money(&app, &rep.token, &id).await;
    assert_eq!(stored["invoices"], json!([first]), "nothing was written");
    assert_eq!(version_of(&stored), version_of(&order));

    // The last two bolts take exactly what is left of the line: 90.00 - 30.00.
    let (second, order) = issued(&app, &rep.token, &order, lines(&[(line_1, "2")])).await;
    assert_eq!(amount(&second["amount"]), dec("60.00"));
    assert_eq!(
        amount(&first["lines"][0]["amount"]) + amount(&second["lines"][0]["amount"]),
        dec("90.00"),
        "the invoices of a line add up to the line total exactly"
    );
    assert_ne!(first["number"], second["number"]);

    // The rest of the order (the widgets).
    let (third, order) = issued(&app, &rep.token, &order, Value::Null).await;
    let billed = third["lines"].as_array().expect("lines");
    assert_eq!(billed.len(), 1, "{}", pretty(&third));
    assert_eq!(billed[0]["lineId"], line_2);
    assert_eq!(decimal(&billed[0]["quantity"]), dec("2"));
    assert_eq!(amount(&third["amount"]), dec("240.00"));
    let invoiced: Decimal = [&first, &second, &third]
        .iter()
        .map(|i| amount(&i["amount"]))
        .sum();
    assert_eq!(invoiced, dec("330.00"), "the invoices add up to the total");

    let body = issue_invoice(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        lines(&[(line_1, "0.001")]),
    )
    .await;
    assert_error(&body, "BAD_USER_INPUT");
    let body = issue_invoice(&app, &rep.token, &id, version_of(&order), Value::Null).await;
    assert_error(&body, "BAD_USER_INPUT");
    let stored = order_money(&app, &rep.token, &id).await;
    assert_eq!(stored["invoices"], json!([first, second, third]));
    assert_eq!(stored["paymentStatus"], "INVOICED");
}

async fn payments_move_the_payment_status_and_a_delivered_order_that_is_paid_completes(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;

    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let (invoice, mut order) = issued(&app, &rep.token, &order, Value::Null).await;
    let invoice_id = text(&invoice["id"]);
    let before_payments = order_events(&app, &rep.token, &id).await;
    let mut feed = app
        .subscribe(
            ORDER_EVENTS,
            json!({
                "filter": { "orderId": id, "types": ["PAYMENT_RECORDED"] },
                "after": before_payments.last().expect("events")["cursor"],
            }),
            rep.token(),
        )
        .await;
    for to in ["IN_PRODUCTION", "READY_TO_SHIP", "SHIPPED", "DELIVERED"] {
        order = move_order(&app, &rep.token, &order, to, None).await;
    }
    assert_eq!(order["paymentStatus"], "INVOICED");

    // Part of it.
    let first = pay(&app, &rep.token, &invoice_id, "500.00").await;
    let payment = &first["payment"];
    assert_eq!(amount(&payment["amount"]), dec("500.00"));
    assert_eq!(payment["amount"]["currency"], "EUR");
    assert_eq!(payment["method"], "BANK_TRANSFER");
    assert_eq!(payment["reference"], "TX 500.00");
    assert_eq!(payment["invoiceId"], invoice_id.as_str());
    assert_eq!(payment["recordedBy"]["id"], rep.id.as_str());
    assert_eq!(first["invoice"]["status"], "OPEN");
    assert_eq!(amount(&first["invoice"]["paid"]), dec("500.00"));
    assert_eq!(amount(&first["invoice"]["outstanding"]), dec("700.00"));
    assert_eq!(first["invoice"]["fullyPaidOn"], Value::Null);
    assert_eq!(first["order"]["paymentStatus"], "PARTIALLY_PAID");
    assert_eq!(first["order"]["status"], "DELIVERED");
    assert_eq!(version_of(&first["order"]), version_of(&order) + 1);

    // More than is owed is refused, naming the balance; nothing is recorded.
    let body = record_payment(&app, &rep.token, &invoice_id, transfer("700.01"), None).await;
    let error = assert_error(&body, "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], "amount", "{}", pretty(&body));
    let refusal = message(error);
    assert!(
        refusal.contains("700 EUR") || refusal.contains("700.00 EUR"),
        "the message names the open balance: {refusal}"
    );
    assert!(refusal.contains(&text(&invoice["number"])), "{refusal}");
    for bad in ["0", "-5", "0.001"] {
        let body = record_payment(&app, &rep.token, &invoice_id, transfer(bad), None).await;
        let error = assert_error(&body, "BAD_USER_INPUT");
        assert_eq!(error["extensions"]["field"], "amount", "{}", pretty(&body));
    }
    let future = json!({ "amount": "1", "method": "CASH", "receivedAt": (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339() });
    let body = record_payment(&app, &rep.token, &invoice_id, future, None).await;
    let error = assert_error(&body, "BAD_USER_INPUT");
    assert_eq!(
        error["extensions"]["field"],
        "receivedAt",
        "{}",
        pretty(&body)
    );
    let buyer = buyer(&app, &shop).await;
    let body = record_payment(&app, &buyer.token, &invoice_id, transfer("1"), None).await;
    assert_error(&body, "FORBIDDEN");
    let stored = fetch_invoice(&app, &rep.token, &invoice_id).await;
    assert_eq!(stored["payments"].as_array().map(Vec::len), Some(1));
    assert_eq!(amount(&stored["paid"]), dec("500.00"));
    let current = fetch_order(&app, &rep.token, &id).await;
    assert_eq!(version_of(&current), version_of(&first["order"]));

    // The rest: the invoice is paid, and the delivered order completes by itself.
    let rest = pay(&app, &rep.token, &invoice_id, "700").await;
    assert_eq!(rest["invoice"]["status"], "PAID");
    assert_eq!(rest["invoice"]["fullyPaidOn"], in_days(0).as_str());
    assert_eq!(amount(&rest["invoice"]["outstanding"]), Decimal::ZERO);
    assert_eq!(amount(&rest["invoice"]["paid"]), dec("1200.00"));
    let payments = rest["invoice"]["payments"].as_array().expect("payments");
    assert_eq!(payments.len(), 2);
    assert_eq!(payments[0], first["payment"], "payments oldest first");
    assert_eq!(payments[1], rest["payment"]);
    assert_eq!(rest["order"]["paymentStatus"], "PAID");
    assert_eq!(rest["order"]["status"], "COMPLETED");
    let completed = fetch_order(&app, &rep.token, &id).await;
    assert_eq!(
        (&completed["status"], &completed["paymentStatus"]),
        (&json!("COMPLETED"), &json!("PAID"))
    );
    assert_eq!(version_of(&completed), version_of(&rest["order"]));
    assert_eq!(completed["allowedTransitions"], json!([]));

    let events = order_events(&app, &rep.token, &id).await;
    let since = &events[before_payments.len()..];
    assert_eq!(
        types(since),
        [
            "STATUS_CHANGED",
            "STATUS_CHANGED",
            "STATUS_CHANGED",
            "STATUS_CHANGED",
            "PAYMENT_RECORDED",
            "PAYMENT_STATUS_CHANGED",
            "PAYMENT_RECORDED",
            "PAYMENT_STATUS_CHANGED",
            "STATUS_CHANGED",
        ],
        "{}",
        pretty(&json!(since))
    );
    let recorded: Vec<&Value> = since
        .iter()
        .filter(|e| e["type"] == "PAYMENT_RECORDED")
        .collect();
    assert_eq!(
        recorded[0]["data"]["payment_id"],
        json!(text(&first["payment"]["id"]).parse::<i64>().unwrap()),
        "{}",
        pretty(recorded[0])
    );
    assert_eq!(decimal(&recorded[0]["data"]["amount"]), dec("500"));
    assert_eq!(
        decimal(&recorded[0]["data"]["invoice_outstanding"]),
        dec("700")
    );
    assert_eq!(
        decimal(&recorded[1]["data"]["invoice_outstanding"]),
        Decimal::ZERO
    );
    let statuses: Vec<&Value> = since
        .iter()
        .filter(|e| e["type"] == "PAYMENT_STATUS_CHANGED")
        .map(|e| &e["data"])
        .collect();
    assert_eq!(
        statuses,
        [
            &json!({ "from": "INVOICED", "to": "PARTIALLY_PAID" }),
            &json!({ "from": "PARTIALLY_PAID", "to": "PAID" }),
        ]
    );
    let last = since.last().expect("events");
    assert_eq!(last["data"]["from"], "DELIVERED");
    assert_eq!(last["data"]["to"], "COMPLETED");
    assert_eq!(version_of(last), version_of(&completed));

    // The live feed delivered both payments, and only them.
    for expected in &recorded {
        let event = feed.next_event(EVENT_TIMEOUT).await;
        let event = &event["orderEvents"];
        assert_eq!(event["type"], "PAYMENT_RECORDED", "{}", pretty(event));
        assert_eq!(event["cursor"], expected["cursor"], "{}", pretty(event));
        assert_eq!(event["data"], expected["data"], "{}", pretty(event));
    }
    assert!(
        feed.try_next_event(std::time::Duration::from_millis(500))
            .await
            .is_none(),
        "only PAYMENT_RECORDED events pass the filter"
    );
    feed.close().await;

    // The other way round: paid first, then delivered.
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let (invoice, _) = issued(&app, &rep.token, &order, Value::Null).await;
    let paid = pay(&app, &rep.token, &text(&invoice["id"]), "1200.00").await;
    assert_eq!(paid["order"]["paymentStatus"], "PAID");
    assert_eq!(paid["order"]["status"], "CONFIRMED", "paid is not done");
    let mut order = fetch_order(&app, &rep.token, &id).await;
    assert_eq!(version_of(&order), version_of(&paid["order"]));
    for to in ["IN_PRODUCTION", "READY_TO_SHIP", "SHIPPED"] {
        order = move_order(&app, &rep.token, &order, to, None).await;
    }
    let body = transition(&app, &rep.token, &id, version_of(&order), "DELIVERED", None).await;
    let delivered = order_in(&body, "transitionOrder");
    assert_eq!(delivered["status"], "COMPLETED", "{}", pretty(&delivered));
    assert_eq!(version_of(&delivered), version_of(&order) + 1);
    let events = order_events(&app, &rep.token, &id).await;
    let last_two: Vec<(&Value, &Value, i64)> = events[events.len() - 2..]
        .iter()
        .map(|e| (&e["data"]["from"], &e["data"]["to"], version_of(e)))
        .collect();
    assert_eq!(
        last_two,
        [
            (
                &json!("SHIPPED"),
                &json!("DELIVERED"),
                version_of(&delivered)
            ),
            (
                &json!("DELIVERED"),
                &json!("COMPLETED"),
                version_of(&delivered)
            ),
        ]
    );
}

async fn a_retried_payment_with_its_idempotency_key_records_nothing_new(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let (invoice, _) = issued(&app, &rep.token, &order, Value::Null).await;
    let invoice_id = text(&invoice["id"]);

    let body = record_payment(
        &app,
        &rep.token,
        &invoice_id,
        transfer("100.00"),
        Some("pay-1"),
    )
    .await;
    let first = data(&body)["recordPayment"].clone();
    let events_after_first = order_events(&app, &rep.token, &id).await.len();

    let body = record_payment(
        &app,
        &rep.token,
        &invoice_id,
        transfer("100.00"),
        Some("pay-1"),
    )
    .await;
    let retry = data(&body)["recordPayment"].clone();
    assert_eq!(
        retry["payment"], first["payment"],
        "the first payment, again"
    );
    assert_eq!(amount(&retry["invoice"]["paid"]), dec("100.00"));
    assert_eq!(version_of(&retry["order"]), version_of(&first["order"]));
    let stored = fetch_invoice(&app, &rep.token, &invoice_id).await;
    assert_eq!(stored["payments"], json!([first["payment"]]));
    assert_eq!(amount(&stored["paid"]), dec("100.00"));
    assert_eq!(
        order_events(&app, &rep.token, &id).await.len(),
        events_after_first
    );

    // The key with another amount is another request: refused, nothing recorded.
    let body = record_payment(
        &app,
        &rep.token,
        &invoice_id,
        transfer("200.00"),
        Some("pay-1"),
    )
    .await;
    assert_error(&body, "CONFLICT");
    // So is the key with another reference or against another invoice.
    let other_reference =
        json!({ "amount": "100.00", "method": "BANK_TRANSFER", "reference": "another" });
    let body = record_payment(
        &app,
        &rep.token,
        &invoice_id,
        other_reference,
        Some("pay-1"),
    )
    .await;
    assert_error(&body, "CONFLICT");
    let stored = fetch_invoice(&app, &rep.token, &invoice_id).await;
    assert_eq!(stored["payments"], json!([first["payment"]]));
    assert_eq!(amount(&stored["paid"]), dec("100.00"));

    // Keys belong to one user: the manager's "pay-1" is a payment of its own.
    let body = record_payment(
        &app,
        &shop.manager.token,
        &invoice_id,
        transfer("100.00"),
        Some("pay-1"),
    )
    .await;
    let managers = data(&body)["recordPayment"].clone();
    assert_ne!(managers["payment"]["id"], first["payment"]["id"]);
    assert_eq!(amount(&managers["invoice"]["paid"]), dec("200.00"));

    // A key the rep used to create an order is not a payment's key.
    let body = app
        .gql(
            "mutation($input: CreateOrderInput!) { createOrder(input: $input, idempotencyKey: \"order-key\") { id } }",
            json!({ "input": complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "1")]) }),
            rep.token(),
        )
        .await;
    data(&body);
    let body = record_payment(
        &app,
        &rep.token,
        &invoice_id,
        transfer("1"),
        Some("order-key"),
    )
    .await;
    assert_error(&body, "CONFLICT");
    let body = record_payment(&app, &rep.token, &invoice_id, transfer("1"), Some("")).await;
    assert_error(&body, "BAD_USER_INPUT");
    let body = record_payment(
        &app,
        &rep.token,
        &invoice_id,
        transfer("1"),
        Some(&"k".repeat(256)),
    )
    .await;
    assert_error(&body, "BAD_USER_INPUT");
    let stored = fetch_invoice(&app, &rep.token, &invoice_id).await;
    assert_eq!(stored["payments"].as_array().map(Vec::len), Some(2));
    assert_eq!(amount(&stored["paid"]), dec("200.00"));
}

/// `recordPayment` selecting only the payment, as raw response text.
async fn pay_raw(app: &TestApp, token: &str, invoice_id: &str, amount: &str, key: &str) -> String {
    let query = format!(
        "mutation($id: ID!, $input: PaymentInput!, $key: String) {{
           recordPayment(invoiceId: $id, input: $input, idempotencyKey: $key) {{ payment {{ {PAYMENT_FIELDS} }} }}
         }}"
    );
    let body = json!({
        "query": query,
        "variables": { "id": invoice_id, "input": transfer(amount), "key": key },
    });
    app.http()
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(body.to_string())
        .send()
        .await
        .expect("POST recordPayment")
        .text()
        .await
        .expect("body")
}

async fn twenty_concurrent_retries_of_one_payment_store_it_once_and_answer_byte_for_byte_the_same(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let (invoice, _) = issued(&app, &rep.token, &order, Value::Null).await;
    let invoice_id = text(&invoice["id"]);

    // A phone on a bad connection fires the same payment twenty times at once.
    let answers: Vec<String> = join_all(
        (0..20).map(|_| pay_raw(&app, &rep.token, &invoice_id, "250.00", "crowd-payment")),
    )
    .await;
    let first: Value = serde_json::from_str(&answers[0]).expect("JSON");
    let payment = &data(&first)["recordPayment"]["payment"];
    assert_eq!(
        amount(&payment["amount"]),
        dec("250.00"),
        "{}",
        pretty(&first)
    );
    for (n, answer) in answers.iter().enumerate() {
        assert_eq!(answer, &answers[0], "answer {n} differs");
    }

    let stored = fetch_invoice(&app, &rep.token, &invoice_id).await;
    assert_eq!(stored["payments"], json!([payment]), "exactly one payment");
    assert_eq!(amount(&stored["paid"]), dec("250.00"));
    assert_eq!(amount(&stored["outstanding"]), dec("950.00"));
    let recorded = order_events(&app, &rep.token, &id)
        .await
        .into_iter()
        .filter(|e| e["type"] == "PAYMENT_RECORDED")
        .count();
    assert_eq!(recorded, 1);
    assert_eq!(
        fetch_order(&app, &rep.token, &id).await["paymentStatus"],
        "PARTIALLY_PAID"
    );

    // A later retry still gets the same answer.
    let later = pay_raw(&app, &rep.token, &invoice_id, "250.00", "crowd-payment").await;
    assert_eq!(later, answers[0]);
}

async fn twenty_concurrent_payments_never_pay_more_than_was_invoiced(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let cheap = create_product(&app, &shop.admin.token, "CLIP-15", "15.00").await;
    let order = confirmed_order(
        &app,
        rep,
        &shop.manager,
        &shop.customer_id,
        vec![line(&cheap, "10")],
        None,
    )
    .await;
    let id = id_of(&order);
    let (invoice, _) = issued(&app, &rep.token, &order, Value::Null).await;
    assert_eq!(amount(&invoice["amount"]), dec("150.00"));
    let invoice_id = text(&invoice["id"]);

    // Twenty different payments of 10.00 at once: only fifteen fit.
    let answers: Vec<String> = join_all((0..20).map(|n| {
        let key = format!("instalment-{n}");
        let (app, token, invoice_id) = (&app, &rep.token, &invoice_id);
        async move { pay_raw(app, token, invoice_id, "10.00", &key).await }
    }))
    .await;
    let mut succeeded = HashSet::new();
    let mut refused = 0;
    for answer in &answers {
        let body: Value = serde_json::from_str(answer).expect("JSON");
        match error_code(&body) {
            None => {
                let payment = &body["data"]["recordPayment"]["payment"];
                assert_eq!(amount(&payment["amount"]), dec("10.00"));
                assert!(succeeded.insert(text(&payment["id"])), "{answer}");
            }
            Some(_) => {
                let error = assert_error(&body, "BAD_USER_INPUT");
                assert!(message(error).contains("open balance"), "{answer}");
                refused += 1;
            }
        }
    }
    // What is stored: the payments add up to what the invoice says is paid, and never to more
    // than was invoiced; every payment answered as recorded is stored, and only those.
    let stored = fetch_invoice(&app, &rep.token, &invoice_id).await;
    let payments = stored["payments"].as_array().expect("payments");
    let stored_ids: HashSet<String> = payments.iter().map(|p| text(&p["id"])).collect();
    let received: Decimal = payments.iter().map(|p| amount(&p["amount"])).sum();
    let picture = format!(
        "{} answered as recorded, {refused} refused; {} payments stored adding up to {received}; \
         invoice paid {} of {}, outstanding {}",
        succeeded.len(),
        payments.len(),
        amount(&stored["paid"]),
        amount(&stored["amount"]),
        amount(&stored["outstanding"]),
    );
    assert!(
        received <= dec("150.00"),
        "paid more than invoiced: {picture}"
    );
    assert_eq!(received, amount(&stored["paid"]), "{picture}");
    assert_eq!(stored_ids, succeeded, "{picture}");
    assert_eq!((succeeded.len(), refused), (15, 5), "{picture}");
    assert_eq!(received, dec("150.00"), "{picture}");
    assert_eq!(amount(&stored["outstanding"]), Decimal::ZERO);
    assert_eq!(stored["status"], "PAID");
    let order = fetch_order(&app, &rep.token, &id).await;
    assert_eq!(order["paymentStatus"], "PAID");
    let events = order_events(&app, &rep.token, &id).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "PAYMENT_RECORDED")
            .count(),
        15
    );
    let versions: Vec<i64> = events.iter().map(version_of).collect();
    assert!(versions.is_sorted(), "{versions:?}");
    assert_eq!(versions.last().copied(), Some(version_of(&order)));
}

/// The response must be a PAYMENT_REQUIRED refusal that says why.
#[track_caller]
fn refused(body: &Value) {
    let error = assert_error(body, "PAYMENT_REQUIRED");
    assert!(
        !message(error).trim().is_empty(),
        "the refusal says why: {}",
        pretty(body)
    );
}

async fn prepaid_and_deposit_terms_hold_production_back_until_the_money_is_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;

    // PREPAID: everything before production.
    let order = shop_order(&app, &shop, "10", Some("PREPAID")).await;
    let id = id_of(&order);
    let body = transition(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        "IN_PRODUCTION",
        None,
    )
    .await;
    refused(&body);
    assert!(
        message(&body["errors"][0]).contains("PREPAID"),
        "{}",
        pretty(&body)
    );
    let stored = fetch_order(&app, &rep.token, &id).await;
    assert_eq!(
        (&stored["status"], version_of(&stored)),
        (&json!("CONFIRMED"), version_of(&order))
    );

    let (invoice, order) = issued(&app, &rep.token, &order, Value::Null).await;
    assert_eq!(
        invoice["dueOn"],
        in_days(0).as_str(),
        "PREPAID is due on issue"
    );
    assert_eq!(amount(&invoice["amount"]), dec("1200.00"));
    let invoice_id = text(&invoice["id"]);
    let body = transition(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        "IN_PRODUCTION",
        None,
    )
    .await;
    refused(&body);
    let part = pay(&app, &rep.token, &invoice_id, "1199.99").await;
    let body = transition(
        &app,
        &rep.token,
        &id,
        version_of(&part["order"]),
        "IN_PRODUCTION",
        None,
    )
    .await;
    refused(&body);
    let rest = pay(&app, &rep.token, &invoice_id, "0.01").await;
    assert_eq!(rest["order"]["paymentStatus"], "PAID");
    let order = fetch_order(&app, &rep.token, &id).await;
    move_order(&app, &rep.token, &order, "IN_PRODUCTION", None).await;

    // DEPOSIT_30_NET_60: 30% before production, the rest 60 days after the goods invoice.
    let order = shop_order(&app, &shop, "10", Some("DEPOSIT_30_NET_60")).await;
    let id = id_of(&order);
    let body = transition(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        "IN_PRODUCTION",
        None,
    )
    .await;
    refused(&body);
    assert!(
        message(&body["errors"][0]).contains("30%"),
        "{}",
        pretty(&body)
    );

    let body = issue_invoice(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        json!({ "deposit": true, "lines": [{ "lineId": format!("{id}-1"), "quantity": "1" }] }),
    )
    .await;
    assert_error(&body, "BAD_USER_INPUT");
    let (deposit, order) = issued(&app, &rep.token, &order, json!({ "deposit": true })).await;
    assert_eq!(deposit["kind"], "DEPOSIT");
    assert_eq!(amount(&deposit["amount"]), dec("360.00"), "30% of 1200.00");
    assert_eq!(deposit["issuedOn"], in_days(0).as_str());
    assert_eq!(
        deposit["dueOn"],
        in_days(0).as_str(),
        "a deposit is due on issue"
    );
    assert_eq!(deposit["lines"], json!([]));
    assert_eq!(order["paymentStatus"], "INVOICED");
    let body = issue_invoice(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        json!({ "deposit": true }),
    )
    .await;
    assert_error(&body, "BAD_USER_INPUT");
    let body = transition(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        "IN_PRODUCTION",
        None,
    )
    .await;
    refused(&body);

    let paid = pay(&app, &rep.token, &text(&deposit["id"]), "360.00").await;
    assert_eq!(paid["invoice"]["status"], "PAID");
    assert_eq!(paid["order"]["paymentStatus"], "PARTIALLY_PAID");
    let order = fetch_order(&app, &rep.token, &id).await;
    let order = move_order(&app, &rep.token, &order, "IN_PRODUCTION", None).await;

    // The goods invoice credits the deposit.
    let (goods, order) = issued(&app, &rep.token, &order, Value::Null).await;
    assert_eq!(goods["kind"], "STANDARD");
    assert_eq!(amount(&goods["depositCredit"]), dec("360.00"));
    assert_eq!(amount(&goods["amount"]), dec("840.00"));
    assert_eq!(goods["dueOn"], in_days(60).as_str(), "NET_60 for the rest");
    assert_eq!(goods["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(amount(&goods["lines"][0]["amount"]), dec("1200.00"));
    assert_eq!(order["paymentStatus"], "PARTIALLY_PAID");
    let body = record_payment(
        &app,
        &rep.token,
        &text(&goods["id"]),
        transfer("840.01"),
        None,
    )
    .await;
    assert_error(&body, "BAD_USER_INPUT");
    let paid = pay(&app, &rep.token, &text(&goods["id"]), "840.00").await;
    assert_eq!(paid["order"]["paymentStatus"], "PAID");
    assert_eq!(paid["order"]["status"], "IN_PRODUCTION");

    // NET terms ask for no deposit.
    let net = shop.confirmed_order(&app).await;
    let body = issue_invoice(
        &app,
        &rep.token,
        &id_of(&net),
        version_of(&net),
        json!({ "deposit": true }),
    )
    .await;
    let error = assert_error(&body, "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], "deposit", "{}", pretty(&body));
    assert!(message(error).contains("NET_30"), "{}", pretty(&body));
    // ... and are never held back.
    move_order(&app, &rep.token, &net, "IN_PRODUCTION", None).await;
}

async fn only_an_unpaid_invoice_can_be_voided_and_then_it_stops_counting(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let (invoice, order) = issued(&app, &rep.token, &order, Value::Null).await;
    let invoice_id = text(&invoice["id"]);

    for reason in ["", "   "] {
        let body = void_invoice(&app, &rep.token, &invoice_id, reason).await;
        let error = assert_error(&body, "BAD_USER_INPUT");
        assert_eq!(error["extensions"]["field"], "reason", "{}", pretty(&body));
    }
    let buyer = buyer(&app, &shop).await;
    assert_error(
        &void_invoice(&app, &buyer.token, &invoice_id, "mine").await,
        "FORBIDDEN",
    );
    assert_error(
        &void_invoice(&app, &rep.token, "987654", "no such invoice").await,
        "NOT_FOUND",
    );
    assert_eq!(fetch_invoice(&app, &rep.token, &invoice_id).await, invoice);

    let body = void_invoice(&app, &rep.token, &invoice_id, "wrong delivery address").await;
    let payload = &data(&body)["voidInvoice"];
    let voided = &payload["invoice"];
    assert_eq!(voided["status"], "VOID");
    assert_eq!(voided["voidReason"], "wrong delivery address");
    assert_eq!(amount(&voided["outstanding"]), Decimal::ZERO);
    assert_eq!(voided["number"], invoice["number"]);
    assert_eq!(payload["order"]["paymentStatus"], "UNINVOICED");
    assert_eq!(version_of(&payload["order"]), version_of(&order) + 1);
    assert_eq!(&fetch_invoice(&app, &rep.token, &invoice_id).await, voided);
    let events = order_events(&app, &rep.token, &id).await;
    let last_two = &events[events.len() - 2..];
    assert_eq!(
        types(last_two),
        ["INVOICE_VOIDED", "PAYMENT_STATUS_CHANGED"]
    );
    assert_eq!(last_two[0]["data"]["reason"], "wrong delivery address");
    assert_eq!(last_two[0]["data"]["number"], invoice["number"]);
    assert_eq!(
        last_two[1]["data"],
        json!({ "from": "INVOICED", "to": "UNINVOICED" })
    );

    // Void twice, or pay a void invoice: refused.
    assert_error(
        &void_invoice(&app, &rep.token, &invoice_id, "again").await,
        "BAD_USER_INPUT",
    );
    assert_error(
        &record_payment(&app, &rep.token, &invoice_id, transfer("1"), None).await,
        "BAD_USER_INPUT",
    );
    // It no longer counts: nobody owes anything, and the order can be invoiced in full again.
    let receivables = app
        .gql("{ receivables { nodes { id } } }", json!({}), rep.token())
        .await;
    assert_eq!(data(&receivables)["receivables"]["nodes"], json!([]));
    let order = fetch_order(&app, &rep.token, &id).await;
    let (again, order) = issued(&app, &rep.token, &order, Value::Null).await;
    assert_eq!(amount(&again["amount"]), dec("1200.00"));
    assert_ne!(again["number"], invoice["number"]);
    assert_eq!(order["paymentStatus"], "INVOICED");

    // With a payment it stays.
    pay(&app, &rep.token, &text(&again["id"]), "1.00").await;
    let body = void_invoice(&app, &rep.token, &text(&again["id"]), "changed our mind").await;
    let error = assert_error(&body, "BAD_USER_INPUT");
    assert!(message(error).contains("payments"), "{}", pretty(&body));
    let stored = fetch_invoice(&app, &rep.token, &text(&again["id"])).await;
    assert_eq!(stored["status"], "OPEN");
    assert_eq!(stored["voidReason"], Value::Null);
    assert_eq!(
        fetch_order(&app, &rep.token, &id).await["paymentStatus"],
        "PARTIALLY_PAID"
    );
}

async fn a_void_racing_payments_never_voids_money_received(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    // Several rounds: the race has several chances to show.
    for round in 0..6 {
        let order = shop.confirmed_order(&app).await;
        let (invoice, _) = issued(&app, &rep.token, &order, Value::Null).await;
        let invoice_id = text(&invoice["id"]);
        let (voided, payments) = tokio::join!(
            void_invoice(&app, &shop.manager.token, &invoice_id, "raced"),
            join_all((0..5).map(|n| {
                let key = format!("race-{round}-{n}");
                let (app, token, invoice_id) = (&app, &rep.token, &invoice_id);
                async move { pay_raw(app, token, invoice_id, "10.00", &key).await }
            })),
        );
        let recorded = payments
            .iter()
            .filter(|answer| !answer.contains("\"errors\""))
            .count();
        let stored = fetch_invoice(&app, &rep.token, &invoice_id).await;
        let stored_payments = stored["payments"].as_array().expect("payments").len();
        let received: Decimal = stored["payments"]
            .as_array()
            .expect("payments")
            .iter()
            .map(|p| amount(&p["amount"]))
            .sum();
        let picture = format!(
            "round {round}: void {}; {recorded} payments answered as recorded, {stored_payments} \
             stored adding up to {received}; invoice {} with paid {}",
            error_code(&voided).unwrap_or_else(|| "succeeded".to_owned()),
            stored["status"],
            amount(&stored["paid"]),
        );
        assert_eq!(stored_payments, recorded, "{picture}");
        assert_eq!(received, amount(&stored["paid"]), "{picture}");
        match error_code(&voided) {
            None => {
                assert_eq!(stored["status"], "VOID", "{picture}");
                assert_eq!(recorded, 0, "a void invoice holds no money: {picture}");
            }
            Some(_) => {
                assert_error(&voided, "BAD_USER_INPUT");
                assert!(recorded > 0, "{picture}");
                assert_eq!(stored["status"], "OPEN", "{picture}");
            }
        }
    }
}

/// One page of `receivables`.
async fn receivables(
    app: &TestApp,
    token: &str,
    first: i64,
    after: Option<&str>,
    filter: Value,
) -> Value {
    let body = app
        .gql(
            "query($first: Int, $after: String, $filter: ReceivableFilterInput) {
               receivables(first: $first, after: $after, filter: $filter) {
                 nodes { id number dueOn daysOverdue outstanding { amount currency } customer { id } }
                 pageInfo { hasNextPage endCursor }
               }
             }",
            json!({ "first": first, "after": after, "filter": filter }),
            Some(token),
        )
        .await;
    data(&body)["receivables"].clone()
}

/// The invoice ids of a receivables page.
fn ids(page: &Value) -> Vec<String> {
    page["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes: {}", pretty(page)))
        .iter()
        .map(id_of)
        .collect()
}

const AGING: &str = "query($asOf: NaiveDate, $groupBy: AgingGroupBy!) {
  agingReport(asOf: $asOf, groupBy: $groupBy) {
    customer { id } salesRep { id }
    current { amount currency } days1To30 { amount } days31To60 { amount } days61To90 { amount }
    over90 { amount } total { amount currency } invoiceCount
  }
}";

async fn aging_raw(app: &TestApp, token: &str, as_of: &str, group_by: &str) -> Value {
    app.gql(
        AGING,
        json!({ "asOf": as_of, "groupBy": group_by }),
        Some(token),
    )
    .await
}

/// The rows of an aging report; each row's buckets must add up to its total.
async fn aging(app: &TestApp, token: &str, as_of: &str, group_by: &str) -> Vec<Value> {
    let body = aging_raw(app, token, as_of, group_by).await;
    let rows = data(&body)["agingReport"].as_array().expect("rows").clone();
    for row in &rows {
        let buckets: Decimal = ["current", "days1To30", "days31To60", "days61To90", "over90"]
            .iter()
            .map(|b| amount(&row[b]))
            .sum();
        assert_eq!(buckets, amount(&row["total"]), "{}", pretty(row));
    }
    rows
}

/// `today + days`, shifted from a date given as `YYYY-MM-DD`.
fn plus_days(date: &str, days: i64) -> String {
    let date: chrono::NaiveDate = date.parse().expect("a date");
    (date + chrono::Duration::days(days)).to_string()
}

/// `customer.paymentBehaviour` as `token` sees it.
async fn behaviour(app: &TestApp, customer_id: &str, token: &str) -> Value {
    app.gql(
        "query($id: ID!) { customer(id: $id) { paymentBehaviour { invoicesPaid averageDaysLate onTimeShare } } }",
        json!({ "id": customer_id }),
        Some(token),
    )
    .await
}

async fn receivables_aging_and_payment_behaviour_show_each_user_what_they_may_see(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let (other, other_customer) = shop.other_rep(&app).await;
    let buyer = buyer(&app, &shop).await;

    // The rep's customer owes 1200.00 (A) and 1000.00 of 1200.00 (B), and has paid C in full
    // a day before it was even due; the other rep's customer owes 600.00 (D).
    let a = shop.confirmed_order(&app).await;
    let (a, _) = issued(&app, &rep.token, &a, Value::Null).await;
    let b = shop.confirmed_order(&app).await;
    let (b, _) = issued(&app, &rep.token, &b, Value::Null).await;
    pay(&app, &rep.token, &text(&b["id"]), "200.00").await;
    let c = shop_order(&app, &shop, "1", Some("PREPAID")).await;
    let (c, _) = issued(&app, &rep.token, &c, Value::Null).await;
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    let body = record_payment(
        &app,
        &rep.token,
        &text(&c["id"]),
        json!({ "amount": "120.00", "method": "CARD", "receivedAt": yesterday.to_rfc3339() }),
        None,
    )
    .await;
    let c_paid = &data(&body)["recordPayment"]["invoice"];
    assert_eq!(c_paid["status"], "PAID");
    assert_eq!(
        c_paid["fullyPaidOn"],
        yesterday.date_naive().to_string().as_str()
    );
    let d = confirmed_order(
        &app,
        &other,
        &other,
        &other_customer,
        vec![line(&shop.product_id, "5")],
        None,
    )
    .await;
    let (d, _) = issued(&app, &other.token, &d, Value::Null).await;
    let [a_id, b_id, d_id] = [&a, &b, &d].map(id_of);
    let [a_id, b_id, d_id] = [a_id.as_str(), b_id.as_str(), d_id.as_str()];

    // Open invoices, newest first, each user seeing only their own.
    let all = receivables(&app, &shop.admin.token, 100, None, json!({})).await;
    assert_eq!(ids(&all), [d_id, b_id, a_id], "{}", pretty(&all));
    let nodes = all["nodes"].as_array().expect("nodes");
    assert_eq!(amount(&nodes[1]["outstanding"]), dec("1000.00"));
    assert_eq!(amount(&nodes[2]["outstanding"]), dec("1200.00"));
    assert_eq!(amount(&nodes[0]["outstanding"]), dec("600.00"));
    assert!(
        nodes.iter().all(|n| n["daysOverdue"] == 0),
        "{}",
        pretty(&all)
    );
    for (user, expected) in [
        (rep, vec![b_id, a_id]),
        (&shop.manager, vec![b_id, a_id]),
        (&buyer, vec![b_id, a_id]),
        (&other, vec![d_id]),
    ] {
        let page = receivables(&app, &user.token, 100, None, json!({})).await;
        assert_eq!(ids(&page), expected, "{}: {}", user.email, pretty(&page));
    }
    // Filters, also combined with the scope.
    for (filter, expected) in [
        (json!({ "customerId": other_customer }), vec![d_id]),
        (json!({ "customerId": shop.customer_id }), vec![b_id, a_id]),
        (json!({ "salesRepId": rep.id }), vec![b_id, a_id]),
        (json!({ "salesRepId": other.id }), vec![d_id]),
        (json!({ "overdueOnly": true }), Vec::<&str>::new()),
        (json!({ "overdueOnly": false }), vec![d_id, b_id, a_id]),
    ] {
        let page = receivables(&app, &shop.admin.token, 100, None, filter.clone()).await;
        assert_eq!(ids(&page), expected, "{filter}: {}", pretty(&page));
    }
    let page = receivables(
        &app,
        &rep.token,
        100,
        None,
        json!({ "customerId": other_customer }),
    )
    .await;
    assert!(ids(&page).is_empty(), "a filter never widens the scope");
    // Keyset pages.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = receivables(&app, &shop.admin.token, 2, after.as_deref(), json!({})).await;
        seen.extend(ids(&page));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        assert_eq!(ids(&page).len(), 2);
        after = Some(text(&page["pageInfo"]["endCursor"]));
    }
    assert_eq!(seen, [d_id, b_id, a_id]);

    // Days overdue as of a later day.
    let due = text(&a["dueOn"]);
    let body = app
        .gql(
            "query($id: ID!, $asOf: NaiveDate) { invoice(id: $id) { daysOverdue(asOf: $asOf) } }",
            json!({ "id": a_id, "asOf": plus_days(&due, 45) }),
            rep.token(),
        )
        .await;
    assert_eq!(data(&body)["invoice"]["daysOverdue"], 45);

    // Aging 45 days after the due date (all three invoices fall due on the same day).
    let as_of = plus_days(&due, 45);
    let by_customer = aging(&app, &shop.admin.token, &as_of, "CUSTOMER").await;
    assert_eq!(by_customer.len(), 2, "{}", pretty(&json!(by_customer)));
    let (mine, theirs) = (&by_customer[0], &by_customer[1]);
    assert_eq!(
        mine["customer"]["id"],
        shop.customer_id.as_str(),
        "largest first"
    );
    assert_eq!(mine["salesRep"], Value::Null);
    assert_eq!(amount(&mine["days31To60"]), dec("2200.00"));
    assert_eq!(amount(&mine["total"]), dec("2200.00"));
    assert_eq!(mine["total"]["currency"], "EUR");
    assert_eq!(mine["invoiceCount"], 2);
    assert_eq!(theirs["customer"]["id"], other_customer.as_str());
    assert_eq!(amount(&theirs["days31To60"]), dec("600.00"));
    assert_eq!(theirs["invoiceCount"], 1);
    let by_rep = aging(&app, &shop.admin.token, &as_of, "SALES_REP").await;
    let reps: Vec<(&Value, Decimal)> = by_rep
        .iter()
        .map(|row| (&row["salesRep"]["id"], amount(&row["total"])))
        .collect();
    assert_eq!(
        reps,
        [
            (&json!(rep.id), dec("2200.00")),
            (&json!(other.id), dec("600.00"))
        ]
    );
    assert!(by_rep.iter().all(|row| row["customer"].is_null()));
    let rows = aging(&app, &rep.token, &as_of, "SALES_REP").await;
    assert_eq!(rows.len(), 1, "{}", pretty(&json!(rows)));
    assert_eq!(rows[0]["salesRep"]["id"], rep.id.as_str());
    // Bucket boundaries, days past due -> bucket.
    for (days, bucket) in [
        (-10, "current"),
        (0, "current"),
        (1, "days1To30"),
        (30, "days1To30"),
        (31, "days31To60"),
        (60, "days31To60"),
        (61, "days61To90"),
        (90, "days61To90"),
        (91, "over90"),
        (400, "over90"),
    ] {
        let rows = aging(&app, &other.token, &plus_days(&due, days), "CUSTOMER").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(
            amount(&rows[0][bucket]),
            dec("600.00"),
            "{days} days: {}",
            pretty(&rows[0])
        );
    }
    assert_error(
        &aging_raw(&app, &buyer.token, &as_of, "CUSTOMER").await,
        "FORBIDDEN",
    );

    // Payment behaviour: C was paid before it was due.
    let body = behaviour(&app, &shop.customer_id, &rep.token).await;
    let mine = &data(&body)["customer"]["paymentBehaviour"];
    assert_eq!(mine["invoicesPaid"], 1, "{}", pretty(mine));
    assert_eq!(decimal(&mine["onTimeShare"]), Decimal::ONE);
    assert_eq!(decimal(&mine["averageDaysLate"]), Decimal::ZERO);
    let body = behaviour(&app, &other_customer, &other.token).await;
    assert_eq!(
        data(&body)["customer"]["paymentBehaviour"],
        json!({ "invoicesPaid": 0, "averageDaysLate": null, "onTimeShare": null })
    );
    let body = behaviour(&app, &shop.customer_id, &buyer.token).await;
    assert_error(&body, "FORBIDDEN");
}

async fn open_receivables_count_toward_the_credit_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let mut input = customer_input("Tight Credit KG", Some(&rep.id), "EUR");
    input["creditLimit"] = json!("2000.00");
    let body = app
        .gql(
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }",
            json!({ "input": input }),
            Some(&shop.admin.token),
        )
        .await;
    let tight = id_of(&data(&body)["createCustomer"]);
    let order =
        |quantity: &str| complete_order_input(&tight, vec![line(&shop.product_id, quantity)]);
    let findings = async |quantity: &str| {
        let draft = create_order(&app, &rep.token, order(quantity)).await;
        let body = submit_order(&app, &rep.token, &id_of(&draft), version_of(&draft)).await;
        order_in(&body, "submitOrder")
    };

    // 1200.00 confirmed and invoiced, not paid.
    let first = confirmed_order(
        &app,
        rep,
        &shop.manager,
        &tight,
        vec![line(&shop.product_id, "10")],
        None,
    )
    .await;
    let (invoice, _) = issued(&app, &rep.token, &first, Value::Null).await;

    // 1200.00 owed + 1200.00 more > 2000.00.
    let second = findings("10").await;
    assert_eq!(second["status"], "PENDING_APPROVAL", "{}", pretty(&second));
    let found: Vec<&Value> = second["reviewFindings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "CREDIT_LIMIT_EXCEEDED")
        .collect();
    assert_eq!(found.len(), 1, "{}", pretty(&second));
    let said = text(&found[0]["message"]);
    for part in [
        "open receivables 1200.00",
        "unbilled confirmed orders 0.00",
        "2400.00",
        "2000.00",
    ] {
        assert!(said.contains(part), "{part} not in: {said}");
    }

    // 400.00 paid: 800.00 owed + 1200.00 = 2000.00, exactly the limit.
    pay(&app, &rep.token, &text(&invoice["id"]), "400.00").await;
    let third = findings("10").await;
    assert_eq!(third["status"], "APPROVED", "{}", pretty(&third));
    assert!(
        third["reviewFindings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f["code"] != "CREDIT_LIMIT_EXCEEDED"),
        "{}",
        pretty(&third)
    );
    // One cent more is above it.
    let cheap = create_product(&app, &shop.admin.token, "CENT-1", "0.01").await;
    let draft = create_order(
        &app,
        &rep.token,
        complete_order_input(
            &tight,
            vec![line(&shop.product_id, "10"), line(&cheap, "1")],
        ),
    )
    .await;
    let body = submit_order(&app, &rep.token, &id_of(&draft), version_of(&draft)).await;
    let over = order_in(&body, "submitOrder");
    assert!(
        over["reviewFindings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["code"] == "CREDIT_LIMIT_EXCEEDED"),
        "{}",
        pretty(&over)
    );
}

/// Three ways around the money rules, closed: shipping a PREPAID order from stock (CONFIRMED ->
/// READY_TO_SHIP) unpaid, a DEPOSIT order whose goods invoice was issued and paid first, and
/// cancelling an order whose invoices would stay receivable.
async fn money_gates_cover_stock_shipments_deposits_paid_through_goods_and_cancellation(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;

    let prepaid = shop_order(&app, &shop, "10", Some("PREPAID")).await;
    let body = transition(
        &app,
        &rep.token,
        &id_of(&prepaid),
        version_of(&prepaid),
        "READY_TO_SHIP",
        None,
    )
    .await;
    refused(&body);
    assert_eq!(
        fetch_order(&app, &rep.token, &id_of(&prepaid)).await["status"],
        "CONFIRMED"
    );

    // Goods invoiced and paid before anyone thought of the deposit: the money is in.
    let deposit = shop_order(&app, &shop, "10", Some("DEPOSIT_30_NET_60")).await;
    let (invoice, order) = issued(&app, &rep.token, &deposit, Value::Null).await;
    let body = transition(
        &app,
        &rep.token,
        &id_of(&order),
        version_of(&order),
        "IN_PRODUCTION",
        None,
    )
    .await;
    refused(&body);
    let paid = pay(&app, &rep.token, &text(&invoice["id"]), "400.00").await;
    let body = transition(
        &app,
        &rep.token,
        &id_of(&order),
        version_of(&paid["order"]),
        "IN_PRODUCTION",
        None,
    )
    .await;
    assert_eq!(
        order_in(&body, "transitionOrder")["status"],
        "IN_PRODUCTION",
        "{}",
        pretty(&body)
    );

    // An invoiced order cannot be cancelled until its invoices are voided.
    let net = shop.confirmed_order(&app).await;
    let (invoice, order) = issued(&app, &rep.token, &net, Value::Null).await;
    let manager = &shop.manager;
    let body = transition(
        &app,
        &manager.token,
        &id_of(&order),
        version_of(&order),
        "CANCELLED",
        Some("customer withdrew"),
    )
    .await;
    let error = assert_error(&body, "INVALID_TRANSITION");
    assert!(
        message(error).contains(&text(&invoice["number"])),
        "names the invoice: {}",
        pretty(&body)
    );
    let voided = void_invoice(&app, &rep.token, &text(&invoice["id"]), "order withdrawn").await;
    let order = &data(&voided)["voidInvoice"]["order"];
    let body = transition(
        &app,
        &manager.token,
        &id_of(order),
        version_of(order),
        "CANCELLED",
        Some("customer withdrew"),
    )
    .await;
    assert_eq!(
        order_in(&body, "transitionOrder")["status"],
        "CANCELLED",
        "{}",
        pretty(&body)
    );
}

/// Every field of a collection activity.
const ACTIVITY_FIELDS: &str = "id invoiceId kind note promisedDate promisedAmount { amount currency } loggedBy { id } createdAt";

async fn log_collection(app: &TestApp, token: &str, invoice_id: &str, input: Value) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $input: CollectionActivityInput!) {{
               logCollectionActivity(invoiceId: $id, input: $input) {{ {ACTIVITY_FIELDS} }}
             }}"
        ),
        json!({ "id": invoice_id, "input": input }),
        Some(token),
    )
    .await
}

/// Logs a collection activity, which must succeed; returns it.
async fn logged(app: &TestApp, token: &str, invoice_id: &str, input: Value) -> Value {
    let body = log_collection(app, token, invoice_id, input).await;
    data(&body)["logCollectionActivity"].clone()
}

async fn collection_activities(app: &TestApp, token: &str, invoice_id: &str) -> Value {
    app.gql(
        &format!(
            "query($id: ID!) {{ invoice(id: $id) {{ collectionActivities {{ {ACTIVITY_FIELDS} }} }} }}"
        ),
        json!({ "id": invoice_id }),
        Some(token),
    )
    .await
}

async fn my_collections_raw(app: &TestApp, token: &str) -> Value {
    app.gql(
        &format!(
            "{{ myCollections {{ invoice {{ id number status }} daysOverdue brokenPromise {{ {ACTIVITY_FIELDS} }} }} }}"
        ),
        json!({}),
        Some(token),
    )
    .await
}

async fn my_collections(app: &TestApp, token: &str) -> Vec<Value> {
    let body = my_collections_raw(app, token).await;
    data(&body)["myCollections"]
        .as_array()
        .unwrap_or_else(|| panic!("myCollections is not a list:\n{}", pretty(&body)))
        .clone()
}

/// The invoice ids of `myCollections`.
fn collected(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| text(&i["invoice"]["id"])).collect()
}

async fn reps_log_collection_work_and_chase_invoices_whose_promise_to_pay_was_broken(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let (other, _) = shop.other_rep(&app).await;
    let buyer = buyer(&app, &shop).await;
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string();

    // An open invoice of 1200.00, 200.00 paid: 1000.00 to collect.
    let order = shop.confirmed_order(&app).await;
    let order_id = id_of(&order);
    let (invoice, _) = issued(&app, &rep.token, &order, Value::Null).await;
    let invoice_id = text(&invoice["id"]);
    let number = text(&invoice["number"]);
    pay(&app, &rep.token, &invoice_id, "200.00").await;

    // The rep logs a reminder, a call, a dispute and a promise to pay.
    let inputs = [
        json!({ "kind": "REMINDER", "note": "  statement sent  " }),
        json!({ "kind": "CALL", "note": "spoke to accounts payable" }),
        json!({ "kind": "DISPUTE", "note": "two widgets arrived scratched" }),
        json!({
            "kind": "PROMISE_TO_PAY",
            "note": "half next week",
            "promisedDate": in_days(7),
            "promisedAmount": "500.00",
        }),
    ];
    let mut activities = Vec::new();
    for input in &inputs {
        let activity = logged(&app, &rep.token, &invoice_id, input.clone()).await;
        assert_eq!(activity["kind"], input["kind"], "{}", pretty(&activity));
        assert_eq!(activity["invoiceId"], invoice_id.as_str());
        assert_eq!(activity["loggedBy"]["id"], rep.id.as_str());
        activities.push(activity);
    }
    assert_eq!(
        activities[0]["note"], "statement sent",
        "the note is trimmed"
    );
    assert_eq!(activities[0]["promisedDate"], Value::Null);
    assert_eq!(activities[0]["promisedAmount"], Value::Null);
    let promise = &activities[3];
    assert_eq!(promise["promisedDate"], in_days(7).as_str());
    assert_eq!(amount(&promise["promisedAmount"]), dec("500.00"));
    assert_eq!(promise["promisedAmount"]["currency"], "EUR");
    let activity_ids: Vec<i64> = activities
        .iter()
        .map(|a| text(&a["id"]).parse().expect("a numeric id"))
        .collect();
    assert!(
        activity_ids.windows(2).all(|w| w[0] < w[1]),
        "{activity_ids:?}"
    );

    // The invoice shows them, oldest first, exactly as returned.
    let body = collection_activities(&app, &rep.token, &invoice_id).await;
    assert_eq!(
        data(&body)["invoice"]["collectionActivities"],
        json!(activities),
        "{}",
        pretty(&body)
    );
    let body = collection_activities(&app, &shop.manager.token, &invoice_id).await;
    assert_eq!(
        data(&body)["invoice"]["collectionActivities"],
        json!(activities)
    );

    // Each is a COLLECTION_LOGGED event of the order, with its data.
    let events = order_events(&app, &rep.token, &order_id).await;
    let last_four = &events[events.len() - 4..];
    assert_eq!(
        types(last_four),
        ["COLLECTION_LOGGED"; 4],
        "{}",
        pretty(&json!(events))
    );
    for ((event, activity), id) in last_four.iter().zip(&activities).zip(&activity_ids) {
        let event_data = &event["data"];
        assert_eq!(event["actor"]["id"], rep.id.as_str());
        assert_eq!(event_data["activity_id"], json!(id), "{}", pretty(event));
        assert_eq!(
            event_data["invoice_id"],
            json!(invoice_id.parse::<i64>().unwrap())
        );
        assert_eq!(event_data["invoice_number"], number.as_str());
        assert_eq!(event_data["kind"], activity["kind"]);
    }
    assert_eq!(last_four[0]["data"]["promised_date"], Value::Null);
    assert_eq!(last_four[0]["data"]["promised_amount"], Value::Null);
    assert_eq!(last_four[3]["data"]["promised_date"], in_days(7).as_str());
    assert_eq!(
        decimal(&last_four[3]["data"]["promised_amount"]),
        dec("500")
    );

    // Bad input is refused, naming the field, and stores nothing.
    for (input, field) in [
        (
            json!({ "kind": "PROMISE_TO_PAY", "promisedAmount": "10.00" }),
            "promisedDate",
        ),
        (
            json!({ "kind": "PROMISE_TO_PAY", "promisedDate": in_days(3), "promisedAmount": "1000.01" }),
            "promisedAmount",
        ),
        (
            json!({ "kind": "PROMISE_TO_PAY", "promisedDate": in_days(3), "promisedAmount": "0" }),
            "promisedAmount",
        ),
        (
            json!({ "kind": "PROMISE_TO_PAY", "promisedDate": in_days(3), "promisedAmount": "1.001" }),
            "promisedAmount",
        ),
        (
            json!({ "kind": "REMINDER", "promisedDate": in_days(3) }),
            "promisedDate",
        ),
    ] {
        let body = log_collection(&app, &rep.token, &invoice_id, input.clone()).await;
        let error = assert_error(&body, "BAD_USER_INPUT");
        assert_eq!(
            error["extensions"]["field"],
            field,
            "{input}: {}",
            pretty(&body)
        );
    }
    let body = log_collection(
        &app,
        &rep.token,
        &invoice_id,
        json!({
            "kind": "PROMISE_TO_PAY", "promisedDate": in_days(3), "promisedAmount": "1000.01",
        }),
    )
    .await;
    assert!(
        message(assert_error(&body, "BAD_USER_INPUT")).contains("1000.00 EUR"),
        "the message names the open balance: {}",
        pretty(&body)
    );
    // Only staff log collection work, and only on invoices they may see.
    let reminder = json!({ "kind": "REMINDER" });
    assert_error(
        &log_collection(&app, &buyer.token, &invoice_id, reminder.clone()).await,
        "FORBIDDEN",
    );
    assert_error(
        &log_collection(&app, &other.token, &invoice_id, reminder.clone()).await,
        "NOT_FOUND",
    );
    assert_error(
        &log_collection(&app, &rep.token, "987654", reminder.clone()).await,
        "NOT_FOUND",
    );
    assert_error(
        &collection_activities(&app, &buyer.token, &invoice_id).await,
        "FORBIDDEN",
    );
    let body = collection_activities(&app, &rep.token, &invoice_id).await;
    assert_eq!(
        data(&body)["invoice"]["collectionActivities"],
        json!(activities),
        "refused activities store nothing"
    );
    let events_after = order_events(&app, &rep.token, &order_id).await;
    assert_eq!(events_after.len(), events.len(), "nor any event");

    // Nothing to chase yet: the invoice is not overdue and its promise is still ahead.
    assert_eq!(my_collections(&app, &rep.token).await, Vec::<Value>::new());

    // A second invoice whose customer promised to pay by yesterday, and has not.
    let second = shop.confirmed_order(&app).await;
    let (second, _) = issued(&app, &rep.token, &second, Value::Null).await;
    let second_id = text(&second["id"]);
    let broken = logged(
        &app,
        &rep.token,
        &second_id,
        json!({ "kind": "PROMISE_TO_PAY", "promisedDate": yesterday, "note": "by yesterday" }),
    )
    .await;
    assert_eq!(broken["promisedDate"], yesterday.as_str());
    assert_eq!(broken["promisedAmount"], Value::Null);
    // A third, promised 100.00 by yesterday.
    let third = shop.confirmed_order(&app).await;
    let (third, _) = issued(&app, &rep.token, &third, Value::Null).await;
    let third_id = text(&third["id"]);
    let partial = logged(
        &app,
        &rep.token,
        &third_id,
        json!({ "kind": "PROMISE_TO_PAY", "promisedDate": yesterday, "promisedAmount": "100.00" }),
    )
    .await;

    let items = my_collections(&app, &rep.token).await;
    assert_eq!(
        collected(&items),
        [second_id.clone(), third_id.clone()],
        "{}",
        pretty(&json!(items))
    );
    assert_eq!(items[0]["daysOverdue"], 0, "issued today: not overdue");
    assert_eq!(items[0]["invoice"]["status"], "OPEN");
    assert_eq!(items[0]["brokenPromise"], broken);
    assert_eq!(items[1]["brokenPromise"], partial);
    // Only for the order's rep: the other rep and the manager have nothing to chase.
    assert_eq!(
        my_collections(&app, &other.token).await,
        Vec::<Value>::new()
    );
    assert_eq!(
        my_collections(&app, &shop.manager.token).await,
        Vec::<Value>::new()
    );
    assert_error(&my_collections_raw(&app, &buyer.token).await, "FORBIDDEN");

    // 100.00 received today is after the promised date: still broken.
    pay(&app, &rep.token, &third_id, "100.00").await;
    assert_eq!(
        collected(&my_collections(&app, &rep.token).await),
        [second_id.clone(), third_id.clone()]
    );
    // A fresh promise on the third, by yesterday, kept by a payment received yesterday: the
    // latest broken promise is still the first one.
    let kept = logged(
        &app,
        &rep.token,
        &third_id,
        json!({ "kind": "PROMISE_TO_PAY", "promisedDate": yesterday, "promisedAmount": "50.00" }),
    )
    .await;
    let received_yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    let body = record_payment(
        &app,
        &rep.token,
        &third_id,
        json!({ "amount": "50.00", "method": "CARD", "receivedAt": received_yesterday.to_rfc3339() }),
        None,
    )
    .await;
    data(&body);
    let items = my_collections(&app, &rep.token).await;
    assert_eq!(collected(&items), [second_id.clone(), third_id.clone()]);
    assert_eq!(items[1]["brokenPromise"], partial, "{}", pretty(&kept));

    // A promise with a future date does not make an invoice appear.
    let fourth = shop.confirmed_order(&app).await;
    let (fourth, _) = issued(&app, &rep.token, &fourth, Value::Null).await;
    logged(
        &app,
        &rep.token,
        &text(&fourth["id"]),
        json!({ "kind": "PROMISE_TO_PAY", "promisedDate": in_days(1) }),
    )
    .await;
    assert_eq!(
        collected(&my_collections(&app, &rep.token).await),
        [second_id.clone(), third_id.clone()]
    );

    // Paid in full, the second is gone, and there is nothing left to collect on it.
    let paid = pay(&app, &rep.token, &second_id, "1200.00").await;
    assert_eq!(paid["invoice"]["status"], "PAID");
    assert_eq!(
        collected(&my_collections(&app, &rep.token).await),
        [third_id.as_str()]
    );
    let body = log_collection(&app, &rep.token, &second_id, reminder.clone()).await;
    let error = assert_error(&body, "BAD_USER_INPUT");
    assert!(
        message(error).contains("nothing to collect"),
        "{}",
        pretty(&body)
    );
    let paid = pay(&app, &rep.token, &third_id, "1050.00").await;
    assert_eq!(paid["invoice"]["status"], "PAID");
    assert_eq!(my_collections(&app, &rep.token).await, Vec::<Value>::new());
}
