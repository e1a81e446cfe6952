//! Catalog database schema: tenants and their placement, users, memberships;
//! invitations, linked sign-in identities and the console's sessions.

use sea_orm_migration::prelude::*;

mod m20261123_000001_catalog;
mod m20261202_000001_user_deactivation;
mod m20261202_000002_identities;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_catalog::Migration),
            Box::new(m20261202_000001_user_deactivation::Migration),
            Box::new(m20261202_000002_identities::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_catalog".into_iden()
    }
}
