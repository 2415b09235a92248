//! SQLite's shared write transaction on the caller's own thread.
//!
//! Through sqlx-sqlite every statement is a round trip to its connection's worker thread: two
//! thread switches and their wake-ups. A writer runs all of its statements while it holds the
//! write turn (see [`crate::store::Store::begin_write`]), so those hops cost twice: CPU (a
//! third of `createOrder`'s profile was thread switching, for about ten statements an order)
//! and the length of the turn every other writer waits for. Here the batch's transaction lives
//! on a rusqlite connection of the same file, and each writer runs its statements
//! synchronously in its own task. The write lock is already held, so a statement never waits:
//! it takes microseconds. Only `BEGIN IMMEDIATE` (which may wait for another process's lock)
//! and `COMMIT` (an fsync) run on a blocking thread, once per batch.
//!
//! sea-orm decodes a row by Rust type from sea-query values, and a SQLite value does not say
//! whether its column holds an `i32`, an `i64` or a `bool`, a date or text. A result column
//! that comes straight from a table is typed by that table's entity (SQLite's column metadata
//! names the table and column); a computed one (a count, a `RETURNING` value) by its value.
//! So sea-orm's own `INSERT ... RETURNING` is not used here ([`InlineWriter`] reports no
//! `RETURNING` support): it reads an inserted row back by its key instead, a table read.
//!
//! sea-orm builds its `QueryResult` and `ExecResult` from plain values only for its mock
//! database (its proxy rows would do, but that feature does not compile beside sqlx-sqlite in
//! sea-orm 2.0.4), so each statement's answer is handed to a fresh [`MockDatabase`] and asked
//! back, synchronously. Asked through a `DatabaseConnection`, whose boxed future is several
//! kilobytes copied twice, the answer cost 18,000 instructions a statement: a tenth of a
//! status change.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use rusqlite::types::ValueRef;
use sea_orm::sea_query::{ColumnType, Value};
use sea_orm::{
    ColumnTrait, DbBackend, DbErr, EntityTrait, ExecResult, IdenStatic, Iterable, MockDatabase,
    MockDatabaseTrait, MockExecResult, QueryResult, RuntimeErr, SqlErr, Statement,
};

use crate::entity;

/// Prefix of the message of a failed statement's error: SQLite's extended result code
/// follows, so [`sql_err`] can tell a unique violation from other failures.
const FAILED: &str = "sqlite error ";

/// The connection that holds SQLite's write transaction of this process.
#[derive(Debug)]
pub(crate) struct InlineWriter {
    connection: Mutex<rusqlite::Connection>,
    /// How long `BEGIN IMMEDIATE` waits for another process's lock.
    busy_timeout: Duration,
    statements: AtomicU64,
}

