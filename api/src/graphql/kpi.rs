//! The cash, customer and rep KPIs of `analytics` (issue 8's second half): receivables and DSO,
//! RFM segments, lapsed customers, payment behaviour and rep scorecards. The data loading is
//! shared with `exportCsv` through [`Reports`], so a CSV holds exactly what the fields answer.

use analytics::cash::{CashSummary, cash_summary};
use analytics::customers::{
    LapsedCustomer, PaymentFigures, RfmEntry, Segment, lapsed, payment_behaviour, rfm,
    segment_counts,
};
use analytics::delivery::{CycleTime, OnTime, cycle_time, on_time};
use analytics::pipeline::{RuleOutcome, review_outcomes};
use analytics::quality::{ParetoEntry, QualityRates, impact_totals, pareto, quality_rates};
use analytics::reps::{RepRows, Scorecard, scorecards};
use analytics::sales::{SalesBucket, period_totals, sales_summary};
use analytics::stats::Granularity;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::money::Currency;
use domain::ports::{
    AnalyticsFilter, AnalyticsRepository, ConversionCounts, CustomerActivity, DeliveryCounts,
    ExceptionGroup, OpenOrders, OpenReceivable, QualityCounts, Ranked, RepAmount, SettlementRecord,
    Stage,
};
use domain::user::Scope;
use domain::{CustomerId, ProductId};
use persistence::Store;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::OnceCell;

use super::ContextExt;
use super::analytics::{AnalyticsFilterInput, OnTimeRate, visible_customer};
use super::error::{ApiError, ApiResult};
use super::scalars::Dec;
use super::types::{CustomerNode, MoneyNode, UserNode};
use crate::service::user;

/// Most entries a customer list returns.
const MAX_FIRST: i32 = 1_000;

fn first_n(first: i32) -> ApiResult<usize> {
    if !(0..=MAX_FIRST).contains(&first) {
        return Err(ApiError::bad_input(
            "first",
            format!("must be between 0 and {MAX_FIRST}"),
        ));
    }
    Ok(usize::try_from(first).unwrap_or(0))
}

/// How many customers and products the sales summary's top lists hold, per currency.
const TOP_LIMIT: u32 = 10;

/// The caller's scope and what this `analytics` selection has loaded so far, shared by all its
/// fields: a dashboard asks many KPIs of one period in one request, and several of them rest on
/// the same rows (receivables and scorecards, RFM and lapsed customers, on-time rate and
/// scorecards, ...), which are then read once.
#[derive(Clone)]
pub(super) struct KpiScope {
    pub scope: Scope,
    rows: Arc<Mutex<HashMap<AnalyticsFilter, Arc<SharedRows>>>>,
}

impl KpiScope {
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            rows: Arc::default(),
        }
    }

    fn rows(&self, filter: AnalyticsFilter) -> Arc<SharedRows> {
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(rows.entry(filter).or_default())
    }
}

/// Repository rows that more than one report reads, each loaded at most once per filter (a
/// second field asking while the first loads waits for that load instead of starting its own).
#[derive(Default)]
struct SharedRows {
    deliveries: OnceCell<Vec<DeliveryCounts>>,
    quality_counts: OnceCell<Vec<QualityCounts>>,
    exception_groups: OnceCell<Vec<ExceptionGroup>>,
    invoiced: OnceCell<Vec<RepAmount>>,
    collected: OnceCell<Vec<RepAmount>>,
    open_receivables: OnceCell<Vec<OpenReceivable>>,
    settlements: OnceCell<Vec<SettlementRecord>>,
    customer_activity: OnceCell<Vec<CustomerActivity>>,
}

/// Loads and computes the reports, for the fields and for `exportCsv` alike: each field is one
/// method call plus the mapping to its GraphQL nodes, so a CSV holds exactly what the field
/// answers. A report's queries do not depend on each other and run concurrently, each on its
/// own pool connection (on SQLite, its own thread): on a 2-core machine a report waits for
/// about half its queries' time.
pub(super) struct Reports<'a> {
    pub store: &'a Store,
    pub scope: Scope,
    pub filter: AnalyticsFilter,
    rows: Arc<SharedRows>,
}

