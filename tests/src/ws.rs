//! A raw websocket client for protocol tests: it sends whatever a test wants, including what a
//! well-behaved client never would, and reports every message, server ping and close frame.
//! [`Subscription`](crate::Subscription) is the well-behaved client for everything else.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async, connect_async};

use crate::app::TestApp;
use crate::json::pretty;

/// The graphql-transport-ws subprotocol.
pub const TRANSPORT_WS: &str = "graphql-transport-ws";
/// The legacy graphql-ws (subscriptions-transport-ws) subprotocol.
pub const LEGACY_WS: &str = "graphql-ws";

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reply the test is waiting for may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What arrived on the socket.
#[derive(Debug)]
pub enum Received {
    /// A text (or binary) message, as JSON.
    Message(Value),
    /// A websocket-level ping from the server (already answered).
    Ping,
    /// The server's close frame.
    Closed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The connection ended without a close frame.
    Ended,
}

/// One websocket to `/graphql`.
pub struct RawSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The subprotocol the server chose.
    pub protocol: Option<String>,
}

impl TestApp {
    /// `ws://HOST:PORT/graphql`.
    #[must_use]
    pub fn ws_url(&self) -> String {
        format!("{}/graphql", self.address.replacen("http://", "ws://", 1))
    }

    /// Opens a websocket to `/graphql` offering `subprotocols` (comma-separated, in order of
    /// preference) and sends nothing.
    pub async fn raw_socket(&self, subprotocols: &str) -> RawSocket {
        RawSocket::connect(&self.ws_url(), subprotocols).await
    }

    /// A JWT for an existing user that lives `ttl` (e.g. `5s`), from `orderdesk token --ttl`.
    pub async fn token_with_ttl(&self, email: &str, ttl: &str) -> String {
        let stdout = self.cli(&["token", "--email", email, "--ttl", ttl]).await;
        stdout
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty())
            .unwrap_or_else(|| panic!("`orderdesk token` printed nothing"))
            .to_owned()
    }
}

impl RawSocket {
    /// Connects to `url` offering `subprotocols`.
    ///
    /// # Panics
    /// When the connection fails or times out.
    pub async fn connect(url: &str, subprotocols: &str) -> Self {
        let request = upgrade_request(url, subprotocols);
        let (ws, response) = tokio::time::timeout(CONNECT_TIMEOUT, connect_async(request))
            .await
            .unwrap_or_else(|_| panic!("websocket connect to {url} timed out"))
            .unwrap_or_else(|e| panic!("websocket connect to {url}: {e}"));
        RawSocket {
            ws,
            protocol: chosen_protocol(&response),
        }
    }

    /// Connects like [`connect`](Self::connect), over a TCP socket whose receive buffer is
    /// `bytes`: a client on a slow link, whose window fills after a few messages once it stops
    /// reading (the kernel may round the size up).
    ///
    /// # Panics
    /// When the connection fails or times out.
    pub async fn connect_with_receive_buffer(url: &str, subprotocols: &str, bytes: u32) -> Self {
        let request = upgrade_request(url, subprotocols);
        let host = request.uri().host().unwrap_or("127.0.0.1").to_owned();
        let port = request.uri().port_u16().unwrap_or(80);
        let address = tokio::net::lookup_host((host.as_str(), port))
            .await
            .ok()
            .and_then(|mut addresses| addresses.next())
            .unwrap_or_else(|| panic!("cannot resolve {host}:{port}"));
        let socket = if address.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .expect("a TCP socket");
        // Set before connecting, so the window advertised in the handshake is already small.
        socket
            .set_recv_buffer_size(bytes)
            .expect("set the receive buffer size");
        let handshake = async {
            let stream = socket.connect(address).await.expect("TCP connect");
            client_async(request, MaybeTlsStream::Plain(stream)).await
        };
        let (ws, response) = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
            .await
            .unwrap_or_else(|_| panic!("websocket connect to {url} timed out"))
            .unwrap_or_else(|e| panic!("websocket connect to {url}: {e}"));
        RawSocket {
            ws,
            protocol: chosen_protocol(&response),
        }
    }

