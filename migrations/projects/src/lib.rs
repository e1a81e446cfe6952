//! Project tables in a tenant database. Owned by the projects service.

use sea_orm_migration::prelude::*;

mod m20261123_000001_projects;
mod m20261123_000002_event_sequence;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_projects::Migration),
            Box::new(m20261123_000002_event_sequence::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_projects".into_iden()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_names_are_distinct() {
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "m20261123_000001_projects",
                "m20261123_000002_event_sequence"
            ]
        );
    }
}
