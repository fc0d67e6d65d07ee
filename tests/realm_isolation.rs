//! A token bound to realm `alpha` can neither read nor change anything of
//! realm `beta`: every query and mutation of the directory, tried on beta.
//! The token holds ADMIN, so only its realm binding stands in the way.
//! Beta's things look missing (null, NOT_FOUND); naming realm beta is
//! FORBIDDEN. tests/isolation_matrix.rs checks both answers equal those for
//! things that do not exist.

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};

backend_tests!(
    bound_token_reads_only_its_realm,
    bound_token_cannot_read_another_realm,
    bound_token_cannot_change_another_realm,
    bound_token_works_in_its_own_realm,
);

/// Two realms with a dataset and users each, and global ids of beta's things.
struct World {
    /// ADMIN, bound to alpha.
    alpha: String,
    a1: i64,
    a1_gid: String,
    alpha_users: Vec<i64>,
    alpha_dataset: i64,
    shared_alpha: i64,
    b1: i64,
    b1_gid: String,
    b1_email: String,
    beta_realm_gid: String,
    beta_dataset: i64,
    beta_dataset_gid: String,
    beta_change_gid: String,
    beta_token_gid: String,
    admin_token_gid: String,
}

async fn world(t: &TestServer) -> World {
    t.create_realm("alpha").await;
    let beta_realm = t.create_realm("beta").await;
    let alpha_dataset = t.create_dataset("alpha", "A-data").await;
    let beta_dataset = t.create_dataset("beta", "B-data").await;
    let a1 = t
        .create_user_with(json!({
            "realm": "alpha", "email": "a1@example.com", "name": "A One",
            "roles": ["TEAM_USER"],
            "datasets": [{ "datasetId": alpha_dataset["datasetId"], "role": "ANALYST" }],
        }))
        .await;
    let a2 = t
        .create_user("alpha", "a2@example.com", &["TEAM_ADMIN"])
        .await;
    let shared_alpha = t.create_user("alpha", "shared@example.com", &[]).await;
    let b1 = t
        .create_user_with(json!({
            "realm": "beta", "email": "b1@example.com", "name": "B One",
            "roles": ["TEAM_USER"],
            "datasets": [{ "datasetId": beta_dataset["datasetId"], "role": "ANALYST" }],
        }))
        .await;
    t.create_user("beta", "b2@example.com", &["APP_ADMIN"])
        .await;
    t.create_user("beta", "shared@example.com", &[]).await;

    let b1_id = b1["userId"].as_i64().unwrap();
    let change = t.changelog(b1_id).await;
    let beta_token = t
        .admin_ok(
            "mutation { createApiToken(input: {name: \"beta-reader\", scopes: [USERS_READ], realms: [\"beta\"]}) { token { id } } }",
            json!({}),
        )
        .await;
    let tokens = t.admin_ok("{ apiTokens { id name } }", json!({})).await;
    let admin_token_gid = tokens["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tok| tok["name"] == "admin")
        .map(|tok| tok["id"].as_str().unwrap().to_owned())
        .expect("the admin token is listed");

    let a1_id = a1["userId"].as_i64().unwrap();
    World {
        alpha: t.token(&["ADMIN"], Some(&["alpha"])).await,
        a1: a1_id,
        a1_gid: a1["id"].as_str().unwrap().to_owned(),
        alpha_users: vec![a1_id, a2, shared_alpha],
        alpha_dataset: alpha_dataset["datasetId"].as_i64().unwrap(),
        shared_alpha,
        b1: b1_id,
        b1_gid: b1["id"].as_str().unwrap().to_owned(),
        b1_email: "b1@example.com".to_owned(),
        beta_realm_gid: beta_realm["id"].as_str().unwrap().to_owned(),
        beta_dataset: beta_dataset["datasetId"].as_i64().unwrap(),
        beta_dataset_gid: beta_dataset["id"].as_str().unwrap().to_owned(),
        beta_change_gid: change[0]["id"].as_str().unwrap().to_owned(),
        beta_token_gid: beta_token["createApiToken"]["token"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        admin_token_gid,
    }
}

/// Asserts FORBIDDEN and that `field` came back empty.
#[track_caller]
fn forbidden(response: &Value, field: &str, what: &str) {
    refused(response, "FORBIDDEN", field, what);
}

/// Asserts every error has `expected` and that `field` came back empty.
#[track_caller]
fn refused(response: &Value, expected: &str, field: &str, what: &str) {
    assert_eq!(code(response), expected, "{what}: {response}");
    assert_no_data(response, field);
}

/// Asserts no error and that `field` is null: as if it did not exist.
#[track_caller]
fn absent(response: &Value, field: &str, what: &str) {
    assert!(response.get("errors").is_none(), "{what}: {response}");
    assert_no_data(response, field);
}

async fn bound_token_reads_only_its_realm(t: TestServer) {
    let w = world(&t).await;

    let realms = t.gql_ok(&w.alpha, "{ realms { name } }", json!({})).await;
    let names: Vec<&str> = realms["realms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha"]);

    let users = t
        .gql_ok(
            &w.alpha,
            "{ users(first: 100) { totalCount edges { node { userId realm { name } } } } }",
            json!({}),
        )
        .await;
    let mut ids = ints(&users["users"], "userId");
    ids.sort();
    assert_eq!(ids, w.alpha_users);
    assert_eq!(users["users"]["totalCount"], 3);

    // Filters that would match beta's users simply find nothing.
    for filter in [
        json!({ "userId": [w.b1] }),
        json!({ "userEmail": [w.b1_email] }),
        json!({ "role": ["APP_ADMIN"] }),
        json!({ "OR": [{ "userId": [w.b1] }, { "status": ["ACTIVE"], "role": ["APP_ADMIN"] }] }),
    ] {
        let users = t
            .gql_ok(
                &w.alpha,
                "query($f: UserFilter) { users(filter: $f) { totalCount edges { node { userId } } } }",
                json!({ "f": filter }),
            )
            .await;
        assert_eq!(users["users"]["totalCount"], 0, "{filter}");
        assert!(ints(&users["users"], "userId").is_empty(), "{filter}");
    }
    let team_users = t
        .gql_ok(
            &w.alpha,
            "{ users(filter: {role: [\"TEAM_USER\"]}) { totalCount edges { node { userId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(ints(&team_users["users"], "userId"), vec![w.a1]);

    // An email used in both realms resolves to alpha's user.
    let shared = t
        .gql_ok(
            &w.alpha,
            "{ user(email: \"shared@example.com\") { userId realm { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(shared["user"]["userId"], w.shared_alpha);

    let datasets = t
        .gql_ok(
            &w.alpha,
            "{ datasets { totalCount edges { node { datasetId realm { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        ints(&datasets["datasets"], "datasetId"),
        vec![w.alpha_dataset]
    );
    assert_eq!(datasets["datasets"]["totalCount"], 1);

    let tokens = t
        .gql_ok(&w.alpha, "{ apiTokens { name realms } }", json!({}))
        .await;
    for token in tokens["apiTokens"].as_array().unwrap() {
        assert_eq!(
            strings(&token["realms"]),
            sorted(&["alpha"]),
            "a token bound to alpha lists only tokens bound within alpha: {token}"
        );
    }

    let viewer = t.gql_ok(&w.alpha, "{ viewer { realms } }", json!({})).await;
    assert_eq!(strings(&viewer["viewer"]["realms"]), sorted(&["alpha"]));

    // Its own users, with their changelog, are fully readable.
    let own = t
        .gql_ok(
            &w.alpha,
            "query($id: ID!) { node(id: $id) { ... on User { userId realm { name } changelog { totalCount } } } }",
            json!({ "id": w.a1_gid }),
        )
        .await;
    assert_eq!(own["node"]["userId"], w.a1);
    assert_eq!(own["node"]["changelog"]["totalCount"], 1);
}

async fn bound_token_cannot_read_another_realm(t: TestServer) {
    let w = world(&t).await;
    let a = &w.alpha;

    for filter in [
        json!({ "realm": ["beta"] }),
        json!({ "realm": ["BETA"] }),
        json!({ "realm": ["alpha", "beta"] }),
        json!({ "OR": [{ "realm": ["alpha"] }, { "realm": ["beta"] }] }),
        json!({ "AND": [{ "status": ["ACTIVE"] }, { "OR": [{ "realm": ["beta"] }] }] }),
    ] {
        let response = t
            .gql(
                a,
                "query($f: UserFilter) { users(filter: $f) { totalCount edges { node { userId } } } }",
                json!({ "f": filter }),
            )
            .await;
        forbidden(&response, "users", &format!("users(filter: {filter})"));
    }

    let response = t
        .gql(
            a,
            "query($id: Int) { user(userId: $id) { userId email } }",
            json!({ "id": w.b1 }),
        )
        .await;
    absent(&response, "user", "user(userId) of beta");

    let response = t
        .gql(
            a,
            "query($e: String) { user(email: $e, realm: \"beta\") { userId } }",
            json!({ "e": w.b1_email }),
        )
        .await;
    forbidden(&response, "user", "user(email, realm: beta)");

    // Without a realm, beta's user is simply not there.
    let response = t
        .gql(
            a,
            "query($e: String) { user(email: $e) { userId } }",
            json!({ "e": w.b1_email }),
        )
        .await;
    absent(&response, "user", "user(email) of beta");

    let response = t
        .gql(
            a,
            "{ datasets(realm: \"beta\") { totalCount edges { node { datasetId } } } }",
            json!({}),
        )
        .await;
    forbidden(&response, "datasets", "datasets(realm: beta)");

    let node_query = "query($id: ID!) { node(id: $id) { id __typename } }";
    for (what, gid) in [
        ("beta user", &w.b1_gid),
        ("beta realm", &w.beta_realm_gid),
        ("beta dataset", &w.beta_dataset_gid),
        ("beta user change", &w.beta_change_gid),
        ("beta-bound API token", &w.beta_token_gid),
        ("unbound API token", &w.admin_token_gid),
    ] {
        let response = t.gql(a, node_query, json!({ "id": gid })).await;
        absent(&response, "node", &format!("node({what})"));
    }

    let response = t
        .gql(
            a,
            "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on User { userId email } } }",
            json!({ "ids": [w.a1_gid, w.b1_gid] }),
        )
        .await;
    assert_eq!(
        data(&response)["nodes"][1],
        Value::Null,
        "nodes with a beta id: {response}"
    );
    let leaked = response["data"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|n| n["userId"] == w.b1 || n["id"] == w.b1_gid.as_str());
    assert!(!leaked, "nodes leaked beta's user: {response}");

    let response = t.gql(a, "{ apiTokens { name } }", json!({})).await;
    let names: Vec<&str> = data(&response)["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tok| tok["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"beta-reader"), "{names:?}");
    assert!(!names.contains(&"admin"), "{names:?}");
}

async fn bound_token_cannot_change_another_realm(t: TestServer) {
    let w = world(&t).await;
    let a = &w.alpha;
    let before = t.snapshot().await;

    let attempts: Vec<(&str, &str, Value, &str)> = vec![
        (
            "createRealm",
            "mutation { createRealm(name: \"gamma\") { name } }",
            json!({}),
            "FORBIDDEN",
        ),
        (
            "updateRealm",
            "mutation { updateRealm(name: \"beta\", seatLimit: 5) { name } }",
            json!({}),
            "FORBIDDEN",
        ),
        // Realms are managed by unbound tokens only, even one's own.
        (
            "updateRealm",
            "mutation { updateRealm(name: \"alpha\", seatLimit: 5) { name } }",
            json!({}),
            "FORBIDDEN",
        ),
        (
            "createDataset",
            "mutation { createDataset(realm: \"beta\", name: \"sneaky\") { datasetId } }",
            json!({}),
            "FORBIDDEN",
        ),
        (
            "createUser",
            "mutation { createUser(input: {realm: \"beta\", email: \"x@example.com\", name: \"X\"}) { userId } }",
            json!({}),
            "FORBIDDEN",
        ),
        (
            "createUser",
            "mutation { createUser(input: {realm: \"BETA\", email: \"y@example.com\", name: \"Y\"}) { userId } }",
            json!({}),
            "FORBIDDEN",
        ),
        (
            "updateUser",
            "mutation($id: Int!) { updateUser(input: {userId: $id, name: \"Renamed\"}) { userId } }",
            json!({ "id": w.b1 }),
            "NOT_FOUND",
        ),
        (
            "setUserStatus",
            "mutation($id: Int!) { setUserStatus(userId: $id, status: SUSPENDED) { userId } }",
            json!({ "id": w.b1 }),
            "NOT_FOUND",
        ),
        (
            "setUserRoles",
            "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            json!({ "id": w.b1 }),
            "NOT_FOUND",
        ),
        (
            "addUserRoles",
            "mutation($id: Int!) { addUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            json!({ "id": w.b1 }),
            "NOT_FOUND",
        ),
        (
            "removeUserRoles",
            "mutation($id: Int!) { removeUserRoles(userId: $id, roles: [\"TEAM_USER\"]) { userId } }",
            json!({ "id": w.b1 }),
            "NOT_FOUND",
        ),
        // The dataset is resolved first, and beta's is as unknown as a missing one.
        (
            "setDatasetRole",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"MANAGER\") { userId } }",
            json!({ "id": w.b1, "ds": w.beta_dataset }),
            "BAD_USER_INPUT",
        ),
        (
            "setDatasetRole",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: null) { userId } }",
            json!({ "id": w.b1, "ds": w.beta_dataset }),
            "BAD_USER_INPUT",
        ),
        (
            "deleteUser",
            "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
            json!({ "id": w.b1 }),
            "NOT_FOUND",
        ),
        (
            "createApiToken",
            "mutation { createApiToken(input: {name: \"b\", scopes: [USERS_READ], realms: [\"beta\"]}) { secret } }",
            json!({}),
            "FORBIDDEN",
        ),
        (
            "createApiToken",
            "mutation { createApiToken(input: {name: \"ab\", scopes: [USERS_READ], realms: [\"alpha\", \"beta\"]}) { secret } }",
            json!({}),
            "FORBIDDEN",
        ),
        (
            "revokeApiToken",
            "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
            json!({ "id": w.beta_token_gid }),
            "NOT_FOUND",
        ),
        (
            "revokeApiToken",
            "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
            json!({ "id": w.admin_token_gid }),
            "NOT_FOUND",
        ),
    ];
    for (field, query, variables, expected) in &attempts {
        let response = t.gql(a, query, variables.clone()).await;
        refused(&response, expected, field, query);
    }

    // Reaching into beta through one's own user: beta's dataset is as
    // unknown as a missing one, and nothing happens.
    for (field, query, variables) in [
        (
            "setDatasetRole",
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"ANALYST\") { userId } }",
            json!({ "id": w.a1, "ds": w.beta_dataset }),
        ),
        (
            "createUser",
            "mutation($ds: Int!) { createUser(input: {realm: \"alpha\", email: \"z@example.com\", name: \"Z\", datasets: [{datasetId: $ds, role: \"ANALYST\"}]}) { userId } }",
            json!({ "ds": w.beta_dataset }),
        ),
    ] {
        let response = t.gql(a, query, variables).await;
        refused(&response, "BAD_USER_INPUT", field, query);
    }

    assert_unchanged(
        &before,
        &t.snapshot().await,
        "refused changes to realm beta",
    );
}

