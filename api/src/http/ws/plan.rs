//! Subscriptions that run once per event instead of holding a running operation.
//!
//! A subscription kept as async-graphql's running stream holds its query environment, its
//! variables, its field stream and the stream that selects between fields: about 12 KB for each
//! idle subscriber, most of its memory. An operation with one subscription field is instead
//! *parked*: the field opens its feed (checks, filter, replay) as always and hands it over, and on
//! each event the connection runs the operation as a query over that event ([`EventSchema`]).
//!
//! What a parked subscription runs is a [`Plan`]: the parsed operation and its variables,
//! shared by every subscription that sent the same ones. A plan resolves each event once, for all
//! of its subscribers (10,000 clients watching one order cost one resolution and one
//! serialisation, then a write each).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
};
use async_graphql::{Request, ServerError, Variables};
use domain::event::StoredEvent;
use tokio::sync::{OnceCell, Semaphore};

use super::direct::StatusSelection;
use crate::graphql::EventSchema;
use crate::graphql::error::ensure_codes;
use crate::graphql::loaders::{Loaders, SharedLoaders, loaders};
use crate::service::Services;

/// The plans in use; one per server.
pub struct Plans {
    schema: EventSchema,
    services: Services,
    interned: Mutex<Interned>,
    /// The loaders resolutions share, and when they were made: replaced after [`LOADERS_FOR`].
    loaders: Mutex<(Instant, Arc<Loaders>)>,
    /// Turns for subscriptions being started ([`STARTS_AT_ONCE`]).
    starts: Arc<Semaphore>,
}

/// Parked subscriptions being started at once. Until its field has opened the feed, an operation
/// is a running async-graphql stream of about 7 KB (its request, parsed document, variables,
/// query environment and field stream). When thousands of clients subscribe in the same second
/// (every mobile client reconnecting after a restart), they would all be that size together,
/// and the allocator keeps such a peak as the idle connections' memory afterwards. Waiting for a
/// turn, a subscription holds only its plan; starting takes a storage read at most, so turns
/// come round quickly. More than the feeds' own turns for their checks
/// ([`crate::service::FEED_CHECKS_AT_ONCE`]), so those are never idle for want of starters.
pub const STARTS_AT_ONCE: usize = 64;

/// How long resolutions share their loaders. Events name the same few users (the reps acting)
/// over and over; fresh loaders per resolution would read each again, after the loader's batching
/// delay. A subscription's own loaders used to live as long as it did; this is fresher.
const LOADERS_FOR: Duration = Duration::from_secs(1);

/// Plans and their documents by what identifies them. Entries of plans no subscription uses any
/// more are swept when the maps have doubled since the last sweep.
#[derive(Default)]
struct Interned {
    /// By query text and operation name.
    documents: HashMap<(String, Option<String>), Weak<Document>>,
    /// By document (its address, kept alive by the plan) and variables as JSON.
    plans: HashMap<(usize, Arc<str>), Weak<Plan>>,
    sweep_at: usize,
}

/// An operation's document, its subscription turned into a query of the event schema, and its
/// text.
struct Document {
    query: Arc<str>,
    converted: ExecutableDocument,
    /// Set when each event's payload can be written from the event itself.
    direct: Option<StatusSelection>,
}

/// An operation and its variables, run once per event for all its subscribers.
pub struct Plan {
    document: Arc<Document>,
    operation_name: Option<String>,
    /// As JSON: parsed per resolution (a few hundred nanoseconds), since a map of them costs a
    /// kilobyte (a B-tree leaf with room for 11) for every subscription with variables of its own.
    variables: Arc<str>,
    /// The newest event resolved, and its result (or the resolution in progress).
    last: Mutex<Option<(i64, Arc<OnceCell<Delivery>>)>>,
}

/// What one event becomes for a plan's subscribers.
#[derive(Clone)]
pub enum Delivery {
    /// The `payload` of a `next` message, serialised once.
    Next(Arc<str>),
    /// The operation failed on this event (no data): an `error` message, and it ends.
    Failed(Arc<[ServerError]>),
}

/// Fewest entries before the interning maps are swept.
const MIN_SWEEP: usize = 64;

