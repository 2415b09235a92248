//! Subscriptions: committed events, filtered to what the subscriber may see.
//!
//! Every feed subscribes to the dispatcher's fan-out first and reads the stored log second, so
//! an event committed in between is in both and delivered once (by sequence number), never lost.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Subscription};
use domain::event::StoredEvent;
use domain::ports::{EventLog, UserRepository};
use domain::user::{Actor, Ownership, Role};
use domain::{CustomerId, OrderId, UserId};
use futures_util::Stream;
use futures_util::future::Either;
use futures_util::stream;

use super::ContextExt;
use super::OptionalId;
use super::error::{ApiError, ApiResult};
use super::loaders::loaders;
use super::types::{OrderEventNode, StatusChangeNode};
use crate::service::{Received, Route, Services, Subscription};

/// How many stored events one replay read fetches.
const REPLAY_PAGE: u32 = 500;

/// The kinds of order events.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum OrderEventType {
    /// The order was created as a draft.
    OrderCreated,
    /// Draft content was edited.
    DraftUpdated,
    /// Review ran on submit.
    ReviewCompleted,
    /// The customer's confirmation was recorded.
    OrderConfirmed,
    /// The main status changed.
    StatusChanged,
    /// An invoice was issued.
    InvoiceIssued,
    /// An unpaid invoice was voided.
    InvoiceVoided,
    /// A payment was recorded.
    PaymentRecorded,
    /// The payment status changed.
    PaymentStatusChanged,
    /// A collection activity was logged on an invoice.
    CollectionLogged,
    /// The order moved to another sales rep.
    OrderReassigned,
    /// A production or logistics milestone was recorded.
    MilestoneRecorded,
    /// The expected delivery date moved.
    ExpectedDateChanged,
    /// The expected delivery date passed the promised date.
    DeliveryAtRisk,
    /// A shipment was recorded.
    ShipmentRecorded,
    /// A shipment was delivered.
    ShipmentDelivered,
    /// An exception was raised.
    ExceptionRaised,
    /// An exception's analysis was updated.
    ExceptionUpdated,
    /// An exception was resolved.
    ExceptionResolved,
    /// A change was requested.
    ChangeRequested,
    /// A change request was approved or rejected.
    ChangeDecided,
    /// A change was applied (new revision).
    OrderChanged,
}

impl OrderEventType {
    fn type_name(self) -> &'static str {
        match self {
            OrderEventType::OrderCreated => "ORDER_CREATED",
            OrderEventType::DraftUpdated => "DRAFT_UPDATED",
            OrderEventType::ReviewCompleted => "REVIEW_COMPLETED",
            OrderEventType::OrderConfirmed => "ORDER_CONFIRMED",
            OrderEventType::StatusChanged => "STATUS_CHANGED",
            OrderEventType::InvoiceIssued => "INVOICE_ISSUED",
            OrderEventType::InvoiceVoided => "INVOICE_VOIDED",
            OrderEventType::PaymentRecorded => "PAYMENT_RECORDED",
            OrderEventType::PaymentStatusChanged => "PAYMENT_STATUS_CHANGED",
            OrderEventType::CollectionLogged => "COLLECTION_LOGGED",
            OrderEventType::OrderReassigned => "ORDER_REASSIGNED",
            OrderEventType::MilestoneRecorded => "MILESTONE_RECORDED",
            OrderEventType::ExpectedDateChanged => "EXPECTED_DATE_CHANGED",
            OrderEventType::DeliveryAtRisk => "DELIVERY_AT_RISK",
            OrderEventType::ShipmentRecorded => "SHIPMENT_RECORDED",
            OrderEventType::ShipmentDelivered => "SHIPMENT_DELIVERED",
            OrderEventType::ExceptionRaised => "EXCEPTION_RAISED",
            OrderEventType::ExceptionUpdated => "EXCEPTION_UPDATED",
            OrderEventType::ExceptionResolved => "EXCEPTION_RESOLVED",
            OrderEventType::ChangeRequested => "CHANGE_REQUESTED",
            OrderEventType::ChangeDecided => "CHANGE_DECIDED",
            OrderEventType::OrderChanged => "ORDER_CHANGED",
        }
    }
}

/// Which events a feed delivers; all given filters must match.
#[derive(InputObject, Default)]
pub struct OrderEventFilter {
    /// Only this order.
    pub order_id: Option<ID>,
    /// Only orders of this customer.
    pub customer_id: Option<ID>,
    /// Only these kinds (all kinds when omitted).
    pub types: Option<Vec<OrderEventType>>,
}

