//! `apiRequestStats` against a count of the records themselves: random
//! request records over several days (realms, outcomes, operations, error
//! codes, tokens), random ranges cut anywhere in an hour or on its edge,
//! every group and interval, an admin and a realm-bound reader; then again
//! after pruning (two pruners at once), and after the rollup is rebuilt
//! from the raw rows as `headcount seed` does. The hourly rollup must never
//! show in the answers.

#[macro_use]
mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, DurationRound, Utc};
use common::*;
use entity::{api_request, api_request_hour};
use headcount::service::requests::{RequestRecord, rebuild_rollup};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

backend_tests!(
    stats_equal_a_count_of_the_records,
    pruning_takes_rows_off_the_rollup,
    a_rebuilt_rollup_answers_the_same,
);

const STATS: &str = "query($start: DateTime, $end: DateTime, $interval: Interval, $group: ApiRequestGroup) {
  apiRequestStats(startDate: $start, endDate: $end, interval: $interval, groupBy: $group) { bucket key count ratio }
}";

const REALMS: [Option<&str>; 3] = [None, Some("alpha"), Some("beta")];
const OPERATIONS: [&str; 4] = ["ListUsers", "Stats", "GET /healthz", "anonymous"];
const ERRORS: [&str; 3] = ["BAD_USER_INPUT", "FORBIDDEN", "HTTP_504"];
const TOKENS: [&str; 3] = ["reporting", "etl", "anonymous"];
const GROUPS: [&str; 4] = ["OUTCOME", "OPERATION", "ERROR_CODE", "TOKEN"];
const INTERVALS: [Option<&str>; 5] = [None, Some("HOUR"), Some("DAY"), Some("WEEK"), Some("MONTH")];

/// One answer row: bucket, key, count, ratio.
type Row = (Value, String, i64, f64);

/// One record as the model keeps it.
#[derive(Debug, Clone)]
struct Record {
    at: DateTime<Utc>,
    realm: Option<&'static str>,
    operation: &'static str,
    error: Option<&'static str>,
    token: Option<&'static str>,
}

impl Record {
    fn random(rng: &mut StdRng, from: DateTime<Utc>, span: Duration) -> Self {
        let at = from + Duration::seconds(rng.random_range(0..span.num_seconds()));
        // Some on the hour exactly, some a microsecond either side of it.
        let at = match rng.random_range(0..10) {
            0 => at.duration_trunc(Duration::hours(1)).unwrap(),
            1 => at.duration_trunc(Duration::hours(1)).unwrap() - Duration::microseconds(1),
            2 => at.duration_trunc(Duration::hours(1)).unwrap() + Duration::microseconds(1),
            _ => at + Duration::microseconds(rng.random_range(0..1_000_000)),
        };
        Record {
            at,
            realm: REALMS[rng.random_range(0..REALMS.len())],
            operation: OPERATIONS[rng.random_range(0..OPERATIONS.len())],
            error: rng
                .random_bool(0.2)
                .then(|| ERRORS[rng.random_range(0..ERRORS.len())]),
            token: rng
                .random_bool(0.8)
                .then(|| TOKENS[rng.random_range(0..TOKENS.len())]),
        }
    }

    fn to_log(&self) -> RequestRecord {
        RequestRecord {
            at: self.at,
            operation: self.operation.to_owned(),
            error_code: self.error.map(str::to_owned),
            duration: std::time::Duration::from_millis(3),
            token_id: None,
            token_name: self.token.map(str::to_owned),
            realm: self.realm.map(str::to_owned),
            ip_address: None,
        }
    }

    fn key(&self, group: &str) -> String {
        match group {
            "OUTCOME" if self.error.is_none() => "SUCCESS",
            "OUTCOME" => "FAILURE",
            "OPERATION" => self.operation,
            "ERROR_CODE" => self.error.unwrap_or("NONE"),
            _ => self.token.unwrap_or("anonymous"),
        }
        .to_owned()
    }
}

