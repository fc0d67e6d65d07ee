//! Audit events say which token acted (`actor_id`), and token events say
//! which realms the issued or revoked token is bound to: the `realm` column
//! when it is bound to exactly one, and always one `realm` resource per
//! bound realm.

#[macro_use]
mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};

backend_tests!(
    every_event_names_the_acting_token,
    token_events_carry_the_token_realms,
);

async fn admin_id(t: &TestServer) -> i32 {
    t.api_token_rows()
        .await
        .into_iter()
        .find(|row| row.name == "admin")
        .expect("the admin token")
        .id
}

async fn every_event_names_the_acting_token(t: TestServer) {
    let mark = t.last_audit_id().await;
    let admin = admin_id(&t).await;
    t.create_realm("acme").await;
    let (writer_id, writer) = t
        .token_named("writer", &["USERS_WRITE", "USERS_READ"], None, None)
        .await;

    let ds = t
        .gql_ok(
            &writer,
            "mutation { createDataset(realm: \"acme\", name: \"Invoices\") { datasetId } }",
            json!({}),
        )
        .await["createDataset"]["datasetId"]
        .clone();
    let user = t
        .gql_ok(
            &writer,
            "mutation { createUser(input: {realm: \"acme\", email: \"ann@acme.test\", name: \"Ann\"}) { userId } }",
            json!({}),
        )
        .await["createUser"]["userId"]
        .clone();
    for (query, variables) in [
        (
            "mutation($id: Int!) { updateUser(input: {userId: $id, name: \"Anne\"}) { userId } }",
            json!({ "id": user }),
        ),
        (
            "mutation($id: Int!) { setUserStatus(userId: $id, status: DORMANT) { userId } }",
            json!({ "id": user }),
        ),
        (
            "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"TEAM_USER\"]) { userId } }",
            json!({ "id": user }),
        ),
        (
            "mutation($id: Int!) { addUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            json!({ "id": user }),
        ),
        (
            "mutation($id: Int!) { removeUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            json!({ "id": user }),
        ),
        (
            "mutation($id: Int!, $ds: Int!) { setDatasetRole(userId: $id, datasetId: $ds, role: \"ANALYST\") { userId } }",
            json!({ "id": user, "ds": ds }),
        ),
        (
            "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
            json!({ "id": user }),
        ),
    ] {
        t.gql_ok(&writer, query, variables).await;
    }
    t.admin_ok(
        "mutation { updateRealm(name: \"acme\", seatLimit: 10) { name } }",
        json!({}),
    )
    .await;

    let events = t.audit_events_since(mark).await;
    let mut by_writer = Vec::new();
    for e in &events {
        let (id, name) = match e.event.as_str() {
            "realm.created" | "realm.updated" => (Some(admin), "admin"),
            // The writer token itself, issued by the system (no token).
            "api_token.created" => (None, "system"),
            _ => {
                assert_eq!(e.realm.as_deref(), Some("acme"), "{e:?}");
                by_writer.push(e.event.as_str());
                (Some(writer_id), "writer")
            }
        };
        assert_eq!(e.actor_id, id, "{e:?}");
        assert_eq!(e.actor.as_deref(), Some(name), "{e:?}");
    }
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| k.starts_with("realm.")).count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        by_writer,
        [
            "dataset.created",
            "user.created",
            "user.updated",
            "user.status_changed",
            "user.roles_changed",
            "user.roles_changed",
            "user.roles_changed",
            "user.dataset_role_changed",
            "user.deleted",
        ]
    );

    // A failed sign-in has no token to name.
    let mark = t.last_audit_id().await;
    let reply = t
        .post(
            Some("hc_nope_nope"),
            &json!({ "query": "{ viewer { name } }" }),
        )
        .await;
    assert_eq!(reply.status, 401);
    let failed = failed_sign_ins(&t, mark, 1).await;
    assert_eq!(failed.actor_id, None);
}

/// `(type, name) -> id` of an event's resources.
fn resources(event: &entity::audit_event::Model) -> BTreeMap<(String, String), Value> {
    let list: Vec<Value> = serde_json::from_str(&event.resources).expect("resources JSON");
    list.into_iter()
        .map(|r| {
            (
                (
                    r["type"].as_str().unwrap_or_default().to_owned(),
                    r["name"].as_str().unwrap_or_default().to_owned(),
                ),
                r["id"].clone(),
            )
        })
        .collect()
}

async fn token_events_carry_the_token_realms(t: TestServer) {
    t.create_realm("acme").await;
    t.create_realm("globex").await;
    let stored: BTreeMap<String, i32> = t
        .snapshot()
        .await
        .realms
        .into_iter()
        .map(|r| (r.name, r.id))
        .collect();
    let (manager_id, manager) = t
        .token_named("manager", &["API_TOKENS_MANAGE", "USERS_READ"], None, None)
        .await;

    let create =
        "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token { id } } }";
    let revoke = "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }";
    let cases = [
        ("one", Some(&["acme"][..]), Some("acme")),
        ("two", Some(&["acme", "globex"][..]), None),
        ("open", None, None),
    ];
    for (name, realms, column) in cases {
        let mut input = json!({ "name": name, "scopes": ["USERS_READ"] });
        if let Some(realms) = realms {
            input["realms"] = json!(realms);
        }
        let mark = t.last_audit_id().await;
        let created = t.gql_ok(&manager, create, json!({ "input": input })).await;
        let gid = created["createApiToken"]["token"]["id"].clone();
        t.gql_ok(&manager, revoke, json!({ "id": gid })).await;

        let token_id = t
            .api_token_rows()
            .await
            .into_iter()
            .find(|row| row.name == name)
            .expect("the new token")
            .id;
        let events = t.audit_events_since(mark).await;
        let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(kinds, ["api_token.created", "api_token.revoked"], "{name}");
        let mut expected = BTreeMap::new();
        expected.insert(
            ("api_token".to_owned(), name.to_owned()),
            json!(token_id.to_string()),
        );
        for realm in realms.into_iter().flatten() {
            expected.insert(
                ("realm".to_owned(), realm.to_string()),
                json!(stored[*realm].to_string()),
            );
        }
        for event in &events {
            assert_eq!(event.actor_id, Some(manager_id), "{name}: {event:?}");
            assert_eq!(event.realm.as_deref(), column, "{name}: {event:?}");
            assert_eq!(resources(event), expected, "{name}: {event:?}");
        }
    }
}