/// The subscription root.
pub struct SubscriptionRoot;

/// Live feeds over websocket (graphql-transport-ws or graphql-ws); authenticate in `connection_init`.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Status changes committed after the subscription starts: of one order, or of every order
    /// the caller may see when `orderId` is omitted. A subscriber too slow to keep up receives an error asking it
    /// to resync (reload the order) and the stream ends.
    async fn order_status_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this order.")] order_id: Option<ID>,
    ) -> Result<impl Stream<Item = async_graphql::Result<StatusChangeNode>> + use<>, ApiError> {
        let filter = OrderEventFilter {
            order_id,
            customer_id: None,
            types: Some(vec![OrderEventType::StatusChanged]),
        };
        let Some(feed) = park(ctx, Feed::open(ctx, filter, None).await?) else {
            return Ok(Either::Left(stream::empty()));
        };
        Ok(Either::Right(stream::unfold(feed, |mut feed| async move {
            let item = feed.next().await?.and_then(|event| status_change(&event));
            Some((item, feed))
        })))
    }

    /// Every kind of order event the caller may see, as stored in the event log. With `after`
    /// (the `cursor` of the last event received) the stored events after it are replayed first,
    /// then live ones follow, with no gap and no duplicate at the seam: a mobile client that
    /// reconnects with its last cursor misses nothing. Without `after`, the events committed
    /// after the subscription starts. A subscriber too slow to keep up receives
    /// an error and should reconnect with its last cursor.
    async fn order_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which events.")] filter: Option<OrderEventFilter>,
        #[graphql(desc = "Cursor of the last event already received: replay from there.")]
        after: Option<String>,
    ) -> Result<impl Stream<Item = async_graphql::Result<OrderEventNode>> + use<>, ApiError> {
        let after = after
            .map(|cursor| {
                cursor
                    .parse::<i64>()
                    .ok()
                    .filter(|seq| *seq >= 0)
                    .ok_or_else(|| ApiError::bad_input("after", "not a cursor of an order event"))
            })
            .transpose()?;
        let Some(feed) = park(
            ctx,
            Feed::open(ctx, filter.unwrap_or_default(), after).await?,
        ) else {
            return Ok(Either::Left(stream::empty()));
        };
        Ok(Either::Right(stream::unfold(feed, |mut feed| async move {
            let item = feed
                .next()
                .await?
                .map(|event| OrderEventNode((*event).clone()));
            Some((item, feed))
        })))
    }
}

fn status_change(event: &StoredEvent) -> async_graphql::Result<StatusChangeNode> {
    StatusChangeNode::from_event(event).ok_or_else(|| {
        ApiError::Internal("a non-status event passed the status filter".into()).into()
    })
}

/// Where a subscription field hands over its feed instead of returning a stream. A transport
/// that can run the operation once per event (see [`EventRoot`]) puts one in the operation's
/// data: a running async-graphql stream holds its query environment, variables and field stream
/// (about 12 KB) for the subscription's whole life, most of an idle subscriber's memory.
#[derive(Default)]
pub struct Parking(std::sync::Mutex<Option<ParkedFeed>>);

impl Parking {
    /// The feed handed over, if the field ran and parked it.
    pub fn take(&self) -> Option<ParkedFeed> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Parks `feed` if the operation has room for it; otherwise gives it back to be streamed.
fn park(ctx: &Context<'_>, feed: Feed) -> Option<Feed> {
    let Some(parking) = ctx.data_opt::<Arc<Parking>>() else {
        return Some(feed);
    };
    let mut slot = parking
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if slot.is_some() {
        // A second field of the same operation (the transport parks only one-field operations,
        // so this is a safety net): stream it as usual.
        return Some(feed);
    }
    *slot = Some(ParkedFeed(feed));
    None
}

/// A subscription's feed, parked: its filter, visibility and replay state, without the
/// operation. The transport resolves each event it yields with [`EventRoot`].
pub struct ParkedFeed(Feed);

impl ParkedFeed {
    /// The next event this subscriber may see; `None` when the feed ends.
    pub async fn next(&mut self) -> Option<async_graphql::Result<Arc<StoredEvent>>> {
        self.0.next().await
    }
}

/// The subscription's fields as a query over one event (the event in the request's data):
/// how a parked subscription's operation runs for each event. The fields and their arguments
/// are the subscription root's, so an operation valid there is valid here; the arguments were
/// used when the feed opened and are ignored here.
///
/// One resolution is shared by every subscriber of the same operation and variables, so
/// nothing under these fields may depend on who is asking: the request carries no caller (a
/// field that asked for one would fail with UNAUTHENTICATED rather than answer for someone else).
pub struct EventRoot;

#[Object(name = "Subscription")]
impl EventRoot {
    /// Status changes after they are committed.
    async fn order_status_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "orderId", desc = "Only this order.")] _order_id: Option<ID>,
    ) -> async_graphql::Result<StatusChangeNode> {
        status_change(ctx.data_unchecked::<Arc<StoredEvent>>())
    }

    /// Every kind of order event the caller may see.
    async fn order_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "filter", desc = "Which events.")] _filter: Option<OrderEventFilter>,
        #[graphql(
            name = "after",
            desc = "Cursor of the last event already received: replay from there."
        )]
        _after: Option<String>,
    ) -> OrderEventNode {
        OrderEventNode((**ctx.data_unchecked::<Arc<StoredEvent>>()).clone())
    }
}

