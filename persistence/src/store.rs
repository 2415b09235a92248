//! The connection pool and transaction helpers shared by every repository.

use std::sync::Arc;
use std::time::Duration;

use domain::ports::RepoError;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqlErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::migration::Migrator;

/// Pool and tuning options.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Maximum pooled connections.
    pub max_connections: u32,
    /// How long a SQLite writer waits for the lock before failing.
    pub busy_timeout: Duration,
    /// How long to wait for a pooled connection.
    pub acquire_timeout: Duration,
    /// SQLite `synchronous=FULL` (durable on power loss) instead of NORMAL.
    pub sqlite_synchronous_full: bool,
    /// PostgreSQL aborts any statement running longer than this.
    pub statement_timeout: Option<Duration>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(10),
            sqlite_synchronous_full: true,
            statement_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// The storage adapter: implements every repository port of `domain::ports`.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    /// SQLite only: one write transaction at a time, queued here (see [`Store::begin_write`]).
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// Held for the life of a write transaction: the turn of this transaction at SQLite's one
/// writer lock. Declare it after the transaction so an early return drops both together.
#[must_use = "the transaction loses its turn when the gate is dropped"]
pub(crate) struct WriteGate(#[allow(dead_code)] Option<tokio::sync::OwnedMutexGuard<()>>);

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://...`). SQLite files are created if
    /// missing and run in WAL mode with a busy timeout.
    ///
    /// # Errors
    /// `RepoError::Storage` when the database cannot be reached.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, RepoError> {
        let mut connect = ConnectOptions::new(url.to_owned());
        connect
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .sqlx_logging(false);
        if url.starts_with("sqlite:") {
            // The pool's default pings every connection it hands out: for SQLite a round trip
            // through the connection's worker thread before every statement, about as costly
            // as the statement itself. A local file cannot drop an idle connection.
            // (PostgreSQL keeps the ping: a network connection can die quietly, and a request
            // should not be the one to find out.)
            connect.test_before_acquire(false);
        }
        if let Some(timeout) = options.statement_timeout {
            connect.statement_timeout(timeout);
        }
        let busy = options.busy_timeout;
        let synchronous = if options.sqlite_synchronous_full {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        };
        connect.map_sqlx_sqlite_opts(move |opts| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(busy)
                .foreign_keys(true)
        });
        let db = Database::connect(connect).await.map_err(storage)?;
        let write_gate = (db.get_database_backend() == DbBackend::Sqlite)
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Self { db, write_gate })
    }

    /// Applies pending migrations.
    ///
    /// # Errors
    /// `RepoError::Storage` when a migration fails.
    pub async fn migrate(&self) -> Result<(), RepoError> {
        Migrator::up(&self.db, None).await.map_err(storage)
    }

    /// Reverts the last `n` applied migrations (each one's `down`): rolling a release back, or
    /// checking that a migration's backfill agrees with what the code maintains.
    ///
    /// # Errors
    /// `RepoError::Storage` when a migration fails.
    pub async fn revert_migrations(&self, n: u32) -> Result<(), RepoError> {
        Migrator::down(&self.db, Some(n)).await.map_err(storage)
    }

    /// Number of migrations not applied yet.
    ///
    /// # Errors
    /// `RepoError::Storage` when the database cannot be read.
    pub async fn pending_migrations(&self) -> Result<usize, RepoError> {
        Ok(Migrator::get_pending_migrations(&self.db)
            .await
            .map_err(storage)?
            .len())
    }

    /// A cheap round trip, for readiness checks.
    ///
    /// # Errors
    /// `RepoError::Storage` when the database does not answer.
    pub async fn ping(&self) -> Result<(), RepoError> {
        self.db.ping().await.map_err(storage)
    }

    /// Connections the pool holds open, and how many of them are idle.
    #[must_use]
    pub fn pool_stats(&self) -> (u32, u32) {
        match self.backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                )
            }
            DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                )
            }
            _ => (0, 0),
        }
    }

    /// Which database this is.
    #[must_use]
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Calls `callback` with the SQL of every statement executed (for tests and metrics).
    pub fn on_statement(&mut self, callback: impl Fn(&str) + Send + Sync + 'static) {
        let callback = Arc::new(callback);
        self.db
            .set_metric_callback(move |info| callback(&info.statement.sql));
    }

    /// Closes the pool.
    pub async fn close(self) {
        let _ = self.db.close().await;
    }

    /// Starts a write transaction; keep the gate until it commits or rolls back.
    ///
    /// On SQLite it is `BEGIN IMMEDIATE` (a deferred transaction that reads then writes fails
    /// with SQLITE_BUSY at once instead of waiting for the lock), and writers of this process
    /// take turns at an async mutex first: SQLite has one writer lock, and contenders waiting in
    /// its busy handler sleep in steps of up to 100 ms, so a burst of concurrent writes would
    /// spend most of its time asleep with the lock free. Queued here, the next writer starts
    /// the moment the previous one commits, in arrival order. (Other processes on the same file
    /// still meet the busy timeout.) PostgreSQL has row locks and needs no turns.
    pub(crate) async fn begin_write(&self) -> Result<(DatabaseTransaction, WriteGate), RepoError> {
        let turn = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(storage)?;
        Ok((txn, WriteGate(turn)))
    }
}

/// Maps a database error to the opaque storage error (logged by the API, never shown).
pub(crate) fn storage(err: DbErr) -> RepoError {
    RepoError::Storage(err.to_string())
}

/// Maps a unique violation to `Duplicate`, anything else to `Storage`.
pub(crate) fn unique<'a>(field: &'static str, value: &'a str) -> impl Fn(DbErr) -> RepoError + 'a {
    move |err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => RepoError::Duplicate {
            field,
            value: value.to_owned(),
        },
        _ => storage(err),
    }
}
