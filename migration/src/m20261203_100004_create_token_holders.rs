use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How many active, assigned tokens each user holds per realm (rows only
/// while above zero): a user's first such token adds one to their realm's
/// TOTAL_USERS tally and their last one takes it away, with no recount.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenHolders::Table)
                    .col(string_len(TokenHolders::Realm, 100))
                    .col(integer(TokenHolders::UserId))
                    .col(big_integer(TokenHolders::Tokens))
                    .primary_key(
                        Index::create()
                            .col(TokenHolders::Realm)
                            .col(TokenHolders::UserId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenHolders::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum TokenHolders {
    Table,
    Realm,
    UserId,
    Tokens,
}
