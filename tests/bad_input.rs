//! Bad input gets a clear error with the right code (and, for
//! BAD_USER_INPUT, the argument at fault in extensions.field) and changes
//! nothing at all: every stored row is compared before and after.

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};

backend_tests!(
    unknown_roles,
    duplicate_emails,
    unknown_realms,
    malformed_cursors_and_global_ids,
    page_sizes_out_of_range,
    unknown_users_and_datasets,
    invalid_values,
);

/// What every case starts from: two realms, a dataset each, two users.
struct Fixture {
    ann: i64,
    bob: i64,
    acme_ds: i64,
    globex_ds: i64,
}

async fn fixture(t: &TestServer) -> Fixture {
    t.create_realm("acme").await;
    t.create_realm("globex").await;
    let acme_ds = t.create_dataset("acme", "Invoices").await["datasetId"]
        .as_i64()
        .unwrap();
    let globex_ds = t.create_dataset("globex", "Orders").await["datasetId"]
        .as_i64()
        .unwrap();
    let ann = t.create_user("acme", "ann@acme.test", &["TEAM_USER"]).await;
    let bob = t.create_user("acme", "bob@acme.test", &[]).await;
    Fixture {
        ann,
        bob,
        acme_ds,
        globex_ds,
    }
}

/// One bad request and what it must answer.
struct Case {
    query: &'static str,
    variables: Value,
    code: &'static str,
    /// extensions.field, for BAD_USER_INPUT and CONFLICT.
    field: Option<&'static str>,
    /// Something the message must mention, so people can tell what was wrong.
    mentions: Option<&'static str>,
}

fn case(
    query: &'static str,
    variables: Value,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case {
        query,
        variables,
        code,
        field,
        mentions: None,
    }
}

impl Case {
    fn mentioning(mut self, text: &'static str) -> Self {
        self.mentions = Some(text);
        self
    }
}

/// Runs every case as admin and checks its answer, then that nothing changed.
async fn check(t: &TestServer, cases: Vec<Case>) {
    let before = t.snapshot().await;
    for c in cases {
        let response = t.admin(c.query, c.variables.clone()).await;
        let what = format!("{} with {}", c.query, c.variables);
        assert_eq!(code(&response), c.code, "{what}: {response}");
        let error = &errors(&response)[0];
        if let Some(field) = c.field {
            assert_eq!(
                error["extensions"]["field"].as_str(),
                Some(field),
                "{what}: extensions.field: {response}"
            );
        }
        let message = error["message"].as_str().unwrap_or_default();
        assert!(!message.trim().is_empty(), "{what}: no message");
        if let Some(text) = c.mentions {
            assert!(
                message.contains(text),
                "{what}: the message should mention {text:?}: {message:?}"
            );
        }
        if let Some(data) = response.get("data").and_then(Value::as_object) {
            assert!(
                data.values().all(Value::is_null),
                "{what}: no data on failure: {response}"
            );
        }
        assert_unchanged(&before, &t.snapshot().await, &what);
    }
}

