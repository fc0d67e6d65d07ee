//! SeaORM entities, one module per table.
//!
//! Instants are stored as `i64` microseconds since the Unix epoch (UTC): the
//! same exact, index-friendly representation on SQLite, PostgreSQL and
//! MySQL/MariaDB, with no driver-specific time zone handling.

pub mod activity;
pub mod api_request;
pub mod api_request_hour;
pub mod api_token;
pub mod audit_event;
pub mod dataset;
pub mod product_event;
pub mod realm;
pub mod report_job;
pub mod report_key;
pub mod reporting_policy;
pub mod role;
pub mod token;
pub mod token_counter;
pub mod token_counter_day;
pub mod token_holder;
pub mod token_tally;
pub mod user;
pub mod user_change;
pub mod user_count_day;
pub mod user_count_quarter;