/// One method per [`SharedRows`] entry, named like the repository method that loads it.
macro_rules! shared_rows {
    ($($name:ident: $row:ty),* $(,)?) => {
        impl Reports<'_> {
            $(
                async fn $name(&self) -> ApiResult<&[$row]> {
                    let rows = self
                        .rows
                        .$name
                        .get_or_try_init(|| self.store.$name(self.scope, &self.filter))
                        .await?;
                    Ok(rows)
                }
            )*
        }
    };
}

shared_rows! {
    deliveries: DeliveryCounts,
    quality_counts: QualityCounts,
    exception_groups: ExceptionGroup,
    invoiced: RepAmount,
    collected: RepAmount,
    open_receivables: OpenReceivable,
    settlements: SettlementRecord,
    customer_activity: CustomerActivity,
}

/// The sales summary of a period, before it becomes GraphQL nodes.
pub(super) struct Sales {
    /// Per bucket and currency.
    pub buckets: Vec<SalesBucket>,
    /// The whole period per currency.
    pub totals: Vec<SalesBucket>,
    /// The largest customers per currency; empty unless asked for.
    pub top_customers: Vec<Ranked<CustomerId>>,
    /// The largest products per currency; empty unless asked for.
    pub top_products: Vec<Ranked<ProductId>>,
}

/// The pipeline, before it becomes GraphQL nodes.
pub(super) struct PipelineFigures {
    /// Open orders now, by status and currency, in lifecycle order.
    pub open: Vec<OpenOrders>,
    /// Submitted in the period, and confirmed since.
    pub counts: ConversionCounts,
    /// Review findings of the period's submissions, most findings first.
    pub outcomes: Vec<RuleOutcome>,
}

impl<'a> Reports<'a> {
    /// The reports of `scope` (the caller's) for the parsed `filter`.
    pub fn new(
        ctx: &'a Context<'_>,
        kpi: &KpiScope,
        filter: &AnalyticsFilterInput,
    ) -> ApiResult<Self> {
        let filter = filter.parse()?;
        Ok(Self {
            store: &ctx.services().store,
            scope: kpi.scope,
            filter,
            rows: kpi.rows(filter),
        })
    }
}

