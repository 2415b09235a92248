//! Settlement over GraphQL: invoices, payments, receivables and the aging report.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::ports::{Page, ReceivableFilter, SettlementRepository};
use domain::receivables::{
    AgingGroup, AgingRow, OpenItem, SettledInvoice, aging, days_overdue, payment_behaviour,
};
use domain::settlement::{CollectionActivity, Invoice, NewCollectionActivity, Payment};
use domain::{CustomerId, OrderId, UserId};

use super::OptionalId;
use super::error::{ApiError, ApiResult};
use super::scalars::Dec;
use super::types::{CustomerNode, MoneyNode, OrderNode, UserNode};
use super::{ContextExt, page_request, parse_id};
use crate::service::{
    CollectionItem, InvoiceRequest, PaymentInput, Settled, line_no, staff_only, user,
};

/// Most open invoices one aging report reads.
const AGING_LIMIT: u64 = 10_000;

/// What an invoice bills.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "InvoiceKind", remote = "domain::settlement::InvoiceKind")]
pub enum InvoiceKindGql {
    /// The deposit DEPOSIT_<p>_NET_<n> terms ask for before production; due on issue.
    Deposit,
    /// Goods; paid or invoiced deposits are credited.
    Standard,
}

/// How a payment was made.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "PaymentMethod", remote = "domain::settlement::PaymentMethod")]
pub enum PaymentMethodGql {
    /// Bank transfer.
    BankTransfer,
    /// Card.
    Card,
    /// Cash.
    Cash,
    /// Cheque.
    Cheque,
    /// WeChat Pay.
    WechatPay,
    /// Alipay.
    Alipay,
    /// Anything else.
    Other,
}

/// Where an invoice stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum InvoiceStatus {
    /// Money is still owed.
    Open,
    /// Fully paid.
    Paid,
    /// Voided (never counts).
    Void,
}

/// What was done to collect an invoice.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "CollectionKind", remote = "domain::settlement::CollectionKind")]
pub enum CollectionKindGql {
    /// A payment reminder was sent.
    Reminder,
    /// The customer was called about it.
    Call,
    /// The customer promised to pay by a date (and maybe an amount).
    PromiseToPay,
    /// The customer disputes the invoice.
    Dispute,
}

/// A collection activity.
pub struct CollectionActivityNode {
    activity: CollectionActivity,
    currency: domain::money::Currency,
}

/// Something done to collect an invoice.
#[Object(name = "CollectionActivity")]
impl CollectionActivityNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.activity.id.to_string())
    }
    /// The invoice.
    async fn invoice_id(&self) -> ID {
        ID(self.activity.details.invoice_id.to_string())
    }
    /// What was done.
    async fn kind(&self) -> CollectionKindGql {
        self.activity.details.kind.into()
    }
    /// Notes.
    async fn note(&self) -> Option<&str> {
        self.activity.details.note.as_deref()
    }
    /// PROMISE_TO_PAY: by when.
    async fn promised_date(&self) -> Option<NaiveDate> {
        self.activity.details.promised_date
    }
    /// PROMISE_TO_PAY: how much (the whole balance when null).
    async fn promised_amount(&self) -> Option<MoneyNode> {
        self.activity
            .details
            .promised_amount
            .map(|a| MoneyNode::new(a, self.currency))
    }
    /// Who logged it.
    async fn logged_by(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(
            user(ctx.loaders(), self.activity.details.user_id).await?,
        ))
    }
    /// When.
    async fn created_at(&self) -> DateTime<Utc> {
        self.activity.created_at
    }
}

/// An invoice the caller should chase.
pub struct CollectionItemNode(pub CollectionItem);

/// An invoice the caller should chase: overdue, or a promise to pay was broken.
#[Object(name = "CollectionItem")]
impl CollectionItemNode {
    /// The invoice.
    async fn invoice(&self) -> InvoiceNode {
        InvoiceNode(self.0.invoice.clone())
    }
    /// Days past due today (0 when only a promise was broken).
    async fn days_overdue(&self) -> i64 {
        self.0.days_overdue
    }
    /// The latest broken promise to pay, if any.
    async fn broken_promise(&self) -> Option<CollectionActivityNode> {
        self.0
            .broken_promise
            .clone()
            .map(|activity| CollectionActivityNode {
                activity,
                currency: self.0.invoice.details.currency,
            })
    }
}

