//! Analytics through the API: the sales summary counts submitted orders only, per currency and
//! status group, each staff member sees the orders of their scope, CUSTOMER users are refused,
//! and impossible periods are rejected.

use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Backend, Role, TestApp, UserOptions, assert_error, data, spawn_app};

use crate::fixtures::{
    Shop, confirm_order, dec, decimal, id_of, invoice_all, move_order, order_in, pay, submit,
    version_of,
};

backend_tests!(
    the_sales_summary_shows_each_staff_member_the_submitted_orders_they_may_see,
    cash_quality_customer_and_rep_kpis_add_up_the_ledger_each_user_may_see,
);

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

const CASH_KPIS: &str = "query($filter: AnalyticsFilter!) { analytics {
  receivablesAging(filter: $filter) {
    asOf periodDays
    currencies {
      currency invoices invoiced { amount } payments collected { amount } openInvoices
      outstanding { amount } overdue { amount } current { amount } days1To30 { amount }
      days31To60 { amount } days61To90 { amount } over90 { amount } dsoDays
    }
  }
  qualityRates(filter: $filter) {
    rates {
      orders ordersWithChangeRequests changeRequests changeRequestRate
      ordersWithExceptions exceptions exceptionRate
    }
    costImpact { amount currency } delayDays
  }
  paymentBehaviour(filter: $filter) {
    overall { invoicesPaid paidOnTime averageDaysLate onTimeShare }
    customers { customerId customer { name } figures { invoicesPaid paidOnTime } }
  }
  rfm(filter: $filter) {
    segments { segment customers value { amount currency } }
    customers { customerId recencyDays orders value { amount } recencyScore frequencyScore monetaryScore segment }
  }
  lapsedCustomers(filter: $filter) { customerId customer { name } orders lapseFactor }
  repScorecards(filter: $filter) {
    salesRepId salesRep { email }
    sales { orders value { amount currency } }
    quality { orders changeRequestRate exceptionRate }
    invoicesDue invoicesCollected collectionRate
    payments { invoicesPaid }
    receivables { currency invoiced { amount } outstanding { amount } dsoDays }
  }
} }";

async fn cash_kpis(app: &TestApp, token: &str) -> Value {
    let body = app
        .gql(CASH_KPIS, json!({ "filter": around_now() }), Some(token))
        .await;
    data(&body)["analytics"].clone()
}

