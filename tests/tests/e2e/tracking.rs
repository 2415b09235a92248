//! Following an order after confirmation through the API: shipments and deliveries, milestones
//! and the expected delivery date (DELIVERY_AT_RISK, `ordersAtRisk`), the order's timeline as
//! staff and as the customer see it, exceptions (hold, delay, analysis, resolution, the
//! `exceptions` list), and change requests (preview, request, decide, apply, revisions).

use std::time::Duration;

use serde_json::{Value, json};
use tests::json::pretty;
use tests::{
    Backend, Role, TestApp, TestUser, UserOptions, assert_error, data, spawn_app, spawn_app_with,
};

use crate::fixtures::{
    EVENT_TIMEOUT, Shop, complete_order_input, confirm_order, create_customer, create_order,
    create_product, dec, decimal, id_of, in_days, line, move_order, order_events, order_in,
    status_changes, submit, text, version_of,
};

backend_tests!(
    shipments_move_the_order_by_what_they_carry_and_the_last_delivery_delivers_it,
    milestones_move_the_expected_date_and_a_date_past_the_promise_puts_the_order_at_risk,
    the_timeline_shows_staff_everything_and_the_customer_what_concerns_them,
    an_exception_holds_and_delays_the_order_until_it_is_resolved,
    exceptions_are_listed_by_filter_and_page_within_the_callers_scope,
    an_approved_change_becomes_the_next_revision_and_the_previous_one_stays_readable,
    changes_are_refused_on_drafts_below_shipped_quantities_and_on_a_moved_revision,
    a_rep_decides_changes_within_the_configured_authority_and_a_manager_the_rest,
    a_shipment_time_given_to_the_nanosecond_is_answered_as_it_is_stored,
);

/// The order fields the tracking scenarios look at.
const TRACKED: &str = r"
fragment Tracked on Order {
  id number status version revision heldFrom expectedDeliveryDate atRisk
  total { amount currency }
  confirmation { promisedDate }
  lines { id lineNo sku quantity unitPrice { amount } total { amount } }
}";

const SHIPMENT_FIELDS: &str = "id orderId carrier trackingNumber lines { lineId lineNo quantity } shippedAt deliveredAt recordedBy { id }";

const EXCEPTION_FIELDS: &str = "id order { id } kind severity description costImpact { amount currency } delayDays heldOrder raisedBy { id } raisedAt rootCause actions status resolution lessonsLearned resolvedBy { id } resolvedAt";

const CHANGE_FIELDS: &str = "id order { id } lines { lineId productId quantity unitPrice discountPercent } promisedDate deliveryAddress reason baseRevision amountDelta delayDays reviewRequired requestedBy { id } requestedAt status decidedBy { id } decidedAt decisionComment appliedRevision appliedAt";

const PREVIEW_FIELDS: &str = "lines { id lineNo sku quantity unitPrice { amount } total { amount } }
  changes { field from to }
  totalBefore { amount currency } totalAfter { amount currency } amountDelta { amount currency }
  expectedDateBefore expectedDateAfter delayDays promisedDate
  credit { limit { amount currency } exposureBefore { amount currency } exposureAfter { amount currency } exceedsLimit comparable }
  reviewRequired findings { code severity lineNo }";

/// `orderEvents` of one order, from a cursor on.
const ORDER_EVENTS: &str = "subscription($filter: OrderEventFilter, $after: String) {
  orderEvents(filter: $filter, after: $after) { cursor type version orderId data }
}";

// ---------------------------------------------------------------------------------------------
// Helpers

/// A CUSTOMER login of the shop's customer (the buyer at the customer's company).
async fn buyer(app: &TestApp, shop: &Shop) -> TestUser {
    app.add_user(
        "buyer@northwind.test",
        Role::Customer,
        UserOptions {
            customer: Some(&shop.customer_id),
            ..UserOptions::default()
        },
    )
    .await
}

/// A product with a lead time of its own (the fixture's products all take 5 days).
async fn create_product_with_lead_time(
    app: &TestApp,
    token: &str,
    sku: &str,
    list_price: &str,
    lead_time_days: i64,
) -> String {
    let body = app
        .gql(
            "mutation($input: ProductInput!) { createProduct(input: $input) { id } }",
            json!({ "input": {
                "sku": sku,
                "name": format!("Product {sku}"),
                "unit": "pcs",
                "listPrice": list_price,
                "currency": "EUR",
                "leadTimeDays": lead_time_days,
                "active": true,
            }}),
            Some(token),
        )
        .await;
    id_of(&data(&body)["createProduct"])
}

/// An order of the rep's for `customer_id` with `lines`, submitted, approved by review and
/// confirmed by the customer (promised in 55 days).
async fn confirmed_with(app: &TestApp, shop: &Shop, customer_id: &str, lines: Vec<Value>) -> Value {
    let rep = &shop.rep;
    let draft = create_order(app, &rep.token, complete_order_input(customer_id, lines)).await;
    let approved = submit(app, &rep.token, &draft, "APPROVED").await;
    let confirmed = order_in(
        &confirm_order(app, &rep.token, &approved, "EMAIL").await,
        "confirmOrder",
    );
    assert_eq!(confirmed["status"], "CONFIRMED", "{}", pretty(&confirmed));
    confirmed
}

/// A draft of the rep's (ten widgets, requested in 60 days) approved and confirmed with
/// `promised_date` (none: the customer did not name one).
async fn confirmed_promising(app: &TestApp, shop: &Shop, promised_date: Option<String>) -> Value {
    let rep = &shop.rep;
    let approved = submit(app, &rep.token, &shop.draft(app).await, "APPROVED").await;
    let body = app
        .gql(
            &format!(
                "mutation($id: ID!, $v: Int!, $confirmation: ConfirmationInput!) {{
                   confirmOrder(id: $id, expectedVersion: $v, confirmation: $confirmation) {{ ...Tracked }}
                 }}\n{TRACKED}"
            ),
            json!({
                "id": id_of(&approved),
                "v": version_of(&approved),
                "confirmation": {
                    "confirmedBy": "Ana Buyer",
                    "channel": "PHONE",
                    "promisedDate": promised_date,
                },
            }),
            rep.token(),
        )
        .await;
    order_in(&body, "confirmOrder")
}

/// One page of `ordersAtRisk`: (ids, hasNextPage, endCursor).
async fn at_risk_page(
    app: &TestApp,
    token: &str,
    first: i64,
    after: Option<&str>,
) -> (Vec<String>, bool, Value) {
    let body = app
        .gql(
            "query($first: Int, $after: String) {
               ordersAtRisk(first: $first, after: $after) {
                 edges { node { id } } pageInfo { hasNextPage endCursor }
               }
             }",
            json!({ "first": first, "after": after }),
            Some(token),
        )
        .await;
    let page = &data(&body)["ordersAtRisk"];
    (
        edge_ids(page),
        page["pageInfo"]["hasNextPage"] == true,
        page["pageInfo"]["endCursor"].clone(),
    )
}

/// `order` moved through production to READY_TO_SHIP by the rep.
async fn ready_to_ship(app: &TestApp, shop: &Shop, order: &Value) -> Value {
    let in_production = move_order(app, &shop.rep.token, order, "IN_PRODUCTION", None).await;
    move_order(app, &shop.rep.token, &in_production, "READY_TO_SHIP", None).await
}

/// The order as the tracking scenarios look at it.
async fn tracked_order(app: &TestApp, token: &str, id: &str) -> Value {
    let body = app
        .gql(
            &format!("query($id: ID!) {{ order(id: $id) {{ ...Tracked }} }}\n{TRACKED}"),
            json!({ "id": id }),
            Some(token),
        )
        .await;
    order_in(&body, "order")
}

/// One list field of an order (`shipments`, `milestones`, ...) with `fields`.
async fn order_list(app: &TestApp, token: &str, id: &str, list: &str, fields: &str) -> Vec<Value> {
    let body = app
        .gql(
            &format!("query($id: ID!) {{ order(id: $id) {{ {list} {{ {fields} }} }} }}"),
            json!({ "id": id }),
            Some(token),
        )
        .await;
    data(&body)["order"][list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} is not a list:\n{}", pretty(&body)))
        .clone()
}

/// The `type` of each event.
fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| text(&e["type"])).collect()
}

/// The only event of `kind` among `events`.
#[track_caller]
fn only_event<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["type"] == kind).collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind} expected: {}",
        pretty(&json!(events))
    );
    found[0]
}

/// `field` of the first error's extensions.
#[track_caller]
fn bad_input_field(body: &Value) -> String {
    text(&assert_error(body, "BAD_USER_INPUT")["extensions"]["field"])
}

/// Yesterday as `YYYY-MM-DD`.
fn yesterday() -> String {
    (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string()
}

/// The time `at` (an RFC 3339 string) as an instant, so `+00:00` and `Z` compare equal.
#[track_caller]
fn instant(at: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(&text(at))
        .unwrap_or_else(|e| panic!("{at} is not an RFC 3339 time: {e}"))
        .with_timezone(&chrono::Utc)
}

// Shipments

fn shipment_input(order_id: &str, lines: &[(u32, &str)]) -> Value {
    json!({
        "carrier": "DHL",
        "trackingNumber": "JD014600003",
        "lines": lines
            .iter()
            .map(|(n, q)| json!({ "lineId": format!("{order_id}-{n}"), "quantity": q }))
            .collect::<Vec<_>>(),
    })
}

async fn record_shipment_raw(
    app: &TestApp,
    token: &str,
    order_id: &str,
    expected_version: i64,
    input: Value,
) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $v: Int!, $input: ShipmentInput!) {{
               recordShipment(orderId: $id, expectedVersion: $v, input: $input) {{
                 order {{ ...Tracked }} shipment {{ {SHIPMENT_FIELDS} }}
               }}
             }}\n{TRACKED}"
        ),
        json!({ "id": order_id, "v": expected_version, "input": input }),
        Some(token),
    )
    .await
}

/// Records a shipment of `lines` of `order`, which must succeed; returns (order, shipment).
async fn ship(app: &TestApp, token: &str, order: &Value, lines: &[(u32, &str)]) -> (Value, Value) {
    let id = id_of(order);
    let body = record_shipment_raw(
        app,
        token,
        &id,
        version_of(order),
        shipment_input(&id, lines),
    )
    .await;
    let payload = &data(&body)["recordShipment"];
    (payload["order"].clone(), payload["shipment"].clone())
}

