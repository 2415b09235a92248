//! graphql-transport-ws as its PROTOCOL.md specifies
//! (<https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>): close codes, ping/pong,
//! `complete` in both directions, `error` messages, the end of a connection with its token,
//! the legacy graphql-ws subprotocol, and a client library no one here wrote (the `graphql-ws`
//! npm package, driven by `tests/node/graphql-ws-client.mjs` when node is installed).
//!
//! Nothing here depends on the database, so each scenario runs on SQLite only.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tests::json::pretty;
use tests::ws::{LEGACY_WS, RawSocket, Received, TRANSPORT_WS};
use tests::{Backend, TestApp, spawn_app};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::Instant;

use crate::fixtures::{
    ALL_STATUS_CHANGES, EVENT_TIMEOUT, ORDER_STATUS_CHANGES, Shop, fetch_order, id_of, move_order,
    version_of,
};

/// Enough for any close the server owes us right away.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one probe waits for its event before poking again.
const PROBE_WAIT: Duration = Duration::from_secs(2);
/// How long probing may go on.
const LIVE_TIMEOUT: Duration = Duration::from_secs(30);

async fn sqlite_app() -> TestApp {
    spawn_app(Backend::Sqlite).await
}

/// A socket whose connection the server has acknowledged.
async fn acknowledged(app: &TestApp, token: &str) -> RawSocket {
    let mut socket = app.raw_socket(TRANSPORT_WS).await;
    assert_eq!(socket.protocol.as_deref(), Some(TRANSPORT_WS));
    socket.init(Some(token)).await;
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_connection_init_is_closed_with_4408_after_10_seconds() {
    let app = sqlite_app().await;
    let mut socket = app.raw_socket(TRANSPORT_WS).await;
    let opened = Instant::now();
    // A ping is no connection_init: it is answered, and the clock keeps running.
    let before_pong = socket.round_trip().await;
    assert!(before_pong.is_empty(), "{before_pong:?}");
    let (code, reason) = socket.expect_close(Duration::from_secs(20)).await;
    let waited = opened.elapsed();
    assert_eq!(code, 4408, "{reason}");
    assert_eq!(reason, "Connection initialisation timeout");
    assert!(
        waited >= Duration::from_millis(9_500) && waited < Duration::from_secs(15),
        "closed after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_init_without_a_valid_token_is_closed_with_4403() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    // Past its `exp` but within the verification leeway: still refused for a connection.
    let expired = app.token_with_ttl(&shop.rep.email, "1s").await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    for init in [
        json!({ "type": "connection_init" }),
        json!({ "type": "connection_init", "payload": {} }),
        json!({ "type": "connection_init", "payload": { "authorization": "Bearer garbage" } }),
        json!({ "type": "connection_init", "payload": { "authorization": format!("Basic {}", shop.rep.token) } }),
        json!({ "type": "connection_init", "payload": { "authorization": 42 } }),
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {expired}") } }),
    ] {
        let mut socket = app.raw_socket(TRANSPORT_WS).await;
        socket.send(init.clone()).await;
        match socket.receive(CLOSE_TIMEOUT).await {
            Some(Received::Closed { code, reason }) => {
                assert_eq!(code, 4403, "{init}: {reason}");
                assert!(reason.starts_with("Forbidden"), "{init}: {reason}");
            }
            other => panic!("{init}: expected close 4403 and nothing before it, got {other:?}"),
        }
    }
    // The same token, well formed, is accepted.
    acknowledged(&app, &shop.rep.token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_before_connection_ack_is_closed_with_4401() {
    let app = sqlite_app().await;
    let mut socket = app.raw_socket(TRANSPORT_WS).await;
    socket.subscribe("1", ALL_STATUS_CHANGES, json!({})).await;
    let (code, reason) = socket.expect_close(CLOSE_TIMEOUT).await;
    assert_eq!((code, reason.as_str()), (4401, "Unauthorized"));

    // A client offering both subprotocols, the legacy one first, is answered and served with
    // graphql-transport-ws: the header and the protocol spoken agree.
    let mut socket = app
        .raw_socket(&format!("{LEGACY_WS}, {TRANSPORT_WS}"))
        .await;
    assert_eq!(socket.protocol.as_deref(), Some(TRANSPORT_WS));
    socket.subscribe("1", ALL_STATUS_CHANGES, json!({})).await;
    let (code, reason) = socket.expect_close(CLOSE_TIMEOUT).await;
    assert_eq!((code, reason.as_str()), (4401, "Unauthorized"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_init_is_closed_with_4429() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let mut socket = acknowledged(&app, &shop.rep.token).await;
    socket
        .send(json!({
            "type": "connection_init",
            "payload": { "authorization": format!("Bearer {}", shop.rep.token) },
        }))
        .await;
    let (code, reason) = socket.expect_close(CLOSE_TIMEOUT).await;
    assert_eq!(
        (code, reason.as_str()),
        (4429, "Too many initialisation requests")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_subscription_id_is_closed_with_4409_but_a_completed_id_may_be_reused() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;

    let mut reused = acknowledged(&app, &shop.rep.token).await;
    reused.subscribe("x", ALL_STATUS_CHANGES, json!({})).await;
    reused.send(json!({ "id": "x", "type": "complete" })).await;
    reused.subscribe("x", ALL_STATUS_CHANGES, json!({})).await;
    let before_pong = reused.round_trip().await;
    assert!(before_pong.is_empty(), "{before_pong:?}");

    let mut duplicate = acknowledged(&app, &shop.rep.token).await;
    duplicate
        .subscribe("x", ALL_STATUS_CHANGES, json!({}))
        .await;
    duplicate
        .subscribe("x", ALL_STATUS_CHANGES, json!({}))
        .await;
    let (code, reason) = duplicate.expect_close(CLOSE_TIMEOUT).await;
    assert_eq!(
        (code, reason.as_str()),
        (4409, "Subscriber for x already exists")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_closed_with_4400() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let query = json!({ "query": ALL_STATUS_CHANGES });
    let cases: Vec<(&str, String)> = vec![
        ("invalid JSON", "{\"type\": \"ping\"".to_owned()),
        ("not an object", "[]".to_owned()),
        ("missing type", json!({ "payload": {} }).to_string()),
        ("unknown type", json!({ "type": "nope" }).to_string()),
        (
            "a legacy graphql-ws type",
            json!({ "type": "start", "id": "1", "payload": query }).to_string(),
        ),
        (
            "a server message",
            json!({ "type": "next", "id": "1", "payload": {} }).to_string(),
        ),
        (
            "subscribe without id",
            json!({ "type": "subscribe", "payload": query }).to_string(),
        ),
        (
            "subscribe without payload",
            json!({ "type": "subscribe", "id": "1" }).to_string(),
        ),
        (
            "subscribe without query",
            json!({ "type": "subscribe", "id": "1", "payload": { "variables": {} } }).to_string(),
        ),
        (
            "complete without id",
            json!({ "type": "complete" }).to_string(),
        ),
        (
            "connection_init with a string payload",
            json!({ "type": "connection_init", "payload": "token" }).to_string(),
        ),
    ];
    for (what, text) in &cases {
        // Before and after the handshake alike.
        for acknowledge in [false, true] {
            let mut socket = if acknowledge {
                acknowledged(&app, &shop.rep.token).await
            } else {
                app.raw_socket(TRANSPORT_WS).await
            };
            socket.send_text(text.clone()).await;
            match socket.receive(CLOSE_TIMEOUT).await {
                Some(Received::Closed { code, reason }) => {
                    assert_eq!(code, 4400, "{what} (acknowledged: {acknowledge}): {reason}");
                    assert!(!reason.is_empty(), "{what}");
                }
                other => panic!(
                    "{what} (acknowledged: {acknowledge}): expected close 4400, got {other:?}"
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_is_answered_with_a_pong_and_a_pong_from_the_client_is_accepted() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let mut socket = app.raw_socket(TRANSPORT_WS).await;
    // Allowed at any time, also before the handshake, with or without a payload.
    socket
        .send(json!({ "type": "ping", "payload": { "sent": "early" } }))
        .await;
    let pong = socket.expect_message(CLOSE_TIMEOUT).await;
    assert_eq!(pong, json!({ "type": "pong" }));
    socket.init(Some(&shop.rep.token)).await;
    // An unsolicited pong is a heartbeat: no answer, no close.
    socket.send(json!({ "type": "pong" })).await;
    socket
        .send(json!({ "type": "pong", "payload": { "beat": 1 } }))
        .await;
    let before_pong = socket.round_trip().await;
    assert!(before_pong.is_empty(), "{before_pong:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_kept_alive_with_server_pings() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let mut socket = acknowledged(&app, &shop.rep.token).await;
    // tungstenite answers the ping with a pong as it reads it.
    match socket.receive(Duration::from_secs(20)).await {
        Some(Received::Ping) => {}
        other => panic!("expected a websocket ping within 20 s, got {other:?}"),
    }
    let before_pong = socket.round_trip().await;
    assert!(before_pong.is_empty(), "{before_pong:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_from_the_client_stops_that_subscription_and_only_that_one() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let mut order = shop.confirmed_order(&app).await;
    let id = id_of(&order);

    let mut socket = acknowledged(&app, &rep.token).await;
    let variables = json!({ "orderId": id });
    socket
        .subscribe("stopped", ORDER_STATUS_CHANGES, variables.clone())
        .await;
    socket
        .subscribe("kept", ORDER_STATUS_CHANGES, variables)
        .await;
    wait_until_live(&mut socket, "kept", async || {
        order = move_order(&app, &rep.token, &order, "ON_HOLD", Some("probe")).await;
        order = move_order(&app, &rep.token, &order, "CONFIRMED", None).await;
        (id.clone(), version_of(&order))
    })
    .await;

    socket
        .send(json!({ "id": "stopped", "type": "complete" }))
        .await;
    // Everything of "stopped" from the probes arrives before the pong, nothing after it.
    socket.round_trip().await;
    let moved = move_order(&app, &rep.token, &order, "IN_PRODUCTION", None).await;
    let mut seen = Vec::new();
    loop {
        let message = socket.expect_message(EVENT_TIMEOUT).await;
        seen.push(message.clone());
        if message["id"] == "kept"
            && message["type"] == "next"
            && message["payload"]["data"]["orderStatusChanged"]["version"]
                == json!(version_of(&moved))
        {
            break;
        }
    }
    seen.extend(socket.round_trip().await);
    assert!(
        seen.iter().all(|message| message["id"] != "stopped"),
        "a completed subscription was sent more:\n{}",
        pretty(&json!(seen))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_sends_complete_when_an_operations_stream_ends() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let mut socket = acknowledged(&app, &shop.rep.token).await;
    socket
        .subscribe("once", "query { __typename }", json!({}))
        .await;
    let next = socket.expect_message(EVENT_TIMEOUT).await;
    assert_eq!(
        next,
        json!({ "type": "next", "id": "once", "payload": { "data": { "__typename": "Query" } } })
    );
    let complete = socket.expect_message(EVENT_TIMEOUT).await;
    assert_eq!(complete, json!({ "type": "complete", "id": "once" }));
    // The id is free again.
    socket
        .subscribe("once", "query { __typename }", json!({}))
        .await;
    assert_eq!(socket.expect_message(EVENT_TIMEOUT).await, next);
    assert_eq!(socket.expect_message(EVENT_TIMEOUT).await, complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_of_a_subscription_are_sent_as_an_error_message_with_their_codes() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let theirs = shop.draft_for(&app, &other_rep, &other_customer).await;
    let mut socket = acknowledged(&app, &shop.rep.token).await;

    for (id, query, variables, code) in [
        (
            "not-mine",
            ORDER_STATUS_CHANGES,
            json!({ "orderId": id_of(&theirs) }),
            "NOT_FOUND",
        ),
        (
            "invalid",
            "subscription { orderStatusChanged { noSuchField } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "bad-id",
            ORDER_STATUS_CHANGES,
            json!({ "orderId": "not-an-id" }),
            "BAD_USER_INPUT",
        ),
    ] {
        socket.subscribe(id, query, variables).await;
        let error = socket.expect_message(EVENT_TIMEOUT).await;
        assert_eq!(
            (&error["type"], &error["id"]),
            (&json!("error"), &json!(id)),
            "{}",
            pretty(&error)
        );
        let errors = error["payload"]
            .as_array()
            .unwrap_or_else(|| panic!("the payload is a list of errors:\n{}", pretty(&error)));
        assert!(!errors.is_empty(), "{}", pretty(&error));
        assert_eq!(errors[0]["extensions"]["code"], code, "{}", pretty(&error));
        assert!(errors[0]["message"].is_string(), "{}", pretty(&error));
        // An error ends the operation: no `complete` follows, and the id is free again.
        let after = socket.round_trip().await;
        assert!(after.is_empty(), "{}", pretty(&json!(after)));
    }
    socket
        .subscribe("not-mine", ALL_STATUS_CHANGES, json!({}))
        .await;
    let after = socket.round_trip().await;
    assert!(after.is_empty(), "{}", pretty(&json!(after)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_over_either_websocket_protocol_is_refused_and_changes_nothing() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let order = shop.confirmed_order(&app).await;
    let mut socket = acknowledged(&app, &shop.rep.token).await;
    let change = "mutation($input: TransitionInput!) { transitionOrder(input: $input) { id } }";
    let variables = json!({ "input": {
        "orderId": id_of(&order),
        "to": "IN_PRODUCTION",
        "expectedVersion": version_of(&order),
    }});
    socket.subscribe("change", change, variables.clone()).await;
    let error = socket.expect_message(EVENT_TIMEOUT).await;
    assert_eq!(
        (&error["type"], &error["id"]),
        (&json!("error"), &json!("change")),
        "{}",
        pretty(&error)
    );
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "BAD_USER_INPUT",
        "{}",
        pretty(&error)
    );

    // The legacy protocol cannot refuse one operation: the connection ends.
    let mut legacy = app.raw_socket(LEGACY_WS).await;
    legacy
        .send(json!({
            "type": "connection_init",
            "payload": { "authorization": format!("Bearer {}", shop.rep.token) },
        }))
        .await;
    let ack = legacy.expect_message(CLOSE_TIMEOUT).await;
    assert_eq!(ack["type"], "connection_ack", "{}", pretty(&ack));
    legacy
        .send(json!({
            "id": "1",
            "type": "start",
            "payload": { "query": change, "variables": variables },
        }))
        .await;
    let (code, reason) = legacy.expect_close(CLOSE_TIMEOUT).await;
    assert_eq!(code, 4400, "{reason}");

    let unchanged = fetch_order(&app, &shop.rep.token, &id_of(&order)).await;
    assert_eq!(
        (&unchanged["status"], &unchanged["version"]),
        (&order["status"], &order["version"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_subscription_is_closed_with_4403_when_its_token_expires() {
    const TTL_SECS: u64 = 8;
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let mut order = shop.confirmed_order(&app).await;
    let id = id_of(&order);

    let issued_after = Instant::now();
    let token = app
        .token_with_ttl(&rep.email, &format!("{TTL_SECS}s"))
        .await;
    let issued_before = Instant::now();
    let mut socket = acknowledged(&app, &token).await;
    socket
        .subscribe("1", ORDER_STATUS_CHANGES, json!({ "orderId": id }))
        .await;
    // The subscription is open and delivering (pokes use the rep's long-lived token).
    wait_until_live(&mut socket, "1", async || {
        order = move_order(&app, &rep.token, &order, "ON_HOLD", Some("probe")).await;
        order = move_order(&app, &rep.token, &order, "CONFIRMED", None).await;
        (id.clone(), version_of(&order))
    })
    .await;

    let (code, reason) = socket
        .expect_close(Duration::from_secs(TTL_SECS + 10))
        .await;
    let closed = Instant::now();
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
    // `exp` is whole seconds: between issue time + ttl - 1 s and issue time + ttl.
    let earliest = issued_after + Duration::from_secs(TTL_SECS - 1);
    let latest = issued_before + Duration::from_secs(TTL_SECS + 3);
    assert!(
        closed >= earliest && closed <= latest,
        "closed {:?} after the token was issued, its ttl is {TTL_SECS} s",
        closed - issued_after
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_graphql_ws_protocol_still_serves_subscriptions_until_the_token_expires() {
    const TTL_SECS: u64 = 8;
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let mut order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let token = app
        .token_with_ttl(&rep.email, &format!("{TTL_SECS}s"))
        .await;

    let mut socket = app.raw_socket(LEGACY_WS).await;
    assert_eq!(socket.protocol.as_deref(), Some(LEGACY_WS));
    socket
        .send(json!({
            "type": "connection_init",
            "payload": { "authorization": format!("Bearer {token}") },
        }))
        .await;
    let ack = socket.expect_message(CLOSE_TIMEOUT).await;
    assert_eq!(ack["type"], "connection_ack", "{}", pretty(&ack));
    socket
        .send(json!({
            "id": "1",
            "type": "start",
            "payload": { "query": ORDER_STATUS_CHANGES, "variables": { "orderId": id } },
        }))
        .await;
    let give_up = Instant::now() + LIVE_TIMEOUT;
    let data = loop {
        assert!(
            Instant::now() < give_up,
            "no `data` within {LIVE_TIMEOUT:?}"
        );
        order = move_order(&app, &rep.token, &order, "ON_HOLD", Some("probe")).await;
        order = move_order(&app, &rep.token, &order, "CONFIRMED", None).await;
        if let Some(Received::Message(message)) = socket.receive(PROBE_WAIT).await {
            break message;
        }
    };
    assert_eq!(
        (&data["type"], &data["id"]),
        (&json!("data"), &json!("1")),
        "{}",
        pretty(&data)
    );
    assert_eq!(
        data["payload"]["data"]["orderStatusChanged"]["orderId"],
        id.as_str()
    );

    let (code, reason) = socket
        .expect_close(Duration::from_secs(TTL_SECS + 10))
        .await;
    assert_eq!(code, 4403, "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_holds_at_most_100_subscriptions() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let mut socket = acknowledged(&app, &shop.rep.token).await;
    for n in 1..=101 {
        socket
            .subscribe(&n.to_string(), ALL_STATUS_CHANGES, json!({}))
            .await;
    }
    let refused = socket.round_trip().await;
    assert_eq!(refused.len(), 1, "{}", pretty(&json!(refused)));
    assert_eq!(
        (&refused[0]["type"], &refused[0]["id"]),
        (&json!("error"), &json!("101")),
        "{}",
        pretty(&refused[0])
    );
    assert_eq!(
        refused[0]["payload"][0]["extensions"]["code"],
        "LIMIT_EXCEEDED"
    );
    // Completing one makes room for another.
    socket.send(json!({ "id": "1", "type": "complete" })).await;
    socket.subscribe("101", ALL_STATUS_CHANGES, json!({})).await;
    let after = socket.round_trip().await;
    assert!(after.is_empty(), "{}", pretty(&json!(after)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_64_kib_closes_the_connection_with_1009() {
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let mut socket = acknowledged(&app, &shop.rep.token).await;
    // Just under the limit is fine ...
    let padding = " ".repeat(60 * 1024);
    socket
        .send_text(format!("{{\"type\":\"ping\"{padding}}}"))
        .await;
    assert_eq!(
        socket.expect_message(CLOSE_TIMEOUT).await,
        json!({ "type": "pong" })
    );
    // ... over it is not.
    let padding = " ".repeat(65 * 1024);
    socket
        .send_text(format!("{{\"type\":\"ping\"{padding}}}"))
        .await;
    let (code, reason) = socket.expect_close(CLOSE_TIMEOUT).await;
    assert_eq!(code, 1009, "{reason}");
}

/// The reference client library drives the server: events arrive as committed, an invisible
/// order is an `error` with its code, a query completes, and a bad token closes with 4403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_ws_client_library_receives_events_errors_and_completions() {
    let Some(script_dir) = node_client_dir().await else {
        return;
    };
    let app = sqlite_app().await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let theirs = shop.draft_for(&app, &other_rep, &other_customer).await;
    let mut order = shop.confirmed_order(&app).await;
    let id = id_of(&order);

    let mut client = NodeClient::start(
        &script_dir,
        &json!({
            "url": app.ws_url(),
            "token": rep.token,
            "operations": [
                { "name": "order", "query": ORDER_STATUS_CHANGES, "variables": { "orderId": id } },
                { "name": "theirs", "query": ORDER_STATUS_CHANGES, "variables": { "orderId": id_of(&theirs) } },
                { "name": "typename", "query": "query { __typename }" },
            ],
        }),
    )
    .await;
    client
        .wait_for("connected", |line| line["event"] == "connected")
        .await;

    // Probe until the library's subscription delivers.
    let give_up = Instant::now() + LIVE_TIMEOUT;
    loop {
        assert!(
            Instant::now() < give_up,
            "the graphql-ws client received no event within {LIVE_TIMEOUT:?}:\n{}",
            client.transcript()
        );
        order = move_order(&app, &rep.token, &order, "ON_HOLD", Some("probe")).await;
        order = move_order(&app, &rep.token, &order, "CONFIRMED", None).await;
        let target = version_of(&order);
        if client
            .try_wait_for(PROBE_WAIT, |line| {
                line["name"] == "order" && change_of(line)["version"] == json!(target)
            })
            .await
            .is_some()
        {
            break;
        }
    }

    let mut expected = Vec::new();
    for to in ["IN_PRODUCTION", "READY_TO_SHIP", "SHIPPED"] {
        let moved = move_order(&app, &rep.token, &order, to, None).await;
        expected.push(json!({
            "orderId": id,
            "from": order["status"],
            "to": to,
            "version": version_of(&moved),
        }));
        order = moved;
    }
    for want in &expected {
        let line = client
            .wait_for("the next order event", |line| {
                line["name"] == "order" && line["event"] == "next"
            })
            .await;
        let change = change_of(&line);
        let got = json!({
            "orderId": change["orderId"],
            "from": change["from"],
            "to": change["to"],
            "version": change["version"],
        });
        assert_eq!(&got, want, "{}", client.transcript());
    }

    let error = client
        .find(|line| line["name"] == "theirs")
        .unwrap_or_else(|| panic!("nothing for `theirs`:\n{}", client.transcript()));
    assert_eq!(error["event"], "error", "{}", client.transcript());
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "NOT_FOUND",
        "{}",
        client.transcript()
    );
    let typename: Vec<Value> = client
        .lines
        .iter()
        .filter(|line| line["name"] == "typename")
        .cloned()
        .collect();
    assert_eq!(
        typename,
        vec![
            json!({ "name": "typename", "event": "next", "payload": { "data": { "__typename": "Query" } } }),
            json!({ "name": "typename", "event": "complete" }),
        ],
        "{}",
        client.transcript()
    );

    // The client disposes of the connection when its input ends.
    let closed = client.finish().await;
    assert_eq!(closed["code"], 1000, "{closed}");

    let mut refused = NodeClient::start(
        &script_dir,
        &json!({ "url": app.ws_url(), "token": "garbage", "operations": [] }),
    )
    .await;
    let closed = refused
        .wait_for("the close", |line| line["event"] == "closed")
        .await;
    assert_eq!(closed["code"], 4403, "{}", refused.transcript());
}

fn change_of(line: &Value) -> &Value {
    &line["payload"]["data"]["orderStatusChanged"]
}

/// Reads `socket` until subscription `id` delivers the event `poke` says it caused; pokes again
/// whenever nothing arrives for 2 s (graphql-transport-ws does not acknowledge `subscribe`, so
/// a test cannot know when the server starts listening otherwise). Messages of other ids are
/// skipped.
async fn wait_until_live(
    socket: &mut RawSocket,
    id: &str,
    mut poke: impl AsyncFnMut() -> (String, i64),
) {
    let give_up = Instant::now() + LIVE_TIMEOUT;
    let mut target = poke().await;
    loop {
        match socket.receive(PROBE_WAIT).await {
            Some(Received::Message(message)) => {
                if message["id"] != id {
                    continue;
                }
                assert_eq!(message["type"], "next", "{}", pretty(&message));
                let change = &message["payload"]["data"]["orderStatusChanged"];
                let seen = (
                    change["orderId"].as_str().unwrap_or_default().to_owned(),
                    change["version"].as_i64().unwrap_or_default(),
                );
                if seen == target {
                    return;
                }
            }
            Some(Received::Ping) => {}
            Some(other) => panic!("the connection ended while probing: {other:?}"),
            None => {
                assert!(
                    Instant::now() < give_up,
                    "subscription {id} received no event within {LIVE_TIMEOUT:?} of probing"
                );
                target = poke().await;
            }
        }
    }
}

/// `tests/node`, with its packages installed, or `None` (and a note) when node is not on PATH.
async fn node_client_dir() -> Option<PathBuf> {
    let found = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!(
            "skipped the graphql-ws client library test: `node` is not on PATH (install Node.js 20+ to run it)"
        );
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node");
    if !dir.join("node_modules").is_dir() {
        let output = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap_or_else(|e| panic!("run npm install in {}: {e}", dir.display()));
        assert!(
            output.status.success(),
            "npm install in {} failed:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Some(dir)
}

/// `node graphql-ws-client.mjs CONFIG`: prints one JSON line per thing that happens.
struct NodeClient {
    child: Child,
    output: Lines<BufReader<ChildStdout>>,
    /// Every line printed so far.
    lines: Vec<Value>,
    /// Lines not yet taken by `wait_for`.
    unread: usize,
}

impl NodeClient {
    async fn start(dir: &std::path::Path, config: &Value) -> Self {
        let mut child = Command::new("node")
            .arg("graphql-ws-client.mjs")
            .arg(config.to_string())
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start node: {e}"));
        let output = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        NodeClient {
            child,
            output,
            lines: Vec::new(),
            unread: 0,
        }
    }

    /// The first unread line that matches, reading more as needed; `None` after `timeout`.
    async fn try_wait_for(
        &mut self,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            while self.unread < self.lines.len() {
                let line = &self.lines[self.unread];
                self.unread += 1;
                if matches(line) {
                    return Some(line.clone());
                }
            }
            let next = tokio::time::timeout_at(deadline, self.output.next_line()).await;
            match next {
                Err(_) => return None,
                Ok(Ok(Some(text))) => {
                    let line = serde_json::from_str(&text).unwrap_or_else(|e| {
                        panic!("the node client printed a line that is not JSON ({e}): {text}")
                    });
                    self.lines.push(line);
                }
                Ok(Ok(None) | Err(_)) => {
                    panic!("the node client exited:\n{}", self.transcript())
                }
            }
        }
    }

    async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        match self.try_wait_for(EVENT_TIMEOUT, matches).await {
            Some(line) => line,
            None => panic!(
                "the node client printed no {what} within {EVENT_TIMEOUT:?}:\n{}",
                self.transcript()
            ),
        }
    }

    /// The first line printed so far that matches, read or not.
    fn find(&self, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        self.lines.iter().find(|line| matches(line)).cloned()
    }

    fn transcript(&self) -> String {
        self.lines
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Closes the client's input, waits for its `closed` line and a clean exit; returns the line.
    async fn finish(mut self) -> Value {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.shutdown().await;
        }
        let closed = self
            .wait_for("closed", |line| line["event"] == "closed")
            .await;
        let status = tokio::time::timeout(EVENT_TIMEOUT, self.child.wait())
            .await
            .expect("the node client exits")
            .expect("wait for the node client");
        assert!(status.success(), "{status}:\n{}", self.transcript());
        closed
    }
}
