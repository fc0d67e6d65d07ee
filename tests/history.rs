//! History written right: one user change and one audit event per mutation,
//! nothing for a no-op, dates from the injected clock, each user's changelog a
//! chain, and concurrent changes of one user serialized.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{Value, json};

backend_tests!(
    each_mutation_writes_one_change_and_one_event,
    no_op_mutations_write_nothing,
    changes_are_dated_by_the_clock_and_chained,
    concurrent_role_changes_serialize,
    concurrent_creates_of_one_email_conflict,
);

/// Runs `query` as admin, expecting success, and returns how many user
/// changes and audit events it wrote, and the events themselves.
async fn writes(
    t: &TestServer,
    query: &str,
    variables: Value,
) -> (u64, u64, Vec<entity::audit_event::Model>) {
    let before = t.counts().await;
    let mark = t.last_audit_id().await;
    t.admin_ok(query, variables).await;
    let after = t.counts().await;
    (
        after["user_changes"] - before["user_changes"],
        after["audit_events"] - before["audit_events"],
        t.audit_events_since(mark).await,
    )
}

fn set_of(value: &Value) -> BTreeSet<String> {
    strings(value).into_iter().collect()
}

async fn each_mutation_writes_one_change_and_one_event(t: TestServer) {
    let realm_q = "mutation { createRealm(name: \"acme\", seatLimit: 3) { name } }";
    let (changes, events, log) = writes(&t, realm_q, json!({})).await;
    assert_eq!(
        (changes, events),
        (0, 1),
        "createRealm: no user change, one event"
    );
    assert_eq!(log[0].realm.as_deref(), Some("acme"));
    assert_eq!(log[0].actor.as_deref(), Some("admin"));

    let (changes, events, _) = writes(
        &t,
        "mutation { updateRealm(name: \"acme\", seatLimit: 5) { name } }",
        json!({}),
    )
    .await;
    assert_eq!((changes, events), (0, 1), "updateRealm");

    let (changes, events, _) = writes(
        &t,
        "mutation { createDataset(realm: \"acme\", name: \"Invoices\") { datasetId } }",
        json!({}),
    )
    .await;
    assert_eq!((changes, events), (0, 1), "createDataset");
    let dataset = t
        .admin_ok("{ datasets { edges { node { datasetId } } } }", json!({}))
        .await;
    let ds = ints(&dataset["datasets"], "datasetId")[0];

    let (changes, events, log) = writes(
        &t,
        "mutation { createUser(input: {realm: \"acme\", email: \"ann@acme.test\", name: \"Ann\", roles: [\"TEAM_USER\"]}) { userId } }",
        json!({}),
    )
    .await;
    assert_eq!((changes, events), (1, 1), "createUser");
    assert_eq!(log[0].realm.as_deref(), Some("acme"));
    assert_eq!(log[0].actor.as_deref(), Some("admin"));
    assert_eq!(log[0].ip_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(log[0].occurred_at, t.now().timestamp_micros());
    let found = t
        .admin_ok(
            "{ user(email: \"ann@acme.test\", realm: \"acme\") { id userId } }",
            json!({}),
        )
        .await;
    let user = found["user"]["userId"].as_i64().unwrap();
    let gid = found["user"]["id"].as_str().unwrap().to_owned();

    let id = json!({ "id": user, "ds": ds });
    let mutations: [(&str, &str, &[&str]); 9] = [
        (
            "updateUser",
            "mutation($id: Int!) { updateUser(input: {userId: $id, name: \"Ann B\"}) { userId } }",
            &["PROFILE"],
        ),
        (
            "setUserStatus",
            "mutation($id: Int!) { setUserStatus(userId: $id, status: DORMANT) { userId } }",
            &["STATUS"],
        ),
        (
            "setUserStatus",
            "mutation($id: Int!) { setUserStatus(userId: $id, status: SUSPENDED) { userId } }",
            &["ENABLEMENT", "STATUS"],
        ),
        (
            "setUserRoles",
            "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            &["APP_ROLE"],
        ),
        (
            "addUserRoles",
            "mutation($id: Int!) { addUserRoles(userId: $id, roles: [\"TEAM_ADMIN\"]) { userId } }",
            &["APP_ROLE"],
        ),
        (
            "removeUserRoles",
            "mutation($id: Int!) { removeUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            &["APP_ROLE"],
        ),
        (
            "setDatasetRole",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"ANALYST\") { userId } }",
            &["DATASET_ROLE"],
        ),
        (
            "setDatasetRole",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: null) { userId } }",
            &["DATASET_ROLE"],
        ),
        (
            "deleteUser",
            "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
            &["DELETED"],
        ),
    ];
    for (name, query, expected) in mutations {
        t.clock().advance(chrono::Duration::minutes(1));
        let (changes, events, log) = writes(&t, query, id.clone()).await;
        assert_eq!(
            (changes, events),
            (1, 1),
            "{name} writes one change and one event"
        );
        let event = &log[0];
        assert_eq!(event.realm.as_deref(), Some("acme"), "{name}: {event:?}");
        assert_eq!(event.actor.as_deref(), Some("admin"), "{name}: {event:?}");
        assert_eq!(
            event.occurred_at,
            t.now().timestamp_micros(),
            "{name}: {event:?}"
        );
        assert!(
            event.resources.contains("ann"),
            "{name}: the event names the user: {event:?}"
        );
        let log = t.changelog_of(&gid).await;
        let last = log.last().unwrap();
        assert_eq!(
            set_of(&last["changesMade"]),
            expected.iter().map(|s| s.to_string()).collect(),
            "{name}: changesMade"
        );
        assert_eq!(
            datetime(&last["date"]),
            t.now(),
            "{name}: dated by the clock"
        );
    }
    let rows = t.user_change_rows(user).await;
    assert_eq!(rows.len(), 10, "history survives the deletion");
    let names: Vec<String> = t
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e.event.starts_with("user."))
        .map(|e| e.event)
        .collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert_eq!(names[0], "user.created");
    assert_eq!(names[9], "user.deleted");

    // Issuing and revoking tokens is audited too.
    let (changes, events, log) = writes(
        &t,
        "mutation { createApiToken(input: {name: \"ci\", scopes: [USERS_READ]}) { token { id } } }",
        json!({}),
    )
    .await;
    assert_eq!((changes, events), (0, 1), "createApiToken");
    assert_eq!(log[0].event, "api_token.created");
    let tokens = t.admin_ok("{ apiTokens { id name } }", json!({})).await;
    let ci = tokens["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tok| tok["name"] == "ci")
        .unwrap()["id"]
        .clone();
    let (changes, events, log) = writes(
        &t,
        "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
        json!({ "id": ci }),
    )
    .await;
    assert_eq!((changes, events), (0, 1), "revokeApiToken");
    assert_eq!(log[0].event, "api_token.revoked");
}

