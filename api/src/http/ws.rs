//! Websocket subscriptions. graphql-transport-ws is served by our own message loop
//! ([`transport`]) because async-graphql's deviates from the protocol (close codes 1002/1011
//! instead of 4400/4401/4403, no `connection_init` timeout, a duplicate id silently replaces the
//! running operation, failures sent as `next`); the legacy graphql-ws protocol is still served by
//! async-graphql. Either way the token travels in the `connection_init` payload
//! (`{ "authorization": "Bearer ..." }`) and the connection ends when the token expires.

mod direct;
mod plan;
mod protocol;
mod transport;

pub use self::plan::Plans;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::WebSocketUpgrade;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::HeaderValue;
use axum::response::Response;
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;

use super::AppState;
use super::auth::Auth;
use crate::graphql::loaders::loaders;

/// Read buffer per connection, allocated up front and kept. tungstenite's default (128 KiB)
/// would be most of an idle connection's memory; clients send a few small messages (a
/// subscribe is a few hundred bytes), and a larger frame grows the buffer as it arrives.
/// Measured: 4 KiB of the ~35 KiB an idle subscribed connection held at 4 KiB.
const READ_BUFFER_BYTES: usize = 1024;
/// Write buffer per connection (default 128 KiB); every message is flushed when sent anyway.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// Largest message (and frame) a client may send; larger ones end the connection.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The knobs of a connection. [`Settings::default`] is what the server uses.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// How long a client has to send `connection_init` (else 4408).
    pub init_timeout: Duration,
    /// How often the server pings; a peer that has sent nothing since the previous ping is gone.
    pub keepalive_interval: Duration,
    /// Most operations active at once on one connection.
    pub max_subscriptions: usize,
    /// How long the server waits for the client to answer its close frame.
    pub close_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            init_timeout: Duration::from_secs(10),
            // The reference implementation's keep-alive period.
            keepalive_interval: Duration::from_secs(12),
            max_subscriptions: 100,
            close_grace: Duration::from_secs(2),
        }
    }
}

/// Accepts the upgrade and serves the connection with the subprotocol the client asked for;
/// when it offers both, graphql-transport-ws.
pub fn serve(upgrade: WebSocketUpgrade, protocol: GraphQLProtocol, state: AppState) -> Response {
    let upgrade = upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .protocols(ALL_WEBSOCKET_PROTOCOLS);
    // `protocol` follows the client's order of preference, the header echoed back follows
    // ours: serve what the header says, so client and server agree.
    let transport_ws =
        upgrade.selected_protocol() == Some(&HeaderValue::from_static(protocol::SUBPROTOCOL));
    let settings = Settings::default();
    upgrade.on_upgrade(move |socket| async move {
        let _open = state.services.metrics.websocket();
        if transport_ws {
            transport::serve(socket, state, settings).await;
        } else {
            // Only graphql-ws was offered, so that is what `protocol` names. Boxed: every
            // connection's task would otherwise be sized for the larger of the two loops, and
            // this one, async-graphql's, is rarely used.
            Box::pin(serve_legacy(socket, protocol, state)).await;
        }
    })
}

/// The legacy graphql-ws protocol (subscriptions-transport-ws), by async-graphql, cut off when
/// the token expires.
async fn serve_legacy(socket: WebSocket, protocol: GraphQLProtocol, state: AppState) {
    let (mut sink, stream) = socket.split();
    let (expiry_tx, expiry_rx) = oneshot::channel::<tokio::time::Instant>();
    let expired = Arc::new(AtomicBool::new(false));
    let until_expiry = {
        let expired = Arc::clone(&expired);
        async move {
            match expiry_rx.await {
                Ok(at) => {
                    tokio::time::sleep_until(at).await;
                    expired.store(true, Ordering::Relaxed);
                }
                // Not authenticated: async-graphql ends the connection itself.
                Err(_) => std::future::pending().await,
            }
        }
    };
    // Changes go through POST /graphql (rate limits, batching rules): a legacy `start` of a
    // mutation ends the connection, as the legacy protocol has no way to refuse one operation
    // that async-graphql would let us use.
    let refused_mutation = Arc::new(AtomicBool::new(false));
    let input = stream.take_until(until_expiry).take_while({
        let refused_mutation = Arc::clone(&refused_mutation);
        move |frame| {
            let mutation = frame.as_ref().is_ok_and(starts_mutation);
            if mutation {
                refused_mutation.store(true, Ordering::Relaxed);
            }
            std::future::ready(!mutation)
        }
    });
    let services = state.services.clone();
    GraphQLWebSocket::new_with_pair(&mut sink, input, state.schema.clone(), protocol)
        .on_connection_init(move |payload| async move {
            let header = ["authorization", "Authorization"]
                .iter()
                .find_map(|key| payload.get(key).and_then(|v| v.as_str()));
            let (auth, expires) = services.jwt.from_bearer_with_expiry(header);
            match &auth {
                Auth::User(_) => {}
                Auth::Anonymous => {
                    return Err(async_graphql::Error::new(
                        "connection_init needs {\"authorization\": \"Bearer <token>\"}",
                    ));
                }
                Auth::Invalid(reason) => {
                    return Err(async_graphql::Error::new(reason.clone()));
                }
            }
            if let Some(at) = expires {
                match (at - Utc::now()).to_std() {
                    Ok(remaining) if !remaining.is_zero() => {
                        let _ = expiry_tx.send(tokio::time::Instant::now() + remaining);
                    }
                    _ => return Err(async_graphql::Error::new("token expired")),
                }
            }
            let mut data = Data::default();
            data.insert(auth);
            data.insert(loaders(&services.store));
            Ok(data)
        })
        .serve()
        .await;
    let close = if expired.load(Ordering::Relaxed) {
        Some((4403, "Forbidden: token expired"))
    } else if refused_mutation.load(Ordering::Relaxed) {
        Some((4400, "mutations must be sent with POST /graphql"))
    } else {
        None
    };
    if let Some((code, reason)) = close {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    }
}

/// Whether a legacy message is the `start` of a mutation.
fn starts_mutation(frame: &Message) -> bool {
    let text = match frame {
        Message::Text(text) => text.as_str(),
        Message::Binary(bytes) => std::str::from_utf8(bytes).unwrap_or_default(),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return false,
    };
    #[derive(serde::Deserialize)]
    struct Start {
        r#type: String,
        payload: async_graphql::Request,
    }
    serde_json::from_str::<Start>(text).is_ok_and(|mut start| {
        matches!(start.r#type.as_str(), "start" | "subscribe")
            && crate::http::endpoint::is_mutation(&mut start.payload)
    })
}
