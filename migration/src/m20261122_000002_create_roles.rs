use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The role catalog (DESIGN.md, "Directory and history").
const CATALOG: &[(&str, &str, &str)] = &[
    ("APP_ADMIN", "APP", "Administers the application"),
    (
        "MANAGE_ALL_DATA",
        "APP",
        "Manages every dataset of the realm",
    ),
    ("REPORT_GENERATOR", "APP", "Generates reports"),
    ("TEAM_ADMIN", "APP", "Administers a team"),
    ("TEAM_DEVELOPER", "APP", "Develops within a team"),
    ("TEAM_USER", "APP", "Uses the application as a team member"),
    ("ANALYST", "DATASET", "Analyzes a dataset"),
    ("LABELER", "DATASET", "Labels a dataset"),
    (
        "LABELER_AND_REVIEWER",
        "DATASET",
        "Labels and reviews a dataset",
    ),
    ("MANAGER", "DATASET", "Manages a dataset"),
    ("REVIEWER", "DATASET", "Reviews a dataset"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .col(string_len(Roles::Name, 64).primary_key())
                    .col(string_len(Roles::Kind, 16))
                    .col(string_null(Roles::Description))
                    .col(integer(Roles::Position))
                    .to_owned(),
            )
            .await?;
        let mut insert = Query::insert();
        insert.into_table(Roles::Table).columns([
            Roles::Name,
            Roles::Kind,
            Roles::Description,
            Roles::Position,
        ]);
        for (position, (name, kind, description)) in CATALOG.iter().enumerate() {
            insert.values_panic([
                (*name).into(),
                (*kind).into(),
                (*description).into(),
                (position as i32).into(),
            ]);
        }
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Roles::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Name,
    Kind,
    Description,
    Position,
}
