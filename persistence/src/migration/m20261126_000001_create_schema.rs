//! The initial schema: users, customers, products, orders with lines, the event log, counters
//! and idempotency keys.
//!
//! Storage conventions, identical on SQLite and PostgreSQL:
//! - money is a BIGINT of 10^-4 units (`*_e4`), quantities of 10^-3 (`*_e3`), discounts in basis
//!   points (`*_bp`): integers round-trip exactly and SQL sums stay exact;
//! - instants are BIGINT microseconds since the Unix epoch (`*_at`), UTC;
//! - structured values (tags, findings, confirmation, event payloads) are JSON text;
//! - `search_text` holds the searchable fields lower-cased by Rust (Unicode-aware, unlike
//!   SQLite's `lower()`), so case-insensitive search behaves the same on both databases.

use sea_orm_migration::prelude::*;

use super::columns::{big, big_null, id_pk, index, text, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    Role,
    ManagerId,
    CustomerId,
    DiscountAuthorityBp,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    Name,
    Email,
    Phone,
    Address,
    OwnerRepId,
    Tier,
    Tags,
    Currency,
    CreditLimitE4,
    PaymentTerms,
    SearchText,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Sku,
    Name,
    Unit,
    ListPriceE4,
    Currency,
    LeadTimeDays,
    Active,
    SearchText,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    Number,
    CustomerId,
    SalesRepId,
    Currency,
    Status,
    HeldFrom,
    PaymentStatus,
    RequestedDate,
    PromisedDate,
    DeliveryAddress,
    PaymentTerms,
    CustomerPo,
    Notes,
    Confirmation,
    Findings,
    CancelReason,
    SearchText,
    TotalE4,
    Version,
    Revision,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrderLines {
    Table,
    OrderId,
    LineNo,
    ProductId,
    Sku,
    Description,
    QuantityE3,
    UnitPriceE4,
    DiscountBp,
    TotalE4,
}

#[derive(DeriveIden)]
enum OrderEvents {
    Table,
    Seq,
    OrderId,
    OrderNumber,
    CustomerId,
    SalesRepId,
    OrderVersion,
    EventType,
    Payload,
    ActorId,
    OccurredAt,
}

#[derive(DeriveIden)]
enum Counters {
    Table,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    UserId,
    Key,
    Operation,
    Fingerprint,
    ResultId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(id_pk(Users::Id))
                    .col(
                        ColumnDef::new(Users::Email)
                            .string_len(254)
                            .not_null()
                            .unique_key(),
                    )
                    .col(text(Users::Name))
                    .col(ColumnDef::new(Users::Role).string_len(16).not_null())
                    .col(big_null(Users::ManagerId))
                    .col(big_null(Users::CustomerId))
                    .col(big(Users::DiscountAuthorityBp))
                    .col(text_null(Users::PasswordHash))
                    .col(big(Users::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_users_manager",
                Users::Table,
                vec![Users::ManagerId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(id_pk(Customers::Id))
                    .col(text(Customers::Name))
                    .col(text_null(Customers::Email))
                    .col(text_null(Customers::Phone))
                    .col(text_null(Customers::Address))
                    .col(big(Customers::OwnerRepId))
                    .col(text_null(Customers::Tier))
                    .col(text(Customers::Tags))
                    .col(ColumnDef::new(Customers::Currency).string_len(3).not_null())
                    .col(big(Customers::CreditLimitE4))
                    .col(
                        ColumnDef::new(Customers::PaymentTerms)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(text(Customers::SearchText))
                    .col(big(Customers::Version))
                    .col(big(Customers::CreatedAt))
                    .col(big(Customers::UpdatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_customers_owner",
                Customers::Table,
                vec![Customers::OwnerRepId, Customers::Id],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(id_pk(Products::Id))
                    .col(
                        ColumnDef::new(Products::Sku)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(text(Products::Name))
                    .col(ColumnDef::new(Products::Unit).string_len(20).not_null())
                    .col(big(Products::ListPriceE4))
                    .col(ColumnDef::new(Products::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(Products::LeadTimeDays).integer().not_null())
                    .col(ColumnDef::new(Products::Active).boolean().not_null())
                    .col(text(Products::SearchText))
                    .col(big(Products::Version))
                    .col(big(Products::CreatedAt))
                    .col(big(Products::UpdatedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(id_pk(Orders::Id))
                    .col(
                        ColumnDef::new(Orders::Number)
                            .string_len(32)
                            .not_null()
                            .unique_key(),
                    )
                    .col(big(Orders::CustomerId))
                    .col(big(Orders::SalesRepId))
                    .col(ColumnDef::new(Orders::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(Orders::Status).string_len(24).not_null())
                    .col(ColumnDef::new(Orders::HeldFrom).string_len(24).null())
                    .col(
                        ColumnDef::new(Orders::PaymentStatus)
                            .string_len(24)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Orders::RequestedDate).date().null())
                    .col(ColumnDef::new(Orders::PromisedDate).date().null())
                    .col(text_null(Orders::DeliveryAddress))
                    .col(
                        ColumnDef::new(Orders::PaymentTerms)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(text_null(Orders::CustomerPo))
                    .col(text_null(Orders::Notes))
                    .col(text_null(Orders::Confirmation))
                    .col(text(Orders::Findings))
                    .col(text_null(Orders::CancelReason))
                    .col(text(Orders::SearchText))
                    .col(big(Orders::TotalE4))
                    .col(big(Orders::Version))
                    .col(ColumnDef::new(Orders::Revision).integer().not_null())
                    .col(big(Orders::CreatedAt))
                    .col(big(Orders::UpdatedAt))
                    .take(),
            )
            .await?;
        // Every list filter pairs with the id so the keyset (`id < cursor ORDER BY id DESC`) is an index range.
        for (name, col) in [
            ("ix_orders_status", Orders::Status),
            ("ix_orders_customer", Orders::CustomerId),
            ("ix_orders_rep", Orders::SalesRepId),
        ] {
            manager
                .create_index(index(name, Orders::Table, vec![col, Orders::Id]))
                .await?;
        }
        manager
            .create_index(index(
                "ix_orders_created",
                Orders::Table,
                vec![Orders::CreatedAt],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrderLines::Table)
                    .col(big(OrderLines::OrderId))
                    .col(ColumnDef::new(OrderLines::LineNo).integer().not_null())
                    .col(big(OrderLines::ProductId))
                    .col(ColumnDef::new(OrderLines::Sku).string_len(64).not_null())
                    .col(text(OrderLines::Description))
                    .col(big(OrderLines::QuantityE3))
                    .col(big(OrderLines::UnitPriceE4))
                    .col(big(OrderLines::DiscountBp))
                    .col(big(OrderLines::TotalE4))
                    .primary_key(
                        Index::create()
                            .col(OrderLines::OrderId)
                            .col(OrderLines::LineNo),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_order_lines_product",
                OrderLines::Table,
                vec![OrderLines::ProductId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrderEvents::Table)
                    .col(
                        ColumnDef::new(OrderEvents::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(big(OrderEvents::OrderId))
                    .col(
                        ColumnDef::new(OrderEvents::OrderNumber)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(big(OrderEvents::CustomerId))
                    .col(big(OrderEvents::SalesRepId))
                    .col(big(OrderEvents::OrderVersion))
                    .col(
                        ColumnDef::new(OrderEvents::EventType)
                            .string_len(40)
                            .not_null(),
                    )
                    .col(text(OrderEvents::Payload))
                    .col(big(OrderEvents::ActorId))
                    .col(big(OrderEvents::OccurredAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_order_events_order",
                OrderEvents::Table,
                vec![OrderEvents::OrderId, OrderEvents::Seq],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Counters::Table)
                    .col(
                        ColumnDef::new(Counters::Name)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(big(Counters::Value))
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Counters::Table)
                    .columns([Counters::Name, Counters::Value])
                    .values_panic(["event_seq".into(), 0i64.into()])
                    .values_panic(["order_number".into(), 0i64.into()])
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(big(IdempotencyKeys::UserId))
                    .col(
                        ColumnDef::new(IdempotencyKeys::Key)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::Operation)
                            .string_len(40)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::Fingerprint)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(big(IdempotencyKeys::ResultId))
                    .col(big(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::UserId)
                            .col(IdempotencyKeys::Key),
                    )
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Counters::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(OrderEvents::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(OrderLines::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Orders::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Products::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Customers::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).take())
            .await?;
        Ok(())
    }
}
