//! Shared setup for the scenarios: a small sales team with a customer and a product, orders at
//! a given stage, and the GraphQL operations the scenarios repeat.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Role, TestApp, TestUser, UserOptions, data};

/// How long a subscriber waits for an event that must come.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The order fields the scenarios look at.
const ORDER_FRAGMENT: &str = r"
fragment OrderFields on Order {
  id number status version revision paymentStatus currency heldFrom allowedTransitions
  requestedDate deliveryAddress paymentTerms customerPo notes cancelReason
  total { amount currency }
  customer { id }
  salesRep { id }
  lines { lineNo sku quantity unitPrice { amount currency } discountPercent total { amount currency } }
  reviewFindings { code severity message lineNo }
  confirmation { confirmedBy channel reference }
}";

/// `orderStatusChanged` with every field, for subscriptions (no `orderId` filter).
pub const ALL_STATUS_CHANGES: &str = "subscription {
  orderStatusChanged { orderId orderNumber from to version at actor { id } }
}";

/// `orderStatusChanged` of one order, with every field.
pub const ORDER_STATUS_CHANGES: &str = "subscription($orderId: ID) {
  orderStatusChanged(orderId: $orderId) { orderId orderNumber from to version at actor { id } }
}";

/// A sales team: an admin, a manager, a rep reporting to the manager, one customer the rep owns,
/// and one product (WIDGET-1, list price 120.00 EUR).
pub struct Shop {
    pub admin: TestUser,
    pub manager: TestUser,
    pub rep: TestUser,
    pub customer_id: String,
    pub product_id: String,
}

impl Shop {
    pub async fn open(app: &TestApp) -> Self {
        let (admin, manager) = tokio::join!(
            app.add_user("ada.admin@example.com", Role::Admin, UserOptions::default()),
            app.add_user(
                "mia.manager@example.com",
                Role::Manager,
                UserOptions::default()
            ),
        );
        let rep = app
            .add_user(
                "sam.sales@example.com",
                Role::Sales,
                UserOptions {
                    manager: Some(&manager.email),
                    ..UserOptions::default()
                },
            )
            .await;
        let customer_id = create_customer(app, &admin.token, "Acme GmbH", Some(&rep.id)).await;
        let product_id = create_product(app, &admin.token, "WIDGET-1", "120.00").await;
        Shop {
            admin,
            manager,
            rep,
            customer_id,
            product_id,
        }
    }

    /// A second rep (without a manager) owning a second customer: someone else's patch.
    pub async fn other_rep(&self, app: &TestApp) -> (TestUser, String) {
        let other = app
            .add_user(
                "olga.other@example.com",
                Role::Sales,
                UserOptions::default(),
            )
            .await;
        let customer_id =
            create_customer(app, &self.admin.token, "Globex Ltd", Some(&other.id)).await;
        (other, customer_id)
    }

    /// A draft by the rep for the shop's customer that review will approve as it is.
    pub async fn draft(&self, app: &TestApp) -> Value {
        self.draft_for(app, &self.rep, &self.customer_id).await
    }

    /// A draft by `rep` for `customer_id` that review will approve as it is: ten widgets at list
    /// price, a requested date and a delivery address.
    pub async fn draft_for(&self, app: &TestApp, rep: &TestUser, customer_id: &str) -> Value {
        create_order(
            app,
            &rep.token,
            complete_order_input(customer_id, vec![line(&self.product_id, "10")]),
        )
        .await
    }

    /// An order of the rep's, submitted and APPROVED.
    pub async fn approved_order(&self, app: &TestApp) -> Value {
        let draft = self.draft(app).await;
        submit(app, &self.rep.token, &draft, "APPROVED").await
    }

    /// An order of the rep's, approved and CONFIRMED by the customer (by e-mail).
    pub async fn confirmed_order(&self, app: &TestApp) -> Value {
        let approved = self.approved_order(app).await;
        let body = confirm_order(app, &self.rep.token, &approved, "EMAIL").await;
        let confirmed = order_in(&body, "confirmOrder");
        assert_eq!(confirmed["status"], "CONFIRMED", "{}", pretty(&confirmed));
        confirmed
    }
}

