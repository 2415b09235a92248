//! Analytics through the API: the sales summary counts submitted orders only, per currency and
//! status group, each staff member sees the orders of their scope, CUSTOMER users are refused,
//! and impossible periods are rejected.

use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Backend, Role, TestApp, UserOptions, assert_error, data, spawn_app};

use crate::fixtures::{Shop, move_order, submit};

backend_tests!(the_sales_summary_shows_each_staff_member_the_submitted_orders_they_may_see);

const SALES_SUMMARY: &str = "query($filter: AnalyticsFilter!, $groupBy: TimeBucket!) {
  analytics { salesSummary(filter: $filter, groupBy: $groupBy) {
    buckets { start currency total { orders value { amount currency } } }
    totals {
      start currency
      total { orders value { amount currency } averageOrderValue { amount currency } }
      open { orders value { amount } }
      fulfilled { orders value { amount } averageOrderValue { amount } }
      cancelled { orders value { amount } }
    }
    topCustomers { customerId customer { name } orders value { amount currency } }
    topProducts { productId product { sku } orders value { amount currency } }
  } }
}";

/// Yesterday to tomorrow: the orders of the scenario are all created now.
fn around_now() -> Value {
    let now = chrono::Utc::now();
    json!({
        "from": (now - chrono::Duration::days(1)).to_rfc3339(),
        "to": (now + chrono::Duration::days(1)).to_rfc3339(),
    })
}

async fn summary(app: &TestApp, token: &str, filter: Value) -> Value {
    let body = app
        .gql(
            SALES_SUMMARY,
            json!({ "filter": filter, "groupBy": "MONTH" }),
            Some(token),
        )
        .await;
    data(&body)["analytics"]["salesSummary"].clone()
}

