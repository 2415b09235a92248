//! The connection pool and transaction helpers shared by every repository.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use domain::ports::RepoError;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, SqlErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tokio::sync::watch;

use crate::inline::InlineReads;
use crate::inline_write::InlineWriter;
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
    /// SQLite files: the hot reads on the caller's thread (see `inline.rs`) instead of through
    /// sqlx's connection worker.
    pub sqlite_inline_reads: bool,
    /// SQLite files: the shared write transaction's statements on the writer's thread (see
    /// `inline_write.rs`) instead of through sqlx's connection worker.
    pub sqlite_inline_writes: bool,
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
            sqlite_inline_reads: true,
            sqlite_inline_writes: true,
            statement_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// The storage adapter: implements every repository port of `domain::ports`.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    /// SQLite only: writers queue here for the shared transaction (see [`Store::begin_write`]).
    write_queue: Option<WriteQueue>,
    /// SQLite files only: the hot reads on the caller's thread (see [`crate::inline`]).
    pub(crate) inline: Option<Arc<InlineReads>>,
    /// SQLite files only: the connection that holds the write batch (see [`crate::inline_write`]);
    /// without it the batch is a sqlx transaction.
    writer: Option<Arc<InlineWriter>>,
}

/// The file of a SQLite database (none for an in-memory one), as SQLite itself resolved it.
async fn database_file(db: &DatabaseConnection) -> Result<Option<PathBuf>, RepoError> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA database_list",
        ))
        .await
        .map_err(storage)?;
    for row in rows {
        let name: String = row.try_get("", "name").map_err(storage)?;
        let file: String = row.try_get("", "file").map_err(storage)?;
        if name == "main" && !file.is_empty() {
            return Ok(Some(PathBuf::from(file)));
        }
    }
    Ok(None)
}

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
            crate::sqlite_alloc::install();
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
                // A statement's rows cross from the connection's worker thread through a
                // bounded channel (50 by default): a page of orders' lines (hundreds of rows)
                // stalled the worker on a full channel again and again, a futex sleep and wake
                // each time. Room for a large page lets the worker run through.
                .row_buffer_size(1024)
        });
        let db = Database::connect(connect).await.map_err(storage)?;
        let sqlite = db.get_database_backend() == DbBackend::Sqlite;
        let write_queue = sqlite.then(|| Arc::new(tokio::sync::Mutex::new(None)));
        let file = if sqlite {
            database_file(&db).await?
        } else {
            None
        };
        let inline = file
            .clone()
            .filter(|_| options.sqlite_inline_reads)
            .map(|path| Arc::new(InlineReads::new(path)));
        let writer = match file.filter(|_| options.sqlite_inline_writes) {
            Some(path) => Some(Arc::new(
                InlineWriter::open(&path, options.sqlite_synchronous_full, busy)
                    .map_err(storage)?,
            )),
            None => None,
        };
        Ok(Self {
            db,
            write_queue,
            inline,
            writer,
        })
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

    /// SQLite files: how many reads (orders, customers, users, products, teams) were answered on
    /// the caller's thread, and how many failed there and went through sqlx instead (a busy
    /// file, say). `None` when this store makes no such reads.
    #[must_use]
    pub fn inline_reads(&self) -> Option<(u64, u64)> {
        self.inline.as_ref().map(|inline| inline.counts())
    }

    /// SQLite files: how many statements (batches' BEGIN and COMMIT included) ran on the
    /// writer's own thread. `None` when writes go through sqlx.
    #[must_use]
    pub fn inline_write_statements(&self) -> Option<u64> {
        self.writer.as_ref().map(|writer| writer.statements())
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

    /// Starts a write transaction: run its statements on it, then [`WriteTxn::commit`] (or
    /// [`WriteTxn::rollback`]; dropping it rolls back).
    ///
    /// PostgreSQL has row locks: each write is its own transaction. SQLite has one writer
    /// lock and pays an fsync per commit (`synchronous=FULL`), so writers of this process
    /// share commits instead (group commit): the first writer to find no open transaction
    /// begins one (`BEGIN IMMEDIATE`) and queues its closing behind the writers waiting at
    /// that moment. Each writer in turn runs its statements inside a savepoint of that
    /// transaction, so a writer that fails or rolls back undoes only its own changes. The
    /// closing commits them all with one fsync, and only then does each writer's `commit`
    /// return: nothing is reported stored before it is durable. With no other writer waiting
    /// the transaction closes as soon as its one writer is done.
    ///
    /// On a SQLite file the batch's transaction is held by a rusqlite connection, and each
    /// writer runs its statements on its own thread (see [`crate::inline_write`]); otherwise
    /// it is a sqlx transaction.
    ///
    /// Writers take turns at an async mutex, in arrival order. Waiting in SQLite's busy
    /// handler instead sleeps in steps of up to 100 ms while the lock may already be free.
    /// (Other processes on the same file still meet the busy timeout.)
    pub(crate) async fn begin_write(&self) -> Result<WriteTxn, RepoError> {
        let Some(queue) = &self.write_queue else {
            let txn = self.db.begin().await.map_err(storage)?;
            return Ok(WriteTxn {
                txn: Txn::Sqlx(txn),
                turn: None,
            });
        };
        let mut turn = Arc::clone(queue).lock_owned().await;
        let batch = match turn.as_mut() {
            Some(batch) => batch,
            None => {
                let txn = match &self.writer {
                    Some(writer) => {
                        writer.begin().await.map_err(storage)?;
                        BatchTxn::Inline(Arc::clone(writer))
                    }
                    None => BatchTxn::Sqlx(
                        self.db
                            .begin_with_options(TransactionOptions {
                                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                                ..TransactionOptions::default()
                            })
                            .await
                            .map_err(storage)?,
                    ),
                };
                // Spawned, so a writer that goes away cannot leave the transaction open. The
                // mutex is fair: the closing runs after every writer queued before it.
                tokio::spawn(close_batch(Arc::clone(queue)));
                turn.insert(Batch {
                    txn,
                    committed: watch::channel(None).0,
                })
            }
        };
        let txn = match &batch.txn {
            BatchTxn::Sqlx(txn) => Txn::Sqlx(txn.begin().await.map_err(storage)?),
            BatchTxn::Inline(writer) => {
                writer.savepoint().map_err(storage)?;
                Txn::Inline(Savepoint {
                    writer: Arc::clone(writer),
                    open: true,
                })
            }
        };
        let committed = batch.committed.subscribe();
        Ok(WriteTxn {
            txn,
            turn: Some(Turn { turn, committed }),
        })
    }
}

