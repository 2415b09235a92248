//! Crash safety: the server is killed with SIGKILL in the middle of concurrent writes and started
//! again on the same SQLite file, twenty times. After every restart each acknowledged write is
//! still there, the file passes `PRAGMA integrity_check`, and orders and their event log agree:
//! no state change without its event, no event without its state change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rand::Rng;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult, Statement};
use serde_json::{Value, json};
use tests::json::pretty;
use tests::{Backend, TestApp, spawn_app_with};

use crate::fixtures::{Shop, complete_order_input, customer_input, id_of, in_days, line};

/// Kill-and-restart cycles.
const ROUNDS: usize = 20;
/// Clients writing at the same time, each through its own orders.
const WRITERS: usize = 6;
/// The server is killed this many milliseconds after the writers start (uniformly at random).
const KILL_AFTER_MS: std::ops::Range<u64> = 20..700;
/// A writer gives up after this long even if no kill came (it always does).
const WRITER_DEADLINE: Duration = Duration::from_secs(20);

/// What a writer does to each of its orders, in order, and the status each step must answer with.
/// The steps cover every kind of write: an insert with an idempotency key, a draft edit that
/// rewrites the lines, review on submit, a confirmation, and plain status moves.
const STEPS: [(Step, &str); 10] = [
    (Step::Create, "DRAFT"),
    (Step::EditLines, "DRAFT"),
    (Step::Submit, "APPROVED"),
    (Step::Confirm, "CONFIRMED"),
    (Step::Move("IN_PRODUCTION", None), "IN_PRODUCTION"),
    (Step::Move("ON_HOLD", Some("supplier strike")), "ON_HOLD"),
    (Step::Move("IN_PRODUCTION", None), "IN_PRODUCTION"),
    (Step::Move("READY_TO_SHIP", None), "READY_TO_SHIP"),
    (Step::Move("SHIPPED", None), "SHIPPED"),
    (Step::Move("DELIVERED", None), "DELIVERED"),
];

/// Quantity of the line before and after `Step::EditLines`, as stored (10^-3 units).
const QUANTITY_E3_CREATED: i64 = 10_000;
const QUANTITY_E3_EDITED: i64 = 12_000;

#[derive(Clone, Copy, Debug)]
enum Step {
    Create,
    EditLines,
    Submit,
    Confirm,
    Move(&'static str, Option<&'static str>),
}

/// The latest state of an order a success response reported.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ack {
    version: i64,
    status: String,
}

/// The write a kill cut off: it may or may not have been committed.
#[derive(Clone, Debug)]
enum CutOff {
    Create { key: String, input: Value },
    Change { order_id: i64 },
}

/// Everything one writer saw in one round.
#[derive(Debug, Default)]
struct WriterLog {
    /// Order id -> the latest acknowledged state.
    acked: BTreeMap<i64, Ack>,
    /// Idempotency key -> order id, for acknowledged creates.
    created: Vec<(String, i64)>,
    cut_off: Option<CutOff>,
    /// Responses that were neither a success nor cut off by the kill.
    unexpected: Vec<String>,
}

/// One client: the rep, writing through orders of their customer one step at a time.
#[derive(Clone)]
struct Writer {
    client: reqwest::Client,
    url: String,
    token: String,
    customer_id: String,
    product_id: String,
    name: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_and_every_state_change_keeps_its_event() {
    let started = Instant::now();
    // Six writers as one user write faster than the default 600 mutations a minute; what is
    // tested here is durability, not the rate limit.
    let mut app = spawn_app_with(
        Backend::Sqlite,
        &[
            "--mutations-per-minute",
            "1000000",
            "--address-mutations-per-minute",
            "1000000",
        ],
    )
    .await;
    let shop = Shop::open(&app).await;
    // Every order stays open (unpaid), and the writers make hundreds: a customer whose credit
    // limit no number of them reaches, so review approves each submit.
    let mut customer = customer_input("Crash Test GmbH", Some(&shop.rep.id), "EUR");
    customer["creditLimit"] = json!("1000000000000.00");
    let created = app
        .gql(
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }",
            json!({ "input": customer }),
            Some(&shop.admin.token),
        )
        .await;
    let customer_id = id_of(&tests::data(&created)["createCustomer"]);
    let kill_after: Vec<u64> = {
        let mut rng = rand::rng();
        (0..ROUNDS)
            .map(|_| rng.random_range(KILL_AFTER_MS))
            .collect()
    };

