//! API tokens: issue, list, revoke, and authenticate bearer secrets.
//!
//! A secret reads `hc_<lookup>_<key>`. `lookup` finds the row; the SHA-256 of
//! the whole secret is compared with the stored hash in constant time, so
//! neither the database index nor the comparison leaks how much matched.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::api_token;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::audit::{self, NewEvent, Resource};
use super::directory::Realms;
use super::directory::normalize_realm;
use super::{Error, Principal, RealmAccess, Result, Scope, Scopes};
use crate::clock::SharedClock;
use crate::db::Db;
use crate::time::{from_micros, to_micros};

/// A token as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i32,
    pub name: String,
    pub scopes: Scopes,
    pub realms: RealmAccess,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_token::Model> for ApiToken {
    fn from(m: api_token::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            scopes: Scopes::decode(&m.scopes),
            realms: RealmAccess::decode(m.realms.as_deref()),
            created_at: from_micros(m.created_at),
            last_used_at: m.last_used_at.map(from_micros),
            expires_at: m.expires_at.map(from_micros),
            revoked_at: m.revoked_at.map(from_micros),
        }
    }
}

/// A token to issue.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// None: the caller's own realms (every realm for an unbound caller).
    pub realms: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// How long `last_used_at` may lag behind, to keep writes off the hot path.
const LAST_USED_GRANULARITY_MICROS: i64 = 60_000_000;

fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_part(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn split_secret(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix("hc_")?;
    let (lookup, key) = rest.split_once('_')?;
    (!lookup.is_empty() && !key.is_empty()).then_some(lookup)
}

/// How long an authenticated token row is reused without reading it again.
/// A revocation takes effect at once in this process and within this time in
/// other replicas.
const CACHE_TTL: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct ApiTokens {
    db: Db,
    clock: SharedClock,
    /// Token rows by lookup, with when they were read.
    cache: Arc<Mutex<HashMap<String, (Instant, api_token::Model)>>>,
    /// Bumped by every revocation.
    revocations: Arc<AtomicU64>,
}

impl ApiTokens {
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            cache: Arc::default(),
            revocations: Arc::default(),
        }
    }

    /// The caller behind a bearer secret, or UNAUTHENTICATED.
    pub async fn authenticate(
        &self,
        secret: &str,
        ip_address: Option<String>,
    ) -> Result<Principal> {
        let invalid = || Error::Unauthenticated("invalid API token".to_owned());
        let lookup = split_secret(secret).ok_or_else(invalid)?;
        let row = match self.cached(lookup) {
            Some(row) => row,
            None => {
                let generation = self.revocations.load(Ordering::Acquire);
                let row = api_token::Entity::find()
                    .filter(api_token::Column::Lookup.eq(lookup))
                    .one(self.db.conn())
                    .await?
                    .ok_or_else(invalid)?;
                // Not when a revocation committed meanwhile: this row may
                // predate it.
                let mut cache = self.cache_lock();
                if self.revocations.load(Ordering::Acquire) == generation {
                    cache.insert(lookup.to_owned(), (Instant::now(), row.clone()));
                }
                row
            }
        };
        let matches: bool = hash(secret)
            .as_bytes()
            .ct_eq(row.secret_hash.as_bytes())
            .into();
        if !matches {
            return Err(invalid());
        }
        let now = to_micros(self.clock.now());
        if row.revoked_at.is_some() {
            return Err(Error::Unauthenticated(
                "this API token was revoked".to_owned(),
            ));
        }
        if row.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::Unauthenticated(
                "this API token has expired".to_owned(),
            ));
        }
        if row
            .last_used_at
            .is_none_or(|at| now - at >= LAST_USED_GRANULARITY_MICROS)
        {
            self.touch(row.id, now);
        }
        Ok(Principal {
            token_id: Some(row.id),
            name: row.name,
            scopes: Scopes::decode(&row.scopes),
            realms: RealmAccess::decode(row.realms.as_deref()),
            ip_address,
        })
    }

    fn cache_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, api_token::Model)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A token row read less than [`CACHE_TTL`] ago.
    fn cached(&self, lookup: &str) -> Option<api_token::Model> {
        let cache = self.cache_lock();
        let (at, row) = cache.get(lookup)?;
        (at.elapsed() < CACHE_TTL).then(|| row.clone())
    }

    /// Records use in the background: a lost update only makes
    /// `lastUsedAt` a minute staler.
    fn touch(&self, id: i32, now: i64) {
        for (_, row) in self.cache_lock().values_mut() {
            if row.id == id {
                row.last_used_at = Some(now);
            }
        }
        let db = self.db.clone();
        tokio::spawn(async move {
            let result = api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
                .filter(api_token::Column::Id.eq(id))
                .exec(db.conn())
                .await;
            if let Err(err) = result {
                tracing::warn!(%err, token_id = id, "could not record API token use");
            }
        });
    }

    /// Issues the first ADMIN token of a database that has none, and returns
    /// it with its secret; None when some token exists. Replicas starting
    /// together on an empty database issue one between them: the check and
    /// the insert run in one SERIALIZABLE transaction, and the one that lost
    /// the race runs again and finds the winner's token.
    pub async fn bootstrap(&self) -> Result<Option<(ApiToken, String)>> {
        let now = self.clock.now();
        self.db
            .write_serializable(|tx| async move {
                let tx = &*tx;
                if api_token::Entity::find().one(tx).await?.is_some() {
                    return Ok(None);
                }
                let actor = Principal::system();
                let realms = RealmAccess::All;
                let (row, secret) = insert_token(
                    tx,
                    "bootstrap",
                    &Scopes::new(vec![Scope::Admin]),
                    &realms,
                    now,
                    None,
                )
                .await?;
                let known = Realms::load(tx).await?;
                audit::record(
                    tx,
                    &actor,
                    now,
                    token_event("api_token.created", "bootstrap", row.id, &realms, &known),
                )
                .await?;
                Ok(Some((row.into(), secret)))
            })
            .await
    }

    /// Issues a token no more powerful than the caller. Returns it with its secret.
    pub async fn create(
        &self,
        actor: &Principal,
        input: NewApiToken,
    ) -> Result<(ApiToken, String)> {
        actor.require(Scope::ApiTokensManage)?;
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::bad_input(
                "input.name",
                "a token name has 1 to 200 characters",
            ));
        }
        if input.scopes.is_empty() {
            return Err(Error::bad_input(
                "input.scopes",
                "give the token at least one scope",
            ));
        }
        let scopes = Scopes::new(input.scopes.clone());
        if !actor.scopes.covers(&scopes) {
            return Err(Error::forbidden(
                "a token cannot be given scopes its creator does not hold",
            ));
        }
        let now = self.clock.now();
        if input.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::bad_input(
                "input.expiresAt",
                "expiresAt must be in the future",
            ));
        }
        let beyond_creator =
            || Error::forbidden("a token cannot be bound to realms its creator may not access");
        if let Some(names) = &input.realms {
            // An empty binding would read as "no realm" yet fall within every
            // bound manager's reach.
            if names.is_empty() {
                return Err(Error::bad_input(
                    "input.realms",
                    "give at least one realm, or omit realms",
                ));
            }
            // Before resolving: a bound creator learns nothing of which
            // realms outside its own exist.
            if !names
                .iter()
                .all(|name| actor.realms.allows(&normalize_realm(name)))
            {
                return Err(beyond_creator());
            }
        }
        let (name, scopes, input) = (&name, &scopes, &input);
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let known = Realms::load(tx).await?;
                let realms = match &input.realms {
                    None => actor.realms.clone(),
                    Some(names) => {
                        let mut set = std::collections::BTreeSet::new();
                        for name in names {
                            let realm = known.resolve(&normalize_realm(name), "input.realms")?;
                            set.insert(realm.name.clone());
                        }
                        RealmAccess::Only(set)
                    }
                };
                if !actor.realms.covers(&realms) {
                    return Err(beyond_creator());
                }
                let (row, secret) =
                    insert_token(tx, name, scopes, &realms, now, input.expires_at).await?;
                audit::record(
                    tx,
                    actor,
                    now,
                    token_event("api_token.created", name, row.id, &realms, &known),
                )
                .await?;
                Ok((row.into(), secret))
            })
            .await
    }

    /// Tokens the caller may manage: those bound within the caller's realms.
    pub async fn list(&self, actor: &Principal) -> Result<Vec<ApiToken>> {
        actor.require(Scope::ApiTokensManage)?;
        let rows = api_token::Entity::find()
            .order_by_asc(api_token::Column::Id)
            .all(self.db.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(ApiToken::from)
            .filter(|t| actor.realms.covers(&t.realms))
            .collect())
    }

    pub async fn get(&self, actor: &Principal, id: i32) -> Result<Option<ApiToken>> {
        actor.require(Scope::ApiTokensManage)?;
        let row = api_token::Entity::find_by_id(id)
            .one(self.db.conn())
            .await?;
        // A token beyond the caller's reach is as absent as a missing one.
        Ok(row
            .map(ApiToken::from)
            .filter(|token| actor.realms.covers(&token.realms)))
    }

    /// Revokes a token at once. Revoking a revoked token changes nothing.
    pub async fn revoke(&self, actor: &Principal, id: i32) -> Result<ApiToken> {
        actor.require(Scope::ApiTokensManage)?;
        let row = self
            .db
            .write(|tx| async move {
                let tx = &*tx;
                // A token beyond the caller's reach is as absent as a missing one.
                let row = api_token::Entity::find_by_id(id)
                    .one(tx)
                    .await?
                    .filter(|row| {
                        actor
                            .realms
                            .covers(&RealmAccess::decode(row.realms.as_deref()))
                    })
                    .ok_or_else(|| Error::not_found("no API token with that id"))?;
                if row.revoked_at.is_some() {
                    return Ok(row);
                }
                let now = self.clock.now();
                let name = row.name.clone();
                let mut active: api_token::ActiveModel = row.into();
                active.revoked_at = Set(Some(to_micros(now)));
                let row = active.update(tx).await?;
                let known = Realms::load(tx).await?;
                let realms = RealmAccess::decode(row.realms.as_deref());
                audit::record(
                    tx,
                    actor,
                    now,
                    token_event("api_token.revoked", &name, id, &realms, &known),
                )
                .await?;
                Ok(row)
            })
            .await?;
        // After the commit, so no reader can cache the row as it was before.
        let mut cache = self.cache_lock();
        self.revocations.fetch_add(1, Ordering::AcqRel);
        cache.retain(|_, (_, cached)| cached.id != id);
        Ok(row.into())
    }
}

