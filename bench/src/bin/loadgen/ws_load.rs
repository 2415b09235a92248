//! Websocket scenarios: graphql-transport-ws subscriptions to orders' status changes, and drivers
//! that put orders on hold and resume them. This module holds the subscriptions (shared by every
//! scenario) and the fan-out scenario (`--ws N`: N subscriptions to one order, changed every
//! `--ws-interval`); `ws_targeted` holds targeted delivery and idle memory. Each event is matched
//! to the change that caused it by the order's version, so an event that overtakes the
//! mutation's own answer is still attributed correctly; an event of another order than the one
//! subscribed to is an error.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bench::check::parse_response;
use bench::latency::{LatencySummary, new_histogram, record};
use bench::procfs;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

use crate::Args;
use crate::client::{HttpConnection, Target};
use crate::orders::{self, OrderState};
use crate::report::{CpuWindow, ErrorTally, WsReport};

/// The subscription used when `--query` is not given.
pub const DEFAULT_SUBSCRIPTION: &str = "subscription Watch($orderId: ID) { \
     orderStatusChanged(orderId: $orderId) { orderId version from to } }";
/// Handshakes in flight at once while opening subscriptions (a burst of thousands of connects
/// would overflow the server's accept backlog and measure that instead).
const CONCURRENT_HANDSHAKES: usize = 128;
/// How long connecting and `connection_init` / `connection_ack` may take per subscription.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time between probes while waiting for every subscription to be live.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long probing may take before the subscriptions that are not live count as failed.
pub const LIVE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait after the last change for its deliveries.
const DELIVERY_GRACE: Duration = Duration::from_secs(10);
/// Pause after opening subscriptions before reading the server's memory, so what it allocates
/// for them has been allocated.
pub const SETTLE: Duration = Duration::from_millis(500);
/// Descriptors this process needs besides its websockets (driver connections, files, stdio).
const SPARE_FILES: u64 = 256;
/// Subscription id; one subscription per connection.
const ID: &str = "1";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Checks that `sockets` websockets fit under the open-file limit (`main` raised it to the hard
/// limit), so a low limit is one clear error instead of thousands of failed connects.
pub fn ensure_open_files(sockets: usize) -> Result<(), String> {
    let needed = sockets as u64 + SPARE_FILES;
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((limit, _)) if limit < needed => Err(format!(
            "{sockets} websockets need about {needed} open files, and this process may open \
             {limit} (its hard limit): raise it (`ulimit -Hn`, LimitNOFILE=) or open fewer"
        )),
        Ok(_) => Ok(()),
        Err(e) => {
            eprintln!("loadgen: cannot read the open-file limit ({e}); trying anyway");
            Ok(())
        }
    }
}

/// The server's resident memory now, when its pid is known and readable.
pub fn server_rss_kib(args: &Args) -> Option<u64> {
    args.server_pid
        .and_then(|pid| procfs::rss_kib(Some(pid)).ok())
}

/// What the subscriptions subscribe with.
pub struct Subscribe {
    /// The subscription operation.
    pub query: String,
    /// Its variables.
    pub variables: Value,
    /// Set the `orderId` variable of each subscription to the order it watches.
    pub set_order_id: bool,
    /// Number each subscription's operation text (`--ws-unique`).
    pub unique: bool,
}

/// What subscribers share.
struct Shared {
    url: String,
    token: Option<String>,
    subscribe: Subscribe,
    /// The watched orders' ids; subscribers refer to them by index.
    order_ids: Vec<String>,
    handshakes: Semaphore,
    /// Subscriptions that have sent `subscribe` (or failed trying).
    opened: AtomicUsize,
    /// The next number for `--ws-unique`.
    numbered: AtomicUsize,
    /// Subscriptions that have received at least one event.
    live: AtomicUsize,
    /// Per order: its subscriptions that have neither received an event nor failed.
    pending: Vec<AtomicUsize>,
    /// Per order: its subscriptions that have received an event.
    live_by_order: Vec<AtomicUsize>,
    /// Per order: events with a version above this are measured (`i64::MAX` until measuring
    /// starts).
    measure_above: Vec<AtomicI64>,
    /// Measured events received, by all subscribers.
    measured: AtomicU64,
}

