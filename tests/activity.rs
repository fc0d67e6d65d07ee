//! Recorded activity over HTTP (issue 14, item 3): `recordActivity` batches
//! (all or nothing, bad rows named by index), `activeUsers` bucketing in
//! zones with DST days, empty buckets and the apps filter, `userActivity`,
//! `userLatency` (PostgreSQL's percentile_cont, null without samples) and
//! `appUsage`, and the realm rules of each.

#[macro_use]
mod common;

use common::*;
use headcount::service::insights::percentile_cont;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

backend_tests!(
    sessions_are_summed_per_user_and_app,
    bad_rows_are_named_and_change_nothing,
    realms_are_isolated,
    active_users_follow_local_days,
    latency_percentiles_interpolate,
    concurrent_batches_lose_no_sample,
);

const RECORD: &str = "mutation($input: [ActivityInput!]!) { recordActivity(input: $input) }";
const ACTIVE: &str = "query($start: DateTime, $end: DateTime, $interval: Interval, $tz: String,
                             $offset: Int, $realm: String, $apps: [String!]) {
  activeUsers(startDate: $start, endDate: $end, interval: $interval, timeZone: $tz,
              tzOffset: $offset, realm: $realm, apps: $apps) { date startTime endTime activeUsers }
}";
const USERS: &str = "query($start: DateTime!, $end: DateTime!, $realm: String, $apps: [String!]) {
  userActivity(startDate: $start, endDate: $end, realm: $realm, apps: $apps) { userId email seconds apps }
}";
const LATENCY: &str = "query($start: DateTime!, $end: DateTime!, $realm: String) {
  userLatency(startDate: $start, endDate: $end, realm: $realm) { userId email p50Ms p95Ms }
}";
const APPS: &str = "query($start: DateTime!, $end: DateTime!, $realm: String) {
  appUsage(startDate: $start, endDate: $end, realm: $realm) { app seconds timesUsed users }
}";

fn session(user: i64, app: &str, at: &str, seconds: i64) -> Value {
    json!({ "userId": user, "app": app, "startedAt": at, "seconds": seconds })
}

fn timed(user: i64, at: &str, latency: f64) -> Value {
    json!({ "userId": user, "app": "ssh", "startedAt": at, "seconds": 60, "latencyMs": latency })
}

async fn record(t: &TestServer, rows: Vec<Value>) -> i64 {
    let n = rows.len() as i64;
    let data = t.admin_ok(RECORD, json!({ "input": rows })).await;
    assert_eq!(data["recordActivity"], n);
    n
}

fn ever() -> Value {
    json!({ "start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z" })
}

fn with(mut vars: Value, key: &str, value: Value) -> Value {
    vars[key] = value;
    vars
}