pub async fn create_customer(
    app: &TestApp,
    token: &str,
    name: &str,
    owner_rep_id: Option<&str>,
) -> String {
    let body = app
        .gql(
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }",
            json!({ "input": customer_input(name, owner_rep_id, "EUR") }),
            Some(token),
        )
        .await;
    id_of(&data(&body)["createCustomer"])
}

/// A customer paying NET_30 in `currency`, with a credit limit no test order comes near.
pub fn customer_input(name: &str, owner_rep_id: Option<&str>, currency: &str) -> Value {
    json!({
        "name": name,
        "email": "purchasing@example.com",
        "phone": "+49 30 1234567",
        "address": "Hauptstraße 1, 10115 Berlin",
        "ownerRepId": owner_rep_id,
        "tier": "A",
        "tags": ["e2e"],
        "currency": currency,
        "creditLimit": "1000000.00",
        "paymentTerms": "NET_30",
    })
}

pub async fn create_product(app: &TestApp, token: &str, sku: &str, list_price: &str) -> String {
    let body = create_product_raw(app, token, sku, list_price).await;
    id_of(&data(&body)["createProduct"])
}

pub async fn create_product_raw(app: &TestApp, token: &str, sku: &str, list_price: &str) -> Value {
    app.gql(
        "mutation($input: ProductInput!) { createProduct(input: $input) { id sku listPrice { amount currency } } }",
        json!({ "input": {
            "sku": sku,
            "name": format!("Product {sku}"),
            "unit": "pcs",
            "listPrice": list_price,
            "currency": "EUR",
            "leadTimeDays": 5,
            "active": true,
        }}),
        Some(token),
    )
    .await
}

/// A line at list price without discount.
pub fn line(product_id: &str, quantity: &str) -> Value {
    json!({ "productId": product_id, "quantity": quantity })
}

/// An order input review has nothing against: lines, a requested date well beyond any lead time,
/// and a delivery address.
pub fn complete_order_input(customer_id: &str, lines: Vec<Value>) -> Value {
    json!({
        "customerId": customer_id,
        "lines": lines,
        "requestedDate": in_days(60),
        "deliveryAddress": "Dock 4, Hafenstraße 9, 20457 Hamburg",
    })
}

/// `today + days` as `YYYY-MM-DD`.
pub fn in_days(days: u64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Days::new(days)).to_string()
}

pub async fn create_order_raw(
    app: &TestApp,
    token: &str,
    input: Value,
    idempotency_key: Option<&str>,
) -> Value {
    app.gql(
        &with_order_fields(
            "mutation($input: CreateOrderInput!, $key: String) {
               createOrder(input: $input, idempotencyKey: $key) { ...OrderFields }
             }",
        ),
        json!({ "input": input, "key": idempotency_key }),
        Some(token),
    )
    .await
}

/// Creates an order, which must succeed and land in DRAFT.
pub async fn create_order(app: &TestApp, token: &str, input: Value) -> Value {
    let order = order_in(
        &create_order_raw(app, token, input, None).await,
        "createOrder",
    );
    assert_eq!(order["status"], "DRAFT", "{}", pretty(&order));
    order
}

pub async fn update_draft(
    app: &TestApp,
    token: &str,
    id: &str,
    expected_version: i64,
    input: Value,
) -> Value {
    app.gql(
        &with_order_fields(
            "mutation($id: ID!, $v: Int!, $input: OrderDraftInput!) {
               updateOrderDraft(id: $id, expectedVersion: $v, input: $input) { ...OrderFields }
             }",
        ),
        json!({ "id": id, "v": expected_version, "input": input }),
        Some(token),
    )
    .await
}