impl InlineWriter {
    /// Opens the database file at `path` (which the store's pool has opened in WAL mode) for
    /// writing, with the pool's durability and foreign key checks.
    pub(crate) fn open(
        path: &Path,
        synchronous_full: bool,
        busy_timeout: Duration,
    ) -> Result<Self, DbErr> {
        let connection = rusqlite::Connection::open(path).map_err(failed)?;
        let synchronous = if synchronous_full { "FULL" } else { "NORMAL" };
        // temp_store = MEMORY keeps each writer's savepoint journal in memory. SQLite otherwise
        // spills it to a temporary file past 64 KiB, and a new order touches more pages than
        // that (the orders table has a dozen indexes): a file created, written and deleted per
        // writer, a fifth of `createOrder`'s CPU. It holds only the pages one writer changes.
        connection
            .execute_batch(&format!(
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous}; \
                 PRAGMA temp_store = MEMORY;"
            ))
            .map_err(failed)?;
        // Statements run holding an async worker: none may sleep on a lock. Inside the batch
        // the lock is ours; only BEGIN waits, on a blocking thread (see `begin`).
        connection.busy_timeout(Duration::ZERO).map_err(failed)?;
        connection.set_prepared_statement_cache_capacity(100);
        Ok(Self {
            connection: Mutex::new(connection),
            busy_timeout,
            statements: AtomicU64::new(0),
        })
    }

    /// Statements run on this connection so far (batches' BEGIN and COMMIT included).
    pub(crate) fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Opens the batch's transaction (`BEGIN IMMEDIATE`: the write lock, now).
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<(), DbErr> {
        let writer = Arc::clone(self);
        blocking(move || {
            let connection = writer.lock();
            // A begin whose caller went away still ran: its transaction holds nothing yet.
            // (Only `begin` opens one, and only when no batch is open.)
            if !connection.is_autocommit() {
                connection.execute_batch("ROLLBACK").map_err(failed)?;
            }
            connection
                .busy_timeout(writer.busy_timeout)
                .map_err(failed)?;
            let begun = connection.execute_batch("BEGIN IMMEDIATE");
            connection.busy_timeout(Duration::ZERO).map_err(failed)?;
            writer.count();
            begun.map_err(failed)
        })
        .await
    }

    /// Commits the batch's transaction (rolls it back if the commit fails).
    pub(crate) async fn commit(self: &Arc<Self>) -> Result<(), DbErr> {
        let writer = Arc::clone(self);
        blocking(move || {
            let connection = writer.lock();
            writer.count();
            let committed = connection.execute_batch("COMMIT").map_err(failed);
            if committed.is_err() && !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            committed
        })
        .await
    }

    /// Starts one writer's savepoint inside the batch.
    pub(crate) fn savepoint(&self) -> Result<(), DbErr> {
        self.unprepared_now("SAVEPOINT writer").map(drop)
    }

    /// Keeps the writer's changes in the batch.
    pub(crate) fn release(&self) -> Result<(), DbErr> {
        self.unprepared_now("RELEASE writer").map(drop)
    }

    /// Undoes the writer's changes, and only those.
    pub(crate) fn rollback_to(&self) -> Result<(), DbErr> {
        self.unprepared_now("ROLLBACK TO writer; RELEASE writer")
            .map(drop)
    }

    /// Runs `sql` as it is, without bound values.
    pub(crate) fn unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let result = self.unprepared_now(sql)?;
        MockDatabase::new(DbBackend::Sqlite)
            .append_exec_results([result])
            .execute(0, Statement::from_string(DbBackend::Sqlite, sql))
    }

    fn unprepared_now(&self, sql: &str) -> Result<MockExecResult, DbErr> {
        let connection = self.lock();
        self.count();
        connection.execute_batch(sql).map_err(failed)?;
        Ok(exec_result(&connection))
    }

    /// Runs a statement that returns no rows.
    pub(crate) fn execute(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        let result = self.execute_now(&statement)?;
        MockDatabase::new(DbBackend::Sqlite)
            .append_exec_results([result])
            .execute(0, statement)
    }

    /// Runs a statement and returns its rows, typed as sea-orm's models expect.
    pub(crate) fn query(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let rows = self.query_now(&statement)?;
        MockDatabase::new(DbBackend::Sqlite)
            .append_query_results([rows])
            .query(0, statement)
    }

    fn execute_now(&self, statement: &Statement) -> Result<MockExecResult, DbErr> {
        let params = params(statement)?;
        let connection = self.lock();
        self.count();
        let mut prepared = connection.prepare_cached(&statement.sql).map_err(failed)?;
        prepared
            .execute(rusqlite::params_from_iter(params))
            .map_err(failed)?;
        Ok(exec_result(&connection))
    }

    fn query_now(&self, statement: &Statement) -> Result<Vec<BTreeMap<String, Value>>, DbErr> {
        let params = params(statement)?;
        let connection = self.lock();
        self.count();
        let mut prepared = connection.prepare_cached(&statement.sql).map_err(failed)?;
        let columns: Vec<(String, Option<Kind>)> = prepared
            .columns_with_metadata()
            .iter()
            .map(|column| {
                let kind = column
                    .table_name()
                    .zip(column.origin_name())
                    .and_then(|(table, name)| kinds().get(table)?.get(name).copied());
                (column.name().to_owned(), kind)
            })
            .collect();
        let mut rows = prepared
            .query(rusqlite::params_from_iter(params))
            .map_err(failed)?;
        let mut results = Vec::new();
        while let Some(row) = rows.next().map_err(failed)? {
            let mut values = BTreeMap::new();
            for (index, (name, kind)) in columns.iter().enumerate() {
                let value = row.get_ref(index).map_err(failed)?;
                // As sqlx finds a name: the first column that has it.
                if !values.contains_key(name) {
                    values.insert(name.clone(), decode(*kind, value, name)?);
                }
            }
            results.push(values);
        }
        Ok(results)
    }

    fn count(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, rusqlite::Connection> {
        // Writers take turns at the store's write queue, so the lock is never contended; a
        // panic in a statement leaves a connection SQLite has already reset.
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs `work` on tokio's blocking threads (an fsync, a wait for another process's lock).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DbErr> + Send + 'static,
) -> Result<T, DbErr> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| DbErr::Conn(RuntimeErr::Internal(err.to_string())))?
}

