//! A minimal graphql-transport-ws client: one websocket, one subscription (id "1").

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::json::pretty;

/// How long connecting and the `connection_init` / `connection_ack` handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one round of [`Subscription::wait_until_live`] waits for the probe's event.
const PROBE_WAIT: Duration = Duration::from_secs(2);
/// How long [`Subscription::wait_until_live`] keeps probing before giving up.
const LIVE_TIMEOUT: Duration = Duration::from_secs(30);
/// Subscription id; one subscription per connection keeps the tests simple.
const ID: &str = "1";

/// A live subscription over its own websocket.
pub struct Subscription {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Subscription {
    /// Connects to `url` (`ws://HOST/graphql`), sends `connection_init` (with `{"authorization": "Bearer <token>"}` when a token
    /// is given), waits for `connection_ack`, then subscribes with id "1".
    ///
    /// # Panics
    /// When the connection or the handshake fails or times out.
    pub async fn open(url: &str, query: &str, variables: Value, token: Option<&str>) -> Self {
        let mut request = url
            .into_client_request()
            .unwrap_or_else(|e| panic!("bad websocket URL {url}: {e}"));
        request.headers_mut().insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (ws, response) = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect_async(request))
            .await
            .unwrap_or_else(|_| panic!("websocket connect to {url} timed out"))
            .unwrap_or_else(|e| panic!("websocket connect to {url}: {e}"));
        let protocol = response.headers().get(SEC_WEBSOCKET_PROTOCOL);
        assert_eq!(
            protocol.and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws"),
            "the server did not accept the graphql-transport-ws subprotocol"
        );

        let mut subscription = Subscription { ws };
        let payload = match token {
            Some(token) => json!({ "authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        subscription
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        loop {
            let message = subscription
                .next_message_until(deadline)
                .await
                .unwrap_or_else(|| panic!("no connection_ack within {HANDSHAKE_TIMEOUT:?}"));
            match message["type"].as_str() {
                Some("connection_ack") => break,
                // `ping` is answered inside `next_message_until`; anything else is unexpected.
                Some("pong") => {}
                _ => panic!("expected connection_ack, got:\n{}", pretty(&message)),
            }
        }

        subscription
            .send(json!({
                "id": ID,
                "type": "subscribe",
                "payload": { "query": query, "variables": variables },
            }))
            .await;
        subscription
    }

    /// The `payload.data` of the next `next` message.
    ///
    /// # Panics
    /// When nothing arrives within `timeout`, the payload carries errors, the server sends
    /// `error` or `complete`, or the connection closes.
    pub async fn next_event(&mut self, timeout: Duration) -> Value {
        self.try_next_event(timeout)
            .await
            .unwrap_or_else(|| panic!("no subscription event within {timeout:?}"))
    }

    /// Like [`next_event`](Self::next_event), but `None` when nothing arrives within `timeout`.
    pub async fn try_next_event(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let message = self.next_message_until(deadline).await?;
            match message["type"].as_str() {
                Some("next") if message["id"] == ID => {
                    let payload = &message["payload"];
                    assert!(
                        payload.get("errors").is_none_or(Value::is_null),
                        "the subscription delivered errors:\n{}",
                        pretty(&message)
                    );
                    return Some(payload["data"].clone());
                }
                Some("error") => panic!("the subscription failed:\n{}", pretty(&message)),
                Some("complete") => panic!("the server completed the subscription"),
                _ => {}
            }
        }
    }

    /// The next protocol message (`next`, `error`, `complete`, `pong`, ...) as JSON, or `None`
    /// when nothing arrives within `timeout`. Server `ping`s are answered and not returned.
    ///
    /// # Panics
    /// When the connection closes or fails.
    pub async fn next_message(&mut self, timeout: Duration) -> Option<Value> {
        self.next_message_until(Instant::now() + timeout).await
    }

    /// Makes sure the server has registered this subscription before a test relies on seeing
    /// every event from now on.
    ///
    /// graphql-transport-ws has no acknowledgement of `subscribe`, and the server may still be
    /// setting the subscription up (e.g. reading its starting point in the event log) when the
    /// first mutation commits. So: `poke` makes a change this subscription must see and returns
    /// the `(orderId, version)` of the last event it caused; if no event arrives within 2 s the
    /// poke is repeated. Once any event arrives the subscription is live, and events are read
    /// until the latest poke's last one, so the caller continues with nothing pending.
    ///
    /// Requires the subscription to select `orderStatusChanged { orderId version }`.
    ///
    /// # Panics
    /// When no event arrives within 30 s of probing.
    pub async fn wait_until_live(&mut self, mut poke: impl AsyncFnMut() -> (String, i64)) {
        let give_up = Instant::now() + LIVE_TIMEOUT;
        let mut target = poke().await;
        let mut live = false;
        loop {
            let wait = if live {
                Duration::from_secs(10)
            } else {
                PROBE_WAIT
            };
            match self.try_next_event(wait).await {
                Some(data) => {
                    live = true;
                    let change = &data["orderStatusChanged"];
                    let seen = (
                        change["orderId"].as_str().unwrap_or_default().to_owned(),
                        change["version"].as_i64().unwrap_or_default(),
                    );
                    if seen == target {
                        return;
                    }
                }
                None => {
                    assert!(
                        !live,
                        "the subscription went quiet before the probe {target:?} arrived"
                    );
                    assert!(
                        Instant::now() < give_up,
                        "the subscription received no event within {LIVE_TIMEOUT:?} of probing"
                    );
                    target = poke().await;
                }
            }
        }
    }

    /// Sends `complete` for the subscription and closes the websocket.
    pub async fn close(mut self) {
        self.send(json!({ "id": ID, "type": "complete" })).await;
        let _ = self.ws.close(None).await;
    }

    async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .unwrap_or_else(|e| panic!("websocket send failed: {e}"));
    }

    async fn next_message_until(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => panic!("the server closed the websocket"),
                Ok(Some(Err(e))) => panic!("websocket error: {e}"),
                Ok(Some(Ok(frame))) => frame,
            };
            let text = match frame {
                Message::Text(text) => text.as_str().to_owned(),
                Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Message::Close(frame) => panic!("the server closed the websocket: {frame:?}"),
                // tungstenite answers websocket-level pings itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            let message: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("websocket message is not JSON ({e}): {text}"));
            if message["type"] == "ping" {
                self.send(json!({ "type": "pong" })).await;
                continue;
            }
            return Some(message);
        }
    }
}
