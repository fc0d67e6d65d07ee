//! Each test's own database: provisioned before the server starts and
//! dropped after it stops.

use super::*;

/// A database made for one test, and how to get rid of it.
pub(super) struct Provisioned {
    pub(super) url: String,
    pub(super) cleanup: Cleanup,
}

pub(super) enum Cleanup {
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

/// Creates this test's database, or None (saying so) when the backend is
/// not configured.
pub(super) async fn provision(backend: Backend) -> Option<Provisioned> {
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
        _ => {
            eprintln!(
                "{} is not configured ({var} unset): nothing to run on this backend",
                backend.name()
            );
            return None;
        }
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

pub(super) async fn cleanup(cleanup: Cleanup) {
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

/// Runs `body` with the URL of a database of its own that nothing has
/// touched (no tables, no tokens), then drops the database, also when `body`
/// panics. Nothing runs when the backend is not configured.
pub async fn with_empty_database<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(provisioned) = provision(backend).await else {
        return;
    };
    let outcome = tokio::spawn(body(provisioned.url.clone())).await;
    cleanup(provisioned.cleanup).await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
