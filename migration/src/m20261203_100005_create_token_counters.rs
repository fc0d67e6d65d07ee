use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Recorded token counts (LinOTP's reporting table): after an event, how many
/// tokens of one status one realm held. Indexed for the period and maximum
/// queries (realm, status, date), one realm's rows by date, and paging in
/// every order.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenCounters::Table)
                    .col(big_pk_auto(TokenCounters::Id))
                    .col(big_integer(TokenCounters::RecordedAt))
                    .col(string_len(TokenCounters::Event, 40))
                    .col(string_len(TokenCounters::Realm, 100))
                    .col(string_len(TokenCounters::Status, 24))
                    .col(big_integer(TokenCounters::Count))
                    .to_owned(),
            )
            .await?;
        let by = |name: &str, cols: &[TokenCounters]| {
            let mut index = Index::create();
            index.name(name).table(TokenCounters::Table);
            for col in cols {
                index.col(col.clone());
            }
            index.col(TokenCounters::Id).to_owned()
        };
        let indexes = [
            by(
                "ix_token_counters_series",
                &[
                    TokenCounters::Realm,
                    TokenCounters::Status,
                    TokenCounters::RecordedAt,
                ],
            ),
            by("ix_token_counters_date", &[TokenCounters::RecordedAt]),
            // One realm's rows by date (LinOTP show's usual question) as a
            // range scan: without it a page sorted all of the realm's rows.
            by(
                "ix_token_counters_realm_date",
                &[TokenCounters::Realm, TokenCounters::RecordedAt],
            ),
            by("ix_token_counters_event", &[TokenCounters::Event]),
            by("ix_token_counters_status", &[TokenCounters::Status]),
            by("ix_token_counters_count", &[TokenCounters::Count]),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenCounters::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone)]
enum TokenCounters {
    Table,
    Id,
    RecordedAt,
    Event,
    Realm,
    Status,
    Count,
}
