//! The status-change workload shared by `--hold-resume` and the `--ws` driver: put an order
//! ON_HOLD, resume it to where it was, and keep following its version so every request is a
//! valid move (a CONFLICT or INVALID_TRANSITION would be our bug, and is counted as an error).

use bench::check::{FieldPath, parse_response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::client::{HttpConnection, Target};

/// The mutation sent; its answer carries what the next move needs.
const TRANSITION: &str = "mutation Transition($input: TransitionInput!) { \
     transitionOrder(input: $input) { id status version heldFrom } }";

/// One order's state as far as the next move needs it.
const ORDER_STATE: &str = "query OrderState($id: ID!) { \
     order(id: $id) { id status version heldFrom allowedTransitions } }";

/// A page of orders that may be moved between ON_HOLD and their previous status.
const HOLDABLE_ORDERS: &str = "query HoldableOrders($after: String) { \
     orders(first: 100, after: $after, filter: { status: [CONFIRMED, IN_PRODUCTION, \
     READY_TO_SHIP, PARTIALLY_SHIPPED, SHIPPED, ON_HOLD] }) { \
     nodes { id status version heldFrom allowedTransitions } \
     pageInfo { hasNextPage endCursor } } }";

/// Why the benchmark puts orders on hold (hold needs a reason).
const HOLD_REASON: &str = "load test";

/// An order the workload moves, with the version it has now.
#[derive(Clone, Debug)]
pub struct OrderState {
    /// The order's id.
    pub id: String,
    status: String,
    held_from: Option<String>,
    /// Its current version (the next move's `expectedVersion`).
    pub version: i64,
}

impl OrderState {
    /// From an `Order` object with `id status version heldFrom`.
    fn from_json(order: &Value) -> Option<Self> {
        Some(Self {
            id: order.get("id")?.as_str()?.to_owned(),
            status: order.get("status")?.as_str()?.to_owned(),
            held_from: order
                .get("heldFrom")
                .and_then(Value::as_str)
                .map(str::to_owned),
            version: order.get("version")?.as_i64()?,
        })
    }

    /// Whether the lifecycle allows our next move now (from `allowedTransitions`).
    fn next_move_allowed(&self, order: &Value) -> bool {
        let target = self.next_target();
        order
            .get("allowedTransitions")
            .and_then(Value::as_array)
            .is_some_and(|allowed| allowed.iter().any(|status| status == target))
    }

    /// ON_HOLD, or back to where it was held from.
    fn next_target(&self) -> &str {
        match (&*self.status, &self.held_from) {
            ("ON_HOLD", Some(held_from)) => held_from,
            _ => "ON_HOLD",
        }
    }

    /// The request body of the next move.
    #[must_use]
    pub fn next_request(&self) -> Bytes {
        let to = self.next_target();
        let mut input = json!({ "orderId": self.id, "to": to, "expectedVersion": self.version });
        if to == "ON_HOLD" {
            input["reason"] = json!(HOLD_REASON);
        }
        json!({ "query": TRANSITION, "variables": { "input": input } })
            .to_string()
            .into()
    }

    /// Takes the new status and version from a successful answer to [`next_request`]; false
    /// when the answer does not carry them.
    ///
    /// [`next_request`]: OrderState::next_request
    pub fn apply_answer(&mut self, answer: &Value) -> bool {
        match answer
            .pointer("/data/transitionOrder")
            .and_then(OrderState::from_json)
        {
            Some(next) if next.id == self.id => {
                *self = next;
                true
            }
            _ => false,
        }
    }

    /// Reads the order's state again (after a failed move, when our idea of it may be stale).
    pub async fn refresh(&mut self, connection: &mut HttpConnection) -> Result<(), String> {
        let order = fetch_order(connection, &self.id).await?;
        *self = OrderState::from_json(&order).ok_or("order state without status or version")?;
        Ok(())
    }
}

/// The path every answer to a move must have.
pub fn transition_expectation() -> FieldPath {
    FieldPath::parse("data.transitionOrder.version").expect("constant path")
}

/// The current state of one order, checked.
pub async fn fetch_order(connection: &mut HttpConnection, id: &str) -> Result<Value, String> {
    let body = json!({ "query": ORDER_STATE, "variables": { "id": id } }).to_string();
    let (status, answer) = connection.post(body.into()).await?;
    let expect = FieldPath::parse("data.order.version").expect("constant path");
    let mut value =
        parse_response(status, &answer, Some(&expect)).map_err(|e| format!("order {id}: {e}"))?;
    Ok(value["data"]["order"].take())
}

/// The state of `id`, provided the hold/resume move is allowed on it now.
pub async fn movable_order(
    connection: &mut HttpConnection,
    id: &str,
) -> Result<OrderState, String> {
    let order = fetch_order(connection, id).await?;
    let state = OrderState::from_json(&order).ok_or("order state without status or version")?;
    if state.next_move_allowed(&order) {
        Ok(state)
    } else {
        Err(format!(
            "order {id} is {} and cannot be moved to {} now (allowedTransitions: {})",
            state.status,
            state.next_target(),
            order["allowedTransitions"]
        ))
    }
}

/// The orders the token may move between ON_HOLD and its previous status, all of them or the
/// first `limit` (paging stops there: a large database need not be read to the end).
pub async fn holdable_orders(
    connection: &mut HttpConnection,
    limit: Option<usize>,
) -> Result<Vec<OrderState>, String> {
    let limit = limit.unwrap_or(usize::MAX);
    let expect = FieldPath::parse("data.orders.nodes").expect("constant path");
    let mut orders = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = json!({ "query": HOLDABLE_ORDERS, "variables": { "after": after } });
        let (status, answer) = connection.post(body.to_string().into()).await?;
        let page = parse_response(status, &answer, Some(&expect))
            .map_err(|e| format!("listing holdable orders: {e}"))?;
        let connection_page = &page["data"]["orders"];
        for order in connection_page["nodes"].as_array().into_iter().flatten() {
            if let Some(state) = OrderState::from_json(order)
                && state.next_move_allowed(order)
            {
                orders.push(state);
            }
        }
        if orders.len() >= limit {
            orders.truncate(limit);
            return Ok(orders);
        }
        if connection_page["pageInfo"]["hasNextPage"] != json!(true) {
            return Ok(orders);
        }
        after = connection_page["pageInfo"]["endCursor"].clone();
    }
}

