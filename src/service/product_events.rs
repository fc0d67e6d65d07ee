//! Product events (Cryptolens' Register Event and Events Log): applications
//! report what their users did ([`ProductEvents::register`], a batch in one
//! transaction), and BI tools page through them ([`ProductEvents::list`],
//! newest first, by keyset in both directions).
//!
//! Every event belongs to its user's realm: a token registers events for the
//! live users it may see, and reads the events of its realms. A batch is all
//! or nothing: the first bad row (by index) rejects it, naming the row
//! (`input[3].userId`), and nothing is written. A batch writes one
//! `events.registered` audit event, however many rows it holds.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use entity::{product_event, realm, user};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QuerySelect, Set,
};

use super::audit::{self, NewEvent, Resource};
use super::directory::normalize_realm;
use super::filter::check_list;
use super::page::{self, KeyPart, Keyset, Page, PageArgs};
use super::range::{RangeArgs, TimeRange};
use super::{Error, Principal, RealmAccess, Result, Scope};
use crate::clock::SharedClock;
use crate::db::Db;
use crate::time::{from_micros, to_micros};

/// Most events one `registerEvents` call may hold.
pub const MAX_BATCH: usize = 10_000;
/// Longest feature or event name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Largest metadata, as JSON text, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;
/// How far ahead of the server's clock `occurredAt` may be (clock skew).
pub const MAX_AHEAD: Duration = Duration::minutes(5);
/// Rows per INSERT: 11 columns, well under every backend's parameter limit.
const INSERT_ROWS: usize = 1000;
/// Ids per user lookup.
const LOOKUP_IDS: usize = 1000;

/// One event to register, as the application sent it.
#[derive(Debug, Clone, Default)]
pub struct NewProductEvent {
    pub user_id: i32,
    pub feature: String,
    pub event: String,
    pub value: Option<f64>,
    pub currency: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// Default: now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub realm: String,
    pub user_id: i32,
    pub feature: String,
    pub event: String,
    pub value: Option<f64>,
    pub currency: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub range: RangeArgs,
    /// One realm; None: every realm the caller may see.
    pub realm: Option<String>,
    pub features: Option<Vec<String>>,
    pub events: Option<Vec<String>>,
    pub user_ids: Option<Vec<i32>>,
}

/// A resolved query: its range (echoed) and its condition (for `totalCount`).
#[derive(Debug, Clone)]
pub struct EventMatch {
    pub range: TimeRange,
    condition: Condition,
}

/// Newest first, by (occurredAt, id).
fn keyset() -> Keyset<product_event::Entity> {
    Keyset {
        name: "events",
        columns: vec![product_event::Column::OccurredAt, product_event::Column::Id],
        order: Order::Desc,
    }
}

fn to_event(m: product_event::Model) -> ProductEvent {
    ProductEvent {
        id: m.id,
        occurred_at: from_micros(m.occurred_at),
        recorded_at: from_micros(m.recorded_at),
        realm: m.realm,
        user_id: m.user_id,
        feature: m.feature,
        event: m.event,
        value: m.value,
        currency: m.currency,
        metadata: m.metadata.and_then(|text| serde_json::from_str(&text).ok()),
    }
}

/// The events `actor` may see: all, or those of its realms.
fn visible(actor: &Principal) -> Condition {
    match &actor.realms {
        RealmAccess::All => Condition::all(),
        RealmAccess::Only(names) => {
            Condition::all().add(product_event::Column::Realm.is_in(names.iter().cloned()))
        }
    }
}

