use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Recorded activity (`recordActivity`): one row per session of a user in an
/// app, dated at its start, with an optional latency sample.
///
/// `ix_activity_realm_time` covers the reads of a range (users, latency
/// samples, apps and seconds come from the index alone), so `userLatency`
/// and the exact `activeUsers` path read no table rows.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Activity::Table)
                    .col(big_pk_auto(Activity::Id))
                    .col(integer(Activity::RealmId))
                    .col(integer(Activity::UserId))
                    .col(string_len(Activity::App, 100))
                    .col(big_integer(Activity::StartedAt))
                    .col(integer(Activity::Seconds))
                    .col(double_null(Activity::LatencyMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_activity_realm_time")
                    .table(Activity::Table)
                    .col(Activity::RealmId)
                    .col(Activity::StartedAt)
                    .col(Activity::UserId)
                    .col(Activity::LatencyMs)
                    .col(Activity::App)
                    .col(Activity::Seconds)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_activity_user_time")
                    .table(Activity::Table)
                    .col(Activity::UserId)
                    .col(Activity::StartedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Activity::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Activity {
    Table,
    Id,
    RealmId,
    UserId,
    App,
    StartedAt,
    Seconds,
    LatencyMs,
}