async fn bound_token_works_in_its_own_realm(t: TestServer) {
    let w = world(&t).await;
    let a = &w.alpha;

    let changed = t
        .gql_ok(
            a,
            "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { roles } }",
            json!({ "id": w.a1 }),
        )
        .await;
    assert_eq!(
        strings(&changed["setUserRoles"]["roles"]),
        sorted(&["APP_ADMIN"])
    );

    let created = t
        .gql_ok(
            a,
            "mutation($ds: Int!) { createUser(input: {realm: \"ALPHA\", email: \"new@example.com\", name: \"New\", datasets: [{datasetId: $ds, role: \"LABELER\"}]}) { userId realm { name } } }",
            json!({ "ds": w.alpha_dataset }),
        )
        .await;
    assert_eq!(created["createUser"]["realm"]["name"], "alpha");

    let dataset = t
        .gql_ok(
            a,
            "mutation { createDataset(realm: \"alpha\", name: \"More\") { realm { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(dataset["createDataset"]["realm"]["name"], "alpha");

    let token = t
        .gql_ok(
            a,
            "mutation { createApiToken(input: {name: \"alpha-child\", scopes: [USERS_READ]}) { token { realms } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        strings(&token["createApiToken"]["token"]["realms"]),
        sorted(&["alpha"])
    );

    let deleted = t
        .gql_ok(
            a,
            "mutation($id: Int!) { deleteUser(userId: $id) { deletedAt } }",
            json!({ "id": w.shared_alpha }),
        )
        .await;
    assert!(!deleted["deleteUser"]["deletedAt"].is_null());

    // Beta's namesake of the deleted user is untouched.
    let beta_shared = t
        .admin_ok(
            "{ user(email: \"shared@example.com\", realm: \"beta\") { deletedAt } }",
            json!({}),
        )
        .await;
    assert!(beta_shared["user"]["deletedAt"].is_null());
}
