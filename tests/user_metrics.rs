//! User metrics over HTTP (issue 3, items 1–3): `userSummary` on past dates
//! and in time zones, `userSnapshots` as of any instant, and `userChangelog`
//! with its range, filters, ordering, keyset paging and errors. History is
//! written at chosen past times by moving the server's clock.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Duration;
use common::*;
use serde_json::{Value, json};

backend_tests!(
    summary_counts_history_on_past_dates,
    summary_lists_every_app_role,
    summary_end_of_day_follows_the_time_zone,
    summary_defaults_to_today_as_of_now,
    summary_respects_realms_and_tokens,
    summary_rejects_bad_dates_and_zones,
    summary_stays_exact_when_history_is_written_for_past_dates,
    snapshots_show_users_as_they_stood,
    snapshots_filter_on_the_state_at_the_instant,
    snapshots_walk_forward_and_backward,
    snapshots_default_to_now_and_reject_the_future,
    changelog_range_is_half_open_and_ordered,
    changelog_filters_nest_with_and_or,
    changelog_matches_renamed_users_by_current_email,
    changelog_walks_forward_and_backward,
    changelog_cursor_survives_new_changes,
    changelog_total_count_only_when_selected,
    changelog_rejects_bad_input_naming_the_argument,
    changelog_needs_scope_and_respects_realms,
);

const APP_ROLES: [&str; 6] = [
    "APP_ADMIN",
    "MANAGE_ALL_DATA",
    "REPORT_GENERATOR",
    "TEAM_ADMIN",
    "TEAM_DEVELOPER",
    "TEAM_USER",
];

// ───────────────────────── writing history ─────────────────────────

fn clock_to(t: &TestServer, when: &str) {
    t.clock().set(at(when));
}

/// Creates a user with a status and app roles; returns their userId.
async fn create(t: &TestServer, realm: &str, email: &str, status: &str, roles: &[&str]) -> i64 {
    let name = email.split('@').next().unwrap_or(email);
    let user = t
        .create_user_with(json!({
            "realm": realm, "email": email, "name": name, "status": status, "roles": roles,
        }))
        .await;
    assert_eq!(
        datetime(&user["createdAt"]),
        t.now(),
        "created by the clock"
    );
    user["userId"].as_i64().expect("userId")
}

async fn set_status(t: &TestServer, id: i64, status: &str) {
    t.admin_ok(
        "mutation($id: Int!, $s: UserStatus!) { setUserStatus(userId: $id, status: $s) { userId } }",
        json!({ "id": id, "s": status }),
    )
    .await;
}

async fn add_roles(t: &TestServer, id: i64, roles: &[&str]) {
    t.admin_ok(
        "mutation($id: Int!, $r: [String!]!) { addUserRoles(userId: $id, roles: $r) { userId } }",
        json!({ "id": id, "r": roles }),
    )
    .await;
}

async fn remove_roles(t: &TestServer, id: i64, roles: &[&str]) {
    t.admin_ok(
        "mutation($id: Int!, $r: [String!]!) { removeUserRoles(userId: $id, roles: $r) { userId } }",
        json!({ "id": id, "r": roles }),
    )
    .await;
}

async fn set_roles(t: &TestServer, id: i64, roles: &[&str]) {
    t.admin_ok(
        "mutation($id: Int!, $r: [String!]!) { setUserRoles(userId: $id, roles: $r) { userId } }",
        json!({ "id": id, "r": roles }),
    )
    .await;
}

async fn set_dataset_role(t: &TestServer, id: i64, dataset: i64, role: Option<&str>) {
    t.admin_ok(
        "mutation($id: Int!, $ds: Int!, $role: String) {
           setDatasetRole(userId: $id, datasetId: $ds, role: $role) { userId }
         }",
        json!({ "id": id, "ds": dataset, "role": role }),
    )
    .await;
}

async fn rename(t: &TestServer, id: i64, email: &str, name: &str) {
    t.admin_ok(
        "mutation($id: Int!, $e: String, $n: String) {
           updateUser(input: {userId: $id, email: $e, name: $n}) { userId }
         }",
        json!({ "id": id, "e": email, "n": name }),
    )
    .await;
}

async fn delete(t: &TestServer, id: i64) {
    t.admin_ok(
        "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
        json!({ "id": id }),
    )
    .await;
}

/// `base` with the keys of `extra` added (or replaced).
fn with(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    let object = out.as_object_mut().expect("variables are an object");
    for (key, value) in extra.as_object().expect("an object").clone() {
        object.insert(key, value);
    }
    out
}

// ───────────────────────── paging helpers ─────────────────────────

/// startCursor/endCursor are the first and last edges' cursors.
#[track_caller]
fn check_page_info(page: &Value) {
    let cursors = cursors(page);
    let info = &page["pageInfo"];
    match (cursors.first(), cursors.last()) {
        (Some(first), Some(last)) => {
            assert_eq!(info["startCursor"], first.as_str(), "{page}");
            assert_eq!(info["endCursor"], last.as_str(), "{page}");
        }
        _ => {
            assert!(info["startCursor"].is_null(), "{page}");
            assert!(info["endCursor"].is_null(), "{page}");
        }
    }
}

/// (hasPreviousPage, hasNextPage).
fn flags(page: &Value) -> (bool, bool) {
    (
        page["pageInfo"]["hasPreviousPage"]
            .as_bool()
            .expect("hasPreviousPage"),
        page["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("hasNextPage"),
    )
}

/// One connection page: `query` must take `$first $after $last $before`
/// and select the connection as `field`.
async fn page(t: &TestServer, secret: &str, query: &str, field: &str, vars: Value) -> Value {
    let data = t.gql_ok(secret, query, vars).await;
    let page = data[field].clone();
    check_page_info(&page);
    page
}

/// Walks every page forward (`first: size`, `after`), checking both flags
/// on every page against `total`, the number of nodes there are.
async fn walk_forward(
    t: &TestServer,
    secret: &str,
    (query, field): (&str, &str),
    vars: &Value,
    size: usize,
    total: usize,
) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..=total / size.max(1) + 1 {
        let page = page(
            t,
            secret,
            query,
            field,
            with(vars, json!({ "first": size, "after": after })),
        )
        .await;
        let nodes = nodes(&page);
        assert!(nodes.len() <= size, "a page holds at most {size}: {page}");
        let had = seen.len();
        seen.extend(nodes);
        assert_eq!(
            flags(&page),
            (had > 0, seen.len() < total),
            "forward page after {had} of {total} nodes (hasPreviousPage, hasNextPage): {page}"
        );
        if !flags(&page).1 {
            return seen;
        }
        after = Some(
            page["pageInfo"]["endCursor"]
                .as_str()
                .expect("a page with a next page has an endCursor")
                .to_owned(),
        );
    }
    panic!("the forward walk did not end after {} nodes", seen.len());
}

/// Walks every page backward (`last: size`, `before`) from the end; returns
/// the nodes in list order.
async fn walk_backward(
    t: &TestServer,
    secret: &str,
    (query, field): (&str, &str),
    vars: &Value,
    size: usize,
    total: usize,
) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..=total / size.max(1) + 1 {
        let page = page(
            t,
            secret,
            query,
            field,
            with(vars, json!({ "last": size, "before": before })),
        )
        .await;
        let mut nodes = nodes(&page);
        assert!(nodes.len() <= size, "a page holds at most {size}: {page}");
        let had = seen.len();
        nodes.extend(seen);
        seen = nodes;
        assert_eq!(
            flags(&page),
            (seen.len() < total, had > 0),
            "backward page before the last {had} of {total} nodes (hasPreviousPage, hasNextPage): {page}"
        );
        if !flags(&page).0 {
            return seen;
        }
        before = Some(
            page["pageInfo"]["startCursor"]
                .as_str()
                .expect("a page with a previous page has a startCursor")
                .to_owned(),
        );
    }
    panic!("the backward walk did not end after {} nodes", seen.len());
}

fn ids_of(nodes: &[Value], field: &str) -> Vec<Value> {
    nodes.iter().map(|n| n[field].clone()).collect()
}

#[track_caller]
fn assert_no_duplicates(nodes: &[Value], field: &str) {
    let ids = ids_of(nodes, field);
    let distinct: BTreeSet<String> = ids.iter().map(Value::to_string).collect();
    assert_eq!(distinct.len(), ids.len(), "duplicates in {ids:?}");
}

// ───────────────────────── userSummary ─────────────────────────

const SUMMARY: &str = "query($date: Date, $tz: String, $realm: String) {
  userSummary(date: $date, timeZone: $tz, realm: $realm) {
    date realm
    users { enabled disabled active dormant suspended total }
    appRoles { role count }
  }
}";

/// What a summary counts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counts {
    enabled: i64,
    disabled: i64,
    active: i64,
    dormant: i64,
    suspended: i64,
    total: i64,
    roles: BTreeMap<String, i64>,
}

/// Expected counts: users by status and the app roles held (every other
/// app role of the catalog 0).
fn counts(active: i64, dormant: i64, suspended: i64, roles: &[(&str, i64)]) -> Counts {
    let mut all: BTreeMap<String, i64> = APP_ROLES.iter().map(|r| (r.to_string(), 0)).collect();
    for (role, n) in roles {
        assert!(all.contains_key(*role), "{role} is not an app role");
        all.insert(role.to_string(), *n);
    }
    Counts {
        enabled: active + dormant,
        disabled: suspended,
        active,
        dormant,
        suspended,
        total: active + dormant + suspended,
        roles: all,
    }
}

#[track_caller]
fn parse_counts(summary: &Value) -> Counts {
    let users = &summary["users"];
    let n = |field: &str| {
        users[field]
            .as_i64()
            .unwrap_or_else(|| panic!("users.{field} missing in {summary}"))
    };
    let list = summary["appRoles"]
        .as_array()
        .unwrap_or_else(|| panic!("appRoles missing in {summary}"));
    let roles: BTreeMap<String, i64> = list
        .iter()
        .map(|r| {
            (
                r["role"].as_str().expect("role").to_owned(),
                r["count"].as_i64().expect("count"),
            )
        })
        .collect();
    assert_eq!(
        list.len(),
        roles.len(),
        "each app role is listed once: {summary}"
    );
    assert_eq!(
        roles.keys().cloned().collect::<Vec<_>>(),
        sorted(&APP_ROLES),
        "appRoles lists every app role of the catalog, and only those: {summary}"
    );
    Counts {
        enabled: n("enabled"),
        disabled: n("disabled"),
        active: n("active"),
        dormant: n("dormant"),
        suspended: n("suspended"),
        total: n("total"),
        roles,
    }
}

/// The summary response for the given arguments (absent ones left out).
async fn summary_response(
    t: &TestServer,
    secret: &str,
    date: Option<&str>,
    zone: Option<&str>,
    realm: Option<&str>,
) -> Value {
    let mut vars = serde_json::Map::new();
    if let Some(date) = date {
        vars.insert("date".into(), json!(date));
    }
    if let Some(zone) = zone {
        vars.insert("tz".into(), json!(zone));
    }
    if let Some(realm) = realm {
        vars.insert("realm".into(), json!(realm));
    }
    t.gql(secret, SUMMARY, Value::Object(vars)).await
}

/// The summary as admin; checks the echoed date (when given) and realm.
async fn summarize(t: &TestServer, date: &str, zone: Option<&str>, realm: Option<&str>) -> Counts {
    let response = summary_response(t, t.admin_secret(), Some(date), zone, realm).await;
    let summary = &data(&response)["userSummary"];
    assert_eq!(summary["date"], date, "the date is echoed: {summary}");
    assert_eq!(
        summary["realm"],
        json!(realm),
        "the realm is echoed: {summary}"
    );
    parse_counts(summary)
}

