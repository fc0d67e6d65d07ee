//! The activity log (`auditEvents`): the `window` grammar and its clashes
//! with dates, the resolved range echoed, realm rules, filters, keyset paging
//! while events are written, and every mutation writing a documented event.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use chrono::Duration;
use common::*;
use serde_json::{Value, json};

backend_tests!(
    window_grammar_and_ranges,
    realms_are_forbidden_or_spanned,
    filters_and_paging_while_events_are_written,
);

// No report workers: a queued report writes only `report.requested` until
// it is cancelled, so each mutation's events are known exactly.
backend_tests!(config = without_report_workers; every_mutation_writes_a_documented_event);

fn without_report_workers() -> headcount::http::ServerConfig {
    let mut config = default_config();
    config.report_workers = 0;
    config
}

const EVENTS: &str = "query($window: String, $start: DateTime, $end: DateTime, $realm: String,
      $all: Boolean, $event: [String!], $actor: [Int!], $first: Int, $after: String,
      $last: Int, $before: String) {
  auditEvents(window: $window, startDate: $start, endDate: $end, realm: $realm,
      allPermittedRealms: $all, event: $event, actorId: $actor, first: $first,
      after: $after, last: $last, before: $before) {
    startDate endDate totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id date realm event actorId actor ipAddress resources { type name id } } }
  }
}";

async fn events(t: &TestServer, secret: &str, vars: Value) -> Value {
    t.gql(secret, EVENTS, vars).await
}

async fn events_ok(t: &TestServer, secret: &str, vars: Value) -> Value {
    data(&events(t, secret, vars).await)["auditEvents"].clone()
}

fn names(connection: &Value) -> Vec<String> {
    nodes(connection)
        .iter()
        .map(|n| n["event"].as_str().unwrap().to_owned())
        .collect()
}

async fn window_grammar_and_ranges(t: TestServer) {
    let admin = t.admin_secret().to_owned();
    let now = t.now();
    for bad in [
        "",
        " ",
        "h",
        "-1",
        "-5m",
        "1.5h",
        "0.5",
        "1 h",
        " 12h",
        "12h ",
        "12H",
        "3y",
        "+7",
        "99999999999999999999",
        "9223372036854775807w",
        "15250000000w",
    ] {
        let response = events(&t, &admin, json!({ "realm": "x", "window": bad })).await;
        assert_bad_input(&response, "window");
        assert_no_data(&response, "auditEvents");
    }
    for (window, span) in [
        ("90", Duration::seconds(90)),
        ("0", Duration::zero()),
        ("45s", Duration::seconds(45)),
        ("5m", Duration::minutes(5)),
        ("12h", Duration::hours(12)),
        ("7d", Duration::days(7)),
        ("2w", Duration::weeks(2)),
    ] {
        let log = events_ok(&t, &admin, json!({ "realm": "x", "window": window })).await;
        assert_eq!(datetime(&log["startDate"]), now - span, "{window}");
        assert_eq!(datetime(&log["endDate"]), now, "{window}");
    }
    // A window never combines with a date; the date at fault is named.
    for (vars, field) in [
        (
            json!({ "window": "1h", "start": "2025-01-01" }),
            "startDate",
        ),
        (json!({ "window": "1h", "end": "2025-01-01" }), "endDate"),
        (
            json!({ "start": "2025-01-10", "end": "2025-01-09" }),
            "startDate",
        ),
    ] {
        let mut vars = vars;
        vars["realm"] = json!("x");
        assert_bad_input(&events(&t, &admin, vars).await, field);
    }
    // Neither: the last 24 hours; endDate defaults to now.
    let log = events_ok(&t, &admin, json!({ "realm": "x" })).await;
    assert_eq!(datetime(&log["startDate"]), now - Duration::hours(24));
    assert_eq!(datetime(&log["endDate"]), now);
    let log = events_ok(&t, &admin, json!({ "realm": "x", "start": "2025-01-01" })).await;
    assert_eq!(datetime(&log["startDate"]), at("2025-01-01T00:00:00Z"));
    assert_eq!(datetime(&log["endDate"]), now);

    // Events fall in or out of a window by their time; the range is half-open.
    t.create_realm("acme").await;
    t.clock().advance(Duration::hours(2));
    t.create_dataset("acme", "Two hours later").await;
    t.clock().advance(Duration::minutes(30));
    let recent = events_ok(&t, &admin, json!({ "realm": "acme", "window": "1h" })).await;
    assert_eq!(names(&recent), ["dataset.created"]);
    let all = events_ok(&t, &admin, json!({ "realm": "acme", "window": "3h" })).await;
    assert_eq!(names(&all), ["dataset.created", "realm.created"]);
    assert_eq!(all["totalCount"], 2);
    let created = datetime(&nodes(&all)[1]["date"]);
    let exact = events_ok(
        &t,
        &admin,
        json!({ "realm": "acme", "start": created, "end": created + Duration::hours(2) }),
    )
    .await;
    assert_eq!(names(&exact), ["realm.created"], "end is exclusive");
    let node = &nodes(&all)[1];
    assert_eq!(node["realm"], "acme");
    assert_eq!(node["actor"], "admin");
    assert_eq!(
        node["resources"],
        json!([{ "type": "realm", "name": "acme", "id": node["resources"][0]["id"] }])
    );
}

