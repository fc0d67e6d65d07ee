//! Nothing outside a token's realms can be told apart from nothing at all.
//!
//! Every query and mutation that takes an id or a realm name runs twice with
//! a token bound to realm `alpha`: once pointing at realm `beta`'s things,
//! once at things that do not exist. The two answers must be identical once
//! the id or name itself is normalised away, and nothing may change. A token
//! without the needed scope is refused before anything is looked up, so it
//! too gets identical answers for existing and missing ids.

#[macro_use]
mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use serde_json::{Value, json};

backend_tests!(
    another_realm_answers_like_nothing,
    missing_scope_is_refused_before_any_lookup,
    an_empty_realm_list_is_bad_input,
);

/// What the cases point at: another realm's things, or nothing.
struct Targets {
    realm: String,
    realm_gid: String,
    user: i64,
    user_gid: String,
    email: String,
    dataset: i64,
    dataset_gid: String,
    change_gid: String,
    /// A token bound to the other realm.
    token_gid: String,
    /// A token bound to no realm, beyond any bound manager's reach.
    open_token_gid: String,
    /// An activity log event of the other realm.
    audit_gid: String,
    /// A request made with a token of the other realm.
    request_gid: String,
    /// A report job asked for by a token bound to the other realm.
    report_gid: String,
    /// An authentication token (a person's), its global id, and a counter row.
    serial: String,
    serial_gid: String,
    counter_gid: String,
    /// A product event of a user of the other realm.
    product_event_gid: String,
}

/// Realm alpha's own things, used next to the targets.
struct Own {
    user: i64,
    user_gid: String,
    email: String,
    dataset: i64,
    serial: String,
}

struct World {
    own: Own,
    other: Targets,
    missing: Targets,
}

