//! `apiRequestStats`: how many requests, and what share of their bucket, per
//! outcome, operation, error code or token, optionally per UTC bucket.
//!
//! The database counts per (hour or day, key) in one grouped scan of the
//! range; weeks and months are summed from days here (a month has no fixed
//! length in microseconds), a few hundred rows at most.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use entity::api_request;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{EntityTrait, QueryFilter, QuerySelect};

use super::{ApiRequests, in_range, visible};
use crate::service::range::{Interval, RangeArgs, TimeRange};
use crate::service::{Error, Principal, Result, Scope};
use crate::time::from_micros;

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
    /// The key as SQL (column names only, nothing from the caller).
    fn key(self) -> SimpleExpr {
        Expr::cust(match self {
            Group::Outcome => "CASE WHEN success THEN 'SUCCESS' ELSE 'FAILURE' END",
            Group::Operation => "operation",
            Group::ErrorCode => "error_code",
            Group::Token => "token_name",
        })
    }

    fn absent(self) -> &'static str {
        match self {
            Group::ErrorCode => "NONE",
            _ => "anonymous",
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

const HOUR_MICROS: i64 = 3_600_000_000;
const DAY_MICROS: i64 = 24 * HOUR_MICROS;

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
        let condition = visible(actor).add(in_range(&range));
        // Hours and days as integer arithmetic on the stored microseconds:
        // the same SQL on every backend (`%` is SQLite's, PostgreSQL's and
        // MySQL's), with constants in the text so that the grouped
        // expression is the selected one.
        let grain = match interval {
            None => None,
            Some(Interval::Hour) => Some(HOUR_MICROS),
            Some(_) => Some(DAY_MICROS),
        };
        let query = api_request::Entity::find().select_only().filter(condition);
        let rows: Vec<(Option<i64>, Option<String>, i64)> = match grain {
            Some(grain) => {
                let bucket = Expr::cust(format!("occurred_at - occurred_at % {grain}"));
                query
                    .expr(bucket.clone())
                    .expr(group.key())
                    .expr(Expr::cust("COUNT(*)"))
                    .group_by(bucket)
                    .group_by(group.key())
                    .into_tuple::<(i64, Option<String>, i64)>()
                    .all(self.db.conn())
                    .await?
                    .into_iter()
                    .map(|(bucket, key, count)| (Some(bucket), key, count))
                    .collect()
            }
            None => query
                .expr(group.key())
                .expr(Expr::cust("COUNT(*)"))
                .group_by(group.key())
                .into_tuple::<(Option<String>, i64)>()
                .all(self.db.conn())
                .await?
                .into_iter()
                .map(|(key, count)| (None, key, count))
                .collect(),
        };
        Ok(tally(rows, interval, group))
    }
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
fn tally(
    rows: Vec<(Option<i64>, Option<String>, i64)>,
    interval: Option<Interval>,
    group: Group,
) -> Vec<Stat> {
    let mut counts: BTreeMap<(Option<DateTime<Utc>>, String), i64> = BTreeMap::new();
    let mut totals: BTreeMap<Option<DateTime<Utc>>, i64> = BTreeMap::new();
    for (bucket, key, count) in rows {
        let bucket = bucket
            .zip(interval)
            .map(|(micros, interval)| interval.floor_utc(from_micros(micros)));
        let key = key.unwrap_or_else(|| group.absent().to_owned());
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
            (Some(day("2025-01-13")), Some("SUCCESS".to_owned()), 3),
            (Some(day("2025-01-19")), Some("SUCCESS".to_owned()), 3),
            (Some(day("2025-01-19")), Some("FAILURE".to_owned()), 2),
            (Some(day("2025-01-20")), Some("FAILURE".to_owned()), 1),
        ];
        let stats = tally(rows, Some(Interval::Week), Group::Outcome);
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
        let plain = tally(vec![(None, None, 4)], None, Group::ErrorCode);
        assert_eq!(plain[0].key, "NONE");
        assert_eq!(plain[0].ratio, 1.0);
    }
}
