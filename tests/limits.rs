//! What one request may ask for: `totalCount` and `nodes` cost what they read
//! under the complexity limit, `nodes` takes at most 100 ids, and a user
//! filter is bounded in values, AND/OR entries and depth (BAD_USER_INPUT
//! naming the list at fault, never a database error).

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};

backend_tests!(
    a_few_total_counts_fit_hundreds_do_not,
    nodes_takes_at_most_100_ids_and_costs_each,
    filter_lists_are_bounded,
    filter_nesting_is_bounded,
);

/// One realm with a dataset and two users (so every list has rows).
async fn fixture(t: &TestServer) -> Vec<String> {
    t.create_realm("acme").await;
    t.create_dataset("acme", "Invoices").await;
    t.create_user("acme", "ann@acme.test", &["TEAM_USER"]).await;
    t.create_user("acme", "bob@acme.test", &[]).await;
    let data = t
        .admin_ok("{ users { edges { node { id } } } }", json!({}))
        .await;
    strings(
        &nodes(&data["users"])
            .iter()
            .map(|n| n["id"].clone())
            .collect(),
    )
}

fn too_complex(response: &Value) {
    assert_code(response, "BAD_USER_INPUT");
    assert!(
        response.get("data").is_none_or(Value::is_null),
        "a rejected query runs nothing: {response}"
    );
    let message = errors(response)[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("too complex"), "{response}");
}

/// `n` aliases of `users(first: 0) { <selection> }`, after `fragments`.
fn aliased_users(n: usize, selection: &str, fragments: &str) -> String {
    let fields: String = (0..n)
        .map(|i| format!("a{i}: users(first: 0) {{ {selection} }} "))
        .collect();
    format!("{fragments} query {{ {fields} }}")
}

async fn a_few_total_counts_fit_hundreds_do_not(t: TestServer) {
    fixture(&t).await;
    // One of each list, a full page beside its count among them: the count
    // is charged once, not once per row of the page.
    let data = t
        .admin_ok(
            "{ users(first: 1000) { totalCount edges { node { userId email name status roles } } }
               userChangelog { totalCount } userSnapshots { totalCount } datasets { totalCount }
               counted: users { a: totalCount b: totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["users"]["totalCount"], 2);
    assert_eq!(data["userChangelog"]["totalCount"], 2);
    assert_eq!(data["userSnapshots"]["totalCount"], 2);
    assert_eq!(data["datasets"]["totalCount"], 1);
    assert_eq!(data["counted"]["a"], 2);
    assert_eq!(data["counted"]["b"], 2);

    // 40 counts fit in the default limit of 50,000; 60 do not, whether the
    // count is selected directly or through a fragment.
    let data = t
        .admin_ok(&aliased_users(40, "totalCount", ""), json!({}))
        .await;
    assert_eq!(data["a39"]["totalCount"], 2);
    too_complex(
        &t.admin(&aliased_users(60, "totalCount", ""), json!({}))
            .await,
    );
    too_complex(
        &t.admin(&aliased_users(300, "totalCount", ""), json!({}))
            .await,
    );
    let fragment = "fragment Count on UserConnection { totalCount }";
    too_complex(
        &t.admin(&aliased_users(60, "...Count", fragment), json!({}))
            .await,
    );
    too_complex(
        &t.admin(
            &aliased_users(60, "... on UserConnection { totalCount }", ""),
            json!({}),
        )
        .await,
    );
    // Without a count, the same aliases cost next to nothing.
    t.admin_ok(
        &aliased_users(300, "pageInfo { hasNextPage }", ""),
        json!({}),
    )
    .await;

    // A count under every user of a page runs once per user.
    too_complex(
        &t.admin(
            "{ users(first: 50) { edges { node { changelog(first: 1) { totalCount } } } } }",
            json!({}),
        )
        .await,
    );
    t.admin_ok(
        "{ users(first: 10) { edges { node { changelog(first: 1) { totalCount } } } } }",
        json!({}),
    )
    .await;
}

async fn nodes_takes_at_most_100_ids_and_costs_each(t: TestServer) {
    let ids = fixture(&t).await;
    let many = |n: usize| -> Vec<String> { ids.iter().cycle().take(n).cloned().collect() };
    let query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
    let data = t.admin_ok(query, json!({ "ids": many(100) })).await;
    assert_eq!(data["nodes"].as_array().map(Vec::len), Some(100));
    let response = t.admin(query, json!({ "ids": many(101) })).await;
    assert_bad_input(&response, "ids");
    let response = t.admin(query, json!({ "ids": many(5000) })).await;
    assert_bad_input(&response, "ids");

    // Each id costs what its node's selection costs: a changelog page of 200
    // is about 600, so 100 of them are over the limit and one is not.
    let deep = "query($ids: [ID!]!) { nodes(ids: $ids) {
                  ... on User { changelog(first: 200) { edges { node { id } } } } } }";
    t.admin_ok(deep, json!({ "ids": many(1) })).await;
    too_complex(&t.admin(deep, json!({ "ids": many(100) })).await);
}

