//! One throwaway database per test: a SQLite file in a temp dir, or a freshly created PostgreSQL
//! database (dropped again when the test is over).

use std::env;

use rand::Rng;
use reqwest::Url;
use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

/// The database engine a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temp dir; always available.
    Sqlite,
    /// A fresh database on the PostgreSQL server named by `TEST_POSTGRES_URL` (or a `DATABASE_URL`
    /// starting with `postgres`).
    Postgres,
}

impl Backend {
    /// The URL of the PostgreSQL server to create test databases on, if one is configured.
    #[must_use]
    pub fn postgres_server_url() -> Option<String> {
        if let Ok(url) = env::var("TEST_POSTGRES_URL")
            && !url.trim().is_empty()
        {
            return Some(url.trim().to_owned());
        }
        env::var("DATABASE_URL")
            .ok()
            .map(|url| url.trim().to_owned())
            .filter(|url| url.starts_with("postgres"))
    }

    /// Whether tests on this backend can run here.
    #[must_use]
    pub fn is_available(self) -> bool {
        match self {
            Backend::Sqlite => true,
            Backend::Postgres => Self::postgres_server_url().is_some(),
        }
    }
}

/// A database that exists for one test.
#[derive(Debug)]
pub(crate) enum TestDatabase {
    Sqlite {
        url: String,
        // Held so the directory (and the database file) lives as long as the test.
        _dir: TempDir,
    },
    Postgres {
        url: String,
        server_url: String,
        name: String,
    },
}

impl TestDatabase {
    pub(crate) async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("orderdesk-e2e-")
                    .tempdir()
                    .expect("create a temp dir for the SQLite database");
                let path = dir.path().join("od.db");
                // `sqlite://` + an absolute path gives `sqlite:///tmp/.../od.db`.
                let url = format!("sqlite://{}", path.display());
                TestDatabase::Sqlite { url, _dir: dir }
            }
            Backend::Postgres => {
                let server_url = Backend::postgres_server_url().expect(
                    "PostgreSQL tests need TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)",
                );
                let name = format!("od_test_{:016x}", rand::rng().random::<u64>());
                let server = Database::connect(server_url.as_str())
                    .await
                    .unwrap_or_else(|e| panic!("connect to PostgreSQL at {server_url}: {e}"));
                server
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
                let _ = server.close().await;
                let mut url = Url::parse(&server_url).unwrap_or_else(|e| {
                    panic!("TEST_POSTGRES_URL is not a URL ({e}): {server_url}")
                });
                url.set_path(&format!("/{name}"));
                TestDatabase::Postgres {
                    url: url.to_string(),
                    server_url,
                    name,
                }
            }
        }
    }

    pub(crate) fn url(&self) -> &str {
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
        // Drop runs inside the test's runtime, which must not be blocked on from within; a
        // separate thread with its own small runtime can. Best effort: a leftover database only
        // costs disk space.
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        let server_url = server_url.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let server = Database::connect(server_url.as_str()).await.ok()?;
                // FORCE ends the (killed) server's connections that PostgreSQL has not noticed yet.
                let result = server.execute_unprepared(&sql).await;
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
