//! `userStatusCounts` over HTTP (issue 14, items 1–2): Coder's
//! `TestGetUserStatusCounts` cases in several zones (half-hour offsets on
//! both sides of UTC, a 45-minute one), DST days in both directions, the
//! seat limit, realm rules and bad input. Each case writes its history in a
//! realm of its own at chosen times (the server's clock) and reads that
//! realm only.

#[macro_use]
mod common;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use common::*;
use serde_json::{Value, json};

backend_tests!(
    coder_cases_in_every_zone,
    dst_days_have_23_and_25_hours,
    weeks_months_and_hours,
    tz_offset_and_the_default_range,
    seat_limit_per_realm_and_over_visible_realms,
    realm_rules,
    bad_input_is_rejected,
    the_migration_rolls_existing_history_up,
);

const QUERY: &str = "query($start: DateTime, $end: DateTime, $interval: Interval, $tz: String,
                            $offset: Int, $realm: String) {
  userStatusCounts(startDate: $start, endDate: $end, interval: $interval, timeZone: $tz,
                   tzOffset: $offset, realm: $realm) {
    startDate endDate timeZone interval seatLimit
    series { status points { date count } }
  }
}";

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The series of a response: point dates, and counts per status in
/// ACTIVE, DORMANT, SUSPENDED order (every series has every date).
#[track_caller]
fn series(counts: &Value) -> (Vec<DateTime<Utc>>, [Vec<i64>; 3]) {
    let series = counts["series"].as_array().expect("series");
    let statuses: Vec<&str> = series
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ACTIVE", "DORMANT", "SUSPENDED"], "{counts}");
    let dates = |s: &Value| -> Vec<DateTime<Utc>> {
        s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| datetime(&p["date"]))
            .collect()
    };
    let first = dates(&series[0]);
    for s in series {
        assert_eq!(dates(s), first, "every series has the same dates: {counts}");
    }
    let counts = |i: usize| -> Vec<i64> {
        series[i]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_i64().unwrap())
            .collect()
    };
    (first, [counts(0), counts(1), counts(2)])
}

async fn status_counts(t: &TestServer, secret: &str, vars: Value) -> Value {
    let response = t.gql(secret, QUERY, vars).await;
    data(&response)["userStatusCounts"].clone()
}

/// A zone's calendar: local times as UTC instants.
struct Local(Tz);

impl Local {
    fn new(zone: &str) -> Self {
        Self(zone.parse().expect("zone"))
    }
    /// `date` + `day` days at local `hh:mm:ss` (an existing local time).
    fn at(&self, date: &str, day: i64, time: &str) -> DateTime<Utc> {
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap() + Duration::days(day);
        let local = date.and_time(time.parse().unwrap());
        self.0
            .from_local_datetime(&local)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }
}

fn clock_to(t: &TestServer, when: DateTime<Utc>) {
    t.clock().set(when);
}

async fn create(t: &TestServer, realm: &str, email: &str, status: &str) -> i64 {
    let name = email.split('@').next().unwrap_or(email);
    let user = t
        .create_user_with(json!({ "realm": realm, "email": email, "name": name, "status": status }))
        .await;
    user["userId"].as_i64().expect("userId")
}

// ───────────────────────── Coder's cases ─────────────────────────

const STATUSES: [&str; 3] = ["ACTIVE", "DORMANT", "SUSPENDED"];
/// The range starts at local midnight of DAY0 and ends at local midnight
/// five days later: six points (day 0 to 4, and the end itself).
const DAY0: &str = "2024-06-10";
const ZONES: [&str; 4] = ["UTC", "America/St_Johns", "Asia/Kolkata", "Asia/Kathmandu"];

/// Counts per point for one status: `from..to` is 1, the rest 0.
fn ones(from: usize, to: usize) -> Vec<i64> {
    (0..6).map(|i| i64::from((from..to).contains(&i))).collect()
}

fn status_index(status: &str) -> usize {
    STATUSES.iter().position(|s| *s == status).unwrap()
}

