//! The customer archive over GraphQL: contacts and preferences, purchase history, notes on
//! orders, the interaction log and follow-ups.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::archive::{Interaction, NewInteraction, OrderNote, PurchaseHistory, TopProduct};
use domain::catalog::{Contact, CustomerAddress};
use domain::ports::Page;
use domain::{CustomerId, OrderId, ProductId};

use super::OptionalId;
use super::error::{ApiError, ApiResult};
use super::scalars::Dec;
use super::types::{CustomerNode, MoneyNode, OrderNode, ProductNode, UserNode};
use super::{ContextExt, parse_id};
use crate::service::{FollowUp, user};

/// How a contact with the customer happened.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "InteractionChannel", remote = "domain::archive::Channel")]
pub enum InteractionChannelGql {
    /// E-mail.
    Email,
    /// Phone call.
    Phone,
    /// WeChat.
    Wechat,
    /// A visit at the customer.
    Visit,
    /// A meeting.
    Meeting,
    /// Anything else.
    Other,
}

/// Who started the contact.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "InteractionDirection", remote = "domain::archive::Direction")]
pub enum DirectionGql {
    /// The customer contacted us.
    Inbound,
    /// We contacted the customer.
    Outbound,
}

/// Who may read a note.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "NoteVisibility", remote = "domain::archive::NoteVisibility")]
pub enum NoteVisibilityGql {
    /// The sales team only; never shown to CUSTOMER users.
    Internal,
    /// Also shown to the customer's users.
    CustomerVisible,
}

/// A person at the customer.
#[derive(SimpleObject)]
#[graphql(name = "Contact")]
pub struct ContactNode {
    /// Full name.
    pub name: String,
    /// Role or title.
    pub role: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// WeChat id.
    pub wechat_id: Option<String>,
}

impl From<&Contact> for ContactNode {
    fn from(c: &Contact) -> Self {
        Self {
            name: c.name.clone(),
            role: c.role.clone(),
            phone: c.phone.clone(),
            email: c.email.clone(),
            wechat_id: c.wechat_id.clone(),
        }
    }
}

/// A named address of the customer.
#[derive(SimpleObject)]
#[graphql(name = "CustomerAddress")]
pub struct AddressNode {
    /// What it is, e.g. HQ, Warehouse, Billing.
    pub label: String,
    /// The address as printed on documents.
    pub address: String,
}

impl From<&CustomerAddress> for AddressNode {
    fn from(a: &CustomerAddress) -> Self {
        Self {
            label: a.label.clone(),
            address: a.address.clone(),
        }
    }
}

/// How the customer likes to be served (internal to the sales team).
pub struct PreferencesNode(pub domain::catalog::Preferences);

/// How the customer likes to be served.
#[Object(name = "Preferences")]
impl PreferencesNode {
    /// Free notes for the sales team.
    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }
    /// Products the customer usually buys (products since deleted are left out).
    async fn preferred_products(&self, ctx: &Context<'_>) -> ApiResult<Vec<ProductNode>> {
        let ids: Vec<ProductId> = self.0.preferred_product_ids.clone();
        let found = ctx
            .loaders()
            .load_many(ids.iter().copied())
            .await
            .map_err(|e| ApiError::Internal(e.0))?;
        Ok(ids
            .iter()
            .filter_map(|id| found.get(id).cloned())
            .map(ProductNode)
            .collect())
    }
    /// Preferred contact channel.
    async fn preferred_channel(&self) -> Option<InteractionChannelGql> {
        self.0.preferred_channel.map(Into::into)
    }
}

/// A product the customer buys most.
pub struct TopProductNode {
    top: TopProduct,
    currency: domain::money::Currency,
}

