//! The customer archive over GraphQL: contacts, addresses and preferences on the profile,
//! customer search, purchase history, notes on orders, the interaction log and follow-ups, and
//! what a customer's own login never gets to see (costs, margins, preferences, interactions,
//! other companies).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::json::pretty;
use tests::{
    Backend, Role, TestApp, TestUser, UserOptions, assert_error, data, spawn_app, spawn_app_with,
};

use crate::fixtures::{
    Shop, all_order_ids, complete_order_input, confirm_order, create_customer, create_order,
    customer_input, dec, decimal, id_of, in_days, line, move_order, order_in, submit, text, unique,
    version_of,
};

backend_tests!(
    contacts_addresses_and_preferences_round_trip_and_an_update_that_leaves_them_out_keeps_them,
    bad_contacts_are_bad_user_input_and_change_nothing,
    search_finds_customers_by_name_tag_and_contact_ignoring_case_and_a_rep_only_their_own,
    purchase_history_is_derived_from_the_committed_orders_own_totals,
    a_customer_reads_and_writes_only_customer_visible_notes_on_its_own_orders,
    a_customer_never_sees_costs_margins_preferences_interactions_or_other_companies,
    interactions_are_listed_newest_first_and_only_staff_log_them_on_their_own_customers,
    follow_ups_are_due_until_completed_and_only_their_owner_or_a_manager_completes_them,
    an_active_order_whose_customer_was_not_contacted_is_a_stale_follow_up,
);

/// The customer fields the profile scenarios compare.
const CUSTOMER_FIELDS: &str = "id name version tags ownerRep { id }
  contacts { name role phone email wechatId }
  addresses { label address }
  preferences { notes preferredChannel preferredProducts { id } }";

/// The interaction fields the scenarios compare.
const INTERACTION_FIELDS: &str = "id channel direction summary occurredAt followUpOn
  followUpDoneAt loggedBy { id } customer { id } order { id }";

/// `base` with the fields of `extra` set (both JSON objects).
fn merged(mut base: Value, extra: Value) -> Value {
    let object = base.as_object_mut().expect("an object");
    for (key, value) in extra.as_object().expect("an object") {
        object.insert(key.clone(), value.clone());
    }
    base
}

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&text(value))
        .unwrap_or_else(|e| panic!("{value} is not an RFC 3339 instant: {e}"))
        .with_timezone(&Utc)
}

fn date(value: &Value) -> NaiveDate {
    text(value)
        .parse()
        .unwrap_or_else(|e| panic!("{value} is not a date: {e}"))
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_from(day: NaiveDate, days: i64) -> NaiveDate {
    day + chrono::Duration::days(days)
}

/// `now - days`, whole seconds, as the API writes instants.
fn days_ago(days: i64) -> String {
    let at = Utc::now() - chrono::Duration::days(days);
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn nodes(connection: &Value) -> Vec<Value> {
    connection["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes in:\n{}", pretty(connection)))
        .clone()
}

fn ids(values: &[Value]) -> Vec<String> {
    values.iter().map(id_of).collect()
}

async fn create_customer_raw(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(
        &format!(
            "mutation($input: CustomerInput!) {{ createCustomer(input: $input) {{ {CUSTOMER_FIELDS} }} }}"
        ),
        json!({ "input": input }),
        Some(token),
    )
    .await
}

async fn update_customer_raw(
    app: &TestApp,
    token: &str,
    id: &str,
    expected_version: i64,
    input: Value,
) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!, $v: Int!, $input: CustomerInput!) {{
               updateCustomer(id: $id, expectedVersion: $v, input: $input) {{ {CUSTOMER_FIELDS} }}
             }}"
        ),
        json!({ "id": id, "v": expected_version, "input": input }),
        Some(token),
    )
    .await
}

async fn fetch_customer(app: &TestApp, token: &str, id: &str) -> Value {
    let body = app
        .gql(
            &format!("query($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} }} }}"),
            json!({ "id": id }),
            Some(token),
        )
        .await;
    data(&body)["customer"].clone()
}

/// Adds a product with a standard cost (or none) and returns its id.
async fn create_costed_product(
    app: &TestApp,
    token: &str,
    sku: &str,
    list_price: &str,
    unit_cost: Option<&str>,
) -> String {
    let body = app
        .gql(
            "mutation($input: ProductInput!) { createProduct(input: $input) { id unitCost { amount currency } } }",
            json!({ "input": {
                "sku": sku,
                "name": format!("Product {sku}"),
                "unit": "pcs",
                "listPrice": list_price,
                "currency": "EUR",
                "leadTimeDays": 5,
                "active": true,
                "unitCost": unit_cost,
            }}),
            Some(token),
        )
        .await;
    let product = &data(&body)["createProduct"];
    match unit_cost {
        Some(cost) => assert_eq!(decimal(&product["unitCost"]["amount"]), dec(cost)),
        None => assert!(product["unitCost"].is_null(), "{}", pretty(&body)),
    }
    id_of(product)
}

/// A draft by `rep` for `customer_id` with these `(product, quantity)` lines, which review
/// approves as it is.
async fn draft_with(
    app: &TestApp,
    rep: &TestUser,
    customer_id: &str,
    lines: &[(&str, &str)],
) -> Value {
    let lines = lines.iter().map(|(p, q)| line(p, q)).collect();
    create_order(app, &rep.token, complete_order_input(customer_id, lines)).await
}

/// A draft as [`draft_with`], approved and confirmed by the customer.
async fn confirmed_with(
    app: &TestApp,
    rep: &TestUser,
    customer_id: &str,
    lines: &[(&str, &str)],
) -> Value {
    let draft = draft_with(app, rep, customer_id, lines).await;
    let approved = submit(app, &rep.token, &draft, "APPROVED").await;
    let confirmed = order_in(
        &confirm_order(app, &rep.token, &approved, "EMAIL").await,
        "confirmOrder",
    );
    assert_eq!(confirmed["status"], "CONFIRMED", "{}", pretty(&confirmed));
    confirmed
}

/// An order's creation time, total and lines, as purchase history reads them.
async fn order_figures(app: &TestApp, token: &str, id: &str) -> Value {
    let body = app
        .gql(
            "query($id: ID!) { order(id: $id) {
               id status createdAt total { amount currency }
               lines { sku quantity total { amount } }
             } }",
            json!({ "id": id }),
            Some(token),
        )
        .await;
    data(&body)["order"].clone()
}

async fn add_note_raw(
    app: &TestApp,
    token: &str,
    order_id: &str,
    visibility: &str,
    body: &str,
) -> Value {
    app.gql(
        "mutation($orderId: ID!, $visibility: NoteVisibility!, $body: String!) {
           addOrderNote(orderId: $orderId, visibility: $visibility, body: $body) {
             id visibility body createdAt author { id }
           }
         }",
        json!({ "orderId": order_id, "visibility": visibility, "body": body }),
        Some(token),
    )
    .await
}

async fn add_note(
    app: &TestApp,
    token: &str,
    order_id: &str,
    visibility: &str,
    body: &str,
) -> Value {
    let response = add_note_raw(app, token, order_id, visibility, body).await;
    let note = data(&response)["addOrderNote"].clone();
    assert_eq!(note["visibility"], visibility);
    assert_eq!(note["body"], body);
    note
}

