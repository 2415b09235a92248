//! Who sees which orders: a rep their own, a manager their team's, a customer their company's;
//! an order the caller may not see is NOT_FOUND, as if it did not exist.

use std::collections::HashSet;

use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Backend, Role, TestApp, UserOptions, assert_error, data, spawn_app};

use crate::fixtures::{
    Shop, all_order_ids, complete_order_input, create_order_raw, fetch_order, fetch_order_raw,
    id_of, line, submit, transition, unique, version_of,
};

backend_tests!(
    a_sales_rep_cannot_see_another_reps_orders,
    a_manager_sees_the_orders_of_their_team_and_no_others,
    a_customer_sees_only_its_own_orders_and_may_only_confirm_them_through_the_portal,
);

async fn a_sales_rep_cannot_see_another_reps_orders(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let mine = shop.draft(&app).await;
    let theirs = shop.draft_for(&app, &other_rep, &other_customer).await;

    assert_error(
        &fetch_order_raw(&app, &shop.rep.token, &id_of(&theirs)).await,
        "NOT_FOUND",
    );
    let body = transition(
        &app,
        &shop.rep.token,
        &id_of(&theirs),
        version_of(&theirs),
        "CANCELLED",
        Some("mine now"),
    )
    .await;
    assert_error(&body, "NOT_FOUND");
    let body = app
        .gql(
            "query($id: ID!) { customer(id: $id) { id name } }",
            json!({ "id": other_customer }),
            shop.rep.token(),
        )
        .await;
    assert_error(&body, "NOT_FOUND");

    assert_eq!(
        unique(&all_order_ids(&app, &shop.rep.token, json!(null)).await),
        set([id_of(&mine)])
    );
    let filtered = all_order_ids(
        &app,
        &shop.rep.token,
        json!({ "customerId": other_customer }),
    )
    .await;
    assert!(
        filtered.is_empty(),
        "a filter does not widen what a rep sees: {filtered:?}"
    );
    // The other order is there, and untouched.
    assert_eq!(
        unique(&all_order_ids(&app, &shop.admin.token, json!(null)).await),
        set([id_of(&mine), id_of(&theirs)])
    );
    assert_eq!(
        fetch_order(&app, &other_rep.token, &id_of(&theirs)).await["status"],
        "DRAFT"
    );
}

async fn a_manager_sees_the_orders_of_their_team_and_no_others(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    // The other rep reports to nobody, so is not on the manager's team.
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let team_order = shop.draft(&app).await;
    let other_order = shop.draft_for(&app, &other_rep, &other_customer).await;

    let seen = fetch_order(&app, &shop.manager.token, &id_of(&team_order)).await;
    assert_eq!(seen["salesRep"]["id"], shop.rep.id.as_str());
    assert_error(
        &fetch_order_raw(&app, &shop.manager.token, &id_of(&other_order)).await,
        "NOT_FOUND",
    );
    assert_eq!(
        unique(&all_order_ids(&app, &shop.manager.token, json!(null)).await),
        set([id_of(&team_order)])
    );
    assert_eq!(
        unique(
            &all_order_ids(
                &app,
                &shop.manager.token,
                json!({ "salesRepId": shop.rep.id })
            )
            .await
        ),
        set([id_of(&team_order)])
    );
}

async fn a_customer_sees_only_its_own_orders_and_may_only_confirm_them_through_the_portal(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other_rep, other_customer) = shop.other_rep(&app).await;
    let first = shop.draft(&app).await;
    let second = shop.draft(&app).await;
    let theirs = shop.draft_for(&app, &other_rep, &other_customer).await;
    let buyer = app
        .add_user(
            "ana.buyer@acme.example",
            Role::Customer,
            UserOptions {
                customer: Some(&shop.customer_id),
                ..UserOptions::default()
            },
        )
        .await;

    assert_eq!(
        data(&customer_view(&app, &buyer.token, &id_of(&first)).await)["order"]["customer"]["id"],
        shop.customer_id.as_str()
    );
    assert_error(
        &customer_view(&app, &buyer.token, &id_of(&theirs)).await,
        "NOT_FOUND",
    );
    let listed = app
        .gql(
            "{ orders(first: 100) { nodes { id } } }",
            json!({}),
            buyer.token(),
        )
        .await;
    let listed: Vec<String> = data(&listed)["orders"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(unique(&listed), set([id_of(&first), id_of(&second)]));

    // A customer moves nothing and creates nothing ...
    let body = transition(
        &app,
        &buyer.token,
        &id_of(&first),
        version_of(&first),
        "CANCELLED",
        Some("we changed our minds"),
    )
    .await;
    assert_error(&body, "FORBIDDEN");
    let body = create_order_raw(
        &app,
        &buyer.token,
        complete_order_input(&shop.customer_id, vec![line(&shop.product_id, "1")]),
        None,
    )
    .await;
    assert_error(&body, "FORBIDDEN");
    assert_eq!(
        data(&customer_view(&app, &buyer.token, &id_of(&first)).await)["order"]["status"],
        "DRAFT"
    );

    // ... but confirms its approved order, through the portal only.
    let approved = submit(&app, &shop.rep.token, &first, "APPROVED").await;
    assert_error(
        &portal_confirm(&app, &buyer.token, &approved, "EMAIL").await,
        "FORBIDDEN",
    );
    let body = portal_confirm(&app, &buyer.token, &approved, "PORTAL").await;
    let confirmed = &data(&body)["confirmOrder"];
    assert_eq!(confirmed["status"], "CONFIRMED", "{}", pretty(&body));
    assert_eq!(confirmed["confirmation"]["channel"], "PORTAL");
    assert_eq!(confirmed["version"], version_of(&approved) + 1);

    let body = transition(
        &app,
        &buyer.token,
        &id_of(&approved),
        version_of(&approved) + 1,
        "IN_PRODUCTION",
        None,
    )
    .await;
    assert_error(&body, "FORBIDDEN");

    // Another company's approved order is invisible, so not found.
    let theirs_approved = submit(&app, &other_rep.token, &theirs, "APPROVED").await;
    assert_error(
        &portal_confirm(&app, &buyer.token, &theirs_approved, "PORTAL").await,
        "NOT_FOUND",
    );
}

/// An order as a customer sees it; customers get a narrower view (no internal notes), so ask
/// for little.
async fn customer_view(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql(
        "query($id: ID!) { order(id: $id) { id status version customer { id } } }",
        json!({ "id": id }),
        Some(token),
    )
    .await
}

/// `confirmOrder` as the customer sees it, through `channel`.
async fn portal_confirm(app: &TestApp, token: &str, order: &Value, channel: &str) -> Value {
    app.gql(
        "mutation($id: ID!, $v: Int!, $confirmation: ConfirmationInput!) {
           confirmOrder(id: $id, expectedVersion: $v, confirmation: $confirmation) {
             id status version confirmation { confirmedBy channel }
           }
         }",
        json!({
            "id": id_of(order),
            "v": version_of(order),
            "confirmation": {
                "confirmedBy": "Ana Buyer",
                "channel": channel,
            },
        }),
        Some(token),
    )
    .await
}

fn set<const N: usize>(ids: [String; N]) -> HashSet<String> {
    ids.into_iter().collect()
}
