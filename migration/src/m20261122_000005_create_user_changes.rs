use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserChanges::Table)
                    .col(big_pk_auto(UserChanges::Id))
                    .col(big_integer(UserChanges::ChangedAt))
                    .col(big_integer(UserChanges::ValidTo))
                    .col(integer(UserChanges::UserId))
                    .col(integer(UserChanges::RealmId))
                    .col(string_len(UserChanges::UserEmail, 254))
                    .col(string_len(UserChanges::UserName, 200))
                    .col(big_integer(UserChanges::UserCreatedAt))
                    .col(integer_null(UserChanges::ActorTokenId))
                    .col(string_len_null(UserChanges::ActorName, 200))
                    .col(string_len_null(UserChanges::PreviousStatus, 16))
                    .col(string_len(UserChanges::Status, 16))
                    .col(text(UserChanges::PreviousRoles))
                    .col(text(UserChanges::Roles))
                    .col(text(UserChanges::PreviousDatasets))
                    .col(text(UserChanges::Datasets))
                    .col(integer(UserChanges::ChangeMask))
                    .col(boolean(UserChanges::Deleted))
                    .to_owned(),
            )
            .await?;
        let indexes = [
            // The changelog's keyset order.
            Index::create()
                .name("ix_user_changes_changed_at")
                .table(UserChanges::Table)
                .col(UserChanges::ChangedAt)
                .col(UserChanges::Id)
                .to_owned(),
            // One user's chain; snapshots walk it in user order.
            Index::create()
                .name("ix_user_changes_user")
                .table(UserChanges::Table)
                .col(UserChanges::UserId)
                .col(UserChanges::ChangedAt)
                .col(UserChanges::Id)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserChanges::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum UserChanges {
    Table,
    Id,
    ChangedAt,
    ValidTo,
    UserId,
    RealmId,
    UserEmail,
    UserName,
    UserCreatedAt,
    ActorTokenId,
    ActorName,
    PreviousStatus,
    Status,
    PreviousRoles,
    Roles,
    PreviousDatasets,
    Datasets,
    ChangeMask,
    Deleted,
}