    let mut acked: BTreeMap<i64, Ack> = BTreeMap::new();
    let mut keys: BTreeMap<String, i64> = BTreeMap::new();
    let mut cut_off_changes: BTreeSet<i64> = BTreeSet::new();
    let (mut writes, mut cut_offs, mut cut_offs_committed) = (0, 0, 0);
    for (round, &delay) in kill_after.iter().enumerate() {
        let writers = (0..WRITERS).map(|w| Writer {
            client: app.http().clone(),
            url: app.url("/graphql"),
            token: shop.rep.token.clone(),
            customer_id: customer_id.clone(),
            product_id: shop.product_id.clone(),
            name: format!("r{round}-w{w}"),
        });
        let running: Vec<_> = writers.map(|w| tokio::spawn(w.run())).collect();
        tokio::time::sleep(Duration::from_millis(delay)).await;
        app.kill().await;
        let logs: Vec<WriterLog> = join_all(running)
            .await
            .into_iter()
            .map(|log| log.expect("a writer panicked"))
            .collect();
        app.restart().await;

        let db = Database::connect(app.database_url())
            .await
            .expect("open the database file next to the restarted server");
        let stored_keys = idempotency_keys(&db).await;
        let mut this_round = BTreeMap::new();
        for log in &logs {
            assert!(
                log.unexpected.is_empty(),
                "round {round}: unexpected responses:\n{}",
                log.unexpected.join("\n")
            );
            writes += log.acked.values().map(|a| a.version).sum::<i64>();
            for (key, id) in &log.created {
                assert_eq!(
                    stored_keys.get(key),
                    Some(id),
                    "round {round}: acknowledged create with key {key} (order {id}) lost its idempotency record"
                );
                keys.insert(key.clone(), *id);
            }
            this_round.extend(log.acked.iter().map(|(id, ack)| (*id, ack.clone())));
            match &log.cut_off {
                Some(CutOff::Change { order_id }) => {
                    cut_offs += 1;
                    cut_off_changes.insert(*order_id);
                }
                Some(CutOff::Create { .. }) => cut_offs += 1,
                None => {}
            }
        }
        acked.extend(this_round.clone());

        let orders = check_consistency(&db, round).await;
        for (id, ack) in &acked {
            let (status, version) = orders.get(id).unwrap_or_else(|| {
                panic!("round {round}: acknowledged order {id} ({ack:?}) is gone")
            });
            let committed_cut_off = *version == ack.version + 1 && cut_off_changes.contains(id);
            assert!(
                (*version == ack.version && *status == ack.status) || committed_cut_off,
                "round {round}: order {id} was acknowledged at {ack:?}, stored as {status} v{version}"
            );
            if committed_cut_off && this_round.contains_key(id) {
                cut_offs_committed += 1;
            }
        }

        // A client whose create was cut off retries with the same key: it gets the order the
        // server committed before dying, or a new one, never two.
        for log in &logs {
            let Some(CutOff::Create { key, input }) = &log.cut_off else {
                continue;
            };
            let committed = stored_keys.get(key).copied();
            let retried = create(&app, &shop.rep.token, input, key).await;
            let id = retried.unwrap_or_else(|body| {
                panic!("round {round}: retrying cut-off create {key} failed:\n{body}")
            });
            if let Some(committed) = committed {
                assert_eq!(
                    id, committed,
                    "round {round}: the retry of {key} made a second order"
                );
                cut_offs_committed += 1;
            }
            keys.insert(key.clone(), id);
            acked.insert(
                id,
                Ack {
                    version: 1,
                    status: "DRAFT".into(),
                },
            );
        }
        let stored_keys = idempotency_keys(&db).await;
        for (key, id) in &keys {
            assert_eq!(stored_keys.get(key), Some(id), "round {round}: key {key}");
        }

        // The restarted server serves what the file holds.
        for (id, ack) in &this_round {
            let body = app
                .gql(
                    "query($id: ID!) { order(id: $id) { version status } }",
                    json!({ "id": id.to_string() }),
                    shop.rep.token(),
                )
                .await;
            let (status, version) = &orders[id];
            assert_eq!(
                (
                    &body["data"]["order"]["status"],
                    &body["data"]["order"]["version"]
                ),
                (&json!(status), &json!(version)),
                "round {round}: order {id} (acknowledged at {ack:?}) through the API:\n{}",
                pretty(&body)
            );
        }
        let _ = db.close().await;
    }