struct Feed {
    /// Counts this subscription in `/metrics` until the stream is dropped.
    _active: crate::http::metrics::GaugeGuard,
    receiver: Subscription,
    services: Services,
    actor: Actor,
    order: Option<OrderId>,
    customer: Option<CustomerId>,
    types: Option<Vec<&'static str>>,
    /// rep -> their manager, for team visibility; reps rarely change managers mid-connection.
    managers: HashMap<UserId, Option<UserId>>,
    /// While replaying: the next stored events to consider.
    backlog: VecDeque<StoredEvent>,
    replaying: bool,
    /// The last sequence number considered; live events at or below it were replayed already.
    last_seq: i64,
    done: bool,
}

impl Feed {
    async fn open(
        ctx: &Context<'_>,
        filter: OrderEventFilter,
        after: Option<i64>,
    ) -> ApiResult<Self> {
        let actor = ctx.actor()?;
        let services = ctx.services().clone();
        let order = filter.order_id.optional_id("orderId")?.map(OrderId);
        let customer = filter
            .customer_id
            .optional_id("customerId")?
            .map(CustomerId);
        // The narrowest route that holds every event this feed may deliver.
        let route = match (order, customer, actor.role, actor.customer_id) {
            (Some(order), _, _, _) => Route::Order(order),
            (None, Some(customer), _, _) => Route::Customer(customer),
            (None, None, Role::Customer, Some(customer)) => Route::Customer(customer),
            (None, None, Role::Sales, _) => Route::Rep(actor.user_id),
            _ => Route::All,
        };
        // Subscribe before reading anything so nothing committed in between is missed.
        let receiver = services.hub.subscribe(route);
        // One turn among FEED_CHECKS_AT_ONCE: a reconnect storm waits here, small.
        let turn = services
            .feed_checks
            .acquire()
            .await
            .map_err(|_| ApiError::Internal("subscription checks are closed".into()))?;
        if order.is_some() || customer.is_some() {
            // Loaders of its own: the operation's live as long as the subscription, and would
            // keep the order (its lines, customer and rep) in memory for nothing. Boxed, like
            // every storage call of a feed: async-graphql keeps the stream, with room for every
            // future it awaits inline, for the subscription's life.
            let check = loaders(&services.store);
            if let Some(id) = order {
                Box::pin(services.order(&check, &actor, id)).await?;
            }
            if let Some(id) = customer {
                Box::pin(services.customer(&check, &actor, id)).await?;
            }
        }
        // A live feed starts at the end of the log, not at what the dispatcher has delivered so
        // far: an event committed before the subscription opened (just now by this client, or on
        // another instance this one has not polled yet) may still be on its way to the hub, and
        // is not news to this subscriber. Read after registering, so nothing later is missed.
        let last_seq = match after {
            Some(after) => after,
            None => Box::pin(services.store.last_seq())
                .await
                .map_err(ApiError::from)?,
        };
        drop(turn);
        Ok(Self {
            _active: services.metrics.subscription(),
            receiver,
            actor,
            order,
            customer,
            types: filter
                .types
                .map(|types| types.into_iter().map(OrderEventType::type_name).collect()),
            managers: HashMap::new(),
            backlog: VecDeque::new(),
            replaying: after.is_some(),
            last_seq,
            done: false,
            services,
        })
    }

