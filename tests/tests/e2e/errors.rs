//! Every error code of the API, provoked the way a client would, with the extensions it
//! promises. A refused request changes nothing.

use std::fmt::Write as _;

use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Backend, Role, UserOptions, assert_error, data, error_code, spawn_app};

use crate::fixtures::{
    Shop, approve_order, complete_order_input, create_order, create_order_raw, create_product_raw,
    customer_input, fetch_order, id_of, line, order_events, order_in, orders_page, submit,
    transition, update_draft, version_of,
};

backend_tests!(
    requests_without_a_valid_token_or_password_are_unauthenticated,
    a_sales_rep_may_neither_approve_orders_nor_create_products,
    an_order_that_does_not_exist_is_not_found,
    invalid_input_is_bad_user_input_naming_the_field,
    a_move_the_lifecycle_does_not_allow_is_an_invalid_transition_listing_the_allowed_ones,
    a_stale_expected_version_is_a_conflict_and_changes_nothing,
    reusing_an_idempotency_key_with_different_input_is_a_conflict,
    a_query_nested_deeper_than_ten_levels_is_refused,
    a_query_that_is_too_complex_is_refused,
    a_query_sent_again_with_bad_variables_is_refused_as_the_first_time,
);

const ME: &str = "{ me { id email role } }";

async fn requests_without_a_valid_token_or_password_are_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let password = "correct horse battery staple";
    let user = app
        .add_user(
            "sam.sales@example.com",
            Role::Sales,
            UserOptions {
                password: Some(password),
                ..UserOptions::default()
            },
        )
        .await;

    assert_error(&app.gql(ME, json!({}), None).await, "UNAUTHENTICATED");
    assert_error(
        &app.gql(ME, json!({}), Some("garbage")).await,
        "UNAUTHENTICATED",
    );
    // Well-formed, but not signed with the server's secret.
    let forged = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwiZXhwIjo0MTAyNDQ0ODAwfQ.\
                  c2lnbmVkLXdpdGgtYW5vdGhlci1zZWNyZXQ";
    assert_error(
        &app.gql(ME, json!({}), Some(forged)).await,
        "UNAUTHENTICATED",
    );

    let login = "mutation($email: String!, $password: String!) {
        login(email: $email, password: $password) { accessToken expiresAt user { id email } }
    }";
    let wrong = app
        .gql(
            login,
            json!({ "email": user.email, "password": "wrong password" }),
            None,
        )
        .await;
    assert_error(&wrong, "UNAUTHENTICATED");
    let unknown = app
        .gql(
            login,
            json!({ "email": "nobody@example.com", "password": password }),
            None,
        )
        .await;
    assert_error(&unknown, "UNAUTHENTICATED");

    // The right credentials, and the CLI's token, do work.
    let body = app
        .gql(
            login,
            json!({ "email": user.email, "password": password }),
            None,
        )
        .await;
    let payload = &data(&body)["login"];
    assert_eq!(payload["user"]["id"], user.id.as_str());
    let token = payload["accessToken"].as_str().expect("accessToken");
    let me = app.gql(ME, json!({}), Some(token)).await;
    assert_eq!(data(&me)["me"]["email"], user.email.as_str());
    let me = app.gql(ME, json!({}), user.token()).await;
    assert_eq!(data(&me)["me"]["role"], "SALES");
}

async fn a_sales_rep_may_neither_approve_orders_nor_create_products(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    // A 5 % discount is above the rep's authority (0 %), so review asks for a manager.
    let mut discounted = line(&shop.product_id, "10");
    discounted["discountPercent"] = json!("5");
    let draft = create_order(
        &app,
        &shop.rep.token,
        complete_order_input(&shop.customer_id, vec![discounted]),
    )
    .await;
    let pending = submit(&app, &shop.rep.token, &draft, "PENDING_APPROVAL").await;
    let codes: Vec<&Value> = pending["reviewFindings"]
        .as_array()
        .expect("reviewFindings")
        .iter()
        .map(|f| &f["code"])
        .collect();
    assert!(
        codes.contains(&&json!("DISCOUNT_ABOVE_AUTHORITY")),
        "{codes:?}"
    );

    let body = approve_order(&app, &shop.rep.token, &pending).await;
    assert_error(&body, "FORBIDDEN");
    let unchanged = fetch_order(&app, &shop.rep.token, &id_of(&pending)).await;
    assert_eq!(unchanged["status"], "PENDING_APPROVAL");
    assert_eq!(version_of(&unchanged), version_of(&pending));

    // The rep's manager may.
    let body = approve_order(&app, &shop.manager.token, &pending).await;
    assert_eq!(order_in(&body, "approveOrder")["status"], "APPROVED");

    let body = create_product_raw(&app, &shop.rep.token, "SNEAKY-1", "1.00").await;
    assert_error(&body, "FORBIDDEN");
}

