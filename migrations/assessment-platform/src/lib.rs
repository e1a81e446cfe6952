//! Assessment-owned tables in the platform database. They are platform-level
//! by nature: a framework version serves every tenant, and an evaluator's
//! assignments span tenants (an evaluator lists them without knowing where).

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Migration)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_assessment_platform".into_iden()
    }
}

#[derive(DeriveMigrationName)]
struct Migration;

#[derive(DeriveIden)]
enum FrameworkVersions {
    Table,
    FrameworkId,
    Version,
    Content,
    ContentHash,
    InUse,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EvaluatorAssignments {
    Table,
    TenantId,
    EvaluationId,
    UserId,
    Role,
    DisplayName,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(FrameworkVersions::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(FrameworkVersions::FrameworkId)
                        .string_len(41)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(FrameworkVersions::Version)
                        .string_len(20)
                        .not_null(),
                )
                .col(ColumnDef::new(FrameworkVersions::Content).text().not_null())
                .col(
                    ColumnDef::new(FrameworkVersions::ContentHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(FrameworkVersions::InUse)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(
                    ColumnDef::new(FrameworkVersions::CreatedBy)
                        .string_len(63)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(FrameworkVersions::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(FrameworkVersions::FrameworkId)
                        .col(FrameworkVersions::Version),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EvaluatorAssignments::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(EvaluatorAssignments::TenantId)
                        .string_len(41)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EvaluatorAssignments::EvaluationId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EvaluatorAssignments::UserId)
                        .string_len(63)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EvaluatorAssignments::Role)
                        .string_len(8)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EvaluatorAssignments::DisplayName)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EvaluatorAssignments::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(EvaluatorAssignments::TenantId)
                        .col(EvaluatorAssignments::EvaluationId)
                        .col(EvaluatorAssignments::UserId),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("evaluator_assignments_by_user")
                .table(EvaluatorAssignments::Table)
                .col(EvaluatorAssignments::UserId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(EvaluatorAssignments::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(FrameworkVersions::Table).to_owned())
            .await
    }
}
