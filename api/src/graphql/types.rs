//! GraphQL output types: their own structs over domain values (the database row is not the API).

use std::borrow::Cow;

use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Enum, ID, Json, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::catalog::{Customer, Product};
use domain::event::{OrderEventKind, StoredEvent};
use domain::lifecycle::allowed_targets;
use domain::money::Currency;
use domain::order::{Confirmation, Order, OrderLine, OrderSummary};
use domain::ports::{OrderFilter, Page, PageRequest};
use domain::review::Finding;
use domain::user::{Actor, User};
use rust_decimal::Decimal;

use super::ContextExt;
use super::error::{ApiError, ApiResult};
use super::loaders::{CustomerCard, nodes_select, prime_orders};
use super::scalars::{Dec, money_amount};
use crate::service::user;

/// Main status of an order; see the lifecycle in the README.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "OrderStatus", remote = "domain::lifecycle::OrderStatus")]
pub enum OrderStatusGql {
    /// Being written by the rep.
    Draft,
    /// Review found blockers, or a manager sent it back; edit and submit again.
    NeedsRevision,
    /// Waiting for a manager to approve review findings.
    PendingApproval,
    /// Ready for the customer's confirmation.
    Approved,
    /// The customer confirmed it.
    Confirmed,
    /// Being produced.
    InProduction,
    /// Produced or in stock, waiting for shipment.
    ReadyToShip,
    /// Part of it shipped.
    PartiallyShipped,
    /// Everything shipped.
    Shipped,
    /// Everything delivered.
    Delivered,
    /// Delivered and fully paid. Final.
    Completed,
    /// Paused; resumes to `heldFrom`.
    OnHold,
    /// Cancelled with a reason. Final.
    Cancelled,
}

/// Invoicing and payment state of an order.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "PaymentStatus", remote = "domain::lifecycle::PaymentStatus")]
pub enum PaymentStatusGql {
    /// No invoice yet.
    Uninvoiced,
    /// Invoiced, nothing paid.
    Invoiced,
    /// Partly paid.
    PartiallyPaid,
    /// Fully paid.
    Paid,
}

/// What a user may do.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Role", remote = "domain::user::Role")]
pub enum RoleGql {
    /// Everything.
    Admin,
    /// The team's customers and orders; approvals; cancelling confirmed orders.
    Manager,
    /// A sales rep: their own customers and orders.
    Sales,
    /// A customer's login: their company's orders only.
    Customer,
}

/// How the customer confirmed.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(
    name = "ConfirmationChannel",
    remote = "domain::order::ConfirmationChannel"
)]
pub enum ChannelGql {
    /// E-mail.
    Email,
    /// Phone call.
    Phone,
    /// WeChat.
    Wechat,
    /// Visit.
    Visit,
    /// Meeting.
    Meeting,
    /// The customer portal (CUSTOMER users).
    Portal,
    /// Anything else.
    Other,
}

/// Severity of a review finding.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Severity", remote = "domain::review::Severity")]
pub enum SeverityGql {
    /// Information only.
    Info,
    /// A manager must approve.
    NeedsApproval,
    /// Must be fixed before the order can go on.
    Blocker,
}

/// An exact amount of money.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Money", serial)]
pub struct MoneyNode {
    /// The amount, as a decimal string with at least the currency's minor-unit digits.
    pub amount: Dec,
    /// ISO 4217 currency code.
    pub currency: String,
}

impl MoneyNode {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self {
            amount: money_amount(amount, currency.minor_units()),
            currency: currency.as_str().to_owned(),
        }
    }
}

/// A user of orderdesk.
pub struct UserNode(pub User);

/// A user: sales rep, manager, admin or customer login.
#[Object(name = "User")]
impl UserNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Login e-mail.
    async fn email(&self) -> &str {
        self.0.email.as_str()
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Role.
    async fn role(&self) -> RoleGql {
        self.0.role.into()
    }
    /// The user's manager, if any.
    async fn manager(&self, ctx: &Context<'_>) -> ApiResult<Option<UserNode>> {
        match self.0.manager_id {
            Some(id) => Ok(Some(UserNode(user(ctx.loaders(), id).await?))),
            None => Ok(None),
        }
    }
    /// For CUSTOMER users: their company.
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.map(|c| ID(c.to_string()))
    }
    /// Highest line discount in percent the user may grant without approval.
    async fn discount_authority(&self) -> Dec {
        Dec(self.0.discount_authority)
    }
}