/// A collection activity to log.
#[derive(InputObject)]
pub struct CollectionActivityInput {
    /// What was done.
    pub kind: CollectionKindGql,
    /// Notes.
    pub note: Option<String>,
    /// PROMISE_TO_PAY: by when (required for it, refused for other kinds).
    pub promised_date: Option<NaiveDate>,
    /// PROMISE_TO_PAY: how much, at most the open balance; the whole balance when omitted.
    pub promised_amount: Option<Dec>,
}

/// Group rows of the aging report by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AgingGroupBy {
    /// One row per customer and currency.
    Customer,
    /// One row per sales rep and currency.
    SalesRep,
}

/// An invoice.
pub struct InvoiceNode(pub Invoice);

/// An invoice: the deposit, or goods of an order (whole or some quantities).
#[Object(name = "Invoice")]
impl InvoiceNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Human-readable unique number, e.g. INV-000042.
    async fn number(&self) -> &str {
        &self.0.number
    }
    /// The order billed.
    async fn order(&self, ctx: &Context<'_>) -> ApiResult<OrderNode> {
        super::types::order_node(ctx, self.0.details.order_id).await
    }
    /// The customer billed.
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<CustomerNode> {
        let actor = ctx.actor()?;
        Ok(CustomerNode::from(
            ctx.services()
                .customer(ctx.loaders(), &actor, self.0.details.customer_id)
                .await?,
        ))
    }
    /// Deposit or goods.
    async fn kind(&self) -> InvoiceKindGql {
        self.0.details.kind.into()
    }
    /// OPEN, PAID or VOID.
    async fn status(&self) -> InvoiceStatus {
        if !self.0.is_valid() {
            InvoiceStatus::Void
        } else if self.0.outstanding().is_zero() {
            InvoiceStatus::Paid
        } else {
            InvoiceStatus::Open
        }
    }
    /// Issue date.
    async fn issued_on(&self) -> NaiveDate {
        self.0.details.issued_on
    }
    /// Due date, from the order's payment terms.
    async fn due_on(&self) -> NaiveDate {
        self.0.details.due_on
    }
    /// The order lines billed, with quantities and amounts (empty for a deposit).
    async fn lines(&self) -> Vec<InvoiceLineNode> {
        self.0
            .details
            .lines
            .iter()
            .map(|l| InvoiceLineNode {
                line_id: ID(format!("{}-{}", self.0.details.order_id, l.line_no)),
                line_no: i64::from(l.line_no),
                quantity: Dec(l.quantity),
                amount: MoneyNode::new(l.amount, self.0.details.currency),
            })
            .collect()
    }
    /// Deposit credited against the lines.
    async fn deposit_credit(&self) -> MoneyNode {
        MoneyNode::new(self.0.details.deposit_credit, self.0.details.currency)
    }
    /// What the customer owes on this invoice: lines minus deposit credit, or the deposit.
    async fn amount(&self) -> MoneyNode {
        MoneyNode::new(self.0.details.amount, self.0.details.currency)
    }
    /// Sum of its payments.
    async fn paid(&self) -> MoneyNode {
        MoneyNode::new(self.0.paid, self.0.details.currency)
    }
    /// What is still owed (0 when paid or void).
    async fn outstanding(&self) -> MoneyNode {
        MoneyNode::new(self.0.outstanding(), self.0.details.currency)
    }
    /// Days past the due date as of `asOf` (default today); 0 when not overdue or not open.
    async fn days_overdue(
        &self,
        #[graphql(desc = "The day to count to; today (UTC) when omitted.")] as_of: Option<
            NaiveDate,
        >,
    ) -> i64 {
        if self.0.outstanding().is_zero() {
            return 0;
        }
        let as_of = as_of.unwrap_or_else(|| crate::service::now().date_naive());
        days_overdue(self.0.details.due_on, as_of)
    }
    /// When it became fully paid.
    async fn fully_paid_on(&self) -> Option<NaiveDate> {
        self.0.fully_paid_on
    }
    /// Why it was voided.
    async fn void_reason(&self) -> Option<&str> {
        self.0.void_reason.as_deref()
    }
    /// Its payments, oldest first.
    async fn payments(&self, ctx: &Context<'_>) -> ApiResult<Vec<PaymentNode>> {
        Ok(ctx
            .loaders()
            .load_one(super::loaders::PaymentsOf(self.0.id))
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .unwrap_or_default()
            .into_iter()
            .map(|p| PaymentNode {
                payment: p,
                currency: self.0.details.currency,
            })
            .collect())
    }
    /// Collection work on it (reminders, calls, promises, disputes), oldest first. Staff only.
    async fn collection_activities(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Vec<CollectionActivityNode>> {
        super::on_heap(async move {
            staff_only(&ctx.actor()?, "collection activities")?;
            Ok(ctx
                .services()
                .collection_activities_of(self.0.id)
                .await?
                .into_iter()
                .map(|activity| CollectionActivityNode {
                    activity,
                    currency: self.0.details.currency,
                })
                .collect())
        })
        .await
    }
    /// When it was stored.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The part of an order line an invoice bills.
#[derive(SimpleObject)]
#[graphql(name = "InvoiceLine")]
pub struct InvoiceLineNode {
    /// The order line: `<orderId>-<lineNo>`.
    pub line_id: ID,
    /// The order line's number.
    pub line_no: i64,
    /// Quantity billed.
    pub quantity: Dec,
    /// Amount billed.
    pub amount: MoneyNode,
}

/// A payment.
pub struct PaymentNode {
    payment: Payment,
    currency: domain::money::Currency,
}

/// A payment received against an invoice.
#[Object(name = "Payment")]
impl PaymentNode {
    /// Identity.
    async fn id(&self) -> ID {
        ID(self.payment.id.to_string())
    }
    /// The invoice paid.
    async fn invoice_id(&self) -> ID {
        ID(self.payment.details.invoice_id.to_string())
    }
    /// Amount.
    async fn amount(&self) -> MoneyNode {
        MoneyNode::new(self.payment.details.amount, self.currency)
    }
    /// How.
    async fn method(&self) -> PaymentMethodGql {
        self.payment.details.method.into()
    }
    /// Bank reference, cheque number...
    async fn reference(&self) -> Option<&str> {
        self.payment.details.reference.as_deref()
    }
    /// When the money arrived.
    async fn received_at(&self) -> DateTime<Utc> {
        self.payment.details.received_at
    }
    /// Who recorded it.
    async fn recorded_by(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(
            user(ctx.loaders(), self.payment.details.recorded_by).await?,
        ))
    }
    /// When it was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.payment.created_at
    }
}

