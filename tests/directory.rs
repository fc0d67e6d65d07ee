//! The directory: realms, the role catalog, datasets, users and their
//! lifecycle, soft delete, filters, ordering and global ids.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{Value, json};

backend_tests!(
    realms_are_created_listed_and_updated,
    role_catalog_lists_app_and_dataset_roles,
    datasets_are_created_and_listed,
    user_lifecycle,
    users_are_found_by_email,
    deleted_users_leave_current_views,
    filters_combine_with_and_and_or,
    users_are_ordered,
    global_ids_round_trip,
);

async fn realms_are_created_listed_and_updated(t: TestServer) {
    let created = t
        .admin_ok(
            "mutation { createRealm(name: \"Acme\", seatLimit: 10) { id name seatLimit createdAt } }",
            json!({}),
        )
        .await;
    let acme = &created["createRealm"];
    assert_eq!(acme["name"], "acme", "realm names are stored lowercase");
    assert_eq!(acme["seatLimit"], 10);
    assert_eq!(datetime(&acme["createdAt"]), t.now());

    t.clock().advance(chrono::Duration::hours(1));
    t.create_realm("globex").await;

    let response = t
        .admin(
            "mutation { createRealm(name: \"ACME\") { name } }",
            json!({}),
        )
        .await;
    assert_code(&response, "CONFLICT");

    let realms = t
        .admin_ok("{ realms { id name seatLimit createdAt } }", json!({}))
        .await;
    let names: BTreeSet<&str> = realms["realms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["acme", "globex"]));

    let updated = t
        .admin_ok(
            "mutation { updateRealm(name: \"ACME\", seatLimit: 25) { id name seatLimit createdAt } }",
            json!({}),
        )
        .await;
    assert_eq!(updated["updateRealm"]["id"], acme["id"]);
    assert_eq!(updated["updateRealm"]["seatLimit"], 25);
    assert_eq!(updated["updateRealm"]["createdAt"], acme["createdAt"]);

    // Omitting seatLimit changes nothing; null clears it.
    let same = t
        .admin_ok(
            "mutation { updateRealm(name: \"acme\") { seatLimit } }",
            json!({}),
        )
        .await;
    assert_eq!(same["updateRealm"]["seatLimit"], 25);
    let cleared = t
        .admin_ok(
            "mutation { updateRealm(name: \"acme\", seatLimit: null) { seatLimit } }",
            json!({}),
        )
        .await;
    assert!(
        cleared["updateRealm"]["seatLimit"].is_null(),
        "updateRealm with seatLimit: null clears it"
    );

    // A realm is also reachable through its users.
    let user = t
        .create_user_with(json!({ "realm": "Acme", "email": "a@acme.test", "name": "A" }))
        .await;
    assert_eq!(user["realm"]["name"], "acme");
    assert_eq!(user["realm"]["id"], acme["id"]);
}

async fn role_catalog_lists_app_and_dataset_roles(t: TestServer) {
    let all = t
        .admin_ok("{ roles { name kind description } }", json!({}))
        .await;
    let all = all["roles"].as_array().unwrap();
    let mut app: Vec<&str> = Vec::new();
    let mut dataset: Vec<&str> = Vec::new();
    for role in all {
        match role["kind"].as_str().unwrap() {
            "APP" => app.push(role["name"].as_str().unwrap()),
            "DATASET" => dataset.push(role["name"].as_str().unwrap()),
            other => panic!("unknown kind {other}"),
        }
    }
    app.sort();
    dataset.sort();
    assert_eq!(app, APP_ROLES);
    assert_eq!(dataset, DATASET_ROLES);

    for (kind, expected) in [("APP", &APP_ROLES[..]), ("DATASET", &DATASET_ROLES[..])] {
        let roles = t
            .admin_ok(
                "query($kind: RoleKind) { roles(kind: $kind) { name kind } }",
                json!({ "kind": kind }),
            )
            .await;
        let roles = roles["roles"].as_array().unwrap();
        assert!(roles.iter().all(|r| r["kind"] == kind), "{roles:?}");
        let mut names: Vec<&str> = roles.iter().map(|r| r["name"].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, expected);
    }
}

async fn datasets_are_created_and_listed(t: TestServer) {
    t.create_realm("acme").await;
    t.create_realm("globex").await;
    let created = t
        .admin_ok(
            "mutation { createDataset(realm: \"ACME\", name: \"Invoices\") { id datasetId name realm { name } createdAt } }",
            json!({}),
        )
        .await;
    let invoices = &created["createDataset"];
    assert_eq!(invoices["name"], "Invoices");
    assert_eq!(invoices["realm"]["name"], "acme");
    assert_eq!(datetime(&invoices["createdAt"]), t.now());
    let receipts = t.create_dataset("acme", "Receipts").await;
    let orders = t.create_dataset("globex", "Orders").await;

    let response = t
        .admin(
            "mutation { createDataset(realm: \"acme\", name: \"Invoices\") { datasetId } }",
            json!({}),
        )
        .await;
    assert_code(&response, "CONFLICT");

    let acme = t
        .admin_ok(
            "{ datasets(realm: \"Acme\") { totalCount edges { node { datasetId name realm { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(acme["datasets"]["totalCount"], 2);
    assert_eq!(
        ints(&acme["datasets"], "datasetId"),
        vec![
            invoices["datasetId"].as_i64().unwrap(),
            receipts["datasetId"].as_i64().unwrap()
        ]
    );
    let all = t
        .admin_ok(
            "{ datasets { totalCount edges { node { datasetId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(all["datasets"]["totalCount"], 3);
    assert!(ints(&all["datasets"], "datasetId").contains(&orders["datasetId"].as_i64().unwrap()));
}

async fn user_lifecycle(t: TestServer) {
    t.create_realm("acme").await;
    let invoices = t.create_dataset("acme", "Invoices").await;
    let receipts = t.create_dataset("acme", "Receipts").await;
    let inv = invoices["datasetId"].as_i64().unwrap();
    let rec = receipts["datasetId"].as_i64().unwrap();

    let created_at = t.now();
    let user = t
        .create_user_with(json!({
            "realm": "acme",
            "email": "ann@acme.test",
            "name": "Ann Example",
            "roles": ["TEAM_USER", "REPORT_GENERATOR"],
            "datasets": [{ "datasetId": inv, "role": "ANALYST" }],
        }))
        .await;
    let id = user["userId"].as_i64().unwrap();
    assert_eq!(user["email"], "ann@acme.test");
    assert_eq!(user["name"], "Ann Example");
    assert_eq!(user["realm"]["name"], "acme");
    assert_eq!(user["status"], "ACTIVE", "status defaults to ACTIVE");
    assert_eq!(user["enabled"], true);
    assert_eq!(
        strings(&user["roles"]),
        sorted(&["REPORT_GENERATOR", "TEAM_USER"])
    );
    assert_eq!(
        user["datasets"],
        json!([{ "datasetId": inv, "datasetName": "Invoices", "role": "ANALYST" }])
    );
    assert_eq!(datetime(&user["createdAt"]), created_at);
    assert_eq!(datetime(&user["updatedAt"]), created_at);
    assert!(user["deletedAt"].is_null());
    assert_eq!(
        t.user(id).await,
        user,
        "user(userId) reads back what createUser returned"
    );

    t.clock().advance(chrono::Duration::minutes(1));
    let q = format!(
        "mutation($input: UpdateUserInput!) {{ updateUser(input: $input) {{ {USER_FIELDS} }} }}"
    );
    let updated = t
        .admin_ok(&q, json!({ "input": { "userId": id, "name": "Ann Other", "email": "ann.other@acme.test" } }))
        .await;
    let updated = &updated["updateUser"];
    assert_eq!(updated["name"], "Ann Other");
    assert_eq!(updated["email"], "ann.other@acme.test");
    assert_eq!(datetime(&updated["updatedAt"]), t.now());
    assert_eq!(datetime(&updated["createdAt"]), created_at);
    let renamed_only = t
        .admin_ok(&q, json!({ "input": { "userId": id, "name": "Ann" } }))
        .await;
    assert_eq!(
        renamed_only["updateUser"]["email"], "ann.other@acme.test",
        "omitted fields stay"
    );

    let status_q = "mutation($id: Int!, $s: UserStatus!) { setUserStatus(userId: $id, status: $s) { status enabled } }";
    for (status, enabled) in [("SUSPENDED", false), ("DORMANT", true), ("ACTIVE", true)] {
        let changed = t.admin_ok(status_q, json!({ "id": id, "s": status })).await;
        assert_eq!(changed["setUserStatus"]["status"], status);
        assert_eq!(
            changed["setUserStatus"]["enabled"], enabled,
            "enabled is false exactly when SUSPENDED"
        );
    }

    let roles = |name: &'static str| {
        format!(
            "mutation($id: Int!, $r: [String!]!) {{ {name}(userId: $id, roles: $r) {{ roles }} }}"
        )
    };
    let set = t
        .admin_ok(
            &roles("setUserRoles"),
            json!({ "id": id, "r": ["APP_ADMIN", "TEAM_ADMIN"] }),
        )
        .await;
    assert_eq!(
        strings(&set["setUserRoles"]["roles"]),
        sorted(&["APP_ADMIN", "TEAM_ADMIN"])
    );
    let added = t
        .admin_ok(
            &roles("addUserRoles"),
            json!({ "id": id, "r": ["TEAM_ADMIN", "TEAM_USER"] }),
        )
        .await;
    assert_eq!(
        strings(&added["addUserRoles"]["roles"]),
        sorted(&["APP_ADMIN", "TEAM_ADMIN", "TEAM_USER"])
    );
    let removed = t
        .admin_ok(
            &roles("removeUserRoles"),
            json!({ "id": id, "r": ["APP_ADMIN", "MANAGE_ALL_DATA"] }),
        )
        .await;
    assert_eq!(
        strings(&removed["removeUserRoles"]["roles"]),
        sorted(&["TEAM_ADMIN", "TEAM_USER"])
    );
    let cleared = t
        .admin_ok(&roles("setUserRoles"), json!({ "id": id, "r": [] }))
        .await;
    assert_eq!(cleared["setUserRoles"]["roles"], json!([]));

    let ds_q = "mutation($id: Int!, $ds: Int!, $role: String) {
        setDatasetRole(userId: $id, datasetId: $ds, role: $role) { datasets { datasetId datasetName role } } }";
    let granted = t
        .admin_ok(ds_q, json!({ "id": id, "ds": rec, "role": "REVIEWER" }))
        .await;
    assert_eq!(
        granted["setDatasetRole"]["datasets"],
        json!([
            { "datasetId": inv, "datasetName": "Invoices", "role": "ANALYST" },
            { "datasetId": rec, "datasetName": "Receipts", "role": "REVIEWER" },
        ])
    );
    let changed = t
        .admin_ok(ds_q, json!({ "id": id, "ds": inv, "role": "MANAGER" }))
        .await;
    assert_eq!(changed["setDatasetRole"]["datasets"][0]["role"], "MANAGER");
    let revoked = t
        .admin_ok(ds_q, json!({ "id": id, "ds": inv, "role": null }))
        .await;
    assert_eq!(
        revoked["setDatasetRole"]["datasets"],
        json!([{ "datasetId": rec, "datasetName": "Receipts", "role": "REVIEWER" }])
    );

    // A user created SUSPENDED starts disabled.
    let suspended = t
        .create_user_with(json!({ "realm": "acme", "email": "sam@acme.test", "name": "Sam", "status": "SUSPENDED" }))
        .await;
    assert_eq!(suspended["status"], "SUSPENDED");
    assert_eq!(suspended["enabled"], false);
    assert_eq!(suspended["roles"], json!([]));
    assert_eq!(suspended["datasets"], json!([]));
}

async fn users_are_found_by_email(t: TestServer) {
    t.create_realm("acme").await;
    t.create_realm("globex").await;
    let acme_ann = t.create_user("acme", "ann@example.com", &[]).await;
    let globex_ann = t.create_user("globex", "ann@example.com", &[]).await;
    let bob = t.create_user("acme", "bob@example.com", &[]).await;

    let by = |email: &str, realm: Option<&str>| json!({ "email": email, "realm": realm });
    let q = "query($email: String, $realm: String) { user(email: $email, realm: $realm) { userId realm { name } } }";
    let found = t.admin_ok(q, by("ann@example.com", Some("acme"))).await;
    assert_eq!(found["user"]["userId"], acme_ann);
    let found = t.admin_ok(q, by("ann@example.com", Some("GLOBEX"))).await;
    assert_eq!(found["user"]["userId"], globex_ann);
    let found = t.admin_ok(q, by("bob@example.com", None)).await;
    assert_eq!(found["user"]["userId"], bob);
    let found = t.admin_ok(q, by("nobody@example.com", Some("acme"))).await;
    assert!(
        found["user"].is_null(),
        "an unknown email is null, not an error"
    );
    let found = t
        .admin_ok("{ user(userId: 999999) { userId } }", json!({}))
        .await;
    assert!(
        found["user"].is_null(),
        "an unknown id is null, not an error"
    );
}

async fn deleted_users_leave_current_views(t: TestServer) {
    t.create_realm("acme").await;
    let ann = t.create_user("acme", "ann@acme.test", &["TEAM_USER"]).await;
    let bob = t.create_user("acme", "bob@acme.test", &[]).await;
    let gid = t.user(ann).await["id"].as_str().unwrap().to_owned();

    t.clock().advance(chrono::Duration::hours(2));
    let deleted = t
        .admin_ok(
            &format!("mutation($id: Int!) {{ deleteUser(userId: $id) {{ {USER_FIELDS} }} }}"),
            json!({ "id": ann }),
        )
        .await;
    assert_eq!(deleted["deleteUser"]["userId"], ann);
    assert_eq!(datetime(&deleted["deleteUser"]["deletedAt"]), t.now());

    assert!(
        t.user(ann).await.is_null(),
        "user(userId) of a deleted user is null"
    );
    let found = t
        .admin_ok(
            "{ user(email: \"ann@acme.test\", realm: \"acme\") { userId } }",
            json!({}),
        )
        .await;
    assert!(
        found["user"].is_null(),
        "user(email) of a deleted user is null"
    );
    let users = t
        .admin_ok(
            "{ users { totalCount edges { node { userId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(ints(&users["users"], "userId"), vec![bob]);
    assert_eq!(users["users"]["totalCount"], 1);
    let filtered = t
        .admin_ok(
            "query($id: Int!) { users(filter: {userId: [$id]}) { totalCount } }",
            json!({ "id": ann }),
        )
        .await;
    assert_eq!(filtered["users"]["totalCount"], 0);

    // History stays.
    let rows = t.user_change_rows(ann).await;
    assert_eq!(
        rows.len(),
        2,
        "CREATED and DELETED stay recorded: {rows:#?}"
    );
    let log = t
        .admin_ok(
            "query($id: ID!) { node(id: $id) { ... on User { deletedAt changelog { edges { node { changesMade } } } } } }",
            json!({ "id": gid }),
        )
        .await;
    if !log["node"].is_null() {
        let changes: Vec<Value> = nodes(&log["node"]["changelog"])
            .into_iter()
            .map(|n| n["changesMade"].clone())
            .collect();
        assert_eq!(changes, vec![json!(["CREATED"]), json!(["DELETED"])]);
        assert!(!log["node"]["deletedAt"].is_null());
    }

    // A deleted user can be changed no more.
    let response = t
        .admin(
            "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            json!({ "id": ann }),
        )
        .await;
    assert_code(&response, "NOT_FOUND");
    let response = t
        .admin(
            "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
            json!({ "id": ann }),
        )
        .await;
    assert_code(&response, "NOT_FOUND");

    // Their email is free again in the realm.
    let again = t.create_user("acme", "ann@acme.test", &[]).await;
    assert_ne!(again, ann);
}

/// Users for filter and order tests: (email, name, realm, status, app roles, dataset role).
struct Person {
    email: &'static str,
    name: &'static str,
    realm: &'static str,
    status: &'static str,
    roles: &'static [&'static str],
    dataset_role: Option<&'static str>,
}

const PEOPLE: [Person; 8] = [
    Person {
        email: "carol@acme.test",
        name: "Carol",
        realm: "acme",
        status: "ACTIVE",
        roles: &["APP_ADMIN"],
        dataset_role: None,
    },
    Person {
        email: "alice@acme.test",
        name: "Alice",
        realm: "acme",
        status: "ACTIVE",
        roles: &["TEAM_USER"],
        dataset_role: Some("ANALYST"),
    },
    Person {
        email: "bob@acme.test",
        name: "Bob",
        realm: "acme",
        status: "SUSPENDED",
        roles: &["TEAM_USER", "TEAM_ADMIN"],
        dataset_role: None,
    },
    Person {
        email: "dave@acme.test",
        name: "Dave",
        realm: "acme",
        status: "DORMANT",
        roles: &[],
        dataset_role: Some("MANAGER"),
    },
    Person {
        email: "erin@globex.test",
        name: "Erin",
        realm: "globex",
        status: "ACTIVE",
        roles: &["TEAM_USER"],
        dataset_role: None,
    },
    Person {
        email: "frank@globex.test",
        name: "Frank",
        realm: "globex",
        status: "SUSPENDED",
        roles: &["APP_ADMIN"],
        dataset_role: Some("ANALYST"),
    },
    Person {
        email: "gina@globex.test",
        name: "Alice",
        realm: "globex",
        status: "DORMANT",
        roles: &["REPORT_GENERATOR"],
        dataset_role: None,
    },
    Person {
        email: "hank@initech.test",
        name: "Hank",
        realm: "initech",
        status: "ACTIVE",
        roles: &["TEAM_USER"],
        dataset_role: None,
    },
];

/// Creates PEOPLE one minute apart; returns their ids in PEOPLE's order.
async fn people(t: &TestServer) -> Vec<i64> {
    let mut datasets = std::collections::HashMap::new();
    for realm in ["acme", "globex", "initech"] {
        t.create_realm(realm).await;
        let ds = t.create_dataset(realm, "Main").await;
        datasets.insert(realm, ds["datasetId"].as_i64().unwrap());
    }
    let mut ids = Vec::new();
    for p in &PEOPLE {
        t.clock().advance(chrono::Duration::minutes(1));
        let grants: Vec<Value> = p
            .dataset_role
            .iter()
            .map(|role| json!({ "datasetId": datasets[p.realm], "role": role }))
            .collect();
        let user = t
            .create_user_with(json!({
                "realm": p.realm, "email": p.email, "name": p.name, "status": p.status,
                "roles": p.roles, "datasets": grants,
            }))
            .await;
        ids.push(user["userId"].as_i64().unwrap());
    }
    ids
}

async fn filtered(t: &TestServer, filter: Value) -> Vec<i64> {
    let users = t
        .admin_ok(
            "query($f: UserFilter) { users(filter: $f, first: 100) { totalCount edges { node { userId } } } }",
            json!({ "f": filter }),
        )
        .await;
    let mut ids = ints(&users["users"], "userId");
    assert_eq!(
        users["users"]["totalCount"].as_u64(),
        Some(ids.len() as u64),
        "totalCount of {filter}"
    );
    ids.sort();
    ids
}

async fn filters_combine_with_and_and_or(t: TestServer) {
    let ids = people(&t).await;
    let pick = |which: &dyn Fn(&Person) -> bool| -> Vec<i64> {
        let mut out: Vec<i64> = PEOPLE
            .iter()
            .zip(&ids)
            .filter(|(p, _)| which(p))
            .map(|(_, id)| *id)
            .collect();
        out.sort();
        out
    };
    let has_role = |p: &Person, role: &str| p.roles.contains(&role) || p.dataset_role == Some(role);

    let cases: Vec<(Value, Vec<i64>)> = vec![
        (json!({}), pick(&|_| true)),
        (json!({ "realm": ["acme"] }), pick(&|p| p.realm == "acme")),
        (
            json!({ "realm": ["ACME", "initech"] }),
            pick(&|p| p.realm == "acme" || p.realm == "initech"),
        ),
        (
            json!({ "status": ["SUSPENDED"] }),
            pick(&|p| p.status == "SUSPENDED"),
        ),
        (
            json!({ "status": ["ACTIVE", "DORMANT"] }),
            pick(&|p| p.status != "SUSPENDED"),
        ),
        (
            json!({ "role": ["APP_ADMIN"] }),
            pick(&|p| has_role(p, "APP_ADMIN")),
        ),
        (
            json!({ "role": ["ANALYST"] }),
            pick(&|p| has_role(p, "ANALYST")),
        ),
        (
            json!({ "role": ["TEAM_ADMIN", "MANAGER"] }),
            pick(&|p| has_role(p, "TEAM_ADMIN") || has_role(p, "MANAGER")),
        ),
        (
            json!({ "userId": [ids[0], ids[5]] }),
            pick(&|p| p.email == "carol@acme.test" || p.email == "frank@globex.test"),
        ),
        (
            json!({ "userEmail": ["bob@acme.test", "gina@globex.test"] }),
            pick(&|p| p.email == "bob@acme.test" || p.email == "gina@globex.test"),
        ),
        // Fields of one filter all apply.
        (
            json!({ "realm": ["acme"], "status": ["ACTIVE"] }),
            pick(&|p| p.realm == "acme" && p.status == "ACTIVE"),
        ),
        (
            json!({ "AND": [{ "realm": ["acme", "globex"] }, { "role": ["TEAM_USER"] }] }),
            pick(&|p| p.realm != "initech" && has_role(p, "TEAM_USER")),
        ),
        (
            json!({ "OR": [{ "role": ["APP_ADMIN"] }, { "status": ["DORMANT"] }] }),
            pick(&|p| has_role(p, "APP_ADMIN") || p.status == "DORMANT"),
        ),
        // (acme AND ((ACTIVE AND TEAM_USER) OR ANALYST OR dave)) — nested both ways.
        (
            json!({
                "realm": ["acme"],
                "OR": [
                    { "AND": [{ "status": ["ACTIVE"] }, { "role": ["TEAM_USER"] }] },
                    { "role": ["ANALYST"] },
                    { "userEmail": ["dave@acme.test"] },
                ],
            }),
            pick(&|p| {
                p.realm == "acme"
                    && ((p.status == "ACTIVE" && has_role(p, "TEAM_USER"))
                        || has_role(p, "ANALYST")
                        || p.email == "dave@acme.test")
            }),
        ),
        (
            json!({
                "OR": [
                    { "AND": [{ "realm": ["globex"] }, { "OR": [{ "status": ["SUSPENDED"] }, { "role": ["REPORT_GENERATOR"] }] }] },
                    { "AND": [{ "realm": ["initech"] }] },
                ],
            }),
            pick(&|p| {
                (p.realm == "globex"
                    && (p.status == "SUSPENDED" || has_role(p, "REPORT_GENERATOR")))
                    || p.realm == "initech"
            }),
        ),
        (
            json!({ "AND": [{ "realm": ["acme"] }, { "realm": ["globex"] }] }),
            vec![],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            filtered(&t, filter.clone()).await,
            expected,
            "users(filter: {filter})"
        );
    }
}

async fn ordered(t: &TestServer, order: Value) -> Vec<i64> {
    let users = t
        .admin_ok(
            "query($o: UserOrder) { users(orderBy: $o, first: 100) { edges { node { userId } } } }",
            json!({ "o": order }),
        )
        .await;
    ints(&users["users"], "userId")
}

async fn users_are_ordered(t: TestServer) {
    let ids = people(&t).await;
    let by = |key: &dyn Fn(&Person, i64) -> (String, i64)| -> Vec<i64> {
        let mut rows: Vec<((String, i64), i64)> = PEOPLE
            .iter()
            .zip(&ids)
            .map(|(p, id)| (key(p, *id), *id))
            .collect();
        rows.sort();
        rows.into_iter().map(|(_, id)| id).collect()
    };
    let rev = |mut v: Vec<i64>| {
        v.reverse();
        v
    };

    let mut by_id = ids.clone();
    by_id.sort();
    assert_eq!(
        ordered(&t, Value::Null).await,
        by_id,
        "default order: USER_ID ASC"
    );
    assert_eq!(
        ordered(&t, json!({})).await,
        by_id,
        "UserOrder defaults: USER_ID ASC"
    );
    assert_eq!(
        ordered(&t, json!({ "direction": "DESC" })).await,
        rev(by_id.clone())
    );
    let by_email = by(&|p, id| (p.email.to_owned(), id));
    assert_eq!(ordered(&t, json!({ "field": "EMAIL" })).await, by_email);
    assert_eq!(
        ordered(&t, json!({ "field": "EMAIL", "direction": "DESC" })).await,
        rev(by_email)
    );
    // Two users are called Alice: ties break by id, reversed with the direction.
    let by_name = by(&|p, id| (p.name.to_owned(), id));
    assert_eq!(
        ordered(&t, json!({ "field": "NAME", "direction": "ASC" })).await,
        by_name
    );
    assert_eq!(
        ordered(&t, json!({ "field": "NAME", "direction": "DESC" })).await,
        rev(by_name)
    );
    // Created one minute apart, in PEOPLE's order.
    assert_eq!(ordered(&t, json!({ "field": "CREATED_AT" })).await, ids);
    assert_eq!(
        ordered(&t, json!({ "field": "CREATED_AT", "direction": "DESC" })).await,
        rev(ids.clone())
    );

    // Ordering and filtering together.
    let users = t
        .admin_ok(
            "{ users(filter: {realm: [\"acme\"]}, orderBy: {field: NAME}) { edges { node { name } } } }",
            json!({}),
        )
        .await;
    let names: Vec<Value> = nodes(&users["users"])
        .into_iter()
        .map(|n| n["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("Alice"), json!("Bob"), json!("Carol"), json!("Dave")]
    );
}

async fn global_ids_round_trip(t: TestServer) {
    let realm = t.create_realm("acme").await;
    let dataset = t.create_dataset("acme", "Invoices").await;
    let user = t
        .create_user_with(json!({ "realm": "acme", "email": "ann@acme.test", "name": "Ann", "roles": ["TEAM_USER"] }))
        .await;
    let user_id = user["userId"].as_i64().unwrap();
    let change = t.changelog(user_id).await.remove(0);
    let tokens = t.admin_ok("{ apiTokens { id name } }", json!({})).await;
    let token = tokens["apiTokens"][0].clone();

    let node_q = "query($id: ID!) { node(id: $id) {
        __typename id
        ... on Realm { name }
        ... on Dataset { datasetId }
        ... on User { userId }
        ... on UserChange { userId changesMade }
        ... on ApiToken { name }
    } }";
    let cases = [
        ("Realm", realm["id"].clone(), "name", realm["name"].clone()),
        (
            "Dataset",
            dataset["id"].clone(),
            "datasetId",
            dataset["datasetId"].clone(),
        ),
        ("User", user["id"].clone(), "userId", user["userId"].clone()),
        ("UserChange", change["id"].clone(), "userId", json!(user_id)),
        (
            "ApiToken",
            token["id"].clone(),
            "name",
            token["name"].clone(),
        ),
    ];
    let mut all_ids = Vec::new();
    for (typename, id, field, value) in &cases {
        let id = id.as_str().expect("global ids are strings").to_owned();
        assert!(!id.is_empty());
        assert!(
            id.parse::<i64>().is_err(),
            "global ids are opaque, not bare database ids: {id}"
        );
        let node = t.admin_ok(node_q, json!({ "id": id })).await;
        assert_eq!(node["node"]["__typename"], *typename, "{node}");
        assert_eq!(node["node"]["id"], id.as_str());
        assert_eq!(node["node"][field], *value, "{node}");
        all_ids.push(id);
    }
    let unique: BTreeSet<&String> = all_ids.iter().collect();
    assert_eq!(
        unique.len(),
        all_ids.len(),
        "global ids are distinct across types"
    );

    let nodes_q = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }";
    let mut reversed = all_ids.clone();
    reversed.reverse();
    let fetched = t.admin_ok(nodes_q, json!({ "ids": reversed })).await;
    let got: Vec<&str> = fetched["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        reversed.iter().map(String::as_str).collect::<Vec<_>>(),
        "nodes keeps the order asked"
    );

    // Ids from the API's lists match the ids of nodes.
    let users = t
        .admin_ok("{ users { edges { node { id } } } }", json!({}))
        .await;
    assert_eq!(nodes(&users["users"])[0]["id"], user["id"]);

    for bad in ["", "nonsense", "!!!", "VXNlcjo=", "123"] {
        let response = t.admin(node_q, json!({ "id": bad })).await;
        assert_bad_input(&response, "id");
    }
    let response = t
        .admin(nodes_q, json!({ "ids": [user["id"], "nonsense"] }))
        .await;
    assert_code(&response, "BAD_USER_INPUT");
    let field = errors(&response)[0]["extensions"]["field"]
        .as_str()
        .unwrap_or_default();
    assert!(
        field.starts_with("ids"),
        "nodes names its argument, got {field:?}"
    );
}
