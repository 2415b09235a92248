//! An order's whole life through the API: draft, edit, review, confirmation, production,
//! shipping, delivery, and the refusal to complete it while unpaid.

use serde_json::json;
use tests::json::pretty;
use tests::{Backend, assert_error, spawn_app};

use crate::fixtures::{
    Shop, confirm_order, create_order, create_product, dec, decimal, fetch_order, id_of, in_days,
    move_order, order_events, order_in, status_changes, submit, transition, update_draft,
    version_of,
};

backend_tests!(an_order_goes_from_draft_to_delivered_and_cannot_complete_while_unpaid);

async fn an_order_goes_from_draft_to_delivered_and_cannot_complete_while_unpaid(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let rep = &shop.rep;
    let bolt = create_product(&app, &shop.admin.token, "BOLT-M8", "40.00").await;
    let gear = create_product(&app, &shop.admin.token, "GEAR-12", "7.25").await;

    // The rep writes a draft. Each line total is rounded once to cents; the order total is the
    // sum of the rounded lines: 3 x 33.333 -10% = 89.9991 -> 90.00; 2 x 120.00; 4 x 7.25.
    let draft = create_order(
        &app,
        &rep.token,
        json!({
            "customerId": shop.customer_id,
            "lines": [
                { "productId": bolt, "quantity": "3", "unitPrice": "33.333", "discountPercent": "10" },
                { "productId": shop.product_id, "quantity": "2" },
                { "productId": gear, "quantity": "4" },
            ],
            "customerPo": "PO-4711",
        }),
    )
    .await;
    let id = id_of(&draft);
    assert_eq!(draft["currency"], "EUR");
    assert_eq!(draft["salesRep"]["id"], rep.id.as_str());
    assert_eq!(draft["customer"]["id"], shop.customer_id.as_str());
    assert_eq!(draft["paymentStatus"], "UNINVOICED");
    assert_eq!(
        draft["paymentTerms"], "NET_30",
        "payment terms default from the customer"
    );
    let line_totals: Vec<_> = draft["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| decimal(&line["total"]["amount"]))
        .collect();
    assert_eq!(
        line_totals,
        [dec("90.00"), dec("240.00"), dec("29.00")],
        "{}",
        pretty(&draft)
    );
    assert_eq!(
        draft["lines"][1]["unitPrice"]["amount"].as_str().map(dec),
        Some(dec("120")),
        "list price by default"
    );
    assert_eq!(decimal(&draft["total"]["amount"]), dec("359.00"));
    assert_eq!(draft["total"]["currency"], "EUR");

    // Editing the draft replaces only the fields given.
    let requested = in_days(60);
    let body = update_draft(
        &app,
        &rep.token,
        &id,
        version_of(&draft),
        json!({
            "lines": [
                { "productId": shop.product_id, "quantity": "10" },
                { "productId": gear, "quantity": "4" },
            ],
            "requestedDate": requested,
            "deliveryAddress": "Dock 4, Hafenstraße 9, 20457 Hamburg",
        }),
    )
    .await;
    let edited = order_in(&body, "updateOrderDraft");
    assert_eq!(edited["status"], "DRAFT");
    assert_eq!(version_of(&edited), version_of(&draft) + 1);
    assert_eq!(edited["lines"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        decimal(&edited["total"]["amount"]),
        dec("1229.00"),
        "10 x 120.00 + 4 x 7.25"
    );
    assert_eq!(edited["requestedDate"], requested.as_str());
    assert_eq!(
        edited["deliveryAddress"],
        "Dock 4, Hafenstraße 9, 20457 Hamburg"
    );
    assert_eq!(edited["customerPo"], "PO-4711", "fields not given are kept");

    // List prices, no discount, date and address given: review approves without findings
    // that need anyone's attention.
    let approved = submit(&app, &rep.token, &edited, "APPROVED").await;
    for finding in approved["reviewFindings"]
        .as_array()
        .expect("reviewFindings")
    {
        assert_eq!(
            finding["severity"],
            "INFO",
            "unexpected finding: {}",
            pretty(finding)
        );
    }

    let body = confirm_order(&app, &rep.token, &approved, "EMAIL").await;
    let confirmed = order_in(&body, "confirmOrder");
    assert_eq!(confirmed["status"], "CONFIRMED");
    assert_eq!(version_of(&confirmed), version_of(&approved) + 1);
    assert_eq!(confirmed["confirmation"]["confirmedBy"], "Ana Buyer");
    assert_eq!(confirmed["confirmation"]["channel"], "EMAIL");

    let mut order = confirmed;
    for to in ["IN_PRODUCTION", "READY_TO_SHIP", "SHIPPED", "DELIVERED"] {
        order = move_order(&app, &rep.token, &order, to, None).await;
    }
    assert_eq!(order["paymentStatus"], "UNINVOICED");

    // Delivered but not paid: completing is refused, and nothing changes.
    let body = transition(&app, &rep.token, &id, version_of(&order), "COMPLETED", None).await;
    let error = assert_error(&body, "INVALID_TRANSITION");
    assert_eq!(
        error["extensions"]["from"],
        "DELIVERED",
        "{}",
        pretty(&body)
    );
    assert!(
        error["extensions"]["reason"]
            .as_str()
            .is_some_and(|r| !r.trim().is_empty()),
        "extensions.reason should say why: {}",
        pretty(&body)
    );
    let after = fetch_order(&app, &rep.token, &id).await;
    assert_eq!(after["status"], "DELIVERED");
    assert_eq!(version_of(&after), version_of(&order));

    // The timeline tells the same story, oldest first.
    let events = order_events(&app, &rep.token, &id).await;
    let types: Vec<_> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        [
            "ORDER_CREATED",
            "DRAFT_UPDATED",
            "REVIEW_COMPLETED",
            "STATUS_CHANGED",
            "ORDER_CONFIRMED",
            "STATUS_CHANGED",
            "STATUS_CHANGED",
            "STATUS_CHANGED",
            "STATUS_CHANGED",
            "STATUS_CHANGED",
        ],
        "{}",
        pretty(&json!(events))
    );
    let versions: Vec<i64> = events.iter().map(version_of).collect();
    assert!(
        versions.is_sorted(),
        "event versions go backwards: {versions:?}"
    );
    assert_eq!(versions.last().copied(), Some(version_of(&order)));
    for event in &events {
        assert_eq!(event["actor"]["id"], rep.id.as_str(), "{}", pretty(event));
    }
    let changes = status_changes(&events);
    let moves: Vec<(&str, &str)> = changes
        .iter()
        .map(|(from, to, _)| (from.as_str(), to.as_str()))
        .collect();
    assert_eq!(
        moves,
        [
            ("DRAFT", "APPROVED"),
            ("APPROVED", "CONFIRMED"),
            ("CONFIRMED", "IN_PRODUCTION"),
            ("IN_PRODUCTION", "READY_TO_SHIP"),
            ("READY_TO_SHIP", "SHIPPED"),
            ("SHIPPED", "DELIVERED"),
        ]
    );
    let change_versions: Vec<i64> = changes.iter().map(|(_, _, v)| *v).collect();
    assert!(
        change_versions.windows(2).all(|w| w[0] < w[1]),
        "STATUS_CHANGED versions must increase: {change_versions:?}"
    );
}
