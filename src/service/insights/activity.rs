//! Reads of recorded activity: distinct active users per bucket, seconds and
//! apps per user, latency percentiles per user, usage per app.
//!
//! A session counts at its start: it is in a range or bucket when its
//! `startedAt` is. Ranges of `userActivity`, `userLatency` and `appUsage`
//! are half-open, `[startDate, endDate)`; `activeUsers` buckets are those of
//! `userStatusCounts` (the last one includes `endDate`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use entity::{activity, user};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};

use super::buckets::{self, DEFAULT_DAYS, Interval};
use super::{Insights, active_rollup, latency_rollup};
use crate::service::filter::check_list;
use crate::service::user_counts::summed;
use crate::service::{Error, Principal, Result, Scope};
use crate::time::to_micros;

/// What `activeUsers` is asked.
#[derive(Debug, Clone, Default)]
pub struct ActiveUsersQuery {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub interval: Option<Interval>,
    pub time_zone: Option<String>,
    pub tz_offset: Option<i32>,
    pub realm: Option<String>,
    /// Sessions in these apps only; None or empty: every app.
    pub apps: Option<Vec<String>>,
}

/// One bucket of `activeUsers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePoint {
    /// The local date the bucket starts on.
    pub date: NaiveDate,
    pub start: DateTime<Utc>,
    /// The next bucket's start; `endDate` for the last bucket.
    pub end: DateTime<Utc>,
    pub active_users: i64,
}

