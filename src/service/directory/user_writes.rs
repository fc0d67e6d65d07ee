//! Changing users. Every change runs in one transaction that locks the user,
//! writes the new state, one history entry and one audit event; a change that
//! changes nothing writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use entity::{dataset, realm, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, Set,
};

use super::state::{encode_datasets, encode_roles};
use super::users::{UsersTable, to_user};
use super::{ChangeType, Directory, Realms, RoleKind, User, UserState, UserStatus};
use crate::service::audit::{self, NewEvent, Resource};
use crate::service::filter::realm_scope;
use crate::service::history::{self, ChangeRecord};
use crate::service::{Error, Principal, Result, Scope};
use crate::time::{from_micros, to_micros};

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub realm: String,
    pub email: String,
    pub name: String,
    pub status: UserStatus,
    pub roles: Vec<String>,
    /// (dataset id, role)
    pub datasets: Vec<(i32, String)>,
}

/// Profile fields to change; None leaves a field as it is.
#[derive(Debug, Clone)]
pub struct UserUpdate {
    pub user_id: i32,
    pub email: Option<String>,
    pub name: Option<String>,
}

fn validate_email(email: &str, field: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(Error::bad_input(
            field,
            format!("'{email}' is not an email address"),
        ))
    }
}

fn validate_name(name: &str, field: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::bad_input(field, "a name has 1 to 200 characters"));
    }
    Ok(name.to_owned())
}

/// A dataset grant resolved against the user's realm.
struct Grant {
    dataset_id: i32,
    realm_id: i32,
    name: String,
    role: String,
}

impl Directory {
    fn app_roles(&self, roles: &[String], field: &str) -> Result<BTreeSet<String>> {
        roles
            .iter()
            .map(|r| self.catalog.of_kind(r, RoleKind::App, field))
            .collect()
    }

    /// The dataset to grant on; one outside the caller's realms is as
    /// unknown as a missing one.
    async fn resolve_grant<C: ConnectionTrait>(
        &self,
        db: &C,
        (actor, realms): (&Principal, &Realms),
        dataset_id: i32,
        role: Option<&str>,
        fields: (&str, &str),
    ) -> Result<(Grant, bool)> {
        let (id_field, role_field) = fields;
        let role = match role {
            Some(r) => Some(self.catalog.of_kind(r, RoleKind::Dataset, role_field)?),
            None => None,
        };
        let row = dataset::Entity::find_by_id(dataset_id)
            .one(db)
            .await?
            .filter(|d| actor.sees(&realms.name(d.realm_id)))
            .ok_or_else(|| Error::bad_input(id_field, format!("unknown dataset {dataset_id}")))?;
        let revoke = role.is_none();
        Ok((
            Grant {
                dataset_id,
                realm_id: row.realm_id,
                name: row.name,
                role: role.unwrap_or_default(),
            },
            revoke,
        ))
    }

