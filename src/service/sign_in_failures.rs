//! Failed sign-ins, recorded without letting a flood of them fill the
//! activity log or hold the database's write lock against real users.
//!
//! A failure only bumps a counter in memory (one per client address and
//! minute, a bounded number of them); [`SignInFailures::flush`], run every
//! couple of seconds off the request path, writes one `auth.failed` event per
//! address and minute and updates its count as more arrive. The event's
//! resources say why (the latest reason) and how many attempts it stands for:
//! `[{"type":"reason","name":"invalid API token"},{"type":"attempts","name":"57"}]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::Result;
use super::audit::Resource;
use crate::clock::SharedClock;
use crate::db::Db;
use crate::events::Change;
use crate::time::to_micros;

/// Addresses tracked at once; failures from further addresses in the same
/// minute are merged into one event without an address.
const MAX_ADDRESSES: usize = 10_000;

const MINUTE_MICROS: i64 = 60_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    ip_address: Option<String>,
    minute: i64,
}

#[derive(Debug, Clone)]
struct Tally {
    first_at: DateTime<Utc>,
    attempts: u64,
    reason: String,
    /// The event written for it, and the attempts it says.
    written: Option<(i64, u64)>,
}

#[derive(Clone)]
pub struct SignInFailures {
    db: Db,
    clock: SharedClock,
    tallies: Arc<Mutex<HashMap<Key, Tally>>>,
}

impl SignInFailures {
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            tallies: Arc::default(),
        }
    }

    /// Counts one failed sign-in. Never waits on the database.
    pub fn record(&self, reason: &str, ip_address: Option<String>) {
        let now = self.clock.now();
        let minute = to_micros(now).div_euclid(MINUTE_MICROS);
        let mut tallies = self.lock();
        let mut key = Key { ip_address, minute };
        if !tallies.contains_key(&key) && tallies.len() >= MAX_ADDRESSES {
            key.ip_address = None;
        }
        let tally = tallies.entry(key).or_insert_with(|| Tally {
            first_at: now,
            attempts: 0,
            reason: String::new(),
            written: None,
        });
        tally.attempts += 1;
        if tally.reason != reason {
            reason.clone_into(&mut tally.reason);
        }
    }

    /// Writes what was counted since the last flush: a new event per address
    /// and minute, or the new count into the event already written. Tallies
    /// of past minutes are forgotten once written.
    pub async fn flush(&self) -> Result<()> {
        let pending: Vec<(Key, Tally)> = self
            .lock()
            .iter()
            .filter(|(_, t)| t.written.is_none_or(|(_, n)| n != t.attempts))
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        for (key, tally) in pending {
            let id = self.write(&key, &tally).await?;
            if let Some(current) = self.lock().get_mut(&key) {
                current.written = Some((id, tally.attempts));
            }
        }
        let this_minute = to_micros(self.clock.now()).div_euclid(MINUTE_MICROS);
        self.lock().retain(|key, tally| {
            key.minute >= this_minute || tally.written.is_none_or(|(_, n)| n != tally.attempts)
        });
        Ok(())
    }

    async fn write(&self, key: &Key, tally: &Tally) -> Result<i64> {
        let resources = serde_json::to_string(&[
            Resource {
                kind: "reason".to_owned(),
                name: tally.reason.clone(),
                id: None,
            },
            Resource {
                kind: "attempts".to_owned(),
                name: tally.attempts.to_string(),
                id: None,
            },
        ])
        .unwrap_or_else(|_| "[]".to_owned());
        match tally.written {
            Some((id, _)) => {
                audit_event::Entity::update_many()
                    .col_expr(audit_event::Column::Resources, Expr::value(resources))
                    .filter(audit_event::Column::Id.eq(id))
                    .exec(self.db.conn())
                    .await?;
                Ok(id)
            }
            None => {
                let row = audit_event::ActiveModel {
                    occurred_at: Set(to_micros(tally.first_at)),
                    realm: Set(None),
                    event: Set("auth.failed".to_owned()),
                    actor_id: Set(None),
                    actor: Set(None),
                    ip_address: Set(key.ip_address.clone()),
                    resources: Set(resources),
                    ..Default::default()
                };
                let id = row.insert(self.db.conn()).await?.id;
                self.db.announce(&[Change::AuditEvent(id)]).await?;
                Ok(id)
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Tally>> {
        self.tallies.lock().unwrap_or_else(|e| e.into_inner())
    }
}