/// A name (feature, event): trimmed, not empty, at most [`MAX_NAME_CHARS`].
fn name(value: &str, field: String) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::bad_input(field, "must not be empty"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(Error::bad_input(
            field,
            format!("at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Checks one row's own fields (not its user) and turns it into a row
/// without its realm.
fn validate(
    index: usize,
    input: &NewProductEvent,
    now: DateTime<Utc>,
) -> Result<product_event::ActiveModel> {
    let field = |name: &str| format!("input[{index}].{name}");
    let feature = name(&input.feature, field("feature"))?;
    let event = name(&input.event, field("event"))?;
    let currency = match &input.currency {
        None => None,
        Some(_) if input.value.is_none() => {
            return Err(Error::bad_input(
                field("currency"),
                "a currency needs a value",
            ));
        }
        Some(code) if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) => {
            Some(code.to_ascii_uppercase())
        }
        Some(code) => {
            return Err(Error::bad_input(
                field("currency"),
                format!("'{code}' is not a three-letter ISO 4217 code"),
            ));
        }
    };
    if input.value.is_some_and(|v| !v.is_finite()) {
        return Err(Error::bad_input(field("value"), "must be a finite number"));
    }
    let metadata = match &input.metadata {
        None | Some(serde_json::Value::Null) => None,
        Some(json) => {
            let text = serde_json::to_string(json)
                .map_err(|e| Error::bad_input(field("metadata"), e.to_string()))?;
            if text.len() > MAX_METADATA_BYTES {
                return Err(Error::bad_input(
                    field("metadata"),
                    format!("{} bytes of JSON; at most {MAX_METADATA_BYTES}", text.len()),
                ));
            }
            Some(text)
        }
    };
    let occurred_at = input.occurred_at.unwrap_or(now);
    if occurred_at > now + MAX_AHEAD {
        return Err(Error::bad_input(
            field("occurredAt"),
            format!(
                "{occurred_at} is in the future (more than {} minutes ahead of the server)",
                MAX_AHEAD.num_minutes()
            ),
        ));
    }
    Ok(product_event::ActiveModel {
        occurred_at: Set(to_micros(occurred_at)),
        recorded_at: Set(to_micros(now)),
        user_id: Set(input.user_id),
        feature: Set(feature),
        event: Set(event),
        value: Set(input.value),
        currency: Set(currency),
        metadata: Set(metadata),
        ..Default::default()
    })
}

/// The realms (id, name) of the live users among `ids`.
async fn user_realms<C: ConnectionTrait>(
    conn: &C,
    ids: &[i32],
) -> Result<HashMap<i32, (i32, String)>> {
    let mut realm_of: HashMap<i32, i32> = HashMap::new();
    for chunk in ids.chunks(LOOKUP_IDS) {
        let rows: Vec<(i32, i32)> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::RealmId)
            .filter(user::Column::Id.is_in(chunk.iter().copied()))
            .filter(user::Column::DeletedAt.is_null())
            .into_tuple()
            .all(conn)
            .await?;
        realm_of.extend(rows);
    }
    let mut realm_ids: Vec<i32> = realm_of.values().copied().collect();
    realm_ids.sort_unstable();
    realm_ids.dedup();
    let names: HashMap<i32, String> = realm::Entity::find()
        .select_only()
        .column(realm::Column::Id)
        .column(realm::Column::Name)
        .filter(realm::Column::Id.is_in(realm_ids))
        .into_tuple::<(i32, String)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    Ok(realm_of
        .into_iter()
        .filter_map(|(user, realm)| names.get(&realm).map(|n| (user, (realm, n.clone()))))
        .collect())
}

#[derive(Clone)]
pub struct ProductEvents {
    db: Db,
    clock: SharedClock,
}

impl ProductEvents {
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// Stores a batch of events in one transaction, with one audit event;
    /// returns how many. An empty batch writes nothing.
    pub async fn register(&self, actor: &Principal, batch: Vec<NewProductEvent>) -> Result<u64> {
        actor.require(Scope::EventsWrite)?;
        if batch.len() > MAX_BATCH {
            return Err(Error::bad_input(
                "input",
                format!(
                    "{} events in one call; at most {MAX_BATCH}: send them in several calls",
                    batch.len()
                ),
            ));
        }
        if batch.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let mut ids: Vec<i32> = batch.iter().map(|e| e.user_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let (actor, batch, ids) = (&actor, &batch, &ids);
        self.db
            .write(|tx| async move {
                let users = user_realms(tx.as_ref(), ids).await?;
                let mut rows = Vec::with_capacity(batch.len());
                // The realms written to: (id, name).
                let mut realms: BTreeSet<(i32, String)> = BTreeSet::new();
                for (index, input) in batch.iter().enumerate() {
                    let mut row = validate(index, input, now)?;
                    // Another realm's user answers exactly like a missing one.
                    let Some((realm_id, realm)) = users
                        .get(&input.user_id)
                        .filter(|(_, realm)| actor.sees(realm))
                    else {
                        return Err(Error::bad_input(
                            format!("input[{index}].userId"),
                            format!("no user {}", input.user_id),
                        ));
                    };
                    row.realm = Set(realm.clone());
                    row.actor_id = Set(actor.token_id);
                    rows.push(row);
                    realms.insert((*realm_id, realm.clone()));
                }
                let count = rows.len() as u64;
                let mut rows = rows.into_iter().peekable();
                while rows.peek().is_some() {
                    let chunk: Vec<_> = rows.by_ref().take(INSERT_ROWS).collect();
                    product_event::Entity::insert_many(chunk)
                        .exec_without_returning(tx.as_ref())
                        .await?;
                }
                let only = match realms.iter().collect::<Vec<_>>().as_slice() {
                    [(_, name)] => Some(name.clone()),
                    _ => None,
                };
                let mut resources = vec![Resource {
                    kind: "events".to_owned(),
                    name: count.to_string(),
                    id: None,
                }];
                resources.extend(
                    realms
                        .iter()
                        .map(|(id, name)| Resource::new("realm", name.clone(), id)),
                );
                audit::record(
                    tx.as_ref(),
                    actor,
                    now,
                    NewEvent {
                        event: "events.registered",
                        realm: only.as_deref(),
                        resources,
                    },
                )
                .await?;
                Ok(count)
            })
            .await
    }

    /// One page of events, newest first.
    pub async fn list(
        &self,
        actor: &Principal,
        query: &EventQuery,
        args: &PageArgs,
    ) -> Result<(Page<ProductEvent>, EventMatch)> {
        actor.require(Scope::EventsRead)?;
        let mut condition = match &query.realm {
            Some(realm) => {
                actor.require_realm(realm)?;
                Condition::all().add(product_event::Column::Realm.eq(normalize_realm(realm)))
            }
            None => visible(actor),
        };
        let range = query.range.resolve(self.clock.now())?;
        page::validate(args)?;
        check_list(query.features.as_deref(), "feature")?;
        check_list(query.events.as_deref(), "event")?;
        check_list(query.user_ids.as_deref(), "userId")?;
        condition = condition
            .add(product_event::Column::OccurredAt.gte(to_micros(range.start)))
            .add(product_event::Column::OccurredAt.lt(to_micros(range.end)));
        if let Some(features) = &query.features {
            condition =
                condition.add(product_event::Column::Feature.is_in(features.iter().cloned()));
        }
        if let Some(events) = &query.events {
            condition = condition.add(product_event::Column::Event.is_in(events.iter().cloned()));
        }
        if let Some(ids) = &query.user_ids {
            condition = condition.add(product_event::Column::UserId.is_in(ids.iter().copied()));
        }
        let page = page::paginate(
            self.db.conn(),
            condition.clone(),
            &keyset(),
            args,
            &page::Models,
            |m| vec![KeyPart::Int(m.occurred_at), KeyPart::Int(m.id)],
        )
        .await?;
        Ok((page.map(to_event), EventMatch { range, condition }))
    }

    pub async fn count(&self, query: &EventMatch) -> Result<i64> {
        page::count(
            self.db.conn(),
            product_event::Entity::find().filter(query.condition.clone()),
        )
        .await
    }

    /// One event by id (for global ids): absent when outside the caller's
    /// realms, exactly like a missing one.
    pub async fn get(&self, actor: &Principal, id: i64) -> Result<Option<ProductEvent>> {
        actor.require(Scope::EventsRead)?;
        let row = product_event::Entity::find_by_id(id)
            .filter(visible(actor))
            .one(self.db.conn())
            .await?;
        Ok(row.map(to_event))
    }
}