impl Plans {
    /// The plans of a server, run with the event schema over `services`.
    pub fn new(services: Services) -> Self {
        Self {
            schema: crate::graphql::build_event_schema(services.clone()),
            loaders: Mutex::new((Instant::now(), Arc::new(loaders(&services.store)))),
            services,
            interned: Mutex::default(),
            starts: Arc::new(Semaphore::new(STARTS_AT_ONCE)),
        }
    }

    /// The plan for `request` if it can be parked: a single subscription operation whose one
    /// root field is a subscription field, without directives on it. Anything else (several
    /// root fields, fragments at the root, `@skip`) runs as a stream, as async-graphql runs it.
    /// `request` must have been parsed (the parse cache prepares it).
    pub fn plan(&self, request: &mut Request) -> Option<Arc<Plan>> {
        self.interned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .plan(request)
    }

    /// Turns for starting parked subscriptions ([`STARTS_AT_ONCE`]).
    pub fn starts(&self) -> Arc<Semaphore> {
        Arc::clone(&self.starts)
    }

    /// What `event` becomes for the subscribers of `plan`: resolved by the first of them to ask,
    /// shared with the others.
    pub async fn deliver(&self, plan: &Plan, event: &Arc<StoredEvent>) -> Delivery {
        let cell = {
            let mut last = plan.last.lock().unwrap_or_else(PoisonError::into_inner);
            resolution_of(&mut last, event.seq)
        };
        cell.get_or_init(|| self.resolve(plan, event)).await.clone()
    }

    async fn resolve(&self, plan: &Plan, event: &Arc<StoredEvent>) -> Delivery {
        self.services.metrics.subscription_resolved();
        let direct = plan.document.direct.as_ref();
        if let Some(payload) = direct.and_then(|selection| selection.payload(event)) {
            return match payload {
                Ok(payload) => Delivery::Next(payload.into()),
                Err(err) => unserialisable(&err),
            };
        }
        let mut request = Request::new(String::new())
            .variables(plan.variables())
            .data(Arc::clone(event))
            .data(SharedLoaders(self.loaders()));
        request.operation_name.clone_from(&plan.operation_name);
        request.set_parsed_query(plan.document.converted.clone());
        // Boxed: every parked subscription's stream would otherwise be sized for it.
        let mut response = Box::pin(self.schema.execute(request)).await;
        ensure_codes(&mut response);
        if response.data == async_graphql::Value::Null && !response.errors.is_empty() {
            return Delivery::Failed(response.errors.into());
        }
        match serde_json::to_string(&response) {
            Ok(payload) => Delivery::Next(payload.into()),
            Err(err) => unserialisable(&err),
        }
    }

    fn loaders(&self) -> Arc<Loaders> {
        let mut shared = self.loaders.lock().unwrap_or_else(PoisonError::into_inner);
        if shared.0.elapsed() >= LOADERS_FOR {
            *shared = (Instant::now(), Arc::new(loaders(&self.services.store)));
        }
        Arc::clone(&shared.1)
    }
}

impl Plan {
    /// The subscription this plan was made from, as a request to start it with.
    pub fn request(&self) -> Request {
        let mut document = self.document.converted.clone();
        set_operation_type(&mut document, OperationType::Subscription);
        let mut request = Request::new(&*self.document.query).variables(self.variables());
        request.operation_name.clone_from(&self.operation_name);
        request.set_parsed_query(document);
        request
    }

    fn variables(&self) -> Variables {
        Variables::from_json(serde_json::from_str(&self.variables).unwrap_or_default())
    }
}

