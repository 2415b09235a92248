//! Analytics: when each order first reached its lifecycle milestones (submitted, confirmed,
//! shipped, delivered, paid), kept on the order row so the KPIs aggregate in SQL without
//! replaying the event log, and the indexes the KPI queries read through.
//!
//! From now on `events::append` sets these columns in the change's own transaction; this
//! migration backfills them from the events already stored.

use sea_orm_migration::prelude::*;

use super::columns::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    CreatedAt,
    SalesRepId,
    CustomerId,
    SubmittedAt,
    ConfirmedAt,
    ShippedAt,
    DeliveredAt,
    PaidAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OrderExceptions {
    Table,
    RaisedAt,
    Kind,
}

/// Each milestone column with the stored events that reach it: the event type and a fragment
/// of its JSON payload. Payloads are serde_json's compact output, and a quote inside a string
/// value is escaped there, so `"to":"SHIPPED"` only matches the field itself (and not
/// `"to":"PARTIALLY_SHIPPED"`). A LIKE works alike on SQLite and PostgreSQL, unlike their JSON
/// functions.
const MILESTONES: [(Orders, &str, &str); 5] = [
    (Orders::SubmittedAt, "REVIEW_COMPLETED", "%"),
    (
        Orders::ConfirmedAt,
        "STATUS_CHANGED",
        "%\"to\":\"CONFIRMED\"%",
    ),
    (Orders::ShippedAt, "STATUS_CHANGED", "%\"to\":\"SHIPPED\"%"),
    (
        Orders::DeliveredAt,
        "STATUS_CHANGED",
        "%\"to\":\"DELIVERED\"%",
    ),
    (
        Orders::PaidAt,
        "PAYMENT_STATUS_CHANGED",
        "%\"to\":\"PAID\"%",
    ),
];

/// Indexes of the KPI queries: the period filter on `created_at` behind the rep and customer
/// filters (`ix_orders_created` exists already), and on each milestone the cycle times, the
/// conversion and the on-time rate select their period by.
const INDEXES: [(&str, Orders); 7] = [
    ("ix_orders_rep_created", Orders::SalesRepId),
    ("ix_orders_customer_created", Orders::CustomerId),
    ("ix_orders_submitted", Orders::SubmittedAt),
    ("ix_orders_confirmed", Orders::ConfirmedAt),
    ("ix_orders_shipped", Orders::ShippedAt),
    ("ix_orders_delivered", Orders::DeliveredAt),
    ("ix_orders_paid", Orders::PaidAt),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (column, _, _) in MILESTONES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orders::Table)
                        .add_column(ColumnDef::new(column).big_integer().null())
                        .take(),
                )
                .await?;
        }
        let db = manager.get_connection();
        for (column, event_type, payload) in MILESTONES {
            let column = column.to_string();
            // The first time: the earliest matching event.
            let sql = format!(
                "UPDATE orders SET {column} = (SELECT MIN(e.occurred_at) FROM order_events e \
                 WHERE e.order_id = orders.id AND e.event_type = '{event_type}' \
                 AND e.payload LIKE '{payload}') WHERE {column} IS NULL"
            );
            db.execute_unprepared(&sql).await?;
        }
        // Each followed by `created_at`, which the sales filters also range over.
        for (name, first) in INDEXES {
            manager
                .create_index(index(name, Orders::Table, vec![first, Orders::CreatedAt]))
                .await?;
        }
        manager
            .create_index(index(
                "ix_order_exceptions_raised_kind",
                OrderExceptions::Table,
                vec![OrderExceptions::RaisedAt, OrderExceptions::Kind],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_order_exceptions_raised_kind")
                    .table(OrderExceptions::Table)
                    .to_owned(),
            )
            .await?;
        for (name, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Orders::Table).to_owned())
                .await?;
        }
        for (column, _, _) in MILESTONES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orders::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
