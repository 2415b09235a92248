//! Covering indexes for the analytics KPIs at scale. Measured on 1,000,000 orders (one month is
//! ~42,000 orders, invoices and payments): the KPI queries found their month's rows through the
//! period indexes quickly, then spent most of their time fetching each whole row (an order row
//! carries its address, findings and search text; an invoice its lines) for the few narrow
//! columns they aggregate. With those columns in the index the row is never read; see
//! docs/benchmarks.md for the before and after.
//!
//! Each index keeps its name, leading column(s) and so every query it served before; only
//! columns are appended. Order rows change status on every transition, and `status` is now in
//! two of these indexes (it already was in two): a small cost per write for reads that no
//! longer touch the table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// An index: its table, its name, its columns before this migration and after.
struct Widened {
    table: &'static str,
    name: &'static str,
    before: &'static [&'static str],
    after: &'static [&'static str],
}

/// Besides each query's own columns, every index carries the scope and filter columns all
/// analytics queries narrow by: `sales_rep_id`, `customer_id`, `currency`.
const INDEXES: [Widened; 10] = [
    // Sales, quality, RFM and lapsed customers: submitted orders created in the period.
    Widened {
        table: "orders",
        name: "ix_orders_created",
        before: &["created_at"],
        after: &[
            "created_at",
            "submitted_at",
            "sales_rep_id",
            "customer_id",
            "currency",
            "status",
            "total_e4",
        ],
    },
    // The open pipeline (by status, now), and the order lists' status filter (status, id).
    Widened {
        table: "orders",
        name: "ix_orders_status",
        before: &["status", "id"],
        after: &[
            "status",
            "id",
            "sales_rep_id",
            "customer_id",
            "currency",
            "total_e4",
        ],
    },
    // Conversion: submitted in the period, and confirmed since.
    Widened {
        table: "orders",
        name: "ix_orders_submitted",
        before: &["submitted_at", "created_at"],
        after: &[
            "submitted_at",
            "confirmed_at",
            "sales_rep_id",
            "customer_id",
            "currency",
        ],
    },
    // Each cycle-time stage, selected by the milestone that ends it.
    Widened {
        table: "orders",
        name: "ix_orders_confirmed",
        before: &["confirmed_at", "created_at"],
        after: &[
            "confirmed_at",
            "submitted_at",
            "sales_rep_id",
            "customer_id",
            "currency",
        ],
    },
    Widened {
        table: "orders",
        name: "ix_orders_shipped",
        before: &["shipped_at", "created_at"],
        after: &[
            "shipped_at",
            "confirmed_at",
            "submitted_at",
            "sales_rep_id",
            "customer_id",
            "currency",
        ],
    },
    // Also the on-time rate, against the promised date.
    Widened {
        table: "orders",
        name: "ix_orders_delivered",
        before: &["delivered_at", "created_at"],
        after: &[
            "delivered_at",
            "shipped_at",
            "submitted_at",
            "promised_date",
            "sales_rep_id",
            "customer_id",
            "currency",
        ],
    },
    Widened {
        table: "orders",
        name: "ix_orders_paid",
        before: &["paid_at", "created_at"],
        after: &[
            "paid_at",
            "delivered_at",
            "submitted_at",
            "sales_rep_id",
            "customer_id",
            "currency",
        ],
    },
    // Invoiced in the period.
    Widened {
        table: "invoices",
        name: "ix_invoices_issued",
        before: &["issued_on"],
        after: &[
            "issued_on",
            "void_reason",
            "sales_rep_id",
            "customer_id",
            "currency",
            "amount_e4",
        ],
    },
    // Collection rate: falling due in the period, and paid by its end.
    Widened {
        table: "invoices",
        name: "ix_invoices_due",
        before: &["due_on"],
        after: &[
            "due_on",
            "void_reason",
            "fully_paid_on",
            "sales_rep_id",
            "customer_id",
            "currency",
        ],
    },
    // Payment behaviour (settled in the period) and receivables (not settled by its end),
    // aged by due date.
    Widened {
        table: "invoices",
        name: "ix_invoices_fully_paid",
        before: &["fully_paid_on"],
        after: &[
            "fully_paid_on",
            "void_reason",
            "issued_on",
            "due_on",
            "sales_rep_id",
            "customer_id",
            "currency",
            "amount_e4",
            "paid_e4",
        ],
    },
];

/// Drops the index and creates it again on `columns`, in plain SQL: the same statements on
/// both databases (an index name is unique per schema on PostgreSQL, as on SQLite), sent on one
/// connection so the second sees the first.
pub(super) async fn rebuild(
    manager: &SchemaManager<'_>,
    table: &str,
    name: &str,
    columns: &[&str],
) -> Result<(), DbErr> {
    let columns = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "DROP INDEX \"{name}\"; CREATE INDEX \"{name}\" ON \"{table}\" ({columns})"
        ))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for ix in &INDEXES {
            rebuild(manager, ix.table, ix.name, ix.after).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for ix in &INDEXES {
            rebuild(manager, ix.table, ix.name, ix.before).await?;
        }
        Ok(())
    }
}