/// A product the customer buys most, by amount.
#[Object(name = "TopProduct")]
impl TopProductNode {
    /// The product.
    async fn product(&self, ctx: &Context<'_>) -> ApiResult<Option<ProductNode>> {
        Ok(ctx
            .loaders()
            .load_one(self.top.product_id)
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .map(ProductNode))
    }
    /// SKU on the latest order.
    async fn sku(&self) -> &str {
        &self.top.sku
    }
    /// Name on the latest order.
    async fn name(&self) -> &str {
        &self.top.description
    }
    /// Total quantity ordered.
    async fn quantity(&self) -> Dec {
        Dec(self.top.quantity)
    }
    /// Total amount ordered.
    async fn amount(&self) -> MoneyNode {
        MoneyNode::new(self.top.amount, self.currency)
    }
    /// On how many orders.
    async fn order_count(&self) -> i64 {
        i64::from(self.top.order_count)
    }
}

/// Purchase history, derived from the orders the customer committed to (confirmed or later,
/// not cancelled).
pub struct PurchaseHistoryNode(pub PurchaseHistory);

/// Purchase history, derived from the orders the customer committed to (confirmed or later, not
/// cancelled). Amounts are in the customer's currency; orders in other currencies are counted in
/// `otherCurrencyOrders` only.
#[Object(name = "PurchaseHistory")]
impl PurchaseHistoryNode {
    /// Committed orders in the customer's currency.
    async fn order_count(&self) -> i64 {
        i64::from(self.0.order_count)
    }
    /// Committed orders in other currencies (not summed: no exchange rates here).
    async fn other_currency_orders(&self) -> i64 {
        i64::from(self.0.other_currency_orders)
    }
    /// Sum of the committed orders' totals.
    async fn lifetime_value(&self) -> MoneyNode {
        MoneyNode::new(self.0.lifetime_value, self.0.currency)
    }
    /// Lifetime value / order count; null without orders.
    async fn average_order_value(&self) -> Option<MoneyNode> {
        self.0
            .average_order_value
            .map(|v| MoneyNode::new(v, self.0.currency))
    }
    /// When the latest committed order was placed.
    async fn last_order_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_order_at
    }
    /// Average days between consecutive committed orders (one decimal); null with fewer than two.
    async fn average_days_between_orders(&self) -> Option<Dec> {
        self.0.average_days_between_orders.map(Dec)
    }
    /// Up to five products by amount.
    async fn top_products(&self) -> Vec<TopProductNode> {
        self.0
            .top_products
            .iter()
            .cloned()
            .map(|top| TopProductNode {
                top,
                currency: self.0.currency,
            })
            .collect()
    }
}

/// A note on an order.
pub struct OrderNoteNode(pub OrderNote);

/// A note on an order. CUSTOMER users only ever see CUSTOMER_VISIBLE notes.
#[Object(name = "OrderNote")]
impl OrderNoteNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Who wrote it.
    async fn author(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(user(ctx.loaders(), self.0.author_id).await?))
    }
    /// Who may read it.
    async fn visibility(&self) -> NoteVisibilityGql {
        self.0.visibility.into()
    }
    /// The text.
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// When it was written.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A logged contact with a customer.
pub struct InteractionNode(pub Interaction);

/// A logged contact with a customer (internal to the sales team).
#[Object(name = "Interaction")]
impl InteractionNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The customer.
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<CustomerNode> {
        let actor = ctx.actor()?;
        Ok(CustomerNode::from(
            ctx.services()
                .customer(ctx.loaders(), &actor, self.0.details.customer_id)
                .await?,
        ))
    }
    /// The order it was about, if any.
    async fn order(&self, ctx: &Context<'_>) -> ApiResult<Option<OrderNode>> {
        match self.0.details.order_id {
            Some(id) => Ok(Some(super::types::order_node(ctx, id).await?)),
            None => Ok(None),
        }
    }
    /// Who logged it (and owes the follow-up).
    async fn logged_by(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(user(ctx.loaders(), self.0.details.user_id).await?))
    }
    /// How.
    async fn channel(&self) -> InteractionChannelGql {
        self.0.details.channel.into()
    }
    /// Who started it.
    async fn direction(&self) -> DirectionGql {
        self.0.details.direction.into()
    }
    /// What was said or agreed.
    async fn summary(&self) -> &str {
        &self.0.details.summary
    }
    /// When it happened.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.details.occurred_at
    }
    /// When the logging user must get back to the customer.
    async fn follow_up_on(&self) -> Option<NaiveDate> {
        self.0.details.follow_up_on
    }
    /// When the follow-up was marked done (`completeFollowUp`).
    async fn follow_up_done_at(&self) -> Option<DateTime<Utc>> {
        self.0.follow_up_done_at
    }
}

