//! The oracle of recorded activity: random sessions of eight users in two
//! realms, recorded in random batches, then `activeUsers` (random zones,
//! intervals, ranges and app filters), `userLatency` and `appUsage` over
//! random ranges, compared with a naive computation over the sessions. The
//! naive side finds bucket boundaries minute by minute on its own.
//!
//! Batches are recorded latest first (each one dates before the sessions
//! already there), sessions crowd into the first hours of a window often
//! enough that batches add to the same hours, and ranges cut hours anywhere
//! or on their boundaries: `userLatency` reads whole hours from its rollup.
//!
//! One server per backend; each case records into a window of its own, so
//! cases never see each other's sessions. PROPTEST_CASES overrides the
//! number of cases (default 12).

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;
use common::*;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

backend_tests!(activity_matches_a_naive_computation);

const ZONES: [&str; 6] = [
    "UTC",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Europe/Berlin",
    "America/New_York",
];
const INTERVALS: [&str; 3] = ["DAY", "WEEK", "MONTH"];
const APPS: [&str; 3] = ["vscode", "ssh", "jupyter"];
/// Each case's window starts CASE_DAYS after the previous one's (beyond what
/// a month bucket of the next case reaches back to), from
/// 2024-09-01 (DST changes of Berlin, New York and Lord Howe come by).
const FIRST_WINDOW: &str = "2024-09-01T00:00:00Z";
const CASE_DAYS: i64 = 70;
const WINDOW_DAYS: i64 = 20;
const MINUTES: i64 = WINDOW_DAYS * 1440;
const DEFAULT_CASES: u32 = 12;

static CASES: AtomicI64 = AtomicI64::new(0);

#[derive(Debug, Clone)]
struct Session {
    user: usize,
    app: usize,
    /// Minutes after the window's start, and a few seconds more.
    minute: i64,
    second: i64,
    seconds: i64,
    /// Quarter milliseconds: exact in JSON both ways.
    latency: Option<i64>,
}

#[derive(Debug, Clone)]
struct Query {
    zone: &'static str,
    interval: &'static str,
    /// Minutes after the window's start (may fall before it).
    start: i64,
    length: i64,
    apps: Option<Vec<usize>>,
    /// Read with a token bound to the first realm.
    bound: bool,
}

#[derive(Debug, Clone)]
struct Case {
    sessions: Vec<Session>,
    batches: usize,
    queries: Vec<Query>,
}

fn session() -> impl Strategy<Value = Session> {
    (
        0..8usize,
        0..3usize,
        // Often within a few hours, so that batches add to the same hours.
        prop_oneof![0..MINUTES, 0..240i64],
        prop_oneof![Just(0i64), 0..60i64],
        0..7200i64,
        proptest::option::of(0..40_000i64),
    )
        .prop_map(|(user, app, minute, second, seconds, latency)| Session {
            user,
            app,
            minute,
            second,
            seconds,
            latency,
        })
}

fn query() -> impl Strategy<Value = Query> {
    (
        select(ZONES.to_vec()),
        select(INTERVALS.to_vec()),
        // Cutting hours anywhere, or on their boundaries.
        prop_oneof![
            -3 * 1440..MINUTES,
            (-72..MINUTES / 60).prop_map(|h| h * 60),
            -60..240i64
        ],
        prop_oneof![
            0..MINUTES,
            (0..MINUTES / 60).prop_map(|h| h * 60),
            0..300i64
        ],
        proptest::option::of(proptest::collection::btree_set(0..3usize, 0..3)),
        any::<bool>(),
    )
        .prop_map(|(zone, interval, start, length, apps, bound)| Query {
            zone,
            interval,
            start,
            length,
            apps: apps.map(|a| a.into_iter().collect()),
            bound,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(session(), 0..40),
        1..4usize,
        proptest::collection::vec(query(), 1..4),
    )
        .prop_map(|(sessions, batches, queries)| Case {
            sessions,
            batches,
            queries,
        })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The naive percentile: the value at fractional rank p·(n−1), linearly
/// interpolated between its neighbours.
fn naive_percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = p * (values.len() - 1) as f64;
    let below = values[rank.floor() as usize];
    let above = values[rank.ceil() as usize];
    Some(below + (above - below) * (rank - rank.floor()))
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        (a, b) => a == b,
    }
}

struct World {
    users: Vec<(i64, usize)>,
    bound: String,
}