/// (startTime, activeUsers) of each point.
fn points(data: &Value) -> Vec<(String, i64)> {
    data["activeUsers"]
        .as_array()
        .expect("activeUsers")
        .iter()
        .map(|p| {
            (
                p["startTime"].as_str().unwrap().to_owned(),
                p["activeUsers"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn sessions_are_summed_per_user_and_app(t: TestServer) {
    t.create_realm("acme").await;
    let ann = t.create_user("acme", "ann@acme.test", &[]).await;
    let bob = t.create_user("acme", "bob@acme.test", &[]).await;
    let cy = t.create_user("acme", "cy@acme.test", &[]).await;
    record(
        &t,
        vec![
            session(ann, "vscode", "2025-01-10T08:00:00Z", 3600),
            session(ann, "vscode", "2025-01-10T13:00:00Z", 1800),
            session(ann, " jupyter ", "2025-01-11T09:00:00Z", 600),
            session(bob, "vscode", "2025-01-10T10:00:00Z", 120),
            // The range's end is excluded, its start included.
            session(bob, "ssh", "2025-01-12T00:00:00Z", 999),
            session(cy, "ssh", "2025-01-09T23:59:59.999999Z", 999),
            session(cy, "ssh", "2025-01-10T00:00:00Z", 0),
        ],
    )
    .await;
    let range = json!({ "start": "2025-01-10T00:00:00Z", "end": "2025-01-12T00:00:00Z" });
    let users = t.admin_ok(USERS, range.clone()).await;
    assert_eq!(
        users["userActivity"],
        json!([
            { "userId": ann, "email": "ann@acme.test", "seconds": 6000, "apps": ["jupyter", "vscode"] },
            { "userId": bob, "email": "bob@acme.test", "seconds": 120, "apps": ["vscode"] },
            { "userId": cy, "email": "cy@acme.test", "seconds": 0, "apps": ["ssh"] },
        ])
    );
    let only = t
        .admin_ok(USERS, with(range.clone(), "apps", json!(["jupyter"])))
        .await;
    assert_eq!(
        only["userActivity"],
        json!([{ "userId": ann, "email": "ann@acme.test", "seconds": 600, "apps": ["jupyter"] }])
    );
    let apps = t.admin_ok(APPS, range.clone()).await;
    assert_eq!(
        apps["appUsage"],
        json!([
            { "app": "vscode", "seconds": 5520, "timesUsed": 3, "users": 2 },
            { "app": "jupyter", "seconds": 600, "timesUsed": 1, "users": 1 },
            { "app": "ssh", "seconds": 0, "timesUsed": 1, "users": 1 },
        ])
    );
    // Nobody measured latency: listed, with nulls.
    let latency = t.admin_ok(LATENCY, range.clone()).await;
    assert_eq!(latency["userLatency"].as_array().unwrap().len(), 3);
    assert!(latency["userLatency"][0]["p50Ms"].is_null());
    assert!(latency["userLatency"][0]["p95Ms"].is_null());
    // A deleted user's activity stays theirs.
    t.admin_ok(
        "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
        json!({ "id": bob }),
    )
    .await;
    let users = t.admin_ok(USERS, range.clone()).await;
    assert_eq!(users["userActivity"][1]["email"], "bob@acme.test");
    // An empty range and an empty batch.
    let empty = json!({ "start": "2025-01-10T00:00:00Z", "end": "2025-01-10T00:00:00Z" });
    assert_eq!(
        t.admin_ok(USERS, empty.clone()).await["userActivity"],
        json!([])
    );
    assert_eq!(t.admin_ok(APPS, empty).await["appUsage"], json!([]));
    let before = t.snapshot().await;
    assert_eq!(
        t.admin_ok(RECORD, json!({ "input": [] })).await["recordActivity"],
        0
    );
    assert_unchanged(&before, &t.snapshot().await, "an empty batch");
}

async fn bad_rows_are_named_and_change_nothing(t: TestServer) {
    t.create_realm("acme").await;
    let ann = t.create_user("acme", "ann@acme.test", &[]).await;
    let gone = t.create_user("acme", "gone@acme.test", &[]).await;
    t.admin_ok(
        "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
        json!({ "id": gone }),
    )
    .await;
    let ok = session(ann, "vscode", "2025-01-10T08:00:00Z", 60);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            session(987_654, "vscode", "2025-01-10T08:00:00Z", 60),
            "input[3].userId",
            "BAD_USER_INPUT",
        ),
        (
            session(gone, "vscode", "2025-01-10T08:00:00Z", 60),
            "input[3].userId",
            "BAD_USER_INPUT",
        ),
        (
            session(ann, "  ", "2025-01-10T08:00:00Z", 60),
            "input[3].app",
            "BAD_USER_INPUT",
        ),
        (
            session(ann, &"x".repeat(101), "2025-01-10T08:00:00Z", 60),
            "input[3].app",
            "BAD_USER_INPUT",
        ),
        (
            session(ann, "vscode", "2025-01-10T08:00:00Z", -1),
            "input[3].seconds",
            "BAD_USER_INPUT",
        ),
        (
            session(ann, "vscode", "2025-01-10T08:00:00Z", 86_401),
            "input[3].seconds",
            "BAD_USER_INPUT",
        ),
        (
            json!({ "userId": ann, "app": "ssh", "startedAt": "2025-01-10T08:00:00Z", "seconds": 1, "latencyMs": -0.5 }),
            "input[3].latencyMs",
            "BAD_USER_INPUT",
        ),
    ];
    let before = t.snapshot().await;
    for (bad, field, code) in cases {
        let rows = vec![ok.clone(), ok.clone(), ok.clone(), bad.clone(), ok.clone()];
        let response = t.admin(RECORD, json!({ "input": rows })).await;
        assert_code(&response, code);
        assert_bad_input(&response, field);
        assert_no_data(&response, "recordActivity");
        assert_unchanged(&before, &t.snapshot().await, field);
    }
    // More than 10,000 rows.
    let tiny =
        json!({ "userId": ann, "app": "a", "startedAt": "2025-01-10T08:00:00Z", "seconds": 1 });
    let response = t
        .admin(RECORD, json!({ "input": vec![tiny.clone(); 10_001] }))
        .await;
    assert_bad_input(&response, "input");
    assert_unchanged(&before, &t.snapshot().await, "10,001 rows");
    // Exactly 10,000 are one batch.
    let data = t
        .admin_ok(RECORD, json!({ "input": vec![tiny; 10_000] }))
        .await;
    assert_eq!(data["recordActivity"], 10_000);
    // The scope comes first.
    let reader = t.token(&["INSIGHTS_READ", "USERS_WRITE"], None).await;
    let before = t.snapshot().await;
    let response = t.gql(&reader, RECORD, json!({ "input": [ok] })).await;
    assert_code(&response, "FORBIDDEN");
    assert_unchanged(&before, &t.snapshot().await, "without ACTIVITY_WRITE");
    let writer = t.token(&["ACTIVITY_WRITE"], None).await;
    let response = t.gql(&writer, APPS, ever()).await;
    assert_code(&response, "FORBIDDEN");
    // Bad ranges and zones.
    let backwards = json!({ "start": "2025-01-12T00:00:00Z", "end": "2025-01-10T00:00:00Z" });
    for query in [USERS, LATENCY, APPS, ACTIVE] {
        assert_bad_input(&t.admin(query, backwards.clone()).await, "startDate");
    }
    let both = json!({ "tz": "Europe/Berlin", "offset": 1 });
    assert_bad_input(&t.admin(ACTIVE, both).await, "tzOffset");
    assert_bad_input(
        &t.admin(ACTIVE, json!({ "tz": "Mars/Olympus" })).await,
        "timeZone",
    );
    assert_bad_input(
        &t.admin(USERS, with(ever(), "realm", json!("nosuch"))).await,
        "realm",
    );
}

async fn realms_are_isolated(t: TestServer) {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    let a = t.create_user("alpha", "a@alpha.test", &[]).await;
    let b = t.create_user("beta", "b@beta.test", &[]).await;
    record(
        &t,
        vec![
            timed(a, "2025-01-10T08:00:00Z", 10.0),
            timed(b, "2025-01-10T09:00:00Z", 20.0),
            session(b, "beta-only", "2025-01-10T10:00:00Z", 60),
        ],
    )
    .await;
    let bound = t
        .token(&["INSIGHTS_READ", "ACTIVITY_WRITE"], Some(&["alpha"]))
        .await;
    // recordActivity: another realm's user looks exactly like no user.
    let before = t.snapshot().await;
    let other = t
        .gql(&bound, RECORD, json!({ "input": [session(a, "x", "2025-01-10T08:00:00Z", 1), session(b, "x", "2025-01-10T08:00:00Z", 1)] }))
        .await;
    let missing = t
        .gql(&bound, RECORD, json!({ "input": [session(a, "x", "2025-01-10T08:00:00Z", 1), session(987_654, "x", "2025-01-10T08:00:00Z", 1)] }))
        .await;
    assert_bad_input(&other, "input[1].userId");
    let normalise = |v: &Value, id: i64| v.to_string().replace(&id.to_string(), "<id>");
    assert_eq!(normalise(&other, b), normalise(&missing, 987_654));
    assert_unchanged(&before, &t.snapshot().await, "another realm's user");
    // Reads without a realm see alpha only; naming beta is FORBIDDEN.
    let users = t.gql_ok(&bound, USERS, ever()).await;
    assert_eq!(
        users["userActivity"],
        json!([{ "userId": a, "email": "a@alpha.test", "seconds": 60, "apps": ["ssh"] }])
    );
    let latency = t.gql_ok(&bound, LATENCY, ever()).await;
    assert_eq!(
        latency["userLatency"],
        json!([{ "userId": a, "email": "a@alpha.test", "p50Ms": 10.0, "p95Ms": 10.0 }])
    );
    let apps = t.gql_ok(&bound, APPS, ever()).await;
    assert_eq!(
        apps["appUsage"],
        json!([{ "app": "ssh", "seconds": 60, "timesUsed": 1, "users": 1 }])
    );
    let day = json!({ "start": "2025-01-10T00:00:00Z", "end": "2025-01-10T23:00:00Z" });
    let active = t.gql_ok(&bound, ACTIVE, day.clone()).await;
    assert_eq!(points(&active), [("2025-01-10T00:00:00Z".to_owned(), 1)]);
    for (query, vars) in [
        (USERS, ever()),
        (LATENCY, ever()),
        (APPS, ever()),
        (ACTIVE, day.clone()),
    ] {
        for realm in ["beta", "nosuch"] {
            let response = t
                .gql(&bound, query, with(vars.clone(), "realm", json!(realm)))
                .await;
            assert_code(&response, "FORBIDDEN");
        }
        let own = t
            .gql(&bound, query, with(vars.clone(), "realm", json!("alpha")))
            .await;
        data(&own);
    }
    // An unbound token sees both, or one realm when it names it.
    let all = t.admin_ok(ACTIVE, day.clone()).await;
    assert_eq!(points(&all)[0].1, 2);
    let beta = t.admin_ok(ACTIVE, with(day, "realm", json!("beta"))).await;
    assert_eq!(points(&beta)[0].1, 1);
}

async fn active_users_follow_local_days(t: TestServer) {
    t.create_realm("acme").await;
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(t.create_user("acme", &format!("u{i}@acme.test"), &[]).await);
    }
    let (u0, u1, u2, u3) = (users[0], users[1], users[2], users[3]);
    // Berlin leaves summer time on 2024-10-27: that day lasts 25 hours,
    // from 2024-10-26T22:00Z to 2024-10-27T23:00Z.
    record(
        &t,
        vec![
            session(u3, "vscode", "2024-10-26T18:45:00Z", 60), // the 26th
            session(u0, "vscode", "2024-10-26T21:59:59Z", 60), // the 26th
            session(u1, "vscode", "2024-10-26T22:00:00Z", 60), // the 27th's first instant
            session(u2, "jupyter", "2024-10-27T22:30:00Z", 60), // its 25th hour
            session(u2, "vscode", "2024-10-27T22:45:00Z", 60), // the same user again
            session(u3, "vscode", "2024-10-27T23:00:00Z", 60), // the 28th
            session(u3, "vscode", "2024-10-30T12:00:00Z", 60), // the 30th
        ],
    )
    .await;
    let vars = json!({
        "start": "2024-10-26T12:00:00Z", "end": "2024-10-30T12:00:00Z", "tz": "Europe/Berlin"
    });
    let vars_again = vars.clone();
    let data = t.admin_ok(ACTIVE, vars.clone()).await;
    let expected = [
        ("2024-10-25T22:00:00Z", 2),
        ("2024-10-26T22:00:00Z", 2),
        ("2024-10-27T23:00:00Z", 1),
        ("2024-10-28T23:00:00Z", 0),
        ("2024-10-29T23:00:00Z", 1),
    ];
    let expected: Vec<(String, i64)> = expected.iter().map(|(a, n)| (a.to_string(), *n)).collect();
    assert_eq!(points(&data), expected);
    let all = data["activeUsers"].as_array().unwrap();
    assert_eq!(all[1]["date"], "2024-10-27");
    assert_eq!(all[1]["endTime"], "2024-10-27T23:00:00Z");
    // The last bucket ends at endDate, which it includes.
    assert_eq!(all[4]["endTime"], "2024-10-30T12:00:00Z");
    // The apps filter.
    let jupyter = t
        .admin_ok(ACTIVE, with(vars.clone(), "apps", json!(["jupyter"])))
        .await;
    let counts: Vec<i64> = points(&jupyter).into_iter().map(|p| p.1).collect();
    assert_eq!(counts, [0, 1, 0, 0, 0]);
    let both = t
        .admin_ok(
            ACTIVE,
            with(vars.clone(), "apps", json!(["jupyter", "vscode"])),
        )
        .await;
    assert_eq!(points(&both), points(&data));
    // In UTC the same sessions fall on other days.
    let utc = t
        .admin_ok(
            ACTIVE,
            json!({ "start": "2024-10-26T00:00:00Z", "end": "2024-10-27T23:59:59Z" }),
        )
        .await;
    let counts: Vec<i64> = points(&utc).into_iter().map(|p| p.1).collect();
    assert_eq!(counts, [3, 2]);
    // tzOffset 5 is UTC+5 all year; Kolkata (UTC+5:30) starts half an hour later.
    let plus5 = t
        .admin_ok(
            ACTIVE,
            json!({ "start": "2024-10-27T00:00:00Z", "end": "2024-10-27T23:30:00Z", "offset": 5 }),
        )
        .await;
    assert_eq!(
        points(&plus5),
        [
            ("2024-10-26T19:00:00Z".to_owned(), 2),
            ("2024-10-27T19:00:00Z".to_owned(), 2)
        ]
    );
    let kolkata = t
        .admin_ok(ACTIVE, json!({ "start": "2024-10-27T00:00:00Z", "end": "2024-10-27T23:30:00Z", "tz": "Asia/Kolkata" }))
        .await;
    assert_eq!(
        points(&kolkata),
        [
            ("2024-10-26T18:30:00Z".to_owned(), 3),
            ("2024-10-27T18:30:00Z".to_owned(), 2)
        ]
    );
    // A week: everyone once.
    let week = t
        .admin_ok(
            ACTIVE,
            with(
                with(vars, "interval", json!("WEEK")),
                "end",
                json!("2024-10-27T12:00:00Z"),
            ),
        )
        .await;
    assert_eq!(points(&week), [("2024-10-20T22:00:00Z".to_owned(), 3)]);
    // The rollups rebuilt from the sessions alone (as the bulk generator
    // and the migration build them) count the same as the ones kept batch
    // by batch.
    headcount::service::insights::rebuild_activity_rollups(t.conn())
        .await
        .unwrap();
    let rebuilt = t.admin_ok(ACTIVE, vars_again.clone()).await;
    assert_eq!(points(&rebuilt), expected);
    // Nothing recorded: a zero per bucket.
    let quiet = t
        .admin_ok(
            ACTIVE,
            json!({ "start": "2023-01-01T00:00:00Z", "end": "2023-01-03T00:00:00Z" }),
        )
        .await;
    let counts: Vec<i64> = points(&quiet).into_iter().map(|p| p.1).collect();
    assert_eq!(counts, [0, 0, 0]);
}

async fn latency_percentiles_interpolate(t: TestServer) {
    t.create_realm("acme").await;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(t.create_user("acme", &format!("u{i}@acme.test"), &[]).await);
    }
    let at = "2025-01-10T08:00:00Z";
    let mut rows = vec![
        timed(users[0], at, 7.25),
        timed(users[1], at, 20.0),
        timed(users[1], at, 10.0),
        session(users[3], "web", at, 60),
    ];
    for v in [4.0, 1.0, 3.0, 2.0] {
        rows.push(timed(users[2], at, v));
    }
    for v in 1..=100 {
        rows.push(timed(users[4], at, f64::from(v)));
    }
    // A sample outside the range counts for nothing.
    rows.push(timed(users[0], "2025-01-11T00:00:00Z", 1000.0));
    record(&t, rows).await;
    let range = json!({ "start": "2025-01-10T00:00:00Z", "end": "2025-01-11T00:00:00Z" });
    let latency = t.admin_ok(LATENCY, range.clone()).await;
    // The rollup rebuilt from the sessions alone (as the bulk generator and
    // the migration build it) answers the same as the one appended to batch
    // by batch; so do the sessions themselves, for a range of partial hours.
    headcount::service::insights::rebuild_latency_rollup(t.conn())
        .await
        .unwrap();
    assert_eq!(t.admin_ok(LATENCY, range).await, latency);
    let partial = json!({ "start": "2025-01-10T07:59:59Z", "end": "2025-01-10T08:00:01Z" });
    assert_eq!(t.admin_ok(LATENCY, partial).await, latency);
    let got: Vec<(i64, Option<f64>, Option<f64>)> = latency["userLatency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["userId"].as_i64().unwrap(),
                u["p50Ms"].as_f64(),
                u["p95Ms"].as_f64(),
            )
        })
        .collect();
    let expected = [
        (users[0], Some(7.25), Some(7.25)),
        (users[1], Some(15.0), Some(10.0 + (20.0 - 10.0) * 0.95)),
        (
            users[2],
            Some(2.5),
            Some(3.0 + (4.0 - 3.0) * (0.95 * 3.0 - 2.0)),
        ),
        (users[3], None, None),
        (
            users[4],
            Some(50.5),
            Some(95.0 + (96.0 - 95.0) * (0.95 * 99.0 - 94.0)),
        ),
    ];
    // The JSON parser of this test client may round the last bit of a
    // double; the exact values are compared with PostgreSQL below.
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * b.abs().max(1.0),
        (a, b) => a == b,
    };
    assert_eq!(got.len(), expected.len(), "{latency}");
    for (g, e) in got.iter().zip(&expected) {
        assert!(
            g.0 == e.0 && close(g.1, e.1) && close(g.2, e.2),
            "{got:?} != {expected:?}"
        );
    }
    // The server's function equals PostgreSQL's percentile_cont, to the bit.
    if t.backend() == Backend::Postgres {
        let rows = t
            .conn()
            .query_all_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT user_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), \
                 percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms), \
                 string_agg(latency_ms::text, ',' ORDER BY latency_ms) FROM activity \
                 WHERE latency_ms IS NOT NULL AND started_at < 1736553600000000 \
                 GROUP BY user_id ORDER BY user_id",
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 4);
        for r in rows {
            let p50: f64 = r.try_get_by_index(1).unwrap();
            let p95: f64 = r.try_get_by_index(2).unwrap();
            // PostgreSQL 12 and later print doubles exactly (shortest form).
            let values: String = r.try_get_by_index(3).unwrap();
            let values: Vec<f64> = values.split(',').map(|v| v.parse().unwrap()).collect();
            assert_eq!(percentile_cont(&values, 0.5), Some(p50));
            assert_eq!(percentile_cont(&values, 0.95), Some(p95));
        }
    }
}