    async fn next(&mut self) -> Option<async_graphql::Result<Arc<StoredEvent>>> {
        if self.done {
            return None;
        }
        loop {
            let event = if self.replaying {
                if self.backlog.is_empty() {
                    match Box::pin(self.services.store.events_after(self.last_seq, REPLAY_PAGE))
                        .await
                    {
                        Ok(page) if page.is_empty() => {
                            self.replaying = false;
                            continue;
                        }
                        Ok(page) => self.backlog.extend(page),
                        Err(err) => return Some(Err(ApiError::from(err).into())),
                    }
                }
                match self.backlog.pop_front() {
                    Some(event) => Arc::new(event),
                    None => continue,
                }
            } else {
                match self.receiver.recv().await {
                    Received::Event(event) => event,
                    Received::Closed => return None,
                    Received::Overflowed => {
                        self.done = true;
                        return Some(Err(ApiError::ResyncRequired(format!(
                            "this subscription fell too far behind; subscribe again with the last cursor received ({})",
                            self.last_seq
                        ))
                        .into()));
                    }
                }
            };
            // The seam: what was replayed also arrives live; deliver each sequence number once.
            if event.seq <= self.last_seq {
                continue;
            }
            self.last_seq = event.seq;
            if !self.wanted(&event) {
                continue;
            }
            match self.visible(&event).await {
                Ok(true) => return Some(Ok(event)),
                Ok(false) => {}
                Err(err) => return Some(Err(err.into())),
            }
        }
    }

    fn wanted(&self, event: &StoredEvent) -> bool {
        self.order.is_none_or(|id| id == event.order_id)
            && self.customer.is_none_or(|id| id == event.customer_id)
            && self
                .types
                .as_ref()
                .is_none_or(|types| types.contains(&event.kind.type_name()))
    }

    async fn visible(&mut self, event: &StoredEvent) -> ApiResult<bool> {
        if self.actor.role == Role::Customer && !event.kind.customer_visible() {
            return Ok(false);
        }
        let rep = event.sales_rep_id;
        // Only a manager's view needs the rep's manager. Everyone else decides without a read,
        // which matters when an event reaches thousands of subscribers at once: each would
        // otherwise queue its own read of the same user on its first event.
        let manager = if !self.actor.needs_rep_manager(rep) {
            None
        } else if let Some(manager) = self.managers.get(&rep) {
            *manager
        } else {
            let manager = Box::pin(self.services.store.users_by_ids(&[rep]))
                .await?
                .pop()
                .and_then(|u| u.manager_id);
            self.managers.insert(rep, manager);
            manager
        };
        Ok(self.actor.can_see(&Ownership {
            customer_id: event.customer_id,
            sales_rep_id: rep,
            rep_manager_id: manager,
        }))
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_schema;
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    use async_graphql::{EmptyMutation, EmptySubscription, Schema};

    use super::EventRoot;

    /// The fields of the type `Subscription` in `sdl`: name, arguments (with defaults) and type,
    /// descriptions left out.
    fn subscription_fields(sdl: &str) -> Vec<String> {
        let document = parse_schema(sdl).expect("the SDL parses");
        let object = document
            .definitions
            .iter()
            .find_map(|definition| match definition {
                TypeSystemDefinition::Type(ty) if ty.node.name.node == "Subscription" => {
                    match &ty.node.kind {
                        TypeKind::Object(object) => Some(object),
                        _ => None,
                    }
                }
                _ => None,
            })
            .expect("a Subscription type");
        object
            .fields
            .iter()
            .map(|field| {
                let arguments: Vec<String> = field
                    .node
                    .arguments
                    .iter()
                    .map(|argument| {
                        let default = argument
                            .node
                            .default_value
                            .as_ref()
                            .map(|value| format!(" = {}", value.node))
                            .unwrap_or_default();
                        format!(
                            "{}: {}{default}",
                            argument.node.name.node, argument.node.ty.node
                        )
                    })
                    .collect();
                format!(
                    "{}({}): {}",
                    field.node.name.node,
                    arguments.join(", "),
                    field.node.ty.node
                )
            })
            .collect()
    }

    /// A parked subscription is validated against the served schema and then runs against the
    /// event schema: a field or argument one has and the other lacks would fail on every event.
    #[test]
    fn the_event_schema_has_exactly_the_served_subscription_fields() {
        let served = subscription_fields(&super::super::sdl());
        let events = Schema::build(EventRoot, EmptyMutation, EmptySubscription)
            .finish()
            .sdl();
        assert_eq!(subscription_fields(&events), served);
        assert_eq!(served.len(), 2, "{served:?}");
    }
}
