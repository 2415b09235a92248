//! Hot reads of a SQLite file on the caller's own thread.
//!
//! sqlx-sqlite runs every statement on its connection's worker thread: the request's task
//! sends the statement over, sleeps, and is woken with the rows, which cross one by one through
//! a channel, each column copied on its own (`sqlite3_value_dup`, a malloc each). For a one-row
//! read by primary key that round trip (two thread switches and their wake-ups, on a server
//! whose threads share a core) costs about as much as the statement; for a page of orders the
//! copies cost more than the query. The hot reads (an order with its parties, pages of orders,
//! customers and users by id, pages of the event log) are made here instead: on read-only
//! connections of the same file, synchronously, in the calling task. Each is bounded by a page
//! or a batch and takes microseconds to a few hundred, so holding the async worker for it
//! costs about what the hops cost it before.
//!
//! Rows are decoded by position into the same sea-orm models sqlx fills, so everything after
//! the read is shared. Anything unexpected (a busy lock, a value of another type) is an error
//! the caller answers by reading through sqlx instead.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::repo::TeamShape;

/// Connections kept open between reads. Reads are synchronous, so at most one per thread that
/// calls in is ever taken at once: a few cover the async workers.
const IDLE: usize = 8;

/// Prepared statements each connection keeps, as sqlx-sqlite's default cache does.
const STATEMENTS: usize = 100;

/// Why an inline read could not answer; the caller reads through sqlx instead.
#[derive(Debug, thiserror::Error)]
#[error("sqlite: {0}")]
pub(crate) struct InlineError(#[from] rusqlite::Error);

/// Read-only connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    answered: AtomicU64,
    failed: AtomicU64,
    /// SQL texts of team pages by shape (see `Store::team_page_inline`).
    team_pages: Mutex<HashMap<TeamShape, Arc<str>>>,
}

/// Team page shapes remembered at most: a few per manager's filter in use; more means
/// one-off filters, and the map starts again.
const TEAM_PAGES: usize = 64;

impl InlineReads {
    /// Reads of the database file at `path` (which the store's own pool has opened in WAL mode).
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            answered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            team_pages: Mutex::default(),
        }
    }

    /// The SQL text remembered for a team page of this shape.
    pub(crate) fn remembered_sql(&self, shape: &TeamShape) -> Option<Arc<str>> {
        let texts = self.team_pages.lock().unwrap_or_else(|e| e.into_inner());
        texts.get(shape).cloned()
    }

    /// Remembers the SQL text of a team page of this shape.
    pub(crate) fn remember_sql(&self, shape: TeamShape, sql: Arc<str>) {
        let mut texts = self.team_pages.lock().unwrap_or_else(|e| e.into_inner());
        if texts.len() >= TEAM_PAGES {
            texts.clear();
        }
        texts.insert(shape, sql);
    }

    /// Reads answered here, and reads that failed here (and went through sqlx instead).
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.answered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// Every row `sql` finds with `params`, each decoded by `decode`.
    pub(crate) fn all<T>(
        &self,
        sql: &str,
        params: &[rusqlite::types::Value],
        mut decode: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, InlineError> {
        self.counted(self.take().and_then(|connection| {
            let rows = (|| {
                let mut statement = connection.prepare_cached(sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(params))?;
                let mut decoded = Vec::new();
                while let Some(row) = rows.next()? {
                    decoded.push(decode(row)?);
                }
                Ok(decoded)
            })();
            // A connection whose statement failed is still sound: SQLite resets the statement.
            self.give_back(connection);
            rows
        }))
    }

    fn counted<T>(&self, result: rusqlite::Result<T>) -> Result<T, InlineError> {
        let counter = if result.is_ok() {
            &self.answered
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(result?)
    }

    fn take(&self) -> rusqlite::Result<rusqlite::Connection> {
        if let Some(connection) = self.lock().pop() {
            return Ok(connection);
        }
        use rusqlite::OpenFlags;
        let connection = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // No waiting on a lock while holding an async worker: a busy file (WAL recovery, a
        // checkpoint restarting the log) is read through sqlx instead, where waiting is cheap.
        connection.busy_timeout(std::time::Duration::ZERO)?;
        // Pages differ in their text by filter and team size; keep as many prepared as sqlx's
        // own statement cache does (the default, 16, would re-plan a busy mix of them).
        connection.set_prepared_statement_cache_capacity(STATEMENTS);
        Ok(connection)
    }

    fn give_back(&self, connection: rusqlite::Connection) {
        let mut idle = self.lock();
        if idle.len() < IDLE {
            idle.push(connection);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<rusqlite::Connection>> {
        // A panic while holding the lock leaves a list of closed-over connections: still usable.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A statement's bound values as SQLite values, as sqlx would bind them; `None` if one is of a
/// type this reader does not bind (then sqlx runs the statement).
pub(crate) fn params(values: &sea_orm::Values) -> Option<Vec<rusqlite::types::Value>> {
    use rusqlite::types::Value as Sqlite;
    use sea_orm::Value;
    values
        .0
        .iter()
        .map(|value| {
            Some(match value {
                Value::Bool(v) => v.map_or(Sqlite::Null, |v| Sqlite::Integer(i64::from(v))),
                Value::TinyInt(v) => v.map_or(Sqlite::Null, |v| Sqlite::Integer(i64::from(v))),
                Value::SmallInt(v) => v.map_or(Sqlite::Null, |v| Sqlite::Integer(i64::from(v))),
                Value::Int(v) => v.map_or(Sqlite::Null, |v| Sqlite::Integer(i64::from(v))),
                Value::BigInt(v) => v.map_or(Sqlite::Null, Sqlite::Integer),
                Value::TinyUnsigned(v) => v.map_or(Sqlite::Null, |v| Sqlite::Integer(i64::from(v))),
                Value::SmallUnsigned(v) => {
                    v.map_or(Sqlite::Null, |v| Sqlite::Integer(i64::from(v)))
                }
                Value::Unsigned(v) => v.map_or(Sqlite::Null, |v| Sqlite::Integer(i64::from(v))),
                Value::BigUnsigned(v) => match v {
                    Some(v) => Sqlite::Integer(i64::try_from(*v).ok()?),
                    None => Sqlite::Null,
                },
                Value::String(v) => v.clone().map_or(Sqlite::Null, Sqlite::Text),
                // sqlx binds a date as ISO 8601 text.
                Value::ChronoDate(v) => {
                    v.map_or(Sqlite::Null, |v| Sqlite::Text(v.format("%F").to_string()))
                }
                _ => return None,
            })
        })
        .collect()
}
