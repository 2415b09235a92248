//! Review on submit as a user sees it: each rule's finding and where the order lands, stored
//! findings and their event, the `reviewOrder` preview, the managers' approval queue, the review
//! configuration file, and recording the customer's confirmation.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Backend, Role, TestApp, TestUser, UserOptions, assert_error, data, spawn_app};

use crate::fixtures::{
    Shop, approve_order, complete_order_input, create_order, create_order_raw, create_product,
    customer_input, dec, decimal, fetch_order, id_of, in_days, line, move_order, order_events,
    order_in, page_ids, submit, text, update_draft, version_of, with_order_fields,
};

backend_tests!(
    missing_lines_address_or_date_are_blockers_and_the_order_needs_revision,
    prices_and_currencies_are_checked_against_the_current_catalogue,
    a_discount_above_the_reps_authority_needs_approval,
    confirmed_orders_count_toward_the_credit_limit_and_drafts_or_cancelled_ones_do_not,
    a_requested_date_inside_the_lead_time_needs_approval_and_the_boundary_is_accepted,
    a_second_order_with_the_same_customer_po_is_a_possible_duplicate_unless_the_first_is_cancelled,
    lines_the_accuracy_rules_would_flag_are_refused_as_bad_input_and_change_nothing,
    findings_are_stored_on_the_order_and_in_its_review_event,
    review_order_previews_what_submit_decides_and_changes_nothing,
    managers_see_and_decide_only_their_teams_pending_approvals,
    a_review_config_file_sets_severities_and_minimum_amounts_and_review_rules_reports_them,
    a_confirmation_records_when_and_how_the_customer_confirmed,
);

/// `reviewFindings` (or `findings`) as `CODE SEVERITY` / `CODE SEVERITY line N`, in order.
#[track_caller]
fn summary(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .unwrap_or_else(|| panic!("findings are not a list: {}", pretty(findings)))
        .iter()
        .map(|f| {
            let (code, severity) = (text(&f["code"]), text(&f["severity"]));
            match f["lineNo"].as_i64() {
                Some(n) => format!("{code} {severity} line {n}"),
                None => format!("{code} {severity}"),
            }
        })
        .collect()
}

/// The message of the only finding with `code`.
#[track_caller]
fn message_of(order: &Value, code: &str) -> String {
    let found: Vec<&Value> = order["reviewFindings"]
        .as_array()
        .unwrap_or_else(|| panic!("no reviewFindings: {}", pretty(order)))
        .iter()
        .filter(|f| f["code"] == code)
        .collect();
    assert_eq!(found.len(), 1, "one {code} expected: {}", pretty(order));
    text(&found[0]["message"])
}

/// [`complete_order_input`] with `changes` applied (a null removes the field).
fn order_input(customer_id: &str, lines: Vec<Value>, changes: Value) -> Value {
    let mut input = complete_order_input(customer_id, lines);
    if let (Some(input), Some(changes)) = (input.as_object_mut(), changes.as_object()) {
        for (key, value) in changes {
            if value.is_null() {
                input.remove(key);
            } else {
                input.insert(key.clone(), value.clone());
            }
        }
    }
    input
}

/// Creates a draft from `input` and submits it; it must land in `status`.
async fn submitted(app: &TestApp, token: &str, input: Value, status: &str) -> Value {
    let draft = create_order(app, token, input).await;
    submit(app, token, &draft, status).await
}

/// A customer owned by `rep`, from [`customer_input`] with `changes` applied.
async fn customer_with(app: &TestApp, admin: &TestUser, rep: &str, changes: Value) -> String {
    let mut input = customer_input("Special Terms KG", Some(rep), "EUR");
    if let (Some(input), Some(changes)) = (input.as_object_mut(), changes.as_object()) {
        for (key, value) in changes {
            input.insert(key.clone(), value.clone());
        }
    }
    let body = app
        .gql(
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }",
            json!({ "input": input }),
            Some(&admin.token),
        )
        .await;
    id_of(&data(&body)["createCustomer"])
}

/// Replaces a product's list price, currency and lead time with `updateProduct`.
async fn update_product(
    app: &TestApp,
    admin: &TestUser,
    id: &str,
    list_price: &str,
    currency: &str,
    lead_time_days: i64,
) {
    let body = app
        .gql(
            "query($id: ID!) { product(id: $id) { sku name unit version } }",
            json!({ "id": id }),
            Some(&admin.token),
        )
        .await;
    let product = data(&body)["product"].clone();
    let body = app
        .gql(
            "mutation($id: ID!, $v: Int!, $input: ProductInput!) {
               updateProduct(id: $id, expectedVersion: $v, input: $input) {
                 listPrice { amount currency } leadTimeDays
               }
             }",
            json!({
                "id": id,
                "v": version_of(&product),
                "input": {
                    "sku": product["sku"],
                    "name": product["name"],
                    "unit": product["unit"],
                    "listPrice": list_price,
                    "currency": currency,
                    "leadTimeDays": lead_time_days,
                    "active": true,
                },
            }),
            Some(&admin.token),
        )
        .await;
    let updated = &data(&body)["updateProduct"];
    assert_eq!(decimal(&updated["listPrice"]["amount"]), dec(list_price));
    assert_eq!(updated["listPrice"]["currency"], currency);
    assert_eq!(updated["leadTimeDays"], lead_time_days);
}

async fn review_order(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql(
        "query($id: ID!) {
           reviewOrder(id: $id) { outcome findings { code severity message lineNo } }
         }",
        json!({ "id": id }),
        Some(token),
    )
    .await
}

async fn review_rules(app: &TestApp, token: &str) -> Value {
    app.gql(
        "{ reviewRules { rules { code description severity } minimumAmounts { amount currency } } }",
        json!({}),
        Some(token),
    )
    .await
}

