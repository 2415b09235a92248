//! Aggregates for the analytics KPIs, grouped in SQL so a request never reads whole orders.
//!
//! Sums are cast to BIGINT: `SUM(bigint)` is NUMERIC on PostgreSQL but INTEGER on SQLite.

use chrono::{DateTime, NaiveDate};
use domain::lifecycle::OrderStatus;
use domain::money::Currency;
use domain::ports::{
    AnalyticsFilter, AnalyticsRepository, ConversionCounts, DailySales, DeliveriesByPromise,
    ExceptionGroup, Lesson, OpenOrders, OrderMilestones, Ranked, RepoError, Stage,
};
use domain::review::Finding;
use domain::tracking::{ExceptionKind, ExceptionStatus};
use domain::user::Scope;
use domain::{CustomerId, OrderId, ProductId};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::catalog::scope_condition;
use super::corrupt;
use crate::codec::{MONEY_SCALE, from_micros, from_scaled, to_micros};
use crate::entity::{order, order_exception, order_line};
use crate::store::{Store, storage};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The orders an analytics query covers: submitted, visible in `scope`, matching `filter`, with
/// `period_column` in `[from, to)`.
fn order_condition(
    scope: Scope,
    filter: &AnalyticsFilter,
    period_column: order::Column,
) -> Condition {
    filter_condition(scope, filter)
        .add(order::Column::SubmittedAt.is_not_null())
        .add(period_column.gte(to_micros(filter.from)))
        .add(period_column.lt(to_micros(filter.to)))
}

/// Orders visible in `scope` and matching the filter's narrowing (not its period).
fn filter_condition(scope: Scope, filter: &AnalyticsFilter) -> Condition {
    let mut condition = Condition::all().add(scope_condition(
        scope,
        order::Column::SalesRepId,
        order::Column::CustomerId,
    ));
    if let Some(rep) = filter.sales_rep_id {
        condition = condition.add(order::Column::SalesRepId.eq(rep.0));
    }
    if let Some(manager) = filter.team_of {
        condition = condition.add(scope_condition(
            Scope::Team(manager),
            order::Column::SalesRepId,
            order::Column::CustomerId,
        ));
    }
    if let Some(customer) = filter.customer_id {
        condition = condition.add(order::Column::CustomerId.eq(customer.0));
    }
    if let Some(currency) = filter.currency {
        condition = condition.add(order::Column::Currency.eq(currency.as_str()));
    }
    if let Some(product) = filter.product_id {
        condition = condition.add(
            order::Column::Id.in_subquery(
                Query::select()
                    .column(order_line::Column::OrderId)
                    .from(order_line::Entity)
                    .and_where(order_line::Column::ProductId.eq(product.0))
                    .take(),
            ),
        );
    }
    condition
}

/// The exceptions an analytics query covers: raised in `[from, to)`, visible in `scope` and
/// matching the filter, all on the exception's own columns but the product.
fn exception_condition(scope: Scope, filter: &AnalyticsFilter) -> Condition {
    use order_exception::Column as E;
    let mut condition = Condition::all()
        .add(scope_condition(scope, E::SalesRepId, E::CustomerId))
        .add(E::RaisedAt.gte(to_micros(filter.from)))
        .add(E::RaisedAt.lt(to_micros(filter.to)));
    if let Some(rep) = filter.sales_rep_id {
        condition = condition.add(E::SalesRepId.eq(rep.0));
    }
    if let Some(manager) = filter.team_of {
        condition = condition.add(scope_condition(
            Scope::Team(manager),
            E::SalesRepId,
            E::CustomerId,
        ));
    }
    if let Some(customer) = filter.customer_id {
        condition = condition.add(E::CustomerId.eq(customer.0));
    }
    if let Some(currency) = filter.currency {
        condition = condition.add(E::Currency.eq(currency.as_str()));
    }
    if let Some(product) = filter.product_id {
        condition = condition.add(
            E::OrderId.in_subquery(
                Query::select()
                    .column(order_line::Column::OrderId)
                    .from(order_line::Entity)
                    .and_where(order_line::Column::ProductId.eq(product.0))
                    .take(),
            ),
        );
    }
    condition
}

