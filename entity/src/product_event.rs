use sea_orm::entity::prelude::*;

/// A product event: something an application reports one of its users did
/// (Cryptolens' Register Event), in the user's realm.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "product_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When it happened, as the application says (default: when recorded).
    pub occurred_at: i64,
    /// When `registerEvents` stored it.
    pub recorded_at: i64,
    /// The user's realm (lowercase name).
    pub realm: String,
    pub user_id: i32,
    pub feature: String,
    pub event: String,
    pub value: Option<f64>,
    /// ISO 4217 code, uppercase.
    pub currency: Option<String>,
    /// JSON text.
    pub metadata: Option<String>,
    /// The API token that registered it.
    pub actor_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
