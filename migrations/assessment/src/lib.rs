//! Assessment tables in a tenant database. Owned by the assessment service.

use sea_orm_migration::prelude::*;

mod m20261123_000001_evaluations;
mod m20261202_000002_import_record;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_evaluations::Migration),
            Box::new(m20261202_000002_import_record::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_assessment".into_iden()
    }
}
