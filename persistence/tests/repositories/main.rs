//! The repository contracts of `domain::ports` (the "MUST ..." lines), checked against the real
//! `Store` on SQLite and, when `TEST_POSTGRES_URL` is set, on PostgreSQL.
//!
//! # Layout
//! - `harness`: one fresh database per test and the `backend_tests!` macro that runs each
//!   scenario (`async fn scenario(store: Store)`) once per backend, as `scenario::on_sqlite` and
//!   `scenario::on_postgres`;
//! - `fixtures`: users, customers, products and drafts built from domain types;
//! - one module per contract: money, versions, idempotency, event log, uniqueness, listing,
//!   migrations, archive (customer profiles, notes, interactions, follow-ups and the order
//!   queries derived from them), settlement (invoices, payments), tracking (milestones,
//!   shipments, exceptions, change requests, orders at risk), analytics (milestone timestamps
//!   and their backfill, the KPI aggregates), analytics_cash (the cash, quality, customer and
//!   rep aggregates).

#[macro_use]
mod harness;
mod fixtures;

mod analytics;
mod analytics_cash;
mod archive;
mod event_log;
mod idempotency;
mod listing;
mod migrations;
mod model;
mod money;
mod settlement;
mod tracking;
mod uniqueness;
mod versions;