/// A customer company.
pub struct CustomerNode {
    customer: std::sync::Arc<Customer>,
    /// The customer's contacts, addresses and preferences were read: it is not a
    /// [`CustomerSummary`](domain::catalog::CustomerSummary)'s.
    whole: bool,
}

/// The node of a whole customer, shared (as the loader hands it out).
impl From<std::sync::Arc<Customer>> for CustomerNode {
    fn from(customer: std::sync::Arc<Customer>) -> Self {
        Self {
            customer,
            whole: true,
        }
    }
}

impl CustomerNode {
    /// The node of a customer read on its own (orders' customers come shared from the loader).
    pub fn new(customer: Customer) -> Self {
        Self::from(std::sync::Arc::new(customer))
    }

    /// The node of a customer read as a list of orders shows it, without its documents
    /// ([`CustomerCard`]).
    pub fn summary(customer: std::sync::Arc<Customer>) -> Self {
        Self {
            customer,
            whole: false,
        }
    }

    /// The whole customer. A summary's node reads it now through the customer loader (batched
    /// with the page's other customers); only the fields that show the documents ask.
    async fn whole(&self, ctx: &Context<'_>) -> ApiResult<std::sync::Arc<Customer>> {
        if self.whole {
            return Ok(self.customer.clone());
        }
        ctx.loaders()
            .load_one(self.customer.id)
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .ok_or_else(|| ApiError::Internal(format!("customer {} is gone", self.customer.id)))
    }
}

/// A customer company and its terms.
#[Object(name = "Customer", serial)]
impl CustomerNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.customer.id.to_string())
    }
    /// Company name.
    async fn name(&self) -> &str {
        &self.customer.profile.name
    }
    /// Main contact e-mail.
    async fn email(&self) -> Option<&str> {
        self.customer.profile.email.as_deref()
    }
    /// Main phone.
    async fn phone(&self) -> Option<&str> {
        self.customer.profile.phone.as_deref()
    }
    /// Default delivery address.
    async fn address(&self) -> Option<&str> {
        self.customer.profile.address.as_deref()
    }
    /// The sales rep who owns the customer.
    async fn owner_rep(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(
            user(ctx.loaders(), self.customer.profile.owner_rep_id).await?,
        ))
    }
    /// Tier or segment.
    async fn tier(&self) -> Option<&str> {
        self.customer.profile.tier.as_deref()
    }
    /// Free tags.
    async fn tags(&self) -> &[String] {
        &self.customer.profile.tags
    }
    /// Invoicing currency.
    async fn currency(&self) -> &str {
        self.customer.profile.currency.as_str()
    }
    /// Credit limit.
    async fn credit_limit(&self) -> MoneyNode {
        MoneyNode::new(
            self.customer.profile.credit_limit,
            self.customer.profile.currency,
        )
    }
    /// Default payment terms: PREPAID, NET_<days> or DEPOSIT_<percent>_NET_<days>.
    async fn payment_terms(&self) -> String {
        self.customer.profile.payment_terms.to_string()
    }
    /// Optimistic-concurrency version; pass it as `expectedVersion` to `updateCustomer`.
    async fn version(&self) -> i64 {
        self.customer.version
    }
    /// The customer's orders visible to the caller, newest first.
    #[graphql(complexity = "super::list_complexity(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Cursor of the last order already seen.")] after: Option<String>,
    ) -> ApiResult<Connection<String, OrderNode>> {
        super::on_heap(async move {
            let actor = ctx.actor()?;
            let filter = domain::ports::OrderFilter {
                customer_id: Some(self.customer.id),
                ..Default::default()
            };
            order_list(ctx, &actor, &filter, super::page_request(first, after)?).await
        })
        .await
    }
    /// People at the customer.
    async fn contacts(&self, ctx: &Context<'_>) -> ApiResult<Vec<super::archive::ContactNode>> {
        let customer = self.whole(ctx).await?;
        Ok(customer.profile.contacts.iter().map(Into::into).collect())
    }
    /// Named addresses (sites, warehouses, billing).
    async fn addresses(&self, ctx: &Context<'_>) -> ApiResult<Vec<super::archive::AddressNode>> {
        let customer = self.whole(ctx).await?;
        Ok(customer.profile.addresses.iter().map(Into::into).collect())
    }
    /// How the customer likes to be served. Staff only: FORBIDDEN for CUSTOMER users.
    async fn preferences(&self, ctx: &Context<'_>) -> ApiResult<super::archive::PreferencesNode> {
        crate::service::staff_only(&ctx.actor()?, "preferences")?;
        Ok(super::archive::PreferencesNode(
            self.whole(ctx).await?.profile.preferences.clone(),
        ))
    }
    /// Purchase history derived from the orders the customer committed to.
    async fn purchase_history(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<super::archive::PurchaseHistoryNode> {
        super::on_heap(async move {
            Ok(super::archive::PurchaseHistoryNode(
                ctx.services()
                    .purchase_history(self.customer.id, self.customer.profile.currency)
                    .await?,
            ))
        })
        .await
    }
    /// How promptly the customer has paid (fully paid invoices). Staff only.
    async fn payment_behaviour(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<super::settlement::PaymentBehaviourNode> {
        super::on_heap(async move {
            super::settlement::customer_payment_behaviour(ctx, self.customer.id).await
        })
        .await
    }
    /// Logged contacts with the customer, newest first. Staff only: FORBIDDEN for CUSTOMER users.
    #[graphql(complexity = "super::list_complexity(first, child_complexity)")]
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Cursor of the last interaction already seen.")] after: Option<String>,
    ) -> ApiResult<Connection<String, super::archive::InteractionNode>> {
        super::archive::interactions_of(
            ctx,
            domain::ports::InteractionFilter::Customer(self.customer.id),
            first,
            after,
        )
        .await
    }
}

