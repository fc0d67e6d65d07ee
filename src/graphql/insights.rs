//! Insights: user status counts over time against the seat limit, and
//! recorded activity.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::error::ApiResult;
use super::scalars::{Day, Interval, Timestamp};
use super::user_metrics::int;
use super::users::UserStatus;
use super::{actor, services};
use crate::service::insights::{
    self as domain, ActiveUsersQuery, ActivityRange, NewActivity, StatusCountsQuery,
};

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

#[derive(SimpleObject)]
pub struct ActiveUsersPoint {
    /// The local date the bucket starts on.
    date: Day,
    start_time: Timestamp,
    /// The next bucket's start; endDate for the last bucket.
    end_time: Timestamp,
    /// Distinct users with a session starting in the bucket.
    active_users: i32,
}

impl From<domain::ActivePoint> for ActiveUsersPoint {
    fn from(p: domain::ActivePoint) -> Self {
        Self {
            date: Day(p.date),
            start_time: Timestamp(p.start),
            end_time: Timestamp(p.end),
            active_users: int(p.active_users),
        }
    }
}

/// One session of a user in an app, dated at its start.
#[derive(InputObject)]
pub struct ActivityInput {
    user_id: i32,
    app: String,
    started_at: Timestamp,
    /// 0 to 86400.
    seconds: i32,
    latency_ms: Option<f64>,
}

impl From<ActivityInput> for NewActivity {
    fn from(a: ActivityInput) -> Self {
        Self {
            user_id: a.user_id,
            app: a.app,
            started_at: a.started_at.0,
            seconds: a.seconds,
            latency_ms: a.latency_ms,
        }
    }
}

#[derive(SimpleObject)]
pub struct UserActivity {
    user_id: i32,
    email: String,
    /// Summed over the user's sessions (saturating at the largest Int).
    seconds: i32,
    apps: Vec<String>,
}

#[derive(SimpleObject)]
pub struct UserLatency {
    user_id: i32,
    email: String,
    /// Null when the user has no latency samples in range.
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
}

#[derive(SimpleObject)]
pub struct AppUsage {
    app: String,
    seconds: i32,
    times_used: i32,
    users: i32,
}

fn range(start: Timestamp, end: Timestamp, realm: Option<String>) -> ActivityRange {
    ActivityRange {
        start: start.0,
        end: end.0,
        realm,
        apps: None,
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
    /// Distinct users with a session starting in each bucket; buckets as in
    /// userStatusCounts, empty ones 0. `apps` keeps sessions of those apps.
    #[allow(clippy::too_many_arguments)]
    async fn active_users(
        &self,
        ctx: &Context<'_>,
        start_date: Option<Timestamp>,
        end_date: Option<Timestamp>,
        #[graphql(default_with = "Some(Interval::Day)")] interval: Option<Interval>,
        time_zone: Option<String>,
        tz_offset: Option<i32>,
        realm: Option<String>,
        apps: Option<Vec<String>>,
    ) -> ApiResult<Vec<ActiveUsersPoint>> {
        let query = ActiveUsersQuery {
            start: start_date.map(|d| d.0),
            end: end_date.map(|d| d.0),
            interval: interval.map(Into::into),
            time_zone,
            tz_offset,
            realm,
            apps,
        };
        let points = services(ctx)
            .insights
            .active_users(actor(ctx), &query)
            .await?;
        Ok(points.into_iter().map(Into::into).collect())
    }

    /// Seconds and apps per user over sessions started in [startDate, endDate).
    async fn user_activity(
        &self,
        ctx: &Context<'_>,
        start_date: Timestamp,
        end_date: Timestamp,
        realm: Option<String>,
        apps: Option<Vec<String>>,
    ) -> ApiResult<Vec<UserActivity>> {
        let range = ActivityRange {
            apps,
            ..range(start_date, end_date, realm)
        };
        let users = services(ctx)
            .insights
            .user_activity(actor(ctx), &range)
            .await?;
        Ok(users
            .into_iter()
            .map(|u| UserActivity {
                user_id: u.user_id,
                email: u.email,
                seconds: int(u.seconds),
                apps: u.apps,
            })
            .collect())
    }

    /// p50 and p95 latency per user (PostgreSQL's percentile_cont) over
    /// sessions started in [startDate, endDate).
    async fn user_latency(
        &self,
        ctx: &Context<'_>,
        start_date: Timestamp,
        end_date: Timestamp,
        realm: Option<String>,
    ) -> ApiResult<Vec<UserLatency>> {
        let users = services(ctx)
            .insights
            .user_latency(actor(ctx), &range(start_date, end_date, realm))
            .await?;
        Ok(users
            .into_iter()
            .map(|u| UserLatency {
                user_id: u.user_id,
                email: u.email,
                p50_ms: u.p50_ms,
                p95_ms: u.p95_ms,
            })
            .collect())
    }

    /// Seconds, sessions and distinct users per app over sessions started
    /// in [startDate, endDate), most used first.
    async fn app_usage(
        &self,
        ctx: &Context<'_>,
        start_date: Timestamp,
        end_date: Timestamp,
        realm: Option<String>,
    ) -> ApiResult<Vec<AppUsage>> {
        let apps = services(ctx)
            .insights
            .app_usage(actor(ctx), &range(start_date, end_date, realm))
            .await?;
        Ok(apps
            .into_iter()
            .map(|a| AppUsage {
                app: a.app,
                seconds: int(a.seconds),
                times_used: int(a.times_used),
                users: int(a.users),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct InsightsMutation;

#[Object]
impl InsightsMutation {
    /// Records up to 10,000 sessions in one transaction and returns how
    /// many. A row naming an unknown user, or one of a realm the token may
    /// not see, rejects them all (BAD_USER_INPUT on `input[i].userId`).
    async fn record_activity(
        &self,
        ctx: &Context<'_>,
        input: Vec<ActivityInput>,
    ) -> ApiResult<i32> {
        let rows: Vec<NewActivity> = input.into_iter().map(Into::into).collect();
        let recorded = services(ctx)
            .insights
            .record_activity(actor(ctx), &rows)
            .await?;
        Ok(int(recorded as i64))
    }
}
