//! Live status feeds over a real websocket (graphql-transport-ws): what a subscriber sees is
//! exactly what was committed, in order, and only what it may see.

use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Backend, Subscription, TestApp, TestUser, assert_error, spawn_app};

use crate::fixtures::{
    ALL_STATUS_CHANGES, EVENT_TIMEOUT, ORDER_STATUS_CHANGES, Shop, id_of, move_order, submit,
    transition, version_of,
};

backend_tests!(
    a_subscriber_to_one_order_receives_exactly_its_committed_transitions_in_order,
    a_sales_rep_subscribed_to_all_orders_sees_only_orders_they_may_see,
    after_an_order_is_reassigned_the_previous_rep_receives_none_of_its_events,
    identical_subscriptions_share_one_resolution_of_each_event,
);

async fn a_subscriber_to_one_order_receives_exactly_its_committed_transitions_in_order(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let mut order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let number = order["number"].clone();

    let mut feed = app
        .subscribe(ORDER_STATUS_CHANGES, json!({ "orderId": id }), rep.token())
        .await;
    // Probe with hold + resume, which leaves the order where it was (CONFIRMED).
    feed.wait_until_live(async || {
        order = move_order(&app, &rep.token, &order, "ON_HOLD", Some("probe")).await;
        order = move_order(&app, &rep.token, &order, "CONFIRMED", None).await;
        (id.clone(), version_of(&order))
    })
    .await;

    let mut committed = Vec::new();
    for (to, reason) in [
        ("IN_PRODUCTION", None),
        ("ON_HOLD", Some("waiting for parts")),
        ("IN_PRODUCTION", None),
        ("READY_TO_SHIP", None),
    ] {
        let moved = move_order(&app, &rep.token, &order, to, reason).await;
        committed.push((order["status"].clone(), json!(to), version_of(&moved)));
        order = moved;
    }
    // Refused commands publish nothing ...
    let stale = transition(
        &app,
        &rep.token,
        &id,
        version_of(&order) - 1,
        "SHIPPED",
        None,
    )
    .await;
    assert_error(&stale, "CONFLICT");
    let invalid = transition(&app, &rep.token, &id, version_of(&order), "COMPLETED", None).await;
    assert_error(&invalid, "INVALID_TRANSITION");
    // ... and another order's changes do not reach this feed.
    let other = shop.confirmed_order(&app).await;
    move_order(&app, &rep.token, &other, "IN_PRODUCTION", None).await;
    // The last committed change comes right after the others, so anything published in between
    // would show up before it.
    let shipped = move_order(&app, &rep.token, &order, "SHIPPED", None).await;
    committed.push((
        json!("READY_TO_SHIP"),
        json!("SHIPPED"),
        version_of(&shipped),
    ));

    for (from, to, version) in committed {
        let event = feed.next_event(EVENT_TIMEOUT).await;
        let change = &event["orderStatusChanged"];
        assert_eq!(change["orderId"], id.as_str(), "{}", pretty(&event));
        assert_eq!(change["orderNumber"], number, "{}", pretty(&event));
        assert_eq!(
            (&change["from"], &change["to"], &change["version"]),
            (&from, &to, &json!(version)),
            "{}",
            pretty(&event)
        );
        assert_eq!(change["actor"]["id"], rep.id.as_str(), "{}", pretty(&event));
        assert!(
            change["at"].as_str().is_some_and(|at| !at.is_empty()),
            "{}",
            pretty(&event)
        );
    }
    feed.close().await;
}

