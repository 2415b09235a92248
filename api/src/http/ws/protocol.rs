//! The messages of graphql-transport-ws and its close codes, as
//! <https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md> defines them. Parsing is as
//! strict as the reference implementation's: whatever the document does not specify is a 4400.

use async_graphql::{Response, ServerError};
use serde::Serialize;
use serde_json::{Map, Value};

/// The subprotocol name negotiated in `Sec-WebSocket-Protocol`.
pub const SUBPROTOCOL: &str = "graphql-transport-ws";

/// Longest close reason a close frame can carry (125 bytes of payload less the 2-byte code).
const MAX_CLOSE_REASON: usize = 123;

/// Why the server closes the socket: a code of the protocol and a short reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Close {
    /// The close code.
    pub code: u16,
    /// The reason, at most 123 bytes.
    pub reason: String,
}

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > MAX_CLOSE_REASON {
            let mut cut = MAX_CLOSE_REASON;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        Self { code, reason }
    }

    /// 4400: a message the protocol does not specify.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(4400, reason)
    }

    /// 4401: `subscribe` before the connection was acknowledged.
    pub fn unauthorized() -> Self {
        Self::new(4401, "Unauthorized")
    }

    /// 4403: `connection_init` without valid credentials, or the credentials expired.
    pub fn forbidden(reason: &str) -> Self {
        Self::new(4403, format!("Forbidden: {reason}"))
    }

    /// 4408: no `connection_init` in time.
    pub fn init_timeout() -> Self {
        Self::new(4408, "Connection initialisation timeout")
    }

    /// 4409: `subscribe` with the id of a subscription that is still active.
    pub fn subscriber_exists(id: &str) -> Self {
        Self::new(4409, format!("Subscriber for {id} already exists"))
    }

    /// 4429: a second `connection_init`.
    pub fn too_many_inits() -> Self {
        Self::new(4429, "Too many initialisation requests")
    }

    /// 4001: a subscription fell a full queue behind (a slow client or network). The client
    /// should reconnect and resubscribe with the last cursor it received; nothing is lost.
    /// Not one of the protocol's fatal codes, so graphql-ws clients reconnect on their own.
    pub fn resync() -> Self {
        Self::new(4001, "Resync required: resubscribe from your last cursor")
    }

    /// 1009: a message over the size limit.
    pub fn too_big() -> Self {
        Self::new(1009, "Message too big")
    }

    /// 1012: this instance is shutting down; the client should reconnect (to another instance).
    pub fn service_restart() -> Self {
        Self::new(1012, "Service restart: reconnect")
    }

    /// 1011: the server could not go on (never expected).
    pub fn internal() -> Self {
        Self::new(1011, "Internal error")
    }
}

/// A message from the client.
#[derive(Debug)]
pub enum ClientMessage {
    /// `connection_init`, with its optional payload object.
    ConnectionInit(Option<Map<String, Value>>),
    /// `ping`; the payload, if any, is not needed for the answer.
    Ping,
    /// `pong`: the answer to a server `ping`, or a unidirectional heartbeat.
    Pong,
    /// `subscribe`: run an operation under `id`.
    Subscribe {
        /// The client's id for the operation.
        id: String,
        /// The operation.
        request: Box<async_graphql::Request>,
    },
    /// `complete`: the client stops listening to `id`.
    Complete {
        /// The operation's id.
        id: String,
    },
}

/// Parses one text message.
///
/// # Errors
/// A message for the 4400 close reason when `text` is not a message the protocol specifies for a
/// client to send.
pub fn parse(text: &str) -> Result<ClientMessage, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|err| format!("Invalid message received: {err}"))?;
    let Value::Object(mut message) = value else {
        return Err("Message is expected to be an object".into());
    };
    let kind = match message.get("type") {
        None | Some(Value::Null) => return Err("Message is missing the 'type' property".into()),
        Some(Value::String(kind)) => kind.clone(),
        Some(_) => return Err("Message expects the 'type' property to be a string".into()),
    };
    match kind.as_str() {
        "connection_init" => Ok(ClientMessage::ConnectionInit(optional_object(
            &mut message,
            &kind,
        )?)),
        "ping" => optional_object(&mut message, &kind).map(|_| ClientMessage::Ping),
        "pong" => optional_object(&mut message, &kind).map(|_| ClientMessage::Pong),
        "subscribe" => {
            let id = required_id(&message, &kind)?;
            let Some(Value::Object(payload)) = message.remove("payload") else {
                return Err(
                    "\"subscribe\" message expects the 'payload' property to be an object".into(),
                );
            };
            let request = subscribe_request(payload)?;
            Ok(ClientMessage::Subscribe {
                id,
                request: Box::new(request),
            })
        }
        "complete" => Ok(ClientMessage::Complete {
            id: required_id(&message, &kind)?,
        }),
        "connection_ack" | "next" | "error" => {
            Err(format!("Unexpected message of type {kind} received"))
        }
        _ => Err(format!("Invalid message 'type' property \"{kind}\"")),
    }
}

fn optional_object(
    message: &mut Map<String, Value>,
    kind: &str,
) -> Result<Option<Map<String, Value>>, String> {
    match message.remove("payload") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(payload)) => Ok(Some(payload)),
        Some(_) => Err(format!(
            "\"{kind}\" message expects the 'payload' property to be an object or nullish or missing"
        )),
    }
}

