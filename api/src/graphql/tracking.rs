//! Tracking over GraphQL: milestones, shipments, exceptions, change requests, the at-risk
//! list and the order's timeline.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::money::Currency;
use domain::order::OrderLine;
use domain::ports::{ExceptionFilter, Page};
use domain::tracking::{
    ChangeProposal, ChangeRequest, FieldChange, LineChange, Milestone, NewShipment, OrderException,
    OrderRevision, Shipment,
};
use domain::{CustomerId, OrderId, ProductId};

use super::OptionalId;
use super::archive::OrderNoteNode;
use super::error::{ApiError, ApiResult};
use super::scalars::Dec;
use super::types::{FindingNode, MoneyNode, OrderEventNode, OrderLineNode, OrderNode, UserNode};
use super::{ContextExt, connection, page_request, parse_id};
use crate::service::{
    ChangePreview, ExceptionInput, TimelineItem, Tracked, line_no, shipment_lines, user,
};

/// A production or logistics milestone.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "MilestoneKind", remote = "domain::tracking::MilestoneKind")]
pub enum MilestoneKindGql {
    /// Production started.
    ProductionStarted,
    /// Production finished.
    ProductionFinished,
    /// Quality check done.
    QualityCheck,
    /// Packed for shipment.
    Packed,
}

/// What went wrong.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ExceptionKind", remote = "domain::tracking::ExceptionKind")]
pub enum ExceptionKindGql {
    /// Production or supply is late.
    Delay,
    /// A quality problem.
    Quality,
    /// Not enough goods.
    Shortage,
    /// Transport trouble.
    Logistics,
    /// A payment problem.
    Payment,
    /// The customer changed something.
    CustomerChange,
    /// Anything else.
    Other,
}

/// How bad an exception is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ExceptionSeverity", remote = "domain::tracking::Severity")]
pub enum ExceptionSeverityGql {
    /// Minor.
    Low,
    /// Noticeable.
    Medium,
    /// Serious.
    High,
    /// Stops the order.
    Critical,
}

/// Whether an exception is still being handled.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ExceptionStatus", remote = "domain::tracking::ExceptionStatus")]
pub enum ExceptionStatusGql {
    /// Being handled.
    Open,
    /// Done.
    Resolved,
}

/// Where a change request stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(
    name = "ChangeRequestStatus",
    remote = "domain::tracking::ChangeStatus"
)]
pub enum ChangeStatusGql {
    /// Waiting for a decision.
    Proposed,
    /// Approved, not applied yet.
    Approved,
    /// Refused.
    Rejected,
    /// Applied to the order (see `appliedRevision`).
    Applied,
}

/// A milestone reached on an order.
pub struct MilestoneNode(pub Milestone);

/// A milestone: what, when, who, and a remark.
#[Object(name = "Milestone")]
impl MilestoneNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Which milestone.
    async fn kind(&self) -> MilestoneKindGql {
        self.0.details.kind.into()
    }
    /// When it happened.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.details.occurred_at
    }
    /// Remark.
    async fn note(&self) -> Option<&str> {
        self.0.details.note.as_deref()
    }
    /// Who recorded it.
    async fn recorded_by(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(
            user(ctx.loaders(), self.0.details.recorded_by).await?,
        ))
    }
}

/// A shipment of (part of) an order.
pub struct ShipmentNode(pub Shipment);

/// What one shipment carries of one order line.
#[derive(SimpleObject)]
#[graphql(name = "ShipmentLine")]
pub struct ShipmentLineNode {
    /// The order line, `<orderId>-<lineNo>`.
    pub line_id: ID,
    /// The order line's number.
    pub line_no: i32,
    /// How much of it.
    pub quantity: Dec,
}

/// A shipment: carrier, tracking number, lines, and when it left and arrived.
#[Object(name = "Shipment")]
impl ShipmentNode {
    /// Identity (for `markDelivered`).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The order.
    async fn order_id(&self) -> ID {
        ID(self.0.details.order_id.to_string())
    }
    /// Carrier.
    async fn carrier(&self) -> &str {
        &self.0.details.carrier
    }
    /// The carrier's tracking number.
    async fn tracking_number(&self) -> Option<&str> {
        self.0.details.tracking_number.as_deref()
    }
    /// What it carries.
    async fn lines(&self) -> Vec<ShipmentLineNode> {
        self.0
            .details
            .lines
            .iter()
            .map(|l| ShipmentLineNode {
                line_id: ID(format!("{}-{}", self.0.details.order_id, l.line_no)),
                line_no: i32::try_from(l.line_no).unwrap_or(i32::MAX),
                quantity: Dec(l.quantity.get()),
            })
            .collect()
    }
    /// When it left.
    async fn shipped_at(&self) -> DateTime<Utc> {
        self.0.details.shipped_at
    }
    /// When it arrived; null while on its way.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    /// Who recorded it.
    async fn recorded_by(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(
            user(ctx.loaders(), self.0.details.recorded_by).await?,
        ))
    }
}

