//! Token events. Each runs in one transaction that locks the token, writes
//! its new state, updates the live tallies, records the counters and writes
//! one audit event; an event that changes nothing writes nothing. Scopes and
//! realm names are checked before anything is looked up.

use chrono::{DateTime, Utc};
use entity::{token, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect, Set,
};

use super::tally::{self, Move, Slot};
use super::{Token, Tokens, realm_key, sees_key};
use crate::service::audit::{self, NewEvent, Resource};
use crate::service::directory::{Realms, normalize_realm};
use crate::service::{Error, Principal, Result, Scope};
use crate::time::{from_micros, to_micros};

/// A token to enrol.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub serial: String,
    pub kind: String,
    /// None: the user's realm when a user is given, else no realm.
    pub realm: Option<String>,
    pub user_id: Option<i32>,
    pub active: bool,
}

/// A token's state that events change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    realm_id: Option<i32>,
    user_id: Option<i32>,
    active: bool,
}

impl State {
    fn of(row: &token::Model) -> Self {
        Self {
            realm_id: row.realm_id,
            user_id: row.user_id,
            active: row.active,
        }
    }

    fn slot(&self, realms: &Realms) -> Slot {
        Slot {
            realm: realm_key(realms, self.realm_id),
            user: self.user_id,
            active: self.active,
        }
    }
}

/// A live user a token can be assigned to: (id, realm id).
#[derive(Debug, Clone, Copy)]
struct Holder {
    id: i32,
    realm_id: i32,
}

pub(super) fn to_token(realms: &Realms, m: token::Model) -> Token {
    Token {
        realm: m.realm_id.map(|id| realms.name(id)),
        id: m.id,
        serial: m.serial,
        kind: m.kind,
        user_id: m.user_id,
        active: m.active,
        created_at: from_micros(m.created_at),
    }
}

fn validate_serial(serial: &str) -> Result<String> {
    let serial = serial.trim();
    let valid = !serial.is_empty()
        && serial.chars().count() <= 100
        && !serial.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(serial.to_owned())
    } else {
        Err(Error::bad_input(
            "input.serial",
            "a serial has 1 to 100 characters, without spaces",
        ))
    }
}

fn validate_kind(kind: &str) -> Result<String> {
    let kind = kind.trim().to_lowercase();
    let valid = !kind.is_empty()
        && kind.len() <= 40
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if valid {
        Ok(kind)
    } else {
        Err(Error::bad_input(
            "input.kind",
            "a token kind has 1 to 40 letters, digits, '-' or '_'",
        ))
    }
}

fn no_token(serial: &str) -> Error {
    Error::not_found(format!("no token with serial '{serial}'"))
}

fn serial_taken(serial: &str) -> Error {
    Error::conflict(
        "input.serial",
        format!("a token with serial '{serial}' already exists"),
    )
}

/// A realm name a token may be put in: one the caller may name (FORBIDDEN
/// otherwise, before existence), that exists.
fn target_realm(actor: &Principal, realms: &Realms, name: &str, field: &str) -> Result<i32> {
    actor.require_realm(name)?;
    Ok(realms.resolve(name, field)?.id)
}

/// The live user `user_id` among those the caller may see; any other is
/// NOT_FOUND, alike.
async fn find_holder<C: ConnectionTrait>(
    db: &C,
    actor: &Principal,
    realms: &Realms,
    user_id: i32,
) -> Result<Holder> {
    user::Entity::find_by_id(user_id)
        .filter(user::Column::DeletedAt.is_null())
        .select_only()
        .column(user::Column::RealmId)
        .into_tuple::<i32>()
        .one(db)
        .await?
        .filter(|realm_id| actor.sees(&realms.name(*realm_id)))
        .map(|realm_id| Holder {
            id: user_id,
            realm_id,
        })
        .ok_or_else(|| Error::not_found(format!("no user with id {user_id}")))
}

/// An assigned token is in its user's realm: assigning a token without a
/// realm puts it there, a token of another realm is refused.
fn assign_to(state: &mut State, holder: Holder, realms: &Realms, field: &str) -> Result<()> {
    match state.realm_id {
        Some(realm_id) if realm_id != holder.realm_id => Err(Error::bad_input(
            field,
            format!(
                "user {} is in realm '{}', the token in realm '{}'",
                holder.id,
                realms.name(holder.realm_id),
                realms.name(realm_id)
            ),
        )),
        _ => {
            state.realm_id = Some(holder.realm_id);
            state.user_id = Some(holder.id);
            Ok(())
        }
    }
}

