//! Orders, their lines, and idempotent creation.

use std::collections::HashMap;
use std::sync::OnceLock;

use domain::catalog::PaymentTerms;
use domain::event::{OrderEventKind, StoredEvent};
use domain::lifecycle::{OrderStatus, PaymentStatus};
use domain::money::Currency;
use domain::order::{
    DiscountPercent, NewOrder, Order, OrderContent, OrderLine, OrderSummary, Quantity,
    creation_events,
};
use domain::ports::{
    Created, CreditExposure, IdempotencyClaim, OrderChange, OrderFilter, OrderRepository,
    OrderWithParties, Page, PageRequest, RepoError,
};
use domain::user::Scope;
use domain::{CustomerId, OrderId, ProductId, UserId};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Query, SelectStatement, SqliteQueryBuilder, UnionType, Value, Values,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    FromQueryResult, IdenStatic, Iterable, NotSet, QueryFilter, QueryOrder, QueryResult,
    QuerySelect, QueryTrait, Select, Set,
};

use super::catalog::scope_condition;
use super::rows::{
    ModelColumns, customer_columns, order_columns, order_model_columns, user_columns,
};
use super::{corrupt, events, fetch_limit, idempotency, into_page, search_condition, search_key};
use crate::codec::{
    MONEY_SCALE, PERCENT_SCALE, QUANTITY_SCALE, from_micros, from_scaled, to_micros, to_scaled,
};
use crate::entity::{customer, invoice, order, order_exception, order_line, payment, user};
use crate::store::{Store, WriteTxn, storage};

const CREATE_ORDER: &str = "createOrder";

fn status(text: &str) -> Result<OrderStatus, RepoError> {
    OrderStatus::parse(text).map_err(|e| corrupt("order status", e))
}

/// One stored line as the order query returns it (see [`LINES`]): line number, product,
/// SKU, description, and the scaled quantity, unit price and discount.
type StoredLine = (i64, i64, String, String, i64, i64, i64);

fn to_order(row: order::Model, lines: &str) -> Result<Order, RepoError> {
    let mut lines: Vec<StoredLine> =
        serde_json::from_str(lines).map_err(|e| corrupt("lines", e))?;
    // The statement does not promise the order (see `LINES`).
    lines.sort_by_key(|line| line.0);
    let lines = lines
        .into_iter()
        .map(
            |(line_no, product_id, sku, description, quantity, price, discount)| {
                Ok(OrderLine {
                    line_no: u32::try_from(line_no).map_err(|e| corrupt("line no", e))?,
                    product_id: ProductId(product_id),
                    sku,
                    description,
                    quantity: Quantity::new(from_scaled(quantity, QUANTITY_SCALE))
                        .map_err(|e| corrupt("quantity", e))?,
                    unit_price: from_scaled(price, MONEY_SCALE),
                    discount: DiscountPercent::new(from_scaled(discount, PERCENT_SCALE))
                        .map_err(|e| corrupt("discount", e))?,
                })
            },
        )
        .collect::<Result<Vec<_>, RepoError>>()?;
    let mut order = order_without_lines(row)?;
    order.content.lines = lines;
    Ok(order)
}

/// The order of `row` with no lines: the lines are the caller's to read, or to skip (a summary).
fn order_without_lines(row: order::Model) -> Result<Order, RepoError> {
    Ok(Order {
        id: OrderId(row.id),
        number: row.number,
        customer_id: CustomerId(row.customer_id),
        sales_rep_id: UserId(row.sales_rep_id),
        currency: Currency::parse(&row.currency).map_err(|e| corrupt("currency", e))?,
        status: status(&row.status)?,
        held_from: row.held_from.as_deref().map(status).transpose()?,
        payment_status: PaymentStatus::parse(&row.payment_status)
            .map_err(|e| corrupt("payment status", e))?,
        content: OrderContent {
            lines: Vec::new(),
            requested_date: row.requested_date,
            delivery_address: row.delivery_address,
            payment_terms: PaymentTerms::parse(&row.payment_terms)
                .map_err(|e| corrupt("payment terms", e))?,
            customer_po: row.customer_po,
            notes: row.notes,
        },
        confirmation: row
            .confirmation
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| corrupt("confirmation", e))?,
        findings: serde_json::from_str(&row.findings).map_err(|e| corrupt("findings", e))?,
        cancel_reason: row.cancel_reason,
        expected_date: row.expected_date,
        version: row.version,
        revision: row.revision,
        created_at: from_micros(row.created_at)?,
        updated_at: from_micros(row.updated_at)?,
    })
}

