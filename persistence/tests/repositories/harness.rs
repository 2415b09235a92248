//! One throwaway, migrated database per test: a SQLite file in a temp dir, or a database created
//! on the PostgreSQL server named by `TEST_POSTGRES_URL` and dropped again afterwards.

use std::env;
use std::future::Future;

use persistence::{Store, StoreOptions};
use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

/// Runs each named scenario (`async fn name(store: Store)` in the calling module) on every backend:
/// SQLite as the server runs it (hot reads and the write batch on the caller's thread), SQLite
/// with every statement through sqlx (`--sqlite-inline-reads off --sqlite-inline-writes off`),
/// and PostgreSQL.
///
/// No ident-pasting crate is in the lock, so each scenario gets a module of its own name holding
/// `on_sqlite` and `on_postgres`: the test is reported as `name::on_sqlite`, still a sentence.
macro_rules! backend_tests {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn on_sqlite() {
                    crate::harness::run(crate::harness::Backend::Sqlite, stringify!($scenario), super::$scenario).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn on_sqlite_through_sqlx() {
                    crate::harness::run(crate::harness::Backend::SqliteThroughSqlx, stringify!($scenario), super::$scenario).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn on_postgres() {
                    crate::harness::run(crate::harness::Backend::Postgres, stringify!($scenario), super::$scenario).await;
                }
            }
        )+
    };
}

/// The database engine a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    SqliteThroughSqlx,
    Postgres,
}

/// Connects to a fresh, migrated database on `backend`, runs `scenario`, and removes the database.
/// Without `TEST_POSTGRES_URL` the PostgreSQL variant only prints a note.
pub async fn run<F, Fut>(backend: Backend, name: &str, scenario: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = TestDatabase::create(backend).await else {
        eprintln!("note: TEST_POSTGRES_URL is not set; `{name}` did not run on PostgreSQL");
        return;
    };
    let options = if backend == Backend::SqliteThroughSqlx {
        StoreOptions {
            sqlite_inline_reads: false,
            sqlite_inline_writes: false,
            ..StoreOptions::default()
        }
    } else {
        StoreOptions::default()
    };
    let store = Store::connect(database.url(), &options)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", database.url()));
    store.migrate().await.expect("migrate a fresh database");
    scenario(store.clone()).await;
    store.close().await;
    // `database` drops here (also when the scenario panicked) and removes what it created.
}

/// A database that exists for one test.
enum TestDatabase {
    Sqlite {
        url: String,
        // Held so the directory and its database file live as long as the test.
        _dir: TempDir,
    },
    Postgres {
        url: String,
        server_url: String,
        name: String,
    },
}

impl TestDatabase {
    async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite | Backend::SqliteThroughSqlx => {
                let dir = tempfile::Builder::new()
                    .prefix("od-repo-")
                    .tempdir()
                    .expect("create a temp dir");
                let url = format!("sqlite://{}", dir.path().join("t.db").display());
                Some(TestDatabase::Sqlite { url, _dir: dir })
            }
            Backend::Postgres => {
                let server_url = env::var("TEST_POSTGRES_URL")
                    .ok()
                    .map(|url| url.trim().to_owned())
                    .filter(|url| !url.is_empty())?;
                let name = format!("od_repo_{:016x}", rand::random::<u64>());
                let server = Database::connect(server_url.as_str())
                    .await
                    .unwrap_or_else(|e| panic!("connect to PostgreSQL at {server_url}: {e}"));
                server
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
                let _ = server.close().await;
                Some(TestDatabase::Postgres {
                    url: with_database(&server_url, &name),
                    server_url,
                    name,
                })
            }
        }
    }

    fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let TestDatabase::Postgres {
            server_url, name, ..
        } = self
        else {
            return;
        };
        // Drop runs on the test's runtime, which must not block on itself: a thread with its own
        // runtime can. Best effort; a leftover database only costs disk space.
        let (server_url, database) = (server_url.clone(), name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let server = Database::connect(server_url.as_str()).await.ok()?;
                // FORCE ends connections of a pool a panicking scenario never closed.
                let result = server
                    .execute_unprepared(&format!(
                        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                    ))
                    .await;
                let _ = server.close().await;
                result.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("note: could not drop test database {name}");
        }
    }
}

/// `server_url` with its database name replaced by `name` (user, host and query kept).
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

#[test]
fn the_database_name_is_replaced_and_the_rest_kept() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "od_x"),
        "postgres://postgres@127.0.0.1:5432/od_x"
    );
    assert_eq!(
        with_database("postgres://u:p@db/app?sslmode=disable", "od_x"),
        "postgres://u:p@db/od_x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://db:5432", "od_x"),
        "postgres://db:5432/od_x"
    );
}
