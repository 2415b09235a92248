//! Cross-instance wake-ups. Every transaction that appends events on PostgreSQL also sends
//! `NOTIFY orderdesk_events, '<last seq>'`; each instance listens and wakes its dispatcher.
//! NOTIFY is not stored, is lost when nobody listens, and is capped at 8000 bytes, so it only
//! ever says "read the log": a lost one delays delivery until the dispatcher's next poll.

use std::time::Duration;

use sea_orm::DbBackend;
use sea_orm::sqlx::postgres::PgListener;

use crate::store::Store;

/// The channel events are announced on.
pub const CHANNEL: &str = "orderdesk_events";

impl Store {
    /// Runs until the process ends, calling `wake` whenever some instance commits events.
    /// Returns at once on SQLite, where writers wake the dispatcher in-process. Connection losses
    /// are retried with a backoff (the dispatcher's polling covers the gap).
    pub async fn listen_for_events(&self, wake: impl Fn() + Send + Sync) {
        if self.backend() != DbBackend::Postgres {
            return;
        }
        let pool = self.db.get_postgres_connection_pool().clone();
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(%err, "cannot open the event listener; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            if let Err(err) = listener.listen(CHANNEL).await {
                tracing::warn!(%err, "cannot LISTEN for events; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
            backoff = Duration::from_millis(100);
            // Events committed while not listening are found by reading the log now.
            wake();
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => wake(),
                    // The connection dropped; try_recv reconnects on the next call, and
                    // whatever was announced meanwhile is in the log.
                    Ok(None) => wake(),
                    Err(err) => {
                        tracing::warn!(%err, "event listener failed; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}
