//! Portable migrations: the same statements run on SQLite, PostgreSQL and
//! MySQL/MariaDB. Instants are BIGINT microseconds since the Unix epoch.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_realms;
mod m20261122_000002_create_roles;
mod m20261122_000003_create_datasets;
mod m20261122_000004_create_users;
mod m20261122_000005_create_user_changes;
mod m20261122_000006_create_audit_events;
mod m20261122_000007_create_api_tokens;
mod m20261122_000008_create_user_count_days;
mod m20261203_000001_index_user_changes_realm;
mod m20261203_100001_create_tokens;
mod m20261203_100002_create_reporting_policies;
mod m20261203_100003_create_token_tallies;
mod m20261203_100004_create_token_holders;
mod m20261203_100005_create_token_counters;
mod m20261203_100006_create_token_counter_days;
mod m20261203_200001_create_api_requests;
mod m20261203_300001_create_user_count_quarters;
mod m20261203_400001_create_report_jobs;
mod m20261203_610001_create_activity;
mod m20261203_610002_create_activity_rollups;
mod m20261203_700001_create_product_events;
mod m20261204_200001_create_api_request_hours;
mod m20261204_610001_create_activity_latency;
mod m20261205_100001_mysql_binary_collation;

/// The statement that rolls existing history up into `user_count_quarters`.
pub use m20261203_300001_create_user_count_quarters::backfill as backfill_user_count_quarters;
/// The statements that roll `activity` up for `activeUsers`, into empty tables.
pub use m20261203_610002_create_activity_rollups::rebuild as rebuild_activity_rollups;
/// `apiRequestStats`' dimensions and each one's key as SQL over `api_requests`.
pub use m20261204_200001_create_api_request_hours::DIMENSIONS as API_REQUEST_DIMENSIONS;
/// The statements that roll `api_requests` up into an empty `api_request_hours`.
pub use m20261204_200001_create_api_request_hours::rebuild as rebuild_api_request_hours;
/// `userLatency`'s rollup: its rows' keys and bytes, appending to it, and
/// rolling `activity` up into an empty one.
pub use m20261204_610001_create_activity_latency::{
    LatencyKey, MICROS_PER_HOUR, PAIR_BYTES, append_latency_pairs, latency_key, push_latency_pair,
    rebuild as rebuild_activity_latency,
};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_realms::Migration),
            Box::new(m20261122_000002_create_roles::Migration),
            Box::new(m20261122_000003_create_datasets::Migration),
            Box::new(m20261122_000004_create_users::Migration),
            Box::new(m20261122_000005_create_user_changes::Migration),
            Box::new(m20261122_000006_create_audit_events::Migration),
            Box::new(m20261122_000007_create_api_tokens::Migration),
            Box::new(m20261122_000008_create_user_count_days::Migration),
            Box::new(m20261203_000001_index_user_changes_realm::Migration),
            Box::new(m20261203_100001_create_tokens::Migration),
            Box::new(m20261203_100002_create_reporting_policies::Migration),
            Box::new(m20261203_100003_create_token_tallies::Migration),
            Box::new(m20261203_100004_create_token_holders::Migration),
            Box::new(m20261203_100005_create_token_counters::Migration),
            Box::new(m20261203_100006_create_token_counter_days::Migration),
            Box::new(m20261203_200001_create_api_requests::Migration),
            Box::new(m20261203_300001_create_user_count_quarters::Migration),
            Box::new(m20261203_400001_create_report_jobs::Migration),
            Box::new(m20261203_610001_create_activity::Migration),
            Box::new(m20261203_610002_create_activity_rollups::Migration),
            Box::new(m20261203_700001_create_product_events::Migration),
            Box::new(m20261204_200001_create_api_request_hours::Migration),
            Box::new(m20261204_610001_create_activity_latency::Migration),
            Box::new(m20261205_100001_mysql_binary_collation::Migration),
        ]
    }
}
