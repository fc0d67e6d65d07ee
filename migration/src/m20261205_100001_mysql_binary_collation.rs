use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// MySQL and MariaDB compare text case-insensitively by default
/// (`utf8mb4_general_ci`): two operation names, feature names or token
/// serials that differ only in case were one key there, in unique indexes,
/// in `GROUP BY` and in filters, and two on SQLite and PostgreSQL. Every
/// table (and the database's default, for tables created later) is turned
/// to `utf8mb4_bin`, so text compares byte for byte on every backend. Names
/// the service treats as case-insensitive (emails, realms, token kinds) are
/// stored lowercased already. Rebuilds each table once.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::MySql {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            .await?;
        let tables = db
            .query_all_raw(Statement::from_string(
                DbBackend::MySql,
                "SELECT table_name AS name FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' \
                 AND table_collation <> 'utf8mb4_bin' ORDER BY table_name",
            ))
            .await?;
        for table in tables {
            let name: String = table.try_get("", "name")?;
            db.execute_unprepared(&format!(
                "ALTER TABLE `{}` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
                name.replace('`', "``")
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Going back to a case-insensitive collation could fail on keys
        // that now differ only in case; the tables stay as they are.
        Ok(())
    }
}