/// An exception on an order.
pub struct ExceptionNode(pub OrderException);

/// An exception: what went wrong, its impact, its analysis and how it was resolved.
#[Object(name = "OrderException")]
impl ExceptionNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The order.
    async fn order(&self, ctx: &Context<'_>) -> ApiResult<OrderNode> {
        super::types::order_node(ctx, self.0.details.order_id).await
    }
    /// What kind.
    async fn kind(&self) -> ExceptionKindGql {
        self.0.details.kind.into()
    }
    /// How bad.
    async fn severity(&self) -> ExceptionSeverityGql {
        self.0.details.severity.into()
    }
    /// What happened.
    async fn description(&self) -> &str {
        &self.0.details.description
    }
    /// Estimated extra cost, in the order's currency.
    async fn cost_impact(&self) -> MoneyNode {
        MoneyNode::new(self.0.details.cost_impact, self.0.details.currency)
    }
    /// Estimated delay in days (it moved the order's expected delivery date).
    async fn delay_days(&self) -> i32 {
        i32::try_from(self.0.details.delay_days).unwrap_or(i32::MAX)
    }
    /// Whether raising it put the order on hold.
    async fn held_order(&self) -> bool {
        self.0.details.held_order
    }
    /// Who raised it.
    async fn raised_by(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(
            user(ctx.loaders(), self.0.details.raised_by).await?,
        ))
    }
    /// When.
    async fn raised_at(&self) -> DateTime<Utc> {
        self.0.details.raised_at
    }
    /// Root cause, once analysed.
    async fn root_cause(&self) -> Option<&str> {
        self.0.root_cause.as_deref()
    }
    /// Actions taken or planned.
    async fn actions(&self) -> Option<&str> {
        self.0.actions.as_deref()
    }
    /// OPEN or RESOLVED.
    async fn status(&self) -> ExceptionStatusGql {
        self.0.status.into()
    }
    /// How it was resolved.
    async fn resolution(&self) -> Option<&str> {
        self.0.resolution.as_deref()
    }
    /// What to do differently next time.
    async fn lessons_learned(&self) -> Option<&str> {
        self.0.lessons_learned.as_deref()
    }
    /// Who resolved it.
    async fn resolved_by(&self, ctx: &Context<'_>) -> ApiResult<Option<UserNode>> {
        match self.0.resolved_by {
            Some(id) => Ok(Some(UserNode(user(ctx.loaders(), id).await?))),
            None => Ok(None),
        }
    }
    /// When.
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }
}

/// One field an order change changed.
#[derive(SimpleObject)]
#[graphql(name = "FieldChange")]
pub struct FieldChangeNode {
    /// `lines[3].quantity`, `lines[4]` (a line added or removed), `promisedDate` or
    /// `deliveryAddress`.
    pub field: String,
    /// Before (null for an added line).
    pub from: Option<String>,
    /// After (null for a removed line).
    pub to: Option<String>,
}

impl From<FieldChange> for FieldChangeNode {
    fn from(c: FieldChange) -> Self {
        Self {
            field: c.field,
            from: c.from,
            to: c.to,
        }
    }
}

/// One proposed line edit, as requested.
#[derive(SimpleObject)]
#[graphql(name = "ProposedLineChange")]
pub struct ProposedLineNode {
    /// The existing line changed; null for a new line.
    pub line_id: Option<ID>,
    /// The product of a new line.
    pub product_id: Option<ID>,
    /// The new quantity (0 removes the line).
    pub quantity: Dec,
    /// The new unit price, if changed.
    pub unit_price: Option<Dec>,
    /// The new discount, if changed.
    pub discount_percent: Option<Dec>,
}

/// A change request on an order.
pub struct ChangeRequestNode(pub ChangeRequest);