async fn pending_approvals(app: &TestApp, token: &str, first: i64, after: Option<&str>) -> Value {
    app.gql(
        "query($first: Int, $after: String) {
           pendingApprovals(first: $first, after: $after) {
             edges { cursor node { id status } }
             pageInfo { hasNextPage endCursor }
           }
         }",
        json!({ "first": first, "after": after }),
        Some(token),
    )
    .await
}

async fn reject_order(app: &TestApp, token: &str, order: &Value, comment: &str) -> Value {
    app.gql(
        &with_order_fields(
            "mutation($id: ID!, $v: Int!, $comment: String!) {
               rejectOrder(id: $id, expectedVersion: $v, comment: $comment) { ...OrderFields }
             }",
        ),
        json!({ "id": id_of(order), "v": version_of(order), "comment": comment }),
        Some(token),
    )
    .await
}

const CONFIRMATION_FIELDS: &str = "id status version requestedDate promisedDate
  confirmation { confirmedBy channel reference confirmedAt promisedDate }";

async fn confirm_with(app: &TestApp, token: &str, order: &Value, confirmation: Value) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $v: Int!, $c: ConfirmationInput!) {{
               confirmOrder(id: $id, expectedVersion: $v, confirmation: $c) {{ {CONFIRMATION_FIELDS} }}
             }}"
        ),
        json!({ "id": id_of(order), "v": version_of(order), "c": confirmation }),
        Some(token),
    )
    .await
}

async fn confirmation_view(app: &TestApp, token: &str, id: &str) -> Value {
    let body = app
        .gql(
            &format!("query($id: ID!) {{ order(id: $id) {{ {CONFIRMATION_FIELDS} }} }}"),
            json!({ "id": id }),
            Some(token),
        )
        .await;
    order_in(&body, "order")
}

#[track_caller]
fn instant(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(&text(value))
        .unwrap_or_else(|e| panic!("{value} is not RFC 3339: {e}"))
        .to_utc()
}

/// A rep reporting to `manager` with the given discount authority.
async fn rep_with_authority(
    app: &TestApp,
    email: &str,
    manager: &TestUser,
    authority: &str,
) -> TestUser {
    app.add_user(
        email,
        Role::Sales,
        UserOptions {
            manager: Some(&manager.email),
            discount_authority: Some(authority),
            ..UserOptions::default()
        },
    )
    .await
}

