//! The customer archive: contacts, addresses and preferences on customers, a standard cost on
//! products, notes on orders, and the interaction log with follow-ups.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use super::columns::{big, id_pk, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Contacts,
    Addresses,
    Preferences,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    UnitCostE4,
}

#[derive(DeriveIden)]
enum OrderNotes {
    Table,
    Id,
    OrderId,
    AuthorId,
    Visibility,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Interactions {
    Table,
    Id,
    CustomerId,
    OrderId,
    UserId,
    Channel,
    Direction,
    Summary,
    OccurredAt,
    FollowUpOn,
    FollowUpDoneAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one column at a time.
        for (column, default) in [
            (Customers::Contacts, "[]"),
            (Customers::Addresses, "[]"),
            (Customers::Preferences, "{}"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Customers::Table)
                        .add_column(
                            ColumnDef::new(column)
                                .text()
                                .not_null()
                                .default(default)
                                .take(),
                        )
                        .take(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .add_column(ColumnDef::new(Products::UnitCostE4).big_integer().null())
                    .take(),
            )
            .await?;
        // Tags become searchable: the search text now holds name, tags and contacts, written
        // in Rust (Unicode lower-casing); existing rows get name, tags and e-mail here.
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, name, email, tags FROM customers",
            ))
            .await?;
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            let name: String = row.try_get("", "name")?;
            let email: Option<String> = row.try_get("", "email")?;
            let tags: String = row.try_get("", "tags")?;
            let tags: Vec<String> = serde_json::from_str(&tags).unwrap_or_default();
            let mut search = name.to_lowercase();
            for part in tags.iter().chain(email.as_ref()) {
                search.push(' ');
                search.push_str(&part.to_lowercase());
            }
            let update = Query::update()
                .table(Alias::new("customers"))
                .value(Alias::new("search_text"), search)
                .and_where(Expr::col(Alias::new("id")).eq(id))
                .take();
            manager.exec_stmt(update).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(OrderNotes::Table)
                    .col(id_pk(OrderNotes::Id))
                    .col(big(OrderNotes::OrderId))
                    .col(big(OrderNotes::AuthorId))
                    .col(
                        ColumnDef::new(OrderNotes::Visibility)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(text(OrderNotes::Body))
                    .col(big(OrderNotes::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_order_notes_order")
                    .table(OrderNotes::Table)
                    .col(OrderNotes::OrderId)
                    .col(OrderNotes::Id)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Interactions::Table)
                    .col(id_pk(Interactions::Id))
                    .col(big(Interactions::CustomerId))
                    .col(ColumnDef::new(Interactions::OrderId).big_integer().null())
                    .col(big(Interactions::UserId))
                    .col(
                        ColumnDef::new(Interactions::Channel)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Interactions::Direction)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(text(Interactions::Summary))
                    .col(big(Interactions::OccurredAt))
                    .col(ColumnDef::new(Interactions::FollowUpOn).date().null())
                    .col(
                        ColumnDef::new(Interactions::FollowUpDoneAt)
                            .big_integer()
                            .null(),
                    )
                    .col(big(Interactions::CreatedAt))
                    .take(),
            )
            .await?;
        for (name, columns) in [
            (
                "ix_interactions_customer",
                vec![Interactions::CustomerId, Interactions::Id],
            ),
            (
                "ix_interactions_order",
                vec![Interactions::OrderId, Interactions::Id],
            ),
            (
                "ix_interactions_follow_up",
                vec![Interactions::UserId, Interactions::FollowUpOn],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Interactions::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.take()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Interactions::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(OrderNotes::Table).take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .drop_column(Products::UnitCostE4)
                    .take(),
            )
            .await?;
        for column in [
            Customers::Contacts,
            Customers::Addresses,
            Customers::Preferences,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Customers::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