/// A page of the interactions `filter` names that the caller may see, for the `interactions`
/// field of a customer and of an order. Boxed: see [`on_heap`](super::on_heap).
pub async fn interactions_of(
    ctx: &Context<'_>,
    filter: domain::ports::InteractionFilter,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<Connection<String, InteractionNode>> {
    super::on_heap(async move {
        let actor = ctx.actor()?;
        let page = super::page_request(first, after)?;
        Ok(interaction_connection(
            ctx.services().interactions(&actor, filter, page).await?,
        ))
    })
    .await
}

/// Relay connection of interactions.
pub fn interaction_connection(page: Page<Interaction>) -> Connection<String, InteractionNode> {
    super::connection(page, |i| i.id, InteractionNode)
}

/// Why something is in `myFollowUps`.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum FollowUpKind {
    /// A follow-up date set with `logInteraction`.
    Interaction,
    /// An active order whose customer has not been contacted for the configured number of days.
    StaleOrder,
}

/// Something the caller owes a customer.
pub struct FollowUpNode(pub FollowUp);

/// Something the caller owes a customer.
#[Object(name = "FollowUp")]
impl FollowUpNode {
    /// Why it is listed.
    async fn kind(&self) -> FollowUpKind {
        match self.0 {
            FollowUp::Interaction(_) => FollowUpKind::Interaction,
            FollowUp::StaleOrder { .. } => FollowUpKind::StaleOrder,
        }
    }
    /// When it is (or was) due.
    async fn due_on(&self) -> NaiveDate {
        self.0.due_on()
    }
    /// The customer.
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<CustomerNode> {
        let id = match &self.0 {
            FollowUp::Interaction(i) => i.details.customer_id,
            FollowUp::StaleOrder { order, .. } => order.customer_id,
        };
        let actor = ctx.actor()?;
        Ok(CustomerNode::from(
            ctx.services().customer(ctx.loaders(), &actor, id).await?,
        ))
    }
    /// The order concerned: the stale order, or the order the interaction was about.
    async fn order(&self, ctx: &Context<'_>) -> ApiResult<Option<OrderNode>> {
        match &self.0 {
            FollowUp::StaleOrder { order, .. } => Ok(Some(OrderNode::new((**order).clone()))),
            FollowUp::Interaction(i) => match i.details.order_id {
                Some(id) => Ok(Some(super::types::order_node(ctx, id).await?)),
                None => Ok(None),
            },
        }
    }
    /// The interaction that set the follow-up (INTERACTION only).
    async fn interaction(&self) -> Option<InteractionNode> {
        match &self.0 {
            FollowUp::Interaction(i) => Some(InteractionNode(i.clone())),
            FollowUp::StaleOrder { .. } => None,
        }
    }
    /// When the customer was last contacted (STALE_ORDER only; null if never).
    async fn last_contact_at(&self) -> Option<DateTime<Utc>> {
        match &self.0 {
            FollowUp::StaleOrder { last_contact, .. } => *last_contact,
            FollowUp::Interaction(_) => None,
        }
    }
}