/// The order ids of an orders file: one per line; blank lines and lines starting with `#` are
/// skipped. A repeated id is refused, since every subscriber of the targeted scenario needs an
/// order of its own.
pub fn parse_order_ids(text: &str) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (number, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() || id.starts_with('#') {
            continue;
        }
        if id.contains(char::is_whitespace) {
            return Err(format!(
                "line {}: `{id}` is not one order id (one per line)",
                number + 1
            ));
        }
        if !seen.insert(id) {
            return Err(format!("line {}: order {id} is listed twice", number + 1));
        }
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// The states of `ids`, in that order, each checked to allow the hold/resume move now; read over
/// `connections` connections at once (10,000 orders one after the other would take a while).
pub async fn movable_orders(
    target: &Target,
    token: Option<&str>,
    ids: &[String],
    connections: usize,
) -> Result<Vec<OrderState>, String> {
    let chunk = ids.len().div_ceil(connections.max(1)).max(1);
    let readers: Vec<_> = ids
        .chunks(chunk)
        .map(|chunk| {
            let (target, token, chunk) = (target.clone(), token.map(str::to_owned), chunk.to_vec());
            tokio::spawn(async move {
                let mut connection = HttpConnection::open(&target, token.as_deref()).await?;
                let mut states = Vec::with_capacity(chunk.len());
                for id in &chunk {
                    states.push(movable_order(&mut connection, id).await?);
                }
                Ok::<_, String>(states)
            })
        })
        .collect();
    let mut states = Vec::with_capacity(ids.len());
    for reader in readers {
        states.extend(reader.await.map_err(|e| format!("reading orders: {e}"))??);
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str, held_from: Option<&str>) -> OrderState {
        OrderState {
            id: "7".to_owned(),
            status: status.to_owned(),
            held_from: held_from.map(str::to_owned),
            version: 4,
        }
    }

    fn request_input(state: &OrderState) -> Value {
        let body: Value = serde_json::from_slice(&state.next_request()).expect("JSON body");
        body["variables"]["input"].clone()
    }

    #[test]
    fn an_active_order_is_put_on_hold_with_a_reason() {
        assert_eq!(
            request_input(&state("IN_PRODUCTION", None)),
            json!({ "orderId": "7", "to": "ON_HOLD", "expectedVersion": 4, "reason": HOLD_REASON })
        );
    }

    #[test]
    fn a_held_order_is_resumed_to_where_it_was() {
        assert_eq!(
            request_input(&state("ON_HOLD", Some("SHIPPED"))),
            json!({ "orderId": "7", "to": "SHIPPED", "expectedVersion": 4 })
        );
    }

    #[test]
    fn an_answer_moves_the_state_on() {
        let mut order = state("CONFIRMED", None);
        let answer = json!({ "data": { "transitionOrder": {
            "id": "7", "status": "ON_HOLD", "version": 5, "heldFrom": "CONFIRMED" } } });
        assert!(order.apply_answer(&answer));
        assert_eq!(order.version, 5);
        assert_eq!(request_input(&order)["to"], "CONFIRMED");
        assert!(!order.apply_answer(&json!({ "data": null })));
    }

    #[test]
    fn an_orders_file_lists_one_id_per_line_skipping_blanks_and_comments() {
        let text = "# watched orders\n101\n\n  102  \n# done\n103";
        assert_eq!(
            parse_order_ids(text),
            Ok(vec!["101".to_owned(), "102".to_owned(), "103".to_owned()])
        );
        assert_eq!(parse_order_ids(""), Ok(Vec::new()));
    }

    #[test]
    fn an_orders_file_with_a_repeated_id_or_two_ids_on_a_line_is_refused() {
        let repeated = parse_order_ids("101\n102\n101\n").expect_err("repeated");
        assert!(repeated.contains("line 3"), "{repeated}");
        assert!(parse_order_ids("101 102\n").is_err());
    }

    #[test]
    fn only_orders_whose_next_move_is_allowed_qualify() {
        let order = json!({ "allowedTransitions": ["READY_TO_SHIP", "ON_HOLD", "CANCELLED"] });
        assert!(state("IN_PRODUCTION", None).next_move_allowed(&order));
        assert!(!state("ON_HOLD", Some("SHIPPED")).next_move_allowed(&order));
    }
}
