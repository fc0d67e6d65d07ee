use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Live token counts per realm (`/:no realm:/` for tokens without one),
/// updated in the transaction of every token event: the four cells of
/// active/inactive × assigned/unassigned, from which every status is a sum,
/// and the number of distinct users holding an active, assigned token. An
/// event locks its realms' rows, so events of one realm take turns.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenTallies::Table)
                    .col(string_len(TokenTallies::Realm, 100).primary_key())
                    .col(big_integer(TokenTallies::ActiveAssigned))
                    .col(big_integer(TokenTallies::ActiveUnassigned))
                    .col(big_integer(TokenTallies::InactiveAssigned))
                    .col(big_integer(TokenTallies::InactiveUnassigned))
                    .col(big_integer(TokenTallies::Users))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenTallies::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum TokenTallies {
    Table,
    Realm,
    ActiveAssigned,
    ActiveUnassigned,
    InactiveAssigned,
    InactiveUnassigned,
    Users,
}