/// Realms a and b, and this history (the clock ends back at START):
///
/// | when (UTC)           | what                                              |
/// |----------------------|---------------------------------------------------|
/// | 2025-01-02 10:00     | u1 a ACTIVE [APP_ADMIN, TEAM_USER]; u2 a ACTIVE [TEAM_USER]; u3 b DORMANT [REPORT_GENERATOR] |
/// | 2025-01-03 12:00     | u2 SUSPENDED; u3 + TEAM_ADMIN                     |
/// | 2025-01-04 08:00     | u1 DORMANT; u1 − APP_ADMIN                        |
/// | 2025-01-05 23:59:59  | u4 b ACTIVE [APP_ADMIN]                           |
/// | 2025-01-06 00:00     | u3 deleted                                        |
/// | 2025-01-07 15:30     | u2 ACTIVE                                         |
async fn summary_history(t: &TestServer) {
    t.create_realm("a").await;
    t.create_realm("b").await;
    clock_to(t, "2025-01-02T10:00:00Z");
    let u1 = create(t, "a", "u1@a.test", "ACTIVE", &["APP_ADMIN", "TEAM_USER"]).await;
    let u2 = create(t, "a", "u2@a.test", "ACTIVE", &["TEAM_USER"]).await;
    let u3 = create(t, "b", "u3@b.test", "DORMANT", &["REPORT_GENERATOR"]).await;
    clock_to(t, "2025-01-03T12:00:00Z");
    set_status(t, u2, "SUSPENDED").await;
    add_roles(t, u3, &["TEAM_ADMIN"]).await;
    clock_to(t, "2025-01-04T08:00:00Z");
    set_status(t, u1, "DORMANT").await;
    remove_roles(t, u1, &["APP_ADMIN"]).await;
    clock_to(t, "2025-01-05T23:59:59Z");
    create(t, "b", "u4@b.test", "ACTIVE", &["APP_ADMIN"]).await;
    clock_to(t, "2025-01-06T00:00:00Z");
    delete(t, u3).await;
    clock_to(t, "2025-01-07T15:30:00Z");
    set_status(t, u2, "ACTIVE").await;
    clock_to(t, START);
}

/// The expected counts of the summary history, all realms, per UTC date.
fn summary_history_expected() -> Vec<(&'static str, Counts)> {
    vec![
        ("2024-06-30", counts(0, 0, 0, &[])),
        ("2025-01-01", counts(0, 0, 0, &[])),
        (
            "2025-01-02",
            counts(
                2,
                1,
                0,
                &[("APP_ADMIN", 1), ("TEAM_USER", 2), ("REPORT_GENERATOR", 1)],
            ),
        ),
        (
            // Suspended users are disabled and still hold their roles.
            "2025-01-03",
            counts(
                1,
                1,
                1,
                &[
                    ("APP_ADMIN", 1),
                    ("TEAM_USER", 2),
                    ("REPORT_GENERATOR", 1),
                    ("TEAM_ADMIN", 1),
                ],
            ),
        ),
        (
            "2025-01-04",
            counts(
                0,
                2,
                1,
                &[("TEAM_USER", 2), ("REPORT_GENERATOR", 1), ("TEAM_ADMIN", 1)],
            ),
        ),
        (
            // u4 created one second before midnight counts for this day.
            "2025-01-05",
            counts(
                1,
                2,
                1,
                &[
                    ("APP_ADMIN", 1),
                    ("TEAM_USER", 2),
                    ("REPORT_GENERATOR", 1),
                    ("TEAM_ADMIN", 1),
                ],
            ),
        ),
        (
            // u3 deleted at midnight: gone from this day on, with their roles.
            "2025-01-06",
            counts(1, 1, 1, &[("APP_ADMIN", 1), ("TEAM_USER", 2)]),
        ),
        (
            "2025-01-07",
            counts(2, 1, 0, &[("APP_ADMIN", 1), ("TEAM_USER", 2)]),
        ),
        (
            "2025-01-10",
            counts(2, 1, 0, &[("APP_ADMIN", 1), ("TEAM_USER", 2)]),
        ),
        (
            "2025-01-15",
            counts(2, 1, 0, &[("APP_ADMIN", 1), ("TEAM_USER", 2)]),
        ),
    ]
}

async fn summary_counts_history_on_past_dates(t: TestServer) {
    summary_history(&t).await;
    for (date, expected) in summary_history_expected() {
        assert_eq!(
            summarize(&t, date, None, None).await,
            expected,
            "userSummary(date: {date})"
        );
    }
    // The same dates asked again, in another order, give the same answers.
    for (date, expected) in summary_history_expected().into_iter().rev() {
        assert_eq!(
            summarize(&t, date, Some("UTC"), None).await,
            expected,
            "userSummary(date: {date}, timeZone: UTC)"
        );
    }
}

async fn summary_lists_every_app_role(t: TestServer) {
    // Nothing at all: every app role is listed with 0.
    let response = summary_response(&t, t.admin_secret(), None, None, None).await;
    let summary = &data(&response)["userSummary"];
    assert_eq!(parse_counts(summary), counts(0, 0, 0, &[]));
    let listed: Vec<&str> = summary["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 6, "{summary}");

    // Dataset roles are not app roles: a user with only a dataset role adds
    // to the status counts and to no app role.
    t.create_realm("a").await;
    let ds = t.create_dataset("a", "Invoices").await["datasetId"]
        .as_i64()
        .unwrap();
    t.create_user_with(json!({
        "realm": "a", "email": "ann@a.test", "name": "Ann",
        "datasets": [{ "datasetId": ds, "role": "MANAGER" }],
    }))
    .await;
    create(&t, "a", "bob@a.test", "DORMANT", &["TEAM_DEVELOPER"]).await;
    let expected = counts(1, 1, 0, &[("TEAM_DEVELOPER", 1)]);
    assert_eq!(summarize(&t, "2025-01-15", None, None).await, expected);
    assert_eq!(summarize(&t, "2025-01-15", None, Some("a")).await, expected);
    let roles: Vec<&str> = APP_ROLES.to_vec();
    let all = create(&t, "a", "all@a.test", "SUSPENDED", &roles).await;
    let every_role: Vec<(&str, i64)> = APP_ROLES
        .iter()
        .map(|r| (*r, if *r == "TEAM_DEVELOPER" { 2 } else { 1 }))
        .collect();
    assert_eq!(
        summarize(&t, "2025-01-15", None, None).await,
        counts(1, 1, 1, &every_role)
    );
    // Without roles, the suspended user still counts as a user.
    set_roles(&t, all, &[]).await;
    assert_eq!(
        summarize(&t, "2025-01-15", None, None).await,
        counts(1, 1, 1, &[("TEAM_DEVELOPER", 1)])
    );
}

async fn summary_end_of_day_follows_the_time_zone(t: TestServer) {
    t.create_realm("a").await;
    clock_to(&t, "2025-01-08T12:00:00Z");
    let id = create(&t, "a", "ann@a.test", "ACTIVE", &["TEAM_USER"]).await;
    // 2025-01-10T03:00Z is 2025-01-09 22:00 in New York, 12:00 on the 10th in Tokyo.
    clock_to(&t, "2025-01-10T03:00:00Z");
    set_status(&t, id, "SUSPENDED").await;
    add_roles(&t, id, &["APP_ADMIN"]).await;
    // 2025-01-11T05:00Z is midnight starting 2025-01-11 in New York.
    clock_to(&t, "2025-01-11T05:00:00Z");
    set_status(&t, id, "ACTIVE").await;
    clock_to(&t, START);

    let before = counts(1, 0, 0, &[("TEAM_USER", 1)]);
    let suspended = counts(0, 0, 1, &[("TEAM_USER", 1), ("APP_ADMIN", 1)]);
    let after = counts(1, 0, 0, &[("TEAM_USER", 1), ("APP_ADMIN", 1)]);
    let none = counts(0, 0, 0, &[]);
    let cases: [(&str, Option<&str>, &Counts); 12] = [
        ("2025-01-09", None, &before),
        ("2025-01-09", Some("UTC"), &before),
        ("2025-01-09", Some("Europe/London"), &before),
        ("2025-01-09", Some("America/New_York"), &suspended),
        ("2025-01-09", Some("Asia/Tokyo"), &before),
        ("2025-01-10", Some("Asia/Tokyo"), &suspended),
        ("2025-01-10", None, &suspended),
        // The change at local midnight belongs to the day it starts.
        ("2025-01-10", Some("America/New_York"), &suspended),
        ("2025-01-11", Some("America/New_York"), &after),
        ("2025-01-11", None, &after),
        ("2025-01-08", Some("America/New_York"), &before),
        ("2025-01-07", Some("Pacific/Kiritimati"), &none),
    ];
    for (date, zone, expected) in cases {
        assert_eq!(
            &summarize(&t, date, zone, None).await,
            expected,
            "userSummary(date: {date}, timeZone: {zone:?})"
        );
    }
    // Kiritimati is UTC+14: 2025-01-08T12:00Z is already the 9th there.
    assert_eq!(
        summarize(&t, "2025-01-08", Some("Pacific/Kiritimati"), None).await,
        counts(0, 0, 0, &[])
    );
    assert_eq!(
        summarize(&t, "2025-01-09", Some("Pacific/Kiritimati"), None).await,
        before
    );

    // Across a DST change: New York's 2025-03-09 has 23 hours and ends at
    // 2025-03-10T04:00Z (EDT), not 05:00Z.
    clock_to(&t, "2025-03-10T03:30:00Z");
    set_status(&t, id, "DORMANT").await;
    clock_to(&t, "2025-03-10T04:00:00Z");
    set_status(&t, id, "SUSPENDED").await;
    clock_to(&t, "2025-04-01T00:00:00Z");
    let dormant = counts(0, 1, 0, &[("TEAM_USER", 1), ("APP_ADMIN", 1)]);
    let suspended_again = counts(0, 0, 1, &[("TEAM_USER", 1), ("APP_ADMIN", 1)]);
    assert_eq!(
        summarize(&t, "2025-03-09", Some("America/New_York"), None).await,
        dormant
    );
    assert_eq!(
        summarize(&t, "2025-03-10", Some("America/New_York"), None).await,
        suspended_again
    );
    assert_eq!(summarize(&t, "2025-03-09", None, None).await, after);
    assert_eq!(
        summarize(&t, "2025-03-10", None, None).await,
        suspended_again
    );
}

async fn summary_defaults_to_today_as_of_now(t: TestServer) {
    t.create_realm("a").await;
    clock_to(&t, "2025-01-14T20:00:00Z");
    create(&t, "a", "ann@a.test", "ACTIVE", &[]).await;
    clock_to(&t, "2025-01-15T02:00:00Z");
    create(&t, "a", "bob@a.test", "DORMANT", &["TEAM_USER"]).await;
    // A row dated after "now" (as if written by a replica whose clock runs
    // ahead): the summary of today counts as of now, so it is left out.
    clock_to(&t, "2025-01-15T05:00:00Z");
    create(&t, "a", "cid@a.test", "SUSPENDED", &["APP_ADMIN"]).await;
    clock_to(&t, "2025-01-15T03:00:00Z");

    let two = counts(1, 1, 0, &[("TEAM_USER", 1)]);
    let admin = t.admin_secret().to_owned();
    let default_of = |zone: Option<&'static str>| {
        let (t, admin) = (t.clone(), admin.clone());
        async move {
            let response = summary_response(&t, &admin, None, zone, None).await;
            data(&response)["userSummary"].clone()
        }
    };
    // UTC: today is the 15th.
    let s = default_of(None).await;
    assert_eq!(s["date"], "2025-01-15", "{s}");
    assert!(s["realm"].is_null(), "{s}");
    assert_eq!(
        parse_counts(&s),
        two,
        "as of now, not as of the end of today"
    );
    assert_eq!(summarize(&t, "2025-01-15", None, None).await, two);
    // New York: 2025-01-15T03:00Z is 22:00 on the 14th.
    let s = default_of(Some("America/New_York")).await;
    assert_eq!(s["date"], "2025-01-14", "{s}");
    assert_eq!(parse_counts(&s), two);
    assert_eq!(
        summarize(&t, "2025-01-14", Some("America/New_York"), None).await,
        two
    );
    let future = summary_response(
        &t,
        &admin,
        Some("2025-01-15"),
        Some("America/New_York"),
        None,
    )
    .await;
    assert_bad_input(&future, "date");
    assert_no_data(&future, "userSummary");
    // Tokyo: noon on the 15th.
    let s = default_of(Some("Asia/Tokyo")).await;
    assert_eq!(s["date"], "2025-01-15", "{s}");
    assert_eq!(parse_counts(&s), two);
    // Yesterday in UTC had only Ann.
    assert_eq!(
        summarize(&t, "2025-01-14", None, None).await,
        counts(1, 0, 0, &[])
    );

    // Once the clock passes the later row, it counts.
    clock_to(&t, "2025-01-15T06:00:00Z");
    let three = counts(1, 1, 1, &[("TEAM_USER", 1), ("APP_ADMIN", 1)]);
    assert_eq!(parse_counts(&default_of(None).await), three);
    // Tokyo's today turns into the 16th at 15:00Z.
    clock_to(&t, "2025-01-15T16:00:00Z");
    let s = default_of(Some("Asia/Tokyo")).await;
    assert_eq!(s["date"], "2025-01-16", "{s}");
    assert_eq!(parse_counts(&s), three);
}

