//! Active users per local day from rollups (docs/INSIGHTS.md, "Recorded
//! activity"): per user and UTC day the first and last quarter hour with a
//! session start; per realm, day and quarter how many users start or end
//! their day there ("edges"); per realm and day how many users are active on
//! it and the next day, by their last quarter and the next day's first
//! ("bridges"). A bucket from quarter `a` of day d to quarter `b` of day
//! d + 1 then holds |tail| + |head| − |both|, read from a few hundred rows
//! per day. The rows of users whose edges a batch changes are updated by
//! difference (old contributions out, new ones in), under the users' row
//! locks, so the rollups stay exact whatever order sessions arrive in.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::service::Result;
use crate::service::user_counts::{MICROS_PER_DAY, MICROS_PER_QUARTER, QUARTERS_PER_DAY};

/// (day, quarter of the day) of an instant.
fn split(micros: i64) -> (i32, i32) {
    let day = micros.div_euclid(MICROS_PER_DAY);
    let quarter = (micros - day * MICROS_PER_DAY) / MICROS_PER_QUARTER;
    (day as i32, quarter as i32)
}

/// One user's edges on one day: (realm, first quarter, last quarter).
type Edges = (i32, i32, i32);

fn list(ids: impl IntoIterator<Item = i32>) -> String {
    ids.into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn upsert_add(backend: DbBackend, table: &str, keys: &str, columns: &[&str]) -> String {
    match backend {
        DbBackend::MySql => format!(
            " ON DUPLICATE KEY UPDATE {}",
            columns
                .iter()
                .map(|c| format!("{c} = {c} + VALUES({c})"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!(
            " ON CONFLICT ({keys}) DO UPDATE SET {}",
            columns
                .iter()
                .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Adds sessions `(user, realm, started_at µs)` to the rollups. Call it in
/// the transaction that writes them, with the users' rows locked.
pub async fn apply<C: ConnectionTrait>(db: &C, sessions: &[(i32, i32, i64)]) -> Result<()> {
    let backend = db.get_database_backend();
    let mut batch: BTreeMap<(i32, i32), Edges> = BTreeMap::new();
    for &(user, realm, at) in sessions {
        let (day, q) = split(at);
        let e = batch.entry((user, day)).or_insert((realm, q, q));
        e.1 = e.1.min(q);
        e.2 = e.2.max(q);
    }
    if batch.is_empty() {
        return Ok(());
    }
    let users: BTreeSet<i32> = batch.keys().map(|k| k.0).collect();
    let (lo, hi) = batch.keys().fold((i32::MAX, i32::MIN), |(lo, hi), k| {
        (lo.min(k.1), hi.max(k.1))
    });
    let mut old: BTreeMap<(i32, i32), Edges> = BTreeMap::new();
    let users: Vec<i32> = users.into_iter().collect();
    for chunk in users.chunks(1000) {
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT user_id, day, realm_id, first_q, last_q FROM activity_user_days \
                     WHERE user_id IN ({}) AND day BETWEEN {} AND {}",
                    list(chunk.iter().copied()),
                    lo - 1,
                    hi + 1
                ),
            ))
            .await?;
        for r in rows {
            let key: (i32, i32) = (r.try_get_by_index(0)?, r.try_get_by_index(1)?);
            old.insert(
                key,
                (
                    r.try_get_by_index(2)?,
                    r.try_get_by_index(3)?,
                    r.try_get_by_index(4)?,
                ),
            );
        }
    }
    let mut new = old.clone();
    let mut changed: BTreeSet<(i32, i32)> = BTreeSet::new();
    for (key, e) in &batch {
        let merged = match new.get(key) {
            Some(o) => (o.0, o.1.min(e.1), o.2.max(e.2)),
            None => *e,
        };
        if new.get(key) != Some(&merged) {
            new.insert(*key, merged);
            changed.insert(*key);
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    // Edge and bridge deltas of the changed user-days, old out, new in.
    let mut edges: BTreeMap<(i32, i32, i32), (i64, i64)> = BTreeMap::new();
    let mut bridges: BTreeMap<(i32, i32, i32, i32), i64> = BTreeMap::new();
    let bridge_days: BTreeSet<(i32, i32)> = changed
        .iter()
        .flat_map(|&(u, d)| [(u, d - 1), (u, d)])
        .collect();
    for (state, sign) in [(&old, -1i64), (&new, 1i64)] {
        for &(u, d) in &changed {
            if let Some(&(realm, f, l)) = state.get(&(u, d)) {
                edges.entry((realm, d, f)).or_default().0 += sign;
                edges.entry((realm, d, l)).or_default().1 += sign;
            }
        }
        for &(u, d) in &bridge_days {
            if let (Some(&(realm, _, l)), Some(&(_, f, _))) =
                (state.get(&(u, d)), state.get(&(u, d + 1)))
            {
                *bridges.entry((realm, d, l, f)).or_default() += sign;
            }
        }
    }
    edges.retain(|_, v| *v != (0, 0));
    bridges.retain(|_, v| *v != 0);

    let days: Vec<String> = changed
        .iter()
        .map(|k| {
            let (realm, f, l) = new[k];
            format!("({}, {}, {realm}, {f}, {l})", k.0, k.1)
        })
        .collect();
    let keep = match backend {
        DbBackend::MySql => {
            " ON DUPLICATE KEY UPDATE first_q = VALUES(first_q), last_q = VALUES(last_q)".to_owned()
        }
        _ => " ON CONFLICT (user_id, day) DO UPDATE SET first_q = excluded.first_q, \
               last_q = excluded.last_q"
            .to_owned(),
    };
    for chunk in days.chunks(1000) {
        db.execute_unprepared(&format!(
            "INSERT INTO activity_user_days (user_id, day, realm_id, first_q, last_q) VALUES {}{keep}",
            chunk.join(",")
        ))
        .await?;
    }
    let rows: Vec<String> = edges
        .iter()
        .map(|((r, d, q), (f, l))| format!("({r}, {d}, {q}, {f}, {l})"))
        .collect();
    let on = upsert_add(
        backend,
        "activity_day_edges",
        "realm_id, day, quarter",
        &["firsts", "lasts"],
    );
    for chunk in rows.chunks(1000) {
        db.execute_unprepared(&format!(
            "INSERT INTO activity_day_edges (realm_id, day, quarter, firsts, lasts) VALUES {}{on}",
            chunk.join(",")
        ))
        .await?;
    }
    let rows: Vec<String> = bridges
        .iter()
        .map(|((r, d, l, f), n)| format!("({r}, {d}, {l}, {f}, {n})"))
        .collect();
    let on = upsert_add(
        backend,
        "activity_day_bridges",
        "realm_id, day, last_q, next_first_q",
        &["users"],
    );
    for chunk in rows.chunks(1000) {
        db.execute_unprepared(&format!(
            "INSERT INTO activity_day_bridges (realm_id, day, last_q, next_first_q, users) \
             VALUES {}{on}",
            chunk.join(",")
        ))
        .await?;
    }
    Ok(())
}

/// How a bucket `[from, to)` is counted from the rollups: the tail of day
/// `day` from quarter `a` and the head of the next day up to quarter `b`
/// (96: the whole day), or a whole day (`b` None). None when it cannot be.
fn plan(from: i64, to: i64) -> Option<(i32, i32, Option<i32>)> {
    if from % MICROS_PER_QUARTER != 0 || to % MICROS_PER_QUARTER != 0 {
        return None;
    }
    let (dx, a) = split(from);
    let (mut dy, mut b) = split(to);
    if b == 0 {
        dy -= 1;
        b = QUARTERS_PER_DAY;
    }
    match dy - dx {
        0 if a == 0 && b == QUARTERS_PER_DAY => Some((dx, 0, None)),
        1 => Some((dx, a, Some(b))),
        _ => None,
    }
}

/// Active users of each bucket `[from, to)` that the rollups can count
/// (None for the others), in the given realms. Call it in a read snapshot.
pub async fn counts<C: ConnectionTrait>(
    db: &C,
    realm_ids: &[i32],
    buckets: &[(i64, i64)],
) -> Result<Vec<Option<i64>>> {
    let plans: Vec<_> = buckets.iter().map(|&(f, t)| plan(f, t)).collect();
    let days: Vec<i32> = plans.iter().flatten().map(|p| p.0).collect();
    let (Some(&lo), Some(&hi)) = (days.iter().min(), days.iter().max()) else {
        return Ok(vec![None; buckets.len()]);
    };
    if realm_ids.is_empty() {
        return Ok(plans.iter().map(|p| p.map(|_| 0)).collect());
    }
    let backend = db.get_database_backend();
    let realms = list(realm_ids.iter().copied());
    let mut firsts: BTreeMap<i32, [i64; 96]> = BTreeMap::new();
    let mut lasts: BTreeMap<i32, [i64; 96]> = BTreeMap::new();
    for r in db
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT day, quarter, firsts, lasts FROM activity_day_edges \
                 WHERE realm_id IN ({realms}) AND day BETWEEN {lo} AND {}",
                hi + 1
            ),
        ))
        .await?
    {
        let (day, q): (i32, i32) = (r.try_get_by_index(0)?, r.try_get_by_index(1)?);
        let q = q.clamp(0, 95) as usize;
        firsts.entry(day).or_insert([0; 96])[q] += r.try_get_by_index::<i64>(2)?;
        lasts.entry(day).or_insert([0; 96])[q] += r.try_get_by_index::<i64>(3)?;
    }
    // Only cells some bucket can count: for Berlin's days, users whose
    // last start is after 22:00 UTC, a small share.
    let min_a = plans.iter().flatten().map(|p| p.1).min().unwrap_or(0);
    let max_b = plans
        .iter()
        .flatten()
        .filter_map(|p| p.2)
        .max()
        .unwrap_or(0);
    let mut bridges: BTreeMap<i32, Vec<(i32, i32, i64)>> = BTreeMap::new();
    for r in db
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT day, last_q, next_first_q, users FROM activity_day_bridges \
                 WHERE realm_id IN ({realms}) AND day BETWEEN {lo} AND {hi} \
                 AND last_q >= {min_a} AND next_first_q < {max_b} AND users <> 0"
            ),
        ))
        .await?
    {
        bridges.entry(r.try_get_by_index(0)?).or_default().push((
            r.try_get_by_index(1)?,
            r.try_get_by_index(2)?,
            r.try_get_by_index(3)?,
        ));
    }
    let none = [0i64; 96];
    Ok(plans
        .iter()
        .map(|p| {
            p.map(|(day, a, b)| {
                let tail: i64 = lasts.get(&day).unwrap_or(&none)[a as usize..].iter().sum();
                let Some(b) = b else { return tail };
                let head: i64 = firsts.get(&(day + 1)).unwrap_or(&none)[..b as usize]
                    .iter()
                    .sum();
                let both: i64 = bridges
                    .get(&day)
                    .map(|cells| {
                        cells
                            .iter()
                            .filter(|(l, f, _)| *l >= a && *f < b)
                            .map(|c| c.2)
                            .sum()
                    })
                    .unwrap_or(0);
                tail + head - both
            })
        })
        .collect())
}

/// Recomputes the rollups from every session (for the bulk generator).
pub async fn rebuild<C: ConnectionTrait>(db: &C) -> Result<()> {
    for table in [
        "activity_day_bridges",
        "activity_day_edges",
        "activity_user_days",
    ] {
        db.execute_unprepared(&format!("DELETE FROM {table}"))
            .await?;
    }
    for statement in migration::rebuild_activity_rollups(db.get_database_backend()) {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}
