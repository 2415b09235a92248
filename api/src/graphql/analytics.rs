//! Analytics over GraphQL: the KPIs of the `analytics` crate for a period, within the caller's
//! scope (SALES their own orders, MANAGER their team's, ADMIN all; CUSTOMER users none).

use analytics::delivery::{CycleTime, OnTime};
use analytics::pipeline::conversion_rate;
use analytics::sales::{Figures, SalesBucket};
use analytics::stats::Granularity;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::money::Currency;
use domain::ports::{AnalyticsFilter, Ranked};
use domain::{CustomerId, ProductId, UserId};

use super::ContextExt;
use super::OptionalId;
use super::error::{ApiError, ApiResult};
use super::export::ExportKpis;
use super::kpi::{CashKpis, KpiScope, Reports};
use super::scalars::Dec;
use super::tracking::ExceptionKindGql;
use super::types::{CustomerNode, MoneyNode, OrderStatusGql, ProductNode, SeverityGql};
use crate::service::staff_only;

/// Longest period one query may cover.
const MAX_PERIOD_DAYS: i64 = 3 * 366;

/// What an analytics query covers. The period is half-open, `[from, to)`; the other filters
/// narrow the caller's visible orders further (a filter outside the caller's scope finds nothing).
#[derive(InputObject)]
#[graphql(name = "AnalyticsFilter")]
pub struct AnalyticsFilterInput {
    /// Start of the period (inclusive). At most 3 years before `to`.
    pub from: DateTime<Utc>,
    /// End of the period (exclusive); not before `from`.
    pub to: DateTime<Utc>,
    /// Only this sales rep's orders.
    pub sales_rep_id: Option<ID>,
    /// Only the orders of this manager's team (the manager's own and their reps').
    pub team_of: Option<ID>,
    /// Only this customer's orders.
    pub customer_id: Option<ID>,
    /// Only orders with at least one line of this product (whole order values count).
    pub product_id: Option<ID>,
    /// Only orders in this currency (ISO 4217 code).
    pub currency: Option<String>,
}

impl AnalyticsFilterInput {
    pub(super) fn parse(&self) -> ApiResult<AnalyticsFilter> {
        if self.from > self.to {
            return Err(ApiError::bad_input("from", "must not be after `to`"));
        }
        if self.to - self.from > chrono::Duration::days(MAX_PERIOD_DAYS) {
            return Err(ApiError::bad_input(
                "to",
                "the period may cover at most 3 years",
            ));
        }
        Ok(AnalyticsFilter {
            from: self.from,
            to: self.to,
            sales_rep_id: self.sales_rep_id.optional_id("salesRepId")?.map(UserId),
            team_of: self.team_of.optional_id("teamOf")?.map(UserId),
            customer_id: self.customer_id.optional_id("customerId")?.map(CustomerId),
            product_id: self.product_id.optional_id("productId")?.map(ProductId),
            currency: self
                .currency
                .as_deref()
                .map(|code| {
                    Currency::parse(code)
                        .map_err(|e| ApiError::bad_input("currency", e.to_string()))
                })
                .transpose()?,
        })
    }
}

/// The width of the time buckets of a report (UTC).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TimeBucket {
    /// One UTC day.
    Day,
    /// One ISO week, Monday to Sunday.
    Week,
    /// One calendar month.
    Month,
}

impl From<TimeBucket> for Granularity {
    fn from(bucket: TimeBucket) -> Self {
        match bucket {
            TimeBucket::Day => Granularity::Day,
            TimeBucket::Week => Granularity::Week,
            TimeBucket::Month => Granularity::Month,
        }
    }
}

/// Orders and their value, in one currency.
#[derive(SimpleObject)]
pub struct SalesFigures {
    /// How many orders.
    pub orders: u64,
    /// The sum of their totals.
    pub value: MoneyNode,
    /// Value per order, rounded half away from zero to the currency's minor units; null
    /// without orders.
    pub average_order_value: Option<MoneyNode>,
}

impl SalesFigures {
    fn new(figures: Figures, currency: Currency) -> Self {
        Self {
            orders: figures.orders,
            value: MoneyNode::new(figures.value, currency),
            average_order_value: figures
                .average(currency.minor_units())
                .map(|avg| MoneyNode::new(avg, currency)),
        }
    }
}

