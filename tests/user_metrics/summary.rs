//! `userSummary`: counts on past dates, in time zones, per realm; exact when
//! history is written for past dates.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

backend_tests!(
    summary_counts_history_on_past_dates,
    summary_lists_every_app_role,
    summary_end_of_day_follows_the_time_zone,
    summary_defaults_to_today_as_of_now,
    summary_respects_realms_and_tokens,
    summary_rejects_bad_dates_and_zones,
    summary_stays_exact_when_history_is_written_for_past_dates,
);

// ───────────────────────── userSummary ─────────────────────────

const SUMMARY: &str = "query($date: Date, $tz: String, $realm: String) {
  userSummary(date: $date, timeZone: $tz, realm: $realm) {
    date realm
    users { enabled disabled active dormant suspended total }
    appRoles { role count }
  }
}";

type Counts = SummaryCounts;

/// Expected counts: users by status and the app roles held (every other
/// app role of the catalog 0).
fn counts(active: i64, dormant: i64, suspended: i64, roles: &[(&str, i64)]) -> Counts {
    let mut all = Counts::zero().roles;
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
    parse_summary(summary).unwrap_or_else(|err| panic!("{err}"))
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