impl Reports<'_> {
    /// The sales summary bucketed by `granularity`; the two top lists (two more queries) only
    /// when `with_top` (the CSV has no place for them).
    pub async fn sales(&self, granularity: Granularity, with_top: bool) -> ApiResult<Sales> {
        let (s, f) = (self.scope, &self.filter);
        let (rows, top_customers, top_products) = tokio::try_join!(
            self.store.daily_sales(s, f),
            async {
                if with_top {
                    self.store.top_customers(s, f, TOP_LIMIT).await
                } else {
                    Ok(Vec::new())
                }
            },
            async {
                if with_top {
                    self.store.top_products(s, f, TOP_LIMIT).await
                } else {
                    Ok(Vec::new())
                }
            },
        )?;
        Ok(Sales {
            buckets: sales_summary(&rows, granularity),
            totals: period_totals(&rows),
            top_customers,
            top_products,
        })
    }

    pub async fn pipeline(&self) -> ApiResult<PipelineFigures> {
        let (s, f) = (self.scope, &self.filter);
        let (open, counts, findings) = tokio::try_join!(
            self.store.open_orders(s, f),
            self.store.conversion(s, f),
            self.store.review_findings(s, f),
        )?;
        Ok(PipelineFigures {
            open,
            counts,
            outcomes: review_outcomes(&findings),
        })
    }

    /// One entry per stage, in lifecycle order.
    pub async fn cycle_times(&self) -> ApiResult<Vec<CycleTime>> {
        let durations = futures_util::future::try_join_all(
            Stage::ALL.map(|stage| self.store.stage_durations(self.scope, &self.filter, stage)),
        )
        .await?;
        Ok(Stage::ALL
            .into_iter()
            .zip(durations)
            .map(|(stage, durations)| cycle_time(stage, &durations))
            .collect())
    }

    pub async fn on_time(&self) -> ApiResult<OnTime> {
        let rows = self.deliveries().await?;
        Ok(on_time(rows))
    }

    pub async fn pareto(&self) -> ApiResult<Vec<ParetoEntry>> {
        let (groups, lessons) = tokio::try_join!(self.exception_groups(), async {
            Ok(self
                .store
                .exception_lessons(self.scope, &self.filter)
                .await?)
        })?;
        Ok(pareto(groups, &lessons))
    }

    pub async fn cash(&self) -> ApiResult<Vec<CashSummary>> {
        let (invoiced, collected, open) =
            tokio::try_join!(self.invoiced(), self.collected(), self.open_receivables())?;
        Ok(cash_summary(
            invoiced,
            collected,
            open,
            self.filter.day_count(),
        ))
    }

    pub async fn quality(&self) -> ApiResult<(QualityRates, Vec<(Currency, Decimal)>, u64)> {
        let (counts, groups) = tokio::try_join!(self.quality_counts(), self.exception_groups())?;
        let (cost, delay) = impact_totals(groups);
        Ok((quality_rates(counts), cost, delay))
    }

    pub async fn rfm(&self) -> ApiResult<Vec<RfmEntry>> {
        let activity = self.customer_activity().await?;
        Ok(rfm(activity, self.filter.to))
    }

    pub async fn lapsed(&self) -> ApiResult<Vec<LapsedCustomer>> {
        let activity = self.customer_activity().await?;
        Ok(lapsed(activity, self.filter.to))
    }

    pub async fn payments(&self) -> ApiResult<(PaymentFigures, Vec<(CustomerId, PaymentFigures)>)> {
        let records = self.settlements().await?;
        Ok(payment_behaviour(records))
    }

    pub async fn scorecards(&self) -> ApiResult<Vec<Scorecard>> {
        let (s, f) = (self.scope, &self.filter);
        let (sales, due) = (async { Ok(self.store.sales_by_rep(s, f).await?) }, async {
            Ok(self.store.due_invoices(s, f).await?)
        });
        let (sales, deliveries, quality, invoiced, collected, open, due, settlements) = tokio::try_join!(
            sales,
            self.deliveries(),
            self.quality_counts(),
            self.invoiced(),
            self.collected(),
            self.open_receivables(),
            due,
            self.settlements(),
        )?;
        Ok(scorecards(
            RepRows {
                sales: &sales,
                deliveries,
                quality,
                invoiced,
                collected,
                open,
                due: &due,
                settlements,
            },
            f.day_count(),
        ))
    }
}

/// Cash figures of one currency for a period.
pub struct ReceivablesNode(pub CashSummary);

/// Cash figures of one currency for a period: what was invoiced and collected in it, and what
/// was owed at its end, aged to its last day.
#[Object(name = "Receivables")]
impl ReceivablesNode {
    /// The currency of every amount.
    async fn currency(&self) -> &str {
        self.0.currency.as_str()
    }
    /// Valid (not voided) invoices issued in the period.
    async fn invoices(&self) -> u64 {
        self.0.invoices
    }
    /// Their amount.
    async fn invoiced(&self) -> MoneyNode {
        self.money(self.0.invoiced)
    }
    /// Payments received in the period.
    async fn payments(&self) -> u64 {
        self.0.payments
    }
    /// Their sum.
    async fn collected(&self) -> MoneyNode {
        self.money(self.0.collected)
    }
    /// Invoices with money owed at the end of the period.
    async fn open_invoices(&self) -> u64 {
        self.0.open_invoices
    }
    /// What was owed at the end of the period: invoices issued before it less payments
    /// received before it. The five buckets add up to it exactly.
    async fn outstanding(&self) -> MoneyNode {
        self.money(self.0.outstanding)
    }
    /// The part of `outstanding` past its due date on the period's last day.
    async fn overdue(&self) -> MoneyNode {
        self.money(self.0.overdue)
    }
    /// Not yet due, or due on the period's last day.
    async fn current(&self) -> MoneyNode {
        self.money(self.0.aging[0])
    }
    /// 1 to 30 days past due.
    async fn days1_to30(&self) -> MoneyNode {
        self.money(self.0.aging[1])
    }
    /// 31 to 60 days past due.
    async fn days31_to60(&self) -> MoneyNode {
        self.money(self.0.aging[2])
    }
    /// 61 to 90 days past due.
    async fn days61_to90(&self) -> MoneyNode {
        self.money(self.0.aging[3])
    }
    /// More than 90 days past due.
    async fn over90(&self) -> MoneyNode {
        self.money(self.0.aging[4])
    }
    /// Days sales outstanding: `outstanding / invoiced × days in the period`, rounded half away
    /// from zero to 1 place; null when nothing was invoiced in the period.
    async fn dso_days(&self) -> Option<Dec> {
        self.0.dso_days.map(Dec)
    }
}