async fn missing_lines_address_or_date_are_blockers_and_the_order_needs_revision(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    // Without a default address on the customer, an order can lack one.
    let homeless = customer_with(&app, &shop.admin, &rep.id, json!({ "address": null })).await;
    let widgets = || vec![line(&shop.product_id, "10")];

    let empty = submitted(
        &app,
        &rep.token,
        json!({ "customerId": homeless, "lines": [] }),
        "NEEDS_REVISION",
    )
    .await;
    assert_eq!(
        summary(&empty["reviewFindings"]),
        [
            "NO_LINES BLOCKER",
            "MISSING_DELIVERY_ADDRESS BLOCKER",
            "MISSING_REQUESTED_DATE BLOCKER"
        ]
    );

    // Each alone is enough to send the order back.
    for (code, input) in [
        (
            "NO_LINES",
            order_input(&shop.customer_id, vec![], json!({})),
        ),
        (
            "MISSING_DELIVERY_ADDRESS",
            order_input(&homeless, widgets(), json!({ "deliveryAddress": null })),
        ),
        (
            "MISSING_REQUESTED_DATE",
            order_input(
                &shop.customer_id,
                widgets(),
                json!({ "requestedDate": null }),
            ),
        ),
    ] {
        let order = submitted(&app, &rep.token, input, "NEEDS_REVISION").await;
        assert_eq!(
            summary(&order["reviewFindings"]),
            [format!("{code} BLOCKER")]
        );
    }

    // Complete, at list price, within lead time and credit: approved without findings.
    let clean = submit(&app, &rep.token, &shop.draft(&app).await, "APPROVED").await;
    assert_eq!(summary(&clean["reviewFindings"]), Vec::<String>::new());

    // Without a configuration file every rule has its default severity and there is no minimum.
    let body = review_rules(&app, &rep.token).await;
    let rules = &data(&body)["reviewRules"];
    let severities: Vec<(String, Value)> = rules["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| (text(&r["code"]), r["severity"].clone()))
        .collect();
    let blocker = json!("BLOCKER");
    let approval = json!("NEEDS_APPROVAL");
    let expected: Vec<(String, Value)> = [
        ("NO_LINES", &blocker),
        ("MISSING_DELIVERY_ADDRESS", &blocker),
        ("MISSING_REQUESTED_DATE", &blocker),
        ("QUANTITY_NOT_POSITIVE", &blocker),
        ("DISCOUNT_OUT_OF_RANGE", &blocker),
        ("PRICE_NOT_LIST", &approval),
        ("CURRENCY_MISMATCH", &blocker),
        ("TOTAL_INCONSISTENT", &blocker),
        ("DISCOUNT_ABOVE_AUTHORITY", &approval),
        ("CREDIT_LIMIT_EXCEEDED", &approval),
        ("LEAD_TIME", &approval),
        ("MINIMUM_AMOUNT", &approval),
        ("POSSIBLE_DUPLICATE", &approval),
    ]
    .into_iter()
    .map(|(code, severity)| (code.to_owned(), severity.clone()))
    .collect();
    assert_eq!(severities, expected, "{}", pretty(rules));
    assert!(
        rules["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .all(|r| r["description"].as_str().is_some_and(|d| !d.is_empty())),
        "{}",
        pretty(rules)
    );
    assert_eq!(rules["minimumAmounts"], json!([]));
}

async fn prices_and_currencies_are_checked_against_the_current_catalogue(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (rep, admin) = (&shop.rep, &shop.admin);

    // A unit price off list without a discount, below or above.
    let below = submitted(
        &app,
        &rep.token,
        complete_order_input(
            &shop.customer_id,
            vec![
                line(&shop.product_id, "2"),
                json!({ "productId": shop.product_id, "quantity": "10", "unitPrice": "110.00" }),
            ],
        ),
        "PENDING_APPROVAL",
    )
    .await;
    assert_eq!(
        summary(&below["reviewFindings"]),
        ["PRICE_NOT_LIST NEEDS_APPROVAL line 2"]
    );
    let message = message_of(&below, "PRICE_NOT_LIST");
    assert!(
        message.contains("110.00") && message.contains("below") && message.contains("120.00"),
        "{message}"
    );
    let above = submitted(
        &app,
        &rep.token,
        complete_order_input(
            &shop.customer_id,
            vec![json!({ "productId": shop.product_id, "quantity": "1", "unitPrice": "130" })],
        ),
        "PENDING_APPROVAL",
    )
    .await;
    assert_eq!(
        summary(&above["reviewFindings"]),
        ["PRICE_NOT_LIST NEEDS_APPROVAL line 1"]
    );
    assert!(message_of(&above, "PRICE_NOT_LIST").contains("above"));

    // The list price changes after the draft was written: the line no longer matches it.
    let gadget = create_product(&app, &admin.token, "GADGET-2", "50.00").await;
    let draft = create_order(
        &app,
        &rep.token,
        complete_order_input(&shop.customer_id, vec![line(&gadget, "10")]),
    )
    .await;
    update_product(&app, admin, &gadget, "55.00", "EUR", 5).await;
    let repriced = submit(&app, &rep.token, &draft, "PENDING_APPROVAL").await;
    assert_eq!(
        summary(&repriced["reviewFindings"]),
        ["PRICE_NOT_LIST NEEDS_APPROVAL line 1"]
    );
    let message = message_of(&repriced, "PRICE_NOT_LIST");
    assert!(
        message.contains("50.00") && message.contains("55.00"),
        "{message}"
    );

    // The product is now priced in another currency: a blocker.
    let gizmo = create_product(&app, &admin.token, "GIZMO-3", "30.00").await;
    let draft = create_order(
        &app,
        &rep.token,
        complete_order_input(
            &shop.customer_id,
            vec![line(&shop.product_id, "1"), line(&gizmo, "3")],
        ),
    )
    .await;
    update_product(&app, admin, &gizmo, "30.00", "USD", 5).await;
    let mismatched = submit(&app, &rep.token, &draft, "NEEDS_REVISION").await;
    assert_eq!(
        summary(&mismatched["reviewFindings"]),
        ["CURRENCY_MISMATCH BLOCKER line 2"]
    );
    let message = message_of(&mismatched, "CURRENCY_MISMATCH");
    assert!(
        message.contains("USD") && message.contains("EUR"),
        "{message}"
    );
}

async fn a_discount_above_the_reps_authority_needs_approval(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rita = rep_with_authority(&app, "rita.rep@example.com", &shop.manager, "10").await;
    let customer = customer_with(&app, &shop.admin, &rita.id, json!({})).await;
    let discounted = |discount: &str| json!({ "productId": shop.product_id, "quantity": "10", "discountPercent": discount });

    // Exactly the authority is within it.
    let within = submitted(
        &app,
        &rita.token,
        complete_order_input(&customer, vec![discounted("10")]),
        "APPROVED",
    )
    .await;
    assert_eq!(summary(&within["reviewFindings"]), Vec::<String>::new());

    let beyond = submitted(
        &app,
        &rita.token,
        complete_order_input(&customer, vec![discounted("5"), discounted("10.5")]),
        "PENDING_APPROVAL",
    )
    .await;
    assert_eq!(
        summary(&beyond["reviewFindings"]),
        ["DISCOUNT_ABOVE_AUTHORITY NEEDS_APPROVAL line 2"]
    );
    let message = message_of(&beyond, "DISCOUNT_ABOVE_AUTHORITY");
    assert!(
        message.contains("10.5%") && message.contains("10%"),
        "{message}"
    );

    // The shop's rep has no authority at all (the default): any discount needs approval.
    let none = submitted(
        &app,
        &shop.rep.token,
        complete_order_input(&shop.customer_id, vec![discounted("1")]),
        "PENDING_APPROVAL",
    )
    .await;
    assert_eq!(
        summary(&none["reviewFindings"]),
        ["DISCOUNT_ABOVE_AUTHORITY NEEDS_APPROVAL line 1"]
    );
}

async fn confirmed_orders_count_toward_the_credit_limit_and_drafts_or_cancelled_ones_do_not(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let tight = customer_with(
        &app,
        &shop.admin,
        &rep.id,
        json!({ "creditLimit": "2000.00" }),
    )
    .await;
    // Each 10 x 120.00 = 1200.00; two of them are above the limit of 2000.00.
    let input = || complete_order_input(&tight, vec![line(&shop.product_id, "10")]);
    let first = create_order(&app, &rep.token, input()).await;
    let second = create_order(&app, &rep.token, input()).await;
    let third = create_order(&app, &rep.token, input()).await;

    // Alone above the limit.
    let big = submitted(
        &app,
        &rep.token,
        complete_order_input(&tight, vec![line(&shop.product_id, "20")]),
        "PENDING_APPROVAL",
    )
    .await;
    assert_eq!(
        summary(&big["reviewFindings"]),
        ["CREDIT_LIMIT_EXCEEDED NEEDS_APPROVAL"]
    );

    // Two drafts and a PENDING_APPROVAL order of the customer do not count.
    let first = submit(&app, &rep.token, &first, "APPROVED").await;
    assert_eq!(summary(&first["reviewFindings"]), Vec::<String>::new());
    let body = confirm_with(
        &app,
        &rep.token,
        &first,
        json!({ "confirmedBy": "Ana Buyer", "channel": "EMAIL" }),
    )
    .await;
    let first = order_in(&body, "confirmOrder");
    assert_eq!(first["status"], "CONFIRMED");

    // A confirmed order does.
    let second = submit(&app, &rep.token, &second, "PENDING_APPROVAL").await;
    assert_eq!(
        summary(&second["reviewFindings"]),
        ["CREDIT_LIMIT_EXCEEDED NEEDS_APPROVAL"]
    );
    let message = message_of(&second, "CREDIT_LIMIT_EXCEEDED");
    for part in ["1200.00", "2400.00", "2000.00"] {
        assert!(message.contains(part), "{part} not in: {message}");
    }

    // Once cancelled, it no longer does (nor does the order waiting for approval).
    move_order(
        &app,
        &shop.manager.token,
        &first,
        "CANCELLED",
        Some("customer withdrew"),
    )
    .await;
    let third = submit(&app, &rep.token, &third, "APPROVED").await;
    assert_eq!(summary(&third["reviewFindings"]), Vec::<String>::new());
}

async fn a_requested_date_inside_the_lead_time_needs_approval_and_the_boundary_is_accepted(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    // WIDGET-1 has a lead time of 5 days.
    let on = |date: String, lines: Vec<Value>| {
        order_input(&shop.customer_id, lines, json!({ "requestedDate": date }))
    };

    let early = submitted(
        &app,
        &rep.token,
        on(in_days(4), vec![line(&shop.product_id, "1")]),
        "PENDING_APPROVAL",
    )
    .await;
    assert_eq!(
        summary(&early["reviewFindings"]),
        ["LEAD_TIME NEEDS_APPROVAL"]
    );
    let message = message_of(&early, "LEAD_TIME");
    assert!(message.contains(&in_days(5)), "{message}");

    let boundary = submitted(
        &app,
        &rep.token,
        on(in_days(5), vec![line(&shop.product_id, "1")]),
        "APPROVED",
    )
    .await;
    assert_eq!(summary(&boundary["reviewFindings"]), Vec::<String>::new());

    // The longest lead time of the order's products counts.
    let slow = create_product(&app, &shop.admin.token, "SLOW-20", "10.00").await;
    update_product(&app, &shop.admin, &slow, "10.00", "EUR", 20).await;
    let mixed = submitted(
        &app,
        &rep.token,
        on(
            in_days(10),
            vec![line(&shop.product_id, "1"), line(&slow, "1")],
        ),
        "PENDING_APPROVAL",
    )
    .await;
    assert_eq!(
        summary(&mixed["reviewFindings"]),
        ["LEAD_TIME NEEDS_APPROVAL"]
    );
    let message = message_of(&mixed, "LEAD_TIME");
    assert!(
        message.contains(&in_days(20)) && message.contains("20 days"),
        "{message}"
    );
}

async fn a_second_order_with_the_same_customer_po_is_a_possible_duplicate_unless_the_first_is_cancelled(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let with_po = |customer: &str, po: &str| {
        order_input(
            customer,
            vec![line(&shop.product_id, "1")],
            json!({ "customerPo": po }),
        )
    };

    let original = submitted(
        &app,
        &rep.token,
        with_po(&shop.customer_id, "PO-77"),
        "APPROVED",
    )
    .await;
    let again = submitted(
        &app,
        &rep.token,
        with_po(&shop.customer_id, "po-77"),
        "PENDING_APPROVAL",
    )
    .await;
    assert_eq!(
        summary(&again["reviewFindings"]),
        ["POSSIBLE_DUPLICATE NEEDS_APPROVAL"]
    );
    let message = message_of(&again, "POSSIBLE_DUPLICATE");
    assert!(
        message.contains(&text(&original["number"])),
        "should name {}: {message}",
        original["number"]
    );

    // Another customer may use the same reference.
    let other = customer_with(&app, &shop.admin, &rep.id, json!({ "name": "Other AG" })).await;
    let elsewhere = submitted(&app, &rep.token, with_po(&other, "PO-77"), "APPROVED").await;
    assert_eq!(summary(&elsewhere["reviewFindings"]), Vec::<String>::new());

    // A cancelled order with the reference does not count.
    let cancelled = create_order(&app, &rep.token, with_po(&shop.customer_id, "PO-88")).await;
    move_order(
        &app,
        &rep.token,
        &cancelled,
        "CANCELLED",
        Some("written twice"),
    )
    .await;
    let replacement = submitted(
        &app,
        &rep.token,
        with_po(&shop.customer_id, "po-88"),
        "APPROVED",
    )
    .await;
    assert_eq!(
        summary(&replacement["reviewFindings"]),
        Vec::<String>::new()
    );
}

async fn lines_the_accuracy_rules_would_flag_are_refused_as_bad_input_and_change_nothing(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let product = shop.product_id.as_str();
    // QUANTITY_NOT_POSITIVE, DISCOUNT_OUT_OF_RANGE and TOTAL_INCONSISTENT cannot be reached: the
    // input is refused before any order exists to review.
    let refused = [
        (
            "quantity 0",
            "quantity",
            json!({ "productId": product, "quantity": "0" }),
        ),
        (
            "negative quantity",
            "quantity",
            json!({ "productId": product, "quantity": "-1" }),
        ),
        (
            "discount 101",
            "discountPercent",
            json!({ "productId": product, "quantity": "1", "discountPercent": "101" }),
        ),
        (
            "negative discount",
            "discountPercent",
            json!({ "productId": product, "quantity": "1", "discountPercent": "-5" }),
        ),
        (
            "absurd total",
            "lines",
            json!({ "productId": product, "quantity": "1000000", "unitPrice": "9999999999" }),
        ),
    ];
    for (what, field, bad) in &refused {
        let body = create_order_raw(
            &app,
            &rep.token,
            complete_order_input(&shop.customer_id, vec![line(product, "1"), bad.clone()]),
            None,
        )
        .await;
        let error = assert_error(&body, "BAD_USER_INPUT");
        assert_eq!(error["extensions"]["field"], *field, "{what}");
        assert!(body["data"].is_null(), "{what}: {}", pretty(&body));
    }
    let body = app
        .gql(
            "{ orders(first: 10) { nodes { id } } }",
            json!({}),
            Some(&shop.admin.token),
        )
        .await;
    assert_eq!(
        data(&body)["orders"]["nodes"],
        json!([]),
        "nothing was created"
    );

    let draft = shop.draft(&app).await;
    for (what, field, bad) in &refused {
        let body = update_draft(
            &app,
            &rep.token,
            &id_of(&draft),
            version_of(&draft),
            json!({ "lines": [bad] }),
        )
        .await;
        let error = assert_error(&body, "BAD_USER_INPUT");
        assert_eq!(error["extensions"]["field"], *field, "{what}");
        let after = fetch_order(&app, &rep.token, &id_of(&draft)).await;
        assert_eq!(after["version"], draft["version"], "{what}");
        assert_eq!(after["lines"], draft["lines"], "{what}");
        assert_eq!(after["total"], draft["total"], "{what}");
        assert_eq!(after["status"], "DRAFT", "{what}");
    }
}

async fn findings_are_stored_on_the_order_and_in_its_review_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let draft = create_order(
        &app,
        &rep.token,
        complete_order_input(
            &shop.customer_id,
            vec![
                json!({ "productId": shop.product_id, "quantity": "2", "unitPrice": "100.00" }),
                json!({ "productId": shop.product_id, "quantity": "3", "discountPercent": "5" }),
            ],
        ),
    )
    .await;
    assert_eq!(draft["reviewFindings"], json!([]));
    let pending = submit(&app, &rep.token, &draft, "PENDING_APPROVAL").await;
    let expected = [
        "PRICE_NOT_LIST NEEDS_APPROVAL line 1",
        "DISCOUNT_ABOVE_AUTHORITY NEEDS_APPROVAL line 2",
    ];
    assert_eq!(summary(&pending["reviewFindings"]), expected);

    // Stored: reading the order again gives the same findings, messages included.
    let id = id_of(&pending);
    let stored = fetch_order(&app, &rep.token, &id).await;
    assert_eq!(stored["reviewFindings"], pending["reviewFindings"]);

    // The REVIEW_COMPLETED event carries them and the outcome, at the submit's version.
    let events = order_events(&app, &rep.token, &id).await;
    let reviews: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "REVIEW_COMPLETED")
        .collect();
    assert_eq!(reviews.len(), 1, "{}", pretty(&json!(events)));
    let review = reviews[0];
    assert_eq!(version_of(review), version_of(&pending));
    assert_eq!(review["data"]["outcome"], "PENDING_APPROVAL");
    let in_event: Vec<(String, String, String, Value)> = review["data"]["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings in {}", pretty(review)))
        .iter()
        .map(|f| {
            (
                text(&f["code"]),
                text(&f["severity"]),
                text(&f["message"]),
                f["line_no"].clone(),
            )
        })
        .collect();
    let on_order: Vec<(String, String, String, Value)> = pending["reviewFindings"]
        .as_array()
        .expect("reviewFindings")
        .iter()
        .map(|f| {
            (
                text(&f["code"]),
                text(&f["severity"]),
                text(&f["message"]),
                f["lineNo"].clone(),
            )
        })
        .collect();
    assert_eq!(in_event, on_order, "{}", pretty(review));

    // After a rejection and a fix, the order shows the last review's findings: none.
    let body = reject_order(&app, &shop.manager.token, &pending, "list price, please").await;
    let revising = order_in(&body, "rejectOrder");
    assert_eq!(revising["status"], "NEEDS_REVISION");
    let body = update_draft(
        &app,
        &rep.token,
        &id,
        version_of(&revising),
        json!({ "lines": [line(&shop.product_id, "5")] }),
    )
    .await;
    let fixed = order_in(&body, "updateOrderDraft");
    let approved = submit(&app, &rep.token, &fixed, "APPROVED").await;
    assert_eq!(approved["reviewFindings"], json!([]));
    let events = order_events(&app, &rep.token, &id).await;
    let outcomes: Vec<(Value, usize)> = events
        .iter()
        .filter(|e| e["type"] == "REVIEW_COMPLETED")
        .map(|e| {
            (
                e["data"]["outcome"].clone(),
                e["data"]["findings"]
                    .as_array()
                    .map_or(usize::MAX, Vec::len),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [(json!("PENDING_APPROVAL"), 2), (json!("APPROVED"), 0)]
    );
}

async fn review_order_previews_what_submit_decides_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let drafts = [
        // Findings that need approval.
        order_input(
            &shop.customer_id,
            vec![json!({ "productId": shop.product_id, "quantity": "2", "unitPrice": "99.90" })],
            json!({ "requestedDate": in_days(2) }),
        ),
        // A blocker.
        order_input(
            &shop.customer_id,
            vec![line(&shop.product_id, "2")],
            json!({ "requestedDate": null }),
        ),
        // Nothing to say.
        complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "2")]),
    ];
    let mut outcomes = Vec::new();
    for input in drafts {
        let draft = create_order(&app, &rep.token, input).await;
        let id = id_of(&draft);
        let events_before = order_events(&app, &rep.token, &id).await.len();

        let body = review_order(&app, &rep.token, &id).await;
        let preview = data(&body)["reviewOrder"].clone();
        // The manager sees the same.
        let body = review_order(&app, &shop.manager.token, &id).await;
        assert_eq!(data(&body)["reviewOrder"], preview);

        let unchanged = fetch_order(&app, &rep.token, &id).await;
        assert_eq!(unchanged, draft, "reviewOrder must change nothing");
        assert_eq!(
            order_events(&app, &rep.token, &id).await.len(),
            events_before,
            "reviewOrder must record no event"
        );

        let outcome = text(&preview["outcome"]);
        let after = submit(&app, &rep.token, &draft, &outcome).await;
        assert_eq!(
            after["reviewFindings"], preview["findings"],
            "submit must find what the preview found"
        );
        outcomes.push((outcome, summary(&preview["findings"])));
    }
    assert_eq!(
        outcomes,
        [
            (
                "PENDING_APPROVAL".to_owned(),
                vec![
                    "PRICE_NOT_LIST NEEDS_APPROVAL line 1".to_owned(),
                    "LEAD_TIME NEEDS_APPROVAL".to_owned()
                ]
            ),
            (
                "NEEDS_REVISION".to_owned(),
                vec!["MISSING_REQUESTED_DATE BLOCKER".to_owned()]
            ),
            ("APPROVED".to_owned(), vec![]),
        ]
    );

    // Who may not look.
    let draft = shop.draft(&app).await;
    let id = id_of(&draft);
    let buyer = app
        .add_user(
            "ana.buyer@acme.example",
            Role::Customer,
            UserOptions {
                customer: Some(&shop.customer_id),
                ..UserOptions::default()
            },
        )
        .await;
    assert_error(&review_order(&app, &buyer.token, &id).await, "FORBIDDEN");
    assert_error(&review_rules(&app, &buyer.token).await, "FORBIDDEN");
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    assert_error(
        &review_order(&app, &other_rep.token, &id).await,
        "NOT_FOUND",
    );
    let foreign = shop.draft_for(&app, &other_rep, &other_customer).await;
    assert_error(
        &review_order(&app, &shop.manager.token, &id_of(&foreign)).await,
        "NOT_FOUND",
    );
    assert_error(
        &review_order(&app, &rep.token, &id_of(&foreign)).await,
        "NOT_FOUND",
    );
    assert_error(&review_order(&app, &rep.token, "999999").await, "NOT_FOUND");
    assert_eq!(fetch_order(&app, &rep.token, &id).await, draft);
}

