//! Racing clients: optimistic concurrency never loses an update, and one idempotency key never
//! makes two orders.

use futures_util::future::join_all;
use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Backend, assert_error, error_code, spawn_app};

use crate::fixtures::{
    Shop, complete_order_input, create_order_raw, fetch_order, id_of, line, order_events, order_in,
    orders_page, status_changes, transition, version_of,
};

backend_tests!(
    of_two_concurrent_transitions_with_the_same_expected_version_exactly_one_wins,
    concurrent_creates_with_one_idempotency_key_make_exactly_one_order,
);

async fn of_two_concurrent_transitions_with_the_same_expected_version_exactly_one_wins(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);

    // Three rounds, so a race that only sometimes lets both through has three chances to show.
    let rounds = ["IN_PRODUCTION", "READY_TO_SHIP", "SHIPPED"];
    for (version, to) in (version_of(&order)..).zip(rounds) {
        let changes_before = status_changes(&order_events(&app, &shop.rep.token, &id).await).len();

        // The rep and the manager press the same button on the same version.
        let (a, b) = tokio::join!(
            transition(&app, &shop.rep.token, &id, version, to, None),
            transition(&app, &shop.manager.token, &id, version, to, None),
        );
        let (winner, loser) = match (error_code(&a), error_code(&b)) {
            (None, Some(_)) => (a, b),
            (Some(_), None) => (b, a),
            _ => panic!(
                "exactly one of two racing transitions must win; got:\n{}\n{}",
                pretty(&a),
                pretty(&b)
            ),
        };
        let error = assert_error(&loser, "CONFLICT");
        assert_eq!(
            error["extensions"]["expectedVersion"],
            version,
            "{}",
            pretty(&loser)
        );
        let won = order_in(&winner, "transitionOrder");
        assert_eq!(version_of(&won), version + 1);

        let stored = fetch_order(&app, &shop.rep.token, &id).await;
        assert_eq!(stored["status"], to);
        assert_eq!(
            version_of(&stored),
            version + 1,
            "the version rises by exactly one"
        );
        let changes = status_changes(&order_events(&app, &shop.rep.token, &id).await);
        assert_eq!(
            changes.len(),
            changes_before + 1,
            "exactly one STATUS_CHANGED event: {changes:?}"
        );
        assert_eq!(
            changes.last().map(|(_, to, v)| (to.as_str(), *v)),
            Some((to, version + 1))
        );
    }
}

async fn concurrent_creates_with_one_idempotency_key_make_exactly_one_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let input = complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "10")]);
    let key = Some("flaky-network-retry-42");

    // A phone on a bad connection fires the same request ten times at once.
    let responses: Vec<Value> =
        join_all((0..10).map(|_| create_order_raw(&app, &shop.rep.token, input.clone(), key)))
            .await;
    let mut created = Vec::new();
    for response in &responses {
        match error_code(response) {
            None => created.push(id_of(&order_in(response, "createOrder"))),
            Some(_) => {
                assert_error(response, "CONFLICT");
            }
        }
    }
    assert!(
        !created.is_empty(),
        "at least one request must succeed:\n{}",
        pretty(&json!(responses))
    );
    let id = created[0].clone();
    assert!(
        created.iter().all(|other| *other == id),
        "every success names the same order: {created:?}"
    );

    // A later retry gets the same order back.
    let retry = create_order_raw(&app, &shop.rep.token, input, key).await;
    assert_eq!(id_of(&order_in(&retry, "createOrder")), id);

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
        json!([{ "id": id }]),
        "exactly one order exists"
    );
    let events = order_events(&app, &shop.rep.token, &id).await;
    let created_events = events
        .iter()
        .filter(|e| e["type"] == "ORDER_CREATED")
        .count();
    assert_eq!(created_events, 1, "{}", pretty(&json!(events)));
}