fn gid(kind: &str, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

fn str_of(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

async fn world(t: &TestServer) -> World {
    t.create_realm("alpha").await;
    let beta = t.create_realm("beta").await;
    let alpha_ds = t.create_dataset("alpha", "A-data").await;
    let beta_ds = t.create_dataset("beta", "B-data").await;
    let a1 = t
        .create_user_with(json!({
            "realm": "alpha", "email": "a1@alpha.test", "name": "A One",
            "roles": ["TEAM_USER"],
            "datasets": [{ "datasetId": alpha_ds["datasetId"], "role": "ANALYST" }],
        }))
        .await;
    let b1 = t
        .create_user_with(json!({
            "realm": "beta", "email": "b1@beta.test", "name": "B One",
            "roles": ["TEAM_USER"],
            "datasets": [{ "datasetId": beta_ds["datasetId"], "role": "ANALYST" }],
        }))
        .await;
    let b1_id = b1["userId"].as_i64().unwrap();
    // A second change, so beta has some history beyond creation.
    t.admin_ok(
        "mutation($id: Int!) { setUserStatus(userId: $id, status: DORMANT) { userId } }",
        json!({ "id": b1_id }),
    )
    .await;
    let change = t.changelog(b1_id).await;
    t.admin_ok(
        "mutation { setReportingPolicy(realm: \"*\", statuses: [TOTAL]) }",
        json!({}),
    )
    .await;
    let enroll =
        "mutation($s: String!, $r: String!) { enrollToken(input: {serial: $s, realm: $r}) { id } }";
    t.admin_ok(enroll, json!({ "s": "A-TOKEN", "r": "alpha" }))
        .await;
    let b_token = t
        .admin_ok(enroll, json!({ "s": "B-TOKEN", "r": "beta" }))
        .await;
    let counters = t
        .admin_ok(
            "{ tokenCounters(realms: [\"beta\"]) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let (beta_token, beta_secret) = t
        .token_named("beta-reader", &["USERS_READ"], Some(&["beta"]), None)
        .await;
    t.gql_ok(
        &beta_secret,
        "query BetaProbe { viewer { name } }",
        json!({}),
    )
    .await;
    t.admin_ok(
        "mutation($u: Int!) { registerEvents(input: [{userId: $u, feature: \"f\", event: \"e\"}]) }",
        json!({ "u": b1_id }),
    )
    .await;
    t.services().request_log.flush().await;
    let ever = json!({ "start": "2000-01-01", "end": "2100-01-01" });
    let product_event = t
        .admin_ok(
            "query($start: DateTime, $end: DateTime) {
               events(realm: \"beta\", startDate: $start, endDate: $end, first: 1) { edges { node { id } } }
             }",
            ever.clone(),
        )
        .await;
    let audit = t
        .admin_ok(
            "query($start: DateTime, $end: DateTime) {
               auditEvents(realm: \"beta\", startDate: $start, endDate: $end, first: 1) { edges { node { id } } }
             }",
            ever.clone(),
        )
        .await;
    let request = t
        .admin_ok(
            "query($start: DateTime, $end: DateTime) {
               apiRequests(operation: [\"BetaProbe\"], startDate: $start, endDate: $end) { edges { node { id realm } } }
             }",
            ever,
        )
        .await;
    let request = &nodes(&request["apiRequests"])[0];
    assert_eq!(request["realm"], "beta");
    let beta_reporter = t
        .token(&["REPORTS_CREATE", "CHANGELOG_READ"], Some(&["beta"]))
        .await;
    let report = t
        .gql_ok(
            &beta_reporter,
            "mutation { generateChangelogReport(input: {}) { id } }",
            json!({}),
        )
        .await;
    // Let the server's worker finish it, so that nothing changes while the
    // cases compare.
    let report_id = report["generateChangelogReport"]["id"].clone();
    for _ in 0..600 {
        let job = t
            .gql_ok(
                &beta_reporter,
                "query($id: ID!) { reportJob(id: $id) { status } }",
                json!({ "id": report_id }),
            )
            .await;
        if job["reportJob"]["status"] == "SUCCESS" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let admin_token = t
        .api_token_rows()
        .await
        .into_iter()
        .find(|row| row.name == "admin")
        .expect("the admin token")
        .id;
    World {
        own: Own {
            user: a1["userId"].as_i64().unwrap(),
            user_gid: str_of(&a1["id"]),
            email: "a1@alpha.test".to_owned(),
            dataset: alpha_ds["datasetId"].as_i64().unwrap(),
            serial: "A-TOKEN".to_owned(),
        },
        other: Targets {
            realm: "beta".to_owned(),
            realm_gid: str_of(&beta["id"]),
            user: b1_id,
            user_gid: str_of(&b1["id"]),
            email: "b1@beta.test".to_owned(),
            dataset: beta_ds["datasetId"].as_i64().unwrap(),
            dataset_gid: str_of(&beta_ds["id"]),
            change_gid: str_of(&change[1]["id"]),
            token_gid: gid("ApiToken", beta_token.into()),
            open_token_gid: gid("ApiToken", admin_token.into()),
            audit_gid: str_of(&nodes(&audit["auditEvents"])[0]["id"]),
            request_gid: str_of(&request["id"]),
            report_gid: str_of(&report["generateChangelogReport"]["id"]),
            serial: "B-TOKEN".to_owned(),
            serial_gid: str_of(&b_token["enrollToken"]["id"]),
            counter_gid: str_of(&nodes(&counters["tokenCounters"])[0]["id"]),
            product_event_gid: str_of(&nodes(&product_event["events"])[0]["id"]),
        },
        missing: nothing(),
    }
}

/// Ids and names that name nothing.
fn nothing() -> Targets {
    Targets {
        realm: "nosuch".to_owned(),
        realm_gid: gid("Realm", 987_001),
        user: 987_002,
        user_gid: gid("User", 987_002),
        email: "nobody@nowhere.test".to_owned(),
        dataset: 987_003,
        dataset_gid: gid("Dataset", 987_003),
        change_gid: gid("UserChange", 987_004),
        token_gid: gid("ApiToken", 987_005),
        open_token_gid: gid("ApiToken", 987_006),
        audit_gid: gid("AuditEvent", 987_007),
        request_gid: gid("ApiRequest", 987_008),
        report_gid: gid("ReportJob", 987_009),
        serial: "NO-SUCH-TOKEN".to_owned(),
        serial_gid: gid("Token", 987_010),
        counter_gid: gid("TokenCounter", 987_011),
        product_event_gid: gid("ProductEvent", 987_012),
    }
}

/// What the realm-bound ADMIN token must get (for the other realm's things
/// and for nothing alike): checked so that a broken query cannot pass as
/// two identical validation errors.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// No errors, `data.<field>` null.
    Null,
    /// No errors, `data.<field>` a connection with nothing in it.
    Empty,
    /// No errors at all.
    Ok,
    /// Every error has this code, and `data.<field>` is null.
    Code(&'static str),
    /// BAD_USER_INPUT naming this argument.
    BadInput(&'static str),
}

struct Case {
    /// The root field.
    field: &'static str,
    mutation: bool,
    query: &'static str,
    variables: Value,
    /// The ids and names of the targets this case uses; only these are
    /// normalised away before comparing.
    uses: Vec<String>,
    expect: Expect,
}

fn query(
    field: &'static str,
    query: &'static str,
    variables: Value,
    uses: Vec<String>,
    expect: Expect,
) -> Case {
    Case {
        field,
        mutation: false,
        query,
        variables,
        uses,
        expect,
    }
}

fn mutation(
    field: &'static str,
    query: &'static str,
    variables: Value,
    uses: Vec<String>,
    expect: Expect,
) -> Case {
    Case {
        mutation: true,
        ..self::query(field, query, variables, uses, expect)
    }
}

/// Every query and mutation with an id or realm name, pointed at `x`.
fn cases(own: &Own, x: &Targets) -> Vec<Case> {
    use Expect::*;
    let r = || x.realm.clone();
    let u = || x.user.to_string();
    let ds = || x.dataset.to_string();
    let e = || x.email.clone();
    let node = "query($id: ID!) { node(id: $id) { id __typename } }";
    let mut cases = vec![
        query(
            "node",
            node,
            json!({ "id": x.realm_gid }),
            vec![x.realm_gid.clone()],
            Null,
        ),
        query(
            "node",
            node,
            json!({ "id": x.user_gid }),
            vec![x.user_gid.clone()],
            Null,
        ),
        query(
            "node",
            node,
            json!({ "id": x.dataset_gid }),
            vec![x.dataset_gid.clone()],
            Null,
        ),
        query(
            "node",
            node,
            json!({ "id": x.change_gid }),
            vec![x.change_gid.clone()],
            Null,
        ),
        query(
            "node",
            node,
            json!({ "id": x.token_gid }),
            vec![x.token_gid.clone()],
            Null,
        ),
        query(
            "node",
            node,
            json!({ "id": x.open_token_gid }),
            vec![x.open_token_gid.clone()],
            Null,
        ),
        query(
            "node",
            node,
            json!({ "id": x.audit_gid }),
            vec![x.audit_gid.clone()],
            Null,
        ),
        query(
            "node",
            node,
            json!({ "id": x.request_gid }),
            vec![x.request_gid.clone()],
            Null,
        ),
        query(
            "auditEvents",
            "query($r: String) { auditEvents(realm: $r) { totalCount edges { node { id } } } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "nodes",
            "query($ids: [ID!]!) { nodes(ids: $ids) { id __typename ... on User { userId email } } }",
            json!({ "ids": [own.user_gid, x.user_gid, x.realm_gid, x.dataset_gid, x.change_gid, x.token_gid] }),
            vec![
                x.user_gid.clone(),
                x.realm_gid.clone(),
                x.dataset_gid.clone(),
                x.change_gid.clone(),
                x.token_gid.clone(),
            ],
            Ok,
        ),
        query(
            "datasets",
            "query($r: String) { datasets(realm: $r) { totalCount edges { node { datasetId } } } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "user",
            "query($id: Int) { user(userId: $id) { userId email } }",
            json!({ "id": x.user }),
            vec![u()],
            Null,
        ),
        query(
            "user",
            "query($e: String) { user(email: $e) { userId email } }",
            json!({ "e": x.email }),
            vec![e()],
            Null,
        ),
        query(
            "user",
            "query($e: String, $r: String) { user(email: $e, realm: $r) { userId } }",
            json!({ "e": x.email, "r": x.realm }),
            vec![e(), r()],
            Code("FORBIDDEN"),
        ),
        query(
            "user",
            "query($e: String, $r: String) { user(email: $e, realm: $r) { userId } }",
            json!({ "e": own.email, "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "userSummary",
            "query($r: String) { userSummary(realm: $r) { realm users { total } } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "activeUsers",
            "query($r: String) { activeUsers(realm: $r) { date activeUsers } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "userActivity",
            "query($r: String) { userActivity(startDate: \"2000-01-01T00:00:00Z\", endDate: \"2100-01-01T00:00:00Z\", realm: $r) { userId } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "userLatency",
            "query($r: String) { userLatency(startDate: \"2000-01-01T00:00:00Z\", endDate: \"2100-01-01T00:00:00Z\", realm: $r) { userId } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "appUsage",
            "query($r: String) { appUsage(startDate: \"2000-01-01T00:00:00Z\", endDate: \"2100-01-01T00:00:00Z\", realm: $r) { app } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "userStatusCounts",
            "query($r: String) { userStatusCounts(realm: $r) { seatLimit series { status points { count } } } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
    ];
    // The filter is shared by three connections; each is tried with every
    // way a filter names another realm's things.
    let filters = [
        (json!({ "realm": [x.realm] }), vec![r()], Code("FORBIDDEN")),
        (
            json!({ "realm": ["alpha", x.realm] }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        (
            json!({ "AND": [{ "status": ["ACTIVE"] }, { "OR": [{ "realm": ["alpha"] }, { "realm": [x.realm] }] }] }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        (json!({ "userId": [x.user] }), vec![u()], Empty),
        (json!({ "userEmail": [x.email] }), vec![e()], Empty),
        (
            json!({ "OR": [{ "userId": [x.user] }, { "userEmail": [x.email] }] }),
            vec![u(), e()],
            Empty,
        ),
    ];
    for (filter, uses, expect) in filters {
        for (field, text) in [
            (
                "users",
                "query($f: UserFilter) { users(filter: $f) { totalCount edges { node { userId } } } }",
            ),
            (
                "userSnapshots",
                "query($f: UserFilter) { userSnapshots(filter: $f) { totalCount edges { node { userId } } } }",
            ),
            (
                "userChangelog",
                "query($f: UserFilter) { userChangelog(filter: $f) { totalCount edges { node { id userId } } } }",
            ),
        ] {
            cases.push(query(
                field,
                text,
                json!({ "f": filter }),
                uses.clone(),
                expect,
            ));
        }
    }
    cases.extend([
        query(
            "reportJob",
            "query($id: ID!) { reportJob(id: $id) { id status } }",
            json!({ "id": x.report_gid }),
            vec![x.report_gid.clone()],
            Null,
        ),
        mutation(
            "cancelReportJob",
            "mutation($id: ID!) { cancelReportJob(id: $id) { id status } }",
            json!({ "id": x.report_gid }),
            vec![x.report_gid.clone()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "generateChangelogReport",
            "mutation($r: String!) { generateChangelogReport(input: {filter: {realm: [$r]}}) { id } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "generateAuditReport",
            "mutation($r: String!) { generateAuditReport(input: {realm: $r}) { id } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "generateTokenCounterReport",
            "mutation($r: String!) { generateTokenCounterReport(input: {realms: [$r]}) { id } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "generateSnapshotReport",
            "mutation($r: String!) { generateSnapshotReport(input: {filter: {realm: [$r]}}) { id } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
    ]);
    let token = "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { secret token { id } } }";
    let revoke = "mutation($id: ID!) { revokeApiToken(id: $id) { id revokedAt } }";
    cases.extend([
        mutation(
            "createApiToken",
            token,
            json!({ "input": { "name": "t", "scopes": ["USERS_READ"], "realms": [x.realm] } }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "createApiToken",
            token,
            json!({ "input": { "name": "t", "scopes": ["USERS_READ"], "realms": ["alpha", x.realm] } }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation("revokeApiToken", revoke, json!({ "id": x.token_gid }), vec![x.token_gid.clone()], Code("NOT_FOUND")),
        mutation(
            "revokeApiToken",
            revoke,
            json!({ "id": x.open_token_gid }),
            vec![x.open_token_gid.clone()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "createRealm",
            "mutation($n: String!) { createRealm(name: $n) { name } }",
            json!({ "n": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "updateRealm",
            "mutation($n: String!) { updateRealm(name: $n, seatLimit: 5) { name } }",
            json!({ "n": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "createDataset",
            "mutation($r: String!) { createDataset(realm: $r, name: \"sneaky\") { datasetId } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "createUser",
            "mutation($r: String!) { createUser(input: {realm: $r, email: \"x@x.test\", name: \"X\"}) { userId } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "createUser",
            "mutation($ds: Int!) { createUser(input: {realm: \"alpha\", email: \"z@alpha.test\", name: \"Z\", datasets: [{datasetId: $ds, role: \"ANALYST\"}]}) { userId } }",
            json!({ "ds": x.dataset }),
            vec![ds()],
            BadInput("input.datasets"),
        ),
        mutation(
            "updateUser",
            "mutation($id: Int!) { updateUser(input: {userId: $id, name: \"Renamed\"}) { userId } }",
            json!({ "id": x.user }),
            vec![u()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "setUserStatus",
            "mutation($id: Int!) { setUserStatus(userId: $id, status: SUSPENDED) { userId } }",
            json!({ "id": x.user }),
            vec![u()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "setUserRoles",
            "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            json!({ "id": x.user }),
            vec![u()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "addUserRoles",
            "mutation($id: Int!) { addUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            json!({ "id": x.user }),
            vec![u()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "removeUserRoles",
            "mutation($id: Int!) { removeUserRoles(userId: $id, roles: [\"TEAM_USER\"]) { userId } }",
            json!({ "id": x.user }),
            vec![u()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "setDatasetRole",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"MANAGER\") { userId } }",
            json!({ "id": x.user, "ds": own.dataset }),
            vec![u()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "setDatasetRole",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"ANALYST\") { userId } }",
            json!({ "id": own.user, "ds": x.dataset }),
            vec![ds()],
            BadInput("datasetId"),
        ),
        mutation(
            "setDatasetRole",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: null) { userId } }",
            json!({ "id": own.user, "ds": x.dataset }),
            vec![ds()],
            BadInput("datasetId"),
        ),
        mutation(
            "setDatasetRole",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: null) { userId } }",
            json!({ "id": x.user, "ds": x.dataset }),
            vec![u(), ds()],
            BadInput("datasetId"),
        ),
        mutation(
            "recordActivity",
            "mutation($own: Int!, $u: Int!) { recordActivity(input: [{userId: $own, app: \"vscode\", startedAt: \"2025-01-15T08:00:00Z\", seconds: 60}, {userId: $u, app: \"vscode\", startedAt: \"2025-01-15T08:00:00Z\", seconds: 60}]) }",
            json!({ "own": own.user, "u": x.user }),
            vec![u()],
            BadInput("input[1].userId"),
        ),
        mutation(
            "deleteUser",
            "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
            json!({ "id": x.user }),
            vec![u()],
            Code("NOT_FOUND"),
        ),
    ]);
    cases.extend(token_cases(own, x));
    cases.extend(product_event_cases(x));
    cases
}

/// Product events: another realm's event by id, its realm and its users.
fn product_event_cases(x: &Targets) -> Vec<Case> {
    use Expect::*;
    vec![
        query(
            "node",
            "query($id: ID!) { node(id: $id) { id __typename } }",
            json!({ "id": x.product_event_gid }),
            vec![x.product_event_gid.clone()],
            Null,
        ),
        query(
            "events",
            "query($r: String) { events(realm: $r) { totalCount edges { node { id } } } }",
            json!({ "r": x.realm }),
            vec![x.realm.clone()],
            Code("FORBIDDEN"),
        ),
        query(
            "events",
            "query($u: [Int!]) { events(userId: $u, startDate: \"2000-01-01\") { totalCount edges { node { id } } } }",
            json!({ "u": [x.user] }),
            vec![x.user.to_string()],
            Empty,
        ),
        mutation(
            "registerEvents",
            "mutation($u: Int!) { registerEvents(input: [{userId: $u, feature: \"f\", event: \"e\"}]) }",
            json!({ "u": x.user }),
            vec![x.user.to_string()],
            BadInput("input[0].userId"),
        ),
    ]
}

/// Tokens and their counters: serials and global ids of another realm's
/// tokens, and realm names in every counter action.
fn token_cases(own: &Own, x: &Targets) -> Vec<Case> {
    use Expect::*;
    let r = || x.realm.clone();
    let s = || x.serial.clone();
    let node = "query($id: ID!) { node(id: $id) { id __typename } }";
    let mut cases = vec![
        query(
            "node",
            node,
            json!({ "id": x.serial_gid }),
            vec![x.serial_gid.clone()],
            Null,
        ),
        query(
            "node",
            node,
            json!({ "id": x.counter_gid }),
            vec![x.counter_gid.clone()],
            Null,
        ),
        query(
            "tokens",
            "query($r: String) { tokens(realm: $r) { totalCount edges { node { serial } } } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "tokens",
            "query($s: String) { tokens(serial: $s) { totalCount edges { node { serial } } } }",
            json!({ "s": x.serial }),
            vec![s()],
            Empty,
        ),
        query(
            "reportingPolicy",
            "query($r: String!) { reportingPolicy(realm: $r) }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "tokenCounters",
            "query($r: [String!]) { tokenCounters(realms: $r) { totalCount edges { node { id } } } }",
            json!({ "r": ["alpha", x.realm] }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "tokenCountsInPeriod",
            "query($r: [String!]) { tokenCountsInPeriod(realms: $r) { realms { realm } } }",
            json!({ "r": [x.realm] }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "tokenCountMaximum",
            "query($r: [String!]) { tokenCountMaximum(realms: $r) { realm } }",
            json!({ "r": [x.realm] }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        query(
            "currentTokenCounts",
            "query($r: [String!]) { currentTokenCounts(realms: $r) { realm } }",
            json!({ "r": [x.realm] }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "enrollToken",
            "mutation($r: String) { enrollToken(input: {serial: \"SNEAKY\", realm: $r}) { serial } }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "assignToken",
            "mutation($s: String!, $u: Int!) { assignToken(serial: $s, userId: $u) { serial } }",
            json!({ "s": x.serial, "u": own.user }),
            vec![s()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "assignToken",
            "mutation($s: String!, $u: Int!) { assignToken(serial: $s, userId: $u) { serial } }",
            json!({ "s": own.serial, "u": x.user }),
            vec![x.user.to_string()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "setTokenRealm",
            "mutation($s: String!) { setTokenRealm(serial: $s, realm: \"alpha\") { serial } }",
            json!({ "s": x.serial }),
            vec![s()],
            Code("NOT_FOUND"),
        ),
        mutation(
            "setTokenRealm",
            "mutation($s: String!, $r: String) { setTokenRealm(serial: $s, realm: $r) { serial } }",
            json!({ "s": own.serial, "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "setReportingPolicy",
            "mutation($r: String!) { setReportingPolicy(realm: $r, statuses: [ACTIVE]) }",
            json!({ "r": x.realm }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "deleteAllTokenCounters",
            "mutation($r: [String!]) { deleteAllTokenCounters(realms: $r, allStatuses: true) { deletedCount } }",
            json!({ "r": [x.realm] }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
        mutation(
            "deleteTokenCountersBefore",
            "mutation($r: [String!]) { deleteTokenCountersBefore(date: \"2999-01-01\", realms: $r, allStatuses: true) { deletedCount } }",
            json!({ "r": [x.realm] }),
            vec![r()],
            Code("FORBIDDEN"),
        ),
    ];
    for field in [
        "unassignToken",
        "enableToken",
        "disableToken",
        "removeToken",
    ] {
        let text = match field {
            "unassignToken" => "mutation($s: String!) { unassignToken(serial: $s) { serial } }",
            "enableToken" => "mutation($s: String!) { enableToken(serial: $s) { serial } }",
            "disableToken" => "mutation($s: String!) { disableToken(serial: $s) { serial } }",
            _ => "mutation($s: String!) { removeToken(serial: $s) { serial } }",
        };
        cases.push(mutation(
            field,
            text,
            json!({ "s": x.serial }),
            vec![s()],
            Code("NOT_FOUND"),
        ));
    }
    cases
}

/// `text` with every whole-word occurrence of `word` replaced by `with`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let wordy = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + word.len()..].chars().next();
        out.push_str(&rest[..i]);
        if wordy(before) || wordy(after) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

/// The response with the case's ids and names replaced by one placeholder
/// in error messages (the only place an answer may echo its input; one
/// placeholder for all, as an id of one kind may equal one of another).
fn normalised(response: &Value, uses: &[String]) -> Value {
    let mut response = response.clone();
    if let Some(errors) = response.get_mut("errors").and_then(Value::as_array_mut) {
        for error in errors {
            if let Some(message) = error.get("message").and_then(Value::as_str) {
                let mut message = message.to_owned();
                for used in uses {
                    message = replace_word(&message, used, "<id>");
                }
                error["message"] = Value::String(message);
            }
        }
    }
    response
}

#[track_caller]
fn check_expectation(response: &Value, case: &Case) {
    let what = format!("{} {}", case.query, case.variables);
    let value = &response["data"][case.field];
    match case.expect {
        Expect::Null => {
            data(response);
            assert!(value.is_null(), "{what}: expected null, got {response}");
        }
        Expect::Empty => {
            data(response);
            assert_eq!(value["totalCount"], 0, "{what}: {response}");
            assert!(nodes(value).is_empty(), "{what}: {response}");
        }
        Expect::Ok => {
            data(response);
        }
        Expect::Code(expected) => {
            assert_code(response, expected);
            assert_no_data(response, case.field);
        }
        Expect::BadInput(field) => {
            assert_bad_input(response, field);
            assert_no_data(response, case.field);
        }
    }
}

/// Runs every case as `secret` against the other realm and against nothing,
/// asserting identical answers; `expect` also checks each case's outcome.
async fn compare(t: &TestServer, w: &World, secret: &str, only_mutations: bool, expect: bool) {
    let other = cases(&w.own, &w.other);
    let missing = cases(&w.own, &w.missing);
    assert_eq!(other.len(), missing.len());
    for (o, m) in other.iter().zip(&missing) {
        if only_mutations && !o.mutation {
            continue;
        }
        let o_response = t.gql(secret, o.query, o.variables.clone()).await;
        let m_response = t.gql(secret, m.query, m.variables.clone()).await;
        if expect {
            check_expectation(&o_response, o);
        }
        assert_eq!(
            normalised(&o_response, &o.uses),
            normalised(&m_response, &m.uses),
            "{}: another realm's {} and nothing at all ({}) answer differently",
            o.query,
            o.variables,
            m.variables,
        );
    }
}

async fn another_realm_answers_like_nothing(t: TestServer) {
    let w = world(&t).await;
    // ADMIN: only the realm binding stands in the way.
    let bound = t.token(&["ADMIN"], Some(&["alpha"])).await;
    let reader = t.token(&["USERS_READ"], Some(&["alpha"])).await;
    let before = t.snapshot().await;
    compare(&t, &w, &bound, false, true).await;
    // A reader bound to alpha gets identical answers too (refused or empty).
    compare(&t, &w, &reader, false, false).await;
    assert_unchanged(&before, &t.snapshot().await, "isolation matrix");

    // Its own realm's things are there for it: the cases are no blind spot.
    let own = t
        .gql_ok(
            &bound,
            "query($id: Int) { user(userId: $id) { userId } }",
            json!({ "id": w.own.user }),
        )
        .await;
    assert_eq!(own["user"]["userId"], w.own.user);
    let own = t
        .gql_ok(
            &bound,
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [w.own.user_gid, w.other.user_gid] }),
        )
        .await;
    assert_eq!(own["nodes"], json!([{ "id": w.own.user_gid }, null]));
}

async fn missing_scope_is_refused_before_any_lookup(t: TestServer) {
    let w = world(&t).await;
    // Unbound: it could see every target, so only the scope check, done
    // first, keeps it from learning which ids exist.
    let reader = t.token(&["USERS_READ"], None).await;
    let bound_reader = t.token(&["USERS_READ"], Some(&["alpha"])).await;
    let before = t.snapshot().await;
    let other = cases(&w.own, &w.other);
    let missing = cases(&w.own, &w.missing);
    for (o, m) in other.iter().zip(&missing).filter(|(o, _)| o.mutation) {
        let o_response = t.gql(&reader, o.query, o.variables.clone()).await;
        let m_response = t.gql(&reader, m.query, m.variables.clone()).await;
        assert_code(&o_response, "FORBIDDEN");
        assert_no_data(&o_response, o.field);
        assert_eq!(
            normalised(&o_response, &o.uses),
            normalised(&m_response, &m.uses),
            "{}: a read-only token tells existing ({}) from missing ({})",
            o.query,
            o.variables,
            m.variables,
        );
    }
    // Bound and read-only, on the mutations.
    compare(&t, &w, &bound_reader, true, false).await;
    assert_unchanged(&before, &t.snapshot().await, "refused writes");
}

/// Fields that take neither an id nor a realm name.
const WITHOUT_IDS: [&str; 8] = [
    "viewer",
    "apiTokens",
    "realms",
    "roles",
    // A bound token reads its realms' requests; nothing names another's.
    "apiRequests",
    "apiRequestStats",
    "reportJobs",
    // The report of apiRequests: the same rows, no realm argument.
    "generateApiRequestReport",
];

/// The root fields of `type <name>` in schema.graphql.
fn root_fields(schema: &str, name: &str) -> Vec<String> {
    let start = format!("type {name} {{");
    let body = schema
        .split_once(&start)
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .map(|(body, _)| body)
        .unwrap_or_else(|| panic!("no {start} in schema.graphql"));
    let mut fields = Vec::new();
    let mut in_doc = false;
    for line in body.lines().map(str::trim) {
        if line.starts_with("\"\"\"") {
            // A one-line docstring opens and closes on the same line.
            if !(line.len() > 3 && line.ends_with("\"\"\"")) {
                in_doc = !in_doc;
            }
            continue;
        }
        if in_doc || line.is_empty() {
            continue;
        }
        let name: String = line
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        fields.push(name);
    }
    fields
}

/// A new query or mutation with an id or realm name needs a case above.
#[test]
fn every_field_with_an_id_or_realm_is_covered() {
    let own = Own {
        user: 1,
        user_gid: gid("User", 1),
        email: "a1@alpha.test".to_owned(),
        dataset: 1,
        serial: "A-TOKEN".to_owned(),
    };
    let schema = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("read schema.graphql");
    let covered: std::collections::BTreeSet<(bool, &str)> = cases(&own, &nothing())
        .iter()
        .map(|c| (c.mutation, c.field))
        .collect();
    for (mutation, type_name) in [(false, "Query"), (true, "Mutation")] {
        for field in root_fields(&schema, type_name) {
            if WITHOUT_IDS.contains(&field.as_str()) {
                continue;
            }
            assert!(
                covered.contains(&(mutation, field.as_str())),
                "{type_name}.{field} takes ids or realm names but has no isolation case"
            );
        }
    }
}

async fn an_empty_realm_list_is_bad_input(t: TestServer) {
    t.create_realm("alpha").await;
    let bound_manager = t
        .token(&["API_TOKENS_MANAGE", "USERS_READ"], Some(&["alpha"]))
        .await;
    let before = t.snapshot().await;
    let create = "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { secret token { realms } } }";
    for secret in [t.admin_secret().to_owned(), bound_manager.clone()] {
        let response = t
            .gql(
                &secret,
                create,
                json!({ "input": { "name": "nowhere", "scopes": ["USERS_READ"], "realms": [] } }),
            )
            .await;
        assert_bad_input(&response, "input.realms");
        assert_no_data(&response, "createApiToken");
    }
    assert_unchanged(&before, &t.snapshot().await, "createApiToken(realms: [])");
    // Omitting realms still inherits the creator's binding.
    let created = t
        .gql_ok(
            &bound_manager,
            create,
            json!({ "input": { "name": "child", "scopes": ["USERS_READ"] } }),
        )
        .await;
    assert_eq!(
        strings(&created["createApiToken"]["token"]["realms"]),
        sorted(&["alpha"])
    );
}
