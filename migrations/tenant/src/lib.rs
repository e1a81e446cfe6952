//! A tenant database holds tables of several services; each service migrates
//! its own with its own migration table, so none ever reads another's.

use kompass_tenant_db::migrate_locked;
use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

/// Brings a tenant database to the current schema of every service.
/// `db` must be a single-connection pool (see [`migrate_locked`]).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    migrate_locked::<kompass_migration_assessment::Migrator>(db).await?;
    migrate_locked::<kompass_migration_projects::Migrator>(db).await?;
    Ok(())
}

/// Whether every service's migration table in `db` lists exactly the
/// migrations this build has (none pending, none unknown). Reads only: a
/// missing migration table counts as not current.
pub async fn is_current(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(
        pending::<kompass_migration_assessment::Migrator>(db).await?
            && pending::<kompass_migration_projects::Migrator>(db).await?,
    )
}

async fn pending<M: MigratorTrait>(db: &DatabaseConnection) -> Result<bool, DbErr> {
    match M::get_pending_migrations_read_only(db).await {
        Ok(p) => Ok(p.is_empty()),
        // A migration applied that this build does not know, or no table.
        Err(DbErr::Custom(_)) => Ok(false),
        Err(e) if e.to_string().contains("does not exist") || e.to_string().contains("no such table") => Ok(false),
        Err(e) => Err(e),
    }
}
