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

        manager
            .create_table(
                Table::create()
                    .table(UserRoles::Table)
                    .col(integer(UserRoles::UserId))
                    .col(string_len(UserRoles::Role, 64))
                    .primary_key(Index::create().col(UserRoles::UserId).col(UserRoles::Role))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_user_roles_role")
                    .table(UserRoles::Table)
                    .col(UserRoles::Role)
                    .col(UserRoles::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserDatasetRoles::Table)
                    .col(integer(UserDatasetRoles::UserId))
                    .col(integer(UserDatasetRoles::DatasetId))
                    .col(string_len(UserDatasetRoles::Role, 64))
                    .primary_key(
                        Index::create()
                            .col(UserDatasetRoles::UserId)
                            .col(UserDatasetRoles::DatasetId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_user_dataset_roles_role")
                    .table(UserDatasetRoles::Table)
                    .col(UserDatasetRoles::Role)
                    .col(UserDatasetRoles::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UserDatasetRoles::Table.into_iden(),
            UserRoles::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
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
    CreatedAt,
    UpdatedAt,
    DeletedAt,
    LiveKey,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    Role,
}

#[derive(DeriveIden)]
enum UserDatasetRoles {
    Table,
    UserId,
    DatasetId,
    Role,
}