async fn mark_delivered_raw(app: &TestApp, token: &str, shipment_id: &str) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!) {{
               markDelivered(shipmentId: $id) {{ order {{ ...Tracked }} shipment {{ {SHIPMENT_FIELDS} }} }}
             }}\n{TRACKED}"
        ),
        json!({ "id": shipment_id }),
        Some(token),
    )
    .await
}

// Milestones

async fn record_milestone_raw(
    app: &TestApp,
    token: &str,
    order_id: &str,
    expected_version: i64,
    input: Value,
) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $v: Int!, $input: MilestoneInput!) {{
               recordMilestone(orderId: $id, expectedVersion: $v, input: $input) {{
                 order {{ ...Tracked }} milestone {{ id kind occurredAt note recordedBy {{ id }} }}
               }}
             }}\n{TRACKED}"
        ),
        json!({ "id": order_id, "v": expected_version, "input": input }),
        Some(token),
    )
    .await
}

async fn record_milestone(app: &TestApp, token: &str, order: &Value, input: Value) -> Value {
    let body = record_milestone_raw(app, token, &id_of(order), version_of(order), input).await;
    data(&body)["recordMilestone"].clone()
}

/// The ids of the orders at risk `token` may see (one page of 100).
async fn at_risk_ids(app: &TestApp, token: &str) -> Vec<String> {
    let body = app
        .gql(
            "{ ordersAtRisk(first: 100) { nodes { id } } }",
            json!({}),
            Some(token),
        )
        .await;
    data(&body)["ordersAtRisk"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes:\n{}", pretty(&body)))
        .iter()
        .map(id_of)
        .collect()
}

// Notes

async fn add_note(app: &TestApp, token: &str, order_id: &str, visibility: &str, body: &str) {
    let response = app
        .gql(
            "mutation($orderId: ID!, $visibility: NoteVisibility!, $body: String!) {
               addOrderNote(orderId: $orderId, visibility: $visibility, body: $body) { id }
             }",
            json!({ "orderId": order_id, "visibility": visibility, "body": body }),
            Some(token),
        )
        .await;
    data(&response);
}

// Exceptions

async fn raise_exception_raw(
    app: &TestApp,
    token: &str,
    order_id: &str,
    expected_version: i64,
    input: Value,
) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $v: Int!, $input: RaiseExceptionInput!) {{
               raiseException(orderId: $id, expectedVersion: $v, input: $input) {{
                 order {{ ...Tracked }} exception {{ {EXCEPTION_FIELDS} }}
               }}
             }}\n{TRACKED}"
        ),
        json!({ "id": order_id, "v": expected_version, "input": input }),
        Some(token),
    )
    .await
}

/// Raises an exception on `order`, which must succeed; returns (order, exception).
async fn raise(app: &TestApp, token: &str, order: &Value, input: Value) -> (Value, Value) {
    let body = raise_exception_raw(app, token, &id_of(order), version_of(order), input).await;
    let payload = &data(&body)["raiseException"];
    (payload["order"].clone(), payload["exception"].clone())
}

fn exception_input(kind: &str, severity: &str, description: &str) -> Value {
    json!({ "kind": kind, "severity": severity, "description": description })
}

async fn update_exception_raw(app: &TestApp, token: &str, id: &str, input: Value) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $input: UpdateExceptionInput!) {{
               updateException(id: $id, input: $input) {{
                 order {{ ...Tracked }} exception {{ {EXCEPTION_FIELDS} }}
               }}
             }}\n{TRACKED}"
        ),
        json!({ "id": id, "input": input }),
        Some(token),
    )
    .await
}

async fn resolve_exception_raw(
    app: &TestApp,
    token: &str,
    id: &str,
    resolution: &str,
    lessons_learned: Option<&str>,
    resume_order: bool,
) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $resolution: String!, $lessons: String, $resume: Boolean!) {{
               resolveException(id: $id, resolution: $resolution, lessonsLearned: $lessons, resumeOrder: $resume) {{
                 order {{ ...Tracked }} exception {{ {EXCEPTION_FIELDS} }}
               }}
             }}\n{TRACKED}"
        ),
        json!({ "id": id, "resolution": resolution, "lessons": lessons_learned, "resume": resume_order }),
        Some(token),
    )
    .await
}

async fn exceptions_raw(
    app: &TestApp,
    token: &str,
    filter: Value,
    first: i64,
    after: Option<&str>,
) -> Value {
    app.gql(
        "query($filter: ExceptionFilter, $first: Int, $after: String) {
           exceptions(filter: $filter, first: $first, after: $after) {
             edges { cursor node { id } }
             pageInfo { hasNextPage endCursor }
           }
         }",
        json!({ "filter": filter, "first": first, "after": after }),
        Some(token),
    )
    .await
}

/// The ids of the exceptions `token` sees under `filter`, in the API's order (one page of 100).
async fn exception_ids(app: &TestApp, token: &str, filter: Value) -> Vec<String> {
    let body = exceptions_raw(app, token, filter, 100, None).await;
    let page = &data(&body)["exceptions"];
    assert_eq!(page["pageInfo"]["hasNextPage"], false, "{}", pretty(page));
    edge_ids(page)
}

fn edge_ids(page: &Value) -> Vec<String> {
    page["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges:\n{}", pretty(page)))
        .iter()
        .map(|edge| id_of(&edge["node"]))
        .collect()
}

// Change requests

async fn preview_change_raw(app: &TestApp, token: &str, order_id: &str, change: Value) -> Value {
    app.gql(
        &format!(
            "query($id: ID!, $change: OrderChangeInput!) {{
               previewOrderChange(orderId: $id, change: $change) {{ {PREVIEW_FIELDS} }}
             }}"
        ),
        json!({ "id": order_id, "change": change }),
        Some(token),
    )
    .await
}

async fn request_change_raw(
    app: &TestApp,
    token: &str,
    order_id: &str,
    expected_version: i64,
    change: Value,
    reason: &str,
) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $v: Int!, $change: OrderChangeInput!, $reason: String!) {{
               requestOrderChange(orderId: $id, expectedVersion: $v, change: $change, reason: $reason) {{
                 order {{ ...Tracked }} changeRequest {{ {CHANGE_FIELDS} }}
               }}
             }}\n{TRACKED}"
        ),
        json!({ "id": order_id, "v": expected_version, "change": change, "reason": reason }),
        Some(token),
    )
    .await
}

/// Requests `change` of `order` as the rep, which must succeed; returns (order, request).
async fn request_change(
    app: &TestApp,
    token: &str,
    order: &Value,
    change: Value,
    reason: &str,
) -> (Value, Value) {
    let body =
        request_change_raw(app, token, &id_of(order), version_of(order), change, reason).await;
    let payload = &data(&body)["requestOrderChange"];
    assert_eq!(
        payload["changeRequest"]["status"],
        "PROPOSED",
        "{}",
        pretty(payload)
    );
    (payload["order"].clone(), payload["changeRequest"].clone())
}

async fn approve_change_raw(app: &TestApp, token: &str, id: &str, comment: Option<&str>) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $comment: String) {{
               approveOrderChange(id: $id, comment: $comment) {{
                 order {{ ...Tracked }} changeRequest {{ {CHANGE_FIELDS} }}
               }}
             }}\n{TRACKED}"
        ),
        json!({ "id": id, "comment": comment }),
        Some(token),
    )
    .await
}

async fn reject_change_raw(app: &TestApp, token: &str, id: &str, comment: &str) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $comment: String!) {{
               rejectOrderChange(id: $id, comment: $comment) {{
                 order {{ ...Tracked }} changeRequest {{ {CHANGE_FIELDS} }}
               }}
             }}\n{TRACKED}"
        ),
        json!({ "id": id, "comment": comment }),
        Some(token),
    )
    .await
}

async fn apply_change_raw(app: &TestApp, token: &str, id: &str, expected_version: i64) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $v: Int!) {{
               applyOrderChange(id: $id, expectedVersion: $v) {{
                 order {{ ...Tracked }} changeRequest {{ {CHANGE_FIELDS} }}
               }}
             }}\n{TRACKED}"
        ),
        json!({ "id": id, "v": expected_version }),
        Some(token),
    )
    .await
}

/// Approves change request `id` as `token`, which must succeed; returns the request.
async fn approve_change(app: &TestApp, token: &str, id: &str) -> Value {
    let body = approve_change_raw(app, token, id, None).await;
    let request = data(&body)["approveOrderChange"]["changeRequest"].clone();
    assert_eq!(request["status"], "APPROVED", "{}", pretty(&request));
    request
}

/// `(field, from, to)` of each change, as given.
fn field_changes(changes: &Value) -> Vec<(String, Value, Value)> {
    changes
        .as_array()
        .unwrap_or_else(|| panic!("changes are not a list: {}", pretty(changes)))
        .iter()
        .map(|c| (text(&c["field"]), c["from"].clone(), c["to"].clone()))
        .collect()
}

/// `(lineNo, sku, quantity, line total)` of each line.
fn line_summary(lines: &Value) -> Vec<(i64, String, rust_decimal::Decimal, rust_decimal::Decimal)> {
    lines
        .as_array()
        .unwrap_or_else(|| panic!("lines are not a list: {}", pretty(lines)))
        .iter()
        .map(|l| {
            (
                l["lineNo"].as_i64().unwrap_or_default(),
                text(&l["sku"]),
                decimal(&l["quantity"]),
                decimal(&l["total"]["amount"]),
            )
        })
        .collect()
}