/// A product of the catalogue.
pub struct ProductNode(pub Product);

/// A product that can be ordered.
#[Object(name = "Product")]
impl ProductNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Unique SKU.
    async fn sku(&self) -> &str {
        self.0.details.sku.as_str()
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.details.name
    }
    /// Unit of measure.
    async fn unit(&self) -> &str {
        &self.0.details.unit
    }
    /// List price per unit.
    async fn list_price(&self) -> MoneyNode {
        MoneyNode::new(
            self.0.details.list_price.amount(),
            self.0.details.list_price.currency(),
        )
    }
    /// Days from confirmation until it can ship.
    async fn lead_time_days(&self) -> i32 {
        i32::from(self.0.details.lead_time_days)
    }
    /// Inactive products cannot be ordered.
    async fn active(&self) -> bool {
        self.0.details.active
    }
    /// Optimistic-concurrency version; pass it as `expectedVersion` to `updateProduct`.
    async fn version(&self) -> i64 {
        self.0.version
    }
    /// Standard cost per unit; null when not recorded. Staff only: FORBIDDEN for CUSTOMER users.
    async fn unit_cost(&self, ctx: &Context<'_>) -> ApiResult<Option<MoneyNode>> {
        crate::service::staff_only(&ctx.actor()?, "product costs")?;
        Ok(self
            .0
            .details
            .unit_cost
            .map(|c| MoneyNode::new(c, self.0.details.list_price.currency())))
    }
}

/// An order.
pub struct OrderNode {
    order: Order,
    read: Read,
}

/// How much of an [`OrderNode`]'s order was read.
enum Read {
    /// All of it, lines included.
    Full,
    /// Its headline ([`OrderSummary`]): a list that selected no field needing the lines or the
    /// details did not read them. `order.content.lines` is empty, and the total is the one
    /// stored with the order.
    Summary { total: Decimal },
}

impl OrderNode {
    /// The node of an order read with its lines.
    pub fn new(order: Order) -> Self {
        Self {
            order,
            read: Read::Full,
        }
    }

