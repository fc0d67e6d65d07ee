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

mod assertions;
mod catalog;
mod checks;
mod database;
mod fixtures;
mod oracle;
mod paging;
mod process;
mod s3;
mod server;
mod summary;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use {
    assertions::*, catalog::*, checks::*, database::*, oracle::*, paging::*, process::*, s3::*,
    server::*, summary::*,
};

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::{api_token, audit_event, dataset, product_event, realm, user, user_change};
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

    pub(crate) fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("HEADCOUNT_TEST_PG_URL"),
            Backend::Mysql => Some("HEADCOUNT_TEST_MYSQL_URL"),
        }
    }
}
