use sea_orm::entity::prelude::*;

/// Daily rollup of user counts: the net change of one count (`status:ACTIVE`,
/// `role:APP_ADMIN`, ...) in one realm during one UTC day.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_count_days")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: i32,
    /// Days since 1970-01-01 (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub count_key: String,
    pub delta: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
