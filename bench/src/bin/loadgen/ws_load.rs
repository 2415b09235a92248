//! Websocket mode: N graphql-transport-ws subscriptions to one order's status changes, and a
//! driver that puts the order on hold and resumes it every `--ws-interval`. Each event is matched
//! to the change that caused it by the order's version, so an event that overtakes the
//! mutation's own answer is still attributed correctly.

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
const DEFAULT_SUBSCRIPTION: &str = "subscription Watch($orderId: ID) { \
     orderStatusChanged(orderId: $orderId) { orderId version from to } }";
/// Handshakes in flight at once while opening subscriptions (a burst of thousands of connects
/// would overflow the server's accept backlog and measure that instead).
const CONCURRENT_HANDSHAKES: usize = 128;
/// How long connecting and `connection_init` / `connection_ack` may take per subscription.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time between probes while waiting for every subscription to be live.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long probing may take before the subscriptions that are not live count as failed.
const LIVE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait after the last change for its deliveries.
const DELIVERY_GRACE: Duration = Duration::from_secs(10);
/// Pause after opening subscriptions before reading the server's memory, so what it allocates
/// for them has been allocated.
const SETTLE: Duration = Duration::from_millis(500);
/// Subscription id; one subscription per connection.
const ID: &str = "1";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What subscribers share.
struct Shared {
    url: String,
    token: Option<String>,
    query: String,
    variables: Value,
    handshakes: Semaphore,
    /// Subscriptions that have sent `subscribe` (or failed trying).
    opened: AtomicUsize,
    /// Subscriptions that have received at least one event.
    live: AtomicUsize,
    /// Events with a version above this are measured (`i64::MAX` until measuring starts).
    measure_above: AtomicI64,
    /// Measured events received, by all subscribers.
    measured: AtomicU64,
}

/// What one subscriber saw.
struct Seen {
    arrivals: Vec<(i64, Instant)>,
    live: bool,
    error: Option<String>,
}

/// Runs the websocket scenario and prints the report.
pub async fn run(
    args: &Args,
    target: Target,
    subscribers: usize,
    order_id: String,
    query: Option<String>,
    mut variables: Value,
) -> Result<(), String> {
    if subscribers == 0 {
        return Err("--ws needs at least one subscriber".to_owned());
    }
    let mut driver = HttpConnection::open(&target, args.token.as_deref()).await?;
    let mut order = orders::movable_order(&mut driver, &order_id).await?;
    if query.is_none() {
        variables["orderId"] = json!(order_id);
    }
    let shared = Arc::new(Shared {
        url: target.ws_url.clone(),
        token: args.token.clone(),
        query: query.unwrap_or_else(|| DEFAULT_SUBSCRIPTION.to_owned()),
        variables,
        handshakes: Semaphore::new(CONCURRENT_HANDSHAKES),
        opened: AtomicUsize::new(0),
        live: AtomicUsize::new(0),
        measure_above: AtomicI64::new(i64::MAX),
        measured: AtomicU64::new(0),
    });
    let mut errors = ErrorTally::default();

    let rss_before = args
        .server_pid
        .and_then(|pid| procfs::rss_kib(Some(pid)).ok());
    let (stop, stopped) = watch::channel(false);
    let tasks: Vec<_> = (0..subscribers)
        .map(|_| tokio::spawn(subscriber(Arc::clone(&shared), stopped.clone())))
        .collect();
    let open_deadline =
        Instant::now() + HANDSHAKE_TIMEOUT + Duration::from_millis(subscribers as u64);
    while shared.opened.load(Ordering::Acquire) < subscribers && Instant::now() < open_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // graphql-transport-ws does not acknowledge `subscribe`: probe with real changes until every
    // subscription has delivered one, so the measured changes reach registered subscribers only.
    let live_deadline = Instant::now() + LIVE_TIMEOUT;
    while shared.live.load(Ordering::Acquire) < subscribers && Instant::now() < live_deadline {
        if let Err(e) = change(&mut driver, &mut order).await {
            errors.add("driver", e);
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    let live = shared.live.load(Ordering::Acquire);
    tokio::time::sleep(SETTLE).await;
    let rss_after = args
        .server_pid
        .and_then(|pid| procfs::rss_kib(Some(pid)).ok());

    shared.measure_above.store(order.version, Ordering::Release);
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
    while shared.measured.load(Ordering::Acquire) < expected && Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cpu = cpu.finish();
    let window = started.elapsed();
    let _ = stop.send(true);

    let mut histogram = new_histogram();
    let (mut delivered, mut early) = (0, 0);
    for task in tasks {
        let seen = task
            .await
            .map_err(|e| format!("a subscriber failed: {e}"))?;
        if let Some(error) = seen.error {
            errors.add("subscriber", error);
        } else if !seen.live {
            errors.add(
                "subscriber",
                format!("no event within {LIVE_TIMEOUT:?} of probing"),
            );
        }
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
    let rss_kib_per_subscriber = match (rss_before, rss_after) {
        (Some(before), Some(after)) if live > 0 => {
            #[allow(clippy::cast_precision_loss)] // KiB and connection counts are far below 2^53.
            Some((after.saturating_sub(before)) as f64 / live as f64)
        }
        _ => None,
    };
    WsReport {
        label: args.label.clone(),
        subscribers: live,
        changes,
        expected,
        delivered,
        early,
        errors,
        latency: LatencySummary::from_histogram(&histogram),
        window,
        cpu,
        server_pid: args.server_pid,
        rss_kib_per_subscriber,
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
async fn subscriber(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> Seen {
    let mut seen = Seen {
        arrivals: Vec::new(),
        live: false,
        error: None,
    };
    let socket = {
        let _permit = shared.handshakes.acquire().await;
        let socket = tokio::time::timeout(HANDSHAKE_TIMEOUT, open(&shared))
            .await
            .unwrap_or_else(|_| Err(format!("handshake took over {HANDSHAKE_TIMEOUT:?}")));
        shared.opened.fetch_add(1, Ordering::AcqRel);
        socket
    };
    let mut socket = match socket {
        Ok(socket) => socket,
        Err(e) => {
            seen.error = Some(e);
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
                Some(version) => {
                    if !seen.live {
                        seen.live = true;
                        shared.live.fetch_add(1, Ordering::AcqRel);
                    }
                    if version > shared.measure_above.load(Ordering::Acquire) {
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
    let _ = socket.close(None).await;
    seen
}

/// Connects and subscribes.
async fn open(shared: &Shared) -> Result<Socket, String> {
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
    send(
        &mut socket,
        json!({
            "id": ID,
            "type": "subscribe",
            "payload": { "query": shared.query, "variables": shared.variables },
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
    fn an_event_with_errors_or_without_a_version_is_refused() {
        let errors = json!({ "type": "next", "payload": { "data": null,
            "errors": [{ "message": "resync", "extensions": { "code": "RESYNC_REQUIRED" } }] } });
        assert_eq!(event_version(&errors), None);
        let no_version =
            json!({ "type": "next", "payload": { "data": { "x": { "to": "ON_HOLD" } } } });
        assert_eq!(event_version(&no_version), None);
    }
}