/// The columns an accepted command may change (identity and creation stay as they are).
fn mutable_columns(order: &Order) -> Result<order::ActiveModel, RepoError> {
    Ok(order::ActiveModel {
        sales_rep_id: Set(order.sales_rep_id.0),
        status: Set(order.status.as_str().to_owned()),
        held_from: Set(order.held_from.map(|s| s.as_str().to_owned())),
        payment_status: Set(order.payment_status.as_str().to_owned()),
        requested_date: Set(order.content.requested_date),
        promised_date: Set(order.confirmation.as_ref().and_then(|c| c.promised_date)),
        delivery_address: Set(order.content.delivery_address.clone()),
        payment_terms: Set(order.content.payment_terms.to_string()),
        customer_po: Set(order.content.customer_po.clone()),
        notes: Set(order.content.notes.clone()),
        confirmation: Set(order
            .confirmation
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| corrupt("confirmation", e))?),
        findings: Set(serde_json::to_string(&order.findings).map_err(|e| corrupt("findings", e))?),
        cancel_reason: Set(order.cancel_reason.clone()),
        expected_date: Set(order.expected_date),
        search_text: Set(search_key(&[
            Some(&order.number),
            order.content.customer_po.as_deref(),
        ])),
        total_e4: Set(to_scaled(order.total(), MONEY_SCALE)?),
        version: Set(order.version),
        revision: Set(order.revision),
        updated_at: Set(to_micros(order.updated_at)),
        ..Default::default()
    })
}

/// Which of an order row's indexed columns an update may have changed. SQLite rewrites every
/// index entry holding a column the UPDATE assigns, changed or not, and most indexes carry the
/// rep and the total (the analytics covering indexes): assigning them on every transition made
/// `transitionOrder` 13 % slower. Only reassignments change the rep, only new lines the total.
#[derive(Clone, Copy, Debug)]
pub(super) struct Touched {
    /// The order was reassigned.
    pub rep: bool,
    /// The lines (and so the total) were rewritten.
    pub lines: bool,
}

/// Writes an order's mutable columns (of the rep and the total, only the `touched` ones) if its
/// stored version is still `expected_version`. On a mismatch the transaction is rolled back and
/// the error tells "stale" (`Conflict`) from "gone".
pub(super) async fn update_order_row(
    txn: &WriteTxn,
    order: &Order,
    expected_version: i64,
    touched: Touched,
) -> Result<(), RepoError> {
    let mut row = mutable_columns(order)?;
    if !touched.rep {
        row.sales_rep_id = NotSet;
    }
    if !touched.lines {
        row.total_e4 = NotSet;
    }
    let result = order::Entity::update_many()
        .set(row)
        .filter(order::Column::Id.eq(order.id.0))
        .filter(order::Column::Version.eq(expected_version))
        .exec(txn)
        .await
        .map_err(storage)?;
    if result.rows_affected == 0 {
        let actual: Option<i64> = order::Entity::find_by_id(order.id.0)
            .select_only()
            .column(order::Column::Version)
            .into_tuple()
            .one(txn)
            .await
            .map_err(storage)?;
        return Err(match actual {
            Some(actual) => RepoError::Conflict {
                expected: expected_version,
                actual,
            },
            None => RepoError::NotFound {
                entity: "order",
                id: order.id.0,
            },
        });
    }
    Ok(())
}

/// Moves the rows of `order` in `E` (which carry the rep they count under) to its rep.
async fn follow_rep<E: EntityTrait>(
    txn: &WriteTxn,
    order: &Order,
    rep: E::Column,
    order_id: E::Column,
) -> Result<(), RepoError> {
    E::update_many()
        .col_expr(rep, sea_orm::sea_query::Expr::value(order.sales_rep_id.0))
        .filter(order_id.eq(order.id.0))
        .exec(txn)
        .await
        .map_err(storage)?;
    Ok(())
}

/// The full row of a new order (its id too when it already has one: the bulk loader assigns
/// ids itself).
pub(crate) fn new_order_row(order: &Order) -> Result<order::ActiveModel, RepoError> {
    let mut row = mutable_columns(order)?;
    if order.id.0 != 0 {
        row.id = Set(order.id.0);
    }
    row.number = Set(order.number.clone());
    row.customer_id = Set(order.customer_id.0);
    row.currency = Set(order.currency.as_str().to_owned());
    row.created_at = Set(to_micros(order.created_at));
    Ok(row)
}

/// The rows of an order's lines.
pub(crate) fn line_rows(order: &Order) -> Result<Vec<order_line::ActiveModel>, RepoError> {
    order
        .content
        .lines
        .iter()
        .map(|l| {
            Ok(order_line::ActiveModel {
                order_id: Set(order.id.0),
                line_no: Set(i32::try_from(l.line_no).map_err(|e| corrupt("line no", e))?),
                product_id: Set(l.product_id.0),
                sku: Set(l.sku.clone()),
                description: Set(l.description.clone()),
                quantity_e3: Set(to_scaled(l.quantity.get(), QUANTITY_SCALE)?),
                unit_price_e4: Set(to_scaled(l.unit_price, MONEY_SCALE)?),
                discount_bp: Set(to_scaled(l.discount.get(), PERCENT_SCALE)?),
                total_e4: Set(to_scaled(l.total(order.currency), MONEY_SCALE)?),
            })
        })
        .collect()
}