/// Submitted orders created in one time bucket, in one currency, by status group.
#[derive(SimpleObject)]
#[graphql(name = "SalesBucket")]
pub struct SalesBucketNode {
    /// The bucket's first day: the day, the ISO week's Monday, or the month's first. For the
    /// period totals: the first day with orders.
    pub start: NaiveDate,
    /// The currency of every amount in the bucket.
    pub currency: String,
    /// All orders of the bucket (cancelled ones included).
    pub total: SalesFigures,
    /// Still open: DRAFT through SHIPPED, and ON_HOLD (as they stand now).
    pub open: SalesFigures,
    /// DELIVERED or COMPLETED.
    pub fulfilled: SalesFigures,
    /// CANCELLED.
    pub cancelled: SalesFigures,
}

impl From<SalesBucket> for SalesBucketNode {
    fn from(bucket: SalesBucket) -> Self {
        let currency = bucket.currency;
        Self {
            start: bucket.start,
            currency: currency.as_str().to_owned(),
            total: SalesFigures::new(bucket.total, currency),
            open: SalesFigures::new(bucket.open, currency),
            fulfilled: SalesFigures::new(bucket.fulfilled, currency),
            cancelled: SalesFigures::new(bucket.cancelled, currency),
        }
    }
}

/// The customer, when the caller may see the record (a rep may see orders of a customer
/// another rep owns; the KPI then names only its id).
pub(super) async fn visible_customer(
    ctx: &Context<'_>,
    id: CustomerId,
) -> ApiResult<Option<CustomerNode>> {
    let actor = ctx.actor()?;
    match ctx.services().customer(ctx.loaders(), &actor, id).await {
        Ok(customer) => Ok(Some(CustomerNode::from(customer))),
        Err(ApiError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A customer among the largest by order value in one currency.
pub struct TopCustomerNode(Ranked<CustomerId>);

/// A customer among the largest by order value in one currency.
#[Object(name = "SalesTopCustomer")]
impl TopCustomerNode {
    /// The customer's id.
    async fn customer_id(&self) -> ID {
        ID(self.0.key.to_string())
    }
    /// The customer; null when the caller may see its orders but not the customer record.
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Option<CustomerNode>> {
        visible_customer(ctx, self.0.key).await
    }
    /// How many orders.
    async fn orders(&self) -> u64 {
        self.0.orders
    }
    /// Their total value.
    async fn value(&self) -> MoneyNode {
        MoneyNode::new(self.0.value, self.0.currency)
    }
}

/// A product among the largest by line value in one currency.
pub struct TopProductNode(Ranked<ProductId>);

/// A product among the largest by line value in one currency.
#[Object(name = "SalesTopProduct")]
impl TopProductNode {
    /// The product's id.
    async fn product_id(&self) -> ID {
        ID(self.0.key.to_string())
    }
    /// The product.
    async fn product(&self, ctx: &Context<'_>) -> ApiResult<ProductNode> {
        Ok(ProductNode(
            ctx.services().product(ctx.loaders(), self.0.key).await?,
        ))
    }
    /// How many orders have a line of it.
    async fn orders(&self) -> u64 {
        self.0.orders
    }
    /// The total of its lines (after line discounts).
    async fn value(&self) -> MoneyNode {
        MoneyNode::new(self.0.value, self.0.currency)
    }
}

/// The sales summary of a period.
#[derive(SimpleObject)]
pub struct SalesSummary {
    /// One entry per time bucket and currency with orders, oldest first, then by currency code.
    pub buckets: Vec<SalesBucketNode>,
    /// The whole period, one entry per currency.
    pub totals: Vec<SalesBucketNode>,
    /// The 10 customers with the largest order value, per currency (largest first).
    pub top_customers: Vec<TopCustomerNode>,
    /// The 10 products with the largest line value, per currency (largest first).
    pub top_products: Vec<TopProductNode>,
}

/// Open orders in one status and currency.
#[derive(SimpleObject)]
#[graphql(name = "OpenOrders")]
pub struct OpenOrdersNode {
    /// The status.
    pub status: OrderStatusGql,
    /// How many orders.
    pub orders: u64,
    /// Their total value.
    pub value: MoneyNode,
}

/// How often a review rule fired, at one severity, on the orders submitted in the period.
#[derive(SimpleObject)]
pub struct ReviewOutcome {
    /// The rule code, e.g. `DISCOUNT_ABOVE_AUTHORITY`.
    pub code: String,
    /// The severity it had when it fired.
    pub severity: SeverityGql,
    /// How many findings (a rule may fire once per line).
    pub findings: u64,
    /// How many orders had at least one.
    pub orders: u64,
}

/// The pipeline: what is open now, and how the period's submissions fared.
#[derive(SimpleObject)]
pub struct Pipeline {
    /// Open orders (DRAFT through SHIPPED, and ON_HOLD) by status and currency, as they stand
    /// now: the period does not apply, the other filters do. In lifecycle order.
    pub open_by_status: Vec<OpenOrdersNode>,
    /// Orders first submitted in the period.
    pub submitted: u64,
    /// Those of them confirmed by the customer since (whatever their status now).
    pub confirmed: u64,
    /// `confirmed / submitted` from 0 to 1, rounded to 4 places; null when nothing was submitted.
    pub conversion_rate: Option<Dec>,
    /// The current review findings of the orders first submitted in the period, per rule code
    /// and severity, most findings first.
    pub review_outcomes: Vec<ReviewOutcome>,
}

/// A stage of the order lifecycle, from one milestone to the next (each the first time reached).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "domain::ports::Stage")]
pub enum LifecycleStage {
    /// Submitted to confirmed by the customer.
    SubmittedToConfirmed,
    /// Confirmed to fully shipped.
    ConfirmedToShipped,
    /// Fully shipped to delivered.
    ShippedToDelivered,
    /// Delivered to fully paid.
    DeliveredToPaid,
}

/// How long one stage took, over the orders that finished it in the period.
#[derive(SimpleObject)]
#[graphql(name = "CycleTime")]
pub struct CycleTimeNode {
    /// The stage.
    pub stage: LifecycleStage,
    /// How many orders finished it in the period.
    pub orders: u64,
    /// The median in hours (nearest rank: the value at rank ceil(n / 2)), rounded to 2 places;
    /// null without orders.
    pub median_hours: Option<Dec>,
    /// The 90th percentile in hours (nearest rank: the value at rank ceil(0.9 n)), rounded to 2
    /// places; null without orders.
    pub p90_hours: Option<Dec>,
}

impl From<CycleTime> for CycleTimeNode {
    fn from(time: CycleTime) -> Self {
        Self {
            stage: time.stage.into(),
            orders: time.orders,
            median_hours: time.median_hours.map(Dec),
            p90_hours: time.p90_hours.map(Dec),
        }
    }
}

/// Deliveries in the period against the date promised to the customer.
#[derive(SimpleObject)]
pub struct OnTimeRate {
    /// Orders delivered in the period that carry a promised date.
    pub delivered: u64,
    /// Those delivered on or before the promised date (by the UTC day of delivery).
    pub on_time: u64,
    /// Those delivered after it.
    pub late: u64,
    /// `onTime / delivered` from 0 to 1, rounded to 4 places; null without deliveries.
    pub rate: Option<Dec>,
}

impl From<OnTime> for OnTimeRate {
    fn from(counts: OnTime) -> Self {
        Self {
            delivered: counts.delivered,
            on_time: counts.on_time,
            late: counts.late,
            rate: counts.rate.map(Dec),
        }
    }
}

/// The numbers a sales team steers by. Only submitted orders count (a draft is not a sale yet;
/// the pipeline's open value is the exception); money is never added up across currencies.
#[derive(async_graphql::MergedObject)]
pub struct Analytics(SalesKpis, DeliveryKpis, QualityKpis, CashKpis, ExportKpis);

/// Sales KPIs.
pub struct SalesKpis {
    kpi: KpiScope,
}

/// Pipeline and delivery KPIs.
pub struct DeliveryKpis {
    kpi: KpiScope,
}

#[Object]
impl SalesKpis {
    /// Submitted orders created in the period: count, value and average order value per time
    /// bucket, currency and status group, with the top customers and products.
    async fn sales_summary(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
        #[graphql(desc = "The width of the buckets.", default_with = "TimeBucket::Day")]
        group_by: TimeBucket,
    ) -> ApiResult<SalesSummary> {
        let sales = Reports::new(ctx, &self.kpi, &filter)?
            .sales(group_by.into(), true)
            .await?;
        Ok(SalesSummary {
            buckets: sales.buckets.into_iter().map(Into::into).collect(),
            totals: sales.totals.into_iter().map(Into::into).collect(),
            top_customers: sales
                .top_customers
                .into_iter()
                .map(TopCustomerNode)
                .collect(),
            top_products: sales.top_products.into_iter().map(TopProductNode).collect(),
        })
    }
}

/// One entry of the exception Pareto: the exceptions of one kind and root cause.
#[derive(SimpleObject)]
#[graphql(name = "ParetoEntry")]
pub struct ParetoEntryNode {
    /// What went wrong.
    pub kind: ExceptionKindGql,
    /// The analysed root cause as written, or `unanalysed`.
    pub root_cause: String,
    /// How many exceptions were raised in the period.
    pub exceptions: u64,
    /// This entry's share of all exceptions of the period, 0 to 1, rounded to 4 places.
    pub share: Option<Dec>,
    /// The share of this entry and all larger ones, 0 to 1, rounded to 4 places.
    pub cumulative_share: Option<Dec>,
    /// Estimated cost impact, one amount per currency (never added across currencies).
    pub cost_impact: Vec<MoneyNode>,
    /// Estimated delay, in days, summed.
    pub delay_days: u64,
    /// Distinct lessons learned of the resolved ones, most recently resolved first (at most 10).
    pub lessons_learned: Vec<String>,
}

/// Quality KPIs.
pub struct QualityKpis {
    kpi: KpiScope,
}

#[Object]
impl QualityKpis {
    /// Exceptions raised in the period by kind and root cause, most frequent first, with the
    /// cumulative share, cost and delay totals and the lessons learned.
    async fn exception_pareto(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
    ) -> ApiResult<Vec<ParetoEntryNode>> {
        let entries = Reports::new(ctx, &self.kpi, &filter)?.pareto().await?;
        Ok(entries
            .into_iter()
            .map(|entry| ParetoEntryNode {
                kind: entry.kind.into(),
                root_cause: entry.root_cause,
                exceptions: entry.exceptions,
                share: entry.share.map(Dec),
                cumulative_share: entry.cumulative_share.map(Dec),
                cost_impact: entry
                    .cost_impact
                    .into_iter()
                    .map(|(currency, amount)| MoneyNode::new(amount, currency))
                    .collect(),
                delay_days: entry.delay_days,
                lessons_learned: entry.lessons,
            })
            .collect())
    }
}

#[Object]
impl DeliveryKpis {
    /// Open order value by status now; conversion and review outcomes of the orders first
    /// submitted in the period.
    async fn pipeline(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
    ) -> ApiResult<Pipeline> {
        let figures = Reports::new(ctx, &self.kpi, &filter)?.pipeline().await?;
        Ok(Pipeline {
            open_by_status: figures
                .open
                .into_iter()
                .map(|row| OpenOrdersNode {
                    status: row.status.into(),
                    orders: row.orders,
                    value: MoneyNode::new(row.value, row.currency),
                })
                .collect(),
            submitted: figures.counts.submitted,
            confirmed: figures.counts.confirmed,
            conversion_rate: conversion_rate(figures.counts).map(Dec),
            review_outcomes: figures
                .outcomes
                .into_iter()
                .map(|o| ReviewOutcome {
                    code: o.code,
                    severity: o.severity.into(),
                    findings: o.findings,
                    orders: o.orders,
                })
                .collect(),
        })
    }

    /// Median and p90 duration of each lifecycle stage, over the orders whose stage ended in
    /// the period (the later milestone's first time in the period).
    async fn cycle_times(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
    ) -> ApiResult<Vec<CycleTimeNode>> {
        let times = Reports::new(ctx, &self.kpi, &filter)?.cycle_times().await?;
        Ok(times.into_iter().map(Into::into).collect())
    }

    /// Of the orders first delivered in the period that carry a promised date, how many arrived
    /// on or before it.
    async fn on_time_rate(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
    ) -> ApiResult<OnTimeRate> {
        let counts = Reports::new(ctx, &self.kpi, &filter)?.on_time().await?;
        Ok(counts.into())
    }
}

/// The `analytics` entry point.
#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// Sales KPIs over the orders the caller sees: a rep their own, a manager their team's, an
    /// admin all. FORBIDDEN for CUSTOMER users.
    async fn analytics(&self, ctx: &Context<'_>) -> ApiResult<Analytics> {
        let actor = ctx.actor()?;
        staff_only(&actor, "analytics")?;
        let kpi = KpiScope::new(actor.scope());
        Ok(Analytics(
            SalesKpis { kpi: kpi.clone() },
            DeliveryKpis { kpi: kpi.clone() },
            QualityKpis { kpi: kpi.clone() },
            CashKpis { kpi: kpi.clone() },
            ExportKpis { kpi },
        ))
    }
}