async fn no_op_mutations_write_nothing(t: TestServer) {
    t.create_realm("acme").await;
    let realm_q = "mutation { updateRealm(name: \"acme\", seatLimit: 7) { seatLimit } }";
    t.admin_ok(realm_q, json!({})).await;
    let ds = t.create_dataset("acme", "Invoices").await["datasetId"]
        .as_i64()
        .unwrap();
    let ds_other = t.create_dataset("acme", "Receipts").await["datasetId"]
        .as_i64()
        .unwrap();
    let user = t
        .create_user_with(json!({
            "realm": "acme", "email": "ann@acme.test", "name": "Ann",
            "status": "DORMANT", "roles": ["TEAM_USER", "APP_ADMIN"],
            "datasets": [{ "datasetId": ds, "role": "ANALYST" }],
        }))
        .await;
    let id = user["userId"].as_i64().unwrap();
    t.clock().advance(chrono::Duration::hours(1));

    let vars = json!({ "id": id, "ds": ds, "other": ds_other });
    let no_ops = [
        realm_q,
        "mutation($id: Int!) { updateUser(input: {userId: $id}) { userId } }",
        "mutation($id: Int!) { updateUser(input: {userId: $id, name: \"Ann\", email: \"ann@acme.test\"}) { userId } }",
        "mutation($id: Int!) { setUserStatus(userId: $id, status: DORMANT) { userId } }",
        "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"APP_ADMIN\", \"TEAM_USER\"]) { userId } }",
        "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"TEAM_USER\", \"APP_ADMIN\", \"TEAM_USER\"]) { userId } }",
        "mutation($id: Int!) { addUserRoles(userId: $id, roles: [\"TEAM_USER\"]) { userId } }",
        "mutation($id: Int!) { addUserRoles(userId: $id, roles: []) { userId } }",
        "mutation($id: Int!) { removeUserRoles(userId: $id, roles: [\"TEAM_ADMIN\"]) { userId } }",
        "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"ANALYST\") { userId } }",
        "mutation($id: Int!, $other: Int!) { setDatasetRole(userId: $id, datasetId: $other, role: null) { userId } }",
    ];
    let before = t.snapshot().await;
    for query in no_ops {
        let response = t.admin(query, vars.clone()).await;
        data(&response);
        assert_unchanged(&before, &t.snapshot().await, query);
    }
    let after = t.user(id).await;
    assert_eq!(
        after, user,
        "a no-op leaves the user (and updatedAt) as it was"
    );
    assert_eq!(t.changelog(id).await.len(), 1);
}

