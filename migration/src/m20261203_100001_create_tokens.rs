use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Authentication tokens people carry (HOTP, TOTP, push, hardware): in zero
/// or one realm, assigned to zero or one user, active or not. Serials are
/// unique across realms, as in LinOTP.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tokens::Table)
                    .col(pk_auto(Tokens::Id))
                    .col(string_len_uniq(Tokens::Serial, 100))
                    .col(string_len(Tokens::Kind, 40))
                    .col(integer_null(Tokens::RealmId))
                    .col(integer_null(Tokens::UserId))
                    .col(boolean(Tokens::Active))
                    .col(big_integer(Tokens::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // One realm's tokens, and one user's, in id order (the keyset).
        let indexes = [
            Index::create()
                .name("ix_tokens_realm")
                .table(Tokens::Table)
                .col(Tokens::RealmId)
                .col(Tokens::Id)
                .to_owned(),
            Index::create()
                .name("ix_tokens_user")
                .table(Tokens::Table)
                .col(Tokens::UserId)
                .col(Tokens::Id)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Tokens {
    Table,
    Id,
    Serial,
    Kind,
    RealmId,
    UserId,
    Active,
    CreatedAt,
}