    pub async fn create_user(&self, actor: &Principal, input: NewUser) -> Result<User> {
        actor
            .require(Scope::UsersWrite)?
            .require_realm(&input.realm)?;
        let email = validate_email(&input.email, "input.email")?;
        let name = validate_name(&input.name, "input.name")?;
        let roles = self.app_roles(&input.roles, "input.roles")?;
        let now = self.clock.now();

        let (email, name, roles) = (&email, &name, &roles);
        let (input_realm, input_datasets, status) = (&input.realm, &input.datasets, input.status);
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let realms = Realms::load(tx).await?;
                let realm = realms.resolve(input_realm, "input.realm")?.clone();
                lock_realm(tx, realm.id).await?;
                let mut datasets = BTreeMap::new();
                for (dataset_id, role) in input_datasets {
                    let (grant, _) = self
                        .resolve_grant(
                            tx,
                            (actor, &realms),
                            *dataset_id,
                            Some(role),
                            ("input.datasets", "input.datasets"),
                        )
                        .await?;
                    if grant.realm_id != realm.id {
                        return Err(Error::bad_input(
                            "input.datasets",
                            format!("dataset {dataset_id} is not in realm '{}'", realm.name),
                        ));
                    }
                    if datasets
                        .insert(grant.dataset_id, (grant.name, grant.role))
                        .is_some()
                    {
                        return Err(Error::bad_input(
                            "input.datasets",
                            format!("dataset {dataset_id} is listed twice"),
                        ));
                    }
                }
                ensure_email_free(tx, realm.id, email, None).await?;

                let row = user::ActiveModel {
                    realm_id: Set(realm.id),
                    email: Set(email.to_owned()),
                    name: Set(name.to_owned()),
                    status: Set(status.as_str().to_owned()),
                    roles: Set(encode_roles(roles)),
                    datasets: Set(encode_datasets(&datasets)),
                    created_at: Set(to_micros(now)),
                    updated_at: Set(to_micros(now)),
                    deleted_at: Set(None),
                    live_key: Set(0),
                    ..Default::default()
                }
                .insert(tx)
                .await
                .map_err(|e| email_taken_or(e, email))?;
                let state = UserState {
                    email: email.to_owned(),
                    name: name.to_owned(),
                    status,
                    roles: roles.clone(),
                    datasets,
                };
                history::record_change(
                    tx,
                    ChangeRecord {
                        user: &row,
                        before: None,
                        after: &state,
                        changes: &[ChangeType::Created],
                        at: now,
                        actor,
                        deleted: false,
                    },
                )
                .await?;
                audit::record(
                    tx,
                    actor,
                    now,
                    NewEvent {
                        event: "user.created",
                        realm: Some(&realm.name),
                        resources: vec![Resource::new("user", &row.email, row.id)],
                    },
                )
                .await?;
                Ok(to_user(&realms, row))
            })
            .await
    }

    pub async fn update_user(&self, actor: &Principal, update: UserUpdate) -> Result<User> {
        actor.require(Scope::UsersWrite)?;
        let email = update
            .email
            .as_deref()
            .map(|e| validate_email(e, "input.email"))
            .transpose()?;
        let name = update
            .name
            .as_deref()
            .map(|n| validate_name(n, "input.name"))
            .transpose()?;
        self.change_user(actor, update.user_id, "user.updated", |_, state| {
            if let Some(email) = &email {
                state.email.clone_from(email);
            }
            if let Some(name) = &name {
                state.name.clone_from(name);
            }
            Ok(())
        })
        .await
    }

    pub async fn set_user_status(
        &self,
        actor: &Principal,
        user_id: i32,
        status: UserStatus,
    ) -> Result<User> {
        self.change_user(actor, user_id, "user.status_changed", |_, state| {
            state.status = status;
            Ok(())
        })
        .await
    }

    pub async fn set_user_roles(
        &self,
        actor: &Principal,
        user_id: i32,
        roles: &[String],
    ) -> Result<User> {
        actor.require(Scope::UsersWrite)?;
        let roles = self.app_roles(roles, "roles")?;
        self.change_user(actor, user_id, "user.roles_changed", |_, state| {
            state.roles.clone_from(&roles);
            Ok(())
        })
        .await
    }

    pub async fn add_user_roles(
        &self,
        actor: &Principal,
        user_id: i32,
        roles: &[String],
    ) -> Result<User> {
        actor.require(Scope::UsersWrite)?;
        let roles = self.app_roles(roles, "roles")?;
        self.change_user(actor, user_id, "user.roles_changed", |_, state| {
            state.roles.extend(roles.iter().cloned());
            Ok(())
        })
        .await
    }

    pub async fn remove_user_roles(
        &self,
        actor: &Principal,
        user_id: i32,
        roles: &[String],
    ) -> Result<User> {
        actor.require(Scope::UsersWrite)?;
        let roles = self.app_roles(roles, "roles")?;
        self.change_user(actor, user_id, "user.roles_changed", |_, state| {
            state.roles.retain(|r| !roles.contains(r));
            Ok(())
        })
        .await
    }

    /// Grants `role` on a dataset of the user's realm, or revokes access with None.
    pub async fn set_dataset_role(
        &self,
        actor: &Principal,
        user_id: i32,
        dataset_id: i32,
        role: Option<&str>,
    ) -> Result<User> {
        // The scope first: a token that may not write learns nothing of
        // which datasets exist.
        actor.require(Scope::UsersWrite)?;
        let realms = self.realms.get(self.db.conn()).await?;
        let (grant, revoke) = self
            .resolve_grant(
                self.db.conn(),
                (actor, &realms),
                dataset_id,
                role,
                ("datasetId", "role"),
            )
            .await?;
        self.change_user(actor, user_id, "user.dataset_role_changed", |row, state| {
            if grant.realm_id != row.realm_id {
                return Err(Error::bad_input(
                    "datasetId",
                    format!("dataset {dataset_id} is not in the user's realm"),
                ));
            }
            if revoke {
                state.datasets.remove(&grant.dataset_id);
            } else {
                state
                    .datasets
                    .insert(grant.dataset_id, (grant.name.clone(), grant.role.clone()));
            }
            Ok(())
        })
        .await
    }

    /// Soft delete: the user leaves every current view; history stays.
    pub async fn delete_user(&self, actor: &Principal, user_id: i32) -> Result<User> {
        actor.require(Scope::UsersWrite)?;
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let (row, realms, state) = lock_user(tx, actor, user_id).await?;
                let at = change_time(self.clock.now(), &row);
                let realm = realms.name(row.realm_id);
                let mut active: user::ActiveModel = row.into();
                active.deleted_at = Set(Some(to_micros(at)));
                active.updated_at = Set(to_micros(at));
                active.live_key = Set(user_id);
                let row = active.update(tx).await?;
                history::record_change(
                    tx,
                    ChangeRecord {
                        user: &row,
                        before: Some(&state),
                        after: &state,
                        changes: &[ChangeType::Deleted],
                        at,
                        actor,
                        deleted: true,
                    },
                )
                .await?;
                audit::record(
                    tx,
                    actor,
                    at,
                    NewEvent {
                        event: "user.deleted",
                        realm: Some(&realm),
                        resources: vec![Resource::new("user", &row.email, row.id)],
                    },
                )
                .await?;
                Ok(to_user(&realms, row))
            })
            .await
    }

    /// Locks the user, applies `edit` to their state and, if anything changed,
    /// writes the state, a history entry and an audit event named `event`.
    /// `edit` runs again if the transaction has to (see [`crate::db::Db::write`]).
    async fn change_user<F>(
        &self,
        actor: &Principal,
        user_id: i32,
        event: &str,
        edit: F,
    ) -> Result<User>
    where
        F: Fn(&user::Model, &mut UserState) -> Result<()> + Sync,
    {
        actor.require(Scope::UsersWrite)?;
        let edit = &edit;
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let (row, realms, before) = lock_user(tx, actor, user_id).await?;
                let mut after = before.clone();
                edit(&row, &mut after)?;
                let changes = before.diff(&after);
                if changes.is_empty() {
                    return Ok(to_user(&realms, row));
                }
                if after.email != before.email {
                    ensure_email_free(tx, row.realm_id, &after.email, Some(row.id)).await?;
                }
                let at = change_time(self.clock.now(), &row);
                let mut active: user::ActiveModel = row.into();
                active.email = Set(after.email.clone());
                active.name = Set(after.name.clone());
                active.status = Set(after.status.as_str().to_owned());
                active.roles = Set(encode_roles(&after.roles));
                active.datasets = Set(encode_datasets(&after.datasets));
                active.updated_at = Set(to_micros(at));
                let row = active
                    .update(tx)
                    .await
                    .map_err(|e| email_taken_or(e, &after.email))?;
                history::record_change(
                    tx,
                    ChangeRecord {
                        user: &row,
                        before: Some(&before),
                        after: &after,
                        changes: &changes,
                        at,
                        actor,
                        deleted: false,
                    },
                )
                .await?;
                let realm = realms.name(row.realm_id);
                audit::record(
                    tx,
                    actor,
                    at,
                    NewEvent {
                        event,
                        realm: Some(&realm),
                        resources: vec![Resource::new("user", &row.email, row.id)],
                    },
                )
                .await?;
                Ok(to_user(&realms, row))
            })
            .await
    }
}

