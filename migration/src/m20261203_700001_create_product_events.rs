use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Product events (`registerEvents`, `events`): what applications report
/// their users did. Every event belongs to its user's realm. Pages read a
/// time range newest first, in one realm (`ix_product_events_realm`), across
/// realms (`ix_product_events_occurred_at`) or for given users
/// (`ix_product_events_user`), in (time, id) order.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProductEvents::Table)
                    .col(big_pk_auto(ProductEvents::Id))
                    .col(big_integer(ProductEvents::OccurredAt))
                    .col(big_integer(ProductEvents::RecordedAt))
                    .col(string_len(ProductEvents::Realm, 100))
                    .col(integer(ProductEvents::UserId))
                    .col(string_len(ProductEvents::Feature, 100))
                    .col(string_len(ProductEvents::Event, 100))
                    .col(double_null(ProductEvents::Value))
                    .col(string_len_null(ProductEvents::Currency, 3))
                    .col(text_null(ProductEvents::Metadata))
                    .col(integer_null(ProductEvents::ActorId))
                    .to_owned(),
            )
            .await?;
        let indexes = [
            Index::create()
                .name("ix_product_events_occurred_at")
                .table(ProductEvents::Table)
                .col(ProductEvents::OccurredAt)
                .col(ProductEvents::Id)
                .to_owned(),
            Index::create()
                .name("ix_product_events_realm")
                .table(ProductEvents::Table)
                .col(ProductEvents::Realm)
                .col(ProductEvents::OccurredAt)
                .col(ProductEvents::Id)
                .to_owned(),
            Index::create()
                .name("ix_product_events_user")
                .table(ProductEvents::Table)
                .col(ProductEvents::UserId)
                .col(ProductEvents::OccurredAt)
                .col(ProductEvents::Id)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProductEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ProductEvents {
    Table,
    Id,
    OccurredAt,
    RecordedAt,
    Realm,
    UserId,
    Feature,
    Event,
    Value,
    Currency,
    Metadata,
    ActorId,
}