/// Locks the token with `serial`; one the caller may not see is as absent as
/// a missing one.
async fn lock_token(
    tx: &DatabaseTransaction,
    actor: &Principal,
    realms: &Realms,
    serial: &str,
) -> Result<token::Model> {
    token::Entity::find()
        .filter(token::Column::Serial.eq(serial))
        .lock_exclusive()
        .one(tx)
        .await?
        .filter(|row| sees_key(actor, &realm_key(realms, row.realm_id)))
        .ok_or_else(|| no_token(serial))
}

fn token_resource(row: &token::Model) -> Resource {
    Resource::new("token", &row.serial, row.id)
}

/// The realm an event is filed under in the activity log: the token's realm
/// after the event, else before it.
fn audit_realm(realms: &Realms, before: Option<State>, after: Option<State>) -> Option<String> {
    after
        .and_then(|s| s.realm_id)
        .or(before.and_then(|s| s.realm_id))
        .map(|id| realms.name(id))
}

/// What a token event writes beside the token itself: its realms' tallies
/// and counters (`events.0`, LinOTP's event name) and one audit event
/// (`events.1`), for the move from `states.0` to `states.1`.
async fn write_event(
    tx: &DatabaseTransaction,
    actor: &Principal,
    realms: &Realms,
    states: (Option<State>, Option<State>),
    events: (&str, &str),
    at: DateTime<Utc>,
    resources: Vec<Resource>,
) -> Result<()> {
    let (before, after) = states;
    let (from, to) = (
        before.map(|s| s.slot(realms)),
        after.map(|s| s.slot(realms)),
    );
    tally::record(
        tx,
        Move {
            event: events.0,
            at,
            before: from.as_ref(),
            after: to.as_ref(),
        },
    )
    .await?;
    let realm = audit_realm(realms, before, after);
    audit::record(
        tx,
        actor,
        at,
        NewEvent {
            event: events.1,
            realm: realm.as_deref(),
            resources,
        },
    )
    .await
}

