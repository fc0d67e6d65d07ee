//! Subscriptions over graphql-transport-ws on `/graphql/ws`: authentication
//! in `connection_init`, realm isolation of each subscription, events pushed
//! only after their transaction commits and in order, a report job followed
//! to SUCCESS, a lagging subscriber that does not hold writers up, and two
//! `serve` processes on one database seeing each other's events.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use headcount::http::ServerConfig;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

backend_tests!(
    connection_init_authenticates_the_socket,
    a_socket_closes_once_its_token_is_revoked_or_expired,
    each_subscription_sees_only_its_realms,
    events_arrive_after_commit_in_order_and_failures_push_nothing,
    a_lagging_subscriber_holds_no_writer_up,
);

backend_tests!(
    config = without_workers;
    report_job_updates_until_success_then_completes,
    every_report_job_state_is_pushed,
);

backend_tests!(config = one_socket; sockets_beyond_the_limit_are_refused);

fn without_workers() -> ServerConfig {
    let mut config = default_config();
    config.report_workers = 0;
    config
}

fn one_socket() -> ServerConfig {
    let mut config = default_config();
    config.limits.ws_max_connections = 1;
    config
}

/// How long a test waits for a message it expects.
const EXPECT: Duration = Duration::from_secs(20);
/// How long a test listens to be sure nothing (more) arrives.
const QUIET: Duration = Duration::from_millis(700);

const AUDIT: &str = "subscription($realm: String) { auditEventAdded(realm: $realm) { id event realm resources { type name id } } }";
const CHANGES: &str = "subscription($realm: String) { userChanged(realm: $realm) { id userEmail realm changesMade status } }";

/// A graphql-transport-ws client.
struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Opens `/graphql/ws` at `base` (`http://host:port`).
    async fn open(base: &str) -> Ws {
        let url = format!("{}/graphql/ws", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("open /graphql/ws");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
        Ws { socket }
    }

    /// Opens a socket and sends `connection_init` with `payload`.
    async fn init_with(base: &str, payload: Value) -> Ws {
        let mut ws = Ws::open(base).await;
        ws.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        ws
    }

    /// A socket authenticated with `secret`, acknowledged.
    async fn connect(base: &str, secret: &str) -> Ws {
        let mut ws =
            Ws::init_with(base, json!({ "Authorization": format!("Bearer {secret}") })).await;
        let ack = ws.message().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// The next protocol message (panics on close or after [`EXPECT`]).
    async fn message(&mut self) -> Value {
        match self.frame(EXPECT).await {
            Some(Message::Text(text)) => serde_json::from_str(&text).expect("JSON message"),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The next frame that is not a WebSocket ping/pong, if one comes in time.
    async fn frame(&mut self, within: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??;
            match frame.expect("read a frame") {
                Message::Ping(_) | Message::Pong(_) => continue,
                frame => return Some(frame),
            }
        }
    }

    /// The close frame's code and reason.
    async fn closed(&mut self) -> (u16, String) {
        match self.frame(EXPECT).await {
            Some(Message::Close(Some(frame))) => (u16::from(frame.code), frame.reason.to_string()),
            other => panic!("expected the socket to close, got {other:?}"),
        }
    }

    /// The close frame's code and reason, after whatever messages come first.
    async fn closed_after_messages(&mut self) -> (u16, String) {
        loop {
            match self.frame(EXPECT).await {
                Some(Message::Text(_)) => continue,
                Some(Message::Close(Some(frame))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                other => panic!("expected the socket to close, got {other:?}"),
            }
        }
    }

    /// Starts subscription `id`, and waits until the server runs it: a
    /// protocol ping after the subscribe is answered only once the server
    /// has read the subscribe; a second round trip lets it start the stream.
    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id, "type": "subscribe",
            "payload": { "query": query, "variables": variables },
        }))
        .await;
        for _ in 0..2 {
            self.send(json!({ "type": "ping" })).await;
            let pong = self.message().await;
            assert_eq!(pong["type"], "pong", "{pong}");
        }
    }

    /// The next `next` payload of subscription `id`.
    async fn next(&mut self, id: &str) -> Value {
        let message = self.message().await;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], id, "{message}");
        message["payload"].clone()
    }

    /// Every message that arrives within [`QUIET`].
    async fn drain(&mut self) -> Vec<Value> {
        let mut messages = Vec::new();
        while let Some(frame) = self.frame(QUIET).await {
            match frame {
                Message::Text(text) => messages.push(serde_json::from_str(&text).unwrap()),
                other => panic!("expected a message, got {other:?}"),
            }
        }
        messages
    }
}

