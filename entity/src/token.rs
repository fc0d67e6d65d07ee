use sea_orm::entity::prelude::*;

/// An authentication token a person carries (not an API token). Assigned
/// when `user_id` is set; an assigned token is in its user's realm.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub serial: String,
    /// totp, hotp, push, hardware...
    pub kind: String,
    /// None: in no realm (counted as `/:no realm:/`).
    pub realm_id: Option<i32>,
    pub user_id: Option<i32>,
    pub active: bool,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
