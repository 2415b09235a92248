//! Subscriptions: committed events, filtered to what the subscriber may see.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, ID, Subscription};
use domain::event::StoredEvent;
use domain::ports::UserRepository;
use domain::user::{Actor, Ownership};
use domain::{OrderId, UserId};
use futures_util::Stream;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::error::{ApiError, ApiResult};
use super::types::StatusChangeNode;
use super::{ContextExt, parse_id};
use crate::service::Services;

/// The subscription root.
pub struct SubscriptionRoot;

/// Live feeds over websocket (graphql-transport-ws or graphql-ws); authenticate in `connection_init`.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Status changes after they are committed: of one order, or of every order the caller may
    /// see when `orderId` is omitted. A subscriber too slow to keep up receives an error asking it
    /// to resync (reload the order) and the stream ends.
    async fn order_status_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this order.")] order_id: Option<ID>,
    ) -> Result<impl Stream<Item = async_graphql::Result<StatusChangeNode>> + use<>, ApiError> {
        let actor = ctx.actor()?;
        let services = ctx.services().clone();
        // Subscribe before checking the order so nothing committed in between is missed.
        let receiver = services.hub.subscribe();
        let only = match order_id {
            Some(id) => {
                let id = OrderId(parse_id("orderId", &id)?);
                services.order(ctx.loaders(), &actor, id).await?;
                Some(id)
            }
            None => None,
        };
        let feed = Feed {
            _active: services.metrics.subscription(),
            receiver,
            services,
            actor,
            only,
            managers: HashMap::new(),
            done: false,
        };
        Ok(futures_util::stream::unfold(feed, |mut feed| async move {
            let item = feed.next().await?;
            Some((item, feed))
        }))
    }
}

struct Feed {
    /// Counts this subscription in `/metrics` until the stream is dropped.
    _active: crate::http::metrics::GaugeGuard,
    receiver: Receiver<Arc<StoredEvent>>,
    services: Services,
    actor: Actor,
    only: Option<OrderId>,
    /// rep -> their manager, for team visibility; reps rarely change managers mid-connection.
    managers: HashMap<UserId, Option<UserId>>,
    done: bool,
}

impl Feed {
    async fn next(&mut self) -> Option<async_graphql::Result<StatusChangeNode>> {
        if self.done {
            return None;
        }
        loop {
            let event = match self.receiver.recv().await {
                Ok(event) => event,
                Err(RecvError::Closed) => return None,
                Err(RecvError::Lagged(missed)) => {
                    self.done = true;
                    return Some(Err(ApiError::Conflict {
                        message: format!(
                            "subscriber fell {missed} events behind; reload and subscribe again"
                        ),
                        versions: None,
                    }
                    .into()));
                }
            };
            if self.only.is_some_and(|id| id != event.order_id) {
                continue;
            }
            let Some(node) = StatusChangeNode::from_event(&event) else {
                continue;
            };
            match self.visible(&event).await {
                Ok(true) => return Some(Ok(node)),
                Ok(false) => {}
                Err(err) => return Some(Err(err.into())),
            }
        }
    }

    async fn visible(&mut self, event: &StoredEvent) -> ApiResult<bool> {
        let rep = event.sales_rep_id;
        let manager = match self.managers.get(&rep) {
            Some(manager) => *manager,
            None => {
                let manager = self
                    .services
                    .store
                    .users_by_ids(&[rep])
                    .await?
                    .pop()
                    .and_then(|u| u.manager_id);
                self.managers.insert(rep, manager);
                manager
            }
        };
        Ok(self.actor.can_see(&Ownership {
            customer_id: event.customer_id,
            sales_rep_id: rep,
            rep_manager_id: manager,
        }))
    }
}
