//! Sign-in sessions: refresh tokens, rotated on every use, revoked by family.

use chrono::{DateTime, Utc};
use domain::UserId;
use domain::ports::{NewRefreshToken, RepoError, Rotation, SessionRepository};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::codec::to_micros;
use crate::entity::refresh_token;
use crate::store::{Store, storage};

fn row(token: &NewRefreshToken) -> refresh_token::ActiveModel {
    refresh_token::ActiveModel {
        token_hash: Set(token.hash.clone()),
        user_id: Set(token.user_id.0),
        family: Set(token.family.clone()),
        expires_at: Set(to_micros(token.expires_at)),
        issued_at: Set(to_micros(token.issued_at)),
        spent_at: Set(None),
        revoked_at: Set(None),
    }
}

async fn revoke_family<C: sea_orm::ConnectionTrait>(
    conn: &C,
    family: &str,
    now: i64,
) -> Result<(), RepoError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::Family.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await
        .map_err(storage)?;
    Ok(())
}

impl SessionRepository for Store {
    async fn store_refresh_token(&self, token: NewRefreshToken) -> Result<(), RepoError> {
        let txn = self.begin_write().await?;
        row(&token).insert(&txn).await.map_err(storage)?;
        txn.commit().await
    }

    async fn rotate_refresh_token(
        &self,
        old: &str,
        new: NewRefreshToken,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<Rotation, RepoError> {
        let now_us = to_micros(now);
        let txn = self.begin_write().await?;
        let Some(current) = refresh_token::Entity::find_by_id(old.to_owned())
            .one(&txn)
            .await
            .map_err(storage)?
        else {
            txn.rollback().await?;
            return Ok(Rotation::Unknown);
        };
        if current.revoked_at.is_some() {
            txn.rollback().await?;
            return Ok(Rotation::Revoked);
        }
        if current.expires_at <= now_us {
            txn.rollback().await?;
            return Ok(Rotation::Expired);
        }
        let spent = if current.spent_at.is_none() {
            // Conditional on still being unspent: of two concurrent uses, one spends it.
            refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::SpentAt, Expr::value(now_us))
                .filter(refresh_token::Column::TokenHash.eq(old))
                .filter(refresh_token::Column::SpentAt.is_null())
                .exec(&txn)
                .await
                .map_err(storage)?
                .rows_affected
                == 1
        } else {
            false
        };
        if !spent {
            let spent_at = refresh_token::Entity::find_by_id(old.to_owned())
                .one(&txn)
                .await
                .map_err(storage)?
                .and_then(|t| {
                    if t.revoked_at.is_some() {
                        None
                    } else {
                        t.spent_at
                    }
                });
            let retry =
                spent_at.is_some_and(|at| now_us - at <= grace.num_microseconds().unwrap_or(0));
            if !retry {
                // A spent token presented again long after: a copy is in someone else's hands.
                revoke_family(&txn, &current.family, now_us).await?;
                txn.commit().await?;
                return Ok(Rotation::Reused);
            }
            // A retry after a lost answer: the successor the client never received is void.
            refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::RevokedAt, Expr::value(now_us))
                .filter(refresh_token::Column::Family.eq(current.family.as_str()))
                .filter(refresh_token::Column::SpentAt.is_null())
                .filter(refresh_token::Column::RevokedAt.is_null())
                .exec(&txn)
                .await
                .map_err(storage)?;
        }
        let successor = NewRefreshToken {
            family: current.family.clone(),
            user_id: UserId(current.user_id),
            ..new
        };
        row(&successor).insert(&txn).await.map_err(storage)?;
        txn.commit().await?;
        Ok(Rotation::Rotated {
            user_id: UserId(current.user_id),
        })
    }

    async fn revoke_session(&self, hash: &str, now: DateTime<Utc>) -> Result<bool, RepoError> {
        let Some(token) = refresh_token::Entity::find_by_id(hash.to_owned())
            .one(&self.db)
            .await
            .map_err(storage)?
        else {
            return Ok(false);
        };
        let txn = self.begin_write().await?;
        revoke_family(&txn, &token.family, to_micros(now)).await?;
        txn.commit().await?;
        Ok(true)
    }
}
