//! A tenant database holds tables of several services; each service migrates
//! its own with its own migration table, so none ever reads another's.

use kompass_tenant_db::migrate_locked;
use sea_orm::{DatabaseConnection, DbErr};

/// Brings a tenant database to the current schema of every service.
/// `db` must be a single-connection pool (see [`migrate_locked`]).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    migrate_locked::<kompass_migration_assessment::Migrator>(db).await?;
    migrate_locked::<kompass_migration_projects::Migrator>(db).await?;
    Ok(())
}