/// A change is dated now, but never before the user's previous change, so each
/// user's history stays one ordered chain even if clocks step back.
fn change_time(now: DateTime<Utc>, row: &user::Model) -> DateTime<Utc> {
    now.max(from_micros(row.updated_at))
}

/// Locks a live user row and then their realm's for the rest of the
/// transaction (row locks on PostgreSQL and MySQL; SQLite's write transaction
/// already excludes other writers) and reads their state.
async fn lock_user(
    tx: &DatabaseTransaction,
    actor: &Principal,
    user_id: i32,
) -> Result<(user::Model, Realms, UserState)> {
    let realms = Realms::load(tx).await?;
    // A user outside the caller's realms is as absent as a missing one (and
    // is not locked either).
    let row = user::Entity::find_by_id(user_id)
        .filter(user::Column::DeletedAt.is_null())
        .filter(realm_scope(&UsersTable, &realms, actor))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| Error::not_found(format!("no user with id {user_id}")))?;
    lock_realm(tx, row.realm_id).await?;
    let state = UserState::of(&row);
    Ok((row, realms, state))
}

/// Locks a realm's row for the rest of the transaction, after the user (if
/// any): every change adds to its realm's daily count rows, and two writers
/// of one realm upserting those rows at once deadlocked on MariaDB's gap
/// locks. Writers of one realm take turns from here on; writers of other
/// realms do not wait. SQLite has one writer at a time anyway.
async fn lock_realm(tx: &DatabaseTransaction, realm_id: i32) -> Result<()> {
    if tx.get_database_backend() == DbBackend::Sqlite {
        return Ok(());
    }
    realm::Entity::find_by_id(realm_id)
        .select_only()
        .column(realm::Column::Id)
        .lock_exclusive()
        .into_tuple::<i32>()
        .one(tx)
        .await?;
    Ok(())
}

async fn ensure_email_free<C: ConnectionTrait>(
    db: &C,
    realm_id: i32,
    email: &str,
    except: Option<i32>,
) -> Result<()> {
    let mut query = user::Entity::find()
        .filter(user::Column::RealmId.eq(realm_id))
        .filter(user::Column::Email.eq(email))
        .filter(user::Column::DeletedAt.is_null());
    if let Some(id) = except {
        query = query.filter(user::Column::Id.ne(id));
    }
    if query.one(db).await?.is_some() {
        return Err(Error::conflict(
            "input.email",
            format!("a user with email '{email}' already exists in this realm"),
        ));
    }
    Ok(())
}

fn email_taken_or(err: sea_orm::DbErr, email: &str) -> Error {
    if Error::is_unique_violation(&err) {
        Error::conflict(
            "input.email",
            format!("a user with email '{email}' already exists in this realm"),
        )
    } else {
        err.into()
    }
}
