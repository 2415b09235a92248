//! `/metrics` in the Prometheus text format: GraphQL requests and latency by operation name,
//! errors by code, open websocket connections and subscriptions, event dispatcher lag, and the
//! database pool. Kept in process with atomics and a few small maps; no exporter crate needed.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Latency buckets in seconds: fine below 10 ms where the API lives, coarse above.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Operation names are client-chosen: past this many distinct ones, the rest count as `other`.
const MAX_OPERATIONS: usize = 200;

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<String, Histogram>>,
    errors: Mutex<HashMap<String, u64>>,
    websocket_connections: AtomicI64,
    subscriptions: AtomicI64,
    rate_limited: AtomicU64,
    subscription_resolutions: AtomicU64,
    prevalidated: AtomicU64,
}

#[derive(Clone, Copy)]
enum Gauge {
    WebsocketConnections,
    Subscriptions,
}

/// Keeps a gauge raised while alive (a websocket connection, a subscription).
pub struct GaugeGuard(Arc<Metrics>, Gauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.gauge(self.1).fetch_sub(1, Ordering::Relaxed);
    }
}

/// Values read at scrape time from elsewhere.
pub struct Snapshot {
    /// Newest sequence number in the event log.
    pub newest_event: i64,
    /// Last sequence number the dispatcher delivered.
    pub delivered_event: i64,
    /// Subscriptions cut off as too slow (told to resync) since start.
    pub resynced_subscriptions: u64,
    /// Pool connections open, and of those idle.
    pub pool: (u32, u32),
    /// Reads made on the request's own thread (SQLite files), and those that could not be and
    /// went through the pool.
    pub inline_reads: (u64, u64),
    /// Statements of the write batch run on the writer's own thread (SQLite files).
    pub inline_write_statements: u64,
}

fn operation_label(name: Option<&str>) -> String {
    match name {
        Some(name)
            if !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            name.to_owned()
        }
        Some(_) => "invalid".to_owned(),
        None => "anonymous".to_owned(),
    }
}

impl Metrics {
    /// Records one GraphQL request: its operation name, duration and error codes.
    pub fn request(
        &self,
        operation: Option<&str>,
        elapsed: Duration,
        error_codes: impl IntoIterator<Item = String>,
    ) {
        let mut label = operation_label(operation);
        let seconds = elapsed.as_secs_f64();
        {
            let mut requests = self
                .requests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !requests.contains_key(&label) && requests.len() >= MAX_OPERATIONS {
                label = "other".to_owned();
            }
            let histogram = requests.entry(label).or_default();
            histogram.count += 1;
            histogram.sum += seconds;
            for (bucket, upper) in histogram.counts.iter_mut().zip(BUCKETS) {
                if seconds <= upper {
                    *bucket += 1;
                }
            }
        }
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for code in error_codes {
            *errors.entry(code).or_default() += 1;
        }
    }