fn required_id(message: &Map<String, Value>, kind: &str) -> Result<String, String> {
    match message.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(format!(
            "\"{kind}\" message requires a non-empty 'id' property"
        )),
    }
}

fn subscribe_request(mut payload: Map<String, Value>) -> Result<async_graphql::Request, String> {
    if !matches!(payload.get("query"), Some(Value::String(_))) {
        return Err(
            "\"subscribe\" message payload expects the 'query' property to be a string".into(),
        );
    }
    for (field, expected) in [
        ("variables", "an object"),
        ("operationName", "a string"),
        ("extensions", "an object"),
    ] {
        let fits = match payload.get(field) {
            None => true,
            Some(Value::Null) => {
                // Nullish means absent; async-graphql wants it absent.
                payload.remove(field);
                true
            }
            Some(Value::Object(_)) => expected == "an object",
            Some(Value::String(_)) => expected == "a string",
            Some(_) => false,
        };
        if !fits {
            return Err(format!(
                "\"subscribe\" message payload expects the '{field}' property to be {expected} or nullish or missing"
            ));
        }
    }
    serde_json::from_value(Value::Object(payload))
        .map_err(|err| format!("\"subscribe\" message payload is not a GraphQL request: {err}"))
}

/// A message from the server.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// The connection is accepted.
    ConnectionAck,
    /// The answer to a `ping`.
    Pong,
    /// One execution result of the operation `id`.
    Next {
        /// The operation's id.
        id: &'a str,
        /// The result.
        payload: &'a Response,
    },
    /// The operation `id` failed; no further message about it follows.
    Error {
        /// The operation's id.
        id: &'a str,
        /// The GraphQL errors, with their `extensions.code`.
        payload: &'a [ServerError],
    },
    /// The operation `id` has no more results.
    Complete {
        /// The operation's id.
        id: &'a str,
    },
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_messages_a_client_may_send_parse() {
        assert!(matches!(
            parse(r#"{"type":"connection_init"}"#),
            Ok(ClientMessage::ConnectionInit(None))
        ));
        match parse(r#"{"type":"connection_init","payload":{"authorization":"Bearer x"}}"#) {
            Ok(ClientMessage::ConnectionInit(Some(payload))) => {
                assert_eq!(payload["authorization"], "Bearer x");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(r#"{"type":"ping","payload":{"at":1}}"#),
            Ok(ClientMessage::Ping)
        ));
        assert!(matches!(
            parse(r#"{"type":"pong","payload":null}"#),
            Ok(ClientMessage::Pong)
        ));
        let subscribe = json!({
            "id": "7",
            "type": "subscribe",
            "payload": {
                "query": "subscription($id: ID) { x(id: $id) }",
                "variables": { "id": "1" },
                "operationName": null,
                "extensions": null,
            },
        });
        match parse(&subscribe.to_string()) {
            Ok(ClientMessage::Subscribe { id, request }) => {
                assert_eq!(id, "7");
                assert_eq!(request.query, "subscription($id: ID) { x(id: $id) }");
                assert_eq!(request.operation_name, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(r#"{"type":"complete","id":"7"}"#),
            Ok(ClientMessage::Complete { id }) if id == "7"
        ));
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for text in [
            "not json",
            "[]",
            "{}",
            r#"{"type":1}"#,
            r#"{"type":"start","id":"1","payload":{"query":"{ x }"}}"#,
            r#"{"type":"connection_init","payload":"token"}"#,
            r#"{"type":"ping","payload":[]}"#,
            r#"{"type":"subscribe","payload":{"query":"{ x }"}}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"{ x }"}}"#,
            r#"{"type":"subscribe","id":1,"payload":{"query":"{ x }"}}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":"1","payload":{}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ x }","variables":[]}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ x }","operationName":1}}"#,
            r#"{"type":"complete"}"#,
            r#"{"type":"next","id":"1","payload":{}}"#,
            r#"{"type":"connection_ack"}"#,
        ] {
            let reason = parse(text).expect_err(text);
            assert!(!reason.is_empty(), "{text}");
        }
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let close = Close::subscriber_exists(&"é".repeat(200));
        assert_eq!(close.code, 4409);
        assert!(close.reason.len() <= MAX_CLOSE_REASON);
        assert!(close.reason.starts_with("Subscriber for é"));
    }

    #[test]
    fn server_messages_serialise_as_the_protocol_spells_them() {
        let response = Response::new(async_graphql::Value::Null);
        let text = |message: &ServerMessage<'_>| serde_json::to_value(message).unwrap();
        assert_eq!(
            text(&ServerMessage::ConnectionAck),
            json!({ "type": "connection_ack" })
        );
        assert_eq!(text(&ServerMessage::Pong), json!({ "type": "pong" }));
        assert_eq!(
            text(&ServerMessage::Next {
                id: "1",
                payload: &response
            }),
            json!({ "type": "next", "id": "1", "payload": { "data": null } })
        );
        let errors = [ServerError::new("nope", None)];
        assert_eq!(
            text(&ServerMessage::Error {
                id: "1",
                payload: &errors
            }),
            json!({ "type": "error", "id": "1", "payload": [{ "message": "nope" }] })
        );
        assert_eq!(
            text(&ServerMessage::Complete { id: "1" }),
            json!({ "type": "complete", "id": "1" })
        );
    }
}
