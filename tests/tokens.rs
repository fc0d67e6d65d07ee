//! Tokens people carry: enrolment, assignment, enabling, realm moves and
//! removal over HTTP, with their errors, audit events, and no-ops that write
//! nothing.

#[macro_use]
mod common;
mod token_support;

use common::*;
use serde_json::json;
use token_support::*;

backend_tests!(
    tokens_are_enrolled_listed_and_changed,
    each_change_writes_one_audit_event_and_a_no_op_none,
    errors_name_what_is_wrong,
    tokens_outside_a_bound_token_realms_are_missing,
    writing_needs_tokens_write,
);

async fn tokens_are_enrolled_listed_and_changed(t: TestServer) {
    t.create_realm("alpha").await;
    let ada = t.create_user("alpha", "ada@alpha.test", &[]).await;
    let token = admin_op(
        &t,
        "enrollToken",
        json!({ "input": { "serial": "LSSM0001", "kind": "HOTP", "realm": "Alpha", "userId": ada } }),
    )
    .await;
    assert_eq!(token["serial"], "LSSM0001");
    assert_eq!(token["kind"], "hotp");
    assert_eq!(token["realm"], "alpha");
    assert_eq!(token["user"]["userId"], ada);
    assert_eq!(
        (token["active"].clone(), token["assigned"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(datetime(&token["createdAt"]), start_time());

    // A token without a realm, given a user, goes to the user's realm.
    let second = enroll(&t, "LSSM0002", None, Some(ada)).await;
    assert_eq!(second["realm"], "alpha");
    let loose = enroll(&t, "LOOSE", None, None).await;
    assert_eq!(
        (loose["realm"].clone(), loose["user"].clone()),
        (json!(null), json!(null))
    );
    assert_eq!(loose["kind"], "totp");

    let listed = t
        .admin_ok(
            &format!("{{ tokens(realm: \"alpha\") {{ totalCount edges {{ node {{ {TOKEN_FIELDS} }} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(listed["tokens"]["totalCount"], 2);
    let serials: Vec<_> = nodes(&listed["tokens"])
        .iter()
        .map(|n| n["serial"].clone())
        .collect();
    assert_eq!(serials, vec![json!("LSSM0001"), json!("LSSM0002")]);
    let none = t
        .admin_ok(
            "{ tokens(realm: \"/:no realm:/\") { totalCount edges { node { serial } } } }",
            json!({}),
        )
        .await;
    assert_eq!(nodes(&none["tokens"]), vec![json!({ "serial": "LOOSE" })]);
    let by_serial = t
        .admin_ok("{ tokens(serial: \"LSSM0002\") { totalCount } }", json!({}))
        .await;
    assert_eq!(by_serial["tokens"]["totalCount"], 1);

    // User.tokens and node(id).
    let user = t
        .admin_ok(
            "query($id: Int) { user(userId: $id) { tokens(first: 1) { totalCount pageInfo { hasNextPage } edges { node { serial } } } } }",
            json!({ "id": ada }),
        )
        .await;
    assert_eq!(user["user"]["tokens"]["totalCount"], 2);
    assert_eq!(user["user"]["tokens"]["pageInfo"]["hasNextPage"], true);
    let node = t
        .admin_ok(
            "query($id: ID!) { node(id: $id) { __typename ... on Token { serial } } }",
            json!({ "id": token["id"] }),
        )
        .await;
    assert_eq!(
        node["node"],
        json!({ "__typename": "Token", "serial": "LSSM0001" })
    );

    // Each mutation returns the token as it is after it.
    let s = json!({ "serial": "LSSM0001" });
    assert_eq!(
        admin_op(&t, "disableToken", s.clone()).await["active"],
        false
    );
    assert_eq!(admin_op(&t, "enableToken", s.clone()).await["active"], true);
    let unassigned = admin_op(&t, "unassignToken", s.clone()).await;
    assert_eq!(
        (unassigned["assigned"].clone(), unassigned["user"].clone()),
        (json!(false), json!(null))
    );
    t.create_realm("beta").await;
    let moved = admin_op(
        &t,
        "setTokenRealm",
        json!({ "serial": "LSSM0001", "realm": "beta" }),
    )
    .await;
    assert_eq!(moved["realm"], "beta");
    let out = admin_op(
        &t,
        "setTokenRealm",
        json!({ "serial": "LSSM0001", "realm": null }),
    )
    .await;
    assert_eq!(out["realm"], json!(null));
    let removed = admin_op(&t, "removeToken", s.clone()).await;
    assert_eq!(removed["serial"], "LSSM0001");
    let gone = t
        .admin_ok("{ tokens(serial: \"LSSM0001\") { totalCount } }", json!({}))
        .await;
    assert_eq!(gone["tokens"]["totalCount"], 0);
    // A removed serial can be enrolled again.
    enroll(&t, "LSSM0001", Some("beta"), None).await;
}

async fn each_change_writes_one_audit_event_and_a_no_op_none(t: TestServer) {
    t.create_realm("alpha").await;
    let ada = t.create_user("alpha", "ada@alpha.test", &[]).await;
    set_policy(&t, "*", &["TOTAL", "ACTIVE"]).await;
    let mark = t.last_audit_id().await;
    enroll(&t, "T1", Some("alpha"), None).await;
    let s = json!({ "serial": "T1" });
    admin_op(&t, "assignToken", json!({ "serial": "T1", "userId": ada })).await;
    admin_op(&t, "disableToken", s.clone()).await;
    admin_op(&t, "enableToken", s.clone()).await;
    admin_op(&t, "unassignToken", s.clone()).await;
    let events: Vec<_> = t
        .audit_events_since(mark)
        .await
        .into_iter()
        .map(|e| (e.event, e.realm))
        .collect();
    let alpha = Some("alpha".to_owned());
    assert_eq!(
        events,
        vec![
            ("token.enrolled".to_owned(), alpha.clone()),
            ("token.assigned".to_owned(), alpha.clone()),
            ("token.disabled".to_owned(), alpha.clone()),
            ("token.enabled".to_owned(), alpha.clone()),
            ("token.unassigned".to_owned(), alpha.clone()),
        ]
    );

    // Changing nothing writes nothing: no audit event, no counter, no change.
    let before = (t.last_audit_id().await, counter_rows(&t).await);
    let token = admin_op(&t, "enableToken", s.clone()).await;
    assert_eq!(token["active"], true);
    admin_op(&t, "unassignToken", s.clone()).await;
    admin_op(
        &t,
        "setTokenRealm",
        json!({ "serial": "T1", "realm": "ALPHA" }),
    )
    .await;
    admin_op(&t, "assignToken", json!({ "serial": "T1", "userId": ada })).await;
    let mark = t.last_audit_id().await;
    admin_op(&t, "assignToken", json!({ "serial": "T1", "userId": ada })).await;
    assert_eq!(
        t.last_audit_id().await,
        mark,
        "assigning to the same user again"
    );
    assert_eq!(
        before.0 + 1,
        mark,
        "only the first assignment wrote an event"
    );
    assert_eq!(counter_count(&t).await, before.1.len() + 2);
}

async fn errors_name_what_is_wrong(t: TestServer) {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    let ada = t.create_user("alpha", "ada@alpha.test", &[]).await;
    let bob = t.create_user("beta", "bob@beta.test", &[]).await;
    set_policy(&t, "*", &["TOTAL"]).await;
    enroll(&t, "A1", Some("alpha"), None).await;
    enroll(&t, "B1", Some("beta"), Some(bob)).await;
    let admin = t.admin_secret().to_owned();
    let rows = counter_rows(&t).await;
    let mark = t.last_audit_id().await;

    for op in [
        "unassignToken",
        "enableToken",
        "disableToken",
        "removeToken",
    ] {
        let response = token_op(&t, &admin, op, json!({ "serial": "NOPE" })).await;
        assert_code(&response, "NOT_FOUND");
        assert_no_data(&response, op);
    }
    let response = token_op(
        &t,
        &admin,
        "assignToken",
        json!({ "serial": "NOPE", "userId": ada }),
    )
    .await;
    assert_code(&response, "NOT_FOUND");
    let response = token_op(
        &t,
        &admin,
        "assignToken",
        json!({ "serial": "A1", "userId": 987_654 }),
    )
    .await;
    assert_code(&response, "NOT_FOUND");
    let response = token_op(
        &t,
        &admin,
        "setTokenRealm",
        json!({ "serial": "NOPE", "realm": "alpha" }),
    )
    .await;
    assert_code(&response, "NOT_FOUND");

    let duplicate = json!({ "input": { "serial": "A1", "realm": "beta" } });
    let response = token_op(&t, &admin, "enrollToken", duplicate).await;
    assert_code(&response, "CONFLICT");
    assert_eq!(errors(&response)[0]["extensions"]["field"], "input.serial");

    // Assigning to a user of another realm.
    let response = token_op(
        &t,
        &admin,
        "assignToken",
        json!({ "serial": "A1", "userId": bob }),
    )
    .await;
    assert_bad_input(&response, "userId");
    let response = token_op(
        &t,
        &admin,
        "enrollToken",
        json!({ "input": { "serial": "A2", "realm": "alpha", "userId": bob } }),
    )
    .await;
    assert_bad_input(&response, "input.userId");
    // An assigned token stays in its user's realm.
    let response = token_op(
        &t,
        &admin,
        "setTokenRealm",
        json!({ "serial": "B1", "realm": "alpha" }),
    )
    .await;
    assert_bad_input(&response, "realm");
    let response = token_op(
        &t,
        &admin,
        "setTokenRealm",
        json!({ "serial": "A1", "realm": "nosuch" }),
    )
    .await;
    assert_bad_input(&response, "realm");
    for (input, field) in [
        (json!({ "serial": " " }), "input.serial"),
        (json!({ "serial": "a b" }), "input.serial"),
        (json!({ "serial": "K1", "kind": "t o t p" }), "input.kind"),
        (json!({ "serial": "K1", "realm": "nosuch" }), "input.realm"),
    ] {
        let response = token_op(&t, &admin, "enrollToken", json!({ "input": input })).await;
        assert_bad_input(&response, field);
    }
    assert_eq!(
        counter_rows(&t).await,
        rows,
        "a failed change recorded counters"
    );
    assert_eq!(
        t.last_audit_id().await,
        mark,
        "a failed change wrote an audit event"
    );
}

async fn tokens_outside_a_bound_token_realms_are_missing(t: TestServer) {
    t.create_realm("alpha").await;
    t.create_realm("beta").await;
    let bob = t.create_user("beta", "bob@beta.test", &[]).await;
    enroll(&t, "A1", Some("alpha"), None).await;
    let b1 = enroll(&t, "B1", Some("beta"), None).await;
    enroll(&t, "LOOSE", None, None).await;
    let bound = t
        .token(
            &["TOKENS_READ", "TOKENS_WRITE", "USERS_READ"],
            Some(&["alpha"]),
        )
        .await;

    let listed = t
        .gql_ok(
            &bound,
            "{ tokens { totalCount edges { node { serial } } } }",
            json!({}),
        )
        .await;
    assert_eq!(nodes(&listed["tokens"]), vec![json!({ "serial": "A1" })]);
    let node = t
        .gql_ok(
            &bound,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": b1["id"] }),
        )
        .await;
    assert_eq!(node["node"], json!(null));
    for realm in ["beta", "nosuch", "/:no realm:/"] {
        let response = t
            .gql(
                &bound,
                "query($r: String) { tokens(realm: $r) { totalCount } }",
                json!({ "r": realm }),
            )
            .await;
        assert_code(&response, "FORBIDDEN");
    }
    // Another realm's token and the token without a realm answer as a missing one.
    let missing = token_op(&t, &bound, "disableToken", json!({ "serial": "NOPE" })).await;
    for serial in ["B1", "LOOSE"] {
        let response = token_op(&t, &bound, "disableToken", json!({ "serial": serial })).await;
        assert_code(&response, "NOT_FOUND");
        let message = |r: &serde_json::Value| {
            errors(r)[0]["message"]
                .as_str()
                .unwrap()
                .replace(serial, "X")
                .replace("NOPE", "X")
        };
        assert_eq!(message(&response), message(&missing));
    }
    let response = token_op(
        &t,
        &bound,
        "assignToken",
        json!({ "serial": "A1", "userId": bob }),
    )
    .await;
    assert_code(&response, "NOT_FOUND");
    for (op, args) in [
        ("setTokenRealm", json!({ "serial": "A1", "realm": "beta" })),
        ("setTokenRealm", json!({ "serial": "A1", "realm": null })),
        (
            "enrollToken",
            json!({ "input": { "serial": "N1", "realm": "beta" } }),
        ),
        ("enrollToken", json!({ "input": { "serial": "N1" } })),
    ] {
        let response = token_op(&t, &bound, op, args).await;
        assert_code(&response, "FORBIDDEN");
    }
    let all = t.admin_ok("{ tokens { totalCount } }", json!({})).await;
    assert_eq!(all["tokens"]["totalCount"], 3);
}

/// LINOTP-2084: LinOTP recorded counters for requests it then refused. Here
/// a refused change records nothing, and scopes are checked before a token
/// is looked up.
async fn writing_needs_tokens_write(t: TestServer) {
    t.create_realm("alpha").await;
    set_policy(&t, "*", &["TOTAL"]).await;
    enroll(&t, "A1", Some("alpha"), None).await;
    let reader = t.token(&["TOKENS_READ"], None).await;
    let nothing = t.token(&["USERS_READ"], None).await;
    let rows = counter_rows(&t).await;
    let mark = t.last_audit_id().await;
    for serial in ["A1", "NOPE"] {
        for op in [
            "unassignToken",
            "enableToken",
            "disableToken",
            "removeToken",
        ] {
            let response = token_op(&t, &reader, op, json!({ "serial": serial })).await;
            assert_code(&response, "FORBIDDEN");
        }
    }
    let response = token_op(
        &t,
        &reader,
        "enrollToken",
        json!({ "input": { "serial": "A2", "realm": "alpha" } }),
    )
    .await;
    assert_code(&response, "FORBIDDEN");
    let response = t
        .gql(&nothing, "{ tokens { totalCount } }", json!({}))
        .await;
    assert_code(&response, "FORBIDDEN");
    assert_eq!(
        counter_rows(&t).await,
        rows,
        "a refused change recorded counters"
    );
    assert_eq!(t.last_audit_id().await, mark);
    let listed = t
        .gql_ok(&reader, "{ tokens { totalCount } }", json!({}))
        .await;
    assert_eq!(listed["tokens"]["totalCount"], 1);
}