async fn insert_lines(txn: &WriteTxn, order: &Order) -> Result<(), RepoError> {
    if order.content.lines.is_empty() {
        return Ok(());
    }
    let rows = line_rows(order)?;
    order_line::Entity::insert_many(rows)
        .exec(txn)
        .await
        .map_err(storage)?;
    Ok(())
}

/// Replaces the stored lines of `order` with its current ones (a change of content).
pub(super) async fn replace_lines(txn: &WriteTxn, order: &Order) -> Result<(), RepoError> {
    order_line::Entity::delete_many()
        .filter(order_line::Column::OrderId.eq(order.id.0))
        .exec(txn)
        .await
        .map_err(storage)?;
    insert_lines(txn, order).await
}

/// An order's lines as one JSON array of [`StoredLine`]s, computed in the statement that reads
/// the order. A page of orders with their lines is then one statement and one row per order:
/// reading the lines separately cost a second statement (a round trip through the connection's
/// worker thread) and a row per line, each column copied on its own.
///
/// No `ORDER BY` in the aggregate: SQLite sorts an aggregate's input in a temporary b-tree it
/// opens and closes for every order, about 3 % of the CPU of one `order(id)`, though the lines
/// come by the primary key `(order_id, line_no)`, in line order already. [`to_order`] sorts
/// them, which costs a comparison per line when they are in order.
const LINES: &str = "(SELECT json_group_array(json_array(l.line_no, l.product_id, l.sku, \
     l.description, l.quantity_e3, l.unit_price_e4, l.discount_bp)) \
     FROM order_lines l WHERE l.order_id = orders.id)";
/// [`LINES`] on PostgreSQL, where an empty aggregate is NULL rather than `[]`.
const LINES_PG: &str = "COALESCE((SELECT json_agg(json_build_array(l.line_no, l.product_id, \
     l.sku, l.description, l.quantity_e3, l.unit_price_e4, l.discount_bp) ORDER BY l.line_no) \
     FROM order_lines l WHERE l.order_id = orders.id)::text, '[]')";

/// [`LINES`] in the dialect of `backend`.
fn lines_column(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => LINES_PG,
        _ => LINES,
    }
}

/// An order row with its lines (see [`LINES`]).
pub(super) struct OrderRow {
    pub(super) order: order::Model,
    pub(super) lines: String,
}

impl FromQueryResult for OrderRow {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            order: order::Model::from_query_result(res, pre)?,
            lines: res.try_get(pre, "lines")?,
        })
    }
}

/// Reads the orders `select` finds, each with its lines, in one statement and in its order.
pub(super) async fn orders_with_lines<C: ConnectionTrait>(
    conn: &C,
    select: Select<order::Entity>,
) -> Result<Vec<Order>, RepoError> {
    select
        .column_as(
            Expr::cust(lines_column(conn.get_database_backend())),
            "lines",
        )
        .into_model::<OrderRow>()
        .all(conn)
        .await
        .map_err(storage)?
        .into_iter()
        .map(|row| to_order(row.order, &row.lines))
        .collect()
}

impl Store {
    /// The rows `select` finds, read on the caller's thread when this store reads a SQLite file
    /// inline (see `crate::inline`), each decoded by position; `None` when it does not, or the
    /// read failed there (then the caller reads through sqlx). Only for statements bounded by
    /// a page or a batch: they run without yielding.
    pub(super) fn inline_all<T>(
        &self,
        select: &impl QueryTrait,
        decode: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Option<Vec<T>> {
        let inline = self.inline.as_ref()?;
        let statement = select.build(DbBackend::Sqlite);
        let params = match &statement.values {
            Some(values) => crate::inline::params(values)?,
            None => Vec::new(),
        };
        inline
            .all(&statement.sql, &params, decode)
            .inspect_err(|err| tracing::debug!(%err, "inline read fell back to sqlx"))
            .ok()
    }

    /// [`orders_with_lines`] for a page: inline on a SQLite file (a team's page by the SQL text
    /// of its shape, see [`Store::team_page_inline`]).
    async fn page_with_lines(&self, query: PageQuery) -> Result<Vec<Order>, RepoError> {
        let orders = |rows: Vec<OrderRow>| {
            rows.into_iter()
                .map(|row| to_order(row.order, &row.lines))
                .collect()
        };
        if let Some(rows) = self.team_page_inline(&query, PageRead::WithLines, order_from_row) {
            return orders(rows);
        }
        let select = query.into_select();
        if self.inline.is_some()
            && let Some(rows) =
                self.inline_all(&PageRead::WithLines.finish(select.clone()), order_from_row)
        {
            return orders(rows);
        }
        orders_with_lines(&self.db, select).await
    }

    /// The models `select` finds (all its entity's columns, in order): read inline on a SQLite
    /// file, each decoded by `columns`, else through sqlx. For batches by id.
    pub(super) async fn models<E: EntityTrait>(
        &self,
        select: Select<E>,
        columns: ModelColumns<E::Model>,
    ) -> Result<Vec<E::Model>, RepoError> {
        match self.inline_all(&select, |row| columns(row, &mut (0..))) {
            Some(models) => Ok(models),
            None => select.all(&self.db).await.map_err(storage),
        }
    }
}

/// Column prefixes of the parties in [`OrderRepository::order_with_parties`]'s statement.
/// Doubled underscores: `customer_id` is already a column of the order.
const REP: &str = "rep__";
const CUSTOMER: &str = "customer__";

/// An order row with its lines, sales rep and customer.
struct PartiesRow {
    order: OrderRow,
    rep: user::Model,
    customer: customer::Model,
}

impl FromQueryResult for PartiesRow {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            order: OrderRow::from_query_result(res, pre)?,
            rep: user::Model::from_query_result(res, &format!("{pre}{REP}"))?,
            customer: customer::Model::from_query_result(res, &format!("{pre}{CUSTOMER}"))?,
        })
    }
}