async fn summary_respects_realms_and_tokens(t: TestServer) {
    summary_history(&t).await;
    let realm_a_0105 = counts(0, 1, 1, &[("TEAM_USER", 2)]);
    let realm_b_0105 = counts(
        1,
        1,
        0,
        &[("APP_ADMIN", 1), ("REPORT_GENERATOR", 1), ("TEAM_ADMIN", 1)],
    );
    assert_eq!(
        summarize(&t, "2025-01-05", None, Some("a")).await,
        realm_a_0105
    );
    assert_eq!(
        summarize(&t, "2025-01-05", None, Some("b")).await,
        realm_b_0105
    );
    assert_eq!(
        summarize(&t, "2025-01-06", None, Some("b")).await,
        counts(1, 0, 0, &[("APP_ADMIN", 1)])
    );
    assert_eq!(
        summarize(&t, "2025-01-07", None, Some("a")).await,
        counts(1, 1, 0, &[("TEAM_USER", 2)])
    );

    // A token bound to realm a sees a's counts without asking, and may not
    // ask for b.
    let bound = t.token(&["USERS_READ"], Some(&["a"])).await;
    let response = summary_response(&t, &bound, Some("2025-01-05"), None, None).await;
    assert_eq!(parse_counts(&data(&response)["userSummary"]), realm_a_0105);
    let response = summary_response(&t, &bound, Some("2025-01-05"), None, Some("a")).await;
    let s = &data(&response)["userSummary"];
    assert_eq!(s["realm"], "a");
    assert_eq!(parse_counts(s), realm_a_0105);
    let response = summary_response(&t, &bound, Some("2025-01-05"), None, Some("b")).await;
    assert_code(&response, "FORBIDDEN");
    assert_no_data(&response, "userSummary");
    let response = summary_response(&t, &bound, None, None, Some("b")).await;
    assert_code(&response, "FORBIDDEN");
    assert_no_data(&response, "userSummary");

    // A token bound to both realms sees the sum.
    let both = t.token(&["USERS_READ"], Some(&["a", "b"])).await;
    let response = summary_response(&t, &both, Some("2025-01-05"), None, None).await;
    assert_eq!(
        parse_counts(&data(&response)["userSummary"]),
        summary_history_expected()
            .into_iter()
            .find(|(d, _)| *d == "2025-01-05")
            .unwrap()
            .1
    );

    // Reading the summary needs USERS_READ.
    let no_scope = t.token(&["CHANGELOG_READ"], None).await;
    let response = summary_response(&t, &no_scope, Some("2025-01-05"), None, None).await;
    assert_code(&response, "FORBIDDEN");
    assert_no_data(&response, "userSummary");

    // An unknown realm is bad input naming the argument.
    let response =
        summary_response(&t, t.admin_secret(), Some("2025-01-05"), None, Some("nope")).await;
    assert_bad_input(&response, "realm");
    assert_no_data(&response, "userSummary");
}

async fn summary_rejects_bad_dates_and_zones(t: TestServer) {
    summary_history(&t).await;
    let admin = t.admin_secret().to_owned();
    // The clock stands at 2025-01-15T09:00Z.
    for (date, zone) in [
        ("2025-01-16", None),
        ("2025-01-16", Some("UTC")),
        ("2026-01-01", None),
        ("2025-01-16", Some("America/Los_Angeles")),
    ] {
        let response = summary_response(&t, &admin, Some(date), zone, None).await;
        assert_bad_input(&response, "date");
        assert_no_data(&response, "userSummary");
    }
    // At 16:00Z it is already the 16th in Tokyo (01:00), so that is today
    // there, and still the future in UTC.
    clock_to(&t, "2025-01-15T16:00:00Z");
    let response = summary_response(&t, &admin, Some("2025-01-16"), Some("Asia/Tokyo"), None).await;
    assert_eq!(data(&response)["userSummary"]["date"], "2025-01-16");
    let response = summary_response(&t, &admin, Some("2025-01-16"), None, None).await;
    assert_bad_input(&response, "date");
    clock_to(&t, START);

    for zone in ["Mars/Olympus", "", "EST5EDT/Nowhere", "+25:00"] {
        let response = summary_response(&t, &admin, Some("2025-01-05"), Some(zone), None).await;
        assert_bad_input(&response, "timeZone");
        assert_no_data(&response, "userSummary");
        let response = summary_response(&t, &admin, None, Some(zone), None).await;
        assert_bad_input(&response, "timeZone");
    }
    let malformed = [
        "2025-02-30",
        "yesterday",
        "2025-01-05T00:00:00Z",
        "05/01/2025",
    ];
    // Malformed dates written into the query ...
    for date in malformed {
        let inline = t
            .admin(
                &format!("{{ userSummary(date: \"{date}\") {{ date users {{ total }} }} }}"),
                json!({}),
            )
            .await;
        assert_bad_input(&inline, "date");
        assert_no_data(&inline, "userSummary");
    }
    // ... and passed as variables, as clients do (checked last, so that a
    // failure here does not hide the checks above).
    for date in malformed {
        let response = summary_response(&t, &admin, Some(date), None, None).await;
        assert_bad_input(&response, "date");
        assert_no_data(&response, "userSummary");
    }
}

async fn summary_stays_exact_when_history_is_written_for_past_dates(t: TestServer) {
    summary_history(&t).await;
    // Summarize every date first, so anything kept from those answers would show.
    for (date, expected) in summary_history_expected() {
        assert_eq!(summarize(&t, date, None, None).await, expected, "{date}");
    }
    let before = summary_history_expected();

    // History written later for dates already summarized: new users whose
    // whole history lies in the past.
    clock_to(&t, "2025-01-04T15:00:00Z");
    let u5 = create(&t, "a", "u5@a.test", "ACTIVE", &["TEAM_DEVELOPER"]).await;
    clock_to(&t, "2025-01-05T06:00:00Z");
    set_status(&t, u5, "SUSPENDED").await;
    clock_to(&t, "2025-01-06T12:00:00Z");
    delete(&t, u5).await;
    clock_to(&t, "2025-01-03T01:00:00Z");
    let u6 = create(&t, "b", "u6@b.test", "DORMANT", &["MANAGE_ALL_DATA"]).await;
    clock_to(&t, "2025-01-07T23:59:59Z");
    remove_roles(&t, u6, &["MANAGE_ALL_DATA"]).await;
    clock_to(&t, START);

    // What each date gains: (active, dormant, suspended, roles).
    let gains: BTreeMap<&str, Counts> = [
        ("2024-06-30", counts(0, 0, 0, &[])),
        ("2025-01-01", counts(0, 0, 0, &[])),
        ("2025-01-02", counts(0, 0, 0, &[])),
        ("2025-01-03", counts(0, 1, 0, &[("MANAGE_ALL_DATA", 1)])),
        (
            "2025-01-04",
            counts(1, 1, 0, &[("MANAGE_ALL_DATA", 1), ("TEAM_DEVELOPER", 1)]),
        ),
        (
            "2025-01-05",
            counts(0, 1, 1, &[("MANAGE_ALL_DATA", 1), ("TEAM_DEVELOPER", 1)]),
        ),
        ("2025-01-06", counts(0, 1, 0, &[("MANAGE_ALL_DATA", 1)])),
        ("2025-01-07", counts(0, 1, 0, &[])),
        ("2025-01-10", counts(0, 1, 0, &[])),
        ("2025-01-15", counts(0, 1, 0, &[])),
    ]
    .into_iter()
    .collect();
    for (date, old) in before {
        let gain = &gains[date];
        let mut expected = counts(
            old.active + gain.active,
            old.dormant + gain.dormant,
            old.suspended + gain.suspended,
            &[],
        );
        for (role, n) in expected.roles.iter_mut() {
            *n = old.roles[role] + gain.roles[role];
        }
        assert_eq!(
            summarize(&t, date, None, None).await,
            expected,
            "userSummary(date: {date}) after history was written for past dates"
        );
    }
    // Per realm too, and in a zone whose day straddles two UTC days.
    assert_eq!(
        summarize(&t, "2025-01-05", None, Some("a")).await,
        counts(0, 1, 2, &[("TEAM_USER", 2), ("TEAM_DEVELOPER", 1)])
    );
    // End of 2025-01-04 in New York is 2025-01-05T05:00Z: u5 still ACTIVE.
    assert_eq!(
        summarize(&t, "2025-01-04", Some("America/New_York"), Some("a")).await,
        counts(1, 1, 1, &[("TEAM_USER", 2), ("TEAM_DEVELOPER", 1)])
    );
    // Snapshots agree with the summary at the same instants.
    for (date, at_instant) in [
        ("2025-01-04", "2025-01-04T23:59:59.999999Z"),
        ("2025-01-05", "2025-01-05T23:59:59.999999Z"),
        ("2025-01-06", "2025-01-06T23:59:59.999999Z"),
    ] {
        let summary = summarize(&t, date, None, None).await;
        let snapshots = t
            .admin_ok(
                "query($d: DateTime) { userSnapshots(date: $d, first: 1000) {
                   totalCount edges { node { status } } } }",
                json!({ "d": at_instant }),
            )
            .await;
        let nodes = nodes(&snapshots["userSnapshots"]);
        assert_eq!(nodes.len() as i64, summary.total, "{date}");
        assert_eq!(
            snapshots["userSnapshots"]["totalCount"].as_i64(),
            Some(summary.total),
            "{date}"
        );
        let suspended = nodes.iter().filter(|n| n["status"] == "SUSPENDED").count();
        assert_eq!(suspended as i64, summary.suspended, "{date}");
    }
}

// ───────────────────────── userSnapshots ─────────────────────────

const SNAPSHOT_FIELDS: &str = "asOf userId email name realm createdAt status enabled roles \
     datasets { datasetId datasetName role } user { userId email name deletedAt }";

