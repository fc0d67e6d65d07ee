use sea_orm::entity::prelude::*;

/// The highest count recorded for one realm and status during one UTC day.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_counter_days")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: String,
    /// Days since 1970-01-01 (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: i32,
    pub highest: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