pub async fn submit_order(app: &TestApp, token: &str, id: &str, expected_version: i64) -> Value {
    app.gql(
        &with_order_fields(
            "mutation($id: ID!, $v: Int!) { submitOrder(id: $id, expectedVersion: $v) { ...OrderFields } }",
        ),
        json!({ "id": id, "v": expected_version }),
        Some(token),
    )
    .await
}

/// Submits `order`, which must succeed and land in `expected_status`.
pub async fn submit(app: &TestApp, token: &str, order: &Value, expected_status: &str) -> Value {
    let body = submit_order(app, token, &id_of(order), version_of(order)).await;
    let submitted = order_in(&body, "submitOrder");
    assert_eq!(
        submitted["status"],
        expected_status,
        "review findings: {}",
        pretty(&submitted["reviewFindings"])
    );
    assert_eq!(version_of(&submitted), version_of(order) + 1);
    submitted
}

pub async fn approve_order(app: &TestApp, token: &str, order: &Value) -> Value {
    app.gql(
        &with_order_fields(
            "mutation($id: ID!, $v: Int!) {
               approveOrder(id: $id, expectedVersion: $v, comment: \"fine by me\") { ...OrderFields }
             }",
        ),
        json!({ "id": id_of(order), "v": version_of(order) }),
        Some(token),
    )
    .await
}

/// Records the customer's confirmation of `order` through `channel`.
pub async fn confirm_order(app: &TestApp, token: &str, order: &Value, channel: &str) -> Value {
    app.gql(
        &with_order_fields(
            "mutation($id: ID!, $v: Int!, $confirmation: ConfirmationInput!) {
               confirmOrder(id: $id, expectedVersion: $v, confirmation: $confirmation) { ...OrderFields }
             }",
        ),
        json!({
            "id": id_of(order),
            "v": version_of(order),
            "confirmation": {
                "confirmedBy": "Ana Buyer",
                "channel": channel,
                "reference": "PO confirmation",
                "promisedDate": in_days(55),
            },
        }),
        Some(token),
    )
    .await
}

pub async fn transition(
    app: &TestApp,
    token: &str,
    id: &str,
    expected_version: i64,
    to: &str,
    reason: Option<&str>,
) -> Value {
    app.gql(
        &with_order_fields(
            "mutation($input: TransitionInput!) { transitionOrder(input: $input) { ...OrderFields } }",
        ),
        json!({ "input": { "orderId": id, "to": to, "expectedVersion": expected_version, "reason": reason } }),
        Some(token),
    )
    .await
}

/// Moves `order` to `to` with `transitionOrder`; it must succeed and raise the version by one.
pub async fn move_order(
    app: &TestApp,
    token: &str,
    order: &Value,
    to: &str,
    reason: Option<&str>,
) -> Value {
    let body = transition(app, token, &id_of(order), version_of(order), to, reason).await;
    let moved = order_in(&body, "transitionOrder");
    assert_eq!(moved["status"], to, "{}", pretty(&moved));
    assert_eq!(
        version_of(&moved),
        version_of(order) + 1,
        "{}",
        pretty(&moved)
    );
    moved
}

pub async fn fetch_order_raw(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql(
        &with_order_fields("query($id: ID!) { order(id: $id) { ...OrderFields } }"),
        json!({ "id": id }),
        Some(token),
    )
    .await
}

pub async fn fetch_order(app: &TestApp, token: &str, id: &str) -> Value {
    order_in(&fetch_order_raw(app, token, id).await, "order")
}

/// The order's events, oldest first.
pub async fn order_events(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let body = app
        .gql(
            "query($id: ID!) { order(id: $id) { events { cursor type at version actor { id } data } } }",
            json!({ "id": id }),
            Some(token),
        )
        .await;
    data(&body)["order"]["events"]
        .as_array()
        .unwrap_or_else(|| panic!("events is not a list:\n{}", pretty(&body)))
        .clone()
}

