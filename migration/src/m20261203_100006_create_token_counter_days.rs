use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The highest count recorded per realm, status and UTC day, kept with every
/// counter row. Periods are whole days (`from` and `to` are dates) and
/// deletions drop whole days (everything, or everything before a midnight),
/// so the highest count of any period is a maximum over at most one row per
/// day instead of over every row recorded in it.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenCounterDays::Table)
                    .col(string_len(TokenCounterDays::Realm, 100))
                    .col(string_len(TokenCounterDays::Status, 24))
                    .col(integer(TokenCounterDays::Day))
                    .col(big_integer(TokenCounterDays::Highest))
                    .primary_key(
                        Index::create()
                            .col(TokenCounterDays::Realm)
                            .col(TokenCounterDays::Status)
                            .col(TokenCounterDays::Day),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenCounterDays::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum TokenCounterDays {
    Table,
    Realm,
    Status,
    Day,
    Highest,
}
