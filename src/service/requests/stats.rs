//! `apiRequestStats`: how many requests, and what share of their bucket, per
//! outcome, operation, error code or token, optionally per UTC bucket.
//!
//! Whole hours of the range come from the hourly rollup ([`super::rollup`]),
//! the partial hours at its ends from one grouped scan of the raw rows each,
//! all in one snapshot; both are grouped per (hour or day, key) in SQL.
//! Weeks and months are summed from days here (a month has no fixed length
//! in microseconds), a few hundred rows at most.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use entity::{api_request, api_request_hour};
use migration::API_REQUEST_DIMENSIONS;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Select,
};

use super::rollup::{Counted, HOUR_MICROS, hour_of};
use super::{ApiRequests, visible};
use crate::service::range::{Interval, RangeArgs, TimeRange};
use crate::service::user_counts::summed;
use crate::service::{Error, Principal, RealmAccess, Result, Scope};
use crate::time::{from_micros, to_micros};

/// What the counts are per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `SUCCESS` or `FAILURE`.
    Outcome,
    Operation,
    /// The first error's code; `NONE` for successes.
    ErrorCode,
    /// The token's name; `anonymous` without a valid token.
    Token,
}

impl Group {
    pub const ALL: [Group; 4] = [
        Group::Outcome,
        Group::Operation,
        Group::ErrorCode,
        Group::Token,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The rollup's name for it.
    pub fn dimension(self) -> &'static str {
        API_REQUEST_DIMENSIONS[self.index()].0
    }

    /// The key as SQL over `api_requests` (column names only, nothing from
    /// the caller; the text the rollup's backfill groups by).
    fn key(self) -> SimpleExpr {
        Expr::cust(API_REQUEST_DIMENSIONS[self.index()].1)
    }

    /// The key of one request, as [`Group::key`] computes it in SQL.
    pub fn key_of<'a>(self, request: &Counted<'a>) -> &'a str {
        match self {
            Group::Outcome if request.success => "SUCCESS",
            Group::Outcome => "FAILURE",
            Group::Operation => request.operation,
            Group::ErrorCode => request.error_code.unwrap_or("NONE"),
            Group::Token => request.token_name.unwrap_or("anonymous"),
        }
    }
}

/// One count.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// Bucket start; None without an interval.
    pub bucket: Option<DateTime<Utc>>,
    pub key: String,
    pub count: i64,
    /// `count` / all requests in the bucket.
    pub ratio: f64,
}

const DAY_MICROS: i64 = 24 * HOUR_MICROS;

/// Counts as the database groups them: bucket start (with an interval),
/// key, count.
type Row = (Option<i64>, String, i64);

impl ApiRequests {
    /// Counts in the range, per bucket (oldest first) and key (by name).
    pub async fn stats(
        &self,
        actor: &Principal,
        range: &RangeArgs,
        interval: Option<Interval>,
        group: Group,
    ) -> Result<Vec<Stat>> {
        actor.require(Scope::AuditRead)?;
        let range = range.resolve(self.clock.now())?;
        if let Some(interval) = interval {
            check_buckets(&range, interval)?;
        }
        // Hours and days as integer arithmetic on the stored microseconds:
        // hours and days are whole numbers of hours, so the rollup's hours
        // fall into the same buckets as the raw rows they count.
        let grain = match interval {
            None => None,
            Some(Interval::Hour) => Some(HOUR_MICROS),
            Some(_) => Some(DAY_MICROS),
        };
        let (start, end) = (to_micros(range.start), to_micros(range.end));
        let first_whole = hour_of(start + HOUR_MICROS - 1);
        let last_whole = hour_of(end);
        let rows = self
            .db
            .read(|tx| async move {
                let db = &*tx;
                if first_whole >= last_whole {
                    return raw(db, actor, start, end, grain, group).await;
                }
                let mut rows = raw(db, actor, start, first_whole, grain, group).await?;
                rows.extend(rolled_up(db, actor, first_whole, last_whole, grain, group).await?);
                rows.extend(raw(db, actor, last_whole, end, grain, group).await?);
                Ok(rows)
            })
            .await?;
        Ok(tally(rows, interval))
    }
}

/// Grouped counts of the raw rows in [start, end).
async fn raw<C: ConnectionTrait>(
    db: &C,
    actor: &Principal,
    start: i64,
    end: i64,
    grain: Option<i64>,
    group: Group,
) -> Result<Vec<Row>> {
    if start >= end {
        return Ok(Vec::new());
    }
    let query = api_request::Entity::find().select_only().filter(
        visible(actor)
            .add(api_request::Column::OccurredAt.gte(start))
            .add(api_request::Column::OccurredAt.lt(end)),
    );
    let bucket = grain.map(|grain| format!("occurred_at - occurred_at % {grain}"));
    grouped(db, query, bucket, group.key(), Expr::cust("COUNT(*)")).await
}

