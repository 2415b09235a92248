//! Two instances on one PostgreSQL under load: 2,000 transitions spread over both while
//! subscribers on both count what they receive. Every subscriber gets every event exactly once,
//! in each order's sequence, even when the LISTEN connections are killed mid-run (polling covers
//! the gap) and many writers commit concurrently (sequence numbers are handed out in commit
//! order, so the dispatcher never skips one that committed late).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::{Backend, Subscription, TestApp, spawn_app_with};

use crate::fixtures::{ORDER_STATUS_CHANGES, Shop, id_of, move_order, version_of};

const ORDERS: usize = 40;
const TRANSITIONS_PER_ORDER: usize = 50;
const FLAGS: [&str; 6] = [
    "--event-poll-ms",
    "1000",
    "--mutations-per-minute",
    "1000000",
    "--address-mutations-per-minute",
    "1000000",
];

/// Holds and resumes `order` through `app` until it has made `TRANSITIONS_PER_ORDER` moves.
async fn churn(app: &TestApp, token: &str, mut order: Value) {
    for n in 0..TRANSITIONS_PER_ORDER {
        order = if n % 2 == 0 {
            move_order(app, token, &order, "ON_HOLD", Some("load")).await
        } else {
            move_order(app, token, &order, "CONFIRMED", None).await
        };
    }
}

/// Reads events until every churned order has reached its final version; returns, per order,
/// the versions received in arrival order.
async fn collect(
    feed: &mut Subscription,
    orders: &HashMap<String, i64>,
) -> HashMap<String, Vec<i64>> {
    let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
    let done = |seen: &HashMap<String, Vec<i64>>| {
        orders
            .iter()
            .all(|(id, last)| seen.get(id).and_then(|v| v.last()) == Some(last))
    };
    while !done(&seen) {
        let event = feed.next_event(Duration::from_secs(20)).await;
        let change = &event["orderStatusChanged"];
        let id = change["orderId"].as_str().unwrap().to_owned();
        if orders.contains_key(&id) {
            seen.entry(id)
                .or_default()
                .push(change["version"].as_i64().unwrap());
        }
    }
    // Anything after the last expected event would be a duplicate: give it a moment to show.
    while let Some(event) = feed.try_next_event(Duration::from_millis(1500)).await {
        let change = &event["orderStatusChanged"];
        let id = change["orderId"].as_str().unwrap().to_owned();
        if orders.contains_key(&id) {
            seen.entry(id)
                .or_default()
                .push(change["version"].as_i64().unwrap());
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_transitions_over_two_instances_reach_every_subscriber_exactly_once_in_order()
{
    if !Backend::Postgres.is_available() {
        eprintln!("skipped: set TEST_POSTGRES_URL to run the scale-out test on PostgreSQL");
        return;
    }
    let a = spawn_app_with(Backend::Postgres, &FLAGS).await;
    let b = a.sibling(&FLAGS).await;
    let shop = Shop::open(&a).await;
    let orders: Vec<Value> = join_all((0..ORDERS).map(|_| shop.confirmed_order(&a))).await;
    let start: HashMap<String, i64> = orders.iter().map(|o| (id_of(o), version_of(o))).collect();
    let last: HashMap<String, i64> = start
        .iter()
        .map(|(id, v)| {
            (
                id.clone(),
                v + i64::try_from(TRANSITIONS_PER_ORDER).unwrap(),
            )
        })
        .collect();

    // An admin on each instance watches every order.
    let mut feeds = Vec::new();
    for app in [&a, &b] {
        let mut feed = app
            .subscribe(ORDER_STATUS_CHANGES, json!({}), shop.admin.token())
            .await;
        let probe = shop.confirmed_order(&a).await;
        let mut probe_order = probe;
        let probe_id = id_of(&probe_order);
        feed.wait_until_live(async || {
            probe_order =
                move_order(&a, &shop.rep.token, &probe_order, "ON_HOLD", Some("probe")).await;
            probe_order = move_order(&a, &shop.rep.token, &probe_order, "CONFIRMED", None).await;
            (probe_id.clone(), version_of(&probe_order))
        })
        .await;
        feeds.push(feed);
    }

    // Writers on both instances at once; midway, every LISTEN connection is killed.
    let database = sea_orm::Database::connect(a.database_url())
        .await
        .expect("connect");
    let writers = orders.into_iter().enumerate().map(|(n, order)| {
        let app = if n % 2 == 0 { &a } else { &b };
        churn(app, &shop.rep.token, order)
    });
    let saboteur = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let killed = database
            .execute_unprepared(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
            )
            .await
            .expect("terminate listeners");
        eprintln!("terminated LISTEN connections: {}", killed.rows_affected());
    };
    // Subscribers read while the writers write, as live clients do (and answer keepalive pings).
    let [feed_a, feed_b] = &mut feeds[..] else {
        unreachable!("two feeds")
    };
    let ((), (), seen_a, seen_b) = tokio::join!(
        async {
            join_all(writers).await;
        },
        saboteur,
        collect(feed_a, &last),
        collect(feed_b, &last)
    );

    for (n, seen) in [seen_a, seen_b].iter().enumerate() {
        for (id, versions) in seen {
            let first = start[id];
            let expected: Vec<i64> = (first + 1..=last[id]).collect();
            assert_eq!(
                versions, &expected,
                "subscriber {n}, order {id}: every event once, in order"
            );
        }
        assert_eq!(seen.len(), ORDERS, "subscriber {n} heard of every order");
    }
}