/// What one subscriber saw.
pub struct Seen {
    /// The index of the order it watched.
    pub order: usize,
    /// Versions of the events of its order, with their arrival.
    pub arrivals: Vec<(i64, Instant)>,
    /// Whether it received an event.
    pub live: bool,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
    /// Events of other orders than its own, and the first of them.
    pub foreign: u64,
    first_foreign: Option<String>,
}

impl Seen {
    /// Counts what went wrong with this subscriber in `errors`.
    pub fn tally(&self, errors: &mut ErrorTally) {
        if let Some(error) = &self.error {
            errors.add("subscriber", error.clone());
        } else if !self.live {
            errors.add(
                "subscriber",
                format!("no event within {LIVE_TIMEOUT:?} of probing"),
            );
        }
        if let Some(example) = &self.first_foreign {
            errors.add_many("foreign", self.foreign, example.clone());
        }
    }
}

/// Open subscriptions, each watching one order.
pub struct Subscriptions {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<Seen>>,
    stop: watch::Sender<bool>,
}

impl Subscriptions {
    /// Opens one subscription per entry of `watching` (an index into `order_ids`), at most
    /// [`CONCURRENT_HANDSHAKES`] handshakes at a time, and waits until each has sent `subscribe`
    /// or failed.
    pub async fn open(
        target: &Target,
        token: Option<String>,
        subscribe: Subscribe,
        order_ids: Vec<String>,
        watching: &[usize],
    ) -> Self {
        let mut subscribers_of = vec![0; order_ids.len()];
        for &order in watching {
            subscribers_of[order] += 1;
        }
        let shared = Arc::new(Shared {
            url: target.ws_url.clone(),
            token,
            subscribe,
            handshakes: Semaphore::new(CONCURRENT_HANDSHAKES),
            opened: AtomicUsize::new(0),
            numbered: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            pending: subscribers_of.into_iter().map(AtomicUsize::new).collect(),
            live_by_order: order_ids.iter().map(|_| AtomicUsize::new(0)).collect(),
            measure_above: order_ids.iter().map(|_| AtomicI64::new(i64::MAX)).collect(),
            measured: AtomicU64::new(0),
            order_ids,
        });
        let (stop, stopped) = watch::channel(false);
        let tasks = watching
            .iter()
            .map(|&order| tokio::spawn(subscriber(Arc::clone(&shared), order, stopped.clone())))
            .collect();
        let count = watching.len();
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT + Duration::from_millis(count as u64);
        while shared.opened.load(Ordering::Acquire) < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            shared,
            tasks,
            stop,
        }
    }

    /// Subscriptions that have received an event.
    pub fn live(&self) -> usize {
        self.shared.live.load(Ordering::Acquire)
    }

    /// Subscriptions of `order` that have received an event.
    pub fn live_on(&self, order: usize) -> usize {
        self.shared.live_by_order[order].load(Ordering::Acquire)
    }

    /// Whether some subscription of `order` has neither received an event nor failed yet: the
    /// order needs another probe.
    pub fn pending(&self, order: usize) -> bool {
        self.shared.pending[order].load(Ordering::Acquire) > 0
    }

    /// Measures the events of `order` with a version above `version`.
    pub fn measure_above(&self, order: usize, version: i64) {
        self.shared.measure_above[order].store(version, Ordering::Release);
    }

    /// Measured events received so far.
    pub fn measured(&self) -> u64 {
        self.shared.measured.load(Ordering::Acquire)
    }

    /// Closes every subscription and returns what each saw.
    pub async fn finish(self) -> Result<Vec<Seen>, String> {
        let _ = self.stop.send(true);
        let mut seen = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            seen.push(
                task.await
                    .map_err(|e| format!("a subscriber failed: {e}"))?,
            );
        }
        Ok(seen)
    }
}