    let db = Database::connect(app.database_url())
        .await
        .expect("open the database file");
    let orders = check_consistency(&db, ROUNDS).await;
    let _ = db.close().await;
    eprintln!(
        "crash safety: {ROUNDS} SIGKILLs, {} orders, {writes} acknowledged writes, {cut_offs} \
         writes cut off ({cut_offs_committed} of them had committed), {:.1} s",
        orders.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        writes > 0,
        "no write was ever acknowledged: the kills came too early"
    );
}

impl Writer {
    /// Writes until the server goes away; each order through all of [`STEPS`], then a new one.
    async fn run(self) -> WriterLog {
        let mut log = WriterLog::default();
        let deadline = Instant::now() + WRITER_DEADLINE;
        for n in 0.. {
            let key = format!("crash-{}-{n}", self.name);
            let input = complete_order_input(&self.customer_id, vec![line(&self.product_id, "10")]);
            let mut order: Option<(i64, i64)> = None;
            for (step, expected) in STEPS {
                if Instant::now() > deadline {
                    log.unexpected
                        .push(format!("{}: no kill within {WRITER_DEADLINE:?}", self.name));
                    return log;
                }
                let (field, query, variables) = self.request(step, order, &key, &input);
                let cut_off = match (step, order) {
                    (Step::Create, _) | (_, None) => CutOff::Create {
                        key: key.clone(),
                        input: input.clone(),
                    },
                    (_, Some((order_id, _))) => CutOff::Change { order_id },
                };
                let body = match self.post(&query, variables).await {
                    Ok(body) => body,
                    Err(_) => {
                        log.cut_off = Some(cut_off);
                        return log;
                    }
                };
                let node = &body["data"][field];
                let (Some(id), Some(version), Some(status)) = (
                    node["id"].as_str().and_then(|id| id.parse::<i64>().ok()),
                    node["version"].as_i64(),
                    node["status"].as_str(),
                ) else {
                    log.unexpected
                        .push(format!("{}: {step:?}:\n{}", self.name, pretty(&body)));
                    return log;
                };
                if status != expected {
                    log.unexpected.push(format!(
                        "{}: {step:?} answered {status}, not {expected}:\n{}",
                        self.name,
                        pretty(&body)
                    ));
                    return log;
                }
                if matches!(step, Step::Create) {
                    log.created.push((key.clone(), id));
                }
                log.acked.insert(
                    id,
                    Ack {
                        version,
                        status: status.to_owned(),
                    },
                );
                order = Some((id, version));
            }
        }
        log
    }