async fn unknown_roles(t: TestServer) {
    let f = fixture(&t).await;
    let id = json!({ "id": f.ann, "ds": f.acme_ds });
    check(
        &t,
        vec![
            case(
                "mutation { createUser(input: {realm: \"acme\", email: \"new@acme.test\", name: \"New\", roles: [\"TEAM_USER\", \"WIZARD\"]}) { userId } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("input.roles"),
            )
            .mentioning("WIZARD"),
            case(
                "mutation($ds: Int!) { createUser(input: {realm: \"acme\", email: \"new@acme.test\", name: \"New\", datasets: [{datasetId: $ds, role: \"WIZARD\"}]}) { userId } }",
                json!({ "ds": f.acme_ds }),
                "BAD_USER_INPUT",
                Some("input.datasets"),
            )
            .mentioning("WIZARD"),
            case(
                "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"APP_ADMIN\", \"WIZARD\"]) { userId } }",
                id.clone(),
                "BAD_USER_INPUT",
                Some("roles"),
            )
            .mentioning("WIZARD"),
            case(
                "mutation($id: Int!) { addUserRoles(userId: $id, roles: [\"WIZARD\"]) { userId } }",
                id.clone(),
                "BAD_USER_INPUT",
                Some("roles"),
            ),
            case(
                "mutation($id: Int!) { removeUserRoles(userId: $id, roles: [\"WIZARD\"]) { userId } }",
                id.clone(),
                "BAD_USER_INPUT",
                Some("roles"),
            ),
            // A dataset role is not an app role, and the other way round.
            case(
                "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"ANALYST\"]) { userId } }",
                id.clone(),
                "BAD_USER_INPUT",
                Some("roles"),
            ),
            case(
                "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"WIZARD\") { userId } }",
                id.clone(),
                "BAD_USER_INPUT",
                Some("role"),
            )
            .mentioning("WIZARD"),
            case(
                "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"APP_ADMIN\") { userId } }",
                id.clone(),
                "BAD_USER_INPUT",
                Some("role"),
            ),
        ],
    )
    .await;
    // Filtering by an unknown role is bad input too.
    let response = t
        .admin(
            "{ users(filter: {role: [\"WIZARD\"]}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_code(&response, "BAD_USER_INPUT");
    let field = errors(&response)[0]["extensions"]["field"]
        .as_str()
        .unwrap_or_default();
    assert!(field.starts_with("filter"), "names the filter: {field:?}");
}

async fn duplicate_emails(t: TestServer) {
    let f = fixture(&t).await;
    check(
        &t,
        vec![
            case(
                "mutation { createUser(input: {realm: \"acme\", email: \"ann@acme.test\", name: \"Ann Again\"}) { userId } }",
                json!({}),
                "CONFLICT",
                Some("input.email"),
            )
            .mentioning("ann@acme.test"),
            case(
                "mutation { createUser(input: {realm: \"ACME\", email: \"ann@acme.test\", name: \"Ann Again\", roles: [\"APP_ADMIN\"]}) { userId } }",
                json!({}),
                "CONFLICT",
                Some("input.email"),
            ),
            case(
                "mutation($id: Int!) { updateUser(input: {userId: $id, email: \"ann@acme.test\"}) { userId } }",
                json!({ "id": f.bob }),
                "CONFLICT",
                Some("input.email"),
            ),
            case(
                "mutation { createRealm(name: \"acme\") { name } }",
                json!({}),
                "CONFLICT",
                None,
            ),
            case(
                "mutation { createRealm(name: \"Globex\") { name } }",
                json!({}),
                "CONFLICT",
                None,
            ),
        ],
    )
    .await;
    // The same email in another realm is fine.
    t.create_user("globex", "ann@acme.test", &[]).await;
}

async fn unknown_realms(t: TestServer) {
    fixture(&t).await;
    check(
        &t,
        vec![
            case(
                "mutation { createUser(input: {realm: \"nowhere\", email: \"x@acme.test\", name: \"X\"}) { userId } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("input.realm"),
            )
            .mentioning("nowhere"),
            case(
                "mutation { createDataset(realm: \"nowhere\", name: \"D\") { datasetId } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("realm"),
            ),
            case(
                "mutation { updateRealm(name: \"nowhere\", seatLimit: 3) { name } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("name"),
            ),
            case(
                "mutation { createApiToken(input: {name: \"t\", scopes: [USERS_READ], realms: [\"nowhere\"]}) { secret } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("input.realms"),
            ),
            case(
                "{ datasets(realm: \"nowhere\") { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("realm"),
            ),
            case(
                "{ user(email: \"ann@acme.test\", realm: \"nowhere\") { userId } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("realm"),
            ),
        ],
    )
    .await;
    let response = t
        .admin(
            "{ users(filter: {OR: [{realm: [\"acme\"]}, {realm: [\"nowhere\"]}]}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_code(&response, "BAD_USER_INPUT");
    let field = errors(&response)[0]["extensions"]["field"]
        .as_str()
        .unwrap_or_default();
    assert!(field.starts_with("filter"), "names the filter: {field:?}");
}

async fn malformed_cursors_and_global_ids(t: TestServer) {
    let f = fixture(&t).await;
    let ann = t.user(f.ann).await;
    let ann_gid = ann["id"].as_str().unwrap().to_owned();
    check(
        &t,
        vec![
            case(
                "{ users(after: \"garbage\") { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("after"),
            ),
            case(
                "{ users(last: 2, before: \"garbage\") { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("before"),
            ),
            case(
                "{ datasets(after: \"garbage\") { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("after"),
            ),
            case(
                "{ node(id: \"garbage\") { id } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("id"),
            ),
            case(
                "mutation { revokeApiToken(id: \"garbage\") { id } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("id"),
            ),
        ],
    )
    .await;
    // A well-formed id of another type is no API token.
    let before = t.snapshot().await;
    let response = t
        .admin(
            "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
            json!({ "id": ann_gid }),
        )
        .await;
    let c = code(&response);
    assert!(c == "BAD_USER_INPUT" || c == "NOT_FOUND", "{response}");
    assert_unchanged(&before, &t.snapshot().await, "revokeApiToken(a user's id)");
}

async fn page_sizes_out_of_range(t: TestServer) {
    fixture(&t).await;
    check(
        &t,
        vec![
            case(
                "{ users(first: -1) { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("first"),
            ),
            case(
                "{ users(first: 1001) { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("first"),
            ),
            case(
                "{ users(last: -1) { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("last"),
            ),
            case(
                "{ datasets(first: -1) { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("first"),
            ),
            case(
                "{ datasets(last: 5000) { totalCount } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("last"),
            ),
        ],
    )
    .await;
}

async fn unknown_users_and_datasets(t: TestServer) {
    let f = fixture(&t).await;
    check(
        &t,
        vec![
            case(
                "mutation { setUserStatus(userId: 987654, status: SUSPENDED) { userId } }",
                json!({}),
                "NOT_FOUND",
                None,
            ),
            case(
                "mutation { setUserRoles(userId: 987654, roles: [\"APP_ADMIN\"]) { userId } }",
                json!({}),
                "NOT_FOUND",
                None,
            ),
            case(
                "mutation { updateUser(input: {userId: 987654, name: \"X\"}) { userId } }",
                json!({}),
                "NOT_FOUND",
                None,
            ),
            case("mutation { deleteUser(userId: 987654) { userId } }", json!({}), "NOT_FOUND", None),
            case(
                "mutation($id: Int!) { setDatasetRole(userId: $id, datasetId: 987654, role: \"ANALYST\") { userId } }",
                json!({ "id": f.ann }),
                "BAD_USER_INPUT",
                Some("datasetId"),
            ),
            // A dataset of another realm cannot be granted.
            case(
                "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"ANALYST\") { userId } }",
                json!({ "id": f.ann, "ds": f.globex_ds }),
                "BAD_USER_INPUT",
                Some("datasetId"),
            ),
            case(
                "mutation($ds: Int!) { createUser(input: {realm: \"acme\", email: \"x@acme.test\", name: \"X\", datasets: [{datasetId: $ds, role: \"ANALYST\"}]}) { userId } }",
                json!({ "ds": f.globex_ds }),
                "BAD_USER_INPUT",
                Some("input.datasets"),
            ),
            case(
                "mutation { createUser(input: {realm: \"acme\", email: \"x@acme.test\", name: \"X\", datasets: [{datasetId: 987654, role: \"ANALYST\"}]}) { userId } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("input.datasets"),
            ),
        ],
    )
    .await;
}

async fn invalid_values(t: TestServer) {
    let f = fixture(&t).await;
    check(
        &t,
        vec![
            case(
                "mutation { createUser(input: {realm: \"acme\", email: \"not-an-email\", name: \"X\"}) { userId } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("input.email"),
            ),
            case(
                "mutation { createUser(input: {realm: \"acme\", email: \"x@acme.test\", name: \"  \"}) { userId } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("input.name"),
            ),
            case(
                "mutation($id: Int!) { updateUser(input: {userId: $id, email: \"nope\"}) { userId } }",
                json!({ "id": f.ann }),
                "BAD_USER_INPUT",
                Some("input.email"),
            ),
            case(
                "mutation { createRealm(name: \"has space\") { name } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("name"),
            ),
            case(
                "mutation { createRealm(name: \"\") { name } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("name"),
            ),
            case(
                "mutation { createRealm(name: \"initech\", seatLimit: -1) { name } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("seatLimit"),
            ),
            case(
                "mutation { updateRealm(name: \"acme\", seatLimit: -5) { name } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("seatLimit"),
            ),
            case(
                "mutation { createDataset(realm: \"acme\", name: \"\") { datasetId } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("name"),
            ),
            case(
                "mutation { createApiToken(input: {name: \"t\", scopes: []}) { secret } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("input.scopes"),
            ),
            case(
                "mutation { createApiToken(input: {name: \"\", scopes: [USERS_READ]}) { secret } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("input.name"),
            ),
            // The test clock starts at 2025-01-15T09:00:00Z.
            case(
                "mutation { createApiToken(input: {name: \"t\", scopes: [USERS_READ], expiresAt: \"2025-01-15T08:00:00Z\"}) { secret } }",
                json!({}),
                "BAD_USER_INPUT",
                Some("input.expiresAt"),
            ),
        ],
    )
    .await;

    // Values the schema itself refuses (an unknown enum value, a malformed
    // DateTime) fail validation, with an error and no effect.
    let before = t.snapshot().await;
    for (query, variables) in [
        (
            "mutation($id: Int!) { setUserStatus(userId: $id, status: BOGUS) { userId } }",
            json!({ "id": f.ann }),
        ),
        (
            "mutation($s: UserStatus!) { setUserStatus(userId: 1, status: $s) { userId } }",
            json!({ "s": "BOGUS" }),
        ),
        (
            "mutation { createApiToken(input: {name: \"t\", scopes: [USERS_READ], expiresAt: \"next tuesday\"}) { secret } }",
            json!({}),
        ),
    ] {
        let response = t.admin(query, variables).await;
        errors(&response);
        assert_no_data(&response, "setUserStatus");
        assert_no_data(&response, "createApiToken");
    }
    assert_unchanged(&before, &t.snapshot().await, "schema-invalid input");
}