async fn an_order_that_does_not_exist_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app
        .add_user("ada.admin@example.com", Role::Admin, UserOptions::default())
        .await;
    let body = app
        .gql(
            "{ order(id: \"999999\") { id status } }",
            json!({}),
            admin.token(),
        )
        .await;
    assert_error(&body, "NOT_FOUND");
    let body = transition(&app, &admin.token, "999999", 1, "CANCELLED", Some("gone")).await;
    assert_error(&body, "NOT_FOUND");
}

async fn invalid_input_is_bad_user_input_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;

    let body = create_order_raw(
        &app,
        &shop.rep.token,
        complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "0")]),
        None,
    )
    .await;
    assert_field(&body, "quantity");

    let body = app
        .gql(
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }",
            json!({ "input": customer_input("Euroland AG", Some(&shop.rep.id), "EURO") }),
            shop.admin.token(),
        )
        .await;
    assert_field(&body, "currency");

    let body = app
        .gql(
            "{ orders(first: 101) { nodes { id } } }",
            json!({}),
            shop.admin.token(),
        )
        .await;
    assert_field(&body, "first");
    // 100 is the largest page, and fine.
    let page = orders_page(&app, &shop.admin.token, 100, None, json!(null)).await;
    assert_eq!(page["nodes"], json!([]), "the refused order was not stored");
}

/// Asserts BAD_USER_INPUT with an `extensions.field` naming `field`.
#[track_caller]
fn assert_field(body: &Value, field: &str) {
    let error = assert_error(body, "BAD_USER_INPUT");
    let named = error["extensions"]["field"].as_str().unwrap_or_default();
    assert!(
        named.to_lowercase().contains(&field.to_lowercase()),
        "extensions.field should name `{field}`:\n{}",
        pretty(body)
    );
}

async fn a_move_the_lifecycle_does_not_allow_is_an_invalid_transition_listing_the_allowed_ones(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let draft = shop.draft(&app).await;

    let body = transition(
        &app,
        &shop.rep.token,
        &id_of(&draft),
        version_of(&draft),
        "DELIVERED",
        None,
    )
    .await;
    let error = assert_error(&body, "INVALID_TRANSITION");
    assert_eq!(error["extensions"]["from"], "DRAFT", "{}", pretty(&body));
    let allowed = error["extensions"]["allowed"]
        .as_array()
        .unwrap_or_else(|| {
            panic!(
                "extensions.allowed should list statuses:\n{}",
                pretty(&body)
            )
        });
    assert!(allowed.contains(&json!("CANCELLED")), "{}", pretty(&body));
    assert!(!allowed.contains(&json!("DELIVERED")), "{}", pretty(&body));

    let unchanged = fetch_order(&app, &shop.rep.token, &id_of(&draft)).await;
    assert_eq!(unchanged["status"], "DRAFT");
    assert_eq!(version_of(&unchanged), version_of(&draft));
}