/// `(author, visibility, body)` of an order's notes as `token` reads them.
async fn notes_seen(app: &TestApp, token: &str, order_id: &str) -> Vec<(String, String, String)> {
    let body = app
        .gql(
            "query($id: ID!) { order(id: $id) { orderNotes { id author { id } visibility body createdAt } } }",
            json!({ "id": order_id }),
            Some(token),
        )
        .await;
    let notes = data(&body)["order"]["orderNotes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes in:\n{}", pretty(&body)))
        .clone();
    let times: Vec<DateTime<Utc>> = notes.iter().map(|n| instant(&n["createdAt"])).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    notes
        .iter()
        .map(|n| {
            (
                id_of(&n["author"]),
                text(&n["visibility"]),
                text(&n["body"]),
            )
        })
        .collect()
}

async fn log_interaction_raw(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(
        &format!(
            "mutation($input: InteractionInput!) {{ logInteraction(input: $input) {{ {INTERACTION_FIELDS} }} }}"
        ),
        json!({ "input": input }),
        Some(token),
    )
    .await
}

async fn log_interaction(app: &TestApp, token: &str, input: Value) -> Value {
    let body = log_interaction_raw(app, token, input).await;
    data(&body)["logInteraction"].clone()
}

/// One page of `customer.interactions` or `order.interactions` (`of` is `customer` or `order`).
async fn interactions_page(
    app: &TestApp,
    token: &str,
    of: &str,
    id: &str,
    first: i64,
    after: Option<&str>,
) -> Value {
    let body = interactions_raw(app, token, of, id, first, after).await;
    data(&body)[of]["interactions"].clone()
}

async fn interactions_raw(
    app: &TestApp,
    token: &str,
    of: &str,
    id: &str,
    first: i64,
    after: Option<&str>,
) -> Value {
    app.gql(
        &format!(
            "query($id: ID!, $first: Int, $after: String) {{
               {of}(id: $id) {{
                 interactions(first: $first, after: $after) {{
                   nodes {{ {INTERACTION_FIELDS} }}
                   pageInfo {{ hasNextPage endCursor }}
                 }}
               }}
             }}"
        ),
        json!({ "id": id, "first": first, "after": after }),
        Some(token),
    )
    .await
}

async fn follow_ups_raw(app: &TestApp, token: &str, due_before: Option<NaiveDate>) -> Value {
    app.gql(
        "query($dueBefore: NaiveDate) {
           myFollowUps(dueBefore: $dueBefore) {
             kind dueOn lastContactAt customer { id } order { id status } interaction { id }
           }
         }",
        json!({ "dueBefore": due_before.map(|d| d.to_string()) }),
        Some(token),
    )
    .await
}

async fn follow_ups(app: &TestApp, token: &str, due_before: Option<NaiveDate>) -> Vec<Value> {
    let body = follow_ups_raw(app, token, due_before).await;
    let due = data(&body)["myFollowUps"]
        .as_array()
        .unwrap_or_else(|| panic!("no list in:\n{}", pretty(&body)))
        .clone();
    let dates: Vec<NaiveDate> = due.iter().map(|f| date(&f["dueOn"])).collect();
    assert!(
        dates.windows(2).all(|w| w[0] <= w[1]),
        "earliest first: {dates:?}"
    );
    if let Some(due_before) = due_before {
        assert!(dates.iter().all(|d| *d <= due_before), "{dates:?}");
    }
    due
}

/// The interaction ids of INTERACTION follow-ups, in list order.
fn interaction_follow_ups(due: &[Value]) -> Vec<String> {
    due.iter()
        .filter(|f| f["kind"] == "INTERACTION")
        .map(|f| id_of(&f["interaction"]))
        .collect()
}

/// The order ids of STALE_ORDER follow-ups, as a set.
fn stale_orders(due: &[Value]) -> HashSet<String> {
    due.iter()
        .filter(|f| f["kind"] == "STALE_ORDER")
        .map(|f| {
            assert!(f["interaction"].is_null(), "{}", pretty(f));
            id_of(&f["order"])
        })
        .collect()
}

async fn complete_follow_up_raw(app: &TestApp, token: &str, interaction_id: &str) -> Value {
    app.gql(
        &format!(
            "mutation($id: ID!) {{ completeFollowUp(interactionId: $id) {{ {INTERACTION_FIELDS} }} }}"
        ),
        json!({ "id": interaction_id }),
        Some(token),
    )
    .await
}

async fn add_buyer(app: &TestApp, customer_id: &str) -> TestUser {
    app.add_user(
        "ana.buyer@acme.example",
        Role::Customer,
        UserOptions {
            customer: Some(customer_id),
            ..UserOptions::default()
        },
    )
    .await
}

fn set<const N: usize>(ids: [&str; N]) -> HashSet<String> {
    ids.into_iter().map(str::to_owned).collect()
}