/// Expected series when one user is in `status` for points `from..to`.
fn one_user(status: &str, from: usize, to: usize) -> [Vec<i64>; 3] {
    let mut out = [vec![0; 6], vec![0; 6], vec![0; 6]];
    out[status_index(status)] = ones(from, to);
    out
}

async fn check_case(t: &TestServer, cal: &Local, realm: &str, expected: [Vec<i64>; 3], what: &str) {
    let counts = status_counts(
        t,
        t.admin_secret(),
        json!({
            "start": rfc3339(cal.at(DAY0, 0, "00:00:00")),
            "end": rfc3339(cal.at(DAY0, 5, "00:00:00")),
            "tz": cal.0.name(),
            "realm": realm,
        }),
    )
    .await;
    let (dates, got) = series(&counts);
    let want_dates: Vec<_> = (0..6).map(|d| cal.at(DAY0, d, "00:00:00")).collect();
    assert_eq!(
        dates,
        want_dates,
        "{what} in {}: bucket starts",
        cal.0.name()
    );
    assert_eq!(got, expected, "{what} in {}: {counts}", cal.0.name());
    assert_eq!(counts["timeZone"], cal.0.name());
    assert_eq!(counts["interval"], "DAY");
    assert_eq!(datetime(&counts["startDate"]), want_dates[0]);
}

async fn coder_cases_in_every_zone(t: TestServer) {
    for (z, zone) in ZONES.into_iter().enumerate() {
        let cal = Local::new(zone);
        let realm = |case: &str| format!("z{z}-{case}");
        let email = |case: &str, n: u32| format!("u{n}@{}.test", realm(case));

        // No users.
        t.create_realm(&realm("empty")).await;
        check_case(
            &t,
            &cal,
            &realm("empty"),
            one_user("ACTIVE", 0, 0),
            "no users",
        )
        .await;

        // A user created in each status, on day 1.
        for status in STATUSES {
            let case = format!("new-{}", status.to_lowercase());
            t.create_realm(&realm(&case)).await;
            clock_to(&t, cal.at(DAY0, 1, "10:00:00"));
            create(&t, &realm(&case), &email(&case, 1), status).await;
            check_case(&t, &cal, &realm(&case), one_user(status, 1, 6), &case).await;
        }

        // Every transition, just after local midnight of day 3 (in the
        // previous UTC day east of UTC).
        for from in STATUSES {
            for to in STATUSES.into_iter().filter(|s| *s != from) {
                let case = format!("{}-{}", from.to_lowercase(), to.to_lowercase());
                t.create_realm(&realm(&case)).await;
                clock_to(&t, cal.at(DAY0, 1, "10:00:00"));
                let id = create(&t, &realm(&case), &email(&case, 1), from).await;
                clock_to(&t, cal.at(DAY0, 3, "00:10:00"));
                t.set_user_status(id, to).await;
                let mut expected = one_user(from, 1, 3);
                expected[status_index(to)] = ones(3, 6);
                check_case(&t, &cal, &realm(&case), expected, &case).await;
            }
        }

        // Two users: one changes exactly at local midnight (the new day
        // counts it), the other a minute before one.
        t.create_realm(&realm("two")).await;
        clock_to(&t, cal.at(DAY0, 0, "08:00:00"));
        let u1 = create(&t, &realm("two"), &email("two", 1), "ACTIVE").await;
        clock_to(&t, cal.at(DAY0, 1, "23:59:00"));
        let u2 = create(&t, &realm("two"), &email("two", 2), "DORMANT").await;
        clock_to(&t, cal.at(DAY0, 2, "00:00:00"));
        t.set_user_status(u1, "SUSPENDED").await;
        clock_to(&t, cal.at(DAY0, 4, "12:00:00"));
        t.set_user_status(u2, "ACTIVE").await;
        let expected = [
            vec![1, 1, 0, 0, 1, 1],
            vec![0, 1, 1, 1, 0, 0],
            vec![0, 0, 1, 1, 1, 1],
        ];
        check_case(&t, &cal, &realm("two"), expected, "two users").await;

        // A user from before the range, still there after it: the state
        // carries in.
        t.create_realm(&realm("before")).await;
        clock_to(&t, cal.at(DAY0, -30, "09:00:00"));
        let id = create(&t, &realm("before"), &email("before", 1), "ACTIVE").await;
        clock_to(&t, cal.at(DAY0, -1, "23:30:00"));
        t.set_user_status(id, "DORMANT").await;
        clock_to(&t, cal.at(DAY0, 6, "09:00:00"));
        t.set_user_status(id, "SUSPENDED").await;
        check_case(
            &t,
            &cal,
            &realm("before"),
            one_user("DORMANT", 0, 6),
            "precedes and survives",
        )
        .await;

        // Deleted before the range.
        t.create_realm(&realm("gone")).await;
        clock_to(&t, cal.at(DAY0, -30, "09:00:00"));
        let id = create(&t, &realm("gone"), &email("gone", 1), "ACTIVE").await;
        clock_to(&t, cal.at(DAY0, -1, "23:59:59"));
        t.delete_user(id).await;
        check_case(
            &t,
            &cal,
            &realm("gone"),
            one_user("ACTIVE", 0, 0),
            "deleted before",
        )
        .await;

        // Deleted during the range, at local midnight of day 2.
        t.create_realm(&realm("deleted")).await;
        clock_to(&t, cal.at(DAY0, -5, "09:00:00"));
        let id = create(&t, &realm("deleted"), &email("deleted", 1), "SUSPENDED").await;
        clock_to(&t, cal.at(DAY0, 2, "00:00:00"));
        t.delete_user(id).await;
        check_case(
            &t,
            &cal,
            &realm("deleted"),
            one_user("SUSPENDED", 0, 2),
            "deleted during",
        )
        .await;
    }
}