/// The result of an invoicing mutation.
#[derive(SimpleObject)]
pub struct InvoicePayload {
    /// The invoice, after the change.
    pub invoice: InvoiceNode,
    /// The order, after the change (payment status, version).
    pub order: OrderNode,
}

/// The result of `recordPayment`.
#[derive(SimpleObject)]
pub struct PaymentPayload {
    /// The payment (on a retry with the same idempotency key: the first one).
    pub payment: PaymentNode,
    /// The invoice, as it stands now.
    pub invoice: InvoiceNode,
    /// The order, as it stands now (payment status; COMPLETED when delivered and fully paid).
    pub order: OrderNode,
}

/// A quantity of one order line to invoice.
#[derive(InputObject)]
pub struct InvoiceLineInput {
    /// The order line: `<orderId>-<lineNo>` (`OrderLine.id`).
    pub line_id: ID,
    /// Quantity to bill; at most what is left to invoice on the line.
    pub quantity: Dec,
}

/// What to invoice.
#[derive(InputObject, Default)]
pub struct IssueInvoiceInput {
    /// Invoice the deposit of DEPOSIT_<p>_NET_<n> terms (before any goods invoice).
    #[graphql(default = false)]
    pub deposit: bool,
    /// Lines and quantities to bill; everything not yet invoiced when omitted.
    pub lines: Option<Vec<InvoiceLineInput>>,
    /// Bill what has shipped (recorded shipments) and is not invoiced yet, instead of `lines`.
    #[graphql(default = false)]
    pub shipped: bool,
}

/// A payment received.
#[derive(InputObject)]
#[graphql(name = "PaymentInput")]
pub struct PaymentInputGql {
    /// Amount in the invoice's currency; at most the open balance.
    pub amount: Dec,
    /// How.
    pub method: PaymentMethodGql,
    /// Bank reference, cheque number...
    pub reference: Option<String>,
    /// When the money arrived; now when omitted. Never in the future.
    pub received_at: Option<DateTime<Utc>>,
}