async fn run_case(t: &TestServer, w: &World, case: Case) -> Result<(), TestCaseError> {
    let k = CASES.fetch_add(1, Ordering::SeqCst);
    let window = at(FIRST_WINDOW) + Duration::days(k * CASE_DAYS);
    let start_of = |s: &Session| window + Duration::minutes(s.minute) + Duration::seconds(s.second);
    let rows: Vec<Value> = case
        .sessions
        .iter()
        .map(|s| {
            json!({
                "userId": w.users[s.user].0,
                "app": APPS[s.app],
                "startedAt": rfc3339(start_of(s)),
                "seconds": s.seconds,
                "latencyMs": s.latency.map(|l| l as f64 / 4.0),
            })
        })
        .collect();
    let per_batch = rows.len().div_ceil(case.batches).max(1);
    for batch in rows.chunks(per_batch).rev() {
        let data = t
            .admin_ok(
                "mutation($input: [ActivityInput!]!) { recordActivity(input: $input) }",
                json!({ "input": batch }),
            )
            .await;
        prop_assert_eq!(data["recordActivity"].as_u64(), Some(batch.len() as u64));
    }
    for q in &case.queries {
        let zone: Tz = q.zone.parse().unwrap();
        let from = window + Duration::minutes(q.start);
        let to = from + Duration::minutes(q.length);
        let secret = if q.bound {
            w.bound.as_str()
        } else {
            t.admin_secret()
        };
        let visible = |s: &Session| !q.bound || w.users[s.user].1 == 0;
        let apps: Option<Vec<&str>> = q
            .apps
            .as_ref()
            .map(|a| a.iter().map(|i| APPS[*i]).collect());
        let in_apps = |s: &Session| match &q.apps {
            Some(a) if !a.is_empty() => a.contains(&s.app),
            _ => true,
        };

        // activeUsers: distinct users whose sessions start in each bucket.
        let mut bounds = naive_boundaries(zone, q.interval, from, to);
        bounds.retain(|b| *b <= to);
        let first = bounds.iter().rposition(|b| *b <= from).unwrap_or(0);
        let bounds = &bounds[first..];
        let expected: Vec<(String, usize)> = bounds
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let users: BTreeSet<usize> = case
                    .sessions
                    .iter()
                    .filter(|s| visible(s) && in_apps(s))
                    .filter(|s| {
                        let at = start_of(s);
                        at >= *b && bounds.get(i + 1).is_none_or(|next| at < *next) && at <= to
                    })
                    .map(|s| s.user)
                    .collect();
                (rfc3339(*b), users.len())
            })
            .collect();
        let response = t
            .gql(
                secret,
                "query($s: DateTime, $e: DateTime, $i: Interval, $tz: String, $apps: [String!]) {
                   activeUsers(startDate: $s, endDate: $e, interval: $i, timeZone: $tz, apps: $apps) { startTime activeUsers }
                 }",
                json!({ "s": rfc3339(from), "e": rfc3339(to), "i": q.interval, "tz": q.zone, "apps": apps }),
            )
            .await;
        let got: Vec<(String, usize)> = data(&response)["activeUsers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    rfc3339(at(p["startTime"].as_str().unwrap())),
                    p["activeUsers"].as_u64().unwrap() as usize,
                )
            })
            .collect();
        prop_assert_eq!(&got, &expected, "activeUsers {:?}", q);

        // userLatency and appUsage over [from, to).
        let in_range: Vec<&Session> = case
            .sessions
            .iter()
            .filter(|s| visible(s) && start_of(s) >= from && start_of(s) < to)
            .collect();
        let mut samples: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for s in &in_range {
            samples
                .entry(w.users[s.user].0)
                .or_default()
                .extend(s.latency.map(|l| l as f64 / 4.0));
        }
        let range = json!({ "s": rfc3339(from), "e": rfc3339(to) });
        let response = t
            .gql(
                secret,
                "query($s: DateTime!, $e: DateTime!) {
                   userLatency(startDate: $s, endDate: $e) { userId p50Ms p95Ms }
                   appUsage(startDate: $s, endDate: $e) { app seconds timesUsed users }
                 }",
                range,
            )
            .await;
        let answer = data(&response);
        let latency = answer["userLatency"].as_array().unwrap();
        prop_assert_eq!(
            latency.len(),
            samples.len(),
            "userLatency {:?}: {}",
            q,
            answer
        );
        for (row, (user, values)) in latency.iter().zip(samples.iter_mut()) {
            values.sort_by(f64::total_cmp);
            prop_assert_eq!(row["userId"].as_i64(), Some(*user));
            prop_assert!(
                close(row["p50Ms"].as_f64(), naive_percentile(values, 0.5))
                    && close(row["p95Ms"].as_f64(), naive_percentile(values, 0.95)),
                "userLatency of {} {:?}: {} vs {:?}",
                user,
                q,
                row,
                values
            );
        }
        let mut usage: BTreeMap<&str, (i64, i64, BTreeSet<usize>)> = BTreeMap::new();
        for s in &in_range {
            let entry = usage.entry(APPS[s.app]).or_default();
            entry.0 += s.seconds;
            entry.1 += 1;
            entry.2.insert(s.user);
        }
        let mut expected: Vec<Value> = usage
            .into_iter()
            .map(|(app, (seconds, times, users))| {
                json!({ "app": app, "seconds": seconds, "timesUsed": times, "users": users.len() })
            })
            .collect();
        expected.sort_by_key(|v| std::cmp::Reverse(v["seconds"].as_i64()));
        prop_assert_eq!(&answer["appUsage"], &json!(expected), "appUsage {:?}", q);
    }
    Ok(())
}

async fn activity_matches_a_naive_computation(t: TestServer) {
    let realms = ["north", "south"];
    for realm in realms {
        t.create_realm(realm).await;
    }
    let mut users = Vec::new();
    for i in 0..8 {
        let realm = i % 2;
        let id = t
            .create_user(realms[realm], &format!("u{i}@{}.test", realms[realm]), &[])
            .await;
        users.push((id, realm));
    }
    let bound = t.token(&["INSIGHTS_READ"], Some(&["north"])).await;
    let world = World { users, bound };
    check_against_model(&t, case(), DEFAULT_CASES, |case| run_case(&t, &world, case)).await;
}
