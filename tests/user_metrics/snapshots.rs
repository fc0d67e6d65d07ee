//! `userSnapshots`: users as they stood at an instant, filtered on that
//! state, paged both ways.

use chrono::Duration;
use serde_json::{Value, json};

use super::*;

backend_tests!(
    snapshots_show_users_as_they_stood,
    snapshots_filter_on_the_state_at_the_instant,
    snapshots_walk_forward_and_backward,
    snapshots_default_to_now_and_reject_the_future,
);

// ───────────────────────── userSnapshots ─────────────────────────

const SNAPSHOT_FIELDS: &str = "asOf userId email name realm createdAt status enabled roles \
     datasets { datasetId datasetName role } user { userId email name deletedAt }";

fn snapshots_query(total: bool) -> String {
    format!(
        "query($date: DateTime, $f: UserFilter, $first: Int, $after: String, $last: Int, $before: String) {{
  userSnapshots(date: $date, filter: $f, first: $first, after: $after, last: $last, before: $before) {{
    {}
    edges {{ cursor node {{ {SNAPSHOT_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}",
        if total { "totalCount" } else { "" }
    )
}

/// Every snapshot at `date` (None: now) matching `filter`, as `secret` sees
/// them; checks totalCount and the flags of the single page.
async fn snapshots_as(
    t: &TestServer,
    secret: &str,
    date: Option<&str>,
    filter: Value,
) -> Vec<Value> {
    let mut vars = json!({ "f": filter, "first": 1000 });
    if let Some(date) = date {
        vars["date"] = json!(date);
    }
    let response = t.gql(secret, &snapshots_query(true), vars).await;
    let connection = &data(&response)["userSnapshots"];
    check_page_info(connection);
    let nodes = nodes(connection);
    assert_eq!(
        connection["totalCount"].as_u64(),
        Some(nodes.len() as u64),
        "totalCount at {date:?} with filter {filter}: {connection}"
    );
    assert_eq!(flags(connection), (false, false), "{connection}");
    if let Some(date) = date {
        for node in &nodes {
            assert_eq!(
                datetime(&node["asOf"]),
                at(date),
                "asOf echoes the instant: {node}"
            );
        }
    }
    let ids = ids_of(&nodes, "userId");
    let mut sorted_ids = ids.clone();
    sorted_ids.sort_by_key(|v| v.as_i64());
    assert_eq!(ids, sorted_ids, "snapshots come in userId order");
    nodes
}

async fn snapshots(t: &TestServer, date: Option<&str>, filter: Value) -> Vec<Value> {
    snapshots_as(t, t.admin_secret(), date, filter).await
}

fn user_ids(nodes: &[Value]) -> Vec<i64> {
    nodes
        .iter()
        .map(|n| n["userId"].as_i64().expect("userId"))
        .collect()
}

fn by_id(nodes: &[Value], id: i64) -> &Value {
    nodes
        .iter()
        .find(|n| n["userId"] == id)
        .unwrap_or_else(|| panic!("user {id} missing in {nodes:?}"))
}

/// Users and a dataset with this history (clock back at START after):
///
/// | when (UTC)        | what                                                     |
/// |-------------------|----------------------------------------------------------|
/// | 2025-01-02 10:00  | u1 a ann@a.test ACTIVE [TEAM_USER]; u2 a bob@a.test DORMANT [APP_ADMIN]; u3 b cid@b.test ACTIVE [] |
/// | 2025-01-03 10:00  | u1 ANALYST on Invoices; u3 SUSPENDED                     |
/// | 2025-01-04 10:00  | u1 renamed ann.b@a.test "Ann B"; u2 roles [TEAM_ADMIN]   |
/// | 2025-01-05 10:00  | u4 b dan@b.test ACTIVE [APP_ADMIN]; u2 deleted           |
/// | 2025-01-06 10:00  | u1 MANAGER on Invoices; u3 ACTIVE                        |
struct SnapshotWorld {
    u1: i64,
    u2: i64,
    u3: i64,
    u4: i64,
    ds: i64,
}

async fn snapshot_world(t: &TestServer) -> SnapshotWorld {
    t.create_realm("a").await;
    t.create_realm("b").await;
    let ds = t.create_dataset("a", "Invoices").await["datasetId"]
        .as_i64()
        .unwrap();
    clock_to(t, "2025-01-02T10:00:00Z");
    let u1 = create(t, "a", "ann@a.test", "ACTIVE", &["TEAM_USER"]).await;
    let u2 = create(t, "a", "bob@a.test", "DORMANT", &["APP_ADMIN"]).await;
    let u3 = create(t, "b", "cid@b.test", "ACTIVE", &[]).await;
    clock_to(t, "2025-01-03T10:00:00Z");
    set_dataset_role(t, u1, ds, Some("ANALYST")).await;
    set_status(t, u3, "SUSPENDED").await;
    clock_to(t, "2025-01-04T10:00:00Z");
    rename(t, u1, "ann.b@a.test", "Ann B").await;
    set_roles(t, u2, &["TEAM_ADMIN"]).await;
    clock_to(t, "2025-01-05T10:00:00Z");
    let u4 = create(t, "b", "dan@b.test", "ACTIVE", &["APP_ADMIN"]).await;
    delete(t, u2).await;
    clock_to(t, "2025-01-06T10:00:00Z");
    set_dataset_role(t, u1, ds, Some("MANAGER")).await;
    set_status(t, u3, "ACTIVE").await;
    clock_to(t, START);
    SnapshotWorld { u1, u2, u3, u4, ds }
}

async fn snapshots_show_users_as_they_stood(t: TestServer) {
    let SnapshotWorld { u1, u2, u3, u4, ds } = snapshot_world(&t).await;
    let created = at("2025-01-02T10:00:00Z");

    // Before anything existed: nothing.
    assert!(
        snapshots(&t, Some("2025-01-02T09:59:59Z"), Value::Null)
            .await
            .is_empty()
    );
    // Created exactly at the instant: there.
    let first = snapshots(&t, Some("2025-01-02T10:00:00Z"), Value::Null).await;
    assert_eq!(user_ids(&first), vec![u1, u2, u3]);

    let s = snapshots(&t, Some("2025-01-03T12:00:00Z"), Value::Null).await;
    assert_eq!(user_ids(&s), vec![u1, u2, u3], "u4 did not exist yet");
    let ann = by_id(&s, u1);
    assert_eq!(
        ann["email"], "ann@a.test",
        "the address of that time: {ann}"
    );
    assert_eq!(ann["name"], "ann");
    assert_eq!(ann["realm"], "a");
    assert_eq!(ann["status"], "ACTIVE");
    assert_eq!(ann["enabled"], true);
    assert_eq!(ann["roles"], json!(["TEAM_USER"]));
    assert_eq!(
        ann["datasets"],
        json!([{ "datasetId": ds, "datasetName": "Invoices", "role": "ANALYST" }])
    );
    assert_eq!(datetime(&ann["createdAt"]), created);
    // `user` is the record as it is now.
    assert_eq!(ann["user"]["userId"], u1);
    assert_eq!(ann["user"]["email"], "ann.b@a.test");
    assert_eq!(ann["user"]["name"], "Ann B");
    let bob = by_id(&s, u2);
    assert_eq!(bob["status"], "DORMANT");
    assert_eq!(bob["enabled"], true, "DORMANT users are enabled");
    assert_eq!(bob["roles"], json!(["APP_ADMIN"]));
    assert_eq!(bob["datasets"], json!([]));
    assert!(bob["user"].is_null(), "bob is deleted now: {bob}");
    let cid = by_id(&s, u3);
    assert_eq!(cid["status"], "SUSPENDED");
    assert_eq!(cid["enabled"], false);
    assert_eq!(cid["realm"], "b");
    assert_eq!(cid["roles"], json!([]));
    assert_eq!(cid["user"]["email"], "cid@b.test");

    // A change exactly at the instant is in the state at it.
    let s = snapshots(&t, Some("2025-01-04T10:00:00Z"), Value::Null).await;
    let ann = by_id(&s, u1);
    assert_eq!(ann["email"], "ann.b@a.test");
    assert_eq!(ann["name"], "Ann B");
    assert_eq!(
        datetime(&ann["createdAt"]),
        created,
        "createdAt never moves"
    );
    assert_eq!(by_id(&s, u2)["roles"], json!(["TEAM_ADMIN"]));
    // One microsecond earlier, the old state.
    let s = snapshots(&t, Some("2025-01-04T09:59:59.999999Z"), Value::Null).await;
    assert_eq!(by_id(&s, u1)["email"], "ann@a.test");
    assert_eq!(by_id(&s, u2)["roles"], json!(["APP_ADMIN"]));

    // Deleted exactly at the instant: gone; created exactly then: there.
    let s = snapshots(&t, Some("2025-01-05T10:00:00Z"), Value::Null).await;
    assert_eq!(user_ids(&s), vec![u1, u3, u4]);
    assert_eq!(by_id(&s, u4)["roles"], json!(["APP_ADMIN"]));
    assert_eq!(
        datetime(&by_id(&s, u4)["createdAt"]),
        at("2025-01-05T10:00:00Z")
    );
    let s = snapshots(&t, Some("2025-01-05T09:59:59Z"), Value::Null).await;
    assert_eq!(user_ids(&s), vec![u1, u2, u3]);
    assert_eq!(by_id(&s, u2)["roles"], json!(["TEAM_ADMIN"]));

    // Later: the dataset role changed, cid reactivated.
    let s = snapshots(&t, Some("2025-01-10T00:00:00Z"), Value::Null).await;
    assert_eq!(user_ids(&s), vec![u1, u3, u4]);
    assert_eq!(
        by_id(&s, u1)["datasets"],
        json!([{ "datasetId": ds, "datasetName": "Invoices", "role": "MANAGER" }])
    );
    assert_eq!(by_id(&s, u3)["status"], "ACTIVE");
    assert_eq!(by_id(&s, u3)["enabled"], true);

    // An offset in the instant is honoured (11:00+01:00 is 10:00Z).
    let s = snapshots(&t, Some("2025-01-05T11:00:00+01:00"), Value::Null).await;
    assert_eq!(user_ids(&s), vec![u1, u3, u4]);
}

async fn snapshots_filter_on_the_state_at_the_instant(t: TestServer) {
    let SnapshotWorld { u1, u2, u3, u4, .. } = snapshot_world(&t).await;
    let at3 = Some("2025-01-03T12:00:00Z");
    let at4 = Some("2025-01-04T12:00:00Z");
    let at2 = Some("2025-01-02T12:00:00Z");
    let now = Some("2025-01-10T00:00:00Z");
    let cases: Vec<(Option<&str>, Value, Vec<i64>)> = vec![
        (at3, json!({ "realm": ["b"] }), vec![u3]),
        (at3, json!({ "realm": ["a", "b"] }), vec![u1, u2, u3]),
        (at3, json!({ "status": ["SUSPENDED"] }), vec![u3]),
        (at2, json!({ "status": ["SUSPENDED"] }), vec![]),
        (now, json!({ "status": ["SUSPENDED"] }), vec![]),
        (
            at3,
            json!({ "status": ["ACTIVE", "DORMANT"] }),
            vec![u1, u2],
        ),
        (at3, json!({ "role": ["APP_ADMIN"] }), vec![u2]),
        (at4, json!({ "role": ["APP_ADMIN"] }), vec![]),
        (now, json!({ "role": ["APP_ADMIN"] }), vec![u4]),
        (at3, json!({ "role": ["TEAM_ADMIN"] }), vec![]),
        (at4, json!({ "role": ["TEAM_ADMIN"] }), vec![u2]),
        // A dataset role.
        (at2, json!({ "role": ["ANALYST"] }), vec![]),
        (at3, json!({ "role": ["ANALYST"] }), vec![u1]),
        (now, json!({ "role": ["ANALYST"] }), vec![]),
        (now, json!({ "role": ["MANAGER"] }), vec![u1]),
        (
            now,
            json!({ "role": ["MANAGER", "APP_ADMIN"] }),
            vec![u1, u4],
        ),
        // The address as it was at the instant.
        (at3, json!({ "userEmail": ["ann@a.test"] }), vec![u1]),
        (at3, json!({ "userEmail": ["ann.b@a.test"] }), vec![]),
        (at4, json!({ "userEmail": ["ann.b@a.test"] }), vec![u1]),
        (at4, json!({ "userEmail": ["ann@a.test"] }), vec![]),
        (
            at3,
            json!({ "userEmail": ["bob@a.test", "cid@b.test"] }),
            vec![u2, u3],
        ),
        (at3, json!({ "userId": [u1, u3] }), vec![u1, u3]),
        (at3, json!({ "userId": [u4] }), vec![]),
        (now, json!({ "userId": [u2] }), vec![]),
        // Fields of one filter all apply.
        (
            at3,
            json!({ "realm": ["a"], "status": ["DORMANT"] }),
            vec![u2],
        ),
        // OR: any of them.
        (
            at3,
            json!({ "OR": [{ "realm": ["b"] }, { "role": ["APP_ADMIN"] }] }),
            vec![u2, u3],
        ),
        (
            now,
            json!({ "OR": [{ "realm": ["b"] }, { "role": ["APP_ADMIN"] }] }),
            vec![u3, u4],
        ),
        // AND: all of them.
        (
            at3,
            json!({ "AND": [{ "status": ["SUSPENDED"] }, { "realm": ["b"] }] }),
            vec![u3],
        ),
        (
            now,
            json!({ "AND": [{ "status": ["SUSPENDED"] }, { "realm": ["b"] }] }),
            vec![],
        ),
        // Nested.
        (
            at3,
            json!({ "AND": [
                { "status": ["ACTIVE", "DORMANT"] },
                { "OR": [{ "realm": ["b"] }, { "role": ["ANALYST"] }] },
            ] }),
            vec![u1],
        ),
        (
            at3,
            json!({
                "realm": ["a"],
                "OR": [
                    { "AND": [{ "status": ["DORMANT"] }, { "role": ["APP_ADMIN"] }] },
                    { "userEmail": ["cid@b.test"] },
                ],
            }),
            vec![u2],
        ),
    ];
    for (date, filter, expected) in cases {
        let found = snapshots(&t, date, filter.clone()).await;
        assert_eq!(
            user_ids(&found),
            expected,
            "userSnapshots(date: {date:?}, filter: {filter})"
        );
    }

    // A token bound to realm b sees b's users only, with or without a filter.
    let bound = t.token(&["USERS_READ"], Some(&["b"])).await;
    assert_eq!(
        user_ids(&snapshots_as(&t, &bound, at3, Value::Null).await),
        vec![u3]
    );
    assert_eq!(
        user_ids(&snapshots_as(&t, &bound, at3, json!({ "userId": [u1, u2, u3] })).await),
        vec![u3]
    );
    let response = t
        .gql(
            &bound,
            &snapshots_query(true),
            json!({ "date": at3, "f": { "realm": ["a"] } }),
        )
        .await;
    assert_code(&response, "FORBIDDEN");
    assert_no_data(&response, "userSnapshots");

    // Unknown names in the filter are bad input naming the field.
    for (filter, field) in [
        (json!({ "realm": ["nope"] }), "filter.realm"),
        (json!({ "role": ["NOPE"] }), "filter.role"),
    ] {
        let response = t
            .admin(&snapshots_query(true), json!({ "date": at3, "f": filter }))
            .await;
        assert_bad_input(&response, field);
        assert_no_data(&response, "userSnapshots");
    }
}

async fn snapshots_walk_forward_and_backward(t: TestServer) {
    t.create_realm("a").await;
    t.create_realm("b").await;
    let mut ids = Vec::new();
    for i in 0..23 {
        clock_to(&t, "2025-01-02T00:00:00Z");
        t.clock().advance(Duration::hours(i));
        let realm = if i % 3 == 0 { "b" } else { "a" };
        let status = ["ACTIVE", "DORMANT", "SUSPENDED"][(i % 4).min(2) as usize];
        ids.push((
            create(&t, realm, &format!("user{i:02}@{realm}.test"), status, &[]).await,
            realm,
        ));
    }
    clock_to(&t, "2025-01-02T21:00:00Z");
    delete(&t, ids[4].0).await;
    delete(&t, ids[9].0).await;
    clock_to(&t, "2025-01-02T21:30:00Z");
    delete(&t, ids[14].0).await;
    clock_to(&t, START);
    // Also after the instant: more users and changes, none of which show.
    create(&t, "a", "late@a.test", "ACTIVE", &[]).await;
    set_status(&t, ids[1].0, "SUSPENDED").await;

    let instant = "2025-01-02T21:30:00Z";
    let expected: Vec<i64> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i <= 21 && ![4, 9, 14].contains(i))
        .map(|(_, (id, _))| *id)
        .collect();
    assert_eq!(expected.len(), 19);
    let in_a: Vec<i64> = ids
        .iter()
        .enumerate()
        .filter(|(i, (_, realm))| *i <= 21 && ![4, 9, 14].contains(i) && *realm == "a")
        .map(|(_, (id, _))| *id)
        .collect();

    let query = snapshots_query(true);
    let admin = t.admin_secret().to_owned();
    for (filter, expected) in [(Value::Null, &expected), (json!({ "realm": ["a"] }), &in_a)] {
        let vars = json!({ "date": instant, "f": filter });
        for size in [5, 1, 19, 50] {
            let forward = walk_forward(
                &t,
                &admin,
                (&query, "userSnapshots"),
                &vars,
                size,
                expected.len(),
            )
            .await;
            assert_eq!(
                &user_ids(&forward),
                expected,
                "forward by {size}, filter {filter}"
            );
            let backward = walk_backward(
                &t,
                &admin,
                (&query, "userSnapshots"),
                &vars,
                size,
                expected.len(),
            )
            .await;
            assert_eq!(
                &user_ids(&backward),
                expected,
                "backward by {size}, filter {filter}"
            );
        }
        // totalCount is the whole list's on every page.
        let page = page(
            &t,
            &admin,
            &query,
            "userSnapshots",
            with(&vars, json!({ "first": 5 })),
        )
        .await;
        assert_eq!(
            page["totalCount"].as_u64(),
            Some(expected.len() as u64),
            "{filter}"
        );
        let after = page["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
        let next = self::page(
            &t,
            &admin,
            &query,
            "userSnapshots",
            with(&vars, json!({ "first": 5, "after": after })),
        )
        .await;
        assert_eq!(next["totalCount"].as_u64(), Some(expected.len() as u64));
        assert_eq!(user_ids(&nodes(&next)), expected[5..10].to_vec());
        // Back from the second page's start: the first page, and exactly a
        // next page.
        let before = next["pageInfo"]["startCursor"].as_str().unwrap().to_owned();
        let back = self::page(
            &t,
            &admin,
            &query,
            "userSnapshots",
            with(&vars, json!({ "last": 3, "before": before })),
        )
        .await;
        assert_eq!(user_ids(&nodes(&back)), expected[2..5].to_vec());
        assert_eq!(flags(&back), (true, true));
    }
    // Without totalCount selected, the same pages.
    let query = snapshots_query(false);
    let vars = json!({ "date": instant });
    let forward = walk_forward(
        &t,
        &admin,
        (&query, "userSnapshots"),
        &vars,
        7,
        expected.len(),
    )
    .await;
    assert_eq!(user_ids(&forward), expected);
}

async fn snapshots_default_to_now_and_reject_the_future(t: TestServer) {
    let SnapshotWorld { u1, u3, u4, .. } = snapshot_world(&t).await;
    let now = snapshots(&t, None, Value::Null).await;
    assert_eq!(user_ids(&now), vec![u1, u3, u4]);
    for node in &now {
        assert_eq!(datetime(&node["asOf"]), t.now(), "asOf is now: {node}");
        // As of now, the snapshot is the current record.
        let user = &node["user"];
        assert_eq!(node["email"], user["email"], "{node}");
        assert_eq!(node["name"], user["name"], "{node}");
    }
    // Now is the clock's: move it back and the later history is not there yet.
    clock_to(&t, "2025-01-04T12:00:00Z");
    let then = snapshots(&t, None, Value::Null).await;
    assert_eq!(datetime(&then[0]["asOf"]), at("2025-01-04T12:00:00Z"));
    assert_eq!(user_ids(&then).len(), 3);
    assert!(!user_ids(&then).contains(&u4));
    // A date after now is bad input.
    for date in [
        "2025-01-04T12:00:00.000001Z",
        "2025-01-05T10:00:00Z",
        "2030-01-01",
    ] {
        let response = t
            .admin(&snapshots_query(true), json!({ "date": date }))
            .await;
        assert_bad_input(&response, "date");
        assert_no_data(&response, "userSnapshots");
    }
    // Now itself is fine.
    assert_eq!(
        snapshots(&t, Some("2025-01-04T12:00:00Z"), Value::Null).await,
        then
    );
    // Reading snapshots needs USERS_READ.
    let no_scope = t.token(&["CHANGELOG_READ"], None).await;
    let response = t.gql(&no_scope, &snapshots_query(true), json!({})).await;
    assert_code(&response, "FORBIDDEN");
    assert_no_data(&response, "userSnapshots");
    // A malformed date names the argument too: written into the query, and
    // passed as a variable (last, so a failure here hides nothing above).
    let response = t
        .admin(
            "{ userSnapshots(date: \"yesterday\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_bad_input(&response, "date");
    assert_no_data(&response, "userSnapshots");
    let response = t
        .admin(&snapshots_query(true), json!({ "date": "yesterday" }))
        .await;
    assert_bad_input(&response, "date");
    assert_no_data(&response, "userSnapshots");
}
