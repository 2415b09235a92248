//! Schema migrations, applied at start-up (`orderdesk serve`) or by `orderdesk migrate`.

use sea_orm_migration::prelude::*;

mod columns;
mod m20261126_000001_create_schema;
mod m20261126_000002_create_refresh_tokens;
mod m20261127_000003_customer_archive;
mod m20261127_000004_settlement;
mod m20261127_000005_tracking;
mod m20261127_000006_analytics;
mod m20261127_000007_cash_analytics;
mod m20261127_000008_covering_indexes;
mod m20261127_000009_payment_owners;
mod m20261128_000010_rep_status_index;

/// All migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_schema::Migration),
            Box::new(m20261126_000002_create_refresh_tokens::Migration),
            Box::new(m20261127_000003_customer_archive::Migration),
            Box::new(m20261127_000004_settlement::Migration),
            Box::new(m20261127_000005_tracking::Migration),
            Box::new(m20261127_000006_analytics::Migration),
            Box::new(m20261127_000007_cash_analytics::Migration),
            Box::new(m20261127_000008_covering_indexes::Migration),
            Box::new(m20261127_000009_payment_owners::Migration),
            Box::new(m20261128_000010_rep_status_index::Migration),
        ]
    }
}
