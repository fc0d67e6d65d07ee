//! User metrics over HTTP (issue 3, items 1–3), one file per query:
//! `userSummary` on past dates and in time zones (summary.rs), `userSnapshots`
//! as of any instant (snapshots.rs), and `userChangelog` with its range,
//! filters, ordering, keyset paging and errors (changelog.rs). History is
//! written at chosen past times by moving the server's clock.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod changelog;
mod snapshots;
mod summary;

use common::*;
use serde_json::json;

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
    t.set_user_status(id, status).await;
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
    t.delete_user(id).await;
}