/// Runs the fan-out scenario and prints the report.
pub async fn run(
    args: &Args,
    target: Target,
    subscribers: usize,
    order_id: String,
    query: Option<String>,
    variables: Value,
) -> Result<(), String> {
    if subscribers == 0 {
        return Err("--ws needs at least one subscriber".to_owned());
    }
    ensure_open_files(subscribers)?;
    let mut driver = HttpConnection::open(&target, args.token.as_deref()).await?;
    let mut order = orders::movable_order(&mut driver, &order_id).await?;
    let subscribe = Subscribe {
        set_order_id: query.is_none(),
        unique: args.ws_unique,
        query: query.unwrap_or_else(|| DEFAULT_SUBSCRIPTION.to_owned()),
        variables,
    };
    let mut errors = ErrorTally::default();

    let rss_before = server_rss_kib(args);
    let subscriptions = Subscriptions::open(
        &target,
        args.token.clone(),
        subscribe,
        vec![order_id],
        &vec![0; subscribers],
    )
    .await;

    // graphql-transport-ws does not acknowledge `subscribe`: probe with real changes until every
    // subscription has delivered one, so the measured changes reach registered subscribers only.
    let live_deadline = Instant::now() + LIVE_TIMEOUT;
    while subscriptions.pending(0) && Instant::now() < live_deadline {
        if let Err(e) = change(&mut driver, &mut order).await {
            errors.add("driver", e);
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    let live = subscriptions.live();
    tokio::time::sleep(SETTLE).await;
    let rss_after = server_rss_kib(args);

    subscriptions.measure_above(0, order.version);
    let cpu = CpuWindow::start(args.server_pid);
    let started = Instant::now();
    let end = started + args.duration;
    let mut answered: HashMap<i64, Instant> = HashMap::new();
    let mut next_change = started;
    while next_change < end {
        tokio::time::sleep_until(next_change).await;
        match change(&mut driver, &mut order).await {
            Ok(()) => {
                answered.insert(order.version, Instant::now());
            }
            Err(e) => errors.add("driver", e),
        }
        next_change += args.ws_interval;
    }
    let changes = answered.len() as u64;
    let expected = changes * live as u64;
    let grace_end = Instant::now() + DELIVERY_GRACE;
    while subscriptions.measured() < expected && Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cpu = cpu.finish();
    let window = started.elapsed();

    let mut histogram = new_histogram();
    let (mut delivered, mut early) = (0, 0);
    for seen in subscriptions.finish().await? {
        seen.tally(&mut errors);
        for (version, arrived) in seen.arrivals {
            let Some(&answer) = answered.get(&version) else {
                continue;
            };
            delivered += 1;
            if arrived < answer {
                early += 1;
            }
            record(&mut histogram, arrived.saturating_duration_since(answer));
        }
    }
    if delivered < expected {
        errors.add_many(
            "missing",
            expected - delivered,
            format!("deliveries missing after {DELIVERY_GRACE:?} of grace"),
        );
    }
    WsReport {
        label: args.label.clone(),
        mode: "ws",
        subscribers: live,
        changes,
        target_rate: None,
        expected,
        delivered,
        early,
        errors,
        latency_from_send: false,
        latency: LatencySummary::from_histogram(&histogram),
        window,
        cpu,
        server_pid: args.server_pid,
        server_rss_kib: rss_before.zip(rss_after),
    }
    .print(args.json);
    Ok(())
}

/// One hold or resume of the watched order, checked.
async fn change(driver: &mut HttpConnection, order: &mut OrderState) -> Result<(), String> {
    let (status, answer) = driver.post(order.next_request()).await?;
    let expect = orders::transition_expectation();
    match parse_response(status, &answer, Some(&expect)) {
        Ok(value) if order.apply_answer(&value) => Ok(()),
        Ok(value) => Err(format!(
            "transitionOrder answer without the order's state: {value}"
        )),
        Err(e) => {
            let _ = order.refresh(driver).await;
            Err(e.to_string())
        }
    }
}

/// One subscription: connect, `connection_init`, `subscribe`, then record each event's version
/// and arrival time until told to stop.
async fn subscriber(shared: Arc<Shared>, order: usize, mut stop: watch::Receiver<bool>) -> Seen {
    let mut seen = Seen {
        order,
        arrivals: Vec::new(),
        live: false,
        error: None,
        foreign: 0,
        first_foreign: None,
    };
    let order_id = shared.order_ids[order].as_str();
    let socket = {
        let _permit = shared.handshakes.acquire().await;
        let socket = tokio::time::timeout(HANDSHAKE_TIMEOUT, open(&shared, order_id))
            .await
            .unwrap_or_else(|_| Err(format!("handshake took over {HANDSHAKE_TIMEOUT:?}")));
        shared.opened.fetch_add(1, Ordering::AcqRel);
        socket
    };
    let mut socket = match socket {
        Ok(socket) => socket,
        Err(e) => {
            seen.error = Some(e);
            shared.pending[order].fetch_sub(1, Ordering::AcqRel);
            return seen;
        }
    };
    loop {
        let message = tokio::select! {
            _ = stop.changed() => break,
            message = socket.next() => message,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                seen.error = Some(format!("the server closed the websocket: {frame:?}"));
                break;
            }
            // Websocket pings are answered by tungstenite while reading.
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                seen.error = Some(format!("websocket failed: {e}"));
                break;
            }
            None => {
                seen.error = Some("the websocket ended".to_owned());
                break;
            }
        };
        let arrived = Instant::now();
        let message: Value = match serde_json::from_str(&text) {
            Ok(message) => message,
            Err(e) => {
                seen.error = Some(format!("a message that is not JSON ({e}): {text}"));
                break;
            }
        };
        match message["type"].as_str() {
            Some("next") => match event_version(&message) {
                Some(_) if is_foreign(&message, order_id) => {
                    seen.foreign += 1;
                    seen.first_foreign.get_or_insert_with(|| {
                        format!("a subscriber of order {order_id} received {message}")
                    });
                }
                Some(version) => {
                    if !seen.live {
                        seen.live = true;
                        shared.live.fetch_add(1, Ordering::AcqRel);
                        shared.live_by_order[order].fetch_add(1, Ordering::AcqRel);
                        shared.pending[order].fetch_sub(1, Ordering::AcqRel);
                    }
                    if version > shared.measure_above[order].load(Ordering::Acquire) {
                        shared.measured.fetch_add(1, Ordering::AcqRel);
                    }
                    seen.arrivals.push((version, arrived));
                }
                None => {
                    seen.error = Some(format!("an event without a version: {message}"));
                    break;
                }
            },
            Some("ping") => {
                if let Err(e) = send(&mut socket, json!({ "type": "pong" })).await {
                    seen.error = Some(e);
                    break;
                }
            }
            Some("pong") => {}
            _ => {
                seen.error = Some(format!("unexpected message: {message}"));
                break;
            }
        }
    }
    if !seen.live && seen.error.is_some() {
        shared.pending[order].fetch_sub(1, Ordering::AcqRel);
    }
    let _ = socket.close(None).await;
    seen
}

