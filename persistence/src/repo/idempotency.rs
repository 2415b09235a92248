//! Idempotency keys: a change made with a key is stored with it, in the change's own transaction,
//! so a retry finds what the first attempt created instead of creating it again.

use chrono::Utc;
use domain::ports::{IdempotencyClaim, RepoError};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, SqlErr};

use crate::codec::to_micros;
use crate::entity::idempotency_key;
use crate::store::storage;

/// The id of what an earlier use of the claim's key created, or `None` when the key is new. A
/// key used before for another operation, or with other input, is `IdempotencyMismatch`: the
/// client reused a key by mistake, and answering with the earlier result would be wrong.
pub(super) async fn previous_result<C: ConnectionTrait>(
    conn: &C,
    claim: &IdempotencyClaim,
    operation: &str,
) -> Result<Option<i64>, RepoError> {
    let Some(previous) = idempotency_key::Entity::find_by_id((claim.user_id.0, claim.key.clone()))
        .one(conn)
        .await
        .map_err(storage)?
    else {
        return Ok(None);
    };
    if previous.operation != operation || previous.fingerprint != claim.fingerprint {
        return Err(RepoError::IdempotencyMismatch(claim.key.clone()));
    }
    Ok(Some(previous.result_id))
}

/// Stores the claim's key with what the change created. A concurrent first use of the same key
/// loses on the primary key: `Duplicate`, and the caller retries, which then replays.
pub(super) async fn record<C: ConnectionTrait>(
    conn: &C,
    claim: &IdempotencyClaim,
    operation: &str,
    result_id: i64,
) -> Result<(), RepoError> {
    idempotency_key::ActiveModel {
        user_id: Set(claim.user_id.0),
        key: Set(claim.key.clone()),
        operation: Set(operation.to_owned()),
        fingerprint: Set(claim.fingerprint.clone()),
        result_id: Set(result_id),
        created_at: Set(to_micros(Utc::now())),
    }
    .insert(conn)
    .await
    .map_err(|err| match crate::store::sql_err(&err) {
        Some(SqlErr::UniqueConstraintViolation(_)) => RepoError::Duplicate {
            field: "idempotencyKey",
            value: claim.key.clone(),
        },
        _ => storage(err),
    })?;
    Ok(())
}