/// SQLite's shared write transaction and the news of its commit.
#[derive(Debug)]
struct Batch {
    txn: BatchTxn,
    /// `None` until the batch is closed; then whether its commit succeeded.
    committed: watch::Sender<Option<Result<(), String>>>,
}

/// Where the batch's transaction runs.
#[derive(Debug)]
enum BatchTxn {
    Sqlx(DatabaseTransaction),
    Inline(Arc<InlineWriter>),
}

/// The queue at SQLite's writer lock, holding the open batch if there is one.
type WriteQueue = Arc<tokio::sync::Mutex<Option<Batch>>>;

/// Commits the open batch once every writer queued before this call has had its turn.
async fn close_batch(queue: WriteQueue) {
    // The turn is held through the commit: the next batch's `BEGIN IMMEDIATE` would otherwise
    // meet the lock still taken and sleep in SQLite's busy handler.
    let mut turn = queue.lock_owned().await;
    let Some(batch) = turn.take() else {
        return;
    };
    let result = match batch.txn {
        BatchTxn::Sqlx(txn) => txn.commit().await,
        BatchTxn::Inline(writer) => writer.commit().await,
    }
    .map_err(|err| err.to_string());
    batch.committed.send_replace(Some(result));
}

/// A writer's turn in the open SQLite batch.
struct Turn {
    turn: tokio::sync::OwnedMutexGuard<Option<Batch>>,
    committed: watch::Receiver<Option<Result<(), String>>>,
}

/// One write transaction (see [`Store::begin_write`]): a transaction of its own on
/// PostgreSQL, a savepoint in a shared transaction on SQLite.
pub(crate) struct WriteTxn {
    // Declared first, dropped first: an abandoned savepoint's rollback is queued on the
    // connection (or, inline, made) while this writer still holds its turn.
    txn: Txn,
    turn: Option<Turn>,
}

/// A writer's own transaction: a sqlx transaction (a savepoint inside the batch on SQLite),
/// or a savepoint of the inline writer's batch.
enum Txn {
    Sqlx(DatabaseTransaction),
    Inline(Savepoint),
}

/// A writer's savepoint on the inline writer; rolled back if dropped open.
struct Savepoint {
    writer: Arc<InlineWriter>,
    open: bool,
}

impl Savepoint {
    fn close(mut self, keep: bool) -> Result<(), DbErr> {
        self.open = false;
        if keep {
            let released = self.writer.release();
            if released.is_err() {
                // A writer told it failed must leave nothing behind for the batch to commit.
                let _ = self.writer.rollback_to();
            }
            released
        } else {
            self.writer.rollback_to()
        }
    }
}

impl Drop for Savepoint {
    fn drop(&mut self) {
        if self.open {
            // Nothing to tell: if even this fails, the batch's commit fails and says so.
            let _ = self.writer.rollback_to();
        }
    }
}

