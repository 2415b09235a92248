//! End-to-end scenarios: each starts a real `orderdesk` server with a database of its own and
//! drives it over HTTP and websockets, as a front end would.
//!
//! Every scenario is written once as `async fn scenario(backend: Backend)`; `backend_tests!`
//! turns it into `sqlite::scenario` and `postgres::scenario` tests. The PostgreSQL variants run
//! only when `TEST_POSTGRES_URL` (or a `postgres` `DATABASE_URL`) names a server.
//!
//! Build the binary first: `cargo build -p api && cargo test -p tests` (or `cargo test --workspace`).
//! `TEST_LOG=1` shows the servers' logs.

/// Generates one `#[tokio::test]` per backend for each scenario named.
macro_rules! backend_tests {
    ($($scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(::tests::Backend::Sqlite).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if !::tests::Backend::Postgres.is_available() {
                        eprintln!(
                            "skipped {}: set TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run it on PostgreSQL",
                            stringify!($scenario)
                        );
                        return;
                    }
                    super::$scenario(::tests::Backend::Postgres).await;
                }
            )+
        }
    };
}

mod analytics;
mod analytics_export;
mod archive;
mod concurrency;
mod crash;
mod errors;
mod fixtures;
mod http_surface;
mod instances;
mod lifecycle;
mod limits;
mod pagination;
mod postgres_restart;
mod probes;
mod replay;
mod retries;
mod review;
mod scale_out;
mod sessions;
mod settlement;
mod slow_subscriber;
mod subscriptions;
mod tokens;
mod tracking;
mod visibility;
mod websocket;
