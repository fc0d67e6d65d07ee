use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The API request log. Pages and stats read a time range, across every
/// realm (`ix_api_requests_occurred_at`) or those of a realm-bound token
/// (`ix_api_requests_realm`), in (time, id) order.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiRequests::Table)
                    .col(big_pk_auto(ApiRequests::Id))
                    .col(big_integer(ApiRequests::OccurredAt))
                    .col(string_len(ApiRequests::Operation, 200))
                    .col(boolean(ApiRequests::Success))
                    .col(string_len_null(ApiRequests::ErrorCode, 40))
                    .col(big_integer(ApiRequests::DurationMicros))
                    .col(integer_null(ApiRequests::TokenId))
                    .col(string_len_null(ApiRequests::TokenName, 200))
                    .col(string_len_null(ApiRequests::Realm, 100))
                    .col(string_len_null(ApiRequests::IpAddress, 64))
                    .to_owned(),
            )
            .await?;
        let indexes = [
            Index::create()
                .name("ix_api_requests_occurred_at")
                .table(ApiRequests::Table)
                .col(ApiRequests::OccurredAt)
                .col(ApiRequests::Id)
                .to_owned(),
            Index::create()
                .name("ix_api_requests_realm")
                .table(ApiRequests::Table)
                .col(ApiRequests::Realm)
                .col(ApiRequests::OccurredAt)
                .col(ApiRequests::Id)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiRequests::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ApiRequests {
    Table,
    Id,
    OccurredAt,
    Operation,
    Success,
    ErrorCode,
    DurationMicros,
    TokenId,
    TokenName,
    Realm,
    IpAddress,
}