fn currency(code: &str) -> Result<Currency, RepoError> {
    Currency::parse(code).map_err(|e| corrupt("currency", e))
}

fn count(n: i64) -> Result<u64, RepoError> {
    u64::try_from(n).map_err(|e| corrupt("count", e))
}

fn day(bucket: i64) -> Result<NaiveDate, RepoError> {
    bucket
        .checked_mul(86_400)
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .map(|at| at.date_naive())
        .ok_or_else(|| corrupt("day", bucket))
}

impl Store {
    /// The currencies of the orders `condition` selects.
    async fn currencies(&self, condition: Condition) -> Result<Vec<String>, RepoError> {
        order::Entity::find()
            .select_only()
            .column(order::Column::Currency)
            .distinct()
            .filter(condition)
            .order_by_asc(order::Column::Currency)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)
    }
}

fn instant(micros: Option<i64>) -> Result<Option<chrono::DateTime<chrono::Utc>>, RepoError> {
    micros.map(from_micros).transpose()
}

impl AnalyticsRepository for Store {
    async fn order_milestones(
        &self,
        ids: &[OrderId],
    ) -> Result<Vec<(OrderId, OrderMilestones)>, RepoError> {
        type Row = (
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Row> = order::Entity::find()
            .select_only()
            .column(order::Column::Id)
            .column(order::Column::SubmittedAt)
            .column(order::Column::ConfirmedAt)
            .column(order::Column::ShippedAt)
            .column(order::Column::DeliveredAt)
            .column(order::Column::PaidAt)
            .filter(order::Column::Id.is_in(ids.iter().map(|id| id.0)))
            .order_by_asc(order::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|(id, submitted, confirmed, shipped, delivered, paid)| {
                Ok((
                    OrderId(id),
                    OrderMilestones {
                        submitted_at: instant(submitted)?,
                        confirmed_at: instant(confirmed)?,
                        shipped_at: instant(shipped)?,
                        delivered_at: instant(delivered)?,
                        paid_at: instant(paid)?,
                    },
                ))
            })
            .collect()
    }

    async fn daily_sales(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<DailySales>, RepoError> {
        // Literal, not a bound value: PostgreSQL only matches the GROUP BY expression to the
        // selected one when they are the same text, and `$1` is not `$2`.
        let day_expr = Expr::cust(format!("created_at / {MICROS_PER_DAY}"));
        let rows: Vec<(i64, String, String, i64, i64)> = order::Entity::find()
            .select_only()
            .column_as(day_expr.clone(), "day")
            .column(order::Column::Currency)
            .column(order::Column::Status)
            .column_as(Expr::cust("COUNT(*)"), "orders")
            .column_as(Expr::cust("CAST(SUM(total_e4) AS BIGINT)"), "value")
            .filter(order_condition(scope, filter, order::Column::CreatedAt))
            .group_by(day_expr.clone())
            .group_by(order::Column::Currency)
            .group_by(order::Column::Status)
            .order_by_asc(day_expr)
            .order_by_asc(order::Column::Currency)
            .order_by_asc(order::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|(bucket, code, status, orders, value)| {
                Ok(DailySales {
                    day: day(bucket)?,
                    currency: currency(&code)?,
                    status: OrderStatus::parse(&status).map_err(|e| corrupt("status", e))?,
                    orders: count(orders)?,
                    value: from_scaled(value, MONEY_SCALE),
                })
            })
            .collect()
    }

    async fn open_orders(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<OpenOrders>, RepoError> {
        let open = OrderStatus::ALL
            .into_iter()
            .filter(|s| {
                !matches!(
                    s,
                    OrderStatus::Delivered | OrderStatus::Completed | OrderStatus::Cancelled
                )
            })
            .map(OrderStatus::as_str);
        let rows: Vec<(String, String, i64, i64)> = order::Entity::find()
            .select_only()
            .column(order::Column::Status)
            .column(order::Column::Currency)
            .column_as(Expr::cust("COUNT(*)"), "orders")
            .column_as(Expr::cust("CAST(SUM(total_e4) AS BIGINT)"), "value")
            .filter(filter_condition(scope, filter))
            .filter(order::Column::Status.is_in(open))
            .group_by(order::Column::Status)
            .group_by(order::Column::Currency)
            .order_by_asc(order::Column::Currency)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        let mut open: Vec<OpenOrders> = rows
            .into_iter()
            .map(|(status, code, orders, value)| {
                Ok(OpenOrders {
                    status: OrderStatus::parse(&status).map_err(|e| corrupt("status", e))?,
                    currency: currency(&code)?,
                    orders: count(orders)?,
                    value: from_scaled(value, MONEY_SCALE),
                })
            })
            .collect::<Result<_, RepoError>>()?;
        // Lifecycle order, which the status text does not sort into.
        open.sort_by(|a, b| {
            a.status
                .cmp(&b.status)
                .then(a.currency.as_str().cmp(b.currency.as_str()))
        });
        Ok(open)
    }

    async fn conversion(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<ConversionCounts, RepoError> {
        let row: Option<(i64, i64)> = order::Entity::find()
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "submitted")
            .column_as(Expr::cust("COUNT(confirmed_at)"), "confirmed")
            .filter(order_condition(scope, filter, order::Column::SubmittedAt))
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(storage)?;
        let (submitted, confirmed) = row.unwrap_or_default();
        Ok(ConversionCounts {
            submitted: count(submitted)?,
            confirmed: count(confirmed)?,
        })
    }

    async fn review_findings(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<Vec<Finding>>, RepoError> {
        let rows: Vec<String> = order::Entity::find()
            .select_only()
            .column(order::Column::Findings)
            .filter(order_condition(scope, filter, order::Column::SubmittedAt))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|text| serde_json::from_str(text).map_err(|e| corrupt("findings", e)))
            .collect()
    }

    async fn stage_durations(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
        stage: Stage,
    ) -> Result<Vec<i64>, RepoError> {
        let (start, end) = match stage {
            Stage::SubmittedToConfirmed => (order::Column::SubmittedAt, order::Column::ConfirmedAt),
            Stage::ConfirmedToShipped => (order::Column::ConfirmedAt, order::Column::ShippedAt),
            Stage::ShippedToDelivered => (order::Column::ShippedAt, order::Column::DeliveredAt),
            Stage::DeliveredToPaid => (order::Column::DeliveredAt, order::Column::PaidAt),
        };
        order::Entity::find()
            .select_only()
            .column_as(Expr::col(end).sub(Expr::col(start)), "duration")
            .filter(order_condition(scope, filter, end))
            .filter(start.is_not_null())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)
    }

    async fn deliveries_by_promise(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<DeliveriesByPromise>, RepoError> {
        let day_expr = Expr::cust(format!("delivered_at / {MICROS_PER_DAY}"));
        let rows: Vec<(i64, chrono::NaiveDate, i64)> = order::Entity::find()
            .select_only()
            .column_as(day_expr.clone(), "day")
            .column(order::Column::PromisedDate)
            .column_as(Expr::cust("COUNT(*)"), "orders")
            .filter(order_condition(scope, filter, order::Column::DeliveredAt))
            .filter(order::Column::PromisedDate.is_not_null())
            .group_by(day_expr.clone())
            .group_by(order::Column::PromisedDate)
            .order_by_asc(day_expr)
            .order_by_asc(order::Column::PromisedDate)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|(bucket, promised, orders)| {
                Ok(DeliveriesByPromise {
                    delivered_on: day(bucket)?,
                    promised,
                    orders: count(orders)?,
                })
            })
            .collect()
    }

    async fn exception_groups(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<ExceptionGroup>, RepoError> {
        let rows: Vec<(String, Option<String>, String, i64, i64, i64)> =
            order_exception::Entity::find()
                .select_only()
                .column(order_exception::Column::Kind)
                .column(order_exception::Column::RootCause)
                .column(order_exception::Column::Currency)
                .column_as(Expr::cust("COUNT(*)"), "exceptions")
                .column_as(Expr::cust("CAST(SUM(cost_impact_e4) AS BIGINT)"), "cost")
                .column_as(Expr::cust("CAST(SUM(delay_days) AS BIGINT)"), "delay")
                .filter(exception_condition(scope, filter))
                .group_by(order_exception::Column::Kind)
                .group_by(order_exception::Column::RootCause)
                .group_by(order_exception::Column::Currency)
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(storage)?;
        rows.into_iter()
            .map(|(kind, root_cause, code, exceptions, cost, delay)| {
                Ok(ExceptionGroup {
                    kind: ExceptionKind::parse(&kind).map_err(|e| corrupt("exception kind", e))?,
                    root_cause,
                    currency: currency(&code)?,
                    exceptions: count(exceptions)?,
                    cost_impact: from_scaled(cost, MONEY_SCALE),
                    delay_days: count(delay)?,
                })
            })
            .collect()
    }

    async fn exception_lessons(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<Lesson>, RepoError> {
        let rows: Vec<(String, Option<String>, String)> = order_exception::Entity::find()
            .select_only()
            .column(order_exception::Column::Kind)
            .column(order_exception::Column::RootCause)
            .column(order_exception::Column::LessonsLearned)
            .filter(exception_condition(scope, filter))
            .filter(order_exception::Column::Status.eq(ExceptionStatus::Resolved.as_str()))
            .filter(order_exception::Column::LessonsLearned.is_not_null())
            .order_by_desc(order_exception::Column::ResolvedAt)
            .order_by_desc(order_exception::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|(kind, root_cause, lessons_learned)| {
                Ok(Lesson {
                    kind: ExceptionKind::parse(&kind).map_err(|e| corrupt("exception kind", e))?,
                    root_cause,
                    lessons_learned,
                })
            })
            .collect()
    }

    async fn top_customers(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
        limit: u32,
    ) -> Result<Vec<Ranked<CustomerId>>, RepoError> {
        let condition = order_condition(scope, filter, order::Column::CreatedAt);
        let mut ranked = Vec::new();
        // One query per currency: a top list across currencies would compare unlike amounts.
        for code in self.currencies(condition.clone()).await? {
            let rows: Vec<(i64, i64, i64)> = order::Entity::find()
                .select_only()
                .column(order::Column::CustomerId)
                .column_as(Expr::cust("COUNT(*)"), "orders")
                .column_as(Expr::cust("CAST(SUM(total_e4) AS BIGINT)"), "value")
                .filter(condition.clone())
                .filter(order::Column::Currency.eq(code.as_str()))
                .group_by(order::Column::CustomerId)
                .order_by_desc(Expr::cust("CAST(SUM(total_e4) AS BIGINT)"))
                .order_by_asc(order::Column::CustomerId)
                .limit(u64::from(limit))
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(storage)?;
            let currency = currency(&code)?;
            for (customer, orders, value) in rows {
                ranked.push(Ranked {
                    key: CustomerId(customer),
                    currency,
                    orders: count(orders)?,
                    value: from_scaled(value, MONEY_SCALE),
                });
            }
        }
        Ok(ranked)
    }

    async fn top_products(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
        limit: u32,
    ) -> Result<Vec<Ranked<ProductId>>, RepoError> {
        let condition = order_condition(scope, filter, order::Column::CreatedAt);
        let line_value = "CAST(SUM(order_lines.total_e4) AS BIGINT)";
        let mut ranked = Vec::new();
        for code in self.currencies(condition.clone()).await? {
            let rows: Vec<(i64, i64, i64)> = order_line::Entity::find()
                .select_only()
                .column(order_line::Column::ProductId)
                .column_as(Expr::cust("COUNT(DISTINCT order_lines.order_id)"), "orders")
                .column_as(Expr::cust(line_value), "value")
                .join(
                    sea_orm::JoinType::InnerJoin,
                    order_line::Entity::belongs_to(order::Entity)
                        .from(order_line::Column::OrderId)
                        .to(order::Column::Id)
                        .into(),
                )
                .filter(condition.clone())
                .filter(order::Column::Currency.eq(code.as_str()))
                .group_by(order_line::Column::ProductId)
                .order_by_desc(Expr::cust(line_value))
                .order_by_asc(order_line::Column::ProductId)
                .limit(u64::from(limit))
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(storage)?;
            let currency = currency(&code)?;
            for (product, orders, value) in rows {
                ranked.push(Ranked {
                    key: ProductId(product),
                    currency,
                    orders: count(orders)?,
                    value: from_scaled(value, MONEY_SCALE),
                });
            }
        }
        Ok(ranked)
    }
}