/// Filters of `receivables`.
#[derive(InputObject, Default)]
pub struct ReceivableFilterInput {
    /// Of this customer.
    pub customer_id: Option<ID>,
    /// Of this rep.
    pub sales_rep_id: Option<ID>,
    /// Only invoices past their due date (today, UTC).
    #[graphql(default = false)]
    pub overdue_only: bool,
}

/// One row of the aging report: open amounts of one customer or rep in one currency.
pub struct AgingRowNode {
    row: AgingRow,
    group: AgingGroup,
}

/// Open amounts of one customer or rep in one currency, by days past due.
#[Object(name = "AgingRow")]
impl AgingRowNode {
    /// The customer (when grouped by CUSTOMER).
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Option<CustomerNode>> {
        if self.group != AgingGroup::Customer {
            return Ok(None);
        }
        let actor = ctx.actor()?;
        Ok(Some(CustomerNode::from(
            ctx.services()
                .customer(ctx.loaders(), &actor, CustomerId(self.row.key))
                .await?,
        )))
    }
    /// The sales rep (when grouped by SALES_REP).
    async fn sales_rep(&self, ctx: &Context<'_>) -> ApiResult<Option<UserNode>> {
        if self.group != AgingGroup::SalesRep {
            return Ok(None);
        }
        Ok(Some(UserNode(
            user(ctx.loaders(), UserId(self.row.key)).await?,
        )))
    }
    /// Not yet due (or due today).
    async fn current(&self) -> MoneyNode {
        MoneyNode::new(self.row.current, self.row.currency)
    }
    /// 1 to 30 days past due.
    async fn days_1_to_30(&self) -> MoneyNode {
        MoneyNode::new(self.row.days_1_30, self.row.currency)
    }
    /// 31 to 60 days past due.
    async fn days_31_to_60(&self) -> MoneyNode {
        MoneyNode::new(self.row.days_31_60, self.row.currency)
    }
    /// 61 to 90 days past due.
    async fn days_61_to_90(&self) -> MoneyNode {
        MoneyNode::new(self.row.days_61_90, self.row.currency)
    }
    /// More than 90 days past due.
    async fn over_90(&self) -> MoneyNode {
        MoneyNode::new(self.row.over_90, self.row.currency)
    }
    /// Everything open: the buckets add up to it exactly.
    async fn total(&self) -> MoneyNode {
        MoneyNode::new(self.row.total, self.row.currency)
    }
    /// Open invoices counted.
    async fn invoice_count(&self) -> i64 {
        i64::from(self.row.invoice_count)
    }
}

/// How promptly a customer pays.
#[derive(SimpleObject)]
#[graphql(name = "PaymentBehaviour")]
pub struct PaymentBehaviourNode {
    /// Fully paid invoices considered (the latest 500).
    pub invoices_paid: i64,
    /// Average days paid after the due date (early payment counts as 0); null without invoices.
    pub average_days_late: Option<Dec>,
    /// Share of invoices paid by their due date, 0 to 1; null without invoices.
    pub on_time_share: Option<Dec>,
}

/// Relay connection of invoices.
fn invoice_connection(page: Page<Invoice>) -> Connection<String, InvoiceNode> {
    super::connection(page, |i| i.id, InvoiceNode)
}

/// Settlement queries.
#[derive(Default)]
pub struct SettlementQuery;