fn exec_result(connection: &rusqlite::Connection) -> MockExecResult {
    MockExecResult {
        last_insert_id: u64::try_from(connection.last_insert_rowid()).unwrap_or_default(),
        rows_affected: connection.changes(),
    }
}

fn params(statement: &Statement) -> Result<Vec<rusqlite::types::Value>, DbErr> {
    match &statement.values {
        None => Ok(Vec::new()),
        Some(values) => crate::inline::params(values).ok_or_else(|| {
            DbErr::Exec(RuntimeErr::Internal(format!(
                "a value of a type the SQLite writer does not bind: {}",
                statement.sql
            )))
        }),
    }
}

fn failed(err: rusqlite::Error) -> DbErr {
    let code = err.sqlite_error().map_or(0, |e| e.extended_code);
    DbErr::Exec(RuntimeErr::Internal(format!("{FAILED}{code}: {err}")))
}

/// What a failed statement of the writer violated, as [`DbErr::sql_err`] tells it for sqlx.
pub(crate) fn sql_err(err: &DbErr) -> Option<SqlErr> {
    let (DbErr::Exec(RuntimeErr::Internal(message)) | DbErr::Query(RuntimeErr::Internal(message))) =
        err
    else {
        return None;
    };
    let (code, text) = message.strip_prefix(FAILED)?.split_once(": ")?;
    match code.parse::<i32>().ok()? {
        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            Some(SqlErr::UniqueConstraintViolation(text.to_owned()))
        }
        rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
            Some(SqlErr::ForeignKeyConstraintViolation(text.to_owned()))
        }
        _ => None,
    }
}

/// The Rust type of a table column, as its entity declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    I32,
    I64,
    Bool,
    Date,
    Text,
}

impl Kind {
    fn of(column_type: &ColumnType) -> Option<Self> {
        Some(match column_type {
            ColumnType::Integer => Self::I32,
            ColumnType::BigInteger => Self::I64,
            ColumnType::Boolean => Self::Bool,
            ColumnType::Date => Self::Date,
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => Self::Text,
            _ => return None,
        })
    }
}

/// Table → column → kind, for every entity.
fn kinds() -> &'static HashMap<&'static str, HashMap<&'static str, Kind>> {
    static KINDS: OnceLock<HashMap<&'static str, HashMap<&'static str, Kind>>> = OnceLock::new();
    KINDS.get_or_init(|| {
        fn add<E: EntityTrait>(kinds: &mut HashMap<&'static str, HashMap<&'static str, Kind>>) {
            let columns = kinds.entry(E::default().table_name()).or_default();
            for column in E::Column::iter() {
                if let Some(kind) = Kind::of(column.def().get_column_type()) {
                    columns.insert(column.as_str(), kind);
                }
            }
        }
        let mut kinds = HashMap::new();
        macro_rules! entities {
            ($($module:ident),* $(,)?) => { $( add::<entity::$module::Entity>(&mut kinds); )* };
        }
        entities!(
            change_request,
            collection_activity,
            customer,
            idempotency_key,
            interaction,
            invoice,
            milestone,
            order,
            order_event,
            order_exception,
            order_line,
            order_note,
            order_revision,
            payment,
            product,
            refresh_token,
            shipment,
            user,
        );
        kinds
    })
}

