//! The order list: keyset pages newest first, and filters that narrow it.

use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Backend, TestApp, spawn_app};

use crate::fixtures::{
    Shop, all_order_ids, create_customer, id_of, move_order, orders_page, page_ids, submit, text,
    unique,
};

backend_tests!(
    paging_through_orders_with_cursors_returns_each_order_once_newest_first,
    order_filters_by_status_and_customer_narrow_the_list,
);

/// Seven drafts by the rep: five for the shop's customer, then two for a second customer of the
/// rep's. Returns (second customer id, ids in creation order).
async fn seven_orders(app: &TestApp, shop: &Shop) -> (String, Vec<String>) {
    let second_customer =
        create_customer(app, &shop.admin.token, "Initech SA", Some(&shop.rep.id)).await;
    let mut created = Vec::new();
    for i in 0..7 {
        let customer = if i < 5 {
            &shop.customer_id
        } else {
            &second_customer
        };
        created.push(id_of(&shop.draft_for(app, &shop.rep, customer).await));
    }
    (second_customer, created)
}

async fn paging_through_orders_with_cursors_returns_each_order_once_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (_, created) = seven_orders(&app, &shop).await;

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let page = orders_page(&app, &shop.rep.token, 3, after.as_deref(), json!(null)).await;
        let ids = page_ids(&page);
        let nodes: Vec<String> = page["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(id_of)
            .collect();
        assert_eq!(nodes, ids, "nodes and edges list the same orders");
        let last_cursor = page["edges"]
            .as_array()
            .and_then(|e| e.last())
            .map(|e| e["cursor"].clone());
        assert_eq!(
            Some(&page["pageInfo"]["endCursor"]),
            last_cursor.as_ref(),
            "{}",
            pretty(&page)
        );
        let has_next = page["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("hasNextPage");
        pages.push((ids.len(), has_next));
        seen.extend(ids);
        if !has_next {
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            break;
        }
        assert!(pages.len() < 10, "paging does not end: {pages:?}");
        after = Some(text(&page["pageInfo"]["endCursor"]));
    }

    assert_eq!(pages, [(3, true), (3, true), (1, false)]);
    unique(&seen);
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    // Past the end there is nothing.
    let beyond = orders_page(&app, &shop.rep.token, 3, after.as_deref(), json!(null)).await;
    assert_eq!(beyond["edges"], json!([]), "{}", pretty(&beyond));
    assert_eq!(beyond["pageInfo"]["hasNextPage"], false);
}

async fn order_filters_by_status_and_customer_narrow_the_list(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (second_customer, created) = seven_orders(&app, &shop).await;
    let token = &shop.rep.token;

    // Two of the first customer's drafts are cancelled, one of the second's is approved.
    for id in &created[..2] {
        let draft = crate::fixtures::fetch_order(&app, token, id).await;
        move_order(&app, token, &draft, "CANCELLED", Some("duplicate")).await;
    }
    let draft = crate::fixtures::fetch_order(&app, token, &created[6]).await;
    submit(&app, token, &draft, "APPROVED").await;

    let newest_first = |ids: &[String]| -> Vec<String> { ids.iter().rev().cloned().collect() };
    let list = async |filter: Value| all_order_ids(&app, token, filter).await;

    assert_eq!(
        list(json!({ "status": ["CANCELLED"] })).await,
        newest_first(&created[..2])
    );
    assert_eq!(
        list(json!({ "status": ["DRAFT"] })).await,
        newest_first(&[&created[2..5], &created[5..6]].concat())
    );
    assert_eq!(
        list(json!({ "status": ["APPROVED", "CANCELLED"] })).await,
        newest_first(&[&created[..2], &created[6..]].concat())
    );
    assert_eq!(
        list(json!({ "customerId": second_customer })).await,
        newest_first(&created[5..])
    );
    assert_eq!(
        list(json!({ "customerId": shop.customer_id, "status": ["DRAFT"] })).await,
        newest_first(&created[2..5])
    );

    // Filters and cursors combine: the first customer's five orders in pages of two.
    let filter = json!({ "customerId": shop.customer_id });
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for expected_has_next in [true, true, false] {
        let page = orders_page(&app, token, 2, after.as_deref(), filter.clone()).await;
        assert_eq!(
            page["pageInfo"]["hasNextPage"],
            expected_has_next,
            "{}",
            pretty(&page)
        );
        seen.extend(page_ids(&page));
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, newest_first(&created[..5]));
}
