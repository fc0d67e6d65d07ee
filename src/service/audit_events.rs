//! Reading the activity log: events in a time range, newest first, in one
//! realm or across every realm the caller may see, paged by keyset.
//!
//! Which events a query spans:
//! - `realm`: that realm's events; a realm outside a bound token's realms is
//!   FORBIDDEN (never an empty page), whether or not it exists.
//! - `allPermittedRealms` (scope AUDIT_READ_ALL_REALMS): every event the token
//!   may see: those of its realms, or every event for a token bound to none.
//! - neither: the token's own realm when it is bound to exactly one; for a
//!   token bound to no realm, the events outside any realm (failed sign-ins,
//!   tokens bound to no or several realms), like ThousandEyes' current
//!   account group. A token bound to several realms names one.

use chrono::{DateTime, Utc};
use entity::audit_event;
use futures::stream::BoxStream;
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter};

use super::audit::Resource;
use super::directory::normalize_realm;
use super::filter::check_list;
use super::page::{self, KeyPart, Keyset, Page, PageArgs};
use super::range::{RangeArgs, TimeRange};
use super::{Error, Principal, RealmAccess, Result, Scope};
use crate::clock::SharedClock;
use crate::db::Db;
use crate::time::{from_micros, to_micros};

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub date: DateTime<Utc>,
    pub realm: Option<String>,
    pub event: String,
    pub actor_id: Option<i32>,
    pub actor: Option<String>,
    pub ip_address: Option<String>,
    pub resources: Vec<Resource>,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub range: RangeArgs,
    pub realm: Option<String>,
    pub all_permitted_realms: bool,
    pub events: Option<Vec<String>>,
    pub actor_ids: Option<Vec<i32>>,
}

/// A resolved query: its range (echoed) and its condition (for `totalCount`).
#[derive(Debug, Clone)]
pub struct AuditMatch {
    pub range: TimeRange,
    condition: Condition,
}

fn keyset() -> Keyset<audit_event::Entity> {
    Keyset {
        name: "audit",
        columns: vec![audit_event::Column::OccurredAt, audit_event::Column::Id],
        order: Order::Desc,
    }
}

/// The events `query` asks for among those `condition` lets its caller
/// see, in `range`.
fn matching(query: &AuditQuery, condition: Condition, range: TimeRange) -> Result<AuditMatch> {
    check_list(query.events.as_deref(), "event")?;
    check_list(query.actor_ids.as_deref(), "actorId")?;
    let mut condition = condition
        .add(audit_event::Column::OccurredAt.gte(to_micros(range.start)))
        .add(audit_event::Column::OccurredAt.lt(to_micros(range.end)));
    if let Some(events) = &query.events {
        condition = condition.add(audit_event::Column::Event.is_in(events.iter().cloned()));
    }
    if let Some(ids) = &query.actor_ids {
        condition = condition.add(audit_event::Column::ActorId.is_in(ids.iter().copied()));
    }
    Ok(AuditMatch { range, condition })
}

impl AuditEvent {
    /// The cursor a page after this event starts from.
    pub fn cursor(&self) -> String {
        page::cursor(
            &keyset(),
            vec![KeyPart::Int(to_micros(self.date)), KeyPart::Int(self.id)],
        )
    }
}

fn to_event(m: audit_event::Model) -> AuditEvent {
    AuditEvent {
        id: m.id,
        date: from_micros(m.occurred_at),
        realm: m.realm,
        event: m.event,
        actor_id: m.actor_id,
        actor: m.actor,
        ip_address: m.ip_address,
        resources: serde_json::from_str(&m.resources).unwrap_or_default(),
    }
}

/// The realms condition of a query, after its realm rules.
fn realm_condition(actor: &Principal, query: &AuditQuery) -> Result<Condition> {
    let column = audit_event::Column::Realm;
    if query.all_permitted_realms {
        actor.require(Scope::AuditReadAllRealms)?;
        if query.realm.is_some() {
            return Err(Error::bad_input(
                "allPermittedRealms",
                "pass either realm or allPermittedRealms, not both",
            ));
        }
        return Ok(match &actor.realms {
            RealmAccess::All => Condition::all(),
            RealmAccess::Only(names) => Condition::all().add(column.is_in(names.iter().cloned())),
        });
    }
    if let Some(realm) = &query.realm {
        actor.require_realm(realm)?;
        return Ok(Condition::all().add(column.eq(normalize_realm(realm))));
    }
    match &actor.realms {
        RealmAccess::All => Ok(Condition::all().add(column.is_null())),
        RealmAccess::Only(names) => match names.iter().collect::<Vec<_>>().as_slice() {
            [only] => Ok(Condition::all().add(column.eq(only.as_str()))),
            _ => Err(Error::bad_input(
                "realm",
                "this token is bound to several realms: name one, or pass allPermittedRealms",
            )),
        },
    }
}

#[derive(Clone)]
pub struct AuditEvents {
    db: Db,
    clock: SharedClock,
}

impl AuditEvents {
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// One page of events, newest first.
    pub async fn list(
        &self,
        actor: &Principal,
        query: &AuditQuery,
        args: &PageArgs,
    ) -> Result<(Page<AuditEvent>, AuditMatch)> {
        actor.require(Scope::AuditRead)?;
        let condition = realm_condition(actor, query)?;
        let range = query.range.resolve(self.clock.now())?;
        page::validate(args)?;
        let matched = matching(query, condition, range)?;
        let page = page::paginate(
            self.db.conn(),
            matched.condition.clone(),
            &keyset(),
            args,
            &page::Models,
            |m| vec![KeyPart::Int(m.occurred_at), KeyPart::Int(m.id)],
        )
        .await?;
        Ok((page.map(to_event), matched))
    }

    /// [`AuditEvents::list`] read through: the events after the cursor
    /// `after`, at most `limit`, in one statement whose rows arrive while
    /// the database produces the rest (reports).
    pub async fn walk(
        &self,
        actor: &Principal,
        query: &AuditQuery,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(BoxStream<'static, Result<AuditEvent>>, AuditMatch)> {
        actor.require(Scope::AuditRead)?;
        let condition = realm_condition(actor, query)?;
        let range = query.range.resolve(self.clock.now())?;
        let matched = matching(query, condition, range)?;
        let rows = page::walk_models(
            self.db.conn(),
            matched.condition.clone(),
            &keyset(),
            after,
            limit,
            to_event,
        )
        .await?;
        Ok((rows, matched))
    }

    pub async fn count(&self, query: &AuditMatch) -> Result<i64> {
        page::count(
            self.db.conn(),
            audit_event::Entity::find().filter(query.condition.clone()),
        )
        .await
    }

    /// One event by id (for global ids): absent when outside the caller's
    /// realms, exactly like a missing one. Events outside any realm are seen
    /// by tokens bound to no realm only.
    pub async fn get(&self, actor: &Principal, id: i64) -> Result<Option<AuditEvent>> {
        actor.require(Scope::AuditRead)?;
        let Some(row) = audit_event::Entity::find_by_id(id)
            .one(self.db.conn())
            .await?
        else {
            return Ok(None);
        };
        let visible = match (&row.realm, &actor.realms) {
            (_, RealmAccess::All) => true,
            (Some(realm), access) => access.allows(realm),
            (None, RealmAccess::Only(_)) => false,
        };
        Ok(visible.then(|| to_event(row)))
    }
}