fn events_of<'a>(messages: &'a [Value], id: &str, field: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|m| m["type"] == "next" && m["id"] == id)
        .map(|m| &m["payload"]["data"][field])
        .collect()
}

// ───────────────── authentication ─────────────────

async fn connection_init_authenticates_the_socket(t: TestServer) {
    let base = t.url().to_owned();
    // No token, a token that is not one, a revoked scheme: 4403 Forbidden.
    for payload in [
        json!({}),
        json!({ "Authorization": "Bearer hc_not_a_token" }),
        json!({ "Authorization": format!("Basic {}", t.admin_secret()) }),
    ] {
        let mut ws = Ws::init_with(&base, payload.clone()).await;
        assert_eq!(
            ws.closed().await,
            (4403, "Forbidden".to_owned()),
            "{payload}"
        );
    }
    // The token as a header would carry it, in any case, or under `headers`.
    for payload in [
        json!({ "Authorization": format!("Bearer {}", t.admin_secret()) }),
        json!({ "authorization": format!("bearer {}", t.admin_secret()) }),
        json!({ "headers": { "Authorization": format!("Bearer {}", t.admin_secret()) } }),
    ] {
        let mut ws = Ws::init_with(&base, payload.clone()).await;
        assert_eq!(ws.message().await["type"], "connection_ack", "{payload}");
    }
    // Subscribing before connection_init: 4401 Unauthorized.
    let mut ws = Ws::open(&base).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": AUDIT } }))
        .await;
    assert_eq!(ws.closed().await.0, 4401);
    // Without a GraphQL subprotocol there is no socket.
    let plain = t
        .client()
        .get(format!("{base}/graphql/ws"))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("GET /graphql/ws");
    assert_eq!(plain.status(), 400);
    // A scope the subscription needs: FORBIDDEN on that subscription only.
    let users_only = t.token(&["USERS_READ"], None).await;
    let mut ws = Ws::connect(&base, &users_only).await;
    ws.send(json!({ "id": "a", "type": "subscribe", "payload": { "query": AUDIT } }))
        .await;
    let refused = ws.next("a").await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    assert_eq!(ws.message().await, json!({ "id": "a", "type": "complete" }));
}

// ───────────────── limits and shutdown ─────────────────