async fn realms_are_forbidden_or_spanned(t: TestServer) {
    for realm in ["alpha", "beta", "gamma"] {
        t.create_realm(realm).await;
        t.create_user(realm, &format!("u@{realm}.test"), &["TEAM_USER"])
            .await;
    }
    let alpha = t.token(&["AUDIT_READ"], Some(&["alpha"])).await;
    let alpha_beta = t
        .token(
            &["AUDIT_READ", "AUDIT_READ_ALL_REALMS"],
            Some(&["alpha", "beta"]),
        )
        .await;
    let unbound = t.token(&["AUDIT_READ"], None).await;
    let no_scope = t.token(&["USERS_READ"], None).await;
    // Ranges are half-open: what was written at "now" is read a moment later.
    t.clock().advance(Duration::seconds(1));

    // A realm outside the token: FORBIDDEN whether or not it exists, never empty.
    let other = events(&t, &alpha, json!({ "realm": "beta" })).await;
    let missing = events(&t, &alpha, json!({ "realm": "nosuch" })).await;
    assert_code(&other, "FORBIDDEN");
    assert_no_data(&other, "auditEvents");
    assert_eq!(
        other["errors"][0]["message"]
            .as_str()
            .unwrap()
            .replace("beta", "<r>"),
        missing["errors"][0]["message"]
            .as_str()
            .unwrap()
            .replace("nosuch", "<r>"),
    );
    // Scopes come first: a token without AUDIT_READ learns nothing.
    assert_code(
        &events(&t, &no_scope, json!({ "realm": "alpha" })).await,
        "FORBIDDEN",
    );
    // Its own realm, named in any case, or by default when bound to one.
    let own = events_ok(&t, &alpha, json!({ "realm": "ALPHA" })).await;
    assert_eq!(
        names(&own),
        ["api_token.created", "user.created", "realm.created"]
    );
    assert_eq!(events_ok(&t, &alpha, json!({})).await, own);
    // Bound to two: name one, or span both.
    assert_bad_input(&events(&t, &alpha_beta, json!({})).await, "realm");
    let spanned = events_ok(&t, &alpha_beta, json!({ "all": true })).await;
    let realms: BTreeSet<String> = nodes(&spanned)
        .iter()
        .map(|n| n["realm"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        realms,
        BTreeSet::from(["alpha".to_owned(), "beta".to_owned()])
    );
    assert_eq!(spanned["totalCount"], 5);
    // allPermittedRealms needs AUDIT_READ_ALL_REALMS, and excludes realm.
    let refused = events(&t, &alpha, json!({ "all": true })).await;
    assert_code(&refused, "FORBIDDEN");
    assert_code(
        &events(&t, &unbound, json!({ "all": true })).await,
        "FORBIDDEN",
    );
    assert_bad_input(
        &events(&t, &alpha_beta, json!({ "all": true, "realm": "alpha" })).await,
        "allPermittedRealms",
    );
    // Unbound without a realm: the events outside any realm (tokens issued
    // unbound, failed sign-ins); with allPermittedRealms, everything.
    let outside = events_ok(&t, &unbound, json!({})).await;
    assert!(!nodes(&outside).is_empty());
    assert!(
        nodes(&outside).iter().all(|n| n["realm"].is_null()),
        "{outside}"
    );
    let everything = events_ok(&t, t.admin_secret(), json!({ "all": true })).await;
    assert_eq!(
        everything["totalCount"].as_u64(),
        Some(t.audit_events().await.len() as u64)
    );

    // One event by global id: as absent outside the token's realms as a missing one.
    let beta_event = nodes(&spanned)
        .into_iter()
        .find(|n| n["realm"] == "beta")
        .unwrap();
    let node = "query($id: ID!) { node(id: $id) { id ... on AuditEvent { event realm } } }";
    let seen = t
        .gql_ok(&alpha_beta, node, json!({ "id": beta_event["id"] }))
        .await;
    assert_eq!(seen["node"]["realm"], "beta");
    let hidden = t
        .gql_ok(&alpha, node, json!({ "id": beta_event["id"] }))
        .await;
    assert!(hidden["node"].is_null());
    let realmless = &nodes(&outside)[0];
    let hidden = t
        .gql_ok(&alpha_beta, node, json!({ "id": realmless["id"] }))
        .await;
    assert!(hidden["node"].is_null());
    assert_code(
        &t.gql(&no_scope, node, json!({ "id": beta_event["id"] }))
            .await,
        "FORBIDDEN",
    );
}

async fn filters_and_paging_while_events_are_written(t: TestServer) {
    t.create_realm("acme").await;
    let (writer_id, writer) = t
        .token_named(
            "writer",
            &["USERS_WRITE", "USERS_READ"],
            Some(&["acme"]),
            None,
        )
        .await;
    let mut users = Vec::new();
    for i in 0..6 {
        t.clock().advance(Duration::seconds(1));
        let user = t
            .gql_ok(
                &writer,
                "mutation($e: String!) { createUser(input: {realm: \"acme\", email: $e, name: \"U\"}) { userId } }",
                json!({ "e": format!("u{i}@acme.test") }),
            )
            .await["createUser"]["userId"]
            .clone();
        users.push(user);
    }
    // Two events in the same microsecond: the id breaks the tie.
    for user in &users[..2] {
        t.gql_ok(
            &writer,
            "mutation($id: Int!) { setUserStatus(userId: $id, status: DORMANT) { userId } }",
            json!({ "id": user }),
        )
        .await;
    }
    t.clock().advance(Duration::seconds(1));
    let admin = t.admin_secret().to_owned();
    let by_event = events_ok(
        &t,
        &admin,
        json!({ "realm": "acme", "event": ["user.status_changed"] }),
    )
    .await;
    assert_eq!(by_event["totalCount"], 2);
    let by_actor = events_ok(&t, &admin, json!({ "realm": "acme", "actor": [writer_id] })).await;
    assert_eq!(by_actor["totalCount"], 8);
    assert!(nodes(&by_actor).iter().all(|n| n["actor"] == "writer"));
    let too_many: Vec<String> = (0..1001).map(|i| format!("e{i}")).collect();
    assert_bad_input(
        &events(&t, &admin, json!({ "realm": "acme", "event": too_many })).await,
        "event",
    );
    let nobody = events_ok(&t, &admin, json!({ "realm": "acme", "actor": [987654] })).await;
    assert_eq!(nobody["totalCount"], 0);

    // Newest first: (date, id) descending.
    let whole = events_ok(&t, &admin, json!({ "realm": "acme", "first": 100 })).await;
    let ids: Vec<String> = nodes(&whole)
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 10);
    let dates: Vec<_> = nodes(&whole).iter().map(|n| datetime(&n["date"])).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");

    // Page forward three at a time; newer events written between pages do
    // not shift the pages already begun.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = events_ok(
            &t,
            &admin,
            json!({ "realm": "acme", "first": 3, "after": after, "start": "2025-01-01" }),
        )
        .await;
        seen.extend(
            nodes(&page)
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_owned()),
        );
        t.clock().advance(Duration::seconds(1));
        t.gql_ok(
            &writer,
            "mutation($id: Int!) { setUserStatus(userId: $id, status: SUSPENDED) { userId } }",
            json!({ "id": users[seen.len() % users.len()] }),
        )
        .await;
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, ids);

    // Backwards from the oldest, as the seed's `ending_before` loop pages.
    let range = json!({ "start": "2025-01-01", "end": whole["endDate"] });
    let mut back = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = events_ok(
            &t,
            &admin,
            json!({ "realm": "acme", "last": 4, "before": before,
                    "start": range["start"], "end": range["end"] }),
        )
        .await;
        let mut chunk: Vec<String> = nodes(&page)
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect();
        chunk.extend(back);
        back = chunk;
        if page["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = page["pageInfo"]["startCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(back, ids);

    // A cursor of another list is refused, naming the argument.
    let changes = t
        .admin_ok(
            "{ userChangelog(first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let foreign = changes["userChangelog"]["pageInfo"]["endCursor"].clone();
    assert_bad_input(
        &events(&t, &admin, json!({ "realm": "acme", "after": foreign })).await,
        "after",
    );
    assert_bad_input(
        &events(&t, &admin, json!({ "realm": "acme", "first": 1001 })).await,
        "first",
    );
}

/// Event names listed in docs/AUDIT_EVENTS.md (first column, in backticks).
fn documented_events() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/AUDIT_EVENTS.md"))
        .expect("read docs/AUDIT_EVENTS.md");
    doc.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The root fields of `type Mutation` in schema.graphql.
fn mutations() -> Vec<String> {
    let schema = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("read schema.graphql");
    let body = schema
        .split_once("type Mutation {")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .map(|(body, _)| body)
        .expect("type Mutation in schema.graphql");
    body.lines()
        .filter_map(|line| line.strip_prefix('\t'))
        .filter_map(|line| line.split_once('('))
        .map(|(name, _)| name.to_owned())
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect()
}

async fn every_mutation_writes_a_documented_event(t: TestServer) {
    let documented = documented_events();
    let admin = t.admin_secret().to_owned();
    t.create_realm("acme").await;
    let ds = t.create_dataset("acme", "Sales").await["datasetId"].clone();
    let user = t.create_user("acme", "ann@acme.test", &["TEAM_USER"]).await;
    // A user who stays (the cases delete `user`), for the token cases.
    let other = t.create_user("acme", "cy@acme.test", &[]).await;
    let token = t.token(&["USERS_READ"], Some(&["acme"])).await;
    let token_id = t.api_token_rows().await.last().unwrap().id;
    let token_gid = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!("ApiToken:{token_id}"),
    );
    drop(token);
    // (mutation, document, variables, the event it writes)
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "createRealm",
            "mutation { createRealm(name: \"beta\") { name } }",
            json!({}),
            "realm.created",
        ),
        (
            "updateRealm",
            "mutation { updateRealm(name: \"beta\", seatLimit: 3) { name } }",
            json!({}),
            "realm.updated",
        ),
        (
            "createDataset",
            "mutation { createDataset(realm: \"acme\", name: \"Ops\") { datasetId } }",
            json!({}),
            "dataset.created",
        ),
        (
            "createUser",
            "mutation { createUser(input: {realm: \"acme\", email: \"bob@acme.test\", name: \"Bob\"}) { userId } }",
            json!({}),
            "user.created",
        ),
        (
            "updateUser",
            "mutation($id: Int!) { updateUser(input: {userId: $id, name: \"Annie\"}) { userId } }",
            json!({ "id": user }),
            "user.updated",
        ),
        (
            "setUserStatus",
            "mutation($id: Int!) { setUserStatus(userId: $id, status: DORMANT) { userId } }",
            json!({ "id": user }),
            "user.status_changed",
        ),
        (
            "setUserRoles",
            "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            json!({ "id": user }),
            "user.roles_changed",
        ),
        (
            "addUserRoles",
            "mutation($id: Int!) { addUserRoles(userId: $id, roles: [\"TEAM_USER\"]) { userId } }",
            json!({ "id": user }),
            "user.roles_changed",
        ),
        (
            "removeUserRoles",
            "mutation($id: Int!) { removeUserRoles(userId: $id, roles: [\"TEAM_USER\"]) { userId } }",
            json!({ "id": user }),
            "user.roles_changed",
        ),
        (
            "setDatasetRole",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"ANALYST\") { userId } }",
            json!({ "id": user, "ds": ds }),
            "user.dataset_role_changed",
        ),
        (
            "deleteUser",
            "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
            json!({ "id": user }),
            "user.deleted",
        ),
        (
            "createApiToken",
            "mutation { createApiToken(input: {name: \"ci\", scopes: [USERS_READ]}) { secret } }",
            json!({}),
            "api_token.created",
        ),
        (
            "revokeApiToken",
            "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
            json!({ "id": token_gid }),
            "api_token.revoked",
        ),
        (
            "setReportingPolicy",
            "mutation { setReportingPolicy(realm: \"acme\", statuses: [TOTAL, ACTIVE]) }",
            json!({}),
            "token.reporting_policy_set",
        ),
        (
            "enrollToken",
            "mutation { enrollToken(input: {serial: \"T-1\", realm: \"acme\"}) { id } }",
            json!({}),
            "token.enrolled",
        ),
        (
            "assignToken",
            "mutation($id: Int!) { assignToken(serial: \"T-1\", userId: $id) { id } }",
            json!({ "id": other }),
            "token.assigned",
        ),
        (
            "unassignToken",
            "mutation { unassignToken(serial: \"T-1\") { id } }",
            json!({}),
            "token.unassigned",
        ),
        (
            "disableToken",
            "mutation { disableToken(serial: \"T-1\") { id } }",
            json!({}),
            "token.disabled",
        ),
        (
            "enableToken",
            "mutation { enableToken(serial: \"T-1\") { id } }",
            json!({}),
            "token.enabled",
        ),
        (
            "setTokenRealm",
            "mutation { setTokenRealm(serial: \"T-1\", realm: \"beta\") { id } }",
            json!({}),
            "token.realm_changed",
        ),
        (
            "removeToken",
            "mutation { removeToken(serial: \"T-1\") { id } }",
            json!({}),
            "token.removed",
        ),
        (
            "recordActivity",
            "mutation($id: Int!) { recordActivity(input: [{userId: $id, app: \"vscode\", startedAt: \"2025-01-15T08:00:00Z\", seconds: 600, latencyMs: 12.5}]) }",
            json!({ "id": other }),
            "activity.recorded",
        ),
        (
            "deleteTokenCountersBefore",
            "mutation { deleteTokenCountersBefore(date: \"2100-01-01\", allStatuses: true) { deletedCount } }",
            json!({}),
            "token_counters.deleted_before",
        ),
        (
            "deleteAllTokenCounters",
            "mutation { deleteAllTokenCounters(allStatuses: true) { deletedCount } }",
            json!({}),
            "token_counters.deleted_all",
        ),
        (
            "generateChangelogReport",
            "mutation { generateChangelogReport(input: {}) { id } }",
            json!({}),
            "report.requested",
        ),
        (
            "generateSnapshotReport",
            "mutation { generateSnapshotReport(input: {}) { id } }",
            json!({}),
            "report.requested",
        ),
        (
            "generateTokenCounterReport",
            "mutation { generateTokenCounterReport(input: {}) { id } }",
            json!({}),
            "report.requested",
        ),
        (
            "generateAuditReport",
            "mutation { generateAuditReport(input: {}) { id } }",
            json!({}),
            "report.requested",
        ),
        (
            "generateApiRequestReport",
            "mutation { generateApiRequestReport(input: {}) { id } }",
            json!({}),
            "report.requested",
        ),
        (
            "cancelReportJob",
            "mutation($id: ID!) { cancelReportJob(id: $id) { id } }",
            // The first job of this test's own database.
            json!({ "id": base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, "ReportJob:1") }),
            "report.cancelled",
        ),
        (
            "registerEvents",
            "mutation($id: Int!) { registerEvents(input: [{userId: $id, feature: \"f\", event: \"e\"}]) }",
            json!({ "id": other }),
            "events.registered",
        ),
    ];
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.0).collect();
    for mutation in mutations() {
        assert!(
            covered.contains(mutation.as_str()),
            "Mutation.{mutation} has no case here: which audit event does it write?"
        );
    }
    for (mutation, document, variables, event) in cases {
        assert!(
            documented.contains(event),
            "{event} is not in docs/AUDIT_EVENTS.md"
        );
        let mark = t.last_audit_id().await;
        t.gql_ok(&admin, document, variables).await;
        let written: Vec<String> = t
            .audit_events_since(mark)
            .await
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(written, [event], "{mutation}");
    }
    // A failed sign-in too (written off the request path, within seconds).
    let mark = t.last_audit_id().await;
    t.gql("hc_not_a_token", "{ viewer { name } }", json!({}))
        .await;
    let failed = failed_sign_ins(&t, mark, 1).await;
    assert!(documented.contains(&failed.event));
    // And the log lists only documented names.
    for e in t.audit_events().await {
        assert!(
            documented.contains(&e.event),
            "{} is not documented",
            e.event
        );
    }
}
