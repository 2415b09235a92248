//! HTTP load: N connection workers, closed loop or on an open-loop schedule, each keeping its own
//! histogram and counts (no shared lock on the hot path), merged when the run ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bench::check::{FieldPath, check_response, parse_response};
use bench::latency::{LatencySummary, new_histogram, record};
use bytes::Bytes;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::Args;
use crate::client::{HttpConnection, Target};
use crate::orders::{self, OrderState};
use crate::report::{CpuWindow, ErrorTally, HttpReport};

/// Pause before reconnecting after a connection failed, so a dead server is not hammered in a
/// tight loop (each failure is still counted).
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

/// What each request sends.
pub enum Workload {
    /// The same body every time.
    Fixed(Bytes),
    /// The same operation with one variable set to a value no other request uses.
    Unique {
        /// The GraphQL operation.
        query: String,
        /// The variables, the unique one overwritten per request.
        variables: Value,
        /// The name of the unique variable.
        name: String,
        /// Distinguishes this run's values from earlier runs' on the same database.
        prefix: String,
        /// Next sequence number, shared by all workers.
        next: Arc<AtomicU64>,
    },
    /// `transitionOrder` hold/resume on the orders each worker owns.
    HoldResume,
}

impl Workload {
    /// A fixed body built once.
    pub fn fixed(query: &str, variables: &Value) -> Self {
        Workload::Fixed(
            json!({ "query": query, "variables": variables })
                .to_string()
                .into(),
        )
    }

    /// Unique values of `name` per request.
    pub fn unique(query: String, variables: Value, name: String) -> Result<Self, String> {
        // Unique across runs without a random-number crate: the start time in nanoseconds and the
        // process id cannot repeat on one machine.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| format!("clock before 1970: {e}"))?
            .as_nanos();
        Ok(Workload::Unique {
            query,
            variables,
            name,
            prefix: format!("lg-{nanos:x}-{}", std::process::id()),
            next: Arc::new(AtomicU64::new(0)),
        })
    }

    fn body(&self, orders: &[OrderState], turn: usize) -> Bytes {
        match self {
            Workload::Fixed(body) => body.clone(),
            Workload::Unique {
                query,
                variables,
                name,
                prefix,
                next,
            } => {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let mut variables = variables.clone();
                variables[name.as_str()] = json!(format!("{prefix}-{n}"));
                json!({ "query": query, "variables": variables })
                    .to_string()
                    .into()
            }
            Workload::HoldResume => orders[turn % orders.len()].next_request(),
        }
    }
}

/// How requests are paced.
#[derive(Clone, Copy)]
enum Pacing {
    /// Each connection sends again as soon as it is answered.
    Closed,
    /// Request number `i` is due at `start + i * interval`.
    Open { interval: Duration },
}

/// What every worker shares.
struct Plan {
    target: Target,
    token: Option<String>,
    workload: Workload,
    expect: Option<FieldPath>,
    pacing: Pacing,
    timeout: Duration,
    start: Instant,
    measure_from: Instant,
    end: Instant,
    next_slot: AtomicU64,
}

/// What one worker measured.
struct WorkerResult {
    histogram: Histogram<u64>,
    ok: u64,
    errors: ErrorTally,
}