/// A socket lives no longer than its token: revoked, or past its expiry,
/// the socket closes with 4403 and the reason (its subscriptions end), as a
/// request with that token would be refused; another token's socket stays.
async fn a_socket_closes_once_its_token_is_revoked_or_expired(t: TestServer) {
    let base = t.url().to_owned();
    t.create_realm("a").await;
    let expires = (t.now() + chrono::Duration::minutes(1)).to_rfc3339();
    let mut tokens = Vec::new();
    for (name, expires_at) in [
        ("revoked", None),
        ("expiring", Some(expires)),
        ("kept", None),
    ] {
        let created = t
            .admin_ok(
                "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { secret token { id } } }",
                json!({ "input": { "name": name, "scopes": ["AUDIT_READ"], "realms": ["a"],
                                   "expiresAt": expires_at } }),
            )
            .await["createApiToken"]
            .clone();
        let mut ws = Ws::connect(&base, created["secret"].as_str().unwrap()).await;
        ws.subscribe("1", AUDIT, json!({ "realm": "a" })).await;
        tokens.push((created["token"]["id"].as_str().unwrap().to_owned(), ws));
    }
    let [(revoked_id, mut revoked), (_, mut expiring), (_, mut kept)] =
        <[_; 3]>::try_from(tokens).unwrap_or_else(|_| unreachable!());

    t.admin_ok(
        "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
        json!({ "id": revoked_id }),
    )
    .await;
    // The tokens' own audit events may come first.
    assert_eq!(
        revoked.closed_after_messages().await,
        (4403, "this API token was revoked".to_owned())
    );

    t.clock().advance(chrono::Duration::minutes(2));
    assert_eq!(
        expiring.closed_after_messages().await,
        (4403, "this API token has expired".to_owned())
    );

    // The other token's socket still gets the realm's events.
    t.admin_ok(
        r#"mutation { createUser(input: { realm: "a", email: "x@a.test", name: "X" }) { userId } }"#,
        json!({}),
    )
    .await;
    let mut events = Vec::new();
    while events.last() != Some(&json!("user.created")) {
        events.push(kept.next("1").await["data"]["auditEventAdded"]["event"].clone());
    }
    assert_eq!(events, ["api_token.revoked", "user.created"]);
}
async fn sockets_beyond_the_limit_are_refused(t: TestServer) {
    let url = format!("{}/graphql/ws", t.url().replacen("http", "ws", 1));
    let attempt = || {
        let mut request = url.as_str().into_client_request().expect("ws request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request)
    };
    let first = Ws::connect(t.url(), t.admin_secret()).await;
    match attempt().await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            assert_eq!(response.headers()["retry-after"], "5");
        }
        other => panic!("a second socket was not refused: {other:?}"),
    }
    // Closing the first frees its place.
    let Ws { mut socket } = first;
    socket.close(None).await.expect("close");
    while socket.next().await.is_some() {}
    let mut freed = None;
    for _ in 0..50 {
        match attempt().await {
            Ok(opened) => {
                freed = Some(opened);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(freed.is_some(), "the closed socket's place was not freed");
}

/// `serve` stopped with SIGTERM closes its sockets with 1001 Going Away
/// and exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sockets_with_going_away() {
    let dir = std::env::temp_dir().join(format!("headcount-live-{:016x}", rand::random::<u64>()));
    let url = format!("sqlite://{}?mode=rwc", dir.join("headcount.db").display());
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = ServeProcess::start(&url, &dir.join("data"), &[]).await;
    let admin = std::fs::read_to_string(dir.join("data").join("bootstrap-token"))
        .expect("bootstrap token")
        .trim()
        .to_owned();
    let mut ws = Ws::connect(&format!("http://{}", server.addr), &admin).await;
    ws.subscribe("1", AUDIT, json!({})).await;
    let pid = i32::try_from(server.child.id()).unwrap();
    // SAFETY: a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_eq!(ws.closed().await.0, 1001);
    let exited = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("serve exits after SIGTERM");
    assert!(exited.success(), "{exited:?}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

// ───────────────── realm isolation ─────────────────

async fn each_subscription_sees_only_its_realms(t: TestServer) {
    t.create_realm("a").await;
    t.create_realm("b").await;
    let base = t.url().to_owned();
    let reader_a = t
        .token(&["AUDIT_READ", "CHANGELOG_READ"], Some(&["a"]))
        .await;
    let mut a = Ws::connect(&base, &reader_a).await;
    a.subscribe("audit", AUDIT, json!({})).await;
    a.subscribe("changes", CHANGES, json!({})).await;
    a.subscribe("changes-a", CHANGES, json!({ "realm": "A" }))
        .await;
    // A realm outside the token's: FORBIDDEN, whether or not it exists.
    for (id, query, realm) in [
        ("x1", AUDIT, "b"),
        ("x2", CHANGES, "b"),
        ("x3", CHANGES, "nowhere"),
    ] {
        a.send(json!({
            "id": id, "type": "subscribe",
            "payload": { "query": query, "variables": { "realm": realm } },
        }))
        .await;
        let refused = a.next(id).await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{refused}"
        );
        assert_eq!(a.message().await, json!({ "id": id, "type": "complete" }));
    }
    // An admin following realm b only.
    let mut admin = Ws::connect(&base, t.admin_secret()).await;
    admin.subscribe("b", CHANGES, json!({ "realm": "b" })).await;

    let in_b = t.create_user("b", "bea@b.test", &[]).await;
    t.set_user_status(in_b, "SUSPENDED").await;
    t.create_user("a", "ann@a.test", &["TEAM_USER"]).await;

    let seen = a.drain().await;
    let audit = events_of(&seen, "audit", "auditEventAdded");
    assert_eq!(audit.len(), 1, "only realm a's event: {seen:?}");
    assert_eq!(audit[0]["event"], "user.created");
    assert_eq!(audit[0]["realm"], "a");
    for id in ["changes", "changes-a"] {
        let changes = events_of(&seen, id, "userChanged");
        assert_eq!(changes.len(), 1, "{id}: {seen:?}");
        assert_eq!(changes[0]["userEmail"], "ann@a.test");
        assert_eq!(changes[0]["changesMade"], json!(["CREATED"]));
    }
    assert_eq!(seen.len(), 3, "nothing else: {seen:?}");

    let seen = admin.drain().await;
    let changes = events_of(&seen, "b", "userChanged");
    let emails: Vec<&Value> = changes.iter().map(|c| &c["userEmail"]).collect();
    assert_eq!(
        emails,
        [&json!("bea@b.test"), &json!("bea@b.test")],
        "{seen:?}"
    );
    assert_eq!(changes[1]["status"], "SUSPENDED");
    assert_eq!(seen.len(), 2, "{seen:?}");
}

// ───────────────── after commit, in order ─────────────────

async fn events_arrive_after_commit_in_order_and_failures_push_nothing(t: TestServer) {
    t.create_realm("a").await;
    let base = t.url().to_owned();
    let mut ws = Ws::connect(&base, t.admin_secret()).await;
    ws.subscribe("audit", AUDIT, json!({ "realm": "a" })).await;
    ws.subscribe("changes", CHANGES, json!({ "realm": "a" }))
        .await;

    let ann = t.create_user("a", "ann@a.test", &[]).await;
    // Each refused mutation writes nothing, and nothing is pushed: a taken
    // email (CONFLICT, found inside the transaction), an unknown role.
    let taken = t
        .admin(
            "mutation { createUser(input: { realm: \"a\", email: \"ann@a.test\", name: \"Twin\" }) { userId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        taken["errors"][0]["extensions"]["code"], "CONFLICT",
        "{taken}"
    );
    let unknown = t
        .admin(
            "mutation($u: Int!) { setAppRoles(userId: $u, roles: [\"NO_SUCH_ROLE\"]) { userId } }",
            json!({ "u": ann }),
        )
        .await;
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{unknown}"
    );
    t.set_user_status(ann, "DORMANT").await;
    t.set_user_status(ann, "SUSPENDED").await;

    let seen = ws.drain().await;
    let audit: Vec<&Value> = events_of(&seen, "audit", "auditEventAdded")
        .into_iter()
        .map(|e| &e["event"])
        .collect();
    let changes: Vec<&Value> = events_of(&seen, "changes", "userChanged")
        .into_iter()
        .map(|c| &c["status"])
        .collect();
    assert_eq!(audit.len(), 3, "three committed changes: {seen:?}");
    assert_eq!(audit[0], "user.created");
    assert_eq!(changes, ["ACTIVE", "DORMANT", "SUSPENDED"], "{seen:?}");
    // What was pushed is exactly what the activity log holds since the
    // subscription began (before it: the realm's creation), in its order.
    let log = t
        .admin_ok(
            "{ auditEvents(realm: \"a\", startDate: \"2025-01-01\", endDate: \"2026-01-01\", first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let mut logged: Vec<Value> = log["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    logged.reverse();
    logged.remove(0);
    let pushed: Vec<Value> = events_of(&seen, "audit", "auditEventAdded")
        .into_iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(pushed, logged);
}

// ───────────────── lagging subscribers ─────────────────

async fn a_lagging_subscriber_holds_no_writer_up(t: TestServer) {
    t.create_realm("a").await;
    let base = t.url().to_owned();
    // This client subscribes and then reads nothing at all. Its messages are
    // large (the email 200 times), so that they fill the socket's buffers
    // and the server cannot send them: it falls behind.
    let mut stalled = Ws::connect(&base, t.admin_secret()).await;
    let fields: String = (0..200).map(|n| format!("e{n}: userEmail ")).collect();
    let large = format!("subscription {{ userChanged(realm: \"a\") {{ status {fields} }} }}");
    for id in ["1", "2", "3"] {
        stalled.subscribe(id, &large, json!({})).await;
    }
    // This one reads as changes come.
    let mut reader = Ws::connect(&base, t.admin_secret()).await;
    reader
        .subscribe("changes", CHANGES, json!({ "realm": "a" }))
        .await;
    let reading = tokio::spawn(async move {
        for _ in 0..1101 {
            let payload = reader.next("changes").await;
            assert!(payload["errors"].is_null(), "{payload}");
        }
    });
    // More changes than a subscriber may fall behind by (1024) finish while
    // the stalled client reads none of them.
    let user = t.create_user("a", "ann@a.test", &[]).await;
    let writes = tokio::time::timeout(Duration::from_secs(150), async {
        for n in 0..1100 {
            let status = if n % 2 == 0 { "DORMANT" } else { "ACTIVE" };
            t.set_user_status(user, status).await;
        }
    })
    .await;
    assert!(writes.is_ok(), "writes were held up by a subscriber");
    // A subscriber that keeps up got every change.
    reading.await.expect("the reader got every change");
    // The stalled one, once it reads, learns it skipped notices (GONE), and
    // the subscription goes on.
    let mut told = false;
    while let Some(Message::Text(text)) = stalled.frame(QUIET).await {
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["payload"]["errors"][0]["extensions"]["code"] == "GONE" {
            told = true;
        }
    }
    assert!(told, "the stalled subscriber was told it skipped notices");
    t.set_user_status(user, "SUSPENDED").await;
    let mut caught_up = false;
    while let Some(Message::Text(text)) = stalled.frame(EXPECT).await {
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["payload"]["data"]["userChanged"]["status"] == "SUSPENDED" {
            caught_up = true;
            break;
        }
    }
    assert!(caught_up, "the stalled subscriber goes on with new changes");
}

// ───────────────── report jobs ─────────────────

const FOLLOW: &str = "subscription($id: ID!) { reportJobUpdated(id: $id) { id status startedAt progress rowCount ready } }";

/// A 1,200-row changelog report followed from PENDING, its worker started
/// only once the subscriber saw PENDING: the states pushed until
/// `complete`, the subscriber's connection and the job's id.
async fn followed_report(t: &TestServer) -> (Vec<Value>, Ws, String) {
    t.create_realm("a").await;
    t.create_realm("b").await;
    // 1,200 changes: three pages of the worker's 500 rows.
    let users: Vec<Value> = (0..1200)
        .map(|n| json!({ "realm": "a", "email": format!("u{n}@a.test"), "name": format!("U {n}") }))
        .collect();
    for chunk in users.chunks(100) {
        let mutation: String = chunk
            .iter()
            .enumerate()
            .map(|(i, input)| {
                format!(
                    "u{i}: createUser(input: {}) {{ userId }}\n",
                    gql_input(input)
                )
            })
            .collect();
        t.admin_ok(&format!("mutation {{ {mutation} }}"), json!({}))
            .await;
    }
    // The report's range ends (exclusive) when it is asked for.
    t.clock().advance(chrono::Duration::minutes(1));
    let reporter = t
        .token(&["REPORTS_CREATE", "CHANGELOG_READ"], Some(&["a"]))
        .await;
    let job = t
        .gql_ok(
            &reporter,
            "mutation { generateChangelogReport(input: { format: CSV }) { id status } }",
            json!({}),
        )
        .await["generateChangelogReport"]
        .clone();
    let id = job["id"].as_str().unwrap().to_owned();
    let follow = FOLLOW;

    // A token of another realm may not see it: NOT_FOUND, as an unknown id.
    let other = t.token(&["REPORTS_CREATE"], Some(&["b"])).await;
    let mut outsider = Ws::connect(t.url(), &other).await;
    outsider
        .send(json!({ "id": "j", "type": "subscribe",
                      "payload": { "query": follow, "variables": { "id": id } } }))
        .await;
    let refused = outsider.next("j").await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );

    let mut ws = Ws::connect(t.url(), &reporter).await;
    ws.send(json!({ "id": "j", "type": "subscribe",
                    "payload": { "query": follow, "variables": { "id": id } } }))
        .await;
    let first = ws.next("j").await;
    assert_eq!(
        first["data"]["reportJobUpdated"]["status"], "PENDING",
        "{first}"
    );
    // A worker starts only now, so every state is seen.
    let _workers = headcount::jobs::start(
        t.services().clone(),
        headcount::jobs::ReportStore::memory(),
        1,
    );
    let mut states = vec![first["data"]["reportJobUpdated"].clone()];
    loop {
        let message = ws.message().await;
        if message["type"] == "complete" {
            assert_eq!(message["id"], "j");
            break;
        }
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        states.push(message["payload"]["data"]["reportJobUpdated"].clone());
    }
    (states, ws, id)
}

async fn report_job_updates_until_success_then_completes(t: TestServer) {
    let (states, mut ws, id) = followed_report(&t).await;
    let last = states.last().unwrap();
    assert_eq!(last["status"], "SUCCESS", "{states:?}");
    assert_eq!(last["ready"], true);
    assert_eq!(last["rowCount"], 1200);
    assert_eq!(last["progress"], 1.0);
    let progress: Vec<f64> = states
        .iter()
        .filter_map(|s| s["progress"].as_f64())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    // A finished job: its final state, then complete.
    ws.send(json!({ "id": "again", "type": "subscribe",
                    "payload": { "query": FOLLOW, "variables": { "id": id } } }))
        .await;
    assert_eq!(
        ws.next("again").await["data"]["reportJobUpdated"]["status"],
        "SUCCESS"
    );
    assert_eq!(
        ws.message().await,
        json!({ "id": "again", "type": "complete" })
    );
}

/// Every state is pushed, STARTED and the progress between batches
/// included, however fast the job (the issue: "pushes each change"): each
/// notice carries the state its transaction left the job in.
async fn every_report_job_state_is_pushed(t: TestServer) {
    let (states, _, _) = followed_report(&t).await;
    let statuses: Vec<&str> = states.iter().filter_map(|s| s["status"].as_str()).collect();
    assert_eq!(statuses.first().copied(), Some("PENDING"), "{states:?}");
    assert!(
        statuses.contains(&"STARTED"),
        "STARTED was pushed: {states:?}"
    );
    let started = &states[statuses.iter().position(|s| *s == "STARTED").unwrap()];
    assert!(started["startedAt"].is_string(), "{started}");
    assert!(
        states
            .iter()
            .filter_map(|s| s["progress"].as_f64())
            .any(|p| p > 0.0 && p < 1.0),
        "progress between batches was pushed: {states:?}"
    );
    // Each push differs from the one before: no state is pushed twice.
    assert!(states.windows(2).all(|w| w[0] != w[1]), "{states:?}");
}

/// A JSON object as a GraphQL input literal.
fn gql_input(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", gql_input(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        other => other.to_string(),
    }
}

