//! `userStatusCounts`: users per status at the end of each bucket, beside
//! the seat limit, exactly as a snapshot at each bucket's end would count.

use chrono::{DateTime, Duration, Utc};

use super::buckets::{self, Interval};
use super::{Insights, rollup};
use crate::service::directory::UserStatus;
use crate::service::{Error, Principal, Result, Scope};
use crate::time::to_micros;

/// Default range: the 60 days before the end.
const DEFAULT_DAYS: i64 = 60;

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
        let zone = buckets::zone(
            query.time_zone.as_deref(),
            query.tz_offset,
            "timeZone",
            "tzOffset",
        )?;
        let interval = query.interval.unwrap_or(Interval::Day);
        let end = query.end.unwrap_or_else(|| self.clock.now());
        let start = query
            .start
            .unwrap_or_else(|| end - Duration::days(DEFAULT_DAYS));
        if start > end {
            return Err(Error::bad_input(
                "startDate",
                format!("startDate {start} is after endDate {end}"),
            ));
        }
        let buckets = buckets::buckets(start, end, interval, zone, "startDate")?;

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
