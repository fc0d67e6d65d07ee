//! User counts at any instant, exactly, without rescanning history.
//!
//! Every change adds its deltas (`status:X` ±1, `role:X` ±1) to a daily
//! rollup row of its realm and UTC day, in the change's own transaction. The
//! counts at T are the rollup summed over the days before T's day, plus the
//! deltas of T's own day up to T, recomputed from that day's history rows.
//! Deltas are additive, so history written for past dates keeps it exact.
//!
//! The status deltas also go to a quarter-hour rollup (`user_count_quarters`),
//! so counts at any local boundary of any zone are sums of rollup rows alone
//! (see `service::insights`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use entity::{user_change, user_count_day, user_count_quarter};
use sea_orm::sea_query::{Expr, OnConflict, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};

use super::Result;
use super::directory::UserStatus;
use super::directory::state::decode_roles;
use crate::time::to_micros;

pub const MICROS_PER_DAY: i64 = 86_400_000_000;
pub const MICROS_PER_QUARTER: i64 = 900_000_000;
pub const QUARTERS_PER_DAY: i32 = 96;

/// Days since the epoch (UTC) of an instant in microseconds.
pub fn day_of(micros: i64) -> i32 {
    micros.div_euclid(MICROS_PER_DAY) as i32
}

/// Quarter hours since the epoch (UTC) of an instant in microseconds.
pub fn quarter_of(micros: i64) -> i32 {
    micros.div_euclid(MICROS_PER_QUARTER) as i32
}

/// True for the keys the quarter-hour rollup keeps (statuses).
pub fn is_status_key(key: &str) -> bool {
    key.starts_with("status:")
}

pub fn status_key(status: UserStatus) -> String {
    format!("status:{}", status.as_str())
}

pub fn role_key(role: &str) -> String {
    format!("role:{role}")
}

/// What a user contributes to the counts: their status and app roles.
#[derive(Debug, Clone, Copy)]
pub struct Counted<'a> {
    pub status: UserStatus,
    pub roles: &'a [String],
}

/// The count deltas of one change: `before` None for a creation, `after`
/// None for a deletion.
pub fn deltas(before: Option<Counted<'_>>, after: Option<Counted<'_>>) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    for (side, sign) in [(before, -1), (after, 1)] {
        if let Some(c) = side {
            *out.entry(status_key(c.status)).or_default() += sign;
            for role in c.roles {
                *out.entry(role_key(role)).or_default() += sign;
            }
        }
    }
    out.retain(|_, d| *d != 0);
    out
}

