use sea_orm::entity::prelude::*;

/// How many active, assigned tokens one user holds in one realm (only while
/// above zero).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_holders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i32,
    pub tokens: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