// ───────────────── two replicas ─────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_postgres_replica_sees_another_replicas_changes() {
    two_replicas(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_mariadb_replica_sees_another_replicas_changes() {
    two_replicas(Backend::Mysql).await;
}

/// Two `serve` processes on one database: a subscriber on A sees what is
/// written through B, once each, in order, and nothing of other realms.
async fn two_replicas(backend: Backend) {
    with_empty_database(backend, |url| async move {
        let dir = std::env::temp_dir().join(format!("headcount-live-{:016x}", rand::random::<u64>()));
        let a = ServeProcess::start(&url, &dir.join("a"), &["--report-workers", "0"]).await;
        let b = ServeProcess::start(&url, &dir.join("b"), &["--report-workers", "0"]).await;
        let admin = std::fs::read_to_string(dir.join("a").join("bootstrap-token"))
            .expect("A issued the bootstrap token")
            .trim()
            .to_owned();
        let (base_a, base_b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
        let client = reqwest::Client::new();
        let gql = |base: String, query: String| {
            let (client, admin) = (client.clone(), admin.clone());
            async move {
                let body: Value = client
                    .post(format!("{base}/graphql"))
                    .bearer_auth(admin)
                    .json(&json!({ "query": query }))
                    .send()
                    .await
                    .expect("POST /graphql")
                    .json()
                    .await
                    .expect("JSON");
                assert!(body["errors"].is_null(), "{body}");
                body["data"].clone()
            }
        };
        for realm in ["a", "b"] {
            gql(base_b.clone(), format!("mutation {{ createRealm(name: \"{realm}\") {{ id }} }}")).await;
        }
        // On MariaDB, A reads B's rows every 200 ms, and a subscriber that
        // starts within a poll of a row's commit may get it: let A's tail
        // pass the realms' creation first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut ws = Ws::connect(&base_a, &admin).await;
        ws.subscribe("changes", CHANGES, json!({ "realm": "a" })).await;
        ws.subscribe("audit", AUDIT, json!({ "realm": "a" })).await;
        // B's listener or tail may still be starting: the first change
        // through B is retried until A's subscriber sees one.
        let mut n = 0;
        let first = loop {
            n += 1;
            assert!(n <= 20, "A never saw a change made through B");
            gql(
                base_b.clone(),
                format!("mutation {{ createUser(input: {{ realm: \"a\", email: \"probe{n}@a.test\", name: \"P\" }}) {{ userId }} }}"),
            )
            .await;
            let seen = ws.drain().await;
            if !seen.is_empty() {
                break seen;
            }
        };
        let created = events_of(&first, "changes", "userChanged");
        assert_eq!(created.len(), 1, "{first:?}");
        assert_eq!(created[0]["userEmail"], format!("probe{n}@a.test"));
        assert_eq!(events_of(&first, "audit", "auditEventAdded").len(), 1, "{first:?}");

        // Then every change, through either replica, once and in order.
        gql(base_b.clone(), "mutation { createUser(input: { realm: \"b\", email: \"x@b.test\", name: \"X\" }) { userId } }".to_owned()).await;
        for (n, base) in [&base_b, &base_a, &base_b, &base_b].into_iter().enumerate() {
            gql(
                base.clone(),
                format!("mutation {{ createUser(input: {{ realm: \"a\", email: \"u{n}@a.test\", name: \"U\" }}) {{ userId }} }}"),
            )
            .await;
        }
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.extend(ws.drain().await);
            if events_of(&seen, "changes", "userChanged").len() >= 4 {
                break;
            }
        }
        seen.extend(ws.drain().await);
        let emails: Vec<&str> = events_of(&seen, "changes", "userChanged")
            .into_iter()
            .filter_map(|c| c["userEmail"].as_str())
            .collect();
        // Once each; B's own in B's order (A's local one may overtake them:
        // on MariaDB B's arrive by the next poll of the tail).
        let mut all = emails.clone();
        all.sort();
        assert_eq!(all, ["u0@a.test", "u1@a.test", "u2@a.test", "u3@a.test"], "{seen:?}");
        let through_b: Vec<&str> = emails.into_iter().filter(|e| *e != "u1@a.test").collect();
        assert_eq!(through_b, ["u0@a.test", "u2@a.test", "u3@a.test"]);
        assert_eq!(events_of(&seen, "audit", "auditEventAdded").len(), 4, "{seen:?}");
        drop((a, b));
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}
