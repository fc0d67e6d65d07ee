//! The integration-test harness: a real headcount server on a random port,
//! over a database of its own, with a clock the test controls.
//!
//! SQLite always; PostgreSQL when `HEADCOUNT_TEST_PG_URL` is set and
//! MySQL/MariaDB when `HEADCOUNT_TEST_MYSQL_URL` is set. A URL that is set but
//! cannot be reached fails the test: it never skips. Each test creates its own
//! database (a temp file, or `CREATE DATABASE hc_test_<random>`) and drops it at
//! the end, also when the test panics, so tests run in parallel.
//!
//! `backend_tests!(a, b)` turns `async fn a(t: TestServer)` into the tests
//! `a::sqlite`, `a::postgres` and `a::mysql`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::{api_token, audit_event, dataset, realm, user, user_change};
use headcount::clock::ManualClock;
use headcount::db::{Db, DbOptions};
use headcount::http::{ServerConfig, app, serve};
use headcount::service::api_tokens::NewApiToken;
use headcount::service::{Principal, Scope, Services};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where every test's clock starts.
pub const START: &str = "2025-01-15T09:00:00Z";

/// The longest a test body may run before it counts as hung.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs `async fn $name(t: TestServer)` once per backend, as `$name::sqlite`,
/// `$name::postgres` and `$name::mysql`. With `config = f;` first, every
/// server of that invocation is built with `f()` (a `ServerConfig`).
#[macro_export]
macro_rules! backend_tests {
    (config = $config:ident; $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::common::run($crate::common::Backend::Sqlite, super::$config(), super::$name).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::common::run($crate::common::Backend::Postgres, super::$config(), super::$name).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    $crate::common::run($crate::common::Backend::Mysql, super::$config(), super::$name).await
                }
            }
        )+
    };
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::common::run($crate::common::Backend::Sqlite, $crate::common::default_config(), super::$name).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::common::run($crate::common::Backend::Postgres, $crate::common::default_config(), super::$name).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    $crate::common::run($crate::common::Backend::Mysql, $crate::common::default_config(), super::$name).await
                }
            }
        )+
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("HEADCOUNT_TEST_PG_URL"),
            Backend::Mysql => Some("HEADCOUNT_TEST_MYSQL_URL"),
        }
    }
}

// ───────────────────────── databases ─────────────────────────

/// A database made for one test, and how to get rid of it.
struct Provisioned {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Drop {
        backend: Backend,
        admin_url: String,
        name: String,
    },
}

fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

async fn connect_admin(var: &str, url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    match Database::connect(options).await {
        Ok(conn) => conn,
        Err(err) => panic!(
            "{var} is set to {url}, but that server cannot be reached: {err}. \
             Start the database or unset {var} (tests never skip a configured backend)."
        ),
    }
}

/// Creates this test's database, or None when the backend is not configured.
async fn provision(backend: Backend) -> Option<Provisioned> {
    let Some(var) = backend.env_var() else {
        let dir = std::env::temp_dir().join(format!("headcount-test-{}", random_suffix()));
        std::fs::create_dir_all(&dir).expect("create a temp dir for the SQLite database");
        let url = format!("sqlite://{}?mode=rwc", dir.join("headcount.db").display());
        return Some(Provisioned {
            url,
            cleanup: Cleanup::Dir(dir),
        });
    };
    let admin_url = match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => return None,
    };
    let name = format!("hc_test_{}", random_suffix());
    let admin = connect_admin(var, &admin_url).await;
    if let Err(err) = admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
    {
        panic!("{var}={admin_url}: CREATE DATABASE {name} failed: {err}");
    }
    let _ = admin.close().await;
    let mut url = Url::parse(&admin_url)
        .unwrap_or_else(|err| panic!("{var}={admin_url} is not a URL: {err}"));
    url.set_path(&format!("/{name}"));
    Some(Provisioned {
        url: url.to_string(),
        cleanup: Cleanup::Drop {
            backend,
            admin_url,
            name,
        },
    })
}

