//! orderdesk's storage adapter: sea-orm entities and migrations, and the implementations of the
//! repository ports of `domain::ports`, identical on SQLite and PostgreSQL.
//!
//! # Layout
//! - `migration`: the schema, one file per change;
//! - `entity`: sea-orm rows, private to this crate;
//! - `codec`: exact encodings (money as scaled integers, instants as epoch microseconds);
//! - `repo`: one module per aggregate; every change and its events share one transaction
//!   (and `repo::bulk`, the seeder's batch writer reusing their row builders);
//! - [`Store`]: the pool, the SQLite pragmas and `BEGIN IMMEDIATE` write transactions.

mod codec;
mod entity;
mod inline;
mod inline_write;
mod migration;
mod notify;
mod repo;
mod sqlite_alloc;
mod store;

pub use codec::{MONEY_SCALE, PERCENT_SCALE, QUANTITY_SCALE};
pub use repo::bulk::{BulkEvent, BulkIds, BulkOrder, invoice_number, order_number};
pub use store::{Store, StoreOptions};
