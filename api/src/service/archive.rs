//! The customer archive: notes on orders, the interaction log, follow-ups and purchase history.
//! CUSTOMER users never get INTERNAL notes, interactions or preferences; the checks are here.

use chrono::NaiveDate;
use domain::archive::{
    HistoryOrder, Interaction, NewInteraction, NoteVisibility, OrderNote, PurchaseHistory,
    note_body, purchase_history, stale_order_due,
};
use domain::order::Order;
use domain::ports::{ArchiveRepository, InteractionFilter, Page, PageRequest};
use domain::user::{Actor, Role};
use domain::{CustomerId, OrderId};

use super::{Services, staff_only};
use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::loaders::{Loaders, NotesKey};

/// How many products `purchaseHistory.topProducts` lists.
const TOP_PRODUCTS: usize = 5;

/// Something the caller owes a customer.
#[derive(Clone, Debug)]
pub enum FollowUp {
    /// A follow-up date set on a logged interaction.
    Interaction(Interaction),
    /// An active order whose customer has not been contacted for the configured number of days.
    StaleOrder {
        /// The order.
        order: Box<Order>,
        /// When the customer was last contacted, if ever.
        last_contact: Option<chrono::DateTime<chrono::Utc>>,
        /// When the follow-up became due.
        due_on: NaiveDate,
    },
}

impl FollowUp {
    /// When it is (or was) due.
    #[must_use]
    pub fn due_on(&self) -> NaiveDate {
        match self {
            FollowUp::Interaction(i) => i.details.follow_up_on.unwrap_or(NaiveDate::MIN),
            FollowUp::StaleOrder { due_on, .. } => *due_on,
        }
    }
}

impl Services {
    /// Adds a note to an order the actor may see. A CUSTOMER user may add CUSTOMER_VISIBLE
    /// notes to their own company's orders (a message through the portal), never INTERNAL ones.
    pub async fn add_order_note(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        order_id: OrderId,
        visibility: NoteVisibility,
        body: &str,
    ) -> ApiResult<OrderNote> {
        let order = self.order(loaders, actor, order_id).await?;
        if actor.role == Role::Customer && visibility == NoteVisibility::Internal {
            return Err(ApiError::Forbidden(
                "customers can only add CUSTOMER_VISIBLE notes".into(),
            ));
        }
        let body = note_body(body)?;
        Ok(self
            .store
            .add_order_note(order.id, actor.user_id, visibility, body, super::now())
            .await?)
    }

    /// The notes on a (visible) order the actor may read, oldest first.
    pub async fn order_notes(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        order_id: OrderId,
    ) -> ApiResult<Vec<OrderNote>> {
        let key = NotesKey {
            order_id,
            include_internal: actor.role != Role::Customer,
        };
        Ok(loaders
            .load_one(key)
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .unwrap_or_default())
    }

    /// Logs a contact with a customer the actor may see (staff only).
    pub async fn log_interaction(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        mut interaction: NewInteraction,
    ) -> ApiResult<Interaction> {
        staff_only(actor, "interactions")?;
        let customer_id = interaction.customer_id;
        self.customer(loaders, actor, customer_id)
            .await
            .map_err(|_| {
                ApiError::bad_input("customerId", format!("customer {customer_id} not found"))
            })?;
        if let Some(order_id) = interaction.order_id {
            let order = self.order(loaders, actor, order_id).await.map_err(|_| {
                ApiError::bad_input("orderId", format!("order {order_id} not found"))
            })?;
            if order.customer_id != customer_id {
                return Err(ApiError::bad_input(
                    "orderId",
                    format!("order {} belongs to another customer", order.number),
                ));
            }
        }
        let now = super::now();
        interaction.user_id = actor.user_id;
        let interaction = interaction.validate(now)?;
        Ok(self.store.log_interaction(interaction, now).await?)
    }

    /// Marks a follow-up done: the user who owes it, or a manager/admin who sees the customer.
    pub async fn complete_follow_up(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: i64,
    ) -> ApiResult<Interaction> {
        staff_only(actor, "follow-ups")?;
        let not_found = || ApiError::NotFound(format!("interaction {id} not found"));
        let interaction = self.store.interaction(id).await?.ok_or_else(not_found)?;
        // Whoever set a follow-up may always close it, even after the customer moved to
        // another rep; anyone else needs to see the customer and be a manager or admin.
        if interaction.details.user_id != actor.user_id {
            self.customer(loaders, actor, interaction.details.customer_id)
                .await
                .map_err(|_| not_found())?;
            if actor.role == Role::Sales {
                return Err(ApiError::Forbidden(
                    "only the user who set a follow-up, or their manager, can complete it".into(),
                ));
            }
        }
        if interaction.details.follow_up_on.is_none() {
            return Err(ApiError::bad_input(
                "interactionId",
                "this interaction has no follow-up",
            ));
        }
        Ok(self.store.complete_follow_up(id, super::now()).await?)
    }

    /// A visible customer's or order's interactions, newest first (staff only).
    pub async fn interactions(
        &self,
        actor: &Actor,
        filter: InteractionFilter,
        page: PageRequest,
    ) -> ApiResult<Page<Interaction>> {
        staff_only(actor, "interactions")?;
        Ok(self.store.interactions(filter, page).await?)
    }

    /// What the caller owes customers by `due_by` (inclusive): follow-up dates they set, and
    /// their active orders whose customer has not been contacted for `stale_order_days`.
    pub async fn my_follow_ups(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        due_by: NaiveDate,
    ) -> ApiResult<Vec<FollowUp>> {
        staff_only(actor, "follow-ups")?;
        let mut due: Vec<FollowUp> = Vec::new();
        for interaction in self.store.open_follow_ups(actor.user_id, due_by).await? {
            // A customer that moved to another rep is theirs to follow up now.
            if self
                .customer(loaders, actor, interaction.details.customer_id)
                .await
                .is_ok()
            {
                due.push(FollowUp::Interaction(interaction));
            }
        }
        let orders = self.store.active_orders_of_rep(actor.user_id).await?;
        let customers: Vec<CustomerId> = orders.iter().map(|o| o.customer_id).collect();
        let last_contacts = self.store.last_contacts(&customers).await?;
        for order in orders {
            let last_contact = last_contacts.get(&order.customer_id).copied();
            let due_on = stale_order_due(order.created_at, last_contact, self.stale_order_days);
            if due_on <= due_by {
                due.push(FollowUp::StaleOrder {
                    order: Box::new(order),
                    last_contact,
                    due_on,
                });
            }
        }
        due.sort_by_key(FollowUp::due_on);
        Ok(due)
    }

    /// Purchase history of a customer the caller has already been allowed to see.
    pub async fn purchase_history(
        &self,
        customer_id: CustomerId,
        currency: domain::money::Currency,
    ) -> ApiResult<PurchaseHistory> {
        let orders: Vec<HistoryOrder> = self
            .store
            .committed_orders(customer_id)
            .await?
            .iter()
            .map(HistoryOrder::of)
            .collect();
        Ok(purchase_history(currency, &orders, TOP_PRODUCTS))
    }
}