/// Stores a new token and returns its row and secret (shown once, stored
/// only as a hash).
async fn insert_token(
    tx: &DatabaseTransaction,
    name: &str,
    scopes: &Scopes,
    realms: &RealmAccess,
    now: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(api_token::Model, String)> {
    let lookup = random_hex(8);
    let secret = format!("hc_{lookup}_{}", random_part(32));
    let row = api_token::ActiveModel {
        name: Set(name.to_owned()),
        lookup: Set(lookup),
        secret_hash: Set(hash(&secret)),
        scopes: Set(scopes.encode()),
        realms: Set(realms.encode()),
        created_at: Set(to_micros(now)),
        last_used_at: Set(None),
        expires_at: Set(expires_at.map(to_micros)),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok((row, secret))
}

/// The audit event of issuing or revoking a token: the token, then one
/// `realm` resource per realm it is bound to (none when unbound: every
/// realm). The event's realm column holds one name, so it is set only when
/// the token is bound to exactly one realm.
fn token_event<'a>(
    event: &'a str,
    name: &str,
    id: i32,
    realms: &'a RealmAccess,
    known: &Realms,
) -> NewEvent<'a> {
    let bound = realms.names().into_iter().flatten();
    let mut resources = vec![Resource::new("api_token", name, id)];
    resources.extend(bound.clone().map(|realm| Resource {
        kind: "realm".to_owned(),
        name: realm.clone(),
        id: known.by_name(realm).map(|r| r.id.to_string()),
    }));
    let mut bound = bound.map(String::as_str);
    let realm = match (bound.next(), bound.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    };
    NewEvent {
        event,
        realm,
        resources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_split_into_lookup_and_key() {
        assert_eq!(split_secret("hc_abc_def"), Some("abc"));
        assert_eq!(split_secret("hc_abc_d_e_f"), Some("abc"));
        for _ in 0..100 {
            let secret = format!("hc_{}_{}", random_hex(8), random_part(32));
            assert_eq!(split_secret(&secret).map(str::len), Some(16));
        }
        assert_eq!(split_secret("hc_abc_"), None);
        assert_eq!(split_secret("Bearer"), None);
        assert_eq!(hash("x").len(), 64);
    }
}
