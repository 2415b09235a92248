//! Cash analytics: the indexes the receivables, collection and payment-behaviour KPIs range
//! over (invoices by issue, due and settlement day; payments by receipt), so a month's figures
//! read that month's rows and not the whole ledger.

use sea_orm_migration::prelude::*;

use super::columns::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Invoices {
    Table,
    IssuedOn,
    DueOn,
    FullyPaidOn,
}

#[derive(DeriveIden, Clone, Copy)]
enum Payments {
    Table,
    ReceivedAt,
}

const INVOICE_INDEXES: [(&str, Invoices); 3] = [
    ("ix_invoices_issued", Invoices::IssuedOn),
    ("ix_invoices_due", Invoices::DueOn),
    ("ix_invoices_fully_paid", Invoices::FullyPaidOn),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INVOICE_INDEXES {
            manager
                .create_index(index(name, Invoices::Table, vec![column]))
                .await?;
        }
        manager
            .create_index(index(
                "ix_payments_received",
                Payments::Table,
                vec![Payments::ReceivedAt],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_payments_received")
                    .table(Payments::Table)
                    .to_owned(),
            )
            .await?;
        for (name, _) in INVOICE_INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Invoices::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
