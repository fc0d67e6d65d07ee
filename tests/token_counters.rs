//! Token counters, mirroring LinOTP's reporting tests: the rows each event
//! records, TOTAL_USERS, the period table, maximum, paging, deletions, and
//! access per action (with regression tests for LinOTP's own defects).

#[macro_use]
mod common;
mod token_support;

use chrono::Duration;
use common::*;
use serde_json::{Value, json};
use token_support::*;

backend_tests!(
    each_event_records_its_realms_policy_statuses,
    total_users_counts_people_not_tokens,
    policies_fall_back_to_the_default_or_record_nothing,
    the_period_is_half_open_and_carries_the_last_value_in,
    the_maximum_stays_historical,
    counters_page_in_every_order,
    deletions_follow_linotp,
    every_action_has_its_scope_and_realms,
    concurrent_events_lose_no_update,
);

const SHOW: &str = "query($r: [String!], $s: [TokenStatus!], $o: TokenCounterOrder, $first: Int, $after: String, $last: Int, $before: String) {
  tokenCounters(realms: $r, status: $s, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
    edges { cursor node { id date event realm status count } } } }";
const PERIOD: &str = "query($from: Date, $to: Date, $r: [String!], $s: [TokenStatus!]) {
  tokenCountsInPeriod(from: $from, to: $to, realms: $r, status: $s) { from to realms { realm counts { status count } } } }";
const MAXIMUM: &str = "query($r: [String!], $s: [TokenStatus!]) {
  tokenCountMaximum(realms: $r, status: $s) { realm counts { status count } } }";
const CURRENT: &str = "query($r: [String!], $s: [TokenStatus!]) {
  currentTokenCounts(realms: $r, status: $s) { realm counts { status count } } }";
const DELETE_ALL: &str = "mutation($r: [String!], $s: [TokenStatus!], $all: Boolean) {
  deleteAllTokenCounters(realms: $r, status: $s, allStatuses: $all) { deletedCount } }";
const DELETE_BEFORE: &str = "mutation($d: Date!, $r: [String!], $s: [TokenStatus!], $all: Boolean) {
  deleteTokenCountersBefore(date: $d, realms: $r, status: $s, allStatuses: $all) { deletedCount } }";