async fn a_stale_expected_version_is_a_conflict_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let draft = shop.draft(&app).await;
    let id = id_of(&draft);
    let stale = version_of(&draft);

    let body = update_draft(
        &app,
        &shop.rep.token,
        &id,
        stale,
        json!({ "notes": "call before delivery" }),
    )
    .await;
    let current = order_in(&body, "updateOrderDraft");
    assert_eq!(version_of(&current), stale + 1);
    let events_before = order_events(&app, &shop.rep.token, &id).await.len();

    // Someone still looking at the old version edits, then cancels.
    let body = update_draft(
        &app,
        &shop.manager.token,
        &id,
        stale,
        json!({ "notes": "lost update" }),
    )
    .await;
    let error = assert_error(&body, "CONFLICT");
    assert_eq!(
        error["extensions"]["expectedVersion"],
        stale,
        "{}",
        pretty(&body)
    );
    assert_eq!(
        error["extensions"]["actualVersion"],
        stale + 1,
        "{}",
        pretty(&body)
    );
    let body = transition(
        &app,
        &shop.manager.token,
        &id,
        stale,
        "CANCELLED",
        Some("customer changed their mind"),
    )
    .await;
    assert_error(&body, "CONFLICT");

    let after = fetch_order(&app, &shop.rep.token, &id).await;
    assert_eq!(after["notes"], "call before delivery");
    assert_eq!(after["status"], "DRAFT");
    assert_eq!(version_of(&after), stale + 1);
    assert_eq!(
        order_events(&app, &shop.rep.token, &id).await.len(),
        events_before,
        "no event was stored"
    );
}

async fn reusing_an_idempotency_key_with_different_input_is_a_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let input = complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "10")]);
    let key = Some("rep-tablet-7f3a");

    let first = order_in(
        &create_order_raw(&app, &shop.rep.token, input.clone(), key).await,
        "createOrder",
    );
    // A retry of the same request returns the first result.
    let retry = order_in(
        &create_order_raw(&app, &shop.rep.token, input, key).await,
        "createOrder",
    );
    assert_eq!(id_of(&retry), id_of(&first));
    assert_eq!(version_of(&retry), version_of(&first));

    let other_input = complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "11")]);
    let body = create_order_raw(&app, &shop.rep.token, other_input, key).await;
    assert_error(&body, "CONFLICT");

    let page = orders_page(
        &app,
        &shop.rep.token,
        100,
        None,
        json!({ "customerId": shop.customer_id }),
    )
    .await;
    assert_eq!(
        page["nodes"],
        json!([{ "id": id_of(&first) }]),
        "exactly one order was created"
    );
}

async fn a_query_nested_deeper_than_ten_levels_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app
        .add_user("ada.admin@example.com", Role::Admin, UserOptions::default())
        .await;
    // 12 levels: order > customer > orders > nodes > customer > orders > nodes > customer >
    // orders > nodes > customer > id. `first: 1` keeps its complexity small, so only depth trips.
    let deep = "{ order(id: \"1\") { customer { orders(first: 1) { nodes { customer {
                 orders(first: 1) { nodes { customer { orders(first: 1) { nodes { customer { id }
               } } } } } } } } } } }";
    let body = app.gql(deep, json!({}), admin.token()).await;
    assert_error(&body, "QUERY_TOO_DEEP");
    assert!(
        body["data"].is_null(),
        "nothing is executed:\n{}",
        pretty(&body)
    );

    // A shallow query still works on the same server.
    assert_eq!(
        error_code(&app.gql(ME, json!({}), admin.token()).await),
        None
    );
}

async fn a_query_that_is_too_complex_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app
        .add_user("ada.admin@example.com", Role::Admin, UserOptions::default())
        .await;
    // Shallow but wide: 2000 aliases of `me` with four fields each, a complexity of 10 000,
    // far above any sensible limit however the server weighs fields.
    let mut wide = String::from("{");
    for i in 0..2000 {
        write!(wide, " me{i}: me {{ id name email role }}").expect("write to a String");
    }
    wide.push_str(" }");
    let body = app.gql(&wide, json!({}), admin.token()).await;
    assert_error(&body, "QUERY_TOO_COMPLEX");
    assert!(
        body["data"].is_null(),
        "nothing is executed:\n{}",
        pretty(&body)
    );

    // Narrow but multiplied: huge page sizes nested three deep once overflowed the complexity
    // arithmetic during validation (found by fuzzing; no token needed to reach it).
    let nested = "{ customers(first: 2147483647) { nodes { orders(first: 2147483647) { nodes { \
                  customer { orders(first: 2147483647) { nodes { id } } } } } } } }";
    for token in [admin.token(), None] {
        let body = app.gql(nested, json!({}), token).await;
        assert_error(&body, "QUERY_TOO_COMPLEX");
    }
    assert_eq!(
        error_code(&app.gql(ME, json!({}), admin.token()).await),
        None,
        "the server keeps serving"
    );
}

