//! The oracle of `userStatusCounts`: random histories of creations, status
//! changes and deletions, written at random past times and not in order
//! (so rollup rows of past days and quarters are added to after the fact),
//! then status counts over random ranges, zones and intervals, compared with
//! a naive replay that counts the snapshot at each bucket's end. The naive
//! side finds bucket boundaries on its own, minute by minute: the first
//! instant of each new local date (Monday, 1st) or each full local hour.
//!
//! One server per backend; each case gets two fresh realms and reads them
//! one at a time and together (a token bound to both). PROPTEST_CASES
//! overrides the number of cases (default 16).

#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;
use common::*;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::json;

backend_tests!(status_counts_match_a_naive_replay);

const STATUSES: [&str; 3] = ["ACTIVE", "DORMANT", "SUSPENDED"];
/// Half-hour and 45-minute offsets, DST changes of an hour (Chatham on 29
/// September, Berlin on 27 October, New York on 3 November) and of half an
/// hour (Lord Howe on 6 October) inside the window.
const ZONES: [&str; 8] = [
    "UTC",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "Europe/Berlin",
    "America/New_York",
];
const INTERVALS: [&str; 4] = ["HOUR", "DAY", "WEEK", "MONTH"];
/// Operations happen in the WINDOW_DAYS days from WINDOW.
const WINDOW: &str = "2024-09-20T00:00:00Z";
const WINDOW_DAYS: i64 = 50;
const DEFAULT_CASES: u32 = 16;
const US_PER_QUARTER: i64 = 900_000_000;

static RUNS: AtomicUsize = AtomicUsize::new(0);

fn window() -> DateTime<Utc> {
    at(WINDOW)
}

#[derive(Debug, Clone)]
enum When {
    /// µs after the window's start.
    Anywhere(i64),
    /// A UTC quarter hour of the window, shifted by -1, 0 or +1 µs.
    Quarter(i64, i64),
    /// A local midnight of the case's zone (day of the window), shifted by
    /// -1, 0 or +1 µs.
    Midnight(i64, i64),
}

#[derive(Debug, Clone)]
enum Action {
    Create { realm: usize, status: usize },
    SetStatus { user: usize, status: usize },
    Delete { user: usize },
}

#[derive(Debug, Clone)]
struct Query {
    interval: &'static str,
    /// µs after the window's start (may fall before it).
    start: i64,
    /// µs of the range.
    length: i64,
}

#[derive(Debug, Clone)]
struct Case {
    zone: &'static str,
    ops: Vec<(When, Action)>,
    queries: Vec<Query>,
    seats: [Option<i64>; 2],
}

const WINDOW_US: i64 = WINDOW_DAYS * 86_400_000_000;
const DAY_US: i64 = 86_400_000_000;

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        2 => (0..WINDOW_US).prop_map(When::Anywhere),
        1 => (0..WINDOW_DAYS * 96, -1..=1i64).prop_map(|(q, d)| When::Quarter(q, d)),
        1 => (0..WINDOW_DAYS, -1..=1i64).prop_map(|(day, d)| When::Midnight(day, d)),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..2usize, 0..3usize).prop_map(|(realm, status)| Action::Create { realm, status }),
        4 => (0..8usize, 0..3usize).prop_map(|(user, status)| Action::SetStatus { user, status }),
        1 => (0..8usize).prop_map(|user| Action::Delete { user }),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    select(INTERVALS.to_vec()).prop_flat_map(|interval| {
        let longest = match interval {
            "HOUR" => 4 * DAY_US,
            _ => WINDOW_US + 20 * DAY_US,
        };
        (
            Just(interval),
            -10 * DAY_US..WINDOW_US + 5 * DAY_US,
            0..longest,
        )
            .prop_map(|(interval, start, length)| Query {
                interval,
                start,
                length,
            })
    })
}

fn case() -> impl Strategy<Value = Case> {
    (
        select(ZONES.to_vec()),
        proptest::collection::vec((when(), action()), 1..24),
        proptest::collection::vec(query(), 1..4),
        [
            proptest::option::of(0..100i64),
            proptest::option::of(0..100i64),
        ],
    )
        .prop_map(|(zone, ops, queries, seats)| Case {
            zone,
            ops,
            queries,
            seats,
        })
}

// ───────────────────────── the naive model ─────────────────────────

