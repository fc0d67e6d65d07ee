use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Daily rollup of user counts: for each realm, UTC day and key (`status:X`
/// or `role:X`), the net change of that count during the day. A count at any
/// instant T is the sum of the days before T's day plus the exact changes of
/// T's day up to T, so summaries never rescan all history. Deltas are added
/// in the transaction of each change, so the rollup stays exact whatever order
/// history is written in.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserCountDays::Table)
                    .col(integer(UserCountDays::RealmId))
                    .col(integer(UserCountDays::Day))
                    .col(string_len(UserCountDays::CountKey, 80))
                    .col(big_integer(UserCountDays::Delta))
                    .primary_key(
                        Index::create()
                            .col(UserCountDays::RealmId)
                            .col(UserCountDays::Day)
                            .col(UserCountDays::CountKey),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_user_count_days_day")
                    .table(UserCountDays::Table)
                    .col(UserCountDays::Day)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserCountDays::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum UserCountDays {
    Table,
    RealmId,
    Day,
    CountKey,
    Delta,
}
