//! The service layer: authorization and use cases. Resolvers call these and only these; every
//! decision about who may do what is made here or in the domain, never in a resolver.

mod archive;
mod catalog;
mod events;
pub mod limits;
mod orders;
mod sessions;
pub(crate) mod settlement;
mod tracking;

use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{Duration, Utc};
use domain::ports::UserRepository;
use domain::user::{Actor, Email, Ownership, User};
use domain::{CustomerId, UserId};
use persistence::Store;

pub use archive::FollowUp;
pub use events::{EventHub, Received, Route, Subscription, spawn_dispatcher};
pub use orders::{CreateOrder, DraftPatch};
pub use sessions::Session;
pub use settlement::{CollectionItem, InvoiceRequest, PaymentInput, Settled, line_no};
pub use tracking::{
    ChangePreview, ExceptionInput, TimelineItem, Tracked, event_summary, shipment_lines,
};

use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::loaders::Loaders;
use crate::http::auth::{Auth, JwtKeys};

/// Everything a request needs, shared by all requests.
#[derive(Clone)]
pub struct Services {
    /// Storage.
    pub store: Store,
    /// Token keys.
    pub jwt: Arc<JwtKeys>,
    /// Live events.
    pub hub: EventHub,
    /// Lifetime of access tokens.
    pub token_ttl: Duration,
    /// Lifetime of refresh tokens (of one sign-in session without use).
    pub refresh_ttl: Duration,
    /// How long after its use a refresh token may be presented again as a retry.
    pub refresh_grace: Duration,
    /// Rate limits and sign-in lockout.
    pub limits: Arc<limits::Limits>,
    /// Counters for `/metrics`.
    pub metrics: Arc<crate::http::metrics::Metrics>,
    /// Review rule severities and minimum amounts (`--review-config`).
    pub review_policy: Arc<domain::review::ReviewPolicy>,
    /// Days without contact after which an active order shows up in its rep's follow-ups.
    pub stale_order_days: u32,
    /// Turns for the storage read that opens a subscription ([`FEED_CHECKS_AT_ONCE`]).
    pub feed_checks: Arc<tokio::sync::Semaphore>,
}

/// Subscriptions whose access check may read storage at once. When every mobile client
/// reconnects together (an instance restarted), thousands of subscribes arrive in a second; each
/// would build its statement and wait for a connection with it, about 15 KiB apiece, and the
/// allocator keeps that peak as the idle connections' memory afterwards. Waiting for a turn
/// first costs nothing: the statements run one connection's worth at a time anyway.
pub const FEED_CHECKS_AT_ONCE: usize = 32;

impl Services {
    /// The authenticated actor, or `UNAUTHENTICATED`.
    pub fn actor(auth: &Auth) -> ApiResult<Actor> {
        match auth {
            Auth::User(actor) => Ok(*actor),
            Auth::Anonymous => Err(ApiError::Unauthenticated(
                "sign in: send `Authorization: Bearer <token>` (see the `login` mutation)".into(),
            )),
            Auth::Invalid(reason) => Err(ApiError::Unauthenticated(reason.clone())),
        }
    }

    /// Exchanges e-mail and password for an access token and a refresh token (a new session).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> ApiResult<Session> {
        self.limits.login_attempt(email, client).map_err(|retry| {
            ApiError::LimitExceeded(format!(
                "too many sign-in attempts; try again in {} s",
                retry.0.as_secs().max(1)
            ))
        })?;
        let refused = || ApiError::Unauthenticated("wrong e-mail or password".into());
        let user = match Email::parse(email) {
            Ok(email) => self.store.user_by_email(&email).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        // Unknown users are checked against a dummy hash so timing does not reveal which e-mails exist.
        let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        self.limits.login_result(email, ok && user.is_some());
        let user = user.filter(|_| ok).ok_or_else(refused)?;
        self.start_session(user).await
    }

    /// The caller's own user record.
    pub async fn me(&self, loaders: &Loaders, actor: &Actor) -> ApiResult<User> {
        user(loaders, actor.user_id).await
    }

    /// Who owns a record, with the owning rep's manager (for team visibility).
    pub async fn ownership(
        loaders: &Loaders,
        customer_id: CustomerId,
        rep: UserId,
    ) -> ApiResult<Ownership> {
        let manager = loaders
            .load_one(rep)
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .and_then(|u| u.manager_id);
        Ok(Ownership {
            customer_id,
            sales_rep_id: rep,
            rep_manager_id: manager,
        })
    }
}

/// FORBIDDEN for CUSTOMER users: `what` (plural) is internal to the sales team (costs, margins,
/// findings, interactions, invoicing work...).
pub fn staff_only(actor: &Actor, what: &str) -> ApiResult<()> {
    if actor.role == domain::user::Role::Customer {
        Err(ApiError::Forbidden(format!(
            "{what} are internal to the sales team"
        )))
    } else {
        Ok(())
    }
}

/// The current instant at the precision storage keeps (microseconds), so what a mutation
/// returns is exactly what a later read returns.
pub fn now() -> chrono::DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// Loads a user through the request's loader.
pub async fn user(loaders: &Loaders, id: UserId) -> ApiResult<User> {
    loaders
        .load_one(id)
        .await
        .map_err(|e| ApiError::Internal(e.0))?
        .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))
}

/// Hashes a password with Argon2id and a random salt (PHC string).
///
/// # Errors
/// When hashing fails.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("orderdesk-dummy-password").unwrap_or_default())
}