/// One user's history: (instant, status index or None once deleted).
#[derive(Debug, Default, Clone)]
struct Person {
    realm: usize,
    id: i64,
    history: Vec<(DateTime<Utc>, Option<usize>)>,
}

impl Person {
    fn last(&self) -> &(DateTime<Utc>, Option<usize>) {
        self.history.last().expect("created")
    }
    /// The status just before `cut`; None before creation or once deleted.
    fn before(&self, cut: DateTime<Utc>) -> Option<usize> {
        self.history
            .iter()
            .take_while(|(t, _)| *t < cut)
            .last()
            .and_then(|(_, s)| *s)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

struct Run<'a> {
    t: &'a TestServer,
    zone: Tz,
    realms: [String; 2],
    people: Vec<Person>,
    log: Vec<String>,
}

impl Run<'_> {
    fn op_time(&self, when: &When) -> DateTime<Utc> {
        match *when {
            When::Anywhere(us) => window() + Duration::microseconds(us),
            When::Quarter(q, d) => window() + Duration::microseconds(q * US_PER_QUARTER + d),
            When::Midnight(day, d) => {
                let date = window().with_timezone(&self.zone).date_naive() + Duration::days(day);
                let midnight = naive_boundaries(
                    self.zone,
                    "DAY",
                    window() + Duration::days(day - 1),
                    window() + Duration::days(day + 2),
                )
                .into_iter()
                .find(|b| b.with_timezone(&self.zone).date_naive() == date)
                .unwrap_or_else(window);
                midnight + Duration::microseconds(d)
            }
        }
    }

    async fn apply(&mut self, when: &When, action: &Action) -> Result<(), String> {
        let clock = self.op_time(when);
        self.t.clock().set(clock);
        let live: Vec<usize> = (0..self.people.len())
            .filter(|i| self.people[*i].last().1.is_some())
            .collect();
        match *action {
            Action::Create { realm, status } => {
                let n = self.people.len();
                let realm_name = self.realms[realm].clone();
                let user = self
                    .t
                    .create_user_with(json!({
                        "realm": realm_name, "email": format!("u{n}@{realm_name}.test"),
                        "name": format!("U{n}"), "status": STATUSES[status],
                    }))
                    .await;
                self.log.push(format!(
                    "{clock}: create u{n} in {realm_name} {}",
                    STATUSES[status]
                ));
                self.people.push(Person {
                    realm,
                    id: user["userId"].as_i64().ok_or("userId")?,
                    history: vec![(clock, Some(status))],
                });
            }
            Action::SetStatus { user, status } => {
                let Some(&i) = live.get(user % live.len().max(1)) else {
                    return Ok(());
                };
                let person = &mut self.people[i];
                self.t.set_user_status(person.id, STATUSES[status]).await;
                self.log
                    .push(format!("{clock}: u{i} -> {}", STATUSES[status]));
                // A change is never dated before the user's previous one; a
                // status that does not change writes nothing.
                let (last, current) = *person.last();
                if current != Some(status) {
                    person.history.push((clock.max(last), Some(status)));
                }
            }
            Action::Delete { user } => {
                let Some(&i) = live.get(user % live.len().max(1)) else {
                    return Ok(());
                };
                let person = &mut self.people[i];
                self.t.delete_user(person.id).await;
                self.log.push(format!("{clock}: delete u{i}"));
                let last = person.last().0;
                person.history.push((clock.max(last), None));
            }
        }
        Ok(())
    }

    /// The expected series: (bucket starts, counts per status and bucket).
    fn expected(
        &self,
        q: &Query,
        boundaries: &[DateTime<Utc>],
        realms: &[usize],
    ) -> (Vec<DateTime<Utc>>, [Vec<i64>; 3]) {
        let start = window() + Duration::microseconds(q.start);
        let end = start + Duration::microseconds(q.length);
        let first = boundaries
            .iter()
            .rposition(|b| *b <= start)
            .expect("a boundary before the start");
        let starts: Vec<DateTime<Utc>> = boundaries[first..]
            .iter()
            .copied()
            .filter(|b| *b <= end)
            .collect();
        let mut counts = [Vec::new(), Vec::new(), Vec::new()];
        for (k, bucket) in starts.iter().enumerate() {
            let next = boundaries[first + k + 1];
            assert!(next > *bucket);
            let cut = next.min(end + Duration::microseconds(1));
            let mut n = [0i64; 3];
            for p in self.people.iter().filter(|p| realms.contains(&p.realm)) {
                if let Some(s) = p.before(cut) {
                    n[s] += 1;
                }
            }
            for s in 0..3 {
                counts[s].push(n[s]);
            }
        }
        (starts, counts)
    }