async fn managers_see_and_decide_only_their_teams_pending_approvals(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let max = app
        .add_user(
            "max.manager@example.com",
            Role::Manager,
            UserOptions::default(),
        )
        .await;
    let pia = rep_with_authority(&app, "pia.sales@example.com", &max, "0").await;
    let pias_customer = customer_with(&app, &shop.admin, &pia.id, json!({})).await;
    // The reps have no discount authority: a discount needs approval.
    let discounted = |customer: &str| {
        complete_order_input(
            customer,
            vec![json!({ "productId": shop.product_id, "quantity": "1", "discountPercent": "3" })],
        )
    };

    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(
            submitted(
                &app,
                &rep.token,
                discounted(&shop.customer_id),
                "PENDING_APPROVAL",
            )
            .await,
        );
    }
    shop.approved_order(&app).await;
    let theirs = submitted(
        &app,
        &pia.token,
        discounted(&pias_customer),
        "PENDING_APPROVAL",
    )
    .await;

    // Each manager sees their team's queue, newest first, paginated.
    let body = pending_approvals(&app, &shop.manager.token, 2, None).await;
    let page = &data(&body)["pendingApprovals"];
    assert_eq!(page["pageInfo"]["hasNextPage"], true, "{}", pretty(page));
    let mut queue = page_ids(page);
    let after = text(&page["pageInfo"]["endCursor"]);
    let body = pending_approvals(&app, &shop.manager.token, 2, Some(&after)).await;
    let page = &data(&body)["pendingApprovals"];
    assert_eq!(page["pageInfo"]["hasNextPage"], false, "{}", pretty(page));
    queue.extend(page_ids(page));
    let newest_first: Vec<String> = mine.iter().rev().map(id_of).collect();
    assert_eq!(queue, newest_first);

    let body = pending_approvals(&app, &max.token, 20, None).await;
    assert_eq!(page_ids(&data(&body)["pendingApprovals"]), [id_of(&theirs)]);
    let body = pending_approvals(&app, &shop.admin.token, 20, None).await;
    assert_eq!(
        data(&body)["pendingApprovals"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    assert_error(
        &pending_approvals(&app, &rep.token, 20, None).await,
        "FORBIDDEN",
    );

    // Deciding: a rep may not, another team's manager does not see it, an empty rejection
    // comment is refused; none of it changes the order.
    let [first, second, _] = &mine[..] else {
        unreachable!()
    };
    assert_error(&approve_order(&app, &rep.token, first).await, "FORBIDDEN");
    assert_error(&approve_order(&app, &max.token, first).await, "NOT_FOUND");
    assert_error(
        &reject_order(&app, &max.token, first, "not ours").await,
        "NOT_FOUND",
    );
    for blank in ["", "   "] {
        assert_error(
            &reject_order(&app, &shop.manager.token, first, blank).await,
            "BAD_USER_INPUT",
        );
    }
    let unchanged = fetch_order(&app, &rep.token, &id_of(first)).await;
    assert_eq!(unchanged["status"], "PENDING_APPROVAL");
    assert_eq!(unchanged["version"], first["version"]);

    let approved = order_in(
        &approve_order(&app, &shop.manager.token, first).await,
        "approveOrder",
    );
    assert_eq!(approved["status"], "APPROVED");
    assert_eq!(version_of(&approved), version_of(first) + 1);
    let rejected = order_in(
        &reject_order(
            &app,
            &shop.manager.token,
            second,
            "3% is too much for 1 piece",
        )
        .await,
        "rejectOrder",
    );
    assert_eq!(rejected["status"], "NEEDS_REVISION");
    assert_eq!(version_of(&rejected), version_of(second) + 1);

    // The comments are in the timeline.
    for (order, to, comment) in [
        (&approved, "APPROVED", "fine by me"),
        (&rejected, "NEEDS_REVISION", "3% is too much for 1 piece"),
    ] {
        let events = order_events(&app, &rep.token, &id_of(order)).await;
        let last = events.last().expect("events");
        assert_eq!(last["type"], "STATUS_CHANGED", "{}", pretty(last));
        assert_eq!(last["data"]["from"], "PENDING_APPROVAL");
        assert_eq!(last["data"]["to"], to);
        assert_eq!(last["data"]["reason"], comment, "{}", pretty(last));
        assert_eq!(last["actor"]["id"], shop.manager.id.as_str());
    }

    // Decided orders leave the queue.
    let body = pending_approvals(&app, &shop.manager.token, 20, None).await;
    assert_eq!(
        page_ids(&data(&body)["pendingApprovals"]),
        [id_of(&mine[2])]
    );
}

async fn a_review_config_file_sets_severities_and_minimum_amounts_and_review_rules_reports_them(
    backend: Backend,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("review.toml");
    std::fs::write(
        &config,
        "[severity]\n\
         LEAD_TIME = \"OFF\"\n\
         DISCOUNT_ABOVE_AUTHORITY = \"BLOCKER\"\n\
         POSSIBLE_DUPLICATE = \"INFO\"\n\
         \n\
         [minimum_amount]\n\
         EUR = \"500.00\"\n\
         USD = 300\n",
    )
    .expect("write the review config");
    let app = tests::spawn_app_with(
        backend,
        &["--review-config", config.to_str().expect("UTF-8 path")],
    )
    .await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;

    let body = review_rules(&app, &rep.token).await;
    let rules = &data(&body)["reviewRules"];
    let severity = |code: &str| {
        rules["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .find(|r| r["code"] == code)
            .unwrap_or_else(|| panic!("no rule {code}: {}", pretty(rules)))["severity"]
            .clone()
    };
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(13));
    assert_eq!(severity("LEAD_TIME"), Value::Null, "OFF is null");
    assert_eq!(severity("DISCOUNT_ABOVE_AUTHORITY"), "BLOCKER");
    assert_eq!(severity("POSSIBLE_DUPLICATE"), "INFO");
    assert_eq!(severity("MINIMUM_AMOUNT"), "NEEDS_APPROVAL", "unchanged");
    assert_eq!(severity("NO_LINES"), "BLOCKER", "unchanged");
    let minimums: Vec<(String, rust_decimal::Decimal)> = rules["minimumAmounts"]
        .as_array()
        .expect("minimumAmounts")
        .iter()
        .map(|m| (text(&m["currency"]), decimal(&m["amount"])))
        .collect();
    assert_eq!(
        minimums,
        [
            ("EUR".to_owned(), dec("500.00")),
            ("USD".to_owned(), dec("300"))
        ]
    );

    // LEAD_TIME off: tomorrow is fine.
    let hurried = submitted(
        &app,
        &rep.token,
        order_input(
            &shop.customer_id,
            vec![line(&shop.product_id, "10")],
            json!({ "requestedDate": in_days(1) }),
        ),
        "APPROVED",
    )
    .await;
    assert_eq!(summary(&hurried["reviewFindings"]), Vec::<String>::new());

    // DISCOUNT_ABOVE_AUTHORITY as a blocker.
    let discounted = submitted(
        &app,
        &rep.token,
        complete_order_input(
            &shop.customer_id,
            vec![json!({ "productId": shop.product_id, "quantity": "10", "discountPercent": "5" })],
        ),
        "NEEDS_REVISION",
    )
    .await;
    assert_eq!(
        summary(&discounted["reviewFindings"]),
        ["DISCOUNT_ABOVE_AUTHORITY BLOCKER line 1"]
    );

    // MINIMUM_AMOUNT: below 500.00 EUR needs approval; exactly 500.00 does not.
    let small = submitted(
        &app,
        &rep.token,
        complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "1")]),
        "PENDING_APPROVAL",
    )
    .await;
    assert_eq!(
        summary(&small["reviewFindings"]),
        ["MINIMUM_AMOUNT NEEDS_APPROVAL"]
    );
    let message = message_of(&small, "MINIMUM_AMOUNT");
    assert!(
        message.contains("120.00") && message.contains("500.00"),
        "{message}"
    );
    let fifty = create_product(&app, &shop.admin.token, "HALF-50", "50.00").await;
    let exact = submitted(
        &app,
        &rep.token,
        complete_order_input(&shop.customer_id, vec![line(&fifty, "10")]),
        "APPROVED",
    )
    .await;
    assert_eq!(summary(&exact["reviewFindings"]), Vec::<String>::new());

    // POSSIBLE_DUPLICATE as information: the order goes through, the finding is shown.
    let po = |po: &str| {
        order_input(
            &shop.customer_id,
            vec![line(&shop.product_id, "10")],
            json!({ "customerPo": po }),
        )
    };
    submitted(&app, &rep.token, po("PO-1"), "APPROVED").await;
    let duplicate = submitted(&app, &rep.token, po("po-1"), "APPROVED").await;
    assert_eq!(
        summary(&duplicate["reviewFindings"]),
        ["POSSIBLE_DUPLICATE INFO"]
    );
}

