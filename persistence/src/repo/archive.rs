//! The customer archive: order notes, interactions, and the order queries purchase history and
//! follow-ups are derived from.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use domain::archive::{Channel, Direction, Interaction, NewInteraction, NoteVisibility, OrderNote};
use domain::lifecycle::OrderStatus;
use domain::order::Order;
use domain::ports::{ArchiveRepository, InteractionFilter, Page, PageRequest, RepoError};
use domain::{CustomerId, OrderId, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::orders::orders_with_lines;
use super::{corrupt, fetch_limit, into_page};
use crate::codec::{from_micros, to_micros};
use crate::entity::{interaction, order, order_note};
use crate::store::{Store, storage};

/// Statuses in which the customer has committed to an order and it still counts as business.
const COMMITTED: [OrderStatus; 8] = [
    OrderStatus::Confirmed,
    OrderStatus::InProduction,
    OrderStatus::ReadyToShip,
    OrderStatus::PartiallyShipped,
    OrderStatus::Shipped,
    OrderStatus::Delivered,
    OrderStatus::Completed,
    OrderStatus::OnHold,
];

/// Statuses in which an order still needs the customer kept informed.
const ACTIVE: [OrderStatus; 7] = [
    OrderStatus::Approved,
    OrderStatus::Confirmed,
    OrderStatus::InProduction,
    OrderStatus::ReadyToShip,
    OrderStatus::PartiallyShipped,
    OrderStatus::Shipped,
    OrderStatus::OnHold,
];

/// Most orders purchase history reads (the newest); keeps one customer's page bounded.
const HISTORY_LIMIT: u64 = 5_000;

fn to_note(row: order_note::Model) -> Result<OrderNote, RepoError> {
    Ok(OrderNote {
        id: row.id,
        order_id: OrderId(row.order_id),
        author_id: UserId(row.author_id),
        visibility: NoteVisibility::parse(&row.visibility).map_err(|e| corrupt("visibility", e))?,
        body: row.body,
        created_at: from_micros(row.created_at)?,
    })
}

fn to_interaction(row: interaction::Model) -> Result<Interaction, RepoError> {
    Ok(Interaction {
        id: row.id,
        details: NewInteraction {
            customer_id: CustomerId(row.customer_id),
            order_id: row.order_id.map(OrderId),
            user_id: UserId(row.user_id),
            channel: Channel::parse(&row.channel).map_err(|e| corrupt("channel", e))?,
            direction: Direction::parse(&row.direction).map_err(|e| corrupt("direction", e))?,
            summary: row.summary,
            occurred_at: from_micros(row.occurred_at)?,
            follow_up_on: row.follow_up_on,
        },
        follow_up_done_at: row.follow_up_done_at.map(from_micros).transpose()?,
        created_at: from_micros(row.created_at)?,
    })
}

impl ArchiveRepository for Store {
    async fn add_order_note(
        &self,
        order_id: OrderId,
        author_id: UserId,
        visibility: NoteVisibility,
        body: String,
        at: DateTime<Utc>,
    ) -> Result<OrderNote, RepoError> {
        let row = order_note::ActiveModel {
            order_id: Set(order_id.0),
            author_id: Set(author_id.0),
            visibility: Set(visibility.as_str().to_owned()),
            body: Set(body),
            created_at: Set(to_micros(at)),
            ..Default::default()
        };
        let txn = self.begin_write().await?;
        let note = row.insert(&txn).await.map_err(storage)?;
        txn.commit().await?;
        to_note(note)
    }

    async fn order_notes(
        &self,
        order_ids: &[OrderId],
        include_internal: bool,
    ) -> Result<Vec<OrderNote>, RepoError> {
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = order_note::Entity::find()
            .filter(order_note::Column::OrderId.is_in(order_ids.iter().map(|id| id.0)));
        if !include_internal {
            query = query.filter(
                order_note::Column::Visibility.eq(NoteVisibility::CustomerVisible.as_str()),
            );
        }
        query
            .order_by_asc(order_note::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_note)
            .collect()
    }

    async fn log_interaction(
        &self,
        i: NewInteraction,
        at: DateTime<Utc>,
    ) -> Result<Interaction, RepoError> {
        let row = interaction::ActiveModel {
            customer_id: Set(i.customer_id.0),
            order_id: Set(i.order_id.map(|o| o.0)),
            user_id: Set(i.user_id.0),
            channel: Set(i.channel.as_str().to_owned()),
            direction: Set(i.direction.as_str().to_owned()),
            summary: Set(i.summary),
            occurred_at: Set(to_micros(i.occurred_at)),
            follow_up_on: Set(i.follow_up_on),
            follow_up_done_at: Set(None),
            created_at: Set(to_micros(at)),
            ..Default::default()
        };
        let txn = self.begin_write().await?;
        let logged = row.insert(&txn).await.map_err(storage)?;
        txn.commit().await?;
        to_interaction(logged)
    }

    async fn interaction(&self, id: i64) -> Result<Option<Interaction>, RepoError> {
        interaction::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(to_interaction)
            .transpose()
    }

    async fn complete_follow_up(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<Interaction, RepoError> {
        // Only the first completion is recorded, so a retried request changes nothing.
        let txn = self.begin_write().await?;
        interaction::Entity::update_many()
            .col_expr(
                interaction::Column::FollowUpDoneAt,
                sea_orm::sea_query::Expr::value(to_micros(at)),
            )
            .filter(interaction::Column::Id.eq(id))
            .filter(interaction::Column::FollowUpDoneAt.is_null())
            .exec(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await?;
        self.interaction(id).await?.ok_or(RepoError::NotFound {
            entity: "interaction",
            id,
        })
    }

    async fn interactions(
        &self,
        filter: InteractionFilter,
        page: PageRequest,
    ) -> Result<Page<Interaction>, RepoError> {
        let mut query = match filter {
            InteractionFilter::Customer(c) => {
                interaction::Entity::find().filter(interaction::Column::CustomerId.eq(c.0))
            }
            InteractionFilter::Order(o) => {
                interaction::Entity::find().filter(interaction::Column::OrderId.eq(o.0))
            }
        };
        if let Some(after) = page.after {
            query = query.filter(interaction::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(interaction::Column::Id)
            .limit(fetch_limit(page))
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_interaction)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(rows, page))
    }

    async fn open_follow_ups(
        &self,
        user_id: UserId,
        due_by: NaiveDate,
    ) -> Result<Vec<Interaction>, RepoError> {
        interaction::Entity::find()
            .filter(interaction::Column::UserId.eq(user_id.0))
            .filter(interaction::Column::FollowUpOn.lte(due_by))
            .filter(interaction::Column::FollowUpDoneAt.is_null())
            .order_by_asc(interaction::Column::FollowUpOn)
            .order_by_asc(interaction::Column::Id)
            .limit(100)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_interaction)
            .collect()
    }

    async fn last_contacts(
        &self,
        customer_ids: &[CustomerId],
    ) -> Result<HashMap<CustomerId, DateTime<Utc>>, RepoError> {
        if customer_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, Option<i64>)> = interaction::Entity::find()
            .select_only()
            .column(interaction::Column::CustomerId)
            .column_as(interaction::Column::OccurredAt.max(), "last")
            .filter(interaction::Column::CustomerId.is_in(customer_ids.iter().map(|c| c.0)))
            .group_by(interaction::Column::CustomerId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .filter_map(|(customer, last)| last.map(|l| (customer, l)))
            .map(|(customer, last)| Ok((CustomerId(customer), from_micros(last)?)))
            .collect()
    }

    async fn committed_orders(&self, customer_id: CustomerId) -> Result<Vec<Order>, RepoError> {
        let select = order::Entity::find()
            .filter(order::Column::CustomerId.eq(customer_id.0))
            .filter(order::Column::Status.is_in(COMMITTED.iter().map(|s| s.as_str())))
            .order_by_desc(order::Column::Id)
            .limit(HISTORY_LIMIT);
        orders_with_lines(&self.db, select).await
    }

    async fn active_orders_of_rep(&self, rep_id: UserId) -> Result<Vec<Order>, RepoError> {
        let select = order::Entity::find()
            .filter(order::Column::SalesRepId.eq(rep_id.0))
            .filter(order::Column::Status.is_in(ACTIVE.iter().map(|s| s.as_str())))
            .order_by_asc(order::Column::Id)
            .limit(500);
        orders_with_lines(&self.db, select).await
    }
}
