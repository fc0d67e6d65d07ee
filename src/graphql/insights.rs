//! Insights: user status counts over time against the seat limit.

use async_graphql::{Context, Object, SimpleObject};

use super::error::ApiResult;
use super::scalars::{Interval, Timestamp};
use super::user_metrics::int;
use super::users::UserStatus;
use super::{actor, services};
use crate::service::insights::{self as domain, StatusCountsQuery};

#[derive(SimpleObject)]
pub struct CountPoint {
    /// Bucket start (local midnight for DAY in the requested zone), as a UTC instant.
    date: Timestamp,
    /// Users in the status at the bucket's end (endDate for the last, partial bucket).
    count: i32,
}

#[derive(SimpleObject)]
pub struct UserStatusSeries {
    status: UserStatus,
    points: Vec<CountPoint>,
}

#[derive(SimpleObject)]
pub struct UserStatusCounts {
    start_date: Timestamp,
    end_date: Timestamp,
    time_zone: String,
    interval: Interval,
    seat_limit: Option<i32>,
    /// One series per status; every series has a point for every bucket.
    series: Vec<UserStatusSeries>,
}

impl From<domain::UserStatusCounts> for UserStatusCounts {
    fn from(c: domain::UserStatusCounts) -> Self {
        Self {
            start_date: Timestamp(c.start),
            end_date: Timestamp(c.end),
            time_zone: c.time_zone,
            interval: c.interval.into(),
            seat_limit: c.seat_limit.map(int),
            series: c
                .series
                .into_iter()
                .map(|s| UserStatusSeries {
                    status: s.status.into(),
                    points: s
                        .points
                        .into_iter()
                        .map(|(date, count)| CountPoint {
                            date: Timestamp(date),
                            count: int(count),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Default)]
pub struct InsightsQuery;

#[Object]
impl InsightsQuery {
    /// Default range: the last 60 days. timeZone is an IANA name; tzOffset
    /// (whole hours east of UTC, -12 to 14, as Coder's `tz_offset`) is used
    /// when timeZone is absent. Each point counts the users in each status
    /// at the end of its bucket; `seatLimit` is the realm's, or without
    /// `realm` the sum over the visible realms that have one.
    #[allow(clippy::too_many_arguments)]
    async fn user_status_counts(
        &self,
        ctx: &Context<'_>,
        start_date: Option<Timestamp>,
        end_date: Option<Timestamp>,
        #[graphql(default_with = "Some(Interval::Day)")] interval: Option<Interval>,
        time_zone: Option<String>,
        tz_offset: Option<i32>,
        realm: Option<String>,
    ) -> ApiResult<UserStatusCounts> {
        let query = StatusCountsQuery {
            start: start_date.map(|d| d.0),
            end: end_date.map(|d| d.0),
            interval: interval.map(Into::into),
            time_zone,
            tz_offset,
            realm,
        };
        let counts = services(ctx)
            .insights
            .user_status_counts(actor(ctx), &query)
            .await?;
        Ok(counts.into())
    }
}
