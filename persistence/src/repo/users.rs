//! Users.

use chrono::Utc;
use domain::ports::{RepoError, UserRepository};
use domain::user::{Email, NewUser, Role, User};
use domain::{CustomerId, UserId};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::corrupt;
use crate::codec::{PERCENT_SCALE, from_scaled, to_micros, to_scaled};
use crate::entity::user;
use crate::store::{Store, storage, unique};

impl TryFrom<user::Model> for User {
    type Error = RepoError;
    fn try_from(row: user::Model) -> Result<Self, RepoError> {
        Ok(User {
            id: UserId(row.id),
            email: Email::parse(&row.email).map_err(|e| corrupt("user email", e))?,
            name: row.name,
            role: Role::parse(&row.role).map_err(|e| corrupt("user role", e))?,
            manager_id: row.manager_id.map(UserId),
            customer_id: row.customer_id.map(CustomerId),
            discount_authority: from_scaled(row.discount_authority_bp, PERCENT_SCALE),
            password_hash: row.password_hash,
        })
    }
}

impl UserRepository for Store {
    async fn create_user(&self, new: NewUser) -> Result<User, RepoError> {
        let txn = self.begin_write().await?;
        let row = user::ActiveModel {
            email: Set(new.email.as_str().to_owned()),
            name: Set(new.name.trim().to_owned()),
            role: Set(new.role.as_str().to_owned()),
            manager_id: Set(new.manager_id.map(UserId::get)),
            customer_id: Set(new.customer_id.map(CustomerId::get)),
            discount_authority_bp: Set(to_scaled(new.discount_authority, PERCENT_SCALE)?),
            password_hash: Set(new.password_hash),
            created_at: Set(to_micros(Utc::now())),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(unique("email", new.email.as_str()))?;
        txn.commit().await?;
        row.try_into()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(User::try_from)
            .transpose()
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let select = user::Entity::find().filter(user::Column::Id.is_in(ids.iter().map(|id| id.0)));
        self.models(select, super::rows::user_columns)
            .await?
            .into_iter()
            .map(User::try_from)
            .collect()
    }
}