/// Grouped counts of the rollup's hours in [start, end) (whole hours).
async fn rolled_up<C: ConnectionTrait>(
    db: &C,
    actor: &Principal,
    start: i64,
    end: i64,
    grain: Option<i64>,
    group: Group,
) -> Result<Vec<Row>> {
    let mut condition = Condition::all()
        .add(api_request_hour::Column::Dimension.eq(group.dimension()))
        .add(api_request_hour::Column::HourStart.gte(start))
        .add(api_request_hour::Column::HourStart.lt(end));
    if let RealmAccess::Only(names) = &actor.realms {
        condition = condition.add(api_request_hour::Column::Realm.is_in(names.iter().cloned()));
    }
    let query = api_request_hour::Entity::find()
        .select_only()
        .filter(condition);
    let bucket = grain.map(|grain| format!("hour_start - hour_start % {grain}"));
    let key = Expr::col(api_request_hour::Column::GroupKey);
    grouped(db, query, bucket, key, summed(db, "requests")).await
}

/// `query` grouped by `bucket` (SQL, when there is one) and `key`,
/// selecting both and `count`. Constants are in the bucket's text so that
/// the grouped expression is the selected one.
async fn grouped<C: ConnectionTrait, E: EntityTrait>(
    db: &C,
    query: Select<E>,
    bucket: Option<String>,
    key: SimpleExpr,
    count: SimpleExpr,
) -> Result<Vec<Row>> {
    Ok(match bucket {
        Some(bucket) => query
            .expr(Expr::cust(bucket.clone()))
            .expr(key.clone())
            .expr(count)
            .group_by(Expr::cust(bucket))
            .group_by(key)
            .into_tuple::<(i64, String, i64)>()
            .all(db)
            .await?
            .into_iter()
            .map(|(bucket, key, count)| (Some(bucket), key, count))
            .collect(),
        None => query
            .expr(key.clone())
            .expr(count)
            .group_by(key)
            .into_tuple::<(String, i64)>()
            .all(db)
            .await?
            .into_iter()
            .map(|(key, count)| (None, key, count))
            .collect(),
    })
}

/// Most buckets one answer may have (a year of days; six weeks of hours).
pub const MAX_BUCKETS: i64 = 1000;

/// BAD_USER_INPUT naming `interval` when the range holds more than
/// [`MAX_BUCKETS`] of them: the answer has a count per bucket and key.
fn check_buckets(range: &TimeRange, interval: Interval) -> Result<()> {
    let approximate = match interval {
        Interval::Hour => Duration::hours(1),
        Interval::Day => Duration::days(1),
        Interval::Week => Duration::weeks(1),
        Interval::Month => Duration::days(28),
    };
    let span = range.end - interval.floor_utc(range.start);
    let buckets = span.num_seconds() / approximate.num_seconds() + 1;
    if buckets > MAX_BUCKETS {
        return Err(Error::bad_input(
            "interval",
            format!(
                "the range holds about {buckets} buckets of that interval; at most \
                 {MAX_BUCKETS}: narrow the range or take a longer interval"
            ),
        ));
    }
    Ok(())
}

/// Sums rows into their buckets and keys, and each count's share of its
/// bucket.
fn tally(rows: Vec<Row>, interval: Option<Interval>) -> Vec<Stat> {
    let mut counts: BTreeMap<(Option<DateTime<Utc>>, String), i64> = BTreeMap::new();
    let mut totals: BTreeMap<Option<DateTime<Utc>>, i64> = BTreeMap::new();
    for (bucket, key, count) in rows {
        let bucket = bucket
            .zip(interval)
            .map(|(micros, interval)| interval.floor_utc(from_micros(micros)));
        *counts.entry((bucket, key)).or_default() += count;
        *totals.entry(bucket).or_default() += count;
    }
    counts
        .into_iter()
        .map(|((bucket, key), count)| {
            let total = totals.get(&bucket).copied().unwrap_or(count).max(1);
            Stat {
                bucket,
                key,
                count,
                ratio: count as f64 / total as f64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_roll_up_into_weeks_and_ratios_share_their_bucket() {
        let day = |d: &str| {
            crate::time::to_micros(format!("{d}T00:00:00Z").parse::<DateTime<Utc>>().unwrap())
        };
        let rows = vec![
            (Some(day("2025-01-13")), "SUCCESS".to_owned(), 3),
            (Some(day("2025-01-19")), "SUCCESS".to_owned(), 3),
            (Some(day("2025-01-19")), "FAILURE".to_owned(), 2),
            (Some(day("2025-01-20")), "FAILURE".to_owned(), 1),
        ];
        let stats = tally(rows, Some(Interval::Week));
        let got: Vec<(String, &str, i64, f64)> = stats
            .iter()
            .map(|s| {
                (
                    s.bucket.unwrap().date_naive().to_string(),
                    s.key.as_str(),
                    s.count,
                    s.ratio,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("2025-01-13".to_owned(), "FAILURE", 2, 0.25),
                ("2025-01-13".to_owned(), "SUCCESS", 6, 0.75),
                ("2025-01-20".to_owned(), "FAILURE", 1, 1.0),
            ]
        );
        let plain = tally(vec![(None, "NONE".to_owned(), 4)], None);
        assert_eq!(plain[0].key, "NONE");
        assert_eq!(plain[0].ratio, 1.0);
    }
}