// ───────────────────────── DST ─────────────────────────

/// Day buckets around a DST change: their starts, and a user created just
/// before and one just after each local midnight.
async fn dst_case(t: &TestServer, zone: &str, first: &str, hours: i64) {
    let cal = Local::new(zone);
    let realm = format!("dst-{}", zone.replace('/', "-").to_lowercase() + first);
    t.create_realm(&realm).await;
    // Day 1 is the DST day: before its end, at 23:30 local, and just after.
    clock_to(t, cal.at(first, 1, "23:30:00"));
    create(t, &realm, &format!("a@{realm}.test"), "ACTIVE").await;
    clock_to(t, cal.at(first, 2, "00:00:00"));
    create(t, &realm, &format!("b@{realm}.test"), "DORMANT").await;
    clock_to(t, cal.at(first, 1, "00:00:00") - Duration::seconds(1));
    create(t, &realm, &format!("c@{realm}.test"), "SUSPENDED").await;
    let counts = status_counts(
        t,
        t.admin_secret(),
        json!({
            "start": rfc3339(cal.at(first, 0, "12:00:00")),
            "end": rfc3339(cal.at(first, 2, "12:00:00")),
            "tz": zone, "realm": realm,
        }),
    )
    .await;
    let (dates, got) = series(&counts);
    let want: Vec<_> = (0..3).map(|d| cal.at(first, d, "00:00:00")).collect();
    assert_eq!(dates, want, "{zone}: {counts}");
    assert_eq!(
        (dates[2] - dates[1]).num_hours(),
        hours,
        "{zone}: the DST day"
    );
    assert_eq!(
        got,
        [vec![0, 1, 1], vec![0, 0, 1], vec![1, 1, 1]],
        "{zone}: {counts}"
    );
}

async fn dst_days_have_23_and_25_hours(t: TestServer) {
    dst_case(&t, "Europe/Berlin", "2024-03-30", 23).await;
    dst_case(&t, "Europe/Berlin", "2024-10-26", 25).await;
    dst_case(&t, "America/New_York", "2024-03-09", 23).await;
    dst_case(&t, "America/New_York", "2024-11-02", 25).await;
}

// ───────────────────────── other intervals ─────────────────────────

