use sea_orm::entity::prelude::*;

/// A recorded count: how many tokens of `status` the realm held right after
/// `event` (LinOTP's reporting row).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_counters")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub recorded_at: i64,
    /// token_init, token_assign, ... (LinOTP's event names).
    pub event: String,
    pub realm: String,
    /// A TokenStatus name (TOTAL, ACTIVE_ASSIGNED, TOTAL_USERS, ...).
    pub status: String,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
