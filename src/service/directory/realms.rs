//! Realms: list, create, update the seat limit.

use entity::realm;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{Directory, Realm, normalize_realm};
use crate::service::audit::{self, NewEvent, Resource};
use crate::service::{Error, Principal, Result, Scope};
use crate::time::to_micros;

/// Realm names: 1 to 100 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn validate_realm_name(name: &str, field: &str) -> Result<String> {
    let name = normalize_realm(name);
    let valid = !name.is_empty()
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(name)
    } else {
        Err(Error::bad_input(
            field,
            format!(
                "invalid realm name '{name}': use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
            ),
        ))
    }
}

fn validate_seat_limit(seat_limit: Option<i32>) -> Result<Option<i32>> {
    match seat_limit {
        Some(n) if n < 0 => Err(Error::bad_input(
            "seatLimit",
            format!("seatLimit must not be negative, got {n}"),
        )),
        other => Ok(other),
    }
}

impl Directory {
    /// The realms the caller may see, by name.
    pub async fn realms(&self, actor: &Principal) -> Result<Vec<Realm>> {
        actor.require(Scope::UsersRead)?;
        let rows = realm::Entity::find()
            .order_by_asc(realm::Column::Name)
            .all(self.db.conn())
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| actor.realms.allows(&r.name))
            .map(Realm::from)
            .collect())
    }

    pub async fn realm_by_id(&self, actor: &Principal, id: i32) -> Result<Option<Realm>> {
        actor.require(Scope::UsersRead)?;
        let row = realm::Entity::find_by_id(id).one(self.db.conn()).await?;
        // A realm outside the caller's reach is as absent as a missing one.
        Ok(row.filter(|r| actor.sees(&r.name)).map(Realm::from))
    }

    pub async fn create_realm(
        &self,
        actor: &Principal,
        name: &str,
        seat_limit: Option<i32>,
    ) -> Result<Realm> {
        actor
            .require(Scope::UsersWrite)?
            .require_all_realms("creating a realm")?;
        let name = validate_realm_name(name, "name")?;
        let seat_limit = validate_seat_limit(seat_limit)?;
        let now = self.clock.now();
        let name = &name;
        let row = self
            .db
            .write(|tx| async move {
                let tx = &*tx;
                let exists = realm::Entity::find()
                    .filter(realm::Column::Name.eq(name))
                    .one(tx)
                    .await?
                    .is_some();
                if exists {
                    return Err(Error::conflict(
                        "name",
                        format!("realm '{name}' already exists"),
                    ));
                }
                let row = realm::ActiveModel {
                    name: Set(name.clone()),
                    seat_limit: Set(seat_limit),
                    created_at: Set(to_micros(now)),
                    ..Default::default()
                }
                .insert(tx)
                .await
                .map_err(|e| {
                    Error::unique_or(e, || {
                        Error::conflict("name", format!("realm '{name}' already exists"))
                    })
                })?;
                audit::record(
                    tx,
                    actor,
                    now,
                    NewEvent {
                        event: "realm.created",
                        realm: Some(name),
                        resources: vec![Resource::new("realm", name, row.id)],
                    },
                )
                .await?;
                Ok(row)
            })
            .await?;
        self.realms.invalidate();
        Ok(row.into())
    }

    /// Sets (`Some(Some(n))`) or clears (`Some(None)`) a realm's seat limit;
    /// `None` leaves it as it is.
    pub async fn update_realm(
        &self,
        actor: &Principal,
        name: &str,
        seat_limit: Option<Option<i32>>,
    ) -> Result<Realm> {
        actor
            .require(Scope::UsersWrite)?
            .require_all_realms("changing a realm's seat limit")?;
        let seat_limit = seat_limit.map(validate_seat_limit).transpose()?;
        let name = normalize_realm(name);
        let name = &name;
        let (row, changed) = self
            .db
            .write(|tx| async move {
                let tx = &*tx;
                let row = realm::Entity::find()
                    .filter(realm::Column::Name.eq(name))
                    .one(tx)
                    .await?
                    .ok_or_else(|| Error::bad_input("name", format!("unknown realm '{name}'")))?;
                let Some(seat_limit) = seat_limit.filter(|limit| *limit != row.seat_limit) else {
                    return Ok((row, false));
                };
                let id = row.id;
                let mut active: realm::ActiveModel = row.into();
                active.seat_limit = Set(seat_limit);
                let row = active.update(tx).await?;
                audit::record(
                    tx,
                    actor,
                    self.clock.now(),
                    NewEvent {
                        event: "realm.updated",
                        realm: Some(name),
                        resources: vec![Resource::new("realm", name, id)],
                    },
                )
                .await?;
                Ok((row, true))
            })
            .await?;
        if changed {
            self.realms.invalidate();
        }
        Ok(row.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_names_are_normalized_and_checked() {
        assert_eq!(validate_realm_name(" Sales ", "name").unwrap(), "sales");
        assert!(validate_realm_name("", "name").is_err());
        assert!(validate_realm_name("*", "name").is_err());
        assert!(validate_realm_name("a b", "name").is_err());
        assert!(validate_realm_name(&"x".repeat(101), "name").is_err());
    }
}