/// The `(from, to, version)` of each STATUS_CHANGED event, oldest first.
pub fn status_changes(events: &[Value]) -> Vec<(String, String, i64)> {
    events
        .iter()
        .filter(|event| event["type"] == "STATUS_CHANGED")
        .map(|event| {
            (
                text(&event["data"]["from"]),
                text(&event["data"]["to"]),
                version_of(event),
            )
        })
        .collect()
}

/// One page of `orders`.
pub async fn orders_page(
    app: &TestApp,
    token: &str,
    first: i64,
    after: Option<&str>,
    filter: Value,
) -> Value {
    let body = app
        .gql(
            "query($first: Int, $after: String, $filter: OrderFilter) {
               orders(first: $first, after: $after, filter: $filter) {
                 edges { cursor node { id status customer { id } } }
                 nodes { id }
                 pageInfo { hasNextPage endCursor }
               }
             }",
            json!({ "first": first, "after": after, "filter": filter }),
            Some(token),
        )
        .await;
    data(&body)["orders"].clone()
}

/// The ids of every order `token` may see under `filter`, paging through with pages of 100.
pub async fn all_order_ids(app: &TestApp, token: &str, filter: Value) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = orders_page(app, token, 100, after.as_deref(), filter.clone()).await;
        ids.extend(page_ids(&page));
        if page["pageInfo"]["hasNextPage"] != true {
            return ids;
        }
        after = Some(text(&page["pageInfo"]["endCursor"]));
    }
}

/// The node ids of a connection page, from `edges`.
pub fn page_ids(page: &Value) -> Vec<String> {
    page["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges:\n{}", pretty(page)))
        .iter()
        .map(|edge| id_of(&edge["node"]))
        .collect()
}

/// `ids` as a set, asserting there are no duplicates.
pub fn unique(ids: &[String]) -> HashSet<String> {
    let set: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "duplicate ids in {ids:?}");
    set
}

pub fn with_order_fields(operation: &str) -> String {
    format!("{operation}\n{ORDER_FRAGMENT}")
}

/// `data.<field>` of a response that must have succeeded.
#[track_caller]
pub fn order_in(body: &Value, field: &str) -> Value {
    let order = &data(body)[field];
    assert!(order.is_object(), "no {field} in:\n{}", pretty(body));
    order.clone()
}

#[track_caller]
pub fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no string id in:\n{}", pretty(value)))
        .to_owned()
}

#[track_caller]
pub fn version_of(value: &Value) -> i64 {
    value["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer version in:\n{}", pretty(value)))
}

#[track_caller]
pub fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

/// A Decimal scalar (a string) as a number, so "90.00" equals "90".
#[track_caller]
pub fn decimal(value: &Value) -> Decimal {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("a Decimal must be a string, got {value}"));
    Decimal::from_str(text).unwrap_or_else(|e| panic!("`{text}` is not a decimal: {e}"))
}

#[track_caller]
pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a decimal literal")
}

/// Issues an invoice for everything on `order` (at its version) and returns (invoice id, order
/// after it).
pub async fn invoice_all(app: &TestApp, token: &str, order: &Value) -> (String, Value) {
    let body = app
        .gql(
            "mutation($id: ID!, $v: Int!) { issueInvoice(orderId: $id, expectedVersion: $v) {
               invoice { id } order { id status version }
             } }",
            json!({ "id": id_of(order), "v": version_of(order) }),
            Some(token),
        )
        .await;
    let payload = &data(&body)["issueInvoice"];
    (id_of(&payload["invoice"]), payload["order"].clone())
}

/// Records a bank transfer of `amount` against the invoice; it must succeed.
pub async fn pay(app: &TestApp, token: &str, invoice_id: &str, amount: &str) {
    let body = app
        .gql(
            "mutation($id: ID!, $input: PaymentInput!) {
               recordPayment(invoiceId: $id, input: $input) { payment { id } }
             }",
            json!({ "id": invoice_id, "input": {
                "amount": amount, "method": "BANK_TRANSFER", "reference": "TX 1" } }),
            Some(token),
        )
        .await;
    data(&body);
}