impl ReceivablesNode {
    fn money(&self, amount: Decimal) -> MoneyNode {
        MoneyNode::new(amount, self.0.currency)
    }
}

/// Receivables for a period, per currency.
#[derive(SimpleObject)]
pub struct ReceivablesReport {
    /// The day amounts are aged to: the period's last day.
    pub as_of: NaiveDate,
    /// Days in the period (the DSO's time base).
    pub period_days: u64,
    /// One entry per currency with any figure, by currency code.
    pub currencies: Vec<ReceivablesNode>,
}

/// Change requests and exceptions on a set of orders.
#[derive(SimpleObject)]
#[graphql(name = "QualityRates")]
pub struct QualityRatesNode {
    /// Submitted orders created in the period.
    pub orders: u64,
    /// Those with at least one change request (at any time since).
    pub orders_with_change_requests: u64,
    /// Change requests on them.
    pub change_requests: u64,
    /// `ordersWithChangeRequests / orders`, 0 to 1, 4 places; null without orders.
    pub change_request_rate: Option<Dec>,
    /// Those with at least one exception (at any time since).
    pub orders_with_exceptions: u64,
    /// Exceptions on them.
    pub exceptions: u64,
    /// `ordersWithExceptions / orders`, 0 to 1, 4 places; null without orders.
    pub exception_rate: Option<Dec>,
}

impl From<QualityRates> for QualityRatesNode {
    fn from(r: QualityRates) -> Self {
        Self {
            orders: r.orders,
            orders_with_change_requests: r.orders_with_change_requests,
            change_requests: r.change_requests,
            change_request_rate: r.change_request_rate.map(Dec),
            orders_with_exceptions: r.orders_with_exceptions,
            exceptions: r.exceptions,
            exception_rate: r.exception_rate.map(Dec),
        }
    }
}

/// Quality of a period: how often orders changed or ran into exceptions, and what the
/// exceptions raised in it cost.
#[derive(SimpleObject)]
pub struct QualityReport {
    /// Rates over the submitted orders created in the period.
    pub rates: QualityRatesNode,
    /// Estimated cost impact of the exceptions raised in the period, one amount per currency.
    pub cost_impact: Vec<MoneyNode>,
    /// Their estimated delay, in days, summed.
    pub delay_days: u64,
}

/// An RFM segment: where the recency, frequency and monetary scores put a customer.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "RfmSegment", remote = "analytics::customers::Segment")]
pub enum SegmentGql {
    /// Recent, frequent and big: R ≥ 4, F ≥ 4, M ≥ 4.
    Champions,
    /// Ordering regularly: R ≥ 3 and F ≥ 3 (not a champion).
    Loyal,
    /// Ordered lately but seldom: R ≥ 4, F ≤ 2.
    Promising,
    /// R = 3 and F ≤ 2.
    NeedsAttention,
    /// Used to order often, not lately: R ≤ 2, F ≥ 3.
    AtRisk,
    /// Seldom, and not lately: R ≤ 2, F ≤ 2.
    Hibernating,
}

