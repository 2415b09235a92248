//! Aggregates for the analytics KPIs, grouped in SQL so a request never reads whole orders.
//!
//! Sums are cast to BIGINT: `SUM(bigint)` is NUMERIC on PostgreSQL but INTEGER on SQLite.

use chrono::{DateTime, NaiveDate};
use domain::lifecycle::OrderStatus;
use domain::money::Currency;
use domain::ports::{
    AnalyticsFilter, AnalyticsRepository, ConversionCounts, CustomerActivity, DailySales,
    DeliveryCounts, DueInvoices, ExceptionGroup, Lesson, OpenOrders, OpenReceivable,
    OrderMilestones, QualityCounts, Ranked, RepAmount, RepoError, SettlementRecord, Stage,
};
use domain::receivables::AgingBucket;
use domain::review::Finding;
use domain::tracking::{ExceptionKind, ExceptionStatus};
use domain::user::Scope;
use domain::{CustomerId, OrderId, ProductId, UserId};
use sea_orm::sea_query::{Alias, Expr, Query, UnionType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IdenStatic, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};

use super::catalog::scope_condition;
use super::corrupt;
use crate::codec::{MONEY_SCALE, from_micros, from_scaled, to_micros};
use crate::entity::{invoice, order, order_exception, order_line, payment};
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
    use order::Column as O;
    owned_condition(
        scope,
        filter,
        [O::SalesRepId, O::CustomerId, O::Currency, O::Id],
    )
}

