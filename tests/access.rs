//! Access: bearer API tokens, scopes, realm bindings of tokens, the viewer,
//! and managing tokens over GraphQL.

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};

backend_tests!(
    missing_or_wrong_token_is_401_and_audited,
    revoked_token_is_rejected,
    expired_token_is_rejected,
    missing_scope_is_forbidden,
    viewer_describes_the_token,
    new_tokens_cannot_exceed_their_creator,
    api_tokens_are_listed_within_the_callers_realms,
);

const CREATE_TOKEN: &str = "mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    secret
    token { id name scopes realms createdAt lastUsedAt expiresAt revokedAt }
  }
}";

const REVOKE_TOKEN: &str = "mutation($id: ID!) {
  revokeApiToken(id: $id) { id name revokedAt }
}";

const VIEWER: &str = "{ viewer { tokenId name scopes realms } }";

const API_TOKENS: &str =
    "{ apiTokens { id name scopes realms createdAt lastUsedAt expiresAt revokedAt } }";

/// Creates a token through GraphQL as `secret`; returns (global id, secret, token).
async fn create_token_as(t: &TestServer, secret: &str, input: Value) -> (String, String, Value) {
    let data = t
        .gql_ok(secret, CREATE_TOKEN, json!({ "input": input }))
        .await;
    let created = &data["createApiToken"];
    (
        created["token"]["id"]
            .as_str()
            .expect("token id")
            .to_owned(),
        created["secret"].as_str().expect("secret").to_owned(),
        created["token"].clone(),
    )
}

/// Asserts that `secret` is refused with HTTP 401 UNAUTHENTICATED.
async fn assert_unauthenticated(t: &TestServer, secret: Option<&str>, what: &str) {
    let reply = t.post(secret, &json!({ "query": VIEWER })).await;
    assert_eq!(
        reply.status, 401,
        "{what}: expected HTTP 401, got {reply:?}"
    );
    assert_eq!(
        reply.body["errors"][0]["extensions"]["code"].as_str(),
        Some("UNAUTHENTICATED"),
        "{what}: {reply:?}"
    );
    assert!(
        reply.body.get("data").is_none_or(Value::is_null),
        "{what}: a refused request must not carry data: {reply:?}"
    );
}

async fn missing_or_wrong_token_is_401_and_audited(t: TestServer) {
    let mark = t.last_audit_id().await;

    // No Authorization header at all.
    assert_unauthenticated(&t, None, "no token").await;
    let reply = t.post(None, &json!({ "query": VIEWER })).await;
    let challenge = reply
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        challenge.to_ascii_lowercase().starts_with("bearer"),
        "a 401 should challenge for a Bearer token, got {challenge:?}"
    );

    // Garbage, a well-formed but unknown secret, and the admin secret with
    // its key altered (the lookup part matches, the hash does not).
    assert_unauthenticated(&t, Some("garbage"), "garbage token").await;
    assert_unauthenticated(&t, Some("hc_nosuchlookup_nosuchkey"), "unknown token").await;
    let mut tampered = t.admin_secret().to_owned();
    let last = tampered.pop().expect("non-empty secret");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_unauthenticated(&t, Some(&tampered), "tampered token").await;

    // Another scheme than Bearer.
    let reply = t
        .client()
        .post(t.endpoint())
        .header("authorization", format!("Basic {}", t.admin_secret()))
        .json(&json!({ "query": VIEWER }))
        .send()
        .await
        .expect("POST");
    assert_eq!(reply.status(), 401, "Basic auth must not be accepted");

    // The refusals from one address within a minute are one auth.failed
    // event counting them, written off the request path, dated by the
    // server's clock, with the caller's address and no actor.
    let event = failed_sign_ins(&t, mark, 6).await;
    assert_eq!(event.event, "auth.failed", "{event:?}");
    assert_eq!(event.ip_address.as_deref(), Some("127.0.0.1"), "{event:?}");
    assert_eq!(event.actor, None, "{event:?}");
    assert_eq!(event.occurred_at, t.now().timestamp_micros(), "{event:?}");
    let resources: Value = serde_json::from_str(&event.resources).unwrap();
    assert_eq!(resources[0]["type"], "reason", "{resources}");
    assert_eq!(
        resources[0]["name"],
        "send an API token: Authorization: Bearer <secret>"
    );

    // The admin token itself still works.
    let data = t.admin_ok(VIEWER, json!({})).await;
    assert_eq!(data["viewer"]["name"], "admin");
}

