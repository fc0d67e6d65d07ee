//! Latency samples per user from a rollup (docs/INSIGHTS.md, "userLatency"):
//! per realm, UTC hour and block of user ids, one row holding the hour's
//! sessions as (user id, latency) pairs, NaN for a session without a sample.
//! A range reads its whole hours there, a few thousand rows, and only the
//! partial hours at its ends from the sessions; the samples are then the
//! same multiset as the sessions', so the percentiles are the same, bit for
//! bit. `recordActivity` appends to the rows in its own transaction, for
//! any date, without reading them.

use std::collections::BTreeMap;

use migration::{LatencyKey, MICROS_PER_HOUR, PAIR_BYTES, latency_key, push_latency_pair};
use sea_orm::{ConnectionTrait, Statement};

use super::percentile::percentile_cont;
use crate::service::{Error, Result};

/// One session as the rollup keeps it: (realm, user, started_at µs,
/// latency).
pub type Sample = (i32, i32, i64, Option<f64>);

/// Adds sessions to the rollup. Call it in the transaction that writes them.
pub async fn apply<C: ConnectionTrait>(db: &C, sessions: &[Sample]) -> Result<()> {
    let mut pairs: BTreeMap<LatencyKey, Vec<u8>> = BTreeMap::new();
    for &(realm, user, at, latency) in sessions {
        push_latency_pair(
            pairs.entry(latency_key(realm, user, at)).or_default(),
            user,
            latency,
        );
    }
    Ok(migration::append_latency_pairs(db, pairs).await?)
}

/// Recomputes the rollup from every session (for the bulk generator).
pub async fn rebuild<C: ConnectionTrait>(db: &C) -> Result<()> {
    db.execute_unprepared("DELETE FROM activity_latency_hours")
        .await?;
    Ok(migration::rebuild_activity_latency(db).await?)
}

/// The sessions' samples as read: (user, latency) pairs in rows.
pub struct Samples(Vec<Vec<u8>>);

impl Samples {
    /// Sessions (with or without a latency).
    pub fn len(&self) -> usize {
        self.0.iter().map(|c| c.len() / PAIR_BYTES).sum()
    }

    /// (user, p50, p95) of each user, by id (CPU work: call it off the
    /// async threads).
    pub fn percentiles(self) -> Vec<(i32, Option<f64>, Option<f64>)> {
        group(&self.0).percentiles()
    }
}

/// The samples of every user with a session in the realms starting in
/// `[from, to)`. Call it in a read snapshot.
pub async fn read<C: ConnectionTrait>(
    db: &C,
    realm_ids: &[i32],
    from: i64,
    to: i64,
) -> Result<Samples> {
    if realm_ids.is_empty() || from >= to {
        return Ok(Samples(Vec::new()));
    }
    let realms = realm_ids
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let first_hour =
        from.div_euclid(MICROS_PER_HOUR) + i64::from(from.rem_euclid(MICROS_PER_HOUR) != 0);
    let end_hour = to.div_euclid(MICROS_PER_HOUR);
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut raw = vec![(from, to)];
    if first_hour < end_hour {
        raw = vec![
            (from, first_hour * MICROS_PER_HOUR),
            (end_hour * MICROS_PER_HOUR, to),
        ];
        for r in db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT samples FROM activity_latency_hours WHERE realm_id IN ({realms}) \
                     AND hour >= {first_hour} AND hour < {end_hour}"
                ),
            ))
            .await?
        {
            chunks.push(r.try_get_by_index(0)?);
        }
    }
    for (a, b) in raw.into_iter().filter(|(a, b)| a < b) {
        let mut pairs = Vec::new();
        for r in db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT user_id, latency_ms FROM activity WHERE realm_id IN ({realms}) \
                     AND started_at >= {a} AND started_at < {b}"
                ),
            ))
            .await?
        {
            push_latency_pair(&mut pairs, r.try_get_by_index(0)?, r.try_get_by_index(1)?);
        }
        chunks.push(pairs);
    }
    if chunks.iter().any(|c| !c.len().is_multiple_of(PAIR_BYTES)) {
        return Err(Error::Internal(anyhow::anyhow!(
            "a row of activity_latency_hours is not a whole number of pairs"
        )));
    }
    Ok(Samples(chunks))
}

fn pairs(chunks: &[Vec<u8>]) -> impl Iterator<Item = (i32, f64)> + '_ {
    chunks.iter().flat_map(|c| {
        c.chunks_exact(PAIR_BYTES).map(|p| {
            let (user, latency) = p.split_at(4);
            (
                i32::from_le_bytes(user.try_into().unwrap_or_default()),
                f64::from_bits(u64::from_le_bytes(latency.try_into().unwrap_or_default())),
            )
        })
    })
}

/// Each user's samples, gathered.
enum Grouped {
    /// User ids (dense in practice: one sequence gives them) index one
    /// array: samples are counted per user, then scattered into one
    /// buffer. `starts[i]..starts[i + 1]` are the samples of user `lo + i`
    /// in `values`, if `seen[i]`.
    Dense {
        lo: i32,
        seen: Vec<bool>,
        starts: Vec<usize>,
        values: Vec<f64>,
    },
    /// Ids too sparse for an array.
    Sparse(BTreeMap<i32, Vec<f64>>),
}

