//! `orderEvents` with a cursor: a phone that lost its connection reconnects with the last cursor
//! it received and gets exactly the events it missed, in order, then live ones — no gap, no
//! duplicate at the seam between the stored log and the live feed.

use std::time::Duration;

use serde_json::{Value, json};
use tests::ws::{RawSocket, Received};
use tests::{Backend, TestApp, spawn_app};

use crate::fixtures::{Shop, id_of, move_order, order_events, version_of};

backend_tests!(
    a_client_that_reconnects_with_its_cursor_gets_exactly_what_it_missed_then_live_events,
    when_everyone_reconnects_at_once_each_client_gets_its_replay_or_its_refusal,
);

const EVENTS: &str = "subscription($filter: OrderEventFilter, $after: String) {
    orderEvents(filter: $filter, after: $after) { cursor type version orderId data }
}";

async fn connect(app: &TestApp, token: &str, order_id: &str, after: &str) -> RawSocket {
    let mut socket = app.raw_socket("graphql-transport-ws").await;
    socket.init(Some(token)).await;
    socket
        .subscribe(
            "events",
            EVENTS,
            json!({ "filter": { "orderId": order_id }, "after": after }),
        )
        .await;
    socket
}

/// The next `next` payload's event.
async fn next_event(socket: &mut RawSocket) -> Value {
    loop {
        let message = socket.expect_message(Duration::from_secs(10)).await;
        match message["type"].as_str() {
            Some("next") => return message["payload"]["data"]["orderEvents"].clone(),
            Some("error") | Some("complete") => panic!("{message}"),
            _ => {}
        }
    }
}

/// The `error` that ends a subscription, as the server sent it.
async fn refusal(socket: &mut RawSocket) -> Value {
    loop {
        let message = socket.expect_message(Duration::from_secs(10)).await;
        match message["type"].as_str() {
            Some("error") => return message["payload"].clone(),
            Some("next") | Some("complete") => panic!("expected a refusal: {message}"),
            _ => {}
        }
    }
}

/// Nothing more arrives for a while (no duplicates).
async fn quiet(socket: &mut RawSocket) {
    match socket.receive(Duration::from_millis(1200)).await {
        None | Some(Received::Ping) => {}
        Some(other) => panic!("unexpected: {other:?}"),
    }
}

async fn a_client_that_reconnects_with_its_cursor_gets_exactly_what_it_missed_then_live_events(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let token = shop.rep.token.clone();
    let mut order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let stored = order_events(&app, &token, &id).await;
    let first_cursor = stored[0]["cursor"].as_str().unwrap().to_owned();

    // First connection: everything after the creation event, as stored.
    let mut socket = connect(&app, &token, &id, &first_cursor).await;
    for expected in &stored[1..] {
        let event = next_event(&mut socket).await;
        assert_eq!(event["cursor"], expected["cursor"]);
        assert_eq!(event["type"], expected["type"]);
    }
    // A live event on the same connection.
    order = move_order(&app, &token, &order, "IN_PRODUCTION", None).await;
    let live = next_event(&mut socket).await;
    assert_eq!(
        (live["type"].as_str(), live["version"].as_i64()),
        (Some("STATUS_CHANGED"), Some(version_of(&order)))
    );
    let last_cursor = live["cursor"].as_str().unwrap().to_owned();
    drop(socket);

    // Offline: three changes (and another order's, which must not show up).
    let other = shop.confirmed_order(&app).await;
    move_order(&app, &token, &other, "IN_PRODUCTION", None).await;
    let mut missed = Vec::new();
    for (to, reason) in [
        ("ON_HOLD", Some("tunnel")),
        ("IN_PRODUCTION", None),
        ("READY_TO_SHIP", None),
    ] {
        order = move_order(&app, &token, &order, to, reason).await;
        missed.push(version_of(&order));
    }

    // Reconnect with the last cursor: exactly the missed events, in order, then live ones.
    let mut socket = connect(&app, &token, &id, &last_cursor).await;
    for version in &missed {
        let event = next_event(&mut socket).await;
        assert_eq!(event["orderId"], id.as_str());
        assert_eq!(event["version"].as_i64(), Some(*version), "{event}");
        assert!(
            event["cursor"].as_str().unwrap().parse::<i64>().unwrap()
                > last_cursor.parse::<i64>().unwrap()
        );
    }
    order = move_order(&app, &token, &order, "ON_HOLD", Some("weather")).await;
    let live = next_event(&mut socket).await;
    assert_eq!(live["version"].as_i64(), Some(version_of(&order)));
    assert_eq!(live["data"]["to"], "ON_HOLD");
    quiet(&mut socket).await;
}