/// `orderdesk_graphql_prevalidated_total`: queries run without repeating the validation their
/// document passed before.
async fn prevalidated(app: &tests::TestApp) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|line| line.strip_prefix("orderdesk_graphql_prevalidated_total "))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no prevalidated counter in\n{text}"))
}

/// A query's document is fully validated once; when it comes again, only the values of its
/// variables can differ, and execution checks them as it parses each argument. Whatever a
/// client sends the second time is refused as it would have been the first: a bad enum value,
/// a value of the wrong type, an unknown field of an input object, a directive's non-boolean,
/// a page size that makes the query too complex.
async fn a_query_sent_again_with_bad_variables_is_refused_as_the_first_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    shop.draft(&app).await;
    let token = Some(shop.rep.token.as_str());
    let run = async |query: &str, variables: Value| app.gql(query, variables, token).await;

    // Scalars and enums in variables: the repeat skips the document's rules.
    let by_status = "query Listed($status: [OrderStatus!], $first: Int) {
        orders(first: $first, filter: { status: $status }) { nodes { id status } } }";
    let good = json!({ "status": ["DRAFT"], "first": 5 });
    let first_time = run(by_status, good.clone()).await;
    assert_eq!(data(&first_time)["orders"]["nodes"][0]["status"], "DRAFT");
    let before = prevalidated(&app).await;
    assert_eq!(run(by_status, good).await, first_time);
    assert_eq!(
        prevalidated(&app).await,
        before + 1,
        "the repeat skipped them"
    );
    for bad in [
        json!({ "status": ["SHIPPED_TO_MARS"], "first": 5 }),
        json!({ "status": ["DRAFT"], "first": "five" }),
        json!({ "status": "DRAFT", "first": 5.5 }),
    ] {
        let body = run(by_status, bad.clone()).await;
        assert_error(&body, "BAD_USER_INPUT");
        assert!(
            body["data"].is_null() || body["data"]["orders"].is_null(),
            "{bad}: no orders for a bad variable:\n{}",
            pretty(&body)
        );
    }

    // The limits are computed with each request's variables.
    let nested = "query Deep($n: Int) { customers(first: $n) { nodes { orders(first: $n) {
        nodes { customer { orders(first: $n) { nodes { id } } } } } } } }";
    data(&run(nested, json!({ "n": 1 })).await);
    data(&run(nested, json!({ "n": 1 })).await);
    assert_error(
        &run(nested, json!({ "n": 2_147_483_647 })).await,
        "QUERY_TOO_COMPLEX",
    );

    // An input object, and a directive's variable, are fully validated every time: execution
    // alone would ignore the unknown field, and read a non-boolean as false.
    let by_filter = "query Filtered($filter: OrderFilter) {
        orders(first: 5, filter: $filter) { nodes { id } } }";
    for _ in 0..2 {
        data(&run(by_filter, json!({ "filter": { "status": ["DRAFT"] } })).await);
    }
    let body = run(
        by_filter,
        json!({ "filter": { "statuses": ["CANCELLED"] } }),
    )
    .await;
    assert_error(&body, "BAD_USER_INPUT");
    assert!(body["data"].is_null(), "{}", pretty(&body));
    let with_customer = "query Maybe($with: Boolean!) {
        orders(first: 5) { nodes { id customer @include(if: $with) { id } } } }";
    let before = prevalidated(&app).await;
    for _ in 0..2 {
        data(&run(with_customer, json!({ "with": true })).await);
    }
    let body = run(with_customer, json!({ "with": "yes" })).await;
    assert_error(&body, "BAD_USER_INPUT");
    assert_eq!(
        prevalidated(&app).await,
        before,
        "documents with directives are validated every time"
    );
}