/// The order `id` with its lines, sales rep and customer, in one statement instead of three (the
/// order, then its rep and its customer through the loaders): on SQLite each statement through
/// sqlx is a round trip to the connection's worker thread, which costs more than the rows.
fn parties_select(backend: DbBackend, id: i64) -> Select<order::Entity> {
    let mut select =
        order::Entity::find_by_id(id).column_as(Expr::cust(lines_column(backend)), "lines");
    for column in user::Column::iter() {
        select = select.column_as(
            Expr::col((user::Entity, column)),
            format!("{REP}{}", column.as_str()),
        );
    }
    for column in customer::Column::iter() {
        select = select.column_as(
            Expr::col((customer::Entity, column)),
            format!("{CUSTOMER}{}", column.as_str()),
        );
    }
    QueryTrait::query(&mut select)
        .inner_join(
            user::Entity,
            Expr::col((user::Entity, user::Column::Id))
                .equals((order::Entity, order::Column::SalesRepId)),
        )
        .inner_join(
            customer::Entity,
            Expr::col((customer::Entity, customer::Column::Id))
                .equals((order::Entity, order::Column::CustomerId)),
        );
    select
}

/// [`parties_select`] in SQLite's dialect, with the order's id as its one parameter: the
/// statement of the inline reader. `None` if sea-query builds it otherwise (then sqlx reads).
fn parties_sql() -> Option<&'static str> {
    static SQL: OnceLock<Option<String>> = OnceLock::new();
    SQL.get_or_init(|| {
        let statement = parties_select(DbBackend::Sqlite, 0).build(DbBackend::Sqlite);
        let only_the_id = statement
            .values
            .as_ref()
            .is_some_and(|values| values.0 == [sea_orm::Value::BigInt(Some(0))]);
        only_the_id.then_some(statement.sql)
    })
    .as_deref()
}

/// A row of [`orders_with_lines`]' statement, read by position.
fn order_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OrderRow> {
    order_columns(row, &mut (0..))
}

/// A row of [`parties_sql`], read by position.
fn parties_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PartiesRow> {
    let mut next = 0_usize..;
    Ok(PartiesRow {
        order: order_columns(row, &mut next)?,
        rep: user_columns(row, &mut next)?,
        customer: customer_columns(row, &mut next)?,
    })
}

fn with_parties(row: PartiesRow) -> Result<OrderWithParties, RepoError> {
    Ok(OrderWithParties {
        order: to_order(row.order.order, &row.order.lines)?,
        sales_rep: row.rep.try_into()?,
        customer: row.customer.try_into()?,
    })
}

/// What a previous use of an idempotency key means for this request.
async fn replay<C: ConnectionTrait>(
    conn: &C,
    claim: &IdempotencyClaim,
) -> Result<Option<Created>, RepoError> {
    let Some(id) = idempotency::previous_result(conn, claim, CREATE_ORDER).await? else {
        return Ok(None);
    };
    let order = orders_with_lines(conn, order::Entity::find_by_id(id))
        .await?
        .pop()
        .ok_or(RepoError::NotFound {
            entity: "order",
            id,
        })?;
    Ok(Some(Created {
        order,
        events: Vec::new(),
        replayed: true,
    }))
}

