//! Product events: `registerEvents` (batches up to 10,000, all or nothing,
//! the bad row named by its index, one audit event per batch) and `events`
//! (filters, a half-open time range, newest first, keyset pages both ways
//! with cursors that hold while events are written), realm isolation and
//! scopes.

#[macro_use]
mod common;

use chrono::Duration;
use common::*;
use entity::product_event;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

backend_tests!(
    registers_a_batch_and_lists_it_newest_first,
    a_bad_row_rejects_the_whole_batch,
    batches_hold_up_to_ten_thousand,
    filters_and_time_ranges,
    pages_both_ways_while_events_are_written,
    realms_and_scopes,
);

const REGISTER: &str = "mutation($input: [EventInput!]!) { registerEvents(input: $input) }";

const EVENTS: &str = "query($window: String, $start: DateTime, $end: DateTime, $realm: String,
      $feature: [String!], $event: [String!], $user: [Int!], $first: Int, $after: String,
      $last: Int, $before: String) {
  events(window: $window, startDate: $start, endDate: $end, realm: $realm, feature: $feature,
      event: $event, userId: $user, first: $first, after: $after, last: $last, before: $before) {
    startDate endDate totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id occurredAt recordedAt realm userId feature event value currency metadata } }
  }
}";

async fn events(t: &TestServer, secret: &str, vars: Value) -> Value {
    t.gql(secret, EVENTS, vars).await
}

async fn events_ok(t: &TestServer, secret: &str, vars: Value) -> Value {
    data(&events(t, secret, vars).await)["events"].clone()
}

async fn register(t: &TestServer, secret: &str, input: Value) -> Value {
    t.gql(secret, REGISTER, json!({ "input": input })).await
}

async fn stored(t: &TestServer) -> u64 {
    product_event::Entity::find().count(t.conn()).await.unwrap()
}

/// A realm with two users; returns their ids.
async fn acme(t: &TestServer) -> (i64, i64) {
    t.create_realm("acme").await;
    let ann = t.create_user("acme", "ann@acme.test", &["TEAM_USER"]).await;
    let bob = t.create_user("acme", "bob@acme.test", &["TEAM_USER"]).await;
    (ann, bob)
}