/// The range of `userActivity`, `userLatency` and `appUsage`.
#[derive(Debug, Clone, Default)]
pub struct ActivityRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub realm: Option<String>,
    /// Only `userActivity` takes it; None or empty: every app.
    pub apps: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserActivity {
    pub user_id: i32,
    pub email: String,
    pub seconds: i64,
    /// By name.
    pub apps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserLatency {
    pub user_id: i32,
    pub email: String,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUsage {
    pub app: String,
    pub seconds: i64,
    pub times_used: i64,
    pub users: i64,
}

/// Sessions of the given realms and apps, started in `[from, to)`.
fn sessions(realm_ids: &[i32], apps: &[String], from: i64, to: i64) -> Condition {
    let mut condition = Condition::all()
        .add(activity::Column::RealmId.is_in(realm_ids.iter().copied()))
        .add(activity::Column::StartedAt.gte(from))
        .add(activity::Column::StartedAt.lt(to));
    if !apps.is_empty() {
        condition = condition.add(activity::Column::App.is_in(apps.iter().cloned()));
    }
    condition
}

/// The apps of a filter, trimmed; BAD_USER_INPUT on `field` when too many.
fn app_filter(apps: Option<&[String]>, field: &str) -> Result<Vec<String>> {
    check_list(apps, field)?;
    Ok(apps
        .unwrap_or_default()
        .iter()
        .map(|a| a.trim().to_owned())
        .collect())
}

fn check_range(range: &ActivityRange) -> Result<(i64, i64)> {
    if range.start > range.end {
        return Err(Error::bad_input(
            "startDate",
            format!("startDate {} is after endDate {}", range.start, range.end),
        ));
    }
    Ok((to_micros(range.start), to_micros(range.end)))
}

#[derive(Debug, FromQueryResult)]
struct UserAppSeconds {
    user_id: i32,
    app: String,
    seconds: i64,
}

#[derive(Debug, FromQueryResult)]
struct AppRow {
    app: String,
    seconds: i64,
    times_used: i64,
    users: i64,
}

/// Rows per `IN (...)` list of user ids.
const ID_CHUNK: usize = 1_000;

/// Ids per range of `emails_by_id`'s reads.
const ID_WINDOW: i32 = 10_000;

/// The emails of `ids` (sorted; deleted users' too: their activity stays
/// theirs), maybe with others'.
///
/// Where at least a quarter of the users table's id span is wanted, every
/// email is read in one statement ([`all_emails`]), else by id
/// ([`emails_by_id`]).
async fn emails<C: ConnectionTrait>(db: &C, ids: &[i32]) -> Result<HashMap<i32, String>> {
    if wants_all_users(db, ids.len()).await? {
        return all_emails(db).await;
    }
    emails_by_id(db, ids).await
}

/// The emails of `ids` (sorted), maybe with others': by range where at
/// least a quarter of a range's ids are wanted (a primary key range scan,
/// where a list of 1,000 ids costs 1,000 lookups), by list elsewhere.
async fn emails_by_id<C: ConnectionTrait>(db: &C, ids: &[i32]) -> Result<HashMap<i32, String>> {
    let mut out = HashMap::with_capacity(ids.len());
    let mut rest = ids;
    while let Some(&first) = rest.first() {
        let in_window =
            rest.partition_point(|&id| i64::from(id) - i64::from(first) < i64::from(ID_WINDOW));
        let last = rest[in_window - 1];
        let condition = if 4 * in_window as i64 > i64::from(last) - i64::from(first) {
            rest = &rest[in_window..];
            Condition::all()
                .add(user::Column::Id.gte(first))
                .add(user::Column::Id.lte(last))
        } else {
            let (list, others) = rest.split_at(rest.len().min(ID_CHUNK));
            rest = others;
            Condition::all().add(user::Column::Id.is_in(list.iter().copied()))
        };
        read_emails(db, Some(condition), &mut out).await?;
    }
    Ok(out)
}

/// Whether `wanted` users (at most) are at least a quarter of the users
/// table's id span, where one read of every email costs no more than
/// reading theirs by id.
async fn wants_all_users<C: ConnectionTrait>(db: &C, wanted: usize) -> Result<bool> {
    let (lo, hi): (Option<i32>, Option<i32>) = user::Entity::find()
        .select_only()
        .column_as(user::Column::Id.min(), "lo")
        .column_as(user::Column::Id.max(), "hi")
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or_default();
    Ok(match (lo, hi) {
        (Some(lo), Some(hi)) => 4 * wanted as i64 > i64::from(hi) - i64::from(lo),
        _ => false,
    })
}

/// Every user's email, in one statement without parameters, so that the
/// planner sees a whole-table read (SQLite reads the covering (email, id)
/// index, a fraction of the table; PostgreSQL scans the table or that
/// index). Ids read by range instead take a generic plan on PostgreSQL
/// (`plan_cache_mode`), a bitmap scan of each range: 90 ms for 100k users
/// in ranges of 10k, against 25-40 ms in one read.
async fn all_emails<C: ConnectionTrait>(db: &C) -> Result<HashMap<i32, String>> {
    let mut out = HashMap::new();
    read_emails(db, None, &mut out).await?;
    Ok(out)
}

/// Reads the (id, email) of the users matching `condition` (every user
/// when None) into `out`. On SQLite and PostgreSQL it is one aggregated
/// string, "id email" lines (emails hold no whitespace): a row costs the
/// driver far more than its bytes, and there may be 100k users. MySQL's
/// aggregate is cut at `group_concat_max_len`, so there one row per user.
async fn read_emails<C: ConnectionTrait>(
    db: &C,
    condition: Option<Condition>,
    out: &mut HashMap<i32, String>,
) -> Result<()> {
    let backend = db.get_database_backend();
    let mut query = user::Entity::find().select_only();
    if let Some(condition) = condition {
        query = query.filter(condition);
    }
    let lines = match backend {
        DbBackend::Sqlite => "group_concat(id || ' ' || email, char(10))",
        DbBackend::Postgres => "string_agg(id::text || ' ' || email, E'\\n')",
        _ => {
            let rows: Vec<(i32, String)> = query
                .columns([user::Column::Id, user::Column::Email])
                .into_tuple()
                .all(db)
                .await?;
            out.extend(rows);
            return Ok(());
        }
    };
    let text: Option<Option<String>> = query
        .column_as(Expr::cust(lines), "lines")
        .into_tuple()
        .one(db)
        .await?;
    for line in text.flatten().unwrap_or_default().split('\n') {
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .split_once(' ')
            .and_then(|(id, email)| Some((id.parse::<i32>().ok()?, email.to_owned())));
        let Some((id, email)) = parsed else {
            return Err(Error::Internal(anyhow::anyhow!(
                "an email line without an id"
            )));
        };
        out.insert(id, email);
    }
    Ok(())
}

impl Insights {
    /// The realms a read covers: the named one (FORBIDDEN outside the
    /// caller's bindings whether or not it exists, BAD_USER_INPUT on
    /// `realm` when unknown), else every realm it may see. Always listed,
    /// also for a token that sees them all: the index leads with the realm,
    /// so a time range is an index range per realm only when realms are
    /// named.
    async fn realm_ids(&self, actor: &Principal, realm: Option<&str>) -> Result<Vec<i32>> {
        let realms = self.realms.get(self.db.conn()).await?;
        match realm {
            Some(name) => {
                actor.require_realm(name)?;
                Ok(vec![realms.resolve(name, "realm")?.id])
            }
            None => Ok(realms
                .all()
                .filter(|r| actor.sees(&r.name))
                .map(|r| r.id)
                .collect()),
        }
    }

    /// Distinct users with a session starting in each bucket.
    pub async fn active_users(
        &self,
        actor: &Principal,
        query: &ActiveUsersQuery,
    ) -> Result<Vec<ActivePoint>> {
        actor.require(Scope::InsightsRead)?;
        let series = buckets::Series::resolve(
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
        let apps = app_filter(query.apps.as_deref(), "apps")?;
        let realm_ids = self.realm_ids(actor, query.realm.as_deref()).await?;
        let cuts: Vec<(i64, i64)> = series
            .buckets
            .iter()
            .map(|b| (to_micros(b.start), to_micros(b.end)))
            .collect();
        let (realm_ids, apps, cuts) = (&realm_ids[..], &apps, &cuts);
        let counts = self
            .db
            .read(|tx| async move {
                // Whole local days from the rollups; the rest (a partial last
                // bucket, weeks, months, an apps filter) from the sessions.
                let rolled = if apps.is_empty() {
                    active_rollup::counts(&*tx, realm_ids, cuts).await?
                } else {
                    vec![None; cuts.len()]
                };
                let mut counts = Vec::with_capacity(cuts.len());
                for (&(from, to), rolled) in cuts.iter().zip(rolled) {
                    if let Some(n) = rolled {
                        counts.push(n);
                        continue;
                    }
                    let n: Option<i64> = activity::Entity::find()
                        .select_only()
                        .column_as(Expr::cust("COUNT(DISTINCT user_id)"), "n")
                        .filter(sessions(realm_ids, apps, from, to))
                        .into_tuple()
                        .one(&*tx)
                        .await?;
                    counts.push(n.unwrap_or(0));
                }
                Ok(counts)
            })
            .await?;
        let last = series.buckets.len().saturating_sub(1);
        Ok(series
            .buckets
            .iter()
            .zip(counts)
            .enumerate()
            .map(|(i, (bucket, active_users))| ActivePoint {
                date: bucket.start.with_timezone(&series.zone).date_naive(),
                start: bucket.start,
                end: if i == last { series.end } else { bucket.end },
                active_users,
            })
            .collect())
    }

    /// Seconds and apps per user with sessions in the range, by user id.
    pub async fn user_activity(
        &self,
        actor: &Principal,
        range: &ActivityRange,
    ) -> Result<Vec<UserActivity>> {
        actor.require(Scope::InsightsRead)?;
        let (from, to) = check_range(range)?;
        let apps = app_filter(range.apps.as_deref(), "apps")?;
        let realm_ids = self.realm_ids(actor, range.realm.as_deref()).await?;
        let (realm_ids, apps) = (&realm_ids[..], &apps);
        let (rows, mut emails) = self
            .db
            .read(|tx| async move {
                let rows = activity::Entity::find()
                    .select_only()
                    .columns([activity::Column::UserId, activity::Column::App])
                    .column_as(summed(&*tx, "seconds"), "seconds")
                    .filter(sessions(realm_ids, apps, from, to))
                    .group_by(activity::Column::UserId)
                    .group_by(activity::Column::App)
                    .into_model::<UserAppSeconds>()
                    .all(&*tx)
                    .await?;
                let ids: BTreeSet<i32> = rows.iter().map(|r| r.user_id).collect();
                let ids: Vec<i32> = ids.into_iter().collect();
                let emails = emails(&*tx, &ids).await?;
                Ok((rows, emails))
            })
            .await?;
        let mut per_user: BTreeMap<i32, (i64, BTreeSet<String>)> = BTreeMap::new();
        for row in rows {
            let entry = per_user.entry(row.user_id).or_default();
            entry.0 += row.seconds;
            entry.1.insert(row.app);
        }
        Ok(per_user
            .into_iter()
            .map(|(user_id, (seconds, apps))| UserActivity {
                user_id,
                email: emails.remove(&user_id).unwrap_or_default(),
                seconds,
                apps: apps.into_iter().collect(),
            })
            .collect())
    }

    /// p50 and p95 latency per user with sessions in the range (null
    /// without samples), by user id.
    pub async fn user_latency(
        &self,
        actor: &Principal,
        range: &ActivityRange,
    ) -> Result<Vec<UserLatency>> {
        actor.require(Scope::InsightsRead)?;
        let (from, to) = check_range(range)?;
        let realm_ids = self.realm_ids(actor, range.realm.as_deref()).await?;
        let realm_ids = &realm_ids[..];
        let (latencies, mut emails) = self
            .db
            .read(|tx| async move {
                let samples = latency_rollup::read(&*tx, realm_ids, from, to).await?;
                // A user per session at most: when that may be most of the
                // users, every email is read while another thread gathers
                // and sorts each user's samples; otherwise the users' ids
                // come first.
                let read_all = wants_all_users(&*tx, samples.len()).await?;
                let latencies = tokio::task::spawn_blocking(move || samples.percentiles());
                let every_email = if read_all {
                    Some(all_emails(&*tx).await?)
                } else {
                    None
                };
                let latencies = latencies
                    .await
                    .map_err(|e| Error::Internal(anyhow::anyhow!("percentiles: {e}")))?;
                // Fewer users than sessions: by id, without asking again.
                let emails = match every_email {
                    Some(emails) => emails,
                    None => {
                        let ids: Vec<i32> = latencies.iter().map(|l| l.0).collect();
                        emails_by_id(&*tx, &ids).await?
                    }
                };
                Ok((latencies, emails))
            })
            .await?;
        Ok(latencies
            .into_iter()
            .map(|(user_id, p50_ms, p95_ms)| UserLatency {
                user_id,
                email: emails.remove(&user_id).unwrap_or_default(),
                p50_ms,
                p95_ms,
            })
            .collect())
    }

    /// Seconds, sessions and distinct users per app, most used first.
    pub async fn app_usage(
        &self,
        actor: &Principal,
        range: &ActivityRange,
    ) -> Result<Vec<AppUsage>> {
        actor.require(Scope::InsightsRead)?;
        let (from, to) = check_range(range)?;
        let realm_ids = self.realm_ids(actor, range.realm.as_deref()).await?;
        let realm_ids = &realm_ids[..];
        let rows = self
            .db
            .read(|tx| async move {
                Ok(activity::Entity::find()
                    .select_only()
                    .column(activity::Column::App)
                    .column_as(summed(&*tx, "seconds"), "seconds")
                    .column_as(Expr::cust("COUNT(*)"), "times_used")
                    .column_as(Expr::cust("COUNT(DISTINCT user_id)"), "users")
                    .filter(sessions(realm_ids, &[], from, to))
                    .group_by(activity::Column::App)
                    .into_model::<AppRow>()
                    .all(&*tx)
                    .await?)
            })
            .await?;
        let mut usage: Vec<AppUsage> = rows
            .into_iter()
            .map(|r| AppUsage {
                app: r.app,
                seconds: r.seconds,
                times_used: r.times_used,
                users: r.users,
            })
            .collect();
        usage.sort_by(|a, b| b.seconds.cmp(&a.seconds).then_with(|| a.app.cmp(&b.app)));
        Ok(usage)
    }
}