impl Store {
    async fn try_create(
        &self,
        new: NewOrder,
        actor_id: UserId,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Created, RepoError> {
        // Return exactly what is stored: instants are kept to the microsecond.
        let mut new = new;
        new.created_at = from_micros(to_micros(new.created_at))?;
        let txn = self.begin_write().await?;
        if let Some(claim) = claim
            && let Some(previous) = replay(&txn, claim).await?
        {
            txn.rollback().await?;
            return Ok(previous);
        }
        let number =
            super::bulk::order_number(events::take_counter(&txn, "order_number", 1).await?);
        let mut order = new.into_draft(OrderId(0), number);
        let inserted = new_order_row(&order)?.insert(&txn).await.map_err(storage)?;
        order.id = OrderId(inserted.id);
        insert_lines(&txn, &order).await?;
        if let Some(claim) = claim {
            idempotency::record(&txn, claim, CREATE_ORDER, order.id.0).await?;
        }
        let events = creation_events(&order);
        let stored = events::append(&txn, &order, events, actor_id, order.created_at).await?;
        txn.commit().await?;
        Ok(Created {
            order,
            events: stored,
            replayed: false,
        })
    }
}

impl Store {
    /// The statement of a page of `list_orders` (and of its summaries); `None` when the scope
    /// holds no one (a manager without a team).
    async fn list_select(
        &self,
        scope: Scope,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Option<PageQuery>, RepoError> {
        let narrowing = narrowing(filter, page);
        let query = match scope {
            // A team's orders newest first: SQLite cannot merge the members' ranges of the
            // (sales_rep_id, id) index, and with a status filter it reads every order of those
            // statuses, whoever's, to find the team's (10 ms a page on 1M orders). A page of ids
            // per member, merged: bounded by the page size, not the table.
            Scope::Team(manager) => {
                let members = self.team_members(manager).await?;
                if members.is_empty() {
                    return Ok(None);
                }
                PageQuery::Team {
                    narrowing,
                    members,
                    page,
                }
            }
            _ => PageQuery::Select(Box::new(newest(
                narrowing.add(scope_condition(
                    scope,
                    order::Column::SalesRepId,
                    order::Column::CustomerId,
                )),
                page,
            ))),
        };
        Ok(Some(query))
    }

    /// A team's page read inline by the SQL text remembered for its shape. Building the merged
    /// statement with sea-query (a page per member, each with the whole filter) was a tenth of
    /// a manager's page of orders. Its text depends on the filter's shape, the number of
    /// members and `read`, never on the values: one member's page is built to learn the
    /// filter's text and values, and the other members' values are the same with their own id.
    /// A shape is remembered only when the statement built in full has exactly those values.
    /// `None`: not a team's page, not a SQLite file, or the read failed; the caller reads the
    /// usual way.
    fn team_page_inline<T>(
        &self,
        query: &PageQuery,
        read: PageRead,
        decode: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Option<Vec<T>> {
        let PageQuery::Team {
            narrowing,
            members,
            page,
        } = query
        else {
            return None;
        };
        let inline = self.inline.as_ref()?;
        let (member_sql, member_values) =
            member_page(narrowing, *members.first()?, *page).build(SqliteQueryBuilder);
        let values = team_values(&member_values, members)?;
        let shape = TeamShape {
            read,
            members: members.len(),
            member_sql,
        };
        let (sql, values) = match inline.remembered_sql(&shape) {
            Some(sql) => (sql, values),
            None => {
                let (sql, built) = read
                    .finish(query.clone().into_select())
                    .into_query()
                    .build(SqliteQueryBuilder);
                let sql: std::sync::Arc<str> = sql.into();
                if built == values {
                    inline.remember_sql(shape, sql.clone());
                } else {
                    tracing::debug!(%sql, "a team page's values are not its member's: not remembered");
                }
                (sql, built)
            }
        };
        let params = crate::inline::params(&values)?;
        inline
            .all(&sql, &params, decode)
            .inspect_err(|err| tracing::debug!(%err, "inline read fell back to sqlx"))
            .ok()
    }
}

/// The filter's conditions and the page's start, whatever the scope.
fn narrowing(filter: &OrderFilter, page: PageRequest) -> Condition {
    let mut narrowing = Condition::all();
    if !filter.statuses.is_empty() {
        narrowing =
            narrowing.add(order::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(customer) = filter.customer_id {
        narrowing = narrowing.add(order::Column::CustomerId.eq(customer.0));
    }
    if let Some(rep) = filter.sales_rep_id {
        narrowing = narrowing.add(order::Column::SalesRepId.eq(rep.0));
    }
    if let Some(from) = filter.created_from {
        narrowing = narrowing.add(order::Column::CreatedAt.gte(to_micros(from)));
    }
    if let Some(to) = filter.created_to {
        narrowing = narrowing.add(order::Column::CreatedAt.lt(to_micros(to)));
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.trim().is_empty()) {
        narrowing = narrowing.add(search_condition(order::Column::SearchText, search));
    }
    if let Some(after) = page.after {
        narrowing = narrowing.add(order::Column::Id.lt(after));
    }
    narrowing
}

/// A page of orders to read (see [`Store::list_select`]).
#[derive(Clone)]
enum PageQuery {
    /// One statement (boxed: it is several times the size of a team's ingredients).
    Select(Box<Select<order::Entity>>),
    /// A team's page: a page of ids per member (the manager's own among them), merged.
    Team {
        narrowing: Condition,
        members: Vec<i64>,
        page: PageRequest,
    },
}

impl PageQuery {
    /// The statement that reads the page's orders, newest first.
    fn into_select(self) -> Select<order::Entity> {
        let (narrowing, members, page) = match self {
            Self::Select(select) => return *select,
            Self::Team {
                narrowing,
                members,
                page,
            } => (narrowing, members, page),
        };
        if members.is_empty() {
            // `list_select` answers an empty page first; no member finds nothing.
            return order::Entity::find().filter(Expr::val(false));
        }
        let mut pages = members.iter().enumerate().map(|(i, rep)| {
            Query::select()
                .column(order::Column::Id)
                .from_subquery(
                    member_page(&narrowing, *rep, page),
                    Alias::new(format!("member{i}")),
                )
                .take()
        });
        let mut merged = pages.next().unwrap_or_default();
        for member_page in pages {
            merged.union(UnionType::All, member_page);
        }
        // The page is the newest of the members' pages. SQLite walks the ids of `IN` newest
        // first and stops at the limit; limiting the union in a subquery of its own instead
        // made it sort each member's page to merge them.
        order::Entity::find()
            .filter(order::Column::Id.in_subquery(merged))
            .order_by_desc(order::Column::Id)
            .limit(fetch_limit(page))
    }
}

/// The newest orders `condition` finds, a page of them (and one more).
fn newest(condition: Condition, page: PageRequest) -> Select<order::Entity> {
    order::Entity::find()
        .filter(condition)
        .order_by_desc(order::Column::Id)
        .limit(fetch_limit(page))
}

/// The ids of one team member's page.
fn member_page(narrowing: &Condition, rep: i64, page: PageRequest) -> SelectStatement {
    newest(
        narrowing.clone().add(order::Column::SalesRepId.eq(rep)),
        page,
    )
    .select_only()
    .column(order::Column::Id)
    .into_query()
}

/// The values of a team's merged page from those of its first member's page (`member`): each
/// member's are the same with its own id in the rep's place (the last but one, before the
/// page's limit), then the merged page's limit, which is the members' too. `None` when
/// `member` does not end that way.
fn team_values(member: &Values, members: &[i64]) -> Option<Values> {
    let [.., rep, limit] = member.0.as_slice() else {
        return None;
    };
    if Some(rep) != members.first().map(|id| Value::from(*id)).as_ref() {
        return None;
    }
    let at = member.0.len() - 2;
    let mut values = Vec::with_capacity(member.0.len() * members.len() + 1);
    for id in members {
        values.extend_from_slice(&member.0[..at]);
        values.push(Value::from(*id));
        values.push(limit.clone());
    }
    values.push(limit.clone());
    Some(Values(values))
}

/// What a page of orders reads of each: the order's headline, or the order row and its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PageRead {
    /// The columns of `orders` but the details ([`summary_stand_in`]).
    Summaries,
    /// The columns of `orders` and [`LINES`].
    WithLines,
}

impl PageRead {
    fn finish(self, select: Select<order::Entity>) -> Select<order::Entity> {
        match self {
            Self::Summaries => {
                order::Column::iter().fold(select.select_only(), |select, column| {
                    match summary_stand_in(column) {
                        Some(empty) => select.column_as(Expr::cust(empty), column.as_str()),
                        None => select.column(column),
                    }
                })
            }
            Self::WithLines => select.column_as(Expr::cust(LINES), "lines"),
        }
    }
}

/// What a summary ([`OrderSummary`]) reads in place of a detail column: the empty value of its
/// type, as SQL without parameters (a team's remembered statement text must not change its
/// values). The row decodes as an order without those details.
fn summary_stand_in(column: order::Column) -> Option<&'static str> {
    use order::Column as C;
    match column {
        C::DeliveryAddress | C::CustomerPo | C::Notes | C::Confirmation | C::CancelReason => {
            Some("NULL")
        }
        C::Findings => Some("'[]'"),
        // Read for searching only, never decoded into an order.
        C::SearchText => Some("''"),
        _ => None,
    }
}

/// What the SQL text of a team's page depends on (see [`Store::team_page_inline`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TeamShape {
    read: PageRead,
    members: usize,
    /// The first member's page, as SQL: the filter's shape.
    member_sql: String,
}

impl OrderRepository for Store {
    async fn create_order(
        &self,
        order: NewOrder,
        actor_id: UserId,
        claim: Option<IdempotencyClaim>,
    ) -> Result<Created, RepoError> {
        match self.try_create(order, actor_id, claim.as_ref()).await {
            // A concurrent request with the same key committed first (PostgreSQL lets both
            // transactions start; the key's primary key decides): answer as its retry would.
            Err(RepoError::Duplicate {
                field: "idempotencyKey",
                ..
            }) => {
                let claim = claim
                    .as_ref()
                    .ok_or_else(|| RepoError::Storage("lost idempotency claim".into()))?;
                replay(&self.db, claim)
                    .await?
                    .ok_or_else(|| RepoError::Storage("idempotency key vanished".into()))
            }
            other => other,
        }
    }