/// A proposed change to a confirmed order: what, why, its impact when requested, and its fate.
#[Object(name = "ChangeRequest")]
impl ChangeRequestNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The order.
    async fn order(&self, ctx: &Context<'_>) -> ApiResult<OrderNode> {
        super::types::order_node(ctx, self.0.details.order_id).await
    }
    /// Proposed line edits, additions (no `lineId`) and removals (quantity 0).
    async fn lines(&self) -> Vec<ProposedLineNode> {
        let order_id = self.0.details.order_id;
        self.0
            .details
            .proposal
            .lines
            .iter()
            .map(|l| ProposedLineNode {
                line_id: l.line_no.map(|n| ID(format!("{order_id}-{n}"))),
                product_id: l.product_id.map(|p| ID(p.to_string())),
                quantity: Dec(l.quantity),
                unit_price: l.unit_price.map(Dec),
                discount_percent: l.discount_percent.map(Dec),
            })
            .collect()
    }
    /// Proposed new promised delivery date.
    async fn promised_date(&self) -> Option<NaiveDate> {
        self.0.details.proposal.promised_date
    }
    /// Proposed new delivery address.
    async fn delivery_address(&self) -> Option<&str> {
        self.0.details.proposal.delivery_address.as_deref()
    }
    /// Why.
    async fn reason(&self) -> &str {
        &self.0.details.reason
    }
    /// The order revision it was computed on; it can only be applied to that revision.
    async fn base_revision(&self) -> i32 {
        self.0.details.base_revision
    }
    /// New total minus old total, when requested.
    async fn amount_delta(&self) -> Dec {
        Dec(self.0.details.amount_delta)
    }
    /// Days the expected delivery moves, when requested.
    async fn delay_days(&self) -> i32 {
        i32::try_from(self.0.details.delay_days).unwrap_or(i32::MAX)
    }
    /// Whether review flags the new content or it exceeds the credit limit (a manager decides).
    async fn review_required(&self) -> bool {
        self.0.details.review_required
    }
    /// Who asked.
    async fn requested_by(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(
            user(ctx.loaders(), self.0.details.requested_by).await?,
        ))
    }
    /// When.
    async fn requested_at(&self) -> DateTime<Utc> {
        self.0.details.requested_at
    }
    /// PROPOSED, APPROVED, REJECTED or APPLIED.
    async fn status(&self) -> ChangeStatusGql {
        self.0.status.into()
    }
    /// Who approved or rejected it.
    async fn decided_by(&self, ctx: &Context<'_>) -> ApiResult<Option<UserNode>> {
        match self.0.decided_by {
            Some(id) => Ok(Some(UserNode(user(ctx.loaders(), id).await?))),
            None => Ok(None),
        }
    }
    /// When.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }
    /// The decider's comment.
    async fn decision_comment(&self) -> Option<&str> {
        self.0.decision_comment.as_deref()
    }
    /// The revision it produced.
    async fn applied_revision(&self) -> Option<i32> {
        self.0.applied_revision
    }
    /// When it was applied.
    async fn applied_at(&self) -> Option<DateTime<Utc>> {
        self.0.applied_at
    }
}

fn line_nodes(order_id: OrderId, currency: Currency, lines: &[OrderLine]) -> Vec<OrderLineNode> {
    lines
        .iter()
        .map(|line| OrderLineNode::new(order_id, currency, line.clone()))
        .collect()
}

/// A previous content of an order.
pub struct RevisionNode {
    /// The revision.
    pub revision: OrderRevision,
    /// The order's currency.
    pub currency: Currency,
}

/// The content an order had before a change replaced it.
#[Object(name = "OrderRevision")]
impl RevisionNode {
    /// The revision number of this content.
    async fn revision(&self) -> i32 {
        self.revision.revision
    }
    /// The lines as they were.
    async fn lines(&self) -> Vec<OrderLineNode> {
        line_nodes(
            self.revision.order_id,
            self.currency,
            &self.revision.content.lines,
        )
    }
    /// The total as it was.
    async fn total(&self) -> MoneyNode {
        MoneyNode::new(self.revision.total, self.currency)
    }
    /// The promised date as it was.
    async fn promised_date(&self) -> Option<NaiveDate> {
        self.revision.promised_date
    }
    /// The requested date as it was.
    async fn requested_date(&self) -> Option<NaiveDate> {
        self.revision.content.requested_date
    }
    /// The delivery address as it was.
    async fn delivery_address(&self) -> Option<&str> {
        self.revision.content.delivery_address.as_deref()
    }
    /// When it was replaced.
    async fn replaced_at(&self) -> DateTime<Utc> {
        self.revision.replaced_at
    }
    /// The change request that replaced it.
    async fn replaced_by_change_id(&self) -> ID {
        ID(self.revision.replaced_by_change.to_string())
    }
}

