//! Status changes written from the event directly.
//!
//! A parked subscription runs its operation through async-graphql once per event
//! ([`super::plan`]). For `orderStatusChanged` with a selection of the change's plain fields, which
//! is what a screen that follows its orders asks for, that execution is two fifths of a delivery's
//! instructions (`bench/callgrind.sh delivery`): the request, the document's copy, the variables,
//! validation, the field futures. Every subscriber of its own order pays it for each of its
//! events, as no other subscriber shares them. Such a selection is recognised once, when its plan
//! is made, and each event's payload is then built from the event as the same values async-graphql
//! would produce (the types' own conversions) and serialised by the same `Response`. Anything else
//! (the actor, `__typename`, fragments, directives, a key selected twice) runs as before; the
//! tests compare both ways over every selection of these fields.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection};
use async_graphql::{Name, Response, Value};
use domain::event::StoredEvent;

use crate::graphql::types::StatusChangeNode;

/// The root field this applies to.
const ROOT: &str = "orderStatusChanged";

/// A plain field of a status change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    OrderId,
    OrderNumber,
    From,
    To,
    Version,
    At,
    Cursor,
}

impl Field {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "orderId" => Self::OrderId,
            "orderNumber" => Self::OrderNumber,
            "from" => Self::From,
            "to" => Self::To,
            "version" => Self::Version,
            "at" => Self::At,
            "cursor" => Self::Cursor,
            _ => return None,
        })
    }

    /// The value async-graphql gives the field of `change`.
    fn value(self, change: &StatusChangeNode) -> Value {
        match self {
            Self::OrderId => Value::String(change.order_id.to_string()),
            Self::OrderNumber => Value::String(change.order_number.clone()),
            Self::From => async_graphql::InputType::to_value(&change.from),
            Self::To => async_graphql::InputType::to_value(&change.to),
            Self::Version => Value::from(change.version),
            Self::At => async_graphql::ScalarType::to_value(&change.at),
            Self::Cursor => Value::String(change.cursor.clone()),
        }
    }
}

/// The response keys and fields of a selection that can be written directly.
#[derive(Debug)]
pub(super) struct StatusSelection {
    root: Name,
    fields: Vec<(Name, Field)>,
}

impl StatusSelection {
    /// The selection of `document` (a parked operation, its root one field without directives)
    /// if it is `orderStatusChanged` with plain fields only, each under a key of its own.
    pub(super) fn of(document: &ExecutableDocument) -> Option<Self> {
        if !document.fragments.is_empty() {
            return None;
        }
        let operation = match &document.operations {
            DocumentOperations::Single(operation) => operation,
            DocumentOperations::Multiple(operations) if operations.len() == 1 => {
                operations.values().next()?
            }
            DocumentOperations::Multiple(_) => return None,
        };
        let [root] = operation.node.selection_set.node.items.as_slice() else {
            return None;
        };
        let Selection::Field(root) = &root.node else {
            return None;
        };
        if root.node.name.node != ROOT || !root.node.directives.is_empty() {
            return None;
        }
        let mut fields: Vec<(Name, Field)> = Vec::new();
        for item in &root.node.selection_set.node.items {
            let Selection::Field(field) = &item.node else {
                return None;
            };
            let field = &field.node;
            if !field.arguments.is_empty()
                || !field.directives.is_empty()
                || !field.selection_set.node.items.is_empty()
            {
                return None;
            }
            let key = field.response_key().node.clone();
            if fields.iter().any(|(taken, _)| *taken == key) {
                return None;
            }
            fields.push((key, Field::named(&field.name.node)?));
        }
        if fields.is_empty() {
            return None;
        }
        Some(Self {
            root: root.node.response_key().node.clone(),
            fields,
        })
    }