async fn a_sales_rep_subscribed_to_all_orders_sees_only_orders_they_may_see(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let mine = shop.draft(&app).await;
    let theirs = shop.draft_for(&app, &other_rep, &other_customer).await;

    let mut rep_feed = app
        .subscribe(ALL_STATUS_CHANGES, json!({}), shop.rep.token())
        .await;
    let mut admin_feed = app
        .subscribe(ALL_STATUS_CHANGES, json!({}), shop.admin.token())
        .await;
    // The rep's manager sees the team's orders (decided per event from the rep's manager).
    let mut manager_feed = app
        .subscribe(ALL_STATUS_CHANGES, json!({}), shop.manager.token())
        .await;
    // Each feed is probed with throwaway orders it may see; the admin's probes belong to the
    // other rep, so neither the rep's nor the manager's feed may see them.
    rep_feed
        .wait_until_live(async || cancelled_probe(&app, &shop, &shop.rep, &shop.customer_id).await)
        .await;
    admin_feed
        .wait_until_live(async || cancelled_probe(&app, &shop, &other_rep, &other_customer).await)
        .await;
    manager_feed
        .wait_until_live(async || cancelled_probe(&app, &shop, &shop.rep, &shop.customer_id).await)
        .await;
    // Feeds may still hold the others' probes: one last probe all three see, to skip to.
    let last_probe = shop.draft(&app).await;
    let last_probe = move_order(
        &app,
        &shop.rep.token,
        &last_probe,
        "CANCELLED",
        Some("probe"),
    )
    .await;
    for feed in [&mut rep_feed, &mut admin_feed, &mut manager_feed] {
        feed.wait_until_live(async || (id_of(&last_probe), version_of(&last_probe)))
            .await;
    }

    // The other rep's order changes first, then the rep's own.
    let theirs_approved = submit(&app, &other_rep.token, &theirs, "APPROVED").await;
    let mine_approved = submit(&app, &shop.rep.token, &mine, "APPROVED").await;
    let theirs_cancelled = move_order(
        &app,
        &other_rep.token,
        &theirs_approved,
        "CANCELLED",
        Some("lost the deal"),
    )
    .await;
    let mine_cancelled = move_order(
        &app,
        &shop.rep.token,
        &mine_approved,
        "CANCELLED",
        Some("customer withdrew"),
    )
    .await;

    expect_change(&mut rep_feed, &mine_approved, "DRAFT").await;
    expect_change(&mut rep_feed, &mine_cancelled, "APPROVED").await;
    expect_change(&mut manager_feed, &mine_approved, "DRAFT").await;
    expect_change(&mut manager_feed, &mine_cancelled, "APPROVED").await;

    // The admin sees everything, in commit order: the other rep's events were published.
    expect_change(&mut admin_feed, &theirs_approved, "DRAFT").await;
    expect_change(&mut admin_feed, &mine_approved, "DRAFT").await;
    expect_change(&mut admin_feed, &theirs_cancelled, "APPROVED").await;
    expect_change(&mut admin_feed, &mine_cancelled, "APPROVED").await;
    rep_feed.close().await;
    admin_feed.close().await;
    manager_feed.close().await;
}

/// Revoked access mid-subscription: once an admin moves an order to another rep, neither the
/// previous rep's feed of that order nor their feed of all their orders delivers its further
/// events (authorization is checked per event against current ownership), while the event is
/// still published to those who may see it.
async fn after_an_order_is_reassigned_the_previous_rep_receives_none_of_its_events(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let rep = &shop.rep;
    let order = shop.confirmed_order(&app).await;
    let id = id_of(&order);

    let mut order_feed = app
        .subscribe(ORDER_STATUS_CHANGES, json!({ "orderId": id }), rep.token())
        .await;
    let mut all_feed = app
        .subscribe(ALL_STATUS_CHANGES, json!({}), rep.token())
        .await;
    let mut admin_feed = app
        .subscribe(ALL_STATUS_CHANGES, json!({}), shop.admin.token())
        .await;
    all_feed
        .wait_until_live(async || cancelled_probe(&app, &shop, rep, &shop.customer_id).await)
        .await;
    // The admin's probes belong to the other rep, so the rep's feeds never see them.
    admin_feed
        .wait_until_live(async || cancelled_probe(&app, &shop, &other_rep, &other_customer).await)
        .await;
    // Both of the rep's feeds are live and see the order while it is theirs.
    let producing = move_order(&app, &rep.token, &order, "IN_PRODUCTION", None).await;
    expect_change(&mut order_feed, &producing, "CONFIRMED").await;
    expect_change(&mut all_feed, &producing, "CONFIRMED").await;
    expect_change(&mut admin_feed, &producing, "CONFIRMED").await;

    let body = app
        .gql(
            "mutation($id: ID!, $v: Int!, $to: ID!) {
               reassignOrder(id: $id, expectedVersion: $v, salesRepId: $to, reason: \"territory change\") {
                 id version salesRep { id } status
               }
             }",
            json!({ "id": id, "v": version_of(&producing), "to": other_rep.id }),
            shop.admin.token(),
        )
        .await;
    let reassigned = &tests::data(&body)["reassignOrder"];
    assert_eq!(
        reassigned["salesRep"]["id"],
        json!(other_rep.id),
        "{}",
        pretty(&body)
    );

    let ready = move_order(&app, &other_rep.token, reassigned, "READY_TO_SHIP", None).await;
    expect_change(&mut admin_feed, &ready, "IN_PRODUCTION").await;
    for feed in [&mut order_feed, &mut all_feed] {
        let leaked = feed.try_next_event(std::time::Duration::from_secs(2)).await;
        assert!(
            leaked.is_none(),
            "the previous rep received an event of an order no longer theirs: {leaked:?}"
        );
    }
    let body = app
        .gql(
            "query($id: ID!) { order(id: $id) { id } }",
            json!({ "id": id }),
            rep.token(),
        )
        .await;
    assert_error(&body, "NOT_FOUND");
    // A rep cannot reassign, and a manager only within their team.
    let body = app
        .gql(
            "mutation($id: ID!, $v: Int!, $to: ID!) { reassignOrder(id: $id, expectedVersion: $v, salesRepId: $to) { id } }",
            json!({ "id": id, "v": version_of(&ready), "to": rep.id }),
            other_rep.token(),
        )
        .await;
    assert_error(&body, "FORBIDDEN");
    order_feed.close().await;
    all_feed.close().await;
    admin_feed.close().await;
}

