//! `recordActivity`: a batch of sessions written in one transaction, or,
//! when any row is at fault, nothing at all.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use entity::{activity, user};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Insights, active_rollup, latency_rollup};
use crate::service::audit::{self, NewEvent, Resource};
use crate::service::directory::Realms;
use crate::service::{Error, Principal, Result, Scope};
use crate::time::to_micros;

/// Most rows one call may record.
pub const MAX_BATCH: usize = 10_000;
/// Longest session one row may hold: a day (longer use is recorded per day).
pub const MAX_SECONDS: i32 = 86_400;
/// Longest app name, in characters.
pub const MAX_APP_LEN: usize = 100;

/// Rows per INSERT: seven values each, well under every backend's limit of
/// bound parameters.
const INSERT_CHUNK: usize = 1_000;

/// One session to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    pub user_id: i32,
    pub app: String,
    pub started_at: DateTime<Utc>,
    pub seconds: i32,
    pub latency_ms: Option<f64>,
}

/// `input[i].field`, as the error names it.
fn field(index: usize, name: &str) -> String {
    format!("input[{index}].{name}")
}

/// Checks one row's values; the users are checked against the database.
fn check(index: usize, row: &NewActivity) -> Result<()> {
    let app = row.app.trim();
    if app.is_empty() || app.chars().count() > MAX_APP_LEN {
        return Err(Error::bad_input(
            field(index, "app"),
            format!("an app name has 1 to {MAX_APP_LEN} characters"),
        ));
    }
    if !(0..=MAX_SECONDS).contains(&row.seconds) {
        return Err(Error::bad_input(
            field(index, "seconds"),
            format!(
                "seconds must be from 0 to {MAX_SECONDS}, got {}",
                row.seconds
            ),
        ));
    }
    if let Some(latency) = row.latency_ms
        && !(latency.is_finite() && latency >= 0.0)
    {
        return Err(Error::bad_input(
            field(index, "latencyMs"),
            format!("latencyMs must be a finite number of at least 0, got {latency}"),
        ));
    }
    Ok(())
}

impl Insights {
    /// Records `rows` and returns how many. Every row must name a live user
    /// of a realm the caller may see; an unknown one (or one it may not see,
    /// which looks the same) rejects the batch, naming the first such row.
    /// One `activity.recorded` event per realm written to.
    pub async fn record_activity(&self, actor: &Principal, rows: &[NewActivity]) -> Result<usize> {
        actor.require(Scope::ActivityWrite)?;
        if rows.len() > MAX_BATCH {
            return Err(Error::bad_input(
                "input",
                format!("at most {MAX_BATCH} rows per call, got {}", rows.len()),
            ));
        }
        for (index, row) in rows.iter().enumerate() {
            check(index, row)?;
        }
        if rows.is_empty() {
            return Ok(0);
        }
        let mut ids: Vec<i32> = rows.iter().map(|r| r.user_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let now = self.clock.now();
        let ids = &ids;
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let realms = Realms::load(tx).await?;
                let mut realm_of: HashMap<i32, i32> = HashMap::with_capacity(ids.len());
                for chunk in ids.chunks(INSERT_CHUNK) {
                    // Locked in id order: the rollups of active users are
                    // updated by difference, one writer per user at a time.
                    let found: Vec<(i32, i32)> = user::Entity::find()
                        .select_only()
                        .columns([user::Column::Id, user::Column::RealmId])
                        .filter(user::Column::Id.is_in(chunk.iter().copied()))
                        .filter(user::Column::DeletedAt.is_null())
                        .order_by_asc(user::Column::Id)
                        .lock_exclusive()
                        .into_tuple()
                        .all(tx)
                        .await?;
                    realm_of.extend(found.into_iter().filter(|(_, realm_id)| {
                        realms.get(*realm_id).is_some_and(|r| actor.sees(&r.name))
                    }));
                }
                let mut per_realm: BTreeMap<i32, usize> = BTreeMap::new();
                let mut models = Vec::with_capacity(rows.len());
                let mut sessions = Vec::with_capacity(rows.len());
                let mut samples = Vec::with_capacity(rows.len());
                for (index, row) in rows.iter().enumerate() {
                    let Some(&realm_id) = realm_of.get(&row.user_id) else {
                        return Err(Error::bad_input(
                            field(index, "userId"),
                            format!("no user with id {}", row.user_id),
                        ));
                    };
                    *per_realm.entry(realm_id).or_default() += 1;
                    sessions.push((row.user_id, realm_id, to_micros(row.started_at)));
                    samples.push((
                        realm_id,
                        row.user_id,
                        to_micros(row.started_at),
                        row.latency_ms,
                    ));
                    models.push(activity::ActiveModel {
                        realm_id: Set(realm_id),
                        user_id: Set(row.user_id),
                        app: Set(row.app.trim().to_owned()),
                        started_at: Set(to_micros(row.started_at)),
                        seconds: Set(row.seconds),
                        latency_ms: Set(row.latency_ms),
                        ..Default::default()
                    });
                }
                let mut models = models.into_iter().peekable();
                while models.peek().is_some() {
                    let chunk: Vec<_> = models.by_ref().take(INSERT_CHUNK).collect();
                    activity::Entity::insert_many(chunk).exec(tx).await?;
                }
                active_rollup::apply(tx, &sessions).await?;
                latency_rollup::apply(tx, &samples).await?;
                for (realm_id, count) in per_realm {
                    let realm = realms.name(realm_id);
                    audit::record(
                        tx,
                        actor,
                        now,
                        NewEvent {
                            event: "activity.recorded",
                            realm: Some(&realm),
                            resources: vec![Resource::new(
                                "activity",
                                format!("{count} sessions"),
                                count,
                            )],
                        },
                    )
                    .await?;
                }
                Ok(rows.len())
            })
            .await
    }
}