impl Tokens {
    pub async fn enroll(&self, actor: &Principal, input: NewToken) -> Result<Token> {
        actor.require(Scope::TokensWrite)?;
        if let Some(realm) = &input.realm {
            actor.require_realm(realm)?;
        } else if input.user_id.is_none() {
            actor.require_all_realms("enrolling a token without a realm or user")?;
        }
        let serial = validate_serial(&input.serial)?;
        let kind = validate_kind(&input.kind)?;
        let now = self.clock.now();
        let (serial, kind, input) = (&serial, &kind, &input);
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let realms = Realms::load(tx).await?;
                let mut state = State {
                    realm_id: input
                        .realm
                        .as_deref()
                        .map(|name| target_realm(actor, &realms, name, "input.realm"))
                        .transpose()?,
                    user_id: None,
                    active: input.active,
                };
                if let Some(user_id) = input.user_id {
                    let holder = find_holder(tx, actor, &realms, user_id).await?;
                    assign_to(&mut state, holder, &realms, "input.userId")?;
                }
                let taken = token::Entity::find()
                    .filter(token::Column::Serial.eq(serial.as_str()))
                    .one(tx)
                    .await?
                    .is_some();
                if taken {
                    return Err(serial_taken(serial));
                }
                let row = token::ActiveModel {
                    serial: Set(serial.clone()),
                    kind: Set(kind.clone()),
                    realm_id: Set(state.realm_id),
                    user_id: Set(state.user_id),
                    active: Set(state.active),
                    created_at: Set(to_micros(now)),
                    ..Default::default()
                }
                .insert(tx)
                .await
                .map_err(|e| Error::unique_or(e, || serial_taken(serial)))?;
                let resources = vec![token_resource(&row)];
                let events = ("token_init", "token.enrolled");
                write_event(
                    tx,
                    actor,
                    &realms,
                    (None, Some(state)),
                    events,
                    now,
                    resources,
                )
                .await?;
                Ok(to_token(&realms, row))
            })
            .await
    }

    pub async fn assign(&self, actor: &Principal, serial: &str, user_id: i32) -> Result<Token> {
        actor.require(Scope::TokensWrite)?;
        let holder = {
            let db = self.db.conn();
            let realms = self.realms.get(db).await?;
            find_holder(db, actor, &realms, user_id).await?
        };
        self.change(
            actor,
            serial,
            ("token_assign", "token.assigned"),
            |realms, state| assign_to(state, holder, realms, "userId"),
        )
        .await
    }

    pub async fn unassign(&self, actor: &Principal, serial: &str) -> Result<Token> {
        self.change(
            actor,
            serial,
            ("token_unassign", "token.unassigned"),
            |_, state| {
                state.user_id = None;
                Ok(())
            },
        )
        .await
    }

    pub async fn set_active(&self, actor: &Principal, serial: &str, active: bool) -> Result<Token> {
        let events = if active {
            ("token_enable", "token.enabled")
        } else {
            ("token_disable", "token.disabled")
        };
        self.change(actor, serial, events, |_, state| {
            state.active = active;
            Ok(())
        })
        .await
    }

    /// Moves a token to `realm`, or out of every realm with None. An assigned
    /// token stays in its user's realm.
    pub async fn set_realm(
        &self,
        actor: &Principal,
        serial: &str,
        realm: Option<&str>,
    ) -> Result<Token> {
        actor.require(Scope::TokensWrite)?;
        match realm {
            Some(name) => {
                actor.require_realm(name)?;
            }
            None => {
                // Out of every realm, the token is hidden from realm-bound callers.
                actor.require_all_realms("moving a token out of every realm")?;
            }
        }
        let realm = realm.map(normalize_realm);
        let realm = &realm;
        self.change(
            actor,
            serial,
            ("token_tokenrealm", "token.realm_changed"),
            |realms, state| {
                let target = realm
                    .as_deref()
                    .map(|name| target_realm(actor, realms, name, "realm"))
                    .transpose()?;
                if state.user_id.is_some() && target != state.realm_id {
                    return Err(Error::bad_input(
                        "realm",
                        format!(
                            "token '{serial}' is assigned to a user of realm '{}': unassign it first",
                            realm_key(realms, state.realm_id)
                        ),
                    ));
                }
                state.realm_id = target;
                Ok(())
            },
        )
        .await
    }

    /// Removes a token; returns it as it was.
    pub async fn remove(&self, actor: &Principal, serial: &str) -> Result<Token> {
        actor.require(Scope::TokensWrite)?;
        let now = self.clock.now();
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let realms = Realms::load(tx).await?;
                let row = lock_token(tx, actor, &realms, serial).await?;
                let before = State::of(&row);
                token::Entity::delete_by_id(row.id).exec(tx).await?;
                let resources = vec![token_resource(&row)];
                let events = ("token_remove", "token.removed");
                write_event(
                    tx,
                    actor,
                    &realms,
                    (Some(before), None),
                    events,
                    now,
                    resources,
                )
                .await?;
                Ok(to_token(&realms, row))
            })
            .await
    }

    /// Locks the token, applies `edit` to its state and, if anything changed,
    /// writes the state, the counts and an audit event. `events` names the
    /// counter event (LinOTP's) and the audit event. `edit` runs again if the
    /// transaction has to (see [`crate::db::Db::write`]).
    async fn change<F>(
        &self,
        actor: &Principal,
        serial: &str,
        events: (&str, &str),
        edit: F,
    ) -> Result<Token>
    where
        F: Fn(&Realms, &mut State) -> Result<()> + Sync,
    {
        actor.require(Scope::TokensWrite)?;
        let edit = &edit;
        let now = self.clock.now();
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let realms = Realms::load(tx).await?;
                let row = lock_token(tx, actor, &realms, serial).await?;
                let before = State::of(&row);
                let mut after = before;
                edit(&realms, &mut after)?;
                if after == before {
                    return Ok(to_token(&realms, row));
                }
                let mut active: token::ActiveModel = row.into();
                active.realm_id = Set(after.realm_id);
                active.user_id = Set(after.user_id);
                active.active = Set(after.active);
                let row = active.update(tx).await?;
                let mut resources = vec![token_resource(&row)];
                if let Some(user_id) = after.user_id.or(before.user_id) {
                    resources.push(Resource::new("user", user_id.to_string(), user_id));
                }
                let states = (Some(before), Some(after));
                write_event(tx, actor, &realms, states, events, now, resources).await?;
                Ok(to_token(&realms, row))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_and_kinds_are_checked() {
        assert_eq!(validate_serial(" LSSM0001 ").unwrap(), "LSSM0001");
        assert!(validate_serial("").is_err());
        assert!(validate_serial("a b").is_err());
        assert!(validate_serial(&"x".repeat(101)).is_err());
        assert_eq!(validate_kind("TOTP").unwrap(), "totp");
        assert!(validate_kind("t o").is_err());
    }
}