/// A mistake in the review configuration stops `serve` before it listens, naming file and line.
#[tokio::test]
async fn a_bad_review_config_file_stops_start_up_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}", dir.path().join("od.db").display());
    let cases = [
        (
            "unknown-rule.toml",
            "[severity]\nLEAD_TIME = \"INFO\"\nCREDIT_LIMT = \"BLOCKER\"\n",
            3,
            "CREDIT_LIMT",
        ),
        (
            "bad-severity.toml",
            "\n[severity]\nLEAD_TIME = \"WARNING\"\n",
            3,
            "WARNING",
        ),
        (
            "malformed.toml",
            "[severity]\nLEAD_TIME = \"INFO\"\nMINIMUM_AMOUNT = \n",
            3,
            "",
        ),
        (
            "negative-minimum.toml",
            "[minimum_amount]\nEUR = \"-5\"\n",
            2,
            "negative",
        ),
    ];
    for (name, content, line, mentions) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write the review config");
        let output = tokio::process::Command::new(tests::app::orderdesk_bin())
            .args(["serve", "--bind", "127.0.0.1:0", "--database", &database])
            .arg("--review-config")
            .arg(&path)
            .env(
                "ORDERDESK_JWT_SECRET",
                "review-config-test-secret-0123456789abcdefghij",
            )
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output)
            .await
            .unwrap_or_else(|_| panic!("{name}: orderdesk serve did not stop within 30 s"))
            .expect("run orderdesk serve");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{name}: must not start ({})\n{stdout}{stderr}",
            output.status
        );
        assert!(
            !stdout.contains("orderdesk listening on"),
            "{name}: listened\n{stdout}"
        );
        let location = format!("{}:{line}:", path.display());
        assert!(
            stderr.contains(&location),
            "{name}: stderr should contain `{location}`:\n{stderr}"
        );
        assert!(
            stderr.contains(mentions),
            "{name}: stderr should mention `{mentions}`:\n{stderr}"
        );
    }
}

