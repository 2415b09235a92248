//! Retries are safe: a crowd at one version yields one change, an idempotency key replays the
//! first answer byte for byte, and keys belong to one user.

use futures_util::future::join_all;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use tests::{Backend, Role, UserOptions, assert_error, error_code, spawn_app};

use crate::fixtures::{
    Shop, complete_order_input, fetch_order, id_of, line, order_events, orders_page,
    status_changes, version_of,
};

backend_tests!(
    fifty_concurrent_transitions_at_one_version_make_exactly_one_change,
    a_hundred_replays_of_one_create_answer_byte_for_byte_the_same_and_store_one_order,
    twenty_concurrent_creates_with_one_key_execute_once,
    idempotency_keys_belong_to_one_user,
);

async fn fifty_concurrent_transitions_at_one_version_make_exactly_one_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let version = version_of(&order);
    let before = status_changes(&order_events(&app, &shop.rep.token, &id).await).len();

    let query = "mutation($input: TransitionInput!) { transitionOrder(input: $input) { version } }";
    let vars =
        json!({ "input": { "orderId": id, "to": "IN_PRODUCTION", "expectedVersion": version } });
    let responses: Vec<Value> = join_all((0..50).map(|n| {
        let token = if n % 2 == 0 {
            &shop.rep.token
        } else {
            &shop.manager.token
        };
        app.gql(query, vars.clone(), Some(token))
    }))
    .await;
    let winners = responses.iter().filter(|r| error_code(r).is_none()).count();
    assert_eq!(winners, 1, "{responses:#?}");
    for loser in responses.iter().filter(|r| error_code(r).is_some()) {
        assert_error(loser, "CONFLICT");
    }
    let stored = fetch_order(&app, &shop.rep.token, &id).await;
    assert_eq!(stored["status"], "IN_PRODUCTION");
    assert_eq!(version_of(&stored), version + 1);
    let after = status_changes(&order_events(&app, &shop.rep.token, &id).await).len();
    assert_eq!(after, before + 1, "exactly one event row for the change");
}

const CREATE: &str = "mutation($input: CreateOrderInput!, $key: String) {
    createOrder(input: $input, idempotencyKey: $key) {
        id number status version total { amount currency } createdAt updatedAt
        lines { id quantity unitPrice { amount } total { amount } }
    }
}";

async fn create_raw(app: &tests::TestApp, token: &str, input: &Value, key: &str) -> String {
    let body = json!({ "query": CREATE, "variables": { "input": input, "key": key } });
    app.http()
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(body.to_string())
        .send()
        .await
        .expect("POST createOrder")
        .text()
        .await
        .expect("body")
}

async fn a_hundred_replays_of_one_create_answer_byte_for_byte_the_same_and_store_one_order(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let input = complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "7")]);
    let first = create_raw(&app, &shop.rep.token, &input, "replay-100").await;
    assert!(!first.contains("\"errors\""), "{first}");
    for n in 0..100 {
        let replay = create_raw(&app, &shop.rep.token, &input, "replay-100").await;
        assert_eq!(replay, first, "replay {n} differs");
    }
    let page = orders_page(&app, &shop.rep.token, 100, None, json!({})).await;
    assert_eq!(page["nodes"].as_array().map(Vec::len), Some(1), "{page}");
    let id = id_of(&serde_json::from_str::<Value>(&first).unwrap()["data"]["createOrder"]);
    let created = order_events(&app, &shop.rep.token, &id)
        .await
        .iter()
        .filter(|e| e["type"] == "ORDER_CREATED")
        .count();
    assert_eq!(created, 1);
}

async fn twenty_concurrent_creates_with_one_key_execute_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let input = complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "3")]);
    let answers: Vec<String> =
        join_all((0..20).map(|_| create_raw(&app, &shop.rep.token, &input, "crowd-20"))).await;
    let mut ids = Vec::new();
    for answer in &answers {
        let body: Value = serde_json::from_str(answer).expect("JSON");
        match error_code(&body) {
            None => ids.push(id_of(&body["data"]["createOrder"])),
            Some(code) => assert_eq!(
                code, "CONFLICT",
                "only a retryable CONFLICT may refuse: {answer}"
            ),
        }
    }
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let page = orders_page(&app, &shop.rep.token, 100, None, json!({})).await;
    assert_eq!(page["nodes"].as_array().map(Vec::len), Some(1), "{page}");
}

async fn idempotency_keys_belong_to_one_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let input = complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "2")]);
    let by_rep: Value =
        serde_json::from_str(&create_raw(&app, &shop.rep.token, &input, "shared-key").await)
            .unwrap();
    let by_manager: Value =
        serde_json::from_str(&create_raw(&app, &shop.manager.token, &input, "shared-key").await)
            .unwrap();
    let (a, b) = (
        id_of(&by_rep["data"]["createOrder"]),
        id_of(&by_manager["data"]["createOrder"]),
    );
    assert_ne!(a, b, "the same key from two users makes two orders");

    // A key longer than 255 characters is refused before anything is stored.
    let long = "k".repeat(256);
    let body: Value =
        serde_json::from_str(&create_raw(&app, &shop.rep.token, &input, &long).await).unwrap();
    assert_error(&body, "BAD_USER_INPUT");
    let admin = app
        .add_user("auditor@example.com", Role::Admin, UserOptions::default())
        .await;
    let page = orders_page(&app, &admin.token, 100, None, json!({})).await;
    assert_eq!(page["nodes"].as_array().map(Vec::len), Some(2), "{page}");
}