async fn contacts_addresses_and_preferences_round_trip_and_an_update_that_leaves_them_out_keeps_them(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let gadget = create_costed_product(&app, &shop.admin.token, "GADGET-2", "35.50", None).await;
    let contacts = json!([
        {
            "name": "Ana Käufer",
            "role": "Purchasing",
            "phone": "+49 30 555 0101",
            "email": "ana@kunde.example",
            "wechatId": "ana_kaeufer",
        },
        { "name": "Bo Lager", "role": null, "phone": null, "email": null, "wechatId": null },
    ]);
    let addresses = json!([
        { "label": "HQ", "address": "Hauptstraße 1, 10115 Berlin" },
        { "label": "Warehouse", "address": "Dock 4, Hafenstraße 9, 20457 Hamburg" },
    ]);
    let input = merged(
        customer_input("Kunde AG", None, "EUR"),
        json!({
            "contacts": contacts,
            "addresses": addresses,
            "preferences": {
                "notes": "Call before 10:00, never on Fridays.",
                "preferredProductIds": [gadget, shop.product_id],
                "preferredChannel": "WECHAT",
            },
        }),
    );
    let body = create_customer_raw(&app, &rep.token, input).await;
    let created = data(&body)["createCustomer"].clone();
    let id = id_of(&created);
    assert_eq!(created["ownerRep"]["id"], rep.id.as_str());
    assert_eq!(created["contacts"], contacts);
    assert_eq!(created["addresses"], addresses);
    let preferences = json!({
        "notes": "Call before 10:00, never on Fridays.",
        "preferredChannel": "WECHAT",
        "preferredProducts": [{ "id": gadget }, { "id": shop.product_id }],
    });
    assert_eq!(created["preferences"], preferences);
    assert_eq!(fetch_customer(&app, &rep.token, &id).await, created);
    // A list of orders reads its customers without these documents unless a field shows them:
    // the same customer, documents included, whether they are asked for alone or not.
    create_order(
        &app,
        &rep.token,
        complete_order_input(&id, vec![line(&shop.product_id, "1")]),
    )
    .await;
    for selection in [
        CUSTOMER_FIELDS,
        "id contacts { name role phone email wechatId }",
    ] {
        let body = app
            .gql(
                &format!("{{ orders(first: 5) {{ nodes {{ customer {{ {selection} }} }} }} }}"),
                json!(null),
                Some(&rep.token),
            )
            .await;
        let listed = &data(&body)["orders"]["nodes"][0]["customer"];
        assert_eq!(listed["id"], id.as_str(), "{}", pretty(&body));
        assert_eq!(listed["contacts"], contacts, "{}", pretty(&body));
        if selection == CUSTOMER_FIELDS {
            assert_eq!(*listed, created, "{}", pretty(&body));
        }
    }

    // A client that does not know the lists saves the profile it knows: they stay.
    let body = update_customer_raw(
        &app,
        &rep.token,
        &id,
        version_of(&created),
        customer_input("Kunde AG & Co. KG", None, "EUR"),
    )
    .await;
    let renamed = data(&body)["updateCustomer"].clone();
    assert_eq!(renamed["name"], "Kunde AG & Co. KG");
    assert_eq!(version_of(&renamed), version_of(&created) + 1);
    assert_eq!(renamed["contacts"], contacts);
    assert_eq!(renamed["addresses"], addresses);
    assert_eq!(renamed["preferences"], preferences);
    assert_eq!(fetch_customer(&app, &rep.token, &id).await, renamed);

    // Given lists replace the stored ones (an empty list empties); the omitted one stays.
    let new_addresses = json!([{ "label": "Billing", "address": "Postfach 12, 10117 Berlin" }]);
    let body = update_customer_raw(
        &app,
        &rep.token,
        &id,
        version_of(&renamed),
        merged(
            customer_input("Kunde AG & Co. KG", None, "EUR"),
            json!({ "contacts": [], "addresses": new_addresses }),
        ),
    )
    .await;
    let updated = data(&body)["updateCustomer"].clone();
    assert_eq!(updated["contacts"], json!([]));
    assert_eq!(updated["addresses"], new_addresses);
    assert_eq!(updated["preferences"], preferences);

    // And preferences can be changed on their own.
    let body = update_customer_raw(
        &app,
        &rep.token,
        &id,
        version_of(&updated),
        merged(
            customer_input("Kunde AG & Co. KG", None, "EUR"),
            json!({ "preferences": { "notes": null, "preferredProductIds": [], "preferredChannel": "EMAIL" } }),
        ),
    )
    .await;
    let changed = data(&body)["updateCustomer"].clone();
    assert_eq!(
        changed["preferences"],
        json!({ "notes": null, "preferredChannel": "EMAIL", "preferredProducts": [] })
    );
    assert_eq!(changed["contacts"], json!([]));
    assert_eq!(changed["addresses"], new_addresses);
    assert_eq!(
        fetch_customer(&app, &shop.manager.token, &id).await,
        changed
    );
}

async fn bad_contacts_are_bad_user_input_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let contact = json!({ "name": "Ana Käufer", "email": "ana@kunde.example" });
    let body = create_customer_raw(
        &app,
        &rep.token,
        merged(
            customer_input("Kunde AG", None, "EUR"),
            json!({ "contacts": [contact] }),
        ),
    )
    .await;
    let before = data(&body)["createCustomer"].clone();
    let id = id_of(&before);

    let too_many: Vec<Value> = (1..=51)
        .map(|i| json!({ "name": format!("Contact {i}") }))
        .collect();
    let fifty: Vec<Value> = too_many[..50].to_vec();
    for (what, extra) in [
        (
            "an empty contact name",
            json!({ "contacts": [{ "name": "" }] }),
        ),
        (
            "a blank contact name",
            json!({ "contacts": [contact, { "name": "   " }] }),
        ),
        ("51 contacts", json!({ "contacts": too_many })),
        (
            "an address without a label",
            json!({ "addresses": [{ "label": " ", "address": "Dock 4" }] }),
        ),
    ] {
        let input = merged(customer_input("Kunde AG (renamed)", None, "EUR"), extra);
        let body =
            update_customer_raw(&app, &rep.token, &id, version_of(&before), input.clone()).await;
        let error = assert_error(&body, "BAD_USER_INPUT");
        let field = error["extensions"]["field"].as_str().unwrap_or_default();
        assert!(
            field.starts_with("contacts") || field.starts_with("addresses"),
            "{what}: names the field, got {}",
            pretty(error)
        );
        assert_eq!(
            fetch_customer(&app, &rep.token, &id).await,
            before,
            "{what} changes nothing"
        );

        let body = create_customer_raw(&app, &rep.token, input).await;
        assert_error(&body, "BAD_USER_INPUT");
    }
    let listed = app
        .gql(
            "{ customers(first: 100) { nodes { id } } }",
            json!({}),
            shop.admin.token(),
        )
        .await;
    assert_eq!(
        nodes(&data(&listed)["customers"]).len(),
        2,
        "no customer was created by bad input"
    );

    // Fifty is the most a profile holds, not too many.
    let body = update_customer_raw(
        &app,
        &rep.token,
        &id,
        version_of(&before),
        merged(
            customer_input("Kunde AG", None, "EUR"),
            json!({ "contacts": fifty }),
        ),
    )
    .await;
    let full = data(&body)["updateCustomer"].clone();
    assert_eq!(full["contacts"].as_array().map(Vec::len), Some(50));
}

async fn search_finds_customers_by_name_tag_and_contact_ignoring_case_and_a_rep_only_their_own(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other_rep, globex) = shop.other_rep(&app).await;
    let body = create_customer_raw(
        &app,
        &shop.rep.token,
        merged(
            customer_input("Ångström AB", None, "SEK"),
            json!({
                "tags": ["Optik", "key-account"],
                "contacts": [{
                    "name": "Øystein Ærø",
                    "role": "Einkäufer",
                    "email": "Oystein@Lens.example",
                    "phone": "+46 70 555 01 02",
                    "wechatId": "Oy_WX_88",
                }],
            }),
        ),
    )
    .await;
    let ab = id_of(&data(&body)["createCustomer"]);
    let body = create_customer_raw(
        &app,
        &shop.admin.token,
        merged(
            customer_input("Ångström Oy", Some(&other_rep.id), "EUR"),
            json!({ "tags": ["optik"] }),
        ),
    )
    .await;
    let oy = id_of(&data(&body)["createCustomer"]);

    let search = |user: &TestUser, text: &str| {
        let (app, token, text) = (&app, user.token.clone(), text.to_owned());
        async move {
            let body = app
                .gql(
                    "query($search: String) { customers(first: 100, filter: { search: $search }) { nodes { id } } }",
                    json!({ "search": text }),
                    Some(&token),
                )
                .await;
            unique(&ids(&nodes(&data(&body)["customers"])))
        }
    };
    let rep = &shop.rep;
    for text in ["ÅNGSTRÖM", "ångström", "ÅngStröm"] {
        assert_eq!(search(rep, text).await, set([&ab]), "{text}");
        assert_eq!(search(&shop.admin, text).await, set([&ab, &oy]), "{text}");
    }
    assert_eq!(search(&shop.admin, "ÅNGSTRÖM AB").await, set([&ab]));
    assert_eq!(search(&other_rep, "ÅNGSTRÖM").await, set([&oy]));
    for (text, what) in [
        ("OPTIK", "a tag"),
        ("Key-Account", "a tag"),
        ("øystein", "a contact's name"),
        ("ØYSTEIN ÆRØ", "a contact's whole name"),
        ("oystein@LENS.example", "a contact's e-mail"),
        ("555 01 02", "a contact's phone"),
        ("oy_wx", "a contact's WeChat id"),
    ] {
        assert_eq!(search(rep, text).await, set([&ab]), "{what}: {text}");
    }
    assert_eq!(search(&shop.admin, "optik").await, set([&ab, &oy]));
    assert_eq!(search(&other_rep, "øystein").await, HashSet::new());
    assert_eq!(search(&other_rep, "OPTIK").await, set([&oy]));
    assert_eq!(search(rep, "acme").await, set([&shop.customer_id]));
    assert_eq!(search(rep, "globex").await, HashSet::new());
    assert_eq!(search(&other_rep, "GLOBEX").await, set([&globex]));
    assert_eq!(search(rep, "no such customer").await, HashSet::new());
}

