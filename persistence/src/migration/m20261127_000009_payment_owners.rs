//! Payments carry their invoice's rep, customer and currency, so the collected amount of a
//! period is read from one covering index instead of looking up every payment's invoice: on
//! 1,000,000 orders a month holds ~42,000 payments, and those lookups were most of the
//! receivables KPI and the rep scorecards' time.
//!
//! The copies follow the invoice: a reassigned order's invoices and payments move to the new
//! rep in the same transaction (an order's customer and currency never change), and only an
//! invoice without payments can be voided, so a payment's invoice is always valid.

use sea_orm_migration::prelude::*;

use super::m20261127_000008_covering_indexes::rebuild;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Payments {
    Table,
    SalesRepId,
    CustomerId,
    Currency,
}

const INDEX: &str = "ix_payments_received";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A default for the rows already stored (NOT NULL needs one), filled in right after.
        for column in [
            ColumnDef::new(Payments::SalesRepId)
                .big_integer()
                .not_null()
                .default(0)
                .take(),
            ColumnDef::new(Payments::CustomerId)
                .big_integer()
                .not_null()
                .default(0)
                .take(),
            ColumnDef::new(Payments::Currency)
                .string_len(3)
                .not_null()
                .default("")
                .take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Payments::Table)
                        .add_column(column)
                        .take(),
                )
                .await?;
        }
        let owner = |column: &str| {
            format!(
                "{column} = (SELECT i.{column} FROM invoices i WHERE i.id = payments.invoice_id)"
            )
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE payments SET {}, {}, {}",
                owner("sales_rep_id"),
                owner("customer_id"),
                owner("currency")
            ))
            .await?;
        rebuild(
            manager,
            "payments",
            INDEX,
            &[
                "received_at",
                "sales_rep_id",
                "customer_id",
                "currency",
                "amount_e4",
                "invoice_id",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, "payments", INDEX, &["received_at"]).await?;
        for column in [
            Payments::SalesRepId,
            Payments::CustomerId,
            Payments::Currency,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Payments::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
