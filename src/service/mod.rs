//! The domain. No GraphQL types here: every adapter calls these services, and
//! every rule (scopes, realm bindings, validation, history) lives here.

pub mod api_tokens;
pub mod audit;
pub mod audit_events;
pub mod auth;
pub mod directory;
mod error;
pub mod filter;
pub mod history;
pub mod insights;
pub mod live;
pub mod page;
pub mod product_events;
pub mod range;
pub mod reports;
pub mod requests;
pub mod sign_in_failures;
pub mod tokens;
pub mod tz;
pub mod user_counts;

use std::sync::Arc;

pub use auth::{Principal, RealmAccess, Scope, Scopes};
pub use error::{Error, Result};

use crate::clock::SharedClock;
use crate::db::Db;

/// Every service, sharing one pool and one clock.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub clock: SharedClock,
    pub directory: directory::Directory,
    pub history: history::History,
    pub insights: insights::Insights,
    pub api_tokens: api_tokens::ApiTokens,
    pub reports: reports::Reports,
    pub sign_in_failures: sign_in_failures::SignInFailures,
    pub audit_events: audit_events::AuditEvents,
    pub api_requests: requests::ApiRequests,
    /// Records nothing until the HTTP edge starts it.
    pub request_log: requests::RequestLog,
    pub tokens: tokens::Tokens,
    /// Subscriptions: changes as they commit.
    pub live: live::Live,
    pub product_events: product_events::ProductEvents,
}

impl Services {
    /// Builds the services over a migrated database.
    pub async fn new(db: Db, clock: SharedClock) -> Result<Self> {
        let catalog = Arc::new(directory::RoleCatalog::load(&db).await?);
        let realms = directory::RealmCache::default();
        let history =
            history::History::new(db.clone(), clock.clone(), catalog.clone(), realms.clone());
        let reports = reports::Reports::new(
            db.clone(),
            clock.clone(),
            reports::ReportSettings::default(),
        );
        let audit_events = audit_events::AuditEvents::new(db.clone(), clock.clone());
        Ok(Self {
            directory: directory::Directory::new(
                db.clone(),
                clock.clone(),
                catalog.clone(),
                realms.clone(),
            ),
            insights: insights::Insights::new(db.clone(), clock.clone(), realms.clone()),
            tokens: tokens::Tokens::new(db.clone(), clock.clone(), realms),
            api_tokens: api_tokens::ApiTokens::new(db.clone(), clock.clone()),
            sign_in_failures: sign_in_failures::SignInFailures::new(db.clone(), clock.clone()),
            live: live::Live::new(
                db.clone(),
                audit_events.clone(),
                history.clone(),
                reports.clone(),
            ),
            history,
            reports,
            audit_events,
            api_requests: requests::ApiRequests::new(db.clone(), clock.clone()),
            request_log: requests::RequestLog::new(db.clone(), clock.clone()),
            product_events: product_events::ProductEvents::new(db.clone(), clock.clone()),
            db,
            clock,
        })
    }
}
