//! The order list: keyset pages newest first, and filters that narrow it.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tests::json::{data, pretty};
use tests::{Backend, TestApp, spawn_app};

use crate::fixtures::{
    Shop, all_order_ids, complete_order_input, confirm_order, create_customer, create_order,
    create_product, dec, decimal, id_of, in_days, line, move_order, order_in, orders_page,
    page_ids, submit, text, unique, update_draft, version_of,
};

backend_tests!(
    paging_through_orders_with_cursors_returns_each_order_once_newest_first,
    order_filters_by_status_and_customer_narrow_the_list,
    a_list_shows_the_same_totals_whether_or_not_it_selects_the_lines,
    a_list_shows_each_orders_details_as_the_order_itself_does,
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

/// `(id, total)` of each node of `orders` in `body`, and each node's line totals when selected.
fn listed_totals(body: &Value, path: &[&str]) -> Vec<(String, Decimal, Option<Vec<Decimal>>)> {
    let mut orders = data(body);
    for field in path {
        orders = &orders[field];
    }
    orders["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("nodes: {}", pretty(body)))
        .iter()
        .map(|node| {
            let lines = node["lines"].as_array().map(|lines| {
                lines
                    .iter()
                    .map(|l| decimal(&l["total"]["amount"]))
                    .collect()
            });
            (id_of(node), decimal(&node["total"]["amount"]), lines)
        })
        .collect()
}

/// A list that selects no lines reads none (their total is stored with the order); one that
/// does reads them. Either way a user sees the same totals, kept current when lines change.
async fn a_list_shows_the_same_totals_whether_or_not_it_selects_the_lines(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let token = &shop.rep.token;
    let gadget = create_product(&app, &shop.admin.token, "GADGET-7", "33.33").await;
    let mut created = Vec::new();
    for (widgets, gadgets) in [("1", "3"), ("2", "1"), ("5", "7")] {
        let input = complete_order_input(
            &shop.customer_id,
            vec![line(&shop.product_id, widgets), line(&gadget, gadgets)],
        );
        created.push(create_order(&app, token, input).await);
    }
    // A draft whose lines change after it was created: its stored total must follow.
    let first = &created[0];
    let edited = update_draft(
        &app,
        token,
        &id_of(first),
        version_of(first),
        json!({ "lines": [line(&gadget, "11")] }),
    )
    .await;
    assert_eq!(
        decimal(&data(&edited)["updateOrderDraft"]["total"]["amount"]),
        dec("366.63"),
        "{}",
        pretty(&edited)
    );

    let without_lines = app
        .gql(
            "{ orders(first: 10) { nodes { id number total { amount currency } } } }",
            json!(null),
            Some(token),
        )
        .await;
    let with_lines = app
        .gql(
            "{ orders(first: 10) { nodes { id total { amount } lines { total { amount } } } } }",
            json!(null),
            Some(token),
        )
        .await;
    let through_a_fragment = app
        .gql(
            "query { orders(first: 10) { edges { node { ...Listed } } nodes { id total { amount } } } }
             fragment Listed on Order { id lines { total { amount } } }",
            json!(null),
            Some(token),
        )
        .await;
    let of_the_customer = app
        .gql(
            "query($id: ID!) { customer(id: $id) { orders(first: 10) { nodes { id total { amount } } } } }",
            json!({ "id": shop.customer_id }),
            Some(token),
        )
        .await;

    let full = listed_totals(&with_lines, &["orders"]);
    assert_eq!(full.len(), 3, "{}", pretty(&with_lines));
    let expected: Vec<(String, Decimal)> = full
        .iter()
        .map(|(id, total, lines)| {
            let lines = lines.as_ref().expect("lines were selected");
            assert_eq!(
                *total,
                lines.iter().sum::<Decimal>(),
                "the total is its lines' sum"
            );
            (id.clone(), *total)
        })
        .collect();
    assert_eq!(
        expected
            .iter()
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>(),
        created.iter().rev().map(id_of).collect::<Vec<_>>()
    );
    assert_eq!(expected[2].1, dec("366.63"));
    let without_lines_totals: Vec<(String, Decimal)> = listed_totals(&without_lines, &["orders"])
        .into_iter()
        .map(|(id, total, lines)| {
            assert_eq!(lines, None);
            (id, total)
        })
        .collect();
    assert_eq!(without_lines_totals, expected, "{}", pretty(&without_lines));
    let customer_totals: Vec<(String, Decimal)> =
        listed_totals(&of_the_customer, &["customer", "orders"])
            .into_iter()
            .map(|(id, total, _)| (id, total))
            .collect();
    assert_eq!(customer_totals, expected, "{}", pretty(&of_the_customer));
    // Lines selected in a fragment of `edges` are read, and match the direct selection's.
    let edges = data(&through_a_fragment)["orders"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("edges: {}", pretty(&through_a_fragment)))
        .iter()
        .map(|edge| {
            let lines = edge["node"]["lines"].as_array().expect("lines");
            lines
                .iter()
                .map(|l| decimal(&l["total"]["amount"]))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    assert_eq!(
        edges,
        full.iter()
            .map(|(_, _, lines)| lines.clone().unwrap())
            .collect::<Vec<_>>()
    );
}

/// The order fields a list reads only when they are selected (the order's details): each, asked
/// of a list alone or all together, is what `order(id)` says for every listed order.
async fn a_list_shows_each_orders_details_as_the_order_itself_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let token = &shop.rep.token;
    let input = |extra: Value| {
        let mut input = complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "2")]);
        for (key, value) in extra.as_object().expect("an object") {
            input[key] = value.clone();
        }
        input
    };
    // Notes and the customer's PO on a draft; a review finding (too soon for the lead time); a
    // confirmation with its promised date; a cancellation's reason.
    create_order(
        &app,
        token,
        input(json!({ "customerPo": "PO-4711", "notes": "Call the dock first" })),
    )
    .await;
    let too_soon = create_order(&app, token, input(json!({ "requestedDate": in_days(1) }))).await;
    submit(&app, token, &too_soon, "PENDING_APPROVAL").await;
    let approved = submit(
        &app,
        token,
        &create_order(&app, token, input(json!({}))).await,
        "APPROVED",
    )
    .await;
    order_in(
        &confirm_order(&app, token, &approved, "EMAIL").await,
        "confirmOrder",
    );
    let withdrawn = create_order(&app, token, input(json!({}))).await;
    move_order(
        &app,
        token,
        &withdrawn,
        "CANCELLED",
        Some("The customer withdrew"),
    )
    .await;

    let details = [
        "notes",
        "customerPo",
        "deliveryAddress",
        "cancelReason",
        "promisedDate",
        "atRisk",
        "confirmation { confirmedBy channel reference promisedDate }",
        "reviewFindings { code severity message }",
    ];
    let listed = |selection: String| {
        let app = &app;
        async move {
            let body = app
                .gql(
                    &format!("{{ orders(first: 10) {{ nodes {{ id {selection} }} }} }}"),
                    json!(null),
                    Some(token),
                )
                .await;
            let nodes = data(&body)["orders"]["nodes"]
                .as_array()
                .unwrap_or_else(|| panic!("no nodes: {}", pretty(&body)))
                .clone();
            assert_eq!(nodes.len(), 4, "{}", pretty(&body));
            nodes
        }
    };
    let all = details.join(" ");
    let together = listed(all.clone()).await;
    for node in &together {
        let body = app
            .gql(
                &format!("query($id: ID!) {{ order(id: $id) {{ id {all} }} }}"),
                json!({ "id": id_of(node) }),
                Some(token),
            )
            .await;
        assert_eq!(*node, data(&body)["order"], "{}", pretty(&body));
    }
    for detail in details {
        let alone = listed(detail.to_owned()).await;
        let field = detail.split(' ').next().expect("a field name");
        for (node, whole) in alone.iter().zip(&together) {
            assert_eq!(node["id"], whole["id"]);
            assert_eq!(node[field], whole[field], "{field} of {}", pretty(node));
        }
        if field != "atRisk" {
            assert!(
                together
                    .iter()
                    .any(|node| !node[field].is_null() && node[field] != json!([])),
                "no listed order has {field}: the comparison would prove nothing"
            );
        }
    }
    assert_eq!(together[0]["cancelReason"], "The customer withdrew");
    assert_eq!(together[3]["notes"], "Call the dock first");
}