    /// The response field, operation and variables of `step` on `order` (id, version).
    fn request(
        &self,
        step: Step,
        order: Option<(i64, i64)>,
        key: &str,
        input: &Value,
    ) -> (&'static str, String, Value) {
        let (id, version) = order.map_or((String::new(), 0), |(id, v)| (id.to_string(), v));
        match step {
            Step::Create => (
                "createOrder",
                CREATE.to_owned(),
                json!({ "input": input, "key": key }),
            ),
            Step::EditLines => (
                "updateOrderDraft",
                "mutation($id: ID!, $v: Int!, $input: OrderDraftInput!) {
                   updateOrderDraft(id: $id, expectedVersion: $v, input: $input) { id version status }
                 }"
                .to_owned(),
                json!({ "id": id, "v": version, "input": { "lines": [line(&self.product_id, "12")] } }),
            ),
            Step::Submit => (
                "submitOrder",
                "mutation($id: ID!, $v: Int!) { submitOrder(id: $id, expectedVersion: $v) { id version status } }"
                    .to_owned(),
                json!({ "id": id, "v": version }),
            ),
            Step::Confirm => (
                "confirmOrder",
                "mutation($id: ID!, $v: Int!, $c: ConfirmationInput!) {
                   confirmOrder(id: $id, expectedVersion: $v, confirmation: $c) { id version status }
                 }"
                .to_owned(),
                json!({ "id": id, "v": version, "c": {
                    "confirmedBy": "Ana Buyer",
                    "channel": "EMAIL",
                    "reference": "PO confirmation",
                    "promisedDate": in_days(55),
                }}),
            ),
            Step::Move(to, reason) => (
                "transitionOrder",
                "mutation($input: TransitionInput!) { transitionOrder(input: $input) { id version status } }"
                    .to_owned(),
                json!({ "input": { "orderId": id, "to": to, "expectedVersion": version, "reason": reason } }),
            ),
        }
    }

    /// POSTs an operation; `Err` when the connection failed or broke (the server died), whatever
    /// the request did on the server.
    async fn post(&self, query: &str, variables: Value) -> Result<Value, reqwest::Error> {
        self.client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?
            .json()
            .await
    }
}

const CREATE: &str = "mutation($input: CreateOrderInput!, $key: String) {
  createOrder(input: $input, idempotencyKey: $key) { id version status }
}";

