//! A client that stops reading: its subscriptions fall a full queue behind, it alone is told to
//! resync (an `error` with RESYNC_REQUIRED, then close 4001), and a client that keeps reading on
//! the same server gets every event — the slow one neither slows the server nor loses anything
//! silently.

use std::time::Duration;

use serde_json::{Value, json};
use tests::ws::{RawSocket, Received, TRANSPORT_WS};
use tests::{Backend, spawn_app_with};

use crate::fixtures::{Shop, id_of, move_order};

backend_tests!(a_subscriber_that_stops_reading_is_told_to_resync_and_only_it);

/// Small, so the test needs few events once the slow client's TCP window is full; big enough
/// that the reading client never falls that far behind on a loaded machine.
const QUEUE: &str = "64";
/// Subscriptions the slow client opens on its one connection: each event is sent once per
/// subscription, so the socket buffers (megabytes, as the kernel tunes them) fill within a few
/// dozen events — well before the server's keepalive (12 s) would give up on a silent peer.
const SLOW_SUBSCRIPTIONS: usize = 60;
/// A long hold reason makes every STATUS_CHANGED message about a kilobyte.
const REASON_LENGTH: usize = 1000;
/// The most hold/resume rounds the test drives before giving up on seeing the overflow.
const MAX_ROUNDS: usize = 500;

const EVENTS: &str = "subscription($filter: OrderEventFilter) {
    orderEvents(filter: $filter) { cursor type version orderId orderNumber at data }
}";

async fn a_subscriber_that_stops_reading_is_told_to_resync_and_only_it(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            "--subscription-queue",
            QUEUE,
            "--mutations-per-minute",
            "100000",
            "--address-mutations-per-minute",
            "100000",
        ],
    )
    .await;
    let shop = Shop::open(&app).await;
    let mut order = shop.confirmed_order(&app).await;
    let filter = json!({ "filter": { "orderId": id_of(&order) } });

    let mut healthy = app.raw_socket(TRANSPORT_WS).await;
    healthy.init(Some(&shop.rep.token)).await;
    healthy.subscribe("healthy", EVENTS, filter.clone()).await;

    let mut slow = RawSocket::connect_with_receive_buffer(&app.ws_url(), TRANSPORT_WS, 4096).await;
    slow.init(Some(&shop.rep.token)).await;
    for n in 0..SLOW_SUBSCRIPTIONS {
        slow.subscribe(&format!("slow-{n}"), EVENTS, filter.clone())
            .await;
    }
    // Every feed is registered (and has read where the log ends) once the server counts it;
    // until the order changes, nothing is sent.
    app.wait_for_metric("orderdesk_subscriptions", 1 + SLOW_SUBSCRIPTIONS as u64)
        .await;
    let early = healthy.round_trip().await;
    assert!(early.is_empty(), "before any change: {early:?}");
    let early = slow.round_trip().await;
    assert!(early.is_empty(), "before any change: {early:?}");
    assert_eq!(
        app.metric("orderdesk_subscriptions_resynced_total").await,
        0
    );

    // The slow client reads nothing from here on, while the order keeps changing.
    let reason = "x".repeat(REASON_LENGTH);
    let mut rounds = 0;
    let mut healthy_messages: Vec<Value> = Vec::new();
    while rounds < MAX_ROUNDS {
        order = move_order(&app, &shop.rep.token, &order, "ON_HOLD", Some(&reason)).await;
        order = move_order(&app, &shop.rep.token, &order, "CONFIRMED", None).await;
        rounds += 1;
        // The healthy client reads as it goes, as a real one does.
        while let Some(received) = healthy.receive(Duration::from_millis(1)).await {
            match received {
                Received::Message(message) => healthy_messages.push(message),
                Received::Ping => {}
                other => panic!("the healthy client was disconnected: {other:?}"),
            }
        }
        if rounds % 5 == 0 && app.metric("orderdesk_subscriptions_resynced_total").await > 0 {
            break;
        }
    }
    assert!(
        app.metric("orderdesk_subscriptions_resynced_total").await > 0,
        "no subscription overflowed after {rounds} rounds"
    );
    let events = rounds * 2;

    // The slow client now reads what was buffered for it: events, then one subscription's
    // RESYNC_REQUIRED error, then the close with 4001, telling it to come back with its cursor.
    let mut delivered = 0;
    let mut resync_error = None;
    let close = loop {
        match slow.receive(Duration::from_secs(20)).await {
            Some(Received::Message(message)) => match message["type"].as_str() {
                Some("next") => delivered += 1,
                Some("error") => resync_error = Some(message),
                other => panic!("unexpected {other:?}: {message}"),
            },
            Some(Received::Ping) => {}
            Some(Received::Closed { code, reason }) => break (code, reason),
            Some(Received::Ended) => panic!("the connection ended without a close frame"),
            None => panic!("the slow client was never closed"),
        }
    };
    assert_eq!(close.0, 4001, "close reason: {}", close.1);
    let error = resync_error.expect("an error message before the close");
    assert_eq!(
        error["payload"][0]["extensions"]["code"], "RESYNC_REQUIRED",
        "{error}"
    );
    assert!(
        delivered < events * SLOW_SUBSCRIPTIONS,
        "the slow client was cut off before receiving everything ({delivered} of {})",
        events * SLOW_SUBSCRIPTIONS
    );

    // The client that kept reading missed nothing: every event, in order, no error.
    while healthy_messages.len() < events {
        healthy_messages.push(healthy.expect_message(Duration::from_secs(20)).await);
    }
    let mut versions: Vec<i64> = Vec::new();
    for message in &healthy_messages {
        assert_eq!(message["type"], "next", "{message}");
        let event: &Value = &message["payload"]["data"]["orderEvents"];
        versions.push(event["version"].as_i64().expect("a version"));
    }
    let first = versions[0];
    let expected: Vec<i64> = (first..first + i64::try_from(events).unwrap()).collect();
    assert_eq!(versions, expected, "every event once, in order");
    assert_eq!(
        versions.last().copied(),
        order["version"].as_i64(),
        "up to the last change"
    );
    assert!(
        healthy.round_trip().await.is_empty(),
        "nothing more, no error"
    );
}