/// `(orders, value)` of the period totals, which must be in EUR only.
fn eur_totals(summary: &Value) -> (i64, String) {
    let totals = summary["totals"].as_array().expect("totals");
    assert_eq!(totals.len(), 1, "{}", pretty(summary));
    assert_eq!(totals[0]["currency"], "EUR");
    (
        totals[0]["total"]["orders"].as_i64().unwrap(),
        totals[0]["total"]["value"]["amount"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

async fn the_sales_summary_shows_each_staff_member_the_submitted_orders_they_may_see(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other, globex) = shop.other_rep(&app).await;
    // Every order: ten widgets at 120.00 = 1200.00 EUR.
    // The rep: one APPROVED, one CONFIRMED, one CANCELLED after submission, one still a draft.
    shop.approved_order(&app).await;
    shop.confirmed_order(&app).await;
    let doomed = shop.approved_order(&app).await;
    move_order(
        &app,
        &shop.rep.token,
        &doomed,
        "CANCELLED",
        Some("duplicate"),
    )
    .await;
    shop.draft(&app).await;
    // The other rep (not in the manager's team): one APPROVED for Globex.
    let theirs = shop.draft_for(&app, &other, &globex).await;
    submit(&app, &other.token, &theirs, "APPROVED").await;

    // The admin sees 4 submitted orders (the draft is no sale): 4 x 1200.00 = 4800.00,
    // 3 open (3600.00) and 1 cancelled (1200.00); average 4800.00 / 4 = 1200.00.
    let all = summary(&app, &shop.admin.token, around_now()).await;
    assert_eq!(eur_totals(&all), (4, "4800.00".to_owned()));
    let totals = &all["totals"][0];
    assert_eq!(totals["total"]["averageOrderValue"]["amount"], "1200.00");
    assert_eq!(totals["open"]["orders"], 3);
    assert_eq!(totals["open"]["value"]["amount"], "3600.00");
    assert_eq!(totals["cancelled"]["orders"], 1);
    assert_eq!(totals["fulfilled"]["orders"], 0);
    assert_eq!(totals["fulfilled"]["value"]["amount"], "0.00");
    assert_eq!(totals["fulfilled"]["averageOrderValue"], Value::Null);
    let buckets = all["buckets"].as_array().unwrap();
    let bucketed: i64 = buckets
        .iter()
        .map(|b| b["total"]["orders"].as_i64().unwrap())
        .sum();
    assert_eq!(bucketed, 4, "{}", pretty(&all));
    // Acme: 3 orders (the cancelled one counts in the value), 3600.00; Globex 1200.00.
    assert_eq!(
        all["topCustomers"],
        json!([
            { "customerId": shop.customer_id, "customer": { "name": "Acme GmbH" }, "orders": 3,
              "value": { "amount": "3600.00", "currency": "EUR" } },
            { "customerId": globex, "customer": { "name": "Globex Ltd" }, "orders": 1,
              "value": { "amount": "1200.00", "currency": "EUR" } },
        ])
    );
    assert_eq!(
        all["topProducts"],
        json!([{ "productId": shop.product_id, "product": { "sku": "WIDGET-1" }, "orders": 4,
                 "value": { "amount": "4800.00", "currency": "EUR" } }])
    );

    // The rep and their manager: the rep's 3 submitted orders. The other rep: their 1.
    for token in [&shop.rep.token, &shop.manager.token] {
        let mine = summary(&app, token, around_now()).await;
        assert_eq!(eur_totals(&mine), (3, "3600.00".to_owned()));
    }
    let theirs = summary(&app, &other.token, around_now()).await;
    assert_eq!(eur_totals(&theirs), (1, "1200.00".to_owned()));
    // Filters narrow within the scope: the admin asking for the manager's team, or for Globex.
    let mut team = around_now();
    team["teamOf"] = json!(shop.manager.id);
    assert_eq!(
        eur_totals(&summary(&app, &shop.admin.token, team).await),
        (3, "3600.00".to_owned())
    );
    let mut of_globex = around_now();
    of_globex["customerId"] = json!(globex);
    assert_eq!(
        eur_totals(&summary(&app, &shop.admin.token, of_globex.clone()).await),
        (1, "1200.00".to_owned())
    );
    // ...and never beyond it: the rep asking for Globex sees nothing.
    let nothing = summary(&app, &shop.rep.token, of_globex).await;
    assert_eq!(nothing["totals"], json!([]));
    assert_eq!(nothing["topCustomers"], json!([]));

    // The pipeline now (1200.00 each): the draft; the rep's and the other rep's APPROVED
    // orders; the rep's CONFIRMED one. Submitted in the period: 4; confirmed since: 1 -> 0.25.
    // Review found nothing.
    let body = app
        .gql(
            "query($filter: AnalyticsFilter!) { analytics {
               pipeline(filter: $filter) {
                 openByStatus { status orders value { amount currency } }
                 submitted confirmed conversionRate reviewOutcomes { code }
               }
               cycleTimes(filter: $filter) { stage orders medianHours p90Hours }
               onTimeRate(filter: $filter) { delivered onTime late rate }
               exceptionPareto(filter: $filter) { kind rootCause exceptions }
             } }",
            json!({ "filter": around_now() }),
            Some(&shop.admin.token),
        )
        .await;
    let analytics = &data(&body)["analytics"];
    let eur = |amount: &str| json!({ "amount": amount, "currency": "EUR" });
    assert_eq!(
        analytics["pipeline"],
        json!({
            "openByStatus": [
                { "status": "DRAFT", "orders": 1, "value": eur("1200.00") },
                { "status": "APPROVED", "orders": 2, "value": eur("2400.00") },
                { "status": "CONFIRMED", "orders": 1, "value": eur("1200.00") },
            ],
            "submitted": 4, "confirmed": 1, "conversionRate": "0.25", "reviewOutcomes": [],
        }),
        "{}",
        pretty(analytics)
    );
    // One order finished a stage (submitted -> confirmed); nothing was delivered.
    let stages = analytics["cycleTimes"].as_array().unwrap();
    assert_eq!(stages.len(), 4);
    assert_eq!(stages[0]["stage"], "SUBMITTED_TO_CONFIRMED");
    assert_eq!(stages[0]["orders"], 1);
    assert_eq!(
        stages[3],
        json!({ "stage": "DELIVERED_TO_PAID", "orders": 0, "medianHours": null, "p90Hours": null })
    );
    assert_eq!(
        analytics["onTimeRate"],
        json!({ "delivered": 0, "onTime": 0, "late": 0, "rate": null })
    );
    assert_eq!(analytics["exceptionPareto"], json!([]));

    // A CUSTOMER user is refused.
    let buyer = app
        .add_user(
            "buyer@acme.example",
            Role::Customer,
            UserOptions {
                customer: Some(&shop.customer_id),
                ..UserOptions::default()
            },
        )
        .await;
    let vars = json!({ "filter": around_now(), "groupBy": "DAY" });
    let refused = app.gql(SALES_SUMMARY, vars, Some(&buyer.token)).await;
    assert_error(&refused, "FORBIDDEN");

    // Backwards and over-long periods are bad input.
    let now = chrono::Utc::now();
    let backwards =
        json!({ "from": now.to_rfc3339(), "to": (now - chrono::Duration::days(1)).to_rfc3339() });
    let four_years = json!({ "from": (now - chrono::Duration::days(4 * 365)).to_rfc3339(), "to": now.to_rfc3339() });
    for filter in [backwards, four_years] {
        let body = app
            .gql(
                SALES_SUMMARY,
                json!({ "filter": filter, "groupBy": "WEEK" }),
                Some(&shop.admin.token),
            )
            .await;
        assert_error(&body, "BAD_USER_INPUT");
    }
}