async fn purchase_history_is_derived_from_the_committed_orders_own_totals(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let widget = shop.product_id.as_str();
    let gadget = create_costed_product(&app, &shop.admin.token, "GADGET-2", "35.50", None).await;
    let bolt = create_costed_product(&app, &shop.admin.token, "BOLT-3", "7.25", None).await;
    let history = |token: String| {
        let (app, id) = (&app, shop.customer_id.clone());
        async move {
            let body = app
                .gql(
                    "query($id: ID!) { customer(id: $id) { purchaseHistory {
                       orderCount otherCurrencyOrders lifetimeValue { amount currency }
                       averageOrderValue { amount currency } lastOrderAt averageDaysBetweenOrders
                       topProducts { product { id } sku name quantity amount { amount currency } orderCount }
                     } } }",
                    json!({ "id": id }),
                    Some(&token),
                )
                .await;
            data(&body)["customer"]["purchaseHistory"].clone()
        }
    };

    let empty = history(rep.token.clone()).await;
    assert_eq!(empty["orderCount"], 0);
    assert_eq!(decimal(&empty["lifetimeValue"]["amount"]), Decimal::ZERO);
    assert_eq!(empty["lifetimeValue"]["currency"], "EUR");
    for field in [
        "averageOrderValue",
        "lastOrderAt",
        "averageDaysBetweenOrders",
    ] {
        assert!(empty[field].is_null(), "{field}: {}", pretty(&empty));
    }
    assert_eq!(empty["topProducts"], json!([]));

    let first = confirmed_with(
        &app,
        rep,
        &shop.customer_id,
        &[(widget, "10"), (&gadget, "3")],
    )
    .await;
    let one = history(rep.token.clone()).await;
    assert_eq!(one["orderCount"], 1);
    assert!(
        one["averageDaysBetweenOrders"].is_null(),
        "needs two orders: {}",
        pretty(&one)
    );

    let second = confirmed_with(&app, rep, &shop.customer_id, &[(&gadget, "20")]).await;
    move_order(&app, &rep.token, &second, "IN_PRODUCTION", None).await;
    let third = confirmed_with(
        &app,
        rep,
        &shop.customer_id,
        &[(&bolt, "100"), (widget, "1")],
    )
    .await;
    move_order(
        &app,
        &rep.token,
        &third,
        "ON_HOLD",
        Some("awaiting artwork"),
    )
    .await;
    // Neither a cancelled commitment, nor a draft, nor an approved but unconfirmed order counts.
    let cancelled = confirmed_with(&app, rep, &shop.customer_id, &[(widget, "50")]).await;
    move_order(
        &app,
        &shop.manager.token,
        &cancelled,
        "CANCELLED",
        Some("customer withdrew"),
    )
    .await;
    draft_with(&app, rep, &shop.customer_id, &[(widget, "40")]).await;
    let approved = draft_with(&app, rep, &shop.customer_id, &[(&bolt, "400")]).await;
    submit(&app, &rep.token, &approved, "APPROVED").await;

    let mut committed = Vec::new();
    for order in [&first, &second, &third] {
        committed.push(order_figures(&app, &rep.token, &id_of(order)).await);
    }
    let totals: Vec<Decimal> = committed
        .iter()
        .map(|o| decimal(&o["total"]["amount"]))
        .collect();
    let lifetime: Decimal = totals.iter().sum();
    let count = Decimal::from(committed.len());
    let created: Vec<DateTime<Utc>> = committed.iter().map(|o| instant(&o["createdAt"])).collect();
    let (earliest, latest) = (
        *created.iter().min().unwrap(),
        *created.iter().max().unwrap(),
    );
    let average_days = (Decimal::from((latest - earliest).num_seconds())
        / Decimal::from(86_400 * (committed.len() - 1)))
    .round_dp(1);
    // Per SKU: amount, quantity, orders.
    let mut per_product: BTreeMap<String, (Decimal, Decimal, i64)> = BTreeMap::new();
    for order in &committed {
        let mut seen = HashSet::new();
        for line in order["lines"].as_array().expect("lines") {
            let entry = per_product.entry(text(&line["sku"])).or_default();
            entry.0 += decimal(&line["total"]["amount"]);
            entry.1 += decimal(&line["quantity"]);
            if seen.insert(text(&line["sku"])) {
                entry.2 += 1;
            }
        }
    }
    let mut expected_top: Vec<(String, Decimal, Decimal, i64)> = per_product
        .into_iter()
        .map(|(sku, (amount, quantity, orders))| (sku, amount, quantity, orders))
        .collect();
    expected_top.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));

    for user in [&shop.rep, &shop.manager, &shop.admin] {
        let history = history(user.token.clone()).await;
        assert_eq!(history["orderCount"], 3, "{}", pretty(&history));
        assert_eq!(history["otherCurrencyOrders"], 0);
        assert_eq!(decimal(&history["lifetimeValue"]["amount"]), lifetime);
        assert_eq!(
            decimal(&history["averageOrderValue"]["amount"]),
            (lifetime / count).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        );
        assert_eq!(history["averageOrderValue"]["currency"], "EUR");
        assert_eq!(instant(&history["lastOrderAt"]), latest);
        assert_eq!(decimal(&history["averageDaysBetweenOrders"]), average_days);
        let top: Vec<(String, Decimal, Decimal, i64)> = history["topProducts"]
            .as_array()
            .expect("topProducts")
            .iter()
            .map(|p| {
                assert_eq!(p["amount"]["currency"], "EUR");
                assert_eq!(p["name"], format!("Product {}", text(&p["sku"])));
                (
                    text(&p["sku"]),
                    decimal(&p["amount"]["amount"]),
                    decimal(&p["quantity"]),
                    p["orderCount"].as_i64().expect("orderCount"),
                )
            })
            .collect();
        assert_eq!(top, expected_top, "{}", pretty(&history));
        let product_ids: Vec<String> = history["topProducts"]
            .as_array()
            .expect("topProducts")
            .iter()
            .map(|p| id_of(&p["product"]))
            .collect();
        let sku_to_id = |sku: &str| match sku {
            "WIDGET-1" => shop.product_id.clone(),
            "GADGET-2" => gadget.clone(),
            "BOLT-3" => bolt.clone(),
            other => panic!("unexpected SKU {other}"),
        };
        assert_eq!(
            product_ids,
            expected_top
                .iter()
                .map(|(sku, ..)| sku_to_id(sku))
                .collect::<Vec<_>>()
        );
    }

    // Amounts are in the customer's currency: after a switch, the old orders are only counted.
    let customer = fetch_customer(&app, &shop.admin.token, &shop.customer_id).await;
    let body = update_customer_raw(
        &app,
        &shop.admin.token,
        &shop.customer_id,
        version_of(&customer),
        customer_input("Acme GmbH", Some(&rep.id), "USD"),
    )
    .await;
    data(&body);
    let switched = history(rep.token.clone()).await;
    assert_eq!(switched["orderCount"], 0, "{}", pretty(&switched));
    assert_eq!(switched["otherCurrencyOrders"], 3);
    assert_eq!(decimal(&switched["lifetimeValue"]["amount"]), Decimal::ZERO);
    assert_eq!(switched["lifetimeValue"]["currency"], "USD");
    assert!(switched["averageOrderValue"].is_null());
    assert!(switched["lastOrderAt"].is_null());
    assert_eq!(switched["topProducts"], json!([]));
}