/// A SQLite value as the sea-query value sea-orm decodes a field of `kind` from.
fn decode(kind: Option<Kind>, value: ValueRef<'_>, name: &str) -> Result<Value, DbErr> {
    let mismatch = || {
        DbErr::Type(format!(
            "column {name}: {:?} does not hold a {kind:?}",
            value.data_type()
        ))
    };
    let text = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| mismatch())
    };
    Ok(match (kind, value) {
        (Some(Kind::I32), ValueRef::Null) => Value::Int(None),
        (Some(Kind::I32), ValueRef::Integer(v)) => {
            Value::Int(Some(i32::try_from(v).map_err(|_| mismatch())?))
        }
        (Some(Kind::I64), ValueRef::Null) => Value::BigInt(None),
        (Some(Kind::Bool), ValueRef::Null) => Value::Bool(None),
        (Some(Kind::Bool), ValueRef::Integer(v)) => Value::Bool(Some(v != 0)),
        (Some(Kind::Date), ValueRef::Null) => Value::ChronoDate(None),
        (Some(Kind::Date), ValueRef::Text(v)) => Value::ChronoDate(Some(
            chrono::NaiveDate::parse_from_str(&text(v)?, "%F").map_err(|_| mismatch())?,
        )),
        (Some(Kind::Text), ValueRef::Null) => Value::String(None),
        (Some(Kind::I64) | None, ValueRef::Integer(v)) => Value::BigInt(Some(v)),
        (Some(Kind::Text) | None, ValueRef::Text(v)) => Value::String(Some(text(v)?)),
        (None, ValueRef::Real(v)) => Value::Double(Some(v)),
        (None, ValueRef::Blob(v)) => Value::Bytes(Some(v.to_vec())),
        // A computed NULL: whatever the field's type, sea-orm reads it as absent.
        (None, ValueRef::Null) => Value::BigInt(None),
        _ => return Err(mismatch()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_fields_are_typed_by_their_rust_type() {
        let order = &kinds()["orders"];
        assert_eq!(order["id"], Kind::I64);
        assert_eq!(order["revision"], Kind::I32);
        assert_eq!(order["promised_date"], Kind::Date);
        assert_eq!(order["number"], Kind::Text);
        assert_eq!(kinds()["products"]["active"], Kind::Bool);
    }

    /// A table or column without an entity would be typed by its values: an `Option<bool>` or
    /// an optional date would then read as absent. Every column the migrations create must
    /// have its entity's type (the counters table, read only as integers and text, aside).
    #[tokio::test]
    async fn every_migrated_column_is_typed_by_an_entity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schema.db");
        let url = format!("sqlite://{}", path.display());
        let store = crate::Store::connect(&url, &crate::StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let connection = rusqlite::Connection::open(&path).unwrap();
        let mut tables = connection
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN \
                 ('seaql_migrations', 'sqlite_sequence', 'counters')",
            )
            .unwrap();
        let tables: Vec<String> = tables
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(tables.len() > 10, "{tables:?}");
        for table in tables {
            let columns = kinds()
                .get(table.as_str())
                .unwrap_or_else(|| panic!("no entity for table {table}"));
            let mut info = connection
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .unwrap();
            let names: Vec<String> = info
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for name in names {
                assert!(
                    columns.contains_key(name.as_str()),
                    "{table}.{name} has no entity type"
                );
            }
        }
    }

    #[test]
    fn a_value_that_does_not_fit_its_field_is_an_error_not_an_absence() {
        let too_big = decode(Some(Kind::I32), ValueRef::Integer(1 << 40), "revision");
        assert!(matches!(too_big, Err(DbErr::Type(_))), "{too_big:?}");
        let not_a_date = decode(Some(Kind::Date), ValueRef::Text(b"soon"), "due_on");
        assert!(matches!(not_a_date, Err(DbErr::Type(_))), "{not_a_date:?}");
        assert_eq!(
            decode(Some(Kind::Date), ValueRef::Text(b"2026-11-27"), "due_on").unwrap(),
            Value::ChronoDate(chrono::NaiveDate::from_ymd_opt(2026, 11, 27))
        );
    }

    #[test]
    fn unique_and_foreign_key_violations_are_told_apart() {
        // As the store does before SQLite's first use in this process, which this may be.
        crate::sqlite_alloc::install();
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "PRAGMA foreign_keys = ON;
                 CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT UNIQUE);
                 CREATE TABLE b (a_id INTEGER REFERENCES a(id));
                 INSERT INTO a VALUES (1, 'x');",
            )
            .unwrap();
        let violated = |sql: &str| sql_err(&failed(connection.execute(sql, []).unwrap_err()));
        assert!(matches!(
            violated("INSERT INTO a VALUES (2, 'x')"),
            Some(SqlErr::UniqueConstraintViolation(_))
        ));
        assert!(matches!(
            violated("INSERT INTO b VALUES (9)"),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ));
        assert!(violated("INSERT INTO c VALUES (1)").is_none());
    }
}
