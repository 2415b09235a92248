//! Tracking: the expected delivery date on orders, milestones, shipments, exceptions, change
//! requests and the order revisions a change replaced.
//!
//! Structured values (a shipment's lines, a change's proposal, a revision's content) are JSON
//! text; instants are microseconds, money is `*_e4`, like everywhere else.

use sea_orm_migration::prelude::*;

use super::columns::{big, big_null, id_pk, index, text, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Status,
    PromisedDate,
    ExpectedDate,
}

#[derive(DeriveIden, Clone, Copy)]
enum Milestones {
    Table,
    Id,
    OrderId,
    Kind,
    OccurredAt,
    Note,
    RecordedBy,
}

#[derive(DeriveIden, Clone, Copy)]
enum Shipments {
    Table,
    Id,
    OrderId,
    Carrier,
    TrackingNumber,
    Lines,
    ShippedAt,
    RecordedBy,
    DeliveredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OrderExceptions {
    Table,
    Id,
    OrderId,
    CustomerId,
    SalesRepId,
    Kind,
    Severity,
    Description,
    CostImpactE4,
    Currency,
    DelayDays,
    HeldOrder,
    RaisedBy,
    RaisedAt,
    RootCause,
    Actions,
    Status,
    Resolution,
    LessonsLearned,
    ResolvedBy,
    ResolvedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChangeRequests {
    Table,
    Id,
    OrderId,
    Proposal,
    Reason,
    BaseRevision,
    AmountDeltaE4,
    DelayDays,
    ReviewRequired,
    RequestedBy,
    RequestedAt,
    Status,
    DecidedBy,
    DecidedAt,
    DecisionComment,
    AppliedRevision,
    AppliedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OrderRevisions {
    Table,
    OrderId,
    Revision,
    Content,
    PromisedDate,
    TotalE4,
    ReplacedAt,
    ReplacedByChange,
}

fn short<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).string_len(32).not_null().take()
}

fn int<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).integer().not_null().take()
}

fn flag<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).boolean().not_null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(ColumnDef::new(Orders::ExpectedDate).date().null())
                    .take(),
            )
            .await?;
        // Confirmation now sets the expected date to the promised one; orders confirmed before
        // this migration get the same, so old and new rows read alike.
        manager
            .exec_stmt(
                Query::update()
                    .table(Orders::Table)
                    .value(Orders::ExpectedDate, Expr::col(Orders::PromisedDate))
                    .and_where(Expr::col(Orders::PromisedDate).is_not_null())
                    .take(),
            )
            .await?;
        // Orders at risk: open statuses with a promised date, read in promised-date order.
        manager
            .create_index(index(
                "ix_orders_status_promised",
                Orders::Table,
                vec![Orders::Status, Orders::PromisedDate],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Milestones::Table)
                    .col(id_pk(Milestones::Id))
                    .col(big(Milestones::OrderId))
                    .col(short(Milestones::Kind))
                    .col(big(Milestones::OccurredAt))
                    .col(text_null(Milestones::Note))
                    .col(big(Milestones::RecordedBy))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_milestones_order",
                Milestones::Table,
                vec![Milestones::OrderId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Shipments::Table)
                    .col(id_pk(Shipments::Id))
                    .col(big(Shipments::OrderId))
                    .col(text(Shipments::Carrier))
                    .col(text_null(Shipments::TrackingNumber))
                    .col(text(Shipments::Lines))
                    .col(big(Shipments::ShippedAt))
                    .col(big(Shipments::RecordedBy))
                    .col(big_null(Shipments::DeliveredAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_shipments_order",
                Shipments::Table,
                vec![Shipments::OrderId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrderExceptions::Table)
                    .col(id_pk(OrderExceptions::Id))
                    .col(big(OrderExceptions::OrderId))
                    .col(big(OrderExceptions::CustomerId))
                    .col(big(OrderExceptions::SalesRepId))
                    .col(short(OrderExceptions::Kind))
                    .col(short(OrderExceptions::Severity))
                    .col(text(OrderExceptions::Description))
                    .col(big(OrderExceptions::CostImpactE4))
                    .col(
                        ColumnDef::new(OrderExceptions::Currency)
                            .string_len(3)
                            .not_null(),
                    )
                    .col(big(OrderExceptions::DelayDays))
                    .col(flag(OrderExceptions::HeldOrder))
                    .col(big(OrderExceptions::RaisedBy))
                    .col(big(OrderExceptions::RaisedAt))
                    .col(text_null(OrderExceptions::RootCause))
                    .col(text_null(OrderExceptions::Actions))
                    .col(short(OrderExceptions::Status))
                    .col(text_null(OrderExceptions::Resolution))
                    .col(text_null(OrderExceptions::LessonsLearned))
                    .col(big_null(OrderExceptions::ResolvedBy))
                    .col(big_null(OrderExceptions::ResolvedAt))
                    .take(),
            )
            .await?;
        // The list filters, each with the id for the newest-first keyset.
        for (name, column) in [
            ("ix_order_exceptions_status", OrderExceptions::Status),
            ("ix_order_exceptions_customer", OrderExceptions::CustomerId),
            ("ix_order_exceptions_rep", OrderExceptions::SalesRepId),
            ("ix_order_exceptions_order", OrderExceptions::OrderId),
        ] {
            manager
                .create_index(index(
                    name,
                    OrderExceptions::Table,
                    vec![column, OrderExceptions::Id],
                ))
                .await?;
        }
        manager
            .create_index(index(
                "ix_order_exceptions_raised_at",
                OrderExceptions::Table,
                vec![OrderExceptions::RaisedAt],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChangeRequests::Table)
                    .col(id_pk(ChangeRequests::Id))
                    .col(big(ChangeRequests::OrderId))
                    .col(text(ChangeRequests::Proposal))
                    .col(text(ChangeRequests::Reason))
                    .col(int(ChangeRequests::BaseRevision))
                    .col(big(ChangeRequests::AmountDeltaE4))
                    .col(big(ChangeRequests::DelayDays))
                    .col(flag(ChangeRequests::ReviewRequired))
                    .col(big(ChangeRequests::RequestedBy))
                    .col(big(ChangeRequests::RequestedAt))
                    .col(short(ChangeRequests::Status))
                    .col(big_null(ChangeRequests::DecidedBy))
                    .col(big_null(ChangeRequests::DecidedAt))
                    .col(text_null(ChangeRequests::DecisionComment))
                    .col(
                        ColumnDef::new(ChangeRequests::AppliedRevision)
                            .integer()
                            .null(),
                    )
                    .col(big_null(ChangeRequests::AppliedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_change_requests_order",
                ChangeRequests::Table,
                vec![ChangeRequests::OrderId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrderRevisions::Table)
                    .col(big(OrderRevisions::OrderId))
                    .col(int(OrderRevisions::Revision))
                    .col(text(OrderRevisions::Content))
                    .col(ColumnDef::new(OrderRevisions::PromisedDate).date().null())
                    .col(big(OrderRevisions::TotalE4))
                    .col(big(OrderRevisions::ReplacedAt))
                    .col(big(OrderRevisions::ReplacedByChange))
                    .primary_key(
                        Index::create()
                            .col(OrderRevisions::OrderId)
                            .col(OrderRevisions::Revision),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OrderRevisions::Table.into_iden(),
            ChangeRequests::Table.into_iden(),
            OrderExceptions::Table.into_iden(),
            Shipments::Table.into_iden(),
            Milestones::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ix_orders_status_promised")
                    .table(Orders::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .drop_column(Orders::ExpectedDate)
                    .take(),
            )
            .await
    }
}
