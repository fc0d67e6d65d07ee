//! Relay connections: walking forward and backward, exact page flags,
//! totalCount, page size limits, cursors that survive inserts and bad paging
//! arguments that change nothing.

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};

backend_tests!(
    users_walk_forward_and_backward,
    page_size_defaults_to_50_and_stops_at_1000,
    bad_paging_arguments_are_rejected,
    cursors_survive_inserts,
    other_orders_page_through_ties,
    datasets_and_changelog_page_too,
);

const USERS_PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String, $o: UserOrder, $f: UserFilter) {
  users(first: $first, after: $after, last: $last, before: $before, orderBy: $o, filter: $f) {
    totalCount
    edges { cursor node { userId email name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

async fn users_page(t: &TestServer, args: Value) -> Value {
    let data = t.admin_ok(USERS_PAGE, args).await;
    let page = data["users"].clone();
    check_page_info(&page);
    page
}

async fn create_users(t: &TestServer, n: usize) -> Vec<i64> {
    t.create_realm("acme").await;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(
            t.create_user("acme", &format!("user{i:03}@acme.test"), &[])
                .await,
        );
    }
    ids.sort();
    ids
}

async fn users_walk_forward_and_backward(t: TestServer) {
    let ids = create_users(&t, 23).await;

    // Forward, five at a time: 5 5 5 5 3.
    let mut seen: Vec<i64> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = users_page(&t, json!({ "first": 5, "after": after })).await;
        assert_eq!(page["totalCount"], 23, "totalCount ignores paging");
        let chunk = ints(&page, "userId");
        let (has_previous, has_next) = flags(&page);
        assert_eq!(
            has_previous,
            pages > 0,
            "hasPreviousPage on forward page {pages}"
        );
        seen.extend(&chunk);
        assert_eq!(
            has_next,
            seen.len() < 23,
            "hasNextPage on forward page {pages}"
        );
        pages += 1;
        if !has_next {
            assert_eq!(chunk.len(), 3);
            break;
        }
        assert_eq!(chunk.len(), 5);
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, ids, "forward pages cover every user once, in order");

    // Backward, five at a time from the end: 5 5 5 5 3.
    let mut seen_back: Vec<i64> = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = users_page(&t, json!({ "last": 5, "before": before })).await;
        assert_eq!(page["totalCount"], 23);
        let chunk = ints(&page, "userId");
        let (has_previous, has_next) = flags(&page);
        assert_eq!(has_next, pages > 0, "hasNextPage on backward page {pages}");
        let mut merged = chunk.clone();
        merged.extend(&seen_back);
        seen_back = merged;
        assert_eq!(
            has_previous,
            seen_back.len() < 23,
            "hasPreviousPage on backward page {pages}"
        );
        pages += 1;
        if !has_previous {
            assert_eq!(chunk.len(), 3);
            break;
        }
        assert_eq!(chunk.len(), 5);
        before = page["pageInfo"]["startCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, 5);
    assert_eq!(
        seen_back, ids,
        "backward pages keep ascending order within each page"
    );

    // A window between two cursors, from either end.
    let all = users_page(&t, json!({ "first": 23 })).await;
    let cs = cursors(&all);
    let (from, to) = (cs[4].clone(), cs[15].clone());
    let window = users_page(&t, json!({ "after": from, "before": to, "first": 100 })).await;
    assert_eq!(ints(&window, "userId"), ids[5..15].to_vec());
    assert_eq!(flags(&window), (true, true));
    let window = users_page(&t, json!({ "after": from, "before": to, "first": 4 })).await;
    assert_eq!(ints(&window, "userId"), ids[5..9].to_vec());
    assert_eq!(flags(&window), (true, true));
    let window = users_page(&t, json!({ "after": from, "before": to, "last": 4 })).await;
    assert_eq!(ints(&window, "userId"), ids[11..15].to_vec());
    assert_eq!(flags(&window), (true, true));

    // Exactly at the edges.
    let whole = users_page(&t, json!({ "first": 23 })).await;
    assert_eq!(flags(&whole), (false, false));
    let last_one = users_page(&t, json!({ "after": cs[21] })).await;
    assert_eq!(ints(&last_one, "userId"), vec![ids[22]]);
    assert_eq!(flags(&last_one), (true, false));
    let none_after = users_page(&t, json!({ "after": cs[22] })).await;
    assert!(ints(&none_after, "userId").is_empty());
    assert!(!flags(&none_after).1);
    let first_one = users_page(&t, json!({ "last": 5, "before": cs[1] })).await;
    assert_eq!(ints(&first_one, "userId"), vec![ids[0]]);
    assert_eq!(flags(&first_one), (false, true));

    // With a filter, totalCount counts the filtered rows.
    let filtered = users_page(
        &t,
        json!({ "first": 2, "f": { "userId": [ids[0], ids[1], ids[2]] } }),
    )
    .await;
    assert_eq!(filtered["totalCount"], 3);
    assert_eq!(flags(&filtered), (false, true));
}

async fn page_size_defaults_to_50_and_stops_at_1000(t: TestServer) {
    let ids = create_users(&t, 55).await;
    let page = users_page(&t, json!({})).await;
    assert_eq!(
        ints(&page, "userId"),
        ids[..50].to_vec(),
        "default page size is 50"
    );
    assert_eq!(flags(&page), (false, true));
    assert_eq!(page["totalCount"], 55);

    let page = users_page(&t, json!({ "last": null, "before": null, "first": 1000 })).await;
    assert_eq!(ints(&page, "userId"), ids);
    assert_eq!(flags(&page), (false, false));
    let page = users_page(&t, json!({ "last": 1000 })).await;
    assert_eq!(ints(&page, "userId"), ids);
}

async fn bad_paging_arguments_are_rejected(t: TestServer) {
    create_users(&t, 3).await;
    let good = users_page(&t, json!({ "first": 1 })).await;
    let email_cursor = users_page(&t, json!({ "first": 1, "o": { "field": "EMAIL" } })).await["pageInfo"]
        ["endCursor"]
        .clone();
    let before = t.snapshot().await;

    let cases = [
        (json!({ "first": -1 }), "first"),
        (json!({ "first": 1001 }), "first"),
        (json!({ "last": -1 }), "last"),
        (json!({ "last": 1001 }), "last"),
        (json!({ "first": 5, "after": "not a cursor" }), "after"),
        (json!({ "first": 5, "after": "" }), "after"),
        (
            json!({ "first": 5, "after": "eyJmb28iOiJiYXIifQ" }),
            "after",
        ),
        (json!({ "last": 5, "before": "%%%" }), "before"),
        // A cursor of one ordering means nothing in another.
        (json!({ "first": 5, "after": email_cursor }), "after"),
    ];
    for (args, field) in cases {
        let response = t.admin(USERS_PAGE, args.clone()).await;
        assert_bad_input(&response, field);
        assert_no_data(&response, "users");
        let message = errors(&response)[0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!message.is_empty(), "{args}: a clear message");
    }

    // Page arguments of nested connections are checked too.
    let response = t
        .admin(
            "{ users(first: 1) { edges { node { changelog(first: -1) { totalCount } } } } }",
            json!({}),
        )
        .await;
    assert_bad_input(&response, "first");
    let response = t
        .admin(
            "{ users(first: 1) { edges { node { changelog(after: \"junk\") { totalCount } } } } }",
            json!({}),
        )
        .await;
    assert_bad_input(&response, "after");
    let response = t
        .admin("{ datasets(first: 1001) { totalCount } }", json!({}))
        .await;
    assert_bad_input(&response, "first");

    // first and last together are refused (Relay discourages it).
    let response = t.admin(USERS_PAGE, json!({ "first": 1, "last": 1 })).await;
    assert_code(&response, "BAD_USER_INPUT");

    assert_unchanged(&before, &t.snapshot().await, "bad paging arguments");
    // And the good cursor still works.
    let next = users_page(
        &t,
        json!({ "first": 5, "after": good["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(ints(&next, "userId").len(), 2);
}

async fn cursors_survive_inserts(t: TestServer) {
    let ids = create_users(&t, 6).await;
    let page = users_page(&t, json!({ "first": 3 })).await;
    let cursor = page["pageInfo"]["endCursor"].clone();

    // New rows after the cursor show up; nothing is repeated or skipped.
    let new_a = t.create_user("acme", "late-a@acme.test", &[]).await;
    let new_b = t.create_user("acme", "late-b@acme.test", &[]).await;
    let rest = users_page(&t, json!({ "first": 100, "after": cursor })).await;
    let mut expected = ids[3..].to_vec();
    expected.extend([new_a, new_b]);
    assert_eq!(ints(&rest, "userId"), expected);
    assert_eq!(rest["totalCount"], 8);

    // By email: rows inserted before the cursor stay before it.
    let by_email = json!({ "field": "EMAIL" });
    let page = users_page(&t, json!({ "first": 4, "o": by_email })).await;
    let seen: Vec<String> = nodes(&page)
        .iter()
        .map(|n| n["email"].as_str().unwrap().to_owned())
        .collect();
    let cursor = page["pageInfo"]["endCursor"].clone();
    t.create_user("acme", "aaa@acme.test", &[]).await;
    t.create_user("acme", "zzz@acme.test", &[]).await;
    let rest = users_page(&t, json!({ "first": 100, "after": cursor, "o": by_email })).await;
    let emails: Vec<String> = nodes(&rest)
        .iter()
        .map(|n| n["email"].as_str().unwrap().to_owned())
        .collect();
    assert!(!emails.contains(&"aaa@acme.test".to_owned()), "{emails:?}");
    assert_eq!(emails.last().map(String::as_str), Some("zzz@acme.test"));
    assert!(
        emails.iter().all(|e| !seen.contains(e)),
        "no repeats: {seen:?} then {emails:?}"
    );
    assert_eq!(
        seen.len() + emails.len(),
        9,
        "every user but aaa is seen once"
    );

    // A cursor whose row was deleted still marks its place.
    let page = users_page(&t, json!({ "first": 2 })).await;
    let cursor = page["pageInfo"]["endCursor"].clone();
    t.admin_ok(
        "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
        json!({ "id": ids[1] }),
    )
    .await;
    let rest = users_page(&t, json!({ "first": 100, "after": cursor })).await;
    assert_eq!(ints(&rest, "userId")[0], ids[2]);
}

async fn other_orders_page_through_ties(t: TestServer) {
    t.create_realm("acme").await;
    // Six users, three pairs sharing a name.
    let mut expected: Vec<(String, i64)> = Vec::new();
    for (i, name) in ["Kim", "Lee", "Kim", "Ash", "Lee", "Ash"]
        .iter()
        .enumerate()
    {
        let user = t
            .create_user_with(
                json!({ "realm": "acme", "email": format!("u{i}@acme.test"), "name": name }),
            )
            .await;
        expected.push((name.to_string(), user["userId"].as_i64().unwrap()));
    }
    expected.sort();
    let mut desc = expected.clone();
    desc.reverse();

    for (direction, expected) in [("ASC", &expected), ("DESC", &desc)] {
        let order = json!({ "field": "NAME", "direction": direction });
        let want: Vec<i64> = expected.iter().map(|(_, id)| *id).collect();
        let mut got = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..3 {
            let page = users_page(&t, json!({ "first": 2, "after": after, "o": order })).await;
            got.extend(ints(&page, "userId"));
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        assert_eq!(got, want, "NAME {direction}, forward in pairs");

        let mut back: Vec<i64> = Vec::new();
        let mut before: Option<String> = None;
        for _ in 0..3 {
            let page = users_page(&t, json!({ "last": 2, "before": before, "o": order })).await;
            let mut chunk = ints(&page, "userId");
            chunk.extend(back);
            back = chunk;
            before = page["pageInfo"]["startCursor"].as_str().map(str::to_owned);
        }
        assert_eq!(back, want, "NAME {direction}, backward in pairs");
    }
}

async fn datasets_and_changelog_page_too(t: TestServer) {
    t.create_realm("acme").await;
    let mut datasets = Vec::new();
    for i in 0..7 {
        datasets.push(
            t.create_dataset("acme", &format!("ds{i}")).await["datasetId"]
                .as_i64()
                .unwrap(),
        );
    }
    let q = "query($first: Int, $after: String, $last: Int, $before: String) {
      datasets(realm: \"acme\", first: $first, after: $after, last: $last, before: $before) {
        totalCount edges { cursor node { datasetId } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      } }";
    let mut got = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = t.admin_ok(q, json!({ "first": 3, "after": after })).await["datasets"].clone();
        check_page_info(&page);
        assert_eq!(page["totalCount"], 7);
        got.extend(ints(&page, "datasetId"));
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(got, datasets);
    let tail = t.admin_ok(q, json!({ "last": 2 })).await["datasets"].clone();
    assert_eq!(ints(&tail, "datasetId"), datasets[5..].to_vec());
    assert_eq!(flags(&tail), (true, false));

    // A user with 12 changes.
    let user = t.create_user("acme", "busy@acme.test", &[]).await;
    let roles = ["APP_ADMIN", "TEAM_USER", "TEAM_ADMIN"];
    for i in 0..11 {
        t.clock().advance(chrono::Duration::seconds(1));
        t.admin_ok(
            "mutation($id: Int!, $r: [String!]!) { setUserRoles(userId: $id, roles: $r) { userId } }",
            json!({ "id": user, "r": [roles[i % 3]] }),
        )
        .await;
    }
    let q = "query($id: Int, $first: Int, $after: String, $last: Int, $before: String) {
      user(userId: $id) { changelog(first: $first, after: $after, last: $last, before: $before) {
        totalCount edges { cursor node { id date } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      } } }";
    let full =
        t.admin_ok(q, json!({ "id": user, "first": 100 })).await["user"]["changelog"].clone();
    let all: Vec<Value> = nodes(&full).into_iter().map(|n| n["id"].clone()).collect();
    assert_eq!(all.len(), 12);
    let mut got = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let page = t
            .admin_ok(q, json!({ "id": user, "first": 5, "after": after }))
            .await["user"]["changelog"]
            .clone();
        check_page_info(&page);
        assert_eq!(page["totalCount"], 12);
        pages.push(flags(&page));
        got.extend(nodes(&page).into_iter().map(|n| n["id"].clone()));
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(got, all);
    assert_eq!(pages, vec![(false, true), (true, true), (true, false)]);

    let mut back = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = t
            .admin_ok(q, json!({ "id": user, "last": 5, "before": before }))
            .await["user"]["changelog"]
            .clone();
        let mut chunk: Vec<Value> = nodes(&page).into_iter().map(|n| n["id"].clone()).collect();
        chunk.extend(back);
        back = chunk;
        if !page["pageInfo"]["hasPreviousPage"].as_bool().unwrap() {
            break;
        }
        before = page["pageInfo"]["startCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(back, all);
}
