//! How a selection is executed: objects on a page are resolved in place
//! (src/graphql/inline.rs) and pages of users are read as one JSON document
//! (src/service/page.rs). Both must give exactly what async-graphql's own
//! execution gives for the same object, whatever the selection: aliases,
//! named and inline fragments (on the type and on an interface), `__typename`,
//! a field selected twice, `@skip`/`@include`, nested lists, fields that read
//! the database, and text that needs escaping.

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};

backend_tests!(
    page_nodes_equal_single_lookups,
    page_text_survives_json_round_trip,
    database_fields_resolve_inside_pages,
    connection_keys_follow_the_selection,
);

/// A selection exercising everything the in-place resolver walks. The `user`
/// lookup resolves through async-graphql's own container path; the `users`
/// page goes through the in-place path.
const SELECTION: &str = "
    __typename
    uid: userId
    userId
    email
    ... on Node { id }
    ...Profile
    realm { name }
    realm { id __typename }
    datasets { datasetName role __typename }
    enabled @include(if: $yes)
    status @skip(if: $yes)
    ... @include(if: $yes) { createdAt updatedAt deletedAt }
    ... on User { roles kind: __typename }
";

const FRAGMENT: &str = "fragment Profile on User { name email realm { seatLimit } }";

async fn setup(t: &TestServer) -> i64 {
    t.create_realm("acme").await;
    let ds = t.create_dataset("acme", "Invoices").await["datasetId"]
        .as_i64()
        .unwrap();
    let user = t
        .create_user_with(json!({
            "realm": "acme", "email": "kim@acme.test", "name": "Kim",
            "roles": ["TEAM_USER", "APP_ADMIN"],
            "datasets": [{ "datasetId": ds, "role": "ANALYST" }],
        }))
        .await;
    user["userId"].as_i64().unwrap()
}

async fn page_nodes_equal_single_lookups(t: TestServer) {
    let id = setup(&t).await;
    t.create_user("acme", "lee@acme.test", &[]).await;
    let query = format!(
        "query($id: Int, $yes: Boolean!) {{
           user(userId: $id) {{ {SELECTION} }}
           users(first: 10) {{ edges {{ cursor node {{ {SELECTION} }} }} }}
         }} {FRAGMENT}"
    );
    let data = t.admin_ok(&query, json!({ "id": id, "yes": true })).await;
    let single = &data["user"];
    let edges = data["users"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
    let on_page = &edges[0]["node"];
    assert_eq!(on_page, single, "a page node equals the single lookup");

    // And both are what the selection asks for.
    assert_eq!(single["__typename"], "User");
    assert_eq!(single["kind"], "User");
    assert_eq!(single["uid"], id);
    assert_eq!(single["name"], "Kim");
    assert_eq!(single["realm"]["name"], "acme", "merged: {single}");
    assert!(single["realm"]["id"].is_string(), "merged: {single}");
    assert_eq!(single["realm"]["__typename"], "Realm");
    assert!(single["realm"]["seatLimit"].is_null(), "{single}");
    assert_eq!(single["roles"], json!(["APP_ADMIN", "TEAM_USER"]));
    assert_eq!(
        single["datasets"],
        json!([{ "datasetName": "Invoices", "role": "ANALYST", "__typename": "DatasetRole" }])
    );
    assert_eq!(single["enabled"], true);
    assert!(single.get("status").is_none(), "@skip applied: {single}");
    assert!(single["createdAt"].is_string());
    assert!(single["deletedAt"].is_null());
    // Same bytes on the wire, so the same key order too: the order of the
    // selection, with a repeated key where it first appeared.
    let text = raw_response(&t, &query, json!({ "id": id, "yes": true })).await;
    let single_text = object_after(&text, "\"user\":");
    assert_eq!(object_after(&text, "\"node\":"), single_text);
    let order = [
        "__typename",
        "uid",
        "userId",
        "email",
        "id",
        "name",
        "realm",
        "datasets",
        "enabled",
        "createdAt",
        "updatedAt",
        "deletedAt",
        "roles",
        "kind",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|key| single_text.find(&format!("\"{key}\":")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "keys in selection order: {single_text}"
    );

    // With the directives flipped, the other fields appear instead.
    let data = t.admin_ok(&query, json!({ "id": id, "yes": false })).await;
    let single = &data["user"];
    assert_eq!(&data["users"]["edges"][0]["node"], single);
    assert_eq!(single["status"], "ACTIVE");
    assert!(single.get("enabled").is_none());
    assert!(single.get("createdAt").is_none());
}

async fn page_text_survives_json_round_trip(t: TestServer) {
    t.create_realm("acme").await;
    let names = [
        "Zoë \"Q\" O'Neil",
        "back\\slash / slash",
        "tab\tand\nnewline",
        "雪 🚀 \u{1}",
    ];
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let user = t
            .create_user_with(
                json!({ "realm": "acme", "email": format!("u{i}@acme.test"), "name": name }),
            )
            .await;
        ids.push(user["userId"].as_i64().unwrap());
    }
    let data = t
        .admin_ok(
            "{ users(first: 10) { edges { node { userId name email createdAt updatedAt } } } }",
            json!({}),
        )
        .await;
    let nodes: Vec<&Value> = data["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    assert_eq!(nodes.len(), names.len());
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node["userId"], ids[i]);
        assert_eq!(node["name"], names[i], "name survives the page read");
        let single = t.user(ids[i]).await;
        assert_eq!(node["createdAt"], single["createdAt"], "{node}");
        assert_eq!(node["updatedAt"], single["updatedAt"], "{node}");
    }
}

