//! The role catalog, seeded by migration and loaded once at start.

use entity::role;
use sea_orm::{EntityTrait, QueryOrder};

use crate::db::Db;
use crate::service::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    App,
    Dataset,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub kind: RoleKind,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RoleCatalog {
    roles: Vec<Role>,
}

impl RoleCatalog {
    pub async fn load(db: &Db) -> Result<Self> {
        let rows = role::Entity::find()
            .order_by_asc(role::Column::Position)
            .all(db.conn())
            .await?;
        let roles = rows
            .into_iter()
            .map(|m| Role {
                kind: if m.kind == "DATASET" {
                    RoleKind::Dataset
                } else {
                    RoleKind::App
                },
                name: m.name,
                description: m.description,
            })
            .collect();
        Ok(Self { roles })
    }

    pub fn roles(&self, kind: Option<RoleKind>) -> Vec<Role> {
        self.roles
            .iter()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .cloned()
            .collect()
    }

    pub fn app_roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.iter().filter(|r| r.kind == RoleKind::App)
    }

    fn find(&self, name: &str) -> Option<&Role> {
        let wanted = name.trim().to_ascii_uppercase();
        self.roles.iter().find(|r| r.name == wanted)
    }

    /// The catalog's spelling of a role of any kind, or BAD_USER_INPUT.
    pub fn any(&self, name: &str, field: &str) -> Result<String> {
        self.find(name)
            .map(|r| r.name.clone())
            .ok_or_else(|| Error::bad_input(field, format!("unknown role '{name}'")))
    }

    /// The catalog's spelling of a role of `kind`, or BAD_USER_INPUT.
    pub fn of_kind(&self, name: &str, kind: RoleKind, field: &str) -> Result<String> {
        match self.find(name) {
            Some(role) if role.kind == kind => Ok(role.name.clone()),
            Some(_) => Err(Error::bad_input(
                field,
                format!(
                    "'{name}' is {} role; {} role is expected here",
                    kind_name(!kind),
                    kind_name(kind)
                ),
            )),
            None => Err(Error::bad_input(field, format!("unknown role '{name}'"))),
        }
    }
}

impl std::ops::Not for RoleKind {
    type Output = RoleKind;
    fn not(self) -> RoleKind {
        match self {
            RoleKind::App => RoleKind::Dataset,
            RoleKind::Dataset => RoleKind::App,
        }
    }
}

fn kind_name(kind: RoleKind) -> &'static str {
    match kind {
        RoleKind::App => "an app",
        RoleKind::Dataset => "a dataset",
    }
}
