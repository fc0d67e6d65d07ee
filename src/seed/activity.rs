//! `seed --activity-days D`: recorded sessions over an existing directory,
//! for the insights benchmarks.
//!
//! Each user works in their realm's time zone (realms take turns among a
//! few offsets) on most weekdays and a few weekend days, in one to a handful
//! of sessions that start around the morning and early afternoon and last
//! minutes to hours (log-normal). Apps are a handful, by popularity; remote
//! ones (an IDE, ssh) carry a latency sample, log-normal with a long tail.
//! Active users work most days, dormant ones rarely, suspended ones not at
//! all; nobody before creation or after deletion. With 100k users, 90 days
//! give about 10M sessions. Deterministic: the same directory, spec and
//! `now` give the same rows.

use std::time::Instant;

use anyhow::ensure;
use chrono::{DateTime, Datelike, Utc};
use entity::{activity, user};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder, QuerySelect, TransactionTrait};

use super::generate::standard_normal;
use crate::db::Db;
use crate::service::insights::{rebuild_activity_rollups, rebuild_latency_rollup};
use crate::service::user_counts::MICROS_PER_DAY;
use crate::time::{from_micros, to_micros};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivitySpec {
    /// Days of activity, ending now.
    pub days: u32,
    pub seed: u64,
}

/// Rows per multi-row INSERT: seven values each.
const BATCH: usize = 2_000;
/// Rows per transaction.
const PER_TRANSACTION: usize = 50_000;
/// Apps, by how often they are used, and whether they measure latency.
const APPS: [(&str, u32, bool); 6] = [
    ("vscode", 34, true),
    ("web-terminal", 18, true),
    ("jupyter", 16, false),
    ("ssh", 14, true),
    ("jetbrains", 10, true),
    ("port-forward", 8, false),
];
/// Work-day offsets from UTC in minutes, one per realm in turn (Berlin,
/// New York, Kolkata, Tokyo).
const REALM_OFFSETS: [i64; 4] = [60, -300, 330, 540];
const MICROS_PER_MINUTE: i64 = 60_000_000;

/// A user as the generator needs them.
struct Person {
    id: i32,
    realm_id: i32,
    created_at: i64,
    deleted_at: Option<i64>,
    /// Chance of working on a weekday.
    weekday: f64,
}

fn app(rng: &mut StdRng) -> (&'static str, bool) {
    let total: u32 = APPS.iter().map(|a| a.1).sum();
    let mut pick = rng.random_range(0..total);
    for (name, weight, remote) in APPS {
        if pick < weight {
            return (name, remote);
        }
        pick -= weight;
    }
    (APPS[0].0, APPS[0].2)
}

/// Connection latency: log-normal around 35 ms, and one sample in fifty
/// from a congested link, ten times slower.
fn latency(rng: &mut StdRng) -> f64 {
    let base = 35.0 * (0.5 * standard_normal(rng)).exp();
    let slow = if rng.random_bool(0.02) { 10.0 } else { 1.0 };
    (base * slow * 100.0).round() / 100.0
}

/// One user's sessions on one local day starting at `midnight` (UTC µs).
fn day_sessions(
    rng: &mut StdRng,
    person: &Person,
    midnight: i64,
    out: &mut Vec<activity::ActiveModel>,
) {
    let sessions = 1 + (rng.random::<f64>() * rng.random::<f64>() * 6.5) as i64;
    for i in 0..sessions {
        // Mornings and early afternoons, spread by a couple of hours.
        let centre = if i % 2 == 0 { 9.0 * 60.0 } else { 14.0 * 60.0 };
        let minute = (centre + 100.0 * standard_normal(rng)).clamp(0.0, 1439.0) as i64;
        let started_at =
            midnight + minute * MICROS_PER_MINUTE + rng.random_range(0..MICROS_PER_MINUTE);
        if started_at < person.created_at || person.deleted_at.is_some_and(|d| started_at >= d) {
            continue;
        }
        let seconds = (1500.0 * (1.1 * standard_normal(rng)).exp()).clamp(5.0, 28_800.0) as i32;
        let (name, remote) = app(rng);
        out.push(activity::ActiveModel {
            realm_id: Set(person.realm_id),
            user_id: Set(person.id),
            app: Set(name.to_owned()),
            started_at: Set(started_at),
            seconds: Set(seconds),
            latency_ms: Set(remote.then(|| latency(rng))),
            ..Default::default()
        });
    }
}

/// Generates the sessions of the last `spec.days` days before `now` for
/// every user there is, and says what it wrote.
pub async fn generate_activity(
    db: &Db,
    spec: &ActivitySpec,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    ensure!(
        (1..=3_650).contains(&spec.days),
        "--activity-days must be from 1 to 3650"
    );
    let started = Instant::now();
    let rows: Vec<(i32, i32, String, i64, Option<i64>)> = user::Entity::find()
        .select_only()
        .columns([
            user::Column::Id,
            user::Column::RealmId,
            user::Column::Status,
            user::Column::CreatedAt,
            user::Column::DeletedAt,
        ])
        .order_by_asc(user::Column::Id)
        .into_tuple()
        .all(db.conn())
        .await?;
    ensure!(
        !rows.is_empty(),
        "there are no users: generate a directory first"
    );
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0xac71_71c7);
    let people: Vec<Person> = rows
        .into_iter()
        .filter_map(|(id, realm_id, status, created_at, deleted_at)| {
            let weekday = match status.as_str() {
                "ACTIVE" => 0.7 + 0.25 * rng.random::<f64>(),
                "DORMANT" => 0.03,
                _ => return None,
            };
            Some(Person {
                id,
                realm_id,
                created_at,
                deleted_at,
                weekday,
            })
        })
        .collect();
    let today = to_micros(now).div_euclid(MICROS_PER_DAY);
    let first_day = today - i64::from(spec.days);
    let mut pending: Vec<activity::ActiveModel> = Vec::with_capacity(PER_TRANSACTION + 64);
    let mut written = 0usize;
    for day in first_day..today {
        let weekday = from_micros(day * MICROS_PER_DAY)
            .weekday()
            .num_days_from_monday();
        for person in &people {
            let chance = if weekday < 5 {
                person.weekday
            } else {
                person.weekday * 0.12
            };
            if !rng.random_bool(chance.clamp(0.0, 1.0)) {
                continue;
            }
            let offset =
                REALM_OFFSETS[person.realm_id.unsigned_abs() as usize % REALM_OFFSETS.len()];
            let midnight = day * MICROS_PER_DAY - offset * MICROS_PER_MINUTE;
            day_sessions(&mut rng, person, midnight, &mut pending);
            if pending.len() >= PER_TRANSACTION {
                written += flush(db, &mut pending).await?;
            }
        }
    }
    written += flush(db, &mut pending).await?;
    rebuild_activity_rollups(db.conn()).await?;
    rebuild_latency_rollup(db.conn()).await?;
    Ok(format!(
        "generated {written} activity sessions of {} users over {} days in {:.1}s",
        people.len(),
        spec.days,
        started.elapsed().as_secs_f64()
    ))
}

/// Writes the pending rows in one transaction, in multi-row INSERTs.
async fn flush(db: &Db, pending: &mut Vec<activity::ActiveModel>) -> anyhow::Result<usize> {
    let n = pending.len();
    if n == 0 {
        return Ok(0);
    }
    let tx = db.conn().begin().await?;
    let mut rows = std::mem::take(pending).into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<_> = rows.by_ref().take(BATCH).collect();
        activity::Entity::insert_many(batch).exec(&tx).await?;
    }
    tx.commit().await?;
    Ok(n)
}