async fn cleanup(cleanup: Cleanup) {
    match cleanup {
        Cleanup::Dir(dir) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Cleanup::Drop {
            backend,
            admin_url,
            name,
        } => {
            let var = backend.env_var().unwrap_or_default();
            let admin = connect_admin(var, &admin_url).await;
            let sql = match backend {
                Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            if let Err(err) = admin.execute_unprepared(&sql).await {
                eprintln!("warning: could not drop test database {name}: {err}");
            }
            let _ = admin.close().await;
        }
    }
}

// ───────────────────────── the server ─────────────────────────

/// A running server and what a test needs to talk to it. Cheap to clone.
#[derive(Clone)]
pub struct TestServer {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    base_url: String,
    db_url: String,
    admin_secret: String,
    clock: ManualClock,
    db: Db,
    services: Services,
    client: reqwest::Client,
    tokens_issued: AtomicUsize,
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// The server most tests run against: the defaults, without rate limits
/// (tests send thousands of requests a minute with one token).
pub fn default_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.limits.rate_limit_per_minute = 0;
    config
}

pub fn start_time() -> DateTime<Utc> {
    at(START)
}

async fn start(
    backend: Backend,
    db_url: &str,
    config: ServerConfig,
) -> Result<(TestServer, Running), String> {
    // As `serve` does: statements stop at the request timeout.
    let options = DbOptions {
        statement_timeout: Some(Duration::from_secs(config.limits.request_timeout_secs)),
    };
    let db = Db::connect(db_url, options)
        .await
        .map_err(|e| format!("connect to {db_url}: {e}"))?;
    db.migrate()
        .await
        .map_err(|e| format!("migrate {db_url}: {e}"))?;
    let clock = ManualClock::new(start_time());
    let services = Services::new(db.clone(), Arc::new(clock.clone()))
        .await
        .map_err(|e| format!("build services: {e:?}"))?;
    let (_, admin_secret) = services
        .api_tokens
        .create(
            &Principal::system(),
            NewApiToken {
                name: "admin".to_owned(),
                scopes: vec![Scope::Admin],
                realms: None,
                expires_at: None,
            },
        )
        .await
        .map_err(|e| format!("issue the admin token: {e:?}"))?;
    let app = app(services.clone(), &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (shutdown, signal) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app, async move {
        let _ = signal.await;
    }));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let server = TestServer {
        inner: Arc::new(Inner {
            backend,
            base_url: format!("http://{addr}"),
            db_url: db_url.to_owned(),
            admin_secret,
            clock,
            db,
            services,
            client,
            tokens_issued: AtomicUsize::new(0),
        }),
    };
    Ok((server, Running { shutdown, task }))
}

impl Running {
    async fn stop(self) {
        let _ = self.shutdown.send(());
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(10), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// Runs one test body against a fresh server on `backend`: provisions the
/// database, starts the server, runs `body`, then always stops the server
/// and drops the database before passing on the body's panic, if any.
pub async fn run<F, Fut>(backend: Backend, config: ServerConfig, body: F)
where
    F: FnOnce(TestServer) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(provisioned) = provision(backend).await else {
        eprintln!(
            "{} is not configured ({} unset): nothing to run on this backend",
            backend.name(),
            backend.env_var().unwrap_or_default()
        );
        return;
    };
    let (server, running) = match start(backend, &provisioned.url, config).await {
        Ok(started) => started,
        Err(err) => {
            cleanup(provisioned.cleanup).await;
            panic!("could not start a test server on {}: {err}", backend.name());
        }
    };
    let body = body(server.clone());
    let outcome = tokio::spawn(async move {
        if tokio::time::timeout(TEST_TIMEOUT, body).await.is_err() {
            panic!("the test did not finish within {TEST_TIMEOUT:?}");
        }
    })
    .await;
    running.stop().await;
    let _ = server.inner.db.conn().close_by_ref().await;
    drop(server);
    cleanup(provisioned.cleanup).await;
    if let Err(err) = outcome {
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("the test task failed: {err}"),
        }
    }
}

