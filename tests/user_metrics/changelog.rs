//! `userChangelog`: half-open range, AND/OR filters, keyset paging both
//! ways, cursors that survive new changes, bad input naming the argument.

use std::collections::{BTreeSet, HashMap};

use chrono::Duration;
use serde_json::{Value, json};

use super::*;

backend_tests!(
    changelog_range_is_half_open_and_ordered,
    changelog_filters_nest_with_and_or,
    changelog_matches_renamed_users_by_current_email,
    changelog_walks_forward_and_backward,
    changelog_cursor_survives_new_changes,
    changelog_total_count_only_when_selected,
    changelog_rejects_bad_input_naming_the_argument,
    changelog_needs_scope_and_respects_realms,
);

// ───────────────────────── userChangelog ─────────────────────────

const CHANGE_NODE: &str = "id date userId userEmail realm status enabled roles \
     datasets { datasetId datasetName role } changesMade";

fn changelog_query(total: bool) -> String {
    format!(
        "query($start: DateTime, $end: DateTime, $f: UserFilter, $types: [UserChangeType!],
       $order: UserChangeOrder, $first: Int, $after: String, $last: Int, $before: String) {{
  userChangelog(startDate: $start, endDate: $end, filter: $f, changeTypes: $types,
                orderBy: $order, first: $first, after: $after, last: $last, before: $before) {{
    {}
    edges {{ cursor node {{ {CHANGE_NODE} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}",
        if total { "totalCount" } else { "" }
    )
}

/// The whole changelog for `vars` in one page, as `secret` sees it; checks
/// totalCount and both flags.
async fn changes_as(t: &TestServer, secret: &str, vars: Value) -> Vec<Value> {
    let response = t
        .gql(
            secret,
            &changelog_query(true),
            with(&vars, json!({ "first": 1000 })),
        )
        .await;
    let connection = &data(&response)["userChangelog"];
    check_page_info(connection);
    let nodes = nodes(connection);
    assert_eq!(
        connection["totalCount"].as_u64(),
        Some(nodes.len() as u64),
        "totalCount for {vars}: {connection}"
    );
    assert_eq!(flags(connection), (false, false), "{connection}");
    nodes
}

async fn changes(t: &TestServer, vars: Value) -> Vec<Value> {
    changes_as(t, t.admin_secret(), vars).await
}

fn change_ids(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect()
}

/// (date, id) ascending: the order of the changelog. Global ids do not sort
/// numerically, so ties are checked against the list's own order elsewhere.
#[track_caller]
fn assert_dates_ascend(nodes: &[Value]) {
    for pair in nodes.windows(2) {
        assert!(
            datetime(&pair[0]["date"]) <= datetime(&pair[1]["date"]),
            "dates ascend: {} then {}",
            pair[0],
            pair[1]
        );
    }
}

fn types(node: &Value) -> BTreeSet<String> {
    strings(&node["changesMade"]).into_iter().collect()
}

async fn changelog_range_is_half_open_and_ordered(t: TestServer) {
    t.create_realm("a").await;
    clock_to(&t, "2025-01-02T00:00:00Z");
    let id = create(&t, "a", "ann@a.test", "ACTIVE", &[]).await;
    clock_to(&t, "2025-01-03T00:00:00Z");
    add_roles(&t, id, &["APP_ADMIN"]).await; // 1
    clock_to(&t, "2025-01-03T12:00:00Z");
    set_status(&t, id, "SUSPENDED").await; // 2: STATUS + ENABLEMENT
    clock_to(&t, "2025-01-04T00:00:00Z");
    set_status(&t, id, "DORMANT").await; // 3: STATUS + ENABLEMENT
    clock_to(&t, "2025-01-05T00:00:00Z");
    set_status(&t, id, "ACTIVE").await; // 4: STATUS only
    remove_roles(&t, id, &["APP_ADMIN"]).await; // 5: same instant
    clock_to(&t, START);

    let all = changes(&t, json!({})).await;
    assert_eq!(all.len(), 6);
    assert_dates_ascend(&all);
    let id_at = |i: usize| all[i]["id"].as_str().unwrap().to_owned();
    let pick = |idx: &[usize]| idx.iter().map(|i| id_at(*i)).collect::<Vec<_>>();
    assert_eq!(types(&all[0]), ["CREATED".to_owned()].into());
    assert_eq!(
        types(&all[2]),
        ["ENABLEMENT", "STATUS"].map(String::from).into()
    );
    assert_eq!(types(&all[4]), ["STATUS".to_owned()].into());
    assert_eq!(types(&all[5]), ["APP_ROLE".to_owned()].into());

    let ranges: Vec<(Value, Vec<usize>)> = vec![
        // startDate included, endDate excluded.
        (
            json!({ "start": "2025-01-03T00:00:00Z", "end": "2025-01-04T00:00:00Z" }),
            vec![1, 2],
        ),
        (
            json!({ "start": "2025-01-03T00:00:00.000001Z", "end": "2025-01-04T00:00:00Z" }),
            vec![2],
        ),
        (
            json!({ "start": "2025-01-03T00:00:00Z", "end": "2025-01-04T00:00:00.000001Z" }),
            vec![1, 2, 3],
        ),
        (json!({ "end": "2025-01-03T00:00:00Z" }), vec![0]),
        (json!({ "start": "2025-01-04T00:00:00Z" }), vec![3, 4, 5]),
        (
            json!({ "start": "2025-01-05T00:00:00Z", "end": "2025-01-05T00:00:00.000001Z" }),
            vec![4, 5],
        ),
        // An empty range is empty, not an error.
        (
            json!({ "start": "2025-01-03T00:00:00Z", "end": "2025-01-03T00:00:00Z" }),
            vec![],
        ),
        (
            json!({ "start": "2024-01-01T00:00:00Z", "end": "2025-01-02T00:00:00Z" }),
            vec![],
        ),
        // Offsets and bare dates (midnight UTC).
        (
            json!({ "start": "2025-01-03T01:00:00+01:00", "end": "2025-01-03T19:00:00-05:00" }),
            vec![1, 2],
        ),
        (
            json!({ "start": "2025-01-03", "end": "2025-01-04" }),
            vec![1, 2],
        ),
    ];
    for (vars, expected) in ranges {
        assert_eq!(
            change_ids(&changes(&t, vars.clone()).await),
            pick(&expected),
            "{vars}"
        );
    }

    let by_type: Vec<(Value, Vec<usize>)> = vec![
        (json!(["APP_ROLE"]), vec![1, 5]),
        (json!(["STATUS", "ENABLEMENT"]), vec![2, 3, 4]),
        (json!(["ENABLEMENT"]), vec![2, 3]),
        (json!(["CREATED"]), vec![0]),
        (json!(["CREATED", "APP_ROLE"]), vec![0, 1, 5]),
        (json!(["DATASET_ROLE", "PROFILE", "DELETED"]), vec![]),
    ];
    for (types, expected) in by_type {
        assert_eq!(
            change_ids(&changes(&t, json!({ "types": types })).await),
            pick(&expected),
            "changeTypes: {types}"
        );
    }
    // Types and range together.
    assert_eq!(
        change_ids(
            &changes(
                &t,
                json!({ "types": ["STATUS"], "start": "2025-01-03T12:00:00Z", "end": "2025-01-05T00:00:00Z" })
            )
            .await
        ),
        pick(&[2, 3])
    );

    // DESC reverses (date, id), ties included; ASC is the default.
    let desc = changes(&t, json!({ "order": { "direction": "DESC" } })).await;
    let mut reversed = change_ids(&all);
    reversed.reverse();
    assert_eq!(change_ids(&desc), reversed);
    let asc = changes(&t, json!({ "order": { "direction": "ASC" } })).await;
    assert_eq!(change_ids(&asc), change_ids(&all));
    let asc = changes(&t, json!({ "order": {} })).await;
    assert_eq!(change_ids(&asc), change_ids(&all));
    let desc = changes(
        &t,
        json!({ "order": { "direction": "DESC" }, "types": ["STATUS"], "start": "2025-01-03" }),
    )
    .await;
    assert_eq!(change_ids(&desc), pick(&[4, 3, 2]));

    // The nodes carry the state after each change.
    let last = &all[5];
    assert_eq!(last["userId"], id);
    assert_eq!(last["userEmail"], "ann@a.test");
    assert_eq!(last["realm"], "a");
    assert_eq!(last["status"], "ACTIVE");
    assert_eq!(last["roles"], json!([]));
    assert_eq!(datetime(&last["date"]), at("2025-01-05T00:00:00Z"));
    assert_eq!(all[2]["enabled"], false);
}

/// Does `change` match `filter` (GraphQL UserFilter as JSON)? A naive
/// reading of the contract: each given field must match any of its values,
/// AND every sub-filter, OR any of them; roles are app or dataset roles;
/// an email matches the address at the change or the user's current one.
fn matches(change: &Value, filter: &Value, current_email: &HashMap<i64, String>) -> bool {
    let Some(filter) = filter.as_object() else {
        return true;
    };
    let list = |key: &str| filter.get(key).and_then(Value::as_array);
    if let Some(ids) = list("userId")
        && !ids.contains(&change["userId"])
    {
        return false;
    }
    if let Some(emails) = list("userEmail") {
        let user = change["userId"].as_i64().unwrap();
        let now = current_email.get(&user).map(String::as_str);
        if !emails
            .iter()
            .any(|e| *e == change["userEmail"] || e.as_str() == now)
        {
            return false;
        }
    }
    if let Some(realms) = list("realm")
        && !realms.contains(&change["realm"])
    {
        return false;
    }
    if let Some(statuses) = list("status")
        && !statuses.contains(&change["status"])
    {
        return false;
    }
    if let Some(roles) = list("role") {
        let held: Vec<&Value> = change["roles"]
            .as_array()
            .unwrap()
            .iter()
            .chain(
                change["datasets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| &d["role"]),
            )
            .collect();
        if !roles.iter().any(|r| held.contains(&r)) {
            return false;
        }
    }
    if let Some(and) = list("AND")
        && !and.iter().all(|f| matches(change, f, current_email))
    {
        return false;
    }
    if let Some(or) = list("OR")
        && !or.is_empty()
        && !or.iter().any(|f| matches(change, f, current_email))
    {
        return false;
    }
    true
}

/// Each user's current email: the address of their latest change.
fn current_emails(all: &[Value]) -> HashMap<i64, String> {
    all.iter()
        .map(|c| {
            (
                c["userId"].as_i64().unwrap(),
                c["userEmail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

struct FilterWorld {
    u1: i64,
    u2: i64,
    u3: i64,
    u4: i64,
}

/// Realms a and b, a dataset in a, and 15 changes (clock back at START):
///
/// | when (UTC)        | what                                                 |
/// |-------------------|------------------------------------------------------|
/// | 2025-01-02 09:00  | u1 a ann [APP_ADMIN]; u2 a bob [TEAM_USER]; u3 b cid [TEAM_USER]; u4 b dan DORMANT [APP_ADMIN] |
/// | 10:00             | u2 SUSPENDED; u3 SUSPENDED                           |
/// | 11:00             | u2 ANALYST on Invoices; u3 + APP_ADMIN; u4 ACTIVE    |
/// | 12:00             | u3 renamed cid.new@b.test; u1 − APP_ADMIN; u1 DORMANT |
/// | 13:00             | u3 ACTIVE; u4 deleted; u2 loses Invoices             |
async fn filter_world(t: &TestServer) -> FilterWorld {
    t.create_realm("a").await;
    t.create_realm("b").await;
    let ds = t.create_dataset("a", "Invoices").await["datasetId"]
        .as_i64()
        .unwrap();
    clock_to(t, "2025-01-02T09:00:00Z");
    let u1 = create(t, "a", "ann@a.test", "ACTIVE", &["APP_ADMIN"]).await;
    let u2 = create(t, "a", "bob@a.test", "ACTIVE", &["TEAM_USER"]).await;
    let u3 = create(t, "b", "cid@b.test", "ACTIVE", &["TEAM_USER"]).await;
    let u4 = create(t, "b", "dan@b.test", "DORMANT", &["APP_ADMIN"]).await;
    clock_to(t, "2025-01-02T10:00:00Z");
    set_status(t, u2, "SUSPENDED").await;
    set_status(t, u3, "SUSPENDED").await;
    clock_to(t, "2025-01-02T11:00:00Z");
    set_dataset_role(t, u2, ds, Some("ANALYST")).await;
    add_roles(t, u3, &["APP_ADMIN"]).await;
    set_status(t, u4, "ACTIVE").await;
    clock_to(t, "2025-01-02T12:00:00Z");
    rename(t, u3, "cid.new@b.test", "Cid New").await;
    remove_roles(t, u1, &["APP_ADMIN"]).await;
    set_status(t, u1, "DORMANT").await;
    clock_to(t, "2025-01-02T13:00:00Z");
    set_status(t, u3, "ACTIVE").await;
    delete(t, u4).await;
    set_dataset_role(t, u2, ds, None).await;
    clock_to(t, START);
    FilterWorld { u1, u2, u3, u4 }
}

async fn changelog_filters_nest_with_and_or(t: TestServer) {
    let FilterWorld { u1, u2, u3, u4 } = filter_world(&t).await;
    let all = changes(&t, json!({})).await;
    assert_eq!(all.len(), 15);
    let emails = current_emails(&all);

    let filters = vec![
        json!({ "realm": ["a"] }),
        json!({ "realm": ["b"] }),
        json!({ "realm": ["a", "b"] }),
        json!({ "status": ["SUSPENDED"] }),
        json!({ "status": ["ACTIVE", "DORMANT"] }),
        json!({ "role": ["APP_ADMIN"] }),
        json!({ "role": ["ANALYST"] }),
        json!({ "role": ["APP_ADMIN", "ANALYST"] }),
        json!({ "role": ["TEAM_ADMIN"] }),
        json!({ "userId": [u2, u4] }),
        json!({ "userEmail": ["dan@b.test"] }),
        json!({ "OR": [{ "realm": ["a"] }, { "role": ["APP_ADMIN"] }] }),
        json!({ "AND": [{ "status": ["SUSPENDED"] }, { "realm": ["b"] }] }),
        json!({ "realm": ["a"], "status": ["SUSPENDED"] }),
        json!({ "status": ["ACTIVE"], "OR": [{ "userId": [u1] }, { "userEmail": ["dan@b.test"] }] }),
        json!({ "AND": [
            { "OR": [{ "realm": ["a"] }, { "status": ["DORMANT"] }] },
            { "OR": [{ "role": ["TEAM_USER"] }, { "userId": [u4] }] },
        ] }),
        json!({ "OR": [
            { "AND": [{ "realm": ["b"] }, { "role": ["APP_ADMIN"] }, { "status": ["SUSPENDED"] }] },
            { "AND": [{ "realm": ["a"] }, { "role": ["ANALYST"] }] },
        ] }),
        json!({ "OR": [{ "userId": [u1] }, { "OR": [{ "userId": [u2] }, { "AND": [{ "userId": [u3] }, { "status": ["ACTIVE"] }] }] }] }),
        json!({ "AND": [{ "realm": ["a"] }, { "realm": ["b"] }] }),
    ];
    for filter in &filters {
        let expected: Vec<String> = change_ids(
            &all.iter()
                .filter(|c| matches(c, filter, &emails))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let found = changes(&t, json!({ "f": filter })).await;
        assert_eq!(change_ids(&found), expected, "filter: {filter}");
        // DESC gives the same changes, reversed.
        let desc = changes(&t, json!({ "f": filter, "order": { "direction": "DESC" } })).await;
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(change_ids(&desc), reversed, "filter {filter}, DESC");
        // With change types and a range too.
        for kinds in [json!(["APP_ROLE"]), json!(["STATUS", "ENABLEMENT"])] {
            let wanted: BTreeSet<String> = strings(&kinds).into_iter().collect();
            let expected: Vec<String> = change_ids(
                &all.iter()
                    .filter(|c| {
                        matches(c, filter, &emails)
                            && !types(c).is_disjoint(&wanted)
                            && datetime(&c["date"]) >= at("2025-01-02T10:00:00Z")
                            && datetime(&c["date"]) < at("2025-01-02T13:00:00Z")
                    })
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            let found = changes(
                &t,
                json!({ "f": filter, "types": kinds, "start": "2025-01-02T10:00:00Z", "end": "2025-01-02T13:00:00Z" }),
            )
            .await;
            assert_eq!(
                change_ids(&found),
                expected,
                "filter {filter}, types {kinds}"
            );
        }
    }

    // Hand-checked: the examples of the brief.
    let or = changes(
        &t,
        json!({ "f": { "OR": [{ "realm": ["a"] }, { "role": ["APP_ADMIN"] }] } }),
    )
    .await;
    let in_b: Vec<(i64, BTreeSet<String>)> = or
        .iter()
        .filter(|c| c["realm"] == "b")
        .map(|c| (c["userId"].as_i64().unwrap(), types(c)))
        .collect();
    let set = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        in_b,
        vec![
            (u4, set(&["CREATED"])),
            (u3, set(&["APP_ROLE"])),
            (u4, set(&["STATUS"])),
            (u3, set(&["PROFILE"])),
            (u3, set(&["ENABLEMENT", "STATUS"])),
            (u4, set(&["DELETED"])),
        ],
        "b's changes after which the user held APP_ADMIN"
    );
    assert_eq!(or.iter().filter(|c| c["realm"] == "a").count(), 7);
    let and = changes(
        &t,
        json!({ "f": { "AND": [{ "status": ["SUSPENDED"] }, { "realm": ["b"] }] } }),
    )
    .await;
    assert_eq!(
        and.iter()
            .map(|c| (c["userId"].as_i64().unwrap(), types(c)))
            .collect::<Vec<_>>(),
        vec![
            (u3, set(&["ENABLEMENT", "STATUS"])),
            (u3, set(&["APP_ROLE"])),
            (u3, set(&["PROFILE"])),
        ]
    );
    let analyst = changes(&t, json!({ "f": { "role": ["ANALYST"] } })).await;
    assert_eq!(analyst.len(), 1);
    assert_eq!(analyst[0]["userId"], u2);
    assert_eq!(types(&analyst[0]), set(&["DATASET_ROLE"]));
    let app_roles = changes(&t, json!({ "types": ["APP_ROLE"] })).await;
    assert_eq!(
        app_roles
            .iter()
            .map(|c| c["userId"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![u3, u1]
    );
    let statuses = changes(&t, json!({ "types": ["STATUS", "ENABLEMENT"] })).await;
    assert_eq!(
        statuses
            .iter()
            .map(|c| c["userId"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![u2, u3, u4, u1, u3]
    );
}

async fn changelog_matches_renamed_users_by_current_email(t: TestServer) {
    let FilterWorld { u3, .. } = filter_world(&t).await;
    let all = changes(&t, json!({})).await;
    let of_u3: Vec<String> = change_ids(
        &all.iter()
            .filter(|c| c["userId"] == u3)
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(of_u3.len(), 5);
    // The current address finds the older changes made under the old one.
    let current = changes(&t, json!({ "f": { "userEmail": ["cid.new@b.test"] } })).await;
    assert_eq!(change_ids(&current), of_u3);
    let old_emails: Vec<&Value> = current
        .iter()
        .filter(|c| c["userEmail"] == "cid@b.test")
        .map(|c| &c["userEmail"])
        .collect();
    assert_eq!(
        old_emails.len(),
        3,
        "the older changes carry the old address"
    );
    // The old address finds the changes made while the user had it.
    let old = changes(&t, json!({ "f": { "userEmail": ["cid@b.test"] } })).await;
    assert_eq!(change_ids(&old), of_u3[..3].to_vec());
    // Inside OR/AND too.
    let nested = changes(
        &t,
        json!({ "f": { "OR": [{ "userEmail": ["cid.new@b.test"] }, { "userEmail": ["nobody@b.test"] }], "AND": [{ "realm": ["b"] }] } }),
    )
    .await;
    assert_eq!(change_ids(&nested), of_u3);
    // The snapshots, by contrast, match the address at the instant.
    let snaps = t
        .admin_ok(
            "{ userSnapshots(date: \"2025-01-02T11:30:00Z\", filter: {userEmail: [\"cid.new@b.test\"]}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(snaps["userSnapshots"]["totalCount"], 0);
}

/// Five users (four in realm a, the last in b) and 33 changes: five
/// creations at one instant, then 28 role grants, some sharing an instant.
/// Returns the user ids.
async fn many_changes(t: &TestServer) -> Vec<i64> {
    t.create_realm("a").await;
    t.create_realm("b").await;
    clock_to(t, "2025-01-02T00:00:00Z");
    let mut users = Vec::new();
    for i in 0..5 {
        let realm = if i == 4 { "b" } else { "a" };
        users.push(create(t, realm, &format!("user{i}@{realm}.test"), "ACTIVE", &[]).await);
    }
    for k in 0..28usize {
        if k % 3 != 0 {
            t.clock().advance(Duration::minutes(10));
        }
        // (k mod 5, k mod 6) are distinct for k < 30: each grant is new.
        add_roles(t, users[k % 5], &[APP_ROLES[k % 6]]).await;
    }
    clock_to(t, START);
    users
}

async fn changelog_walks_forward_and_backward(t: TestServer) {
    many_changes(&t).await;
    let query = changelog_query(true);
    let admin = t.admin_secret().to_owned();
    let all = changes(&t, json!({})).await;
    assert_eq!(all.len(), 33);
    assert_dates_ascend(&all);

    let mut cases: Vec<(Value, Vec<Value>)> = Vec::new();
    cases.push((json!({}), all.clone()));
    let mut desc = all.clone();
    desc.reverse();
    cases.push((json!({ "order": { "direction": "DESC" } }), desc));
    // 28 changes: an exact multiple of the page size.
    cases.push((
        json!({ "types": ["APP_ROLE"] }),
        all.iter()
            .filter(|c| types(c).contains("APP_ROLE"))
            .cloned()
            .collect(),
    ));
    cases.push((
        json!({ "f": { "OR": [{ "realm": ["b"] }, { "role": ["APP_ADMIN", "TEAM_USER"] }] } }),
        all.iter()
            .filter(|c| {
                c["realm"] == "b"
                    || c["roles"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r == "APP_ADMIN" || r == "TEAM_USER")
            })
            .cloned()
            .collect(),
    ));
    cases.push((
        json!({ "start": "2025-01-02T00:30:00Z", "end": "2025-01-02T02:30:00Z", "order": { "direction": "DESC" } }),
        {
            let mut v: Vec<Value> = all
                .iter()
                .filter(|c| {
                    let d = datetime(&c["date"]);
                    d >= at("2025-01-02T00:30:00Z") && d < at("2025-01-02T02:30:00Z")
                })
                .cloned()
                .collect();
            v.reverse();
            v
        },
    ));
    for (vars, expected) in &cases {
        assert!(!expected.is_empty(), "{vars}");
        let expected_ids = change_ids(expected);
        assert_eq!(
            change_ids(&changes(&t, vars.clone()).await),
            expected_ids,
            "the whole list for {vars}"
        );
        let forward = walk_forward(
            &t,
            &admin,
            (&query, "userChangelog"),
            vars,
            7,
            expected.len(),
        )
        .await;
        assert_no_duplicates(&forward, "id");
        assert_eq!(
            change_ids(&forward),
            expected_ids,
            "forward walk for {vars}"
        );
        let backward = walk_backward(
            &t,
            &admin,
            (&query, "userChangelog"),
            vars,
            7,
            expected.len(),
        )
        .await;
        assert_no_duplicates(&backward, "id");
        assert_eq!(
            change_ids(&backward),
            expected_ids,
            "backward walk for {vars}"
        );
    }

    // Turning around mid-walk: back from the third page's start gives the
    // second page, with both flags exact.
    let vars = json!({});
    let p1 = page(&t, &admin, &query, "userChangelog", json!({ "first": 7 })).await;
    let p2 = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        with(
            &vars,
            json!({ "first": 7, "after": p1["pageInfo"]["endCursor"] }),
        ),
    )
    .await;
    let p3 = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        with(
            &vars,
            json!({ "first": 7, "after": p2["pageInfo"]["endCursor"] }),
        ),
    )
    .await;
    assert_eq!(change_ids(&nodes(&p3)), change_ids(&all[14..21]));
    assert_eq!(flags(&p3), (true, true));
    let back = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        json!({ "last": 7, "before": p3["pageInfo"]["startCursor"] }),
    )
    .await;
    assert_eq!(change_ids(&nodes(&back)), change_ids(&nodes(&p2)));
    assert_eq!(flags(&back), (true, true));
    // Between two cursors.
    let between = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        json!({ "first": 100, "after": p1["pageInfo"]["endCursor"], "before": p3["pageInfo"]["startCursor"] }),
    )
    .await;
    assert_eq!(change_ids(&nodes(&between)), change_ids(&all[7..14]));
    assert_eq!(flags(&between), (true, true));
    // From the last change on: nothing, with a previous page.
    let end = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        json!({ "first": 7, "after": all_cursor(&t, 32).await }),
    )
    .await;
    assert!(nodes(&end).is_empty());
    assert_eq!(flags(&end), (true, false));
    // `first: 0` is an empty page that still knows more follow.
    let zero = page(&t, &admin, &query, "userChangelog", json!({ "first": 0 })).await;
    assert!(nodes(&zero).is_empty());
    assert_eq!(flags(&zero), (false, true));
    assert_eq!(zero["totalCount"], 33);
}

/// The cursor of the i-th change of the whole changelog (ascending).
async fn all_cursor(t: &TestServer, i: usize) -> String {
    let data = t
        .admin_ok(
            "{ userChangelog(first: 1000) { edges { cursor } } }",
            json!({}),
        )
        .await;
    data["userChangelog"]["edges"][i]["cursor"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn changelog_cursor_survives_new_changes(t: TestServer) {
    let users = many_changes(&t).await;
    let query = changelog_query(true);
    let admin = t.admin_secret().to_owned();
    let original = changes(&t, json!({})).await;

    // Forward: take a cursor in the middle ...
    let first = page(&t, &admin, &query, "userChangelog", json!({ "first": 12 })).await;
    let seen = nodes(&first);
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let cursor_date = datetime(&seen[11]["date"]);

    // ... write more: later changes, a change at exactly the cursor's date
    // (a new user: a larger id, so after the cursor), and one before it.
    clock_to(&t, "2025-01-10T00:00:00Z");
    set_status(&t, users[0], "DORMANT").await;
    set_status(&t, users[4], "SUSPENDED").await;
    t.clock().set(cursor_date);
    let tie = create(&t, "a", "tie@a.test", "ACTIVE", &["TEAM_USER"]).await;
    clock_to(&t, "2025-01-01T00:00:00Z");
    let early = create(&t, "b", "early@b.test", "ACTIVE", &[]).await;
    clock_to(&t, START);
    set_roles(&t, users[1], &[]).await;

    let now = changes(&t, json!({})).await;
    assert_eq!(now.len(), original.len() + 5);
    let position = now
        .iter()
        .position(|c| c["id"] == seen[11]["id"])
        .expect("the cursor's change is still there");
    let continuation = walk_forward_from(&t, &admin, &query, json!({}), &cursor, 5).await;
    assert_no_duplicates(&continuation, "id");
    let seen_ids: BTreeSet<String> = change_ids(&seen).into_iter().collect();
    assert!(
        continuation
            .iter()
            .all(|c| !seen_ids.contains(c["id"].as_str().unwrap())),
        "no change of the first page comes again"
    );
    assert_eq!(
        change_ids(&continuation),
        change_ids(&now[position + 1..]),
        "every change after the cursor, old and new, in order"
    );
    assert!(
        continuation.iter().any(|c| c["userId"] == tie),
        "the tie follows the cursor"
    );
    assert!(
        continuation.iter().all(|c| c["userId"] != early),
        "the earlier one precedes it"
    );
    assert_eq!(
        change_ids(&now[..=position])
            .into_iter()
            .filter(|id| !seen_ids.contains(id))
            .collect::<Vec<_>>(),
        change_ids(&now[..1]),
        "the only change before the cursor not seen is the one written before it"
    );
    assert_eq!(now[0]["userId"], early);

    // Backward: take a cursor from the end, write, continue backward.
    let last = page(&t, &admin, &query, "userChangelog", json!({ "last": 10 })).await;
    let tail = nodes(&last);
    let before = last["pageInfo"]["startCursor"].as_str().unwrap().to_owned();
    clock_to(&t, "2024-12-31T00:00:00Z");
    let earliest = create(&t, "a", "earliest@a.test", "DORMANT", &[]).await;
    clock_to(&t, "2025-01-20T00:00:00Z");
    set_status(&t, users[2], "SUSPENDED").await;
    clock_to(&t, START);
    let latest = changes(&t, json!({})).await;
    let position = latest
        .iter()
        .position(|c| c["id"] == tail[0]["id"])
        .unwrap();
    let mut backward = Vec::new();
    let mut cursor = before;
    loop {
        let page = page(
            &t,
            &admin,
            &query,
            "userChangelog",
            json!({ "last": 5, "before": cursor }),
        )
        .await;
        let mut nodes = nodes(&page);
        nodes.extend(backward);
        backward = nodes;
        assert!(flags(&page).1, "exact hasNextPage walking back: {page}");
        if !flags(&page).0 {
            break;
        }
        cursor = page["pageInfo"]["startCursor"].as_str().unwrap().to_owned();
    }
    assert_no_duplicates(&backward, "id");
    assert_eq!(change_ids(&backward), change_ids(&latest[..position]));
    assert_eq!(backward[0]["userId"], earliest);
    let tail_ids: BTreeSet<String> = change_ids(&tail).into_iter().collect();
    assert!(
        backward
            .iter()
            .all(|c| !tail_ids.contains(c["id"].as_str().unwrap()))
    );

    // DESC cursors survive too.
    let desc = json!({ "order": { "direction": "DESC" } });
    let first = page(
        &t,
        &admin,
        &query,
        "userChangelog",
        with(&desc, json!({ "first": 6 })),
    )
    .await;
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let head: BTreeSet<String> = change_ids(&nodes(&first)).into_iter().collect();
    clock_to(&t, "2025-01-25T00:00:00Z");
    set_status(&t, users[3], "SUSPENDED").await; // newest: before the cursor in DESC
    clock_to(&t, "2024-12-01T00:00:00Z");
    create(&t, "a", "oldest@a.test", "ACTIVE", &[]).await; // oldest: last in DESC
    clock_to(&t, START);
    let all_desc = changes(&t, desc.clone()).await;
    let position = all_desc
        .iter()
        .position(|c| c["id"] == nodes(&first)[5]["id"])
        .unwrap();
    let rest = walk_forward_from(&t, &admin, &query, desc.clone(), &cursor, 7).await;
    assert_no_duplicates(&rest, "id");
    assert!(
        rest.iter()
            .all(|c| !head.contains(c["id"].as_str().unwrap()))
    );
    assert_eq!(change_ids(&rest), change_ids(&all_desc[position + 1..]));
}

/// Walks forward from `cursor` to the end; checks hasPreviousPage is set on
/// every page (there is always the cursor's change before).
async fn walk_forward_from(
    t: &TestServer,
    secret: &str,
    query: &str,
    vars: Value,
    cursor: &str,
    size: usize,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = cursor.to_owned();
    for _ in 0..100 {
        let page = page(
            t,
            secret,
            query,
            "userChangelog",
            with(&vars, json!({ "first": size, "after": after })),
        )
        .await;
        assert!(
            flags(&page).0,
            "there are changes before the cursor: {page}"
        );
        out.extend(nodes(&page));
        if !flags(&page).1 {
            return out;
        }
        after = page["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    }
    panic!("the walk did not end");
}

async fn changelog_total_count_only_when_selected(t: TestServer) {
    many_changes(&t).await;
    let admin = t.admin_secret().to_owned();
    for (vars, total) in [
        (json!({}), 33),
        (json!({ "types": ["APP_ROLE"] }), 28),
        (json!({ "types": ["CREATED"] }), 5),
        (json!({ "f": { "realm": ["b"] } }), 1 + 5),
        (json!({ "end": "2025-01-02T00:00:00.000001Z" }), 5 + 1),
        (json!({ "start": "2030-01-01T00:00:00Z" }), 0),
    ] {
        let with_total = page(
            &t,
            &admin,
            &changelog_query(true),
            "userChangelog",
            with(&vars, json!({ "first": 3 })),
        )
        .await;
        assert_eq!(with_total["totalCount"], total, "{vars}");
        let without = page(
            &t,
            &admin,
            &changelog_query(false),
            "userChangelog",
            with(&vars, json!({ "first": 3 })),
        )
        .await;
        assert!(without.get("totalCount").is_none(), "{without}");
        assert_eq!(without["edges"], with_total["edges"], "{vars}");
        assert_eq!(without["pageInfo"], with_total["pageInfo"], "{vars}");
        // A page deep in the list reports the same total.
        if total > 6 {
            let deep = page(
                &t,
                &admin,
                &changelog_query(true),
                "userChangelog",
                with(
                    &vars,
                    json!({ "first": 3, "after": with_total["pageInfo"]["endCursor"] }),
                ),
            )
            .await;
            assert_eq!(deep["totalCount"], total, "{vars}");
        }
    }
    // Only totalCount, no edges.
    let data = t
        .admin_ok(
            "{ userChangelog(changeTypes: [APP_ROLE]) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["userChangelog"]["totalCount"], 28);
    // No totalCount: a page on its own, and the default page size is 50.
    let data = t
        .admin_ok(
            "{ userChangelog { edges { node { id } } pageInfo { hasNextPage hasPreviousPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(nodes(&data["userChangelog"]).len(), 33);
    assert_eq!(flags(&data["userChangelog"]), (false, false));
}

async fn changelog_rejects_bad_input_naming_the_argument(t: TestServer) {
    let FilterWorld { .. } = filter_world(&t).await;
    let query = changelog_query(true);
    let before = t.snapshot().await;
    let snapshot_cursor = t
        .admin_ok(
            "{ userSnapshots(first: 1) { edges { cursor } } }",
            json!({}),
        )
        .await["userSnapshots"]["edges"][0]["cursor"]
        .clone();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "start": "2025-01-05T00:00:00Z", "end": "2025-01-04T00:00:00Z" }),
            "startDate",
        ),
        (
            json!({ "start": "2025-01-04T00:00:00.000001Z", "end": "2025-01-04T00:00:00Z" }),
            "startDate",
        ),
        (json!({ "after": "not-a-cursor" }), "after"),
        (json!({ "after": "" }), "after"),
        (json!({ "after": "eyJub3QiOiJhIGN1cnNvciJ9" }), "after"),
        (json!({ "after": snapshot_cursor }), "after"),
        (json!({ "before": "%%%" }), "before"),
        (json!({ "f": { "realm": ["nope"] } }), "filter.realm"),
        (json!({ "f": { "role": ["NOPE"] } }), "filter.role"),
        (
            json!({ "f": { "realm": ["a"], "role": ["APP_ADMIN", "SUPERUSER"] } }),
            "filter.role",
        ),
        (json!({ "first": 1001 }), "first"),
        (json!({ "last": -1 }), "last"),
    ];
    for (vars, field) in cases {
        let response = t.admin(&query, vars.clone()).await;
        assert_bad_input(&response, field);
        assert_no_data(&response, "userChangelog");
    }
    // Unknown names nested in AND/OR name the filter too.
    for filter in [
        json!({ "OR": [{ "realm": ["a"] }, { "realm": ["nope"] }] }),
        json!({ "AND": [{ "OR": [{ "role": ["NOPE"] }] }] }),
    ] {
        let response = t.admin(&query, json!({ "f": filter })).await;
        assert_code(&response, "BAD_USER_INPUT");
        let field = errors(&response)[0]["extensions"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            field.starts_with("filter"),
            "names the filter: {field:?} for {filter}"
        );
        assert_no_data(&response, "userChangelog");
    }
    let malformed = [
        ("startDate", "yesterday"),
        ("endDate", "2025-13-01"),
        ("startDate", "2025-01-02 25:00"),
        ("endDate", ""),
    ];
    // Malformed dates written into the query (as variables: at the end).
    for (argument, value) in malformed {
        let inline = t
            .admin(
                &format!("{{ userChangelog({argument}: \"{value}\") {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_bad_input(&inline, argument);
        assert_no_data(&inline, "userChangelog");
    }
    // A malformed cursor written into the query.
    let inline = t
        .admin(
            "{ userChangelog(after: \"garbage\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_bad_input(&inline, "after");
    // An unknown change type is bad input too.
    let response = t.admin(&query, json!({ "types": ["RENAMED"] })).await;
    assert_code(&response, "BAD_USER_INPUT");
    assert_no_data(&response, "userChangelog");
    // Reading is all that happened.
    let after = t.snapshot().await;
    assert_unchanged(&before, &after, "bad changelog queries");

    // Malformed dates passed as variables, as clients do (checked last, so
    // that a failure here does not hide the checks above).
    for (argument, value) in malformed {
        let variable = if argument == "startDate" {
            "start"
        } else {
            "end"
        };
        let mut vars = json!({});
        vars[variable] = json!(value);
        let response = t.admin(&query, vars).await;
        assert_bad_input(&response, argument);
        assert_no_data(&response, "userChangelog");
    }
}

async fn changelog_needs_scope_and_respects_realms(t: TestServer) {
    let FilterWorld { u1, u3, u4, .. } = filter_world(&t).await;
    let query = changelog_query(true);
    let all = changes(&t, json!({})).await;
    let in_a: Vec<Value> = all.iter().filter(|c| c["realm"] == "a").cloned().collect();
    let in_b: Vec<Value> = all.iter().filter(|c| c["realm"] == "b").cloned().collect();
    assert!(!in_a.is_empty() && !in_b.is_empty());

    // Without CHANGELOG_READ: FORBIDDEN, nothing returned.
    for scopes in [
        &["USERS_READ"][..],
        &["USERS_READ", "USERS_WRITE", "AUDIT_READ"][..],
    ] {
        let token = t.token(scopes, None).await;
        let response = t.gql(&token, &query, json!({})).await;
        assert_code(&response, "FORBIDDEN");
        assert_no_data(&response, "userChangelog");
    }

    // Bound to realm a: only a's changes, whatever the filter asks.
    let bound = t.token(&["CHANGELOG_READ"], Some(&["a"])).await;
    assert_eq!(
        change_ids(&changes_as(&t, &bound, json!({})).await),
        change_ids(&in_a)
    );
    let walked = walk_forward(
        &t,
        &bound,
        (&query, "userChangelog"),
        &json!({}),
        3,
        in_a.len(),
    )
    .await;
    assert_eq!(change_ids(&walked), change_ids(&in_a));
    let walked = walk_backward(
        &t,
        &bound,
        (&query, "userChangelog"),
        &json!({ "order": { "direction": "DESC" } }),
        4,
        in_a.len(),
    )
    .await;
    let mut reversed = change_ids(&in_a);
    reversed.reverse();
    assert_eq!(change_ids(&walked), reversed);
    for filter in [
        json!({ "userId": [u3, u4] }),
        json!({ "userEmail": ["cid.new@b.test", "dan@b.test"] }),
        json!({ "OR": [{ "realm": ["a"] }, { "role": ["APP_ADMIN"] }] }),
        json!({ "OR": [{ "userId": [u1] }, { "status": ["SUSPENDED"] }] }),
    ] {
        let found = changes_as(&t, &bound, json!({ "f": filter })).await;
        assert!(
            found.iter().all(|c| c["realm"] == "a"),
            "filter {filter} leaked another realm: {found:?}"
        );
        let expected: Vec<Value> = in_a
            .iter()
            .filter(|c| matches(c, &filter, &current_emails(&all)))
            .cloned()
            .collect();
        assert_eq!(change_ids(&found), change_ids(&expected), "filter {filter}");
    }
    // Asking for realm b outright is FORBIDDEN, never empty.
    for filter in [
        json!({ "realm": ["b"] }),
        json!({ "realm": ["a", "b"] }),
        json!({ "OR": [{ "realm": ["a"] }, { "realm": ["b"] }] }),
    ] {
        let response = t.gql(&bound, &query, json!({ "f": filter })).await;
        assert_code(&response, "FORBIDDEN");
        assert_no_data(&response, "userChangelog");
    }
    // A cursor taken by the admin on a b change shows nothing of b either.
    let b_position = all.iter().position(|c| c["realm"] == "b").unwrap();
    let cursor = all_cursor(&t, b_position).await;
    let page = page(
        &t,
        &bound,
        &query,
        "userChangelog",
        json!({ "first": 100, "after": cursor }),
    )
    .await;
    assert!(nodes(&page).iter().all(|c| c["realm"] == "a"), "{page}");
    // Nor does a b change's global id.
    let response = t
        .gql(
            &bound,
            "query($id: ID!) { node(id: $id) { id ... on UserChange { userId realm } } }",
            json!({ "id": in_b[0]["id"] }),
        )
        .await;
    let leaked = response
        .get("data")
        .and_then(|d| d.get("node"))
        .cloned()
        .unwrap_or(Value::Null);
    assert!(leaked.is_null(), "a b change through node(): {response}");
    // totalCount counts only what the token may see.
    let data = t
        .gql_ok(
            &bound,
            "{ userChangelog(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["userChangelog"]["totalCount"], in_a.len());
}
