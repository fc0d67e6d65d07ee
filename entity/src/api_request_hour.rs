use sea_orm::entity::prelude::*;

/// Hourly rollup of the API request log: requests per dimension (`OUTCOME`,
/// `OPERATION`, `ERROR_CODE`, `TOKEN`), UTC hour, realm and key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_request_hours")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub dimension: String,
    /// Microseconds since the epoch at the start of the UTC hour.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour_start: i64,
    /// The request's realm; `''` for none.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm: String,
    /// The key `apiRequestStats` shows (`SUCCESS`, an operation name, `NONE`,
    /// `anonymous`, ...).
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_key: String,
    pub requests: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
