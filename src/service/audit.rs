//! The activity log: one event per mutation and token issue/revoke, written in
//! the same transaction as the change it records (failed sign-ins: see
//! `sign_in_failures`). Each is pushed to subscribers once its transaction
//! commits (`crate::events`).

use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde::{Deserialize, Serialize};

use super::{Principal, Result};
use crate::events::{self, Change};
use crate::time::to_micros;

/// Something an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub id: Option<String>,
}

impl Resource {
    pub fn new(kind: &str, name: impl Into<String>, id: impl ToString) -> Self {
        Self {
            kind: kind.to_owned(),
            name: name.into(),
            id: Some(id.to_string()),
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub event: &'a str,
    pub realm: Option<&'a str>,
    pub resources: Vec<Resource>,
}

/// Writes `event` by `actor` at `at` on `conn` (usually the change's
/// transaction). `actor_id` is the acting token's id (null for the system).
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    actor: &Principal,
    at: DateTime<Utc>,
    event: NewEvent<'_>,
) -> Result<()> {
    let actor = Actor {
        id: actor.token_id,
        name: Some(&actor.name),
        ip_address: actor.ip_address.clone(),
    };
    insert(conn, at, event, actor).await
}

/// Who an event is by, as stored.
struct Actor<'a> {
    id: Option<i32>,
    name: Option<&'a str>,
    ip_address: Option<String>,
}

async fn insert<C: ConnectionTrait>(
    conn: &C,
    at: DateTime<Utc>,
    event: NewEvent<'_>,
    actor: Actor<'_>,
) -> Result<()> {
    let row = audit_event::ActiveModel {
        occurred_at: Set(to_micros(at)),
        realm: Set(event.realm.map(str::to_owned)),
        event: Set(event.event.to_owned()),
        actor_id: Set(actor.id),
        actor: Set(actor.name.map(str::to_owned)),
        ip_address: Set(actor.ip_address),
        resources: Set(serde_json::to_string(&event.resources).unwrap_or_else(|_| "[]".to_owned())),
        ..Default::default()
    };
    let row = row.insert(conn).await?;
    events::written(Change::AuditEvent(row.id));
    Ok(())
}