/// Connects and subscribes.
async fn open(shared: &Shared, order_id: &str) -> Result<Socket, String> {
    let mut request = shared
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("websocket URL {}: {e}", shared.url))?;
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("graphql-transport-ws"),
    );
    // Small buffers: the default 128 KiB read buffer per socket would make the client, not the
    // server, run out of memory at 10,000 subscriptions.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut socket, _) = connect_async_with_config(request, Some(config), true)
        .await
        .map_err(|e| format!("websocket connect to {}: {e}", shared.url))?;
    let payload = match &shared.token {
        Some(token) => json!({ "authorization": format!("Bearer {token}") }),
        None => json!({}),
    };
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("handshake message is not JSON ({e}): {text}"))?;
                match message["type"].as_str() {
                    Some("connection_ack") => break,
                    Some("ping") => send(&mut socket, json!({ "type": "pong" })).await?,
                    _ => return Err(format!("expected connection_ack, got {message}")),
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed during the handshake: {frame:?}"));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("handshake failed: {e}")),
            None => return Err("the websocket ended during the handshake".to_owned()),
        }
    }
    let subscribe = &shared.subscribe;
    let mut variables = subscribe.variables.clone();
    if subscribe.set_order_id {
        variables["orderId"] = json!(order_id);
    }
    let query = if subscribe.unique {
        let n = shared.numbered.fetch_add(1, Ordering::Relaxed);
        format!("{}\n# subscriber {n}", subscribe.query)
    } else {
        subscribe.query.clone()
    };
    send(
        &mut socket,
        json!({
            "id": ID,
            "type": "subscribe",
            "payload": { "query": query, "variables": variables },
        }),
    )
    .await?;
    Ok(socket)
}

