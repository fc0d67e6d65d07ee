use sea_orm::entity::prelude::*;

/// The API request log: one row per request served, written off the request
/// path in batches.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub occurred_at: i64,
    /// The GraphQL operation name (or `anonymous`), or `METHOD /route`.
    pub operation: String,
    pub success: bool,
    /// The first error's code on failure.
    pub error_code: Option<String>,
    pub duration_micros: i64,
    pub token_id: Option<i32>,
    pub token_name: Option<String>,
    /// The token's realm when it is bound to exactly one.
    pub realm: Option<String>,
    /// Anonymised: IPv4 /24, IPv6 /48.
    pub ip_address: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
