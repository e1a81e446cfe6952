//! Provenance of imported evaluations (who imported it, in which role, when,
//! from which source) and the canonical form a seal was made with. Existing
//! rows keep NULL: not imported through the new path, sealed with
//! `kompass-canonical-json-v1`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Evaluations {
    Table,
    ImportedBy,
    ImportedByName,
    ImportRole,
    ImportTime,
    ImportSource,
    SealCanonicalization,
}

fn columns() -> Vec<ColumnDef> {
    vec![
        ColumnDef::new(Evaluations::ImportedBy)
            .string_len(63)
            .null()
            .to_owned(),
        ColumnDef::new(Evaluations::ImportedByName)
            .string()
            .null()
            .to_owned(),
        ColumnDef::new(Evaluations::ImportRole)
            .string_len(16)
            .null()
            .to_owned(),
        ColumnDef::new(Evaluations::ImportTime)
            .timestamp_with_time_zone()
            .null()
            .to_owned(),
        ColumnDef::new(Evaluations::ImportSource)
            .text()
            .null()
            .to_owned(),
        ColumnDef::new(Evaluations::SealCanonicalization)
            .string_len(64)
            .null()
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for c in columns() {
            m.alter_table(
                Table::alter()
                    .table(Evaluations::Table)
                    .add_column(c)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for c in [
            Evaluations::ImportedBy,
            Evaluations::ImportedByName,
            Evaluations::ImportRole,
            Evaluations::ImportTime,
            Evaluations::ImportSource,
            Evaluations::SealCanonicalization,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Evaluations::Table)
                    .drop_column(c)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
