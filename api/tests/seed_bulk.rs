//! `orderdesk seed --orders N`: the scale data set is reproducible from its seed, reads back
//! through the normal repositories, and leaves the counters where the live server continues.
//! Runs on SQLite, and on PostgreSQL too when `TEST_POSTGRES_URL` is set.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use api::cli::{DbArgs, SeedArgs};
use chrono::{DateTime, Utc};
use domain::event::OrderEventKind;
use domain::lifecycle::{OrderStatus, PaymentStatus};
use domain::order::{NewOrder, Order};
use domain::ports::{EventLog, OrderRepository, SettlementRepository};
use domain::{OrderId, UserId};
use persistence::{Store, StoreOptions};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, Database, Statement};

const ORDERS: u64 = 2_000;

/// A database for one test: a SQLite file, or a fresh PostgreSQL database (dropped at the end).
struct TestDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    async fn create(postgres: bool) -> Option<Self> {
        if !postgres {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("seed.db").display());
            return Some(TestDb {
                url,
                _dir: Some(dir),
                postgres: None,
            });
        }
        let server = std::env::var("TEST_POSTGRES_URL")
            .ok()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())?;
        let name = format!("od_seed_{:016x}", rand::random::<u64>());
        let conn = Database::connect(server.as_str())
            .await
            .expect("PostgreSQL");
        conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create database");
        let _ = conn.close().await;
        let (base, _) = server.rsplit_once('/').expect("a URL with a database");
        Some(TestDb {
            url: format!("{base}/{name}"),
            _dir: None,
            postgres: Some((server, name)),
        })
    }

    async fn drop_database(&self) {
        if let Some((server, name)) = &self.postgres {
            let conn = Database::connect(server.as_str())
                .await
                .expect("PostgreSQL");
            let _ = conn
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
            let _ = conn.close().await;
        }
    }
}

async fn seed(url: &str, seed: u64) {
    api::seed::run(SeedArgs {
        db: DbArgs {
            url: url.to_owned(),
            sqlite_synchronous: "full".into(),
            sqlite_inline_reads: "on".into(),
            sqlite_inline_writes: "on".into(),
            db_max_connections: 4,
            db_statement_timeout_ms: 0,
            db_connect_retry_secs: 0,
        },
        demo: false,
        orders: Some(ORDERS),
        until: "2026-11-01T00:00:00Z".into(),
        seed,
    })
    .await
    .expect("seed");
}

async fn store(url: &str) -> Store {
    Store::connect(url, &StoreOptions::default())
        .await
        .expect("connect")
}

/// Rows of a raw query as `i64` columns (NULL as `None`).
async fn rows(store_url: &str, sql: &str, columns: &[&str]) -> Vec<Vec<Option<i64>>> {
    let conn = Database::connect(store_url).await.expect("connect");
    let backend = conn.get_database_backend();
    let result = conn
        .query_all_raw(Statement::from_string(backend, sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let out = result
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| row.try_get::<Option<i64>>("", c).expect(c))
                .collect()
        })
        .collect();
    let _ = conn.close().await;
    out
}

/// Everything the seed produced that must be reproducible: every order with its lines, every
/// event, every invoice and payment, as the repositories return them.
struct Loaded {
    orders: Vec<Order>,
    events: Vec<domain::event::StoredEvent>,
    invoices: Vec<domain::settlement::Invoice>,
    payments: Vec<domain::settlement::Payment>,
}

async fn load(store: &Store) -> Loaded {
    let last = store.last_seq().await.unwrap();
    let events = store
        .events_after(0, u32::try_from(last).unwrap() + 1)
        .await
        .unwrap();
    assert_eq!(events.len() as i64, last, "the event sequence has no gaps");
    let mut ids: Vec<OrderId> = events.iter().map(|e| e.order_id).collect();
    ids.sort();
    ids.dedup();
    let mut orders = store.orders_by_ids(&ids).await.unwrap();
    orders.sort_by_key(|o| o.id);
    let mut invoices = Vec::new();
    for order in &orders {
        invoices.extend(store.invoices_of_order(order.id).await.unwrap());
    }
    let invoice_ids: Vec<i64> = invoices.iter().map(|i| i.id).collect();
    let mut payments = store.payments_of_invoices(&invoice_ids).await.unwrap();
    payments.sort_by_key(|p| p.id);
    Loaded {
        orders,
        events,
        invoices,
        payments,
    }
}

