use sea_orm::entity::prelude::*;

/// One recorded session: a user in an app, dated at its start.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "activity")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The user's realm when it was recorded.
    pub realm_id: i32,
    pub user_id: i32,
    pub app: String,
    pub started_at: i64,
    pub seconds: i32,
    /// A latency sample, when the client measured one.
    pub latency_ms: Option<f64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