/// One HTTP response: status, headers and the body parsed as JSON (Null when
/// it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestServer {
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub fn url(&self) -> &str {
        &self.inner.base_url
    }

    /// The database URL the server runs on.
    pub fn db_url(&self) -> &str {
        &self.inner.db_url
    }

    pub fn endpoint(&self) -> String {
        format!("{}/graphql", self.inner.base_url)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    pub fn clock(&self) -> &ManualClock {
        &self.inner.clock
    }

    pub fn now(&self) -> DateTime<Utc> {
        headcount::clock::Clock::now(&self.inner.clock)
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn conn(&self) -> &DatabaseConnection {
        self.inner.db.conn()
    }

    pub fn services(&self) -> &Services {
        &self.inner.services
    }

    /// The unbound ADMIN token's secret (token name `admin`).
    pub fn admin_secret(&self) -> &str {
        &self.inner.admin_secret
    }

    // ── HTTP ──

    /// POSTs a JSON body to /graphql with an optional bearer secret.
    pub async fn post(&self, secret: Option<&str>, body: &Value) -> Reply {
        let mut request = self.inner.client.post(self.endpoint()).json(body);
        if let Some(secret) = secret {
            request = request.bearer_auth(secret);
        }
        let response = request.send().await.expect("POST /graphql");
        into_reply(response).await
    }

    /// GETs a path (e.g. `/healthz`).
    pub async fn get(&self, path: &str) -> Reply {
        let response = self
            .inner
            .client
            .get(format!("{}{path}", self.inner.base_url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        into_reply(response).await
    }

    /// Runs a GraphQL operation with `secret` and returns the response body.
    pub async fn gql(&self, secret: &str, query: &str, variables: Value) -> Value {
        let reply = self
            .post(
                Some(secret),
                &json!({ "query": query, "variables": variables }),
            )
            .await;
        assert!(
            reply.body.is_object(),
            "expected a GraphQL response, got HTTP {} with {:?}",
            reply.status,
            reply.body
        );
        reply.body
    }

    /// Runs a GraphQL operation as the unbound ADMIN token.
    pub async fn admin(&self, query: &str, variables: Value) -> Value {
        self.gql(&self.inner.admin_secret.clone(), query, variables)
            .await
    }

    /// Like `admin`, but the operation must succeed; returns `data`.
    pub async fn admin_ok(&self, query: &str, variables: Value) -> Value {
        let response = self.admin(query, variables).await;
        data(&response).clone()
    }

    /// Like `gql`, but the operation must succeed; returns `data`.
    pub async fn gql_ok(&self, secret: &str, query: &str, variables: Value) -> Value {
        let response = self.gql(secret, query, variables).await;
        data(&response).clone()
    }

    // ── tokens ──

    /// Issues an API token (named `token-N`) and returns its secret.
    /// `realms: None` binds it to no realm (every realm).
    pub async fn token(&self, scopes: &[&str], realms: Option<&[&str]>) -> String {
        let n = self.inner.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
        self.token_named(&format!("token-{n}"), scopes, realms, None)
            .await
            .1
    }

    /// Issues an API token through the service (as the system) and returns
    /// its numeric id and secret.
    pub async fn token_named(
        &self,
        name: &str,
        scopes: &[&str],
        realms: Option<&[&str]>,
        expires_at: Option<DateTime<Utc>>,
    ) -> (i32, String) {
        let scopes = scopes
            .iter()
            .map(|s| s.parse::<Scope>().unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let (token, secret) = self
            .inner
            .services
            .api_tokens
            .create(
                &Principal::system(),
                NewApiToken {
                    name: name.to_owned(),
                    scopes,
                    realms: realms.map(|r| r.iter().map(|s| s.to_string()).collect()),
                    expires_at,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("issue API token {name}: {e:?}"));
        (token.id, secret)
    }

    // ── fixtures (as admin, through GraphQL) ──

    /// Creates a realm; returns it (`id name seatLimit createdAt`).
    pub async fn create_realm(&self, name: &str) -> Value {
        let data = self
            .admin_ok(
                "mutation($name: String!) { createRealm(name: $name) { id name seatLimit createdAt } }",
                json!({ "name": name }),
            )
            .await;
        data["createRealm"].clone()
    }

    /// Creates a dataset; returns it (`id datasetId name realm{name}`).
    pub async fn create_dataset(&self, realm: &str, name: &str) -> Value {
        let data = self
            .admin_ok(
                "mutation($realm: String!, $name: String!) {
                   createDataset(realm: $realm, name: $name) { id datasetId name realm { name } }
                 }",
                json!({ "realm": realm, "name": name }),
            )
            .await;
        data["createDataset"].clone()
    }

    /// Creates a user from a full CreateUserInput; returns the user (USER_FIELDS).
    pub async fn create_user_with(&self, input: Value) -> Value {
        let data = self
            .admin_ok(
                &format!(
                    "mutation($input: CreateUserInput!) {{ createUser(input: $input) {{ {USER_FIELDS} }} }}"
                ),
                json!({ "input": input }),
            )
            .await;
        data["createUser"].clone()
    }

    /// Creates an ACTIVE user with app roles; returns their userId.
    pub async fn create_user(&self, realm: &str, email: &str, roles: &[&str]) -> i64 {
        let name = email.split('@').next().unwrap_or(email);
        let user = self
            .create_user_with(json!({
                "realm": realm, "email": email, "name": name, "roles": roles,
            }))
            .await;
        user["userId"].as_i64().expect("userId")
    }

    /// A user's current state as admin sees it (USER_FIELDS), or Null.
    pub async fn user(&self, user_id: i64) -> Value {
        let data = self
            .admin_ok(
                &format!("query($id: Int) {{ user(userId: $id) {{ {USER_FIELDS} }} }}"),
                json!({ "id": user_id }),
            )
            .await;
        data["user"].clone()
    }

    /// A live user's whole changelog, oldest first, as admin sees it.
    pub async fn changelog(&self, user_id: i64) -> Vec<Value> {
        let data = self
            .admin_ok(
                &format!(
                    "query($id: Int) {{ user(userId: $id) {{ changelog(first: 1000) {{
                       totalCount edges {{ node {{ {CHANGE_FIELDS} }} }} }} }} }}"
                ),
                json!({ "id": user_id }),
            )
            .await;
        changelog_nodes(&data["user"]["changelog"])
    }

    /// The whole changelog of the user with global id `gid` (deleted or
    /// not), oldest first, as admin sees it.
    pub async fn changelog_of(&self, gid: &str) -> Vec<Value> {
        let data = self
            .admin_ok(
                &format!(
                    "query($id: ID!) {{ node(id: $id) {{ ... on User {{ changelog(first: 1000) {{
                       totalCount edges {{ node {{ {CHANGE_FIELDS} }} }} }} }} }} }}"
                ),
                json!({ "id": gid }),
            )
            .await;
        changelog_nodes(&data["node"]["changelog"])
    }

    // ── direct database checks ──

    /// Row counts of every table this issue writes, and the number of
    /// (user, app role) and (user, dataset role) pairs held, decoded from the
    /// users rows (as "user_roles" and "user_dataset_roles").
    pub async fn counts(&self) -> BTreeMap<&'static str, u64> {
        let c = self.conn();
        let (user_roles, dataset_roles) = self.held_roles().await;
        let mut counts = BTreeMap::new();
        counts.insert("realms", realm::Entity::find().count(c).await.unwrap());
        counts.insert("datasets", dataset::Entity::find().count(c).await.unwrap());
        counts.insert("users", user::Entity::find().count(c).await.unwrap());
        counts.insert("user_roles", user_roles.len() as u64);
        counts.insert("user_dataset_roles", dataset_roles.len() as u64);
        counts.insert(
            "user_changes",
            user_change::Entity::find().count(c).await.unwrap(),
        );
        counts.insert(
            "audit_events",
            audit_event::Entity::find().count(c).await.unwrap(),
        );
        counts.insert(
            "api_tokens",
            api_token::Entity::find().count(c).await.unwrap(),
        );
        counts
    }

    /// Everything this issue stores, in a comparable form (api token use
    /// times left out: they are updated in the background on every request).
    pub async fn snapshot(&self) -> DbSnapshot {
        let c = self.conn();
        let (user_roles, dataset_roles) = self.held_roles().await;
        DbSnapshot {
            counts: self.counts().await,
            realms: realm::Entity::find()
                .order_by_asc(realm::Column::Id)
                .all(c)
                .await
                .unwrap(),
            datasets: dataset::Entity::find()
                .order_by_asc(dataset::Column::Id)
                .all(c)
                .await
                .unwrap(),
            users: user::Entity::find()
                .order_by_asc(user::Column::Id)
                .all(c)
                .await
                .unwrap(),
            user_roles,
            dataset_roles,
            api_tokens: api_token::Entity::find()
                .order_by_asc(api_token::Column::Id)
                .all(c)
                .await
                .unwrap()
                .into_iter()
                .map(|t| (t.id, t.name, t.scopes, t.realms, t.expires_at, t.revoked_at))
                .collect(),
        }
    }

    /// The roles every user holds (deleted users included), decoded from the
    /// `roles` and `datasets` JSON of the users rows: (user id, app role)
    /// and (user id, dataset id, dataset role) pairs, sorted. Panics when a
    /// row holds anything but the stored encodings.
    pub async fn held_roles(&self) -> (Vec<(i32, String)>, Vec<(i32, i32, String)>) {
        let users = user::Entity::find()
            .order_by_asc(user::Column::Id)
            .all(self.conn())
            .await
            .unwrap();
        let mut user_roles = Vec::new();
        let mut dataset_roles = Vec::new();
        for u in users {
            let roles: Vec<String> = serde_json::from_str(&u.roles)
                .unwrap_or_else(|e| panic!("user {}: roles {:?}: {e}", u.id, u.roles));
            user_roles.extend(roles.into_iter().map(|role| (u.id, role)));
            let grants: Vec<(i32, String, String)> = serde_json::from_str(&u.datasets)
                .unwrap_or_else(|e| panic!("user {}: datasets {:?}: {e}", u.id, u.datasets));
            dataset_roles.extend(
                grants
                    .into_iter()
                    .map(|(dataset_id, _, role)| (u.id, dataset_id, role)),
            );
        }
        user_roles.sort();
        dataset_roles.sort();
        (user_roles, dataset_roles)
    }

    /// Every audit event, oldest first.
    pub async fn audit_events(&self) -> Vec<audit_event::Model> {
        audit_event::Entity::find()
            .order_by_asc(audit_event::Column::Id)
            .all(self.conn())
            .await
            .unwrap()
    }

    /// Audit events with id greater than `after_id`, oldest first.
    pub async fn audit_events_since(&self, after_id: i64) -> Vec<audit_event::Model> {
        audit_event::Entity::find()
            .filter(audit_event::Column::Id.gt(after_id))
            .order_by_asc(audit_event::Column::Id)
            .all(self.conn())
            .await
            .unwrap()
    }

    /// The highest audit event id so far (0 when none).
    pub async fn last_audit_id(&self) -> i64 {
        self.audit_events().await.last().map_or(0, |e| e.id)
    }

    /// Every stored API token row.
    pub async fn api_token_rows(&self) -> Vec<api_token::Model> {
        api_token::Entity::find()
            .order_by_asc(api_token::Column::Id)
            .all(self.conn())
            .await
            .unwrap()
    }

    /// One user's history rows, by id.
    pub async fn user_change_rows(&self, user_id: i64) -> Vec<user_change::Model> {
        user_change::Entity::find()
            .filter(user_change::Column::UserId.eq(user_id as i32))
            .order_by_asc(user_change::Column::Id)
            .all(self.conn())
            .await
            .unwrap()
    }
}

