use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_pk_auto(AuditEvents::Id))
                    .col(big_integer(AuditEvents::OccurredAt))
                    .col(string_len_null(AuditEvents::Realm, 100))
                    .col(string_len(AuditEvents::Event, 100))
                    .col(integer_null(AuditEvents::ActorId))
                    .col(string_len_null(AuditEvents::Actor, 300))
                    .col(string_len_null(AuditEvents::IpAddress, 64))
                    .col(text(AuditEvents::Resources))
                    .to_owned(),
            )
            .await?;
        let indexes = [
            Index::create()
                .name("ix_audit_events_occurred_at")
                .table(AuditEvents::Table)
                .col(AuditEvents::OccurredAt)
                .col(AuditEvents::Id)
                .to_owned(),
            Index::create()
                .name("ix_audit_events_realm")
                .table(AuditEvents::Table)
                .col(AuditEvents::Realm)
                .col(AuditEvents::OccurredAt)
                .col(AuditEvents::Id)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OccurredAt,
    Realm,
    Event,
    ActorId,
    Actor,
    IpAddress,
    Resources,
}
