//! Several instances on one database behave as one service: a change committed through one
//! instance reaches subscribers on another — at once through PostgreSQL NOTIFY, and through the
//! dispatcher's polling when no notification can arrive.

use std::time::{Duration, Instant};

use serde_json::json;
use tests::{Backend, spawn_app_with};

use crate::fixtures::{ORDER_STATUS_CHANGES, Shop, id_of, move_order, version_of};

/// Subscribes on `b`, changes the order through `a`, and returns how long each event took to
/// arrive on `b`.
async fn cross_instance_latencies(a: &tests::TestApp, b: &tests::TestApp) -> Vec<Duration> {
    let shop = Shop::open(a).await;
    let mut order = shop.confirmed_order(a).await;
    let id = id_of(&order);
    let mut feed = b
        .subscribe(
            ORDER_STATUS_CHANGES,
            json!({ "orderId": id }),
            shop.rep.token(),
        )
        .await;
    feed.wait_until_live(async || {
        order = move_order(a, &shop.rep.token, &order, "ON_HOLD", Some("probe")).await;
        order = move_order(a, &shop.rep.token, &order, "CONFIRMED", None).await;
        (id.clone(), version_of(&order))
    })
    .await;
    let mut latencies = Vec::new();
    for (to, reason) in [
        ("IN_PRODUCTION", None),
        ("ON_HOLD", Some("parts")),
        ("IN_PRODUCTION", None),
        ("READY_TO_SHIP", None),
    ] {
        let started = Instant::now();
        order = move_order(a, &shop.rep.token, &order, to, reason).await;
        let event = feed.next_event(Duration::from_secs(15)).await;
        let change = &event["orderStatusChanged"];
        assert_eq!(change["to"], to, "{event}");
        assert_eq!(
            change["version"],
            version_of(&order),
            "in order, none lost: {event}"
        );
        latencies.push(started.elapsed());
    }
    latencies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_change_on_one_instance_reaches_a_subscriber_on_another_at_once() {
    if !Backend::Postgres.is_available() {
        eprintln!("skipped: set TEST_POSTGRES_URL to run the two-instance test on PostgreSQL");
        return;
    }
    // Polling every minute: only NOTIFY can explain a delivery within a second.
    let a = spawn_app_with(Backend::Postgres, &["--event-poll-ms", "60000"]).await;
    let b = a.sibling(&["--event-poll-ms", "60000"]).await;
    let latencies = cross_instance_latencies(&a, &b).await;
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(2)),
        "{latencies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_notifications_the_other_instance_catches_up_by_polling() {
    // Two processes on one SQLite file: there is no NOTIFY between them, only the poll.
    let a = spawn_app_with(Backend::Sqlite, &["--event-poll-ms", "200"]).await;
    let b = a.sibling(&["--event-poll-ms", "200"]).await;
    let latencies = cross_instance_latencies(&a, &b).await;
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(3)),
        "{latencies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_subscription_starts_after_what_was_committed_before_it_opened() {
    // Two processes on one SQLite file, the second polling once a minute: a change made through
    // the first is committed but not yet known to the second's dispatcher when a client
    // subscribes there. It is history to that client, not news.
    let a = spawn_app_with(Backend::Sqlite, &[]).await;
    let b = a.sibling(&["--event-poll-ms", "60000"]).await;
    let shop = Shop::open(&a).await;
    let mut order = shop.confirmed_order(&a).await;
    let id = id_of(&order);
    order = move_order(&a, &shop.rep.token, &order, "ON_HOLD", Some("before")).await;

    let mut feed = b
        .subscribe(
            ORDER_STATUS_CHANGES,
            json!({ "orderId": id }),
            shop.rep.token(),
        )
        .await;
    b.wait_for_metric("orderdesk_subscriptions", 1).await;
    // A change through `b` wakes its dispatcher, which now reads both changes from the log.
    order = move_order(&b, &shop.rep.token, &order, "CONFIRMED", None).await;

    let event = feed.next_event(Duration::from_secs(15)).await;
    let change = &event["orderStatusChanged"];
    assert_eq!(change["from"], "ON_HOLD", "{event}");
    assert_eq!(change["to"], "CONFIRMED", "{event}");
    assert_eq!(change["version"], version_of(&order), "{event}");
    assert_eq!(feed.try_next_event(Duration::from_millis(300)).await, None);
}

#[tokio::test]
async fn readiness_fails_while_migrations_are_pending() {
    use sea_orm::ConnectionTrait;
    let app = tests::spawn_app(Backend::Sqlite).await;
    let ready = |app: &tests::TestApp| {
        let url = app.url("/readyz");
        let client = app.http().clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("GET /readyz")
                .status()
                .as_u16()
        }
    };
    assert_eq!(ready(&app).await, 200);
    // As if a newer schema version had been deployed but `orderdesk migrate` not run yet.
    let db = sea_orm::Database::connect(app.database_url())
        .await
        .expect("open the database");
    db.execute_unprepared(
        "DELETE FROM seaql_migrations WHERE version = (SELECT MAX(version) FROM seaql_migrations)",
    )
    .await
    .expect("forget the newest migration");
    assert_eq!(ready(&app).await, 503);
    assert_eq!(
        app.http()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200,
        "the process is up"
    );
}