/// One customer's RFM scores in one currency.
pub struct RfmCustomerNode(RfmEntry);

/// One customer's RFM scores in one currency, against the other customers of that currency.
#[Object(name = "RfmCustomer")]
impl RfmCustomerNode {
    /// The customer's id.
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    /// The customer; null when the caller may see its orders but not the customer record.
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Option<CustomerNode>> {
        visible_customer(ctx, self.0.customer_id).await
    }
    /// Whole days from the last order to the end of the period.
    async fn recency_days(&self) -> i64 {
        self.0.recency_days
    }
    /// Orders in the period.
    async fn orders(&self) -> u64 {
        self.0.orders
    }
    /// Their value.
    async fn value(&self) -> MoneyNode {
        MoneyNode::new(self.0.value, self.0.currency)
    }
    /// 1 (longest ago) to 5 (most recent): ⌈5 × (customers of the currency whose last order was
    /// no later) / n⌉; ties share the higher score.
    async fn recency_score(&self) -> u8 {
        self.0.recency_score
    }
    /// 1 (fewest orders) to 5 (most), the same way.
    async fn frequency_score(&self) -> u8 {
        self.0.frequency_score
    }
    /// 1 (smallest value) to 5 (largest), the same way.
    async fn monetary_score(&self) -> u8 {
        self.0.monetary_score
    }
    /// The segment.
    async fn segment(&self) -> SegmentGql {
        self.0.segment.into()
    }
}

/// How many customers one segment holds in one currency.
#[derive(SimpleObject)]
pub struct RfmSegmentCount {
    /// The segment.
    pub segment: SegmentGql,
    /// How many customers.
    pub customers: u64,
    /// Their order value in the period.
    pub value: MoneyNode,
}

/// RFM: each customer scored 1–5 on recency, frequency and monetary value against the other
/// customers of the same currency, over the submitted orders created in the period.
#[derive(SimpleObject)]
pub struct RfmReport {
    /// Customers per segment and currency, best segment first, then by currency code.
    pub segments: Vec<RfmSegmentCount>,
    /// Customers, best segment first, then value descending, then id (at most `first`).
    pub customers: Vec<RfmCustomerNode>,
}

/// A customer whose usual ordering rhythm has lapsed.
pub struct LapsedCustomerNode(LapsedCustomer);

/// A customer who has not ordered for more than twice their average interval between orders.
#[Object(name = "LapsedCustomer")]
impl LapsedCustomerNode {
    /// The customer's id.
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    /// The customer; null when the caller may see its orders but not the customer record.
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Option<CustomerNode>> {
        visible_customer(ctx, self.0.customer_id).await
    }
    /// Orders in the period (every currency).
    async fn orders(&self) -> u64 {
        self.0.orders
    }
    /// When the last of them was created.
    async fn last_order_at(&self) -> DateTime<Utc> {
        self.0.last_order_at
    }
    /// First to last order over `orders - 1`, in days, 2 places.
    async fn average_interval_days(&self) -> Dec {
        Dec(self.0.average_interval_days)
    }
    /// From the last order to the end of the period, in days, 2 places.
    async fn days_since_last_order(&self) -> Dec {
        Dec(self.0.days_since_last_order)
    }
    /// `daysSinceLastOrder / averageIntervalDays`, 2 places; always above 2 here.
    async fn lapse_factor(&self) -> Dec {
        Dec(self.0.lapse_factor)
    }
}

/// How promptly invoices were paid.
#[derive(SimpleObject)]
#[graphql(name = "PaymentFigures")]
pub struct PaymentFiguresNode {
    /// Valid invoices that became fully paid in the period.
    pub invoices_paid: u64,
    /// Those paid on or before their due date.
    pub paid_on_time: u64,
    /// Mean days late per paid invoice (paying early counts 0), 1 place; null without
    /// invoices.
    pub average_days_late: Option<Dec>,
    /// `paidOnTime / invoicesPaid`, 0 to 1, 4 places; null without invoices.
    pub on_time_share: Option<Dec>,
}