    async fn save_order(&self, change: OrderChange<'_>) -> Result<Vec<StoredEvent>, RepoError> {
        let order = change.order;
        let reassigned = change
            .events
            .iter()
            .any(|e| matches!(e, OrderEventKind::OrderReassigned { .. }));
        let txn = self.begin_write().await?;
        let touched = Touched {
            rep: reassigned,
            lines: change.lines_changed,
        };
        update_order_row(&txn, order, change.expected_version, touched).await?;
        if change.lines_changed {
            replace_lines(&txn, order).await?;
        }
        // Receivables and exceptions follow the order's rep: a reassigned order's invoices, their
        // payments and its exceptions move with it (all are scoped by the rep they carry).
        if reassigned {
            use invoice::Column as I;
            use order_exception::Column as E;
            use payment::Column as P;
            follow_rep::<invoice::Entity>(&txn, order, I::SalesRepId, I::OrderId).await?;
            follow_rep::<payment::Entity>(&txn, order, P::SalesRepId, P::OrderId).await?;
            follow_rep::<order_exception::Entity>(&txn, order, E::SalesRepId, E::OrderId).await?;
        }
        let stored = events::append(&txn, order, change.events, change.actor_id, change.at).await?;
        txn.commit().await?;
        Ok(stored)
    }

