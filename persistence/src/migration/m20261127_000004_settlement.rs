//! Settlement: invoices, payments and collection activities.

use sea_orm_migration::prelude::*;

use super::columns::{big, id_pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Invoices {
    Table,
    Id,
    Number,
    OrderId,
    CustomerId,
    SalesRepId,
    Currency,
    Kind,
    IssuedOn,
    DueOn,
    Lines,
    DepositCreditE4,
    AmountE4,
    PaidE4,
    FullyPaidOn,
    VoidReason,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Payments {
    Table,
    Id,
    InvoiceId,
    OrderId,
    AmountE4,
    Method,
    Reference,
    ReceivedAt,
    RecordedBy,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CollectionActivities {
    Table,
    Id,
    InvoiceId,
    UserId,
    Kind,
    Note,
    PromisedDate,
    PromisedAmountE4,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Counters {
    Table,
    Name,
    Value,
}

fn short<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).string_len(32).not_null().take()
}

async fn index<T: IntoIden + Copy + 'static, C: IntoIden + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    columns: Vec<C>,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(column);
    }
    manager.create_index(index.take()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Invoices::Table)
                    .col(id_pk(Invoices::Id))
                    .col(
                        ColumnDef::new(Invoices::Number)
                            .string_len(32)
                            .not_null()
                            .unique_key(),
                    )
                    .col(big(Invoices::OrderId))
                    .col(big(Invoices::CustomerId))
                    .col(big(Invoices::SalesRepId))
                    .col(ColumnDef::new(Invoices::Currency).string_len(3).not_null())
                    .col(short(Invoices::Kind))
                    .col(ColumnDef::new(Invoices::IssuedOn).date().not_null())
                    .col(ColumnDef::new(Invoices::DueOn).date().not_null())
                    .col(ColumnDef::new(Invoices::Lines).text().not_null())
                    .col(big(Invoices::DepositCreditE4))
                    .col(big(Invoices::AmountE4))
                    .col(big(Invoices::PaidE4))
                    .col(ColumnDef::new(Invoices::FullyPaidOn).date().null())
                    .col(ColumnDef::new(Invoices::VoidReason).text().null())
                    .col(big(Invoices::CreatedAt))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_invoices_order",
            Invoices::Table,
            vec![Invoices::OrderId],
        )
        .await?;
        index(
            manager,
            "ix_invoices_customer",
            Invoices::Table,
            vec![Invoices::CustomerId, Invoices::DueOn],
        )
        .await?;
        index(
            manager,
            "ix_invoices_rep",
            Invoices::Table,
            vec![Invoices::SalesRepId, Invoices::DueOn],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    .col(id_pk(Payments::Id))
                    .col(big(Payments::InvoiceId))
                    .col(big(Payments::OrderId))
                    .col(big(Payments::AmountE4))
                    .col(short(Payments::Method))
                    .col(ColumnDef::new(Payments::Reference).text().null())
                    .col(big(Payments::ReceivedAt))
                    .col(big(Payments::RecordedBy))
                    .col(big(Payments::CreatedAt))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_payments_invoice",
            Payments::Table,
            vec![Payments::InvoiceId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CollectionActivities::Table)
                    .col(id_pk(CollectionActivities::Id))
                    .col(big(CollectionActivities::InvoiceId))
                    .col(big(CollectionActivities::UserId))
                    .col(short(CollectionActivities::Kind))
                    .col(ColumnDef::new(CollectionActivities::Note).text().null())
                    .col(
                        ColumnDef::new(CollectionActivities::PromisedDate)
                            .date()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(CollectionActivities::PromisedAmountE4)
                            .big_integer()
                            .null(),
                    )
                    .col(big(CollectionActivities::CreatedAt))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_collection_activities_invoice",
            CollectionActivities::Table,
            vec![CollectionActivities::InvoiceId],
        )
        .await?;
        // Invoice numbers come from a counter row, like order numbers: gap-free per commit.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Counters::Table)
                    .columns([Counters::Name, Counters::Value])
                    .values_panic(["invoice_number".into(), 0i64.into()])
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Counters::Table)
                    .and_where(Expr::col(Counters::Name).eq("invoice_number"))
                    .take(),
            )
            .await?;
        for table in [
            CollectionActivities::Table.into_iden(),
            Payments::Table.into_iden(),
            Invoices::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
