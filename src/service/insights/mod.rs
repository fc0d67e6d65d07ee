//! Insights: status counts over time (license utilization against the seat
//! limit), bucketed at local boundaries of an IANA zone, and recorded
//! activity (active users, seconds and apps per user, latency percentiles,
//! app usage).

mod active_rollup;
mod activity;
pub mod buckets;
mod latency_rollup;
mod percentile;
mod record;
mod rollup;
mod status_counts;

pub use active_rollup::rebuild as rebuild_activity_rollups;
pub use activity::{
    ActivePoint, ActiveUsersQuery, ActivityRange, AppUsage, UserActivity, UserLatency,
};
pub use buckets::{Bucket, Interval, MAX_BUCKETS};
pub use latency_rollup::rebuild as rebuild_latency_rollup;
pub use percentile::percentile_cont;
pub use record::{MAX_BATCH, NewActivity};
pub use status_counts::{StatusCountsQuery, StatusSeries, UserStatusCounts};

use crate::clock::SharedClock;
use crate::db::Db;
use crate::service::directory::RealmCache;

#[derive(Clone)]
pub struct Insights {
    db: Db,
    clock: SharedClock,
    realms: RealmCache,
}

impl Insights {
    pub fn new(db: Db, clock: SharedClock, realms: RealmCache) -> Self {
        Self { db, clock, realms }
    }
}