/// One event's expected rows: (event, realm, [(status, count)]).
type Recorded<'a> = (&'a str, &'a str, &'a [(&'a str, i64)]);

fn rows_of(events: &[Recorded<'_>]) -> Vec<Row> {
    events
        .iter()
        .flat_map(|(event, realm, counts)| {
            counts
                .iter()
                .map(move |(status, count)| row(event, realm, status, *count))
        })
        .collect()
}

async fn each_event_records_its_realms_policy_statuses(t: TestServer) {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    let ada = t.create_user("alpha", "ada@alpha.test", &[]).await;
    set_policy(
        &t,
        "alpha",
        &["TOTAL", "ACTIVE", "ACTIVE_ASSIGNED", "TOTAL_USERS"],
    )
    .await;
    set_policy(&t, "*", &["TOTAL"]).await;
    let s = json!({ "serial": "T1" });
    enroll(&t, "T1", Some("alpha"), None).await;
    admin_op(&t, "assignToken", json!({ "serial": "T1", "userId": ada })).await;
    admin_op(&t, "disableToken", s.clone()).await;
    admin_op(&t, "enableToken", s.clone()).await;
    admin_op(&t, "unassignToken", s.clone()).await;
    admin_op(
        &t,
        "setTokenRealm",
        json!({ "serial": "T1", "realm": "beta" }),
    )
    .await;
    admin_op(
        &t,
        "setTokenRealm",
        json!({ "serial": "T1", "realm": null }),
    )
    .await;
    admin_op(&t, "removeToken", s.clone()).await;
    let alpha = |t: i64, a: i64, aa: i64, u: i64| {
        vec![
            ("TOTAL", t),
            ("ACTIVE", a),
            ("ACTIVE_ASSIGNED", aa),
            ("TOTAL_USERS", u),
        ]
    };
    let (a1, a2, a3, a4, a5, a6) = (
        alpha(1, 1, 0, 0),
        alpha(1, 1, 1, 1),
        alpha(1, 0, 0, 0),
        alpha(1, 1, 1, 1),
        alpha(1, 1, 0, 0),
        alpha(0, 0, 0, 0),
    );
    let expected = rows_of(&[
        ("token_init", "alpha", &a1),
        ("token_assign", "alpha", &a2),
        ("token_disable", "alpha", &a3),
        ("token_enable", "alpha", &a4),
        ("token_unassign", "alpha", &a5),
        // A move records both realms, in name order.
        ("token_tokenrealm", "alpha", &a6),
        ("token_tokenrealm", "beta", &[("TOTAL", 1)]),
        ("token_tokenrealm", "/:no realm:/", &[("TOTAL", 1)]),
        ("token_tokenrealm", "beta", &[("TOTAL", 0)]),
        ("token_remove", "/:no realm:/", &[("TOTAL", 0)]),
    ]);
    let mut got = counter_rows(&t).await;
    // Rows of one event are written together; compare them as sets.
    let key = |r: &Row| (r.0.clone(), r.1.clone());
    got.sort_by_key(|r| (0, key(r)));
    let mut want = expected.clone();
    want.sort_by_key(|r| (0, key(r)));
    assert_eq!(got, want);

    // Over GraphQL, every row with its date, oldest first.
    let shown = t.admin_ok(SHOW, json!({ "first": 100 })).await;
    assert_eq!(shown["tokenCounters"]["totalCount"], expected.len());
    for node in nodes(&shown["tokenCounters"]) {
        assert_eq!(datetime(&node["date"]), start_time());
    }
    let node = &nodes(&shown["tokenCounters"])[0];
    let by_id = t
        .admin_ok(
            "query($id: ID!) { node(id: $id) { __typename ... on TokenCounter { event count } } }",
            json!({ "id": node["id"] }),
        )
        .await;
    assert_eq!(by_id["node"]["__typename"], "TokenCounter");
    assert_eq!(by_id["node"]["event"], node["event"]);
}

async fn total_users_counts_people_not_tokens(t: TestServer) {
    t.create_realm("alpha").await;
    let ada = t.create_user("alpha", "ada@alpha.test", &[]).await;
    let bo = t.create_user("alpha", "bo@alpha.test", &[]).await;
    set_policy(&t, "alpha", &["TOTAL_USERS", "ACTIVE_ASSIGNED"]).await;
    enroll(&t, "T1", Some("alpha"), Some(ada)).await;
    enroll(&t, "T2", Some("alpha"), Some(ada)).await;
    enroll(&t, "T3", Some("alpha"), Some(bo)).await;
    admin_op(&t, "disableToken", json!({ "serial": "T1" })).await;
    admin_op(&t, "disableToken", json!({ "serial": "T2" })).await;
    let users: Vec<i64> = counter_rows(&t)
        .await
        .into_iter()
        .filter(|r| r.2 == "TOTAL_USERS")
        .map(|r| r.3)
        .collect();
    // Ada's second token leaves her counted once; her last active one goes.
    assert_eq!(users, vec![1, 1, 2, 2, 1]);
    let current = t
        .admin_ok(
            CURRENT,
            json!({ "r": ["alpha"], "s": ["TOTAL_USERS", "TOTAL", "INACTIVE"] }),
        )
        .await;
    assert_eq!(
        counts(&current["currentTokenCounts"]),
        vec![
            triple("alpha", "TOTAL", Some(3)),
            triple("alpha", "INACTIVE", Some(2)),
            triple("alpha", "TOTAL_USERS", Some(1)),
        ]
    );
}

async fn policies_fall_back_to_the_default_or_record_nothing(t: TestServer) {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    let policy = "query($r: String!) { reportingPolicy(realm: $r) }";
    // Neither its own nor a default: nothing recorded.
    enroll(&t, "T1", Some("alpha"), None).await;
    assert_eq!(counter_count(&t).await, 0);
    assert_eq!(
        t.admin_ok(policy, json!({ "r": "alpha" })).await["reportingPolicy"],
        json!([])
    );
    set_policy(&t, "*", &["ACTIVE", "TOTAL", "TOTAL"]).await;
    set_policy(&t, "beta", &["INACTIVE"]).await;
    assert_eq!(
        t.admin_ok(policy, json!({ "r": "ALPHA" })).await["reportingPolicy"],
        json!(["TOTAL", "ACTIVE"])
    );
    enroll(&t, "T2", Some("alpha"), None).await;
    enroll(&t, "T3", Some("beta"), None).await;
    assert_eq!(
        counter_rows(&t).await,
        vec![
            row("token_init", "alpha", "TOTAL", 2),
            row("token_init", "alpha", "ACTIVE", 2),
            row("token_init", "beta", "INACTIVE", 0),
        ]
    );
    // An empty list drops the realm's own policy: the default applies again.
    let set = t
        .admin_ok(
            "mutation { setReportingPolicy(realm: \"beta\", statuses: []) }",
            json!({}),
        )
        .await;
    assert_eq!(set["setReportingPolicy"], json!(["TOTAL", "ACTIVE"]));
    let mark = t.last_audit_id().await;
    set_policy(&t, "beta", &[]).await;
    assert_eq!(
        t.last_audit_id().await,
        mark,
        "an unchanged policy wrote an event"
    );
    let response = t.admin(policy, json!({ "r": "nosuch" })).await;
    assert_bad_input(&response, "realm");
}

async fn the_period_is_half_open_and_carries_the_last_value_in(t: TestServer) {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    set_policy(&t, "alpha", &["TOTAL", "ACTIVE"]).await;
    // 2019-08-04: a first token; then 2020-02-20, -22, -24 (one removed), -26.
    let at = |s: &str| t.clock().set(common::at(s));
    at("2019-08-04T00:00:01Z");
    enroll(&t, "T0", Some("alpha"), None).await;
    at("2020-02-20T00:00:01Z");
    enroll(&t, "T1", Some("alpha"), None).await;
    at("2020-02-22T00:00:01Z");
    enroll(&t, "T2", Some("alpha"), None).await;
    at("2020-02-24T00:00:01Z");
    admin_op(&t, "removeToken", json!({ "serial": "T1" })).await;
    admin_op(&t, "removeToken", json!({ "serial": "T0" })).await;
    at("2020-02-26T00:00:01Z");
    enroll(&t, "T3", Some("alpha"), None).await;
    enroll(&t, "T4", Some("alpha"), None).await;
    at("2020-03-01T12:00:00Z");

    let period = |from: Option<&str>, to: Option<&str>| {
        let t = t.clone();
        let vars = json!({ "from": from, "to": to, "r": ["alpha", "beta"], "s": ["TOTAL"] });
        async move { t.admin_ok(PERIOD, vars).await["tokenCountsInPeriod"].clone() }
    };
    let totals = |report: &Value| -> (Option<i64>, Option<i64>) {
        let c = counts(&report["realms"]);
        (c[0].2, c[1].2)
    };
    // No data before the first row: null, not 0 or -1; every realm listed.
    let report = period(Some("1970-03-01"), Some("2019-08-04")).await;
    assert_eq!(totals(&report), (None, None));
    assert_eq!(report["from"], "1970-03-01T00:00:00Z");
    assert_eq!(report["to"], "2019-08-04T00:00:00Z");
    // No bounds: everything up to now.
    let report = period(None, None).await;
    assert_eq!(totals(&report), (Some(3), None));
    assert_eq!(datetime(&report["to"]), t.now());
    // `from` only.
    assert_eq!(
        totals(&period(Some("2020-02-25"), None).await),
        (Some(3), None)
    );
    // `to` is exclusive: the 2020-02-22 row is not in [02-20, 02-22).
    assert_eq!(
        totals(&period(Some("2020-02-20"), Some("2020-02-22")).await),
        (Some(2), None)
    );
    // A two-day window with one row.
    assert_eq!(
        totals(&period(Some("2020-02-22"), Some("2020-02-24")).await),
        (Some(3), None)
    );
    // Carried in: [02-25, 02-26) holds no row; the count in effect is the
    // last one before it (after the removals on 02-24: 1).
    assert_eq!(
        totals(&period(Some("2020-02-25"), Some("2020-02-26")).await),
        (Some(1), None)
    );
    // The carried-in value counts even when the rows inside are lower.
    assert_eq!(
        totals(&period(Some("2020-02-23"), Some("2020-02-25")).await),
        (Some(3), None)
    );

    // Defaults: TOTAL only, every realm the caller sees (no realm included).
    let all = t.admin_ok(PERIOD, json!({})).await;
    assert_eq!(
        counts(&all["tokenCountsInPeriod"]["realms"]),
        vec![
            triple("/:no realm:/", "TOTAL", None),
            triple("alpha", "TOTAL", Some(3)),
            triple("beta", "TOTAL", None),
        ]
    );
    let response = t
        .admin(PERIOD, json!({ "from": "2020-02-22", "to": "2020-02-22" }))
        .await;
    assert_bad_input(&response, "to");
}

async fn the_maximum_stays_historical(t: TestServer) {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    set_policy(&t, "alpha", &["TOTAL", "INACTIVE"]).await;
    for serial in ["T1", "T2", "T3"] {
        enroll(&t, serial, Some("alpha"), None).await;
        t.clock().advance(Duration::minutes(1));
    }
    for serial in ["T1", "T2", "T3"] {
        admin_op(&t, "removeToken", json!({ "serial": serial })).await;
    }
    let maximum = t
        .admin_ok(
            MAXIMUM,
            json!({ "r": ["alpha", "beta"], "s": ["TOTAL", "INACTIVE", "ACTIVE"] }),
        )
        .await;
    // Statuses come in the enum's order, whatever order they were asked in.
    assert_eq!(
        counts(&maximum["tokenCountMaximum"]),
        vec![
            triple("alpha", "TOTAL", Some(3)),
            triple("alpha", "ACTIVE", None),
            triple("alpha", "INACTIVE", Some(0)),
            triple("beta", "TOTAL", None),
            triple("beta", "ACTIVE", None),
            triple("beta", "INACTIVE", None),
        ]
    );
    let current = t
        .admin_ok(CURRENT, json!({ "r": ["alpha"], "s": ["TOTAL"] }))
        .await;
    assert_eq!(
        counts(&current["currentTokenCounts"]),
        vec![triple("alpha", "TOTAL", Some(0))]
    );
}

async fn counters_page_in_every_order(t: TestServer) {
    t.create_realm("alpha").await;
    set_policy(&t, "alpha", &["TOTAL"]).await;
    for i in 1..=50 {
        enroll(&t, &format!("T{i:02}"), Some("alpha"), None).await;
        t.clock().advance(Duration::seconds(1));
    }
    // Page 3 of size 12 over 50 rows.
    let mut after: Option<String> = None;
    let mut page = Value::Null;
    for _ in 0..3 {
        page = t
            .admin_ok(SHOW, json!({ "first": 12, "after": after }))
            .await["tokenCounters"]
            .clone();
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(ints(&page, "count"), (25..=36).collect::<Vec<_>>());
    assert_eq!(page["totalCount"], 50);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true);
    // And back: the 12 before page 3's first row are page 2.
    let back = t
        .admin_ok(
            SHOW,
            json!({ "last": 12, "before": page["pageInfo"]["startCursor"] }),
        )
        .await;
    assert_eq!(
        ints(&back["tokenCounters"], "count"),
        (13..=24).collect::<Vec<_>>()
    );

    // Every order field, both ways: a full walk in pages of 7 is sorted.
    for field in ["DATE", "EVENT", "REALM", "STATUS", "COUNT"] {
        for direction in ["ASC", "DESC"] {
            let order = json!({ "field": field, "direction": direction });
            let seen = walk(&t, json!({ "o": order })).await;
            assert_eq!(seen.len(), 50, "{field} {direction}");
            let mut sorted: Vec<i64> = (1..=50).collect();
            if direction == "DESC" && matches!(field, "DATE" | "COUNT") {
                sorted.reverse();
            }
            if matches!(field, "DATE" | "COUNT") {
                assert_eq!(seen, sorted, "{field} {direction}");
            } else {
                // Ties on the field: id order, which follows the count.
                if direction == "DESC" {
                    sorted.reverse();
                }
                assert_eq!(seen, sorted, "{field} {direction}");
            }
        }
    }
    // One realm by date, and one realm and status: MySQL is told which
    // index to walk (FORCE INDEX); the same rows, both ways.
    for filter in [
        json!({ "r": ["alpha"] }),
        json!({ "r": ["alpha"], "s": ["TOTAL"] }),
    ] {
        for direction in ["ASC", "DESC"] {
            let mut vars = filter.clone();
            vars["o"] = json!({ "field": "DATE", "direction": direction });
            let mut expected: Vec<i64> = (1..=50).collect();
            if direction == "DESC" {
                expected.reverse();
            }
            assert_eq!(
                walk(&t, vars.clone()).await,
                expected,
                "{filter} {direction}"
            );
            vars["first"] = json!(30);
            let page = t.admin_ok(SHOW, vars.clone()).await["tokenCounters"].clone();
            vars["first"] = Value::Null;
            vars["last"] = json!(12);
            vars["before"] = page["pageInfo"]["endCursor"].clone();
            let back = t.admin_ok(SHOW, vars).await["tokenCounters"].clone();
            assert_eq!(
                ints(&back, "count"),
                expected[17..29],
                "{filter} {direction}"
            );
            assert_eq!(back["pageInfo"]["hasNextPage"], true);
            assert_eq!(back["pageInfo"]["hasPreviousPage"], true);
        }
    }
    // A cursor of one order is refused by another.
    let date_cursor = after_of(&t, json!({ "field": "DATE" })).await;
    let response = t
        .admin(
            SHOW,
            json!({ "o": { "field": "COUNT" }, "after": date_cursor }),
        )
        .await;
    assert_bad_input(&response, "after");
    let since = t
        .admin_ok(
            "query($s: DateTime) { tokenCounters(since: $s) { totalCount } }",
            json!({ "s": (start_time() + Duration::seconds(40)).to_rfc3339() }),
        )
        .await;
    assert_eq!(since["tokenCounters"]["totalCount"], 10);
}

/// Every count of a full walk in pages of 7, with `vars` (order, filters).
async fn walk(t: &TestServer, mut vars: Value) -> Vec<i64> {
    vars["first"] = json!(7);
    let mut seen = Vec::new();
    loop {
        let page = t.admin_ok(SHOW, vars.clone()).await["tokenCounters"].clone();
        seen.extend(ints(&page, "count"));
        if page["pageInfo"]["hasNextPage"] != true {
            return seen;
        }
        vars["after"] = page["pageInfo"]["endCursor"].clone();
    }
}

async fn after_of(t: &TestServer, order: Value) -> String {
    let page = t.admin_ok(SHOW, json!({ "o": order, "first": 1 })).await;
    page["tokenCounters"]["pageInfo"]["endCursor"]
        .as_str()
        .expect("a cursor")
        .to_owned()
}

async fn deletions_follow_linotp(t: TestServer) {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    set_policy(&t, "*", &["TOTAL", "ACTIVE", "INACTIVE"]).await;
    t.clock().set(at("2024-03-01T10:00:00Z"));
    enroll(&t, "A1", Some("alpha"), None).await;
    enroll(&t, "B1", Some("beta"), None).await;
    t.clock().set(at("2024-03-03T10:00:00Z"));
    enroll(&t, "A2", Some("alpha"), None).await;
    enroll(&t, "B2", Some("beta"), None).await;
    assert_eq!(counter_count(&t).await, 12);
    let deleted = |v: Value, key: &str| v[key]["deletedCount"].as_i64().unwrap();

    // Before a day, status omitted: TOTAL rows only (as LinOTP).
    let mark = t.last_audit_id().await;
    let v = t
        .admin_ok(DELETE_BEFORE, json!({ "d": "2024-03-02" }))
        .await;
    assert_eq!(deleted(v, "deleteTokenCountersBefore"), 2);
    let events = t.audit_events_since(mark).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "token_counters.deleted_before");
    // allStatuses expands to every status (LinOTP's delete_before did not).
    let v = t
        .admin_ok(
            DELETE_BEFORE,
            json!({ "d": "2024-03-02", "r": ["alpha"], "all": true }),
        )
        .await;
    assert_eq!(deleted(v, "deleteTokenCountersBefore"), 2);
    assert_eq!(counter_count(&t).await, 8);
    // All, by status and realm.
    let v = t
        .admin_ok(DELETE_ALL, json!({ "r": ["beta"], "s": ["ACTIVE"] }))
        .await;
    assert_eq!(deleted(v, "deleteAllTokenCounters"), 2);
    let v = t.admin_ok(DELETE_ALL, json!({})).await;
    assert_eq!(deleted(v, "deleteAllTokenCounters"), 2);
    let left: Vec<String> = counter_rows(&t).await.into_iter().map(|r| r.2).collect();
    // beta's first INACTIVE, alpha's second ACTIVE and INACTIVE, beta's second INACTIVE.
    assert_eq!(left, vec!["INACTIVE", "ACTIVE", "INACTIVE", "INACTIVE"]);
    let response = t
        .admin(DELETE_ALL, json!({ "s": ["TOTAL"], "all": true }))
        .await;
    assert_bad_input(&response, "allStatuses");
    let (stored, recomputed) = daily_highs(&t, |_| true).await;
    assert_eq!(stored, recomputed, "daily highs after deletions");
    let v = t.admin_ok(DELETE_ALL, json!({ "all": true })).await;
    assert_eq!(deleted(v, "deleteAllTokenCounters"), 4);
    assert_eq!(daily_highs(&t, |_| true).await.0.len(), 0);
    let events = t.audit_events_since(mark).await;
    assert_eq!(events.len(), 5);
    assert_eq!(events[4].event, "token_counters.deleted_all");
    // The live counts do not depend on the records.
    let current = t.admin_ok(CURRENT, json!({ "s": ["TOTAL"] })).await;
    assert_eq!(
        counts(&current["currentTokenCounts"]),
        vec![
            triple("/:no realm:/", "TOTAL", Some(0)),
            triple("alpha", "TOTAL", Some(2)),
            triple("beta", "TOTAL", Some(2)),
        ]
    );
}

async fn every_action_has_its_scope_and_realms(t: TestServer) {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    set_policy(&t, "*", &["TOTAL"]).await;
    enroll(&t, "A1", Some("alpha"), None).await;
    enroll(&t, "B1", Some("beta"), None).await;
    enroll(&t, "N1", None, None).await;
    let actions: [(&str, &str, &str, Value); 6] = [
        ("COUNTERS_SHOW", "tokenCounters", SHOW, json!({})),
        ("COUNTERS_SHOW", "currentTokenCounts", CURRENT, json!({})),
        ("COUNTERS_PERIOD", "tokenCountsInPeriod", PERIOD, json!({})),
        ("COUNTERS_MAXIMUM", "tokenCountMaximum", MAXIMUM, json!({})),
        (
            "COUNTERS_DELETE_ALL",
            "deleteAllTokenCounters",
            DELETE_ALL,
            json!({ "s": ["ACTIVE"] }),
        ),
        (
            "COUNTERS_DELETE_BEFORE",
            "deleteTokenCountersBefore",
            DELETE_BEFORE,
            json!({ "d": "2000-01-01" }),
        ),
    ];
    let rows = counter_rows(&t).await;
    for (scope, field, query, vars) in &actions {
        // Every other counter scope is refused; its own is enough.
        let others: Vec<&str> = actions.iter().map(|a| a.0).filter(|s| s != scope).collect();
        let wrong = t.token(&others, None).await;
        let response = t.gql(&wrong, query, vars.clone()).await;
        assert_code(&response, "FORBIDDEN");
        assert_no_data(&response, field);
        let right = t.token(&[scope], None).await;
        t.gql_ok(&right, query, vars.clone()).await;
        // Bound to alpha: beta, a realm that does not exist, and the tokens
        // without a realm are FORBIDDEN alike.
        let bound = t.token(&[scope], Some(&["alpha"])).await;
        for realm in ["beta", "nosuch", "/:no realm:/"] {
            let mut vars = vars.clone();
            vars["r"] = json!(["alpha", realm]);
            let response = t.gql(&bound, query, vars).await;
            assert_code(&response, "FORBIDDEN");
            assert_no_data(&response, field);
        }
    }
    assert_eq!(
        counter_rows(&t).await,
        rows,
        "a refused or empty deletion deleted rows"
    );

    // A bound token sees its realms only.
    let shower = t.token(&["COUNTERS_SHOW"], Some(&["alpha"])).await;
    let shown = t.gql_ok(&shower, SHOW, json!({})).await;
    let realms: Vec<_> = nodes(&shown["tokenCounters"])
        .iter()
        .map(|n| n["realm"].clone())
        .collect();
    assert_eq!(realms, vec![json!("alpha")]);
    let current = t.gql_ok(&shower, CURRENT, json!({ "s": ["TOTAL"] })).await;
    assert_eq!(
        counts(&current["currentTokenCounts"]),
        vec![triple("alpha", "TOTAL", Some(1))]
    );

    // LINOTP-2086: a realm-restricted token deleted other realms' counters.
    // Here it deletes its own realm's and nothing else.
    let deleter = t.token(&["COUNTERS_DELETE_ALL"], Some(&["alpha"])).await;
    let v = t.gql_ok(&deleter, DELETE_ALL, json!({ "all": true })).await;
    assert_eq!(v["deleteAllTokenCounters"]["deletedCount"], 1);
    let left: Vec<String> = counter_rows(&t).await.into_iter().map(|r| r.1).collect();
    assert_eq!(left, vec!["beta", "/:no realm:/"]);
    let response = t
        .gql(&deleter, DELETE_ALL, json!({ "r": ["beta"], "all": true }))
        .await;
    assert_code(&response, "FORBIDDEN");
    assert_eq!(counter_count(&t).await, 2);
}

/// Events of one realm at once: each counter row holds a distinct count, the
/// last one the number of tokens (no lost update), on every backend.
async fn concurrent_events_lose_no_update(t: TestServer) {
    t.create_realm("alpha").await;
    let ada = t.create_user("alpha", "ada@alpha.test", &[]).await;
    set_policy(&t, "alpha", &["TOTAL"]).await;
    // Half of them for one user: her holder count is updated concurrently too.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let t = t.clone();
            let user = (i % 2 == 0).then_some(ada);
            tokio::spawn(async move { enroll(&t, &format!("C{i}"), Some("alpha"), user).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("an enrolment failed");
    }
    let mut seen: Vec<i64> = counter_rows(&t).await.into_iter().map(|r| r.3).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=16).collect::<Vec<_>>());
    let current = t
        .admin_ok(
            CURRENT,
            json!({ "r": ["alpha"], "s": ["TOTAL", "ACTIVE_ASSIGNED", "TOTAL_USERS"] }),
        )
        .await;
    assert_eq!(
        counts(&current["currentTokenCounts"]),
        vec![
            triple("alpha", "TOTAL", Some(16)),
            triple("alpha", "ACTIVE_ASSIGNED", Some(8)),
            triple("alpha", "TOTAL_USERS", Some(1)),
        ]
    );
    // Her eight tokens, disabled at once: she stops counting exactly once.
    let tasks: Vec<_> = (0..16)
        .step_by(2)
        .map(|i| {
            let t = t.clone();
            tokio::spawn(async move {
                admin_op(&t, "disableToken", json!({ "serial": format!("C{i}") })).await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a disable failed");
    }
    let current = t
        .admin_ok(CURRENT, json!({ "r": ["alpha"], "s": ["TOTAL_USERS"] }))
        .await;
    assert_eq!(
        counts(&current["currentTokenCounts"]),
        vec![triple("alpha", "TOTAL_USERS", Some(0))]
    );
}