fn changelog_nodes(log: &Value) -> Vec<Value> {
    let nodes: Vec<Value> = nodes(log);
    assert_eq!(
        log["totalCount"].as_u64(),
        Some(nodes.len() as u64),
        "changelog totalCount disagrees with its edges"
    );
    nodes
}

pub async fn into_reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

/// Everything stored, for "nothing changed" checks.
#[derive(Debug, PartialEq)]
pub struct DbSnapshot {
    pub counts: BTreeMap<&'static str, u64>,
    pub realms: Vec<realm::Model>,
    pub datasets: Vec<dataset::Model>,
    /// Their `roles` and `datasets` JSON included.
    pub users: Vec<user::Model>,
    /// (user id, app role), decoded from the users rows.
    pub user_roles: Vec<(i32, String)>,
    /// (user id, dataset id, dataset role), decoded from the users rows.
    pub dataset_roles: Vec<(i32, i32, String)>,
    #[allow(clippy::type_complexity)]
    pub api_tokens: Vec<(
        i32,
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
    )>,
}

/// Asserts that nothing stored changed between two snapshots.
pub fn assert_unchanged(before: &DbSnapshot, after: &DbSnapshot, what: &str) {
    assert_eq!(before.counts, after.counts, "{what}: row counts changed");
    assert_eq!(before, after, "{what}: stored data changed");
}