    /// The `payload` of a `next` for `event`, as async-graphql would serialise it; `None` when
    /// the event is not a status change (the execution reports that).
    pub(super) fn payload(&self, event: &StoredEvent) -> Option<serde_json::Result<String>> {
        let change = StatusChangeNode::from_event(event)?;
        let fields = self
            .fields
            .iter()
            .map(|(key, field)| (key.clone(), field.value(&change)))
            .collect();
        let data = Value::Object([(self.root.clone(), Value::Object(fields))].into());
        Some(serde_json::to_string(&Response::new(data)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_graphql::{EmptyMutation, EmptySubscription, Request, Schema};
    use chrono::{TimeZone, Utc};
    use domain::event::OrderEventKind;
    use domain::lifecycle::OrderStatus;
    use domain::{CustomerId, OrderId, UserId};

    use super::*;
    use crate::graphql::EventRoot;

    const FIELDS: [&str; 7] = [
        "orderId",
        "orderNumber",
        "from",
        "to",
        "version",
        "at",
        "cursor",
    ];

    fn event(kind: OrderEventKind) -> StoredEvent {
        StoredEvent {
            seq: 4711,
            order_id: OrderId(42),
            order_number: "SO-000042".into(),
            customer_id: CustomerId(7),
            sales_rep_id: UserId(3),
            order_version: 9,
            actor_id: UserId(3),
            // Nanoseconds, so that a different rendering of the time would show.
            at: Utc.timestamp_opt(1_795_000_000, 123_456_789).unwrap(),
            kind,
        }
    }

    fn status_change() -> StoredEvent {
        event(OrderEventKind::StatusChanged {
            from: OrderStatus::InProduction,
            to: OrderStatus::OnHold,
            reason: Some("waiting for parts".into()),
        })
    }

    /// The subscription as the event schema runs it: the same document, made a query.
    fn converted(subscription: &str) -> ExecutableDocument {
        let mut document = async_graphql::parser::parse_query(subscription).unwrap();
        super::super::plan::set_operation_type(
            &mut document,
            async_graphql::parser::types::OperationType::Query,
        );
        document
    }

    /// What async-graphql makes of it, the way `Plans::resolve` asks.
    async fn executed(document: &ExecutableDocument, event: &StoredEvent) -> String {
        let schema = Schema::build(EventRoot, EmptyMutation, EmptySubscription).finish();
        let mut request = Request::new(String::new())
            .variables(async_graphql::Variables::from_json(
                serde_json::json!({ "id": "42" }),
            ))
            .data(Arc::new(event.clone()));
        request.set_parsed_query(document.clone());
        let response = schema.execute(request).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        serde_json::to_string(&response).unwrap()
    }

    #[tokio::test]
    async fn every_selection_of_the_plain_fields_is_written_as_async_graphql_writes_it() {
        let event = status_change();
        let mut checked = 0;
        // Every non-empty subset of the fields, in their order and reversed, with and without
        // aliases, under the root field's name or an alias.
        for subset in 1_u32..(1 << FIELDS.len()) {
            let chosen: Vec<&str> = FIELDS
                .iter()
                .enumerate()
                .filter(|(i, _)| subset & (1 << i) != 0)
                .map(|(_, name)| *name)
                .collect();
            let reversed: Vec<&str> = chosen.iter().rev().copied().collect();
            for (order, aliased, root) in [
                (&chosen, false, "orderStatusChanged(orderId: $id)"),
                (&reversed, true, "watch: orderStatusChanged(orderId: $id)"),
            ] {
                let selection: Vec<String> = order
                    .iter()
                    .map(|name| {
                        if aliased {
                            format!("my_{name}: {name}")
                        } else {
                            (*name).to_owned()
                        }
                    })
                    .collect();
                let text = format!(
                    "subscription Watch($id: ID) {{ {root} {{ {} }} }}",
                    selection.join(" ")
                );
                let document = converted(&text);
                let direct = StatusSelection::of(&document)
                    .unwrap_or_else(|| panic!("not written directly: {text}"));
                let written = direct.payload(&event).unwrap().unwrap();
                assert_eq!(written, executed(&document, &event).await, "{text}");
                checked += 1;
            }
        }
        assert_eq!(checked, 2 * 127);
    }

    #[test]
    fn anything_else_runs_through_async_graphql() {
        for text in [
            // The actor is read through the loaders.
            "subscription { orderStatusChanged { version actor { name } } }",
            "subscription { orderStatusChanged { __typename version } }",
            "subscription { orderStatusChanged { ...F } } fragment F on OrderStatusChange { version }",
            "subscription { orderStatusChanged { ... on OrderStatusChange { version } } }",
            "subscription($s: Boolean!) { orderStatusChanged { version @skip(if: $s) } }",
            // A key twice: async-graphql merges the two.
            "subscription { orderStatusChanged { version version } }",
            "subscription { orderStatusChanged { a: version a: to } }",
            // Another root field.
            "subscription { orderEvents { cursor } }",
        ] {
            assert!(
                StatusSelection::of(&converted(text)).is_none(),
                "written directly: {text}"
            );
        }
    }

    #[test]
    fn an_event_that_is_not_a_status_change_is_left_to_the_execution() {
        let document = converted("subscription { orderStatusChanged { version } }");
        let direct = StatusSelection::of(&document).unwrap();
        let other = event(OrderEventKind::DraftUpdated { changed: vec![] });
        assert!(direct.payload(&other).is_none());
    }
}