fn lines(
    items: &[(i64, &str, &str, &str)],
) -> Vec<(i64, String, rust_decimal::Decimal, rust_decimal::Decimal)> {
    items
        .iter()
        .map(|(n, sku, q, total)| (*n, (*sku).to_owned(), dec(q), dec(total)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async fn shipments_move_the_order_by_what_they_carry_and_the_last_delivery_delivers_it(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let buyer = buyer(&app, &shop).await;
    let gear = create_product(&app, &shop.admin.token, "GEAR-12", "7.25").await;
    let order = confirmed_with(
        &app,
        &shop,
        &shop.customer_id,
        vec![line(&shop.product_id, "10"), line(&gear, "4")],
    )
    .await;
    let id = id_of(&order);

    // A CONFIRMED order is not ready to ship.
    let body = record_shipment_raw(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        shipment_input(&id, &[(1, "4")]),
    )
    .await;
    let error = assert_error(&body, "INVALID_TRANSITION");
    assert_eq!(
        error["extensions"]["from"],
        "CONFIRMED",
        "{}",
        pretty(&body)
    );

    let order = ready_to_ship(&app, &shop, &order).await;
    let v = version_of(&order);
    let before = order_events(&app, &rep.token, &id).await.len();

    // Part of line 1 left two hours ago.
    let shipped_at = format!(
        "{}.123456Z",
        (chrono::Utc::now() - chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:%S")
    );
    let mut first_input = shipment_input(&id, &[(1, "4")]);
    first_input["shippedAt"] = json!(shipped_at);
    let body = record_shipment_raw(&app, &rep.token, &id, version_of(&order), first_input).await;
    let payload = &data(&body)["recordShipment"];
    let (order, first) = (payload["order"].clone(), payload["shipment"].clone());
    assert_eq!(order["status"], "PARTIALLY_SHIPPED", "{}", pretty(&order));
    assert_eq!(version_of(&order), v + 1, "{}", pretty(&order));
    assert_eq!(first["orderId"], id.as_str());
    assert_eq!(first["carrier"], "DHL");
    assert_eq!(first["trackingNumber"], "JD014600003");
    assert_eq!(first["deliveredAt"], Value::Null);
    assert_eq!(first["recordedBy"]["id"], rep.id.as_str());
    assert_eq!(first["lines"][0]["lineId"], format!("{id}-1").as_str());
    assert_eq!(first["lines"][0]["lineNo"], 1);
    assert_eq!(decimal(&first["lines"][0]["quantity"]), dec("4"));
    assert_eq!(first["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(instant(&first["shippedAt"]), instant(&json!(shipped_at)));
    let events = order_events(&app, &rep.token, &id).await;
    assert_eq!(
        types(&events[before..]),
        ["SHIPMENT_RECORDED", "STATUS_CHANGED"]
    );
    let recorded = &events[before];
    assert_eq!(
        recorded["data"]["shipment_id"].to_string(),
        text(&first["id"])
    );
    assert_eq!(recorded["data"]["carrier"], "DHL");
    assert_eq!(
        status_changes(&events[before..]),
        [(
            "READY_TO_SHIP".to_owned(),
            "PARTIALLY_SHIPPED".to_owned(),
            v + 1
        )]
    );

    // More of line 1 and all of line 2: still partial, and no status event for it.
    let (order, second) = ship(&app, &rep.token, &order, &[(1, "3"), (2, "4")]).await;
    assert_eq!(order["status"], "PARTIALLY_SHIPPED");
    assert_eq!(version_of(&order), v + 2);
    assert_eq!(second["lines"].as_array().map(Vec::len), Some(2));
    let events = order_events(&app, &rep.token, &id).await;
    assert_eq!(
        types(&events[before..]),
        ["SHIPMENT_RECORDED", "STATUS_CHANGED", "SHIPMENT_RECORDED"]
    );

    // What a later read gives is what the mutations answered.
    let shipments = order_list(&app, &rep.token, &id, "shipments", SHIPMENT_FIELDS).await;
    assert_eq!(shipments, [first.clone(), second.clone()]);

    // Refused, changing nothing: more than is left of line 1 (3), anything of line 2, a line
    // the order does not have, another order's line, and a stale version.
    let other = shop.confirmed_order(&app).await;
    let refusals = [
        (shipment_input(&id, &[(1, "4")]), "quantity"),
        (shipment_input(&id, &[(1, "2"), (1, "2")]), "quantity"),
        (shipment_input(&id, &[(2, "1")]), "quantity"),
        (shipment_input(&id, &[(3, "1")]), "lineId"),
        (shipment_input(&id_of(&other), &[(1, "1")]), "lineId"),
        (shipment_input(&id, &[(1, "0")]), "quantity"),
        (shipment_input(&id, &[]), "lines"),
        (
            json!({ "carrier": " ", "lines": [{ "lineId": format!("{id}-1"), "quantity": "1" }] }),
            "carrier",
        ),
        (
            json!({
                "carrier": "DHL",
                "shippedAt": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339(),
                "lines": [{ "lineId": format!("{id}-1"), "quantity": "1" }],
            }),
            "shippedAt",
        ),
    ];
    for (input, field) in refusals {
        let body = record_shipment_raw(&app, &rep.token, &id, v + 2, input.clone()).await;
        assert_eq!(bad_input_field(&body), field, "{}", pretty(&input));
    }
    let body = record_shipment_raw(
        &app,
        &rep.token,
        &id,
        v + 1,
        shipment_input(&id, &[(1, "1")]),
    )
    .await;
    let error = assert_error(&body, "CONFLICT");
    assert_eq!(
        error["extensions"]["actualVersion"],
        v + 2,
        "{}",
        pretty(&body)
    );
    // The customer's buyer may not record shipments.
    let body = record_shipment_raw(
        &app,
        &buyer.token,
        &id,
        v + 2,
        shipment_input(&id, &[(1, "1")]),
    )
    .await;
    assert_error(&body, "FORBIDDEN");
    let unchanged = tracked_order(&app, &rep.token, &id).await;
    assert_eq!(version_of(&unchanged), v + 2);
    assert_eq!(unchanged["status"], "PARTIALLY_SHIPPED");
    assert_eq!(
        order_list(&app, &rep.token, &id, "shipments", SHIPMENT_FIELDS).await,
        [first.clone(), second.clone()]
    );
    assert_eq!(
        order_events(&app, &rep.token, &id).await.len(),
        events.len()
    );

    // The rest of line 1: SHIPPED.
    let (order, third) = ship(&app, &rep.token, &order, &[(1, "3")]).await;
    assert_eq!(order["status"], "SHIPPED");
    assert_eq!(version_of(&order), v + 3);
    let events = order_events(&app, &rep.token, &id).await;
    assert_eq!(
        status_changes(&events[before..]),
        [
            (
                "READY_TO_SHIP".to_owned(),
                "PARTIALLY_SHIPPED".to_owned(),
                v + 1
            ),
            ("PARTIALLY_SHIPPED".to_owned(), "SHIPPED".to_owned(), v + 3),
        ]
    );
    // Nothing is left to ship.
    let body = record_shipment_raw(
        &app,
        &rep.token,
        &id,
        v + 3,
        shipment_input(&id, &[(1, "1")]),
    )
    .await;
    let error = assert_error(&body, "INVALID_TRANSITION");
    assert_eq!(error["extensions"]["from"], "SHIPPED");

    // Deliveries: the order stays SHIPPED until the last shipment arrives.
    let body = mark_delivered_raw(&app, &buyer.token, &text(&first["id"])).await;
    assert_error(&body, "FORBIDDEN");
    let body = mark_delivered_raw(&app, &rep.token, "999999").await;
    assert_error(&body, "NOT_FOUND");
    let body = app
        .gql(
            "mutation($id: ID!, $at: DateTime) { markDelivered(shipmentId: $id, deliveredAt: $at) { shipment { id } } }",
            json!({
                "id": first["id"],
                "at": (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339(),
            }),
            rep.token(),
        )
        .await;
    assert_eq!(bad_input_field(&body), "deliveredAt", "before it left");
    let body = mark_delivered_raw(&app, &rep.token, &text(&first["id"])).await;
    let delivered = &data(&body)["markDelivered"];
    assert_eq!(delivered["order"]["status"], "SHIPPED");
    assert_eq!(version_of(&delivered["order"]), v + 4);
    assert_eq!(delivered["shipment"]["id"], first["id"]);
    assert!(
        delivered["shipment"]["deliveredAt"].is_string(),
        "{}",
        pretty(delivered)
    );
    let body = mark_delivered_raw(&app, &rep.token, &text(&second["id"])).await;
    assert_eq!(data(&body)["markDelivered"]["order"]["status"], "SHIPPED");
    let before_last = order_events(&app, &rep.token, &id).await.len();
    let last = mark_delivered_raw(&app, &rep.token, &text(&third["id"])).await;
    let delivered = &data(&last)["markDelivered"];
    assert_eq!(
        delivered["order"]["status"],
        "DELIVERED",
        "{}",
        pretty(delivered)
    );
    assert_eq!(version_of(&delivered["order"]), v + 6);
    let events = order_events(&app, &rep.token, &id).await;
    assert_eq!(
        types(&events[before_last..]),
        ["SHIPMENT_DELIVERED", "STATUS_CHANGED"]
    );
    assert_eq!(
        status_changes(&events[before_last..]),
        [("SHIPPED".to_owned(), "DELIVERED".to_owned(), v + 6)]
    );

    // Delivering again (a phone retrying) answers the same and records nothing.
    let again = mark_delivered_raw(&app, &rep.token, &text(&third["id"])).await;
    assert_eq!(again, last);
    let body = mark_delivered_raw(&app, &rep.token, &text(&first["id"])).await;
    assert_eq!(version_of(&data(&body)["markDelivered"]["order"]), v + 6);
    assert_eq!(
        order_events(&app, &rep.token, &id).await.len(),
        events.len()
    );
    let shipments = order_list(&app, &rep.token, &id, "shipments", SHIPMENT_FIELDS).await;
    assert_eq!(shipments.len(), 3);
    assert!(
        shipments.iter().all(|s| s["deliveredAt"].is_string()),
        "{}",
        pretty(&json!(shipments))
    );
    assert_eq!(shipments[2], delivered["shipment"]);
}

async fn milestones_move_the_expected_date_and_a_date_past_the_promise_puts_the_order_at_risk(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let (other, _) = shop.other_rep(&app).await;
    let buyer = buyer(&app, &shop).await;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let calm = shop.confirmed_order(&app).await;

    // Until production says otherwise, the goods are expected when promised.
    let tracked = tracked_order(&app, &rep.token, &id).await;
    assert_eq!(
        tracked["confirmation"]["promisedDate"],
        in_days(55).as_str()
    );
    assert_eq!(tracked["expectedDeliveryDate"], in_days(55).as_str());
    assert_eq!(tracked["atRisk"], false);
    assert_eq!(at_risk_ids(&app, &rep.token).await, Vec::<String>::new());

    // A DRAFT has no production to report on; a milestone cannot be in the future.
    let draft = shop.draft(&app).await;
    let body = record_milestone_raw(
        &app,
        &rep.token,
        &id_of(&draft),
        version_of(&draft),
        json!({ "kind": "PRODUCTION_STARTED" }),
    )
    .await;
    let error = assert_error(&body, "INVALID_TRANSITION");
    assert_eq!(error["extensions"]["from"], "DRAFT");
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let body = record_milestone_raw(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        json!({ "kind": "PRODUCTION_STARTED", "occurredAt": tomorrow }),
    )
    .await;
    assert_eq!(bad_input_field(&body), "occurredAt");
    let body = record_milestone_raw(
        &app,
        &rep.token,
        &id,
        version_of(&order) - 1,
        json!({ "kind": "PRODUCTION_STARTED" }),
    )
    .await;
    assert_error(&body, "CONFLICT");
    let body = record_milestone_raw(
        &app,
        &buyer.token,
        &id,
        version_of(&order),
        json!({ "kind": "PRODUCTION_STARTED" }),
    )
    .await;
    assert_error(&body, "FORBIDDEN");
    assert_eq!(
        version_of(&tracked_order(&app, &rep.token, &id).await),
        version_of(&order)
    );

    // A subscriber to the order's DELIVERY_AT_RISK events, from the last stored event on.
    let stored = order_events(&app, &rep.token, &id).await;
    let mut subscription = app
        .subscribe(
            ORDER_EVENTS,
            json!({
                "filter": { "orderId": id, "types": ["DELIVERY_AT_RISK"] },
                "after": stored.last().expect("events")["cursor"],
            }),
            rep.token(),
        )
        .await;
    // And the buyer, to every event of their order they may see.
    let mut buyer_feed = app
        .subscribe(
            ORDER_EVENTS,
            json!({
                "filter": { "orderId": id },
                "after": stored.last().expect("events")["cursor"],
            }),
            buyer.token(),
        )
        .await;

    // Production started on a CONFIRMED order and says a week later than promised.
    let recorded = record_milestone(
        &app,
        &rep.token,
        &order,
        json!({
            "kind": "PRODUCTION_STARTED",
            "note": "housings arrive late",
            "expectedDeliveryDate": in_days(62),
        }),
    )
    .await;
    let milestone = &recorded["milestone"];
    assert_eq!(milestone["kind"], "PRODUCTION_STARTED");
    assert_eq!(milestone["note"], "housings arrive late");
    assert_eq!(milestone["recordedBy"]["id"], rep.id.as_str());
    let moved = &recorded["order"];
    assert_eq!(moved["status"], "CONFIRMED");
    assert_eq!(version_of(moved), version_of(&order) + 1);
    assert_eq!(moved["expectedDeliveryDate"], in_days(62).as_str());
    assert_eq!(moved["confirmation"]["promisedDate"], in_days(55).as_str());
    assert_eq!(moved["atRisk"], true);
    let events = order_events(&app, &rep.token, &id).await;
    let new = &events[stored.len()..];
    assert_eq!(
        types(new),
        [
            "MILESTONE_RECORDED",
            "EXPECTED_DATE_CHANGED",
            "DELIVERY_AT_RISK"
        ]
    );
    assert!(new.iter().all(|e| version_of(e) == version_of(moved)));
    let date_changed = only_event(new, "EXPECTED_DATE_CHANGED");
    assert_eq!(date_changed["data"]["from"], in_days(55).as_str());
    assert_eq!(date_changed["data"]["to"], in_days(62).as_str());
    let risk = only_event(new, "DELIVERY_AT_RISK");
    assert_eq!(risk["data"]["promised_date"], in_days(55).as_str());
    assert_eq!(risk["data"]["expected_date"], in_days(62).as_str());
    assert_eq!(risk["actor"]["id"], rep.id.as_str());
    assert_eq!(
        tracked_order(&app, &rep.token, &id).await,
        *moved,
        "a read gives what the mutation answered"
    );

    // The subscriber hears of it.
    let live = subscription.next_event(EVENT_TIMEOUT).await["orderEvents"].clone();
    assert_eq!(live["type"], "DELIVERY_AT_RISK");
    assert_eq!(live["orderId"], id.as_str());
    assert_eq!(version_of(&live), version_of(moved));
    assert_eq!(live["cursor"], risk["cursor"]);
    assert_eq!(live["data"]["expected_date"], in_days(62).as_str());

    // The order is at risk for its rep, their manager and the admin; not for another rep.
    assert_eq!(at_risk_ids(&app, &rep.token).await, [id.as_str()]);
    assert_eq!(at_risk_ids(&app, &shop.manager.token).await, [id.as_str()]);
    assert_eq!(at_risk_ids(&app, &shop.admin.token).await, [id.as_str()]);
    assert_eq!(at_risk_ids(&app, &other.token).await, Vec::<String>::new());

    // Promised for yesterday and not delivered: at risk without any date moving; it comes
    // first, the earliest promise leading.
    let overdue = confirmed_promising(&app, &shop, Some(yesterday())).await;
    assert_eq!(overdue["expectedDeliveryDate"], yesterday().as_str());
    assert_eq!(overdue["atRisk"], true, "{}", pretty(&overdue));
    let overdue = id_of(&overdue);
    assert_eq!(
        at_risk_ids(&app, &rep.token).await,
        [overdue.clone(), id.clone()]
    );
    let (page, more, cursor) = at_risk_page(&app, &shop.manager.token, 1, None).await;
    assert_eq!((page, more), (vec![overdue.clone()], true));
    let (page, more, _) = at_risk_page(&app, &shop.manager.token, 1, cursor.as_str()).await;
    assert_eq!((page, more), (vec![id.clone()], false));
    assert_eq!(at_risk_ids(&app, &other.token).await, Vec::<String>::new());
    // Confirmed without naming a date: the customer confirmed the one they asked for.
    let unpromised = confirmed_promising(&app, &shop, None).await;
    assert_eq!(
        unpromised["confirmation"]["promisedDate"],
        in_days(60).as_str()
    );
    assert_eq!(unpromised["expectedDeliveryDate"], in_days(60).as_str());
    assert_eq!(unpromised["atRisk"], false);
    let body = app
        .gql(
            "{ ordersAtRisk { nodes { id } } }",
            json!({}),
            buyer.token(),
        )
        .await;
    assert_error(&body, "FORBIDDEN");

    // The buyer sees the new date, not the internal alarm.
    let seen = types(&order_events(&app, &buyer.token, &id).await);
    assert!(
        seen.contains(&"EXPECTED_DATE_CHANGED".to_owned()),
        "{seen:?}"
    );
    assert!(seen.contains(&"MILESTONE_RECORDED".to_owned()), "{seen:?}");
    assert!(!seen.contains(&"DELIVERY_AT_RISK".to_owned()), "{seen:?}");

    // Later still: the date moves, but the order was already late: no second alarm.
    let later = record_milestone(
        &app,
        &rep.token,
        moved,
        json!({ "kind": "PRODUCTION_FINISHED", "expectedDeliveryDate": in_days(64) }),
    )
    .await;
    assert_eq!(later["order"]["expectedDeliveryDate"], in_days(64).as_str());
    assert_eq!(later["order"]["atRisk"], true);
    let events = order_events(&app, &rep.token, &id).await;
    assert_eq!(
        types(&events[stored.len() + 3..]),
        ["MILESTONE_RECORDED", "EXPECTED_DATE_CHANGED"]
    );
    assert_eq!(
        subscription.try_next_event(Duration::from_secs(1)).await,
        None
    );
    // The buyer heard of both moves of the date, never of the internal alarm.
    let mut heard = Vec::new();
    for _ in 0..4 {
        let event = buyer_feed.next_event(EVENT_TIMEOUT).await["orderEvents"].clone();
        heard.push(text(&event["type"]));
    }
    assert_eq!(
        heard,
        [
            "MILESTONE_RECORDED",
            "EXPECTED_DATE_CHANGED",
            "MILESTONE_RECORDED",
            "EXPECTED_DATE_CHANGED"
        ]
    );

    // Back before the promise: no longer at risk, and off the list.
    let back = record_milestone(
        &app,
        &rep.token,
        &later["order"],
        json!({ "kind": "QUALITY_CHECK", "expectedDeliveryDate": in_days(54) }),
    )
    .await;
    assert_eq!(back["order"]["expectedDeliveryDate"], in_days(54).as_str());
    assert_eq!(back["order"]["atRisk"], false);
    assert_eq!(at_risk_ids(&app, &rep.token).await, [overdue.as_str()]);
    assert_eq!(
        at_risk_ids(&app, &shop.manager.token).await,
        [overdue.as_str()]
    );

    // The milestones, in the order they happened.
    let milestones = order_list(
        &app,
        &rep.token,
        &id,
        "milestones",
        "kind note recordedBy { id }",
    )
    .await;
    let kinds: Vec<String> = milestones.iter().map(|m| text(&m["kind"])).collect();
    assert_eq!(
        kinds,
        ["PRODUCTION_STARTED", "PRODUCTION_FINISHED", "QUALITY_CHECK"]
    );
    // The other order was never touched.
    let calm = tracked_order(&app, &rep.token, &id_of(&calm)).await;
    assert_eq!(calm["expectedDeliveryDate"], in_days(55).as_str());
    assert_eq!(calm["atRisk"], false);
    subscription.close().await;
    buyer_feed.close().await;
}

async fn the_timeline_shows_staff_everything_and_the_customer_what_concerns_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let manager = &shop.manager;
    let buyer = buyer(&app, &shop).await;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);

    let order = move_order(&app, &rep.token, &order, "IN_PRODUCTION", None).await;
    let recorded = record_milestone(
        &app,
        &rep.token,
        &order,
        json!({ "kind": "PRODUCTION_FINISHED", "note": "all ten built" }),
    )
    .await;
    add_note(
        &app,
        &rep.token,
        &id,
        "INTERNAL",
        "customer sounded nervous on the phone",
    )
    .await;
    add_note(
        &app,
        &rep.token,
        &id,
        "CUSTOMER_VISIBLE",
        "Your widgets are built.",
    )
    .await;
    let (order, _) = raise(
        &app,
        &manager.token,
        &recorded["order"],
        exception_input("QUALITY", "LOW", "scratches on two housings"),
    )
    .await;
    let order = move_order(&app, &rep.token, &order, "READY_TO_SHIP", None).await;
    ship(&app, &rep.token, &order, &[(1, "10")]).await;

    let timeline = |token: String| {
        let app = &app;
        let id = id.clone();
        async move {
            let body = app
                .gql(
                    "query($id: ID!) { order(id: $id) { timeline {
                       at kind summary actor { id } event { type } note { visibility body }
                     } } }",
                    json!({ "id": id }),
                    Some(&token),
                )
                .await;
            data(&body)["order"]["timeline"]
                .as_array()
                .unwrap_or_else(|| panic!("no timeline:\n{}", pretty(&body)))
                .clone()
        }
    };

    // Staff: everything, oldest first, each with who did it.
    let staff = timeline(rep.token.clone()).await;
    let entries: Vec<(String, String)> = staff
        .iter()
        .map(|e| (text(&e["kind"]), text(&e["actor"]["id"])))
        .collect();
    let (r, m) = (rep.id.clone(), manager.id.clone());
    let expected: Vec<(String, String)> = [
        ("ORDER_CREATED", &r),
        ("REVIEW_COMPLETED", &r),
        ("STATUS_CHANGED", &r),
        ("ORDER_CONFIRMED", &r),
        ("STATUS_CHANGED", &r),
        ("STATUS_CHANGED", &r),
        ("MILESTONE_RECORDED", &r),
        ("NOTE", &r),
        ("NOTE", &r),
        ("EXCEPTION_RAISED", &m),
        ("STATUS_CHANGED", &r),
        ("SHIPMENT_RECORDED", &r),
        ("STATUS_CHANGED", &r),
    ]
    .into_iter()
    .map(|(kind, actor)| (kind.to_owned(), actor.clone()))
    .collect();
    assert_eq!(entries, expected, "{}", pretty(&json!(staff)));
    let times: Vec<_> = staff.iter().map(|e| instant(&e["at"])).collect();
    assert!(times.is_sorted(), "timeline out of time order: {times:?}");
    for entry in &staff {
        if entry["kind"] == "NOTE" {
            assert_eq!(entry["event"], Value::Null);
            assert_eq!(entry["summary"], entry["note"]["body"]);
        } else {
            assert_eq!(entry["event"]["type"], entry["kind"], "{}", pretty(entry));
            assert_eq!(entry["note"], Value::Null);
        }
        assert!(
            !text(&entry["summary"]).trim().is_empty(),
            "{}",
            pretty(entry)
        );
    }
    assert_eq!(staff[7]["note"]["visibility"], "INTERNAL");
    assert_eq!(staff[8]["note"]["visibility"], "CUSTOMER_VISIBLE");
    let summaries: Vec<String> = staff.iter().map(|e| text(&e["summary"])).collect();
    assert_eq!(summaries[10], "IN_PRODUCTION → READY_TO_SHIP");
    assert_eq!(summaries[12], "READY_TO_SHIP → SHIPPED");
    assert!(summaries[6].contains("all ten built"), "{}", summaries[6]);
    assert!(summaries[11].contains("DHL"), "{}", summaries[11]);

    // The buyer: status changes, the milestone, the shipment and the note meant for them.
    let theirs = timeline(buyer.token.clone()).await;
    let kinds: Vec<String> = theirs.iter().map(|e| text(&e["kind"])).collect();
    assert_eq!(
        kinds,
        [
            "ORDER_CREATED",
            "STATUS_CHANGED",
            "ORDER_CONFIRMED",
            "STATUS_CHANGED",
            "STATUS_CHANGED",
            "MILESTONE_RECORDED",
            "NOTE",
            "STATUS_CHANGED",
            "SHIPMENT_RECORDED",
            "STATUS_CHANGED",
        ],
        "{}",
        pretty(&json!(theirs))
    );
    assert_eq!(theirs[6]["note"]["body"], "Your widgets are built.");
    assert_eq!(theirs[6]["note"]["visibility"], "CUSTOMER_VISIBLE");
    let staff_without: Vec<&Value> = staff
        .iter()
        .filter(|e| {
            !matches!(
                e["kind"].as_str(),
                Some("REVIEW_COMPLETED" | "EXCEPTION_RAISED")
            ) && e["note"]["visibility"] != "INTERNAL"
        })
        .collect();
    assert_eq!(
        theirs.iter().collect::<Vec<_>>(),
        staff_without,
        "the buyer's entries are the staff's, minus the internal ones"
    );
}

async fn an_exception_holds_and_delays_the_order_until_it_is_resolved(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let buyer = buyer(&app, &shop).await;
    let confirmed = shop.confirmed_order(&app).await;
    let order = move_order(&app, &rep.token, &confirmed, "IN_PRODUCTION", None).await;
    let id = id_of(&order);

    // Refused, storing nothing.
    let refusals = [
        (json!({ "costImpact": "-1.00" }), "costImpact"),
        (json!({ "costImpact": "1.001" }), "costImpact"),
        (json!({ "delayDays": 731 }), "delayDays"),
        (json!({ "delayDays": -1 }), "delayDays"),
        (json!({ "description": "" }), "description"),
        (json!({ "description": "   " }), "description"),
    ];
    for (change, field) in refusals {
        let mut input = exception_input("DELAY", "HIGH", "supplier late");
        for (key, value) in change.as_object().expect("object") {
            input[key] = value.clone();
        }
        let body = raise_exception_raw(&app, &rep.token, &id, version_of(&order), input).await;
        assert_eq!(bad_input_field(&body), field, "{}", pretty(&change));
    }
    let body = raise_exception_raw(
        &app,
        &buyer.token,
        &id,
        version_of(&order),
        exception_input("OTHER", "LOW", "the buyer tries"),
    )
    .await;
    assert_error(&body, "FORBIDDEN");
    let body = raise_exception_raw(
        &app,
        &rep.token,
        &id,
        version_of(&order) - 1,
        exception_input("OTHER", "LOW", "stale"),
    )
    .await;
    assert_error(&body, "CONFLICT");
    assert_eq!(
        version_of(&tracked_order(&app, &rep.token, &id).await),
        version_of(&order)
    );
    assert_eq!(
        order_list(&app, &rep.token, &id, "exceptions", "id").await,
        Vec::<Value>::new()
    );

    // Before confirmation there is nothing to raise an exception on.
    let draft = shop.draft(&app).await;
    let body = raise_exception_raw(
        &app,
        &rep.token,
        &id_of(&draft),
        version_of(&draft),
        exception_input("DELAY", "LOW", "not yet confirmed"),
    )
    .await;
    let error = assert_error(&body, "INVALID_TRANSITION");
    assert_eq!(error["extensions"]["from"], "DRAFT");

    // A ten-day supplier delay that stops production.
    let before = order_events(&app, &rep.token, &id).await.len();
    let mut input = exception_input("DELAY", "HIGH", "housing supplier is ten days late");
    input["costImpact"] = json!("150.00");
    input["delayDays"] = json!(10);
    input["holdOrder"] = json!(true);
    let (held, exception) = raise(&app, &rep.token, &order, input).await;
    assert_eq!(held["status"], "ON_HOLD", "{}", pretty(&held));
    assert_eq!(held["heldFrom"], "IN_PRODUCTION");
    assert_eq!(version_of(&held), version_of(&order) + 1);
    assert_eq!(
        held["expectedDeliveryDate"],
        in_days(65).as_str(),
        "promised in 55 days, ten days late"
    );
    assert_eq!(held["atRisk"], true);
    assert_eq!(exception["status"], "OPEN");
    assert_eq!(exception["kind"], "DELAY");
    assert_eq!(exception["severity"], "HIGH");
    assert_eq!(
        exception["description"],
        "housing supplier is ten days late"
    );
    assert_eq!(decimal(&exception["costImpact"]["amount"]), dec("150.00"));
    assert_eq!(exception["costImpact"]["currency"], "EUR");
    assert_eq!(exception["delayDays"], 10);
    assert_eq!(exception["heldOrder"], true);
    assert_eq!(exception["raisedBy"]["id"], rep.id.as_str());
    assert_eq!(exception["order"]["id"], id.as_str());
    assert_eq!(exception["rootCause"], Value::Null);
    assert_eq!(exception["resolvedAt"], Value::Null);
    let events = order_events(&app, &rep.token, &id).await;
    assert_eq!(
        types(&events[before..]),
        [
            "EXCEPTION_RAISED",
            "EXPECTED_DATE_CHANGED",
            "DELIVERY_AT_RISK",
            "STATUS_CHANGED"
        ]
    );
    let raised = only_event(&events[before..], "EXCEPTION_RAISED");
    assert_eq!(
        raised["data"]["exception_id"].to_string(),
        text(&exception["id"])
    );
    assert_eq!(
        status_changes(&events[before..]),
        [(
            "IN_PRODUCTION".to_owned(),
            "ON_HOLD".to_owned(),
            version_of(&held)
        )]
    );
    let stored = order_list(&app, &rep.token, &id, "exceptions", EXCEPTION_FIELDS).await;
    assert_eq!(
        stored,
        std::slice::from_ref(&exception),
        "a read gives what the mutation answered"
    );
    assert_eq!(
        at_risk_ids(&app, &rep.token).await,
        [id.as_str()],
        "held and late"
    );
    let exception_id = text(&exception["id"]);

    // The analysis; fields left out stay as they are.
    let body = update_exception_raw(
        &app,
        &rep.token,
        &exception_id,
        json!({ "rootCause": "single supplier for housings", "actions": "order from a second supplier" }),
    )
    .await;
    let updated = &data(&body)["updateException"];
    assert_eq!(
        updated["exception"]["rootCause"],
        "single supplier for housings"
    );
    assert_eq!(
        updated["exception"]["actions"],
        "order from a second supplier"
    );
    assert_eq!(updated["exception"]["status"], "OPEN");
    assert_eq!(updated["order"]["status"], "ON_HOLD");
    let body = update_exception_raw(
        &app,
        &rep.token,
        &exception_id,
        json!({ "actions": "second supplier ships Monday" }),
    )
    .await;
    let updated = &data(&body)["updateException"]["exception"];
    assert_eq!(updated["rootCause"], "single supplier for housings");
    assert_eq!(updated["actions"], "second supplier ships Monday");
    let body =
        update_exception_raw(&app, &buyer.token, &exception_id, json!({ "actions": "x" })).await;
    assert_error(&body, "FORBIDDEN");

    // Resolved: the order goes back to where it was held, the delay stays.
    let body = resolve_exception_raw(&app, &rep.token, &exception_id, "  ", None, true).await;
    assert_eq!(bad_input_field(&body), "resolution");
    let body = resolve_exception_raw(
        &app,
        &rep.token,
        &exception_id,
        "second supplier delivered the housings",
        Some("keep two suppliers for housings"),
        true,
    )
    .await;
    let resolved = &data(&body)["resolveException"];
    assert_eq!(
        resolved["order"]["status"],
        "IN_PRODUCTION",
        "{}",
        pretty(resolved)
    );
    assert_eq!(resolved["order"]["heldFrom"], Value::Null);
    assert_eq!(
        resolved["order"]["expectedDeliveryDate"],
        in_days(65).as_str()
    );
    let exception = &resolved["exception"];
    assert_eq!(exception["status"], "RESOLVED");
    assert_eq!(
        exception["resolution"],
        "second supplier delivered the housings"
    );
    assert_eq!(
        exception["lessonsLearned"],
        "keep two suppliers for housings"
    );
    assert_eq!(exception["resolvedBy"]["id"], rep.id.as_str());
    assert!(exception["resolvedAt"].is_string());
    assert_eq!(exception["rootCause"], "single supplier for housings");
    let resumed_version = version_of(&resolved["order"]);
    assert_eq!(resolved["order"]["atRisk"], true, "still ten days late");
    assert_eq!(at_risk_ids(&app, &rep.token).await, [id.as_str()]);

    // Resolving or analysing it again is refused and changes nothing.
    let body = resolve_exception_raw(&app, &rep.token, &exception_id, "again", None, true).await;
    let error = assert_error(&body, "INVALID_TRANSITION");
    assert!(
        error["extensions"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("resolved")),
        "{}",
        pretty(&body)
    );
    let body = update_exception_raw(
        &app,
        &rep.token,
        &exception_id,
        json!({ "actions": "more" }),
    )
    .await;
    assert_error(&body, "INVALID_TRANSITION");
    let after = tracked_order(&app, &rep.token, &id).await;
    assert_eq!(version_of(&after), resumed_version);
    assert_eq!(after["status"], "IN_PRODUCTION");
    let stored = order_list(&app, &rep.token, &id, "exceptions", EXCEPTION_FIELDS).await;
    assert_eq!(stored, std::slice::from_ref(exception));
    let events = order_events(&app, &rep.token, &id).await;
    assert_eq!(
        status_changes(&events[before..]),
        [
            (
                "IN_PRODUCTION".to_owned(),
                "ON_HOLD".to_owned(),
                version_of(&held)
            ),
            (
                "ON_HOLD".to_owned(),
                "IN_PRODUCTION".to_owned(),
                resumed_version
            ),
        ]
    );
}

async fn exceptions_are_listed_by_filter_and_page_within_the_callers_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let buyer = buyer(&app, &shop).await;
    let (other, other_customer) = shop.other_rep(&app).await;
    let initech = create_customer(&app, &shop.admin.token, "Initech", Some(&rep.id)).await;

    let a = shop.confirmed_order(&app).await;
    let b = confirmed_with(&app, &shop, &initech, vec![line(&shop.product_id, "3")]).await;
    let theirs = {
        let draft = shop.draft_for(&app, &other, &other_customer).await;
        let approved = submit(&app, &other.token, &draft, "APPROVED").await;
        order_in(
            &confirm_order(&app, &other.token, &approved, "PHONE").await,
            "confirmOrder",
        )
    };

    let (a, e1) = raise(
        &app,
        &rep.token,
        &a,
        exception_input("DELAY", "HIGH", "late steel"),
    )
    .await;
    let (_, e2) = raise(
        &app,
        &rep.token,
        &a,
        exception_input("QUALITY", "LOW", "scratches"),
    )
    .await;
    let (_, e3) = raise(
        &app,
        &rep.token,
        &b,
        exception_input("LOGISTICS", "HIGH", "no truck"),
    )
    .await;
    let (_, e4) = raise(
        &app,
        &other.token,
        &theirs,
        exception_input("SHORTAGE", "CRITICAL", "out of widgets"),
    )
    .await;
    let body = resolve_exception_raw(
        &app,
        &rep.token,
        &text(&e1["id"]),
        "steel arrived",
        None,
        false,
    )
    .await;
    assert_eq!(
        data(&body)["resolveException"]["exception"]["status"],
        "RESOLVED"
    );
    let [e1, e2, e3, e4] = [&e1, &e2, &e3, &e4].map(|e| text(&e["id"]));
    let ids = |list: &[&String]| list.iter().map(|s| (*s).clone()).collect::<Vec<String>>();

    // Newest first; every filter given must match.
    let rep_sees = async |filter: Value| exception_ids(&app, &rep.token, filter).await;
    assert_eq!(rep_sees(json!({})).await, ids(&[&e3, &e2, &e1]));
    assert_eq!(
        rep_sees(json!({ "status": "OPEN" })).await,
        ids(&[&e3, &e2])
    );
    assert_eq!(rep_sees(json!({ "status": "RESOLVED" })).await, ids(&[&e1]));
    assert_eq!(rep_sees(json!({ "kind": "QUALITY" })).await, ids(&[&e2]));
    assert_eq!(
        rep_sees(json!({ "kind": "SHORTAGE" })).await,
        Vec::<String>::new()
    );
    assert_eq!(
        rep_sees(json!({ "severity": "HIGH" })).await,
        ids(&[&e3, &e1])
    );
    assert_eq!(
        rep_sees(json!({ "severity": "HIGH", "status": "OPEN" })).await,
        ids(&[&e3])
    );
    assert_eq!(
        rep_sees(json!({ "customerId": initech })).await,
        ids(&[&e3])
    );
    assert_eq!(
        rep_sees(json!({ "customerId": shop.customer_id })).await,
        ids(&[&e2, &e1])
    );
    assert_eq!(
        rep_sees(json!({ "orderId": id_of(&a) })).await,
        ids(&[&e2, &e1])
    );

    // From (inclusive) and to (exclusive), by when they were raised.
    let raised_at = async |id: &str| {
        let body = app
            .gql(
                "query($id: ID!) { exception(id: $id) { raisedAt } }",
                json!({ "id": id }),
                rep.token(),
            )
            .await;
        data(&body)["exception"]["raisedAt"].clone()
    };
    let (t2, t3) = (raised_at(&e2).await, raised_at(&e3).await);
    assert_eq!(rep_sees(json!({ "from": t2 })).await, ids(&[&e3, &e2]));
    assert_eq!(rep_sees(json!({ "to": t2 })).await, ids(&[&e1]));
    assert_eq!(rep_sees(json!({ "from": t2, "to": t3 })).await, ids(&[&e2]));
    let body = exceptions_raw(&app, &rep.token, json!({ "from": t3, "to": t2 }), 10, None).await;
    assert_eq!(bad_input_field(&body), "to");

    // Pages.
    let body = exceptions_raw(&app, &rep.token, json!({}), 2, None).await;
    let page = &data(&body)["exceptions"];
    assert_eq!(edge_ids(page), ids(&[&e3, &e2]));
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let cursor = text(&page["pageInfo"]["endCursor"]);
    let body = exceptions_raw(&app, &rep.token, json!({}), 2, Some(&cursor)).await;
    let page = &data(&body)["exceptions"];
    assert_eq!(edge_ids(page), ids(&[&e1]));
    assert_eq!(page["pageInfo"]["hasNextPage"], false);

    // Scope: the manager sees the team's, the admin all, another rep only their own.
    assert_eq!(
        exception_ids(&app, &shop.manager.token, json!({})).await,
        ids(&[&e3, &e2, &e1])
    );
    assert_eq!(
        exception_ids(&app, &shop.admin.token, json!({})).await,
        ids(&[&e4, &e3, &e2, &e1])
    );
    assert_eq!(
        exception_ids(&app, &other.token, json!({})).await,
        ids(&[&e4])
    );
    assert_eq!(
        exception_ids(
            &app,
            &other.token,
            json!({ "customerId": shop.customer_id })
        )
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        rep_sees(json!({ "kind": "SHORTAGE" })).await,
        Vec::<String>::new()
    );
    let body = app
        .gql(
            "query($id: ID!) { exception(id: $id) { id } }",
            json!({ "id": e4 }),
            rep.token(),
        )
        .await;
    assert_error(&body, "NOT_FOUND");

    // Customers do not see exceptions at all.
    let body = exceptions_raw(&app, &buyer.token, json!({}), 10, None).await;
    assert_error(&body, "FORBIDDEN");
    let body = app
        .gql(
            "query($id: ID!) { exception(id: $id) { id } }",
            json!({ "id": e2 }),
            buyer.token(),
        )
        .await;
    assert_error(&body, "FORBIDDEN");
}

async fn an_approved_change_becomes_the_next_revision_and_the_previous_one_stays_readable(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let manager = &shop.manager;
    let buyer = buyer(&app, &shop).await;
    let slow = create_product_with_lead_time(&app, &shop.admin.token, "SLOW-58", "50.00", 58).await;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let revision = order["revision"].as_i64().expect("revision");
    let events_before = order_events(&app, &rep.token, &id).await.len();

    // Two more widgets, two of a product that takes 58 days, and the promise moved to match.
    let change = json!({
        "lines": [
            { "lineId": format!("{id}-1"), "quantity": "12" },
            { "productId": slow, "quantity": "2" },
        ],
        "promisedDate": in_days(58),
    });
    let body = preview_change_raw(&app, &rep.token, &id, change.clone()).await;
    let preview = data(&body)["previewOrderChange"].clone();
    assert_eq!(
        line_summary(&preview["lines"]),
        lines(&[
            (1, "WIDGET-1", "12", "1440.00"),
            (2, "SLOW-58", "2", "100.00")
        ]),
        "{}",
        pretty(&preview)
    );
    assert_eq!(decimal(&preview["totalBefore"]["amount"]), dec("1200.00"));
    assert_eq!(decimal(&preview["totalAfter"]["amount"]), dec("1540.00"));
    assert_eq!(decimal(&preview["amountDelta"]["amount"]), dec("340.00"));
    assert_eq!(preview["amountDelta"]["currency"], "EUR");
    assert_eq!(preview["expectedDateBefore"], in_days(55).as_str());
    assert_eq!(
        preview["expectedDateAfter"],
        in_days(58).as_str(),
        "the new product's 58 days from today"
    );
    assert_eq!(preview["delayDays"], 3);
    assert_eq!(preview["promisedDate"], in_days(58).as_str());
    let credit = &preview["credit"];
    assert_eq!(decimal(&credit["limit"]["amount"]), dec("1000000.00"));
    assert_eq!(decimal(&credit["exposureBefore"]["amount"]), dec("1200.00"));
    assert_eq!(decimal(&credit["exposureAfter"]["amount"]), dec("1540.00"));
    assert_eq!(credit["exceedsLimit"], false);
    assert_eq!(credit["comparable"], true);
    assert_eq!(preview["reviewRequired"], false);
    assert_eq!(preview["findings"], json!([]));
    let changes = field_changes(&preview["changes"]);
    let fields: Vec<&str> = changes.iter().map(|(f, _, _)| f.as_str()).collect();
    assert_eq!(fields, ["lines[1].quantity", "lines[2]", "promisedDate"]);
    assert_eq!(decimal(&changes[0].1), dec("10"));
    assert_eq!(decimal(&changes[0].2), dec("12"));
    assert_eq!(changes[1].1, Value::Null, "an added line has no before");
    assert!(
        text(&changes[1].2).starts_with("SLOW-58 x 2"),
        "{}",
        pretty(&preview["changes"])
    );
    assert_eq!(changes[2].1, in_days(55).as_str());
    assert_eq!(changes[2].2, in_days(58).as_str());

    // The preview stored nothing.
    let unchanged = tracked_order(&app, &rep.token, &id).await;
    assert_eq!(version_of(&unchanged), version_of(&order));
    assert_eq!(decimal(&unchanged["total"]["amount"]), dec("1200.00"));
    assert_eq!(
        order_list(&app, &rep.token, &id, "changeRequests", "id").await,
        Vec::<Value>::new()
    );
    assert_eq!(
        order_events(&app, &rep.token, &id).await.len(),
        events_before
    );
    let body = preview_change_raw(&app, &buyer.token, &id, change.clone()).await;
    assert_error(&body, "FORBIDDEN");

    // Requested: PROPOSED, with its impact as computed now.
    let body = request_change_raw(
        &app,
        &rep.token,
        &id,
        version_of(&order),
        change.clone(),
        " ",
    )
    .await;
    assert_eq!(bad_input_field(&body), "reason");
    let (order, request) = request_change(
        &app,
        &rep.token,
        &order,
        change.clone(),
        "customer needs two more and spare housings",
    )
    .await;
    let request_id = text(&request["id"]);
    assert_eq!(version_of(&order), version_of(&unchanged) + 1);
    assert_eq!(
        decimal(&order["total"]["amount"]),
        dec("1200.00"),
        "not applied yet"
    );
    assert_eq!(request["order"]["id"], id.as_str());
    assert_eq!(request["baseRevision"], revision);
    assert_eq!(decimal(&request["amountDelta"]), dec("340.00"));
    assert_eq!(request["delayDays"], 3);
    assert_eq!(request["reviewRequired"], false);
    assert_eq!(request["requestedBy"]["id"], rep.id.as_str());
    assert_eq!(
        request["reason"],
        "customer needs two more and spare housings"
    );
    assert_eq!(request["promisedDate"], in_days(58).as_str());
    assert_eq!(request["lines"][0]["lineId"], format!("{id}-1").as_str());
    assert_eq!(decimal(&request["lines"][0]["quantity"]), dec("12"));
    assert_eq!(request["lines"][1]["lineId"], Value::Null);
    assert_eq!(request["lines"][1]["productId"], slow.as_str());
    assert_eq!(request["decidedBy"], Value::Null);
    assert_eq!(request["appliedRevision"], Value::Null);

    // Not applicable before a decision; a rep without change authority may not decide.
    let body = apply_change_raw(&app, &rep.token, &request_id, version_of(&order)).await;
    assert_error(&body, "INVALID_TRANSITION");
    let body = approve_change_raw(&app, &rep.token, &request_id, Some("fine")).await;
    assert_error(&body, "FORBIDDEN");
    let body = reject_change_raw(&app, &rep.token, &request_id, "no").await;
    assert_error(&body, "FORBIDDEN");
    let body = approve_change_raw(&app, &buyer.token, &request_id, None).await;
    assert_error(&body, "FORBIDDEN");

    // The manager approves.
    let body = approve_change_raw(&app, &manager.token, &request_id, Some("ok, two more")).await;
    let approved = &data(&body)["approveOrderChange"]["changeRequest"];
    assert_eq!(approved["status"], "APPROVED");
    assert_eq!(approved["decidedBy"]["id"], manager.id.as_str());
    assert_eq!(approved["decisionComment"], "ok, two more");
    assert!(approved["decidedAt"].is_string());
    let body = approve_change_raw(&app, &manager.token, &request_id, None).await;
    assert_error(&body, "INVALID_TRANSITION");
    let order = tracked_order(&app, &rep.token, &id).await;

    // Applied: the next revision with the new lines and total; the previous one kept.
    let body = apply_change_raw(&app, &rep.token, &request_id, version_of(&order) - 1).await;
    assert_error(&body, "CONFLICT");
    let before_apply = order_events(&app, &rep.token, &id).await.len();
    let body = apply_change_raw(&app, &rep.token, &request_id, version_of(&order)).await;
    let applied = &data(&body)["applyOrderChange"];
    let changed = &applied["order"];
    assert_eq!(changed["revision"], revision + 1, "{}", pretty(changed));
    assert_eq!(version_of(changed), version_of(&order) + 1);
    assert_eq!(changed["status"], "CONFIRMED");
    assert_eq!(
        line_summary(&changed["lines"]),
        lines(&[
            (1, "WIDGET-1", "12", "1440.00"),
            (2, "SLOW-58", "2", "100.00")
        ])
    );
    assert_eq!(decimal(&changed["total"]["amount"]), dec("1540.00"));
    assert_eq!(
        changed["confirmation"]["promisedDate"],
        in_days(58).as_str()
    );
    assert_eq!(changed["expectedDeliveryDate"], in_days(58).as_str());
    assert_eq!(changed["atRisk"], false);
    assert_eq!(
        at_risk_ids(&app, &rep.token).await,
        Vec::<String>::new(),
        "the promise moved with the change"
    );
    assert_eq!(applied["changeRequest"]["status"], "APPLIED");
    assert_eq!(applied["changeRequest"]["appliedRevision"], revision + 1);
    assert!(applied["changeRequest"]["appliedAt"].is_string());
    assert_eq!(
        tracked_order(&app, &rep.token, &id).await,
        *changed,
        "a read gives what the mutation answered"
    );

    let revisions = order_list(
        &app,
        &rep.token,
        &id,
        "revisions",
        "revision lines { lineNo sku quantity total { amount } } total { amount currency } promisedDate requestedDate deliveryAddress replacedAt replacedByChangeId",
    )
    .await;
    assert_eq!(revisions.len(), 1, "{}", pretty(&json!(revisions)));
    let previous = &revisions[0];
    assert_eq!(previous["revision"], revision);
    assert_eq!(
        line_summary(&previous["lines"]),
        lines(&[(1, "WIDGET-1", "10", "1200.00")])
    );
    assert_eq!(decimal(&previous["total"]["amount"]), dec("1200.00"));
    assert_eq!(previous["promisedDate"], in_days(55).as_str());
    assert_eq!(previous["requestedDate"], in_days(60).as_str());
    assert_eq!(previous["replacedByChangeId"], request_id.as_str());

    let events = order_events(&app, &rep.token, &id).await;
    let new = &events[before_apply..];
    assert_eq!(types(new), ["ORDER_CHANGED", "EXPECTED_DATE_CHANGED"]);
    let changed_event = only_event(new, "ORDER_CHANGED");
    assert_eq!(changed_event["data"]["revision"], revision + 1);
    assert_eq!(
        changed_event["data"]["change_request_id"].to_string(),
        request_id
    );
    assert_eq!(
        changed_event["data"]["changes"], preview["changes"],
        "the event names each field from and to, as previewed"
    );
    assert_eq!(
        only_event(new, "EXPECTED_DATE_CHANGED")["data"]["to"],
        in_days(58).as_str()
    );

    // Applying again is refused.
    let body = apply_change_raw(&app, &rep.token, &request_id, version_of(changed)).await;
    assert_error(&body, "INVALID_TRANSITION");
    assert_eq!(
        version_of(&tracked_order(&app, &rep.token, &id).await),
        version_of(changed)
    );

    // Rejecting needs a comment.
    let (_, address) = request_change(
        &app,
        &rep.token,
        changed,
        json!({ "deliveryAddress": "Gate 2, Hafenstraße 11, 20457 Hamburg" }),
        "dock 4 is being rebuilt",
    )
    .await;
    let address_id = text(&address["id"]);
    assert_eq!(decimal(&address["amountDelta"]), dec("0"));
    for comment in ["", "   "] {
        let body = reject_change_raw(&app, &manager.token, &address_id, comment).await;
        assert_eq!(bad_input_field(&body), "comment");
    }
    let body = reject_change_raw(
        &app,
        &manager.token,
        &address_id,
        "gate 2 cannot take trucks",
    )
    .await;
    let rejected = &data(&body)["rejectOrderChange"]["changeRequest"];
    assert_eq!(rejected["status"], "REJECTED");
    assert_eq!(rejected["decisionComment"], "gate 2 cannot take trucks");
    assert_eq!(rejected["decidedBy"]["id"], manager.id.as_str());
    let current = tracked_order(&app, &rep.token, &id).await;
    let body = apply_change_raw(&app, &rep.token, &address_id, version_of(&current)).await;
    assert_error(&body, "INVALID_TRANSITION");
    let statuses: Vec<String> = order_list(&app, &rep.token, &id, "changeRequests", "status")
        .await
        .iter()
        .map(|c| text(&c["status"]))
        .collect();
    assert_eq!(statuses, ["APPLIED", "REJECTED"]);

    // The buyer sees the content they agreed to change, not the proposals.
    let seen = types(&order_events(&app, &buyer.token, &id).await);
    assert!(seen.contains(&"ORDER_CHANGED".to_owned()), "{seen:?}");
    assert!(!seen.contains(&"CHANGE_REQUESTED".to_owned()), "{seen:?}");
    assert!(!seen.contains(&"CHANGE_DECIDED".to_owned()), "{seen:?}");
    let body = app
        .gql(
            "query($id: ID!) { order(id: $id) { changeRequests { id } } }",
            json!({ "id": id }),
            buyer.token(),
        )
        .await;
    assert_error(&body, "FORBIDDEN");
}

async fn changes_are_refused_on_drafts_below_shipped_quantities_and_on_a_moved_revision(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let manager = &shop.manager;

    // A draft is still edited as a draft.
    let draft = shop.draft(&app).await;
    let draft_id = id_of(&draft);
    let more = json!({ "lines": [{ "lineId": format!("{draft_id}-1"), "quantity": "11" }] });
    let body = preview_change_raw(&app, &rep.token, &draft_id, more.clone()).await;
    assert_eq!(
        assert_error(&body, "INVALID_TRANSITION")["extensions"]["from"],
        "DRAFT"
    );
    let body = request_change_raw(
        &app,
        &rep.token,
        &draft_id,
        version_of(&draft),
        more,
        "more",
    )
    .await;
    assert_eq!(
        assert_error(&body, "INVALID_TRANSITION")["extensions"]["from"],
        "DRAFT"
    );

    // A line that does not exist, and a change that changes nothing.
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let body = preview_change_raw(
        &app,
        &rep.token,
        &id,
        json!({ "lines": [{ "lineId": format!("{id}-7"), "quantity": "1" }] }),
    )
    .await;
    assert_eq!(bad_input_field(&body), "lineId");
    let body = preview_change_raw(
        &app,
        &rep.token,
        &id,
        json!({ "lines": [{ "lineId": format!("{id}-1"), "quantity": "10" }] }),
    )
    .await;
    assert_eq!(bad_input_field(&body), "change");

    // Six of ten shipped: line 1 cannot go below six, nor be removed.
    let ready = ready_to_ship(&app, &shop, &order).await;
    let (partial, _) = ship(&app, &rep.token, &ready, &[(1, "6")]).await;
    assert_eq!(partial["status"], "PARTIALLY_SHIPPED");
    for quantity in ["5", "0"] {
        let change = json!({ "lines": [{ "lineId": format!("{id}-1"), "quantity": quantity }] });
        let body = preview_change_raw(&app, &rep.token, &id, change.clone()).await;
        assert_eq!(bad_input_field(&body), "quantity", "to {quantity}");
        let body =
            request_change_raw(&app, &rep.token, &id, version_of(&partial), change, "fewer").await;
        assert_eq!(bad_input_field(&body), "quantity", "to {quantity}");
    }
    assert_eq!(
        version_of(&tracked_order(&app, &rep.token, &id).await),
        version_of(&partial)
    );
    // Down to exactly what has shipped: applied, nothing is left to ship, so it is SHIPPED.
    let (partial, fewer) = request_change(
        &app,
        &rep.token,
        &partial,
        json!({ "lines": [{ "lineId": format!("{id}-1"), "quantity": "6" }] }),
        "the customer cancels the last four",
    )
    .await;
    assert_eq!(decimal(&fewer["amountDelta"]), dec("-480.00"));
    approve_change(&app, &manager.token, &text(&fewer["id"])).await;
    let partial = tracked_order(&app, &rep.token, &id_of(&partial)).await;
    let before = order_events(&app, &rep.token, &id).await.len();
    let body = apply_change_raw(&app, &rep.token, &text(&fewer["id"]), version_of(&partial)).await;
    let shipped = &data(&body)["applyOrderChange"]["order"];
    assert_eq!(shipped["status"], "SHIPPED", "{}", pretty(shipped));
    assert_eq!(decimal(&shipped["total"]["amount"]), dec("720.00"));
    let events = order_events(&app, &rep.token, &id).await;
    assert_eq!(
        status_changes(&events[before..]),
        [(
            "PARTIALLY_SHIPPED".to_owned(),
            "SHIPPED".to_owned(),
            version_of(shipped)
        )]
    );

    // Two changes approved on the same revision: once one is applied, the other is stale.
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let revision = order["revision"].as_i64().expect("revision");
    let (order, first) = request_change(
        &app,
        &rep.token,
        &order,
        json!({ "deliveryAddress": "Gate 2, Hafenstraße 11, 20457 Hamburg" }),
        "new gate",
    )
    .await;
    let (_, second) = request_change(
        &app,
        &rep.token,
        &order,
        json!({ "lines": [{ "lineId": format!("{id}-1"), "quantity": "11" }] }),
        "one more",
    )
    .await;
    assert_eq!(first["baseRevision"], revision);
    assert_eq!(second["baseRevision"], revision);
    approve_change(&app, &manager.token, &text(&first["id"])).await;
    approve_change(&app, &manager.token, &text(&second["id"])).await;
    let current = tracked_order(&app, &rep.token, &id).await;
    let body = apply_change_raw(&app, &rep.token, &text(&first["id"]), version_of(&current)).await;
    let applied = &data(&body)["applyOrderChange"]["order"];
    assert_eq!(applied["revision"], revision + 1);
    let body = apply_change_raw(&app, &rep.token, &text(&second["id"]), version_of(applied)).await;
    let error = assert_error(&body, "INVALID_TRANSITION");
    assert!(
        error["extensions"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("revision")),
        "{}",
        pretty(&body)
    );
    let after = tracked_order(&app, &rep.token, &id).await;
    assert_eq!(after, *applied, "nothing changed");
    assert_eq!(decimal(&after["total"]["amount"]), dec("1200.00"));
    let statuses: Vec<String> = order_list(&app, &rep.token, &id, "changeRequests", "status")
        .await
        .iter()
        .map(|c| text(&c["status"]))
        .collect();
    assert_eq!(statuses, ["APPLIED", "APPROVED"]);
}

async fn a_rep_decides_changes_within_the_configured_authority_and_a_manager_the_rest(
    backend: Backend,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("review.toml");
    std::fs::write(&config, "[change_authority]\nEUR = \"500.00\"\n")
        .expect("write the review config");
    let app = spawn_app_with(
        backend,
        &["--review-config", config.to_str().expect("UTF-8 path")],
    )
    .await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let (other, _) = shop.other_rep(&app).await;
    let half = create_product(&app, &shop.admin.token, "HALF-50", "50.00").await;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);

    let add_half =
        |quantity: &str| json!({ "lines": [{ "productId": half, "quantity": quantity }] });
    // +500.00: exactly the rep's authority.
    let (order, at_limit) =
        request_change(&app, &rep.token, &order, add_half("10"), "ten halves").await;
    assert_eq!(decimal(&at_limit["amountDelta"]), dec("500.00"));
    // -480.00: within it too (the amount may move either way).
    let (order, fewer) = request_change(
        &app,
        &rep.token,
        &order,
        json!({ "lines": [{ "lineId": format!("{id}-1"), "quantity": "6" }] }),
        "four fewer",
    )
    .await;
    assert_eq!(decimal(&fewer["amountDelta"]), dec("-480.00"));
    // +550.00: beyond it.
    let (order, beyond) =
        request_change(&app, &rep.token, &order, add_half("11"), "eleven halves").await;
    assert_eq!(decimal(&beyond["amountDelta"]), dec("550.00"));
    // -60.00, but a discount review flags: a manager decides.
    let (_, discounted) = request_change(
        &app,
        &rep.token,
        &order,
        json!({ "lines": [{ "lineId": format!("{id}-1"), "quantity": "10", "discountPercent": "5" }] }),
        "loyalty discount",
    )
    .await;
    assert_eq!(decimal(&discounted["amountDelta"]), dec("-60.00"));
    assert_eq!(
        discounted["reviewRequired"],
        true,
        "{}",
        pretty(&discounted)
    );

    let approved = approve_change(&app, &rep.token, &text(&at_limit["id"])).await;
    assert_eq!(approved["decidedBy"]["id"], rep.id.as_str());
    let approved = approve_change(&app, &rep.token, &text(&fewer["id"])).await;
    assert_eq!(approved["decidedBy"]["id"], rep.id.as_str());
    for request in [&beyond, &discounted] {
        let request_id = text(&request["id"]);
        let body = approve_change_raw(&app, &rep.token, &request_id, None).await;
        assert_error(&body, "FORBIDDEN");
        let body = reject_change_raw(&app, &rep.token, &request_id, "no").await;
        assert_error(&body, "FORBIDDEN");
    }
    // Another rep does not even see the order's requests.
    let body = approve_change_raw(&app, &other.token, &text(&beyond["id"]), None).await;
    assert_error(&body, "NOT_FOUND");

    // The manager decides the rest.
    let approved = approve_change(&app, &shop.manager.token, &text(&beyond["id"])).await;
    assert_eq!(approved["decidedBy"]["id"], shop.manager.id.as_str());
    let body = reject_change_raw(
        &app,
        &shop.manager.token,
        &text(&discounted["id"]),
        "no discounts this quarter",
    )
    .await;
    assert_eq!(
        data(&body)["rejectOrderChange"]["changeRequest"]["status"],
        "REJECTED"
    );
    let statuses: Vec<String> = order_list(&app, &rep.token, &id, "changeRequests", "status")
        .await
        .iter()
        .map(|c| text(&c["status"]))
        .collect();
    assert_eq!(statuses, ["APPROVED", "APPROVED", "APPROVED", "REJECTED"]);
}

async fn a_shipment_time_given_to_the_nanosecond_is_answered_as_it_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let order = shop.confirmed_order(&app).await;
    let order = ready_to_ship(&app, &shop, &order).await;
    let id = id_of(&order);

    // Times are kept to the microsecond; what recordShipment answers must be what a later read
    // gives (as recordMilestone and markDelivered do).
    let mut input = shipment_input(&id, &[(1, "10")]);
    input["shippedAt"] = json!(format!(
        "{}.123456789Z",
        (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S")
    ));
    let body = record_shipment_raw(&app, &rep.token, &id, version_of(&order), input).await;
    let answered = data(&body)["recordShipment"]["shipment"].clone();
    let stored = order_list(&app, &rep.token, &id, "shipments", SHIPMENT_FIELDS).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        answered["shippedAt"], stored[0]["shippedAt"],
        "recordShipment answered a shippedAt the server does not keep"
    );
    assert_eq!(answered, stored[0]);
}
