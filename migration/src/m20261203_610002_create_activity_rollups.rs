use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rollups of `activity` for `activeUsers` over local days (see
/// docs/INSIGHTS.md): per user and UTC day the first and last quarter hour
/// with a session start; per realm, day and quarter how many users have
/// their first and their last start there; per realm, day, last quarter and
/// the next day's first quarter how many users are active on both days.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ActivityUserDays::Table)
                    .col(integer(ActivityUserDays::UserId))
                    .col(integer(ActivityUserDays::Day))
                    .col(integer(ActivityUserDays::RealmId))
                    .col(integer(ActivityUserDays::FirstQ))
                    .col(integer(ActivityUserDays::LastQ))
                    .primary_key(
                        Index::create()
                            .col(ActivityUserDays::UserId)
                            .col(ActivityUserDays::Day),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ActivityDayEdges::Table)
                    .col(integer(ActivityDayEdges::RealmId))
                    .col(integer(ActivityDayEdges::Day))
                    .col(integer(ActivityDayEdges::Quarter))
                    .col(big_integer(ActivityDayEdges::Firsts))
                    .col(big_integer(ActivityDayEdges::Lasts))
                    .primary_key(
                        Index::create()
                            .col(ActivityDayEdges::RealmId)
                            .col(ActivityDayEdges::Day)
                            .col(ActivityDayEdges::Quarter),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ActivityDayBridges::Table)
                    .col(integer(ActivityDayBridges::RealmId))
                    .col(integer(ActivityDayBridges::Day))
                    .col(integer(ActivityDayBridges::LastQ))
                    .col(integer(ActivityDayBridges::NextFirstQ))
                    .col(big_integer(ActivityDayBridges::Users))
                    .primary_key(
                        Index::create()
                            .col(ActivityDayBridges::RealmId)
                            .col(ActivityDayBridges::Day)
                            .col(ActivityDayBridges::LastQ)
                            .col(ActivityDayBridges::NextFirstQ),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for statement in rebuild(db.get_database_backend()) {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ActivityUserDays::Table.into_iden(),
            ActivityDayEdges::Table.into_iden(),
            ActivityDayBridges::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Statements that compute the three rollups from `activity` alone, into
/// empty tables (the bulk generator empties them first).
pub fn rebuild(backend: DbBackend) -> Vec<String> {
    let div = match backend {
        DbBackend::MySql => "DIV",
        _ => "/",
    };
    // Floor division, also before 1970.
    let day = format!(
        "(CASE WHEN started_at >= 0 THEN started_at {div} 86400000000 \
         ELSE (started_at - 86399999999) {div} 86400000000 END)"
    );
    let quarter = format!("((started_at - {day} * 86400000000) {div} 900000000)");
    vec![
        format!(
            "INSERT INTO activity_user_days (user_id, day, realm_id, first_q, last_q) \
             SELECT user_id, day, MIN(realm_id), MIN(q), MAX(q) FROM ( \
               SELECT user_id, realm_id, {day} AS day, {quarter} AS q FROM activity \
             ) s GROUP BY user_id, day"
        ),
        "INSERT INTO activity_day_edges (realm_id, day, quarter, firsts, lasts) \
         SELECT realm_id, day, q, SUM(f), SUM(l) FROM ( \
           SELECT realm_id, day, first_q AS q, 1 AS f, 0 AS l FROM activity_user_days \
           UNION ALL \
           SELECT realm_id, day, last_q AS q, 0 AS f, 1 AS l FROM activity_user_days \
         ) s GROUP BY realm_id, day, q"
            .to_owned(),
        "INSERT INTO activity_day_bridges (realm_id, day, last_q, next_first_q, users) \
         SELECT a.realm_id, a.day, a.last_q, b.first_q, COUNT(*) \
         FROM activity_user_days a JOIN activity_user_days b \
           ON b.user_id = a.user_id AND b.day = a.day + 1 \
         GROUP BY a.realm_id, a.day, a.last_q, b.first_q"
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
enum ActivityUserDays {
    Table,
    UserId,
    Day,
    RealmId,
    FirstQ,
    LastQ,
}

#[derive(DeriveIden)]
enum ActivityDayEdges {
    Table,
    RealmId,
    Day,
    Quarter,
    Firsts,
    Lasts,
}

#[derive(DeriveIden)]
enum ActivityDayBridges {
    Table,
    RealmId,
    Day,
    LastQ,
    NextFirstQ,
    Users,
}
