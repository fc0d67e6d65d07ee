use sea_orm_migration::sea_orm::ConnectionTrait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Hourly rollup of the API request log for `apiRequestStats`: for each
/// dimension it groups by (`OUTCOME`, `OPERATION`, `ERROR_CODE`, `TOKEN`),
/// UTC hour, realm (`''` for none) and key, how many requests. The request
/// log's writer adds to it in the transaction of each batch and pruning
/// subtracts what it deletes, so whole hours read from here always equal a
/// count of the raw rows. Existing rows are rolled up here once.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiRequestHours::Table)
                    .col(string_len(ApiRequestHours::Dimension, 16))
                    .col(big_integer(ApiRequestHours::HourStart))
                    .col(string_len(ApiRequestHours::Realm, 100))
                    .col(string_len(ApiRequestHours::GroupKey, 200))
                    .col(big_integer(ApiRequestHours::Requests))
                    .primary_key(
                        Index::create()
                            .col(ApiRequestHours::Dimension)
                            .col(ApiRequestHours::HourStart)
                            .col(ApiRequestHours::Realm)
                            .col(ApiRequestHours::GroupKey),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_api_request_hours_realm")
                    .table(ApiRequestHours::Table)
                    .col(ApiRequestHours::Dimension)
                    .col(ApiRequestHours::Realm)
                    .col(ApiRequestHours::HourStart)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for statement in rebuild() {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiRequestHours::Table).to_owned())
            .await
    }
}

/// Each dimension's key as SQL over `api_requests`, the same text the
/// service groups raw rows by.
pub const DIMENSIONS: [(&str, &str); 4] = [
    (
        "OUTCOME",
        "CASE WHEN success THEN 'SUCCESS' ELSE 'FAILURE' END",
    ),
    ("OPERATION", "operation"),
    ("ERROR_CODE", "COALESCE(error_code, 'NONE')"),
    ("TOKEN", "COALESCE(token_name, 'anonymous')"),
];

/// The statements that roll every row of `api_requests` up into an empty
/// `api_request_hours` (one per dimension; the same SQL on every backend).
pub fn rebuild() -> Vec<String> {
    DIMENSIONS
        .iter()
        .map(|(dimension, key)| {
            format!(
                "INSERT INTO api_request_hours (dimension, hour_start, realm, group_key, requests) \
                 SELECT '{dimension}', occurred_at - occurred_at % 3600000000, \
                   COALESCE(realm, ''), {key}, COUNT(*) FROM api_requests \
                 GROUP BY occurred_at - occurred_at % 3600000000, COALESCE(realm, ''), {key}"
            )
        })
        .collect()
}

#[derive(DeriveIden)]
enum ApiRequestHours {
    Table,
    Dimension,
    HourStart,
    Realm,
    GroupKey,
    Requests,
}