/// A draft by `rep` for `customer_id`, cancelled at once: one STATUS_CHANGED event that does not
/// disturb the scenario. Returns the event's `(orderId, version)`.
/// Many clients watching one order (a team's screens, a customer's devices) send the same
/// operation: the server resolves each event once for all of them, and each still gets it.
async fn identical_subscriptions_share_one_resolution_of_each_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let mut order = shop.confirmed_order(&app).await;
    let id = id_of(&order);
    let variables = json!({ "orderId": id });
    // Five of one operation, from two users; one other selection; one operation of two fields
    // (run as a stream per field, not shared).
    let other_selection = "subscription($orderId: ID) { orderStatusChanged(orderId: $orderId) { orderId version to } }";
    let two_fields = "subscription($orderId: ID) { \
        orderStatusChanged(orderId: $orderId) { orderId version } \
        orderEvents(filter: { orderId: $orderId, types: [STATUS_CHANGED] }) { cursor } }";
    let mut feeds = Vec::new();
    for token in [
        shop.rep.token(),
        shop.rep.token(),
        shop.rep.token(),
        shop.admin.token(),
        shop.admin.token(),
    ] {
        feeds.push(
            app.subscribe(ORDER_STATUS_CHANGES, variables.clone(), token)
                .await,
        );
    }
    feeds.push(
        app.subscribe(other_selection, variables.clone(), shop.rep.token())
            .await,
    );
    feeds.push(
        app.subscribe(two_fields, variables.clone(), shop.rep.token())
            .await,
    );
    for feed in &mut feeds {
        feed.wait_until_live(async || {
            order = move_order(&app, &shop.rep.token, &order, "ON_HOLD", Some("probe")).await;
            order = move_order(&app, &shop.rep.token, &order, "CONFIRMED", None).await;
            (id.clone(), version_of(&order))
        })
        .await;
    }
    // One last probe every feed skips to: then nothing is left to resolve.
    order = move_order(&app, &shop.rep.token, &order, "ON_HOLD", Some("probe")).await;
    for feed in &mut feeds {
        feed.wait_until_live(async || (id.clone(), version_of(&order)))
            .await;
    }

    let before = app.metric("orderdesk_subscription_resolutions_total").await;
    let moved = move_order(&app, &shop.rep.token, &order, "CONFIRMED", None).await;
    for (n, feed) in feeds.iter_mut().enumerate() {
        let event = loop {
            // The two-field operation also delivers its `orderEvents` entry.
            let event = feed.next_event(EVENT_TIMEOUT).await;
            if !event["orderStatusChanged"].is_null() {
                break event;
            }
        };
        let change = &event["orderStatusChanged"];
        assert_eq!(
            change["orderId"],
            id.as_str(),
            "feed {n}: {}",
            pretty(&event)
        );
        assert_eq!(
            change["version"],
            moved["version"],
            "feed {n}: {}",
            pretty(&event)
        );
        if n == 5 {
            assert_eq!(change["to"], "CONFIRMED", "{}", pretty(&event));
            assert!(
                change.get("actor").is_none(),
                "its own selection: {}",
                pretty(&event)
            );
        } else if n < 5 {
            assert_eq!(
                change["actor"]["id"],
                shop.rep.id.as_str(),
                "{}",
                pretty(&event)
            );
        }
    }
    assert_eq!(
        app.metric("orderdesk_subscription_resolutions_total").await - before,
        2,
        "one resolution for the five identical subscriptions, one for the other selection"
    );
    for feed in feeds {
        feed.close().await;
    }
}

async fn cancelled_probe(
    app: &TestApp,
    shop: &Shop,
    rep: &TestUser,
    customer_id: &str,
) -> (String, i64) {
    let probe = shop.draft_for(app, rep, customer_id).await;
    let cancelled = move_order(app, &rep.token, &probe, "CANCELLED", Some("probe")).await;
    (id_of(&cancelled), version_of(&cancelled))
}

/// The next event must be the change that brought `order` from `from` to its current status
/// and version.
async fn expect_change(feed: &mut Subscription, order: &Value, from: &str) {
    let event = feed.next_event(EVENT_TIMEOUT).await;
    let change = &event["orderStatusChanged"];
    assert_eq!(
        (
            &change["orderId"],
            &change["from"],
            &change["to"],
            &change["version"]
        ),
        (
            &order["id"],
            &json!(from),
            &order["status"],
            &order["version"]
        ),
        "unexpected event:\n{}",
        pretty(&event)
    );
}