    /// The node of an order a list read without its lines.
    pub fn summary(summary: OrderSummary) -> Self {
        Self {
            order: summary.order,
            read: Read::Summary {
                total: summary.total,
            },
        }
    }

    /// The whole order, lines and details. A node from a list that skipped them reads them now,
    /// batched with the page's other nodes by the order loader; that happens only when the
    /// list's look-ahead ([`NEEDS_FULL_ORDER`]) missed a field that needs them.
    async fn full(&self, ctx: &Context<'_>) -> ApiResult<Cow<'_, Order>> {
        if matches!(self.read, Read::Full) {
            return Ok(Cow::Borrowed(&self.order));
        }
        ctx.loaders()
            .load_one(self.order.id)
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .map(Cow::Owned)
            .ok_or_else(|| ApiError::Internal(format!("order {} is gone", self.order.id)))
    }
}

/// The order `id` as the caller may see it, for the `order` field of the nodes that refer to
/// one (exceptions, change requests, invoices, interactions, follow-ups). Boxed: see
/// [`on_heap`](super::on_heap).
pub async fn order_node(ctx: &Context<'_>, id: domain::OrderId) -> ApiResult<OrderNode> {
    super::on_heap(async move {
        let actor = ctx.actor()?;
        Ok(OrderNode::new(
            ctx.services().order(ctx.loaders(), &actor, id).await?,
        ))
    })
    .await
}

// `serial`: async-graphql resolves an object's fields concurrently through a `FuturesUnordered`
// (an allocation per field and one per object, a waker registration per poll), which was about a
// tenth of a page of orders; almost all of these types' fields are ready at once. Serially, two
// loader fields of one order not primed by its list (`customer`, `salesRep` of an order returned
// by a mutation) wait for one loader batch each instead of one between them, and an order's
// lists (events, invoices...) are read one after the other: the same on SQLite, whose reads run
// on the request's thread anyway; a round trip each on PostgreSQL. Money, Customer and
// OrderLine are serial for the same reason.
/// A customer order and where it stands.
#[Object(name = "Order", serial)]
impl OrderNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.order.id.to_string())
    }
    /// Human-readable unique number, e.g. SO-000042.
    async fn number(&self) -> &str {
        &self.order.number
    }
    /// The buyer.
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<CustomerNode> {
        let customer = ctx
            .loaders()
            .load_one(CustomerCard(self.order.customer_id))
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .ok_or_else(|| {
                ApiError::Internal(format!("order {} has no customer", self.order.id))
            })?;
        Ok(CustomerNode::summary(customer))
    }
    /// The owning sales rep.
    async fn sales_rep(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(
            user(ctx.loaders(), self.order.sales_rep_id).await?,
        ))
    }
    /// The currency of every amount on the order.
    async fn currency(&self) -> &str {
        self.order.currency.as_str()
    }
    /// Main status.
    async fn status(&self) -> OrderStatusGql {
        self.order.status.into()
    }
    /// While ON_HOLD: the status it resumes to.
    async fn held_from(&self) -> Option<OrderStatusGql> {
        self.order.held_from.map(Into::into)
    }
    /// Invoicing and payment state.
    async fn payment_status(&self) -> PaymentStatusGql {
        self.order.payment_status.into()
    }
    /// Statuses `transitionOrder` may move the order to now (roles and payment permitting).
    async fn allowed_transitions(&self) -> Vec<OrderStatusGql> {
        allowed_targets(&self.order)
            .into_iter()
            .map(Into::into)
            .collect()
    }
    /// The lines, in order.
    async fn lines(&self, ctx: &Context<'_>) -> ApiResult<Vec<OrderLineNode>> {
        Ok(self
            .full(ctx)
            .await?
            .content
            .lines
            .iter()
            .map(|line| OrderLineNode {
                order_id: self.order.id.0,
                currency: self.order.currency,
                line: line.clone(),
            })
            .collect())
    }
    /// Sum of the line totals.
    async fn total(&self) -> MoneyNode {
        let total = match self.read {
            Read::Full => self.order.total(),
            Read::Summary { total } => total,
        };
        MoneyNode::new(total, self.order.currency)
    }
    /// The customer's wished delivery date.
    async fn requested_date(&self) -> Option<NaiveDate> {
        self.order.content.requested_date
    }
    /// The delivery date promised at confirmation.
    async fn promised_date(&self, ctx: &Context<'_>) -> ApiResult<Option<NaiveDate>> {
        Ok(self
            .full(ctx)
            .await?
            .confirmation
            .as_ref()
            .and_then(|c| c.promised_date))
    }
    /// Where to deliver.
    async fn delivery_address(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        Ok(self.full(ctx).await?.content.delivery_address.clone())
    }
    /// Payment terms of this order.
    async fn payment_terms(&self) -> String {
        self.order.content.payment_terms.to_string()
    }
    /// The customer's purchase-order reference.
    async fn customer_po(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        Ok(self.full(ctx).await?.content.customer_po.clone())
    }
    /// Free notes.
    async fn notes(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        Ok(self.full(ctx).await?.content.notes.clone())
    }
    /// The customer's confirmation, once recorded.
    async fn confirmation(&self, ctx: &Context<'_>) -> ApiResult<Option<ConfirmationNode>> {
        Ok(self
            .full(ctx)
            .await?
            .confirmation
            .clone()
            .map(ConfirmationNode::from))
    }
    /// Findings of the last review (on submit).
    async fn review_findings(&self, ctx: &Context<'_>) -> ApiResult<Vec<FindingNode>> {
        Ok(self
            .full(ctx)
            .await?
            .findings
            .iter()
            .cloned()
            .map(FindingNode::from)
            .collect())
    }
    /// Why it was cancelled.
    async fn cancel_reason(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        Ok(self.full(ctx).await?.cancel_reason.clone())
    }
    /// Optimistic-concurrency version; every mutation on the order takes it as `expectedVersion`.
    async fn version(&self) -> i64 {
        self.order.version
    }
    /// Content revision, raised by changes after confirmation.
    async fn revision(&self) -> i32 {
        self.order.revision
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.order.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.order.updated_at
    }
    /// The stored events of the order, oldest first. CUSTOMER users get the events that
    /// concern them (no review findings, exceptions, proposals or collection work).
    async fn events(&self, ctx: &Context<'_>) -> ApiResult<Vec<OrderEventNode>> {
        super::on_heap(async move {
            let customer = ctx.actor()?.role == domain::user::Role::Customer;
            Ok(ctx
                .services()
                .order_events(self.order.id)
                .await?
                .into_iter()
                .filter(|e| !customer || e.kind.customer_visible())
                .map(OrderEventNode)
                .collect())
        })
        .await
    }
    /// Status changes, milestones, shipments, notes, changes and exceptions, oldest first, each
    /// with its actor. CUSTOMER users see the customer-visible part only.
    async fn timeline(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Vec<super::tracking::TimelineEntryNode>> {
        super::on_heap(async move {
            let actor = ctx.actor()?;
            Ok(ctx
                .services()
                .timeline(&actor, self.order.id)
                .await?
                .into_iter()
                .map(super::tracking::TimelineEntryNode)
                .collect())
        })
        .await
    }
    /// When the goods are expected now: the promised date at confirmation, then moved by
    /// milestones, exceptions' delays and applied changes.
    async fn expected_delivery_date(&self) -> Option<NaiveDate> {
        self.order.expected_date
    }
    /// Whether delivery is at risk today: expected after the promised date, or the promised
    /// date passed while goods are still on their way.
    async fn at_risk(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        Ok(domain::tracking::is_at_risk(
            &*self.full(ctx).await?,
            crate::service::now().date_naive(),
        ))
    }
    /// Production and logistics milestones, in the order they happened.
    async fn milestones(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Vec<super::tracking::MilestoneNode>> {
        super::on_heap(async move {
            Ok(ctx
                .services()
                .milestones_of(self.order.id)
                .await?
                .into_iter()
                .map(super::tracking::MilestoneNode)
                .collect())
        })
        .await
    }
    /// Shipments, oldest first.
    async fn shipments(&self, ctx: &Context<'_>) -> ApiResult<Vec<super::tracking::ShipmentNode>> {
        super::on_heap(async move {
            Ok(ctx
                .services()
                .shipments_of(self.order.id)
                .await?
                .into_iter()
                .map(super::tracking::ShipmentNode)
                .collect())
        })
        .await
    }
    /// Exceptions raised on the order, newest first (at most 100). Staff only.
    async fn exceptions(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Vec<super::tracking::ExceptionNode>> {
        super::on_heap(async move {
            let actor = ctx.actor()?;
            let filter = domain::ports::ExceptionFilter {
                order_id: Some(self.order.id),
                ..Default::default()
            };
            let page = domain::ports::PageRequest {
                first: 100,
                after: None,
            };
            Ok(ctx
                .services()
                .exceptions(&actor, &filter, page)
                .await?
                .items
                .into_iter()
                .map(super::tracking::ExceptionNode)
                .collect())
        })
        .await
    }
    /// Change requests, oldest first. Staff only.
    async fn change_requests(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Vec<super::tracking::ChangeRequestNode>> {
        super::on_heap(async move {
            let actor = ctx.actor()?;
            Ok(ctx
                .services()
                .change_requests_of(&actor, self.order.id)
                .await?
                .into_iter()
                .map(super::tracking::ChangeRequestNode)
                .collect())
        })
        .await
    }
    /// The contents this order had before applied changes replaced them, oldest first; the
    /// current content is the order itself (`revision`).
    async fn revisions(&self, ctx: &Context<'_>) -> ApiResult<Vec<super::tracking::RevisionNode>> {
        super::on_heap(async move {
            Ok(ctx
                .services()
                .revisions_of(self.order.id)
                .await?
                .into_iter()
                .map(|revision| super::tracking::RevisionNode {
                    revision,
                    currency: self.order.currency,
                })
                .collect())
        })
        .await
    }
    /// The order's invoices (deposit and goods, void ones included), oldest first.
    async fn invoices(&self, ctx: &Context<'_>) -> ApiResult<Vec<super::settlement::InvoiceNode>> {
        super::on_heap(async move {
            Ok(ctx
                .services()
                .invoices_of(self.order.id)
                .await?
                .into_iter()
                .map(super::settlement::InvoiceNode)
                .collect())
        })
        .await
    }
    /// Notes on the order, oldest first. CUSTOMER users get only CUSTOMER_VISIBLE ones.
    async fn order_notes(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Vec<super::archive::OrderNoteNode>> {
        let actor = ctx.actor()?;
        Ok(ctx
            .services()
            .order_notes(ctx.loaders(), &actor, self.order.id)
            .await?
            .into_iter()
            .map(super::archive::OrderNoteNode)
            .collect())
    }
    /// Logged contacts about this order, newest first. Staff only: FORBIDDEN for CUSTOMER users.
    #[graphql(complexity = "super::list_complexity(first, child_complexity)")]
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Cursor of the last interaction already seen.")] after: Option<String>,
    ) -> ApiResult<Connection<String, super::archive::InteractionNode>> {
        super::archive::interactions_of(
            ctx,
            domain::ports::InteractionFilter::Order(self.order.id),
            first,
            after,
        )
        .await
    }
    /// Total minus the products' current standard cost (quantity x unit cost); null when a
    /// product has no cost recorded. Staff only: FORBIDDEN for CUSTOMER users.
    async fn margin(&self, ctx: &Context<'_>) -> ApiResult<Option<MoneyNode>> {
        crate::service::staff_only(&ctx.actor()?, "margins")?;
        let order = self.full(ctx).await?;
        let ids: Vec<domain::ProductId> =
            order.content.lines.iter().map(|l| l.product_id).collect();
        let products = ctx
            .loaders()
            .load_many(ids)
            .await
            .map_err(|e| ApiError::Internal(e.0))?;
        let mut cost = Decimal::ZERO;
        for line in &order.content.lines {
            let Some(unit_cost) = products
                .get(&line.product_id)
                .filter(|p| p.details.list_price.currency() == self.order.currency)
                .and_then(|p| p.details.unit_cost)
            else {
                return Ok(None);
            };
            cost += line.quantity.get() * unit_cost;
        }
        let margin = domain::money::round_to_minor(order.total() - cost, self.order.currency);
        Ok(Some(MoneyNode::new(margin, self.order.currency)))
    }
}

/// One line of an order.
pub struct OrderLineNode {
    order_id: i64,
    currency: Currency,
    line: OrderLine,
}

impl OrderLineNode {
    /// A line of order `order_id`.
    pub fn new(order_id: domain::OrderId, currency: Currency, line: OrderLine) -> Self {
        Self {
            order_id: order_id.0,
            currency,
            line,
        }
    }
}

/// A line: product, quantity, price, discount and total.
#[Object(name = "OrderLine", serial)]
impl OrderLineNode {
    /// Identity: `<orderId>-<lineNo>`.
    async fn id(&self) -> ID {
        ID(format!("{}-{}", self.order_id, self.line.line_no))
    }
    /// Position in the order, from 1.
    async fn line_no(&self) -> i32 {
        i32::try_from(self.line.line_no).unwrap_or(i32::MAX)
    }
    /// The product.
    async fn product(&self, ctx: &Context<'_>) -> ApiResult<ProductNode> {
        Ok(ProductNode(
            ctx.services()
                .product(ctx.loaders(), self.line.product_id)
                .await?,
        ))
    }
    /// The product's SKU when the line was written.
    async fn sku(&self) -> &str {
        &self.line.sku
    }
    /// The product's name when the line was written.
    async fn description(&self) -> &str {
        &self.line.description
    }
    /// Quantity.
    async fn quantity(&self) -> Dec {
        Dec(self.line.quantity.get())
    }
    /// Agreed price per unit, before discount.
    async fn unit_price(&self) -> MoneyNode {
        MoneyNode::new(self.line.unit_price, self.currency)
    }
    /// Discount in percent.
    async fn discount_percent(&self) -> Dec {
        Dec(self.line.discount.get())
    }
    /// quantity x unit price x (1 - discount), rounded half away from zero to the currency's minor unit.
    async fn total(&self) -> MoneyNode {
        MoneyNode::new(self.line.total(self.currency), self.currency)
    }
}

/// A review finding.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "ReviewFinding")]
pub struct FindingNode {
    /// Stable rule code, e.g. DISCOUNT_ABOVE_AUTHORITY.
    pub code: String,
    /// Severity.
    pub severity: SeverityGql,
    /// What was found.
    pub message: String,
    /// The line concerned, if any.
    pub line_no: Option<i32>,
}

impl From<Finding> for FindingNode {
    fn from(f: Finding) -> Self {
        Self {
            code: f.code,
            severity: f.severity.into(),
            message: f.message,
            line_no: f.line_no.and_then(|n| i32::try_from(n).ok()),
        }
    }
}

/// The customer's confirmation of an order.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Confirmation")]
pub struct ConfirmationNode {
    /// Who at the customer confirmed.
    pub confirmed_by: String,
    /// Through which channel.
    pub channel: ChannelGql,
    /// Reference (mail subject, document number...).
    pub reference: Option<String>,
    /// When it was recorded.
    pub confirmed_at: DateTime<Utc>,
    /// The delivery date promised.
    pub promised_date: Option<NaiveDate>,
}

impl From<Confirmation> for ConfirmationNode {
    fn from(c: Confirmation) -> Self {
        Self {
            confirmed_by: c.confirmed_by,
            channel: c.channel.into(),
            reference: c.reference,
            confirmed_at: c.confirmed_at,
            promised_date: c.promised_date,
        }
    }
}

/// A stored event of an order.
pub struct OrderEventNode(pub StoredEvent);

/// Something that happened to an order, as stored in the event log.
#[Object(name = "OrderEvent")]
impl OrderEventNode {
    /// Position in the global event log (opaque; resume subscriptions from it).
    async fn cursor(&self) -> String {
        self.0.seq.to_string()
    }
    /// The order.
    async fn order_id(&self) -> ID {
        ID(self.0.order_id.to_string())
    }
    /// The order's number.
    async fn order_number(&self) -> &str {
        &self.0.order_number
    }
    /// The event's kind, one of `OrderEventType` (ORDER_CREATED, STATUS_CHANGED,
    /// SHIPMENT_RECORDED, ...).
    #[graphql(name = "type")]
    async fn event_type(&self) -> &'static str {
        self.0.kind.type_name()
    }
    /// When.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Who.
    async fn actor(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(user(ctx.loaders(), self.0.actor_id).await?))
    }
    /// The order's version after the change.
    async fn version(&self) -> i64 {
        self.0.order_version
    }
    /// The event's details (shape depends on `type`).
    async fn data(&self) -> Json<serde_json::Value> {
        let value = serde_json::to_value(&self.0.kind).unwrap_or_default();
        Json(
            value
                .get("data")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        )
    }
}

/// A committed status change, as delivered to subscribers.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex, name = "OrderStatusChange")]
pub struct StatusChangeNode {
    /// The order.
    pub order_id: ID,
    /// Its number.
    pub order_number: String,
    /// Status before.
    pub from: OrderStatusGql,
    /// Status after.
    pub to: OrderStatusGql,
    /// The order's version after the change.
    pub version: i64,
    /// When it was committed.
    pub at: DateTime<Utc>,
    /// Position in the event log.
    pub cursor: String,
    #[graphql(skip)]
    pub actor_id: domain::UserId,
}

#[ComplexObject]
impl StatusChangeNode {
    /// Who changed it.
    async fn actor(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(user(ctx.loaders(), self.actor_id).await?))
    }
}