/// The bucket start of `at`, in UTC, as the contract words it.
fn bucket(at: DateTime<Utc>, interval: &str) -> String {
    let day = at.duration_trunc(Duration::days(1)).unwrap();
    let start = match interval {
        "HOUR" => at.duration_trunc(Duration::hours(1)).unwrap(),
        "DAY" => day,
        "WEEK" => day - Duration::days(day.weekday().num_days_from_monday().into()),
        _ => day - Duration::days((day.day() - 1).into()),
    };
    start.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What `apiRequestStats` must answer: (bucket, key, count, ratio), in the
/// answer's order.
fn expected(
    records: &[Record],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    interval: Option<&str>,
    group: &str,
    realm: Option<&str>,
) -> Vec<Row> {
    let mut counts: BTreeMap<(Option<String>, String), i64> = BTreeMap::new();
    let mut totals: BTreeMap<Option<String>, i64> = BTreeMap::new();
    for r in records {
        let visible = realm.is_none_or(|realm| r.realm == Some(realm));
        if r.at < start || r.at >= end || !visible {
            continue;
        }
        let b = interval.map(|i| bucket(r.at, i));
        *counts.entry((b.clone(), r.key(group))).or_default() += 1;
        *totals.entry(b).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((b, key), count)| {
            let ratio = count as f64 / totals[&b] as f64;
            (b.map_or(Value::Null, Value::from), key, count, ratio)
        })
        .collect()
}

async fn answered(t: &TestServer, secret: &str, vars: Value) -> Vec<Row> {
    let response = t.gql(secret, STATS, vars.clone()).await;
    data(&response)["apiRequestStats"]
        .as_array()
        .unwrap_or_else(|| panic!("{vars}: {response}"))
        .iter()
        .map(|s| {
            (
                s["bucket"].clone(),
                s["key"].as_str().unwrap().to_owned(),
                s["count"].as_i64().unwrap(),
                s["ratio"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Writes `n` random records in [from, from + span) through the request
/// log's writer, as served requests are.
async fn record(
    t: &TestServer,
    rng: &mut StdRng,
    n: usize,
    from: DateTime<Utc>,
    span: Duration,
) -> Vec<Record> {
    let records: Vec<Record> = (0..n).map(|_| Record::random(rng, from, span)).collect();
    let log = &t.services().request_log;
    for chunk in records.chunks(200) {
        for r in chunk {
            log.record(r.to_log());
        }
        // The queue holds 10,000; flushing per chunk keeps it from filling.
        log.flush().await;
    }
    records
}

/// Compares every group and interval over `ranges` random ranges of
/// [from, from + span), for the admin and a reader bound to `alpha`.
async fn check(
    t: &TestServer,
    rng: &mut StdRng,
    records: &[Record],
    alpha: &str,
    from: DateTime<Utc>,
    span: Duration,
    ranges: usize,
) {
    let mut cases = vec![(from, from + span)];
    for _ in 0..ranges {
        let a = from + Duration::seconds(rng.random_range(0..span.num_seconds()));
        let b = from + Duration::seconds(rng.random_range(0..span.num_seconds()));
        let (mut start, mut end) = (a.min(b), a.max(b));
        // A third of the ranges start or end exactly on an hour.
        match rng.random_range(0..6) {
            0 => start = start.duration_trunc(Duration::hours(1)).unwrap(),
            1 => end = end.duration_trunc(Duration::hours(1)).unwrap(),
            _ => {}
        }
        if rng.random_bool(0.2) {
            // Within one hour.
            end = start + Duration::minutes(rng.random_range(1..59));
        }
        cases.push((start, end));
    }
    for (start, end) in cases {
        for interval in INTERVALS {
            let group = GROUPS[rng.random_range(0..GROUPS.len())];
            let vars = json!({ "start": start, "end": end, "interval": interval, "group": group });
            for (secret, realm) in [(t.admin_secret(), None), (alpha, Some("alpha"))] {
                let got = answered(t, secret, vars.clone()).await;
                let want = expected(records, start, end, interval, group, realm);
                // serde_json parses floats to within an ulp (no
                // `float_roundtrip`): ratios are compared to 1e-12.
                let same = |g: &Row, w: &Row| {
                    (&g.0, &g.1, g.2) == (&w.0, &w.1, w.2) && (g.3 - w.3).abs() < 1e-12
                };
                if got.len() != want.len() || got.iter().zip(&want).any(|(g, w)| !same(g, w)) {
                    let first = got.iter().zip(&want).position(|(g, w)| !same(g, w));
                    panic!(
                        "{vars} as {realm:?}: {} rows, {} expected; first difference at {first:?}: {:?} vs {:?}",
                        got.len(),
                        want.len(),
                        first.map(|i| &got[i]),
                        first.map(|i| &want[i]),
                    );
                }
            }
        }
    }
}

async fn setup(t: &TestServer) -> String {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    t.token(&["AUDIT_READ"], Some(&["alpha"])).await
}

async fn stats_equal_a_count_of_the_records(t: TestServer) {
    let alpha = setup(&t).await;
    let mut rng = StdRng::seed_from_u64(13);
    // Eight days ending two hours before the clock: what the test's own
    // requests add to the log lies after them.
    let span = Duration::days(8);
    let from = t.now() - span - Duration::hours(2);
    let records = record(&t, &mut rng, 1500, from, span).await;
    check(&t, &mut rng, &records, &alpha, from, span, 12).await;
}

async fn pruning_takes_rows_off_the_rollup(t: TestServer) {
    let alpha = setup(&t).await;
    let mut rng = StdRng::seed_from_u64(14);
    // Twenty days around the 30-day retention line.
    let span = Duration::days(20);
    let from = t.now() - Duration::days(40);
    let mut records = record(&t, &mut rng, 2500, from, span).await;
    let log = &t.services().request_log;
    let (a, b) = tokio::join!(log.prune(), log.prune());
    let cutoff = t.now() - Duration::days(30);
    let old = records.iter().filter(|r| r.at < cutoff).count() as u64;
    assert_eq!(a.unwrap() + b.unwrap(), old, "each old row deleted once");
    records.retain(|r| r.at >= cutoff);
    check(&t, &mut rng, &records, &alpha, from, span, 8).await;
    // Nothing of the pruned hours is left in the rollup.
    let whole_hours_before = cutoff.duration_trunc(Duration::hours(1)).unwrap();
    let stale = api_request_hour::Entity::find()
        .filter(api_request_hour::Column::HourStart.lt(whole_hours_before.timestamp_micros()))
        .count(t.conn())
        .await
        .unwrap();
    assert_eq!(stale, 0);
}

async fn a_rebuilt_rollup_answers_the_same(t: TestServer) {
    let alpha = setup(&t).await;
    let mut rng = StdRng::seed_from_u64(15);
    let span = Duration::days(3);
    let from = t.now() - span - Duration::hours(1);
    let records = record(&t, &mut rng, 800, from, span).await;
    let before = api_request_hour::Entity::find()
        .all(t.conn())
        .await
        .unwrap();
    t.db()
        .write(|tx| async move { rebuild_rollup(&*tx).await })
        .await
        .unwrap();
    let mut after = api_request_hour::Entity::find()
        .all(t.conn())
        .await
        .unwrap();
    let mut before = before;
    let order = |r: &api_request_hour::Model| {
        (
            r.dimension.clone(),
            r.hour_start,
            r.realm.clone(),
            r.group_key.clone(),
        )
    };
    before.sort_by_key(order);
    after.sort_by_key(order);
    // Rolled up from the rows, the rollup is what the writer kept (the
    // test's own requests included).
    assert_eq!(before, after);
    let rows = api_request::Entity::find().count(t.conn()).await.unwrap();
    let outcome_total: i64 = after
        .iter()
        .filter(|r| r.dimension == "OUTCOME")
        .map(|r| r.requests)
        .sum();
    assert_eq!(outcome_total as u64, rows);
    check(&t, &mut rng, &records, &alpha, from, span, 6).await;
}
