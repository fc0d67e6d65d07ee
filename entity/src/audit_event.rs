use sea_orm::entity::prelude::*;

/// The activity log: something a token did, or a failed sign-in.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub occurred_at: i64,
    /// Realm name (lowercase); null for events outside any realm.
    pub realm: Option<String>,
    pub event: String,
    /// The acting API token's id; null for the system and failed sign-ins.
    pub actor_id: Option<i32>,
    /// The acting token's name (or `system`).
    pub actor: Option<String>,
    pub ip_address: Option<String>,
    /// JSON array of `{"type","name","id"}`.
    pub resources: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