fn digest(loaded: &Loaded) -> u64 {
    let mut hasher = DefaultHasher::new();
    format!(
        "{:?}{:?}{:?}{:?}",
        loaded.orders, loaded.events, loaded.invoices, loaded.payments
    )
    .hash(&mut hasher);
    hasher.finish()
}

async fn the_scale_seed_is_reproducible_valid_and_continuable(postgres: bool) {
    let Some(first) = TestDb::create(postgres).await else {
        eprintln!("note: TEST_POSTGRES_URL is not set; the PostgreSQL variant did not run");
        return;
    };
    let second = TestDb::create(postgres).await.unwrap();
    let other = TestDb::create(postgres).await.unwrap();
    seed(&first.url, 42).await;
    seed(&second.url, 42).await;
    seed(&other.url, 43).await;
    let (a, b, c) = (
        store(&first.url).await,
        store(&second.url).await,
        store(&other.url).await,
    );
    let loaded = load(&a).await;
    let (same, different) = (load(&b).await, load(&c).await);
    assert_eq!(
        digest(&loaded),
        digest(&same),
        "the same seed gives the same data"
    );
    assert_ne!(
        digest(&loaded),
        digest(&different),
        "another seed gives other data"
    );
    b.close().await;
    c.close().await;

    // The demo's 200 orders and the generated ones, all readable.
    assert_eq!(loaded.orders.len() as u64, ORDERS + 200);
    let mut by_status: HashMap<OrderStatus, usize> = HashMap::new();
    for order in &loaded.orders {
        *by_status.entry(order.status).or_default() += 1;
    }
    let share = |s: OrderStatus| by_status.get(&s).copied().unwrap_or(0) as f64 / ORDERS as f64;
    assert!(share(OrderStatus::Completed) > 0.6, "{by_status:?}");
    assert!(share(OrderStatus::Cancelled) > 0.01, "{by_status:?}");
    let open: usize = [
        OrderStatus::Draft,
        OrderStatus::PendingApproval,
        OrderStatus::Approved,
        OrderStatus::Confirmed,
        OrderStatus::InProduction,
        OrderStatus::ReadyToShip,
        OrderStatus::Shipped,
    ]
    .iter()
    .map(|s| by_status.get(s).copied().unwrap_or(0))
    .sum();
    assert!(open > 20, "a pipeline of open orders: {by_status:?}");
    let lines: usize = loaded.orders.iter().map(|o| o.content.lines.len()).sum();
    assert!(
        lines as f64 / loaded.orders.len() as f64 > 3.0,
        "about 4 lines per order"
    );

    // Each order's creation event carries the total of its lines, and the stored total column
    // equals the sum of the stored line totals.
    let mut events_of: HashMap<OrderId, Vec<&domain::event::StoredEvent>> = HashMap::new();
    for event in &loaded.events {
        events_of.entry(event.order_id).or_default().push(event);
    }
    for order in &loaded.orders {
        let events = &events_of[&order.id];
        let OrderEventKind::OrderCreated { total, number, .. } = &events[0].kind else {
            panic!("{} does not start with OrderCreated", order.number);
        };
        assert_eq!(number, &order.number);
        let lines: Decimal = order
            .content
            .lines
            .iter()
            .map(|l| l.total(order.currency))
            .sum();
        assert_eq!(*total, lines, "{}", order.number);
        assert_eq!(
            events.last().unwrap().order_version,
            order.version,
            "{}: the last event is at the order's version",
            order.number
        );
        assert!(
            events.windows(2).all(|w| w[0].at <= w[1].at),
            "{}: events in time order",
            order.number
        );
    }
    let mismatched = rows(
        &first.url,
        "SELECT o.id AS id FROM orders o JOIN order_lines l ON l.order_id = o.id \
         GROUP BY o.id, o.total_e4 HAVING o.total_e4 <> SUM(l.total_e4)",
        &["id"],
    )
    .await;
    assert!(
        mismatched.is_empty(),
        "orders whose total is not their lines: {mismatched:?}"
    );

    // The milestone columns are the first event of each milestone.
    let micros = |at: DateTime<Utc>| Some(at.timestamp_micros());
    let columns = rows(
        &first.url,
        "SELECT id, submitted_at, confirmed_at, shipped_at, delivered_at, paid_at FROM orders",
        &[
            "id",
            "submitted_at",
            "confirmed_at",
            "shipped_at",
            "delivered_at",
            "paid_at",
        ],
    )
    .await;
    assert_eq!(columns.len(), loaded.orders.len());
    for row in columns {
        let id = OrderId(row[0].unwrap());
        let first_at = |wanted: &dyn Fn(&OrderEventKind) -> bool| {
            events_of[&id]
                .iter()
                .find(|e| wanted(&e.kind))
                .and_then(|e| micros(e.at))
        };
        let status_to = |to: OrderStatus| move |k: &OrderEventKind| matches!(k, OrderEventKind::StatusChanged { to: t, .. } if *t == to);
        let expected = [
            first_at(&|k| matches!(k, OrderEventKind::ReviewCompleted { .. })),
            first_at(&status_to(OrderStatus::Confirmed)),
            first_at(&status_to(OrderStatus::Shipped)),
            first_at(&status_to(OrderStatus::Delivered)),
            first_at(&|k| {
                matches!(
                    k,
                    OrderEventKind::PaymentStatusChanged {
                        to: PaymentStatus::Paid,
                        ..
                    }
                )
            }),
        ];
        assert_eq!(row[1..], expected, "milestones of order {}", id.0);
    }

    // Invoices: paid is the sum of their payments, never above the amount; fully paid ones
    // carry the day; an order is PAID exactly when its invoices are; some are still open
    // past their due date.
    let mut paid_by_invoice: HashMap<i64, Decimal> = HashMap::new();
    for payment in &loaded.payments {
        *paid_by_invoice
            .entry(payment.details.invoice_id)
            .or_default() += payment.details.amount;
    }
    let mut overdue = 0;
    for invoice in &loaded.invoices {
        let paid = paid_by_invoice
            .get(&invoice.id)
            .copied()
            .unwrap_or_default();
        assert_eq!(invoice.paid, paid, "{}", invoice.number);
        assert!(invoice.paid <= invoice.details.amount, "{}", invoice.number);
        assert_eq!(
            invoice.fully_paid_on.is_some(),
            invoice.paid == invoice.details.amount,
            "{}",
            invoice.number
        );
        let order = loaded
            .orders
            .iter()
            .find(|o| o.id == invoice.details.order_id)
            .unwrap();
        assert_eq!(invoice.details.amount, order.total(), "{}", invoice.number);
        assert_eq!(
            order.payment_status == PaymentStatus::Paid,
            invoice.fully_paid_on.is_some(),
            "{} of {}",
            invoice.number,
            order.number
        );
        if invoice.fully_paid_on.is_none()
            && invoice.details.due_on < chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
        {
            overdue += 1;
        }
    }
    assert!(loaded.invoices.len() as f64 > 0.6 * ORDERS as f64);
    assert!(overdue > 0, "some invoices are overdue");
    let exceptions = rows(
        &first.url,
        "SELECT COUNT(*) AS n, SUM(CASE WHEN lessons_learned IS NOT NULL THEN 1 ELSE 0 END) AS l \
         FROM order_exceptions",
        &["n", "l"],
    )
    .await;
    assert!(exceptions[0][0].unwrap() > 20, "exceptions: {exceptions:?}");
    assert!(
        exceptions[0][1].unwrap() > 5,
        "lessons learned: {exceptions:?}"
    );

    // The live server continues: the next order gets the next number, id and event sequence.
    let before = a.last_seq().await.unwrap();
    let template = loaded.orders.last().unwrap();
    let created = a
        .create_order(
            NewOrder {
                customer_id: template.customer_id,
                sales_rep_id: template.sales_rep_id,
                currency: template.currency,
                content: template.content.clone(),
                created_at: Utc::now(),
            },
            UserId(template.sales_rep_id.0),
            None,
        )
        .await
        .expect("a new order after the bulk load");
    assert_eq!(
        created.order.number,
        format!("SO-{:06}", loaded.orders.len() + 1)
    );
    assert_eq!(created.order.id.0, template.id.0 + 1);
    assert_eq!(created.events[0].seq, before + 1);
    let counter = rows(
        &first.url,
        "SELECT value FROM counters WHERE name = 'invoice_number'",
        &["value"],
    )
    .await;
    assert_eq!(counter[0][0], Some(loaded.invoices.len() as i64));
    a.close().await;
    for db in [&first, &second, &other] {
        db.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_seed_on_sqlite_is_reproducible_valid_and_continuable() {
    the_scale_seed_is_reproducible_valid_and_continuable(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_seed_on_postgres_is_reproducible_valid_and_continuable() {
    the_scale_seed_is_reproducible_valid_and_continuable(true).await;
}