/// Runs the load and prints the report.
pub async fn run(
    args: &Args,
    target: Target,
    workload: Workload,
    expect: Option<FieldPath>,
) -> Result<(), String> {
    let token = args.token.clone();
    let mut owned_orders: Vec<Vec<OrderState>> = vec![Vec::new(); args.connections];
    let expect = if matches!(workload, Workload::HoldResume) {
        let mut setup = HttpConnection::open(&target, token.as_deref()).await?;
        let orders = orders::holdable_orders(&mut setup, None).await?;
        if orders.len() < args.connections {
            return Err(format!(
                "--hold-resume: only {} orders visible to this token can be held or resumed; \
                 each of the {} connections needs its own (fewer connections, or a token that \
                 sees more orders)",
                orders.len(),
                args.connections
            ));
        }
        // Round-robin: every connection owns distinct orders, so no two requests race for one
        // order's version.
        for (i, order) in orders.into_iter().enumerate() {
            owned_orders[i % args.connections].push(order);
        }
        Some(orders::transition_expectation())
    } else {
        expect
    };

    let pacing = match args.rate {
        Some(rate) => Pacing::Open {
            interval: Duration::from_secs_f64(1.0 / rate),
        },
        None => Pacing::Closed,
    };
    let start = Instant::now();
    let plan = Arc::new(Plan {
        target,
        token,
        workload,
        expect,
        pacing,
        timeout: args.timeout,
        start,
        measure_from: start + args.warmup,
        end: start + args.warmup + args.duration,
        next_slot: AtomicU64::new(0),
    });
    let workers: Vec<_> = owned_orders
        .into_iter()
        .map(|orders| tokio::spawn(worker(Arc::clone(&plan), orders)))
        .collect();

    tokio::time::sleep_until(plan.measure_from).await;
    let cpu = CpuWindow::start(args.server_pid);
    let mut histogram = new_histogram();
    let mut ok = 0;
    let mut errors = ErrorTally::default();
    for worker in workers {
        let result = worker.await.map_err(|e| format!("a worker failed: {e}"))?;
        histogram
            .add(&result.histogram)
            .map_err(|e| format!("merging histograms: {e}"))?;
        ok += result.ok;
        errors.merge(result.errors);
    }
    let cpu = cpu.finish();
    let report = HttpReport {
        label: args.label.clone(),
        connections: args.connections,
        target_rate: args.rate,
        window: args.duration,
        ok,
        errors,
        latency: LatencySummary::from_histogram(&histogram),
        cpu,
        server_pid: args.server_pid,
    };
    report.print(args.json);
    Ok(())
}

async fn worker(plan: Arc<Plan>, mut orders: Vec<OrderState>) -> WorkerResult {
    let mut result = WorkerResult {
        histogram: new_histogram(),
        ok: 0,
        errors: ErrorTally::default(),
    };
    let mut connection: Option<HttpConnection> = None;
    let mut turn = 0;
    while let Some(started) = next_start(&plan).await {
        let conn = match connection.take() {
            Some(conn) => connection.insert(conn),
            None => match HttpConnection::open(&plan.target, plan.token.as_deref()).await {
                Ok(conn) => connection.insert(conn),
                Err(e) => {
                    result.errors.add("connect", e);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let body = plan.workload.body(&orders, turn);
        let answer = tokio::time::timeout(plan.timeout, conn.post(body)).await;
        let done = Instant::now();
        let (status, answer) = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                result.errors.add("io", e);
                connection = None;
                continue;
            }
            Err(_) => {
                result
                    .errors
                    .add("timeout", format!("no answer within {:?}", plan.timeout));
                connection = None;
                continue;
            }
        };
        // Only the status-change workload needs the answer's content (the order's new
        // version); the others take the allocation-free check.
        let verdict = if orders.is_empty() {
            check_response(status, &answer, plan.expect.as_ref())
        } else {
            let order = turn % orders.len();
            turn += 1;
            match parse_response(status, &answer, plan.expect.as_ref()) {
                Ok(value) if orders[order].apply_answer(&value) => Ok(()),
                Ok(value) => {
                    result.errors.add(
                        "missing",
                        format!("transitionOrder answer without the order's state: {value}"),
                    );
                    continue;
                }
                Err(e) => {
                    // Our idea of the order may be stale (that is what the error may say):
                    // read it again so one failure does not turn every later move into one.
                    if let Err(e) = orders[order].refresh(conn).await {
                        result.errors.add("refresh", e);
                    }
                    Err(e)
                }
            }
        };
        match verdict {
            Ok(()) => {
                if started >= plan.measure_from {
                    record(&mut result.histogram, done - started);
                    result.ok += 1;
                }
            }
            Err(e) => result.errors.add(e.kind(), e.to_string()),
        }
    }
    result
}

/// When the next request starts, for latency purposes; `None` when the run is over.
///
/// Open loop: the worker claims the next slot of the schedule. If it is early it waits for the
/// slot and the clock starts when it sends (the timer's own lateness is not the server's doing);
/// if the slot is already past because this connection was still waiting for an answer, the clock
/// started at the slot: that wait is exactly the delay a real client would have seen.
async fn next_start(plan: &Plan) -> Option<Instant> {
    let now = Instant::now();
    match plan.pacing {
        Pacing::Closed => (now < plan.end).then_some(now),
        Pacing::Open { interval } => {
            let slot = plan.next_slot.fetch_add(1, Ordering::Relaxed);
            let offset = interval.checked_mul(u32::try_from(slot).ok()?)?;
            let due = plan.start + offset;
            if due >= plan.end {
                return None;
            }
            if due > now {
                tokio::time::sleep_until(due).await;
                Some(Instant::now())
            } else {
                Some(due)
            }
        }
    }
}