async fn revoked_token_is_rejected(t: TestServer) {
    let (id, secret, token) = create_token_as(
        &t,
        t.admin_secret(),
        json!({ "name": "ci", "scopes": ["USERS_READ"] }),
    )
    .await;
    assert_eq!(token["name"], "ci");
    assert_eq!(datetime(&token["createdAt"]), t.now());
    assert!(token["revokedAt"].is_null());
    assert!(token["expiresAt"].is_null());
    let viewer = t.gql_ok(&secret, VIEWER, json!({})).await;
    assert_eq!(viewer["viewer"]["name"], "ci");

    t.clock().advance(chrono::Duration::minutes(5));
    let revoked = t.admin_ok(REVOKE_TOKEN, json!({ "id": id })).await;
    assert_eq!(revoked["revokeApiToken"]["id"], id.as_str());
    assert_eq!(datetime(&revoked["revokeApiToken"]["revokedAt"]), t.now());

    assert_unauthenticated(&t, Some(&secret), "revoked token").await;

    let listed = t.admin_ok(API_TOKENS, json!({})).await;
    let entry = listed["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tok| tok["id"] == id.as_str())
        .cloned()
        .expect("the revoked token is still listed");
    assert_eq!(datetime(&entry["revokedAt"]), t.now());

    let names: Vec<String> = t
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e.event.starts_with("api_token."))
        .map(|e| format!("{} by {}", e.event, e.actor.unwrap_or_default()))
        .collect();
    assert!(
        names.ends_with(&[
            "api_token.created by admin".to_owned(),
            "api_token.revoked by admin".to_owned()
        ]),
        "issuing and revoking a token are audited: {names:?}"
    );
}

async fn expired_token_is_rejected(t: TestServer) {
    // Expiry one hour after the test clock's start.
    let (_, secret, token) = create_token_as(
        &t,
        t.admin_secret(),
        json!({ "name": "hourly", "scopes": ["USERS_READ"], "expiresAt": "2025-01-15T10:00:00Z" }),
    )
    .await;
    assert_eq!(datetime(&token["expiresAt"]), at("2025-01-15T10:00:00Z"));
    t.gql_ok(&secret, VIEWER, json!({})).await;

    t.clock().advance(chrono::Duration::minutes(59));
    t.gql_ok(&secret, VIEWER, json!({})).await;

    t.clock().advance(chrono::Duration::minutes(2));
    assert_unauthenticated(&t, Some(&secret), "expired token").await;

    // A bare date is midnight UTC.
    let (_, _, token) = create_token_as(
        &t,
        t.admin_secret(),
        json!({ "name": "dated", "scopes": ["USERS_READ"], "expiresAt": "2025-02-01" }),
    )
    .await;
    assert_eq!(datetime(&token["expiresAt"]), at("2025-02-01T00:00:00Z"));
}