/// The three lists that take a user filter, each with its count.
const FILTERED: [&str; 3] = [
    "query($f: UserFilter) { users(filter: $f) { totalCount } }",
    "query($f: UserFilter) { userSnapshots(filter: $f) { totalCount } }",
    "query($f: UserFilter) { userChangelog(filter: $f) { totalCount } }",
];

fn ids(from: i64, n: i64) -> Vec<i64> {
    (from..from + n).collect()
}

async fn filter_lists_are_bounded(t: TestServer) {
    fixture(&t).await;
    let before = t.snapshot().await;
    for query in FILTERED {
        // 1000 values in a list, 5000 in all the lists of a filter, work...
        let data = t
            .admin_ok(query, json!({ "f": { "userId": ids(1, 1000) } }))
            .await;
        let count =
            |data: &Value| data.as_object().unwrap().values().next().unwrap()["totalCount"].clone();
        assert_eq!(count(&data), 2, "{query}");
        let emails: Vec<Value> = (0..5)
            .map(|b| {
                let list: Vec<String> = (0..1000).map(|i| format!("u{b}-{i}@acme.test")).collect();
                json!({ "userEmail": list })
            })
            .collect();
        t.admin_ok(query, json!({ "f": { "OR": emails } })).await;
        // ... as does a long list of one role, read once.
        let roles = vec!["TEAM_USER"; 1000];
        let data = t.admin_ok(query, json!({ "f": { "role": roles } })).await;
        assert_eq!(count(&data), 1, "{query}");

        // One more is bad input naming the list, before the database sees it.
        let response = t
            .admin(query, json!({ "f": { "userId": ids(1, 1001) } }))
            .await;
        assert_bad_input(&response, "filter.userId");
        let response = t
            .admin(query, json!({ "f": { "userId": ids(1, 70_000) } }))
            .await;
        assert_bad_input(&response, "filter.userId");
        let response = t
            .admin(
                query,
                json!({ "f": { "AND": [{ "realm": vec!["acme"; 1001] }] } }),
            )
            .await;
        assert_bad_input(&response, "filter.AND[0].realm");
        let six: Vec<Value> = (0..6)
            .map(|b| json!({ "userId": ids(b * 1000, 1000) }))
            .collect();
        let response = t.admin(query, json!({ "f": { "OR": six } })).await;
        assert_bad_input(&response, "filter.OR[5].userId");
    }
    assert_unchanged(&before, &t.snapshot().await, "bounded filters");
}

/// A filter nested `depth` deep: AND inside AND, each with a userId list.
fn nested(depth: usize) -> Value {
    let mut filter = json!({ "userId": [1, 2] });
    for _ in 0..depth {
        filter = json!({ "userId": [1, 2], "AND": [filter] });
    }
    filter
}

async fn filter_nesting_is_bounded(t: TestServer) {
    fixture(&t).await;
    for query in FILTERED {
        // 100 OR entries, and AND/OR five deep, work.
        let branches: Vec<Value> = (1..=100).map(|i| json!({ "userId": [i] })).collect();
        let data = t.admin_ok(query, json!({ "f": { "OR": branches } })).await;
        assert!(
            data.to_string().contains("\"totalCount\":2"),
            "{query}: {data}"
        );
        t.admin_ok(query, json!({ "f": nested(5) })).await;

        // 101 entries (at any depth), or a sixth level, do not.
        let branches: Vec<Value> = (1..=101).map(|i| json!({ "userId": [i] })).collect();
        let response = t.admin(query, json!({ "f": { "OR": branches } })).await;
        assert_bad_input(&response, "filter.OR");
        let branches: Vec<Value> = (1..=2000).map(|i| json!({ "userId": [i] })).collect();
        let response = t.admin(query, json!({ "f": { "OR": branches } })).await;
        assert_bad_input(&response, "filter.OR");
        let inner: Vec<Value> = (1..=60).map(|i| json!({ "userId": [i] })).collect();
        let split = json!({ "AND": [{ "OR": inner.clone() }, { "OR": inner }] });
        let response = t.admin(query, json!({ "f": split })).await;
        assert_bad_input(&response, "filter.AND[1].OR");
        let response = t.admin(query, json!({ "f": nested(6) })).await;
        assert_bad_input(&response, "filter.AND[0].AND[0].AND[0].AND[0].AND[0].AND");
    }
}
