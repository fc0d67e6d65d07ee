use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReportJobs::Table)
                    .col(big_pk_auto(ReportJobs::Id))
                    .col(string_len(ReportJobs::Kind, 32))
                    .col(string_len(ReportJobs::Format, 16))
                    .col(string_len(ReportJobs::Status, 16))
                    .col(text(ReportJobs::Params))
                    .col(integer_null(ReportJobs::RequesterId))
                    .col(string_len(ReportJobs::RequestedBy, 200))
                    .col(text(ReportJobs::Scopes))
                    .col(text_null(ReportJobs::Realms))
                    .col(big_integer(ReportJobs::CreatedAt))
                    .col(big_integer_null(ReportJobs::StartedAt))
                    .col(big_integer_null(ReportJobs::FinishedAt))
                    .col(big_integer_null(ReportJobs::ExpiresAt))
                    .col(double_null(ReportJobs::Progress))
                    .col(big_integer_null(ReportJobs::RowCount))
                    .col(big_integer_null(ReportJobs::ByteSize))
                    .col(text_null(ReportJobs::Error))
                    .col(string_len_null(ReportJobs::ObjectKey, 300))
                    .col(string_len_null(ReportJobs::LeaseOwner, 64))
                    .col(big_integer_null(ReportJobs::LeaseUntil))
                    .col(integer(ReportJobs::Attempts).default(0))
                    .to_owned(),
            )
            .await?;
        // Claiming looks for PENDING jobs and STARTED ones whose lease ran out.
        manager
            .create_index(
                Index::create()
                    .name("ix_report_jobs_status")
                    .table(ReportJobs::Table)
                    .col(ReportJobs::Status)
                    .col(ReportJobs::Id)
                    .to_owned(),
            )
            .await?;
        // The HMAC key for signed download URLs: one row, shared by replicas.
        manager
            .create_table(
                Table::create()
                    .table(ReportKeys::Table)
                    .col(integer(ReportKeys::Id).primary_key())
                    .col(string_len(ReportKeys::Secret, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReportKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ReportJobs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ReportJobs {
    Table,
    Id,
    Kind,
    Format,
    Status,
    Params,
    RequesterId,
    RequestedBy,
    Scopes,
    Realms,
    CreatedAt,
    StartedAt,
    FinishedAt,
    ExpiresAt,
    Progress,
    RowCount,
    ByteSize,
    Error,
    ObjectKey,
    LeaseOwner,
    LeaseUntil,
    Attempts,
}

#[derive(DeriveIden)]
enum ReportKeys {
    Table,
    Id,
    Secret,
}
