use sea_orm::entity::prelude::*;

/// One change to one user: the full state before and after it.
///
/// Each row is also a validity interval of the user's state:
/// `[changed_at, valid_to)`, `valid_to` being the next change's date, or
/// `i64::MAX` for the latest (a sentinel rather than NULL keeps "state at T"
/// one range condition: `changed_at <= T AND valid_to > T`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub changed_at: i64,
    pub valid_to: i64,
    pub user_id: i32,
    pub realm_id: i32,
    pub user_email: String,
    pub user_name: String,
    pub user_created_at: i64,
    /// The API token that made the change (null for the system).
    pub actor_token_id: Option<i32>,
    /// The actor's display name: the API token's name, or `system`.
    pub actor_name: Option<String>,
    pub previous_status: Option<String>,
    pub status: String,
    /// JSON array of role names, sorted.
    pub previous_roles: String,
    pub roles: String,
    /// JSON array of `[dataset_id, dataset_name, role]`, sorted by id.
    pub previous_datasets: String,
    pub datasets: String,
    /// The change types (CREATED, STATUS, APP_ROLE, ...) as bits, so a
    /// changeTypes filter is one `change_mask & bits <> 0` on every backend.
    pub change_mask: i32,
    /// True on the change that deleted the user: the state it opens is "gone".
    pub deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