impl From<PaymentFigures> for PaymentFiguresNode {
    fn from(p: PaymentFigures) -> Self {
        Self {
            invoices_paid: p.invoices_paid,
            paid_on_time: p.paid_on_time,
            average_days_late: p.average_days_late().map(Dec),
            on_time_share: p.on_time_share().map(Dec),
        }
    }
}

/// One customer's payment figures.
pub struct CustomerPaymentsNode(CustomerId, PaymentFigures);

/// How promptly one customer paid the invoices settled in the period.
#[Object(name = "CustomerPayments")]
impl CustomerPaymentsNode {
    /// The customer's id.
    async fn customer_id(&self) -> ID {
        ID(self.0.to_string())
    }
    /// The customer; null when the caller may see its invoices but not the customer record.
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Option<CustomerNode>> {
        visible_customer(ctx, self.0).await
    }
    /// The figures.
    async fn figures(&self) -> PaymentFiguresNode {
        self.1.into()
    }
}

/// Payment behaviour over the invoices that became fully paid in the period.
#[derive(SimpleObject)]
pub struct PaymentBehaviourReport {
    /// Every such invoice.
    pub overall: PaymentFiguresNode,
    /// Per customer, latest payers first (mean days late descending, then id; at most
    /// `first`).
    pub customers: Vec<CustomerPaymentsNode>,
}

/// Orders and value of a rep in one currency.
#[derive(SimpleObject)]
pub struct RepSales {
    /// How many submitted orders were created in the period.
    pub orders: u64,
    /// Their value.
    pub value: MoneyNode,
}

/// One sales rep's scorecard.
pub struct ScorecardNode(Scorecard);

/// One sales rep's figures for the period: sales, delivery, quality and cash.
#[Object(name = "RepScorecard")]
impl ScorecardNode {
    /// The rep's user id.
    async fn sales_rep_id(&self) -> ID {
        ID(self.0.sales_rep_id.to_string())
    }
    /// The rep.
    async fn sales_rep(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        Ok(UserNode(user(ctx.loaders(), self.0.sales_rep_id).await?))
    }
    /// Submitted orders created in the period and their value, per currency.
    async fn sales(&self) -> Vec<RepSales> {
        self.0
            .sales
            .iter()
            .map(|(currency, orders, value)| RepSales {
                orders: *orders,
                value: MoneyNode::new(*value, *currency),
            })
            .collect()
    }
    /// Deliveries in the period against the promised date.
    async fn on_time(&self) -> OnTimeRate {
        OnTimeRate::from(self.0.on_time)
    }
    /// Change-request and exception rates of the period's orders.
    async fn quality(&self) -> QualityRatesNode {
        self.0.quality.into()
    }
    /// Valid invoices falling due in the period.
    async fn invoices_due(&self) -> u64 {
        self.0.invoices_due
    }
    /// Of them, fully paid by the period's end.
    async fn invoices_collected(&self) -> u64 {
        self.0.invoices_collected
    }
    /// `invoicesCollected / invoicesDue`, 0 to 1, 4 places; null when nothing fell due.
    async fn collection_rate(&self) -> Option<Dec> {
        self.0.collection_rate.map(Dec)
    }
    /// How promptly the rep's customers paid the invoices settled in the period.
    async fn payments(&self) -> PaymentFiguresNode {
        self.0.payments.into()
    }
    /// Invoiced, collected, outstanding and DSO per currency.
    async fn receivables(&self) -> Vec<ReceivablesNode> {
        self.0.cash.iter().cloned().map(ReceivablesNode).collect()
    }
}

/// Cash, customer and rep KPIs.
pub struct CashKpis {
    pub(super) kpi: KpiScope,
}

impl CashKpis {
    fn reports<'c>(
        &self,
        ctx: &'c Context<'_>,
        filter: AnalyticsFilterInput,
    ) -> ApiResult<Reports<'c>> {
        Reports::new(ctx, &self.kpi, &filter)
    }
}

