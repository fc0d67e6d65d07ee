use sea_orm::entity::prelude::*;

/// Current state of a user, whole in one row (a page of users is one
/// query). History lives in `user_changes`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub realm_id: i32,
    /// Lowercase.
    pub email: String,
    pub name: String,
    /// `ACTIVE`, `DORMANT` or `SUSPENDED`.
    pub status: String,
    /// App roles held now: a JSON array of names, sorted (as in history).
    pub roles: String,
    /// Dataset roles held now: a JSON array of `[id, name, role]`, by id.
    pub datasets: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    /// 0 while the user is live, the user's id once deleted: the unique key
    /// (realm_id, email, live_key) then allows one live user per email and
    /// any number of deleted ones, without partial indexes (MySQL has none).
    pub live_key: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
