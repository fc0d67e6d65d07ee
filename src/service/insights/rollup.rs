//! Status counts at many instants from the rollups, without rescanning
//! history.
//!
//! The state just before instant X is the daily rollup summed over the UTC
//! days before X's day, plus the quarter-hour rollup from that day's start to
//! X's quarter, plus the changes between X's quarter and X (none when X is on
//! a quarter hour, as every local boundary of a zone in use is). When X is
//! late in its day, the same is reached from the other side: the days up to
//! and including X's day, minus the quarters from X's quarter to the day's
//! end. So each cut reads at most 48 quarter rows per status and realm, and
//! a whole series is four statements: the days before the range, the days in
//! it, the quarters around each cut and the few changes of unaligned cuts.

use std::collections::BTreeMap;

use entity::{user_change, user_count_day, user_count_quarter};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    QueryTrait,
};

use crate::service::Result;
use crate::service::directory::UserStatus;
use crate::service::user_counts::{
    MICROS_PER_QUARTER, QUARTERS_PER_DAY, day_of, quarter_of, status_key, summed_delta,
};

/// Users per status, in [`UserStatus::ALL`] order.
pub type StatusCounts = [i64; 3];

fn status_index(status: UserStatus) -> usize {
    match status {
        UserStatus::Active => 0,
        UserStatus::Dormant => 1,
        UserStatus::Suspended => 2,
    }
}

fn key_index(key: &str) -> Option<usize> {
    UserStatus::ALL
        .into_iter()
        .find(|s| status_key(*s) == key)
        .map(status_index)
}

fn status_keys() -> Vec<String> {
    UserStatus::ALL.into_iter().map(status_key).collect()
}

/// How one cut is counted.
struct Cut {
    /// Days strictly before this one are summed whole.
    days_before: i32,
    /// Quarter rows in `[from, to)`, added (+1) or taken away (-1).
    quarters: (i32, i32),
    sign: i64,
    /// Changes in `[from, to)` microseconds, when the cut is not on a quarter.
    residue: Option<(i64, i64)>,
}

impl Cut {
    fn new(x: i64) -> Self {
        let day = day_of(x);
        let quarter = quarter_of(x);
        let day_quarter = day * QUARTERS_PER_DAY;
        let on_quarter = i64::from(quarter) * MICROS_PER_QUARTER;
        let residue = (on_quarter < x).then_some((on_quarter, x));
        if quarter - day_quarter <= QUARTERS_PER_DAY / 2 {
            Self {
                days_before: day,
                quarters: (day_quarter, quarter),
                sign: 1,
                residue,
            }
        } else {
            Self {
                days_before: day + 1,
                quarters: (quarter, day_quarter + QUARTERS_PER_DAY),
                sign: -1,
                residue,
            }
        }
    }
}

#[derive(Debug, FromQueryResult)]
struct KeySum {
    count_key: String,
    total: i64,
}

#[derive(Debug, FromQueryResult)]
struct DayRow {
    day: i32,
    count_key: String,
    delta: i64,
}

#[derive(Debug, FromQueryResult)]
struct QuarterRow {
    quarter: i32,
    count_key: String,
    delta: i64,
}

#[derive(Debug, FromQueryResult)]
struct ChangeRow {
    changed_at: i64,
    previous_status: Option<String>,
    status: String,
    deleted: bool,
}

/// Sorted `(position, counts)` with running totals, for sums over ranges.
struct Running(Vec<(i64, StatusCounts)>);

impl Running {
    fn new(rows: impl IntoIterator<Item = (i64, usize, i64)>) -> Self {
        let mut by_position: BTreeMap<i64, StatusCounts> = BTreeMap::new();
        for (position, index, delta) in rows {
            by_position.entry(position).or_default()[index] += delta;
        }
        let mut total = StatusCounts::default();
        Self(
            by_position
                .into_iter()
                .map(|(position, counts)| {
                    for (t, c) in total.iter_mut().zip(counts) {
                        *t += c;
                    }
                    (position, total)
                })
                .collect(),
        )
    }

    /// The sum of every row before `position`.
    fn before(&self, position: i64) -> StatusCounts {
        match self.0.partition_point(|(p, _)| *p < position) {
            0 => StatusCounts::default(),
            n => self.0[n - 1].1,
        }
    }

    fn between(&self, from: i64, to: i64) -> StatusCounts {
        let (a, b) = (self.before(from), self.before(to));
        [b[0] - a[0], b[1] - a[1], b[2] - a[2]]
    }
}

/// Merges half-open ranges into sorted, disjoint ones.
fn merged<T: Ord + Copy>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.retain(|(a, b)| a < b);
    ranges.sort();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// A condition matching any of `ranges` on `column`, values written as
/// literals: they are computed integers, and a thousand ranges would
/// otherwise bind two thousand parameters.
fn any_range<C: ColumnTrait, T: ToString>(column: C, ranges: &[(T, T)]) -> Condition {
    ranges.iter().fold(Condition::any(), |any, (a, b)| {
        any.add(
            Condition::all()
                .add(column.into_expr().gte(Expr::cust(a.to_string())))
                .add(column.into_expr().lt(Expr::cust(b.to_string()))),
        )
    })
}

