use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_auto(Users::Id))
                    .col(integer(Users::RealmId))
                    .col(string_len(Users::Email, 254))
                    .col(string_len(Users::Name, 200))
                    .col(string_len(Users::Status, 16))
                    .col(text(Users::Roles))
                    .col(text(Users::Datasets))
                    .col(big_integer(Users::CreatedAt))
                    .col(big_integer(Users::UpdatedAt))
                    .col(big_integer_null(Users::DeletedAt))
                    .col(integer(Users::LiveKey).default(0))
                    .to_owned(),
            )
            .await?;
        let indexes = [
            Index::create()
                .name("ux_users_realm_email_live")
                .table(Users::Table)
                .col(Users::RealmId)
                .col(Users::Email)
                .col(Users::LiveKey)
                .unique()
                .to_owned(),
            Index::create()
                .name("ix_users_email")
                .table(Users::Table)
                .col(Users::Email)
                .col(Users::Id)
                .to_owned(),
            Index::create()
                .name("ix_users_name")
                .table(Users::Table)
                .col(Users::Name)
                .col(Users::Id)
                .to_owned(),
            Index::create()
                .name("ix_users_created_at")
                .table(Users::Table)
                .col(Users::CreatedAt)
                .col(Users::Id)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    RealmId,
    Email,
    Name,
    Status,
    Roles,
    Datasets,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
    LiveKey,
}