async fn weeks_months_and_hours(t: TestServer) {
    t.create_realm("w").await;
    let cal = Local::new("Asia/Kathmandu");
    // 2024-05-06 is a Monday.
    clock_to(&t, cal.at("2024-05-08", 0, "10:00:00"));
    let id = create(&t, "w", "a@w.test", "ACTIVE").await;
    clock_to(&t, cal.at("2024-05-13", 0, "00:00:00"));
    t.set_user_status(id, "DORMANT").await;
    clock_to(&t, cal.at("2024-06-01", 0, "00:30:00"));
    t.set_user_status(id, "SUSPENDED").await;

    let query = |interval: &str, start: DateTime<Utc>, end: DateTime<Utc>| {
        json!({ "start": rfc3339(start), "end": rfc3339(end), "interval": interval,
                "tz": "Asia/Kathmandu", "realm": "w" })
    };
    let weeks = status_counts(
        &t,
        t.admin_secret(),
        query(
            "WEEK",
            cal.at("2024-05-01", 0, "00:00:00"),
            cal.at("2024-05-20", 0, "08:00:00"),
        ),
    )
    .await;
    let (dates, got) = series(&weeks);
    let mondays: Vec<_> = ["2024-04-29", "2024-05-06", "2024-05-13", "2024-05-20"]
        .iter()
        .map(|d| cal.at(d, 0, "00:00:00"))
        .collect();
    assert_eq!(dates, mondays, "{weeks}");
    assert_eq!(
        got,
        [vec![0, 1, 0, 0], vec![0, 0, 1, 1], vec![0, 0, 0, 0]],
        "{weeks}"
    );
    assert_eq!(weeks["interval"], "WEEK");

    let months = status_counts(
        &t,
        t.admin_secret(),
        query(
            "MONTH",
            cal.at("2024-04-15", 0, "00:00:00"),
            cal.at("2024-06-01", 0, "00:15:00"),
        ),
    )
    .await;
    let (dates, got) = series(&months);
    let firsts: Vec<_> = ["2024-04-01", "2024-05-01", "2024-06-01"]
        .iter()
        .map(|d| cal.at(d, 0, "00:00:00"))
        .collect();
    assert_eq!(dates, firsts, "{months}");
    // The last point counts at endDate, before the 00:30 suspension.
    assert_eq!(
        got,
        [vec![0, 0, 0], vec![0, 1, 1], vec![0, 0, 0]],
        "{months}"
    );

    let hours = status_counts(
        &t,
        t.admin_secret(),
        query(
            "HOUR",
            cal.at("2024-06-01", -1, "23:20:00"),
            cal.at("2024-06-01", 0, "00:30:00"),
        ),
    )
    .await;
    let (dates, got) = series(&hours);
    let want = vec![
        cal.at("2024-06-01", -1, "23:00:00"),
        cal.at("2024-06-01", 0, "00:00:00"),
    ];
    assert_eq!(dates, want, "{hours}");
    assert_eq!(got, [vec![0, 0], vec![1, 0], vec![0, 1]], "{hours}");
}

// ───────────────────────── tzOffset, default range ─────────────────────────

async fn tz_offset_and_the_default_range(t: TestServer) {
    t.create_realm("o").await;
    clock_to(&t, at("2024-06-10T20:30:00Z"));
    create(&t, "o", "a@o.test", "ACTIVE").await;
    // UTC+5: the 11th starts at 19:00 UTC on the 10th.
    let vars = json!({ "start": "2024-06-10T12:00:00Z", "end": "2024-06-11T12:00:00Z",
                       "offset": 5, "realm": "o" });
    let counts = status_counts(&t, t.admin_secret(), vars).await;
    assert_eq!(counts["timeZone"], "Etc/GMT-5", "the IANA name of UTC+5");
    let (dates, got) = series(&counts);
    assert_eq!(
        dates,
        [at("2024-06-09T19:00:00Z"), at("2024-06-10T19:00:00Z")]
    );
    assert_eq!(got[0], [0, 1]);
    let west = json!({ "start": "2024-06-10T12:00:00Z", "end": "2024-06-10T12:00:00Z",
                       "offset": -12, "realm": "o" });
    let counts = status_counts(&t, t.admin_secret(), west).await;
    assert_eq!(series(&counts).0, [at("2024-06-10T12:00:00Z")]);

    // No dates: the 60 days before now, day by day in UTC, now included.
    clock_to(&t, at(START));
    let counts = status_counts(&t, t.admin_secret(), json!({ "realm": "o" })).await;
    let (dates, got) = series(&counts);
    assert_eq!(dates.len(), 61, "{counts}");
    assert_eq!(dates[0], at("2024-11-16T00:00:00Z"));
    assert_eq!(dates[60], at("2025-01-15T00:00:00Z"));
    assert_eq!(datetime(&counts["endDate"]), at(START));
    assert_eq!(datetime(&counts["startDate"]), dates[0]);
    assert_eq!(counts["timeZone"], "UTC");
    assert!(got[0].iter().all(|n| *n == 1), "{counts}");
}

