//! `analytics.exportCsv` through the API: the CSV text of a hand-built data set, byte for byte,
//! within the caller's scope; CUSTOMER users are refused and impossible periods rejected.

use chrono::{Datelike, Days, NaiveDate, Utc};
use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Backend, Role, TestApp, UserOptions, assert_error, data, spawn_app};

use crate::fixtures::{Shop, invoice_all, move_order, pay, text};

backend_tests!(an_export_holds_the_reports_figures_as_csv_for_the_callers_scope);

const EXPORT: &str =
    "query($report: AnalyticsReport!, $filter: AnalyticsFilter!, $groupBy: TimeBucket) {
  analytics { exportCsv(report: $report, filter: $filter, groupBy: $groupBy) }
}";

/// Yesterday, today and tomorrow (UTC): three whole days, the time base of DSO.
fn three_days() -> (NaiveDate, Value) {
    let today = Utc::now().date_naive();
    let from = today - Days::new(1);
    let to = today + Days::new(2);
    let midnight = |day: NaiveDate| format!("{day}T00:00:00Z");
    (today, json!({ "from": midnight(from), "to": midnight(to) }))
}

async fn export_raw(
    app: &TestApp,
    token: &str,
    report: &str,
    filter: &Value,
    group_by: Option<&str>,
) -> Value {
    let mut variables = json!({ "report": report, "filter": filter });
    // Left out rather than null, so that the argument's default applies.
    if let Some(group_by) = group_by {
        variables["groupBy"] = json!(group_by);
    }
    app.gql(EXPORT, variables, Some(token)).await
}

async fn export(
    app: &TestApp,
    token: &str,
    report: &str,
    filter: &Value,
    group_by: Option<&str>,
) -> String {
    let body = export_raw(app, token, report, filter, group_by).await;
    text(&data(&body)["analytics"]["exportCsv"])
}

async fn an_export_holds_the_reports_figures_as_csv_for_the_callers_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let shop = Shop::open(&app).await;
    let (other, _) = shop.other_rep(&app).await;
    // The rep, every order ten widgets at 120.00 = 1200.00 EUR: two CONFIRMED, one CANCELLED
    // after submission, one still a draft (no sale). The first confirmed one is invoiced, and
    // 200.00 of it paid.
    let first = shop.confirmed_order(&app).await;
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
    let (invoice_id, _) = invoice_all(&app, &shop.rep.token, &first).await;
    pay(&app, &shop.rep.token, &invoice_id, "200.00").await;
    let (today, period) = three_days();

    // By month: one bucket, the first of this month. 3 submitted orders, 3600.00, 1200.00 on
    // average; 2 open (2400.00), none fulfilled, 1 cancelled (1200.00).
    let month = today.with_day(1).expect("the first of the month");
    let expected = format!(
        "bucket_start,currency,orders,value,average_order_value,open_orders,open_value,\
         fulfilled_orders,fulfilled_value,cancelled_orders,cancelled_value\r\n\
         {month},EUR,3,3600.00,1200.00,2,2400.00,0,0.00,1,1200.00\r\n"
    );
    for token in [&shop.admin.token, &shop.manager.token, &shop.rep.token] {
        let csv = export(&app, token, "SALES_SUMMARY", &period, Some("MONTH")).await;
        assert_eq!(csv, expected);
    }
    // By day, the default: the bucket is today.
    let csv = export(&app, &shop.admin.token, "SALES_SUMMARY", &period, None).await;
    assert!(
        csv.ends_with(&format!(
            "\r\n{today},EUR,3,3600.00,1200.00,2,2400.00,0,0.00,1,1200.00\r\n"
        )),
        "{csv}"
    );
    // The other rep sees none of it: the header row alone.
    let csv = export(&app, &other.token, "SALES_SUMMARY", &period, Some("MONTH")).await;
    assert_eq!(csv.lines().count(), 1, "{csv}");

    // Receivables at the end of the period: 1200.00 invoiced, 200.00 collected, 1000.00 owed,
    // due in 30 days (current). DSO: 1000.00 / 1200.00 × 3 days = 2.5.
    let csv = export(&app, &shop.rep.token, "RECEIVABLES_AGING", &period, None).await;
    assert_eq!(
        csv,
        "currency,invoices,invoiced,payments,collected,open_invoices,outstanding,overdue,\
         current,days_1_30,days_31_60,days_61_90,over_90,dso_days\r\n\
         EUR,1,1200.00,1,200.00,1,1000.00,0.00,1000.00,0.00,0.00,0.00,0.00,2.5\r\n"
    );

    // Cycle times: two orders went from submitted to confirmed within seconds (0.00 hours);
    // no later stage was reached, so those medians are empty cells.
    let csv = export(&app, &shop.admin.token, "CYCLE_TIMES", &period, None).await;
    assert_eq!(
        csv,
        "stage,orders,median_hours,p90_hours\r\n\
         SUBMITTED_TO_CONFIRMED,2,0.00,0.00\r\n\
         CONFIRMED_TO_SHIPPED,0,,\r\n\
         SHIPPED_TO_DELIVERED,0,,\r\n\
         DELIVERED_TO_PAID,0,,\r\n"
    );
    // ...exactly what the field answers.
    let body = app
        .gql(
            "query($filter: AnalyticsFilter!) { analytics {
               cycleTimes(filter: $filter) { stage orders medianHours p90Hours } } }",
            json!({ "filter": period }),
            Some(&shop.admin.token),
        )
        .await;
    let first_stage = &data(&body)["analytics"]["cycleTimes"][0];
    assert_eq!(
        *first_stage,
        json!({ "stage": "SUBMITTED_TO_CONFIRMED", "orders": 2, "medianHours": "0.00",
                "p90Hours": "0.00" }),
        "{}",
        pretty(&body)
    );

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
    let refused = export_raw(&app, &buyer.token, "SALES_SUMMARY", &period, None).await;
    assert_error(&refused, "FORBIDDEN");

    // A backwards period and a malformed currency are bad input.
    let backwards = json!({ "from": period["to"], "to": period["from"] });
    let mut no_currency = period.clone();
    no_currency["currency"] = json!("EURO");
    for filter in [backwards, no_currency] {
        let body = export_raw(&app, &shop.admin.token, "RFM", &filter, None).await;
        assert_error(&body, "BAD_USER_INPUT");
    }
}