    async fn check(
        &self,
        secret: &str,
        q: &Query,
        boundaries: &[DateTime<Utc>],
        realm: Option<usize>,
        seats: Option<i64>,
    ) -> Result<(), String> {
        let start = window() + Duration::microseconds(q.start);
        let end = start + Duration::microseconds(q.length);
        let response = self
            .t
            .gql(
                secret,
                "query($s: DateTime, $e: DateTime, $i: Interval, $tz: String, $r: String) {
                   userStatusCounts(startDate: $s, endDate: $e, interval: $i, timeZone: $tz, realm: $r) {
                     seatLimit series { status points { date count } } } }",
                json!({ "s": rfc3339(start), "e": rfc3339(end), "i": q.interval,
                        "tz": self.zone.name(), "r": realm.map(|r| self.realms[r].clone()) }),
            )
            .await;
        if response.get("errors").is_some() {
            return Err(format!("{q:?} in realm {realm:?}: {response}"));
        }
        let counts = &response["data"]["userStatusCounts"];
        let realms: Vec<usize> = realm.map_or(vec![0, 1], |r| vec![r]);
        let (dates, expected) = self.expected(q, boundaries, &realms);
        let series = counts["series"].as_array().ok_or("series")?;
        for (s, status) in STATUSES.iter().enumerate() {
            let points = series[s]["points"].as_array().ok_or("points")?;
            let got_dates: Vec<DateTime<Utc>> =
                points.iter().map(|p| datetime(&p["date"])).collect();
            let got: Vec<i64> = points
                .iter()
                .map(|p| p["count"].as_i64().unwrap_or(-1))
                .collect();
            if series[s]["status"] != *status || got_dates != dates || got != expected[s] {
                return Err(format!(
                    "{q:?} from {start} to {end} in realm {realm:?}, {status}:\n expected {:?}\n      got {:?}\n dates expected {dates:?}\n      got {got_dates:?}",
                    expected[s], got
                ));
            }
        }
        if counts["seatLimit"] != json!(seats) {
            return Err(format!(
                "seatLimit {} instead of {seats:?}",
                counts["seatLimit"]
            ));
        }
        Ok(())
    }

    async fn go(&mut self, case: &Case) -> Result<(), String> {
        for (i, realm) in self.realms.iter().enumerate() {
            self.t
                .admin_ok(
                    "mutation($n: String!, $s: Int) { createRealm(name: $n, seatLimit: $s) { id } }",
                    json!({ "n": realm, "s": case.seats[i] }),
                )
                .await;
        }
        for (when, action) in &case.ops {
            self.apply(when, action).await?;
        }
        self.t
            .clock()
            .set(window() + Duration::days(WINDOW_DAYS + 40));
        let both: Vec<&str> = self.realms.iter().map(String::as_str).collect();
        let secret = self.t.token(&["INSIGHTS_READ"], Some(&both)).await;
        let admin = self.t.admin_secret().to_owned();
        let total = match case.seats {
            [None, None] => None,
            [a, b] => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        for q in &case.queries {
            let start = window() + Duration::microseconds(q.start);
            let end = start + Duration::microseconds(q.length) + Duration::days(32);
            let boundaries = naive_boundaries(self.zone, q.interval, start, end);
            for realm in 0..2 {
                self.check(&admin, q, &boundaries, Some(realm), case.seats[realm])
                    .await?;
            }
            self.check(&secret, q, &boundaries, None, total).await?;
        }
        Ok(())
    }
}

async fn run_case(t: &TestServer, case: &Case) -> Result<(), TestCaseError> {
    let n = RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    let mut run = Run {
        t,
        zone: case.zone.parse().expect("zone"),
        realms: [format!("r{n}a"), format!("r{n}b")],
        people: Vec::new(),
        log: Vec::new(),
    };
    run.go(case).await.map_err(|message| {
        TestCaseError::fail(format!("{message}\n\nhistory:\n{}", run.log.join("\n")))
    })
}

async fn status_counts_match_a_naive_replay(t: TestServer) {
    check_against_model(&t, case(), DEFAULT_CASES, |case| {
        let t = &t;
        async move { run_case(t, &case).await }
    })
    .await;
}