fn snapshots_query(total: bool) -> String {
    format!(
        "query($date: DateTime, $f: UserFilter, $first: Int, $after: String, $last: Int, $before: String) {{
  userSnapshots(date: $date, filter: $f, first: $first, after: $after, last: $last, before: $before) {{
    {}
    edges {{ cursor node {{ {SNAPSHOT_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}",
        if total { "totalCount" } else { "" }
    )
}

/// Every snapshot at `date` (None: now) matching `filter`, as `secret` sees
/// them; checks totalCount and the flags of the single page.
async fn snapshots_as(
    t: &TestServer,
    secret: &str,
    date: Option<&str>,
    filter: Value,
) -> Vec<Value> {
    let mut vars = json!({ "f": filter, "first": 1000 });
    if let Some(date) = date {
        vars["date"] = json!(date);
    }
    let response = t.gql(secret, &snapshots_query(true), vars).await;
    let connection = &data(&response)["userSnapshots"];
    check_page_info(connection);
    let nodes = nodes(connection);
    assert_eq!(
        connection["totalCount"].as_u64(),
        Some(nodes.len() as u64),
        "totalCount at {date:?} with filter {filter}: {connection}"
    );
    assert_eq!(flags(connection), (false, false), "{connection}");
    if let Some(date) = date {
        for node in &nodes {
            assert_eq!(
                datetime(&node["asOf"]),
                at(date),
                "asOf echoes the instant: {node}"
            );
        }
    }
    let ids = ids_of(&nodes, "userId");
    let mut sorted_ids = ids.clone();
    sorted_ids.sort_by_key(|v| v.as_i64());
    assert_eq!(ids, sorted_ids, "snapshots come in userId order");
    nodes
}

async fn snapshots(t: &TestServer, date: Option<&str>, filter: Value) -> Vec<Value> {
    snapshots_as(t, t.admin_secret(), date, filter).await
}

fn user_ids(nodes: &[Value]) -> Vec<i64> {
    nodes
        .iter()
        .map(|n| n["userId"].as_i64().expect("userId"))
        .collect()
}

fn by_id(nodes: &[Value], id: i64) -> &Value {
    nodes
        .iter()
        .find(|n| n["userId"] == id)
        .unwrap_or_else(|| panic!("user {id} missing in {nodes:?}"))
}

/// Users and a dataset with this history (clock back at START after):
///
/// | when (UTC)        | what                                                     |
/// |-------------------|----------------------------------------------------------|
/// | 2025-01-02 10:00  | u1 a ann@a.test ACTIVE [TEAM_USER]; u2 a bob@a.test DORMANT [APP_ADMIN]; u3 b cid@b.test ACTIVE [] |
/// | 2025-01-03 10:00  | u1 ANALYST on Invoices; u3 SUSPENDED                     |
/// | 2025-01-04 10:00  | u1 renamed ann.b@a.test "Ann B"; u2 roles [TEAM_ADMIN]   |
/// | 2025-01-05 10:00  | u4 b dan@b.test ACTIVE [APP_ADMIN]; u2 deleted           |
/// | 2025-01-06 10:00  | u1 MANAGER on Invoices; u3 ACTIVE                        |
struct SnapshotWorld {
    u1: i64,
    u2: i64,
    u3: i64,
    u4: i64,
    ds: i64,
}

async fn snapshot_world(t: &TestServer) -> SnapshotWorld {
    t.create_realm("a").await;
    t.create_realm("b").await;
    let ds = t.create_dataset("a", "Invoices").await["datasetId"]
        .as_i64()
        .unwrap();
    clock_to(t, "2025-01-02T10:00:00Z");
    let u1 = create(t, "a", "ann@a.test", "ACTIVE", &["TEAM_USER"]).await;
    let u2 = create(t, "a", "bob@a.test", "DORMANT", &["APP_ADMIN"]).await;
    let u3 = create(t, "b", "cid@b.test", "ACTIVE", &[]).await;
    clock_to(t, "2025-01-03T10:00:00Z");
    set_dataset_role(t, u1, ds, Some("ANALYST")).await;
    set_status(t, u3, "SUSPENDED").await;
    clock_to(t, "2025-01-04T10:00:00Z");
    rename(t, u1, "ann.b@a.test", "Ann B").await;
    set_roles(t, u2, &["TEAM_ADMIN"]).await;
    clock_to(t, "2025-01-05T10:00:00Z");
    let u4 = create(t, "b", "dan@b.test", "ACTIVE", &["APP_ADMIN"]).await;
    delete(t, u2).await;
    clock_to(t, "2025-01-06T10:00:00Z");
    set_dataset_role(t, u1, ds, Some("MANAGER")).await;
    set_status(t, u3, "ACTIVE").await;
    clock_to(t, START);
    SnapshotWorld { u1, u2, u3, u4, ds }
}

async fn snapshots_show_users_as_they_stood(t: TestServer) {
    let SnapshotWorld { u1, u2, u3, u4, ds } = snapshot_world(&t).await;
    let created = at("2025-01-02T10:00:00Z");

    // Before anything existed: nothing.
    assert!(
        snapshots(&t, Some("2025-01-02T09:59:59Z"), Value::Null)
            .await
            .is_empty()
    );
    // Created exactly at the instant: there.
    let first = snapshots(&t, Some("2025-01-02T10:00:00Z"), Value::Null).await;
    assert_eq!(user_ids(&first), vec![u1, u2, u3]);

    let s = snapshots(&t, Some("2025-01-03T12:00:00Z"), Value::Null).await;
    assert_eq!(user_ids(&s), vec![u1, u2, u3], "u4 did not exist yet");
    let ann = by_id(&s, u1);
    assert_eq!(
        ann["email"], "ann@a.test",
        "the address of that time: {ann}"
    );
    assert_eq!(ann["name"], "ann");
    assert_eq!(ann["realm"], "a");
    assert_eq!(ann["status"], "ACTIVE");
    assert_eq!(ann["enabled"], true);
    assert_eq!(ann["roles"], json!(["TEAM_USER"]));
    assert_eq!(
        ann["datasets"],
        json!([{ "datasetId": ds, "datasetName": "Invoices", "role": "ANALYST" }])
    );
    assert_eq!(datetime(&ann["createdAt"]), created);
    // `user` is the record as it is now.
    assert_eq!(ann["user"]["userId"], u1);
    assert_eq!(ann["user"]["email"], "ann.b@a.test");
    assert_eq!(ann["user"]["name"], "Ann B");
    let bob = by_id(&s, u2);
    assert_eq!(bob["status"], "DORMANT");
    assert_eq!(bob["enabled"], true, "DORMANT users are enabled");
    assert_eq!(bob["roles"], json!(["APP_ADMIN"]));
    assert_eq!(bob["datasets"], json!([]));
    assert!(bob["user"].is_null(), "bob is deleted now: {bob}");
    let cid = by_id(&s, u3);
    assert_eq!(cid["status"], "SUSPENDED");
    assert_eq!(cid["enabled"], false);
    assert_eq!(cid["realm"], "b");
    assert_eq!(cid["roles"], json!([]));
    assert_eq!(cid["user"]["email"], "cid@b.test");

    // A change exactly at the instant is in the state at it.
    let s = snapshots(&t, Some("2025-01-04T10:00:00Z"), Value::Null).await;
    let ann = by_id(&s, u1);
    assert_eq!(ann["email"], "ann.b@a.test");
    assert_eq!(ann["name"], "Ann B");
    assert_eq!(
        datetime(&ann["createdAt"]),
        created,
        "createdAt never moves"
    );
    assert_eq!(by_id(&s, u2)["roles"], json!(["TEAM_ADMIN"]));
    // One microsecond earlier, the old state.
    let s = snapshots(&t, Some("2025-01-04T09:59:59.999999Z"), Value::Null).await;
    assert_eq!(by_id(&s, u1)["email"], "ann@a.test");
    assert_eq!(by_id(&s, u2)["roles"], json!(["APP_ADMIN"]));

    // Deleted exactly at the instant: gone; created exactly then: there.
    let s = snapshots(&t, Some("2025-01-05T10:00:00Z"), Value::Null).await;
    assert_eq!(user_ids(&s), vec![u1, u3, u4]);
    assert_eq!(by_id(&s, u4)["roles"], json!(["APP_ADMIN"]));
    assert_eq!(
        datetime(&by_id(&s, u4)["createdAt"]),
        at("2025-01-05T10:00:00Z")
    );
    let s = snapshots(&t, Some("2025-01-05T09:59:59Z"), Value::Null).await;
    assert_eq!(user_ids(&s), vec![u1, u2, u3]);
    assert_eq!(by_id(&s, u2)["roles"], json!(["TEAM_ADMIN"]));

    // Later: the dataset role changed, cid reactivated.
    let s = snapshots(&t, Some("2025-01-10T00:00:00Z"), Value::Null).await;
    assert_eq!(user_ids(&s), vec![u1, u3, u4]);
    assert_eq!(
        by_id(&s, u1)["datasets"],
        json!([{ "datasetId": ds, "datasetName": "Invoices", "role": "MANAGER" }])
    );
    assert_eq!(by_id(&s, u3)["status"], "ACTIVE");
    assert_eq!(by_id(&s, u3)["enabled"], true);

    // An offset in the instant is honoured (11:00+01:00 is 10:00Z).
    let s = snapshots(&t, Some("2025-01-05T11:00:00+01:00"), Value::Null).await;
    assert_eq!(user_ids(&s), vec![u1, u3, u4]);
}

async fn snapshots_filter_on_the_state_at_the_instant(t: TestServer) {
    let SnapshotWorld { u1, u2, u3, u4, .. } = snapshot_world(&t).await;
    let at3 = Some("2025-01-03T12:00:00Z");
    let at4 = Some("2025-01-04T12:00:00Z");
    let at2 = Some("2025-01-02T12:00:00Z");
    let now = Some("2025-01-10T00:00:00Z");
    let cases: Vec<(Option<&str>, Value, Vec<i64>)> = vec![
        (at3, json!({ "realm": ["b"] }), vec![u3]),
        (at3, json!({ "realm": ["a", "b"] }), vec![u1, u2, u3]),
        (at3, json!({ "status": ["SUSPENDED"] }), vec![u3]),
        (at2, json!({ "status": ["SUSPENDED"] }), vec![]),
        (now, json!({ "status": ["SUSPENDED"] }), vec![]),
        (
            at3,
            json!({ "status": ["ACTIVE", "DORMANT"] }),
            vec![u1, u2],
        ),
        (at3, json!({ "role": ["APP_ADMIN"] }), vec![u2]),
        (at4, json!({ "role": ["APP_ADMIN"] }), vec![]),
        (now, json!({ "role": ["APP_ADMIN"] }), vec![u4]),
        (at3, json!({ "role": ["TEAM_ADMIN"] }), vec![]),
        (at4, json!({ "role": ["TEAM_ADMIN"] }), vec![u2]),
        // A dataset role.
        (at2, json!({ "role": ["ANALYST"] }), vec![]),
        (at3, json!({ "role": ["ANALYST"] }), vec![u1]),
        (now, json!({ "role": ["ANALYST"] }), vec![]),
        (now, json!({ "role": ["MANAGER"] }), vec![u1]),
        (
            now,
            json!({ "role": ["MANAGER", "APP_ADMIN"] }),
            vec![u1, u4],
        ),
        // The address as it was at the instant.
        (at3, json!({ "userEmail": ["ann@a.test"] }), vec![u1]),
        (at3, json!({ "userEmail": ["ann.b@a.test"] }), vec![]),
        (at4, json!({ "userEmail": ["ann.b@a.test"] }), vec![u1]),
        (at4, json!({ "userEmail": ["ann@a.test"] }), vec![]),
        (
            at3,
            json!({ "userEmail": ["bob@a.test", "cid@b.test"] }),
            vec![u2, u3],
        ),
        (at3, json!({ "userId": [u1, u3] }), vec![u1, u3]),
        (at3, json!({ "userId": [u4] }), vec![]),
        (now, json!({ "userId": [u2] }), vec![]),
        // Fields of one filter all apply.
        (
            at3,
            json!({ "realm": ["a"], "status": ["DORMANT"] }),
            vec![u2],
        ),
        // OR: any of them.
        (
            at3,
            json!({ "OR": [{ "realm": ["b"] }, { "role": ["APP_ADMIN"] }] }),
            vec![u2, u3],
        ),
        (
            now,
            json!({ "OR": [{ "realm": ["b"] }, { "role": ["APP_ADMIN"] }] }),
            vec![u3, u4],
        ),
        // AND: all of them.
        (
            at3,
            json!({ "AND": [{ "status": ["SUSPENDED"] }, { "realm": ["b"] }] }),
            vec![u3],
        ),
        (
            now,
            json!({ "AND": [{ "status": ["SUSPENDED"] }, { "realm": ["b"] }] }),
            vec![],
        ),
        // Nested.
        (
            at3,
            json!({ "AND": [
                { "status": ["ACTIVE", "DORMANT"] },
                { "OR": [{ "realm": ["b"] }, { "role": ["ANALYST"] }] },
            ] }),
            vec![u1],
        ),
        (
            at3,
            json!({
                "realm": ["a"],
                "OR": [
                    { "AND": [{ "status": ["DORMANT"] }, { "role": ["APP_ADMIN"] }] },
                    { "userEmail": ["cid@b.test"] },
                ],
            }),
            vec![u2],
        ),
    ];
    for (date, filter, expected) in cases {
        let found = snapshots(&t, date, filter.clone()).await;
        assert_eq!(
            user_ids(&found),
            expected,
            "userSnapshots(date: {date:?}, filter: {filter})"
        );
    }

    // A token bound to realm b sees b's users only, with or without a filter.
    let bound = t.token(&["USERS_READ"], Some(&["b"])).await;
    assert_eq!(
        user_ids(&snapshots_as(&t, &bound, at3, Value::Null).await),
        vec![u3]
    );
    assert_eq!(
        user_ids(&snapshots_as(&t, &bound, at3, json!({ "userId": [u1, u2, u3] })).await),
        vec![u3]
    );
    let response = t
        .gql(
            &bound,
            &snapshots_query(true),
            json!({ "date": at3, "f": { "realm": ["a"] } }),
        )
        .await;
    assert_code(&response, "FORBIDDEN");
    assert_no_data(&response, "userSnapshots");

    // Unknown names in the filter are bad input naming the field.
    for (filter, field) in [
        (json!({ "realm": ["nope"] }), "filter.realm"),
        (json!({ "role": ["NOPE"] }), "filter.role"),
    ] {
        let response = t
            .admin(&snapshots_query(true), json!({ "date": at3, "f": filter }))
            .await;
        assert_bad_input(&response, field);
        assert_no_data(&response, "userSnapshots");
    }
}

async fn snapshots_walk_forward_and_backward(t: TestServer) {
    t.create_realm("a").await;
    t.create_realm("b").await;
    let mut ids = Vec::new();
    for i in 0..23 {
        clock_to(&t, "2025-01-02T00:00:00Z");
        t.clock().advance(Duration::hours(i));
        let realm = if i % 3 == 0 { "b" } else { "a" };
        let status = ["ACTIVE", "DORMANT", "SUSPENDED"][(i % 4).min(2) as usize];
        ids.push((
            create(&t, realm, &format!("user{i:02}@{realm}.test"), status, &[]).await,
            realm,
        ));
    }
    clock_to(&t, "2025-01-02T21:00:00Z");
    delete(&t, ids[4].0).await;
    delete(&t, ids[9].0).await;
    clock_to(&t, "2025-01-02T21:30:00Z");
    delete(&t, ids[14].0).await;
    clock_to(&t, START);
    // Also after the instant: more users and changes, none of which show.
    create(&t, "a", "late@a.test", "ACTIVE", &[]).await;
    set_status(&t, ids[1].0, "SUSPENDED").await;

    let instant = "2025-01-02T21:30:00Z";
    let expected: Vec<i64> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i <= 21 && ![4, 9, 14].contains(i))
        .map(|(_, (id, _))| *id)
        .collect();
    assert_eq!(expected.len(), 19);
    let in_a: Vec<i64> = ids
        .iter()
        .enumerate()
        .filter(|(i, (_, realm))| *i <= 21 && ![4, 9, 14].contains(i) && *realm == "a")
        .map(|(_, (id, _))| *id)
        .collect();

    let query = snapshots_query(true);
    let admin = t.admin_secret().to_owned();
    for (filter, expected) in [(Value::Null, &expected), (json!({ "realm": ["a"] }), &in_a)] {
        let vars = json!({ "date": instant, "f": filter });
        for size in [5, 1, 19, 50] {
            let forward = walk_forward(
                &t,
                &admin,
                (&query, "userSnapshots"),
                &vars,
                size,
                expected.len(),
            )
            .await;
            assert_eq!(
                &user_ids(&forward),
                expected,
                "forward by {size}, filter {filter}"
            );
            let backward = walk_backward(
                &t,
                &admin,
                (&query, "userSnapshots"),
                &vars,
                size,
                expected.len(),
            )
            .await;
            assert_eq!(
                &user_ids(&backward),
                expected,
                "backward by {size}, filter {filter}"
            );
        }
        // totalCount is the whole list's on every page.
        let page = page(
            &t,
            &admin,
            &query,
            "userSnapshots",
            with(&vars, json!({ "first": 5 })),
        )
        .await;
        assert_eq!(
            page["totalCount"].as_u64(),
            Some(expected.len() as u64),
            "{filter}"
        );
        let after = page["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
        let next = self::page(
            &t,
            &admin,
            &query,
            "userSnapshots",
            with(&vars, json!({ "first": 5, "after": after })),
        )
        .await;
        assert_eq!(next["totalCount"].as_u64(), Some(expected.len() as u64));
        assert_eq!(user_ids(&nodes(&next)), expected[5..10].to_vec());
        // Back from the second page's start: the first page, and exactly a
        // next page.
        let before = next["pageInfo"]["startCursor"].as_str().unwrap().to_owned();
        let back = self::page(
            &t,
            &admin,
            &query,
            "userSnapshots",
            with(&vars, json!({ "last": 3, "before": before })),
        )
        .await;
        assert_eq!(user_ids(&nodes(&back)), expected[2..5].to_vec());
        assert_eq!(flags(&back), (true, true));
    }
    // Without totalCount selected, the same pages.
    let query = snapshots_query(false);
    let vars = json!({ "date": instant });
    let forward = walk_forward(
        &t,
        &admin,
        (&query, "userSnapshots"),
        &vars,
        7,
        expected.len(),
    )
    .await;
    assert_eq!(user_ids(&forward), expected);
}

async fn snapshots_default_to_now_and_reject_the_future(t: TestServer) {
    let SnapshotWorld { u1, u3, u4, .. } = snapshot_world(&t).await;
    let now = snapshots(&t, None, Value::Null).await;
    assert_eq!(user_ids(&now), vec![u1, u3, u4]);
    for node in &now {
        assert_eq!(datetime(&node["asOf"]), t.now(), "asOf is now: {node}");
        // As of now, the snapshot is the current record.
        let user = &node["user"];
        assert_eq!(node["email"], user["email"], "{node}");
        assert_eq!(node["name"], user["name"], "{node}");
    }
    // Now is the clock's: move it back and the later history is not there yet.
    clock_to(&t, "2025-01-04T12:00:00Z");
    let then = snapshots(&t, None, Value::Null).await;
    assert_eq!(datetime(&then[0]["asOf"]), at("2025-01-04T12:00:00Z"));
    assert_eq!(user_ids(&then).len(), 3);
    assert!(!user_ids(&then).contains(&u4));
    // A date after now is bad input.
    for date in [
        "2025-01-04T12:00:00.000001Z",
        "2025-01-05T10:00:00Z",
        "2030-01-01",
    ] {
        let response = t
            .admin(&snapshots_query(true), json!({ "date": date }))
            .await;
        assert_bad_input(&response, "date");
        assert_no_data(&response, "userSnapshots");
    }
    // Now itself is fine.
    assert_eq!(
        snapshots(&t, Some("2025-01-04T12:00:00Z"), Value::Null).await,
        then
    );
    // Reading snapshots needs USERS_READ.
    let no_scope = t.token(&["CHANGELOG_READ"], None).await;
    let response = t.gql(&no_scope, &snapshots_query(true), json!({})).await;
    assert_code(&response, "FORBIDDEN");
    assert_no_data(&response, "userSnapshots");
    // A malformed date names the argument too: written into the query, and
    // passed as a variable (last, so a failure here hides nothing above).
    let response = t
        .admin(
            "{ userSnapshots(date: \"yesterday\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_bad_input(&response, "date");
    assert_no_data(&response, "userSnapshots");
    let response = t
        .admin(&snapshots_query(true), json!({ "date": "yesterday" }))
        .await;
    assert_bad_input(&response, "date");
    assert_no_data(&response, "userSnapshots");
}

// ───────────────────────── userChangelog ─────────────────────────

const CHANGE_NODE: &str = "id date userId userEmail realm status enabled roles \
     datasets { datasetId datasetName role } changesMade";

fn changelog_query(total: bool) -> String {
    format!(
        "query($start: DateTime, $end: DateTime, $f: UserFilter, $types: [UserChangeType!],
       $order: UserChangeOrder, $first: Int, $after: String, $last: Int, $before: String) {{
  userChangelog(startDate: $start, endDate: $end, filter: $f, changeTypes: $types,
                orderBy: $order, first: $first, after: $after, last: $last, before: $before) {{
    {}
    edges {{ cursor node {{ {CHANGE_NODE} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}",
        if total { "totalCount" } else { "" }
    )
}

/// The whole changelog for `vars` in one page, as `secret` sees it; checks
/// totalCount and both flags.
async fn changes_as(t: &TestServer, secret: &str, vars: Value) -> Vec<Value> {
    let response = t
        .gql(
            secret,
            &changelog_query(true),
            with(&vars, json!({ "first": 1000 })),
        )
        .await;
    let connection = &data(&response)["userChangelog"];
    check_page_info(connection);
    let nodes = nodes(connection);
    assert_eq!(
        connection["totalCount"].as_u64(),
        Some(nodes.len() as u64),
        "totalCount for {vars}: {connection}"
    );
    assert_eq!(flags(connection), (false, false), "{connection}");
    nodes
}

async fn changes(t: &TestServer, vars: Value) -> Vec<Value> {
    changes_as(t, t.admin_secret(), vars).await
}

fn change_ids(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect()
}

/// (date, id) ascending: the order of the changelog. Global ids do not sort
/// numerically, so ties are checked against the list's own order elsewhere.
#[track_caller]
fn assert_dates_ascend(nodes: &[Value]) {
    for pair in nodes.windows(2) {
        assert!(
            datetime(&pair[0]["date"]) <= datetime(&pair[1]["date"]),
            "dates ascend: {} then {}",
            pair[0],
            pair[1]
        );
    }
}

fn types(node: &Value) -> BTreeSet<String> {
    strings(&node["changesMade"]).into_iter().collect()
}

async fn changelog_range_is_half_open_and_ordered(t: TestServer) {
    t.create_realm("a").await;
    clock_to(&t, "2025-01-02T00:00:00Z");
    let id = create(&t, "a", "ann@a.test", "ACTIVE", &[]).await;
    clock_to(&t, "2025-01-03T00:00:00Z");
    add_roles(&t, id, &["APP_ADMIN"]).await; // 1
    clock_to(&t, "2025-01-03T12:00:00Z");
    set_status(&t, id, "SUSPENDED").await; // 2: STATUS + ENABLEMENT
    clock_to(&t, "2025-01-04T00:00:00Z");
    set_status(&t, id, "DORMANT").await; // 3: STATUS + ENABLEMENT
    clock_to(&t, "2025-01-05T00:00:00Z");
    set_status(&t, id, "ACTIVE").await; // 4: STATUS only
    remove_roles(&t, id, &["APP_ADMIN"]).await; // 5: same instant
    clock_to(&t, START);

    let all = changes(&t, json!({})).await;
    assert_eq!(all.len(), 6);
    assert_dates_ascend(&all);
    let id_at = |i: usize| all[i]["id"].as_str().unwrap().to_owned();
    let pick = |idx: &[usize]| idx.iter().map(|i| id_at(*i)).collect::<Vec<_>>();
    assert_eq!(types(&all[0]), ["CREATED".to_owned()].into());
    assert_eq!(
        types(&all[2]),
        ["ENABLEMENT", "STATUS"].map(String::from).into()
    );
    assert_eq!(types(&all[4]), ["STATUS".to_owned()].into());
    assert_eq!(types(&all[5]), ["APP_ROLE".to_owned()].into());

    let ranges: Vec<(Value, Vec<usize>)> = vec![
        // startDate included, endDate excluded.
        (
            json!({ "start": "2025-01-03T00:00:00Z", "end": "2025-01-04T00:00:00Z" }),
            vec![1, 2],
        ),
        (
            json!({ "start": "2025-01-03T00:00:00.000001Z", "end": "2025-01-04T00:00:00Z" }),
            vec![2],
        ),
        (
            json!({ "start": "2025-01-03T00:00:00Z", "end": "2025-01-04T00:00:00.000001Z" }),
            vec![1, 2, 3],
        ),
        (json!({ "end": "2025-01-03T00:00:00Z" }), vec![0]),
        (json!({ "start": "2025-01-04T00:00:00Z" }), vec![3, 4, 5]),
        (
            json!({ "start": "2025-01-05T00:00:00Z", "end": "2025-01-05T00:00:00.000001Z" }),
            vec![4, 5],
        ),
        // An empty range is empty, not an error.
        (
            json!({ "start": "2025-01-03T00:00:00Z", "end": "2025-01-03T00:00:00Z" }),
            vec![],
        ),
        (
            json!({ "start": "2024-01-01T00:00:00Z", "end": "2025-01-02T00:00:00Z" }),
            vec![],
        ),
        // Offsets and bare dates (midnight UTC).
        (
            json!({ "start": "2025-01-03T01:00:00+01:00", "end": "2025-01-03T19:00:00-05:00" }),
            vec![1, 2],
        ),
        (
            json!({ "start": "2025-01-03", "end": "2025-01-04" }),
            vec![1, 2],
        ),
    ];
    for (vars, expected) in ranges {
        assert_eq!(
            change_ids(&changes(&t, vars.clone()).await),
            pick(&expected),
            "{vars}"
        );
    }

    let by_type: Vec<(Value, Vec<usize>)> = vec![
        (json!(["APP_ROLE"]), vec![1, 5]),
        (json!(["STATUS", "ENABLEMENT"]), vec![2, 3, 4]),
        (json!(["ENABLEMENT"]), vec![2, 3]),
        (json!(["CREATED"]), vec![0]),
        (json!(["CREATED", "APP_ROLE"]), vec![0, 1, 5]),
        (json!(["DATASET_ROLE", "PROFILE", "DELETED"]), vec![]),
    ];
    for (types, expected) in by_type {
        assert_eq!(
            change_ids(&changes(&t, json!({ "types": types })).await),
            pick(&expected),
            "changeTypes: {types}"
        );
    }
    // Types and range together.
    assert_eq!(
        change_ids(
            &changes(
                &t,
                json!({ "types": ["STATUS"], "start": "2025-01-03T12:00:00Z", "end": "2025-01-05T00:00:00Z" })
            )
            .await
        ),
        pick(&[2, 3])
    );

    // DESC reverses (date, id), ties included; ASC is the default.
    let desc = changes(&t, json!({ "order": { "direction": "DESC" } })).await;
    let mut reversed = change_ids(&all);
    reversed.reverse();
    assert_eq!(change_ids(&desc), reversed);
    let asc = changes(&t, json!({ "order": { "direction": "ASC" } })).await;
    assert_eq!(change_ids(&asc), change_ids(&all));
    let asc = changes(&t, json!({ "order": {} })).await;
    assert_eq!(change_ids(&asc), change_ids(&all));
    let desc = changes(
        &t,
        json!({ "order": { "direction": "DESC" }, "types": ["STATUS"], "start": "2025-01-03" }),
    )
    .await;
    assert_eq!(change_ids(&desc), pick(&[4, 3, 2]));

    // The nodes carry the state after each change.
    let last = &all[5];
    assert_eq!(last["userId"], id);
    assert_eq!(last["userEmail"], "ann@a.test");
    assert_eq!(last["realm"], "a");
    assert_eq!(last["status"], "ACTIVE");
    assert_eq!(last["roles"], json!([]));
    assert_eq!(datetime(&last["date"]), at("2025-01-05T00:00:00Z"));
    assert_eq!(all[2]["enabled"], false);
}

/// Does `change` match `filter` (GraphQL UserFilter as JSON)? A naive
/// reading of the contract: each given field must match any of its values,
/// AND every sub-filter, OR any of them; roles are app or dataset roles;
/// an email matches the address at the change or the user's current one.
fn matches(change: &Value, filter: &Value, current_email: &HashMap<i64, String>) -> bool {
    let Some(filter) = filter.as_object() else {
        return true;
    };
    let list = |key: &str| filter.get(key).and_then(Value::as_array);
    if let Some(ids) = list("userId")
        && !ids.contains(&change["userId"])
    {
        return false;
    }
    if let Some(emails) = list("userEmail") {
        let user = change["userId"].as_i64().unwrap();
        let now = current_email.get(&user).map(String::as_str);
        if !emails
            .iter()
            .any(|e| *e == change["userEmail"] || e.as_str() == now)
        {
            return false;
        }
    }
    if let Some(realms) = list("realm")
        && !realms.contains(&change["realm"])
    {
        return false;
    }
    if let Some(statuses) = list("status")
        && !statuses.contains(&change["status"])
    {
        return false;
    }
    if let Some(roles) = list("role") {
        let held: Vec<&Value> = change["roles"]
            .as_array()
            .unwrap()
            .iter()
            .chain(
                change["datasets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| &d["role"]),
            )
            .collect();
        if !roles.iter().any(|r| held.contains(&r)) {
            return false;
        }
    }
    if let Some(and) = list("AND")
        && !and.iter().all(|f| matches(change, f, current_email))
    {
        return false;
    }
    if let Some(or) = list("OR")
        && !or.is_empty()
        && !or.iter().any(|f| matches(change, f, current_email))
    {
        return false;
    }
    true
}

/// Each user's current email: the address of their latest change.
fn current_emails(all: &[Value]) -> HashMap<i64, String> {
    all.iter()
        .map(|c| {
            (
                c["userId"].as_i64().unwrap(),
                c["userEmail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

struct FilterWorld {
    u1: i64,
    u2: i64,
    u3: i64,
    u4: i64,
}

/// Realms a and b, a dataset in a, and 15 changes (clock back at START):
///
/// | when (UTC)        | what                                                 |
/// |-------------------|------------------------------------------------------|
/// | 2025-01-02 09:00  | u1 a ann [APP_ADMIN]; u2 a bob [TEAM_USER]; u3 b cid [TEAM_USER]; u4 b dan DORMANT [APP_ADMIN] |
/// | 10:00             | u2 SUSPENDED; u3 SUSPENDED                           |
/// | 11:00             | u2 ANALYST on Invoices; u3 + APP_ADMIN; u4 ACTIVE    |
/// | 12:00             | u3 renamed cid.new@b.test; u1 − APP_ADMIN; u1 DORMANT |
/// | 13:00             | u3 ACTIVE; u4 deleted; u2 loses Invoices             |
async fn filter_world(t: &TestServer) -> FilterWorld {
    t.create_realm("a").await;
    t.create_realm("b").await;
    let ds = t.create_dataset("a", "Invoices").await["datasetId"]
        .as_i64()
        .unwrap();
    clock_to(t, "2025-01-02T09:00:00Z");
    let u1 = create(t, "a", "ann@a.test", "ACTIVE", &["APP_ADMIN"]).await;
    let u2 = create(t, "a", "bob@a.test", "ACTIVE", &["TEAM_USER"]).await;
    let u3 = create(t, "b", "cid@b.test", "ACTIVE", &["TEAM_USER"]).await;
    let u4 = create(t, "b", "dan@b.test", "DORMANT", &["APP_ADMIN"]).await;
    clock_to(t, "2025-01-02T10:00:00Z");
    set_status(t, u2, "SUSPENDED").await;
    set_status(t, u3, "SUSPENDED").await;
    clock_to(t, "2025-01-02T11:00:00Z");
    set_dataset_role(t, u2, ds, Some("ANALYST")).await;
    add_roles(t, u3, &["APP_ADMIN"]).await;
    set_status(t, u4, "ACTIVE").await;
    clock_to(t, "2025-01-02T12:00:00Z");
    rename(t, u3, "cid.new@b.test", "Cid New").await;
    remove_roles(t, u1, &["APP_ADMIN"]).await;
    set_status(t, u1, "DORMANT").await;
    clock_to(t, "2025-01-02T13:00:00Z");
    set_status(t, u3, "ACTIVE").await;
    delete(t, u4).await;
    set_dataset_role(t, u2, ds, None).await;
    clock_to(t, START);
    FilterWorld { u1, u2, u3, u4 }
}

async fn changelog_filters_nest_with_and_or(t: TestServer) {
    let FilterWorld { u1, u2, u3, u4 } = filter_world(&t).await;
    let all = changes(&t, json!({})).await;
    assert_eq!(all.len(), 15);
    let emails = current_emails(&all);

    let filters = vec![
        json!({ "realm": ["a"] }),
        json!({ "realm": ["b"] }),
        json!({ "realm": ["a", "b"] }),
        json!({ "status": ["SUSPENDED"] }),
        json!({ "status": ["ACTIVE", "DORMANT"] }),
        json!({ "role": ["APP_ADMIN"] }),
        json!({ "role": ["ANALYST"] }),
        json!({ "role": ["APP_ADMIN", "ANALYST"] }),
        json!({ "role": ["TEAM_ADMIN"] }),
        json!({ "userId": [u2, u4] }),
        json!({ "userEmail": ["dan@b.test"] }),
        json!({ "OR": [{ "realm": ["a"] }, { "role": ["APP_ADMIN"] }] }),
        json!({ "AND": [{ "status": ["SUSPENDED"] }, { "realm": ["b"] }] }),
        json!({ "realm": ["a"], "status": ["SUSPENDED"] }),
        json!({ "status": ["ACTIVE"], "OR": [{ "userId": [u1] }, { "userEmail": ["dan@b.test"] }] }),
        json!({ "AND": [
            { "OR": [{ "realm": ["a"] }, { "status": ["DORMANT"] }] },
            { "OR": [{ "role": ["TEAM_USER"] }, { "userId": [u4] }] },
        ] }),
        json!({ "OR": [
            { "AND": [{ "realm": ["b"] }, { "role": ["APP_ADMIN"] }, { "status": ["SUSPENDED"] }] },
            { "AND": [{ "realm": ["a"] }, { "role": ["ANALYST"] }] },
        ] }),
        json!({ "OR": [{ "userId": [u1] }, { "OR": [{ "userId": [u2] }, { "AND": [{ "userId": [u3] }, { "status": ["ACTIVE"] }] }] }] }),
        json!({ "AND": [{ "realm": ["a"] }, { "realm": ["b"] }] }),
    ];
    for filter in &filters {
        let expected: Vec<String> = change_ids(
            &all.iter()
                .filter(|c| matches(c, filter, &emails))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let found = changes(&t, json!({ "f": filter })).await;
        assert_eq!(change_ids(&found), expected, "filter: {filter}");
        // DESC gives the same changes, reversed.
        let desc = changes(&t, json!({ "f": filter, "order": { "direction": "DESC" } })).await;
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(change_ids(&desc), reversed, "filter {filter}, DESC");
        // With change types and a range too.
        for kinds in [json!(["APP_ROLE"]), json!(["STATUS", "ENABLEMENT"])] {
            let wanted: BTreeSet<String> = strings(&kinds).into_iter().collect();
            let expected: Vec<String> = change_ids(
                &all.iter()
                    .filter(|c| {
                        matches(c, filter, &emails)
                            && !types(c).is_disjoint(&wanted)
                            && datetime(&c["date"]) >= at("2025-01-02T10:00:00Z")
                            && datetime(&c["date"]) < at("2025-01-02T13:00:00Z")
                    })
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            let found = changes(
                &t,
                json!({ "f": filter, "types": kinds, "start": "2025-01-02T10:00:00Z", "end": "2025-01-02T13:00:00Z" }),
            )
            .await;
            assert_eq!(
                change_ids(&found),
                expected,
                "filter {filter}, types {kinds}"
            );
        }
    }

    // Hand-checked: the examples of the brief.
    let or = changes(
        &t,
        json!({ "f": { "OR": [{ "realm": ["a"] }, { "role": ["APP_ADMIN"] }] } }),
    )
    .await;
    let in_b: Vec<(i64, BTreeSet<String>)> = or
        .iter()
        .filter(|c| c["realm"] == "b")
        .map(|c| (c["userId"].as_i64().unwrap(), types(c)))
        .collect();
    let set = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        in_b,
        vec![
            (u4, set(&["CREATED"])),
            (u3, set(&["APP_ROLE"])),
            (u4, set(&["STATUS"])),
            (u3, set(&["PROFILE"])),
            (u3, set(&["ENABLEMENT", "STATUS"])),
            (u4, set(&["DELETED"])),
        ],
        "b's changes after which the user held APP_ADMIN"
    );
    assert_eq!(or.iter().filter(|c| c["realm"] == "a").count(), 7);
    let and = changes(
        &t,
        json!({ "f": { "AND": [{ "status": ["SUSPENDED"] }, { "realm": ["b"] }] } }),
    )
    .await;
    assert_eq!(
        and.iter()
            .map(|c| (c["userId"].as_i64().unwrap(), types(c)))
            .collect::<Vec<_>>(),
        vec![
            (u3, set(&["ENABLEMENT", "STATUS"])),
            (u3, set(&["APP_ROLE"])),
            (u3, set(&["PROFILE"])),
        ]
    );
    let analyst = changes(&t, json!({ "f": { "role": ["ANALYST"] } })).await;
    assert_eq!(analyst.len(), 1);
    assert_eq!(analyst[0]["userId"], u2);
    assert_eq!(types(&analyst[0]), set(&["DATASET_ROLE"]));
    let app_roles = changes(&t, json!({ "types": ["APP_ROLE"] })).await;
    assert_eq!(
        app_roles
            .iter()
            .map(|c| c["userId"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![u3, u1]
    );
    let statuses = changes(&t, json!({ "types": ["STATUS", "ENABLEMENT"] })).await;
    assert_eq!(
        statuses
            .iter()
            .map(|c| c["userId"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![u2, u3, u4, u1, u3]
    );
}

async fn changelog_matches_renamed_users_by_current_email(t: TestServer) {
    let FilterWorld { u3, .. } = filter_world(&t).await;
    let all = changes(&t, json!({})).await;
    let of_u3: Vec<String> = change_ids(
        &all.iter()
            .filter(|c| c["userId"] == u3)
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(of_u3.len(), 5);
    // The current address finds the older changes made under the old one.
    let current = changes(&t, json!({ "f": { "userEmail": ["cid.new@b.test"] } })).await;
    assert_eq!(change_ids(&current), of_u3);
    let old_emails: Vec<&Value> = current
        .iter()
        .filter(|c| c["userEmail"] == "cid@b.test")
        .map(|c| &c["userEmail"])
        .collect();
    assert_eq!(
        old_emails.len(),
        3,
        "the older changes carry the old address"
    );
    // The old address finds the changes made while the user had it.
    let old = changes(&t, json!({ "f": { "userEmail": ["cid@b.test"] } })).await;
    assert_eq!(change_ids(&old), of_u3[..3].to_vec());
    // Inside OR/AND too.
    let nested = changes(
        &t,
        json!({ "f": { "OR": [{ "userEmail": ["cid.new@b.test"] }, { "userEmail": ["nobody@b.test"] }], "AND": [{ "realm": ["b"] }] } }),
    )
    .await;
    assert_eq!(change_ids(&nested), of_u3);
    // The snapshots, by contrast, match the address at the instant.
    let snaps = t
        .admin_ok(
            "{ userSnapshots(date: \"2025-01-02T11:30:00Z\", filter: {userEmail: [\"cid.new@b.test\"]}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(snaps["userSnapshots"]["totalCount"], 0);
}

/// Five users (four in realm a, the last in b) and 33 changes: five
/// creations at one instant, then 28 role grants, some sharing an instant.
/// Returns the user ids.
async fn many_changes(t: &TestServer) -> Vec<i64> {
    t.create_realm("a").await;
    t.create_realm("b").await;
    clock_to(t, "2025-01-02T00:00:00Z");
    let mut users = Vec::new();
    for i in 0..5 {
        let realm = if i == 4 { "b" } else { "a" };
        users.push(create(t, realm, &format!("user{i}@{realm}.test"), "ACTIVE", &[]).await);
    }
    for k in 0..28usize {
        if k % 3 != 0 {
            t.clock().advance(Duration::minutes(10));
        }
        // (k mod 5, k mod 6) are distinct for k < 30: each grant is new.
        add_roles(t, users[k % 5], &[APP_ROLES[k % 6]]).await;
    }
    clock_to(t, START);
    users
}

async fn changelog_walks_forward_and_backward(t: TestServer) {
    many_changes(&t).await;
    let query = changelog_query(true);
    let admin = t.admin_secret().to_owned();
    let all = changes(&t, json!({})).await;
    assert_eq!(all.len(), 33);
    assert_dates_ascend(&all);

    let mut cases: Vec<(Value, Vec<Value>)> = Vec::new();
    cases.push((json!({}), all.clone()));
    let mut desc = all.clone();
    desc.reverse();
    cases.push((json!({ "order": { "direction": "DESC" } }), desc));
    // 28 changes: an exact multiple of the page size.
    cases.push((
        json!({ "types": ["APP_ROLE"] }),
        all.iter()
            .filter(|c| types(c).contains("APP_ROLE"))
            .cloned()
            .collect(),
    ));
    cases.push((
        json!({ "f": { "OR": [{ "realm": ["b"] }, { "role": ["APP_ADMIN", "TEAM_USER"] }] } }),
        all.iter()
            .filter(|c| {
                c["realm"] == "b"
                    || c["roles"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r == "APP_ADMIN" || r == "TEAM_USER")
            })
            .cloned()
            .collect(),
    ));
    cases.push((
        json!({ "start": "2025-01-02T00:30:00Z", "end": "2025-01-02T02:30:00Z", "order": { "direction": "DESC" } }),
        {
            let mut v: Vec<Value> = all
                .iter()
                .filter(|c| {
                    let d = datetime(&c["date"]);
                    d >= at("2025-01-02T00:30:00Z") && d < at("2025-01-02T02:30:00Z")
                })
                .cloned()
                .collect();
            v.reverse();
            v
        },
    ));
    for (vars, expected) in &cases {
        assert!(!expected.is_empty(), "{vars}");
        let expected_ids = change_ids(expected);
        assert_eq!(
            change_ids(&changes(&t, vars.clone()).await),
            expected_ids,
            "the whole list for {vars}"
        );
        let forward = walk_forward(
            &t,
            &admin,
            (&query, "userChangelog"),
            vars,
            7,
            expected.len(),
        )
        .await;
        assert_no_duplicates(&forward, "id");
        assert_eq!(
            change_ids(&forward),
            expected_ids,
            "forward walk for {vars}"
        );
        let backward = walk_backward(
            &t,
            &admin,
            (&query, "userChangelog"),
            vars,
            7,
            expected.len(),
        )
        .await;
        assert_no_duplicates(&backward, "id");
        assert_eq!(
            change_ids(&backward),
            expected_ids,
            "backward walk for {vars}"
        );
    }

    // Turning around mid-walk: back from the third page's start gives the
    // second page, with both flags exact.
    let vars = json!({});
    let p1 = page(&t, &admin, &query, "userChangelog", json!({ "first": 7 })).await;
    let p2 = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        with(
            &vars,
            json!({ "first": 7, "after": p1["pageInfo"]["endCursor"] }),
        ),
    )
    .await;
    let p3 = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        with(
            &vars,
            json!({ "first": 7, "after": p2["pageInfo"]["endCursor"] }),
        ),
    )
    .await;
    assert_eq!(change_ids(&nodes(&p3)), change_ids(&all[14..21]));
    assert_eq!(flags(&p3), (true, true));
    let back = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        json!({ "last": 7, "before": p3["pageInfo"]["startCursor"] }),
    )
    .await;
    assert_eq!(change_ids(&nodes(&back)), change_ids(&nodes(&p2)));
    assert_eq!(flags(&back), (true, true));
    // Between two cursors.
    let between = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        json!({ "first": 100, "after": p1["pageInfo"]["endCursor"], "before": p3["pageInfo"]["startCursor"] }),
    )
    .await;
    assert_eq!(change_ids(&nodes(&between)), change_ids(&all[7..14]));
    assert_eq!(flags(&between), (true, true));
    // From the last change on: nothing, with a previous page.
    let end = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        json!({ "first": 7, "after": all_cursor(&t, 32).await }),
    )
    .await;
    assert!(nodes(&end).is_empty());
    assert_eq!(flags(&end), (true, false));
    // `first: 0` is an empty page that still knows more follow.
    let zero = page(&t, &admin, &query, "userChangelog", json!({ "first": 0 })).await;
    assert!(nodes(&zero).is_empty());
    assert_eq!(flags(&zero), (false, true));
    assert_eq!(zero["totalCount"], 33);
}

/// The cursor of the i-th change of the whole changelog (ascending).
async fn all_cursor(t: &TestServer, i: usize) -> String {
    let data = t
        .admin_ok(
            "{ userChangelog(first: 1000) { edges { cursor } } }",
            json!({}),
        )
        .await;
    data["userChangelog"]["edges"][i]["cursor"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn changelog_cursor_survives_new_changes(t: TestServer) {
    let users = many_changes(&t).await;
    let query = changelog_query(true);
    let admin = t.admin_secret().to_owned();
    let original = changes(&t, json!({})).await;

    // Forward: take a cursor in the middle ...
    let first = page(&t, &admin, &query, "userChangelog", json!({ "first": 12 })).await;
    let seen = nodes(&first);
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let cursor_date = datetime(&seen[11]["date"]);

    // ... write more: later changes, a change at exactly the cursor's date
    // (a new user: a larger id, so after the cursor), and one before it.
    clock_to(&t, "2025-01-10T00:00:00Z");
    set_status(&t, users[0], "DORMANT").await;
    set_status(&t, users[4], "SUSPENDED").await;
    t.clock().set(cursor_date);
    let tie = create(&t, "a", "tie@a.test", "ACTIVE", &["TEAM_USER"]).await;
    clock_to(&t, "2025-01-01T00:00:00Z");
    let early = create(&t, "b", "early@b.test", "ACTIVE", &[]).await;
    clock_to(&t, START);
    set_roles(&t, users[1], &[]).await;

    let now = changes(&t, json!({})).await;
    assert_eq!(now.len(), original.len() + 5);
    let position = now
        .iter()
        .position(|c| c["id"] == seen[11]["id"])
        .expect("the cursor's change is still there");
    let continuation = walk_forward_from(&t, &admin, &query, json!({}), &cursor, 5).await;
    assert_no_duplicates(&continuation, "id");
    let seen_ids: BTreeSet<String> = change_ids(&seen).into_iter().collect();
    assert!(
        continuation
            .iter()
            .all(|c| !seen_ids.contains(c["id"].as_str().unwrap())),
        "no change of the first page comes again"
    );
    assert_eq!(
        change_ids(&continuation),
        change_ids(&now[position + 1..]),
        "every change after the cursor, old and new, in order"
    );
    assert!(
        continuation.iter().any(|c| c["userId"] == tie),
        "the tie follows the cursor"
    );
    assert!(
        continuation.iter().all(|c| c["userId"] != early),
        "the earlier one precedes it"
    );
    assert_eq!(
        change_ids(&now[..=position])
            .into_iter()
            .filter(|id| !seen_ids.contains(id))
            .collect::<Vec<_>>(),
        change_ids(&now[..1]),
        "the only change before the cursor not seen is the one written before it"
    );
    assert_eq!(now[0]["userId"], early);

    // Backward: take a cursor from the end, write, continue backward.
    let last = page(&t, &admin, &query, "userChangelog", json!({ "last": 10 })).await;
    let tail = nodes(&last);
    let before = last["pageInfo"]["startCursor"].as_str().unwrap().to_owned();
    clock_to(&t, "2024-12-31T00:00:00Z");
    let earliest = create(&t, "a", "earliest@a.test", "DORMANT", &[]).await;
    clock_to(&t, "2025-01-20T00:00:00Z");
    set_status(&t, users[2], "SUSPENDED").await;
    clock_to(&t, START);
    let latest = changes(&t, json!({})).await;
    let position = latest
        .iter()
        .position(|c| c["id"] == tail[0]["id"])
        .unwrap();
    let mut backward = Vec::new();
    let mut cursor = before;
    loop {
        let page = page(
            &t,
            &admin,
            &query,
            "userChangelog",
            json!({ "last": 5, "before": cursor }),
        )
        .await;
        let mut nodes = nodes(&page);
        nodes.extend(backward);
        backward = nodes;
        assert!(flags(&page).1, "exact hasNextPage walking back: {page}");
        if !flags(&page).0 {
            break;
        }
        cursor = page["pageInfo"]["startCursor"].as_str().unwrap().to_owned();
    }
    assert_no_duplicates(&backward, "id");
    assert_eq!(change_ids(&backward), change_ids(&latest[..position]));
    assert_eq!(backward[0]["userId"], earliest);
    let tail_ids: BTreeSet<String> = change_ids(&tail).into_iter().collect();
    assert!(
        backward
            .iter()
            .all(|c| !tail_ids.contains(c["id"].as_str().unwrap()))
    );

    // DESC cursors survive too.
    let desc = json!({ "order": { "direction": "DESC" } });
    let first = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        with(&desc, json!({ "first": 6 })),
    )
    .await;
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let head: BTreeSet<String> = change_ids(&nodes(&first)).into_iter().collect();
    clock_to(&t, "2025-01-25T00:00:00Z");
    set_status(&t, users[3], "SUSPENDED").await; // newest: before the cursor in DESC
    clock_to(&t, "2024-12-01T00:00:00Z");
    create(&t, "a", "oldest@a.test", "ACTIVE", &[]).await; // oldest: last in DESC
    clock_to(&t, START);
    let all_desc = changes(&t, desc.clone()).await;
    let position = all_desc
        .iter()
        .position(|c| c["id"] == nodes(&first)[5]["id"])
        .unwrap();
    let rest = walk_forward_from(&t, &admin, &query, desc.clone(), &cursor, 7).await;
    assert_no_duplicates(&rest, "id");
    assert!(
        rest.iter()
            .all(|c| !head.contains(c["id"].as_str().unwrap()))
    );
    assert_eq!(change_ids(&rest), change_ids(&all_desc[position + 1..]));
}

/// Walks forward from `cursor` to the end; checks hasPreviousPage is set on
/// every page (there is always the cursor's change before).
async fn walk_forward_from(
    t: &TestServer,
    secret: &str,
    query: &str,
    vars: Value,
    cursor: &str,
    size: usize,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = cursor.to_owned();
    for _ in 0..100 {
        let page = page(
            t,
            secret,
            query,
            "userChangelog",
            with(&vars, json!({ "first": size, "after": after })),
        )
        .await;
        assert!(
            flags(&page).0,
            "there are changes before the cursor: {page}"
        );
        out.extend(nodes(&page));
        if !flags(&page).1 {
            return out;
        }
        after = page["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    }
    panic!("the walk did not end");
}

async fn changelog_total_count_only_when_selected(t: TestServer) {
    many_changes(&t).await;
    let admin = t.admin_secret().to_owned();
    for (vars, total) in [
        (json!({}), 33),
        (json!({ "types": ["APP_ROLE"] }), 28),
        (json!({ "types": ["CREATED"] }), 5),
        (json!({ "f": { "realm": ["b"] } }), 1 + 5),
        (json!({ "end": "2025-01-02T00:00:00.000001Z" }), 5 + 1),
        (json!({ "start": "2030-01-01T00:00:00Z" }), 0),
    ] {
        let with_total = page(
            &t,
            &admin,
            &changelog_query(true),
            "userChangelog",
            with(&vars, json!({ "first": 3 })),
        )
        .await;
        assert_eq!(with_total["totalCount"], total, "{vars}");
        let without = page(
            &t,
            &admin,
            &changelog_query(false),
            "userChangelog",
            with(&vars, json!({ "first": 3 })),
        )
        .await;
        assert!(without.get("totalCount").is_none(), "{without}");
        assert_eq!(without["edges"], with_total["edges"], "{vars}");
        assert_eq!(without["pageInfo"], with_total["pageInfo"], "{vars}");
        // A page deep in the list reports the same total.
        if total > 6 {
            let deep = page(
                &t,
                &admin,
                &changelog_query(true),
                "userChangelog",
                with(
                    &vars,
                    json!({ "first": 3, "after": with_total["pageInfo"]["endCursor"] }),
                ),
            )
            .await;
            assert_eq!(deep["totalCount"], total, "{vars}");
        }
    }
    // Only totalCount, no edges.
    let data = t
        .admin_ok(
            "{ userChangelog(changeTypes: [APP_ROLE]) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["userChangelog"]["totalCount"], 28);
    // No totalCount: a page on its own, and the default page size is 50.
    let data = t
        .admin_ok(
            "{ userChangelog { edges { node { id } } pageInfo { hasNextPage hasPreviousPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(nodes(&data["userChangelog"]).len(), 33);
    assert_eq!(flags(&data["userChangelog"]), (false, false));
}

async fn changelog_rejects_bad_input_naming_the_argument(t: TestServer) {
    let FilterWorld { .. } = filter_world(&t).await;
    let query = changelog_query(true);
    let before = t.snapshot().await;
    let snapshot_cursor = t
        .admin_ok(
            "{ userSnapshots(first: 1) { edges { cursor } } }",
            json!({}),
        )
        .await["userSnapshots"]["edges"][0]["cursor"]
        .clone();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "start": "2025-01-05T00:00:00Z", "end": "2025-01-04T00:00:00Z" }),
            "startDate",
        ),
        (
            json!({ "start": "2025-01-04T00:00:00.000001Z", "end": "2025-01-04T00:00:00Z" }),
            "startDate",
        ),
        (json!({ "after": "not-a-cursor" }), "after"),
        (json!({ "after": "" }), "after"),
        (json!({ "after": "eyJub3QiOiJhIGN1cnNvciJ9" }), "after"),
        (json!({ "after": snapshot_cursor }), "after"),
        (json!({ "before": "%%%" }), "before"),
        (json!({ "f": { "realm": ["nope"] } }), "filter.realm"),
        (json!({ "f": { "role": ["NOPE"] } }), "filter.role"),
        (
            json!({ "f": { "realm": ["a"], "role": ["APP_ADMIN", "SUPERUSER"] } }),
            "filter.role",
        ),
        (json!({ "first": 1001 }), "first"),
        (json!({ "last": -1 }), "last"),
    ];
    for (vars, field) in cases {
        let response = t.admin(&query, vars.clone()).await;
        assert_bad_input(&response, field);
        assert_no_data(&response, "userChangelog");
    }
    // Unknown names nested in AND/OR name the filter too.
    for filter in [
        json!({ "OR": [{ "realm": ["a"] }, { "realm": ["nope"] }] }),
        json!({ "AND": [{ "OR": [{ "role": ["NOPE"] }] }] }),
    ] {
        let response = t.admin(&query, json!({ "f": filter })).await;
        assert_code(&response, "BAD_USER_INPUT");
        let field = errors(&response)[0]["extensions"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            field.starts_with("filter"),
            "names the filter: {field:?} for {filter}"
        );
        assert_no_data(&response, "userChangelog");
    }
    let malformed = [
        ("startDate", "yesterday"),
        ("endDate", "2025-13-01"),
        ("startDate", "2025-01-02 25:00"),
        ("endDate", ""),
    ];
    // Malformed dates written into the query (as variables: at the end).
    for (argument, value) in malformed {
        let inline = t
            .admin(
                &format!("{{ userChangelog({argument}: \"{value}\") {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_bad_input(&inline, argument);
        assert_no_data(&inline, "userChangelog");
    }
    // A malformed cursor written into the query.
    let inline = t
        .admin(
            "{ userChangelog(after: \"garbage\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_bad_input(&inline, "after");
    // An unknown change type is bad input too.
    let response = t.admin(&query, json!({ "types": ["RENAMED"] })).await;
    assert_code(&response, "BAD_USER_INPUT");
    assert_no_data(&response, "userChangelog");
    // Reading is all that happened.
    let after = t.snapshot().await;
    assert_unchanged(&before, &after, "bad changelog queries");

    // Malformed dates passed as variables, as clients do (checked last, so
    // that a failure here does not hide the checks above).
    for (argument, value) in malformed {
        let variable = if argument == "startDate" {
            "start"
        } else {
            "end"
        };
        let mut vars = json!({});
        vars[variable] = json!(value);
        let response = t.admin(&query, vars).await;
        assert_bad_input(&response, argument);
        assert_no_data(&response, "userChangelog");
    }
}

async fn changelog_needs_scope_and_respects_realms(t: TestServer) {
    let FilterWorld { u1, u3, u4, .. } = filter_world(&t).await;
    let query = changelog_query(true);
    let all = changes(&t, json!({})).await;
    let in_a: Vec<Value> = all.iter().filter(|c| c["realm"] == "a").cloned().collect();
    let in_b: Vec<Value> = all.iter().filter(|c| c["realm"] == "b").cloned().collect();
    assert!(!in_a.is_empty() && !in_b.is_empty());

    // Without CHANGELOG_READ: FORBIDDEN, nothing returned.
    for scopes in [
        &["USERS_READ"][..],
        &["USERS_READ", "USERS_WRITE", "AUDIT_READ"][..],
    ] {
        let token = t.token(scopes, None).await;
        let response = t.gql(&token, &query, json!({})).await;
        assert_code(&response, "FORBIDDEN");
        assert_no_data(&response, "userChangelog");
    }

    // Bound to realm a: only a's changes, whatever the filter asks.
    let bound = t.token(&["CHANGELOG_READ"], Some(&["a"])).await;
    assert_eq!(
        change_ids(&changes_as(&t, &bound, json!({})).await),
        change_ids(&in_a)
    );
    let walked = walk_forward(
        &t,
        &bound,
        (&query, "userChangelog"),
        &json!({}),
        3,
        in_a.len(),
    )
    .await;
    assert_eq!(change_ids(&walked), change_ids(&in_a));
    let walked = walk_backward(
        &t,
        &bound,
        (&query, "userChangelog"),
        &json!({ "order": { "direction": "DESC" } }),
        4,
        in_a.len(),
    )
    .await;
    let mut reversed = change_ids(&in_a);
    reversed.reverse();
    assert_eq!(change_ids(&walked), reversed);
    for filter in [
        json!({ "userId": [u3, u4] }),
        json!({ "userEmail": ["cid.new@b.test", "dan@b.test"] }),
        json!({ "OR": [{ "realm": ["a"] }, { "role": ["APP_ADMIN"] }] }),
        json!({ "OR": [{ "userId": [u1] }, { "status": ["SUSPENDED"] }] }),
    ] {
        let found = changes_as(&t, &bound, json!({ "f": filter })).await;
        assert!(
            found.iter().all(|c| c["realm"] == "a"),
            "filter {filter} leaked another realm: {found:?}"
        );
        let expected: Vec<Value> = in_a
            .iter()
            .filter(|c| matches(c, &filter, &current_emails(&all)))
            .cloned()
            .collect();
        assert_eq!(change_ids(&found), change_ids(&expected), "filter {filter}");
    }
    // Asking for realm b outright is FORBIDDEN, never empty.
    for filter in [
        json!({ "realm": ["b"] }),
        json!({ "realm": ["a", "b"] }),
        json!({ "OR": [{ "realm": ["a"] }, { "realm": ["b"] }] }),
    ] {
        let response = t.gql(&bound, &query, json!({ "f": filter })).await;
        assert_code(&response, "FORBIDDEN");
        assert_no_data(&response, "userChangelog");
    }
    // A cursor taken by the admin on a b change shows nothing of b either.
    let b_position = all.iter().position(|c| c["realm"] == "b").unwrap();
    let cursor = all_cursor(&t, b_position).await;
    let page = page(
        &t,
        &bound,
        &query,
        "userChangelog",
        json!({ "first": 100, "after": cursor }),
    )
    .await;
    assert!(nodes(&page).iter().all(|c| c["realm"] == "a"), "{page}");
    // Nor does a b change's global id.
    let response = t
        .gql(
            &bound,
            "query($id: ID!) { node(id: $id) { id ... on UserChange { userId realm } } }",
            json!({ "id": in_b[0]["id"] }),
        )
        .await;
    let leaked = response
        .get("data")
        .and_then(|d| d.get("node"))
        .cloned()
        .unwrap_or(Value::Null);
    assert!(leaked.is_null(), "a b change through node(): {response}");
    // totalCount counts only what the token may see.
    let data = t
        .gql_ok(
            &bound,
            "{ userChangelog(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["userChangelog"]["totalCount"], in_a.len());
}