async fn missing_scope_is_forbidden(t: TestServer) {
    t.create_realm("acme").await;
    let user_id = t.create_user("acme", "ann@acme.test", &["TEAM_USER"]).await;
    let reader = t.token(&["USERS_READ"], None).await;
    let writer = t.token(&["USERS_WRITE"], None).await;
    let other = t.token(&["TOKENS_READ"], None).await;

    // What the reader may do.
    let users = t
        .gql_ok(
            &reader,
            "{ users { totalCount edges { node { userId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(users["users"]["totalCount"], 1);

    let before = t.snapshot().await;
    let forbidden: Vec<(&str, &str, Value)> = vec![
        (
            &reader,
            "mutation { createUser(input: {realm: \"acme\", email: \"bob@acme.test\", name: \"Bob\"}) { userId } }",
            json!({}),
        ),
        (
            &reader,
            "mutation($id: Int!) { setUserRoles(userId: $id, roles: [\"APP_ADMIN\"]) { userId } }",
            json!({ "id": user_id }),
        ),
        (
            &reader,
            "mutation($id: Int!) { deleteUser(userId: $id) { userId } }",
            json!({ "id": user_id }),
        ),
        (
            &reader,
            "mutation { createRealm(name: \"globex\") { name } }",
            json!({}),
        ),
        (
            &reader,
            "mutation { createDataset(realm: \"acme\", name: \"D\") { name } }",
            json!({}),
        ),
        (&reader, "{ apiTokens { id } }", json!({})),
        (
            &reader,
            "mutation { createApiToken(input: {name: \"x\", scopes: [USERS_READ]}) { secret } }",
            json!({}),
        ),
        // The changelog needs CHANGELOG_READ.
        (
            &reader,
            "query($id: Int) { user(userId: $id) { changelog { totalCount } } }",
            json!({ "id": user_id }),
        ),
        (&writer, "{ users { totalCount } }", json!({})),
        (&other, "{ users { totalCount } }", json!({})),
        (&other, "{ realms { name } }", json!({})),
        (&other, "{ datasets { totalCount } }", json!({})),
        (
            &other,
            "query($id: Int) { user(userId: $id) { userId } }",
            json!({ "id": user_id }),
        ),
    ];
    for (secret, query, variables) in forbidden {
        let response = t.gql(secret, query, variables).await;
        assert_eq!(code(&response), "FORBIDDEN", "{query}: {response}");
        let first = &errors(&response)[0];
        assert!(
            first["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{query}: FORBIDDEN needs a message"
        );
    }
    assert_unchanged(&before, &t.snapshot().await, "forbidden operations");

    // Any valid token may ask who it is.
    let viewer = t.gql_ok(&other, VIEWER, json!({})).await;
    assert_eq!(
        strings(&viewer["viewer"]["scopes"]),
        sorted(&["TOKENS_READ"])
    );
}

async fn viewer_describes_the_token(t: TestServer) {
    let admin = t.admin_ok(VIEWER, json!({})).await;
    assert_eq!(admin["viewer"]["name"], "admin");
    assert_eq!(strings(&admin["viewer"]["scopes"]), sorted(&["ADMIN"]));
    assert!(
        admin["viewer"]["realms"].is_null(),
        "an unbound token has realms: null"
    );
    assert!(
        admin["viewer"]["tokenId"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );

    t.create_realm("acme").await;
    t.create_realm("globex").await;
    let (id, secret, token) = create_token_as(
        &t,
        t.admin_secret(),
        json!({ "name": "dashboards", "scopes": ["USERS_READ", "CHANGELOG_READ"], "realms": ["ACME", "globex"] }),
    )
    .await;
    assert_eq!(strings(&token["realms"]), sorted(&["acme", "globex"]));
    let viewer = t.gql_ok(&secret, VIEWER, json!({})).await;
    let viewer = &viewer["viewer"];
    assert_eq!(viewer["name"], "dashboards");
    assert_eq!(
        strings(&viewer["scopes"]),
        sorted(&["CHANGELOG_READ", "USERS_READ"])
    );
    assert_eq!(strings(&viewer["realms"]), sorted(&["acme", "globex"]));
    assert_ne!(viewer["tokenId"], admin["viewer"]["tokenId"]);
    // The viewer's tokenId names the same token as its ApiToken id.
    assert_eq!(
        viewer["tokenId"],
        id.as_str(),
        "viewer.tokenId should be the ApiToken's id"
    );
}

async fn new_tokens_cannot_exceed_their_creator(t: TestServer) {
    t.create_realm("acme").await;
    t.create_realm("globex").await;
    let manager = t
        .token(&["API_TOKENS_MANAGE", "USERS_READ"], Some(&["acme"]))
        .await;

    let before = t.snapshot().await;
    let too_much = [
        json!({ "name": "w", "scopes": ["USERS_WRITE"] }),
        json!({ "name": "a", "scopes": ["ADMIN"] }),
        json!({ "name": "r", "scopes": ["USERS_READ", "USERS_WRITE"] }),
        json!({ "name": "g", "scopes": ["USERS_READ"], "realms": ["globex"] }),
        json!({ "name": "ag", "scopes": ["USERS_READ"], "realms": ["acme", "globex"] }),
    ];
    for input in too_much {
        let response = t
            .gql(&manager, CREATE_TOKEN, json!({ "input": input }))
            .await;
        assert_code(&response, "FORBIDDEN");
        assert_no_data(&response, "createApiToken");
    }
    assert_unchanged(&before, &t.snapshot().await, "refused token creation");

    // Without realms, the new token inherits the creator's binding.
    let (_, secret, token) = create_token_as(
        &t,
        &manager,
        json!({ "name": "child", "scopes": ["USERS_READ"] }),
    )
    .await;
    assert_eq!(strings(&token["realms"]), sorted(&["acme"]));
    let viewer = t.gql_ok(&secret, VIEWER, json!({})).await;
    assert_eq!(strings(&viewer["viewer"]["realms"]), sorted(&["acme"]));
    assert_eq!(
        strings(&viewer["viewer"]["scopes"]),
        sorted(&["USERS_READ"])
    );

    // Naming its own realm, in any case, is fine.
    let (_, _, token) = create_token_as(
        &t,
        &manager,
        json!({ "name": "child2", "scopes": ["API_TOKENS_MANAGE"], "realms": ["ACME"] }),
    )
    .await;
    assert_eq!(strings(&token["realms"]), sorted(&["acme"]));

    // An unbound manager still cannot hand out scopes it lacks.
    let unbound = t.token(&["API_TOKENS_MANAGE"], None).await;
    let response = t
        .gql(
            &unbound,
            CREATE_TOKEN,
            json!({ "input": { "name": "x", "scopes": ["USERS_READ"] } }),
        )
        .await;
    assert_code(&response, "FORBIDDEN");
    let (_, _, token) = create_token_as(
        &t,
        &unbound,
        json!({ "name": "peer", "scopes": ["API_TOKENS_MANAGE"] }),
    )
    .await;
    assert!(token["realms"].is_null());
}

async fn api_tokens_are_listed_within_the_callers_realms(t: TestServer) {
    t.create_realm("acme").await;
    t.create_realm("globex").await;
    let admin = t.admin_secret().to_owned();
    let (open_id, open_secret, _) = create_token_as(
        &t,
        &admin,
        json!({ "name": "open", "scopes": ["USERS_READ"] }),
    )
    .await;
    let (acme_id, _, _) = create_token_as(
        &t,
        &admin,
        json!({ "name": "acme-reader", "scopes": ["USERS_READ"], "realms": ["acme"] }),
    )
    .await;
    let (globex_id, _, _) = create_token_as(
        &t,
        &admin,
        json!({ "name": "globex-reader", "scopes": ["USERS_READ"], "realms": ["globex"] }),
    )
    .await;
    let (_, acme_manager, _) = create_token_as(
        &t,
        &admin,
        json!({ "name": "acme-manager", "scopes": ["API_TOKENS_MANAGE"], "realms": ["acme"] }),
    )
    .await;

    // Secrets are stored hashed: no column holds one.
    for row in t.api_token_rows().await {
        for secret in [&admin, &open_secret, &acme_manager] {
            assert!(
                !row.secret_hash.contains(secret.as_str()) && !secret.is_empty(),
                "a secret is stored in clear: {row:?}"
            );
            assert_ne!(&row.lookup, secret);
        }
    }

    // The admin sees every token.
    let listed = t.admin_ok(API_TOKENS, json!({})).await;
    let names: Vec<String> = listed["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tok| tok["name"].as_str().unwrap().to_owned())
        .collect();
    for name in [
        "admin",
        "open",
        "acme-reader",
        "globex-reader",
        "acme-manager",
    ] {
        assert!(
            names.contains(&name.to_owned()),
            "{name} missing from {names:?}"
        );
    }

    // Using a token stamps lastUsedAt (with the server's clock).
    t.gql_ok(&open_secret, VIEWER, json!({})).await;
    let mut stamped = Value::Null;
    for _ in 0..50 {
        let listed = t.admin_ok(API_TOKENS, json!({})).await;
        stamped = listed["apiTokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|tok| tok["id"] == open_id.as_str())
            .map(|tok| tok["lastUsedAt"].clone())
            .unwrap_or(Value::Null);
        if !stamped.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(datetime(&stamped), t.now(), "lastUsedAt of a used token");

    // A token bound to acme sees and manages only tokens within acme.
    let listed = t.gql_ok(&acme_manager, API_TOKENS, json!({})).await;
    let mut names: Vec<String> = listed["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tok| tok["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, sorted(&["acme-manager", "acme-reader"]));

    // Tokens beyond its reach are as missing as tokens that never existed.
    let before = t.snapshot().await;
    for id in [&globex_id, &open_id] {
        let response = t
            .gql(&acme_manager, REVOKE_TOKEN, json!({ "id": id }))
            .await;
        assert_code(&response, "NOT_FOUND");
        assert_no_data(&response, "revokeApiToken");
    }
    assert_unchanged(&before, &t.snapshot().await, "refused revocations");
    let revoked = t
        .gql_ok(&acme_manager, REVOKE_TOKEN, json!({ "id": acme_id }))
        .await;
    assert!(!revoked["revokeApiToken"]["revokedAt"].is_null());

    // A malformed id is bad input, naming the argument.
    let response = t.admin(REVOKE_TOKEN, json!({ "id": "not-an-id" })).await;
    assert_bad_input(&response, "id");
}