async fn changes_are_dated_by_the_clock_and_chained(t: TestServer) {
    t.create_realm("acme").await;
    let ds = t.create_dataset("acme", "Invoices").await["datasetId"]
        .as_i64()
        .unwrap();
    let (_, writer) = t
        .token_named("hr-sync", &["USERS_WRITE", "USERS_READ"], None, None)
        .await;

    // History written at chosen past times.
    t.clock().set(at("2024-03-01T10:00:00Z"));
    let created = t
        .gql_ok(
            &writer,
            "mutation { createUser(input: {realm: \"acme\", email: \"ann@acme.test\", name: \"Ann\", roles: [\"TEAM_USER\"]}) { userId } }",
            json!({}),
        )
        .await;
    let id = created["createUser"]["userId"].as_i64().unwrap();
    let steps: [(&str, &str, Value); 5] = [
        (
            "2024-03-02T08:30:00Z",
            "mutation($id: Int!) { setUserStatus(userId: $id, status: SUSPENDED) { userId } }",
            json!({ "id": id }),
        ),
        (
            "2024-03-05T00:00:00Z",
            "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"APP_ADMIN\", \"TEAM_USER\"]) { userId } }",
            json!({ "id": id }),
        ),
        (
            "2024-04-01T12:00:00Z",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"MANAGER\") { userId } }",
            json!({ "id": id, "ds": ds }),
        ),
        (
            "2024-04-01T12:00:00Z",
            "mutation($id: Int!) { setUserStatus(userId: $id, status: ACTIVE) { userId } }",
            json!({ "id": id }),
        ),
        (
            "2024-05-10T23:59:59Z",
            "mutation($id: Int!) { updateUser(input: {userId: $id, email: \"ann.b@acme.test\"}) { userId } }",
            json!({ "id": id }),
        ),
    ];
    for (when, query, vars) in &steps {
        t.clock().set(at(when));
        t.gql_ok(&writer, query, vars.clone()).await;
    }

    let log = t.changelog(id).await;
    assert_eq!(log.len(), 6);
    let dates: Vec<String> = log
        .iter()
        .map(|c| datetime(&c["date"]).to_rfc3339())
        .collect();
    let mut expected = vec![at("2024-03-01T10:00:00Z").to_rfc3339()];
    expected.extend(steps.iter().map(|(when, _, _)| at(when).to_rfc3339()));
    assert_eq!(
        dates, expected,
        "each change is dated by the clock at the time"
    );

    for change in &log {
        assert_eq!(change["userId"], id);
        assert_eq!(change["realm"], "acme");
        assert_eq!(
            change["updaterEmail"], "hr-sync",
            "updaterEmail is the API token's name"
        );
        assert!(change["updatedBy"].is_null(), "no user made it: {change}");
    }
    let created = &log[0];
    assert_eq!(created["changesMade"], json!(["CREATED"]));
    assert!(created["previouslyEnabled"].is_null());
    assert!(created["previousStatus"].is_null());
    assert_eq!(created["previousRoles"], json!([]));
    assert_eq!(created["previousDatasets"], json!([]));
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["enabled"], true);
    assert_eq!(strings(&created["roles"]), sorted(&["TEAM_USER"]));
    assert_eq!(created["userEmail"], "ann@acme.test");

    let suspended = &log[1];
    assert_eq!(
        set_of(&suspended["changesMade"]),
        ["ENABLEMENT", "STATUS"].map(String::from).into()
    );
    assert_eq!(suspended["previouslyEnabled"], true);
    assert_eq!(suspended["enabled"], false);
    assert_eq!(suspended["previousStatus"], "ACTIVE");
    assert_eq!(suspended["status"], "SUSPENDED");

    assert_eq!(log[2]["changesMade"], json!(["APP_ROLE"]));
    assert_eq!(
        strings(&log[2]["roles"]),
        sorted(&["APP_ADMIN", "TEAM_USER"])
    );
    assert_eq!(log[3]["changesMade"], json!(["DATASET_ROLE"]));
    assert_eq!(
        log[3]["datasets"],
        json!([{ "datasetId": ds, "datasetName": "Invoices", "role": "MANAGER" }])
    );
    assert_eq!(log[5]["changesMade"], json!(["PROFILE"]));
    assert_eq!(log[5]["userEmail"], "ann.b@acme.test");

    // Each entry's "previous" is the prior entry's "after".
    assert_chain(&log);

    // Full state is carried along, not just what changed.
    let last = &log[5];
    assert_eq!(last["status"], "ACTIVE");
    assert_eq!(last["previousStatus"], "ACTIVE");
    assert_eq!(strings(&last["roles"]), sorted(&["APP_ADMIN", "TEAM_USER"]));
    assert_eq!(last["datasets"], log[3]["datasets"]);

    // A clock that steps back does not break the chain's order.
    t.clock().set(at("2024-01-01T00:00:00Z"));
    t.gql_ok(
        &writer,
        "mutation($id: Int!) { setUserRoles(userId: $id, roles: []) { userId } }",
        json!({ "id": id }),
    )
    .await;
    let log = t.changelog(id).await;
    assert_eq!(log.len(), 7);
    assert_eq!(log[6]["roles"], json!([]), "the newest change comes last");
    assert!(datetime(&log[6]["date"]) >= datetime(&log[5]["date"]));
    assert_chain(&log);

    // The user's own timestamps come from the same clock.
    let user = t.user(id).await;
    assert_eq!(datetime(&user["createdAt"]), at("2024-03-01T10:00:00Z"));
}