async fn send(socket: &mut Socket, message: Value) -> Result<(), String> {
    socket
        .send(Message::Text(Utf8Bytes::from(message.to_string())))
        .await
        .map_err(|e| format!("websocket send: {e}"))
}

/// The `version` of the event in a `next` message: `payload.data.<field>.version`. An event with
/// `errors` has none, and fails the subscriber.
fn event_version(message: &Value) -> Option<i64> {
    let payload = message.get("payload")?;
    if payload
        .get("errors")
        .is_some_and(|errors| !errors.is_null())
    {
        return None;
    }
    payload
        .get("data")?
        .as_object()?
        .values()
        .next()?
        .get("version")?
        .as_i64()
}

/// Whether a `next` message carries an event of another order than `order_id` (its
/// `payload.data.<field>.orderId`; an event without one, from a `--query` that does not select
/// it, cannot be checked and passes).
fn is_foreign(message: &Value, order_id: &str) -> bool {
    let Some(event) = message
        .pointer("/payload/data")
        .and_then(Value::as_object)
        .and_then(|data| data.values().next())
    else {
        return false;
    };
    match event.get("orderId") {
        Some(Value::String(id)) => id != order_id,
        Some(Value::Number(id)) => id.to_string() != order_id,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_matched_by_the_version_it_carries() {
        let next = json!({ "id": "1", "type": "next", "payload": { "data": {
            "orderStatusChanged": { "orderId": "9", "version": 12, "from": "SHIPPED", "to": "ON_HOLD" } } } });
        assert_eq!(event_version(&next), Some(12));
    }

    #[test]
    fn an_event_of_another_order_is_foreign() {
        let event = |order_id: Value| {
            json!({ "id": "1", "type": "next", "payload": { "data": {
                "orderStatusChanged": { "orderId": order_id, "version": 3 } } } })
        };
        assert!(!is_foreign(&event(json!("9")), "9"));
        assert!(is_foreign(&event(json!("10")), "9"));
        assert!(is_foreign(&event(json!(10)), "9"));
        let unchecked = json!({ "type": "next", "payload": { "data": { "x": { "version": 3 } } } });
        assert!(!is_foreign(&unchecked, "9"));
    }

    #[test]
    fn an_event_with_errors_or_without_a_version_is_refused() {
        let errors = json!({ "type": "next", "payload": { "data": null,
            "errors": [{ "message": "resync", "extensions": { "code": "RESYNC_REQUIRED" } }] } });
        assert_eq!(event_version(&errors), None);
        let no_version =
            json!({ "type": "next", "payload": { "data": { "x": { "to": "ON_HOLD" } } } });
        assert_eq!(event_version(&no_version), None);
    }
}