#[Object]
impl CashKpis {
    /// Invoiced and collected in the period; outstanding and overdue at its end, aged to its
    /// last day (by UTC day); DSO. Per currency. Invoices count by their own rep, customer and
    /// currency (the order's when issued).
    async fn receivables_aging(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
    ) -> ApiResult<ReceivablesReport> {
        let reports = self.reports(ctx, filter)?;
        Ok(ReceivablesReport {
            as_of: reports.filter.days().1,
            period_days: reports.filter.day_count(),
            currencies: reports
                .cash()
                .await?
                .into_iter()
                .map(ReceivablesNode)
                .collect(),
        })
    }

    /// Change-request and exception rates of the submitted orders created in the period, and
    /// the cost and delay totals of the exceptions raised in it.
    async fn quality_rates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
    ) -> ApiResult<QualityReport> {
        let (rates, cost, delay) = self.reports(ctx, filter)?.quality().await?;
        Ok(QualityReport {
            rates: rates.into(),
            cost_impact: cost
                .into_iter()
                .map(|(currency, amount)| MoneyNode::new(amount, currency))
                .collect(),
            delay_days: delay,
        })
    }

    /// RFM segments over the submitted orders created in the period, recency counted to its
    /// end.
    async fn rfm(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
        #[graphql(desc = "Only customers of this segment in `customers`.")] segment: Option<
            SegmentGql,
        >,
        #[graphql(desc = "Most customers listed (0 to 1000).", default = 100)] first: i32,
    ) -> ApiResult<RfmReport> {
        let first = first_n(first)?;
        let entries = self.reports(ctx, filter)?.rfm().await?;
        let wanted: Option<Segment> = segment.map(Into::into);
        Ok(RfmReport {
            segments: segment_counts(&entries)
                .into_iter()
                .map(|c| RfmSegmentCount {
                    segment: c.segment.into(),
                    customers: c.customers,
                    value: MoneyNode::new(c.value, c.currency),
                })
                .collect(),
            customers: entries
                .into_iter()
                .filter(|e| wanted.is_none_or(|s| e.segment == s))
                .take(first)
                .map(RfmCustomerNode)
                .collect(),
        })
    }

    /// Customers with at least two submitted orders in the period who, at its end, had not
    /// ordered for more than twice their average interval between those orders. Most lapsed
    /// first.
    async fn lapsed_customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period (the ordering history considered) and filters.")]
        filter: AnalyticsFilterInput,
        #[graphql(desc = "Most customers listed (0 to 1000).", default = 100)] first: i32,
    ) -> ApiResult<Vec<LapsedCustomerNode>> {
        let first = first_n(first)?;
        let lapsed = self.reports(ctx, filter)?.lapsed().await?;
        Ok(lapsed
            .into_iter()
            .take(first)
            .map(LapsedCustomerNode)
            .collect())
    }

    /// How promptly the valid invoices that became fully paid in the period were paid,
    /// overall and per customer.
    async fn payment_behaviour(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
        #[graphql(desc = "Most customers listed (0 to 1000).", default = 100)] first: i32,
    ) -> ApiResult<PaymentBehaviourReport> {
        let first = first_n(first)?;
        let (overall, customers) = self.reports(ctx, filter)?.payments().await?;
        Ok(PaymentBehaviourReport {
            overall: overall.into(),
            customers: customers
                .into_iter()
                .take(first)
                .map(|(id, figures)| CustomerPaymentsNode(id, figures))
                .collect(),
        })
    }

    /// One scorecard per sales rep with figures in the period: a rep sees their own, a manager
    /// their team's, an admin everyone's.
    async fn rep_scorecards(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
    ) -> ApiResult<Vec<ScorecardNode>> {
        let cards = self.reports(ctx, filter)?.scorecards().await?;
        Ok(cards.into_iter().map(ScorecardNode).collect())
    }
}