/// The customer's credit before and after a change.
#[derive(SimpleObject)]
pub struct CreditEffect {
    /// The customer's credit limit.
    pub limit: MoneyNode,
    /// Open receivables and confirmed unbilled orders including this one, before the change.
    pub exposure_before: MoneyNode,
    /// The same after the change.
    pub exposure_after: MoneyNode,
    /// Whether the change takes the customer past the limit.
    pub exceeds_limit: bool,
    /// False when the order is in another currency than the limit: then it is not compared.
    pub comparable: bool,
}

/// What a change would do, computed without storing anything.
pub struct ChangePreviewNode(pub ChangePreview);

/// The impact of a proposed change on an order as it is now.
#[Object(name = "OrderChangePreview")]
impl ChangePreviewNode {
    /// The lines after the change (new lines get the next line numbers).
    async fn lines(&self) -> Vec<OrderLineNode> {
        line_nodes(
            self.0.order.id,
            self.0.order.currency,
            &self.0.impact.content.lines,
        )
    }
    /// Each field that would change, from and to.
    async fn changes(&self) -> Vec<FieldChangeNode> {
        self.0
            .impact
            .changes
            .iter()
            .cloned()
            .map(Into::into)
            .collect()
    }
    /// The total now.
    async fn total_before(&self) -> MoneyNode {
        MoneyNode::new(self.0.impact.total_before, self.0.order.currency)
    }
    /// The total after the change.
    async fn total_after(&self) -> MoneyNode {
        MoneyNode::new(self.0.impact.total_after, self.0.order.currency)
    }
    /// After minus before.
    async fn amount_delta(&self) -> MoneyNode {
        MoneyNode::new(self.0.impact.amount_delta(), self.0.order.currency)
    }
    /// Expected delivery now.
    async fn expected_date_before(&self) -> Option<NaiveDate> {
        self.0.impact.expected_before
    }
    /// Expected delivery after: added or increased lines need their product's lead time from
    /// today.
    async fn expected_date_after(&self) -> Option<NaiveDate> {
        self.0.impact.expected_after
    }
    /// Days the expected delivery moves (positive: later).
    async fn delay_days(&self) -> i32 {
        i32::try_from(self.0.impact.delay_days()).unwrap_or(i32::MAX)
    }
    /// The promised date after the change.
    async fn promised_date(&self) -> Option<NaiveDate> {
        self.0.impact.promised_date
    }
    /// The customer's credit before and after.
    async fn credit(&self) -> CreditEffect {
        let limit_currency = self.0.credit_currency;
        CreditEffect {
            limit: MoneyNode::new(self.0.credit_limit, limit_currency),
            exposure_before: MoneyNode::new(self.0.exposure_before, limit_currency),
            exposure_after: MoneyNode::new(self.0.exposure_after, limit_currency),
            exceeds_limit: self.0.exceeds_credit(),
            comparable: self.0.credit_comparable,
        }
    }
    /// Whether review must run again: it flags the new content (see `findings`) or the credit
    /// limit would be exceeded; then only a manager may approve the change.
    async fn review_required(&self) -> bool {
        self.0.review_required() || self.0.exceeds_credit()
    }
    /// Review findings on the new content that need a manager or block it.
    async fn findings(&self) -> Vec<FindingNode> {
        self.0.findings.iter().cloned().map(Into::into).collect()
    }
}

/// One entry of an order's timeline.
pub struct TimelineEntryNode(pub TimelineItem);