/// A restarted instance sees all its clients come back within a second. The server takes their
/// subscriptions' access checks a few at a time; every client must still get its answer: its
/// missed events, or `NOT_FOUND` for an order it may not see (a refused check gives its turn
/// back, or the clients after the first few refusals would wait forever).
async fn when_everyone_reconnects_at_once_each_client_gets_its_replay_or_its_refusal(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other_rep, _) = shop.other_rep(&app).await;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let stored = order_events(&app, &shop.rep.token, &id).await;
    let first_cursor = stored[0]["cursor"].as_str().unwrap().to_owned();

    // Four times as many as the server checks at once, one in four of them not allowed.
    let clients: Vec<bool> = (0..128).map(|i| i % 4 != 3).collect();
    let sockets = futures_util::future::join_all(clients.iter().map(|&allowed| {
        let token = if allowed {
            &shop.rep.token
        } else {
            &other_rep.token
        };
        connect(&app, token, &id, &first_cursor)
    }))
    .await;
    let answers = futures_util::future::join_all(sockets.into_iter().zip(&clients).map(
        async |(mut socket, &allowed)| {
            if allowed {
                let event = next_event(&mut socket).await;
                (event["cursor"].clone(), json!("replayed"))
            } else {
                let errors = refusal(&mut socket).await;
                (errors[0]["extensions"]["code"].clone(), json!("refused"))
            }
        },
    ))
    .await;
    for (answer, &allowed) in answers.iter().zip(&clients) {
        let expected = if allowed {
            (stored[1]["cursor"].clone(), json!("replayed"))
        } else {
            (json!("NOT_FOUND"), json!("refused"))
        };
        assert_eq!(answer, &expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_a_restarted_instance_reconnect_with_their_cursor_and_miss_nothing() {
    let backend = if Backend::Postgres.is_available() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let a = spawn_app(backend).await;
    let mut b = a.sibling(&[]).await;
    let shop = Shop::open(&a).await;
    let token = shop.rep.token.clone();
    let mut order = shop.confirmed_order(&a).await;
    let id = id_of(&order);
    let created = order_events(&a, &token, &id).await;
    let last = created.last().unwrap()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    // Subscribed on B; B is restarted (a deploy): the client is told to reconnect (1012).
    let mut socket = connect(&b, &token, &id, &last).await;
    quiet(&mut socket).await;
    let (_, close) = tokio::join!(
        b.terminate(Duration::from_secs(8)),
        socket.expect_close(Duration::from_secs(8))
    );
    assert_eq!(close.0, 1012);

    // Meanwhile the load balancer sends writes to A.
    let mut missed = Vec::new();
    for to in ["IN_PRODUCTION", "READY_TO_SHIP"] {
        order = move_order(&a, &token, &order, to, None).await;
        missed.push(version_of(&order));
    }
    b.restart().await;

    // The client reconnects (to B again) with its cursor: the missed events, then live ones.
    let mut socket = connect(&b, &token, &id, &last).await;
    for version in &missed {
        assert_eq!(
            next_event(&mut socket).await["version"].as_i64(),
            Some(*version)
        );
    }
    order = move_order(&a, &token, &order, "ON_HOLD", Some("inventory")).await;
    assert_eq!(
        next_event(&mut socket).await["version"].as_i64(),
        Some(version_of(&order))
    );
    quiet(&mut socket).await;
}
