use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "realms")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Lowercase; realms are named case-insensitively.
    #[sea_orm(unique)]
    pub name: String,
    pub seat_limit: Option<i32>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