// ───────────────────────── seat limit ─────────────────────────

async fn seat_limit_per_realm_and_over_visible_realms(t: TestServer) {
    let seats = |name: &str, limit: Option<i64>| {
        let t = t.clone();
        let name = name.to_owned();
        async move {
            t.admin_ok(
                "mutation($n: String!, $s: Int) { createRealm(name: $n, seatLimit: $s) { id } }",
                json!({ "n": name, "s": limit }),
            )
            .await;
        }
    };
    seats("a", Some(10)).await;
    seats("b", Some(5)).await;
    seats("c", None).await;
    clock_to(&t, at("2025-01-10T00:00:00Z"));
    create(&t, "a", "x@a.test", "ACTIVE").await;
    create(&t, "c", "y@c.test", "DORMANT").await;
    clock_to(&t, at(START));
    let limit = |secret: String, realm: Option<&str>| {
        let t = t.clone();
        let vars = json!({ "start": "2025-01-14", "end": "2025-01-15", "realm": realm });
        async move { status_counts(&t, &secret, vars).await }
    };
    let admin = t.admin_secret().to_owned();
    assert_eq!(limit(admin.clone(), Some("a")).await["seatLimit"], 10);
    assert_eq!(
        limit(admin.clone(), Some("c")).await["seatLimit"],
        Value::Null
    );
    let all = limit(admin.clone(), None).await;
    assert_eq!(all["seatLimit"], 15, "the realms that have one");
    assert_eq!(series(&all).1[0], [1, 1], "{all}");
    assert_eq!(series(&all).1[1], [1, 1], "{all}");

    let bound_bc = t.token(&["INSIGHTS_READ"], Some(&["b", "c"])).await;
    let seen = limit(bound_bc.clone(), None).await;
    assert_eq!(seen["seatLimit"], 5, "only the visible realms");
    assert_eq!(
        series(&seen).1,
        [vec![0, 0], vec![1, 1], vec![0, 0]],
        "{seen}"
    );
    let bound_c = t.token(&["INSIGHTS_READ"], Some(&["c"])).await;
    assert_eq!(limit(bound_c, None).await["seatLimit"], Value::Null);

    // A limit set later is the one reported.
    t.admin_ok(
        "mutation { updateRealm(name: \"c\", seatLimit: 7) { seatLimit } }",
        json!({}),
    )
    .await;
    assert_eq!(limit(bound_bc, None).await["seatLimit"], 12);
}

// ───────────────────────── realm rules ─────────────────────────

async fn realm_rules(t: TestServer) {
    t.create_realm("a").await;
    t.create_realm("b").await;
    let vars = |realm: &str| json!({ "start": "2025-01-14", "end": "2025-01-15", "realm": realm });
    let bound = t.token(&["INSIGHTS_READ"], Some(&["a"])).await;
    for realm in ["b", "nope"] {
        let response = t.gql(&bound, QUERY, vars(realm)).await;
        assert_code(&response, "FORBIDDEN");
    }
    let counts = t.gql_ok(&bound, QUERY, vars("A")).await;
    assert_eq!(series(&counts["userStatusCounts"]).0.len(), 2);
    // Scopes come before existence.
    let reader = t.token(&["USERS_READ"], None).await;
    for realm in ["a", "nope"] {
        assert_code(&t.gql(&reader, QUERY, vars(realm)).await, "FORBIDDEN");
    }
    let unbound = t.token(&["INSIGHTS_READ"], None).await;
    assert_bad_input(&t.gql(&unbound, QUERY, vars("nope")).await, "realm");
}

