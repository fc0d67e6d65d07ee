use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Which token statuses are recorded for a realm: one row per realm with a
/// policy of its own, and `*` for the default of the others.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReportingPolicies::Table)
                    .col(string_len(ReportingPolicies::Realm, 100).primary_key())
                    .col(text(ReportingPolicies::Statuses))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReportingPolicies::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ReportingPolicies {
    Table,
    Realm,
    Statuses,
}
