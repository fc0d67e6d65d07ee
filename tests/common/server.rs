//! The server under test, started in-process on a random port, and how
//! tests talk to it over HTTP.

use super::*;

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

/// How long a stopped test server's pool may take to close.
const POOL_CLOSE_WITHIN: Duration = Duration::from_secs(20);

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
    // Closing waits for every connection to come back to the pool. Once
    // (MariaDB, session 15, not reproduced in 8 runs since) it never
    // returned, every connection idle, and the suite hung; sqlx's pool
    // close has known races of that kind (a connection returned to the
    // idle queue after `close` drained it). Fail the test instead, after
    // cleaning up.
    let closed = tokio::time::timeout(POOL_CLOSE_WITHIN, server.inner.db.conn().close_by_ref())
        .await
        .is_ok();
    drop(server);
    cleanup(provisioned.cleanup).await;
    if let Err(err) = outcome {
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("the test task failed: {err}"),
        }
    }
    assert!(
        closed,
        "the server's database pool did not close within {POOL_CLOSE_WITHIN:?}: a connection was never given back"
    );
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
