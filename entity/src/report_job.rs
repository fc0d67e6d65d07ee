use sea_orm::entity::prelude::*;

/// A report: what was asked, by whom, and how far its worker got.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "report_jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// USER_CHANGELOG, USER_SNAPSHOT, ...
    pub kind: String,
    /// CSV, JSON or NDJSON.
    pub format: String,
    /// PENDING, STARTED, SUCCESS, FAILURE or CANCELLED.
    pub status: String,
    /// The report's arguments as JSON (the query's variables).
    #[sea_orm(column_type = "Text")]
    pub params: String,
    /// The requesting API token (null for the system).
    pub requester_id: Option<i32>,
    pub requested_by: String,
    /// The requester's scopes and realms when it asked: the worker reads
    /// with exactly these, and only tokens that may see these realms see
    /// the job.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub realms: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub progress: Option<f64>,
    pub row_count: Option<i64>,
    pub byte_size: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// Where the finished file is stored; null before and after.
    pub object_key: Option<String>,
    /// The worker holding the job, and until when (microseconds).
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub attempts: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