#[Object]
impl SettlementQuery {
    /// One invoice; NOT_FOUND when its order is not visible to the caller.
    async fn invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id.")] id: ID,
    ) -> ApiResult<InvoiceNode> {
        let actor = ctx.actor()?;
        let id = parse_id("id", &id)?;
        Ok(InvoiceNode(
            ctx.services().invoice(ctx.loaders(), &actor, id).await?,
        ))
    }

    /// Open invoices (money still owed) visible to the caller, newest first; each tells its
    /// outstanding amount and days overdue.
    #[graphql(complexity = "super::list_complexity(first, child_complexity)")]
    async fn receivables(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Cursor of the last invoice already seen.")] after: Option<String>,
        #[graphql(desc = "Filters.")] filter: Option<ReceivableFilterInput>,
    ) -> ApiResult<Connection<String, InvoiceNode>> {
        let actor = ctx.actor()?;
        let page = page_request(first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = ReceivableFilter {
            customer_id: filter
                .customer_id
                .optional_id("customerId")?
                .map(CustomerId),
            sales_rep_id: filter.sales_rep_id.optional_id("salesRepId")?.map(UserId),
            overdue_as_of: filter
                .overdue_only
                .then(|| crate::service::now().date_naive()),
        };
        Ok(invoice_connection(
            ctx.services()
                .store
                .open_invoices(actor.scope(), &filter, page)
                .await
                .map_err(ApiError::from)?,
        ))
    }

    /// The caller's invoices to chase (as the orders' sales rep): overdue ones and those whose
    /// promise to pay was broken (the promised date passed without the promised payment), most
    /// overdue first, at most 100. Staff only.
    async fn my_collections(&self, ctx: &Context<'_>) -> ApiResult<Vec<CollectionItemNode>> {
        let actor = ctx.actor()?;
        Ok(ctx
            .services()
            .my_collections(&actor)
            .await?
            .into_iter()
            .map(CollectionItemNode)
            .collect())
    }

    /// Open amounts by days past due as of `asOf` (default today), one row per customer or
    /// sales rep and currency, largest total first; the caller's visible invoices only. Staff only.
    async fn aging_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day to age to; today (UTC) when omitted.")] as_of: Option<NaiveDate>,
        #[graphql(desc = "One row per CUSTOMER or per SALES_REP (and currency).")]
        group_by: AgingGroupBy,
    ) -> ApiResult<Vec<AgingRowNode>> {
        let actor = ctx.actor()?;
        staff_only(&actor, "aging reports")?;
        let as_of = as_of.unwrap_or_else(|| crate::service::now().date_naive());
        let items: Vec<OpenItem> = ctx
            .services()
            .store
            .all_open_invoices(actor.scope(), AGING_LIMIT)
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .map(|i| OpenItem {
                invoice_id: i.id,
                customer_id: i.details.customer_id,
                sales_rep_id: i.details.sales_rep_id,
                currency: i.details.currency,
                due_on: i.details.due_on,
                outstanding: i.outstanding(),
            })
            .collect();
        let group = match group_by {
            AgingGroupBy::Customer => AgingGroup::Customer,
            AgingGroupBy::SalesRep => AgingGroup::SalesRep,
        };
        Ok(aging(&items, as_of, group)
            .into_iter()
            .map(|row| AgingRowNode { row, group })
            .collect())
    }
}

/// Payment behaviour of a customer the caller sees (used by `Customer.paymentBehaviour`).
pub async fn customer_payment_behaviour(
    ctx: &Context<'_>,
    customer_id: CustomerId,
) -> ApiResult<PaymentBehaviourNode> {
    let actor = ctx.actor()?;
    staff_only(&actor, "payment records")?;
    let settled: Vec<SettledInvoice> = ctx
        .services()
        .store
        .settled_invoices(customer_id)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .filter_map(|i| {
            i.fully_paid_on.map(|paid_on| SettledInvoice {
                due_on: i.details.due_on,
                paid_on,
            })
        })
        .collect();
    let behaviour = payment_behaviour(&settled);
    Ok(PaymentBehaviourNode {
        invoices_paid: i64::from(behaviour.invoices_paid),
        average_days_late: behaviour.average_days_late.map(Dec),
        on_time_share: behaviour.on_time_share.map(Dec),
    })
}

/// Settlement mutations.
#[derive(Default)]
pub struct SettlementMutation;

impl From<Settled> for InvoicePayload {
    fn from(s: Settled) -> Self {
        Self {
            invoice: InvoiceNode(s.invoice),
            order: OrderNode::new(s.order),
        }
    }
}