impl Txn {
    async fn close(self, keep: bool) -> Result<(), DbErr> {
        match (self, keep) {
            (Self::Sqlx(txn), true) => txn.commit().await,
            (Self::Sqlx(txn), false) => txn.rollback().await,
            (Self::Inline(savepoint), keep) => savepoint.close(keep),
        }
    }
}

impl WriteTxn {
    /// Commits, and returns once the changes are durable.
    ///
    /// # Errors
    /// `RepoError::Storage` when the database refuses the commit; on SQLite the whole batch
    /// is then lost, and every writer in it is told so.
    pub(crate) async fn commit(self) -> Result<(), RepoError> {
        let Self { txn, turn } = self;
        txn.close(true).await.map_err(storage)?;
        let Some(Turn {
            turn,
            mut committed,
        }) = turn
        else {
            return Ok(());
        };
        drop(turn);
        let outcome = committed
            .wait_for(Option::is_some)
            .await
            .map_err(|_| RepoError::Storage("the write batch was abandoned".into()))?
            .clone();
        match outcome {
            Some(Err(message)) => Err(RepoError::Storage(message)),
            _ => Ok(()),
        }
    }

    /// Undoes this writer's changes (only its own, on SQLite).
    ///
    /// # Errors
    /// `RepoError::Storage` when the database fails to roll back.
    pub(crate) async fn rollback(self) -> Result<(), RepoError> {
        let Self { txn, turn } = self;
        let rolled_back = txn.close(false).await.map_err(storage);
        drop(turn);
        rolled_back
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        match &self.txn {
            Txn::Sqlx(txn) => txn.get_database_backend(),
            Txn::Inline(_) => DbBackend::Sqlite,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.txn {
            Txn::Sqlx(txn) => txn.execute_raw(stmt).await,
            Txn::Inline(savepoint) => savepoint.writer.execute(stmt),
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.txn {
            Txn::Sqlx(txn) => txn.execute_unprepared(sql).await,
            Txn::Inline(savepoint) => savepoint.writer.unprepared(sql),
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.txn {
            Txn::Sqlx(txn) => txn.query_one_raw(stmt).await,
            Txn::Inline(savepoint) => Ok(savepoint.writer.query(stmt)?.into_iter().next()),
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.txn {
            Txn::Sqlx(txn) => txn.query_all_raw(stmt).await,
            Txn::Inline(savepoint) => savepoint.writer.query(stmt),
        }
    }

    fn support_returning(&self) -> bool {
        match &self.txn {
            Txn::Sqlx(txn) => txn.support_returning(),
            // See `inline_write.rs`: rows are typed by the table they come from.
            Txn::Inline(_) => false,
        }
    }
}

/// Maps a database error to the opaque storage error (logged by the API, never shown).
pub(crate) fn storage(err: DbErr) -> RepoError {
    RepoError::Storage(err.to_string())
}

/// What constraint a failed statement violated, whether it ran through sqlx or inline.
pub(crate) fn sql_err(err: &DbErr) -> Option<SqlErr> {
    err.sql_err().or_else(|| crate::inline_write::sql_err(err))
}

/// Maps a unique violation to `Duplicate`, anything else to `Storage`.
pub(crate) fn unique<'a>(field: &'static str, value: &'a str) -> impl Fn(DbErr) -> RepoError + 'a {
    move |err| match sql_err(&err) {
        Some(SqlErr::UniqueConstraintViolation(_)) => RepoError::Duplicate {
            field,
            value: value.to_owned(),
        },
        _ => storage(err),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
    use tokio::sync::oneshot;

    use super::*;

    /// A store on a fresh SQLite file with a scratch table, and a connection of its own that
    /// sees only what has been committed.
    async fn scratch() -> (tempfile::TempDir, Store, DatabaseConnection) {
        scratch_with(&StoreOptions::default()).await
    }

    async fn scratch_with(
        options: &StoreOptions,
    ) -> (tempfile::TempDir, Store, DatabaseConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("batch.db").display());
        let store = Store::connect(&url, options).await.unwrap();
        store
            .db
            .execute_unprepared("CREATE TABLE items (name TEXT NOT NULL)")
            .await
            .unwrap();
        let outside = Database::connect(url).await.unwrap();
        (dir, store, outside)
    }

    /// A writer's savepoint journal stays in memory: spilled, it is a temporary file created,
    /// written and deleted for every writer whose change touches more than 64 KiB of pages.
    #[tokio::test]
    async fn the_write_batch_journals_savepoints_in_memory() {
        let (_dir, store, _outside) = scratch().await;
        let txn = store.begin_write().await.unwrap();
        let row = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA temp_store",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "temp_store").unwrap(), 2, "MEMORY");
        txn.rollback().await.unwrap();
    }

    #[tokio::test]
    async fn sqlite_allocates_through_the_rust_allocator() {
        let (_dir, store, _outside) = scratch().await;
        assert!(crate::sqlite_alloc::installed());
        // A value SQLite grows by realloc well past any small-block size.
        let row = store
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
                 SELECT length(json_group_array(printf('item %d', i))) AS size FROM n",
            ))
            .await
            .unwrap()
            .unwrap();
        let size: i64 = row.try_get("", "size").unwrap();
        assert!(size > 50_000, "{size}");
    }

    async fn insert(txn: &WriteTxn, name: &str) {
        txn.execute_unprepared(&format!("INSERT INTO items VALUES ('{name}')"))
            .await
            .unwrap();
    }

    async fn names(conn: &DatabaseConnection) -> Vec<String> {
        let rows = conn
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT name FROM items ORDER BY name",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|row| row.try_get::<String>("", "name").unwrap())
            .collect()
    }

    /// Holds of the write queue: the store's own, plus one per writer waiting at or holding
    /// its lock, plus one per batch closing queued or spawned.
    fn holds(store: &Store) -> usize {
        Arc::strong_count(store.write_queue.as_ref().unwrap())
    }

    /// Waits until `n` holds of the write queue exist (a spawned writer has queued).
    async fn until_holds(store: &Store, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while holds(store) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a writer never queued"
            );
            tokio::task::yield_now().await;
        }
    }