/// Batches of different users written at once append to the same rollup
/// rows (same realm, same hour): none may overwrite another's samples.
async fn concurrent_batches_lose_no_sample(t: TestServer) {
    t.create_realm("acme").await;
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(t.create_user("acme", &format!("u{i}@acme.test"), &[]).await);
    }
    let calls = users.iter().enumerate().map(|(i, &user)| {
        let rows: Vec<Value> = (1..=20)
            .map(|v| timed(user, "2025-03-01T10:15:00Z", f64::from(v * (i as i32 + 1))))
            .collect();
        t.admin(RECORD, json!({ "input": rows }))
    });
    for response in futures::future::join_all(calls).await {
        assert_eq!(data(&response)["recordActivity"], 20, "{response}");
    }
    let range = json!({ "start": "2025-03-01T00:00:00Z", "end": "2025-03-02T00:00:00Z" });
    let latency = t.admin_ok(LATENCY, range).await;
    let got: Vec<(i64, f64)> = latency["userLatency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["userId"].as_i64().unwrap(), u["p50Ms"].as_f64().unwrap()))
        .collect();
    // 1..=20 times (i + 1): the median is 10.5 (i + 1).
    let expected: Vec<(i64, f64)> = users
        .iter()
        .enumerate()
        .map(|(i, &u)| (u, 10.5 * (i + 1) as f64))
        .collect();
    assert_eq!(got, expected);
}