#[Object]
impl SettlementMutation {
    /// Issues an invoice for a CONFIRMED (or later, not final) order: the deposit
    /// (`deposit: true`, DEPOSIT terms), the given line quantities, or everything not yet
    /// invoiced. Invoiced quantities never exceed ordered ones; the due date follows the
    /// order's payment terms; invoiced deposits are credited on goods invoices. Staff only.
    async fn issue_invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] order_id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "What to invoice; everything left when omitted.")] input: Option<
            IssueInvoiceInput,
        >,
    ) -> ApiResult<InvoicePayload> {
        let actor = ctx.actor()?;
        let order_id = OrderId(parse_id("orderId", &order_id)?);
        let input = input.unwrap_or_default();
        let what = match (input.deposit, input.shipped, input.lines) {
            (false, false, None) => InvoiceRequest::Everything,
            (true, false, None) => InvoiceRequest::Deposit,
            (false, true, None) => InvoiceRequest::Shipped,
            (false, false, Some(lines)) => InvoiceRequest::Lines(
                lines
                    .into_iter()
                    .map(|l| Ok((line_no(&l.line_id, order_id)?, l.quantity.0)))
                    .collect::<ApiResult<Vec<_>>>()?,
            ),
            (true, _, _) => {
                return Err(ApiError::bad_input(
                    "lines",
                    "a deposit invoice bills a share of the whole order, not lines",
                ));
            }
            (false, true, Some(_)) => {
                return Err(ApiError::bad_input(
                    "shipped",
                    "give either lines or shipped, not both",
                ));
            }
        };
        Ok(ctx
            .services()
            .issue_invoice(ctx.loaders(), &actor, order_id, expected_version, what)
            .await?
            .into())
    }

    /// Voids an invoice that has no payments; it stops counting everywhere. Staff only.
    async fn void_invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invoice.")] invoice_id: ID,
        #[graphql(desc = "Why (required).")] reason: String,
    ) -> ApiResult<InvoicePayload> {
        let actor = ctx.actor()?;
        let id = parse_id("invoiceId", &invoice_id)?;
        Ok(ctx
            .services()
            .void_invoice(ctx.loaders(), &actor, id, &reason)
            .await?
            .into())
    }

    /// Logs collection work on an open invoice: a REMINDER, a CALL, a PROMISE_TO_PAY (with the
    /// date, and optionally the amount) or a DISPUTE. Staff only.
    async fn log_collection_activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invoice.")] invoice_id: ID,
        #[graphql(desc = "What was done.")] input: CollectionActivityInput,
    ) -> ApiResult<CollectionActivityNode> {
        let actor = ctx.actor()?;
        let id = parse_id("invoiceId", &invoice_id)?;
        let activity = ctx
            .services()
            .log_collection(
                ctx.loaders(),
                &actor,
                NewCollectionActivity {
                    invoice_id: id,
                    user_id: actor.user_id,
                    kind: input.kind.into(),
                    note: input.note,
                    promised_date: input.promised_date,
                    promised_amount: input.promised_amount.map(|a| a.0),
                },
            )
            .await?;
        let invoice = ctx.services().invoice(ctx.loaders(), &actor, id).await?;
        Ok(CollectionActivityNode {
            activity,
            currency: invoice.details.currency,
        })
    }

    /// Records a payment against an invoice. Partial payments are fine; more than the open
    /// balance is BAD_USER_INPUT naming the balance. With `idempotencyKey` (1-255 characters,
    /// scoped to the caller) a retry returns the first payment and records nothing new; the key
    /// with different input is a CONFLICT. The order's payment status follows, and a DELIVERED
    /// order that becomes fully paid is COMPLETED. Staff only.
    async fn record_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invoice.")] invoice_id: ID,
        #[graphql(desc = "The payment.")] input: PaymentInputGql,
        #[graphql(desc = "Makes retries safe: the same key and input record one payment.")]
        idempotency_key: Option<String>,
    ) -> ApiResult<PaymentPayload> {
        let actor = ctx.actor()?;
        let id = parse_id("invoiceId", &invoice_id)?;
        let settled = ctx
            .services()
            .record_payment(
                ctx.loaders(),
                &actor,
                id,
                PaymentInput {
                    amount: input.amount.0,
                    method: input.method.into(),
                    reference: input.reference,
                    received_at: input.received_at,
                },
                idempotency_key,
            )
            .await?;
        let payment = settled
            .payment
            .ok_or_else(|| ApiError::Internal("payment missing".into()))?;
        Ok(PaymentPayload {
            payment: PaymentNode {
                payment,
                currency: settled.invoice.details.currency,
            },
            invoice: InvoiceNode(settled.invoice),
            order: OrderNode::new(settled.order),
        })
    }
}