/// A contact with a customer to log.
#[derive(InputObject)]
pub struct InteractionInput {
    /// The customer.
    pub customer_id: ID,
    /// The order it was about, if any (must be the customer's).
    pub order_id: Option<ID>,
    /// How.
    pub channel: InteractionChannelGql,
    /// Who started it.
    pub direction: DirectionGql,
    /// What was said or agreed (1-4000 characters).
    pub summary: String,
    /// When it happened; now when omitted. Never in the future.
    pub occurred_at: Option<DateTime<Utc>>,
    /// When you must get back to the customer; it then appears in your `myFollowUps`.
    pub follow_up_on: Option<NaiveDate>,
}

/// Archive queries.
#[derive(Default)]
pub struct ArchiveQuery;

#[Object]
impl ArchiveQuery {
    /// What the caller owes customers, due on or before `dueBefore` (default: today), earliest
    /// first: follow-up dates they set with `logInteraction` (until `completeFollowUp`), and their
    /// active orders (APPROVED to SHIPPED, or ON_HOLD) whose customer has had no logged contact
    /// for the configured number of days (`--follow-up-stale-days`, default 14). Staff only.
    async fn my_follow_ups(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Last due date included; today (UTC) when omitted.")] due_before: Option<
            NaiveDate,
        >,
    ) -> ApiResult<Vec<FollowUpNode>> {
        let actor = ctx.actor()?;
        let due_by = due_before.unwrap_or_else(|| crate::service::now().date_naive());
        Ok(ctx
            .services()
            .my_follow_ups(ctx.loaders(), &actor, due_by)
            .await?
            .into_iter()
            .map(FollowUpNode)
            .collect())
    }
}

/// Archive mutations.
#[derive(Default)]
pub struct ArchiveMutation;

#[Object]
impl ArchiveMutation {
    /// Adds a note to an order. CUSTOMER users may add CUSTOMER_VISIBLE notes to their own
    /// company's orders; INTERNAL notes are FORBIDDEN to them.
    async fn add_order_note(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] order_id: ID,
        #[graphql(desc = "Who may read it.")] visibility: NoteVisibilityGql,
        #[graphql(desc = "The text (1-4000 characters).")] body: String,
    ) -> ApiResult<OrderNoteNode> {
        let actor = ctx.actor()?;
        let id = OrderId(parse_id("orderId", &order_id)?);
        Ok(OrderNoteNode(
            ctx.services()
                .add_order_note(ctx.loaders(), &actor, id, visibility.into(), &body)
                .await?,
        ))
    }

    /// Logs a contact with a customer (staff only). With `followUpOn`, it appears in the
    /// caller's `myFollowUps` from that date until `completeFollowUp`.
    async fn log_interaction(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What happened.")] input: InteractionInput,
    ) -> ApiResult<InteractionNode> {
        let actor = ctx.actor()?;
        let interaction = NewInteraction {
            customer_id: CustomerId(parse_id("customerId", &input.customer_id)?),
            order_id: input.order_id.optional_id("orderId")?.map(OrderId),
            user_id: actor.user_id,
            channel: input.channel.into(),
            direction: input.direction.into(),
            summary: input.summary,
            occurred_at: input.occurred_at.map_or_else(crate::service::now, |at| {
                chrono::SubsecRound::trunc_subsecs(at, 6)
            }),
            follow_up_on: input.follow_up_on,
        };
        Ok(InteractionNode(
            ctx.services()
                .log_interaction(ctx.loaders(), &actor, interaction)
                .await?,
        ))
    }

    /// Marks an interaction's follow-up done; it leaves `myFollowUps`. Repeating it changes
    /// nothing. The user who set it, or a manager or admin who sees the customer.
    async fn complete_follow_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The interaction.")] interaction_id: ID,
    ) -> ApiResult<InteractionNode> {
        let actor = ctx.actor()?;
        let id = parse_id("interactionId", &interaction_id)?;
        Ok(InteractionNode(
            ctx.services()
                .complete_follow_up(ctx.loaders(), &actor, id)
                .await?,
        ))
    }
}