async fn database_fields_resolve_inside_pages(t: TestServer) {
    let id = setup(&t).await;
    let other = t.create_user("acme", "lee@acme.test", &["TEAM_USER"]).await;
    t.admin_ok(
        "mutation($id: Int!) { setUserStatus(userId: $id, status: SUSPENDED) { userId } }",
        json!({ "id": other }),
    )
    .await;
    let changes = "changelog(first: 5) { totalCount edges { node { userId status changesMade } } pageInfo { hasNextPage } }";
    let data = t
        .admin_ok(
            &format!(
                "query($a: Int, $b: Int) {{
                   a: user(userId: $a) {{ userId {changes} }}
                   b: user(userId: $b) {{ userId {changes} }}
                   users(first: 10) {{ edges {{ node {{ userId {changes} }} }} }}
                 }}"
            ),
            json!({ "a": id, "b": other }),
        )
        .await;
    let edges = data["users"]["edges"].as_array().unwrap();
    assert_eq!(edges[0]["node"], data["a"]);
    assert_eq!(edges[1]["node"], data["b"]);
    assert_eq!(data["b"]["changelog"]["totalCount"], 2, "{data}");
    assert_eq!(
        data["b"]["changelog"]["edges"][1]["node"]["status"],
        "SUSPENDED"
    );
}

/// `totalCount` reads the database while `edges` and `pageInfo` do not; the
/// response still lists them in the order they were asked for.
async fn connection_keys_follow_the_selection(t: TestServer) {
    setup(&t).await;
    for list in [
        "users(first: 2)",
        "userChangelog(first: 2)",
        "userSnapshots(first: 2)",
        "datasets(first: 2)",
    ] {
        let query =
            format!("{{ {list} {{ totalCount edges {{ cursor }} pageInfo {{ hasNextPage }} }} }}");
        let text = raw_response(&t, &query, json!({})).await;
        let at = |key: &str| {
            text.find(&format!("\"{key}\":"))
                .unwrap_or_else(|| panic!("no {key} in {text}"))
        };
        assert!(
            at("totalCount") < at("edges") && at("edges") < at("pageInfo"),
            "{list}: keys in selection order: {text}"
        );
    }
}

async fn raw_response(t: &TestServer, query: &str, variables: Value) -> String {
    let response = t
        .client()
        .post(t.endpoint())
        .bearer_auth(t.admin_secret())
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

/// The JSON object that follows the first `key` in `text`, as sent.
fn object_after<'a>(text: &'a str, key: &str) -> &'a str {
    let from = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        + key.len();
    let (mut depth, mut in_string, mut escaped) = (0, false, false);
    for (i, c) in text[from..].char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, '{') => depth += 1,
            (false, _, '}') => {
                depth -= 1;
                if depth == 0 {
                    return &text[from..=from + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced object after {key} in {text}")
}