/// Rows that carry their own owners (exceptions, invoices: the order's rep, customer and
/// currency when they were made), visible in `scope` and matching the filter's narrowing on
/// those columns; the product filter goes through `order_id` to the order's lines. Not the
/// period: each caller ranges over its own instant.
fn owned_condition<C: ColumnTrait>(
    scope: Scope,
    filter: &AnalyticsFilter,
    [rep, customer, currency, order_id]: [C; 4],
) -> Condition {
    let mut condition = Condition::all().add(scope_condition(scope, rep, customer));
    if let Some(id) = filter.sales_rep_id {
        condition = condition.add(rep.eq(id.0));
    }
    if let Some(manager) = filter.team_of {
        condition = condition.add(scope_condition(Scope::Team(manager), rep, customer));
    }
    if let Some(id) = filter.customer_id {
        condition = condition.add(customer.eq(id.0));
    }
    if let Some(code) = filter.currency {
        condition = condition.add(currency.eq(code.as_str()));
    }
    if let Some(product) = filter.product_id {
        condition = condition.add(
            order_id.in_subquery(
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
/// matching the filter.
fn exception_condition(scope: Scope, filter: &AnalyticsFilter) -> Condition {
    use order_exception::Column as E;
    owned_condition(
        scope,
        filter,
        [E::SalesRepId, E::CustomerId, E::Currency, E::OrderId],
    )
    .add(E::RaisedAt.gte(to_micros(filter.from)))
    .add(E::RaisedAt.lt(to_micros(filter.to)))
}

/// Valid (not voided) invoices visible in `scope` and matching the filter, any date.
fn invoice_condition(scope: Scope, filter: &AnalyticsFilter) -> Condition {
    use invoice::Column as I;
    owned_condition(
        scope,
        filter,
        [I::SalesRepId, I::CustomerId, I::Currency, I::OrderId],
    )
    .add(I::VoidReason.is_null())
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

/// Rows of (rep, currency, count, scaled amount).
fn rep_amounts(rows: Vec<(i64, String, i64, i64)>) -> Result<Vec<RepAmount>, RepoError> {
    rows.into_iter()
        .map(|(rep, code, n, amount)| {
            Ok(RepAmount {
                sales_rep_id: UserId(rep),
                currency: currency(&code)?,
                count: count(n)?,
                amount: from_scaled(amount, MONEY_SCALE),
            })
        })
        .collect()
}

impl Store {
    /// The rows of a query built with sea-query (a derived table or a UNION, which sea-orm's
    /// `Select` cannot express), each as a tuple.
    async fn tuples<T: sea_orm::TryGetableMany>(
        &self,
        query: &sea_orm::sea_query::SelectStatement,
    ) -> Result<Vec<T>, RepoError> {
        self.db
            .query_all(query)
            .await
            .map_err(storage)?
            .into_iter()
            .map(|row| row.try_get_many_by_index())
            .collect::<Result<_, _>>()
            .map_err(storage)
    }

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
        // One row holding every list, joined into a JSON array of lists: a month at scale is
        // tens of thousands of orders with findings, and each row crosses sqlx's worker-thread
        // channel on its own.
        let lists = match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "string_agg(findings, ',')",
            _ => "group_concat(findings, ',')",
        };
        let row: Option<Option<String>> = order::Entity::find()
            .select_only()
            .column_as(Expr::cust(lists), "findings")
            .filter(order_condition(scope, filter, order::Column::SubmittedAt))
            // Most orders pass review clean: their empty lists need not travel or parse.
            .filter(order::Column::Findings.ne("[]"))
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(storage)?;
        match row.flatten() {
            Some(lists) => {
                serde_json::from_str(&format!("[{lists}]")).map_err(|e| corrupt("findings", e))
            }
            None => Ok(Vec::new()),
        }
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
        // One row with every duration as text instead of a row per order: a month of orders at
        // scale is tens of thousands of rows, and each row crosses sqlx's worker-thread channel
        // on its own; parsing the list costs a fraction of that.
        let (from, to) = (start.as_str(), end.as_str());
        let list = match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => format!("string_agg(CAST({to} - {from} AS TEXT), ',')"),
            _ => format!("group_concat({to} - {from}, ',')"),
        };
        let row: Option<Option<String>> = order::Entity::find()
            .select_only()
            .column_as(Expr::cust(list), "durations")
            .filter(order_condition(scope, filter, end))
            .filter(start.is_not_null())
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.flatten()
            .unwrap_or_default()
            .split(',')
            .filter(|part| !part.is_empty())
            .map(|part| part.parse::<i64>().map_err(|e| corrupt("duration", e)))
            .collect()
    }

    async fn deliveries(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<DeliveryCounts>, RepoError> {
        // The UTC day of the delivery instant against the promised date, in each dialect.
        let delivered_on = match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "CAST(to_timestamp(delivered_at / 1000000.0) AT TIME ZONE 'UTC' AS DATE)"
            }
            _ => "date(delivered_at / 1000000, 'unixepoch')",
        };
        let rows: Vec<(i64, i64, i64)> = order::Entity::find()
            .select_only()
            .column(order::Column::SalesRepId)
            .column_as(Expr::cust("COUNT(*)"), "delivered")
            .column_as(
                Expr::cust(format!(
                    "CAST(SUM(CASE WHEN {delivered_on} <= promised_date THEN 1 ELSE 0 END) AS BIGINT)"
                )),
                "on_time",
            )
            .filter(order_condition(scope, filter, order::Column::DeliveredAt))
            .filter(order::Column::PromisedDate.is_not_null())
            .group_by(order::Column::SalesRepId)
            .order_by_asc(order::Column::SalesRepId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|(rep, delivered, on_time)| {
                Ok(DeliveryCounts {
                    sales_rep_id: UserId(rep),
                    delivered: count(delivered)?,
                    on_time: count(on_time)?,
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

    async fn sales_by_rep(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<RepAmount>, RepoError> {
        let rows: Vec<(i64, String, i64, i64)> = order::Entity::find()
            .select_only()
            .column(order::Column::SalesRepId)
            .column(order::Column::Currency)
            .column_as(Expr::cust("COUNT(*)"), "orders")
            .column_as(Expr::cust("CAST(SUM(total_e4) AS BIGINT)"), "value")
            .filter(order_condition(scope, filter, order::Column::CreatedAt))
            .group_by(order::Column::SalesRepId)
            .group_by(order::Column::Currency)
            .order_by_asc(order::Column::SalesRepId)
            .order_by_asc(order::Column::Currency)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rep_amounts(rows)
    }

    async fn quality_counts(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<QualityCounts>, RepoError> {
        // Correlated counts through the order_id indexes: a period's orders each look up their
        // own few rows instead of joining whole tables. Counted once per order in the inner
        // query; the outer one only adds up.
        let per_order =
            |table: &str| format!("(SELECT COUNT(*) FROM {table} t WHERE t.order_id = orders.id)");
        let inner = order::Entity::find()
            .select_only()
            .column(order::Column::SalesRepId)
            .column_as(Expr::cust(per_order("change_requests")), "changes")
            .column_as(Expr::cust(per_order("order_exceptions")), "exceptions")
            .filter(order_condition(scope, filter, order::Column::CreatedAt))
            .into_query();
        let mut outer = Query::select();
        outer
            .column(order::Column::SalesRepId)
            .expr(Expr::cust("COUNT(*)"))
            .expr(Expr::cust(
                "CAST(SUM(CASE WHEN changes > 0 THEN 1 ELSE 0 END) AS BIGINT)",
            ))
            .expr(Expr::cust("CAST(SUM(changes) AS BIGINT)"))
            .expr(Expr::cust(
                "CAST(SUM(CASE WHEN exceptions > 0 THEN 1 ELSE 0 END) AS BIGINT)",
            ))
            .expr(Expr::cust("CAST(SUM(exceptions) AS BIGINT)"))
            .from_subquery(inner, Alias::new("per_order"))
            .group_by_col(order::Column::SalesRepId)
            .order_by(order::Column::SalesRepId, sea_orm::Order::Asc);
        let rows: Vec<(i64, i64, i64, i64, i64, i64)> = self.tuples(&outer).await?;
        rows.into_iter()
            .map(
                |(rep, orders, with_changes, changes, with_exceptions, exceptions)| {
                    Ok(QualityCounts {
                        sales_rep_id: UserId(rep),
                        orders: count(orders)?,
                        orders_with_change_requests: count(with_changes)?,
                        change_requests: count(changes)?,
                        orders_with_exceptions: count(with_exceptions)?,
                        exceptions: count(exceptions)?,
                    })
                },
            )
            .collect()
    }

    async fn invoiced(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<RepAmount>, RepoError> {
        let (first, last) = filter.days();
        let rows: Vec<(i64, String, i64, i64)> = invoice::Entity::find()
            .select_only()
            .column(invoice::Column::SalesRepId)
            .column(invoice::Column::Currency)
            .column_as(Expr::cust("COUNT(*)"), "invoices")
            .column_as(Expr::cust("CAST(SUM(amount_e4) AS BIGINT)"), "amount")
            .filter(invoice_condition(scope, filter))
            .filter(invoice::Column::IssuedOn.between(first, last))
            .group_by(invoice::Column::SalesRepId)
            .group_by(invoice::Column::Currency)
            .order_by_asc(invoice::Column::SalesRepId)
            .order_by_asc(invoice::Column::Currency)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rep_amounts(rows)
    }

    async fn collected(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<RepAmount>, RepoError> {
        // Payments carry their invoice's owners, and only an invoice without payments can be
        // voided: the covering index on `received_at` answers alone.
        use payment::Column as P;
        let rows: Vec<(i64, String, i64, i64)> = payment::Entity::find()
            .select_only()
            .column(P::SalesRepId)
            .column(P::Currency)
            .column_as(Expr::cust("COUNT(*)"), "payments")
            .column_as(Expr::cust("CAST(SUM(amount_e4) AS BIGINT)"), "amount")
            .filter(owned_condition(
                scope,
                filter,
                [P::SalesRepId, P::CustomerId, P::Currency, P::OrderId],
            ))
            .filter(P::ReceivedAt.gte(to_micros(filter.from)))
            .filter(P::ReceivedAt.lt(to_micros(filter.to)))
            .group_by(P::SalesRepId)
            .group_by(P::Currency)
            .order_by_asc(P::SalesRepId)
            .order_by_asc(P::Currency)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rep_amounts(rows)
    }

    async fn open_receivables(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<OpenReceivable>, RepoError> {
        use invoice::Column as I;
        let (_, last) = filter.days();
        // Owed at the period's end: issued by then and not fully paid by then. The settlement
        // day decides (`fully_paid_on` is the day of the payment that completed it), so every
        // such invoice still has money owed. Never settled, or settled after the end: two
        // ranges of the covering index on `fully_paid_on` (a ledger's settled past is most of
        // it), joined by UNION ALL: written as an OR, SQLite scans another index instead.
        let owed_part = |settled: Condition| {
            Query::select()
                .columns([I::SalesRepId, I::Currency, I::DueOn, I::AmountE4, I::PaidE4])
                .from(invoice::Entity)
                .cond_where(
                    invoice_condition(scope, filter)
                        .add(I::IssuedOn.lte(last))
                        .add(settled),
                )
                .take()
        };
        let owed_at_end = || {
            invoice_condition(scope, filter)
                .add(I::IssuedOn.lte(last))
                .add(
                    Condition::any()
                        .add(I::FullyPaidOn.is_null())
                        .add(I::FullyPaidOn.gt(last)),
                )
        };
        // Aged in SQL, by comparing due dates with each bucket's earliest one (literals, so the
        // grouped expression is the selected one on PostgreSQL too): a handful of rows per rep
        // instead of one per due date.
        let mut bucket = String::from("CASE");
        for b in AgingBucket::ALL {
            if let Some(from) = b.due_from(last) {
                bucket.push_str(&format!(" WHEN due_on >= '{from}' THEN '{}'", b.as_str()));
            }
        }
        bucket.push_str(&format!(" ELSE '{}' END", AgingBucket::Over90.as_str()));
        // What is owed now (amount less everything paid), then the payments received since the
        // period ended added back: those are few for a recent period, unlike the payments of
        // every open invoice before it.
        let mut unsettled = owed_part(Condition::all().add(I::FullyPaidOn.is_null()));
        unsettled.union(
            UnionType::All,
            owed_part(Condition::all().add(I::FullyPaidOn.gt(last))),
        );
        let owed_now = Query::select()
            .column(I::SalesRepId)
            .column(I::Currency)
            .expr(Expr::cust(bucket.clone()))
            .expr(Expr::cust("COUNT(*)"))
            .expr(Expr::cust("CAST(SUM(amount_e4 - paid_e4) AS BIGINT)"))
            .from_subquery(unsettled, Alias::new("unsettled"))
            .group_by_col(I::SalesRepId)
            .group_by_col(I::Currency)
            .add_group_by([Expr::cust(bucket.clone())])
            .take();
        let owed_now: Vec<(i64, String, String, i64, i64)> = self.tuples(&owed_now).await?;
        let paid_since: Vec<(i64, String, String, i64)> = payment::Entity::find()
            .select_only()
            .column(I::SalesRepId)
            .column(I::Currency)
            .column_as(Expr::cust(bucket.clone()), "bucket")
            .column_as(
                Expr::cust("CAST(SUM(payments.amount_e4) AS BIGINT)"),
                "paid",
            )
            .join(
                sea_orm::JoinType::InnerJoin,
                payment::Entity::belongs_to(invoice::Entity)
                    .from(payment::Column::InvoiceId)
                    .to(I::Id)
                    .into(),
            )
            .filter(payment::Column::ReceivedAt.gte(to_micros(filter.to)))
            .filter(owed_at_end())
            .group_by(I::SalesRepId)
            .group_by(I::Currency)
            .group_by(Expr::cust(bucket))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        let mut rows = owed_now
            .into_iter()
            .map(|(rep, code, bucket, invoices, owed)| {
                let since: i64 = paid_since
                    .iter()
                    .filter(|(r, c, b, _)| *r == rep && *c == code && *b == bucket)
                    .map(|(_, _, _, paid)| paid)
                    .sum();
                Ok(OpenReceivable {
                    sales_rep_id: UserId(rep),
                    currency: currency(&code)?,
                    bucket: AgingBucket::parse(&bucket).map_err(|e| corrupt("bucket", e))?,
                    invoices: count(invoices)?,
                    outstanding: from_scaled(owed + since, MONEY_SCALE),
                })
            })
            .collect::<Result<Vec<_>, RepoError>>()?;
        rows.sort_by(|a, b| {
            (a.sales_rep_id, a.currency.as_str(), a.bucket).cmp(&(
                b.sales_rep_id,
                b.currency.as_str(),
                b.bucket,
            ))
        });
        Ok(rows)
    }

    async fn settlements(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<SettlementRecord>, RepoError> {
        let (first, last) = filter.days();
        let late = match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "(fully_paid_on - due_on)",
            _ => "CAST(julianday(fully_paid_on) - julianday(due_on) AS BIGINT)",
        };
        let rows: Vec<(i64, i64, i64, i64, i64)> = invoice::Entity::find()
            .select_only()
            .column(invoice::Column::SalesRepId)
            .column(invoice::Column::CustomerId)
            .column_as(Expr::cust("COUNT(*)"), "invoices")
            .column_as(
                Expr::cust(
                    "CAST(SUM(CASE WHEN fully_paid_on <= due_on THEN 1 ELSE 0 END) AS BIGINT)",
                ),
                "on_time",
            )
            .column_as(
                Expr::cust(format!(
                    "CAST(SUM(CASE WHEN {late} > 0 THEN {late} ELSE 0 END) AS BIGINT)"
                )),
                "days_late",
            )
            .filter(invoice_condition(scope, filter))
            .filter(invoice::Column::FullyPaidOn.between(first, last))
            .group_by(invoice::Column::SalesRepId)
            .group_by(invoice::Column::CustomerId)
            .order_by_asc(invoice::Column::SalesRepId)
            .order_by_asc(invoice::Column::CustomerId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|(rep, customer, invoices, on_time, days_late)| {
                Ok(SettlementRecord {
                    sales_rep_id: UserId(rep),
                    customer_id: CustomerId(customer),
                    invoices: count(invoices)?,
                    on_time: count(on_time)?,
                    days_late: count(days_late)?,
                })
            })
            .collect()
    }

    async fn due_invoices(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<DueInvoices>, RepoError> {
        let (first, last) = filter.days();
        let rows: Vec<(i64, i64, i64)> = invoice::Entity::find()
            .select_only()
            .column(invoice::Column::SalesRepId)
            .column_as(Expr::cust("COUNT(*)"), "due")
            .column_as(
                Expr::cust(format!(
                    "CAST(SUM(CASE WHEN fully_paid_on <= '{last}' THEN 1 ELSE 0 END) AS BIGINT)"
                )),
                "collected",
            )
            .filter(invoice_condition(scope, filter))
            .filter(invoice::Column::DueOn.between(first, last))
            .group_by(invoice::Column::SalesRepId)
            .order_by_asc(invoice::Column::SalesRepId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|(rep, due, collected)| {
                Ok(DueInvoices {
                    sales_rep_id: UserId(rep),
                    due: count(due)?,
                    collected: count(collected)?,
                })
            })
            .collect()
    }

    async fn customer_activity(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<CustomerActivity>, RepoError> {
        let rows: Vec<(i64, String, i64, i64, i64, i64)> = order::Entity::find()
            .select_only()
            .column(order::Column::CustomerId)
            .column(order::Column::Currency)
            .column_as(Expr::cust("COUNT(*)"), "orders")
            .column_as(Expr::cust("CAST(SUM(total_e4) AS BIGINT)"), "value")
            .column_as(Expr::cust("MIN(created_at)"), "first_at")
            .column_as(Expr::cust("MAX(created_at)"), "last_at")
            .filter(order_condition(scope, filter, order::Column::CreatedAt))
            .group_by(order::Column::CustomerId)
            .group_by(order::Column::Currency)
            .order_by_asc(order::Column::CustomerId)
            .order_by_asc(order::Column::Currency)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|(customer, code, orders, value, first, last)| {
                Ok(CustomerActivity {
                    customer_id: CustomerId(customer),
                    currency: currency(&code)?,
                    orders: count(orders)?,
                    value: from_scaled(value, MONEY_SCALE),
                    first_order_at: from_micros(first)?,
                    last_order_at: from_micros(last)?,
                })
            })
            .collect()
    }
}