async fn cash_quality_customer_and_rep_kpis_add_up_the_ledger_each_user_may_see(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other, globex) = shop.other_rep(&app).await;
    // Three confirmed orders of 1200.00 EUR, all invoiced today on NET_30 (due in 30 days):
    // O1 and O2 (the rep's, Acme) and G (the other rep's, Globex).
    let o1 = shop.confirmed_order(&app).await;
    let o2 = shop.confirmed_order(&app).await;
    let g = shop.draft_for(&app, &other, &globex).await;
    let g = submit(&app, &other.token, &g, "APPROVED").await;
    let g = order_in(
        &confirm_order(&app, &other.token, &g, "PHONE").await,
        "confirmOrder",
    );
    let (i1, o1) = invoice_all(&app, &shop.rep.token, &o1).await;
    let (i2, o2) = invoice_all(&app, &shop.rep.token, &o2).await;
    invoice_all(&app, &other.token, &g).await;
    // 500.00 on I1; I2 paid in full (before its due date).
    pay(&app, &shop.rep.token, &i1, "500.00").await;
    pay(&app, &shop.rep.token, &i2, "1200.00").await;
    // An exception on O1 (50.00, 2 days) and a change request on O2.
    let o1 = crate::fixtures::fetch_order(&app, &shop.rep.token, &id_of(&o1)).await;
    let body = app
        .gql(
            "mutation($id: ID!, $v: Int!, $input: RaiseExceptionInput!) {
               raiseException(orderId: $id, expectedVersion: $v, input: $input) { exception { id } }
             }",
            json!({ "id": id_of(&o1), "v": version_of(&o1), "input": {
                "kind": "QUALITY", "severity": "LOW", "description": "scratched",
                "costImpact": "50.00", "delayDays": 2 } }),
            Some(&shop.rep.token),
        )
        .await;
    data(&body);
    let o2_now = crate::fixtures::fetch_order(&app, &shop.rep.token, &id_of(&o2)).await;
    let body = app
        .gql(
            "mutation($id: ID!, $v: Int!, $change: OrderChangeInput!) {
               requestOrderChange(orderId: $id, expectedVersion: $v, change: $change, reason: \"new site\") {
                 changeRequest { id }
               }
             }",
            json!({ "id": id_of(&o2), "v": version_of(&o2_now),
                    "change": { "deliveryAddress": "Kaiserdamm 2, 14057 Berlin" } }),
            Some(&shop.rep.token),
        )
        .await;
    data(&body);

    let all = cash_kpis(&app, &shop.admin.token).await;
    // Yesterday to tomorrow: 3 days, aged to tomorrow. Invoiced 3 x 1200.00; collected 500.00
    // + 1200.00; owed 700.00 (I1) + 1200.00 (G), not yet due. DSO 1900 / 3600 x 3 = 1.58 -> 1.6.
    let aging = &all["receivablesAging"];
    assert_eq!(aging["periodDays"], 3);
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    assert_eq!(aging["asOf"], tomorrow.to_string());
    let eur = &aging["currencies"][0];
    assert_eq!(
        aging["currencies"].as_array().unwrap().len(),
        1,
        "{}",
        pretty(aging)
    );
    assert_eq!(eur["currency"], "EUR");
    assert_eq!(
        (eur["invoices"].as_i64(), eur["payments"].as_i64()),
        (Some(3), Some(2))
    );
    let amount = |v: &Value| decimal(&v["amount"]);
    assert_eq!(amount(&eur["invoiced"]), dec("3600"));
    assert_eq!(amount(&eur["collected"]), dec("1700"));
    assert_eq!(eur["openInvoices"], 2);
    assert_eq!(amount(&eur["outstanding"]), dec("1900"));
    assert_eq!(amount(&eur["current"]), dec("1900"));
    assert_eq!(amount(&eur["overdue"]), dec("0"));
    assert_eq!(amount(&eur["over90"]), dec("0"));
    assert_eq!(decimal(&eur["dsoDays"]), dec("1.6"));

    // Quality over the period's 3 orders: one changed (O2), one with an exception (O1).
    let quality = &all["qualityRates"];
    assert_eq!(quality["rates"]["orders"], 3);
    assert_eq!(quality["rates"]["changeRequests"], 1);
    assert_eq!(
        decimal(&quality["rates"]["changeRequestRate"]),
        dec("0.3333")
    );
    assert_eq!(decimal(&quality["rates"]["exceptionRate"]), dec("0.3333"));
    assert_eq!(
        quality["costImpact"],
        json!([{ "amount": "50.00", "currency": "EUR" }])
    );
    assert_eq!(quality["delayDays"], 2);

    // I2 is the only invoice settled: on time.
    let payments = &all["paymentBehaviour"];
    assert_eq!(payments["overall"]["invoicesPaid"], 1);
    assert_eq!(payments["overall"]["paidOnTime"], 1);
    assert_eq!(decimal(&payments["overall"]["averageDaysLate"]), dec("0"));
    assert_eq!(decimal(&payments["overall"]["onTimeShare"]), dec("1"));
    assert_eq!(payments["customers"][0]["customer"]["name"], "Acme GmbH");

    // RFM: Acme (2 orders, 2400.00) and Globex (1, 1200.00) both ordered today, so both top
    // the recency score; Acme tops frequency and value (5), Globex is at least as good as half
    // of the two (5 x 1 / 2 -> 3). Acme: champion; Globex: R 5, F 3 -> loyal.
    let rfm = &all["rfm"];
    assert_eq!(
        rfm["segments"],
        json!([
            { "segment": "CHAMPIONS", "customers": 1, "value": { "amount": "2400.00", "currency": "EUR" } },
            { "segment": "LOYAL", "customers": 1, "value": { "amount": "1200.00", "currency": "EUR" } },
        ]),
        "{}",
        pretty(rfm)
    );
    let acme = &rfm["customers"][0];
    assert_eq!(acme["customerId"], shop.customer_id);
    assert_eq!(
        (
            acme["recencyScore"].as_i64(),
            acme["frequencyScore"].as_i64(),
            acme["monetaryScore"].as_i64()
        ),
        (Some(5), Some(5), Some(5))
    );
    assert_eq!(rfm["customers"][1]["frequencyScore"], 3);
    // Acme's two orders came seconds apart; a day later that rhythm has lapsed. Globex has
    // one order: no rhythm yet.
    let lapsed = all["lapsedCustomers"].as_array().unwrap();
    assert_eq!(lapsed.len(), 1, "{}", pretty(&all["lapsedCustomers"]));
    assert_eq!(lapsed[0]["customer"]["name"], "Acme GmbH");
    assert_eq!(lapsed[0]["orders"], 2);
    assert!(decimal(&lapsed[0]["lapseFactor"]) > dec("2"));

    // Scorecards, by rep id: the rep (2 orders, 2400.00; 1 of 2 changed, 1 of 2 with an
    // exception; owes 700.00 of 2400.00 over 3 days -> DSO 0.875 -> 0.9) and the other rep
    // (1200.00 owed of 1200.00 -> 3). Nothing fell due yet: no collection rate.
    let cards = all["repScorecards"].as_array().unwrap();
    assert_eq!(cards.len(), 2, "{}", pretty(&all["repScorecards"]));
    let rep = &cards[0];
    assert_eq!(rep["salesRepId"], shop.rep.id);
    assert_eq!(
        rep["sales"],
        json!([{ "orders": 2, "value": { "amount": "2400.00", "currency": "EUR" } }])
    );
    assert_eq!(decimal(&rep["quality"]["changeRequestRate"]), dec("0.5"));
    assert_eq!(decimal(&rep["quality"]["exceptionRate"]), dec("0.5"));
    assert_eq!(
        (rep["invoicesDue"].as_i64(), rep["collectionRate"].clone()),
        (Some(0), Value::Null)
    );
    assert_eq!(rep["payments"]["invoicesPaid"], 1);
    assert_eq!(decimal(&rep["receivables"][0]["dsoDays"]), dec("0.9"));
    let theirs = &cards[1];
    assert_eq!(theirs["salesRepId"], other.id);
    assert_eq!(
        amount(&theirs["receivables"][0]["outstanding"]),
        dec("1200")
    );
    assert_eq!(decimal(&theirs["receivables"][0]["dsoDays"]), dec("3"));

    // The rep and their manager see the rep's card and ledger only; the other rep theirs.
    for token in [&shop.rep.token, &shop.manager.token] {
        let mine = cash_kpis(&app, token).await;
        let cards = mine["repScorecards"].as_array().unwrap();
        assert_eq!(cards.len(), 1);
        assert_eq!(cards[0]["salesRepId"], shop.rep.id);
        let eur = &mine["receivablesAging"]["currencies"][0];
        assert_eq!(amount(&eur["invoiced"]), dec("2400"));
        assert_eq!(amount(&eur["outstanding"]), dec("700"));
        assert_eq!(mine["qualityRates"]["rates"]["orders"], 2);
    }
    let theirs = cash_kpis(&app, &other.token).await;
    assert_eq!(theirs["repScorecards"][0]["salesRepId"], other.id);
    assert_eq!(theirs["paymentBehaviour"]["overall"]["invoicesPaid"], 0);
    assert_eq!(
        theirs["paymentBehaviour"]["overall"]["averageDaysLate"],
        Value::Null
    );

    // Lists are bounded: `first` outside 0..=1000 is bad input.
    let body = app
        .gql(
            "query($filter: AnalyticsFilter!) { analytics { rfm(filter: $filter, first: 5000) { customers { customerId } } } }",
            json!({ "filter": around_now() }),
            Some(&shop.admin.token),
        )
        .await;
    assert_error(&body, "BAD_USER_INPUT");
}