async fn a_customer_reads_and_writes_only_customer_visible_notes_on_its_own_orders(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let buyer = add_buyer(&app, &shop.customer_id).await;
    let order = id_of(&shop.draft(&app).await);
    let theirs = id_of(&shop.draft_for(&app, &other_rep, &other_customer).await);
    let rep = &shop.rep;

    add_note(
        &app,
        &rep.token,
        &order,
        "INTERNAL",
        "Margin is thin — hold firm on price",
    )
    .await;
    add_note(
        &app,
        &rep.token,
        &order,
        "CUSTOMER_VISIBLE",
        "Ships in two lots",
    )
    .await;
    let from_buyer = add_note(
        &app,
        &buyer.token,
        &order,
        "CUSTOMER_VISIBLE",
        "Bitte an Tor 3 liefern",
    )
    .await;
    assert_eq!(from_buyer["author"]["id"], buyer.id.as_str());

    let ghost = "999999".to_owned();
    for (who, token, order_id, visibility, body, code) in [
        (
            "the customer",
            &buyer.token,
            &order,
            "INTERNAL",
            "psst",
            "FORBIDDEN",
        ),
        (
            "the rep",
            &rep.token,
            &order,
            "INTERNAL",
            "",
            "BAD_USER_INPUT",
        ),
        (
            "the rep",
            &rep.token,
            &order,
            "CUSTOMER_VISIBLE",
            "   ",
            "BAD_USER_INPUT",
        ),
        (
            "the customer",
            &buyer.token,
            &order,
            "CUSTOMER_VISIBLE",
            "",
            "BAD_USER_INPUT",
        ),
        (
            "the rep",
            &rep.token,
            &theirs,
            "INTERNAL",
            "not mine",
            "NOT_FOUND",
        ),
        (
            "the customer",
            &buyer.token,
            &theirs,
            "CUSTOMER_VISIBLE",
            "hello",
            "NOT_FOUND",
        ),
        (
            "the rep",
            &rep.token,
            &ghost,
            "INTERNAL",
            "ghost",
            "NOT_FOUND",
        ),
    ] {
        let response = add_note_raw(&app, token, order_id, visibility, body).await;
        let error = assert_error(&response, code);
        assert!(
            response["data"].is_null(),
            "{who} gets no note back: {}",
            pretty(error)
        );
    }

    let staff_view = vec![
        (
            rep.id.clone(),
            "INTERNAL".to_owned(),
            "Margin is thin — hold firm on price".to_owned(),
        ),
        (
            rep.id.clone(),
            "CUSTOMER_VISIBLE".to_owned(),
            "Ships in two lots".to_owned(),
        ),
        (
            buyer.id.clone(),
            "CUSTOMER_VISIBLE".to_owned(),
            "Bitte an Tor 3 liefern".to_owned(),
        ),
    ];
    assert_eq!(notes_seen(&app, &rep.token, &order).await, staff_view);
    assert_eq!(
        notes_seen(&app, &shop.manager.token, &order).await,
        staff_view
    );
    assert_eq!(
        notes_seen(&app, &buyer.token, &order).await,
        staff_view[1..].to_vec(),
        "the customer never gets INTERNAL notes"
    );
    // In a list, too: the notes of each order are filtered for the customer.
    let listed = app
        .gql(
            "{ orders(first: 10) { nodes { id orderNotes { visibility } } } }",
            json!({}),
            buyer.token(),
        )
        .await;
    let visibilities: Vec<Value> = nodes(&data(&listed)["orders"])
        .iter()
        .flat_map(|o| o["orderNotes"].as_array().cloned().unwrap_or_default())
        .map(|n| n["visibility"].clone())
        .collect();
    assert_eq!(visibilities.len(), 2, "{}", pretty(&listed));
    assert!(visibilities.iter().all(|v| v == "CUSTOMER_VISIBLE"));
    assert!(
        notes_seen(&app, &shop.admin.token, &theirs)
            .await
            .is_empty(),
        "refused notes were not stored"
    );
}

