//! Sign-in sessions: short-lived access tokens (JWT) and long-lived refresh tokens, rotated on
//! every use. A mobile client that lost the answer may retry within a grace period; a token
//! replayed later ends the whole session (someone else holds a copy). Sign-out revokes it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use domain::ports::{NewRefreshToken, Rotation, SessionRepository};
use domain::user::User;
use sha2::{Digest, Sha256};

use super::{Services, now};
use crate::graphql::error::{ApiError, ApiResult};

/// What a client keeps after signing in or refreshing.
#[derive(Clone, Debug)]
pub struct Session {
    /// Bearer token for requests.
    pub access_token: String,
    /// When the access token stops working.
    pub access_expires_at: DateTime<Utc>,
    /// Single-use token to get the next pair.
    pub refresh_token: String,
    /// When the refresh token stops working.
    pub refresh_expires_at: DateTime<Utc>,
    /// Who.
    pub user: User,
}

/// 256 random bits, URL-safe.
fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Only this hash is stored: a database leak does not leak usable tokens.
fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Services {
    /// Opens a session for a signed-in user.
    pub(super) async fn start_session(&self, user: User) -> ApiResult<Session> {
        let issued = now();
        let refresh = new_secret();
        let refresh_expires_at = issued + self.refresh_ttl;
        self.store
            .store_refresh_token(NewRefreshToken {
                hash: hash(&refresh),
                user_id: user.id,
                family: hash(&new_secret()),
                expires_at: refresh_expires_at,
                issued_at: issued,
            })
            .await?;
        self.session(user, issued, refresh, refresh_expires_at)
    }

    /// A fresh access token next to a refresh token.
    fn session(
        &self,
        user: User,
        issued: DateTime<Utc>,
        refresh_token: String,
        refresh_expires_at: DateTime<Utc>,
    ) -> ApiResult<Session> {
        let (access_token, access_expires_at) = self
            .jwt
            .issue(&user, self.token_ttl, issued)
            .map_err(ApiError::Internal)?;
        Ok(Session {
            access_token,
            access_expires_at,
            refresh_token,
            refresh_expires_at,
            user,
        })
    }

    /// Trades a refresh token for a new access token and a new refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> ApiResult<Session> {
        let issued = now();
        let next = new_secret();
        let refresh_expires_at = issued + self.refresh_ttl;
        let rotation = self
            .store
            .rotate_refresh_token(
                &hash(refresh_token.trim()),
                NewRefreshToken {
                    hash: hash(&next),
                    user_id: domain::UserId(0),
                    family: String::new(),
                    expires_at: refresh_expires_at,
                    issued_at: issued,
                },
                issued,
                self.refresh_grace,
            )
            .await?;
        let user_id = match rotation {
            Rotation::Rotated { user_id } => user_id,
            Rotation::Reused => {
                tracing::warn!(
                    "a refresh token was replayed after its grace period; its session is revoked"
                );
                return Err(ApiError::Unauthenticated(
                    "this refresh token was already used; sign in again".into(),
                ));
            }
            Rotation::Revoked => {
                return Err(ApiError::Unauthenticated(
                    "this session was ended; sign in again".into(),
                ));
            }
            Rotation::Expired => {
                return Err(ApiError::Unauthenticated(
                    "the session expired; sign in again".into(),
                ));
            }
            Rotation::Unknown => {
                return Err(ApiError::Unauthenticated(
                    "unknown refresh token; sign in again".into(),
                ));
            }
        };
        let user = domain::ports::UserRepository::users_by_ids(&self.store, &[user_id])
            .await?
            .pop()
            .ok_or_else(|| ApiError::Unauthenticated("the account no longer exists".into()))?;
        self.session(user, issued, next, refresh_expires_at)
    }

    /// Ends the session a refresh token belongs to. Unknown tokens are fine (already signed out).
    pub async fn logout(&self, refresh_token: &str) -> ApiResult<bool> {
        Ok(self
            .store
            .revoke_session(&hash(refresh_token.trim()), now())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashes_are_stable_hex() {
        assert_ne!(new_secret(), new_secret());
        assert_eq!(hash("a"), hash("a"));
        assert_eq!(hash("a").len(), 64);
        assert_ne!(hash("a"), hash("b"));
    }
}