    /// Writers queued together share one commit: each is told it committed only once the
    /// shared commit is done, and one that rolls back or goes away undoes only its own rows.
    /// The queue's lock is taken by the test itself first, so the four writers queue behind
    /// it, one at a time and in a known order, before any batch opens.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writers_share_a_commit_and_fail_alone() {
        let (_dir, store, outside) = scratch().await;
        assert!(store.inline_write_statements().is_some());
        share_a_commit_and_fail_alone(store, outside).await;
    }

    /// The same, with the batch a sqlx transaction (`--sqlite-inline-writes off`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writers_share_a_sqlx_commit_and_fail_alone() {
        let (_dir, store, outside) = scratch_with(&StoreOptions {
            sqlite_inline_writes: false,
            ..StoreOptions::default()
        })
        .await;
        assert!(store.inline_write_statements().is_none());
        share_a_commit_and_fail_alone(store, outside).await;
    }

    async fn share_a_commit_and_fail_alone(store: Store, outside: DatabaseConnection) {
        let store = Arc::new(store);
        let held = Arc::clone(store.write_queue.as_ref().unwrap())
            .lock_owned()
            .await;

        let mut inserted = Vec::new();
        let mut go = Vec::new();
        let mut done = Vec::new();
        for name in ["a", "b", "rolled-back", "abandoned"] {
            let (inserted_tx, inserted_rx) = oneshot::channel();
            let (go_tx, go_rx) = oneshot::channel::<()>();
            let writer = Arc::clone(&store);
            let queued = holds(&store) + 1;
            done.push(tokio::spawn(async move {
                let txn = writer.begin_write().await.unwrap();
                insert(&txn, name).await;
                inserted_tx.send(name).unwrap();
                go_rx.await.unwrap();
                match name {
                    "rolled-back" => txn.rollback().await,
                    "abandoned" => std::future::pending().await,
                    _ => txn.commit().await,
                }
            }));
            until_holds(&store, queued).await;
            inserted.push(inserted_rx);
            go.push(go_tx);
        }
        // `a` opens the batch; its closing queues behind the other three.
        drop(held);

        let mut go = go.into_iter();
        let mut inserted = inserted.into_iter();
        assert_eq!(inserted.next().unwrap().await.unwrap(), "a");
        go.next().unwrap().send(()).unwrap();
        assert_eq!(inserted.next().unwrap().await.unwrap(), "b");
        // `a` has released its savepoint but is not told it committed: `b` is still writing in
        // the same transaction, and nothing of either is visible outside.
        assert!(!done[0].is_finished());
        assert!(names(&outside).await.is_empty());
        go.next().unwrap().send(()).unwrap();
        assert_eq!(inserted.next().unwrap().await.unwrap(), "rolled-back");
        go.next().unwrap().send(()).unwrap();
        assert_eq!(inserted.next().unwrap().await.unwrap(), "abandoned");
        assert!(!done[0].is_finished() && !done[1].is_finished());
        done[3].abort();

        let mut done = done.into_iter();
        for _ in 0..3 {
            done.next().unwrap().await.unwrap().unwrap();
        }
        assert!(done.next().unwrap().await.unwrap_err().is_cancelled());
        assert_eq!(names(&outside).await, ["a", "b"]);

        // The queue is free again: a lone writer commits at once.
        let last = store.begin_write().await.unwrap();
        insert(&last, "last").await;
        last.commit().await.unwrap();
        assert_eq!(names(&outside).await, ["a", "b", "last"]);
    }
}
