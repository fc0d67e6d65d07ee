use sea_orm::entity::prelude::*;

/// Live token counts of one realm (`/:no realm:/` for tokens without one).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_tallies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm: String,
    pub active_assigned: i64,
    pub active_unassigned: i64,
    pub inactive_assigned: i64,
    pub inactive_unassigned: i64,
    /// Distinct users holding an active, assigned token.
    pub users: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