    /// Records a request refused by a rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a query run without the validation its document passed before.
    pub fn prevalidated(&self) {
        self.prevalidated.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one event resolved for a parked subscription's plan (once for all of its
    /// subscribers).
    pub fn subscription_resolved(&self) {
        self.subscription_resolutions
            .fetch_add(1, Ordering::Relaxed);
    }

    fn gauge(&self, gauge: Gauge) -> &AtomicI64 {
        match gauge {
            Gauge::WebsocketConnections => &self.websocket_connections,
            Gauge::Subscriptions => &self.subscriptions,
        }
    }

    fn raise(self: &Arc<Self>, gauge: Gauge) -> GaugeGuard {
        self.gauge(gauge).fetch_add(1, Ordering::Relaxed);
        GaugeGuard(Arc::clone(self), gauge)
    }

    /// Websocket connections open now.
    pub fn open_websockets(&self) -> i64 {
        self.websocket_connections.load(Ordering::Relaxed)
    }

    /// Counts an open websocket connection until the guard drops.
    pub fn websocket(self: &Arc<Self>) -> GaugeGuard {
        self.raise(Gauge::WebsocketConnections)
    }

    /// Counts an active subscription until the guard drops.
    pub fn subscription(self: &Arc<Self>) -> GaugeGuard {
        self.raise(Gauge::Subscriptions)
    }

    /// The Prometheus text exposition.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP orderdesk_graphql_request_duration_seconds GraphQL requests by operation name."
        );
        let _ = writeln!(
            out,
            "# TYPE orderdesk_graphql_request_duration_seconds histogram"
        );
        {
            let requests = self
                .requests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut names: Vec<&String> = requests.keys().collect();
            names.sort();
            for name in names {
                let h = &requests[name];
                for (upper, count) in BUCKETS.iter().zip(h.counts) {
                    let _ = writeln!(
                        out,
                        "orderdesk_graphql_request_duration_seconds_bucket{{operation=\"{name}\",le=\"{upper}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "orderdesk_graphql_request_duration_seconds_bucket{{operation=\"{name}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "orderdesk_graphql_request_duration_seconds_sum{{operation=\"{name}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "orderdesk_graphql_request_duration_seconds_count{{operation=\"{name}\"}} {}",
                    h.count
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP orderdesk_graphql_errors_total GraphQL errors by extensions.code."
        );
        let _ = writeln!(out, "# TYPE orderdesk_graphql_errors_total counter");
        {
            let errors = self
                .errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut codes: Vec<(&String, &u64)> = errors.iter().collect();
            codes.sort();
            for (code, count) in codes {
                let _ = writeln!(
                    out,
                    "orderdesk_graphql_errors_total{{code=\"{code}\"}} {count}"
                );
            }
        }
        let gauges = [
            (
                "orderdesk_rate_limited_total",
                "counter",
                "Requests refused by a rate limit.",
                self.rate_limited.load(Ordering::Relaxed) as i64,
            ),
            (
                "orderdesk_graphql_prevalidated_total",
                "counter",
                "Queries run without repeating the validation their document passed before.",
                self.prevalidated.load(Ordering::Relaxed) as i64,
            ),
            (
                "orderdesk_websocket_connections",
                "gauge",
                "Open websocket connections.",
                self.websocket_connections.load(Ordering::Relaxed),
            ),
            (
                "orderdesk_subscriptions",
                "gauge",
                "Active subscriptions.",
                self.subscriptions.load(Ordering::Relaxed),
            ),
            (
                "orderdesk_subscription_resolutions_total",
                "counter",
                "Events resolved for subscribers: once per event for all subscriptions with the same operation and variables.",
                self.subscription_resolutions.load(Ordering::Relaxed) as i64,
            ),
            (
                "orderdesk_event_log_newest_seq",
                "gauge",
                "Newest sequence number in the event log.",
                snapshot.newest_event,
            ),
            (
                "orderdesk_dispatcher_delivered_seq",
                "gauge",
                "Last sequence number this instance's dispatcher delivered.",
                snapshot.delivered_event,
            ),
            (
                "orderdesk_dispatcher_lag_events",
                "gauge",
                "Events committed but not yet delivered by this instance.",
                (snapshot.newest_event - snapshot.delivered_event).max(0),
            ),
            (
                "orderdesk_subscriptions_resynced_total",
                "counter",
                "Subscriptions that fell a full queue behind and were told to resync (close 4001).",
                i64::try_from(snapshot.resynced_subscriptions).unwrap_or(i64::MAX),
            ),
            (
                "orderdesk_db_pool_connections",
                "gauge",
                "Open database connections in the pool.",
                i64::from(snapshot.pool.0),
            ),
            (
                "orderdesk_db_pool_idle_connections",
                "gauge",
                "Idle database connections in the pool.",
                i64::from(snapshot.pool.1),
            ),
            (
                "orderdesk_db_inline_reads_total",
                "counter",
                "Reads of orders, customers, users, products and the event log run on the request's own thread instead of through the pool (SQLite files).",
                i64::try_from(snapshot.inline_reads.0).unwrap_or(i64::MAX),
            ),
            (
                "orderdesk_db_inline_read_fallbacks_total",
                "counter",
                "Inline reads that failed (a busy database file, say) and went through the pool.",
                i64::try_from(snapshot.inline_reads.1).unwrap_or(i64::MAX),
            ),
            (
                "orderdesk_db_inline_write_statements_total",
                "counter",
                "Statements of write transactions (BEGIN and COMMIT included) run on the writer's own thread instead of through the pool (SQLite files).",
                i64::try_from(snapshot.inline_write_statements).unwrap_or(i64::MAX),
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_cumulative_buckets_by_operation_and_errors_by_code() {
        let metrics = Arc::new(Metrics::default());
        metrics.request(Some("ListOrders"), Duration::from_millis(3), []);
        metrics.request(
            Some("ListOrders"),
            Duration::from_millis(30),
            ["CONFLICT".to_owned()],
        );
        metrics.request(
            None,
            Duration::from_millis(1),
            ["CONFLICT".to_owned(), "NOT_FOUND".to_owned()],
        );
        let _ws = metrics.websocket();
        let text = metrics.render(&Snapshot {
            newest_event: 10,
            delivered_event: 7,
            resynced_subscriptions: 0,
            pool: (4, 3),
            inline_reads: (0, 0),
            inline_write_statements: 0,
        });
        assert!(text.contains("orderdesk_graphql_request_duration_seconds_bucket{operation=\"ListOrders\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("orderdesk_graphql_request_duration_seconds_bucket{operation=\"ListOrders\",le=\"0.05\"} 2"));
        assert!(text.contains(
            "orderdesk_graphql_request_duration_seconds_count{operation=\"anonymous\"} 1"
        ));
        assert!(text.contains("orderdesk_graphql_errors_total{code=\"CONFLICT\"} 2"));
        assert!(text.contains("orderdesk_websocket_connections 1"));
        assert!(text.contains("orderdesk_dispatcher_lag_events 3"));
        drop(_ws);
        assert!(
            metrics
                .render(&Snapshot {
                    newest_event: 0,
                    delivered_event: 0,
                    resynced_subscriptions: 0,
                    pool: (0, 0),
                    inline_reads: (0, 0),
                    inline_write_statements: 0,
                })
                .contains("orderdesk_websocket_connections 0")
        );
    }

    #[test]
    fn client_chosen_operation_names_cannot_blow_up_the_label_space() {
        let metrics = Metrics::default();
        metrics.request(Some("bad name\"} 1\n"), Duration::from_millis(1), []);
        for n in 0..(MAX_OPERATIONS + 50) {
            metrics.request(Some(&format!("Op{n}")), Duration::from_millis(1), []);
        }
        let text = metrics.render(&Snapshot {
            newest_event: 0,
            delivered_event: 0,
            resynced_subscriptions: 0,
            pool: (0, 0),
            inline_reads: (0, 0),
            inline_write_statements: 0,
        });
        assert!(text.contains("operation=\"other\""));
        assert!(text.contains("operation=\"invalid\""));
        assert!(!text.contains("bad name"));
    }
}
