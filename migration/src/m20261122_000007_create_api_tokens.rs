use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(pk_auto(ApiTokens::Id))
                    .col(string_len(ApiTokens::Name, 200))
                    .col(string_len_uniq(ApiTokens::Lookup, 32))
                    .col(string_len(ApiTokens::SecretHash, 64))
                    .col(text(ApiTokens::Scopes))
                    .col(text_null(ApiTokens::Realms))
                    .col(big_integer(ApiTokens::CreatedAt))
                    .col(big_integer_null(ApiTokens::LastUsedAt))
                    .col(big_integer_null(ApiTokens::ExpiresAt))
                    .col(big_integer_null(ApiTokens::RevokedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    Name,
    Lookup,
    SecretHash,
    Scopes,
    Realms,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
}