#[tokio::test]
async fn metrics_count_requests_errors_websockets_and_dispatcher_lag() {
    let app = tests::spawn_app(Backend::Sqlite).await;
    let shop = Shop::open(&app).await;
    let body = json!({ "query": "query MyOrders { orders(first: 5) { nodes { id } } }", "operationName": "MyOrders" });
    // Many clients name the operation only in the document: it is counted by that name too.
    let named_in_document =
        json!({ "query": "query MyOrders { orders(first: 5) { nodes { id } } }" });
    // Two operations and no choice: execution refuses it, under no operation's name.
    let ambiguous = json!({ "query": "query MyOrders { orders(first: 5) { nodes { id } } } query Other { me { id } }" });
    for body in [&body, &body, &named_in_document, &ambiguous] {
        app.http()
            .post(app.url("/graphql"))
            .bearer_auth(&shop.rep.token)
            .json(body)
            .send()
            .await
            .unwrap();
    }
    let missing = app
        .gql(
            "{ order(id: \"999999\") { id } }",
            json!({}),
            shop.rep.token(),
        )
        .await;
    tests::assert_error(&missing, "NOT_FOUND");
    let order = shop.confirmed_order(&app).await;
    let mut feed = app
        .subscribe(
            ORDER_STATUS_CHANGES,
            json!({ "orderId": id_of(&order) }),
            shop.rep.token(),
        )
        .await;
    let mut order = order;
    let id = id_of(&order);
    feed.wait_until_live(async || {
        order = move_order(&app, &shop.rep.token, &order, "ON_HOLD", Some("probe")).await;
        order = move_order(&app, &shop.rep.token, &order, "CONFIRMED", None).await;
        (id.clone(), version_of(&order))
    })
    .await;

    let text = app.metrics().await;
    let value = |line_start: &str| -> f64 {
        text.lines()
            .find(|line| line.starts_with(line_start))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{line_start}` in\n{text}"))
    };
    assert_eq!(
        value("orderdesk_graphql_request_duration_seconds_count{operation=\"MyOrders\"}"),
        3.0
    );
    assert!(!text.contains("operation=\"Other\""));
    assert!(value("orderdesk_graphql_errors_total{code=\"NOT_FOUND\"}") >= 1.0);
    assert_eq!(value("orderdesk_websocket_connections "), 1.0);
    assert_eq!(value("orderdesk_subscriptions "), 1.0);
    assert_eq!(
        value("orderdesk_dispatcher_lag_events "),
        0.0,
        "everything committed was delivered"
    );
    assert!(value("orderdesk_event_log_newest_seq ") >= 5.0);
    assert!(value("orderdesk_db_pool_connections ") >= 1.0);
    // Orders by id are read on the request's thread from the SQLite file, none through the pool.
    assert!(value("orderdesk_db_inline_reads_total ") >= 1.0);
    assert_eq!(value("orderdesk_db_inline_read_fallbacks_total "), 0.0);
    // So were the orders' changes: each a savepoint, its statements and a release at least.
    assert!(value("orderdesk_db_inline_write_statements_total ") >= 3.0 * 3.0);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_clients_own_is_echoed() {
    let app = tests::spawn_app(Backend::Sqlite).await;
    let own = app
        .http()
        .get(app.url("/healthz"))
        .header("x-request-id", "phone-42-retry-1")
        .send()
        .await
        .unwrap();
    assert_eq!(own.headers()["x-request-id"], "phone-42-retry-1");
    let fresh = app.http().get(app.url("/healthz")).send().await.unwrap();
    let first = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    let again = app.http().get(app.url("/healthz")).send().await.unwrap();
    assert!(!first.is_empty());
    assert_ne!(
        again.headers()["x-request-id"].to_str().unwrap(),
        first,
        "ids are per request"
    );
    // Header injection attempts are replaced, not echoed.
    let odd = app
        .http()
        .get(app.url("/healthz"))
        .header("x-request-id", "a b")
        .send()
        .await
        .unwrap();
    assert_ne!(odd.headers()["x-request-id"], "a b");
}

#[tokio::test]
async fn on_sigterm_websocket_clients_are_told_to_reconnect_elsewhere_with_1012() {
    let mut app = tests::spawn_app(Backend::Sqlite).await;
    let shop = Shop::open(&app).await;
    let mut socket = app.raw_socket("graphql-transport-ws").await;
    socket.init(shop.rep.token()).await;
    socket
        .subscribe(
            "1",
            "subscription { orderStatusChanged { orderId } }",
            json!({}),
        )
        .await;
    let (exited, close) = tokio::join!(
        app.terminate(Duration::from_secs(8)),
        socket.expect_close(Duration::from_secs(8))
    );
    assert_eq!(close.0, 1012, "{close:?}");
    let status = exited.expect("the server exits within the grace period");
    assert!(status.success(), "{status}");
}