/// Adds `deltas` to the rollup row of (realm, day of `at`), and the status
/// deltas to the row of (realm, quarter hour of `at`).
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    realm_id: i32,
    at: DateTime<Utc>,
    deltas: &BTreeMap<String, i64>,
) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let at = to_micros(at);
    let day = day_of(at);
    let days = deltas
        .iter()
        .map(|(key, delta)| user_count_day::ActiveModel {
            realm_id: sea_orm::Set(realm_id),
            day: sea_orm::Set(day),
            count_key: sea_orm::Set(key.clone()),
            delta: sea_orm::Set(*delta),
        });
    user_count_day::Entity::insert_many(days)
        .on_conflict(
            OnConflict::columns([
                user_count_day::Column::RealmId,
                user_count_day::Column::Day,
                user_count_day::Column::CountKey,
            ])
            .value(
                user_count_day::Column::Delta,
                added(db, "user_count_days", "delta"),
            )
            .to_owned(),
        )
        .exec(db)
        .await?;
    let quarter = quarter_of(at);
    let quarters: Vec<_> = deltas
        .iter()
        .filter(|(key, _)| is_status_key(key))
        .map(|(key, delta)| user_count_quarter::ActiveModel {
            realm_id: sea_orm::Set(realm_id),
            quarter: sea_orm::Set(quarter),
            count_key: sea_orm::Set(key.clone()),
            delta: sea_orm::Set(*delta),
        })
        .collect();
    if quarters.is_empty() {
        return Ok(());
    }
    user_count_quarter::Entity::insert_many(quarters)
        .on_conflict(
            OnConflict::columns([
                user_count_quarter::Column::RealmId,
                user_count_quarter::Column::Quarter,
                user_count_quarter::Column::CountKey,
            ])
            .value(
                user_count_quarter::Column::Delta,
                added(db, "user_count_quarters", "delta"),
            )
            .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// "Add to the existing row" in an upsert of `table`'s `column`: the one
/// expression that differs per backend.
pub(crate) fn added<C: ConnectionTrait>(db: &C, table: &str, column: &str) -> SimpleExpr {
    match db.get_database_backend() {
        DbBackend::MySql => Expr::cust(format!("`{column}` + VALUES(`{column}`)")),
        _ => Expr::cust(format!(
            "\"{table}\".\"{column}\" + \"excluded\".\"{column}\""
        )),
    }
}

/// `SUM(delta)` as a 64-bit integer.
pub(crate) fn summed_delta<C: ConnectionTrait>(db: &C) -> SimpleExpr {
    summed(db, "delta")
}

/// `SUM(column)` as a 64-bit integer: SUM is DECIMAL on MySQL and NUMERIC on
/// PostgreSQL, so it is cast back.
pub(crate) fn summed<C: ConnectionTrait>(db: &C, column: &str) -> SimpleExpr {
    match db.get_database_backend() {
        DbBackend::MySql => Expr::cust(format!("CAST(SUM(`{column}`) AS SIGNED)")),
        _ => Expr::cust(format!("CAST(SUM(\"{column}\") AS BIGINT)")),
    }
}

#[derive(Debug, FromQueryResult)]
struct KeySum {
    count_key: String,
    total: i64,
}

#[derive(Debug, FromQueryResult)]
struct DayChange {
    previous_status: Option<String>,
    status: String,
    previous_roles: String,
    roles: String,
    deleted: bool,
}

/// Every count at instant `at` (inclusive), in the given realms (None: all).
pub async fn counts_at<C: ConnectionTrait>(
    db: &C,
    realm_ids: Option<&[i32]>,
    at: DateTime<Utc>,
) -> Result<HashMap<String, i64>> {
    let at = to_micros(at);
    let day = day_of(at);
    let total = summed_delta(db);
    let mut before_day = user_count_day::Entity::find()
        .select_only()
        .column(user_count_day::Column::CountKey)
        .column_as(total, "total")
        .filter(user_count_day::Column::Day.lt(day))
        .group_by(user_count_day::Column::CountKey);
    if let Some(ids) = realm_ids {
        before_day = before_day.filter(user_count_day::Column::RealmId.is_in(ids.to_vec()));
    }
    let mut counts: HashMap<String, i64> = before_day
        .into_model::<KeySum>()
        .all(db)
        .await?
        .into_iter()
        .map(|k| (k.count_key, k.total))
        .collect();

    let day_start = i64::from(day) * MICROS_PER_DAY;
    let mut today = user_change::Entity::find()
        .select_only()
        .columns([
            user_change::Column::PreviousStatus,
            user_change::Column::Status,
            user_change::Column::PreviousRoles,
            user_change::Column::Roles,
            user_change::Column::Deleted,
        ])
        .filter(user_change::Column::ChangedAt.gte(day_start))
        .filter(user_change::Column::ChangedAt.lte(at));
    if let Some(ids) = realm_ids {
        today = today.filter(user_change::Column::RealmId.is_in(ids.to_vec()));
    }
    for change in today.into_model::<DayChange>().all(db).await? {
        let previous_roles = decode_roles(&change.previous_roles);
        let roles = decode_roles(&change.roles);
        let status = change.status.parse().unwrap_or(UserStatus::Active);
        let before = change.previous_status.map(|s| Counted {
            status: s.parse().unwrap_or(UserStatus::Active),
            roles: &previous_roles,
        });
        let after = (!change.deleted).then_some(Counted {
            status,
            roles: &roles,
        });
        for (key, delta) in deltas(before, after) {
            *counts.entry(key).or_default() += delta;
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_cover_creation_change_and_deletion() {
        let admin = vec!["APP_ADMIN".to_owned()];
        let none: Vec<String> = vec![];
        let active = |roles| Counted {
            status: UserStatus::Active,
            roles,
        };
        let created = deltas(None, Some(active(&admin)));
        assert_eq!(created.get("status:ACTIVE"), Some(&1));
        assert_eq!(created.get("role:APP_ADMIN"), Some(&1));
        let suspended = Counted {
            status: UserStatus::Suspended,
            roles: &none,
        };
        let changed = deltas(Some(active(&admin)), Some(suspended));
        assert_eq!(changed.get("status:ACTIVE"), Some(&-1));
        assert_eq!(changed.get("status:SUSPENDED"), Some(&1));
        assert_eq!(changed.get("role:APP_ADMIN"), Some(&-1));
        assert!(deltas(Some(active(&admin)), Some(active(&admin))).is_empty());
        assert_eq!(
            deltas(Some(suspended), None).get("status:SUSPENDED"),
            Some(&-1)
        );
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(MICROS_PER_DAY), 1);
    }
}