// ───────────────────────── bad input ─────────────────────────

async fn bad_input_is_rejected(t: TestServer) {
    let admin = t.admin_secret().to_owned();
    let bad = |vars: Value, field: &'static str| {
        let (t, admin) = (t.clone(), admin.clone());
        async move { assert_bad_input(&t.gql(&admin, QUERY, vars).await, field) }
    };
    bad(json!({ "tz": "Europe/Berlin", "offset": 1 }), "tzOffset").await;
    bad(json!({ "offset": 15 }), "tzOffset").await;
    bad(json!({ "offset": -13 }), "tzOffset").await;
    bad(json!({ "tz": "Mars/Olympus" }), "timeZone").await;
    bad(
        json!({ "start": "2025-01-10", "end": "2025-01-09" }),
        "startDate",
    )
    .await;
    // 1,001 day buckets; 1,000 are fine.
    bad(
        json!({ "start": "2022-04-20", "end": "2025-01-14" }),
        "startDate",
    )
    .await;
    let most = json!({ "start": "2022-04-21", "end": "2025-01-14" });
    let counts = t.gql_ok(&admin, QUERY, most).await;
    assert_eq!(series(&counts["userStatusCounts"]).0.len(), 1000);
    bad(
        json!({ "start": "2024-12-01", "end": "2025-01-14", "interval": "HOUR" }),
        "startDate",
    )
    .await;
    bad(json!({ "interval": "YEAR" }), "interval").await;
}

// ───────────────────────── the quarter-hour rollup ─────────────────────────

/// Every quarter-hour row, by (realm, quarter, key).
async fn quarter_rows(t: &TestServer) -> Vec<(i32, i32, String, i64)> {
    use sea_orm::{EntityTrait, QueryOrder};
    entity::user_count_quarter::Entity::find()
        .order_by_asc(entity::user_count_quarter::Column::RealmId)
        .order_by_asc(entity::user_count_quarter::Column::Quarter)
        .order_by_asc(entity::user_count_quarter::Column::CountKey)
        .all(t.conn())
        .await
        .expect("quarter rows")
        .into_iter()
        .map(|r| (r.realm_id, r.quarter, r.count_key, r.delta))
        .collect()
}

/// History written through the services (out of order, across days, with
/// deletions and changes that cancel out within a quarter) is rolled up by
/// the migration's statement into exactly the rows the writes kept.
async fn the_migration_rolls_existing_history_up(t: TestServer) {
    use sea_orm::ConnectionTrait;
    t.create_realm("a").await;
    t.create_realm("b").await;
    clock_to(&t, at("2024-06-10T10:00:00Z"));
    let u1 = create(&t, "a", "u1@a.test", "ACTIVE").await;
    clock_to(&t, at("2024-06-10T10:05:00Z"));
    t.set_user_status(u1, "DORMANT").await;
    clock_to(&t, at("2024-06-10T10:10:00Z"));
    t.set_user_status(u1, "ACTIVE").await;
    clock_to(&t, at("2024-06-12T23:59:59.999999Z"));
    t.set_user_status(u1, "SUSPENDED").await;
    clock_to(&t, at("2024-06-01T00:00:00Z"));
    let u2 = create(&t, "b", "u2@b.test", "DORMANT").await;
    clock_to(&t, at("2024-06-13T00:00:00Z"));
    t.delete_user(u2).await;
    clock_to(&t, at("1969-12-31T23:50:00Z"));
    create(&t, "b", "u3@b.test", "SUSPENDED").await;
    // Writes add to existing rows, so some end at 0; the migration leaves
    // those out.
    let kept = quarter_rows(&t).await;
    assert!(kept.len() >= 6, "{kept:?}");

    let conn = t.conn();
    conn.execute_unprepared("DELETE FROM user_count_quarters")
        .await
        .unwrap();
    conn.execute_unprepared(&migration::backfill_user_count_quarters(
        conn.get_database_backend(),
    ))
    .await
    .unwrap();
    let rebuilt = quarter_rows(&t).await;
    let nonzero: Vec<_> = kept.into_iter().filter(|r| r.3 != 0).collect();
    assert_eq!(rebuilt, nonzero);
}