/// Something that happened to an order, or a note on it, in time order.
#[Object(name = "TimelineEntry")]
impl TimelineEntryNode {
    /// When.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at()
    }
    /// The event type (`STATUS_CHANGED`, `MILESTONE_RECORDED`, `SHIPMENT_RECORDED`, ...) or
    /// `NOTE`.
    async fn kind(&self) -> &'static str {
        match &self.0 {
            TimelineItem::Event(e) => e.kind.type_name(),
            TimelineItem::Note(_) => "NOTE",
        }
    }
    /// Who.
    async fn actor(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        let id = match &self.0 {
            TimelineItem::Event(e) => e.actor_id,
            TimelineItem::Note(n) => n.author_id,
        };
        Ok(UserNode(user(ctx.loaders(), id).await?))
    }
    /// One line for people: "IN_PRODUCTION → READY_TO_SHIP", "Shipped 2 lines by DHL", ...
    async fn summary(&self) -> String {
        match &self.0 {
            TimelineItem::Event(e) => crate::service::event_summary(&e.kind),
            TimelineItem::Note(n) => n.body.clone(),
        }
    }
    /// The event, when the entry is one.
    async fn event(&self) -> Option<OrderEventNode> {
        match &self.0 {
            TimelineItem::Event(e) => Some(OrderEventNode(e.clone())),
            TimelineItem::Note(_) => None,
        }
    }
    /// The note, when the entry is one.
    async fn note(&self) -> Option<OrderNoteNode> {
        match &self.0 {
            TimelineItem::Note(n) => Some(OrderNoteNode(n.clone())),
            TimelineItem::Event(_) => None,
        }
    }
}

macro_rules! payload {
    ($name:ident, $gql:literal, $field:ident, $node:ident, $record:ty, $desc:literal) => {
        #[doc = $desc]
        #[derive(SimpleObject)]
        #[graphql(name = $gql)]
        pub struct $name {
            /// The order after the change (use its `version` for the next mutation).
            pub order: OrderNode,
            #[doc = "The record concerned."]
            pub $field: $node,
        }

        impl From<Tracked<$record>> for $name {
            fn from(t: Tracked<$record>) -> Self {
                Self {
                    order: OrderNode::new(t.order),
                    $field: $node(t.record),
                }
            }
        }
    };
}

payload!(
    MilestonePayload,
    "MilestonePayload",
    milestone,
    MilestoneNode,
    Milestone,
    "A recorded milestone and the order after it."
);
payload!(
    ShipmentPayload,
    "ShipmentPayload",
    shipment,
    ShipmentNode,
    Shipment,
    "A shipment and the order after it."
);
payload!(
    ExceptionPayload,
    "ExceptionPayload",
    exception,
    ExceptionNode,
    OrderException,
    "An exception and the order after it."
);
payload!(
    ChangeRequestPayload,
    "ChangeRequestPayload",
    change_request,
    ChangeRequestNode,
    ChangeRequest,
    "A change request and the order after it."
);

/// A milestone to record.
#[derive(InputObject)]
pub struct MilestoneInput {
    /// Which milestone.
    pub kind: MilestoneKindGql,
    /// When it happened; now when omitted. Not in the future.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Remark (at most 2000 characters).
    pub note: Option<String>,
    /// The expected delivery date as known now; moves it (and raises DELIVERY_AT_RISK when it
    /// passes the promised date).
    pub expected_delivery_date: Option<NaiveDate>,
}

/// How much of one order line a shipment carries.
#[derive(InputObject)]
pub struct ShipmentLineInput {
    /// The order line, `<orderId>-<lineNo>` (`OrderLine.id`).
    pub line_id: ID,
    /// How much; at most what is left to ship.
    pub quantity: Dec,
}

/// A shipment to record.
#[derive(InputObject)]
pub struct ShipmentInput {
    /// Carrier.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: Option<String>,
    /// What it carries.
    pub lines: Vec<ShipmentLineInput>,
    /// When it left; now when omitted.
    pub shipped_at: Option<DateTime<Utc>>,
}

/// An exception to raise.
#[derive(InputObject)]
pub struct RaiseExceptionInput {
    /// What kind.
    pub kind: ExceptionKindGql,
    /// How bad.
    pub severity: ExceptionSeverityGql,
    /// What happened.
    pub description: String,
    /// Estimated extra cost in the order's currency; 0 when omitted.
    pub cost_impact: Option<Dec>,
    /// Estimated delay in days (0..730); moves the expected delivery date.
    #[graphql(default)]
    pub delay_days: i32,
    /// Put the order ON_HOLD in the same transaction.
    #[graphql(default)]
    pub hold_order: bool,
}

/// The analysis of an exception; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateExceptionInput {
    /// Root cause.
    pub root_cause: Option<String>,
    /// Actions taken or planned.
    pub actions: Option<String>,
}