/// Creates an order with an idempotency key through `app`: the order's id, or the response.
async fn create(app: &TestApp, token: &str, input: &Value, key: &str) -> Result<i64, String> {
    let body = app
        .gql(CREATE, json!({ "input": input, "key": key }), Some(token))
        .await;
    body["data"]["createOrder"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| pretty(&body))
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<QueryResult> {
    db.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> T {
    row.try_get("", column)
        .unwrap_or_else(|e| panic!("column {column}: {e:?}"))
}

async fn idempotency_keys(db: &DatabaseConnection) -> HashMap<String, i64> {
    rows(db, "SELECT key, result_id FROM idempotency_keys")
        .await
        .iter()
        .map(|row| (get(row, "key"), get(row, "result_id")))
        .collect()
}

/// Checks the file and the agreement of orders, lines, events, counters and idempotency
/// records; returns every order's (status, version) by id.
async fn check_consistency(db: &DatabaseConnection, round: usize) -> BTreeMap<i64, (String, i64)> {
    let integrity = rows(db, "PRAGMA integrity_check").await;
    let verdicts: Vec<String> = integrity
        .iter()
        .map(|r| get(r, "integrity_check"))
        .collect();
    assert_eq!(verdicts, ["ok"], "round {round}: PRAGMA integrity_check");
    let foreign = rows(db, "PRAGMA foreign_key_check").await;
    assert!(
        foreign.is_empty(),
        "round {round}: {} foreign key violations",
        foreign.len()
    );

    let mut orders: BTreeMap<i64, (String, i64, bool)> = BTreeMap::new();
    for row in rows(
        db,
        "SELECT id, status, version, confirmation IS NOT NULL AS confirmed FROM orders",
    )
    .await
    {
        let confirmed: i64 = get(&row, "confirmed");
        orders.insert(
            get(&row, "id"),
            (get(&row, "status"), get(&row, "version"), confirmed == 1),
        );
    }
    let mut lines: HashMap<i64, (i64, i64)> = HashMap::new();
    for row in rows(
        db,
        "SELECT order_id, COUNT(*) AS n, MAX(quantity_e3) AS q FROM order_lines GROUP BY order_id",
    )
    .await
    {
        lines.insert(get(&row, "order_id"), (get(&row, "n"), get(&row, "q")));
    }

    // Replay the log: each order's status as its STATUS_CHANGED events tell it, and the versions
    // its events carry.
    struct Replay {
        status: String,
        versions: BTreeSet<i64>,
        last_version: i64,
        created: usize,
        confirmed: usize,
        edited: usize,
    }
    let mut replays: BTreeMap<i64, Replay> = BTreeMap::new();
    let events = rows(
        db,
        "SELECT seq, order_id, order_version, event_type, payload FROM order_events ORDER BY seq",
    )
    .await;
    for (expected_seq, row) in (1..).zip(&events) {
        let seq: i64 = get(row, "seq");
        let order_id: i64 = get(row, "order_id");
        let version: i64 = get(row, "order_version");
        let event_type: String = get(row, "event_type");
        let payload: Value = serde_json::from_str(&get::<String>(row, "payload"))
            .unwrap_or_else(|e| panic!("round {round}: event {seq} payload is not JSON: {e}"));
        assert_eq!(
            seq, expected_seq,
            "round {round}: event sequence numbers have a gap"
        );
        assert!(
            orders.contains_key(&order_id),
            "round {round}: event {seq} ({event_type}) belongs to order {order_id}, which does not exist"
        );
        assert_eq!(
            payload["type"],
            event_type.as_str(),
            "round {round}: event {seq}"
        );
        let replay = replays.entry(order_id).or_insert_with(|| Replay {
            status: "DRAFT".into(),
            versions: BTreeSet::new(),
            last_version: 0,
            created: 0,
            confirmed: 0,
            edited: 0,
        });
        assert!(
            version >= replay.last_version,
            "round {round}: event {seq} of order {order_id} goes back to version {version}"
        );
        replay.last_version = version;
        replay.versions.insert(version);
        match event_type.as_str() {
            "ORDER_CREATED" => {
                assert_eq!(
                    version, 1,
                    "round {round}: order {order_id} created at v{version}"
                );
                replay.created += 1;
            }
            "ORDER_CONFIRMED" => replay.confirmed += 1,
            "DRAFT_UPDATED" => replay.edited += 1,
            "STATUS_CHANGED" => {
                assert_eq!(
                    payload["data"]["from"],
                    replay.status.as_str(),
                    "round {round}: event {seq} of order {order_id} changes from a status it was not in"
                );
                replay.status = payload["data"]["to"]
                    .as_str()
                    .unwrap_or_else(|| panic!("round {round}: event {seq} has no `to`"))
                    .to_owned();
            }
            _ => {}
        }
    }
    let last_seq = i64::try_from(events.len()).expect("a few events");
    let counter = |name: &'static str| async move {
        let rows = rows(
            db,
            &format!("SELECT value FROM counters WHERE name = '{name}'"),
        )
        .await;
        get::<i64>(rows.first().expect("counter row"), "value")
    };
    assert_eq!(
        counter("event_seq").await,
        last_seq,
        "round {round}: event_seq counter"
    );
    assert_eq!(
        counter("order_number").await,
        i64::try_from(orders.len()).expect("a few orders"),
        "round {round}: order_number counter"
    );

    for (id, (status, version, confirmed)) in &orders {
        let replay = replays.get(id).unwrap_or_else(|| {
            panic!("round {round}: order {id} ({status} v{version}) has no events")
        });
        let all_versions: BTreeSet<i64> = (1..=*version).collect();
        assert_eq!(
            replay.versions, all_versions,
            "round {round}: order {id} is at v{version}, its events carry versions {:?}",
            replay.versions
        );
        assert_eq!(
            replay.created, 1,
            "round {round}: order {id}: ORDER_CREATED events"
        );
        assert_eq!(
            &replay.status, status,
            "round {round}: order {id} is {status}, its STATUS_CHANGED events end at {}",
            replay.status
        );
        assert_eq!(
            replay.confirmed,
            usize::from(*confirmed),
            "round {round}: order {id}: ORDER_CONFIRMED events vs. the stored confirmation"
        );
        let expected_quantity = if replay.edited > 0 {
            QUANTITY_E3_EDITED
        } else {
            QUANTITY_E3_CREATED
        };
        assert_eq!(
            lines.get(id),
            Some(&(1, expected_quantity)),
            "round {round}: order {id}: lines (count, quantity) vs. {} DRAFT_UPDATED events",
            replay.edited
        );
    }
    for (key, id) in idempotency_keys(db).await {
        assert!(
            orders.contains_key(&id),
            "round {round}: key {key} names missing order {id}"
        );
    }
    orders
        .into_iter()
        .map(|(id, (status, version, _))| (id, (status, version)))
        .collect()
}