/// Users per status just before each instant of `cuts` (microseconds), in
/// the given realms (None: all). Call it inside one read transaction.
pub async fn counts_before<C: ConnectionTrait>(
    db: &C,
    realm_ids: Option<&[i32]>,
    cuts: &[i64],
) -> Result<Vec<StatusCounts>> {
    if cuts.is_empty() || realm_ids.is_some_and(<[i32]>::is_empty) {
        return Ok(vec![StatusCounts::default(); cuts.len()]);
    }
    let plans: Vec<Cut> = cuts.iter().map(|x| Cut::new(*x)).collect();
    let first_day = plans.iter().map(|c| c.days_before).min().unwrap_or(0);
    let last_day = plans.iter().map(|c| c.days_before).max().unwrap_or(0);
    let realm_filter =
        |column: user_count_day::Column| realm_ids.map(|ids| column.is_in(ids.iter().copied()));

    let carried = user_count_day::Entity::find()
        .select_only()
        .column(user_count_day::Column::CountKey)
        .column_as(summed_delta(db), "total")
        .filter(user_count_day::Column::Day.lt(first_day))
        .filter(user_count_day::Column::CountKey.is_in(status_keys()))
        .apply_if(realm_filter(user_count_day::Column::RealmId), |q, c| {
            q.filter(c)
        })
        .group_by(user_count_day::Column::CountKey)
        .into_model::<KeySum>()
        .all(db)
        .await?;
    let mut carry = StatusCounts::default();
    for row in carried {
        if let Some(i) = key_index(&row.count_key) {
            carry[i] += row.total;
        }
    }

    let days = user_count_day::Entity::find()
        .select_only()
        .columns([
            user_count_day::Column::Day,
            user_count_day::Column::CountKey,
            user_count_day::Column::Delta,
        ])
        .filter(user_count_day::Column::Day.gte(first_day))
        .filter(user_count_day::Column::Day.lt(last_day))
        .filter(user_count_day::Column::CountKey.is_in(status_keys()))
        .apply_if(realm_filter(user_count_day::Column::RealmId), |q, c| {
            q.filter(c)
        })
        .into_model::<DayRow>()
        .all(db)
        .await?;
    let days = Running::new(
        days.into_iter()
            .filter_map(|r| key_index(&r.count_key).map(|i| (i64::from(r.day), i, r.delta))),
    );

    let quarter_ranges = merged(plans.iter().map(|c| c.quarters).collect());
    let quarters = if quarter_ranges.is_empty() {
        Vec::new()
    } else {
        user_count_quarter::Entity::find()
            .select_only()
            .columns([
                user_count_quarter::Column::Quarter,
                user_count_quarter::Column::CountKey,
                user_count_quarter::Column::Delta,
            ])
            .filter(any_range(
                user_count_quarter::Column::Quarter,
                &quarter_ranges,
            ))
            .apply_if(
                realm_ids.map(|ids| user_count_quarter::Column::RealmId.is_in(ids.iter().copied())),
                |q, c| q.filter(c),
            )
            .into_model::<QuarterRow>()
            .all(db)
            .await?
    };
    let quarters = Running::new(
        quarters
            .into_iter()
            .filter_map(|r| key_index(&r.count_key).map(|i| (i64::from(r.quarter), i, r.delta))),
    );

    let residue_ranges = merged(plans.iter().filter_map(|c| c.residue).collect());
    let changes = if residue_ranges.is_empty() {
        Vec::new()
    } else {
        user_change::Entity::find()
            .select_only()
            .columns([
                user_change::Column::ChangedAt,
                user_change::Column::PreviousStatus,
                user_change::Column::Status,
                user_change::Column::Deleted,
            ])
            .filter(any_range(user_change::Column::ChangedAt, &residue_ranges))
            .apply_if(
                realm_ids.map(|ids| user_change::Column::RealmId.is_in(ids.iter().copied())),
                |q, c| q.filter(c),
            )
            .into_model::<ChangeRow>()
            .all(db)
            .await?
    };
    let changes = Running::new(changes.into_iter().flat_map(|c| {
        let before = c
            .previous_status
            .and_then(|s| s.parse().ok())
            .map(|s| (c.changed_at, status_index(s), -1));
        let after = (!c.deleted)
            .then(|| c.status.parse().ok())
            .flatten()
            .map(|s| (c.changed_at, status_index(s), 1));
        before.into_iter().chain(after)
    }));

    Ok(plans
        .iter()
        .map(|cut| {
            let whole_days = days.before(i64::from(cut.days_before));
            let (from, to) = cut.quarters;
            let part = quarters.between(i64::from(from), i64::from(to));
            let rest = cut
                .residue
                .map(|(from, to)| changes.between(from, to))
                .unwrap_or_default();
            std::array::from_fn(|i| carry[i] + whole_days[i] + cut.sign * part[i] + rest[i])
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_take_the_shorter_side_of_their_day() {
        let day = 20_000_i64 * 86_400_000_000;
        let early = Cut::new(day + 2 * MICROS_PER_QUARTER);
        assert_eq!((early.days_before, early.sign), (20_000, 1));
        assert_eq!(early.quarters, (20_000 * 96, 20_000 * 96 + 2));
        assert_eq!(early.residue, None);
        let late = Cut::new(day + 90 * MICROS_PER_QUARTER + 5);
        assert_eq!((late.days_before, late.sign), (20_001, -1));
        assert_eq!(late.quarters, (20_000 * 96 + 90, 20_001 * 96));
        assert_eq!(
            late.residue,
            Some((
                day + 90 * MICROS_PER_QUARTER,
                day + 90 * MICROS_PER_QUARTER + 5
            ))
        );
        assert_eq!(
            merged(vec![(5, 9), (1, 3), (3, 4), (8, 12), (7, 7)]),
            [(1, 4), (5, 12)]
        );
    }
}