impl StatusChangeNode {
    /// The status change carried by an event, if it is one.
    pub fn from_event(event: &StoredEvent) -> Option<Self> {
        match &event.kind {
            OrderEventKind::StatusChanged { from, to, .. } => Some(Self {
                order_id: ID(event.order_id.to_string()),
                order_number: event.order_number.clone(),
                from: (*from).into(),
                to: (*to).into(),
                version: event.order_version,
                at: event.at,
                cursor: event.seq.to_string(),
                actor_id: event.actor_id,
            }),
            _ => None,
        }
    }
}

/// The fields of `Order` that read its lines or its details, which a summary leaves out
/// ([`OrderSummary`]): a list that selects one of them reads whole orders.
const NEEDS_FULL_ORDER: [&str; 10] = [
    "lines",
    "margin",
    "promisedDate",
    "deliveryAddress",
    "customerPo",
    "notes",
    "confirmation",
    "reviewFindings",
    "cancelReason",
    "atRisk",
];

/// Relay connection of orders.
/// A page of the orders `actor` may see, as a connection, read as the query's selection needs:
/// without the lines unless a node selects `lines` or `margin` (the lines are half of a list's
/// SQL time, and a list of numbers and totals shows none), and with what it selects of
/// customers and reps loaded in one batch each (see [`super::loaders::prime_orders`]).
pub async fn order_list(
    ctx: &Context<'_>,
    actor: &Actor,
    filter: &OrderFilter,
    page: PageRequest,
) -> ApiResult<Connection<String, OrderNode>> {
    let look_ahead = ctx.look_ahead();
    let needs_full = NEEDS_FULL_ORDER
        .iter()
        .any(|field| nodes_select(&look_ahead, &[field]));
    if needs_full {
        let page = ctx.services().orders(actor, filter, page).await?;
        let orders: Vec<&Order> = page.items.iter().collect();
        prime_orders(ctx.loaders(), &look_ahead, &orders).await;
        Ok(super::connection(page, |o| o.id.0, OrderNode::new))
    } else {
        let page = ctx.services().order_summaries(actor, filter, page).await?;
        let orders: Vec<&Order> = page.items.iter().map(|s| &s.order).collect();
        prime_orders(ctx.loaders(), &look_ahead, &orders).await;
        Ok(super::connection(
            page,
            |s| s.order.id.0,
            OrderNode::summary,
        ))
    }
}

/// Relay connection of customers.
pub fn customer_connection(page: Page<Customer>) -> Connection<String, CustomerNode> {
    super::connection(page, |c| c.id.0, CustomerNode::new)
}

/// Relay connection of products.
pub fn product_connection(page: Page<Product>) -> Connection<String, ProductNode> {
    super::connection(page, |p| p.id.0, ProductNode)
}