/// Gathers the pairs per user (NaN marks a session without a sample).
fn group(chunks: &[Vec<u8>]) -> Grouped {
    let (mut lo, mut hi, mut n) = (i32::MAX, i32::MIN, 0usize);
    for (user, _) in pairs(chunks) {
        lo = lo.min(user);
        hi = hi.max(user);
        n += 1;
    }
    let span = (i64::from(hi) - i64::from(lo) + 1).max(0) as usize;
    if span > (4 * n).max(1 << 20) {
        let mut samples: BTreeMap<i32, Vec<f64>> = BTreeMap::new();
        for (user, latency) in pairs(chunks) {
            samples
                .entry(user)
                .or_default()
                .extend(Some(latency).filter(|l| !l.is_nan()));
        }
        return Grouped::Sparse(samples);
    }
    let slot = |user: i32| (i64::from(user) - i64::from(lo)) as usize;
    let mut seen = vec![false; span];
    let mut starts = vec![0usize; span + 1];
    for (user, latency) in pairs(chunks) {
        seen[slot(user)] = true;
        if !latency.is_nan() {
            starts[slot(user) + 1] += 1;
        }
    }
    for i in 0..span {
        starts[i + 1] += starts[i];
    }
    let mut values = vec![0f64; starts[span]];
    let mut next = starts.clone();
    for (user, latency) in pairs(chunks) {
        if !latency.is_nan() {
            values[next[slot(user)]] = latency;
            next[slot(user)] += 1;
        }
    }
    Grouped::Dense {
        lo,
        seen,
        starts,
        values,
    }
}

impl Grouped {
    /// (user, p50, p95) of each user, by id: each user's few samples
    /// sorted (`total_cmp`, as a sort of all of them would order them).
    pub fn percentiles(self) -> Vec<(i32, Option<f64>, Option<f64>)> {
        let summarize = |user: i32, values: &mut [f64]| {
            values.sort_unstable_by(f64::total_cmp);
            (
                user,
                percentile_cont(values, 0.5),
                percentile_cont(values, 0.95),
            )
        };
        match self {
            Grouped::Dense {
                lo,
                seen,
                starts,
                mut values,
            } => (0..seen.len())
                .filter(|&i| seen[i])
                .map(|i| summarize(lo + i as i32, &mut values[starts[i]..starts[i + 1]]))
                .collect(),
            Grouped::Sparse(samples) => samples
                .into_iter()
                .map(|(user, mut values)| summarize(user, &mut values))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Bits = Vec<(i32, Option<u64>, Option<u64>)>;

    fn bits(got: Vec<(i32, Option<f64>, Option<f64>)>) -> Bits {
        got.into_iter()
            .map(|(u, a, b)| (u, a.map(f64::to_bits), b.map(f64::to_bits)))
            .collect()
    }

    /// The percentiles as the sessions give them: sorted per user.
    fn naive(sessions: &[(i32, Option<f64>)]) -> Bits {
        let mut samples: BTreeMap<i32, Vec<f64>> = BTreeMap::new();
        for &(user, latency) in sessions {
            samples.entry(user).or_default().extend(latency);
        }
        bits(
            samples
                .into_iter()
                .map(|(user, mut values)| {
                    values.sort_by(f64::total_cmp);
                    (
                        user,
                        percentile_cont(&values, 0.5),
                        percentile_cont(&values, 0.95),
                    )
                })
                .collect(),
        )
    }

    /// The sessions split into rows in the order given, as appends leave
    /// them.
    fn rows(sessions: &[(i32, Option<f64>)], per_row: usize) -> Vec<Vec<u8>> {
        sessions
            .chunks(per_row)
            .map(|chunk| {
                let mut row = Vec::new();
                for &(user, latency) in chunk {
                    push_latency_pair(&mut row, user, latency);
                }
                row
            })
            .collect()
    }

    #[test]
    fn rows_give_what_the_sessions_give_bit_for_bit() {
        let mut sessions = Vec::new();
        let mut x = 12345u64;
        for i in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let user = (x >> 40) as i32 % 300 + 7;
            let latency = (!x.is_multiple_of(5)).then(|| (x >> 20) as f64 % 997.0 / 7.0);
            sessions.push((user, if i % 97 == 0 { Some(-0.0) } else { latency }));
        }
        let expected = naive(&sessions);
        for per_row in [1, 13, 5000] {
            assert_eq!(
                bits(group(&rows(&sessions, per_row)).percentiles()),
                expected
            );
        }
        // Ids too sparse for one array indexed by id.
        let sparse: Vec<(i32, Option<f64>)> = sessions
            .iter()
            .map(|&(u, l)| (if u % 2 == 0 { u } else { i32::MAX - u }, l))
            .chain([(i32::MIN, Some(1.5)), (i32::MIN, None)])
            .collect();
        assert_eq!(bits(group(&rows(&sparse, 7)).percentiles()), naive(&sparse));
        assert_eq!(group(&[]).percentiles(), Vec::new());
        // A user with sessions and no sample is listed, without percentiles.
        assert_eq!(
            group(&rows(&[(3, None), (3, None)], 1)).percentiles(),
            [(3, None, None)]
        );
    }
}