/// One line of a proposed change: `lineId` changes or (quantity 0) removes an existing line;
/// `productId` without `lineId` adds one.
#[derive(InputObject)]
pub struct LineChangeInput {
    /// The existing line (`OrderLine.id`).
    pub line_id: Option<ID>,
    /// The product of a new line.
    pub product_id: Option<ID>,
    /// The new quantity; 0 removes an existing line (not below what has shipped).
    pub quantity: Dec,
    /// New unit price; kept (or the list price for a new line) when omitted.
    pub unit_price: Option<Dec>,
    /// New discount percent; kept (or 0 for a new line) when omitted.
    pub discount_percent: Option<Dec>,
}

/// A proposed change to an order; omitted parts stay as they are.
#[derive(InputObject)]
pub struct OrderChangeInput {
    /// Line edits, additions and removals.
    #[graphql(default)]
    pub lines: Vec<LineChangeInput>,
    /// A new promised delivery date.
    pub promised_date: Option<NaiveDate>,
    /// A new delivery address.
    pub delivery_address: Option<String>,
}

impl OrderChangeInput {
    fn parse(self, order_id: OrderId) -> ApiResult<ChangeProposal> {
        let lines = self
            .lines
            .into_iter()
            .map(|l| {
                Ok(LineChange {
                    line_no: l
                        .line_id
                        .as_ref()
                        .map(|id| line_no(id, order_id))
                        .transpose()?,
                    product_id: l.product_id.optional_id("productId")?.map(ProductId),
                    quantity: l.quantity.0,
                    unit_price: l.unit_price.map(|d| d.0),
                    discount_percent: l.discount_percent.map(|d| d.0),
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(ChangeProposal {
            lines,
            promised_date: self.promised_date,
            delivery_address: self.delivery_address,
        })
    }
}

/// Which exceptions to list; all given filters must match.
#[derive(InputObject, Default)]
#[graphql(name = "ExceptionFilter")]
pub struct ExceptionFilterInput {
    /// OPEN or RESOLVED.
    pub status: Option<ExceptionStatusGql>,
    /// Of this kind.
    pub kind: Option<ExceptionKindGql>,
    /// Of this severity.
    pub severity: Option<ExceptionSeverityGql>,
    /// On orders of this customer.
    pub customer_id: Option<ID>,
    /// On this order.
    pub order_id: Option<ID>,
    /// Raised at or after.
    pub from: Option<DateTime<Utc>>,
    /// Raised before.
    pub to: Option<DateTime<Utc>>,
}

/// Tracking reads.
#[derive(Default)]
pub struct TrackingQuery;

#[Object]
impl TrackingQuery {
    /// Exceptions on orders the caller may see, newest first. Staff only.
    #[graphql(complexity = "super::list_complexity(first, child_complexity)")]
    async fn exceptions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which exceptions.")] filter: Option<ExceptionFilterInput>,
        #[graphql(desc = "Page size, at most 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Cursor of the last exception already seen.")] after: Option<String>,
    ) -> ApiResult<Connection<String, ExceptionNode>> {
        let actor = ctx.actor()?;
        let page = page_request(first, after)?;
        let f = filter.unwrap_or_default();
        if let (Some(from), Some(to)) = (f.from, f.to)
            && from > to
        {
            return Err(ApiError::bad_input("to", "`to` is before `from`"));
        }
        let filter = ExceptionFilter {
            status: f.status.map(Into::into),
            kind: f.kind.map(Into::into),
            severity: f.severity.map(Into::into),
            customer_id: f.customer_id.optional_id("customerId")?.map(CustomerId),
            order_id: f.order_id.optional_id("orderId")?.map(OrderId),
            from: f.from,
            to: f.to,
        };
        let items = ctx.services().exceptions(&actor, &filter, page).await?;
        Ok(connection(items, |e| e.id, ExceptionNode))
    }

    /// One exception. Staff only.
    async fn exception(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The exception.")] id: ID,
    ) -> ApiResult<ExceptionNode> {
        let actor = ctx.actor()?;
        let id = parse_id("id", &id)?;
        Ok(ExceptionNode(
            ctx.services().exception(ctx.loaders(), &actor, id).await?,
        ))
    }

    /// Active orders the caller may see whose delivery is at risk: expected after the promised
    /// date, or the promised date passed with goods not yet delivered. Earliest promise first.
    /// Staff only.
    #[graphql(complexity = "super::list_complexity(first, child_complexity)")]
    async fn orders_at_risk(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Cursor of the last order already seen.")] after: Option<String>,
    ) -> ApiResult<Connection<String, OrderNode>> {
        let actor = ctx.actor()?;
        let page = page_request(first, after)?;
        let offset = page.after.unwrap_or(0);
        let items = ctx.services().orders_at_risk(&actor, page).await?;
        // The list is ordered by promised date, not by a key: cursors are positions.
        let numbered = Page {
            items: (offset + 1..).zip(items.items).collect(),
            has_next: items.has_next,
        };
        Ok(connection(
            numbered,
            |(n, _)| *n,
            |(_, o)| OrderNode::new(o),
        ))
    }

    /// One change request. Staff only.
    async fn change_request(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The change request.")] id: ID,
    ) -> ApiResult<ChangeRequestNode> {
        let actor = ctx.actor()?;
        let id = parse_id("id", &id)?;
        Ok(ChangeRequestNode(
            ctx.services()
                .change_request(ctx.loaders(), &actor, id)
                .await?
                .1,
        ))
    }

    /// What a change would do to the order now — new lines and totals, amount delta, delivery
    /// shift from lead times, credit effect, whether review must run again — without storing
    /// anything. Allowed while APPROVED .. PARTIALLY_SHIPPED. Staff only.
    async fn preview_order_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] order_id: ID,
        #[graphql(desc = "The proposed change.")] change: OrderChangeInput,
    ) -> ApiResult<ChangePreviewNode> {
        let actor = ctx.actor()?;
        let order_id = OrderId(parse_id("orderId", &order_id)?);
        let proposal = change.parse(order_id)?;
        Ok(ChangePreviewNode(
            ctx.services()
                .preview_change(ctx.loaders(), &actor, order_id, &proposal)
                .await?,
        ))
    }
}

/// Tracking changes. Staff only; each stores its events in the same transaction.
#[derive(Default)]
pub struct TrackingMutation;

#[Object]
impl TrackingMutation {
    /// Records a production or logistics milestone (CONFIRMED .. SHIPPED, or ON_HOLD), and
    /// optionally the expected delivery date as known now.
    async fn record_milestone(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] order_id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "The milestone.")] input: MilestoneInput,
    ) -> ApiResult<MilestonePayload> {
        let actor = ctx.actor()?;
        let order_id = OrderId(parse_id("orderId", &order_id)?);
        Ok(ctx
            .services()
            .record_milestone(
                ctx.loaders(),
                &actor,
                order_id,
                expected_version,
                input.kind.into(),
                input.occurred_at,
                input.note,
                input.expected_delivery_date,
            )
            .await?
            .into())
    }

    /// Records a shipment of a READY_TO_SHIP or PARTIALLY_SHIPPED order. The order becomes
    /// SHIPPED when nothing is left to ship, else PARTIALLY_SHIPPED; shipping more than is left
    /// of a line is refused.
    async fn record_shipment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] order_id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "The shipment.")] input: ShipmentInput,
    ) -> ApiResult<ShipmentPayload> {
        let actor = ctx.actor()?;
        let order_id = OrderId(parse_id("orderId", &order_id)?);
        let lines = input
            .lines
            .iter()
            .map(|l| Ok((line_no(&l.line_id, order_id)?, l.quantity.0)))
            .collect::<ApiResult<Vec<_>>>()?;
        let shipment = NewShipment {
            order_id,
            carrier: input.carrier,
            tracking_number: input.tracking_number,
            lines: shipment_lines(lines)?,
            shipped_at: input.shipped_at.unwrap_or_else(crate::service::now),
            recorded_by: actor.user_id,
        };
        Ok(ctx
            .services()
            .record_shipment(ctx.loaders(), &actor, order_id, expected_version, shipment)
            .await?
            .into())
    }

    /// Marks a shipment delivered. When every shipment of a SHIPPED order has arrived, the order
    /// becomes DELIVERED (COMPLETED if also fully paid). Marking it again changes nothing and
    /// answers the same, so retries are safe.
    async fn mark_delivered(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shipment.")] shipment_id: ID,
        #[graphql(desc = "When it arrived; now when omitted.")] delivered_at: Option<DateTime<Utc>>,
    ) -> ApiResult<ShipmentPayload> {
        let actor = ctx.actor()?;
        let id = parse_id("shipmentId", &shipment_id)?;
        Ok(ctx
            .services()
            .mark_delivered(ctx.loaders(), &actor, id, delivered_at)
            .await?
            .into())
    }

    /// Raises an exception on a confirmed order. `holdOrder` puts the order ON_HOLD in the same
    /// transaction; `delayDays` moves the expected delivery date (and may raise
    /// DELIVERY_AT_RISK).
    async fn raise_exception(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] order_id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "The exception.")] input: RaiseExceptionInput,
    ) -> ApiResult<ExceptionPayload> {
        let actor = ctx.actor()?;
        let order_id = OrderId(parse_id("orderId", &order_id)?);
        let delay_days = u32::try_from(input.delay_days)
            .map_err(|_| ApiError::bad_input("delayDays", "must not be negative"))?;
        Ok(ctx
            .services()
            .raise_exception(
                ctx.loaders(),
                &actor,
                order_id,
                expected_version,
                ExceptionInput {
                    kind: input.kind.into(),
                    severity: input.severity.into(),
                    description: input.description,
                    cost_impact: input
                        .cost_impact
                        .map_or(rust_decimal::Decimal::ZERO, |d| d.0),
                    delay_days,
                    hold_order: input.hold_order,
                },
            )
            .await?
            .into())
    }

    /// Records the root cause and actions of an open exception.
    async fn update_exception(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The exception.")] id: ID,
        #[graphql(desc = "The analysis.")] input: UpdateExceptionInput,
    ) -> ApiResult<ExceptionPayload> {
        let actor = ctx.actor()?;
        let id = parse_id("id", &id)?;
        Ok(ctx
            .services()
            .update_exception(ctx.loaders(), &actor, id, input.root_cause, input.actions)
            .await?
            .into())
    }

    /// Resolves an open exception; `resumeOrder` resumes the order if it is ON_HOLD.
    async fn resolve_exception(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The exception.")] id: ID,
        #[graphql(desc = "How it was resolved (required).")] resolution: String,
        #[graphql(desc = "What to do differently next time.")] lessons_learned: Option<String>,
        #[graphql(desc = "Resume the order if it is ON_HOLD.", default)] resume_order: bool,
    ) -> ApiResult<ExceptionPayload> {
        let actor = ctx.actor()?;
        let id = parse_id("id", &id)?;
        Ok(ctx
            .services()
            .resolve_exception(
                ctx.loaders(),
                &actor,
                id,
                &resolution,
                lessons_learned.as_deref(),
                resume_order,
            )
            .await?
            .into())
    }

    /// Proposes a change to an order (APPROVED .. PARTIALLY_SHIPPED); it is stored as PROPOSED
    /// with its impact as computed now.
    async fn request_order_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] order_id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "The proposed change.")] change: OrderChangeInput,
        #[graphql(desc = "Why (required).")] reason: String,
    ) -> ApiResult<ChangeRequestPayload> {
        let actor = ctx.actor()?;
        let order_id = OrderId(parse_id("orderId", &order_id)?);
        let proposal = change.parse(order_id)?;
        Ok(ctx
            .services()
            .request_change(
                ctx.loaders(),
                &actor,
                order_id,
                expected_version,
                proposal,
                &reason,
            )
            .await?
            .into())
    }

    /// Approves a proposed change: a MANAGER, or the order's rep within the authority the
    /// review configuration gives (`[change_authority]`) when review does not flag it.
    async fn approve_order_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The change request.")] id: ID,
        #[graphql(desc = "Comment.")] comment: Option<String>,
    ) -> ApiResult<ChangeRequestPayload> {
        let actor = ctx.actor()?;
        let id = parse_id("id", &id)?;
        Ok(ctx
            .services()
            .decide_change(ctx.loaders(), &actor, id, true, comment.as_deref())
            .await?
            .into())
    }

    /// Rejects a proposed change, with a comment (same authority as approving).
    async fn reject_order_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The change request.")] id: ID,
        #[graphql(desc = "Why (required).")] comment: String,
    ) -> ApiResult<ChangeRequestPayload> {
        let actor = ctx.actor()?;
        let id = parse_id("id", &id)?;
        Ok(ctx
            .services()
            .decide_change(ctx.loaders(), &actor, id, false, Some(&comment))
            .await?
            .into())
    }

    /// Applies an approved change: the order's content becomes the new revision, the previous
    /// one stays readable in `Order.revisions`, and an ORDER_CHANGED event names each field
    /// changed from and to.
    async fn apply_order_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The change request.")] id: ID,
        #[graphql(desc = "The order's version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
    ) -> ApiResult<ChangeRequestPayload> {
        let actor = ctx.actor()?;
        let id = parse_id("id", &id)?;
        Ok(ctx
            .services()
            .apply_change(ctx.loaders(), &actor, id, expected_version)
            .await?
            .into())
    }
}