/// A result that could not be serialised: logged, and the operation fails with `INTERNAL`.
fn unserialisable(err: &serde_json::Error) -> Delivery {
    tracing::error!(%err, "could not serialise a subscription's result");
    let mut error = ServerError::new("internal error", None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", "INTERNAL");
    Delivery::Failed(Arc::new([error]))
}

/// Where the resolution of event `seq` goes, given the plan's newest one (`last`): the same
/// event shares it; a newer one takes its place; an older one (a subscriber replaying what the
/// others are past) gets one of its own, so that it does not push the newer one out.
fn resolution_of<T>(last: &mut Option<(i64, Arc<OnceCell<T>>)>, seq: i64) -> Arc<OnceCell<T>> {
    match last {
        Some((newest, cell)) if *newest == seq => Arc::clone(cell),
        Some((newest, _)) if *newest > seq => Arc::new(OnceCell::new()),
        _ => {
            let cell = Arc::new(OnceCell::new());
            *last = Some((seq, Arc::clone(&cell)));
            cell
        }
    }
}

pub(super) fn set_operation_type(document: &mut ExecutableDocument, ty: OperationType) {
    match &mut document.operations {
        DocumentOperations::Single(operation) => operation.node.ty = ty,
        DocumentOperations::Multiple(operations) => {
            for operation in operations.values_mut() {
                operation.node.ty = ty;
            }
        }
    }
}

impl Interned {
    fn plan(&mut self, request: &mut Request) -> Option<Arc<Plan>> {
        let operation_name = request.operation_name.clone();
        let document = request.parsed_query().ok()?;
        let operation = match &document.operations {
            DocumentOperations::Single(operation) => operation,
            DocumentOperations::Multiple(operations) if operations.len() == 1 => {
                let (name, operation) = operations.iter().next()?;
                if operation_name
                    .as_deref()
                    .is_some_and(|wanted| wanted != name.as_str())
                {
                    return None;
                }
                operation
            }
            DocumentOperations::Multiple(_) => return None,
        };
        if operation.node.ty != OperationType::Subscription {
            return None;
        }
        let [root] = operation.node.selection_set.node.items.as_slice() else {
            return None;
        };
        match &root.node {
            Selection::Field(field)
                if field.node.directives.is_empty() && !field.node.name.node.starts_with("__") => {}
            _ => return None,
        }
        let variables: Arc<str> = serde_json::to_string(&request.variables).ok()?.into();
        let key = (request.query.clone(), operation_name);
        let document = match self.documents.get(&key).and_then(Weak::upgrade) {
            Some(document) => document,
            None => {
                let mut converted = request.parsed_query().ok()?.clone();
                set_operation_type(&mut converted, OperationType::Query);
                let document = Arc::new(Document {
                    query: Arc::from(request.query.as_str()),
                    direct: StatusSelection::of(&converted),
                    converted,
                });
                self.documents
                    .insert(key.clone(), Arc::downgrade(&document));
                document
            }
        };
        let plan_key = (Arc::as_ptr(&document) as usize, Arc::clone(&variables));
        let plan = match self.plans.get(&plan_key).and_then(Weak::upgrade) {
            Some(plan) => plan,
            None => {
                let plan = Arc::new(Plan {
                    document,
                    operation_name: key.1,
                    variables,
                    last: Mutex::new(None),
                });
                self.plans.insert(plan_key, Arc::downgrade(&plan));
                plan
            }
        };
        self.sweep();
        Some(plan)
    }

    fn sweep(&mut self) {
        if self.documents.len() + self.plans.len() < self.sweep_at.max(MIN_SWEEP) {
            return;
        }
        self.documents
            .retain(|_, document| document.strong_count() > 0);
        self.plans.retain(|_, plan| plan.strong_count() > 0);
        self.sweep_at = 2 * (self.documents.len() + self.plans.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WATCH: &str =
        "subscription Watch($id: ID) { orderStatusChanged(orderId: $id) { orderId version } }";

    fn request(query: &str, variables: serde_json::Value) -> Request {
        Request::new(query).variables(Variables::from_json(variables))
    }

    fn plan(
        interned: &mut Interned,
        query: &str,
        variables: serde_json::Value,
    ) -> Option<Arc<Plan>> {
        interned.plan(&mut request(query, variables))
    }

    #[test]
    fn the_same_operation_and_variables_share_one_plan_and_other_variables_get_their_own() {
        let mut interned = Interned::default();
        let first = plan(&mut interned, WATCH, serde_json::json!({ "id": "7" })).unwrap();
        let again = plan(&mut interned, WATCH, serde_json::json!({ "id": "7" })).unwrap();
        let other = plan(&mut interned, WATCH, serde_json::json!({ "id": "8" })).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(!Arc::ptr_eq(&first, &other));
        // One document for both: only the variables differ.
        assert!(Arc::ptr_eq(&first.document, &other.document));
        assert_eq!(&*other.variables, r#"{"id":"8"}"#);
    }

    #[test]
    fn a_parked_operation_runs_as_a_query_of_the_same_selection() {
        let mut interned = Interned::default();
        let plan = plan(&mut interned, WATCH, serde_json::json!({})).unwrap();
        let operations: Vec<_> = plan.document.converted.operations.iter().collect();
        assert_eq!(operations.len(), 1);
        assert_eq!(operations[0].1.node.ty, OperationType::Query);
        assert_eq!(plan.operation_name.as_deref(), None);
        let named = interned
            .plan(&mut request(WATCH, serde_json::json!({})).operation_name("Watch"))
            .unwrap();
        assert_eq!(named.operation_name.as_deref(), Some("Watch"));
    }

    #[test]
    fn a_plan_gives_back_the_subscription_it_was_made_from() {
        let mut interned = Interned::default();
        let variables = serde_json::json!({ "id": "7" });
        let plan = interned
            .plan(&mut request(WATCH, variables.clone()).operation_name("Watch"))
            .unwrap();
        let mut again = plan.request();
        assert_eq!(again.query, WATCH);
        assert_eq!(again.operation_name.as_deref(), Some("Watch"));
        assert_eq!(again.variables, Variables::from_json(variables));
        let document = again.parsed_query().unwrap();
        let operations: Vec<_> = document.operations.iter().collect();
        assert_eq!(operations[0].1.node.ty, OperationType::Subscription);
        // The plan's own document stays a query.
        let converted: Vec<_> = plan.document.converted.operations.iter().collect();
        assert_eq!(converted[0].1.node.ty, OperationType::Query);
    }

    #[test]
    fn only_single_field_subscriptions_are_parked() {
        let mut interned = Interned::default();
        for query in [
            // Two fields: async-graphql merges their streams.
            "subscription { a: orderStatusChanged { version } b: orderEvents { cursor } }",
            // A directive on the field, a fragment at the root, only `__typename`.
            "subscription($s: Boolean!) { orderStatusChanged @skip(if: $s) { version } }",
            "subscription { ...F } fragment F on Subscription { orderStatusChanged { version } }",
            "subscription { __typename }",
            // Not a subscription, several operations, or not GraphQL.
            "{ orders(first: 1) { nodes { id } } }",
            "subscription A { orderStatusChanged { version } } subscription B { orderEvents { cursor } }",
            "subscription {",
        ] {
            assert!(
                plan(&mut interned, query, serde_json::json!({})).is_none(),
                "{query}"
            );
        }
        let other_name =
            interned.plan(&mut request(WATCH, serde_json::json!({})).operation_name("Unknown"));
        assert!(other_name.is_none(), "the operation name must match");
    }

    #[test]
    fn subscribers_at_the_same_event_share_its_resolution_and_a_replaying_one_does_not_disturb_it()
    {
        let mut last = None;
        let first = resolution_of::<u8>(&mut last, 10);
        let same = resolution_of(&mut last, 10);
        assert!(
            Arc::ptr_eq(&first, &same),
            "the same event is resolved once"
        );
        let older = resolution_of(&mut last, 9);
        assert!(!Arc::ptr_eq(&first, &older), "an older event has its own");
        let again = resolution_of(&mut last, 10);
        assert!(
            Arc::ptr_eq(&first, &again),
            "the replaying subscriber did not push the newest event out"
        );
        let newer = resolution_of(&mut last, 11);
        assert!(!Arc::ptr_eq(&first, &newer));
        assert!(Arc::ptr_eq(&newer, &resolution_of(&mut last, 11)));
    }

    #[test]
    fn plans_no_subscription_holds_are_swept() {
        let mut interned = Interned::default();
        let kept = plan(&mut interned, WATCH, serde_json::json!({ "id": "0" })).unwrap();
        for n in 1..=10 * MIN_SWEEP {
            drop(plan(
                &mut interned,
                WATCH,
                serde_json::json!({ "id": n.to_string() }),
            ));
        }
        assert!(
            interned.plans.len() <= 2 * MIN_SWEEP,
            "{} entries left",
            interned.plans.len()
        );
        let again = plan(&mut interned, WATCH, serde_json::json!({ "id": "0" })).unwrap();
        assert!(
            Arc::ptr_eq(&kept, &again),
            "a plan in use survives the sweeps"
        );
    }
}
