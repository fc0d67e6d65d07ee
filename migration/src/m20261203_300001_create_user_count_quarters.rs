use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Quarter-hour rollup of status counts, beside the daily one: for each
/// realm, UTC quarter hour and status key, the net change of that count. Any
/// local day, week or month boundary of an IANA zone falls on a quarter hour,
/// so status counts at N bucket ends are prefix sums of the two rollups with
/// no rescan of history. Written in the transaction of each change like the
/// daily rollup; existing history is rolled up here once.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserCountQuarters::Table)
                    .col(integer(UserCountQuarters::RealmId))
                    .col(integer(UserCountQuarters::Quarter))
                    .col(string_len(UserCountQuarters::CountKey, 80))
                    .col(big_integer(UserCountQuarters::Delta))
                    .primary_key(
                        Index::create()
                            .col(UserCountQuarters::RealmId)
                            .col(UserCountQuarters::Quarter)
                            .col(UserCountQuarters::CountKey),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_user_count_quarters_quarter")
                    .table(UserCountQuarters::Table)
                    .col(UserCountQuarters::Quarter)
                    .col(UserCountQuarters::RealmId)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(&backfill(db.get_database_backend()))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserCountQuarters::Table).to_owned())
            .await
    }
}

/// The status deltas of every stored change, summed per realm and quarter:
/// +1 for the state after (unless deleted), -1 for the state before.
pub fn backfill(backend: DbBackend) -> String {
    let (div, key, previous_key) = match backend {
        DbBackend::MySql => (
            "DIV",
            "CONCAT('status:', status)",
            "CONCAT('status:', previous_status)",
        ),
        _ => ("/", "'status:' || status", "'status:' || previous_status"),
    };
    // Floor division, also before 1970.
    let quarter = format!(
        "CASE WHEN changed_at >= 0 THEN changed_at {div} 900000000 \
         ELSE (changed_at - 899999999) {div} 900000000 END"
    );
    format!(
        "INSERT INTO user_count_quarters (realm_id, quarter, count_key, delta) \
         SELECT realm_id, quarter, count_key, SUM(delta) FROM ( \
           SELECT realm_id, {quarter} AS quarter, {key} AS count_key, 1 AS delta \
             FROM user_changes WHERE NOT deleted \
           UNION ALL \
           SELECT realm_id, {quarter} AS quarter, {previous_key} AS count_key, -1 AS delta \
             FROM user_changes WHERE previous_status IS NOT NULL \
         ) deltas GROUP BY realm_id, quarter, count_key HAVING SUM(delta) <> 0"
    )
}

#[derive(DeriveIden)]
enum UserCountQuarters {
    Table,
    RealmId,
    Quarter,
    CountKey,
    Delta,
}
