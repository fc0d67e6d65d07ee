use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Datasets::Table)
                    .col(pk_auto(Datasets::Id))
                    .col(integer(Datasets::RealmId))
                    .col(string_len(Datasets::Name, 200))
                    .col(big_integer(Datasets::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_datasets_realm_name")
                    .table(Datasets::Table)
                    .col(Datasets::RealmId)
                    .col(Datasets::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Datasets::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Datasets {
    Table,
    Id,
    RealmId,
    Name,
    CreatedAt,
}