    async fn order_with_parties(&self, id: OrderId) -> Result<Option<OrderWithParties>, RepoError> {
        if let Some(inline) = &self.inline
            && let Some(sql) = parties_sql()
        {
            let key = [rusqlite::types::Value::Integer(id.0)];
            match inline.all(sql, &key, parties_from_row) {
                Ok(mut rows) => return rows.pop().map(with_parties).transpose(),
                // Busy, or a value this reader cannot decode: sqlx reads it, and says so if it
                // is really wrong.
                Err(err) => tracing::debug!(%err, "inline read of an order fell back to sqlx"),
            }
        }
        let Some(row) = parties_select(self.backend(), id.0)
            .into_model::<PartiesRow>()
            .one(&self.db)
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        with_parties(row).map(Some)
    }

    async fn orders_by_ids(&self, ids: &[OrderId]) -> Result<Vec<Order>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        orders_with_lines(
            &self.db,
            order::Entity::find().filter(order::Column::Id.is_in(ids.iter().map(|id| id.0))),
        )
        .await
    }

    async fn list_orders(
        &self,
        scope: Scope,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, RepoError> {
        let Some(query) = self.list_select(scope, filter, page).await? else {
            return Ok(Page::empty());
        };
        Ok(into_page(self.page_with_lines(query).await?, page))
    }

    async fn list_order_summaries(
        &self,
        scope: Scope,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<OrderSummary>, RepoError> {
        let Some(query) = self.list_select(scope, filter, page).await? else {
            return Ok(Page::empty());
        };
        let rows = match self.team_page_inline(&query, PageRead::Summaries, |row| {
            order_model_columns(row, &mut (0..))
        }) {
            Some(rows) => rows,
            None => {
                self.models(
                    PageRead::Summaries.finish(query.into_select()),
                    order_model_columns,
                )
                .await?
            }
        };
        let summaries = rows
            .into_iter()
            .map(|row| {
                let total = from_scaled(row.total_e4, MONEY_SCALE);
                Ok(OrderSummary {
                    order: order_without_lines(row)?,
                    total,
                })
            })
            .collect::<Result<Vec<_>, RepoError>>()?;
        Ok(into_page(summaries, page))
    }

    async fn order_events(&self, id: OrderId) -> Result<Vec<StoredEvent>, RepoError> {
        events::for_order(self, id).await
    }

    async fn credit_exposure(
        &self,
        customer_id: CustomerId,
        currency: Currency,
        exclude: OrderId,
    ) -> Result<CreditExposure, RepoError> {
        const UNBILLED: [OrderStatus; 7] = [
            OrderStatus::Confirmed,
            OrderStatus::InProduction,
            OrderStatus::ReadyToShip,
            OrderStatus::PartiallyShipped,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::OnHold,
        ];
        // Summed in Rust: a customer has few open orders, and SUM(bigint) is NUMERIC on
        // PostgreSQL but INTEGER on SQLite.
        let orders: Vec<(i64, i64)> = order::Entity::find()
            .select_only()
            .column(order::Column::Id)
            .column(order::Column::TotalE4)
            .filter(order::Column::CustomerId.eq(customer_id.0))
            .filter(order::Column::Currency.eq(currency.as_str()))
            .filter(order::Column::Status.is_in(UNBILLED.iter().map(|s| s.as_str())))
            .filter(order::Column::Id.ne(exclude.0))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        let invoices: Vec<(i64, i64, i64)> = invoice::Entity::find()
            .select_only()
            .column(invoice::Column::OrderId)
            .column(invoice::Column::AmountE4)
            .column(invoice::Column::PaidE4)
            .filter(invoice::Column::CustomerId.eq(customer_id.0))
            .filter(invoice::Column::Currency.eq(currency.as_str()))
            .filter(invoice::Column::VoidReason.is_null())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        let mut invoiced: HashMap<i64, i128> = HashMap::new();
        let mut receivable_e4: i128 = 0;
        for (order_id, amount, paid) in invoices {
            *invoiced.entry(order_id).or_default() += i128::from(amount);
            receivable_e4 += i128::from(amount - paid);
        }
        // What an order still has to be invoiced for: its total minus its valid invoices.
        let unbilled_e4: i128 = orders
            .into_iter()
            .map(|(id, total)| (i128::from(total) - invoiced.get(&id).copied().unwrap_or(0)).max(0))
            .sum();
        Ok(CreditExposure {
            open_receivables: rust_decimal::Decimal::from_i128_with_scale(
                receivable_e4,
                MONEY_SCALE,
            ),
            unbilled_confirmed: rust_decimal::Decimal::from_i128_with_scale(
                unbilled_e4,
                MONEY_SCALE,
            ),
        })
    }

    async fn orders_with_customer_po(
        &self,
        customer_id: CustomerId,
        customer_po: &str,
        exclude: OrderId,
    ) -> Result<Vec<String>, RepoError> {
        // Compared in Rust: SQLite's LOWER() folds ASCII only, so "Ärztehaus" would never
        // match "ärztehaus" there. One customer's PO references are few enough to read.
        let wanted = customer_po.trim().to_lowercase();
        let rows: Vec<(String, Option<String>)> = order::Entity::find()
            .select_only()
            .column(order::Column::Number)
            .column(order::Column::CustomerPo)
            .filter(order::Column::CustomerId.eq(customer_id.0))
            .filter(order::Column::Id.ne(exclude.0))
            .filter(order::Column::Status.ne(OrderStatus::Cancelled.as_str()))
            .filter(order::Column::CustomerPo.is_not_null())
            .order_by_asc(order::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        Ok(rows
            .into_iter()
            .filter(|(_, po)| {
                po.as_deref()
                    .is_some_and(|po| po.trim().to_lowercase() == wanted)
            })
            .map(|(number, _)| number)
            .take(10)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_page_has_its_first_members_values_for_each_member() {
        let at = |day: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 10, day)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
        };
        let filters = [
            OrderFilter::default(),
            OrderFilter {
                statuses: vec![OrderStatus::Draft, OrderStatus::OnHold],
                ..OrderFilter::default()
            },
            OrderFilter {
                customer_id: Some(CustomerId(3)),
                sales_rep_id: Some(UserId(4)),
                ..OrderFilter::default()
            },
            OrderFilter {
                statuses: vec![OrderStatus::Confirmed],
                created_from: Some(at(1)),
                created_to: Some(at(31)),
                search: Some("north wind".into()),
                ..OrderFilter::default()
            },
        ];
        let members = vec![4, 5, 9];
        for filter in &filters {
            for after in [None, Some(70)] {
                let page = PageRequest { first: 20, after };
                let narrowing = narrowing(filter, page);
                let (_, member) =
                    member_page(&narrowing, members[0], page).build(SqliteQueryBuilder);
                let query = PageQuery::Team {
                    narrowing,
                    members: members.clone(),
                    page,
                };
                for read in [PageRead::Summaries, PageRead::WithLines] {
                    let (_, built) = read
                        .finish(query.clone().into_select())
                        .into_query()
                        .build(SqliteQueryBuilder);
                    assert_eq!(
                        team_values(&member, &members),
                        Some(built),
                        "{filter:?}, after {after:?}, {read:?}"
                    );
                }
            }
        }
    }

    fn row() -> order::Model {
        order::Model {
            id: 1,
            number: "SO-1".into(),
            customer_id: 2,
            sales_rep_id: 3,
            currency: "EUR".into(),
            status: OrderStatus::Draft.as_str().into(),
            held_from: None,
            payment_status: PaymentStatus::Uninvoiced.as_str().into(),
            requested_date: None,
            promised_date: None,
            delivery_address: None,
            payment_terms: "NET_30".into(),
            customer_po: None,
            notes: None,
            confirmation: None,
            findings: "[]".into(),
            cancel_reason: None,
            expected_date: None,
            search_text: String::new(),
            total_e4: 0,
            version: 1,
            revision: 0,
            created_at: 0,
            updated_at: 0,
            submitted_at: None,
            confirmed_at: None,
            shipped_at: None,
            delivered_at: None,
            paid_at: None,
        }
    }

    #[test]
    fn lines_read_in_any_order_come_out_in_line_order() {
        let lines = r#"[[3, 7, "C", "c", 1000, 10000, 0],
            [1, 7, "A", "a", 2000, 10000, 0],
            [2, 7, "B", "b", 3000, 10000, 0]]"#;
        let order = to_order(row(), lines).unwrap();
        let read: Vec<(u32, &str)> = order
            .content
            .lines
            .iter()
            .map(|line| (line.line_no, line.sku.as_str()))
            .collect();
        assert_eq!(read, [(1, "A"), (2, "B"), (3, "C")]);
    }
}