fn strings_of(connection: &Value, field: &str) -> Vec<String> {
    nodes(connection)
        .iter()
        .map(|n| n[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn registers_a_batch_and_lists_it_newest_first(t: TestServer) {
    let (ann, bob) = acme(&t).await;
    let app = t.token(&["EVENTS_WRITE"], None).await;
    let reader = t.token(&["EVENTS_READ"], None).await;
    let now = t.now();
    let mark = t.last_audit_id().await;
    let earlier = now - Duration::hours(2);
    let registered = register(
        &t,
        &app,
        json!([
            { "userId": ann, "feature": "export", "event": "csv",
              "occurredAt": earlier.to_rfc3339() },
            { "userId": bob, "feature": " billing ", "event": "purchase", "value": 49.5,
              "currency": "eur", "metadata": { "plan": "pro", "seats": [1, 2] } },
            { "userId": ann, "feature": "export", "event": "pdf", "value": 3 },
        ]),
    )
    .await;
    assert_eq!(data(&registered)["registerEvents"], 3);
    t.clock().advance(Duration::seconds(1));

    let log = events_ok(&t, &reader, json!({ "window": "1d" })).await;
    assert_eq!(log["totalCount"], 3);
    // Newest first; two events at the same instant by id, the later first.
    assert_eq!(strings_of(&log, "event"), ["pdf", "purchase", "csv"]);
    let purchase = &nodes(&log)[1];
    assert_eq!(purchase["userId"], bob);
    assert_eq!(purchase["realm"], "acme");
    assert_eq!(purchase["feature"], "billing", "names are trimmed");
    assert_eq!(purchase["value"], 49.5);
    assert_eq!(purchase["currency"], "EUR");
    assert_eq!(
        purchase["metadata"],
        json!({ "plan": "pro", "seats": [1, 2] })
    );
    assert_eq!(
        datetime(&purchase["occurredAt"]),
        now,
        "occurredAt defaults to now"
    );
    assert_eq!(datetime(&purchase["recordedAt"]), now);
    let csv = &nodes(&log)[2];
    assert_eq!(datetime(&csv["occurredAt"]), earlier);
    assert_eq!(datetime(&csv["recordedAt"]), now);
    assert!(csv["value"].is_null() && csv["currency"].is_null() && csv["metadata"].is_null());

    // Each event is a Node.
    let id = purchase["id"].clone();
    let node = t
        .gql_ok(
            &reader,
            "query($id: ID!) { node(id: $id) { __typename ... on ProductEvent { event userId } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        node["node"],
        json!({ "__typename": "ProductEvent", "event": "purchase", "userId": bob })
    );

    // One audit event for the batch, naming how many and the realm.
    let audit = t.audit_events_since(mark).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].event, "events.registered");
    assert_eq!(audit[0].realm.as_deref(), Some("acme"));
    let resources: Value = serde_json::from_str(&audit[0].resources).unwrap();
    assert_eq!(
        resources[0],
        json!({ "type": "events", "name": "3", "id": null })
    );
    assert_eq!(resources[1]["type"], "realm");
    assert_eq!(resources[1]["name"], "acme");

    // An empty batch registers nothing and writes no audit event.
    let mark = t.last_audit_id().await;
    assert_eq!(
        data(&register(&t, &app, json!([])).await)["registerEvents"],
        0
    );
    assert!(t.audit_events_since(mark).await.is_empty());
    assert_eq!(stored(&t).await, 3);
}

async fn a_bad_row_rejects_the_whole_batch(t: TestServer) {
    let (ann, bob) = acme(&t).await;
    let gone = t.create_user("acme", "gone@acme.test", &[]).await;
    t.delete_user(gone).await;
    let app = t.token(&["EVENTS_WRITE"], None).await;
    let good = json!({ "userId": ann, "feature": "f", "event": "e" });
    let future = (t.now() + Duration::minutes(6)).to_rfc3339();
    let cases = [
        (
            json!({ "userId": 987_654, "feature": "f", "event": "e" }),
            "userId",
        ),
        (
            json!({ "userId": gone, "feature": "f", "event": "e" }),
            "userId",
        ),
        (
            json!({ "userId": bob, "feature": "  ", "event": "e" }),
            "feature",
        ),
        (
            json!({ "userId": bob, "feature": "f", "event": "" }),
            "event",
        ),
        (
            json!({ "userId": bob, "feature": "f", "event": "e".repeat(101) }),
            "event",
        ),
        (
            json!({ "userId": bob, "feature": "f", "event": "e", "value": 1, "currency": "EURO" }),
            "currency",
        ),
        (
            json!({ "userId": bob, "feature": "f", "event": "e", "value": 1, "currency": "E1R" }),
            "currency",
        ),
        (
            json!({ "userId": bob, "feature": "f", "event": "e", "currency": "EUR" }),
            "currency",
        ),
        (
            json!({ "userId": bob, "feature": "f", "event": "e", "metadata": { "blob": "x".repeat(5000) } }),
            "metadata",
        ),
        (
            json!({ "userId": bob, "feature": "f", "event": "e", "occurredAt": future }),
            "occurredAt",
        ),
    ];
    let before = t.snapshot().await;
    for (bad, field) in cases {
        let batch = json!([good, good, good, bad, good]);
        let response = register(&t, &app, batch).await;
        assert_bad_input(&response, &format!("input[3].{field}"));
        assert_no_data(&response, "registerEvents");
    }
    // The first bad row is named, whatever is wrong with later ones.
    let batch = json!([
        good,
        { "userId": bob, "feature": "f", "event": "" },
        good,
        { "userId": 987_654, "feature": "f", "event": "e" },
    ]);
    assert_bad_input(&register(&t, &app, batch).await, "input[1].event");
    assert_unchanged(&before, &t.snapshot().await, "rejected batches");
    assert_eq!(stored(&t).await, 0, "nothing of a rejected batch is stored");
    // Five minutes ahead is clock skew, and fine.
    let skewed = (t.now() + Duration::minutes(5)).to_rfc3339();
    let ok = register(
        &t,
        &app,
        json!([{ "userId": ann, "feature": "f", "event": "e", "occurredAt": skewed }]),
    )
    .await;
    assert_eq!(data(&ok)["registerEvents"], 1);
}

async fn batches_hold_up_to_ten_thousand(t: TestServer) {
    let (ann, bob) = acme(&t).await;
    let app = t.token(&["EVENTS_WRITE"], None).await;
    let row = |i: usize| json!({ "userId": if i.is_multiple_of(2) { ann } else { bob }, "feature": "f", "event": format!("e{}", i % 7) });
    let too_many: Vec<Value> = (0..10_001).map(row).collect();
    let mark = t.last_audit_id().await;
    let response = register(&t, &app, Value::Array(too_many)).await;
    assert_bad_input(&response, "input");
    assert_eq!(stored(&t).await, 0);
    assert!(t.audit_events_since(mark).await.is_empty());

    // The largest batch, and a bad last row that rejects all of it.
    let mut full: Vec<Value> = (0..10_000).map(row).collect();
    full[9_999] = json!({ "userId": 987_654, "feature": "f", "event": "e" });
    let response = register(&t, &app, Value::Array(full.clone())).await;
    assert_bad_input(&response, "input[9999].userId");
    assert_eq!(stored(&t).await, 0);
    full[9_999] = row(9_999);
    let response = register(&t, &app, Value::Array(full)).await;
    assert_eq!(data(&response)["registerEvents"], 10_000);
    assert_eq!(stored(&t).await, 10_000);
    let audit = t.audit_events_since(mark).await;
    assert_eq!(audit.len(), 1, "one audit event for the whole batch");
    assert!(
        audit[0].resources.contains("\"name\":\"10000\""),
        "{audit:?}"
    );
}

async fn filters_and_time_ranges(t: TestServer) {
    let (ann, bob) = acme(&t).await;
    let admin = t.admin_secret().to_owned();
    let start = t.now();
    // An event an hour, alternating users, features and events, 30 hours back.
    let input: Vec<Value> = (0..30)
        .map(|h| {
            json!({
                "userId": if h % 2 == 0 { ann } else { bob },
                "feature": if h % 3 == 0 { "export" } else { "search" },
                "event": if h % 5 == 0 { "failed" } else { "done" },
                "occurredAt": (start - Duration::hours(h)).to_rfc3339(),
            })
        })
        .collect();
    assert_eq!(
        data(&register(&t, &admin, Value::Array(input)).await)["registerEvents"],
        30
    );
    t.clock().advance(Duration::seconds(1));
    let now = t.now();

    // Neither a window nor dates: the last 24 hours (h = 0..=23), echoed.
    let log = events_ok(&t, &admin, json!({ "first": 100 })).await;
    assert_eq!(log["totalCount"], 24);
    assert_eq!(datetime(&log["startDate"]), now - Duration::hours(24));
    assert_eq!(datetime(&log["endDate"]), now);
    // Dates are half-open: [start - 10h, start - 2h) holds h = 3..=10.
    let range = json!({
        "start": (start - Duration::hours(10)).to_rfc3339(),
        "end": (start - Duration::hours(2)).to_rfc3339(),
        "first": 100,
    });
    let log = events_ok(&t, &admin, range).await;
    assert_eq!(log["totalCount"], 8);
    let ever = json!({ "start": "2000-01-01", "first": 100 });
    let log = events_ok(&t, &admin, with(&ever, json!({ "user": [bob] }))).await;
    assert_eq!(log["totalCount"], 15);
    assert!(ints(&log, "userId").iter().all(|u| *u == bob));
    let log = events_ok(&t, &admin, with(&ever, json!({ "feature": ["export"] }))).await;
    assert_eq!(log["totalCount"], 10);
    let log = events_ok(
        &t,
        &admin,
        with(
            &ever,
            json!({ "feature": ["export"], "event": ["failed"], "user": [ann, bob] }),
        ),
    )
    .await;
    // h divisible by 15: 0 and 15.
    assert_eq!(log["totalCount"], 2);
    let dates: Vec<_> = nodes(&log)
        .iter()
        .map(|n| datetime(&n["occurredAt"]))
        .collect();
    assert_eq!(dates, [start, start - Duration::hours(15)]);
    let log = events_ok(&t, &admin, with(&ever, json!({ "event": ["nothing"] }))).await;
    assert_eq!(log["totalCount"], 0);

    // Bad ranges and lists name their argument.
    let bad = [
        (json!({ "window": "1 h" }), "window"),
        (
            json!({ "window": "1h", "start": "2025-01-01" }),
            "startDate",
        ),
        (
            json!({ "start": "2025-01-10", "end": "2025-01-09" }),
            "startDate",
        ),
        (json!({ "feature": vec!["x"; 1001] }), "feature"),
        (json!({ "user": vec![1; 1001] }), "userId"),
        (json!({ "first": 1001 }), "first"),
        (json!({ "after": "garbage" }), "after"),
    ];
    for (vars, field) in bad {
        let response = events(&t, &admin, vars).await;
        assert_bad_input(&response, field);
        assert_no_data(&response, "events");
    }
}

async fn pages_both_ways_while_events_are_written(t: TestServer) {
    let (ann, _) = acme(&t).await;
    let admin = t.admin_secret().to_owned();
    let start = t.now();
    let input: Vec<Value> = (0..23)
        .map(|i| {
            json!({ "userId": ann, "feature": "f", "event": format!("e{i}"),
                    "occurredAt": (start - Duration::minutes(i / 2)).to_rfc3339() })
        })
        .collect();
    register(&t, &admin, Value::Array(input)).await;
    t.clock().advance(Duration::seconds(1));
    let vars = json!({ "start": start - Duration::hours(1), "end": t.now() });
    let forward = walk_forward(&t, &admin, (EVENTS, "events"), &vars, 5, 23).await;
    let backward = walk_backward(&t, &admin, (EVENTS, "events"), &vars, 4, 23).await;
    assert_no_duplicates(&forward, "id");
    assert_eq!(ids_of(&forward, "id"), ids_of(&backward, "id"));
    let keys: Vec<_> = forward.iter().map(|n| datetime(&n["occurredAt"])).collect();
    assert!(
        keys.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {keys:?}"
    );

    // A cursor holds while events are written, newer ones and back-dated
    // ones alike: the rest of the walk sees every older event once, and
    // nothing newer than the cursor.
    let first = events_ok(&t, &admin, with(&vars, json!({ "first": 5 }))).await;
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let late = json!([
        { "userId": ann, "feature": "f", "event": "newer", "occurredAt": (start - Duration::seconds(1)).to_rfc3339() },
        { "userId": ann, "feature": "f", "event": "backdated", "occurredAt": (start - Duration::minutes(30)).to_rfc3339() },
    ]);
    register(&t, &admin, late).await;
    let rest = events_ok(
        &t,
        &admin,
        with(&vars, json!({ "first": 100, "after": cursor })),
    )
    .await;
    let mut expected: Vec<String> = forward[5..]
        .iter()
        .map(|n| n["event"].as_str().unwrap().to_owned())
        .collect();
    expected.push("backdated".to_owned());
    assert_eq!(strings_of(&rest, "event"), expected);
    assert_eq!(flags(&rest), (true, false));
    // And backwards from the same cursor: the events before it, and the
    // one just written among them (a second before the newest two).
    let back = events_ok(
        &t,
        &admin,
        with(&vars, json!({ "last": 100, "before": cursor })),
    )
    .await;
    let name = |n: &Value| n["event"].as_str().unwrap().to_owned();
    let expected = [
        name(&forward[0]),
        name(&forward[1]),
        "newer".to_owned(),
        name(&forward[2]),
        name(&forward[3]),
    ];
    assert_eq!(strings_of(&back, "event"), expected);
    assert_eq!(flags(&back), (false, true));
}

async fn realms_and_scopes(t: TestServer) {
    let (ann, _) = acme(&t).await;
    t.create_realm("beta").await;
    let bea = t.create_user("beta", "bea@beta.test", &[]).await;
    let admin = t.admin_secret().to_owned();
    let ok = register(
        &t,
        &admin,
        json!([
            { "userId": ann, "feature": "f", "event": "acme-1" },
            { "userId": bea, "feature": "f", "event": "beta-1" },
        ]),
    )
    .await;
    assert_eq!(data(&ok)["registerEvents"], 2);
    // Across realms: the audit event has no realm and names both.
    let audit = t.audit_events().await;
    let last = audit.last().unwrap();
    assert_eq!(last.event, "events.registered");
    assert_eq!(last.realm, None);
    assert!(last.resources.contains("acme") && last.resources.contains("beta"));
    t.clock().advance(Duration::seconds(1));

    let acme_reader = t.token(&["EVENTS_READ"], Some(&["acme"])).await;
    let all_reader = t.token(&["EVENTS_READ"], None).await;
    let log = events_ok(&t, &acme_reader, json!({})).await;
    assert_eq!(strings_of(&log, "event"), ["acme-1"]);
    let log = events_ok(&t, &all_reader, json!({})).await;
    assert_eq!(log["totalCount"], 2);
    let log = events_ok(&t, &all_reader, json!({ "realm": "BETA" })).await;
    assert_eq!(strings_of(&log, "event"), ["beta-1"]);
    for realm in ["beta", "nosuch"] {
        let response = events(&t, &acme_reader, json!({ "realm": realm })).await;
        assert_code(&response, "FORBIDDEN");
        assert_no_data(&response, "events");
    }
    let log = events_ok(&t, &acme_reader, json!({ "user": [bea] })).await;
    assert_eq!(log["totalCount"], 0);

    // A writer bound to acme cannot tell beta's users from missing ones.
    let acme_app = t.token(&["EVENTS_WRITE"], Some(&["acme"])).await;
    let before = stored(&t).await;
    let other = register(
        &t,
        &acme_app,
        json!([{ "userId": bea, "feature": "f", "event": "x" }]),
    )
    .await;
    let missing = register(
        &t,
        &acme_app,
        json!([{ "userId": 987_654, "feature": "f", "event": "x" }]),
    )
    .await;
    assert_bad_input(&other, "input[0].userId");
    let message = |r: &Value, id: i64| {
        errors(r)[0]["message"]
            .as_str()
            .unwrap()
            .replace(&id.to_string(), "<id>")
    };
    assert_eq!(message(&other, bea), message(&missing, 987_654));
    let own = register(
        &t,
        &acme_app,
        json!([{ "userId": ann, "feature": "f", "event": "acme-2" }]),
    )
    .await;
    assert_eq!(data(&own)["registerEvents"], 1);
    assert_eq!(stored(&t).await, before + 1);

    // Scopes: writing and reading are separate, checked first.
    let before = stored(&t).await;
    for secret in [
        &acme_reader,
        &t.token(&["USERS_WRITE", "AUDIT_READ"], None).await,
    ] {
        let response = register(
            &t,
            secret,
            json!([{ "userId": ann, "feature": "f", "event": "x" }]),
        )
        .await;
        assert_code(&response, "FORBIDDEN");
        assert_no_data(&response, "registerEvents");
    }
    assert_eq!(stored(&t).await, before);
    let response = events(&t, &acme_app, json!({})).await;
    assert_code(&response, "FORBIDDEN");
    assert_no_data(&response, "events");
}
