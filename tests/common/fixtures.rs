//! What tests set up, as the admin, through GraphQL.

use super::*;

impl TestServer {
    /// Creates a realm; returns it (`id name seatLimit createdAt`).
    pub async fn create_realm(&self, name: &str) -> Value {
        let data = self
            .admin_ok(
                "mutation($name: String!) { createRealm(name: $name) { id name seatLimit createdAt } }",
                json!({ "name": name }),
            )
            .await;
        data["createRealm"].clone()
    }

    /// Creates a dataset; returns it (`id datasetId name realm{name}`).
    pub async fn create_dataset(&self, realm: &str, name: &str) -> Value {
        let data = self
            .admin_ok(
                "mutation($realm: String!, $name: String!) {
                   createDataset(realm: $realm, name: $name) { id datasetId name realm { name } }
                 }",
                json!({ "realm": realm, "name": name }),
            )
            .await;
        data["createDataset"].clone()
    }

    /// Creates a user from a full CreateUserInput; returns the user (USER_FIELDS).
    pub async fn create_user_with(&self, input: Value) -> Value {
        let data = self
            .admin_ok(
                &format!(
                    "mutation($input: CreateUserInput!) {{ createUser(input: $input) {{ {USER_FIELDS} }} }}"
                ),
                json!({ "input": input }),
            )
            .await;
        data["createUser"].clone()
    }

    /// Creates an ACTIVE user with app roles; returns their userId.
    pub async fn create_user(&self, realm: &str, email: &str, roles: &[&str]) -> i64 {
        let name = email.split('@').next().unwrap_or(email);
        let user = self
            .create_user_with(json!({
                "realm": realm, "email": email, "name": name, "roles": roles,
            }))
            .await;
        user["userId"].as_i64().expect("userId")
    }

    /// Sets a user's status, as the admin.
    pub async fn set_user_status(&self, user_id: i64, status: &str) {
        self.admin_ok(
            "mutation($id: Int!, $s: UserStatus!) { setUserStatus(userId: $id, status: $s) { userId } }",
            json!({ "id": user_id, "s": status }),
        )
        .await;
    }

    /// Deletes a user, as the admin.
    pub async fn delete_user(&self, user_id: i64) {
        self.admin_ok(
            "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
            json!({ "id": user_id }),
        )
        .await;
    }

    /// A user's current state as admin sees it (USER_FIELDS), or Null.
    pub async fn user(&self, user_id: i64) -> Value {
        let data = self
            .admin_ok(
                &format!("query($id: Int) {{ user(userId: $id) {{ {USER_FIELDS} }} }}"),
                json!({ "id": user_id }),
            )
            .await;
        data["user"].clone()
    }

    /// A live user's whole changelog, oldest first, as admin sees it.
    pub async fn changelog(&self, user_id: i64) -> Vec<Value> {
        let data = self
            .admin_ok(
                &format!(
                    "query($id: Int) {{ user(userId: $id) {{ changelog(first: 1000) {{
                       totalCount edges {{ node {{ {CHANGE_FIELDS} }} }} }} }} }}"
                ),
                json!({ "id": user_id }),
            )
            .await;
        changelog_nodes(&data["user"]["changelog"])
    }

    /// The whole changelog of the user with global id `gid` (deleted or
    /// not), oldest first, as admin sees it.
    pub async fn changelog_of(&self, gid: &str) -> Vec<Value> {
        let data = self
            .admin_ok(
                &format!(
                    "query($id: ID!) {{ node(id: $id) {{ ... on User {{ changelog(first: 1000) {{
                       totalCount edges {{ node {{ {CHANGE_FIELDS} }} }} }} }} }} }}"
                ),
                json!({ "id": gid }),
            )
            .await;
        changelog_nodes(&data["node"]["changelog"])
    }
}

fn changelog_nodes(log: &Value) -> Vec<Value> {
    let nodes: Vec<Value> = nodes(log);
    assert_eq!(
        log["totalCount"].as_u64(),
        Some(nodes.len() as u64),
        "changelog totalCount disagrees with its edges"
    );
    nodes
}
