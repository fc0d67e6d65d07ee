use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Counts for a token bound to realms (`totalCount` of its changelog, and of
/// its snapshots once filtered) read only those realms' changes: without an
/// index on the realm they scanned the whole history. In the changelog's
/// keyset order after the realm, the index also serves a page of one realm's
/// changes as a range scan.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_user_changes_realm")
                    .table(UserChanges::Table)
                    .col(UserChanges::RealmId)
                    .col(UserChanges::ChangedAt)
                    .col(UserChanges::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_user_changes_realm")
                    .table(UserChanges::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum UserChanges {
    Table,
    RealmId,
    ChangedAt,
    Id,
}
