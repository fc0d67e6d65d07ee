//! `userStatusCounts`: users per status at the end of each bucket, beside
//! the seat limit, exactly as a snapshot at each bucket's end would count.

use chrono::{DateTime, Utc};

use super::buckets::{self, DEFAULT_DAYS, Interval};
use super::{Insights, rollup};
use crate::service::directory::UserStatus;
use crate::service::{Principal, Result, Scope};
use crate::time::to_micros;

#[derive(Debug, Clone, Default)]
pub struct StatusCountsQuery {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub interval: Option<Interval>,
    pub time_zone: Option<String>,
    pub tz_offset: Option<i32>,
    pub realm: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSeries {
    pub status: UserStatus,
    /// (bucket start, users in the status at the bucket's end).
    pub points: Vec<(DateTime<Utc>, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStatusCounts {
    /// The first bucket's start (the requested start, rounded down).
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub time_zone: String,
    pub interval: Interval,
    pub seat_limit: Option<i64>,
    /// One series per status, in [`UserStatus::ALL`] order.
    pub series: Vec<StatusSeries>,
}

impl Insights {
    pub async fn user_status_counts(
        &self,
        actor: &Principal,
        query: &StatusCountsQuery,
    ) -> Result<UserStatusCounts> {
        actor.require(Scope::InsightsRead)?;
        let buckets::Series {
            zone,
            interval,
            start,
            end,
            buckets,
        } = buckets::Series::resolve(
            &buckets::SeriesArgs {
                start: query.start,
                end: query.end,
                interval: query.interval,
                time_zone: query.time_zone.as_deref(),
                tz_offset: query.tz_offset,
            },
            self.clock.now(),
            DEFAULT_DAYS,
        )?;

        let realms = self.realms.get(self.db.conn()).await?;
        let (realm_ids, seat_limit) = match query.realm.as_deref() {
            Some(name) => {
                actor.require_realm(name)?;
                let realm = realms.resolve(name, "realm")?;
                (Some(vec![realm.id]), realm.seat_limit.map(i64::from))
            }
            None => {
                let ids = realms.visible_ids(&actor.realms);
                let limits: Vec<i64> = realms
                    .all()
                    .filter(|r| actor.sees(&r.name))
                    .filter_map(|r| r.seat_limit.map(i64::from))
                    .collect();
                let seat_limit = (!limits.is_empty()).then(|| limits.iter().sum());
                (ids, seat_limit)
            }
        };

        let cuts: Vec<i64> = buckets.iter().map(|b| to_micros(b.end)).collect();
        // Every rollup read sees one snapshot: a change committing between
        // two statements would otherwise count in one and not the other.
        let (realm_ids, cuts) = (realm_ids.as_deref(), &cuts);
        let counts = self
            .db
            .read(|tx| async move { rollup::counts_before(&*tx, realm_ids, cuts).await })
            .await?;

        let series = UserStatus::ALL
            .into_iter()
            .enumerate()
            .map(|(i, status)| StatusSeries {
                status,
                points: buckets
                    .iter()
                    .zip(&counts)
                    .map(|(bucket, counts)| (bucket.start, counts[i]))
                    .collect(),
            })
            .collect();
        Ok(UserStatusCounts {
            start: buckets.first().map_or(start, |b| b.start),
            end,
            time_zone: zone.name().to_owned(),
            interval,
            seat_limit,
            series,
        })
    }
}