async fn a_customer_never_sees_costs_margins_preferences_interactions_or_other_companies(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let buyer = add_buyer(&app, &shop.customer_id).await;
    let rep = &shop.rep;
    let costed =
        create_costed_product(&app, &shop.admin.token, "COSTED-1", "80.00", Some("45.5")).await;
    let fine_cost =
        create_costed_product(&app, &shop.admin.token, "COSTED-2", "12.00", Some("3.2575")).await;
    let uncosted = create_costed_product(&app, &shop.admin.token, "NOCOST-3", "10.00", None).await;

    let order = confirmed_with(
        &app,
        rep,
        &shop.customer_id,
        &[(&costed, "7"), (&fine_cost, "3"), (&costed, "1.5")],
    )
    .await;
    let order_id = id_of(&order);
    let partly_costed = id_of(
        &draft_with(
            &app,
            rep,
            &shop.customer_id,
            &[(&costed, "1"), (&uncosted, "2")],
        )
        .await,
    );
    let theirs = id_of(&shop.draft_for(&app, &other_rep, &other_customer).await);
    log_interaction(
        &app,
        &rep.token,
        json!({
            "customerId": shop.customer_id, "orderId": order_id, "channel": "PHONE",
            "direction": "OUTBOUND", "summary": "Discussed the price",
        }),
    )
    .await;
    let current = fetch_customer(&app, &rep.token, &shop.customer_id).await;
    let body = update_customer_raw(
        &app,
        &rep.token,
        &shop.customer_id,
        version_of(&current),
        merged(
            customer_input("Acme GmbH", None, "EUR"),
            json!({ "preferences": { "notes": "Haggles hard", "preferredChannel": "WECHAT" } }),
        ),
    )
    .await;
    assert_eq!(
        data(&body)["updateCustomer"]["preferences"]["notes"],
        "Haggles hard"
    );

    // Staff see costs and margins: margin = total - sum(quantity x unit cost), to the cent.
    let margin_query = "query($id: ID!) { order(id: $id) {
        total { amount currency } margin { amount currency }
        lines { quantity unitPrice { amount } }
      } }";
    let body = app
        .gql(margin_query, json!({ "id": order_id }), rep.token())
        .await;
    let seen = &data(&body)["order"];
    let cost = dec("7") * dec("45.5") + dec("3") * dec("3.2575") + dec("1.5") * dec("45.5");
    let expected = (decimal(&seen["total"]["amount"]) - cost)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(
        decimal(&seen["margin"]["amount"]),
        expected,
        "{}",
        pretty(seen)
    );
    assert_eq!(seen["margin"]["currency"], "EUR");
    let body = app
        .gql(margin_query, json!({ "id": partly_costed }), rep.token())
        .await;
    assert!(
        data(&body)["order"]["margin"].is_null(),
        "no margin without every cost: {}",
        pretty(&body)
    );
    let cost_query = "query($id: ID!) { product(id: $id) { sku listPrice { amount } unitCost { amount currency } } }";
    let body = app
        .gql(cost_query, json!({ "id": costed }), rep.token())
        .await;
    assert_eq!(
        decimal(&data(&body)["product"]["unitCost"]["amount"]),
        dec("45.5")
    );

    // The customer gets none of it: each internal field is FORBIDDEN and comes back empty.
    let forbidden: [(&str, &str, Value); 7] = [
        ("unitCost", cost_query, json!({ "id": costed })),
        ("margin", margin_query, json!({ "id": order_id })),
        (
            "preferences",
            "query($id: ID!) { customer(id: $id) { id preferences { notes preferredChannel } } }",
            json!({ "id": shop.customer_id }),
        ),
        (
            "customer interactions",
            "query($id: ID!) { customer(id: $id) { id interactions { nodes { summary } } } }",
            json!({ "id": shop.customer_id }),
        ),
        (
            "order interactions",
            "query($id: ID!) { order(id: $id) { id interactions { nodes { summary } } } }",
            json!({ "id": order_id }),
        ),
        (
            "costs through purchase history",
            "query($id: ID!) { customer(id: $id) { purchaseHistory { topProducts { product { unitCost { amount } } } } } }",
            json!({ "id": shop.customer_id }),
        ),
        (
            "margins in the order list",
            "{ orders(first: 10) { nodes { id margin { amount } } } }",
            json!({}),
        ),
    ];
    for (what, query, variables) in forbidden {
        let body = app.gql(query, variables, buyer.token()).await;
        assert_error(&body, "FORBIDDEN");
        let text = body["data"].to_string();
        for secret in [
            "45.5",
            "3.2575",
            "Discussed the price",
            "Haggles hard",
            "WECHAT",
        ] {
            assert!(
                !text.contains(secret),
                "{what}: `{secret}` leaked:\n{}",
                pretty(&body)
            );
        }
    }

    // What the customer may read of its own company still works.
    let body = app
        .gql(
            "query($id: ID!) { customer(id: $id) { id name contacts { name } addresses { label }
               purchaseHistory { orderCount } } }",
            json!({ "id": shop.customer_id }),
            buyer.token(),
        )
        .await;
    assert_eq!(data(&body)["customer"]["purchaseHistory"]["orderCount"], 1);
    let body = app
        .gql(
            "query($id: ID!) { product(id: $id) { sku listPrice { amount } } }",
            json!({ "id": costed }),
            buyer.token(),
        )
        .await;
    assert_eq!(data(&body)["product"]["sku"], "COSTED-1");

    // Other companies do not exist for it.
    let listed = app
        .gql(
            "{ customers(first: 100) { nodes { id } } }",
            json!({}),
            buyer.token(),
        )
        .await;
    assert_eq!(
        unique(&ids(&nodes(&data(&listed)["customers"]))),
        set([&shop.customer_id])
    );
    let listed = app
        .gql(
            "query($s: String) { customers(first: 100, filter: { search: $s }) { nodes { id } } }",
            json!({ "s": "globex" }),
            buyer.token(),
        )
        .await;
    assert_eq!(nodes(&data(&listed)["customers"]), Vec::<Value>::new());
    let body = app
        .gql(
            "query($id: ID!) { customer(id: $id) { id name } }",
            json!({ "id": other_customer }),
            buyer.token(),
        )
        .await;
    assert_error(&body, "NOT_FOUND");
    assert!(!body.to_string().contains("Globex"), "{}", pretty(&body));
    let body = app
        .gql(
            "query($id: ID!) { order(id: $id) { id number } }",
            json!({ "id": theirs }),
            buyer.token(),
        )
        .await;
    assert_error(&body, "NOT_FOUND");
    assert_eq!(
        unique(&all_order_ids(&app, &buyer.token, json!(null)).await),
        set([&order_id, &partly_costed])
    );
    assert_eq!(
        all_order_ids(&app, &buyer.token, json!({ "customerId": other_customer })).await,
        Vec::<String>::new()
    );
}

