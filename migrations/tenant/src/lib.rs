//! A tenant database holds tables of several services; each service migrates
//! its own with its own migration table, so none ever reads another's.

use kompass_tenant_db::migrate_locked;
use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;
use sha2::{Digest, Sha256};

/// Brings a tenant database to the current schema of every service.
/// `db` must be a single-connection pool (see [`migrate_locked`]).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    migrate_locked::<kompass_migration_assessment::Migrator>(db).await?;
    migrate_locked::<kompass_migration_projects::Migrator>(db).await?;
    Ok(())
}

/// The tenant schema this build migrates to: a digest of every service's
/// migration names, in order (`kompass-schema-` and 16 hex digits). The
/// onboarding template carries it so onboarding can tell a stale template
/// without opening it.
pub fn schema_version() -> String {
    let mut h = Sha256::new();
    for (service, migrations) in [
        (
            "assessment",
            kompass_migration_assessment::Migrator::migrations(),
        ),
        (
            "projects",
            kompass_migration_projects::Migrator::migrations(),
        ),
    ] {
        for m in migrations {
            h.update(service.as_bytes());
            h.update(b"/");
            h.update(m.name().as_bytes());
            h.update(b"\n");
        }
    }
    let d = h.finalize();
    let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("kompass-schema-{hex}")
}

/// How many migrations each service has in this build: (assessment, projects).
pub fn migration_counts() -> (usize, usize) {
    (
        kompass_migration_assessment::Migrator::migrations().len(),
        kompass_migration_projects::Migrator::migrations().len(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_version_is_stable_and_plain() {
        let v = super::schema_version();
        assert_eq!(v, super::schema_version());
        assert_eq!(v.len(), "kompass-schema-".len() + 16);
        assert!(
            v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
