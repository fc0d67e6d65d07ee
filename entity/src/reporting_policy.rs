use sea_orm::entity::prelude::*;

/// The token statuses recorded for one realm, or for `*` (the default).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reporting_policies")]
pub struct Model {
    /// A realm name, `/:no realm:/`, or `*`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm: String,
    /// Comma-separated status names (TOTAL, ACTIVE_ASSIGNED, ...).
    pub statuses: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