async fn interactions_are_listed_newest_first_and_only_staff_log_them_on_their_own_customers(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (_other_rep, other_customer) = shop.other_rep(&app).await;
    let buyer = add_buyer(&app, &shop.customer_id).await;
    let rep = &shop.rep;
    let customer = shop.customer_id.as_str();
    let second_customer = create_customer(&app, &rep.token, "Zweite GmbH", None).await;
    let order = id_of(&shop.draft(&app).await);
    let second_order = id_of(&shop.draft_for(&app, rep, &second_customer).await);

    let two_days_ago = days_ago(2);
    let first = log_interaction(
        &app,
        &rep.token,
        json!({
            "customerId": customer, "channel": "EMAIL", "direction": "INBOUND",
            "summary": "Asked for a quote", "occurredAt": two_days_ago,
        }),
    )
    .await;
    assert_eq!(first["channel"], "EMAIL");
    assert_eq!(first["direction"], "INBOUND");
    assert_eq!(first["summary"], "Asked for a quote");
    assert_eq!(instant(&first["occurredAt"]), instant(&json!(two_days_ago)));
    assert!(first["followUpOn"].is_null() && first["followUpDoneAt"].is_null());
    assert!(first["order"].is_null());
    assert_eq!(first["loggedBy"]["id"], rep.id.as_str());
    assert_eq!(first["customer"]["id"], customer);

    let before = Utc::now() - chrono::Duration::seconds(1);
    let second = log_interaction(
        &app,
        &rep.token,
        json!({
            "customerId": customer, "orderId": order, "channel": "PHONE",
            "direction": "OUTBOUND", "summary": "Confirmed the delivery date",
        }),
    )
    .await;
    let after = Utc::now() + chrono::Duration::seconds(1);
    let occurred = instant(&second["occurredAt"]);
    assert!(
        before <= occurred && occurred <= after,
        "occurredAt defaults to now: {occurred}"
    );
    assert_eq!(second["order"]["id"], order.as_str());

    let follow_up_on = in_days(2);
    let third = log_interaction(
        &app,
        &rep.token,
        json!({
            "customerId": customer, "orderId": order, "channel": "WECHAT",
            "direction": "INBOUND", "summary": "微信: Lieferung ok?", "followUpOn": follow_up_on,
        }),
    )
    .await;
    assert_eq!(third["followUpOn"], follow_up_on.as_str());
    assert_eq!(third["summary"], "微信: Lieferung ok?");

    let newest_first = vec![third.clone(), second.clone(), first.clone()];
    for user in [&shop.rep, &shop.manager, &shop.admin] {
        let page = interactions_page(&app, &user.token, "customer", customer, 20, None).await;
        assert_eq!(nodes(&page), newest_first, "{}", pretty(&page));
        assert_eq!(page["pageInfo"]["hasNextPage"], false);
    }
    let page = interactions_page(&app, &rep.token, "customer", customer, 2, None).await;
    assert_eq!(ids(&nodes(&page)), ids(&newest_first[..2]));
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let cursor = text(&page["pageInfo"]["endCursor"]);
    let page = interactions_page(&app, &rep.token, "customer", customer, 2, Some(&cursor)).await;
    assert_eq!(ids(&nodes(&page)), ids(&newest_first[2..]));
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    let page = interactions_page(&app, &rep.token, "order", &order, 20, None).await;
    assert_eq!(nodes(&page), vec![third.clone(), second.clone()]);
    let page = interactions_page(&app, &rep.token, "order", &second_order, 20, None).await;
    assert_eq!(nodes(&page), Vec::<Value>::new());

    // Refused: each names its field, and nothing is stored.
    let in_the_future = (Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    for (what, token, input, code, field) in [
        (
            "an order of another customer",
            &rep.token,
            json!({ "customerId": customer, "orderId": second_order, "channel": "PHONE",
                    "direction": "OUTBOUND", "summary": "wrong order" }),
            "BAD_USER_INPUT",
            Some("orderId"),
        ),
        (
            "a contact in the future",
            &rep.token,
            json!({ "customerId": customer, "channel": "PHONE", "direction": "OUTBOUND",
                    "summary": "tomorrow's call", "occurredAt": in_the_future }),
            "BAD_USER_INPUT",
            Some("occurredAt"),
        ),
        (
            "an empty summary",
            &rep.token,
            json!({ "customerId": customer, "channel": "PHONE", "direction": "OUTBOUND",
                    "summary": "  " }),
            "BAD_USER_INPUT",
            Some("summary"),
        ),
        (
            "another rep's customer",
            &rep.token,
            json!({ "customerId": other_customer, "channel": "VISIT", "direction": "OUTBOUND",
                    "summary": "poaching" }),
            "BAD_USER_INPUT",
            Some("customerId"),
        ),
        (
            "a customer login",
            &buyer.token,
            json!({ "customerId": customer, "channel": "EMAIL", "direction": "INBOUND",
                    "summary": "we called ourselves" }),
            "FORBIDDEN",
            None,
        ),
    ] {
        let body = log_interaction_raw(&app, token, input).await;
        let error = assert_error(&body, code);
        if let Some(field) = field {
            assert_eq!(
                error["extensions"]["field"],
                field,
                "{what}: {}",
                pretty(error)
            );
        }
    }
    let page = interactions_page(&app, &rep.token, "customer", customer, 20, None).await;
    assert_eq!(nodes(&page), newest_first, "nothing refused was stored");
    let page = interactions_page(&app, &rep.token, "customer", &second_customer, 20, None).await;
    assert_eq!(nodes(&page), Vec::<Value>::new());
    let page = interactions_page(
        &app,
        &shop.admin.token,
        "customer",
        &other_customer,
        20,
        None,
    )
    .await;
    assert_eq!(nodes(&page), Vec::<Value>::new());
}

async fn follow_ups_are_due_until_completed_and_only_their_owner_or_a_manager_completes_them(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other_rep, _) = shop.other_rep(&app).await;
    let buyer = add_buyer(&app, &shop.customer_id).await;
    let rep = &shop.rep;
    // An order just approved is not stale with the default of 14 days.
    shop.approved_order(&app).await;
    let today = today();
    let mut logged = BTreeMap::new();
    for (name, follow_up_on) in [
        ("in three days", Some(days_from(today, 3))),
        ("yesterday", Some(days_from(today, -1))),
        ("today", Some(today)),
        ("none", None),
    ] {
        let interaction = log_interaction(
            &app,
            &rep.token,
            json!({
                "customerId": shop.customer_id, "channel": "PHONE", "direction": "OUTBOUND",
                "summary": format!("call back {name}"),
                "followUpOn": follow_up_on.map(|d| d.to_string()),
            }),
        )
        .await;
        logged.insert(name, id_of(&interaction));
    }
    let named = |names: &[&str]| names.iter().map(|n| logged[n].clone()).collect::<Vec<_>>();

    let due = follow_ups(&app, &rep.token, Some(today)).await;
    assert_eq!(interaction_follow_ups(&due), named(&["yesterday", "today"]));
    assert_eq!(due.len(), 2, "no stale order yet: {}", pretty(&json!(due)));
    assert!(
        due.iter()
            .all(|f| f["customer"]["id"] == shop.customer_id.as_str()
                && f["lastContactAt"].is_null()
                && f["order"].is_null())
    );
    assert_eq!(
        due.iter().map(|f| date(&f["dueOn"])).collect::<Vec<_>>(),
        vec![days_from(today, -1), today]
    );
    assert_eq!(
        interaction_follow_ups(&follow_ups(&app, &rep.token, None).await),
        named(&["yesterday", "today"]),
        "dueBefore defaults to today"
    );
    assert_eq!(
        interaction_follow_ups(&follow_ups(&app, &rep.token, Some(days_from(today, 3))).await),
        named(&["yesterday", "today", "in three days"])
    );
    assert!(
        follow_ups(&app, &rep.token, Some(days_from(today, -2)))
            .await
            .is_empty()
    );
    assert!(
        follow_ups(&app, &other_rep.token, Some(days_from(today, 30)))
            .await
            .is_empty(),
        "only the user's own follow-ups"
    );
    assert!(
        follow_ups(&app, &shop.manager.token, Some(days_from(today, 30)))
            .await
            .is_empty()
    );

    // Completed, it leaves the list; completing again changes nothing.
    let body = complete_follow_up_raw(&app, &rep.token, &logged["yesterday"]).await;
    let done = data(&body)["completeFollowUp"].clone();
    let done_at = instant(&done["followUpDoneAt"]);
    let body = complete_follow_up_raw(&app, &rep.token, &logged["yesterday"]).await;
    let again = data(&body)["completeFollowUp"].clone();
    assert_eq!(again, done);
    assert_eq!(
        instant(&again["followUpDoneAt"]),
        done_at,
        "the first time is kept"
    );
    assert_eq!(
        interaction_follow_ups(&follow_ups(&app, &rep.token, Some(today)).await),
        named(&["today"])
    );

    // Who may not: a rep who cannot see the customer, a customer login; and what cannot be.
    assert_error(
        &complete_follow_up_raw(&app, &other_rep.token, &logged["today"]).await,
        "NOT_FOUND",
    );
    assert_error(
        &complete_follow_up_raw(&app, &buyer.token, &logged["today"]).await,
        "FORBIDDEN",
    );
    assert_error(&follow_ups_raw(&app, &buyer.token, None).await, "FORBIDDEN");
    let body = complete_follow_up_raw(&app, &rep.token, &logged["none"]).await;
    let error = assert_error(&body, "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], "interactionId");
    assert_error(
        &complete_follow_up_raw(&app, &rep.token, "999999").await,
        "NOT_FOUND",
    );
    assert_eq!(
        interaction_follow_ups(&follow_ups(&app, &rep.token, Some(days_from(today, 3))).await),
        named(&["today", "in three days"]),
        "refused completions changed nothing"
    );

    // The rep's manager may complete it for them.
    let body = complete_follow_up_raw(&app, &shop.manager.token, &logged["in three days"]).await;
    assert!(!data(&body)["completeFollowUp"]["followUpDoneAt"].is_null());
    assert_eq!(
        interaction_follow_ups(&follow_ups(&app, &rep.token, Some(days_from(today, 3))).await),
        named(&["today"])
    );

    // A rep who now sees the customer still did not set the follow-up: FORBIDDEN.
    let customer = fetch_customer(&app, &shop.admin.token, &shop.customer_id).await;
    let body = update_customer_raw(
        &app,
        &shop.admin.token,
        &shop.customer_id,
        version_of(&customer),
        customer_input("Acme GmbH", Some(&other_rep.id), "EUR"),
    )
    .await;
    assert_eq!(
        data(&body)["updateCustomer"]["ownerRep"]["id"],
        other_rep.id.as_str()
    );
    assert_error(
        &complete_follow_up_raw(&app, &other_rep.token, &logged["today"]).await,
        "FORBIDDEN",
    );
    let page = interactions_page(
        &app,
        &shop.admin.token,
        "customer",
        &shop.customer_id,
        20,
        None,
    )
    .await;
    let today_one = nodes(&page)
        .into_iter()
        .find(|i| id_of(i) == logged["today"])
        .expect("the interaction");
    assert!(
        today_one["followUpDoneAt"].is_null(),
        "{}",
        pretty(&today_one)
    );
}

async fn an_active_order_whose_customer_was_not_contacted_is_a_stale_follow_up(backend: Backend) {
    let app = spawn_app_with(backend, &["--follow-up-stale-days", "0"]).await;
    let shop = Shop::open(&app).await;
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let rep = &shop.rep;
    let draft = shop.draft(&app).await;
    let approved = shop.approved_order(&app).await;
    let confirmed = shop.confirmed_order(&app).await;
    let on_hold = move_order(
        &app,
        &rep.token,
        &confirmed,
        "ON_HOLD",
        Some("awaiting artwork"),
    )
    .await;
    let cancelled = shop.approved_order(&app).await;
    move_order(&app, &rep.token, &cancelled, "CANCELLED", Some("duplicate")).await;
    let theirs = shop.draft_for(&app, &other_rep, &other_customer).await;
    let theirs = submit(&app, &other_rep.token, &theirs, "APPROVED").await;

    let mut created = BTreeMap::new();
    for order in [&draft, &approved, &on_hold] {
        let figures = order_figures(&app, &rep.token, &id_of(order)).await;
        created.insert(id_of(order), instant(&figures["createdAt"]).date_naive());
    }
    let first_day = *created.values().min().unwrap();
    let last_day = *created.values().max().unwrap();
    let active = set([&id_of(&approved), &id_of(&on_hold)]);

    // With 0 days, an active order is due the day it was created: not before, but that day.
    let due = follow_ups(&app, &rep.token, Some(days_from(first_day, -1))).await;
    assert!(due.is_empty(), "{}", pretty(&json!(due)));
    let due = follow_ups(&app, &rep.token, Some(last_day)).await;
    assert_eq!(
        stale_orders(&due),
        active,
        "a DRAFT or CANCELLED order is never stale"
    );
    assert_eq!(due.len(), 2);
    for follow_up in &due {
        let id = id_of(&follow_up["order"]);
        assert_eq!(date(&follow_up["dueOn"]), created[&id]);
        assert!(follow_up["lastContactAt"].is_null(), "never contacted");
        assert_eq!(follow_up["customer"]["id"], shop.customer_id.as_str());
    }
    assert_eq!(
        stale_orders(&follow_ups(&app, &other_rep.token, Some(days_from(last_day, 1))).await),
        set([&id_of(&theirs)]),
        "each rep sees their own orders"
    );

    // Time passes: the orders were created five days ago (as if).
    let five_days = chrono::Duration::days(5).num_microseconds().unwrap();
    let database = sea_orm::Database::connect(app.database_url())
        .await
        .expect("open the test database");
    for id in [&id_of(&approved), &id_of(&on_hold), &id_of(&draft)] {
        database
            .execute_unprepared(&format!(
                "UPDATE orders SET created_at = created_at - {five_days} WHERE id = {id}"
            ))
            .await
            .expect("backdate an order");
    }
    database.close().await.expect("close the test database");
    let backdated = |day: NaiveDate| days_from(day, -5);
    assert_eq!(
        stale_orders(&follow_ups(&app, &rep.token, Some(backdated(last_day))).await),
        active
    );
    assert!(
        follow_ups(&app, &rep.token, Some(days_from(backdated(first_day), -1)))
            .await
            .is_empty()
    );

    // A contact from before the orders does not make them any less stale.
    let long_ago = days_ago(10);
    let old_contact = log_interaction(
        &app,
        &rep.token,
        json!({
            "customerId": shop.customer_id, "channel": "VISIT", "direction": "OUTBOUND",
            "summary": "Visited the plant", "occurredAt": long_ago,
            "followUpOn": days_from(today(), -7).to_string(),
        }),
    )
    .await;
    let due = follow_ups(&app, &rep.token, Some(backdated(last_day))).await;
    assert_eq!(stale_orders(&due), active);
    assert_eq!(
        interaction_follow_ups(&due),
        vec![id_of(&old_contact)],
        "the interaction's own follow-up is due too, and earlier"
    );
    assert_eq!(due[0]["kind"], "INTERACTION");
    for follow_up in due.iter().filter(|f| f["kind"] == "STALE_ORDER") {
        assert_eq!(
            instant(&follow_up["lastContactAt"]),
            instant(&json!(long_ago))
        );
        assert_eq!(
            date(&follow_up["dueOn"]),
            backdated(created[&id_of(&follow_up["order"])])
        );
    }

    // A contact now moves them to today: gone from what was due by then, due again today.
    let contact = log_interaction(
        &app,
        &rep.token,
        json!({
            "customerId": shop.customer_id, "channel": "PHONE", "direction": "OUTBOUND",
            "summary": "Status call",
        }),
    )
    .await;
    let contacted_at = instant(&contact["occurredAt"]);
    let contact_day = contacted_at.date_naive();
    assert!(
        stale_orders(&follow_ups(&app, &rep.token, Some(backdated(last_day))).await).is_empty(),
        "a contact after the due date makes the orders current again"
    );
    assert!(
        stale_orders(&follow_ups(&app, &rep.token, Some(days_from(contact_day, -1))).await)
            .is_empty()
    );
    let due = follow_ups(&app, &rep.token, Some(contact_day)).await;
    assert_eq!(stale_orders(&due), active);
    for follow_up in due.iter().filter(|f| f["kind"] == "STALE_ORDER") {
        assert_eq!(date(&follow_up["dueOn"]), contact_day);
        assert_eq!(instant(&follow_up["lastContactAt"]), contacted_at);
    }
    // Contacting someone else's customer changes nothing for them.
    assert_eq!(
        stale_orders(&follow_ups(&app, &other_rep.token, Some(days_from(last_day, 1))).await),
        set([&id_of(&theirs)])
    );
}