/// Waits (up to 10 s: failed sign-ins are written every 2 s) until the one
/// `auth.failed` event after `after_id` counts `attempts`, and returns it.
pub async fn failed_sign_ins(t: &TestServer, after_id: i64, attempts: u64) -> audit_event::Model {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events: Vec<_> = t
            .audit_events_since(after_id)
            .await
            .into_iter()
            .filter(|e| e.event == "auth.failed")
            .collect();
        let counted = |e: &audit_event::Model| -> Option<u64> {
            let resources: Value = serde_json::from_str(&e.resources).ok()?;
            resources
                .as_array()?
                .iter()
                .find(|r| r["type"] == "attempts")?["name"]
                .as_str()?
                .parse()
                .ok()
        };
        if let [event] = events.as_slice()
            && counted(event) == Some(attempts)
        {
            return event.clone();
        }
        assert!(
            Instant::now() < deadline,
            "expected one auth.failed event counting {attempts} attempts, got {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ───────────────────────── GraphQL helpers ─────────────────────────

/// The fields tests read from a User.
pub const USER_FIELDS: &str = "id userId email name realm { id name } status enabled roles \
     datasets { datasetId datasetName role } createdAt updatedAt deletedAt";

/// The fields tests read from a UserChange.
pub const CHANGE_FIELDS: &str = "id date userId userEmail realm updatedBy updaterEmail \
     previouslyEnabled enabled previousStatus status previousRoles roles \
     previousDatasets { datasetId datasetName role } datasets { datasetId datasetName role } \
     changesMade";

/// `data` of a response that must have no errors.
pub fn data(response: &Value) -> &Value {
    if let Some(errors) = response.get("errors") {
        panic!(
            "expected no errors, got {}",
            serde_json::to_string_pretty(errors).unwrap_or_default()
        );
    }
    response
        .get("data")
        .unwrap_or_else(|| panic!("no data in {response}"))
}

/// The errors of a response that must have some.
pub fn errors(response: &Value) -> &Vec<Value> {
    match response.get("errors").and_then(Value::as_array) {
        Some(errors) if !errors.is_empty() => errors,
        _ => panic!(
            "expected an error, got {}",
            serde_json::to_string_pretty(response).unwrap_or_default()
        ),
    }
}

/// The first error's extensions.code.
pub fn code(response: &Value) -> String {
    errors(response)[0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no extensions.code>")
        .to_owned()
}

/// Asserts that the response failed with `code` (every error carries it).
#[track_caller]
pub fn assert_code(response: &Value, expected: &str) {
    let errors = errors(response);
    for error in errors {
        assert_eq!(
            error["extensions"]["code"].as_str(),
            Some(expected),
            "expected {expected}, got {}",
            serde_json::to_string_pretty(response).unwrap_or_default()
        );
    }
}

/// Asserts BAD_USER_INPUT with extensions.field equal to `field`.
#[track_caller]
pub fn assert_bad_input(response: &Value, field: &str) {
    assert_code(response, "BAD_USER_INPUT");
    let error = &errors(response)[0];
    assert_eq!(
        error["extensions"]["field"].as_str(),
        Some(field),
        "expected BAD_USER_INPUT naming field {field}, got {}",
        serde_json::to_string_pretty(response).unwrap_or_default()
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        !message.trim().is_empty(),
        "an error needs a message: {error}"
    );
}

/// Asserts the named field of `data` is null or absent (no data leaked).
#[track_caller]
pub fn assert_no_data(response: &Value, field: &str) {
    let value = response
        .get("data")
        .and_then(|d| d.get(field))
        .unwrap_or(&Value::Null);
    assert!(
        value.is_null(),
        "expected no {field} in the response, got {}",
        serde_json::to_string_pretty(response).unwrap_or_default()
    );
}

/// The nodes of a connection, in order.
pub fn nodes(connection: &Value) -> Vec<Value> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// The cursors of a connection, in order.
pub fn cursors(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|e| e["cursor"].as_str().expect("cursor").to_owned())
        .collect()
}

/// `field` (an Int) of every node of a connection.
pub fn ints(connection: &Value, field: &str) -> Vec<i64> {
    nodes(connection)
        .iter()
        .map(|n| {
            n[field]
                .as_i64()
                .unwrap_or_else(|| panic!("{field} missing in {n}"))
        })
        .collect()
}

/// A list of strings as a sorted Vec.
pub fn strings(value: &Value) -> Vec<String> {
    let mut out: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect();
    out.sort();
    out
}

/// A sorted Vec<String> from string literals.
pub fn sorted(items: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

/// An RFC 3339 instant.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

/// A DateTime returned by the API: RFC 3339 in UTC ("...Z").
#[track_caller]
pub fn datetime(value: &Value) -> DateTime<Utc> {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a DateTime, got {value}"));
    assert!(s.ends_with('Z'), "DateTime {s} is not in UTC (...Z)");
    at(s)
}