#[track_caller]
fn assert_chain(log: &[Value]) {
    for pair in log.windows(2) {
        let (prior, next) = (&pair[0], &pair[1]);
        assert_eq!(
            set_of(&next["previousRoles"]),
            set_of(&prior["roles"]),
            "previousRoles of {next} must be the roles of {prior}"
        );
        assert_eq!(next["previousStatus"], prior["status"], "{next}");
        assert_eq!(next["previouslyEnabled"], prior["enabled"], "{next}");
        assert_eq!(next["previousDatasets"], prior["datasets"], "{next}");
        assert!(
            datetime(&next["date"]) >= datetime(&prior["date"]),
            "dates ascend: {next}"
        );
    }
}

/// The i-th of 30 distinct, non-empty sets of app roles.
fn role_set(i: usize) -> Vec<&'static str> {
    let mask = i + 1; // 1..=30 of the 63 non-empty subsets
    APP_ROLES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, role)| *role)
        .collect()
}

async fn concurrent_role_changes_serialize(t: TestServer) {
    t.create_realm("acme").await;
    let id = t.create_user("acme", "busy@acme.test", &[]).await;
    let before = t.counts().await;

    let sets: Vec<Vec<&str>> = (0..30).map(role_set).collect();
    let distinct: BTreeSet<&Vec<&str>> = sets.iter().collect();
    assert_eq!(distinct.len(), 30);

    let calls = sets.iter().map(|roles| {
        let t = t.clone();
        let roles = roles.clone();
        tokio::spawn(async move {
            t.admin(
                "mutation($id: Int!, $r: [String!]!) { setUserRoles(userId: $id, roles: $r) { roles } }",
                json!({ "id": id, "r": roles }),
            )
            .await
        })
    });
    let responses = futures::future::join_all(calls).await;
    for response in responses {
        let response = response.expect("the call's task");
        data(&response);
    }

    let after = t.counts().await;
    assert_eq!(
        after["user_changes"] - before["user_changes"],
        30,
        "one change per call"
    );
    assert_eq!(
        after["audit_events"] - before["audit_events"],
        30,
        "one event per call"
    );

    let log = t.changelog(id).await;
    assert_eq!(log.len(), 31, "CREATED and 30 role changes");
    assert_eq!(log[0]["changesMade"], json!(["CREATED"]));
    for change in &log[1..] {
        assert_eq!(change["changesMade"], json!(["APP_ROLE"]), "{change}");
    }
    assert_chain(&log);
    // Every set was applied exactly once; the last one stands.
    let applied: BTreeSet<BTreeSet<String>> =
        log[1..].iter().map(|c| set_of(&c["roles"])).collect();
    let asked: BTreeSet<BTreeSet<String>> = sets
        .iter()
        .map(|s| s.iter().map(|r| r.to_string()).collect())
        .collect();
    assert_eq!(applied, asked);
    let user = t.user(id).await;
    assert_eq!(set_of(&user["roles"]), set_of(&log[30]["roles"]));
    // The stored rows agree: a single chain with one open end.
    let rows = t.user_change_rows(id).await;
    assert_eq!(rows.len(), 31);
}

async fn concurrent_creates_of_one_email_conflict(t: TestServer) {
    t.create_realm("acme").await;
    let before = t.counts().await;
    let calls = (0..10).map(|i| {
        let t = t.clone();
        tokio::spawn(async move {
            t.admin(
                "mutation($name: String!) { createUser(input: {realm: \"acme\", email: \"same@acme.test\", name: $name}) { userId } }",
                json!({ "name": format!("Twin {i}") }),
            )
            .await
        })
    });
    let responses = futures::future::join_all(calls).await;
    let mut created = 0;
    for response in responses {
        let response = response.expect("the call's task");
        if response.get("errors").is_some() {
            assert_code(&response, "CONFLICT");
            assert_eq!(
                errors(&response)[0]["extensions"]["field"].as_str(),
                Some("input.email"),
                "{response}"
            );
        } else {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one of ten concurrent creates wins");
    let after = t.counts().await;
    assert_eq!(after["users"] - before["users"], 1);
    assert_eq!(after["user_changes"] - before["user_changes"], 1);
    assert_eq!(after["audit_events"] - before["audit_events"], 1);
}
