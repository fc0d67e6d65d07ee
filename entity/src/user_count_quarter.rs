use sea_orm::entity::prelude::*;

/// Quarter-hour rollup of status counts: the net change of one status count
/// (`status:ACTIVE`, ...) in one realm during one UTC quarter hour. Every
/// IANA offset in use is a multiple of 15 minutes, so a local boundary falls
/// on a quarter and counts at it need no rescan of history.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_count_quarters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: i32,
    /// Quarter hours since 1970-01-01T00:00Z.
    #[sea_orm(primary_key, auto_increment = false)]
    pub quarter: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub count_key: String,
    pub delta: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