async fn a_confirmation_records_when_and_how_the_customer_confirmed(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;

    // A phone call recorded two days later, without a promised date: the requested date is
    // promised.
    let approved = shop.approved_order(&app).await;
    let called_at = (chrono::Utc::now() - chrono::Duration::days(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = confirm_with(
        &app,
        &rep.token,
        &approved,
        json!({
            "confirmedBy": "Ana Buyer",
            "channel": "PHONE",
            "reference": "call with Ana",
            "confirmedAt": called_at,
        }),
    )
    .await;
    let confirmed = order_in(&body, "confirmOrder");
    let id = id_of(&confirmed);
    assert_eq!(confirmed["status"], "CONFIRMED");
    assert_eq!(version_of(&confirmed), version_of(&approved) + 1);
    let stored = confirmation_view(&app, &rep.token, &id).await;
    assert_eq!(stored, confirmed);
    let confirmation = &stored["confirmation"];
    assert_eq!(confirmation["channel"], "PHONE");
    assert_eq!(confirmation["reference"], "call with Ana");
    assert_eq!(confirmation["confirmedBy"], "Ana Buyer");
    assert_eq!(
        instant(&confirmation["confirmedAt"]),
        instant(&json!(called_at))
    );
    assert_eq!(confirmation["promisedDate"], approved["requestedDate"]);
    assert_eq!(stored["promisedDate"], approved["requestedDate"]);

    // An explicit promise is kept as given.
    let approved = shop.approved_order(&app).await;
    let body = confirm_with(
        &app,
        &rep.token,
        &approved,
        json!({ "confirmedBy": "Ana Buyer", "channel": "EMAIL", "promisedDate": in_days(70) }),
    )
    .await;
    let promised = order_in(&body, "confirmOrder");
    assert_eq!(promised["promisedDate"], in_days(70));
    assert_eq!(promised["confirmation"]["promisedDate"], in_days(70));

    // Not in the future: refused, and the order is unchanged.
    let approved = shop.approved_order(&app).await;
    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = confirm_with(
        &app,
        &rep.token,
        &approved,
        json!({ "confirmedBy": "Ana Buyer", "channel": "PHONE", "confirmedAt": future }),
    )
    .await;
    assert_error(&body, "BAD_USER_INPUT");
    let unchanged = confirmation_view(&app, &rep.token, &id_of(&approved)).await;
    assert_eq!(unchanged["status"], "APPROVED");
    assert_eq!(unchanged["version"], approved["version"]);
    assert_eq!(unchanged["confirmation"], Value::Null);

    // A buyer confirms their company's order through the portal only, and never another's.
    let buyer = app
        .add_user(
            "ana.buyer@acme.example",
            Role::Customer,
            UserOptions {
                customer: Some(&shop.customer_id),
                ..UserOptions::default()
            },
        )
        .await;
    let by = |channel: &str| json!({ "confirmedBy": "Ana Buyer", "channel": channel });
    assert_error(
        &confirm_with(&app, &buyer.token, &approved, by("EMAIL")).await,
        "FORBIDDEN",
    );
    let unchanged = confirmation_view(&app, &rep.token, &id_of(&approved)).await;
    assert_eq!(unchanged["version"], approved["version"]);
    let body = confirm_with(&app, &buyer.token, &approved, by("PORTAL")).await;
    let portal = order_in(&body, "confirmOrder");
    assert_eq!(portal["status"], "CONFIRMED");
    assert_eq!(portal["confirmation"]["channel"], "PORTAL");

    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let foreign = shop.draft_for(&app, &other_rep, &other_customer).await;
    let foreign = submit(&app, &other_rep.token, &foreign, "APPROVED").await;
    assert_error(
        &confirm_with(&app, &buyer.token, &foreign, by("PORTAL")).await,
        "NOT_FOUND",
    );
    let unchanged = confirmation_view(&app, &other_rep.token, &id_of(&foreign)).await;
    assert_eq!(unchanged["status"], "APPROVED");
    assert_eq!(unchanged["version"], foreign["version"]);
}
