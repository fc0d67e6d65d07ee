//! The directory: realms, the role catalog, datasets and users, with every
//! user change written as history in the same transaction.

mod catalog;
mod datasets;
mod realms;
pub(crate) mod state;
mod user_writes;
mod users;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::realm;
use sea_orm::{ConnectionTrait, EntityTrait};

pub use catalog::{Role, RoleCatalog, RoleKind};
pub use state::{ChangeType, DatasetRole, UserState, UserStatus};
pub use user_writes::{NewUser, UserUpdate};
pub use users::{UserLookup, UserOrder, UserOrderField};

use super::{Error, RealmAccess, Result};
use crate::clock::SharedClock;
use crate::db::Db;
use crate::time::from_micros;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Realm {
    pub id: i32,
    pub name: String,
    pub seat_limit: Option<i32>,
    pub created_at: DateTime<Utc>,
}

impl From<realm::Model> for Realm {
    fn from(m: realm::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            seat_limit: m.seat_limit,
            created_at: from_micros(m.created_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub id: i32,
    pub realm: Realm,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A user as they stand now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i32,
    pub realm: Realm,
    pub email: String,
    pub name: String,
    pub status: UserStatus,
    pub roles: Vec<String>,
    pub datasets: Vec<DatasetRole>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Every realm by id and by name; realms are few, so one query loads them.
#[derive(Debug, Default)]
pub struct Realms {
    by_id: HashMap<i32, Realm>,
    by_name: HashMap<String, i32>,
}

impl Realms {
    pub async fn load<C: ConnectionTrait>(db: &C) -> Result<Self> {
        let mut realms = Realms::default();
        for m in realm::Entity::find().all(db).await? {
            realms.by_name.insert(m.name.clone(), m.id);
            realms.by_id.insert(m.id, m.into());
        }
        Ok(realms)
    }

    /// Every realm, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = &Realm> {
        self.by_id.values()
    }

    pub fn get(&self, id: i32) -> Option<&Realm> {
        self.by_id.get(&id)
    }

    /// The realm with `id`; rows always reference an existing realm (realms
    /// are never deleted), so a miss means a broken database.
    pub fn realm(&self, id: i32) -> Realm {
        self.by_id.get(&id).cloned().unwrap_or(Realm {
            id,
            name: String::new(),
            seat_limit: None,
            created_at: DateTime::<Utc>::MIN_UTC,
        })
    }

    pub fn name(&self, id: i32) -> String {
        self.name_of(id).to_owned()
    }

    /// [`Realms::name`], borrowed ("" for an unknown id).
    pub fn name_of(&self, id: i32) -> &str {
        self.by_id.get(&id).map_or("", |r| r.name.as_str())
    }

    pub fn by_name(&self, name: &str) -> Option<&Realm> {
        self.by_name
            .get(&normalize_realm(name))
            .and_then(|id| self.by_id.get(id))
    }

    /// Ids of the realms `access` may see; None for every realm.
    pub fn visible_ids(&self, access: &RealmAccess) -> Option<Vec<i32>> {
        access.names().map(|names| {
            names
                .iter()
                .filter_map(|n| self.by_name(n))
                .map(|r| r.id)
                .collect()
        })
    }

    /// The realm called `name`, or BAD_USER_INPUT naming `field`.
    pub fn resolve(&self, name: &str, field: &str) -> Result<&Realm> {
        self.by_name(name)
            .ok_or_else(|| Error::bad_input(field, format!("unknown realm '{name}'")))
    }
}

/// Realms change rarely (creation, seat limits), yet nearly every read needs
/// them: reads share one loaded copy for up to a second. This process's own
/// realm writes refresh it at once; another replica's within the second.
#[derive(Clone, Default)]
pub struct RealmCache(Arc<RwLock<Option<Loaded>>>);

/// Realms, and when they were read.
type Loaded = (Instant, Arc<Realms>);

const REALM_CACHE_TTL: Duration = Duration::from_secs(1);

impl RealmCache {
    pub async fn get<C: ConnectionTrait>(&self, db: &C) -> Result<Arc<Realms>> {
        if let Some((at, realms)) = &*self.0.read().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < REALM_CACHE_TTL
        {
            return Ok(realms.clone());
        }
        let fresh = Arc::new(Realms::load(db).await?);
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    pub fn invalidate(&self) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Realm names are case-insensitive and stored lowercase.
pub fn normalize_realm(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Directory operations. Each takes the caller and checks its scopes and realms.
#[derive(Clone)]
pub struct Directory {
    db: Db,
    clock: SharedClock,
    catalog: Arc<RoleCatalog>,
    realms: RealmCache,
}

impl Directory {
    pub fn new(db: Db, clock: SharedClock, catalog: Arc<RoleCatalog>, realms: RealmCache) -> Self {
        Self {
            db,
            clock,
            catalog,
            realms,
        }
    }

    pub fn catalog(&self) -> &RoleCatalog {
        &self.catalog
    }
}