    /// Sends `message` as a text frame.
    pub async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    /// Sends `text` as it is.
    ///
    /// # Panics
    /// When the send fails.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::text(text.into()))
            .await
            .unwrap_or_else(|e| panic!("websocket send failed: {e}"));
    }

    /// Whatever arrives next, or `None` when nothing does within `timeout`.
    ///
    /// # Panics
    /// When a message is not JSON.
    pub async fn receive(&mut self, timeout: Duration) -> Option<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(None | Some(Err(_))) => return Some(Received::Ended),
                Ok(Some(Ok(frame))) => frame,
            };
            let text = match frame {
                Message::Text(text) => text.as_str().to_owned(),
                Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Message::Close(frame) => {
                    return Some(frame.map_or(Received::Ended, |frame| Received::Closed {
                        code: frame.code.into(),
                        reason: frame.reason.as_str().to_owned(),
                    }));
                }
                Message::Ping(_) => return Some(Received::Ping),
                Message::Pong(_) | Message::Frame(_) => continue,
            };
            let message = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("websocket message is not JSON ({e}): {text}"));
            return Some(Received::Message(message));
        }
    }

    /// The next message (server pings skipped).
    ///
    /// # Panics
    /// When nothing arrives within `timeout`, or the connection closes.
    pub async fn expect_message(&mut self, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            match self
                .receive(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Some(Received::Message(message)) => return message,
                Some(Received::Ping) => {}
                Some(other) => panic!("expected a message, got {other:?}"),
                None => panic!("no message within {timeout:?}"),
            }
        }
    }

    /// Reads until the server closes the socket and returns the close code and reason; the
    /// messages before it are ignored.
    ///
    /// # Panics
    /// When no close frame arrives within `timeout`, or the connection ends without one.
    pub async fn expect_close(&mut self, timeout: Duration) -> (u16, String) {
        let deadline = Instant::now() + timeout;
        loop {
            match self
                .receive(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Some(Received::Closed { code, reason }) => return (code, reason),
                Some(Received::Message(_) | Received::Ping) => {}
                Some(Received::Ended) => panic!("the connection ended without a close frame"),
                None => panic!("the server did not close the socket within {timeout:?}"),
            }
        }
    }

    /// Sends `connection_init` (with `{"authorization": "Bearer <token>"}` when a token is given)
    /// and waits for `connection_ack`.
    ///
    /// # Panics
    /// When anything else arrives.
    pub async fn init(&mut self, token: Option<&str>) {
        let payload = token.map(|token| json!({ "authorization": format!("Bearer {token}") }));
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let ack = self.expect_message(REPLY_TIMEOUT).await;
        assert_eq!(ack["type"], "connection_ack", "{}", pretty(&ack));
    }

    /// Sends `subscribe` with `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id,
            "type": "subscribe",
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// Sends a `ping` and returns every message that arrived before the `pong`. The server
    /// handles messages in order, so everything sent before has been handled when this returns.
    ///
    /// # Panics
    /// When no `pong` arrives in time, or the connection closes.
    pub async fn round_trip(&mut self) -> Vec<Value> {
        self.send(json!({ "type": "ping" })).await;
        let mut before = Vec::new();
        loop {
            let message = self.expect_message(REPLY_TIMEOUT).await;
            if message["type"] == "pong" {
                return before;
            }
            before.push(message);
        }
    }
}

/// The upgrade request for `url`, offering `subprotocols`.
fn upgrade_request(url: &str, subprotocols: &str) -> Request {
    let mut request = url
        .into_client_request()
        .unwrap_or_else(|e| panic!("bad websocket URL {url}: {e}"));
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_str(subprotocols).expect("a header value"),
    );
    request
}

/// The subprotocol the server chose, if any.
fn chosen_protocol(response: &Response) -> Option<String> {
    response
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
