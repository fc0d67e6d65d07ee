use sea_orm::entity::prelude::*;

/// An API token. Only a SHA-256 hash of its secret is stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
    /// The public part of the secret, used to find the row; the rest of the
    /// secret is checked against `secret_hash` in constant time.
    #[sea_orm(unique)]
    pub lookup: String,
    pub secret_hash: String,
    /// Comma-separated scope names.
    pub scopes: String,
    /// Comma-separated realm names; null means every realm.
    pub realms: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
