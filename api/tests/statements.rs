//! DataLoaders keep list queries at a constant number of SQL statements, whatever the page size.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use api::graphql::build_schema;
use api::graphql::loaders::loaders;
use api::http::auth::{Auth, JwtKeys};
use api::service::limits::{LimitConfig, Limits};
use api::service::{EventHub, Services};
use async_graphql::Request;
use domain::UserId;
use domain::user::{Actor, Role};
use persistence::{Store, StoreOptions};

const LIST: &str = "query($first: Int!) { orders(first: $first) { nodes {
    number status total { amount currency }
    customer { name ownerRep { name } }
    salesRep { name manager { name } }
    lines { sku quantity total { amount } product { name listPrice { amount } } }
} } }";

/// A migrated SQLite store in a temp dir (optionally with the demo data) that counts the SQL
/// statements it executes from now on.
async fn counted_store(demo: bool) -> (tempfile::TempDir, Store, Statements) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let mut store = Store::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    if demo {
        assert!(api::seed::demo_if_empty(&store, 7).await.unwrap());
    }
    let through_sqlx = Arc::new(AtomicUsize::new(0));
    let seen = through_sqlx.clone();
    store.on_statement(move |sql| {
        if std::env::var_os("SHOW_SQL").is_some() {
            eprintln!("SQL: {}", &sql[..sql.len().min(120)]);
        }
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let counter = Statements {
        through_sqlx,
        store: store.clone(),
        inline_at_reset: Arc::default(),
    };
    (dir, store, counter)
}

/// SQL statements run since the last reset: through sqlx (the store's hook counts those) and
/// on the request's own thread (the store's inline reads of a SQLite file).
struct Statements {
    through_sqlx: Arc<AtomicUsize>,
    store: Store,
    inline_at_reset: Arc<AtomicUsize>,
}

impl Statements {
    fn reset(&self) {
        self.through_sqlx.store(0, Ordering::SeqCst);
        self.inline_at_reset.store(self.inline(), Ordering::SeqCst);
    }

    fn count(&self) -> usize {
        self.through_sqlx.load(Ordering::SeqCst) + self.inline()
            - self.inline_at_reset.load(Ordering::SeqCst)
    }

    fn inline(&self) -> usize {
        self.store.inline_reads().map_or(0, |(answered, failed)| {
            usize::try_from(answered + failed).unwrap()
        })
    }
}

/// The demo admin (user 1), who sees everything.
fn admin() -> Auth {
    Auth::User(Actor {
        user_id: UserId(1),
        role: Role::Admin,
        customer_id: None,
    })
}

fn schema(store: &Store) -> api::graphql::AppSchema {
    build_schema(
        Services {
            store: store.clone(),
            jwt: Arc::new(JwtKeys::from_secret(b"test-secret-test-secret")),
            hub: EventHub::new(16),
            token_ttl: chrono::Duration::hours(1),
            refresh_ttl: chrono::Duration::days(1),
            refresh_grace: chrono::Duration::seconds(30),
            limits: Arc::new(Limits::new(LimitConfig::default())),
            metrics: Arc::default(),
            review_policy: Arc::default(),
            stale_order_days: 14,
            feed_checks: Arc::new(tokio::sync::Semaphore::new(
                api::service::FEED_CHECKS_AT_ONCE,
            )),
        },
        false,
    )
}

/// Runs `query` as the admin with fresh loaders, asserts it answered without errors, and
/// returns its data.
async fn ask(
    schema: &api::graphql::AppSchema,
    store: &Store,
    query: &str,
    variables: serde_json::Value,
) -> serde_json::Value {
    let request = Request::new(query)
        .variables(async_graphql::Variables::from_json(variables))
        .data(admin())
        .data(loaders(store));
    let response = schema.execute(request).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    response.data.into_json().unwrap()
}

#[tokio::test]
async fn listing_fifty_orders_costs_the_same_statements_as_listing_five() {
    let (_dir, store, counter) = counted_store(true).await;
    let schema = schema(&store);
    let none = serde_json::Value::Null;

    let mut counts = Vec::new();
    for first in [5, 50] {
        counter.reset();
        let json = ask(&schema, &store, LIST, serde_json::json!({ "first": first })).await;
        assert_eq!(json["orders"]["nodes"].as_array().unwrap().len(), first);
        counts.push(counter.count());
    }
    // orders with their lines, customers, reps, products, then the customers' owners and the
    // reps' managers together: the same for any page (without loaders, 50 orders would take
    // 50 x 4 statements), and not at the mercy of how the resolvers' timing splits loader
    // batches.
    assert_eq!(counts, [5, 5], "statements for 5 and 50 orders");

    // A page that selects no customer, rep or product reads none: the orders, whose lines come
    // in the same statement.
    counter.reset();
    let numbers = "{ orders(first: 50) { edges { node { number total { amount } } } } }";
    ask(&schema, &store, numbers, none.clone()).await;
    assert_eq!(counter.count(), 1, "orders with their lines");
    // Customers through `edges { node }` are primed like through `nodes`: one batch.
    counter.reset();
    let customers = "{ orders(first: 50) { edges { node { customer { name } } } } }";
    ask(&schema, &store, customers, none).await;
    assert_eq!(counter.count(), 2, "orders with their lines, customers");
}

/// The hottest read: one order with its lines, customer and rep, and the check of who may see
/// it, all from one statement, made on the request's own thread.
#[tokio::test]
async fn one_order_with_its_customer_and_rep_is_one_statement() {
    let (_dir, store, counter) = counted_store(true).await;
    let schema = schema(&store);
    let first = "{ orders(first: 1) { nodes { id } } }";
    let listed = ask(&schema, &store, first, serde_json::Value::Null).await;
    let id = listed["orders"]["nodes"][0]["id"].clone();

    counter.reset();
    let inline_before = store.inline_reads().expect("a SQLite file is read inline");
    let order = "query($id: ID!) { order(id: $id) { number lines { sku } \
                 customer { name } salesRep { name } } }";
    let json = ask(&schema, &store, order, serde_json::json!({ "id": id })).await;
    assert!(
        !json["order"]["customer"]["name"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert!(
        !json["order"]["salesRep"]["name"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert!(!json["order"]["lines"].as_array().unwrap().is_empty());
    // The one statement ran on the request's own thread, not through sqlx.
    let (answered, failed) = store.inline_reads().unwrap();
    assert_eq!(
        (
            counter.count(),
            answered - inline_before.0,
            failed - inline_before.1
        ),
        (1, 1, 0),
        "one statement, read inline"
    );
}

#[tokio::test]
async fn too_deep_and_too_complex_queries_are_refused_before_any_statement_runs() {
    let (_dir, store, counter) = counted_store(false).await;
    let schema = schema(&store);
    let admin = admin();
    let deep = "{ orders(first: 1) { nodes { customer { orders(first: 1) { nodes { customer { orders(first: 1) { nodes { customer { orders(first: 1) { nodes { id } } } } } } } } } } } }";
    let wide = format!(
        "{{ {} }}",
        (0..800)
            .map(|i| format!("a{i}: me {{ id name }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (query, code) in [
        (deep.to_owned(), "QUERY_TOO_DEEP"),
        (wide, "QUERY_TOO_COMPLEX"),
    ] {
        let request = Request::new(query)
            .data(admin.clone())
            .data(loaders(&store));
        let response = api::http::endpoint::execute_caught(&schema, request).await;
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["errors"][0]["extensions"]["code"], code, "{json}");
        assert_eq!(
            counter.count(),
            0,
            "no statement may run for a refused query"
        );
    }
}

/// A dashboard asks many KPIs of one period in one request: the rows two reports share are
/// read once, and each report answers exactly what it answers alone.
#[tokio::test]
async fn reports_in_one_request_read_the_rows_they_share_once() {
    let (_dir, store, counter) = counted_store(true).await;
    let schema = schema(&store);
    let admin = admin();
    let aging = "receivablesAging(filter: $f) { currencies { currency invoiced { amount } \
                 collected { amount } outstanding { amount } over90 { amount } dsoDays } }";
    let cards = "repScorecards(filter: $f) { salesRepId collectionRate \
                 receivables { currency outstanding { amount } dsoDays } }";
    let run = |selection: String, filters: serde_json::Value| {
        let (schema, admin, store, counter) = (&schema, admin.clone(), &store, &counter);
        async move {
            counter.reset();
            // Only the variables the selection uses: an unused one is a validation error.
            let declared = ["f", "g"]
                .iter()
                .filter(|v| selection.contains(&format!("${v}")))
                .map(|v| format!("${v}: AnalyticsFilter!"))
                .collect::<Vec<_>>()
                .join(", ");
            let request = Request::new(format!(
                "query({declared}) {{ analytics {{ {selection} }} }}"
            ))
            .variables(async_graphql::Variables::from_json(filters))
            .data(admin)
            .data(loaders(store));
            let response = schema.execute(request).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            let json = response.data.into_json().unwrap();
            (json["analytics"].clone(), counter.count())
        }
    };
    let year = serde_json::json!({ "from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z" });
    let half = serde_json::json!({ "from": "2026-07-01T00:00:00Z", "to": "2027-01-01T00:00:00Z" });
    let same = serde_json::json!({ "f": year });

    let (alone_aging, aging_statements) = run(aging.to_owned(), same.clone()).await;
    let (alone_cards, cards_statements) = run(cards.to_owned(), same.clone()).await;
    assert!(
        !alone_cards["repScorecards"].as_array().unwrap().is_empty(),
        "the demo data has scorecards: {alone_cards}"
    );
    let (both, both_statements) = run(format!("{aging} {cards}"), same).await;
    assert_eq!(both["receivablesAging"], alone_aging["receivablesAging"]);
    assert_eq!(both["repScorecards"], alone_cards["repScorecards"]);
    // Everything receivablesAging reads, the scorecards read too.
    assert_eq!(both_statements, cards_statements);
    assert!(aging_statements > 0);

    // Another period is other rows: nothing shared.
    let other = aging.replace("$f", "$g");
    let (_, split_statements) = run(
        format!("{other} {cards}"),
        serde_json::json!({ "f": year, "g": half }),
    )
    .await;
    assert_eq!(split_statements, aging_statements + cards_statements);
}
