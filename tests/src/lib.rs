//! End-to-end test harness for orderdesk: starts the real `orderdesk` binary on a random port
//! against a database of its own and talks to it the way clients do, over HTTP and websockets.
//!
//! Layout:
//! - [`database`]: a throwaway database per test (a temp SQLite file, or a fresh PostgreSQL
//!   database when `TEST_POSTGRES_URL` is set).
//! - [`app`]: [`spawn_app`] and [`TestApp`]: the server process, the `orderdesk` CLI (users,
//!   tokens), GraphQL over HTTP.
//! - [`subscription`]: a graphql-transport-ws client for subscriptions.
//! - [`json`]: small helpers to read GraphQL responses and assert error codes.
//! - [`ws`]: a raw websocket client for protocol tests (close codes, malformed messages).
//!
//! The binary is found through `ORDERDESK_BIN`, else next to the test executable
//! (`target/<profile>/orderdesk`); build it first (`cargo build -p api`, or `cargo test --workspace`).

pub mod app;
pub mod database;
pub mod json;
pub mod subscription;
pub mod ws;

pub use app::{Role, TestApp, TestUser, UserOptions, spawn_app, spawn_app_with};
pub use database::Backend;
pub use json::{assert_error, data, error_code};
pub use subscription::Subscription;
