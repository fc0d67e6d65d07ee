use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Realms::Table)
                    .col(pk_auto(Realms::Id))
                    .col(string_len_uniq(Realms::Name, 100))
                    .col(integer_null(Realms::SeatLimit))
                    .col(big_integer(Realms::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Realms::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Realms {
    Table,
    Id,
    Name,
    SeatLimit,
    CreatedAt,
}
